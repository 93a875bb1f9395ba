/*
 * sink_file.c: atomic replacement of a file sink.
 *
 * The new content goes to a temp file ".<name>.XXXXXX" created with
 * O_EXCL|O_NOFOLLOW at 0600 in the same folder (opened once, everything
 * else relative to it), gets its owner, group and mode, is written and
 * fsync'ed, then renamed over the sink and the folder fsync'ed. Until the
 * rename the old file is untouched; on any failure the temp file is
 * removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "sink.h"
#include "util.h"

#define TEMP_TRIES 16
#define NSS_BUF_MAX (1024 * 1024)

typedef struct TempFile
{
	const char *path;			/* the sink, for messages */
	int			dirfd;
	char	   *base;			/* name of the sink inside its folder */
	char	   *tmpname;		/* name of the temp file in that folder */
	int			fd;
} TempFile;

static bool
all_digits(const char *s)
{
	return s[0] != '\0' && s[strspn(s, "0123456789")] == '\0';
}

/* uid of a user name (or a number); -1 with *err if unknown. */
static int
lookup_uid(const char *name, const char *path, uid_t *uid, char **err)
{
	struct passwd pw;
	struct passwd *res = NULL;
	size_t		buflen = 1024;
	char	   *buf = NULL;
	int			rc;
	int			ret = 0;

	do
	{
		buflen *= 2;
		buf = xrealloc(buf, buflen);
		rc = getpwnam_r(name, &pw, buf, buflen, &res);
	} while (rc == ERANGE && buflen < NSS_BUF_MAX);
	if (res != NULL)
		*uid = pw.pw_uid;
	else if (all_digits(name))
		*uid = (uid_t) strtoul(name, NULL, 10);
	else
	{
		*err = xasprintf("sink file \"%s\": owner \"%s\" is not a known user%s%s "
						 "(hint: create the user or fix \"owner\" in the sink)",
						 path, name, rc ? ": " : "", rc ? strerror(rc) : "");
		ret = -1;
	}
	free(buf);
	return ret;
}

/* gid of a group name (or a number); -1 with *err if unknown. */
static int
lookup_gid(const char *name, const char *path, gid_t *gid, char **err)
{
	struct group gr;
	struct group *res = NULL;
	size_t		buflen = 1024;
	char	   *buf = NULL;
	int			rc;
	int			ret = 0;

	do
	{
		buflen *= 2;
		buf = xrealloc(buf, buflen);
		rc = getgrnam_r(name, &gr, buf, buflen, &res);
	} while (rc == ERANGE && buflen < NSS_BUF_MAX);
	if (res != NULL)
		*gid = gr.gr_gid;
	else if (all_digits(name))
		*gid = (gid_t) strtoul(name, NULL, 10);
	else
	{
		*err = xasprintf("sink file \"%s\": group \"%s\" is not a known group%s%s "
						 "(hint: create the group or fix \"group\" in the sink)",
						 path, name, rc ? ": " : "", rc ? strerror(rc) : "");
		ret = -1;
	}
	free(buf);
	return ret;
}

/* Open the sink's folder; t->base becomes the file's name in it. */
static int
folder_open(TempFile *t, char **err)
{
	const char *slash = strrchr(t->path, '/');
	char	   *dir;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == t->path)
		dir = xstrdup("/");
	else
		dir = xstrndup(t->path, (size_t) (slash - t->path));
	t->base = xstrdup(slash ? slash + 1 : t->path);
	if (t->base[0] == '\0' || strcmp(t->base, ".") == 0 ||
		strcmp(t->base, "..") == 0)
		*err = xasprintf("sink file \"%s\" names a folder, not a file "
						 "(hint: add a file name to \"path\")", t->path);
	else if ((t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		*err = xasprintf("cannot open folder \"%s\" of sink file \"%s\": %s "
						 "(hint: create the folder, or fix \"path\")", dir,
						 t->path, strerror(errno));
	free(dir);
	return t->dirfd >= 0 ? 0 : -1;
}

/* An existing sink must be a regular file, not a symlink. */
static int
check_target(TempFile *t, char **err)
{
	struct stat st;

	if (fstatat(t->dirfd, t->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
	{
		if (errno == ENOENT)
			return 0;			/* the rename will create it */
		*err = xasprintf("cannot check sink file \"%s\": %s", t->path,
						 strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode))
	{
		*err = xasprintf("sink file \"%s\" is a symbolic link, which pgrotate "
						 "never writes through (hint: point \"path\" at the "
						 "real file, or remove the link)", t->path);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
	{
		*err = xasprintf("sink file \"%s\" exists and is not a regular file "
						 "(hint: remove it or choose another \"path\")",
						 t->path);
		return -1;
	}
	return 0;
}

/* Create the temp file ".<name>.<random>" next to the sink, at 0600. */
static int
temp_create(TempFile *t, char **err)
{
	for (int i = 0; i < TEMP_TRIES && t->fd < 0; i++)
	{
		unsigned char rnd[4];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			memset(rnd, i, sizeof(rnd));
		free(t->tmpname);
		t->tmpname = xasprintf(".%s.%02x%02x%02x%02x", t->base, rnd[0],
							   rnd[1], rnd[2], rnd[3]);
		t->fd = openat(t->dirfd, t->tmpname,
					   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					   0600);
		if (t->fd < 0 && errno != EEXIST)
			break;
	}
	if (t->fd >= 0)
		return 0;
	*err = xasprintf("cannot create a temp file next to sink file \"%s\": %s "
					 "(hint: pgrotate needs write permission on the folder)",
					 t->path, strerror(errno));
	free(t->tmpname);
	t->tmpname = NULL;
	return -1;
}

/*
 * Mode, then owner and group of the temp file. In this order CAP_CHOWN
 * alone is enough to give the file to another user (chmod of a file one no
 * longer owns would need CAP_FOWNER too); chown clears only set-id bits,
 * which the mode (at most 0777) never has.
 */
static int
temp_set_attrs(TempFile *t, mode_t mode, const char *owner,
			   const char *group, char **err)
{
	uid_t		uid = (uid_t) -1;
	gid_t		gid = (gid_t) -1;

	if (owner && lookup_uid(owner, t->path, &uid, err) != 0)
		return -1;
	if (group && lookup_gid(group, t->path, &gid, err) != 0)
		return -1;
	if (fchmod(t->fd, mode & 0777) != 0)
	{
		*err = xasprintf("cannot set mode %04o on sink file \"%s\": %s",
						 (unsigned int) (mode & 0777), t->path,
						 strerror(errno));
		return -1;
	}
	if ((owner || group) && fchown(t->fd, uid, gid) != 0)
	{
		*err = xasprintf("cannot give sink file \"%s\" owner \"%s\" and group "
						 "\"%s\": %s (hint: run pgrotate as root or with "
						 "CAP_CHOWN to set an owner, or as a member of the "
						 "group to set the group)",
						 t->path, owner ? owner : "(unchanged)",
						 group ? group : "(unchanged)", strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, buf, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
		{
			errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Write, fsync and close the temp file. */
static int
temp_fill(TempFile *t, const char *content, size_t len, char **err)
{
	int			rc;

	if (write_all(t->fd, content, len) != 0)
	{
		*err = xasprintf("cannot write sink file \"%s\": %s (hint: free space "
						 "in its folder, or check quotas and file size limits; "
						 "the old file is unchanged)", t->path, strerror(errno));
		return -1;
	}
	if (fsync(t->fd) != 0)
	{
		*err = xasprintf("cannot fsync sink file \"%s\": %s (the old file is "
						 "unchanged)", t->path, strerror(errno));
		return -1;
	}
	rc = close(t->fd);
	t->fd = -1;
	if (rc != 0)
	{
		*err = xasprintf("cannot close sink file \"%s\": %s (the old file is "
						 "unchanged)", t->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Rename the temp file over the sink and make the rename durable. */
static int
temp_commit(TempFile *t, char **err)
{
	if (renameat(t->dirfd, t->tmpname, t->dirfd, t->base) != 0)
	{
		*err = xasprintf("cannot rename the new sink file into \"%s\": %s "
						 "(the old file is unchanged)", t->path, strerror(errno));
		return -1;
	}
	free(t->tmpname);
	t->tmpname = NULL;			/* gone: nothing to unlink any more */
	if (fsync(t->dirfd) != 0)
	{
		*err = xasprintf("sink file \"%s\" was replaced, but its folder could "
						 "not be fsync'ed: %s (a crash now could bring back the "
						 "old file)", t->path, strerror(errno));
		return -1;
	}
	return 0;
}

int
sink_write_file(const char *path, const char *content, size_t len,
				mode_t mode, const char *owner, const char *group, char **err)
{
	TempFile	t = {path, -1, NULL, NULL, -1};
	int			rc = -1;

	if (path == NULL || path[0] == '\0')
	{
		*err = xstrdup("file sink without a path (hint: set \"path\")");
		return -1;
	}
	if (folder_open(&t, err) != 0 ||
		check_target(&t, err) != 0 ||
		temp_create(&t, err) != 0 ||
		temp_set_attrs(&t, mode, owner, group, err) != 0 ||
		temp_fill(&t, content, len, err) != 0 ||
		temp_commit(&t, err) != 0)
		goto done;
	rc = 0;

done:
	if (t.fd >= 0)
		close(t.fd);
	if (t.tmpname != NULL)
		unlinkat(t.dirfd, t.tmpname, 0);
	if (t.dirfd >= 0)
		close(t.dirfd);
	free(t.tmpname);
	free(t.base);
	return rc;
}
