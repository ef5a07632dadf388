/*
 * End-to-end tests of chatd as a system service: readiness, reload,
 * stopping and watchdog notifications; reloads that change the port and
 * the limits, and reloads that fail; socket activation through
 * systemd-socket-activate, and what chatd refuses to serve when passed it
 * (a file, a datagram socket, one not listening, a bad LISTEN_FDS);
 * dropping root privileges; log formats (journal priorities, timestamps,
 * -d, log_level); the long command line options.
 *
 * Most tests start chatd through chatd_start().  A few need what it cannot
 * give: a chosen environment at start (JOURNAL_STREAM naming the daemon's
 * own stderr), extra arguments (-d, --config), another program in front of
 * the daemon (systemd-socket-activate), or a NOTIFY_SOCKET that a daemon
 * which dropped to nobody can still reach (the harness's directories are
 * mode 0700).  Those run the daemon through the svc_* helpers below, over
 * harness_spawn(): the same CHATD_BIN and CHATD_WRAPPER, stdout and stderr
 * to a log file in a private directory under the harness root, and an
 * abstract-namespace NOTIFY_SOCKET (no file permissions apply to it) read
 * by the test itself.
 *
 * As in the core suite, negatives are proved by order, never by silence:
 * a log line that must not appear is checked after a later line that the
 * daemon writes after it would have (READY=1 comes after every start-up
 * line; a reload's READY=1 after every line of the reload).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120
#define OUTLEN		8192
#define SLICE_MS	20
#define SVC_ATTEMPTS	5

/* Helpers ---------------------------------------------------------------- */

static unsigned long long
now_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000;
}

/* As tc_expect_chat(), for lines too long to quote in a failure message. */
static void
expect_long_chat(struct tc *c, const char *want)
{
	char	*l;

	l = tc_chat(c, W);
	ck_assert_msg(l != NULL && strcmp(l, want) == 0,
	    "%s: expected a chat line of %zu bytes starting '%.40s', got %s "
	    "(%zu bytes) '%.40s'", c->name, strlen(want), want,
	    l != NULL ? "a line" : c->eof ? "end of file" : "nothing",
	    l != NULL ? strlen(l) : 0, l != NULL ? l : "");
}

/* a says text; b gets it as chat. */
static void
relay(struct tc *a, struct tc *b, const char *text)
{
	char	want[512];

	tc_send(a, "%s\n", text);
	snprintf(want, sizeof want, "<%s> %s", a->name, text);
	tc_expect_chat(b, want);
}

/* A client on port p, for daemons the harness did not start. */
static struct tc *
connect_port(int port)
{
	struct chatd	d;

	memset(&d, 0, sizeof d);
	d.port = port;
	return tc_connect(&d);
}

/*
 * 0 if a blocking connect to 127.0.0.1:port (AF_INET) or [::1]:port
 * (AF_INET6) succeeds, else its errno.
 */
static int
connect_errno_af(int family, int port)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			fd, err = 0;

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	len = harness_loopback(family, port, &ss);
	if (connect(fd, (struct sockaddr *)&ss, len) == -1)
		err = errno;
	close(fd);
	return err;
}

static int
connect_errno(int port)
{
	return connect_errno_af(AF_INET, port);
}

static void
assert_log(struct chatd *d, const char *needle)
{
	const char	*log = chatd_log(d);

	ck_assert_msg(strstr(log, needle) != NULL, "no '%s' in the log:\n%s",
	    needle, log);
}

/*
 * Replace the daemon's config with body, SIGHUP it, and wait for the
 * reload to finish: RELOADING=1, then READY=1.
 */
static void
reload(struct chatd *d, const char *body)
{
	free(harness_write_file(d->dir, "chatd.conf", body));
	chatd_reload(d);
}

/*
 * reload() with the config chatd_start() writes for port, followed by
 * more.
 */
static void
reload_at(struct chatd *d, int port, const char *more)
{
	char	*body;

	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n%s",
	    port, more);
	reload(d, body);
	free(body);
}

/* A port other than avoid that was free a moment ago. */
static int
other_port(int avoid)
{
	int	port;

	while ((port = harness_free_port()) == avoid)
		;
	return port;
}

/* Running chatd without the harness --------------------------------------- */

struct svc {
	pid_t	 pid;			/* -1 once reaped */
	int	 status;		/* exit status once reaped */
	int	 port;			/* where clients connect */
	int	 nfd;			/* our end of NOTIFY_SOCKET */
	int	 logfd;			/* the daemon's stdout and stderr */
	char	*dir;
	char	*conf;			/* dir/chatd.conf */
	char	*log;			/* dir/chatd.log */
	char	*logbuf;		/* last svc_log() result */
	char	 notify[64];		/* "@name": abstract namespace */
	char	 notes[32768];		/* notifications received */
	size_t	 nlen;
	size_t	 noff;			/* consumed by svc_notified() */
	int	 groups;		/* start with supplementary groups */
	void	(*setup)(void);		/* harness_exec's, unless groups */
};

static struct svc *
svc_new(void)
{
	static unsigned		 serial;
	struct sockaddr_un	 sun;
	struct svc		*s;
	socklen_t		 len;

	if ((s = calloc(1, sizeof *s)) == NULL)
		ck_abort_msg("out of memory");
	s->pid = -1;
	s->status = -1;
	s->dir = harness_mkdtemp("svc");
	s->conf = harness_asprintf("%s/chatd.conf", s->dir);
	s->log = harness_asprintf("%s/chatd.log", s->dir);
	s->logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (s->logfd == -1)
		ck_abort_msg("open %s: %s", s->log, strerror(errno));

	snprintf(s->notify, sizeof s->notify, "@chatd-e2e-svc-%ld-%u",
	    (long)getpid(), serial++);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, s->notify + 1, strlen(s->notify) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(s->notify));
	s->nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->nfd == -1 || bind(s->nfd, (struct sockaddr *)&sun, len) == -1)
		ck_abort_msg("notify socket %s: %s", s->notify,
		    strerror(errno));
	return s;
}

/* In the child of svc_spawn() for s->groups: start with groups to shed. */
static void
svc_setgroups(void)
{
	static const gid_t	extra_groups[] = { 1, 2 };

	if (setgroups(2, extra_groups) == -1)
		_exit(126);
}

/*
 * Start pre... [CHATD_WRAPPER...] CHATD_BIN tail... through
 * harness_spawn(), stdout and stderr to s->log, with our environment less
 * its systemd variables, plus NOTIFY_SOCKET unless there is a pre, plus
 * env... (all NULL-terminated; pre and env may be NULL).
 */
static void
svc_spawn(struct svc *s, char *const pre[], char *const tail[],
    char *const env[])
{
	static const char *const	systemd_env[] = {
		"JOURNAL_STREAM=", "WATCHDOG_USEC=", "WATCHDOG_PID=", NULL
	};
	struct harness_exec		x;

	memset(&x, 0, sizeof x);
	x.pre = pre;
	x.tail = tail;
	x.env = env;
	x.unset = systemd_env;
	/* A program in front passes NOTIFY_SOCKET on itself (-E), or not. */
	x.notify = pre == NULL ? s->notify : NULL;
	x.outfd = s->logfd;
	x.setup = s->groups ? svc_setgroups : s->setup;
	s->pid = harness_spawn(&x);
	s->status = -1;
}

/* Wait up to timeout_ms for the process to exit; its status, or -1. */
static int
svc_wait(struct svc *s, int timeout_ms)
{
	return harness_wait(&s->pid, &s->status, timeout_ms);
}

static const char *
svc_log(struct svc *s)
{
	free(s->logbuf);
	s->logbuf = harness_read_file(s->log);
	return s->logbuf;
}

/* Move every queued notification into s->notes, one line per KEY=VALUE. */
static void
svc_drain(struct svc *s)
{
	char	buf[4096];
	ssize_t	n;

	for (;;) {
		n = recv(s->nfd, buf, sizeof buf - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (s->nlen + n + 2 >= sizeof s->notes)
			ck_abort_msg("too many notifications");
		memcpy(s->notes + s->nlen, buf, n);
		s->nlen += n;
		s->notes[s->nlen++] = '\n';
		s->notes[s->nlen] = '\0';
	}
}

/*
 * Whether the line want was notified after the last one this consumed,
 * waiting up to timeout_ms (less if the process exits).  Consumes up to
 * and including it.
 */
static int
svc_notified(struct svc *s, const char *want, int timeout_ms)
{
	int64_t	 deadline = harness_now_ms() + timeout_ms;
	char	*line, *nl;
	size_t	 wlen = strlen(want);
	int	 gone = 0;

	for (;;) {
		svc_drain(s);
		for (line = s->notes + s->noff;
		    (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			if ((size_t)(nl - line) == wlen &&
			    memcmp(line, want, wlen) == 0) {
				s->noff = nl + 1 - s->notes;
				return 1;
			}
		}
		if (gone || harness_now_ms() >= deadline)
			return 0;
		/* One more drain after the exit: the last datagrams. */
		if (svc_wait(s, 0) != -1)
			gone = 1;
		else
			poll(NULL, 0, SLICE_MS);
	}
}

/* Write the config (tmpl with "%d" as the port) to s->conf. */
static void
svc_write_conf(struct svc *s, const char *tmpl, int port)
{
	char	*body;

	body = harness_subst_port(tmpl, port);
	free(harness_write_file(s->dir, "chatd.conf", body));
	free(body);
}

/*
 * Start chatd tail... (tail names s->conf itself) on a free port written
 * into the config tmpl, and wait for READY=1.  A daemon that exits first
 * (the port was taken meanwhile) is retried on a new port.
 */
static void
svc_start(struct svc *s, const char *tmpl, char *const tail[],
    char *const env[])
{
	int	attempt, st = -1;

	for (attempt = 1; attempt <= SVC_ATTEMPTS; attempt++) {
		s->port = harness_free_port();
		svc_write_conf(s, tmpl, s->port);
		svc_spawn(s, NULL, tail, env);
		if (svc_notified(s, "READY=1", HARNESS_START_MS))
			return;
		if ((st = svc_wait(s, 0)) == -1) {
			kill(s->pid, SIGKILL);
			svc_wait(s, HARNESS_STOP_MS);
			ck_abort_msg("chatd did not send READY=1 within %d ms; "
			    "log:\n%s", HARNESS_START_MS, svc_log(s));
		}
		dprintf(s->logfd, "svc: attempt %d on port %d: exit %d\n",
		    attempt, s->port, st);
	}
	ck_abort_msg("chatd exited before READY=1 (last status %d); log:\n%s",
	    st, svc_log(s));
}

/* SIGTERM, wait for the exit, free everything; the exit status. */
static int
svc_stop_status(struct svc *s, char **logp)
{
	int	st;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		if (svc_wait(s, HARNESS_STOP_MS) == -1) {
			kill(s->pid, SIGKILL);
			svc_wait(s, HARNESS_STOP_MS);
			ck_abort_msg("chatd did not exit within %d ms of SIGTERM;"
			    " log:\n%s", HARNESS_STOP_MS, svc_log(s));
		}
	}
	st = s->status;
	if (logp != NULL)
		*logp = harness_read_file(s->log);
	close(s->nfd);
	close(s->logfd);
	harness_rmtree(s->dir);
	free(s->dir);
	free(s->conf);
	free(s->log);
	free(s->logbuf);
	free(s);
	return st;
}

/* As svc_stop_status(), failing the test unless the exit status is 0. */
static void
svc_stop_ok(struct svc *s)
{
	char	*log;
	int	 st;

	if ((st = svc_stop_status(s, &log)) != 0)
		ck_abort_msg("chatd exited with status %d, not 0; log:\n%s", st,
		    log);
	free(log);
}

/*
 * Give s something to log (guest1 says text to guest2 and leaves), stop it
 * with SIGTERM, which must end it with status 0, and return its whole log;
 * free() it.  s itself is left for svc_stop_ok().
 */
static char *
svc_chat_and_stop(struct svc *s, const char *text)
{
	struct tc	*a, *b;

	a = connect_port(s->port);
	b = connect_port(s->port);
	relay(a, b, text);
	tc_close(a);
	tc_expect(b, "*** guest1 left", W);
	tc_close(b);
	kill(s->pid, SIGTERM);
	ck_assert_msg(svc_wait(s, HARNESS_STOP_MS) == 0, "exit status %d "
	    "after SIGTERM; log:\n%s", s->status, svc_log(s));
	return harness_read_file(s->log);
}

/*
 * The pid in the "chatd[PID]" of the first timestamped log line that holds
 * needle: the daemon's own pid even when CHATD_WRAPPER stands in front.
 */
static pid_t
log_pid(const char *log, const char *needle)
{
	const char	*p, *bol;
	long		 pid;

	if ((p = strstr(log, needle)) == NULL)
		ck_abort_msg("no '%s' in the log:\n%s", needle, log);
	for (bol = p; bol > log && bol[-1] != '\n'; bol--)
		;
	if ((p = strstr(bol, " chatd[")) == NULL || p > strchr(bol, '\n') ||
	    sscanf(p, " chatd[%ld]", &pid) != 1)
		ck_abort_msg("no chatd[PID] on the log line of '%s':\n%s",
		    needle, log);
	return (pid_t)pid;
}

/*
 * The port of the log line "listening on 127.0.0.1:PORT" + suffix (the
 * first one).
 */
static int
log_port(const char *log, const char *suffix)
{
	const char	*p, *q;
	int		 port;

	for (p = log; (p = strstr(p, "listening on 127.0.0.1:")) != NULL;
	    p++) {
		port = (int)strtol(p + 23, (char **)&q, 10);
		if (q > p + 23 && strncmp(q, suffix, strlen(suffix)) == 0)
			return port;
	}
	ck_abort_msg("no 'listening on 127.0.0.1:PORT%s' in the log:\n%s",
	    suffix, log);
	return -1;
}

/* Notifications ----------------------------------------------------------- */

/*
 * READY=1 comes once the listeners are open: a client connects at once,
 * without retries.  STATUS= follows the number of clients.
 */
START_TEST(test_notify_ready)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*notes;

	d = chatd_start(NULL);
	/*
	 * chatd_start() returned on READY=1: the port accepts now, with no
	 * wait, probe or retry (tc_connect() fails the test on a refusal).
	 */
	a = tc_connect(d);
	b = tc_connect(d);
	notes = harness_read_file(d->notify_log);
	ck_assert_msg(strncmp(notes, "READY=1\nSTATUS=0 clients connected\n",
	    35) == 0, "first notification is not READY=1 with STATUS=; "
	    "got:\n%s", notes);
	free(notes);
	ck_assert_msg(chatd_notified(d, "STATUS=2 clients connected", W),
	    "no STATUS=2 clients connected; notifications:\n%s",
	    harness_read_file(d->notify_log));
	tc_close(a);
	ck_assert_msg(chatd_notified(d, "STATUS=1 client connected", W),
	    "no STATUS=1 client connected; notifications:\n%s",
	    harness_read_file(d->notify_log));
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * SIGHUP: RELOADING=1 with MONOTONIC_USEC= (the time of the signal on
 * CLOCK_MONOTONIC, as systemd's Type=notify-reload wants it) in one
 * datagram, then READY=1.  Twice, to show it repeats.
 */
START_TEST(test_notify_reload)
{
	struct chatd		*d;
	struct tc		*a, *b;
	unsigned long long	 t0, t1, usec;
	char			*notes, *p, *end;
	int			 i;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	for (i = 0; i < 2; i++) {
		t0 = now_usec();
		chatd_kill(d, SIGHUP);
		ck_assert_msg(chatd_notified(d, "RELOADING=1", W),
		    "no RELOADING=1 after SIGHUP %d; log:\n%s", i + 1,
		    chatd_log(d));
		t1 = now_usec();
		notes = harness_read_file(d->notify_log);
		p = notes + d->notify_off;
		ck_assert_msg(strncmp(p, "MONOTONIC_USEC=", 15) == 0,
		    "RELOADING=1 not followed by MONOTONIC_USEC=; "
		    "notifications:\n%s", notes);
		usec = strtoull(p + 15, &end, 10);
		ck_assert_msg(*end == '\n' && end > p + 15,
		    "bad MONOTONIC_USEC line in:\n%s", notes);
		ck_assert_msg(usec >= t0 && usec <= t1, "MONOTONIC_USEC=%llu "
		    "is not between the signal (%llu) and its notice (%llu)",
		    usec, t0, t1);
		free(notes);
		ck_assert_msg(chatd_notified(d, "READY=1", W),
		    "no READY=1 after RELOADING=1; log:\n%s", chatd_log(d));
		assert_log(d, "configuration reloaded from ");
	}
	relay(a, b, "after two reloads");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* SIGTERM: STOPPING=1, the clients are told, and the exit status is 0. */
START_TEST(test_notify_stopping)
{
	struct chatd	*d;
	struct tc	*a;
	int		 st;

	d = chatd_start(NULL);
	a = tc_connect(d);
	chatd_kill(d, SIGTERM);
	ck_assert_msg(chatd_notified(d, "STOPPING=1", W),
	    "no STOPPING=1 after SIGTERM; log:\n%s", chatd_log(d));
	tc_expect(a, "*** server shutting down", W);
	ck_assert_msg(tc_closed(a, W), "still connected after shutdown");
	st = chatd_wait(d, HARNESS_STOP_MS);
	ck_assert_msg(st == 0, "exit status %d after SIGTERM; log:\n%s", st,
	    chatd_log(d));
	tc_close(a);
	chatd_stop_ok(d);
}
END_TEST

/*
 * WATCHDOG_USEC in the environment: WATCHDOG=1 again and again.  The
 * harness passes our environment on, so setenv() before chatd_start().
 */
START_TEST(test_watchdog)
{
	struct chatd	*d;
	struct tc	*a, *b;
	int		 i;

	setenv("WATCHDOG_USEC", "200000", 1);
	unsetenv("WATCHDOG_PID");
	d = chatd_start("log_level = debug\n");
	unsetenv("WATCHDOG_USEC");
	assert_log(d, "watchdog: pinging every 100 ms");
	for (i = 0; i < 3; i++)
		ck_assert_msg(chatd_notified(d, "WATCHDOG=1", W),
		    "WATCHDOG=1 number %d did not come; notifications:\n%s",
		    i + 1, harness_read_file(d->notify_log));
	/* The pings go on while clients chat. */
	a = tc_connect(d);
	b = tc_connect(d);
	relay(a, b, "watched");
	ck_assert(chatd_notified(d, "WATCHDOG=1", W));
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* A watchdog meant for another process (WATCHDOG_PID) is not ours. */
START_TEST(test_watchdog_other_pid)
{
	struct chatd	*d;
	char		*notes;

	setenv("WATCHDOG_USEC", "200000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	d = chatd_start("log_level = debug\n");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	/* The watchdog line would come before READY=1. */
	ck_assert_msg(strstr(chatd_log(d), "watchdog") == NULL,
	    "watchdog armed for WATCHDOG_PID=1; log:\n%s", chatd_log(d));
	chatd_kill(d, SIGHUP);
	ck_assert(chatd_notified(d, "READY=1", W));
	notes = harness_read_file(d->notify_log);
	ck_assert_msg(strstr(notes, "WATCHDOG=1") == NULL,
	    "WATCHDOG=1 sent for WATCHDOG_PID=1:\n%s", notes);
	free(notes);
	chatd_stop_ok(d);
}
END_TEST

/* Reload ------------------------------------------------------------------ */

/*
 * A new port on SIGHUP: connected clients stay and chat, a new client
 * reaches the new port (and sees the new name), the old port refuses.
 */
START_TEST(test_reload_port)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*text;
	int		 old, new, attempt;

	d = chatd_start("name = before\n[chat]\nhistory = 0\n");
	old = d->port;
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");
	relay(a, b, "before the reload");

	/* The new port is free only "a moment ago": retry if it was taken. */
	for (attempt = 1;; attempt++) {
		new = other_port(old);
		reload_at(d, new, "name = after\n[chat]\nhistory = 0\n");
		text = harness_asprintf("listening on 127.0.0.1:%d", new);
		if (strstr(chatd_log(d), text) != NULL)
			break;
		ck_assert_msg(attempt < 5, "reload to a new port failed; "
		    "log:\n%s", chatd_log(d));
		free(text);
	}
	free(text);
	assert_log(d, "configuration reloaded from ");
	text = harness_asprintf("no longer listening on 127.0.0.1:%d", old);
	assert_log(d, text);
	free(text);

	/* The clients of before the reload are still there. */
	relay(a, b, "after the reload");
	relay(b, a, "still here");

	/* The new port serves, with the new name. */
	d->port = new;
	c = tc_connect(d);
	ck_assert_msg(strcmp(c->line, CHATD_WELCOME("after", "guest3",
	    "2 others")) == 0, "welcome on the new port: '%s'", c->line);
	tc_expect_line(a, "*** guest3 joined");
	tc_expect_line(b, "*** guest3 joined");
	relay(c, a, "new port");
	tc_expect_chat(b, "<guest3> new port");
	relay(a, c, "old client to new client");

	/* The old port is closed. */
	ck_assert_int_eq(connect_errno(old), ECONNREFUSED);

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Same port, one address more, then one less: the listener that stays is
 * kept (never closed and reopened, which could fail or drop a connection
 * in its backlog), the new one serves, the removed one refuses.
 */
START_TEST(test_reload_bind)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*body, *text;

	if (!harness_have_ipv6()) {
		harness_skip("test_reload_bind", "::1 cannot be bound here");
		return;
	}
	d = chatd_start("[chat]\nhistory = 0\n");
	a = tc_connect(d);
	ck_assert_int_eq(connect_errno_af(AF_INET6, d->port), ECONNREFUSED);

	body = harness_asprintf("[server]\nbind = 127.0.0.1 ::1\nport = %d\n"
	    "[chat]\nhistory = 0\n", d->port);
	reload(d, body);
	free(body);
	text = harness_asprintf("listening on [::1]:%d", d->port);
	assert_log(d, text);
	free(text);
	text = harness_asprintf("no longer listening on 127.0.0.1:%d", d->port);
	ck_assert_msg(strstr(chatd_log(d), text) == NULL, "the kept listener "
	    "was closed:\n%s", chatd_log(d));
	b = tc_connect_raw(d, AF_INET6);
	tc_welcome(b);
	c = tc_connect(d);
	relay(b, a, "over IPv6");
	tc_expect_chat(c, "<guest2> over IPv6");
	relay(a, c, "over IPv4");

	reload_at(d, d->port, "[chat]\nhistory = 0\n");
	ck_assert_msg(strstr(chatd_log(d), text) == NULL, "the kept listener "
	    "was closed:\n%s", chatd_log(d));
	free(text);
	text = harness_asprintf("no longer listening on [::1]:%d", d->port);
	assert_log(d, text);
	free(text);
	ck_assert_int_eq(connect_errno_af(AF_INET6, d->port), ECONNREFUSED);
	/* b came in over ::1 and stays. */
	relay(b, c, "still here over IPv6");
	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Broken configs for a reload: each sets name = broken before the error,
 * so a partly applied config would show in the welcome line.  line is the
 * line the error must name (alt: also accepted).
 */
static const struct {
	const char	*what;
	const char	*body;
	int		 line;
	int		 alt;
} bad_reloads[] = {
	{ "port = 0",
	  "[server]\nbind = 127.0.0.1\nname = broken\nport = 0\n", 4, 0 },
	{ "unknown key",
	  "[server]\nbind = 127.0.0.1\nport = %d\nname = broken\n"
	  "no_such_key = 1\n", 5, 0 },
	{ "unknown section",
	  "[server]\nbind = 127.0.0.1\nport = %d\nname = broken\n\n"
	  "[nosuchsection]\nfoo = bar\n", 6, 7 },
	{ "max_line below 64",
	  "[server]\nbind = 127.0.0.1\nport = %d\nname = broken\n"
	  "[limits]\nmax_line = 10\n", 6, 0 },
	{ "bad bind",
	  "[server]\nname = broken\nport = %d\nbind = 127.0.0.256\n", 4, 0 },
	{ "bad log_level",
	  "[server]\nbind = 127.0.0.1\nport = %d\nname = broken\n"
	  "log_level = loud\n", 5, 0 },
	{ "missing file", NULL, 0, 0 },
};

START_TEST(test_reload_bad)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*body, *want, *alt;
	const char	*log;

	d = chatd_start("name = before\n[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	if (bad_reloads[_i].body != NULL) {
		body = harness_subst_port(bad_reloads[_i].body, d->port);
		reload(d, body);
		free(body);
		want = harness_asprintf("reload failed: %s:%d: ", d->conf,
		    bad_reloads[_i].line);
		alt = harness_asprintf("reload failed: %s:%d: ", d->conf,
		    bad_reloads[_i].alt);
	} else {
		ck_assert_int_eq(unlink(d->conf), 0);
		chatd_reload(d);
		want = harness_asprintf("reload failed: %s: ", d->conf);
		alt = harness_asprintf("%s", want);
	}
	log = chatd_log(d);
	ck_assert_msg(strstr(log, want) != NULL || (bad_reloads[_i].alt != 0 &&
	    strstr(log, alt) != NULL), "%s: no '%s' in the log:\n%s",
	    bad_reloads[_i].what, want, log);
	ck_assert_msg(strstr(log, "keeping the old configuration") != NULL,
	    "%s: the log does not say the old configuration stays:\n%s",
	    bad_reloads[_i].what, log);
	ck_assert_msg(strstr(log, "configuration reloaded") == NULL,
	    "%s: reported as reloaded:\n%s", bad_reloads[_i].what, log);
	free(want);
	free(alt);

	/* Same clients, same port, old name. */
	relay(a, b, "after the broken reload");
	relay(b, a, "me too");
	c = tc_connect(d);
	ck_assert_msg(strcmp(c->line, CHATD_WELCOME("before", "guest3",
	    "2 others")) == 0, "%s: welcome after a failed reload: '%s'",
	    bad_reloads[_i].what, c->line);
	relay(c, a, "newcomer");
	tc_expect_chat(b, "<guest3> newcomer");

	/* And a good config still reloads afterwards. */
	reload_at(d, d->port, "name = fixed\n[chat]\nhistory = 0\n");
	assert_log(d, "configuration reloaded from ");
	tc_close(c);
	c = tc_connect(d);
	ck_assert_msg(strncmp(c->line, "*** Welcome to fixed, ", 22) == 0,
	    "welcome after the good reload: '%s'", c->line);
	relay(a, b, "all good");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * A reload to a port that cannot be bound fails as a whole: the old port,
 * and the old name, stay.
 */
START_TEST(test_reload_port_in_use)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*text;
	int		 held, port;

	d = chatd_start("name = before\n[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	held = harness_hold_port(&port);
	reload_at(d, port, "name = after\n");
	text = harness_asprintf("cannot listen on 127.0.0.1:%d", port);
	assert_log(d, text);
	free(text);
	assert_log(d, "reload failed: cannot open the new listeners; keeping "
	    "the old configuration");
	relay(a, b, "still on the old port");
	c = tc_connect(d);
	ck_assert_msg(strncmp(c->line, "*** Welcome to before, ", 23) == 0,
	    "welcome after a failed reload: '%s'", c->line);
	close(held);
	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Limits and chat settings apply at once: max_line for clients already
 * connected, lowered and raised (a client that joined under the low limit
 * can then send a line far over it: its read limit was raised too), name
 * and motd for the next welcome.
 */
START_TEST(test_reload_limits)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		 line100[101], *big, *want;

	memset(line100, 'x', 100);
	line100[100] = '\0';
	d = chatd_start("name = one\n[limits]\nmax_line = 4096\n"
	    "[chat]\nhistory = 0\nmotd = first motd\n");
	a = tc_connect(d);
	tc_expect_line(a, "*** first motd");
	b = tc_connect(d);
	tc_expect_line(b, "*** first motd");
	relay(a, b, line100);

	reload_at(d, d->port, "name = two\n[limits]\nmax_line = 64\n"
	    "[chat]\nhistory = 0\nmotd = second motd\n");

	/* a's 100 bytes are now too long: a is told, b never sees them. */
	tc_send(a, "%s\n", line100);
	tc_expect(a, "*** line too long (over 64 bytes), discarded", W);
	relay(a, b, "short");
	assert_log(d, "line over 64 bytes discarded");

	c = tc_connect(d);
	ck_assert_msg(strcmp(c->line, CHATD_WELCOME("two", "guest3",
	    "2 others")) == 0, "welcome after the reload: '%s'", c->line);
	tc_expect_line(c, "*** second motd");

	/* Raised far above what c joined with: 6000 bytes pass. */
	reload_at(d, d->port, "name = two\n[limits]\nmax_line = 8000\n"
	    "[chat]\nhistory = 0\n");
	if ((big = malloc(6001)) == NULL)
		ck_abort_msg("out of memory");
	memset(big, 'y', 6000);
	big[6000] = '\0';
	tc_send(c, "%s\n", big);
	want = harness_asprintf("<guest3> %s", big);
	expect_long_chat(a, want);
	expect_long_chat(b, want);
	free(want);
	free(big);
	relay(b, c, "after the long line");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * history shrinks on reload and keeps its newest lines: a new client gets
 * exactly those, then live chat; with history = 0, nothing.
 */
START_TEST(test_reload_history)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *e;
	int		 i;

	d = chatd_start("[chat]\nhistory = 5\n");
	a = tc_connect(d);
	b = tc_connect(d);
	for (i = 1; i <= 4; i++)
		tc_send(a, "line %d\n", i);
	tc_expect_chat(b, "<guest1> line 1");
	tc_expect_chat(b, "<guest1> line 2");
	tc_expect_chat(b, "<guest1> line 3");
	tc_expect_chat(b, "<guest1> line 4");

	reload_at(d, d->port, "[chat]\nhistory = 2\n");
	c = tc_connect(d);
	/* Right after the welcome: the two newest lines. */
	tc_expect_line_re(c, "^\\*\\*\\* \\[[0-9]{2}:[0-9]{2}\\] "
	    "<guest1> line 3$");
	tc_expect_line_re(c, "^\\*\\*\\* \\[[0-9]{2}:[0-9]{2}\\] "
	    "<guest1> line 4$");
	tc_send(b, "live\n");
	/* Had more history been replayed, it would come first. */
	tc_expect_line(c, "<guest2> live");

	reload_at(d, d->port, "[chat]\nhistory = 0\n");
	e = tc_connect(d);
	tc_send(b, "no replay\n");
	tc_expect_line(e, "<guest2> no replay");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	tc_close(e);
	chatd_stop_ok(d);
}
END_TEST

/* Socket activation -------------------------------------------------------- */

/* Whether name is an executable in a directory of PATH. */
static int
have_program(const char *name)
{
	char	*path;

	path = harness_program(name, NULL);
	free(path);
	return (path != NULL);
}

/*
 * systemd-socket-activate listens on a port of ours and, at the first
 * connection, execs chatd with LISTEN_FDS=1 and LISTEN_PID=its pid.  chatd
 * must serve that socket, ignore bind and port from its config (and from a
 * reload), and still notify.
 */
START_TEST(test_socket_activation)
{
	struct svc	*s;
	struct tc	*a, *b, *c;
	char		*pre[8], *tail[] = { "-c", NULL, NULL };
	char		*listen, *notify, *ready, *text, *body;
	int64_t		 deadline;
	int		 attempt, cport, st;

	if (!have_program("systemd-socket-activate")) {
		harness_skip("test_socket_activation", "no "
		    "systemd-socket-activate in PATH");
		return;
	}
	s = svc_new();
	tail[1] = s->conf;
	notify = harness_asprintf("NOTIFY_SOCKET=%s", s->notify);
	for (attempt = 1;; attempt++) {
		s->port = harness_free_port();
		cport = other_port(s->port);
		svc_write_conf(s, "[server]\nbind = 127.0.0.1\nport = %d\n"
		    "name = activated\n[chat]\nhistory = 0\n", cport);
		listen = harness_asprintf("127.0.0.1:%d", s->port);
		pre[0] = "systemd-socket-activate";
		pre[1] = "-l";
		pre[2] = listen;
		pre[3] = "-E";
		pre[4] = notify;
		pre[5] = NULL;
		svc_spawn(s, pre, tail, NULL);
		ready = harness_asprintf("Listening on %s as 3.", listen);
		deadline = harness_now_ms() + HARNESS_START_MS;
		while (strstr(svc_log(s), ready) == NULL &&
		    svc_wait(s, SLICE_MS) == -1) {
			if (harness_now_ms() > deadline)
				ck_abort_msg("systemd-socket-activate does not "
				    "listen; log:\n%s", svc_log(s));
		}
		free(ready);
		free(listen);
		if (s->pid > 0)
			break;
		ck_assert_msg(attempt < SVC_ATTEMPTS, "systemd-socket-activate "
		    "exited with %d; log:\n%s", s->status, svc_log(s));
	}
	free(notify);

	/* The first connection starts chatd, which answers it. */
	a = connect_port(s->port);
	ck_assert_msg(strcmp(a->line, CHATD_WELCOME("activated", "guest1",
	    "no others")) == 0, "welcome: '%s'", a->line);
	ck_assert_msg(svc_notified(s, "READY=1", W), "no READY=1; log:\n%s",
	    svc_log(s));
	b = connect_port(s->port);
	tc_expect_line(a, "*** guest2 joined");
	relay(a, b, "through the passed socket");
	relay(b, a, "back again");

	text = harness_asprintf("listening on 127.0.0.1:%d (from systemd)",
	    s->port);
	ck_assert_msg(strstr(svc_log(s), text) != NULL, "no '%s' in the "
	    "log:\n%s", text, svc_log(s));
	free(text);
	ck_assert_msg(strstr(svc_log(s), "socket activation: serving 1 socket "
	    "from systemd; bind and port from the configuration are not "
	    "used") != NULL, "the log does not say bind and port are unused:"
	    "\n%s", svc_log(s));
	/* Written before READY=1 if at all. */
	text = harness_asprintf("listening on 127.0.0.1:%d\n", cport);
	ck_assert_msg(strstr(svc_log(s), text) == NULL, "listened on the "
	    "config's port too:\n%s", svc_log(s));
	free(text);
	ck_assert_int_eq(connect_errno(cport), ECONNREFUSED);

	/* A reload with another port: noted, not used; the rest applies. */
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "name = renamed\n[chat]\nhistory = 0\n", other_port(cport));
	free(harness_write_file(s->dir, "chatd.conf", body));
	free(body);
	kill(s->pid, SIGHUP);
	ck_assert_msg(svc_notified(s, "RELOADING=1", W), "no RELOADING=1; "
	    "log:\n%s", svc_log(s));
	ck_assert_msg(svc_notified(s, "READY=1", W), "no READY=1 after "
	    "the reload; log:\n%s", svc_log(s));
	ck_assert_msg(strstr(svc_log(s), "socket activation: bind and port "
	    "changes are not used") != NULL, "reload: no notice that bind and "
	    "port are unused; log:\n%s", svc_log(s));
	c = connect_port(s->port);
	ck_assert_msg(strncmp(c->line, "*** Welcome to renamed, guest3.", 31) ==
	    0, "welcome after the reload: '%s'", c->line);
	relay(a, c, "after the reload");
	tc_expect_chat(b, "<guest1> after the reload");
	relay(c, b, "and back");
	tc_expect_chat(a, "<guest3> and back");

	kill(s->pid, SIGTERM);
	ck_assert_msg(svc_notified(s, "STOPPING=1", W), "no STOPPING=1; "
	    "log:\n%s", svc_log(s));
	st = svc_wait(s, HARNESS_STOP_MS);
	ck_assert_msg(st == 0, "exit status %d; log:\n%s", st, svc_log(s));
	tc_close(a);
	tc_close(b);
	tc_close(c);
	svc_stop_ok(s);
}
END_TEST

/*
 * What the daemon finds on fd 3 under LISTEN_PID=itself: made in the
 * child by activation_setup(), after the harness has closed every other
 * descriptor, so fd 3 is the first free one.
 */
enum fd3 {
	FD3_NONE,		/* nothing open */
	FD3_FILE,		/* a regular file (the config) */
	FD3_UDP,		/* a bound datagram socket */
	FD3_TCP_BOUND,		/* a stream socket bound, never listen()ed */
	FD3_TCP_LISTENING	/* what systemd passes for ListenStream= */
};

static enum fd3	 activation_fd3;
static char	 activation_file[PATH_MAX];
/* In the daemon's env; rewritten in the child to hold the child's pid. */
static char	 activation_pid[32] = "LISTEN_PID=0";

static void
activation_setup(void)
{
	struct sockaddr_in	sin;
	int			fd = -1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	switch (activation_fd3) {
	case FD3_NONE:
		break;
	case FD3_FILE:
		fd = open(activation_file, O_RDONLY);
		break;
	case FD3_UDP:
		if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) != -1 &&
		    bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			_exit(125);
		break;
	case FD3_TCP_BOUND:
	case FD3_TCP_LISTENING:
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1 &&
		    bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			_exit(125);
		if (activation_fd3 == FD3_TCP_LISTENING && listen(fd, 16) == -1)
			_exit(125);
		break;
	}
	if (activation_fd3 != FD3_NONE && fd != 3) {
		dprintf(2, "activation_setup: fd %d, not 3\n", fd);
		_exit(125);
	}
	/* exec() keeps the pid, and CHATD_WRAPPER tools exec in place. */
	snprintf(activation_pid, sizeof activation_pid, "LISTEN_PID=%ld",
	    (long)getpid());
}

/*
 * What systemd might pass that chatd cannot serve (a socket unit with
 * ListenDatagram=, a file, a socket left unlistened, a LISTEN_FDS out of
 * range): chatd says which and why, and does not start.
 */
static const struct {
	const char	*what;
	enum fd3	 fd3;
	const char	*listen_fds;
	const char	*error;		/* NULL: it serves */
} activations[] = {
	{ "a regular file", FD3_FILE, "1",
	  "socket activation: fd 3 is not a socket: Socket operation on "
	  "non-socket" },
	{ "a UDP socket", FD3_UDP, "1",
	  "socket activation: fd 3 is not a listening stream socket "
	  "(ListenStream= in the socket unit)" },
	{ "a TCP socket bound but not listening", FD3_TCP_BOUND, "1",
	  "socket activation: fd 3 is not a listening stream socket "
	  "(ListenStream= in the socket unit)" },
	{ "LISTEN_FDS=1048577", FD3_NONE, "1048577",
	  "socket activation: LISTEN_FDS=1048577 is not 1 to 1048576" },
	{ "LISTEN_FDS=0", FD3_NONE, "0",
	  "socket activation: LISTEN_FDS=0 is not 1 to 1048576" },
	/* The control: the same set-up with a listening socket serves. */
	{ "a listening TCP socket", FD3_TCP_LISTENING, "1", NULL },
};

/*
 * chatd with fd 3 as each case above: exit status 1, and its whole output
 * the config line, the reason and "not starting".
 * Seen before (a7f79f1): "listening on ... (from systemd)", READY=1, up.
 */
START_TEST(test_socket_activation_refuses_non_listening)
{
	struct svc	*s;
	struct tc	*a;
	char		*tail[] = { "-c", NULL, NULL };
	char		*env[] = { activation_pid, NULL, NULL };
	char		*fds, *want, *got;
	int		 ready, st;

	s = svc_new();
	tail[1] = s->conf;
	/* A port of its own, should the daemon listen where it must not. */
	svc_write_conf(s, "[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[chat]\nhistory = 0\n", harness_free_port());
	snprintf(activation_file, sizeof activation_file, "%s", s->conf);
	activation_fd3 = activations[_i].fd3;
	fds = harness_asprintf("LISTEN_FDS=%s", activations[_i].listen_fds);
	env[1] = fds;
	s->setup = activation_setup;
	svc_spawn(s, NULL, tail, env);
	ready = svc_notified(s, "READY=1", HARNESS_START_MS);

	if (activations[_i].error == NULL) {
		ck_assert_msg(ready, "%s: no READY=1; log:\n%s",
		    activations[_i].what, svc_log(s));
		ck_assert_msg(strstr(svc_log(s), "socket activation: serving 1 "
		    "socket from systemd") != NULL, "%s: not served as "
		    "activated; log:\n%s", activations[_i].what, svc_log(s));
		s->port = log_port(svc_log(s), " (from systemd)");
		a = connect_port(s->port);
		ck_assert_str_eq(a->name, "guest1");
		tc_close(a);
		svc_stop_ok(s);
		free(fds);
		return;
	}
	ck_assert_msg(!ready, "%s: chatd started (READY=1); log:\n%s",
	    activations[_i].what, svc_log(s));
	st = svc_wait(s, HARNESS_STOP_MS);
	got = harness_unstamp(svc_log(s));
	want = harness_asprintf("info: configuration read from %s\n"
	    "error: %s\nerror: not starting\n", s->conf,
	    activations[_i].error);
	ck_assert_msg(st == 1 && strcmp(got, want) == 0, "%s: want status 1 "
	    "and output\n'%s'\ngot status %d and output\n'%s'",
	    activations[_i].what, want, st, got);
	free(want);
	free(got);
	free(fds);
	ck_assert_int_eq(svc_stop_status(s, NULL), 1);
}
END_TEST

/* Privileges --------------------------------------------------------------- */

/* The numbers after "key:" on its line of /proc/PID/status. */
static int
status_ids(const char *status, const char *key, unsigned long *ids, int max)
{
	const char	*p, *eol;
	char		*end;
	int		 n = 0;

	if ((p = strstr(status, key)) == NULL)
		ck_abort_msg("no %s in /proc status:\n%s", key, status);
	p += strlen(key);
	eol = strchr(p, '\n');
	while (n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (p >= eol || *p < '0' || *p > '9')
			break;
		ids[n++] = strtoul(p, &end, 10);
		p = end;
	}
	return n;
}

/*
 * Root with [server] user = nobody: once serving, every uid and gid of the
 * process is nobody's (group: nobody's primary group, or the one named),
 * with no supplementary groups.  The pid is read from the log line, which
 * is the daemon's own under any CHATD_WRAPPER.
 */
START_TEST(test_drop_privileges)
{
	struct svc	*s;
	struct passwd	*pw;
	struct group	*gr = NULL;
	struct tc	*a, *b;
	unsigned long	 ids[64];
	char		*tail[] = { "-c", NULL, NULL };
	char		*tmpl, *proc, *status, *want;
	const char	*group = _i == 1 ? "daemon" : NULL;
	const char	*name = _i == 1 ? "test_drop_privileges (group daemon)" :
			    "test_drop_privileges";
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;
	int		 i, n;

	if (geteuid() != 0) {
		harness_skip(name, "not root");
		return;
	}
	if ((pw = getpwnam("nobody")) == NULL) {
		harness_skip(name, "no user nobody");
		return;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			harness_skip(name, "no group %s", group);
			return;
		}
		gid = gr->gr_gid;
	}

	s = svc_new();
	/* Groups the daemon must shed: root here may have none to begin with. */
	s->groups = 1;
	tail[1] = s->conf;
	tmpl = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %%d\n"
	    "user = nobody\n%s%s%s[chat]\nhistory = 0\n", group != NULL ?
	    "group = " : "", group != NULL ? group : "", group != NULL ?
	    "\n" : "");
	svc_start(s, tmpl, tail, NULL);
	free(tmpl);
	a = connect_port(s->port);
	b = connect_port(s->port);
	relay(a, b, "served by nobody");

	want = harness_asprintf("running as user nobody (uid %lu, gid %lu)",
	    (unsigned long)uid, (unsigned long)gid);
	pid = log_pid(svc_log(s), want);
	free(want);
	proc = harness_asprintf("/proc/%ld/status", (long)pid);
	status = harness_read_file(proc);
	ck_assert_msg(status[0] != '\0', "cannot read %s", proc);
	n = status_ids(status, "\nUid:", ids, 64);
	ck_assert_msg(n == 4, "Uid: %d fields in:\n%s", n, status);
	for (i = 0; i < 4; i++)
		ck_assert_msg(ids[i] == uid, "uid %d is %lu, not nobody's %lu:"
		    "\n%s", i, ids[i], (unsigned long)uid, status);
	n = status_ids(status, "\nGid:", ids, 64);
	ck_assert_msg(n == 4, "Gid: %d fields in:\n%s", n, status);
	for (i = 0; i < 4; i++)
		ck_assert_msg(ids[i] == gid, "gid %d is %lu, not %lu:\n%s", i,
		    ids[i], (unsigned long)gid, status);
	n = status_ids(status, "\nGroups:", ids, 64);
	for (i = 0; i < n; i++)
		ck_assert_msg(ids[i] == gid, "supplementary group %lu kept:\n%s",
		    ids[i], status);
	free(status);
	free(proc);

	/*
	 * The config is root's, mode 0600: nobody cannot read it again.  The
	 * reload fails, says why, and changes nothing.
	 */
	kill(s->pid, SIGHUP);
	ck_assert(svc_notified(s, "RELOADING=1", W));
	ck_assert(svc_notified(s, "READY=1", W));
	ck_assert_msg(strstr(svc_log(s), "reload failed: ") != NULL &&
	    strstr(svc_log(s), "Permission denied") != NULL, "reload as nobody "
	    "of a root-only config: no error in the log:\n%s", svc_log(s));
	relay(b, a, "still served");

	tc_close(a);
	tc_close(b);
	svc_stop_ok(s);
}
END_TEST

/* Root without user: chatd keeps running as root and says so. */
START_TEST(test_root_warning)
{
	struct chatd	*d;
	struct tc	*a, *b;

	if (geteuid() != 0) {
		harness_skip("test_root_warning", "not root");
		return;
	}
	d = chatd_start(NULL);
	assert_log(d, "warning: running as root: set user in [server] so "
	    "that chatd drops its privileges");
	a = tc_connect(d);
	b = tc_connect(d);
	relay(a, b, "root is serving");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * A user that does not exist is a config error, found when the config is
 * read (getpwnam() in config_validate()), so it needs no root: chatd -t
 * says so and exits 78, and so does a start.
 */
START_TEST(test_unknown_user)
{
	char	*dir, *path, *body, *want;
	char	*test[] = { "-t", "-c", NULL, NULL };
	char	*start[] = { "-c", NULL, NULL };

	dir = harness_mkdtemp("nouser");
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "user = no-such-chatd-user\n", harness_free_port());
	path = harness_write_file(dir, "chatd.conf", body);
	want = harness_asprintf("chatd: %s:4: user: no such user "
	    "'no-such-chatd-user'\n", path);
	test[2] = path;
	chatd_run_expect(test, 78, want);
	start[1] = path;
	chatd_run_expect(start, 78, want);
	harness_rmtree(dir);
	free(want);
	free(body);
	free(path);
	free(dir);
}
END_TEST

/* Logging ------------------------------------------------------------------ */

#define STAMP_RE	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:" \
	"[0-9]{2}\\.[0-9]{3}Z chatd\\[[0-9]+\\] " \
	"(error|warning|notice|info|debug): [^ ]"

/*
 * Fail unless every line of log (except "svc:"/"harness:" notes) matches
 * re, and unless there is one at least if need.
 */
static void
assert_every_line(const char *log, const char *re, const char *what,
    int need)
{
	regex_t		 preg;
	const char	*line, *nl;
	char		 buf[4096];
	size_t		 n;
	int		 count = 0;

	if (regcomp(&preg, re, REG_EXTENDED | REG_NOSUB) != 0)
		ck_abort_msg("bad regex '%s'", re);
	for (line = log; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			ck_abort_msg("%s: unterminated last line in:\n%s",
			    what, log);
		n = nl - line;
		if (n >= sizeof buf)
			n = sizeof buf - 1;
		memcpy(buf, line, n);
		buf[n] = '\0';
		if (strncmp(buf, "svc: ", 5) == 0 ||
		    strncmp(buf, "harness: ", 9) == 0)
			continue;
		if (regexec(&preg, buf, 0, NULL, 0) != 0) {
			regfree(&preg);
			ck_abort_msg("%s: log line '%s' does not match '%s'; "
			    "log:\n%s", what, buf, re, log);
		}
		count++;
	}
	regfree(&preg);
	ck_assert_msg(count > 0 || !need, "%s: empty log", what);
}

/* Without JOURNAL_STREAM every line has a timestamp, pid and level. */
START_TEST(test_log_timestamps)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*log;

	unsetenv("JOURNAL_STREAM");
	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	relay(a, b, "stamped");
	tc_close(a);
	tc_expect(b, "*** guest1 left", W);
	chatd_wait_log(d, "disconnected");
	chatd_kill(d, SIGTERM);
	ck_assert_msg(chatd_wait(d, HARNESS_STOP_MS) == 0, "exit status %d "
	    "after SIGTERM; log:\n%s", d->status, chatd_log(d));
	log = strdup(chatd_log(d));
	assert_every_line(log, STAMP_RE, "timestamps", 1);
	ck_assert_msg(harness_match(log, "info: client 1 \\[127\\.0\\.0\\.1\\]:"
	    "[0-9]+ connected"), "no info line for the connect:\n%s", log);
	ck_assert_msg(harness_match(log, "notice: exiting$"),
	    "no exit line:\n%s", log);
	free(log);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * JOURNAL_STREAM naming the daemon's stderr: "<N>" priorities, no
 * timestamps.  Naming another file (ino + 1): timestamps as usual.
 */
START_TEST(test_log_journal)
{
	struct svc	*s;
	struct stat	 sb;
	char		*tail[] = { "-d", "-c", NULL, NULL };
	char		*env[] = { NULL, "WATCHDOG_USEC=60000000", NULL };
	char		*log;
	int		 match = _i == 0;

	s = svc_new();
	tail[2] = s->conf;
	if (fstat(s->logfd, &sb) == -1)
		ck_abort_msg("fstat: %s", strerror(errno));
	env[0] = harness_asprintf("JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino + (match ? 0 : 1));
	svc_start(s, "[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[chat]\nhistory = 0\n", tail, env);
	log = svc_chat_and_stop(s, "journal");

	if (match) {
		assert_every_line(log, "^<[0-7]>[^<]", "journal", 1);
		ck_assert_msg(!harness_match(log, "^<[0-9]>[0-9]{4}-"),
		    "timestamp after the priority:\n%s", log);
		ck_assert_msg(harness_match(log, "^<5>listening on 127\\.0\\.0"
		    "\\.1:[0-9]+$"), "no <5> notice line:\n%s", log);
		ck_assert_msg(harness_match(log, "^<6>client 1 "
		    "\\[127\\.0\\.0\\.1\\]:[0-9]+ connected"),
		    "no <6> info line:\n%s", log);
		ck_assert_msg(harness_match(log, "^<7>watchdog: pinging every "
		    "30000 ms$"), "no <7> debug line:\n%s", log);
		if (geteuid() == 0)
			ck_assert_msg(harness_match(log, "^<4>running as root"),
			    "no <4> warning line:\n%s", log);
	} else {
		assert_every_line(log, STAMP_RE, "journal mismatch", 1);
		ck_assert_msg(harness_match(log, "debug: watchdog: pinging"),
		    "no debug line:\n%s", log);
	}
	free(log);
	free(env[0]);
	svc_stop_ok(s);
}
END_TEST

/*
 * Under the journal, a config error at start-up is an error too: the one
 * line chatd writes before it exits 78 must carry "<3>", or the journal
 * files the reason a service failed to start at the stream's default
 * priority (info).
 */
START_TEST(test_log_journal_config_error)
{
	struct svc	*s;
	struct stat	 sb;
	char		*tail[] = { "-c", NULL, NULL };
	char		*env[] = { NULL, NULL };
	char		*log, *want;
	int		 st;

	s = svc_new();
	tail[1] = s->conf;
	if (fstat(s->logfd, &sb) == -1)
		ck_abort_msg("fstat: %s", strerror(errno));
	env[0] = harness_asprintf("JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	svc_write_conf(s, "[server]\nport = 0\n", 0);
	svc_spawn(s, NULL, tail, env);
	st = svc_wait(s, HARNESS_START_MS);
	log = strdup(svc_log(s));
	want = harness_asprintf("<3>chatd: %s:2: port: 0 is out of range (1 to "
	    "65535)\n", s->conf);
	ck_assert_msg(st == 78 && strcmp(log, want) == 0, "want exit 78 and "
	    "the log\n'%s'\ngot exit %d and\n'%s'", want, st, log);
	free(want);
	free(log);
	free(env[0]);
	/* It has exited already (78, checked above): just clean up. */
	svc_stop_status(s, &log);
	free(log);
}
END_TEST

/*
 * -d and --debug log debug lines even with log_level = warning; without
 * them that config hides debug and info lines.  --config is -c.  The debug
 * line is the watchdog's, written before READY=1.
 */
START_TEST(test_log_debug_flag)
{
	static const char	*flags[] = { "-d", "--debug", NULL };
	struct svc		*s;
	char			*tail[] = { NULL, NULL, NULL, NULL };
	char			*env[] = { "WATCHDOG_USEC=60000000", NULL };
	const char		*flag = flags[_i];
	char			*log;
	int			 i = 0;

	s = svc_new();
	if (flag != NULL)
		tail[i++] = (char *)flag;
	tail[i++] = _i == 1 ? "--config" : "-c";
	tail[i++] = s->conf;
	svc_start(s, "[server]\nbind = 127.0.0.1\nport = %d\n"
	    "log_level = warning\n[chat]\nhistory = 0\n", tail, env);
	log = svc_chat_and_stop(s, "debug?");
	/* Read after the exit: the log is complete; without -d it may be empty. */
	assert_every_line(log, STAMP_RE, flag != NULL ? flag : "no -d",
	    flag != NULL);
	if (flag != NULL) {
		ck_assert_msg(harness_match(log, "debug: watchdog: pinging "
		    "every 30000 ms$"), "%s: no debug line:\n%s", flag, log);
		ck_assert_msg(harness_match(log, "info: client 1 .* connected"),
		    "%s: no info line:\n%s", flag, log);
	} else {
		ck_assert_msg(!harness_match(log, " (debug|info|notice): "),
		    "log_level = warning: lower levels logged:\n%s", log);
	}
	free(log);
	svc_stop_ok(s);
}
END_TEST

/*
 * log_level = warning hides the info lines (connected, disconnected);
 * a reload to log_level = info shows them again.
 */
START_TEST(test_log_level)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*log;

	d = chatd_start("log_level = warning\n[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	relay(a, b, "quiet");
	tc_close(a);
	/* "disconnected" is logged before the others are told. */
	tc_expect(b, "*** guest1 left", W);

	/* A failed reload logs a warning: it is written after all that. */
	reload_at(d, d->port, "log_level = warning\nno_such_key = 1\n");
	log = strdup(chatd_log(d));
	ck_assert_msg(strstr(log, "warning: reload failed: ") != NULL,
	    "no reload warning:\n%s", log);
	ck_assert_msg(strstr(log, "connected") == NULL, "log_level = warning "
	    "logged connects:\n%s", log);
	ck_assert_msg(!harness_match(log, " (info|notice|debug): "),
	    "log_level = warning logged lower levels:\n%s", log);
	free(log);

	reload_at(d, d->port, "log_level = info\n[chat]\nhistory = 0\n");
	c = tc_connect(d);
	relay(c, b, "loud");
	chatd_wait_log(d, "info: client 3 [127.0.0.1]:");
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* Command line ------------------------------------------------------------- */

/* --test, --config, --version, --help: as the short ones. */
START_TEST(test_long_options)
{
	char	 out[OUTLEN], out2[OUTLEN], *dir, *good, *bad, *want, *eq;
	char	*usage;
	char	*lt[] = { "--test", "--config", NULL, NULL };
	char	*st_[] = { "-t", "-c", NULL, NULL };
	char	*lteq[] = { "--test", NULL, NULL };
	char	*rev[] = { "--config", NULL, "--test", NULL };
	char	*v[] = { "-V", NULL }, *lv[] = { "--version", NULL };
	char	*h[] = { "-h", NULL }, *lh[] = { "--help", NULL };
	char	*noarg[] = { "--config", NULL };
	char	*bogus[] = { "--bogus", NULL };
	char	*extra[] = { "--test", "--config", NULL, "extra", NULL };
	int	 st;

	dir = harness_mkdtemp("longopt");
	good = harness_write_file(dir, "good.conf", "[server]\n"
	    "bind = 127.0.0.1\nport = 7777\n");
	bad = harness_write_file(dir, "bad.conf", "[server]\n"
	    "bind = 127.0.0.1\nport = 0\n");

	st_[2] = good;
	st = chatd_run(st_, out, sizeof out);
	ck_assert_msg(st == 0, "-t -c good: exit %d; output:\n%s", st, out);
	lt[2] = good;
	st = chatd_run(lt, out2, sizeof out2);
	ck_assert_msg(st == 0, "--test --config good: exit %d; output:\n%s",
	    st, out2);
	ck_assert_str_eq(out2, out);
	want = harness_asprintf("chatd: configuration %s OK", good);
	ck_assert_msg(strstr(out2, want) != NULL, "no '%s' in:\n%s", want,
	    out2);
	free(want);

	eq = harness_asprintf("--config=%s", good);
	lteq[1] = eq;
	st = chatd_run(lteq, out2, sizeof out2);
	ck_assert_msg(st == 0, "--test %s: exit %d; output:\n%s", eq, st, out2);
	ck_assert_str_eq(out2, out);
	free(eq);
	rev[1] = good;
	st = chatd_run(rev, out2, sizeof out2);
	ck_assert_msg(st == 0, "--config good --test: exit %d; output:\n%s",
	    st, out2);

	lt[2] = bad;
	want = harness_asprintf("chatd: %s:3: port: 0 is out of range (1 to "
	    "65535)\n", bad);
	chatd_run_expect(lt, 78, want);
	free(want);

	st = chatd_run(v, out, sizeof out);
	ck_assert_int_eq(st, 0);
	st = chatd_run(lv, out2, sizeof out2);
	ck_assert_msg(st == 0, "--version: exit %d", st);
	ck_assert_str_eq(out2, out);
	ck_assert_msg(strncmp(out, "chatd ", 6) == 0, "-V: '%s'", out);

	st = chatd_run(h, out, sizeof out);
	ck_assert_int_eq(st, 0);
	st = chatd_run(lh, out2, sizeof out2);
	ck_assert_msg(st == 0, "--help: exit %d", st);
	ck_assert_str_eq(out2, out);
	ck_assert_msg(strstr(out, "--config") != NULL &&
	    strstr(out, "--test") != NULL && strstr(out, "--debug") != NULL &&
	    strstr(out, "--version") != NULL && strstr(out, "--help") != NULL,
	    "--help does not list every long option:\n%s", out);

	/* getopt's complaint, if any, then the usage -h prints. */
	usage = chatd_usage();
	want = harness_asprintf("%s: option '--config' requires an argument\n"
	    "%s", getenv("CHATD_BIN"), usage);
	chatd_run_expect(noarg, 64, want);
	free(want);
	want = harness_asprintf("%s: unrecognized option '--bogus'\n%s",
	    getenv("CHATD_BIN"), usage);
	chatd_run_expect(bogus, 64, want);
	free(want);
	extra[2] = good;
	chatd_run_expect(extra, 64, usage);
	free(usage);

	harness_rmtree(dir);
	free(good);
	free(bad);
	free(dir);
}
END_TEST

static Suite *
e2e_service_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_service");

	tc = tcase_create("notify");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_notify_ready);
	tcase_add_test(tc, test_notify_reload);
	tcase_add_test(tc, test_notify_stopping);
	tcase_add_test(tc, test_watchdog);
	tcase_add_test(tc, test_watchdog_other_pid);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_reload_port);
	tcase_add_test(tc, test_reload_bind);
	tcase_add_loop_test(tc, test_reload_bad, 0,
	    sizeof bad_reloads / sizeof bad_reloads[0]);
	tcase_add_test(tc, test_reload_port_in_use);
	tcase_add_test(tc, test_reload_limits);
	tcase_add_test(tc, test_reload_history);
	suite_add_tcase(s, tc);

	tc = tcase_create("activation");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_socket_activation);
	tcase_add_loop_test(tc, test_socket_activation_refuses_non_listening,
	    0, sizeof activations / sizeof activations[0]);
	suite_add_tcase(s, tc);

	tc = tcase_create("privileges");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_loop_test(tc, test_drop_privileges, 0, 2);
	tcase_add_test(tc, test_root_warning);
	tcase_add_test(tc, test_unknown_user);
	suite_add_tcase(s, tc);

	tc = tcase_create("logging");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_log_timestamps);
	tcase_add_loop_test(tc, test_log_journal, 0, 2);
	tcase_add_test(tc, test_log_journal_config_error);
	tcase_add_loop_test(tc, test_log_debug_flag, 0, 3);
	tcase_add_test(tc, test_log_level);
	suite_add_tcase(s, tc);

	tc = tcase_create("cmdline");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_long_options);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_service_suite());
}
