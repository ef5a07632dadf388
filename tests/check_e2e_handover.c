/*
 * End-to-end tests of restarting without dropping anyone (handover.c):
 * chatd hands its listeners, every client's socket and an image of its
 * state to a successor.
 *
 * SIGUSR2, the way without systemd (the successor is the same binary,
 * exec'd by the old process):
 *
 *  - test_upgrades_under_load: 50 clients in 5 rooms chat at 500 lines a
 *    second in all through 10 consecutive upgrades.  No connection
 *    closes; every line reaches every other member of its sender's room
 *    exactly once and in order, with its sender's name (so names and
 *    rooms are unchanged); a client half-way through a line at each
 *    upgrade finishes it after, and it is relayed whole; every client
 *    sees exactly one "*** server restarted" per upgrade and no other
 *    notice (no joins, no departures).  The longest delivery latency
 *    (the longest pause a client saw), the median and each handover's
 *    time from SIGUSR2 to READY=1 are printed to the log.
 *  - a new process that cannot start (a config made invalid meanwhile, a
 *    binary that cannot be executed) leaves the old one serving, nobody
 *    disconnected and nobody told anything;
 *  - a control connection is told "error server restarting" and closed;
 *  - a TLS user is told its session cannot be carried over and closed,
 *    and the room told it left; the TLS port serves from the successor;
 *    a client logged in to an account stays logged in.
 *
 * The fd store, driven as systemd drives it: the test owns the
 * NOTIFY_SOCKET, sets FDSTORE= as systemd 254 does (chatd.service sets it
 * for older ones), sends SIGUSR2 as RestartKillSignal= would, collects
 * every FDSTORE=1 datagram's descriptors (SCM_RIGHTS) and FDNAME=, waits
 * for exit status 75, and starts the new process with those descriptors
 * at fd 3 on and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set:
 *
 *  - clients carry on as above, and the new process takes every
 *    descriptor out of the store again (FDSTOREREMOVE=1 per name);
 *  - a client whose socket systemd dropped from the store leaves, and
 *    its room is told;
 *  - an image truncated, corrupt or of another version: the new process
 *    logs why, tells each inherited client one line and closes it, and
 *    serves afresh on the same listener;
 *  - a new process that cannot start (an invalid config): it tells each
 *    inherited client one line, closes it and empties the store.
 *
 * Not exercised here, for want of systemd as PID 1: that systemd 252
 * keeps the store across `systemctl restart` (its restart job stays
 * queued, which keeps unit_may_gc() from releasing it: chatd(8)), that it
 * delivers RestartKillSignal=SIGUSR2 and honours MAINPID= and
 * RestartForceExitStatus=, its deduplication of stored descriptors,
 * and its dropping of a stored socket that sees POLLHUP (the test drops
 * one itself to show what chatd then does).
 *
 * Under a valgrind CHATD_WRAPPER the successors, exec'd by the daemon and
 * not by the harness, run under valgrind too (harness_trace_children()).
 * Tests synchronise on what chatd says (lines, log lines, notifications),
 * never on sleeps; the load test paces what it sends by the clock, which
 * is what a load is.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>

#include "certs.h"
#include "harness.h"
#include "progs.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	900

/* The load. */
#define NCLIENTS	50
#define NROOMS		5
#define NUPGRADES	10
#define LINES_PER_S	500		/* all clients together */
#define UPGRADE_GAP_MS	300		/* of traffic between handovers */
#define SPLITTER	0		/* the client that splits lines */

#define RESTARTED	"*** server restarted"
#define FRESH_LINE	"*** server restarted, but your session could not " \
			"be carried over: please reconnect"
#define FAILED_LINE	"*** server restart failed: please reconnect"

/* Limits wide enough for the load; a long handover_timeout for valgrind. */
#define LOAD_LIMITS	"[limits]\nrate_lines = 1000\nrate_burst = 1000\n" \
			"max_clients_per_address = 200\n" \
			"handover_timeout = 300\n"

static int64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Setting clients up ------------------------------------------------------ */

/*
 * Read until the next line that is exactly want, returning nothing of what
 * came before: after it, every line chatd sent c before it handled what
 * made want has been read.
 */
static void
barrier(struct tc *c, const char *want)
{
	char	*l;

	while ((l = tc_line(c, W)) != NULL) {
		if (strcmp(l, want) == 0)
			return;
	}
	ck_abort_msg("%s: no \"%s\": %s", c->name, want, c->seen);
}

/* c is called name and is in room (NULL: stays in the default room). */
static void
setup_client(struct tc *c, const char *name, const char *room)
{
	char	want[128];

	tc_send(c, "/nick %s\n", name);
	snprintf(want, sizeof want, "*** you are now known as %s", name);
	barrier(c, want);
	tc_rename(c, name);
	if (room != NULL) {
		tc_send(c, "/join %s\n", room);
		snprintf(want, sizeof want, "*** you are now in %s", room);
		barrier(c, want);
	}
}

/* Everything chatd had for c is read: it answers c's own /msg to itself. */
static void
quiesce(struct tc *c)
{
	tc_send(c, "/msg %s x\n", c->name);
	barrier(c, "*** that is you");
}

/* The load test ----------------------------------------------------------- */

struct lc {
	struct tc	*tc;
	int		 room;
	char		 name[16];
	char		 buf[65536];
	size_t		 len;
	uint32_t	 sent;			/* seq of the last line sent */
	int64_t		 next_us;		/* when the next is due */
	uint32_t	 seen[NCLIENTS];	/* last seq from each sender */
	unsigned	 splits;		/* split lines seen whole */
	unsigned	 restarted;
};

struct load {
	struct lc	 c[NCLIENTS];
	int64_t		 max_lat_us;
	int64_t		 hist[64];		/* latency: log2 buckets */
	uint64_t	 deliveries;
};

static void
load_latency(struct load *ld, int64_t lat)
{
	int	b = 0;

	if (lat > ld->max_lat_us)
		ld->max_lat_us = lat;
	while (b < 63 && (1LL << b) < lat)
		b++;
	ld->hist[b]++;
	ld->deliveries++;
}

/* The median latency, to the bucket's upper bound, in microseconds. */
static int64_t
load_median(const struct load *ld)
{
	uint64_t	n = 0;
	int		b;

	for (b = 0; b < 64; b++) {
		n += ld->hist[b];
		if (n * 2 >= ld->deliveries)
			return 1LL << b;
	}
	return 0;
}

/* One line to receiver r, without its CRLF. */
static void
load_line(struct load *ld, struct lc *r, const char *l)
{
	char		 name[32], tail[64];
	unsigned	 i, seq, k;
	long long	 t;

	if (strncmp(l, "*** ", 4) == 0) {
		ck_assert_msg(strcmp(l, RESTARTED) == 0, "%s: unexpected "
		    "notice \"%s\"", r->name, l);
		r->restarted++;
		return;
	}
	if (sscanf(l, "<%31[^>]> L %u %u %lld", name, &i, &seq, &t) == 4) {
		ck_assert_msg(i < NCLIENTS && strcmp(name, ld->c[i].name) == 0,
		    "%s: line from %s claims to be client %u's: %s", r->name,
		    name, i, l);
		ck_assert_msg(ld->c[i].room == r->room && &ld->c[i] != r,
		    "%s (room %d) got a line of %s (room %d)", r->name,
		    r->room, name, ld->c[i].room);
		ck_assert_msg(seq == r->seen[i] + 1, "%s: from %s, line %u "
		    "after %u (lost, doubled or out of order)", r->name, name,
		    seq, r->seen[i]);
		r->seen[i] = seq;
		load_latency(ld, now_us() - t);
		return;
	}
	if (sscanf(l, "<%31[^>]> H %u head-%63s", name, &k, tail) == 3) {
		ck_assert_msg(strcmp(name, ld->c[SPLITTER].name) == 0 &&
		    r->room == ld->c[SPLITTER].room, "%s: split line from %s",
		    r->name, name);
		ck_assert_msg(k == r->splits, "%s: split line %u, wanted %u",
		    r->name, k, r->splits);
		snprintf(name, sizeof name, "tail-%u", k);
		ck_assert_msg(strcmp(tail, name) == 0, "%s: split line %u "
		    "relayed as \"%s\"", r->name, k, l);
		r->splits++;
		return;
	}
	ck_abort_msg("%s: unexpected line \"%s\"", r->name, l);
}

/* Reads what r's socket has, handling every whole line. */
static void
load_read(struct load *ld, struct lc *r)
{
	char	*start, *nl;
	ssize_t	 n;

	n = read(r->tc->fd, r->buf + r->len, sizeof r->buf - r->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	ck_assert_msg(n > 0, "%s: connection %s", r->name, n == 0 ?
	    "closed" : strerror(errno));
	r->len += (size_t)n;
	start = r->buf;
	while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->buf))) !=
	    NULL) {
		ck_assert_msg(nl > start && nl[-1] == '\r', "%s: a line not "
		    "ended by CRLF", r->name);
		nl[-1] = '\0';
		load_line(ld, r, start);
		start = nl + 1;
	}
	r->len -= (size_t)(start - r->buf);
	memmove(r->buf, start, r->len);
	ck_assert_msg(r->len < sizeof r->buf, "%s: a line too long", r->name);
}

/* Reads for up to timeout_ms, whatever comes first. */
static void
load_poll(struct load *ld, int timeout_ms)
{
	struct pollfd	pfd[NCLIENTS];
	int		i;

	for (i = 0; i < NCLIENTS; i++) {
		pfd[i].fd = ld->c[i].tc->fd;
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, NCLIENTS, timeout_ms) <= 0)
		return;
	for (i = 0; i < NCLIENTS; i++) {
		if (pfd[i].revents != 0)
			load_read(ld, &ld->c[i]);
	}
}

static void
load_send(struct lc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
load_send(struct lc *c, const char *fmt, ...)
{
	char	buf[256];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ck_assert_msg(tc_write(c->tc, buf, (size_t)n) == 0, "%s: send: %s",
	    c->name, strerror(errno));
}

/* Whether every member has every line of every other member. */
static int
load_complete(const struct load *ld)
{
	int	r, i;

	for (r = 0; r < NCLIENTS; r++) {
		for (i = 0; i < NCLIENTS; i++) {
			if (i != r && ld->c[i].room == ld->c[r].room &&
			    ld->c[r].seen[i] != ld->c[i].sent)
				return 0;
		}
	}
	return 1;
}

enum upgrade_phase {
	PHASE_TRAFFIC,		/* between upgrades */
	PHASE_SPLIT,		/* half a line sent, for chatd to read */
	PHASE_UPGRADING,	/* SIGUSR2 sent */
	PHASE_DONE,		/* all upgrades done: traffic, then drain */
};

START_TEST(test_upgrades_under_load)
{
	struct load	*ld;
	struct chatd	*d;
	struct lc	*c, *split = NULL, *watcher = NULL;
	char		 room[16];
	enum upgrade_phase phase = PHASE_TRAFFIC;
	int64_t		 now, since, gap_us, sig_us = 0, handover_us[NUPGRADES];
	int64_t		 deadline;
	unsigned	 upgrades = 0, split_seq = 0, k;
	int		 i, flags;

	ld = calloc(1, sizeof *ld);
	ck_assert_ptr_nonnull(ld);
	d = chatd_start(LOAD_LIMITS "[chat]\nhistory = 0\n");
	for (i = 0; i < NCLIENTS; i++) {
		c = &ld->c[i];
		c->tc = tc_connect(d);
		c->room = i % NROOMS;
		snprintf(c->name, sizeof c->name, "u%d", i);
		snprintf(room, sizeof room, "#r%d", c->room);
		setup_client(c->tc, c->name, room);
	}
	/* Joins and renames told, every client has read all of them. */
	for (i = 0; i < NCLIENTS; i++) {
		c = &ld->c[i];
		quiesce(c->tc);
		ck_assert_uint_eq(c->tc->len, 0);
		flags = fcntl(c->tc->fd, F_GETFL);
		fcntl(c->tc->fd, F_SETFL, flags | O_NONBLOCK);
	}
	split = &ld->c[SPLITTER];
	for (i = 0; i < NCLIENTS && watcher == NULL; i++) {
		if (i != SPLITTER && ld->c[i].room == split->room)
			watcher = &ld->c[i];
	}

	gap_us = 1000000LL * NCLIENTS / LINES_PER_S;	/* per client */
	now = now_us();
	for (i = 0; i < NCLIENTS; i++)
		ld->c[i].next_us = now + gap_us * i / NCLIENTS;
	since = now;
	deadline = harness_now_ms() + (TEST_TIMEOUT - 120) * 1000;
	while (phase != PHASE_DONE || now - since < UPGRADE_GAP_MS * 1000) {
		ck_assert_msg(harness_left_ms(deadline) > 0, "the load ran out "
		    "of time after %u upgrades", upgrades);
		now = now_us();
		for (i = 0; i < NCLIENTS; i++) {
			c = &ld->c[i];
			if (now < c->next_us || (c == split &&
			    (phase == PHASE_SPLIT || phase == PHASE_UPGRADING)))
				continue;
			load_send(c, "L %d %u %lld\n", i, ++c->sent,
			    (long long)now_us());
			c->next_us += gap_us;
		}
		switch (phase) {
		case PHASE_TRAFFIC:
			if (now - since < UPGRADE_GAP_MS * 1000)
				break;
			/* One write: the half line is read with the line. */
			split_seq = ++split->sent;
			load_send(split, "L %d %u %lld\nH %u head-", SPLITTER,
			    split_seq, (long long)now_us(), upgrades);
			phase = PHASE_SPLIT;
			break;
		case PHASE_SPLIT:
			if (watcher->seen[SPLITTER] < split_seq)
				break;
			sig_us = now_us();
			chatd_upgrade_begin(d);
			phase = PHASE_UPGRADING;
			break;
		case PHASE_UPGRADING:
			if (!chatd_upgrade_poll(d))
				break;
			handover_us[upgrades] = now_us() - sig_us;
			load_send(split, "tail-%u\n", upgrades);
			split->next_us = now_us() + gap_us;
			upgrades++;
			since = now_us();
			phase = upgrades == NUPGRADES ? PHASE_DONE :
			    PHASE_TRAFFIC;
			break;
		case PHASE_DONE:
			break;
		}
		load_poll(ld, phase == PHASE_UPGRADING ? 2 : 1);
	}

	/* Traffic over: every line, to everyone it was for. */
	deadline = harness_now_ms() + W;
	while (!load_complete(ld)) {
		ck_assert_msg(harness_left_ms(deadline) > 0, "lines missing "
		    "after the load");
		load_poll(ld, 10);
	}
	for (i = 0; i < NCLIENTS; i++) {
		c = &ld->c[i];
		ck_assert_msg(c->restarted == NUPGRADES, "%s saw \"%s\" %u "
		    "times in %u upgrades", c->name, RESTARTED, c->restarted,
		    NUPGRADES);
		if (c->room == split->room && c != split)
			ck_assert_msg(c->splits == NUPGRADES, "%s saw %u of %u "
			    "split lines", c->name, c->splits, NUPGRADES);
	}

	printf("handover under load: %d clients in %d rooms, %d lines/s, %u "
	    "upgrades, %" PRIu64 " deliveries\n", NCLIENTS, NROOMS,
	    LINES_PER_S, upgrades, ld->deliveries);
	printf("handover under load: longest pause (max delivery latency) "
	    "%.1f ms; median latency <= %.3f ms\n", ld->max_lat_us / 1000.0,
	    load_median(ld) / 1000.0);
	printf("handover under load: SIGUSR2 to READY=1:");
	for (k = 0; k < upgrades; k++)
		printf(" %.1f", handover_us[k] / 1000.0);
	printf(" ms\n");
	fflush(stdout);

	/* The rooms are as they were. */
	for (i = 0; i < NCLIENTS; i++) {
		flags = fcntl(ld->c[i].tc->fd, F_GETFL);
		fcntl(ld->c[i].tc->fd, F_SETFL, flags & ~O_NONBLOCK);
	}
	tc_send(ld->c[1].tc, "/who\n");
	tc_expect_line(ld->c[1].tc, "*** 10 in #r1:");
	for (i = 0; i < NCLIENTS; i++)
		tc_close(ld->c[i].tc);
	chatd_stop_ok(d);
	free(ld);
}
END_TEST

/* SIGUSR2 that fails: the old process serves on -------------------------- */

/* a and b chat both ways: nobody was dropped, nothing came in between. */
static void
still_chatting(struct tc *a, struct tc *b, const char *word)
{
	char	want[128];

	tc_send(a, "%s from a\n", word);
	snprintf(want, sizeof want, "<%s> %s from a", a->name, word);
	tc_expect_line(b, want);
	tc_send(b, "%s from b\n", word);
	snprintf(want, sizeof want, "<%s> %s from b", b->name, word);
	tc_expect_line(a, want);
}

START_TEST(test_upgrade_bad_config_serves_on)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*path;

	d = chatd_start("[chat]\nannounce = no\nmotd =\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	still_chatting(a, b, "before");
	/* The successor reads the same file: now it cannot. */
	path = harness_write_file(d->dir, "chatd.conf", "[server]\nport = x\n");
	free(path);
	chatd_kill(d, SIGUSR2);
	chatd_wait_log(d, "handover failed: the new process: ");
	chatd_wait_log(d, "; serving on");
	ck_assert_msg(strstr(chatd_log(d), "port") != NULL, "the failure "
	    "does not say what is wrong:\n%s", chatd_log(d));
	/* Nobody was told anything, and the old process still relays. */
	still_chatting(a, b, "after");
	ck_assert_int_eq(chatd_log_count(d, "handover: took over"), 0);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* Copies the file from to to, mode 0755. */
static void
copy_file(const char *from, const char *to)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out;

	in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in != -1, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_msg(out != -1, "%s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	close(out);
}

START_TEST(test_upgrade_exec_fails_serves_on)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*bin, *dir, *copy;

	/* chatd runs from a copy of itself, which is then made unrunnable. */
	ck_assert_ptr_nonnull(getenv("CHATD_BIN"));
	bin = strdup(getenv("CHATD_BIN"));
	dir = harness_mkdtemp("bin");
	copy = harness_asprintf("%s/chatd", dir);
	copy_file(bin, copy);
	setenv("CHATD_BIN", copy, 1);
	d = chatd_start("[chat]\nannounce = no\nmotd =\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	still_chatting(a, b, "before");
	ck_assert_int_eq(chmod(copy, 0644), 0);
	chatd_kill(d, SIGUSR2);
	chatd_wait_log(d, "handover failed: the new process: ");
	chatd_wait_log(d, "; serving on");
	still_chatting(a, b, "after");
	/* Runnable again: the next upgrade goes through. */
	ck_assert_int_eq(chmod(copy, 0755), 0);
	chatd_upgrade(d);
	tc_expect_line(a, RESTARTED);
	tc_expect_line(b, RESTARTED);
	still_chatting(a, b, "upgraded");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	setenv("CHATD_BIN", bin, 1);
	harness_rmtree(dir);
	free(copy);
	free(dir);
	free(bin);
}
END_TEST

/*
 * chatd runs from a bash script in a directory of its own (*dirp), which
 * execs the binary under the script's name, so that successors are
 * exec'd through it too.  The first successor stops its predecessor
 * (SIGSTOP) before it starts: it takes over and says "ok", and waits in
 * poll() for "go" until the test lets the predecessor go on (SIGCONT).
 * Returns CHATD_BIN as it was, to be set again; 0 if bash is missing.
 */
static char *
stopping_wrapper(const char *test, char **dirp)
{
	char	*bash, *bin, *body, *path;

	if ((bash = harness_program("bash", NULL)) == NULL) {
		harness_skip(test, "not installed: bash");
		return (NULL);
	}
	ck_assert_ptr_nonnull(getenv("CHATD_BIN"));
	bin = strdup(getenv("CHATD_BIN"));
	*dirp = harness_mkdtemp("wrap");
	body = harness_asprintf("#!%s\n"
	    "if [ -n \"$LISTEN_FDS\" ] && mkdir '%s/stopped' 2>/dev/null; "
	    "then\n\tkill -STOP \"$PPID\"\nfi\n"
	    "exec -a \"$0\" '%s' \"$@\"\n", bash, *dirp, bin);
	path = harness_write_file(*dirp, "chatd", body);
	ck_assert_int_eq(chmod(path, 0755), 0);
	setenv("CHATD_BIN", path, 1);
	free(path);
	free(body);
	free(bash);
	return (bin);
}

/* The process that logged "handover: took over": the successor. */
static pid_t
successor_pid(struct chatd *d)
{
	static const char	*said = "] notice: handover: took over";
	const char		*log, *p;

	chatd_wait_log(d, said);
	log = chatd_log(d);
	p = strstr(log, said);
	while (p > log && p[-1] != '[')
		p--;
	return ((pid_t)strtol(p, NULL, 10));
}

/* Field (1: the first) of /proc/PID/file, as a number; -1 if none. */
static long
proc_field(pid_t pid, const char *file, int field)
{
	char	path[64], buf[512], *p = buf, *end;
	FILE	*f;
	size_t	 n;
	long	 v;

	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* stat's second field, (comm), may hold spaces. */
	if (strcmp(file, "stat") == 0 && (p = strrchr(buf, ')')) != NULL) {
		p += 2;
		field -= 2;
	}
	for (; field > 1 && p != NULL; field--) {
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	if (p == NULL)
		return (-1);
	v = strtol(p, &end, 10);
	return (end == p ? (*p == 'Z' ? 'Z' : -1) : v);
}

/* Waits until process pid sleeps in poll(2): waiting for "go". */
static void
wait_polling(pid_t pid)
{
	int64_t	until = now_us() + (int64_t)W * 1000;
	long	nr;

	for (;;) {
		nr = proc_field(pid, "syscall", 1);
#ifdef SYS_poll
		if (nr == SYS_poll)
			return;
#endif
		if (nr == SYS_ppoll)
			return;
		ck_assert_msg(now_us() < until, "process %ld is not in poll() "
		    "(system call %ld)", (long)pid, nr);
		poll(NULL, 0, 10);
	}
}

/* Waits until field of /proc/PID/stat, masked, is want. */
static void
wait_stat(pid_t pid, int field, long mask, long want)
{
	int64_t	until = now_us() + (int64_t)W * 1000;
	long	v;

	while (((v = proc_field(pid, "stat", field)) & mask) != want) {
		ck_assert_msg(now_us() < until, "process %ld: stat field %d "
		    "is %ld", (long)pid, field, v);
		poll(NULL, 0, 10);
	}
}

/*
 * Starts chatd through stopping_wrapper(), with a and b chatting; NULL if
 * the test is skipped.  *binp and *dirp are for stopped_end().
 *
 * Never under a CHATD_WRAPPER: valgrind, following the exec of chatd by
 * the script, gives the new program the binary's own path as argv[0]
 * (the script's "exec -a" is lost), so chatd would exec its successor
 * without the script and no predecessor would be stopped.  These tests
 * are about a race between processes, not memory; the sanitizer build
 * runs them, and the other tests here run the same code under valgrind.
 */
static struct chatd *
stopped_start(const char *test, char **binp, char **dirp, struct tc **a,
    struct tc **b)
{
	struct chatd	*d;
	char		*wrapper = NULL;

	if ((*binp = stopping_wrapper(test, dirp)) == NULL)
		return (NULL);
	if (getenv("CHATD_WRAPPER") != NULL) {
		wrapper = strdup(getenv("CHATD_WRAPPER"));
		unsetenv("CHATD_WRAPPER");
	}
	d = chatd_start("[chat]\nannounce = no\nmotd =\nhistory = 0\n");
	if (wrapper != NULL) {
		setenv("CHATD_WRAPPER", wrapper, 1);
		free(wrapper);
	}
	*a = tc_connect(d);
	*b = tc_connect(d);
	still_chatting(*a, *b, "before");
	return (d);
}

static void
stopped_end(struct chatd *d, struct tc *a, struct tc *b, char *bin,
    char *dir)
{
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	setenv("CHATD_BIN", bin, 1);
	harness_rmtree(dir);
	free(dir);
	free(bin);
}

/*
 * A signal to the successor while it waits for "go" (a reload, say, as
 * `systemctl kill` or killall would send it) does not make it give up:
 * it serves, and reloads then.
 */
START_TEST(test_upgrade_signal_while_taking_over)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*bin, *dir;
	pid_t		 pid;

	if ((d = stopped_start("test_upgrade_signal_while_taking_over", &bin,
	    &dir, &a, &b)) == NULL)
		return;
	chatd_upgrade_begin(d);
	pid = successor_pid(d);
	wait_polling(pid);
	kill(pid, SIGHUP);
	/* Not pending any more: delivered, and poll() interrupted. */
	wait_stat(pid, 31, 1L << (SIGHUP - 1), 0);
	chatd_kill(d, SIGCONT);
	while (!chatd_upgrade_poll(d))
		poll(NULL, 0, 10);
	tc_expect_line(a, RESTARTED);
	tc_expect_line(b, RESTARTED);
	still_chatting(a, b, "upgraded");
	chatd_wait_log(d, "configuration reloaded");
	stopped_end(d, a, b, bin, dir);
}
END_TEST

/*
 * A successor gone between its "ok" and the predecessor's "go" leaves the
 * predecessor serving: nobody is dropped, nobody told anything.
 */
START_TEST(test_upgrade_successor_gone_serves_on)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*bin, *dir;
	pid_t		 pid;

	if ((d = stopped_start("test_upgrade_successor_gone_serves_on", &bin,
	    &dir, &a, &b)) == NULL)
		return;
	chatd_kill(d, SIGUSR2);
	pid = successor_pid(d);
	wait_polling(pid);
	kill(pid, SIGKILL);
	wait_stat(pid, 3, -1L, 'Z');
	chatd_kill(d, SIGCONT);
	chatd_wait_log(d, "handover failed: the new process: it was gone");
	chatd_wait_log(d, "; serving on");
	still_chatting(a, b, "after");
	stopped_end(d, a, b, bin, dir);
}
END_TEST

/* A control connection cannot move: it is told, and closed. */
START_TEST(test_upgrade_closes_control)
{
	struct chatd		*d;
	struct tc		*a, *b, *ctl;
	struct sockaddr_un	 sun;
	char			*extra, *dir;
	int			 fd;

	dir = harness_mkdtemp("ctl");
	extra = harness_asprintf("[chat]\nannounce = no\nmotd =\nhistory = 0\n"
	    "[control]\nsocket = %s/control.sock\n", dir);
	d = chatd_start(extra);
	free(extra);
	a = tc_connect(d);
	b = tc_connect(d);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/control.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s: %s", sun.sun_path, strerror(errno));
	ctl = tc_adopt(fd, "chatctl");
	tc_send(ctl, "status\n");
	tc_expect_re(ctl, "^ok$", W);
	chatd_upgrade(d);
	tc_expect_line(ctl, "error server restarting");
	tc_expect_eof(ctl);
	tc_close(ctl);
	tc_expect_line(a, RESTARTED);
	tc_expect_line(b, RESTARTED);
	still_chatting(a, b, "upgraded");
	/* The successor has the control socket. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s after the upgrade: %s", sun.sun_path,
	    strerror(errno));
	ctl = tc_adopt(fd, "chatctl2");
	tc_send(ctl, "status\n");
	tc_expect_re(ctl, "^ok$", W);
	tc_close(ctl);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * A TLS session cannot move: its user is told and closed, and the room
 * told it left; the TLS listener moves, so it comes back at once.  A
 * login moves with its client.
 */
START_TEST(test_upgrade_tls_told_login_kept)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct tc	*a, *b;
	struct prog	 p;
	EVP_PKEY	*k;
	char		*dir, *extra, *openssl;
	int		 tport;

	if (!find_programs("test_upgrade_tls_told_login_kept", names,
	    &openssl))
		return;
	dir = harness_mkdtemp("tls");
	k = certs_key(0);
	certs_write_key(dir, "key.pem", k);
	certs_write_cert(dir, "cert.pem", "localhost", k, -86400, 86400,
	    NULL);
	EVP_PKEY_free(k);
	tport = harness_free_port();
	extra = harness_asprintf("[chat]\nmotd =\nhistory = 0\n"
	    "[control]\nstate = %s/chatd.db\n"
	    "[accounts]\nallow_plaintext_passwords = yes\nhash_cost = 1\n"
	    "[tls]\nbind = 127.0.0.1\nport = %d\ncertificate = %s/cert.pem\n"
	    "private_key = %s/key.pem\n", dir, tport, dir, dir);
	d = chatd_start(extra);
	free(extra);
	a = tc_connect(d);
	setup_client(a, "alice", NULL);
	tc_send(a, "/register hunter2222\n");
	barrier(a, "*** you are logged in as alice");
	b = tc_connect(d);
	setup_client(b, "bob", NULL);
	s_client(&p, dir, "s_client", openssl, tport, 1, "-quiet", NULL);
	setup_client(p.c, "carol", NULL);
	quiesce(a);
	quiesce(b);

	chatd_upgrade(d);
	tc_expect_line(p.c, "*** server restarting: a TLS session cannot be "
	    "carried over; please reconnect");
	tc_expect_eof(p.c);
	prog_stop(&p);
	tc_expect_line(a, "*** carol left (server restarting)");
	tc_expect_line(a, RESTARTED);
	tc_expect_line(b, "*** carol left (server restarting)");
	tc_expect_line(b, RESTARTED);
	tc_send(b, "/who\n");
	tc_expect_line(b, "*** 2 online:");
	tc_expect_line_re(b, "^\\*\\*\\*   alice .*, logged in$");
	tc_expect_line_re(b, "^\\*\\*\\*   bob .* \\(you\\)$");
	still_chatting(a, b, "upgraded");
	/* The TLS port is the successor's now. */
	s_client(&p, dir, "s_client2", openssl, tport, 1, "-quiet", NULL);
	tc_expect_line(a, "*** guest4 joined");
	prog_stop(&p);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
	free(openssl);
}
END_TEST

/* The fd store, as systemd drives it -------------------------------------- */

#define STORE_MAX	64

/* What the test, as systemd, holds for a service. */
struct sysd {
	char	*dir;
	char	*conf;
	char	*log;
	char	*notify;
	int	 sock;			/* NOTIFY_SOCKET, ours */
	pid_t	 pid;
	int	 status;
	int	 port;
	int	 fds[STORE_MAX];	/* the store: dups above 1023 */
	char	 names[STORE_MAX][32];
	size_t	 n;
	char	 said[8192];		/* every notification, one a line */
};

/* What the child's setup() puts at fd 3 on, and its LISTEN_PID. */
static int	 pass_fds[STORE_MAX];
static size_t	 npass;
static char	 listen_pid[32] = "LISTEN_PID=                    ";

static void
pass_setup(void)
{
	size_t	i;

	for (i = 0; i < npass; i++) {
		if (dup2(pass_fds[i], 3 + (int)i) == -1)
			_exit(126);
	}
	snprintf(listen_pid + 11, sizeof listen_pid - 11, "%ld",
	    (long)getpid());
}

static struct sysd *
sysd_new(const char *extra)
{
	struct sysd		*sd;
	struct sockaddr_un	 sun;
	struct rlimit		 rl;
	char			*body;

	/* The store's copies live above 1023, clear of harness_spawn(). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 &&
	    rl.rlim_max >= 2048) {
		rl.rlim_cur = 2048;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sd = calloc(1, sizeof *sd);
	ck_assert_ptr_nonnull(sd);
	sd->dir = harness_mkdtemp("sysd");
	sd->port = harness_free_port();
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[chat]\nannounce = no\nmotd =\nhistory = 0\n%s", sd->port,
	    extra != NULL ? extra : "");
	sd->conf = harness_write_file(sd->dir, "chatd.conf", body);
	free(body);
	sd->log = harness_asprintf("%s/chatd.log", sd->dir);
	sd->notify = harness_asprintf("%s/notify", sd->dir);
	sd->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(sd->sock, -1);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sd->notify);
	ck_assert_int_eq(bind(sd->sock, (struct sockaddr *)&sun, sizeof sun),
	    0);
	sd->pid = -1;
	return sd;
}

/* Starts chatd with the store's descriptors, as systemd would. */
static void
sysd_start(struct sysd *sd)
{
	struct harness_exec	 x;
	char			*tail[] = { "-c", sd->conf, NULL };
	char			*env[5] = { "FDSTORE=64", NULL };
	char			*fds = NULL, *names = NULL, *p;
	size_t			 i, len = 1;
	int			 logfd;

	npass = sd->n;
	memcpy(pass_fds, sd->fds, sd->n * sizeof *sd->fds);
	if (sd->n != 0) {
		for (i = 0; i < sd->n; i++)
			len += strlen(sd->names[i]) + 1;
		names = calloc(1, len + 16);
		ck_assert_ptr_nonnull(names);
		p = stpcpy(names, "LISTEN_FDNAMES=");
		for (i = 0; i < sd->n; i++) {
			if (i != 0)
				*p++ = ':';
			p = stpcpy(p, sd->names[i]);
		}
		fds = harness_asprintf("LISTEN_FDS=%zu", sd->n);
		env[1] = fds;
		env[2] = names;
		env[3] = listen_pid;
	}
	logfd = open(sd->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ne(logfd, -1);
	memset(&x, 0, sizeof x);
	x.tail = tail;
	x.env = env;
	x.notify = sd->notify;
	x.outfd = logfd;
	x.setup = pass_setup;
	sd->pid = harness_spawn(&x);
	close(logfd);
	free(fds);
	free(names);
	/* Like systemd, the test keeps its copies: the store is its own. */
	sd->status = -1;
}

/*
 * Receives one notification, for up to timeout_ms: its lines go to
 * sd->said, descriptors sent with FDSTORE=1 to the store (duplicated above
 * 1023) under their FDNAME=.  0 on timeout.
 */
static int
sysd_recv(struct sysd *sd, int timeout_ms)
{
	struct pollfd	 pfd = { sd->sock, POLLIN, 0 };
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 253)];
	}		 ctl;
	char		 buf[4096], *name;
	ssize_t		 n;
	size_t		 k, nfd, i;
	int		*fds = NULL;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return 0;
	memset(&mh, 0, sizeof mh);
	iov.iov_base = buf;
	iov.iov_len = sizeof buf - 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof ctl.buf;
	n = recvmsg(sd->sock, &mh, MSG_CMSG_CLOEXEC);
	ck_assert_msg(n >= 0, "recvmsg: %s", strerror(errno));
	ck_assert_msg(!(mh.msg_flags & MSG_CTRUNC), "descriptors cut off");
	buf[n] = '\0';
	nfd = 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			fds = (int *)CMSG_DATA(cm);
			nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		}
	}
	ck_assert_msg(strlen(sd->said) + strlen(buf) + 2 < sizeof sd->said,
	    "too many notifications");
	strcat(sd->said, buf);
	strcat(sd->said, "\n");
	if (nfd == 0)
		return 1;
	ck_assert_msg(strstr(buf, "FDSTORE=1") != NULL, "descriptors "
	    "without FDSTORE=1: %s", buf);
	name = strstr(buf, "FDNAME=");
	ck_assert_ptr_nonnull(name);
	name += 7;
	name[strcspn(name, "\n")] = '\0';
	for (i = 0; i < nfd; i++) {
		ck_assert_msg(sd->n < STORE_MAX, "FileDescriptorStoreMax=%d "
		    "exceeded", STORE_MAX);
		k = sd->n++;
		sd->fds[k] = fcntl(fds[i], F_DUPFD_CLOEXEC, 1024);
		ck_assert_int_ge(sd->fds[k], 1024);
		close(fds[i]);
		snprintf(sd->names[k], sizeof sd->names[k], "%s", name);
	}
	return 1;
}

/* Receives until a notification held the line want. */
static void
sysd_wait_said(struct sysd *sd, const char *want)
{
	int64_t	deadline = harness_now_ms() + HARNESS_START_MS;
	char	pat[256];

	snprintf(pat, sizeof pat, "\n%s\n", want);
	for (;;) {
		memmove(sd->said + 1, sd->said, strlen(sd->said) + 1);
		sd->said[0] = '\n';
		if (strstr(sd->said, pat) != NULL) {
			memmove(sd->said, sd->said + 1, strlen(sd->said));
			return;
		}
		memmove(sd->said, sd->said + 1, strlen(sd->said));
		ck_assert_msg(harness_left_ms(deadline) > 0, "no %s; said:\n%s"
		    "log:\n%s", want, sd->said, harness_read_file(sd->log));
		sysd_recv(sd, 50);
	}
}

/* Receives (the store fills) until chatd exits; its status. */
static int
sysd_wait_exit(struct sysd *sd)
{
	int64_t	deadline = harness_now_ms() + HARNESS_STOP_MS;
	int	st;

	for (;;) {
		while (sysd_recv(sd, 0))
			;
		if ((st = harness_wait(&sd->pid, &sd->status, 0)) != -1)
			break;
		ck_assert_msg(harness_left_ms(deadline) > 0, "chatd did not "
		    "exit; log:\n%s", harness_read_file(sd->log));
		sysd_recv(sd, 20);
	}
	while (sysd_recv(sd, 0))
		;
	return st;
}

/* What systemd does when the unit stops for good: closes the store. */
static void
sysd_clear(struct sysd *sd)
{
	size_t	i;

	for (i = 0; i < sd->n; i++)
		close(sd->fds[i]);
	sd->n = 0;
	sd->said[0] = '\0';
}

/* FDSTOREREMOVE=1 for name: the store drops it, as systemd does. */
static void
sysd_check_removed(struct sysd *sd, const char *name)
{
	char	want[128];

	snprintf(want, sizeof want, "FDSTOREREMOVE=1\nFDNAME=%s\n", name);
	ck_assert_msg(strstr(sd->said, want) != NULL, "no FDSTOREREMOVE "
	    "for %s; said:\n%s", name, sd->said);
}

static void
sysd_free(struct sysd *sd)
{
	if (sd->pid > 0) {
		kill(sd->pid, SIGKILL);
		harness_wait(&sd->pid, &sd->status, HARNESS_STOP_MS);
	}
	sysd_clear(sd);
	close(sd->sock);
	harness_rmtree(sd->dir);
	free(sd->dir);
	free(sd->conf);
	free(sd->log);
	free(sd->notify);
	free(sd);
}

/* SIGUSR2 (RestartKillSignal=), and the store filled; exit status 75. */
static void
sysd_restart_stop(struct sysd *sd)
{
	size_t	i;
	int	st, clients = 0, state = 0, listen = 0;

	sd->said[0] = '\0';
	kill(sd->pid, SIGUSR2);
	st = sysd_wait_exit(sd);
	ck_assert_msg(st == 75, "exit status %d, not 75, after SIGUSR2; "
	    "log:\n%s", st, harness_read_file(sd->log));
	for (i = 0; i < sd->n; i++) {
		clients += strcmp(sd->names[i], "c") == 0;
		state += strcmp(sd->names[i], "chatd-state") == 0;
		listen += strcmp(sd->names[i], "chatd-listen") == 0;
	}
	ck_assert_msg(state == 1 && listen == 1 && clients >= 1, "stored: "
	    "%d state, %d listeners, %d clients; said:\n%s", state, listen,
	    clients, sd->said);
	ck_assert_msg(strcmp(sd->names[sd->n - 1], "chatd-state") == 0,
	    "the state is not stored last");
	sd->said[0] = '\0';
}

static struct tc *
sysd_connect(struct sysd *sd)
{
	struct chatd	fake;

	memset(&fake, 0, sizeof fake);
	fake.port = sd->port;
	return tc_connect(&fake);
}

static void
sysd_stop_ok(struct sysd *sd)
{
	int	st;

	kill(sd->pid, SIGTERM);
	st = harness_wait(&sd->pid, &sd->status, HARNESS_STOP_MS);
	ck_assert_msg(st == 0, "exit status %d; log:\n%s", st,
	    harness_read_file(sd->log));
}

/*
 * chatd under the test as systemd (extra: more of its config), serving
 * alice (in #ops) and bob (in room, NULL: the default room), each of whom
 * has read all there was.
 */
static struct sysd *
sysd_serving(const char *extra, struct tc **a, struct tc **b,
    const char *room)
{
	struct sysd	*sd;

	sd = sysd_new(extra);
	sysd_start(sd);
	sysd_wait_said(sd, "READY=1");
	*a = sysd_connect(sd);
	*b = sysd_connect(sd);
	setup_client(*a, "alice", "#ops");
	setup_client(*b, "bob", room);
	quiesce(*a);
	quiesce(*b);
	return sd;
}

START_TEST(test_fdstore_restart)
{
	struct sysd	*sd;
	struct tc	*a, *b;

	sd = sysd_serving(NULL, &a, &b, "#ops");
	/* alice is half-way through a line when the restart comes. */
	tc_send(a, "first\nhalf a li");
	tc_expect_line(b, "<alice> first");

	sysd_restart_stop(sd);
	sysd_start(sd);
	sysd_wait_said(sd, "READY=1");
	tc_expect_line(a, RESTARTED);
	tc_expect_line(b, RESTARTED);
	/* The store was emptied: systemd drops what was named. */
	sysd_check_removed(sd, "c");
	sysd_check_removed(sd, "chatd-state");
	sysd_check_removed(sd, "chatd-listen");
	sysd_clear(sd);

	tc_send(a, "ne, whole\n");
	tc_expect_line(b, "<alice> half a line, whole");
	still_chatting(a, b, "restarted");
	tc_send(b, "/who\n");
	tc_expect_line(b, "*** 2 in #ops:");
	tc_close(a);
	tc_close(b);
	/* And new clients get the listener, from the successor. */
	a = sysd_connect(sd);
	tc_close(a);

	/* Twice: the successor hands over in turn. */
	b = sysd_connect(sd);
	setup_client(b, "carol", NULL);
	sysd_restart_stop(sd);
	sysd_start(sd);
	sysd_wait_said(sd, "READY=1");
	tc_expect_line(b, RESTARTED);
	tc_send(b, "/nick\n");
	tc_expect_line(b, "*** usage: /nick NAME");
	tc_close(b);
	sysd_stop_ok(sd);
	sysd_free(sd);
}
END_TEST

/* How an image in the store is spoilt. */
enum spoil {
	SPOIL_TRUNCATED,
	SPOIL_CORRUPT,
	SPOIL_VERSION,
};

static const struct {
	const char	*what;
	const char	*why;		/* what the log says */
} spoils[] = {
	[SPOIL_TRUNCATED] = { "truncated", "the state is not used: "
	    "truncated:" },
	[SPOIL_CORRUPT] = { "corrupt", "the state is not used: corrupt: the "
	    "checksum does not match" },
	[SPOIL_VERSION] = { "of another version", "the state is not used: "
	    "version 2, this chatd reads version 1" },
};

/* The image in the store becomes a spoilt copy (a memfd of the test's). */
static void
spoil_state(struct sysd *sd, enum spoil how)
{
	struct stat	 sb;
	uint8_t		*img;
	size_t		 i, len;
	int		 fd, copy;

	for (i = 0; i < sd->n; i++) {
		if (strcmp(sd->names[i], "chatd-state") == 0)
			break;
	}
	ck_assert_uint_lt(i, sd->n);
	fd = sd->fds[i];
	ck_assert_int_eq(fstat(fd, &sb), 0);
	len = (size_t)sb.st_size;
	img = malloc(len);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(pread(fd, img, len, 0), (ssize_t)len);
	switch (how) {
	case SPOIL_TRUNCATED:
		len /= 2;
		break;
	case SPOIL_CORRUPT:
		img[len - 3] ^= 0x40;
		break;
	case SPOIL_VERSION:
		img[8] = 2;
		break;
	}
	copy = memfd_create("spoilt", MFD_CLOEXEC);
	ck_assert_int_ne(copy, -1);
	ck_assert_int_eq(write(copy, img, len), (ssize_t)len);
	close(fd);
	sd->fds[i] = fcntl(copy, F_DUPFD_CLOEXEC, 1024);
	close(copy);
	free(img);
}

START_TEST(test_fdstore_bad_state)
{
	struct sysd	*sd;
	struct tc	*a, *b, *c;
	char		*log;

	sd = sysd_serving(NULL, &a, &b, NULL);
	tc_send(a, "half a li");

	sysd_restart_stop(sd);
	spoil_state(sd, (enum spoil)_i);
	sysd_start(sd);
	sysd_wait_said(sd, "READY=1");
	/* One line each, then closed: never a half-restored room. */
	tc_expect_line(a, FRESH_LINE);
	tc_expect_eof(a);
	tc_expect_line(b, FRESH_LINE);
	tc_expect_eof(b);
	log = harness_read_file(sd->log);
	ck_assert_msg(strstr(log, spoils[_i].why) != NULL, "%s: the log does "
	    "not say \"%s\":\n%s", spoils[_i].what, spoils[_i].why, log);
	free(log);
	sysd_check_removed(sd, "c");
	sysd_check_removed(sd, "chatd-state");
	sysd_clear(sd);
	/* A fresh start, on the same listener. */
	c = sysd_connect(sd);
	ck_assert_str_eq(c->name, "guest1");
	tc_close(a);
	tc_close(b);
	tc_close(c);
	sysd_stop_ok(sd);
	sysd_free(sd);
}
END_TEST

/*
 * systemd drops a stored socket that sees POLLHUP (a client gone during
 * the restart): that client leaves, and its room is told, as if its
 * connection had been lost.
 */
START_TEST(test_fdstore_client_lost)
{
	struct sysd		*sd;
	struct tc		*a, *b, *c;
	struct sockaddr_storage	 mine, peer;
	socklen_t		 len;
	size_t			 i;

	sd = sysd_serving("[chat]\nannounce = yes\n", &a, &b, "#ops");
	c = sysd_connect(sd);
	setup_client(c, "carol", "#ops");
	tc_expect_line(a, "*** carol joined");
	tc_expect_line(b, "*** carol joined");
	sysd_restart_stop(sd);
	/* carol's socket leaves the store. */
	len = sizeof mine;
	ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&mine, &len),
	    0);
	for (i = 0; i < sd->n; i++) {
		len = sizeof peer;
		if (strcmp(sd->names[i], "c") == 0 &&
		    getpeername(sd->fds[i], (struct sockaddr *)&peer,
		    &len) == 0 && memcmp(&peer, &mine, len) == 0)
			break;
	}
	ck_assert_uint_lt(i, sd->n);
	close(sd->fds[i]);
	memmove(&sd->fds[i], &sd->fds[i + 1], (sd->n - i - 1) *
	    sizeof *sd->fds);
	memmove(sd->names[i], sd->names[i + 1], (sd->n - i - 1) *
	    sizeof sd->names[0]);
	sd->n--;
	tc_expect_eof(c);
	tc_close(c);

	sysd_start(sd);
	sysd_wait_said(sd, "READY=1");
	sysd_clear(sd);
	tc_expect_line(a, RESTARTED);
	tc_expect_line(a, "*** carol left (connection lost in the restart)");
	tc_expect_line(b, RESTARTED);
	tc_expect_line(b, "*** carol left (connection lost in the restart)");
	still_chatting(a, b, "without carol");
	tc_close(a);
	tc_close(b);
	sysd_stop_ok(sd);
	sysd_free(sd);
}
END_TEST

START_TEST(test_fdstore_failed_start)
{
	struct sysd	*sd;
	struct tc	*a, *b;
	char		*path;
	int		 st;

	sd = sysd_serving(NULL, &a, &b, NULL);
	sysd_restart_stop(sd);
	/* The new process cannot start: its clients must not hang. */
	path = harness_write_file(sd->dir, "chatd.conf",
	    "[server]\nport = x\n");
	free(path);
	sysd_start(sd);
	st = harness_wait(&sd->pid, &sd->status, HARNESS_STOP_MS);
	ck_assert_msg(st == 78, "exit status %d, not 78; log:\n%s", st,
	    harness_read_file(sd->log));
	while (sysd_recv(sd, 0))
		;
	tc_expect_line(a, FAILED_LINE);
	tc_expect_eof(a);
	tc_expect_line(b, FAILED_LINE);
	tc_expect_eof(b);
	sysd_check_removed(sd, "c");
	sysd_check_removed(sd, "chatd-state");
	tc_close(a);
	tc_close(b);
	sysd_free(sd);
}
END_TEST

static Suite *
e2e_handover_suite(void)
{
	Suite	*s = suite_create("e2e_handover");
	TCase	*tc;

	tc = tcase_create("upgrade");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_upgrades_under_load);
	tcase_add_test(tc, test_upgrade_bad_config_serves_on);
	tcase_add_test(tc, test_upgrade_exec_fails_serves_on);
	tcase_add_test(tc, test_upgrade_signal_while_taking_over);
	tcase_add_test(tc, test_upgrade_successor_gone_serves_on);
	tcase_add_test(tc, test_upgrade_closes_control);
	tcase_add_test(tc, test_upgrade_tls_told_login_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("fdstore");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_fdstore_restart);
	tcase_add_loop_test(tc, test_fdstore_bad_state, 0,
	    (int)(sizeof spoils / sizeof spoils[0]));
	tcase_add_test(tc, test_fdstore_client_lost);
	tcase_add_test(tc, test_fdstore_failed_start);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	harness_trace_children();
	return harness_run_suite(e2e_handover_suite());
}
