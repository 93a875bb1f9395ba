/*
 * cmd_history.c: "pgrotate history TARGET [--limit N] [--format=text|json]":
 * the newest N events of pgrotate.history, oldest first (newest last, as a
 * log reads), one line each or one JSON array.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_admin.h"
#include "commands.h"
#include "db.h"
#include "exitcode.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define DEFAULT_LIMIT 20
#define HISTORY_APP_NAME "pgrotate history"

/* "2026-11-22T03:15:22.123Z" of epoch milliseconds. */
static void
format_ms(int64_t ms, char out[40])
{
	char		t[32];

	format_utc(ms / 1000, t);
	t[strlen(t) - 1] = '\0';	/* drop the Z */
	snprintf(out, 40, "%s.%03dZ", t, (int) (ms % 1000));
}

/*
 * s on one line: a line break (between the sessions of a detail) becomes
 * "; ", a tab a space, other controls '?'.
 */
static void
append_oneline(StrBuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n' || *p == '\r')
		{
			while (p[1] == '\n' || p[1] == '\r')
				p++;
			/* (a line that ends a statement has its ";" already) */
			if (p[1] != '\0' && sb->len > 0)
				sb_append(sb, sb->data[sb->len - 1] == ';' ? " " : "; ");
		}
		else if (*p == '\t')
		{
			if (p[1] != '\0' && sb->len > 0 && sb->data[sb->len - 1] != ' ')
				sb_appendc(sb, ' ');
		}
		else
			sb_appendc(sb, is_terminal_control(*p) ? '?' : (char) *p);
	}
}

static void
text_row(StrBuf *sb, const HistoryRow *h)
{
	char		at[40];

	format_ms(h->at_ms, at);
	sb_appendf(sb, "%s  %-14s", at, h->event);
	if (h->generation > 0)
		sb_appendf(sb, " gen %lld", (long long) h->generation);
	if (h->from_role && h->to_role)
		sb_appendf(sb, " %s -> %s", h->from_role, h->to_role);
	else if (h->from_role)
		sb_appendf(sb, " %s", h->from_role);
	else if (h->to_role)
		sb_appendf(sb, " -> %s", h->to_role);
	sb_appendf(sb, "  by %s@%s", h->actor, h->host ? h->host : "?");
	if (h->pid > 0)
		sb_appendf(sb, " pid %d", h->pid);
	sb_appendf(sb, " as %s", h->db_user);
	if (h->reason)
	{
		sb_append(sb, "  reason: ");
		append_oneline(sb, h->reason);
	}
	if (h->detail)
	{
		sb_append(sb, "  detail: ");
		append_oneline(sb, h->detail);
	}
	sb_appendc(sb, '\n');
}

static void
json_row(StrBuf *sb, const HistoryRow *h, bool first)
{
	char		at[40];

	format_ms(h->at_ms, at);
	sb_appendf(sb, "%s{\"id\":%lld,\"time\":\"%s\"", first ? "" : ",\n ",
			   (long long) h->id, at);
	sb_append_json_field(sb, "event", h->event);
	sb_append_json_field(sb, "from_role", h->from_role);
	sb_append_json_field(sb, "to_role", h->to_role);
	if (h->generation > 0)
		sb_appendf(sb, ",\"generation\":%lld", (long long) h->generation);
	else
		sb_append(sb, ",\"generation\":null");
	sb_append_json_field(sb, "actor", h->actor);
	sb_append_json_field(sb, "host", h->host);
	if (h->pid > 0)
		sb_appendf(sb, ",\"pid\":%d", h->pid);
	else
		sb_append(sb, ",\"pid\":null");
	sb_append_json_field(sb, "db_user", h->db_user);
	sb_append_json_field(sb, "reason", h->reason);
	sb_append_json_field(sb, "detail", h->detail);
	sb_appendc(sb, '}');
}

/* Log a failed read of t's history on c (NULL if not connected). */
static void
history_failed(DbConn *c, const Target *t, const char *err)
{
	char	   *hint = check_admin_state_hint(c, t->name);

	log_emit(LOG_LEVEL_ERROR, "failed", NULL, hint, "cannot read the history: %s", err);
	free(hint);
}

static int
read_history(const Target *t, int limit, HistoryRow **rows, int *n)
{
	const char *over[] = {"application_name", HISTORY_APP_NAME, NULL};
	char	   *err = NULL;
	int			version = 0;
	DbConn	   *c;
	int			rc = PGR_EXIT_FAIL;

	c = db_connect(t->admin, "primary", over, &err);
	if (c == NULL || state_schema_version(c, &version, &err) != 0)
	{
		history_failed(c, t, err);
		goto done;
	}
	if (version == 0)
	{
		log_emit(LOG_LEVEL_ERROR, "not_initialised", NULL, NULL,
				 "target \"%s\" is not initialised (no pgrotate schema in its database); run \"pgrotate init %s\"",
				 t->name, t->name);
		goto done;
	}
	if (state_history_list(c, t->name, limit, rows, n, &err) != 0)
	{
		history_failed(c, t, err);
		goto done;
	}
	rc = PGR_EXIT_OK;
done:
	free(err);
	db_close(c);
	return rc;
}

static int
print_history(const Target *t, const HistoryRow *rows, int n, bool json)
{
	StrBuf		sb;
	int			rc;

	sb_init(&sb);
	if (json)
	{
		sb_append(&sb, "[");
		for (int i = 0; i < n; i++)
			json_row(&sb, &rows[i], i == 0);
		sb_append(&sb, "]\n");
	}
	else
		for (int i = 0; i < n; i++)
			text_row(&sb, &rows[i]);
	if (n == 0)
		log_info("no events recorded for target \"%s\"", t->name);
	fputs(sb.data, stdout);
	rc = fflush(stdout) == 0 ? PGR_EXIT_OK : PGR_EXIT_FAIL;
	sb_free(&sb);
	return rc;
}

static int
parse_limit(const char *s, int *limit)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000000)
		return cmd_usage_error("history", "invalid --limit \"%s\": it must be a number of events from 1 to 1000000000", s);
	*limit = (int) v;
	return PGR_EXIT_OK;
}

static const struct option options[] = {
	{"limit", required_argument, NULL, 'n'},
	{"format", required_argument, NULL, 'f'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_history_command, "TARGET [--limit N] [--format=text|json]",
				   "      --limit=N       newest N events, N from 1 (default 20)\n"
				   "      --format=FMT    text (default) or json\n");
}

const Command cmd_history_command = {
	.name = "history", .optstring = ":", .options = options, .run = cmd_history, .usage = usage,
	.summary = "print the rotation history of a target",
};

int
cmd_history(int argc, char **argv, const GlobalOpts *g)
{
	int			limit = DEFAULT_LIMIT;
	bool		json = false;
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	HistoryRow *rows = NULL;
	int			c,
				n = 0,
				nrows = 0,
				rc;

	while ((c = cmd_getopt(argc, argv, cmd_history_command.optstring, options)) != -1)
	{
		if (c == 'n')
		{
			if ((rc = parse_limit(optarg, &limit)) != PGR_EXIT_OK)
				return rc;
		}
		else if (c == 'f' && (strcmp(optarg, "text") == 0 || strcmp(optarg, "json") == 0))
			json = strcmp(optarg, "json") == 0;
		else if (c == 'f')
			return cmd_usage_error("history", "invalid --format \"%s\" (use text or json)", optarg);
		else
			return cmd_option_error("history", c, argv);
	}
	if (argc - optind != 1)
		return cmd_usage_error("history", "name exactly one target");
	rc = cmd_load_targets(g, 1, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
	{
		log_set_target(targets[0]->name);
		rc = read_history(targets[0], limit, &rows, &nrows);
	}
	if (rc == PGR_EXIT_OK)
		rc = print_history(targets[0], rows, nrows, json);
	state_history_free(rows, nrows);
	free(targets);
	cfg_free(cfg);
	return rc;
}
