/*
 * cmd_history.c: "pgrotate history" (not implemented yet: main refuses it with
 * exit 2 before calling this, and --help says so).
 */
#include "commands.h"
#include "exitcode.h"

int
cmd_history(int argc, char **argv, const GlobalOpts *g)
{
	return PGR_EXIT_USAGE;
}
