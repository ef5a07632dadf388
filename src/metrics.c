/*
 * metrics.c: Prometheus metrics over HTTP, GET /metrics, through
 * libevent's evhttp.
 *
 * The counters live in the server (struct stats) and are bumped where
 * things happen; this file only writes them out in the text exposition
 * format (version 0.0.4), names after Prometheus's conventions: a
 * "chatd_" prefix, "_total" for counters, base units (seconds, bytes).
 * Anything but GET /metrics is answered 404 (or 501 for another method,
 * which evhttp refuses itself).
 *
 * The listener is bounded like the others: evhttp limits the size of a
 * request's headers and body and times a connection out after
 * METRICS_TIMEOUT_S of silence; evhttp 2.1 cannot cap how many
 * connections are open, so accepts are capped instead, at
 * METRICS_ACCEPTS_PER_S (the listener pauses for the rest of the second),
 * which bounds the open connections at that times the timeout.  A scraper
 * needs one connection every few seconds.
 *
 * The loop-turn histogram: metrics_turn() is given how long a turn's
 * work took, from when the loop woke up (libevent's cached time) to the
 * end of the flush that ends the turn's output (server.c).
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "chatd.h"

/* Upper bounds of the loop-turn histogram's buckets, in seconds. */
static const double metrics_bounds[STATS_TURN_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 1,
};

struct metrics {
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct event			*resume_ev;
	uint64_t			 second;	/* of accepts counted */
	unsigned			 accepts;
};

static const char *const metrics_refused[REFUSED_NREASONS] = {
	[REFUSED_FULL] = "max_clients",
	[REFUSED_ADDRESS] = "per_address",
	[REFUSED_BANNED] = "banned",
	[REFUSED_EMFILE] = "emfile",
};
static const char *const metrics_closed[CLOSED_NREASONS] = {
	[CLOSED_QUIT] = "quit",
	[CLOSED_RESET] = "reset",
	[CLOSED_IDLE] = "idle",
	[CLOSED_OUTPUT] = "output_limit",
	[CLOSED_KICKED] = "kicked",
	[CLOSED_SHUTDOWN] = "shutdown",
	[CLOSED_OTHER] = "other",
};

/* The label of a refusal, or of a departure, in metrics and chatctl. */
const char *
metrics_refused_name(int i)
{
	return (metrics_refused[i]);
}

const char *
metrics_closed_name(int i)
{
	return (metrics_closed[i]);
}

/* A turn's work took ns nanoseconds. */
void
metrics_turn(struct server *s, uint64_t ns)
{
	struct stats	*st = &s->stats;
	double		 sec = (double)ns / 1e9;
	size_t		 i;

	for (i = 0; i < STATS_TURN_BUCKETS && sec > metrics_bounds[i]; i++)
		;
	st->turns[i]++;
	st->turn_ns += ns;
}

static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
metrics_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, unsigned long long v)
{
	metrics_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/* The exposition: every metric, in the text format. */
static void
metrics_write(struct server *s, struct evbuffer *b)
{
	struct stats		*st = &s->stats;
	unsigned long long	 count = 0;
	size_t			 i;

	metrics_one(b, "chatd_clients", "gauge", "Clients connected now.",
	    s->nclients);
	metrics_one(b, "chatd_clients_peak", "gauge", "Most clients "
	    "connected at once since the start.", st->peak);
	metrics_one(b, "chatd_start_time_seconds", "gauge", "When chatd "
	    "started, in seconds since the epoch.",
	    (unsigned long long)s->started);
	metrics_one(b, "chatd_connections_accepted_total", "counter",
	    "Connections accepted on the chat listeners.", st->accepted);
	metrics_head(b, "chatd_connections_refused_total", "counter",
	    "Connections refused, by reason.");
	for (i = 0; i < REFUSED_NREASONS; i++)
		evbuffer_add_printf(b, "chatd_connections_refused_total"
		    "{reason=\"%s\"} %llu\n", metrics_refused[i],
		    (unsigned long long)st->refused[i]);
	metrics_head(b, "chatd_clients_closed_total", "counter",
	    "Clients gone from the room, by reason.");
	for (i = 0; i < CLOSED_NREASONS; i++)
		evbuffer_add_printf(b, "chatd_clients_closed_total"
		    "{reason=\"%s\"} %llu\n", metrics_closed[i],
		    (unsigned long long)st->closed[i]);
	metrics_one(b, "chatd_lines_received_total", "counter",
	    "Lines received from clients, commands included.", st->lines_in);
	metrics_one(b, "chatd_lines_relayed_total", "counter",
	    "Lines broadcast to the room: chat, actions and notices.",
	    st->relayed);
	metrics_one(b, "chatd_deliveries_total", "counter",
	    "Broadcast lines handed to recipients, one per recipient.",
	    st->deliveries);
	metrics_one(b, "chatd_received_bytes_total", "counter",
	    "Bytes of lines received from clients.", st->bytes_in);
	metrics_one(b, "chatd_sent_bytes_total", "counter",
	    "Bytes written to clients' sockets.", st->bytes_out);
	metrics_head(b, "chatd_throttled_seconds_total", "counter",
	    "Time clients spent held back by the rate limit.");
	evbuffer_add_printf(b, "chatd_throttled_seconds_total %.3f\n",
	    (double)st->throttled_ms / 1000);
	metrics_one(b, "chatd_lines_overlong_total", "counter",
	    "Lines discarded for being longer than max_line.", st->overlong);
	metrics_head(b, "chatd_loop_turn_seconds", "histogram",
	    "Work of one turn of the event loop that wrote output.");
	for (i = 0; i < STATS_TURN_BUCKETS; i++) {
		count += st->turns[i];
		evbuffer_add_printf(b, "chatd_loop_turn_seconds_bucket"
		    "{le=\"%g\"} %llu\n", metrics_bounds[i], count);
	}
	count += st->turns[STATS_TURN_BUCKETS];
	evbuffer_add_printf(b, "chatd_loop_turn_seconds_bucket{le=\"+Inf\"} "
	    "%llu\nchatd_loop_turn_seconds_sum %.9f\n"
	    "chatd_loop_turn_seconds_count %llu\n", count,
	    (double)st->turn_ns / 1e9, count);
	metrics_one(b, "chatd_bans", "gauge", "Bans in force.", s->bans.n);
	if (s->cluster == NULL)
		return;
	metrics_one(b, "chatd_cluster_up", "gauge", "Whether the room is "
	    "linked through Redis (1) or local-only (0).",
	    strcmp(cluster_state(s), "up") == 0);
	metrics_one(b, "chatd_cluster_published_total", "counter",
	    "Messages published to the room's channel.", st->published);
	metrics_one(b, "chatd_cluster_received_total", "counter",
	    "Messages from other nodes accepted from the channel.",
	    st->received);
	metrics_one(b, "chatd_cluster_outages_total", "counter",
	    "Times the link to Redis was lost.", st->outages);
}

static void
metrics_request(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ?
	    evhttp_uri_get_path(uri) : NULL;
	struct evbuffer		*b;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	metrics_write(s, b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void
metrics_resume_callback(evutil_socket_t fd, short events, void *arg)
{
	struct metrics	*m = arg;

	evconnlistener_enable(evhttp_bound_socket_get_listener(m->bound));
}

/*
 * evhttp makes a bufferevent for each connection it accepts: counting
 * them here caps the accepts per second.  Returning NULL lets evhttp make
 * its own, as usual.
 */
static struct bufferevent *
metrics_bev_callback(struct event_base *base, void *arg)
{
	struct server	*s = arg;
	struct metrics	*m = s->metrics;
	uint64_t	 second = server_now_ms(s) / 1000;
	struct timeval	 tv = { 1, 0 };

	if (second != m->second) {
		m->second = second;
		m->accepts = 0;
	}
	if (++m->accepts >= METRICS_ACCEPTS_PER_S) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(
		    m->bound));
		evtimer_add(m->resume_ev, &tv);
		log_warnx("metrics: %d connections in a second; pausing "
		    "accepts for a second", METRICS_ACCEPTS_PER_S);
	}
	return (NULL);
}

/* Starts serving [metrics] listen.  Returns 0, or -1 with err. */
int
metrics_start(struct server *s, char *err, size_t errlen)
{
	struct config	*conf = s->config;
	struct metrics	*m;
	uint16_t	 port;

	m = xcalloc(1, sizeof *m);
	s->metrics = m;
	if ((m->http = evhttp_new(s->base)) == NULL ||
	    (m->resume_ev = evtimer_new(s->base, metrics_resume_callback,
	    m)) == NULL)
		fatalx("metrics: evhttp_new failed");
	evhttp_set_max_headers_size(m->http, METRICS_REQUEST_MAX);
	evhttp_set_max_body_size(m->http, METRICS_REQUEST_MAX);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_gencb(m->http, metrics_request, s);
	evhttp_set_bevcb(m->http, metrics_bev_callback, s);
	if (conf->metrics_addr.ss.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&conf->metrics_addr.ss)->
		    sin_port);
	else
		port = ntohs(((struct sockaddr_in6 *)&conf->metrics_addr.ss)->
		    sin6_port);
	if ((m->bound = evhttp_bind_socket_with_handle(m->http,
	    conf->metrics_addr.text, port)) == NULL) {
		snprintf(err, errlen, "cannot listen on %s for metrics",
		    conf->metrics_listen);
		return (-1);
	}
	log_notice("metrics on http://%s/metrics", conf->metrics_listen);
	return (0);
}

void
metrics_free(struct server *s)
{
	struct metrics	*m = s->metrics;

	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	if (m->resume_ev != NULL)
		event_free(m->resume_ev);
	free(m);
	s->metrics = NULL;
}
