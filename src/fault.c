/*
 * fault.c: see fault.h. Compiled empty unless --enable-fault-injection.
 */
#include "fault.h"

#ifdef PGR_FAULT_INJECTION
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fault_point(const char *name)
{
	const char *want = getenv("PGROTATE_FAULT");

	if (want == NULL || strcmp(want, name) != 0)
		return;
	fprintf(stderr, "pgrotate: fault point \"%s\": killing myself\n", name);
	fflush(stderr);
	kill(getpid(), SIGKILL);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int fault_point_unused;
#endif
