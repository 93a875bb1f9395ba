/*
 * session.c: a growing list of sessions and its description for messages.
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "util.h"

void
sessionlist_free(SessionList *l)
{
	for (int i = 0; i < l->n; i++)
	{
		free(l->items[i].application_name);
		free(l->items[i].client_addr);
		free(l->items[i].backend_start);
		free(l->items[i].database);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

Session *
sessionlist_add(SessionList *l)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 8;
		l->items = xrealloc(l->items, sizeof(Session) * l->cap);
	}
	memset(&l->items[l->n], 0, sizeof(Session));
	return &l->items[l->n++];
}

char *
sessionlist_describe(const SessionList *l, int max)
{
	StrBuf		sb;

	sb_init(&sb);
	for (int i = 0; i < l->n && i < max; i++)
	{
		const Session *s = &l->items[i];

		if (i > 0)
			sb_appendc(&sb, '\n');
		if (s->kind)
		{
			sb_appendf(&sb, "%s %s", s->node, s->kind);
			if (s->database)
				sb_appendf(&sb, " of database \"%s\"", s->database);
			if (s->pid > 0)
				sb_appendf(&sb, " (%s pid %d)", strcmp(s->kind, "client") == 0 ?
						   "client" : "backend", s->pid);
		}
		else
			sb_appendf(&sb, "%s pid %d", s->node, s->pid);
		if (s->application_name && s->application_name[0])
			sb_appendf(&sb, " \"%s\"", s->application_name);
		if (s->client_addr || !s->kind)
			sb_appendf(&sb, " from %s", s->client_addr ? s->client_addr : "(hidden)");
		if (s->backend_start)
			sb_appendf(&sb, " since %s", s->backend_start);
	}
	if (l->n > max)
		sb_appendf(&sb, "\nand %d more", l->n - max);
	return sb_steal(&sb);
}
