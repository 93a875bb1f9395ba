/*
 * tap.h: a tiny TAP producer for the C unit tests (run by automake's
 * tap-driver.sh). Header-only.
 *
 *   plan(3);  ok(x == 1, "x is one");  is_str(a, b, "names");  return done_testing();
 */
#ifndef PGR_TAP_H
#define PGR_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TAP_UNUSED __attribute__((unused))

static int	tap_run;
static int	tap_failed;
static int	tap_planned = -1;

TAP_UNUSED static void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

__attribute__((format(printf, 2, 0)))
static void
tap_vok(int pass, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 2, 3))) TAP_UNUSED
static int
ok(int pass, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	tap_vok(pass, fmt, ap);
	va_end(ap);
	return pass;
}

TAP_UNUSED static void
diag(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void
diag(const char *fmt,...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define is_int(got, want, ...) \
	do { long long g_ = (long long) (got), w_ = (long long) (want); \
		if (!ok(g_ == w_, __VA_ARGS__)) diag("got %lld, want %lld", g_, w_); } while (0)

#define is_str(got, want, ...) \
	do { const char *g_ = (got), *w_ = (want); \
		int p_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_; \
		if (!ok(p_, __VA_ARGS__)) diag("got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } while (0)

#define like(got, substr, ...) \
	do { const char *g_ = (got), *s_ = (substr); \
		if (!ok(g_ && strstr(g_, s_) != NULL, __VA_ARGS__)) diag("\"%s\" does not contain \"%s\"", g_ ? g_ : "(null)", s_); } while (0)

TAP_UNUSED static int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
	{
		diag("planned %d tests but ran %d", tap_planned, tap_run);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

#endif
