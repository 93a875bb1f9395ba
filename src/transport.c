/*
 * transport.c: which connection strings may travel in the clear. The
 * host names decide, not only hostaddr: "host=db.example hostaddr=127.0.0.1"
 * is remote (a TLS check against db.example would be the point of it).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"
#include "transport.h"
#include "util.h"

#define TRANSPORT_FIX \
	"Add sslmode=verify-full (with sslrootcert) to the connection string," \
	" or set allow_insecure_transport = true for this target."

/* A numeric address in 127.0.0.0/8 or ::1; false for anything else. */
static bool
is_loopback_addr(const char *a)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, a, buf) == 1)
		return buf[0] == 127;
	if (inet_pton(AF_INET6, a, buf) == 1)
	{
		static const unsigned char one[16] = {[15] = 1};

		return memcmp(buf, one, sizeof(one)) == 0;
	}
	return false;
}

bool
transport_host_is_local(const char *host, const char *hostaddr)
{
	bool		has_host = host != NULL && host[0] != '\0';
	bool		has_addr = hostaddr != NULL && hostaddr[0] != '\0';

	if (has_addr && !is_loopback_addr(hostaddr))
		return false;
	if (!has_host)
		return true;			/* the default socket, or a loopback hostaddr */
	if (host[0] == '/' || host[0] == '@')
		return true;			/* with a loopback hostaddr, TCP to loopback */
	return strcasecmp(host, "localhost") == 0 || is_loopback_addr(host);
}

/* Item i of a comma-separated list (libpq's host lists), malloc'd. */
static char *
list_item(const char *list, int i)
{
	const char *p = list ? list : "";
	const char *end;

	for (; i > 0 && p != NULL; i--)
		if ((p = strchr(p, ',')) != NULL)
			p++;
	if (p == NULL)
		return xstrdup("");
	end = strchr(p, ',');
	return end ? xstrndup(p, (size_t) (end - p)) : xstrdup(p);
}

static int
list_len(const char *list)
{
	int			n = 1;

	for (const char *p = list ? list : ""; (p = strchr(p, ',')) != NULL; p++)
		n++;
	return n;
}

/* transport_classify with db_connect's overrides (the verify's placement). */
static int
classify_placed(const char *conninfo, const char *const *over, Transport *tr,
				char **err)
{
	static const char *const keys[] = {"host", "hostaddr", "sslmode", NULL};
	char	   *v[3];
	int			n;

	memset(tr, 0, sizeof(*tr));
	if (db_conninfo_resolve(conninfo, over, keys, v, err) != 0)
		return -1;
	n = list_len(v[0]) > list_len(v[1]) ? list_len(v[0]) : list_len(v[1]);
	for (int i = 0; i < n && !tr->remote; i++)
	{
		char	   *h = list_item(v[0], i);
		char	   *a = list_item(v[1], i);

		if (!transport_host_is_local(h, a))
		{
			tr->remote = true;
			tr->remote_host = xstrdup(h[0] ? h : a);
		}
		free(h);
		free(a);
	}
	tr->sslmode = v[2] ? v[2] : xstrdup("prefer");
	tr->verified_tls = strcmp(tr->sslmode, "verify-full") == 0 ||
		strcmp(tr->sslmode, "verify-ca") == 0;
	free(v[0]);
	free(v[1]);
	return 0;
}

int
transport_classify(const char *conninfo, Transport *tr, char **err)
{
	return classify_placed(conninfo, NULL, tr, err);
}

void
transport_free(Transport *tr)
{
	free(tr->remote_host);
	free(tr->sslmode);
	memset(tr, 0, sizeof(*tr));
}

/* transport_problem for conninfo placed with over (NULL: as it is). */
static char *
problem_placed(const char *conninfo, const char *const *over, const char *what)
{
	Transport	tr;
	char	   *err = NULL;
	char	   *out = NULL;

	if (classify_placed(conninfo, over, &tr, &err) != 0)
	{
		out = xasprintf("%s: %s", what, err);
		free(err);
		return out;
	}
	if (tr.remote && !tr.verified_tls)
		out = xasprintf("%s reaches remote host \"%s\" with sslmode=%s: the credentials would"
						" travel without a verified TLS connection", what, tr.remote_host,
						tr.sslmode);
	transport_free(&tr);
	return out;
}

char *
transport_problem(const char *conninfo, const char *what)
{
	return problem_placed(conninfo, NULL, what);
}

/*
 * One way pgrotate connects: a conninfo, the placement it gets (the verify
 * login on a replica: the replica's host, hostaddr and port with the other
 * keywords of app, as verify.c does), and its name for messages.
 */
typedef struct Route
{
	const char *conninfo;
	const char *over[7];		/* key, value, ...; NULL-ended; none: NULL */
	char	   *val[3];			/* the values of over (malloc'd) */
	char	   *name;
} Route;

static const char *const placement[] = {"host", "hostaddr", "port", NULL};

static void
route_on_replica(Route *r, const Target *t, int i)
{
	char	   *e = NULL;

	r->conninfo = t->app;
	r->name = xasprintf("app on replicas[%d]", i);
	for (int k = 0; placement[k] != NULL; k++)
	{
		char	   *v = NULL;

		if (db_conninfo_get(t->replicas.items[i], placement[k], &v, &e) != 0)
		{
			free(e);
			e = NULL;
		}
		r->val[k] = v ? v : xstrdup("");
		r->over[2 * k] = placement[k];
		r->over[2 * k + 1] = r->val[k];
	}
}

/* Every route of t; *n of them. */
static Route *
target_routes(const Target *t, int *n)
{
	Route	   *r = xcalloc(2 + 2 * t->replicas.n + t->poolers.n, sizeof(Route));

	*n = 0;
	r[*n].conninfo = t->admin;
	r[(*n)++].name = xstrdup("admin");
	r[*n].conninfo = t->app;
	r[(*n)++].name = xstrdup("app");
	for (int i = 0; i < t->replicas.n; i++)
	{
		r[*n].conninfo = t->replicas.items[i];
		r[(*n)++].name = xasprintf("replicas[%d]", i);
		route_on_replica(&r[(*n)++], t, i);
	}
	for (int i = 0; i < t->poolers.n; i++)
	{
		r[*n].conninfo = t->poolers.items[i];
		r[(*n)++].name = xasprintf("poolers[%d]", i);
	}
	return r;
}

static void
routes_free(Route *r, int n)
{
	for (int i = 0; i < n; i++)
	{
		for (int k = 0; k < 3; k++)
			free(r[i].val[k]);
		free(r[i].name);
	}
	free(r);
}

static char *
route_problem(const Route *r)
{
	return problem_placed(r->conninfo, r->over[0] ? r->over : NULL, r->name);
}

void
transport_check(const Target *t, CheckList *l)
{
	int			n;
	Route	   *r = target_routes(t, &n);
	bool		allowed = t->s.allow_insecure_transport;

	for (int i = 0; i < n; i++)
	{
		char	   *item = xasprintf("%s transport", r[i].name);
		char	   *why = route_problem(&r[i]);

		if (why == NULL)
			checklist_add(l, CHECK_PASS, item, NULL, NULL);
		else
			checklist_add(l, allowed ? CHECK_WARN : CHECK_FAIL, item, why,
						  allowed ? NULL : TRANSPORT_FIX);
		free(why);
		free(item);
	}
	routes_free(r, n);
}

int
transport_enforce(const Target *t, char **err)
{
	int			n;
	Route	   *r = target_routes(t, &n);
	StrBuf		sb;

	sb_init(&sb);
	for (int i = 0; i < n; i++)
	{
		char	   *why = route_problem(&r[i]);

		if (why != NULL)
			sb_appendf(&sb, "%s%s", sb.len ? "; " : "", why);
		free(why);
	}
	routes_free(r, n);
	if (t->s.allow_insecure_transport)
		log_warning("allow_insecure_transport is true for target \"%s\"%s%s", t->name,
					sb.len ? ": " : " (no connection string needs it)", sb.len ? sb.data : "");
	if (sb.len == 0 || t->s.allow_insecure_transport)
	{
		sb_free(&sb);
		return 0;
	}
	*err = xasprintf("insecure transport: %s (hint: " TRANSPORT_FIX ")", sb.data);
	sb_free(&sb);
	return -1;
}
