/*
 * client.c: one connected peer and its life as a loop of futures.
 *
 * A client owns a bufferevent (its socket) and two futures: `read`, which
 * client_read_line() arms and which completes with the next whole line, and
 * `send`, pending while queued output has not reached the socket.  The loop
 * is client_loop() -> client_line_callback() -> client_loop(): read a line,
 * hand it to the server (sanitise, command or broadcast), read the next.
 *
 * The line is borrowed, not copied: it stays in the bufferevent's input
 * buffer, made contiguous by client_line(), and is drained by the next
 * client_read_line().  The input buffer's high watermark stops reading at
 * max_line plus one read, so a client that is throttled, or whose lines are
 * not consumed yet, is pushed back by TCP instead of growing our memory.
 *
 * Fairness: a client may complete LINES_PER_PASS lines in one scheduler
 * pass, then its next line is delivered after the loop has polled I/O
 * again (future_complete_later()), in the manner of memcached's per-event
 * request limit.
 *
 * Writing: output is not left to the bufferevent's write event.  Once
 * the loop turn's lines are handled, the server flushes: client_flush()
 * writes each room member's part of the turn's broadcasts (turn.c) with
 * one writev() straight from the turn's buffer when nothing else is
 * queued for it, else it queues that part behind the rest and writes the
 * lot; clients with output of their own (notices, private lines) are on
 * the server's flush list.  A socket that takes it all never costs the
 * two epoll_ctl() calls of arming and disarming a write event (measured:
 * 2.5 epoll_ctl per delivery before), nor any queuing.  Only when the
 * socket is full is what is left queued and EV_WRITE enabled, so that the
 * bufferevent finishes the job and reports the drain (Redis's
 * handleClientsWithPendingWrites is the model).  Writing the turn from
 * one buffer instead of queuing each line on each client cut the server's
 * CPU per million deliveries from 0.14 to 0.10 s at 16 lines in flight
 * per sender and from 0.080 to 0.058 s at 64 (make bench, fan-out 100x10).
 *
 * Sleeping: a bufferevent costs 976 bytes (two struct events and two
 * evbuffers), three times what the rest of a client does, and most
 * clients of a chat room are quiet most of the time.  So a client is
 * either awake, with a bufferevent doing its I/O, or asleep: a bare socket
 * with one read event that wakes it, and an output evbuffer made only
 * while it has something queued.  The read event is part of the client
 * (as tmux embeds its events), not allocated at each sleep: allocations
 * made then would land among the freed bufferevents and keep their pages
 * resident.  New clients start asleep.
 * The cron puts a client back to sleep once a whole cron period passed
 * without I/O and nothing is buffered either way (client_cron()); it is
 * woken by input, or by output the socket does not take at once, which
 * then needs the bufferevent's write event.  A sleeping client that only
 * receives, promptly, stays asleep: its output is written by
 * client_flush() as an awake client's is.  Idle clients thus cost about
 * 600 bytes instead of 1,450 (make bench, idle scenarios).  nginx frees
 * the buffers of its idle keep-alive connections for the same reason.
 *
 * Teardown happens in one place, client_close(): the client is marked,
 * unlinked, its futures cancelled and its callbacks cleared; the server
 * frees it from a deferred event, so nothing runs on freed memory.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chatd.h"

#define LINES_PER_PASS	64	/* lines a client handles per pass */
/*
 * Queued output shorter than this (what the socket did not take of a
 * turn, a history line) is copied into the recipient's output, longer
 * output referenced (evbuffer_add_reference).  A reference costs a chain of
 * its own per recipient: with 64-byte lines to 100 clients, referencing
 * everything took 0.17 CPU-s per million deliveries and 60 MB of RSS
 * against 0.07 and 5.5 MB copying (make bench, fan-out 100x10).
 */
#define SHARE_MIN	256
#define READ_SLACK	4096	/* input room beyond max_line */

static void	client_loop(struct client *);
static void	client_throttle(struct client *, uint64_t);
static void	client_try_read(struct client *);
static void	client_wake(struct client *);
static void	client_wake_callback(evutil_socket_t, short, void *);
static void	client_limits(struct client *);

/* Where output is queued: the bufferevent's, or the sleeper's own. */
static struct evbuffer *
client_buffer(struct client *c)
{
	if (c->bev != NULL)
		return (bufferevent_get_output(c->bev));
	if (c->out == NULL && (c->out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	return (c->out);
}

static void
client_msg_cleanup(const void *data, size_t len, void *arg)
{
	msg_unref(arg);
}

/* Queues bytes of m: copied if short, else referenced (see SHARE_MIN). */
static void
client_queue_msg(struct client *c, struct msg *m, const char *data,
    size_t len)
{
	struct evbuffer	*out = client_buffer(c);

	if (len < SHARE_MIN) {
		evbuffer_add(out, data, len);
		return;
	}
	msg_ref(m);
	if (evbuffer_add_reference(out, data, len, client_msg_cleanup, m) !=
	    0) {
		msg_unref(m);
		fatalx("evbuffer_add_reference failed");
	}
}

/*
 * Whether c is in the room: broadcasts reach it and it reads lines.  It
 * joins when admitted (and its loop starts at once) and leaves when it
 * starts closing.
 */
int
client_in_room(const struct client *c)
{
	return ((c->flags & CLIENT_CONNECTED) &&
	    !(c->flags & (CLIENT_FLUSHING | CLIENT_CLOSING)));
}

/* Queues a part of the turn (turn_part()), less its first skip bytes. */
static void
client_queue_part(struct client *c, const struct iovec *iov, int n,
    size_t skip)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		client_queue_msg(c, c->server->turn.buf,
		    (char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
		skip = 0;
	}
}

/*
 * Queues c's part of this turn's broadcasts (turn.c): anything queued for
 * c after it then comes after them, in the order it was said.
 */
static void
client_sync(struct client *c)
{
	struct turn	*t = &c->server->turn;
	struct iovec	*iov;
	int		 n;

	if (!client_in_room(c))
		return;
	n = turn_part(t, c, &iov);
	client_queue_part(c, iov, n, 0);
	turn_seen(t, c);
}

/* Where the next output goes, after what the room said before it. */
static struct evbuffer *
client_output(struct client *c)
{
	client_sync(c);
	return (client_buffer(c));
}

/* Bytes queued and not yet written. */
static size_t
client_output_length(struct client *c)
{
	if (c->bev != NULL)
		return (evbuffer_get_length(bufferevent_get_output(c->bev)));
	return (c->out != NULL ? evbuffer_get_length(c->out) : 0);
}

static void
client_read_callback(struct bufferevent *bev, void *arg)
{
	client_try_read(arg);
}

static void
client_write_callback(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	/* The bufferevent drained what client_flush() could not. */
	bufferevent_disable(c->bev, EV_WRITE);
	c->soft_ms = 0;
	if (future_pending(&c->send))
		future_complete_size(&c->send, 0);
}

/*
 * The socket failed (reset, broken pipe).  A client saying its last words
 * learns it through its send future; any other is closed at once.
 */
static void
client_broken(struct client *c, const char *how, const char *error)
{
	log_debug("client %llu [%s]: %s: %s", (unsigned long long)c->id,
	    c->netaddr, how, error);
	c->reason = "connection reset";
	if (future_pending(&c->send) && (c->flags & CLIENT_FLUSHING))
		future_fail(&c->send, ECONNRESET);
	else
		client_close(c, c->reason);
}

/*
 * The socket is full: what is queued waits for the bufferevent's write
 * event (a sleeper wakes for it), which reports the drain.
 */
static void
client_write_later(struct client *c)
{
	client_wake(c);
	bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * Writes c's part of the turn with one writev() from the turn's buffer
 * and queues what the socket did not take.  Returns -1 if c was closed,
 * 1 if the socket is full, else 0.
 */
static int
client_write_turn(struct client *c)
{
	struct turn	*t = &c->server->turn;
	struct iovec	*iov;
	ssize_t		 w;
	int		 n;

	if (!client_in_room(c) || (n = turn_part(t, c, &iov)) == 0)
		return (0);
	turn_seen(t, c);
	w = writev(c->fd, iov, n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_broken(c, "write", strerror(errno));
			return (-1);
		}
		w = 0;
	}
	client_queue_part(c, iov, n, (size_t)w);
	if (client_output_length(c) == 0)
		return (0);
	client_limits(c);
	return ((c->flags & CLIENT_CLOSING) ? -1 : 1);
}

/*
 * Writes the client's queued output now.  What the socket does not take
 * is left to the bufferevent, with EV_WRITE enabled until it drains.
 */
void
client_flush(struct client *c)
{
	struct evbuffer	*out;
	int		 n;

	c->flags &= ~CLIENT_PENDING;
	if (c->flags & CLIENT_CLOSING)
		return;
	if (client_output_length(c) == 0 && (c->bev == NULL ||
	    !(bufferevent_get_enabled(c->bev) & EV_WRITE))) {
		/* Nothing queued: the turn goes straight from its buffer. */
		switch (client_write_turn(c)) {
		case -1:
			return;
		case 1:
			client_write_later(c);
			return;
		}
	} else {
		client_sync(c);
		client_limits(c);
		if (c->flags & CLIENT_CLOSING)
			return;
	}
	out = c->bev != NULL ? bufferevent_get_output(c->bev) : c->out;
	if (out != NULL && evbuffer_get_length(out) != 0) {
		if (c->bev == NULL)
			n = evbuffer_write(out, c->fd);
		else if (bufferevent_get_enabled(c->bev) & EV_WRITE)
			return;		/* the bufferevent is at it */
		else {
			/*
			 * A socket bufferevent keeps the start of its output
			 * frozen against outside draining; thaw it for the
			 * write, as its own write callback does.
			 */
			evbuffer_unfreeze(out, 1);
			n = evbuffer_write(out, c->fd);
			evbuffer_freeze(out, 1);
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			client_broken(c, "write", strerror(errno));
			return;
		}
		if (evbuffer_get_length(out) != 0) {
			client_write_later(c);
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

static void
client_event_callback(struct bufferevent *bev, short events, void *arg)
{
	struct client	*c = arg;

	if (events & BEV_EVENT_ERROR) {
		client_broken(c, (events & BEV_EVENT_READING) ? "read" :
		    "write", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (events & BEV_EVENT_EOF) {
		/* Lines still buffered are delivered before it goes. */
		c->flags |= CLIENT_EOF;
		if (c->flags & CLIENT_FLUSHING)
			client_close(c, c->reason);
		else
			client_try_read(c);
	}
}

static void
client_set_socket_options(struct client *c, int fd)
{
	struct config	*conf = c->server->config;
	int		 on = 1, idle, intvl = 10, cnt = 6;

	/* Lines are small and latency matters more than packet count. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
		log_debug("client %llu: TCP_NODELAY: %s",
		    (unsigned long long)c->id, strerror(errno));
	if (conf->keepalive == 0)
		return;
	idle = (int)conf->keepalive;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) ==
	    -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) ==
	    -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) == -1)
		log_debug("client %llu: keepalive: %s",
		    (unsigned long long)c->id, strerror(errno));
}

/*
 * Makes a client of an accepted socket.  It is not yet in the room and
 * reads nothing until client_start().  Never fails: a socket libevent
 * cannot wrap is a broken invariant.
 */
struct client *
client_new(struct server *s, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct client	*c;

	c = xcalloc(1, sizeof *c);
	c->server = s;
	c->id = cluster_next_id(s);
	snprintf(c->name, sizeof c->name, "guest%llu",
	    (unsigned long long)c->id);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		/* A dual-stack socket (systemd's) shows IPv4 peers mapped. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
			    c->netaddr, sizeof c->netaddr);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, c->netaddr,
			    sizeof c->netaddr);
		c->port = ntohs(sin6->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, c->netaddr,
		    sizeof c->netaddr);
		c->port = ntohs(sin->sin_port);
	} else
		snprintf(c->netaddr, sizeof c->netaddr, "local");
	future_init(&c->read, &s->sched);
	future_init(&c->send, &s->sched);

	client_set_socket_options(c, fd);
	c->fd = fd;
	if (event_assign(&c->wait_ev, s->base, fd, EV_READ,
	    client_wake_callback, c) != 0)
		fatalx("event_assign failed");
	return (c);
}

/* Applies the limits of the current config (at start and on reload). */
void
client_configure(struct client *c)
{
	if (c->bev != NULL)
		bufferevent_setwatermark(c->bev, EV_READ, 0,
		    c->server->config->max_line + READ_SLACK);
}

/* Starts the client's loop: from now on it reads lines. */
void
client_start(struct client *c)
{
	if (c->bev != NULL) {
		client_configure(c);
		bufferevent_enable(c->bev, EV_READ);
	} else
		event_add(&c->wait_ev, NULL);
	client_loop(c);
}

/* Frees a client; only the server's reaper and listener teardown call it. */
void
client_free(struct client *c)
{
	future_cancel(&c->read);
	future_cancel(&c->send);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_del(&c->wait_ev);
	if (c->out != NULL)
		evbuffer_free(c->out);
	evutil_closesocket(c->fd);
	free(c->reason_buf);
	free(c);
}

/*
 * Wakes a sleeping client: it gets its bufferevent back, with what it had
 * queued, and reads again if it was reading.
 */
static void
client_wake(struct client *c)
{
	struct server	*s = c->server;

	if (c->bev != NULL)
		return;
	/* The socket is ours to close: see client_free(). */
	c->bev = bufferevent_socket_new(s->base, c->fd, 0);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, client_read_callback, client_write_callback,
	    client_event_callback, c);
	event_del(&c->wait_ev);
	if (c->out != NULL) {
		/* Moves the chains; nothing is copied. */
		evbuffer_add_buffer(bufferevent_get_output(c->bev), c->out);
		evbuffer_free(c->out);
		c->out = NULL;
	}
	c->flags |= CLIENT_RECENT;
	client_configure(c);
	if (client_in_room(c))
		bufferevent_enable(c->bev, EV_READ);
	log_debug("client %llu [%s]: awake", (unsigned long long)c->id,
	    c->netaddr);
}

/* Input (or end of file) on a sleeping client: the bufferevent reads it. */
static void
client_wake_callback(evutil_socket_t fd, short events, void *arg)
{
	client_wake(arg);
}

/*
 * Whether an awake client can sleep: it is reading (waiting for a line,
 * not throttled, paused, closing or at end of file), nothing is buffered
 * either way and no I/O happened since the previous cron.
 */
static int
client_may_sleep(struct client *c)
{
	if (c->bev == NULL ||
	    (c->flags & (CLIENT_CLOSING | CLIENT_FLUSHING | CLIENT_EOF |
	    CLIENT_DISCARD | CLIENT_THROTTLED | CLIENT_PENDING |
	    CLIENT_RECENT)) || !client_in_room(c))
		return (0);
	if (!future_pending(&c->read) || c->read.queued != FUTURE_Q_NONE ||
	    future_pending(&c->send) || c->send.queued != FUTURE_Q_NONE ||
	    c->line_len + c->eol_len != 0 || c->req != NULL ||
	    c->soft_ms != 0)
		return (0);
	if (!(bufferevent_get_enabled(c->bev) & EV_READ) ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return (0);
	return (1);
}

/*
 * The server's cron, once a second: a client quiet for a whole period goes
 * to sleep.  Returns 1 if it did.
 */
int
client_cron(struct client *c)
{
	if (c->flags & CLIENT_RECENT) {
		c->flags &= ~CLIENT_RECENT;
		return (0);
	}
	if (!client_may_sleep(c))
		return (0);
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_add(&c->wait_ev, NULL);
	log_debug("client %llu [%s]: asleep", (unsigned long long)c->id,
	    c->netaddr);
	return (1);
}

/*
 * Completes or fails the pending read future if the input allows:
 * a whole line, an over-long one, or end of file.
 */
static void
client_try_read(struct client *c)
{
	struct evbuffer		*in;
	struct future_sched	*sched = c->read.sched;
	size_t			 len, eol;

	if (!future_pending(&c->read) || c->bev == NULL)
		return;
	in = bufferevent_get_input(c->bev);
	if ((c->flags & CLIENT_DISCARD) && line_skip(in))
		c->flags &= ~CLIENT_DISCARD;
	if (!(c->flags & CLIENT_DISCARD)) {
		switch (line_next(in, c->server->config->max_line, &len,
		    &eol)) {
		case LINE_READY:
			c->line_len = len;
			c->eol_len = eol;
			if (c->pass != sched->pass) {
				c->pass = sched->pass;
				c->pass_lines = 0;
			}
			if (++c->pass_lines > LINES_PER_PASS)
				future_complete_later(&c->read, len);
			else
				future_complete_size(&c->read, len);
			return;
		case LINE_TOOLONG:
			if (eol != 0)
				evbuffer_drain(in, len + eol);
			else {
				evbuffer_drain(in, evbuffer_get_length(in));
				c->flags |= CLIENT_DISCARD;
			}
			future_fail(&c->read, EMSGSIZE);
			return;
		}
	}
	if (c->flags & CLIENT_EOF)
		future_fail(&c->read, ECONNRESET);
}

/*
 * Returns the read future: it completes with the length of the next line
 * (see client_line()), or fails with ECONNRESET at end of file or on error
 * and EMSGSIZE for a line over max_line, which is discarded.  Calling it
 * releases the line borrowed from the previous completion.
 */
struct future *
client_read_line(struct client *c)
{
	if (c->line_len + c->eol_len != 0) {
		/* A borrowed line means the client is awake. */
		evbuffer_drain(bufferevent_get_input(c->bev),
		    c->line_len + c->eol_len);
		c->line_len = c->eol_len = 0;
	}
	future_start(&c->read);
	client_try_read(c);
	return (&c->read);
}

/*
 * The line the read future completed with, without its end of line: valid
 * until the next client_read_line() or the client's teardown.
 */
const char *
client_line(struct client *c, size_t *len)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	*len = c->line_len;
	if (c->line_len == 0)
		return ("");
	return ((const char *)evbuffer_pullup(in, (ev_ssize_t)c->line_len));
}

static void
client_line_callback(struct future *f, void *arg)
{
	struct client	*c = arg;
	struct server	*s = c->server;
	struct config	*conf = s->config;
	const char	*line;
	size_t		 len;
	uint64_t	 now;
	int		 paused, ready;

	switch (future_error(f)) {
	case 0:
		break;
	case EMSGSIZE:
		log_info("client %llu [%s]: line over %zu bytes discarded",
		    (unsigned long long)c->id, c->netaddr, conf->max_line);
		client_printf(c, "*** line too long (over %zu bytes), "
		    "discarded", conf->max_line);
		client_loop(c);
		return;
	default:
		client_close(c, c->reason != NULL ? c->reason :
		    "connection closed");
		return;
	}

	now = server_now_ms(s);
	c->active_ms = now;
	c->flags |= CLIENT_RECENT;
	line = client_line(c, &len);
	paused = server_input(s, c, line, len);
	if (c->flags & (CLIENT_CLOSING | CLIENT_FLUSHING))
		return;
	ready = ratelimit_take(&c->rate, now, conf->rate_lines,
	    conf->rate_burst);
	if (paused)
		return;		/* client_resume() when the command is done */
	if (!ready) {
		client_throttle(c, now);
		return;
	}
	client_loop(c);
}

static void
client_loop(struct client *c)
{
	future_then(client_read_line(c), client_line_callback, c);
}

/* Out of rate budget: read nothing until it refills. */
static void
client_throttle(struct client *c, uint64_t now)
{
	struct config	*conf = c->server->config;

	c->flags |= CLIENT_THROTTLED;
	c->resume_ms = now + ratelimit_wait(&c->rate, conf->rate_lines);
	server_throttle(c->server, c);
}

/*
 * Resumes a paused client's loop: after its rate budget refilled, or when
 * a command that waited for another party is done.
 */
void
client_resume(struct client *c)
{
	struct config	*conf = c->server->config;
	uint64_t	 now = server_now_ms(c->server);

	c->flags &= ~CLIENT_THROTTLED;
	if (c->flags & (CLIENT_CLOSING | CLIENT_FLUSHING))
		return;
	if (ratelimit_ready(&c->rate, now, conf->rate_lines,
	    conf->rate_burst) != 0) {
		client_throttle(c, now);
		return;
	}
	client_loop(c);
}

/*
 * Enforces the output limits after output was queued: over the hard limit,
 * or over the soft limit for output_soft_seconds, the client is dropped.
 */
void
client_check_output(struct client *c, uint64_t now)
{
	struct config	*conf = c->server->config;
	size_t		 queued;

	queued = client_output_length(c);
	if (conf->output_hard != 0 && queued > conf->output_hard) {
		log_notice("client %llu [%s]: output limit: %zu bytes queued, "
		    "hard limit %zu", (unsigned long long)c->id, c->netaddr,
		    queued, conf->output_hard);
		client_close(c, "output limit");
	} else if (conf->output_soft != 0 && queued > conf->output_soft) {
		if (c->soft_ms == 0)
			c->soft_ms = now;
		else if (now - c->soft_ms >=
		    (uint64_t)conf->output_soft_seconds * 1000) {
			log_notice("client %llu [%s]: output limit: over %zu "
			    "bytes for %u seconds", (unsigned long long)c->id,
			    c->netaddr, conf->output_soft,
			    conf->output_soft_seconds);
			client_close(c, "output limit");
		}
	} else
		c->soft_ms = 0;
}

/* After output was queued: the limits, cheaply when under both. */
static void
client_limits(struct client *c)
{
	struct config	*conf = c->server->config;
	size_t		 queued;

	queued = client_output_length(c);
	if ((conf->output_soft != 0 && queued > conf->output_soft) ||
	    (conf->output_hard != 0 && queued > conf->output_hard) ||
	    c->soft_ms != 0)
		client_check_output(c, server_now_ms(c->server));
}

/* After output was queued: arm the send future, apply the limits. */
static struct future *
client_queued(struct client *c)
{
	if (!future_pending(&c->send) && c->send.queued == FUTURE_Q_NONE &&
	    c->send.fn == NULL)
		future_start(&c->send);
	if (!(c->flags & CLIENT_PENDING)) {
		c->flags |= CLIENT_PENDING | CLIENT_RECENT;
		server_pending(c->server, c);
	}
	client_limits(c);
	return (&c->send);
}

/*
 * Queues bytes for the client and returns its send future, which completes
 * once everything queued so far has been written to the socket.  Queuing
 * never blocks; a client over its output limit is closed, and a closed
 * client's futures are cancelled with it (continuations then never run).
 */
struct future *
client_send(struct client *c, const char *data, size_t len)
{
	if (c->flags & CLIENT_CLOSING)
		return (&c->send);
	evbuffer_add(client_output(c), data, len);
	return (client_queued(c));
}

/* The same for a shared line (a history line, a private message). */
struct future *
client_send_msg(struct client *c, struct msg *m)
{
	if (c->flags & CLIENT_CLOSING)
		return (&c->send);
	client_sync(c);
	client_queue_msg(c, m, m->data, m->len);
	return (client_queued(c));
}

/* Queues one server line; CRLF is added. */
void
client_printf(struct client *c, const char *fmt, ...)
{
	struct evbuffer	*out;
	va_list		 ap;

	if (c->flags & CLIENT_CLOSING)
		return;
	out = client_output(c);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	client_queued(c);
}

static void
client_flushed_callback(struct future *f, void *arg)
{
	struct client	*c = arg;

	client_close(c, c->reason);
}

/*
 * Closes the client once what is queued for it has been written (or
 * writing fails): how last words such as a refusal reach the peer.  The
 * server's cron closes it anyway if the peer does not read them.
 */
void
client_close_after_flush(struct client *c, const char *reason)
{
	if (c->flags & (CLIENT_CLOSING | CLIENT_FLUSHING))
		return;
	client_sync(c);		/* what was said before it leaves */
	c->flags |= CLIENT_FLUSHING;
	c->reason = reason;
	c->resume_ms = server_now_ms(c->server);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ);
	else
		event_del(&c->wait_ev);
	future_cancel(&c->read);
	if (!future_pending(&c->send) && c->send.queued == FUTURE_Q_NONE) {
		future_start(&c->send);
		if (client_output_length(c) == 0)
			future_complete_size(&c->send, 0);
	}
	future_then(&c->send, client_flushed_callback, c);
}

/*
 * Tears the client down: the one place a client ends.  It leaves the room
 * at once (no broadcast reaches it from now on), its futures are cancelled
 * and its socket silenced; the server frees it from a deferred event.
 */
void
client_close(struct client *c, const char *reason)
{
	if (c->flags & CLIENT_CLOSING)
		return;
	c->flags |= CLIENT_CLOSING;
	c->reason = reason != NULL ? reason : "closed";
	cluster_forget(c);
	if (c->flags & CLIENT_PENDING) {
		c->flags &= ~CLIENT_PENDING;
		TAILQ_REMOVE(&c->server->pending, c, out_entry);
	}
	future_cancel(&c->read);
	future_cancel(&c->send);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	} else
		event_del(&c->wait_ev);
	server_remove(c->server, c);
}
