/*
 * verify.c: log in as the new credential and look around.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "util.h"
#include "verify.h"

static int
verify_on(const char *conninfo, const char *label, const Target *t,
		  const char *role, const char *password, char **err)
{
	const char *over[] = {"user", role, "password", password,
	"application_name", "pgrotate-verify", NULL};
	DbConn	   *c;
	DbRes	   *r = NULL;
	char	   *e = NULL;
	int			rc = -1;

	c = db_connect(conninfo, label, over, &e);
	if (c == NULL)
	{
		*err = xasprintf("the new credential of role \"%s\" cannot log in: %s", role, e);
		free(e);
		return -1;
	}
	if (db_exec(c, "SELECT session_user, current_user", 0, NULL, 2, &r, &e) != 0)
		goto done;
	if (strcmp(db_val(r, 0, 0), role) != 0)
		e = xasprintf("%s: session_user is \"%s\", expected \"%s\"", label,
					  db_val(r, 0, 0), role);
	else if (strcmp(db_val(r, 0, 1), t->group_role) != 0)
		e = xasprintf("%s: logged in as \"%s\", current_user is \"%s\", expected the group role \"%s\""
					  " (is ALTER ROLE ... SET role = '%s' missing?)", label, role,
					  db_val(r, 0, 1), t->group_role, t->group_role);
	else if (db_cmd(c, t->s.verify_query, &e) == 0)
		rc = 0;
done:
	if (rc != 0)
	{
		*err = xasprintf("verification of role \"%s\" failed: %s", role,
						 e ? e : "unknown error");
		free(e);
	}
	db_res_free(r);
	db_close(c);
	return rc;
}

int
verify_credential(const Target *t, const char *role, const char *password,
				  char **err)
{
	return verify_on(t->app, "primary", t, role, password, err);
}
