/*
 * adopt.h: "pgrotate init --adopt-group", migrating an application that
 * logs in as the group role itself. init creates the two login roles and
 * publishes the first credential as usual; the group role, which owns the
 * objects and may still carry the application's legacy sessions, keeps
 * its LOGIN and password until min_overlap has passed since that publish
 * and its own sessions have drained; then it becomes NOLOGIN PASSWORD
 * NULL. A drain that times out leaves it valid: running init
 * --adopt-group again finishes it.
 */
#ifndef PGR_ADOPT_H
#define PGR_ADOPT_H

#include "cycle.h"
#include "roles.h"

/*
 * The refusals that apply to the group role under --adopt-group: it must
 * exist, must not be SUPERUSER, REPLICATION or BYPASSRLS, and the admin
 * must not log in as it; while it can log in, under on_drain_timeout =
 * "terminate" the admin must be able to end its sessions
 * (pg_signal_backend). Logs the reason; PGR_EXIT_OK or PGR_EXIT_FAIL.
 */
int			adopt_refuse(CycleRun *run, const RoleInfo *group);

/*
 * The setup checks of cycle_check_setup, except that a group role that
 * can log in is expected (it is revoked by adopt_finish). Logs problems;
 * PGR_EXIT_OK or PGR_EXIT_FAIL.
 */
int			adopt_check_setup(CycleRun *run);

/*
 * Is an adoption of run->t's group role unfinished: the group can log in
 * and the history has an "adopt_started" event with no "adopted" after it?
 * For a caller (e.g. "cycle") that wants to finish it with
 * adopt_check_setup and adopt_finish. 0 with *pending, or -1 with *err.
 */
int			adopt_in_progress(CycleRun *run, bool *pending, char **err);

/*
 * Finish the adoption of run->t's group role once a credential of a login
 * role is published (run->st loaded): wait for min_overlap since the first
 * publish and for the group's own sessions (session user, on the primary
 * and every replica) to end, then ALTER ROLE group NOLOGIN PASSWORD NULL
 * and record it. PGR_EXIT_OK (also when the group cannot log in: nothing
 * to do), PGR_EXIT_DRAIN_TIMEOUT (the group stays valid; a re-run
 * resumes), or PGR_EXIT_FAIL; logged.
 */
int			adopt_finish(CycleRun *run);

#endif
