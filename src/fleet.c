/*
 * fleet.c: "pgrotate cycle" over several targets (SPEC section 6).
 *
 * This process is the coordinator. It holds one connection, the hub, per
 * PostgreSQL server and admin role of the selected targets. Workers (child
 * processes, at most --jobs at once, and only while every server they use
 * has room for them within max_node_connections) run the active steps of
 * one target: a first worker runs the cycle up to the publish and reports
 * the drain it leaves (the target's old role, how much of min_overlap is
 * left); the coordinator then waits out every drain at once, counting the
 * old roles' sessions on each server with one query per poll on its hub,
 * and starts a second worker to revoke a target once its old role has
 * drained (or at its drain_timeout, which that worker then handles as a
 * single cycle does: exit 3, or terminate). A draining target holds no job
 * slot and no connection of its own.
 *
 * The targets' locks are claimed for their server's hub (state_lock_as):
 * they live as long as this process, whose workers die with it
 * (PR_SET_PDEATHSIG), so a run killed anywhere leaves no lock behind and
 * the next run resumes every target.
 *
 * PgBouncer poolers: the coordinator holds one console connection per
 * pooler for the whole run. It counts the old roles' clients and server
 * connections there with one SHOW CLIENTS and one SHOW SERVERS per poll
 * (and sends RECONNECT as a single cycle does), and it runs the RELOAD a
 * worker asks for after writing a pgbouncer auth_file ("reload <target>" on
 * the report pipe, "ok" or the error on the worker's reply pipe), and the
 * KILL_CLIENT of a timed-out target's clients (on_drain_timeout =
 * "terminate", --emergency). A worker opens a console itself only when
 * the run's console to that pooler failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget.h"
#include "commands.h"
#include "drain.h"
#include "duration.h"
#include "exitcode.h"
#include "fault.h"
#include "fleet.h"
#include "log.h"
#include "pooler.h"
#include "transport.h"
#include "util.h"

#define FLEET_PROGRESS_MS 10000	/* a log line at least this often */
#define FLEET_LIVE_MS 1000		/* the live line on a terminal */
#define FLEET_MIN_TICK_MS 50

typedef enum FState
{
	F_PENDING,					/* waiting for a job slot (first worker) */
	F_ACTIVE,					/* a worker runs its active steps */
	F_DRAINING,					/* the coordinator waits out its drain */
	F_READY,					/* drained or timed out: a worker revokes */
	F_DONE
} FState;

typedef struct Hub
{
	char	   *node;			/* "host:port": its server, for the budget */
	char	   *key;			/* "host:port user" */
	DbConn	   *c;
	int			pid;			/* its backend, for the claims */
	char	   *start;
} Hub;

typedef struct Console
{
	const char *conninfo;		/* the target's pooler entry */
	Pooler	   *p;
} Console;

typedef struct FTarget
{
	const Target *t;
	FState		st;
	int			rc;
	pid_t		pid;			/* its worker, 0 when none */
	bool		revoking;		/* its worker is the second, the revoke */
	bool		reported;		/* its first worker reported a drain */
	char	   *old;			/* the old role while draining */
	int64_t		overlap_at;		/* monotonic ms: min_overlap is over */
	int64_t		deadline;		/* monotonic ms: drain_timeout */
	int64_t		sessions;		/* of the old role, last poll */
	int		   *hubs;			/* primary and replicas */
	int			nhubs;
	int		   *consoles;		/* its poolers */
	int			reply_fd;		/* its first worker's reply pipe, or -1 */
	bool		killed;			/* its drain timed out: the coordinator
								 * disconnected its pooler clients */
	int			nkilled;		/* ... this many */
	int			nunkillable;	/* ... and left these (no KILL_CLIENT) */
} FTarget;

typedef struct Fleet
{
	const Config *cfg;
	const CycleOpts *o;
	int			jobs;
	FTarget    *ft;
	int			n;
	Hub		   *hubs;
	int			nhubs;
	Console    *consoles;
	int			nconsoles;
	Budget	   *budget;
	int			running;
	int			report[2];		/* the workers' pipe */
	StrBuf		partial;		/* an incomplete report line */
	int64_t		next_poll;
	int64_t		next_progress;
} Fleet;

/* The hub of conninfo (opened on first use): its index, or -1 with *err. */
static int
hub_for(Fleet *f, const char *conninfo, char **err)
{
	char	   *node = db_conninfo_node(conninfo);
	char	   *user = NULL;
	char	   *key;
	DbRes	   *r = NULL;
	Hub		   *h;

	if (db_conninfo_get(conninfo, "user", &user, err) != 0)
	{
		free(node);
		return -1;
	}
	key = xasprintf("%s %s", node, user ? user : "");
	free(user);
	for (int i = 0; i < f->nhubs; i++)
		if (strcmp(f->hubs[i].key, key) == 0)
		{
			free(key);
			free(node);
			return i;
		}
	f->hubs = xrealloc(f->hubs, sizeof(Hub) * (f->nhubs + 1));
	h = &f->hubs[f->nhubs];
	memset(h, 0, sizeof(*h));
	h->key = key;
	h->node = node;
	/* the claims live as long as the hub: a server's idle_session_timeout must not end it */
	if ((h->c = cycle_connect_admin_conninfo(conninfo, err)) == NULL ||
		db_cmd(h->c, "SET idle_session_timeout = 0", err) != 0 ||
		db_exec(h->c, "SELECT a.pid, a.backend_start::text FROM pg_catalog.pg_stat_activity a"
				" WHERE a.pid = pg_catalog.pg_backend_pid()", 0, NULL, 2, &r, err) != 0 ||
		db_nrows(r) != 1)
	{
		if (*err == NULL)
			*err = xasprintf("%s: cannot see its own session in pg_stat_activity", key);
		db_res_free(r);
		db_close(h->c);
		free(h->key);
		free(h->node);
		return -1;
	}
	h->pid = (int) db_int(r, 0, 0);
	h->start = xstrdup(db_val(r, 0, 1));
	db_res_free(r);
	return f->nhubs++;
}

/* The console of pooler conninfo (opened on first use), or -1 with *err. */
static int
console_for(Fleet *f, const char *conninfo, char **err)
{
	Pooler	   *p;

	for (int k = 0; k < f->nconsoles; k++)
		if (strcmp(f->consoles[k].conninfo, conninfo) == 0)
			return k;
	if ((p = pooler_open(conninfo, err)) == NULL)
		return -1;
	f->consoles = xrealloc(f->consoles, sizeof(Console) * (f->nconsoles + 1));
	f->consoles[f->nconsoles].conninfo = conninfo;
	f->consoles[f->nconsoles].p = p;
	return f->nconsoles++;
}

/* The consoles of target ft's poolers. 0 or -1 (logged). */
static int
open_consoles(Fleet *f, FTarget *ft)
{
	const Target *t = ft->t;

	ft->consoles = xcalloc(t->poolers.n + 1, sizeof(int));
	for (int k = 0; k < t->poolers.n; k++)
	{
		char	   *err = NULL;

		if ((ft->consoles[k] = console_for(f, t->poolers.items[k], &err)) < 0)
		{
			log_emit(LOG_LEVEL_ERROR, "failed", NULL,
					 "Start that pooler, or remove it from the target's poolers; nothing was changed.",
					 "cannot open the fleet's console connection for target \"%s\": %s", t->name, err);
			free(err);
			return -1;
		}
	}
	return 0;
}

/*
 * The transport rule of target ft, before the run connects for it: a
 * target that breaks it is done and failed with nothing changed, opens no
 * hub and gets no worker; the other targets go on, as with any failing
 * target. false if refused.
 */
static bool
transport_allowed(FTarget *ft)
{
	char	   *err = NULL;

	if (transport_enforce(ft->t, &err) == 0)
		return true;
	log_emit(LOG_LEVEL_ERROR, "failed", NULL, NULL,
			 "target \"%s\": refusing to connect, nothing was changed: %s", ft->t->name, err);
	free(err);
	ft->st = F_DONE;
	ft->rc = PGR_EXIT_FAIL;
	return false;
}

/*
 * Open the hubs of every target (its primary and replicas) that the
 * transport rule allows. 0 or -1.
 */
static int
open_hubs(Fleet *f)
{
	for (int i = 0; i < f->n; i++)
	{
		FTarget    *ft = &f->ft[i];
		const Target *t = ft->t;
		char	   *err = NULL;

		ft->hubs = xcalloc(1 + t->replicas.n, sizeof(int));
		if (!transport_allowed(ft))
			continue;
		for (int k = -1; k < t->replicas.n; k++)
		{
			int			h = hub_for(f, k < 0 ? t->admin : t->replicas.items[k], &err);

			if (h < 0)
			{
				log_emit(LOG_LEVEL_ERROR, "failed", NULL,
						 "Check the admin conninfo of that node; nothing was changed.",
						 "cannot open the fleet's connection for target \"%s\": %s", t->name, err);
				free(err);
				return -1;
			}
			ft->hubs[ft->nhubs++] = h;
		}
		if (open_consoles(f, ft) != 0)
			return -1;
	}
	return 0;
}

/* The worker of target i: a cycle up to the drain, or the revoke. */
static void
worker(Fleet *f, int i, bool revoke, int reply_fd)
{
	FTarget    *ft = &f->ft[i];
	CycleOpts	o = *f->o;
	const Hub  *h = &f->hubs[ft->hubs[0]];

	prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlive the coordinator */
	if (getppid() == 1)
		_exit(PGR_EXIT_FAIL);
	FAULT_KILL_ALSO(getppid());
	close(f->report[0]);
	o.lock_pid = h->pid;
	o.lock_start = h->start;
	if (revoke)
	{
		int64_t		left = ft->deadline - clock_mono_ms();

		o.drain_left_ms = left > 1 ? left : 1;
		/* drained on its poolers too: the worker need not open them */
		o.poolers_polled = ft->sessions == 0 || ft->killed;
		o.poolers_killed = ft->killed;
		o.pooler_killed = ft->nkilled;
		o.pooler_unkillable = ft->nunkillable;
		/*
		 * Its first worker checked the schema's trust and the setup in
		 * this run; only the schema's owner or a superuser could change
		 * what the trust check found (state_trust.c) since.
		 */
		o.checked = true;
	}
	else
	{
		o.report_fd = f->report[1];
		o.reply_fd = reply_fd;
	}
	/* the hubs' sockets are the coordinator's: never touched here */
	_exit(cycle_run(f->cfg, ft->t, &o));
}

static void
start_worker(Fleet *f, int i)
{
	FTarget    *ft = &f->ft[i];
	bool		revoke = ft->st == F_READY;
	int			reply[2] = {-1, -1};
	pid_t		pid = -1;

	fflush(NULL);
	if (revoke || ft->t->poolers.n == 0 || pipe(reply) == 0)
		pid = fork();
	if (pid < 0)
	{
		log_error("cannot start a process for target \"%s\": %s", ft->t->name, strerror(errno));
		close_fd(&reply[0]);
		close_fd(&reply[1]);
		ft->st = F_DONE;
		ft->rc = PGR_EXIT_FAIL;
		return;
	}
	if (pid == 0)
	{
		close_fd(&reply[1]);
		worker(f, i, revoke, reply[0]);
	}
	close_fd(&reply[0]);
	ft->reply_fd = reply[1];
	ft->pid = pid;
	ft->revoking = revoke;
	ft->st = F_ACTIVE;
	budget_take(f->budget, i);
	f->running++;
}

/* Start what fits: --jobs, and room on every server of the target. */
static void
start_workers(Fleet *f)
{
	for (int i = 0; i < f->n && f->running < f->jobs; i++)
	{
		FState		st = f->ft[i].st;

		if ((st == F_PENDING || st == F_READY) && budget_fits(f->budget, i))
			start_worker(f, i);
	}
}

static int
find_target(const Fleet *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->ft[i].t->name, name) == 0)
			return i;
	return -1;
}

/* Console k, reopened if an earlier command lost it. NULL with *err. */
static Pooler *
console_get(Fleet *f, int k, char **err)
{
	Console    *cs = &f->consoles[k];

	if (cs->p == NULL)
		cs->p = pooler_open(cs->conninfo, err);
	return cs->p;
}

/* Close console k after an error: the next use opens a new one. */
static void
console_lost(Fleet *f, int k)
{
	pooler_close(f->consoles[k].p);
	f->consoles[k].p = NULL;
}

/* RELOAD every pooler of target i on its console; the answer to its worker. */
static void
reload_for(Fleet *f, int i)
{
	FTarget    *ft = &f->ft[i];
	char	   *err = NULL;
	char	   *reply;

	for (int k = 0; k < ft->t->poolers.n && err == NULL; k++)
	{
		int			c = ft->consoles[k];
		Pooler	   *p = console_get(f, c, &err);

		if (p && pooler_reload(p, &err) != 0)
		{
			/* a pooler restarted since: a new console, once */
			free(err);
			err = NULL;
			console_lost(f, c);
			if ((p = console_get(f, c, &err)) != NULL && pooler_reload(p, &err) != 0)
				console_lost(f, c);
		}
		if (err)
			break;
		log_set_target(ft->t->name);
		log_info("%s reloaded its auth_file", pooler_label(p));
		log_set_target(NULL);
	}
	reply = err ? xasprintf("%s\n", err) : xstrdup("ok\n");
	for (char *c = reply; *c && c[1]; c++)
		if (*c == '\n')
			*c = ' ';
	if (ft->reply_fd < 0 || write(ft->reply_fd, reply, strlen(reply)) < 0)
		log_warning("cannot answer the worker of target \"%s\"", ft->t->name);
	free(reply);
	free(err);
}

/* How long target ft may drain: its drain_timeout, or emergency_grace. */
static int64_t
drain_limit(const Fleet *f, const FTarget *ft)
{
	return f->o->emergency ? ft->t->s.emergency_grace_ms : ft->t->s.drain_timeout_ms;
}

/*
 * One report line of a worker: "drain <target> <old role> <overlap ms>"
 * (start its drain) or "reload <target>" (RELOAD its poolers).
 */
static void
take_report(Fleet *f, char *line)
{
	char	   *name = strchr(line, ' ');
	char	   *sp1,
			   *sp2;
	int			i;
	FTarget    *ft;
	int64_t		now = clock_mono_ms();

	if (name == NULL)
		return;
	*name++ = '\0';
	if (strcmp(line, "reload") == 0)
	{
		if ((i = find_target(f, name)) >= 0)
			reload_for(f, i);
		return;
	}
	sp1 = strchr(name, ' ');
	sp2 = sp1 ? strrchr(name, ' ') : NULL;
	if (strcmp(line, "drain") != 0 || sp1 == NULL || sp2 == sp1)
		return;
	*sp1 = *sp2 = '\0';
	if ((i = find_target(f, name)) < 0)
		return;
	ft = &f->ft[i];
	free(ft->old);
	ft->old = xstrdup(sp1 + 1);
	ft->reported = true;
	ft->overlap_at = now + strtoll(sp2 + 1, NULL, 10);
	ft->deadline = now + drain_limit(f, ft);
	ft->sessions = -1;
}

static void
read_reports(Fleet *f)
{
	char		buf[4096];
	ssize_t		r;
	char	   *nl;

	while ((r = read(f->report[0], buf, sizeof(buf))) > 0)
		sb_appendn(&f->partial, buf, (size_t) r);
	while ((nl = strchr(f->partial.data, '\n')) != NULL)
	{
		char	   *line = xstrndup(f->partial.data, (size_t) (nl - f->partial.data));
		char	   *rest = xstrdup(nl + 1);

		take_report(f, line);
		free(line);
		sb_reset(&f->partial);
		sb_append(&f->partial, rest);
		free(rest);
	}
}

/* Worker pid ended with status: its target drains, or is done. */
static void
finished(Fleet *f, pid_t pid, int status)
{
	int			rc = WIFEXITED(status) ? WEXITSTATUS(status) : PGR_EXIT_FAIL;

	for (int i = 0; i < f->n; i++)
	{
		FTarget    *ft = &f->ft[i];

		if (ft->pid != pid)
			continue;
		ft->pid = 0;
		close_fd(&ft->reply_fd);
		f->running--;
		budget_give(f->budget, i);
		read_reports(f);		/* its report came before its exit */
		if (rc == PGR_EXIT_OK && ft->reported && !ft->revoking)
			ft->st = F_DRAINING;
		else
		{
			ft->st = F_DONE;
			ft->rc = rc;
		}
	}
}

/* Reap finished workers without waiting. */
static void
reap(Fleet *f)
{
	int			status;
	pid_t		pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		finished(f, pid, status);
}

/* A text[] literal of the draining old roles on hub h; NULL if none. */
static char *
roles_on_hub(const Fleet *f, int h)
{
	StrBuf		sb;
	int			n = 0;

	sb_init(&sb);
	sb_appendc(&sb, '{');
	for (int i = 0; i < f->n; i++)
	{
		const FTarget *ft = &f->ft[i];
		bool		on = false;

		for (int k = 0; k < ft->nhubs; k++)
			on = on || ft->hubs[k] == h;
		if (ft->st != F_DRAINING || !on)
			continue;
		sb_append(&sb, n++ ? ",\"" : "\"");
		for (const char *c = ft->old; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				sb_appendc(&sb, '\\');
			sb_appendc(&sb, *c);
		}
		sb_appendc(&sb, '"');
	}
	sb_appendc(&sb, '}');
	if (n == 0)
	{
		sb_free(&sb);
		return NULL;
	}
	return sb_steal(&sb);
}

/* Add the session counts of hub h to the draining targets on it. */
static int
poll_hub(Fleet *f, int h, char **err)
{
	char	   *roles = roles_on_hub(f, h);
	const char *p[1] = {roles};
	DbRes	   *r = NULL;

	if (roles == NULL)
		return 0;
	if (db_exec(f->hubs[h].c, "SELECT usename::text, count(*) FROM pg_catalog.pg_stat_activity"
				" WHERE usename = ANY ($1::pg_catalog.text[]) GROUP BY 1", 1, p, 2, &r, err) != 0)
	{
		free(roles);
		return -1;
	}
	free(roles);
	for (int row = 0; row < db_nrows(r); row++)
		for (int i = 0; i < f->n; i++)
		{
			FTarget    *ft = &f->ft[i];

			for (int k = 0; k < ft->nhubs; k++)
				if (ft->st == F_DRAINING && ft->hubs[k] == h &&
					strcmp(ft->old, db_val(r, row, 0)) == 0)
					ft->sessions += db_int(r, row, 1);
		}
	db_res_free(r);
	return 0;
}

static bool
uses_console(const FTarget *ft, int k)
{
	for (int j = 0; j < ft->t->poolers.n; j++)
		if (ft->consoles[j] == k)
			return true;
	return false;
}

/*
 * Add the clients and server connections on console k to the draining
 * targets behind it: one SHOW CLIENTS and one SHOW SERVERS for all of them.
 */
static int
poll_console(Fleet *f, int k, char **err)
{
	const char **roles = xcalloc(f->n + 1, sizeof(char *));
	bool	   *reconnect = xcalloc(f->n + 1, sizeof(bool));
	int64_t    *counts = xcalloc(f->n + 1, sizeof(int64_t));
	int		   *who = xcalloc(f->n + 1, sizeof(int));
	int64_t		now = clock_mono_ms();
	int			n = 0;
	int			rc = 0;

	for (int i = 0; i < f->n; i++)
		if (f->ft[i].st == F_DRAINING && uses_console(&f->ft[i], k))
		{
			who[n] = i;
			reconnect[n] = now >= f->ft[i].overlap_at;
			roles[n++] = f->ft[i].old;
		}
	if (n > 0)
	{
		Pooler	   *p = console_get(f, k, err);

		rc = p ? pooler_count(p, roles, reconnect, n, counts, err) : -1;
		if (p && rc != 0)
			console_lost(f, k);
	}
	for (int j = 0; rc == 0 && j < n; j++)
		f->ft[who[j]].sessions += counts[j];
	free(roles);
	free(reconnect);
	free(counts);
	free(who);
	return rc;
}

/*
 * Target i's drain timed out with sessions left, and its policy ends them
 * (on_drain_timeout = "terminate", --emergency): disconnect its old role's
 * clients on the run's own consoles, so that its revoking worker opens
 * none (one console connection per pooler and run). The worker ends the
 * backends and records what both ended. Unless a console fails: then the
 * worker does it all, on its own console.
 */
static void
kill_pooler_clients(Fleet *f, int i)
{
	FTarget    *ft = &f->ft[i];
	bool		ok = true;

	log_set_target(ft->t->name);
	for (int k = 0; k < ft->t->poolers.n && ok; k++)
	{
		char	   *err = NULL;
		Pooler	   *p = console_get(f, ft->consoles[k], &err);

		if (p == NULL)
		{
			log_warning("cannot reach a pooler's console: %s", err);
			free(err);
			ok = false;
		}
		else if (drain_kill_pooler_clients(p, ft->old, &ft->nkilled, &ft->nunkillable) != 0)
		{
			console_lost(f, ft->consoles[k]);
			ok = false;
		}
	}
	log_set_target(NULL);
	ft->killed = ok;
}

/*
 * One poll of every draining target: one query per hub. A drained target
 * whose min_overlap is over, or one past its drain_timeout, is ready for
 * its revoking worker.
 */
static void
poll_drains(Fleet *f)
{
	int64_t		now = clock_mono_ms();

	for (int i = 0; i < f->n; i++)
		if (f->ft[i].st == F_DRAINING)
			f->ft[i].sessions = 0;
	for (int h = 0; h < f->nhubs + f->nconsoles; h++)
	{
		char	   *err = NULL;

		if ((h < f->nhubs ? poll_hub(f, h, &err) : poll_console(f, h - f->nhubs, &err)) != 0)
		{
			/* the revoking workers will poll (and report) for themselves */
			log_warning("cannot count the sessions on %s: %s",
						h < f->nhubs ? f->hubs[h].key : "a pooler's console", err);
			free(err);
			for (int i = 0; i < f->n; i++)
				if (f->ft[i].st == F_DRAINING)
					f->ft[i].sessions = -1;
		}
	}
	for (int i = 0; i < f->n; i++)
	{
		FTarget    *ft = &f->ft[i];

		if (ft->st == F_DRAINING &&
			((ft->sessions == 0 && now >= ft->overlap_at) || now >= ft->deadline ||
			 ft->sessions < 0))
		{
			if (ft->sessions > 0 && ft->t->poolers.n > 0 &&
				(f->o->emergency || ft->t->s.on_drain_timeout == DRAIN_TERMINATE))
				kill_pooler_clients(f, i);
			ft->st = F_READY;
		}
	}
}

/* How long until the next drain poll: the shortest poll_interval. */
static int64_t
poll_every(const Fleet *f)
{
	int64_t		ms = 1000;

	for (int i = 0; i < f->n; i++)
		if (f->ft[i].st == F_DRAINING && f->ft[i].t->s.poll_interval_ms < ms)
			ms = f->ft[i].t->s.poll_interval_ms;
	return ms < FLEET_MIN_TICK_MS ? FLEET_MIN_TICK_MS : ms;
}

static const char *const fstate_names[] = {
	"waiting", "running", "draining", "revoking", "done"
};

/* --log-format=json: one line per target with its state and sessions. */
static void
progress_per_target(const Fleet *f)
{
	for (int i = 0; i < f->n; i++)
	{
		const FTarget *ft = &f->ft[i];
		char		detail[128] = "";

		if (ft->st == F_DRAINING && ft->sessions >= 0)
			snprintf(detail, sizeof(detail), "%lld session%s of role \"%s\" left.",
					 (long long) ft->sessions, ft->sessions == 1 ? "" : "s", ft->old);
		log_set_target(ft->t->name);
		log_emit(LOG_LEVEL_INFO, "fleet_target", detail[0] ? detail : NULL, NULL,
				 "%s%s", fstate_names[ft->st == F_READY ? F_READY : ft->st],
				 ft->st == F_DONE && ft->rc != PGR_EXIT_OK ? " (failed)" : "");
	}
	log_set_target(NULL);
}

/*
 * "; slowest drains: t1 (2 sessions of role t1_a, 41s), ..." for at most
 * max draining targets with sessions left, the longest draining first
 * (their drains began when they published). "" when none.
 */
static char *
slowest_drains(const Fleet *f, int max)
{
	StrBuf		sb;
	bool	   *shown = xcalloc(f->n + 1, sizeof(bool));
	int64_t		now = clock_mono_ms();
	char		took[32];

	sb_init(&sb);
	for (int k = 0; k < max; k++)
	{
		const FTarget *slow = NULL;
		int			at = -1;

		for (int i = 0; i < f->n; i++)
		{
			const FTarget *ft = &f->ft[i];

			if (!shown[i] && ft->st == F_DRAINING && ft->sessions > 0 &&
				(slow == NULL || ft->deadline < slow->deadline))
			{
				slow = ft;
				at = i;
			}
		}
		if (slow == NULL)
			break;
		shown[at] = true;
		/* whole seconds, as duration.c prints them ("1m5s") */
		duration_format((now - (slow->deadline - drain_limit(f, slow))) / 1000 * 1000, took, sizeof(took));
		sb_appendf(&sb, "%s%s (%lld session%s of role %s, %s)", k ? ", " : "; slowest drains: ",
				   slow->t->name, (long long) slow->sessions, slow->sessions == 1 ? "" : "s", slow->old,
				   took);
	}
	free(shown);
	return sb_steal(&sb);
}

/*
 * Counts of the targets by state, and the draining target with the most
 * sessions left: a live line on a terminal, else a log line (and with
 * --log-format=json one line per target as well).
 */
static void
show_progress(Fleet *f, bool final, bool live)
{
	int			count[F_DONE + 1] = {0};
	int			failed = 0;
	char	   *slow = slowest_drains(f, 3);
	char	   *msg;

	for (int i = 0; i < f->n; i++)
	{
		const FTarget *ft = &f->ft[i];

		count[ft->st]++;
		failed += ft->st == F_DONE && ft->rc != PGR_EXIT_OK;
	}
	msg = xasprintf("%d target%s: %d done (%d failed), %d draining, %d running, %d waiting for a job slot%s",
					f->n, f->n == 1 ? "" : "s", count[F_DONE], failed, count[F_DRAINING],
					count[F_ACTIVE], count[F_PENDING] + count[F_READY], slow);
	free(slow);
	if (live && !final)
		log_live("%s", msg);
	else
	{
		if (log_is_json())
			progress_per_target(f);
		log_emit(LOG_LEVEL_INFO, final ? "fleet_done" : "fleet_progress", NULL, NULL, "%s", msg);
	}
	free(msg);
}

static bool
all_done(const Fleet *f)
{
	for (int i = 0; i < f->n; i++)
		if (f->ft[i].st != F_DONE)
			return false;
	return true;
}

/* Sleep until a report comes or ms pass (a signal ends it too). */
static void
wait_a_little(Fleet *f, int64_t ms)
{
	struct pollfd pfd = {f->report[0], POLLIN, 0};

	(void) poll(&pfd, 1, (int) (ms < 100 ? ms : 100));
}

static void
coordinate(Fleet *f)
{
	int64_t		now;
	bool		live = isatty(STDERR_FILENO) && !log_is_json() && log_enabled(LOG_LEVEL_INFO);

	f->next_progress = clock_mono_ms() + (live ? FLEET_LIVE_MS : FLEET_PROGRESS_MS);
	while (!all_done(f) && !cmd_stop_requested)
	{
		read_reports(f);
		reap(f);
		start_workers(f);
		now = clock_mono_ms();
		if (now >= f->next_poll)
		{
			poll_drains(f);
			f->next_poll = now + poll_every(f);
			start_workers(f);
		}
		if (now >= f->next_progress)
		{
			show_progress(f, false, live);
			f->next_progress = now + (live ? FLEET_LIVE_MS : FLEET_PROGRESS_MS);
		}
		if (!all_done(f))
			wait_a_little(f, f->next_poll - now);
	}
}

/* Stopped by a signal: the workers stop too; the drains are left. */
static void
stop_all(Fleet *f)
{
	int			status;
	int			left = 0;
	pid_t		pid;

	for (int i = 0; i < f->n; i++)
		if (f->ft[i].pid > 0)
			kill(f->ft[i].pid, SIGTERM);
	while (f->running > 0)
	{
		pid = waitpid(-1, &status, 0);
		if (pid > 0)
			finished(f, pid, status);
		else if (errno != EINTR)
			break;
	}
	for (int i = 0; i < f->n; i++)
		if (f->ft[i].st == F_DRAINING || f->ft[i].st == F_READY)
		{
			f->ft[i].rc = PGR_EXIT_DRAIN_TIMEOUT;
			left++;
		}
	if (left > 0)
		log_emit(LOG_LEVEL_ERROR, "interrupted", NULL,
				 "Run \"pgrotate cycle --all\" to finish them.",
				 "interrupted with %d target%s draining: their new credentials are published, their old roles stay valid",
				 left, left == 1 ? "" : "s");
}

static void
fleet_free(Fleet *f)
{
	for (int h = 0; h < f->nhubs; h++)
	{
		db_close(f->hubs[h].c);
		free(f->hubs[h].key);
		free(f->hubs[h].node);
		free(f->hubs[h].start);
	}
	for (int i = 0; i < f->n; i++)
	{
		free(f->ft[i].old);
		free(f->ft[i].hubs);
		free(f->ft[i].consoles);
		close_fd(&f->ft[i].reply_fd);
	}
	for (int k = 0; k < f->nconsoles; k++)
		pooler_close(f->consoles[k].p);
	free(f->consoles);
	free(f->hubs);
	free(f->ft);
	budget_free(f->budget);
	sb_free(&f->partial);
	if (f->report[0] >= 0)
		close(f->report[0]);
	if (f->report[1] >= 0)
		close(f->report[1]);
}

int
fleet_run(const Config *cfg, const Target **targets, int n, int jobs,
		  const CycleOpts *o)
{
	Fleet		f;
	int			rc = PGR_EXIT_OK;

	memset(&f, 0, sizeof(f));
	f.cfg = cfg;
	f.o = o;
	f.jobs = jobs;
	f.n = n;
	f.report[0] = f.report[1] = -1;
	sb_init(&f.partial);
	f.ft = xcalloc(n, sizeof(FTarget));
	for (int i = 0; i < n; i++)
	{
		f.ft[i].t = targets[i];
		f.ft[i].reply_fd = -1;
	}
	f.budget = budget_new(targets, n);
	if (pipe(f.report) != 0 || fcntl(f.report[0], F_SETFL, O_NONBLOCK) != 0)
	{
		log_error("cannot make a pipe for the workers: %s", strerror(errno));
		rc = PGR_EXIT_FAIL;
	}
	else if (open_hubs(&f) != 0)
		rc = PGR_EXIT_FAIL;
	else
	{
		for (int h = 0; h < f.nhubs; h++)
			budget_hold(f.budget, f.hubs[h].node);
		coordinate(&f);
		if (cmd_stop_requested)
			stop_all(&f);
		show_progress(&f, true, false);
		for (int i = 0; i < n; i++)
			rc = cmd_worst_exit(rc, f.ft[i].rc);
	}
	fleet_free(&f);
	return rc;
}
