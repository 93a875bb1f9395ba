/*
 * test_pooler.c: the PgBouncer auth_file merge and publish (the pgbouncer
 * sink format, through sink_publish), the verifier line of the pending
 * file, and how pooler sessions and nodes are named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "session.h"
#include "pending.h"
#include "secret.h"
#include "sink.h"
#include "util.h"
#include "../tap.h"

#define V1 "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
#define V2 "SCRAM-SHA-256$4096:bmV3c2FsdA==$bmV3c3RvcmVk:bmV3c2VydmVy"

static char *
slurp(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *buf = xcalloc(1, 8192);

	if (f)
	{
		size_t		n = fread(buf, 1, 8191, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static void
test_merge(void)
{
	char	   *m;

	m = sink_pgbouncer_merge(NULL, "\"app_a\" \"" V1 "\"\n", "app_a");
	is_str(m, "\"app_a\" \"" V1 "\"\n", "merge into nothing: the line alone");
	secret_free(m);

	m = sink_pgbouncer_merge("\"admin\" \"x\"\n\"app_a\" \"old\"\n\"app_b\" \"" V1 "\"\n# note\n",
							 "\"app_a\" \"" V2 "\"\n", "app_a");
	is_str(m, "\"app_a\" \"" V2 "\"\n\"admin\" \"x\"\n\"app_b\" \"" V1 "\"\n# note\n",
		   "the new line first, the role's old line gone, the others kept in order");
	secret_free(m);

	m = sink_pgbouncer_merge("\"we\"\"ird\" \"old\"\n  \"app_a\" \"old\"\n\"other\" \"y\"",
							 "\"we\"\"ird\" \"new\"", "we\"ird");
	is_str(m, "\"we\"\"ird\" \"new\"\n  \"app_a\" \"old\"\n\"other\" \"y\"\n",
		   "doubled quotes in a name; a last line without newline gets one");
	secret_free(m);

	m = sink_pgbouncer_merge("\"app_a2\" \"k\"\n\"app\" \"k\"\nbroken \"app_a\"\n",
							 "\"app_a\" \"n\"\n", "app_a");
	is_str(m, "\"app_a\" \"n\"\n\"app_a2\" \"k\"\n\"app\" \"k\"\nbroken \"app_a\"\n",
		   "only exact names are replaced; lines that do not parse stay");
	secret_free(m);
}

/*
 * The auth_file is read as root, merged and written back with the sink's
 * owner: a hard link to a root-only file, or a file someone else owns,
 * would be copied out to that owner.
 */
static void
f_write(const char *path, const char *text)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static void
test_authfile_trust(SinkCfg *s, const Credential *c, const char *other)
{
	char	   *err = NULL;
	char	   *text;

	f_write(other, "\"root_only\" \"" V1 "\"\n");
	unlink(s->path);
	link(other, s->path);
	is_int(sink_publish(s, c, &err), -1, "an auth_file with 2 hard links is refused");
	like(err, "2 hard links", "the error says why");
	free(err);
	err = NULL;
	text = slurp(other);
	is_str(text, "\"root_only\" \"" V1 "\"\n", "the other name's content is untouched");
	free(text);
	unlink(other);
	if (geteuid() != 0)
	{
		ok(true, "# SKIP owner checks: not running as root");
		return;
	}
	chown(s->path, 65534, 65534);
	is_int(sink_publish(s, c, &err), -1, "an auth_file owned by nobody is refused");
	like(err, "belongs to uid 65534", "the error names the owner");
	free(err);
	err = NULL;
	s->owner = "65534";
	is_int(sink_publish(s, c, &err), 0, "accepted when nobody is the configured owner");
	if (err)
		diag("%s", err);
	free(err);
	s->owner = NULL;
}

static void
test_publish(const char *dir)
{
	SinkCfg		s = {0};
	Credential	c = {0};
	char	   *path = xasprintf("%s/userlist.txt", dir);
	char	   *link = xasprintf("%s/link.txt", dir);
	char	   *err = NULL;
	char	   *text;
	FILE	   *f = fopen(path, "w");
	struct stat st;

	fputs("\"admin\" \"" V1 "\"\n\"app_b\" \"" V1 "\"\n", f);
	fclose(f);
	s.type = SINK_FILE;
	s.path = path;
	s.format = SINK_FMT_PGBOUNCER;
	s.mode = 0640;
	c.role = "app_b";
	c.password = "Secret0123456789";
	c.verifier = V2;
	is_int(sink_publish(&s, &c, &err), 0, "publish into an existing auth_file");
	text = slurp(path);
	is_str(text, "\"app_b\" \"" V2 "\"\n\"admin\" \"" V1 "\"\n", "merged content");
	ok(strstr(text, c.password) == NULL, "no plaintext in the auth_file");
	free(text);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "mode applied");
	{
		time_t		m1 = st.st_mtime;

		is_int(sink_publish(&s, &c, &err), 0, "publish again at once");
		ok(stat(path, &st) == 0 && st.st_mtime > m1,
		   "the rewritten file has a later mtime second, so PgBouncer re-reads it");
	}
	c.verifier = NULL;
	is_int(sink_publish(&s, &c, &err), -1, "no verifier: refused");
	diag("%s", err);
	free(err);
	err = NULL;
	c.verifier = V2;
	symlink(path, link);
	s.path = link;
	is_int(sink_publish(&s, &c, &err), -1, "a symlink is refused");
	diag("%s", err);
	free(err);
	unlink(link);
	unlink(path);
	s.path = path;
	is_int(sink_publish(&s, &c, &err), 0, "a missing auth_file is created");
	text = slurp(path);
	is_str(text, "\"app_b\" \"" V2 "\"\n", "with the one line");
	free(text);
	test_authfile_trust(&s, &c, link);
	unlink(path);
	free(path);
	free(link);
}

static void
test_pending_verifier(const char *dir)
{
	char	   *err = NULL;
	char	   *v = NULL;
	char	   *role = NULL;
	char	   *pw = NULL;
	char	   *p = pending_path(dir, "t");
	char	   *text;
	int64_t		g = 0;

	is_int(pending_read_verifier(dir, "t", &v, &err), 0, "no pending file: no verifier");
	is_int(pending_set_verifier(dir, "t", V1, &err), -1, "nothing to add a verifier to");
	diag("%s", err);
	free(err);
	err = NULL;
	is_int(pending_write(dir, "t", "app_a", 7, "Abc123XyZ0987654", &err), 0, "pending written");
	is_int(pending_read_verifier(dir, "t", &v, &err), 0, "no verifier line yet");
	is_int(pending_set_verifier(dir, "t", V1, &err), 0, "verifier added");
	is_int(pending_set_verifier(dir, "t", V2, &err), 0, "verifier replaced");
	text = slurp(p);
	is_str(text, "pgrotate-pending 1\nrole app_a\ngeneration 7\npassword Abc123XyZ0987654\n"
		   "verifier " V2 "\n", "content with the verifier line");
	free(text);
	is_int(pending_read_verifier(dir, "t", &v, &err), 1, "verifier read");
	is_str(v, V2, "the last one");
	free(v);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), 1, "the rest still reads");
	is_str(pw, "Abc123XyZ0987654", "same password");
	is_int(g, 7, "same generation");
	free(role);
	secret_free(pw);
	is_int(pending_set_verifier(dir, "t", "has space", &err), -1, "a verifier with a space is refused");
	free(err);
	err = NULL;
	is_int(pending_write(dir, "t", "app_b", 8, "Abc123XyZ0987655", &err), 0, "a new pending file");
	is_int(pending_read_verifier(dir, "t", &v, &err), 0, "has no verifier line");
	{
		FILE	   *f = fopen(p, "w");

		fputs("pgrotate-pending 1\nrole r\ngeneration 1\npassword x\nverifier \nextra\n", f);
		fclose(f);
		chmod(p, 0600);
	}
	is_int(pending_read_verifier(dir, "t", &v, &err), -1, "a bad verifier line is corrupt");
	free(err);
	unlink(p);
	free(p);
}

static void
test_names(void)
{
	SessionList l = {0};
	Session    *s;
	char	   *d;

	d = db_conninfo_node("host=db2 port=5433 dbname=x");
	is_str(d, "db2:5433", "node host:port");
	free(d);
	d = db_conninfo_node("dbname=x");
	is_str(d, "local:5432", "node without host");
	free(d);
	d = db_conninfo_node("host=");
	is_str(d, "local:5432", "node with an empty host");
	free(d);
	d = db_conninfo_node("hostaddr=10.0.0.2 dbname=x");
	is_str(d, "10.0.0.2:5432", "node by hostaddr");
	free(d);
	d = db_conninfo_node("host='unterminated");
	is_str(d, "?", "node of a broken conninfo");
	free(d);

	s = sessionlist_add(&l);
	s->node = "pooler \"db1:6432\"";
	s->kind = "client";
	s->pid = 0;
	s->application_name = xstrdup("web");
	s->client_addr = xstrdup("10.1.2.3");
	s->database = xstrdup("appdb");
	s = sessionlist_add(&l);
	s->node = "pooler \"db1:6432\"";
	s->kind = "server connection";
	s->pid = 4242;
	s->database = xstrdup("appdb");
	s->backend_start = xstrdup("2026-01-01 00:00:00 UTC");
	s = sessionlist_add(&l);
	s->node = "replica \"db2:5432\"";
	s->pid = 77;
	d = sessionlist_describe(&l, 10);
	is_str(d, "pooler \"db1:6432\" client of database \"appdb\" \"web\" from 10.1.2.3\n"
		   "pooler \"db1:6432\" server connection of database \"appdb\" (backend pid 4242) since 2026-01-01 00:00:00 UTC\n"
		   "replica \"db2:5432\" pid 77 from (hidden)",
		   "pooler sessions are described with their node, one per line");
	free(d);
	d = sessionlist_describe(&l, 1);
	is_str(d, "pooler \"db1:6432\" client of database \"appdb\" \"web\" from 10.1.2.3\n"
		   "and 2 more", "at most max sessions, then \"and N more\"");
	free(d);
	sessionlist_free(&l);
	is_int(l.n, 0, "freed");
}

int
main(void)
{
	char		base[] = "/tmp/tpool.XXXXXX";
	char	   *dir;
	char	   *err = NULL;

	if (mkdtemp(base) == NULL)
		return 1;
	dir = xasprintf("%s/state", base);
	if (statedir_ensure(dir, &err) != 0)
		return 1;
	test_merge();
	test_publish(base);
	test_pending_verifier(dir);
	test_names();
	rmdir(dir);
	rmdir(base);
	free(dir);
	return done_testing();
}
