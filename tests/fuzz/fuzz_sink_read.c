/*
 * fuzz_sink_read.c: libFuzzer target for the file sink readers
 * (src/sink.c: env, json, pgpass, uri and pgbouncer parsers behind
 * sink_read_credential and sink_read_fingerprint), which read files that
 * operators and other tools may have edited.
 *
 * The input is the content of the sink file, read in every format.
 * Properties: no crash, leak or undefined behaviour; a credential found
 * has a non-empty role and password; the results are 1, 0 or -1 as
 * documented.
 */
#include <fcntl.h>
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const SinkFormat fmts[] = {SINK_FMT_ENV, SINK_FMT_JSON, SINK_FMT_PGPASS,
	SINK_FMT_URI, SINK_FMT_PGBOUNCER};
	int			fd;

	if (path[0] == '\0')
	{
		const char *dir = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/pgr-fuzz-read-%d",
				 (dir && strlen(dir) < 32) ? dir : "/tmp", (int) getpid());
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
		abort();
	close(fd);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
	{
		SinkCfg		s;
		char	   *role = NULL;
		char	   *pw = NULL;
		char	   *err = NULL;
		char		fp[SECRET_FINGERPRINT_LEN + 1];
		int			rc;

		memset(&s, 0, sizeof(s));
		s.type = SINK_FILE;
		s.path = path;
		s.format = fmts[i];
		rc = sink_read_credential(&s, &role, &pw, &err);
		if (rc == 1 && (role == NULL || pw == NULL || role[0] == '\0' || pw[0] == '\0'))
			abort();
		if ((rc == 0 && (role != NULL || pw != NULL)) || (rc == -1 && err == NULL) ||
			rc < -1 || rc > 1)
			abort();
		free(role);
		secret_free(pw);
		free(err);
		role = NULL;
		err = NULL;
		rc = sink_read_fingerprint(&s, &role, fp, &err);
		if (rc == 1 && (role == NULL || strlen(fp) != SECRET_FINGERPRINT_LEN))
			abort();
		free(role);
		free(err);
	}
	unlink(path);
	return 0;
}
