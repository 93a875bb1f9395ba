/*
 * session.h: the sessions of a role seen on the nodes of a target (a
 * backend on the primary or a replica, a client or a server connection on
 * a PgBouncer), as drain, the pooler console and status list them.
 */
#ifndef PGR_SESSION_H
#define PGR_SESSION_H

typedef struct Session
{
	const char *node;			/* label of the node's connection */
	const char *kind;			/* NULL for a backend; on a pooler "client"
								 * or "server connection" */
	int			pid;			/* backend; on a pooler its remote_pid (0:
								 * unknown) */
	char	   *application_name;
	char	   *client_addr;	/* "local" for a Unix socket; NULL if hidden */
	char	   *backend_start;	/* NULL if hidden */
	char	   *database;		/* on a pooler: its database; else NULL */
} Session;

typedef struct SessionList
{
	Session    *items;
	int			n;
	int			cap;
} SessionList;

void		sessionlist_free(SessionList *l);
/* A new zeroed entry at the end of l. */
Session    *sessionlist_add(SessionList *l);
/*
 * The first max sessions, one per line ("primary pid 123 \"psql\" from
 * local since 2026-11-22T03:15:22Z"), then "and N more" (malloc'd): a
 * DETAIL (log.c indents its lines).
 */
char	   *sessionlist_describe(const SessionList *l, int max);

#endif
