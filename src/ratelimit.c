/*
 * ratelimit.c: a token bucket counting lines.
 *
 * A client may send `burst` lines at once and `rate` lines a second after
 * that.  Tokens are kept in thousandths so that the arithmetic stays in
 * integers and refills smoothly at any rate.  libevent's rate-limit groups
 * count bytes, not lines, so the line budget is this small bucket; a
 * client out of tokens is not read until it has one again.
 */

#include <stdint.h>

#include "chatd.h"

void
ratelimit_init(struct ratelimit *r, uint64_t now_ms, unsigned burst)
{
	r->last_ms = now_ms;
	r->milli = burst * 1000U;
}

static void
ratelimit_refill(struct ratelimit *r, uint64_t now_ms, unsigned rate,
    unsigned burst)
{
	uint64_t	milli, cap = (uint64_t)burst * 1000;
	uint64_t	elapsed;

	if (now_ms <= r->last_ms)
		return;
	elapsed = now_ms - r->last_ms;
	/* Long enough to fill the bucket: no need to multiply (overflow). */
	if (elapsed >= cap / rate + 1)
		milli = cap;
	else
		milli = r->milli + elapsed * rate;
	r->milli = milli > cap ? (uint32_t)cap : (uint32_t)milli;
	r->last_ms = now_ms;
}

/*
 * Takes one line's token.  Returns 1 if the client may go on reading at
 * once, 0 if its bucket is empty and it must wait ratelimit_wait() ms.  A
 * rate of 0 means unlimited.
 */
int
ratelimit_take(struct ratelimit *r, uint64_t now_ms, unsigned rate,
    unsigned burst)
{
	if (rate == 0)
		return (1);
	if (burst == 0)
		burst = 1;
	ratelimit_refill(r, now_ms, rate, burst);
	if (r->milli >= 1000)
		r->milli -= 1000;
	else
		r->milli = 0;
	return (r->milli >= 1000);
}

/*
 * Milliseconds until the client may read its next line (0: now), after
 * refilling the bucket to now_ms.
 */
uint64_t
ratelimit_ready(struct ratelimit *r, uint64_t now_ms, unsigned rate,
    unsigned burst)
{
	if (rate == 0)
		return (0);
	ratelimit_refill(r, now_ms, rate, burst == 0 ? 1 : burst);
	return (ratelimit_wait(r, rate));
}

/* Milliseconds until the bucket holds one token again. */
uint64_t
ratelimit_wait(const struct ratelimit *r, unsigned rate)
{
	if (rate == 0 || r->milli >= 1000)
		return (0);
	return ((1000 - r->milli + rate - 1) / rate);
}
