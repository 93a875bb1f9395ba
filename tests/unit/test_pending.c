/*
 * test_pending.c: the pending credential file and state_dir checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pending.h"
#include "secret.h"
#include "util.h"
#include "../tap.h"

static char base[256];

static void
spit(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");
	fputs(s, f);
	fclose(f);
	chmod(path, mode);
}

static void
corrupt(const char *dir, const char *content, const char *what)
{
	char *p = pending_path(dir, "t"), *role = NULL, *pw = NULL, *err = NULL;
	int64_t g = 0;
	spit(p, content, 0600);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), -1, "corrupt: %s", what);
	if (err && strstr(err, "corrupt") == NULL)
		diag("%s", err);
	ok(role == NULL && pw == NULL, "corrupt: %s: nothing returned", what);
	free(err);
	free(p);
}

int
main(void)
{
	char *dir, *err = NULL, *role = NULL, *pw = NULL, *p, *x;
	int64_t g = 0;
	struct stat st;

	snprintf(base, sizeof base, "/tmp/tp.XXXXXX");
	mkdtemp(base);
	dir = xasprintf("%s/state", base);
	is_int(statedir_ensure(dir, &err), 0, "created");
	ok(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700, "0700");
	is_int(statedir_ensure(dir, &err), 0, "existing ok");
	chmod(dir, 0777);
	is_int(statedir_ensure(dir, &err), -1, "0777 refused");
	diag("%s", err);
	free(err);
	err = NULL;
	chmod(dir, 0755);
	is_int(statedir_ensure(dir, &err), 0, "0755 ok");
	chmod(dir, 0700);
	x = xasprintf("%s/link", base);
	symlink(dir, x);
	is_int(statedir_ensure(x, &err), -1, "symlink refused");
	diag("%s", err);
	free(err);
	err = NULL;
	free(x);
	x = xasprintf("%s/file", base);
	spit(x, "x", 0600);
	is_int(statedir_ensure(x, &err), -1, "file refused");
	free(err);
	err = NULL;
	free(x);
	x = xasprintf("%s/no/such", base);
	is_int(statedir_ensure(x, &err), -1, "missing parent");
	diag("%s", err);
	free(err);
	err = NULL;
	free(x);

	is_int(pending_read(dir, "t", &role, &g, &pw, &err), 0, "none yet");
	is_int(pending_write(dir, "t", "app user%\xc3\xbc", 42, "Abc123XyZ0987654", &err), 0,
		   "written");
	if (err)
		diag("%s", err);
	p = pending_path(dir, "t");
	x = NULL;
	{
		FILE *f = fopen(p, "r");
		char buf[512];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		is_str(buf,
			   "pgrotate-pending 1\nrole app%20user%25%C3%BC\ngeneration 42\npassword "
			   "Abc123XyZ0987654\n",
			   "content");
	}
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600, "file 0600");
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), 1, "read");
	is_str(role, "app user%\xc3\xbc", "role");
	is_int(g, 42, "gen");
	is_str(pw, "Abc123XyZ0987654", "pw");
	free(role);
	secret_free(pw);
	role = pw = NULL;
	is_int(pending_write(dir, "t", "r", 43, "NewPassword12345", &err), 0, "overwrite");
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), 1, "read2");
	is_int(g, 43, "gen2");
	free(role);
	secret_free(pw);
	role = pw = NULL;
	chmod(p, 0640);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), -1, "0640 refused");
	diag("%s", err);
	free(err);
	err = NULL;
	chmod(p, 0400);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), 1, "0400 fine");
	free(role);
	secret_free(pw);
	role = pw = NULL;
	chmod(p, 0600);
	chown(p, 65534, 65534);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), -1, "foreign owner refused");
	diag("%s", err);
	free(err);
	err = NULL;
	chown(p, 0, 0);
	unlink(p);
	x = xasprintf("%s/elsewhere", base);
	spit(x, "pgrotate-pending 1\nrole r\ngeneration 1\npassword x\n", 0600);
	symlink(x, p);
	is_int(pending_read(dir, "t", &role, &g, &pw, &err), -1, "symlink refused");
	diag("%s", err);
	free(err);
	err = NULL;
	is_int(pending_write(dir, "t", "r", 1, "Abc123XyZ0987654", &err), 0,
		   "write replaces the symlink itself");
	{
		FILE *f = fopen(x, "r");
		char buf[512];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		like(buf, "password x\n", "symlink target untouched");
	}
	ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode), "now a regular file");
	free(x);
	corrupt(dir, "pgrotate-pending 2\nrole r\ngeneration 1\npassword x\n", "version");
	corrupt(dir, "pgrotate-pending 1\nrole r\ngeneration 1\npassword x", "no final newline");
	corrupt(dir, "pgrotate-pending 1\nrole r\ngeneration 1\npassword x\nextra\n", "extra line");
	corrupt(dir, "pgrotate-pending 1\nrole r\ngeneration -1\npassword x\n", "negative gen");
	corrupt(dir, "pgrotate-pending 1\nrole r\ngeneration 1a\npassword x\n", "bad gen");
	corrupt(dir, "pgrotate-pending 1\nrole r\ngeneration 1\npassword x y\n", "space in pw");
	corrupt(dir, "pgrotate-pending 1\nrole \ngeneration 1\npassword x\n", "empty role");
	corrupt(dir, "pgrotate-pending 1\nrole a%2\ngeneration 1\npassword x\n", "bad percent");
	corrupt(dir, "pgrotate-pending 1\nrole a b\ngeneration 1\npassword x\n", "raw space in role");
	corrupt(dir, "pgrotate-pending 1\ngeneration 1\nrole r\npassword x\n", "order");
	corrupt(dir, "", "empty");
	is_int(pending_write(dir, "t", "r", 1, "has space", &err), -1, "pw with space refused");
	free(err);
	err = NULL;
	is_int(pending_write(dir, "../t", "r", 1, "abc", &err), -1, "bad target");
	free(err);
	err = NULL;
	is_int(pending_remove(dir, "t", &err), 0, "removed");
	ok(access(p, F_OK) != 0, "gone");
	is_int(pending_remove(dir, "t", &err), 0, "remove missing ok");
	{
		char *cmd = xasprintf("ls -A %s", dir);
		FILE *f = popen(cmd, "r");
		char buf[256] = "";
		size_t n = fread(buf, 1, 255, f);
		buf[n] = 0;
		pclose(f);
		is_str(buf, "", "no temp files left");
		free(cmd);
	}
	free(p);
	free(dir);
	{
		char *cmd = xasprintf("rm -rf %s", base);
		system(cmd);
		free(cmd);
	}
	return done_testing();
}
