/*
 * secret.c: password generation (OpenSSL CSPRNG, rejection sampling, no
 * modulo bias), SHA-256 fingerprints, wiping and process hardening.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "secret.h"

const char	secret_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#define ALPHABET_SIZE 62
/* The largest multiple of 62 in a byte: values from it up are drawn again. */
#define REJECT_FROM (4 * ALPHABET_SIZE)

/* Random bytes drawn per RAND_bytes call. */
#define POOL_SIZE 256

int
secret_generate(char *out, size_t len)
{
	unsigned char pool[POOL_SIZE];
	size_t		filled = 0;
	int			rc = -1;

	if (out == NULL)
		return -1;
	if (len < SECRET_MIN_LENGTH || len > SECRET_MAX_LENGTH)
	{
		out[0] = '\0';
		return -1;
	}

	while (filled < len)
	{
		size_t		i;

		if (RAND_bytes(pool, sizeof(pool)) != 1)
			goto done;
		for (i = 0; i < sizeof(pool) && filled < len; i++)
		{
			if (pool[i] >= REJECT_FROM)
				continue;
			out[filled++] = secret_alphabet[pool[i] % ALPHABET_SIZE];
		}
	}
	out[len] = '\0';
	rc = 0;

done:
	OPENSSL_cleanse(pool, sizeof(pool));
	if (rc != 0)
		OPENSSL_cleanse(out, len + 1);
	return rc;
}

void
secret_fingerprint(const char *s, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 ||
		mdlen * 2 != SECRET_FINGERPRINT_LEN)
	{
		/* cannot happen with a working libcrypto; never match anything */
		memset(out, '0', SECRET_FINGERPRINT_LEN);
		out[SECRET_FINGERPRINT_LEN] = '\0';
		return;
	}
	for (i = 0; i < mdlen; i++)
	{
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[2 * mdlen] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
}

void
secret_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

int
secret_harden_process(void)
{
	struct rlimit rl = {0, 0};
	int			rc = 0;

	umask(077);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		rc = -1;
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		rc = -1;
	return rc;
}
