/*
 * verify.h: proving that a new credential works the way applications use
 * it, before it is published.
 */
#ifndef PGR_VERIFY_H
#define PGR_VERIFY_H

#include "config.h"

/*
 * Log in with the target's app conninfo as role/password, check that
 * session_user is role and current_user the group role, and run the
 * verify_query. 0, or -1 with *err naming the node and what failed.
 */
int			verify_credential(const Target *t, const char *role,
							  const char *password, char **err);

#endif
