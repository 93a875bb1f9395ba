/*
 * duration.h: "500ms", "30s", "15m", "1h30m", "30d" (no spaces, units in
 * descending order, each at most once) or a bare number of seconds.
 */
#ifndef PGR_DURATION_H
#define PGR_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s into milliseconds. Returns 0 on success, -1 if s is not a
 * duration (empty, unknown unit, spaces, overflow past 100 years, ...).
 */
int			duration_parse(const char *s, int64_t *ms);

/* Format ms compactly ("1h30m", "500ms", "0s") into out (>= 32 bytes). */
void		duration_format(int64_t ms, char *out, size_t outlen);

#endif
