/*
 * cycle_drain.c: the drain and revoke steps of a cycle (SPEC section 1,
 * steps 5 and 6): wait for min_overlap and for the old role's sessions to
 * end on every node and pooler (or end them, by policy), revoke it in the
 * same transaction as the end of the cycle, then report stragglers.
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

/* Refuse to revoke a role that a file sink still hands out. */
static int
sinks_hand_out(CycleRun *run, const char *role)
{
	const SinkCfg *s = sink_handing_out(run->t, role);
	char	   *hint;

	if (s == NULL)
		return 0;
	hint = xasprintf("Something rewrote the sink; run \"pgrotate cycle %s\" again after checking it.",
					 run->t->name);
	log_emit(LOG_LEVEL_ERROR, "sink_holds_old", NULL, hint,
			 "refusing to revoke role \"%s\": sink \"%s\" still hands it out", role, s->path);
	free(hint);
	return 1;
}

/* The history of what a terminate ended (and could not end) of role. */
static void
record_terminated(CycleRun *run, const char *role, const char *kind,
				  int total, int unkillable)
{
	if (total > 0)
	{
		char	   *d = xasprintf("%d session%s", total, total == 1 ? "" : "s");

		log_emit(LOG_LEVEL_WARNING, "terminated", NULL, NULL,
				 "terminated %s of %s \"%s\"", d, kind, role);
		cycle_history(run, "terminated", role, NULL, run->st.generation, d);
		free(d);
	}
	if (unkillable > 0)
	{
		char	   *d = xasprintf("%d pooler client%s left connected (PgBouncer cannot disconnect one client)",
								  unkillable, unkillable == 1 ? "" : "s");

		cycle_history(run, "pooler_clients_left", role, NULL, run->st.generation, d);
		free(d);
	}
}

void
cycle_terminate(CycleRun *run, const DrainNodes *w, const char *role,
				const char *kind)
{
	int			unkillable = 0;
	int			total = drain_terminate_all(w, role, &unkillable);

	/* a fleet's coordinator ended the pooler clients on its consoles */
	if (run->o->poolers_killed)
	{
		total += run->o->pooler_killed;
		unkillable += run->o->pooler_unkillable;
	}
	record_terminated(run, role, kind, total, unkillable);
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
	/* a fleet's coordinator waited already: only what is left of it */
	if (run->o->drain_left_ms > 0 && run->o->drain_left_ms < spec.timeout_ms)
		spec.timeout_ms = run->o->drain_left_ms;
	else
		spec.overlap_left_ms = run->st.publish_started_ms + s->min_overlap_ms - run->st.server_now_ms;
	res = drain_wait(&spec, &left, &err);
	who = sessionlist_describe(&left, 10);
	sessionlist_free(&left);
	if (res == DRAIN_TIMEOUT && (run->o->emergency || s->on_drain_timeout == DRAIN_TERMINATE))
	{
		cycle_terminate(run, w, old, "role");
		spec.overlap_left_ms = 0;
		spec.timeout_ms = CYCLE_STRAGGLER_WAIT_MS;
		/* pooler clients that could not be disconnected do not hold the revoke */
		spec.servers_only = true;
		res = drain_wait(&spec, &left, &err);
		sessionlist_free(&left);
		/*
		 * Sessions that are back (a pool reconnecting with the old password,
		 * or whoever holds a leaked one) would win every round: revoke now,
		 * then end them (report_stragglers), when they can no longer return.
		 */
		if (res == DRAIN_TIMEOUT)
		{
			log_warning("role \"%s\" logged in again after its sessions were terminated: revoking it now, then ending its sessions",
						old);
			res = DRAIN_DONE;
		}
	}
	else if (res == DRAIN_DONE && run->o->poolers_killed)
		/* the nodes drained once the coordinator ended the pooler clients */
		record_terminated(run, old, "role", run->o->pooler_killed, run->o->pooler_unkillable);
	switch (res)
	{
		case DRAIN_DONE:
			free(who);
			cycle_history(run, "drained", old, NULL, run->st.generation, NULL);
			return PGR_EXIT_OK;
		case DRAIN_TIMEOUT:
			{
				char	   *hint = xasprintf("End those sessions (or set on_drain_timeout = \"terminate\") and run \"pgrotate cycle %s\" again to finish.",
										 run->t->name);

				log_emit(LOG_LEVEL_ERROR, "drain_timeout", who, hint,
						 "drain timeout: role \"%s\" still has sessions; the new credential is published and \"%s\" stays valid",
						 old, old);
				free(hint);
			}
			cycle_history(run, "drain_timeout", old, NULL, run->st.generation, who);
			free(who);
			return PGR_EXIT_DRAIN_TIMEOUT;
		case DRAIN_INTERRUPTED:
			free(who);
			return cycle_interrupted(run);
		default:
			free(who);
			return cycle_failf(err, "cannot poll the sessions", "The error names the node: bring it back (a replica or pooler may also be removed from the target) and run \"pgrotate cycle %s\" again; nothing was revoked.",
							   run->t->name);
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
			log_warning("could not re-check the sessions of \"%s\": %s", old, err);
			free(err);
			err = NULL;
		}
	if (left.n > 0)
	{
		char	   *hint = run->o->emergency || run->t->s.on_drain_timeout == DRAIN_TERMINATE ? NULL :
			xasprintf("They keep working until they disconnect; \"pgrotate revoke %s %s --terminate\" ends them.",
					  run->t->name, old);

		who = sessionlist_describe(&left, 10);
		log_emit(LOG_LEVEL_WARNING, "stragglers", who, hint,
				 "%d session%s of role \"%s\" logged in before the revoke", left.n,
				 left.n == 1 ? "" : "s", old);
		free(hint);
		cycle_history(run, "stragglers", old, NULL, run->st.generation, who);
		free(who);
		if (run->o->emergency || run->t->s.on_drain_timeout == DRAIN_TERMINATE)
			cycle_terminate(run, w, old, "role");
	}
	sessionlist_free(&left);
}

int
cycle_step_drain_revoke(CycleRun *run)
{
	const char *old = run->st.standby_role;
	const Target *t = run->t;
	Target		without_poolers;
	DrainNodes	w = {0};
	RoleInfo	info;
	char	   *err = NULL;
	int			rc;

	if (roles_get(run->admin, old, &info, &err) != 0)
		return cycle_fail(err, NULL, "cannot look up the old role");
	/*
	 * A fleet run's coordinator polled the poolers on its own consoles and
	 * saw them drained: this worker opens none (one console connection per
	 * pooler and run).
	 */
	if (run->o->poolers_polled && t->poolers.n > 0)
	{
		without_poolers = *t;
		without_poolers.poolers.n = 0;
		t = &without_poolers;
	}
	/* A role that never could log in has nothing to drain (first init). */
	if (drain_nodes_open(t, run->admin, info.exists && info.canlogin, &w, &err) != 0)
		return cycle_failf(err, "cannot reach every node to drain", "Start that node, or remove it from the target's replicas or poolers, and run \"pgrotate cycle %s\" again; nothing was revoked.",
						   t->name);
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
		/* a role that could not log in was not revoked: say what happened */
		StateEvent	ev = {info.canlogin ? "revoked" : "completed", old,
			run->st.active_role, run->st.generation, run->o->reason,
		info.canlogin ? NULL : "the old role could not log in: nothing to drain or revoke"};

		rc = state_cycle_done(run->admin, run->t->name, &ev, &run->next, &err);
	}
	if (cycle_commit_or_rollback(run, rc, &err) != 0)
	{
		rc = cycle_failf(err, "cannot revoke the old role", "Run \"pgrotate cycle %s\" again to finish.", t->name);
		goto done;
	}
	FAULT_POINT("after-revoke");
	if (info.canlogin)
		log_emit(LOG_LEVEL_INFO, "revoked", NULL, NULL,
				 "revoked role \"%s\" (NOLOGIN, no password); active role is \"%s\", generation %lld",
				 old, run->st.active_role, (long long) run->st.generation);
	else
		log_emit(LOG_LEVEL_INFO, "completed", NULL, NULL,
				 "role \"%s\" could not log in, nothing to drain; it is the standby now; active role is \"%s\", generation %lld",
				 old, run->st.active_role, (long long) run->st.generation);
	report_stragglers(run, &w, old);
	rc = PGR_EXIT_OK;
done:
	drain_nodes_close(&w);
	return rc;
}
