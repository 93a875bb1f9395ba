/*
 * budget.h: the connection budget of a run over several targets (SPEC
 * section 6): at most max_node_connections connections to one PostgreSQL
 * server (host and port) at once, whatever the number of targets and
 * --jobs. A target's run holds up to two connections (admin and verify) to
 * its primary and to each of its replicas; it starts only when all of them
 * have room. max_node_connections is at least 3, so that one worker always
 * fits beside a fleet run's hub.
 */
#ifndef PGR_BUDGET_H
#define PGR_BUDGET_H

#include <stdbool.h>

#include "config.h"

typedef struct Budget Budget;

/* The servers of each target; NULL never (allocation failures abort). */
Budget	   *budget_new(const Target *const *targets, int n);
void		budget_free(Budget *b);

/* Count one connection held all along on server node ("host:port"). */
void		budget_hold(Budget *b, const char *node);

/* Would target i's run fit now? */
bool		budget_fits(const Budget *b, int i);
/* Count target i's connections as held / given back. */
void		budget_take(Budget *b, int i);
void		budget_give(Budget *b, int i);

#endif
