/*
 * chatd-bench.c: a load generator for chatd (and for any line relay that
 * sends each line to every other client, such as "ncat -l --chat").
 *
 * One process, one libevent loop.  It opens N connections, waits until
 * the server has accepted all of them, then lets clients 0..S-1 send M
 * lines each while every client reads and checks what it gets.  Modes:
 *
 *   fan-out (default)  as fast as a window of W lines in flight per sender
 *                      allows, or at -r lines per second per sender;
 *   --broadcast        S = 1 and W = 1: one line to all, wait until all
 *                      N-1 have it, M rounds; reports the time per round;
 *   --idle             connect N, wait until the server holds them, report
 *                      the server's RSS growth per connection, hold, exit;
 *   --lookup           chatd in chat mode: connect N, wait for every
 *                      welcome line, then the first client to join sends
 *                      M "/msg NAME x" lines (a window of W in flight),
 *                      once for a name nobody holds and once for the
 *                      client that joined last; reports the server's CPU
 *                      and the round trip per /msg in each case;
 *   --rooms R          chatd in chat mode: client i joins room #rK, K = i
 *                      mod R (R = 1: all stay in the default room), and a
 *                      sender's lines are expected by the others of its
 *                      room only; a line from another room is a leak;
 *   --handshakes       TLS: W connections at a time, each a fresh full
 *                      handshake (no session resumed), closed once the
 *                      server has finished its side; M of them, or fewer
 *                      past --duration; reports handshakes per second and
 *                      the server's CPU per handshake.
 *
 * --tls makes every client speak TLS 1.3 with one cipher suite offered
 * (TLS_AES_128_GCM_SHA256 unless --ciphersuite), in any mode but lookup,
 * and is counted and checked exactly as plain lines are.  The server's
 * certificate is not checked: the benchmark makes a throwaway one.
 *
 * Sync: the server may still be accepting when our connect() completes, so
 * client 0 sends "@S k" and the phase starts once every other client has
 * seen a sync line; a line missed by a client that was not yet accepted is
 * made good by resending with k+1 each second.  With --server-pid the idle
 * mode waits for the server's descriptor count instead, because a broadcast
 * would allocate (and leave in the server's malloc arena) output buffers
 * that are not the idle cost we want to measure.  The lookup mode syncs
 * on chat mode's welcome line ("*** Welcome to NAME, guestK. ..."), which
 * the server sends once it holds the client, and which tells us K: the
 * client with the highest K is the last in the server's list, the worst
 * case for a lookup that walks it.  The rooms mode syncs on what the
 * server says too: after its welcome a client sends "/join #rK", and the
 * run starts when every client has been told "*** you are now in #rK"
 * (with one room, when every client has its welcome).
 *
 * A measured line is "@B <sender> <seq> <send-ns>" padded with 'x' to -l
 * bytes.  Receivers look for the '@', so a relay's prefix ("<user5> ") is
 * skipped.  The send time is CLOCK_MONOTONIC, read by the same process
 * that reads the receive time, so the clocks agree; it is read once per
 * send() and once per read(), which keeps the per-line cost small and the
 * latency an upper bound (it includes our own queueing).  "In flight"
 * means sent but not yet seen by the sender's probe receiver, the last
 * client (or client 0 for a sender that is itself the last client).
 *
 * Checking: per (receiver, sender) pair the next expected sequence number.
 * A jump ahead leaves a gap; a later line that fills a gap is counted as
 * reordered, a line below the expected number with no gap open is a
 * duplicate, and gaps still open at the end are lost lines.  A line from
 * a receiver's own sender id is an echo.  This is exact for a relay that
 * only loses, duplicates or reorders, which is what it is meant to catch.
 *
 * Lookup mode: a /msg has no sequence number in its reply ("*** no such
 * user: nobody", "*** message sent to guestK"), but one client's lines
 * are answered in order, so the k-th reply answers the k-th /msg and a
 * ring of W send times gives each its round trip.  A reply with no /msg
 * outstanding is counted as unexpected.  Server CPU comes from the first
 * field of /proc/PID/schedstat (nanoseconds on CPU; chatd has one
 * thread), read before and after each case: one clock tick of
 * /proc/PID/stat (10 ms) is thousands of /msg at N = 10.
 *
 * TLS: each client has an SSL of its own over its non-blocking socket.
 * A read takes every record the socket holds into the shared buffer (while
 * a whole record still fits) and parses them as a plain read's bytes; a
 * send is one SSL_write() with partial writes on, so what it leaves waits
 * in c->out exactly as a plain send()'s rest does (OpenSSL accepts the
 * retry from the moved buffer).  The plain path pays one test of c->ssl
 * per send.  A session ticket is how the server shows that its side of
 * the handshake is over (OpenSSL's server sends them once it has the
 * client's Finished; the client's own handshake ends a flight earlier):
 * idle mode waits for a ticket per client before it takes the server's
 * RSS, and handshake mode closes a connection when its first ticket comes.
 *
 * Rejected: bufferevents.  Their writes are deferred to the next loop turn
 * (adding our own latency to every measurement) and their input buffers
 * copy each byte once more.  Here a client is a socket with a read event,
 * one shared read buffer, a small carry-over buffer for a partial line and
 * a pending-output buffer used only when send() would block.  Also
 * rejected: one timestamp per line (a clock read per delivery costs more
 * than parsing it) and printf-family parsing on the receive path.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/event.h>

#define READ_SIZE	(256 * 1024)	/* shared read buffer */
#define PART_MAX	8192		/* longest partial line kept */
#define CONNECT_MAX	64		/* connects in progress at once */
#define AHEAD_POLL_US	1000		/* re-read the server's fds */
#define SEND_CHUNK	(64 * 1024)	/* bytes formatted per send() */
#define TICK_MS		100		/* housekeeping timer */
#define SYNC_RETRY_MS	1000
#define SYNC_GIVEUP_MS	30000
#define TLS_RECORD_MAX	16384		/* plaintext of one TLS record */
#define TLS_SUITE	"TLS_AES_128_GCM_SHA256"

/* Latency histogram: 64 linear sub-buckets per power of two of ns. */
#define HIST_SUB_BITS	6
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_SIZE	((64 - HIST_SUB_BITS) * HIST_SUB + HIST_SUB)

enum bench_mode {
	MODE_FANOUT,
	MODE_BROADCAST,
	MODE_IDLE,
	MODE_LOOKUP,
	MODE_HANDSHAKE
};

enum bench_phase {
	PHASE_CONNECT,
	PHASE_ACCEPT,		/* idle mode: counting the server's fds */
	PHASE_SYNC,
	PHASE_WELCOME,		/* lookup, rooms: waiting for welcomes */
	PHASE_RUN,
	PHASE_HOLD,
	PHASE_DONE
};

struct bench_client {
	struct bench		*b;
	unsigned		 id;
	int			 fd;
	int			 flags;
#define BC_CONNECTED	0x1
#define BC_SYNCED	0x2
#define BC_DISCARD	0x4	/* dropping an overlong line */
#define BC_CLOSED	0x8
#define BC_WELCOMED	0x10	/* lookup mode: guest is known */
#define BC_PRELUDE	0x20	/* rooms mode: not in its room yet */
#define BC_TICKET	0x40	/* TLS: the server's handshake is over */
	unsigned long long	 guest;		/* K of its name guestK */
	SSL			*ssl;		/* --tls */
	struct event		*ev_read;
	struct event		*ev_write;	/* connect, then output */
	char			*part;		/* PART_MAX, on demand */
	size_t			 partlen;
	char			*out;		/* what send() left */
	size_t			 outlen;
	size_t			 outsize;
};

/* Lookup mode: one case (a miss, then a hit) of M /msg lines. */
struct bench_lookup {
	const char		*what;		/* "miss", "hit" */
	char			 name[64];	/* NAME in "/msg NAME x" */
	char			 reply[96];	/* the sender's answer */
	size_t			 replylen;
	uint32_t		 lines;		/* M, or fewer past --duration */
	uint32_t		 sent;
	uint32_t		 replied;
	uint32_t		 received;	/* by the target (hit) */
	uint64_t		 unexpected;	/* replies nothing asked */
	uint64_t		 rtt_sum_ns;
	int64_t			 cpu0_ns;	/* server, -1 unknown */
	int64_t			 cpu1_ns;
	uint64_t		 start_ns;
	uint64_t		 end_ns;
	int			 done;
};

struct bench_sender {
	uint32_t		 sent;
	uint32_t		 acked;		/* seen by the probe */
	unsigned		 probe;
	uint64_t		 offset_ns;	/* rate mode: stagger */
};

struct bench {
	struct event_base	*base;
	enum bench_mode		 mode;
	enum bench_phase	 phase;

	/* Options. */
	const char		*host;
	const char		*port;
	unsigned		 nclients;
	unsigned		 nsenders;
	uint32_t		 lines;
	uint32_t		 window;
	uint32_t		 batch;		/* lines per send() */
	double			 rate;
	size_t			 payload;
	pid_t			 server_pid;
	double			 hold;
	double			 duration;	/* lookup: sending, per case */
	double			 timeout;
	int			 expect_exact;
	int			 quiet;
	const char		*label;
	int			 tls;
	const char		*ciphersuite;
	unsigned		 rooms;		/* 0: no rooms mode */
	pid_t			 proxy_pid;	/* in front of the server */

	struct addrinfo		*ai;
	const char		*port2;		/* a second node, or NULL */
	struct addrinfo		*ai2;
	struct bench_client	*clients;
	struct bench_sender	*senders;
	unsigned		 next_connect;
	unsigned		 connecting;
	unsigned		 ahead;		/* max. not accepted */
	unsigned		 accepted;	/* as of the last look */
	unsigned		 connected;
	unsigned		 synced;
	unsigned		 sync_seq;
	uint64_t		 sync_sent_ns;
	uint64_t		 sync_first_ns;
	uint64_t		 phase_ns;	/* current phase began */
	unsigned		 server_fds0;

	/* Per (receiver, sender) pair, index r * nsenders + s. */
	uint32_t		*next_seq;
	uint32_t		*gaps;

	/* Counters. */
	uint64_t		 expected;
	uint64_t		 delivered;
	uint64_t		 duplicates;
	uint64_t		 reordered;
	uint64_t		 echoes;
	uint64_t		 leaked;	/* rooms: from another room */
	uint64_t		 bad;
	uint64_t		 stalls;	/* rate mode: window was full */
	unsigned		 disconnects;
	uint64_t		 hist[HIST_SIZE];
	uint64_t		 lat_max;
	uint64_t		 lat_sum;
	uint64_t		 lat_n;

	/* Lookup mode: the cases, the one running, who sends, who is hit. */
	struct bench_lookup	 lookup[2];
	unsigned		 lookup_case;
	unsigned		 welcomed;
	struct bench_client	*lookup_from;
	struct bench_client	*lookup_to;
	char			 receipt[96];	/* "*guestK* x" */
	size_t			 receiptlen;
	uint64_t		*lookup_sent_ns; /* ring of window */

	/* Rooms mode: clients told they are in their room. */
	unsigned		 inroom;

	/* TLS: the context, tickets seen, what the first session got. */
	SSL_CTX			*ssl_ctx;
	unsigned		 tickets;
	char			 tls_got[64];

	/* Handshake mode: connections opened and done, server CPU. */
	uint64_t		 hs_opened;
	uint64_t		 hs_done;
	int64_t			 hs_cpu0_ns;
	int64_t			 hs_cpu1_ns;

	/* Broadcast rounds. */
	unsigned		 round_got;
	uint64_t		*round_ns;

	/* Timing and resources. */
	uint64_t		 run_start_ns;
	uint64_t		 finish_ns;
	uint64_t		 last_delivery_ns;
	uint64_t		 last_progress_ns;
	uint64_t		 last_progress_count;
	uint64_t		 hold_until_ns;
	long			 server_ticks0;
	long			 server_ticks1;
	long			 proxy_ticks0;
	long			 proxy_ticks1;
	long			 steal0;	/* the machine's, all CPUs */
	long			 steal1;
	long			 server_rss0;
	long			 server_rss1;
	struct rusage		 ru0;
	struct rusage		 ru1;
	int			 failed;
	char			 failure[256];

	struct event		*ev_tick;
	struct event		*ev_pace;
	struct event		*ev_kick;
	struct event		*ev_ahead;
	char			*sendbuf;
};

static char	readbuf[PART_MAX + READ_SIZE];

static void	fatal(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
static void	bench_fail(struct bench *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

static void	bench_client_close(struct bench *, struct bench_client *,
		    const char *);
static void	bench_connect_more(struct bench *);
static void	bench_finish(struct bench *);
static void	bench_pump(struct bench *, unsigned);
static void	bench_start_run(struct bench *);

static void
fatal(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "chatd-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("out of memory");
	return (p);
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

/* Records the run as failed; the first reason given is the one reported. */
static void
bench_fail(struct bench *b, const char *fmt, ...)
{
	va_list	ap;

	if (!b->failed) {
		va_start(ap, fmt);
		vsnprintf(b->failure, sizeof b->failure, fmt, ap);
		va_end(ap);
	}
	b->failed = 1;
	bench_finish(b);
}

/* /proc readers: -1 when the process or the field is not there. */

/* The start of a /proc file, NUL-terminated; 0, or -1 if unreadable. */
static int
proc_read(const char *path, char *buf, size_t size)
{
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (-1);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	return (0);
}

static long
proc_cpu_ticks(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long		 utime, stime;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (proc_read(path, buf, sizeof buf) == -1)
		return (-1);
	/* The command name may hold spaces: count fields after its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu", &utime, &stime) != 2)
		return (-1);
	return ((long)(utime + stime));
}

/* Nanoseconds the process's main thread has been on a CPU. */
static int64_t
proc_cpu_ns(pid_t pid)
{
	char			 path[64], buf[128];
	unsigned long long	 ns;

	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)pid);
	if (proc_read(path, buf, sizeof buf) == -1 ||
	    sscanf(buf, "%llu", &ns) != 1)
		return (-1);
	return ((int64_t)ns);
}

/*
 * Steal time of the whole machine (the "cpu" line of /proc/stat): time
 * a hypervisor ran something else while our CPUs had work.
 */
static long
proc_steal_ticks(void)
{
	char		 buf[512];
	unsigned long	 v[8];

	if (proc_read("/proc/stat", buf, sizeof buf) == -1)
		return (-1);
	if (sscanf(buf, "cpu %lu %lu %lu %lu %lu %lu %lu %lu", &v[0], &v[1],
	    &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return (-1);
	return ((long)v[7]);
}

static long
proc_rss_kb(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kb);
}

static long
proc_fd_count(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* Histogram of latencies in ns; about 1.5% resolution. */

static unsigned
hist_index(uint64_t v)
{
	unsigned	e;

	if (v < HIST_SUB)
		return ((unsigned)v);
	e = 63 - (unsigned)__builtin_clzll(v);
	return ((e - HIST_SUB_BITS + 1) * HIST_SUB +
	    (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1)));
}

/* The upper bound of bucket i, so percentiles err on the slow side. */
static uint64_t
hist_value(unsigned i)
{
	unsigned	e;

	if (i < HIST_SUB)
		return (i);
	e = i / HIST_SUB + HIST_SUB_BITS - 1;
	return (((uint64_t)1 << e) +
	    ((uint64_t)(i % HIST_SUB + 1) << (e - HIST_SUB_BITS)) - 1);
}

static void
hist_add(struct bench *b, uint64_t v)
{
	b->hist[hist_index(v)]++;
	b->lat_n++;
	b->lat_sum += v;
	if (v > b->lat_max)
		b->lat_max = v;
}

static uint64_t
hist_percentile(struct bench *b, double pct)
{
	uint64_t	want, seen = 0;
	unsigned	i;

	if (b->lat_n == 0)
		return (0);
	want = (uint64_t)(pct / 100.0 * (double)b->lat_n);
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_SIZE; i++) {
		seen += b->hist[i];
		if (seen >= want)
			return (hist_value(i) < b->lat_max ?
			    hist_value(i) : b->lat_max);
	}
	return (b->lat_max);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Why a TLS call failed, e from SSL_get_error(); empties the queue. */
static const char *
bench_tls_error(int e)
{
	static char	buf[256];
	unsigned long	q = ERR_get_error();

	if (q != 0) {
		ERR_error_string_n(q, buf, sizeof buf);
		ERR_clear_error();
		return (buf);
	}
	if (e == SSL_ERROR_SYSCALL && errno != 0)
		return (strerror(errno));
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		return ("end of file");
	snprintf(buf, sizeof buf, "TLS error %d", e);
	return (buf);
}

/*
 * One SSL_write() of up to len bytes for c: how many it took (0 when the
 * socket is full), or -1 when c is closed.
 */
static ssize_t
bench_tls_write(struct bench *b, struct bench_client *c, const char *data,
    size_t len)
{
	int	n, e;

	ERR_clear_error();
	n = SSL_write(c->ssl, data, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return (n);
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return (0);
	bench_client_close(b, c, bench_tls_error(e));
	return (-1);
}

/*
 * Output.  send() directly when nothing is pending, so a line leaves in
 * the call that timestamped it; what the socket does not take waits in
 * c->out for the write event.  A TLS client does the same with
 * SSL_write().
 */

static void
bench_client_flush(struct bench *b, struct bench_client *c)
{
	ssize_t	n;

	while (c->outlen > 0) {
		if (c->ssl != NULL) {
			if ((n = bench_tls_write(b, c, c->out, c->outlen)) ==
			    -1)
				return;
			if (n == 0)
				break;
		} else if ((n = send(c->fd, c->out, c->outlen,
		    MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			bench_client_close(b, c, strerror(errno));
			return;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	if (c->outlen > 0)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
}

static void
bench_client_send(struct bench *b, struct bench_client *c, const char *data,
    size_t len)
{
	ssize_t	n = 0;

	if (c->flags & BC_CLOSED)
		return;
	if (c->outlen == 0) {
		if (c->ssl != NULL) {
			if ((n = bench_tls_write(b, c, data, len)) == -1)
				return;
		} else {
			do
				n = send(c->fd, data, len, MSG_NOSIGNAL);
			while (n == -1 && errno == EINTR);
			if (n == -1) {
				if (errno != EAGAIN && errno != EWOULDBLOCK) {
					bench_client_close(b, c,
					    strerror(errno));
					return;
				}
				n = 0;
			}
		}
		if ((size_t)n == len)
			return;
	}
	data += n;
	len -= (size_t)n;
	if (c->outlen + len > c->outsize) {
		c->outsize = (c->outlen + len) * 2;
		if ((c->out = realloc(c->out, c->outsize)) == NULL)
			fatal("out of memory");
	}
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	event_add(c->ev_write, NULL);
}

static void
bench_client_close(struct bench *b, struct bench_client *c, const char *why)
{
	if (c->flags & BC_CLOSED)
		return;
	c->flags |= BC_CLOSED;
	event_del(c->ev_read);
	event_del(c->ev_write);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	if (b->phase == PHASE_DONE)
		return;
	b->disconnects++;
	bench_fail(b, "client %u disconnected: %s", c->id, why);
}

/* Input. */

static int
parse_u64(const char **pp, const char *end, uint64_t *v)
{
	const char	*p = *pp;
	uint64_t	 x = 0;
	unsigned	 d;

	/*
	 * No bound check per digit: *end is the line's '\r' or '\n', which
	 * stops the loop (a quarter of the generator's CPU was here).
	 */
	if (p >= end || (d = (unsigned char)*p - '0') > 9)
		return (-1);
	do {
		x = x * 10 + d;
	} while ((d = (unsigned char)*++p - '0') <= 9);
	*pp = p;
	*v = x;
	return (0);
}

static void
bench_sync_seen(struct bench *b, struct bench_client *c)
{
	if (c->flags & BC_SYNCED)
		return;
	c->flags |= BC_SYNCED;
	if (++b->synced == b->nclients - 1 && b->phase == PHASE_SYNC)
		bench_start_run(b);
}

/* Broadcast mode: round `seq` has reached one more receiver. */
static void
bench_round_seen(struct bench *b, uint32_t seq, uint64_t lat)
{
	struct bench_sender	*s = &b->senders[0];

	if (seq != s->acked || ++b->round_got < b->nclients - 1)
		return;
	b->round_ns[seq] = lat;
	b->round_got = 0;
	s->acked = seq + 1;
	/* The next round starts from the loop, not from this read. */
	event_active(b->ev_kick, 0, 0);
}

/*
 * One "@B s q t" line for receiver c, read at time now: p is just after
 * the "@B ", end at the newline.  The line must have the length it was
 * sent with, which catches lines that a relay split or joined.
 */
static void
bench_line(struct bench *b, struct bench_client *c, const char *p,
    const char *end, uint64_t now)
{
	struct bench_sender	*s;
	uint64_t		 sid, seq, t;
	uint32_t		*next, *gaps;
	size_t			 i;

	if (end > p && end[-1] == '\r')
		end--;
	if ((size_t)(end - p) + 3 != b->payload ||
	    parse_u64(&p, end, &sid) == -1 || p >= end || *p++ != ' ' ||
	    parse_u64(&p, end, &seq) == -1 || p >= end || *p++ != ' ' ||
	    parse_u64(&p, end, &t) == -1 || sid >= b->nsenders ||
	    seq >= b->lines || t > now) {
		b->bad++;
		return;
	}
	if (sid == c->id) {
		b->echoes++;
		return;
	}
	if (b->rooms > 1 && sid % b->rooms != c->id % b->rooms) {
		b->leaked++;
		return;
	}
	i = (size_t)c->id * b->nsenders + sid;
	next = &b->next_seq[i];
	gaps = &b->gaps[i];
	if (seq == *next)
		(*next)++;
	else if (seq > *next) {
		*gaps += (uint32_t)seq - *next;
		*next = (uint32_t)seq + 1;
	} else if (*gaps > 0) {
		(*gaps)--;
		b->reordered++;
	} else {
		b->duplicates++;
		return;
	}
	b->delivered++;
	b->last_delivery_ns = now;
	hist_add(b, now - t);

	if (b->mode == MODE_BROADCAST)
		bench_round_seen(b, (uint32_t)seq, now - t);
	else {
		s = &b->senders[sid];
		if (s->probe == c->id && seq >= s->acked) {
			s->acked = (uint32_t)seq + 1;
			if (b->rate == 0)
				event_active(b->ev_kick, 0, 0);
		}
	}
	if (b->delivered == b->expected)
		bench_finish(b);
}

/*
 * Lookup mode.  bench_lookup_pump() sends what the sender may send now
 * in the running case (up to the window), as the fan-out's pump does;
 * the first case is the miss, the second the hit.  A case starts at its
 * first pump, which reads the server's CPU clock, and ends when every
 * /msg sent has its answer (and, for the hit, its receipt); past
 * --duration it sends no more, so that a slow lookup (10,000 clients
 * walked per /msg) does not make the run minutes long.
 */
static void	bench_lookup_end(struct bench *);

static int
bench_lookup_complete(struct bench *b)
{
	struct bench_lookup	*lk = &b->lookup[b->lookup_case];

	return (lk->replied == lk->lines &&
	    (b->lookup_case == 0 || lk->received == lk->lines));
}

static void
bench_lookup_pump(struct bench *b)
{
	struct bench_lookup	*lk = &b->lookup[b->lookup_case];
	struct bench_client	*c = b->lookup_from;
	uint64_t		 t;
	size_t			 len = 0;
	uint32_t		 nb = 0;
	int			 n;

	if (b->phase != PHASE_RUN || (c->flags & BC_CLOSED))
		return;
	if (lk->start_ns == 0) {
		lk->cpu0_ns = b->server_pid > 0 ?
		    proc_cpu_ns(b->server_pid) : -1;
		lk->start_ns = b->last_progress_ns = now_ns();
	}
	t = now_ns();
	if (b->duration > 0 && lk->lines > lk->sent &&
	    t - lk->start_ns >= (uint64_t)(b->duration * 1e9)) {
		lk->lines = lk->sent;
		if (bench_lookup_complete(b))
			bench_lookup_end(b);
		return;
	}
	while (lk->sent < lk->lines && lk->sent - lk->replied < b->window) {
		if (nb == b->batch || len + sizeof lk->name + 8 > SEND_CHUNK) {
			bench_client_send(b, c, b->sendbuf, len);
			len = 0;
			nb = 0;
			t = now_ns();
		}
		n = snprintf(b->sendbuf + len, SEND_CHUNK - len, "/msg %s x\n",
		    lk->name);
		len += (size_t)n;
		nb++;
		b->lookup_sent_ns[lk->sent++ % b->window] = t;
	}
	if (len > 0)
		bench_client_send(b, c, b->sendbuf, len);
}

/* Ends the running case once its last answer is in; the hit follows. */
static void
bench_lookup_end(struct bench *b)
{
	struct bench_lookup	*lk = &b->lookup[b->lookup_case];

	lk->cpu1_ns = b->server_pid > 0 ? proc_cpu_ns(b->server_pid) : -1;
	lk->end_ns = now_ns();
	lk->done = 1;
	if (b->lookup_case == 0) {
		b->lookup_case++;
		event_active(b->ev_kick, 0, 0);
	} else
		bench_finish(b);
}

/*
 * Everyone is welcomed: the client that joined first sends, the one that
 * joined last (the highest guest number, the tail of the server's list)
 * is the hit's target.
 */
static void
bench_lookup_begin(struct bench *b)
{
	struct bench_client	*c, *from = NULL, *to = NULL;
	struct bench_lookup	*lk;
	unsigned		 i;

	for (i = 0; i < b->nclients; i++) {
		c = &b->clients[i];
		if (from == NULL || c->guest < from->guest)
			from = c;
		if (to == NULL || c->guest > to->guest)
			to = c;
	}
	b->lookup_from = from;
	b->lookup_to = to;
	b->receiptlen = (size_t)snprintf(b->receipt, sizeof b->receipt,
	    "*guest%llu* x", from->guest);

	b->lookup[0].lines = b->lookup[1].lines = b->lines;
	lk = &b->lookup[0];
	lk->what = "miss";
	snprintf(lk->name, sizeof lk->name, "nobody");
	lk->replylen = (size_t)snprintf(lk->reply, sizeof lk->reply,
	    "*** no such user: %s", lk->name);
	lk = &b->lookup[1];
	lk->what = "hit";
	snprintf(lk->name, sizeof lk->name, "guest%llu", to->guest);
	lk->replylen = (size_t)snprintf(lk->reply, sizeof lk->reply,
	    "*** message sent to %s", lk->name);

	getrusage(RUSAGE_SELF, &b->ru0);
	b->run_start_ns = now_ns();
	b->phase = PHASE_RUN;
	bench_lookup_pump(b);
}

/*
 * Is p to end (no newline) a welcome line, "*** Welcome to NAME, guestK.
 * ..."?  Then c gets its K and BC_WELCOMED, and 1 is returned.
 */
static int
bench_welcome_line(struct bench_client *c, const char *p, const char *end)
{
	static const char	 hello[] = "*** Welcome to ";
	static const char	 guest[] = ", guest";
	const char		*q;
	uint64_t		 k;

	if ((size_t)(end - p) < sizeof hello - 1 ||
	    memcmp(p, hello, sizeof hello - 1) != 0 ||
	    (q = memmem(p, (size_t)(end - p), guest, sizeof guest - 1)) ==
	    NULL)
		return (0);
	q += sizeof guest - 1;
	if (parse_u64(&q, end, &k) == -1 || q >= end || *q != '.')
		return (0);
	c->guest = k;
	c->flags |= BC_WELCOMED;
	return (1);
}

/* Lookup mode: c's welcome, once.  Other lines before it are not ours. */
static void
bench_welcome(struct bench *b, struct bench_client *c, const char *p,
    const char *end)
{
	if (bench_welcome_line(c, p, end) &&
	    ++b->welcomed == b->nclients && b->phase == PHASE_WELCOME)
		bench_lookup_begin(b);
}

/* Rooms mode: c is in its room; the run starts when all are. */
static void
bench_room_entered(struct bench *b, struct bench_client *c)
{
	c->flags &= ~BC_PRELUDE;
	if (++b->inroom == b->nclients && b->phase == PHASE_WELCOME)
		bench_start_run(b);
}

/*
 * Rooms mode: a line (p to end, no newline) for c before it is in its
 * room.  After its welcome, c asks for room #rK (K = c->id mod R); the
 * server's "*** you are now in #rK" puts it there.  With one room the
 * welcome does: every client starts in the default room.
 */
static void
bench_prelude_line(struct bench *b, struct bench_client *c, const char *p,
    const char *end)
{
	char	line[64];
	int	n;

	if (end > p && end[-1] == '\r')
		end--;
	if (!(c->flags & BC_WELCOMED)) {
		if (!bench_welcome_line(c, p, end))
			return;
		if (b->rooms == 1) {
			bench_room_entered(b, c);
			return;
		}
		n = snprintf(line, sizeof line, "/join #r%u\n",
		    c->id % b->rooms);
		bench_client_send(b, c, line, (size_t)n);
		return;
	}
	n = snprintf(line, sizeof line, "*** you are now in #r%u",
	    c->id % b->rooms);
	if (end - p == n && memcmp(p, line, (size_t)n) == 0)
		bench_room_entered(b, c);
}

/* One line (p to end, no newline) for client c in lookup mode. */
static void
bench_lookup_line(struct bench *b, struct bench_client *c, const char *p,
    const char *end, uint64_t now)
{
	struct bench_lookup	*lk = &b->lookup[b->lookup_case];
	size_t			 len;

	if (end > p && end[-1] == '\r')
		end--;
	len = (size_t)(end - p);
	if (!(c->flags & BC_WELCOMED)) {
		bench_welcome(b, c, p, end);
		return;
	}
	if (b->phase != PHASE_RUN)
		return;
	if (c == b->lookup_from) {
		if (len != lk->replylen || memcmp(p, lk->reply, len) != 0 ||
		    lk->replied == lk->sent) {
			/*
			 * Until the first answer, the rest of the welcome
			 * (the message of the day) may still be coming.
			 */
			if (b->lookup_case > 0 || lk->replied > 0)
				lk->unexpected++;
			return;
		}
		lk->rtt_sum_ns += now -
		    b->lookup_sent_ns[lk->replied++ % b->window];
		event_active(b->ev_kick, 0, 0);
	} else if (c == b->lookup_to && b->lookup_case == 1) {
		if (len != b->receiptlen || memcmp(p, b->receipt, len) != 0)
			return;
		if (lk->received == lk->sent) {
			lk->unexpected++;
			return;
		}
		lk->received++;
	} else
		return;
	b->delivered++;
	if (bench_lookup_complete(b))
		bench_lookup_end(b);
}

/*
 * What c read, from buf to end: the lines, then what follows the last
 * newline kept in c->part for the next read.  A plain read and a TLS read
 * both land here.
 */
static void
bench_input(struct bench *b, struct bench_client *c, char *buf, char *end)
{
	char		*p, *nl, *at;
	uint64_t	 now;

	now = now_ns();
	p = buf;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (c->flags & (BC_DISCARD | BC_PRELUDE)) {
			if (c->flags & BC_DISCARD)
				c->flags &= ~BC_DISCARD;
			else
				bench_prelude_line(b, c, p, nl);
		} else if (b->mode == MODE_LOOKUP)
			bench_lookup_line(b, c, p, nl, now);
		else if ((at = *p == '@' ? p :
		    memchr(p, '@', (size_t)(nl - p))) != NULL &&
		    nl - at > 3 && at[2] == ' ') {
			if (at[1] == 'B')
				bench_line(b, c, at + 3, nl, now);
			else if (at[1] == 'S')
				bench_sync_seen(b, c);
		}
		p = nl + 1;
		if (c->flags & BC_CLOSED)
			return;
	}
	if (p < end && !(c->flags & BC_DISCARD)) {
		if ((size_t)(end - p) > PART_MAX)
			c->flags |= BC_DISCARD;	/* not one of ours */
		else {
			if (c->part == NULL)
				c->part = xcalloc(1, PART_MAX);
			memcpy(c->part, p, (size_t)(end - p));
			c->partlen = (size_t)(end - p);
		}
	}
}

static void
bench_read_callback(evutil_socket_t fd, short events, void *arg)
{
	struct bench_client	*c = arg;
	struct bench		*b = c->b;
	char			*buf = readbuf;
	size_t			 have = 0;
	ssize_t			 n;

	if (c->partlen > 0) {
		memcpy(buf, c->part, c->partlen);
		have = c->partlen;
		c->partlen = 0;
	}
	n = read(fd, buf + have, READ_SIZE);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		bench_client_close(b, c, n == 0 ? "end of file" :
		    strerror(errno));
		return;
	}
	if (n == -1) {
		if (have > 0) {
			memcpy(c->part, buf, have);
			c->partlen = have;
		}
		return;
	}
	bench_input(b, c, buf, buf + have + (size_t)n);
}

static void	bench_client_up(struct bench *, struct bench_client *);
static void	bench_handshake_next(struct bench *, struct bench_client *);

/*
 * Drives c's TLS handshake on from whichever event it waited for; when it
 * is done, checks what was agreed and brings c up as a connect does.
 */
static void
bench_tls_handshake(struct bench *b, struct bench_client *c)
{
	const char	*suite;
	int		 n, e;

	ERR_clear_error();
	if ((n = SSL_do_handshake(c->ssl)) == 1) {
		suite = SSL_get_cipher_name(c->ssl);
		if (SSL_version(c->ssl) != TLS1_3_VERSION || suite == NULL ||
		    strcmp(suite, b->ciphersuite) != 0) {
			bench_fail(b, "client %u: TLS: got %s %s, not TLSv1.3 "
			    "%s", c->id, SSL_get_version(c->ssl),
			    suite != NULL ? suite : "?", b->ciphersuite);
			return;
		}
		if (b->tls_got[0] == '\0')
			snprintf(b->tls_got, sizeof b->tls_got, "%s/%s",
			    SSL_get_version(c->ssl), suite);
		bench_client_up(b, c);
		return;
	}
	switch ((e = SSL_get_error(c->ssl, n))) {
	case SSL_ERROR_WANT_READ:
		event_del(c->ev_write);
		event_add(c->ev_read, NULL);
		return;
	case SSL_ERROR_WANT_WRITE:
		event_add(c->ev_write, NULL);
		return;
	default:
		bench_fail(b, "client %u: TLS handshake: %s", c->id,
		    bench_tls_error(e));
	}
}

/*
 * The session tickets OpenSSL hands us (SSL_SESS_CACHE_CLIENT): the first
 * tells that the server's handshake is over.  Not kept, so no session is
 * ever resumed.
 */
static int
bench_tls_ticket_callback(SSL *ssl, SSL_SESSION *sess)
{
	struct bench_client	*c = SSL_get_app_data(ssl);

	if (c != NULL && !(c->flags & BC_TICKET)) {
		c->flags |= BC_TICKET;
		c->b->tickets++;
	}
	return (0);
}

/*
 * A TLS client's socket is readable: the handshake goes on, or every
 * record that fits is read and parsed as bench_read_callback() parses a
 * read().
 */
static void
bench_tls_read_callback(evutil_socket_t fd, short events, void *arg)
{
	struct bench_client	*c = arg;
	struct bench		*b = c->b;
	char			*buf = readbuf;
	size_t			 have = 0, got = 0;
	const char		*why = NULL;
	int			 n, e;

	if (!(c->flags & BC_CONNECTED)) {
		bench_tls_handshake(b, c);
		return;
	}
	if (c->partlen > 0) {
		memcpy(buf, c->part, c->partlen);
		have = c->partlen;
		c->partlen = 0;
	}
	while (READ_SIZE - got >= TLS_RECORD_MAX) {
		ERR_clear_error();
		n = SSL_read(c->ssl, buf + have + got, (int)(READ_SIZE - got));
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			why = bench_tls_error(e);
		break;
	}
	if (b->mode == MODE_HANDSHAKE) {
		if (why != NULL)
			bench_fail(b, "client %u: %s before the server's "
			    "session ticket", c->id, why);
		else if (c->flags & BC_TICKET)
			bench_handshake_next(b, c);
		return;
	}
	if (have + got > 0)
		bench_input(b, c, buf, buf + have + got);
	if (why != NULL)
		bench_client_close(b, c, why);
}


/*
 * Sending.  bench_pump() sends what sender sid may send now: up to its
 * window, and in rate mode up to what is due.  By default each line is
 * its own send(), as a person's client would write it; with -b the lines
 * of a batch share one timestamp and one send().
 */
static void
bench_pump(struct bench *b, unsigned sid)
{
	struct bench_sender	*s = &b->senders[sid];
	struct bench_client	*c = &b->clients[sid];
	uint64_t		 t, due;
	uint32_t		 limit = b->lines;
	size_t			 len = 0;
	uint32_t		 nb = 0;
	int			 n;

	if (b->phase != PHASE_RUN || (c->flags & BC_CLOSED))
		return;
	t = now_ns();
	if (b->rate > 0) {
		due = (uint64_t)((double)(t - b->run_start_ns + s->offset_ns) *
		    b->rate / 1e9) + 1;
		if (due < limit)
			limit = (uint32_t)due;
		if (s->sent < limit && s->sent - s->acked >= b->window)
			b->stalls++;
	}
	while (s->sent < limit && s->sent - s->acked < b->window) {
		if (nb == b->batch || len + b->payload + 1 > SEND_CHUNK) {
			bench_client_send(b, c, b->sendbuf, len);
			len = 0;
			nb = 0;
			t = now_ns();
		}
		n = snprintf(b->sendbuf + len, SEND_CHUNK - len,
		    "@B %u %" PRIu32 " %" PRIu64, sid, s->sent, t);
		if ((size_t)n < b->payload) {
			memset(b->sendbuf + len + n, 'x',
			    b->payload - (size_t)n);
			n = (int)b->payload;
		}
		b->sendbuf[len + (size_t)n] = '\n';
		len += (size_t)n + 1;
		nb++;
		s->sent++;
	}
	if (len > 0)
		bench_client_send(b, c, b->sendbuf, len);
}

static void
bench_kick_callback(evutil_socket_t fd, short events, void *arg)
{
	struct bench	*b = arg;
	unsigned	 i;

	if (b->mode == MODE_LOOKUP) {
		bench_lookup_pump(b);
		return;
	}
	for (i = 0; i < b->nsenders; i++)
		bench_pump(b, i);
}

static void
bench_pace_callback(evutil_socket_t fd, short events, void *arg)
{
	bench_kick_callback(fd, events, arg);
}

static void
bench_send_sync(struct bench *b)
{
	char	line[32];
	int	n;

	b->sync_seq++;
	b->sync_sent_ns = now_ns();
	n = snprintf(line, sizeof line, "@S %u\n", b->sync_seq);
	bench_client_send(b, &b->clients[0], line, (size_t)n);
}

static void
bench_start_run(struct bench *b)
{
	struct timeval	tv;
	uint64_t	period;

	if (b->mode == MODE_IDLE) {
		b->phase = PHASE_HOLD;
		b->hold_until_ns = now_ns() + (uint64_t)(b->hold * 1e9);
		return;
	}
	b->phase = PHASE_RUN;
	b->server_ticks0 = proc_cpu_ticks(b->server_pid);
	b->proxy_ticks0 = b->proxy_pid > 0 ? proc_cpu_ticks(b->proxy_pid) : -1;
	b->steal0 = proc_steal_ticks();
	getrusage(RUSAGE_SELF, &b->ru0);
	b->run_start_ns = b->last_progress_ns = now_ns();
	if (b->expected == 0) {
		bench_finish(b);
		return;
	}
	if (b->rate > 0) {
		period = (uint64_t)(1e9 / (b->rate * b->nsenders));
		if (period < 50000)
			period = 50000;
		tv.tv_sec = (time_t)(period / 1000000000);
		tv.tv_usec = (suseconds_t)(period % 1000000000 / 1000);
		event_add(b->ev_pace, &tv);
	}
	bench_kick_callback(-1, 0, b);
}

static void
bench_all_connected(struct bench *b)
{
	b->phase_ns = now_ns();
	if (b->mode == MODE_LOOKUP) {
		b->phase = PHASE_WELCOME;
		if (b->welcomed == b->nclients)
			bench_lookup_begin(b);
		return;
	}
	if (b->rooms > 0) {
		b->phase = PHASE_WELCOME;
		if (b->inroom == b->nclients)
			bench_start_run(b);
		return;
	}
	if (b->mode == MODE_IDLE && b->server_pid > 0) {
		b->phase = PHASE_ACCEPT;
		return;
	}
	if (b->nclients < 2) {
		bench_start_run(b);
		return;
	}
	b->phase = PHASE_SYNC;
	bench_send_sync(b);
}

/*
 * Connecting: at most CONNECT_MAX connects in progress at once and, when
 * the server's pid is known, at most b->ahead connections that it has not
 * accepted yet.  A client's connect() completes when the kernel has the
 * connection, not when the server accepts it; past a small listen backlog
 * (ncat's is 10) the kernel answers with SYN cookies and then drops the
 * final ACK, leaving a connection that our side thinks is open and the
 * server never sees.  Sync would catch that but could not repair it.
 * The server's descriptor count before we started is the baseline; if it
 * drops below that (an earlier run's clients still leaving), the lower
 * count becomes the baseline.
 */

static void
bench_client_write_callback(evutil_socket_t fd, short events, void *arg)
{
	struct bench_client	*c = arg;
	struct bench		*b = c->b;
	int			 error = 0;
	socklen_t		 len = sizeof error;

	if (c->flags & BC_CONNECTED) {
		bench_client_flush(b, c);
		return;
	}
	if (c->ssl != NULL) {
		bench_tls_handshake(b, c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error != 0) {
		bench_fail(b, "client %u: connect: %s", c->id,
		    strerror(error));
		return;
	}
	if (b->tls) {
		if ((c->ssl = SSL_new(b->ssl_ctx)) == NULL ||
		    SSL_set_fd(c->ssl, c->fd) != 1)
			fatal("SSL_new: %s", bench_tls_error(0));
		SSL_set_app_data(c->ssl, c);
		SSL_set_connect_state(c->ssl);
		bench_tls_handshake(b, c);
		return;
	}
	bench_client_up(b, c);
}

/* c is connected (and through its handshake): it reads from now on. */
static void
bench_client_up(struct bench *b, struct bench_client *c)
{
	c->flags |= BC_CONNECTED;
	event_del(c->ev_write);
	event_add(c->ev_read, NULL);
	b->connecting--;
	if (b->mode == MODE_HANDSHAKE) {
		/* It waits for the server's session ticket. */
		if (c->flags & BC_TICKET)
			bench_handshake_next(b, c);
		return;
	}
	b->connected++;
	if (b->connected == b->nclients)
		bench_all_connected(b);
	else
		bench_connect_more(b);
}

/* Opens c's socket and starts connecting it to ai. */
static void
bench_client_open(struct bench *b, struct bench_client *c,
    const struct addrinfo *ai)
{
	int	fd, on = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		fatal("socket (client %u): %s", c->id, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	c->fd = fd;
	c->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST,
	    b->tls ? bench_tls_read_callback : bench_read_callback, c);
	c->ev_write = event_new(b->base, fd, EV_WRITE | EV_PERSIST,
	    bench_client_write_callback, c);
	if (c->ev_read == NULL || c->ev_write == NULL)
		fatal("event_new failed");
	b->connecting++;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS)
		fatal("connect (client %u): %s", c->id, strerror(errno));
	event_add(c->ev_write, NULL);
}

/*
 * Handshake mode.  Each of the W clients is a slot: a connection is
 * opened, handshaken and, once the server's first session ticket is in,
 * closed (without close_notify, as a client that simply goes away) and
 * the slot opened again, until M have been opened or --duration is past.
 * The server's CPU clock is read when the first opens and when the last
 * is done.
 */
static void
bench_handshake_begin(struct bench *b)
{
	unsigned	i;

	b->phase = PHASE_RUN;
	b->hs_cpu0_ns = b->server_pid > 0 ? proc_cpu_ns(b->server_pid) : -1;
	getrusage(RUSAGE_SELF, &b->ru0);
	b->run_start_ns = b->last_progress_ns = now_ns();
	for (i = 0; i < b->nclients && b->hs_opened < b->lines; i++) {
		b->hs_opened++;
		bench_client_open(b, &b->clients[i], b->ai);
	}
}

static void
bench_handshake_next(struct bench *b, struct bench_client *c)
{
	uint64_t	now = now_ns();

	event_free(c->ev_read);
	event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	c->flags = 0;
	c->partlen = c->outlen = 0;
	b->hs_done++;
	b->delivered++;		/* progress, for the stall check */
	b->last_delivery_ns = now;
	if (b->hs_opened < b->lines && (b->duration == 0 ||
	    now - b->run_start_ns < (uint64_t)(b->duration * 1e9))) {
		b->hs_opened++;
		bench_client_open(b, c, b->ai);
		return;
	}
	if (b->hs_done == b->hs_opened) {
		b->hs_cpu1_ns = b->server_pid > 0 ?
		    proc_cpu_ns(b->server_pid) : -1;
		bench_finish(b);
	}
}

static void
bench_ahead_callback(evutil_socket_t fd, short events, void *arg)
{
	bench_connect_more(arg);
}

static void
bench_connect_more(struct bench *b)
{
	struct bench_client	*c;
	struct addrinfo		*ai;
	long			 fds;
	struct timeval		 tv = { 0, AHEAD_POLL_US };

	while (b->next_connect < b->nclients && b->connecting < CONNECT_MAX) {
		if (b->server_pid > 0 &&
		    b->next_connect - b->accepted >= b->ahead) {
			/* Look again only when the last look says wait. */
			if ((fds = proc_fd_count(b->server_pid)) == -1) {
				bench_fail(b, "server %ld is gone",
				    (long)b->server_pid);
				return;
			}
			if (fds < (long)b->server_fds0)
				b->server_fds0 = (unsigned)fds; /* leavers */
			if (fds > (long)b->server_fds0)
				b->accepted = (unsigned)(fds -
				    (long)b->server_fds0);
			if (b->next_connect - b->accepted >= b->ahead) {
				event_add(b->ev_ahead, &tv);
				return;
			}
		}
		c = &b->clients[b->next_connect++];
		/*
		 * With a second node, senders stay on the first and the
		 * receivers alternate between the two.
		 */
		ai = b->ai;
		if (b->ai2 != NULL && c->id >= b->nsenders &&
		    (c->id - b->nsenders) % 2 == 1)
			ai = b->ai2;
		bench_client_open(b, c, ai);
	}
}

/* Housekeeping every TICK_MS: phase timeouts and stall detection. */
static void
bench_tick_callback(evutil_socket_t fd, short events, void *arg)
{
	struct bench	*b = arg;
	uint64_t	 now = now_ns();
	long		 n;

	switch (b->phase) {
	case PHASE_CONNECT:
		if (now - b->phase_ns > (uint64_t)60 * 1000000000)
			bench_fail(b, "connect timed out: %u of %u connected",
			    b->connected, b->nclients);
		break;
	case PHASE_ACCEPT:
		n = proc_fd_count(b->server_pid);
		if (n >= 0 && n < (long)b->server_fds0)
			b->server_fds0 = (unsigned)n;
		if (n == -1)
			bench_fail(b, "server %ld is gone",
			    (long)b->server_pid);
		else if ((unsigned long)n >= b->server_fds0 + b->nclients &&
		    (!b->tls || b->tickets == b->nclients))
			bench_start_run(b);
		else if (now - b->phase_ns > (uint64_t)60 * 1000000000)
			bench_fail(b, "server holds %ld of %u connections, "
			    "%u through the handshake (session tickets)",
			    n - (long)b->server_fds0, b->nclients,
			    b->tls ? b->tickets : b->nclients);
		break;
	case PHASE_WELCOME:
		if (now - b->phase_ns > (uint64_t)60 * 1000000000 &&
		    b->rooms > 0)
			bench_fail(b, "rooms timed out: %u of %u clients in "
			    "their rooms", b->inroom, b->nclients);
		else if (now - b->phase_ns > (uint64_t)60 * 1000000000)
			bench_fail(b, "welcome timed out: %u of %u clients "
			    "welcomed", b->welcomed, b->nclients);
		break;
	case PHASE_SYNC:
		if (now - b->phase_ns > (uint64_t)SYNC_GIVEUP_MS * 1000000)
			bench_fail(b, "sync timed out: %u of %u clients",
			    b->synced, b->nclients - 1);
		else if (now - b->sync_sent_ns >
		    (uint64_t)SYNC_RETRY_MS * 1000000)
			bench_send_sync(b);
		break;
	case PHASE_RUN:
		if (b->delivered != b->last_progress_count) {
			b->last_progress_count = b->delivered;
			b->last_progress_ns = now;
		} else if (now - b->last_progress_ns >
		    (uint64_t)(b->timeout * 1e9))
			bench_finish(b);
		break;
	case PHASE_HOLD:
		if (now >= b->hold_until_ns)
			bench_finish(b);
		break;
	case PHASE_DONE:
		break;
	}
}

static void
bench_finish(struct bench *b)
{
	if (b->phase == PHASE_DONE)
		return;
	if (b->phase == PHASE_RUN || b->phase == PHASE_HOLD) {
		b->server_ticks1 = proc_cpu_ticks(b->server_pid);
		b->proxy_ticks1 = b->proxy_pid > 0 ?
		    proc_cpu_ticks(b->proxy_pid) : -1;
		b->steal1 = proc_steal_ticks();
		b->server_rss1 = proc_rss_kb(b->server_pid);
		getrusage(RUSAGE_SELF, &b->ru1);
		b->finish_ns = now_ns();
	}
	b->phase = PHASE_DONE;
	event_base_loopbreak(b->base);
}

/* Reporting. */

static double
tv_secs(const struct timeval *tv)
{
	return ((double)tv->tv_sec + (double)tv->tv_usec / 1e6);
}

static double
rusage_secs(const struct rusage *r0, const struct rusage *r1)
{
	return (tv_secs(&r1->ru_utime) + tv_secs(&r1->ru_stime) -
	    tv_secs(&r0->ru_utime) - tv_secs(&r0->ru_stime));
}

/*
 * Lookup mode's summary: per case, the server's CPU and the round trip
 * per /msg.  Returns 0 when both cases completed (and, with
 * --expect-exact, nothing unexpected came back).
 */
static int
bench_report_lookup(struct bench *b)
{
	struct bench_lookup	*lk;
	double			 cpu_us[2], rtt_us[2], per_sec[2], gen_cpu;
	uint64_t		 unexpected = 0;
	unsigned		 i;
	int			 ok = !b->failed;

	for (i = 0; i < 2; i++) {
		lk = &b->lookup[i];
		unexpected += lk->unexpected;
		cpu_us[i] = rtt_us[i] = per_sec[i] = -1;
		if (!lk->done) {
			if (ok)
				snprintf(b->failure, sizeof b->failure,
				    "%s: %" PRIu32 " of %" PRIu32 " sent "
				    "answered, %" PRIu32 " received",
				    lk->what != NULL ? lk->what : "miss",
				    lk->replied, lk->sent, lk->received);
			ok = 0;
			continue;
		}
		if (lk->cpu0_ns >= 0 && lk->cpu1_ns >= lk->cpu0_ns)
			cpu_us[i] = (double)(lk->cpu1_ns - lk->cpu0_ns) / 1e3 /
			    lk->replied;
		rtt_us[i] = (double)lk->rtt_sum_ns / 1e3 / lk->replied;
		if (lk->end_ns > lk->start_ns)
			per_sec[i] = lk->replied /
			    ((double)(lk->end_ns - lk->start_ns) / 1e9);
	}
	if (ok && b->expect_exact && unexpected != 0) {
		snprintf(b->failure, sizeof b->failure, "%" PRIu64
		    " unexpected answers or receipts", unexpected);
		ok = 0;
	}
	gen_cpu = b->phase == PHASE_DONE && b->finish_ns > 0 ?
	    rusage_secs(&b->ru0, &b->ru1) : -1;

	if (!b->quiet && b->lookup_to != NULL) {
		printf("%s: %u clients in chat mode, %" PRIu32 " /msg per "
		    "case, window %" PRIu32 "\n", b->label, b->nclients,
		    b->lines, b->window);
		for (i = 0; i < 2; i++) {
			lk = &b->lookup[i];
			printf("  %-4s /msg %-12s answered %" PRIu32 ", "
			    "received %" PRIu32 ", unexpected %" PRIu64 "; "
			    "server CPU %.3f us/msg, round trip %.1f us, "
			    "%.0f /msg/s\n", lk->what, lk->name, lk->replied,
			    lk->received, lk->unexpected, cpu_us[i],
			    rtt_us[i], per_sec[i]);
		}
		printf("  sender guest%llu (joined first), target guest%llu "
		    "(joined last); generator CPU %.2f s\n",
		    b->lookup_from->guest, b->lookup_to->guest, gen_cpu);
	}
	if (!ok)
		fprintf(stderr, "chatd-bench: FAIL: %s\n", b->failure);
	printf("result: label=%s mode=lookup ok=%d clients=%u lines=%" PRIu32
	    " window=%" PRIu32 " miss_answered=%" PRIu32 " miss_cpu_us=%.3f "
	    "miss_rtt_us=%.1f miss_per_sec=%.0f hit_answered=%" PRIu32
	    " hit_received=%" PRIu32 " hit_cpu_us=%.3f hit_rtt_us=%.1f "
	    "hit_per_sec=%.0f unexpected=%" PRIu64 " gen_cpu_s=%.3f\n",
	    b->label, ok, b->nclients, b->lines, b->window,
	    b->lookup[0].replied, cpu_us[0], rtt_us[0], per_sec[0],
	    b->lookup[1].replied, b->lookup[1].received, cpu_us[1],
	    rtt_us[1], per_sec[1], unexpected, gen_cpu);
	return (ok ? 0 : 1);
}

/*
 * Handshake mode's summary: handshakes per second of the run, and the
 * server's CPU per handshake, whose inverse is what one core of the
 * server's can do (chatd has one thread).  Returns 0 when every
 * connection opened got through its handshake.
 */
static int
bench_report_handshake(struct bench *b)
{
	double	secs, rate = -1, cpu_us = -1, per_core = -1, gen_cpu;
	int	ok = !b->failed;

	if (ok && (b->hs_done == 0 || b->hs_done != b->hs_opened)) {
		snprintf(b->failure, sizeof b->failure, "%" PRIu64 " of %"
		    PRIu64 " handshakes done (one is done when the server's "
		    "session ticket comes)", b->hs_done, b->hs_opened);
		ok = 0;
	}
	secs = (b->last_delivery_ns > b->run_start_ns ?
	    b->last_delivery_ns - b->run_start_ns : 0) / 1e9;
	if (secs > 0)
		rate = b->hs_done / secs;
	if (b->hs_done > 0 && b->hs_cpu0_ns >= 0 &&
	    b->hs_cpu1_ns > b->hs_cpu0_ns) {
		cpu_us = (double)(b->hs_cpu1_ns - b->hs_cpu0_ns) / 1e3 /
		    b->hs_done;
		per_core = 1e6 / cpu_us;
	}
	gen_cpu = b->finish_ns > 0 ? rusage_secs(&b->ru0, &b->ru1) : -1;
	if (!b->quiet)
		printf("%s: %" PRIu64 " full TLS handshakes (%s), %u at a "
		    "time, in %.3f s: %.0f/s; server CPU %.1f us each, %.0f "
		    "per second of one core; generator CPU %.2f s\n",
		    b->label, b->hs_done, b->tls_got, b->nclients, secs, rate,
		    cpu_us, per_core, gen_cpu);
	if (!ok)
		fprintf(stderr, "chatd-bench: FAIL: %s\n", b->failure);
	printf("result: label=%s mode=handshake ok=%d window=%u handshakes=%"
	    PRIu64 " seconds=%.4f hs_per_sec=%.0f hs_cpu_us=%.1f "
	    "hs_per_core_s=%.0f gen_cpu_s=%.3f tls=%s\n", b->label, ok,
	    b->nclients, b->hs_done, secs, rate, cpu_us, per_core, gen_cpu,
	    b->tls_got[0] != '\0' ? b->tls_got : "-");
	return (ok ? 0 : 1);
}

/* Prints the summary; returns 0 when the run passes its checks. */
static int
bench_report(struct bench *b)
{
	uint64_t	 lost, p50, p99, r50 = 0, rmax = 0;
	double		 secs, rate, cpu = -1, pcpu = -1, per_m = -1;
	double		 server_per_m = -1, gen_cpu, wall;
	long		 tck = sysconf(_SC_CLK_TCK);
	unsigned	 rounds = 0;
	int		 ok;

	if (b->mode == MODE_LOOKUP)
		return (bench_report_lookup(b));
	if (b->mode == MODE_HANDSHAKE)
		return (bench_report_handshake(b));
	if (b->mode == MODE_IDLE) {
		double	per = -1;

		ok = !b->failed;
		if (b->server_rss0 >= 0 && b->server_rss1 >= 0)
			per = (double)(b->server_rss1 - b->server_rss0) *
			    1024.0 / b->nclients;
		if (!b->quiet)
			printf("%s: %u idle connections: server RSS %ld -> "
			    "%ld KiB, %.0f bytes per connection\n", b->label,
			    b->nclients, b->server_rss0, b->server_rss1, per);
		if (b->failed)
			fprintf(stderr, "chatd-bench: FAIL: %s\n", b->failure);
		printf("result: label=%s mode=idle ok=%d clients=%u "
		    "rss0_kb=%ld rss1_kb=%ld rss_per_conn_b=%.0f tls=%s\n",
		    b->label, ok, b->nclients, b->server_rss0, b->server_rss1,
		    per, b->tls_got[0] != '\0' ? b->tls_got : "-");
		return (ok ? 0 : 1);
	}

	lost = b->expected > b->delivered ? b->expected - b->delivered : 0;
	secs = (b->last_delivery_ns > b->run_start_ns ?
	    b->last_delivery_ns - b->run_start_ns : 0) / 1e9;
	rate = secs > 0 ? b->delivered / secs : 0;
	p50 = hist_percentile(b, 50);
	p99 = hist_percentile(b, 99);
	gen_cpu = rusage_secs(&b->ru0, &b->ru1);
	wall = b->finish_ns > b->run_start_ns ?
	    (b->finish_ns - b->run_start_ns) / 1e9 : 0;
	if (b->server_ticks0 >= 0 && b->server_ticks1 >= 0 && tck > 0) {
		cpu = (double)(b->server_ticks1 - b->server_ticks0) / tck;
		if (b->proxy_ticks0 >= 0 && b->proxy_ticks1 >= 0)
			pcpu = (double)(b->proxy_ticks1 - b->proxy_ticks0) /
			    tck;
		if (b->delivered > 0) {
			server_per_m = cpu / (b->delivered / 1e6);
			per_m = (cpu + (pcpu > 0 ? pcpu : 0)) /
			    (b->delivered / 1e6);
		}
	}
	if (b->mode == MODE_BROADCAST) {
		rounds = b->senders[0].acked;
		if (rounds > 0) {
			qsort(b->round_ns, rounds, sizeof *b->round_ns,
			    cmp_u64);
			r50 = b->round_ns[(rounds - 1) / 2];
			rmax = b->round_ns[rounds - 1];
		}
	}

	ok = !b->failed;
	if (b->expect_exact && (lost != 0 || b->duplicates != 0 ||
	    b->reordered != 0 || b->echoes != 0 || b->leaked != 0 ||
	    b->bad != 0 || b->delivered != b->expected)) {
		ok = 0;
		if (!b->failed)
			snprintf(b->failure, sizeof b->failure,
			    "delivered %" PRIu64 " of %" PRIu64 ", lost %"
			    PRIu64 ", duplicated %" PRIu64 ", reordered %"
			    PRIu64 ", echoed %" PRIu64 ", from another room %"
			    PRIu64 ", malformed %" PRIu64, b->delivered,
			    b->expected, lost, b->duplicates, b->reordered,
			    b->echoes, b->leaked, b->bad);
	}

	if (!b->quiet) {
		printf("%s: %u clients, %u sender%s x %" PRIu32 " lines of "
		    "%zu bytes, ", b->label, b->nclients, b->nsenders,
		    b->nsenders == 1 ? "" : "s", b->lines, b->payload);
		if (b->rooms > 0)
			printf("%u room%s, ", b->rooms,
			    b->rooms == 1 ? "" : "s");
		if (b->tls)
			printf("%s, ", b->tls_got);
		if (b->rate > 0)
			printf("%g lines/s each (window %" PRIu32 ")\n",
			    b->rate, b->window);
		else
			printf("window %" PRIu32 "\n", b->window);
		printf("  delivered %" PRIu64 " of %" PRIu64 " in %.3f s: "
		    "lost %" PRIu64 ", duplicated %" PRIu64 ", reordered %"
		    PRIu64 ", echoed %" PRIu64 ", malformed %" PRIu64,
		    b->delivered, b->expected, secs, lost, b->duplicates,
		    b->reordered, b->echoes, b->bad);
		if (b->rooms > 1)
			printf(", from another room %" PRIu64, b->leaked);
		printf("\n");
		printf("  %.0f deliveries/s; latency p50 %.1f us, p99 %.1f "
		    "us, max %.1f us\n", rate, p50 / 1e3, p99 / 1e3,
		    b->lat_max / 1e3);
		if (b->mode == MODE_BROADCAST)
			printf("  %u broadcasts to %u clients: p50 %.1f us, "
			    "max %.1f us\n", rounds, b->nclients - 1,
			    r50 / 1e3, rmax / 1e3);
		if (cpu >= 0 && pcpu >= 0)
			printf("  server CPU %.2f s and proxy CPU %.2f s, "
			    "%.3f s per million deliveries (server alone "
			    "%.3f), server RSS %ld KiB; ", cpu, pcpu, per_m,
			    server_per_m, b->server_rss1);
		else if (cpu >= 0)
			printf("  server CPU %.2f s, %.3f s per million "
			    "deliveries, RSS %ld KiB; ", cpu, per_m,
			    b->server_rss1);
		else
			printf("  ");
		printf("generator CPU %.2f s", gen_cpu);
		if (wall > 0)
			printf(" (%.0f%% busy)", 100 * gen_cpu / wall);
		if (b->stalls > 0)
			printf(", window full %" PRIu64 " times", b->stalls);
		printf("\n");
	}
	if (!ok)
		fprintf(stderr, "chatd-bench: FAIL: %s\n", b->failure);
	printf("result: label=%s mode=%s ok=%d clients=%u senders=%u "
	    "lines=%" PRIu32 " window=%" PRIu32 " rate=%g payload=%zu "
	    "expected=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRIu64
	    " dup=%" PRIu64 " reordered=%" PRIu64 " echoed=%" PRIu64
	    " malformed=%" PRIu64 " seconds=%.4f per_sec=%.0f p50_us=%.1f "
	    "p99_us=%.1f max_us=%.1f", b->label,
	    b->mode == MODE_BROADCAST ? "broadcast" : "fanout", ok,
	    b->nclients, b->nsenders, b->lines, b->window, b->rate,
	    b->payload, b->expected, b->delivered, lost, b->duplicates,
	    b->reordered, b->echoes, b->bad, secs, rate, p50 / 1e3,
	    p99 / 1e3, b->lat_max / 1e3);
	if (b->mode == MODE_BROADCAST)
		printf(" rounds=%u bcast_p50_us=%.1f bcast_max_us=%.1f",
		    rounds, r50 / 1e3, rmax / 1e3);
	printf(" server_cpu_s=%.3f cpu_s_per_m=%.4f server_rss_kb=%ld "
	    "gen_cpu_s=%.3f server_busy_pct=%.0f gen_busy_pct=%.0f", cpu,
	    per_m, b->server_rss1, gen_cpu, wall > 0 && cpu >= 0 ?
	    100 * cpu / wall : -1, wall > 0 ? 100 * gen_cpu / wall : -1);
	printf(" proxy_cpu_s=%.3f server_cpu_s_per_m=%.4f rooms=%u leaked=%"
	    PRIu64 " tls=%s", pcpu, server_per_m, b->rooms, b->leaked,
	    b->tls_got[0] != '\0' ? b->tls_got : "-");
	printf(" steal_ms=%ld\n", b->steal0 >= 0 && b->steal1 >= b->steal0 &&
	    tck > 0 ? (b->steal1 - b->steal0) * 1000 / tck : -1);
	return (ok ? 0 : 1);
}

/* Frees everything, so that leak checkers see a clean exit. */
static void
bench_free(struct bench *b)
{
	struct bench_client	*c;
	unsigned		 i;

	for (i = 0; i < b->nclients; i++) {
		c = &b->clients[i];
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->ev_write != NULL)
			event_free(c->ev_write);
		if (c->ssl != NULL)
			SSL_free(c->ssl);
		if (c->fd != -1)
			close(c->fd);
		free(c->part);
		free(c->out);
	}
	event_free(b->ev_tick);
	event_free(b->ev_pace);
	event_free(b->ev_kick);
	event_free(b->ev_ahead);
	event_base_free(b->base);
	if (b->ssl_ctx != NULL)
		SSL_CTX_free(b->ssl_ctx);
	freeaddrinfo(b->ai);
	if (b->ai2 != NULL)
		freeaddrinfo(b->ai2);
	free(b->clients);
	free(b->senders);
	free(b->next_seq);
	free(b->gaps);
	free(b->round_ns);
	free(b->lookup_sent_ns);
	free(b->sendbuf);
}

/* Start-up. */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: chatd-bench [options]\n"
"  -h, --host HOST        server address (default 127.0.0.1)\n"
"  -p, --port PORT        server port (default 7777)\n"
"      --port2 PORT       a second node of the same room: senders stay on\n"
"                         PORT, receivers alternate between the two\n"
"  -n, --clients N        connections (default 100)\n"
"  -s, --senders S        clients 0..S-1 send (default 10)\n"
"  -m, --lines M          lines per sender, or rounds (default 10000)\n"
"  -w, --window W         lines in flight per sender (default 64)\n"
"  -b, --batch B          lines per send() (default 1, like a person)\n"
"  -r, --rate R           lines/s per sender, 0 = as fast as W allows\n"
"  -l, --payload BYTES    line length without newline (default 64)\n"
"  -P, --server-pid PID   read server CPU, RSS and fds from /proc\n"
"  -a, --ahead K          with -P: connections the server has not accepted\n"
"                         yet, at most (default 64; ncat's backlog is 10)\n"
"  -t, --timeout SECS     give up after this long without progress (5)\n"
"  -L, --label NAME       name printed with the results\n"
"  -q, --quiet            print only the result line\n"
"      --broadcast        one line to all, M rounds, time each round\n"
"      --idle             connect N, report server RSS per connection\n"
"      --hold SECS        idle mode: hold the connections (default 1)\n"
"      --lookup           chatd in chat mode: the first client to join sends\n"
"                         M \"/msg nobody x\", then M \"/msg NAME x\" to the\n"
"                         client that joined last; server CPU (with -P) and\n"
"                         round trip per /msg\n"
"      --duration SECS    lookup mode: stop sending a case after SECS, short\n"
"                         of M if need be; handshake mode: open no more\n"
"                         after SECS (default 0: send or open all M)\n"
"      --rooms R          chatd in chat mode: client i joins #rK, K = i mod R\n"
"                         (R = 1: the default room); lines are expected in\n"
"                         their sender's room only\n"
"      --tls              speak TLS 1.3 to the server (certificate unchecked)\n"
"      --ciphersuite NAME the one TLS 1.3 suite offered\n"
"                         (default " TLS_SUITE ")\n"
"      --handshakes       with --tls: W connections at a time, each a fresh\n"
"                         full handshake, closed once the server is through\n"
"                         it; M of them; handshakes/s, server CPU each\n"
"      --proxy-pid PID    a proxy in front of the server (stunnel): its CPU\n"
"                         counts in the CPU per million deliveries\n"
"      --stall-probe SECS only sleep 200 us at a time for SECS and report\n"
"                         how late it woke (the machine's own stalls)\n"
"      --expect-exact     fail unless every line arrived exactly once,\n"
"                         in order, and never to its sender\n"
"      --help             this text\n"
"Exit status: 0 ok, 1 the run failed its checks, 2 usage or set-up error.\n"
"The last line printed is \"result: key=value ...\" for scripts.\n");
}

static unsigned long
number(const char *s, const char *what, unsigned long max)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v > max)
		fatal("bad %s: %s", what, s);
	return (v);
}

static double
seconds(const char *s, const char *what)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(v >= 0))
		fatal("bad %s: %s", what, s);
	return (v);
}

static void
raise_nofile(unsigned need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		fatal("%u connections need %u descriptors; the limit is %lu",
		    need - 32, need, (unsigned long)rl.rlim_cur);
}

/*
 * The client context of --tls: TLS 1.3 and the one suite asked for, no
 * certificate check, partial writes from a buffer that may move (c->out),
 * and session tickets handed to bench_tls_ticket_callback() but never
 * stored or offered back.  Idle mode releases each idle connection's
 * record buffers, since it holds thousands.
 */
static void
bench_tls_init(struct bench *b)
{
	SSL_CTX	*ctx;
	long	 mode = SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatal("SSL_CTX_new: %s", bench_tls_error(0));
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		fatal("TLS 1.3: %s", bench_tls_error(0));
	if (SSL_CTX_set_ciphersuites(ctx, b->ciphersuite) != 1)
		fatal("bad cipher suite %s: %s", b->ciphersuite,
		    bench_tls_error(0));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (b->mode == MODE_IDLE)
		mode |= SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(ctx, mode);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, bench_tls_ticket_callback);
	b->ssl_ctx = ctx;
}

/*
 * --stall-probe: sleeps 200 us at a time for secs and reports how late
 * it woke, at worst and how often by over 1 ms.  Run beside a latency
 * scenario, it shows the stalls of the machine itself (a hypervisor
 * running something else, the kernel's own work), which no server can
 * be faster than.  The idea is cyclictest's.
 */
static int
stall_probe(double secs, const char *label)
{
	struct timespec	 nap = { 0, 200000 };
	uint64_t	 end, t, late, max = 0, n = 0, over1 = 0;

	end = now_ns() + (uint64_t)(secs * 1e9);
	while ((t = now_ns()) < end) {
		nanosleep(&nap, NULL);
		late = now_ns() - t;
		late = late > 200000 ? late - 200000 : 0;
		if (late > max)
			max = late;
		if (late > 1000000)
			over1++;
		n++;
	}
	printf("result: label=%s mode=probe seconds=%.1f sleeps=%" PRIu64
	    " stall_max_us=%.1f stalls_over_1ms=%" PRIu64 "\n",
	    label != NULL ? label : "probe", secs, n, max / 1e3, over1);
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "host",		required_argument, NULL, 'h' },
		{ "port",		required_argument, NULL, 'p' },
		{ "port2",		required_argument, NULL, '2' },
		{ "clients",		required_argument, NULL, 'n' },
		{ "senders",		required_argument, NULL, 's' },
		{ "lines",		required_argument, NULL, 'm' },
		{ "window",		required_argument, NULL, 'w' },
		{ "rate",		required_argument, NULL, 'r' },
		{ "payload",		required_argument, NULL, 'l' },
		{ "server-pid",		required_argument, NULL, 'P' },
		{ "timeout",		required_argument, NULL, 't' },
		{ "label",		required_argument, NULL, 'L' },
		{ "quiet",		no_argument,	   NULL, 'q' },
		{ "broadcast",		no_argument,   NULL, 'B' },
		{ "idle",		no_argument,	   NULL, 'I' },
		{ "lookup",		no_argument,	   NULL, 'U' },
		{ "duration",		required_argument, NULL, 'D' },
		{ "hold",		required_argument, NULL, 'O' },
		{ "batch",		required_argument, NULL, 'b' },
		{ "ahead",		required_argument, NULL, 'a' },
		{ "expect-exact",	no_argument,	   NULL, 'X' },
		{ "stall-probe",	required_argument, NULL, 'S' },
		{ "rooms",		required_argument, NULL, 'R' },
		{ "tls",		no_argument,	   NULL, 'T' },
		{ "ciphersuite",	required_argument, NULL, 'C' },
		{ "handshakes",		no_argument,	   NULL, 'K' },
		{ "proxy-pid",		required_argument, NULL, 'Q' },
		{ "help",		no_argument,	   NULL, 'H' },
		{ NULL,			0,		   NULL, 0 }
	};
	struct bench			 bench, *b = &bench;
	struct addrinfo			 hints;
	struct event_config		*cfg;
	struct timeval			 tick = { 0, TICK_MS * 1000 };
	unsigned			 i, k, size, probe;
	int				 ch, error, senders_set = 0, status;

	memset(b, 0, sizeof *b);
	b->host = "127.0.0.1";
	b->port = "7777";
	b->nclients = 100;
	b->nsenders = 10;
	b->lines = 10000;
	b->window = 64;
	b->batch = 1;
	b->ahead = 64;
	b->payload = 64;
	b->timeout = 5;
	b->hold = 1;
	b->server_pid = -1;
	b->proxy_pid = -1;
	b->ciphersuite = TLS_SUITE;
	b->mode = MODE_FANOUT;

	while ((ch = getopt_long(argc, argv, "a:b:h:p:n:s:m:w:r:l:P:t:L:q",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case '2':
			b->port2 = optarg;
			break;
		case 'a':
			b->ahead = number(optarg, "connect-ahead count", 65535);
			if (b->ahead == 0)
				fatal("--ahead must be at least 1");
			break;
		case 'b':
			b->batch = number(optarg, "batch", 1000000);
			if (b->batch == 0)
				fatal("--batch must be at least 1");
			break;
		case 'h':
			b->host = optarg;
			break;
		case 'p':
			b->port = optarg;
			break;
		case 'n':
			b->nclients = number(optarg, "client count", 1000000);
			break;
		case 's':
			b->nsenders = number(optarg, "sender count", 1000000);
			senders_set = 1;
			break;
		case 'm':
			b->lines = number(optarg, "line count", 1000000000);
			break;
		case 'w':
			b->window = number(optarg, "window", 1000000);
			break;
		case 'r':
			b->rate = seconds(optarg, "rate");
			break;
		case 'l':
			b->payload = number(optarg, "payload", 4000);
			break;
		case 'P':
			b->server_pid = (pid_t)number(optarg, "pid", INT32_MAX);
			break;
		case 't':
			b->timeout = seconds(optarg, "timeout");
			break;
		case 'L':
			b->label = optarg;
			break;
		case 'q':
			b->quiet = 1;
			break;
		case 'B':
			b->mode = MODE_BROADCAST;
			break;
		case 'I':
			b->mode = MODE_IDLE;
			break;
		case 'U':
			b->mode = MODE_LOOKUP;
			break;
		case 'D':
			b->duration = seconds(optarg, "duration");
			break;
		case 'O':
			b->hold = seconds(optarg, "hold time");
			break;
		case 'X':
			b->expect_exact = 1;
			break;
		case 'S':
			return (stall_probe(seconds(optarg, "probe time"),
			    b->label));
		case 'R':
			b->rooms = number(optarg, "room count", 100000);
			if (b->rooms == 0)
				fatal("--rooms must be at least 1");
			break;
		case 'T':
			b->tls = 1;
			break;
		case 'C':
			b->ciphersuite = optarg;
			break;
		case 'K':
			b->mode = MODE_HANDSHAKE;
			break;
		case 'Q':
			b->proxy_pid = (pid_t)number(optarg, "pid", INT32_MAX);
			break;
		case 'H':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (2);
	}
	if (b->mode == MODE_BROADCAST) {
		if (senders_set && b->nsenders != 1)
			fatal("--broadcast has one sender");
		b->nsenders = 1;
		b->window = 1;
	}
	if (b->mode == MODE_IDLE || b->mode == MODE_LOOKUP ||
	    b->mode == MODE_HANDSHAKE)
		b->nsenders = 0;
	if (b->mode == MODE_HANDSHAKE) {
		if (!b->tls)
			fatal("--handshakes needs --tls");
		if (b->lines == 0)
			fatal("--handshakes needs at least one");
		b->nclients = b->window;	/* the slots */
	}
	if (b->tls && b->mode == MODE_LOOKUP)
		fatal("--lookup does not speak TLS");
	if (b->rooms > 0 && b->mode != MODE_FANOUT)
		fatal("--rooms is a fan-out mode");
	if (b->rooms > 0 && b->nclients < 2 * b->rooms)
		fatal("--rooms %u needs at least %u clients, two a room",
		    b->rooms, 2 * b->rooms);
	if (b->mode == MODE_LOOKUP && b->lines == 0)
		fatal("--lookup needs at least one line");
	if (b->label == NULL)
		b->label = b->mode == MODE_IDLE ? "idle" :
		    b->mode == MODE_LOOKUP ? "lookup" :
		    b->mode == MODE_HANDSHAKE ? "handshake" :
		    b->mode == MODE_BROADCAST ? "broadcast" : "fanout";
	if (b->nclients == 0 || b->nsenders > b->nclients)
		fatal("need at least one client and no more senders than "
		    "clients");
	if (b->mode != MODE_IDLE && b->mode != MODE_HANDSHAKE &&
	    b->nclients < 2)
		fatal("need at least two clients");
	if (b->window == 0)
		fatal("the window must be at least 1");
	if (b->payload < 48)
		b->payload = 48;	/* room for the header */
	if (b->mode == MODE_IDLE && b->server_pid <= 0)
		fprintf(stderr, "chatd-bench: no --server-pid: idle mode "
		    "cannot measure memory\n");

	raise_nofile(b->nclients + 32);
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(b->host, b->port, &hints, &b->ai)) != 0)
		fatal("%s port %s: %s", b->host, b->port, gai_strerror(error));
	if (b->port2 != NULL && (error = getaddrinfo(b->host, b->port2,
	    &hints, &b->ai2)) != 0)
		fatal("%s port %s: %s", b->host, b->port2,
		    gai_strerror(error));

	if ((cfg = event_config_new()) == NULL)
		fatal("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if ((b->base = event_base_new_with_config(cfg)) == NULL)
		fatal("event_base_new failed");
	event_config_free(cfg);

	b->clients = xcalloc(b->nclients, sizeof *b->clients);
	for (i = 0; i < b->nclients; i++) {
		b->clients[i].b = b;
		b->clients[i].id = i;
		b->clients[i].fd = -1;
		if (b->rooms > 0)
			b->clients[i].flags = BC_PRELUDE;
	}
	b->senders = xcalloc(b->nsenders, sizeof *b->senders);
	b->expected = 0;
	for (i = 0; i < b->nsenders; i++) {
		if (b->rooms > 0) {
			/* The last of its room, or the first if it is it. */
			k = i % b->rooms;
			size = (b->nclients - 1 - k) / b->rooms + 1;
			probe = k + (size - 1) * b->rooms;
			b->senders[i].probe = probe == i ? k : probe;
		} else {
			size = b->nclients;
			b->senders[i].probe = i == b->nclients - 1 ? 0 :
			    b->nclients - 1;
		}
		b->expected += (uint64_t)(size - 1) * b->lines;
		if (b->rate > 0)
			b->senders[i].offset_ns = (uint64_t)(1e9 * i /
			    (b->rate * b->nsenders));
	}
	b->next_seq = xcalloc((size_t)b->nclients * b->nsenders,
	    sizeof *b->next_seq);
	b->gaps = xcalloc((size_t)b->nclients * b->nsenders, sizeof *b->gaps);
	if (b->mode == MODE_BROADCAST)
		b->round_ns = xcalloc(b->lines, sizeof *b->round_ns);
	if (b->mode == MODE_LOOKUP)
		b->lookup_sent_ns = xcalloc(b->window,
		    sizeof *b->lookup_sent_ns);
	b->sendbuf = xcalloc(1, SEND_CHUNK);
	b->server_ticks0 = b->server_ticks1 = -1;
	if (b->tls)
		bench_tls_init(b);

	b->ev_tick = event_new(b->base, -1, EV_PERSIST, bench_tick_callback,
	    b);
	b->ev_pace = event_new(b->base, -1, EV_PERSIST, bench_pace_callback,
	    b);
	b->ev_kick = event_new(b->base, -1, 0, bench_kick_callback, b);
	b->ev_ahead = event_new(b->base, -1, 0, bench_ahead_callback, b);
	if (b->ev_tick == NULL || b->ev_pace == NULL || b->ev_kick == NULL ||
	    b->ev_ahead == NULL)
		fatal("event_new failed");
	event_add(b->ev_tick, &tick);

	if (b->server_pid > 0) {
		b->server_rss0 = proc_rss_kb(b->server_pid);
		if (proc_fd_count(b->server_pid) < 0)
			fatal("cannot read /proc/%ld", (long)b->server_pid);
		b->server_fds0 = (unsigned)proc_fd_count(b->server_pid);
	} else
		b->server_rss0 = -1;
	b->server_rss1 = -1;

	b->phase = PHASE_CONNECT;
	b->phase_ns = now_ns();
	if (b->mode == MODE_HANDSHAKE)
		bench_handshake_begin(b);
	else
		bench_connect_more(b);
	event_base_dispatch(b->base);

	status = bench_report(b);
	bench_free(b);
	return (status);
}
