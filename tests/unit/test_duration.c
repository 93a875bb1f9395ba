/*
 * test_duration.c: duration_parse and duration_format.
 */
#include <stddef.h>			/* duration.h needs size_t */
#include <stdint.h>

#include "duration.h"
#include "../tap.h"

#define SEC		INT64_C(1000)
#define MIN		(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY		(24 * HOUR)

static const struct
{
	const char *text;
	int64_t		ms;
}			good[] = {
	{"500ms", 500},
	{"30s", 30 * SEC},
	{"15m", 15 * MIN},
	{"1h30m", HOUR + 30 * MIN},
	{"30d", 30 * DAY},
	{"0", 0},
	{"0s", 0},
	{"0ms", 0},
	{"90", 90 * SEC},
	{"1d2h3m4s5ms", DAY + 2 * HOUR + 3 * MIN + 4 * SEC + 5},
	{"1m500ms", MIN + 500},
	{"2h5s", 2 * HOUR + 5 * SEC},
	{"007s", 7 * SEC},
	{"90m", 90 * MIN},
	{"36525d", 36525 * DAY},
	{"3155760000", 3155760000LL * SEC},
};

static const char *const bad[] = {
	"", "s", "ms", "15x", "1.5h", "-5s", "+5s", "5 s", " 5s", "5s ",
	"1h1h", "30m1h", "1s1m", "5ms1s", "1m30", "1d2", "h1", "5S", "5sec",
	"1w", "36526d", "3155760001", "99999999999999999999",
	"9223372036854775807ms", "36525d1ms", "1,5s", "0x10s", "5mm",
};

static void
test_format(int64_t ms, const char *want)
{
	char		buf[32];

	duration_format(ms, buf, sizeof(buf));
	is_str(buf, want, "duration_format(%lld)", (long long) ms);
}

int
main(void)
{
	int			ngood = (int) (sizeof(good) / sizeof(good[0]));
	int			nbad = (int) (sizeof(bad) / sizeof(bad[0]));
	char		small[4];

	plan(ngood * 3 + nbad * 2 + 9);
	for (int i = 0; i < ngood; i++)
	{
		int64_t		ms = -1;
		int			rc = duration_parse(good[i].text, &ms);

		ok(rc == 0, "\"%s\" parses", good[i].text);
		is_int(ms, good[i].ms, "\"%s\" is %lld ms", good[i].text,
			   (long long) good[i].ms);
	}
	for (int i = 0; i < nbad; i++)
	{
		int64_t		ms = 12345;

		ok(duration_parse(bad[i], &ms) == -1, "\"%s\" is refused", bad[i]);
		is_int(ms, 12345, "\"%s\" leaves the output alone", bad[i]);
	}
	ok(duration_parse(NULL, &(int64_t) {0}) == -1, "NULL is refused");

	test_format(0, "0s");
	test_format(500, "500ms");
	test_format(30 * SEC, "30s");
	test_format(HOUR + 30 * MIN, "1h30m");
	test_format(30 * DAY, "30d");
	test_format(DAY + 2 * HOUR + 3 * MIN + 4 * SEC + 5, "1d2h3m4s5ms");
	test_format(-90 * SEC, "-1m30s");
	duration_format(HOUR + 30 * MIN, small, sizeof(small));
	ok(strlen(small) < sizeof(small), "duration_format truncates safely");

	/* round trip */
	for (int i = 0; i < ngood; i++)
	{
		char		buf[32];
		int64_t		back = -1;

		duration_format(good[i].ms, buf, sizeof(buf));
		ok(duration_parse(buf, &back) == 0 && back == good[i].ms,
		   "\"%s\" round-trips through \"%s\"", good[i].text, buf);
	}
	return done_testing();
}
