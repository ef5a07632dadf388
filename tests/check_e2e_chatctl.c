/*
 * End-to-end tests of chatctl against the real chatd: every command, as
 * text and as JSON, with its effect on real chat clients; the exit
 * statuses (0 ok, 1 chatd refused, 64 usage, 69 chatd unreachable or
 * silent); who may use the control socket.
 *
 * chatd is started through chatd_start() with [control] socket and state
 * in a directory of the test's own (so that the ban database outlives a
 * restart of the daemon); chatctl (CHATCTL_BIN) is run through
 * harness_spawn() with its standard output and standard error captured
 * apart, and the test waits for it to exit.  JSON is checked by exact
 * fragments ("\"name\":\"alice\""), which is all a test needs of a
 * document whose writer is known.
 *
 * A few tests put a fake chatd in front of chatctl (a Unix socket the test
 * itself serves) to see what chatctl sends and what it makes of answers
 * chatd never gives: silence, garbage, a close.  The silent one is the
 * only wait here that is chatctl's own clock (-t 1), which is what it
 * tests.
 *
 * Negatives are proved by order, as in the other suites: a muted client's
 * line "reaches nobody" because a marker sent after it, by another
 * client, is the next thing its listener gets.
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

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120
#define OUTLEN		65536
#define ERRLEN		8192
#define LINE_MAX_CTL	4096	/* CONTROL_LINE_MAX of src/chatd.h */
#define EXEC_DENIED	125	/* the child could not reach CHATCTL_BIN */

/* chatd and the directory that holds its socket and database. */
struct ctx {
	struct chatd	*d;
	char		*dir;
	char		*sock;
	char		*db;
	char		*extra;		/* its config after [server] */
};

/* One run of chatctl. */
struct run {
	int	 status;
	char	 out[OUTLEN];
	char	 err[ERRLEN];
};

/* Whom the next run is as (0: ourselves); see run_as(). */
static uid_t	as_uid;
static gid_t	as_gid;

/* Helpers ---------------------------------------------------------------- */

static const char *
chatctl_bin(void)
{
	const char	*bin = getenv("CHATCTL_BIN");

	if (bin == NULL || *bin == '\0')
		ck_abort_msg("CHATCTL_BIN is not set");
	return bin;
}

/*
 * In the child before exec: become as_uid/as_gid, with no supplementary
 * groups, if a test asked for it.
 */
static void
run_as(void)
{
	if (as_uid == 0)
		return;
	if (setgroups(0, NULL) == -1 || setgid(as_gid) == -1 ||
	    setuid(as_uid) == -1)
		_exit(EXEC_DENIED);
	if (access(getenv("CHATCTL_BIN"), X_OK) == -1)
		_exit(EXEC_DENIED);
}

/* Appends what fd has to buf (size bytes, kept NUL-terminated). */
static int
drain(int fd, char *buf, size_t size, size_t *len)
{
	char	tmp[4096];
	ssize_t	n;
	size_t	take;

	n = read(fd, tmp, sizeof tmp);
	if (n == -1 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	take = (size_t)n;
	if (take > size - 1 - *len)
		take = size - 1 - *len;
	memcpy(buf + *len, tmp, take);
	*len += take;
	buf[*len] = '\0';
	return 1;
}

/* Starts chatctl argv... with its output to pipes; its pid. */
static pid_t
ctl_spawn(char *const argv[], int *out, int *err)
{
	struct harness_exec	 x;
	int			 po[2], pe[2];
	pid_t			 pid;

	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)
		ck_abort_msg("pipe: %s", strerror(errno));
	memset(&x, 0, sizeof x);
	x.bin = chatctl_bin();
	x.tail = argv;
	x.outfd = po[1];
	x.errfd = pe[1];
	x.setup = run_as;
	pid = harness_spawn(&x);
	close(po[1]);
	close(pe[1]);
	*out = po[0];
	*err = pe[0];
	return pid;
}

/* Collects what chatctl says until it exits; fills r. */
static void
ctl_collect(pid_t pid, int out, int err, struct run *r)
{
	struct pollfd	 pfd[2];
	size_t		 olen = 0, elen = 0;
	int64_t		 deadline = harness_now_ms() + W;
	int		 open = 2, st = -1, i;

	r->out[0] = r->err[0] = '\0';
	pfd[0].fd = out;
	pfd[1].fd = err;
	pfd[0].events = pfd[1].events = POLLIN;
	while (open > 0) {
		if (harness_left_ms(deadline) == 0) {
			kill(pid, SIGKILL);
			ck_abort_msg("chatctl did not finish within %d ms; "
			    "stdout:\n%s\nstderr:\n%s", W, r->out, r->err);
		}
		if (poll(pfd, 2, harness_left_ms(deadline)) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (!(i == 0 ? drain(out, r->out, sizeof r->out,
			    &olen) : drain(err, r->err, sizeof r->err,
			    &elen))) {
				pfd[i].fd = -1;
				open--;
			}
		}
	}
	close(out);
	close(err);
	if (harness_wait(&pid, &st, harness_left_ms(deadline)) == -1) {
		kill(pid, SIGKILL);
		ck_abort_msg("chatctl did not exit within %d ms", W);
	}
	r->status = st;
}

/* Runs chatctl argv... (NULL-terminated) and waits for it. */
static void
ctl_argv(struct run *r, char *const argv[])
{
	int	out, err;
	pid_t	pid;

	pid = ctl_spawn(argv, &out, &err);
	ctl_collect(pid, out, err, r);
}

/* chatctl -s SOCKET args... (NULL-terminated). */
static void
ctl_run(struct ctx *t, struct run *r, char *const args[])
{
	char	*argv[32];
	size_t	 i, n = 0;

	argv[n++] = "-s";
	argv[n++] = t->sock;
	for (i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ctl_argv(r, argv);
}

/*
 * ctl_run(), failing the test (naming its line) unless the exit status is
 * status.  With status 0, standard error must be empty; with 1 and 64,
 * standard output must be: chatd said no, and nothing else.
 */
#define CTL(t, r, status, ...) \
	ctl_at(__FILE__, __LINE__, t, r, status, \
	    (char *const []){ __VA_ARGS__, NULL })
static void
ctl_at(const char *file, int line, struct ctx *t, struct run *r, int status,
    char *const args[])
{
	char	cmd[1024] = "";
	size_t	i;

	for (i = 0; args[i] != NULL; i++)
		snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %.60s",
		    args[i]);
	ctl_run(t, r, args);
	ck_assert_msg(r->status == status, "%s:%d: chatctl%s: exit %d, not "
	    "%d; stdout:\n%.1000s\nstderr:\n%.1000s", file, line, cmd,
	    r->status, status, r->out, r->err);
	if (status == 0)
		ck_assert_msg(r->err[0] == '\0', "%s:%d: chatctl%s: exit 0 "
		    "with stderr:\n%.2000s", file, line, cmd, r->err);
	else
		ck_assert_msg(r->out[0] == '\0', "%s:%d: chatctl%s: exit %d "
		    "with stdout:\n%.2000s", file, line, cmd, status, r->out);
}

/*
 * Assertions on what chatctl printed.  Check refuses a failure message
 * over 4 KB, so the text quoted is cut at 2 KB.
 */
/* Fails the test unless text holds frag. */
#define HAS(text, frag) \
	ck_assert_msg(strstr(text, frag) != NULL, "%s:%d: no '%s' in:\n" \
	    "%.2000s", __FILE__, __LINE__, frag, text)
/* Fails the test unless some line of text matches the extended re. */
#define MATCH(text, re) \
	ck_assert_msg(harness_match(text, re), "%s:%d: no line matching " \
	    "'%s' in:\n%.2000s", __FILE__, __LINE__, re, text)
/* Fails the test unless all of text matches the extended re. */
#define MATCH_ALL(text, re) match_all_at(__FILE__, __LINE__, text, re)
static void
match_all_at(const char *file, int line, const char *text, const char *re)
{
	regex_t	preg;
	int	rc;

	if (regcomp(&preg, re, REG_EXTENDED | REG_NOSUB) != 0)
		ck_abort_msg("%s:%d: bad regex '%s'", file, line, re);
	rc = regexec(&preg, text, 0, NULL, 0);
	regfree(&preg);
	ck_assert_msg(rc == 0, "%s:%d: not matching '%s':\n%.2000s", file,
	    line, re, text);
}
/* Fails the test unless text starts with prefix. */
#define STARTS(text, prefix) \
	ck_assert_msg(strncmp(text, prefix, strlen(prefix)) == 0, "%s:%d: " \
	    "not starting '%s':\n%.2000s", __FILE__, __LINE__, prefix, text)
/* Fails the test unless text is exactly want. */
#define IS(text, want) \
	ck_assert_msg(strcmp(text, want) == 0, "%s:%d: expected:\n%.1000s\n" \
	    "got:\n%.1000s", __FILE__, __LINE__, want, text)

/*
 * Starts chatd with [control] socket and state in a new directory of the
 * test's, then more (NULL: nothing) after it.
 */
static void
ctx_start(struct ctx *t, const char *more)
{
	memset(t, 0, sizeof *t);
	t->dir = harness_mkdtemp("ctl");
	t->sock = harness_asprintf("%s/control.sock", t->dir);
	t->db = harness_asprintf("%s/chatd.db", t->dir);
	t->extra = harness_asprintf("[control]\nsocket = %s\nstate = %s\n%s",
	    t->sock, t->db, more != NULL ? more : "");
	t->d = chatd_start(t->extra);
}

/* Stops chatd and starts it again on the same socket and database. */
static void
ctx_restart(struct ctx *t)
{
	chatd_stop_ok(t->d);
	t->d = chatd_start(t->extra);
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
	free(t->extra);
}

/* A client that took name, and is named so in failure messages. */
static struct tc *
join(struct ctx *t, const char *name)
{
	struct tc	*c;
	char		 want[128];

	c = tc_connect(t->d);
	tc_send(c, "/nick %s\n", name);
	snprintf(want, sizeof want, "*** you are now known as %s", name);
	tc_expect(c, want, W);
	tc_rename(c, name);
	return c;
}

/* The local port of c's connection, as chatd sees the peer's. */
static int
client_port(struct tc *c)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;

	if (getsockname(c->fd, (struct sockaddr *)&sin, &len) == -1)
		ck_abort_msg("getsockname: %s", strerror(errno));
	return ntohs(sin.sin_port);
}

/* The id chatctl --json who gives name. */
static unsigned long long
client_id(struct ctx *t, const char *name)
{
	struct run		 r;
	unsigned long long	 id;
	char			 got[64];
	const char		*p;

	CTL(t, &r, 0, "--json", "who");
	for (p = r.out; (p = strstr(p, "{\"id\":")) != NULL; p++) {
		if (sscanf(p, "{\"id\":%llu,\"name\":\"%63[^\"]\"", &id,
		    got) == 2 && strcmp(got, name) == 0)
			return id;
	}
	ck_abort_msg("no client %s in chatctl --json who:\n%s", name, r.out);
	return 0;
}

/* The number after "\"key\":" in a JSON document. */
static unsigned long long
json_number(const char *doc, const char *key)
{
	char		 frag[128];
	const char	*p;

	snprintf(frag, sizeof frag, "\"%s\":", key);
	if ((p = strstr(doc, frag)) == NULL || p[strlen(frag)] < '0' ||
	    p[strlen(frag)] > '9')
		ck_abort_msg("no number %s in:\n%s", frag, doc);
	return strtoull(p + strlen(frag), NULL, 10);
}

/* a says text, and b gets it. */
static void
relay(struct tc *a, struct tc *b, const char *text)
{
	char	want[512];

	tc_send(a, "%s\n", text);
	snprintf(want, sizeof want, "<%s> %s", a->name, text);
	tc_expect_chat(b, want);
}

/* A listening Unix socket at path, for a fake chatd. */
static int
fake_listen(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 4) == -1)
		ck_abort_msg("fake chatd on %s: %s", path, strerror(errno));
	return fd;
}

/* A connection to the Unix socket at path, not through chatctl. */
static int
unix_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) ==
	    -1)
		ck_abort_msg("connect to %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Reads from fd into buf (size bytes, kept NUL-terminated) until what it
 * read ends with end, or fails the test.
 */
static void
read_until(int fd, char *buf, size_t size, const char *end)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = harness_now_ms() + W;
	size_t		 len = 0, n = strlen(end);

	buf[0] = '\0';
	while (len < n || strcmp(buf + len - n, end) != 0) {
		if (poll(&pfd, 1, harness_left_ms(deadline)) != 1)
			ck_abort_msg("no '%s' within %d ms; got:\n%s", end, W,
			    buf);
		if (!drain(fd, buf, size, &len))
			ck_abort_msg("closed before '%s'; got:\n%s", end, buf);
		if (len == size - 1)
			ck_abort_msg("more than %zu bytes before '%s':\n%s",
			    size - 1, end, buf);
	}
}

/* Writes all of s to fd, or fails the test. */
static void
write_all(int fd, const char *s)
{
	size_t	len = strlen(s);
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1 && errno != EINTR)
			ck_abort_msg("write: %s", strerror(errno));
		if (n > 0) {
			s += n;
			len -= (size_t)n;
		}
	}
}

/* The command line ------------------------------------------------------- */

START_TEST(test_help_version)
{
	struct run	 r;
	char		 want[64];

	ctl_argv(&r, (char *const []){ "-h", NULL });
	ck_assert_int_eq(r.status, 0);
	MATCH(r.out, "^usage: chatctl \\[-hjV\\] \\[-s socket\\] "
	    "\\[-t seconds\\] command \\[argument \\.\\.\\.\\]$");
	MATCH(r.out, "^  kick NAME\\|#ID \\[REASON\\]$");
	IS(r.err, "");
	ctl_argv(&r, (char *const []){ "--version", NULL });
	snprintf(want, sizeof want, "chatctl %s\n", PACKAGE_VERSION);
	ck_assert_int_eq(r.status, 0);
	IS(r.out, want);
}
END_TEST

/*
 * A request that is not one is refused with chatd's own reason, status
 * 64, before any socket: the socket here does not exist, which would be
 * 69.
 */
START_TEST(test_usage)
{
	static const struct {
		const char	*args[4];
		const char	*err;
	} cases[] = {
		{ { NULL }, "chatctl: no command\nusage: chatctl " },
		{ { "-x", "status" }, "chatctl: unknown option -x\nusage: "
		    "chatctl " },
		{ { "--frobnicate", "status" }, "chatctl: unknown option "
		    "--frobnicate\nusage: chatctl " },
		{ { "--json=yes", "status" }, "chatctl: --json=yes: this "
		    "option takes no argument\nusage: chatctl " },
		{ { "-t" }, "chatctl: -t needs an argument\nusage: chatctl " },
		{ { "-t", "0", "status" }, "chatctl: -t 0: seconds, 1 to "
		    "86400\n" },
		{ { "-t", "5s", "status" }, "chatctl: -t 5s: seconds, " },
		{ { "frobnicate" }, "chatctl: unknown command: frobnicate\n"
		    "usage: chatctl " },
		{ { "status", "now" }, "chatctl: status: this command takes "
		    "no arguments\n" },
		{ { "rooms", "#dev" }, "chatctl: rooms: this command takes "
		    "no arguments\n" },
		{ { "kick" }, "chatctl: kick: expected a name or #id\n" },
		{ { "kick", "#0" }, "chatctl: kick: expected a name or #id\n" },
		{ { "kick", "bad/name" }, "chatctl: kick: expected a name or "
		    "#id\n" },
		{ { "mute", "alice", "forever" }, "chatctl: mute: expected a "
		    "duration (30m, 12h, 7d)\n" },
		{ { "unmute", "alice", "now" }, "chatctl: unmute: unmute "
		    "takes only a name or #id\n" },
		{ { "ban" }, "chatctl: ban: expected a pattern\n" },
		{ { "ban", "10.0.0.0/33" }, "chatctl: ban: not an address, a "
		    "prefix or a name pattern\n" },
		{ { "ban", "*" }, "chatctl: ban: a name pattern needs a "
		    "letter or a digit\n" },
		{ { "unban", "x", "y" }, "chatctl: unban: unban takes only a "
		    "pattern\n" },
		{ { "announce" }, "chatctl: announce: announce needs a "
		    "text\n" },
		{ { "json" }, "chatctl: json: json: no command\n" },
		{ { "--json", "json", "status" }, "chatctl: unknown command: "
		    "json\nusage: chatctl " },
		{ { "announce", "two\nlines" }, "chatctl: announce: a request "
		    "is one line, without newlines\n" },
		{ { "kick", "alice", "cr\rhere" }, "chatctl: kick: a request "
		    "is one line, without newlines\n" },
	};
	struct run	 r;
	char		*dir, *sock, *argv[8];
	size_t		 i, j, n;

	dir = harness_mkdtemp("usage");
	sock = harness_asprintf("%s/none.sock", dir);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = 0;
		argv[n++] = "-s";
		argv[n++] = sock;
		for (j = 0; j < 4 && cases[i].args[j] != NULL; j++)
			argv[n++] = (char *)cases[i].args[j];
		argv[n] = NULL;
		ctl_argv(&r, argv);
		ck_assert_msg(r.status == 64 && strncmp(r.err, cases[i].err,
		    strlen(cases[i].err)) == 0, "case %zu (%s): exit %d, "
		    "stderr:\n%s\nexpected 64 and stderr starting:\n%s", i,
		    cases[i].args[0] != NULL ? cases[i].args[0] : "nothing",
		    r.status, r.err, cases[i].err);
		IS(r.out, "");
	}
	harness_rmtree(dir);
	free(sock);
	free(dir);
}
END_TEST

/*
 * The longest request chatctl sends is one that chatd takes: 4095 bytes
 * and the newline.  A byte more is refused here, 64, without a socket.
 */
START_TEST(test_request_length)
{
	struct ctx	 t;
	struct run	 r;
	char		*req, *pad;

	ctx_start(&t, NULL);
	/* chatd squeezes the spaces, then ignores the last one. */
	req = malloc(LINE_MAX_CTL + 1);
	memset(req, ' ', LINE_MAX_CTL);
	memcpy(req, "status", 6);
	req[LINE_MAX_CTL - 1] = '\0';
	CTL(&t, &r, 0, req);
	HAS(r.out, "mode chat\n");
	req[LINE_MAX_CTL - 1] = ' ';
	req[LINE_MAX_CTL] = '\0';
	CTL(&t, &r, 64, req);
	IS(r.err, "chatctl: status: the request is longer than 4096 bytes\n");
	/* Joined, the space between the words counts too. */
	req[4000] = '\0';
	pad = malloc(LINE_MAX_CTL);
	memset(pad, ' ', LINE_MAX_CTL);
	pad[LINE_MAX_CTL - 1 - 4000 - 1] = '\0';
	CTL(&t, &r, 0, req, pad);
	pad[LINE_MAX_CTL - 1 - 4000 - 1] = ' ';
	pad[LINE_MAX_CTL - 1 - 4000] = '\0';
	CTL(&t, &r, 64, req, pad);
	free(pad);
	free(req);
	ctx_stop(&t);
}
END_TEST

/* chatd cannot be reached: 69, and the message names the socket. */
START_TEST(test_unreachable)
{
	struct sockaddr_un	 sun;
	struct ctx		 t;
	struct run		 r;
	char			*dir, *sock, *want, *longpath;
	int			 fd;

	dir = harness_mkdtemp("gone");
	memset(&t, 0, sizeof t);
	t.sock = sock = harness_asprintf("%s/none.sock", dir);
	CTL(&t, &r, 69, "status");
	want = harness_asprintf("chatctl: cannot connect to %s: no such "
	    "socket (is chatd running, with [control] socket there?)\n",
	    sock);
	IS(r.err, want);
	IS(r.out, "");
	free(want);

	/* A socket file nobody listens on: a chatd that died. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "bind %s: %s", sock, strerror(errno));
	close(fd);
	CTL(&t, &r, 69, "--json", "status");
	want = harness_asprintf("chatctl: cannot connect to %s: connection "
	    "refused (chatd is not running?)\n", sock);
	IS(r.err, want);
	free(want);

	longpath = malloc(200);
	memset(longpath, 'x', 199);
	longpath[199] = '\0';
	t.sock = longpath;
	CTL(&t, &r, 64, "status");
	MATCH(r.err, "^chatctl: x+: a socket path is at most 107 bytes$");
	free(longpath);

	harness_rmtree(dir);
	free(sock);
	free(dir);
}
END_TEST

/*
 * Against a fake chatd: what chatctl sends (one line, "json " first with
 * --json), and what it makes of every kind of answer.
 */
START_TEST(test_protocol)
{
	static const struct {
		const char	*answer;	/* NULL: close at once */
		int		 status;
		const char	*out;
		const char	*err;
	} cases[] = {
		{ "| one\r\n| \r\n| two  spaced\r\nok\r\n", 0,
		    "one\n\ntwo  spaced\n", "" },
		{ "ok\r\n", 0, "", "" },
		{ "| lf only\nok\n", 0, "lf only\n", "" },
		{ "| esc \x1b[31mred\x7f\r\nok\r\n", 0, "esc ?[31mred?\n", "" },
		{ "error not today\r\n", 1, "", "chatctl: not today\n" },
		{ "| partial\r\n", -1, "", "" },
		{ NULL, 69, "", "chatctl: chatd closed the connection without "
		    "answering\n" },
		{ "| data\r\nnonsense\r\n", 69, "data\n", "chatctl: not an "
		    "answer from chatd: nonsense\n" },
		{ "error \r\n", 69, "", "chatctl: not an answer from chatd: "
		    "error \n" },
	};
	struct run	 r;
	char		*dir, *sock, buf[256];
	char		*argv[] = { "-s", NULL, "--json", "kick", "#7",
			    "go  away", NULL };
	int		 lfd, fd, out, err;
	size_t		 i, k;
	pid_t		 pid;

	dir = harness_mkdtemp("fake");
	sock = harness_asprintf("%s/fake.sock", dir);
	argv[1] = sock;
	lfd = fake_listen(sock);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pid = ctl_spawn(argv, &out, &err);
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			ck_abort_msg("accept: %s", strerror(errno));
		read_until(fd, buf, sizeof buf, "\n");
		IS(buf, "json kick #7 go  away\n");
		if (cases[i].answer == NULL) {
			close(fd);
			ctl_collect(pid, out, err, &r);
		} else if (cases[i].status == -1) {
			/* Data, then a close before the status line. */
			write_all(fd, cases[i].answer);
			close(fd);
			ctl_collect(pid, out, err, &r);
			ck_assert_int_eq(r.status, 69);
			IS(r.err, "chatctl: chatd closed the connection "
			    "without answering\n");
			continue;
		} else {
			/* A byte at a time: lines cut anywhere. */
			for (k = 0; cases[i].answer[k] != '\0'; k++) {
				snprintf(buf, sizeof buf, "%c",
				    cases[i].answer[k]);
				write_all(fd, buf);
			}
			ctl_collect(pid, out, err, &r);
			close(fd);
		}
		ck_assert_msg(r.status == cases[i].status, "case %zu: exit %d, "
		    "not %d; stderr:\n%s", i, r.status, cases[i].status,
		    r.err);
		IS(r.out, cases[i].out);
		IS(r.err, cases[i].err);
	}
	close(lfd);
	harness_rmtree(dir);
	free(sock);
	free(dir);
}
END_TEST

/*
 * A chatd that takes the request and says nothing: chatctl gives up after
 * -t seconds, 69.  The wait is chatctl's: that is what is tested.
 */
START_TEST(test_timeout)
{
	struct run	 r;
	char		*dir, *sock, buf[64];
	char		*argv[] = { "-t", "1", "-s", NULL, "status", NULL };
	int		 lfd, fd, out, err;
	int64_t		 t0;
	pid_t		 pid;

	dir = harness_mkdtemp("silent");
	sock = harness_asprintf("%s/silent.sock", dir);
	argv[3] = sock;
	lfd = fake_listen(sock);
	t0 = harness_now_ms();
	pid = ctl_spawn(argv, &out, &err);
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		ck_abort_msg("accept: %s", strerror(errno));
	read_until(fd, buf, sizeof buf, "status\n");
	ctl_collect(pid, out, err, &r);
	ck_assert_int_eq(r.status, 69);
	IS(r.err, "chatctl: chatd did not answer within 1 second\n");
	/* Not before its second was up. */
	ck_assert_int_ge(harness_now_ms() - t0, 1000);
	close(fd);
	close(lfd);
	harness_rmtree(dir);
	free(sock);
	free(dir);
}
END_TEST

/* The commands ----------------------------------------------------------- */

START_TEST(test_status)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *b;
	char		*want;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	b = join(&t, "bob");
	CTL(&t, &r, 0, "status");
	want = harness_asprintf("^chatd %s\n"
	    "uptime [0-9]+[smhd][0-9hm]* \\(since [0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}Z\\)\n"
	    "mode chat\n"
	    "listening 127\\.0\\.0\\.1:%d\n"
	    "clients 2, peak 2\n"
	    "cluster off\n"
	    "bans 0\n$", PACKAGE_VERSION, t.d->port);
	MATCH_ALL(r.out, want);
	free(want);

	CTL(&t, &r, 0, "--json", "status");
	ck_assert_msg(r.out[0] == '{' && strchr(r.out, '\n') ==
	    r.out + strlen(r.out) - 1, "not one JSON line:\n%.2000s", r.out);
	want = harness_asprintf("{\"version\":\"%s\",\"uptime_seconds\":",
	    PACKAGE_VERSION);
	HAS(r.out, want);
	free(want);
	HAS(r.out, "\"mode\":\"chat\"");
	want = harness_asprintf("\"listeners\":[\"127.0.0.1:%d\"]",
	    t.d->port);
	HAS(r.out, want);
	free(want);
	HAS(r.out, "\"clients\":2,\"clients_peak\":2,");
	HAS(r.out, "\"cluster\":\"off\",\"bans\":0}");

	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

START_TEST(test_who)
{
	struct ctx		 t;
	struct run		 r;
	struct tc		*a, *b;
	unsigned long long	 ida;
	char			*want;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	b = join(&t, "bob");
	ida = client_id(&t, "alice");

	CTL(&t, &r, 0, "who");
	MATCH(r.out, "^ID +NAME +ROOM +ADDRESS:PORT +CONNECTED +ON +IDLE "
	    "+LINES-IN +BYTES-IN +LINES-OUT +BYTES-OUT +QUEUED +TLS$");
	/*
	 * alice sent one line, "/nick alice\n": 12 bytes.  The column says
	 * ADDRESS:PORT, but chatd prints the address alone: the pattern
	 * takes either, and --json has the port.
	 */
	want = harness_asprintf("^%llu +alice +#lobby +127\\.0\\.0\\.1"
	    "[^ ]* +"
	    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +[0-9]+[smhd][0-9hm]* +"
	    "[0-9]+[smhd][0-9hm]* +1 +12 +[0-9]+ +[0-9]+ +0 no$", ida);
	MATCH(r.out, want);
	free(want);
	MATCH(r.out, "^[0-9]+ +bob +#lobby +127\\.0\\.0\\.1");
	ck_assert_int_eq(harness_match(r.out, "muted"), 0);

	CTL(&t, &r, 0, "--json", "who");
	HAS(r.out, "{\"clients\":[{\"id\":");
	want = harness_asprintf("{\"id\":%llu,\"name\":\"alice\","
	    "\"room\":\"#lobby\",\"address\":\"127.0.0.1\",\"port\":%d,"
	    "\"connected\":\"", ida, client_port(a));
	HAS(r.out, want);
	free(want);
	HAS(r.out, "\"lines_in\":1,\"bytes_in\":12,");
	HAS(r.out, "\"queued\":0,\"tls\":false,\"certfp\":null,"
	    "\"muted\":false}");
	want = harness_asprintf("\"name\":\"bob\",\"room\":\"#lobby\","
	    "\"address\":\"127.0.0.1\",\"port\":%d,", client_port(b));
	HAS(r.out, want);
	free(want);
	ck_assert_msg(strstr(r.out, "\"muted\":true") == NULL, "%.2000s",
	    r.out);

	/* A muted client says so, in both forms. */
	CTL(&t, &r, 0, "mute", "bob");
	CTL(&t, &r, 0, "who");
	MATCH(r.out, "^[0-9]+ +bob +.* no muted$");
	MATCH(r.out, "^[0-9]+ +alice +.* no$");
	CTL(&t, &r, 0, "--json", "who");
	HAS(r.out, "\"muted\":true}");

	/* An empty room: the header alone, and an empty list. */
	tc_close(a);
	tc_close(b);
	chatd_wait_log_n(t.d, "disconnected: ", 2);
	CTL(&t, &r, 0, "who");
	MATCH(r.out, "^ID +NAME ");
	ck_assert_msg(strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
	    "more than the header:\n%.2000s", r.out);
	CTL(&t, &r, 0, "--json", "who");
	IS(r.out, "{\"clients\":[]}\n");
	ctx_stop(&t);
}
END_TEST

/*
 * rooms: every room of the node, with its members, whether it is secret,
 * permanent or the default room, and its topic, in both forms; a room
 * gone with its last member is gone from the list.
 */
START_TEST(test_rooms)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *b;

	ctx_start(&t, "[chat]\nrooms = #help\n");
	a = join(&t, "alice");
	b = join(&t, "bob");
	tc_send(b, "/join #hide secret\n");
	tc_expect(b, "*** you are now in #hide", W);
	tc_send(a, "/join #dev\n");
	tc_expect(a, "*** you are now in #dev", W);
	tc_send(a, "/topic say \"hi\" \\o/\n");
	tc_expect(a, "*** alice set the topic of #dev: ", W);

	CTL(&t, &r, 0, "rooms");
	MATCH_ALL(r.out, "^NAME +MEMBERS +SECRET +PERMANENT +TOPIC\n"
	    "#lobby +0 +no +default\n"
	    "#help +0 +no +yes\n"
	    "#hide +1 +yes +no\n"
	    "#dev +1 +no +no +say \"hi\" \\\\o/\n$");
	CTL(&t, &r, 0, "--json", "rooms");
	IS(r.out, "{\"rooms\":["
	    "{\"name\":\"#lobby\",\"members\":0,\"secret\":false,"
	    "\"permanent\":true,\"default\":true,\"topic\":null},"
	    "{\"name\":\"#help\",\"members\":0,\"secret\":false,"
	    "\"permanent\":true,\"default\":false,\"topic\":null},"
	    "{\"name\":\"#hide\",\"members\":1,\"secret\":true,"
	    "\"permanent\":false,\"default\":false,\"topic\":null},"
	    "{\"name\":\"#dev\",\"members\":1,\"secret\":false,"
	    "\"permanent\":false,\"default\":false,"
	    "\"topic\":\"say \\\"hi\\\" \\\\o/\"}]}\n");

	/* #hide goes with bob; alice's move leaves #dev empty, gone too. */
	tc_close(b);
	chatd_wait_log(t.d, "disconnected: ");
	tc_send(a, "/part\n");
	tc_expect(a, "*** you are now in #lobby", W);
	CTL(&t, &r, 0, "rooms");
	MATCH_ALL(r.out, "^NAME +MEMBERS +SECRET +PERMANENT +TOPIC\n"
	    "#lobby +1 +no +default\n"
	    "#help +0 +no +yes\n$");
	tc_close(a);
	ctx_stop(&t);
}
END_TEST

/*
 * kick: the client is told why and closed, the others see it leave with
 * the reason; by name and by #id; a name nobody has is chatd's refusal.
 */
START_TEST(test_kick)
{
	struct ctx		 t;
	struct run		 r;
	struct tc		*a, *b, *c;
	unsigned long long	 idc;
	char			 id[32], *want;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	b = join(&t, "bob");
	c = join(&t, "carol");
	idc = client_id(&t, "carol");

	CTL(&t, &r, 0, "kick", "alice", "too", "rude");
	MATCH_ALL(r.out, "^kicked alice \\(#[0-9]+\\)\n$");
	tc_expect(a, "*** you have been kicked", W);
	IS(a->line, "*** you have been kicked: too rude");
	tc_expect_eof(a);
	tc_close(a);
	tc_expect(b, "*** alice left", W);
	IS(b->line, "*** alice left (kicked: too rude)");
	tc_expect(c, "*** alice left", W);
	IS(c->line, "*** alice left (kicked: too rude)");
	chatd_wait_log(t.d, "control: alice (#");
	chatd_wait_log(t.d, " kicked: too rude");

	/* By id, as JSON, without a reason. */
	snprintf(id, sizeof id, "#%llu", idc);
	CTL(&t, &r, 0, "--json", "kick", id);
	want = harness_asprintf("{\"kicked\":{\"id\":%llu,\"name\":"
	    "\"carol\"}}\n", idc);
	IS(r.out, want);
	free(want);
	tc_expect(c, "*** you have been kicked", W);
	IS(c->line, "*** you have been kicked");
	tc_expect_eof(c);
	tc_close(c);
	tc_expect(b, "*** carol left", W);
	IS(b->line, "*** carol left (kicked)");

	/* Nobody by that name, or that id (alice's is gone). */
	CTL(&t, &r, 1, "kick", "mallory");
	IS(r.err, "chatctl: no such user: mallory\n");
	CTL(&t, &r, 1, "--json", "kick", id, "again");
	want = harness_asprintf("chatctl: no such client: %s\n", id);
	IS(r.err, want);
	free(want);

	/* bob is still here, and counted as kicked twice. */
	CTL(&t, &r, 0, "--json", "stats");
	HAS(r.out, "\"clients\":1,");
	HAS(r.out, "\"closed_kicked\":2,");
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/*
 * ban by name: the clients it covers are removed, look-alikes too, and
 * the name can no longer be taken; bans lists it; unban lifts it.
 */
START_TEST(test_ban_name)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *m, *n;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	m = join(&t, "Mallory");
	n = join(&t, "mAll0ry2");

	CTL(&t, &r, 0, "ban", "mallo*", "1h", "trolling", "again");
	MATCH(r.out, "^banned mallo\\* until [0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9:]{8}Z, 2 clients removed$");
	tc_expect(m, "*** you have been banned", W);
	IS(m->line, "*** you have been banned: trolling again");
	tc_expect_eof(m);
	tc_close(m);
	/* mAll0ry2 is caught by the look-alike key: 0 is o. */
	tc_expect_line(n, "*** you have been banned: trolling again");
	tc_expect_eof(n);
	tc_close(n);
	tc_expect(a, "*** Mallory left", W);
	IS(a->line, "*** Mallory left (banned: trolling again)");
	tc_expect(a, "*** mAll0ry2 left", W);
	IS(a->line, "*** mAll0ry2 left (banned: trolling again)");
	chatd_wait_log(t.d, "ban mallo*: trolling again (2 clients removed)");

	/* A newcomer may not take a name it covers. */
	n = tc_connect(t.d);
	tc_send(n, "/nick MALL0RY\n");
	tc_expect_line(n, "*** name MALL0RY is banned");
	tc_send(n, "/nick mal\n");
	tc_expect_line(n, "*** you are now known as mal");

	CTL(&t, &r, 0, "bans");
	MATCH(r.out, "^PATTERN +SINCE +UNTIL +REASON$");
	MATCH(r.out, "^mallo\\* +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z "
	    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z trolling again$");
	CTL(&t, &r, 0, "--json", "bans");
	HAS(r.out, "{\"bans\":[{\"pattern\":\"mallo*\",\"kind\":\"name\","
	    "\"created\":\"");
	HAS(r.out, "\",\"reason\":\"trolling again\"}]}\n");
	ck_assert_msg(strstr(r.out, "\"expires\":null") == NULL, "%.2000s",
	    r.out);

	CTL(&t, &r, 0, "--json", "unban", "mallo*");
	IS(r.out, "{\"unbanned\":\"mallo*\"}\n");
	chatd_wait_log(t.d, "unban mallo*");
	tc_send(n, "/nick MALL0RY\n");
	tc_expect_line(n, "*** you are now known as MALL0RY");
	CTL(&t, &r, 1, "unban", "mallo*");
	IS(r.err, "chatctl: no such ban: mallo*\n");
	CTL(&t, &r, 0, "--json", "bans");
	IS(r.out, "{\"bans\":[]}\n");

	/* As JSON, for good, without a reason. */
	CTL(&t, &r, 0, "--json", "ban", "alice");
	IS(r.out, "{\"banned\":\"alice\",\"expires\":null,\"removed\":1}\n");
	tc_expect(a, "*** you have been banned", W);
	IS(a->line, "*** you have been banned");
	tc_expect_eof(a);
	tc_close(a);
	CTL(&t, &r, 0, "bans");
	MATCH(r.out, "^alice +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z - +$");
	tc_close(n);
	ctx_stop(&t);
}
END_TEST

/*
 * ban by address and prefix: connected clients from it are removed and
 * newcomers refused; canonical patterns; kept in [control] state across
 * a restart.
 */
START_TEST(test_ban_address)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *b;

	ctx_start(&t, NULL);
	a = join(&t, "alice");

	/* The README's example, and the same prefix spelt otherwise. */
	CTL(&t, &r, 0, "ban", "2001:db8::/64", "7d", "spam");
	MATCH(r.out, "^banned 2001:db8::/64 until [0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9:]{8}Z, 0 clients removed$");
	CTL(&t, &r, 0, "--json", "ban", "2001:DB8:0::5/64", "7d", "spam");
	HAS(r.out, "{\"banned\":\"2001:db8::/64\",\"expires\":\"");
	HAS(r.out, "\",\"removed\":0}\n");
	CTL(&t, &r, 0, "--json", "bans");
	HAS(r.out, "{\"bans\":[{\"pattern\":\"2001:db8::/64\",\"kind\":"
	    "\"prefix\",");
	HAS(r.out, "\"reason\":\"spam\"}]}");

	/* Everyone here is 127.0.0.1. */
	CTL(&t, &r, 0, "ban", "127.0.0.0/8", "10m", "maintenance");
	MATCH(r.out, "^banned 127\\.0\\.0\\.0/8 until .*, 1 client removed$");
	tc_expect(a, "*** you have been banned", W);
	IS(a->line, "*** you have been banned: maintenance");
	tc_expect_eof(a);
	tc_close(a);
	b = tc_connect_raw(t.d, AF_INET);
	tc_expect_line(b, "*** you are banned from this server: maintenance");
	tc_expect_eof(b);
	tc_close(b);
	CTL(&t, &r, 0, "--json", "stats");
	HAS(r.out, "\"refused_banned\":1,");
	CTL(&t, &r, 0, "ban", "127.0.0.1");
	CTL(&t, &r, 0, "--json", "bans");
	HAS(r.out, "{\"pattern\":\"127.0.0.1\",\"kind\":\"address\",");
	HAS(r.out, "\"expires\":null,\"reason\":\"\"}");

	/* Kept across a restart. */
	ctx_restart(&t);
	chatd_wait_log(t.d, "3 bans in force");
	CTL(&t, &r, 0, "bans");
	MATCH(r.out, "^2001:db8::/64 +.* spam$");
	MATCH(r.out, "^127\\.0\\.0\\.0/8 +.* maintenance$");
	b = tc_connect_raw(t.d, AF_INET);
	tc_expect(b, "*** you are banned from this server", W);
	tc_expect_eof(b);
	tc_close(b);

	CTL(&t, &r, 0, "unban", "127.0.0.1");
	IS(r.out, "unbanned 127.0.0.1\n");
	CTL(&t, &r, 0, "unban", "127.0.0.0/8");
	a = join(&t, "alice");
	CTL(&t, &r, 0, "status");
	HAS(r.out, "\nbans 1\n");
	tc_close(a);
	ctx_stop(&t);
}
END_TEST

/*
 * mute: the client is told once and its lines reach nobody, /me and /msg
 * included; unmute; a mute that runs out; refusals.
 */
START_TEST(test_mute)
{
	struct ctx		 t;
	struct run		 r;
	struct tc		*a, *b, *c;
	unsigned long long	 ida;
	char			 id[32], *want;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	b = join(&t, "bob");
	c = join(&t, "carol");
	ida = client_id(&t, "alice");

	CTL(&t, &r, 0, "mute", "alice");
	want = harness_asprintf("muted alice (#%llu)\n", ida);
	IS(r.out, want);
	free(want);
	tc_expect(a, "*** you have been muted", W);
	IS(a->line, "*** you have been muted: nobody sees what you say");
	tc_send(a, "can anyone hear me\n");
	tc_send(a, "/me shouts\n");
	tc_send(a, "/msg bob psst\n");
	/* alice's lines are handled in order: this answer comes after. */
	tc_send(a, "/nosuchcommand\n");
	tc_expect_line(a, "*** unknown command /nosuchcommand (try /help)");
	relay(c, b, "marker after alice");
	tc_expect_line(a, "<carol> marker after alice");
	/* Muted again: not told twice. */
	CTL(&t, &r, 0, "--json", "mute", "alice");
	want = harness_asprintf("{\"muted\":{\"id\":%llu,\"name\":"
	    "\"alice\"}}\n", ida);
	IS(r.out, want);
	free(want);

	CTL(&t, &r, 0, "unmute", "alice");
	want = harness_asprintf("unmuted alice (#%llu)\n", ida);
	IS(r.out, want);
	free(want);
	tc_expect_line(a, "*** you are no longer muted");
	relay(a, b, "back again");
	CTL(&t, &r, 1, "unmute", "alice");
	IS(r.err, "chatctl: alice is not muted\n");
	CTL(&t, &r, 1, "mute", "nobody");
	IS(r.err, "chatctl: no such user: nobody\n");

	/* For a while, by id, as JSON: it ends by itself. */
	snprintf(id, sizeof id, "#%llu", ida);
	CTL(&t, &r, 0, "--json", "mute", id, "1s");
	tc_expect_line(a, "*** you have been muted for 1s: nobody sees what "
	    "you say");
	tc_expect_line(a, "*** you are no longer muted");
	chatd_wait_log(t.d, "alice (#");
	chatd_wait_log(t.d, "no longer muted");
	relay(a, b, "free again");

	CTL(&t, &r, 0, "mute", "alice", "1h");
	tc_expect_line(a, "*** you have been muted for 1h00m: nobody sees "
	    "what you say");
	CTL(&t, &r, 0, "--json", "unmute", id);
	want = harness_asprintf("{\"unmuted\":{\"id\":%llu,\"name\":"
	    "\"alice\"}}\n", ida);
	IS(r.out, want);
	free(want);
	tc_expect_line(a, "*** you are no longer muted");
	relay(a, b, "and again");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	ctx_stop(&t);
}
END_TEST

/* announce: one "*** " line to everyone. */
START_TEST(test_announce)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*c[3];
	int		 i;

	ctx_start(&t, NULL);
	c[0] = join(&t, "alice");
	c[1] = join(&t, "bob");
	c[2] = tc_connect(t.d);
	/* The arguments are joined with single spaces. */
	CTL(&t, &r, 0, "announce", "restart", "at noon,", "back soon");
	IS(r.out, "announced to 3 clients here\n");
	for (i = 0; i < 3; i++)
		tc_expect(c[i], "*** restart at noon, back soon", W);
	chatd_wait_log(t.d, "control: announced: restart at noon, back soon");

	CTL(&t, &r, 0, "--json", "announce", "done");
	IS(r.out, "{\"announced\":3}\n");
	for (i = 0; i < 3; i++)
		tc_expect(c[i], "*** done", W);
	for (i = 0; i < 3; i++)
		tc_close(c[i]);
	ctx_stop(&t);
}
END_TEST

/*
 * reload: as SIGHUP, with the result.  A config that fails is chatd's
 * refusal, with FILE:LINE, as text and as JSON, and chatd goes on with
 * the old one, its clients still connected; so is a config file that has
 * gone.  One that works is taken at once (a reload through the control
 * socket once made chatd read the config it had just freed, which
 * valgrind and ASan caught: chatd_stop_ok() would fail).
 */
START_TEST(test_reload)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *b;
	char		*conf, *body, *path, *want;
	int		 lines = 0;
	const char	*p;

	ctx_start(&t, "[chat]\nmotd = before\n");
	a = join(&t, "alice");
	b = join(&t, "bob");
	conf = harness_read_file(t.d->conf);
	for (p = conf; *p != '\0'; p++)
		lines += *p == '\n';

	body = harness_asprintf("%smotd = after\nfrobnicate = 1\n", conf);
	path = harness_write_file(t.d->dir, "chatd.conf", body);
	free(path);
	free(body);
	want = harness_asprintf("chatctl: %s:%d: ", t.d->conf, lines + 2);
	CTL(&t, &r, 1, "reload");
	ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0 &&
	    strstr(r.err, "frobnicate") != NULL, "stderr:\n%s\nexpected it "
	    "to start '%s' and name the key", r.err, want);
	chatd_wait_log(t.d, "reload failed: ");
	CTL(&t, &r, 1, "--json", "reload");
	ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "stderr:\n%s\n"
	    "expected it to start '%s'", r.err, want);
	chatd_wait_log_n(t.d, "reload failed: ", 2);
	free(want);

	/* Still running, the same clients, the old config. */
	CTL(&t, &r, 0, "status");
	HAS(r.out, "clients 2, peak 2\n");
	relay(a, b, "still here");
	tc_close(b);
	b = tc_connect(t.d);
	tc_expect_line(b, "*** before");

	/* A file that has gone is no order to fall back on defaults. */
	ck_assert_int_eq(unlink(t.d->conf), 0);
	CTL(&t, &r, 1, "reload");
	want = harness_asprintf("chatctl: %s: ", t.d->conf);
	STARTS(r.err, want);
	free(want);
	CTL(&t, &r, 64, "--json", "reload", "now");
	relay(a, b, "and still");

	/* A good config: taken, as text and as JSON. */
	body = harness_asprintf("%smotd = after\n", conf);
	path = harness_write_file(t.d->dir, "chatd.conf", body);
	free(path);
	free(body);
	CTL(&t, &r, 0, "reload");
	HAS(r.out, "configuration reloaded\n");
	CTL(&t, &r, 0, "--json", "reload");
	HAS(r.out, "{\"reloaded\":true}\n");
	relay(a, b, "after the reload");
	tc_close(b);
	b = tc_connect(t.d);
	/* A second motd value adds a line to the first. */
	tc_expect_line(b, "*** before");
	tc_expect_line(b, "*** after");
	free(conf);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/* stats: the counters move with what happens. */
START_TEST(test_stats)
{
	struct ctx		 t;
	struct run		 r;
	struct tc		*a, *b;
	unsigned long long	 in0, relayed0, accepted0;
	char			 line[32], want[64];
	int			 i;

	ctx_start(&t, NULL);
	a = join(&t, "alice");
	b = join(&t, "bob");
	CTL(&t, &r, 0, "--json", "stats");
	ck_assert_msg(r.out[0] == '{' && strchr(r.out, '\n') ==
	    r.out + strlen(r.out) - 1, "not one JSON line:\n%.2000s", r.out);
	HAS(r.out, "{\"clients\":2,\"peak\":2,\"accepted\":2,");
	HAS(r.out, "\"cluster\":\"off\",");
	in0 = json_number(r.out, "lines_received");
	relayed0 = json_number(r.out, "lines_relayed");
	accepted0 = json_number(r.out, "accepted");

	for (i = 0; i < 7; i++) {
		snprintf(line, sizeof line, "line %d", i);
		relay(a, b, line);
	}
	CTL(&t, &r, 0, "--json", "stats");
	ck_assert_uint_eq(json_number(r.out, "lines_received"), in0 + 7);
	ck_assert_uint_eq(json_number(r.out, "lines_relayed"), relayed0 + 7);
	ck_assert_uint_eq(json_number(r.out, "accepted"), accepted0);

	/* The same counters, one a line, as text. */
	CTL(&t, &r, 0, "stats");
	MATCH(r.out, "^clients 2$");
	snprintf(want, sizeof want, "\nlines_relayed %llu\n", relayed0 + 7);
	HAS(r.out, want);
	MATCH(r.out, "^throttled_seconds [0-9]+\\.[0-9]{3}$");
	MATCH(r.out, "^cluster off$");
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/*
 * One connection, several requests: the answers come in order.  And a
 * control connection that stops in the middle of a request holds nothing
 * up: chat goes on, and chatctl is answered.
 */
START_TEST(test_connection)
{
	struct ctx	 t;
	struct run	 r;
	struct tc	*a, *b;
	char		 buf[1024];
	int		 fd, stuck;

	ctx_start(&t, NULL);
	fd = unix_connect(t.sock);
	write_all(fd, "json bans\r\nwho\nkick nobody\n");
	read_until(fd, buf, sizeof buf, "error no such user: nobody\r\n");
	STARTS(buf, "| {\"bans\":[]}\r\nok\r\n| ID ");
	HAS(buf, "TLS\r\nok\r\nerror no such user: nobody\r\n");
	close(fd);

	stuck = unix_connect(t.sock);
	write_all(stuck, "stat");
	a = join(&t, "alice");
	b = join(&t, "bob");
	relay(a, b, "not held up");
	CTL(&t, &r, 0, "status");
	HAS(r.out, "clients 2, peak 2\n");
	write_all(stuck, "us\n");
	read_until(stuck, buf, sizeof buf, "ok\r\n");
	HAS(buf, "| clients 2, peak 2\r\n");
	close(stuck);
	tc_close(a);
	tc_close(b);
	ctx_stop(&t);
}
END_TEST

/*
 * A stopped chatd: 69, naming the socket.  (Whether the message says that
 * there is no socket or that it refuses connections depends on whether
 * chatd removed it, which is chatd's business: see test_unreachable.)
 */
START_TEST(test_chatd_stopped)
{
	struct ctx	 t;
	struct run	 r;
	char		*want;

	ctx_start(&t, NULL);
	CTL(&t, &r, 0, "status");
	chatd_stop_ok(t.d);
	t.d = NULL;
	CTL(&t, &r, 69, "status");
	want = harness_asprintf("chatctl: cannot connect to %s: ", t.sock);
	STARTS(r.err, want);
	free(want);
	ctx_stop(&t);
}
END_TEST

/* Who may use the socket ------------------------------------------------- */

/*
 * Makes the way to t's socket open to others (the harness's directories
 * are 0700); 0 if this test cannot run here, after saying why.
 */
static int
nobody_setup(struct ctx *t, const char *test)
{
	struct passwd	*pw;

	if (geteuid() != 0) {
		harness_skip(test, "not root: cannot run chatctl as nobody");
		return 0;
	}
	if ((pw = getpwnam("nobody")) == NULL) {
		harness_skip(test, "no user nobody");
		return 0;
	}
	as_uid = pw->pw_uid;
	as_gid = pw->pw_gid;
	if (chmod(harness_root(), 0711) == -1 || chmod(t->dir, 0711) == -1)
		ck_abort_msg("chmod: %s", strerror(errno));
	return 1;
}

/*
 * chatctl run by a user who is neither root, nor chatd's, nor in
 * [control] group: the socket's mode keeps it out (69); let through the
 * file system, chatd refuses it (1) and logs its uid.
 */
START_TEST(test_not_permitted)
{
	struct ctx	 t;
	struct run	 r;
	char		*want;

	ctx_start(&t, NULL);
	CTL(&t, &r, 0, "status");
	if (!nobody_setup(&t, "test_not_permitted")) {
		ctx_stop(&t);
		return;
	}
	/* chatd made it 0660, its own user and no [control] group. */
	ctl_run(&t, &r, (char *const []){ "status", NULL });
	if (r.status == EXEC_DENIED) {
		harness_skip("test_not_permitted", "nobody cannot run %s",
		    chatctl_bin());
		as_uid = 0;
		ctx_stop(&t);
		return;
	}
	ck_assert_msg(r.status == 69, "chatctl as nobody, socket 0660: exit "
	    "%d; stderr:\n%s", r.status, r.err);
	want = harness_asprintf("chatctl: cannot connect to %s: permission "
	    "denied (root, chatd's user and [control] group may use it)\n",
	    t.sock);
	IS(r.err, want);
	free(want);

	ck_assert_int_eq(chmod(t.sock, 0666), 0);
	CTL(&t, &r, 1, "status");
	IS(r.err, "chatctl: permission denied\n");
	want = harness_asprintf("control: connection from uid %ld refused",
	    (long)as_uid);
	chatd_wait_log(t.d, want);
	free(want);
	CTL(&t, &r, 1, "--json", "kick", "alice");
	IS(r.err, "chatctl: permission denied\n");
	as_uid = 0;
	CTL(&t, &r, 0, "status");
	ctx_stop(&t);
}
END_TEST

/* A member of [control] group may: the socket is given that group. */
START_TEST(test_group_permitted)
{
	struct ctx	 t;
	struct run	 r;
	struct group	*gr;
	struct tc	*a;
	char		*more;

	if (geteuid() != 0) {
		harness_skip("test_group_permitted", "not root: cannot run "
		    "chatctl as nobody");
		return;
	}
	if (getpwnam("nobody") == NULL ||
	    (gr = getgrgid(getpwnam("nobody")->pw_gid)) == NULL) {
		harness_skip("test_group_permitted", "no user nobody, or no "
		    "group of its");
		return;
	}
	more = harness_asprintf("group = %s\n", gr->gr_name);
	ctx_start(&t, more);
	free(more);
	if (!nobody_setup(&t, "test_group_permitted")) {
		ctx_stop(&t);
		return;
	}
	a = join(&t, "alice");
	ctl_run(&t, &r, (char *const []){ "who", NULL });
	if (r.status == EXEC_DENIED) {
		harness_skip("test_group_permitted", "nobody cannot run %s",
		    chatctl_bin());
		as_uid = 0;
		tc_close(a);
		ctx_stop(&t);
		return;
	}
	ck_assert_msg(r.status == 0, "chatctl who as nobody, in [control] "
	    "group: exit %d; stderr:\n%s", r.status, r.err);
	MATCH(r.out, "^[0-9]+ +alice ");
	CTL(&t, &r, 0, "kick", "alice");
	tc_expect_line(a, "*** you have been kicked");
	tc_expect_eof(a);
	tc_close(a);
	as_uid = 0;
	ctx_stop(&t);
}
END_TEST

static Suite *
e2e_chatctl_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_chatctl");

	tc = tcase_create("cli");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_request_length);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_protocol);
	tcase_add_test(tc, test_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_who);
	tcase_add_test(tc, test_rooms);
	tcase_add_test(tc, test_kick);
	tcase_add_test(tc, test_ban_name);
	tcase_add_test(tc, test_ban_address);
	tcase_add_test(tc, test_mute);
	tcase_add_test(tc, test_announce);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_connection);
	tcase_add_test(tc, test_chatd_stopped);
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_not_permitted);
	tcase_add_test(tc, test_group_permitted);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_chatctl_suite());
}
