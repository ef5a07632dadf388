/*
 * Unit tests for worker.c on a real event base: a job runs on a worker
 * thread, not the loop's, and its future completes on the loop, with the
 * job as its value and its continuation run from the scheduler; jobs
 * beyond max_queued are refused until one is done; and freeing the pool
 * hands the jobs that never completed to their discard().
 */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

#define NJOBS		20
#define LOOP_MAX	100000	/* loop turns waited for, at most */

struct job {
	struct worker_job	 w;	/* first: a worker_job is a job */
	pthread_t		 ran_on;
	int			 ran;
	int			 done;
	int			*discarded;
	pthread_mutex_t		*gate;	/* held: the job waits */
};

static void
job_run(struct worker_job *w)
{
	struct job	*j = (struct job *)w;

	if (j->gate != NULL) {
		pthread_mutex_lock(j->gate);
		pthread_mutex_unlock(j->gate);
	}
	j->ran_on = pthread_self();
	j->ran = 1;
}

static void
job_discard(struct worker_job *w)
{
	struct job	*j = (struct job *)w;

	(*j->discarded)++;
}

static void
job_done(struct future *f, void *arg)
{
	struct job	*j = arg;

	ck_assert_ptr_eq(future_value(f), &j->w);
	ck_assert_int_eq(future_error(f), 0);
	j->done = 1;
}

static void
job_init(struct job *j, int *discarded, pthread_mutex_t *gate)
{
	memset(j, 0, sizeof *j);
	j->w.run = job_run;
	j->w.discard = job_discard;
	j->discarded = discarded;
	j->gate = gate;
}

/* Runs the loop until every job of js is done (bounded). */
static void
loop_until_done(struct event_base *base, struct job *js, int n)
{
	int	turns, i, all;

	for (turns = 0; turns < LOOP_MAX; turns++) {
		for (all = 1, i = 0; i < n; i++)
			all &= js[i].done;
		if (all)
			return;
		event_base_loop(base, EVLOOP_ONCE);
	}
	ck_abort_msg("jobs not done after %d loop turns", LOOP_MAX);
}

START_TEST(test_jobs_complete)
{
	struct event_base	*base = event_base_new();
	struct future_sched	 sched;
	struct workers		*w;
	struct job		 js[NJOBS];
	struct future		*f;
	int			 i, discarded = 0;

	ck_assert_int_eq(future_sched_init(&sched, base), 0);
	w = workers_new(base, &sched, 3, NJOBS);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < NJOBS; i++) {
		job_init(&js[i], &discarded, NULL);
		ck_assert_ptr_nonnull(f = worker_submit(w, &js[i].w));
		future_then(f, job_done, &js[i]);
	}
	ck_assert_uint_eq(worker_busy(w), NJOBS);
	loop_until_done(base, js, NJOBS);
	for (i = 0; i < NJOBS; i++) {
		ck_assert(js[i].ran);
		ck_assert(!pthread_equal(js[i].ran_on, pthread_self()));
	}
	ck_assert_uint_eq(worker_busy(w), 0);
	workers_free(w);
	ck_assert_int_eq(discarded, 0);
	future_sched_free(&sched);
	event_base_free(base);
}
END_TEST

START_TEST(test_queue_bound_and_free)
{
	struct event_base	*base = event_base_new();
	struct future_sched	 sched;
	struct workers		*w;
	pthread_mutex_t		 gate = PTHREAD_MUTEX_INITIALIZER;
	struct job		 js[3];
	int			 discarded = 0;

	ck_assert_int_eq(future_sched_init(&sched, base), 0);
	w = workers_new(base, &sched, 1, 2);
	ck_assert_ptr_nonnull(w);
	/* The one worker is held at the gate: the queue fills. */
	pthread_mutex_lock(&gate);
	job_init(&js[0], &discarded, &gate);
	job_init(&js[1], &discarded, &gate);
	job_init(&js[2], &discarded, NULL);
	ck_assert_ptr_nonnull(worker_submit(w, &js[0].w));
	ck_assert_ptr_nonnull(worker_submit(w, &js[1].w));
	ck_assert_ptr_null(worker_submit(w, &js[2].w));
	ck_assert_uint_eq(worker_busy(w), 2);
	/* Freed with both pending: each is discarded, once. */
	pthread_mutex_unlock(&gate);
	workers_free(w);
	ck_assert_int_eq(discarded, 2);
	future_sched_free(&sched);
	event_base_free(base);
}
END_TEST

static Suite *
worker_suite(void)
{
	Suite	*s = suite_create("worker");
	TCase	*tc = tcase_create("worker");

	tcase_add_test(tc, test_jobs_complete);
	tcase_add_test(tc, test_queue_bound_and_free);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(worker_suite()));
}
