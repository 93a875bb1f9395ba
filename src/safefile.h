/*
 * safefile.h: paths resolved from "/" one component at a time without
 * following a symlink, with checks of who could replace each folder, and
 * files read and atomically replaced through the folder's fd.
 *
 * Rules (SPEC section 5):
 *   SAFE_SINK    run as root, no folder on the path may be writable by a
 *                user other than root, except a sticky folder (like /tmp)
 *                owned by root whose next component belongs to root; the
 *                file's own folder is never writable by others, sticky or
 *                not. Run as another user, only symlinks are refused.
 *   SAFE_CONFIG  always, every folder and the file belong to root or the
 *                effective user with no group or other write (the same
 *                sticky exception for folders).
 * A folder is writable by others when it is owned by a user other than
 * root and the effective user, or has group or other write.
 */
#ifndef PGR_SAFEFILE_H
#define PGR_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

typedef enum SafeRule
{
	SAFE_SINK,
	SAFE_CONFIG
} SafeRule;

/* What a reader accepts, beyond a regular file not reached by a symlink. */
typedef struct SafeRead
{
	const char *what;			/* "pending file", for messages */
	size_t		max_size;
	bool		single_link;	/* st_nlink must be 1 */
	bool		check_owner;	/* owned by root, the effective user or owner */
	uid_t		owner;			/* one more accepted owner, or (uid_t) -1 */
	mode_t		forbidden;		/* mode bits that must be clear */
	const char *mode_fix;		/* the chmod mode that fixes those, NULL: "go-rwx" */
	const char *mode_hint;		/* a sentence after that fix, or NULL */
} SafeRead;

/* How a file is replaced. */
typedef struct SafeWrite
{
	const char *what;			/* "sink file", for messages */
	mode_t		mode;
	uid_t		uid;			/* (uid_t) -1: unchanged */
	gid_t		gid;			/* (gid_t) -1: unchanged */
	const char *owner_name;		/* as configured, for messages */
	const char *group_name;
	bool		refuse_other;	/* an existing symlink or non-file is an error */
	time_t		after_mtime;	/* > 0: the new mtime is later than this */
	const char *unchanged;		/* what a failure leaves, for messages */
} SafeWrite;

/*
 * Open the folder dir (a relative one is taken from the current folder's
 * real path), checking every component against rule. The fd (O_RDONLY,
 * or O_PATH when the folder cannot be read), or -1 with *err naming the
 * component and the fix, and errno: ENOENT (a missing component), ELOOP
 * (a symlink), ENOTDIR, EPERM (a folder others could write) or another.
 * what and path name the file the folder is resolved for, in messages.
 */
int			safe_dir_open(const char *dir, SafeRule rule, const char *what,
						  const char *path, char **err);

/*
 * The folder of path opened as safe_dir_open does, and *name the last
 * component (malloc'd). -1 + *err + errno, also for a path that ends in
 * "/", "." or "..".
 */
int			safe_parent_open(const char *path, SafeRule rule, const char *what,
							 char **name, char **err);

/*
 * Read name in dirfd (path is for messages): 1 with *text (malloc'd,
 * NUL-terminated, *len bytes; wipe it if secret) and *st, 0 if it does not
 * exist, -1 + *err if it is a symlink, not a regular file, too large, has
 * more than one link, the wrong owner or forbidden mode bits (as o says).
 * With rule SAFE_CONFIG the file is also held to the config rule (owner,
 * no group or other write, its folder's sticky exception).
 */
int			safe_read_at(int dirfd, const char *name, const char *path,
						 SafeRule rule, const SafeRead *o, char **text,
						 size_t *len, struct stat *st, char **err);

/* safe_read_at on path's folder; 0 also when a folder is missing. */
int			safe_read(const char *path, SafeRule rule, const SafeRead *o,
					  char **text, size_t *len, struct stat *st, char **err);

/*
 * path opened for reading and checked as safe_read_at does: the fd, or -1
 * + *err + errno (ENOENT without *err when the file or a folder is
 * missing).
 */
int			safe_open(const char *path, SafeRule rule, const SafeRead *o,
					  struct stat *st, char **err);

/*
 * Whether path can be opened for reading: 0, or the errno (ENOENT,
 * EACCES, ELOOP, EPERM...) with *err. Nothing is read.
 */
int			safe_probe(const char *path, SafeRule rule, const char *what,
					   char **err);

/*
 * Replace name in dirfd atomically: a temp file ".<name>.<random>"
 * created O_EXCL|O_NOFOLLOW at 0600, fchown/fchmod as o says, written,
 * fsync'ed (its mtime moved past o->after_mtime first), renamed over
 * name, and the folder fsync'ed. On failure the old file is untouched and
 * the temp file gone. 0 or -1 + *err.
 */
int			safe_write_at(int dirfd, const char *name, const char *path,
						  const char *content, size_t len, const SafeWrite *o,
						  char **err);

/* safe_write_at in path's folder, opened with rule. */
int			safe_write(const char *path, SafeRule rule, const char *content,
					   size_t len, const SafeWrite *o, char **err);

/* Remove name in dirfd and fsync the folder: 1 removed, 0 absent, -1. */
int			safe_remove_at(int dirfd, const char *name, const char *path,
						   const char *what, char **err);

/* Create the folder dir (mode 0700) unless it exists, its parent resolved with rule. 0 or -1 + *err. */
int			safe_mkdir(const char *dir, SafeRule rule, const char *what,
					   char **err);

#endif
