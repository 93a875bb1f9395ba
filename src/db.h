/*
 * db.h: the only module that speaks libpq. Connections, checked execution,
 * quoting, the client-side SCRAM verifier and conninfo parsing.
 *
 * Error strings returned through "char **err" are malloc'd, one line where
 * possible, name the node, and never contain a password (libpq's own
 * messages do not, and we never put one in SQL text).
 */
#ifndef PGR_DB_H
#define PGR_DB_H

#include <stdbool.h>
#include <stdint.h>

typedef struct DbConn DbConn;
typedef struct DbRes DbRes;

/*
 * Connect with conninfo (keyword/value or URI). label names the node in
 * messages ("primary", "replica db2:5432"). overrides is NULL or a
 * NULL-terminated key, value, key, value... array applied on top of the
 * parsed conninfo (e.g. "user", role, "password", secret). After connecting
 * the search_path is emptied (secure) and application_name is "pgrotate"
 * unless the conninfo or overrides set one. Returns NULL and sets *err on
 * failure.
 */
/*
 * Every query is bounded: after 10 s without an answer it is cancelled and
 * fails ("no answer from the server in time"), and if the server does not
 * confirm the cancel the connection is abandoned (later queries on it fail
 * at once). The cancel request itself gets 2 s (sent from a child process:
 * libpq's PQcancel has no time limit). A query also stops, cancelled, as soon as *flag is set (by a
 * SIGINT/SIGTERM handler). Connecting gives up after connect_timeout (10 s
 * unless the conninfo sets it).
 */
void		db_set_interrupt(volatile int *flag);
/*
 * Until reset with 0, no query runs past mono_ms (CLOCK_MONOTONIC, as
 * clock_mono_ms): the drain uses it so that a hung node cannot keep a run
 * past its drain_timeout.
 */
void		db_set_deadline_cap(int64_t mono_ms);

DbConn	   *db_connect(const char *conninfo, const char *label,
					   const char *const *overrides, char **err);
void		db_close(DbConn *c);
const char *db_label(const DbConn *c);
int			db_server_version(const DbConn *c);	/* e.g. 150004 */
int			db_backend_pid(const DbConn *c);
bool		db_is_ok(const DbConn *c);				/* connection still up */
bool		db_in_transaction(const DbConn *c);	/* inside BEGIN ... COMMIT */
/* The server asked for the password and got it (PQconnectionUsedPassword). */
bool		db_used_password(const DbConn *c);
bool		db_ssl_in_use(const DbConn *c);
/* libpq's version at run time, e.g. 150018 (PQlibVersion). */
int			db_libpq_version(void);

/*
 * Run sql with text parameters ($1..$n; NULL entries are SQL NULL).
 * Succeeds (returns 0) only for PGRES_COMMAND_OK or PGRES_TUPLES_OK; then,
 * if res is not NULL, *res holds the result (free with db_res_free). If
 * ncols >= 0 a result must have exactly ncols columns. On failure returns
 * -1, sets *err ("node: message" plus DETAIL/HINT from the server) and
 * *res to NULL.
 */
int			db_exec(DbConn *c, const char *sql, int nparams,
					const char *const *params, int ncols, DbRes **res,
					char **err);
/* db_exec without parameters or result. */
int			db_cmd(DbConn *c, const char *sql, char **err);
/* The SQLSTATE of the last failed db_exec on c ("" if none). */
const char *db_last_sqlstate(const DbConn *c);

/*
 * A batch: queries sent in one pipeline (one implicit transaction), whose
 * results are collected later, so that the caller can work while the
 * server answers. db_batch_send returns 0 or -1 with *err; the connection
 * is then unusable until db_batch_collect. db_batch_collect sets res[i]
 * for each query (ncols checked as for db_exec) and returns 0, or -1 with
 * *err: the first failed query's error (the later ones did not run), and
 * every res[i] NULL. A timeout or an interrupt abandons the connection.
 */
typedef struct DbQuery
{
	const char *sql;
	int			nparams;
	const char *const *params;
	int			ncols;
} DbQuery;

int			db_batch_send(DbConn *c, const DbQuery *q, int n, char **err);
int			db_batch_collect(DbConn *c, const DbQuery *q, int n, DbRes **res,
							 char **err);

int			db_begin(DbConn *c, char **err);
int			db_commit(DbConn *c, char **err);
void		db_rollback(DbConn *c);	/* best effort, errors ignored */

int			db_nrows(const DbRes *r);
/* Value as text ("" for NULL; check db_isnull). row/col must be in range. */
const char *db_val(const DbRes *r, int row, int col);
bool		db_isnull(const DbRes *r, int row, int col);
bool		db_bool(const DbRes *r, int row, int col);	/* 't' */
int64_t		db_int(const DbRes *r, int row, int col);
void		db_res_free(DbRes *r);

/* Quoted with PQescapeIdentifier/PQescapeLiteral; malloc'd; NULL on error. */
char	   *db_quote_ident(DbConn *c, const char *ident, char **err);
char	   *db_quote_literal(DbConn *c, const char *lit, char **err);

/*
 * The SCRAM-SHA-256 verifier of password for role, computed on the client
 * (scram.c) with a fresh salt and the server's scram_iterations (read on
 * PostgreSQL 16 and later; 4096 before). malloc'd; NULL on error.
 */
char	   *db_scram_verifier(DbConn *c, const char *role,
							  const char *password, char **err);

/*
 * The value of keyword in conninfo (after libpq's parsing), malloc'd, or
 * NULL if unset. Returns -1 with *err if conninfo does not parse, else 0.
 */
int			db_conninfo_get(const char *conninfo, const char *keyword,
							char **value, char **err);
/*
 * 0 if libpq accepts conninfo: it parses, its values are valid (sslmode,
 * channel_binding, ...) and its service exists; else -1 with *err.
 */
int			db_conninfo_check(const char *conninfo, char **err);
/*
 * conninfo as libpq would use it, without connecting (overrides as for
 * db_connect, or NULL): after the service
 * file, the PG* environment and the defaults, and after libpq has checked
 * the values (sslmode, channel_binding, ...). values[i] (malloc'd, or NULL
 * when unset) for each of the NULL-terminated keywords. -1 with *err
 * ("invalid connection string: ...") when libpq refuses it.
 */
int			db_conninfo_resolve(const char *conninfo, const char *const *overrides,
								const char *const *keywords, char **values,
								char **err);
/* true if conninfo carries a password keyword. */
bool		db_conninfo_has_password(const char *conninfo);

/*
 * A node's name for messages, from conninfo: "host:port" (host, else
 * hostaddr, else "local"; port 5432 when unset). malloc'd; "?" when
 * conninfo does not parse.
 */
char	   *db_conninfo_node(const char *conninfo);

/*
 * Connect to a PgBouncer admin console (dbname=pgbouncer). Like db_connect
 * without overrides, but nothing is run after connecting: the console
 * knows neither set_config nor the extended protocol, so run its commands
 * with db_exec without parameters (the simple protocol). NULL + *err.
 */
DbConn	   *db_connect_console(const char *conninfo, const char *label,
							   char **err);

/* The number of the column called name in r, or -1. */
int			db_colnum(const DbRes *r, const char *name);

#endif
