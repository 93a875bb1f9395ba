/*
 * verify.h: proving that a new credential works the way applications use
 * it, on the primary and on every replica, before it is published.
 */
#ifndef PGR_VERIFY_H
#define PGR_VERIFY_H

#include "config.h"
#include "db.h"

typedef enum VerifyResult
{
	VERIFY_OK = 0,
	VERIFY_FAILED,				/* the credential does not work somewhere */
	VERIFY_UNAVAILABLE			/* a replica cannot be reached, or has not
								 * replayed the new password in time: no
								 * verdict on the credential, try again */
} VerifyResult;

/*
 * Log in with the target's app conninfo as role/password, check that
 * session_user is role and current_user the group role, and run the
 * verify_query. Then, if t has replicas: read pg_current_wal_lsn() on
 * primary (the admin connection, after the provision's commit), wait
 * until every replica has replayed up to it (at most drain_timeout,
 * polling every poll_interval, a progress line at least every 10 s;
 * *stop ends the wait), and do the same login on each replica, with its
 * host and port and the other keywords of app. On failure *err names the
 * node and what failed.
 */
VerifyResult verify_credential(const Target *t, DbConn *primary,
							   const char *role, const char *password,
							   volatile int *stop, char **err);

typedef enum AuthProbe
{
	AUTH_ASKS,					/* the server asks for the password */
	AUTH_TRUSTS,				/* it lets the role in without one */
	AUTH_UNKNOWN				/* no answer that tells (see detail) */
} AuthProbe;

/*
 * For check: does the target's app path ask role for its password? On the
 * primary (replica NULL) or on the replica whose admin conninfo is
 * replica, placed as a verify login is. Logs in without a password (the
 * server logs nothing when the client leaves at the password prompt).
 * *detail (malloc'd) explains AUTH_TRUSTS and AUTH_UNKNOWN.
 */
#define VERIFY_AUTH_FIX \
	"Point the target's app conninfo at the path the applications use," \
	" where pg_hba asks for scram-sha-256."
AuthProbe	verify_probe_auth(const Target *t, const char *replica,
							  const char *role, char **detail);

#endif
