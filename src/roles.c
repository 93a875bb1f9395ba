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
#include "roles_parity.h"

/* From PostgreSQL 16, CREATEROLE alone no longer manages every role. */
#define PG16 160000

typedef struct AdminInfo
{
	char	   *name;			/* current_user */
	bool		superuser;
	bool		createrole;
} AdminInfo;

/* What the setup checks know of one role, read in one query. */
typedef struct RoleFacts
{
	RoleInfo	ri;				/* has_password is not read */
	char		oid[24];		/* ri.oid as text, to match rows of deps */
	bool		admin_option;	/* the admin has ADMIN OPTION on it */
	bool		member;			/* login roles: a direct member of the group */
	bool		inherit;		/* ... with INHERIT (always true before 16) */
	bool		set;			/* ... with SET (always true before 16) */
} RoleFacts;

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
	RoleFacts	role[3];		/* the group, then the two login roles */
	char	   *curdb;			/* current_database() */
	DbRes	   *deps;			/* role settings and owned objects (DEPS_SQL) */
	DbRes	   *parity;			/* what one login role has, the other not */
	int			active;			/* index of the active login role, -1 unknown */
	char	   *init_fix;		/* Run "pgrotate init TARGET". */
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
			   const char *name, const char *ok_detail, const char *intro)
{
	if (f->what.len == 0)
		checklist_add(l, CHECK_PASS, name, ok_detail, NULL);
	else
		checklist_add_sql(l, st, name, f->what.data, intro,
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
				" pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT'),"
				" CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN 0"
				" WHEN r.rolvaliduntil = '-infinity' THEN 1"
				" ELSE extract(epoch FROM r.rolvaliduntil)::bigint END"
				" FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
				1, params, 7, &res, err) != 0)
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
	info->valid_until = db_int(res, 0, 6);
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

int
roles_login_linked(DbConn *c, const char *login, const char *group,
				   bool *linked, char **err)
{
	const char *p[2] = {login, group};
	DbRes	   *r = NULL;

	*linked = false;
	if (db_exec(c,
				"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m"
				"  JOIN pg_catalog.pg_roles g ON g.oid = m.roleid"
				"  JOIN pg_catalog.pg_roles u ON u.oid = m.member"
				"  WHERE g.rolname = $2 AND u.rolname = $1)"
				" AND EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s"
				"  JOIN pg_catalog.pg_roles u ON u.oid = s.setrole"
				"  WHERE u.rolname = $1 AND s.setdatabase = 0"
				"  AND ('role=' || $2) = ANY (s.setconfig))",
				2, p, 1, &r, err) != 0)
		return -1;
	*linked = db_bool(r, 0, 0);
	db_res_free(r);
	return 0;
}

char *
roles_admin_name(DbConn *c, char **err)
{
	AdminInfo	a = {NULL, false, false};

	if (admin_load(c, &a, err) != 0)
		return NULL;
	return a.name;
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
 * OPTION on it from PostgreSQL 16 (has_option: whether it has it) and,
 * with attrs, the rule that only a
 * superuser alters a SUPERUSER role (and, up to 15, a REPLICATION role).
 * CREATEROLE itself is the caller's business.
 */
static int
admin_shortfall_on(DbConn *c, const AdminInfo *a, const char *qadmin,
				   const char *role, const RoleInfo *ri, bool has_option,
				   bool attrs, Finding *f, char **err)
{
	char	   *qrole = NULL;
	char	   *s;

	if (a->superuser || !ri->exists)
		return 0;
	if ((qrole = db_quote_ident(c, role, err)) == NULL)
		return -1;
	if (db_server_version(c) >= PG16 && !has_option)
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
		if (admin_shortfall_on(x->c, &x->admin, x->qadmin, names[i], &x->role[i].ri,
							   x->role[i].admin_option, false, &f, err) != 0)
			goto done;
	finding_report(&f, x->l, CHECK_FAIL, "admin privileges",
				   admin_ok_detail(&x->admin, x->version), FIX_AS_SUPERUSER);
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
	bool		has_option = true;
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
	if (!a.superuser && ri.exists && db_server_version(c) >= PG16 &&
		admin_has_option_on(c, ri.oid, &has_option, err) != 0)
		goto done;
	if (admin_shortfall_on(c, &a, qadmin, role, &ri, has_option, true, &f, err) != 0)
		goto done;
	if (f.what.len > 0)
	{
		name = xasprintf("admin privileges on %s", qrole);
		checklist_add_sql(l, CHECK_FAIL, name, f.what.data, FIX_AS_SUPERUSER,
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
static void
check_group(SetupCtx *x)
{
	const RoleInfo *group = &x->role[0].ri;
	char	   *name = xasprintf("group role %s is NOLOGIN", x->qgroup);
	char	   *detail = NULL;
	char	   *fix = NULL;

	if (!group->exists)
	{
		detail = xasprintf("role %s does not exist", x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
	}
	else if (group->canlogin)
	{
		/*
		 * Never print ALTER ROLE ... NOLOGIN here: pasted, it locks out every
		 * application that logs in as the group. Adoption is safe either way.
		 */
		detail = xasprintf("role %s can log in: applications may log in as it", x->qgroup);
		fix = xasprintf("Run \"pgrotate init %s --adopt-group\": it moves those applications to the"
						" login roles with zero downtime, then makes %s NOLOGIN.",
						x->t->name, x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, fix);
	}
	else
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	free(name);
	free(detail);
	free(fix);
}

/* Direct membership in the group, with INHERIT and SET from 16. */
static void
check_membership(SetupCtx *x, const char *qrole, const RoleFacts *rf)
{
	bool		pg16 = x->version >= PG16;
	char	   *name = xasprintf("login role %s is a member of %s", qrole, x->qgroup);
	char	   *detail = NULL;
	char	   *fix = NULL;

	if (!x->role[0].ri.exists)
	{
		detail = xasprintf("role %s does not exist", x->qgroup);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
	}
	else if (rf->member && rf->inherit && rf->set)
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	else
	{
		if (!rf->member)
			detail = xasprintf("%s is not a member of %s", qrole, x->qgroup);
		else
			detail = xasprintf("the membership of %s in %s lacks%s%s", qrole,
							   x->qgroup, rf->inherit ? "" : " INHERIT",
							   rf->set ? "" : " SET");
		fix = xasprintf("GRANT %s TO %s%s;", x->qgroup, qrole,
						pg16 ? " WITH INHERIT TRUE, SET TRUE" : "");
		checklist_add_sql(x->l, CHECK_FAIL, name, detail, FIX_AS_ADMIN, fix);
	}
	free(name);
	free(detail);
	free(fix);
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

/* Is row i of x->deps of kind ('s' setting, 'o' owned) and of role rf? */
static bool
dep_of(const SetupCtx *x, int i, char kind, const RoleFacts *rf)
{
	return db_val(x->deps, i, 0)[0] == kind &&
		strcmp(db_val(x->deps, i, 1), rf->oid) == 0;
}

/*
 * "ALTER ROLE r SET role = 'group'": the setting for all databases
 * (setdatabase = 0) must name the group, and none for this database may
 * override it.
 */
static int
check_role_setting(SetupCtx *x, const char *qrole, const RoleFacts *rf,
				   char **err)
{
	char	   *name = xasprintf("login role %s has role set to %s", qrole, x->qgroup);
	const char *global = NULL;
	Finding		f;
	char	   *s;
	int			rc = -1;

	finding_init(&f);
	for (int i = 0; i < db_nrows(x->deps); i++)
		if (dep_of(x, i, 's', rf) && !db_bool(x->deps, i, 2))
			global = db_val(x->deps, i, 3);
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
	for (int i = 0; i < db_nrows(x->deps); i++)
		if (dep_of(x, i, 's', rf) && db_bool(x->deps, i, 2) &&
			strcmp(db_val(x->deps, i, 3), x->t->group_role) != 0 &&
			note_db_override(x, qrole, db_val(x->deps, i, 3), x->curdb, &f, err) != 0)
			goto done;
	finding_report(&f, x->l, CHECK_FAIL, name, NULL, FIX_AS_ADMIN);
	rc = 0;
done:
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

		checklist_add_sql(x->l, CHECK_FAIL, name, detail, FIX_AS_SUPERUSER, fix.data);
		free(detail);
	}
	sb_free(&has);
	sb_free(&fix);
	free(name);
}

/*
 * "N objects in database "db"" for each owned-objects row of rf in x->deps
 * (datname or NULL for shared objects, count), "; "-free, into sb; the
 * number of such rows in *n.
 */
static int
describe_owned(SetupCtx *x, const RoleFacts *rf, StrBuf *sb, int *n, char **err)
{
	*n = 0;
	for (int i = 0; i < db_nrows(x->deps); i++)
	{
		int64_t		cnt;
		char	   *qdb;

		if (!dep_of(x, i, 'o', rf))
			continue;
		cnt = db_int(x->deps, i, 4);
		if ((*n)++ > 0)
			sb_append(sb, ", ");
		sb_appendf(sb, "%lld object%s ", (long long) cnt, cnt == 1 ? "" : "s");
		if (db_isnull(x->deps, i, 3))
		{
			sb_append(sb, "shared (databases, tablespaces)");
			continue;
		}
		if ((qdb = db_quote_ident(x->c, db_val(x->deps, i, 3), err)) == NULL)
			return -1;
		sb_appendf(sb, "in database %s", qdb);
		free(qdb);
	}
	return 0;
}

/*
 * Objects owned by the login role itself, counted per database: a FAIL
 * when the active login role (either, when the active one is unknown) owns
 * objects in this database, unless allow_owned_objects; else a WARN. The
 * fix: REASSIGN OWNED, or ALTER ... OWNER TO the group per object.
 */
static int
check_owned(SetupCtx *x, int k, const char *qrole, const RoleFacts *rf,
			char **err)
{
	char	   *name = xasprintf("login role %s owns no objects", qrole);
	StrBuf		detail,
				fix;
	int			n,
				here;
	bool		refuse;
	int			rc = -1;

	sb_init(&detail);
	sb_init(&fix);
	if (describe_owned(x, rf, &detail, &n, err) != 0)
		goto done;
	sb_appendf(&fix, "REASSIGN OWNED BY %s TO %s;", qrole, x->qgroup);
	if ((here = parity_owned_fixes(x->c, x->parity, k, x->qgroup, 10, &fix, err)) < 0)
		goto done;
	refuse = here > 0 && (x->active < 0 || x->active == k - 1) &&
		!x->t->s.allow_owned_objects;
	if (n == 0)
		checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	else
	{
		sb_appendf(&detail, " (after a switch they belong to a role the applications"
				   " no longer use, which they cannot alter%s%s)",
				   n > 1 ? "; run REASSIGN OWNED in each database" : "",
				   here > 0 && x->t->s.allow_owned_objects ?
				   "; allowed by allow_owned_objects" : "");
		checklist_add_sql(x->l, refuse ? CHECK_FAIL : CHECK_WARN, name, detail.data,
						  FIX_AS_SUPERUSER, fix.data);
	}
	rc = 0;
done:
	sb_free(&detail);
	sb_free(&fix);
	free(name);
	return rc;
}

static int
check_login_role(SetupCtx *x, int k, char **err)
{
	const RoleFacts *rf = &x->role[k];
	char	   *qrole = NULL;
	char	   *name = NULL;
	char	   *detail = NULL;
	int			rc = -1;

	if ((qrole = db_quote_ident(x->c, x->t->roles[k - 1], err)) == NULL)
		goto done;
	name = xasprintf("login role %s exists", qrole);
	if (!rf->ri.exists)
	{
		detail = xasprintf("role %s does not exist", qrole);
		checklist_add(x->l, CHECK_FAIL, name, detail, x->init_fix);
		rc = 0;
		goto done;
	}
	checklist_add(x->l, CHECK_PASS, name, NULL, NULL);
	check_membership(x, qrole, rf);
	if (check_role_setting(x, qrole, rf, err) != 0)
		goto done;
	check_attributes(x, qrole, &rf->ri);
	if (check_owned(x, k, qrole, rf, err) != 0)
		goto done;
	rc = 0;
done:
	free(qrole);
	free(name);
	free(detail);
	return rc;
}

/*
 * The admin (row 0) and the three roles (rows 1-3: group, login roles) in
 * one statement: attributes, the admin's ADMIN OPTION on each, and each
 * role's direct membership in the group.
 */
#define FACTS_SQL(membership) \
	"SELECT n.i, r.oid, r.rolcanlogin, r.rolsuper, r.rolreplication, r.rolbypassrls," \
	" r.rolcreaterole, r.rolname," \
	" pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION')," \
	" m.n > 0, m.inh, m.set, pg_catalog.current_database()" \
	" FROM (VALUES (0, current_user::pg_catalog.text), (1, $1::pg_catalog.text)," \
	" (2, $2::pg_catalog.text), (3, $3::pg_catalog.text)) n(i, name)" \
	" LEFT JOIN pg_catalog.pg_roles r ON r.rolname = n.name" \
	" LEFT JOIN LATERAL (SELECT count(*) AS n, " membership \
	"  FROM pg_catalog.pg_auth_members a WHERE a.member = r.oid AND a.roleid =" \
	"  (SELECT g.oid FROM pg_catalog.pg_roles g WHERE g.rolname = $1)) m ON true" \
	" ORDER BY n.i"

static void
facts_from_row(const DbRes *res, int row, RoleFacts *rf)
{
	memset(rf, 0, sizeof(*rf));
	if (db_isnull(res, row, 1))
		return;
	rf->ri.exists = true;
	rf->ri.oid = db_int(res, row, 1);
	snprintf(rf->oid, sizeof(rf->oid), "%s", db_val(res, row, 1));
	rf->ri.canlogin = db_bool(res, row, 2);
	rf->ri.superuser = db_bool(res, row, 3);
	rf->ri.replication = db_bool(res, row, 4);
	rf->ri.bypassrls = db_bool(res, row, 5);
	rf->admin_option = db_bool(res, row, 8);
	rf->member = db_bool(res, row, 9);
	rf->inherit = db_bool(res, row, 10);
	rf->set = db_bool(res, row, 11);
}

/* The admin and the three roles from the facts query's result. */
static int
read_facts(SetupCtx *x, const DbRes *res, char **err)
{
	if (db_nrows(res) != 4 || db_isnull(res, 0, 7))
	{
		*err = xasprintf("%s: the current user is not in pg_roles", db_label(x->c));
		return -1;
	}
	x->admin.name = xstrdup(db_val(res, 0, 7));
	x->admin.superuser = db_bool(res, 0, 3);
	x->admin.createrole = db_bool(res, 0, 6);
	x->curdb = xstrdup(db_val(res, 0, 12));
	for (int i = 0; i < 3; i++)
		facts_from_row(res, i + 1, &x->role[i]);
	return 0;
}

/*
 * The deps query: for both login roles, their "role" settings for all
 * databases and for this one (kind 's': role oid, setdatabase <> 0, value;
 * global first) and the objects they own (kind 'o': role oid, datname or
 * NULL for shared objects, count; this database first; a serial or identity
 * column's sequence goes with its table, as in the parity check). Default
 * privileges (pg_default_acl) are not objects REASSIGN OWNED moves: the
 * parity check compares them.
 */
#define DEPS_SQL \
	"WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname IN ($1, $2))" \
	" SELECT 's', s.setrole, s.setdatabase <> 0, pg_catalog.substr(c.cfg, 6)," \
	" 0::pg_catalog.int8, (s.setdatabase <> 0)::pg_catalog.int4" \
	" FROM pg_catalog.pg_db_role_setting s" \
	" CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg)" \
	" WHERE s.setrole IN (SELECT oid FROM r) AND c.cfg LIKE 'role=%'" \
	" AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d" \
	"  WHERE d.datname = pg_catalog.current_database()))" \
	" UNION ALL" \
	" SELECT 'o', s.refobjid, false, d.datname::pg_catalog.text, count(*)," \
	" (d.datname IS DISTINCT FROM pg_catalog.current_database())::pg_catalog.int4" \
	" FROM pg_catalog.pg_shdepend s" \
	" LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid" \
	" WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass" \
	" AND s.refobjid IN (SELECT oid FROM r) AND s.deptype = 'o'" \
	" AND s.classid <> 'pg_catalog.pg_default_acl'::pg_catalog.regclass" \
	" AND NOT (d.datname = pg_catalog.current_database() AND " LINKED_SEQUENCE ")" \
	" GROUP BY s.refobjid, d.datname" \
	" ORDER BY 1, 2, 6, 4"

void
roles_setup_queries(DbConn *c, const Target *t, SetupQueries *sq)
{
	sq->params[0] = t->group_role;
	sq->params[1] = t->roles[0];
	sq->params[2] = t->roles[1];
	sq->q[0].sql = db_server_version(c) >= PG16 ?
		FACTS_SQL("coalesce(bool_or(a.inherit_option), false) AS inh,"
				  " coalesce(bool_or(a.set_option), false) AS set") :
		FACTS_SQL("true AS inh, true AS set");
	sq->q[0].ncols = 13;
	sq->q[0].nparams = 3;
	sq->q[0].params = sq->params;
	sq->q[1].sql = DEPS_SQL;
	sq->q[1].ncols = 6;
	sq->q[1].nparams = 2;
	sq->q[1].params = sq->params + 1;	/* the login roles */
	sq->q[2].sql = parity_sql(db_server_version(c));
	sq->q[2].ncols = PARITY_NCOLS;
	sq->q[2].nparams = 3;
	sq->q[2].params = sq->params;
}

int
roles_setup_evaluate(DbConn *c, const Target *t, const char *active,
					 DbRes *const *res, CheckList *l, char **err)
{
	SetupCtx	x;
	int			rc = -1;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.t = t;
	x.l = l;
	x.version = db_server_version(c);
	x.deps = res[1];
	x.parity = res[2];
	x.active = active == NULL ? -1 : strcmp(active, t->roles[0]) == 0 ? 0 :
		strcmp(active, t->roles[1]) == 0 ? 1 : -1;
	x.init_fix = xasprintf("Run \"pgrotate init %s\".", t->name);
	if (read_facts(&x, res[0], err) != 0 ||
		(x.qadmin = db_quote_ident(c, x.admin.name, err)) == NULL ||
		(x.qgroup = db_quote_ident(c, t->group_role, err)) == NULL ||
		(x.lgroup = db_quote_literal(c, t->group_role, err)) == NULL)
		goto done;
	if (check_admin_privileges(&x, err) != 0)
		goto done;
	check_group(&x);
	for (int k = 1; k <= 2; k++)
		if (check_login_role(&x, k, err) != 0)
			goto done;
	if (x.role[1].ri.exists && x.role[2].ri.exists &&
		parity_check(c, t, x.active, x.parity, l, err) != 0)
		goto done;
	rc = 0;
done:
	free(x.init_fix);
	free(x.admin.name);
	free(x.curdb);
	free(x.qadmin);
	free(x.qgroup);
	free(x.lgroup);
	return rc;
}

int
roles_check_setup(DbConn *c, const Target *t, const char *active,
				  CheckList *l, char **err)
{
	SetupQueries sq;
	DbRes	   *res[ROLES_SETUP_NQUERIES];
	int			rc;

	roles_setup_queries(c, t, &sq);
	if (db_batch_send(c, sq.q, ROLES_SETUP_NQUERIES, err) != 0 ||
		db_batch_collect(c, sq.q, ROLES_SETUP_NQUERIES, res, err) != 0)
		return -1;
	rc = roles_setup_evaluate(c, t, active, res, l, err);
	for (int i = 0; i < ROLES_SETUP_NQUERIES; i++)
		db_res_free(res[i]);
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
