/*
 * checklist.h: the items of a preflight check ("check", and the setup
 * checks that "init" and "cycle" run before they change anything).
 */
#ifndef PGR_CHECKLIST_H
#define PGR_CHECKLIST_H

#include <stdio.h>

#include "util.h"

typedef enum CheckStatus
{
	CHECK_PASS,
	CHECK_WARN,
	CHECK_FAIL,
	CHECK_SKIP
} CheckStatus;

typedef struct CheckItem
{
	CheckStatus status;
	char	   *name;			/* "group role \"app\" is NOLOGIN" */
	char	   *detail;			/* what was found; may be NULL */
	char	   *fix;			/* the exact command that fixes it; may be NULL */
} CheckItem;

typedef struct CheckList
{
	CheckItem  *items;
	int			n;
	int			cap;
} CheckList;

/* Add an item; detail and fix are copied (NULL allowed). */
void		checklist_add(CheckList *l, CheckStatus st, const char *name,
						  const char *detail, const char *fix);
/*
 * The same with a fix made of SQL statements (one per line, kept verbatim
 * for copy and paste), introduced by the sentence intro (FIX_AS_...).
 */
void		checklist_add_sql(CheckList *l, CheckStatus st, const char *name,
							  const char *detail, const char *intro, const char *sql);

/* Who runs a fix made of SQL statements. */
#define FIX_AS_SUPERUSER "Run as a superuser:"
#define FIX_AS_ADMIN "Run as the target's admin or as a superuser:"

int			checklist_count(const CheckList *l, CheckStatus st);
/*
 * One line per item: "  ok    name", "  WARN  name: detail", "  FAIL  name:
 * detail", followed by "        fix: ..." lines. To f (stdout for check).
 */
void		checklist_print(const CheckList *l, FILE *f);
/* Log every FAIL (as errors, with the fix as HINT) and WARN item. */
void		checklist_log_problems(const CheckList *l);
void		checklist_free(CheckList *l);

#endif
