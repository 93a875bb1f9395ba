/*
 * fleet.h: "pgrotate cycle" over several targets at once (SPEC section 6):
 * workers for the active steps within --jobs and max_node_connections,
 * every drain waited out together by one coordinator (fleet.c).
 */
#ifndef PGR_FLEET_H
#define PGR_FLEET_H

#include "config.h"
#include "cycle.h"

/* Cycle every target; returns the worst of their exit codes. */
int			fleet_run(const Config *cfg, const Target **targets, int n, int jobs,
					  const CycleOpts *o);

#endif
