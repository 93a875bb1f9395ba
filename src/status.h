/*
 * status.h: what "pgrotate status" finds out about a target, and how bad
 * it is (SPEC section 2). Collecting only: cmd_status.c formats it.
 *
 * Levels follow the monitoring convention (OK 0, WARNING 1, CRITICAL 2,
 * UNKNOWN 3). Of several, the worst is, in this order: OK < WARNING <
 * UNKNOWN < CRITICAL (a target known to be broken outranks one whose state
 * could not be read).
 */
#ifndef PGR_STATUS_H
#define PGR_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "state.h"

typedef enum StatusLevel
{
	STATUS_OK = 0,
	STATUS_WARNING = 1,
	STATUS_CRITICAL = 2,
	STATUS_UNKNOWN = 3
} StatusLevel;

const char *status_level_name(StatusLevel l);	/* "OK", "WARNING", ... */
StatusLevel status_worse(StatusLevel a, StatusLevel b);

/* The roles whose sessions are counted: both login roles, then the group. */
#define STATUS_NROLES 3

/* Sessions on one node (the primary, or a replica). */
typedef struct NodeStatus
{
	char	   *node;			/* "primary", "host:port" of a replica, "pooler host:port" */
	bool		reachable;
	char	   *error;			/* when not reachable */
	int64_t		sessions[STATUS_NROLES];	/* by TargetStatus.roles */
} NodeStatus;

typedef enum SinkState
{
	SINK_ST_OK,					/* holds the active credential */
	SINK_ST_PENDING,			/* holds the credential being published */
	SINK_ST_STALE,				/* holds another credential */
	SINK_ST_MISSING,			/* no such file */
	SINK_ST_NO_CREDENTIAL,		/* a file pgrotate finds no credential in */
	SINK_ST_INVALID,			/* not a readable regular file (a symlink...) */
	SINK_ST_UNREADABLE,			/* cannot be read (permissions...) */
	SINK_ST_NOT_CHECKED			/* a command sink */
} SinkState;

const char *sink_state_name(SinkState s);	/* "ok", "stale", ... */

typedef struct SinkStatus
{
	const SinkCfg *cfg;
	char	   *name;			/* the path, or argv[0] of a command */
	SinkState	state;
	bool		role_only;		/* compared by role only (pgbouncer format) */
	char	   *role;			/* the role found in it, or NULL */
	char	   *detail;			/* why, for people; or NULL */
} SinkStatus;

typedef struct Problem
{
	StatusLevel level;
	char	   *msg;
	char	   *detail;			/* its DETAIL lines, or NULL */
	char	   *hint;			/* its HINT lines, or NULL */
} Problem;

typedef struct TargetStatus
{
	const Target *t;
	StatusLevel level;			/* the worst of the problems */
	bool		up;				/* the state row could be read */
	StateRow	st;				/* valid when up */
	const char *roles[STATUS_NROLES];
	int64_t		now;			/* the server's clock, epoch seconds */
	int64_t		next_due;		/* epoch seconds */
	bool		active_can_login;	/* the active role exists with LOGIN */
	int64_t		valid_until;	/* of the active role; 0: none or infinity */
	LastError	last_error;		/* .msg NULL when the last run did not fail */
	char	   *lock_holder;	/* NULL when the lock is free */
	NodeStatus *nodes;			/* the primary first */
	int			nnodes;
	SinkStatus *sinks;
	int			nsinks;
	Problem    *problems;
	int			nproblems;
} TargetStatus;

/*
 * Find out everything about t (never fails: what cannot be found becomes a
 * problem of the matching level). Read-only: takes no lock, changes
 * nothing. Free with status_free.
 */
void		status_collect(const Target *t, TargetStatus *ts);
void		status_free(TargetStatus *ts);

#endif
