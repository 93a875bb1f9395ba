/*
 * cycle.c: the rotation state machine. Each step ends with a commit of
 * the phase it reached, in the same transaction as the role change it
 * made, so a run killed anywhere is resumed by the next one from the
 * durable state (pgrotate.state plus the pending file). Here: opening a
 * run, the setup checks, the provision and verify steps and the loop;
 * publishing is in cycle_publish.c, draining and revoking in
 * cycle_drain.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_admin.h"
#include "checklist.h"
#include "cycle.h"
#include "cycle_steps.h"
#include "drain.h"
#include "duration.h"
#include "exitcode.h"
#include "fault.h"
#include "log.h"
#include "pending.h"
#include "pooler.h"
#include "roles.h"
#include "roles_parity.h"
#include "rolesql.h"
#include "secret.h"
#include "sink.h"
#include "util.h"
#include "verify.h"

/* How long a fleet worker waits for the coordinator's RELOAD. */
#define FLEET_ANSWER_MS 120000

/* Log err (and free it) as an error with a hint; return PGR_EXIT_FAIL. */
int
cycle_fail(char *err, const char *hint, const char *what)
{
	log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint, "%s: %s", what,
			 err ? err : "unknown error");
	free(err);
	return PGR_EXIT_FAIL;
}

int
cycle_failf(char *err, const char *what, const char *hint_fmt,...)
{
	va_list		ap;
	char	   *hint;
	int			rc;

	va_start(ap, hint_fmt);
	if (vasprintf(&hint, hint_fmt, ap) < 0)
		hint = NULL;
	va_end(ap);
	rc = cycle_fail(err, hint, what);
	free(hint);
	return rc;
}

/* The lock's answer rc (state_lock) as an exit code, logged. */
static int
lock_verdict(CycleRun *run, int rc, char *holder, char *err)
{
	if (rc < 0)
		return cycle_fail(err, NULL, "cannot take the target's lock");
	if (rc == 1 && run->o->due_only)
	{
		/* redundant runners (doc/fleet.md): the holder rotates it */
		log_emit(LOG_LEVEL_INFO, "locked_elsewhere", NULL, NULL,
				 "skipped: another pgrotate run holds target \"%s\" (%s); with --due that run rotates it",
				 run->t->name, holder);
		free(holder);
		return PGR_EXIT_LOCKED;
	}
	if (rc == 1)
	{
		log_emit(LOG_LEVEL_ERROR, "locked", NULL,
				 "Wait for that run to finish; a cycle it leaves unfinished is resumed by the next run.",
				 "another pgrotate run holds target \"%s\": %s", run->t->name, holder);
		free(holder);
		return PGR_EXIT_LOCKED;
	}
	run->locked = rc == 0;
	run->lock_deferred = rc == 2;
	return PGR_EXIT_OK;
}

int
cycle_claim(CycleRun *run)
{
	char	   *holder = NULL;
	char	   *err = NULL;
	int			rc = state_lock(run->admin, run->t->name, &holder, &err);

	if (rc == 2)
	{
		log_emit(LOG_LEVEL_ERROR, "failed", NULL, NULL,
				 "cannot take the lock of target \"%s\": its state row is missing", run->t->name);
		return PGR_EXIT_FAIL;
	}
	return lock_verdict(run, rc, holder, err);
}

int
cycle_require_lock(CycleRun *run)
{
	if (run->locked || run->o->dry_run)
		return PGR_EXIT_OK;
	log_emit(LOG_LEVEL_ERROR, "schema_outdated", NULL, NULL,
			 "the pgrotate schema of target \"%s\" predates this pgrotate's lock; run \"pgrotate init %s\" to upgrade it (it changes nothing else)",
			 run->t->name, run->t->name);
	return PGR_EXIT_FAIL;
}

/*
 * A failure of state_open_locked at step f, logged with hint (freed) or
 * the default hint of f: PGR_EXIT_FAIL.
 */
static int
open_failed(StateOpenFail f, char *err, char *hint)
{
	const char *what = "cannot take the target's lock";
	const char *h = hint;
	int			rc;

	switch (f)
	{
		case STATE_OPEN_TRANSPORT:
			what = "refusing to connect, nothing was changed";
			break;
		case STATE_OPEN_CONNECT:
			what = "cannot connect to the control database";
			h = "check the target's admin conninfo; its password comes from ~/.pgpass, PGPASSFILE or a service file";
			break;
		case STATE_OPEN_TRUST:
			what = "refusing the target's state schema";
			break;
		case STATE_OPEN_LOCK:
			break;
	}
	rc = cycle_fail(err, h, what);
	free(hint);
	return rc;
}

int
cycle_open(CycleRun *run, const Config *cfg, const Target *t,
		   const CycleOpts *o)
{
	StateOpen	so = {0};
	char	   *err = NULL;
	int			rc;

	memset(run, 0, sizeof(*run));
	run->cfg = cfg;
	run->t = t;
	run->o = o;
	log_set_target(t->name);
	/* a dry run changes nothing, not even the lock: it only looks */
	so.mode = o->dry_run ? STATE_LOCK_LOOK :
		o->lock_pid > 0 ? STATE_LOCK_AS : STATE_LOCK_CLAIM;
	so.as_pid = o->lock_pid;	/* a fleet worker: the claim is the hub's */
	so.as_start = o->lock_start;
	so.trusted = o->checked;
	rc = state_open_locked(t, &so, &err);
	run->admin = so.c;
	if (rc < 0)
		return open_failed(so.failed, err, check_admin_state_hint(so.c, t->name));
	if ((rc = lock_verdict(run, rc, so.holder, err)) != PGR_EXIT_OK)
		return rc;
	/* a dry run creates nothing, not even state_dir */
	if (!o->dry_run && statedir_ensure(cfg->state_dir, &err) != 0)
		return cycle_fail(err, NULL, "state_dir is not usable");
	return PGR_EXIT_OK;
}

DbConn *
cycle_connect_admin_conninfo(const char *conninfo, char **err)
{
	return state_connect(conninfo, err);
}

void
cycle_close(CycleRun *run)
{
	secret_free(run->password);
	secret_free(run->verifier);
	run->password = run->verifier = NULL;
	log_forget_secrets();		/* the redaction list's copies, wiped */
	/*
	 * A fleet worker's claim is its hub's: it stays while the target drains
	 * between the two workers, and is given back once the target is idle.
	 */
	if (run->locked && run->o->lock_pid > 0 && run->have_state && run->st.phase == PHASE_IDLE)
		state_unlock_as(run->admin, run->t->name, run->o->lock_pid);
	else if (run->locked && run->o->lock_pid <= 0)
		state_unlock(run->admin, run->t->name);
	state_row_free(&run->st);
	state_row_free(&run->next);
	db_close(run->admin);
	run->admin = NULL;
}

int
cycle_check_roles(CycleRun *run)
{
	const Target *t = run->t;
	char	   *why = NULL;

	if (state_check_roles(&run->st, t->group_role, t->roles[0], t->roles[1], &why) == 0)
		return PGR_EXIT_OK;
	log_emit(LOG_LEVEL_ERROR, "config_mismatch", NULL,
			 "Restore the roles in the configuration; renaming roles needs a new target.",
			 "target \"%s\": %s; nothing was changed", t->name, why);
	free(why);
	return PGR_EXIT_FAIL;
}

/* (Re)load the state row; it must exist and match the configuration. */
static int
load_state(CycleRun *run)
{
	const Target *t = run->t;
	int			version;
	bool		found = false;
	char	   *err = NULL;
	int			rc;

	state_row_free(&run->st);
	/*
	 * Read the row straight away (one round trip, not three): a missing
	 * schema or table is an uninitialised target.
	 */
	version = 1;
	if (state_load(run->admin, t->name, &run->st, &found, &err) != 0)
	{
		const char *code = db_last_sqlstate(run->admin);

		if (run->have_state ||
			(strcmp(code, "42P01") != 0 && strcmp(code, "3F000") != 0))
		{
			char	   *hint = check_admin_state_hint(run->admin, t->name);

			rc = cycle_fail(err, hint, "cannot read the state");
			free(hint);
			return rc;
		}
		free(err);
		version = 0;
	}
	if (!found)
	{
		log_emit(LOG_LEVEL_ERROR, "not_initialised", NULL, NULL,
				 "target \"%s\" is not initialised%s; run \"pgrotate init %s\"", t->name,
				 version == 0 ? " (no pgrotate schema in its database)" : "", t->name);
		return PGR_EXIT_FAIL;
	}
	run->have_state = true;
	return cycle_check_roles(run);
}

int
cycle_load(CycleRun *run)
{
	int			rc = load_state(run);

	return rc == PGR_EXIT_OK ? cycle_require_lock(run) : rc;
}

/* Log the setup check's problems (l is freed); PGR_EXIT_FAIL if any failed. */
static int
setup_verdict(CycleRun *run, CheckList *l)
{
	int			failed;

	const CheckItem *first = NULL;

	checklist_log_problems(l);
	failed = checklist_count(l, CHECK_FAIL);
	for (int i = 0; i < l->n && first == NULL; i++)
		if (l->items[i].status == CHECK_FAIL)
			first = &l->items[i];
	if (failed > 0)
		/* the first problem is named here too: this is what the state records */
		log_emit(LOG_LEVEL_ERROR, "setup", NULL,
				 "Fix the items above (\"pgrotate check\" lists them); nothing was changed.",
				 "the setup of target \"%s\" has %d problem%s, first: %s%s%s", run->t->name,
				 failed, failed == 1 ? "" : "s", first->name,
				 first->detail ? ": " : "", first->detail ? first->detail : "");
	checklist_free(l);
	return failed > 0 ? PGR_EXIT_FAIL : PGR_EXIT_OK;
}

int
cycle_check_setup(CycleRun *run)
{
	CheckList	l = {0};
	char	   *err = NULL;

	if (roles_check_setup(run->admin, run->t, run->have_state ? run->st.active_role : NULL,
						  &l, &err) != 0)
	{
		checklist_free(&l);
		return cycle_fail(err, NULL, "cannot check the roles");
	}
	return setup_verdict(run, &l);
}

int
cycle_history(CycleRun *run, const char *event, const char *from, const char *to,
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

int
cycle_interrupted(CycleRun *run)
{
	const StateRow *st = &run->st;
	bool		published = st->phase == PHASE_DRAINING;
	char	   *hint = xasprintf("Run \"pgrotate cycle %s\" to %s.", run->t->name,
								 published ? "finish the drain and revoke" : "resume it");

	if (published)
		log_emit(LOG_LEVEL_ERROR, "interrupted", NULL, hint,
				 "interrupted while draining role \"%s\": the new credential of role \"%s\" is published, \"%s\" stays valid",
				 st->standby_role, st->active_role, st->standby_role);
	else
		log_emit(LOG_LEVEL_ERROR, "interrupted", NULL, hint,
				 "interrupted in phase %s; nothing in use was revoked", st->phase_text);
	free(hint);
	return published ? PGR_EXIT_DRAIN_TIMEOUT : PGR_EXIT_FAIL;
}

/* Run fn-like SQL steps inside BEGIN/COMMIT; rolls back on error. */
int
cycle_commit_or_rollback(CycleRun *run, int rc, char **err)
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
int
cycle_load_pending(CycleRun *run)
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
		cycle_fail(err, "A corrupt pending file can be removed; the next run repairs the state.", "cannot read the pending credential");
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
		log_warning("the pending file of target \"%s\" (role \"%s\", generation %lld) does not match the state",
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
			return cycle_fail(xstrdup("the OpenSSL random generator failed"), NULL,
							  "cannot generate a password");
		}
	}
	free(prole);
	log_register_secret(run->password);
	if (pending_write(run->cfg->state_dir, run->t->name, role, gen, run->password, &err) != 0)
		return cycle_fail(err, NULL, "cannot save the pending credential (nothing was changed on the server)");
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
	secret_free(run->verifier);
	run->verifier = db_scram_verifier(run->admin, role, run->password, &err);
	if (run->verifier == NULL)
		return cycle_fail(err, NULL, "cannot compute the SCRAM verifier");
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
	char	   *mirrored = NULL;
	char	   *detail = NULL;
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
	if (rc == 0 && run->st.active_role)
		rc = parity_mirror(run->admin, run->st.active_role, role, &mirrored, &err);
	if (rc == 0)
	{
		StateEvent	ev = {"provisioned", run->st.active_role, role, gen, run->o->reason, NULL};

		if (mirrored && mirrored[0])
			ev.detail = detail = xasprintf("settings copied from %s: %s",
										   run->st.active_role, mirrored);
		rc = state_provisioned(run->admin, run->t->name, role, gen, fp, &ev,
							   &run->next, &err);
	}
	free(detail);
	if (cycle_commit_or_rollback(run, rc, &err) != 0)
	{
		free(mirrored);
		return cycle_fail(err, "The active role is untouched; fix the cause and run again.",
						  "cannot provision the standby role");
	}
	if (mirrored && mirrored[0])
		log_emit(LOG_LEVEL_INFO, "settings_copied", NULL, NULL,
				 "copied the per-role settings of \"%s\" to \"%s\": %s", run->st.active_role,
				 role, mirrored);
	free(mirrored);
	log_emit(LOG_LEVEL_INFO, "provisioned", NULL, NULL,
			 "provisioned role \"%s\" with a new password (generation %lld)", role,
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

	rc = cycle_load_pending(run);
	if (rc < 0)
		return PGR_EXIT_FAIL;
	if (rc == 0)
		return cycle_step_rollback(run, "the pending credential was lost before it was verified");
	rc = verify_credential(run->t, run->admin, role, run->password, run->o->stop, &err);
	if (rc == VERIFY_UNAVAILABLE)
	{
		/* No verdict on the credential: keep it, the next run verifies again. */
		char	   *hint = xasprintf("Bring the replica back (or remove it from the target's replicas) and run \"pgrotate cycle %s\" again: it resumes the verification.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "verify_incomplete", NULL, hint,
				 "%s; nothing was published, the active role \"%s\" is untouched", err,
				 run->st.active_role);
		free(hint);
		cycle_history(run, "verify_incomplete", NULL, role, run->st.pending_generation, err);
		free(err);
		return PGR_EXIT_FAIL;
	}
	if (rc != VERIFY_OK)
	{
		log_emit(LOG_LEVEL_ERROR, "verify_failed", NULL, NULL, "%s", err);
		rc = cycle_step_rollback(run, err);
		free(err);
		return rc == PGR_EXIT_OK ? PGR_EXIT_FAIL : rc;
	}
	{
		StateEvent	ev = {"verified", NULL, role, run->st.pending_generation,
		run->o->reason, NULL};

		/* one statement: no transaction block needed */
		if (state_set_phase(run->admin, run->t->name, PHASE_VERIFIED, &ev,
							&run->next, &err) != 0)
			return cycle_fail(err, NULL, "cannot record the verification");
	}
	log_emit(LOG_LEVEL_INFO, "verified", NULL, NULL,
			 "verified: role \"%s\" logs in and works as \"%s\"", role, run->t->group_role);
	FAULT_POINT("after-verify");
	return PGR_EXIT_OK;
}

/* Back to idle: the unpublished standby loses LOGIN and its password. */
int
cycle_step_rollback(CycleRun *run, const char *why)
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
	if (cycle_commit_or_rollback(run, rc, &err) != 0)
		return cycle_failf(err, "cannot roll back", "Run \"pgrotate cycle %s\" again to finish the rollback.",
						   run->t->name);
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		cycle_fail(err, NULL, "cannot remove the pending file");
	run->rolled_back = true;
	log_emit(LOG_LEVEL_WARNING, "rolled_back", why, NULL,
			 "rolled back: role \"%s\" is NOLOGIN again, nothing was published, active role \"%s\" is untouched",
			 role, run->st.active_role);
	return PGR_EXIT_OK;
}

/* Is an idle target due for rotation (by the server's clock)? */
static bool
is_due(const CycleRun *run)
{
	if (run->st.generation == 0 || run->st.rotated_at == 0)
		return true;
	return run->st.server_now_ms >= (run->st.rotated_at * 1000 + run->t->s.rotation_interval_ms +
									 cfg_due_offset_ms(run->t));
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
	char	   *hint;

	if (l->n == 0)
	{
		sessionlist_free(l);
		return PGR_EXIT_OK;
	}
	who = sessionlist_describe(l, 10);
	hint = xasprintf("Find out who uses it; \"pgrotate revoke %s %s --terminate\" ends them.",
					 run->t->name, run->st.standby_role);
	log_emit(LOG_LEVEL_ERROR, "standby_in_use", who, hint,
			 "the standby role \"%s\" has %d session%s although it should not be in use; nothing was changed",
			 run->st.standby_role, l->n, l->n == 1 ? "" : "s");
	free(hint);
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
		return cycle_fail(err, NULL, "cannot check the standby role's sessions");
	return standby_verdict(run, &l);
}

static int
execute_step(CycleRun *run, bool *finished)
{
	static const char *const steps[] = {"provision", "verify", "publish", "drain"};

	run->step = run->st.phase < PHASE_UNKNOWN ? steps[run->st.phase] : "state";
	switch (run->st.phase)
	{
		case PHASE_IDLE:
			if (*finished)
				return PGR_EXIT_OK;
			return step_provision(run);
		case PHASE_PROVISIONED:
			return step_verify(run);
		case PHASE_VERIFIED:
			return cycle_step_publish(run);
		case PHASE_DRAINING:
			{
				int			rc = cycle_step_drain_revoke(run);

				*finished = (rc == PGR_EXIT_OK);
				return rc;
			}
		default:
			log_emit(LOG_LEVEL_ERROR, "bad_state", NULL,
					 "Someone edited pgrotate.state; restore the phase from pgrotate.history.",
					 "target \"%s\" is in unknown phase \"%s\"; nothing was changed",
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
		return load_state(run);
	state_row_free(&run->st);
	run->st = run->next;
	memset(&run->next, 0, sizeof(run->next));
	return PGR_EXIT_OK;
}

/*
 * A fleet worker stops at the drain and tells the coordinator what to wait
 * for: "drain <target> <old role> <ms of min_overlap left>\n" (one write, shorter
 * than PIPE_BUF, so lines of several workers never mix).
 */
static int
report_draining(CycleRun *run)
{
	int64_t		left = run->st.publish_started_ms + run->t->s.min_overlap_ms -
		run->st.server_now_ms;
	char	   *line = xasprintf("drain %s %s %lld\n", run->t->name, run->st.standby_role,
								 (long long) (left > 0 ? left : 0));
	ssize_t		w = write(run->o->report_fd, line, strlen(line));

	free(line);
	if (w < 0)
	{
		log_error("cannot report the drain to the fleet run: %s", strerror(errno));
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/* The coordinator's answer on fd: "ok", or the error. 0 or -1 + *err. */
static int
read_answer(int fd, volatile int *stop, char **err)
{
	StrBuf		sb;
	char		c;
	int64_t		deadline = clock_mono_ms() + FLEET_ANSWER_MS;

	sb_init(&sb);
	for (;;)
	{
		struct pollfd pfd = {fd, POLLIN, 0};

		if ((stop && *stop) || clock_mono_ms() > deadline)
			break;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (read(fd, &c, 1) <= 0 || c == '\n')
			break;
		sb_appendc(&sb, c);
	}
	if (strcmp(sb.data, "ok") == 0)
	{
		sb_free(&sb);
		return 0;
	}
	*err = sb.len ? sb_steal(&sb) : xstrdup("the fleet run did not answer the RELOAD");
	sb_free(&sb);
	return -1;
}

int
cycle_reload_poolers(CycleRun *run, char **err)
{
	char	   *line;
	ssize_t		w;

	if (run->o->reply_fd <= 0)
		return pooler_reload_all(run->t, err);
	line = xasprintf("reload %s\n", run->t->name);
	w = write(run->o->report_fd, line, strlen(line));
	free(line);
	if (w < 0)
	{
		*err = xasprintf("cannot ask the fleet run to RELOAD the poolers: %s", strerror(errno));
		return -1;
	}
	return read_answer(run->o->reply_fd, run->o->stop, err);
}

int
cycle_execute(CycleRun *run)
{
	bool		finished = false;
	int			rc;

	if (run->st.phase != PHASE_IDLE)
	{
		log_emit(LOG_LEVEL_INFO, "resumed", NULL, NULL,
				 "resuming the cycle of target \"%s\" in phase %s", run->t->name,
				 phase_name(run->st.phase));
		cycle_history(run, "resumed", NULL, NULL, run->st.generation, phase_name(run->st.phase));
	}
	else if (run->o->due_only && !is_due(run))
	{
		char		ago[32],
					every[32];

		duration_format((run->st.server_now_ms / 1000 - run->st.rotated_at) * 1000, ago, sizeof(ago));
		duration_format(run->t->s.rotation_interval_ms, every, sizeof(every));
		log_info("not due: rotated %s ago (rotation_interval %s)", ago, every);
		return PGR_EXIT_OK;
	}
	for (;;)
	{
		if (run->o->stop && *run->o->stop)
			return cycle_interrupted(run);
		if (run->st.phase == PHASE_DRAINING && run->o->report_fd > 0)
			return report_draining(run);
		if (run->st.phase == PHASE_DRAINING && run->o->no_wait)
		{
			log_info("--no-wait: stopping in phase draining; run \"pgrotate cycle %s\" later to finish",
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
	secret_free(run->verifier);
	run->password = run->verifier = NULL;
	log_forget_secrets();		/* the redaction list's copies, wiped */
	run->prepared = false;
	if (pending_remove(run->cfg->state_dir, run->t->name, &err) != 0)
		cycle_fail(err, NULL, "cannot remove the pending file");
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
		return cycle_fail(err, NULL, "cannot check the roles");
	prc = prepare_credential(run);
	if (db_batch_collect(run->admin, q, NQ, res, &err) != 0)
		rc = cycle_fail(err, NULL, "cannot check the roles");
	else if ((rc = roles_setup_evaluate(run->admin, run->t, run->st.active_role,
											   res, &l, &err)) != 0)
	{
		checklist_free(&l);
		rc = cycle_fail(err, NULL, "cannot check the roles");
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

/*
 * --emergency and the terminate policy end sessions: without the right to,
 * the run would publish, wait, fail to terminate and leave the old role
 * valid. Refuse before anything changes.
 */
int
cycle_require_signal(CycleRun *run)
{
	char	   *fix = NULL;
	char	   *err = NULL;
	int			rc;

	if (!run->o->emergency && run->t->s.on_drain_timeout != DRAIN_TERMINATE)
		return PGR_EXIT_OK;
	if ((rc = check_admin_can_signal(run->admin, &fix, &err)) < 0)
		return cycle_fail(err, NULL, "cannot check the admin's privileges");
	if (rc == 1)
		return PGR_EXIT_OK;
	log_emit(LOG_LEVEL_ERROR, "refused", NULL, fix,
			 "%s terminates sessions, but the admin of target \"%s\" may not (pg_signal_backend); nothing was changed",
			 run->o->emergency ? "--emergency" : "on_drain_timeout = \"terminate\"", run->t->name);
	free(fix);
	return PGR_EXIT_FAIL;
}

int
cycle_record_outcome(CycleRun *run, int rc)
{
	bool		stopped = run->o->stop && *run->o->stop;
	const char *msg = log_last_error() ? log_last_error() : "unknown error";
	StateEvent	ev = {stopped ? "interrupted" : "failed", NULL, NULL,
		run->st.generation, run->o->reason, NULL};
	char	   *err = NULL;

	if (rc == PGR_EXIT_OK || rc == PGR_EXIT_LOCKED || !run->locked ||
		run->o->dry_run || run->admin == NULL || !db_is_ok(run->admin))
		return rc;
	/* the record is written even when a signal stopped the run */
	db_set_interrupt(NULL);
	if (db_in_transaction(run->admin))
		db_rollback(run->admin);
	ev.detail = run->step ? run->step : "setup";
	/* a drain timeout has its own history row (drain_timeout) */
	if (state_set_error(run->admin, run->t->name, ev.detail, msg,
						rc == PGR_EXIT_DRAIN_TIMEOUT && !stopped ? NULL : &ev, &err) != 0)
	{
		log_warning("could not record the failure in the state: %s", err);
		free(err);
	}
	db_set_interrupt(run->o->stop);
	return rc;
}

int
cycle_run(const Config *cfg, const Target *t, const CycleOpts *o)
{
	CycleRun	run;
	int			rc;

	log_clear_last_error();
	rc = cycle_open(&run, cfg, t, o);
	if (rc == PGR_EXIT_LOCKED && o->due_only)
	{
		cycle_close(&run);
		return PGR_EXIT_OK;
	}
	run.step = "setup";
	if (rc == PGR_EXIT_OK)
		rc = cycle_load(&run);
	if (rc == PGR_EXIT_OK)
		rc = cycle_require_signal(&run);
	if (rc == PGR_EXIT_OK && !o->dry_run && run.st.phase == PHASE_IDLE &&
		!(o->due_only && !is_due(&run)))
		rc = check_and_prepare(&run);
	else if (rc == PGR_EXIT_OK && !o->checked)
		rc = cycle_check_setup(&run);
	if (rc == PGR_EXIT_OK && o->dry_run)
		rc = cycle_print_plan(&run);
	else if (rc == PGR_EXIT_OK)
		rc = cycle_execute(&run);
	rc = cycle_record_outcome(&run, rc);
	cycle_close(&run);
	return rc;
}
