/*
 * End-to-end tests of what chatd's operator surfaces must stand up to,
 * beyond what chatctl's suite drives command by command: bans by IPv6
 * prefix and per-prefix counting, a timed ban that runs out (in memory
 * and in the database), the Prometheus metrics (accepted by promtool,
 * counters that move exactly as the traffic they count), and hostile
 * input on the control socket, on the metrics port and in the state
 * database.
 *
 * chatd is started through chatd_start_conf() with [control] socket and
 * state in a directory of the test's own.  The control socket is spoken
 * to raw, as chatctl(8) speaks it (a request line; "| " data lines, then
 * "ok" or "error ..."): chatctl's own mapping of arguments to requests is
 * check_e2e_chatctl's business, and hostile bytes are what chatctl never
 * sends.  The metrics are fetched with a small HTTP/1.0 client over a
 * socket, and checked with promtool (Debian's prometheus package; PROMTOOL
 * overrides the one on PATH).  The database is read back with SQLite.
 *
 * Waits are on what chatd says: an answer, a log line, end of file.  A
 * timed ban's end is state chatd leaves without announcing it, so the
 * test asks chatd for its bans in a bounded poll (harness_poll()), which
 * waits on the program, not on the clock.  One check is about time
 * itself and asserts only a lower bound, to show that a close came from
 * a timeout rather than at once: the metrics port's 5 s timeout.
 *
 * Negatives are proved by order, as in the other suites: a client that is
 * not refused gets its welcome, one that is refused gets one line and end
 * of file, and nothing else.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "harness.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120	/* seconds; more under CHATD_WRAPPER */
#define WRAPPED_FACTOR	10
#define HTTP_MAX	(1024 * 1024)
#define EXEC_DENIED	125	/* the child could not become nobody */

/* chatd and the directory that holds its socket and database. */
struct ctx {
	struct chatd	*d;
	char		*dir;
	char		*sock;
	char		*db;
	char		*conf;		/* its config, "%d" for the port */
	int		 mport;		/* [metrics] port, or 0 */
};

/* Helpers ---------------------------------------------------------------- */

static const char *
wrapper(void)
{
	const char	*w;

	w = getenv("CHATD_WRAPPER");
	return w != NULL && *w != '\0' ? w : NULL;
}

static void *
xmalloc0(size_t size)
{
	void	*p;

	if ((p = calloc(1, size)) == NULL)
		ck_abort_msg("out of memory");
	return p;
}

/* Fails the test unless text holds frag. */
#define HAS(text, frag) \
	ck_assert_msg(strstr(text, frag) != NULL, "%s:%d: no '%s' in:\n" \
	    "%.2000s", __FILE__, __LINE__, frag, text)
/* Fails the test if text holds frag. */
#define HASNT(text, frag) \
	ck_assert_msg(strstr(text, frag) == NULL, "%s:%d: '%s' in:\n" \
	    "%.2000s", __FILE__, __LINE__, frag, text)
/* Fails the test unless text is exactly want. */
#define IS(text, want) \
	ck_assert_msg(strcmp(text, want) == 0, "%s:%d: expected:\n%.1000s\n" \
	    "got:\n%.1000s", __FILE__, __LINE__, want, text)
/* Fails the test unless some line of text matches the extended re. */
#define MATCH(text, re) \
	ck_assert_msg(harness_match(text, re), "%s:%d: no line matching " \
	    "'%s' in:\n%.2000s", __FILE__, __LINE__, re, text)

/*
 * Starts chatd with server (NULL: "bind = 127.0.0.1") in [server], then
 * [control] socket and state in a new directory of the test's, then more
 * (NULL: nothing); with metrics, [metrics] listen on a free port too.
 */
static void
ctx_start_ex(struct ctx *t, const char *server, const char *more,
    int metrics)
{
	char	*m = NULL;

	memset(t, 0, sizeof *t);
	t->dir = harness_mkdtemp("ctl");
	t->sock = harness_asprintf("%s/control.sock", t->dir);
	t->db = harness_asprintf("%s/chatd.db", t->dir);
	if (metrics) {
		t->mport = harness_free_port();
		m = harness_asprintf("[metrics]\nlisten = 127.0.0.1:%d\n",
		    t->mport);
	}
	t->conf = harness_asprintf("[server]\n%s\nport = %%d\n[control]\n"
	    "socket = %s\nstate = %s\n%s%s", server != NULL ? server :
	    "bind = 127.0.0.1", t->sock, t->db, m != NULL ? m : "",
	    more != NULL ? more : "");
	free(m);
	t->d = chatd_start_conf(t->conf);
}

static void
ctx_start(struct ctx *t, const char *more)
{
	ctx_start_ex(t, NULL, more, 0);
}

/* Stops chatd (it must exit 0) and removes the test's directory. */
static void
ctx_stop(struct ctx *t)
{
	if (t->d != NULL)
		chatd_stop_ok(t->d);
	harness_rmtree(t->dir);
	free(t->dir);
	free(t->sock);
	free(t->db);
	free(t->conf);
}

/* A connection to the control socket. */
static int
ctl_connect(struct ctx *t)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", t->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) ==
	    -1)
		ck_abort_msg("connect to %s: %s", t->sock, strerror(errno));
	return fd;
}

/* Writes len bytes of buf to fd, or fails the test. */
static void
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			ck_abort_msg("write: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

/* How many whole lines of text (CRLF) are status lines: "ok", "error ...". */
static int
status_lines(const char *text)
{
	const char	*p;
	int		 n = 0;

	for (p = text; *p != '\0'; ) {
		const char *eol = strstr(p, "\r\n");

		if (eol == NULL)
			break;
		if (strncmp(p, "ok\r\n", 4) == 0 || strncmp(p, "error ", 6) == 0)
			n++;
		p = eol + 2;
	}
	return n;
}

/*
 * Reads the answers to n requests from fd: everything up to the n-th
 * status line, which must end what was read (nothing follows an answer
 * unasked).  Returns it, NUL-terminated; free() it.
 */
static char *
ctl_read(int fd, int n)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = harness_now_ms() + W;
	size_t		 len = 0, size = 65536;
	char		*buf = xmalloc0(size);
	ssize_t		 r;

	while (status_lines(buf) < n) {
		if (poll(&pfd, 1, harness_left_ms(deadline)) != 1)
			ck_abort_msg("control: %d answers not in within %d ms; "
			    "got:\n%.2000s", n, W, buf);
		if (len + 4096 + 1 > size) {
			size *= 2;
			if ((buf = realloc(buf, size)) == NULL)
				ck_abort_msg("out of memory");
		}
		if ((r = read(fd, buf + len, 4096)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			ck_abort_msg("control: %s after %d of %d answers; got:\n"
			    "%.2000s", r == 0 ? "end of file" : strerror(errno),
			    status_lines(buf), n, buf);
		len += (size_t)r;
		buf[len] = '\0';
	}
	ck_assert_msg(len >= 2 && strcmp(buf + len - 2, "\r\n") == 0,
	    "control: more after the answer:\n%.2000s", buf);
	return buf;
}

/* One request on a connection of its own; its answer (free() it). */
static char *
ctl(struct ctx *t, const char *req)
{
	char	*line, *ans;
	int	 fd;

	fd = ctl_connect(t);
	line = harness_asprintf("%s\n", req);
	write_all(fd, line, strlen(line));
	ans = ctl_read(fd, 1);
	close(fd);
	free(line);
	return ans;
}

/* ctl(), failing the test unless the answer ends in "ok". */
static char *
ctl_ok(struct ctx *t, const char *req)
{
	char	*ans = ctl(t, req);
	size_t	 len = strlen(ans);

	ck_assert_msg(len >= 4 && strcmp(ans + len - 4, "ok\r\n") == 0 &&
	    strstr(ans, "\r\nerror ") == NULL && strncmp(ans, "error ", 6) !=
	    0, "control: '%s': not ok:\n%.2000s", req, ans);
	return ans;
}

/* The number after "\"key\":" in a JSON answer. */
static unsigned long long
json_number(const char *doc, const char *key)
{
	char		 frag[128];
	const char	*p;

	snprintf(frag, sizeof frag, "\"%s\":", key);
	if ((p = strstr(doc, frag)) == NULL || p[strlen(frag)] < '0' ||
	    p[strlen(frag)] > '9')
		ck_abort_msg("no number %s in:\n%.2000s", frag, doc);
	return strtoull(p + strlen(frag), NULL, 10);
}

/* The counter key of chatd's json stats. */
static unsigned long long
stat_of(struct ctx *t, const char *key)
{
	char			*ans = ctl_ok(t, "json stats");
	unsigned long long	 v = json_number(ans, key);

	free(ans);
	return v;
}

/* A client from family (AF_INET: 127.0.0.1, AF_INET6: ::1) named name. */
static struct tc *
join_af(struct ctx *t, int family, const char *name)
{
	struct tc	*c;
	char		 want[128];

	c = tc_connect_raw(t->d, family);
	tc_welcome(c);
	tc_send(c, "/nick %s\n", name);
	snprintf(want, sizeof want, "*** you are now known as %s", name);
	tc_expect(c, want, W);
	tc_rename(c, name);
	return c;
}

/*
 * A newcomer from family is refused: its one line is exactly want, then
 * end of file.
 */
static void
expect_refused(struct ctx *t, int family, const char *want)
{
	struct tc	*c;

	c = tc_connect_raw(t->d, family);
	tc_rename(c, family == AF_INET6 ? "newcomer [::1]" :
	    "newcomer 127.0.0.1");
	tc_expect_line(c, want);
	tc_expect_eof(c);
	tc_close(c);
}

/* A newcomer from family gets in: its first line is the welcome. */
static void
expect_admitted(struct ctx *t, int family)
{
	struct tc	*c;

	c = tc_connect_raw(t->d, family);
	tc_welcome(c);
	tc_close(c);
}

/*
 * o, in the room with watcher, is removed by a ban for reason: it is told,
 * then closed; watcher sees it leave, saying why.
 */
static void
expect_banned(struct tc *o, struct tc *watcher, const char *reason)
{
	char	want[256];

	snprintf(want, sizeof want, "*** you have been banned: %s", reason);
	tc_expect_line(o, want);
	tc_expect_eof(o);
	snprintf(want, sizeof want, "*** %s left (banned: %s)", o->name,
	    reason);
	tc_expect_line(watcher, want);
}

/* Bans ------------------------------------------------------------------- */

/*
 * A ban of the /64 that holds ::1 removes the ::1 client and refuses the
 * next, and leaves 127.0.0.1 alone; unban lets ::1 in again.
 */
START_TEST(test_ban_ipv6_prefix)
{
	struct ctx	 t;
	struct tc	*six, *four, *other;
	char		*ans;

	if (!harness_have_ipv6()) {
		harness_skip("test_ban_ipv6_prefix", "::1 cannot be bound "
		    "here");
		return;
	}
	ctx_start_ex(&t, "bind = 127.0.0.1 ::1", NULL, 0);
	six = join_af(&t, AF_INET6, "six");
	four = join_af(&t, AF_INET, "four");
	tc_expect_line(six, "*** guest2 joined");
	tc_expect_line(six, "*** guest2 is now known as four");

	/* Spelt with the host bits set: the /64 of ::1 all the same. */
	ans = ctl_ok(&t, "ban 0::1/64 1h v6 abuse");
	MATCH(ans, "^\\| banned ::/64 until [0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9:]{8}Z, 1 client removed\r$");
	free(ans);
	expect_banned(six, four, "v6 abuse");
	tc_close(six);
	chatd_wait_log(t.d, "ban ::/64: v6 abuse (1 client removed)");

	expect_refused(&t, AF_INET6, "*** you are banned from this server: "
	    "v6 abuse");
	chatd_wait_log_re(t.d, "client [0-9]+ \\[::1\\]:[0-9]+ refused: "
	    "banned \\(::/64\\)");
	/* 127.0.0.1 is not in it: let in, and four is still here. */
	other = join_af(&t, AF_INET, "other");
	tc_expect_line(four, "*** guest3 joined");
	tc_expect_line(four, "*** guest3 is now known as other");
	ck_assert_uint_eq(stat_of(&t, "refused_banned"), 1);
	ck_assert_uint_eq(stat_of(&t, "closed_kicked"), 1);

	ans = ctl_ok(&t, "unban ::/64");
	IS(ans, "| unbanned ::/64\r\nok\r\n");
	free(ans);
	six = join_af(&t, AF_INET6, "six");
	tc_close(six);
	tc_close(other);
	tc_close(four);
	ctx_stop(&t);
}
END_TEST

/*
 * max_clients_per_address counts IPv6 clients by ipv6_prefix: ::1 is the
 * only IPv6 address here, so the check is that its clients are counted
 * together (the third is refused), apart from 127.0.0.1's, and that one
 * leaving makes room, for a /64 and for a /128 alike.
 */
static const unsigned v6_prefixes[] = { 64, 128 };

START_TEST(test_per_address_ipv6)
{
	struct ctx	 t;
	struct tc	*s1, *s2, *f1, *s3;
	char		*more;

	if (!harness_have_ipv6()) {
		harness_skip("test_per_address_ipv6", "::1 cannot be bound "
		    "here");
		return;
	}
	more = harness_asprintf("[limits]\nmax_clients_per_address = 2\n"
	    "ipv6_prefix = %u\n[chat]\nannounce = no\n", v6_prefixes[_i]);
	ctx_start_ex(&t, "bind = 127.0.0.1 ::1", more, 0);
	free(more);
	s1 = join_af(&t, AF_INET6, "s1");
	s2 = join_af(&t, AF_INET6, "s2");
	expect_refused(&t, AF_INET6, "*** too many connections from your "
	    "address, try again later");
	chatd_wait_log_re(t.d, "client [0-9]+ \\[::1\\]:[0-9]+ refused: too "
	    "many connections from your address");
	ck_assert_uint_eq(stat_of(&t, "refused_per_address"), 1);

	/* 127.0.0.1 is counted apart. */
	f1 = join_af(&t, AF_INET, "f1");

	/* One leaves: room for one, and for one only. */
	tc_close(s1);
	chatd_wait_log(t.d, "disconnected: ");
	s3 = join_af(&t, AF_INET6, "s3");
	expect_refused(&t, AF_INET6, "*** too many connections from your "
	    "address, try again later");
	ck_assert_uint_eq(stat_of(&t, "refused_per_address"), 2);
	ck_assert_uint_eq(stat_of(&t, "clients"), 3);
	tc_close(s2);
	tc_close(s3);
	tc_close(f1);
	ctx_stop(&t);
}
END_TEST

/* The bans' patterns in the database at path, one a line, sorted. */
static char *
db_patterns(const char *path)
{
	sqlite3		*db;
	sqlite3_stmt	*q;
	char		*out = xmalloc0(4096);
	size_t		 len = 0;
	int		 rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		ck_abort_msg("%s: %s", path, sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "SELECT pattern FROM bans ORDER BY "
	    "pattern;", -1, &q, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", path, sqlite3_errmsg(db));
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		len += snprintf(out + len, 4096 - len, "%s\n",
		    (const char *)sqlite3_column_text(q, 0));
	ck_assert_msg(rc == SQLITE_DONE, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(q);
	sqlite3_close(db);
	return out;
}

/* For harness_poll(): chatd's bans no longer list 127.0.0.1. */
static int
ban_gone(void *arg)
{
	char	*ans = ctl_ok(arg, "bans");
	int	 gone = strstr(ans, "\n| 127.0.0.1 ") == NULL;

	free(ans);
	return gone;
}

/* For harness_poll(): chatd holds one ban, expired ones dropped. */
static int
one_ban_held(void *arg)
{
	char	*ans = ctl_ok(arg, "json status");
	int	 one = strstr(ans, "\"bans\":1}") != NULL;

	free(ans);
	return one;
}

/*
 * A timed ban: while it lasts the client it covers is removed and a
 * newcomer refused; once it has run out a newcomer gets in, and it is
 * gone from the database, while a ban for good stays there.
 */
START_TEST(test_timed_ban_expires)
{
	struct ctx	 t;
	struct tc	*early, *watcher;
	char		*ans, *rows;

	ctx_start(&t, NULL);
	early = join_af(&t, AF_INET, "early");
	ans = ctl_ok(&t, "ban 10.0.0.0/8 kept");
	free(ans);
	/* Three seconds: long enough to see it work, under valgrind too. */
	ans = ctl_ok(&t, "ban 127.0.0.1 3s cool off");
	MATCH(ans, "^\\| banned 127\\.0\\.0\\.1 until .*, 1 client removed\r$");
	free(ans);
	tc_expect_line(early, "*** you have been banned: cool off");
	tc_expect_eof(early);
	tc_close(early);
	expect_refused(&t, AF_INET, "*** you are banned from this server: "
	    "cool off");
	ans = ctl_ok(&t, "bans");
	MATCH(ans, "^\\| 127\\.0\\.0\\.1 +[0-9TZ:-]+ [0-9TZ:-]+ cool off\r$");
	free(ans);
	rows = db_patterns(t.db);
	IS(rows, "10.0.0.0/8\n127.0.0.1\n");
	free(rows);

	/* It runs out: chatd stops listing it, then drops it. */
	ck_assert_msg(harness_poll(ban_gone, &t, W), "the 3 s ban on "
	    "127.0.0.1 still listed after %d ms", W);
	watcher = join_af(&t, AF_INET, "watcher");
	ck_assert_msg(harness_poll(one_ban_held, &t, W), "the expired ban "
	    "not dropped within %d ms", W);
	ans = ctl_ok(&t, "bans");
	HASNT(ans, "127.0.0.1");
	MATCH(ans, "^\\| 10\\.0\\.0\\.0/8 ");
	free(ans);
	tc_close(watcher);

	/* Gone from the file, not just skipped when it is read. */
	chatd_stop_ok(t.d);
	rows = db_patterns(t.db);
	IS(rows, "10.0.0.0/8\n");
	free(rows);
	t.d = chatd_start_conf(t.conf);
	chatd_wait_log(t.d, "1 ban in force");
	expect_admitted(&t, AF_INET);
	ctx_stop(&t);
}
END_TEST

/* Metrics ---------------------------------------------------------------- */

/* An HTTP answer. */
struct http {
	int	 status;	/* from the status line, or 0 */
	char	*raw;		/* all of it */
	char	*body;		/* into raw, after the blank line */
};

static void
http_free(struct http *h)
{
	free(h->raw);
	memset(h, 0, sizeof *h);
}

/* A TCP connection to 127.0.0.1:port, non-blocking once connected. */
static int
tcp_connect(int port)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			fd;

	len = harness_loopback(AF_INET, port, &ss);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len) == -1)
		ck_abort_msg("connect to port %d: %s", port, strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/*
 * Reads fd until end of file (a reset after data counts as one: a server
 * that closes with a request unread resets); the text, NUL-terminated.
 */
static char *
read_to_eof(int fd)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = harness_now_ms() + W;
	size_t		 len = 0;
	char		*buf = xmalloc0(HTTP_MAX + 1);
	ssize_t		 n;

	for (;;) {
		if (poll(&pfd, 1, harness_left_ms(deadline)) != 1)
			ck_abort_msg("no end of file within %d ms; got:\n"
			    "%.2000s", W, buf);
		n = read(fd, buf + len, HTTP_MAX - len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1 && errno == ECONNRESET)
			break;
		if (n == -1)
			ck_abort_msg("read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		ck_assert_msg(len < HTTP_MAX, "answer over %d bytes", HTTP_MAX);
	}
	buf[len] = '\0';
	return buf;
}

/* Sends req (len bytes) to the metrics port and reads the answer. */
static void
http_raw(struct ctx *t, const void *req, size_t len, struct http *h)
{
	char	*p;
	int	 fd;

	fd = tcp_connect(t->mport);
	write_all(fd, req, len);
	h->raw = read_to_eof(fd);
	close(fd);
	h->status = 0;
	if (strncmp(h->raw, "HTTP/1.", 7) == 0 && strlen(h->raw) > 12)
		h->status = atoi(h->raw + 9);
	h->body = (p = strstr(h->raw, "\r\n\r\n")) != NULL ? p + 4 :
	    h->raw + strlen(h->raw);
}

/* GET path, as HTTP/1.0 (the server closes after the answer). */
static void
http_get(struct ctx *t, const char *path, struct http *h)
{
	char	*req;

	req = harness_asprintf("GET %s HTTP/1.0\r\n\r\n", path);
	http_raw(t, req, strlen(req), h);
	free(req);
}

/* GET /metrics, which must answer 200 with the exposition format. */
static void
scrape(struct ctx *t, struct http *h)
{
	http_get(t, "/metrics", h);
	ck_assert_msg(h->status == 200, "GET /metrics: not 200:\n%.2000s",
	    h->raw);
	HAS(h->raw, "\r\nContent-Type: text/plain; version=0.0.4; "
	    "charset=utf-8\r\n");
}

/*
 * The value of the sample name (with its labels, if any) in an
 * exposition; it must be there, once.
 */
static double
metric(const char *text, const char *name)
{
	char		*key;
	const char	*p, *q;
	double		 v;

	key = harness_asprintf("\n%s ", name);
	if ((p = strstr(text, key)) == NULL)
		ck_abort_msg("no sample %s in:\n%.3000s", name, text);
	q = strstr(p + 1, key);
	ck_assert_msg(q == NULL, "sample %s twice", name);
	v = strtod(p + strlen(key), NULL);
	free(key);
	return v;
}

/*
 * The loop-turn histogram is one: its buckets, in order of le, never
 * go down, and the last (+Inf) is _count.  Returns _count.
 */
static double
histogram_count(const char *text)
{
	static const char	*bucket = "\nchatd_loop_turn_seconds_bucket{le=\"";
	const char		*p;
	double			 prev = 0, v, count;
	int			 n = 0, inf = 0;

	count = metric(text, "chatd_loop_turn_seconds_count");
	for (p = text; (p = strstr(p, bucket)) != NULL; p++) {
		const char *end = strstr(p, "\"} ");

		ck_assert_msg(!inf, "a bucket after +Inf");
		ck_assert(end != NULL);
		inf = strncmp(p + strlen(bucket), "+Inf\"", 5) == 0;
		v = strtod(end + 3, NULL);
		ck_assert_msg(v >= prev, "bucket %d: %g after %g: not "
		    "cumulative", n, v, prev);
		prev = v;
		n++;
	}
	ck_assert_msg(inf && n == 13, "%d buckets, +Inf %s", n, inf ? "last" :
	    "missing");
	ck_assert_msg(prev == count, "+Inf bucket %g, _count %g", prev, count);
	return count;
}

/*
 * promtool check metrics on text: its exit status, and what it said in
 * out (outlen bytes, NUL-terminated).
 */
static int
promtool_check(const char *promtool, const char *text, char *out,
    size_t outlen)
{
	struct harness_exec	 x;
	char			*dir, *file;
	char *const		 tail[] = { "-c", "exec \"$0\" check metrics "
				    "< \"$1\"", (char *)promtool, NULL, NULL };
	char			*argv[5];
	int			 p[2], st = -1;
	size_t			 len = 0;
	ssize_t			 n;
	pid_t			 pid;

	dir = harness_mkdtemp("promtool");
	file = harness_write_file(dir, "metrics.txt", text);
	memcpy(argv, tail, sizeof argv);
	argv[3] = file;
	if (pipe2(p, O_CLOEXEC) == -1)
		ck_abort_msg("pipe: %s", strerror(errno));
	memset(&x, 0, sizeof x);
	x.bin = "/bin/sh";
	x.tail = argv;
	x.outfd = p[1];
	pid = harness_spawn(&x);
	close(p[1]);
	while ((n = read(p[0], out + len, outlen - 1 - len)) > 0 ||
	    (n == -1 && errno == EINTR))
		len += n > 0 ? (size_t)n : 0;
	out[len] = '\0';
	close(p[0]);
	ck_assert_msg(harness_wait(&pid, &st, W) != -1, "promtool did not "
	    "exit within %d ms", W);
	harness_rmtree(dir);
	free(file);
	free(dir);
	return st;
}

/* promtool, from Debian's prometheus, accepts what chatd exposes. */
START_TEST(test_metrics_promtool)
{
	struct ctx	 t;
	struct http	 h;
	struct tc	*a, *b;
	char		*promtool, out[8192];
	int		 st;

	if ((promtool = harness_program("promtool", "PROMTOOL")) == NULL) {
		harness_skip("test_metrics_promtool", "no promtool on PATH "
		    "(apt-get install prometheus), nor PROMTOOL");
		return;
	}
	ctx_start_ex(&t, NULL, NULL, 1);
	/* Something in every family: a client, a line, a refusal, a ban. */
	a = join_af(&t, AF_INET, "alice");
	b = join_af(&t, AF_INET, "bob");
	tc_send(a, "hello\n");
	tc_expect_chat(b, "<alice> hello");
	free(ctl_ok(&t, "ban 192.0.2.0/24 test"));
	scrape(&t, &h);
	HAS(h.body, "# TYPE chatd_loop_turn_seconds histogram\n");
	st = promtool_check(promtool, h.body, out, sizeof out);
	ck_assert_msg(st == 0, "promtool check metrics: exit %d:\n%s\n"
	    "on:\n%.3000s", st, out, h.body);
	IS(out, "");
	/* And it would say so if it did not: the check can fail. */
	st = promtool_check(promtool, "chatd_bad_total{ 1\n", out,
	    sizeof out);
	ck_assert_msg(st != 0, "promtool accepted garbage: %s", out);
	http_free(&h);
	free(promtool);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

#define FANOUT_LINES	100

/*
 * The counters move as the traffic they count, exactly: 100 lines from
 * one client to three others are 100 received, 100 relayed and 300
 * deliveries; a client refused by max_clients, one that quits, an
 * overlong line each move their own counter by one.  The loop-turn
 * histogram counts more turns and stays cumulative.
 */
START_TEST(test_metrics_counters)
{
	struct ctx	 t;
	struct http	 m0, m1, m2;
	struct tc	*c[4];
	double		 turns0, turns1;
	char		 want[128], line[256];
	int		 i, j;

	ctx_start_ex(&t, NULL, "[limits]\nmax_clients = 4\nrate_lines = 0\n"
	    "max_line = 100\n[chat]\nhistory = 0\n", 1);
	for (i = 0; i < 4; i++)
		c[i] = tc_connect(t.d);
	/* Every join notice delivered: what follows is the lines alone. */
	snprintf(want, sizeof want, "*** %s joined", c[3]->name);
	for (i = 0; i < 3; i++)
		tc_expect(c[i], want, W);
	scrape(&t, &m0);
	ck_assert_int_eq(metric(m0.body, "chatd_clients"), 4);
	ck_assert_int_eq(metric(m0.body, "chatd_clients_peak"), 4);
	turns0 = histogram_count(m0.body);

	for (i = 0; i < FANOUT_LINES; i++)
		tc_send(c[0], "line %03d\n", i);
	for (j = 1; j < 4; j++) {
		for (i = 0; i < FANOUT_LINES; i++) {
			snprintf(line, sizeof line, "<%s> line %03d",
			    c[0]->name, i);
			tc_expect_line(c[j], line);
		}
	}
	scrape(&t, &m1);
	ck_assert_int_eq(metric(m1.body, "chatd_lines_received_total") -
	    metric(m0.body, "chatd_lines_received_total"), FANOUT_LINES);
	ck_assert_int_eq(metric(m1.body, "chatd_lines_relayed_total") -
	    metric(m0.body, "chatd_lines_relayed_total"), FANOUT_LINES);
	ck_assert_int_eq(metric(m1.body, "chatd_deliveries_total") -
	    metric(m0.body, "chatd_deliveries_total"), 3 * FANOUT_LINES);
	ck_assert_int_eq(metric(m1.body, "chatd_received_bytes_total") -
	    metric(m0.body, "chatd_received_bytes_total"), FANOUT_LINES *
	    strlen("line 000\n"));
	ck_assert_int_eq(metric(m1.body, "chatd_clients"), 4);
	turns1 = histogram_count(m1.body);
	ck_assert_msg(turns1 > turns0, "loop turns %g, then %g after %d "
	    "lines", turns0, turns1, FANOUT_LINES);
	/*
	 * Not asserted: that _sum grows too.  chatd times a turn with
	 * libevent's cached clock, CLOCK_MONOTONIC_COARSE (4 ms a tick
	 * here), so nearly every turn reads 0 s and _sum stays put
	 * (reported).
	 */

	/* Full: the fifth is refused, and counted so. */
	{
		struct tc *x = tc_connect_raw(t.d, AF_INET);

		tc_expect_line(x, "*** server full, try again later");
		tc_expect_eof(x);
		tc_close(x);
	}
	/* One quits; one sends a line over max_line. */
	tc_send(c[3], "/quit\n");
	tc_expect_line(c[3], "*** bye");
	tc_expect_eof(c[3]);
	tc_close(c[3]);
	chatd_wait_log(t.d, "disconnected: quit");
	memset(line, 'x', 150);
	line[150] = '\0';
	tc_send(c[1], "%s\n", line);
	tc_expect(c[1], "*** line too long", W);
	IS(c[1]->line, "*** line too long (over 100 bytes), discarded");
	scrape(&t, &m2);
	ck_assert_int_eq(metric(m2.body, "chatd_connections_refused_total"
	    "{reason=\"max_clients\"}") - metric(m1.body,
	    "chatd_connections_refused_total{reason=\"max_clients\"}"), 1);
	ck_assert_int_eq(metric(m2.body, "chatd_connections_refused_total"
	    "{reason=\"per_address\"}"), 0);
	ck_assert_int_eq(metric(m2.body, "chatd_clients_closed_total"
	    "{reason=\"quit\"}") - metric(m1.body,
	    "chatd_clients_closed_total{reason=\"quit\"}"), 1);
	ck_assert_int_eq(metric(m2.body, "chatd_clients_closed_total"
	    "{reason=\"reset\"}"), 0);
	ck_assert_int_eq(metric(m2.body, "chatd_lines_overlong_total") -
	    metric(m1.body, "chatd_lines_overlong_total"), 1);
	ck_assert_int_eq(metric(m2.body, "chatd_clients"), 3);
	ck_assert_int_eq(metric(m2.body, "chatd_clients_peak"), 4);
	/* The fifth was accepted, then refused: accepted counts it. */
	ck_assert_int_eq(metric(m2.body, "chatd_connections_accepted_total"),
	    5);
	histogram_count(m2.body);

	http_free(&m0);
	http_free(&m1);
	http_free(&m2);
	for (i = 0; i < 3; i++)
		tc_close(c[i]);
	ctx_stop(&t);
}
END_TEST

/* GET /metrics and nothing else. */
START_TEST(test_metrics_paths)
{
	static const char *const notfound[] = {
		"/", "/metricsx", "/metrics/", "/Metrics", "/metric",
	};
	struct ctx	 t;
	struct http	 h;
	const char	*post = "POST /metrics HTTP/1.0\r\nContent-Length: 3"
			    "\r\n\r\nabc";
	size_t		 i;

	ctx_start_ex(&t, NULL, NULL, 1);
	for (i = 0; i < sizeof notfound / sizeof notfound[0]; i++) {
		http_get(&t, notfound[i], &h);
		ck_assert_msg(h.status == 404, "GET %s: not 404:\n%.2000s",
		    notfound[i], h.raw);
		HASNT(h.body, "chatd_");
		http_free(&h);
	}
	/* evhttp refuses other methods itself: 501, not 405. */
	http_raw(&t, post, strlen(post), &h);
	ck_assert_msg(h.status == 501, "POST /metrics: not 501:\n%.2000s",
	    h.raw);
	HASNT(h.body, "chatd_");
	http_free(&h);
	scrape(&t, &h);
	http_free(&h);
	ctx_stop(&t);
}
END_TEST

/* Hostile input: the control socket -------------------------------------- */

/*
 * Garbage, binary junk, a request too long, all on one connection: each
 * gets its error, and the connection goes on working.
 */
START_TEST(test_control_garbage)
{
	static const char	 junk[] = "\x01\x02garbage\xff\xfe here\n"
				    "\0\0\0\n"
				    "\x1b[2J\x1b]0;title\x07\n"
				    "json\n"
				    "who is there\n"
				    "stat\0us\n";
	struct ctx		 t;
	struct tc		*a, *b;
	char			*ans, *big;
	int			 fd;

	ctx_start(&t, NULL);
	a = join_af(&t, AF_INET, "alice");
	b = join_af(&t, AF_INET, "bob");
	fd = ctl_connect(&t);
	write_all(fd, junk, sizeof junk - 1);
	ans = ctl_read(fd, 6);
	/*
	 * A request is sanitised like any line (ctlreq.c): control bytes
	 * and escape sequences go, so the NULs leave an empty request and
	 * "stat\0us" is status.
	 */
	ck_assert_msg(strncmp(ans, "error unknown command\r\n"
	    "error empty request\r\n"
	    "error empty request\r\n"
	    "error json: no command\r\n"
	    "error this command takes no arguments\r\n"
	    "| chatd ", strlen("error unknown command\r\n"
	    "error empty request\r\n"
	    "error empty request\r\n"
	    "error json: no command\r\n"
	    "error this command takes no arguments\r\n"
	    "| chatd ")) == 0, "answers:\n%.2000s", ans);
	HAS(ans, "\r\n| clients 2, peak 2\r\n");
	free(ans);

	/* 5000 bytes at once: refused, and the next request is served. */
	big = xmalloc0(5000 + 16);
	memset(big, 'a', 5000);
	memcpy(big + 5000, "\nstatus\n", 8);
	write_all(fd, big, 5000 + 8);
	ans = ctl_read(fd, 2);
	ck_assert_msg(strncmp(ans, "error request longer than 4096 bytes\r\n"
	    "| chatd ", 46) == 0, "answers:\n%.2000s", ans);
	free(ans);

	/* And in pieces, the newline long after the limit. */
	memset(big, 'b', 5000);
	write_all(fd, big, 2000);
	write_all(fd, big, 2000);
	write_all(fd, big, 2000);
	tc_send(a, "still here\n");
	tc_expect_chat(b, "<alice> still here");
	write_all(fd, "tail\nbans\n", 10);
	ans = ctl_read(fd, 2);
	ck_assert_msg(strncmp(ans, "error request longer than 4096 bytes\r\n"
	    "| PATTERN ", 48) == 0, "answers:\n%.2000s", ans);
	free(ans);
	free(big);
	close(fd);

	/* Nothing of it acted on: nobody kicked or banned. */
	ans = ctl_ok(&t, "json status");
	HAS(ans, "\"clients\":2,");
	HAS(ans, "\"bans\":0}");
	free(ans);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

#define PIPELINED	200

/* Many requests in one write: each answered, in order. */
START_TEST(test_control_pipelined)
{
	struct ctx	 t;
	struct tc	*a;
	char		*req, *ans, *p, want[128];
	size_t		 len = 0;
	int		 fd, i;

	ctx_start(&t, NULL);
	a = join_af(&t, AF_INET, "alice");
	req = xmalloc0(PIPELINED * 32);
	for (i = 0; i < PIPELINED; i++)
		len += i % 2 == 0 ?
		    (size_t)sprintf(req + len, "json status\n") :
		    (size_t)sprintf(req + len, "kick nobody%d\n", i);
	fd = ctl_connect(&t);
	write_all(fd, req, len);
	ans = ctl_read(fd, PIPELINED);
	p = ans;
	for (i = 0; i < PIPELINED; i++) {
		if (i % 2 == 0) {
			ck_assert_msg(strncmp(p, "| {\"version\":", 13) == 0,
			    "answer %d:\n%.300s", i, p);
			p = strstr(p, "\r\n") + 2;
			ck_assert_msg(strncmp(p, "ok\r\n", 4) == 0,
			    "answer %d:\n%.300s", i, p);
			p += 4;
		} else {
			snprintf(want, sizeof want, "error no such user: "
			    "nobody%d\r\n", i);
			ck_assert_msg(strncmp(p, want, strlen(want)) == 0,
			    "answer %d: expected '%s', got:\n%.300s", i, want,
			    p);
			p += strlen(want);
		}
	}
	IS(p, "");
	free(ans);
	close(fd);
	free(req);
	tc_send(a, "/who\n");
	tc_expect_line(a, "*** 1 online:");
	tc_close(a);
	ctx_stop(&t);
}
END_TEST

/* Reads exactly n bytes from fd into buf, NUL-terminated, or fails. */
static void
read_exactly(int fd, char *buf, size_t n)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = harness_now_ms() + W;
	size_t		 len = 0;
	ssize_t		 r;

	while (len < n) {
		if (poll(&pfd, 1, harness_left_ms(deadline)) != 1)
			ck_abort_msg("%zu of %zu bytes within %d ms", len, n, W);
		if ((r = read(fd, buf + len, n - len)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			ck_abort_msg("%s after %zu of %zu bytes", r == 0 ?
			    "end of file" : strerror(errno), len, n);
		len += (size_t)r;
	}
	buf[len] = '\0';
}

/*
 * Raises the descriptor limit for n clients here and in chatd (which
 * inherits it); returns how many clients it allows, at most n.
 */
static int
room_for(int n)
{
	struct rlimit	rl;
	rlim_t		want = (rlim_t)n + 200;

	ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		n = (int)rl.rlim_cur - 200;
	ck_assert_msg(n >= 400, "only %ld descriptors", (long)rl.rlim_cur);
	return n;
}

/* n plain connections to chatd, which reads none of them. */
static int *
connect_many(struct ctx *t, int n)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			*fds = xmalloc0((size_t)n * sizeof *fds), i;

	len = harness_loopback(AF_INET, t->d->port, &ss);
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] == -1 || connect(fds[i], (struct sockaddr *)&ss,
		    len) == -1)
			ck_abort_msg("client %d: %s", i, strerror(errno));
	}
	return fds;
}

static void
close_many(int *fds, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

/* For harness_poll(): chatd counts want clients. */
struct count_arg {
	struct ctx	*t;
	unsigned	 want;
};

static int
clients_are(void *arg)
{
	struct count_arg	*ca = arg;

	return stat_of(ca->t, "clients") == ca->want;
}

#define MANY		2000	/* clients for a long "who" */
#define MANY_WRAPPED	1000

/*
 * A control client that asks "who" of a large room and never reads: chatd
 * keeps serving everyone else, chat and control alike, and closes it once
 * it has left output unread for output_soft_seconds, as [control]
 * output_limit in chatd.conf(5) says.
 */
START_TEST(test_control_stuck_reader)
{
	struct ctx		 t;
	struct count_arg	 ca;
	struct tc		*a, *b, *c;
	char			*ans, *want, head[6];
	int			*fds, n, stuck;

	n = room_for(wrapper() != NULL ? MANY_WRAPPED : MANY);
	ctx_start(&t, "[limits]\nmax_clients_per_address = 0\n"
	    "output_soft_seconds = 1\nrate_lines = 0\n"
	    "[chat]\nannounce = no\nhistory = 0\n");
	a = join_af(&t, AF_INET, "alice");
	b = join_af(&t, AF_INET, "bob");
	fds = connect_many(&t, n);
	ca.t = &t;
	ca.want = (unsigned)n + 2;
	ck_assert_msg(harness_poll(clients_are, &ca, W * 4), "chatd did not "
	    "count %u clients", ca.want);

	/*
	 * It reads the start of the answer, then nothing more.  Three
	 * answers, so that some stay queued in chatd beyond what the
	 * socket's buffer holds even with the fewer clients of a run
	 * under valgrind.
	 */
	stuck = ctl_connect(&t);
	write_all(stuck, "who\nwho\nwho\n", 12);
	read_exactly(stuck, head, 5);
	IS(head, "| ID ");

	/* Everyone else is served meanwhile. */
	tc_send(a, "not held up\n");
	tc_expect_chat(b, "<alice> not held up");
	ans = ctl_ok(&t, "json status");
	want = harness_asprintf("\"clients\":%d,", n + 2);
	HAS(ans, want);
	free(want);
	free(ans);
	c = tc_connect(t.d);
	ck_assert_int_eq(c->others, n + 2);
	tc_close(c);
	tc_send(b, "and back\n");
	tc_expect_chat(a, "<bob> and back");
	chatd_wait_log_re(t.d, "output limit: over [0-9]+ bytes for 1 "
	    "second$");

	close(stuck);
	close_many(fds, n);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/*
 * A control connection that says nothing for [control] idle_timeout is
 * closed, with nothing said to it; one that keeps asking is not, and
 * chatd serves the next one.
 */
START_TEST(test_control_idle)
{
	struct ctx	 t;
	char		*ans, *rest;
	int		 idle, busy, i;

	ctx_start(&t, "[server]\nlog_level = debug\n"
	    "[control]\nidle_timeout = 1\n");
	idle = ctl_connect(&t);
	busy = ctl_connect(&t);
	/* Asking every half second (a client's pace, not a wait on chatd). */
	for (i = 0; i < 6; i++) {
		write_all(busy, "status\n", 7);
		ans = ctl_read(busy, 1);
		HAS(ans, "ok\r\n");
		free(ans);
		if (i < 5)
			poll(NULL, 0, 500);
	}
	rest = read_to_eof(idle);
	IS(rest, "");
	free(rest);
	chatd_wait_log(t.d, "silent for 1 second, closed");
	ck_assert_int_eq(chatd_log_count(t.d, "silent for 1 second"), 1);
	close(idle);
	close(busy);
	ans = ctl_ok(&t, "status");
	free(ans);
	ctx_stop(&t);
}
END_TEST

/*
 * A "who" longer than [control] output_limit: the control connection is
 * closed at once (chatd logs "output limit"), with nothing of the answer,
 * and chatd goes on.
 */
START_TEST(test_control_output_limit)
{
	struct ctx		 t;
	struct count_arg	 ca;
	struct tc		*a, *b;
	char			*got;
	int			*fds, n, fd;

	/* 600 lines of "who" are over 64K. */
	n = room_for(600);
	ctx_start(&t, "[limits]\nmax_clients_per_address = 0\n"
	    "[chat]\nannounce = no\nhistory = 0\n"
	    "[control]\noutput_limit = 64K\n");
	a = join_af(&t, AF_INET, "alice");
	b = join_af(&t, AF_INET, "bob");
	fds = connect_many(&t, n);
	ca.t = &t;
	ca.want = (unsigned)n + 2;
	ck_assert_msg(harness_poll(clients_are, &ca, W * 4), "chatd did not "
	    "count %u clients", ca.want);

	fd = ctl_connect(&t);
	write_all(fd, "who\n", 4);
	chatd_wait_log_re(t.d, "client [0-9]+ \\[local\\]: output limit: "
	    "[0-9]+ bytes queued, hard limit 65536");
	got = read_to_eof(fd);
	IS(got, "");
	free(got);
	close(fd);

	tc_send(a, "after the limit\n");
	tc_expect_chat(b, "<alice> after the limit");
	free(ctl_ok(&t, "status"));
	close_many(fds, n);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/* Hostile input: the metrics port ---------------------------------------- */

/*
 * Connections in a burst on the metrics port.  chatd pauses after 100 in
 * one second of its clock; 150 arriving at once can still fall on both
 * sides of a second's boundary, under valgrind above all, where accepting
 * them takes a while.  With 300, the kernel's listen queue (128) hands
 * them over in batches of over a hundred each, so that one batch falls
 * within a second.
 */
#define BURST		300

/*
 * Garbage, binary junk and oversized headers get 400; a client that sends
 * half a request is closed after the 5 s timeout; a burst of connections
 * pauses the listener, which comes back; chatd serves its chat all along.
 */
START_TEST(test_metrics_hostile)
{
	static const char	 binary[] = "\x00\x01\x02\xff\xfe\r\n\r\n";
	struct ctx		 t;
	struct http		 h;
	struct tc		*a, *b;
	char			*req, *got;
	int			 slow, fds[BURST], i;
	int64_t			 t0, elapsed;
	size_t			 len;

	ctx_start_ex(&t, NULL, NULL, 1);
	a = join_af(&t, AF_INET, "alice");
	b = join_af(&t, AF_INET, "bob");

	/* Half a request, and then nothing; its timeout runs meanwhile. */
	t0 = harness_now_ms();
	slow = tcp_connect(t.mport);
	write_all(slow, "GET /metr", 9);

	http_raw(&t, "garbage\r\n\r\n", 11, &h);
	ck_assert_msg(h.status == 400, "garbage: not 400:\n%.2000s", h.raw);
	http_free(&h);
	http_raw(&t, binary, sizeof binary - 1, &h);
	ck_assert_msg(h.status == 400, "binary: not 400:\n%.2000s", h.raw);
	http_free(&h);
	len = 9000;
	req = xmalloc0(len + 64);
	strcpy(req, "GET /metrics HTTP/1.0\r\nX-Pad: ");
	memset(req + strlen(req), 'a', len);
	strcat(req, "\r\n\r\n");
	http_raw(&t, req, strlen(req), &h);
	ck_assert_msg(h.status == 400, "9000-byte header: not 400:\n%.2000s",
	    h.raw);
	HASNT(h.body, "chatd_");
	http_free(&h);
	free(req);

	got = read_to_eof(slow);
	elapsed = harness_now_ms() - t0;
	IS(got, "");
	free(got);
	close(slow);
	ck_assert_msg(elapsed >= 4000, "half a request closed after %lld ms, "
	    "not after the 5 s timeout", (long long)elapsed);

	/* A burst: the listener pauses for a second, then serves again. */
	for (i = 0; i < BURST; i++) {
		struct sockaddr_storage	ss;
		socklen_t		sl;

		sl = harness_loopback(AF_INET, t.mport, &ss);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		ck_assert(fds[i] != -1);
		if (connect(fds[i], (struct sockaddr *)&ss, sl) == -1 &&
		    errno != EINPROGRESS)
			ck_abort_msg("connection %d: %s", i, strerror(errno));
	}
	chatd_wait_log(t.d, "metrics: 100 connections in a second; pausing "
	    "accepts for a second");
	tc_send(a, "during the burst\n");
	tc_expect_chat(b, "<alice> during the burst");
	for (i = 0; i < BURST; i++)
		close(fds[i]);
	scrape(&t, &h);
	http_free(&h);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/* Hostile input: the state database -------------------------------------- */

/*
 * Runs chatd on tmpl (a config, "%d" for the port), written to
 * dir/chatd.conf, expecting it to fail at start-up with status 1; returns
 * its output, unstamped (free() it), and the port in *port.  A run that
 * found its port taken meanwhile is retried on another.
 */
static char *
run_failing(const char *dir, const char *tmpl, int *port)
{
	char	 out[8192], *body, *path;
	char	*argv[] = { "-c", NULL, NULL };
	int	 attempt, st;

	for (attempt = 0; attempt < 5; attempt++) {
		*port = harness_free_port();
		body = harness_subst_port(tmpl, *port);
		path = harness_write_file(dir, "chatd.conf", body);
		argv[1] = path;
		st = chatd_run(argv, out, sizeof out);
		free(body);
		free(path);
		if (strstr(out, "cannot listen") != NULL)
			continue;
		ck_assert_msg(st == 1, "chatd: exit %d, not 1; output:\n%s",
		    st, out);
		return harness_unstamp(out);
	}
	ck_abort_msg("no free port for chatd in 5 attempts");
	return NULL;
}

/*
 * A state file that is not a database, and a database with a page
 * overwritten: chatd will not start, and says why, naming the file.
 */
START_TEST(test_state_corrupt)
{
	struct ctx	 t;
	char		*dir, *db, *tmpl, *got, *want, *path;
	int		 fd, port;

	/* Garbage where the database should be. */
	dir = harness_mkdtemp("corrupt");
	db = harness_write_file(dir, "chatd.db", "garbage in the state file\n"
	    "\x01\x02\x03 not SQLite\n");
	tmpl = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %%d\n"
	    "[control]\nsocket =\nstate = %s\n", db);
	got = run_failing(dir, tmpl, &port);
	path = harness_asprintf("%s/chatd.conf", dir);
	want = harness_asprintf("info: configuration read from %s\n"
	    "notice: listening on 127.0.0.1:%d\n"
	    "error: state: %s: file is not a database\n"
	    "error: not starting\n", path, port, db);
	IS(got, want);
	free(want);
	free(got);
	free(tmpl);

	/* A database chatd wrote, its second page (the bans) damaged. */
	ctx_start(&t, NULL);
	free(ctl_ok(&t, "ban 192.0.2.1 kept"));
	chatd_stop_ok(t.d);
	t.d = NULL;
	fd = open(t.db, O_WRONLY);
	ck_assert_msg(fd != -1, "%s: %s", t.db, strerror(errno));
	ck_assert_int_eq(pwrite(fd, "garbage in the state file, garbage in "
	    "the state file", 52, 4096), 52);
	close(fd);
	tmpl = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %%d\n"
	    "[control]\nsocket =\nstate = %s\n", t.db);
	got = run_failing(dir, tmpl, &port);
	want = harness_asprintf("info: configuration read from %s\n"
	    "notice: listening on 127.0.0.1:%d\n"
	    "error: state: %s: the database is corrupt (", path, port, t.db);
	/*
	 * Only the start, and the end: SQLite's quick_check report comes
	 * through as it is, over more than one line (reported).
	 */
	ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "expected the "
	    "output to start:\n%s\ngot:\n%s", want, got);
	ck_assert_msg(strlen(got) > 20 && strcmp(got + strlen(got) - 20,
	    "error: not starting\n") == 0, "output:\n%s", got);
	HAS(got, "Page 2");
	free(want);
	free(got);
	free(tmpl);
	free(path);
	ctx_stop(&t);
	harness_rmtree(dir);
	free(db);
	free(dir);
}
END_TEST

static uid_t	nobody_uid;
static gid_t	nobody_gid;

/* In the child before exec: become nobody, with no other groups. */
static void
become_nobody(void)
{
	if (setgroups(0, NULL) == -1 || setgid(nobody_gid) == -1 ||
	    setuid(nobody_uid) == -1)
		_exit(EXEC_DENIED);
	if (access(getenv("CHATD_BIN"), X_OK) == -1)
		_exit(EXEC_DENIED);
}

/*
 * A database chatd may not write (0444, and chatd not root: as root, the
 * mode would not stop it): a start-up error naming it.  chatd drops its
 * privileges after it has opened the database, so [server] user cannot
 * show this; the test starts chatd as nobody instead.
 */
START_TEST(test_state_readonly)
{
	struct harness_exec	 x;
	struct passwd		*pw;
	struct ctx		 t;
	char			*conf, *path, *want, *got, out[8192];
	char			*argv[] = { "-c", NULL, NULL };
	int			 p[2], st = -1, port;
	size_t			 len = 0;
	ssize_t			 n;
	pid_t			 pid;

	if (geteuid() != 0) {
		harness_skip("test_state_readonly", "not root: cannot run "
		    "chatd as nobody");
		return;
	}
	if ((pw = getpwnam("nobody")) == NULL) {
		harness_skip("test_state_readonly", "no user nobody");
		return;
	}
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;

	/* A sound database, with a ban in it. */
	ctx_start(&t, NULL);
	free(ctl_ok(&t, "ban 192.0.2.1 kept"));
	chatd_stop_ok(t.d);
	t.d = NULL;
	ck_assert_int_eq(chmod(t.db, 0444), 0);
	port = harness_free_port();
	conf = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[control]\nsocket =\nstate = %s\n", port, t.db);
	path = harness_write_file(t.dir, "nobody.conf", conf);
	ck_assert_int_eq(chmod(path, 0644), 0);
	if (chmod(harness_root(), 0711) == -1 || chmod(t.dir, 0711) == -1)
		ck_abort_msg("chmod: %s", strerror(errno));

	if (pipe2(p, O_CLOEXEC) == -1)
		ck_abort_msg("pipe: %s", strerror(errno));
	argv[1] = path;
	memset(&x, 0, sizeof x);
	x.tail = argv;
	x.outfd = p[1];
	x.setup = become_nobody;
	pid = harness_spawn(&x);
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0 ||
	    (n == -1 && errno == EINTR))
		len += n > 0 ? (size_t)n : 0;
	out[len] = '\0';
	close(p[0]);
	ck_assert_msg(harness_wait(&pid, &st, W) != -1, "chatd as nobody did "
	    "not exit within %d ms", W);
	if (st == EXEC_DENIED) {
		harness_skip("test_state_readonly", "nobody cannot run %s",
		    getenv("CHATD_BIN"));
		goto done;
	}
	got = harness_unstamp(out);
	want = harness_asprintf("info: configuration read from %s\n"
	    "notice: listening on 127.0.0.1:%d\n"
	    "error: state: %s: attempt to write a readonly database\n"
	    "error: not starting\n", path, port, t.db);
	ck_assert_msg(st == 1 && strcmp(got, want) == 0, "chatd as nobody on "
	    "a 0444 database: exit %d, output:\n%s\nexpected exit 1 and:\n%s",
	    st, got, want);
	free(want);
	free(got);
done:
	free(conf);
	free(path);
	ctx_stop(&t);
}
END_TEST

static Suite *
e2e_control_suite(void)
{
	Suite	*s;
	TCase	*tc;
	double	 f;

	f = wrapper() != NULL ? WRAPPED_FACTOR : 1;
	s = suite_create("e2e_control");

	tc = tcase_create("bans");
	tcase_set_timeout(tc, TEST_TIMEOUT * f);
	tcase_add_test(tc, test_ban_ipv6_prefix);
	tcase_add_loop_test(tc, test_per_address_ipv6, 0,
	    sizeof v6_prefixes / sizeof v6_prefixes[0]);
	tcase_add_test(tc, test_timed_ban_expires);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_set_timeout(tc, TEST_TIMEOUT * f);
	tcase_add_test(tc, test_metrics_promtool);
	tcase_add_test(tc, test_metrics_counters);
	tcase_add_test(tc, test_metrics_paths);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, TEST_TIMEOUT * f);
	tcase_add_test(tc, test_control_garbage);
	tcase_add_test(tc, test_control_pipelined);
	tcase_add_test(tc, test_control_stuck_reader);
	tcase_add_test(tc, test_control_idle);
	tcase_add_test(tc, test_control_output_limit);
	tcase_add_test(tc, test_metrics_hostile);
	tcase_add_test(tc, test_state_corrupt);
	tcase_add_test(tc, test_state_readonly);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_control_suite());
}
