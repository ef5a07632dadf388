/*
 * check_future.c: the future type on its own, on a real event base.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <check.h>
#include <event2/event.h>

#include "death.h"
#include "future.h"
#include "run_suite.h"

static struct event_base	*base;
static struct future_sched	 sched;

/* A log of continuation runs: which future, at what nesting depth. */
static int	order[64];
static int	norder;
static int	depth, max_depth;

static void
setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(future_sched_init(&sched, base), 0);
	norder = 0;
	depth = max_depth = 0;
}

static void
teardown(void)
{
	future_sched_free(&sched);
	event_base_free(base);
}

static void
record(struct future *f, void *arg)
{
	if (norder < 64)
		order[norder++] = (int)(intptr_t)arg;
}

static void
run_loop(void)
{
	/* Nothing else is registered: the loop ends when the queues drain. */
	ck_assert_int_ne(event_base_loop(base, 0), -1);
}

START_TEST(test_complete_runs_from_loop)
{
	struct future	f;

	future_init(&f, &sched);
	future_start(&f);
	ck_assert(future_pending(&f));
	future_then(&f, record, (void *)1);
	future_complete_size(&f, 42);
	/* Not in place: nothing ran yet. */
	ck_assert_int_eq(norder, 0);
	ck_assert(future_done(&f));
	run_loop();
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(order[0], 1);
	ck_assert_uint_eq(future_size(&f), 42);
	ck_assert_int_eq(future_error(&f), 0);
}
END_TEST

START_TEST(test_fail_carries_errno)
{
	struct future	f;

	future_init(&f, &sched);
	future_start(&f);
	future_then(&f, record, (void *)7);
	future_fail(&f, ECONNRESET);
	run_loop();
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(future_error(&f), ECONNRESET);
}
END_TEST

START_TEST(test_then_after_done)
{
	struct future	f;
	int		x;

	future_init(&f, &sched);
	future_start(&f);
	future_complete(&f, &x);
	run_loop();
	ck_assert_int_eq(norder, 0);	/* no continuation yet */
	future_then(&f, record, (void *)3);
	ck_assert_int_eq(norder, 0);	/* still not in place */
	run_loop();
	ck_assert_int_eq(norder, 1);
	ck_assert_ptr_eq(future_value(&f), &x);
}
END_TEST

START_TEST(test_continuations_in_completion_order)
{
	struct future	f[5];
	int		i;

	for (i = 0; i < 5; i++) {
		future_init(&f[i], &sched);
		future_start(&f[i]);
		future_then(&f[i], record, (void *)(intptr_t)i);
	}
	future_complete(&f[3], NULL);
	future_complete(&f[0], NULL);
	future_fail(&f[4], EMSGSIZE);
	future_complete(&f[1], NULL);
	future_complete(&f[2], NULL);
	run_loop();
	ck_assert_int_eq(norder, 5);
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[1], 0);
	ck_assert_int_eq(order[2], 4);
	ck_assert_int_eq(order[3], 1);
	ck_assert_int_eq(order[4], 2);
}
END_TEST

START_TEST(test_later_runs_after_now)
{
	struct future	a, b;

	future_init(&a, &sched);
	future_init(&b, &sched);
	future_start(&a);
	future_start(&b);
	future_then(&a, record, (void *)1);
	future_then(&b, record, (void *)2);
	future_complete_later(&a, 0);
	future_complete(&b, NULL);
	run_loop();
	ck_assert_int_eq(norder, 2);
	ck_assert_int_eq(order[0], 2);
	ck_assert_int_eq(order[1], 1);
}
END_TEST

START_TEST(test_cancel_prevents_continuation)
{
	struct future	f;

	future_init(&f, &sched);
	future_start(&f);
	future_then(&f, record, (void *)1);
	future_complete(&f, NULL);
	future_cancel(&f);		/* the owner is torn down */
	run_loop();
	ck_assert_int_eq(norder, 0);
	ck_assert_int_eq(future_error(&f), ECANCELED);
	/* The slot can be used again. */
	future_start(&f);
	future_then(&f, record, (void *)2);
	future_complete(&f, NULL);
	run_loop();
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(order[0], 2);
}
END_TEST

START_TEST(test_cancel_pending)
{
	struct future	f;

	future_init(&f, &sched);
	future_start(&f);
	future_then(&f, record, (void *)1);
	future_cancel(&f);
	ck_assert(!future_pending(&f));
	run_loop();
	ck_assert_int_eq(norder, 0);
}
END_TEST

/* A continuation tears down another object whose future is due. */
static struct future	victim;

static void
teardown_other(struct future *f, void *arg)
{
	record(f, arg);
	future_cancel(&victim);
}

START_TEST(test_cancel_from_continuation)
{
	struct future	killer;

	future_init(&killer, &sched);
	future_init(&victim, &sched);
	future_start(&killer);
	future_start(&victim);
	future_then(&killer, teardown_other, (void *)1);
	future_then(&victim, record, (void *)2);
	future_complete(&killer, NULL);
	future_complete(&victim, NULL);
	run_loop();
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(order[0], 1);
}
END_TEST

/* A "client" with many buffered lines: re-arming completes at once. */
static struct future	chain;
static int		chain_left;

static void
chain_step(struct future *f, void *arg)
{
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (--chain_left > 0) {
		future_start(&chain);
		future_then(&chain, chain_step, NULL);
		future_complete(&chain, NULL);
	}
	depth--;
}

START_TEST(test_no_recursion)
{
	future_init(&chain, &sched);
	chain_left = 200000;
	future_start(&chain);
	future_then(&chain, chain_step, NULL);
	future_complete(&chain, NULL);
	run_loop();
	ck_assert_int_eq(chain_left, 0);
	ck_assert_int_eq(max_depth, 1);
}
END_TEST

/*
 * Misuse aborts loudly, naming the future and what was done to it.  The
 * future is static so that the test knows its address, which the message
 * names.
 */
static struct future	misused;

/* What future_panic() writes for misused in state before abort(). */
static void
expect_panic(void (*fn)(void *), const char *what, int state)
{
	char	want[256];

	snprintf(want, sizeof want, "chatd: future %p: %s (state %d)\n",
	    (void *)&misused, what, state);
	death_expect(fn, NULL, 128 + SIGABRT, want);
}

static void
double_complete(void *arg)
{
	future_init(&misused, &sched);
	future_start(&misused);
	future_complete(&misused, NULL);
	future_complete(&misused, NULL);
}

START_TEST(test_double_complete_aborts)
{
	expect_panic(double_complete, "completed while not pending",
	    FUTURE_DONE);
}
END_TEST

static void
complete_idle(void *arg)
{
	future_init(&misused, &sched);
	future_fail(&misused, EIO);
}

START_TEST(test_complete_idle_aborts)
{
	expect_panic(complete_idle, "completed while not pending",
	    FUTURE_IDLE);
}
END_TEST

static void
second_continuation(void *arg)
{
	future_init(&misused, &sched);
	future_start(&misused);
	future_then(&misused, record, NULL);
	future_then(&misused, record, NULL);
}

START_TEST(test_second_continuation_aborts)
{
	expect_panic(second_continuation, "second continuation",
	    FUTURE_PENDING);
}
END_TEST

static void
start_while_pending(void *arg)
{
	future_init(&misused, &sched);
	future_start(&misused);
	future_start(&misused);
}

START_TEST(test_start_while_pending_aborts)
{
	expect_panic(start_while_pending, "started while pending",
	    FUTURE_PENDING);
}
END_TEST

static Suite *
future_suite(void)
{
	Suite	*s = suite_create("future");
	TCase	*tc = tcase_create("semantics");
	TCase	*misuse = tcase_create("misuse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_complete_runs_from_loop);
	tcase_add_test(tc, test_fail_carries_errno);
	tcase_add_test(tc, test_then_after_done);
	tcase_add_test(tc, test_continuations_in_completion_order);
	tcase_add_test(tc, test_later_runs_after_now);
	tcase_add_test(tc, test_cancel_prevents_continuation);
	tcase_add_test(tc, test_cancel_pending);
	tcase_add_test(tc, test_cancel_from_continuation);
	tcase_add_test(tc, test_no_recursion);
	suite_add_tcase(s, tc);

	/* Misuse aborts loudly (in a child of the test: death.h). */
	tcase_add_checked_fixture(misuse, setup, teardown);
	tcase_add_test(misuse, test_double_complete_aborts);
	tcase_add_test(misuse, test_complete_idle_aborts);
	tcase_add_test(misuse, test_second_continuation_aborts);
	tcase_add_test(misuse, test_start_while_pending_aborts);
	suite_add_tcase(s, misuse);
	return (s);
}

int
main(void)
{
	return run_suite(future_suite());
}
