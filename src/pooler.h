/*
 * pooler.h: PgBouncer's admin console (SHOW CLIENTS, SHOW SERVERS,
 * RECONNECT, RELOAD, KILL_CLIENT where it exists). The auth_file is a
 * sink format (sink.h, sink_pgbouncer.c).
 *
 * The console speaks only the simple query protocol and its own commands;
 * every command here names its pooler ("pooler host:port") in errors.
 */
#ifndef PGR_POOLER_H
#define PGR_POOLER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "session.h"

typedef struct Pooler Pooler;

/* PgBouncer 1.24 added KILL_CLIENT and the client "id" it takes. */
#define POOLER_KILL_CLIENT_VERSION 12400

/*
 * Connect to the console at conninfo and read SHOW VERSION. The label is
 * "pooler host:port". NULL with *err naming the pooler.
 */
Pooler	   *pooler_open(const char *conninfo, char **err);
void		pooler_close(Pooler *p);
const char *pooler_label(const Pooler *p);
/* "PgBouncer 1.18.0" as the console reports it. */
const char *pooler_version(const Pooler *p);
/* Whether this PgBouncer can disconnect a single client (KILL_CLIENT). */
bool		pooler_can_kill_client(const Pooler *p);

/* RELOAD: re-read the configuration and the auth_file. 0 or -1 + *err. */
int			pooler_reload(Pooler *p, char **err);

/*
 * Open every pooler of t in turn and RELOAD it. 0, or -1 with *err naming
 * the first pooler that failed (the others are still tried).
 */
int			pooler_reload_all(const Target *t, char **err);

/*
 * Append to out the clients logged in as role (SHOW CLIENTS; skipped with
 * servers_only) and the server connections of role (SHOW SERVERS): kind
 * "client" or "server connection", node the pooler's label. With reconnect,
 * send RECONNECT for each database where role has a server connection not
 * yet marked close_needed, the first time the database is seen and
 * afterwards only while role has no client on it (idle leftovers), so
 * other roles' connections are not recycled on every poll. 0 or -1 + *err.
 */
int			pooler_poll(Pooler *p, const char *role, bool reconnect,
						bool servers_only, SessionList *out, char **err);

/*
 * A fleet run's poll: add to counts[k] the clients and server connections
 * of roles[k], for the n roles, with one SHOW CLIENTS and one SHOW SERVERS;
 * RECONNECT as pooler_poll does for the roles with reconnect[k]. 0 or -1
 * + *err.
 */
int			pooler_count(Pooler *p, const char *const *roles, const bool *reconnect,
						 int n, int64_t *counts, char **err);

/*
 * Disconnect every client of role with KILL_CLIENT. Returns 1 when this
 * PgBouncer has no KILL_CLIENT (nothing done; *n the clients of role it
 * still has), 0 with *n clients disconnected, -1 with *err.
 */
int			pooler_kill_clients(Pooler *p, const char *role, int *n,
								char **err);

#endif
