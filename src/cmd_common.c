/*
 * cmd_common.c: what every command does the same way: print its help,
 * parse its options, load the configuration, resolve target names, report
 * usage errors.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "exitcode.h"
#include "log.h"

volatile int cmd_stop_requested = 0;

static void
on_stop_signal(int sig)
{
	cmd_stop_requested = sig;
}

void
cmd_catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;			/* no SA_RESTART: sleeps end at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	db_set_interrupt(&cmd_stop_requested);
}

int
cmd_usage_error(const char *cmd, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;
	char	   *try;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	try = xasprintf("Try \"pgrotate%s%s --help\" for more information.", cmd ? " " : "",
					cmd ? cmd : "");
	/* the hint line of PostgreSQL's programs; in JSON, the hint field */
	log_emit(LOG_LEVEL_ERROR, "usage", NULL, log_is_json() ? try : NULL, "%s%s%s",
			 cmd ? cmd : "", cmd ? ": " : "", msg ? msg : "usage error");
	if (!log_is_json())
		fprintf(stderr, "%s\n", try);
	free(try);
	free(msg);
	return PGR_EXIT_USAGE;
}

void
cmd_print_help(const Command *c, const char *synopsis, const char *options)
{
	printf("pgrotate %s: %s\n\nUsage:\n  pgrotate [-c FILE] [-v|-q] %s %s\n",
		   c->name, c->summary, c->name, synopsis);
	if (options[0])
		printf("\nOptions:\n%s", options);
	printf("  -?, --help          print this help and exit\n\nSee pgrotate(1).\n");
}

/* optind before the last cmd_getopt (0 starts over at 1): where it began */
static int	getopt_start;

int
cmd_getopt(int argc, char **argv, const char *optstring, const struct option *opts)
{
	getopt_start = optind > 0 ? optind : 1;
	return getopt_long(argc, argv, optstring, opts, NULL);
}

int
cmd_option_error(const char *cmd, int c, char **argv)
{
	/*
	 * A long option always moves optind past itself; a short one in the
	 * middle of "-abc" does not (getopt_start is where the call started).
	 */
	const char *arg = optind > getopt_start ? argv[optind - 1] : "";
	bool		islong = strncmp(arg, "--", 2) == 0;
	int			len = (int) strcspn(arg, "=");

	if (c == ':' && islong)
		return cmd_usage_error(cmd, "option \"%s\" requires an argument", arg);
	if (c == ':')
		return cmd_usage_error(cmd, "option \"-%c\" requires an argument", optopt);
	if (islong && optopt != 0)
		return cmd_usage_error(cmd, "option \"%.*s\" takes no argument", len, arg);
	if (islong)
		return cmd_usage_error(cmd, "unknown option \"%s\"", arg);
	return cmd_usage_error(cmd, "invalid option \"-%c\"", optopt);
}

int
cmd_load_config(const GlobalOpts *g, Config **cfg)
{
	StrList		errs = {0};

	if (cfg_load(g->config_path, cfg, &errs) == 0)
	{
		strlist_free(&errs);
		return PGR_EXIT_OK;
	}
	for (int i = 0; i < errs.n; i++)
		log_emit(LOG_LEVEL_ERROR, "config", NULL, NULL, "%s", errs.items[i]);
	log_emit(LOG_LEVEL_ERROR, "config", NULL,
			 "Fix the file, or name another with -c FILE or PGROTATE_CONFIG.",
			 "configuration \"%s\" is not valid (%d problem%s)", g->config_path,
			 errs.n, errs.n == 1 ? "" : "s");
	strlist_free(&errs);
	return PGR_EXIT_USAGE;
}

int
cmd_resolve_targets(const Config *cfg, int n, char **names,
					const Target ***out, int *nout)
{
	const Target **list;

	if (n == 0)
	{
		list = xcalloc(cfg->ntargets, sizeof(Target *));
		for (int i = 0; i < cfg->ntargets; i++)
			list[i] = &cfg->targets[i];
		*out = list;
		*nout = cfg->ntargets;
		return PGR_EXIT_OK;
	}
	list = xcalloc(n, sizeof(Target *));
	for (int i = 0; i < n; i++)
	{
		list[i] = cfg_find_target(cfg, names[i]);
		if (list[i] == NULL)
		{
			StrBuf		known;

			sb_init(&known);
			for (int k = 0; k < cfg->ntargets; k++)
				sb_appendf(&known, "%s\"%s\"", k ? ", " : "", cfg->targets[k].name);
			log_emit(LOG_LEVEL_ERROR, "usage", NULL, NULL,
					 "unknown target \"%s\" (targets in \"%s\": %s)", names[i],
					 cfg->path, known.data);
			sb_free(&known);
			free(list);
			return PGR_EXIT_USAGE;
		}
		for (int k = 0; k < i; k++)
			if (list[k] == list[i])
			{
				log_error("target \"%s\" named twice", names[i]);
				free(list);
				return PGR_EXIT_USAGE;
			}
	}
	*out = list;
	*nout = n;
	return PGR_EXIT_OK;
}

int
cmd_load_targets(const GlobalOpts *g, int n, char **names, Config **cfg,
				 const Target ***out, int *nout)
{
	int			rc = cmd_load_config(g, cfg);

	if (rc == PGR_EXIT_OK)
		rc = cmd_resolve_targets(*cfg, n, names, out, nout);
	return rc;
}

/* Order exit codes by how bad they are: a usage error beats a failure ... */
static int
severity(int rc)
{
	switch (rc)
	{
		case PGR_EXIT_OK:
			return 0;
		case PGR_EXIT_DRAIN_TIMEOUT:
			return 1;
		case PGR_EXIT_LOCKED:
			return 2;
		case PGR_EXIT_FAIL:
			return 3;
		default:
			return 4;
	}
}

int
cmd_worst_exit(int a, int b)
{
	return severity(b) > severity(a) ? b : a;
}

