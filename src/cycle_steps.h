/*
 * cycle_steps.h: what the files of the cycle state machine (cycle.c,
 * cycle_publish.c, cycle_drain.c) share, with adopt.c (the drain of an
 * adopted group role). Other callers use cycle.h.
 */
#ifndef PGR_CYCLE_STEPS_H
#define PGR_CYCLE_STEPS_H

#include "cycle.h"
#include "drain.h"
#include "sink.h"

/* After terminating sessions, how long their backends get to go. */
#define CYCLE_STRAGGLER_WAIT_MS 10000

/* Log err (and free it) as an error with a hint; return PGR_EXIT_FAIL. */
int			cycle_fail(char *err, const char *hint, const char *what);

/* The same with the hint formatted (to name the target in its command). */
int			cycle_failf(char *err, const char *what, const char *hint_fmt,...) PGR_PRINTF(3, 4);

/* Append an event to the history; a failure is only a warning (-1). */
int			cycle_history(CycleRun *run, const char *event, const char *from,
						  const char *to, int64_t gen, const char *detail);

/*
 * The run was stopped (SIGINT/SIGTERM): say so, with the target, record it
 * in the history; PGR_EXIT_DRAIN_TIMEOUT when the new credential is
 * published (the old role still valid, a re-run resumes), else
 * PGR_EXIT_FAIL.
 */
int			cycle_interrupted(CycleRun *run);

/* COMMIT when rc is 0, else (or if COMMIT fails) ROLLBACK: 0 or -1. */
int			cycle_commit_or_rollback(CycleRun *run, int rc, char **err);

/*
 * The pending password of the provisioned role into run->password: 1 when
 * there and matching the state, 0 when missing or not matching, -1 on a
 * read error (logged).
 */
int			cycle_load_pending(CycleRun *run);

/*
 * RELOAD the target's poolers: through the fleet run's coordinator (which
 * holds the consoles) in a fleet worker, else by connecting to each. 0 or
 * -1 with *err.
 */
int			cycle_reload_poolers(CycleRun *run, char **err);

/* Back to idle: the unpublished standby loses LOGIN and its password. */
int			cycle_step_rollback(CycleRun *run, const char *why);

/*
 * Terminate what is left of role (a "role", a "group role": for the
 * messages) on every node and pooler of w; record it in the history.
 */
void		cycle_terminate(CycleRun *run, const DrainNodes *w, const char *role,
							const char *kind);

/*
 * Write cred to every sink of run->t: pgbouncer auth_files first (with
 * run->verifier; a cycle makes or recovers it, a republish must have set
 * it), RELOAD of the poolers, then the others. 0, or -1 after logging and
 * recording which sink failed.
 */
int			cycle_write_sinks(CycleRun *run, Credential *cred);

/* The steps of the phases verified and draining. */
int			cycle_step_publish(CycleRun *run);
int			cycle_step_drain_revoke(CycleRun *run);

#endif
