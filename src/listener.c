/*
 * listener.c: listening sockets, with accept expressed as a future.
 *
 * libevent's evconnlistener does the accept() loop; each accepted socket
 * becomes a client at once and joins the listener's backlog, and the
 * listener's accept future completes with the oldest one.  The server
 * re-arms the future from its continuation, so it sees one new client per
 * completion while a burst of connections accepted in one loop turn waits
 * in the backlog (bounded by the kernel's listen backlog per turn).
 *
 * When accept() fails for want of descriptors or memory, the future fails
 * with that errno and the listener stops polling; the server pauses it
 * (listener_pause()) and it resumes by itself, so the loop never spins on a
 * listening socket it cannot drain.  While the server hands over to a
 * successor it holds every listener (listener_hold()): the socket goes to
 * the successor, and connections wait in its queue meanwhile.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "chatd.h"

/*
 * The kernel's queue of connections not yet accepted.  511, as nginx and
 * Redis use, is more than a loop turn drains; the kernel caps it at
 * net.core.somaxconn anyway.
 */
#define LISTENER_BACKLOG	511

static void
listener_take(struct listener *l)
{
	struct client	*c;

	if (!future_pending(&l->accept) ||
	    (c = TAILQ_FIRST(&l->backlog)) == NULL)
		return;
	TAILQ_REMOVE(&l->backlog, c, entry);
	future_complete(&l->accept, c);
}

static void
listener_accept_callback(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;
	struct client	*c;

	c = client_new(l->server, fd, sa, (socklen_t)salen);
	TAILQ_INSERT_TAIL(&l->backlog, c, entry);
	listener_take(l);
}

static void
listener_error_callback(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	int		 error = EVUTIL_SOCKET_ERROR();

	/* Stop polling a socket we cannot drain until told otherwise. */
	evconnlistener_disable(l->evl);
	if (future_pending(&l->accept))
		future_fail(&l->accept, error);
	else
		log_warnx("accept on %s: %s", l->text, strerror(error));
}

static void
listener_retry_callback(evutil_socket_t fd, short events, void *arg)
{
	struct listener	*l = arg;

	if (!l->server->frozen)
		evconnlistener_enable(l->evl);
}

/* Returns a listening socket bound to sa, or -1 with errno set. */
static int
listener_bind(const struct sockaddr *sa, socklen_t salen)
{
	int	fd, on = 1, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return (-1);
	if ((sa->sa_family != AF_UNIX && setsockopt(fd, SOL_SOCKET,
	    SO_REUSEADDR, &on, sizeof on) == -1) ||
	    (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof on) == -1) ||
	    bind(fd, sa, salen) == -1 || listen(fd, LISTENER_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Opens a listener on an already bound socket fd (ours or systemd's) or,
 * with fd -1, binds sa itself.  Returns NULL with errno set on failure.
 */
struct listener *
listener_new(struct server *s, const struct sockaddr *sa, socklen_t salen,
    int fd)
{
	struct listener		*l;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;
	char			 host[NETADDR_MAX];
	unsigned		 flags = LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED;
	int			 saved, port;

	if (fd == -1) {
		if ((fd = listener_bind(sa, salen)) == -1)
			return (NULL);
	} else if (evutil_make_socket_nonblocking(fd) == -1)
		return (NULL);

	l = xcalloc(1, sizeof *l);
	l->server = s;
	TAILQ_INIT(&l->backlog);
	future_init(&l->accept, &s->sched);
	l->evl = evconnlistener_new(s->base, listener_accept_callback, l,
	    flags, 0, fd);
	if (l->evl == NULL) {
		saved = errno;
		evutil_closesocket(fd);
		free(l);
		errno = saved;
		return (NULL);
	}
	evconnlistener_set_error_cb(l->evl, listener_error_callback);
	l->retry = evtimer_new(s->base, listener_retry_callback, l);
	if (l->retry == NULL)
		fatalx("evtimer_new");

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, host, sizeof host);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			snprintf(l->text, sizeof l->text, "%s:%d", host, port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, host, sizeof host);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			snprintf(l->text, sizeof l->text, "[%s]:%d", host,
			    port);
		}
	} else if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family == AF_UNIX && ((struct sockaddr_un *)&ss)->
	    sun_path[0] != '\0')
		snprintf(l->text, sizeof l->text, "%.*s",
		    (int)sizeof l->text - 1,
		    ((struct sockaddr_un *)&ss)->sun_path);
	else
		snprintf(l->text, sizeof l->text, "fd %d", fd);
	return (l);
}

/*
 * Returns the accept future, pending until a client arrives; its value is
 * the new struct client, which the continuation then owns.
 */
struct future *
listener_accept(struct listener *l)
{
	future_start(&l->accept);
	if (!TAILQ_EMPTY(&l->backlog))
		listener_take(l);
	else if (!evtimer_pending(l->retry, NULL) && !l->server->frozen)
		evconnlistener_enable(l->evl);
	return (&l->accept);
}

/* Stops accepting for ms milliseconds (after EMFILE and the like). */
void
listener_pause(struct listener *l, unsigned ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evconnlistener_disable(l->evl);
	evtimer_add(l->retry, &tv);
}

/*
 * The server is handing over: accept nothing (connections wait in the
 * kernel's queue for whoever serves next) until listener_release().
 */
void
listener_hold(struct listener *l)
{
	evconnlistener_disable(l->evl);
}

void
listener_release(struct listener *l)
{
	if (future_pending(&l->accept) && !evtimer_pending(l->retry, NULL))
		evconnlistener_enable(l->evl);
}

/* The listening socket, to hand over. */
int
listener_fd(const struct listener *l)
{
	return (evconnlistener_get_fd(l->evl));
}

/* Closes the socket and frees clients accepted but never taken. */
void
listener_free(struct listener *l)
{
	struct client	*c;

	future_cancel(&l->accept);
	while ((c = TAILQ_FIRST(&l->backlog)) != NULL) {
		TAILQ_REMOVE(&l->backlog, c, entry);
		client_free(c);
	}
	evconnlistener_free(l->evl);
	event_free(l->retry);
	free(l);
}
