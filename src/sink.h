/*
 * sink.h: where applications read their credential. File sinks (formats
 * env, json, pgpass, uri, pgbouncer) are written atomically (temp file in
 * the same folder, fsync, rename, fsync folder), never through a symlink;
 * command sinks get the JSON document on stdin.
 */
#ifndef PGR_SINK_H
#define PGR_SINK_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* What is published: one credential of one target. */
typedef struct Credential
{
	const char *target;
	const char *role;
	const char *password;		/* plaintext; never logged */
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
 */
char	   *sink_format(SinkFormat fmt, const Credential *cred, char **err);

/* The json document (as for the json format), for command sinks. */
char	   *sink_json_document(const Credential *cred);

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
 * PGROTATE_TARGET, PGROTATE_ROLE, PGROTATE_GENERATION added to the
 * environment, its own process group killed at timeout. Output is logged
 * (redacted). 0 on exit status 0, else -1 with *err.
 */
int			sink_run_command(const SinkCfg *s, const Credential *cred,
							 char **err);

/* Publish cred to one sink (file or command). 0 or -1 with *err. */
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
