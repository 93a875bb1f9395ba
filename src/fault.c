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

static pid_t kill_also;

void
fault_kill_also(pid_t pid)
{
	kill_also = pid;
}

void
fault_point(const char *name)
{
	const char *want = getenv("PGROTATE_FAULT");

	if (want == NULL || strcmp(want, name) != 0)
		return;
	fprintf(stderr, "pgrotate: fault point \"%s\": killing %s\n", name,
			kill_also > 0 ? "the whole run" : "myself");
	fflush(stderr);
	if (kill_also > 0)
		kill(kill_also, SIGKILL);
	kill(getpid(), SIGKILL);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int fault_point_unused;
#endif
