/*
 * sink_command.c: run a command sink.
 *
 * The command is executed directly (no shell, no PATH search: argv[0] is
 * absolute) in its own process group. Its stdin is a pipe carrying the JSON
 * document, the only place the password goes; its environment is the
 * allowlisted part of ours (env_allowed: never a PG* variable) plus
 * PGROTATE_TARGET, PGROTATE_ROLE and PGROTATE_GENERATION; its stdout and
 * stderr share one pipe whose lines we log (log_emit redacts registered
 * secrets). At the timeout the whole group gets SIGTERM, and SIGKILL two
 * seconds later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"
#include "secret.h"
#include "sink.h"
#include "util.h"

extern char **environ;

#define DEFAULT_TIMEOUT_MS 30000
#define KILL_GRACE_MS 2000
#define OUTPUT_GRACE_MS 500		/* output still read after the command exits */
#define POLL_STEP_MS 50
#define MAX_LINE 4096
#define CHILD_FD_BASE 10

typedef struct Child
{
	const char *name;			/* argv[0], for messages */
	pid_t		pid;
	int			in_fd;			/* write end of its stdin, -1 once closed */
	int			out_fd;			/* read end of its stdout+stderr, -1 at EOF */
	const char *doc;			/* what goes to its stdin */
	size_t		doc_len;
	size_t		doc_off;
	SinkOutput	out;			/* output not yet logged */
	bool		exited;
	int			status;
	bool		timed_out;
} Child;

/* ---- in the child: async-signal-safe calls only ---- */

static void
child_reset_signals(void)
{
	static const int sigs[] = {SIGPIPE, SIGXFSZ, SIGINT, SIGTERM, SIGHUP,
	SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2};
	struct sigaction sa;
	sigset_t	none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * stdin from in_fd, stdout and stderr to out_fd, the exec status pipe on
 * fd 3 (close-on-exec), nothing else open; then exec. On failure errno goes
 * to the status pipe.
 */
static void
child_exec(char *const argv[], char *const envp[], int in_fd, int out_fd,
		   int status_fd, int max_fd)
{
	int			in2,
				out2,
				st2,
				e;

	setpgid(0, 0);
	child_reset_signals();
	in2 = fcntl(in_fd, F_DUPFD, CHILD_FD_BASE);
	out2 = fcntl(out_fd, F_DUPFD, CHILD_FD_BASE);
	st2 = fcntl(status_fd, F_DUPFD_CLOEXEC, CHILD_FD_BASE);
	if (in2 < 0 || out2 < 0 || st2 < 0 ||
		dup2(in2, STDIN_FILENO) < 0 || dup2(out2, STDOUT_FILENO) < 0 ||
		dup2(out2, STDERR_FILENO) < 0 || dup3(st2, 3, O_CLOEXEC) < 0)
		_exit(127);
	if (close_range(4, ~0U, 0) != 0)
	{
		for (int fd = 4; fd <= max_fd; fd++)
			close(fd);
	}
	execve(argv[0], argv, envp);
	e = errno;
	while (write(3, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* ---- in the parent ---- */

/*
 * Whether an inherited variable may reach a command sink: PATH, HOME, LANG,
 * LC_*, TZ and PGROTATE_* (other than the three we set), nothing else; in
 * particular no PG* variable (PGPASSWORD, PGOPTIONS, PGSERVICEFILE...),
 * which would let a psql in the hook connect as the admin, and no loader
 * or shell variable (LD_PRELOAD, BASH_ENV...).
 */
static bool
env_allowed(const char *entry)
{
	static const char *const names[] = {"PATH", "HOME", "LANG", "TZ", NULL};
	static const char *const ours[] = {"PGROTATE_TARGET", "PGROTATE_ROLE",
	"PGROTATE_GENERATION", NULL};
	const char *eq = strchr(entry, '=');
	size_t		len;

	if (eq == NULL || eq == entry)
		return false;
	len = (size_t) (eq - entry);
	for (int i = 0; ours[i]; i++)
		if (strlen(ours[i]) == len && strncmp(entry, ours[i], len) == 0)
			return false;
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0)
			return true;
	return (len > 3 && strncmp(entry, "LC_", 3) == 0) ||
		(len > 9 && strncmp(entry, "PGROTATE_", 9) == 0);
}

/* The allowlisted part of our environment, then our three PGROTATE_*. */
static char **
build_env(const Credential *cred, StrList *owned)
{
	char	  **envp;
	int			n = 0;
	int			k = 0;

	while (environ && environ[n])
		n++;
	envp = xcalloc((size_t) n + 4, sizeof(char *));
	for (int i = 0; i < n; i++)
		if (env_allowed(environ[i]))
			envp[k++] = environ[i];
	strlist_addf(owned, "PGROTATE_TARGET=%s", cred->target ? cred->target : "");
	strlist_addf(owned, "PGROTATE_ROLE=%s", cred->role);
	strlist_addf(owned, "PGROTATE_GENERATION=%" PRId64, cred->generation);
	for (int i = 0; i < owned->n; i++)
		envp[k++] = owned->items[i];
	envp[k] = NULL;
	return envp;
}

/* write() that turns a closed pipe into EPIPE, never into SIGPIPE. */
static ssize_t
write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t	pipe_set,
				old;
	ssize_t		n;
	int			save;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	save = errno;
	if (n < 0 && save == EPIPE)
	{
		struct timespec zero = {0, 0};

		/* take back the SIGPIPE this write raised (none if ignored) */
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = save;
	return n;
}

/* Feed the document; a command that does not read it is its own business. */
static void
feed_stdin(Child *c)
{
	ssize_t		n = write_nosigpipe(c->in_fd, c->doc + c->doc_off,
									c->doc_len - c->doc_off);

	if (n > 0)
		c->doc_off += (size_t) n;
	else if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || c->doc_off == c->doc_len)
		close_fd(&c->in_fd);
}

/* One piece of output, already redacted (sink_output.c). */
static void
log_piece(const char *piece, void *arg)
{
	const Child *c = arg;

	log_emit(LOG_LEVEL_INFO, "sink_output", NULL, NULL, "%s: %s", c->name,
			 piece);
}

/* Log what the command wrote, line by line, redacted; at EOF close the pipe. */
static void
read_output(Child *c)
{
	char		buf[4096];
	ssize_t		n = read(c->out_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
	{
		sink_output_flush(&c->out);
		close_fd(&c->out_fd);
		return;
	}
	sink_output_feed(&c->out, buf, (size_t) n);
	secret_wipe(buf, (size_t) n);
}

static void
reap(Child *c, int flags)
{
	int			status;

	if (!c->exited && waitpid(c->pid, &status, flags) == c->pid)
	{
		c->exited = true;
		c->status = status;
	}
}

/* SIGTERM to the group, SIGKILL after KILL_GRACE_MS if anyone is left. */
static void
terminate_group(Child *c)
{
	int64_t		deadline = clock_mono_ms() + KILL_GRACE_MS;

	kill(-c->pid, SIGTERM);
	for (;;)
	{
		reap(c, WNOHANG);
		if (c->exited && kill(-c->pid, 0) != 0 && errno == ESRCH)
			return;
		if (clock_mono_ms() >= deadline)
			break;
		if (c->out_fd >= 0)
			read_output(c);
		sleep_ms(POLL_STEP_MS, NULL);
	}
	kill(-c->pid, SIGKILL);
	reap(c, 0);
}

/* One wait for stdin space or output, at most wait_ms. */
static void
poll_once(Child *c, int64_t wait_ms)
{
	struct pollfd pfd[2];
	int			n = 0;
	int			in_i = -1;
	int			out_i = -1;

	if (c->in_fd >= 0)
	{
		pfd[n] = (struct pollfd) {.fd = c->in_fd,.events = POLLOUT};
		in_i = n++;
	}
	if (c->out_fd >= 0)
	{
		pfd[n] = (struct pollfd) {.fd = c->out_fd,.events = POLLIN};
		out_i = n++;
	}
	if (poll(pfd, (nfds_t) n, (int) wait_ms) <= 0)
		return;
	if (in_i >= 0 && pfd[in_i].revents != 0)
		feed_stdin(c);
	if (out_i >= 0 && pfd[out_i].revents != 0)
		read_output(c);
}

/* Run until the command exits and its output ends, or the timeout. */
static void
supervise(Child *c, int64_t timeout_ms)
{
	int64_t		deadline = clock_mono_ms() + timeout_ms;
	int64_t		exited_at = -1;

	for (;;)
	{
		int64_t		now = clock_mono_ms();

		reap(c, WNOHANG);
		if (c->exited && exited_at < 0)
		{
			exited_at = now;
			close_fd(&c->in_fd);
		}
		if (c->exited && (c->out_fd < 0 || now - exited_at >= OUTPUT_GRACE_MS))
			break;
		if (now >= deadline)
		{
			c->timed_out = true;
			terminate_group(c);
			break;
		}
		poll_once(c, deadline - now < POLL_STEP_MS ? deadline - now :
				  POLL_STEP_MS);
	}
	sink_output_flush(&c->out);
}

static void
set_nonblock(int fd)
{
	int			flags = fcntl(fd, F_GETFL);

	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int
highest_fd(void)
{
	long		n = sysconf(_SC_OPEN_MAX);

	return (n <= 0 || n > 65536) ? 65536 : (int) n;
}

/* Wait for the exec; -1 with its errno if it failed. */
static int
exec_status(int fd)
{
	int			e = 0;
	ssize_t		n;

	do
		n = read(fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t) sizeof(e) ? e : 0;
}

/* Fork and exec the command with its pipes; -1 with *err if it cannot run. */
static int
spawn(Child *c, char *const argv[], char *const envp[], char **err)
{
	int			in[2] = {-1, -1};
	int			out[2] = {-1, -1};
	int			st[2] = {-1, -1};
	int			max_fd = highest_fd();
	int			e;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
		pipe2(st, O_CLOEXEC) != 0 || (c->pid = fork()) < 0)
	{
		*err = xasprintf("cannot start command sink \"%s\": %s", c->name,
						 strerror(errno));
		c->pid = 0;
		e = -1;
		goto done;
	}
	if (c->pid == 0)
		child_exec(argv, envp, in[0], out[1], st[1], max_fd);
	setpgid(c->pid, c->pid);	/* also done by the child; whoever is first */
	close_fd(&st[1]);
	e = exec_status(st[0]);
	if (e != 0)
	{
		*err = xasprintf("cannot run command sink \"%s\": %s (hint: The first item "
						 "of \"argv\" must be the absolute path of an executable "
						 "file.)", c->name, strerror(e));
		reap(c, 0);
		goto done;
	}
	c->in_fd = in[1];
	c->out_fd = out[0];
	in[1] = out[0] = -1;
	set_nonblock(c->in_fd);
	set_nonblock(c->out_fd);

done:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&st[0]);
	close_fd(&st[1]);
	return e == 0 ? 0 : -1;
}

/* 0 for exit status 0, else -1 with a message naming the command. */
static int
check_result(const Child *c, int64_t timeout_ms, char **err)
{
	char		limit[32];

	if (c->timed_out)
	{
		duration_format(timeout_ms, limit, sizeof(limit));
		*err = xasprintf("command sink \"%s\" did not finish within %s and was "
						 "killed (hint: Make it faster or raise its \"timeout\"; "
						 "the new credential is not published.)", c->name, limit);
		return -1;
	}
	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return 0;
	if (WIFEXITED(c->status))
		*err = xasprintf("command sink \"%s\" exited with status %d (hint: See "
						 "its output above and fix it; the new credential is not "
						 "published.)", c->name, WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		*err = xasprintf("command sink \"%s\" was killed by signal %d (%s) "
						 "(hint: See its output above; the new credential is "
						 "not published.)", c->name, WTERMSIG(c->status),
						 strsignal(WTERMSIG(c->status)));
	else
		*err = xasprintf("command sink \"%s\" ended abnormally (wait status "
						 "%d)", c->name, c->status);
	return -1;
}

int
sink_run_command(const SinkCfg *s, const Credential *cred, char **err)
{
	Child		c;
	StrList		owned = {0};
	char	  **envp = NULL;
	char	   *doc = NULL;
	int64_t		timeout_ms = s->timeout_ms;
	int			rc = -1;

	memset(&c, 0, sizeof(c));
	c.in_fd = c.out_fd = -1;
	sink_output_init(&c.out, MAX_LINE, log_piece, &c);
	if (s->argv == NULL || s->argv[0] == NULL || s->argv[0][0] != '/')
	{
		*err = xasprintf("command sink \"%s\" is not an absolute path (hint: "
						 "Give the full path: pgrotate runs commands without a "
						 "shell or PATH.)",
						 (s->argv && s->argv[0]) ? s->argv[0] : "");
		goto done;
	}
	c.name = s->argv[0];
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	doc = sink_json_document(cred);
	c.doc = doc;
	c.doc_len = strlen(doc);
	envp = build_env(cred, &owned);
	if (spawn(&c, s->argv, envp, err) != 0)
		goto done;
	supervise(&c, timeout_ms);
	rc = check_result(&c, timeout_ms, err);

done:
	close_fd(&c.in_fd);
	close_fd(&c.out_fd);
	secret_free(doc);
	free(envp);
	strlist_free(&owned);
	sink_output_free(&c.out);
	return rc;
}
