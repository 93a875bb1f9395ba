/*
 * fuzz_duration.c: libFuzzer target for duration_parse and
 * duration_format (src/duration.c).
 *
 * Properties checked on every input:
 *   - duration_parse never reads past the string and, when it accepts,
 *     gives 0 <= ms <= 100 years;
 *   - what duration_format writes for an accepted value parses back to the
 *     same value (the two are inverse);
 *   - duration_format of any int64 into any buffer size stays in bounds
 *     and NUL-terminates.
 * A violated property aborts (a crash for libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

#define MAX_MS ((int64_t) 36525 * 24 * 3600 * 1000)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	char		out[64];
	int64_t		ms = -1,
				back = -1;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (duration_parse(s, &ms) == 0)
	{
		if (ms < 0 || ms > MAX_MS)
			abort();
		duration_format(ms, out, sizeof(out));
		if (duration_parse(out, &back) != 0 || back != ms)
			abort();
	}

	/* the raw bytes as a value, into a buffer of a size from the input */
	if (size >= 9)
	{
		int64_t		v;
		size_t		outlen = (size_t) (data[8] % 40) + 1;
		char	   *small = malloc(outlen);

		memcpy(&v, data, sizeof(v));
		if (small != NULL)
		{
			memset(small, 'X', outlen);
			duration_format(v, small, outlen);
			if (memchr(small, '\0', outlen) == NULL)
				abort();
			free(small);
		}
	}
	free(s);
	return 0;
}
