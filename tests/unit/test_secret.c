/*
 * test_secret.c: password generation (length, alphabet, uniformity),
 * fingerprints and wiping.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secret.h"
#include "../tap.h"

/* >= 1,000,000 characters for the goodness-of-fit test */
#define CHI_CALLS 7813
#define CHI_LEN 128

static bool
all_in_alphabet(const char *s)
{
	for (; *s; s++)
	{
		if (strchr(secret_alphabet, *s) == NULL)
			return false;
	}
	return true;
}

static void
test_lengths(void)
{
	static const size_t lens[] = {16, 32, 128};
	char		buf[SECRET_MAX_LENGTH + 2];
	size_t		i;

	is_int(strlen(secret_alphabet), 62, "alphabet has 62 characters");
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
	{
		memset(buf, 'x', sizeof(buf));
		is_int(secret_generate(buf, lens[i]), 0, "length %zu generated",
			   lens[i]);
		is_int(strlen(buf), lens[i], "length %zu is exact", lens[i]);
		ok(all_in_alphabet(buf), "length %zu: only [A-Za-z0-9]", lens[i]);
	}
	is_int(secret_generate(buf, 15), -1, "length 15 refused");
	is_int(secret_generate(buf, 129), -1, "length 129 refused");
	is_int(secret_generate(buf, 0), -1, "length 0 refused");
}

static void
test_distinct(void)
{
	char		a[33];
	char		b[33];
	bool		same = false;
	int			i;

	for (i = 0; i < 1000; i++)
	{
		if (secret_generate(a, 32) != 0 || secret_generate(b, 32) != 0 ||
			strcmp(a, b) == 0)
			same = true;
	}
	ok(!same, "1000 pairs of generated passwords all differ");
	secret_wipe(a, sizeof(a));
	secret_wipe(b, sizeof(b));
}

static void
test_uniformity(void)
{
	long		counts[62] = {0};
	char		buf[CHI_LEN + 1];
	long		total = 0;
	double		expected;
	double		chi2 = 0.0;
	bool		gen_ok = true;
	int			i;
	int			k;

	for (i = 0; i < CHI_CALLS; i++)
	{
		if (secret_generate(buf, CHI_LEN) != 0)
		{
			gen_ok = false;
			break;
		}
		for (k = 0; k < CHI_LEN; k++)
		{
			const char *p = strchr(secret_alphabet, buf[k]);

			if (p == NULL)
			{
				gen_ok = false;
				break;
			}
			counts[p - secret_alphabet]++;
			total++;
		}
	}
	ok(gen_ok && total >= 1000000, "generated %ld characters", total);
	expected = (double) total / 62.0;
	for (k = 0; k < 62; k++)
	{
		double		d = (double) counts[k] - expected;

		chi2 += d * d / expected;
	}
	/* 61 degrees of freedom: p = 0.0001 is at about 110.6 */
	if (!ok(chi2 < 110.0, "chi-square over 62 symbols is %.2f (< 110)", chi2))
		diag("distribution is not uniform");
	diag("chi2 = %.2f with 61 degrees of freedom", chi2);
}

static void
test_fingerprint(void)
{
	char		fp[SECRET_FINGERPRINT_LEN + 1];

	secret_fingerprint("abc", fp);
	is_str(fp, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		   "SHA-256 of \"abc\"");
	secret_fingerprint("", fp);
	is_str(fp, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		   "SHA-256 of the empty string");
	is_int(strlen(fp), SECRET_FINGERPRINT_LEN, "fingerprint is 64 hex chars");
}

static void
test_wipe(void)
{
	char		buf[8] = "secret!";
	char	   *s;
	size_t		i;
	bool		zero = true;

	secret_wipe(buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] != 0)
			zero = false;
	ok(zero, "secret_wipe zeroes the buffer");
	secret_wipe(NULL, 10);
	ok(1, "secret_wipe(NULL) is fine");
	secret_free(NULL);
	ok(1, "secret_free(NULL) is fine");
	s = strdup("hunter2hunter2");
	secret_free(s);
	ok(1, "secret_free of a heap string");
}

/* In a child, so that the test process keeps its umask. */
static void
test_harden(void)
{
	pid_t		pid;
	int			status = 0;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		struct rlimit rl;
		mode_t		old;
		int			bad = 0;

		if (secret_harden_process() != 0)
			bad |= 1;
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
			bad |= 2;
		if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0)
			bad |= 4;
		old = umask(0);
		if (old != 077)
			bad |= 8;
		_exit(bad);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status),
	   "hardening child ran");
	is_int(WEXITSTATUS(status), 0,
		   "not dumpable, no core limit, umask 077 (bitmask of failures)");
}

int
main(void)
{
	plan(25);
	test_lengths();
	test_distinct();
	test_uniformity();
	test_fingerprint();
	test_wipe();
	test_harden();
	return done_testing();
}
