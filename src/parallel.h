/*
 * parallel.h: run one command over several targets at once (SPEC section
 * 6: "init --all" and "check --all" use the concurrency and the connection
 * budget of "cycle --all"; so do "cycle --dry-run" and "cycle --no-wait"
 * over several targets, which have no drain to wait out).
 *
 * Each target runs in a child process, at most jobs at a time, and only
 * while every server it uses has room within max_node_connections
 * (budget.h). What the children print on stdout is kept and printed in
 * the targets' order, never interleaved; their log lines (stderr) go out
 * as they come. SIGINT/SIGTERM is passed on to every running child and no
 * further target starts.
 */
#ifndef PGR_PARALLEL_H
#define PGR_PARALLEL_H

#include "config.h"

#define PARALLEL_DEFAULT_JOBS 16

/* The work of target t, the i-th of the run: an exit code (exitcode.h). */
typedef int (*ParallelFn) (const Config *cfg, const Target *t, int i, void *arg);

/* Run fn over the n targets. The worst of their exit codes. */
int			parallel_run(const Config *cfg, const Target *const *targets, int n,
						 int jobs, ParallelFn fn, void *arg);

#endif
