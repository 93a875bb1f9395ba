/*
 * cycle.c: the rotation state machine. Each step ends with a commit of
 * the phase it reached, in the same transaction as the role change it
 * made, so a run killed anywhere is resumed by the next one from the
 * durable state (pgrotate.state plus the pending file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checklist.h"
#include "cycle.h"
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
#include "verify.h"

#define STRAGGLER_WAIT_MS 10000

static int	step_rollback(CycleRun *run, const char *why);

/* Log err (and free it) as an error with a hint; return PGR_EXIT_FAIL. */
static int
fail(char *err, const char *hint, const char *what)
{
	log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint, "%s: %s", what,
			 err ? err : "unknown error");
	free(err);
	return PGR_EXIT_FAIL;
}

int
cycle_open(CycleRun *run, const Config *cfg, const Target *t,
		   const CycleOpts *o)
{
	char		app[64];
	const char *over[] = {"application_name", app, NULL};
	char	   *err = NULL;
	char	   *holder = NULL;
	int			rc;

	memset(run, 0, sizeof(*run));
	run->cfg = cfg;
	run->t = t;
	run->o = o;
	log_set_target(t->name);
	/* names this run in pg_stat_activity, for the lock holder message */
	snprintf(app, sizeof(app), "pgrotate:%d@%s", (int) getpid(), host_name());
	run->admin = db_connect(t->admin, "primary", over, &err);
	if (run->admin == NULL)
		return fail(err, "check the target's admin conninfo; its password comes from ~/.pgpass, PGPASSFILE or a service file",
					"cannot connect to the control database");
	rc = state_lock(run->admin, t->name, &holder, &err);
	if (rc < 0)
		return fail(err, NULL, "cannot take the target's lock");
	if (rc == 1)
	{
		log_emit(LOG_LEVEL_ERROR, "locked", NULL,
				 "wait for that run to finish; a cycle it leaves unfinished is resumed by the next run",
				 "another pgrotate run holds target %s: %s", t->name, holder);
		free(holder);
		return PGR_EXIT_LOCKED;
	}
	/* a dry run creates nothing, not even state_dir */
	if (!o->dry_run && statedir_ensure(cfg->state_dir, &err) != 0)
		return fail(err, NULL, "state_dir is not usable");
	return PGR_EXIT_OK;
}

void
cycle_close(CycleRun *run)
{
	secret_free(run->password);
	free(run->verifier);
	run->password = run->verifier = NULL;
	state_row_free(&run->st);
	state_row_free(&run->next);
	db_close(run->admin);
	run->admin = NULL;
}

/*
 * (Re)load the state row; it must exist and match the configuration. With
 * note_holder, the same statement records this process as the lock holder.
 */
static int
load_state(CycleRun *run, bool note_holder)
{
	const Target *t = run->t;
	int			version;
	bool		found = false;
	char	   *err = NULL;

	state_row_free(&run->st);
	/*
	 * Read the row straight away (one round trip, not three): a missing
	 * schema or table is an uninitialised target.
	 */
	version = 1;
	if ((note_holder ?
		 state_load_noting_holder(run->admin, t->name, &run->st, &found, &err) :
		 state_load(run->admin, t->name, &run->st, &found, &err)) != 0)
	{
		const char *code = db_last_sqlstate(run->admin);

		if (run->have_state ||
			(strcmp(code, "42P01") != 0 && strcmp(code, "3F000") != 0))
			return fail(err, NULL, "cannot read the state");
		free(err);
		version = 0;
	}
	if (!found)
	{
		log_emit(LOG_LEVEL_ERROR, "not_initialised", NULL, NULL,
				 "target %s is not initialised%s; run \"pgrotate init %s\"", t->name,
				 version == 0 ? " (no pgrotate schema in its database)" : "", t->name);
		return PGR_EXIT_FAIL;
	}
	run->have_state = true;
	if (strcmp(run->st.group_role, t->group_role) != 0 ||
		!((strcmp(run->st.active_role, t->roles[0]) == 0 && strcmp(run->st.standby_role, t->roles[1]) == 0) ||
		  (strcmp(run->st.active_role, t->roles[1]) == 0 && strcmp(run->st.standby_role, t->roles[0]) == 0)))
	{
		log_emit(LOG_LEVEL_ERROR, "config_mismatch", NULL,
				 "restore the roles in the configuration; renaming roles needs a new target",
				 "the configuration of target %s names group \"%s\" and roles \"%s\", \"%s\", but its state has group \"%s\" and roles \"%s\", \"%s\"",
				 t->name, t->group_role, t->roles[0], t->roles[1], run->st.group_role,
				 run->st.active_role, run->st.standby_role);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/* Log the setup check's problems (l is freed); PGR_EXIT_FAIL if any failed. */
static int
setup_verdict(CycleRun *run, CheckList *l)
{
	int			failed;

	checklist_log_problems(l);
	failed = checklist_count(l, CHECK_FAIL);
	checklist_free(l);
	if (failed > 0)
	{
		log_emit(LOG_LEVEL_ERROR, "setup", NULL,
				 "fix the items above (\"pgrotate check\" lists them); nothing was changed",
				 "the setup of target %s has %d problem%s", run->t->name, failed,
				 failed == 1 ? "" : "s");
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

int
cycle_check_setup(CycleRun *run)
{
	CheckList	l = {0};
	char	   *err = NULL;

	if (roles_check_setup(run->admin, run->t, &l, &err) != 0)
	{
		checklist_free(&l);
		return fail(err, NULL, "cannot check the roles");
	}
	return setup_verdict(run, &l);
}

static int
history(CycleRun *run, const char *event, const char *from, const char *to,
		int64_t gen, const char *detail)
{
	char	   *err = NULL;

	if (state_history(run->admin, run->t->name, event, from, to, gen,
					  run->o->reason, detail, &err) != 0)
	{
		log_warning("could not record \"%s\" in the history: %s", event, err);
		free(err);
		return -1;
	}
	return 0;
}

/* Run fn-like SQL steps inside BEGIN/COMMIT; rolls back on error. */
static int
commit_or_rollback(CycleRun *run, int rc, char **err)
{
	if (rc == 0 && db_commit(run->admin, err) == 0)
		return 0;
	db_rollback(run->admin);
	state_row_free(&run->next);	/* what the rolled back change read */
	return -1;
}

/*
 * Load the pending password of the provisioned role into run->password.
 * Returns 1 when it is there and matches the state, 0 when it is missing
 * or does not match (the caller decides), -1 on a read error.
 */
static int
load_pending(CycleRun *run)
{
	char	   *role = NULL;
	char	   *pw = NULL;
	char	   *err = NULL;
	int64_t		gen = 0;
	char		fp[SECRET_FINGERPRINT_LEN + 1];
	int			rc;

	if (run->password)
		return 1;
	rc = pending_read(run->cfg->state_dir, run->t->name, &role, &gen, &pw, &err);
	if (rc < 0)
	{
		fail(err, "a corrupt pending file can be removed; the next run repairs the state", "cannot read the pending credential");
		return -1;
	}
	if (rc == 1)
	{
		secret_fingerprint(pw, fp);
		if (run->st.pending_role && strcmp(role, run->st.pending_role) == 0 &&
			gen == run->st.pending_generation && run->st.pending_fingerprint &&
			strcmp(fp, run->st.pending_fingerprint) == 0)
		{
			run->password = pw;
			log_register_secret(pw);
			free(role);
			return 1;
		}
		log_warning("the pending file of target %s (role %s, generation %lld) does not match the state",
					run->t->name, role, (long long) gen);
	}
	free(role);
	secret_free(pw);
	return 0;
}

/* A password for the standby: the pending one if this generation's, else new. */
static int
new_password(CycleRun *run, const char *role, int64_t gen)
{
	char	   *prole = NULL;
	char	   *pw = NULL;
	char	   *err = NULL;
	int64_t		pgen = 0;
	int			rc;

	rc = pending_read(run->cfg->state_dir, run->t->name, &prole, &pgen, &pw, &err);
	if (rc < 0)
	{
		log_warning("ignoring the unreadable pending file: %s", err);
		free(err);
		err = NULL;
	}
	if (rc == 1 && strcmp(prole, role) == 0 && pgen == gen)
		run->password = pw;		/* a run killed before its commit */
	else
	{
		secret_free(pw);
		run->password = xmalloc(run->t->s.password_length + 1);
		if (secret_generate(run->password, run->t->s.password_length) != 0)
		{
			free(prole);
			return fail(xstrdup("the OpenSSL random generator failed"), NULL,
						"cannot generate a password");
		}
	}
	free(prole);
	log_register_secret(run->password);
	if (pending_write(run->cfg->state_dir, run->t->name, role, gen, run->password, &err) != 0)
		return fail(err, NULL, "cannot save the pending credential (nothing was changed on the server)");
	return PGR_EXIT_OK;
}

/*
 * The standby's next credential, before the server is touched: the
 * password saved in the pending file, and its SCRAM verifier.
 */
static int
prepare_credential(CycleRun *run)
{
	const char *role = run->st.standby_role;
	char	   *err = NULL;
	int			rc;

	if ((rc = new_password(run, role, run->st.generation + 1)) != PGR_EXIT_OK)
		return rc;
	FAULT_POINT("after-pending");
	free(run->verifier);
	run->verifier = db_scram_verifier(run->admin, role, run->password, &err);
	if (run->verifier == NULL)
		return fail(err, NULL, "cannot compute the SCRAM verifier");
	return PGR_EXIT_OK;
}

static int	standby_unused(CycleRun *run);

static int
step_provision(CycleRun *run)
{
	const char *role = run->st.standby_role;
	int64_t		gen = run->st.generation + 1;
	char		fp[SECRET_FINGERPRINT_LEN + 1];
	char	   *err = NULL;
	int			rc;

	/* done while the setup checks ran (cycle_run), or now (init) */
	if (!run->prepared &&
		((rc = standby_unused(run)) != PGR_EXIT_OK ||
		 (rc = prepare_credential(run)) != PGR_EXIT_OK))
		return rc;
	run->prepared = false;
	secret_fingerprint(run->password, fp);
	rc = db_begin(run->admin, &err);
	if (rc == 0)
		rc = rolesql_provision(run->admin, role, run->verifier,
							   run->t->s.password_expiry_ms, NULL, &err);
	if (rc == 0)
	{
		StateEvent	ev = {"provisioned", run->st.active_role, role, gen, run->o->reason, NULL};

		rc = state_provisioned(run->admin, run->t->name, role, gen, fp, &ev,
							   &run->next, &err);
	}
	if (commit_or_rollback(run, rc, &err) != 0)
		return fail(err, "the active role is untouched; fix the cause and run again",
					"cannot provision the standby role");
	log_emit(LOG_LEVEL_INFO, "provisioned", NULL, NULL,
			 "provisioned role %s with a new password (generation %lld)", role,
			 (long long) gen);
	FAULT_POINT("after-provision");
	return PGR_EXIT_OK;
}

static int
step_verify(CycleRun *run)
{
	const char *role = run->st.pending_role;
	char	   *err = NULL;
	int			rc;

	rc = load_pending(run);
	if (rc < 0)
		return PGR_EXIT_FAIL;
	if (rc == 0)
		return step_rollback(run, "the pending credential was lost before it was verified");
	rc = verify_credential(run->t, run->admin, role, run->password, run->o->stop, &err);
	if (rc == VERIFY_UNAVAILABLE)
	{
		/* No verdict on the credential: keep it, the next run verifies again. */
		log_emit(LOG_LEVEL_ERROR, "verify_incomplete", NULL,
				 "bring the replica back (or remove it from the target's replicas) and run pgrotate cycle again: it resumes the verification",
				 "%s; nothing was published, the active role %s is untouched", err,
				 run->st.active_role);
		history(run, "verify_incomplete", NULL, role, run->st.pending_generation, err);
		free(err);
		return PGR_EXIT_FAIL;
	}
	if (rc != VERIFY_OK)
	{
		log_emit(LOG_LEVEL_ERROR, "verify_failed", NULL, NULL, "%s", err);
		rc = step_rollback(run, err);
		free(err);
		return rc == PGR_EXIT_OK ? PGR_EXIT_FAIL : rc;
	}
	{
		StateEvent	ev = {"verified", NULL, role, run->st.pending_generation,
		run->o->reason, NULL};

		/* one statement: no transaction block needed */
		if (state_set_phase(run->admin, run->t->name, PHASE_VERIFIED, &ev,
							&run->next, &err) != 0)
			return fail(err, NULL, "cannot record the verification");
	}
	log_emit(LOG_LEVEL_INFO, "verified", NULL, NULL,
			 "verified: role %s logs in and works as %s", role, run->t->group_role);
	FAULT_POINT("after-verify");
	return PGR_EXIT_OK;
}

/* Back to idle: the unpublished standby loses LOGIN and its password. */
static int
step_rollback(CycleRun *run, const char *why)
{
	const char *role = run->st.pending_role ? run->st.pending_role : run->st.standby_role;
	char	   *err = NULL;
	int			rc;

	rc = db_begin(run->admin, &err);
	if (rc == 0)
		rc = rolesql_revoke(run->admin, role, NULL, &err);
	if (rc == 0)
	{
		StateEvent	ev = {"rolled_back", NULL, role, run->st.pending_generation,
		run->o->reason, why};

		rc = state_rolled_back(run->admin, run->t->name, &ev, &run->next, &err);
	}
	if (commit_or_rollback(run, rc, &err) != 0)
		return fail(err, "run pgrotate cycle again to finish the rollback", "cannot roll back");
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		fail(err, NULL, "cannot remove the pending file");
	run->rolled_back = true;
	log_emit(LOG_LEVEL_WARNING, "rolled_back", why, NULL,
			 "rolled back: role %s is NOLOGIN again, nothing was published, active role %s is untouched",
			 role, run->st.active_role);
	return PGR_EXIT_OK;
}

/* Log and record a failed publish (err is freed); returns -1. */
static int
publish_failed(CycleRun *run, const char *what, char *err)
{
	char	   *msg = xasprintf("publishing to %s failed: %s", what, err);
	char	   *e = NULL;

	free(err);
	log_emit(LOG_LEVEL_ERROR, "publish_failed", NULL,
			 "fix the sink and run pgrotate cycle again: it publishes the same pending credential",
			 "%s; the old role %s stays active and valid", msg, run->st.active_role);
	if (state_set_error(run->admin, run->t->name, msg, &e) != 0)
	{
		log_warning("could not record the error in the state: %s", e);
		free(e);
	}
	history(run, "publish_failed", run->st.active_role, run->st.pending_role,
			run->st.pending_generation, msg);
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
		log_info("set a new SCRAM verifier of the same password for role %s (the pgbouncer format needs it)",
				 role);
	}
	return pending_set_verifier(run->cfg->state_dir, run->t->name, run->verifier, err);
}

static bool
is_bouncer_sink(const SinkCfg *s)
{
	return s->type == SINK_FILE && s->format == SINK_FMT_PGBOUNCER;
}

/* After the pgbouncer sinks: every pooler must know the new role. */
static int
reload_poolers(CycleRun *run)
{
	char	   *err = NULL;

	if (run->t->poolers.n == 0)
	{
		log_warning("target %s has a pgbouncer sink but no poolers: PgBouncer reads the new auth_file at its next RELOAD",
					run->t->name);
		return 0;
	}
	if (pooler_reload_all(run->t, &err) != 0)
		return publish_failed(run, "the poolers", err);
	return 0;
}

/*
 * Write every sink: pgbouncer auth_files first and RELOAD the poolers, so
 * that an application that reads the new credential from another sink
 * finds PgBouncer ready for it. 0, or -1 after logging which sink failed
 * and why.
 */
static int
write_sinks(CycleRun *run)
{
	const Target *t = run->t;
	Credential	cred = {0};
	char	   *err = NULL;
	int			written = 0;
	int			nbouncer = 0;

	cred.target = t->name;
	cred.role = run->st.pending_role;
	cred.password = run->password;
	cred.generation = run->st.pending_generation;
	cred.rotated_at = clock_wall_ms() / 1000;
	cred.app_conninfo = t->app;
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < t->nsinks; i++)
		{
			const SinkCfg *sk = &t->sinks[i];
			char	   *what;
			int			rc;

			if (is_bouncer_sink(sk) != (pass == 0))
				continue;
			if (pass == 0 && nbouncer++ == 0 && ensure_verifier(run, &err) != 0)
				return publish_failed(run, "the pgbouncer sinks (no SCRAM verifier)", err);
			cred.verifier = run->verifier;
			what = sink_describe(sk);
			rc = pass == 0 ? pooler_publish_authfile(sk, &cred, &err)
				: sink_publish(sk, &cred, &err);
			if (rc != 0)
				rc = publish_failed(run, what, err);
			else
				log_debug("published to %s", what);
			free(what);
			if (rc != 0)
				return -1;
			if (written++ == 0)
				FAULT_POINT("mid-publish");
		}
		if (pass == 0 && nbouncer > 0 && reload_poolers(run) != 0)
			return -1;
	}
	return 0;
}

static int
step_publish(CycleRun *run)
{
	char	   *err = NULL;
	int			rc;

	rc = load_pending(run);
	if (rc < 0)
		return PGR_EXIT_FAIL;
	if (rc == 0)
	{
		if (run->st.publish_started_ms == 0)
			return step_rollback(run, "the pending credential was lost before publishing");
		log_emit(LOG_LEVEL_ERROR, "pending_lost", NULL,
				 "restore the pending file from a backup, or finish by hand: the sinks may hand out the new password",
				 "the pending credential of role %s was lost while it was being published",
				 run->st.pending_role);
		return PGR_EXIT_FAIL;
	}
	if (state_publish_started(run->admin, run->t->name, &err) != 0)
		return fail(err, NULL, "cannot record the start of publishing");
	if (write_sinks(run) != 0)
		return PGR_EXIT_FAIL;
	{
		StateEvent	ev = {"published", run->st.active_role, run->st.pending_role,
		run->st.pending_generation, run->o->reason, NULL};

		/* one statement: no transaction block needed */
		if (state_published(run->admin, run->t->name, &ev, &run->next, &err) != 0)
			return fail(err, "run pgrotate cycle again: it publishes the same credential",
						"cannot record the publication");
	}
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		fail(err, NULL, "cannot remove the pending file");
	log_emit(LOG_LEVEL_INFO, "published", NULL, NULL,
			 "published role %s (generation %lld) to %d sink%s",
			 run->st.pending_role, (long long) run->st.pending_generation, run->t->nsinks,
			 run->t->nsinks == 1 ? "" : "s");
	FAULT_POINT("after-publish");
	return PGR_EXIT_OK;
}

/* Refuse to revoke a role that a file sink still hands out. */
static int
sinks_hand_out(CycleRun *run, const char *role)
{
	for (int i = 0; i < run->t->nsinks; i++)
	{
		const SinkCfg *s = &run->t->sinks[i];
		char		fp[SECRET_FINGERPRINT_LEN + 1];
		char	   *srole = NULL;
		char	   *err = NULL;
		int			rc;

		if (s->type != SINK_FILE)
			continue;
		rc = sink_read_fingerprint(s, &srole, fp, &err);
		free(err);
		if (rc == 1 && strcmp(srole, role) == 0)
		{
			log_emit(LOG_LEVEL_ERROR, "sink_holds_old", NULL,
					 "something rewrote the sink; run pgrotate cycle again after checking it",
					 "refusing to revoke role %s: sink %s still hands it out", role, s->path);
			free(srole);
			return 1;
		}
		free(srole);
	}
	return 0;
}

/* Terminate what is left of role on every node and pooler; record it. */
static void
terminate_sessions(CycleRun *run, const DrainNodes *w, const char *role)
{
	int			unkillable = 0;
	int			total = drain_terminate_all(w, role, &unkillable);

	if (total > 0)
	{
		char	   *d = xasprintf("%d session%s", total, total == 1 ? "" : "s");

		log_emit(LOG_LEVEL_WARNING, "terminated", NULL, NULL,
				 "terminated %s of role %s", d, role);
		history(run, "terminated", role, NULL, run->st.generation, d);
		free(d);
	}
	if (unkillable > 0)
	{
		char	   *d = xasprintf("%d pooler client%s left connected (PgBouncer cannot disconnect one client)",
								  unkillable, unkillable == 1 ? "" : "s");

		history(run, "pooler_clients_left", role, NULL, run->st.generation, d);
		free(d);
	}
}

/*
 * Wait for the old role to drain. PGR_EXIT_OK when it may be revoked now,
 * else the exit code (drain timeout under the fail policy, interrupted).
 */
static int
wait_drained(CycleRun *run, const DrainNodes *w, const char *old)
{
	const Settings *s = &run->t->s;
	DrainSpec	spec = {w, old, 0, s->drain_timeout_ms, s->poll_interval_ms, run->o->stop, false};
	SessionList left = {0};
	char	   *err = NULL;
	char	   *who;
	DrainResult res;

	if (run->o->emergency)
		spec.timeout_ms = s->emergency_grace_ms;
	else
		spec.overlap_left_ms = run->st.publish_started_ms + s->min_overlap_ms - run->st.server_now_ms;
	res = drain_wait(&spec, &left, &err);
	who = sessionlist_describe(&left, 10);
	sessionlist_free(&left);
	if (res == DRAIN_TIMEOUT && (run->o->emergency || s->on_drain_timeout == DRAIN_TERMINATE))
	{
		terminate_sessions(run, w, old);
		spec.overlap_left_ms = 0;
		spec.timeout_ms = STRAGGLER_WAIT_MS;
		/* pooler clients that could not be disconnected do not hold the revoke */
		spec.servers_only = true;
		res = drain_wait(&spec, &left, &err);
		sessionlist_free(&left);
	}
	switch (res)
	{
		case DRAIN_DONE:
			free(who);
			history(run, "drained", old, NULL, run->st.generation, NULL);
			return PGR_EXIT_OK;
		case DRAIN_TIMEOUT:
			log_emit(LOG_LEVEL_ERROR, "drain_timeout", who,
					 "end those sessions (or set on_drain_timeout = \"terminate\") and run pgrotate cycle again to finish",
					 "drain timeout: role %s still has sessions; the new credential is published and %s stays valid",
					 old, old);
			history(run, "drain_timeout", old, NULL, run->st.generation, who);
			free(who);
			return PGR_EXIT_DRAIN_TIMEOUT;
		case DRAIN_INTERRUPTED:
			log_emit(LOG_LEVEL_ERROR, "interrupted", NULL,
					 "run pgrotate cycle again to finish the drain",
					 "interrupted while draining role %s: the new credential is published, %s stays valid",
					 old, old);
			free(who);
			return PGR_EXIT_FAIL;
		default:
			free(who);
			return fail(err, "the error names the node: bring it back (a replica or pooler may also be removed from the target) and run pgrotate cycle again; nothing was revoked",
						"cannot poll the sessions");
	}
}

/* Report (and under the terminate policy end) logins that beat the revoke. */
static void
report_stragglers(CycleRun *run, const DrainNodes *w, const char *old)
{
	SessionList left = {0};
	char	   *err = NULL;
	char	   *who;

	for (int k = 0; k < w->nnodes + w->npoolers; k++)
		if ((k < w->nnodes ? drain_list_sessions(w->nodes[k], old, &left, &err)
			 : pooler_poll(w->poolers[k - w->nnodes], old, false, false, &left, &err)) != 0)
		{
			log_warning("could not re-check the sessions of %s: %s", old, err);
			free(err);
			err = NULL;
		}
	if (left.n > 0)
	{
		who = sessionlist_describe(&left, 10);
		log_emit(LOG_LEVEL_WARNING, "stragglers", who,
				 run->o->emergency || run->t->s.on_drain_timeout == DRAIN_TERMINATE ? NULL :
				 "they keep working until they disconnect; \"pgrotate revoke TARGET ROLE --terminate\" ends them",
				 "%d session%s of role %s logged in before the revoke", left.n,
				 left.n == 1 ? "" : "s", old);
		history(run, "stragglers", old, NULL, run->st.generation, who);
		free(who);
		if (run->o->emergency || run->t->s.on_drain_timeout == DRAIN_TERMINATE)
			terminate_sessions(run, w, old);
	}
	sessionlist_free(&left);
}

static int
step_drain_revoke(CycleRun *run)
{
	const char *old = run->st.standby_role;
	DrainNodes	w = {0};
	RoleInfo	info;
	char	   *err = NULL;
	int			rc;

	if (roles_get(run->admin, old, &info, &err) != 0)
		return fail(err, NULL, "cannot look up the old role");
	/* A role that never could log in has nothing to drain (first init). */
	if (drain_nodes_open(run->t, run->admin, info.exists && info.canlogin, &w, &err) != 0)
		return fail(err, "start that node, or remove it from the target's replicas or poolers, and run pgrotate cycle again; nothing was revoked",
					"cannot reach every node to drain");
	if (info.exists && info.canlogin && (rc = wait_drained(run, &w, old)) != PGR_EXIT_OK)
		goto done;
	rc = PGR_EXIT_FAIL;
	if (sinks_hand_out(run, old))
		goto done;
	rc = db_begin(run->admin, &err);
	if (rc == 0 && info.exists)
		rc = rolesql_revoke(run->admin, old, NULL, &err);
	if (rc == 0)
	{
		StateEvent	ev = {"revoked", old, run->st.active_role, run->st.generation,
		run->o->reason, NULL};

		rc = state_cycle_done(run->admin, run->t->name, &ev, &run->next, &err);
	}
	if (commit_or_rollback(run, rc, &err) != 0)
	{
		rc = fail(err, "run pgrotate cycle again to finish", "cannot revoke the old role");
		goto done;
	}
	FAULT_POINT("after-revoke");
	if (info.canlogin)
		log_emit(LOG_LEVEL_INFO, "revoked", NULL, NULL,
				 "revoked role %s (NOLOGIN, no password); active role is %s, generation %lld",
				 old, run->st.active_role, (long long) run->st.generation);
	else
		log_emit(LOG_LEVEL_INFO, "revoked", NULL, NULL,
				 "role %s could not log in, nothing to drain; it is the standby now; active role is %s, generation %lld",
				 old, run->st.active_role, (long long) run->st.generation);
	report_stragglers(run, &w, old);
	rc = PGR_EXIT_OK;
done:
	drain_nodes_close(&w);
	return rc;
}

/* Is an idle target due for rotation (by the server's clock)? */
static bool
is_due(const CycleRun *run)
{
	if (run->st.generation == 0 || run->st.rotated_at == 0)
		return true;
	return run->st.server_now_ms >= (run->st.rotated_at * 1000 + run->t->s.rotation_interval_ms);
}

/*
 * Before a new cycle: the standby must not be in use. Someone may have
 * given it LOGIN by hand; new sessions on it would break when we set a
 * new password, so refuse while it has sessions.
 */
static int
standby_verdict(CycleRun *run, SessionList *l)
{
	char	   *who;

	if (l->n == 0)
	{
		sessionlist_free(l);
		return PGR_EXIT_OK;
	}
	who = sessionlist_describe(l, 10);
	log_emit(LOG_LEVEL_ERROR, "standby_in_use", who,
			 "find out who uses it; \"pgrotate revoke TARGET ROLE --terminate\" ends them",
			 "the standby role %s has %d session%s although it should not be in use; nothing was changed",
			 run->st.standby_role, l->n, l->n == 1 ? "" : "s");
	free(who);
	sessionlist_free(l);
	return PGR_EXIT_FAIL;
}

static int
standby_unused(CycleRun *run)
{
	SessionList l = {0};
	char	   *err = NULL;

	if (drain_list_sessions(run->admin, run->st.standby_role, &l, &err) != 0)
		return fail(err, NULL, "cannot check the standby role's sessions");
	return standby_verdict(run, &l);
}

static int
execute_step(CycleRun *run, bool *finished)
{
	switch (run->st.phase)
	{
		case PHASE_IDLE:
			if (*finished)
				return PGR_EXIT_OK;
			return step_provision(run);
		case PHASE_PROVISIONED:
			return step_verify(run);
		case PHASE_VERIFIED:
			return step_publish(run);
		case PHASE_DRAINING:
			{
				int			rc = step_drain_revoke(run);

				*finished = (rc == PGR_EXIT_OK);
				return rc;
			}
		default:
			log_emit(LOG_LEVEL_ERROR, "bad_state", NULL,
					 "someone edited pgrotate.state; restore the phase from pgrotate.history",
					 "target %s is in unknown phase \"%s\"; nothing was changed",
					 run->t->name, run->st.phase_text);
			return PGR_EXIT_FAIL;
	}
}

/*
 * After a step: the state its committed change read back, else (a step
 * that changed no phase) the row loaded again.
 */
static int
next_state(CycleRun *run)
{
	if (run->next.target == NULL)
		return load_state(run, false);
	state_row_free(&run->st);
	run->st = run->next;
	memset(&run->next, 0, sizeof(run->next));
	return PGR_EXIT_OK;
}

int
cycle_execute(CycleRun *run)
{
	bool		finished = false;
	int			rc;

	if (run->st.phase != PHASE_IDLE)
	{
		log_emit(LOG_LEVEL_INFO, "resumed", NULL, NULL,
				 "resuming the cycle of target %s in phase %s", run->t->name,
				 phase_name(run->st.phase));
		history(run, "resumed", NULL, NULL, run->st.generation, phase_name(run->st.phase));
	}
	else if (run->o->due_only && !is_due(run))
	{
		log_info("not due: rotated %lld s ago", (long long) (run->st.server_now_ms / 1000 - run->st.rotated_at));
		return PGR_EXIT_OK;
	}
	for (;;)
	{
		if (run->o->stop && *run->o->stop)
		{
			log_error("interrupted in phase %s; run pgrotate cycle again to resume",
					  phase_name(run->st.phase));
			return PGR_EXIT_FAIL;
		}
		if (run->st.phase == PHASE_DRAINING && run->o->no_wait)
		{
			log_info("--no-wait: stopping in phase draining; run pgrotate cycle %s later to finish",
					 run->t->name);
			return PGR_EXIT_OK;
		}
		rc = execute_step(run, &finished);
		if (rc != PGR_EXIT_OK)
			return rc;
		if ((rc = next_state(run)) != PGR_EXIT_OK)
			return rc;
		/* a cycle found in progress ends this run, finished or rolled back */
		if ((finished || run->rolled_back) && run->st.phase == PHASE_IDLE)
			return PGR_EXIT_OK;
	}
}

/* Forget a prepared credential that will not be used (nothing committed). */
static void
discard_prepared(CycleRun *run)
{
	char	   *err = NULL;

	secret_free(run->password);
	free(run->verifier);
	run->password = run->verifier = NULL;
	run->prepared = false;
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		fail(err, NULL, "cannot remove the pending file");
}

/*
 * For a new rotation: the setup checks and the standby's sessions are
 * asked in one batch, and while the server answers, the password is saved
 * and its verifier computed (client work of a few milliseconds). Nothing
 * reaches the server before the answers are in; if they refuse, the
 * unused pending file is removed.
 */
static int
check_and_prepare(CycleRun *run)
{
	enum {NQ = ROLES_SETUP_NQUERIES + 1};
	const char *standby = run->st.standby_role;
	SetupQueries sq;
	DbQuery		q[NQ];
	DbRes	   *res[NQ];
	CheckList	l = {0};
	SessionList sessions = {0};
	char	   *err = NULL;
	int			prc,
				rc;

	roles_setup_queries(run->admin, run->t, &sq);
	memcpy(q, sq.q, sizeof(sq.q));
	drain_sessions_query(&standby, &q[NQ - 1]);
	if (db_batch_send(run->admin, q, NQ, &err) != 0)
		return fail(err, NULL, "cannot check the roles");
	prc = prepare_credential(run);
	if (db_batch_collect(run->admin, q, NQ, res, &err) != 0)
		rc = fail(err, NULL, "cannot check the roles");
	else if ((rc = roles_setup_evaluate(run->admin, run->t, res, &l, &err)) != 0)
	{
		checklist_free(&l);
		rc = fail(err, NULL, "cannot check the roles");
	}
	else if ((rc = setup_verdict(run, &l)) == PGR_EXIT_OK)
	{
		drain_sessions_read(run->admin, res[NQ - 1], &sessions);
		rc = standby_verdict(run, &sessions);
	}
	for (int i = 0; i < NQ; i++)
		db_res_free(res[i]);
	if (rc == PGR_EXIT_OK)
		rc = prc;
	if (rc == PGR_EXIT_OK)
		run->prepared = true;
	else if (prc == PGR_EXIT_OK)
		discard_prepared(run);
	return rc;
}

int
cycle_run(const Config *cfg, const Target *t, const CycleOpts *o)
{
	CycleRun	run;
	int			rc;

	rc = cycle_open(&run, cfg, t, o);
	/* a dry run changes nothing, not even the lock holder columns */
	if (rc == PGR_EXIT_OK)
		rc = load_state(&run, !o->dry_run);
	if (rc == PGR_EXIT_OK && !o->dry_run && run.st.phase == PHASE_IDLE &&
		!(o->due_only && !is_due(&run)))
		rc = check_and_prepare(&run);
	else if (rc == PGR_EXIT_OK)
		rc = cycle_check_setup(&run);
	if (rc == PGR_EXIT_OK && o->dry_run)
		rc = cycle_print_plan(&run);
	else if (rc == PGR_EXIT_OK)
		rc = cycle_execute(&run);
	cycle_close(&run);
	return rc;
}
