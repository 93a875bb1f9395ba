/*
 * test_config.c: the configuration loader against a corpus of bad and good
 * files (CONFIG_CORPUS), the documentation (DOC_DIR) and the file checks.
 *
 * Each tests/unit/configs/bad/NAME.conf starts with comment lines:
 *   # expect: <a substring of one error message>
 *   # line: N      (optional: that message must start "FILE:N: ")
 * A "# line:" applies to the "# expect:" just before it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "duration.h"
#include "util.h"
#include "../tap.h"

#ifndef CONFIG_CORPUS
#error "compile with -DCONFIG_CORPUS='\"/path/to/tests/unit/configs\"'"
#endif
#ifndef DOC_DIR
#error "compile with -DDOC_DIR='\"/path/to/doc\"'"
#endif

#define SEC		INT64_C(1000)
#define MIN		(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY		(24 * HOUR)

static char tmpdir[] = "/tmp/test_config.XXXXXX";

/* ---- helpers ---- */

static char *
read_whole(const char *path)
{
	FILE	   *f = fopen(path, "r");
	StrBuf		sb;
	char		buf[4096];
	size_t		n;

	if (f == NULL)
		return NULL;
	sb_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_appendn(&sb, buf, n);
	fclose(f);
	return sb_steal(&sb);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
	{
		diag("cannot write %s", path);
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The *.conf files of dir, sorted. */
static StrList
list_confs(const char *dir)
{
	StrList		l = {0};
	DIR		   *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return l;
	while ((e = readdir(d)) != NULL)
	{
		size_t		len = strlen(e->d_name);

		if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0)
			strlist_add(&l, e->d_name);
	}
	closedir(d);
	if (l.n > 0)
		qsort(l.items, l.n, sizeof(char *), cmp_str);
	return l;
}

/* Some message contains substr (and starts with prefix, if given). */
static bool
errs_have(const StrList *errs, const char *substr, const char *prefix)
{
	for (int i = 0; i < errs->n; i++)
		if (strstr(errs->items[i], substr) &&
			(prefix == NULL ||
			 strncmp(errs->items[i], prefix, strlen(prefix)) == 0))
			return true;
	return false;
}

static void
diag_errs(const StrList *errs)
{
	for (int i = 0; i < errs->n; i++)
		diag("  %s", errs->items[i]);
}

/* Load path expecting failure with a message containing substr. */
static void
expect_refused(const char *path, const char *substr, const char *what)
{
	StrList		errs = {0};
	Config	   *cfg = NULL;

	ok(cfg_load(path, &cfg, &errs) == -1 && cfg == NULL, "%s: refused", what);
	if (!ok(errs_have(&errs, substr, NULL), "%s: says \"%s\"", what, substr))
		diag_errs(&errs);
	cfg_free(cfg);
	strlist_free(&errs);
}

/* Load path expecting success; returns the Config (or NULL). */
static Config *
expect_loads(const char *path, const char *what)
{
	StrList		errs = {0};
	Config	   *cfg = NULL;
	int			rc = cfg_load(path, &cfg, &errs);

	if (!ok(rc == 0 && cfg != NULL && errs.n == 0, "%s: loads", what))
		diag_errs(&errs);
	strlist_free(&errs);
	return rc == 0 ? cfg : NULL;
}

/* ---- the bad corpus ---- */

/* Read the "# expect:" and "# line:" header of a corpus file. */
static void
read_expectations(const char *text, StrList *expects, int *lines, int max)
{
	const char *p = text;

	while (p && *p == '#')
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);

		if (strncmp(p, "# expect: ", 10) == 0 && expects->n < max)
		{
			lines[expects->n] = 0;
			strlist_add_owned(expects, xstrndup(p + 10, len - 10));
		}
		else if (strncmp(p, "# line: ", 8) == 0 && expects->n > 0)
			lines[expects->n - 1] = atoi(p + 8);
		p = eol ? eol + 1 : NULL;
	}
}

static void
test_bad_file(const char *dir, const char *name)
{
	char	   *path = xasprintf("%s/%s", dir, name);
	char	   *text = read_whole(path);
	StrList		expects = {0};
	int			lines[16];
	StrList		errs = {0};
	Config		dummy;
	Config	   *cfg = &dummy;
	bool		all_named = true;

	read_expectations(text ? text : "", &expects, lines, 16);
	ok(expects.n > 0, "%s: has # expect: lines", name);
	ok(cfg_load(path, &cfg, &errs) == -1, "%s: cfg_load returns -1", name);
	ok(cfg == NULL, "%s: *out is NULL", name);
	for (int i = 0; i < expects.n; i++)
	{
		char	   *prefix = lines[i] ? xasprintf("%s:%d: ", path, lines[i]) : NULL;

		if (!ok(errs_have(&errs, expects.items[i], prefix),
				"%s: reports \"%s\"%s%s", name, expects.items[i],
				prefix ? " at line " : "", prefix ? strrchr(prefix, '/') + 1 : ""))
			diag_errs(&errs);
		free(prefix);
	}
	for (int i = 0; i < errs.n; i++)
		all_named &= strncmp(errs.items[i], path, strlen(path)) == 0 &&
			errs.items[i][strlen(path)] == ':';
	ok(all_named, "%s: every message starts with the file name", name);
	if (cfg != &dummy)
		cfg_free(cfg);
	strlist_free(&errs);
	strlist_free(&expects);
	free(text);
	free(path);
}

static void
test_bad_corpus(void)
{
	char	   *dir = xasprintf("%s/bad", CONFIG_CORPUS);
	StrList		names = list_confs(dir);

	ok(names.n >= 35, "the bad corpus has at least 35 cases (%d)", names.n);
	for (int i = 0; i < names.n; i++)
		test_bad_file(dir, names.items[i]);
	strlist_free(&names);
	free(dir);
}

/* ---- the good corpus ---- */

static void
test_good_corpus(void)
{
	char	   *dir = xasprintf("%s/good", CONFIG_CORPUS);
	StrList		names = list_confs(dir);

	ok(names.n >= 3, "the good corpus has cases (%d)", names.n);
	for (int i = 0; i < names.n; i++)
	{
		char	   *path = xasprintf("%s/%s", dir, names.items[i]);

		cfg_free(expect_loads(path, names.items[i]));
		free(path);
	}
	strlist_free(&names);
	free(dir);
}

static void
check_default_settings(const Settings *s, const char *who)
{
	is_int(s->rotation_interval_ms, 30 * DAY, "%s: rotation_interval 30d", who);
	is_int(s->warn_before_ms, 3 * DAY, "%s: warn_before 3d", who);
	is_int(s->min_overlap_ms, 15 * MIN, "%s: min_overlap 15m", who);
	is_int(s->drain_timeout_ms, HOUR, "%s: drain_timeout 1h", who);
	is_int(s->poll_interval_ms, SEC, "%s: poll_interval 1s", who);
	is_int(s->on_drain_timeout, DRAIN_FAIL, "%s: on_drain_timeout fail", who);
	is_int(s->emergency_grace_ms, 30 * SEC, "%s: emergency_grace 30s", who);
	is_int(s->password_length, 32, "%s: password_length 32", who);
	is_int(s->password_expiry_ms, 0, "%s: password_expiry off", who);
	is_str(s->verify_query, "SELECT 1", "%s: verify_query", who);
	ok(!s->allow_owned_objects, "%s: allow_owned_objects false", who);
}

static void
test_minimal(void)
{
	Config	   *cfg = expect_loads(CONFIG_CORPUS "/good/minimal.conf", "minimal.conf");
	const Target *t;

	if (cfg == NULL)
		return;
	is_str(cfg->path, CONFIG_CORPUS "/good/minimal.conf", "minimal: path kept");
	is_str(cfg->state_dir, "/var/lib/pgrotate", "minimal: state_dir default");
	check_default_settings(&cfg->defaults, "minimal defaults");
	is_int(cfg->ntargets, 1, "minimal: one target");
	t = cfg_find_target(cfg, "appdb");
	ok(t == &cfg->targets[0], "minimal: cfg_find_target finds appdb");
	ok(cfg_find_target(cfg, "nosuch") == NULL, "minimal: no target nosuch");
	if (t == NULL)
		goto done;
	is_str(t->admin, "host=db1 dbname=appdb user=pgrotate_admin", "minimal: admin");
	is_str(t->app, "host=db1 dbname=appdb", "minimal: app");
	is_str(t->group_role, "app", "minimal: group_role default");
	is_str(t->roles[0], "app_user_a", "minimal: role A");
	is_str(t->roles[1], "app_user_b", "minimal: role B");
	is_int(t->replicas.n, 0, "minimal: no replicas");
	is_int(t->poolers.n, 0, "minimal: no poolers");
	is_int(t->line, 3, "minimal: target line");
	check_default_settings(&t->s, "minimal target");
	is_int(t->nsinks, 1, "minimal: one sink");
	if (t->nsinks == 1)
	{
		is_int(t->sinks[0].type, SINK_FILE, "minimal: file sink");
		is_str(t->sinks[0].path, "/etc/app/db.env", "minimal: sink path");
		is_int(t->sinks[0].format, SINK_FMT_ENV, "minimal: format env default");
		is_int(t->sinks[0].mode, 0600, "minimal: mode 0600 default");
		ok(t->sinks[0].owner == NULL && t->sinks[0].group == NULL,
		   "minimal: no owner or group");
		ok(t->sinks[0].argv == NULL, "minimal: no argv");
		is_int(t->sinks[0].line, 7, "minimal: sink line");
	}
done:
	cfg_free(cfg);
}

static void
check_full_appdb_sinks(const Target *t)
{
	static const SinkFormat fmts[] = {SINK_FMT_ENV, SINK_FMT_JSON,
	SINK_FMT_PGPASS, SINK_FMT_URI, SINK_FMT_PGBOUNCER};
	static const mode_t modes[] = {0640, 0600, 0600, 0400, 0640};
	const SinkCfg *c;

	if (!ok(t->nsinks == 6, "full appdb: six sinks"))
		return;
	for (int i = 0; i < 5; i++)
	{
		ok(t->sinks[i].type == SINK_FILE, "full appdb: sink %d is a file", i);
		is_int(t->sinks[i].format, fmts[i], "full appdb: sink %d format %s", i,
			   cfg_format_name(fmts[i]));
		is_int(t->sinks[i].mode, modes[i], "full appdb: sink %d mode %o", i,
			   (unsigned) modes[i]);
	}
	is_str(t->sinks[2].path, "/etc/app/pgpass", "full appdb: pgpass path");
	is_str(t->sinks[0].owner, "app", "full appdb: owner");
	is_str(t->sinks[0].group, "app", "full appdb: group");
	is_str(t->sinks[4].owner, "postgres", "full appdb: pgbouncer owner");
	ok(t->sinks[1].owner == NULL, "full appdb: json sink has no owner");
	c = &t->sinks[5];
	is_int(c->type, SINK_COMMAND, "full appdb: sink 5 is a command");
	is_int(c->argc, 2, "full appdb: argc");
	if (c->argc == 2)
	{
		is_str(c->argv[0], "/usr/local/bin/push-secret", "full appdb: argv[0]");
		is_str(c->argv[1], "appdb", "full appdb: argv[1]");
		ok(c->argv[2] == NULL, "full appdb: argv NULL-terminated");
	}
	is_int(c->timeout_ms, 90 * SEC, "full appdb: timeout 1m30s");
	ok(c->path == NULL, "full appdb: command sink has no path");
}

static void
check_full_defaults(const Settings *s, const char *who)
{
	is_int(s->rotation_interval_ms, 14 * DAY, "%s: rotation_interval", who);
	is_int(s->warn_before_ms, 2 * DAY, "%s: warn_before", who);
	is_int(s->min_overlap_ms, 10 * MIN, "%s: min_overlap", who);
	is_int(s->drain_timeout_ms, 2 * HOUR, "%s: drain_timeout", who);
	is_int(s->poll_interval_ms, 500, "%s: poll_interval 500ms", who);
	is_int(s->on_drain_timeout, DRAIN_TERMINATE, "%s: on_drain_timeout", who);
	is_int(s->emergency_grace_ms, 45 * SEC, "%s: emergency_grace", who);
	is_int(s->password_length, 40, "%s: password_length", who);
	is_int(s->password_expiry_ms, 90 * DAY, "%s: password_expiry", who);
	is_str(s->verify_query, "SELECT count(*) FROM pg_class", "%s: verify_query", who);
	ok(!s->allow_owned_objects, "%s: allow_owned_objects default false", who);
}

static void
check_full_reports(const Target *r)
{
	is_str(r->admin, "postgresql://pgrotate_admin@db9/reports", "full reports: admin URI");
	is_str(r->group_role, "reporting", "full reports: group_role");
	is_str(r->roles[0], "reporting@a", "full reports: role A");
	is_str(r->roles[1], "reporting.b", "full reports: role B");
	/* overridden */
	is_int(r->s.min_overlap_ms, 2 * HOUR, "full reports: min_overlap override");
	is_int(r->s.drain_timeout_ms, 3 * HOUR, "full reports: drain_timeout override");
	is_int(r->s.on_drain_timeout, DRAIN_FAIL, "full reports: on_drain_timeout override");
	is_int(r->s.password_length, 64, "full reports: password_length override");
	is_int(r->s.password_expiry_ms, 0, "full reports: password_expiry \"\" is off");
	is_str(r->s.verify_query, "SELECT 2", "full reports: verify_query override");
	ok(r->s.allow_owned_objects, "full reports: allow_owned_objects override");
	/* inherited from defaults */
	is_int(r->s.rotation_interval_ms, 14 * DAY, "full reports: rotation_interval inherited");
	is_int(r->s.poll_interval_ms, 500, "full reports: poll_interval inherited");
	is_int(r->s.emergency_grace_ms, 45 * SEC, "full reports: emergency_grace inherited");
	is_int(r->nsinks, 1, "full reports: one sink");
	if (r->nsinks == 1)
	{
		is_int(r->sinks[0].type, SINK_COMMAND, "full reports: command sink");
		is_int(r->sinks[0].argc, 1, "full reports: argc 1");
		is_int(r->sinks[0].timeout_ms, 30 * SEC, "full reports: timeout default 30s");
	}
}

static void
test_full(void)
{
	Config	   *cfg = expect_loads(CONFIG_CORPUS "/good/full.conf", "full.conf");
	const Target *t,
			   *r;

	if (cfg == NULL)
		return;
	is_str(cfg->state_dir, "/srv/pgrotate/state", "full: state_dir");
	check_full_defaults(&cfg->defaults, "full defaults");
	is_int(cfg->ntargets, 2, "full: two targets");
	t = cfg_find_target(cfg, "appdb");
	r = cfg_find_target(cfg, "reports");
	if (t != NULL && r != NULL)
	{
		check_full_defaults(&t->s, "full appdb");
		ok(t->s.verify_query != cfg->defaults.verify_query,
		   "full: each target owns its verify_query");
		is_int(t->replicas.n, 2, "full appdb: two replicas");
		if (t->replicas.n == 2)
			is_str(t->replicas.items[1], "postgresql://pgrotate_admin@db3:5433/appdb",
				   "full appdb: replica URI");
		is_int(t->poolers.n, 1, "full appdb: one pooler");
		check_full_appdb_sinks(t);
		check_full_reports(r);
	}
	else
		ok(false, "full: targets appdb and reports found");
	cfg_free(cfg);
}

static void
test_numbers(void)
{
	Config	   *cfg = expect_loads(CONFIG_CORPUS "/good/numbers.conf", "numbers.conf");
	const Target *t;

	if (cfg == NULL)
		return;
	is_int(cfg->defaults.rotation_interval_ms, DAY, "numbers: 86400 is one day");
	is_int(cfg->defaults.warn_before_ms, HOUR, "numbers: \"3600\" is one hour");
	is_int(cfg->defaults.min_overlap_ms, 0, "numbers: min_overlap 0 allowed");
	is_int(cfg->defaults.drain_timeout_ms, 10 * MIN, "numbers: 600L is ten minutes");
	is_int(cfg->defaults.poll_interval_ms, SEC, "numbers: \"1\" is one second");
	is_int(cfg->defaults.password_expiry_ms, 0, "numbers: password_expiry 0 is off");
	is_int(cfg->defaults.emergency_grace_ms, HOUR + 30 * MIN, "numbers: 1h30m");
	t = cfg_find_target(cfg, "x-1");
	if (ok(t != NULL, "numbers: target x-1"))
	{
		is_int(t->s.poll_interval_ms, 10 * MIN, "numbers: poll_interval override");
		is_int(t->s.min_overlap_ms, 10 * MIN,
			   "numbers: min_overlap equal to drain_timeout is allowed");
		is_str(t->app, "", "numbers: empty app conninfo");
		if (t->nsinks == 1)
		{
			is_int(t->sinks[0].format, SINK_FMT_JSON, "numbers: json sink");
			is_str(t->sinks[0].owner, "4294967294",
				   "numbers: owner 4294967294 (uid_t max but -1) is accepted");
			is_str(t->sinks[0].group, "0", "numbers: group 0 is accepted");
		}
	}
	cfg_free(cfg);
}

/* ---- the key table and the documentation ---- */

/*
 * text sets name: "name =" at the start of a line, after "{" or ";", or
 * commented out with "#" (the sample config sets every key).
 */
static bool
has_assignment(const char *text, const char *name)
{
	size_t		len = strlen(name);

	for (const char *p = strstr(text, name); p != NULL; p = strstr(p + 1, name))
	{
		const char *q = p + len;

		if (p > text && strchr(" \t\n{;#", p[-1]) == NULL)
			continue;
		q += strspn(q, " \t");
		if (*q == '=')
			return true;
	}
	return false;
}

/* The man page documents name in a list item ".It Cm name". */
static bool
has_man_item(const char *text, const char *name)
{
	char	   *item = xasprintf("\n.It Cm %s", name);
	const char *p = text;
	bool		found = false;

	while (!found && (p = strstr(p, item)) != NULL)
	{
		char		next = p[strlen(item)];

		found = next == '\n' || next == ' ';
		p++;
	}
	free(item);
	return found;
}

static void
test_docs(void)
{
	char	   *man = read_whole(DOC_DIR "/pgrotate.conf.5");
	char	   *sample = read_whole(DOC_DIR "/pgrotate.conf.sample");
	bool		man_ok = man != NULL,
				sample_ok = sample != NULL;

	ok(man != NULL, "doc/pgrotate.conf.5 is readable");
	ok(sample != NULL, "doc/pgrotate.conf.sample is readable");
	for (int i = 0; i < cfg_nkeys && man && sample; i++)
	{
		if (!has_man_item(man, cfg_keys[i].name))
		{
			diag("key %s is not documented in pgrotate.conf.5 (.It Cm %s)",
				 cfg_keys[i].name, cfg_keys[i].name);
			man_ok = false;
		}
		if (!has_assignment(sample, cfg_keys[i].name))
		{
			diag("key %s is not set in pgrotate.conf.sample", cfg_keys[i].name);
			sample_ok = false;
		}
	}
	ok(man_ok, "every key of cfg_keys[] is documented in pgrotate.conf.5");
	ok(sample_ok, "every key of cfg_keys[] is set in pgrotate.conf.sample");
	ok(man && strstr(man, "1h30m") && strstr(man, "500ms"),
	   "pgrotate.conf.5 documents the duration syntax");
	for (int f = SINK_FMT_ENV; man && f <= SINK_FMT_PGBOUNCER; f++)
		ok(strstr(man, cfg_format_name((SinkFormat) f)) != NULL,
		   "pgrotate.conf.5 documents format %s", cfg_format_name((SinkFormat) f));
	cfg_free(expect_loads(DOC_DIR "/pgrotate.conf.sample", "the sample config"));
	free(man);
	free(sample);
}

static bool
default_is_valid(const CfgKey *k)
{
	int64_t		ms;

	switch (k->type)
	{
		case CFG_T_DURATION:
			return k->default_text[0] == '\0' ||
				(duration_parse(k->default_text, &ms) == 0 && ms >= k->min);
		case CFG_T_INT:
			return atoll(k->default_text) >= k->min &&
				(k->max == 0 || atoll(k->default_text) <= k->max);
		case CFG_T_ENUM:
			for (int i = 0; k->enum_values && k->enum_values[i]; i++)
				if (strcmp(k->enum_values[i], k->default_text) == 0)
					return true;
			return false;
		default:
			return true;
	}
}

/* Each key of defaults has its own Settings field, of the size of its type. */
static void
test_settings_offsets(void)
{
	for (int i = 0; i < cfg_nkeys; i++)
	{
		const CfgKey *k = &cfg_keys[i];
		size_t		size = k->type == CFG_T_STRING ? sizeof(char *) :
			k->type == CFG_T_DURATION ? sizeof(int64_t) :
			k->type == CFG_T_BOOL ? sizeof(bool) : sizeof(int);
		bool		alone = true;

		if (k->scope != CFG_SCOPE_DEFAULTS)
			continue;
		for (int j = 0; j < i; j++)
			alone &= cfg_keys[j].scope != CFG_SCOPE_DEFAULTS || cfg_keys[j].setting != k->setting;
		ok(alone && k->setting + size <= sizeof(Settings), "key %s has its own Settings field",
		   k->name);
	}
}

static void
test_key_table(void)
{
	bool		docs = true,
				defaults = true,
				unique = true,
				required = true;

	ok(cfg_nkeys > 20, "the key table has %d keys", cfg_nkeys);
	for (int i = 0; i < cfg_nkeys; i++)
	{
		const CfgKey *k = &cfg_keys[i];

		docs &= k->doc != NULL && *k->doc != '\0';
		defaults &= k->default_text == NULL || default_is_valid(k);
		required &= !(k->required && k->default_text != NULL);
		for (int j = 0; j < i; j++)
			unique &= !(cfg_keys[j].scope == k->scope &&
						strcmp(cfg_keys[j].name, k->name) == 0);
		if (k->type == CFG_T_ENUM)
			ok(k->enum_values != NULL, "enum key %s lists its values", k->name);
	}
	ok(docs, "every key has a doc line");
	ok(defaults, "every default is valid for its key");
	ok(required, "no required key has a default");
	ok(unique, "no key is declared twice in one scope");
	is_str(cfg_format_name(SINK_FMT_ENV), "env", "cfg_format_name env");
	is_str(cfg_format_name(SINK_FMT_PGBOUNCER), "pgbouncer", "cfg_format_name pgbouncer");
	for (int i = 0; i < cfg_nkeys; i++)
		if (strcmp(cfg_keys[i].name, "format") == 0)
			ok(cfg_keys[i].enum_values == cfg_format_names, "format's values are cfg_format_names");
	is_str(cfg_format_names[SINK_FMT_JSON], "json", "format values are in SinkFormat order");
	is_str(cfg_format_names[SINK_FMT_URI], "uri", "format values are in SinkFormat order");
	is_str(cfg_format_name((SinkFormat) 99), "unknown", "cfg_format_name out of range");
	test_settings_offsets();
}

/* ---- the file itself ---- */

static const char *const password_config =
"targets = {\n"
"  appdb = {\n"
"    admin = \"host=db1 dbname=appdb user=pgrotate_admin password=hunter2\";\n"
"    app   = \"host=db1 dbname=appdb\";\n"
"    roles = [ \"app_user_a\", \"app_user_b\" ];\n"
"    sinks = ( { type = \"file\"; path = \"/etc/app/db.env\"; } );\n"
"  };\n"
"};\n";

static void
test_permissions(void)
{
	char	   *path = xasprintf("%s/secret.conf", tmpdir);
	char	   *msg = xasprintf("%s: contains a password but is readable by group or others (hint: Run \"chmod 600 %s\".)",
								path, path);
	StrList		errs = {0};
	Config	   *cfg = NULL;

	write_file(path, password_config, 0640);
	cfg_load(path, &cfg, &errs);
	if (!ok(cfg == NULL && errs.n == 1 && strcmp(errs.items[0], msg) == 0,
			"a password in a group-readable file is refused"))
		diag_errs(&errs);
	ok(errs.n == 1 && strstr(errs.items[0], "hunter2") == NULL,
	   "the message does not show the password");
	strlist_free(&errs);
	chmod(path, 0604);
	expect_refused(path, "readable by group or others", "a password in an others-readable file");
	chmod(path, 0600);
	cfg = expect_loads(path, "a password in a 0600 file");
	if (cfg)
		is_str(cfg->targets[0].admin,
			   "host=db1 dbname=appdb user=pgrotate_admin password=hunter2",
			   "the admin conninfo keeps its password");
	cfg_free(cfg);
	chmod(path, 0646);
	expect_refused(path, "writable by group or others", "an others-writable file");
	unlink(path);
	free(path);
	free(msg);
}

/* Load path expecting a refusal that says both substrings. */
static void
expect_refused2(const char *path, const char *s1, const char *s2, const char *what)
{
	StrList		errs = {0};
	Config	   *cfg = NULL;

	ok(cfg_load(path, &cfg, &errs) == -1 && cfg == NULL, "%s: refused", what);
	if (!ok(errs_have(&errs, s1, NULL) && errs_have(&errs, s2, NULL),
			"%s: says \"%s\" and \"%s\"", what, s1, s2))
		diag_errs(&errs);
	cfg_free(cfg);
	strlist_free(&errs);
}

/*
 * Who may change the config (ssh-style): anyone who can would add a
 * command sink that pgrotate runs. Each case reproduces one way in.
 */
static const char *const sslpassword_config =
"targets = {\n"
"  appdb = {\n"
"    admin = \"host=db1 dbname=appdb user=pgrotate_admin sslpassword=hunter2\";\n"
"    app   = \"host=db1 dbname=appdb\";\n"
"    roles = [ \"app_user_a\", \"app_user_b\" ];\n"
"    sinks = ( { type = \"file\"; path = \"/etc/app/db.env\"; } );\n"
"  };\n"
"};\n";

static void
test_trust_any_user(void)
{
	char	   *path = xasprintf("%s/trust.conf", tmpdir);
	char	   *real = xasprintf("%s/real", tmpdir);
	char	   *inreal = xasprintf("%s/real/trust.conf", tmpdir);
	char	   *link = xasprintf("%s/link", tmpdir);
	char	   *via = xasprintf("%s/link/trust.conf", tmpdir);
	char	   *gw = xasprintf("%s/gw", tmpdir);
	char	   *ingw = xasprintf("%s/gw/trust.conf", tmpdir);
	char	   *fix = xasprintf("chmod go-w %s", path);

	write_file(path, password_config, 0620);
	expect_refused2(path, "is writable by group or others (mode 0620)", fix,
					"a group-writable config");
	unlink(path);
	free(fix);

	mkdir(real, 0700);
	write_file(inreal, password_config, 0600);
	if (symlink(real, link) != 0)
		diag("symlink: %s", strerror(errno));
	expect_refused2(via, "is a symbolic link", link,
					"a config reached through a symlinked folder");
	cfg_free(expect_loads(inreal, "the same config by its real path"));
	unlink(inreal);
	unlink(link);
	rmdir(real);

	mkdir(gw, 0700);
	chmod(gw, 0770);
	write_file(ingw, password_config, 0600);
	fix = xasprintf("chmod go-w %s", gw);
	expect_refused2(ingw, "is writable by group or others (mode 0770)", fix,
					"a config in a group-writable folder");
	unlink(ingw);
	rmdir(gw);
	free(fix);

	write_file(path, sslpassword_config, 0644);
	expect_refused(path, "contains a password but is readable by group or others",
				   "sslpassword in a world-readable config");
	chmod(path, 0600);
	cfg_free(expect_loads(path, "sslpassword in a 0600 config"));
	unlink(path);
	free(path);
	free(real);
	free(inreal);
	free(link);
	free(via);
	free(gw);
	free(ingw);
}

/* The cases that need another user's files: root only. */
static void
test_trust_root(void)
{
	char	   *path = xasprintf("%s/trust.conf", tmpdir);
	char	   *theirs = xasprintf("%s/theirs", tmpdir);
	char	   *intheirs = xasprintf("%s/theirs/trust.conf", tmpdir);
	char	   *sticky = xasprintf("%s/sticky", tmpdir);
	char	   *sub = xasprintf("%s/sticky/sub", tmpdir);
	char	   *insub = xasprintf("%s/sticky/sub/trust.conf", tmpdir);
	char	   *mine = xasprintf("%s/sticky/trust.conf", tmpdir);
	char	   *fix;

	write_file(path, password_config, 0600);
	chmod(path, 0644);
	chown(path, 65534, 65534);
	fix = xasprintf("chown root %s", path);
	expect_refused2(path, "belongs to uid 65534", fix, "a config owned by nobody");
	free(fix);
	unlink(path);

	mkdir(theirs, 0755);
	write_file(intheirs, password_config, 0600);
	chown(theirs, 65534, 65534);
	fix = xasprintf("chown root %s", theirs);
	expect_refused2(intheirs, "belongs to uid 65534", fix,
					"a root 0600 config in a folder owned by nobody");
	free(fix);
	unlink(intheirs);
	rmdir(theirs);

	mkdir(sticky, 0755);
	chmod(sticky, 01777);
	write_file(mine, password_config, 0600);
	cfg_free(expect_loads(mine, "a root 0600 config in a sticky folder"));
	mkdir(sub, 0755);
	write_file(insub, password_config, 0600);
	chown(sub, 65534, 65534);
	fix = xasprintf("chown root %s", sub);
	expect_refused2(insub, "is writable by others (mode 1777)", fix,
					"a config below a sticky folder, in a folder of nobody's");
	free(fix);
	unlink(insub);
	rmdir(sub);
	unlink(mine);
	rmdir(sticky);
	free(path);
	free(theirs);
	free(intheirs);
	free(sticky);
	free(sub);
	free(insub);
	free(mine);
}

static void
test_file_kinds(void)
{
	char	   *missing = xasprintf("%s/nosuch.conf", tmpdir);
	char	   *fifo = xasprintf("%s/fifo.conf", tmpdir);
	char	   *unreadable = xasprintf("%s/unreadable.conf", tmpdir);

	expect_refused(missing, "no such file", "a missing file");
	expect_refused(tmpdir, "is a directory", "a directory");
	expect_refused("/dev/null", "is a character device", "/dev/null");
	expect_refused("/dev/zero", "is a character device", "/dev/zero");
	if (mkfifo(fifo, 0600) == 0)
		expect_refused(fifo, "is a FIFO", "a FIFO (does not block)");
	else
		ok(false, "mkfifo %s", fifo);
	unlink(fifo);
	write_file(unreadable, "targets = {};\n", 0000);
	if (geteuid() != 0)
		expect_refused(unreadable, "Permission denied", "an unreadable file");
	else
		ok(true, "# SKIP unreadable file: running as root");
	unlink(unreadable);
	free(missing);
	free(fifo);
	free(unreadable);
}

static void
test_errs_appended(void)
{
	StrList		errs = {0};
	Config	   *cfg = NULL;

	strlist_add(&errs, "earlier");
	cfg_load(CONFIG_CORPUS "/bad/multiple_errors.conf", &cfg, &errs);
	ok(errs.n == 5 && strcmp(errs.items[0], "earlier") == 0,
	   "errors are appended, every problem once (%d)", errs.n);
	strlist_free(&errs);
}

static void
test_default_path(void)
{
	unsetenv("PGROTATE_CONFIG");
	is_str(cfg_default_path(), "/etc/pgrotate/pgrotate.conf", "default path");
	setenv("PGROTATE_CONFIG", "", 1);
	is_str(cfg_default_path(), "/etc/pgrotate/pgrotate.conf", "empty PGROTATE_CONFIG ignored");
	setenv("PGROTATE_CONFIG", "/tmp/x.conf", 1);
	is_str(cfg_default_path(), "/tmp/x.conf", "PGROTATE_CONFIG wins");
	unsetenv("PGROTATE_CONFIG");
}

/* rotation_jitter: a stable offset per name, in [0, jitter), spread out. */
static void
test_due_offset(void)
{
	Target		t;
	char		name[32];
	int64_t		lo = INT64_MAX,
				hi = -1;
	bool		in_range = true;

	memset(&t, 0, sizeof(t));
	t.name = (char *) "appdb";
	is_int((int) cfg_due_offset_ms(&t), 0, "no jitter: no offset");
	t.s.rotation_jitter_ms = 86400000;	/* 1d */
	is_int((int) (cfg_due_offset_ms(&t) == cfg_due_offset_ms(&t)), 1, "the offset of a name is stable");
	for (int i = 0; i < 1000; i++)
	{
		int64_t		o;

		snprintf(name, sizeof(name), "tenant%04d", i);
		t.name = name;
		o = cfg_due_offset_ms(&t);
		in_range = in_range && o >= 0 && o < t.s.rotation_jitter_ms;
		lo = o < lo ? o : lo;
		hi = o > hi ? o : hi;
	}
	ok(in_range, "1000 names: every offset in [0, 1d)");
	ok(lo < 86400000 / 20 && hi > 86400000 - 86400000 / 20,
	   "1000 names spread over the whole day (min %lld, max %lld ms)", (long long) lo, (long long) hi);
}

int
main(void)
{
	(void) plan;				/* the count follows the corpus: planned at the end */
	if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	test_key_table();
	test_default_path();
	test_bad_corpus();
	test_good_corpus();
	test_minimal();
	test_full();
	test_numbers();
	test_docs();
	test_permissions();
	test_trust_any_user();
	if (geteuid() == 0)
		test_trust_root();
	else
		ok(true, "# SKIP files of another user: not running as root");
	test_file_kinds();
	test_errs_appended();
	test_due_offset();
	rmdir(tmpdir);
	return done_testing();
}
