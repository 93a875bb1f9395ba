/*
 * sink.c: publishing to a sink, and reading a file sink back (status
 * compares fingerprints; "active --with-password" reads the password).
 *
 * The readers parse what sink_format writes, tolerantly enough for a file
 * an operator has touched (other lines in env, keys in any order in json,
 * comments in pgpass), and answer "no credential" rather than guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "safefile.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

#define MAX_SINK_FILE (1024 * 1024)

int
sink_publish(const SinkCfg *s, const Credential *cred, char **err)
{
	char	   *content;
	int			rc;

	/* a sink is never written without the password it hands out */
	if (cred->password == NULL && !sink_is_pgbouncer(s))
	{
		*err = s->type == SINK_COMMAND || s->path == NULL ?
			xasprintf("no password to publish to %s for role \"%s\"",
					  s->type == SINK_COMMAND ? "a command sink" : "a file sink",
					  cred->role) :
			xasprintf("no password to publish to \"%s\" for role \"%s\"",
					  s->path, cred->role);
		return -1;
	}
	if (s->type == SINK_COMMAND)
		return sink_run_command(s, cred, err);
	if (s->format == SINK_FMT_PGBOUNCER)
		return sink_pgbouncer_publish(s, cred, err);
	if (s->format == SINK_FMT_PGPASS && (s->mode & 077) != 0)
	{
		*err = xasprintf("sink file \"%s\" has mode %04o, but libpq ignores a "
						 "password file that group or others can access (hint: "
						 "Set mode = \"0600\" with owner = the application's user.)",
						 s->path, (unsigned int) (s->mode & 07777));
		return -1;
	}
	content = sink_format(s->format, cred, err);
	if (content == NULL)
		return -1;
	rc = sink_write_file(s->path, content, strlen(content), s->mode,
						 s->owner, s->group, err);
	secret_free(content);
	return rc;
}

char *
sink_describe(const SinkCfg *s)
{
	if (s->type == SINK_COMMAND)
		return xasprintf("command \"%s\"",
						 (s->argv && s->argv[0]) ? s->argv[0] : "(none)");
	return xasprintf("file \"%s\" (%s)", s->path ? s->path : "(none)",
					 cfg_format_name(s->format));
}

/* ---- reading a sink file ---- */

/* The whole file, NUL-terminated, its size in *lenp; wipe it before freeing. */
static char *
read_sink_file(const char *path, size_t *lenp, char **err)
{
	SafeRead	o = {.what = "sink file", .max_size = MAX_SINK_FILE,
	.owner = (uid_t) -1};
	struct stat st;
	char	   *text = NULL;
	int			rc = safe_read(path, SAFE_SINK, &o, &text, lenp, &st, err);

	if (rc == 0)
		*err = xasprintf("cannot open sink file \"%s\": %s", path,
						 strerror(ENOENT));
	return rc == 1 ? text : NULL;
}

/* The line starting at p (without its newline), malloc'd; *next after it. */
static char *
take_line(const char *p, const char **next)
{
	const char *nl = strchr(p, '\n');
	size_t		n = nl ? (size_t) (nl - p) : strlen(p);

	*next = nl ? nl + 1 : p + n;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return xstrndup(p, n);
}

/* Keep the newer of two values of a key, wiping the old one. */
static void
replace_value(char **slot, char *value)
{
	secret_free(*slot);
	*slot = value;
}

/* env: PGUSER= and PGPASSWORD= lines (the last of each counts). */
static void
parse_env(const char *text, char **role, char **password)
{
	const char *p = text;

	while (*p)
	{
		char	   *line = take_line(p, &p);

		if (strncmp(line, "PGUSER=", 7) == 0)
			replace_value(role, xstrdup(line + 7));
		else if (strncmp(line, "PGPASSWORD=", 11) == 0)
			replace_value(password, xstrdup(line + 11));
		secret_free(line);
	}
}

/* ---- json: a flat object of strings, numbers, booleans and nulls ---- */

static void
skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
json_hex4(const char *p, unsigned int *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++)
	{
		int			v = hex_value(p[i]);

		if (v < 0)
			return false;
		*out = *out * 16 + (unsigned int) v;
	}
	return true;
}

static void
append_utf8(StrBuf *sb, unsigned int cp)
{
	if (cp < 0x80)
		sb_appendc(sb, (char) cp);
	else if (cp < 0x800)
	{
		sb_appendc(sb, (char) (0xC0 | (cp >> 6)));
		sb_appendc(sb, (char) (0x80 | (cp & 0x3F)));
	}
	else if (cp < 0x10000)
	{
		sb_appendc(sb, (char) (0xE0 | (cp >> 12)));
		sb_appendc(sb, (char) (0x80 | ((cp >> 6) & 0x3F)));
		sb_appendc(sb, (char) (0x80 | (cp & 0x3F)));
	}
	else
	{
		sb_appendc(sb, (char) (0xF0 | (cp >> 18)));
		sb_appendc(sb, (char) (0x80 | ((cp >> 12) & 0x3F)));
		sb_appendc(sb, (char) (0x80 | ((cp >> 6) & 0x3F)));
		sb_appendc(sb, (char) (0x80 | (cp & 0x3F)));
	}
}

/* \uXXXX at *p (after the backslash-u), with a surrogate pair if any. */
static bool
json_unicode(const char **p, StrBuf *out)
{
	unsigned int cp,
				lo;

	if (!json_hex4(*p, &cp))
		return false;
	*p += 4;
	if (cp >= 0xD800 && cp <= 0xDBFF)
	{
		if ((*p)[0] != '\\' || (*p)[1] != 'u' || !json_hex4(*p + 2, &lo) ||
			lo < 0xDC00 || lo > 0xDFFF)
			return false;
		*p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	else if (cp >= 0xDC00 && cp <= 0xDFFF)
		return false;
	if (cp == 0)
		return false;			/* no NUL inside our strings */
	append_utf8(out, cp);
	return true;
}

/* A JSON string at *p, decoded into out; false if malformed. */
static bool
json_string(const char **p, StrBuf *out)
{
	static const char esc_in[] = "\"\\/bfnrt";
	static const char esc_out[] = "\"\\/\b\f\n\r\t";
	const char *s = *p;

	if (*s++ != '"')
		return false;
	while (*s != '"')
	{
		const char *e;

		if ((unsigned char) *s < 0x20)
			return false;		/* also the end of the text */
		if (*s != '\\')
		{
			sb_appendc(out, *s++);
			continue;
		}
		s++;
		if (*s == 'u')
		{
			s++;
			if (!json_unicode(&s, out))
				return false;
			continue;
		}
		if (*s == '\0' || (e = strchr(esc_in, *s)) == NULL)
			return false;
		sb_appendc(out, esc_out[e - esc_in]);
		s++;
	}
	*p = s + 1;
	return true;
}

/* Skip a scalar that is not a string: a number, true, false or null. */
static bool
json_skip_scalar(const char **p)
{
	const char *start = *p;

	while (**p && strchr("+-.0123456789eEtruefalsn", **p) != NULL)
		(*p)++;
	return *p > start;
}

/* One "key": value member; role and password are kept, others skipped. */
static bool
json_member(const char **p, char **role, char **password)
{
	StrBuf		key = {0};
	StrBuf		val = {0};
	char	  **slot = NULL;
	bool		good = false;

	sb_init(&key);
	if (!json_string(p, &key))
		goto done;
	if (strcmp(key.data, "role") == 0)
		slot = role;
	else if (strcmp(key.data, "password") == 0)
		slot = password;
	skip_ws(p);
	if (**p != ':')
		goto done;
	(*p)++;
	skip_ws(p);
	sb_init(&val);
	if (slot != NULL)
	{
		if (!json_string(p, &val))
			goto done;
		replace_value(slot, sb_steal(&val));
		good = true;
	}
	else
		good = (**p == '"') ? json_string(p, &val) : json_skip_scalar(p);

done:
	sb_free(&key);
	sb_free_secret(&val);
	return good;
}

/* json: {"role": "...", "password": "...", ...} */
static void
parse_json(const char *text, char **role, char **password)
{
	const char *p = text;

	skip_ws(&p);
	if (*p++ != '{')
		return;
	skip_ws(&p);
	while (*p == '"')
	{
		if (!json_member(&p, role, password))
			break;
		skip_ws(&p);
		if (*p != ',')
			break;
		p++;
		skip_ws(&p);
	}
	skip_ws(&p);
	if (*p != '}')
	{
		/* not the object we wrote: believe none of it */
		replace_value(role, NULL);
		replace_value(password, NULL);
	}
}

/* ---- pgpass ---- */

/* One field up to an unescaped ':' (true) or the end (false), unescaped. */
static bool
pgpass_field(const char **p, StrBuf *out)
{
	const char *s = *p;

	for (; *s && *s != ':'; s++)
	{
		if (*s == '\\' && s[1] != '\0')
			s++;
		sb_appendc(out, *s);
	}
	*p = *s ? s + 1 : s;
	return *s == ':';
}

/* One line "host:port:dbname:user:password"; false if it is not one. */
static bool
pgpass_line(const char *line, char **role, char **password)
{
	StrBuf		field = {0};
	const char *p = line;
	bool		good = false;

	sb_init(&field);
	for (int i = 0; i < 4; i++)
	{
		sb_reset(&field);
		if (!pgpass_field(&p, &field))
			goto done;
	}
	replace_value(role, sb_steal(&field));
	sb_init(&field);
	pgpass_field(&p, &field);
	replace_value(password, sb_steal(&field));
	good = true;

done:
	sb_free_secret(&field);
	return good;
}

/* pgpass: the last line that is not empty or a comment. */
static void
parse_pgpass(const char *text, char **role, char **password)
{
	const char *p = text;
	char	   *last = NULL;

	while (*p)
	{
		char	   *line = take_line(p, &p);

		if (line[0] != '\0' && line[0] != '#')
			replace_value(&last, line);
		else
			secret_free(line);
	}
	if (last != NULL)
		pgpass_line(last, role, password);
	secret_free(last);
}

/* ---- uri ---- */

static bool
pct_decode(const char *s, size_t n, StrBuf *out)
{
	for (size_t i = 0; i < n; i++)
	{
		int			hi,
					lo;

		if (s[i] != '%')
		{
			sb_appendc(out, s[i]);
			continue;
		}
		if (i + 2 >= n)
			return false;
		hi = hex_value(s[i + 1]);
		lo = hex_value(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		sb_appendc(out, (char) (hi * 16 + lo));
		i += 2;
	}
	return true;
}

/* uri: "postgresql://user:password@..." on the first line. */
static void
parse_uri(const char *text, char **role, char **password)
{
	const char *rest;
	char	   *line = take_line(text, &rest);
	const char *p = line;
	size_t		n;
	const char *colon;
	StrBuf		user = {0};
	StrBuf		pass = {0};

	if (strncmp(p, "postgresql://", 13) == 0)
		p += 13;
	else if (strncmp(p, "postgres://", 11) == 0)
		p += 11;
	else
		goto done;
	n = strcspn(p, "@/?");
	if (p[n] != '@' || (colon = memchr(p, ':', n)) == NULL)
		goto done;
	sb_init(&user);
	sb_init(&pass);
	if (!pct_decode(p, (size_t) (colon - p), &user) ||
		!pct_decode(colon + 1, (size_t) (p + n - colon - 1), &pass))
		goto done;
	replace_value(role, sb_steal(&user));
	replace_value(password, sb_steal(&pass));

done:
	sb_free_secret(&user);
	sb_free_secret(&pass);
	secret_free(line);
}

/* ---- the readers ---- */

/*
 * Read file sink s: 1 with *role and *secret (the password; for pgbouncer
 * the verifier), 0 if it holds no credential we can read, -1 with *err.
 */
static int
read_sink(const SinkCfg *s, char **role, char **secret, char **err)
{
	char	   *text;
	size_t		len = 0;

	*role = NULL;
	*secret = NULL;
	if (s->type != SINK_FILE)
	{
		*err = xasprintf("sink \"%s\" is not a file and cannot be read back",
						 (s->argv && s->argv[0]) ? s->argv[0] : "(command)");
		return -1;
	}
	text = read_sink_file(s->path, &len, err);
	if (text == NULL)
		return -1;
	if (s->format == SINK_FMT_ENV)
		parse_env(text, role, secret);
	else if (s->format == SINK_FMT_JSON)
		parse_json(text, role, secret);
	else if (s->format == SINK_FMT_PGPASS)
		parse_pgpass(text, role, secret);
	else if (s->format == SINK_FMT_URI)
		parse_uri(text, role, secret);
	else if (s->format == SINK_FMT_PGBOUNCER)
		sink_pgbouncer_parse(text, role, secret);
	secret_wipe(text, len);
	free(text);
	if (*role && *secret && (*role)[0] && (*secret)[0])
		return 1;
	replace_value(role, NULL);
	replace_value(secret, NULL);
	return 0;
}

/*
 * For the pgbouncer format fp is the fingerprint of the SCRAM verifier in
 * the file (there is no password in it): compare it with
 * secret_fingerprint(verifier), not of the password.
 */
int
sink_read_fingerprint(const SinkCfg *s, char **role, char *fp, char **err)
{
	char	   *secret = NULL;
	int			rc = read_sink(s, role, &secret, err);

	if (rc == 1)
		secret_fingerprint(secret, fp);
	else
		fp[0] = '\0';
	secret_free(secret);
	return rc;
}

/* A pgbouncer sink holds no plaintext password: 0 ("no credential"). */
int
sink_read_credential(const SinkCfg *s, char **role, char **password,
					 char **err)
{
	*role = NULL;
	*password = NULL;
	if (sink_is_pgbouncer(s))
		return 0;
	return read_sink(s, role, password, err);
}

const SinkCfg *
sink_handing_out(const Target *t, const char *role)
{
	for (int i = 0; i < t->nsinks; i++)
	{
		const SinkCfg *s = &t->sinks[i];
		char		fp[SECRET_FINGERPRINT_LEN + 1];
		char	   *srole = NULL;
		char	   *err = NULL;
		bool		holds;
		int			rc;

		if (s->type != SINK_FILE)
			continue;
		rc = sink_read_fingerprint(s, &srole, fp, &err);
		secret_wipe(fp, sizeof(fp));
		if (rc < 0)
			log_emit(LOG_LEVEL_WARNING, "sink_unreadable", err, NULL,
					 "cannot check that sink \"%s\" does not hand out role \"%s\"", s->path, role);
		holds = rc == 1 && strcmp(srole, role) == 0;
		free(srole);
		free(err);
		if (holds)
			return s;
	}
	return NULL;
}

int
sink_find_password(const Target *t, const char *role, const char *fp,
				   char **password, char **why)
{
	*password = NULL;
	*why = NULL;
	for (int i = 0; i < t->nsinks && *password == NULL; i++)
	{
		const SinkCfg *s = &t->sinks[i];
		char	   *r = NULL;
		char	   *pw = NULL;
		char	   *err = NULL;
		char		have[SECRET_FINGERPRINT_LEN + 1];
		int			rc;

		if (s->type != SINK_FILE || sink_is_pgbouncer(s))
			continue;
		rc = sink_read_credential(s, &r, &pw, &err);
		if (rc == 1)
		{
			secret_fingerprint(pw, have);
			if (strcmp(r, role) == 0 && fp && strcmp(have, fp) == 0)
			{
				*password = pw;
				pw = NULL;
			}
			else
				err = xasprintf("\"%s\" does not hold the active credential", s->path);
		}
		else if (rc == 0)
			err = xasprintf("\"%s\" holds no credential", s->path);
		secret_free(pw);
		free(r);
		if (err != NULL)
		{
			char	   *all = *why ? xasprintf("%s; %s", *why, err) : xstrdup(err);

			free(*why);
			free(err);
			*why = all;
		}
	}
	if (*password == NULL && *why == NULL)
		*why = xstrdup("the target has no file sink that carries a password");
	if (*password != NULL)
	{
		free(*why);
		*why = NULL;
	}
	return *password != NULL;
}
