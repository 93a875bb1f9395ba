/*
 * cmd_status.c: "pgrotate status [TARGET...] [--format=text|json|prometheus]".
 * Collects every target's status (status.c) and prints it for people, for
 * scripts (one JSON document) or for Prometheus (text exposition format, for
 * node_exporter's textfile collector). The exit code is the worst status:
 * 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage and configuration errors
 * too, as the monitoring convention wants).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "duration.h"
#include "exitcode.h"
#include "log.h"
#include "status.h"
#include "util.h"

typedef enum StatusFormat
{
	SF_TEXT,
	SF_JSON,
	SF_PROMETHEUS
} StatusFormat;

/* ---- text ---- */

/* Where the values of the text format start ("  credential age:  "). */
#define STATUS_INDENT "                   "

static void
text_times(StrBuf *sb, const TargetStatus *ts)
{
	const StateRow *st = &ts->st;
	char		t1[32],
				d1[32];

	format_utc(st->rotated_at, t1);
	duration_format((ts->now - st->rotated_at) * 1000, d1, sizeof(d1));
	sb_appendf(sb, "  credential age:  %s (rotated %s)\n", d1, t1);
	format_utc(ts->next_due, t1);
	duration_format((ts->next_due > ts->now ? ts->next_due - ts->now : ts->now - ts->next_due) * 1000,
					d1, sizeof(d1));
	sb_appendf(sb, "  next due:        %s (%s %s)\n", t1,
			   ts->next_due > ts->now ? "in" : "overdue by", d1);
	format_utc(st->phase_since, t1);
	duration_format((ts->now - st->phase_since) * 1000, d1, sizeof(d1));
	sb_appendf(sb, "  phase:           %s for %s (since %s)", st->phase_text, d1, t1);
	if (st->pending_role)
		sb_appendf(sb, ", pending role %s (generation %lld)", st->pending_role,
				   (long long) st->pending_generation);
	sb_appendc(sb, '\n');
	sb_appendf(sb, "  lock:            %s%s\n", ts->lock_holder ? "held by " : "free",
			   ts->lock_holder ? ts->lock_holder : "");
	if (ts->valid_until != 0)
		format_utc(ts->valid_until, t1);
	sb_appendf(sb, "  password expiry: %s\n", ts->valid_until != 0 ? t1 : "none");
}

static void
text_nodes_sinks(StrBuf *sb, const TargetStatus *ts)
{
	for (int k = 0; k < ts->nnodes; k++)
	{
		const NodeStatus *ns = &ts->nodes[k];

		sb_appendf(sb, "  %-17s%s:", k == 0 ? "sessions:" : "", ns->node);
		if (!ns->reachable)
			sb_append(sb, " unreachable");
		else
			for (int i = 0; i < STATUS_NROLES; i++)
				sb_appendf(sb, "%s %s %lld", i ? "," : "", ts->roles[i],
						   (long long) ns->sessions[i]);
		sb_appendc(sb, '\n');
	}
	for (int i = 0; i < ts->nsinks; i++)
	{
		const SinkStatus *ss = &ts->sinks[i];

		sb_appendf(sb, "  sink:            %s %s: %s", ss->cfg->type == SINK_FILE ? "file" : "command",
				   ss->name, sink_state_name(ss->state));
		if (ss->detail)
		{
			sb_append(sb, " (");
			sb_append_indented(sb, ss->detail, STATUS_INDENT);
			sb_appendc(sb, ')');
		}
		sb_appendc(sb, '\n');
	}
}

/* "DETAIL: " or "HINT: " and its lines under a problem, if any. */
static void
text_part(StrBuf *sb, const char *label, const char *text)
{
	char	   *indent;

	if (text == NULL)
		return;
	indent = xasprintf("%s%*s", STATUS_INDENT, (int) strlen(label), "");
	sb_appendf(sb, "%s%s", STATUS_INDENT, label);
	sb_append_indented(sb, text, indent);
	sb_appendc(sb, '\n');
	free(indent);
}

static void
print_text(const TargetStatus *all, int n, StrBuf *sb)
{
	for (int i = 0; i < n; i++)
	{
		const TargetStatus *ts = &all[i];

		sb_appendf(sb, "%s%s: %s\n", i ? "\n" : "", ts->t->name, status_level_name(ts->level));
		if (ts->up)
		{
			sb_appendf(sb, "  active role:     %s (generation %lld), standby %s, group %s\n",
					   ts->st.active_role, (long long) ts->st.generation,
					   ts->st.standby_role, ts->st.group_role);
			text_times(sb, ts);
			text_nodes_sinks(sb, ts);
		}
		for (int k = 0; k < ts->nproblems; k++)
		{
			char		label[32];

			snprintf(label, sizeof(label), "%s:", status_level_name(ts->problems[k].level));
			/* a multi-line server error stays under its item */
			sb_appendf(sb, "  %-17s", label);
			sb_append_indented(sb, ts->problems[k].msg, STATUS_INDENT);
			sb_appendc(sb, '\n');
			text_part(sb, "DETAIL: ", ts->problems[k].detail);
			text_part(sb, "HINT: ", ts->problems[k].hint);
		}
	}
}

/* ---- json ---- */

static void
json_kv_time(StrBuf *sb, const char *key, int64_t epoch_s)
{
	char		t[32];

	format_utc(epoch_s, t);
	sb_append_json_field(sb, key, epoch_s != 0 ? t : NULL);
}

static void
json_state(StrBuf *sb, const TargetStatus *ts)
{
	const StateRow *st = &ts->st;

	sb_append_json_field(sb, "active_role", st->active_role);
	sb_append_json_field(sb, "standby_role", st->standby_role);
	sb_append_json_field(sb, "group_role", st->group_role);
	sb_appendf(sb, ",\"generation\":%lld", (long long) st->generation);
	json_kv_time(sb, "rotated_at", st->rotated_at);
	sb_appendf(sb, ",\"credential_age_seconds\":%lld", (long long) (ts->now - st->rotated_at));
	json_kv_time(sb, "next_due", ts->next_due);
	sb_appendf(sb, ",\"due_in_seconds\":%lld", (long long) (ts->next_due - ts->now));
	sb_append_json_field(sb, "phase", st->phase_text);
	json_kv_time(sb, "phase_since", st->phase_since);
	sb_appendf(sb, ",\"phase_age_seconds\":%lld", (long long) (ts->now - st->phase_since));
	sb_append_json_field(sb, "pending_role", st->pending_role);
	sb_append_json_field(sb, "lock_holder", ts->lock_holder);
	sb_append_json_field(sb, "last_error", ts->last_error.msg);
	sb_append_json_field(sb, "last_error_step", ts->last_error.msg ? ts->last_error.step : NULL);
	json_kv_time(sb, "last_error_at", ts->last_error.at);
	json_kv_time(sb, "password_valid_until", ts->valid_until);
}

static void
json_nodes_sinks(StrBuf *sb, const TargetStatus *ts)
{
	sb_append(sb, ",\"nodes\":[");
	for (int k = 0; k < ts->nnodes; k++)
	{
		const NodeStatus *ns = &ts->nodes[k];

		sb_append(sb, k ? ",{\"node\":" : "{\"node\":");
		sb_append_json(sb, ns->node);
		sb_appendf(sb, ",\"reachable\":%s", ns->reachable ? "true" : "false");
		if (!ns->reachable)
			sb_append_json_field(sb, "error", ns->error);
		else
		{
			sb_append(sb, ",\"sessions\":{");
			for (int i = 0; i < STATUS_NROLES; i++)
			{
				sb_append(sb, i ? "," : "");
				sb_append_json(sb, ts->roles[i]);
				sb_appendf(sb, ":%lld", (long long) ns->sessions[i]);
			}
			sb_appendc(sb, '}');
		}
		sb_appendc(sb, '}');
	}
	sb_append(sb, "],\"sinks\":[");
	for (int i = 0; i < ts->nsinks; i++)
	{
		const SinkStatus *ss = &ts->sinks[i];
		bool		file = ss->cfg->type == SINK_FILE;

		sb_appendf(sb, "%s{\"type\":\"%s\"", i ? "," : "", file ? "file" : "command");
		sb_append_json_field(sb, file ? "path" : "command", ss->name);
		sb_append_json_field(sb, "format", file ? cfg_format_name(ss->cfg->format) : NULL);
		sb_append_json_field(sb, "state", sink_state_name(ss->state));
		if (ss->state == SINK_ST_NOT_CHECKED || ss->state == SINK_ST_UNREADABLE)
			sb_append(sb, ",\"stale\":null,\"compared_by\":null");
		else
			sb_appendf(sb, ",\"stale\":%s,\"compared_by\":\"%s\"",
					   ss->state == SINK_ST_OK || ss->state == SINK_ST_PENDING ? "false" : "true",
					   ss->role_only ? "role" : "fingerprint");
		sb_append_json_field(sb, "role", ss->role);
		sb_append_json_field(sb, "detail", ss->detail);
		sb_appendc(sb, '}');
	}
	sb_appendc(sb, ']');
}

static void
print_json(const TargetStatus *all, int n, StatusLevel worst, StrBuf *sb)
{
	sb_append(sb, "{\"targets\":[");
	for (int i = 0; i < n; i++)
	{
		const TargetStatus *ts = &all[i];

		sb_append(sb, i ? ",{\"target\":" : "{\"target\":");
		sb_append_json(sb, ts->t->name);
		sb_appendf(sb, ",\"status\":\"%s\",\"up\":%s", status_level_name(ts->level),
				   ts->up ? "true" : "false");
		if (ts->up)
		{
			json_state(sb, ts);
			json_nodes_sinks(sb, ts);
		}
		sb_append(sb, ",\"problems\":[");
		for (int k = 0; k < ts->nproblems; k++)
		{
			sb_appendf(sb, "%s{\"level\":\"%s\",\"message\":", k ? "," : "",
					   status_level_name(ts->problems[k].level));
			sb_append_json(sb, ts->problems[k].msg);
			if (ts->problems[k].detail)
				sb_append_json_field(sb, "detail", ts->problems[k].detail);
			if (ts->problems[k].hint)
				sb_append_json_field(sb, "hint", ts->problems[k].hint);
			sb_appendc(sb, '}');
		}
		sb_append(sb, "]}");
	}
	sb_appendf(sb, "],\"status\":\"%s\"}\n", status_level_name(worst));
}

/* ---- prometheus ---- */

/* A label value: backslash, double quote and line feed escaped. */
static void
prom_label(StrBuf *sb, const char *key, const char *val, bool first)
{
	sb_appendf(sb, "%s%s=\"", first ? "" : ",", key);
	for (const char *p = val; *p; p++)
	{
		if (*p == '\\')
			sb_append(sb, "\\\\");
		else if (*p == '"')
			sb_append(sb, "\\\"");
		else if (*p == '\n')
			sb_append(sb, "\\n");
		else
			sb_appendc(sb, *p);
	}
	sb_appendc(sb, '"');
}

/* name{target="...",k="v"...} value; extra is NULL or k, v, ..., NULL. */
static void
prom_sample(StrBuf *sb, const char *name, const TargetStatus *ts,
			const char *const *extra, int64_t value)
{
	sb_appendf(sb, "%s{", name);
	prom_label(sb, "target", ts->t->name, true);
	for (int i = 0; extra && extra[i]; i += 2)
		prom_label(sb, extra[i], extra[i + 1], false);
	sb_appendf(sb, "} %lld\n", (long long) value);
}

typedef void (*PromEmit) (StrBuf *sb, const char *name, const TargetStatus *ts);

static void
emit_up(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->up ? 1 : 0);
}

static void
emit_status(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, (int64_t) ts->level);
}

static void
emit_generation(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->st.generation);
}

static void
emit_age(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->now - ts->st.rotated_at);
}

static void
emit_rotated(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->st.rotated_at);
}

static void
emit_due(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->next_due);
}

static void
emit_phase(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	for (int p = PHASE_IDLE; p < PHASE_UNKNOWN; p++)
	{
		const char *l[] = {"phase", phase_name((Phase) p), NULL};

		prom_sample(sb, name, ts, l, ts->st.phase == (Phase) p ? 1 : 0);
	}
	if (ts->st.phase == PHASE_UNKNOWN)
	{
		const char *l[] = {"phase", ts->st.phase_text, NULL};

		prom_sample(sb, name, ts, l, 1);
	}
}

static void
emit_phase_age(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->now - ts->st.phase_since);
}

static void
emit_locked(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->lock_holder ? 1 : 0);
}

static void
emit_last_error(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	if (ts->last_error.msg && ts->last_error.at)
		prom_sample(sb, name, ts, NULL, ts->last_error.at);
}

static void
emit_last_success(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	prom_sample(sb, name, ts, NULL, ts->last_error.msg ? 0 : 1);
}

static void
emit_expiry(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	if (ts->valid_until != 0)
		prom_sample(sb, name, ts, NULL, ts->valid_until);
}

static void
emit_node_up(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	for (int k = 0; k < ts->nnodes; k++)
	{
		const char *l[] = {"node", ts->nodes[k].node, NULL};

		prom_sample(sb, name, ts, l, ts->nodes[k].reachable ? 1 : 0);
	}
}

static void
emit_sessions(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	for (int k = 0; k < ts->nnodes; k++)
		for (int i = 0; ts->nodes[k].reachable && i < STATUS_NROLES; i++)
		{
			const char *l[] = {"role", ts->roles[i], "node", ts->nodes[k].node, NULL};

			prom_sample(sb, name, ts, l, ts->nodes[k].sessions[i]);
		}
}

static void
emit_sink_stale(StrBuf *sb, const char *name, const TargetStatus *ts)
{
	for (int i = 0; i < ts->nsinks; i++)
	{
		const SinkStatus *ss = &ts->sinks[i];
		const char *l[] = {"sink", ss->name, NULL};

		if (ss->state == SINK_ST_NOT_CHECKED || ss->state == SINK_ST_UNREADABLE)
			continue;
		prom_sample(sb, name, ts, l,
					ss->state == SINK_ST_OK || ss->state == SINK_ST_PENDING ? 0 : 1);
	}
}

typedef struct PromMetric
{
	const char *name;
	const char *help;
	bool		only_up;		/* only for targets whose state was read */
	PromEmit	emit;
} PromMetric;

static const PromMetric prom_metrics[] = {
	{"pgrotate_up", "Whether the state of the target could be read (1) or not (0).", false, emit_up},
	{"pgrotate_status", "Status of the target: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", false, emit_status},
	{"pgrotate_generation", "Generation of the active credential.", true, emit_generation},
	{"pgrotate_credential_age_seconds", "Age of the active credential (server clock).", true, emit_age},
	{"pgrotate_last_rotation_timestamp_seconds", "When the active credential was published (Unix time).", true, emit_rotated},
	{"pgrotate_next_due_timestamp_seconds", "When the next rotation is due (Unix time).", true, emit_due},
	{"pgrotate_phase", "Phase of the target's rotation cycle (1 for the current phase).", true, emit_phase},
	{"pgrotate_phase_age_seconds", "How long the target has been in its phase.", true, emit_phase_age},
	{"pgrotate_locked", "Whether a pgrotate run holds the target's lock.", true, emit_locked},
	{"pgrotate_last_cycle_success", "Whether the last run of the target succeeded (1) or failed (0) and is not yet followed by a successful cycle.", true, emit_last_success},
	{"pgrotate_last_error_timestamp_seconds", "When the last failed run failed (Unix time), while it stands.", true, emit_last_error},
	{"pgrotate_password_expiry_timestamp_seconds", "VALID UNTIL of the active role (Unix time), when set.", true, emit_expiry},
	{"pgrotate_node_up", "Whether a node (primary or replica) of the target could be queried.", true, emit_node_up},
	{"pgrotate_sessions", "Sessions per role and node.", true, emit_sessions},
	{"pgrotate_sink_stale", "Whether a file sink does not hold the active credential (1) or does (0).", true, emit_sink_stale},
};

static void
print_prometheus(const TargetStatus *all, int n, StrBuf *sb)
{
	for (size_t m = 0; m < sizeof(prom_metrics) / sizeof(prom_metrics[0]); m++)
	{
		const PromMetric *pm = &prom_metrics[m];

		sb_appendf(sb, "# HELP %s %s\n# TYPE %s gauge\n", pm->name, pm->help, pm->name);
		for (int i = 0; i < n; i++)
			if (all[i].up || !pm->only_up)
				pm->emit(sb, pm->name, &all[i]);
	}
}

/* ---- the command ---- */

static int
parse_format(const char *s, StatusFormat *f)
{
	if (strcmp(s, "text") == 0)
		*f = SF_TEXT;
	else if (strcmp(s, "json") == 0)
		*f = SF_JSON;
	else if (strcmp(s, "prometheus") == 0)
		*f = SF_PROMETHEUS;
	else
		return cmd_usage_error("status", "invalid --format \"%s\" (use text, json or prometheus)", s);
	return PGR_EXIT_OK;
}

static int
run_status(const Target **targets, int n, StatusFormat f)
{
	TargetStatus *all = xcalloc(n > 0 ? n : 1, sizeof(TargetStatus));
	StatusLevel worst = n > 0 ? STATUS_OK : STATUS_UNKNOWN;
	StrBuf		sb;
	int			rc;

	for (int i = 0; i < n; i++)
	{
		log_set_target(targets[i]->name);
		status_collect(targets[i], &all[i]);
		worst = status_worse(worst, all[i].level);
	}
	log_set_target(NULL);
	if (n == 0)
		log_error("no targets in the configuration");
	sb_init(&sb);
	if (f == SF_TEXT)
		print_text(all, n, &sb);
	else if (f == SF_JSON)
		print_json(all, n, worst, &sb);
	else
		print_prometheus(all, n, &sb);
	fputs(sb.data, stdout);
	rc = fflush(stdout) == 0 ? (int) worst : PGR_STATUS_UNKNOWN;
	sb_free(&sb);
	for (int i = 0; i < n; i++)
		status_free(&all[i]);
	free(all);
	return rc;
}

static const struct option options[] = {
	{"format", required_argument, NULL, 'f'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_status_command, "[TARGET...] [--format=text|json|prometheus]",
				   "      --format=FMT    text (default), json or prometheus\n");
}

const Command cmd_status_command = {
	.name = "status", .optstring = ":", .options = options, .run = cmd_status, .usage = usage,
	.summary = "per-target state for monitoring (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
};

int
cmd_status(int argc, char **argv, const GlobalOpts *g)
{
	StatusFormat f = SF_TEXT;
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	int			c,
				n = 0,
				rc;

	while ((c = cmd_getopt(argc, argv, cmd_status_command.optstring, options)) != -1)
	{
		if (c == 'f')
		{
			if (parse_format(optarg, &f) != PGR_EXIT_OK)
				return PGR_STATUS_UNKNOWN;
		}
		else
		{
			cmd_option_error("status", c, argv);
			return PGR_STATUS_UNKNOWN;
		}
	}
	/* usage and configuration errors are UNKNOWN for a monitoring check */
	rc = cmd_load_targets(g, argc - optind, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
		rc = run_status(targets, n, f);
	else
		rc = PGR_STATUS_UNKNOWN;
	free(targets);
	cfg_free(cfg);
	return rc;
}
