/*
 * server.c: the daemon's event loop: listeners, admission, the room,
 * teardown and shutdown.
 *
 * The server owns the libevent base, the future scheduler and the list of
 * clients.  Accepting is a loop of futures like reading: each listener's
 * accept future completes with a client, server_accept_callback() admits
 * it (or refuses it with one line) and re-arms the future.  Broadcasting
 * walks the client list once and queues the line on every other connected
 * client; it never blocks, and a recipient over its output limit is closed
 * on the spot, which only unlinks it.
 *
 * Clients are freed from a deferred event (server_reap_callback()), never
 * inside their own callback chain; "left" announcements are made there
 * too, so a broadcast never recurses into another broadcast.
 *
 * Timers: one throttle timer for clients waiting for their rate budget
 * (armed for the earliest), and a cron each second for idle timeouts, soft
 * output limits and peers that do not read their last words.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chatd.h"
#include "sanitize.h"

#define ACCEPT_PAUSE_MS	1000	/* after EMFILE and the like */
#define FLUSH_TIMEOUT_MS 5000	/* last words not read by then: close */

static void	server_accept_callback(struct future *, void *);
static void	server_stop(struct server *);

uint64_t
server_now_ms(struct server *s)
{
	struct timeval	tv;

	event_base_gettimeofday_cached(s->base, &tv);
	return ((uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
}

static void
server_notify_status(struct server *s)
{
	sdnotify("STATUS=%u client%s connected", s->nclients,
	    s->nclients == 1 ? "" : "s");
}

/* Frees the clients torn down since the last pass. */
static void
server_reap_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct client	*c;

	while ((c = TAILQ_FIRST(&s->dead)) != NULL) {
		TAILQ_REMOVE(&s->dead, c, wait_entry);
		if (c->flags & CLIENT_CONNECTED) {
			c->flags &= ~CLIENT_CONNECTED;
			chat_left(s, c);
		}
		client_free(c);
	}
	server_notify_status(s);
	if (s->stopping && TAILQ_EMPTY(&s->clients))
		event_base_loopexit(s->base, NULL);
}

/*
 * Unlinks a closing client from the room and queues it for freeing.  It
 * stays marked connected until the reaper announces its leaving.
 */
void
server_remove(struct server *s, struct client *c)
{
	TAILQ_REMOVE(&s->clients, c, entry);
	if (c->flags & CLIENT_THROTTLED)
		TAILQ_REMOVE(&s->throttled, c, wait_entry);
	if (c->flags & CLIENT_CONNECTED) {
		s->nclients--;
		log_info("client %llu [%s]:%u disconnected: %s",
		    (unsigned long long)c->id, c->netaddr, c->port, c->reason);
	} else
		log_debug("client %llu [%s]:%u closed: %s",
		    (unsigned long long)c->id, c->netaddr, c->port, c->reason);
	TAILQ_INSERT_TAIL(&s->dead, c, wait_entry);
	event_active(s->reap_ev, 0, 0);
}

/*
 * Queues m on every connected client except `from` (NULL: everyone).  A
 * recipient pushed over its output limit is closed, which unlinks it; the
 * walk tolerates that.
 */
void
server_broadcast(struct server *s, struct client *from, struct msg *m)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c == from || !(c->flags & CLIENT_CONNECTED) ||
		    (c->flags & CLIENT_FLUSHING))
			continue;
		client_send_msg(c, m);
	}
}

/* A line arrived from c: sanitise it, then relay it or run it. */
void
server_input(struct server *s, struct client *c, const char *line,
    size_t len)
{
	struct msg	*m;
	size_t		 n;

	n = sanitize_line(line, len, s->scratch);
	if (n == 0)
		return;
	if (s->config->mode == MODE_RAW) {
		m = msg_new(n + 2);
		memcpy(m->data, s->scratch, n);
		memcpy(m->data + n, "\r\n", 2);
		server_broadcast(s, c, m);
		msg_unref(m);
		return;
	}
	chat_input(s, c, s->scratch, n);
}

static void
server_throttle_arm(struct server *s, uint64_t now)
{
	struct client	*c;
	uint64_t	 next = UINT64_MAX, ms;
	struct timeval	 tv;

	TAILQ_FOREACH(c, &s->throttled, wait_entry) {
		if (c->resume_ms < next)
			next = c->resume_ms;
	}
	if (next == UINT64_MAX)
		return;
	ms = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->throttle_ev, &tv);
}

/* Parks a client that is out of rate budget until c->resume_ms. */
void
server_throttle(struct server *s, struct client *c)
{
	TAILQ_INSERT_TAIL(&s->throttled, c, wait_entry);
	log_debug("client %llu [%s]: rate limited for %llu ms",
	    (unsigned long long)c->id, c->netaddr,
	    (unsigned long long)(c->resume_ms - server_now_ms(s)));
	server_throttle_arm(s, server_now_ms(s));
}

static void
server_throttle_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct client	*c, *next;
	uint64_t	 now = server_now_ms(s);

	for (c = TAILQ_FIRST(&s->throttled); c != NULL; c = next) {
		next = TAILQ_NEXT(c, wait_entry);
		if (c->resume_ms > now)
			continue;
		TAILQ_REMOVE(&s->throttled, c, wait_entry);
		client_resume(c);
	}
	server_throttle_arm(s, now);
}

/* Once a second: idle timeouts, soft output limits, unread last words. */
static void
server_cron_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct config	*conf = s->config;
	struct client	*c, *next;
	uint64_t	 now = server_now_ms(s);

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->flags & CLIENT_FLUSHING) {
			if (now - c->resume_ms >= FLUSH_TIMEOUT_MS)
				client_close(c, c->reason);
			continue;
		}
		if (!(c->flags & CLIENT_CONNECTED))
			continue;
		if (c->soft_ms != 0)
			client_check_output(c, now);
		if ((c->flags & CLIENT_CLOSING) || conf->idle_timeout == 0 ||
		    now - c->active_ms < (uint64_t)conf->idle_timeout * 1000)
			continue;
		log_info("client %llu [%s]: idle for %u seconds",
		    (unsigned long long)c->id, c->netaddr, conf->idle_timeout);
		client_printf(c, "*** idle for %u seconds, disconnecting",
		    conf->idle_timeout);
		client_close_after_flush(c, "timed out");
	}
}

/* Counts connected clients from addr. */
static unsigned
server_count_address(struct server *s, const char *addr)
{
	struct client	*c;
	unsigned	 n = 0;

	TAILQ_FOREACH(c, &s->clients, entry) {
		if ((c->flags & CLIENT_CONNECTED) &&
		    strcmp(c->netaddr, addr) == 0)
			n++;
	}
	return (n);
}

/* Refuses c with one line, then closes it once the line is written. */
static void
server_refuse(struct server *s, struct client *c, const char *why)
{
	log_notice("client %llu [%s]:%u refused: %s",
	    (unsigned long long)c->id, c->netaddr, c->port, why);
	bufferevent_enable(c->bev, EV_WRITE);
	client_printf(c, "*** %s, try again later", why);
	client_close_after_flush(c, why);
}

/* Decides whether a new client may join, and lets it in. */
static void
server_admit(struct server *s, struct client *c)
{
	struct config	*conf = s->config;
	uint64_t	 now = server_now_ms(s);

	TAILQ_INSERT_TAIL(&s->clients, c, entry);
	if (s->stopping) {
		server_refuse(s, c, "server shutting down");
		return;
	}
	if (conf->max_clients != 0 && s->nclients >= conf->max_clients) {
		server_refuse(s, c, "server full");
		return;
	}
	if (conf->max_per_address != 0 &&
	    server_count_address(s, c->netaddr) >= conf->max_per_address) {
		server_refuse(s, c, "too many connections from your address");
		return;
	}
	c->flags |= CLIENT_CONNECTED;
	s->nclients++;
	c->connected_ms = c->active_ms = now;
	ratelimit_init(&c->rate, now, conf->rate_burst);
	log_info("client %llu [%s]:%u connected (%u online)",
	    (unsigned long long)c->id, c->netaddr, c->port, s->nclients);
	server_notify_status(s);
	chat_joined(s, c);
	client_start(c);
}

static void
server_accept_callback(struct future *f, void *arg)
{
	struct listener	*l = arg;
	struct server	*s = l->server;
	struct client	*c;
	int		 error = future_error(f);

	if (error != 0) {
		/*
		 * Out of descriptors or memory: keep serving those we have
		 * and try again shortly, rather than spin on the socket.
		 */
		log_warnx("accept on %s: %s; pausing accepts for %d ms",
		    l->text, strerror(error), ACCEPT_PAUSE_MS);
		listener_pause(l, ACCEPT_PAUSE_MS);
		future_then(listener_accept(l), server_accept_callback, l);
		return;
	}
	c = future_value(f);
	future_then(listener_accept(l), server_accept_callback, l);
	server_admit(s, c);
}

static void
server_signal_callback(evutil_socket_t sig, short events, void *arg)
{
	struct server	*s = arg;

	switch (sig) {
	case SIGHUP:
		log_notice("SIGHUP: reload is not supported yet, ignored");
		break;
	case SIGINT:
	case SIGTERM:
		if (s->stopping) {
			log_notice("signal %d again: stopping now", (int)sig);
			event_base_loopexit(s->base, NULL);
			break;
		}
		log_notice("signal %d: shutting down", (int)sig);
		server_stop(s);
		break;
	}
}

static void
server_grace_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_close(c, "server shutting down");
	}
}

/*
 * Stops accepting, tells everyone, and closes each client once its output
 * is flushed, or when shutdown_grace runs out.  The loop ends when the last
 * client is reaped.
 */
static void
server_stop(struct server *s)
{
	struct listener	*l;
	struct client	*c, *next;
	struct timeval	 tv = { (time_t)s->config->shutdown_grace, 0 };

	s->stopping = 1;
	sdnotify("STOPPING=1");
	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		listener_free(l);
	}
	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_printf(c, "*** server shutting down");
		client_close_after_flush(c, "server shutting down");
	}
	evtimer_add(s->grace_ev, &tv);
	/* With no clients, the reaper has nothing to wake it. */
	event_active(s->reap_ev, 0, 0);
}

/* Raises the descriptor limit toward the hard limit for max_clients. */
static void
server_raise_nofile(struct server *s)
{
	struct config	*conf = s->config;
	struct rlimit	 rl;
	rlim_t		 want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	want = conf->max_clients == 0 ? rl.rlim_max :
	    (rlim_t)conf->max_clients + 64;
	if (want > rl.rlim_max)
		want = rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)want);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (conf->max_clients != 0 &&
	    rl.rlim_cur < (rlim_t)conf->max_clients + 16)
		log_warnx("open file limit %llu is too low for max_clients "
		    "%u; raise LimitNOFILE or ulimit -n",
		    (unsigned long long)rl.rlim_cur, conf->max_clients);
}

struct server *
server_new(struct config *conf)
{
	struct server	*s;
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM };
	struct timeval	 second = { 1, 0 };
	size_t		 i;

	s = xcalloc(1, sizeof *s);
	s->config = conf;
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->clients);
	TAILQ_INIT(&s->throttled);
	TAILQ_INIT(&s->dead);
	if ((s->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (future_sched_init(&s->sched, s->base) != 0)
		fatalx("future_sched_init failed");
	s->reap_ev = event_new(s->base, -1, 0, server_reap_callback, s);
	s->throttle_ev = evtimer_new(s->base, server_throttle_callback, s);
	s->cron_ev = event_new(s->base, -1, EV_PERSIST, server_cron_callback,
	    s);
	s->grace_ev = evtimer_new(s->base, server_grace_callback, s);
	if (s->reap_ev == NULL || s->throttle_ev == NULL ||
	    s->cron_ev == NULL || s->grace_ev == NULL)
		fatalx("event_new failed");
	event_add(s->cron_ev, &second);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		s->sig_ev[i] = evsignal_new(s->base, sigs[i],
		    server_signal_callback, s);
		if (s->sig_ev[i] == NULL || event_add(s->sig_ev[i], NULL) != 0)
			fatalx("evsignal_new failed");
	}
	s->scratch_size = SANITIZE_MAX(conf->max_line) + 1;
	s->scratch = xmalloc(s->scratch_size);
	chat_init(s);
	return (s);
}

/*
 * Opens every configured listener and starts accepting.  Returns 0, or -1
 * after logging why (for example, the port is in use).
 */
int
server_listen(struct server *s)
{
	struct config		*conf = s->config;
	struct config_addr	*a;
	struct listener		*l;
	size_t			 i;

	server_raise_nofile(s);
	for (i = 0; i < conf->naddrs; i++) {
		a = &conf->addrs[i];
		l = listener_new(s, (struct sockaddr *)&a->ss, a->sslen, -1);
		if (l == NULL) {
			if ((errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) &&
			    conf->naddrs > 1) {
				log_warnx("cannot listen on %s port %u: %s; "
				    "skipped", a->text, conf->port,
				    strerror(errno));
				continue;
			}
			log_warnx("cannot listen on %s port %u: %s", a->text,
			    conf->port, strerror(errno));
			return (-1);
		}
		TAILQ_INSERT_TAIL(&s->listeners, l, entry);
		log_notice("listening on %s", l->text);
	}
	if (TAILQ_EMPTY(&s->listeners)) {
		log_warnx("no address to listen on");
		return (-1);
	}
	TAILQ_FOREACH(l, &s->listeners, entry)
		future_then(listener_accept(l), server_accept_callback, l);
	return (0);
}

/* Runs the loop until shutdown.  Returns the exit status. */
int
server_run(struct server *s)
{
	sdnotify("READY=1\nSTATUS=0 clients connected");
	if (event_base_dispatch(s->base) == -1)
		fatalx("event_base_dispatch failed");
	return (s->exit_code);
}

void
server_free(struct server *s)
{
	struct listener	*l;
	struct client	*c;
	size_t		 i;

	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		listener_free(l);
	}
	while ((c = TAILQ_FIRST(&s->clients)) != NULL) {
		TAILQ_REMOVE(&s->clients, c, entry);
		if (c->flags & CLIENT_THROTTLED)
			TAILQ_REMOVE(&s->throttled, c, wait_entry);
		client_free(c);
	}
	while ((c = TAILQ_FIRST(&s->dead)) != NULL) {
		TAILQ_REMOVE(&s->dead, c, wait_entry);
		client_free(c);
	}
	chat_free(s);
	for (i = 0; i < sizeof s->sig_ev / sizeof s->sig_ev[0]; i++)
		event_free(s->sig_ev[i]);
	event_free(s->reap_ev);
	event_free(s->throttle_ev);
	event_free(s->cron_ev);
	event_free(s->grace_ev);
	future_sched_free(&s->sched);
	event_base_free(s->base);
	free(s->scratch);
	free(s);
}
