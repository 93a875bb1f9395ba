/*
 * drain.c: polling pg_stat_activity on every node, and SHOW CLIENTS/SHOW
 * SERVERS on every PgBouncer, until a role's sessions are gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drain.h"
#include "duration.h"
#include "log.h"
#include "pooler.h"
#include "util.h"

#define PROGRESS_LOG_MS 10000
/* how long past the drain timeout a last poll may take */
#define DRAIN_QUERY_MARGIN_MS 1000

static char *
dup_col(const DbRes *r, int row, int col)
{
	return db_isnull(r, row, col) ? NULL : xstrdup(db_val(r, row, col));
}

void
drain_sessions_query(const char **role, DbQuery *q)
{
	q->sql = "SELECT a.pid, a.application_name,"
		" CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr)"
		"      WHEN a.backend_start IS NOT NULL THEN 'local' END,"
		" to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		" FROM pg_catalog.pg_stat_activity a"
		" WHERE a.usesysid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)"
		" AND a.pid <> pg_catalog.pg_backend_pid() ORDER BY a.backend_start, a.pid";
	q->nparams = 1;
	q->params = role;
	q->ncols = 4;
}

void
drain_sessions_read(const DbConn *c, const DbRes *r, SessionList *out)
{
	for (int i = 0; i < db_nrows(r); i++)
	{
		Session    *s = sessionlist_add(out);

		s->node = db_label(c);
		s->pid = (int) db_int(r, i, 0);
		s->application_name = dup_col(r, i, 1);
		s->client_addr = dup_col(r, i, 2);
		s->backend_start = dup_col(r, i, 3);
	}
}

int
drain_list_sessions(DbConn *c, const char *role, SessionList *out, char **err)
{
	DbQuery		q;
	DbRes	   *r = NULL;

	drain_sessions_query(&role, &q);
	/*
	 * A fresh snapshot: outside a transaction block each statement is its
	 * own transaction, which starts with one; inside, clear it.
	 */
	if (db_in_transaction(c) &&
		db_cmd(c, "SELECT pg_catalog.pg_stat_clear_snapshot()", err) != 0)
		return -1;
	if (db_exec(c, q.sql, q.nparams, q.params, q.ncols, &r, err) != 0)
		return -1;
	drain_sessions_read(c, r, out);
	db_res_free(r);
	return 0;
}

int
drain_nodes_open(const Target *t, DbConn *primary, bool with_others,
				 DrainNodes *w, char **err)
{
	memset(w, 0, sizeof(*w));
	w->nodes = xcalloc(1 + (with_others ? t->replicas.n : 0), sizeof(DbConn *));
	w->nodes[w->nnodes++] = primary;
	if (!with_others)
		return 0;
	for (int i = 0; i < t->replicas.n; i++)
	{
		char	   *node = db_conninfo_node(t->replicas.items[i]);
		char	   *label = xasprintf("replica \"%s\"", node);

		w->nodes[w->nnodes] = db_connect(t->replicas.items[i], label, NULL, err);
		free(node);
		free(label);
		if (w->nodes[w->nnodes] == NULL)
			goto fail;
		w->nnodes++;
	}
	w->poolers = xcalloc(t->poolers.n + 1, sizeof(Pooler *));
	for (int i = 0; i < t->poolers.n; i++)
	{
		if ((w->poolers[w->npoolers] = pooler_open(t->poolers.items[i], err)) == NULL)
			goto fail;
		w->npoolers++;
	}
	return 0;

fail:
	drain_nodes_close(w);
	return -1;
}

void
drain_nodes_close(DrainNodes *w)
{
	for (int k = 1; k < w->nnodes; k++)
		db_close(w->nodes[k]);
	for (int k = 0; k < w->npoolers; k++)
		pooler_close(w->poolers[k]);
	free(w->nodes);
	free(w->poolers);
	memset(w, 0, sizeof(*w));
}

int
drain_snapshot(const DrainNodes *w, const char *role, bool reconnect,
			   bool servers_only, SessionList *out, char **err)
{
	sessionlist_free(out);
	for (int k = 0; k < w->nnodes; k++)
		if (drain_list_sessions(w->nodes[k], role, out, err) != 0)
			return -1;
	for (int k = 0; k < w->npoolers; k++)
		if (pooler_poll(w->poolers[k], role, reconnect, servers_only, out, err) != 0)
			return -1;
	return 0;
}

static void
append_count(StrBuf *sb, const SessionList *l, const char *label)
{
	int			n = 0;

	for (int i = 0; i < l->n; i++)
		if (l->items[i].node == label)
			n++;
	sb_appendf(sb, "%s%s %d", sb->len ? ", " : "", label, n);
}

/* "primary 2, replica db2:5432 0, pooler db1:6432 1" */
static char *
per_node_counts(const DrainSpec *spec, const SessionList *l)
{
	const DrainNodes *w = spec->where;
	StrBuf		sb;

	sb_init(&sb);
	for (int k = 0; k < w->nnodes; k++)
		append_count(&sb, l, db_label(w->nodes[k]));
	for (int k = 0; k < w->npoolers; k++)
		append_count(&sb, l, pooler_label(w->poolers[k]));
	return sb_steal(&sb);
}

static void
show_progress(const DrainSpec *spec, const SessionList *l, int64_t elapsed,
			  int64_t overlap_left, bool live, bool final)
{
	char		e[32],
				t[32],
				o[32];
	char	   *counts = per_node_counts(spec, l);
	char	   *who = l->n ? sessionlist_describe(l, 3) : NULL;

	duration_format(elapsed - elapsed % 1000, e, sizeof(e));
	duration_format(spec->timeout_ms, t, sizeof(t));
	duration_format(overlap_left > 0 ? overlap_left + 999 - (overlap_left + 999) % 1000 : 0,
					o, sizeof(o));
	if (live)
	{
		log_live("draining \"%s\": sessions %s; overlap %s left; %s/%s",
				 spec->role, counts, o, e, t);
		if (final)
			log_live_end();
	}
	else
		log_emit(LOG_LEVEL_INFO, "drain_progress", who, NULL,
				 "draining \"%s\": sessions %s; min_overlap %s left; waited %s of %s",
				 spec->role, counts, o, e, t);
	free(counts);
	free(who);
}

/*
 * How long to sleep before the next poll: poll_interval, but never past
 * the end of the overlap (a drained role is revoked when it ends, not up
 * to one interval later) nor past the timeout.
 */
static int64_t
next_poll_in(const DrainSpec *spec, int64_t elapsed, int64_t overlap_left)
{
	int64_t		ms = spec->poll_ms;

	if (overlap_left > 0 && overlap_left < ms)
		ms = overlap_left;
	if (spec->timeout_ms - elapsed < ms)
		ms = spec->timeout_ms - elapsed;
	return ms;
}

static DrainResult
drain_loop(const DrainSpec *spec, int64_t start, SessionList *left, char **err)
{
	int64_t		last_log = -PROGRESS_LOG_MS;
	bool		live = isatty(STDERR_FILENO) && !log_is_json() && log_enabled(LOG_LEVEL_INFO);
	int			last_n = -1;

	for (;;)
	{
		int64_t		now = clock_mono_ms();
		int64_t		elapsed = now - start;
		int64_t		overlap_left = spec->overlap_left_ms - elapsed;
		bool		done;

		if (drain_snapshot(spec->where, spec->role, overlap_left <= 0,
						   spec->servers_only, left, err) != 0)
		{
			/* a signal cancels the running poll: that is an interruption */
			if (spec->stop && *spec->stop)
			{
				free(*err);
				*err = NULL;
				return DRAIN_INTERRUPTED;
			}
			return DRAIN_ERROR;
		}
		done = overlap_left <= 0 && left->n == 0;
		if (live || done || left->n != last_n || now - last_log >= PROGRESS_LOG_MS)
		{
			if (live || !done || elapsed > 0)
				show_progress(spec, left, elapsed, overlap_left, live, done);
			last_log = now;
			last_n = left->n;
		}
		if (done)
			return DRAIN_DONE;
		if (spec->stop && *spec->stop)
			return DRAIN_INTERRUPTED;
		if (elapsed >= spec->timeout_ms)
		{
			log_live_end();
			return DRAIN_TIMEOUT;
		}
		sleep_ms(next_poll_in(spec, elapsed, overlap_left), spec->stop);
	}
}

DrainResult
drain_wait(const DrainSpec *spec, SessionList *left, char **err)
{
	int64_t		start = clock_mono_ms();
	DrainResult res;

	/* a node that stops answering must not hold the run past the drain */
	db_set_deadline_cap(start + spec->timeout_ms + DRAIN_QUERY_MARGIN_MS);
	res = drain_loop(spec, start, left, err);
	db_set_deadline_cap(0);
	return res;
}

int
drain_terminate(DbConn *c, const char *role, int *n, char **err)
{
	const char *p[1] = {role};
	DbRes	   *r = NULL;

	*n = 0;
	if (db_exec(c,
				"SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(a.pid))"
				" FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r"
				" ON r.oid = a.usesysid"
				" WHERE r.rolname = $1 AND NOT r.rolsuper"
				" AND a.pid <> pg_catalog.pg_backend_pid()",
				1, p, 1, &r, err) != 0)
		return -1;
	*n = (int) db_int(r, 0, 0);
	db_res_free(r);
	return 0;
}

int
drain_kill_pooler_clients(Pooler *p, const char *role, int *killed, int *unkillable)
{
	char	   *err = NULL;
	int			n = 0;
	int			rc = pooler_kill_clients(p, role, &n, &err);

	if (rc < 0)
	{
		log_warning("could not disconnect the clients of \"%s\" from %s: %s",
					role, pooler_label(p), err);
		free(err);
		return -1;
	}
	if (rc == 0)
		*killed += n;
	else if (n > 0)
	{
		*unkillable += n;
		log_emit(LOG_LEVEL_WARNING, "pooler_cannot_kill", NULL,
				 "Once the role is revoked their next transaction fails: PgBouncer cannot log in to the server for them (PgBouncer 1.24 and later can disconnect them with KILL_CLIENT).",
				 "%s (%s) cannot disconnect a single client: %d client%s of role \"%s\" %s connected to it; only server connections are terminated",
				 pooler_label(p), pooler_version(p), n, n == 1 ? "" : "s", role,
				 n == 1 ? "stays" : "stay");
	}
	return 0;
}

/* Pooler clients of role: KILL_CLIENT where it exists, else a warning. */
static int
terminate_on_poolers(const DrainNodes *w, const char *role, int *unkillable)
{
	int			total = 0;

	for (int k = 0; k < w->npoolers; k++)
		(void) drain_kill_pooler_clients(w->poolers[k], role, &total, unkillable);
	return total;
}

int
drain_terminate_all(const DrainNodes *w, const char *role, int *unkillable)
{
	int			total;

	*unkillable = 0;
	total = terminate_on_poolers(w, role, unkillable);
	for (int k = 0; k < w->nnodes; k++)
	{
		char	   *err = NULL;
		int			n = 0;

		if (drain_terminate(w->nodes[k], role, &n, &err) != 0)
		{
			log_warning("could not terminate the sessions of \"%s\" on %s: %s", role,
						db_label(w->nodes[k]), err);
			free(err);
		}
		total += n;
	}
	return total;
}
