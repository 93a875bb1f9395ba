/*
 * fault.h: test-only fault points. In a build configured with
 * --enable-fault-injection, FAULT_POINT("name") kills the process with
 * SIGKILL when the environment names that point; in every other build it
 * compiles to nothing, and no trace of the mechanism is in the binary.
 * In a fleet run's worker the point kills the coordinator first, so the
 * whole run dies at that point (its other workers with it), as kill -9 of
 * "pgrotate cycle --all" would.
 */
#ifndef PGR_FAULT_H
#define PGR_FAULT_H

#include "pgr_autoconf.h"

#ifdef PGR_FAULT_INJECTION
#include <sys/types.h>
void		fault_point(const char *name);
/* A fleet's worker: a fault point kills the whole run (kill -9 of it). */
void		fault_kill_also(pid_t pid);
#define FAULT_POINT(name) fault_point(name)
#define FAULT_KILL_ALSO(pid) fault_kill_also(pid)
#else
#define FAULT_POINT(name) ((void) 0)
#define FAULT_KILL_ALSO(pid) ((void) 0)
#endif

#endif
