/*
 * log.c: messages for people on stderr, text or JSON lines, with
 * redaction of registered secrets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "message.h"

#define MAX_SECRETS 16

static int	log_verbosity = 0;
static bool log_json = false;
static char *log_target = NULL;
static char *secrets[MAX_SECRETS];
static int	nsecrets = 0;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* A live progress line is on the terminal (no newline yet). */
static bool live_line = false;
/* The last error message (redacted), for the state's last_error. */
static char *last_error = NULL;

void
log_init(int verbosity, bool json)
{
	log_verbosity = verbosity;
	log_json = json;
}

bool
log_is_json(void)
{
	return log_json;
}

bool
log_enabled(LogLevel level)
{
	if (level <= LOG_LEVEL_WARNING)
		return true;
	if (level == LOG_LEVEL_INFO)
		return log_verbosity >= 0;
	return log_verbosity >= 1;
}

void
log_set_target(const char *target)
{
	free(log_target);
	log_target = target ? xstrdup(target) : NULL;
}

void
log_register_secret(const char *secret)
{
	if (secret == NULL || secret[0] == '\0')
		return;
	for (int i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], secret) == 0)
			return;
	if (nsecrets == MAX_SECRETS)
	{
		OPENSSL_cleanse(secrets[0], strlen(secrets[0]));
		free(secrets[0]);
		memmove(secrets, secrets + 1, sizeof(char *) * (MAX_SECRETS - 1));
		nsecrets--;
	}
	secrets[nsecrets++] = xstrdup(secret);
}

void
log_forget_secrets(void)
{
	for (int i = 0; i < nsecrets; i++)
	{
		OPENSSL_cleanse(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	nsecrets = 0;
}

size_t
log_longest_secret(void)
{
	size_t		longest = 0;

	for (int i = 0; i < nsecrets; i++)
		if (strlen(secrets[i]) > longest)
			longest = strlen(secrets[i]);
	return longest;
}

void
log_redact(char *s)
{
	static const char mask[] = LOG_REDACTED;

	for (int i = 0; i < nsecrets; i++)
	{
		size_t		slen = strlen(secrets[i]);
		char	   *hit;

		/* secrets are at least 16 characters, longer than the mask */
		while (slen >= sizeof(mask) - 1 && (hit = strstr(s, secrets[i])) != NULL)
		{
			memcpy(hit, mask, sizeof(mask) - 1);
			memmove(hit + sizeof(mask) - 1, hit + slen, strlen(hit + slen) + 1);
		}
	}
}

void
log_live(const char *fmt,...)
{
	va_list		ap;
	char	   *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line == NULL)
		return;
	log_redact(line);
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	live_line = true;
	free(line);
}

void
log_live_end(void)
{
	if (!live_line)
		return;
	fputc('\n', stderr);
	fflush(stderr);
	live_line = false;
}

/* Clear a live line before a message, so that the two are never glued. */
static void
clear_live_line(void)
{
	if (!live_line)
		return;
	fputs("\r\033[K", stderr);
	live_line = false;
}

const char *
log_last_error(void)
{
	return last_error;
}

void
log_clear_last_error(void)
{
	free(last_error);
	last_error = NULL;
}

static void
remember_error(const char *msg, const char *detail)
{
	free(last_error);
	last_error = detail ? xasprintf("%s (%s)", msg, detail) : xstrdup(msg);
	log_redact(last_error);
}

static void
emit_text(LogLevel level, const char *detail, const char *hint, const char *msg)
{
	StrBuf		sb;

	clear_live_line();
	sb_init(&sb);
	sb_append(&sb, "pgrotate: ");
	if (level != LOG_LEVEL_INFO)
		sb_appendf(&sb, "%s: ", level_names[level]);
	if (log_target)
		sb_appendf(&sb, "%s: ", log_target);
	/* a multi-line part (a server error, one session per line) is indented */
	sb_append_indented(&sb, msg, "    ");
	sb_appendc(&sb, '\n');
	if (detail)
	{
		sb_append(&sb, "DETAIL: ");
		sb_append_indented(&sb, detail, "        ");
		sb_appendc(&sb, '\n');
	}
	if (hint)
	{
		sb_append(&sb, "HINT: ");
		sb_append_indented(&sb, hint, "      ");
		sb_appendc(&sb, '\n');
	}
	log_redact(sb.data);
	fputs(sb.data, stderr);
	fflush(stderr);
	sb_free(&sb);
}

static void
emit_json(LogLevel level, const char *event, const char *detail,
		  const char *hint, const char *msg)
{
	StrBuf		sb;
	char		ts[32];

	format_utc(clock_wall_ms() / 1000, ts);
	sb_init(&sb);
	sb_append(&sb, "{\"time\":");
	sb_append_json(&sb, ts);
	sb_appendf(&sb, ",\"level\":\"%s\"", level_names[level]);
	if (log_target)
	{
		sb_append(&sb, ",\"target\":");
		sb_append_json(&sb, log_target);
	}
	sb_append(&sb, ",\"event\":");
	sb_append_json(&sb, event ? event : "message");
	sb_append(&sb, ",\"msg\":");
	sb_append_json(&sb, msg);
	if (detail)
	{
		sb_append(&sb, ",\"detail\":");
		sb_append_json(&sb, detail);
	}
	if (hint)
	{
		sb_append(&sb, ",\"hint\":");
		sb_append_json(&sb, hint);
	}
	sb_append(&sb, "}\n");
	log_redact(sb.data);
	fputs(sb.data, stderr);
	fflush(stderr);
	sb_free(&sb);
}

void
log_emit(LogLevel level, const char *event, const char *detail,
		 const char *hint, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;
	Message		m;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	message_split(msg, detail, hint, &m);
	free(msg);
	if (level == LOG_LEVEL_ERROR)
		remember_error(m.primary, m.detail);
	if (log_json)
		emit_json(level, event, m.detail, m.hint, m.primary);
	else
		emit_text(level, m.detail, m.hint, m.primary);
	message_free(&m);
}
