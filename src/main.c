/*
 * main.c: pgrotate's own options and --help, the command table
 * (dispatch), and the exit code. Nothing else: each command's options and
 * --help are in its cmd_*.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "exitcode.h"
#include "log.h"
#include "secret.h"
#include "pgr_autoconf.h"

/* "pgrotate --help" lists them in this order. */
static const Command *const commands[] = {
	&cmd_init_command, &cmd_cycle_command, &cmd_active_command, &cmd_status_command,
	&cmd_check_command, &cmd_revoke_command, &cmd_publish_command, &cmd_history_command,
};

#define NCOMMANDS ((int) (sizeof(commands) / sizeof(commands[0])))

static void
print_usage(FILE *f)
{
	fprintf(f, "pgrotate rotates PostgreSQL application passwords with zero downtime.\n\n"
			"Usage:\n  pgrotate [-c FILE] [-v|-q] [--log-format=text|json] COMMAND [ARGS]\n\n"
			"Commands:\n");
	for (int i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nOptions:\n"
			"  -c, --config=FILE      configuration file (default $PGROTATE_CONFIG, else %s)\n"
			"  -v, --verbose          more messages\n"
			"  -q, --quiet            errors only\n"
			"      --log-format=FMT   text (default) or json (one object per line on stderr)\n"
			"  -V, --version          print the version and exit\n"
			"  -?, --help             print this help and exit\n"
			"-c, -v, -q and --log-format may also follow the command.\n\n"
			"\"pgrotate COMMAND --help\" describes a command. Exit codes: 0 success, 1 failure or\n"
			"refusal, 2 usage or configuration error, 3 drain timeout, 4 target locked.\n"
			"See pgrotate(1) and pgrotate.conf(5).\n", "/etc/pgrotate/pgrotate.conf");
}

static const Command *
find_command(const char *name)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

/* true if argv (after the command) asks for --help before any "--". */
static bool
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-?") == 0)
			return true;
	}
	return false;
}

/* Apply global option opt ('c', 'v', 'q' or 'L') with its value. */
static int
apply_global(GlobalOpts *g, int opt, const char *val)
{
	if (opt == 'c')
		g->config_path = val;
	else if (opt == 'v')
		g->verbosity = 1;
	else if (opt == 'q')
		g->verbosity = -1;
	else if (strcmp(val, "json") == 0)
		g->log_json = true;
	else if (strcmp(val, "text") == 0)
		g->log_json = false;
	else
		return cmd_usage_error(NULL, "invalid --log-format \"%s\" (use text or json)", val);
	return PGR_EXIT_OK;
}

static void
print_version(void)
{
	printf("pgrotate %s\n", PACKAGE_VERSION);
#ifdef PGR_FAULT_INJECTION
	printf("built with --enable-fault-injection: test-only fault points, not for production\n");
#endif
}

/* pgrotate's own options; all but --version and --help may follow the command */
static const struct option global_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"log-format", required_argument, NULL, 'L'},
	{"version", no_argument, NULL, 'V'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
};

/*
 * pgrotate's own options, up to the command. As in PostgreSQL's programs
 * (handle_help_version_opts), --help, -? and --version answer and exit.
 */
static int
parse_global(int argc, char **argv, GlobalOpts *g)
{
	int			c;

	while ((c = cmd_getopt(argc, argv, "+:c:vqV", global_opts)) != -1)
	{
		if (c == 'c' || c == 'v' || c == 'q' || c == 'L')
		{
			if (apply_global(g, c, optarg) != PGR_EXIT_OK)
				return PGR_EXIT_USAGE;
		}
		else if (c == 'V')
		{
			print_version();
			exit(PGR_EXIT_OK);
		}
		else if (c == 'h' || (c == '?' && optopt == '?'))	/* --help, -? */
		{
			print_usage(stdout);
			exit(PGR_EXIT_OK);
		}
		else
			return cmd_option_error(NULL, c, argv);
	}
	return PGR_EXIT_OK;
}

/*
 * Which global option argument a is: 'c', 'v', 'q' or 'L', with *val its
 * value when it is in a ("-cFILE", "--config=FILE"), else NULL; 0 if a is
 * not a global option.
 */
static int
global_option_of(const char *a, const char **val)
{
	*val = NULL;
	if (a[0] == '-' && strchr("cvq", a[1]) != NULL && a[1] != '\0')
	{
		if (a[1] == 'c' && a[2] != '\0')
			*val = a + 2;
		return (a[1] == 'c' || a[2] == '\0') ? a[1] : 0;
	}
	for (const struct option *o = global_opts; strncmp(a, "--", 2) == 0 && o->name; o++)
	{
		const char *end = a + 2 + strlen(o->name);

		if (strchr("cvqL", o->val) == NULL || strncmp(a + 2, o->name, strlen(o->name)) != 0 ||
			(*end != '\0' && *end != '='))
			continue;
		if (*end == '=')
		{
			if (o->has_arg == no_argument)
				return 0;
			*val = end + 1;
		}
		return o->val;
	}
	return 0;
}

/*
 * Whether a is an option of command cmd whose value is the next argument
 * ("--jobs", "-j"): that argument is a value, never a global option.
 */
static bool
takes_value(const Command *cmd, const char *a)
{
	const char *o;

	if (a[0] == '-' && a[1] != '-' && a[1] != ':' && a[1] != '\0' && a[2] == '\0')
		return (o = strchr(cmd->optstring, a[1])) != NULL && o[1] == ':';
	for (const struct option *l = cmd->options; strncmp(a, "--", 2) == 0 && l->name; l++)
		if (l->has_arg == required_argument && strcmp(a + 2, l->name) == 0)
			return true;
	return false;
}

/*
 * Global options after the command ("pgrotate status -c FILE"), as psql
 * and pg_dump accept options anywhere: applied to g and removed from argv
 * (argv[0] is the command), up to a "--". Updates *argc.
 */
static int
take_globals_after(const Command *cmd, int *argc, char **argv, GlobalOpts *g)
{
	int			out = 1;
	int			i = 1;

	while (i < *argc && strcmp(argv[i], "--") != 0)
	{
		const char *val;
		int			opt = global_option_of(argv[i], &val);

		if (opt == 0)
		{
			if (takes_value(cmd, argv[i]) && i + 1 < *argc)
				argv[out++] = argv[i++];
			argv[out++] = argv[i++];
			continue;
		}
		if ((opt == 'c' || opt == 'L') && val == NULL)
		{
			if (i + 1 >= *argc)
				return cmd_usage_error(argv[0], "option \"%s\" requires an argument", argv[i]);
			val = argv[++i];
		}
		if (apply_global(g, opt, val) != PGR_EXIT_OK)
			return PGR_EXIT_USAGE;
		i++;
	}
	while (i < *argc)
		argv[out++] = argv[i++];
	argv[out] = NULL;
	*argc = out;
	return PGR_EXIT_OK;
}

int
main(int argc, char **argv)
{
	GlobalOpts	g = {NULL, 0, false};
	const Command *cmd;
	int			rc;
	int			first;
	int			n;

	if (secret_harden_process() != 0)
	{
		fprintf(stderr, "pgrotate: error: could not disable core dumps\n");
		return PGR_EXIT_FAIL;
	}
	/* A sink write over RLIMIT_FSIZE must fail with EFBIG, not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	rc = parse_global(argc, argv, &g);
	if (rc != PGR_EXIT_OK)
		return rc;
	if (optind >= argc)
		return cmd_usage_error(NULL, "no command given");
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return cmd_usage_error(NULL, "unknown command \"%s\"", argv[optind]);
	first = optind;
	n = argc - first;
	if ((rc = take_globals_after(cmd, &n, argv + first, &g)) != PGR_EXIT_OK)
		return rc;
	log_init(g.verbosity, g.log_json);
	/* the command's --help before its options are parsed, as for pgrotate's */
	if (wants_help(n, argv + first))
	{
		cmd->usage();
		return PGR_EXIT_OK;
	}
	if (g.config_path == NULL)
		g.config_path = cfg_default_path();
	optind = 0;					/* reset getopt: the command parses its own options */
	rc = cmd->run(n, argv + first, &g);
	return rc;
}
