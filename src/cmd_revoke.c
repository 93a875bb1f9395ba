/*
 * cmd_revoke.c: "pgrotate revoke TARGET ROLE [--terminate] [--reason TEXT]":
 * incident response. ALTER ROLE ROLE NOLOGIN PASSWORD NULL now, under the
 * target's lock, recorded in the history in the same transaction. Refuses
 * the active role, a role a file sink hands out, and a role whose
 * credential is being published. Revoking the old role of a cycle that is
 * draining finishes that cycle (phase idle); revoking the standby of a
 * cycle that has not started publishing rolls that cycle back.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_admin.h"
#include "commands.h"
#include "cycle.h"
#include "db.h"
#include "drain.h"
#include "exitcode.h"
#include "log.h"
#include "pending.h"
#include "rolesql.h"
#include "secret.h"
#include "sink.h"
#include "state.h"
#include "util.h"

#define TERMINATE_WAIT_MS 5000	/* for terminated backends to go away */
#define POLL_MS 100

typedef struct Revoke
{
	const Config *cfg;
	const Target *t;
	const char *role;
	bool		terminate;
	const char *reason;
	DbConn	   *admin;
	StateRow	st;
	DrainNodes	where;			/* primary (admin), replicas, poolers */
	bool		locked;			/* rv->admin holds the target's lock */
} Revoke;

/*
 * Connect to the control database, refuse a schema that is not the
 * admin's own, and take the target's lock (state_open_locked); a failure
 * is logged.
 */
static int
open_locked(Revoke *rv)
{
	StateOpen	so = {0};
	char	   *err = NULL;
	int			rc;

	so.mode = STATE_LOCK_CLAIM;
	rc = state_open_locked(rv->t, &so, &err);
	rv->admin = so.c;
	if (rc < 0)
	{
		if (so.failed == STATE_OPEN_TRANSPORT)
			log_emit(LOG_LEVEL_ERROR, "failed", NULL, NULL, "%s; nothing was revoked", err);
		else
		{
			char	   *hint = check_admin_state_hint(so.c, rv->t->name);

			log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint,
					 "cannot take the lock of target \"%s\": %s; nothing was revoked",
					 rv->t->name, err);
			free(hint);
		}
		free(err);
		return PGR_EXIT_FAIL;
	}
	if (rc == 2)
	{
		log_emit(LOG_LEVEL_ERROR, "not_initialised", NULL, NULL,
				 "target \"%s\" has no state row, or a pgrotate schema older than this pgrotate; run \"pgrotate init %s\"; nothing was revoked",
				 rv->t->name, rv->t->name);
		return PGR_EXIT_FAIL;
	}
	if (rc == 1)
	{
		log_emit(LOG_LEVEL_ERROR, "locked", NULL,
				 "Wait for that run to finish, then revoke again.",
				 "another pgrotate run holds target \"%s\": %s; nothing was revoked",
				 rv->t->name, so.holder);
		free(so.holder);
		return PGR_EXIT_LOCKED;
	}
	rv->locked = true;
	return PGR_EXIT_OK;
}

static int
load_state(Revoke *rv)
{
	char	   *err = NULL;
	int			version = 0;
	bool		found = false;

	if (state_schema_version(rv->admin, &version, &err) != 0 ||
		(version > 0 && state_load(rv->admin, rv->t->name, &rv->st, &found, &err) != 0))
	{
		char	   *hint = check_admin_state_hint(rv->admin, rv->t->name);

		log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint, "cannot read the state: %s", err);
		free(hint);
		free(err);
		return PGR_EXIT_FAIL;
	}
	if (!found)
	{
		log_emit(LOG_LEVEL_ERROR, "not_initialised", NULL, NULL,
				 "target \"%s\" is not initialised; run \"pgrotate init %s\"",
				 rv->t->name, rv->t->name);
		return PGR_EXIT_FAIL;
	}
	if (state_check_roles(&rv->st, rv->t->group_role, rv->t->roles[0],
						  rv->t->roles[1], &err) != 0)
	{
		log_emit(LOG_LEVEL_ERROR, "config_mismatch", NULL, NULL,
				 "target \"%s\": %s; nothing was revoked", rv->t->name, err);
		free(err);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/* The active role, a role of another state, a credential being published. */
static int
refuse_by_state(const Revoke *rv)
{
	const StateRow *st = &rv->st;
	const char *name = rv->t->name;
	char	   *hint = NULL;
	int			rc = PGR_EXIT_FAIL;

	if (strcmp(rv->role, st->active_role) == 0)
	{
		hint = xasprintf("To replace it, run \"pgrotate cycle %s\" (with --emergency to end its sessions); then revoke the old role.", name);
		log_emit(LOG_LEVEL_ERROR, "refused", NULL, hint,
				 "refusing to revoke role \"%s\": it is the active role of target \"%s\" (generation %lld), the one applications are given; nothing was changed",
				 rv->role, name, (long long) st->generation);
	}
	else if (strcmp(rv->role, st->standby_role) != 0)
		log_emit(LOG_LEVEL_ERROR, "config_mismatch", NULL, NULL,
				 "refusing to revoke role \"%s\": the state of target \"%s\" names roles \"%s\" and \"%s\"",
				 rv->role, name, st->active_role, st->standby_role);
	else if ((st->phase == PHASE_PROVISIONED || st->phase == PHASE_VERIFIED) &&
			 st->publish_started_ms != 0)
	{
		hint = xasprintf("Run \"pgrotate cycle %s\" to finish publishing; then role \"%s\" is active and \"%s\" can be revoked.",
						 name, rv->role, st->active_role);
		log_emit(LOG_LEVEL_ERROR, "refused", NULL, hint,
				 "refusing to revoke role \"%s\": its new credential is being published (phase %s), so sinks may already hand it out; nothing was changed",
				 rv->role, st->phase_text);
	}
	else
		rc = PGR_EXIT_OK;
	free(hint);
	return rc;
}

/* A file sink that hands out the role refuses the revoke. */
static int
refuse_by_sinks(const Revoke *rv)
{
	const SinkCfg *s = sink_handing_out(rv->t, rv->role);
	char	   *hint;

	if (s == NULL)
		return PGR_EXIT_OK;
	hint = xasprintf("Something rewrote the sink: run \"pgrotate cycle %s\" to publish a credential again, then revoke.",
					 rv->t->name);
	log_emit(LOG_LEVEL_ERROR, "refused", NULL, hint,
			 "refusing to revoke role \"%s\": sink \"%s\" hands it out to applications; nothing was changed",
			 rv->role, s->path);
	free(hint);
	return PGR_EXIT_FAIL;
}

/* What the revoke does to the state, for the history (malloc'd). */
static char *
state_change(const Revoke *rv, char **err, int *rc)
{
	const StateRow *st = &rv->st;

	*rc = 0;
	if (st->phase == PHASE_DRAINING)
	{
		*rc = state_cycle_done(rv->admin, rv->t->name, NULL, NULL, err);
		return xstrdup("pgrotate revoke: the old role of the draining cycle, which ends now (phase idle)");
	}
	if (st->phase == PHASE_PROVISIONED || st->phase == PHASE_VERIFIED)
	{
		*rc = state_rolled_back(rv->admin, rv->t->name, NULL, NULL, err);
		return xasprintf("pgrotate revoke: the unpublished standby; the cycle in phase %s is rolled back (phase idle)",
						 st->phase_text);
	}
	return xstrdup("pgrotate revoke: the standby");
}

/* One transaction: the ALTER ROLE, the state, the history. */
static int
do_revoke(Revoke *rv)
{
	char	   *err = NULL;
	char	   *detail = NULL;
	int			rc;

	rc = db_begin(rv->admin, &err);
	if (rc == 0)
		rc = rolesql_revoke(rv->admin, rv->role, NULL, &err);
	if (rc == 0)
		detail = state_change(rv, &err, &rc);
	if (rc == 0)
		rc = state_history(rv->admin, rv->t->name, "revoked", rv->role, rv->st.active_role,
						   rv->st.generation, rv->reason, detail, &err);
	if (rc == 0)
		rc = db_commit(rv->admin, &err);
	if (rc != 0)
	{
		db_rollback(rv->admin);
		log_emit(LOG_LEVEL_ERROR, "failed", NULL, NULL,
				 "cannot revoke role \"%s\": %s; nothing was changed", rv->role, err);
		free(err);
		free(detail);
		return PGR_EXIT_FAIL;
	}
	if (rv->st.phase == PHASE_PROVISIONED || rv->st.phase == PHASE_VERIFIED)
	{
		if (pending_remove(rv->cfg->state_dir, rv->t->name, &err) != 0)
		{
			log_warning("cannot remove the pending credential: %s", err);
			free(err);
		}
	}
	log_emit(LOG_LEVEL_INFO, "revoked", detail, NULL,
			 "revoked role \"%s\" of target \"%s\" (NOLOGIN, no password); the active role is \"%s\"",
			 rv->role, rv->t->name, rv->st.active_role);
	free(detail);
	return PGR_EXIT_OK;
}

/*
 * The primary, every replica and every pooler; when one cannot be reached,
 * an error naming it and the primary alone (PGR_EXIT_FAIL).
 */
static int
open_nodes(Revoke *rv)
{
	char	   *err = NULL;

	if (drain_nodes_open(rv->t, rv->admin, true, &rv->where, &err) == 0)
		return PGR_EXIT_OK;
	log_emit(LOG_LEVEL_ERROR, "node_unreachable", err, NULL,
			 "the sessions of role \"%s\" can only be %s on the primary",
			 rv->role, rv->terminate ? "terminated" : "listed");
	free(err);
	err = NULL;
	if (drain_nodes_open(rv->t, rv->admin, false, &rv->where, &err) != 0)
		free(err);				/* cannot fail without others */
	return PGR_EXIT_FAIL;
}

/* Sessions of the role left, polled until none or TERMINATE_WAIT_MS. */
static int
sessions_left(Revoke *rv, int64_t wait_ms, SessionList *left)
{
	int64_t		deadline = clock_mono_ms() + wait_ms;
	char	   *err = NULL;

	for (;;)
	{
		if (drain_snapshot(&rv->where, rv->role, false, false, left, &err) != 0)
		{
			log_warning("cannot list the sessions of role \"%s\": %s", rv->role, err);
			free(err);
			return -1;
		}
		if (left->n == 0 || clock_mono_ms() >= deadline)
			return 0;
		sleep_ms(POLL_MS, NULL);
	}
}

static int
terminate_sessions(Revoke *rv)
{
	SessionList left = {0};
	int			unkillable = 0;
	int			total = drain_terminate_all(&rv->where, rv->role, &unkillable);
	int			rc = PGR_EXIT_OK;

	if (total > 0)
	{
		char	   *d = xasprintf("%d session%s", total, total == 1 ? "" : "s");
		char	   *err = NULL;

		log_emit(LOG_LEVEL_WARNING, "terminated", NULL, NULL, "terminated %s of role \"%s\"", d, rv->role);
		if (state_history(rv->admin, rv->t->name, "terminated", rv->role, NULL,
						  rv->st.generation, rv->reason, d, &err) != 0)
		{
			log_warning("could not record the termination in the history: %s", err);
			free(err);
		}
		free(d);
	}
	if (sessions_left(rv, TERMINATE_WAIT_MS, &left) != 0)
		rc = PGR_EXIT_FAIL;
	else if (left.n > 0)
	{
		char	   *who = sessionlist_describe(&left, 10);

		log_emit(LOG_LEVEL_ERROR, "sessions_left", who,
				 "The admin needs membership in pg_signal_backend; superuser sessions are never terminated.",
				 "%d session%s of role \"%s\" could not be terminated", left.n,
				 left.n == 1 ? "" : "s", rv->role);
		free(who);
		rc = PGR_EXIT_FAIL;
	}
	sessionlist_free(&left);
	return rc;
}

/* Without --terminate: say who still works as the revoked role. */
static void
report_sessions(Revoke *rv)
{
	SessionList l = {0};

	if (sessions_left(rv, 0, &l) == 0 && l.n > 0)
	{
		char	   *who = sessionlist_describe(&l, 10);
		char	   *hint = xasprintf("They keep working until they disconnect; \"pgrotate revoke %s %s --terminate\" ends them.",
									 rv->t->name, rv->role);

		log_emit(LOG_LEVEL_WARNING, "sessions_left", who, hint,
				 "%d session%s of role \"%s\" still open", l.n, l.n == 1 ? "" : "s", rv->role);
		free(hint);
		free(who);
	}
	sessionlist_free(&l);
}

static int
run_revoke(Revoke *rv)
{
	int			rc;

	log_set_target(rv->t->name);
	if ((rc = open_locked(rv)) != PGR_EXIT_OK ||
		(rc = load_state(rv)) != PGR_EXIT_OK ||
		(rc = refuse_by_state(rv)) != PGR_EXIT_OK ||
		(rc = refuse_by_sinks(rv)) != PGR_EXIT_OK ||
		(rc = do_revoke(rv)) != PGR_EXIT_OK)
		return rc;
	rc = open_nodes(rv);
	if (rv->terminate)
	{
		if (terminate_sessions(rv) != PGR_EXIT_OK)
			rc = PGR_EXIT_FAIL;
	}
	else
		report_sessions(rv);
	return rc;
}

static const struct option options[] = {
	{"terminate", no_argument, NULL, 't'},
	{"reason", required_argument, NULL, 'r'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_revoke_command, "TARGET ROLE [--terminate] [--reason TEXT]",
				   "      --terminate     terminate the role's sessions too\n"
				   "      --reason=TEXT   recorded in the history\n");
}

const Command cmd_revoke_command = {
	.name = "revoke", .optstring = ":", .options = options, .run = cmd_revoke, .usage = usage,
	.summary = "revoke a role that is not active, now",
};

static int
parse_args(int argc, char **argv, Revoke *rv, char ***rest)
{
	int			c;

	while ((c = cmd_getopt(argc, argv, cmd_revoke_command.optstring, options)) != -1)
	{
		if (c == 't')
			rv->terminate = true;
		else if (c == 'r')
			rv->reason = optarg;
		else
			return cmd_option_error("revoke", c, argv);
	}
	if (argc - optind != 2)
		return cmd_usage_error("revoke", "name a target and a role");
	*rest = argv + optind;
	return PGR_EXIT_OK;
}

int
cmd_revoke(int argc, char **argv, const GlobalOpts *g)
{
	Revoke		rv;
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	char	  **rest = NULL;
	int			n,
				rc;

	memset(&rv, 0, sizeof(rv));
	if ((rc = parse_args(argc, argv, &rv, &rest)) != PGR_EXIT_OK)
		return rc;
	rc = cmd_load_targets(g, 1, rest, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
	{
		rv.cfg = cfg;
		rv.t = targets[0];
		rv.role = rest[1];
		if (strcmp(rv.role, rv.t->roles[0]) != 0 && strcmp(rv.role, rv.t->roles[1]) != 0)
			rc = cmd_usage_error("revoke", "role \"%s\" is not a login role of target \"%s\" (its roles: \"%s\", \"%s\")",
								 rv.role, rv.t->name, rv.t->roles[0], rv.t->roles[1]);
		else
			rc = run_revoke(&rv);
	}
	drain_nodes_close(&rv.where);
	if (rv.locked)
		state_unlock(rv.admin, rv.t->name);
	db_close(rv.admin);
	state_row_free(&rv.st);
	free(targets);
	cfg_free(cfg);
	return rc;
}
