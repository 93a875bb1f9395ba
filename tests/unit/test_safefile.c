/*
 * test_safefile.c: the path resolver (no symlink in any component, who
 * may write each folder when run as root) and the checked reader and
 * atomic writer. Each refusal reproduces a way to redirect root's write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"
#include "../tap.h"

#define NOBODY 65534

static char base[64] = "/tmp/test_safefile.XXXXXX";

static char *
at(const char *rel)
{
	return xasprintf("%s/%s", base, rel);
}

static void
spit(const char *path, const char *s, mode_t mode)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
	{
		diag("cannot write %s", path);
		return;
	}
	fputs(s, f);
	fclose(f);
	chmod(path, mode);
}

/* Entries of a folder other than . and .. */
static int
entries(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static const SafeWrite wopts = {.what = "sink file", .mode = 0600,
	.uid = (uid_t) -1, .gid = (gid_t) -1, .refuse_other = true,
.unchanged = "the old file is unchanged"};

/* safe_write to path is refused with errno-like reason in the message. */
static void
write_refused(const char *rel, const char *says, const char *what)
{
	char	   *path = at(rel);
	char	   *err = NULL;

	is_int(safe_write(path, SAFE_SINK, "secret\n", 7, &wopts, &err), -1,
		   "%s: refused", what);
	if (!ok(err != NULL && strstr(err, says) != NULL, "%s: says \"%s\"", what, says))
		diag("%s", err ? err : "(no message)");
	free(err);
	free(path);
}

static void
write_allowed(const char *rel, const char *what)
{
	char	   *path = at(rel);
	char	   *err = NULL;

	is_int(safe_write(path, SAFE_SINK, "secret\n", 7, &wopts, &err), 0,
		   "%s: written", what);
	if (err != NULL)
		diag("%s", err);
	free(err);
	unlink(path);
	free(path);
}

/* A symlink in a middle component: never followed, as any user. */
static void
test_symlink_component(void)
{
	char	   *target = at("rootonly");
	char	   *link = at("app/conf");
	char	   *err = NULL;
	int			fd;

	mkdir(target, 0700);
	symlink(target, link);
	fd = safe_dir_open(link, SAFE_SINK, "sink file", link, &err);
	ok(fd < 0 && errno == ELOOP, "a symlinked folder is not opened (ELOOP)");
	if (!ok(err && strstr(err, "\"") && strstr(err, link) &&
			strstr(err, "is a symbolic link"), "the error names the component"))
		diag("%s", err ? err : "(none)");
	free(err);
	write_refused("app/conf/app.env", "app/conf\" on the path of sink file",
				  "a write through a symlinked folder");
	is_int(entries(target), 0, "the folder the link points at got no file");
	write_refused("app/conf/../conf/app.env", "is a symbolic link",
				  "the same with .. in the path");
	unlink(link);
	mkdir(link, 0755);
	write_allowed("app/conf/app.env", "a real folder in its place");
	write_allowed("app/x/../conf/./app.env", "\"..\" and \".\" taken out lexically");
	rmdir(link);
	rmdir(target);
	free(target);
	free(link);
}

/* Read checks: a symlink, a second link, the owner. */
static void
test_read_checks(void)
{
	SafeRead	o = {.what = "the auth_file", .max_size = 4096,
		.single_link = true, .check_owner = true, .owner = (uid_t) -1};
	char	   *path = at("read/userlist.txt");
	char	   *hard = at("read/hard");
	char	   *dir = at("read");
	char	   *text = NULL;
	char	   *err = NULL;
	size_t		len = 0;
	struct stat st;

	mkdir(dir, 0755);
	is_int(safe_read(path, SAFE_SINK, &o, &text, &len, &st, &err), 0,
		   "a missing file: 0");
	spit(path, "\"a\" \"b\"\n", 0600);
	is_int(safe_read(path, SAFE_SINK, &o, &text, &len, &st, &err), 1, "read");
	is_str(text, "\"a\" \"b\"\n", "the content");
	free(text);
	link(path, hard);
	is_int(safe_read(path, SAFE_SINK, &o, &text, &len, &st, &err), -1,
		   "a file with two hard links is refused");
	ok(err && strstr(err, "2 hard links"), "the error says so");
	free(err);
	err = NULL;
	unlink(hard);
	if (geteuid() == 0)
	{
		chown(path, NOBODY, NOBODY);
		is_int(safe_read(path, SAFE_SINK, &o, &text, &len, &st, &err), -1,
			   "a file owned by nobody is refused");
		ok(err && strstr(err, "belongs to uid 65534"), "the error names the owner");
		free(err);
		err = NULL;
		o.owner = NOBODY;
		is_int(safe_read(path, SAFE_SINK, &o, &text, &len, &st, &err), 1,
			   "the configured owner is accepted");
		free(text);
	}
	else
		for (int i = 0; i < 3; i++)
			ok(true, "# SKIP owner checks: not running as root");
	unlink(path);
	rmdir(dir);
	free(path);
	free(hard);
	free(dir);
}

/* Folders others could write, refused as root. */
static void
test_root_rules(void)
{
	char	   *gw = at("gw");
	char	   *gwsub = at("gw/sub");
	char	   *theirs = at("theirs");
	char	   *theirsub = at("theirs/sub");
	char	   *sticky = at("sticky");
	char	   *stsub = at("sticky/sub");
	char	   *stmine = at("sticky/mine");
	char	   *open_ = at("open");

	mkdir(gw, 0775);
	chmod(gw, 0775);
	mkdir(gwsub, 0755);
	write_refused("gw/sub/app.env", "chmod go-w", "a group-writable ancestor");
	mkdir(theirs, 0755);
	mkdir(theirsub, 0755);
	chown(theirs, NOBODY, NOBODY);
	write_refused("theirs/sub/app.env", "belongs to uid 65534",
				  "an ancestor owned by another user");
	mkdir(sticky, 0755);
	chmod(sticky, 01777);
	mkdir(stsub, 0755);
	chown(stsub, NOBODY, NOBODY);
	write_refused("sticky/sub/app.env", "is writable by others (mode 1777)",
				  "a sticky folder whose next component is another user's");
	mkdir(stmine, 0755);
	write_allowed("sticky/mine/app.env",
				  "a sticky folder whose next component is root's");
	write_refused("sticky/app.env", "the file's own folder",
				  "a sink directly in a sticky folder");
	mkdir(open_, 0755);
	chmod(open_, 0777);
	write_refused("open/app.env", "the file's own folder",
				  "a sink folder writable by others");
	is_int(entries(open_), 0, "nothing was created in it");
	rmdir(gwsub);
	rmdir(gw);
	rmdir(theirsub);
	rmdir(theirs);
	rmdir(stsub);
	rmdir(stmine);
	rmdir(sticky);
	rmdir(open_);
	free(gw);
	free(gwsub);
	free(theirs);
	free(theirsub);
	free(sticky);
	free(stsub);
	free(stmine);
	free(open_);
}

/* The writer: attributes, mtime past the old one, no temp file left. */
static void
test_write(void)
{
	SafeWrite	o = wopts;
	char	   *dir = at("w");
	char	   *path = at("w/f");
	char	   *err = NULL;
	struct stat st;
	time_t		future = time(NULL) + 100;

	mkdir(dir, 0755);
	o.mode = 0640;
	o.after_mtime = future;
	is_int(safe_write(path, SAFE_SINK, "one\n", 4, &o, &err), 0, "written");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "mode 0640");
	ok(st.st_mtime == future + 1, "mtime moved past after_mtime");
	is_int(entries(dir), 1, "no temp file left");
	unlink(path);
	symlink("/etc/passwd", path);
	write_refused("w/f", "is a symbolic link", "a symlink at the file's name");
	unlink(path);
	rmdir(dir);
	free(dir);
	free(path);
}

int
main(void)
{
	char	   *app;

	if (mkdtemp(base) == NULL)
		return 1;
	chmod(base, 0755);
	app = at("app");
	mkdir(app, 0755);
	test_symlink_component();
	test_read_checks();
	test_write();
	if (geteuid() == 0)
		test_root_rules();
	else
		ok(true, "# SKIP folders others can write: the rules apply to root only");
	rmdir(app);
	free(app);
	rmdir(base);
	return done_testing();
}
