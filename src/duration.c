/*
 * duration.c: "500ms", "30s", "15m", "1h30m", "30d" or a bare number of
 * seconds, to and from milliseconds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

/* Nothing longer than 100 years (36525 days) is a sensible duration. */
#define DURATION_MAX_MS ((int64_t) 36525 * 24 * 3600 * 1000)

typedef struct DurUnit
{
	const char *name;
	int64_t		ms;
} DurUnit;

/* In the order they must appear. */
static const DurUnit units[] = {
	{"d", (int64_t) 24 * 3600 * 1000},
	{"h", (int64_t) 3600 * 1000},
	{"m", (int64_t) 60 * 1000},
	{"s", 1000},
	{"ms", 1},
};

#define NUNITS ((int) (sizeof(units) / sizeof(units[0])))

/*
 * Read the digits at *p into *n (advancing *p). Fails if there are none or
 * the number alone exceeds limit.
 */
static int
read_number(const char **p, int64_t limit, int64_t *n)
{
	const char *s = *p;
	int64_t		v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
	{
		v = v * 10 + (*s - '0');
		if (v > limit)
			return -1;
	}
	*p = s;
	*n = v;
	return 0;
}

/* The index of the unit at *p ("ms" before "m"), advancing *p; or -1. */
static int
read_unit(const char **p)
{
	int			best = -1;
	size_t		bestlen = 0;

	for (int i = 0; i < NUNITS; i++)
	{
		size_t		len = strlen(units[i].name);

		if (strncmp(*p, units[i].name, len) == 0 && len > bestlen)
		{
			best = i;
			bestlen = len;
		}
	}
	*p += bestlen;
	return best;
}

int
duration_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t		total = 0;
	int			last = -1;
	int64_t		n;

	if (s == NULL || *s == '\0')
		return -1;
	if (strspn(s, "0123456789") == strlen(s))
	{
		/* a bare number: seconds */
		if (read_number(&p, DURATION_MAX_MS / 1000, &n) != 0)
			return -1;
		*ms = n * 1000;
		return 0;
	}
	while (*p)
	{
		int			u;

		if (read_number(&p, DURATION_MAX_MS, &n) != 0)
			return -1;
		u = read_unit(&p);
		if (u < 0 || u <= last)
			return -1;			/* unknown, repeated or out of order */
		if (n > (DURATION_MAX_MS - total) / units[u].ms)
			return -1;
		total += n * units[u].ms;
		last = u;
	}
	*ms = total;
	return 0;
}

void
duration_format(int64_t ms, char *out, size_t outlen)
{
	size_t		len = 0;
	uint64_t	rest;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (ms == 0)
	{
		snprintf(out, outlen, "0s");
		return;
	}
	if (ms < 0)
		len += snprintf(out, outlen, "-");
	rest = ms < 0 ? (uint64_t) 0 - (uint64_t) ms : (uint64_t) ms;
	for (int i = 0; i < NUNITS && rest > 0 && len < outlen; i++)
	{
		uint64_t	n = rest / (uint64_t) units[i].ms;

		if (n == 0)
			continue;
		rest -= n * (uint64_t) units[i].ms;
		len += snprintf(out + len, outlen - len, "%llu%s",
						(unsigned long long) n, units[i].name);
	}
}
