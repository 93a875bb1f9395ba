/*
 * commands.h: the entry point of each command, called by main with the
 * arguments after the command name (argv[0] is the command name) and the
 * global options. Each returns the process exit code.
 */
#ifndef PGR_COMMANDS_H
#define PGR_COMMANDS_H

#include <stdbool.h>

#include "config.h"

typedef struct GlobalOpts
{
	const char *config_path;	/* -c, else cfg_default_path() */
	int			verbosity;		/* -1 quiet, 0 normal, 1 verbose */
	bool		log_json;		/* --log-format=json */
} GlobalOpts;

int			cmd_init(int argc, char **argv, const GlobalOpts *g);
int			cmd_cycle(int argc, char **argv, const GlobalOpts *g);
int			cmd_active(int argc, char **argv, const GlobalOpts *g);
int			cmd_status(int argc, char **argv, const GlobalOpts *g);
int			cmd_check(int argc, char **argv, const GlobalOpts *g);
int			cmd_revoke(int argc, char **argv, const GlobalOpts *g);
int			cmd_publish(int argc, char **argv, const GlobalOpts *g);
int			cmd_history(int argc, char **argv, const GlobalOpts *g);

/*
 * Shared by the commands: load the configuration (printing every error,
 * with a hint) and resolve target names. Return PGR_EXIT_OK or
 * PGR_EXIT_USAGE (the caller returns it).
 */
int			cmd_load_config(const GlobalOpts *g, Config **cfg);

/* The worse of two exit codes of targets (a usage error beats a failure ...). */
int			cmd_worst_exit(int a, int b);
int			cmd_resolve_targets(const Config *cfg, int n, char **names,
								const Target ***out, int *nout);
/*
 * Set by SIGINT/SIGTERM once cmd_catch_stop_signals has run: a drain ends
 * cleanly and a running query is cancelled (db_set_interrupt).
 */
extern volatile int cmd_stop_requested;
void		cmd_catch_stop_signals(void);

/* Print a usage error for command cmd and return PGR_EXIT_USAGE. */
int			cmd_usage_error(const char *cmd, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#endif
