/*
 * config.c: read the configuration file (libconfig 1.5) into a Config and
 * validate it against the key table (config_keys.c).
 *
 * Every problem found is collected, each as "FILE:LINE: key.path: what is
 * wrong (what would be valid)", so one run of "pgrotate check" shows them
 * all. Nothing is printed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "db.h"
#include "duration.h"
#include "safefile.h"
#include "util.h"

#define DEFAULT_CONFIG_PATH "/etc/pgrotate/pgrotate.conf"
#define DURATION_HINT "use e.g. 500ms, 30s, 15m, 1h30m, 30d"
#define ROLE_NAME_MAX 63		/* PostgreSQL's NAMEDATALEN - 1 */
#define ENV_SAFE_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-"
#define SCOPE_BIT(s) (1u << (s))

/* The state of one cfg_load. */
typedef struct Loader
{
	const char *path;
	StrList    *errs;
	int			nerrs;
	bool		has_password;	/* some conninfo carries a password */
} Loader;

/* A value read for one key of the table. */
typedef struct Value
{
	int64_t		num;			/* duration (ms), integer, enum index, mode */
	char	   *str;			/* string, conninfo */
	StrList		list;			/* list of strings */
} Value;

/* Names at the top level that are groups, not keys of the table. */
static const char *const top_groups[] = {"defaults", "targets", NULL};

/* ---- errors ---- */

/* The line of s, or of the nearest enclosing setting that has one. */
static unsigned
line_of(const config_setting_t *s)
{
	for (; s != NULL; s = config_setting_parent(s))
		if (config_setting_source_line(s) > 0)
			return config_setting_source_line(s);
	return 0;
}

/* Append "FILE[:LINE]: [key: ]message" to the error list. */
static void
add_errv(Loader *ld, unsigned line, const char *key, const char *fmt,
		 va_list ap)
{
	StrBuf		sb;
	char	   *msg = NULL;

	sb_init(&sb);
	sb_append(&sb, ld->path);
	if (line > 0)
		sb_appendf(&sb, ":%u", line);
	sb_append(&sb, ": ");
	if (key != NULL && *key != '\0')
		sb_appendf(&sb, "%s: ", key);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	sb_append(&sb, msg ? msg : "(out of memory formatting a message)");
	free(msg);
	strlist_add_owned(ld->errs, sb_steal(&sb));
	ld->nerrs++;
}

/* An error about setting at (its line; NULL: no line). */
static void
add_err(Loader *ld, const config_setting_t *at, const char *key,
		const char *fmt,...) PGR_PRINTF(4, 5);
static void
add_err(Loader *ld, const config_setting_t *at, const char *key,
		const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	add_errv(ld, line_of(at), key, fmt, ap);
	va_end(ap);
}

/* An error at a line number (0: none). */
static void
add_err_at(Loader *ld, unsigned line, const char *key,
		   const char *fmt,...) PGR_PRINTF(4, 5);
static void
add_err_at(Loader *ld, unsigned line, const char *key,
		   const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	add_errv(ld, line, key, fmt, ap);
	va_end(ap);
}

/* "an integer", "a string", ...: what libconfig read, for messages. */
static const char *
type_phrase(const config_setting_t *s)
{
	switch (config_setting_type(s))
	{
		case CONFIG_TYPE_GROUP:
			return "a group";
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			return "an integer";
		case CONFIG_TYPE_FLOAT:
			return "a floating-point number";
		case CONFIG_TYPE_STRING:
			return "a string";
		case CONFIG_TYPE_BOOL:
			return "a boolean";
		case CONFIG_TYPE_ARRAY:
			return "an array";
		case CONFIG_TYPE_LIST:
			return "a list";
	}
	return "of unknown type";
}

static char *
child_path(const char *parent, const char *name)
{
	if (parent == NULL || *parent == '\0')
		return xstrdup(name);
	return xasprintf("%s.%s", parent, name);
}

/* ---- the key table ---- */

static int
key_index(unsigned scopes, const char *name)
{
	for (int i = 0; i < cfg_nkeys; i++)
		if ((scopes & SCOPE_BIT(cfg_keys[i].scope)) &&
			strcmp(cfg_keys[i].name, name) == 0)
			return i;
	return -1;
}

static const CfgKey *
key_named(CfgScope scope, const char *name)
{
	int			i = key_index(SCOPE_BIT(scope), name);

	return i < 0 ? NULL : &cfg_keys[i];
}

static const char *
scope_phrase(CfgScope scope)
{
	switch (scope)
	{
		case CFG_SCOPE_TOP:
			return "at the top level";
		case CFG_SCOPE_DEFAULTS:
			return "in defaults or a target";
		case CFG_SCOPE_TARGET:
			return "in a target";
		case CFG_SCOPE_FILE_SINK:
			return "in a sink of type \"file\"";
		case CFG_SCOPE_COMMAND_SINK:
			return "in a sink of type \"command\"";
	}
	return "elsewhere";
}

/* The index of value in the NULL-terminated values, or -1. */
static int
enum_index(const char *const *values, const char *value)
{
	for (int i = 0; values[i] != NULL; i++)
		if (strcmp(values[i], value) == 0)
			return i;
	return -1;
}

/* The values as "a, b or c" (malloc'd). */
static char *
enum_phrase(const char *const *values)
{
	StrBuf		sb;

	sb_init(&sb);
	for (int i = 0; values[i] != NULL; i++)
		sb_appendf(&sb, "%s%s", i == 0 ? "" : values[i + 1] ? ", " : " or ", values[i]);
	return sb_steal(&sb);
}

/* Levenshtein distance, capped for long names. */
static int
edit_distance(const char *a, const char *b)
{
	int			la = (int) strlen(a),
				lb = (int) strlen(b);
	int			prev[65],
				cur[65];

	if (la > 64 || lb > 64)
		return 99;
	for (int j = 0; j <= lb; j++)
		prev[j] = j;
	for (int i = 1; i <= la; i++)
	{
		cur[0] = i;
		for (int j = 1; j <= lb; j++)
		{
			int			sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			int			del = prev[j] + 1;
			int			ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(int) * (lb + 1));
	}
	return prev[lb];
}

/* The valid name closest to name (distance <= 2), or NULL. */
static const char *
closest_key(unsigned scopes, const char *const *extra, const char *name)
{
	const char *best = NULL;
	int			bestd = 3;

	for (int i = 0; i < cfg_nkeys; i++)
	{
		int			d;

		if (!(scopes & SCOPE_BIT(cfg_keys[i].scope)))
			continue;
		d = edit_distance(name, cfg_keys[i].name);
		if (d < bestd)
		{
			bestd = d;
			best = cfg_keys[i].name;
		}
	}
	for (int i = 0; extra && extra[i]; i++)
		if (edit_distance(name, extra[i]) < bestd)
		{
			bestd = edit_distance(name, extra[i]);
			best = extra[i];
		}
	return best;
}

/* Every name valid here, comma-separated (malloc'd). */
static char *
valid_keys(unsigned scopes, const char *const *extra)
{
	StrBuf		sb;

	sb_init(&sb);
	for (int i = 0; i < cfg_nkeys; i++)
		if ((scopes & SCOPE_BIT(cfg_keys[i].scope)) &&
			key_index(scopes, cfg_keys[i].name) == i)
			sb_appendf(&sb, "%s%s", sb.len ? ", " : "", cfg_keys[i].name);
	for (int i = 0; extra && extra[i]; i++)
		sb_appendf(&sb, "%s%s", sb.len ? ", " : "", extra[i]);
	return sb_steal(&sb);
}

static void
unknown_key(Loader *ld, const config_setting_t *m, const char *gpath,
			unsigned scopes, const char *const *extra)
{
	const char *name = config_setting_name(m);
	char	   *kpath = child_path(gpath, name);
	const char *near = closest_key(scopes, extra, name);
	int			elsewhere = key_index(~scopes, name);

	if (near != NULL)
		add_err(ld, m, kpath, "unknown key (did you mean \"%s\"?)", near);
	else if (elsewhere >= 0)
		add_err(ld, m, kpath, "not valid here: %s is only valid %s",
				name, scope_phrase(cfg_keys[elsewhere].scope));
	else
	{
		char	   *valid = valid_keys(scopes, extra);

		add_err(ld, m, kpath, "unknown key (valid here: %s)", valid);
		free(valid);
	}
	free(kpath);
}

/*
 * Note each member of group g that is a key of scopes in seen[] (indexed
 * like cfg_keys); report the others, unless listed in extra.
 */
static void
scan_group(Loader *ld, const config_setting_t *g, unsigned scopes,
		   const char *gpath, const char *const *extra,
		   config_setting_t **seen)
{
	int			n = config_setting_length(g);

	for (int i = 0; i < n; i++)
	{
		config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);
		int			k = key_index(scopes, name);
		bool		listed = false;

		for (int j = 0; extra && extra[j]; j++)
			listed |= strcmp(extra[j], name) == 0;
		if (k >= 0)
			seen[k] = m;
		else if (!listed)
			unknown_key(ld, m, gpath, scopes, extra);
	}
}

/* ---- values ---- */

static void
free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
strlist_free_secret(StrList *l)
{
	for (int i = 0; i < l->n; i++)
		explicit_bzero(l->items[i], strlen(l->items[i]));
	strlist_free(l);
}

static void
value_clear(Value *v, bool secret)
{
	if (secret)
	{
		free_secret(v->str);
		strlist_free_secret(&v->list);
	}
	else
	{
		free(v->str);
		strlist_free(&v->list);
	}
	v->str = NULL;
}

/* The table's default of k (which is known to parse). */
static void
value_default(const CfgKey *k, Value *v)
{
	memset(v, 0, sizeof(*v));
	if (k->default_text == NULL)
		return;
	switch (k->type)
	{
		case CFG_T_DURATION:
			if (*k->default_text == '\0' ||
				duration_parse(k->default_text, &v->num) != 0)
				v->num = 0;
			break;
		case CFG_T_INT:
			v->num = strtoll(k->default_text, NULL, 10);
			break;
		case CFG_T_ENUM:
			v->num = enum_index(k->enum_values, k->default_text);
			break;
		case CFG_T_MODE:
			v->num = strtol(k->default_text, NULL, 8);
			break;
		case CFG_T_BOOL:
			v->num = strcmp(k->default_text, "true") == 0;
			break;
		case CFG_T_STRING:
		case CFG_T_CONNINFO:
			v->str = xstrdup(k->default_text);
			break;
		case CFG_T_STRLIST:
		case CFG_T_SINKS:
			break;
	}
}

static void
range_error(Loader *ld, const config_setting_t *s, const char *kpath,
			const CfgKey *k, int64_t val)
{
	char		a[32],
				b[32];

	if (k->type != CFG_T_DURATION)
		add_err(ld, s, kpath, "%lld is out of range (valid: %lld to %lld)",
				(long long) val, (long long) k->min, (long long) k->max);
	else if (k->min == 1)
		add_err(ld, s, kpath, "must be greater than 0 (%s)", DURATION_HINT);
	else
	{
		duration_format(k->min, a, sizeof(a));
		duration_format(k->max, b, sizeof(b));
		add_err(ld, s, kpath, "must be between %s and %s", a, b);
	}
}

static int
check_range(Loader *ld, const config_setting_t *s, const char *kpath,
			const CfgKey *k, int64_t val)
{
	if (val < k->min || (k->max != 0 && val > k->max))
	{
		range_error(ld, s, kpath, k, val);
		return -1;
	}
	return 0;
}

static int
read_duration(Loader *ld, const CfgKey *k, const config_setting_t *s,
			  const char *kpath, Value *v)
{
	int			t = config_setting_type(s);
	const char *str;

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
	{
		long long	secs = config_setting_get_int64(s);
		char		buf[32];

		/* a bare number is seconds; parse it as text for the range check */
		snprintf(buf, sizeof(buf), "%lld", secs);
		if (secs < 0 || duration_parse(buf, &v->num) != 0)
		{
			add_err(ld, s, kpath, "%lld is not a duration (%s; at most 100 years)",
					secs, DURATION_HINT);
			return -1;
		}
		return check_range(ld, s, kpath, k, v->num);
	}
	if (t != CONFIG_TYPE_STRING)
	{
		add_err(ld, s, kpath, "must be a duration, not %s (%s, or whole seconds)",
				type_phrase(s), DURATION_HINT);
		return -1;
	}
	str = config_setting_get_string(s);
	if (*str == '\0' && k->default_text && *k->default_text == '\0')
		v->num = 0;				/* "" means off */
	else if (duration_parse(str, &v->num) != 0)
	{
		add_err(ld, s, kpath, "\"%s\" is not a duration (%s; at most 100 years)",
				str, DURATION_HINT);
		return -1;
	}
	return check_range(ld, s, kpath, k, v->num);
}

static int
read_int(Loader *ld, const CfgKey *k, const config_setting_t *s,
		 const char *kpath, Value *v)
{
	int			t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
	{
		add_err(ld, s, kpath, "must be an integer, not %s (e.g. %s = %s;)",
				type_phrase(s), k->name, k->default_text ? k->default_text : "1");
		return -1;
	}
	v->num = config_setting_get_int64(s);
	return check_range(ld, s, kpath, k, v->num);
}

static int
read_bool(Loader *ld, const CfgKey *k, const config_setting_t *s,
		  const char *kpath, Value *v)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
	{
		add_err(ld, s, kpath, "must be true or false, not %s (e.g. %s = false;)",
				type_phrase(s), k->name);
		return -1;
	}
	v->num = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

static int
read_enum(Loader *ld, const CfgKey *k, const config_setting_t *s,
		  const char *kpath, Value *v)
{
	char	   *valid = enum_phrase(k->enum_values);
	int			rc = -1;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		add_err(ld, s, kpath, "must be a string, not %s (use %s)",
				type_phrase(s), valid);
	else if ((v->num = enum_index(k->enum_values,
								  config_setting_get_string(s))) < 0)
		add_err(ld, s, kpath, "unknown value \"%s\" (use %s)",
				config_setting_get_string(s), valid);
	else
		rc = 0;
	free(valid);
	return rc;
}

/* sslpassword (the client key's passphrase) is a password too. */
static bool
has_sslpassword(const char *conninfo)
{
	char	   *v = NULL;
	char	   *err = NULL;
	bool		has = false;

	if (db_conninfo_get(conninfo, "sslpassword", &v, &err) == 0 && v != NULL)
	{
		has = true;
		free_secret(v);
	}
	free(err);
	return has;
}

/* A conninfo: libpq must parse it; note whether it holds a password. */
static int
check_conninfo(Loader *ld, const config_setting_t *s, const char *kpath,
			   const char *conninfo)
{
	char	   *err = NULL;

	if (db_conninfo_check(conninfo, &err) != 0)
	{
		add_err(ld, s, kpath, "%s", err ? err : "invalid connection string");
		free(err);
		return -1;
	}
	if (db_conninfo_has_password(conninfo) || has_sslpassword(conninfo))
		ld->has_password = true;
	return 0;
}

static int
read_string(Loader *ld, const CfgKey *k, const config_setting_t *s,
			const char *kpath, Value *v)
{
	const char *str;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
	{
		add_err(ld, s, kpath, "must be a string, not %s (e.g. %s = \"...\";)",
				type_phrase(s), k->name);
		return -1;
	}
	str = config_setting_get_string(s);
	if (k->type == CFG_T_CONNINFO)
	{
		if (check_conninfo(ld, s, kpath, str) != 0)
			return -1;
	}
	else if (*str == '\0')
	{
		add_err(ld, s, kpath, "must not be empty (%s)", k->doc);
		return -1;
	}
	v->str = xstrdup(str);
	return 0;
}

static int
read_strlist(Loader *ld, const CfgKey *k, const config_setting_t *s,
			 const char *kpath, Value *v)
{
	int			n,
				rc = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
	{
		add_err(ld, s, kpath, "must be a list of strings, not %s (e.g. %s = [ \"...\", \"...\" ];)",
				type_phrase(s), k->name);
		return -1;
	}
	n = config_setting_length(s);
	for (int i = 0; i < n; i++)
	{
		config_setting_t *e = config_setting_get_elem(s, i);
		char	   *epath = xasprintf("%s[%d]", kpath, i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
		{
			add_err(ld, e, epath, "must be a string, not %s", type_phrase(e));
			rc = -1;
		}
		else if (k->secret &&
				 check_conninfo(ld, e, epath, config_setting_get_string(e)) != 0)
			rc = -1;
		else
			strlist_add(&v->list, config_setting_get_string(e));
		free(epath);
	}
	return rc;
}

static int
read_mode(Loader *ld, const CfgKey *k, const config_setting_t *s,
		  const char *kpath, Value *v)
{
	const char *str;
	size_t		len;

	if (config_setting_type(s) == CONFIG_TYPE_INT ||
		config_setting_type(s) == CONFIG_TYPE_INT64)
	{
		add_err(ld, s, kpath, "must be a string of octal digits such as \"0640\", not an integer: libconfig 1.5 reads 0640 as the decimal number 640");
		return -1;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
	{
		add_err(ld, s, kpath, "must be a string of octal digits such as \"0640\", not %s",
				type_phrase(s));
		return -1;
	}
	str = config_setting_get_string(s);
	len = strlen(str);
	if (len == 0 || len > 4 || strspn(str, "01234567") != len)
	{
		add_err(ld, s, kpath, "\"%s\" is not an octal file mode (use e.g. \"0600\" or \"0640\")", str);
		return -1;
	}
	v->num = strtol(str, NULL, 8);
	if (v->num > 0777)
		add_err(ld, s, kpath, "\"%s\" sets setuid, setgid or sticky bits (use permission bits only, e.g. \"0640\")", str);
	else if (v->num & 0007)
		add_err(ld, s, kpath, "\"%s\" gives others access to the credential (use e.g. \"0600\" or \"0640\")", str);
	else if (v->num & 0020)
		add_err(ld, s, kpath, "\"%s\" lets the group write the credential (use e.g. \"0600\" or \"0640\")", str);
	else
		return 0;
	return -1;
}

static int
read_value(Loader *ld, const CfgKey *k, const config_setting_t *s,
		   const char *kpath, Value *v)
{
	switch (k->type)
	{
		case CFG_T_STRING:
		case CFG_T_CONNINFO:
			return read_string(ld, k, s, kpath, v);
		case CFG_T_DURATION:
			return read_duration(ld, k, s, kpath, v);
		case CFG_T_INT:
			return read_int(ld, k, s, kpath, v);
		case CFG_T_ENUM:
			return read_enum(ld, k, s, kpath, v);
		case CFG_T_STRLIST:
			return read_strlist(ld, k, s, kpath, v);
		case CFG_T_MODE:
			return read_mode(ld, k, s, kpath, v);
		case CFG_T_BOOL:
			return read_bool(ld, k, s, kpath, v);
		case CFG_T_SINKS:
			break;				/* parse_sinks reads them */
	}
	return 0;
}

/*
 * Read key idx of group g (at gpath) into v: the value set in the file, or
 * the table's default. A missing required key is an error. On failure v
 * is empty.
 */
static int
read_key(Loader *ld, const config_setting_t *g, config_setting_t **seen,
		 int idx, const char *gpath, Value *v)
{
	const CfgKey *k = &cfg_keys[idx];
	char	   *kpath;
	int			rc;

	value_default(k, v);
	if (seen[idx] == NULL)
	{
		if (!k->required)
			return 0;
		add_err(ld, g, gpath, "%s is missing (%s)", k->name, k->doc);
		return -1;
	}
	value_clear(v, false);
	kpath = child_path(gpath, k->name);
	rc = read_value(ld, k, seen[idx], kpath, v);
	free(kpath);
	if (rc != 0)
		value_clear(v, k->secret);
	return rc;
}

/* The index of a key the code relies on; the table must have it. */
static int
key_required(CfgScope scope, const char *name)
{
	int			i = key_index(SCOPE_BIT(scope), name);

	if (i < 0)
	{
		fprintf(stderr, "pgrotate: internal error: key %s missing from cfg_keys\n",
				name);
		abort();
	}
	return i;
}

/* ---- settings (defaults and per-target overrides) ---- */

/* Store v (taking its string) in the field of k. */
static void
settings_store(Settings *st, const CfgKey *k, Value *v)
{
	void	   *f = (char *) st + k->setting;

	switch (k->type)
	{
		case CFG_T_DURATION:
			*(int64_t *) f = v->num;
			break;
		case CFG_T_INT:
			*(int *) f = (int) v->num;
			break;
		case CFG_T_ENUM:
			*(DrainPolicy *) f = (DrainPolicy) v->num;
			break;
		case CFG_T_BOOL:
			*(bool *) f = v->num != 0;
			break;
		case CFG_T_STRING:
			free(*(char **) f);
			*(char **) f = v->str;
			v->str = NULL;
			break;
		default:
			abort();
	}
}

static void
settings_init(Settings *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < cfg_nkeys; i++)
	{
		Value		v;

		if (cfg_keys[i].scope != CFG_SCOPE_DEFAULTS)
			continue;
		value_default(&cfg_keys[i], &v);
		settings_store(st, &cfg_keys[i], &v);
		value_clear(&v, false);
	}
}

static void
settings_copy(Settings *dst, const Settings *src)
{
	*dst = *src;
	dst->verify_query = src->verify_query ? xstrdup(src->verify_query) : NULL;
}

static void
settings_free(Settings *st)
{
	free(st->verify_query);
	st->verify_query = NULL;
}

/* Apply the keys of "defaults" set in this group. */
static void
parse_settings(Loader *ld, const config_setting_t *g, config_setting_t **seen,
			   const char *gpath, Settings *st)
{
	for (int i = 0; i < cfg_nkeys; i++)
	{
		Value		v;

		if (cfg_keys[i].scope != CFG_SCOPE_DEFAULTS || seen[i] == NULL)
			continue;
		if (read_key(ld, g, seen, i, gpath, &v) == 0)
			settings_store(st, &cfg_keys[i], &v);
		value_clear(&v, false);
	}
}

/* The first of the (NULL-terminated) keys set in this group, or NULL. */
static config_setting_t *
first_set(config_setting_t **seen, const char *const *names)
{
	for (int i = 0; names[i]; i++)
	{
		config_setting_t *s = seen[key_required(CFG_SCOPE_DEFAULTS, names[i])];

		if (s != NULL)
			return s;
	}
	return NULL;
}

/*
 * Report an inconsistency between settings, at the first of names set in
 * this group; if none is, it was inherited and reported with defaults.
 */
static void
settings_conflict(Loader *ld, config_setting_t **seen, const char *gpath,
				  const char *const *names, const char *fmt,...) PGR_PRINTF(5, 6);
static void
settings_conflict(Loader *ld, config_setting_t **seen, const char *gpath,
				  const char *const *names, const char *fmt,...)
{
	config_setting_t *at = first_set(seen, names);
	char	   *kpath;
	va_list		ap;

	if (at == NULL)
		return;
	kpath = child_path(gpath, config_setting_name(at));
	va_start(ap, fmt);
	add_errv(ld, line_of(at), kpath, fmt, ap);
	va_end(ap);
	free(kpath);
}

static void
check_settings(Loader *ld, const Settings *st, config_setting_t **seen,
			   const char *gpath)
{
	static const char *const overlap[] = {"min_overlap", "drain_timeout", NULL};
	static const char *const warn[] = {"warn_before", "rotation_interval", NULL};
	static const char *const poll[] = {"poll_interval", "drain_timeout", NULL};
	static const char *const expiry[] = {"password_expiry", "rotation_interval", "drain_timeout", NULL};
	static const char *const jitter[] = {"rotation_jitter", "rotation_interval", NULL};
	char		a[32],
				b[32];

	duration_format(st->min_overlap_ms, a, sizeof(a));
	duration_format(st->drain_timeout_ms, b, sizeof(b));
	if (st->min_overlap_ms > st->drain_timeout_ms)
		settings_conflict(ld, seen, gpath, overlap, "min_overlap (%s) is greater than drain_timeout (%s): every drain would time out (make min_overlap <= drain_timeout)", a, b);
	duration_format(st->poll_interval_ms, a, sizeof(a));
	if (st->poll_interval_ms > st->drain_timeout_ms)
		settings_conflict(ld, seen, gpath, poll, "poll_interval (%s) is greater than drain_timeout (%s) (make poll_interval <= drain_timeout)", a, b);
	duration_format(st->warn_before_ms, a, sizeof(a));
	duration_format(st->rotation_interval_ms, b, sizeof(b));
	if (st->warn_before_ms >= st->rotation_interval_ms)
		settings_conflict(ld, seen, gpath, warn, "warn_before (%s) is not less than rotation_interval (%s): status would always warn (make warn_before < rotation_interval)", a, b);
	duration_format(st->rotation_jitter_ms, a, sizeof(a));
	duration_format(st->rotation_interval_ms, b, sizeof(b));
	if (st->rotation_jitter_ms >= st->rotation_interval_ms)
		settings_conflict(ld, seen, gpath, jitter, "rotation_jitter (%s) is not less than rotation_interval (%s): a target could wait a whole interval more (make rotation_jitter < rotation_interval)", a, b);
	duration_format(st->password_expiry_ms, a, sizeof(a));
	duration_format(st->rotation_interval_ms + st->rotation_jitter_ms + st->drain_timeout_ms, b, sizeof(b));
	if (st->password_expiry_ms != 0 &&
		st->password_expiry_ms <= st->rotation_interval_ms + st->rotation_jitter_ms + st->drain_timeout_ms)
		settings_conflict(ld, seen, gpath, expiry, "password_expiry (%s) must exceed rotation_interval + rotation_jitter + drain_timeout (%s), or the active password could expire before the next cycle replaces it (or use \"\" for off)", a, b);
}

/* ---- targets ---- */

/* Why name cannot be a role created by pgrotate, or NULL. */
static const char *
role_name_problem(const char *name)
{
	if (*name == '\0')
		return "it is empty";
	if (strlen(name) > ROLE_NAME_MAX)
		return "it is longer than 63 bytes (PostgreSQL's NAMEDATALEN)";
	if (strncmp(name, "pg_", 3) == 0)
		return "names starting with \"pg_\" are reserved by PostgreSQL";
	if (strcmp(name, "public") == 0 || strcmp(name, "none") == 0)
		return "it is reserved by PostgreSQL";
	return NULL;
}

/* The app conninfo names no user or password: pgrotate supplies both. */
static void
check_app_conninfo(Loader *ld, const config_setting_t *s, const char *gpath,
				   const char *app)
{
	char	   *kpath = child_path(gpath, "app");
	char	   *user = NULL;
	char	   *err = NULL;

	if (db_conninfo_get(app, "user", &user, &err) == 0 && user != NULL)
		add_err(ld, s, kpath, "must not name a user (found user \"%s\"): applications log in as the rotated login roles, which pgrotate supplies",
				user);
	if (db_conninfo_has_password(app))
		add_err(ld, s, kpath, "must not contain a password: pgrotate supplies the rotated role's password");
	free(user);
	free(err);
	free(kpath);
}

static void
parse_target_conn(Loader *ld, const config_setting_t *ts,
				  config_setting_t **seen, const char *gpath, Target *t)
{
	int			admin = key_required(CFG_SCOPE_TARGET, "admin");
	int			app = key_required(CFG_SCOPE_TARGET, "app");
	int			replicas = key_required(CFG_SCOPE_TARGET, "replicas");
	int			poolers = key_required(CFG_SCOPE_TARGET, "poolers");
	Value		v;

	if (read_key(ld, ts, seen, admin, gpath, &v) == 0)
		t->admin = v.str;
	if (read_key(ld, ts, seen, app, gpath, &v) == 0)
	{
		check_app_conninfo(ld, seen[app], gpath, v.str);
		t->app = v.str;
	}
	if (read_key(ld, ts, seen, replicas, gpath, &v) == 0)
		t->replicas = v.list;
	if (read_key(ld, ts, seen, poolers, gpath, &v) == 0)
		t->poolers = v.list;
}

/* Exactly two valid, distinct login roles, neither the group role. */
static int
check_roles(Loader *ld, const config_setting_t *s, const char *kpath,
			const StrList *roles, const char *group_role)
{
	int			nerrs = ld->nerrs;

	if (roles->n != 2)
	{
		add_err(ld, s, kpath, "needs exactly two login roles, not %d (e.g. roles = [ \"app_user_a\", \"app_user_b\" ];)",
				roles->n);
		return -1;
	}
	for (int i = 0; i < 2; i++)
	{
		const char *why = role_name_problem(roles->items[i]);

		if (why != NULL)
			add_err(ld, s, kpath, "\"%s\" is not a usable role name: %s",
					roles->items[i], why);
		else if (group_role && strcmp(roles->items[i], group_role) == 0)
			add_err(ld, s, kpath, "\"%s\" is the group_role; the two login roles must be other roles",
					roles->items[i]);
	}
	if (strcmp(roles->items[0], roles->items[1]) == 0)
		add_err(ld, s, kpath, "both login roles are \"%s\"; they must be two distinct roles",
				roles->items[0]);
	return ld->nerrs == nerrs ? 0 : -1;
}

static void
parse_target_roles(Loader *ld, const config_setting_t *ts,
				   config_setting_t **seen, const char *gpath, Target *t)
{
	int			gi = key_required(CFG_SCOPE_TARGET, "group_role");
	int			ri = key_required(CFG_SCOPE_TARGET, "roles");
	Value		v;
	char	   *kpath;

	if (read_key(ld, ts, seen, gi, gpath, &v) == 0)
	{
		const char *why = role_name_problem(v.str);

		if (why != NULL)
		{
			kpath = child_path(gpath, "group_role");
			add_err(ld, seen[gi] ? seen[gi] : ts, kpath,
					"\"%s\" is not a usable role name: %s", v.str, why);
			free(kpath);
			free(v.str);
		}
		else
			t->group_role = v.str;
	}
	if (read_key(ld, ts, seen, ri, gpath, &v) != 0)
		return;
	kpath = child_path(gpath, "roles");
	if (check_roles(ld, seen[ri], kpath, &v.list, t->group_role) == 0)
	{
		t->roles[0] = xstrdup(v.list.items[0]);
		t->roles[1] = xstrdup(v.list.items[1]);
	}
	free(kpath);
	value_clear(&v, false);
}

/* ---- sinks ---- */

/*
 * A sink's owner or group given as a number must fit a uid_t/gid_t, and
 * not be (uid_t) -1, which fchown reads as "leave unchanged": "4294967296"
 * would otherwise wrap to 0, root. A name is looked up when the sink is
 * written.
 */
static void
check_numeric_id(Loader *ld, const config_setting_t *s, const char *spath,
				 const char *key, const char *str)
{
	/* uid_t and gid_t are unsigned 32-bit integers on Linux */
	const unsigned long long max_id = (unsigned long long) (uid_t) -1 - 1;
	char	   *kpath;
	unsigned long long n;

	_Static_assert(sizeof(uid_t) == sizeof(gid_t), "uid_t and gid_t differ");
	if (str[0] == '\0' || str[strspn(str, "0123456789")] != '\0')
		return;
	errno = 0;
	n = strtoull(str, NULL, 10);
	if (errno == 0 && n <= max_id)
		return;
	kpath = child_path(spath, key);
	add_err(ld, s, kpath, "\"%s\" is out of range for a numeric %s id (0 to %llu; "
			"use the %s name, or a number in that range)", str,
			strcmp(key, "owner") == 0 ? "user" : "group", max_id,
			strcmp(key, "owner") == 0 ? "user" : "group");
	free(kpath);
}

static void
parse_file_sink(Loader *ld, const config_setting_t *el,
				config_setting_t **seen, const char *spath, SinkCfg *sc)
{
	const CfgScope sc_file = CFG_SCOPE_FILE_SINK;
	int			pi = key_required(sc_file, "path");
	int			oi = key_required(sc_file, "owner");
	int			gi = key_required(sc_file, "group");
	Value		v;

	if (read_key(ld, el, seen, pi, spath, &v) == 0)
	{
		char	   *kpath = child_path(spath, "path");
		size_t		len = strlen(v.str);

		if (v.str[0] != '/')
			add_err(ld, seen[pi], kpath, "\"%s\" is not an absolute path", v.str);
		else if (v.str[len - 1] == '/')
			add_err(ld, seen[pi], kpath, "\"%s\" names a directory; give the path of the file to write", v.str);
		sc->path = v.str;
		free(kpath);
	}
	if (read_key(ld, el, seen, key_required(sc_file, "format"), spath, &v) == 0)
		sc->format = (SinkFormat) v.num;
	if (read_key(ld, el, seen, key_required(sc_file, "mode"), spath, &v) == 0)
		sc->mode = (mode_t) v.num;
	if (read_key(ld, el, seen, oi, spath, &v) == 0)
	{
		sc->owner = v.str;
		if (v.str)
			check_numeric_id(ld, seen[oi], spath, "owner", v.str);
	}
	if (read_key(ld, el, seen, gi, spath, &v) == 0)
	{
		sc->group = v.str;
		if (v.str)
			check_numeric_id(ld, seen[gi], spath, "group", v.str);
	}
}

static void
parse_command_sink(Loader *ld, const config_setting_t *el,
				   config_setting_t **seen, const char *spath, SinkCfg *sc)
{
	const CfgScope sc_cmd = CFG_SCOPE_COMMAND_SINK;
	int			ai = key_required(sc_cmd, "argv");
	Value		v;

	if (read_key(ld, el, seen, ai, spath, &v) == 0)
	{
		char	   *kpath = child_path(spath, "argv");

		if (v.list.n == 0)
			add_err(ld, seen[ai], kpath, "must name a program (e.g. argv = [ \"/usr/local/bin/push-secret\", \"appdb\" ];)");
		else if (v.list.items[0][0] != '/')
			add_err(ld, seen[ai], kpath, "the program \"%s\" must be an absolute path (no shell and no PATH search are used)",
					v.list.items[0]);
		sc->argc = v.list.n;
		sc->argv = xcalloc(v.list.n + 1, sizeof(char *));
		for (int i = 0; i < v.list.n; i++)
			sc->argv[i] = xstrdup(v.list.items[i]);
		value_clear(&v, false);
		free(kpath);
	}
	if (read_key(ld, el, seen, key_required(sc_cmd, "timeout"), spath, &v) == 0)
		sc->timeout_ms = v.num;
}

static void
parse_sink(Loader *ld, const config_setting_t *el, const char *spath,
		   SinkCfg *sc)
{
	config_setting_t *tm;
	config_setting_t **seen;
	char	   *kpath;
	Value		v = {0};
	CfgScope	scope;

	sc->line = (int) line_of(el);
	if (!config_setting_is_group(el))
	{
		add_err(ld, el, spath, "must be a group { type = \"file\"; ... }, not %s",
				type_phrase(el));
		return;
	}
	if ((tm = config_setting_get_member(el, "type")) == NULL)
	{
		add_err(ld, el, spath, "type is missing (use type = \"file\" or type = \"command\")");
		return;
	}
	kpath = child_path(spath, "type");
	if (read_value(ld, key_named(CFG_SCOPE_FILE_SINK, "type"), tm, kpath, &v) != 0)
	{
		free(kpath);
		return;
	}
	free(kpath);
	sc->type = (SinkType) v.num;
	scope = sc->type == SINK_FILE ? CFG_SCOPE_FILE_SINK : CFG_SCOPE_COMMAND_SINK;
	seen = xcalloc(cfg_nkeys, sizeof(*seen));
	scan_group(ld, el, SCOPE_BIT(scope), spath, NULL, seen);
	if (sc->type == SINK_FILE)
		parse_file_sink(ld, el, seen, spath, sc);
	else
		parse_command_sink(ld, el, seen, spath, sc);
	free(seen);
}

static void
parse_sinks(Loader *ld, const config_setting_t *ts, config_setting_t **seen,
			const char *gpath, Target *t)
{
	int			si = key_required(CFG_SCOPE_TARGET, "sinks");
	config_setting_t *s = seen[si];
	char	   *kpath;
	Value		v;

	if (s == NULL)
	{
		read_key(ld, ts, seen, si, gpath, &v);	/* reports it missing */
		return;
	}
	kpath = child_path(gpath, "sinks");
	if (!config_setting_is_list(s))
		add_err(ld, s, kpath, "must be a list of groups, not %s: sinks = ( { type = \"file\"; ... }, { type = \"command\"; ... } );",
				type_phrase(s));
	else if (config_setting_length(s) == 0)
		add_err(ld, s, kpath, "is empty: the new password would reach no application (add a file or command sink)");
	else
	{
		t->nsinks = config_setting_length(s);
		t->sinks = xcalloc(t->nsinks, sizeof(SinkCfg));
		for (int i = 0; i < t->nsinks; i++)
		{
			char	   *spath = xasprintf("%s[%d]", kpath, i);

			parse_sink(ld, config_setting_get_elem(s, i), spath, &t->sinks[i]);
			free(spath);
		}
	}
	free(kpath);
}

/* The env format has no quoting: role names must be plain. */
static void
check_env_sinks(Loader *ld, const char *gpath, const Target *t)
{
	for (int i = 0; i < t->nsinks; i++)
	{
		const SinkCfg *sc = &t->sinks[i];

		if (sc->type != SINK_FILE || sc->format != SINK_FMT_ENV)
			continue;
		for (int r = 0; r < 2; r++)
		{
			char	   *spath;

			if (t->roles[r] == NULL ||
				strspn(t->roles[r], ENV_SAFE_CHARS) == strlen(t->roles[r]))
				continue;
			spath = xasprintf("%s.sinks[%d]", gpath, i);
			add_err_at(ld, (unsigned) sc->line, spath,
					   "format env cannot carry the role name \"%s\" (it has no quoting; only [A-Za-z0-9_.@-] fit): use format = \"json\"",
					   t->roles[r]);
			free(spath);
		}
	}
}

/* ---- targets ---- */

static void
check_target_name(Loader *ld, const config_setting_t *ts, const char *gpath)
{
	const char *name = config_setting_name(ts);
	size_t		len = strlen(name);

	if (len > ROLE_NAME_MAX ||
		strspn(name, ENV_SAFE_CHARS) != len || strpbrk(name, ".@") != NULL)
		add_err(ld, ts, gpath, "target name \"%s\" may only contain letters, digits, \"_\" and \"-\" (at most 63 bytes)",
				name);
}

static void
parse_target(Loader *ld, config_setting_t *ts, const Settings *defaults,
			 Target *t)
{
	config_setting_t **seen = xcalloc(cfg_nkeys, sizeof(*seen));
	char	   *gpath = child_path("targets", config_setting_name(ts));

	t->name = xstrdup(config_setting_name(ts));
	t->line = (int) line_of(ts);
	settings_copy(&t->s, defaults);
	check_target_name(ld, ts, gpath);
	if (!config_setting_is_group(ts))
		add_err(ld, ts, gpath, "must be a group, not %s: %s = { admin = \"...\"; app = \"...\"; roles = [ ... ]; sinks = ( ... ); };",
				type_phrase(ts), t->name);
	else
	{
		scan_group(ld, ts, SCOPE_BIT(CFG_SCOPE_TARGET) |
				   SCOPE_BIT(CFG_SCOPE_DEFAULTS), gpath, NULL, seen);
		parse_settings(ld, ts, seen, gpath, &t->s);
		check_settings(ld, &t->s, seen, gpath);
		parse_target_conn(ld, ts, seen, gpath, t);
		parse_target_roles(ld, ts, seen, gpath, t);
		parse_sinks(ld, ts, seen, gpath, t);
		check_env_sinks(ld, gpath, t);
	}
	free(seen);
	free(gpath);
}

/* A login role may belong to one target only. */
static void
check_shared_roles(Loader *ld, const Config *cfg)
{
	for (int i = 0; i < cfg->ntargets; i++)
		for (int j = 0; j < i; j++)
			for (int a = 0; a < 2; a++)
				for (int b = 0; b < 2; b++)
				{
					const Target *ti = &cfg->targets[i];
					const Target *tj = &cfg->targets[j];
					char	   *kpath;

					if (!ti->roles[a] || !tj->roles[b] ||
						strcmp(ti->roles[a], tj->roles[b]) != 0)
						continue;
					kpath = xasprintf("targets.%s.roles", ti->name);
					add_err_at(ld, (unsigned) ti->line, kpath,
							   "role \"%s\" is also a login role of target \"%s\" (line %d); targets \"%s\" and \"%s\" each need their own two roles",
							   ti->roles[a], tj->name, tj->line, tj->name, ti->name);
					free(kpath);
				}
}

/* Two file sinks writing one file would overwrite each other. */
static void
check_shared_paths(Loader *ld, const Config *cfg)
{
	for (int i = 0; i < cfg->ntargets; i++)
		for (int k = 0; k < cfg->targets[i].nsinks; k++)
		{
			const SinkCfg *s = &cfg->targets[i].sinks[k];
			bool		found = false;

			if (s->type != SINK_FILE || s->path == NULL)
				continue;
			for (int j = 0; j <= i && !found; j++)
				for (int m = 0; m < cfg->targets[j].nsinks && !found; m++)
				{
					const SinkCfg *o = &cfg->targets[j].sinks[m];
					char	   *kpath;

					if ((j == i && m >= k) || o->type != SINK_FILE ||
						o->path == NULL || strcmp(o->path, s->path) != 0)
						continue;
					found = true;
					kpath = xasprintf("targets.%s.sinks[%d].path",
									  cfg->targets[i].name, k);
					add_err_at(ld, (unsigned) s->line, kpath,
							   "\"%s\" is also written by targets.%s.sinks[%d] (line %d); each file sink needs its own file",
							   s->path, cfg->targets[j].name, m, o->line);
					free(kpath);
				}
		}
}

/* ---- top level ---- */

static void
parse_defaults(Loader *ld, const config_setting_t *g, Settings *st)
{
	config_setting_t **seen;

	if (g == NULL)
		return;
	if (!config_setting_is_group(g))
	{
		add_err(ld, g, "defaults", "must be a group, not %s: defaults = { min_overlap = \"15m\"; ... };",
				type_phrase(g));
		return;
	}
	seen = xcalloc(cfg_nkeys, sizeof(*seen));
	scan_group(ld, g, SCOPE_BIT(CFG_SCOPE_DEFAULTS), "defaults", NULL, seen);
	parse_settings(ld, g, seen, "defaults", st);
	check_settings(ld, st, seen, "defaults");
	free(seen);
}

static void
parse_targets(Loader *ld, const config_setting_t *g, Config *cfg)
{
	if (g == NULL)
	{
		add_err(ld, NULL, NULL, "no targets defined (add targets = { appdb = { admin = \"...\"; app = \"...\"; ... }; };)");
		return;
	}
	if (!config_setting_is_group(g))
	{
		add_err(ld, g, "targets", "must be a group of targets, not %s: targets = { appdb = { ... }; };",
				type_phrase(g));
		return;
	}
	if (config_setting_length(g) == 0)
	{
		add_err(ld, g, "targets", "no targets defined (add e.g. appdb = { admin = \"...\"; app = \"...\"; ... };)");
		return;
	}
	cfg->ntargets = config_setting_length(g);
	cfg->targets = xcalloc(cfg->ntargets, sizeof(Target));
	for (int i = 0; i < cfg->ntargets; i++)
		parse_target(ld, config_setting_get_elem(g, i), &cfg->defaults,
					 &cfg->targets[i]);
	check_shared_roles(ld, cfg);
	check_shared_paths(ld, cfg);
}

static void
parse_root(Loader *ld, const config_t *cf, Config *cfg)
{
	config_setting_t *root = config_root_setting(cf);
	config_setting_t **seen = xcalloc(cfg_nkeys, sizeof(*seen));
	int			sd = key_required(CFG_SCOPE_TOP, "state_dir");
	Value		v;

	scan_group(ld, root, SCOPE_BIT(CFG_SCOPE_TOP), "", top_groups, seen);
	if (read_key(ld, root, seen, sd, "", &v) == 0)
	{
		if (v.str[0] != '/')
			add_err(ld, seen[sd], "state_dir", "\"%s\" is not an absolute path",
					v.str);
		cfg->state_dir = v.str;
	}
	parse_defaults(ld, config_setting_get_member(root, "defaults"),
				   &cfg->defaults);
	parse_targets(ld, config_setting_get_member(root, "targets"), cfg);
	free(seen);
}

/* ---- the file ---- */

static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory";
	if (S_ISFIFO(mode))
		return "is a FIFO (named pipe)";
	if (S_ISCHR(mode))
		return "is a character device";
	if (S_ISBLK(mode))
		return "is a block device";
	if (S_ISSOCK(mode))
		return "is a socket";
	return "is not a regular file";
}

static void
open_error(Loader *ld, int err)
{
	if (err == ENOENT)
		add_err(ld, NULL, NULL, "no such file (create it, or name another with -c FILE or PGROTATE_CONFIG)");
	else if (err == EACCES)
		add_err(ld, NULL, NULL, "cannot read the configuration file: %s (run pgrotate as a user that can read it)",
				strerror(err));
	else
		add_err(ld, NULL, NULL, "cannot open the configuration file: %s",
				strerror(err));
}

/*
 * Open path for reading: a special file is refused by its kind before it
 * is opened (a FIFO or device could block or never end); then the path is
 * resolved without symlinks and the file and each folder held to the
 * config rule (safefile.h): anyone who could change the file could make
 * pgrotate run any command.
 */
static FILE *
open_config(Loader *ld, struct stat *st)
{
	SafeRead	o = {.what = "configuration file", .owner = (uid_t) -1};
	char	   *err = NULL;
	int			fd;
	FILE	   *fp;

	if (lstat(ld->path, st) == 0 && !S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
	{
		add_err(ld, NULL, NULL, "%s, not a configuration file", file_kind(st->st_mode));
		return NULL;
	}
	if ((fd = safe_open(ld->path, SAFE_CONFIG, &o, st, &err)) < 0)
	{
		if (err == NULL)
			open_error(ld, errno);
		else
			add_err(ld, NULL, NULL, "%s", err);
		free(err);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL)
	{
		open_error(ld, errno);
		close(fd);
	}
	return fp;
}

/*
 * @include would read other files past the checks made here (type,
 * permissions), so it is refused.
 */
static void
refuse_includes(Loader *ld, FILE *fp)
{
	char	   *line = NULL;
	size_t		cap = 0;
	unsigned	lineno = 0;

	while (getline(&line, &cap, fp) >= 0)
	{
		const char *p = line + strspn(line, " \t");

		lineno++;
		if (strncmp(p, "@include", 8) == 0)
			add_err_at(ld, lineno, NULL, "@include is not supported (keep the whole configuration in this file)");
	}
	free(line);
	rewind(fp);
}

static void
read_config(Loader *ld, FILE *fp, config_t *cf)
{
	if (config_read(cf, fp) == CONFIG_TRUE)
		return;
	if (config_error_type(cf) == CONFIG_ERR_PARSE)
	{
		const char *text = config_error_text(cf) ? config_error_text(cf) : "";

		/* libconfig 1.5 mostly says just "syntax error" */
		if (strcmp(text, "syntax error") == 0)
			text = "unexpected token (a missing \";\" or \"}\" just before is a common cause)";
		add_err_at(ld, (unsigned) config_error_line(cf), NULL,
				   "syntax error: %s", text);
	}
	else
		add_err(ld, NULL, NULL, "cannot read the configuration file: %s",
				config_error_text(cf) ? config_error_text(cf) : strerror(errno));
}

/* Permissions: group and others must not read a password in it. */
static void
check_file_mode(Loader *ld, const struct stat *st)
{
	if (ld->has_password && (st->st_mode & (S_IRWXG | S_IRWXO)))
		add_err(ld, NULL, NULL, "contains a password but is readable by group or others (hint: Run \"chmod 600 %s\".)",
				ld->path);
}

/* ---- public ---- */

const char *
cfg_default_path(void)
{
	const char *env = getenv("PGROTATE_CONFIG");

	return (env != NULL && *env != '\0') ? env : DEFAULT_CONFIG_PATH;
}

int
cfg_load(const char *path, Config **out, StrList *errs)
{
	Loader		ld = {path, errs, 0, false};
	Config	   *cfg = xcalloc(1, sizeof(Config));
	struct stat st;
	config_t	cf;
	FILE	   *fp;

	*out = NULL;
	cfg->path = xstrdup(path);
	settings_init(&cfg->defaults);
	if ((fp = open_config(&ld, &st)) != NULL)
	{
		refuse_includes(&ld, fp);
		config_init(&cf);
		if (ld.nerrs == 0)
			read_config(&ld, fp, &cf);
		fclose(fp);
		if (ld.nerrs == 0)
		{
			parse_root(&ld, &cf, cfg);
			check_file_mode(&ld, &st);
		}
		config_destroy(&cf);
	}
	if (ld.nerrs > 0)
	{
		cfg_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

static void
target_free(Target *t)
{
	free(t->name);
	free_secret(t->admin);
	free_secret(t->app);
	free(t->group_role);
	free(t->roles[0]);
	free(t->roles[1]);
	strlist_free_secret(&t->replicas);
	strlist_free_secret(&t->poolers);
	for (int i = 0; i < t->nsinks; i++)
	{
		SinkCfg    *sc = &t->sinks[i];

		free(sc->path);
		free(sc->owner);
		free(sc->group);
		for (int j = 0; sc->argv && sc->argv[j]; j++)
			free(sc->argv[j]);
		free(sc->argv);
	}
	free(t->sinks);
	settings_free(&t->s);
}

void
cfg_free(Config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < cfg->ntargets; i++)
		target_free(&cfg->targets[i]);
	free(cfg->targets);
	settings_free(&cfg->defaults);
	free(cfg->state_dir);
	free(cfg->path);
	free(cfg);
}

const Target *
cfg_find_target(const Config *cfg, const char *name)
{
	for (int i = 0; cfg != NULL && i < cfg->ntargets; i++)
		if (strcmp(cfg->targets[i].name, name) == 0)
			return &cfg->targets[i];
	return NULL;
}

const char *
cfg_format_name(SinkFormat f)
{
	for (int i = 0; cfg_format_names[i] != NULL; i++)
		if (i == (int) f)
			return cfg_format_names[i];
	return "unknown";
}

int64_t
cfg_due_offset_ms(const Target *t)
{
	uint64_t	h = UINT64_C(14695981039346656037);	/* FNV-1a, 64 bits */

	if (t->s.rotation_jitter_ms <= 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *) t->name; *p; p++)
	{
		h ^= *p;
		h *= UINT64_C(1099511628211);
	}
	return (int64_t) (h % (uint64_t) t->s.rotation_jitter_ms);
}
