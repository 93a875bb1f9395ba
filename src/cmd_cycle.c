/*
 * cmd_cycle.c: "pgrotate cycle TARGET... | --all [--due] [--jobs N] ...".
 * One target runs in this process; several run in child processes, at
 * most --jobs at a time, each isolated from the others; the exit code is
 * the worst of theirs.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget.h"
#include "commands.h"
#include "cycle.h"
#include "db.h"
#include "exitcode.h"
#include "fleet.h"
#include "log.h"

#define DEFAULT_JOBS 16

/* Wait for a child; *done is its target's index. Its exit code. */
static int
wait_one(pid_t *pids, int n, int *running, int *done)
{
	int			status;
	pid_t		pid;

	*done = -1;
	for (;;)
	{
		pid = waitpid(-1, &status, 0);
		if (pid > 0)
			break;
		if (errno != EINTR)
			return PGR_EXIT_FAIL;
		if (cmd_stop_requested)		/* pass SIGINT/SIGTERM on to every child */
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
		{
			pids[i] = 0;
			*done = i;
		}
	(*running)--;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return PGR_EXIT_FAIL;
}

/* The first target not started yet whose servers have room, or -1. */
static int
next_startable(const Budget *b, const bool *started, int n)
{
	for (int i = 0; i < n; i++)
		if (!started[i] && budget_fits(b, i))
			return i;
	return -1;
}

static int
run_many(const Config *cfg, const Target **targets, int n, int jobs,
		 const CycleOpts *o)
{
	pid_t	   *pids = xcalloc(n, sizeof(pid_t));
	bool	   *started = xcalloc(n, sizeof(bool));
	Budget	   *budget = budget_new(targets, n);
	int			running = 0;
	int			left = n;
	int			rc = PGR_EXIT_OK;
	int			i,
				done;

	fflush(NULL);
	while (left > 0 && !cmd_stop_requested)
	{
		i = running < jobs ? next_startable(budget, started, n) : -1;
		if (i < 0 && running == 0)
		{
			log_error("no target fits max_node_connections");	/* cannot happen: >= 2 */
			rc = cmd_worst_exit(rc, PGR_EXIT_FAIL);
			break;
		}
		if (i < 0)
		{
			/* --jobs or a server's max_node_connections is reached */
			rc = cmd_worst_exit(rc, wait_one(pids, n, &running, &done));
			if (done >= 0)
				budget_give(budget, done);
			continue;
		}
		started[i] = true;
		left--;
		pids[i] = fork();
		if (pids[i] < 0)
		{
			log_error("cannot start a process for target %s: %s", targets[i]->name, strerror(errno));
			rc = cmd_worst_exit(rc, PGR_EXIT_FAIL);
			pids[i] = 0;
			continue;
		}
		if (pids[i] == 0)
			_exit(cycle_run(cfg, targets[i], o));
		budget_take(budget, i);
		running++;
	}
	while (running > 0)
	{
		rc = cmd_worst_exit(rc, wait_one(pids, n, &running, &done));
		if (done >= 0)
			budget_give(budget, done);
	}
	budget_free(budget);
	free(started);
	free(pids);
	return rc;
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
	int			jobs = DEFAULT_JOBS;
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
			rc = run_many(cfg, targets, n, jobs, &o);
		else
			rc = fleet_run(cfg, targets, n, jobs, &o);
	}
	free(targets);
	cfg_free(cfg);
	return rc;
}
