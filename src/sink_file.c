/*
 * sink_file.c: atomic replacement of a file sink, through safefile.c
 * (folder resolved without symlinks and checked, a temp file at 0600 that
 * gets the sink's owner, group and mode, fsync, rename, fsync of the
 * folder), and the owner and group names of a sink.
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

#include "safefile.h"
#include "sink.h"
#include "util.h"

#define NSS_BUF_MAX (1024 * 1024)

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

int
sink_file_ids(const char *path, const char *owner, const char *group,
			  uid_t *uid, gid_t *gid, char **err)
{
	*uid = (uid_t) -1;
	*gid = (gid_t) -1;
	if (owner && lookup_uid(owner, path, uid, err) != 0)
		return -1;
	if (group && lookup_gid(group, path, gid, err) != 0)
		return -1;
	return 0;
}

int
sink_write_file(const char *path, const char *content, size_t len,
				mode_t mode, const char *owner, const char *group, char **err)
{
	SafeWrite	o = {.what = "sink file", .mode = mode, .owner_name = owner,
		.group_name = group, .refuse_other = true,
	.unchanged = "the old file is unchanged"};

	if (path == NULL || path[0] == '\0')
	{
		*err = xstrdup("file sink without a path (hint: set \"path\")");
		return -1;
	}
	if (sink_file_ids(path, owner, group, &o.uid, &o.gid, err) != 0)
		return -1;
	return safe_write(path, SAFE_SINK, content, len, &o, err);
}
