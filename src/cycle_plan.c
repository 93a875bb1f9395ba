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

/* The ALTER ROLE ... SET / RESET that copy the active role's settings. */
static int
plan_settings(CycleRun *run, const char *role)
{
	StrList		stmts = {0};
	char	   *refused = NULL;
	char	   *err = NULL;

	if (run->st.active_role == NULL)
		return 0;
	if (parity_mirror_plan(run->admin, run->st.active_role, role, &stmts,
						   &refused, &err) != 0)
	{
		log_error("cannot compare the settings of %s and %s: %s",
				  run->st.active_role, role, err);
		free(err);
		return -1;
	}
	if (stmts.n > 0)
		printf("   -- copy the per-role settings of %s to %s:\n", run->st.active_role, role);
	for (int i = 0; i < stmts.n; i++)
		printf("   %s;\n", stmts.items[i]);
	if (refused)
		printf("   -- refused: the admin may not set a parameter; run %s\n", refused);
	strlist_free(&stmts);
	free(refused);
	return 0;
}

static int
plan_provision(CycleRun *run, const char *role, int64_t gen)
{
	char	   *sql = NULL;
	char	   *err = NULL;
	char	   *path = pending_path(run->cfg->state_dir, run->t->name);

	step("provision");
	printf("   generate a %d-character password; save it to %s (0600) before touching the server\n",
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
	if (plan_settings(run, role) != 0)
		return -1;
	printf("   UPDATE pgrotate.state SET phase = 'provisioned', pending_role = '%s', pending_generation = %lld ...;\n"
		   "   INSERT INTO pgrotate.history ... 'provisioned' ...;\n   COMMIT;\n",
		   role, (long long) gen);
	return 0;
}

static void
plan_verify(CycleRun *run, const char *role)
{
	step("verify");
	printf("   log in as %s with the new password over the app conninfo \"%s\"\n", role, run->t->app);
	printf("   check session_user = %s and current_user = %s, then run: %s\n",
		   role, run->t->group_role, run->t->s.verify_query);
	for (int i = 0; i < run->t->replicas.n; i++)
		printf("   the same on replica \"%s\" once it has replayed the commit\n",
			   run->t->replicas.items[i]);
	printf("   on failure: ALTER ROLE ... NOLOGIN PASSWORD NULL on %s, publish nothing\n", role);
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
	printf("   then record %s as the active role (phase draining); %s stays valid\n", role, old);
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
		log_error("cannot list the sessions of %s on every node: %s", old, err);
		free(err);
		drain_nodes_close(&w);
		sessionlist_free(&l);
		return -1;
	}
	drain_nodes_close(&w);
	step("drain");
	printf("   wait %s of min_overlap%s and until no session of %s remains (at most %s)\n",
		   run->o->emergency ? "none" : overlap, run->o->emergency ? " (--emergency)" : "",
		   old, timeout);
	printf("   sessions of %s now, on the primary, replicas and poolers: %d\n", old, l.n);
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

static int
plan_revoke(CycleRun *run, const char *old)
{
	char	   *sql = NULL;
	char	   *err = NULL;

	if (rolesql_revoke(run->admin, old, &sql, &err) != 0)
	{
		log_error("cannot build the revoke SQL: %s", err);
		free(err);
		return -1;
	}
	step("revoke");
	printf("   BEGIN;\n   %s;\n   UPDATE pgrotate.state SET phase = 'idle' ...;\n"
		   "   INSERT INTO pgrotate.history ... 'revoked' ...;\n   COMMIT;\n", sql);
	free(sql);
	return 0;
}

int
cycle_print_plan(CycleRun *run)
{
	const StateRow *st = &run->st;
	bool		idle = st->phase == PHASE_IDLE;
	const char *newrole = idle ? st->standby_role : st->pending_role;
	const char *old = st->phase == PHASE_DRAINING ? st->standby_role : st->active_role;
	int			rc = 0;

	step_no = 0;
	printf("dry run of target %s: phase %s, active role %s, generation %lld; nothing will be changed\n",
		   run->t->name, phase_name(st->phase), st->active_role, (long long) st->generation);
	if (st->phase == PHASE_UNKNOWN)
	{
		log_error("target %s is in unknown phase \"%s\"", run->t->name, st->phase_text);
		return PGR_EXIT_FAIL;
	}
	if (idle)
		rc = plan_provision(run, newrole, st->generation + 1);
	if (rc == 0 && (idle || st->phase == PHASE_PROVISIONED))
		plan_verify(run, newrole);
	if (rc == 0 && st->phase != PHASE_DRAINING)
		plan_publish(run, newrole, old);
	if (rc == 0 && run->o->no_wait)
		printf("%d. stop (--no-wait): a later cycle drains and revokes %s\n", ++step_no, old);
	else
	{
		if (rc == 0)
			rc = plan_drain(run, old, st->phase == PHASE_DRAINING);
		if (rc == 0)
			rc = plan_revoke(run, old);
	}
	fflush(stdout);
	return rc == 0 ? PGR_EXIT_OK : PGR_EXIT_FAIL;
}
