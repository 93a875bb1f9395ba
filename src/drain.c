/*
 * drain.c: polling pg_stat_activity on every node until a role's sessions
 * are gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drain.h"
#include "duration.h"
#include "log.h"
#include "util.h"

#define PROGRESS_LOG_MS 10000

void
sessionlist_free(SessionList *l)
{
	for (int i = 0; i < l->n; i++)
	{
		free(l->items[i].application_name);
		free(l->items[i].client_addr);
		free(l->items[i].backend_start);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

char *
sessionlist_describe(const SessionList *l, int max)
{
	StrBuf		sb;

	sb_init(&sb);
	for (int i = 0; i < l->n && i < max; i++)
	{
		const Session *s = &l->items[i];

		sb_appendf(&sb, "%s%s pid %d", i ? "; " : "", s->node, s->pid);
		if (s->application_name && s->application_name[0])
			sb_appendf(&sb, " \"%s\"", s->application_name);
		sb_appendf(&sb, " from %s", s->client_addr ? s->client_addr : "(hidden)");
		if (s->backend_start)
			sb_appendf(&sb, " since %s", s->backend_start);
	}
	if (l->n > max)
		sb_appendf(&sb, "; and %d more", l->n - max);
	return sb_steal(&sb);
}

static char *
dup_col(const DbRes *r, int row, int col)
{
	return db_isnull(r, row, col) ? NULL : xstrdup(db_val(r, row, col));
}

int
drain_list_sessions(DbConn *c, const char *role, SessionList *out, char **err)
{
	const char *p[1] = {role};
	DbRes	   *r = NULL;

	/* A fresh snapshot: each statement here is its own transaction. */
	if (db_cmd(c, "SELECT pg_catalog.pg_stat_clear_snapshot()", err) != 0)
		return -1;
	if (db_exec(c,
				"SELECT a.pid, a.application_name,"
				" CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr)"
				"      WHEN a.backend_start IS NOT NULL THEN 'local' END,"
				" to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SSOF')"
				" FROM pg_catalog.pg_stat_activity a"
				" WHERE a.usesysid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)"
				" AND a.pid <> pg_catalog.pg_backend_pid() ORDER BY a.backend_start, a.pid",
				1, p, 4, &r, err) != 0)
		return -1;
	for (int i = 0; i < db_nrows(r); i++)
	{
		Session    *s;

		if (out->n == out->cap)
		{
			out->cap = out->cap ? out->cap * 2 : 8;
			out->items = xrealloc(out->items, sizeof(Session) * out->cap);
		}
		s = &out->items[out->n++];
		s->node = db_label(c);
		s->pid = (int) db_int(r, i, 0);
		s->application_name = dup_col(r, i, 1);
		s->client_addr = dup_col(r, i, 2);
		s->backend_start = dup_col(r, i, 3);
	}
	db_res_free(r);
	return 0;
}

/* "primary 2, replica db2 0" */
static char *
per_node_counts(const DrainSpec *spec, const SessionList *l)
{
	StrBuf		sb;

	sb_init(&sb);
	for (int k = 0; k < spec->nnodes; k++)
	{
		int			n = 0;

		for (int i = 0; i < l->n; i++)
			if (l->items[i].node == db_label(spec->nodes[k]))
				n++;
		sb_appendf(&sb, "%s%s %d", k ? ", " : "", db_label(spec->nodes[k]), n);
	}
	return sb_steal(&sb);
}

static void
show_progress(const DrainSpec *spec, const SessionList *l, int64_t elapsed,
			  int64_t overlap_left, bool live, bool final)
{
	char		e[32],
				t[32],
				o[32];
	char	   *counts = per_node_counts(spec, l);
	char	   *who = l->n ? sessionlist_describe(l, 3) : NULL;

	duration_format(elapsed - elapsed % 1000, e, sizeof(e));
	duration_format(spec->timeout_ms, t, sizeof(t));
	duration_format(overlap_left > 0 ? overlap_left + 999 - (overlap_left + 999) % 1000 : 0,
					o, sizeof(o));
	if (live)
	{
		fprintf(stderr, "\r\033[Kdraining %s: sessions %s; overlap %s left; %s/%s%s",
				spec->role, counts, o, e, t, final ? "\n" : "");
		fflush(stderr);
	}
	else
		log_emit(LOG_LEVEL_INFO, "drain_progress", who, NULL,
				 "draining %s: sessions %s; min_overlap %s left; waited %s of %s",
				 spec->role, counts, o, e, t);
	free(counts);
	free(who);
}

static int
poll_nodes(const DrainSpec *spec, SessionList *l, char **err)
{
	sessionlist_free(l);
	for (int k = 0; k < spec->nnodes; k++)
		if (drain_list_sessions(spec->nodes[k], spec->role, l, err) != 0)
			return -1;
	return 0;
}

DrainResult
drain_wait(const DrainSpec *spec, SessionList *left, char **err)
{
	int64_t		start = clock_mono_ms();
	int64_t		last_log = -PROGRESS_LOG_MS;
	bool		live = isatty(STDERR_FILENO) && !log_is_json() && log_enabled(LOG_LEVEL_INFO);
	int			last_n = -1;

	for (;;)
	{
		int64_t		now = clock_mono_ms();
		int64_t		elapsed = now - start;
		int64_t		overlap_left = spec->overlap_left_ms - elapsed;
		bool		done;

		if (poll_nodes(spec, left, err) != 0)
			return DRAIN_ERROR;
		done = overlap_left <= 0 && left->n == 0;
		if (live || done || left->n != last_n || now - last_log >= PROGRESS_LOG_MS)
		{
			if (live || !done || elapsed > 0)
				show_progress(spec, left, elapsed, overlap_left, live, done);
			last_log = now;
			last_n = left->n;
		}
		if (done)
			return DRAIN_DONE;
		if (spec->stop && *spec->stop)
		{
			if (live)
				fputc('\n', stderr);
			return DRAIN_INTERRUPTED;
		}
		if (elapsed >= spec->timeout_ms)
		{
			if (live)
				fputc('\n', stderr);
			return DRAIN_TIMEOUT;
		}
		sleep_ms(spec->poll_ms < spec->timeout_ms - elapsed ? spec->poll_ms
				 : spec->timeout_ms - elapsed, spec->stop);
	}
}

int
drain_terminate(DbConn *c, const char *role, int *n, char **err)
{
	const char *p[1] = {role};
	DbRes	   *r = NULL;

	*n = 0;
	if (db_exec(c,
				"SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(a.pid))"
				" FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r"
				" ON r.oid = a.usesysid"
				" WHERE r.rolname = $1 AND NOT r.rolsuper"
				" AND a.pid <> pg_catalog.pg_backend_pid()",
				1, p, 1, &r, err) != 0)
		return -1;
	*n = (int) db_int(r, 0, 0);
	db_res_free(r);
	return 0;
}
