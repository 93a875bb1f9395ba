/*
 * rolesql.c: statements that change roles.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "rolesql.h"
#include "util.h"

/* Run stmt, or hand it to the caller through *sql (dry run). Frees stmt. */
static int
run_or_return(DbConn *c, char *stmt, char **sql, char **err)
{
	int			rc;

	if (sql)
	{
		*sql = stmt;
		return 0;
	}
	rc = db_cmd(c, stmt, err);
	free(stmt);
	return rc;
}

/* 'timestamp' literal of the server's now() + ms, malloc'd. */
static char *
valid_until(DbConn *c, int64_t expiry_ms, char **err)
{
	DbRes	   *r = NULL;
	char		ms[32];
	const char *p[1] = {ms};
	char	   *out;

	if (expiry_ms <= 0)
		return xstrdup("'infinity'");
	snprintf(ms, sizeof(ms), "%lld", (long long) expiry_ms);
	if (db_exec(c, "SELECT pg_catalog.quote_literal(pg_catalog.now()"
				" + $1::bigint * interval '1 millisecond')",
				1, p, 1, &r, err) != 0)
		return NULL;
	out = xstrdup(db_val(r, 0, 0));
	db_res_free(r);
	return out;
}

int
rolesql_provision(DbConn *c, const char *role, const char *verifier,
				  int64_t expiry_ms, char **sql, char **err)
{
	char	   *qrole = NULL;
	char	   *qver = NULL;
	char	   *until = NULL;
	int			rc = -1;

	if ((qrole = db_quote_ident(c, role, err)) == NULL)
		goto done;
	if (verifier && (qver = db_quote_literal(c, verifier, err)) == NULL)
		goto done;
	if ((until = valid_until(c, expiry_ms, err)) == NULL)
		goto done;
	rc = run_or_return(c, xasprintf("ALTER ROLE %s LOGIN PASSWORD %s VALID UNTIL %s",
									qrole, qver ? qver : "'<redacted>'", until),
					   sql, err);
done:
	free(qrole);
	free(qver);
	free(until);
	return rc;
}

int
rolesql_set_verifier(DbConn *c, const char *role, const char *verifier,
					 char **err)
{
	char	   *qrole = db_quote_ident(c, role, err);
	char	   *qver = NULL;
	int			rc = -1;

	if (qrole != NULL && (qver = db_quote_literal(c, verifier, err)) != NULL)
		rc = run_or_return(c, xasprintf("ALTER ROLE %s PASSWORD %s", qrole, qver),
						   NULL, err);
	free(qrole);
	free(qver);
	return rc;
}

int
rolesql_revoke(DbConn *c, const char *role, char **sql, char **err)
{
	char	   *qrole = db_quote_ident(c, role, err);
	char	   *stmt;

	if (qrole == NULL)
		return -1;
	stmt = xasprintf("ALTER ROLE %s NOLOGIN PASSWORD NULL", qrole);
	free(qrole);
	return run_or_return(c, stmt, sql, err);
}

char *
rolesql_setup(DbConn *c, const char *group, bool create_group,
			  const char *const logins[2], const bool create_login[2],
			  const bool link[2], char **err)
{
	StrBuf		sb;
	char	   *qgroup = db_quote_ident(c, group, err);
	char	   *qlit = qgroup ? db_quote_literal(c, group, err) : NULL;

	if (qlit == NULL)
	{
		free(qgroup);
		return NULL;
	}
	sb_init(&sb);
	if (create_group)
		sb_appendf(&sb, "CREATE ROLE %s NOLOGIN;\n", qgroup);
	for (int i = 0; i < 2; i++)
	{
		char	   *ql = db_quote_ident(c, logins[i], err);

		if (ql == NULL)
		{
			sb_free(&sb);
			sb.data = NULL;
			break;
		}
		if (create_login[i])
			sb_appendf(&sb, "CREATE ROLE %s NOLOGIN;\n", ql);
		if (link[i])
			sb_appendf(&sb, "GRANT %s TO %s;\nALTER ROLE %s SET role = %s;\n",
					   qgroup, ql, ql, qlit);
		free(ql);
	}
	free(qgroup);
	free(qlit);
	return sb.data ? sb_steal(&sb) : NULL;
}
