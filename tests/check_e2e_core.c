/*
 * End-to-end tests of the core daemon: relaying between clients, line
 * framing, empty lines, disconnects and resets, IPv6, config errors, the
 * command line, a port already in use, and shutdown on SIGTERM.
 *
 * Every test starts its own chatd through the harness (a private directory,
 * a free loopback port, READY=1 over NOTIFY_SOCKET) and ends with
 * chatd_stop_ok(), which wants exit status 0, so a daemon run under
 * valgrind with --error-exitcode reports leaks and errors in every test.
 *
 * Negatives are proved by order, never by silence: to show that a line did
 * not reach a client, a later line is sent on the same path and must be the
 * next one that client reads. No test waits for "nothing within N ms" and
 * none asserts timing; the waits are guards of HARNESS_WAIT_MS.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"0.1.0"
#endif

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120
#define OUTLEN		8192

#define WELCOME(name, n)	CHATD_WELCOME("e2etest", name, n)

/* 1. Each line reaches both others with the sender's name, never the sender. */
START_TEST(test_relay_three)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start("name = e2etest\n");
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	/* Each ->line still holds that client's welcome line. */
	ck_assert_msg(strcmp(a->line, WELCOME("guest1", "no others")) == 0 &&
	    strcmp(b->line, WELCOME("guest2", "1 other")) == 0 &&
	    strcmp(c->line, WELCOME("guest3", "2 others")) == 0,
	    "welcome lines:\n got  '%s'\n want '%s'\n got  '%s'\n want '%s'\n"
	    " got  '%s'\n want '%s'", a->line, WELCOME("guest1", "no others"),
	    b->line, WELCOME("guest2", "1 other"), c->line,
	    WELCOME("guest3", "2 others"));
	ck_assert_str_eq(a->name, "guest1");
	ck_assert_int_eq(a->others, 0);
	ck_assert_int_eq(c->others, 2);

	tc_expect_line(a, "*** guest2 joined");
	tc_expect_line(a, "*** guest3 joined");
	tc_expect_line(b, "*** guest3 joined");

	tc_send(a, "hello from a\n");
	tc_expect_chat(b, "<guest1> hello from a");
	tc_expect_chat(c, "<guest1> hello from a");

	/* a's next chat line is b's: a did not get its own line back. */
	tc_send(b, "hello from b\n");
	tc_expect_chat(a, "<guest2> hello from b");
	tc_expect_chat(c, "<guest2> hello from b");

	tc_send(c, "hello from c\n");
	tc_expect_chat(a, "<guest3> hello from c");
	tc_expect_chat(b, "<guest3> hello from c");

	tc_send(a, "again from a\n");
	tc_expect_chat(b, "<guest1> again from a");
	tc_expect_chat(c, "<guest1> again from a");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* 2. LF and CRLF both end a line; the relayed text carries neither. */
START_TEST(test_line_endings)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*l;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);

	/* tc_line() fails the test on any line not ending in CRLF. */
	tc_send(a, "ends in lf\n");
	l = tc_chat(b, W);
	ck_assert_ptr_nonnull(l);
	ck_assert_msg(strpbrk(l, "\r\n") == NULL, "CR or LF in '%s'", l);
	ck_assert_str_eq(l, "<guest1> ends in lf");

	tc_send(a, "ends in crlf\r\n");
	l = tc_chat(b, W);
	ck_assert_ptr_nonnull(l);
	ck_assert_msg(strpbrk(l, "\r\n") == NULL, "CR or LF in '%s'", l);
	ck_assert_str_eq(l, "<guest1> ends in crlf");

	tc_send(b, "crlf from b\r\n");
	l = tc_chat(a, W);
	ck_assert_ptr_nonnull(l);
	ck_assert_msg(strpbrk(l, "\r\n") == NULL, "CR or LF in '%s'", l);
	ck_assert_str_eq(l, "<guest2> crlf from b");

	tc_send(b, "lf from b\n");
	tc_expect_chat(a, "<guest2> lf from b");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * 3. Three lines in one write arrive as three lines in order; one line
 * written in pieces (the pauses only split TCP segments) arrives once,
 * whole.
 */
START_TEST(test_framing)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);

	tc_send(a, "one\ntwo\r\nthree\n");
	tc_expect_chat(b, "<guest1> one");
	tc_expect_chat(b, "<guest1> two");
	tc_expect_chat(b, "<guest1> three");
	tc_expect_chat(c, "<guest1> one");
	tc_expect_chat(c, "<guest1> two");
	tc_expect_chat(c, "<guest1> three");

	tc_send(a, "spl");
	harness_pause_ms(50);
	tc_send(a, "it li");
	harness_pause_ms(50);
	tc_send(a, "ne in pie");
	harness_pause_ms(50);
	tc_send(a, "ces\r");
	harness_pause_ms(50);
	tc_send(a, "\n");
	tc_expect_chat(b, "<guest1> split line in pieces");
	tc_expect_chat(c, "<guest1> split line in pieces");

	/* Relayed once: the next line is the following one. */
	tc_send(a, "after the pieces\n");
	tc_expect_chat(b, "<guest1> after the pieces");
	tc_expect_chat(c, "<guest1> after the pieces");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* 4. Empty lines are not broadcast. */
START_TEST(test_empty_lines)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);

	tc_send(a, "\n");
	tc_send(a, "\r\n");
	tc_send(a, "\n\r\n\n");
	tc_send(a, "not empty\n");
	/* Had an empty line been relayed, "<guest1> " would come first. */
	tc_expect_chat(b, "<guest1> not empty");
	tc_expect_chat(c, "<guest1> not empty");

	tc_send(b, "\r\n\n");
	tc_send(c, "marker\n");
	tc_expect_chat(a, "<guest3> marker");
	tc_expect_chat(b, "<guest3> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* 5a. A client that closes is gone; the others are told and go on. */
START_TEST(test_disconnect)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);

	tc_send(c, "bye\n");
	tc_expect_chat(a, "<guest3> bye");
	tc_expect_chat(b, "<guest3> bye");
	tc_close(c);
	tc_expect_re(a, "^\\*\\*\\* guest3 left \\(.+\\)$", W);
	tc_expect_re(b, "^\\*\\*\\* guest3 left \\(.+\\)$", W);

	tc_send(a, "still here\n");
	tc_expect_chat(b, "<guest1> still here");
	tc_send(b, "me too\n");
	tc_expect_chat(a, "<guest2> me too");

	/* A new client gets a new id, never guest3 again. */
	c = tc_connect(d);
	ck_assert_str_eq(c->name, "guest4");
	tc_send(c, "new here\n");
	tc_expect_chat(a, "<guest4> new here");
	tc_expect_chat(b, "<guest4> new here");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Read chat lines on c until it has na lines "<guest1> a000"... and nb lines
 * "<guest2> b000"..., each sender's in order; any other chat line fails.
 * Returns whether the notice "*** GONE left (" went past (gone may be
 * NULL).
 */
static int
read_stream(struct tc *c, int na, int nb, const char *gone)
{
	char	 want[64], gprefix[64], *l;
	size_t	 glen = 0;
	int	 ia = 0, ib = 0, saw_gone = 0;

	if (gone != NULL) {
		snprintf(gprefix, sizeof gprefix, "*** %s left (", gone);
		glen = strlen(gprefix);
	}
	while (ia < na || ib < nb) {
		l = tc_line(c, W);
		ck_assert_msg(l != NULL, "%s: %s after %d+%d of %d+%d lines; "
		    "recent:\n%s", c->name, c->eof ? "end of file" :
		    "timed out", ia, ib, na, nb, c->seen);
		if (strncmp(l, "*** ", 4) == 0) {
			if (gone != NULL && strncmp(l, gprefix, glen) == 0)
				saw_gone = 1;
			continue;
		}
		if (strncmp(l, "<guest1> ", 9) == 0 && ia < na)
			snprintf(want, sizeof want, "<guest1> a%03d", ia++);
		else if (strncmp(l, "<guest2> ", 9) == 0 && ib < nb)
			snprintf(want, sizeof want, "<guest2> b%03d", ib++);
		else
			ck_abort_msg("%s: unexpected line '%s'", c->name, l);
		ck_assert_str_eq(l, want);
	}
	return saw_gone;
}

/*
 * 5b. A client that resets its connection while others send 200 lines it
 * never read: everyone else gets every line, and the daemon stays up.
 */
START_TEST(test_reset_mid_broadcast)
{
	struct chatd	*d;
	struct tc	*a, *b, *r, *l, *n;
	int		 i, j, gone;

	/* Unthrottled, and no history so late joiners see only new lines. */
	d = chatd_start("[limits]\nrate_lines = 0\n[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	r = tc_connect(d);
	l = tc_connect(d);
	ck_assert_str_eq(r->name, "guest3");

	/* r leaves half a line in the daemon's input buffer too. */
	tc_send(r, "half a line");
	for (i = 0; i < 10; i++) {
		for (j = 0; j < 10; j++)
			tc_send(a, "a%03d\n", i * 10 + j);
		for (j = 0; j < 10; j++)
			tc_send(b, "b%03d\n", i * 10 + j);
		if (i == 2)
			tc_reset(r);
	}

	gone = read_stream(l, 100, 100, "guest3");
	if (!gone)
		tc_expect(l, "*** guest3 left (", W);
	/* Neither sender gets its own lines back. */
	read_stream(a, 0, 100, NULL);
	read_stream(b, 100, 0, NULL);

	n = tc_connect(d);
	ck_assert_str_eq(n->name, "guest5");
	tc_send(a, "after the reset\n");
	tc_expect_chat(n, "<guest1> after the reset");
	tc_expect_chat(b, "<guest1> after the reset");
	tc_expect_chat(l, "<guest1> after the reset");

	tc_close(a);
	tc_close(b);
	tc_close(l);
	tc_close(n);
	chatd_stop_ok(d);
}
END_TEST

/* 6. Listeners on 127.0.0.1 and ::1; clients on both chat. */
START_TEST(test_ipv6)
{
	struct chatd	*d;
	struct tc	*a, *b;
	int		 v6;

	v6 = harness_have_ipv6();
	if (!v6)
		harness_skip("test_ipv6", "::1 cannot be bound here: only the "
		    "127.0.0.1 listener tested");

	d = chatd_start_conf("[server]\nbind = 127.0.0.1 ::1\nport = %d\n");
	if (v6) {
		a = tc_connect_raw(d, AF_INET6);
		tc_welcome(a);
	} else
		a = tc_connect(d);
	b = tc_connect(d);
	ck_assert_str_eq(a->name, "guest1");

	tc_send(a, "from the first listener\n");
	tc_expect_chat(b, "<guest1> from the first listener");
	tc_send(b, "from 127.0.0.1\n");
	tc_expect_chat(a, "<guest2> from 127.0.0.1");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);

	if (!v6)
		return;

	/* The same with a comma and the IPv6 address first. */
	d = chatd_start_conf("[server]\nbind = ::1,127.0.0.1\nport = %d\n");
	a = tc_connect(d);
	b = tc_connect_raw(d, AF_INET6);
	tc_welcome(b);
	tc_send(b, "from ::1\n");
	tc_expect_chat(a, "<guest2> from ::1");
	tc_send(a, "from 127.0.0.1\n");
	tc_expect_chat(b, "<guest1> from 127.0.0.1");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* 7. Bad configs exit 78 saying FILE:LINE: why; a good one passes -t. */
static const struct {
	const char	*file;
	int		 line;
	const char	*why;
} bad_configs[] = {
	/*
	 * chatd checks section headers as it reads them (inih would report
	 * an unknown section only through its first key, unless built with
	 * INI_CALL_HANDLER_ON_NEW_SECTION), so the header's line is named.
	 */
	{ "bad-unknown-section.conf",	6,
	    "unknown section [nosuchsection]" },
	{ "bad-unknown-key.conf",	5,
	    "unknown key 'no_such_key' in section [server]" },
	{ "bad-port-zero.conf",		4,
	    "port: 0 is out of range (1 to 65535)" },
	{ "bad-port-range.conf",	5,
	    "port: 70000 is out of range (1 to 65535)" },
	{ "bad-port-text.conf",		4,
	    "port: 'abc' is not a number" },
	{ "bad-bind-range.conf",	4,
	    "bind: '999.1.1.1' is not a numeric IPv4 or IPv6 address" },
	{ "bad-bind-text.conf",		5,
	    "bind: 'not-an-address' is not a numeric IPv4 or IPv6 address" },
};

START_TEST(test_bad_config)
{
	char	*path, *want, *argv[] = { "-t", "-c", NULL, NULL };

	path = harness_config_path(bad_configs[_i].file);
	want = harness_asprintf("chatd: %s:%d: %s\n", path,
	    bad_configs[_i].line, bad_configs[_i].why);
	argv[2] = path;
	chatd_run_expect(argv, 78, want);

	/* Without -t the same config must not start either. */
	argv[0] = "-c";
	argv[1] = path;
	argv[2] = NULL;
	chatd_run_expect(argv, 78, want);
	free(want);
	free(path);
}
END_TEST

/*
 * What one command queues at once must fit under output_hard_limit, or
 * it drops the client who caused it: a newcomer's welcome (counted as 512
 * bytes), motd (each line with its "*** " and CRLF) and history_bytes of
 * history, and a /who page of who_max lines of up to 160 bytes plus 512.
 * A config where either does not fit is refused (exit 78) by -t and at
 * start, and one where both just fit passes.
 * Seen before (a7f79f1): -t said the first config was OK (the rest: keys).
 */
static const struct {
	const char	*body;		/* after [server] */
	const char	*error;		/* after "chatd: FILE: "; NULL: OK */
} budget_configs[] = {
	/* The defaults (history_bytes 64K) under a 16K hard limit. */
	{ "[limits]\noutput_hard_limit = 16K\noutput_soft_limit = 8K\n",
	  "history_bytes (65536) with the welcome and motd (512 "
	  "bytes) exceeds output_hard_limit (16384): newcomers would be "
	  "dropped\n" },
	/* 512 + "*** hello\r\n" (11) + 15862 is one byte over. */
	{ "[limits]\noutput_hard_limit = 16K\noutput_soft_limit = 8K\n"
	  "[chat]\nmotd = hello\nhistory_bytes = 15862\nwho_max = 99\n",
	  "history_bytes (15862) with the welcome and motd (523 "
	  "bytes) exceeds output_hard_limit (16384): newcomers would be "
	  "dropped\n" },
	/* The greeting fits; 100 x 160 + 512 = 16512 does not. */
	{ "[limits]\noutput_hard_limit = 16K\noutput_soft_limit = 8K\n"
	  "[chat]\nmotd = hello\nhistory_bytes = 15861\n",
	  "who_max (100) pages of up to 160 bytes a line exceed "
	  "output_hard_limit (16384)\n" },
	/* Both just fit: 523 + 15861 and 99 x 160 + 512 = 16352. */
	{ "[limits]\noutput_hard_limit = 16K\noutput_soft_limit = 8K\n"
	  "[chat]\nmotd = hello\nhistory_bytes = 15861\nwho_max = 99\n",
	  NULL },
	/* No hard limit, nothing to fit under. */
	{ "[limits]\noutput_hard_limit = 0\n"
	  "[chat]\nhistory_bytes = 64M\nwho_max = 100000\n", NULL },
};

START_TEST(test_bad_config_output_budget)
{
	char	*dir, *body, *path, *want;
	char	*argv[] = { "-t", "-c", NULL, NULL };

	dir = harness_mkdtemp("budget");
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n%s",
	    harness_free_port(), budget_configs[_i].body);
	path = harness_write_file(dir, "chatd.conf", body);
	argv[2] = path;
	if (budget_configs[_i].error == NULL) {
		want = harness_asprintf("chatd: configuration %s OK\n", path);
		chatd_run_expect(argv, 0, want);
	} else {
		want = harness_asprintf("chatd: %s: %s", path,
		    budget_configs[_i].error);
		chatd_run_expect(argv, 78, want);
		argv[0] = "-c";
		argv[1] = path;
		argv[2] = NULL;
		chatd_run_expect(argv, 78, want);
	}
	harness_rmtree(dir);
	free(want);
	free(path);
	free(body);
	free(dir);
}
END_TEST

START_TEST(test_missing_config)
{
	char	*dir, *path, *want;
	char	*argv[] = { "-t", "-c", NULL, NULL };

	dir = harness_mkdtemp("missing");
	path = harness_asprintf("%s/no-such-file.conf", dir);
	want = harness_asprintf("chatd: %s: %s\n", path, strerror(ENOENT));
	argv[2] = path;
	chatd_run_expect(argv, 78, want);
	harness_rmtree(dir);
	free(want);
	free(path);
	free(dir);
}
END_TEST

/*
 * What chatd says when it cannot listen on 127.0.0.1:port, config path,
 * before it exits 1; free() the result.
 */
static char *
cannot_listen(const char *path, int port)
{
	return harness_asprintf("info: configuration read from %s\n"
	    "warning: cannot listen on 127.0.0.1:%d: %s\n"
	    "error: not starting\n", path, port, strerror(EADDRINUSE));
}

START_TEST(test_good_config)
{
	char	 out[OUTLEN], body[256], *dir, *path, *file, *want;
	char	*argv[] = { "-t", "-c", NULL, NULL };
	int	 st, fd, port;

	file = harness_config_path("good-all-keys.conf");
	argv[2] = file;
	st = chatd_run(argv, out, sizeof out);
	ck_assert_msg(st == 0, "chatd -t -c %s: exit %d; output:\n%s", file,
	    st, out);
	free(file);

	/*
	 * -t opens no socket: with the port held by us, a daemon that tried
	 * to bind it would fail. The run without -t shows that it does.
	 */
	fd = harness_hold_port(&port);
	dir = harness_mkdtemp("good");
	snprintf(body, sizeof body, "[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[limits]\nmax_clients = 5\n", port);
	path = harness_write_file(dir, "chatd.conf", body);
	argv[2] = path;
	st = chatd_run(argv, out, sizeof out);
	ck_assert_msg(st == 0, "chatd -t -c %s: exit %d; output:\n%s", path,
	    st, out);
	argv[0] = "-c";
	argv[1] = path;
	argv[2] = NULL;
	want = cannot_listen(path, port);
	chatd_run_expect(argv, 1, want);
	free(want);
	close(fd);
	harness_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/* 8. -V, -h and a bad option. */
START_TEST(test_command_line)
{
	char	 out[OUTLEN];
	char	*version[] = { "-V", NULL };
	char	*lversion[] = { "--version", NULL };
	char	*help[] = { "-h", NULL }, *lhelp[] = { "--help", NULL };
	char	*bad[] = { "-Z", NULL }, *noarg[] = { "-c", NULL };
	char	*usage, *want;
	int	 st;

	st = chatd_run(version, out, sizeof out);
	ck_assert_msg(st == 0, "-V: exit %d; output:\n%s", st, out);
	ck_assert_msg(strstr(out, "chatd " PACKAGE_VERSION) != NULL,
	    "-V: no 'chatd %s' in output:\n%s", PACKAGE_VERSION, out);
	st = chatd_run(lversion, out, sizeof out);
	ck_assert_msg(st == 0, "--version: exit %d; output:\n%s", st, out);
	ck_assert_msg(strstr(out, "chatd " PACKAGE_VERSION) != NULL,
	    "--version: no 'chatd %s' in output:\n%s", PACKAGE_VERSION, out);

	st = chatd_run(help, out, sizeof out);
	ck_assert_msg(st == 0, "-h: exit %d; output:\n%s", st, out);
	ck_assert_msg(strcasestr(out, "usage") != NULL &&
	    strstr(out, "-c") != NULL, "-h: no usage in output:\n%s", out);
	st = chatd_run(lhelp, out, sizeof out);
	ck_assert_msg(st == 0, "--help: exit %d; output:\n%s", st, out);
	ck_assert_msg(strcasestr(out, "usage") != NULL,
	    "--help: no usage in output:\n%s", out);

	/* getopt's complaint, then the usage -h prints, on stderr. */
	usage = chatd_usage();
	want = harness_asprintf("%s: invalid option -- 'Z'\n%s",
	    getenv("CHATD_BIN"), usage);
	chatd_run_expect(bad, 64, want);
	free(want);
	want = harness_asprintf("%s: option requires an argument -- 'c'\n%s",
	    getenv("CHATD_BIN"), usage);
	chatd_run_expect(noarg, 64, want);
	free(want);
	free(usage);
}
END_TEST

/* 9. A second daemon on a port in use exits 1 and says which. */
START_TEST(test_port_in_use)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		 body[128], *dir, *path, *want;
	char		*argv[] = { "-c", NULL, NULL };

	d = chatd_start(NULL);
	dir = harness_mkdtemp("inuse");
	snprintf(body, sizeof body, "[server]\nbind = 127.0.0.1\nport = %d\n",
	    d->port);
	path = harness_write_file(dir, "chatd.conf", body);
	argv[1] = path;
	want = cannot_listen(path, d->port);
	chatd_run_expect(argv, 1, want);
	free(want);

	/* The first daemon is unharmed. */
	a = tc_connect(d);
	b = tc_connect(d);
	ck_assert_str_eq(a->name, "guest1");
	tc_send(a, "still serving\n");
	tc_expect_chat(b, "<guest1> still serving");

	tc_close(a);
	tc_close(b);
	harness_rmtree(dir);
	free(path);
	free(dir);
	chatd_stop_ok(d);
}
END_TEST

/* 10. SIGTERM: every client is told, then closed; the daemon exits 0. */
START_TEST(test_sigterm)
{
	struct chatd	*d;
	struct tc	*c[10];
	char		*l;
	int		 i, st;

	d = chatd_start(NULL);
	for (i = 0; i < 10; i++)
		c[i] = tc_connect(d);
	/* Everyone is fully connected: guest10 got its welcome. */
	ck_assert_str_eq(c[9]->name, "guest10");

	chatd_kill(d, SIGTERM);
	for (i = 0; i < 10; i++) {
		l = tc_expect(c[i], "*** server shutting down", W);
		ck_assert_str_eq(l, "*** server shutting down");
		tc_expect_eof(c[i]);
	}
	st = chatd_wait(d, HARNESS_STOP_MS);
	ck_assert_msg(st == 0, "exit status %d after SIGTERM (-1: still "
	    "running); log:\n%s", st, chatd_log(d));
	for (i = 0; i < 10; i++)
		tc_close(c[i]);
	chatd_stop_ok(d);
}
END_TEST

static Suite *
e2e_core_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_core");

	tc = tcase_create("relay");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_relay_three);
	tcase_add_test(tc, test_line_endings);
	tcase_add_test(tc, test_framing);
	tcase_add_test(tc, test_empty_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("disconnect");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_disconnect);
	tcase_add_test(tc, test_reset_mid_broadcast);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_port_in_use);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_loop_test(tc, test_bad_config, 0,
	    sizeof bad_configs / sizeof bad_configs[0]);
	tcase_add_loop_test(tc, test_bad_config_output_budget, 0,
	    sizeof budget_configs / sizeof budget_configs[0]);
	tcase_add_test(tc, test_missing_config);
	tcase_add_test(tc, test_good_config);
	tcase_add_test(tc, test_command_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_sigterm);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_core_suite());
}
