/*
 * roles.h: what pgrotate asks of roles and of the admin, and the SQL that
 * changes roles. Every identifier is quoted with db_quote_ident.
 */
#ifndef PGR_ROLES_H
#define PGR_ROLES_H

#include <stdbool.h>
#include <stdint.h>

#include "checklist.h"
#include "config.h"
#include "db.h"

typedef struct RoleInfo
{
	bool		exists;
	int64_t		oid;
	bool		canlogin;
	bool		superuser;
	bool		replication;
	bool		bypassrls;
	bool		has_password;	/* rolpassword IS NOT NULL (NULL if unreadable) */
	int64_t		valid_until;	/* epoch seconds; 0 none or infinity, 1 -infinity */
} RoleInfo;

/* Look up a role in pg_roles. 0 (info->exists false if missing) or -1. */
int			roles_get(DbConn *c, const char *role, RoleInfo *info, char **err);

/*
 * Is login a member of group with "role" set to it for all databases?
 * 0 with *linked, or -1 with *err.
 */
int			roles_login_linked(DbConn *c, const char *login, const char *group,
							   bool *linked, char **err);

/* The connected user's name (current_user): malloc'd, or NULL with *err. */
char	   *roles_admin_name(DbConn *c, char **err);

/*
 * The setup checks of SPEC section 1, step 1, appended to l (no changes
 * made): admin privileges sufficient for the server version (a shortfall
 * names the exact GRANT / ALTER ROLE that fixes it), group role exists and
 * is NOLOGIN, both login roles exist, are members of the group (with
 * INHERIT and SET on PostgreSQL 16+), have "role" set to the group (in
 * pg_db_role_setting, for all databases), are not SUPERUSER, REPLICATION
 * or BYPASSRLS; objects owned by the login roles (count per database;
 * FAIL when the active one owns objects in this database, unless
 * allow_owned_objects, else WARN); and that the two login roles are
 * interchangeable (roles_parity.h). active: the active login role, or NULL
 * when unknown (both are then treated as possibly active). A missing role
 * FAILs with "run pgrotate init TARGET". Returns -1 only when the checks
 * themselves could not run (with *err).
 */
int			roles_check_setup(DbConn *c, const Target *t, const char *active,
							  CheckList *l, char **err);

/*
 * roles_check_setup in two halves, for a caller that works while the
 * server answers: roles_setup_queries fills sq with the queries (send them
 * with db_batch_send, possibly followed by others; sq must outlive the
 * send), roles_setup_evaluate appends the items from their results.
 */
#define ROLES_SETUP_NQUERIES 3
typedef struct SetupQueries
{
	const char *params[3];
	DbQuery		q[ROLES_SETUP_NQUERIES];
} SetupQueries;

void		roles_setup_queries(DbConn *c, const Target *t, SetupQueries *sq);
int			roles_setup_evaluate(DbConn *c, const Target *t, const char *active,
								 DbRes *const *res, CheckList *l, char **err);

/*
 * Whether the admin may manage role (CREATEROLE, and on PG16+ ADMIN OPTION
 * on it; never a superuser or REPLICATION role unless the admin is a
 * superuser). Appends a FAIL with the fixing GRANT to l when not.
 */
int			roles_check_admin_on(DbConn *c, const char *role, CheckList *l,
								 char **err);

/* Is the connected user a member of (or equal to) role? */
int			roles_admin_is_member(DbConn *c, const char *role, bool *member,
								  char **err);

/*
 * Does the connected user have the privileges of role (equal to it, or a
 * member that inherits them: pg_has_role USAGE; a superuser has all)? This,
 * not membership, is what predefined roles such as pg_read_all_stats and
 * pg_signal_backend ask for. false if role does not exist. 0 or -1 + *err.
 */
int			roles_admin_has_privs_of(DbConn *c, const char *role, bool *has,
									 char **err);

#endif
