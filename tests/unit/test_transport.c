/*
 * test_transport.c: the remote/local classifier of the transport rule
 * (host names, IPv4, IPv6, lists of hosts, URIs, service files, the
 * environment) and the value checks a conninfo gets at config load
 * (also of port, hostaddr, load_balance_hosts, connect_timeout).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "transport.h"
#include "util.h"
#include "../tap.h"

static void
test_hosts(void)
{
	static const struct
	{
		const char *host;
		const char *hostaddr;
		bool		local;
	}			cases[] = {
		{NULL, NULL, true},		/* the default socket */
		{"", "", true},
		{"/var/run/postgresql", NULL, true},
		{"@abstract", NULL, true},
		{"localhost", NULL, true},
		{"LocalHost", NULL, true},
		{"127.0.0.1", NULL, true},
		{"127.255.3.4", NULL, true},
		{"::1", NULL, true},
		{"0:0:0:0:0:0:0:1", NULL, true},
		{NULL, "127.0.0.1", true},
		{"", "::1", true},
		{"localhost", "127.0.0.2", true},
		{"db.example", NULL, false},
		{"localhost.example", NULL, false},
		{"localhost.", NULL, false},
		{"128.0.0.1", NULL, false},
		{"10.0.0.1", NULL, false},
		{"2001:db8::1", NULL, false},
		{"::ffff:127.0.0.1", NULL, false},
		{"::2", NULL, false},
		{"db.example", "127.0.0.1", false},	/* the name counts, not hostaddr */
		{"localhost", "10.0.0.1", false},
		{"/tmp", "10.0.0.1", false},
		{NULL, "192.0.2.1", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(transport_host_is_local(cases[i].host, cases[i].hostaddr) == cases[i].local,
		   "host=%s hostaddr=%s is %s", cases[i].host ? cases[i].host : "(unset)",
		   cases[i].hostaddr ? cases[i].hostaddr : "(unset)", cases[i].local ? "local" : "remote");
}

/* classify conninfo: -1 error, 0 local, 1 remote without, 2 remote with verified TLS */
static int
classify(const char *conninfo, char **remote_host)
{
	Transport	tr;
	char	   *err = NULL;
	int			rc;

	if (transport_classify(conninfo, &tr, &err) != 0)
	{
		free(err);
		return -1;
	}
	rc = !tr.remote ? 0 : tr.verified_tls ? 2 : 1;
	if (remote_host)
		*remote_host = tr.remote_host ? xstrdup(tr.remote_host) : NULL;
	transport_free(&tr);
	return rc;
}

static void
test_conninfos(void)
{
	static const struct
	{
		const char *conninfo;
		int			want;
	}			cases[] = {
		{"dbname=appdb", 0},
		{"host=/tmp port=5432 dbname=appdb", 0},
		{"host=localhost dbname=appdb", 0},
		{"host=db.example dbname=appdb", 1},
		{"host=db.example dbname=appdb sslmode=require", 1},
		{"host=db.example dbname=appdb sslmode=verify-full", 2},
		{"host=db.example dbname=appdb sslmode=verify-ca", 2},
		{"host=db.example hostaddr=127.0.0.1 dbname=appdb", 1},
		{"hostaddr=127.0.0.1 dbname=appdb", 0},
		{"hostaddr=192.0.2.7 dbname=appdb", 1},
		{"host=/tmp,localhost,127.0.0.1,::1 dbname=appdb", 0},
		{"host=/tmp,db2.example port=5432,5433 dbname=appdb", 1},
		{"host=localhost,localhost hostaddr=127.0.0.1,192.0.2.7 dbname=appdb", 1},
		{"postgresql:///appdb", 0},
		{"postgresql:///appdb?host=/tmp", 0},
		{"postgresql://localhost:5432/appdb", 0},
		{"postgresql://[::1]:5432/appdb", 0},
		{"postgresql://[2001:db8::1]:5432/appdb", 1},
		{"postgresql://db.example/appdb", 1},
		{"postgresql://db.example/appdb?sslmode=verify-full", 2},
		{"postgresql://localhost,db.example/appdb", 1},
		{"postgresql://localhost/appdb?hostaddr=192.0.2.7", 1},
		{"sslmode=verfy-full host=localhost", -1},
		{"channel_binding=requre host=localhost", -1},
		{"target_session_attrs=primry host=localhost", -1},
		{"host=a,b hostaddr=127.0.0.1 dbname=x", -1},
		{"hots=localhost", -1},
		{"postgresql://[::1/appdb", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(classify(cases[i].conninfo, NULL), cases[i].want, "%s", cases[i].conninfo);
}

/*
 * Values libpq would check only when it connects: port, hostaddr,
 * load_balance_hosts, connect_timeout. want: 0 accepted, else the message
 * must contain it.
 */
static void
test_late_values(void)
{
	static const struct
	{
		const char *conninfo;
		const char *want;
	}			cases[] = {
		{"host=/tmp port=5432 dbname=appdb", NULL},
		{"host=a,b,c port=5432,,6543 dbname=appdb", NULL},
		{"host=a port=' 5432 ' dbname=appdb", NULL},
		{"host=a port=1", NULL},
		{"host=a port=65535", NULL},
		{"host=a port=abc", "invalid port number: \"abc\""},
		{"host=a port=0", "invalid port number: \"0\""},
		{"host=a port=65536", "invalid port number: \"65536\""},
		{"host=a port=-1", "invalid port number: \"-1\""},
		{"host=a port=54x", "invalid port number: \"54x\""},
		{"host=a,b port=5432,abc", "invalid port number: \"abc\""},
		{"postgresql://a:99999/appdb", "invalid port number: \"99999\""},
		{"host=a hostaddr=127.0.0.1", NULL},
		{"host=a hostaddr=::1", NULL},
		{"host=a hostaddr=2001:db8::7", NULL},
		{"host=a,b hostaddr=192.0.2.1,2001:db8::7", NULL},
		{"host=a,b hostaddr=,192.0.2.1", NULL},
		{"host=a hostaddr=notanip", "invalid hostaddr value: \"notanip\" is not an IPv4 or IPv6 address"},
		{"host=a hostaddr=db.example", "invalid hostaddr value: \"db.example\""},
		{"host=a hostaddr=300.1.1.1", "invalid hostaddr value: \"300.1.1.1\""},
		{"host=a,b hostaddr=127.0.0.1,::g", "invalid hostaddr value: \"::g\""},
		{"host=a connect_timeout=10", NULL},
		{"host=a connect_timeout=' 5'", NULL},
		{"host=a connect_timeout=ten", "invalid integer value \"ten\" for connection option \"connect_timeout\""},
		{"host=a connect_timeout=5s", "invalid integer value \"5s\""},
		{"host=a connect_timeout=99999999999", "invalid integer value \"99999999999\""},
		/* libpq 15 does not know the keyword; 16 and later check the value */
		{"host=a load_balance_hosts=x", "load_balance_hosts"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *err = NULL;
		int			rc = db_conninfo_check(cases[i].conninfo, &err);

		if (cases[i].want == NULL)
			is_int(rc, 0, "accepted: %s%s%s", cases[i].conninfo, err ? ": " : "", err ? err : "");
		else
			ok(rc == -1 && err != NULL && strstr(err, cases[i].want) != NULL,
			   "refused: %s: %s", cases[i].conninfo, err ? err : "(no message)");
		free(err);
	}
	if (db_libpq_version() >= 160000)
	{
		char	   *err = NULL;

		is_int(db_conninfo_check("host=a,b load_balance_hosts=random", &err), 0, "load_balance_hosts=random");
		free(err);
		err = NULL;
		(void) db_conninfo_check("host=a load_balance_hosts=x", &err);
		ok(err && strstr(err, "invalid load_balance_hosts value: \"x\""), "load_balance_hosts=x: %s", err ? err : "");
		free(err);
	}
	else
		ok(1, "libpq %d has no load_balance_hosts (skipped)", db_libpq_version());
}

static void
test_service_and_env(const char *dir)
{
	char	   *path = xasprintf("%s/pg_service.conf", dir);
	FILE	   *f = fopen(path, "w");
	char	   *host = NULL;
	char	   *err = NULL;
	char	   *why;

	ok(f != NULL, "service file written");
	if (f == NULL)
		return;
	fputs("[far]\nhost=db.example\nport=5432\n\n[far_tls]\nhost=db.example\nsslmode=verify-full\n\n"
		  "[near]\nhost=/tmp\n\n[near_addr]\nhost=db.example\nhostaddr=127.0.0.1\n", f);
	fclose(f);
	setenv("PGSERVICEFILE", path, 1);
	is_int(classify("service=far dbname=appdb", &host), 1, "a service file's host counts: remote");
	is_str(host ? host : "(null)", "db.example", "named as db.example");
	free(host);
	is_int(classify("service=far_tls dbname=appdb", NULL), 2, "the service file's sslmode counts");
	is_int(classify("service=far dbname=appdb sslmode=verify-ca", NULL), 2, "the conninfo's sslmode wins over the service");
	is_int(classify("service=near dbname=appdb", NULL), 0, "a service on a socket is local");
	is_int(classify("service=near_addr dbname=appdb", NULL), 1, "the service's host name counts, not its hostaddr");
	is_int(classify("service=far host=/tmp dbname=appdb", NULL), 0, "the conninfo's host wins over the service");
	is_int(classify("service=nowhere dbname=appdb", NULL), -1, "an unknown service is an error");
	(void) db_conninfo_check("service=nowhere", &err);
	ok(err && strstr(err, "nowhere"), "and the message names it: %s", err ? err : "");
	free(err);
	setenv("PGSERVICE", "far", 1);
	is_int(classify("dbname=appdb", NULL), 1, "PGSERVICE counts");
	unsetenv("PGSERVICE");
	setenv("PGHOST", "db.example", 1);
	is_int(classify("dbname=appdb", NULL), 1, "PGHOST counts");
	setenv("PGSSLMODE", "verify-full", 1);
	is_int(classify("dbname=appdb", NULL), 2, "PGSSLMODE counts");
	unsetenv("PGSSLMODE");
	unsetenv("PGHOST");
	why = transport_problem("host=db.example hostaddr=127.0.0.1 dbname=appdb", "admin");
	is_str(why ? why : "(null)", "admin reaches remote host \"db.example\" with sslmode=prefer: the credentials"
		   " would travel without a verified TLS connection", "the problem names the conninfo, host and sslmode");
	free(why);
	ok(transport_problem("host=db.example sslmode=verify-full", "app") == NULL, "verified TLS: no problem");
	why = transport_problem("sslmode=bogus", "app");
	ok(why && strstr(why, "sslmode"), "a bad value is a problem too: %s", why ? why : "");
	free(why);
	unlink(path);
	free(path);
	unsetenv("PGSERVICEFILE");
}

int
main(void)
{
	char		tmpl[] = "/tmp/test_transport_XXXXXX";
	char	   *dir = mkdtemp(tmpl);

	/* only what each case sets counts */
	unsetenv("PGHOST");
	unsetenv("PGHOSTADDR");
	unsetenv("PGSSLMODE");
	unsetenv("PGSERVICE");
	unsetenv("PGSERVICEFILE");
	test_hosts();
	test_conninfos();
	test_late_values();
	if (dir)
	{
		test_service_and_env(dir);
		rmdir(dir);
	}
	return done_testing();
}
