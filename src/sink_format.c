/*
 * sink_format.c: the content of a file sink in each format (SPEC section
 * 3; the pgbouncer format's in sink_pgbouncer.c) and the JSON document
 * command sinks read on stdin.
 *
 * Every buffer that holds the password is built in a StrBuf (whose growth
 * wipes the old allocation) and freed with sb_free_secret, or handed to
 * the caller, who frees it with secret_free. Error messages never quote the
 * password.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

/* Characters that need no quoting in a shell or a systemd EnvironmentFile. */
#define ENV_SAFE_ROLE \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-"
#define ENV_SAFE_PASSWORD ENV_SAFE_ROLE "%+=:,/"

/*
 * The libpq keywords that go to the query string of the uri format, in
 * this order, when the app conninfo sets them. host, port, dbname, user and
 * password have their own places (user and password from the credential).
 * Keywords this libpq does not know are simply never set.
 */
static const char *const uri_query_keywords[] = {
	"hostaddr", "service", "passfile", "channel_binding", "connect_timeout",
	"client_encoding", "options", "application_name",
	"fallback_application_name", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count", "tcp_user_timeout",
	"sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey",
	"sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
	"sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version",
	"ssl_max_protocol_version", "min_protocol_version",
	"max_protocol_version", "gssencmode", "krbsrvname", "gsslib",
	"gssdelegation", "replication", "target_session_attrs",
	"load_balance_hosts", NULL
};

static bool
only_chars(const char *s, const char *allowed)
{
	return s[strspn(s, allowed)] == '\0';
}

static bool
has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* A conninfo keyword's value, NULL when unset or empty. */
static int
conninfo_field(const char *conninfo, const char *keyword, char **value,
			   char **err)
{
	char	   *inner = NULL;

	if (db_conninfo_get(conninfo ? conninfo : "", keyword, value, &inner) != 0)
	{
		*err = xasprintf("the target's app conninfo cannot be parsed: %s",
						 inner);
		free(inner);
		return -1;
	}
	if (*value != NULL && (*value)[0] == '\0')
	{
		secret_free(*value);
		*value = NULL;
	}
	return 0;
}

/* Split a comma-separated libpq list (host, port); NULL gives no items. */
static void
split_commas(const char *s, StrList *out)
{
	const char *p = s;

	if (s == NULL)
		return;
	for (;;)
	{
		const char *comma = strchr(p, ',');

		if (comma == NULL)
		{
			strlist_add(out, p);
			return;
		}
		strlist_add_owned(out, xstrndup(p, (size_t) (comma - p)));
		p = comma + 1;
	}
}

/*
 * The host and port lists of conninfo as pairs (hosts->n == ports->n).
 * With use_hostaddr, an unset host falls back to hostaddr, as in libpq's
 * password file lookup. An unset host gives one entry "", and so does an
 * unset port.
 */
static int
host_port_pairs(const char *conninfo, bool use_hostaddr, StrList *hosts,
				StrList *ports, char **err)
{
	char	   *host = NULL;
	char	   *hostaddr = NULL;
	char	   *port = NULL;
	StrList		plist = {0};
	int			rc = -1;

	if (conninfo_field(conninfo, "host", &host, err) != 0 ||
		conninfo_field(conninfo, "hostaddr", &hostaddr, err) != 0 ||
		conninfo_field(conninfo, "port", &port, err) != 0)
		goto done;
	split_commas(host ? host : (use_hostaddr ? hostaddr : NULL), hosts);
	if (hosts->n == 0)
		strlist_add(hosts, "");
	split_commas(port, &plist);
	for (int i = 0; i < hosts->n; i++)
	{
		if (plist.n == 0)
			strlist_add(ports, "");
		else if (plist.n == 1 || plist.n == hosts->n)
			strlist_add(ports, plist.items[plist.n == 1 ? 0 : i]);
		else
		{
			*err = xasprintf("the app conninfo has %d host%s but %d ports "
							 "(hint: Give one port, or one per host.)",
							 hosts->n, hosts->n == 1 ? "" : "s", plist.n);
			goto done;
		}
	}
	rc = 0;

done:
	free(host);
	free(hostaddr);
	free(port);
	strlist_free(&plist);
	return rc;
}

/* ---- env ---- */

static char *
format_env(const Credential *cred, char **err)
{
	StrBuf		sb;

	if (cred->role[0] == '\0' || !only_chars(cred->role, ENV_SAFE_ROLE))
	{
		*err = xasprintf("role \"%s\" cannot be written in the env format, "
						 "which allows only [A-Za-z0-9_.@-] "
						 "(hint: Use format = \"json\".)", cred->role);
		return NULL;
	}
	if (cred->password && !only_chars(cred->password, ENV_SAFE_PASSWORD))
	{
		*err = xstrdup("the password contains characters the env format "
					   "cannot carry unquoted (hint: Use format = \"json\".)");
		return NULL;
	}
	sb_init(&sb);
	sb_append(&sb, "PGUSER=");
	sb_append(&sb, cred->role);
	sb_appendc(&sb, '\n');
	if (cred->password)
	{
		sb_append(&sb, "PGPASSWORD=");
		sb_append(&sb, cred->password);
		sb_appendc(&sb, '\n');
	}
	return sb_steal(&sb);
}

/* ---- json ---- */

char *
sink_json_document(const Credential *cred)
{
	StrBuf		sb;
	char		when[32];

	format_utc(cred->rotated_at, when);
	sb_init(&sb);
	sb_append(&sb, "{\"target\":");
	sb_append_json(&sb, cred->target ? cred->target : "");
	sb_append(&sb, ",\"role\":");
	sb_append_json(&sb, cred->role);
	if (cred->password)
	{
		sb_append(&sb, ",\"password\":");
		sb_append_json(&sb, cred->password);
	}
	sb_appendf(&sb, ",\"generation\":%" PRId64 ",\"rotated_at\":",
			   cred->generation);
	sb_append_json(&sb, when);
	sb_append(&sb, "}\n");
	return sb_steal(&sb);
}

/* ---- pgpass ---- */

/* One field of a password file line: ':' and '\' escaped, '*' for unset. */
static void
append_pgpass_field(StrBuf *sb, const char *s)
{
	if (s == NULL || s[0] == '\0')
	{
		sb_appendc(sb, '*');
		return;
	}
	if (strcmp(s, "*") == 0)
	{
		/* a literal "*" would be a wildcard */
		sb_append(sb, "\\*");
		return;
	}
	for (; *s; s++)
	{
		if (*s == ':' || *s == '\\')
			sb_appendc(sb, '\\');
		sb_appendc(sb, *s);
	}
}

static void
append_pgpass_line(StrBuf *sb, const char *host, const char *port,
				   const char *dbname, const Credential *cred)
{
	/* a line that starts with '#' is a comment to libpq */
	if (host != NULL && host[0] == '#')
		sb_appendc(sb, '\\');
	append_pgpass_field(sb, host);
	sb_appendc(sb, ':');
	append_pgpass_field(sb, port);
	sb_appendc(sb, ':');
	append_pgpass_field(sb, dbname);
	sb_appendc(sb, ':');
	append_pgpass_field(sb, cred->role);
	sb_appendc(sb, ':');
	append_pgpass_field(sb, cred->password);
	sb_appendc(sb, '\n');
}

/*
 * One line per host of the app conninfo. For a Unix-socket folder libpq
 * looks the password file up under "localhost" when the folder is its
 * compiled-in default, and under the folder itself otherwise; since that
 * default is not known here, a socket host gets both lines (they name the
 * same server and the same role).
 */
static char *
format_pgpass(const Credential *cred, char **err)
{
	StrList		hosts = {0};
	StrList		ports = {0};
	char	   *dbname = NULL;
	StrBuf		sb = {0};
	char	   *out = NULL;
	bool		break_field = false;

	if (cred->password == NULL)
	{
		/* a password file line without a password means nothing */
		*err = xasprintf("no password to write in the pgpass format for role "
						 "\"%s\"", cred->role);
		goto done;
	}
	if (has_line_break(cred->role) || has_line_break(cred->password))
	{
		*err = xstrdup("the role or password contains a line break, which "
					   "the pgpass format cannot carry (hint: Use format = \"json\".)");
		goto done;
	}
	if (host_port_pairs(cred->app_conninfo, true, &hosts, &ports, err) != 0 ||
		conninfo_field(cred->app_conninfo, "dbname", &dbname, err) != 0)
		goto done;
	/* a line break in any field would split the line: libpq would not find it */
	for (int i = 0; i < hosts.n; i++)
		if (has_line_break(hosts.items[i]) || has_line_break(ports.items[i]))
			break_field = true;
	if (break_field || (dbname != NULL && has_line_break(dbname)))
	{
		*err = xstrdup("the host, port or dbname of the app conninfo contains "
					   "a line break, which the pgpass format cannot carry "
					   "(hint: Fix the app conninfo.)");
		goto done;
	}
	sb_init(&sb);
	for (int i = 0; i < hosts.n; i++)
	{
		append_pgpass_line(&sb, hosts.items[i], ports.items[i], dbname, cred);
		if (hosts.items[i][0] == '/')
			append_pgpass_line(&sb, "localhost", ports.items[i], dbname, cred);
	}
	out = sb_steal(&sb);

done:
	sb_free_secret(&sb);
	strlist_free(&hosts);
	strlist_free(&ports);
	free(dbname);
	return out;
}

/* ---- uri ---- */

static void
append_pct(StrBuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			sb_appendc(sb, (char) *p);
		else
		{
			sb_appendc(sb, '%');
			sb_appendc(sb, hex[*p >> 4]);
			sb_appendc(sb, hex[*p & 0x0f]);
		}
	}
}

static void
append_query_param(StrBuf *sb, bool *first, const char *key, const char *val)
{
	sb_appendc(sb, *first ? '?' : '&');
	*first = false;
	sb_append(sb, key);
	sb_appendc(sb, '=');
	append_pct(sb, val);
}

/*
 * The authority's host part: "h1:p1,h2:p2". An IPv6 address goes in
 * brackets as it is; any other host is percent-encoded, ':' included, so a
 * crafted host ("db:1/x?sslmode=disable") cannot end the authority and
 * inject a dbname or parameters: libpq decodes it back to the same host.
 * With a Unix-socket host anywhere in the list, the authority host stays
 * empty and host (and port) go to the query string instead.
 */
static bool
append_uri_hosts(StrBuf *sb, const StrList *hosts, const StrList *ports)
{
	for (int i = 0; i < hosts->n; i++)
		if (hosts->items[i][0] == '/')
			return false;
	for (int i = 0; i < hosts->n; i++)
	{
		const char *h = hosts->items[i];
		struct in6_addr a6;

		if (i > 0)
			sb_appendc(sb, ',');

		if (strchr(h, ':') != NULL && inet_pton(AF_INET6, h, &a6) == 1)
		{
			sb_appendc(sb, '[');
			sb_append(sb, h);
			sb_appendc(sb, ']');
		}
		else
			append_pct(sb, h);
		if (ports->items[i][0] != '\0')
		{
			sb_appendc(sb, ':');
			append_pct(sb, ports->items[i]);
		}
	}
	return true;
}

/*
 * The query string: with a socket host, host and port first; then every
 * other keyword the app conninfo sets (never user or password).
 */
static int
append_uri_query(StrBuf *sb, const Credential *cred, bool socket_host,
				 char **err)
{
	static const char *const socket_keys[] = {"host", "port", NULL};
	bool		first = true;
	char	   *val = NULL;

	for (int k = 0; socket_host && socket_keys[k] != NULL; k++)
	{
		if (conninfo_field(cred->app_conninfo, socket_keys[k], &val, err) != 0)
			return -1;
		if (val != NULL)
			append_query_param(sb, &first, socket_keys[k], val);
		free(val);
		val = NULL;
	}
	for (int k = 0; uri_query_keywords[k] != NULL; k++)
	{
		if (conninfo_field(cred->app_conninfo, uri_query_keywords[k], &val,
						   err) != 0)
			return -1;
		if (val != NULL)
			append_query_param(sb, &first, uri_query_keywords[k], val);
		/* sslpassword may be among them */
		secret_free(val);
		val = NULL;
	}
	return 0;
}

static char *
format_uri(const Credential *cred, char **err)
{
	StrList		hosts = {0};
	StrList		ports = {0};
	char	   *dbname = NULL;
	StrBuf		sb = {0};
	char	   *out = NULL;
	bool		in_authority;

	if (host_port_pairs(cred->app_conninfo, false, &hosts, &ports, err) != 0 ||
		conninfo_field(cred->app_conninfo, "dbname", &dbname, err) != 0)
		goto done;
	sb_init(&sb);
	sb_append(&sb, "postgresql://");
	append_pct(&sb, cred->role);
	if (cred->password)
	{
		sb_appendc(&sb, ':');
		append_pct(&sb, cred->password);
	}
	sb_appendc(&sb, '@');
	in_authority = append_uri_hosts(&sb, &hosts, &ports);
	sb_appendc(&sb, '/');
	if (dbname != NULL)
		append_pct(&sb, dbname);
	if (append_uri_query(&sb, cred, !in_authority, err) != 0)
		goto done;
	sb_appendc(&sb, '\n');
	out = sb_steal(&sb);

done:
	sb_free_secret(&sb);
	strlist_free(&hosts);
	strlist_free(&ports);
	free(dbname);
	return out;
}

char *
sink_format(SinkFormat fmt, const Credential *cred, char **err)
{
	switch (fmt)
	{
		case SINK_FMT_ENV:
			return format_env(cred, err);
		case SINK_FMT_JSON:
			return sink_json_document(cred);
		case SINK_FMT_PGPASS:
			return format_pgpass(cred, err);
		case SINK_FMT_URI:
			return format_uri(cred, err);
		case SINK_FMT_PGBOUNCER:
			return sink_pgbouncer_format(cred, err);
	}
	*err = xasprintf("unknown sink format %d", (int) fmt);
	return NULL;
}
