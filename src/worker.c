/*
 * worker.c: a few threads for work that must not run on the event loop.
 *
 * A password hash takes tens of milliseconds of CPU on purpose (hash.c);
 * run on the loop, every login would stall every client for that long.
 * So the loop hands such work to a small pool of threads and carries on:
 * worker_submit() queues a job and returns its future, a worker runs the
 * job's run() with nothing of the server's in reach, and the loop
 * completes the future when it learns the job is done, so the waiting
 * client's life goes on as a continuation like any other ("read a line,
 * check the password, read the next").
 *
 * The threads share two lists under one mutex: jobs to do and jobs done.
 * A worker that finishes a job moves it to the done list and writes to an
 * eventfd; the loop's read event on it takes the whole done list and
 * completes each job's future.  Jobs are the submitter's (usually inside
 * a request that outlives its client); a job is never cancelled once
 * queued, and the submitter frees it from the future's continuation,
 * after which no thread holds it.
 *
 * Bounds: at most max_queued jobs wait or run at once; beyond that
 * worker_submit() says no and the caller tells its client to try again,
 * so a flood of logins costs a bounded queue, not memory.  Workers block
 * every signal, so that SIGHUP and SIGTERM reach the loop's thread.
 *
 * Workers run under SCHED_IDLE: a hash must not delay the loop even on a
 * machine with fewer cores than busy threads.  At the default priority a
 * worker woken beside the loop's thread shared its core with it for a
 * scheduler slice, and 10 logins a second put latency-logins-50x5's p99
 * at 3 ms (make bench; 0.4 ms without logins).  An idle-class thread
 * yields the core to the loop as soon as the loop has work, and still
 * gets the CPU nobody else wants, so logins are not starved on a machine
 * that is not saturated.  The shipped unit's system call filter forbids
 * sched_setscheduler() (it is in @resources, and allowing it raises the
 * unit's exposure from 1.2 to 1.4): there the workers run at the normal
 * priority, which costs nothing where cores are spare (chatd(8)).
 *
 * Hand-written rather than libevent's threading support: libevent offers
 * locking for a base used from many threads, not a pool, and what is
 * needed here (a list, a condition variable, an eventfd) is short.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chatd.h"

struct workers {
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;		/* a job to do, or stop */
	TAILQ_HEAD(, worker_job) todo;
	TAILQ_HEAD(, worker_job) done;
	unsigned		 busy;		/* queued, running or done */
	unsigned		 max_queued;
	int			 stopping;
	int			 efd;		/* eventfd: jobs are done */
	struct event		*ev;
	struct future_sched	*sched;
	pthread_t		*threads;
	unsigned		 nthreads;
};

/* Said once, by the first worker refused SCHED_IDLE. */
static atomic_flag	sched_told = ATOMIC_FLAG_INIT;

static void *
worker_main(void *arg)
{
	struct workers		*w = arg;
	struct worker_job	*job;
	struct sched_param	 idle;
	uint64_t		 one = 1;
	int			 e;

	memset(&idle, 0, sizeof idle);
	if ((e = pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle)) != 0 &&
	    !atomic_flag_test_and_set(&sched_told)) {
		/* chatd.service's system call filter forbids it (chatd.8). */
		log_info("worker: hashing at normal priority, not "
		    "SCHED_IDLE: %s", strerror(e));
	}
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stopping && TAILQ_EMPTY(&w->todo))
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stopping)
			break;
		job = TAILQ_FIRST(&w->todo);
		TAILQ_REMOVE(&w->todo, job, entry);
		pthread_mutex_unlock(&w->lock);
		job->run(job);
		pthread_mutex_lock(&w->lock);
		TAILQ_INSERT_TAIL(&w->done, job, entry);
		/* The counter only grows; a full one is read soon enough. */
		if (write(w->efd, &one, sizeof one) == -1 && errno != EAGAIN)
			log_warn("worker: eventfd");
	}
	pthread_mutex_unlock(&w->lock);
	return (NULL);
}

/* On the loop: completes the futures of the jobs done. */
static void
worker_done_callback(evutil_socket_t fd, short events, void *arg)
{
	struct workers		*w = arg;
	struct worker_job	*job;
	TAILQ_HEAD(, worker_job) done = TAILQ_HEAD_INITIALIZER(done);
	uint64_t		 n;

	if (read(w->efd, &n, sizeof n) == -1 && errno != EAGAIN)
		log_warn("worker: eventfd");
	pthread_mutex_lock(&w->lock);
	TAILQ_CONCAT(&done, &w->done, entry);
	pthread_mutex_unlock(&w->lock);
	while ((job = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, job, entry);
		w->busy--;
		future_complete(&job->done, job);
	}
}

/*
 * A pool of nthreads workers taking at most max_queued jobs at once.
 * Returns NULL, having logged why, if a thread or the eventfd cannot be
 * made.
 */
struct workers *
workers_new(struct event_base *base, struct future_sched *sched,
    unsigned nthreads, unsigned max_queued)
{
	struct workers	*w;
	sigset_t	 all, old;
	unsigned	 i;
	int		 e;

	w = xcalloc(1, sizeof *w);
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	TAILQ_INIT(&w->todo);
	TAILQ_INIT(&w->done);
	w->max_queued = max_queued;
	w->sched = sched;
	w->threads = xcalloc(nthreads, sizeof *w->threads);
	if ((w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("worker: eventfd");
		goto fail;
	}
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST,
	    worker_done_callback, w);
	if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
		log_warnx("worker: cannot watch the eventfd");
		goto fail;
	}
	/* The threads inherit this mask: signals are the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		if ((e = pthread_create(&w->threads[i], NULL, worker_main,
		    w)) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = e;
			log_warn("worker: pthread_create");
			goto fail;
		}
		w->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (w);
fail:
	workers_free(w);
	return (NULL);
}

/*
 * Queues job; its run() will be called on a worker thread, and the
 * returned future completes on the loop (with job as its value) once it
 * has returned.  NULL if max_queued jobs are already under way: the
 * caller keeps job and says "try again".
 */
struct future *
worker_submit(struct workers *w, struct worker_job *job)
{
	if (w->busy >= w->max_queued)
		return (NULL);
	future_init(&job->done, w->sched);
	future_start(&job->done);
	w->busy++;
	pthread_mutex_lock(&w->lock);
	TAILQ_INSERT_TAIL(&w->todo, job, entry);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return (&job->done);
}

/* Jobs queued or running, for the metrics. */
unsigned
worker_busy(const struct workers *w)
{
	return (w != NULL ? w->busy : 0);
}

/*
 * Stops the workers (a job under way is finished first) and frees the
 * pool.  Jobs that never completed are handed to their discard(), since
 * no continuation will run for them now.
 */
void
workers_free(struct workers *w)
{
	struct worker_job	*job;
	unsigned		 i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	TAILQ_CONCAT(&w->todo, &w->done, entry);
	while ((job = TAILQ_FIRST(&w->todo)) != NULL) {
		TAILQ_REMOVE(&w->todo, job, entry);
		future_cancel(&job->done);
		job->discard(job);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->efd != -1)
		close(w->efd);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
