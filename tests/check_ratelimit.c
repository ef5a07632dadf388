/*
 * Unit tests for the line token bucket (ratelimit.c).
 *
 * Time is simulated: every call is given its now_ms, starting from T0, a
 * wall-clock-like value in milliseconds.  ratelimit_take() is called after
 * each line as client.c does: 1 means read on, 0 means the bucket is empty
 * and the client waits ratelimit_wait() ms before its next line.
 * daemon_lines() replays that loop to count the lines a client gets
 * through at one instant.
 */

#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

#define T0	UINT64_C(1700000000000)

/* Lines handled at now_ms before the client is throttled (at most max). */
static unsigned
daemon_lines(struct ratelimit *r, uint64_t now_ms, unsigned rate,
    unsigned burst, unsigned max)
{
	unsigned	n;

	for (n = 1; n < max; n++) {
		if (!ratelimit_take(r, now_ms, rate, burst))
			break;
	}
	return (n);
}

START_TEST(test_init)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 50);
	ck_assert_uint_eq(r.last_ms, T0);
	ck_assert_uint_eq(r.milli, 50000);
	ck_assert_uint_eq(ratelimit_wait(&r, 10), 0);
}
END_TEST

/* burst lines go through at once; the last of them empties the bucket. */
START_TEST(test_burst)
{
	struct ratelimit	r;
	unsigned		i;

	ratelimit_init(&r, T0, 5);
	for (i = 1; i < 5; i++)
		ck_assert_msg(ratelimit_take(&r, T0, 10, 5) == 1, "line %u", i);
	ck_assert_int_eq(ratelimit_take(&r, T0, 10, 5), 0);
	ck_assert_uint_eq(r.milli, 0);
	ck_assert_uint_eq(ratelimit_wait(&r, 10), 100);

	/* Taking again at once stays empty. */
	ck_assert_int_eq(ratelimit_take(&r, T0, 10, 5), 0);
	ck_assert_uint_eq(r.milli, 0);

	ratelimit_init(&r, T0, 50);
	ck_assert_uint_eq(daemon_lines(&r, T0, 10, 50, 1000), 50);
}
END_TEST

/* A burst of one: every line waits for the next token. */
START_TEST(test_burst_one)
{
	struct ratelimit	r;
	uint64_t		now = T0;
	int			i;

	ratelimit_init(&r, now, 1);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ratelimit_take(&r, now, 4, 1), 0);
		ck_assert_uint_eq(ratelimit_wait(&r, 4), 250);
		now += 250;
	}
}
END_TEST

/* The wait is the time to one whole token, rounded up. */
START_TEST(test_wait)
{
	static const struct {
		uint32_t	milli;
		unsigned	rate;
		uint64_t	want;
	} cases[] = {
		{ 0, 1, 1000 },
		{ 0, 10, 100 },
		{ 0, 3, 334 },		/* 333 ms give 999 */
		{ 0, 7, 143 },
		{ 0, 1000, 1 },
		{ 0, 1000000, 1 },
		{ 500, 10, 50 },
		{ 999, 10, 1 },
		{ 999, 1, 1 },
		{ 1, 1, 999 },
		{ 1000, 1, 0 },
		{ 5000, 10, 0 },
		{ 0, 0, 0 },		/* unlimited */
	};
	struct ratelimit	r;
	size_t			i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		r.last_ms = T0;
		r.milli = cases[i].milli;
		ck_assert_msg(ratelimit_wait(&r, cases[i].rate) ==
		    cases[i].want, "milli %u rate %u: want %llu, got %llu",
		    (unsigned)cases[i].milli, cases[i].rate,
		    (unsigned long long)cases[i].want,
		    (unsigned long long)ratelimit_wait(&r, cases[i].rate));
	}
}
END_TEST

/* After waiting ratelimit_wait() ms there is a token again, not before. */
START_TEST(test_wait_is_enough)
{
	static const unsigned	rates[] = { 1, 3, 7, 10, 333, 999, 1000,
	    1001, 100000 };
	struct ratelimit	r;
	uint64_t		w, milli;
	size_t			i;

	for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		ratelimit_init(&r, T0, 2);
		ratelimit_take(&r, T0, rates[i], 2);
		ck_assert_int_eq(ratelimit_take(&r, T0, rates[i], 2), 0);
		ck_assert_uint_eq(r.milli, 0);
		w = ratelimit_wait(&r, rates[i]);
		ck_assert_msg(w * rates[i] >= 1000 &&
		    (w - 1) * rates[i] < 1000, "rate %u: wait %llu ms",
		    rates[i], (unsigned long long)w);

		/* On time: a whole token, taken by the line read then. */
		milli = w * rates[i] > 2000 ? 2000 : w * rates[i];
		ratelimit_take(&r, T0 + w, rates[i], 2);
		ck_assert_uint_eq(r.milli, milli - 1000);
		ck_assert_uint_eq(r.last_ms, T0 + w);
	}
}
END_TEST

/* Steady state: one line per 1000 / rate ms once the burst is spent. */
START_TEST(test_steady_rate)
{
	struct ratelimit	r;
	uint64_t		now = T0;
	unsigned		lines = 0;

	ratelimit_init(&r, now, 5);
	lines += daemon_lines(&r, now, 10, 5, 1000);
	ck_assert_uint_eq(lines, 5);
	/* Ten seconds of a client that sends as fast as it may. */
	while (now < T0 + 10000) {
		now += ratelimit_wait(&r, 10);
		lines += daemon_lines(&r, now, 10, 5, 1000);
	}
	ck_assert_uint_eq(lines, 5 + 100);
}
END_TEST

START_TEST(test_refill)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 5);
	ck_assert_uint_eq(daemon_lines(&r, T0, 10, 5, 1000), 5);

	/* 250 ms at 10 lines/s: two and a half tokens. */
	ck_assert_int_eq(ratelimit_take(&r, T0 + 250, 10, 5), 1);
	ck_assert_uint_eq(r.milli, 1500);
	ck_assert_uint_eq(r.last_ms, T0 + 250);
	ck_assert_int_eq(ratelimit_take(&r, T0 + 250, 10, 5), 0);
	ck_assert_uint_eq(r.milli, 500);
	ck_assert_uint_eq(ratelimit_wait(&r, 10), 50);

	/* Refill is by elapsed time, in steps of any size. */
	ratelimit_take(&r, T0 + 251, 10, 5);	/* 510 - 1000 -> 0 */
	ck_assert_uint_eq(r.milli, 0);
	ck_assert_int_eq(ratelimit_take(&r, T0 + 451, 10, 5), 1);
	ck_assert_uint_eq(r.milli, 1000);
}
END_TEST

START_TEST(test_never_above_burst)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 5);
	/* A full bucket does not grow while idle. */
	ratelimit_take(&r, T0 + 3600 * 1000, 10, 5);
	ck_assert_uint_eq(r.milli, 4000);

	ratelimit_init(&r, T0, 5);
	ck_assert_uint_eq(daemon_lines(&r, T0, 10, 5, 1000), 5);
	/* A day later: still only burst lines at once. */
	ck_assert_uint_eq(daemon_lines(&r, T0 + 86400 * 1000, 10, 5, 1000),
	    5);
	/* Exactly long enough to refill: the same. */
	ck_assert_uint_eq(daemon_lines(&r, T0 + 86400 * 1000 + 500, 10, 5,
	    1000), 5);
}
END_TEST

/* A smaller burst (after a reload) caps a fuller bucket at the next take. */
START_TEST(test_burst_lowered)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 50);
	ck_assert_int_eq(ratelimit_take(&r, T0 + 1, 10, 5), 1);
	ck_assert_uint_eq(r.milli, 4000);
}
END_TEST

/* A clock that steps back refills nothing and is not an error. */
START_TEST(test_time_backwards)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 2);
	ratelimit_take(&r, T0, 10, 2);
	ck_assert_int_eq(ratelimit_take(&r, T0, 10, 2), 0);
	ck_assert_int_eq(ratelimit_take(&r, T0 - 5000, 10, 2), 0);
	ck_assert_uint_eq(r.milli, 0);
	ck_assert_uint_eq(r.last_ms, T0);
	/* Refill resumes from the latest time seen. */
	ck_assert_int_eq(ratelimit_take(&r, T0 + 200, 10, 2), 1);
	ck_assert_uint_eq(r.milli, 1000);
}
END_TEST

START_TEST(test_unlimited)
{
	struct ratelimit	r;
	int			i;

	ratelimit_init(&r, T0, 1);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(ratelimit_take(&r, T0, 0, 1), 1);
	ck_assert_uint_eq(ratelimit_wait(&r, 0), 0);
	/* The bucket is left alone. */
	ck_assert_uint_eq(r.milli, 1000);
	ck_assert_uint_eq(r.last_ms, T0);
}
END_TEST

/* The largest values the config allows. */
START_TEST(test_config_maxima)
{
	struct ratelimit	r;

	ratelimit_init(&r, T0, 1000000);
	ck_assert_uint_eq(r.milli, 1000000000U);
	ck_assert_int_eq(ratelimit_take(&r, T0, 1000000, 1000000), 1);
	ck_assert_uint_eq(r.milli, 999999000U);
	/* A year idle at the top rate fills to the burst, no more. */
	ck_assert_int_eq(ratelimit_take(&r, T0 + UINT64_C(31536000000),
	    1000000, 1000000), 1);
	ck_assert_uint_eq(r.milli, 999999000U);
	ck_assert_uint_eq(ratelimit_wait(&r, 1000000), 0);
}
END_TEST

/* Realistic large jumps: a host asleep for years, a clock set forward. */
START_TEST(test_large_jump)
{
	static const unsigned	rates[] = { 1, 10, 1000, 1000000 };
	struct ratelimit	r;
	uint64_t		jump;
	size_t			i;

	for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		for (jump = 4096; jump <= UINT64_C(1) << 42; jump <<= 2) {
			ratelimit_init(&r, T0, 3);
			daemon_lines(&r, T0, rates[i], 3, 100);
			ck_assert_uint_eq(r.milli, 0);
			ck_assert_msg(daemon_lines(&r, T0 + jump, rates[i], 3,
			    100) == 3, "rate %u, jump %llu ms", rates[i],
			    (unsigned long long)jump);
		}
	}
}
END_TEST

/*
 * Regression: the refill multiplied the elapsed time by the rate in 64
 * bits without a bound, so a big enough jump wrapped.  Not
 * reachable with a clock in milliseconds since 1970, but the bucket must
 * not depend on that.
 */
START_TEST(test_regression_huge_jump)
{
	struct ratelimit	r;

	ratelimit_init(&r, 0, 3);
	daemon_lines(&r, 0, 2, 3, 100);
	ck_assert_uint_eq(r.milli, 0);
	/* 2^63 ms * 2 wraps to 0. */
	ck_assert_msg(daemon_lines(&r, UINT64_C(1) << 63, 2, 3, 100) == 3,
	    "no refill after a 2^63 ms jump at rate 2");

	/* 2^58 ms * 10^6 (2^6 * 15625) wraps to 0 as well. */
	ratelimit_init(&r, T0, 3);
	daemon_lines(&r, T0, 1000000, 3, 100);
	ck_assert_msg(daemon_lines(&r, T0 + (UINT64_C(1) << 58), 1000000, 3,
	    100) == 3, "no refill after a 2^58 ms jump at rate 10^6");
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ratelimit");

	tc = tcase_create("bucket");
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_burst);
	tcase_add_test(tc, test_burst_one);
	tcase_add_test(tc, test_wait);
	tcase_add_test(tc, test_wait_is_enough);
	tcase_add_test(tc, test_steady_rate);
	tcase_add_test(tc, test_refill);
	tcase_add_test(tc, test_never_above_burst);
	tcase_add_test(tc, test_burst_lowered);
	tcase_add_test(tc, test_time_backwards);
	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_config_maxima);
	tcase_add_test(tc, test_large_jump);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_test(tc, test_regression_huge_jump);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(ratelimit_suite());
}
