/*
 * state.h: the durable state of each target in its control database (the
 * pgrotate schema of sql/), the append-only history, the per-target
 * lock and the trust in the schema.
 *
 * Phases of a cycle (SPEC section 1):
 *   idle         active role in use, standby NOLOGIN
 *   provisioned  standby has LOGIN and the pending password (not verified)
 *   verified     the pending credential logs in everywhere; publishing
 *   draining     published: active is the new role, standby the old one,
 *                which stays valid until drained and then revoked (-> idle)
 */
#ifndef PGR_STATE_H
#define PGR_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"

typedef enum Phase
{
	PHASE_IDLE,
	PHASE_PROVISIONED,
	PHASE_VERIFIED,
	PHASE_DRAINING,
	PHASE_UNKNOWN
} Phase;

const char *phase_name(Phase p);

typedef struct StateRow
{
	char	   *target;
	char	   *group_role;
	char	   *active_role;
	char	   *standby_role;
	Phase		phase;
	char	   *phase_text;		/* as stored (for an unknown phase) */
	int64_t		generation;
	char	   *pending_role;	/* NULL when idle */
	int64_t		pending_generation;
	int64_t		phase_since;	/* epoch seconds */
	int64_t		rotated_at;		/* epoch seconds; 0 = never */
	int64_t		publish_started_ms; /* epoch ms; 0 = not publishing */
	char	   *fingerprint;	/* of the active credential; may be NULL */
	char	   *pending_fingerprint;
	int64_t		server_now_ms;	/* the server's clock when loaded */
} StateRow;

typedef struct SqlScript
{
	const char *name;			/* "pgrotate--1.sql" */
	const char *sql;
} SqlScript;

/* The scripts of sql/, compiled in (src/sql_scripts.c), oldest first. */
extern const SqlScript pgr_sql_scripts[];
extern const int pgr_sql_nscripts;

/*
 * The installed schema version; 0 when the pgrotate schema is absent. A
 * schema that state_schema_trust refuses is an error (-1, *err says why
 * and how to fix it): nothing of it is read.
 */
int			state_schema_version(DbConn *c, int *version, char **err);

/*
 * Install or upgrade the schema (every script newer than the installed
 * version) and let group_role use pgrotate.active_role(). Runs in the
 * caller's transaction. *changed tells whether anything was done.
 */
int			state_install(DbConn *c, const char *group_role, bool *changed,
						  char **err);

/* The DDL init would run, for --print-sql (malloc'd). */
char	   *state_install_sql(DbConn *c, const char *group_role, char **err);

/* Load the row of target: 0 with *found, or -1. */
int			state_load(DbConn *c, const char *target, StateRow *row,
					   bool *found, char **err);
void		state_row_free(StateRow *row);

/*
 * Do the roles of row (group, active, standby and pending) match those the
 * configuration gives the target? 0 when they do; else -1 with *why
 * (malloc'd). Every role read from the state passes this before any ALTER
 * ROLE is built from it.
 */
int			state_check_roles(const StateRow *row, const char *group,
							  const char *role_a, const char *role_b,
							  char **why);

/* First row of a target (phase idle, generation 0). */
int			state_create(DbConn *c, const char *target, const char *group,
						 const char *active, const char *standby, char **err);

/* One event of pgrotate.history (any field but event may be NULL or 0). */
typedef struct StateEvent
{
	const char *event;
	const char *from_role;
	const char *to_role;
	int64_t		generation;
	const char *reason;
	const char *detail;
} StateEvent;

/*
 * Phase changes; each runs in the caller's transaction. With ev, the
 * history row of the change is appended by the same statement; with row,
 * the new state is read back into it (its old contents freed).
 */
int			state_provisioned(DbConn *c, const char *target, const char *role,
							  int64_t generation, const char *fingerprint,
							  const StateEvent *ev, StateRow *row, char **err);
int			state_set_phase(DbConn *c, const char *target, Phase p,
							const StateEvent *ev, StateRow *row, char **err);
int			state_publish_started(DbConn *c, const char *target, char **err);
int			state_published(DbConn *c, const char *target,
							const StateEvent *ev, StateRow *row, char **err);
int			state_cycle_done(DbConn *c, const char *target,
							 const StateEvent *ev, StateRow *row, char **err);
int			state_rolled_back(DbConn *c, const char *target,
							  const StateEvent *ev, StateRow *row, char **err);
/*
 * The statement state_provisioned / state_cycle_done would run now, with
 * its parameters as literals, every line after the first prefixed with
 * indent (for --dry-run): malloc'd, or NULL with *err.
 */
char	   *state_provisioned_sql(DbConn *c, const char *target, const char *role,
								  int64_t generation, const char *fingerprint,
								  const StateEvent *ev, const char *indent,
								  char **err);
char	   *state_cycle_done_sql(DbConn *c, const char *target,
								 const StateEvent *ev, const char *indent,
								 char **err);
/*
 * Record a failed run: its message, the step it failed in and now as the
 * state's last error (until a later cycle publishes or completes), and,
 * with ev, a history row in the same statement.
 */
int			state_set_error(DbConn *c, const char *target, const char *step,
							const char *msg, const StateEvent *ev, char **err);

/* Append one event to pgrotate.history (reason, detail may be NULL). */
int			state_history(DbConn *c, const char *target, const char *event,
						  const char *from_role, const char *to_role,
						  int64_t generation, const char *reason,
						  const char *detail, char **err);

/*
 * Claim target's lock for the session c (state_lock.c): 0 when it is ours
 * (taken now, or already), 1 when another live session holds it (then
 * *holder, malloc'd, names it from the server's view: "host web1,
 * pgrotate pid 4242, since ... (database role ..., client ..., backend pid
 * ... started ...)"), 2 when there is nothing to claim yet (no state row
 * for target, or a schema older than version 2: init claims it once it
 * has created or upgraded them), -1 on error. Only roles that can write
 * pgrotate.state can claim; the claim ends with c's session.
 */
int			state_lock(DbConn *c, const char *target, char **holder,
					   char **err);

/*
 * state_lock on behalf of another live session of the same role (the
 * backend pid, started at start as pg_stat_activity shows it): a fleet
 * run's hub holds the claims of all its targets on a server, and the claim
 * ends with that session. Same results as state_lock.
 */
int			state_lock_as(DbConn *c, const char *target, int pid,
						  const char *start, char **holder, char **err);

/* Give up c's claim of target now (best effort; errors ignored). */
void		state_unlock(DbConn *c, const char *target);
/* Release a claim made for backend_pid (a fleet run's hub) with state_lock_as. */
void		state_unlock_as(DbConn *c, const char *target, int backend_pid);

/*
 * Who holds target's lock now, without claiming it: 0 with *holder
 * malloc'd (as state_lock says it) or NULL when free; -1 with *err.
 */
int			state_lock_holder(DbConn *c, const char *target, char **holder,
							  char **err);

/*
 * Connect to a control database as this run, named "pgrotate:PID@HOST" in
 * pg_stat_activity (informational): the connection, or NULL with *err.
 */
DbConn	   *state_connect(const char *conninfo, char **err);

/* How state_open_locked takes the lock. */
typedef enum StateLockMode
{
	STATE_LOCK_CLAIM,			/* state_lock */
	STATE_LOCK_LOOK,			/* take nothing: 1 when held (*holder), else 2 */
	STATE_LOCK_AS				/* state_lock_as(as_pid, as_start) */
} StateLockMode;

/* The step at which state_open_locked failed. */
typedef enum StateOpenFail
{
	STATE_OPEN_TRANSPORT,		/* transport_enforce refused the admin conninfo */
	STATE_OPEN_CONNECT,
	STATE_OPEN_TRUST,			/* state_schema_trusted refused the schema */
	STATE_OPEN_LOCK				/* the lock could not be taken or read */
} StateOpenFail;

typedef struct StateOpen
{
	StateLockMode mode;
	int			as_pid;			/* STATE_LOCK_AS: the session to claim for */
	const char *as_start;
	bool		trusted;		/* this run checked the schema already */
	DbConn	   *c;				/* out: the connection, NULL if none */
	char	   *holder;			/* out: with 1, malloc'd */
	StateOpenFail failed;		/* out: with -1 */
} StateOpen;

/*
 * Open t's control database for a run: enforce the transport rule,
 * connect (state_connect), refuse a schema state_schema_trusted refuses,
 * and take t's lock as so->mode says. Returns what state_lock does (0, 1
 * with so->holder, 2), or -1 with *err and so->failed. so->c is left for
 * the caller to close (db_close), whatever the result.
 */
int			state_open_locked(const Target *t, StateOpen *so, char **err);

/*
 * Is the pgrotate schema of c's database one pgrotate may use
 * (state_trust.c; SPEC section 5)? 0 when it is, or when there is none;
 * 1 when it is not, with *problem (every finding) and *fix (the
 * statements that fix them), both malloc'd; -1 on error.
 */
int			state_schema_trust(DbConn *c, char **problem, char **fix,
							   char **err);

/* state_schema_trust as 0 (usable or absent) or -1 with *err saying why. */
int			state_schema_trusted(DbConn *c, char **err);

/*
 * Another target of this database whose state uses one of the roles given
 * (group, role_a, role_b): 0 with *other (malloc'd, its name) or NULL when
 * none; -1 with *err.
 */
int			state_roles_used_elsewhere(DbConn *c, const char *target,
									   const char *group, const char *role_a,
									   const char *role_b, char **other,
									   char **err);

/*
 * Is an adoption of target's group role under way (an adopt_started event
 * in the history newer than the last adopted one)? 0 or -1 with *err.
 */
int			state_adopt_pending(DbConn *c, const char *target, bool *pending,
								char **err);

/*
 * What is left of min_overlap_ms, counted by the server's clock from the
 * first publish since target's adoption started (else from rotated_at):
 * 0 with *ms (>= 0), or -1 with *err (also when the state row is gone).
 */
int			state_adopt_overlap_left(DbConn *c, const char *target,
									 int64_t min_overlap_ms, int64_t *ms,
									 char **err);

/* The last error a run of target recorded. */
typedef struct LastError
{
	char	   *msg;			/* NULL when the last run did not fail */
	char	   *step;			/* "" when not recorded (schema version 1) */
	int64_t		at;				/* epoch seconds; 0 when not recorded */
} LastError;

/* Target's last error (le->msg NULL if none): 0, or -1 with *err. */
int			state_last_error(DbConn *c, const char *target, LastError *le,
							 char **err);
void		state_last_error_free(LastError *le);

/* One row of pgrotate.history. */
typedef struct HistoryRow
{
	int64_t		id;
	int64_t		at_ms;			/* epoch milliseconds */
	char	   *event;
	char	   *from_role;		/* NULL when not recorded */
	char	   *to_role;
	int64_t		generation;		/* 0 when not recorded */
	char	   *actor;			/* OS user of the pgrotate run */
	char	   *db_user;		/* its database session user */
	char	   *host;
	int			pid;			/* 0 when not recorded */
	char	   *reason;
	char	   *detail;
} HistoryRow;

/*
 * The newest limit events of target (all when limit <= 0), oldest first.
 * 0 with *rows (free with state_history_free) and *n, or -1 with *err.
 */
int			state_history_list(DbConn *c, const char *target, int limit,
							   HistoryRow **rows, int *n, char **err);
void		state_history_free(HistoryRow *rows, int n);

#endif
