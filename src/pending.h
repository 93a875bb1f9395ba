/*
 * pending.h: the pending credential in state_dir, written (0600, fsync,
 * folder fsync) before the server is touched and removed once published.
 * One file per target: STATE_DIR/TARGET.pending, format:
 *   pgrotate-pending 1
 *   role <role>            (role name percent-encoded if needed)
 *   generation <n>
 *   password <secret>
 *   verifier <SCRAM verifier>   (optional: added once it is computed, so
 *                                that a resumed publish can write the
 *                                pgbouncer format)
 */
#ifndef PGR_PENDING_H
#define PGR_PENDING_H

#include <stdint.h>

/*
 * Make sure dir exists as a directory (created 0700 if missing), is not a
 * symlink and cannot be written by group or others. 0 or -1 with *err.
 */
int			statedir_ensure(const char *dir, char **err);

/* Write the pending file atomically. 0 or -1 with *err. */
int			pending_write(const char *dir, const char *target,
						  const char *role, int64_t generation,
						  const char *password, char **err);

/*
 * Read it: 1 found (*role and *password malloc'd; secret_free the
 * password), 0 no pending file, -1 unreadable or corrupt (with *err naming
 * the file and what to do).
 */
int			pending_read(const char *dir, const char *target, char **role,
						 int64_t *generation, char **password, char **err);

/*
 * The verifier line of the pending file: 1 with *verifier (malloc'd), 0
 * when there is no pending file or it has no verifier line, -1 + *err.
 */
int			pending_read_verifier(const char *dir, const char *target,
								  char **verifier, char **err);

/*
 * Add (or replace) the verifier line of the existing pending file of
 * target, atomically; role, generation and password stay. 0 or -1 + *err
 * (also when there is no pending file).
 */
int			pending_set_verifier(const char *dir, const char *target,
								 const char *verifier, char **err);

/* Remove it (overwriting first is pointless on modern filesystems; we
 * unlink and fsync the folder). Missing is fine. 0 or -1 with *err. */
int			pending_remove(const char *dir, const char *target, char **err);

/* The path of the pending file (malloc'd). */
char	   *pending_path(const char *dir, const char *target);

#endif
