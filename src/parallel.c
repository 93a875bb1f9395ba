/*
 * parallel.c: one command over several targets, in child processes, within
 * --jobs and the connection budget; their stdout printed in order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget.h"
#include "commands.h"
#include "exitcode.h"
#include "log.h"
#include "parallel.h"
#include "util.h"

typedef struct Par
{
	const Config *cfg;
	const Target *const *targets;
	int			n;
	ParallelFn	fn;
	void	   *arg;
	pid_t	   *pids;			/* the running children, 0 elsewhere */
	FILE	  **out;			/* a running child's stdout */
	char	  **text;			/* a finished child's stdout, not printed yet */
	bool	   *started;
	bool	   *finished;
	Budget	   *budget;
	int			running;
	int			next_print;
	int			rc;
} Par;

static void
child(Par *p, int i)
{
	int			rc;

	if (dup2(fileno(p->out[i]), STDOUT_FILENO) < 0)
		_exit(PGR_EXIT_FAIL);
	rc = p->fn(p->cfg, p->targets[i], i, p->arg);
	fflush(NULL);
	_exit(rc);
}

/* The whole of a finished child's output file (closed). malloc'd. */
static char *
take_output(FILE *f)
{
	StrBuf		sb;
	char		buf[4096];
	size_t		r;

	sb_init(&sb);
	rewind(f);
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_appendn(&sb, buf, r);
	fclose(f);
	return sb_steal(&sb);
}

/* Print the outputs of the finished targets that are next in order. */
static void
print_ready(Par *p, bool all)
{
	while (p->next_print < p->n && (all || p->finished[p->next_print]))
	{
		char	   *s = p->text[p->next_print];

		if (s)
			fputs(s, stdout);
		free(s);
		p->text[p->next_print++] = NULL;
	}
	fflush(stdout);
}

static int
start(Par *p, int i)
{
	p->started[i] = true;
	if ((p->out[i] = tmpfile()) == NULL)
	{
		log_error("cannot make a temporary file for target \"%s\": %s", p->targets[i]->name, strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((p->pids[i] = fork()) < 0)
	{
		log_error("cannot start a process for target \"%s\": %s", p->targets[i]->name, strerror(errno));
		p->pids[i] = 0;
		fclose(p->out[i]);
		p->out[i] = NULL;
		return -1;
	}
	if (p->pids[i] == 0)
		child(p, i);
	budget_take(p->budget, i);
	p->running++;
	return 0;
}

/* Wait for one child (passing a stop on to all of them) and collect it. */
static void
collect_one(Par *p)
{
	int			status;
	pid_t		pid;

	while ((pid = waitpid(-1, &status, 0)) < 0)
	{
		if (errno != EINTR)
		{
			p->running = 0;		/* no child left to wait for */
			return;
		}
		if (cmd_stop_requested)
			for (int i = 0; i < p->n; i++)
				if (p->pids[i] > 0)
					kill(p->pids[i], SIGTERM);
	}
	for (int i = 0; i < p->n; i++)
		if (p->pids[i] == pid)
		{
			p->pids[i] = 0;
			p->running--;
			p->finished[i] = true;
			budget_give(p->budget, i);
			p->text[i] = take_output(p->out[i]);
			p->out[i] = NULL;
			p->rc = cmd_worst_exit(p->rc, WIFEXITED(status) ? WEXITSTATUS(status) : PGR_EXIT_FAIL);
		}
	print_ready(p, false);
}

/* The first target not started yet whose servers have room, or -1. */
static int
next_startable(const Par *p)
{
	for (int i = 0; i < p->n; i++)
		if (!p->started[i] && budget_fits(p->budget, i))
			return i;
	return -1;
}

static void
drive(Par *p, int jobs)
{
	int			left = p->n;

	while (left > 0 && !cmd_stop_requested)
	{
		int			i = p->running < jobs ? next_startable(p) : -1;

		if (i < 0 && p->running == 0)
		{
			log_error("no target fits max_node_connections");	/* cannot happen: >= 3 */
			p->rc = cmd_worst_exit(p->rc, PGR_EXIT_FAIL);
			return;
		}
		if (i < 0)
			collect_one(p);		/* --jobs or a server's budget is full */
		else
		{
			left--;
			if (start(p, i) != 0)
			{
				p->finished[i] = true;
				p->rc = cmd_worst_exit(p->rc, PGR_EXIT_FAIL);
			}
		}
	}
}

int
parallel_run(const Config *cfg, const Target *const *targets, int n, int jobs,
			 ParallelFn fn, void *arg)
{
	Par			p;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.targets = targets;
	p.n = n;
	p.fn = fn;
	p.arg = arg;
	p.pids = xcalloc(n, sizeof(pid_t));
	p.out = xcalloc(n, sizeof(FILE *));
	p.text = xcalloc(n, sizeof(char *));
	p.started = xcalloc(n, sizeof(bool));
	p.finished = xcalloc(n, sizeof(bool));
	p.budget = budget_new(targets, n);
	drive(&p, jobs);
	while (p.running > 0)
		collect_one(&p);
	print_ready(&p, true);
	for (int i = 0; i < n; i++)
	{
		free(p.text[i]);
		if (p.out[i])
			fclose(p.out[i]);
	}
	budget_free(p.budget);
	free(p.finished);
	free(p.started);
	free(p.text);
	free(p.out);
	free(p.pids);
	return p.rc;
}
