/*
 * commands.h: the entry point of each command, called by main with the
 * arguments after the command name (argv[0] is the command name) and the
 * global options. Each returns the process exit code.
 */
#ifndef PGR_COMMANDS_H
#define PGR_COMMANDS_H

#include <getopt.h>
#include <stdbool.h>

#include "config.h"

typedef struct GlobalOpts
{
	const char *config_path;	/* -c, else cfg_default_path() */
	int			verbosity;		/* -1 quiet, 0 normal, 1 verbose */
	bool		log_json;		/* --log-format=json */
} GlobalOpts;

/*
 * A command, defined in its cmd_*.c: its line in "pgrotate --help", its
 * options, its entry point and its own --help. main's table lists them.
 */
typedef struct Command
{
	const char *name;
	const char *summary;
	const char *optstring;		/* getopt_long's, starting with ':' */
	const struct option *options;	/* its long options */
	int			(*run) (int argc, char **argv, const GlobalOpts *g);
	void		(*usage) (void);	/* "pgrotate NAME --help", on stdout */
} Command;

extern const Command cmd_init_command;
extern const Command cmd_cycle_command;
extern const Command cmd_active_command;
extern const Command cmd_status_command;
extern const Command cmd_check_command;
extern const Command cmd_revoke_command;
extern const Command cmd_publish_command;
extern const Command cmd_history_command;

int			cmd_init(int argc, char **argv, const GlobalOpts *g);
int			cmd_cycle(int argc, char **argv, const GlobalOpts *g);
int			cmd_active(int argc, char **argv, const GlobalOpts *g);
int			cmd_status(int argc, char **argv, const GlobalOpts *g);
int			cmd_check(int argc, char **argv, const GlobalOpts *g);
int			cmd_revoke(int argc, char **argv, const GlobalOpts *g);
int			cmd_publish(int argc, char **argv, const GlobalOpts *g);
int			cmd_history(int argc, char **argv, const GlobalOpts *g);

/*
 * A command's --help: summary, usage line with synopsis, then options
 * (lines "  -x, --long=ARG   what it does\n"; "" for none) and -?/--help.
 */
void		cmd_print_help(const Command *c, const char *synopsis, const char *options);

/*
 * getopt_long for the commands and for pgrotate's own options. optstring
 * starts with ':' (after a '+', if any), so that a missing argument (':')
 * is told from an unknown option ('?'); cmd_option_error reports either.
 */
int			cmd_getopt(int argc, char **argv, const char *optstring,
					   const struct option *opts);

/*
 * Report what cmd_getopt returned, c (':' or '?'), as a usage error of
 * command cmd (NULL: pgrotate's own options), e.g.
 *   option "--jobs" requires an argument
 *   invalid option "-x" / unknown option "--frob"
 *   option "--all" takes no argument
 * Returns PGR_EXIT_USAGE.
 */
int			cmd_option_error(const char *cmd, int c, char **argv);

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
 * Both, as every command starts: load the configuration into *cfg, then
 * resolve the n target names (none: every target) into *out. The caller
 * frees *cfg and *out whatever is returned.
 */
int			cmd_load_targets(const GlobalOpts *g, int n, char **names, Config **cfg,
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
