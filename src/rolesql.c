/*
 * rolesql.c: statements that change roles.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* The parameters whose list elements SET quotes as identifiers. */
static bool
list_quoted(const char *name)
{
	static const char *const names[] = {
		"search_path", "temp_tablespaces", "local_preload_libraries",
		"session_preload_libraries", NULL
	};

	for (int i = 0; names[i]; i++)
		if (strcasecmp(names[i], name) == 0)
			return true;
	return false;
}

/* Append lit quoted as a literal (", " before all but the first). */
static int
append_literal(DbConn *c, StrBuf *sb, const char *lit, bool first, char **err)
{
	char	   *q = db_quote_literal(c, lit, err);

	if (q == NULL)
		return -1;
	if (!first)
		sb_append(sb, ", ");
	sb_append(sb, q);
	free(q);
	return 0;
}

/*
 * A stored list such as "\"my schema\", public" as the literals SET turns
 * back into it ('my schema', 'public'): SET quotes each element again.
 */
static int
append_list(DbConn *c, StrBuf *sb, const char *val, char **err)
{
	const char *p = val;
	StrBuf		el;
	int			rc = -1;

	sb_init(&el);
	for (bool first = true;; first = false)
	{
		sb_reset(&el);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"')
		{
			for (p++; *p && !(*p == '"' && p[1] != '"'); p += (*p == '"') ? 2 : 1)
				sb_appendc(&el, *p);
			if (*p++ != '"')
				break;
		}
		else
			while (*p && *p != ',' && *p != ' ' && *p != '\t')
				sb_appendc(&el, *p++);
		if (append_literal(c, sb, el.data ? el.data : "", first, err) != 0)
			goto done;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
		{
			rc = 0;
			goto done;
		}
		if (*p++ != ',')
			break;
	}
	*err = xasprintf("cannot parse the list value \"%s\"", val);
done:
	sb_free(&el);
	return rc;
}

/* A parameter name, each dotted part quoted as an identifier. */
static int
append_name(DbConn *c, StrBuf *sb, const char *name, char **err)
{
	char	   *copy = xstrdup(name);
	char	   *save = NULL;
	int			rc = 0;
	bool		first = true;

	for (char *part = strtok_r(copy, ".", &save); part && rc == 0;
		 part = strtok_r(NULL, ".", &save), first = false)
	{
		char	   *q = db_quote_ident(c, part, err);

		if (q == NULL)
			rc = -1;
		else
			sb_appendf(sb, "%s%s", first ? "" : ".", q);
		free(q);
	}
	free(copy);
	return rc;
}

char *
rolesql_setting(DbConn *c, const char *role, const char *db, const char *name,
				const char *value, char **err)
{
	StrBuf		sb;
	char	   *qrole = db_quote_ident(c, role, err);
	char	   *qdb = NULL;

	if (qrole == NULL)
		return NULL;
	sb_init(&sb);
	sb_appendf(&sb, "ALTER ROLE %s", qrole);
	free(qrole);
	if (db && (qdb = db_quote_ident(c, db, err)) == NULL)
		goto fail;
	if (qdb)
		sb_appendf(&sb, " IN DATABASE %s", qdb);
	sb_append(&sb, value ? " SET " : " RESET ");
	if (append_name(c, &sb, name, err) != 0)
		goto fail;
	if (value)
	{
		sb_append(&sb, " TO ");
		if ((list_quoted(name) ? append_list(c, &sb, value, err) :
			 append_literal(c, &sb, value, true, err)) != 0)
			goto fail;
	}
	free(qdb);
	return sb_steal(&sb);
fail:
	free(qdb);
	sb_free(&sb);
	return NULL;
}
