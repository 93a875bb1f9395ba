/*
 * status.c: collect the status of a target (state row, lock, sessions per
 * role per node, sinks, password expiry) and judge it. Read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_admin.h"
#include "db.h"
#include "duration.h"
#include "secret.h"
#include "sink.h"
#include "pooler.h"
#include "roles.h"
#include "safefile.h"
#include "message.h"
#include "status.h"
#include "util.h"

#define STATUS_APP_NAME "pgrotate status"

static const char *const level_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

static const char *const sink_state_names[] = {
	"ok", "pending", "stale", "missing", "no_credential", "invalid",
	"unreadable", "not_checked"
};

const char *
status_level_name(StatusLevel l)
{
	return level_names[l];
}

/* OK < WARNING < UNKNOWN < CRITICAL */
static int
level_rank(StatusLevel l)
{
	switch (l)
	{
		case STATUS_OK:
			return 0;
		case STATUS_WARNING:
			return 1;
		case STATUS_UNKNOWN:
			return 2;
		default:
			return 3;
	}
}

StatusLevel
status_worse(StatusLevel a, StatusLevel b)
{
	return level_rank(b) > level_rank(a) ? b : a;
}

const char *
sink_state_name(SinkState s)
{
	return sink_state_names[s];
}

static void
add_problem_hint(TargetStatus *ts, StatusLevel level, const char *hint,
				 const char *fmt,...) PGR_PRINTF(4, 5);

/*
 * A problem, its message split into its three parts (an error passed up
 * carries its server's DETAIL and HINT inline), hint (NULL for none) added.
 */
static void
add_problem_hint(TargetStatus *ts, StatusLevel level, const char *hint,
				 const char *fmt,...)
{
	va_list		ap;
	char	   *msg;
	Message		m;
	Problem    *p;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = xstrdup("(out of memory)");
	va_end(ap);
	message_split(msg, NULL, hint, &m);
	free(msg);
	ts->problems = xrealloc(ts->problems, sizeof(Problem) * (ts->nproblems + 1));
	p = &ts->problems[ts->nproblems++];
	p->level = level;
	p->msg = m.primary;
	p->detail = m.detail;
	p->hint = m.hint;
	ts->level = status_worse(ts->level, level);
}

#define add_problem(ts, level, ...) add_problem_hint(ts, level, NULL, __VA_ARGS__)

/* A number of seconds as a compact duration ("2h13m") in out (32 bytes). */
static const char *
secs(int64_t s, char *out)
{
	duration_format(s * 1000, out, 32);
	return out;
}

/* Count the sessions of ts->roles on c (a fresh snapshot). */
static int
count_sessions(DbConn *c, const TargetStatus *ts, NodeStatus *ns, char **err)
{
	const char *p[STATUS_NROLES];
	DbRes	   *r = NULL;

	for (int i = 0; i < STATUS_NROLES; i++)
		p[i] = ts->roles[i];
	if (db_exec(c,
				"SELECT r.rolname, count(a.pid)"
				" FROM pg_catalog.pg_roles r LEFT JOIN pg_catalog.pg_stat_activity a"
				" ON a.usesysid = r.oid AND a.pid <> pg_catalog.pg_backend_pid()"
				" WHERE r.rolname IN ($1, $2, $3) GROUP BY r.rolname",
				STATUS_NROLES, p, 2, &r, err) != 0)
		return -1;
	for (int row = 0; row < db_nrows(r); row++)
		for (int i = 0; i < STATUS_NROLES; i++)
			if (strcmp(db_val(r, row, 0), ts->roles[i]) == 0)
				ns->sessions[i] = db_int(r, row, 1);
	db_res_free(r);
	return 0;
}

/*
 * Count on a PgBouncer console what the drain counts there: clients logged
 * in as each role and server connections of each role.
 */
static int
count_pooler(const char *conninfo, const TargetStatus *ts, NodeStatus *ns,
			 char **err)
{
	Pooler	   *p = pooler_open(conninfo, err);

	if (p == NULL)
		return -1;
	for (int i = 0; i < STATUS_NROLES; i++)
	{
		SessionList l = {0};

		if (pooler_poll(p, ts->roles[i], false, false, &l, err) != 0)
		{
			sessionlist_free(&l);
			pooler_close(p);
			return -1;
		}
		ns->sessions[i] = l.n;
		sessionlist_free(&l);
	}
	pooler_close(p);
	return 0;
}

/* Each pooler, after the primary and the replicas. */
static void
collect_poolers(TargetStatus *ts, int first)
{
	for (int k = 0; k < ts->t->poolers.n; k++)
	{
		NodeStatus *ns = &ts->nodes[first + k];
		char	   *node = db_conninfo_node(ts->t->poolers.items[k]);
		char	   *err = NULL;

		ns->node = xasprintf("pooler %s", node);
		ns->reachable = count_pooler(ts->t->poolers.items[k], ts, ns, &err) == 0;
		if (!ns->reachable)
		{
			ns->error = err ? err : xstrdup("unknown error");
			add_problem(ts, STATUS_CRITICAL,
						"pooler \"%s\" unreachable, its clients are unknown and the next cycle cannot drain there: %s",
						node, ns->error);
		}
		free(node);
	}
}

/* The primary (on the admin connection), every replica, every pooler. */
static void
collect_nodes(TargetStatus *ts, DbConn *admin)
{
	const Target *t = ts->t;
	const char *over[] = {"application_name", STATUS_APP_NAME, NULL};

	ts->nnodes = 1 + t->replicas.n + t->poolers.n;
	ts->nodes = xcalloc(ts->nnodes, sizeof(NodeStatus));
	for (int k = 0; k < 1 + t->replicas.n; k++)
	{
		NodeStatus *ns = &ts->nodes[k];
		DbConn	   *c = admin;
		char	   *label = NULL;
		char	   *err = NULL;

		if (k == 0)
			ns->node = xstrdup("primary");
		else
		{
			ns->node = db_conninfo_node(t->replicas.items[k - 1]);
			label = xasprintf("replica \"%s\"", ns->node);
			c = db_connect(t->replicas.items[k - 1], label, over, &err);
		}
		ns->reachable = c != NULL && count_sessions(c, ts, ns, &err) == 0;
		if (!ns->reachable)
		{
			ns->error = err ? err : xstrdup("unknown error");
			add_problem(ts, STATUS_CRITICAL,
						"%s unreachable, its sessions are unknown and the next cycle cannot verify or drain there: %s",
						k == 0 ? "primary" : label, ns->error);
		}
		if (c != admin)
			db_close(c);
		free(label);
	}
	collect_poolers(ts, 1 + t->replicas.n);
}

/* Judge the credential found in a readable file sink. */
static void
judge_sink_credential(const TargetStatus *ts, SinkStatus *out, const char *fp)
{
	const StateRow *st = &ts->st;
	bool		pending = (st->phase == PHASE_PROVISIONED || st->phase == PHASE_VERIFIED) &&
		st->pending_role != NULL && strcmp(out->role, st->pending_role) == 0;

	if (!out->role_only && st->fingerprint == NULL)
	{
		out->role_only = true;
		out->detail = xstrdup("no fingerprint recorded in the state; compared by role only");
	}
	if (out->role_only)
	{
		if (strcmp(out->role, st->active_role) == 0)
			out->state = SINK_ST_OK;
		else
			out->state = pending ? SINK_ST_PENDING : SINK_ST_STALE;
		if (out->detail == NULL && out->cfg->format == SINK_FMT_PGBOUNCER)
			out->detail = xstrdup("compared by role only: the file holds a SCRAM verifier, not the password");
	}
	else if (strcmp(out->role, st->active_role) == 0 && strcmp(fp, st->fingerprint) == 0)
		out->state = SINK_ST_OK;
	else if (pending && st->pending_fingerprint && strcmp(fp, st->pending_fingerprint) == 0)
		out->state = SINK_ST_PENDING;
	else
		out->state = SINK_ST_STALE;
	if (out->state == SINK_ST_STALE && out->detail == NULL)
		out->detail = strcmp(out->role, st->active_role) == 0
			? xasprintf("holds role \"%s\" with another password than the active credential", out->role)
			: xasprintf("holds role \"%s\", not the active role \"%s\"", out->role, st->active_role);
	else if (out->state == SINK_ST_PENDING && out->detail == NULL)
		out->detail = xasprintf("holds the credential of role \"%s\" being published", out->role);
}

static void
check_sink(const TargetStatus *ts, const SinkCfg *s, SinkStatus *out)
{
	char		fp[SECRET_FINGERPRINT_LEN + 1];
	char	   *err = NULL;
	int			rc;

	out->cfg = s;
	if (s->type == SINK_COMMAND)
	{
		out->name = xstrdup(s->argc > 0 ? s->argv[0] : "");
		out->state = SINK_ST_NOT_CHECKED;
		out->detail = xstrdup("a command sink cannot be read back");
		return;
	}
	out->name = xstrdup(s->path);
	out->role_only = s->format == SINK_FMT_PGBOUNCER;
	rc = safe_probe(s->path, SAFE_SINK, "sink file", &err);
	if (rc == ENOENT || rc == EACCES)
	{
		out->state = rc == ENOENT ? SINK_ST_MISSING : SINK_ST_UNREADABLE;
		out->detail = err;
		return;
	}
	free(err);
	err = NULL;
	rc = sink_read_fingerprint(s, &out->role, fp, &err);
	if (rc < 0)
	{
		out->state = SINK_ST_INVALID;
		out->detail = err;
		return;
	}
	if (rc == 0)
	{
		out->state = SINK_ST_NO_CREDENTIAL;
		out->detail = xasprintf("no %s credential found in the file", cfg_format_name(s->format));
		return;
	}
	judge_sink_credential(ts, out, fp);
	secret_wipe(fp, sizeof(fp));
}

static void
collect_sinks(TargetStatus *ts)
{
	ts->nsinks = ts->t->nsinks;
	ts->sinks = xcalloc(ts->nsinks > 0 ? ts->nsinks : 1, sizeof(SinkStatus));
	for (int i = 0; i < ts->nsinks; i++)
	{
		SinkStatus *ss = &ts->sinks[i];

		check_sink(ts, &ts->t->sinks[i], ss);
		if (ss->state == SINK_ST_UNREADABLE)
			add_problem(ts, STATUS_UNKNOWN, "sink \"%s\" cannot be checked: %s", ss->name, ss->detail);
		else if (ss->state != SINK_ST_OK && ss->state != SINK_ST_PENDING &&
				 ss->state != SINK_ST_NOT_CHECKED)
			add_problem(ts, STATUS_CRITICAL, "sink \"%s\" does not hold the active credential (%s): %s",
						ss->name, sink_state_name(ss->state), ss->detail);
	}
}

/* Read the state row and what goes with it; false if there is none. */
static bool
load_state(TargetStatus *ts, DbConn *c)
{
	const Target *t = ts->t;
	RoleInfo	active;
	char	   *err = NULL;
	int			version = 0;
	bool		found = false;

	if (state_schema_version(c, &version, &err) != 0 ||
		(version > 0 && state_load(c, t->name, &ts->st, &found, &err) != 0))
	{
		char	   *hint = check_admin_state_hint(c, t->name);

		add_problem_hint(ts, STATUS_UNKNOWN, hint, "cannot read the state: %s", err);
		free(hint);
		free(err);
		return false;
	}
	if (!found || ts->st.generation == 0)
	{
		add_problem(ts, STATUS_UNKNOWN, "not initialised%s: run \"pgrotate init %s\"",
					version == 0 ? " (no pgrotate schema in its database)" :
					found ? " (no credential published yet)" : "", t->name);
		return false;
	}
	if (state_last_error(c, t->name, &ts->last_error, &err) != 0 ||
		state_lock_holder(c, t->name, &ts->lock_holder, &err) != 0 ||
		roles_get(c, ts->st.active_role, &active, &err) != 0)
	{
		add_problem(ts, STATUS_UNKNOWN, "cannot read the state: %s", err);
		free(err);
		return false;
	}
	ts->active_can_login = active.canlogin;
	ts->valid_until = active.valid_until;
	return true;
}

/*
 * What to do about a cycle in progress: run pgrotate cycle, unless a run
 * holds the target's lock now (it is the one doing it). malloc'd.
 */
static char *
next_step(const TargetStatus *ts, const char *what)
{
	if (ts->lock_holder)
		return xstrdup("a run holds the target's lock and is at it: wait for it to end");
	return xasprintf("run \"pgrotate cycle %s\" to %s", ts->t->name, what);
}

/* Phase, stuck cycles, failures. */
static void
judge_phase(TargetStatus *ts)
{
	const StateRow *st = &ts->st;
	const Settings *s = &ts->t->s;
	int64_t		age = ts->now - st->phase_since;
	bool		late = age * 1000 > s->drain_timeout_ms;
	char		a[32],
				d[32];

	secs(age, a);
	duration_format(s->drain_timeout_ms, d, sizeof(d));
	if (!ts->active_can_login)
		add_problem(ts, STATUS_CRITICAL,
					"the active role \"%s\" cannot log in (NOLOGIN or missing): applications cannot connect",
					st->active_role);
	if (ts->last_error.msg)
	{
		char		at[32] = "";

		if (ts->last_error.at)
			format_utc(ts->last_error.at, at);
		add_problem(ts, STATUS_CRITICAL, "the last run failed%s%s%s%s: %s",
					at[0] ? " at " : "", at, ts->last_error.step[0] ? " in step " : "",
					ts->last_error.step, ts->last_error.msg);
	}
	if (st->phase == PHASE_PROVISIONED || st->phase == PHASE_VERIFIED)
	{
		char	   *todo = next_step(ts, "resume it");

		add_problem(ts, late ? STATUS_CRITICAL : STATUS_WARNING,
					late ? "cycle stuck in phase %s for %s (longer than drain_timeout %s): %s"
					: "cycle in progress: phase %s for %s (drain_timeout %s)%s",
					st->phase_text, a, d, late ? todo : "");
		free(todo);
	}
	else if (st->phase == PHASE_DRAINING)
	{
		char	   *todo = next_step(ts, "finish");

		add_problem(ts, late ? STATUS_CRITICAL : STATUS_WARNING,
					"draining for %s%s: old role \"%s\" stays valid until its sessions end; %s",
					a, late ? " (longer than drain_timeout)" : "", st->standby_role, todo);
		free(todo);
	}
	else if (st->phase == PHASE_UNKNOWN)
		add_problem(ts, STATUS_CRITICAL, "unknown phase \"%s\" in pgrotate.state",
					st->phase_text);
}

/* Rotation due or overdue; password expiring before the next rotation. */
static void
judge_due(TargetStatus *ts)
{
	const Settings *s = &ts->t->s;
	int64_t		due_in = ts->next_due - ts->now;
	char		a[32],
				b[32],
				c[32];

	if (due_in <= 0)
	{
		duration_format(s->rotation_interval_ms, c, sizeof(c));
		add_problem(ts, STATUS_CRITICAL, "overdue by %s: rotated %s ago, rotation_interval is %s",
					secs(-due_in, a), secs(ts->now - ts->st.rotated_at, b), c);
	}
	else if (due_in * 1000 <= s->warn_before_ms)
	{
		duration_format(s->warn_before_ms, c, sizeof(c));
		add_problem(ts, STATUS_WARNING, "rotation due in %s (warn_before %s)",
					secs(due_in, a), c);
	}
	if (ts->valid_until == 0)
		return;
	format_utc(ts->valid_until, a);
	format_utc(ts->next_due, b);
	if (ts->valid_until <= ts->now)
		add_problem(ts, STATUS_CRITICAL, "the password of the active role \"%s\" expired at %s (VALID UNTIL)",
					ts->st.active_role, a);
	else if (ts->valid_until < ts->next_due)
		add_problem(ts, STATUS_CRITICAL,
					"the password of the active role \"%s\" expires at %s, before the next due rotation at %s: rotate now, and make password_expiry longer than rotation_interval",
					ts->st.active_role, a, b);
}

/* The state must name the roles of the configuration. */
static void
judge_config(TargetStatus *ts)
{
	const Target *t = ts->t;
	const StateRow *st = &ts->st;
	bool		same = strcmp(st->group_role, t->group_role) == 0 &&
		((strcmp(st->active_role, t->roles[0]) == 0 && strcmp(st->standby_role, t->roles[1]) == 0) ||
		 (strcmp(st->active_role, t->roles[1]) == 0 && strcmp(st->standby_role, t->roles[0]) == 0));

	if (!same)
		add_problem(ts, STATUS_CRITICAL,
					"the configuration names group \"%s\" and roles \"%s\", \"%s\", but the state has group \"%s\" and roles \"%s\", \"%s\"",
					t->group_role, t->roles[0], t->roles[1], st->group_role,
					st->active_role, st->standby_role);
}

void
status_collect(const Target *t, TargetStatus *ts)
{
	const char *over[] = {"application_name", STATUS_APP_NAME, NULL};
	char	   *err = NULL;
	DbConn	   *admin;

	memset(ts, 0, sizeof(*ts));
	ts->t = t;
	ts->level = STATUS_OK;
	ts->roles[0] = t->roles[0];
	ts->roles[1] = t->roles[1];
	ts->roles[2] = t->group_role;
	admin = db_connect(t->admin, "primary", over, &err);
	if (admin == NULL)
	{
		add_problem(ts, STATUS_UNKNOWN, "cannot connect to the control database: %s", err);
		free(err);
		return;
	}
	if (!load_state(ts, admin))
	{
		db_close(admin);
		return;
	}
	ts->up = true;
	/* rounded, as the epochs of state_load are */
	ts->now = (ts->st.server_now_ms + 500) / 1000;
	ts->next_due = ts->st.rotated_at + (t->s.rotation_interval_ms + cfg_due_offset_ms(t)) / 1000;
	judge_config(ts);
	judge_phase(ts);
	judge_due(ts);
	collect_nodes(ts, admin);
	db_close(admin);
	collect_sinks(ts);
}

void
status_free(TargetStatus *ts)
{
	state_row_free(&ts->st);
	state_last_error_free(&ts->last_error);
	free(ts->lock_holder);
	for (int i = 0; i < ts->nnodes; i++)
	{
		free(ts->nodes[i].node);
		free(ts->nodes[i].error);
	}
	free(ts->nodes);
	for (int i = 0; i < ts->nsinks; i++)
	{
		free(ts->sinks[i].name);
		free(ts->sinks[i].role);
		free(ts->sinks[i].detail);
	}
	free(ts->sinks);
	for (int i = 0; i < ts->nproblems; i++)
	{
		free(ts->problems[i].msg);
		free(ts->problems[i].detail);
		free(ts->problems[i].hint);
	}
	free(ts->problems);
	memset(ts, 0, sizeof(*ts));
}
