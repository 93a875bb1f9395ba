/*
 * secret.h: password generation, fingerprints, wiping, process hardening.
 */
#ifndef PGR_SECRET_H
#define PGR_SECRET_H

#include <stddef.h>

#define SECRET_MIN_LENGTH 16
#define SECRET_MAX_LENGTH 128
#define SECRET_FINGERPRINT_LEN 64	/* hex characters of a SHA-256 */

/* The 62-character alphabet passwords are drawn from. */
extern const char secret_alphabet[];

/*
 * Fill out[0..len-1] with characters drawn uniformly from [A-Za-z0-9] using
 * OpenSSL's RAND_bytes and rejection sampling, and NUL-terminate (out must
 * hold len + 1 bytes). Returns 0, or -1 if the CSPRNG failed or len is out
 * of range (out is then wiped).
 */
int			secret_generate(char *out, size_t len);

/* Hex SHA-256 of s into out (SECRET_FINGERPRINT_LEN + 1 bytes). */
void		secret_fingerprint(const char *s, char *out);

/* Wipe n bytes at p (OPENSSL_cleanse). */
void		secret_wipe(void *p, size_t n);
/* Wipe the string (strlen) and free it; NULL is fine. */
void		secret_free(char *s);

/*
 * At start-up: no core dumps (PR_SET_DUMPABLE 0, RLIMIT_CORE 0) and
 * umask 077. Returns 0, or -1 if the process could not be hardened.
 */
int			secret_harden_process(void);

#endif
