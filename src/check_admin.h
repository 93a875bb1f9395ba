/*
 * check_admin.h: the items of "pgrotate check" about what the admin may do
 * beyond managing the roles: terminate sessions, create the state schema,
 * read and write it. Each missing right is an item with the exact GRANT.
 */
#ifndef PGR_CHECK_ADMIN_H
#define PGR_CHECK_ADMIN_H

#include "checklist.h"
#include "config.h"
#include "db.h"

/*
 * Append to l: pg_signal_backend (FAIL under on_drain_timeout =
 * "terminate", else WARN: --emergency and revoke --terminate need it);
 * CREATE on the target database while the target has no state yet (init
 * needs it); the state schema's rights once it exists.
 */
void		check_admin_rights(DbConn *c, const Target *t, CheckList *l);

/*
 * May the admin create the state schema in its database? 1 yes, 0 no (with
 * *fix, the GRANT, malloc'd), -1 with *err. For init, before any change.
 */
int			check_admin_can_create(DbConn *c, char **fix, char **err);

/*
 * May the admin terminate sessions (pg_signal_backend)? 1 yes, 0 no (with
 * *fix, the GRANT), -1 with *err. For --emergency and the terminate policy,
 * before any change.
 */
int			check_admin_can_signal(DbConn *c, char **fix, char **err);

/*
 * After a query on c failed: when it failed for want of a privilege
 * (SQLSTATE 42501) on the state schema of target, the HINT naming the
 * GRANTs "pgrotate check" prints for it, malloc'd; else NULL.
 */
char	   *check_admin_state_hint(DbConn *c, const char *target);

#endif
