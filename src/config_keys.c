/*
 * config_keys.c: every key of the configuration file, declared once.
 *
 * The loader (config.c) takes names, scopes, types, defaults, ranges and
 * enum values from here; the unit test checks that each name is documented
 * in doc/pgrotate.conf.5 and set in doc/pgrotate.conf.sample. Defaults are
 * written as values (strings unquoted); durations in ms for min and max.
 */
#include "config.h"

const CfgKey cfg_keys[] = {
	/* top level */
	{"state_dir", CFG_SCOPE_TOP, CFG_T_STRING, "/var/lib/pgrotate", false,
		0, 0, NULL, false,
	"directory for pending credentials: an absolute path, created 0700"},

	/* defaults, overridable per target */
	{"rotation_interval", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "30d", false,
		1, 0, NULL, false,
	"age after which a credential is due for rotation, > 0"},
	{"warn_before", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "3d", false,
		0, 0, NULL, false,
	"status warns this long before a rotation is due, < rotation_interval"},
	{"min_overlap", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "15m", false,
		0, 0, NULL, false,
	"keep the old role valid at least this long: more than the apps' credential cache TTL, at most drain_timeout"},
	{"drain_timeout", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "1h", false,
		1, 0, NULL, false,
	"give up waiting for the old role's sessions after this long, > 0"},
	{"poll_interval", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "1s", false,
		1, 0, NULL, false,
	"how often the drain looks at pg_stat_activity, > 0 and at most drain_timeout"},
	{"on_drain_timeout", CFG_SCOPE_DEFAULTS, CFG_T_ENUM, "fail", false,
		0, 0, "fail|terminate", false,
	"at drain_timeout: fail, exit 3 and keep the old role valid, or terminate its sessions and revoke"},
	{"emergency_grace", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "30s", false,
		1, 0, NULL, false,
	"with cycle --emergency: wait at most this long before terminating, > 0"},
	{"password_length", CFG_SCOPE_DEFAULTS, CFG_T_INT, "32", false,
		16, 128, NULL, false,
	"length of generated passwords, characters [A-Za-z0-9], 16 to 128"},
	{"password_expiry", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "", false,
		0, 0, NULL, false,
	"VALID UNTIL this far ahead as a dead-man's switch, > rotation_interval + drain_timeout; \"\" or 0: off"},
	{"verify_query", CFG_SCOPE_DEFAULTS, CFG_T_STRING, "SELECT 1", false,
		0, 0, NULL, false,
	"query run as the new role on the primary and every replica before publishing"},
	{"rotation_jitter", CFG_SCOPE_DEFAULTS, CFG_T_DURATION, "0", false,
		0, 0, NULL, false,
	"move each target's due time later by a stable offset in [0, jitter) from its name, < rotation_interval"},
	{"max_node_connections", CFG_SCOPE_DEFAULTS, CFG_T_INT, "10", false,
		3, 10000, NULL, false,
	"connections one run may hold to one PostgreSQL server (host and port), whatever --jobs, 3 to 10000"},
	{"allow_insecure_transport", CFG_SCOPE_DEFAULTS, CFG_T_BOOL, "false", false,
		0, 0, NULL, false,
	"let conninfo reach a remote host without sslmode=verify-full or verify-ca (warned on every run)"},
	{"allow_owned_objects", CFG_SCOPE_DEFAULTS, CFG_T_BOOL, "false", false,
		0, 0, NULL, false,
	"let a cycle run while the active login role owns objects in the target database (a warning, not a refusal)"},

	/* only in a target */
	{"admin", CFG_SCOPE_TARGET, CFG_T_CONNINFO, NULL, true,
		0, 0, NULL, true,
	"libpq conninfo of the control database: a direct connection, never through a transaction pooler"},
	{"app", CFG_SCOPE_TARGET, CFG_T_CONNINFO, NULL, true,
		0, 0, NULL, true,
	"libpq conninfo the applications use, without user or password"},
	{"group_role", CFG_SCOPE_TARGET, CFG_T_STRING, "app", false,
		0, 0, NULL, false,
	"the NOLOGIN role that owns the objects and holds the privileges"},
	{"roles", CFG_SCOPE_TARGET, CFG_T_STRLIST, NULL, true,
		0, 0, NULL, false,
	"the two login roles that take turns: [ \"app_user_a\", \"app_user_b\" ]"},
	{"replicas", CFG_SCOPE_TARGET, CFG_T_STRLIST, NULL, false,
		0, 0, NULL, true,
	"admin conninfo of each hot standby to verify on and drain"},
	{"poolers", CFG_SCOPE_TARGET, CFG_T_STRLIST, NULL, false,
		0, 0, NULL, true,
	"conninfo of each PgBouncer admin console, dbname=pgbouncer"},
	{"sinks", CFG_SCOPE_TARGET, CFG_T_SINKS, NULL, true,
		0, 0, NULL, false,
	"where new credentials are published: a list of file and command sinks"},

	/* a sink of type "file" */
	{"type", CFG_SCOPE_FILE_SINK, CFG_T_ENUM, NULL, true,
		0, 0, "file|command", false,
	"\"file\": write the credential to a file, atomically"},
	{"path", CFG_SCOPE_FILE_SINK, CFG_T_STRING, NULL, true,
		0, 0, NULL, false,
	"absolute path of the file; never written through a symlink"},
	{"format", CFG_SCOPE_FILE_SINK, CFG_T_ENUM, "env", false,
		0, 0, "env|json|pgpass|uri|pgbouncer", false,
	"file format: env, json, pgpass, uri or pgbouncer"},
	{"mode", CFG_SCOPE_FILE_SINK, CFG_T_MODE, "0600", false,
		0, 0, NULL, false,
	"permissions as a string of octal digits; no access for others, no group write"},
	{"owner", CFG_SCOPE_FILE_SINK, CFG_T_STRING, NULL, false,
		0, 0, NULL, false,
	"user name to own the file; default: the user running pgrotate"},
	{"group", CFG_SCOPE_FILE_SINK, CFG_T_STRING, NULL, false,
		0, 0, NULL, false,
	"group name of the file; default: that user's group"},

	/* a sink of type "command" */
	{"type", CFG_SCOPE_COMMAND_SINK, CFG_T_ENUM, NULL, true,
		0, 0, "file|command", false,
	"\"command\": run a program with the json document on stdin"},
	{"argv", CFG_SCOPE_COMMAND_SINK, CFG_T_STRLIST, NULL, true,
		0, 0, NULL, false,
	"program and arguments, no shell; argv[0] an absolute path"},
	{"timeout", CFG_SCOPE_COMMAND_SINK, CFG_T_DURATION, "30s", false,
		1, 0, NULL, false,
	"kill the command and fail the publish after this long, > 0"},
};

const int	cfg_nkeys = (int) (sizeof(cfg_keys) / sizeof(cfg_keys[0]));
