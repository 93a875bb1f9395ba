/*
 * test_util.c: strings, lists, JSON escaping, and log redaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cycle.h"
#include "log.h"
#include "util.h"
#include "../tap.h"

static void
test_strbuf(void)
{
	StrBuf		sb;
	char	   *s;

	sb_init(&sb);
	for (int i = 0; i < 1000; i++)
		sb_appendc(&sb, 'x');
	is_int(sb.len, 1000, "StrBuf grows past its first allocation");
	sb_reset(&sb);
	sb_appendf(&sb, "%s=%d", "n", 42);
	sb_appendn(&sb, "abcdef", 3);
	is_str(sb.data, "n=42abc", "appendf and appendn");
	s = sb_steal(&sb);
	ok(sb.data == NULL && sb.len == 0, "steal empties the buffer");
	free(s);
	sb_free(&sb);
}

static void
test_json(void)
{
	StrBuf		sb;

	sb_init(&sb);
	sb_append_json(&sb, "a\"b\\c\nd\te\x01");
	is_str(sb.data, "\"a\\\"b\\\\c\\nd\\te\\u0001\"", "JSON escaping of quotes, backslash and controls");
	sb_reset(&sb);
	sb_append_json(&sb, "r\xc3\xb4le");
	is_str(sb.data, "\"r\xc3\xb4le\"", "UTF-8 passes through");
	sb_free_secret(&sb);
}

static void
test_indented(void)
{
	StrBuf		sb;

	sb_init(&sb);
	sb_append(&sb, "  FAIL: ");
	sb_append_indented(&sb, "connection failed: refused\n\tIs the server running?\n", "        ");
	is_str(sb.data, "  FAIL: connection failed: refused\n        Is the server running?",
		   "indented: later lines under the item instead of their tab, the trailing line break dropped");
	sb_reset(&sb);
	sb_append_indented(&sb, "one line", "    ");
	is_str(sb.data, "one line", "indented: one line unchanged");
	sb_reset(&sb);
	sb_append_indented(&sb, "a\r\nb\n\n \n", "> ");
	is_str(sb.data, "a\n> b", "indented: CR dropped, blank tail dropped");
	sb_free(&sb);
}

/* Local times as PgBouncer prints them, in ISO 8601 UTC. */
static void
test_local_times(void)
{
	char		out[32] = "unchanged";
	const char *tz = getenv("TZ");
	char	   *saved = tz ? xstrdup(tz) : NULL;

	ok(format_utc_of_local("2026-01-01 00:00:00 UTC", out) == 0 &&
	   strcmp(out, "2026-01-01T00:00:00Z") == 0, "UTC local time: %s", out);
	setenv("TZ", "Europe/Berlin", 1);
	ok(format_utc_of_local("2026-07-01 12:00:00 CEST", out) == 0 &&
	   strcmp(out, "2026-07-01T10:00:00Z") == 0, "summer time of this machine's zone: %s", out);
	ok(format_utc_of_local("2026-01-15 12:00:00 CET", out) == 0 &&
	   strcmp(out, "2026-01-15T11:00:00Z") == 0, "winter time of this machine's zone: %s", out);
	strcpy(out, "unchanged");
	ok(format_utc_of_local("2026-01-15 12:00:00 EST", out) == -1 &&
	   strcmp(out, "unchanged") == 0, "another zone is left alone");
	ok(format_utc_of_local("2026-01-15T12:00:00Z", out) == -1 &&
	   format_utc_of_local("2026-01-15 12:00:00 UTC trailing", out) == -1,
	   "other forms are left alone");
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* stderr into a temporary file, until stderr_read_back. */
typedef struct Captured
{
	char		path[32];
	int			fd;
	int			saved;
} Captured;

static void
stderr_capture(Captured *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/pgr-test-log-XXXXXX");
	c->fd = mkstemp(c->path);
	c->saved = dup(2);
	dup2(c->fd, 2);
}

/* Restore stderr; what was written to it into buf (NUL-terminated). */
static void
stderr_read_back(Captured *c, char *buf, size_t len)
{
	FILE	   *f;
	size_t		n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	f = fdopen(c->fd, "r");
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(c->path);
}

/* A text log message with a multi-line detail: each line indented under it. */
static void
test_log_multiline(void)
{
	Captured	cap;
	char		buf[512];

	log_init(0, false);
	stderr_capture(&cap);
	log_emit(LOG_LEVEL_ERROR, NULL, "primary pid 1\nprimary pid 2\nand 3 more",
			 "do this\nthen that", "cannot connect: refused\n\tIs the server running?\n");
	stderr_read_back(&cap, buf, sizeof(buf));
	is_str(buf, "pgrotate: error: cannot connect: refused\n    Is the server running?\n"
		   "DETAIL: primary pid 1\n        primary pid 2\n        and 3 more\n"
		   "HINT: do this\n      then that\n",
		   "text log: multi-line message, DETAIL and HINT indented under their first line");
}

/* Control characters in a message (a name someone else chose) become '?'. */
static void
test_log_controls(void)
{
	Captured	cap;
	char		buf[512];

	log_init(0, false);
	stderr_capture(&cap);
	log_emit(LOG_LEVEL_ERROR, NULL, "bell\a here", "del\x7f\tthere",
			 "relation \"evil\x1b[2Jname\" does not exist\r\nnext");
	stderr_read_back(&cap, buf, sizeof(buf));
	is_str(buf, "pgrotate: error: relation \"evil?[2Jname\" does not exist\n    next\n"
		   "DETAIL: bell? here\nHINT: del?\tthere\n",
		   "text log: ESC, BEL and DEL shown as '?', tab and line breaks kept");
}

static void
test_strlist(void)
{
	StrList		l = {0};

	for (int i = 0; i < 20; i++)
		strlist_addf(&l, "item%d", i);
	is_int(l.n, 20, "StrList holds 20 items");
	ok(strlist_contains(&l, "item19"), "contains finds the last");
	ok(!strlist_contains(&l, "item20"), "and not what is absent");
	strlist_free(&l);
	ok(l.n == 0 && l.items == NULL, "free empties the list");
}

static void
test_redact(void)
{
	char		msg[256];
	const char *secret = "Zq8xLm2Vt9Rw4Kp7Ys3N";

	log_register_secret(secret);
	snprintf(msg, sizeof(msg), "error near '%s' and again %s.", secret, secret);
	log_redact(msg);
	is_str(msg, "error near '<redacted>' and again <redacted>.", "registered secrets are redacted");
	log_forget_secrets();
	snprintf(msg, sizeof(msg), "%s", secret);
	log_redact(msg);
	is_str(msg, secret, "forgotten secrets are not");
}

/* A message logged with a secret in it reaches stderr redacted. */
static void
test_log_output(void)
{
	Captured	cap;
	char		buf[512];
	const char *secret = "Qw3rTy7UiOp9AsDfGh1J";

	log_init(0, true);
	log_set_target("appdb");
	log_register_secret(secret);
	stderr_capture(&cap);
	log_emit(LOG_LEVEL_ERROR, "failed", "detail", "hint", "bad %s", secret);
	stderr_read_back(&cap, buf, sizeof(buf));
	ok(strstr(buf, secret) == NULL, "the secret is not in the JSON log line");
	like(buf, "\"level\":\"error\",\"target\":\"appdb\",\"event\":\"failed\",\"msg\":\"bad <redacted>\"",
		 "JSON log line has level, target, event and the redacted message");
	like(buf, "\"hint\":\"hint\"}\n", "and the hint, one object per line");
	log_forget_secrets();
	log_set_target(NULL);
}

/*
 * Closing a cycle forgets and wipes the redaction list's copies of its
 * passwords, and its own password and verifier (a run that holds no
 * connection, lock or state row).
 */
static void
test_cycle_close(void)
{
	CycleOpts	o = {0};
	CycleRun	run = {.o = &o};
	char		msg[64];
	const char *pw = "Hk4Lm8Np2Qr6St0Uv3Wx";

	run.password = xstrdup(pw);
	run.verifier = xstrdup("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
	log_register_secret(pw);
	log_register_secret("an-older-password-of-the-run");
	ok(log_longest_secret() > 0, "the redaction list holds the run's passwords");
	cycle_close(&run);
	is_int((int) log_longest_secret(), 0, "after cycle_close the redaction list is empty");
	ok(run.password == NULL && run.verifier == NULL, "and the run's password and verifier are gone");
	snprintf(msg, sizeof(msg), "%s", pw);
	log_redact(msg);
	is_str(msg, pw, "the password is no longer redacted: the list forgot it");
}

int
main(void)
{
	plan(28);
	test_strbuf();
	test_local_times();
	test_json();
	test_indented();
	test_log_multiline();
	test_log_controls();
	test_strlist();
	test_redact();
	test_log_output();
	test_cycle_close();
	return done_testing();
}
