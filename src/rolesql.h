/*
 * rolesql.h: the statements that change roles (provision, revoke, create).
 * Identifiers are quoted with db_quote_ident, the verifier with
 * db_quote_literal (ALTER ROLE takes no parameters).
 */
#ifndef PGR_ROLESQL_H
#define PGR_ROLESQL_H

#include <stdint.h>

#include "db.h"

/*
 * ALTER ROLE role LOGIN PASSWORD 'verifier' VALID UNTIL ... ("infinity"
 * when expiry_ms is 0, else the server's now() + expiry). With verifier
 * NULL, returns the statement with the verifier shown as <redacted> (for
 * --dry-run) in *sql without running it. 0 or -1 with *err.
 */
int			rolesql_provision(DbConn *c, const char *role, const char *verifier,
							  int64_t expiry_ms, char **sql, char **err);

/*
 * ALTER ROLE role PASSWORD 'verifier': a new SCRAM secret of the same
 * password (logins with it are unaffected; LOGIN and VALID UNTIL stay as
 * they are). 0 or -1 with *err.
 */
int			rolesql_set_verifier(DbConn *c, const char *role, const char *verifier,
								 char **err);

/*
 * "ALTER ROLE role [IN DATABASE db] SET name TO value" (value NULL: RESET
 * name; db NULL: all databases), with value as stored in
 * pg_db_role_setting, so that the statement stores it back byte for byte:
 * one literal, or for the parameters whose list elements SET quotes as
 * identifiers (search_path, temp_tablespaces, *_preload_libraries) one
 * literal per element. malloc'd, or NULL with *err.
 */
char	   *rolesql_setting(DbConn *c, const char *role, const char *db,
							const char *name, const char *value, char **err);

/* ALTER ROLE role NOLOGIN PASSWORD NULL (run unless sql is not NULL). */
int			rolesql_revoke(DbConn *c, const char *role, char **sql, char **err);

/*
 * The DDL that creates what is missing of group and login roles (NULL
 * flags false skipped): CREATE ROLE group NOLOGIN; CREATE ROLE login
 * NOLOGIN; and where link[i], GRANT group TO login; ALTER ROLE login SET
 * role = group. malloc'd ("" when nothing is missing).
 */
char	   *rolesql_setup(DbConn *c, const char *group, bool create_group,
						  const char *const logins[2], const bool create_login[2],
						  const bool link[2], char **err);

#endif
