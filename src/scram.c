/*
 * scram.c: the SCRAM-SHA-256 secret of RFC 5802 / RFC 7677 as PostgreSQL
 * stores it (src/common/scram-common.c builds the same string):
 *   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
 *   StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey = HMAC(SaltedPassword, "Server Key")
 * Every intermediate key is wiped before returning.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "scram.h"
#include "util.h"

#define KEY_LEN SHA256_DIGEST_LENGTH
/* base64 of n bytes, with padding and the NUL */
#define B64_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* Printable ASCII: SASLprep leaves it as it is. */
static bool
printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
			return false;
	return true;
}

static int
hmac_sha256(const unsigned char *key, const char *msg, unsigned char *out)
{
	unsigned int len = KEY_LEN;

	return HMAC(EVP_sha256(), key, KEY_LEN, (const unsigned char *) msg,
				strlen(msg), out, &len) != NULL && len == KEY_LEN ? 0 : -1;
}

/* StoredKey and ServerKey of password; 0 or -1. */
static int
scram_keys(const char *password, int iterations, const unsigned char *salt,
		   size_t saltlen, unsigned char *stored, unsigned char *server)
{
	unsigned char salted[KEY_LEN];
	unsigned char client[KEY_LEN];
	int			rc = -1;

	if (PKCS5_PBKDF2_HMAC(password, (int) strlen(password), salt, (int) saltlen,
						  iterations, EVP_sha256(), KEY_LEN, salted) == 1 &&
		hmac_sha256(salted, "Client Key", client) == 0 &&
		SHA256(client, KEY_LEN, stored) != NULL &&
		hmac_sha256(salted, "Server Key", server) == 0)
		rc = 0;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	return rc;
}

char *
scram_secret(const char *password, int iterations, const unsigned char *salt,
			 size_t saltlen, const char **err)
{
	unsigned char fresh[SCRAM_SALT_LEN];
	unsigned char stored[KEY_LEN];
	unsigned char server[KEY_LEN];
	char		salt64[B64_LEN(64)];
	char		stored64[B64_LEN(KEY_LEN)];
	char		server64[B64_LEN(KEY_LEN)];
	char	   *out = NULL;

	*err = NULL;
	if (!printable_ascii(password))
		*err = "the password is not printable ASCII";
	else if (iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
		*err = "the iteration count is out of range";
	else if (salt != NULL && (saltlen == 0 || saltlen > 64))
		*err = "the salt length is out of range";
	else if (salt == NULL && RAND_bytes(fresh, sizeof(fresh)) != 1)
		*err = "the CSPRNG failed";
	if (*err != NULL)
		return NULL;
	if (salt == NULL)
	{
		salt = fresh;
		saltlen = sizeof(fresh);
	}
	if (scram_keys(password, iterations, salt, saltlen, stored, server) != 0)
		*err = "OpenSSL failed to compute the keys";
	else
	{
		EVP_EncodeBlock((unsigned char *) salt64, salt, (int) saltlen);
		EVP_EncodeBlock((unsigned char *) stored64, stored, KEY_LEN);
		EVP_EncodeBlock((unsigned char *) server64, server, KEY_LEN);
		out = xasprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, salt64,
						stored64, server64);
	}
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	OPENSSL_cleanse(stored64, sizeof(stored64));
	OPENSSL_cleanse(server64, sizeof(server64));
	return out;
}
