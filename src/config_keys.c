/*
 * config_keys.c: every key of the configuration file, declared once.
 *
 * The loader (config.c) takes names, scopes, types, defaults, ranges and
 * enum values from here; the unit test checks that each name is documented
 * in doc/pgrotate.conf.5 and set in doc/pgrotate.conf.sample. Defaults are
 * written as values (strings unquoted); durations in ms for min and max.
 */
#include <stddef.h>

#include "config.h"

/* The values of a file sink's "format", in the order of SinkFormat. */
const char *const cfg_format_names[] = {"env", "json", "pgpass", "uri", "pgbouncer", NULL};

const CfgKey cfg_keys[] = {
	/* top level */
	{.name = "state_dir", .scope = CFG_SCOPE_TOP, .type = CFG_T_STRING,
		.default_text = "/var/lib/pgrotate",
		.doc = "directory for pending credentials: an absolute path, created 0700"},

	/* defaults, overridable per target */
	{.name = "rotation_interval", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, rotation_interval_ms), .default_text = "30d", .min = 1,
		.doc = "age after which a credential is due for rotation, > 0"},
	{.name = "warn_before", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, warn_before_ms), .default_text = "3d",
		.doc = "status warns this long before a rotation is due, < rotation_interval"},
	{.name = "min_overlap", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, min_overlap_ms), .default_text = "15m",
		.doc = "keep the old role valid at least this long: more than the apps' credential cache TTL, at most drain_timeout"},
	{.name = "drain_timeout", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, drain_timeout_ms), .default_text = "1h", .min = 1,
		.doc = "give up waiting for the old role's sessions after this long, > 0"},
	{.name = "poll_interval", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, poll_interval_ms), .default_text = "1s", .min = 1,
		.doc = "how often the drain looks at pg_stat_activity, > 0 and at most drain_timeout"},
	{.name = "on_drain_timeout", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_ENUM,
		.setting = offsetof(Settings, on_drain_timeout), .default_text = "fail",
		.enum_values = (const char *const[]) {"fail", "terminate", NULL},
		.doc = "at drain_timeout: fail, exit 3 and keep the old role valid, or terminate its sessions and revoke"},
	{.name = "emergency_grace", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, emergency_grace_ms), .default_text = "30s", .min = 1,
		.doc = "with cycle --emergency: wait at most this long before terminating, > 0"},
	{.name = "password_length", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_INT,
		.setting = offsetof(Settings, password_length), .default_text = "32", .min = 16, .max = 128,
		.doc = "length of generated passwords, characters [A-Za-z0-9], 16 to 128"},
	{.name = "password_expiry", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, password_expiry_ms), .default_text = "",
		.doc = "VALID UNTIL this far ahead as a dead-man's switch, > rotation_interval + drain_timeout; \"\" or 0: off"},
	{.name = "verify_query", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_STRING,
		.setting = offsetof(Settings, verify_query), .default_text = "SELECT 1",
		.doc = "query run as the new role on the primary and every replica before publishing"},
	{.name = "rotation_jitter", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_DURATION,
		.setting = offsetof(Settings, rotation_jitter_ms), .default_text = "0",
		.doc = "move each target's due time later by a stable offset in [0, jitter) from its name, < rotation_interval"},
	{.name = "max_node_connections", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_INT,
		.setting = offsetof(Settings, max_node_connections), .default_text = "10", .min = 3, .max = 10000,
		.doc = "connections one run may hold to one PostgreSQL server (host and port), whatever --jobs, 3 to 10000"},
	{.name = "allow_insecure_transport", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_BOOL,
		.setting = offsetof(Settings, allow_insecure_transport), .default_text = "false",
		.doc = "let conninfo reach a remote host without sslmode=verify-full or verify-ca (warned on every run)"},
	{.name = "allow_owned_objects", .scope = CFG_SCOPE_DEFAULTS, .type = CFG_T_BOOL,
		.setting = offsetof(Settings, allow_owned_objects), .default_text = "false",
		.doc = "let a cycle run while the active login role owns objects in the target database (a warning, not a refusal)"},

	/* only in a target */
	{.name = "admin", .scope = CFG_SCOPE_TARGET, .type = CFG_T_CONNINFO,
		.required = true, .secret = true,
		.doc = "libpq conninfo of the control database: a direct connection, never through a transaction pooler"},
	{.name = "app", .scope = CFG_SCOPE_TARGET, .type = CFG_T_CONNINFO,
		.required = true, .secret = true,
		.doc = "libpq conninfo the applications use, without user or password"},
	{.name = "group_role", .scope = CFG_SCOPE_TARGET, .type = CFG_T_STRING,
		.default_text = "app",
		.doc = "the NOLOGIN role that owns the objects and holds the privileges"},
	{.name = "roles", .scope = CFG_SCOPE_TARGET, .type = CFG_T_STRLIST,
		.required = true,
		.doc = "the two login roles that take turns: [ \"app_user_a\", \"app_user_b\" ]"},
	{.name = "replicas", .scope = CFG_SCOPE_TARGET, .type = CFG_T_STRLIST,
		.secret = true,
		.doc = "admin conninfo of each hot standby to verify on and drain"},
	{.name = "poolers", .scope = CFG_SCOPE_TARGET, .type = CFG_T_STRLIST,
		.secret = true,
		.doc = "conninfo of each PgBouncer admin console, dbname=pgbouncer"},
	{.name = "sinks", .scope = CFG_SCOPE_TARGET, .type = CFG_T_SINKS,
		.required = true,
		.doc = "where new credentials are published: a list of file and command sinks"},

	/* a sink of type "file" */
	{.name = "type", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_ENUM,
		.required = true,
		.enum_values = (const char *const[]) {"file", "command", NULL},
		.doc = "\"file\": write the credential to a file, atomically"},
	{.name = "path", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_STRING,
		.required = true,
		.doc = "absolute path of the file; never written through a symlink"},
	{.name = "format", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_ENUM,
		.default_text = "env", .enum_values = cfg_format_names,
		.doc = "file format: env, json, pgpass, uri or pgbouncer"},
	{.name = "mode", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_MODE,
		.default_text = "0600",
		.doc = "permissions as a string of octal digits; no access for others, no group write"},
	{.name = "owner", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_STRING,
		.doc = "user name to own the file; default: the user running pgrotate"},
	{.name = "group", .scope = CFG_SCOPE_FILE_SINK, .type = CFG_T_STRING,
		.doc = "group name of the file; default: that user's group"},

	/* a sink of type "command" */
	{.name = "type", .scope = CFG_SCOPE_COMMAND_SINK, .type = CFG_T_ENUM,
		.required = true,
		.enum_values = (const char *const[]) {"file", "command", NULL},
		.doc = "\"command\": run a program with the json document on stdin"},
	{.name = "argv", .scope = CFG_SCOPE_COMMAND_SINK, .type = CFG_T_STRLIST,
		.required = true,
		.doc = "program and arguments, no shell; argv[0] an absolute path"},
	{.name = "timeout", .scope = CFG_SCOPE_COMMAND_SINK, .type = CFG_T_DURATION,
		.default_text = "30s", .min = 1,
		.doc = "kill the command and fail the publish after this long, > 0"},
};

const int	cfg_nkeys = (int) (sizeof(cfg_keys) / sizeof(cfg_keys[0]));
