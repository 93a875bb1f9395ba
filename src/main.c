/*
 * main.c: global options, the command table (dispatch and --help), and
 * the exit code. Nothing else.
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

typedef struct Command
{
	const char *name;
	int			(*run) (int argc, char **argv, const GlobalOpts *g);
	bool		implemented;
	const char *synopsis;
	const char *summary;
	const char *options;
} Command;

static const Command commands[] = {
	{"init", cmd_init, true, "TARGET... | --all [--print-sql] [--adopt-group]",
		"create the roles and state schema, publish the first credential",
		"      --all           every target in the configuration, one after the other\n"
		"      --print-sql     print the DDL instead of running it (no secrets)\n"
		"      --adopt-group   migrate an application that logs in as the group role\n"},
	{"cycle", cmd_cycle, true,
		"TARGET... | --all [--due] [--jobs N] [--dry-run] [--no-wait] [--emergency] [--reason TEXT]",
		"run or resume a rotation cycle",
		"      --all           every target in the configuration\n"
		"      --due           only targets past rotation_interval or with a cycle to resume\n"
		"  -j, --jobs=N        targets in flight at once (default 16)\n"
		"      --dry-run       run every check, print the plan, change nothing\n"
		"      --no-wait       stop after publish (phase draining)\n"
		"      --emergency     ignore min_overlap, wait at most emergency_grace, terminate, revoke\n"
		"      --reason=TEXT   recorded in the history\n"},
	{"active", cmd_active, true, "TARGET [--format=role|env|json|uri] [--with-password]",
		"print the active role (for deploy hooks)",
		"      --format=FMT    role (default), env, json or uri\n"
		"      --with-password include the password (needs read access to the file sink)\n"},
	{"status", cmd_status, true, "[TARGET...] [--format=text|json|prometheus]",
		"per-target state for monitoring (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
		"      --format=FMT    text (default), json or prometheus\n"},
	{"check", cmd_check, true, "[TARGET... | --all]",
		"preflight checklist: config, connection, privileges, roles, schema, sinks, replicas",
		"      --all           every target in the configuration (the default)\n"},
	{"revoke", cmd_revoke, true, "TARGET ROLE [--terminate] [--reason TEXT]",
		"revoke a role that is not active, now",
		"      --terminate     terminate the role's sessions too\n"
		"      --reason=TEXT   recorded in the history\n"},
	{"publish", cmd_publish, true, "TARGET",
		"write the active credential to every sink again, without rotating",
		""},
	{"history", cmd_history, true, "TARGET [--limit N] [--format=text|json]",
		"print the rotation history of a target",
		"      --limit=N       newest N events (default 20)\n"
		"      --format=FMT    text (default) or json\n"},
};

#define NCOMMANDS ((int) (sizeof(commands) / sizeof(commands[0])))

static void
print_usage(FILE *f)
{
	fprintf(f, "pgrotate rotates PostgreSQL application passwords with zero downtime.\n\n"
			"Usage:\n  pgrotate [-c FILE] [-v|-q] [--log-format=text|json] COMMAND [ARGS]\n\n"
			"Commands:\n");
	for (int i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s%s\n", commands[i].name, commands[i].summary,
				commands[i].implemented ? "" : " (not implemented yet)");
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

static void
print_command_help(const Command *c)
{
	printf("pgrotate %s: %s%s\n\nUsage:\n  pgrotate [-c FILE] [-v|-q] %s %s\n",
		   c->name, c->summary, c->implemented ? "" : " (not implemented yet)",
		   c->name, c->synopsis);
	if (c->options[0])
		printf("\nOptions:\n%s", c->options);
	printf("  -?, --help          print this help and exit\n\nSee pgrotate(1).\n");
}

static const Command *
find_command(const char *name)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
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

static int
parse_global(int argc, char **argv, GlobalOpts *g)
{
	static const struct option long_opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-format", required_argument, NULL, 'L'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:vqV?", long_opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'c':
			case 'v':
			case 'q':
			case 'L':
				if (apply_global(g, c, optarg) != PGR_EXIT_OK)
					return PGR_EXIT_USAGE;
				break;
			case 'V':
				printf("pgrotate %s\n", PACKAGE_VERSION);
#ifdef PGR_FAULT_INJECTION
				printf("built with --enable-fault-injection: test-only fault points, not for production\n");
#endif
				exit(PGR_EXIT_OK);
			case '?':
				if (optopt == 0 && strcmp(argv[optind - 1], "--help") != 0 &&
					strcmp(argv[optind - 1], "-?") != 0)
					return cmd_usage_error(NULL, "unknown option \"%s\"", argv[optind - 1]);
				if (optopt != 0 && optopt != '?')
					return cmd_usage_error(NULL, "invalid option \"-%c\"", optopt);
				print_usage(stdout);
				exit(PGR_EXIT_OK);
			default:
				return cmd_usage_error(NULL, "option \"%s\" needs an argument", argv[optind - 1]);
		}
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
	static const struct
	{
		const char *name;
		int			opt;
	}			longs[] = {{"--config", 'c'}, {"--verbose", 'v'},
	{"--quiet", 'q'}, {"--log-format", 'L'}};

	*val = NULL;
	if (a[0] == '-' && strchr("cvq", a[1]) != NULL && a[1] != '\0')
	{
		if (a[1] == 'c' && a[2] != '\0')
			*val = a + 2;
		return (a[1] == 'c' || a[2] == '\0') ? a[1] : 0;
	}
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
	{
		size_t		n = strlen(longs[i].name);

		if (strncmp(a, longs[i].name, n) != 0 || (a[n] != '\0' && a[n] != '='))
			continue;
		if (a[n] == '=')
		{
			if (longs[i].opt == 'v' || longs[i].opt == 'q')
				return 0;
			*val = a + n + 1;
		}
		return longs[i].opt;
	}
	return 0;
}

/*
 * The options of the commands whose value may be the next argument: that
 * argument is a value, never a global option. A command option taking a
 * value must be listed here.
 */
static bool
takes_value(const char *a)
{
	static const char *const opts[] = {"--jobs", "-j", "--reason", "--format",
	"--limit", NULL};

	for (int i = 0; opts[i]; i++)
		if (strcmp(a, opts[i]) == 0)
			return true;
	return false;
}

/*
 * Global options after the command ("pgrotate status -c FILE"), as psql
 * and pg_dump accept options anywhere: applied to g and removed from argv
 * (argv[0] is the command), up to a "--". Updates *argc.
 */
static int
take_globals_after(int *argc, char **argv, GlobalOpts *g)
{
	int			out = 1;
	int			i = 1;

	while (i < *argc && strcmp(argv[i], "--") != 0)
	{
		const char *val;
		int			opt = global_option_of(argv[i], &val);

		if (opt == 0)
		{
			if (takes_value(argv[i]) && i + 1 < *argc)
				argv[out++] = argv[i++];
			argv[out++] = argv[i++];
			continue;
		}
		if ((opt == 'c' || opt == 'L') && val == NULL)
		{
			if (i + 1 >= *argc)
				return cmd_usage_error(argv[0], "option \"%s\" needs an argument", argv[i]);
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
	if ((rc = take_globals_after(&n, argv + first, &g)) != PGR_EXIT_OK)
		return rc;
	log_init(g.verbosity, g.log_json);
	if (wants_help(n, argv + first))
	{
		print_command_help(cmd);
		return PGR_EXIT_OK;
	}
	if (!cmd->implemented)
	{
		log_error("command \"%s\" is not implemented yet", cmd->name);
		return PGR_EXIT_USAGE;
	}
	if (g.config_path == NULL)
		g.config_path = cfg_default_path();
	optind = 0;					/* reset getopt: the command parses its own options */
	rc = cmd->run(n, argv + first, &g);
	return rc;
}
