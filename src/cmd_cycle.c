/*
 * cmd_cycle.c: "pgrotate cycle TARGET... | --all [--due] [--jobs N] ...".
 * One target runs in this process; several are a fleet run (fleet.c), or
 * without drains (--dry-run, --no-wait) a parallel run (parallel.c); the
 * exit code is the worst of theirs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "cycle.h"
#include "db.h"
#include "exitcode.h"
#include "fleet.h"
#include "log.h"
#include "parallel.h"

/* One target of a run without drains (--dry-run, --no-wait). */
static int
cycle_one(const Config *cfg, const Target *t, int i, void *arg)
{
	(void) i;
	return cycle_run(cfg, t, arg);
}

static int
parse_jobs(const char *s, int *jobs)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1024)
		return cmd_usage_error("cycle", "invalid --jobs \"%s\" (a number from 1 to 1024)", s);
	*jobs = (int) v;
	return PGR_EXIT_OK;
}

static const struct option options[] = {
	{"all", no_argument, NULL, 'a'},
	{"due", no_argument, NULL, 'd'},
	{"jobs", required_argument, NULL, 'j'},
	{"dry-run", no_argument, NULL, 'n'},
	{"no-wait", no_argument, NULL, 'W'},
	{"emergency", no_argument, NULL, 'E'},
	{"reason", required_argument, NULL, 'r'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_cycle_command,
				   "TARGET... | --all [--due] [--jobs N] [--dry-run] [--no-wait] [--emergency] [--reason TEXT]",
				   "      --all           every target in the configuration\n"
				   "      --due           only targets past rotation_interval or with a cycle to resume\n"
				   "  -j, --jobs=N        targets in flight at once (default 16)\n"
				   "      --dry-run       run every check, print the plan, change nothing\n"
				   "      --no-wait       stop after publish (phase draining)\n"
				   "      --emergency     ignore min_overlap, wait at most emergency_grace, terminate, revoke\n"
				   "      --reason=TEXT   recorded in the history\n");
}

const Command cmd_cycle_command = {
	.name = "cycle", .optstring = ":j:", .options = options, .run = cmd_cycle, .usage = usage,
	.summary = "run or resume a rotation cycle",
};

int
cmd_cycle(int argc, char **argv, const GlobalOpts *g)
{
	CycleOpts	o = {0};
	bool		all = false;
	int			jobs = PARALLEL_DEFAULT_JOBS;
	int			c,
				rc,
				n = 0;
	Config	   *cfg = NULL;
	const Target **targets = NULL;

	while ((c = cmd_getopt(argc, argv, cmd_cycle_command.optstring, options)) != -1)
	{
		switch (c)
		{
			case 'a':
				all = true;
				break;
			case 'd':
				o.due_only = true;
				break;
			case 'j':
				if ((rc = parse_jobs(optarg, &jobs)) != PGR_EXIT_OK)
					return rc;
				break;
			case 'n':
				o.dry_run = true;
				break;
			case 'W':
				o.no_wait = true;
				break;
			case 'E':
				o.emergency = true;
				break;
			case 'r':
				o.reason = optarg;
				break;
			default:
				return cmd_option_error("cycle", c, argv);
		}
	}
	if (all == (optind < argc))
		return cmd_usage_error("cycle", all ? "--all and target names exclude each other"
							   : "name at least one target, or --all");
	rc = cmd_load_targets(g, argc - optind, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
	{
		cmd_catch_stop_signals();
		o.stop = &cmd_stop_requested;
		if (n == 1)
			rc = cycle_run(cfg, targets[0], &o);
		else if (o.dry_run || o.no_wait)	/* nothing to drain */
			rc = parallel_run(cfg, targets, n, jobs, cycle_one, &o);
		else
			rc = fleet_run(cfg, targets, n, jobs, &o);
	}
	free(targets);
	cfg_free(cfg);
	return rc;
}
