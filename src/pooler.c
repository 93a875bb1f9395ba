/*
 * pooler.c: PgBouncer's admin console.
 *
 * The console is a pseudo-database ("pgbouncer") that accepts its own
 * commands over the simple query protocol only; results are all text. Its
 * columns are looked up by name, since they grow from release to release
 * (SHOW CLIENTS got "application_name" in 1.18 and "id" in 1.24).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pooler.h"
#include "util.h"

struct Pooler
{
	DbConn	   *conn;
	char	   *label;			/* "pooler host:port" */
	char	   *version;		/* "PgBouncer 1.18.0" */
	int			vnum;			/* 11800 */
	StrList		reconnected;	/* databases sent RECONNECT in this run */
	bool		reconnect_failed;	/* warned once; not tried again */
};

/* "PgBouncer 1.18.0" -> 11800; 0 if it does not look like that. */
static int
parse_version(const char *v)
{
	const char *p = strchr(v, ' ');
	int			major = 0,
				minor = 0,
				patch = 0;

	if (p == NULL || sscanf(p + 1, "%d.%d.%d", &major, &minor, &patch) < 2)
		return 0;
	return major * 10000 + minor * 100 + patch;
}

Pooler *
pooler_open(const char *conninfo, char **err)
{
	char	   *node = db_conninfo_node(conninfo);
	Pooler	   *p = xcalloc(1, sizeof(Pooler));
	DbRes	   *r = NULL;
	char	   *e = NULL;

	p->label = xasprintf("pooler \"%s\"", node);
	free(node);
	p->conn = db_connect_console(conninfo, p->label, err);
	if (p->conn == NULL)
		goto fail;
	if (db_exec(p->conn, "SHOW VERSION", 0, NULL, -1, &r, &e) != 0 ||
		db_nrows(r) < 1)
	{
		*err = xasprintf("%s (hint: Entries of poolers must connect to a PgBouncer"
						 " admin console, dbname=pgbouncer, as one of its"
						 " admin_users.)", e ? e : "SHOW VERSION returned nothing");
		free(e);
		goto fail;
	}
	p->version = xstrdup(db_val(r, 0, 0));
	p->vnum = parse_version(p->version);
	db_res_free(r);
	return p;

fail:
	db_res_free(r);
	pooler_close(p);
	return NULL;
}

void
pooler_close(Pooler *p)
{
	if (p == NULL)
		return;
	db_close(p->conn);
	free(p->label);
	free(p->version);
	strlist_free(&p->reconnected);
	free(p);
}

const char *
pooler_label(const Pooler *p)
{
	return p->label;
}

const char *
pooler_version(const Pooler *p)
{
	return p->version;
}

bool
pooler_can_kill_client(const Pooler *p)
{
	return p->vnum >= POOLER_KILL_CLIENT_VERSION;
}

int
pooler_reload(Pooler *p, char **err)
{
	return db_cmd(p->conn, "RELOAD", err);
}

int
pooler_reload_all(const Target *t, char **err)
{
	int			rc = 0;

	for (int i = 0; i < t->poolers.n; i++)
	{
		char	   *e = NULL;
		Pooler	   *p = pooler_open(t->poolers.items[i], &e);

		if (p != NULL && pooler_reload(p, &e) == 0)
			log_info("%s reloaded its auth_file", pooler_label(p));
		else
		{
			if (rc == 0)
				*err = xasprintf("RELOAD failed: %s", e);
			rc = -1;
			free(e);
		}
		pooler_close(p);
	}
	return rc;
}

/* A column's value, or NULL when the column is missing or empty. */
static const char *
col(const DbRes *r, int row, const char *name)
{
	int			c = db_colnum(r, name);

	if (c < 0 || db_isnull(r, row, c) || db_val(r, row, c)[0] == '\0')
		return NULL;
	return db_val(r, row, c);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* PgBouncer's local connect_time in ISO 8601 UTC, where it can be told. */
static char *
dup_time(const char *s)
{
	char		iso[32];

	if (s == NULL)
		return NULL;
	return xstrdup(format_utc_of_local(s, iso) == 0 ? iso : s);
}

/* Run a SHOW and check it has the columns we need. */
static int
show(Pooler *p, const char *what, DbRes **r, char **err)
{
	if (db_exec(p->conn, what, 0, NULL, -1, r, err) != 0)
		return -1;
	if (db_colnum(*r, "user") < 0 || db_colnum(*r, "database") < 0)
	{
		*err = xasprintf("%s: %s has no user or database column", p->label, what);
		db_res_free(*r);
		*r = NULL;
		return -1;
	}
	return 0;
}

static void
add_session(Pooler *p, const DbRes *r, int row, const char *kind,
			SessionList *out)
{
	Session    *s = sessionlist_add(out);
	const char *addr = col(r, row, "addr");
	const char *pid = col(r, row, "remote_pid");

	s->node = p->label;
	s->kind = kind;
	s->pid = pid ? atoi(pid) : 0;
	s->application_name = dup_or_null(col(r, row, "application_name"));
	if (strcmp(kind, "client") != 0)
		s->client_addr = NULL;	/* a server connection's addr is the server's */
	else if (addr && strcmp(addr, "unix") == 0)
		s->client_addr = xstrdup("local");
	else
		s->client_addr = dup_or_null(addr);
	s->backend_start = dup_time(col(r, row, "connect_time"));
	s->database = dup_or_null(col(r, row, "database"));
}

/* A database name as a console argument: bare, or in double quotes. */
static char *
console_word(const char *s)
{
	StrBuf		sb;

	if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s))
		return xstrdup(s);
	sb_init(&sb);
	sb_appendc(&sb, '"');
	for (; *s; s++)
	{
		if (*s == '"')
			sb_appendc(&sb, '"');
		sb_appendc(&sb, *s);
	}
	sb_appendc(&sb, '"');
	return sb_steal(&sb);
}

/*
 * RECONNECT db once in this run, and again only while role has no client
 * on it. A failure is a warning (once): idle server connections also end
 * at PgBouncer's server_idle_timeout.
 */
static void
reconnect_db(Pooler *p, const char *db, const char *role,
			 const StrList *client_dbs)
{
	bool		again = strlist_contains(&p->reconnected, db);
	char	   *word;
	char	   *cmd;
	char	   *err = NULL;

	if (again && (strlist_contains(client_dbs, db) || p->reconnect_failed))
		return;
	word = console_word(db);
	cmd = xasprintf("RECONNECT %s", word);
	if (db_cmd(p->conn, cmd, &err) == 0)
		log_info("%s: asked to RECONNECT database \"%s\": server connections of role \"%s\" close as they are released",
				 p->label, db, role);
	else
	{
		log_warning("%s: RECONNECT %s failed (idle server connections of role \"%s\" stay until server_idle_timeout): %s",
					p->label, word, role, err);
		p->reconnect_failed = true;
		free(err);
	}
	if (!again)
		strlist_add(&p->reconnected, db);
	free(word);
	free(cmd);
}

static int
poll_servers(Pooler *p, const char *role, bool reconnect,
			 const StrList *client_dbs, SessionList *out, char **err)
{
	DbRes	   *r = NULL;
	StrList		dbs = {0};

	if (show(p, "SHOW SERVERS", &r, err) != 0)
		return -1;
	for (int i = 0; i < db_nrows(r); i++)
	{
		const char *user = col(r, i, "user");
		const char *db = col(r, i, "database");
		const char *close_needed = col(r, i, "close_needed");

		if (user == NULL || strcmp(user, role) != 0)
			continue;
		add_session(p, r, i, "server connection", out);
		if (reconnect && db && !(close_needed && strcmp(close_needed, "1") == 0) &&
			!strlist_contains(&dbs, db))
			strlist_add(&dbs, db);
	}
	for (int i = 0; i < dbs.n; i++)
		reconnect_db(p, dbs.items[i], role, client_dbs);
	strlist_free(&dbs);
	db_res_free(r);
	return 0;
}

int
pooler_poll(Pooler *p, const char *role, bool reconnect, bool servers_only,
			SessionList *out, char **err)
{
	DbRes	   *r = NULL;
	StrList		client_dbs = {0};
	int			rc;

	if (show(p, "SHOW CLIENTS", &r, err) != 0)
		return -1;
	for (int i = 0; i < db_nrows(r); i++)
	{
		const char *user = col(r, i, "user");
		const char *db = col(r, i, "database");

		if (user == NULL || strcmp(user, role) != 0)
			continue;
		if (db && !strlist_contains(&client_dbs, db))
			strlist_add(&client_dbs, db);
		if (!servers_only)
			add_session(p, r, i, "client", out);
	}
	db_res_free(r);
	rc = poll_servers(p, role, reconnect, &client_dbs, out, err);
	strlist_free(&client_dbs);
	return rc;
}

static int
role_index(const char *const *roles, int n, const char *user)
{
	for (int k = 0; user && k < n; k++)
		if (strcmp(roles[k], user) == 0)
			return k;
	return -1;
}

/* The databases of the clients of role, from "role\ndb" pairs. */
static void
dbs_of(const StrList *pairs, const char *role, StrList *out)
{
	size_t		len = strlen(role);

	for (int i = 0; i < pairs->n; i++)
		if (strncmp(pairs->items[i], role, len) == 0 && pairs->items[i][len] == '\n')
			strlist_add(out, pairs->items[i] + len + 1);
}

/* SHOW SERVERS: count, and note what to RECONNECT ("role\ndb" pairs). */
static int
count_servers(Pooler *p, const char *const *roles, const bool *reconnect,
			  int n, int64_t *counts, StrList *todo, char **err)
{
	DbRes	   *r = NULL;

	if (show(p, "SHOW SERVERS", &r, err) != 0)
		return -1;
	for (int i = 0; i < db_nrows(r); i++)
	{
		int			k = role_index(roles, n, col(r, i, "user"));
		const char *db = col(r, i, "database");
		const char *close_needed = col(r, i, "close_needed");
		char	   *pair;

		if (k < 0)
			continue;
		counts[k]++;
		if (!reconnect[k] || db == NULL || (close_needed && strcmp(close_needed, "1") == 0))
			continue;
		pair = xasprintf("%s\n%s", roles[k], db);
		if (!strlist_contains(todo, pair))
			strlist_add(todo, pair);
		free(pair);
	}
	db_res_free(r);
	return 0;
}

int
pooler_count(Pooler *p, const char *const *roles, const bool *reconnect, int n,
			 int64_t *counts, char **err)
{
	DbRes	   *r = NULL;
	StrList		clients = {0};
	StrList		todo = {0};
	int			rc;

	if (show(p, "SHOW CLIENTS", &r, err) != 0)
		return -1;
	for (int i = 0; i < db_nrows(r); i++)
	{
		int			k = role_index(roles, n, col(r, i, "user"));
		const char *db = col(r, i, "database");
		char	   *pair;

		if (k < 0)
			continue;
		counts[k]++;
		pair = xasprintf("%s\n%s", roles[k], db ? db : "");
		if (!strlist_contains(&clients, pair))
			strlist_add(&clients, pair);
		free(pair);
	}
	db_res_free(r);
	rc = count_servers(p, roles, reconnect, n, counts, &todo, err);
	for (int i = 0; rc == 0 && i < todo.n; i++)
	{
		char	   *nl = strchr(todo.items[i], '\n');
		StrList		dbs = {0};

		*nl = '\0';
		dbs_of(&clients, todo.items[i], &dbs);
		reconnect_db(p, nl + 1, todo.items[i], &dbs);
		strlist_free(&dbs);
	}
	strlist_free(&todo);
	strlist_free(&clients);
	return rc;
}

/* KILL_CLIENT id: 1 done, 0 already gone, -1 with *err. */
static int
kill_one(Pooler *p, const char *id, char **err)
{
	char	   *cmd;
	char	   *e = NULL;
	int			rc = 1;

	if (id == NULL || strspn(id, "0123456789") != strlen(id))
	{
		*err = xasprintf("%s: SHOW CLIENTS gave no usable client id", p->label);
		return -1;
	}
	cmd = xasprintf("KILL_CLIENT %s", id);
	if (db_cmd(p->conn, cmd, &e) != 0)
	{
		rc = strstr(e, "client not found") ? 0 : -1;
		if (rc < 0)
			*err = e;
		else
			free(e);
	}
	free(cmd);
	return rc;
}

static bool
row_is(const DbRes *r, int row, const char *role)
{
	const char *user = col(r, row, "user");

	return user != NULL && strcmp(user, role) == 0;
}

int
pooler_kill_clients(Pooler *p, const char *role, int *n, char **err)
{
	DbRes	   *r = NULL;
	int			rc = -1;

	*n = 0;
	if (show(p, "SHOW CLIENTS", &r, err) != 0)
		return -1;
	if (!pooler_can_kill_client(p) || db_colnum(r, "id") < 0)
	{
		for (int i = 0; i < db_nrows(r); i++)
			*n += row_is(r, i, role) ? 1 : 0;
		rc = 1;
		goto done;
	}
	for (int i = 0; i < db_nrows(r); i++)
	{
		int			k;

		if (!row_is(r, i, role))
			continue;
		if ((k = kill_one(p, col(r, i, "id"), err)) < 0)
			goto done;
		*n += k;
	}
	rc = 0;
done:
	db_res_free(r);
	return rc;
}
