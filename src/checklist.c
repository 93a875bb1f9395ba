/*
 * checklist.c: the items of a preflight check, and how they are printed.
 *
 * The printed form is a public interface (scripts grep it):
 *   "  ok    name[: detail]"
 *   "  WARN  name: detail"
 *   "  FAIL  name: detail"
 *   "        more lines of a multi-line detail (a server error)"
 *   "  skip  name: why"
 *   "        fix: one line of the fix"   (one per line of the fix)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checklist.h"
#include "log.h"

/* The printed tag of each status, padded to the same width. */
static const char *const status_tags[] = {"ok  ", "WARN", "FAIL", "skip"};

void
checklist_add(CheckList *l, CheckStatus st, const char *name,
			  const char *detail, const char *fix)
{
	CheckItem  *it;

	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 16;
		l->items = xrealloc(l->items, sizeof(CheckItem) * l->cap);
	}
	it = &l->items[l->n++];
	it->status = st;
	it->name = xstrdup(name);
	it->detail = detail ? xstrdup(detail) : NULL;
	it->fix = fix ? xstrdup(fix) : NULL;
}

void
checklist_add_sql(CheckList *l, CheckStatus st, const char *name,
				  const char *detail, const char *intro, const char *sql)
{
	char	   *fix = sql && sql[0] ? xasprintf("%s\n%s", intro, sql) : NULL;

	checklist_add(l, st, name, detail, fix);
	free(fix);
}

int
checklist_count(const CheckList *l, CheckStatus st)
{
	int			n = 0;

	for (int i = 0; i < l->n; i++)
		if (l->items[i].status == st)
			n++;
	return n;
}

/*
 * A detail that spans lines (libpq's "... failed: FATAL: ...\npassword
 * retrieved from file ...") keeps its lines, each further one indented
 * under the item; blank lines and trailing line breaks are dropped.
 */
static void
print_detail(const char *s, FILE *f)
{
	for (const char *p = s; *p; p++)
	{
		if (*p == '\n' || *p == '\r')
		{
			while (p[1] == '\n' || p[1] == '\r' || p[1] == '\t' || p[1] == ' ')
				p++;
			if (p[1] != '\0')
				fputs("\n        ", f);
			continue;
		}
		fputc(*p == '\t' ? ' ' : is_terminal_control(*p) ? '?' : *p, f);
	}
}

/* Each line of a fix as its own "fix:" line. */
static void
print_fix(const char *fix, FILE *f)
{
	const char *p = fix;

	while (*p)
	{
		size_t		n = strcspn(p, "\n");

		if (n > 0)
		{
			fputs("        fix: ", f);
			for (size_t i = 0; i < n; i++)
				fputc(is_terminal_control(p[i]) ? '?' : p[i], f);
			fputc('\n', f);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
}

void
checklist_print(const CheckList *l, FILE *f)
{
	for (int i = 0; i < l->n; i++)
	{
		const CheckItem *it = &l->items[i];

		fprintf(f, "  %s  %s", status_tags[it->status], it->name);
		if (it->detail && it->detail[0])
		{
			fputs(": ", f);
			print_detail(it->detail, f);
		}
		fputc('\n', f);
		if (it->fix && it->fix[0] && it->status != CHECK_PASS)
			print_fix(it->fix, f);
	}
	fflush(f);
}

void
checklist_log_problems(const CheckList *l)
{
	for (int i = 0; i < l->n; i++)
	{
		const CheckItem *it = &l->items[i];
		LogLevel	level;

		if (it->status == CHECK_FAIL)
			level = LOG_LEVEL_ERROR;
		else if (it->status == CHECK_WARN)
			level = LOG_LEVEL_WARNING;
		else
			continue;
		if (it->detail && it->detail[0])
			log_emit(level, "check", NULL, it->fix, "%s: %s", it->name,
					 it->detail);
		else
			log_emit(level, "check", NULL, it->fix, "%s", it->name);
	}
}

void
checklist_free(CheckList *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < l->n; i++)
	{
		free(l->items[i].name);
		free(l->items[i].detail);
		free(l->items[i].fix);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}
