/*
 * state_lock.c: the per-target lock, a claim that only pgrotate's admin
 * can make.
 *
 * A target's lock is its state row's claim (schema version 2): the pid
 * and backend_start of the admin session that holds it. Claiming is an
 * UPDATE of pgrotate.state, which only the roles that own that table can
 * run (state_trust.c makes sure nobody else can write it), so an
 * application role cannot block a run the way it could block an advisory
 * lock, which any role may take. The claim is alive while its backend is
 * (pg_stat_activity, whose pid and backend_start every role can see): a
 * run that crashed, or whose connection was lost, leaves no lock behind,
 * because its backend ends with its connection. Several targets may be
 * claimed by one session.
 *
 * Two runs that claim at once: the second UPDATE waits for the first's
 * row lock, then re-checks its condition against the row the first wrote
 * (READ COMMITTED), whose claimant is alive, and so changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "transport.h"
#include "util.h"

/* The backend_start of this session. */
#define MY_START \
	"(SELECT a.backend_start FROM pg_catalog.pg_stat_activity a" \
	" WHERE a.pid = pg_catalog.pg_backend_pid())"

static const char CLAIM_SQL[] =
	"UPDATE pgrotate.state s SET lock_backend_pid = pg_catalog.pg_backend_pid(),"
	" lock_backend_start = " MY_START ","
	" lock_host = $2, lock_pid = $3::pg_catalog.int4, lock_since = pg_catalog.now()"
	" WHERE s.target = $1 AND (s.lock_backend_pid IS NULL"
	"  OR (s.lock_backend_pid = pg_catalog.pg_backend_pid()"
	"      AND s.lock_backend_start = " MY_START ")"
	"  OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
	"      WHERE a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start))"
	" RETURNING 1";

/*
 * The same for another session ($4 pid, $5 backend_start), which must be
 * alive and of the same role: a run cannot claim in a stranger's name.
 */
static const char CLAIM_AS_SQL[] =
	"UPDATE pgrotate.state s SET lock_backend_pid = $4::pg_catalog.int4,"
	" lock_backend_start = $5::pg_catalog.timestamptz,"
	" lock_host = $2, lock_pid = $3::pg_catalog.int4, lock_since = pg_catalog.now()"
	" WHERE s.target = $1"
	" AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity h"
	"   WHERE h.pid = $4::pg_catalog.int4 AND h.backend_start = $5::pg_catalog.timestamptz"
	"   AND h.usesysid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))"
	" AND (s.lock_backend_pid IS NULL"
	"  OR (s.lock_backend_pid = $4::pg_catalog.int4"
	"      AND s.lock_backend_start = $5::pg_catalog.timestamptz)"
	"  OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
	"      WHERE a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start))"
	" RETURNING 1";

/*
 * The live holder of target's claim, from the server: the host and
 * pgrotate pid its run recorded (only the admin can write them), the
 * database role, client address and backend start of its session.
 */
#define TS(x) "pg_catalog.to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
static const char HOLDER_SQL[] =
	"SELECT a.pid IS NOT NULL, coalesce(s.lock_host, '?'), coalesce(s.lock_pid, 0),"
	" coalesce(" TS("s.lock_since") ", '?'), a.usename,"
	" coalesce(pg_catalog.host(a.client_addr), 'local socket'), a.pid, " TS("a.backend_start")
	" FROM pgrotate.state s LEFT JOIN pg_catalog.pg_stat_activity a"
	"  ON a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start"
	"  AND a.pid <> pg_catalog.pg_backend_pid()"
	" WHERE s.target = $1";

/* Is the last error of c that of a schema without the lock columns? */
static bool
schema_lacks_lock(const DbConn *c)
{
	const char *code = db_last_sqlstate(c);

	/* undefined table, undefined schema, undefined column */
	return strcmp(code, "42P01") == 0 || strcmp(code, "3F000") == 0 ||
		strcmp(code, "42703") == 0;
}

/*
 * Read the holder: 0 with *holder (NULL when free) and *row_found, or -1.
 * *err is left alone when the schema merely predates the lock (see
 * schema_lacks_lock; then *row_found is false).
 */
static int
read_holder(DbConn *c, const char *target, char **holder, bool *row_found,
			char **err)
{
	const char *p[1] = {target};
	DbRes	   *r = NULL;

	*holder = NULL;
	*row_found = false;
	if (db_exec(c, HOLDER_SQL, 1, p, 8, &r, err) != 0)
		return -1;
	if (db_nrows(r) == 1)
	{
		*row_found = true;
		if (db_bool(r, 0, 0))
			*holder = xasprintf("host %s, pgrotate pid %s, since %s (database role %s,"
								" client %s, backend pid %s started %s)",
								db_val(r, 0, 1), db_val(r, 0, 2), db_val(r, 0, 3),
								db_val(r, 0, 4), db_val(r, 0, 5), db_val(r, 0, 6),
								db_val(r, 0, 7));
	}
	db_res_free(r);
	return 0;
}

/* Claim with sql and n parameters p (p[0] the target); see state_lock. */
static int
claim(DbConn *c, const char *sql, int n, const char *const *p, char **holder,
	  char **err)
{
	const char *target = p[0];

	*holder = NULL;
	/* a holder that ends between the claim and the look is retried */
	for (int attempt = 0; attempt < 3; attempt++)
	{
		DbRes	   *r = NULL;
		bool		claimed,
					found;

		if (db_exec(c, sql, n, p, 1, &r, err) != 0)
		{
			if (!schema_lacks_lock(c))
				return -1;
			free(*err);
			*err = NULL;
			return 2;
		}
		claimed = db_nrows(r) == 1;
		db_res_free(r);
		if (claimed)
			return 0;
		if (read_holder(c, target, holder, &found, err) != 0)
			return -1;
		if (!found)
			return 2;
		if (*holder != NULL)
			return 1;
	}
	*holder = xstrdup("sessions that keep ending as they are looked at (try again)");
	return 1;
}

int
state_lock(DbConn *c, const char *target, char **holder, char **err)
{
	char		pid[32];
	const char *p[3] = {target, host_name(), pid};

	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	return claim(c, CLAIM_SQL, 3, p, holder, err);
}

int
state_lock_as(DbConn *c, const char *target, int pid, const char *start,
			  char **holder, char **err)
{
	char		mypid[32],
				hub[32];
	const char *p[5] = {target, host_name(), mypid, hub, start};

	snprintf(mypid, sizeof(mypid), "%d", (int) getppid());	/* the fleet run */
	snprintf(hub, sizeof(hub), "%d", pid);
	return claim(c, CLAIM_AS_SQL, 5, p, holder, err);
}

void
state_unlock(DbConn *c, const char *target)
{
	const char *p[1] = {target};
	char	   *err = NULL;

	if (c == NULL || !db_is_ok(c))
		return;
	if (db_in_transaction(c))
		db_rollback(c);
	if (db_exec(c, "UPDATE pgrotate.state SET lock_backend_pid = NULL,"
				" lock_backend_start = NULL WHERE target = $1"
				" AND lock_backend_pid = pg_catalog.pg_backend_pid()",
				1, p, -1, NULL, &err) != 0)
		free(err);				/* the claim ends with the session anyway */
}

void
state_unlock_as(DbConn *c, const char *target, int backend_pid)
{
	char		pid[16];
	const char *p[2] = {target, pid};
	char	   *err = NULL;

	if (c == NULL || !db_is_ok(c))
		return;
	if (db_in_transaction(c))
		db_rollback(c);
	snprintf(pid, sizeof(pid), "%d", backend_pid);
	if (db_exec(c, "UPDATE pgrotate.state SET lock_backend_pid = NULL,"
				" lock_backend_start = NULL WHERE target = $1"
				" AND lock_backend_pid = $2::pg_catalog.int4",
				2, p, -1, NULL, &err) != 0)
		free(err);				/* the claim ends with the hub anyway */
}

int
state_lock_holder(DbConn *c, const char *target, char **holder, char **err)
{
	bool		found;

	if (read_holder(c, target, holder, &found, err) == 0)
		return 0;
	if (!schema_lacks_lock(c))
		return -1;
	free(*err);
	*err = NULL;
	return 0;
}

DbConn *
state_connect(const char *conninfo, char **err)
{
	char		app[64];
	const char *over[] = {"application_name", app, NULL};

	snprintf(app, sizeof(app), "pgrotate:%d@%s", (int) getpid(), host_name());
	return db_connect(conninfo, "primary", over, err);
}

/* Whether pgrotate.state exists: 1, 0, or -1 with *err. */
static int
state_table_exists(DbConn *c, char **err)
{
	DbRes	   *r = NULL;
	int			rc;

	if (db_exec(c, "SELECT pg_catalog.to_regclass('pgrotate.state') IS NOT NULL",
				0, NULL, 1, &r, err) != 0)
		return -1;
	rc = db_bool(r, 0, 0) ? 1 : 0;
	db_res_free(r);
	return rc;
}

/* The lock of so->mode on the open so->c; see state_open_locked. */
static int
open_lock(const Target *t, StateOpen *so, char **err)
{
	if (so->mode == STATE_LOCK_AS)
		return state_lock_as(so->c, t->name, so->as_pid, so->as_start, &so->holder, err);
	if (so->mode == STATE_LOCK_CLAIM)
		return state_lock(so->c, t->name, &so->holder, err);
	/* only look: changes nothing, not even the lock */
	if (state_lock_holder(so->c, t->name, &so->holder, err) != 0)
		return -1;
	return so->holder != NULL ? 1 : 2;
}

int
state_open_locked(const Target *t, StateOpen *so, char **err)
{
	so->c = NULL;
	so->holder = NULL;
	so->failed = STATE_OPEN_TRANSPORT;
	if (transport_enforce(t, err) != 0)
		return -1;
	so->failed = STATE_OPEN_CONNECT;
	if ((so->c = state_connect(t->admin, err)) == NULL)
		return -1;
	so->failed = STATE_OPEN_TRUST;
	if (!so->trusted && state_schema_trusted(so->c, err) != 0)
		return -1;
	so->failed = STATE_OPEN_LOCK;
	/*
	 * No state table yet (init's first run): nothing to claim, and no ERROR
	 * in the server log. A run that checked the schema already found it.
	 */
	switch (so->trusted ? 1 : state_table_exists(so->c, err))
	{
		case -1:
			return -1;
		case 0:
			return 2;
	}
	return open_lock(t, so, err);
}
