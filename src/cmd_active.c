/*
 * cmd_active.c: "pgrotate active TARGET [--format=role|env|json|uri]
 * [--with-password]": what a deploy hook reads. The role comes from the
 * authoritative state in the database; a password only from a file sink
 * the caller can read, and only if it holds the active credential.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_admin.h"
#include "commands.h"
#include "db.h"
#include "exitcode.h"
#include "log.h"
#include "secret.h"
#include "sink.h"
#include "state.h"

typedef enum ActiveFormat
{
	AF_ROLE,
	AF_ENV,
	AF_JSON,
	AF_URI
} ActiveFormat;

static int
load_active(const Target *t, StateRow *st)
{
	DbConn	   *c;
	char	   *err = NULL;
	bool		found = false;
	int			version = 0;

	c = db_connect(t->admin, "primary", NULL, &err);
	if (c == NULL || state_schema_version(c, &version, &err) != 0 ||
		(version > 0 && state_load(c, t->name, st, &found, &err) != 0))
	{
		char	   *hint = check_admin_state_hint(c, t->name);

		log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint, "cannot read the state: %s", err);
		free(hint);
		free(err);
		db_close(c);
		return PGR_EXIT_FAIL;
	}
	db_close(c);
	if (!found || st->generation == 0)
	{
		log_error("target \"%s\" has no published credential yet; run \"pgrotate init %s\"",
				  t->name, t->name);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/* The active password from the first readable file sink that holds it. */
static int
read_password(const Target *t, const StateRow *st, char **password)
{
	char	   *why = NULL;

	if (sink_find_password(t, st->active_role, st->fingerprint, password, &why) != 1)
	{
		log_emit(LOG_LEVEL_ERROR, "no_password", why,
				 "The option --with-password needs read access to one of the target's file sinks.",
				 "cannot read the active password of target \"%s\"", t->name);
		free(why);
		return PGR_EXIT_FAIL;
	}
	log_register_secret(*password);
	return PGR_EXIT_OK;
}

/*
 * Print the active credential in format f. env, json and uri are the sink
 * formats (sink_format), with the password only when pw is not NULL
 * (--with-password): the same code writes the sinks.
 */
static int
print_active(const Target *t, const StateRow *st, ActiveFormat f, const char *pw)
{
	static const SinkFormat sink_fmt[] = {
		[AF_ENV] = SINK_FMT_ENV,[AF_JSON] = SINK_FMT_JSON,[AF_URI] = SINK_FMT_URI
	};
	Credential	cred = {t->name, st->active_role, pw, NULL, st->generation,
	st->rotated_at, t->app};
	char	   *err = NULL;
	char	   *out;
	int			rc;

	if (f == AF_ROLE)
		out = xasprintf("%s\n", st->active_role);
	else if ((out = sink_format(sink_fmt[f], &cred, &err)) == NULL)
	{
		log_error("cannot print the active credential of target \"%s\" as %s: %s",
				  t->name, cfg_format_name(sink_fmt[f]), err);
		free(err);
		return PGR_EXIT_FAIL;
	}
	fputs(out, stdout);
	rc = fflush(stdout) == 0 ? PGR_EXIT_OK : PGR_EXIT_FAIL;
	secret_free(out);
	return rc;
}

static int
parse_format(const char *s, ActiveFormat *f)
{
	static const char *const names[] = {"role", "env", "json", "uri"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
		{
			*f = (ActiveFormat) i;
			return PGR_EXIT_OK;
		}
	return cmd_usage_error("active", "invalid --format \"%s\" (use role, env, json or uri)", s);
}

static const struct option options[] = {
	{"format", required_argument, NULL, 'f'},
	{"with-password", no_argument, NULL, 'P'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_active_command, "TARGET [--format=role|env|json|uri] [--with-password]",
				   "      --format=FMT    role (default), env, json or uri\n"
				   "      --with-password include the password (needs read access to the file sink)\n");
}

const Command cmd_active_command = {
	.name = "active", .optstring = ":", .options = options, .run = cmd_active, .usage = usage,
	.summary = "print the active role (for deploy hooks)",
};

int
cmd_active(int argc, char **argv, const GlobalOpts *g)
{
	ActiveFormat f = AF_ROLE;
	bool		with_pw = false;
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	StateRow	st = {0};
	char	   *pw = NULL;
	int			c,
				n,
				rc;

	while ((c = cmd_getopt(argc, argv, cmd_active_command.optstring, options)) != -1)
	{
		if (c == 'f')
		{
			if ((rc = parse_format(optarg, &f)) != PGR_EXIT_OK)
				return rc;
		}
		else if (c == 'P')
			with_pw = true;
		else
			return cmd_option_error("active", c, argv);
	}
	if (argc - optind != 1)
		return cmd_usage_error("active", "name exactly one target");
	rc = cmd_load_targets(g, 1, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
		rc = load_active(targets[0], &st);
	if (rc == PGR_EXIT_OK && with_pw)
		rc = read_password(targets[0], &st, &pw);
	if (rc == PGR_EXIT_OK)
		rc = print_active(targets[0], &st, f, pw);
	secret_free(pw);
	state_row_free(&st);
	free(targets);
	cfg_free(cfg);
	return rc;
}
