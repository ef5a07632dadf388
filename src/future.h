/*
 * future.h: one-shot completion slots delivered from the event loop.
 */

#ifndef CHATD_FUTURE_H
#define CHATD_FUTURE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;
struct future;

typedef void (*future_fn)(struct future *, void *);

/*
 * The scheduler: one per event loop.  It owns two queues of completed
 * futures whose continuations are due: "now" (run in this loop turn) and
 * "later" (run after the loop has polled for I/O once more).
 */
struct future_sched {
	struct event		*now_ev;
	struct event		*later_ev;
	TAILQ_HEAD(, future)	 now;
	TAILQ_HEAD(, future)	 later;
	uint64_t		 pass;	/* dispatch passes so far */
};

/*
 * A future is a slot owned by the object it serves (a client's read-line
 * and send slots, a listener's accept slot).  It is embedded, never
 * allocated on its own, and reused for every operation of its kind.
 */
struct future {
	TAILQ_ENTRY(future)	 entry;	/* on a scheduler queue */
	struct future_sched	*sched;
	future_fn		 fn;	/* the one continuation */
	void			*arg;
	union {
		void		*ptr;
		size_t		 size;
	}			 value;
	int			 error;	/* errno value when failed, else 0 */
	uint8_t			 state;
#define FUTURE_IDLE	0	/* no operation */
#define FUTURE_PENDING	1	/* operation in flight */
#define FUTURE_DONE	2	/* completed or failed */
	uint8_t			 queued;
#define FUTURE_Q_NONE	0
#define FUTURE_Q_NOW	1
#define FUTURE_Q_LATER	2
	uint8_t			 later;	/* its continuation waits for I/O */
};

int	 future_sched_init(struct future_sched *, struct event_base *);
void	 future_sched_free(struct future_sched *);

void	 future_init(struct future *, struct future_sched *);
void	 future_start(struct future *);
void	 future_complete(struct future *, void *);
void	 future_complete_size(struct future *, size_t);
void	 future_complete_later(struct future *, size_t);
void	 future_fail(struct future *, int);
void	 future_fail_size(struct future *, int, size_t);
void	 future_then(struct future *, future_fn, void *);
void	 future_cancel(struct future *);
int	 future_idle(const struct future *);

#define future_pending(f)	((f)->state == FUTURE_PENDING)
#define future_done(f)		((f)->state == FUTURE_DONE)
#define future_error(f)		((f)->error)
#define future_value(f)		((f)->value.ptr)
#define future_size(f)		((f)->value.size)

#endif /* CHATD_FUTURE_H */
