/*
 * budget.c: connections per server for a run over several targets (see
 * budget.h). Servers are told apart by "host:port" as libpq would use it
 * (db_conninfo_node), so the targets of one cluster in many databases
 * share one budget.
 */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "db.h"
#include "util.h"

#define CONNS_PER_SERVER 2		/* admin, then the verify login beside it */

typedef struct TargetServers
{
	int		   *server;			/* indexes into Budget.names */
	int			n;
	int			limit;			/* the target's max_node_connections */
} TargetServers;

struct Budget
{
	char	  **names;			/* "host:port" of each server */
	int		   *held;			/* connections counted as held */
	int			nservers;
	TargetServers *t;
	int			ntargets;
};

static int
node_index(Budget *b, char *name)
{
	for (int i = 0; i < b->nservers; i++)
		if (strcmp(b->names[i], name) == 0)
		{
			free(name);
			return i;
		}
	b->names = xrealloc(b->names, sizeof(char *) * (b->nservers + 1));
	b->held = xrealloc(b->held, sizeof(int) * (b->nservers + 1));
	b->names[b->nservers] = name;
	b->held[b->nservers] = 0;
	return b->nservers++;
}

/* The index of conninfo's server (added if new). */
static int
server_index(Budget *b, const char *conninfo)
{
	return node_index(b, db_conninfo_node(conninfo));
}

/* Add conninfo's server to ts unless it is there already. */
static void
add_server(Budget *b, TargetServers *ts, const char *conninfo)
{
	int			k = server_index(b, conninfo);

	for (int i = 0; i < ts->n; i++)
		if (ts->server[i] == k)
			return;
	ts->server[ts->n++] = k;
}

Budget *
budget_new(const Target *const *targets, int n)
{
	Budget	   *b = xcalloc(1, sizeof(Budget));

	b->t = xcalloc(n > 0 ? n : 1, sizeof(TargetServers));
	b->ntargets = n;
	for (int i = 0; i < n; i++)
	{
		const Target *t = targets[i];
		TargetServers *ts = &b->t[i];

		ts->server = xcalloc(1 + t->replicas.n, sizeof(int));
		ts->limit = t->s.max_node_connections;
		add_server(b, ts, t->admin);
		for (int r = 0; r < t->replicas.n; r++)
			add_server(b, ts, t->replicas.items[r]);
	}
	return b;
}

void
budget_free(Budget *b)
{
	if (b == NULL)
		return;
	for (int i = 0; i < b->nservers; i++)
		free(b->names[i]);
	for (int i = 0; i < b->ntargets; i++)
		free(b->t[i].server);
	free(b->names);
	free(b->held);
	free(b->t);
	free(b);
}

void
budget_hold(Budget *b, const char *node)
{
	b->held[node_index(b, xstrdup(node))]++;
}

bool
budget_fits(const Budget *b, int i)
{
	const TargetServers *ts = &b->t[i];

	for (int k = 0; k < ts->n; k++)
		if (b->held[ts->server[k]] + CONNS_PER_SERVER > ts->limit)
			return false;
	return true;
}

void
budget_take(Budget *b, int i)
{
	for (int k = 0; k < b->t[i].n; k++)
		b->held[b->t[i].server[k]] += CONNS_PER_SERVER;
}

void
budget_give(Budget *b, int i)
{
	for (int k = 0; k < b->t[i].n; k++)
		b->held[b->t[i].server[k]] -= CONNS_PER_SERVER;
}
