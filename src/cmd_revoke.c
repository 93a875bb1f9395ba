/*
 * cmd_revoke.c: "pgrotate revoke" (not implemented yet: main refuses it with
 * exit 2 before calling this, and --help says so).
 */
#include "commands.h"
#include "exitcode.h"

int
cmd_revoke(int argc, char **argv, const GlobalOpts *g)
{
	return PGR_EXIT_USAGE;
}
