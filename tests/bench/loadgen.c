/*
 * loadgen.c: the application side of the zero-downtime benchmark.
 *
 * Simulates the clients of one database the way real applications use a
 * credential that pgrotate publishes in an env file sink:
 *
 *   --short N   clients that loop: connect, run one transaction, disconnect
 *               (optionally sleeping --think between iterations);
 *   --long M    clients that hold a session, run a query every --query-every
 *               and reconnect every --reconnect (first reconnect at a random
 *               point of that interval, so they do not move in step).
 *
 * Every client caches the credential it read from the file for --ttl, like
 * an application that re-reads its secret only now and then; a connection
 * uses the cached credential even if the file has changed since.
 *
 * It counts connection attempts, successes and failures by class:
 * "auth" is SQLSTATE class 28 (28P01 wrong password, 28000 role may not log
 * in / does not exist), "other" is anything else (a session terminated by
 * the server, a failed query, a refused connection, ...). Statements on a
 * long session count as queries; a failed one counts as a failure too.
 *
 * It runs until SIGINT/SIGTERM (or --duration), then prints its counters as
 * "key=value" lines on stdout. The first few messages of each failure class
 * go to stderr.
 *
 * Build: make bench (tests/bench/loadgen). Needs only libpq and pthreads.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_CLIENTS 1024
#define MAX_FIELD 1024
#define MAX_FILE 65536
#define CONNECT_TIMEOUT_MS 10000
#define SHOW_FAILURES 5

typedef enum FailClass
{
	FAIL_AUTH,
	FAIL_OTHER
} FailClass;

typedef struct Options
{
	const char *file;			/* the env sink: PGUSER=, PGPASSWORD= */
	const char *conninfo;		/* host, port, dbname (no user/password) */
	int			nshort;
	int			nlong;
	int64_t		ttl_ms;
	int64_t		think_ms;
	int64_t		reconnect_ms;
	int64_t		query_every_ms;
	int64_t		duration_ms;	/* 0: until a signal */
	const char *query;
} Options;

typedef struct Counters
{
	atomic_llong attempts;		/* connection attempts */
	atomic_llong successes;		/* connections that logged in (and, for
								 * short clients, whose transaction
								 * committed) */
	atomic_llong queries;		/* statements on long sessions */
	atomic_llong fail[2];		/* by FailClass */
	atomic_llong file_errors;	/* sink unreadable: not a login attempt */
	atomic_int	shown[2];
} Counters;

typedef struct Cred
{
	char		user[MAX_FIELD];
	char		password[MAX_FIELD];
	int64_t		read_at;		/* monotonic ms; 0: never */
} Cred;

typedef struct Client
{
	int			id;
	bool		is_long;
	unsigned int seed;
	Cred		cred;
	pthread_t	thread;
} Client;

static Options opt = {
	.nshort = 32,
	.nlong = 8,
	.ttl_ms = 1000,
	.think_ms = 0,
	.reconnect_ms = 3000,
	.query_every_ms = 200,
	.duration_ms = 0,
	.query = "SELECT 1",
};
static Counters cnt;
static volatile sig_atomic_t stop_flag = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stop_flag = 1;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep ms, in slices, returning early once a stop is requested. */
static void
nap_ms(int64_t ms)
{
	while (ms > 0 && !stop_flag)
	{
		int64_t		step = ms > 100 ? 100 : ms;
		struct timespec ts = {step / 1000, (long) (step % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* "500ms", "2s", "1m" or a bare number of milliseconds; -1 if invalid. */
static int64_t
parse_ms(const char *s)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "s") == 0)
		return v * 1000;
	if (strcmp(end, "m") == 0)
		return v * 60000;
	return -1;
}

/* The SQLSTATE of a libpq message made with PQERRORS_VERBOSE, or "". */
static void
sqlstate_of(const char *msg, char out[6])
{
	static const char *const marks[] = {"FATAL:  ", "ERROR:  ", "PANIC:  "};

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
	{
		const char *p = strstr(msg, marks[i]);

		if (p == NULL)
			continue;
		p += strlen(marks[i]);
		if (strspn(p, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5 && p[5] == ':')
		{
			memcpy(out, p, 5);
			out[5] = '\0';
			return;
		}
	}
}

static FailClass
classify(const char *sqlstate, const char *msg)
{
	if (sqlstate && strncmp(sqlstate, "28", 2) == 0)
		return FAIL_AUTH;
	/* without a SQLSTATE (a server older than the client?): by the text */
	if ((sqlstate == NULL || sqlstate[0] == '\0') && msg &&
		(strstr(msg, "password authentication failed") ||
		 strstr(msg, "is not permitted to log in")))
		return FAIL_AUTH;
	return FAIL_OTHER;
}

static void
count_failure(const Client *c, FailClass cls, const char *what, const char *msg)
{
	atomic_fetch_add(&cnt.fail[cls], 1);
	if (atomic_fetch_add(&cnt.shown[cls], 1) < SHOW_FAILURES)
	{
		char		line[512];
		size_t		n;

		snprintf(line, sizeof(line), "%s", msg ? msg : "");
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
			line[--n] = '\0';
		for (char *p = line; *p; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(stderr, "loadgen: %s client %d (%s): %s failure: %s\n",
				c->is_long ? "long" : "short", c->id, c->cred.user, what, line);
	}
}

/* Parse "PGUSER=...\nPGPASSWORD=...\n" (other lines ignored). */
static bool
parse_env(const char *text, Cred *cred)
{
	bool		have_user = false,
				have_pw = false;
	const char *p = text;

	while (*p)
	{
		const char *nl = strchr(p, '\n');
		size_t		len = nl ? (size_t) (nl - p) : strlen(p);
		const char *key = NULL;
		char	   *dst = NULL;

		if (len > 7 && strncmp(p, "PGUSER=", 7) == 0)
		{
			key = "PGUSER=";
			dst = cred->user;
			have_user = true;
		}
		else if (len > 11 && strncmp(p, "PGPASSWORD=", 11) == 0)
		{
			key = "PGPASSWORD=";
			dst = cred->password;
			have_pw = true;
		}
		if (key != NULL)
		{
			size_t		vlen = len - strlen(key);

			if (vlen >= MAX_FIELD)
				return false;
			memcpy(dst, p + strlen(key), vlen);
			dst[vlen] = '\0';
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return have_user && have_pw;
}

/* Refresh the cached credential once it is older than the TTL. */
static bool
get_cred(Client *c)
{
	int64_t		now = mono_ms();
	char		buf[MAX_FILE];
	size_t		n;
	FILE	   *fp;
	Cred		fresh;

	if (c->cred.read_at != 0 && now - c->cred.read_at < opt.ttl_ms)
		return true;
	fp = fopen(opt.file, "r");
	if (fp == NULL)
	{
		atomic_fetch_add(&cnt.file_errors, 1);
		return c->cred.read_at != 0;	/* keep using what we have */
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	memset(&fresh, 0, sizeof(fresh));
	if (!parse_env(buf, &fresh))
	{
		atomic_fetch_add(&cnt.file_errors, 1);
		return c->cred.read_at != 0;
	}
	fresh.read_at = now;
	c->cred = fresh;
	return true;
}

/*
 * Connect with the cached credential. PQERRORS_VERBOSE is set before the
 * handshake so that a refused login carries its SQLSTATE in the message.
 * Returns the connection, or NULL after counting the failure.
 */
static PGconn *
connect_as(Client *c)
{
	char		appname[64];
	const char *keys[] = {"dbname", "user", "password", "application_name", NULL};
	const char *vals[] = {opt.conninfo, c->cred.user, c->cred.password, appname, NULL};
	PGconn	   *conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t		deadline = mono_ms() + CONNECT_TIMEOUT_MS;
	char		state[6];

	snprintf(appname, sizeof(appname), "loadgen-%s-%d", c->is_long ? "long" : "short", c->id);
	atomic_fetch_add(&cnt.attempts, 1);
	conn = PQconnectStartParams(keys, vals, 1);
	if (conn == NULL)
	{
		count_failure(c, FAIL_OTHER, "connect", "out of memory");
		return NULL;
	}
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
		   st != PGRES_POLLING_FAILED)
	{
		struct pollfd pfd = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
		int64_t		left = deadline - mono_ms();

		if (left <= 0)
			break;
		if (pfd.fd >= 0 && poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
			break;
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		const char *msg = PQerrorMessage(conn);

		if (st != PGRES_POLLING_FAILED && PQstatus(conn) != CONNECTION_BAD)
			msg = "connection timed out";
		sqlstate_of(msg, state);
		count_failure(c, classify(state, msg), "connect", msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Run sql; on an error count it (by its SQLSTATE) and return false. */
static bool
run_sql(Client *c, PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	if (!ok)
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);

		count_failure(c, classify(state ? state : "", msg), "query", msg);
	}
	PQclear(res);
	return ok;
}

static void
short_client(Client *c)
{
	while (!stop_flag)
	{
		PGconn	   *conn;

		if (!get_cred(c))
		{
			nap_ms(50);
			continue;
		}
		conn = connect_as(c);
		if (conn != NULL)
		{
			if (run_sql(c, conn, "BEGIN") && run_sql(c, conn, opt.query) &&
				run_sql(c, conn, "COMMIT"))
				atomic_fetch_add(&cnt.successes, 1);
			PQfinish(conn);
		}
		nap_ms(opt.think_ms);
	}
}

static void
long_client(Client *c)
{
	/* the first reconnect at a random point of the interval */
	int64_t		first = opt.reconnect_ms > 0 ?
		(int64_t) (rand_r(&c->seed) % (unsigned int) opt.reconnect_ms) : 0;
	bool		first_session = true;

	while (!stop_flag)
	{
		PGconn	   *conn;
		int64_t		until;

		if (!get_cred(c))
		{
			nap_ms(50);
			continue;
		}
		conn = connect_as(c);
		if (conn == NULL)
		{
			nap_ms(100);
			continue;
		}
		atomic_fetch_add(&cnt.successes, 1);
		until = mono_ms() + (first_session ? first : opt.reconnect_ms);
		first_session = false;
		while (!stop_flag && mono_ms() < until)
		{
			atomic_fetch_add(&cnt.queries, 1);
			if (!run_sql(c, conn, opt.query))
				break;			/* e.g. terminated: reconnect */
			nap_ms(opt.query_every_ms);
		}
		PQfinish(conn);
	}
}

static void *
client_main(void *arg)
{
	Client	   *c = arg;

	if (c->is_long)
		long_client(c);
	else
		short_client(c);
	return NULL;
}

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: loadgen --file ENVFILE --conninfo CONNINFO [options]\n"
			"  --short N         short-lived clients (default 32)\n"
			"  --long M          long-lived clients (default 8)\n"
			"  --ttl T           credential cache TTL (default 1s)\n"
			"  --think T         pause of a short client between transactions (default 0)\n"
			"  --reconnect T     a long client's session length (default 3s)\n"
			"  --query-every T   a long client's query interval (default 200ms)\n"
			"  --duration T      stop after T (default: at SIGINT/SIGTERM)\n"
			"  --query SQL       the statement each transaction runs (default SELECT 1)\n"
			"T is a number of milliseconds or NNms, NNs, NNm.\n"
			"Prints key=value counters on stdout when it stops.\n");
}

static int
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"conninfo", required_argument, NULL, 'c'},
		{"short", required_argument, NULL, 'n'},
		{"long", required_argument, NULL, 'm'},
		{"ttl", required_argument, NULL, 't'},
		{"think", required_argument, NULL, 'k'},
		{"reconnect", required_argument, NULL, 'r'},
		{"query-every", required_argument, NULL, 'q'},
		{"duration", required_argument, NULL, 'd'},
		{"query", required_argument, NULL, 'Q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		int64_t    *ms = NULL;

		switch (ch)
		{
			case 'f':
				opt.file = optarg;
				break;
			case 'c':
				opt.conninfo = optarg;
				break;
			case 'n':
			case 'm':
				{
					char	   *end;
					long		v = strtol(optarg, &end, 10);

					if (*optarg == '\0' || *end != '\0' || v < 0 || v > MAX_CLIENTS)
					{
						fprintf(stderr, "loadgen: invalid client count \"%s\"\n", optarg);
						return -1;
					}
					*(ch == 'n' ? &opt.nshort : &opt.nlong) = (int) v;
					break;
				}
			case 't':
				ms = &opt.ttl_ms;
				break;
			case 'k':
				ms = &opt.think_ms;
				break;
			case 'r':
				ms = &opt.reconnect_ms;
				break;
			case 'q':
				ms = &opt.query_every_ms;
				break;
			case 'd':
				ms = &opt.duration_ms;
				break;
			case 'Q':
				opt.query = optarg;
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				return -1;
		}
		if (ms != NULL && (*ms = parse_ms(optarg)) < 0)
		{
			fprintf(stderr, "loadgen: invalid duration \"%s\"\n", optarg);
			return -1;
		}
	}
	if (optind != argc || opt.file == NULL || opt.conninfo == NULL ||
		opt.nshort + opt.nlong == 0 || opt.nshort + opt.nlong > MAX_CLIENTS)
	{
		usage(stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	Client	   *clients;
	int			n;
	int64_t		start;

	if (parse_args(argc, argv) != 0)
		return 2;
	if (!PQisthreadsafe())
	{
		fprintf(stderr, "loadgen: this libpq is not thread-safe\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	n = opt.nshort + opt.nlong;
	clients = calloc((size_t) n, sizeof(Client));
	if (clients == NULL)
		return 2;
	start = mono_ms();
	for (int i = 0; i < n; i++)
	{
		clients[i].id = i;
		clients[i].is_long = i >= opt.nshort;
		clients[i].seed = (unsigned int) (time(NULL) ^ (i * 2654435761u));
		if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0)
		{
			fprintf(stderr, "loadgen: cannot start client %d\n", i);
			stop_flag = 1;
			n = i;
			break;
		}
	}
	fprintf(stderr, "loadgen: %d short and %d long clients running\n", opt.nshort, opt.nlong);
	while (!stop_flag && (opt.duration_ms == 0 || mono_ms() - start < opt.duration_ms))
		nap_ms(100);
	stop_flag = 1;
	for (int i = 0; i < n; i++)
		pthread_join(clients[i].thread, NULL);

	printf("elapsed_ms=%lld\n", (long long) (mono_ms() - start));
	printf("attempts=%lld\n", (long long) atomic_load(&cnt.attempts));
	printf("successes=%lld\n", (long long) atomic_load(&cnt.successes));
	printf("queries=%lld\n", (long long) atomic_load(&cnt.queries));
	printf("auth_failures=%lld\n", (long long) atomic_load(&cnt.fail[FAIL_AUTH]));
	printf("other_failures=%lld\n", (long long) atomic_load(&cnt.fail[FAIL_OTHER]));
	printf("file_errors=%lld\n", (long long) atomic_load(&cnt.file_errors));
	fflush(stdout);
	free(clients);
	return 0;
}
