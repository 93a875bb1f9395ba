/*
 * state_trust.c: may pgrotate use the pgrotate schema it finds?
 *
 * The admin reads and writes pgrotate.* with its own privileges (CREATEROLE,
 * ADMIN OPTION over the application's roles), so whoever controls those
 * objects controls what runs as the admin: a trigger on pgrotate.state, a
 * rule that turns a table into a view over a function, a policy, or a
 * schema that someone else created before "pgrotate init" (the
 * application's group role often owns the database and may create
 * schemas). SPEC section 5: the schema and everything in it must belong to
 * a trusted role, carry only pgrotate's own triggers, no rules or
 * policies, and nobody else may create in it or write its tables.
 *
 * A trusted role is the admin itself or a superuser. Not a role the admin
 * is a member of: from PostgreSQL 16 the admin holds ADMIN OPTION on the
 * application's group role, which would make the very squatter trusted.
 */
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "util.h"

/*
 * One row per problem: what is wrong, the statement that fixes it. The
 * tables pgrotate reads must be plain tables (relkind r): a view of the
 * same name would run its owner's functions as the reader.
 */
static const char TRUST_SQL[] =
	"WITH me AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user),"
	" ns AS (SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace"
	"        WHERE nspname = 'pgrotate'),"
	" trusted AS (SELECT r.oid FROM pg_catalog.pg_roles r, me"
	"   WHERE r.oid = me.oid OR r.rolsuper),"
	" rel AS (SELECT c.* FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid)"
	" SELECT what, fix, pg_catalog.current_database() FROM ("
	/* the schema's owner */
	"  SELECT 1 AS o, pg_catalog.format('schema pgrotate is owned by role %I', pg_catalog.pg_get_userbyid(n.nspowner)) AS what,"
	"   pg_catalog.format('If it is not pgrotate''s, run \"DROP SCHEMA pgrotate CASCADE\"; else, as a superuser, run \"ALTER SCHEMA pgrotate OWNER TO %I\".', current_user) AS fix"
	"   FROM ns n WHERE n.nspowner NOT IN (SELECT oid FROM trusted)"
	/* the owners of its tables, sequences, indexes, views ... */
	"  UNION ALL SELECT 2, pg_catalog.format('%s pgrotate.%I is owned by role %I',"
	"   CASE c.relkind WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'"
	"   WHEN 'v' THEN 'view' ELSE 'relation' END, c.relname, pg_catalog.pg_get_userbyid(c.relowner)),"
	"   pg_catalog.format('As a superuser, inspect it, then run \"ALTER TABLE pgrotate.%I OWNER TO %I\".', c.relname, current_user)"
	"   FROM rel c WHERE c.relowner NOT IN (SELECT oid FROM trusted)"
	/* its functions */
	"  UNION ALL SELECT 3, pg_catalog.format('function pgrotate.%I is owned by role %I', p.proname, pg_catalog.pg_get_userbyid(p.proowner)),"
	"   pg_catalog.format('As a superuser, inspect it, then run \"DROP FUNCTION pgrotate.%I\" or give it to %I.', p.proname, current_user)"
	"   FROM pg_catalog.pg_proc p, ns WHERE p.pronamespace = ns.oid AND p.proowner NOT IN (SELECT oid FROM trusted)"
	/* its types (a domain or type someone else made) */
	"  UNION ALL SELECT 4, pg_catalog.format('type pgrotate.%I is owned by role %I', t.typname, pg_catalog.pg_get_userbyid(t.typowner)),"
	"   pg_catalog.format('As a superuser, inspect it, then run \"DROP TYPE pgrotate.%I\".', t.typname)"
	"   FROM pg_catalog.pg_type t, ns WHERE t.typnamespace = ns.oid AND t.typowner NOT IN (SELECT oid FROM trusted)"
	/* the tables pgrotate reads must be tables */
	"  UNION ALL SELECT 5, pg_catalog.format('pgrotate.%I is not a plain table (relkind %s)', c.relname, c.relkind),"
	"   'If the schema is not pgrotate''s, run \"DROP SCHEMA pgrotate CASCADE\", then \"pgrotate init\".'"
	"   FROM rel c WHERE c.relname IN ('schema_version', 'state', 'history') AND c.relkind <> 'r'"
	/* triggers other than the history's own two */
	"  UNION ALL SELECT 6, pg_catalog.format('table pgrotate.%I has a trigger %I that pgrotate did not create', c.relname, g.tgname),"
	"   pg_catalog.format('DROP TRIGGER %I ON pgrotate.%I;  -- a trigger runs as whoever writes the table', g.tgname, c.relname)"
	"   FROM pg_catalog.pg_trigger g JOIN rel c ON c.oid = g.tgrelid"
	"   LEFT JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid"
	"   WHERE NOT g.tgisinternal AND NOT (c.relname = 'history'"
	"     AND g.tgname IN ('history_append_only', 'history_no_truncate')"
	"     AND f.proname = 'history_append_only' AND f.pronamespace = c.relnamespace)"
	/* rules and row security */
	"  UNION ALL SELECT 7, pg_catalog.format('table pgrotate.%I has a rule %I', c.relname, w.rulename),"
	"   pg_catalog.format('DROP RULE %I ON pgrotate.%I;', w.rulename, c.relname)"
	"   FROM pg_catalog.pg_rewrite w JOIN rel c ON c.oid = w.ev_class WHERE c.relkind = 'r'"
	"  UNION ALL SELECT 8, pg_catalog.format('table pgrotate.%I has a row security policy %I', c.relname, y.polname),"
	"   pg_catalog.format('DROP POLICY %I ON pgrotate.%I;', y.polname, c.relname)"
	"   FROM pg_catalog.pg_policy y JOIN rel c ON c.oid = y.polrelid"
	"  UNION ALL SELECT 9, pg_catalog.format('table pgrotate.%I has row level security enabled', c.relname),"
	"   pg_catalog.format('ALTER TABLE pgrotate.%I DISABLE ROW LEVEL SECURITY;', c.relname)"
	"   FROM rel c WHERE c.relrowsecurity"
	/*
	 * CREATE on the schema, or write access to its tables or their columns,
	 * for others; MAINTAIN (PostgreSQL 17+) allows LOCK TABLE, which would
	 * stall every run
	 */
	"  UNION ALL SELECT 10, pg_catalog.format('role %s may create objects in schema pgrotate',"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END),"
	"   pg_catalog.format('REVOKE CREATE ON SCHEMA pgrotate FROM %s;',"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)"
	"   FROM ns, pg_catalog.aclexplode(ns.nspacl) a"
	"   WHERE a.privilege_type = 'CREATE' AND a.grantee NOT IN (SELECT oid FROM trusted)"
	"  UNION ALL SELECT 11, pg_catalog.format('role %s has %s on pgrotate.%I',"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,"
	"   a.privilege_type, c.relname),"
	"   pg_catalog.format('REVOKE %s ON pgrotate.%I FROM %s;', a.privilege_type, c.relname,"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)"
	"   FROM rel c, pg_catalog.aclexplode(c.relacl) a"
	"   WHERE a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES',"
	"    'MAINTAIN')"
	"   AND a.grantee NOT IN (SELECT oid FROM trusted)"
	/* the same on single columns: UPDATE (pending_role) is enough to aim a rollback */
	"  UNION ALL SELECT 12, pg_catalog.format('role %s has %s (%I) on pgrotate.%I',"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,"
	"   a.privilege_type, t.attname, c.relname),"
	"   pg_catalog.format('REVOKE %s (%I) ON pgrotate.%I FROM %s;', a.privilege_type, t.attname, c.relname,"
	"   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)"
	"   FROM rel c JOIN pg_catalog.pg_attribute t ON t.attrelid = c.oid"
	"   CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) a"
	"   WHERE t.attnum > 0 AND NOT t.attisdropped"
	"   AND a.privilege_type IN ('INSERT', 'UPDATE', 'REFERENCES')"
	"   AND a.grantee NOT IN (SELECT oid FROM trusted)"
	/*
	 * members of the predefined roles that reach every table: pg_write_all_data
	 * writes it, pg_maintain (PostgreSQL 17+) may LOCK it. Direct members
	 * only: every chain of membership starts with one, and the REVOKE that
	 * ends the chain names it. Not a role with CREATEROLE, a peer of the
	 * admin that manages roles itself: managed services give their
	 * administrator role such memberships, and before PostgreSQL 16 it
	 * could grant them to itself anyway.
	 */
	"  UNION ALL SELECT 13, pg_catalog.format('role %I is a member of %s, which may %s every table, pgrotate''s included',"
	"   pg_catalog.pg_get_userbyid(m.member), g.rolname, CASE g.rolname WHEN 'pg_maintain' THEN 'lock' ELSE 'write' END),"
	"   pg_catalog.format('REVOKE %s FROM %I;', g.rolname, pg_catalog.pg_get_userbyid(m.member))"
	"   FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid"
	"   WHERE g.rolname IN ('pg_write_all_data', 'pg_maintain')"
	"   AND m.member NOT IN (SELECT oid FROM trusted)"
	"   AND NOT (SELECT r.rolcreaterole FROM pg_catalog.pg_roles r WHERE r.oid = m.member)"
	" ) p ORDER BY o, what";

/* Who runs the statements that fix what the trust query finds. */
#define TRUST_FIX_INTRO "Run as a superuser:"

/* A fix of the trust query that is an SQL statement (else a sentence). */
static bool
is_statement(const char *fix)
{
	return strncmp(fix, "REVOKE ", 7) == 0 || strncmp(fix, "DROP ", 5) == 0 ||
		strncmp(fix, "ALTER ", 6) == 0;
}

int
state_schema_trust(DbConn *c, char **problem, char **fix, char **err)
{
	DbRes	   *r = NULL;
	int			n;
	StrBuf		what,
				how,
				sql;

	*problem = *fix = NULL;
	if (db_exec(c, TRUST_SQL, 0, NULL, 3, &r, err) != 0)
		return -1;
	n = db_nrows(r);
	if (n == 0)
	{
		db_res_free(r);
		return 0;
	}
	sb_init(&what);
	sb_init(&how);
	sb_init(&sql);
	/* the sentences, then the statements after the one that introduces them */
	for (int i = 0; i < n; i++)
	{
		const char *f = db_val(r, i, 1);
		StrBuf	   *to = is_statement(f) ? &sql : &how;

		sb_appendf(&what, "%s%s", i ? "; " : "", db_val(r, i, 0));
		sb_appendf(to, "%s%s", to->len ? "\n" : "", f);
	}
	if (sql.len > 0)
		sb_appendf(&how, "%s" TRUST_FIX_INTRO "\n%s", how.len ? "\n" : "", sql.data);
	sb_free(&sql);
	*problem = xasprintf("the pgrotate schema in database \"%s\" is not pgrotate's own: %s;"
						 " pgrotate uses only a schema that its admin owns, with no foreign"
						 " triggers, rules or policies, and that nobody else can create in"
						 " or write to, because what is there runs with the admin's privileges",
						 db_val(r, 0, 2), what.data);
	db_res_free(r);
	*fix = sb_steal(&how);
	sb_free(&what);
	return 1;
}

int
state_schema_trusted(DbConn *c, char **err)
{
	char	   *problem = NULL;
	char	   *fix = NULL;
	int			rc = state_schema_trust(c, &problem, &fix, err);

	if (rc == 1)
	{
		*err = xasprintf("%s; nothing was read or changed (hint: %s)", problem, fix);
		rc = -1;
	}
	free(problem);
	free(fix);
	return rc;
}
