/*
 * sink.h: where applications read their credential. File sinks (formats
 * env, json, pgpass, uri, pgbouncer) are written atomically (temp file in
 * the same folder, fsync, rename, fsync folder), never through a symlink;
 * command sinks get the JSON document on stdin.
 */
#ifndef PGR_SINK_H
#define PGR_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* What is published: one credential of one target. */
typedef struct Credential
{
	const char *target;
	const char *role;
	const char *password;		/* plaintext; never logged; NULL: left out */
	const char *verifier;		/* SCRAM verifier as stored (pgbouncer) */
	int64_t		generation;
	int64_t		rotated_at;		/* epoch seconds */
	const char *app_conninfo;	/* host, port, dbname and options */
} Credential;

/*
 * The content of a file sink in format fmt, malloc'd (wipe it with
 * secret_free), or NULL with *err (e.g. a role name the format cannot
 * carry). Formats, SPEC section 3:
 *   env       "PGUSER=role\nPGPASSWORD=secret\n"
 *   json      {"target":..,"role":..,"password":..,"generation":N,"rotated_at":"ISO"}
 *   pgpass    "host:port:dbname:role:secret\n" (':' and '\' escaped; '*' for unset)
 *   uri       "postgresql://role:secret@host:port/dbname?options\n"
 *   pgbouncer "\"role\" \"SCRAM-SHA-256$...\"\n"
 * Without a password (cred->password NULL: "active" without
 * --with-password), env, json and uri leave it out ("PGUSER=role\n", no
 * "password" member, "postgresql://role@host..."), pgpass is an error, and
 * pgbouncer needs only the verifier.
 */
char	   *sink_format(SinkFormat fmt, const Credential *cred, char **err);

/* The json document (as for the json format), for command sinks. */
char	   *sink_json_document(const Credential *cred);

/* ---- the pgbouncer format: a PgBouncer auth_file (sink_pgbouncer.c) ---- */

/* Whether s is a file sink in the pgbouncer format. */
bool		sink_is_pgbouncer(const SinkCfg *s);

/* The auth_file line of cred (sink_format's pgbouncer case). */
char	   *sink_pgbouncer_format(const Credential *cred, char **err);

/*
 * The first line of an auth_file, "role" "verifier": *role and *verifier
 * (malloc'd; the old values freed) when it is one, else left alone.
 */
void		sink_pgbouncer_parse(const char *text, char **role,
								 char **verifier);

/*
 * The new content of an auth_file: line (the new role's, from
 * sink_pgbouncer_format) first, then every line of old (the current file,
 * NULL if none) except those for role, verbatim. The other login role's
 * line thus stays while it is still valid, and so do other users' lines
 * (the console's admin). malloc'd; wipe with secret_free.
 */
char	   *sink_pgbouncer_merge(const char *old, const char *line,
								 const char *role);

/*
 * Publish cred to the auth_file of sink s (sink_publish's pgbouncer case):
 * the file is read, merged (sink_pgbouncer_merge) and written atomically,
 * with an mtime later than the replaced file's (PgBouncer does not re-read
 * a file whose inode, size and mtime second look unchanged). 0 or -1 +
 * *err.
 */
int			sink_pgbouncer_publish(const SinkCfg *s, const Credential *cred,
								   char **err);

/*
 * Write content to path atomically: create a temp file in the same folder
 * with O_EXCL|O_NOFOLLOW at mode, write, fsync, fchown to owner/group
 * (NULL: unchanged), rename over path, fsync the folder. Refuses a path
 * that is a symlink, whose folder is missing or is reached through a
 * symlink, or (run as root) that others could redirect (safefile.h). On any failure the old
 * content of path is untouched and the temp file removed. 0 or -1 + *err.
 */
int			sink_write_file(const char *path, const char *content,
							size_t len, mode_t mode, const char *owner,
							const char *group, char **err);

/*
 * The uid and gid of a sink's owner and group (names or numbers; NULL:
 * (uid_t) -1 / (gid_t) -1). 0, or -1 + *err naming path for an unknown one.
 */
int			sink_file_ids(const char *path, const char *owner,
						  const char *group, uid_t *uid, gid_t *gid,
						  char **err);

/*
 * Run a command sink: argv without a shell, the json document on stdin,
 * an environment of PATH, HOME, LANG, LC_*, TZ and PGROTATE_* only (never a
 * PG* variable) with PGROTATE_TARGET, PGROTATE_ROLE, PGROTATE_GENERATION
 * set, its own process group killed at timeout. Output is logged, redacted
 * before it is cut into lines (SinkOutput). 0 on exit status 0, else -1
 * with *err.
 */
int			sink_run_command(const SinkCfg *s, const Credential *cred,
							 char **err);

/*
 * A command sink's output, cut into lines of at most max bytes and redacted
 * before it is cut: a piece is handed to emit only once no registered
 * secret can straddle its end (the longest secret's length minus one is
 * kept back), so a password never comes out in two halves.
 */
typedef void (*SinkOutputEmit) (const char *piece, void *arg);

typedef struct SinkOutput
{
	StrBuf		buf;			/* not yet emitted, no newline */
	size_t		max;			/* longest piece */
	SinkOutputEmit emit;
	void	   *arg;
} SinkOutput;

void		sink_output_init(SinkOutput *o, size_t max, SinkOutputEmit emit,
							 void *arg);
/* Take n bytes of output (NULs and carriage returns are dropped). */
void		sink_output_feed(SinkOutput *o, const char *data, size_t n);
/* At the end of the output: emit what is left. */
void		sink_output_flush(SinkOutput *o);
/* Wipe and free the buffer. */
void		sink_output_free(SinkOutput *o);

/*
 * Publish cred to one sink (file or command): a file sink is replaced
 * with its content in its format, a pgbouncer one merged into the
 * auth_file (sink_pgbouncer_publish). 0 or -1 with *err.
 */
int			sink_publish(const SinkCfg *s, const Credential *cred, char **err);

/* A short description of a sink for messages: "file /etc/app/db.env (env)". */
char	   *sink_describe(const SinkCfg *s);

/*
 * Read file sink s and find the credential in it: sets *role (malloc'd)
 * and fp (SHA-256 hex of the password, SECRET_FINGERPRINT_LEN + 1 bytes).
 * Returns 1 if found, 0 if the file holds no credential pgrotate can read,
 * -1 with *err if it cannot be read. The password itself is wiped.
 */
int			sink_read_fingerprint(const SinkCfg *s, char **role, char *fp,
								  char **err);

/*
 * The first file sink of t that hands out role (the credential in it is
 * role's), or NULL. A sink that cannot be read is skipped with a warning.
 */
const SinkCfg *sink_handing_out(const Target *t, const char *role);

/*
 * Read the plaintext password back from file sink s (for "active
 * --with-password"): 1 found (*role, *password malloc'd; secret_free the
 * password), 0 no credential, -1 with *err.
 */
int			sink_read_credential(const SinkCfg *s, char **role,
								 char **password, char **err);

/*
 * The password of role from the first file sink of t (not pgbouncer) that
 * holds role's credential with the SHA-256 fingerprint fp: 1 with
 * *password (malloc'd; secret_free it), 0 when none does, with *why (what
 * each sink held, malloc'd).
 */
int			sink_find_password(const Target *t, const char *role, const char *fp,
							   char **password, char **why);

#endif
