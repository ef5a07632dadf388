/*
 * client.c: one connected peer, its life as a state and a loop of
 * futures: read a line, hand it on, read the next.
 *
 * A client goes NEW (accepted) -> ROOM (admitted: it reads lines and gets
 * broadcasts) -> FLUSHING (saying its last words, optional) -> CLOSING
 * (torn down, waiting for the reaper), forward only, through
 * client_set_state(), as memcached's conn_set_state() does.  Flags are
 * kept for what is independent of the phase (end of file seen, a long
 * line being skipped, throttled, paused for an answer, on the flush list).
 *
 * The read loop is client_loop() -> client_line_callback() ->
 * client_loop(): the `read` future completes with the next whole line,
 * the server sanitises it and acts on it (a command or a broadcast), and
 * the next read is armed.  The line is borrowed, not copied: it stays in
 * the bufferevent's input buffer, made contiguous by client_line(), and is
 * drained by the next client_read_line().  The input buffer's high
 * watermark stops reading at max_line plus one read, so a client that is
 * throttled, or whose lines are not consumed yet, is pushed back by TCP
 * instead of growing our memory.  What a client is sent, and its sleeping
 * and waking, are output.c's.
 *
 * Limits on input: a line over max_line is discarded with a notice, and
 * like any line it costs a rate token, so a client cannot flood the room
 * or the log with long lines; the first is logged, the others counted and
 * reported when it leaves.  Fairness: a client may complete
 * LINES_PER_PASS lines in one scheduler pass, then its next line is
 * delivered after the loop has polled I/O again (future_complete_later()),
 * in the manner of memcached's per-event request limit.
 *
 * Teardown happens in one place, client_close(): the client is marked,
 * unlinked, its futures cancelled and its callbacks cleared; the server
 * frees it from a deferred event, so nothing runs on freed memory.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chatd.h"

#define LINES_PER_PASS	64	/* lines a client handles per pass */
#define READ_SLACK	4096	/* input room beyond max_line */
#define KEEPALIVE_INTVL	10	/* seconds between unanswered probes */
#define KEEPALIVE_CNT	6	/* unanswered probes before the reset */

static void	client_loop(struct client *);
static void	client_throttle(struct client *, uint64_t);
static void	client_try_read(struct client *);
static void	client_try_header(struct client *);

static const char *const client_states[] = {
	[CLIENT_NEW] = "new",
	[CLIENT_HEADER] = "reading a PROXY header",
	[CLIENT_HANDSHAKE] = "in a TLS handshake",
	[CLIENT_ROOM] = "in the room",
	[CLIENT_FLUSHING] = "flushing",
	[CLIENT_CLOSING] = "closing",
};

/*
 * Moves c to state st.  States only move forward (see the top of this
 * file); anything else is a broken invariant.
 */
void
client_set_state(struct client *c, enum client_state st)
{
	if (st <= c->state || st > CLIENT_CLOSING)
		fatalx("client %llu: %s -> %s", (unsigned long long)c->id,
		    client_states[c->state <= CLIENT_CLOSING ? c->state : 0],
		    client_states[st <= CLIENT_CLOSING ? st : 0]);
	c->state = (uint8_t)st;
}

/* Whether c is in the room: broadcasts reach it and it reads lines. */
int
client_in_room(const struct client *c)
{
	return (c->state == CLIENT_ROOM && !(c->flags & CLIENT_CONTROL));
}

/*
 * Whether c reads lines: a user in the room, or a control connection that
 * was let in.
 */
int
client_reading(const struct client *c)
{
	return (c->state == CLIENT_ROOM);
}

/* The longest line c may send: a control request's is fixed. */
static size_t
client_max_line(const struct client *c)
{
	return ((c->flags & CLIENT_CONTROL) ? CONTROL_LINE_MAX :
	    c->server->config->max_line);
}

void
client_read_callback(struct bufferevent *bev, void *arg)
{
	client_try_read(arg);
}

/*
 * The socket failed (reset, broken pipe).  A client saying its last words
 * learns it through its send future; any other is closed at once.
 */
void
client_broken(struct client *c, const char *how, const char *error)
{
	log_debug("client %llu [%s]: %s: %s", (unsigned long long)c->id,
	    c->netaddr, how, error);
	c->reason = "connection reset";
	if (future_pending(&c->send) && c->state == CLIENT_FLUSHING)
		future_fail(&c->send, ECONNRESET);
	else
		client_close(c, c->reason);
}

/* The bufferevent's news while the client is not in the room yet. */
static void
client_early_event(struct client *c, short events)
{
	char	fp[TLS_FP_LEN + 1];

	if (c->state == CLIENT_HANDSHAKE && (events & BEV_EVENT_CONNECTED)) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		if (tls_fingerprint(c->bev, fp) == 0)
			c->certfp = xstrdup(fp);
		log_info("client %llu [%s]:%u: %s%s%s",
		    (unsigned long long)c->id, c->netaddr, c->port,
		    tls_version(c->bev), c->certfp != NULL ?
		    ", client certificate SHA256:" : ", no client certificate",
		    c->certfp != NULL ? c->certfp : "");
		future_complete(&c->read, NULL);
		return;
	}
	if (!future_pending(&c->read))
		return;
	if (c->state == CLIENT_HANDSHAKE)
		log_info("client %llu [%s]:%u: TLS handshake %s: %s",
		    (unsigned long long)c->id, c->netaddr, c->port,
		    (events & BEV_EVENT_TIMEOUT) ? "timed out" : "failed",
		    (events & BEV_EVENT_TIMEOUT) ? "no answer" :
		    tls_failure(c->bev));
	else
		log_notice("client %llu [%s]:%u: %s before a PROXY header",
		    (unsigned long long)c->id, c->netaddr, c->port,
		    (events & BEV_EVENT_TIMEOUT) ? "timed out" : "closed");
	future_fail(&c->read, (events & BEV_EVENT_TIMEOUT) ? ETIMEDOUT :
	    ECONNRESET);
}

void
client_event_callback(struct bufferevent *bev, short events, void *arg)
{
	struct client	*c = arg;

	if (c->state == CLIENT_HANDSHAKE || c->state == CLIENT_HEADER) {
		client_early_event(c, events);
		return;
	}
	if (events & BEV_EVENT_ERROR) {
		client_broken(c, (events & BEV_EVENT_READING) ? "read" :
		    "write", (c->flags & CLIENT_TLS) ? tls_failure(bev) :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (events & BEV_EVENT_EOF) {
		/* Lines still buffered are delivered before it goes. */
		c->flags |= CLIENT_EOF;
		if (c->state == CLIENT_FLUSHING)
			client_close(c, c->reason);
		else
			client_try_read(c);
	}
}

static void
client_wake_callback(evutil_socket_t fd, short events, void *arg)
{
	output_wake(arg);
}

static void
client_set_socket_options(struct client *c, int fd)
{
	struct config	*conf = c->server->config;
	int		 on = 1, idle, intvl = KEEPALIVE_INTVL;
	int		 cnt = KEEPALIVE_CNT;

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
 * Client id on socket fd, in state NEW: not in the room, reading nothing.
 */
static struct client *
client_alloc(struct server *s, int fd, uint64_t id)
{
	struct client	*c;

	c = xcalloc(1, sizeof *c);
	c->server = s;
	c->state = CLIENT_NEW;
	c->id = id;
	future_init(&c->read, &s->sched);
	future_init(&c->send, &s->sched);
	client_set_socket_options(c, fd);
	c->fd = fd;
	if (event_assign(&c->wait_ev, s->base, fd, EV_READ,
	    client_wake_callback, c) != 0)
		fatalx("event_assign failed");
	return (c);
}

/*
 * Makes a client of an accepted socket, in state NEW: not in the room,
 * reading nothing until client_start().  Its id is this process's and
 * never changes; its name is given at admission.  Never fails: a socket
 * libevent cannot wrap is a broken invariant.
 */
struct client *
client_new(struct server *s, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct client	*c;

	c = client_alloc(s, fd, ++s->next_id);
	/* Accepted: client_overdue() counts from here until it joins. */
	c->connected_ms = server_now_ms(s);
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
	return (c);
}

/*
 * Applies the limits of the current config (at start and on reload).  A
 * lower max_line may find more buffered than the new limit allows, while
 * reading has stopped at the old watermark: the input is looked at again,
 * so that it is discarded as too long rather than wait for ever.
 */
void
client_configure(struct client *c)
{
	if (c->bev == NULL)
		return;
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    client_max_line(c) + READ_SLACK);
	client_try_read(c);
}

/*
 * Starts the client's loop: from now on it reads lines (once the server
 * thaws, if it is handing over: client_thaw()).
 */
void
client_start(struct client *c)
{
	if (c->bev != NULL) {
		client_configure(c);
		if (!c->server->frozen)
			bufferevent_enable(c->bev, EV_READ);
	} else if (!c->server->frozen)
		event_add(&c->wait_ev, NULL);
	client_loop(c);
}

/* Frees a client; only the server's reaper and listener teardown call it. */
void
client_free(struct client *c)
{
	future_cancel(&c->read);
	future_cancel(&c->send);
	output_free(c);
	event_del(&c->wait_ev);
	evutil_closesocket(c->fd);
	free(c->reason_buf);
	free(c->certfp);
	free(c->account);
	free(c);
}

/*
 * The server's cron, once a second: a client in the room that was quiet
 * for a whole period, with nothing in flight, goes to sleep (output.c).
 * Returns 1 if it did.
 */
int
client_cron(struct client *c)
{
	if (c->flags & CLIENT_RECENT) {
		c->flags &= ~CLIENT_RECENT;
		return (0);
	}
	if (c->bev == NULL || c->state != CLIENT_ROOM ||
	    (c->flags & (CLIENT_EOF | CLIENT_DISCARD | CLIENT_THROTTLED |
	    CLIENT_PENDING | CLIENT_WAITING)))
		return (0);
	if (!future_pending(&c->read) || !future_idle(&c->send) ||
	    c->line_len + c->eol_len != 0 || c->soft_ms != 0)
		return (0);
	return (output_sleep(c));
}

/*
 * The connection is from a trusted proxy: read its PROXY header (proxy.c)
 * and take the client's address from it.
 */
static void
client_try_header(struct client *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 len = evbuffer_get_length(in);

	if (len > PROXY_MAX)
		len = PROXY_MAX;
	switch (proxy_parse(len == 0 ? (const uint8_t *)"" :
	    evbuffer_pullup(in, (ev_ssize_t)len), len, &h, &why)) {
	case PROXY_MORE:
		if (c->flags & CLIENT_EOF)
			future_fail(&c->read, ECONNRESET);
		return;
	case PROXY_BAD:
		log_warnx("client %llu [%s]:%u: bad PROXY header: %s",
		    (unsigned long long)c->id, c->netaddr, c->port, why);
		future_fail(&c->read, EPROTO);
		return;
	}
	evbuffer_drain(in, h.len);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	if (!h.local) {
		log_info("client %llu [%s]:%u: proxied for [%s]:%u",
		    (unsigned long long)c->id, c->netaddr, c->port, h.addr,
		    h.port);
		snprintf(c->netaddr, sizeof c->netaddr, "%s", h.addr);
		c->port = h.port;
	}
	future_complete(&c->read, NULL);
}

/*
 * Fails c's read with ETIMEDOUT, and returns 1, if c is still in its PROXY
 * header or TLS handshake proxy_timeout or handshake_timeout seconds after
 * it was accepted.  The bufferevent's timeouts start again at every byte,
 * so a peer trickling a byte at a time would otherwise hold its place
 * (and a count against max_clients) for as long as it liked; the cron
 * calls this once a second, so the bound is the timeout plus a second.
 */
int
client_overdue(struct client *c, uint64_t now)
{
	const struct config	*conf = c->server->config;
	unsigned		 limit;

	if (c->state == CLIENT_HEADER)
		limit = conf->proxy_timeout;
	else if (c->state == CLIENT_HANDSHAKE)
		limit = conf->tls_timeout;
	else
		return (0);
	if (!future_pending(&c->read) ||
	    now - c->connected_ms < (uint64_t)limit * 1000)
		return (0);
	if (c->state == CLIENT_HANDSHAKE)
		log_info("client %llu [%s]:%u: TLS handshake timed out: "
		    "not done in %u second%s", (unsigned long long)c->id,
		    c->netaddr, c->port, limit, limit == 1 ? "" : "s");
	else
		log_notice("client %llu [%s]:%u: timed out before a PROXY "
		    "header: not done in %u second%s",
		    (unsigned long long)c->id, c->netaddr, c->port, limit,
		    limit == 1 ? "" : "s");
	future_fail(&c->read, ETIMEDOUT);
	return (1);
}

/*
 * Returns a future that completes once the proxy in front of c has said
 * where c really is (c->netaddr and c->port are then the client's), or
 * fails: ETIMEDOUT after proxy_timeout, EPROTO for a bad header,
 * ECONNRESET if the proxy hung up first.
 */
struct future *
client_proxy_header(struct client *c)
{
	struct timeval	tv = { (time_t)c->server->config->proxy_timeout, 0 };

	client_set_state(c, CLIENT_HEADER);
	output_wake(c);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
	future_start(&c->read);
	client_try_read(c);
	return (&c->read);
}

/*
 * Returns a future that completes when c's TLS handshake is done, or
 * fails: ETIMEDOUT after handshake_timeout, ECONNRESET otherwise.
 */
struct future *
client_handshake(struct client *c)
{
	client_set_state(c, CLIENT_HANDSHAKE);
	output_tls(c);
	future_start(&c->read);
	return (&c->read);
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

	if (!future_pending(&c->read) || c->bev == NULL || c->server->frozen)
		return;
	if (c->state == CLIENT_HEADER) {
		client_try_header(c);
		return;
	}
	in = bufferevent_get_input(c->bev);
	if ((c->flags & CLIENT_DISCARD) && line_skip(in))
		c->flags &= ~CLIENT_DISCARD;
	if (!(c->flags & CLIENT_DISCARD)) {
		switch (line_next(in, client_max_line(c), &len, &eol)) {
		case LINE_READY:
			c->line_len = (uint32_t)len;
			c->eol_len = (uint8_t)eol;
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
			/* The limit it broke, a reload may change it. */
			future_fail_size(&c->read, EMSGSIZE,
			    client_max_line(c));
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
		c->line_len = 0;
		c->eol_len = 0;
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

/*
 * Zeroes the borrowed line where it lies in the input buffer (it held a
 * password): the bytes are drained later, but not left to linger in a
 * chain that libevent may reuse.
 */
void
client_wipe_line(struct client *c)
{
	struct evbuffer	*in;
	unsigned char	*p;

	if (c->bev == NULL || c->line_len == 0)
		return;
	in = bufferevent_get_input(c->bev);
	if ((p = evbuffer_pullup(in, (ev_ssize_t)c->line_len)) != NULL)
		explicit_bzero(p, c->line_len);
}

/*
 * A line over max, the limit it was framed under, was dropped: tell the
 * client, log the first.
 */
static void
client_long_line(struct client *c, size_t max)
{
	if (c->flags & CLIENT_CONTROL) {
		output_printf(c, "error request longer than %zu bytes", max);
		return;
	}
	c->server->stats.overlong++;
	if (c->long_lines++ == 0)
		log_info("client %llu [%s]: line over %zu bytes discarded "
		    "(more are counted, not logged)",
		    (unsigned long long)c->id, c->netaddr, max);
	output_printf(c, "*** line too long (over %zu bytes), discarded", max);
}

static void
client_line_callback(struct future *f, void *arg)
{
	struct client	*c = arg;
	struct server	*s = c->server;
	struct config	*conf = s->config;
	const char	*line;
	size_t		 len = future_size(f);
	uint64_t	 now = server_now_ms(s);
	int		 paused = 0, ready;

	switch (future_error(f)) {
	case 0:
		/* Framed under a larger max_line, before a reload? */
		if (len <= client_max_line(c))
			break;
		client_long_line(c, client_max_line(c));
		goto next;
	case EMSGSIZE:
		client_long_line(c, future_size(f));
		goto next;
	default:
		client_close(c, c->reason != NULL ? c->reason :
		    "connection closed");
		return;
	}

	c->active_ms = now;
	c->flags |= CLIENT_RECENT;
	line = client_line(c, &len);
	c->lines_in++;
	c->bytes_in += len + c->eol_len;
	if (!(c->flags & CLIENT_CONTROL)) {
		s->stats.lines_in++;
		s->stats.bytes_in += len + c->eol_len;
	}
	paused = server_input(s, c, line, len);
	if (c->state != CLIENT_ROOM)
		return;
	conf = s->config;	/* the line may have been chatctl reload */
next:
	/* Every line costs a token, a discarded one too; chatctl's none. */
	ready = ratelimit_take(&c->rate, now, (c->flags & CLIENT_CONTROL) ?
	    0 : conf->rate_lines, conf->rate_burst);
	if (paused)
		c->flags |= CLIENT_WAITING;	/* until client_resume() */
	else if (!ready)
		client_throttle(c, now);
	else
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

	uint64_t	 wait = ratelimit_wait(&c->rate, conf->rate_lines);

	c->flags |= CLIENT_THROTTLED;
	c->resume_ms = now + wait;
	c->server->stats.throttled_ms += wait;
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

	c->flags &= ~(CLIENT_THROTTLED | CLIENT_WAITING);
	if (!client_reading(c))
		return;
	if (ratelimit_ready(&c->rate, now, conf->rate_lines,
	    conf->rate_burst) != 0) {
		client_throttle(c, now);
		return;
	}
	client_loop(c);
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
	if (c->state >= CLIENT_FLUSHING)
		return;
	output_sync(c);		/* what was said before it leaves */
	client_set_state(c, CLIENT_FLUSHING);
	c->reason = reason;
	c->resume_ms = server_now_ms(c->server);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ);
	else
		event_del(&c->wait_ev);
	future_cancel(&c->read);
	if (future_idle(&c->send)) {
		future_start(&c->send);
		if (output_length(c) == 0)
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
	if (c->state == CLIENT_CLOSING)
		return;
	client_set_state(c, CLIENT_CLOSING);
	c->reason = reason != NULL ? reason : "closed";
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

/* Handing over (server.c, handover.c) ------------------------------------- */

/* The server is handing over: c reads nothing more (client_thaw()). */
void
client_freeze(struct client *c)
{
	if (!client_reading(c))
		return;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ);
	else
		event_del(&c->wait_ev);
}

/*
 * The handover failed: c reads again, from where it stopped.  A command
 * that waited for Redis, whose link was let go, gets no answer.
 */
void
client_thaw(struct client *c)
{
	if (!client_reading(c))
		return;
	if (c->bev != NULL)
		bufferevent_enable(c->bev, EV_READ);
	else
		event_add(&c->wait_ev, NULL);
	if (c->flags & CLIENT_WAITING)
		client_resume(c);
	else
		client_try_read(c);
}

/*
 * What the successor needs of c but its room and output (server.c,
 * output.c): who it is, its limits, and what it sent that was not handled
 * yet.  The line it was last handed is left out if it was handled (the
 * read's continuation ran), kept if not.  sc->input borrows c's input
 * buffer, made contiguous, until c is read again.
 */
void
client_export(struct client *c, struct state_client *sc, uint64_t now)
{
	struct evbuffer	*in;
	size_t		 skip = 0, len;

	sc->id = c->id;
	sc->guest = c->guest;
	sc->sock = client_socket_id(c->fd);
	snprintf(sc->name, sizeof sc->name, "%s", c->name);
	snprintf(sc->room, sizeof sc->room, "%s", c->room->name);
	snprintf(sc->addr, sizeof sc->addr, "%s", c->netaddr);
	if (c->account != NULL)
		snprintf(sc->account, sizeof sc->account, "%s", c->account);
	sc->port = c->port;
	if (c->flags & CLIENT_MUTED)
		sc->flags |= STATE_CLIENT_MUTED;
	if (c->flags & CLIENT_DISCARD)
		sc->flags |= STATE_CLIENT_DISCARD;
	sc->rate_milli = c->rate.milli;
	sc->rate_age_ms = now > c->rate.last_ms ? now - c->rate.last_ms : 0;
	sc->connected_age_ms = now - c->connected_ms;
	sc->active_age_ms = now - c->active_ms;
	sc->lines_in = c->lines_in;
	sc->lines_out = c->lines_out;
	sc->long_lines = c->long_lines;
	sc->bytes_in = c->bytes_in;
	sc->bytes_out = c->bytes_out;
	if (c->bev == NULL)
		return;
	/*
	 * The drain ran the loop since reading stopped, so no read's
	 * continuation is still due: a borrowed line was handled.
	 */
	in = bufferevent_get_input(c->bev);
	if (future_idle(&c->read))
		skip = c->line_len + c->eol_len;
	len = evbuffer_get_length(in);
	if (len > skip) {
		sc->input.p = evbuffer_pullup(in, -1) + skip;
		sc->input.len = len - skip;
	}
}

/*
 * The inode of socket fd: the same in every process for one socket, so
 * the successor can tell which descriptor is whose (state.c); 0 if fd is
 * no socket.
 */
uint64_t
client_socket_id(int fd)
{
	struct stat	sb;

	if (fstat(fd, &sb) == -1 || !S_ISSOCK(sb.st_mode))
		return (0);
	return ((uint64_t)sb.st_ino);
}

/*
 * A client taken over from a predecessor, on socket fd (-1: lost), in the
 * room state but in no room yet, and not started: server_import() does the
 * rest.  Its input not handled yet is read first when it starts.
 */
struct client *
client_import(struct server *s, int fd, const struct state_client *sc,
    uint64_t now)
{
	struct client	*c;
	struct evbuffer	*in;

	c = client_alloc(s, fd, sc->id);
	c->guest = sc->guest;
	snprintf(c->name, sizeof c->name, "%s", sc->name);
	snprintf(c->netaddr, sizeof c->netaddr, "%s", sc->addr);
	if (sc->account[0] != '\0')
		c->account = xstrdup(sc->account);
	c->port = sc->port;
	if (sc->flags & STATE_CLIENT_MUTED)
		c->flags |= CLIENT_MUTED;
	if (sc->flags & STATE_CLIENT_DISCARD)
		c->flags |= CLIENT_DISCARD;
	c->rate.milli = sc->rate_milli;
	c->rate.last_ms = now - (sc->rate_age_ms < now ? sc->rate_age_ms : now);
	c->connected_ms = now - (sc->connected_age_ms < now ?
	    sc->connected_age_ms : now);
	c->active_ms = now - (sc->active_age_ms < now ? sc->active_age_ms :
	    now);
	c->lines_in = sc->lines_in;
	c->lines_out = sc->lines_out;
	c->long_lines = sc->long_lines;
	c->bytes_in = sc->bytes_in;
	c->bytes_out = sc->bytes_out;
	client_set_state(c, CLIENT_ROOM);
	if (sc->input.len != 0 && fd != -1) {
		/*
		 * A socket bufferevent keeps the end of its input frozen but
		 * while it reads; this is such a read, from the image.
		 */
		output_wake(c);
		in = bufferevent_get_input(c->bev);
		evbuffer_unfreeze(in, 0);
		if (evbuffer_add(in, sc->input.p, sc->input.len) != 0)
			fatalx("evbuffer_add failed");
		evbuffer_freeze(in, 0);
	}
	return (c);
}
