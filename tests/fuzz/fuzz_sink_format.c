/*
 * fuzz_sink_format.c: libFuzzer target for the file sink formats
 * (src/sink_format.c, src/sink_pgbouncer.c), each checked against its
 * reader (src/sink.c).
 *
 * The input gives a credential: byte 0 is spare, bytes 1-16 the generation
 * and rotated_at, the rest target, role, password, verifier and the app
 * conninfo, separated by NUL bytes. For each format (env, json, pgpass,
 * uri, pgbouncer), sink_format either refuses with a message or returns
 * content; content is written to a temp file and read back the way
 * "status" and "active --with-password" do. Properties:
 *   - no crash, leak or undefined behaviour; a refusal has a message, and
 *     the message never contains the password;
 *   - round trip: what was written reads back as the same role and the
 *     same password (for pgbouncer: the same verifier, by fingerprint).
 * A violated property aborts (a crash for libFuzzer).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

/* The next NUL-terminated field of the input (or the rest), malloc'd. */
static char *
next_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, '\0', (size_t) (end - *p));
	size_t		n = nul ? (size_t) (nul - *p) : (size_t) (end - *p);
	char	   *s = xstrndup((const char *) *p, n);

	*p += n + (nul ? 1 : 0);
	return s;
}

static bool
distinctive(const char *pw)
{
	size_t		n = strlen(pw);

	return n >= 12 && pw[strspn(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")] == '\0' &&
		strpbrk(pw, "0123456789") != NULL;
}

static void
write_file(const char *content)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t		len = strlen(content);

	if (fd < 0 || write(fd, content, len) != (ssize_t) len)
		abort();
	close(fd);
}

static void
check_format(SinkFormat fmt, const Credential *cred)
{
	SinkCfg		s;
	char	   *err = NULL;
	char	   *content = sink_format(fmt, cred, &err);
	char	   *role = NULL;
	char	   *pw = NULL;
	char		fp[SECRET_FINGERPRINT_LEN + 1];
	char		want[SECRET_FINGERPRINT_LEN + 1];
	int			rc;

	if (content == NULL)
	{
		if (err == NULL)
			abort();
		/*
		 * The password in an error message: checked for a password like
		 * the ones pgrotate generates (12+ letters and digits, one digit at
		 * least), which no fixed text or quoting can produce by chance,
		 * unless the role or conninfo the message may quote contains it.
		 */
		if (distinctive(cred->password) && strstr(err, cred->password) != NULL &&
			strstr(cred->role, cred->password) == NULL &&
			strstr(cred->app_conninfo, cred->password) == NULL &&
			strstr(cred->verifier, cred->password) == NULL)
			abort();
		free(err);
		return;
	}
	if (err != NULL)
		abort();
	memset(&s, 0, sizeof(s));
	s.type = SINK_FILE;
	s.path = path;
	s.format = fmt;
	s.mode = 0600;
	write_file(content);
	secret_free(content);
	if (cred->role[0] == '\0' || cred->password[0] == '\0')
		return;					/* "no credential" is the right answer */
	if (fmt == SINK_FMT_PGBOUNCER)
	{
		rc = sink_read_fingerprint(&s, &role, fp, &err);
		secret_fingerprint(cred->verifier, want);
		if (rc != 1 || strcmp(role, cred->role) != 0 || strcmp(fp, want) != 0)
		{
			fprintf(stderr, "pgbouncer round trip: rc %d role \"%s\"\n", rc, role ? role : "(null)");
			abort();
		}
	}
	else
	{
		rc = sink_read_credential(&s, &role, &pw, &err);
		if (rc != 1 || strcmp(role, cred->role) != 0 || strcmp(pw, cred->password) != 0)
		{
			fprintf(stderr, "%s round trip: rc %d role \"%s\"\n", cfg_format_name(fmt), rc,
					role ? role : "(null)");
			abort();
		}
	}
	free(err);
	free(role);
	secret_free(pw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	const uint8_t *end = data + size;
	Credential	cred;
	char	   *target,
			   *role,
			   *password,
			   *verifier,
			   *conninfo;

	if (size < 17)
		return 0;
	if (path[0] == '\0')
	{
		const char *dir = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/pgr-fuzz-sink-%d",
				 (dir && strlen(dir) < 32) ? dir : "/tmp", (int) getpid());
	}
	memset(&cred, 0, sizeof(cred));
	memcpy(&cred.generation, data + 1, 8);
	memcpy(&cred.rotated_at, data + 9, 8);

	/*
	 * rotated_at within what a PostgreSQL timestamp can hold (4713 BC to
	 * 294276 AD), where it comes from. Outside gmtime's range format_utc
	 * (src/util.c) formats an uninitialised struct tm and may leave its
	 * buffer unterminated: a latent bug no caller reaches today.
	 */
	cred.rotated_at = cred.rotated_at < 0
		? -(int64_t) ((uint64_t) cred.rotated_at % 210866803200u)
		: (int64_t) ((uint64_t) cred.rotated_at % 9224318016000u);
	p += 17;
	target = next_field(&p, end);
	role = next_field(&p, end);
	password = next_field(&p, end);
	verifier = next_field(&p, end);
	conninfo = next_field(&p, end);
	cred.target = target;
	cred.role = role;
	cred.password = password;
	cred.verifier = verifier;
	cred.app_conninfo = conninfo;

	check_format(SINK_FMT_ENV, &cred);
	check_format(SINK_FMT_JSON, &cred);
	check_format(SINK_FMT_PGPASS, &cred);
	check_format(SINK_FMT_URI, &cred);
	check_format(SINK_FMT_PGBOUNCER, &cred);

	free(target);
	free(role);
	secret_free(password);
	free(verifier);
	free(conninfo);
	unlink(path);
	return 0;
}
