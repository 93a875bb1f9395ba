/*
 * cmd_check.c: "pgrotate check [TARGET...]", the preflight checklist.
 *
 * For each target (all of them when none is named) one block on stdout:
 *
 *   target appdb:
 *     ok    config valid
 *     FAIL  admin privileges: "pgrotate_admin" lacks CREATEROLE
 *           fix: ALTER ROLE "pgrotate_admin" CREATEROLE;
 *     ...
 *   appdb: 9 ok, 1 warning, 1 failed
 *
 * Exit 0 when no item failed (warnings are fine), 1 when one did, 2 for a
 * configuration error or an unknown target. Nothing is changed anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check_admin.h"
#include "checklist.h"
#include "commands.h"
#include "db.h"
#include "exitcode.h"
#include "log.h"
#include "parallel.h"
#include "pooler.h"
#include "safefile.h"
#include "roles.h"
#include "state.h"
#include "transport.h"
#include "verify.h"

#define STATE_SCHEMA "pgrotate"
#define MIN_SERVER_VERSION 140000	/* the oldest supported (SPEC section 7) */
#define MIN_SERVER_MAJOR (MIN_SERVER_VERSION / 10000)

/* s as one shell word, for fixes that are commands. */
static char *
shell_quote(const char *s)
{
	StrBuf		sb;

	if (s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							   "0123456789/._-+:@%,=") == strlen(s))
		return xstrdup(s);
	sb_init(&sb);
	sb_appendc(&sb, '\'');
	for (const char *p = s; *p; p++)
	{
		if (*p == '\'')
			sb_append(&sb, "'\\''");
		else
			sb_appendc(&sb, *p);
	}
	sb_appendc(&sb, '\'');
	return sb_steal(&sb);
}

/*
 * "server version": the server's version, and a refusal of one older than
 * the oldest supported.  Returns whether the server is supported.
 */
static bool
check_server_version(DbConn *c, CheckList *l)
{
	int			v = db_server_version(c);
	char	   *detail;
	char	   *d;
	char	   *fix;

	if (v >= 100000)
		detail = xasprintf("PostgreSQL %d.%d", v / 10000, v % 10000);
	else
		detail = xasprintf("PostgreSQL %d.%d.%d", v / 10000, v / 100 % 100,
						   v % 100);
	if (v >= MIN_SERVER_VERSION)
	{
		checklist_add(l, CHECK_PASS, "server version", detail, NULL);
		free(detail);
		return true;
	}
	d = xasprintf("%s is older than PostgreSQL %d, the oldest server pgrotate"
				  " supports", detail, MIN_SERVER_MAJOR);
	fix = xasprintf("Upgrade the server to PostgreSQL %d or later.", MIN_SERVER_MAJOR);
	checklist_add(l, CHECK_FAIL, "server version", d, fix);
	free(d);
	free(fix);
	free(detail);
	return false;
}

/* The state schema belongs to the admin, and nobody else controls it. */
static void
check_schema_trust(DbConn *c, CheckList *l)
{
	const char *name = "state schema \"" STATE_SCHEMA "\" is the admin's own";
	char	   *problem = NULL;
	char	   *fix = NULL;
	char	   *err = NULL;
	int			rc = state_schema_trust(c, &problem, &fix, &err);

	if (rc < 0)
		checklist_add(l, CHECK_FAIL, name, err, NULL);
	else if (rc == 1)
		checklist_add(l, CHECK_FAIL, name, problem, fix);
	else
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
	free(problem);
	free(fix);
	free(err);
}

/* The state schema (WARN before init). */
static void
check_schema(DbConn *c, const Target *t, CheckList *l)
{
	const char *const params[1] = {STATE_SCHEMA};
	const char *name = "state schema \"" STATE_SCHEMA "\" present";
	DbRes	   *res = NULL;
	char	   *err = NULL;
	char	   *detail = NULL;
	char	   *fix = NULL;

	if (db_exec(c, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n"
				" WHERE n.nspname = $1), pg_catalog.current_database()",
				1, params, 2, &res, &err) != 0)
	{
		checklist_add(l, CHECK_FAIL, name, err, NULL);
		goto done;
	}
	if (db_bool(res, 0, 0))
	{
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
		check_schema_trust(c, l);
		goto done;
	}
	detail = xasprintf("not installed in database \"%s\"", db_val(res, 0, 1));
	fix = xasprintf("Run \"pgrotate init %s\".", t->name);
	checklist_add(l, CHECK_WARN, name, detail, fix);
done:
	db_res_free(res);
	free(err);
	free(detail);
	free(fix);
}

/* Whether the drain can see who the other roles' sessions are. */
static void
check_stats_visible(DbConn *c, CheckList *l)
{
	const char *name = "pg_stat_activity of other roles visible";
	char	   *admin = NULL;
	char	   *err = NULL;
	char	   *qadmin = NULL;
	char	   *detail = NULL;
	char	   *fix = NULL;
	bool		has = false;

	if (roles_admin_has_privs_of(c, "pg_read_all_stats", &has, &err) != 0 ||
		(admin = roles_admin_name(c, &err)) == NULL ||
		(qadmin = db_quote_ident(c, admin, &err)) == NULL)
	{
		checklist_add(l, CHECK_FAIL, name, err, NULL);
		goto done;
	}
	if (has)
	{
		checklist_add(l, CHECK_PASS, name, NULL, NULL);
		goto done;
	}
	detail = xasprintf("%s is neither superuser nor a member of pg_read_all_stats:"
					   " the drain counts other roles' sessions but cannot"
					   " name their clients", qadmin);
	fix = xasprintf(FIX_AS_SUPERUSER "\nGRANT pg_read_all_stats TO %s;", qadmin);
	checklist_add(l, CHECK_WARN, name, detail, fix);
done:
	free(admin);
	free(err);
	free(qadmin);
	free(detail);
	free(fix);
}

/* Is gid our effective group or a supplementary one? */
static bool
in_group(gid_t gid)
{
	gid_t		groups[256];
	int			n;

	if (getegid() == gid)
		return true;
	n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * May this process chown a file to any user and group? Root, or a service
 * user given CAP_CHOWN (the Debian package's pgrotate-due.service).
 */
static bool
can_chown(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return geteuid() == 0;
	return (data[CAP_TO_INDEX(CAP_CHOWN)].effective & CAP_TO_MASK(CAP_CHOWN)) != 0;
}

/* Can this process give the sink file its configured owner and group? */
static void
sink_owner_problems(const SinkCfg *s, StrBuf *what)
{
	uid_t		euid = geteuid();
	bool		chown_any = can_chown();
	struct passwd *pw;
	struct group *gr;

	if (s->owner)
	{
		if ((pw = getpwnam(s->owner)) == NULL)
			sb_appendf(what, "%sowner \"%s\" is not a user on this host",
					   what->len ? "; " : "", s->owner);
		else if (!chown_any && pw->pw_uid != euid)
			sb_appendf(what, "%sowner \"%s\": only root or CAP_CHOWN may give"
					   " a file to another user (pgrotate runs as uid %d)",
					   what->len ? "; " : "", s->owner, (int) euid);
	}
	if (s->group)
	{
		if ((gr = getgrnam(s->group)) == NULL)
			sb_appendf(what, "%sgroup \"%s\" is not a group on this host",
					   what->len ? "; " : "", s->group);
		else if (!chown_any && !in_group(gr->gr_gid))
			sb_appendf(what, "%sgroup \"%s\": pgrotate (uid %d) is not a member",
					   what->len ? "; " : "", s->group, (int) euid);
	}
}

/* A missing folder: said, with the mkdir that fixes it. */
static void
missing_folder(const char *path, StrBuf *what, char **fix)
{
	char	   *dir = xstrdup(path);
	char	   *slash = strrchr(dir, '/');
	char	   *q;

	if (slash != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	sb_appendf(what, "folder \"%s\" does not exist", dir);
	q = shell_quote(dir);
	*fix = xasprintf("Run \"mkdir -p %s\".", q);
	free(q);
	free(dir);
}

/*
 * The folder of a file sink is reached without symlinks, safe to write
 * to (safefile.h), exists and is writable (the file is replaced by
 * rename), and the path is not a symlink. Sets *fix for a missing folder.
 */
static void
file_sink_problems(const SinkCfg *s, StrBuf *what, char **fix)
{
	char	   *name = NULL;
	char	   *err = NULL;
	struct stat st;
	int			dirfd = safe_parent_open(s->path, SAFE_SINK, "sink file", &name, &err);

	if (dirfd < 0 && errno == ENOENT)
		missing_folder(s->path, what, fix);
	else if (dirfd < 0)
		sb_append(what, err);
	else if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		sb_append(what, "the path is a symlink (pgrotate never writes through one)");
	else if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		sb_append(what, "the path is not a regular file");
	else if (faccessat(dirfd, ".", W_OK | X_OK, 0) != 0)
		sb_appendf(what, "the folder of \"%s\" is not writable by uid %d: %s",
				   s->path, (int) geteuid(), strerror(errno));
	else
		sink_owner_problems(s, what);
	if (dirfd >= 0)
		close(dirfd);
	free(name);
	free(err);
}

/* Like execvp would find it: a path, or a name searched in $PATH. */
static bool
find_executable(const char *cmd)
{
	const char *path = getenv("PATH");
	char	   *copy;
	char	   *save = NULL;
	bool		found = false;

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	copy = xstrdup(path && path[0] ? path : "/usr/bin:/bin");
	for (char *d = strtok_r(copy, ":", &save); d && !found;
		 d = strtok_r(NULL, ":", &save))
	{
		char	   *full = xasprintf("%s/%s", d, cmd);
		struct stat st;

		found = stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
			access(full, X_OK) == 0;
		free(full);
	}
	free(copy);
	return found;
}

static void
check_sinks(const Target *t, CheckList *l)
{
	if (t->nsinks == 0)
		checklist_add(l, CHECK_SKIP, "sinks", "none configured", NULL);
	for (int i = 0; i < t->nsinks; i++)
	{
		const SinkCfg *s = &t->sinks[i];
		StrBuf		what;
		char	   *fix = NULL;
		char	   *name;

		sb_init(&what);
		if (s->type == SINK_FILE)
		{
			name = xasprintf("file sink \"%s\" writable", s->path);
			file_sink_problems(s, &what, &fix);
		}
		else
		{
			const char *cmd = s->argc > 0 ? s->argv[0] : "";

			name = xasprintf("command sink \"%s\" executable", cmd);
			if (cmd[0] == '\0' || !find_executable(cmd))
				sb_append(&what, "not found or not executable");
		}
		if (what.len == 0)
			checklist_add(l, CHECK_PASS, name, NULL, NULL);
		else
			checklist_add(l, CHECK_FAIL, name, what.data, fix);
		sb_free(&what);
		free(fix);
		free(name);
	}
}

/*
 * How far a replica is behind: 0.0s when it has replayed everything the
 * primary has written (so an idle primary shows no lag), else the age of
 * the last transaction it replayed.
 */
static char *
replica_lag(DbConn *c, DbConn *primary, char **err)
{
	DbRes	   *pr = NULL;
	DbRes	   *r = NULL;
	const char *p[1] = {NULL};
	char	   *out = NULL;
	char	   *e = NULL;

	if (primary != NULL &&
		db_exec(primary, "SELECT pg_catalog.pg_current_wal_lsn()::text", 0, NULL, 1, &pr, &e) == 0)
		p[0] = db_val(pr, 0, 0);
	free(e);
	if (db_exec(c, "SELECT pg_catalog.pg_is_in_recovery(),"
				" pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_catalog.pg_lsn,"
				" pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now()"
				" - pg_catalog.pg_last_xact_replay_timestamp())::pg_catalog.numeric, 1)",
				1, p, 3, &r, err) != 0)
		goto done;
	if (!db_bool(r, 0, 0))
		*err = xstrdup("not in recovery: this is a primary, not a hot standby");
	else if (db_bool(r, 0, 1))
		out = xstrdup("in recovery, replay lag 0.0s");
	else if (db_isnull(r, 0, 2))
		out = xstrdup("in recovery, no transaction replayed yet");
	else
		out = xasprintf("in recovery, replay lag %ss", db_val(r, 0, 2));
done:
	db_res_free(pr);
	db_res_free(r);
	return out;
}

/* A replica: reachable, in recovery; its replay lag is reported. */
static void
check_replica(const char *conninfo, DbConn *primary, CheckList *l)
{
	char	   *node = db_conninfo_node(conninfo);
	char	   *label = xasprintf("replica \"%s\"", node);
	char	   *name = xasprintf("replica \"%s\" reachable", node);
	char	   *err = NULL;
	char	   *detail = NULL;
	DbConn	   *c;

	if ((c = db_connect(conninfo, label, NULL, &err)) == NULL ||
		(detail = replica_lag(c, primary, &err)) == NULL)
		checklist_add(l, CHECK_FAIL, name, err, NULL);
	else
		checklist_add(l, CHECK_PASS, name, detail, NULL);
	db_close(c);
	free(node);
	free(label);
	free(name);
	free(err);
	free(detail);
}

/* A PgBouncer admin console: reachable and answering SHOW VERSION. */
static void
check_pooler(const char *conninfo, CheckList *l)
{
	char	   *node = db_conninfo_node(conninfo);
	char	   *name = xasprintf("pooler \"%s\" reachable", node);
	char	   *err = NULL;
	char	   *detail = NULL;
	Pooler	   *p;

	if ((p = pooler_open(conninfo, &err)) == NULL)
		checklist_add(l, CHECK_FAIL, name, err, NULL);
	else
	{
		detail = xasprintf("%s%s", pooler_version(p), pooler_can_kill_client(p) ? "" :
						   "; no KILL_CLIENT: terminate cannot disconnect its clients one by one");
		checklist_add(l, CHECK_PASS, name, detail, NULL);
	}
	pooler_close(p);
	free(node);
	free(name);
	free(err);
	free(detail);
}

/*
 * The active login role the state records for t, when the state schema is
 * there, trusted, and names roles of the configuration; else NULL (the
 * schema items say why). malloc'd.
 */
static char *
check_active_role(DbConn *c, const Target *t)
{
	StateRow	row;
	bool		found = false;
	int			version = 0;
	char	   *err = NULL;
	char	   *why = NULL;
	char	   *active = NULL;

	memset(&row, 0, sizeof(row));
	if (state_schema_version(c, &version, &err) == 0 && version > 0 &&
		state_load(c, t->name, &row, &found, &err) == 0 && found &&
		state_check_roles(&row, t->group_role, t->roles[0], t->roles[1], &why) == 0)
		active = xstrdup(row.active_role);
	if (found)
		state_row_free(&row);
	free(err);
	free(why);
	return active;
}

/*
 * The app path asks the login roles for their passwords, on the primary
 * and on every replica: otherwise a verify there would prove nothing.
 */
static void
check_app_auth(const Target *t, CheckList *l)
{
	for (int i = -1; i < t->replicas.n; i++)
	{
		const char *replica = i < 0 ? NULL : t->replicas.items[i];
		char	   *node = i < 0 ? xstrdup("primary") : db_conninfo_node(replica);
		char	   *name = i < 0 ? xstrdup("app path asks for the password on primary") :
			xasprintf("app path asks for the password on replica \"%s\"", node);
		AuthProbe	worst = AUTH_ASKS;
		char	   *detail = NULL;

		for (int k = 0; k < 2 && worst != AUTH_TRUSTS; k++)
		{
			char	   *d = NULL;
			AuthProbe	p = verify_probe_auth(t, replica, t->roles[k], &d);

			if (p != AUTH_ASKS && (worst == AUTH_ASKS || p == AUTH_TRUSTS))
			{
				worst = p;
				free(detail);
				detail = d;
			}
			else
				free(d);
		}
		checklist_add(l, worst == AUTH_ASKS ? CHECK_PASS : worst == AUTH_TRUSTS ?
					  CHECK_FAIL : CHECK_WARN, name, detail,
					  worst == AUTH_TRUSTS ? VERIFY_AUTH_FIX : NULL);
		free(detail);
		free(name);
		free(node);
	}
}

/* The items after "server version", skipped with the reason why. */
static void
skip_primary_items(CheckList *l, const char *why)
{
	static const char *const items[] = {
		"admin privileges", "group and login roles",
		"state schema \"" STATE_SCHEMA "\" present"
	};

	for (int i = 0; i < (int) (sizeof(items) / sizeof(items[0])); i++)
		checklist_add(l, CHECK_SKIP, items[i], why, NULL);
}

/*
 * The items on the primary; returns the admin connection, or NULL with
 * *why_not saying why the items that need it are skipped.
 */
static DbConn *
check_primary(const Target *t, CheckList *l, const char **why_not)
{
	char	   *err = NULL;
	char	   *active;
	DbConn	   *c;

	if ((c = db_connect(t->admin, "primary", NULL, &err)) == NULL)
	{
		*why_not = "the admin cannot connect";
		checklist_add(l, CHECK_FAIL, "admin connects", err, NULL);
		checklist_add(l, CHECK_SKIP, "server version", *why_not, NULL);
		skip_primary_items(l, *why_not);
		free(err);
		return NULL;
	}
	checklist_add(l, CHECK_PASS, "admin connects", NULL, NULL);
	if (!check_server_version(c, l))
	{
		*why_not = "the server is not supported";
		skip_primary_items(l, *why_not);
		db_close(c);
		return NULL;
	}
	active = check_active_role(c, t);
	if (roles_check_setup(c, t, active, l, &err) != 0)
	{
		checklist_add(l, CHECK_FAIL, "group and login roles", err, NULL);
		free(err);
	}
	free(active);
	check_schema(c, t, l);
	check_admin_rights(c, t, l);
	return c;
}

static void
print_block(const char *target, const CheckList *l)
{
	int			warnings = checklist_count(l, CHECK_WARN);

	printf("target %s:\n", target);
	checklist_print(l, stdout);
	printf("%s: %d ok, %d warning%s, %d failed\n", target,
		   checklist_count(l, CHECK_PASS), warnings, warnings == 1 ? "" : "s",
		   checklist_count(l, CHECK_FAIL));
	fflush(stdout);
}

/* Check one target and print its block. Returns whether an item failed. */
static bool
check_target(const Target *t)
{
	CheckList	l = {NULL, 0, 0};
	DbConn	   *c;
	const char *why_not = NULL;
	bool		failed;

	log_set_target(t->name);
	checklist_add(&l, CHECK_PASS, "config valid", NULL, NULL);
	transport_check(t, &l);
	c = check_primary(t, &l, &why_not);
	check_sinks(t, &l);
	check_app_auth(t, &l);
	for (int i = 0; i < t->replicas.n; i++)
		check_replica(t->replicas.items[i], c, &l);
	if (t->replicas.n == 0)
		checklist_add(&l, CHECK_SKIP, "replicas", "none configured", NULL);
	for (int i = 0; i < t->poolers.n; i++)
		check_pooler(t->poolers.items[i], &l);
	if (t->poolers.n == 0)
		checklist_add(&l, CHECK_SKIP, "poolers", "none configured", NULL);
	if (c != NULL)
		check_stats_visible(c, &l);
	else
		checklist_add(&l, CHECK_SKIP, "pg_stat_activity of other roles visible",
					  why_not, NULL);
	db_close(c);
	print_block(t->name, &l);
	failed = checklist_count(&l, CHECK_FAIL) > 0;
	checklist_free(&l);
	log_set_target(NULL);
	return failed;
}

/*
 * The configuration did not load: the one item that can be shown, for
 * each target named (or once for the file when none was).
 */
static void
print_config_failed(const GlobalOpts *g, int n, char **names)
{
	CheckList	l = {NULL, 0, 0};
	char	   *detail = xasprintf("\"%s\" did not load (see the errors on stderr)",
							   g->config_path);

	checklist_add(&l, CHECK_FAIL, "config valid", detail, NULL);
	if (n == 0)
	{
		printf("config %s:\n", g->config_path);
		checklist_print(&l, stdout);
		printf("config: 0 ok, 0 warnings, 1 failed\n");
	}
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			putchar('\n');
		print_block(names[i], &l);
	}
	fflush(stdout);
	checklist_free(&l);
	free(detail);
}

/* The checklist of the i-th target, after a blank line but for the first. */
static int
check_one(const Config *cfg, const Target *t, int i, void *arg)
{
	(void) cfg;
	(void) arg;
	if (i > 0)
		putchar('\n');
	return check_target(t) ? PGR_EXIT_FAIL : PGR_EXIT_OK;
}

static const struct option options[] = {
	{"all", no_argument, NULL, 'a'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_check_command, "[TARGET... | --all]",
				   "      --all           every target in the configuration (the default)\n");
}

const Command cmd_check_command = {
	.name = "check", .optstring = ":", .options = options, .run = cmd_check, .usage = usage,
	.summary = "preflight checklist: config, connection, privileges, roles, schema, sinks, replicas",
};

int
cmd_check(int argc, char **argv, const GlobalOpts *g)
{
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	int			ntargets = 0;
	bool		all = false;
	int			rc;
	int			c;

	while ((c = cmd_getopt(argc, argv, cmd_check_command.optstring, options)) != -1)
	{
		if (c != 'a')
			return cmd_option_error("check", c, argv);
		all = true;				/* the default without targets, said out loud */
	}
	if (all && argc - optind > 0)
		return cmd_usage_error("check", "name targets or --all, not both");
	rc = cmd_load_config(g, &cfg);
	if (rc != PGR_EXIT_OK)
	{
		print_config_failed(g, argc - optind, argv + optind);
		return rc;
	}
	rc = cmd_resolve_targets(cfg, argc - optind, argv + optind, &targets,
							 &ntargets);
	if (rc != PGR_EXIT_OK)
		goto done;
	if (ntargets == 1)
		rc = check_one(cfg, targets[0], 0, NULL);
	else
	{
		cmd_catch_stop_signals();
		rc = parallel_run(cfg, targets, ntargets, PARALLEL_DEFAULT_JOBS, check_one, NULL);
	}
done:
	free(targets);
	cfg_free(cfg);
	return rc;
}
