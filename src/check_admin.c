/*
 * check_admin.c: what the admin may do beyond managing the roles (see
 * check_admin.h), in one query.
 */
#include <stdlib.h>
#include <string.h>

#include "check_admin.h"
#include "checklist.h"
#include "util.h"

/*
 * The admin (quoted), the database (quoted), whether it has the privileges
 * of pg_signal_backend, CREATE on the database, whether the state table
 * exists, a state row for the target, and the rights on the schema's
 * objects (by oid: a name lookup would need USAGE on the schema first).
 */
/* Who may grant CREATE on a database. */
#define CREATE_FIX_INTRO "Run as a superuser or as the owner of the database:"

static const char RIGHTS_SQL[] =
	"WITH t AS (SELECT c.oid, c.relname FROM pg_catalog.pg_class c"
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"  WHERE n.nspname = 'pgrotate')"
	" SELECT pg_catalog.quote_ident(current_user),"
	" pg_catalog.quote_ident(pg_catalog.current_database()),"
	" coalesce(pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE'), false)"
	"  OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
	" pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),"
	" EXISTS (SELECT 1 FROM t WHERE relname = 'state'),"
	" coalesce(pg_catalog.has_schema_privilege((SELECT oid FROM pg_catalog.pg_namespace"
	"   WHERE nspname = 'pgrotate'), 'USAGE'), false)"
	/* one privilege per call: with a list, has_*_privilege wants any one */
	"  AND coalesce((SELECT bool_and(pg_catalog.has_table_privilege(t.oid, p))"
	"    FROM t, unnest(CASE t.relname WHEN 'state' THEN '{SELECT,INSERT,UPDATE}'::text[]"
	"      WHEN 'history' THEN '{SELECT,INSERT}' WHEN 'schema_version' THEN '{SELECT}' END) p"
	"    WHERE t.relname IN ('state', 'history', 'schema_version')), false)"
	"  AND coalesce((SELECT pg_catalog.has_sequence_privilege(oid, 'USAGE')"
	"    FROM t WHERE relname = 'history_id_seq'), false)";

/* A name quoted by quote_ident, in double quotes for a message (malloc'd). */
static char *
in_quotes(const char *qident)
{
	return qident[0] == '"' ? xstrdup(qident) : xasprintf("\"%s\"", qident);
}

static void
check_signal(const Target *t, const DbRes *r, CheckList *l)
{
	const char *name = "admin may terminate sessions (pg_signal_backend)";
	bool		needed = t->s.on_drain_timeout == DRAIN_TERMINATE;
	char	   *admin;
	char	   *detail;
	char	   *fix;

	if (db_bool(r, 0, 2))
	{
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
		return;
	}
	admin = in_quotes(db_val(r, 0, 0));
	detail = xasprintf(needed ?
					   "%s is not a member of pg_signal_backend, and on_drain_timeout = \"terminate\" needs it" :
					   "%s is not a member of pg_signal_backend: cycle --emergency and revoke --terminate would fail to end sessions",
					   admin);
	fix = xasprintf(FIX_AS_SUPERUSER "\nGRANT pg_signal_backend TO %s;", db_val(r, 0, 0));
	checklist_add(l, needed ? CHECK_FAIL : CHECK_WARN, name, detail, fix);
	free(admin);
	free(detail);
	free(fix);
}

/* CREATE on the database matters only until init has made the state. */
static void
check_create(const DbRes *r, CheckList *l)
{
	char	   *admin = in_quotes(db_val(r, 0, 0));
	char	   *db = in_quotes(db_val(r, 0, 1));
	char	   *name = xasprintf("admin may create the state schema in database %s (for init)",
								 db);
	char	   *detail = NULL;
	char	   *fix = NULL;

	if (db_bool(r, 0, 3))
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
	else
	{
		detail = xasprintf("%s has no CREATE privilege on database %s", admin, db);
		fix = xasprintf(CREATE_FIX_INTRO "\nGRANT CREATE ON DATABASE %s TO %s;",
						db_val(r, 0, 1), db_val(r, 0, 0));
		checklist_add(l, CHECK_FAIL, name, detail, fix);
	}
	free(admin);
	free(db);
	free(name);
	free(detail);
	free(fix);
}

/* The GRANTs admin a (quoted) needs on the state schema, malloc'd. */
static char *
schema_fix(const char *a)
{
	return xasprintf("Run as the schema's owner (or run pgrotate as the admin that ran init):\n"
					 "GRANT USAGE ON SCHEMA pgrotate TO %s;\n"
					 "GRANT SELECT, INSERT, UPDATE ON pgrotate.state TO %s;\n"
					 "GRANT SELECT, INSERT ON pgrotate.history TO %s;\n"
					 "GRANT SELECT ON pgrotate.schema_version TO %s;\n"
					 "GRANT USAGE ON SEQUENCE pgrotate.history_id_seq TO %s;", a, a, a, a, a);
}

static void
check_schema_rights(const DbRes *r, CheckList *l)
{
	const char *name = "admin may read and write the state schema";
	char	   *fix;

	if (db_bool(r, 0, 5))
	{
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
		return;
	}
	fix = schema_fix(db_val(r, 0, 0));
	checklist_add(l, CHECK_FAIL, name, "some rights on the pgrotate schema or its tables are missing", fix);
	free(fix);
}

void
check_admin_rights(DbConn *c, const Target *t, CheckList *l)
{
	DbRes	   *r = NULL;
	char	   *err = NULL;

	if (db_exec(c, RIGHTS_SQL, 0, NULL, 6, &r, &err) != 0)
	{
		checklist_add(l, CHECK_FAIL, "admin rights", err, NULL);
		free(err);
		return;
	}
	check_signal(t, r, l);
	if (db_bool(r, 0, 4))
		check_schema_rights(r, l);
	else
		check_create(r, l);
	db_res_free(r);
}

/*
 * Ask a question whose answer is a boolean and the GRANT that fixes a no:
 * 1 yes, 0 no (with *fix), -1 with *err.
 */
static int
ask(DbConn *c, const char *sql, const char *intro, char **fix, char **err)
{
	DbRes	   *r = NULL;
	int			rc;

	*fix = NULL;
	if (db_exec(c, sql, 0, NULL, 2, &r, err) != 0)
		return -1;
	rc = db_bool(r, 0, 0) ? 1 : 0;
	if (rc == 0)
		*fix = xasprintf("%s\n%s", intro, db_val(r, 0, 1));
	db_res_free(r);
	return rc;
}

int
check_admin_can_create(DbConn *c, char **fix, char **err)
{
	return ask(c, "SELECT pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),"
			   " pg_catalog.format('GRANT CREATE ON DATABASE %I TO %I;',"
			   "  pg_catalog.current_database(), current_user)", CREATE_FIX_INTRO, fix, err);
}

int
check_admin_can_signal(DbConn *c, char **fix, char **err)
{
	return ask(c, "SELECT coalesce(pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE'), false)"
			   " OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
			   " pg_catalog.format('GRANT pg_signal_backend TO %I;', current_user)",
			   FIX_AS_SUPERUSER, fix, err);
}

char *
check_admin_state_hint(DbConn *c, const char *target)
{
	DbRes	   *r = NULL;
	char	   *err = NULL;
	char	   *fix;
	char	   *hint;

	if (c == NULL || strcmp(db_last_sqlstate(c), "42501") != 0)
		return NULL;
	/* current_user needs no privilege (the failed query was not in a transaction) */
	if (db_exec(c, "SELECT pg_catalog.quote_ident(current_user)", 0, NULL, 1, &r, &err) != 0)
	{
		free(err);
		return xasprintf("The admin lacks rights on the pgrotate schema: run \"pgrotate check %s\", which prints the GRANTs.",
						 target);
	}
	fix = schema_fix(db_val(r, 0, 0));
	db_res_free(r);
	hint = xasprintf("The admin lacks rights on the pgrotate schema (\"pgrotate check %s\" names them).\n%s",
					 target, fix);
	free(fix);
	return hint;
}
