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

/*
 * The uid (is_group false) or gid of a user or group name, or of a number;
 * -1 with *err if unknown.
 */
static int
lookup_id(const char *name, bool is_group, const char *path, unsigned long *id,
		  char **err)
{
	struct passwd pw;
	struct passwd *pwres = NULL;
	struct group gr;
	struct group *grres = NULL;
	size_t		buflen = 1024;
	char	   *buf = NULL;
	int			rc;
	int			ret = 0;

	do
	{
		buflen *= 2;
		buf = xrealloc(buf, buflen);
		rc = is_group ? getgrnam_r(name, &gr, buf, buflen, &grres) :
			getpwnam_r(name, &pw, buf, buflen, &pwres);
	} while (rc == ERANGE && buflen < NSS_BUF_MAX);
	if (pwres != NULL || grres != NULL)
		*id = is_group ? (unsigned long) gr.gr_gid : (unsigned long) pw.pw_uid;
	else if (all_digits(name))
		*id = strtoul(name, NULL, 10);
	else
	{
		*err = xasprintf("sink file \"%s\": %s \"%s\" is not a known %s%s%s "
						 "(hint: Create the %s or fix \"%s\" in the sink.)",
						 path, is_group ? "group" : "owner", name,
						 is_group ? "group" : "user", rc ? ": " : "",
						 rc ? strerror(rc) : "", is_group ? "group" : "user",
						 is_group ? "group" : "owner");
		ret = -1;
	}
	free(buf);
	return ret;
}

int
sink_file_ids(const char *path, const char *owner, const char *group,
			  uid_t *uid, gid_t *gid, char **err)
{
	unsigned long id;

	*uid = (uid_t) -1;
	*gid = (gid_t) -1;
	if (owner && lookup_id(owner, false, path, &id, err) != 0)
		return -1;
	if (owner)
		*uid = (uid_t) id;
	if (group && lookup_id(group, true, path, &id, err) != 0)
		return -1;
	if (group)
		*gid = (gid_t) id;
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
		*err = xstrdup("file sink without a path (hint: Set \"path\".)");
		return -1;
	}
	if (sink_file_ids(path, owner, group, &o.uid, &o.gid, err) != 0)
		return -1;
	return safe_write(path, SAFE_SINK, content, len, &o, err);
}
