/*
 * roles.c: the setup checks of SPEC section 1, step 1 (what pgrotate asks
 * of the group role, the two login roles and the admin), as checklist
 * items with the exact statement that fixes each shortfall.
 *
 * Nothing here prints or changes anything: "check", "init" and "cycle"
 * decide what to do with the items. Role names reach SQL text only through
 * db_quote_ident / db_quote_literal in the suggested fixes; every query
 * takes them as parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles.h"

/* From PostgreSQL 16, CREATEROLE alone no longer manages every role. */
#define PG16 160000

typedef struct AdminInfo
{
	char	   *name;			/* current_user */
	bool		superuser;
	bool		createrole;
} AdminInfo;

/* What roles_check_setup carries between its steps. */
typedef struct SetupCtx
{
	DbConn	   *c;
	const Target *t;
	CheckList  *l;
	int			version;
	AdminInfo	admin;
	char	   *qadmin;			/* the admin, quoted as an identifier */
	char	   *qgroup;			/* the group role, quoted as an identifier */
	char	   *lgroup;			/* the group role, quoted as a literal */
	RoleInfo	group;
	char	   *init_fix;		/* "run pgrotate init TARGET" */
} SetupCtx;

/* The statements that fix one item, and what was found, as they grow. */
typedef struct Finding
{
	StrBuf		what;			/* "; "-separated */
	StrBuf		fix;			/* "\n"-separated */
} Finding;

static void
finding_init(Finding *f)
{
	sb_init(&f->what);
	sb_init(&f->fix);
}

static void
finding_free(Finding *f)
{
	sb_free(&f->what);
	sb_free(&f->fix);
}

static void
finding_what(Finding *f, const char *s)
{
	if (f->what.len > 0)
		sb_append(&f->what, "; ");
	sb_append(&f->what, s);
}

static void
finding_fix(Finding *f, const char *s)
{
	if (f->fix.len > 0)
		sb_appendc(&f->fix, '\n');
	sb_append(&f->fix, s);
}

/* PASS when nothing was found, else st with what and fix. */
static void
finding_report(const Finding *f, CheckList *l, CheckStatus st,
			   const char *name, const char *ok_detail)
{
	if (f->what.len == 0)
		checklist_add(l, CHECK_PASS, name, ok_detail, NULL);
	else
		checklist_add(l, st, name, f->what.data,
					  f->fix.len > 0 ? f->fix.data : NULL);
}

int
roles_get(DbConn *c, const char *role, RoleInfo *info, char **err)
{
	const char *const params[1] = {role};
	DbRes	   *res = NULL;
	char	   *oid = NULL;
	int			rc = -1;

	memset(info, 0, sizeof(*info));
	if (db_exec(c,
				"SELECT r.oid, r.rolcanlogin, r.rolsuper, r.rolreplication,"
				" r.rolbypassrls,"
				" pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')"
				" FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
				1, params, 6, &res, err) != 0)
		goto done;
	if (db_nrows(res) == 0)
	{
		rc = 0;
		goto done;
	}
	info->exists = true;
	info->oid = db_int(res, 0, 0);
	info->canlogin = db_bool(res, 0, 1);
	info->superuser = db_bool(res, 0, 2);
	info->replication = db_bool(res, 0, 3);
	info->bypassrls = db_bool(res, 0, 4);
	if (db_bool(res, 0, 5))
	{
		/* pg_roles always shows "********": only pg_authid knows */
		const char *p[1];

		oid = xstrdup(db_val(res, 0, 0));
		p[0] = oid;
		db_res_free(res);
		if (db_exec(c, "SELECT a.rolpassword IS NOT NULL FROM pg_catalog.pg_authid a"
					" WHERE a.oid = $1::pg_catalog.oid", 1, p, 1, &res, err) != 0)
			goto done;
		info->has_password = db_nrows(res) == 1 && db_bool(res, 0, 0);
	}
	rc = 0;
done:
	db_res_free(res);
	free(oid);
	return rc;
}

static int
admin_load(DbConn *c, AdminInfo *a, char **err)
{
	DbRes	   *res = NULL;
	int			rc = -1;

	if (db_exec(c, "SELECT r.rolname, r.rolsuper, r.rolcreaterole"
				" FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
				0, NULL, 3, &res, err) != 0)
		goto done;
	if (db_nrows(res) != 1)
	{
		*err = xasprintf("%s: the current user is not in pg_roles", db_label(c));
		goto done;
	}
	a->name = xstrdup(db_val(res, 0, 0));
	a->superuser = db_bool(res, 0, 1);
	a->createrole = db_bool(res, 0, 2);
	rc = 0;
done:
	db_res_free(res);
	return rc;
}

static int
admin_has_option_on(DbConn *c, int64_t oid, bool *has, char **err)
{
	char		oidbuf[24];
	const char *const params[1] = {oidbuf};
	DbRes	   *res = NULL;

	snprintf(oidbuf, sizeof(oidbuf), "%lld", (long long) oid);
	if (db_exec(c, "SELECT pg_catalog.pg_has_role(current_user,"
				" $1::pg_catalog.oid, 'MEMBER WITH ADMIN OPTION')",
				1, params, 1, &res, err) != 0)
		return -1;
	*has = db_nrows(res) == 1 && db_bool(res, 0, 0);
	db_res_free(res);
	return 0;
}

/*
 * What the admin lacks to manage one existing role, added to f: ADMIN
 * OPTION on it from PostgreSQL 16 and, with attrs, the rule that only a
 * superuser alters a SUPERUSER role (and, up to 15, a REPLICATION role).
 * CREATEROLE itself is the caller's business.
 */
static int
admin_shortfall_on(DbConn *c, const AdminInfo *a, const char *qadmin,
				   const char *role, const RoleInfo *ri, bool attrs,
				   Finding *f, char **err)
{
	char	   *qrole = NULL;
	char	   *s;
	bool		has = true;

	if (a->superuser || !ri->exists)
		return 0;
	if ((qrole = db_quote_ident(c, role, err)) == NULL)
		return -1;
	if (db_server_version(c) >= PG16 &&
		admin_has_option_on(c, ri->oid, &has, err) != 0)
	{
		free(qrole);
		return -1;
	}
	if (!has)
	{
		s = xasprintf("%s lacks ADMIN OPTION on %s", qadmin, qrole);
		finding_what(f, s);
		free(s);
		s = xasprintf("GRANT %s TO %s WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;",
					  qrole, qadmin);
		finding_fix(f, s);
		free(s);
	}
	if (attrs && (ri->superuser ||
				  (ri->replication && db_server_version(c) < PG16)))
	{
		s = xasprintf("%s is %s and only a superuser may alter it", qrole,
					  ri->superuser ? "SUPERUSER" : "REPLICATION");
		finding_what(f, s);
		free(s);
		s = xasprintf("ALTER ROLE %s %s;  -- as a superuser", qrole,
					  ri->superuser ? "NOSUPERUSER" : "NOREPLICATION");
		finding_fix(f, s);
		free(s);
	}
	free(qrole);
	return 0;
}

static void
admin_createrole(const AdminInfo *a, const char *qadmin, Finding *f)
{
	char	   *s;

	if (a->superuser || a->createrole)
		return;
	s = xasprintf("%s lacks CREATEROLE", qadmin);
	finding_what(f, s);
	free(s);
	s = xasprintf("ALTER ROLE %s CREATEROLE;", qadmin);
	finding_fix(f, s);
	free(s);
}

static const char *
admin_ok_detail(const AdminInfo *a, int version)
{
	if (a->superuser)
		return "superuser";
	if (version >= PG16)
		return "CREATEROLE, ADMIN OPTION on the target's roles";
	return "CREATEROLE";
}

/* The "admin privileges" item: CREATEROLE, ADMIN OPTION on each role. */
static int
check_admin_privileges(SetupCtx *x, char **err)
{
	const char *names[3];
	Finding		f;
	int			rc = -1;

	names[0] = x->t->group_role;
	names[1] = x->t->roles[0];
	names[2] = x->t->roles[1];
	finding_init(&f);
	admin_createrole(&x->admin, x->qadmin, &f);
	for (int i = 0; i < 3; i++)
	{
		RoleInfo	ri;

		if (roles_get(x->c, names[i], &ri, err) != 0 ||
			admin_shortfall_on(x->c, &x->admin, x->qadmin, names[i], &ri,
							   false, &f, err) != 0)
			goto done;
	}
	finding_report(&f, x->l, CHECK_FAIL, "admin privileges",
				   admin_ok_detail(&x->admin, x->version));
	rc = 0;
done:
	finding_free(&f);
	return rc;
}

int
roles_check_admin_on(DbConn *c, const char *role, CheckList *l, char **err)
{
	AdminInfo	a = {NULL, false, false};
	RoleInfo	ri;
	Finding		f;
	char	   *qadmin = NULL;
	char	   *qrole = NULL;
	char	   *name = NULL;
	int			rc = -1;

	finding_init(&f);
	if (admin_load(c, &a, err) != 0 || roles_get(c, role, &ri, err) != 0)
		goto done;
	if ((qadmin = db_quote_ident(c, a.name, err)) == NULL ||
		(qrole = db_quote_ident(c, role, err)) == NULL)
		goto done;
	admin_createrole(&a, qadmin, &f);
	if (admin_shortfall_on(c, &a, qadmin, role, &ri, true, &f, err) != 0)
		goto done;
	if (f.what.len > 0)
	{
		name = xasprintf("admin privileges on %s", qrole);
		checklist_add(l, CHECK_FAIL, name, f.what.data,
					  f.fix.len > 0 ? f.fix.data : NULL);
	}
	rc = 0;
done:
	finding_free(&f);
	free(a.name);
	free(qadmin);
	free(qrole);
	free(name);
	return rc;
}

/* The group role exists and cannot log in. */
static int
check_group(SetupCtx *x, char **err)
{
	char	   *name = xasprintf("group role %s is NOLOGIN", x->qgroup);
	char	   *detail = NULL;
	char	   *fix = NULL;

	if (roles_get(x->c, x->t->group_role, &x->group, err) != 0)
	{
		free(name);
		return -1;
	}
	if (!x->group.exists)
	{
		detail = xasprintf("role %s does not exist", x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
	}
	else if (x->group.canlogin)
	{
		detail = xasprintf("role %s can log in (if applications log in as it,"
						   " migrate them with: pgrotate init %s --adopt-group)",
						   x->qgroup, x->t->name);
		fix = xasprintf("ALTER ROLE %s NOLOGIN;", x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, fix);
	}
	else
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	free(name);
	free(detail);
	free(fix);
	return 0;
}

/* Direct membership in the group, with INHERIT and SET from 16. */
static int
check_membership(SetupCtx *x, const char *qrole, const RoleInfo *ri,
				 char **err)
{
	char		goid[24],
				roid[24];
	const char *const params[2] = {goid, roid};
	bool		pg16 = x->version >= PG16;
	char	   *name = xasprintf("login role %s is a member of %s", qrole, x->qgroup);
	char	   *detail = NULL;
	char	   *fix = NULL;
	DbRes	   *res = NULL;
	int			rc = -1;

	if (!x->group.exists)
	{
		detail = xasprintf("role %s does not exist", x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
		rc = 0;
		goto done;
	}
	snprintf(goid, sizeof(goid), "%lld", (long long) x->group.oid);
	snprintf(roid, sizeof(roid), "%lld", (long long) ri->oid);
	if (db_exec(x->c, pg16 ?
				"SELECT count(*) > 0, coalesce(bool_or(m.inherit_option), false),"
				" coalesce(bool_or(m.set_option), false)"
				" FROM pg_catalog.pg_auth_members m"
				" WHERE m.roleid = $1::pg_catalog.oid AND m.member = $2::pg_catalog.oid" :
				"SELECT count(*) > 0, true, true FROM pg_catalog.pg_auth_members m"
				" WHERE m.roleid = $1::pg_catalog.oid AND m.member = $2::pg_catalog.oid",
				2, params, 3, &res, err) != 0)
		goto done;
	if (db_bool(res, 0, 0) && db_bool(res, 0, 1) && db_bool(res, 0, 2))
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	else
	{
		if (!db_bool(res, 0, 0))
			detail = xasprintf("%s is not a member of %s", qrole, x->qgroup);
		else
			detail = xasprintf("the membership of %s in %s lacks%s%s", qrole,
							   x->qgroup, db_bool(res, 0, 1) ? "" : " INHERIT",
							   db_bool(res, 0, 2) ? "" : " SET");
		fix = xasprintf("GRANT %s TO %s%s;", x->qgroup, qrole,
						pg16 ? " WITH INHERIT TRUE, SET TRUE" : "");
		checklist_add(x->l, CHECK_FAIL, name, detail, fix);
	}
	rc = 0;
done:
	db_res_free(res);
	free(name);
	free(detail);
	free(fix);
	return rc;
}

/* One per-database "role" setting of a login role that overrides ours. */
static int
note_db_override(SetupCtx *x, const char *qrole, const char *val,
				 const char *db, Finding *f, char **err)
{
	char	   *qdb = db_quote_ident(x->c, db, err);
	char	   *s;

	if (qdb == NULL)
		return -1;
	s = xasprintf("role is set to \"%s\" in database %s", val, qdb);
	finding_what(f, s);
	free(s);
	s = xasprintf("ALTER ROLE %s IN DATABASE %s RESET role;", qrole, qdb);
	finding_fix(f, s);
	free(s);
	free(qdb);
	return 0;
}

/*
 * "ALTER ROLE r SET role = 'group'": the setting for all databases
 * (setdatabase = 0) must name the group, and none for this database may
 * override it.
 */
static int
check_role_setting(SetupCtx *x, const char *qrole, const RoleInfo *ri,
				   char **err)
{
	char		roid[24];
	const char *const params[1] = {roid};
	char	   *name = xasprintf("login role %s has role set to %s", qrole, x->qgroup);
	const char *global = NULL;
	Finding		f;
	DbRes	   *res = NULL;
	char	   *s;
	int			rc = -1;

	finding_init(&f);
	snprintf(roid, sizeof(roid), "%lld", (long long) ri->oid);
	if (db_exec(x->c,
				"SELECT s.setdatabase <> 0, pg_catalog.substr(c.cfg, 6),"
				" pg_catalog.current_database()"
				" FROM pg_catalog.pg_db_role_setting s"
				" CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg)"
				" WHERE s.setrole = $1::pg_catalog.oid AND c.cfg LIKE 'role=%'"
				" AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d"
				"  WHERE d.datname = pg_catalog.current_database()))"
				" ORDER BY 1",
				1, params, 3, &res, err) != 0)
		goto done;
	for (int i = 0; i < db_nrows(res); i++)
		if (!db_bool(res, i, 0))
			global = db_val(res, i, 1);
	if (global == NULL || strcmp(global, x->t->group_role) != 0)
	{
		if (global == NULL)
			s = xasprintf("%s has no role setting", qrole);
		else
			s = xasprintf("role is set to \"%s\", not %s", global, x->qgroup);
		finding_what(&f, s);
		free(s);
		s = xasprintf("ALTER ROLE %s SET role = %s;", qrole, x->lgroup);
		finding_fix(&f, s);
		free(s);
	}
	for (int i = 0; i < db_nrows(res); i++)
		if (db_bool(res, i, 0) &&
			strcmp(db_val(res, i, 1), x->t->group_role) != 0 &&
			note_db_override(x, qrole, db_val(res, i, 1), db_val(res, i, 2),
							 &f, err) != 0)
			goto done;
	finding_report(&f, x->l, CHECK_FAIL, name, NULL);
	rc = 0;
done:
	db_res_free(res);
	finding_free(&f);
	free(name);
	return rc;
}

/* Neither SUPERUSER nor REPLICATION nor BYPASSRLS. */
static void
check_attributes(SetupCtx *x, const char *qrole, const RoleInfo *ri)
{
	char	   *name = xasprintf("login role %s is not SUPERUSER, REPLICATION"
								 " or BYPASSRLS", qrole);
	StrBuf		has,
				fix;

	sb_init(&has);
	sb_init(&fix);
	sb_appendf(&fix, "ALTER ROLE %s", qrole);
	if (ri->superuser)
	{
		sb_append(&has, has.len ? ", SUPERUSER" : "SUPERUSER");
		sb_append(&fix, " NOSUPERUSER");
	}
	if (ri->replication)
	{
		sb_append(&has, has.len ? ", REPLICATION" : "REPLICATION");
		sb_append(&fix, " NOREPLICATION");
	}
	if (ri->bypassrls)
	{
		sb_append(&has, has.len ? ", BYPASSRLS" : "BYPASSRLS");
		sb_append(&fix, " NOBYPASSRLS");
	}
	sb_append(&fix, ";");
	if (has.len == 0)
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	else
	{
		char	   *detail = xasprintf("%s has %s%s", qrole, has.data,
									   x->admin.superuser ? "" :
									   " (only a superuser can run the fix)");

		checklist_add(x->l, CHECK_FAIL, name, detail, fix.data);
		free(detail);
	}
	sb_free(&has);
	sb_free(&fix);
	free(name);
}

/*
 * "N objects in database "db"" for each row of the pg_shdepend count
 * (datname or NULL for shared objects, count), "; "-free, into sb.
 */
static int
describe_owned(DbConn *c, const DbRes *res, StrBuf *sb, char **err)
{
	for (int i = 0; i < db_nrows(res); i++)
	{
		int64_t		n = db_int(res, i, 1);
		char	   *qdb;

		if (i > 0)
			sb_append(sb, ", ");
		sb_appendf(sb, "%lld object%s ", (long long) n, n == 1 ? "" : "s");
		if (db_isnull(res, i, 0))
		{
			sb_append(sb, "shared (databases, tablespaces)");
			continue;
		}
		if ((qdb = db_quote_ident(c, db_val(res, i, 0), err)) == NULL)
			return -1;
		sb_appendf(sb, "in database %s", qdb);
		free(qdb);
	}
	return 0;
}

/* Objects owned by the login role itself (WARN): count per database. */
static int
check_owned(SetupCtx *x, const char *qrole, const RoleInfo *ri, char **err)
{
	char		roid[24];
	const char *const params[1] = {roid};
	char	   *name = xasprintf("login role %s owns no objects", qrole);
	char	   *fix = NULL;
	StrBuf		detail;
	DbRes	   *res = NULL;
	int			rc = -1;

	sb_init(&detail);
	snprintf(roid, sizeof(roid), "%lld", (long long) ri->oid);
	if (db_exec(x->c,
				"SELECT d.datname, count(*) FROM pg_catalog.pg_shdepend s"
				" LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid"
				" WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
				" AND s.refobjid = $1::pg_catalog.oid AND s.deptype = 'o'"
				" GROUP BY d.datname"
				" ORDER BY d.datname IS DISTINCT FROM pg_catalog.current_database(),"
				" d.datname",
				1, params, 2, &res, err) != 0)
		goto done;
	if (db_nrows(res) == 0)
	{
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
		rc = 0;
		goto done;
	}
	if (describe_owned(x->c, res, &detail, err) != 0)
		goto done;
	sb_appendf(&detail, " (the other login role cannot alter them%s)",
			   db_nrows(res) > 1 ? "; run the fix in each database" : "");
	fix = xasprintf("REASSIGN OWNED BY %s TO %s;", qrole, x->qgroup);
	checklist_add(x->l, CHECK_WARN, name, detail.data, fix);
	rc = 0;
done:
	db_res_free(res);
	sb_free(&detail);
	free(name);
	free(fix);
	return rc;
}

static int
check_login_role(SetupCtx *x, const char *role, char **err)
{
	RoleInfo	ri;
	char	   *qrole = NULL;
	char	   *name = NULL;
	char	   *detail = NULL;
	int			rc = -1;

	if ((qrole = db_quote_ident(x->c, role, err)) == NULL ||
		roles_get(x->c, role, &ri, err) != 0)
		goto done;
	name = xasprintf("login role %s exists", qrole);
	if (!ri.exists)
	{
		detail = xasprintf("role %s does not exist", qrole);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
		rc = 0;
		goto done;
	}
	checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	if (check_membership(x, qrole, &ri, err) != 0 ||
		check_role_setting(x, qrole, &ri, err) != 0)
		goto done;
	check_attributes(x, qrole, &ri);
	if (check_owned(x, qrole, &ri, err) != 0)
		goto done;
	rc = 0;
done:
	free(qrole);
	free(name);
	free(detail);
	return rc;
}

int
roles_check_setup(DbConn *c, const Target *t, CheckList *l, char **err)
{
	SetupCtx	x;
	int			rc = -1;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.t = t;
	x.l = l;
	x.version = db_server_version(c);
	x.init_fix = xasprintf("run pgrotate init %s", t->name);
	if (admin_load(c, &x.admin, err) != 0 ||
		(x.qadmin = db_quote_ident(c, x.admin.name, err)) == NULL ||
		(x.qgroup = db_quote_ident(c, t->group_role, err)) == NULL ||
		(x.lgroup = db_quote_literal(c, t->group_role, err)) == NULL)
		goto done;
	if (check_admin_privileges(&x, err) != 0 || check_group(&x, err) != 0)
		goto done;
	for (int i = 0; i < 2; i++)
		if (check_login_role(&x, t->roles[i], err) != 0)
			goto done;
	rc = 0;
done:
	free(x.init_fix);
	free(x.admin.name);
	free(x.qadmin);
	free(x.qgroup);
	free(x.lgroup);
	return rc;
}

int
roles_admin_is_member(DbConn *c, const char *role, bool *member, char **err)
{
	const char *const params[1] = {role};
	DbRes	   *res = NULL;

	*member = false;
	if (db_exec(c, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r"
				" WHERE r.rolname = $1"
				" AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))",
				1, params, 1, &res, err) != 0)
		return -1;
	*member = db_bool(res, 0, 0);
	db_res_free(res);
	return 0;
}

int
roles_admin_has_privs_of(DbConn *c, const char *role, bool *has, char **err)
{
	const char *const params[1] = {role};
	DbRes	   *res = NULL;

	*has = false;
	if (db_exec(c, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r"
				" WHERE r.rolname = $1"
				" AND pg_catalog.pg_has_role(current_user, r.oid, 'USAGE'))",
				1, params, 1, &res, err) != 0)
		return -1;
	*has = db_bool(res, 0, 0);
	db_res_free(res);
	return 0;
}
