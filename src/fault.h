/*
 * fault.h: test-only fault points. In a build configured with
 * --enable-fault-injection, FAULT_POINT("name") kills the process with
 * SIGKILL when the environment names that point; in every other build it
 * compiles to nothing, and no trace of the mechanism is in the binary.
 */
#ifndef PGR_FAULT_H
#define PGR_FAULT_H

#include "pgr_autoconf.h"

#ifdef PGR_FAULT_INJECTION
void		fault_point(const char *name);
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) ((void) 0)
#endif

#endif
