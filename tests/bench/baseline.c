/*
 * baseline.c: the bare libpq work one rotation needs, timed, for
 * comparison with "pgrotate cycle" (tests/bench/cycle-latency):
 *   1. a SCRAM login as the admin,
 *   2. a client-side SCRAM verifier and ALTER ROLE ... LOGIN PASSWORD in a
 *      transaction with an UPDATE of a state row,
 *   3. a SCRAM login as the new role and SELECT 1,
 *   4. a publish commit, a pg_stat_activity poll, and ALTER ROLE ...
 *      NOLOGIN in a transaction.
 * Usage: baseline ADMIN_CONNINFO APP_CONNINFO ROLE_A ROLE_B N
 * Prints one line per run: milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
must(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "baseline: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

static PGconn *
login(const char *conninfo, const char *user, const char *password)
{
	const char *k[] = {"dbname", "user", "password", NULL};
	const char *v[] = {conninfo, user, password, NULL};
	PGconn	   *c = PQconnectdbParams(k, v, 1);

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "baseline: login: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void
one_rotation(const char *admin_ci, const char *app_ci, const char *role, const char *old)
{
	PGconn	   *a = login(admin_ci, NULL, NULL);
	PGconn	   *n;
	char		sql[1024];
	char	   *ver = PQencryptPasswordConn(a, "Bench0nlyPassw0rdBench0nlyPassw0", role, "scram-sha-256");

	must(a, "CREATE TABLE IF NOT EXISTS pg_temp.s (phase text)");
	must(a, "BEGIN");
	snprintf(sql, sizeof(sql), "ALTER ROLE \"%s\" LOGIN PASSWORD '%s'", role, ver);
	must(a, sql);
	must(a, "INSERT INTO pg_temp.s VALUES ('provisioned')");
	must(a, "COMMIT");
	PQfreemem(ver);
	n = login(app_ci, role, "Bench0nlyPassw0rdBench0nlyPassw0");
	must(n, "SELECT 1");
	PQfinish(n);
	must(a, "INSERT INTO pg_temp.s VALUES ('published')");
	must(a, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'nobody'");
	must(a, "BEGIN");
	snprintf(sql, sizeof(sql), "ALTER ROLE \"%s\" NOLOGIN PASSWORD NULL", old);
	must(a, sql);
	must(a, "INSERT INTO pg_temp.s VALUES ('idle')");
	must(a, "COMMIT");
	PQfinish(a);
}

int
main(int argc, char **argv)
{
	int			n;

	if (argc != 6)
	{
		fprintf(stderr, "usage: baseline ADMIN_CONNINFO APP_CONNINFO ROLE_A ROLE_B N\n");
		return 2;
	}
	n = atoi(argv[5]);
	for (int i = 0; i < n; i++)
	{
		double		t0 = now_ms();

		one_rotation(argv[1], argv[2], argv[3 + i % 2], argv[3 + (i + 1) % 2]);
		printf("%.2f\n", now_ms() - t0);
	}
	return 0;
}
