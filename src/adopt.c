/*
 * adopt.c: the part of "init --adopt-group" that the rotation state
 * machine does not know: the group role itself was the application's
 * login. It is drained like the old role of a cycle (min_overlap since the
 * first publish, then no session whose session user is the group on any
 * node) and revoked: NOLOGIN, no password. It keeps every object it owns
 * and every privilege; the login roles reach them through SET role.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "cycle_steps.h"
#include "checklist.h"
#include "drain.h"
#include "exitcode.h"
#include "log.h"
#include "rolesql.h"
#include "util.h"

/* Does the admin connection log in as role (session_user)? */
static int
admin_is(DbConn *c, const char *role, bool *is, char **err)
{
	const char *p[1] = {role};
	DbRes	   *r = NULL;

	if (db_exec(c, "SELECT session_user = $1::pg_catalog.name", 1, p, 1, &r, err) != 0)
		return -1;
	*is = db_bool(r, 0, 0);
	db_res_free(r);
	return 0;
}

int
adopt_refuse(CycleRun *run, const RoleInfo *group)
{
	const char *name = run->t->group_role;
	char	   *err = NULL;
	bool		is_admin = false;

	if (!group->exists)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL,
				 "Check group_role in the configuration; without --adopt-group, init creates it.",
				 "group role \"%s\" does not exist: there is nothing to adopt", name);
		return PGR_EXIT_FAIL;
	}
	if (group->superuser || group->replication || group->bypassrls)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL,
				 "Remove the attribute (as a superuser, run \"ALTER ROLE ... NO<attribute>\") and run init again.",
				 "group role \"%s\" is %s; the login roles would act with it, and an application role must not",
				 name, group->superuser ? "SUPERUSER" :
				 group->replication ? "REPLICATION" : "BYPASSRLS");
		return PGR_EXIT_FAIL;
	}
	if (admin_is(run->admin, name, &is_admin, &err) != 0)
		return cycle_fail(err, NULL, "cannot inspect the admin connection");
	if (is_admin)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL,
				 "Give pgrotate its own admin role (CREATEROLE) in the target's admin conninfo.",
				 "the admin conninfo logs in as the group role \"%s\", which adoption makes NOLOGIN",
				 name);
		return PGR_EXIT_FAIL;
	}
	/* the group's drain terminates under that policy (adopt_finish) */
	return group->canlogin ? cycle_require_signal(run) : PGR_EXIT_OK;
}

/* The "group role ... is NOLOGIN" item is skipped while the group logs in. */
static int
expect_group_login(CycleRun *run, CheckList *l, char **err)
{
	RoleInfo	group;
	char	   *qgroup;
	char	   *name;

	if (roles_get(run->admin, run->t->group_role, &group, err) != 0)
		return -1;
	if (!group.exists || !group.canlogin)
		return 0;
	if ((qgroup = db_quote_ident(run->admin, run->t->group_role, err)) == NULL)
		return -1;
	name = xasprintf("group role %s is NOLOGIN", qgroup);
	for (int i = 0; i < l->n; i++)
	{
		CheckItem  *it = &l->items[i];

		if (it->status == CHECK_FAIL && strcmp(it->name, name) == 0)
			it->status = CHECK_SKIP;
	}
	free(name);
	free(qgroup);
	return 0;
}

int
adopt_check_setup(CycleRun *run)
{
	CheckList	l = {0};
	char	   *err = NULL;
	int			failed;

	if (roles_check_setup(run->admin, run->t,
						  run->have_state ? run->st.active_role : NULL, &l, &err) != 0 ||
		expect_group_login(run, &l, &err) != 0)
	{
		checklist_free(&l);
		return cycle_fail(err, NULL, "cannot check the roles");
	}
	checklist_log_problems(&l);
	failed = checklist_count(&l, CHECK_FAIL);
	checklist_free(&l);
	if (failed > 0)
	{
		log_emit(LOG_LEVEL_ERROR, "setup", NULL,
				 "Fix the items above (\"pgrotate check\" lists them); the group role was not changed.",
				 "the setup of target \"%s\" has %d problem%s", run->t->name, failed,
				 failed == 1 ? "" : "s");
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

int
adopt_in_progress(CycleRun *run, bool *pending, char **err)
{
	RoleInfo	group;

	*pending = false;
	if (roles_get(run->admin, run->t->group_role, &group, err) != 0)
		return -1;
	if (!group.exists || !group.canlogin)
		return 0;
	return state_adopt_pending(run->admin, run->t->name, pending, err);
}

/* Only with a published login role that can log in may the group go. */
static int
published(CycleRun *run)
{
	RoleInfo	active;
	char	   *err = NULL;

	if (run->st.generation == 0 ||
		(run->st.phase != PHASE_IDLE && run->st.phase != PHASE_DRAINING))
	{
		char	   *hint = xasprintf("Run \"pgrotate init %s --adopt-group\" again once the first credential is published.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "not_published", NULL, hint,
				 "group role \"%s\" stays valid: no credential of a login role is published yet (phase %s)",
				 run->t->group_role, phase_name(run->st.phase));
		free(hint);
		return PGR_EXIT_FAIL;
	}
	if (roles_get(run->admin, run->st.active_role, &active, &err) != 0)
		return cycle_fail(err, NULL, "cannot look up the active role");
	if (!active.exists || !active.canlogin)
	{
		log_emit(LOG_LEVEL_ERROR, "active_nologin", NULL,
				 "Run \"pgrotate check\": someone changed the active role by hand.",
				 "refusing to revoke group role \"%s\": the active role \"%s\" cannot log in",
				 run->t->group_role, run->st.active_role);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/*
 * Wait until the group may be revoked: PGR_EXIT_OK, else the exit code
 * (drain timeout under the fail policy, interrupted, error).
 */
static int
drain_group(CycleRun *run, const DrainNodes *w, int64_t overlap_ms)
{
	const Settings *s = &run->t->s;
	const char *group = run->t->group_role;
	DrainSpec	spec = {w, group, overlap_ms, s->drain_timeout_ms, s->poll_interval_ms,
	run->o->stop, false};
	SessionList left = {0};
	char	   *err = NULL;
	char	   *who;
	DrainResult res;

	res = drain_wait(&spec, &left, &err);
	who = sessionlist_describe(&left, 10);
	sessionlist_free(&left);
	if (res == DRAIN_TIMEOUT && s->on_drain_timeout == DRAIN_TERMINATE)
	{
		cycle_terminate(run, w, group, "group role");
		spec.overlap_left_ms = 0;
		spec.timeout_ms = CYCLE_STRAGGLER_WAIT_MS;
		/* pooler clients that could not be disconnected do not hold the revoke */
		spec.servers_only = true;
		res = drain_wait(&spec, &left, &err);
		sessionlist_free(&left);
	}
	if (res == DRAIN_DONE)
		cycle_history(run, "drained", group, NULL, run->st.generation, NULL);
	else if (res == DRAIN_TIMEOUT)
	{
		char	   *hint = xasprintf("Move those clients to the published credential (or end them), then run \"pgrotate init %s --adopt-group\" again to finish.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "drain_timeout", who, hint,
				 "drain timeout: group role \"%s\" still has sessions of its own; the new credential is published and \"%s\" stays valid",
				 group, group);
		free(hint);
		cycle_history(run, "drain_timeout", group, NULL, run->st.generation, who);
	}
	else if (res == DRAIN_INTERRUPTED)
	{
		char	   *hint = xasprintf("Run \"pgrotate init %s --adopt-group\" again to finish.",
									 run->t->name);

		log_emit(LOG_LEVEL_ERROR, "interrupted", NULL, hint,
				 "interrupted while draining group role \"%s\", which stays valid", group);
		free(hint);
	}
	free(who);
	switch (res)
	{
		case DRAIN_DONE:
			return PGR_EXIT_OK;
		case DRAIN_TIMEOUT:
			return PGR_EXIT_DRAIN_TIMEOUT;
		case DRAIN_INTERRUPTED:
			return PGR_EXIT_FAIL;
		default:
			return cycle_failf(err, "cannot poll the sessions", "The group role stays valid; start that node (or remove it from the target's replicas or poolers) and run \"pgrotate init %s --adopt-group\" again.",
							   run->t->name);
	}
}

/* ALTER ROLE group NOLOGIN PASSWORD NULL, with its history row. */
static int
revoke_group(CycleRun *run)
{
	const char *group = run->t->group_role;
	char	   *err = NULL;
	int			rc;

	rc = db_begin(run->admin, &err);
	if (rc == 0)
		rc = rolesql_revoke(run->admin, group, NULL, &err);
	if (rc == 0)
		rc = state_history(run->admin, run->t->name, "adopted", group,
						   run->st.active_role, run->st.generation, run->o->reason,
						   "the group role is NOLOGIN, without a password", &err);
	if (rc == 0)
		rc = db_commit(run->admin, &err);
	if (rc != 0)
	{
		db_rollback(run->admin);
		return cycle_failf(err, "cannot revoke the group role", "The group role stays valid; run \"pgrotate init %s --adopt-group\" again.",
						   run->t->name);
	}
	log_emit(LOG_LEVEL_INFO, "adopted", NULL, NULL,
			 "adopted group role \"%s\": it is NOLOGIN without a password and keeps its objects; applications log in as \"%s\"",
			 group, run->st.active_role);
	return PGR_EXIT_OK;
}

/* Sessions of the group that logged in between the last poll and the revoke. */
static void
report_stragglers(CycleRun *run, const DrainNodes *w)
{
	const char *group = run->t->group_role;
	bool		terminate = run->t->s.on_drain_timeout == DRAIN_TERMINATE;
	SessionList left = {0};
	char	   *err = NULL;
	char	   *who;

	if (drain_snapshot(w, group, false, false, &left, &err) != 0)
	{
		log_warning("could not re-check the sessions of \"%s\": %s", group, err);
		free(err);
	}
	if (left.n > 0)
	{
		who = sessionlist_describe(&left, 10);
		log_emit(LOG_LEVEL_WARNING, "stragglers", who, terminate ? NULL :
				 "They keep working until they disconnect; pg_terminate_backend() ends them.",
				 "%d session%s of group role \"%s\" logged in before the revoke", left.n,
				 left.n == 1 ? "" : "s", group);
		cycle_history(run, "stragglers", group, NULL, run->st.generation, who);
		free(who);
		if (terminate)
			cycle_terminate(run, w, group, "group role");
	}
	sessionlist_free(&left);
}

int
adopt_finish(CycleRun *run)
{
	RoleInfo	group;
	DrainNodes	w = {0};
	int64_t		overlap_ms = 0;
	char	   *err = NULL;
	int			rc;

	if (roles_get(run->admin, run->t->group_role, &group, &err) != 0)
		return cycle_fail(err, NULL, "cannot look up the group role");
	if (!group.exists || !group.canlogin)
		return PGR_EXIT_OK;
	if ((rc = published(run)) != PGR_EXIT_OK)
		return rc;
	if (state_adopt_overlap_left(run->admin, run->t->name, run->t->s.min_overlap_ms,
								 &overlap_ms, &err) != 0)
		return cycle_fail(err, NULL, "cannot compute the overlap");
	log_emit(LOG_LEVEL_INFO, "adopt_draining", NULL, NULL,
			 "group role \"%s\" stays valid until its own sessions have ended%s",
			 run->t->group_role, overlap_ms > 0 ? " and min_overlap has passed" : "");
	if (drain_nodes_open(run->t, run->admin, true, &w, &err) != 0)
		return cycle_failf(err, "cannot reach every node to drain", "The group role stays valid; start that node, or remove it from the target's replicas or poolers, and run \"pgrotate init %s --adopt-group\" again.",
						   run->t->name);
	rc = drain_group(run, &w, overlap_ms);
	if (rc == PGR_EXIT_OK)
		rc = revoke_group(run);
	if (rc == PGR_EXIT_OK)
		report_stragglers(run, &w);
	drain_nodes_close(&w);
	return rc;
}
