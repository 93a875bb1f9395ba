/*
 * cmd_init.c: "pgrotate init TARGET [--print-sql] [--adopt-group]":
 * create what is missing (group role, login roles, membership, SET role,
 * state schema), then provision, verify and publish the first credential.
 * Never changes the password of a role that can log in now. With
 * --adopt-group, the group role may be the application's login: it is
 * drained and revoked after the publish (adopt.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "check_admin.h"
#include "commands.h"
#include "cycle.h"
#include "exitcode.h"
#include "log.h"
#include "parallel.h"
#include "roles.h"
#include "rolesql.h"
#include "state.h"

typedef struct InitPlan
{
	RoleInfo	group;
	RoleInfo	login[2];
	bool		linked[2];		/* member of the group with SET role */
	int			schema_version;
	bool		have_state;
} InitPlan;

static int
init_fail(char *err, const char *what)
{
	log_emit(LOG_LEVEL_ERROR, "failed", NULL, NULL, "%s: %s", what, err ? err : "unknown error");
	free(err);
	return PGR_EXIT_FAIL;
}

static int
survey(CycleRun *run, InitPlan *plan)
{
	const Target *t = run->t;
	char	   *err = NULL;
	bool		found = false;

	memset(plan, 0, sizeof(*plan));
	if (roles_get(run->admin, t->group_role, &plan->group, &err) != 0 ||
		state_schema_version(run->admin, &plan->schema_version, &err) != 0)
		return init_fail(err, "cannot inspect the target");
	for (int i = 0; i < 2; i++)
	{
		if (roles_get(run->admin, t->roles[i], &plan->login[i], &err) != 0)
			return init_fail(err, "cannot inspect the login roles");
		if (plan->login[i].exists && plan->group.exists &&
			roles_login_linked(run->admin, t->roles[i], t->group_role, &plan->linked[i],
							   &err) != 0)
			return init_fail(err, "cannot inspect the role memberships");
	}
	if (plan->schema_version > 0 &&
		state_load(run->admin, t->name, &run->st, &found, &err) != 0)
		return init_fail(err, "cannot read the state");
	plan->have_state = found;
	run->have_state = found;
	/* its roles, the pending one too, before any of them reaches ALTER ROLE */
	return found ? cycle_check_roles(run) : PGR_EXIT_OK;
}

/* Without CREATE on the database, init would fail half-way: say so first. */
static int
refuse_no_create(CycleRun *run)
{
	char	   *fix = NULL;
	char	   *err = NULL;
	int			rc = check_admin_can_create(run->admin, &fix, &err);

	if (rc < 0)
		return init_fail(err, "cannot check the admin's privileges");
	if (rc == 1)
		return PGR_EXIT_OK;
	log_emit(LOG_LEVEL_ERROR, "refused", NULL, fix,
			 "the admin may not create the pgrotate schema in the database of target \"%s\"; nothing was changed",
			 run->t->name);
	free(fix);
	return PGR_EXIT_FAIL;
}

/* The refusals of SPEC section 2. */
static int
refuse_unsafe(CycleRun *run, const InitPlan *plan, bool adopt)
{
	const Target *t = run->t;
	char	   *other = NULL;
	char	   *err = NULL;
	int			rc;

	if (adopt && (rc = adopt_refuse(run, &plan->group)) != PGR_EXIT_OK)
		return rc;
	if (plan->schema_version == 0 && (rc = refuse_no_create(run)) != PGR_EXIT_OK)
		return rc;
	if (plan->group.exists && plan->group.canlogin && !adopt)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL,
				 "If an application logs in as it, migrate with \"pgrotate init --adopt-group\"; else run \"ALTER ROLE ... NOLOGIN\".",
				 "group role \"%s\" can log in; pgrotate needs it NOLOGIN", t->group_role);
		return PGR_EXIT_FAIL;
	}
	for (int i = 0; i < 2; i++)
	{
		const RoleInfo *r = &plan->login[i];

		if (r->exists && (r->superuser || r->replication || r->bypassrls))
		{
			log_emit(LOG_LEVEL_ERROR, "refused", NULL, "Use an ordinary role for the application.",
					 "login role \"%s\" is %s; an application role must not be", t->roles[i],
					 r->superuser ? "SUPERUSER" : r->replication ? "REPLICATION" : "BYPASSRLS");
			return PGR_EXIT_FAIL;
		}
	}
	if (plan->login[0].canlogin && plan->login[1].canlogin && !plan->have_state)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL,
				 "Make the unused one NOLOGIN (run \"ALTER ROLE ... NOLOGIN\") and run init again.",
				 "both \"%s\" and \"%s\" can log in; init never changes the password of a role that may be in use",
				 t->roles[0], t->roles[1]);
		return PGR_EXIT_FAIL;
	}
	if (plan->schema_version > 0 &&
		state_roles_used_elsewhere(run->admin, t->name, t->group_role, t->roles[0],
								   t->roles[1], &other, &err) != 0)
		return init_fail(err, "cannot read the state");
	if (other)
	{
		log_emit(LOG_LEVEL_ERROR, "refused", NULL, "Give each target its own roles.",
				 "target \"%s\" already uses one of the roles \"%s\", \"%s\", \"%s\"", other,
				 t->group_role, t->roles[0], t->roles[1]);
		free(other);
		return PGR_EXIT_FAIL;
	}
	return PGR_EXIT_OK;
}

/* The DDL that creates what is missing (malloc'd, maybe ""). */
static char *
setup_ddl(CycleRun *run, const InitPlan *plan, char **err)
{
	const Target *t = run->t;
	const char *logins[2] = {t->roles[0], t->roles[1]};
	bool		create[2],
				link[2];

	for (int i = 0; i < 2; i++)
	{
		create[i] = !plan->login[i].exists;
		link[i] = !plan->linked[i];
	}
	return rolesql_setup(run->admin, t->group_role, !plan->group.exists, logins,
						 create, link, err);
}

static int
print_sql(CycleRun *run, const InitPlan *plan, bool adopt)
{
	char	   *err = NULL;
	char	   *ddl = setup_ddl(run, plan, &err);
	char	   *schema = NULL;
	char	   *revoke = NULL;
	int			rc = PGR_EXIT_FAIL;

	if (ddl == NULL ||
		(schema = state_install_sql(run->admin, run->t->group_role, &err)) == NULL ||
		(adopt && plan->group.canlogin &&
		 rolesql_revoke(run->admin, run->t->group_role, &revoke, &err) != 0))
	{
		rc = init_fail(err, "cannot build the DDL");
		goto done;
	}
	printf("-- pgrotate init %s: roles\nBEGIN;\n%s", run->t->name, ddl);
	if (plan->schema_version < pgr_sql_nscripts)
		printf("-- state schema\n%s", schema);
	printf("COMMIT;\n-- then \"pgrotate init %s%s\" provisions and publishes the first credential\n",
		   run->t->name, adopt ? " --adopt-group" : "");
	if (revoke)
		printf("-- and, once min_overlap has passed and the group role's own sessions have ended:\n"
			   "%s;\n", revoke);
	rc = PGR_EXIT_OK;
done:
	free(ddl);
	free(schema);
	free(revoke);
	return rc;
}

/* Create the roles, schema and state row in one transaction. */
static int
apply_setup(CycleRun *run, const InitPlan *plan, bool adopt, bool *changed)
{
	const Target *t = run->t;
	char	   *err = NULL;
	char	   *ddl = setup_ddl(run, plan, &err);
	bool		schema_changed = false;
	int			live = plan->login[0].canlogin ? 0 : plan->login[1].canlogin ? 1 : -1;
	int			rc;

	if (ddl == NULL)
		return init_fail(err, "cannot build the DDL");
	*changed = ddl[0] != '\0' || !plan->have_state;
	rc = db_begin(run->admin, &err);
	if (rc == 0 && ddl[0])
		rc = db_cmd(run->admin, ddl, &err);
	if (rc == 0)
		rc = state_install(run->admin, t->group_role, &schema_changed, &err);
	/* the first active role is the one in use, else B (A gets the credential) */
	if (rc == 0 && !plan->have_state)
		rc = state_create(run->admin, t->name, t->group_role,
						  t->roles[live == 0 ? 0 : 1], t->roles[live == 0 ? 1 : 0], &err);
	if (rc == 0 && *changed)
		rc = state_history(run->admin, t->name, "initialised", NULL, NULL, 0, NULL,
						   ddl[0] ? ddl : NULL, &err);
	if (rc == 0 && adopt && plan->group.canlogin && !plan->have_state)
		rc = state_history(run->admin, t->name, "adopt_started", t->group_role, NULL, 0,
						   NULL, "the group role logs in; it is revoked once its sessions have drained",
						   &err);
	free(ddl);
	if (rc == 0)
		rc = db_commit(run->admin, &err);
	if (rc != 0)
	{
		db_rollback(run->admin);
		return init_fail(err, "cannot create the roles and state schema");
	}
	*changed = *changed || schema_changed;
	return PGR_EXIT_OK;
}

/*
 * Provision, verify and publish the first credential (or finish a cycle
 * that init started). A login role that can log in now is never given a
 * new password: it drains in a later cycle.
 */
static int
first_credential(CycleRun *run, CycleOpts *o, const InitPlan *plan,
				 bool adopting)
{
	int			rc;

	rc = adopting ? adopt_check_setup(run) : cycle_check_setup(run);
	if (rc != PGR_EXIT_OK)
		return rc;
	for (int i = 0; i < 2; i++)
	{
		const char *role = run->t->roles[i];

		if (plan->login[i].canlogin &&
			(strcmp(role, run->st.active_role) == 0 ||
			 (run->st.phase == PHASE_DRAINING && strcmp(role, run->st.standby_role) == 0)))
			o->no_wait = true;
	}
	rc = cycle_execute(run);
	if (rc == PGR_EXIT_OK && o->no_wait)
		log_emit(LOG_LEVEL_INFO, "initialised", NULL, NULL,
				 "role \"%s\" was in use: it stays valid until its sessions drain; \"pgrotate cycle %s\" finishes that",
				 run->st.standby_role, run->t->name);
	return rc;
}

static int
init_target(CycleRun *run, CycleOpts *o, bool print, bool adopt)
{
	InitPlan	plan;
	bool		changed = false;
	bool		adopting;
	int			rc;

	if ((rc = survey(run, &plan)) != PGR_EXIT_OK ||
		(rc = refuse_unsafe(run, &plan, adopt)) != PGR_EXIT_OK)
		return rc;
	if (print)
		return print_sql(run, &plan, adopt);
	if ((rc = apply_setup(run, &plan, adopt, &changed)) != PGR_EXIT_OK)
		return rc;
	/* the state row (or the lock's columns) exists now: claim it */
	if (run->lock_deferred && (rc = cycle_claim(run)) != PGR_EXIT_OK)
		return rc;
	state_row_free(&run->st);
	if ((rc = survey(run, &plan)) != PGR_EXIT_OK)
		return rc;
	adopting = adopt && plan.group.canlogin;
	if (run->st.generation == 0 || (adopting && run->st.phase != PHASE_IDLE))
		rc = first_credential(run, o, &plan, adopting);
	else if (adopting)
		rc = adopt_check_setup(run);
	else
	{
		char	   *hint = run->st.phase == PHASE_IDLE ? NULL :
			xasprintf("A cycle is in progress: \"pgrotate cycle %s\" finishes it.", run->t->name);

		log_emit(LOG_LEVEL_INFO, "initialised", NULL, hint,
				 "%s: target \"%s\" is initialised (active role \"%s\", generation %lld, phase %s)",
				 changed ? "repaired" : "nothing to do", run->t->name, run->st.active_role,
				 (long long) run->st.generation, phase_name(run->st.phase));
		free(hint);
		return PGR_EXIT_OK;
	}
	if (rc == PGR_EXIT_OK && adopting)
		rc = adopt_finish(run);
	return rc;
}

/* Initialise one target (each with its own options: a run may change them). */
static int
init_one(const Config *cfg, const Target *t, bool print, bool adopt)
{
	CycleOpts	o = {0};
	CycleRun	run;
	int			rc;

	o.stop = &cmd_stop_requested;
	log_clear_last_error();
	rc = cycle_open(&run, cfg, t, &o);
	if (rc == PGR_EXIT_OK)
		rc = init_target(&run, &o, print, adopt);
	if (!print)
		rc = cycle_record_outcome(&run, rc);
	cycle_close(&run);
	return rc;
}

typedef struct InitArgs
{
	bool		print;
	bool		adopt;
} InitArgs;

static int
init_fn(const Config *cfg, const Target *t, int i, void *arg)
{
	const InitArgs *a = arg;

	(void) i;
	return init_one(cfg, t, a->print, a->adopt);
}

/* "host:port dbname" of t's admin conninfo: where its state schema is. */
static char *
database_key(const Target *t)
{
	char	   *node = db_conninfo_node(t->admin);
	char	   *db = NULL;
	char	   *err = NULL;
	char	   *key;

	if (db_conninfo_get(t->admin, "dbname", &db, &err) != 0 ||
		(db == NULL && db_conninfo_get(t->admin, "user", &db, &err) != 0))
		free(err);
	key = xasprintf("%s %s", node, db ? db : "");
	free(db);
	free(node);
	return key;
}

/*
 * Several targets, in parallel within --jobs' default and the connection
 * budget: first one target of each database (it may create the state
 * schema there), then all the others.
 */
static int
init_many(const Config *cfg, const Target **targets, int n, InitArgs *a)
{
	char	  **keys = xcalloc(n, sizeof(char *));
	const Target **wave[2] = {xcalloc(n, sizeof(Target *)), xcalloc(n, sizeof(Target *))};
	int			nw[2] = {0, 0};
	int			rc;

	for (int i = 0; i < n; i++)
	{
		int			w = 0;

		keys[i] = database_key(targets[i]);
		for (int k = 0; k < i && w == 0; k++)
			w = strcmp(keys[k], keys[i]) == 0;
		wave[w][nw[w]++] = targets[i];
	}
	rc = parallel_run(cfg, wave[0], nw[0], PARALLEL_DEFAULT_JOBS, init_fn, a);
	if (nw[1] > 0 && !cmd_stop_requested)
		rc = cmd_worst_exit(rc, parallel_run(cfg, wave[1], nw[1], PARALLEL_DEFAULT_JOBS, init_fn, a));
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(wave[0]);
	free(wave[1]);
	return rc;
}
static const struct option options[] = {
	{"print-sql", no_argument, NULL, 'p'},
	{"adopt-group", no_argument, NULL, 'A'},
	{"all", no_argument, NULL, 'a'},
	{NULL, 0, NULL, 0}
};

static void
usage(void)
{
	cmd_print_help(&cmd_init_command, "TARGET... | --all [--print-sql] [--adopt-group]",
				   "      --all           every target in the configuration, one after the other\n"
				   "      --print-sql     print the DDL instead of running it (no secrets)\n"
				   "      --adopt-group   migrate an application that logs in as the group role\n");
}

const Command cmd_init_command = {
	.name = "init", .optstring = ":", .options = options, .run = cmd_init, .usage = usage,
	.summary = "create the roles and state schema, publish the first credential",
};

int
cmd_init(int argc, char **argv, const GlobalOpts *g)
{
	bool		print = false,
				adopt = false,
				all = false;
	Config	   *cfg = NULL;
	const Target **targets = NULL;
	int			c,
				n = 0,
				rc;

	while ((c = cmd_getopt(argc, argv, cmd_init_command.optstring, options)) != -1)
	{
		if (c == 'p')
			print = true;
		else if (c == 'A')
			adopt = true;
		else if (c == 'a')
			all = true;
		else
			return cmd_option_error("init", c, argv);
	}
	if (all == (argc - optind > 0))
		return cmd_usage_error("init", all ? "name targets or --all, not both" :
							   "name a target (or several), or --all");
	rc = cmd_load_targets(g, argc - optind, argv + optind, &cfg, &targets, &n);
	if (rc == PGR_EXIT_OK)
	{
		InitArgs	a = {print, adopt};

		cmd_catch_stop_signals();
		if (n > 1 && !print)
			rc = init_many(cfg, targets, n, &a);
		else					/* --print-sql: the DDL in the targets' order */
			for (int i = 0; i < n && !cmd_stop_requested; i++)
				rc = cmd_worst_exit(rc, init_one(cfg, targets[i], print, adopt));
	}
	free(targets);
	cfg_free(cfg);
	return rc;
}
