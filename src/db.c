/*
 * db.c: the only file that includes libpq-fe.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "scram.h"
#include "util.h"

struct DbConn
{
	PGconn	   *conn;
	char	   *label;
	char		sqlstate[6];
	bool		abandoned;		/* a query timed out: the connection is unusable */
	bool		console;		/* a PgBouncer admin console: never sent a cancel */
};

/* Every query gets this long (the server may hang; we hold a lock). */
#define DB_QUERY_TIMEOUT_MS 10000
/* How long the cancel request itself may take (connect, send, close). */
#define DB_CANCEL_SEND_MS 2000
/* After a cancel, how long to wait for the server to confirm it. */
#define DB_CANCEL_WAIT_MS 2000
/* Unless the conninfo says otherwise, connecting gives up after this. */
#define DB_CONNECT_TIMEOUT "10"

static volatile int *interrupt_flag;
/* No query may run past this (CLOCK_MONOTONIC ms); 0: no cap. */
static int64_t deadline_cap;

struct DbRes
{
	PGresult   *res;
};

/* Keep libpq's messages to one line: drop the trailing newline. */
static char *
trim_msg(const char *m)
{
	char	   *s = xstrdup(m ? m : "unknown error");
	size_t		n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

static bool
has_keyword(const char **keys, int n, const char *kw)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], kw) == 0)
			return true;
	return false;
}

void
db_set_interrupt(volatile int *flag)
{
	interrupt_flag = flag;
}

void
db_set_deadline_cap(int64_t mono_ms)
{
	deadline_cap = mono_ms;
}

/*
 * Build keyword/value arrays from conninfo plus overrides, so overrides
 * replace conninfo values instead of depending on libpq's precedence rules.
 */
static int
build_params(const char *conninfo, const char *const *overrides,
			 const char ***keys, const char ***vals,
			 PQconninfoOption **opts, char **err)
{
	char	   *perr = NULL;
	int			n = 0,
				nover = 0,
				i;

	*opts = PQconninfoParse(conninfo, &perr);
	if (*opts == NULL)
	{
		char	   *m = trim_msg(perr);

		*err = xasprintf("invalid connection string: %s", m);
		free(m);
		PQfreemem(perr);
		return -1;
	}
	while (overrides && overrides[nover * 2])
		nover++;
	for (PQconninfoOption *o = *opts; o->keyword; o++)
		n++;
	*keys = xcalloc(n + nover + 3, sizeof(char *));
	*vals = xcalloc(n + nover + 3, sizeof(char *));
	i = 0;
	for (PQconninfoOption *o = *opts; o->keyword; o++)
	{
		bool		overridden = false;

		if (o->val == NULL)
			continue;
		for (int k = 0; k < nover; k++)
			if (strcmp(overrides[k * 2], o->keyword) == 0)
				overridden = true;
		if (overridden)
			continue;
		(*keys)[i] = o->keyword;
		(*vals)[i] = o->val;
		i++;
	}
	for (int k = 0; k < nover; k++)
	{
		(*keys)[i] = overrides[k * 2];
		(*vals)[i] = overrides[k * 2 + 1];
		i++;
	}
	(*keys)[i] = "fallback_application_name";
	(*vals)[i] = "pgrotate";
	if (!has_keyword(*keys, i, "connect_timeout"))
	{
		(*keys)[++i] = "connect_timeout";
		(*vals)[i] = DB_CONNECT_TIMEOUT;
	}
	return 0;
}

/*
 * Server NOTICEs ("permission will be denied to set role" when the admin
 * sets a login role's role setting) are for the verbose log, not stderr.
 */
static void
notice_to_log(void *arg, const char *message)
{
	char	   *m = trim_msg(message);

	log_debug("%s: %s", (const char *) arg, m);
	free(m);
}

/* Connect without running anything: a DbConn, or NULL with *err. */
static DbConn *
open_conn(const char *conninfo, const char *label,
		  const char *const *overrides, char **err)
{
	const char **keys = NULL;
	const char **vals = NULL;
	PQconninfoOption *opts = NULL;
	DbConn	   *c;
	PGconn	   *conn;

	*err = NULL;
	if (build_params(conninfo, overrides, &keys, &vals, &opts, err) != 0)
	{
		char	   *m = *err;

		*err = xasprintf("%s: %s", label, m);
		free(m);
		return NULL;
	}
	conn = PQconnectdbParams(keys, vals, 0);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char	   *m = trim_msg(conn ? PQerrorMessage(conn) : "out of memory");

		*err = xasprintf("%s: could not connect: %s", label, m);
		free(m);
		PQfinish(conn);
		return NULL;
	}
	c = xcalloc(1, sizeof(DbConn));
	c->conn = conn;
	c->label = xstrdup(label);
	PQsetNoticeProcessor(conn, notice_to_log, c->label);
	return c;
}

DbConn *
db_connect(const char *conninfo, const char *label,
		   const char *const *overrides, char **err)
{
	DbConn	   *c = open_conn(conninfo, label, overrides, err);
	char	   *e = NULL;

	if (c == NULL)
		return NULL;
	/* A secure search_path: nothing we run may resolve to a user's object. */
	if (db_cmd(c, "SELECT pg_catalog.set_config('search_path', '', false)", &e) != 0)
	{
		*err = xasprintf("%s (while setting a secure search_path)", e);
		free(e);
		db_close(c);
		return NULL;
	}
	return c;
}

void
db_close(DbConn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->conn);
	free(c->label);
	free(c);
}

bool
db_used_password(const DbConn *c)
{
	return PQconnectionUsedPassword(c->conn) != 0;
}

bool
db_ssl_in_use(const DbConn *c)
{
	return PQsslInUse(c->conn) != 0;
}

int
db_libpq_version(void)
{
	return PQlibVersion();
}

const char *
db_label(const DbConn *c)
{
	return c->label;
}

int
db_server_version(const DbConn *c)
{
	return PQserverVersion(c->conn);
}

int
db_backend_pid(const DbConn *c)
{
	return PQbackendPID(c->conn);
}

bool
db_is_ok(const DbConn *c)
{
	return c != NULL && !c->abandoned && PQstatus(c->conn) == CONNECTION_OK;
}

bool
db_in_transaction(const DbConn *c)
{
	return c != NULL && PQtransactionStatus(c->conn) != PQTRANS_IDLE;
}

/* "label: message" with the server's DETAIL and HINT appended. */
static char *
result_error(DbConn *c, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	StrBuf		sb;
	char	   *m;

	sb_init(&sb);
	sb_appendf(&sb, "%s: ", c->label);
	if (primary)
		sb_append(&sb, primary);
	else
	{
		m = trim_msg(PQerrorMessage(c->conn));
		sb_append(&sb, m);
		free(m);
	}
	/* log_emit makes them the message's DETAIL and HINT lines */
	if (detail)
		sb_appendf(&sb, " (detail: %s)", detail);
	if (hint)
		sb_appendf(&sb, " (hint: %s)", hint);
	return sb_steal(&sb);
}

/*
 * Wait until a result can be read without blocking. Returns NULL, or why
 * not: the deadline passed, or (when watch_interrupt) a signal asked us to
 * stop. Wakes up often enough to notice the flag.
 */
static const char *
wait_ready(DbConn *c, int64_t deadline, bool watch_interrupt)
{
	while (PQisBusy(c->conn))
	{
		int64_t		left = deadline - clock_mono_ms();
		struct pollfd p = {PQsocket(c->conn), POLLIN, 0};
		int			rc;

		if (watch_interrupt && interrupt_flag && *interrupt_flag)
			return "interrupted";
		if (left <= 0)
			return "no answer from the server in time";
		rc = poll(&p, 1, left < 250 ? (int) left : 250);
		if (rc < 0 && errno != EINTR)
			return "poll failed";
		if (rc > 0 && !PQconsumeInput(c->conn))
			return NULL;		/* the connection broke: PQgetResult reports it */
	}
	return NULL;
}

/*
 * PQcancel, bounded: libpq 15 and 16 wait without a time limit for the
 * other end to close the cancel connection, so a child sends it and is
 * killed after DB_CANCEL_SEND_MS. The child only uses the PGcancel (a
 * copy of the address and the cancel key) and leaves with _exit, so the
 * parent's connections are untouched. Best effort: errors are ignored.
 */
static void
cancel_in_child(PGcancel *cancel, const char *label)
{
	int64_t		deadline = clock_mono_ms() + DB_CANCEL_SEND_MS;
	int			fds[2];
	pid_t		pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return;
	if ((pid = fork()) == 0)
	{
		char		buf[256];

		close(fds[0]);
		_exit(PQcancel(cancel, buf, sizeof(buf)) ? 0 : 1);
	}
	close(fds[1]);			/* the child's copy closes when it exits */
	for (int64_t left = deadline - clock_mono_ms(); pid > 0 && left > 0;
		 left = deadline - clock_mono_ms())
	{
		struct pollfd p = {fds[0], POLLIN, 0};
		int			rc = poll(&p, 1, (int) left);

		if (rc > 0 || (rc < 0 && errno != EINTR))
			break;
	}
	if (pid > 0 && waitpid(pid, NULL, WNOHANG) == 0)
	{
		log_debug("%s: the cancel request got no answer in time; gave up on it", label);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close(fds[0]);
}

/*
 * Ask the server to cancel what c runs (best effort, bounded). Not a
 * PgBouncer console: it cancels nothing there.
 */
static void
send_cancel(DbConn *c)
{
	PGcancel   *cancel;

	if (c->console)
		return;
	cancel = PQgetCancel(c->conn);
	if (cancel)
	{
		cancel_in_child(cancel, c->label);
		PQfreeCancel(cancel);
	}
}

/*
 * Ask the server to cancel the running query and wait a little for it to
 * confirm; if it does not, the connection is abandoned.
 */
static void
cancel_query(DbConn *c)
{
	int64_t		deadline = clock_mono_ms() + DB_CANCEL_WAIT_MS;
	PGresult   *r;

	send_cancel(c);
	if (c->console)
	{
		c->abandoned = true;	/* nothing was cancelled: give up on it */
		return;
	}
	for (;;)
	{
		if (wait_ready(c, deadline, false) != NULL)
		{
			c->abandoned = true;
			return;
		}
		if ((r = PQgetResult(c->conn)) == NULL)
			return;
		PQclear(r);
	}
}

/*
 * Send sql and collect its results with the deadline; the first error
 * result wins, else the last result. NULL with *why on a timeout or an
 * interrupt (the query is cancelled; only if watch_interrupt) or a send
 * failure (*why NULL).
 */
static PGresult *
run_query(DbConn *c, const char *sql, int nparams, const char *const *params,
		  bool watch_interrupt, const char **why)
{
	int64_t		deadline = clock_mono_ms() + DB_QUERY_TIMEOUT_MS;
	PGresult   *last = NULL;
	PGresult   *r;
	int			sent;

	*why = NULL;
	if (deadline_cap > 0 && deadline_cap < deadline)
		deadline = deadline_cap;
	if (c->abandoned)
	{
		*why = "the connection was abandoned after an earlier timeout";
		return NULL;
	}
	/* Without parameters, the simple protocol also runs scripts (init). */
	sent = nparams == 0 ? PQsendQuery(c->conn, sql)
		: PQsendQueryParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!sent)
		return NULL;
	for (;;)
	{
		if ((*why = wait_ready(c, deadline, watch_interrupt)) != NULL)
		{
			cancel_query(c);
			PQclear(last);
			return NULL;
		}
		if ((r = PQgetResult(c->conn)) == NULL)
			return last;
		if (last && PQresultStatus(last) == PGRES_FATAL_ERROR)
			PQclear(r);
		else
		{
			PQclear(last);
			last = r;
		}
	}
}

int
db_exec(DbConn *c, const char *sql, int nparams, const char *const *params,
		int ncols, DbRes **out, char **err)
{
	PGresult   *res;
	ExecStatusType st;
	const char *state;
	const char *why;

	if (out)
		*out = NULL;
	*err = NULL;
	c->sqlstate[0] = '\0';
	res = run_query(c, sql, nparams, params, true, &why);
	if (res == NULL && why != NULL)
	{
		*err = xasprintf("%s: %s%s", c->label, why,
						 c->abandoned ? "; gave up on the connection" : "; the statement was cancelled");
		return -1;
	}
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state)
			snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state);
		*err = result_error(c, res);
		PQclear(res);
		return -1;
	}
	if (ncols >= 0 && PQnfields(res) != ncols)
	{
		*err = xasprintf("%s: unexpected result: %d columns, expected %d",
						 c->label, PQnfields(res), ncols);
		PQclear(res);
		return -1;
	}
	if (out)
	{
		*out = xmalloc(sizeof(DbRes));
		(*out)->res = res;
	}
	else
		PQclear(res);
	return 0;
}

int
db_batch_send(DbConn *c, const DbQuery *q, int n, char **err)
{
	*err = NULL;
	c->sqlstate[0] = '\0';
	if (c->abandoned)
	{
		*err = xasprintf("%s: the connection was abandoned after an earlier timeout",
						 c->label);
		return -1;
	}
	if (!PQenterPipelineMode(c->conn))
		goto fail;
	for (int i = 0; i < n; i++)
		if (!PQsendQueryParams(c->conn, q[i].sql, q[i].nparams, NULL, q[i].params,
							   NULL, NULL, 0))
			goto fail;
	if (!PQpipelineSync(c->conn) || PQflush(c->conn) != 0)
		goto fail;
	return 0;
fail:
	*err = result_error(c, NULL);
	c->abandoned = true;
	return -1;
}

/*
 * The result of one query of a batch (NULL after its last one), waiting
 * with the deadline; NULL with *why on a timeout or an interrupt.
 */
static PGresult *
batch_next(DbConn *c, int64_t deadline, const char **why)
{
	if ((*why = wait_ready(c, deadline, true)) != NULL)
		return NULL;
	return PQgetResult(c->conn);
}

/* Keep the first error of a batch: the failed result's, or why. */
static void
batch_error(DbConn *c, PGresult *r, const char *why, char **first)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (*first != NULL)
		return;
	if (why != NULL)
	{
		*first = xasprintf("%s: %s; gave up on the connection", c->label, why);
		return;
	}
	if (state)
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state);
	*first = result_error(c, r);
}

/* Query i's result into res[i], or its error into *first. */
static void
batch_result(DbConn *c, const DbQuery *q, PGresult *r, DbRes **res, char **first)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_PIPELINE_ABORTED)
		PQclear(r);
	else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		batch_error(c, r, NULL, first);
		PQclear(r);
	}
	else if (q->ncols >= 0 && PQnfields(r) != q->ncols)
	{
		if (*first == NULL)
			*first = xasprintf("%s: unexpected result: %d columns, expected %d",
							   c->label, PQnfields(r), q->ncols);
		PQclear(r);
	}
	else
	{
		*res = xmalloc(sizeof(DbRes));
		(*res)->res = r;
	}
}

int
db_batch_collect(DbConn *c, const DbQuery *q, int n, DbRes **res, char **err)
{
	int64_t		deadline = clock_mono_ms() + DB_QUERY_TIMEOUT_MS;
	char	   *first = NULL;
	const char *why = NULL;
	PGresult   *r;

	if (deadline_cap > 0 && deadline_cap < deadline)
		deadline = deadline_cap;
	for (int i = 0; i < n; i++)
		res[i] = NULL;
	for (int i = 0; i < n && why == NULL; i++)
	{
		/* one result per query (the first kept), then NULL */
		if ((r = batch_next(c, deadline, &why)) == NULL)
		{
			if (why == NULL && first == NULL)
				first = xasprintf("%s: no result from the server", c->label);
			continue;
		}
		batch_result(c, &q[i], r, &res[i], &first);
		while (why == NULL && (r = batch_next(c, deadline, &why)) != NULL)
			PQclear(r);
	}
	if (why == NULL && (r = batch_next(c, deadline, &why)) != NULL)
	{
		if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			why = "the server did not end the batch";
		PQclear(r);
	}
	if (why != NULL || !PQexitPipelineMode(c->conn))
	{
		batch_error(c, NULL, why ? why : "the batch did not end", &first);
		c->abandoned = true;
		send_cancel(c);
	}
	if (first == NULL)
		return 0;
	for (int i = 0; i < n; i++)
	{
		db_res_free(res[i]);
		res[i] = NULL;
	}
	*err = first;
	return -1;
}

int
db_cmd(DbConn *c, const char *sql, char **err)
{
	return db_exec(c, sql, 0, NULL, -1, NULL, err);
}

const char *
db_last_sqlstate(const DbConn *c)
{
	return c->sqlstate;
}

int
db_begin(DbConn *c, char **err)
{
	return db_cmd(c, "BEGIN", err);
}

int
db_commit(DbConn *c, char **err)
{
	return db_cmd(c, "COMMIT", err);
}

void
db_rollback(DbConn *c)
{
	const char *why;

	if (c == NULL || c->abandoned || PQstatus(c->conn) != CONNECTION_OK)
		return;
	/* cleaning up after an interrupt must not itself be interrupted */
	PQclear(run_query(c, "ROLLBACK", 0, NULL, false, &why));
}

int
db_nrows(const DbRes *r)
{
	return PQntuples(r->res);
}

const char *
db_val(const DbRes *r, int row, int col)
{
	return PQgetvalue(r->res, row, col);
}

bool
db_isnull(const DbRes *r, int row, int col)
{
	return PQgetisnull(r->res, row, col) != 0;
}

bool
db_bool(const DbRes *r, int row, int col)
{
	return !db_isnull(r, row, col) && db_val(r, row, col)[0] == 't';
}

int64_t
db_int(const DbRes *r, int row, int col)
{
	return db_isnull(r, row, col) ? 0 : strtoll(db_val(r, row, col), NULL, 10);
}

void
db_res_free(DbRes *r)
{
	if (r == NULL)
		return;
	PQclear(r->res);
	free(r);
}

static char *
quote_with(DbConn *c, const char *s, bool ident, char **err)
{
	char	   *q;
	char	   *out;

	q = ident ? PQescapeIdentifier(c->conn, s, strlen(s))
		: PQescapeLiteral(c->conn, s, strlen(s));
	if (q == NULL)
	{
		char	   *m = trim_msg(PQerrorMessage(c->conn));

		*err = xasprintf("%s: could not quote %s: %s", c->label,
						 ident ? "an identifier" : "a literal", m);
		free(m);
		return NULL;
	}
	out = xstrdup(q);
	PQfreemem(q);
	return out;
}

char *
db_quote_ident(DbConn *c, const char *ident, char **err)
{
	return quote_with(c, ident, true, err);
}

char *
db_quote_literal(DbConn *c, const char *lit, char **err)
{
	return quote_with(c, lit, false, err);
}

/*
 * The server's scram_iterations (PostgreSQL 16 and later), else 4096: the
 * count ALTER ROLE ... PASSWORD 'plaintext' would use there. The server
 * reports the setting (GUC_REPORT), so reading it needs no query, which
 * matters while a batch is in flight on c; a server that did not report
 * it is asked, outside a batch.
 */
static int
server_scram_iterations(DbConn *c, int *iterations, char **err)
{
	const char *v = PQparameterStatus(c->conn, "scram_iterations");
	DbRes	   *r = NULL;
	char	   *end = NULL;
	long		n;
	int			rc = 0;

	*iterations = SCRAM_DEFAULT_ITERATIONS;
	if (PQserverVersion(c->conn) < 160000)
		return 0;
	if (v == NULL && PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF)
	{
		*err = xasprintf("%s: the server did not report scram_iterations", c->label);
		return -1;
	}
	if (v == NULL)
	{
		if (db_exec(c, "SELECT pg_catalog.current_setting('scram_iterations')", 0,
					NULL, 1, &r, err) != 0)
			return -1;
		v = db_val(r, 0, 0);
	}
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n < 1 || n > SCRAM_MAX_ITERATIONS)
	{
		*err = xasprintf("%s: scram_iterations is \"%s\": not a count pgrotate accepts (1 to %d)",
						 c->label, v, SCRAM_MAX_ITERATIONS);
		rc = -1;
	}
	else
		*iterations = (int) n;
	db_res_free(r);
	return rc;
}

char *
db_scram_verifier(DbConn *c, const char *role, const char *password,
				  char **err)
{
	const char *why = NULL;
	char	   *v;
	int			iterations;

	(void) role;				/* SCRAM secrets do not depend on the role name */
	if (server_scram_iterations(c, &iterations, err) != 0)
		return NULL;
	v = scram_secret(password, iterations, NULL, 0, &why);
	if (v == NULL)
		*err = xasprintf("%s: could not compute the SCRAM verifier: %s", c->label, why);
	return v;
}

int
db_conninfo_get(const char *conninfo, const char *keyword, char **value,
				char **err)
{
	char	   *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);

	*value = NULL;
	if (opts == NULL)
	{
		char	   *m = trim_msg(perr);

		*err = xasprintf("invalid connection string: %s", m);
		free(m);
		PQfreemem(perr);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
			*value = xstrdup(o->val);
	PQconninfoFree(opts);
	return 0;
}

/*
 * A value no libpq accepts for target_session_attrs: PQconnectStartParams
 * applies the service file, the PG* environment and the defaults, checks
 * the values, and stops at this one before any network traffic.
 */
#define RESOLVE_STOP "pgrotate-resolve-only"

static const char *const session_attrs[] = {
	"any", "read-write", "read-only", "primary", "standby", "prefer-standby", NULL
};

/* The user's own target_session_attrs, which the stop value hides. */
static int
check_session_attrs(const char *conninfo, char **err)
{
	char	   *v = NULL;
	bool		known = false;

	if (db_conninfo_get(conninfo, "target_session_attrs", &v, err) != 0)
		return -1;
	for (int i = 0; v != NULL && session_attrs[i] != NULL; i++)
		known |= strcmp(v, session_attrs[i]) == 0;
	if (v != NULL && !known)
		*err = xasprintf("invalid target_session_attrs value: \"%s\"", v);
	free(v);
	return v != NULL && !known ? -1 : 0;
}

/* The connection libpq would make, stopped before any network traffic. */
static PGconn *
resolve_conn(const char *conninfo, const char *const *overrides, char **err)
{
	const char **over;
	const char **keys = NULL;
	const char **vals = NULL;
	PQconninfoOption *opts = NULL;
	PGconn	   *conn = NULL;
	int			n = 0;

	while (overrides && overrides[n])
		n++;
	over = xcalloc(n + 5, sizeof(char *));
	for (int i = 0; i < n; i++)
		over[i] = overrides[i];
	over[n++] = "target_session_attrs";
	over[n++] = RESOLVE_STOP;
	over[n++] = "password";		/* no password file is read */
	over[n++] = "unused";
	if (check_session_attrs(conninfo, err) == 0 &&
		build_params(conninfo, over, &keys, &vals, &opts, err) == 0)
	{
		conn = PQconnectStartParams(keys, vals, 0);
		if (conn == NULL)
			*err = xstrdup("invalid connection string: out of memory");
	}
	free(over);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	return conn;
}

int
db_conninfo_resolve(const char *conninfo, const char *const *overrides,
					const char *const *keywords, char **values, char **err)
{
	PQconninfoOption *eff;
	PGconn	   *conn;

	for (int i = 0; keywords[i] != NULL; i++)
		values[i] = NULL;
	if ((conn = resolve_conn(conninfo, overrides, err)) == NULL)
		return -1;
	if (PQstatus(conn) != CONNECTION_BAD ||
		strstr(PQerrorMessage(conn), RESOLVE_STOP) == NULL)
	{
		char	   *m = trim_msg(PQstatus(conn) != CONNECTION_BAD ?
								 "libpq started to connect" : PQerrorMessage(conn));

		*err = xasprintf("invalid connection string: %s", m);
		free(m);
		PQfinish(conn);
		return -1;
	}
	eff = PQconninfo(conn);
	for (PQconninfoOption *o = eff; o != NULL && o->keyword; o++)
		for (int i = 0; keywords[i] != NULL; i++)
			if (strcmp(o->keyword, keywords[i]) == 0 && o->val != NULL)
				values[i] = xstrdup(o->val);
	PQconninfoFree(eff);
	PQfinish(conn);
	return 0;
}

/* An int as libpq reads one: base 10, blanks around it allowed. */
static bool
int_value(const char *s, long lo, long hi)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno != 0)
		return false;
	while (isspace((unsigned char) *end))
		end++;
	return *end == '\0' && v >= lo && v <= hi;
}

/* One port of a list: empty (the default) or 1..65535. */
static bool
port_value(const char *s)
{
	return s[0] == '\0' || int_value(s, 1, 65535);
}

/* One hostaddr of a list: empty, or a numeric IPv4 or IPv6 address (no lookup). */
static bool
hostaddr_value(const char *s)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC};
	struct addrinfo *res = NULL;
	int			rc;

	if (s[0] == '\0')
		return true;
	rc = getaddrinfo(s, NULL, &hints, &res);
	if (res != NULL)
		freeaddrinfo(res);
	return rc == 0;
}

/* The first element of the comma-separated list v that fails ok, malloc'd; NULL if none. */
static char *
list_bad(const char *v, bool (*ok)(const char *))
{
	for (const char *p = v;; p++)
	{
		size_t		len = strcspn(p, ",");
		char	   *elem = xstrndup(p, len);

		if (!ok(elem))
			return elem;
		free(elem);
		p += len;
		if (*p == '\0')
			return NULL;
	}
}

/*
 * The problem with the values libpq checks only when it connects (or, for
 * load_balance_hosts, after the stop value of resolve_conn), as libpq will
 * use them (after a service file and the PG* environment): v[] holds port,
 * hostaddr, load_balance_hosts, connect_timeout. malloc'd; NULL if none.
 */
static char *
late_value_problem(char *const *v)
{
	char	   *bad = NULL;
	char	   *e = NULL;

	if (v[0] != NULL && (bad = list_bad(v[0], port_value)) != NULL)
		e = xasprintf("invalid port number: \"%s\"", bad);
	else if (v[1] != NULL && (bad = list_bad(v[1], hostaddr_value)) != NULL)
		e = xasprintf("invalid hostaddr value: \"%s\" is not an IPv4 or IPv6 address", bad);
	else if (v[2] != NULL && strcmp(v[2], "disable") != 0 && strcmp(v[2], "random") != 0)
		e = xasprintf("invalid load_balance_hosts value: \"%s\"", v[2]);
	else if (v[3] != NULL && v[3][0] != '\0' && !int_value(v[3], INT_MIN, INT_MAX))
		e = xasprintf("invalid integer value \"%s\" for connection option"
					  " \"connect_timeout\"", v[3]);
	free(bad);
	return e;
}

int
db_conninfo_check(const char *conninfo, char **err)
{
	static const char *const keys[] = {"port", "hostaddr", "load_balance_hosts",
	"connect_timeout", NULL};
	char	   *v[4];
	char	   *e;

	if (db_conninfo_resolve(conninfo, NULL, keys, v, err) != 0)
		return -1;
	e = late_value_problem(v);
	for (int i = 0; i < 4; i++)
		free(v[i]);
	if (e == NULL)
		return 0;
	*err = xasprintf("invalid connection string: %s", e);
	free(e);
	return -1;
}

bool
db_conninfo_has_password(const char *conninfo)
{
	char	   *v = NULL;
	char	   *err = NULL;
	bool		has;

	if (db_conninfo_get(conninfo, "password", &v, &err) != 0)
	{
		free(err);
		return false;
	}
	has = v != NULL;
	if (v)
	{
		memset(v, 0, strlen(v));
		free(v);
	}
	return has;
}

char *
db_conninfo_node(const char *conninfo)
{
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *err = NULL;
	char	   *out;

	if (db_conninfo_get(conninfo, "host", &host, &err) != 0)
	{
		free(err);
		return xstrdup("?");
	}
	if (host == NULL || host[0] == '\0')
	{
		free(host);
		host = NULL;
		(void) db_conninfo_get(conninfo, "hostaddr", &host, &err);
	}
	(void) db_conninfo_get(conninfo, "port", &port, &err);
	out = xasprintf("%s:%s", host && host[0] ? host : "local",
					port && port[0] ? port : "5432");
	free(host);
	free(port);
	return out;
}

DbConn *
db_connect_console(const char *conninfo, const char *label, char **err)
{
	DbConn	   *c = open_conn(conninfo, label, NULL, err);

	if (c != NULL)
		c->console = true;
	return c;
}

int
db_colnum(const DbRes *r, const char *name)
{
	return PQfnumber(r->res, name);
}
