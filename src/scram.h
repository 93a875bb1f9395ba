/*
 * scram.h: the SCRAM-SHA-256 secret that PostgreSQL stores in
 * pg_authid.rolpassword, computed on the client with OpenSSL.
 */
#ifndef PGR_SCRAM_H
#define PGR_SCRAM_H

#include <stddef.h>

#define SCRAM_SALT_LEN 16
/* PostgreSQL's iteration count before scram_iterations (16) existed. */
#define SCRAM_DEFAULT_ITERATIONS 4096
/* scram_iterations accepts 1 .. INT_MAX; more than this is refused here. */
#define SCRAM_MAX_ITERATIONS 100000000

/*
 * "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64),
 * malloc'd, for password, with PBKDF2-HMAC-SHA-256 over iterations rounds
 * and salt (saltlen bytes), or a fresh SCRAM_SALT_LEN-byte salt from
 * RAND_bytes when salt is NULL. PostgreSQL first normalises a password
 * with SASLprep; that is the identity for printable ASCII, the only
 * passwords accepted here. NULL with *err (a static string) otherwise.
 */
char	   *scram_secret(const char *password, int iterations,
						 const unsigned char *salt, size_t saltlen,
						 const char **err);

#endif
