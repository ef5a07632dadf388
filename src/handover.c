/*
 * handover.c: restarting without dropping anyone.  A running chatd hands
 * its listening sockets, every client's socket and an image of its state
 * (state.c) to its successor, which carries on where it stopped.
 *
 * SIGUSR2 starts it.  The old process stops reading and accepting
 * (server_freeze(): new connections wait in the kernel's queue), tells
 * its TLS users and control connections that they must come back (their
 * sessions live in this process), and lets queued output drain for at
 * most handover_drain_ms, checking every HANDOVER_TICK_MS; the drain
 * completes a future, whose continuation takes the image (server_export())
 * into a sealed memfd.  Then one of two ways:
 *
 *  - systemd's fd store, when the unit has one (NOTIFY_SOCKET, and FDSTORE
 *    above 0, which systemd sets from 254 on and chatd.service sets for
 *    older ones): every socket and the memfd go to the store with
 *    FDSTORE=1 and a name, and the process exits with HANDOVER_EXIT.
 *    chatd.service's RestartKillSignal=SIGUSR2 makes `systemctl restart`
 *    do this, and RestartForceExitStatus= restarts it after a SIGUSR2
 *    sent by hand; systemd passes the lot to the new process in
 *    LISTEN_FDS, as socket activation does;
 *  - without one, nginx's way: fork, and exec the same path with the same
 *    arguments (a new binary, if one was installed there), the sockets and
 *    the memfd at fds 3 and up and LISTEN_FDS, LISTEN_FDNAMES and
 *    LISTEN_PID set as systemd would.  One more descriptor, a socket pair,
 *    carries the successor's word: "ok" once it has taken everything over,
 *    or "fail" and why (a bad config, an image it cannot read), or nothing
 *    if it died or exec failed.  On "ok" the old process says MAINPID= for
 *    systemd's sake, answers "go" (the successor reads no client before
 *    that, so the two never both serve) and exits; on anything else, or no
 *    word within handover_timeout, it reaps the child and serves on as if
 *    nothing had happened (server_thaw()).
 *
 * The new process finds its predecessor's descriptors among LISTEN_FDS by
 * name (server.c hands the state's and the clients' here, and keeps the
 * listeners), reads the image and checks it whole before anything is
 * made of it.  An image it cannot use (another version, truncated,
 * corrupt, over its limits) means a fresh start: every inherited client
 * gets one line and is closed, and the reason is logged; never a crash,
 * never a half-restored room.  Under SIGUSR2 the old process still
 * serves, so the successor only says "fail" and exits, touching no
 * client.  A successor from the fd store that cannot start at all closes
 * the stored clients the same way, so that none hangs, and in every case
 * it takes its descriptors out of the store (FDSTOREREMOVE=1): the store
 * must not keep a client's socket open after chatd closed it.  A cluster
 * node that took over reads no client until it is linked to Redis again
 * (reply_timeout at most), so that the rest of the room misses none of
 * its users' lines.
 *
 * Rejected: exec in place, without fork (a successor that fails to start
 * would take everyone with it); passing the state through a pipe (the
 * successor could not tell a truncated image from a slow writer, and a
 * memfd fits the fd store as it is); a file in /run (systemd clears
 * RuntimeDirectory= on restart); handing over TLS sessions (the OpenSSL
 * state cannot be moved out of the process).
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chatd.h"

#define HANDOVER_TICK_MS	2	/* drain checks */
#define HANDOVER_REAP_MS	2000	/* a failed successor to exit */
#define HANDOVER_REPLY_MAX	512	/* the successor's word */
#define HANDOVER_FAILED_LINE	"*** server restart failed: please reconnect"
#define HANDOVER_FRESH_LINE	"*** server restarted, but your session " \
				"could not be carried over: please reconnect"

extern char **environ;

enum handover_phase {
	HANDOVER_IDLE,
	HANDOVER_DRAINING,	/* reading stopped, output being written */
	HANDOVER_WAITING,	/* for the successor's word */
	HANDOVER_DONE,		/* handed over: leaving */
	HANDOVER_LINKING,	/* taken over: reading once linked to Redis */
};

/* What the successor took from LISTEN_FDS, by name (for FDSTOREREMOVE). */
#define HANDOVER_SEEN_STATE	0x01
#define HANDOVER_SEEN_CLIENT	0x02
#define HANDOVER_SEEN_LISTEN	0x04
#define HANDOVER_SEEN_TLS	0x08

struct handover {
	struct server		*server;
	char			**argv;		/* main()'s, to exec again */
	char			*path;		/* argv[0], made absolute */
	enum handover_phase	 phase;
	int			 stop_after;	/* SIGTERM meanwhile */
	int			 status;	/* exit status once DONE */

	/* The old process. */
	struct future		 drained;
	struct event		*drain_ev;
	uint64_t		 drain_until;
	struct future		 answer;	/* the successor's word */
	struct event		*answer_ev;
	int			 sock;		/* our end of its socket */
	pid_t			 child;
	char			 reply[HANDOVER_REPLY_MAX];
	size_t			 nreply;

	/* The new process: what came in LISTEN_FDS. */
	struct future		 linked;	/* to Redis, or given up */
	struct event		*link_ev;
	uint64_t		 link_until;
	int			 exec;		/* exec'd by a predecessor that
						   still serves: hands off */
	int			 state_fd;
	int			 ack_fd;	/* its socket, until answered */
	int			*client_fds;
	size_t			 nclient_fds;
	size_t			 client_fds_size;
	int			 seen;		/* HANDOVER_SEEN_* */
};

static void	handover_fail(struct handover *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	handover_link(struct handover *);

/* Setting up, and what a predecessor left ---------------------------------- */

/*
 * Gets ready to hand over one day, and to take over from a predecessor:
 * argv is main()'s, kept to exec the same program (argv[0] made absolute:
 * a relative path is relative to where chatd was started).
 */
void
handover_init(struct server *s, char **argv)
{
	struct handover	*h;
	char		 cwd[PATH_MAX];

	h = xcalloc(1, sizeof *h);
	h->server = s;
	h->argv = argv;
	if (argv[0][0] != '/' && strchr(argv[0], '/') != NULL &&
	    getcwd(cwd, sizeof cwd) != NULL)
		xasprintf(&h->path, "%s/%s", cwd, argv[0]);
	else
		h->path = xstrdup(argv[0]);
	h->sock = h->state_fd = h->ack_fd = -1;
	h->child = -1;
	future_init(&h->drained, &s->sched);
	future_init(&h->answer, &s->sched);
	future_init(&h->linked, &s->sched);
	s->handover = h;
}

/* Whether a LISTEN_FDNAMES name is one of the descriptors taken here. */
int
handover_claimed(const char *name)
{
	return (strcmp(name, HANDOVER_FD_STATE) == 0 ||
	    strcmp(name, HANDOVER_FD_ACK) == 0 ||
	    strcmp(name, HANDOVER_FD_CLIENT) == 0);
}

/*
 * fd came in LISTEN_FDS called name: if it is the state, a client or the
 * predecessor's socket, it is taken (1); listeners are server.c's (0),
 * but noted, to be taken out of the fd store.  Never fails: what is wrong
 * with a descriptor shows when it is used.
 */
int
handover_claim(struct server *s, int fd, const char *name)
{
	struct handover	*h = s->handover;

	if (strcmp(name, HANDOVER_FD_LISTEN) == 0)
		h->seen |= HANDOVER_SEEN_LISTEN;
	else if (strcmp(name, HANDOVER_FD_LISTEN_TLS) == 0)
		h->seen |= HANDOVER_SEEN_TLS;
	if (!handover_claimed(name))
		return (0);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (strcmp(name, HANDOVER_FD_STATE) == 0) {
		h->seen |= HANDOVER_SEEN_STATE;
		if (h->state_fd != -1)
			close(h->state_fd);	/* the last one counts */
		h->state_fd = fd;
	} else if (strcmp(name, HANDOVER_FD_ACK) == 0) {
		if (h->ack_fd != -1)
			close(h->ack_fd);
		h->ack_fd = fd;
		h->exec = 1;
	} else {
		h->seen |= HANDOVER_SEEN_CLIENT;
		if (h->nclient_fds == h->client_fds_size) {
			h->client_fds_size = h->client_fds_size == 0 ? 64 :
			    h->client_fds_size * 2;
			h->client_fds = xrealloc(h->client_fds,
			    h->client_fds_size * sizeof *h->client_fds);
		}
		h->client_fds[h->nclient_fds++] = fd;
	}
	return (1);
}

/*
 * Tells a client it must come back (line, CRLF added) and closes its
 * socket.  What it sent is read first, so that the close sends a FIN
 * behind the line rather than a reset ahead of it.
 */
static void
handover_tell_close(int fd, const char *line)
{
	char	buf[4096];
	int	i, flags;

	if ((flags = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	for (i = 0; i < 16 && read(fd, buf, sizeof buf) > 0; i++)
		;
	snprintf(buf, sizeof buf, "%s\r\n", line);
	if (write(fd, buf, strlen(buf)) == -1)
		log_debug("handover: fd %d: %s", fd, strerror(errno));
	shutdown(fd, SHUT_WR);
	close(fd);
}

/*
 * An inherited client that will not be served: told and closed, unless a
 * predecessor that still serves it exec'd us (then only our copy goes).
 */
static void
handover_drop(struct handover *h, int fd, const char *line)
{
	if (h->exec)
		close(fd);
	else
		handover_tell_close(fd, line);
}

/* Takes what came from the fd store out of it (nothing if exec'd). */
static void
handover_unstore(int seen)
{
	static const struct {
		int		 bit;
		const char	*name;
	} names[] = {
		{ HANDOVER_SEEN_LISTEN, HANDOVER_FD_LISTEN },
		{ HANDOVER_SEEN_TLS, HANDOVER_FD_LISTEN_TLS },
		{ HANDOVER_SEEN_CLIENT, HANDOVER_FD_CLIENT },
		{ HANDOVER_SEEN_STATE, HANDOVER_FD_STATE },
	};
	size_t	i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if ((seen & names[i].bit) &&
		    sdnotify_unstore(names[i].name) == -1)
			log_warn("handover: FDSTOREREMOVE %s", names[i].name);
	}
}

/* Tells the predecessor that we failed, and why; once. */
static void
handover_say_failed(int *ackp, const char *why)
{
	char	buf[HANDOVER_REPLY_MAX];
	int	n;

	if (*ackp == -1)
		return;
	n = snprintf(buf, sizeof buf, "fail %s\n", why);
	if (n >= (int)sizeof buf) {
		n = sizeof buf - 1;
		buf[n - 1] = '\n';
	}
	if (write(*ackp, buf, (size_t)n) == -1)
		log_debug("handover: telling the predecessor: %s",
		    strerror(errno));
	close(*ackp);
	*ackp = -1;
}

/*
 * This process will not serve (why says why not).  If a predecessor
 * exec'd it, that one still serves: it is told, and no client is touched.
 * If the fd store passed the clients, there is nobody else to serve
 * them: each is told and closed, and the store emptied.
 */
void
handover_abandon(struct server *s, const char *why)
{
	struct handover	*h = s->handover;
	size_t		 i;

	if (h->exec) {
		handover_say_failed(&h->ack_fd, why);
		return;
	}
	if (h->nclient_fds != 0)
		log_notice("handover: closing %zu client%s passed by systemd",
		    h->nclient_fds, h->nclient_fds == 1 ? "" : "s");
	for (i = 0; i < h->nclient_fds; i++)
		handover_tell_close(h->client_fds[i], HANDOVER_FAILED_LINE);
	h->nclient_fds = 0;
	handover_unstore(h->seen);
	h->seen = 0;
}

/*
 * As handover_abandon(), before there is a server (the configuration is
 * bad): the descriptors are found in LISTEN_FDS.
 */
void
handover_abandon_early(const char *why)
{
	char	**names;
	long	  n, i;
	int	  ack = -1, seen = 0, fd;

	if ((n = sdnotify_listen(INT_MAX, &names)) <= 0)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], HANDOVER_FD_ACK) == 0)
			ack = 3 + (int)i;
	}
	for (i = 0; i < n && ack == -1; i++) {
		fd = 3 + (int)i;
		if (strcmp(names[i], HANDOVER_FD_CLIENT) == 0) {
			handover_tell_close(fd, HANDOVER_FAILED_LINE);
			seen |= HANDOVER_SEEN_CLIENT;
		} else if (strcmp(names[i], HANDOVER_FD_STATE) == 0)
			seen |= HANDOVER_SEEN_STATE;
		else if (strcmp(names[i], HANDOVER_FD_LISTEN) == 0)
			seen |= HANDOVER_SEEN_LISTEN;
		else if (strcmp(names[i], HANDOVER_FD_LISTEN_TLS) == 0)
			seen |= HANDOVER_SEEN_TLS;
	}
	if (ack != -1)
		handover_say_failed(&ack, why);
	else if (seen != 0) {
		log_notice("handover: closed the clients passed by systemd");
		handover_unstore(seen);
	}
	sdnotify_names_free(names);
}

/* The image in the memfd fd, read whole; NULL and why if it cannot be. */
static uint8_t *
handover_read(int fd, size_t *lenp, char *why, size_t whylen)
{
	struct stat	 sb;
	uint8_t		*buf;
	size_t		 len, at = 0;
	ssize_t		 n;

	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(why, whylen, "the state descriptor is not a file");
		return (NULL);
	}
	if ((uint64_t)sb.st_size > STATE_SIZE_MAX) {
		snprintf(why, whylen, "an image of %lld bytes, more than %lu",
		    (long long)sb.st_size, STATE_SIZE_MAX);
		return (NULL);
	}
	len = (size_t)sb.st_size;
	buf = xmalloc(len + 1);
	while (at < len) {
		n = pread(fd, buf + at, len - at, (off_t)at);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "reading the image: %s", n == 0 ?
			    "it ended early" : strerror(errno));
			free(buf);
			return (NULL);
		}
		at += (size_t)n;
	}
	*lenp = len;
	return (buf);
}

/* An inherited client's socket and its inode, for the matching. */
struct handover_sock {
	uint64_t	 ino;
	int		 fd;
	int		 used;
};

static int
handover_sock_cmp(const void *a, const void *b)
{
	uint64_t	x = ((const struct handover_sock *)a)->ino;
	uint64_t	y = ((const struct handover_sock *)b)->ino;

	return (x < y ? -1 : x > y);
}

/*
 * fds[i] for st->clients[i]: the inherited socket with its inode, or -1.
 * Sockets no client of st claims are told and closed.
 */
static void
handover_match(struct handover *h, const struct state *st, int *fds)
{
	struct handover_sock	*socks, probe, *hit;
	size_t			 i, n = h->nclient_fds, lost = 0;

	socks = xcalloc(n + 1, sizeof *socks);
	for (i = 0; i < n; i++) {
		socks[i].fd = h->client_fds[i];
		socks[i].ino = client_socket_id(socks[i].fd);
	}
	qsort(socks, n, sizeof *socks, handover_sock_cmp);
	for (i = 0; i < st->nclients; i++) {
		probe.ino = st->clients[i].sock;
		hit = bsearch(&probe, socks, n, sizeof *socks,
		    handover_sock_cmp);
		fds[i] = -1;
		if (hit != NULL && hit->ino != 0 && !hit->used) {
			hit->used = 1;
			fds[i] = hit->fd;
		} else
			lost++;
	}
	for (i = 0; i < n; i++) {
		if (!socks[i].used)
			handover_drop(h, socks[i].fd, HANDOVER_FRESH_LINE);
	}
	if (lost != 0)
		log_notice("handover: %zu client%s' socket%s did not come; "
		    "they leave", lost, lost == 1 ? "" : "s",
		    lost == 1 ? "" : "s");
	free(socks);
	h->nclient_fds = 0;
}

/*
 * Takes over what a predecessor handed over, if anything.  An image that
 * cannot be used means a fresh start: the inherited clients are told and
 * closed (0), except under a predecessor that still serves, which is
 * told instead (-1: this process must not start).
 */
int
handover_restore(struct server *s)
{
	struct handover		*h = s->handover;
	struct state_limits	 lim;
	struct state		 st;
	uint8_t			*img = NULL;
	size_t			 len, i;
	char			 why[512];
	int			*fds = NULL, rc = 0;

	if (h->state_fd == -1 && h->nclient_fds == 0)
		goto out;
	if (h->state_fd == -1) {
		snprintf(why, sizeof why, "no state came with the clients");
		goto fresh;
	}
	if ((img = handover_read(h->state_fd, &len, why, sizeof why)) ==
	    NULL)
		goto fresh;
	lim.max_clients = s->config->max_clients;
	lim.max_rooms = s->config->max_rooms;
	if (state_decode(img, len, &lim, &st, why, sizeof why) != 0)
		goto fresh;
	fds = xcalloc(st.nclients + 1, sizeof *fds);
	handover_match(h, &st, fds);
	/* A cluster node reads nothing until linked: handover_link(). */
	s->frozen = s->cluster != NULL;
	if (server_import(s, &st, fds, why, sizeof why) != 0) {
		s->frozen = 0;
		for (i = 0; i < st.nclients; i++) {
			if (fds[i] != -1)
				handover_drop(h, fds[i], HANDOVER_FRESH_LINE);
		}
		state_free(&st);
		goto fresh;
	}
	log_notice("handover: took over %u client%s and %u room%s", st.nclients,
	    st.nclients == 1 ? "" : "s", st.nrooms, st.nrooms == 1 ? "" : "s");
	state_free(&st);
	if (s->frozen)
		handover_link(h);
	goto out;
fresh:
	log_warnx("handover: the state is not used: %s", why);
	if (h->exec) {
		handover_say_failed(&h->ack_fd, why);
		rc = -1;
		goto out;
	}
	log_warnx("handover: starting afresh; %zu client%s told and closed",
	    h->nclient_fds, h->nclient_fds == 1 ? "" : "s");
	for (i = 0; i < h->nclient_fds; i++)
		handover_tell_close(h->client_fds[i], HANDOVER_FRESH_LINE);
	h->nclient_fds = 0;
out:
	free(fds);
	free(img);
	if (h->state_fd != -1) {
		close(h->state_fd);
		h->state_fd = -1;
	}
	if (!h->exec) {
		handover_unstore(h->seen);
		h->seen = 0;
	}
	return (rc);
}

/*
 * Exec'd by a predecessor: tell it everything is taken over, and wait
 * (handover_timeout) for it to let go before serving.  Returns 0 to
 * serve, -1 if it did not answer (it gave up on us: exit).  A signal
 * meanwhile (a reload, another SIGUSR2: libevent's handler only notes
 * it, for the loop) does not end the wait: the predecessor would let go
 * of clients that nobody then serves.
 */
int
handover_ready(struct server *s)
{
	struct handover	*h = s->handover;
	struct pollfd	 pfd;
	char		 buf[8];
	uint64_t	 until;
	ssize_t		 n = -1;
	int		 rc = -1, left;

	if (h->ack_fd == -1)
		return (0);
	pfd.fd = h->ack_fd;
	pfd.events = POLLIN;
	until = server_now_ms(s) + (uint64_t)s->config->handover_timeout *
	    1000;
	if (write(h->ack_fd, "ok\n", 3) == 3) {
		do {
			left = until > server_now_ms(s) ?
			    (int)(until - server_now_ms(s)) : 0;
		} while ((rc = poll(&pfd, 1, left)) == -1 && errno == EINTR);
	}
	if (rc == 1) {
		while ((n = read(h->ack_fd, buf, sizeof buf)) == -1 &&
		    errno == EINTR)
			;
	}
	close(h->ack_fd);
	h->ack_fd = -1;
	if (n != 3 || memcmp(buf, "go\n", 3) != 0) {
		log_warnx("handover: the predecessor did not let go; "
		    "leaving it to serve");
		return (-1);
	}
	log_notice("handover: serving");
	return (0);
}

static void
handover_link_callback(evutil_socket_t fd, short events, void *arg)
{
	struct handover	*h = arg;
	struct server	*s = h->server;
	struct timeval	 tv = { 0, HANDOVER_TICK_MS * 1000 };

	if (cluster_up(s) || server_now_ms(s) >= h->link_until) {
		future_complete_size(&h->linked, (size_t)cluster_up(s));
		return;
	}
	evtimer_add(h->link_ev, &tv);
}

static void
handover_linked(struct future *f, void *arg)
{
	struct handover	*h = arg;
	struct server	*s = h->server;

	event_free(h->link_ev);
	h->link_ev = NULL;
	if (future_size(f))
		log_info("handover: linked to Redis; reading");
	else
		log_notice("handover: Redis not linked within %u s; reading, "
		    "the room local-only", s->config->cluster_timeout);
	h->phase = HANDOVER_IDLE;
	server_thaw(s);
	if (h->stop_after)
		server_stop(s);
}

/*
 * A cluster node that took over reads no client until it is linked to
 * Redis again (for at most reply_timeout), so that no line said meanwhile
 * stays local: the rest of the room would miss it.  Output is written
 * meanwhile; accepting waits too.
 */
static void
handover_link(struct handover *h)
{
	struct server	*s = h->server;
	struct timeval	 tv = { 0, HANDOVER_TICK_MS * 1000 };

	h->phase = HANDOVER_LINKING;
	h->link_until = server_now_ms(s) +
	    (uint64_t)s->config->cluster_timeout * 1000;
	h->link_ev = evtimer_new(s->base, handover_link_callback, h);
	if (h->link_ev == NULL || evtimer_add(h->link_ev, &tv) != 0)
		fatalx("handover: evtimer_new failed");
	future_start(&h->linked);
	future_then(&h->linked, handover_linked, h);
}

/* Handing over ------------------------------------------------------------ */

/* The fd store's size, if this process has one to hand over to; else 0. */
static unsigned long
handover_fdstore(void)
{
	const char	*sock = getenv("NOTIFY_SOCKET");
	const char	*max = getenv("FDSTORE");
	char		*end;
	unsigned long	 n;

	if (sock == NULL || *sock == '\0' || max == NULL)
		return (0);
	n = strtoul(max, &end, 10);
	return (*end == '\0' ? n : 0);
}

/* Whether a handover is under way (not idle, not done). */
int
handover_busy(struct server *s)
{
	return (s->handover->phase == HANDOVER_DRAINING ||
	    s->handover->phase == HANDOVER_WAITING ||
	    s->handover->phase == HANDOVER_LINKING);
}

/* SIGTERM during a handover: stop once it is over, if it fails. */
void
handover_stop_after(struct server *s)
{
	s->handover->stop_after = 1;
}

/* main()'s exit status: HANDOVER_EXIT after handing over to the store. */
int
handover_status(struct server *s)
{
	return (s->handover->phase == HANDOVER_DONE ? s->handover->status : 0);
}

static void
handover_drain_callback(evutil_socket_t fd, short events, void *arg)
{
	struct handover	*h = arg;
	struct server	*s = h->server;
	struct timeval	 tv = { 0, HANDOVER_TICK_MS * 1000 };
	int		 drained = server_drained(s);

	if (drained || server_now_ms(s) >= h->drain_until) {
		/* Behind any continuation still due: see client_export(). */
		future_complete_later(&h->drained, (size_t)drained);
		return;
	}
	evtimer_add(h->drain_ev, &tv);
}

/* The image, in a sealed memfd; -1 and why if it cannot be made. */
static int
handover_memfd(const uint8_t *img, size_t len, char *why, size_t whylen)
{
	size_t	at = 0;
	ssize_t	n;
	int	fd;

	if ((fd = memfd_create(HANDOVER_FD_STATE, MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1) {
		snprintf(why, whylen, "memfd_create: %s", strerror(errno));
		return (-1);
	}
	while (at < len) {
		if ((n = write(fd, img + at, len - at)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "writing the image: %s",
			    strerror(errno));
			close(fd);
			return (-1);
		}
		at += (size_t)n;
	}
	/* Nobody changes it on its way, the successor included. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1)
		log_debug("handover: sealing the image: %s", strerror(errno));
	return (fd);
}

/* The descriptors to hand over, and their LISTEN_FDNAMES names. */
struct handover_fds {
	int		*fds;
	const char	**names;
	size_t		 n;
};

static void
handover_fds_add(struct handover_fds *v, int fd, const char *name)
{
	v->fds = xrealloc(v->fds, (v->n + 1) * sizeof *v->fds);
	v->names = xrealloc(v->names, (v->n + 1) * sizeof *v->names);
	v->fds[v->n] = fd;
	v->names[v->n++] = name;
}

/*
 * The listeners and clients' sockets: a listener systemd passed keeps a
 * name of socket activation ("tls" or another), chatd's own are
 * HANDOVER_FD_LISTEN*; to the fd store, systemd's are not handed, since
 * it passes them again anyway.
 */
static void
handover_collect(struct server *s, int store, struct handover_fds *v)
{
	struct listener	*l;
	struct client	*c;
	int		 tls;

	TAILQ_FOREACH(l, &s->listeners, entry) {
		tls = l->kind == LISTENER_TLS;
		if (s->activated && store)
			continue;
		if (s->activated)
			handover_fds_add(v, listener_fd(l), tls ? "tls" :
			    "activated");
		else
			handover_fds_add(v, listener_fd(l), tls ?
			    HANDOVER_FD_LISTEN_TLS : HANDOVER_FD_LISTEN);
	}
	TAILQ_FOREACH(c, &s->clients, entry)
		handover_fds_add(v, c->fd, HANDOVER_FD_CLIENT);
}

/* The handover is over: this process leaves with status. */
static void
handover_done(struct handover *h, int status)
{
	h->phase = HANDOVER_DONE;
	h->status = status;
	event_base_loopexit(h->server->base, NULL);
}

/*
 * The handover failed: log why, serve on (server_thaw()), and stop after
 * all if SIGTERM came meanwhile.
 */
static void
handover_fail(struct handover *h, const char *fmt, ...)
{
	struct server	*s = h->server;
	char		*why;
	va_list		 ap;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	log_warnx("handover failed: %s; serving on", why);
	free(why);
	h->phase = HANDOVER_IDLE;
	server_thaw(s);
	if (h->stop_after)
		server_stop(s);
}

/*
 * Puts every descriptor in systemd's fd store, the image last so that a
 * successor never finds one without the sockets it names.  Returns 0, or
 * -1 with what was stored taken out again.
 */
static int
handover_store(struct handover *h, const struct handover_fds *v, int memfd)
{
	size_t	i, j;
	int	seen = 0;

	for (i = 0; i < v->n; i = j) {
		for (j = i; j < v->n && strcmp(v->names[j], v->names[i]) == 0;
		    j++)
			;
		seen |= strcmp(v->names[i], HANDOVER_FD_CLIENT) == 0 ?
		    HANDOVER_SEEN_CLIENT : strcmp(v->names[i],
		    HANDOVER_FD_LISTEN_TLS) == 0 ? HANDOVER_SEEN_TLS :
		    HANDOVER_SEEN_LISTEN;
		if (sdnotify_store(v->names[i], v->fds + i, j - i) != 1)
			goto fail;
	}
	seen |= HANDOVER_SEEN_STATE;
	if (sdnotify_store(HANDOVER_FD_STATE, &memfd, 1) != 1)
		goto fail;
	log_notice("handover: %zu socket%s and the state are in systemd's "
	    "fd store; exiting", v->n, v->n == 1 ? "" : "s");
	return (0);
fail:
	log_warn("handover: FDSTORE=1");
	handover_unstore(seen);
	return (-1);
}

/*
 * In the child, before exec: fds[i] goes to 3 + i, without CLOEXEC, and
 * every other descriptor from 3 up is closed.  Those in the way are moved
 * above the range first, so no descriptor is lost and none doubled.
 */
static void
handover_child_fds(int *fds, size_t n)
{
	int	top = 3 + (int)n, fd;
	size_t	i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 3 && fds[i] < top && fds[i] != 3 + (int)i) {
			if ((fd = fcntl(fds[i], F_DUPFD_CLOEXEC, top)) == -1)
				_exit(127);
			close(fds[i]);
			fds[i] = fd;
		}
	}
	for (i = 0; i < n; i++) {
		if (fds[i] == 3 + (int)i)
			fcntl(fds[i], F_SETFD, 0);
		else if (dup2(fds[i], 3 + (int)i) == -1)
			_exit(127);
		else
			close(fds[i]);
	}
	if (close_range((unsigned)top, ~0U, 0) == -1) {
		for (fd = top; fd < 65536; fd++)
			close(fd);
	}
}

/*
 * The successor's environment: ours, LISTEN_* as systemd sets them, and
 * WATCHDOG_PID (if set) for the successor.  The PIDs are the child's,
 * written there after fork() into the two strings *pidp and *wdogp
 * (NULL: none) point at, which have room for them.
 */
static char **
handover_env(const struct handover_fds *v, char **pidp, char **wdogp)
{
	char	**env, *names;
	size_t	  n, i, j, len = 1;

	for (n = 0; environ[n] != NULL; n++)
		;
	env = xcalloc(n + 5, sizeof *env);
	*wdogp = NULL;
	for (i = j = 0; i < n; i++) {
		if (strncmp(environ[i], "LISTEN_", 7) == 0)
			continue;
		if (strncmp(environ[i], "WATCHDOG_PID=", 13) == 0) {
			xasprintf(wdogp, "WATCHDOG_PID=%-20s", "");
			env[j++] = *wdogp;
			continue;
		}
		env[j++] = environ[i];
	}
	for (i = 0; i < v->n; i++)
		len += strlen(v->names[i]) + 1;
	names = xcalloc(1, len);
	for (i = 0, len = 0; i < v->n; i++) {
		if (i != 0)
			names[len++] = ':';
		memcpy(names + len, v->names[i], strlen(v->names[i]));
		len += strlen(v->names[i]);
	}
	xasprintf(&env[j++], "LISTEN_FDS=%zu", v->n);
	xasprintf(&env[j++], "LISTEN_FDNAMES=%s", names);
	xasprintf(pidp, "LISTEN_PID=%-20s", "");
	env[j++] = *pidp;
	env[j] = NULL;
	free(names);
	return (env);
}

/* Frees what handover_env() made (environ's strings are not its). */
static void
handover_env_free(char **env, char *wdog)
{
	char	**p;

	for (p = env; *p != NULL; p++) {
		if (strncmp(*p, "LISTEN_", 7) == 0 || *p == wdog)
			free(*p);
	}
	free(env);
}

/* Writes pid into a string from handover_env(), in the child. */
static void
handover_env_pid(char *var, pid_t pid)
{
	char	*eq = strchr(var, '=') + 1;

	snprintf(eq, 21, "%ld", (long)pid);
}

static void
handover_answer_callback(evutil_socket_t fd, short events, void *arg)
{
	struct handover	*h = arg;
	ssize_t		 n;
	char		*nl;

	if (events & EV_TIMEOUT) {
		future_fail(&h->answer, ETIMEDOUT);
		return;
	}
	n = read(fd, h->reply + h->nreply, sizeof h->reply - 1 - h->nreply);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		future_fail(&h->answer, ECONNRESET);
		return;
	}
	h->nreply += (size_t)n;
	h->reply[h->nreply] = '\0';
	if ((nl = strchr(h->reply, '\n')) != NULL) {
		*nl = '\0';
		future_complete(&h->answer, h->reply);
	} else if (h->nreply == sizeof h->reply - 1)
		future_fail(&h->answer, EMSGSIZE);
}

/*
 * Waits for a successor that failed to exit (HANDOVER_REAP_MS), then
 * kills it: before serving on, since it may still unlink the control
 * socket's path on its way out.
 */
static void
handover_reap(struct handover *h)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		i, st;

	for (i = 0; i < HANDOVER_REAP_MS / 10; i++) {
		if (waitpid(h->child, &st, WNOHANG) == h->child)
			goto reaped;
		nanosleep(&ts, NULL);
	}
	kill(h->child, SIGKILL);
	waitpid(h->child, &st, 0);
reaped:
	if (WIFEXITED(st))
		log_info("handover: process %ld exited with status %d",
		    (long)h->child, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		log_info("handover: process %ld killed by signal %d",
		    (long)h->child, WTERMSIG(st));
	h->child = -1;
}

/* The successor's word, or its silence. */
static void
handover_answered(struct future *f, void *arg)
{
	struct handover	*h = arg;
	char		*p, why[HANDOVER_REPLY_MAX];
	int		 ok;

	event_free(h->answer_ev);
	h->answer_ev = NULL;
	ok = future_error(f) == 0 && strcmp(h->reply, "ok") == 0;
	if (ok) {
		/*
		 * Its READY=1 comes after this, on the same socket.  "go"
		 * that cannot be written is a successor gone since its "ok":
		 * nobody would serve if this process left too.
		 */
		sdnotify("MAINPID=%ld", (long)h->child);
		if (write(h->sock, "go\n", 3) == 3) {
			close(h->sock);
			h->sock = -1;
			log_notice("handover: process %ld serves now; exiting",
			    (long)h->child);
			handover_done(h, 0);
			return;
		}
		log_warn("handover: telling process %ld to go",
		    (long)h->child);
		sdnotify("MAINPID=%ld", (long)getpid());
	}
	close(h->sock);
	h->sock = -1;
	switch (future_error(f)) {
	case 0:
		if (ok) {
			snprintf(why, sizeof why, "it was gone before it was "
			    "told to go");
			break;
		}
		/* "fail WHY": its own words, printable only. */
		snprintf(why, sizeof why, "%s", strncmp(h->reply, "fail ",
		    5) == 0 ? h->reply + 5 : h->reply);
		for (p = why; *p != '\0'; p++) {
			if (*p < ' ' || *p > '~')
				*p = '?';
		}
		break;
	case ETIMEDOUT:
		snprintf(why, sizeof why, "no word within %u s",
		    h->server->config->handover_timeout);
		break;
	default:
		snprintf(why, sizeof why, "it ended without a word (it "
		    "could not be run, or died; see above)");
		break;
	}
	handover_reap(h);
	handover_fail(h, "the new process: %s", why);
}

/*
 * Forks and execs the successor with v's descriptors and the memfd, and
 * waits for its word (handover_answered()).  Returns 0, or -1 with why.
 */
static int
handover_exec(struct handover *h, struct handover_fds *v, int memfd,
    char *why, size_t whylen)
{
	struct server	*s = h->server;
	struct timeval	 tv = { (time_t)s->config->handover_timeout, 0 };
	char		**env, *pidvar, *wdogvar;
	sigset_t	 all, old;
	size_t		 i;
	int		 sp[2];
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return (-1);
	}
	handover_fds_add(v, memfd, HANDOVER_FD_STATE);
	handover_fds_add(v, sp[1], HANDOVER_FD_ACK);
	env = handover_env(v, &pidvar, &wdogvar);
	/*
	 * Until exec, a signal to the child must not reach libevent's
	 * handler, which writes to its pipe by number: a client's socket,
	 * once the descriptors have moved.  The child takes it as the
	 * successor would before it is up: it dies, and this process
	 * serves on.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < sizeof s->sig_ev / sizeof s->sig_ev[0]; i++)
			signal(event_get_signal(s->sig_ev[i]), SIG_DFL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	switch (pid) {
	case -1:
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		handover_env_free(env, wdogvar);
		return (-1);
	case 0:
		handover_env_pid(pidvar, getpid());
		if (wdogvar != NULL)
			handover_env_pid(wdogvar, getpid());
		handover_child_fds(v->fds, v->n);
		if (strchr(h->path, '/') != NULL)
			execve(h->path, h->argv, env);
		else
			execvpe(h->path, h->argv, env);
		/* Its socket is the last descriptor, 3 + n - 1. */
		dprintf(2 + (int)v->n, "fail exec %s: %s\n", h->path,
		    strerror(errno));
		_exit(127);
	}
	close(sp[1]);
	handover_env_free(env, wdogvar);
	h->child = pid;
	h->sock = sp[0];
	h->nreply = 0;
	evutil_make_socket_nonblocking(h->sock);
	h->answer_ev = event_new(s->base, h->sock, EV_READ | EV_PERSIST,
	    handover_answer_callback, h);
	if (h->answer_ev == NULL || event_add(h->answer_ev, &tv) != 0)
		fatalx("handover: event_new failed");
	h->phase = HANDOVER_WAITING;
	log_info("handover: process %ld started (%s); waiting for its word",
	    (long)pid, h->path);
	future_start(&h->answer);
	future_then(&h->answer, handover_answered, h);
	return (0);
}

/*
 * The drain is over: take the image, and hand it over with the sockets,
 * to the store or to a new process.
 */
static void
handover_drained(struct future *f, void *arg)
{
	struct handover		*h = arg;
	struct server		*s = h->server;
	struct handover_fds	 v = { NULL, NULL, 0 };
	struct state		 st;
	uint8_t			*img;
	size_t			 len;
	char			 why[512];
	int			 memfd = -1, store = handover_fdstore() != 0;

	event_free(h->drain_ev);
	h->drain_ev = NULL;
	if (future_size(f) == 0)
		log_notice("handover: output not written after %u ms goes "
		    "along", s->config->handover_drain_ms);
	server_export(s, &st);
	img = state_encode(&st, &len);
	state_free(&st);
	if (img == NULL) {
		handover_fail(h, "the state is over %lu bytes", STATE_SIZE_MAX);
		return;
	}
	memfd = handover_memfd(img, len, why, sizeof why);
	free(img);
	if (memfd == -1) {
		handover_fail(h, "%s", why);
		return;
	}
	handover_collect(s, store, &v);
	if (store) {
		if (handover_store(h, &v, memfd) == 0)
			handover_done(h, HANDOVER_EXIT);
		else
			handover_fail(h, "the fd store did not take the "
			    "descriptors");
	} else if (handover_exec(h, &v, memfd, why, sizeof why) != 0)
		handover_fail(h, "%s", why);
	close(memfd);
	free(v.fds);
	free(v.names);
}

/*
 * SIGUSR2: hand over to a successor.  Under systemd with an fd store too
 * small for every socket, a handover would drop clients: chatd shuts down
 * as for SIGTERM instead, telling everyone.
 */
void
handover_start(struct server *s)
{
	struct handover	*h = s->handover;
	struct listener	*l;
	struct timeval	 tv = { 0, 1000 };
	unsigned long	 store = handover_fdstore(), need = 1;

	if (h->phase != HANDOVER_IDLE) {
		log_notice("handover: under way already");
		return;
	}
	if (store != 0) {
		TAILQ_FOREACH(l, &s->listeners, entry)
			need += !s->activated;
		need += s->nclients + s->npending;
		if (need > store) {
			log_warnx("handover: systemd's fd store holds %lu "
			    "descriptors, %lu are needed: raise "
			    "FileDescriptorStoreMax= (and FDSTORE=) in the "
			    "unit; shutting down instead", store, need);
			server_stop(s);
			return;
		}
	}
	log_notice("handover: to %s; draining for at most %u ms",
	    store != 0 ? "systemd's fd store" : "a new process",
	    s->config->handover_drain_ms);
	h->phase = HANDOVER_DRAINING;
	h->stop_after = 0;
	server_freeze(s);
	h->drain_until = server_now_ms(s) + s->config->handover_drain_ms;
	h->drain_ev = evtimer_new(s->base, handover_drain_callback, h);
	if (h->drain_ev == NULL || evtimer_add(h->drain_ev, &tv) != 0)
		fatalx("handover: evtimer_new failed");
	future_start(&h->drained);
	future_then(&h->drained, handover_drained, h);
}

void
handover_free(struct server *s)
{
	struct handover	*h = s->handover;
	size_t		 i;

	if (h == NULL)
		return;
	future_cancel(&h->drained);
	future_cancel(&h->answer);
	future_cancel(&h->linked);
	if (h->drain_ev != NULL)
		event_free(h->drain_ev);
	if (h->link_ev != NULL)
		event_free(h->link_ev);
	if (h->answer_ev != NULL)
		event_free(h->answer_ev);
	if (h->sock != -1)
		close(h->sock);
	if (h->state_fd != -1)
		close(h->state_fd);
	if (h->ack_fd != -1)
		close(h->ack_fd);
	for (i = 0; i < h->nclient_fds; i++)
		close(h->client_fds[i]);
	free(h->client_fds);
	free(h->path);
	free(h);
	s->handover = NULL;
}
