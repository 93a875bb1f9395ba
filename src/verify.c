/*
 * verify.c: log in as the new credential and look around, on the primary
 * and on each replica once it has replayed the new password.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"
#include "util.h"
#include "verify.h"

#define PROGRESS_LOG_MS 10000

/*
 * The connection keywords that place a login on a replica: its host,
 * hostaddr and port (empty: unset) replace those of the app conninfo.
 */
static const char *const placement[] = {"host", "hostaddr", "port", NULL};

#define NO_PASSWORD_CHECK \
	"the server let the role in without asking for its password" \
	" (pg_hba trust/peer/ident/cert on that path), so this login proves nothing" \
	" (hint: " VERIFY_AUTH_FIX ")"

/* Is keyword set in conninfo? (An unparsable conninfo fails later.) */
static bool
conninfo_sets(const char *conninfo, const char *keyword, char **value)
{
	char	   *v = NULL;
	char	   *e = NULL;

	if (db_conninfo_get(conninfo, keyword, &v, &e) != 0)
		free(e);
	if (value != NULL)
		*value = v;
	else
		free(v);
	return v != NULL;
}

/*
 * The keywords that make a verify login prove something (after over[n]):
 * with libpq 16 or later, require_auth=scram-sha-256 unless the conninfo
 * sets require_auth; with TLS required (sslmode require, verify-ca or
 * verify-full, however set), channel_binding=require unless the conninfo
 * sets channel_binding. Returns the new n.
 */
static int
strict_auth(const char *conninfo, const char **over, int n)
{
	static const char *const keys[] = {"sslmode", NULL};
	char	   *sslmode = NULL;
	char	   *e = NULL;

	if (db_libpq_version() >= 160000 && !conninfo_sets(conninfo, "require_auth", NULL))
	{
		over[n++] = "require_auth";
		over[n++] = "scram-sha-256";
	}
	/* the sslmode libpq will use: from the string, a service or PGSSLMODE */
	if (db_conninfo_resolve(conninfo, NULL, keys, &sslmode, &e) != 0)
		free(e);
	if (sslmode != NULL &&
		(strcmp(sslmode, "require") == 0 || strncmp(sslmode, "verify-", 7) == 0) &&
		!conninfo_sets(conninfo, "channel_binding", NULL))
	{
		over[n++] = "channel_binding";
		over[n++] = "require";
	}
	free(sslmode);
	over[n] = NULL;
	return n;
}

/* Connect as role/password; NULL with *err (the message of a failed verify). */
static DbConn *
verify_login(const char *conninfo, const char *label, const char *role,
			 const char *password, const char *const *where, char **err)
{
	const char *over[24] = {"user", role, "password", password,
	"application_name", "pgrotate-verify", NULL};
	int			n = 6;
	DbConn	   *c;
	char	   *e = NULL;
	const char *why;

	for (int k = 0; where != NULL && placement[k] != NULL; k++)
	{
		over[n++] = placement[k];
		over[n++] = where[k];
	}
	n = strict_auth(conninfo, over, n);
	c = db_connect(conninfo, label, over, &e);
	if (c == NULL && (why = strstr(e, "authentication method requirement")) != NULL)
		*err = strstr(why, "did not complete authentication") != NULL ?
			xasprintf("verification of role \"%s\" failed: %s: " NO_PASSWORD_CHECK
					  " (libpq: %s)", role, label, why) :
			xasprintf("verification of role \"%s\" failed: %s: the server asked for"
					  " another method than scram-sha-256 (libpq: %s) (hint: Make pg_hba"
					  " ask for scram-sha-256 on the app path, or set require_auth in the app"
					  " conninfo.)", role, label, why);
	else if (c == NULL)
		*err = xasprintf("the new credential of role \"%s\" cannot log in: %s", role, e);
	else if (!db_used_password(c))
	{
		*err = xasprintf("verification of role \"%s\" failed: %s: " NO_PASSWORD_CHECK,
						 role, label);
		db_close(c);
		c = NULL;
	}
	free(e);
	return c;
}

static int
verify_on(const char *conninfo, const char *label, const Target *t,
		  const char *role, const char *password, const char *const *where,
		  char **err)
{
	DbConn	   *c;
	DbRes	   *r = NULL;
	char	   *e = NULL;
	int			rc = -1;

	if ((c = verify_login(conninfo, label, role, password, where, err)) == NULL)
		return -1;
	if (db_exec(c, "SELECT session_user, current_user", 0, NULL, 2, &r, &e) != 0)
		goto done;
	if (strcmp(db_val(r, 0, 0), role) != 0)
		e = xasprintf("%s: session_user is \"%s\", expected \"%s\"", label,
					  db_val(r, 0, 0), role);
	else if (strcmp(db_val(r, 0, 1), t->group_role) != 0)
		e = xasprintf("%s: logged in as \"%s\", current_user is \"%s\", expected the group role \"%s\""
					  " (is ALTER ROLE ... SET role = '%s' missing?)", label, role,
					  db_val(r, 0, 1), t->group_role, t->group_role);
	else if (db_cmd(c, t->s.verify_query, &e) == 0)
		rc = 0;
done:
	if (rc != 0)
	{
		*err = xasprintf("verification of role \"%s\" failed: %s", role,
						 e ? e : "unknown error");
		free(e);
	}
	db_res_free(r);
	db_close(c);
	return rc;
}

/* Log in on the replica whose admin conninfo is replica, labelled label. */
static int
verify_on_replica(const Target *t, const char *replica, const char *label,
				  const char *role, const char *password, char **err)
{
	char	   *where[3] = {NULL, NULL, NULL};
	int			rc = 0;

	for (int k = 0; placement[k] != NULL && rc == 0; k++)
		rc = db_conninfo_get(replica, placement[k], &where[k], err);
	for (int k = 0; k < 3; k++)
		if (where[k] == NULL)
			where[k] = xstrdup("");
	if (rc == 0)
		rc = verify_on(t->app, label, t, role, password,
					   (const char *const *) where, err);
	for (int k = 0; k < 3; k++)
		free(where[k]);
	return rc;
}

/*
 * How the server at conninfo (placed at where, as for a verify) treats a
 * login as role that offers no password: connected, or refused after
 * authentication (no such role, NOLOGIN), means it never asked.
 */
static AuthProbe
probe_on(const char *conninfo, const char *role, const char *const *where,
		 char **detail)
{
	const char *over[20] = {"user", role, "passfile", "/dev/null/none",
	"application_name", "pgrotate-check", NULL};
	int			n = 6;
	AuthProbe	rc;
	DbConn	   *c;
	char	   *e = NULL;

	for (int k = 0; where != NULL && placement[k] != NULL; k++)
	{
		over[n++] = placement[k];
		over[n++] = where[k];
	}
	over[n] = NULL;
	c = db_connect(conninfo, "app", over, &e);
	if (c != NULL)
		rc = db_used_password(c) ? AUTH_ASKS : AUTH_TRUSTS;
	else if (strstr(e, "no password supplied") != NULL)
		rc = AUTH_ASKS;
	else if (strstr(e, "does not exist") != NULL || strstr(e, "not permitted to log in") != NULL)
		rc = AUTH_TRUSTS;
	else
		rc = AUTH_UNKNOWN;
	if (rc == AUTH_TRUSTS)
		*detail = xasprintf("role \"%s\" got past authentication without a password"
							" (pg_hba trust/peer/ident/cert on that path)%s%s: a verify there"
							" would prove nothing", role, e ? "; then: " : "", e ? e : "");
	else if (rc == AUTH_UNKNOWN)
		*detail = xasprintf("cannot tell: %s", e);
	free(e);
	db_close(c);
	return rc;
}

AuthProbe
verify_probe_auth(const Target *t, const char *replica, const char *role,
				  char **detail)
{
	char	   *where[3] = {NULL, NULL, NULL};
	AuthProbe	rc = AUTH_UNKNOWN;
	int			got = 0;
	char	   *e = NULL;

	*detail = NULL;
	if (replica == NULL)
		return probe_on(t->app, role, NULL, detail);
	for (int k = 0; placement[k] != NULL && got == 0; k++)
		got = db_conninfo_get(replica, placement[k], &where[k], &e);
	for (int k = 0; k < 3; k++)
		if (where[k] == NULL)
			where[k] = xstrdup("");
	if (got == 0)
		rc = probe_on(t->app, role, (const char *const *) where, detail);
	else
		*detail = e;
	for (int k = 0; k < 3; k++)
		free(where[k]);
	return rc;
}

/* Connect to every replica's admin conninfo ("replica host:port"). */
static int
open_replicas(const Target *t, DbConn **reps, char **err)
{
	for (int i = 0; i < t->replicas.n; i++)
	{
		char	   *node = db_conninfo_node(t->replicas.items[i]);
		char	   *label = xasprintf("replica \"%s\"", node);

		reps[i] = db_connect(t->replicas.items[i], label, NULL, err);
		free(node);
		free(label);
		if (reps[i] == NULL)
			return -1;
	}
	return 0;
}

/*
 * How far each replica is from lsn. Returns 0 with *behind the number of
 * replicas still behind (described in *detail), or -1 with *err.
 */
static int
replay_status(const Target *t, DbConn **reps, const char *lsn, int *behind,
			  StrBuf *detail, char **err)
{
	const char *p[1] = {lsn};

	*behind = 0;
	sb_reset(detail);
	for (int i = 0; i < t->replicas.n; i++)
	{
		DbRes	   *r = NULL;

		if (db_exec(reps[i], "SELECT pg_catalog.pg_is_in_recovery(),"
					" pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_catalog.pg_lsn,"
					" pg_catalog.pg_wal_lsn_diff($1::pg_catalog.pg_lsn,"
					" pg_catalog.pg_last_wal_replay_lsn())",
					1, p, 3, &r, err) != 0)
			return -1;
		if (!db_bool(r, 0, 0))
		{
			*err = xasprintf("%s is not in recovery: it is no hot standby (promoted?)"
							 " (hint: Fix the target's replicas.)", db_label(reps[i]));
			db_res_free(r);
			return -1;
		}
		if (!db_bool(r, 0, 1))
		{
			(*behind)++;
			sb_appendf(detail, "%s%s %s", detail->len ? ", " : "", db_label(reps[i]),
					   db_isnull(r, 0, 2) ? "has replayed nothing yet" : "");
			if (!db_isnull(r, 0, 2))
				sb_appendf(detail, "%s bytes behind", db_val(r, 0, 2));
		}
		db_res_free(r);
	}
	return 0;
}

/* A live line on a terminal, else a log line (the caller limits how often). */
static void
replica_progress(bool live, const char *lsn, const char *detail,
				 const char *waited, const char *timeout)
{
	if (live)
	{
		fprintf(stderr, "\r\033[Kwaiting for replicas to replay the new password (WAL %s): %s; %s/%s",
				lsn, detail, waited, timeout);
		fflush(stderr);
	}
	else
		log_emit(LOG_LEVEL_INFO, "replica_wait", NULL, NULL,
				 "waiting for replicas to replay the new password (WAL %s): %s; waited %s of %s",
				 lsn, detail, waited, timeout);
}

/* Wait until every replica has replayed lsn (see verify_credential). */
static int
wait_replayed(const Target *t, DbConn **reps, const char *lsn,
			  volatile int *stop, char **err)
{
	int64_t		start = clock_mono_ms();
	int64_t		last_log = -PROGRESS_LOG_MS;
	bool		live = isatty(STDERR_FILENO) && !log_is_json() && log_enabled(LOG_LEVEL_INFO);
	StrBuf		detail;
	char		e[32],
				to[32];
	int			behind = 0;
	int			rc = -1;

	sb_init(&detail);
	duration_format(t->s.drain_timeout_ms, to, sizeof(to));
	for (;;)
	{
		int64_t		elapsed = clock_mono_ms() - start;

		if (replay_status(t, reps, lsn, &behind, &detail, err) != 0)
			break;
		if (behind == 0)
		{
			rc = 0;
			break;
		}
		duration_format(elapsed - elapsed % 1000, e, sizeof(e));
		if (elapsed >= t->s.drain_timeout_ms || (stop && *stop))
		{
			if (stop && *stop)
				*err = xasprintf("interrupted while waiting for replicas to replay the new password (WAL %s): %s",
								 lsn, detail.data);
			else
				*err = xasprintf("replicas did not replay the new password (WAL %s) within drain_timeout (%s): %s",
								 lsn, to, detail.data);
			break;
		}
		if (live || elapsed - last_log >= PROGRESS_LOG_MS)
		{
			replica_progress(live, lsn, detail.data, e, to);
			last_log = elapsed;
		}
		sleep_ms(t->s.poll_interval_ms < t->s.drain_timeout_ms - elapsed ?
				 t->s.poll_interval_ms : t->s.drain_timeout_ms - elapsed, stop);
	}
	if (live && last_log >= 0)
		fputc('\n', stderr);	/* end the live line */
	sb_free(&detail);
	return rc;
}

static int
primary_lsn(DbConn *primary, char **lsn, char **err)
{
	DbRes	   *r = NULL;

	if (db_exec(primary, "SELECT pg_catalog.pg_current_wal_lsn()::text", 0, NULL,
				1, &r, err) != 0)
		return -1;
	*lsn = xstrdup(db_val(r, 0, 0));
	db_res_free(r);
	return 0;
}

/*
 * A pooler that app goes through learns the new role only when the
 * pgbouncer sink is published, after this verification: say so.
 */
static void
hint_app_through_pooler(const Target *t, char **err)
{
	char	   *app = db_conninfo_node(t->app);

	for (int i = 0; i < t->poolers.n; i++)
	{
		char	   *p = db_conninfo_node(t->poolers.items[i]);

		if (strcmp(p, app) == 0)
		{
			char	   *m = *err;

			*err = xasprintf("%s (hint: The app conninfo goes through pooler \"%s\", which learns the new role only when it is published: point it at the server.)",
							 m, p);
			free(m);
			i = t->poolers.n;
		}
		free(p);
	}
	free(app);
}

VerifyResult
verify_credential(const Target *t, DbConn *primary, const char *role,
				  const char *password, volatile int *stop, char **err)
{
	DbConn	  **reps = NULL;
	char	   *lsn = NULL;
	VerifyResult rc = VERIFY_FAILED;

	if (verify_on(t->app, "primary", t, role, password, NULL, err) != 0)
	{
		hint_app_through_pooler(t, err);
		return VERIFY_FAILED;
	}
	if (t->replicas.n == 0)
		return VERIFY_OK;
	reps = xcalloc(t->replicas.n, sizeof(DbConn *));
	rc = VERIFY_UNAVAILABLE;
	if (primary_lsn(primary, &lsn, err) != 0 || open_replicas(t, reps, err) != 0 ||
		wait_replayed(t, reps, lsn, stop, err) != 0)
		goto done;
	rc = VERIFY_FAILED;
	for (int i = 0; i < t->replicas.n; i++)
		if (verify_on_replica(t, t->replicas.items[i], db_label(reps[i]), role,
							  password, err) != 0)
			goto done;
	log_info("verified role \"%s\" on %d replica%s", role, t->replicas.n,
			 t->replicas.n == 1 ? "" : "s");
	rc = VERIFY_OK;
done:
	for (int i = 0; i < t->replicas.n; i++)
		db_close(reps[i]);
	free(reps);
	free(lsn);
	return rc;
}
