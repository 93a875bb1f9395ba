/*
 * cycle_publish.c: the publish step of a cycle (SPEC section 1, step 4):
 * every sink written, PgBouncer auth_files first and their poolers
 * reloaded, then the standby recorded as the active role. Until every
 * sink succeeded the old role stays active and valid; a failed publish is
 * retried by the next run with the same pending password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cycle.h"
#include "cycle_steps.h"
#include "drain.h"
#include "exitcode.h"
#include "fault.h"
#include "log.h"
#include "pending.h"
#include "pooler.h"
#include "roles.h"
#include "rolesql.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

/* Log and record a failed publish (err is freed); returns -1. */
static int
publish_failed(CycleRun *run, const Credential *cred, const char *what, char *err)
{
	char	   *msg = xasprintf("publishing to %s failed: %s", what, err);

	char	   *hint = xasprintf(run->republish ? "Fix the sink and run \"pgrotate publish %s\" again." :
							   "Fix the sink and run \"pgrotate cycle %s\" again: it publishes the same pending credential.",
							   run->t->name);

	free(err);
	if (run->republish)
		log_emit(LOG_LEVEL_ERROR, "publish_failed", NULL, hint,
				 "%s; role \"%s\" stays active and valid, the sinks written before keep its credential",
				 msg, cred->role);
	else
		log_emit(LOG_LEVEL_ERROR, "publish_failed", NULL, hint,
				 "%s; the old role \"%s\" stays active and valid", msg, run->st.active_role);
	cycle_history(run, "publish_failed", run->republish ? NULL : run->st.active_role,
				  cred->role, cred->generation, msg);
	free(hint);
	free(msg);
	return -1;
}

/*
 * The pgbouncer format needs the verifier as stored on the server: the one
 * of this run's provision, else the one an earlier publish saved in the
 * pending file, else (a run resumed after the provision) a new verifier of
 * the same password, set with ALTER ROLE first (logins with the password
 * are unaffected). Saved in the pending file before any sink gets it.
 */
static int
ensure_verifier(CycleRun *run, char **err)
{
	const char *role = run->st.pending_role;
	int			rc;

	if (run->republish)			/* the caller made and set it */
		return run->verifier ? 0 : -1;
	if (run->verifier == NULL)
	{
		rc = pending_read_verifier(run->cfg->state_dir, run->t->name, &run->verifier, err);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		run->verifier = db_scram_verifier(run->admin, role, run->password, err);
		if (run->verifier == NULL ||
			rolesql_provision(run->admin, role, run->verifier,
							  run->t->s.password_expiry_ms, NULL, err) != 0)
			return -1;
		log_info("set a new SCRAM verifier of the same password for role \"%s\" (the pgbouncer format needs it)",
				 role);
	}
	return pending_set_verifier(run->cfg->state_dir, run->t->name, run->verifier, err);
}

/* After the pgbouncer sinks: every pooler must know the new role. */
static int
reload_poolers(CycleRun *run, const Credential *cred)
{
	char	   *err = NULL;

	if (run->t->poolers.n == 0)
	{
		log_warning("target \"%s\" has a pgbouncer sink but no poolers: PgBouncer reads the new auth_file at its next RELOAD",
					run->t->name);
		return 0;
	}
	if (cycle_reload_poolers(run, &err) != 0)
		return publish_failed(run, cred, "the poolers", err);
	return 0;
}

/*
 * Write every sink: pgbouncer auth_files first and RELOAD the poolers, so
 * that an application that reads the new credential from another sink
 * finds PgBouncer ready for it. 0, or -1 after logging which sink failed
 * and why.
 */
int
cycle_write_sinks(CycleRun *run, Credential *cred)
{
	const Target *t = run->t;
	char	   *err = NULL;
	int			written = 0;
	int			nbouncer = 0;

	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < t->nsinks; i++)
		{
			const SinkCfg *sk = &t->sinks[i];
			char	   *what;
			int			rc;

			if (sink_is_pgbouncer(sk) != (pass == 0))
				continue;
			if (pass == 0 && nbouncer++ == 0 && ensure_verifier(run, &err) != 0)
				return publish_failed(run, cred, "the pgbouncer sinks (no SCRAM verifier)", err);
			cred->verifier = run->verifier;
			what = sink_describe(sk);
			if ((rc = sink_publish(sk, cred, &err)) != 0)
				rc = publish_failed(run, cred, what, err);
			else
				log_debug("published to %s", what);
			free(what);
			if (rc != 0)
				return -1;
			if (written++ == 0)
				FAULT_POINT("mid-publish");
		}
		if (pass == 0 && nbouncer > 0 && reload_poolers(run, cred) != 0)
			return -1;
	}
	return 0;
}

/* The pending credential, as the sinks get it. */
static int
write_pending(CycleRun *run)
{
	Credential	cred = {0};

	cred.target = run->t->name;
	cred.role = run->st.pending_role;
	cred.password = run->password;
	cred.generation = run->st.pending_generation;
	cred.rotated_at = clock_wall_ms() / 1000;
	cred.app_conninfo = run->t->app;
	return cycle_write_sinks(run, &cred);
}

int
cycle_step_publish(CycleRun *run)
{
	char	   *err = NULL;
	int			rc;

	rc = cycle_load_pending(run);
	if (rc < 0)
		return PGR_EXIT_FAIL;
	if (rc == 0)
	{
		if (run->st.publish_started_ms == 0)
			return cycle_step_rollback(run, "the pending credential was lost before publishing");
		log_emit(LOG_LEVEL_ERROR, "pending_lost", NULL,
				 "Restore the pending file from a backup, or finish by hand: the sinks may hand out the new password.",
				 "the pending credential of role \"%s\" was lost while it was being published",
				 run->st.pending_role);
		return PGR_EXIT_FAIL;
	}
	if (state_publish_started(run->admin, run->t->name, &err) != 0)
		return cycle_fail(err, NULL, "cannot record the start of publishing");
	if (write_pending(run) != 0)
		return PGR_EXIT_FAIL;
	{
		StateEvent	ev = {"published", run->st.active_role, run->st.pending_role,
		run->st.pending_generation, run->o->reason, NULL};

		/* one statement: no transaction block needed */
		if (state_published(run->admin, run->t->name, &ev, &run->next, &err) != 0)
			return cycle_failf(err, "cannot record the publication", "Run \"pgrotate cycle %s\" again: it publishes the same credential.",
							   run->t->name);
	}
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		cycle_fail(err, NULL, "cannot remove the pending file");
	log_emit(LOG_LEVEL_INFO, "published", NULL, NULL,
			 "published role \"%s\" (generation %lld) to %d sink%s",
			 run->st.pending_role, (long long) run->st.pending_generation, run->t->nsinks,
			 run->t->nsinks == 1 ? "" : "s");
	FAULT_POINT("after-publish");
	return PGR_EXIT_OK;
}
