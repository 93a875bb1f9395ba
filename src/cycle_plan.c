/*
 * cycle_plan.c: "cycle --dry-run": the checks have run (cycle_run does
 * them); print what the cycle would do from the current phase, with its
 * SQL (password and verifier redacted), the sinks it would write and what
 * the drain would wait on now. Changes nothing: no pending file, no state
 * or history row, no role.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cycle.h"
#include "drain.h"
#include "duration.h"
#include "exitcode.h"
#include "log.h"
#include "pending.h"
#include "roles.h"
#include "roles_parity.h"
#include "rolesql.h"
#include "sink.h"
#include "util.h"

static int	step_no;

static void
step(const char *title)
{
	printf("%d. %s\n", ++step_no, title);
}

/*
 * The ALTER ROLE ... SET / RESET that copy the active role's settings, and
 * in *detail (malloc'd, or NULL when none) the provision's history detail
 * that names them, as step_provision records it.
 */
static int
plan_settings(CycleRun *run, const char *role, char **detail)
{
	StrList		stmts = {0};
	StrBuf		sb;
	char	   *refused = NULL;
	char	   *err = NULL;

	*detail = NULL;
	if (run->st.active_role == NULL)
		return 0;
	if (parity_mirror_plan(run->admin, run->st.active_role, role, &stmts,
						   &refused, &err) != 0)
	{
		log_error("cannot compare the settings of \"%s\" and \"%s\": %s",
				  run->st.active_role, role, err);
		free(err);
		return -1;
	}
	if (stmts.n > 0)
		printf("   -- copy the per-role settings of \"%s\" to \"%s\":\n", run->st.active_role, role);
	sb_init(&sb);
	sb_appendf(&sb, "settings copied from %s: ", run->st.active_role);
	for (int i = 0; i < stmts.n; i++)
	{
		printf("   %s;\n", stmts.items[i]);
		sb_appendf(&sb, "%s%s", i ? "; " : "", stmts.items[i]);
	}
	if (refused)
		printf("   -- refused: the admin may not set a parameter; run %s\n", refused);
	if (stmts.n > 0)
		*detail = sb_steal(&sb);
	sb_free(&sb);
	strlist_free(&stmts);
	free(refused);
	return 0;
}

/* The state change of the provision, as state.c would run it. */
static int
plan_provisioned(CycleRun *run, const char *role, int64_t gen, const char *detail)
{
	StateEvent	ev = {"provisioned", run->st.active_role, role, gen, run->o->reason, detail};
	char	   *err = NULL;
	char	   *sql = state_provisioned_sql(run->admin, run->t->name, role, gen,
											"<fingerprint of the new password>", &ev,
											"   ", &err);

	if (sql == NULL)
	{
		log_error("cannot build the state SQL: %s", err);
		free(err);
		return -1;
	}
	printf("   %s;\n   COMMIT;\n", sql);
	free(sql);
	return 0;
}

static int
plan_provision(CycleRun *run, const char *role, int64_t gen)
{
	char	   *sql = NULL;
	char	   *err = NULL;
	char	   *detail = NULL;
	char	   *path = pending_path(run->cfg->state_dir, run->t->name);
	int			rc;

	step("provision");
	printf("   generate a %d-character password; save it to \"%s\" (0600) before touching the server\n",
		   run->t->s.password_length, path);
	free(path);
	if (rolesql_provision(run->admin, role, NULL, run->t->s.password_expiry_ms, &sql, &err) != 0)
	{
		log_error("cannot build the provision SQL: %s", err);
		free(err);
		return -1;
	}
	printf("   BEGIN;\n   %s;  -- SCRAM verifier computed on this host\n", sql);
	free(sql);
	if (plan_settings(run, role, &detail) != 0)
		return -1;
	rc = plan_provisioned(run, role, gen, detail);
	free(detail);
	return rc;
}

static int
plan_verify(CycleRun *run, const char *role)
{
	char	   *sql = NULL;
	char	   *err = NULL;

	if (rolesql_revoke(run->admin, role, &sql, &err) != 0)
	{
		log_error("cannot build the rollback SQL: %s", err);
		free(err);
		return -1;
	}
	step("verify");
	printf("   log in as \"%s\" with the new password over the app conninfo \"%s\"\n", role, run->t->app);
	printf("   check session_user = \"%s\" and current_user = \"%s\", then run: %s\n",
		   role, run->t->group_role, run->t->s.verify_query);
	for (int i = 0; i < run->t->replicas.n; i++)
		printf("   the same on replica \"%s\" once it has replayed the commit\n",
			   run->t->replicas.items[i]);
	printf("   on failure: %s; publish nothing\n", sql);
	free(sql);
	return 0;
}

static void
plan_publish(CycleRun *run, const char *role, const char *old)
{
	step("publish");
	for (int i = 0; i < run->t->nsinks; i++)
	{
		char	   *d = sink_describe(&run->t->sinks[i]);

		printf("   write %s\n", d);
		free(d);
	}
	printf("   then record \"%s\" as the active role (phase draining); \"%s\" stays valid\n", role, old);
}

static int
plan_drain(CycleRun *run, const char *old, bool published)
{
	SessionList l = {0};
	DrainNodes	w = {0};
	char	   *err = NULL;
	char		overlap[32],
				timeout[32];
	int64_t		left = run->t->s.min_overlap_ms;

	if (published)
		left = run->st.publish_started_ms + run->t->s.min_overlap_ms - run->st.server_now_ms;
	duration_format(left > 0 ? left : 0, overlap, sizeof(overlap));
	duration_format(run->o->emergency ? run->t->s.emergency_grace_ms : run->t->s.drain_timeout_ms,
					timeout, sizeof(timeout));
	if (drain_nodes_open(run->t, run->admin, true, &w, &err) != 0 ||
		drain_snapshot(&w, old, false, false, &l, &err) != 0)
	{
		log_error("cannot list the sessions of \"%s\" on every node: %s", old, err);
		free(err);
		drain_nodes_close(&w);
		sessionlist_free(&l);
		return -1;
	}
	drain_nodes_close(&w);
	step("drain");
	printf("   wait %s of min_overlap%s and until no session of \"%s\" remains (at most %s)\n",
		   run->o->emergency ? "none" : overlap, run->o->emergency ? " (--emergency)" : "",
		   old, timeout);
	printf("   sessions of \"%s\" now, on the primary, replicas and poolers: %d\n", old, l.n);
	if (l.n > 0)
	{
		char	   *who = sessionlist_describe(&l, 10);
		StrBuf		sb;

		/* one session per line, under the count */
		sb_init(&sb);
		sb_append(&sb, "     ");
		sb_append_indented(&sb, who, "     ");
		printf("%s\n", sb.data);
		sb_free(&sb);
		free(who);
	}
	printf("   on timeout: %s\n", run->o->emergency || run->t->s.on_drain_timeout == DRAIN_TERMINATE ?
		   "terminate them (pg_terminate_backend) and revoke" : "stop with exit 3, the old role stays valid");
	sessionlist_free(&l);
	return 0;
}

/*
 * The revoke of old, then the end of the cycle whose active role is
 * active at generation gen, as cycle_drain.c would run them (a role that
 * cannot log in is not revoked, and the event says so).
 */
static int
plan_revoke(CycleRun *run, const char *old, const char *active, int64_t gen)
{
	StateEvent	ev = {"revoked", old, active, gen, run->o->reason, NULL};
	RoleInfo	info;
	char	   *sql = NULL;
	char	   *done = NULL;
	char	   *err = NULL;

	if (roles_get(run->admin, old, &info, &err) != 0 ||
		(info.exists && rolesql_revoke(run->admin, old, &sql, &err) != 0))
		goto fail;
	if (!info.canlogin)
	{
		ev.event = "completed";
		ev.detail = "the old role could not log in: nothing to drain or revoke";
	}
	if ((done = state_cycle_done_sql(run->admin, run->t->name, &ev, "   ", &err)) == NULL)
		goto fail;
	step("revoke");
	printf("   BEGIN;\n");
	if (sql)
		printf("   %s;\n", sql);
	printf("   %s;\n   COMMIT;\n", done);
	free(sql);
	free(done);
	return 0;
fail:
	log_error("cannot build the revoke SQL: %s", err);
	free(err);
	free(sql);
	return -1;
}

int
cycle_print_plan(CycleRun *run)
{
	const StateRow *st = &run->st;
	bool		idle = st->phase == PHASE_IDLE;
	const char *newrole = idle ? st->standby_role : st->pending_role;
	const char *old = st->phase == PHASE_DRAINING ? st->standby_role : st->active_role;
	/* the active role and generation once published */
	const char *active = st->phase == PHASE_DRAINING ? st->active_role : newrole;
	int64_t		gen = idle ? st->generation + 1 :
		st->phase == PHASE_DRAINING ? st->generation : st->pending_generation;
	int			rc = 0;

	step_no = 0;
	printf("dry run of target \"%s\": phase %s, active role \"%s\", generation %lld; nothing will be changed\n",
		   run->t->name, phase_name(st->phase), st->active_role, (long long) st->generation);
	if (st->phase == PHASE_UNKNOWN)
	{
		log_error("target \"%s\" is in unknown phase \"%s\"", run->t->name, st->phase_text);
		return PGR_EXIT_FAIL;
	}
	if (idle)
		rc = plan_provision(run, newrole, gen);
	if (rc == 0 && (idle || st->phase == PHASE_PROVISIONED))
		rc = plan_verify(run, newrole);
	if (rc == 0 && st->phase != PHASE_DRAINING)
		plan_publish(run, newrole, old);
	if (rc == 0 && run->o->no_wait)
		printf("%d. stop (--no-wait): a later cycle drains and revokes \"%s\"\n", ++step_no, old);
	else
	{
		if (rc == 0)
			rc = plan_drain(run, old, st->phase == PHASE_DRAINING);
		if (rc == 0)
			rc = plan_revoke(run, old, active, gen);
	}
	fflush(stdout);
	return rc == 0 ? PGR_EXIT_OK : PGR_EXIT_FAIL;
}
