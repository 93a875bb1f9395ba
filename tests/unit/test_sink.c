/*
 * test_sink.c: sink formats byte for byte, reading them back, the atomic
 * file write and its failure modes, and the command runner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "secret.h"
#include "sink.h"
#include "util.h"
#include "../tap.h"

#define PW "Abc123XyZ0987654Abc123XyZ0987654"
#define VERIFIER "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
#define WHEN 1700000000			/* 2023-11-14T22:13:20Z */
#define PLANNED 160

static char tmpdir[256];

static Credential
sample(void)
{
	Credential	c = {
		.target = "appdb",
		.role = "app_user_a",
		.password = PW,
		.verifier = VERIFIER,
		.generation = 7,
		.rotated_at = WHEN,
		.app_conninfo = "host=db1 port=5432 dbname=appdb sslmode=verify-full",
	};

	return c;
}

static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* The whole file as a string, or NULL. */
static char *
slurp(const char *path)
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
spit(const char *path, const char *content)
{
	FILE	   *f = fopen(path, "w");

	if (f)
	{
		fputs(content, f);
		fclose(f);
	}
}

/* Checks a format's output byte for byte (or a NULL with an error). */
static void
check_format(SinkFormat fmt, const Credential *c, const char *want,
			 const char *what)
{
	char	   *err = NULL;
	char	   *got = sink_format(fmt, c, &err);

	is_str(got, want, "%s: %s", cfg_format_name(fmt), what);
	if (got == NULL && want != NULL)
		diag("error: %s", err ? err : "(none)");
	secret_free(got);
	free(err);
}

/* Temp files ".name.*" left in tmpdir. */
static int
count_temp_files(void)
{
	DIR		   *d = opendir(tmpdir);
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 &&
			strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- formats ---- */

static void
test_formats(void)
{
	Credential	c = sample();
	char	   *err = NULL;
	char	   *got;

	check_format(SINK_FMT_ENV, &c, "PGUSER=app_user_a\nPGPASSWORD=" PW "\n",
				 "two lines");
	check_format(SINK_FMT_JSON, &c,
				 "{\"target\":\"appdb\",\"role\":\"app_user_a\",\"password\":\""
				 PW "\",\"generation\":7,\"rotated_at\":\"2023-11-14T22:13:20Z\"}\n",
				 "one object");
	check_format(SINK_FMT_PGPASS, &c,
				 "db1:5432:appdb:app_user_a:" PW "\n", "one line");
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a:" PW "@db1:5432/appdb?sslmode=verify-full\n",
				 "host, port and sslmode");
	check_format(SINK_FMT_PGBOUNCER, &c,
				 "\"app_user_a\" \"" VERIFIER "\"\n", "auth_file line");

	got = sink_json_document(&c);
	ok(got && strstr(got, "\"password\":\"" PW "\"") != NULL,
	   "sink_json_document carries the password");
	secret_free(got);

	c.role = "we\"ird\\role\nx";
	check_format(SINK_FMT_JSON, &c,
				 "{\"target\":\"appdb\",\"role\":\"we\\\"ird\\\\role\\nx\",\"password\":\""
				 PW "\",\"generation\":7,\"rotated_at\":\"2023-11-14T22:13:20Z\"}\n",
				 "hostile role escaped");
	got = sink_format(SINK_FMT_ENV, &c, &err);
	ok(got == NULL, "env: hostile role refused");
	like(err, "json", "env: the error suggests json");
	ok(err && strstr(err, PW) == NULL, "env: the error does not show the password");
	free(err);
	err = NULL;

	c.role = "ro\"le";
	check_format(SINK_FMT_PGBOUNCER, &c,
				 "\"ro\"\"le\" \"" VERIFIER "\"\n", "quote in the role doubled");
	c.verifier = NULL;
	check_format(SINK_FMT_PGBOUNCER, &c, NULL, "no verifier: refused");
}

/*
 * Without a password ("active" without --with-password): every formatter
 * leaves it out or refuses, none dereferences it; no sink is written.
 */
static void
test_null_password(void)
{
	Credential	c = sample();
	SinkCfg		s = {.type = SINK_FILE, .format = SINK_FMT_ENV, .mode = 0600};
	char	   *argv[] = {"/bin/sh", "-c", "cat > \"$0\"", NULL, NULL};
	char	   *err = NULL;
	char	   *got;

	c.password = NULL;
	check_format(SINK_FMT_ENV, &c, "PGUSER=app_user_a\n",
				 "no password: PGUSER only");
	check_format(SINK_FMT_JSON, &c,
				 "{\"target\":\"appdb\",\"role\":\"app_user_a\",\"generation\":7,"
				 "\"rotated_at\":\"2023-11-14T22:13:20Z\"}\n",
				 "no password: no password member");
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a@db1:5432/appdb?sslmode=verify-full\n",
				 "no password: user@host");
	c.app_conninfo = "host=/var/run/postgresql dbname=appdb";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a@/appdb?host=%2Fvar%2Frun%2Fpostgresql\n",
				 "no password, socket host");
	c.app_conninfo = sample().app_conninfo;
	check_format(SINK_FMT_PGPASS, &c, NULL, "no password: refused");
	got = sink_format(SINK_FMT_PGPASS, &c, &err);
	like(err, "no password to write in the pgpass format for role \"app_user_a\"",
		 "pgpass: the error names the role");
	free(err);
	err = NULL;
	check_format(SINK_FMT_PGBOUNCER, &c, "\"app_user_a\" \"" VERIFIER "\"\n",
				 "no password: the verifier is all it needs");
	got = sink_json_document(&c);
	is_str(got, "{\"target\":\"appdb\",\"role\":\"app_user_a\",\"generation\":7,"
		   "\"rotated_at\":\"2023-11-14T22:13:20Z\"}\n",
		   "sink_json_document: no password member");
	secret_free(got);
	/* publishing without a password is refused: no sink is emptied */
	s.path = tpath("nullpw.env");
	spit(s.path, "OLD\n");
	is_int(sink_publish(&s, &c, &err), -1, "no password: a file sink is not written");
	like(err, "no password to publish", "the error says so");
	got = slurp(s.path);
	is_str(got, "OLD\n", "no password: the file keeps its credential");
	free(got);
	free(err);
	err = NULL;
	argv[3] = s.path;
	s = (SinkCfg) {.type = SINK_COMMAND, .argv = argv, .argc = 4, .timeout_ms = 5000};
	is_int(sink_publish(&s, &c, &err), -1, "no password: a command sink is not run");
	got = slurp(argv[3]);
	is_str(got, "OLD\n", "no password: the command did not run");
	free(got);
	free(err);
	free(argv[3]);
}

static void
test_pgpass(void)
{
	Credential	c = sample();
	char	   *err = NULL;
	char	   *got;

	c.role = "us:er\\x";
	c.app_conninfo = "host=/var/run/postgresql dbname='my:db'";
	check_format(SINK_FMT_PGPASS, &c,
				 "/var/run/postgresql:*:my\\:db:us\\:er\\\\x:" PW "\n"
				 "localhost:*:my\\:db:us\\:er\\\\x:" PW "\n",
				 "':' and '\\' escaped, unset port '*', socket also as localhost");
	c = sample();
	c.app_conninfo = "";
	check_format(SINK_FMT_PGPASS, &c, "*:*:*:app_user_a:" PW "\n",
				 "empty conninfo: wildcards");
	c.app_conninfo = "host=a,b port=1,2 dbname=d";
	check_format(SINK_FMT_PGPASS, &c,
				 "a:1:d:app_user_a:" PW "\nb:2:d:app_user_a:" PW "\n",
				 "one line per host");
	c.app_conninfo = "host=a,b,c port=1,2 dbname=d";
	check_format(SINK_FMT_PGPASS, &c, NULL, "3 hosts and 2 ports refused");
	c.app_conninfo = "hostaddr=10.0.0.1 dbname=d";
	check_format(SINK_FMT_PGPASS, &c, "10.0.0.1:*:d:app_user_a:" PW "\n",
				 "hostaddr when no host");
	c.app_conninfo = "host=db1 no_such_keyword=1";
	got = sink_format(SINK_FMT_PGPASS, &c, &err);
	ok(got == NULL, "pgpass: unparsable app conninfo refused");
	like(err, "app conninfo", "the error names the app conninfo");
	free(err);
}

/* The uri parsed back by libpq gives keyword = want. */
static void
check_uri_field(const char *uri, const char *keyword, const char *want)
{
	char	   *line = xstrndup(uri, strcspn(uri, "\n"));
	char	   *val = NULL;
	char	   *err = NULL;

	if (db_conninfo_get(line, keyword, &val, &err) != 0)
		diag("libpq: %s", err);
	is_str(val, want, "uri parsed by libpq: %s", keyword);
	free(val);
	free(err);
	secret_free(line);
}

static void
test_uri(void)
{
	Credential	c = sample();
	char	   *err = NULL;
	char	   *got;

	c.app_conninfo = "host=/var/run/postgresql port=5433 dbname=appdb";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a:" PW
				 "@/appdb?host=%2Fvar%2Frun%2Fpostgresql&port=5433\n",
				 "socket folder in the query");
	c.role = "a b@c";
	c.password = "p:w/d%";
	c.app_conninfo = "host=db1 dbname='my db' application_name=x password=nope user=nope";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://a%20b%40c:p%3Aw%2Fd%25@db1/my%20db?application_name=x\n",
				 "user, password, dbname percent-encoded; no user/password keyword");
	got = sink_format(SINK_FMT_URI, &c, &err);
	check_uri_field(got, "user", "a b@c");
	check_uri_field(got, "password", "p:w/d%");
	check_uri_field(got, "dbname", "my db");
	check_uri_field(got, "host", "db1");
	secret_free(got);
	c = sample();
	c.app_conninfo = "host=::1,db2 port=5432,5433 dbname=appdb";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a:" PW "@[::1]:5432,db2:5433/appdb\n",
				 "IPv6 in brackets, several hosts");
	/* a crafted host cannot end the authority and inject dbname or sslmode */
	c.app_conninfo = "host='evil:1/x?sslmode=disable&a=' dbname=appdb sslmode=verify-full";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a:" PW
				 "@evil%3A1%2Fx%3Fsslmode%3Ddisable%26a%3D/appdb?sslmode=verify-full\n",
				 "a host with ':' that is no IPv6 address is percent-encoded");
	got = sink_format(SINK_FMT_URI, &c, &err);
	check_uri_field(got, "host", "evil:1/x?sslmode=disable&a=");
	check_uri_field(got, "dbname", "appdb");
	check_uri_field(got, "sslmode", "verify-full");
	check_uri_field(got, "port", NULL);
	secret_free(got);
	c.app_conninfo = "host='::1]/x?sslmode=disable#[' dbname=appdb";
	got = sink_format(SINK_FMT_URI, &c, &err);
	check_uri_field(got, "host", "::1]/x?sslmode=disable#[");
	check_uri_field(got, "sslmode", NULL);
	secret_free(got);
	c.app_conninfo = "host=fe80::1%eth0,2001:db8::5 port=5432 dbname=appdb";
	check_format(SINK_FMT_URI, &c,
				 "postgresql://app_user_a:" PW
				 "@fe80%3A%3A1%25eth0:5432,[2001:db8::5]:5432/appdb\n",
				 "an IPv6 address with a zone is encoded, a plain one bracketed");
	got = sink_format(SINK_FMT_URI, &c, &err);
	check_uri_field(got, "host", "fe80::1%eth0,2001:db8::5");
	secret_free(got);
	free(err);
}

/* ---- round trips ---- */

static void
round_trip(SinkFormat fmt, const Credential *c, const char *secret)
{
	SinkCfg		s = {.type = SINK_FILE, .format = fmt, .mode = 0600};
	char	   *err = NULL;
	char	   *content = sink_format(fmt, c, &err);
	char	   *role = NULL;
	char	   *pw = NULL;
	char		want[SECRET_FINGERPRINT_LEN + 1];
	char		fp[SECRET_FINGERPRINT_LEN + 1];
	int			rc;

	s.path = tpath("roundtrip");
	secret_fingerprint(secret, want);
	rc = content ? sink_write_file(s.path, content, strlen(content), 0600,
								   NULL, NULL, &err) : -1;
	is_int(rc, 0, "%s: written", cfg_format_name(fmt));
	rc = sink_read_fingerprint(&s, &role, fp, &err);
	is_int(rc, 1, "%s: credential found", cfg_format_name(fmt));
	is_str(rc == 1 ? fp : NULL, want, "%s: fingerprint matches", cfg_format_name(fmt));
	is_str(role, c->role, "%s: role read back", cfg_format_name(fmt));
	free(role);
	role = NULL;
	rc = sink_read_credential(&s, &role, &pw, &err);
	if (fmt == SINK_FMT_PGBOUNCER)
		ok(rc == 0 && pw == NULL, "pgbouncer: no plaintext to read back");
	else
		is_str(pw, c->password, "%s: password read back", cfg_format_name(fmt));
	if (err)
		diag("error: %s", err);
	free(role);
	secret_free(pw);
	secret_free(content);
	free(err);
	free(s.path);
}

static void
test_round_trips(void)
{
	Credential	c = sample();

	round_trip(SINK_FMT_ENV, &c, PW);
	round_trip(SINK_FMT_JSON, &c, PW);
	round_trip(SINK_FMT_PGPASS, &c, PW);
	round_trip(SINK_FMT_URI, &c, PW);
	round_trip(SINK_FMT_PGBOUNCER, &c, VERIFIER);
	c.role = "we\"ird\\role\nx\x01 \xc3\xa9";
	c.password = "p\"w\\:@/%";
	round_trip(SINK_FMT_JSON, &c, c.password);
	c.role = "us:er\\x";
	round_trip(SINK_FMT_PGPASS, &c, c.password);
	c.role = "a b@c:d";
	round_trip(SINK_FMT_URI, &c, c.password);
}

static void
test_read_errors(void)
{
	SinkCfg		s = {.type = SINK_FILE, .format = SINK_FMT_ENV};
	char	   *err = NULL;
	char	   *role = NULL;
	char		fp[SECRET_FINGERPRINT_LEN + 1];

	s.path = tpath("garbage");
	spit(s.path, "# nothing here\nFOO=bar\n");
	is_int(sink_read_fingerprint(&s, &role, fp, &err), 0,
		   "env without PGPASSWORD: no credential");
	s.format = SINK_FMT_JSON;
	spit(s.path, "{\"role\":\"r\",\"password\":\"p\"");
	is_int(sink_read_fingerprint(&s, &role, fp, &err), 0,
		   "truncated json: no credential");
	free(s.path);
	s.path = tpath("missing");
	is_int(sink_read_fingerprint(&s, &role, fp, &err), -1, "missing file: -1");
	like(err, "missing", "the error names the file");
	free(err);
	err = NULL;
	free(s.path);
	s.path = tpath("link-to-garbage");
	if (symlink("garbage", s.path) != 0)
		diag("symlink: %s", strerror(errno));
	is_int(sink_read_fingerprint(&s, &role, fp, &err), -1, "symlink not followed");
	like(err, "symbolic link", "the error says why");
	free(err);
	free(s.path);
	ok(role == NULL, "no role on failure");
}

/* ---- atomic write ---- */

static void
test_write_basic(void)
{
	char	   *path = tpath("db.env");
	char	   *err = NULL;
	char	   *got;
	struct stat st;
	struct passwd *me = getpwuid(geteuid());

	is_int(sink_write_file(path, "one\n", 4, 0640, NULL, NULL, &err), 0,
		   "new file written");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "mode 0640 honoured");
	is_int(sink_write_file(path, "two\n", 4, 0600, me ? me->pw_name : NULL,
						   NULL, &err), 0, "replaced, owner by name");
	got = slurp(path);
	is_str(got, "two\n", "new content");
	free(got);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 &&
	   st.st_uid == geteuid(), "mode 0600 and owner");
	is_int(count_temp_files(), 0, "no temp file left");
	is_int(sink_write_file(path, "x", 1, 0600, "no_such_user_pgr", NULL, &err),
		   -1, "unknown owner refused");
	like(err, "no_such_user_pgr", "the error names the owner");
	free(err);
	err = NULL;
	is_int(sink_write_file(path, "x", 1, 0600, NULL, "no_such_group_pgr", &err),
		   -1, "unknown group refused");
	free(err);
	err = NULL;
	got = slurp(path);
	is_str(got, "two\n", "old content survives a refused owner");
	free(got);
	is_int(count_temp_files(), 0, "no temp file left after failures");
	free(path);
}

static void
test_write_refusals(void)
{
	char	   *real = tpath("real");
	char	   *link = tpath("link");
	char	   *sub = tpath("subdir");
	char	   *missing = tpath("nofolder/file");
	char	   *err = NULL;
	char	   *got;
	struct stat st;

	spit(real, "ORIGINAL\n");
	if (symlink(real, link) != 0)
		diag("symlink: %s", strerror(errno));
	is_int(sink_write_file(link, "evil\n", 5, 0600, NULL, NULL, &err), -1,
		   "symlink at path refused");
	like(err, "symbolic link", "the error says so");
	like(err, link, "the error names the path");
	free(err);
	err = NULL;
	got = slurp(real);
	is_str(got, "ORIGINAL\n", "the link's target is untouched");
	free(got);
	ok(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
	mkdir(sub, 0700);
	is_int(sink_write_file(sub, "x", 1, 0600, NULL, NULL, &err), -1,
		   "a folder at path refused");
	free(err);
	err = NULL;
	is_int(sink_write_file(missing, "x", 1, 0600, NULL, NULL, &err), -1,
		   "missing folder fails");
	like(err, "folder", "the error talks about the folder");
	free(err);
	err = NULL;
	is_int(count_temp_files(), 0, "no temp file left");
	free(real);
	free(link);
	free(sub);
	free(missing);
}

static void
test_write_unwritable(void)
{
	char	   *dir = tpath("ro");
	char	   *path = tpath("ro/db.env");
	char	   *err = NULL;
	char	   *got;

	mkdir(dir, 0700);
	spit(path, "OLD\n");
	chmod(dir, 0500);
	if (geteuid() == 0)
		ok(1, "# SKIP root bypasses folder permissions");
	else
	{
		is_int(sink_write_file(path, "new\n", 4, 0600, NULL, NULL, &err), -1,
			   "unwritable folder fails");
		diag("%s", err ? err : "");
	}
	got = slurp(path);
	is_str(got, "OLD\n", "old content survives");
	free(got);
	chmod(dir, 0700);
	free(err);
	free(dir);
	free(path);
}

/* In a child with a 10-byte file size limit: the write must fail (EFBIG). */
static void
test_write_fsize(void)
{
	char	   *path = tpath("big.env");
	char	   *got;
	pid_t		pid;
	int			status = -1;

	spit(path, "OLD\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		struct rlimit rl = {10, 10};
		char	   *err = NULL;
		int			rc;

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		rc = sink_write_file(path, "0123456789abcdefghij\n", 21, 0600, NULL,
							 NULL, &err);
		if (!(rc == -1 && err && strstr(err, "too large")))
		{
			diag("child: rc %d, error: %s", rc, err ? err : "(none)");
			fflush(stdout);
			_exit(1);
		}
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "RLIMIT_FSIZE: write fails with EFBIG named");
	got = slurp(path);
	is_str(got, "OLD\n", "RLIMIT_FSIZE: old content survives");
	free(got);
	is_int(count_temp_files(), 0, "RLIMIT_FSIZE: temp file removed");
	free(path);
}

static void
test_publish_describe(void)
{
	Credential	c = sample();
	SinkCfg		s = {.type = SINK_FILE, .format = SINK_FMT_ENV, .mode = 0640};
	char	   *argv[] = {"/bin/true", NULL};
	char	   *err = NULL;
	char	   *got;

	s.path = tpath("pub.env");
	is_int(sink_publish(&s, &c, &err), 0, "sink_publish to a file");
	got = slurp(s.path);
	is_str(got, "PGUSER=app_user_a\nPGPASSWORD=" PW "\n", "published content");
	free(got);
	got = sink_describe(&s);
	like(got, "pub.env\" (env)", "describe a file sink");
	free(got);
	c.role = "bad role";
	is_int(sink_publish(&s, &c, &err), -1, "unformattable role: publish fails");
	free(err);
	err = NULL;
	c.role = "app_user_a";
	s.format = SINK_FMT_PGPASS;
	is_int(sink_publish(&s, &c, &err), -1, "pgpass sink at mode 0640 refused");
	like(err, "libpq ignores", "the error says why");
	free(err);
	err = NULL;
	free(s.path);
	s = (SinkCfg) {.type = SINK_COMMAND, .argv = argv, .argc = 1, .timeout_ms = 5000};
	got = sink_describe(&s);
	is_str(got, "command \"/bin/true\"", "describe a command sink");
	free(got);
	c = sample();
	is_int(sink_publish(&s, &c, &err), 0, "sink_publish to a command");
	free(err);
}

/* ---- command sinks ---- */

static int	saved_stderr = -1;

static void
capture_start(const char *path)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void
capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
}

static int
run(char **argv, int64_t timeout_ms, const Credential *c, char **err)
{
	SinkCfg		s = {.type = SINK_COMMAND, .argv = argv, .timeout_ms = timeout_ms};

	for (s.argc = 0; argv[s.argc]; s.argc++)
		;
	return sink_run_command(&s, c, err);
}

static void
test_command_io(void)
{
	Credential	c = sample();
	char	   *out = tpath("cmd.out");
	char	   *envfile = xasprintf("%s.env", out);
	char	   *log = tpath("cmd.log");
	char	   *argv[] = {"/bin/sh", "-c",
		"cat > \"$0\"; env > \"$0.env\"; echo hello; echo oops >&2; printf tail",
	out, NULL};
	char	   *err = NULL;
	char	   *doc = sink_json_document(&c);
	char	   *got;

	capture_start(log);
	is_int(run(argv, 10000, &c, &err), 0, "command sink ran");
	capture_end();
	got = slurp(out);
	is_str(got, doc, "stdin carried the json document");
	free(got);
	got = slurp(envfile);
	like(got, "PGROTATE_TARGET=appdb\n", "env has PGROTATE_TARGET");
	like(got, "PGROTATE_ROLE=app_user_a\n", "env has PGROTATE_ROLE");
	like(got, "PGROTATE_GENERATION=7\n", "env has PGROTATE_GENERATION");
	ok(got && strstr(got, PW) == NULL, "the password is not in the environment");
	free(got);
	got = slurp(log);
	like(got, "/bin/sh: hello", "stdout logged line by line");
	like(got, "/bin/sh: oops", "stderr logged");
	like(got, "/bin/sh: tail", "a last line without newline logged");
	free(got);
	secret_free(doc);
	free(err);
	free(out);
	free(envfile);
	free(log);
}

static void
test_command_failures(void)
{
	Credential	c = sample();
	char	   *exit3[] = {"/bin/sh", "-c", "exit 3", NULL};
	char	   *sig[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	char	   *relative[] = {"sh", "-c", "true", NULL};
	char	   *missing[] = {"/nonexistent/push-secret", NULL};
	char	   *no_read[] = {"/bin/true", NULL};
	char	   *big = xmalloc(300001);
	char	   *err = NULL;

	is_int(run(exit3, 5000, &c, &err), -1, "exit 3 fails");
	like(err, "status 3", "the error names the status");
	like(err, "/bin/sh", "the error names the command");
	free(err);
	err = NULL;
	is_int(run(sig, 5000, &c, &err), -1, "killed by a signal fails");
	like(err, "signal 9", "the error names the signal");
	free(err);
	err = NULL;
	is_int(run(relative, 5000, &c, &err), -1, "relative argv[0] refused");
	like(err, "absolute", "the error says it must be absolute");
	free(err);
	err = NULL;
	is_int(run(missing, 5000, &c, &err), -1, "missing executable fails");
	like(err, "No such file", "the error says why");
	free(err);
	err = NULL;
	memset(big, 'r', 300000);
	big[300000] = '\0';
	c.password = big;			/* stdin only: the role is in the environment */
	is_int(run(no_read, 5000, &c, &err), 0,
		   "a command that does not read a large stdin: no SIGPIPE, status 0");
	free(err);
	free(big);
}

/*
 * Whether a live (not zombie) process is in process group pgid. kill(-pgid,
 * 0) would also count zombies, which an init that does not reap (as in
 * some containers) leaves behind.
 */
static bool
group_alive(long pgid)
{
	DIR		   *d = opendir("/proc");
	struct dirent *e;
	bool		alive = false;

	if (d == NULL)
		return kill((pid_t) -pgid, 0) == 0;
	while (!alive && (e = readdir(d)) != NULL)
	{
		char		path[300];
		char	   *stat;
		char	   *p;
		char		state;
		long		ppid,
					pgrp;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		stat = slurp(path);
		p = stat ? strrchr(stat, ')') : NULL;
		if (p && sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 &&
			pgrp == pgid && state != 'Z' && state != 'X')
			alive = true;
		free(stat);
	}
	closedir(d);
	return alive;
}

/* The command writes its pid (= process group) to a file, then sleeps. */
static void
check_timeout(const char *script, const char *what)
{
	Credential	c = sample();
	char	   *pidfile = tpath("cmd.pid");
	char	   *argv[] = {"/bin/sh", "-c", (char *) script, pidfile, NULL};
	char	   *err = NULL;
	char	   *pidtext;
	int64_t		t0 = clock_mono_ms();
	int64_t		took;
	int			rc;
	long		pgid = 0;

	unlink(pidfile);
	rc = run(argv, 300, &c, &err);
	took = clock_mono_ms() - t0;
	is_int(rc, -1, "%s: timeout fails", what);
	ok(took < 3000, "%s: returned after %lld ms (< 3000)", what, (long long) took);
	like(err, "did not finish within 300ms", "%s: the error names the timeout", what);
	pidtext = slurp(pidfile);
	if (pidtext)
		pgid = strtol(pidtext, NULL, 10);
	/* SIGKILL is delivered asynchronously: allow the group 5 s to vanish */
	for (int64_t deadline = clock_mono_ms() + 5000;
		 pgid > 1 && group_alive(pgid) && clock_mono_ms() < deadline;)
		sleep_ms(20, NULL);
	ok(pgid > 1 && !group_alive(pgid),
	   "%s: no process of group %ld is left running", what, pgid);
	free(pidtext);
	free(err);
	free(pidfile);
}

/* ---- command output: redacted before it is cut ---- */

/* What sink_output emitted: the pieces joined, and joined by '|'. */
typedef struct Pieces
{
	StrBuf		all;
	StrBuf		marked;
	size_t		longest;
	int			n;
} Pieces;

static void
collect_piece(const char *piece, void *arg)
{
	Pieces	   *p = arg;

	if (p->n++ > 0)
		sb_appendc(&p->marked, '|');
	sb_append(&p->marked, piece);
	sb_append(&p->all, piece);
	if (strlen(piece) > p->longest)
		p->longest = strlen(piece);
}

/*
 * The output k filler bytes, then the secret, then "!\n", fed to a splitter
 * of pieces of max bytes, in two reads cut at split. The pieces must join
 * into the redacted line ("filler<redacted>!"), each at most max bytes,
 * with "<redacted>" whole in one of them and the secret in none. NULL if
 * right, else what was emitted (pieces separated by '|').
 */
static char *
split_case(size_t max, size_t k, size_t split, const char *secret)
{
	SinkOutput	o;
	Pieces		p = {.longest = 0,.n = 0};
	StrBuf		in;
	StrBuf		want;
	char	   *bad = NULL;
	const char *mask;

	sb_init(&p.all);
	sb_init(&p.marked);
	sb_init(&in);
	sb_init(&want);
	for (size_t i = 0; i < k; i++)
		sb_appendc(&in, (char) ('a' + i % 26));
	sb_appendn(&want, in.data, in.len);
	sb_append(&want, "<redacted>!");
	sb_append(&in, secret);
	sb_append(&in, "!\n");
	if (split > in.len)
		split = in.len;
	sink_output_init(&o, max, collect_piece, &p);
	sink_output_feed(&o, in.data, split);
	sink_output_feed(&o, in.data + split, in.len - split);
	sink_output_flush(&o);
	sink_output_free(&o);
	mask = strstr(p.marked.data, "<redacted>");
	if (strcmp(p.all.data, want.data) != 0 || p.longest > max ||
		mask == NULL || strstr(mask + 1, "<redacted>") != NULL ||
		strstr(p.marked.data, secret) != NULL)
		bad = xstrdup(p.marked.data);
	sb_free_secret(&in);
	sb_free(&want);
	sb_free_secret(&p.all);
	sb_free_secret(&p.marked);
	return bad;
}

/* Every k that puts the secret across, at or next to a cut, every read split. */
static void
check_every_offset(size_t max, const char *secret, size_t k_from, size_t k_to)
{
	size_t		slen = strlen(secret);
	size_t		cases = 0;
	char	   *bad = NULL;
	size_t		bad_k = 0,
				bad_split = 0;

	for (size_t k = k_from; k <= k_to && bad == NULL; k++)
		for (size_t split = k; split <= k + slen && bad == NULL; split++)
		{
			bad = split_case(max, k, split, secret);
			bad_k = k;
			bad_split = split;
			cases++;
		}
	ok(bad == NULL, "pieces of %zu bytes: a %zu-byte secret after 0..%zu bytes, "
	   "each read split inside it (%zu cases): redacted whole, never in halves",
	   max, slen, k_to, cases);
	if (bad)
		diag("after %zu bytes, read split at %zu, got: %.200s%s", bad_k,
			 bad_split, bad, strlen(bad) > 200 ? "..." : "");
	free(bad);
}

static void
test_output_redaction(void)
{
	const char *longer = "LongerSecretLongerSecret0123456789ABCDEF";
	char	   *bad;

	log_register_secret(PW);
	log_register_secret(longer);
	/* small pieces: every cut position and a few cuts in a row */
	check_every_offset(48, PW, 0, 3 * 48 + 1);
	/* the real piece size, the secret across the first and second cut */
	check_every_offset(4096, PW, 4096 - strlen(PW) - 1, 4096 + 1);
	check_every_offset(4096, PW, 2 * 4096 - strlen(PW) - 1, 2 * 4096 + 1);
	/* the shorter secret is also kept whole when the longer one sets the tail */
	check_every_offset(48, longer, 0, 2 * 48 + 1);
	/* the reported attack: 4042 bytes, then the password */
	bad = split_case(4096, 4042, 4042 + 10, PW);
	ok(bad == NULL, "4042 bytes then the password: no half of it is logged");
	free(bad);
	log_forget_secrets();
}

static void
test_command_timeout(void)
{
	check_timeout("echo $$ > \"$0\"; sleep 30; true", "sleep 30");
	check_timeout("trap '' TERM; echo $$ > \"$0\"; sleep 30; true",
				  "SIGTERM ignored");
}

int
main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_sink.XXXXXX",
			 base && base[0] ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
	{
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	log_init(0, false);
	plan(PLANNED);
	test_formats();
	test_pgpass();
	test_null_password();
	test_uri();
	test_round_trips();
	test_read_errors();
	test_write_basic();
	test_write_refusals();
	test_write_unwritable();
	test_write_fsize();
	test_publish_describe();
	test_command_io();
	test_command_failures();
	test_command_timeout();
	test_output_redaction();
	{
		char	   *cmd = xasprintf("rm -rf '%s'", tmpdir);

		if (system(cmd) != 0)
			diag("could not remove %s", tmpdir);
		free(cmd);
	}
	return done_testing();
}
