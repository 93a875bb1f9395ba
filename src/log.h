/*
 * log.h: messages for people (stderr), in text or JSON lines.
 *
 * Text: "pgrotate: error: target appdb: ..." followed by optional
 * "DETAIL: " and "HINT: " lines, as PostgreSQL's client programs do.
 * JSON (--log-format=json): one object per line with time, level, target,
 * event and msg (plus detail and hint).
 *
 * Every registered secret is replaced by "<redacted>" in anything logged,
 * as a second line of defence: code must still never pass a secret in.
 */
#ifndef PGR_LOG_H
#define PGR_LOG_H

#include <stdbool.h>
#include "util.h"

typedef enum LogLevel
{
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
} LogLevel;

/* verbosity: -1 quiet (errors only), 0 normal (info), 1 verbose (debug) */
void		log_init(int verbosity, bool json);
bool		log_is_json(void);
bool		log_enabled(LogLevel level);
/* The target name shown with every message (NULL for none). */
void		log_set_target(const char *target);
/* Remember a secret to redact from all output; log_forget_secrets wipes. */
void		log_register_secret(const char *secret);
void		log_forget_secrets(void);

/*
 * Emit one message. event is a short machine word for JSON ("published");
 * NULL means "message". detail and hint may be NULL.
 */
void		log_emit(LogLevel level, const char *event, const char *detail,
					 const char *hint, const char *fmt,...) PGR_PRINTF(5, 6);

#define log_error(...)   log_emit(LOG_LEVEL_ERROR, NULL, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_LEVEL_WARNING, NULL, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_LEVEL_INFO, NULL, NULL, NULL, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_LEVEL_DEBUG, NULL, NULL, NULL, __VA_ARGS__)

/*
 * A live progress line on a terminal ("\r", clear, text, no newline). Any
 * message emitted next clears it first; log_live_end keeps it (newline).
 */
void		log_live(const char *fmt,...) PGR_PRINTF(1, 2);
void		log_live_end(void);

/*
 * The text of the last error emitted (with its detail, redacted), or NULL:
 * what a failed run records as the state's last_error.
 */
const char *log_last_error(void);
void		log_clear_last_error(void);
/* What a redacted secret is replaced by. */
#define LOG_REDACTED "<redacted>"

/* The length of the longest registered secret (0 if none). */
size_t		log_longest_secret(void);

/* Replace every registered secret in s (in place, shrinking). */
void		log_redact(char *s);

#endif
