/*
 * roles_parity.h: the two login roles are interchangeable. What one has and
 * the other lacks (per-role settings, memberships other than the group,
 * attributes, privileges granted to the login role itself) is found in one
 * query; settings are copied from the active role to the standby at
 * provision, every other difference refuses with the statement that moves
 * the grant to the group role.
 */
#ifndef PGR_ROLES_PARITY_H
#define PGR_ROLES_PARITY_H

#include <stdbool.h>

#include "checklist.h"
#include "config.h"
#include "db.h"
#include "util.h"

/*
 * SQL: owned-object row s (pg_shdepend) of this database is a sequence
 * linked to a table of the same owner (serial: deptype 'a', identity:
 * 'i'). ALTER TABLE ... OWNER moves it with its table, and ALTER
 * SEQUENCE ... OWNER refuses it, so it is not counted or fixed on its own.
 */
#define LINKED_SEQUENCE \
	"EXISTS (SELECT 1 FROM pg_catalog.pg_depend k" \
	" JOIN pg_catalog.pg_class t ON t.oid = k.refobjid" \
	" WHERE s.classid = 'pg_catalog.pg_class'::pg_catalog.regclass" \
	" AND k.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND k.objid = s.objid" \
	" AND k.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass" \
	" AND k.deptype IN ('a', 'i') AND t.relowner = s.refobjid)"

/*
 * The parity query for a server of this version. Parameters: $1 the group,
 * $2 and $3 the login roles. Rows: what one login role has that the other
 * lacks (role index 1 or 2, kind, ...), then the objects each login role
 * owns in this database.
 */
#define PARITY_NCOLS 6
const char *parity_sql(int version);

/*
 * The checklist items from the parity query's result: settings (WARN:
 * copied at provision; FAIL for a parameter the admin may not set, with the
 * statement a superuser runs), memberships, attributes and direct
 * privileges (FAIL with the fix). active: index of the active login role in
 * t->roles, or -1 when unknown (roles[0] is taken as the reference).
 */
int			parity_check(DbConn *c, const Target *t, int active,
						 const DbRes *res, CheckList *l, char **err);

/*
 * "ALTER TABLE x OWNER TO group;" for each object the login role k (1 or 2)
 * owns in this database, at most max of them, appended to fix ("\n"
 * before each). Returns how many objects there are, or -1 with *err.
 */
int			parity_owned_fixes(DbConn *c, const DbRes *res, int k,
							   const char *qgroup, int max, StrBuf *fix,
							   char **err);

/*
 * The statements that make the per-role settings of standby (every
 * database) equal to those of active, into out (none when they are equal),
 * and in *refused (malloc'd, or NULL) a parameter the admin may not set.
 * 0 or -1 with *err.
 */
int			parity_mirror_plan(DbConn *c, const char *active, const char *standby,
							   StrList *out, char **refused, char **err);

/*
 * Inside the provision's transaction: run the statements of
 * parity_mirror_plan, then read the settings back and fail unless they are
 * now byte-identical. *detail: "" or the statements run, malloc'd.
 */
int			parity_mirror(DbConn *c, const char *active, const char *standby,
						  char **detail, char **err);

#endif
