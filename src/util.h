/*
 * util.h: allocation that cannot fail (it aborts with a message), growable
 * strings and string lists, JSON string escaping, clocks.
 */
#ifndef PGR_UTIL_H
#define PGR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PGR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PGR_PRINTF(f, a)
#endif

/* Allocation: on out-of-memory these print a message and exit(1). */
void	   *xmalloc(size_t n);
void	   *xcalloc(size_t n, size_t size);
void	   *xrealloc(void *p, size_t n);
char	   *xstrdup(const char *s);
char	   *xstrndup(const char *s, size_t n);
char	   *xasprintf(const char *fmt,...) PGR_PRINTF(1, 2);

/* A growable, always NUL-terminated string. */
typedef struct StrBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} StrBuf;

void		sb_init(StrBuf *sb);
void		sb_append(StrBuf *sb, const char *s);
void		sb_appendn(StrBuf *sb, const char *s, size_t n);
void		sb_appendc(StrBuf *sb, char c);
void		sb_appendf(StrBuf *sb, const char *fmt,...) PGR_PRINTF(2, 3);
void		sb_reset(StrBuf *sb);
/* Hand the buffer to the caller (who frees it); sb is empty afterwards. */
char	   *sb_steal(StrBuf *sb);
void		sb_free(StrBuf *sb);
/* Free after wiping the whole allocation (for buffers that held a secret). */
void		sb_free_secret(StrBuf *sb);
/*
 * Append text, its line breaks kept and every line after the first
 * prefixed with indent instead of its own leading blanks (a multi-line
 * server error under its item); blank lines and the blanks at its end are
 * dropped. Other control characters become '?' (see is_terminal_control).
 */
void		sb_append_indented(StrBuf *sb, const char *text, const char *indent);

/*
 * A byte a terminal would act on rather than show: C0 controls other than
 * tab and newline, and DEL. Text that others control (object and role
 * names, server errors, PgBouncer's client list) reaches a person's
 * terminal through pgrotate's messages, so such bytes are shown as '?',
 * as PostgreSQL does with application_name.
 */
#define is_terminal_control(c) \
	(((unsigned char) (c) < 0x20 && (c) != '\t' && (c) != '\n') || (unsigned char) (c) == 0x7f)
/* Append s as a JSON string literal, quotes included. */
void		sb_append_json(StrBuf *sb, const char *s);
/* Append ,"key":"value" (JSON null when value is NULL). */
void		sb_append_json_field(StrBuf *sb, const char *key, const char *value);

/* A growable list of owned strings. */
typedef struct StrList
{
	char	  **items;
	int			n;
	int			cap;
} StrList;

void		strlist_add(StrList *l, const char *s);		/* copies s */
void		strlist_add_owned(StrList *l, char *s);		/* takes s */
void		strlist_addf(StrList *l, const char *fmt,...) PGR_PRINTF(2, 3);
bool		strlist_contains(const StrList *l, const char *s);
void		strlist_free(StrList *l);

/* Milliseconds on CLOCK_MONOTONIC, and since the epoch on CLOCK_REALTIME. */
int64_t		clock_mono_ms(void);
int64_t		clock_wall_ms(void);
/* Sleep for ms milliseconds (restarts on EINTR unless *stop becomes set). */
void		sleep_ms(int64_t ms, volatile int *stop);
/* ISO 8601 UTC ("2026-11-22T03:15:22Z") of an epoch in seconds. */
void		format_utc(int64_t epoch_s, char out[32]);
/*
 * A local time as some servers print it ("2026-11-22 04:15:22 CET",
 * PgBouncer's connect_time) as ISO 8601 UTC in out: 0, or -1 (out
 * unchanged) when it is not of that form or its zone is neither UTC/GMT
 * nor this machine's.
 */
int			format_utc_of_local(const char *text, char out[32]);
/* This machine's host name (static buffer). */
const char *host_name(void);

/* close(*fd) if open, and mark it closed (-1). */
void		close_fd(int *fd);

#endif
