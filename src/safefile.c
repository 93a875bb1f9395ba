/*
 * safefile.c: path resolution and file I/O with the safety rules.
 *
 * A path is walked from "/" with openat(O_PATH|O_NOFOLLOW|O_DIRECTORY),
 * one component at a time, so that no symlink is ever followed and each
 * folder is checked (safefile.h says against what) while it is held open:
 * what was checked is what is used. Files are then opened, created,
 * renamed and fsync'ed relative to the last folder's fd only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "safefile.h"
#include "util.h"

#define TEMP_TRIES 16

/* ---- who could replace a folder's entries ---- */

static bool
trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static bool
writable_by_others(const struct stat *st)
{
	return !trusted_uid(st->st_uid) || (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* A sticky folder of ours protects a next component of ours. */
static bool
sticky_protects(const struct stat *folder, const struct stat *next)
{
	return (folder->st_mode & S_ISVTX) && trusted_uid(folder->st_uid) &&
		trusted_uid(next->st_uid);
}

static const char *
me(void)
{
	return geteuid() == 0 ? "root" : "the user pgrotate runs as";
}

static char *
chown_to(void)
{
	return geteuid() == 0 ? xstrdup("root") : xasprintf("%u", (unsigned int) geteuid());
}

/*
 * The folder at folder (stat fst) on the path to what "path" may not stay
 * as it is: *err names it and the fix. next/nst: the component in it, or
 * NULL for the file's own folder. Sets errno to EPERM.
 */
static void
refuse_folder(const char *folder, const struct stat *fst, const char *next,
			  const struct stat *nst, const char *what, const char *path,
			  char **err)
{
	char	   *who = chown_to();
	unsigned int mode = (unsigned int) (fst->st_mode & 07777);

	if (!trusted_uid(fst->st_uid))
		*err = xasprintf("folder \"%s\" on the path of %s \"%s\" belongs to uid %u, "
						 "who could replace what is in it (hint: Run \"chown %s %s\", "
						 "or use a folder that only %s can write.)", folder, what,
						 path, (unsigned int) fst->st_uid, who, folder, me());
	else if (next != NULL && (fst->st_mode & S_ISVTX))
		*err = xasprintf("folder \"%s\" on the path of %s \"%s\" is writable by "
						 "others (mode %04o), and \"%s\" in it belongs to uid %u, "
						 "who could replace it (hint: Run \"chown %s %s\".)", folder, what,
						 path, mode, next, (unsigned int) nst->st_uid, who, next);
	else
		*err = xasprintf("%s \"%s\" on the path of %s \"%s\" is writable by group "
						 "or others (mode %04o), who could replace what is in it "
						 "(hint: Run \"chmod go-w %s\".)", next ? "folder" : "the file's own folder",
						 folder, what, path, mode, folder);
	free(who);
	errno = EPERM;
}

/* Why component could not be opened as a folder: *err, errno kept. */
static void
component_error(int dirfd, const char *name, const char *full, int e,
				const char *what, const char *path, char **err)
{
	struct stat st;

	if ((e == ELOOP || e == ENOTDIR || e == EMLINK) &&
		fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
	{
		if (S_ISLNK(st.st_mode))
			e = ELOOP;
		else if (!S_ISDIR(st.st_mode))
			e = ENOTDIR;
	}
	if (e == ELOOP)
		*err = xasprintf("\"%s\" on the path of %s \"%s\" is a symbolic link, which "
						 "pgrotate does not follow (hint: Name the real folder in "
						 "the path, or replace the link with a folder.)", full, what,
						 path);
	else if (e == ENOTDIR)
		*err = xasprintf("\"%s\" on the path of %s \"%s\" is not a folder (hint: "
						 "Fix the path.)", full, what, path);
	else
		*err = xasprintf("cannot open folder \"%s\" of %s \"%s\": %s (hint: %s)",
						 full, what, path, strerror(e), e == ENOENT ?
						 "Create the folder, or fix the path." :
						 "Check the permissions of the folders on the path.");
	errno = e;
}

/* ---- walking ---- */

/*
 * dir made absolute (from the current folder's real path), "." and ".."
 * taken out lexically: no component may be a symlink, so the lexical
 * parent is the real one.
 */
static char *
absolute(const char *dir)
{
	char	   *cwd = NULL;
	char	   *abs;
	StrBuf		out;
	const char *p;

	if (dir[0] != '/' && (cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	abs = cwd ? xasprintf("%s/%s", cwd, dir) : xstrdup(dir);
	free(cwd);
	sb_init(&out);
	for (p = abs; *p != '\0';)
	{
		size_t		n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 2 && strncmp(p, "..", 2) == 0)
		{
			char	   *slash = strrchr(out.data, '/');

			out.len = slash ? (size_t) (slash - out.data) : 0;
			out.data[out.len] = '\0';
		}
		else if (n > 0 && !(n == 1 && p[0] == '.'))
		{
			sb_appendc(&out, '/');
			sb_appendn(&out, p, n);
		}
		p += n;
	}
	free(abs);
	if (out.len == 0)
		sb_append(&out, "/");
	return sb_steal(&out);
}

typedef struct Walk
{
	SafeRule	rule;
	bool		check;			/* the rule applies to this run */
	const char *what;
	const char *path;
	int			fd;				/* the folder reached, O_PATH */
	struct stat st;
	StrBuf		cur;			/* its path, for messages */
} Walk;

/* Step from w->fd into the folder name. 0 or -1 + *err + errno. */
static int
walk_step(Walk *w, const char *name, char **err)
{
	size_t		keep = w->cur.len;
	struct stat nst;
	int			next;

	if (w->cur.len > 1)
		sb_appendc(&w->cur, '/');
	sb_append(&w->cur, name);
	next = openat(w->fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (next < 0 || fstat(next, &nst) != 0)
	{
		int			e = errno;

		if (next >= 0)
			close(next);
		component_error(w->fd, name, w->cur.data, e, w->what, w->path, err);
		return -1;
	}
	if (w->check && writable_by_others(&w->st) && !sticky_protects(&w->st, &nst))
	{
		char	   *folder = xstrndup(w->cur.data, keep);

		refuse_folder(folder, &w->st, w->cur.data, &nst, w->what, w->path, err);
		free(folder);
		close(next);
		return -1;
	}
	close(w->fd);
	w->fd = next;
	w->st = nst;
	return 0;
}

/* Walk every component of the absolute path abs. */
static int
walk_all(Walk *w, const char *abs, char **err)
{
	const char *p = abs;

	while (*p != '\0')
	{
		size_t		n;
		char	   *name;
		int			rc = 0;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 0)
			break;
		name = xstrndup(p, n);
		p += n;
		if (strcmp(name, ".") != 0)
			rc = walk_step(w, name, err);
		free(name);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The folder reached, readable if possible (fsync needs that). */
static int
walk_finish(Walk *w, char **err)
{
	int			fd;

	if (w->check && w->rule == SAFE_SINK && writable_by_others(&w->st))
	{
		refuse_folder(w->cur.data, &w->st, NULL, NULL, w->what, w->path, err);
		return -1;
	}
	fd = openat(w->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return w->fd;
	close(w->fd);
	return fd;
}

int
safe_dir_open(const char *dir, SafeRule rule, const char *what,
			  const char *path, char **err)
{
	Walk		w = {.rule = rule, .check = rule == SAFE_CONFIG || geteuid() == 0,
		.what = what, .path = path, .fd = -1};
	char	   *abs = absolute(dir);
	int			fd = -1;
	int			e = 0;

	sb_init(&w.cur);
	sb_append(&w.cur, "/");
	if (abs == NULL)
	{
		e = errno;
		*err = xasprintf("cannot find the current folder for %s \"%s\": %s",
						 what, path, strerror(e));
	}
	else if ((w.fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			 fstat(w.fd, &w.st) != 0)
	{
		e = errno;
		*err = xasprintf("cannot open \"/\": %s", strerror(e));
	}
	else if (walk_all(&w, abs, err) != 0 || (fd = walk_finish(&w, err)) < 0)
		e = errno;
	if (fd < 0 && w.fd >= 0)
		close(w.fd);
	sb_free(&w.cur);
	free(abs);
	errno = e;
	return fd;
}

int
safe_parent_open(const char *path, SafeRule rule, const char *what,
				 char **name, char **err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char	   *dir;
	int			fd;

	*name = NULL;
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
	{
		*err = xasprintf("%s \"%s\" names a folder, not a file (hint: Add a "
						 "file name to the path.)", what, path);
		errno = EISDIR;
		return -1;
	}
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t) (slash - path));
	fd = safe_dir_open(dir, rule, what, path, err);
	free(dir);
	if (fd >= 0)
		*name = xstrdup(base);
	return fd;
}

/* ---- reading ---- */

/* The config rule for the file st in the folder fst. */
static int
config_file_problems(const struct stat *fst, const struct stat *st,
					 const char *path, char **err)
{
	char	   *msg = NULL;
	char	   *who = chown_to();
	char	   *folder = xstrdup(path);
	char	   *slash = strrchr(folder, '/');

	if (slash != NULL)
		slash[slash == folder ? 1 : 0] = '\0';
	if (!trusted_uid(st->st_uid))
		msg = xasprintf("configuration file \"%s\" belongs to uid %u, who could "
						 "make pgrotate run any command (hint: Run \"chown %s %s\".)",
						 path, (unsigned int) st->st_uid, who, path);
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		msg = xasprintf("configuration file \"%s\" is writable by group or "
						 "others (mode %04o), who could make pgrotate run any "
						 "command (hint: Run \"chmod go-w %s\".)", path,
						 (unsigned int) (st->st_mode & 07777), path);
	else if (writable_by_others(fst) && !sticky_protects(fst, st))
		refuse_folder(slash ? folder : ".", fst, path, st, "configuration file",
					  path, &msg);
	free(who);
	free(folder);
	if (msg == NULL)
		return 0;
	*err = msg;
	return -1;
}

/* Whether the open file st may be read as o and rule say. */
static int
file_problems(int dirfd, const char *path, SafeRule rule, const SafeRead *o,
			  const struct stat *st, char **err)
{
	struct stat fst;
	char	   *msg = NULL;

	if (!S_ISREG(st->st_mode))
		msg = xasprintf("%s \"%s\" is not a regular file (hint: Remove it, or "
						 "fix the path.)", o->what, path);
	else if (o->max_size > 0 && (size_t) st->st_size > o->max_size)
		msg = xasprintf("%s \"%s\" is larger than %zu bytes, too large to be "
						 "ours", o->what, path, o->max_size);
	else if (o->single_link && st->st_nlink != 1)
		msg = xasprintf("%s \"%s\" has %lu hard links; another name could be "
						 "a file pgrotate must not read (hint: Remove the other "
						 "links, or copy the file.)", o->what, path,
						 (unsigned long) st->st_nlink);
	else if (o->check_owner && !trusted_uid(st->st_uid) && st->st_uid != o->owner)
	{
		char	   *who = o->owner != (uid_t) -1 ?
			xasprintf("%u", (unsigned int) o->owner) : chown_to();

		msg = xasprintf("%s \"%s\" belongs to uid %u, not to root, to uid %u "
						 "that pgrotate runs as or to the configured owner "
						 "(hint: Run \"chown %s %s\", after checking who changed it.)",
						 o->what, path, (unsigned int) st->st_uid,
						 (unsigned int) geteuid(), who, path);
		free(who);
	}
	else if (st->st_mode & o->forbidden)
		msg = xasprintf("%s \"%s\" can be accessed by group or others (mode "
						 "%04o) (hint: Run \"chmod %s %s\".%s%s)", o->what, path,
						 (unsigned int) (st->st_mode & 07777),
						 o->mode_fix ? o->mode_fix : "go-rwx", path,
						 o->mode_hint ? " " : "", o->mode_hint ? o->mode_hint : "");
	else if (rule == SAFE_CONFIG && fstat(dirfd, &fst) == 0)
		return config_file_problems(&fst, st, path, err);
	if (msg == NULL)
		return 0;
	*err = msg;
	return -1;
}

/* The fd of name opened for reading and checked; -1 + *err + errno. */
static int
open_checked(int dirfd, const char *name, const char *path, SafeRule rule,
			 const SafeRead *o, struct stat *st, char **err)
{
	int			fd = openat(dirfd, name,
							O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	int			e;

	if (fd < 0)
	{
		e = errno;
		if (e == ELOOP)
			*err = xasprintf("%s \"%s\" is a symbolic link, which pgrotate does "
							 "not follow (hint: Point the path at the real file.)",
							 o->what, path);
		else if (e != ENOENT)
			*err = xasprintf("cannot open %s \"%s\": %s", o->what, path,
							 strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, st) != 0)
	{
		e = errno;
		*err = xasprintf("cannot stat %s \"%s\": %s", o->what, path, strerror(e));
	}
	else if (file_problems(dirfd, path, rule, o, st, err) != 0)
		e = EPERM;
	else
		return fd;
	close(fd);
	errno = e;
	return -1;
}

int
safe_read_at(int dirfd, const char *name, const char *path, SafeRule rule,
			 const SafeRead *o, char **text, size_t *len, struct stat *st,
			 char **err)
{
	int			fd = open_checked(dirfd, name, path, rule, o, st, err);

	*text = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	*text = xmalloc((size_t) st->st_size + 1);
	while (*len < (size_t) st->st_size)
	{
		ssize_t		n = read(fd, *text + *len, (size_t) st->st_size - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;				/* shorter than fstat said: what is there */
		*len += (size_t) n;
	}
	(*text)[*len] = '\0';
	close(fd);
	return 1;
}

int
safe_read(const char *path, SafeRule rule, const SafeRead *o, char **text,
		  size_t *len, struct stat *st, char **err)
{
	char	   *name = NULL;
	int			dirfd = safe_parent_open(path, rule, o->what, &name, err);
	int			rc;

	*text = NULL;
	*len = 0;
	if (dirfd < 0)
	{
		if (errno != ENOENT)
			return -1;
		free(*err);
		*err = NULL;
		return 0;
	}
	rc = safe_read_at(dirfd, name, path, rule, o, text, len, st, err);
	close(dirfd);
	free(name);
	return rc;
}

int
safe_open(const char *path, SafeRule rule, const SafeRead *o, struct stat *st,
		  char **err)
{
	char	   *name = NULL;
	int			dirfd = safe_parent_open(path, rule, o->what, &name, err);
	int			fd;
	int			e;

	if (dirfd < 0)
	{
		e = errno;
		if (e == ENOENT)
		{
			free(*err);
			*err = NULL;
		}
		errno = e;
		return -1;
	}
	fd = open_checked(dirfd, name, path, rule, o, st, err);
	e = errno;
	close(dirfd);
	free(name);
	errno = e;
	return fd;
}

int
safe_probe(const char *path, SafeRule rule, const char *what, char **err)
{
	char	   *name = NULL;
	int			dirfd = safe_parent_open(path, rule, what, &name, err);
	int			fd;
	int			e = 0;

	if (dirfd < 0)
		return errno ? errno : EIO;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
	{
		e = errno;
		*err = xasprintf("cannot open \"%s\": %s", path, strerror(e));
	}
	else
		close(fd);
	close(dirfd);
	free(name);
	return e;
}

/* ---- writing ---- */

typedef struct Temp
{
	int			dirfd;
	const char *name;			/* the file's name in its folder */
	const char *path;			/* for messages */
	const SafeWrite *o;
	char	   *tmpname;
	int			fd;
} Temp;

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/* An existing entry must be a regular file (when o->refuse_other). */
static int
temp_check_target(Temp *t, char **err)
{
	struct stat st;

	if (!t->o->refuse_other ||
		fstatat(t->dirfd, t->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;				/* missing: the rename creates it */
	if (S_ISLNK(st.st_mode))
		*err = xasprintf("%s \"%s\" is a symbolic link, which pgrotate never "
						 "writes through (hint: Point the path at the real file, "
						 "or remove the link.)", t->o->what, t->path);
	else if (!S_ISREG(st.st_mode))
		*err = xasprintf("%s \"%s\" exists and is not a regular file (hint: "
						 "Remove it or choose another path.)", t->o->what, t->path);
	else
		return 0;
	return -1;
}

/* Create ".<name>.<random>" next to the file, at 0600. */
static int
temp_create(Temp *t, char **err)
{
	for (int i = 0; i < TEMP_TRIES && t->fd < 0; i++)
	{
		unsigned char rnd[4];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			memset(rnd, i, sizeof(rnd));
		free(t->tmpname);
		t->tmpname = xasprintf(".%s.%02x%02x%02x%02x", t->name, rnd[0],
							   rnd[1], rnd[2], rnd[3]);
		t->fd = openat(t->dirfd, t->tmpname,
					   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (t->fd < 0 && errno != EEXIST)
			break;
	}
	if (t->fd >= 0)
		return 0;
	*err = xasprintf("cannot create a temp file next to %s \"%s\": %s (hint: "
					 "Give pgrotate write permission on the folder; %s.)",
					 t->o->what, t->path, strerror(errno), t->o->unchanged);
	free(t->tmpname);
	t->tmpname = NULL;
	return -1;
}

/*
 * Mode, then owner and group: once the file belongs to another user, a
 * chmod would need CAP_FOWNER as well, where a service that may only
 * chown (CAP_CHOWN) is enough this way. The mode has no set-id bits
 * (& 0777), so the chown has none to clear.
 */
static int
temp_set_attrs(Temp *t, char **err)
{
	const SafeWrite *o = t->o;

	if (fchmod(t->fd, o->mode & 0777) != 0)
	{
		*err = xasprintf("cannot set mode %04o on %s \"%s\": %s",
						 (unsigned int) (o->mode & 0777), o->what, t->path,
						 strerror(errno));
		return -1;
	}
	if ((o->uid != (uid_t) -1 || o->gid != (gid_t) -1) &&
		fchown(t->fd, o->uid, o->gid) != 0)
	{
		*err = xasprintf("cannot give %s \"%s\" owner \"%s\" and group \"%s\": %s "
						 "(hint: Run pgrotate as root or with CAP_CHOWN to set an owner,"
						 " or as a member of the group to set the group.)", o->what, t->path,
						 o->owner_name ? o->owner_name : "(unchanged)",
						 o->group_name ? o->group_name : "(unchanged)",
						 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * A reader that skips a file whose stat (inode, size, mtime in seconds)
 * equals that of its last load (PgBouncer) could miss a replacement that
 * got a freed inode back within the same second: move the mtime past the
 * old one.
 */
static int
temp_advance_mtime(Temp *t, char **err)
{
	struct timespec ts[2];

	if (t->o->after_mtime <= 0 || t->o->after_mtime < time(NULL))
		return 0;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = t->o->after_mtime + 1;
	ts[1].tv_nsec = 0;
	if (futimens(t->fd, ts) == 0)
		return 0;
	*err = xasprintf("cannot set the modification time of %s \"%s\": %s (its "
					 "reader might not notice the change; %s)", t->o->what,
					 t->path, strerror(errno), t->o->unchanged);
	return -1;
}

/* Write, fsync and close the temp file. */
static int
temp_fill(Temp *t, const char *content, size_t len, char **err)
{
	const char *step;
	int			rc;

	if (write_all(t->fd, content, len) != 0)
	{
		*err = xasprintf("cannot write %s \"%s\": %s (hint: Free space in its "
						 "folder, or check quotas and file size limits; %s.)",
						 t->o->what, t->path, strerror(errno), t->o->unchanged);
		return -1;
	}
	if (temp_advance_mtime(t, err) != 0)
		return -1;
	if (fsync(t->fd) != 0)
		step = "fsync";
	else
	{
		rc = close(t->fd);
		t->fd = -1;
		if (rc == 0)
			return 0;
		step = "close";
	}
	*err = xasprintf("cannot %s %s \"%s\": %s (%s)", step, t->o->what, t->path,
					 strerror(errno), t->o->unchanged);
	return -1;
}

/* Rename the temp file over the file and make the rename durable. */
static int
temp_commit(Temp *t, char **err)
{
	if (renameat(t->dirfd, t->tmpname, t->dirfd, t->name) != 0)
	{
		*err = xasprintf("cannot rename the new %s into \"%s\": %s (%s)",
						 t->o->what, t->path, strerror(errno), t->o->unchanged);
		return -1;
	}
	free(t->tmpname);
	t->tmpname = NULL;			/* gone: nothing to unlink any more */
	if (fsync(t->dirfd) != 0 && errno != EBADF)
	{
		*err = xasprintf("%s \"%s\" was replaced, but its folder could not be "
						 "fsync'ed: %s (a crash now could bring back the old "
						 "file)", t->o->what, t->path, strerror(errno));
		return -1;
	}
	return 0;
}

int
safe_write_at(int dirfd, const char *name, const char *path,
			  const char *content, size_t len, const SafeWrite *o, char **err)
{
	Temp		t = {.dirfd = dirfd, .name = name, .path = path, .o = o, .fd = -1};
	int			rc = -1;

	if (temp_check_target(&t, err) == 0 &&
		temp_create(&t, err) == 0 &&
		temp_set_attrs(&t, err) == 0 &&
		temp_fill(&t, content, len, err) == 0 &&
		temp_commit(&t, err) == 0)
		rc = 0;
	if (t.fd >= 0)
		close(t.fd);
	if (t.tmpname != NULL)
		unlinkat(dirfd, t.tmpname, 0);
	free(t.tmpname);
	return rc;
}

int
safe_write(const char *path, SafeRule rule, const char *content, size_t len,
		   const SafeWrite *o, char **err)
{
	char	   *name = NULL;
	int			dirfd = safe_parent_open(path, rule, o->what, &name, err);
	int			rc;

	if (dirfd < 0)
		return -1;
	rc = safe_write_at(dirfd, name, path, content, len, o, err);
	close(dirfd);
	free(name);
	return rc;
}

int
safe_remove_at(int dirfd, const char *name, const char *path,
			   const char *what, char **err)
{
	if (unlinkat(dirfd, name, 0) != 0)
	{
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("cannot remove %s \"%s\": %s", what, path,
						 strerror(errno));
		return -1;
	}
	if (fsync(dirfd) != 0 && errno != EBADF)
	{
		*err = xasprintf("removed %s \"%s\" but could not fsync its folder: %s",
						 what, path, strerror(errno));
		return -1;
	}
	return 1;
}

int
safe_mkdir(const char *dir, SafeRule rule, const char *what, char **err)
{
	char	   *name = NULL;
	int			parent = safe_parent_open(dir, rule, what, &name, err);
	int			rc = 0;

	if (parent < 0)
		return -1;
	if (mkdirat(parent, name, 0700) == 0)
		(void) fsync(parent);	/* best effort: the entry made durable */
	else if (errno != EEXIST)
	{
		*err = xasprintf("cannot create %s \"%s\": %s (hint: Create it with "
						 "\"install -d -m 0700 %s\".)", what, dir, strerror(errno), dir);
		rc = -1;
	}
	close(parent);
	free(name);
	return rc;
}
