/*
 * message.c: the three parts of a message for people (see message.h).
 */
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "util.h"

/*
 * Take every " (MARK T)" out of msg, balanced parentheses: *rest is msg
 * without them, and each T goes to taken, one per line.
 */
static void
split_mark(const char *msg, const char *mark, char **rest, StrBuf *taken)
{
	StrBuf		p;
	const char *s = msg;
	const char *at;

	sb_init(&p);
	while ((at = strstr(s, mark)) != NULL)
	{
		const char *start = at + strlen(mark);
		const char *c = start;
		int			depth = 1;

		for (; *c && depth > 0; c++)
			depth += (*c == '(') - (*c == ')');
		if (depth > 0)
			break;
		sb_appendn(&p, s, (size_t) (at - s));
		if (taken->len)
			sb_appendc(taken, '\n');
		sb_appendn(taken, start, (size_t) (c - 1 - start));
		s = c;
	}
	sb_append(&p, s);
	*rest = sb_steal(&p);
}

/* Add line (if any) to sb, on a line of its own. */
static void
add_line(StrBuf *sb, const char *line)
{
	if (line == NULL || line[0] == '\0')
		return;
	if (sb->len)
		sb_appendc(sb, '\n');
	sb_append(sb, line);
}

/* See message.h. */
void
message_split(const char *msg, const char *detail, const char *hint, Message *out)
{
	StrBuf		d,
				h;
	char	   *rest;

	sb_init(&d);
	sb_init(&h);
	split_mark(msg, " (hint: ", &rest, &h);
	split_mark(rest, " (detail: ", &out->primary, &d);
	free(rest);
	if (detail)
	{
		StrBuf		dd;
		char	   *r1,
				   *r2;

		sb_init(&dd);
		split_mark(detail, " (hint: ", &r1, &h);
		split_mark(r1, " (detail: ", &r2, &dd);
		add_line(&d, r2);
		add_line(&d, dd.data);
		free(r1);
		free(r2);
		sb_free(&dd);
	}
	add_line(&h, hint);
	out->detail = d.len ? sb_steal(&d) : NULL;
	out->hint = h.len ? sb_steal(&h) : NULL;
	sb_free(&d);
	sb_free(&h);
}

void
message_free(Message *m)
{
	free(m->primary);
	free(m->detail);
	free(m->hint);
	m->primary = m->detail = m->hint = NULL;
}
