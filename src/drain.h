/*
 * drain.h: waiting until no session of a role remains on any node, with
 * progress; terminating a role's sessions.
 */
#ifndef PGR_DRAIN_H
#define PGR_DRAIN_H

#include <stdint.h>

#include "db.h"

typedef struct Session
{
	const char *node;			/* label of the node's connection */
	int			pid;
	char	   *application_name;
	char	   *client_addr;	/* "local" for a Unix socket; NULL if hidden */
	char	   *backend_start;	/* NULL if hidden */
} Session;

typedef struct SessionList
{
	Session    *items;
	int			n;
	int			cap;
} SessionList;

void		sessionlist_free(SessionList *l);
/* "pid 123 psql local since 03:15:22" lines joined by "; " (malloc'd). */
char	   *sessionlist_describe(const SessionList *l, int max);

/*
 * Append to out every backend on c whose session user is role (by
 * usesysid), from a fresh pg_stat_activity snapshot; pgrotate's own
 * backend excluded. 0 or -1 with *err.
 */
int			drain_list_sessions(DbConn *c, const char *role, SessionList *out,
								char **err);

typedef enum DrainResult
{
	DRAIN_DONE,					/* overlap passed and no session left */
	DRAIN_TIMEOUT,
	DRAIN_INTERRUPTED,			/* *stop was set (SIGINT/SIGTERM) */
	DRAIN_ERROR
} DrainResult;

typedef struct DrainSpec
{
	DbConn	  **nodes;			/* primary first, then replicas */
	int			nnodes;
	const char *role;			/* the old role */
	int64_t		overlap_left_ms;	/* of min_overlap, counted by the caller */
	int64_t		timeout_ms;
	int64_t		poll_ms;
	volatile int *stop;
} DrainSpec;

/*
 * Poll until the overlap has passed and no node has a session of role, or
 * the timeout. Progress: a live line on a terminal, else a log line at
 * least every 10 s, naming the sessions that hold the role. On return
 * *left holds the sessions seen at the last poll. *err on DRAIN_ERROR.
 */
DrainResult drain_wait(const DrainSpec *spec, SessionList *left, char **err);

/*
 * pg_terminate_backend() every session of role on c (never a superuser's;
 * needs pg_signal_backend). *n is how many were signalled.
 */
int			drain_terminate(DbConn *c, const char *role, int *n, char **err);

#endif
