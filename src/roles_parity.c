/*
 * roles_parity.c: the two login roles must be interchangeable (issue 10).
 *
 * One query lists what one login role has and the other lacks: per-role
 * settings (pg_db_role_setting, every database), memberships other than
 * the group (with ADMIN, and INHERIT and SET from PostgreSQL 16),
 * attributes pgrotate does not manage, and privileges granted to the login
 * role itself in this database (aclexplode over pg_class, pg_attribute,
 * pg_namespace, pg_proc and pg_database), and default privileges defined
 * for it (pg_default_acl). Settings are copied from the active role to the
 * standby at provision (parity_mirror, in the provision's transaction);
 * every other difference refuses with the statements that move the grant
 * to the group role. Names reach SQL text only through
 * db_quote_ident, values through db_quote_literal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles_parity.h"
#include "rolesql.h"

#define PG15 150000
#define PG16 160000

/* Row columns of the parity and settings queries. */
enum
{
	COL_I,						/* 1 or 2: which login role has it */
	COL_KIND,					/* s setting, m membership, a attribute,
								 * p privilege, d default privilege, g
								 * default privilege granted to it, o owned
								 * object */
	COL_K1,						/* database (s, NULL: all), object kind (p, o),
								 * ["schema".]object type (d), defining role
								 * (g) */
	COL_K2,						/* parameter, role, attribute, object,
								 * grantee (d), ["schema".]object type (g) */
	COL_VAL,					/* value, options, privilege */
	COL_FLAG					/* settable (s), ADMIN (m), grantable (p, d) */
};

/*
 * May the admin SET (and RESET) the parameter for another role? A
 * parameter missing from pg_settings (context NULL) is a placeholder, a
 * custom "prefix.name" setting no loaded module defines: ALTER ROLE lets
 * only a superuser set one, or from PostgreSQL 15 a role granted SET ON
 * PARAMETER on it (only dotted names reach has_parameter_privilege).
 */
#define ADMIN_IS_SUPERUSER \
	"(SELECT o.rolsuper FROM pg_catalog.pg_roles o WHERE o.rolname = current_user)"
#define SETTABLE_14 \
	"(" ADMIN_IS_SUPERUSER " OR g.context IS NOT NULL AND g.context IN ('user', 'backend'))"
#define SETTABLE_15 \
	"(" ADMIN_IS_SUPERUSER " OR g.context IS NOT NULL AND g.context IN ('user', 'backend')" \
	" OR CASE WHEN g.context IS NOT NULL" \
	"  THEN g.context IN ('superuser', 'superuser-backend')" \
	"  AND pg_catalog.has_parameter_privilege(g.name, 'SET')" \
	"  WHEN pg_catalog.strpos(pg_catalog.split_part(c.cfg, '=', 1), '.') > 0" \
	"  THEN pg_catalog.has_parameter_privilege(pg_catalog.split_part(c.cfg, '=', 1), 'SET')" \
	"  ELSE false END)"

/*
 * The settings of the roles in r(i, oid), every database, as items. The
 * "role" setting for all databases and for this one is the setup check's
 * business (it must name the group for both).
 */
#define SETTINGS_ITEMS(settable) \
	" SELECT r.i, 's'::pg_catalog.text, d.datname::pg_catalog.text," \
	" pg_catalog.split_part(c.cfg, '=', 1)," \
	" pg_catalog.substr(c.cfg, pg_catalog.strpos(c.cfg, '=') + 1), " settable \
	" FROM pg_catalog.pg_db_role_setting s JOIN r ON r.oid = s.setrole" \
	" LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase" \
	" CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg)" \
	" LEFT JOIN pg_catalog.pg_settings g" \
	"  ON pg_catalog.lower(g.name) = pg_catalog.lower(pg_catalog.split_part(c.cfg, '=', 1))" \
	" WHERE NOT (pg_catalog.split_part(c.cfg, '=', 1) = 'role'" \
	"  AND (s.setdatabase = 0 OR d.datname = pg_catalog.current_database()))"

#define ROLES_CTE(p1, p2) \
	"WITH r(i, oid) AS (SELECT n.i, o.oid FROM (VALUES (1, " p1 "::pg_catalog.text)," \
	" (2, " p2 "::pg_catalog.text)) n(i, name)" \
	" JOIN pg_catalog.pg_roles o ON o.rolname = n.name)"

/* Items of one login role that the other lacks (owned objects: all). */
#define DIFF_SELECT \
	" SELECT x.i, x.kind, x.k1, x.k2, x.val, x.flag FROM items x" \
	" WHERE x.kind = 'o' OR NOT EXISTS (SELECT 1 FROM items y WHERE y.i <> x.i" \
	"  AND y.kind = x.kind AND y.k1 IS NOT DISTINCT FROM x.k1 AND y.k2 = x.k2" \
	"  AND y.val IS NOT DISTINCT FROM x.val AND y.flag = x.flag)" \
	" ORDER BY x.kind, x.k1 NULLS FIRST, x.k2, x.i, x.val"

/* Privileges granted on the objects of a catalog, but not to their owner. */
#define ACL_OF(kind, cat, alias, acl, owner) \
	" SELECT " kind ", '" cat "'::pg_catalog.regclass, " alias ".oid, x.grantee," \
	" x.privilege_type, x.is_grantable FROM " cat " " alias \
	" CROSS JOIN LATERAL pg_catalog.aclexplode(" alias "." acl ") x" \
	" WHERE x.grantee <> " alias "." owner

/*
 * Column privileges, as privileges on the table whose privilege names the
 * column: "SELECT (c)" reads back as GRANT SELECT (c) ON TABLE t.
 */
#define COLUMN_ACL \
	" UNION ALL SELECT 'TABLE', 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid," \
	" x.grantee, x.privilege_type || ' (' || pg_catalog.quote_ident(a.attname) || ')'," \
	" x.is_grantable FROM pg_catalog.pg_attribute a" \
	" JOIN pg_catalog.pg_class c ON c.oid = a.attrelid" \
	" CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) x" \
	" WHERE a.attnum > 0 AND NOT a.attisdropped AND x.grantee <> c.relowner"

/*
 * Default privileges defined FOR ROLE a login role (pg_default_acl), as
 * they apply: for all schemas, the row, else the built-in default
 * (acldefault; its 's' is pg_default_acl's 'S'); in a schema, the row's
 * grants. k1: ["schema".]TABLES|SEQUENCES|..., k2: the grantee, "" for the
 * login role itself, PUBLIC, else the quoted role name.
 */
#define DEFACL_OBJECTS(nsp, typ) \
	" coalesce(pg_catalog.quote_ident(" nsp ") || '.', '') || CASE " typ \
	" WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'" \
	" WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' ELSE 'LARGE OBJECTS' END"
#define DEFAULT_ACL_ITEMS \
	" UNION ALL SELECT r.i, 'd'," DEFACL_OBJECTS("n.nspname", "t.typ") "," \
	" CASE WHEN x.grantee = r.oid THEN '' WHEN x.grantee = 0 THEN 'PUBLIC'" \
	" ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END," \
	" x.privilege_type, x.is_grantable FROM r CROSS JOIN (SELECT DISTINCT" \
	" a.defaclnamespace, a.defaclobjtype FROM pg_catalog.pg_default_acl a" \
	"  JOIN r ON r.oid = a.defaclrole) t(nsp, typ)" \
	" LEFT JOIN pg_catalog.pg_default_acl a ON a.defaclrole = r.oid" \
	"  AND a.defaclnamespace = t.nsp AND a.defaclobjtype = t.typ" \
	" LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.nsp" \
	" CROSS JOIN LATERAL pg_catalog.aclexplode(CASE WHEN a.oid IS NOT NULL" \
	"  THEN a.defaclacl WHEN t.nsp = 0 THEN pg_catalog.acldefault(CASE t.typ" \
	"  WHEN 'S' THEN 's' ELSE t.typ END, r.oid) END) x"

/*
 * Default privileges that another role defines and that grant to a login
 * role (ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT ... TO app_user_a):
 * the objects that role creates later would be granted to one login role
 * only. k1: the defining role, quoted ("" for the group); k2:
 * ["schema".]object type.
 */
#define DEFAULT_GRANT_ITEMS \
	" UNION ALL SELECT r.i, 'g', CASE pg_catalog.pg_get_userbyid(a.defaclrole) WHEN $1 THEN ''" \
	" ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.defaclrole)) END," \
	DEFACL_OBJECTS("n.nspname", "a.defaclobjtype") ", x.privilege_type, x.is_grantable" \
	" FROM pg_catalog.pg_default_acl a" \
	" CROSS JOIN LATERAL pg_catalog.aclexplode(a.defaclacl) x JOIN r ON r.oid = x.grantee" \
	" LEFT JOIN pg_catalog.pg_namespace n ON n.oid = a.defaclnamespace" \
	" WHERE a.defaclrole NOT IN (SELECT oid FROM r)"

#define PARITY_SQL(settable, member_opts) \
	ROLES_CTE("$2", "$3") ", items(i, kind, k1, k2, val, flag) AS (" \
	SETTINGS_ITEMS(settable) \
	" UNION ALL SELECT r.i, 'm', NULL, g.rolname::pg_catalog.text, " member_opts "," \
	" pg_catalog.bool_or(a.admin_option)" \
	" FROM pg_catalog.pg_auth_members a JOIN r ON r.oid = a.member" \
	" JOIN pg_catalog.pg_roles g ON g.oid = a.roleid WHERE g.rolname <> $1" \
	" GROUP BY r.i, g.rolname" \
	" UNION ALL SELECT r.i, 'a', NULL, v.k, v.v, false" \
	" FROM r JOIN pg_catalog.pg_roles o ON o.oid = r.oid CROSS JOIN LATERAL (VALUES" \
	" ('CREATEDB', o.rolcreatedb::pg_catalog.text)," \
	" ('CREATEROLE', o.rolcreaterole::pg_catalog.text)," \
	" ('INHERIT', o.rolinherit::pg_catalog.text)," \
	" ('CONNECTION LIMIT', o.rolconnlimit::pg_catalog.text)) v(k, v)" \
	" UNION ALL SELECT r.i, 'p', p.kind," \
	" (pg_catalog.pg_identify_object(p.cls, p.obj, 0)).identity, p.priv, p.gr FROM (" \
	ACL_OF("CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END", \
		   "pg_catalog.pg_class", "c", "relacl", "relowner") \
	" UNION ALL" ACL_OF("'SCHEMA'", "pg_catalog.pg_namespace", "n", "nspacl", "nspowner") \
	" UNION ALL" ACL_OF("CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END", \
						"pg_catalog.pg_proc", "f", "proacl", "proowner") \
	" UNION ALL" ACL_OF("'DATABASE'", "pg_catalog.pg_database", "d", "datacl", "datdba") \
	" AND d.datname = pg_catalog.current_database()" \
	COLUMN_ACL ")" \
	" p(kind, cls, obj, grantee, priv, gr) JOIN r ON r.oid = p.grantee" \
	DEFAULT_ACL_ITEMS DEFAULT_GRANT_ITEMS \
	" UNION ALL SELECT r.i, 'o', pg_catalog.upper(o.type), o.identity, NULL, false" \
	" FROM pg_catalog.pg_shdepend s JOIN r ON r.oid = s.refobjid" \
	" CROSS JOIN LATERAL pg_catalog.pg_identify_object(s.classid, s.objid, s.objsubid) o" \
	" WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.deptype = 'o'" \
	" AND s.classid <> 'pg_catalog.pg_default_acl'::pg_catalog.regclass" \
	" AND NOT " LINKED_SEQUENCE \
	" AND s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d" \
	"  WHERE d.datname = pg_catalog.current_database()))" \
	DIFF_SELECT

#define OPTS_15 "'ADMIN ' || pg_catalog.bool_or(a.admin_option)::pg_catalog.text"
#define OPTS_16 OPTS_15 \
	" || ', INHERIT ' || pg_catalog.bool_or(a.inherit_option)::pg_catalog.text" \
	" || ', SET ' || pg_catalog.bool_or(a.set_option)::pg_catalog.text"

/* $1 the active role, $2 the standby: their settings that differ. */
#define MIRROR_SQL(settable) \
	ROLES_CTE("$1", "$2") ", items(i, kind, k1, k2, val, flag) AS (" \
	SETTINGS_ITEMS(settable) ")" DIFF_SELECT

const char *
parity_sql(int version)
{
	if (version >= PG16)
		return PARITY_SQL(SETTABLE_15, OPTS_16);
	if (version >= PG15)
		return PARITY_SQL(SETTABLE_15, OPTS_15);
	return PARITY_SQL(SETTABLE_14, OPTS_15);
}

static const char *
mirror_sql(int version)
{
	return version >= PG15 ? MIRROR_SQL(SETTABLE_15) : MIRROR_SQL(SETTABLE_14);
}

static bool
same_key(const DbRes *res, int a, int b)
{
	return (db_isnull(res, a, COL_K1) ? db_isnull(res, b, COL_K1) :
			!db_isnull(res, b, COL_K1) &&
			strcmp(db_val(res, a, COL_K1), db_val(res, b, COL_K1)) == 0) &&
		strcmp(db_val(res, a, COL_K2), db_val(res, b, COL_K2)) == 0;
}

/*
 * From the differing settings rows of res (kind 's'), the statements that
 * make role index si (1 or 2; the other is the reference) equal to the
 * other: SET what the reference has, RESET what only si has. Statements of
 * parameters the admin may not set go to refused (when not NULL) instead.
 */
static int
settings_stmts(DbConn *c, const DbRes *res, int si, const char *standby,
			   StrList *out, StrList *refused, char **err)
{
	for (int i = 0; i < db_nrows(res); i++)
	{
		const char *db = db_isnull(res, i, COL_K1) ? NULL : db_val(res, i, COL_K1);
		bool		mine = db_int(res, i, COL_I) == si;
		char	   *s;

		if (strcmp(db_val(res, i, COL_KIND), "s") != 0)
			continue;
		if (mine)
		{
			bool		also_ref = false;

			for (int j = 0; j < db_nrows(res); j++)
				if (j != i && strcmp(db_val(res, j, COL_KIND), "s") == 0 &&
					db_int(res, j, COL_I) != si && same_key(res, i, j))
					also_ref = true;
			if (also_ref)
				continue;		/* the reference's SET replaces it */
		}
		s = rolesql_setting(c, standby, db, db_val(res, i, COL_K2),
						 mine ? NULL : db_val(res, i, COL_VAL), err);
		if (s == NULL)
			return -1;
		if (refused && !db_bool(res, i, COL_FLAG))
			strlist_add_owned(refused, s);
		else
			strlist_add_owned(out, s);
	}
	return 0;
}

int
parity_mirror_plan(DbConn *c, const char *active, const char *standby,
				   StrList *out, char **refused, char **err)
{
	const char *const params[2] = {active, standby};
	DbRes	   *res = NULL;
	StrList		no = {0};
	int			rc = -1;

	*refused = NULL;
	if (db_exec(c, mirror_sql(db_server_version(c)), 2, params, PARITY_NCOLS,
				&res, err) != 0 ||
		settings_stmts(c, res, 2, standby, out, &no, err) != 0)
		goto done;
	if (no.n > 0)
		*refused = xasprintf("%s (as a superuser)", no.items[0]);
	rc = 0;
done:
	strlist_free(&no);
	db_res_free(res);
	return rc;
}

int
parity_mirror(DbConn *c, const char *active, const char *standby,
			  char **detail, char **err)
{
	StrList		stmts = {0};
	StrList		left = {0};
	char	   *refused = NULL;
	StrBuf		sb;
	int			rc = -1;

	*detail = NULL;
	sb_init(&sb);
	sb_append(&sb, "");
	if (parity_mirror_plan(c, active, standby, &stmts, &refused, err) != 0)
		goto done;
	if (refused)
	{
		*err = xasprintf("the admin may not set a parameter of role \"%s\": run %s",
						 standby, refused);
		goto done;
	}
	for (int i = 0; i < stmts.n; i++)
	{
		if (db_cmd(c, stmts.items[i], err) != 0)
			goto done;
		sb_appendf(&sb, "%s%s", i ? "; " : "", stmts.items[i]);
	}
	/* read back: the settings must now be byte-identical */
	if (stmts.n > 0 &&
		(parity_mirror_plan(c, active, standby, &left, &refused, err) != 0 ||
		 left.n > 0 || refused))
	{
		if (*err == NULL)
			*err = xasprintf("the settings of role \"%s\" still differ from those of \"%s\""
							 " after they were copied (%s)", standby, active,
							 left.n > 0 ? left.items[0] : refused);
		goto done;
	}
	*detail = sb_steal(&sb);
	rc = 0;
done:
	sb_free(&sb);
	strlist_free(&stmts);
	strlist_free(&left);
	free(refused);
	return rc;
}

/* What parity_check carries between its items. */
typedef struct ParityCtx
{
	DbConn	   *c;
	const DbRes *res;
	const Target *t;
	int			ref;			/* 1 or 2: the reference (active) role */
	char	   *q[3];			/* [1], [2]: the login roles, [0]: the group */
	CheckList  *l;
} ParityCtx;

static bool
row_kind(const ParityCtx *x, int i, const char *kind)
{
	return strcmp(db_val(x->res, i, COL_KIND), kind) == 0;
}

/* "login roles A and B have the same WHAT" */
static char *
item_name(const ParityCtx *x, const char *what)
{
	return xasprintf("login roles %s and %s have the same %s", x->q[1], x->q[2], what);
}

static void
report(ParityCtx *x, const char *what, CheckStatus st, const StrBuf *detail,
	   const char *intro, const StrBuf *fix)
{
	char	   *name = item_name(x, what);

	if (detail->len == 0)
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	else
		checklist_add_sql(x->l, st, name, detail->data, intro,
						  fix->len ? fix->data : NULL);
	free(name);
}

static void
join(StrBuf *sb, const char *sep, const char *s)
{
	if (sb->len > 0)
		sb_append(sb, sep);
	sb_append(sb, s);
}

/* Settings: WARN (copied at provision) or FAIL (the admin may not). */
static int
check_settings(ParityCtx *x, char **err)
{
	int			si = 3 - x->ref;
	StrList		stmts = {0};
	StrList		refused = {0};
	StrBuf		detail,
				fix;
	int			rc = -1;

	sb_init(&detail);
	sb_init(&fix);
	if (settings_stmts(x->c, x->res, si, x->t->roles[si - 1], &stmts, &refused,
					   err) != 0)
		goto done;
	if (refused.n > 0)
	{
		sb_appendf(&detail, "%d setting%s of %s differ%s from %s's and the admin may"
				   " not set %s (a superuser-only or custom parameter)", refused.n,
				   refused.n == 1 ? "" : "s", x->q[si], refused.n == 1 ? "s" : "",
				   x->q[x->ref], refused.n == 1 ? "it" : "them");
		for (int i = 0; i < refused.n; i++)
			sb_appendf(&fix, "%s%s;  -- as a superuser", i ? "\n" : "", refused.items[i]);
	}
	else if (stmts.n > 0)
		sb_appendf(&detail, "%d setting%s of %s differ%s from %s's: provision copies"
				   " them (the active role's settings to the standby)", stmts.n,
				   stmts.n == 1 ? "" : "s", x->q[si], stmts.n == 1 ? "s" : "",
				   x->q[x->ref]);
	for (int i = 0; i < stmts.n; i++)
		sb_appendf(&fix, "%s%s;", fix.len ? "\n" : "", stmts.items[i]);
	report(x, "settings", refused.n > 0 ? CHECK_FAIL : CHECK_WARN, &detail,
		   refused.n > 0 ? FIX_AS_SUPERUSER : FIX_AS_ADMIN, &fix);
	rc = 0;
done:
	strlist_free(&stmts);
	strlist_free(&refused);
	sb_free(&detail);
	sb_free(&fix);
	return rc;
}

/*
 * Is membership row i the standby's in a role the reference (active) login
 * role is also a member of, with other options? Then the group gets the
 * reference's options, and this row only its REVOKE.
 */
static bool
standby_also_ref(const ParityCtx *x, int i)
{
	if (db_int(x->res, i, COL_I) == x->ref)
		return false;
	for (int j = 0; j < db_nrows(x->res); j++)
		if (row_kind(x, j, "m") && db_int(x->res, j, COL_I) == x->ref &&
			strcmp(db_val(x->res, j, COL_K2), db_val(x->res, i, COL_K2)) == 0)
			return true;
	return false;
}

/* Memberships other than the group: move them to the group. */
static int
check_memberships(ParityCtx *x, char **err)
{
	StrBuf		detail,
				fix;
	int			rc = -1;

	sb_init(&detail);
	sb_init(&fix);
	for (int i = 0; i < db_nrows(x->res); i++)
	{
		int			k = (int) db_int(x->res, i, COL_I);
		char	   *qg;
		char	   *s;

		if (!row_kind(x, i, "m"))
			continue;
		if ((qg = db_quote_ident(x->c, db_val(x->res, i, COL_K2), err)) == NULL)
			goto done;
		s = xasprintf("%s is a member of %s (%s) and %s is not so", x->q[k], qg,
					  db_val(x->res, i, COL_VAL), x->q[3 - k]);
		join(&detail, "; ", s);
		free(s);
		/* from 16, the grant keeps its options: "ADMIN x, INHERIT y, SET z" */
		if (!standby_also_ref(x, i))
			sb_appendf(&fix, "%sGRANT %s TO %s%s%s;", fix.len ? "\n" : "", qg, x->q[0],
					   strstr(db_val(x->res, i, COL_VAL), "INHERIT") ? " WITH " :
					   db_bool(x->res, i, COL_FLAG) ? " WITH ADMIN OPTION" : "",
					   strstr(db_val(x->res, i, COL_VAL), "INHERIT") ?
					   db_val(x->res, i, COL_VAL) : "");
		sb_appendf(&fix, "%sREVOKE %s FROM %s;", fix.len ? "\n" : "", qg, x->q[k]);
		free(qg);
	}
	report(x, "memberships", CHECK_FAIL, &detail, FIX_AS_SUPERUSER, &fix);
	rc = 0;
done:
	sb_free(&detail);
	sb_free(&fix);
	return rc;
}

/* The ALTER ROLE option that gives an attribute the value val. */
static char *
attr_option(const char *attr, const char *val)
{
	if (strcmp(attr, "CONNECTION LIMIT") == 0)
		return xasprintf("CONNECTION LIMIT %lld", strtoll(val, NULL, 10));
	return xasprintf("%s%s", strcmp(val, "true") == 0 ? "" : "NO", attr);
}

/* The other login role's value of the attribute of row i ("?" if none). */
static const char *
attr_other(const ParityCtx *x, int i)
{
	for (int j = 0; j < db_nrows(x->res); j++)
		if (row_kind(x, j, "a") && db_int(x->res, j, COL_I) != db_int(x->res, i, COL_I) &&
			strcmp(db_val(x->res, j, COL_K2), db_val(x->res, i, COL_K2)) == 0)
			return db_val(x->res, j, COL_VAL);
	return "?";
}

/* Attributes: the standby's made equal to the reference's. */
static void
check_attrs(ParityCtx *x)
{
	int			si = 3 - x->ref;
	StrBuf		detail,
				fix;

	sb_init(&detail);
	sb_init(&fix);
	for (int i = 0; i < db_nrows(x->res); i++)
	{
		const char *attr = db_val(x->res, i, COL_K2);
		char	   *opt;
		char	   *theirs;
		char	   *s;

		if (!row_kind(x, i, "a") || db_int(x->res, i, COL_I) != x->ref)
			continue;
		opt = attr_option(attr, db_val(x->res, i, COL_VAL));
		theirs = attr_option(attr, attr_other(x, i));
		s = xasprintf("%s has %s, %s has %s", x->q[x->ref], opt, x->q[si], theirs);
		join(&detail, "; ", s);
		free(s);
		sb_appendf(&fix, "%sALTER ROLE %s %s;", fix.len ? "\n" : "", x->q[si], opt);
		free(opt);
		free(theirs);
	}
	report(x, "attributes", CHECK_FAIL, &detail, FIX_AS_SUPERUSER, &fix);
	sb_free(&detail);
	sb_free(&fix);
}

/* Privileges granted to a login role itself: move them to the group. */
static void
privilege_row(const ParityCtx *x, int i, StrBuf *detail, StrBuf *fix)
{
	int			k = (int) db_int(x->res, i, COL_I);
	const char *kind = db_val(x->res, i, COL_K1);
	const char *obj = db_val(x->res, i, COL_K2);
	const char *priv = db_val(x->res, i, COL_VAL);
	char	   *s;

	s = xasprintf("%s has %s on %s %s and %s has not", x->q[k], priv, kind,
				  obj, x->q[3 - k]);
	join(detail, "; ", s);
	free(s);
	sb_appendf(fix, "%sGRANT %s ON %s %s TO %s%s;\nREVOKE %s ON %s %s FROM %s;",
			   fix->len ? "\n" : "", priv, kind, obj, x->q[0],
			   db_bool(x->res, i, COL_FLAG) ? " WITH GRANT OPTION" : "",
			   priv, kind, obj, x->q[k]);
}

/*
 * The fix of default privilege row i (login role k has it, the other not):
 * a built-in default the other revoked is granted back to it; anything
 * else moves to the group's default privileges.
 */
static void
default_priv_fix(const ParityCtx *x, int i, StrBuf *fix)
{
	int			k = (int) db_int(x->res, i, COL_I);
	const char *k1 = db_val(x->res, i, COL_K1);
	const char *dot = strrchr(k1, '.');
	const char *type = dot ? dot + 1 : k1;
	const char *grantee = db_val(x->res, i, COL_K2);
	const char *priv = db_val(x->res, i, COL_VAL);
	bool		self = grantee[0] == '\0';
	char	   *in = dot ? xasprintf(" IN SCHEMA %.*s", (int) (dot - k1), k1) : xstrdup("");

	if (fix->len > 0)
		sb_appendc(fix, '\n');
	if (!dot && (self || (strcmp(grantee, "PUBLIC") == 0 &&
						  (strcmp(type, "FUNCTIONS") == 0 || strcmp(type, "TYPES") == 0))))
	{
		sb_appendf(fix, "ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT %s ON %s TO %s;",
				   x->q[3 - k], priv, type, self ? x->q[3 - k] : grantee);
		free(in);
		return;
	}
	if (!self && strcmp(grantee, x->q[0]) != 0)
		sb_appendf(fix, "ALTER DEFAULT PRIVILEGES FOR ROLE %s%s GRANT %s ON %s TO %s%s;\n",
				   x->q[0], in, priv, type, grantee,
				   db_bool(x->res, i, COL_FLAG) ? " WITH GRANT OPTION" : "");
	sb_appendf(fix, "ALTER DEFAULT PRIVILEGES FOR ROLE %s%s REVOKE %s ON %s FROM %s;",
			   x->q[k], in, priv, type, self ? x->q[k] : grantee);
	free(in);
}

/*
 * Default privileges (ALTER DEFAULT PRIVILEGES FOR ROLE a login role): the
 * objects a login role creates itself would get other privileges after the
 * switch. They belong to the group, whose role setting creates the
 * applications' objects.
 */
static void
default_priv_row(const ParityCtx *x, int i, StrBuf *detail, StrBuf *fix)
{
	int			k = (int) db_int(x->res, i, COL_I);
	const char *k1 = db_val(x->res, i, COL_K1);
	const char *dot = strrchr(k1, '.');
	const char *grantee = db_val(x->res, i, COL_K2);
	char	   *s;

	s = xasprintf("%s gives %s by default %s on new %s%s%.*s and %s does not",
				  x->q[k], grantee[0] ? grantee : "itself",
				  db_val(x->res, i, COL_VAL), dot ? dot + 1 : k1,
				  dot ? " in schema " : "", dot ? (int) (dot - k1) : 0, k1,
				  x->q[3 - k]);
	join(detail, "; ", s);
	free(s);
	default_priv_fix(x, i, fix);
}

/*
 * Default privileges another role defines for a login role (kind 'g'):
 * what that role creates later would be granted to one login role only.
 * The fix moves the grant to the group.
 */
static void
default_grant_row(const ParityCtx *x, int i, StrBuf *detail, StrBuf *fix)
{
	int			k = (int) db_int(x->res, i, COL_I);
	const char *definer = db_val(x->res, i, COL_K1);
	bool		group = definer[0] == '\0';
	const char *k2 = db_val(x->res, i, COL_K2);
	const char *dot = strrchr(k2, '.');
	const char *type = dot ? dot + 1 : k2;
	const char *priv = db_val(x->res, i, COL_VAL);
	char	   *in;
	char	   *s;

	if (group)
		definer = x->q[0];
	in = dot ? xasprintf(" IN SCHEMA %.*s", (int) (dot - k2), k2) : xstrdup("");
	s = xasprintf("%s gives %s by default %s on new %s%s%.*s and not %s",
				  definer, x->q[k], priv, type, dot ? " in schema " : "",
				  dot ? (int) (dot - k2) : 0, k2, x->q[3 - k]);
	join(detail, "; ", s);
	free(s);
	if (fix->len)
		sb_appendc(fix, '\n');
	/* (the group owns what it creates: it needs no grant of its own) */
	if (!group)
		sb_appendf(fix, "ALTER DEFAULT PRIVILEGES FOR ROLE %s%s GRANT %s ON %s TO %s%s;\n",
				   definer, in, priv, type, x->q[0],
				   db_bool(x->res, i, COL_FLAG) ? " WITH GRANT OPTION" : "");
	sb_appendf(fix, "ALTER DEFAULT PRIVILEGES FOR ROLE %s%s REVOKE %s ON %s FROM %s;",
			   definer, in, priv, type, x->q[k]);
	free(in);
}

/*
 * Each row of kind in x->res, as fn describes it, into one item "what":
 * a FAIL with the fixes, or a pass when there is none.
 */
static void
check_rows(ParityCtx *x, const char *kind, const char *what,
		   void (*fn) (const ParityCtx *x, int i, StrBuf *detail, StrBuf *fix))
{
	StrBuf		detail,
				fix;

	sb_init(&detail);
	sb_init(&fix);
	for (int i = 0; i < db_nrows(x->res); i++)
		if (row_kind(x, i, kind))
			fn(x, i, &detail, &fix);
	report(x, what, CHECK_FAIL, &detail, FIX_AS_SUPERUSER, &fix);
	sb_free(&detail);
	sb_free(&fix);
}

int
parity_check(DbConn *c, const Target *t, int active, const DbRes *res,
			 CheckList *l, char **err)
{
	ParityCtx	x;
	int			rc = -1;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.res = res;
	x.t = t;
	x.l = l;
	x.ref = active == 1 ? 2 : 1;
	if ((x.q[0] = db_quote_ident(c, t->group_role, err)) == NULL ||
		(x.q[1] = db_quote_ident(c, t->roles[0], err)) == NULL ||
		(x.q[2] = db_quote_ident(c, t->roles[1], err)) == NULL)
		goto done;
	if (check_settings(&x, err) != 0 || check_memberships(&x, err) != 0)
		goto done;
	check_attrs(&x);
	check_rows(&x, "p", "direct privileges", privilege_row);
	check_rows(&x, "d", "default privileges", default_priv_row);
	check_rows(&x, "g", "default privileges from other roles", default_grant_row);
	rc = 0;
done:
	for (int i = 0; i < 3; i++)
		free(x.q[i]);
	return rc;
}

/*
 * The ALTER command for an object type of pg_identify_object (upper case),
 * where its name is not the SQL keyword; NULL when the object has no
 * ALTER ... OWNER (an extension: REASSIGN OWNED moves it).
 */
static const char *
alter_keyword(const char *type)
{
	static const char *const map[][2] = {
		{"STATISTICS OBJECT", "STATISTICS"},
		{"FOREIGN-DATA WRAPPER", "FOREIGN DATA WRAPPER"},
		{"COMPOSITE TYPE", "TYPE"},
		{"EXTENSION", NULL},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i][0]) == 0)
			return map[i][1];
	return type;
}

int
parity_owned_fixes(DbConn *c, const DbRes *res, int k, const char *qgroup,
				   int max, StrBuf *fix, char **err)
{
	int			n = 0;

	(void) c;
	(void) err;
	for (int i = 0; i < db_nrows(res); i++)
	{
		const char *kw;

		if (strcmp(db_val(res, i, COL_KIND), "o") != 0 ||
			db_int(res, i, COL_I) != k)
			continue;
		if (n == 0)
			sb_append(fix, "\n-- or object by object:");
		kw = alter_keyword(db_val(res, i, COL_K1));
		if (n++ >= max)
			continue;
		if (kw)
			sb_appendf(fix, "\nALTER %s %s OWNER TO %s;", kw, db_val(res, i, COL_K2),
					   qgroup);
		else
			sb_appendf(fix, "\n-- %s %s: only REASSIGN OWNED moves it",
					   db_val(res, i, COL_K1), db_val(res, i, COL_K2));
	}
	if (n > max)
		sb_appendf(fix, "\n-- and %d more", n - max);
	return n;
}
