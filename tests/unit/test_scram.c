/*
 * test_scram.c: the SCRAM-SHA-256 secret of scram.c against libpq's own
 * (PQencryptPasswordConn, with the salt and iteration count read back
 * from its output) and against the RFC 7677 example exchange.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "scram.h"
#include "../tap.h"

/* Standard base64 to bytes; returns the length, or -1. */
static int
b64_decode(const char *in, size_t inlen, unsigned char *out)
{
	int			n = EVP_DecodeBlock(out, (const unsigned char *) in, (int) inlen);

	if (n < 0)
		return -1;
	for (size_t i = inlen; i > 0 && in[i - 1] == '='; i--)
		n--;
	return n;
}

/* A PGconn that never connects: libpq needs one to encrypt a password. */
static PGconn *
offline_conn(void)
{
	return PQconnectStart("dbname=none host=/nonexistent target_session_attrs=pgrotate-test");
}

static void
test_against_libpq(void)
{
	PGconn	   *conn = offline_conn();
	const char *pw[] = {"pencil", "Zx81aB3cD4eF5gH6iJ7kL8mN9oP0qR1s", "a b~!@#$%^&*()_+{}|:\"<>?"};

	ok(conn != NULL, "libpq gives an offline PGconn");
	for (size_t i = 0; conn && i < sizeof(pw) / sizeof(pw[0]); i++)
	{
		char	   *ref = PQencryptPasswordConn(conn, pw[i], "app_user_a", "scram-sha-256");
		unsigned char salt[64];
		const char *colon,
				   *dollar;
		const char *why = NULL;
		char	   *mine = NULL;
		int			iter = 0,
					saltlen = -1;

		if (ref && sscanf(ref, "SCRAM-SHA-256$%d:", &iter) == 1 &&
			(colon = strchr(ref, ':')) != NULL && (dollar = strchr(colon, '$')) != NULL)
			saltlen = b64_decode(colon + 1, (size_t) (dollar - colon - 1), salt);
		ok(saltlen == SCRAM_SALT_LEN && iter > 0, "libpq's secret %zu parses (salt %d bytes, %d iterations)",
		   i, saltlen, iter);
		if (saltlen > 0)
			mine = scram_secret(pw[i], iter, salt, (size_t) saltlen, &why);
		is_str(mine ? mine : why, ref ? ref : "(null)", "byte-identical to PQencryptPasswordConn, password %zu", i);
		free(mine);
		PQfreemem(ref);
	}
	PQfinish(conn);
}

/* RFC 7677 section 3: user "user", password "pencil". */
#define RFC_NONCE "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_AUTH_MESSAGE "n=user,r=rOprNGfwEbeRWgbNEkqO,r=" RFC_NONCE ",s=" RFC_SALT \
	",i=4096,c=biws,r=" RFC_NONCE
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_SIGNATURE "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void
test_rfc7677(void)
{
	unsigned char salt[32],
				stored[48],
				server[48],
				proof[48],
				sig[SHA256_DIGEST_LENGTH],
				client[SHA256_DIGEST_LENGTH],
				digest[SHA256_DIGEST_LENGTH];
	char		sig64[64];
	unsigned int len = sizeof(sig);
	int			saltlen = b64_decode(RFC_SALT, strlen(RFC_SALT), salt);
	const char *why = NULL;
	char	   *secret = scram_secret("pencil", 4096, salt, (size_t) saltlen, &why);
	char	   *keys;
	char	   *colon;

	ok(secret != NULL && strncmp(secret, "SCRAM-SHA-256$4096:" RFC_SALT "$", 19 + strlen(RFC_SALT) + 1) == 0,
	   "the RFC's salt and count: %s", secret ? secret : why);
	if (secret == NULL)
		return;
	keys = secret + 19 + strlen(RFC_SALT) + 1;
	colon = strchr(keys, ':');
	ok(colon != NULL && b64_decode(keys, (size_t) (colon - keys), stored) == SHA256_DIGEST_LENGTH &&
	   b64_decode(colon + 1, strlen(colon + 1), server) == SHA256_DIGEST_LENGTH,
	   "StoredKey and ServerKey are 32 bytes each");
	/* ServerKey reproduces the server signature of the RFC */
	HMAC(EVP_sha256(), server, SHA256_DIGEST_LENGTH, (const unsigned char *) RFC_AUTH_MESSAGE,
		 strlen(RFC_AUTH_MESSAGE), sig, &len);
	EVP_EncodeBlock((unsigned char *) sig64, sig, SHA256_DIGEST_LENGTH);
	is_str(sig64, RFC_SERVER_SIGNATURE, "ServerKey gives the RFC's server signature");
	/* StoredKey accepts the RFC's client proof: SHA-256(proof ^ ClientSignature) */
	HMAC(EVP_sha256(), stored, SHA256_DIGEST_LENGTH, (const unsigned char *) RFC_AUTH_MESSAGE,
		 strlen(RFC_AUTH_MESSAGE), sig, &len);
	b64_decode(RFC_PROOF, strlen(RFC_PROOF), proof);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		client[i] = proof[i] ^ sig[i];
	SHA256(client, SHA256_DIGEST_LENGTH, digest);
	ok(memcmp(digest, stored, SHA256_DIGEST_LENGTH) == 0, "StoredKey accepts the RFC's client proof");
	free(secret);
}

static void
test_fresh_and_refused(void)
{
	const char *why = NULL;
	char	   *a = scram_secret("pencil", 10000, NULL, 0, &why);
	char	   *b = scram_secret("pencil", 10000, NULL, 0, &why);

	ok(a && strncmp(a, "SCRAM-SHA-256$10000:", 20) == 0, "the iteration count is the one asked for");
	ok(a && b && strcmp(a, b) != 0, "each call draws a fresh salt");
	ok(a && strlen(a) == strlen("SCRAM-SHA-256$10000:") + 24 + 1 + 44 + 1 + 44,
	   "a 16-byte salt and two 32-byte keys");
	free(a);
	free(b);
	ok(scram_secret("caf\xc3\xa9", 4096, NULL, 0, &why) == NULL && why != NULL,
	   "a non-ASCII password is refused (no SASLprep here)");
	ok(scram_secret("pencil", 0, NULL, 0, &why) == NULL, "0 iterations refused");
}

int
main(void)
{
	test_against_libpq();
	test_rfc7677();
	test_fresh_and_refused();
	return done_testing();
}
