/*
 * exitcode.h: the process exit codes of SPEC section 2 (all commands but
 * "status", whose codes follow the monitoring convention).
 */
#ifndef PGR_EXITCODE_H
#define PGR_EXITCODE_H

typedef enum PgrExit
{
	PGR_EXIT_OK = 0,			/* success */
	PGR_EXIT_FAIL = 1,			/* runtime failure or refusal */
	PGR_EXIT_USAGE = 2,			/* usage or configuration error */
	PGR_EXIT_DRAIN_TIMEOUT = 3, /* published, old role still valid */
	PGR_EXIT_LOCKED = 4			/* another run holds the target's lock */
} PgrExit;

/* "status" exit codes (Nagios/monitoring convention) */
typedef enum PgrStatusExit
{
	PGR_STATUS_OK = 0,
	PGR_STATUS_WARNING = 1,
	PGR_STATUS_CRITICAL = 2,
	PGR_STATUS_UNKNOWN = 3
} PgrStatusExit;

#endif
