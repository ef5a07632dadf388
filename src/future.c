/*
 * future.c: futures, the way chatd expresses its I/O.
 *
 * An operation (accept a connection, read a line, flush queued output)
 * returns a future: a slot that is pending, then completed with a value or
 * failed with an errno value, and that runs at most one continuation.  A
 * client's life then reads as a loop of continuations: read a line,
 * broadcast it, read the next.
 *
 * Completion never runs the continuation in place.  The completed future is
 * put on the scheduler's queue and its continuation runs from the event
 * loop, so a client with a hundred buffered lines does not recurse a
 * hundred deep, and a continuation may tear down the object that owns the
 * future.  Two queues exist: "now" runs in the current loop turn (FIFO, so
 * ready clients take turns line by line), "later" runs only after the loop
 * has polled for I/O again; a client that used its share of a pass yields
 * through it.
 *
 * Rejected: an event embedded in every future.  A struct event is ~130
 * bytes and a client owns two futures, which alone would spend a quarter of
 * the per-connection memory budget; a ready queue costs two pointers a
 * future and one event per loop.  Also rejected: reference-counted, heap
 * allocated futures as in most runtimes; here a future is a slot owned by
 * its object, cancelled when the object is torn down, so no allocation per
 * line and no continuation can run on freed memory.
 *
 * Misuse (completing twice, arming a second continuation, starting an
 * operation while one is in flight) is a programming error and aborts.
 */

#include <sys/queue.h>
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "future.h"

/* Continuations run in one "now" pass before the loop polls I/O again. */
#define FUTURE_PASS_BUDGET	65536

static void	future_now_callback(evutil_socket_t, short, void *);
static void	future_later_callback(evutil_socket_t, short, void *);

static void __attribute__((noreturn))
future_panic(const char *what, const struct future *f)
{
	fprintf(stderr, "chatd: future %p: %s (state %d)\n", (const void *)f,
	    what, f->state);
	abort();
}

int
future_sched_init(struct future_sched *s, struct event_base *base)
{
	TAILQ_INIT(&s->now);
	TAILQ_INIT(&s->later);
	s->pass = 0;
	s->now_ev = event_new(base, -1, 0, future_now_callback, s);
	s->later_ev = event_new(base, -1, 0, future_later_callback, s);
	if (s->now_ev == NULL || s->later_ev == NULL) {
		future_sched_free(s);
		return (-1);
	}
	return (0);
}

/* Frees the scheduler's events; queued futures are simply forgotten. */
void
future_sched_free(struct future_sched *s)
{
	struct future	*f;

	while ((f = TAILQ_FIRST(&s->now)) != NULL) {
		TAILQ_REMOVE(&s->now, f, entry);
		f->queued = FUTURE_Q_NONE;
	}
	while ((f = TAILQ_FIRST(&s->later)) != NULL) {
		TAILQ_REMOVE(&s->later, f, entry);
		f->queued = FUTURE_Q_NONE;
	}
	if (s->now_ev != NULL)
		event_free(s->now_ev);
	if (s->later_ev != NULL)
		event_free(s->later_ev);
	s->now_ev = s->later_ev = NULL;
}

/* Runs the continuation of f, the head of the "now" queue. */
static void
future_deliver(struct future_sched *s, struct future *f)
{
	future_fn	 fn = f->fn;
	void		*arg = f->arg;

	TAILQ_REMOVE(&s->now, f, entry);
	f->queued = FUTURE_Q_NONE;
	f->fn = NULL;
	f->arg = NULL;
	fn(f, arg);
}

static void
future_run(struct future_sched *s)
{
	struct future	*f;
	int		 budget = FUTURE_PASS_BUDGET;

	s->pass++;
	while ((f = TAILQ_FIRST(&s->now)) != NULL && budget-- > 0)
		future_deliver(s, f);
	if (!TAILQ_EMPTY(&s->now)) {
		/* Let the loop poll I/O before the rest. */
		struct timeval	 zero = { 0, 0 };

		event_add(s->now_ev, &zero);
	}
}

static void
future_now_callback(evutil_socket_t fd, short events, void *arg)
{
	future_run(arg);
}

static void
future_later_callback(evutil_socket_t fd, short events, void *arg)
{
	struct future_sched	*s = arg;
	struct future		*f;

	while ((f = TAILQ_FIRST(&s->later)) != NULL) {
		TAILQ_REMOVE(&s->later, f, entry);
		TAILQ_INSERT_TAIL(&s->now, f, entry);
		f->queued = FUTURE_Q_NOW;
	}
	future_run(s);
}

/* Puts a completed future with a continuation on a queue. */
static void
future_schedule(struct future *f, int later)
{
	struct future_sched	*s = f->sched;
	struct timeval		 zero = { 0, 0 };

	if (later) {
		if (TAILQ_EMPTY(&s->later))
			event_add(s->later_ev, &zero);
		TAILQ_INSERT_TAIL(&s->later, f, entry);
		f->queued = FUTURE_Q_LATER;
	} else {
		if (TAILQ_EMPTY(&s->now))
			event_active(s->now_ev, 0, 0);
		TAILQ_INSERT_TAIL(&s->now, f, entry);
		f->queued = FUTURE_Q_NOW;
	}
}

void
future_init(struct future *f, struct future_sched *s)
{
	f->sched = s;
	f->fn = NULL;
	f->arg = NULL;
	f->value.ptr = NULL;
	f->error = 0;
	f->state = FUTURE_IDLE;
	f->queued = FUTURE_Q_NONE;
	f->later = 0;
}

/*
 * Begins an operation: the future becomes pending.  A completed future may
 * be started again once its continuation has run (or if it never had one).
 */
void
future_start(struct future *f)
{
	if (f->state == FUTURE_PENDING)
		future_panic("started while pending", f);
	if (f->queued != FUTURE_Q_NONE)
		future_panic("started with a continuation due", f);
	f->state = FUTURE_PENDING;
	f->error = 0;
	f->later = 0;
	f->value.ptr = NULL;
}

static void
future_settle(struct future *f, int later)
{
	if (f->state != FUTURE_PENDING)
		future_panic("completed while not pending", f);
	f->state = FUTURE_DONE;
	/* Kept for future_then() when no continuation is armed yet. */
	f->later = (uint8_t)later;
	if (f->fn != NULL)
		future_schedule(f, later);
}

void
future_complete(struct future *f, void *value)
{
	f->value.ptr = value;
	future_settle(f, 0);
}

void
future_complete_size(struct future *f, size_t size)
{
	f->value.size = size;
	future_settle(f, 0);
}

/*
 * Completes the future, but its continuation runs only after the loop has
 * polled for I/O again: how a busy producer yields its turn.
 */
void
future_complete_later(struct future *f, size_t size)
{
	f->value.size = size;
	future_settle(f, 1);
}

void
future_fail(struct future *f, int error)
{
	f->error = error;
	future_settle(f, 0);
}

/* Fails the future with a value too (what the failure was measured by). */
void
future_fail_size(struct future *f, int error, size_t size)
{
	f->value.size = size;
	future_fail(f, error);
}

/*
 * Attaches the continuation, run once from the event loop when the future
 * is done (at once if it already is).  A future has one continuation per
 * operation; attaching a second is an error.
 */
void
future_then(struct future *f, future_fn fn, void *arg)
{
	if (f->fn != NULL)
		future_panic("second continuation", f);
	if (f->state == FUTURE_IDLE)
		future_panic("continuation without an operation", f);
	f->fn = fn;
	f->arg = arg;
	if (f->state == FUTURE_DONE)
		future_schedule(f, f->later);
}

/*
 * Cancels whatever the future was doing: its continuation will not run and
 * the slot is idle again.  Safe in any state; this is how an owner that is
 * being torn down makes sure nothing runs on its memory afterwards.
 */
void
future_cancel(struct future *f)
{
	struct future_sched	*s = f->sched;

	if (f->queued == FUTURE_Q_NOW)
		TAILQ_REMOVE(&s->now, f, entry);
	else if (f->queued == FUTURE_Q_LATER)
		TAILQ_REMOVE(&s->later, f, entry);
	f->queued = FUTURE_Q_NONE;
	f->fn = NULL;
	f->arg = NULL;
	f->error = ECANCELED;
	f->state = FUTURE_IDLE;
}

/*
 * Whether the slot is free for a new operation: nothing in flight and no
 * continuation armed or due.  A future that completed and whose
 * continuation has run (or that never had one) is idle again.
 */
int
future_idle(const struct future *f)
{
	return (f->state != FUTURE_PENDING && f->queued == FUTURE_Q_NONE &&
	    f->fn == NULL);
}
