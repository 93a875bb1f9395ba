/*
 * state.c: the pgrotate schema, state rows and history (the lock is in
 * state_lock.c, the trust in the schema in state_trust.c).
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "util.h"

static const char *const phase_names[] = {
	"idle", "provisioned", "verified", "draining", "unknown"
};

const char *
phase_name(Phase p)
{
	return phase_names[p];
}

static Phase
phase_parse(const char *s)
{
	for (int p = PHASE_IDLE; p < PHASE_UNKNOWN; p++)
		if (strcmp(s, phase_names[p]) == 0)
			return (Phase) p;
	return PHASE_UNKNOWN;
}

int
state_schema_version(DbConn *c, int *version, char **err)
{
	DbRes	   *r = NULL;
	int			rc;

	*version = 0;
	if (state_schema_trusted(c, err) != 0)
		return -1;
	rc = db_exec(c, "SELECT pg_catalog.to_regclass('pgrotate.schema_version') IS NOT NULL",
				 0, NULL, 1, &r, err);
	if (rc != 0)
		return -1;
	if (db_nrows(r) == 1 && db_bool(r, 0, 0))
	{
		db_res_free(r);
		r = NULL;
		if (db_exec(c, "SELECT coalesce(max(version), 0) FROM pgrotate.schema_version",
					0, NULL, 1, &r, err) != 0)
			return -1;
		*version = (int) db_int(r, 0, 0);
	}
	db_res_free(r);
	return 0;
}

/* The GRANTs that let the group role call pgrotate.active_role(). */
static char *
grant_sql(DbConn *c, const char *group_role, char **err)
{
	char	   *q = db_quote_ident(c, group_role, err);
	char	   *sql;

	if (q == NULL)
		return NULL;
	sql = xasprintf("GRANT USAGE ON SCHEMA pgrotate TO %s;\n"
					"GRANT EXECUTE ON FUNCTION pgrotate.active_role(text) TO %s;\n",
					q, q);
	free(q);
	return sql;
}

int
state_install(DbConn *c, const char *group_role, bool *changed, char **err)
{
	int			version;
	char	   *grants;
	int			rc;

	*changed = false;
	if (state_schema_version(c, &version, err) != 0)
		return -1;
	/*
	 * Concurrent inits (init --all) each GRANT on the one schema and
	 * function: one at a time, or "tuple concurrently updated". Readers
	 * (ACCESS SHARE) are not held up, and only the schema's owner or a
	 * superuser can take this lock (state_trust), not the applications.
	 */
	if (version > 0 &&
		db_cmd(c, "LOCK TABLE pgrotate.schema_version IN EXCLUSIVE MODE", err) != 0)
		return -1;
	for (int i = version; i < pgr_sql_nscripts; i++)
	{
		if (db_cmd(c, pgr_sql_scripts[i].sql, err) != 0)
			return -1;
		*changed = true;
	}
	grants = grant_sql(c, group_role, err);
	if (grants == NULL)
		return -1;
	rc = db_cmd(c, grants, err);
	free(grants);
	return rc;
}

char *
state_install_sql(DbConn *c, const char *group_role, char **err)
{
	StrBuf		sb;
	char	   *grants = grant_sql(c, group_role, err);

	if (grants == NULL)
		return NULL;
	sb_init(&sb);
	for (int i = 0; i < pgr_sql_nscripts; i++)
		sb_appendf(&sb, "-- %s\n%s\n", pgr_sql_scripts[i].name, pgr_sql_scripts[i].sql);
	sb_append(&sb, grants);
	free(grants);
	return sb_steal(&sb);
}

static char *
dup_or_null(const DbRes *r, int col)
{
	return db_isnull(r, 0, col) ? NULL : xstrdup(db_val(r, 0, col));
}

/* The columns of a StateRow, over pgrotate.state or an UPDATE's RETURNING *. */
#define STATE_COLS \
	"target, group_role, active_role, standby_role, phase, generation," \
	" pending_role, pending_generation," \
	" extract(epoch FROM phase_since)::bigint," \
	" coalesce(extract(epoch FROM rotated_at)::bigint, 0)," \
	" coalesce((extract(epoch FROM publish_started_at) * 1000)::bigint, 0)," \
	" fingerprint, pending_fingerprint," \
	" (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define STATE_NCOLS 14

static void
row_from_result(const DbRes *r, StateRow *row)
{
	row->target = xstrdup(db_val(r, 0, 0));
	row->group_role = xstrdup(db_val(r, 0, 1));
	row->active_role = xstrdup(db_val(r, 0, 2));
	row->standby_role = xstrdup(db_val(r, 0, 3));
	row->phase_text = xstrdup(db_val(r, 0, 4));
	row->phase = phase_parse(row->phase_text);
	row->generation = db_int(r, 0, 5);
	row->pending_role = dup_or_null(r, 6);
	row->pending_generation = db_int(r, 0, 7);
	row->phase_since = db_int(r, 0, 8);
	row->rotated_at = db_int(r, 0, 9);
	row->publish_started_ms = db_int(r, 0, 10);
	row->fingerprint = dup_or_null(r, 11);
	row->pending_fingerprint = dup_or_null(r, 12);
	row->server_now_ms = db_int(r, 0, 13);
}

int
state_load(DbConn *c, const char *target, StateRow *row, bool *found,
		   char **err)
{
	const char *params[1] = {target};
	DbRes	   *r = NULL;

	memset(row, 0, sizeof(*row));
	*found = false;
	if (db_exec(c, "SELECT " STATE_COLS " FROM pgrotate.state WHERE target = $1",
				1, params, STATE_NCOLS, &r, err) != 0)
		return -1;
	if (db_nrows(r) == 1)
	{
		*found = true;
		row_from_result(r, row);
	}
	db_res_free(r);
	return 0;
}

void
state_row_free(StateRow *row)
{
	free(row->target);
	free(row->group_role);
	free(row->active_role);
	free(row->standby_role);
	free(row->phase_text);
	free(row->pending_role);
	free(row->fingerprint);
	free(row->pending_fingerprint);
	memset(row, 0, sizeof(*row));
}

int
state_check_roles(const StateRow *row, const char *group, const char *role_a,
				  const char *role_b, char **why)
{
	bool		pair_ok = (strcmp(row->active_role, role_a) == 0 &&
						   strcmp(row->standby_role, role_b) == 0) ||
		(strcmp(row->active_role, role_b) == 0 &&
		 strcmp(row->standby_role, role_a) == 0);

	*why = NULL;
	if (strcmp(row->group_role, group) != 0 || !pair_ok)
		*why = xasprintf("the configuration names group \"%s\" and roles \"%s\", \"%s\", but the state has group \"%s\" and roles \"%s\", \"%s\"",
						 group, role_a, role_b, row->group_role,
						 row->active_role, row->standby_role);
	else if (row->pending_role != NULL &&
			 strcmp(row->pending_role, row->standby_role) != 0)
		*why = xasprintf("the state's pending role \"%s\" is not the standby role \"%s\"",
						 row->pending_role, row->standby_role);
	return *why ? -1 : 0;
}

/* The error of a change that found no state row of target: -1. */
static int
row_missing(DbConn *c, const char *target, char **err)
{
	*err = xasprintf("%s: state row of target \"%s\" not found (was it deleted?)",
					 db_label(c), target);
	return -1;
}

/* Run an UPDATE/INSERT that must touch exactly one row. */
static int
exec_one(DbConn *c, const char *sql, int n, const char *const *params,
		 char **err)
{
	DbRes	   *r = NULL;
	int			rows;

	if (db_exec(c, sql, n, params, 1, &r, err) != 0)
		return -1;
	rows = db_nrows(r);
	db_res_free(r);
	return rows == 1 ? 0 : row_missing(c, params[0], err);
}

/* The OS user, looked up once per process (an NSS lookup is not free). */
static const char *
os_user(void)
{
	static char name[256];

	if (name[0] == '\0')
	{
		struct passwd *pw = getpwuid(geteuid());

		snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "unknown");
	}
	return name;
}

#define HISTORY_NPARAMS 10
#define HISTORY_INSERT \
	"INSERT INTO pgrotate.history (target, event, from_role, to_role," \
	" generation, actor, host, pid, reason, detail)"

/* The HISTORY_NPARAMS parameters of ev's row; gen and pid are buffers. */
static void
history_params(const char *target, const StateEvent *ev, char gen[32],
			   char pid[32], const char **p)
{
	snprintf(gen, 32, "%lld", (long long) ev->generation);
	snprintf(pid, 32, "%d", (int) getpid());
	p[0] = target;
	p[1] = ev->event;
	p[2] = ev->from_role;
	p[3] = ev->to_role;
	p[4] = ev->generation > 0 ? gen : NULL;
	p[5] = os_user();
	p[6] = host_name();
	p[7] = pid;
	p[8] = ev->reason;
	p[9] = ev->detail;
}

/*
 * The statement of a state change: update (an UPDATE of n parameters, $1
 * the target, without RETURNING); with ev, the same statement appends its
 * history row; it returns the new state.
 */
typedef struct Transition
{
	const char *p[8 + HISTORY_NPARAMS];
	int			n;
	char		gen[32];
	char		pid[32];
	char	   *sql;
} Transition;

static void
transition_build(Transition *tr, const char *update, int n,
				 const char *const *params, const StateEvent *ev)
{
	char	   *hist = NULL;

	for (int i = 0; i < n; i++)
		tr->p[i] = params[i];
	tr->n = n;
	if (ev != NULL)
	{
		history_params(params[0], ev, tr->gen, tr->pid, tr->p + n);
		hist = xasprintf(",\nh AS (" HISTORY_INSERT
						 " SELECT $%d, $%d, $%d, $%d, $%d::pg_catalog.int8, $%d, $%d,"
						 " $%d::pg_catalog.int4, $%d, $%d FROM s)",
						 n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8,
						 n + 9, n + 10);
		tr->n += HISTORY_NPARAMS;
	}
	tr->sql = xasprintf("WITH s AS (%s RETURNING *)%s\nSELECT " STATE_COLS " FROM s",
						update, hist ? hist : "");
	free(hist);
}

/*
 * The state change of update (see Transition) must touch the row; with
 * row, the new state is read back into it (the old contents freed).
 */
static int
transition(DbConn *c, const char *update, int n, const char *const *params,
		   const StateEvent *ev, StateRow *row, char **err)
{
	Transition	tr;
	DbRes	   *r = NULL;
	int			rc = -1;

	transition_build(&tr, update, n, params, ev);
	if (db_exec(c, tr.sql, tr.n, tr.p, STATE_NCOLS, &r, err) != 0)
		goto done;
	if (db_nrows(r) != 1)
	{
		row_missing(c, params[0], err);
		goto done;
	}
	if (row != NULL)
	{
		state_row_free(row);
		row_from_result(r, row);
	}
	rc = 0;
done:
	db_res_free(r);
	free(tr.sql);
	return rc;
}

/*
 * The statement transition would run, its parameters as literals, each
 * line after the first prefixed with indent (the values' own line breaks
 * kept as they are). malloc'd, or NULL with *err.
 */
static char *
transition_text(DbConn *c, const char *update, int n, const char *const *params,
				const StateEvent *ev, const char *indent, char **err)
{
	Transition	tr;
	StrBuf		sb;
	char	   *out = NULL;

	transition_build(&tr, update, n, params, ev);
	sb_init(&sb);
	for (const char *q = tr.sql; *q; q++)
	{
		char	   *end;
		long		k;
		char	   *lit;

		if (*q == '\n')
		{
			sb_appendc(&sb, '\n');
			sb_append(&sb, indent);
			continue;
		}
		if (*q != '$' || !isdigit((unsigned char) q[1]) ||
			(k = strtol(q + 1, &end, 10)) < 1 || k > tr.n)
		{
			sb_appendc(&sb, *q);
			continue;
		}
		q = end - 1;
		if (tr.p[k - 1] == NULL)
		{
			sb_append(&sb, "NULL");
			continue;
		}
		if ((lit = db_quote_literal(c, tr.p[k - 1], err)) == NULL)
			goto done;
		sb_append(&sb, lit);
		free(lit);
	}
	out = sb_steal(&sb);
done:
	sb_free(&sb);
	free(tr.sql);
	return out;
}

/* A success clears the error of an earlier failed run. */
#define NO_ERROR "last_error = NULL, last_error_at = NULL, last_error_step = NULL"

int
state_create(DbConn *c, const char *target, const char *group,
			 const char *active, const char *standby, char **err)
{
	const char *p[4] = {target, group, active, standby};

	return exec_one(c,
					"INSERT INTO pgrotate.state (target, group_role, active_role, standby_role)"
					" VALUES ($1, $2, $3, $4) RETURNING 1", 4, p, err);
}

static const char PROVISIONED_SQL[] =
	"UPDATE pgrotate.state SET phase = 'provisioned', phase_since = now(),"
	" pending_role = $2, pending_generation = $3, pending_fingerprint = $4,"
	" publish_started_at = NULL"
	" WHERE target = $1";

int
state_provisioned(DbConn *c, const char *target, const char *role,
				  int64_t generation, const char *fingerprint,
				  const StateEvent *ev, StateRow *row, char **err)
{
	char		gen[32];
	const char *p[4] = {target, role, gen, fingerprint};

	snprintf(gen, sizeof(gen), "%lld", (long long) generation);
	return transition(c, PROVISIONED_SQL, 4, p, ev, row, err);
}

char *
state_provisioned_sql(DbConn *c, const char *target, const char *role,
					  int64_t generation, const char *fingerprint,
					  const StateEvent *ev, const char *indent, char **err)
{
	char		gen[32];
	const char *p[4] = {target, role, gen, fingerprint};

	snprintf(gen, sizeof(gen), "%lld", (long long) generation);
	return transition_text(c, PROVISIONED_SQL, 4, p, ev, indent, err);
}

int
state_set_phase(DbConn *c, const char *target, Phase ph,
				const StateEvent *ev, StateRow *row, char **err)
{
	const char *p[2] = {target, phase_name(ph)};

	return transition(c,
					  "UPDATE pgrotate.state SET phase = $2, phase_since = now()"
					  " WHERE target = $1", 2, p, ev, row, err);
}

int
state_publish_started(DbConn *c, const char *target, char **err)
{
	const char *p[1] = {target};

	return exec_one(c,
					"UPDATE pgrotate.state SET publish_started_at ="
					" coalesce(publish_started_at, now()) WHERE target = $1 RETURNING 1",
					1, p, err);
}

int
state_published(DbConn *c, const char *target, const StateEvent *ev,
				StateRow *row, char **err)
{
	const char *p[1] = {target};

	return transition(c,
					  "UPDATE pgrotate.state SET phase = 'draining', phase_since = now(),"
					  " active_role = pending_role, standby_role = active_role,"
					  " generation = pending_generation, rotated_at = now(),"
					  " fingerprint = pending_fingerprint, pending_role = NULL,"
					  " pending_generation = NULL, pending_fingerprint = NULL, " NO_ERROR
					  " WHERE target = $1 AND phase = 'verified'", 1, p, ev, row, err);
}

static const char CYCLE_DONE_SQL[] =
	"UPDATE pgrotate.state SET phase = 'idle', phase_since = now(),"
	" publish_started_at = NULL, " NO_ERROR
	" WHERE target = $1";

int
state_cycle_done(DbConn *c, const char *target, const StateEvent *ev,
				 StateRow *row, char **err)
{
	const char *p[1] = {target};

	return transition(c, CYCLE_DONE_SQL, 1, p, ev, row, err);
}

char *
state_cycle_done_sql(DbConn *c, const char *target, const StateEvent *ev,
					 const char *indent, char **err)
{
	const char *p[1] = {target};

	return transition_text(c, CYCLE_DONE_SQL, 1, p, ev, indent, err);
}

int
state_rolled_back(DbConn *c, const char *target, const StateEvent *ev,
				  StateRow *row, char **err)
{
	const char *p[1] = {target};

	return transition(c,
					  "UPDATE pgrotate.state SET phase = 'idle', phase_since = now(),"
					  " pending_role = NULL, pending_generation = NULL,"
					  " pending_fingerprint = NULL, publish_started_at = NULL"
					  " WHERE target = $1", 1, p, ev, row, err);
}

int
state_set_error(DbConn *c, const char *target, const char *step,
				const char *msg, const StateEvent *ev, char **err)
{
	const char *p[3] = {target, msg, step};

	return transition(c,
					  "UPDATE pgrotate.state SET last_error = $2, last_error_at = now(),"
					  " last_error_step = $3 WHERE target = $1", 3, p, ev, NULL, err);
}

int
state_history(DbConn *c, const char *target, const char *event,
			  const char *from_role, const char *to_role, int64_t generation,
			  const char *reason, const char *detail, char **err)
{
	StateEvent	ev = {event, from_role, to_role, generation, reason, detail};
	char		gen[32];
	char		pid[32];
	const char *p[HISTORY_NPARAMS];

	history_params(target, &ev, gen, pid, p);
	return db_exec(c,
				   HISTORY_INSERT " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				   HISTORY_NPARAMS, p, -1, NULL, err);
}

int
state_roles_used_elsewhere(DbConn *c, const char *target, const char *group,
						   const char *role_a, const char *role_b,
						   char **other, char **err)
{
	const char *p[4] = {target, role_a, role_b, group};
	DbRes	   *r = NULL;

	*other = NULL;
	if (db_exec(c,
				"SELECT target FROM pgrotate.state WHERE target <> $1 AND"
				" (active_role IN ($2, $3, $4) OR standby_role IN ($2, $3, $4)"
				"  OR group_role IN ($2, $3))",
				4, p, 1, &r, err) != 0)
		return -1;
	if (db_nrows(r) > 0)
		*other = xstrdup(db_val(r, 0, 0));
	db_res_free(r);
	return 0;
}

int
state_adopt_pending(DbConn *c, const char *target, bool *pending, char **err)
{
	const char *p[1] = {target};
	DbRes	   *r = NULL;

	*pending = false;
	if (db_exec(c,
				"SELECT coalesce(max(h.id) FILTER (WHERE h.event = 'adopt_started'), 0)"
				" > coalesce(max(h.id) FILTER (WHERE h.event = 'adopted'), 0)"
				" FROM pgrotate.history h WHERE h.target = $1",
				1, p, 1, &r, err) != 0)
		return -1;
	*pending = db_bool(r, 0, 0);
	db_res_free(r);
	return 0;
}

int
state_adopt_overlap_left(DbConn *c, const char *target, int64_t min_overlap_ms,
						 int64_t *ms, char **err)
{
	char		overlap[32];
	const char *p[2] = {target, overlap};
	DbRes	   *r = NULL;

	snprintf(overlap, sizeof(overlap), "%lld", (long long) min_overlap_ms);
	if (db_exec(c,
				"SELECT GREATEST(0, $2::bigint - (extract(epoch FROM"
				" pg_catalog.clock_timestamp() - coalesce("
				"  (SELECT min(h.at) FROM pgrotate.history h WHERE h.target = $1"
				"   AND h.event = 'published' AND h.id > coalesce((SELECT max(a.id)"
				"    FROM pgrotate.history a WHERE a.target = $1"
				"    AND a.event = 'adopt_started'), 0)),"
				"  s.rotated_at, pg_catalog.clock_timestamp())) * 1000)::bigint)"
				" FROM pgrotate.state s WHERE s.target = $1",
				2, p, 1, &r, err) != 0)
		return -1;
	if (db_nrows(r) != 1)
	{
		db_res_free(r);
		*err = xasprintf("the state row of target \"%s\" is gone", target);
		return -1;
	}
	*ms = db_int(r, 0, 0);
	db_res_free(r);
	return 0;
}

int
state_last_error(DbConn *c, const char *target, LastError *le, char **err)
{
	const char *p[1] = {target};
	DbRes	   *r = NULL;

	memset(le, 0, sizeof(*le));
	/* through jsonb: a schema of version 1 has no _at and _step columns */
	if (db_exec(c, "SELECT j->>'last_error', coalesce(j->>'last_error_step', ''),"
				" coalesce(extract(epoch FROM (j->>'last_error_at')::timestamptz)::bigint, 0)"
				" FROM (SELECT pg_catalog.to_jsonb(s) AS j FROM pgrotate.state s"
				"       WHERE s.target = $1) x",
				1, p, 3, &r, err) != 0)
		return -1;
	if (db_nrows(r) == 1 && !db_isnull(r, 0, 0))
	{
		le->msg = xstrdup(db_val(r, 0, 0));
		le->step = xstrdup(db_val(r, 0, 1));
		le->at = db_int(r, 0, 2);
	}
	db_res_free(r);
	return 0;
}

void
state_last_error_free(LastError *le)
{
	free(le->msg);
	free(le->step);
	memset(le, 0, sizeof(*le));
}

static char *
dup_cell(const DbRes *r, int row, int col)
{
	return db_isnull(r, row, col) ? NULL : xstrdup(db_val(r, row, col));
}

int
state_history_list(DbConn *c, const char *target, int limit,
				   HistoryRow **rows, int *n, char **err)
{
	char		lim[32];
	const char *p[2] = {target, NULL};
	DbRes	   *r = NULL;

	*rows = NULL;
	*n = 0;
	if (limit > 0)
	{
		snprintf(lim, sizeof(lim), "%d", limit);
		p[1] = lim;
	}
	if (db_exec(c,
				"SELECT * FROM (SELECT id,"
				" (extract(epoch FROM at) * 1000)::bigint, event, from_role, to_role,"
				" generation, actor, db_user, host, pid, reason, detail"
				" FROM pgrotate.history WHERE target = $1"
				" ORDER BY id DESC LIMIT $2::bigint) h ORDER BY id",
				2, p, 12, &r, err) != 0)
		return -1;
	*n = db_nrows(r);
	*rows = xcalloc(*n > 0 ? *n : 1, sizeof(HistoryRow));
	for (int i = 0; i < *n; i++)
	{
		HistoryRow *h = &(*rows)[i];

		h->id = db_int(r, i, 0);
		h->at_ms = db_int(r, i, 1);
		h->event = xstrdup(db_val(r, i, 2));
		h->from_role = dup_cell(r, i, 3);
		h->to_role = dup_cell(r, i, 4);
		h->generation = db_isnull(r, i, 5) ? 0 : db_int(r, i, 5);
		h->actor = xstrdup(db_val(r, i, 6));
		h->db_user = xstrdup(db_val(r, i, 7));
		h->host = dup_cell(r, i, 8);
		h->pid = db_isnull(r, i, 9) ? 0 : (int) db_int(r, i, 9);
		h->reason = dup_cell(r, i, 10);
		h->detail = dup_cell(r, i, 11);
	}
	db_res_free(r);
	return 0;
}

void
state_history_free(HistoryRow *rows, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(rows[i].event);
		free(rows[i].from_role);
		free(rows[i].to_role);
		free(rows[i].actor);
		free(rows[i].db_user);
		free(rows[i].host);
		free(rows[i].reason);
		free(rows[i].detail);
	}
	free(rows);
}
