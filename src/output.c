/*
 * output.c: what a client is sent: queuing, writing, the output limits,
 * and the buffers a client holds only while it needs them.
 *
 * Output is not left to a bufferevent's write event.  Once a loop turn's
 * lines are handled, the server flushes: output_flush() writes each room
 * member's part of the turn's broadcasts (turn.c) with one writev()
 * straight from the turn's buffer when nothing else is queued for it;
 * otherwise that part is queued behind the rest and the lot is written
 * with evbuffer_write().  Clients with output of their own (a notice, a
 * private line) are on the server's flush list.  A socket that takes
 * everything never costs the epoll_ctl() calls of arming and disarming a
 * write event, nor any queuing (Redis's handleClientsWithPendingWrites
 * is the model).  Only when the socket is full is what is left handed to
 * the client's bufferevent with EV_WRITE enabled, so that it finishes the
 * job and reports the drain.
 *
 * Two queues, and at most one of them holds anything: c->out, ours,
 * written by output_flush(); and the bufferevent's output, used only while
 * the socket is full.  Output queued while the bufferevent is writing goes
 * behind it, into its buffer; otherwise into c->out.  So chatd never drains
 * a bufferevent's output itself: a socket bufferevent freezes the start of
 * its output against that, and thawing it (as the bufferevent's own write
 * callback does) would lean on how libevent works inside.  libevent has no
 * public call that writes a socket bufferevent's output now.
 *
 * Sleeping: a bufferevent costs about 1 KiB (two struct events and two
 * evbuffers), more than the rest of a client, and most clients of a chat
 * room are quiet most of the time.  So a client is either awake, with a
 * bufferevent doing its reads, or asleep: a bare socket with one read
 * event embedded in the client that wakes it (allocated at each sleep, it
 * would land among freed bufferevents and keep their pages resident).
 * New clients start asleep.  The cron puts a client back to sleep after a
 * whole period without I/O with nothing buffered either way
 * (client_cron(), output_sleep()); input wakes it, and so does output the
 * socket does not take at once, which needs the bufferevent's write event.
 * A sleeper that only receives, promptly, stays asleep: its output is
 * written by output_flush() as an awake client's is.  nginx frees the
 * buffers of its idle keep-alive connections for the same reason.  The
 * README's performance section has the figures.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chatd.h"

/*
 * Queued output shorter than this (what the socket did not take of a
 * turn) is copied into the recipient's queue, longer output referenced
 * (evbuffer_add_reference): a reference costs a chain per recipient, which
 * for short lines costs more than the copy it saves (README, performance).
 */
#define SHARE_MIN	256

static void	output_limits(struct client *);
static void	output_write_callback(struct bufferevent *, void *);
static void	output_drain_callback(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);

/* Where new output goes: behind what the bufferevent writes, or c->out. */
static struct evbuffer *
output_buffer(struct client *c)
{
	struct evbuffer	*bout;

	/* A TLS client's bufferevent encrypts and writes everything. */
	if (c->flags & CLIENT_TLS)
		return (bufferevent_get_output(c->bev));
	if (c->bev != NULL) {
		bout = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(bout) != 0)
			return (bout);
	}
	if (c->out == NULL && (c->out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	return (c->out);
}

/* Bytes queued for c and not yet written. */
size_t
output_length(const struct client *c)
{
	size_t	n = 0;

	if (c->out != NULL)
		n = evbuffer_get_length(c->out);
	if (c->bev != NULL)
		n += evbuffer_get_length(bufferevent_get_output(c->bev));
	return (n);
}

static void
output_msg_cleanup(const void *data, size_t len, void *arg)
{
	msg_unref(arg);
}

/* Queues bytes of m: copied if short, else referenced (see SHARE_MIN). */
static void
output_queue_msg(struct client *c, struct msg *m, const char *data,
    size_t len)
{
	struct evbuffer	*out = output_buffer(c);

	if (len < SHARE_MIN) {
		evbuffer_add(out, data, len);
		return;
	}
	msg_ref(m);
	if (evbuffer_add_reference(out, data, len, output_msg_cleanup, m) !=
	    0) {
		msg_unref(m);
		fatalx("evbuffer_add_reference failed");
	}
}

/* Counts lines of the turn handed to c (chatctl who, the metrics). */
static void
output_delivered(struct client *c, unsigned lines)
{
	c->lines_out += lines;
	c->server->stats.deliveries += lines;
}

/* Counts bytes written to c's socket. */
static void
output_sent(struct client *c, size_t n)
{
	c->bytes_out += n;
	c->server->stats.bytes_out += n;
}

/* Queues a part of the turn (turn_part()), less its first skip bytes. */
static void
output_queue_part(struct client *c, const struct iovec *iov, int n,
    size_t skip)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		output_queue_msg(c, c->room->turn.buf,
		    (char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
		skip = 0;
	}
}

/*
 * Queues c's part of this turn's broadcasts (turn.c): anything queued for
 * c after it then comes after them, in the order it was said.
 */
void
output_sync(struct client *c)
{
	struct turn	*t;
	struct iovec	*iov;
	unsigned	 lines;
	int		 n;

	/* Not c->room->turn before this: a control client has no room. */
	if (!client_in_room(c))
		return;
	t = &c->room->turn;
	n = turn_part(t, c, &iov, &lines);
	output_queue_part(c, iov, n, 0);
	output_delivered(c, lines);
	turn_seen(t, c);
}

/* Output was queued: arm the send future, flush it this turn, limits. */
static void
output_queued(struct client *c)
{
	if (future_idle(&c->send))
		future_start(&c->send);
	if (!(c->flags & CLIENT_PENDING)) {
		c->flags |= CLIENT_PENDING | CLIENT_RECENT;
		server_pending(c->server, c);
	}
	output_limits(c);
}

/*
 * Queues one server line for c, CRLF added; it is written once the loop
 * turn's lines are handled.  Queuing never blocks: a client over its
 * output limit is closed, and nothing is queued for a closed client.
 */
void
output_printf(struct client *c, const char *fmt, ...)
{
	struct evbuffer	*out;
	va_list		 ap;

	if (c->state == CLIENT_CLOSING)
		return;
	output_sync(c);
	out = output_buffer(c);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	c->lines_out++;
	output_queued(c);
}

/*
 * Queues what b holds for c (moved, not copied), as output_printf() does
 * a line: a long answer built apart (chatctl --json).
 */
void
output_buffer_add(struct client *c, struct evbuffer *b)
{
	if (c->state == CLIENT_CLOSING)
		return;
	output_sync(c);
	if (evbuffer_add_buffer(output_buffer(c), b) != 0)
		fatalx("evbuffer_add_buffer failed");
	c->lines_out++;
	output_queued(c);
}

/* The bufferevent wrote some of what the socket had not taken. */
static void
output_drain_callback(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	if (info->n_deleted > 0)
		output_sent(arg, info->n_deleted);
}

/* The bufferevent wrote everything the socket had not taken. */
static void
output_write_callback(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if (!(c->flags & CLIENT_TLS))
		bufferevent_disable(c->bev, EV_WRITE);
	c->soft_ms = 0;
	if (output_length(c) != 0)
		return;		/* queued meanwhile: on the flush list */
	if (future_pending(&c->send))
		future_complete_size(&c->send, 0);
}

/*
 * Wakes a sleeping client: it gets a bufferevent, reading if it is in the
 * room.
 */
void
output_wake(struct client *c)
{
	struct server	*s = c->server;

	if (c->bev != NULL)
		return;
	/* The socket stays ours to close: see client_free(). */
	c->bev = bufferevent_socket_new(s->base, c->fd, 0);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, client_read_callback, output_write_callback,
	    client_event_callback, c);
	if (evbuffer_add_cb(bufferevent_get_output(c->bev),
	    output_drain_callback, c) == NULL)
		fatalx("evbuffer_add_cb failed");
	/* A new bufferevent has EV_WRITE on: ours is on only while full. */
	bufferevent_disable(c->bev, EV_WRITE);
	event_del(&c->wait_ev);
	c->flags |= CLIENT_RECENT;
	client_configure(c);
	if (client_reading(c) && !s->frozen)
		bufferevent_enable(c->bev, EV_READ);
	log_debug("client %llu [%s]: awake", (unsigned long long)c->id,
	    c->netaddr);
}

/*
 * Gives a TLS client its bufferevent, which runs the server side of the
 * handshake (bounded by handshake_timeout), then reads and writes through
 * TLS; its EV_WRITE stays on, since the bufferevent does all the writing.
 * A TLS client never sleeps: its session is in that bufferevent.
 */
void
output_tls(struct client *c)
{
	struct server	*s = c->server;
	struct timeval	 tv = { (time_t)s->config->tls_timeout, 0 };

	c->flags |= CLIENT_TLS | CLIENT_RECENT;
	c->bev = tls_bufferevent(s->tls_ctx, s->base, c->fd);
	bufferevent_setcb(c->bev, client_read_callback, output_write_callback,
	    client_event_callback, c);
	if (evbuffer_add_cb(bufferevent_get_output(c->bev),
	    output_drain_callback, c) == NULL)
		fatalx("evbuffer_add_cb failed");
	client_configure(c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/*
 * Puts an awake client to sleep if nothing is buffered either way and it
 * is reading (the caller checked the rest: client_cron()).  Returns 1 if
 * it now sleeps.
 */
int
output_sleep(struct client *c)
{
	short	enabled = bufferevent_get_enabled(c->bev);

	if ((c->flags & CLIENT_TLS) || !(enabled & EV_READ) ||
	    (enabled & EV_WRITE) ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0 ||
	    output_length(c) != 0)
		return (0);
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_add(&c->wait_ev, NULL);
	log_debug("client %llu [%s]: asleep", (unsigned long long)c->id,
	    c->netaddr);
	return (1);
}

/*
 * The socket is full: what c->out holds moves (chains, not bytes) to the
 * bufferevent, which writes it on EV_WRITE and reports the drain.
 */
static void
output_write_later(struct client *c)
{
	output_wake(c);
	if (c->out != NULL) {
		if (evbuffer_add_buffer(bufferevent_get_output(c->bev),
		    c->out) != 0)
			fatalx("evbuffer_add_buffer failed");
		evbuffer_free(c->out);
		c->out = NULL;
	}
	bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * Writes c's part of the turn with one writev() from the turn's buffer,
 * nothing else being queued, and queues what the socket did not take.
 * Returns -1 if c was closed, 1 if the socket is full, else 0.
 */
static int
output_write_turn(struct client *c)
{
	struct turn	*t;
	struct iovec	*iov;
	ssize_t		 w;
	unsigned	 lines;
	int		 n;

	if (!client_in_room(c))
		return (0);
	t = &c->room->turn;
	if ((n = turn_part(t, c, &iov, &lines)) == 0)
		return (0);
	turn_seen(t, c);
	output_delivered(c, lines);
	w = writev(c->fd, iov, n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_broken(c, "write", strerror(errno));
			return (-1);
		}
		w = 0;
	}
	output_sent(c, (size_t)w);
	output_queue_part(c, iov, n, (size_t)w);
	if (output_length(c) == 0)
		return (0);
	output_limits(c);
	return (c->state == CLIENT_CLOSING ? -1 : 1);
}

/*
 * Writes what is queued for c now, its part of the turn included.  What
 * the socket does not take is left to the bufferevent (output_write_later).
 * Completes the send future once everything is written.
 */
void
output_flush(struct client *c)
{
	int	n;

	c->flags &= ~CLIENT_PENDING;
	if (c->state == CLIENT_CLOSING)
		return;
	if (c->flags & CLIENT_TLS) {
		/* The bufferevent writes; its callback completes send. */
		output_sync(c);
		output_limits(c);
		if (c->state != CLIENT_CLOSING && output_length(c) == 0 &&
		    future_pending(&c->send))
			future_complete_size(&c->send, 0);
		return;
	}
	if (c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0) {
		/* The bufferevent is at it: the turn goes behind. */
		output_sync(c);
		output_limits(c);
		return;
	}
	if (c->out == NULL || evbuffer_get_length(c->out) == 0) {
		/* Nothing queued: the turn goes straight from its buffer. */
		switch (output_write_turn(c)) {
		case -1:
			return;
		case 1:
			output_write_later(c);
			return;
		}
	} else {
		output_sync(c);
		output_limits(c);
		if (c->state == CLIENT_CLOSING)
			return;
		n = evbuffer_write(c->out, c->fd);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			client_broken(c, "write", strerror(errno));
			return;
		}
		if (n > 0)
			output_sent(c, (size_t)n);
		if (evbuffer_get_length(c->out) != 0) {
			output_write_later(c);
			return;
		}
	}
	if (c->out != NULL) {
		evbuffer_free(c->out);
		c->out = NULL;
	}
	c->soft_ms = 0;
	if (future_pending(&c->send))
		future_complete_size(&c->send, 0);
}

/*
 * The output limits of c: a user's from [limits]; a control connection
 * may queue more (a long chatctl who), but must read it: anything it
 * leaves queued for output_soft_seconds closes it.  *soft is -1 for no
 * soft limit.
 */
static void
output_limits_of(const struct client *c, size_t *hard, long long *soft)
{
	struct config	*conf = c->server->config;

	if (c->flags & CLIENT_CONTROL) {
		*hard = conf->control_output;
		*soft = 0;
	} else {
		*hard = conf->output_hard;
		*soft = conf->output_soft != 0 ? (long long)conf->output_soft :
		    -1;
	}
}

/*
 * Enforces the output limits: over the hard limit, or over the soft limit
 * for output_soft_seconds, the client is dropped.
 */
void
output_check(struct client *c, uint64_t now)
{
	struct config	*conf = c->server->config;
	size_t		 queued = output_length(c), hard;
	long long	 soft;

	output_limits_of(c, &hard, &soft);
	if (hard != 0 && queued > hard) {
		log_notice("client %llu [%s]: output limit: %zu bytes queued, "
		    "hard limit %zu", (unsigned long long)c->id, c->netaddr,
		    queued, hard);
		client_close(c, "output limit");
	} else if (soft >= 0 && queued > (size_t)soft) {
		if (c->soft_ms == 0)
			c->soft_ms = now;
		else if (now - c->soft_ms >=
		    (uint64_t)conf->output_soft_seconds * 1000) {
			log_notice("client %llu [%s]: output limit: over %lld "
			    "bytes for %u second%s", (unsigned long long)c->id,
			    c->netaddr, soft, conf->output_soft_seconds,
			    conf->output_soft_seconds == 1 ? "" : "s");
			client_close(c, "output limit");
		}
	} else
		c->soft_ms = 0;
}

/* After output was queued: the limits, cheaply when under both. */
static void
output_limits(struct client *c)
{
	size_t		queued = output_length(c), hard;
	long long	soft;

	output_limits_of(c, &hard, &soft);
	if ((soft >= 0 && queued > (size_t)soft) ||
	    (hard != 0 && queued > hard) || c->soft_ms != 0)
		output_check(c, server_now_ms(c->server));
}

/* Frees c's output buffers and its bufferevent (client_free()). */
void
output_free(struct client *c)
{
	if (c->bev != NULL && (c->flags & CLIENT_TLS))
		tls_free(c->bev);
	else if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->out != NULL) {
		evbuffer_free(c->out);
		c->out = NULL;
	}
}

/* Handing over (server.c) -------------------------------------------------- */

/*
 * c's socket is about to be the successor's: nothing more is written to
 * it, not even by its bufferevent (output_release() undoes this).
 */
void
output_hold(struct client *c)
{
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_WRITE);
}

/* The handover failed: what the socket did not take is written again. */
void
output_release(struct client *c)
{
	if (c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		bufferevent_enable(c->bev, EV_WRITE);
	else if (c->out != NULL && evbuffer_get_length(c->out) != 0 &&
	    !(c->flags & CLIENT_PENDING)) {
		c->flags |= CLIENT_PENDING;
		server_pending(c->server, c);
	}
}

/*
 * What is queued for c and not written yet, in order, as one run of
 * bytes borrowed from c's queue (valid until it is written or freed).
 */
void
output_export(struct client *c, struct state_bytes *b)
{
	struct evbuffer	*q = c->out;

	b->p = NULL;
	b->len = 0;
	if (c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0) {
		/* At most one queue holds anything; should both, keep order. */
		q = bufferevent_get_output(c->bev);
		if (c->out != NULL && evbuffer_add_buffer(q, c->out) != 0)
			fatalx("evbuffer_add_buffer failed");
	}
	if (q == NULL || evbuffer_get_length(q) == 0)
		return;
	b->len = evbuffer_get_length(q);
	b->p = evbuffer_pullup(q, -1);
}

/*
 * Queues what a predecessor had queued for c and not written (before
 * anything else: c is new), to be written this loop turn.
 */
void
output_import(struct client *c, const struct state_bytes *b)
{
	if (b->len == 0)
		return;
	if (evbuffer_add(output_buffer(c), b->p, b->len) != 0)
		fatalx("evbuffer_add failed");
	output_queued(c);
}
