/*
 * server.c: the daemon's event loop: listeners, admission, the room,
 * teardown and shutdown.
 *
 * The server owns the libevent base, the future scheduler and the list of
 * clients.  Accepting is a loop of futures like reading: each listener's
 * accept future completes with a client, server_accept_callback() admits
 * it (or refuses it with one line) and re-arms the future.  An admitted
 * client gets its guest name and joins the roster (roster.c) and the room.
 * A broadcast joins the loop turn (turn.c); once the turn's input is
 * handled, server_flush() writes every member's part and every client's
 * own output (output.c).  Nothing blocks, and a recipient over its output
 * limit is closed on the spot, which only unlinks it.
 *
 * Clients are freed from a deferred event (server_reap_callback()), never
 * inside their own callback chain; "left" announcements are made there
 * too, so a broadcast never recurses into another broadcast, and a name
 * stays taken until everyone has been told its holder left.
 *
 * A reload parses the whole file first and changes nothing if it fails.
 * A line framed under the old max_line may still be waiting for its turn
 * when max_line shrinks: client.c discards it as overlong, and
 * server_input() sizes the scratch buffer to the line it is given, never
 * to the config alone.
 *
 * Timers: one throttle timer for clients waiting for their rate budget
 * (armed for the earliest), and a cron each second for idle timeouts, soft
 * output limits, peers that do not read their last words and the turn
 * buffers of rooms that have gone quiet.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chatd.h"
#include "sanitize.h"

#define ACCEPT_PAUSE_MS	1000	/* after EMFILE and the like */
#define FLUSH_TIMEOUT_MS 5000	/* last words not read by then: close */
#define SLEEP_TRIM_MIN	64	/* clients asleep in one cron: malloc_trim() */
#define NOFILE_SLACK	64	/* descriptors beyond max_clients: listeners,
				   Redis, the log, libevent's own */
#define NOFILE_WARN	16	/* fewer spare than this: warn */
#define LISTEN_FDS_MAX	1048576	/* fs.nr_open's default: a predecessor
				   hands over a socket per client */

static void	server_accept_callback(struct future *, void *);
static void	server_chown(struct server *, const char *);

/*
 * Milliseconds on the monotonic clock, for limits and timeouts (a wall
 * clock step must not drop every idle client or stall throttled ones).
 */
uint64_t
server_now_ms(struct server *s)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Tells systemd how many are connected; called at most once a second. */
static void
server_notify_status(struct server *s)
{
	if (s->nclients == s->status_clients)
		return;
	s->status_clients = s->nclients;
	sdnotify("STATUS=%u client%s connected", s->nclients,
	    s->nclients == 1 ? "" : "s");
}

/* Frees the clients torn down since the last pass. */
static void
server_reap_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct client	*c;
	struct room	*r;

	while ((c = TAILQ_FIRST(&s->dead)) != NULL) {
		TAILQ_REMOVE(&s->dead, c, wait_entry);
		if (c->flags & CLIENT_CONNECTED) {
			/* Its name is free once its leaving is told. */
			chat_left(s, c);
			roster_remove(&s->roster, c);
			c->flags &= ~CLIENT_CONNECTED;
			r = c->room;
			room_remove(c);
			server_room_gone(s, r);
		}
		client_free(c);
	}
	if (s->stopping && TAILQ_EMPTY(&s->clients))
		event_base_loopexit(s->base, NULL);
}

/* Which counter of stats.closed a departure's reason goes to. */
static enum stats_closed
server_closed_reason(const char *reason)
{
	static const struct {
		const char		*prefix;
		enum stats_closed	 kind;
	} kinds[] = {
		{ "quit", CLOSED_QUIT },
		{ "connection", CLOSED_RESET },
		{ "timed out", CLOSED_IDLE },
		{ "output limit", CLOSED_OUTPUT },
		{ "kicked", CLOSED_KICKED },
		{ "banned", CLOSED_KICKED },
		{ "server shutting down", CLOSED_SHUTDOWN },
		{ "server restarting", CLOSED_SHUTDOWN },
	};
	size_t	i;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strncmp(reason, kinds[i].prefix,
		    strlen(kinds[i].prefix)) == 0)
			return (kinds[i].kind);
	}
	return (CLOSED_OTHER);
}

/*
 * Unlinks a closing client from the room and queues it for freeing.  It
 * stays marked connected, and on the roster, until the reaper announces
 * its leaving.
 */
void
server_remove(struct server *s, struct client *c)
{
	char	key[PEER_KEY_MAX];

	TAILQ_REMOVE(&s->clients, c, entry);
	if (c->flags & CLIENT_THROTTLED)
		TAILQ_REMOVE(&s->throttled, c, wait_entry);
	if (c->flags & CLIENT_COUNTED) {
		peer_key(c->netaddr, s->config->ipv6_prefix, key);
		peer_remove(&s->peers, key);
		if (!(c->flags & CLIENT_CONNECTED))
			s->npending--;
	}
	if (c->flags & CLIENT_CONNECTED) {
		s->nclients--;
		s->stats.closed[server_closed_reason(c->reason)]++;
		log_info("client %llu [%s]:%u disconnected: %s",
		    (unsigned long long)c->id, c->netaddr, c->port, c->reason);
		if (c->long_lines > 1)
			log_info("client %llu [%s]: %u overlong lines "
			    "discarded in all", (unsigned long long)c->id,
			    c->netaddr, c->long_lines);
	} else
		log_debug("client %llu [%s]:%u closed: %s",
		    (unsigned long long)c->id, c->netaddr, c->port, c->reason);
	TAILQ_INSERT_TAIL(&s->dead, c, wait_entry);
	event_active(s->reap_ev, 0, 0);
}

/*
 * c has new output: it is written once this loop turn's lines have been
 * handled (the flush event is activated behind them).
 */
void
server_pending(struct server *s, struct client *c)
{
	if (TAILQ_EMPTY(&s->pending))
		event_active(s->flush_ev, 0, 0);
	TAILQ_INSERT_TAIL(&s->pending, c, out_entry);
}

/*
 * Writes what this turn produced: every member of the room gets its part
 * of the turn (turn.c), and clients with output of their own get that.
 * A client whose socket fails is closed, which unlinks it; the walk
 * tolerates that.
 */
static void
server_flush(struct server *s)
{
	struct client	*c, *next;
	struct room	*r;
	struct timeval	 woke, now;

	/* Handed over: the sockets are the successor's (server_thaw()). */
	if (s->released)
		return;
	/* The members of every room that spoke get their part. */
	TAILQ_FOREACH(r, &s->rooms.dirty, dirty_entry) {
		for (c = TAILQ_FIRST(&r->members); c != NULL; c = next) {
			next = TAILQ_NEXT(c, room_entry);
			if (!client_in_room(c))
				continue;
			if (c->flags & CLIENT_PENDING)
				TAILQ_REMOVE(&s->pending, c, out_entry);
			output_flush(c);
		}
	}
	while ((c = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, c, out_entry);
		output_flush(c);
	}
	while ((r = TAILQ_FIRST(&s->rooms.dirty)) != NULL) {
		TAILQ_REMOVE(&s->rooms.dirty, r, dirty_entry);
		r->dirty = 0;
		turn_end(&r->turn);
	}
	/*
	 * The turn's work: from when the loop woke (libevent's time cache,
	 * taken right after it polled) to now.
	 */
	if (event_base_gettimeofday_cached(s->base, &woke) == 0 &&
	    event_base_update_cache_time(s->base) == 0 &&
	    event_base_gettimeofday_cached(s->base, &now) == 0 &&
	    timercmp(&now, &woke, >=)) {
		timersub(&now, &woke, &now);
		metrics_turn(s, (uint64_t)now.tv_sec * 1000000000 +
		    (uint64_t)now.tv_usec * 1000);
	}
}

static void
server_flush_callback(evutil_socket_t fd, short events, void *arg)
{
	server_flush(arg);
}

/*
 * Says m to every connected client except `from` (NULL: everyone): it
 * joins this turn's lines, which are written to all once the turn's input
 * has been handled (server_flush()).  A full turn is flushed first.
 */
void
server_broadcast(struct server *s, struct room *r, struct client *from,
    struct msg *m)
{
	if (!turn_room(&r->turn, m->len))
		server_flush(s);
	if (!r->dirty) {
		room_dirty(&s->rooms, r);
		event_active(s->flush_ev, 0, 0);
	}
	turn_add(&r->turn, from, m->data, m->len);
	s->stats.relayed++;
}

/* Says m in every room that has members. */
void
server_broadcast_all(struct server *s, struct msg *m)
{
	struct room	*r;

	TAILQ_FOREACH(r, &s->rooms.list, entry) {
		if (r->nmembers != 0)
			server_broadcast(s, r, NULL, m);
	}
}

/*
 * The room called name (valid): found, or, as `how` says, made with flags
 * (ROOM_*): SERVER_ROOM_MAKE if max_rooms allows, SERVER_ROOM_ALWAYS
 * whatever it says.  NULL if not found and not made.
 */
struct room *
server_room(struct server *s, const char *name, int how, int flags)
{
	struct room	*r;

	if ((r = room_find(&s->rooms, name)) != NULL ||
	    how == SERVER_ROOM_FIND)
		return (r);
	if (how != SERVER_ROOM_ALWAYS && s->rooms.n >= s->config->max_rooms)
		return (NULL);
	r = room_new(&s->rooms, name, flags);
	chat_room_new(s, r);
	log_debug("room %s made%s", r->name, (r->flags & ROOM_SECRET) ?
	    " (secret)" : "");
	return (r);
}

/* A room that is not permanent vanishes with its last member. */
void
server_room_gone(struct server *s, struct room *r)
{
	if (r->nmembers != 0 || (r->flags & ROOM_PERMANENT))
		return;
	log_debug("room %s gone", r->name);
	chat_room_free(s, r);
	room_free(&s->rooms, r);
}

/*
 * Moves c to room r: it gets what its old room said up to now first, and
 * what r says from now on.
 */
void
server_move(struct server *s, struct client *c, struct room *r)
{
	struct room	*old = c->room;

	output_sync(c);
	room_remove(c);
	room_add(r, c);
	server_room_gone(s, old);
}

/*
 * A line arrived from c: sanitise it, then relay it (raw mode) or hand it
 * to chat.  Returns 1 if c must wait before its next line (see
 * chat_input()).
 */
int
server_input(struct server *s, struct client *c, const char *line,
    size_t len)
{
	struct msg	*m;
	size_t		 n;

	/*
	 * The line was framed under the max_line of its time: a reload may
	 * have lowered it since, so the scratch fits the line, not the
	 * current config.
	 */
	if (SANITIZE_MAX(len) + 1 > s->scratch_size) {
		s->scratch_size = SANITIZE_MAX(len) + 1;
		free(s->scratch);
		s->scratch = xmalloc(s->scratch_size);
	}
	n = sanitize_line(line, len, s->scratch);
	s->scratch[n] = '\0';
	if (c->flags & CLIENT_CONTROL)
		return (control_input(s, c, s->scratch, n));
	if (n == 0)
		return (0);
	if (s->config->mode == MODE_RAW) {
		m = msg_new(n + 2);
		memcpy(m->data, s->scratch, n);
		memcpy(m->data + n, "\r\n", 2);
		server_broadcast(s, c->room, c, m);
		msg_unref(m);
		cluster_said(s, NULL, 0, s->scratch);
		return (0);
	}
	return (chat_input(s, c, s->scratch, n));
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

/*
 * Once a second: quiet clients go to sleep, then idle timeouts, soft
 * output limits, unread last words; quiet rooms give back their turns'
 * buffers.
 */
static void
server_cron_callback(evutil_socket_t fd, short events, void *arg)
{
	struct server	*s = arg;
	struct config	*conf = s->config;
	struct client	*c, *next;
	uint64_t	 now = server_now_ms(s);
	unsigned	 slept = 0;

	/* Handing over: the clients are the successor's, or about to be. */
	if (s->frozen)
		return;
	server_notify_status(s);
	cluster_cron(s);
	control_cron(s, now);
	room_trim(&s->rooms);
	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		slept += client_cron(c);
		if (client_overdue(c, now))
			continue;
		if ((c->flags & CLIENT_CONTROL) && c->state == CLIENT_ROOM &&
		    now - c->active_ms >= (uint64_t)conf->control_idle * 1000) {
			log_debug("control: connection %llu: silent for %u "
			    "second%s, closed", (unsigned long long)c->id,
			    conf->control_idle,
			    conf->control_idle == 1 ? "" : "s");
			client_close(c, "idle control connection");
			continue;
		}
		if (c->state == CLIENT_FLUSHING) {
			/* At shutdown, shutdown_grace decides instead. */
			if (!s->stopping &&
			    now - c->resume_ms >= FLUSH_TIMEOUT_MS)
				client_close(c, c->reason);
			continue;
		}
		/* A control connection that does not read is held to it too. */
		if (c->soft_ms != 0)
			output_check(c, now);
		if (!(c->flags & CLIENT_CONNECTED))
			continue;
		if (c->state == CLIENT_CLOSING || conf->idle_timeout == 0 ||
		    now - c->active_ms < (uint64_t)conf->idle_timeout * 1000)
			continue;
		log_info("client %llu [%s]: idle for %u seconds",
		    (unsigned long long)c->id, c->netaddr, conf->idle_timeout);
		output_printf(c, "*** idle for %u second%s, disconnecting",
		    conf->idle_timeout, conf->idle_timeout == 1 ? "" : "s");
		client_close_after_flush(c, "timed out");
	}
#ifdef __GLIBC__
	/*
	 * The bufferevents of clients that fell asleep are freed between
	 * the clients' other allocations, and glibc keeps such memory
	 * resident, for good.  malloc_trim() hands the free pages back.  It
	 * walks the heap (README, Performance), so it runs only after many
	 * fell asleep, and a cron later: libevent frees a bufferevent from
	 * its loop after bufferevent_free().
	 */
	if (s->trim_pending) {
		malloc_trim(0);
		log_debug("heap trimmed after %u clients fell asleep",
		    s->trim_pending);
	}
	s->trim_pending = slept >= SLEEP_TRIM_MIN ? slept : 0;
#endif
}

/*
 * Refuses c: with one line, then closed once the line is written; or, if
 * it cannot be told (a TLS client before its handshake), closed at once.
 */
static void
server_refuse(struct server *s, struct client *c, const char *why, int tell)
{
	log_notice("client %llu [%s]:%u refused: %s",
	    (unsigned long long)c->id, c->netaddr, c->port, why);
	if (!tell) {
		client_close(c, why);
		return;
	}
	output_printf(c, "*** %s, try again later", why);
	client_close_after_flush(c, why);
}

/*
 * Counts c, whose address is final, against the limits and the bans, or
 * refuses it (telling it why if tell).  A client is counted from then on,
 * through its TLS handshake, until it leaves.  Returns 0 if counted.
 */
static int
server_count(struct server *s, struct client *c, int tell)
{
	struct config	*conf = s->config;
	char		 key[PEER_KEY_MAX];

	if (s->stopping) {
		server_refuse(s, c, "server shutting down", tell);
		return (-1);
	}
	s->stats.accepted++;
	if (conf->max_clients != 0 &&
	    s->nclients + s->npending >= conf->max_clients) {
		s->stats.refused[REFUSED_FULL]++;
		server_refuse(s, c, "server full", tell);
		return (-1);
	}
	peer_key(c->netaddr, conf->ipv6_prefix, key);
	if (conf->max_per_address != 0 &&
	    peer_count(&s->peers, key) >= conf->max_per_address) {
		s->stats.refused[REFUSED_ADDRESS]++;
		server_refuse(s, c, "too many connections from your address",
		    tell);
		return (-1);
	}
	if (control_banned(s, c, tell)) {
		s->stats.refused[REFUSED_BANNED]++;
		return (-1);
	}
	peer_add(&s->peers, key);
	c->flags |= CLIENT_COUNTED;
	s->npending++;
	return (0);
}

/* c, counted, joins the room. */
static void
server_join(struct server *s, struct client *c)
{
	struct config	*conf = s->config;
	uint64_t	 now = server_now_ms(s);

	s->npending--;
	c->guest = cluster_next_guest(s);
	name_guest(c->name, c->guest);
	c->flags |= CLIENT_CONNECTED;
	client_set_state(c, CLIENT_ROOM);
	roster_add(&s->roster, c);
	room_add(s->lobby, c);
	if (++s->nclients > s->stats.peak)
		s->stats.peak = s->nclients;
	c->connected_ms = c->active_ms = now;
	ratelimit_init(&c->rate, now, conf->rate_burst);
	log_info("client %llu [%s]:%u connected%s (%u online)",
	    (unsigned long long)c->id, c->netaddr, c->port,
	    (c->flags & CLIENT_TLS) ? " over TLS" : "", s->nclients);
	chat_joined(s, c);
	account_joined(s, c);
	client_start(c);
}

/* The TLS handshake of a counted client is over. */
static void
server_handshake_callback(struct future *f, void *arg)
{
	struct client	*c = arg;

	if (future_error(f) != 0) {
		client_close(c, future_error(f) == ETIMEDOUT ?
		    "TLS handshake timed out" : "TLS handshake failed");
		return;
	}
	server_join(c->server, c);
}

/* The PROXY header is read: c's address is its client's now. */
static void
server_header_callback(struct future *f, void *arg)
{
	struct client	*c = arg;

	if (future_error(f) != 0) {
		client_close(c, future_error(f) == ETIMEDOUT ?
		    "PROXY header timed out" : "bad PROXY header");
		return;
	}
	if (server_count(c->server, c, 1) == 0)
		server_join(c->server, c);
}

/* Is c's (socket) address one of the proxies whose headers we believe? */
static int
server_trusted_proxy(struct server *s, const struct client *c)
{
	size_t	i;

	for (i = 0; i < s->config->nproxies; i++) {
		if (addr_match(&s->config->proxies[i], c->netaddr))
			return (1);
	}
	return (0);
}

/* A new connection on a chat or TLS listener. */
static void
server_admit(struct server *s, struct listener *l, struct client *c)
{
	TAILQ_INSERT_TAIL(&s->clients, c, entry);
	if (l->kind == LISTENER_TLS) {
		/* A reload keeps a certificate while a TLS listener is. */
		if (s->tls_ctx == NULL) {
			client_close(c, "no TLS certificate");
			return;
		}
		if (server_count(s, c, 0) == 0)
			future_then(client_handshake(c),
			    server_handshake_callback, c);
		return;
	}
	if (s->config->proxy_protocol) {
		if (!server_trusted_proxy(s, c)) {
			log_warnx("client %llu [%s]:%u refused: not a trusted "
			    "proxy, and proxy_protocol is on",
			    (unsigned long long)c->id, c->netaddr, c->port);
			client_close(c, "untrusted proxy");
			return;
		}
		future_then(client_proxy_header(c), server_header_callback, c);
		return;
	}
	if (server_count(s, c, 1) == 0)
		server_join(s, c);
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
		if (error == EMFILE || error == ENFILE)
			s->stats.refused[REFUSED_EMFILE]++;
		listener_pause(l, ACCEPT_PAUSE_MS);
		future_then(listener_accept(l), server_accept_callback, l);
		return;
	}
	c = future_value(f);
	future_then(listener_accept(l), server_accept_callback, l);
	if (l->kind == LISTENER_CONTROL) {
		TAILQ_INSERT_TAIL(&s->clients, c, entry);
		control_admit(s, c);
	} else
		server_admit(s, l, c);
}

static void
server_signal_callback(evutil_socket_t sig, short events, void *arg)
{
	struct server	*s = arg;
	char		 err[1024];

	switch (sig) {
	case SIGHUP:
		if (s->frozen)
			log_notice("signal %d: handing over; not reloading",
			    (int)sig);
		else if (!s->stopping)
			server_reload(s, err, sizeof err);
		break;
	case SIGINT:
	case SIGTERM:
		if (s->stopping) {
			log_notice("signal %d again: stopping now", (int)sig);
			event_base_loopexit(s->base, NULL);
			break;
		}
		/* Once the successor has answered: it serves, or we stop. */
		if (handover_busy(s)) {
			log_notice("signal %d: shutting down after the "
			    "handover", (int)sig);
			handover_stop_after(s);
			break;
		}
		log_notice("signal %d: shutting down", (int)sig);
		server_stop(s);
		break;
	case SIGUSR2:
		if (!s->stopping)
			handover_start(s);
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
void
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
	if (s->control != NULL) {
		listener_free(s->control);
		s->control = NULL;
		unlink(s->config->control_socket);
	}
	metrics_free(s);
	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->flags & CLIENT_CONTROL)
			output_printf(c, "error server shutting down");
		else
			output_printf(c, "*** server shutting down");
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
	    (rlim_t)conf->max_clients + NOFILE_SLACK;
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
	    rl.rlim_cur < (rlim_t)conf->max_clients + NOFILE_WARN)
		log_warnx("open file limit %llu is too low for max_clients "
		    "%u; raise LimitNOFILE or ulimit -n",
		    (unsigned long long)rl.rlim_cur, conf->max_clients);
}

/*
 * Makes the server around conf, which it owns from now on.  path is the
 * file given with -c (NULL: the default path) for reloads.
 */
struct server *
server_new(struct config *conf, const char *path, int debug)
{
	struct server	*s;
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGUSR2 };
	struct event_config *cfg;
	char		 err[512];
	struct timeval	 second = { 1, 0 };
	size_t		 i;

	s = xcalloc(1, sizeof *s);
	s->config = conf;
	s->config_path = path != NULL ? xstrdup(path) : NULL;
	s->debug = debug;
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->clients);
	TAILQ_INIT(&s->throttled);
	TAILQ_INIT(&s->dead);
	TAILQ_INIT(&s->pending);
	TAILQ_INIT(&s->mutes);
	ban_init(&s->bans);
	room_init(&s->rooms);
	peer_init(&s->peers);
	roster_init(&s->roster);
	s->started = time(NULL);
	s->started_ms = server_now_ms(s);
	/*
	 * A precise clock for the loop's time cache: the loop-turn
	 * histogram (metrics.c) measures turns that take microseconds, and
	 * the coarse clock Linux would otherwise give ticks every 4 ms.
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (s->base = event_base_new_with_config(cfg)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(cfg);
	if (future_sched_init(&s->sched, s->base) != 0)
		fatalx("future_sched_init failed");
	s->reap_ev = event_new(s->base, -1, 0, server_reap_callback, s);
	s->flush_ev = event_new(s->base, -1, 0, server_flush_callback, s);
	s->throttle_ev = evtimer_new(s->base, server_throttle_callback, s);
	s->cron_ev = event_new(s->base, -1, EV_PERSIST, server_cron_callback,
	    s);
	s->grace_ev = evtimer_new(s->base, server_grace_callback, s);
	if (s->reap_ev == NULL || s->flush_ev == NULL ||
	    s->throttle_ev == NULL ||
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
	if (conf->tls_cert != NULL &&
	    (s->tls_ctx = tls_context(conf, err, sizeof err)) == NULL)
		fatalx("%s", err);	/* config_load() checked it already */
	chat_init(s);
	return (s);
}

/* Formats a config address as listeners name themselves: addr:port. */
static void
server_addr_text(const struct config_addr *a, uint16_t port, char *buf,
    size_t size)
{
	if (a->ss.ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", a->text, port);
	else
		snprintf(buf, size, "%s:%u", a->text, port);
}

/*
 * Opens a listener for every address of conf into `into`, reusing those of
 * `old` that are already bound to the same address and port (moved, not
 * copied).  Returns 0, or -1 after logging why; on failure the listeners
 * opened here are closed and `old` is left as it was.
 */
static int
server_open_set(struct server *s, const struct config_addr *addrs,
    size_t naddrs, uint16_t port, int kind, struct listeners *old,
    struct listeners *into)
{
	const struct config_addr	*a;
	struct listener			*l;
	char				 text[LISTENER_TEXT_MAX];
	size_t				 i;

	for (i = 0; i < naddrs; i++) {
		a = &addrs[i];
		server_addr_text(a, port, text, sizeof text);
		TAILQ_FOREACH(l, old, entry) {
			if (strcmp(l->text, text) == 0 && l->kind == kind)
				break;
		}
		if (l != NULL) {
			TAILQ_REMOVE(old, l, entry);
			TAILQ_INSERT_TAIL(into, l, entry);
			continue;
		}
		l = listener_new(s, (const struct sockaddr *)&a->ss, a->sslen,
		    -1);
		if (l == NULL) {
			if ((errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) &&
			    naddrs > 1) {
				log_warnx("cannot listen on %s: %s; skipped",
				    text, strerror(errno));
				continue;
			}
			log_warnx("cannot listen on %s: %s", text,
			    strerror(errno));
			return (-1);
		}
		l->kind = kind;
		TAILQ_INSERT_TAIL(into, l, entry);
		log_notice("listening on %s%s", l->text, kind == LISTENER_TLS ?
		    " (TLS)" : "");
	}
	return (0);
}

static int
server_open_listeners(struct server *s, const struct config *conf,
    struct listeners *old, struct listeners *into)
{
	struct listener	*l;

	if (server_open_set(s, conf->addrs, conf->naddrs, conf->port,
	    LISTENER_CHAT, old, into) != 0 ||
	    (conf->tls_cert != NULL && server_open_set(s, conf->tls_addrs,
	    conf->tls_naddrs, conf->tls_port, LISTENER_TLS, old, into) != 0))
		goto fail;
	if (!TAILQ_EMPTY(into))
		return (0);
	log_warnx("no address to listen on");
fail:
	/* Give back what was reused, close what was opened. */
	while ((l = TAILQ_FIRST(into)) != NULL) {
		TAILQ_REMOVE(into, l, entry);
		if (!future_idle(&l->accept))
			TAILQ_INSERT_TAIL(old, l, entry);
		else
			listener_free(l);
	}
	return (-1);
}

/*
 * Whether fd is a socket chatd can serve: a listening stream socket.
 * systemd passes whatever the socket unit says, and a datagram socket or a
 * file would be "served" by logging an accept error every second.
 */
static int
server_check_activated(int fd)
{
	int		type, listening;
	socklen_t	len = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		log_errorx("socket activation: fd %d is not a socket: %s", fd,
		    strerror(errno));
		return (-1);
	}
	len = sizeof listening;
	if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &listening, &len) == -1 || !listening) {
		log_errorx("socket activation: fd %d is not a listening "
		    "stream socket (ListenStream= in the socket unit)", fd);
		return (-1);
	}
	return (0);
}

/*
 * Takes what systemd passed (LISTEN_PID is us), fds 3 to 3 + LISTEN_FDS
 * - 1: listening sockets of socket units, which are served as they are
 * (socket activation), and what a predecessor handed over (handover.c):
 * its state and its clients' sockets, which handover_claim() takes first,
 * and its own listeners (HANDOVER_FD_LISTEN, HANDOVER_FD_LISTEN_TLS),
 * which go to `inherited`, for server_listen() to match against the
 * configuration as a reload would.  Returns how many sockets of socket
 * units it serves, 0 for none (not activated), or after logging why the
 * sockets cannot be served -1, or -2 when the configuration is to blame
 * (a socket named tls, and no certificate to serve it with: chatd-tls.socket
 * enabled before [tls] was set), which restarting will not mend.
 */
static int
server_take_activated(struct server *s, struct listeners *inherited)
{
	struct listener	*l;
	char		**names;
	const char	*name;
	long		 n, i;
	int		 own, tls, nunits = 0, rc = -1;

	if ((n = sdnotify_listen(LISTEN_FDS_MAX, &names)) <= 0)
		return ((int)n);
	for (i = 0; i < n; i++) {
		if (handover_claim(s, 3 + (int)i, names[i]) == -1)
			goto out;
	}
	for (i = 0; i < n; i++) {
		name = names[i];
		if (handover_claimed(name))
			continue;
		own = strcmp(name, HANDOVER_FD_LISTEN) == 0 ||
		    strcmp(name, HANDOVER_FD_LISTEN_TLS) == 0;
		tls = strcmp(name, "tls") == 0 ||
		    strcmp(name, HANDOVER_FD_LISTEN_TLS) == 0;
		if (server_check_activated(3 + (int)i) != 0)
			goto out;
		/* FileDescriptorName=tls marks TLS; others are plain. */
		if (tls && !own && s->tls_ctx == NULL) {
			log_errorx("socket activation: fd %ld is named tls, "
			    "but [tls] has no certificate", 3 + i);
			rc = -2;
			goto out;
		}
		if ((l = listener_new(s, NULL, 0, 3 + (int)i)) == NULL) {
			log_errorx("socket activation: fd %ld: %s", 3 + i,
			    strerror(errno));
			goto out;
		}
		l->kind = tls ? LISTENER_TLS : LISTENER_CHAT;
		if (own) {
			log_info("%s handed over by the predecessor", l->text);
			TAILQ_INSERT_TAIL(inherited, l, entry);
			continue;
		}
		TAILQ_INSERT_TAIL(&s->listeners, l, entry);
		nunits++;
		log_notice("listening on %s (%sfrom systemd)", l->text,
		    l->kind == LISTENER_TLS ? "TLS, " : "");
	}
	if (nunits != 0) {
		s->activated = 1;
		log_notice("socket activation: serving %d socket%s from "
		    "systemd; bind and port from the configuration are not "
		    "used", nunits, nunits == 1 ? "" : "s");
	}
	rc = nunits;
out:
	sdnotify_names_free(names);
	return (rc);
}

/*
 * Readies the directory of path, for key.  Set in the config, a missing
 * directory is made (one level, as systemd's RuntimeDirectory= and
 * StateDirectory= would), owned by the user chatd will run as.  Left at
 * its default, a missing directory means the feature is off, with a
 * notice: the unit provides the directories, and a chatd run by hand has
 * no business making system directories.  Returns 1 to go on, 0 to do
 * without, or -1 after logging why not.
 */
static int
server_make_dir(struct server *s, const char *key, const char *path,
    int set)
{
	char		*dir = xstrdup(path), *slash;
	struct stat	 sb;
	int		 rc = 1;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (stat(dir, &sb) == -1 && errno == ENOENT && !set) {
			log_notice("%s: %s does not exist: off (set [control] "
			    "%s to turn it on)", key, dir, key);
			rc = 0;
		} else if (stat(dir, &sb) == -1 && errno == ENOENT) {
			if (mkdir(dir, 0750) == -1) {
				log_errorx("%s: cannot make %s: %s", key, dir,
				    strerror(errno));
				rc = -1;
			} else
				server_chown(s, dir);
		}
	}
	free(dir);
	return (rc);
}

/*
 * A file chatd made while root, before dropping its privileges, must stay
 * usable by the user it drops to.
 */
static void
server_chown(struct server *s, const char *path)
{
	struct passwd	*pw;

	if (geteuid() != 0 || s->config->user == NULL ||
	    (pw = getpwnam(s->config->user)) == NULL)
		return;
	if (chown(path, pw->pw_uid, (gid_t)-1) == -1)
		log_warn("chown %s", path);
}

/*
 * The control socket ([control] socket): mode 0660, group [control]
 * group.  A stale socket left by a chatd that died is replaced; one that
 * another process still answers on is an error.
 */
static int
server_open_control(struct server *s)
{
	struct config		*conf = s->config;
	struct sockaddr_un	 sun;
	struct stat		 sb;
	struct group		*gr;
	int			 fd;

	if (conf->control_socket == NULL)
		return (0);
	switch (server_make_dir(s, "socket", conf->control_socket,
	    conf->control_set)) {
	case -1:
		return (-1);
	case 0:
		return (0);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", conf->control_socket);
	if (lstat(sun.sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&sun,
		    sizeof sun) == 0) {
			close(fd);
			log_errorx("socket: %s is in use by another process",
			    sun.sun_path);
			return (-1);
		}
		if (fd != -1)
			close(fd);
		unlink(sun.sun_path);
	}
	if ((s->control = listener_new(s, (struct sockaddr *)&sun,
	    sizeof sun, -1)) == NULL) {
		log_errorx("socket: cannot listen on %s: %s", sun.sun_path,
		    strerror(errno));
		return (-1);
	}
	s->control->kind = LISTENER_CONTROL;
	gr = conf->control_group != NULL ? getgrnam(conf->control_group) :
	    NULL;
	if (chmod(sun.sun_path, 0660) == -1 || (gr != NULL &&
	    chown(sun.sun_path, (uid_t)-1, gr->gr_gid) == -1))
		log_warn("control socket %s", sun.sun_path);
	server_chown(s, sun.sun_path);
	log_notice("control socket %s", sun.sun_path);
	return (0);
}

/* The state database ([control] state): opened, checked, bans loaded. */
static int
server_open_state(struct server *s)
{
	struct config	*conf = s->config;
	char		 err[1024], *wal;
	int		 n;

	if (conf->state == NULL)
		return (0);
	switch (server_make_dir(s, "state", conf->state, conf->state_set)) {
	case -1:
		return (-1);
	case 0:
		log_notice("bans are kept in memory only");
		return (0);
	}
	if ((s->store = store_open(conf->state, err, sizeof err)) == NULL) {
		log_errorx("state: %s", err);
		return (-1);
	}
	if ((n = store_ban_load(s->store, &s->bans, (int64_t)time(NULL), err,
	    sizeof err)) < 0) {
		log_errorx("state: %s", err);
		return (-1);
	}
	server_chown(s, conf->state);
	xasprintf(&wal, "%s-wal", conf->state);
	server_chown(s, wal);
	free(wal);
	xasprintf(&wal, "%s-shm", conf->state);
	server_chown(s, wal);
	free(wal);
	log_info("state: %s, %d ban%s in force", conf->state, n,
	    n == 1 ? "" : "s");
	return (0);
}

static int
server_open_metrics(struct server *s)
{
	char	err[256];

	if (s->config->metrics_listen == NULL)
		return (0);
	if (metrics_start(s, err, sizeof err) != 0) {
		log_errorx("listen: %s", err);
		return (-1);
	}
	return (0);
}

/*
 * Opens every configured listener (or takes systemd's) and starts
 * accepting.  Returns 0, or after logging why -1 (the port is in use...)
 * or -2 (the sockets systemd passed do not fit the configuration).
 */
int
server_listen(struct server *s)
{
	struct listeners	 inherited = TAILQ_HEAD_INITIALIZER(inherited);
	struct listener		*l;
	int			 rc;

	server_raise_nofile(s);
	rc = server_take_activated(s, &inherited);
	if (rc == 0 && server_open_listeners(s, s->config, &inherited,
	    &s->listeners) != 0)
		rc = -1;
	/* Activated: a predecessor's own listeners are served as they are. */
	if (rc > 0)
		TAILQ_CONCAT(&s->listeners, &inherited, entry);
	while ((l = TAILQ_FIRST(&inherited)) != NULL) {
		TAILQ_REMOVE(&inherited, l, entry);
		if (rc == 0)
			log_notice("no longer listening on %s", l->text);
		listener_free(l);
	}
	if (rc < 0)
		return (rc);
	if (server_open_control(s) != 0 || server_open_state(s) != 0 ||
	    server_open_metrics(s) != 0)
		return (-1);
	TAILQ_FOREACH(l, &s->listeners, entry)
		future_then(listener_accept(l), server_accept_callback, l);
	if (s->control != NULL)
		future_then(listener_accept(s->control),
		    server_accept_callback, s->control);
	cluster_start(s);
	account_start(s);
	return (0);
}

/*
 * Applies a new, valid config to a running server.  Returns 0, or -1 with
 * why in err, the old config still in force.
 */
static int
server_apply(struct server *s, struct config *conf, char *err,
    size_t errlen)
{
	struct listeners	 fresh = TAILQ_HEAD_INITIALIZER(fresh);
	struct listener		*l;
	struct client		*c;
	struct config		*old = s->config;
	struct ssl_ctx_st	*ctx = NULL;
	char			*scratch, key[PEER_KEY_MAX];

	/*
	 * Sockets systemd passed stay what they are: one named tls needs a
	 * certificate as long as chatd serves it.
	 */
	if (s->activated && conf->tls_cert == NULL) {
		TAILQ_FOREACH(l, &s->listeners, entry) {
			if (l->kind != LISTENER_TLS)
				continue;
			snprintf(err, errlen, "[tls] has no certificate, "
			    "but systemd passed a socket named tls (%s)",
			    l->text);
			return (-1);
		}
	}
	/*
	 * The new certificate and key, all or nothing: new handshakes use
	 * them, sessions under way keep the context they began with.
	 */
	if (conf->tls_cert != NULL &&
	    (ctx = tls_context(conf, err, errlen)) == NULL)
		return (-1);
	if (!s->activated) {
		if (server_open_listeners(s, conf, &s->listeners, &fresh) !=
		    0) {
			snprintf(err, errlen, "cannot open the new listeners");
			tls_context_free(ctx);
			return (-1);
		}
		while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
			TAILQ_REMOVE(&s->listeners, l, entry);
			log_notice("no longer listening on %s", l->text);
			listener_free(l);
		}
		TAILQ_CONCAT(&s->listeners, &fresh, entry);
		TAILQ_FOREACH(l, &s->listeners, entry) {
			if (future_idle(&l->accept))
				future_then(listener_accept(l),
				    server_accept_callback, l);
		}
	} else if (conf->naddrs != old->naddrs || conf->port != old->port ||
	    memcmp(conf->addrs, old->addrs, conf->naddrs *
	    sizeof *conf->addrs) != 0)
		log_notice("socket activation: bind and port changes are not "
		    "used");

	config_keep_cluster(conf, old);
	config_keep_control(conf, old);
	if (conf->max_line != old->max_line) {
		/* server_input() grows it for a line framed before. */
		scratch = xmalloc(SANITIZE_MAX(conf->max_line) + 1);
		free(s->scratch);
		s->scratch = scratch;
		s->scratch_size = SANITIZE_MAX(conf->max_line) + 1;
	}
	if (ctx != NULL || conf->tls_cert == NULL) {
		tls_context_free(s->tls_ctx);
		s->tls_ctx = ctx;
	}
	s->config = conf;
	if (conf->ipv6_prefix != old->ipv6_prefix) {
		/* The addresses are counted under other keys now. */
		peer_free(&s->peers);
		peer_init(&s->peers);
		TAILQ_FOREACH(c, &s->clients, entry) {
			if (!(c->flags & CLIENT_COUNTED))
				continue;
			peer_key(c->netaddr, conf->ipv6_prefix, key);
			peer_add(&s->peers, key);
		}
	}
	TAILQ_FOREACH(c, &s->clients, entry)
		client_configure(c);
	chat_configure(s);
	account_configure(s);
	if (!s->debug)
		log_setlevel(conf->log_level);
	config_free(old);
	free(old);
	return (0);
}

/*
 * Re-reads the config file (SIGHUP, chatctl reload).  A config that fails
 * to parse or to apply (a new address cannot be bound) is reported and the
 * old one stays in force; connected clients are never dropped by a
 * reload.  Returns 0, or -1 with the reason in err.
 */
int
server_reload(struct server *s, char *err, size_t errlen)
{
	struct config	*conf;
	struct timespec	 ts;
	const char	*path = s->config_path != NULL ? s->config_path :
	    CHATD_CONF;
	int		 rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000);
	conf = xcalloc(1, sizeof *conf);
	config_defaults(conf);
	/*
	 * A missing default file means built-in defaults only if it was
	 * missing at start too: one deleted since is an error, not an order
	 * to go back to port 7777 on every address.
	 */
	if (config_load(conf, path, s->config_path != NULL ||
	    s->config->path != NULL, err, errlen) < 0) {
		log_warnx("reload failed: %s; keeping the old configuration",
		    err);
		rc = -1;
	} else if (server_apply(s, conf, err, errlen) != 0) {
		log_warnx("reload failed: %s; keeping the old configuration",
		    err);
		rc = -1;
	} else
		log_notice("configuration reloaded from %s", path);
	if (rc != 0) {
		config_free(conf);
		free(conf);
	}
	sdnotify("READY=1\nSTATUS=%u client%s connected", s->nclients,
	    s->nclients == 1 ? "" : "s");
	return (rc);
}

static void
server_watchdog_callback(evutil_socket_t fd, short events, void *arg)
{
	sdnotify("WATCHDOG=1");
}

/* Pings systemd's watchdog at half its interval, if it has one. */
static void
server_watchdog(struct server *s)
{
	const char		*usec = getenv("WATCHDOG_USEC");
	const char		*pid = getenv("WATCHDOG_PID");
	unsigned long long	 us;
	struct timeval		 tv;

	if (usec == NULL || (us = strtoull(usec, NULL, 10)) == 0)
		return;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return;
	us /= 2;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	s->watchdog_ev = event_new(s->base, -1, EV_PERSIST,
	    server_watchdog_callback, s);
	if (s->watchdog_ev == NULL || event_add(s->watchdog_ev, &tv) != 0)
		fatalx("watchdog event");
	log_debug("watchdog: pinging every %llu ms", us / 1000);
}

/* Runs the loop until shutdown. */
void
server_run(struct server *s)
{
	server_watchdog(s);
	sdnotify("READY=1\nSTATUS=0 clients connected");
	if (event_base_dispatch(s->base) == -1)
		fatalx("event_base_dispatch failed");
}

/* Handing over to a successor (handover.c drives it) -------------------- */

/*
 * Whether c goes to the successor: a user in the room over plain TCP.  A
 * TLS session lives in this process's OpenSSL state, and a control
 * connection is a chatctl's, which asks again.
 */
static int
server_handed(const struct client *c)
{
	return (client_in_room(c) && !(c->flags & CLIENT_TLS));
}

/*
 * The handover begins: nothing more is read or accepted (connections
 * wait in the kernel's queue for whoever serves next), TLS users and
 * control connections are told and closed once that is written, and
 * connections not in the room yet are closed.  Queued output goes on
 * being written.
 */
void
server_freeze(struct server *s)
{
	struct listener	*l;
	struct client	*c, *next;

	s->frozen = 1;
	TAILQ_FOREACH(l, &s->listeners, entry)
		listener_hold(l);
	if (s->control != NULL)
		listener_hold(s->control);
	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_freeze(c);
		if (server_handed(c) || c->state >= CLIENT_FLUSHING)
			continue;
		if (c->state != CLIENT_ROOM) {
			client_close(c, "server restarting");
			continue;
		}
		if (c->flags & CLIENT_CONTROL)
			output_printf(c, "error server restarting");
		else
			output_printf(c, "*** server restarting: a TLS session "
			    "cannot be carried over; please reconnect");
		client_close_after_flush(c, "server restarting");
	}
}

/*
 * Whether the drain is done: everything queued written, nobody on the way
 * out, nobody waiting for an answer from Redis.
 */
int
server_drained(struct server *s)
{
	struct client	*c;

	if (!TAILQ_EMPTY(&s->dead) || !TAILQ_EMPTY(&s->pending) ||
	    !TAILQ_EMPTY(&s->rooms.dirty))
		return (0);
	TAILQ_FOREACH(c, &s->clients, entry) {
		if (!server_handed(c) || output_length(c) != 0 ||
		    (c->flags & CLIENT_WAITING))
			return (0);
	}
	return (1);
}

/*
 * Lets go of what a successor opens anew, and server_thaw() again: the
 * control socket (its path stays, for the successor to bind), the metrics
 * port, the Redis link (names stay claimed: the successor claims them as
 * its own, from the same node).
 */
static void
server_release(struct server *s)
{
	s->released = 1;
	if (s->control != NULL) {
		listener_free(s->control);
		s->control = NULL;
	}
	metrics_free(s);
	cluster_free(s);
}

/*
 * The drain is over: what is left goes to the successor.  Clients that do
 * not (saying their last words, or just arrived) are closed and their
 * leaving told, the turn is written, what the successor opens anew is
 * let go (server_release()), and st is filled.  From here on no client
 * is read or written: st borrows their buffers, which stay as they are
 * until server_thaw().  Free st with state_free().
 */
void
server_export(struct server *s, struct state *st)
{
	struct state_client	*sc;
	struct client		*c, *next;
	struct room		*r;
	uint64_t		 now = server_now_ms(s);

	for (c = TAILQ_FIRST(&s->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!server_handed(c))
			client_close(c, c->reason != NULL ? c->reason :
			    "server restarting");
	}
	server_reap_callback(-1, 0, s);
	server_flush(s);
	server_release(s);

	memset(st, 0, sizeof *st);
	st->next_id = s->next_id;
	st->next_guest = s->next_guest;
	st->rooms = xcalloc(s->rooms.n + 1, sizeof *st->rooms);
	TAILQ_FOREACH(r, &s->rooms.list, entry) {
		room_export(r, &st->rooms[st->nrooms]);
		chat_export(s, r, &st->rooms[st->nrooms++]);
	}
	st->clients = xcalloc(s->nclients + 1, sizeof *st->clients);
	TAILQ_FOREACH(c, &s->clients, entry) {
		if (st->nclients == s->nclients)
			fatalx("server_export: more clients than counted");
		sc = &st->clients[st->nclients++];
		output_hold(c);
		client_export(c, sc, now);
		output_export(c, &sc->output);
		if (sc->flags & STATE_CLIENT_MUTED)
			sc->mute_ms = control_mute_left(s, c->id, now);
	}
}

/*
 * Reading and accepting resume: the handover failed, or a successor that
 * waited for Redis is linked.  What server_release() let go is opened
 * again.
 */
void
server_thaw(struct server *s)
{
	struct listener	*l;
	struct client	*c;

	s->frozen = 0;
	if (s->released) {
		s->released = 0;
		if (server_open_control(s) == 0 && s->control != NULL)
			future_then(listener_accept(s->control),
			    server_accept_callback, s->control);
		server_open_metrics(s);
		cluster_start(s);
	}
	TAILQ_FOREACH(l, &s->listeners, entry)
		listener_release(l);
	TAILQ_FOREACH(c, &s->clients, entry) {
		output_release(c);
		client_thaw(c);
	}
}

/*
 * Which rooms of st to make: those with a member, and those this
 * configuration has (permanent rooms, made already); a room with neither
 * vanishes, as an empty room does.  Sets keep[i] for st->rooms[i] and
 * returns how many are not made yet.
 */
static unsigned
server_import_rooms(struct server *s, const struct state *st, char *keep)
{
	uint32_t	*of, i;
	unsigned	 more = 0;

	of = state_rooms_of(st);
	for (i = 0; i < st->nclients; i++) {
		if (of[i] != UINT32_MAX)
			keep[of[i]] = 1;
	}
	free(of);
	for (i = 0; i < st->nrooms; i++) {
		if (room_find(&s->rooms, st->rooms[i].name) != NULL)
			keep[i] = 1;
		else if (keep[i])
			more++;
	}
	return (more);
}

/*
 * Serves what a predecessor handed over: st, checked by state_decode(),
 * and fds[i], the socket of st->clients[i] (-1 if it did not come with
 * the others: that client leaves as if its connection were lost).  Every
 * client gets its unwritten output, then "*** server restarted", then
 * reads where it left off.  Checks first that every room can be made:
 * if not, nothing is changed and -1 returned with why; a room is taken
 * over whole or not at all.
 */
int
server_import(struct server *s, const struct state *st, const int *fds,
    char *why, size_t whylen)
{
	const struct state_client	*sc;
	const struct state_room		*sr;
	struct config			*conf = s->config;
	struct client			*c;
	struct room			*r;
	char				*keep, key[PEER_KEY_MAX];
	uint64_t			 now = server_now_ms(s);
	uint32_t			 i;
	unsigned			 more;

	keep = xcalloc(st->nrooms + 1, 1);
	more = server_import_rooms(s, st, keep);
	if (more != 0 && s->rooms.n + more > conf->max_rooms) {
		snprintf(why, whylen, "%u rooms, more than max_rooms (%u)",
		    s->rooms.n + more, conf->max_rooms);
		free(keep);
		return (-1);
	}
	if (st->next_id > s->next_id)
		s->next_id = st->next_id;
	if (st->next_guest > s->next_guest)
		s->next_guest = st->next_guest;
	for (i = 0; i < st->nrooms; i++) {
		sr = &st->rooms[i];
		if (!keep[i])
			continue;
		if ((r = server_room(s, sr->name, SERVER_ROOM_MAKE, 0)) ==
		    NULL)
			fatalx("server_import: room %s not made", sr->name);
		room_import(r, sr);
		chat_import(s, r, sr);
	}
	free(keep);

	for (i = 0; i < st->nclients; i++) {
		sc = &st->clients[i];
		c = client_import(s, fds[i], sc, now);
		c->flags |= CLIENT_CONNECTED | CLIENT_COUNTED;
		TAILQ_INSERT_TAIL(&s->clients, c, entry);
		roster_add(&s->roster, c);
		room_add(room_find(&s->rooms, sc->room), c);
		peer_key(c->netaddr, conf->ipv6_prefix, key);
		peer_add(&s->peers, key);
		if (++s->nclients > s->stats.peak)
			s->stats.peak = s->nclients;
		if (sc->mute_ms != 0)
			control_mute_restore(s, c->id, now + sc->mute_ms);
		output_import(c, &sc->output);
		if (conf->mode == MODE_CHAT)
			output_printf(c, "*** server restarted");
		log_debug("client %llu [%s]:%u: %s in %s, taken over",
		    (unsigned long long)c->id, c->netaddr, c->port, c->name,
		    c->room->name);
		if (fds[i] == -1)
			client_close(c, "connection lost in the restart");
		else if (c->state == CLIENT_ROOM)	/* under output limits */
			client_start(c);
	}
	return (0);
}

void
server_free(struct server *s)
{
	struct listener	*l;
	struct client	*c;
	size_t		 i;

	/* First: its requests point at clients. */
	cluster_free(s);
	/* After the cluster: its last callbacks complete account requests. */
	account_free(s);
	handover_free(s);
	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		listener_free(l);
	}
	if (s->control != NULL) {
		listener_free(s->control);
		unlink(s->config->control_socket);
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
	room_clear(&s->rooms);
	control_free(s);
	store_close(s->store);
	metrics_free(s);
	peer_free(&s->peers);
	roster_free(&s->roster);
	for (i = 0; i < sizeof s->sig_ev / sizeof s->sig_ev[0]; i++)
		event_free(s->sig_ev[i]);
	event_free(s->reap_ev);
	event_free(s->flush_ev);
	event_free(s->throttle_ev);
	event_free(s->cron_ev);
	event_free(s->grace_ev);
	if (s->watchdog_ev != NULL)
		event_free(s->watchdog_ev);
	future_sched_free(&s->sched);
	event_base_free(s->base);
	free(s->scratch);
	tls_context_free(s->tls_ctx);
	config_free(s->config);
	free(s->config);
	free(s->config_path);
	free(s);
}
