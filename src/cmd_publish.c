/*
 * cmd_publish.c: "pgrotate publish TARGET": write the active credential to
 * every sink again, without rotating (a sink was added, a host restored).
 *
 * The password is taken from a file sink that still holds the active
 * credential, checked by its SHA-256 fingerprint against the state; when
 * none does, publish refuses: pgrotate never keeps a published password
 * elsewhere, so only a rotation can make a new one. With a pgbouncer sink,
 * the role gets a new SCRAM secret of the same password first (logins with
 * the password are unaffected), so that the auth_files and the server hold
 * the same verifier, as PgBouncer needs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "cycle.h"
#include "cycle_steps.h"
#include "exitcode.h"
#include "log.h"
#include "rolesql.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

/* Only a credential that is published and stays so may be written again. */
static int
refuse_by_phase(const CycleRun *run)
{
	const StateRow *st = &run->st;

	if (st->generation == 0)
	{
		log_error("target \"%s\" has no published credential yet; run \"pgrotate init %s\"",
				  run->t->name, run->t->name);
		return PGR_EXIT_FAIL;
	}
	if (st->phase == PHASE_PROVISIONED || st->phase == PHASE_VERIFIED)
	{
		char	   *hint = xasprintf("Run \"pgrotate cycle %s\": it finishes the cycle and publishes.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "refused", NULL, hint,
				 "target \"%s\" has a cycle in phase %s: the sinks are about to get role \"%s\"; nothing was written",
				 run->t->name, st->phase_text, st->pending_role);
		free(hint);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

static bool
has_bouncer_sink(const Target *t)
{
	for (int i = 0; i < t->nsinks; i++)
		if (sink_is_pgbouncer(&t->sinks[i]))
			return true;
	return false;
}

/* The verifier the pgbouncer sinks carry, set on the server first. */
static int
new_verifier(CycleRun *run, const char *role)
{
	char	   *err = NULL;

	run->verifier = db_scram_verifier(run->admin, role, run->password, &err);
	if (run->verifier == NULL ||
		rolesql_set_verifier(run->admin, role, run->verifier, &err) != 0)
		return cycle_fail(err, NULL, "cannot set the SCRAM verifier the pgbouncer sinks need");
	log_info("set a new SCRAM verifier of the same password for role \"%s\" (the pgbouncer format needs it)",
			 role);
	return PGR_EXIT_OK;
}

static int
publish_again(CycleRun *run)
{
	const StateRow *st = &run->st;
	Credential	cred = {0};
	char	   *why = NULL;
	int			rc;

	if ((rc = refuse_by_phase(run)) != PGR_EXIT_OK)
		return rc;
	run->step = "publish";
	run->republish = true;
	if (sink_find_password(run->t, st->active_role, st->fingerprint, &run->password, &why) != 1)
	{
		char	   *hint = xasprintf("Restore a file sink that holds it, or run \"pgrotate cycle %s\" to rotate to a new credential.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "no_password", why, hint,
				 "no file sink of target \"%s\" holds the active credential of role \"%s\" (by its fingerprint); nothing was written",
				 run->t->name, st->active_role);
		free(hint);
		free(why);
		return PGR_EXIT_FAIL;
	}
	log_register_secret(run->password);
	if (has_bouncer_sink(run->t) && (rc = new_verifier(run, st->active_role)) != PGR_EXIT_OK)
		return rc;
	cred.target = run->t->name;
	cred.role = st->active_role;
	cred.password = run->password;
	cred.generation = st->generation;
	cred.rotated_at = st->rotated_at;
	cred.app_conninfo = run->t->app;
	if (cycle_write_sinks(run, &cred) != 0)
		return PGR_EXIT_FAIL;
	cycle_history(run, "republished", NULL, st->active_role, st->generation, NULL);
	log_emit(LOG_LEVEL_INFO, "republished", NULL, NULL,
			 "published the active credential of role \"%s\" (generation %lld) again to %d sink%s",
			 st->active_role, (long long) st->generation, run->t->nsinks,
			 run->t->nsinks == 1 ? "" : "s");
	return PGR_EXIT_OK;
}

static const struct option options[] = {
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_publish_command, "TARGET",
				   "");
}

const Command cmd_publish_command = {
	.name = "publish", .optstring = ":", .options = options, .run = cmd_publish, .usage = usage,
	.summary = "write the active credential to every sink again, without rotating",
};

int
cmd_publish(int argc, char **argv, const GlobalOpts *g)
{
	CycleOpts	o = {0};
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	CycleRun	run;
	int			c,
				n,
				rc;

	if ((c = cmd_getopt(argc, argv, cmd_publish_command.optstring, options)) != -1)
		return cmd_option_error("publish", c, argv);
	if (argc - optind != 1)
		return cmd_usage_error("publish", "name exactly one target");
	rc = cmd_load_targets(g, 1, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
	{
		cmd_catch_stop_signals();
		o.stop = &cmd_stop_requested;
		log_clear_last_error();
		rc = cycle_open(&run, cfg, targets[0], &o);
		if (rc == PGR_EXIT_OK)
			rc = cycle_load(&run);
		if (rc == PGR_EXIT_OK)
			rc = publish_again(&run);
		cycle_close(&run);
	}
	free(targets);
	cfg_free(cfg);
	return rc;
}
