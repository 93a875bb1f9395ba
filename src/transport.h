/*
 * transport.h: the transport rule of SPEC section 5. A conninfo that
 * reaches a remote host over TCP must verify the server's certificate
 * (sslmode=verify-full or verify-ca), unless allow_insecure_transport.
 */
#ifndef PGR_TRANSPORT_H
#define PGR_TRANSPORT_H

#include <stdbool.h>

#include "checklist.h"
#include "config.h"

/*
 * One host entry: local if it is a Unix socket (host starting with "/"
 * or "@", or no host and no hostaddr: the default socket), "localhost",
 * or a loopback address (127.0.0.0/8, ::1); and, when hostaddr is given
 * (NULL or "" otherwise), that is a loopback address too.
 */
bool		transport_host_is_local(const char *host, const char *hostaddr);

typedef struct Transport
{
	bool		remote;			/* some host it may reach is remote */
	bool		verified_tls;	/* sslmode verify-full or verify-ca */
	char	   *remote_host;	/* the first remote host, for messages */
	char	   *sslmode;		/* as libpq would use it */
} Transport;

/*
 * Classify conninfo as libpq would use it (service file, environment and
 * defaults applied, each host of a list). 0, or -1 with *err when libpq
 * refuses it. Free with transport_free.
 */
int			transport_classify(const char *conninfo, Transport *tr, char **err);
void		transport_free(Transport *tr);

/*
 * NULL if conninfo may be used, else why not (malloc'd): remote without a
 * verified TLS, or unparsable. what names it ("admin", "replica 2").
 */
char	   *transport_problem(const char *conninfo, const char *what);

/* check: one item per conninfo of t (FAIL, or WARN when allowed). */
void		transport_check(const Target *t, CheckList *l);

/*
 * init, cycle, revoke: 0 if every conninfo of t may be used (warning on
 * every run when allow_insecure_transport lets one through), else -1 with
 * *err naming them and the fix. Run before anything connects.
 */
int			transport_enforce(const Target *t, char **err);

#endif
