/*
 * Unit tests for the cluster's wire grammar (wire.c): messages on the
 * room's channel and the values read back from Redis.
 *
 * Every type is encoded and decoded back with realistic fields, and the
 * exact bytes of the encoding are checked, since other nodes of another
 * version read them.  Each reason wire_decode() gives for refusing a
 * message is provoked by a message crafted to break that rule and no
 * earlier one, and the reason is compared as a string (the log says it);
 * a refused message must leave the struct empty.  Text fields come back
 * sanitised: the result is checked against the sanitiser's promises
 * (tests/sanitize_invariants.h) and against sanitising it again.  The
 * key values (a name's holder, a node's /who entries, SCAN cursors) are
 * parsed from buffers with explicit lengths, with NULs inside and no
 * terminator after, as hiredis hands them over.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "sanitize.h"
#include "death.h"
#include "run_suite.h"
#include "sanitize_invariants.h"

#define TEXT_MAX	512
#define NODE		"node-a.example:1"

/* A node name of n bytes (n < 100). */
static const char *
long_node(size_t n)
{
	static char	buf[100];

	memset(buf, 'n', n);
	buf[n] = '\0';
	return (buf);
}

/* Decodes data[0..len); expects success. */
static void
decode_ok(const char *data, size_t len, size_t text_max, struct wire_msg *m)
{
	const char	*why = NULL;

	ck_assert_msg(wire_decode(data, len, text_max, m, &why) == 0,
	    "'%.*s' refused: %s", (int)len, data, why ? why : "(null)");
}

/* Decodes data[0..len); expects refusal for reason want and *m empty. */
static void
decode_fail_len(const char *data, size_t len, size_t text_max,
    const char *want)
{
	struct wire_msg	 m;
	const char	*why = NULL;
	int		 i;

	/* Garbage first: a refusal must empty it. */
	memset(&m, 0x5a, sizeof m);
	ck_assert_msg(wire_decode(data, len, text_max, &m, &why) == -1,
	    "'%.*s' accepted", (int)(len > 200 ? 200 : len), data);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strcmp(why, want) == 0, "'%.*s': want '%s', got '%s'",
	    (int)(len > 200 ? 200 : len), data, want, why);
	ck_assert_ptr_null(m.buf);
	ck_assert_ptr_null(m.node);
	ck_assert_int_eq(m.nfields, 0);
	for (i = 0; i < WIRE_FIELDS; i++) {
		ck_assert_ptr_null(m.field[i]);
		ck_assert_ptr_null(m.text[i]);
	}
}

static void
decode_fail(const char *data, const char *want)
{
	decode_fail_len(data, strlen(data), TEXT_MAX, want);
}

static const struct {
	enum wire_type	 type;
	const char	*field[WIRE_FIELDS];
	int		 nfields;
	int		 nnames;
	const char	*wire;
} round_trips[] = {
	{ WIRE_SAY, { "alice", "hello, world" }, 2, 1,
	    "chatd1\t" NODE "\tsay\talice\thello, world" },
	{ WIRE_SAY, { "J.R.R-T_1", "caf\xc3\xa9 \xe2\x9c\x93 /quit" }, 2, 1,
	    "chatd1\t" NODE "\tsay\tJ.R.R-T_1\t"
	    "caf\xc3\xa9 \xe2\x9c\x93 /quit" },
	{ WIRE_ME, { "Bob", "waves" }, 2, 1,
	    "chatd1\t" NODE "\tme\tBob\twaves" },
	{ WIRE_RAW, { "*** raw line, as typed " }, 1, 0,
	    "chatd1\t" NODE "\traw\t*** raw line, as typed " },
	{ WIRE_JOIN, { "guest42" }, 1, 1,
	    "chatd1\t" NODE "\tjoin\tguest42" },
	{ WIRE_LEFT, { "dave", "quit: see you" }, 2, 1,
	    "chatd1\t" NODE "\tleft\tdave\tquit: see you" },
	{ WIRE_NICK, { "guest7", "Erin" }, 2, 2,
	    "chatd1\t" NODE "\tnick\tguest7\tErin" },
	{ WIRE_MSG, { "alice", "bob", "psst, over here" }, 3, 2,
	    "chatd1\t" NODE "\tmsg\talice\tbob\tpsst, over here" },
	{ WIRE_BAN, { "2001:db8::/64", "1796099999", "1796090000", "spam" },
	    4, 0, "chatd1\t" NODE "\tban\t2001:db8::/64\t1796099999\t"
	    "1796090000\tspam" },
	{ WIRE_UNBAN, { "Troll*" }, 1, 0,
	    "chatd1\t" NODE "\tunban\tTroll*" },
	{ WIRE_ANNOUNCE, { "maintenance at noon" }, 1, 0,
	    "chatd1\t" NODE "\tannounce\tmaintenance at noon" },
	{ WIRE_MOVED, { "alice", "#dev" }, 2, 1,
	    "chatd1\t" NODE "\tmoved\talice\t#dev" },
	{ WIRE_TOPIC, { "bob", "release on Friday" }, 2, 1,
	    "chatd1\t" NODE "\ttopic\tbob\trelease on Friday" },
	{ WIRE_KICK, { "alice", "mallory", "flooding" }, 3, 2,
	    "chatd1\t" NODE "\tkick\talice\tmallory\tflooding" },
	{ WIRE_RECLAIM, { "alice" }, 1, 1,
	    "chatd1\t" NODE "\treclaim\talice" },
};

START_TEST(test_round_trip)
{
	struct wire_msg	 m;
	char		*wire;
	size_t		 len, i;
	int		 j, seen[WIRE_NTYPES] = { 0 };

	for (i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
		wire = wire_encode(NODE, round_trips[i].type,
		    round_trips[i].field, &len);
		ck_assert_str_eq(wire, round_trips[i].wire);
		ck_assert_uint_eq(len, strlen(round_trips[i].wire));
		ck_assert_int_eq(wire_names(round_trips[i].type),
		    round_trips[i].nnames);

		decode_ok(wire, len, TEXT_MAX, &m);
		ck_assert_int_eq(m.type, round_trips[i].type);
		ck_assert_str_eq(m.node, NODE);
		ck_assert_int_eq(m.nfields, round_trips[i].nfields);
		for (j = 0; j < m.nfields; j++) {
			ck_assert_str_eq(m.field[j], round_trips[i].field[j]);
			/* Names point into buf, texts are owned apart. */
			if (j < round_trips[i].nnames) {
				ck_assert(m.field[j] > m.buf &&
				    m.field[j] < m.buf + len);
				ck_assert_ptr_null(m.text[j]);
			} else
				ck_assert_ptr_eq(m.field[j], m.text[j]);
		}
		for (; j < WIRE_FIELDS; j++)
			ck_assert_ptr_null(m.field[j]);
		seen[m.type]++;
		wire_msg_free(&m);
		ck_assert_ptr_null(m.buf);
		free(wire);
	}
	for (j = 0; j < WIRE_NTYPES; j++)
		ck_assert_msg(seen[j] > 0, "type %d not tried", j);
}
END_TEST

START_TEST(test_type_names)
{
	static const char *const names[WIRE_NTYPES] = {
		[WIRE_SAY] = "say", [WIRE_ME] = "me", [WIRE_RAW] = "raw",
		[WIRE_JOIN] = "join", [WIRE_LEFT] = "left",
		[WIRE_NICK] = "nick", [WIRE_MSG] = "msg", [WIRE_BAN] = "ban",
		[WIRE_UNBAN] = "unban", [WIRE_ANNOUNCE] = "announce",
		[WIRE_MOVED] = "moved", [WIRE_TOPIC] = "topic",
		[WIRE_KICK] = "kick", [WIRE_RECLAIM] = "reclaim",
	};
	int	i;

	for (i = 0; i < WIRE_NTYPES; i++)
		ck_assert_str_eq(wire_type_name((enum wire_type)i), names[i]);
}
END_TEST

/* Not NUL-terminated: only len bytes are the message. */
START_TEST(test_decode_len)
{
	static const char	 data[] = "chatd1\tn1\tjoin\taliceXYZ";
	struct wire_msg		 m;

	decode_ok(data, sizeof data - 1 - 3, TEXT_MAX, &m);
	ck_assert_str_eq(m.field[0], "alice");
	wire_msg_free(&m);
}
END_TEST

START_TEST(test_why_empty_long_nul)
{
	static const char	 nul1[] = "chatd1\tn\tsay\ta\0b\thi";
	static const char	 nul2[] = "chatd1\tn\tjoin\talice";
	static const char	 nul3[] = "chatd1\tn\tsay\talice\thi\0there";
	struct wire_msg		 m;
	char			*big;
	size_t			 head;

	decode_fail_len("", 0, TEXT_MAX, "empty");
	decode_fail_len("chatd1", 0, TEXT_MAX, "empty");

	/* WIRE_MAX bytes is a message; one more is not. */
	big = malloc(WIRE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	head = strlen("chatd1\tn\traw\t");
	memcpy(big, "chatd1\tn\traw\t", head);
	memset(big + head, 'x', WIRE_MAX + 1 - head);
	decode_ok(big, WIRE_MAX, WIRE_MAX, &m);
	ck_assert_uint_eq(strlen(m.field[0]), WIRE_MAX - head);
	wire_msg_free(&m);
	decode_fail_len(big, WIRE_MAX + 1, WIRE_MAX + 1, "too long");
	free(big);

	decode_fail_len(nul1, sizeof nul1 - 1, TEXT_MAX, "NUL byte");
	/* The terminator counted in: a NUL at the end. */
	decode_fail_len(nul2, sizeof nul2, TEXT_MAX, "NUL byte");
	decode_fail_len(nul3, sizeof nul3 - 1, TEXT_MAX, "NUL byte");
	decode_fail_len("\0", 1, TEXT_MAX, "NUL byte");
}
END_TEST

START_TEST(test_why_fields_version)
{
	decode_fail("chatd1\tn\tmsg\ta\tb\tc\td\te\tf", "too many fields");
	decode_fail("chatd1\tn\tsay\ta\tb\t\t\t\t\t\t\t", "too many fields");
	decode_fail("\t\t\t\t\t\t\t\t", "too many fields");

	decode_fail("chatd2\tn\tsay\ta\thi", "unknown version");
	decode_fail("CHATD1\tn\tsay\ta\thi", "unknown version");
	decode_fail("chatd1 \tn\tsay\ta\thi", "unknown version");
	decode_fail("chatd\tn\tsay\ta\thi", "unknown version");
	decode_fail("\tn\tsay\ta\thi", "unknown version");
	decode_fail("chatd1", "unknown version");
	decode_fail("chatd1\tn", "unknown version");
	decode_fail("hello", "unknown version");
}
END_TEST

START_TEST(test_why_node)
{
	struct wire_msg	m;
	char		buf[200];

	decode_fail("chatd1\t\tsay\ta\thi", "bad node name");
	decode_fail("chatd1\tno de\tsay\ta\thi", "bad node name");
	decode_fail("chatd1\tn\xc3\xa9\tsay\ta\thi", "bad node name");
	decode_fail("chatd1\tn/a\tsay\ta\thi", "bad node name");
	decode_fail("chatd1\tn\rx\tsay\ta\thi", "bad node name");
	snprintf(buf, sizeof buf, "chatd1\t%s\tjoin\talice",
	    long_node(CONFIG_NODE_MAX + 1));
	decode_fail(buf, "bad node name");

	/* The longest node name is one. */
	snprintf(buf, sizeof buf, "chatd1\t%s\tjoin\talice",
	    long_node(CONFIG_NODE_MAX));
	decode_ok(buf, strlen(buf), TEXT_MAX, &m);
	ck_assert_uint_eq(strlen(m.node), CONFIG_NODE_MAX);
	wire_msg_free(&m);
}
END_TEST

START_TEST(test_why_type_count)
{
	decode_fail("chatd1\tn\tshout\ta\thi", "unknown type");
	decode_fail("chatd1\tn\tSAY\ta\thi", "unknown type");
	decode_fail("chatd1\tn\t\ta\thi", "unknown type");
	decode_fail("chatd1\tn\tsay ", "unknown type");
	decode_fail("chatd1\tn\tsa", "unknown type");

	decode_fail("chatd1\tn\tsay", "wrong number of fields");
	decode_fail("chatd1\tn\tsay\talice", "wrong number of fields");
	decode_fail("chatd1\tn\traw\ta\tb", "wrong number of fields");
	decode_fail("chatd1\tn\tjoin\ta\tb", "wrong number of fields");
	decode_fail("chatd1\tn\tjoin\talice\t", "wrong number of fields");
	decode_fail("chatd1\tn\tleft\talice", "wrong number of fields");
	decode_fail("chatd1\tn\tnick\talice", "wrong number of fields");
	decode_fail("chatd1\tn\tmsg\ta\tb", "wrong number of fields");
	/* Four fields: past every type, but not past the parts array. */
	decode_fail("chatd1\tn\tmsg\ta\tb\tc\td", "wrong number of fields");
}
END_TEST

static int
name_byte(int ch)
{
	return (isascii(ch) && (isalnum(ch) || ch == '_' || ch == '-' ||
	    ch == '.'));
}

START_TEST(test_why_name)
{
	struct wire_msg	 m;
	const char	*why;
	char		 buf[64];
	int		 ch, len;

	decode_fail("chatd1\tn\tsay\t\thi", "bad name");
	decode_fail("chatd1\tn\tsay\tal ice\thi", "bad name");
	decode_fail("chatd1\tn\tsay\t___\thi", "bad name");
	decode_fail("chatd1\tn\tsay\tcaf\xc3\xa9\thi", "bad name");
	decode_fail("chatd1\tn\tsay\ta\rb\thi", "bad name");
	decode_fail("chatd1\tn\tsay\ta\nb\thi", "bad name");
	decode_fail("chatd1\tn\tsay\ta\x1b[1mb\thi", "bad name");
	decode_fail("chatd1\tn\tjoin\taaaaaaaaaaaaaaaaaaaaaaaaa", "bad name");
	decode_fail("chatd1\tn\tleft\t-\tbye", "bad name");
	decode_fail("chatd1\tn\tnick\talice\tal/ice", "bad name");
	decode_fail("chatd1\tn\tmsg\talice\tb ob\thi", "bad name");
	decode_fail("chatd1\tn\tmsg\ta lice\tbob\thi", "bad name");
	/* A bad name is refused before an empty text is seen. */
	decode_fail("chatd1\tn\tsay\t.\t", "bad name");

	/* Every byte but TAB and NUL, inside a name. */
	for (ch = 1; ch < 256; ch++) {
		if (ch == '\t')
			continue;
		len = snprintf(buf, sizeof buf, "chatd1\tn\tjoin\ta%cb", ch);
		why = NULL;
		if (name_byte(ch)) {
			ck_assert_msg(wire_decode(buf, (size_t)len, TEXT_MAX,
			    &m, &why) == 0, "byte 0x%02x refused", ch);
			wire_msg_free(&m);
		} else
			decode_fail_len(buf, (size_t)len, TEXT_MAX,
			    "bad name");
	}
}
END_TEST

START_TEST(test_why_text)
{
	decode_fail("chatd1\tn\tsay\talice\t", "empty text");
	decode_fail("chatd1\tn\traw\t", "empty text");
	decode_fail("chatd1\tn\tsay\talice\t\x1b[0m", "empty text");
	decode_fail("chatd1\tn\tme\talice\t\x07\x08\x7f", "empty text");
	/* A zero width space, and a bidi override: removed, nothing left. */
	decode_fail("chatd1\tn\tleft\talice\t\xe2\x80\x8b\xe2\x80\xae",
	    "empty text");
	decode_fail("chatd1\tn\tmsg\talice\tbob\t\xc2\x9b" "31m",
	    "empty text");
	decode_fail_len("chatd1\tn\tsay\talice\tabcdef", 25, 5,
	    "text too long");
}
END_TEST

/* Decodes a say whose text is text, with text_max; 0 or -1. */
static int
say(const char *text, size_t text_max, const char **why)
{
	struct wire_msg	 m;
	char		 buf[256];
	int		 len, r;

	len = snprintf(buf, sizeof buf, "chatd1\tn\tsay\talice\t%s", text);
	ck_assert(len > 0 && (size_t)len < sizeof buf);
	*why = NULL;
	r = wire_decode(buf, (size_t)len, text_max, &m, why);
	if (r == 0)
		wire_msg_free(&m);
	return (r);
}

START_TEST(test_text_max)
{
	static const char	 msg4[] = "chatd1\tn\tmsg\ta\tb\t1234";
	static const char	 msg5[] = "chatd1\tn\tmsg\ta\tb\t12345";
	struct wire_msg		 m;
	const char		*why;

	ck_assert_int_eq(say("abcde", 5, &why), 0);
	ck_assert_int_eq(say("abcde", 4, &why), -1);
	ck_assert_str_eq(why, "text too long");
	ck_assert_int_eq(say("abcde", 6, &why), 0);
	ck_assert_int_eq(say("a", 0, &why), -1);
	ck_assert_str_eq(why, "text too long");
	ck_assert_int_eq(say("a", 1, &why), 0);

	/* The bound is on the text after sanitising: 10 bytes become 2. */
	ck_assert_int_eq(say("a\x1b[31m\x07\x07" "b", 2, &why), 0);
	ck_assert_int_eq(say("a\x1b[31m\x07\x07" "b", 1, &why), -1);
	ck_assert_str_eq(why, "text too long");
	/* And 2 bytes may become 6 (two U+FFFD). */
	ck_assert_int_eq(say("\x80\x80", 6, &why), 0);
	ck_assert_int_eq(say("\x80\x80", 5, &why), -1);
	ck_assert_str_eq(why, "text too long");

	/* The last field of msg too. */
	decode_ok(msg4, strlen(msg4), 4, &m);
	ck_assert_str_eq(m.field[2], "1234");
	wire_msg_free(&m);
	decode_fail_len(msg5, strlen(msg5), 4, "text too long");
}
END_TEST

START_TEST(test_text_sanitised)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "\x1b[2Jhi\x07 there\xe2\x80\xae!", "hi there!" },
		{ "a\rb", "ab" },
		{ "a   b", "a b" },
		{ " x ", " x " },
		{ "\x1b]0;owned\x07title", "title" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "bad \xc3\x28 utf8", "bad \xef\xbf\xbd( utf8" },
		{ "a\xe2\x80\xa8" "b", "a b" },
		{ "\xff\xff" "x", "\xef\xbf\xbdx" },
	};
	static const char *const nasty[] = {
		"\x1bP\x1b\\\x9b\x9c\xc2\x9b" "2J\xc2\x9d" "0;t\xc2\x9c" "end",
		"\xf4\x90\x80\x80\xed\xa0\x80\xc0\xaf",
		"\xef\xbb\xbf\xf3\xa0\x80\x81 \xe2\x81\xa6x\xe2\x81\xa9",
		"\xff\xfb\x01\xff\xfa\x18\xff\xff\xff\xf0ok",
		"  \xe2\x80\xa9  \x1b[0m  ",
	};
	struct wire_msg	 m;
	char		 buf[256], again[3 * 256];
	const char	*text;
	size_t		 i, n, len;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = (size_t)snprintf(buf, sizeof buf,
		    "chatd1\tn\tsay\talice\t%s", cases[i].in);
		decode_ok(buf, len, TEXT_MAX, &m);
		ck_assert_str_eq(m.field[1], cases[i].out);
		wire_msg_free(&m);
	}
	for (i = 0; i < sizeof nasty / sizeof nasty[0]; i++) {
		len = (size_t)snprintf(buf, sizeof buf,
		    "chatd1\tn\tmsg\talice\tbob\t%s", nasty[i]);
		decode_ok(buf, len, TEXT_MAX, &m);
		text = m.field[2];
		n = strlen(text);
		ck_assert_uint_gt(n, 0);
		ck_assert_msg(sanitize_invariants_check(
		    (const unsigned char *)text, n) == NULL,
		    "nasty %zu: %s", i, sanitize_invariants_check(
		    (const unsigned char *)text, n));
		/* Sanitising again changes nothing. */
		ck_assert_uint_eq(sanitize_line(text, n, again), n);
		ck_assert(memcmp(again, text, n) == 0);
		wire_msg_free(&m);
	}
}
END_TEST

/* A field holding a separator: a broken invariant of the caller. */
static void
encode_tab(void *arg)
{
	const char	*field[] = { "alice", "a\tb" };
	size_t		 len;

	wire_encode("n", WIRE_SAY, field, &len);
}

static void
encode_cr_name(void *arg)
{
	const char	*field[] = { "ali\rce", "bob", "hi" };
	size_t		 len;

	wire_encode("n", WIRE_MSG, field, &len);
}

static void
encode_lf(void *arg)
{
	const char	*field[] = { "line\n" };
	size_t		 len;

	wire_encode("n", WIRE_RAW, field, &len);
}

START_TEST(test_encode_separator)
{
	death_expect(encode_tab, NULL, 1,
	    "error: wire_encode: say field 1 holds a separator\n");
	death_expect(encode_cr_name, NULL, 1,
	    "error: wire_encode: msg field 0 holds a separator\n");
	death_expect(encode_lf, NULL, 1,
	    "error: wire_encode: raw field 0 holds a separator\n");
}
END_TEST

/* wire_parse_owner() on s[0..len): 0 or -1, and what it filled. */
static int
owner(const char *s, size_t len, char *node, char *name)
{
	memset(node, 'Q', CONFIG_NODE_MAX + 1);
	memset(name, 'Q', NAME_LEN + 1);
	return (wire_parse_owner(s, len, node, name));
}

#define OWNER_BAD(s) \
	ck_assert_msg(owner((s), sizeof(s) - 1, node, name) == -1, \
	    "owner '%s' accepted", (s))

START_TEST(test_parse_owner)
{
	char	node[CONFIG_NODE_MAX + 1], name[NAME_LEN + 1], buf[128];
	int	len;

	ck_assert_int_eq(owner("node-a\talice", 12, node, name), 0);
	ck_assert_str_eq(node, "node-a");
	ck_assert_str_eq(name, "alice");
	ck_assert_int_eq(owner("a.b_c-d:9\tGuest-1", 17, node, name), 0);
	ck_assert_str_eq(node, "a.b_c-d:9");
	ck_assert_str_eq(name, "Guest-1");
	/* Only len bytes: no terminator needed. */
	ck_assert_int_eq(owner("n1\talicejunk", 8, node, name), 0);
	ck_assert_str_eq(name, "alice");

	/* The longest node and the longest name. */
	len = snprintf(buf, sizeof buf, "%s\t%s", long_node(CONFIG_NODE_MAX),
	    "abcdefghijklmnopqrstuvwx");
	ck_assert_int_eq(owner(buf, (size_t)len, node, name), 0);
	ck_assert_str_eq(node, long_node(CONFIG_NODE_MAX));
	ck_assert_str_eq(name, "abcdefghijklmnopqrstuvwx");
	len = snprintf(buf, sizeof buf, "%s\t%s",
	    long_node(CONFIG_NODE_MAX + 1), "alice");
	ck_assert_int_eq(owner(buf, (size_t)len, node, name), -1);
	len = snprintf(buf, sizeof buf, "n\t%s", "abcdefghijklmnopqrstuvwxy");
	ck_assert_int_eq(owner(buf, (size_t)len, node, name), -1);

	ck_assert_int_eq(owner("", 0, node, name), -1);
	OWNER_BAD("node-aalice");
	OWNER_BAD("\talice");
	OWNER_BAD("node-a\t");
	OWNER_BAD("\t");
	OWNER_BAD("no de\talice");
	OWNER_BAD("n\xc3\xa9\talice");
	OWNER_BAD("n/a\talice");
	OWNER_BAD("node\tal ice");
	OWNER_BAD("node\t___");
	OWNER_BAD("node\ta\tb");
	OWNER_BAD("node\talice\r");
	OWNER_BAD("no\0de\talice");
	OWNER_BAD("node\tal\0ice");
	OWNER_BAD("node\talice\0");
	OWNER_BAD("\0\talice");
}
END_TEST

static int
who(const char *field, size_t flen, const char *value, size_t vlen,
    struct wire_who *w)
{
	memset(w, 'Q', sizeof *w);
	w->since = -7;
	return (wire_parse_who(field, flen, value, vlen, w));
}

#define WHO_BAD(f, v) \
	ck_assert_msg(who((f), sizeof(f) - 1, (v), sizeof(v) - 1, &w) == -1, \
	    "who '%s' '%s' accepted", (f), (v))

/* An entry of a node's /who hash: "since TAB node TAB room". */
START_TEST(test_parse_who)
{
	struct wire_who	w;
	char		buf[160];
	int		len;

	ck_assert_int_eq(who("alice", 5, "1700000000\tnode-a\t#lobby", 24,
	    &w), 0);
	ck_assert_str_eq(w.name, "alice");
	ck_assert_int_eq(w.since, 1700000000);
	ck_assert_str_eq(w.node, "node-a");
	ck_assert_str_eq(w.room, "#lobby");
	ck_assert_int_eq(who("Bob", 3, "0\tn\t#Dev", 8, &w), 0);
	ck_assert_int_eq(w.since, 0);
	ck_assert_str_eq(w.room, "#Dev");
	ck_assert_int_eq(who("Bob", 3, "0001\tn\t#x", 9, &w), 0);
	ck_assert_int_eq(w.since, 1);
	/* Only flen and vlen bytes count. */
	ck_assert_int_eq(who("carolXX", 5, "42\tn:1\t#aXX", 9, &w), 0);
	ck_assert_str_eq(w.name, "carol");
	ck_assert_int_eq(w.since, 42);
	ck_assert_str_eq(w.node, "n:1");
	ck_assert_str_eq(w.room, "#a");
	/* A large time still parses; the largest node and room names too. */
	len = snprintf(buf, sizeof buf, "9223372036854775799\t%s\t#%s",
	    long_node(CONFIG_NODE_MAX), "abcdefghijklmnopqrstuvwxyz012345");
	ck_assert_int_eq(who("d", 1, buf, (size_t)len, &w), 0);
	ck_assert(w.since == INT64_C(9223372036854775799));
	ck_assert_str_eq(w.node, long_node(CONFIG_NODE_MAX));
	ck_assert_str_eq(w.room, "#abcdefghijklmnopqrstuvwxyz012345");

	len = snprintf(buf, sizeof buf, "1\t%s\t#x",
	    long_node(CONFIG_NODE_MAX + 1));
	ck_assert_int_eq(who("d", 1, buf, (size_t)len, &w), -1);
	len = snprintf(buf, sizeof buf, "1\tn\t#%s",
	    "abcdefghijklmnopqrstuvwxyz0123456");
	ck_assert_int_eq(who("d", 1, buf, (size_t)len, &w), -1);

	WHO_BAD("al ice", "1\tn\t#x");
	WHO_BAD("", "1\tn\t#x");
	WHO_BAD("___", "1\tn\t#x");
	WHO_BAD("abcdefghijklmnopqrstuvwxy", "1\tn\t#x");
	WHO_BAD("al\0ce", "1\tn\t#x");
	WHO_BAD("alice", "1700000000");
	WHO_BAD("alice", "");
	WHO_BAD("alice", "\tnode\t#x");
	WHO_BAD("alice", "17x\tn\t#x");
	WHO_BAD("alice", "-1\tn\t#x");
	WHO_BAD("alice", "+1\tn\t#x");
	WHO_BAD("alice", " 1\tn\t#x");
	WHO_BAD("alice", "1.5\tn\t#x");
	WHO_BAD("alice", "1\0\tn\t#x");
	/* Overflowing int64_t. */
	WHO_BAD("alice", "9223372036854775808\tn\t#x");
	WHO_BAD("alice", "18446744073709551617\tn\t#x");
	WHO_BAD("alice", "99999999999999999999999999\tn\t#x");
	WHO_BAD("alice", "1\t\t#x");
	WHO_BAD("alice", "1\tno de\t#x");
	WHO_BAD("alice", "1\tn/a\t#x");
	WHO_BAD("alice", "1\tno\0de\t#x");
	/* The room: a room name, nothing after it. */
	WHO_BAD("alice", "1\tn");
	WHO_BAD("alice", "1\tn\t");
	WHO_BAD("alice", "1\tn\tlobby");
	WHO_BAD("alice", "1\tn\t#");
	WHO_BAD("alice", "1\tn\t#lob by");
	WHO_BAD("alice", "1\tn\t#x\tm");
	WHO_BAD("alice", "1\tn\t#x\0");
}
END_TEST

static int
cursor(const char *s, size_t len, unsigned long long *v)
{
	*v = 12345;
	return (wire_parse_cursor(s, len, v));
}

#define CURSOR_BAD(s) \
	ck_assert_msg(cursor((s), sizeof(s) - 1, &v) == -1, \
	    "cursor '%s' accepted", (s))

START_TEST(test_parse_cursor)
{
	unsigned long long	v;

	ck_assert_int_eq(cursor("0", 1, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(cursor("17", 2, &v), 0);
	ck_assert_uint_eq(v, 17);
	ck_assert_int_eq(cursor("123x", 3, &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_int_eq(cursor("00000000000000000001", 20, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(cursor("18446744073709551615", 20, &v), 0);
	ck_assert(v == UINT64_MAX);

	ck_assert_int_eq(cursor("", 0, &v), -1);
	CURSOR_BAD("18446744073709551616");
	CURSOR_BAD("18446744073709551625");
	CURSOR_BAD("99999999999999999999");
	CURSOR_BAD("000000000000000000001");
	CURSOR_BAD("12a");
	CURSOR_BAD("-1");
	CURSOR_BAD("+1");
	CURSOR_BAD(" 1");
	CURSOR_BAD("1 ");
	CURSOR_BAD("1\0");
	CURSOR_BAD("\0");
}
END_TEST

START_TEST(test_nick_key)
{
	char	a[WIRE_KEY_MAX], b[WIRE_KEY_MAX], k[NAME_LEN + 1];

	wire_nick_key("chatd:", "Guest-1", a);
	ck_assert_str_eq(a, "chatd:nick:guestl");
	wire_nick_key("room:", "RnB", a);
	ck_assert_str_eq(a, "room:nick:mb");
	wire_nick_key("p:", "carol", a);
	ck_assert_str_eq(a, "p:nick:carol");

	/* Names that fold together are one key in Redis. */
	wire_nick_key("chatd:", "alice", a);
	wire_nick_key("chatd:", "A.1.I.C.E", b);
	ck_assert_str_eq(a, b);
	wire_nick_key("chatd:", "alicia", b);
	ck_assert_str_ne(a, b);
	name_key("a_L-i.C.e", k);
	snprintf(b, sizeof b, "chatd:nick:%s", k);
	ck_assert_str_eq(a, b);
}
END_TEST

/* Accounts, as kept in Redis: every field checked as input. */
#define FP1	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP2	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const char *
yescrypt(void)
{
	static char	h[HASH_MAX];

	if (h[0] == '\0')
		ck_assert_int_eq(hash_make("hunter22", 1, h), 0);
	return (h);
}

START_TEST(test_account_round_trip)
{
	struct account	 a, b;
	char		 buf[WIRE_ACCOUNT_MAX], want[WIRE_ACCOUNT_MAX];
	int		 n;

	memset(&a, 0, sizeof a);
	snprintf(a.name, sizeof a.name, "Alice");
	snprintf(a.hash, sizeof a.hash, "%s", yescrypt());
	a.created = 1796090000;
	n = wire_account(&a, buf, sizeof buf);
	ck_assert_int_gt(n, 0);
	snprintf(want, sizeof want, "chatd-account1\tAlice\t1796090000\t%s\t",
	    yescrypt());
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(wire_parse_account(buf, (size_t)n, 8, &b), 0);
	ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);

	memcpy(a.certfps[a.ncertfps++], FP1, 65);
	memcpy(a.certfps[a.ncertfps++], FP2, 65);
	n = wire_account(&a, buf, sizeof buf);
	ck_assert_ptr_nonnull(strstr(buf, "\t" FP1 "," FP2));
	ck_assert_int_eq(wire_parse_account(buf, (size_t)n, 8, &b), 0);
	ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
	/* More certificates than allowed: refused. */
	ck_assert_int_eq(wire_parse_account(buf, (size_t)n, 1, &b), -1);
	/* Too small a buffer. */
	ck_assert_int_eq(wire_account(&a, buf, 40), -1);
}
END_TEST

START_TEST(test_account_refused)
{
	static const char *const bad[] = {
		"",
		"chatd-account2\tAlice\t1\tHASH\t",
		"chatd-account1\tAl ice\t1\tHASH\t",
		"chatd-account1\tguest7\t1\tHASH\t",
		"chatd-account1\tAlice\t-1\tHASH\t",
		"chatd-account1\tAlice\t01\tHASH\t",
		"chatd-account1\tAlice\t1x\tHASH\t",
		"chatd-account1\tAlice\t\tHASH\t",
		"chatd-account1\tAlice\t1\t$6$salt$hash\t",
		"chatd-account1\tAlice\t1\t\t",
		"chatd-account1\tAlice\t1\tHASH",
		"chatd-account1\tAlice\t1\tHASH\t" FP1 ",",
		"chatd-account1\tAlice\t1\tHASH\t," FP1,
		"chatd-account1\tAlice\t1\tHASH\t" FP1 ",," FP2,
		"chatd-account1\tAlice\t1\tHASH\tABCDEF",
		"chatd-account1\tAlice\t1\tHASH\t" FP1 "\textra",
		"chatd-account1\tAlice\t99999999999999999999\tHASH\t",
	};
	struct account	 a;
	char		 buf[1024];
	const char	*p;
	size_t		 i, n;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = 0;
		for (p = bad[i]; *p != '\0'; p++) {
			if (strncmp(p, "HASH", 4) == 0) {
				n += (size_t)snprintf(buf + n, sizeof buf - n,
				    "%s", yescrypt());
				p += 3;
			} else
				buf[n++] = *p;
		}
		ck_assert_msg(wire_parse_account(buf, n, 8, &a) == -1,
		    "'%.*s' accepted", (int)n, buf);
	}
	/* A NUL inside is refused too. */
	n = (size_t)snprintf(buf, sizeof buf, "chatd-account1\tAlice\t1\t%s\t",
	    yescrypt());
	buf[20] = '\0';
	ck_assert_int_eq(wire_parse_account(buf, n, 8, &a), -1);
}
END_TEST

START_TEST(test_account_keys)
{
	char	key[WIRE_CERTFP_KEY_MAX];

	wire_account_key("room:", "Al1ce", key);
	ck_assert_str_eq(key, "room:account:allce");
	/* A key's key is itself: certfp records hold keys. */
	wire_account_key("room:", "allce", key);
	ck_assert_str_eq(key, "room:account:allce");
	wire_certfp_key("room:", FP1, key);
	ck_assert_str_eq(key, "room:certfp:" FP1);
	ck_assert(wire_certfp_valid(FP1, 64));
	ck_assert(!wire_certfp_valid(FP1, 63));
	ck_assert(!wire_certfp_valid("0123456789ABCDEF0123456789abcdef"
	    "0123456789abcdef0123456789abcdef", 64));
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("wire");

	tc = tcase_create("messages");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_decode_len);
	tcase_add_test(tc, test_why_empty_long_nul);
	tcase_add_test(tc, test_why_fields_version);
	tcase_add_test(tc, test_why_node);
	tcase_add_test(tc, test_why_type_count);
	tcase_add_test(tc, test_why_name);
	tcase_add_test(tc, test_why_text);
	tcase_add_test(tc, test_text_max);
	tcase_add_test(tc, test_text_sanitised);
	tcase_add_test(tc, test_encode_separator);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_parse_owner);
	tcase_add_test(tc, test_parse_who);
	tcase_add_test(tc, test_parse_cursor);
	tcase_add_test(tc, test_nick_key);
	tcase_add_test(tc, test_account_round_trip);
	tcase_add_test(tc, test_account_refused);
	tcase_add_test(tc, test_account_keys);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(wire_suite());
}
