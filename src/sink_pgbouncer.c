/*
 * sink_pgbouncer.c: the pgbouncer format, a PgBouncer auth_file.
 *
 * Each line is "user" "secret", both fields in double quotes with a quote
 * doubled. The file is shared: other users' lines (the console's admin,
 * the other login role while it is still valid) stay, so publishing reads
 * the file, puts the role's new line first and writes it back atomically.
 * There is no plaintext in it, only the SCRAM verifier as stored on the
 * server.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

#define AUTHFILE_MAX_SIZE (4 * 1024 * 1024)

/* ---- the quoting rule ---- */

/* s as an auth_file field: in double quotes, '"' doubled. */
static void
bouncer_quote(StrBuf *sb, const char *s)
{
	sb_appendc(sb, '"');
	for (; *s; s++)
	{
		if (*s == '"')
			sb_appendc(sb, '"');
		sb_appendc(sb, *s);
	}
	sb_appendc(sb, '"');
}

/*
 * The quoted field at *p, which ends before end, decoded into out; *p
 * after its closing quote. false if it is not one (no opening quote, or
 * none closing it before end).
 */
static bool
bouncer_field(const char **p, const char *end, StrBuf *out)
{
	const char *s = *p;

	if (s >= end || *s++ != '"')
		return false;
	for (;;)
	{
		if (s >= end)
			return false;
		if (*s == '"' && (s + 1 >= end || s[1] != '"'))
			break;
		if (*s == '"')
			s++;
		sb_appendc(out, *s++);
	}
	*p = s + 1;
	return true;
}

/* ---- format and parse ---- */

char *
sink_pgbouncer_format(const Credential *cred, char **err)
{
	StrBuf		sb;

	if (cred->verifier == NULL || cred->verifier[0] == '\0')
	{
		*err = xstrdup("no SCRAM verifier to write in the pgbouncer format");
		return NULL;
	}
	if (strpbrk(cred->role, "\r\n") != NULL ||
		strpbrk(cred->verifier, "\r\n\"") != NULL)
	{
		*err = xasprintf("role \"%s\" or its verifier cannot be written as a "
						 "PgBouncer auth_file line (hint: Rename the role.)",
						 cred->role);
		return NULL;
	}
	sb_init(&sb);
	bouncer_quote(&sb, cred->role);
	sb_appendc(&sb, ' ');
	bouncer_quote(&sb, cred->verifier);
	sb_appendc(&sb, '\n');
	return sb_steal(&sb);
}

void
sink_pgbouncer_parse(const char *text, char **role, char **verifier)
{
	const char *p = text;
	const char *end = text + strlen(text);
	StrBuf		user = {0};
	StrBuf		secret = {0};

	while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
		p++;
	sb_init(&user);
	sb_init(&secret);
	if (!bouncer_field(&p, end, &user))
		goto done;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!bouncer_field(&p, end, &secret))
		goto done;
	secret_free(*role);
	*role = sb_steal(&user);
	secret_free(*verifier);
	*verifier = sb_steal(&secret);

done:
	sb_free(&user);
	sb_free_secret(&secret);
}

/* ---- merge ---- */

/* The user of an auth_file line, or NULL if the line does not start with one. */
static char *
line_user(const char *line, size_t len)
{
	const char *end = line + len;
	const char *s = line;
	StrBuf		sb;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	sb_init(&sb);
	if (bouncer_field(&s, end, &sb))
		return sb_steal(&sb);
	sb_free(&sb);
	return NULL;
}

char *
sink_pgbouncer_merge(const char *old, const char *line, const char *role)
{
	StrBuf		sb;
	size_t		n = strlen(line);

	sb_init(&sb);
	sb_append(&sb, line);
	if (n == 0 || line[n - 1] != '\n')
		sb_appendc(&sb, '\n');
	for (const char *p = old; p != NULL && *p != '\0';)
	{
		const char *nl = strchr(p, '\n');
		size_t		len = nl ? (size_t) (nl - p) : strlen(p);
		char	   *user = line_user(p, len);

		if (user == NULL || strcmp(user, role) != 0)
		{
			sb_appendn(&sb, p, len);
			sb_appendc(&sb, '\n');
		}
		free(user);
		p = nl ? nl + 1 : p + len;
	}
	return sb_steal(&sb);
}

/* ---- publish ---- */

/*
 * The current auth_file in dirfd: 1 with *text and *st, 0 if it does not
 * exist, -1 + *err. PgBouncer reads it as its own user and root merges
 * and rewrites it: a second hard link or a stranger's file could be one
 * that the merge would copy out.
 */
static int
read_authfile(int dirfd, const char *name, const SinkCfg *s, char **text,
			  struct stat *st, char **err)
{
	SafeRead	o = {.what = "the auth_file", .max_size = AUTHFILE_MAX_SIZE,
		.single_link = true, .check_owner = true, .owner = (uid_t) -1};
	gid_t		gid;
	size_t		len;

	if (sink_file_ids(s->path, s->owner, NULL, &o.owner, &gid, err) != 0)
		return -1;
	return safe_read_at(dirfd, name, s->path, SAFE_SINK, &o, text, &len, st, err);
}

/*
 * PgBouncer skips re-reading an auth_file whose stat (inode, size, mtime in
 * seconds...) equals that of its last load; a replaced file can get a
 * freed inode back and the same size within the same second, so the new
 * file's mtime is set later than the old one's (after_mtime).
 */
int
sink_pgbouncer_publish(const SinkCfg *s, const Credential *cred, char **err)
{
	SafeWrite	o = {.what = "the auth_file", .mode = s->mode,
		.owner_name = s->owner, .group_name = s->group, .refuse_other = true,
	.unchanged = "the old file is unchanged"};
	char	   *line = NULL;
	char	   *old = NULL;
	char	   *content = NULL;
	char	   *name = NULL;
	struct stat st;
	int			dirfd = -1;
	int			rc = -1;

	if ((line = sink_pgbouncer_format(cred, err)) == NULL ||
		sink_file_ids(s->path, s->owner, s->group, &o.uid, &o.gid, err) != 0 ||
		(dirfd = safe_parent_open(s->path, SAFE_SINK, "the auth_file", &name, err)) < 0 ||
		(rc = read_authfile(dirfd, name, s, &old, &st, err)) < 0)
		goto done;
	if (rc == 1)
		o.after_mtime = st.st_mtime;
	content = sink_pgbouncer_merge(old, line, cred->role);
	rc = safe_write_at(dirfd, name, s->path, content, strlen(content), &o, err);
done:
	if (dirfd >= 0)
		close(dirfd);
	free(name);
	secret_free(line);
	secret_free(old);
	secret_free(content);
	return rc;
}

bool
sink_is_pgbouncer(const SinkCfg *s)
{
	return s->type == SINK_FILE && s->format == SINK_FMT_PGBOUNCER;
}
