/*
 * fuzz_config.c: libFuzzer target for the configuration loader
 * (src/config.c: libconfig parsing, then the key table's validation of
 * every scope, type, duration, mode and conninfo).
 *
 * The input is written to a private temp file (0600: a file that holds a
 * password must not be readable by others) and loaded with cfg_load.
 * Properties: no crash, leak or undefined behaviour; cfg_load returns 0
 * with a config or -1 with at least one message and no config; no
 * message is empty. (Messages may span lines: they quote values, and a
 * role name may contain a newline; the text log prints it as is.)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void
make_path(void)
{
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/pgr-fuzz-config-%d.conf",
			 (dir && strlen(dir) < 32) ? dir : "/tmp", (int) getpid());
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Config	   *cfg = NULL;
	StrList		errs = {0};
	int			fd;
	int			rc;

	if (path[0] == '\0')
		make_path();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t) size)
		abort();
	close(fd);

	rc = cfg_load(path, &cfg, &errs);
	if (rc == 0 && (cfg == NULL || errs.n != 0))
		abort();
	if (rc != 0 && (rc != -1 || cfg != NULL || errs.n == 0))
		abort();
	for (int i = 0; i < errs.n; i++)
		if (errs.items[i] == NULL || errs.items[i][0] == '\0')
			abort();
	if (cfg != NULL)
	{
		/* what the commands do next: look every target up by name */
		for (int i = 0; i < cfg->ntargets; i++)
			if (cfg_find_target(cfg, cfg->targets[i].name) == NULL)
				abort();
		cfg_free(cfg);
	}
	strlist_free(&errs);
	unlink(path);
	return 0;
}
