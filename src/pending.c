/*
 * pending.c: the pending credential of a target in state_dir.
 *
 * The file is written before the server is touched, so that a cycle
 * interrupted after ALTER ROLE can be resumed with the password that may
 * already be in use. It is created O_EXCL|O_NOFOLLOW at 0600 under a temp
 * name, fsync'ed, renamed into place and the folder fsync'ed. It is read
 * back only if it is a regular file of ours that group and others cannot
 * access, and parsed strictly: pgrotate never guesses a password.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pending.h"
#include "safefile.h"
#include "secret.h"
#include "util.h"

#define PENDING_MAGIC "pgrotate-pending 1"
#define PENDING_MAX_SIZE 65536
#define PASSWORD_MAX 1024
#define ROLE_SAFE \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-"

char *
pending_path(const char *dir, const char *target)
{
	return xasprintf("%s/%s.pending", dir, target);
}

/* A target name is used as a file name: no '/', no leading '.'. */
static int
check_target_name(const char *target, char **err)
{
	if (target == NULL || target[0] == '\0' || target[0] == '.' ||
		strchr(target, '/') != NULL)
	{
		*err = xasprintf("target name \"%s\" cannot name a pending file "
						 "(hint: Use a name without \"/\" that does not start "
						 "with \".\".)", target ? target : "");
		return -1;
	}
	return 0;
}

/* A password we can store on one line: printable ASCII, no spaces. */
static bool
password_storable(const char *pw)
{
	size_t		n = strlen(pw);

	if (n == 0 || n > PASSWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) pw[i] <= 0x20 || (unsigned char) pw[i] >= 0x7f)
			return false;
	return true;
}

/* ---- state_dir ---- */

static int
statedir_check(const char *dir, const struct stat *st, char **err)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		*err = xasprintf("state_dir \"%s\" can be written by group or others "
						 "(mode %04o) (hint: Run \"chmod 0700 %s\".)", dir,
						 (unsigned int) (st->st_mode & 07777), dir);
	else if (st->st_uid != geteuid() && st->st_uid != 0)
		*err = xasprintf("state_dir \"%s\" is owned by uid %u, not by the user "
						 "pgrotate runs as (uid %u) (hint: Run \"chown %u %s\".)", dir,
						 (unsigned int) st->st_uid, (unsigned int) geteuid(),
						 (unsigned int) geteuid(), dir);
	else
		return 0;
	return -1;
}

/*
 * The fd of state_dir, resolved without symlinks and checked (created
 * first if create). -1 + *err; with create false, a missing state_dir is
 * -1 with errno ENOENT and no *err.
 */
static int
statedir_open(const char *dir, bool create, char **err)
{
	struct stat st;
	int			fd;

	if (dir == NULL || dir[0] == '\0')
	{
		*err = xstrdup("state_dir is empty (hint: Set state_dir to an "
					   "absolute path.)");
		errno = EINVAL;
		return -1;
	}
	if (create && safe_mkdir(dir, SAFE_SINK, "state_dir", err) != 0)
		return -1;
	if ((fd = safe_dir_open(dir, SAFE_SINK, "state_dir", dir, err)) < 0)
	{
		if (!create && errno == ENOENT)
		{
			free(*err);
			*err = NULL;
			errno = ENOENT;
		}
		return -1;
	}
	if (fstat(fd, &st) != 0)
		*err = xasprintf("cannot check state_dir \"%s\": %s", dir, strerror(errno));
	else if (statedir_check(dir, &st, err) == 0)
		return fd;
	close(fd);
	errno = EPERM;
	return -1;
}

int
statedir_ensure(const char *dir, char **err)
{
	int			fd = statedir_open(dir, true, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* ---- writing ---- */

static char *
pending_content(const char *role, int64_t generation, const char *password,
				const char *verifier)
{
	static const char hex[] = "0123456789ABCDEF";
	StrBuf		sb;

	sb_init(&sb);
	sb_append(&sb, PENDING_MAGIC "\nrole ");
	for (const unsigned char *p = (const unsigned char *) role; *p; p++)
	{
		if (strchr(ROLE_SAFE, *p) != NULL)
			sb_appendc(&sb, (char) *p);
		else
		{
			sb_appendc(&sb, '%');
			sb_appendc(&sb, hex[*p >> 4]);
			sb_appendc(&sb, hex[*p & 0x0f]);
		}
	}
	sb_appendf(&sb, "\ngeneration %" PRId64 "\npassword ", generation);
	sb_append(&sb, password);
	sb_appendc(&sb, '\n');
	if (verifier != NULL)
	{
		sb_append(&sb, "verifier ");
		sb_append(&sb, verifier);
		sb_appendc(&sb, '\n');
	}
	return sb_steal(&sb);
}

/* Store content as name in the folder dirfd, atomically, at 0600. */
static int
store_atomically(int dirfd, const char *name, const char *content,
				 const char *path, char **err)
{
	SafeWrite	o = {.what = "pending file", .mode = 0600, .uid = (uid_t) -1,
	.gid = (gid_t) -1, .unchanged = "the server was not changed"};

	return safe_write_at(dirfd, name, path, content, strlen(content), &o, err);
}

int
pending_write(const char *dir, const char *target, const char *role,
			  int64_t generation, const char *password, char **err)
{
	char	   *path = NULL;
	char	   *name = NULL;
	char	   *content = NULL;
	int			dirfd = -1;
	int			rc = -1;

	if (check_target_name(target, err) != 0)
		goto done;
	path = pending_path(dir, target);
	if (role == NULL || role[0] == '\0' || generation < 0 ||
		password == NULL || !password_storable(password))
	{
		*err = xasprintf("refusing to write pending file \"%s\": empty role, "
						 "negative generation or a password that is not "
						 "printable ASCII without spaces", path);
		goto done;
	}
	if ((dirfd = statedir_open(dir, true, err)) < 0)
		goto done;
	name = xasprintf("%s.pending", target);
	content = pending_content(role, generation, password, NULL);
	rc = store_atomically(dirfd, name, content, path, err);

done:
	if (dirfd >= 0)
		close(dirfd);
	secret_free(content);
	free(name);
	free(path);
	return rc;
}

int
pending_remove(const char *dir, const char *target, char **err)
{
	char	   *path;
	char	   *name;
	int			dirfd;
	int			rc;

	if (check_target_name(target, err) != 0)
		return -1;
	if ((dirfd = statedir_open(dir, false, err)) < 0)
		return errno == ENOENT && *err == NULL ? 0 : -1;
	path = pending_path(dir, target);
	name = xasprintf("%s.pending", target);
	rc = safe_remove_at(dirfd, name, path, "pending file", err) < 0 ? -1 : 0;
	close(dirfd);
	free(name);
	free(path);
	return rc;
}

/* ---- reading ---- */

/*
 * The file's content if it is a regular file of ours that group and
 * others cannot access: 1, 0 if it (or state_dir) does not exist, -1.
 */
static int
read_checked(const char *dir, const char *target, const char *path,
			 char **text, size_t *len, char **err)
{
	SafeRead	o = {.what = "pending file", .max_size = PENDING_MAX_SIZE,
		.single_link = true, .check_owner = true, .owner = (uid_t) -1,
		.forbidden = S_IRWXG | S_IRWXO,
	.mode_fix = "0600",
	.mode_hint = "Its password may have leaked: rotate again afterwards."};
	struct stat st;
	char	   *name;
	int			dirfd = statedir_open(dir, false, err);
	int			rc;

	*text = NULL;
	*len = 0;
	if (dirfd < 0)
		return errno == ENOENT && *err == NULL ? 0 : -1;
	name = xasprintf("%s.pending", target);
	rc = safe_read_at(dirfd, name, path, SAFE_SINK, &o, text, len, &st, err);
	close(dirfd);
	free(name);
	return rc;
}

/* "<key> <value>\n" at *p: the value (malloc'd), or NULL. */
static char *
take_field(const char **p, const char *key)
{
	size_t		klen = strlen(key);
	const char *value = *p + klen + 1;
	const char *nl;

	if (strncmp(*p, key, klen) != 0 || (*p)[klen] != ' ')
		return NULL;
	nl = strchr(value, '\n');
	if (nl == NULL || nl == value)
		return NULL;
	*p = nl + 1;
	return xstrndup(value, (size_t) (nl - value));
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of a role; false if malformed. */
static bool
decode_role(const char *s, char **out)
{
	StrBuf		sb;

	sb_init(&sb);
	for (; *s; s++)
	{
		int			hi,
					lo;

		if (*s != '%')
		{
			if (strchr(ROLE_SAFE, *s) == NULL)
				break;
			sb_appendc(&sb, *s);
			continue;
		}
		hi = hex_digit(s[1]);
		lo = hi < 0 ? -1 : hex_digit(s[2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			break;
		sb_appendc(&sb, (char) (hi * 16 + lo));
		s += 2;
	}
	if (*s != '\0' || sb.len == 0)
	{
		sb_free(&sb);
		return false;
	}
	*out = sb_steal(&sb);
	return true;
}

static bool
parse_generation(const char *s, int64_t *out)
{
	int64_t		v = 0;

	if (s[0] == '\0' || strlen(s) > 18 || s[strspn(s, "0123456789")] != '\0')
		return false;
	for (; *s; s++)
		v = v * 10 + (*s - '0');
	*out = v;
	return true;
}

/*
 * The four lines, exactly, and an optional fifth "verifier" line (whose
 * value goes to *verifier when it is not NULL); false (and nothing set)
 * if anything is off.
 */
static bool
parse_pending(const char *text, char **role, int64_t *generation,
			  char **password, char **verifier)
{
	const char *p = text;
	char	   *rolefield = NULL;
	char	   *genfield = NULL;
	char	   *pw = NULL;
	char	   *ver = NULL;
	bool		good = false;

	if (strncmp(p, PENDING_MAGIC "\n", strlen(PENDING_MAGIC) + 1) != 0)
		goto done;
	p += strlen(PENDING_MAGIC) + 1;
	if ((rolefield = take_field(&p, "role")) == NULL ||
		(genfield = take_field(&p, "generation")) == NULL ||
		(pw = take_field(&p, "password")) == NULL)
		goto done;
	if (*p != '\0' && ((ver = take_field(&p, "verifier")) == NULL ||
						!password_storable(ver)))
		goto done;
	if (*p != '\0' || !password_storable(pw) ||
		!parse_generation(genfield, generation) || !decode_role(rolefield, role))
		goto done;
	*password = pw;
	pw = NULL;
	if (verifier != NULL)
	{
		*verifier = ver;
		ver = NULL;
	}
	good = true;

done:
	free(rolefield);
	free(genfield);
	secret_free(pw);
	free(ver);
	return good;
}

/* pending_read, and the verifier line (NULL if absent) when verifier is not NULL. */
static int
read_pending(const char *dir, const char *target, char **role,
			 int64_t *generation, char **password, char **verifier,
			 char **err)
{
	char	   *path = NULL;
	char	   *text = NULL;
	size_t		len = 0;
	int			rc;

	*role = NULL;
	*password = NULL;
	if (verifier != NULL)
		*verifier = NULL;
	if (check_target_name(target, err) != 0)
		return -1;
	path = pending_path(dir, target);
	rc = read_checked(dir, target, path, &text, &len, err);
	if (rc == 1 && !parse_pending(text, role, generation, password, verifier))
	{
		*err = xasprintf("pending file \"%s\" is corrupt (hint: Restore the file, "
						 "or check whether the standby role of target \"%s\" "
						 "logs in and remove the file to start over; pgrotate "
						 "will not guess a password.)", path, target);
		rc = -1;
	}
	if (text != NULL)
	{
		secret_wipe(text, len);
		free(text);
	}
	free(path);
	return rc;
}

int
pending_read(const char *dir, const char *target, char **role,
			 int64_t *generation, char **password, char **err)
{
	return read_pending(dir, target, role, generation, password, NULL, err);
}

int
pending_read_verifier(const char *dir, const char *target, char **verifier,
					  char **err)
{
	char	   *role = NULL;
	char	   *pw = NULL;
	int64_t		gen = 0;
	int			rc = read_pending(dir, target, &role, &gen, &pw, verifier, err);

	free(role);
	secret_free(pw);
	if (rc == 1 && *verifier == NULL)
		rc = 0;
	return rc;
}

int
pending_set_verifier(const char *dir, const char *target, const char *verifier,
					 char **err)
{
	char	   *role = NULL;
	char	   *pw = NULL;
	char	   *path = NULL;
	char	   *name = NULL;
	char	   *content = NULL;
	int64_t		gen = 0;
	int			dirfd = -1;
	int			rc = read_pending(dir, target, &role, &gen, &pw, NULL, err);

	if (rc == 0)
		*err = xasprintf("no pending file for target \"%s\" to add the verifier to", target);
	if (rc != 1)
	{
		rc = -1;
		goto done;
	}
	rc = -1;
	path = pending_path(dir, target);
	if (verifier == NULL || !password_storable(verifier))
	{
		*err = xasprintf("refusing to write a verifier that is not printable "
						 "ASCII without spaces to pending file \"%s\"", path);
		goto done;
	}
	if ((dirfd = statedir_open(dir, true, err)) < 0)
		goto done;
	name = xasprintf("%s.pending", target);
	content = pending_content(role, gen, pw, verifier);
	rc = store_atomically(dirfd, name, content, path, err);

done:
	if (dirfd >= 0)
		close(dirfd);
	secret_free(content);
	secret_free(pw);
	free(role);
	free(name);
	free(path);
	return rc;
}
