/*
 * drain.h: waiting until no session of a role remains on any node (the
 * primary, each replica, each PgBouncer), with progress; terminating a
 * role's sessions.
 */
#ifndef PGR_DRAIN_H
#define PGR_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "session.h"

typedef struct Pooler Pooler;

/*
 * Append to out every backend on c whose session user is role (by
 * usesysid), from a fresh pg_stat_activity snapshot; pgrotate's own
 * backend excluded. 0 or -1 with *err.
 */
/*
 * drain_list_sessions's query for a batch (*role must outlive the send;
 * it runs in the batch's snapshot), and the reading of its result.
 */
void		drain_sessions_query(const char **role, DbQuery *q);
void		drain_sessions_read(const DbConn *c, const DbRes *r, SessionList *out);
int			drain_list_sessions(DbConn *c, const char *role, SessionList *out,
								char **err);

typedef enum DrainResult
{
	DRAIN_DONE,					/* overlap passed and no session left */
	DRAIN_TIMEOUT,
	DRAIN_INTERRUPTED,			/* *stop was set (SIGINT/SIGTERM) */
	DRAIN_ERROR
} DrainResult;

/*
 * Where a target's sessions live: the primary (nodes[0], borrowed), a
 * connection to each replica ("replica host:port") and to each PgBouncer
 * console ("pooler host:port").
 */
typedef struct DrainNodes
{
	DbConn	  **nodes;
	int			nnodes;
	Pooler	  **poolers;
	int			npoolers;
} DrainNodes;

/*
 * Fill w with primary alone (with_others false), or also connect to every
 * replica and pooler of t. 0, or -1 with *err naming the node that cannot
 * be reached (nothing is left open). Close with drain_nodes_close.
 */
int			drain_nodes_open(const Target *t, DbConn *primary, bool with_others,
							 DrainNodes *w, char **err);
void		drain_nodes_close(DrainNodes *w);

/*
 * One fresh look at every node and pooler of w: the sessions of role
 * appended to out. With reconnect, a pooler whose old-role server
 * connections wait idle is asked to RECONNECT (see pooler_poll); with
 * servers_only, pooler clients are not listed. 0 or -1 with *err.
 */
int			drain_snapshot(const DrainNodes *w, const char *role, bool reconnect,
						   bool servers_only, SessionList *out, char **err);

typedef struct DrainSpec
{
	const DrainNodes *where;
	const char *role;			/* the old role */
	int64_t		overlap_left_ms;	/* of min_overlap, counted by the caller */
	int64_t		timeout_ms;
	int64_t		poll_ms;
	volatile int *stop;
	bool		servers_only;	/* ignore pooler clients (they cannot be
								 * disconnected one by one; after a terminate) */
} DrainSpec;

/*
 * Poll until the overlap has passed and no node or pooler has a session of
 * role, or the timeout. Progress: a live line on a terminal, else a log
 * line at least every 10 s, naming the sessions that hold the role and the
 * count per node. Once the overlap has passed, poolers are asked to
 * RECONNECT so idle server connections of role go away. On return *left
 * holds the sessions seen at the last poll. *err on DRAIN_ERROR (naming
 * the node that failed).
 */
DrainResult drain_wait(const DrainSpec *spec, SessionList *left, char **err);

/*
 * pg_terminate_backend() every session of role on c (never a superuser's;
 * needs pg_signal_backend). *n is how many were signalled.
 */
int			drain_terminate(DbConn *c, const char *role, int *n, char **err);

/*
 * Terminate every session of role in w: pooler clients first (where the
 * pooler can: KILL_CLIENT), then the backends on each node (which also
 * ends the pooler's server connections of role). Failures and what a pooler
 * cannot do are logged as warnings naming the node. Returns how many
 * sessions were ended; *unkillable counts pooler clients left connected.
 */
int			drain_terminate_all(const DrainNodes *w, const char *role,
								int *unkillable);

/*
 * Disconnect role's clients from pooler p (KILL_CLIENT): adds to *killed
 * what it ended and to *unkillable what a PgBouncer without KILL_CLIENT
 * leaves connected (with a warning). -1 (a warning logged) when p failed.
 */
int			drain_kill_pooler_clients(Pooler *p, const char *role, int *killed,
									  int *unkillable);

#endif
