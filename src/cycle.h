/*
 * cycle.h: the rotation state machine of SPEC section 1 (lock, checks,
 * provision, verify, publish, drain, revoke, record), resumable from any
 * phase. Also used by "init" for the first credential.
 */
#ifndef PGR_CYCLE_H
#define PGR_CYCLE_H

#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "state.h"

typedef struct CycleOpts
{
	bool		no_wait;		/* stop after publish */
	bool		dry_run;
	bool		emergency;
	bool		due_only;		/* skip an idle target that is not due */
	const char *reason;
	volatile int *stop;			/* set by SIGINT/SIGTERM */
	/* a worker of a fleet run (fleet.c); all zero otherwise */
	int			report_fd;		/* > 0: report "draining" here and stop */
	int			reply_fd;		/* > 0: the poolers' RELOAD is asked on
								 * report_fd, answered here */
	bool		poolers_polled; /* the coordinator saw them drained, or ... */
	bool		poolers_killed; /* ... timed out and disconnected their
								 * clients of the old role: */
	int			pooler_killed;	/* how many it disconnected */
	int			pooler_unkillable;	/* and left (no KILL_CLIENT) */
	bool		checked;		/* this run's first worker checked the
								 * schema's trust and the setup */
	int64_t		drain_left_ms;	/* > 0: drain at most this long */
	int			lock_pid;		/* > 0: claim for this backend ... */
	const char *lock_start;		/* ... started then (the fleet's hub) */
} CycleOpts;

/* A connected, locked run on one target. */
typedef struct CycleRun
{
	const Config *cfg;
	const Target *t;
	const CycleOpts *o;
	DbConn	   *admin;
	StateRow	st;
	StateRow	next;			/* the state a step's last change read back */
	bool		have_state;
	char	   *password;		/* pending plaintext (wiped on free) */
	char	   *verifier;		/* its SCRAM verifier (wiped on free) */
	bool		rolled_back;	/* this run ended a cycle by rolling it back */
	bool		prepared;		/* password saved, verifier made, standby unused */
	bool		locked;			/* this session holds the target's claim */
	bool		lock_deferred;	/* nothing to claim yet (cycle_claim later) */
	const char *step;			/* the step running, for a failure's record */
	bool		republish;		/* "pgrotate publish": the active credential again */
} CycleRun;

/*
 * Connect to the target's control database, refuse a pgrotate schema that
 * is not the admin's own (state_trust.c), take the target's lock
 * (PGR_EXIT_LOCKED naming the holder if another run has it; a dry run only
 * looks), check the state_dir. When there is no state row or schema to
 * claim yet, run->lock_deferred is set: init claims with cycle_claim once
 * it has made them, and every other command refuses (cycle_require_lock).
 * On success returns PGR_EXIT_OK with run ready; else the exit code, with
 * the error logged. cycle_close releases everything.
 */
int			cycle_open(CycleRun *run, const Config *cfg, const Target *t,
					   const CycleOpts *o);

/*
 * Load the state row (it must exist and name the configured roles) and
 * make sure the lock is held (cycle_require_lock). An exit code.
 */
int			cycle_load(CycleRun *run);

/*
 * The roles of the loaded state row (group, active, standby, pending) must
 * be the configured ones before any of them reaches ALTER ROLE: else
 * logged (config_mismatch) and PGR_EXIT_FAIL.
 */
int			cycle_check_roles(CycleRun *run);

/* An admin connection (state_connect: named "pgrotate:PID@HOST"). */
DbConn	   *cycle_connect_admin_conninfo(const char *conninfo, char **err);

/* Claim the target's lock now (after init made the state row). */
int			cycle_claim(CycleRun *run);

/*
 * After the state was loaded: PGR_EXIT_OK when the lock is held (or a dry
 * run), else an error saying the schema needs "pgrotate init" to upgrade.
 */
int			cycle_require_lock(CycleRun *run);
void		cycle_close(CycleRun *run);

/*
 * Under --emergency or on_drain_timeout = "terminate", may the admin end
 * sessions (pg_signal_backend)? PGR_EXIT_OK, else PGR_EXIT_FAIL with the
 * refusal and its GRANT logged: call it before anything changes.
 */
int			cycle_require_signal(CycleRun *run);

/* Run or resume the cycle of run->t (state loaded). Returns the exit code. */
int			cycle_execute(CycleRun *run);

/*
 * A run that ended with rc: unless it succeeded, was locked out or was a
 * dry run, record its last error message and step in the state (status
 * reports it CRITICAL until a later cycle succeeds) and in the history.
 * Returns rc.
 */
int			cycle_record_outcome(CycleRun *run, int rc);

/* cycle_open + load + checks + cycle_execute + cycle_close. */
int			cycle_run(const Config *cfg, const Target *t, const CycleOpts *o);

/*
 * --dry-run: print the plan from the current phase with its SQL (secrets
 * redacted), the sinks and the sessions the drain would wait on. Changes
 * nothing. Returns the exit code.
 */
int			cycle_print_plan(CycleRun *run);

/* The setup checks; logs problems. PGR_EXIT_OK or PGR_EXIT_FAIL. */
int			cycle_check_setup(CycleRun *run);

#endif
