/*
 * config.h: the configuration file (SPEC section 3) as typed, validated
 * structs.
 *
 * Every key is declared once in cfg_keys[] (config_keys.c): its scope,
 * type, default, range, whether it is secret and its one-line doc. That
 * table drives parsing, validation, the documentation check and the sample
 * config.
 */
#ifndef PGR_CONFIG_H
#define PGR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef enum SinkType
{
	SINK_FILE,
	SINK_COMMAND
} SinkType;

typedef enum SinkFormat
{
	SINK_FMT_ENV,
	SINK_FMT_JSON,
	SINK_FMT_PGPASS,
	SINK_FMT_URI,
	SINK_FMT_PGBOUNCER
} SinkFormat;

typedef enum DrainPolicy
{
	DRAIN_FAIL,
	DRAIN_TERMINATE
} DrainPolicy;

typedef struct SinkCfg
{
	SinkType	type;
	int			line;			/* line of the sink in the file */
	/* type = "file" */
	char	   *path;
	SinkFormat	format;			/* default env */
	mode_t		mode;			/* default 0600 */
	char	   *owner;			/* NULL: leave as created */
	char	   *group;
	/* type = "command" */
	char	  **argv;			/* NULL-terminated */
	int			argc;
	int64_t		timeout_ms;		/* default 30s */
} SinkCfg;

/* The keys of "defaults" that a target may override. */
typedef struct Settings
{
	int64_t		rotation_interval_ms;	/* default 30d, > 0 */
	int64_t		warn_before_ms;			/* default 3d */
	int64_t		min_overlap_ms;			/* default 15m, >= 0 */
	int64_t		drain_timeout_ms;		/* default 1h, > 0 */
	int64_t		poll_interval_ms;		/* default 1s, > 0 */
	DrainPolicy on_drain_timeout;		/* default fail */
	int64_t		emergency_grace_ms;		/* default 30s, > 0 */
	int			password_length;		/* default 32, 16..128 */
	int64_t		password_expiry_ms;		/* default 0 = off */
	char	   *verify_query;			/* default "SELECT 1" */
	int64_t		rotation_jitter_ms;		/* default 0, < rotation_interval */
	int			max_node_connections;	/* default 10, 2..10000 */
	bool		allow_insecure_transport;	/* default false (transport.h) */
	bool		allow_owned_objects;	/* default false: refuse (issue 10) */
} Settings;

typedef struct Target
{
	char	   *name;
	int			line;
	char	   *admin;			/* conninfo of the control database */
	char	   *app;			/* conninfo applications use (no user) */
	char	   *group_role;		/* default "app" */
	char	   *roles[2];		/* login roles A and B */
	StrList		replicas;		/* admin conninfo of each hot standby */
	StrList		poolers;		/* PgBouncer admin console conninfo */
	SinkCfg    *sinks;
	int			nsinks;
	Settings	s;				/* defaults with this target's overrides */
} Target;

typedef struct Config
{
	char	   *path;			/* the file it was read from */
	char	   *state_dir;		/* default /var/lib/pgrotate */
	Settings	defaults;
	Target	   *targets;
	int			ntargets;
} Config;

/* The default file: $PGROTATE_CONFIG, else /etc/pgrotate/pgrotate.conf. */
const char *cfg_default_path(void);

/*
 * Read and validate path. On success returns 0 and sets *out (free with
 * cfg_free). On failure returns -1, sets *out to NULL and appends to errs
 * one message per problem found, each starting "FILE:LINE: " where the
 * line is known and naming the key and what would be valid, e.g.
 *   "/etc/pgrotate.conf:12: targets.appdb.min_overlap: \"15x\" is not a
 *    duration (use e.g. 500ms, 30s, 15m, 1h30m, 30d)"
 * Nothing is printed.
 */
int			cfg_load(const char *path, Config **out, StrList *errs);
void		cfg_free(Config *cfg);

/* The target called name, or NULL. */
const Target *cfg_find_target(const Config *cfg, const char *name);

const char *cfg_format_name(SinkFormat f);	/* "env", "json", ... */

/* ---- the key table ---- */

typedef enum CfgScope
{
	CFG_SCOPE_TOP,				/* top level: state_dir */
	CFG_SCOPE_DEFAULTS,			/* in defaults, overridable per target */
	CFG_SCOPE_TARGET,			/* only in a target */
	CFG_SCOPE_FILE_SINK,		/* in a sink of type "file" */
	CFG_SCOPE_COMMAND_SINK		/* in a sink of type "command" */
} CfgScope;

typedef enum CfgType
{
	CFG_T_STRING,
	CFG_T_CONNINFO,
	CFG_T_DURATION,
	CFG_T_INT,
	CFG_T_ENUM,
	CFG_T_STRLIST,				/* array of strings */
	CFG_T_MODE,					/* string of octal digits */
	CFG_T_BOOL,					/* true or false */
	CFG_T_SINKS					/* list of groups */
} CfgType;

/* One key; rows are written with designated initializers, unset fields 0. */
typedef struct CfgKey
{
	const char *name;
	CfgScope	scope;
	CfgType		type;
	size_t		setting;		/* CFG_SCOPE_DEFAULTS: offsetof(Settings, its field) */
	const char *default_text;	/* as written in the sample config; NULL: required or none */
	bool		required;
	int64_t		min;			/* ints and durations (ms); ignored otherwise */
	int64_t		max;			/* 0: no maximum */
	const char *const *enum_values; /* CFG_T_ENUM: its values, NULL-terminated */
	bool		secret;			/* may hold a password: logged as <redacted> */
	const char *doc;			/* one line for --help and the man page */
} CfgKey;

extern const CfgKey cfg_keys[];
extern const int cfg_nkeys;
extern const char *const cfg_format_names[];	/* the enum_values of "format" */

/*
 * How much later than rotated_at + rotation_interval target t is due: a
 * stable offset in [0, rotation_jitter) derived from its name (the same on
 * every host and run), 0 without jitter. In ms.
 */
int64_t		cfg_due_offset_ms(const Target *t);

#endif
