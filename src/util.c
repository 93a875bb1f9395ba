/*
 * util.c: allocation, strings, lists, clocks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util.h"

static void
oom(void)
{
	fputs("pgrotate: error: out of memory\n", stderr);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
xstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	   *p = strndup(s, n);

	if (p == NULL)
		oom();
	return p;
}

static char *
xvasprintf(const char *fmt, va_list ap)
{
	char	   *out;

	if (vasprintf(&out, fmt, ap) < 0)
		oom();
	return out;
}

char *
xasprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *out;

	va_start(ap, fmt);
	out = xvasprintf(fmt, ap);
	va_end(ap);
	return out;
}

/* ---- StrBuf ---- */

void
sb_init(StrBuf *sb)
{
	sb->cap = 64;
	sb->len = 0;
	sb->data = xmalloc(sb->cap);
	sb->data[0] = '\0';
}

/* Grow to hold n more bytes; old buffers are wiped, as they may hold secrets. */
static void
sb_reserve(StrBuf *sb, size_t n)
{
	size_t		newcap;
	char	   *p;

	if (sb->data == NULL)
		sb_init(sb);
	if (sb->len + n + 1 <= sb->cap)
		return;
	newcap = sb->cap * 2;
	while (newcap < sb->len + n + 1)
		newcap *= 2;
	p = xmalloc(newcap);
	memcpy(p, sb->data, sb->len + 1);
	OPENSSL_cleanse(sb->data, sb->cap);
	free(sb->data);
	sb->data = p;
	sb->cap = newcap;
}

void
sb_appendn(StrBuf *sb, const char *s, size_t n)
{
	sb_reserve(sb, n);
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
sb_append(StrBuf *sb, const char *s)
{
	sb_appendn(sb, s, strlen(s));
}

void
sb_appendc(StrBuf *sb, char c)
{
	sb_appendn(sb, &c, 1);
}

void
sb_appendf(StrBuf *sb, const char *fmt,...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_append(sb, s);
	free(s);
}

void
sb_reset(StrBuf *sb)
{
	if (sb->data == NULL)
		sb_init(sb);
	sb->len = 0;
	sb->data[0] = '\0';
}

char *
sb_steal(StrBuf *sb)
{
	char	   *p;

	if (sb->data == NULL)
		sb_init(sb);
	p = sb->data;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void
sb_free(StrBuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

void
sb_free_secret(StrBuf *sb)
{
	if (sb->data)
		OPENSSL_cleanse(sb->data, sb->cap);
	sb_free(sb);
}

void
sb_append_indented(StrBuf *sb, const char *text, const char *indent)
{
	size_t		len = strlen(text);

	while (len > 0 && strchr("\n\r\t ", text[len - 1]) != NULL)
		len--;
	for (size_t i = 0; i < len; i++)
	{
		if (text[i] == '\r')
			continue;
		if (text[i] != '\n')
		{
			sb_appendc(sb, is_terminal_control(text[i]) ? '?' : text[i]);
			continue;
		}
		/* the line's own indentation (libpq's tab) and blank lines go */
		while (i + 1 < len && strchr("\n\r\t ", text[i + 1]) != NULL)
			i++;
		sb_appendc(sb, '\n');
		sb_append(sb, indent);
	}
}

void
sb_append_json_field(StrBuf *sb, const char *key, const char *value)
{
	sb_appendf(sb, ",\"%s\":", key);
	if (value)
		sb_append_json(sb, value);
	else
		sb_append(sb, "null");
}

void
sb_append_json(StrBuf *sb, const char *s)
{
	const unsigned char *p;

	sb_appendc(sb, '"');
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				sb_append(sb, "\\\"");
				break;
			case '\\':
				sb_append(sb, "\\\\");
				break;
			case '\n':
				sb_append(sb, "\\n");
				break;
			case '\r':
				sb_append(sb, "\\r");
				break;
			case '\t':
				sb_append(sb, "\\t");
				break;
			default:
				if (*p < 0x20)
					sb_appendf(sb, "\\u%04x", *p);
				else
					sb_appendc(sb, (char) *p);
		}
	}
	sb_appendc(sb, '"');
}

/* ---- StrList ---- */

void
strlist_add_owned(StrList *l, char *s)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 8;
		l->items = xrealloc(l->items, sizeof(char *) * l->cap);
	}
	l->items[l->n++] = s;
}

void
strlist_add(StrList *l, const char *s)
{
	strlist_add_owned(l, xstrdup(s));
}

void
strlist_addf(StrList *l, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	strlist_add_owned(l, xvasprintf(fmt, ap));
	va_end(ap);
}

bool
strlist_contains(const StrList *l, const char *s)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

void
strlist_free(StrList *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}

/* ---- clocks ---- */

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

void
sleep_ms(int64_t ms, volatile int *stop)
{
	struct timespec req,
				rem;

	if (ms <= 0)
		return;
	req.tv_sec = ms / 1000;
	req.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&req, &rem) != 0 && errno == EINTR)
	{
		if (stop && *stop)
			return;
		req = rem;
	}
}

void
format_utc(int64_t epoch_s, char out[32])
{
	time_t		t = (time_t) epoch_s;
	struct tm	tm;

	/* an epoch gmtime cannot represent must not leave out unterminated */
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strcpy(out, "1970-01-01T00:00:00Z");
}

int
format_utc_of_local(const char *text, char out[32])
{
	struct tm	tm;
	char		zone[16];
	char		end;
	time_t		t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d %15s%c", &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone, &end) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tzset();
	if (strcmp(zone, "UTC") == 0 || strcmp(zone, "GMT") == 0 || strcmp(zone, "Z") == 0)
		t = timegm(&tm);
	else if (strcmp(zone, tzname[0]) == 0 || strcmp(zone, tzname[1]) == 0)
	{
		/* the zone's name says whether it is summer time, unless both agree */
		tm.tm_isdst = strcmp(tzname[0], tzname[1]) == 0 ? -1 :
			strcmp(zone, tzname[1]) == 0;
		t = mktime(&tm);
	}
	else
		return -1;
	if (t == (time_t) -1)
		return -1;
	format_utc((int64_t) t, out);
	return 0;
}

const char *
host_name(void)
{
	static char name[256];

	if (name[0] == '\0')
	{
		if (gethostname(name, sizeof(name) - 1) != 0)
			strcpy(name, "unknown");
		name[sizeof(name) - 1] = '\0';
	}
	return name;
}

void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
