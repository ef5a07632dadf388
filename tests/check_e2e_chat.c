/*
 * End-to-end tests of chat mode and raw mode: names and /nick (look-alike
 * names refused), the commands (/help, /who, /me, /msg, /quit, unknown
 * ones, "//" escaping, case-insensitive matching), join and leave notices
 * with their reasons, what a new client receives (welcome, message of the
 * day, history, and nothing more), announce = no, show_addresses, lines
 * that would spoof (bidi controls, invisible characters, padding), and
 * the raw relay.
 *
 * Every test starts its own chatd through the harness and ends with
 * chatd_stop_ok(), which wants exit status 0, so a daemon run under
 * valgrind with --error-exitcode reports leaks and errors in every test.
 *
 * Negatives are proved by order, never by silence: to show that a line did
 * not reach a client, a later line (a "marker") is sent on the same path
 * and must be the very next line that client reads.  Most checks are on
 * the exact next line, so anything extra the daemon sends fails the test.
 * Where the event that must stay silent has no reply of its own (a
 * socket closed or reset), the test first waits for the daemon's log to
 * record the disconnect; see LOG_GONE.  No test waits for "nothing
 * within N ms" and none asserts timing; the waits are guards of
 * HARNESS_WAIT_MS (the idle-timeout test paces its keep-alive lines with
 * short reads, but asserts nothing about when the timeout fires).  The
 * exact texts come from src/chat.c.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "harness.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120
#define WHO_LEN		256	/* room for one /who entry */

/* A history line: "*** [HH:MM] " and the line as it was broadcast. */
#define HIST_RE(text)	"^\\*\\*\\* \\[[0-2][0-9]:[0-5][0-9]\\] " text "$"

/* A /who entry for NAME, with or without the " (you)" mark. */
#define DUR_RE		"[0-9]+[smhd]([0-9][0-9][mh])?"
#define WHO_RE(name, rest) \
	"^\\*\\*\\*   " name " +on " DUR_RE ", idle " DUR_RE rest "$"

/*
 * The test JSON line: the text ends "é ü 漢", written as UTF-8 bytes so
 * that the source does not depend on the compiler's input charset.
 */
#define JSON_LINE	"{\"type\":\"move\",\"x\":1,\"y\":[2,3]," \
	"\"s\":\"\xc3\xa9 \xc3\xbc \xe6\xbc\xa2\"}"

/* Helpers -------------------------------------------------------------- */

/*
 * Fail unless the next line on c is exactly want, byte for byte, ending in
 * CRLF (tc_line() enforces the CRLF and leaves no byte of the line out).
 */
static void
expect_bytes(struct tc *c, const char *want)
{
	char	*l;

	l = tc_line(c, W);
	ck_assert_msg(l != NULL, "%s: expected '%s', got %s", c->name, want,
	    c->eof ? "end of file" : "nothing");
	ck_assert_msg(strlen(l) == strlen(want) &&
	    memcmp(l, want, strlen(want)) == 0,
	    "%s: bytes differ:\n got  '%s' (%zu bytes)\n want '%s' (%zu bytes)",
	    c->name, l, strlen(l), want, strlen(want));
}

/*
 * A log line for chatd_wait_log_re(): client id gone, and why.  The daemon
 * logs a disconnect when it unlinks the client, before its deferred reaper
 * announces the departure; a line a test sends after the wait is read in a
 * later loop pass than that reaper, so a notice it would have sent comes
 * before the test's next line.
 */
#define LOG_GONE(id, why) \
	"client " #id " \\[127\\.0\\.0\\.1\\]:[0-9]+ disconnected: " why "$"

/*
 * Connect guest1, guest2 and guest3 and read the join notices the first two
 * get, so that the next line on each is what the test does next.
 */
static void
join3(struct chatd *d, struct tc **a, struct tc **b, struct tc **c)
{
	*a = tc_connect(d);
	*b = tc_connect(d);
	*c = tc_connect(d);
	tc_expect_line(*a, "*** guest2 joined");
	tc_expect_line(*a, "*** guest3 joined");
	tc_expect_line(*b, "*** guest3 joined");
}

/*
 * Send "/nick name" (with the command spelt cmd) on c, expect the
 * confirmation to c and the announcement "*** OLD is now known as NAME"
 * as the next line on each of the n others.
 */
static void
nick_ok(struct tc *c, const char *cmd, const char *name, struct tc **others,
    int n)
{
	char	 want[128], old[64];
	int	 i;

	snprintf(old, sizeof old, "%s", c->name);
	tc_send(c, "%s %s\n", cmd, name);
	snprintf(want, sizeof want, "*** you are now known as %s", name);
	tc_expect_line(c, want);
	tc_rename(c, name);
	snprintf(want, sizeof want, "*** %s is now known as %s", old, name);
	for (i = 0; i < n; i++)
		tc_expect_line(others[i], want);
}

/*
 * Send "/who" (spelt cmd) on c and read the answer: the header
 * "*** N online:" with N == n, then n entries, stored in out[].
 */
static void
who(struct tc *c, const char *cmd, int n, char out[][WHO_LEN])
{
	char	 want[64];
	int	 i;

	tc_send(c, "%s\n", cmd);
	snprintf(want, sizeof want, "*** %d online:", n);
	tc_expect_line(c, want);
	for (i = 0; i < n; i++) {
		tc_expect_line_re(c, "^\\*\\*\\*   ");
		ck_assert_msg(strlen(c->line) < WHO_LEN, "/who: entry too "
		    "long: '%s'", c->line);
		snprintf(out[i], WHO_LEN, "%.*s", WHO_LEN - 1, c->line);
	}
}

/* The index of the one entry of who() output matching re; fail if not one. */
static int
who_find(char lines[][WHO_LEN], int n, const char *re)
{
	int	i, found = -1;

	for (i = 0; i < n; i++) {
		if (!harness_match(lines[i], re))
			continue;
		ck_assert_msg(found == -1, "/who: two entries match '%s':\n"
		    "'%s'\n'%s'", re, lines[found], lines[i]);
		found = i;
	}
	ck_assert_msg(found != -1, "/who: no entry matches '%s'", re);
	return found;
}

/* Nick --------------------------------------------------------------- */

/*
 * /nick: the sender is told, everyone else sees "*** OLD is now known as
 * NEW", and later lines (chat and /me) carry the new name.
 */
START_TEST(test_nick_change)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *others[2];

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	others[0] = b;
	others[1] = c;
	nick_ok(a, "/nick", "alice", others, 2);

	tc_send(a, "hello as alice\n");
	tc_expect_line(b, "<alice> hello as alice");
	tc_expect_line(c, "<alice> hello as alice");
	tc_send(a, "/me waves\n");
	tc_expect_line(b, "* alice waves");
	tc_expect_line(c, "* alice waves");

	/* a got nothing of its own back: its next line is b's. */
	tc_send(b, "hi alice\n");
	tc_expect_line(a, "<guest2> hi alice");
	tc_expect_line(c, "<guest2> hi alice");

	/* Trailing blanks are not part of the name. */
	others[0] = a;
	others[1] = c;
	tc_send(b, "/nick bob   \n");
	tc_expect_line(b, "*** you are now known as bob");
	tc_rename(b, "bob");
	tc_expect_line(a, "*** guest2 is now known as bob");
	tc_expect_line(c, "*** guest2 is now known as bob");

	/* Renaming again: the announcement names the previous name. */
	others[0] = b;
	others[1] = c;
	nick_ok(a, "/nick", "alice.2-x_Y", others, 2);
	tc_send(c, "marker\n");
	tc_expect_line(a, "<guest3> marker");
	tc_expect_line(b, "<guest3> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Names are unique without regard to case: "Alice" is refused while
 * "alice" is here, the error goes to the sender alone and changes nothing;
 * the owner may change the case of their own name.
 */
START_TEST(test_nick_case_collision)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *others[2];

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	others[0] = b;
	others[1] = c;
	nick_ok(a, "/nick", "alice", others, 2);

	tc_send(b, "/nick Alice\n");
	tc_expect_line(b, "*** name alice is taken");
	tc_send(b, "/nick ALICE\n");
	tc_expect_line(b, "*** name alice is taken");
	tc_send(b, "/nick alice\n");
	tc_expect_line(b, "*** name alice is taken");
	/* Nobody else heard of it, and b is still guest2. */
	tc_send(b, "still guest2\n");
	tc_expect_line(a, "<guest2> still guest2");
	tc_expect_line(c, "<guest2> still guest2");

	/* A case-only change of one's own name is allowed and announced. */
	nick_ok(a, "/nick", "Alice", others, 2);
	tc_send(a, "/nick Alice\n");
	tc_expect_line(a, "*** you are already Alice");
	tc_send(b, "/nick alice\n");
	tc_expect_line(b, "*** name Alice is taken");
	tc_send(a, "after\n");
	tc_expect_line(b, "<Alice> after");
	tc_expect_line(c, "<Alice> after");

	/* The name is free again once its owner has left. */
	tc_send(a, "/quit\n");
	tc_expect_line(a, "*** bye");
	tc_expect_eof(a);
	tc_expect_line(b, "*** Alice left (quit)");
	tc_expect_line(c, "*** Alice left (quit)");
	others[0] = c;
	nick_ok(b, "/nick", "alice", others, 1);

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* Invalid names get one error line, to the sender alone. */
static const struct {
	const char	*line;
	const char	*error;
} bad_nicks[] = {
#define INVALID	"*** invalid name: use 1 to 24 letters, digits, _, - or ."
#define USAGE	"*** usage: /nick NAME"
#define GUEST	"*** invalid name: guest names are reserved"
	{ "/nick",				USAGE },
	{ "/nick   ",				USAGE },
	{ "/nick abcdefghijklmnopqrstuvwxy",	INVALID },	/* 25 */
	{ "/nick two words",			INVALID },
	{ "/nick a@b",				INVALID },
	{ "/nick @",				INVALID },
	{ "/nick al!ce",			INVALID },
	{ "/nick caf\xc3\xa9",			INVALID },	/* café */
	{ "/nick \xe6\xbc\xa2",			INVALID },	/* 漢 */
	{ "/nick tab\there",			INVALID },
	{ "/nick guest99",			GUEST },
	{ "/nick GUEST1",			GUEST },
#undef GUEST
#undef USAGE
#undef INVALID
};

START_TEST(test_nick_invalid)
{
	struct chatd	*d;
	struct tc	*a, *b, *others[1];
	size_t		 i;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	for (i = 0; i < sizeof bad_nicks / sizeof bad_nicks[0]; i++) {
		tc_send(b, "%s\n", bad_nicks[i].line);
		tc_expect_line(b, bad_nicks[i].error);
	}
	/* a heard nothing, and b is still guest2. */
	tc_send(b, "after the bad names\n");
	tc_expect_line(a, "<guest2> after the bad names");

	/* 24 characters is the longest name. */
	others[0] = a;
	nick_ok(b, "/nick", "abcdefghijklmnopqrstuvwx", others, 1);
	tc_send(b, "long name\n");
	tc_expect_line(a, "<abcdefghijklmnopqrstuvwx> long name");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * guestN is reserved: another N (even one that is not connected) is
 * refused, one's own guest name is accepted back, in any case.
 */
START_TEST(test_nick_guest)
{
	struct chatd	*d;
	struct tc	*a, *b, *others[1];

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");
	others[0] = a;

	tc_send(b, "/nick guest99\n");
	tc_expect_line(b, "*** invalid name: guest names are reserved");
	nick_ok(b, "/nick", "bob", others, 1);
	/* a's own guest name, now that a is someone else. */
	others[0] = b;
	nick_ok(a, "/nick", "alice", others, 1);
	tc_send(b, "/nick guest1\n");
	tc_expect_line(b, "*** invalid name: guest names are reserved");

	/* b's own guest name is accepted back. */
	others[0] = a;
	nick_ok(b, "/nick", "guest2", others, 1);
	nick_ok(b, "/nick", "bob", others, 1);
	nick_ok(b, "/nick", "Guest2", others, 1);
	tc_send(b, "back\n");
	tc_expect_line(a, "<Guest2> back");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Names a reader cannot tell from one present are refused: with guest1
 * here, guest2 may not become guestl, guest1. or Guest-1 (guest names are
 * reserved by their folded key); with alice here, not AL1CE, al.ice or
 * a_lice (too like alice), nor ALICE (taken).  Each refusal goes to the
 * asker alone, who keeps its name; nobody sees an announcement.
 * Seen before (a7f79f1): "*** you are now known as guestl" for guest2.
 */
static const struct {
	const char	*nick;
	const char	*error;
} lookalikes[] = {
#define RESERVED	"*** invalid name: guest names are reserved"
	{ "guestl",	RESERVED },
	{ "guest1.",	RESERVED },
	{ "Guest-1",	RESERVED },
	{ "GUESTI",	RESERVED },
#undef RESERVED
	{ "AL1CE",	"*** name AL1CE is too like alice, who is here" },
	{ "al.ice",	"*** name al.ice is too like alice, who is here" },
	{ "a_lice",	"*** name a_lice is too like alice, who is here" },
	{ "aIice",	"*** name aIice is too like alice, who is here" },
	{ "ALICE",	"*** name alice is taken" },
};

START_TEST(test_lookalike_names_refused)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *others[2];
	size_t		 i;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	for (i = 0; i < 4; i++) {
		tc_send(b, "/nick %s\n", lookalikes[i].nick);
		tc_expect_line(b, lookalikes[i].error);
	}
	tc_send(b, "still guest2\n");
	tc_expect_line(a, "<guest2> still guest2");
	tc_expect_line(c, "<guest2> still guest2");

	others[0] = b;
	others[1] = c;
	nick_ok(a, "/nick", "alice", others, 2);
	for (i = 4; i < sizeof lookalikes / sizeof lookalikes[0]; i++) {
		tc_send(b, "/nick %s\n", lookalikes[i].nick);
		tc_expect_line(b, lookalikes[i].error);
	}
	/* b is still guest2, and neither a nor c heard of any of it. */
	tc_send(b, "guest2 after all\n");
	tc_expect_line(a, "<guest2> guest2 after all");
	tc_expect_line(c, "<guest2> guest2 after all");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* Commands ------------------------------------------------------------ */

/*
 * /who lists everyone here with time connected and idle time, marks the
 * asker "(you)", and shows no address by default.
 */
START_TEST(test_who)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *others[2];
	char		 lines[3][WHO_LEN];
	int		 i;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);
	others[0] = a;
	others[1] = c;
	nick_ok(b, "/nick", "bob", others, 2);

	who(a, "/who", 3, lines);
	who_find(lines, 3, WHO_RE("guest1", " \\(you\\)"));
	who_find(lines, 3, WHO_RE("bob", ""));
	who_find(lines, 3, WHO_RE("guest3", ""));
	for (i = 0; i < 3; i++)
		ck_assert_msg(strstr(lines[i], "127.0.0.1") == NULL &&
		    strstr(lines[i], "from") == NULL,
		    "/who shows an address: '%s'", lines[i]);

	who(b, "/who", 3, lines);
	who_find(lines, 3, WHO_RE("guest1", ""));
	who_find(lines, 3, WHO_RE("bob", " \\(you\\)"));
	who_find(lines, 3, WHO_RE("guest3", ""));

	/* Addresses are for the log. */
	ck_assert_msg(strstr(chatd_log(d), "127.0.0.1") != NULL,
	    "no peer address in the log:\n%s", chatd_log(d));

	/* That was all, and nobody else saw the answers. */
	tc_send(c, "marker\n");
	tc_expect_line(a, "<guest3> marker");
	tc_expect_line(b, "<guest3> marker");

	/* Someone who left is not listed. */
	tc_close(c);
	tc_expect_line(a, "*** guest3 left (connection closed)");
	who(a, "/who", 2, lines);
	who_find(lines, 2, WHO_RE("guest1", " \\(you\\)"));
	who_find(lines, 2, WHO_RE("bob", ""));

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* With show_addresses = yes, joins and /who show the peer address. */
START_TEST(test_who_addresses)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		 lines[2][WHO_LEN];

	d = chatd_start("[chat]\nshow_addresses = yes\n");
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined from 127.0.0.1");

	who(a, "/who", 2, lines);
	who_find(lines, 2,
	    WHO_RE("guest1", ", from 127\\.0\\.0\\.1 \\(you\\)"));
	who_find(lines, 2, WHO_RE("guest2", ", from 127\\.0\\.0\\.1"));

	tc_send(b, "marker\n");
	tc_expect_line(a, "<guest2> marker");
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* /me ACTION reaches the others as "* NAME ACTION"; bare /me is usage. */
START_TEST(test_me)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	tc_send(a, "/me waves at everyone\n");
	tc_expect_line(b, "* guest1 waves at everyone");
	tc_expect_line(c, "* guest1 waves at everyone");

	tc_send(a, "/me\n");
	tc_expect_line(a, "*** usage: /me ACTION");
	tc_send(a, "/me   \n");
	tc_expect_line(a, "*** usage: /me ACTION");

	/* Neither usage error was broadcast; a did not get its action. */
	tc_send(b, "marker\n");
	tc_expect_line(a, "<guest2> marker");
	tc_expect_line(c, "<guest2> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * /msg NAME TEXT: only NAME gets "*SENDER* TEXT", the sender gets a
 * confirmation, a missing user is an error; the name is matched without
 * regard to case; private messages are not history.
 */
START_TEST(test_msg)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *n, *others[2];

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	tc_send(a, "/msg guest2 the secret is 42\n");
	tc_expect_line(b, "*guest1* the secret is 42");
	tc_expect_line(a, "*** message sent to guest2");
	/* c did not get it: c's next line is the marker. */
	tc_send(a, "marker one\n");
	tc_expect_line(c, "<guest1> marker one");
	tc_expect_line(b, "<guest1> marker one");

	/* Missing user, usage, and oneself: errors to the sender alone. */
	tc_send(a, "/msg nobody hello?\n");
	tc_expect_line(a, "*** no such user: nobody");
	tc_send(a, "/msg guest2\n");
	tc_expect_line(a, "*** usage: /msg NAME TEXT");
	tc_send(a, "/msg\n");
	tc_expect_line(a, "*** usage: /msg NAME TEXT");
	tc_send(a, "/msg guest1 to myself\n");
	tc_expect_line(a, "*** that is you");

	/*
	 * The target's name in any case; the text is sanitised like any
	 * line, so its runs of spaces are one space.
	 */
	others[0] = a;
	others[1] = c;
	nick_ok(b, "/nick", "Bob", others, 2);
	tc_send(c, "/msg bOB  psst,   bob\n");
	tc_expect_line(b, "*guest3* psst, bob");
	tc_expect_line(c, "*** message sent to Bob");
	tc_send(c, "/msg BOB again\n");
	tc_expect_line(b, "*guest3* again");
	tc_expect_line(c, "*** message sent to Bob");

	tc_send(b, "marker two\n");
	tc_expect_line(a, "<Bob> marker two");
	tc_expect_line(c, "<Bob> marker two");

	/* A newcomer's history holds the public lines only. */
	n = tc_connect(d);
	tc_expect_line_re(n, HIST_RE("<guest1> marker one"));
	tc_expect_line_re(n, HIST_RE("<Bob> marker two"));
	tc_send(a, "marker three\n");
	tc_expect_line(n, "<guest1> marker three");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	tc_close(n);
	chatd_stop_ok(d);
}
END_TEST

/*
 * /msg to a name longer than any name (24) is to no one: with
 * abcdefghijklmnopqrstuvwx here, "/msg abcdefghijklmnopqrstuvwxYZ hi"
 * gets "no such user", quoting 24 characters and "...", and the 24-letter
 * client gets nothing (its next line is a later marker).  A name of 500
 * characters is quoted the same way.
 * Seen before (a7f79f1): only the text: "no such user: ...wxYZ", in full.
 */
START_TEST(test_msg_long_name_not_truncated)
{
	struct chatd	*d;
	struct tc	*a, *b, *others[1];
	char		 name[501];

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");
	others[0] = b;
	nick_ok(a, "/nick", "abcdefghijklmnopqrstuvwx", others, 1);

	tc_send(b, "/msg abcdefghijklmnopqrstuvwxYZ hi\n");
	tc_expect_line(b, "*** no such user: abcdefghijklmnopqrstuvwx...");
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	tc_send(b, "/msg %s hi\n", name);
	tc_expect_line(b, "*** no such user: nnnnnnnnnnnnnnnnnnnnnnnn...");
	/* The same name, exactly, is delivered. */
	tc_send(b, "/msg abcdefghijklmnopqrstuvwx psst\n");
	tc_expect_line(a, "*guest2* psst");
	tc_expect_line(b, "*** message sent to abcdefghijklmnopqrstuvwx");

	tc_send(b, "marker\n");
	tc_expect_line(a, "<guest2> marker");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* /help lists every command, to the asker alone. */
START_TEST(test_help)
{
	static const char	*cmds[] = { "/help", "/who", "/nick", "/me",
	    "/msg", "/quit" };
	struct chatd		*d;
	struct tc		*a, *b;
	char			*l;
	int			 seen[6] = { 0 }, lines = 0;
	size_t			 i, n;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	/*
	 * a's commands are answered in order: everything before the answer
	 * to the unknown command is the help text.
	 */
	tc_send(a, "/help\n/end-of-help\n");
	for (;;) {
		l = tc_line(a, W);
		ck_assert_msg(l != NULL, "/help: %s before the marker; "
		    "seen:\n%s", a->eof ? "end of file" : "timed out",
		    a->seen);
		if (strcmp(l, "*** unknown command /end-of-help (try /help)")
		    == 0)
			break;
		ck_assert_msg(strncmp(l, "*** ", 4) == 0,
		    "/help: line not a notice: '%s'", l);
		lines++;
		for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
			n = strlen(cmds[i]);
			/* "/msg" must not be found inside "/msgs" etc. */
			if (strstr(l, cmds[i]) != NULL &&
			    strchr(" \0", strstr(l, cmds[i])[n]) != NULL)
				seen[i] = 1;
		}
	}
	ck_assert_msg(lines > 0, "/help: no help lines");
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		ck_assert_msg(seen[i], "/help does not list %s; it said:\n%s",
		    cmds[i], a->seen);

	/* b did not get the help text: its next line is a's. */
	tc_send(a, "marker back\n");
	tc_expect_line(b, "<guest1> marker back");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * An unknown command, and "/" alone, get an error and are not broadcast;
 * "//text" is chat with one '/' removed.
 */
START_TEST(test_unknown_and_escape)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	tc_send(a, "/foo bar baz\n");
	tc_expect_line(a, "*** unknown command /foo (try /help)");
	tc_send(a, "/FOO\n");
	tc_expect_line(a, "*** unknown command /FOO (try /help)");
	tc_send(a, "/\n");
	tc_expect_line(a, "*** unknown command / (try /help)");
	tc_send(a, "/nickname bob\n");
	tc_expect_line(a, "*** unknown command /nickname (try /help)");

	/* None of those reached b or c: their next line is this one. */
	tc_send(a, "//shrug\n");
	tc_expect_line(b, "<guest1> /shrug");
	tc_expect_line(c, "<guest1> /shrug");
	tc_send(a, "///two slashes\n");
	tc_expect_line(b, "<guest1> //two slashes");
	tc_expect_line(c, "<guest1> //two slashes");
	tc_send(a, "//\n");
	tc_expect_line(b, "<guest1> /");
	tc_expect_line(c, "<guest1> /");
	tc_send(a, "//nick bob\n");
	tc_expect_line(b, "<guest1> /nick bob");
	tc_expect_line(c, "<guest1> /nick bob");
	/* A '/' later in the line is just text. */
	tc_send(a, "a/b and /c\n");
	tc_expect_line(b, "<guest1> a/b and /c");
	tc_expect_line(c, "<guest1> a/b and /c");

	/* "//nick bob" renamed nobody; a got nothing of its own back. */
	tc_send(b, "marker\n");
	tc_expect_line(a, "<guest2> marker");
	tc_expect_line(c, "<guest2> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* Commands are matched without regard to case. */
START_TEST(test_command_case)
{
	struct chatd	*d;
	struct tc	*a, *b, *others[1];
	char		 lines[2][WHO_LEN];

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	tc_send(a, "/HELP\n");
	tc_expect_line(a, "*** commands:");
	tc_send(b, "marker one\n");
	tc_expect(a, "<guest2> marker one", W);

	who(a, "/Who", 2, lines);
	who_find(lines, 2, WHO_RE("guest1", " \\(you\\)"));
	who(b, "/WHO", 2, lines);
	who_find(lines, 2, WHO_RE("guest2", " \\(you\\)"));

	others[0] = b;
	nick_ok(a, "/NiCk", "carol", others, 1);
	others[0] = a;
	nick_ok(b, "/NICK", "dave", others, 1);

	tc_send(a, "/ME jumps\n");
	tc_expect_line(b, "* carol jumps");
	tc_send(a, "/Me hops\n");
	tc_expect_line(b, "* carol hops");

	tc_send(b, "/MSG Carol psst\n");
	tc_expect_line(a, "*dave* psst");
	tc_expect_line(b, "*** message sent to carol");
	tc_send(b, "/mSg carol psst again\n");
	tc_expect_line(a, "*dave* psst again");
	tc_expect_line(b, "*** message sent to carol");

	tc_send(b, "/QuIt Bye Now\n");
	tc_expect_line(b, "*** bye");
	tc_expect_eof(b);
	tc_expect_line(a, "*** dave left (quit: Bye Now)");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* Spoofing ------------------------------------------------------------- */

/* UTF-8 of the format characters the sanitiser removes or turns to space. */
#define U_ALM		"\xd8\x9c"		/* U+061C */
#define U_MVS		"\xe1\xa0\x8e"		/* U+180E */
#define U_ZWSP		"\xe2\x80\x8b"		/* U+200B */
#define U_ZWNJ		"\xe2\x80\x8c"		/* U+200C */
#define U_ZWJ		"\xe2\x80\x8d"		/* U+200D */
#define U_LRM		"\xe2\x80\x8e"		/* U+200E */
#define U_RLM		"\xe2\x80\x8f"		/* U+200F */
#define U_LSEP		"\xe2\x80\xa8"		/* U+2028 */
#define U_PSEP		"\xe2\x80\xa9"		/* U+2029 */
#define U_LRE		"\xe2\x80\xaa"		/* U+202A */
#define U_RLE		"\xe2\x80\xab"		/* U+202B */
#define U_PDF		"\xe2\x80\xac"		/* U+202C */
#define U_LRO		"\xe2\x80\xad"		/* U+202D */
#define U_RLO		"\xe2\x80\xae"		/* U+202E */
#define U_WJ		"\xe2\x81\xa0"		/* U+2060 */
#define U_INVPLUS	"\xe2\x81\xa4"		/* U+2064 */
#define U_LRI		"\xe2\x81\xa6"		/* U+2066 */
#define U_RLI		"\xe2\x81\xa7"		/* U+2067 */
#define U_FSI		"\xe2\x81\xa8"		/* U+2068 */
#define U_PDI		"\xe2\x81\xa9"		/* U+2069 */
#define U_ISS		"\xe2\x81\xaa"		/* U+206A */
#define U_NODS		"\xe2\x81\xaf"		/* U+206F */
#define U_BOM		"\xef\xbb\xbf"		/* U+FEFF */
#define U_IAA		"\xef\xbf\xb9"		/* U+FFF9 */
#define U_IAT		"\xef\xbf\xbb"		/* U+FFFB */
#define U_TAG_A		"\xf3\xa0\x81\x81"	/* U+E0041 */

/*
 * A line cannot reorder or hide its text: bidi controls and invisible
 * format characters between letters are removed, and the line and
 * paragraph separators become a space, so the other client gets the
 * letters as typed.
 * Seen before (a7f79f1): every one of them was relayed as it came.
 */
START_TEST(test_bidi_and_invisible_removed)
{
	struct chatd	*d;
	struct tc	*a, *b;

	d = chatd_start("[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	tc_send(a, "a" U_RLO "b" U_LRI "c" U_ZWSP "d" U_BOM "e" U_LSEP "f\n");
	expect_bytes(b, "<guest1> abcde f");
	/* "Trojan Source": an override makes "gpj.exe" read "exe.jpg". */
	tc_send(a, "see photo" U_RLO "gpj.exe\n");
	expect_bytes(b, "<guest1> see photogpj.exe");
	/* Every range, once. */
	tc_send(a, "1" U_ALM "2" U_MVS "3" U_ZWSP "4" U_ZWNJ "5" U_ZWJ "6"
	    U_LRM "7" U_RLM "8" U_LRE "9" U_RLE "a" U_PDF "b" U_LRO "c" U_RLO
	    "d" U_WJ "e" U_INVPLUS "f" U_LRI "g" U_RLI "h" U_FSI "i" U_PDI
	    "j" U_ISS "k" U_NODS "l" U_BOM "m" U_IAA "n" U_IAT "o" U_TAG_A
	    "p" U_LSEP "q" U_PSEP "r\n");
	expect_bytes(b, "<guest1> 123456789abcdefghijklmnop q r");
	/* A line of nothing else is not relayed: the marker comes next. */
	tc_send(a, U_RLO U_ZWSP U_BOM U_LRI "\n");
	tc_send(a, "marker\n");
	expect_bytes(b, "<guest1> marker");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Padding cannot push text to where it reads as the server's: 200 spaces
 * and "*** admin: x" reach the other client as "<guest1>  *** admin: x",
 * the one space of the format and the one a run of spaces is squeezed
 * to.  TABs, separators and removed sequences between spaces join the
 * run.
 * Seen before (a7f79f1): "<guest1> ", 200 spaces, "*** admin: x".
 */
START_TEST(test_space_padding_collapsed)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		 pad[256];

	d = chatd_start("[chat]\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	memset(pad, ' ', 200);
	pad[200] = '\0';
	tc_send(a, "%s*** admin: x\n", pad);
	expect_bytes(b, "<guest1>  *** admin: x");
	tc_send(a, "hi%sthere%s\n", pad, pad);
	expect_bytes(b, "<guest1> hi there ");
	tc_send(a, "a \t \t" U_LSEP "  \x1b[0m  " U_PSEP "\t b\n");
	expect_bytes(b, "<guest1> a b");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* Leaving -------------------------------------------------------------- */

/* /quit [REASON]: "*** bye", closed; others see "left (quit: REASON)". */
START_TEST(test_quit)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *e, *others[3];

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	e = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");
	tc_expect_line(a, "*** guest3 joined");
	tc_expect_line(a, "*** guest4 joined");
	tc_expect_line(b, "*** guest3 joined");
	tc_expect_line(b, "*** guest4 joined");
	tc_expect_line(c, "*** guest4 joined");
	others[0] = a;
	others[1] = c;
	others[2] = e;
	nick_ok(b, "/nick", "bob", others, 3);

	/* The name shown is the current one; the reason is kept as typed. */
	tc_send(b, "/quit going home: see you (later)\n");
	tc_expect_line(b, "*** bye");
	tc_expect_eof(b);
	tc_expect_line(a, "*** bob left (quit: going home: see you (later))");
	tc_expect_line(c, "*** bob left (quit: going home: see you (later))");
	tc_expect_line(e, "*** bob left (quit: going home: see you (later))");

	tc_send(c, "/quit\n");
	tc_expect_line(c, "*** bye");
	tc_expect_eof(c);
	tc_expect_line(a, "*** guest3 left (quit)");
	tc_expect_line(e, "*** guest3 left (quit)");

	/* Trailing blanks alone are no reason. */
	tc_send(e, "/quit   \n");
	tc_expect_line(e, "*** bye");
	tc_expect_eof(e);
	tc_expect_line(a, "*** guest4 left (quit)");

	/* Lines after /quit in the same write are not run or relayed. */
	tc_close(b);
	tc_close(c);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest5 joined");
	tc_send(b, "/quit first\nthis is not relayed\n/nick zed\n");
	tc_expect_line(b, "*** bye");
	tc_expect_eof(b);
	tc_expect_line(a, "*** guest5 left (quit: first)");
	c = tc_connect(d);
	tc_expect_line(a, "*** guest6 joined");
	tc_send(c, "marker\n");
	tc_expect_line(a, "<guest6> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	tc_close(e);
	chatd_stop_ok(d);
}
END_TEST

/*
 * A long reason is shown whole: nothing in the requirement or the manual
 * bounds it below max_line (4096 by default).
 */
START_TEST(test_quit_long_reason)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		 reason[1001], want[1100], *l;
	size_t		 n;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");

	memset(reason, 'r', sizeof reason - 1);
	reason[sizeof reason - 1] = '\0';
	memcpy(reason + sizeof reason - 5, " end", 4);
	tc_send(b, "/quit %s\n", reason);
	tc_expect_line(b, "*** bye");
	tc_expect_eof(b);
	snprintf(want, sizeof want, "*** guest2 left (quit: %s)", reason);
	l = tc_line(a, W);
	ck_assert_msg(l != NULL, "guest1: no line (%s)", a->eof ?
	    "end of file" : "timed out");
	n = strlen(l);
	ck_assert_msg(strcmp(l, want) == 0, "guest1: the left notice is %zu "
	    "bytes, want %zu; it ends '...%s', want '...%s'", n, strlen(want),
	    l + (n > 20 ? n - 20 : 0), want + strlen(want) - 20);

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* A client that closes its socket: "left (connection closed)". */
START_TEST(test_left_closed)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	/* b has read everything, so close() sends a FIN, not a reset. */
	tc_close(b);
	tc_expect_line(a, "*** guest2 left (connection closed)");
	tc_expect_line(c, "*** guest2 left (connection closed)");

	/* A line sent just before the close is delivered first. */
	tc_send(c, "last words\n");
	tc_close(c);
	tc_expect_line(a, "<guest3> last words");
	tc_expect_line(a, "*** guest3 left (connection closed)");

	tc_close(a);
	chatd_stop_ok(d);
}
END_TEST

/* A client that resets its connection: "left (connection reset)". */
START_TEST(test_left_reset)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start(NULL);
	join3(d, &a, &b, &c);

	tc_reset(b);
	tc_expect_line(a, "*** guest2 left (connection reset)");
	tc_expect_line(c, "*** guest2 left (connection reset)");

	tc_send(c, "still here\n");
	tc_expect_line(a, "<guest3> still here");

	tc_close(a);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * idle_timeout: a silent client is told and dropped; the others see
 * "left (timed out)".  The observer must not be idle itself, so it sends a
 * line every 200 ms until the notice comes (no timing is asserted).
 */
START_TEST(test_left_timeout)
{
	struct chatd	*d;
	struct tc	*a, *v;
	char		*l;
	struct timespec	 t0, t1;
	int		 pings = 0;

	d = chatd_start("[limits]\nidle_timeout = 1\nrate_lines = 0\n"
	    "[chat]\nhistory = 0\n");
	v = tc_connect(d);
	a = tc_connect(d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		tc_send(a, "ping %d\n", pings++);
		l = tc_line(a, 200);
		if (l != NULL) {
			ck_assert_str_eq(l, "*** guest1 left (timed out)");
			break;
		}
		ck_assert_msg(!a->eof, "the observer was closed; seen:\n%s",
		    a->seen);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_assert_msg(t1.tv_sec - t0.tv_sec < W / 1000,
		    "no 'left (timed out)' within %d ms", W);
	}
	/* The victim was told why before it was closed. */
	tc_expect_line(v, "*** guest2 joined");
	tc_expect_line(v, "<guest2> ping 0");
	tc_expect_re(v, "^\\*\\*\\* idle for 1 seconds?, disconnecting$", W);
	tc_expect_eof(v);

	tc_close(a);
	tc_close(v);
	chatd_stop_ok(d);
}
END_TEST

/* Joining ------------------------------------------------------------- */

/*
 * A new client gets the welcome, the message of the day (two lines, the
 * second an indented continuation in the config) and the last `history`
 * lines marked as history, in that order, and nothing more.
 */
START_TEST(test_join_motd_history)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	int		 i;

	d = chatd_start("name = chattest\n[chat]\nhistory = 3\n"
	    "motd = Welcome to the test room.\n"
	    "  Be kind; no spam.\n");
	a = tc_connect(d);
	ck_assert_str_eq(a->line,
	    CHATD_WELCOME("chattest", "guest1", "no others"));
	tc_expect_line(a, "*** Welcome to the test room.");
	tc_expect_line(a, "*** Be kind; no spam.");

	b = tc_connect(d);
	ck_assert_str_eq(b->line,
	    CHATD_WELCOME("chattest", "guest2", "1 other"));
	tc_expect_line(b, "*** Welcome to the test room.");
	tc_expect_line(b, "*** Be kind; no spam.");
	/* a got no history with its welcome: the join notice is next. */
	tc_expect_line(a, "*** guest2 joined");

	for (i = 1; i <= 4; i++)
		tc_send(a, "line %d\n", i);
	tc_send(a, "/me sends line 5\n");
	for (i = 1; i <= 4; i++) {
		char	want[32];

		snprintf(want, sizeof want, "<guest1> line %d", i);
		tc_expect_line(b, want);
	}
	tc_expect_line(b, "* guest1 sends line 5");

	c = tc_connect(d);
	ck_assert_str_eq(c->line,
	    CHATD_WELCOME("chattest", "guest3", "2 others"));
	tc_expect_line(c, "*** Welcome to the test room.");
	tc_expect_line(c, "*** Be kind; no spam.");
	tc_expect_line_re(c, HIST_RE("<guest1> line 3"));
	tc_expect_line_re(c, HIST_RE("<guest1> line 4"));
	tc_expect_line_re(c, HIST_RE("\\* guest1 sends line 5"));
	/* And nothing more: the next line is one sent after the join. */
	tc_send(b, "marker\n");
	tc_expect_line(c, "<guest2> marker");
	tc_expect_line(a, "*** guest3 joined");
	tc_expect_line(a, "<guest2> marker");
	tc_expect_line(b, "*** guest3 joined");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* The same with the message of the day from motd_file. */
START_TEST(test_join_motd_file)
{
	struct chatd	*d;
	struct tc	*a, *b;
	char		*dir, *path, extra[PATH_MAX + 64];

	dir = harness_mkdtemp("motd");
	path = harness_write_file(dir, "motd", "First line of the file.\n"
	    "Second line of the file.\n");
	snprintf(extra, sizeof extra, "name = chattest\n[chat]\nhistory = 3\n"
	    "motd_file = %s\n", path);
	d = chatd_start(extra);

	a = tc_connect(d);
	tc_expect_line(a, "*** First line of the file.");
	tc_expect_line(a, "*** Second line of the file.");
	b = tc_connect(d);
	tc_expect_line(b, "*** First line of the file.");
	tc_expect_line(b, "*** Second line of the file.");
	tc_expect_line(a, "*** guest2 joined");
	tc_send(a, "one\n");
	tc_send(a, "two\n");
	tc_expect_line(b, "<guest1> one");
	tc_expect_line(b, "<guest1> two");
	tc_close(b);
	tc_expect_line(a, "*** guest2 left (connection closed)");

	b = tc_connect(d);
	ck_assert_str_eq(b->line,
	    CHATD_WELCOME("chattest", "guest3", "1 other"));
	tc_expect_line(b, "*** First line of the file.");
	tc_expect_line(b, "*** Second line of the file.");
	tc_expect_line_re(b, HIST_RE("<guest1> one"));
	tc_expect_line_re(b, HIST_RE("<guest1> two"));
	tc_send(a, "marker\n");
	tc_expect_line(b, "<guest1> marker");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/*
 * chatd.conf(5): motd_file "overrides motd", whichever comes first in the
 * file.
 */
START_TEST(test_motd_file_overrides_motd)
{
	static const char	*tags[] = { "guest1 (motd_file after motd)",
	    "guest1 (motd after motd_file)" };
	struct chatd		*d;
	struct tc		*a, *b;
	char			*dir, *path, file[PATH_MAX + 32];
	char			 extra[2 * (PATH_MAX + 32) + 16];
	const char		*motd = "motd = from the motd key\n";
	size_t			 i;

	dir = harness_mkdtemp("motd");
	path = harness_write_file(dir, "motd", "From the file.\n");
	snprintf(file, sizeof file, "motd_file = %s\n", path);
	for (i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		snprintf(extra, sizeof extra, "[chat]\n%s%s", i == 0 ? motd :
		    file, i == 0 ? file : motd);
		d = chatd_start(extra);
		a = tc_connect(d);
		tc_rename(a, tags[i]);
		tc_expect_line(a, "*** From the file.");
		b = tc_connect(d);
		tc_expect_line(b, "*** From the file.");
		/* Nothing else came with a's welcome. */
		tc_expect_line(a, "*** guest2 joined");
		tc_close(a);
		tc_close(b);
		chatd_stop_ok(d);
	}
	harness_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/* history = 0: a newcomer gets no history lines. */
START_TEST(test_history_off)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start("[chat]\nhistory = 0\nmotd = the motd\n");
	a = tc_connect(d);
	tc_expect_line(a, "*** the motd");
	b = tc_connect(d);
	tc_expect_line(b, "*** the motd");
	tc_expect_line(a, "*** guest2 joined");
	tc_send(a, "one\n");
	tc_send(a, "/me two\n");
	tc_expect_line(b, "<guest1> one");
	tc_expect_line(b, "* guest1 two");

	c = tc_connect(d);
	tc_expect_line(c, "*** the motd");
	tc_send(b, "marker\n");
	tc_expect_line(c, "<guest2> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* The default history is the last 20 lines. */
START_TEST(test_history_default)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		 want[64];
	int		 i;

	d = chatd_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_expect_line(a, "*** guest2 joined");
	for (i = 1; i <= 25; i++)
		tc_send(a, "line %02d\n", i);
	for (i = 1; i <= 25; i++) {
		snprintf(want, sizeof want, "<guest1> line %02d", i);
		tc_expect_line(b, want);
	}

	c = tc_connect(d);
	for (i = 6; i <= 25; i++) {
		snprintf(want, sizeof want, HIST_RE("<guest1> line %02d"), i);
		tc_expect_line_re(c, want);
	}
	tc_send(b, "marker\n");
	tc_expect_line(c, "<guest2> marker");

	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/*
 * announce = no: no joined, left or nick notices to the others; the
 * sender's own confirmations and the welcome still come.
 */
START_TEST(test_announce_off)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;

	d = chatd_start("[chat]\nannounce = no\nhistory = 0\n");
	a = tc_connect(d);
	b = tc_connect(d);
	ck_assert_int_eq(b->others, 1);

	/* No "guest2 joined" for a. */
	tc_send(b, "marker one\n");
	tc_expect_line(a, "<guest2> marker one");

	tc_send(b, "/nick bob\n");
	tc_expect_line(b, "*** you are now known as bob");
	tc_rename(b, "bob");
	tc_send(b, "marker two\n");
	tc_expect_line(a, "<bob> marker two");

	c = tc_connect(d);
	tc_send(c, "/quit leaving\n");
	tc_expect_line(c, "*** bye");
	tc_expect_eof(c);
	tc_close(c);
	c = tc_connect(d);
	tc_close(c);
	chatd_wait_log_re(d, LOG_GONE(4, "connection closed"));
	c = tc_connect(d);
	tc_reset(c);
	chatd_wait_log_re(d, LOG_GONE(5, "connection reset"));
	tc_send(b, "marker three\n");
	tc_expect_line(a, "<bob> marker three");

	/* Chat and /me are not notices: they still come. */
	tc_send(a, "/me is still here\n");
	tc_expect_line(b, "* guest1 is still here");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* Raw mode ------------------------------------------------------------ */

/*
 * mode = raw: no welcome, motd, history or notices; each line reaches
 * every other client verbatim (plus CRLF), and nothing else does.
 */
START_TEST(test_raw_relay)
{
	struct chatd	*d;
	struct tc	*a, *b, *c, *e;

	/* [chat] is ignored in raw mode, motd and history included. */
	d = chatd_start("mode = raw\n[chat]\nmotd = not in raw mode\n"
	    "history = 20\nannounce = yes\n");
	a = tc_connect_raw(d, AF_INET);
	b = tc_connect_raw(d, AF_INET);
	tc_rename(a, "a");
	tc_rename(b, "b");
	/*
	 * Connections are admitted in order and b's line is read only once
	 * b is in: a's first line must be it.
	 */
	tc_send(b, "b is here\n");
	expect_bytes(a, "b is here");

	tc_send(a, JSON_LINE "\n");
	expect_bytes(b, JSON_LINE);

	/* A third client: nobody is told, and it gets no history. */
	c = tc_connect_raw(d, AF_INET);
	tc_rename(c, "c");
	tc_send(c, "c is here\n");
	expect_bytes(a, "c is here");
	expect_bytes(b, "c is here");

	tc_send(a, JSON_LINE "\r\n");
	expect_bytes(b, JSON_LINE);
	expect_bytes(c, JSON_LINE);
	/* Sanitised, though: a run of spaces is one, at either end too. */
	tc_send(b, "  leading and trailing blanks  \n");
	expect_bytes(a, " leading and trailing blanks ");
	expect_bytes(c, " leading and trailing blanks ");

	/* Leaving is not announced either, whatever the cause. */
	tc_close(c);
	chatd_wait_log_re(d, LOG_GONE(3, "connection closed"));
	e = tc_connect_raw(d, AF_INET);
	tc_rename(e, "e");
	tc_send(e, "e is here\n");
	expect_bytes(a, "e is here");
	expect_bytes(b, "e is here");
	tc_reset(e);
	chatd_wait_log_re(d, LOG_GONE(4, "connection reset"));
	tc_send(a, "marker\n");
	expect_bytes(b, "marker");
	tc_send(b, "marker back\n");
	expect_bytes(a, "marker back");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

/* In raw mode a command is just a line: relayed verbatim, not run. */
START_TEST(test_raw_no_commands)
{
	static const char	*lines[] = { "/nick x", "/help", "/who",
	    "/me waves", "/msg b hi", "//shrug", "/", "/foo", "/quit bye" };
	struct chatd		*d;
	struct tc		*a, *b;
	size_t			 i;

	d = chatd_start("mode = raw\n");
	a = tc_connect_raw(d, AF_INET);
	b = tc_connect_raw(d, AF_INET);
	tc_rename(a, "a");
	tc_rename(b, "b");
	tc_send(b, "b is here\n");
	expect_bytes(a, "b is here");

	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		tc_send(a, "%s\n", lines[i]);
		expect_bytes(b, lines[i]);
	}
	/* a is still connected after "/quit bye" and got nothing back. */
	tc_send(a, "after quit\n");
	expect_bytes(b, "after quit");
	tc_send(b, "marker\n");
	expect_bytes(a, "marker");

	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
}
END_TEST

static Suite *
e2e_chat_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_chat");

	tc = tcase_create("nick");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_nick_change);
	tcase_add_test(tc, test_nick_case_collision);
	tcase_add_test(tc, test_nick_invalid);
	tcase_add_test(tc, test_nick_guest);
	tcase_add_test(tc, test_lookalike_names_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_who);
	tcase_add_test(tc, test_who_addresses);
	tcase_add_test(tc, test_me);
	tcase_add_test(tc, test_msg);
	tcase_add_test(tc, test_msg_long_name_not_truncated);
	tcase_add_test(tc, test_help);
	tcase_add_test(tc, test_unknown_and_escape);
	tcase_add_test(tc, test_command_case);
	suite_add_tcase(s, tc);

	tc = tcase_create("spoofing");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_bidi_and_invisible_removed);
	tcase_add_test(tc, test_space_padding_collapsed);
	suite_add_tcase(s, tc);

	tc = tcase_create("leave");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_quit);
	tcase_add_test(tc, test_quit_long_reason);
	tcase_add_test(tc, test_left_closed);
	tcase_add_test(tc, test_left_reset);
	tcase_add_test(tc, test_left_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("join");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_join_motd_history);
	tcase_add_test(tc, test_join_motd_file);
	tcase_add_test(tc, test_motd_file_overrides_motd);
	tcase_add_test(tc, test_history_off);
	tcase_add_test(tc, test_history_default);
	tcase_add_test(tc, test_announce_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("raw");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_raw_relay);
	tcase_add_test(tc, test_raw_no_commands);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_chat_suite());
}
