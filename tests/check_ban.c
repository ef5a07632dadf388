/*
 * Unit tests for ban.c, and for the ban record of wire.c (wire_ban(),
 * wire_parse_ban()), which is ban.c's grammar again on what comes back
 * from Redis.
 *
 * Tables, one row per pattern, name, reason or duration, and each
 * failure names its row: the canonical text of every kind of pattern
 * (IPv4, IPv6 however written, v4-mapped, prefixes from /0 to full length
 * with their host bits cleared), every refusal with its exact why, what an
 * address or a name ban covers (prefix boundaries that fall inside a byte,
 * case, the look-alike folding of name.c), the reasons the sanitiser would
 * leave alone and those it would not, and every duration unit against its
 * bounds.  Then the list: replacing, removing, expiry and pruning, with
 * valgrind and LeakSanitizer watching what it frees.
 *
 * Strings are passed at their exact size (string literals, or copies into
 * exact allocations) so that AddressSanitizer sees a read past the end;
 * the one exception is said where it is made.
 */

#include <sys/socket.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Patterns ---------------------------------------------------------- */

struct parse_ok {
	const char	*in;
	int		 family;	/* 0: a name pattern */
	unsigned	 prefix;
	const char	*canonical;
	const char	*key;		/* a name pattern's folded key */
};

static const struct parse_ok parse_ok[] = {
	/* IPv4 addresses are /32 prefixes, written without the length. */
	{ "192.0.2.7", AF_INET, 32, "192.0.2.7", NULL },
	{ "0.0.0.0", AF_INET, 32, "0.0.0.0", NULL },
	{ "255.255.255.255", AF_INET, 32, "255.255.255.255", NULL },
	{ "192.0.2.7/32", AF_INET, 32, "192.0.2.7", NULL },
	{ "192.0.2.0/24", AF_INET, 24, "192.0.2.0/24", NULL },
	/* Host bits are cleared. */
	{ "192.0.2.77/24", AF_INET, 24, "192.0.2.0/24", NULL },
	{ "10.20.30.40/8", AF_INET, 8, "10.0.0.0/8", NULL },
	{ "192.0.2.255/25", AF_INET, 25, "192.0.2.128/25", NULL },
	{ "198.51.100.1/0", AF_INET, 0, "0.0.0.0/0", NULL },
	{ "203.0.113.9/31", AF_INET, 31, "203.0.113.8/31", NULL },

	/* IPv6, however written, comes out as inet_ntop() writes it. */
	{ "2001:db8::1", AF_INET6, 128, "2001:db8::1", NULL },
	{ "2001:DB8::1", AF_INET6, 128, "2001:db8::1", NULL },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001", AF_INET6, 128,
	    "2001:db8::1", NULL },
	{ "2001:db8:0:0:1:0:0:1", AF_INET6, 128, "2001:db8::1:0:0:1",
	    NULL },
	{ "::1", AF_INET6, 128, "::1", NULL },
	{ "::", AF_INET6, 128, "::", NULL },
	{ "2001:db8::1/128", AF_INET6, 128, "2001:db8::1", NULL },
	{ "2001:db8:1:2:3:4:5:6/64", AF_INET6, 64, "2001:db8:1:2::/64",
	    NULL },
	{ "2001:DB8:0::5/64", AF_INET6, 64, "2001:db8::/64", NULL },
	{ "2001:db8:abcd:12ff::/56", AF_INET6, 56, "2001:db8:abcd:1200::/56",
	    NULL },
	{ "2001:db8:ffff::/33", AF_INET6, 33, "2001:db8:8000::/33", NULL },
	{ "2001:db8::/0", AF_INET6, 0, "::/0", NULL },
	{ "::/0", AF_INET6, 0, "::/0", NULL },
	/* v4-mapped: an IPv6 address, written as inet_ntop() does. */
	/* v4-mapped is IPv4: clients' addresses are written so. */
	{ "::ffff:1.2.3.4", AF_INET, 32, "1.2.3.4", NULL },
	{ "::FFFF:1.2.3.4/120", AF_INET, 24, "1.2.3.0/24", NULL },

	/* Name patterns: kept as written; the key folds like a name's. */
	{ "mallory", 0, 0, "mallory", "mallory" },
	{ "Troll*", 0, 0, "Troll*", "troll*" },
	{ "spam??", 0, 0, "spam??", "spam??" },
	{ "a.lice", 0, 0, "a.lice", "allce" },
	{ "AL1CE", 0, 0, "AL1CE", "allce" },
	{ "*bot*", 0, 0, "*bot*", "*bot*" },
	{ "x", 0, 0, "x", "x" },
	{ "7", 0, 0, "7", "7" },
	{ "rn_vv-0", 0, 0, "rn_vv-0", "mwo" },
	{ "*-_.?a", 0, 0, "*-_.?a", "*?a" },
	/* NAME_LEN exactly. */
	{ "abcdefghijklmnopqrstuvwx", 0, 0, "abcdefghijklmnopqrstuvwx",
	    "abcdefghljklmnopqrstuwvx" },
};

START_TEST(test_parse_ok)
{
	const struct parse_ok	*t = &parse_ok[_i];
	struct ban		 b, again;
	const char		*why = NULL;

	ck_assert_msg(ban_parse(t->in, &b, &why) == 0, "'%s' refused: %s",
	    t->in, why);
	ck_assert_str_eq(b.pattern, t->canonical);
	if (t->family != 0) {
		ck_assert_int_eq(b.kind, BAN_ADDRESS);
		ck_assert_int_eq(b.net.family, t->family);
		ck_assert_uint_eq(b.net.prefix, t->prefix);
	} else {
		ck_assert_int_eq(b.kind, BAN_NAME);
		ck_assert_str_eq(b.key, t->key);
	}
	ck_assert_int_eq(b.expires, 0);
	ck_assert_ptr_null(b.reason);

	/* The canonical text is a fixed point. */
	ck_assert_int_eq(ban_parse(b.pattern, &again, &why), 0);
	ck_assert_str_eq(again.pattern, b.pattern);
	ck_assert_int_eq(again.kind, b.kind);
	ck_assert_uint_eq(again.net.prefix, b.net.prefix);
	ck_assert_mem_eq(again.net.addr, b.net.addr, sizeof b.net.addr);
}
END_TEST

struct parse_bad {
	const char	*in;
	const char	*why;
};

#define NOT_A_PATTERN	"not an address, a prefix or a name pattern"

static const struct parse_bad parse_bad[] = {
	{ "", "empty pattern" },
	/* Prefix lengths: too long, missing, with a leading zero, signed. */
	{ "1.2.3.4/33", NOT_A_PATTERN },
	{ "::/129", NOT_A_PATTERN },
	{ "2001:db8::/1280", NOT_A_PATTERN },
	{ "1.2.3.4/", NOT_A_PATTERN },
	{ "1.2.3.4/08", NOT_A_PATTERN },
	{ "1.2.3.4/00", NOT_A_PATTERN },
	{ "1.2.3.4/+8", NOT_A_PATTERN },
	{ "1.2.3.4/-8", NOT_A_PATTERN },
	{ "1.2.3.4/ 8", NOT_A_PATTERN },
	{ "1.2.3.4/8x", NOT_A_PATTERN },
	{ "1.2.3.4/99999999999999999999999", NOT_A_PATTERN },
	{ "1.2.3.4/8/8", NOT_A_PATTERN },
	{ "/24", NOT_A_PATTERN },
	/* Addresses inet_pton() refuses. */
	{ "1.2.3.256/24", NOT_A_PATTERN },
	{ "2001:db8:::1", NOT_A_PATTERN },
	{ "fe80::1%eth0", NOT_A_PATTERN },
	{ "[2001:db8::1]", NOT_A_PATTERN },
	{ "2001:db8::g", NOT_A_PATTERN },
	{ "::ffff:1.2.3", NOT_A_PATTERN },
	/* A mistyped IPv4 address is refused, not taken for a name. */
	{ "1.2.3", NOT_A_PATTERN },
	{ "192.0.2.256", NOT_A_PATTERN },
	/* Longer than any address, with a ':' all the same. */
	{ "2001:0db8:0000:0000:0000:0000:0000:0001/128xxxxxxxxxxxxxxxxxxxxx"
	    "xxxx", NOT_A_PATTERN },
	/* Name patterns. */
	{ "*", "a name pattern needs a letter or a digit" },
	{ "?", "a name pattern needs a letter or a digit" },
	{ "*?*", "a name pattern needs a letter or a digit" },
	{ "_-.*", "a name pattern needs a letter or a digit" },
	{ "abcdefghijklmnopqrstuvwxy", "name pattern longer than a name" },
	{ "************************a", "name pattern longer than a name" },
	{ "bad name", NOT_A_PATTERN },
	{ "bad!", NOT_A_PATTERN },
	{ "tr[o]ll", NOT_A_PATTERN },
	{ "back\\slash", NOT_A_PATTERN },
	{ "caf\xc3\xa9", NOT_A_PATTERN },
	{ "tab\there", NOT_A_PATTERN },
	{ "esc\x1b[31m", NOT_A_PATTERN },
	{ "del\x7f", NOT_A_PATTERN },
	{ " alice", NOT_A_PATTERN },
	{ "alice ", NOT_A_PATTERN },
	{ "#12", NOT_A_PATTERN },
};

START_TEST(test_parse_bad)
{
	const struct parse_bad	*t = &parse_bad[_i];
	struct ban		 b;
	const char		*why = NULL;

	ck_assert_msg(ban_parse(t->in, &b, &why) == -1, "'%s' accepted as "
	    "'%s'", t->in, b.pattern);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strcmp(why, t->why) == 0, "'%s': why '%s', want '%s'",
	    t->in, why, t->why);
}
END_TEST

/* Matching ---------------------------------------------------------- */

struct match {
	const char	*ban;
	const char	*what;
	int		 want;
};

static const struct match match_addr[] = {
	/* IPv4 against IPv4 bans. */
	{ "192.0.2.7", "192.0.2.7", 1 },
	{ "192.0.2.7", "192.0.2.8", 0 },
	{ "192.0.2.7", "192.0.2.70", 0 },
	{ "192.0.2.0/24", "192.0.2.0", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "192.0.1.255", 0 },
	{ "192.0.2.128/25", "192.0.2.127", 0 },
	{ "192.0.2.128/25", "192.0.2.128", 1 },
	{ "192.0.2.128/25", "192.0.2.255", 1 },
	{ "10.0.0.0/8", "10.255.255.255", 1 },
	{ "10.0.0.0/8", "11.0.0.0", 0 },
	{ "0.0.0.0/0", "203.0.113.1", 1 },
	/* IPv4 against IPv6 bans, and the other way: families differ. */
	{ "::/0", "192.0.2.7", 0 },
	{ "2001:db8::/32", "192.0.2.7", 0 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	{ "0.0.0.0/0", "::", 0 },
	/* IPv6 prefix boundaries, in and out of a byte. */
	{ "2001:db8:1:2::/64", "2001:db8:1:2::", 1 },
	{ "2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8:1:2::/64", "2001:db8:1:3::", 0 },
	{ "2001:db8:1:2::/64", "2001:db8:1:1:ffff:ffff:ffff:ffff", 0 },
	{ "2001:db8:8000::/33", "2001:db8:8000::1", 1 },
	{ "2001:db8:8000::/33", "2001:db8:ffff:ffff::", 1 },
	{ "2001:db8:8000::/33", "2001:db8:7fff:ffff::", 0 },
	{ "2001:db8::1", "2001:db8::1", 1 },
	{ "2001:db8::1", "2001:db8::2", 0 },
	{ "2001:db8::1", "2001:DB8:0:0::1", 1 },
	{ "::/0", "2001:db8::1", 1 },
	/* Not addresses: never covered. */
	{ "192.0.2.0/24", "local", 0 },
	{ "192.0.2.0/24", "", 0 },
	{ "192.0.2.0/24", "192.0.2", 0 },
	/* A name ban covers no address. */
	{ "mallory", "192.0.2.7", 0 },
};

START_TEST(test_match_addr)
{
	const struct match	*t = &match_addr[_i];
	struct ban		 b;
	const char		*why;

	ck_assert_int_eq(ban_parse(t->ban, &b, &why), 0);
	ck_assert_msg(ban_match_addr(&b, t->what) == t->want, "ban '%s' "
	    "%s '%s'", t->ban, t->want ? "misses" : "covers", t->what);
}
END_TEST

static const struct match match_name[] = {
	{ "mallory", "mallory", 1 },
	{ "mallory", "Mallory", 1 },
	{ "mallory", "MALLORY", 1 },
	{ "mallory", "mallory2", 0 },
	{ "mallory", "mal", 0 },
	/* Look-alikes fold onto the banned name. */
	{ "alice", "AL1CE", 1 },
	{ "alice", "a.lice", 1 },
	{ "alice", "a_l-i.c_e", 1 },
	{ "alice", "allce", 1 },
	{ "a.lice", "alice", 1 },
	{ "bob", "b0b", 1 },
	{ "modem", "rnodern", 1 },
	{ "wolf", "vvolf", 1 },
	{ "alice", "alicia", 0 },
	{ "alice", "bob", 0 },
	/* Wildcards. */
	{ "Troll*", "troll", 1 },
	{ "Troll*", "TROLLFACE", 1 },
	{ "Troll*", "tr0ll_99", 1 },
	{ "Troll*", "atroll", 0 },
	{ "spam??", "spam42", 1 },
	{ "spam??", "SPAMxy", 1 },
	{ "spam??", "spam4", 0 },
	{ "spam??", "spam123", 0 },
	{ "*bot*", "helperbot", 1 },
	{ "*bot*", "BOTany", 1 },
	{ "*bot*", "b0t", 1 },
	{ "*bot*", "bat", 0 },
	{ "a?c", "abc", 1 },
	{ "a?c", "ac", 0 },
	/* An address ban covers no name. */
	{ "192.0.2.7", "mallory", 0 },
};

START_TEST(test_match_name)
{
	const struct match	*t = &match_name[_i];
	struct ban		 b;
	const char		*why;

	ck_assert_int_eq(ban_parse(t->ban, &b, &why), 0);
	ck_assert_msg(ban_match_name(&b, t->what) == t->want, "ban '%s' "
	    "%s '%s'", t->ban, t->want ? "misses" : "covers", t->what);
}
END_TEST

/* Reasons ----------------------------------------------------------- */

/* A copy of s in an allocation of its exact size, for ASan. */
static char *
exact(const char *s, size_t len)
{
	char	*p;

	if ((p = malloc(len + 1)) == NULL)
		ck_abort_msg("out of memory");
	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

static const char *const reason_ok[] = {
	"",
	"spam",
	"flooding the room, again",
	" leading and trailing ",
	"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80",	/* UTF-8 */
	"quotes \" and \\ backslashes",
};

START_TEST(test_reason_ok)
{
	const char	*in = reason_ok[_i];
	char		 out[BAN_REASON_MAX + 1];

	memset(out, 'X', sizeof out);
	ck_assert_msg(ban_reason(in, out) == 0, "'%s' refused", in);
	ck_assert_str_eq(out, in);
}
END_TEST

static const char *const reason_bad[] = {
	"bell\x07",
	"tab\there",			/* becomes a space */
	"two  spaces",			/* become one */
	"line\nfeed",
	"carriage\rreturn",
	"\x1b[31mred",
	"del\x7f",
	"c1 \xc2\x85 next line",
	"invalid \xff utf-8",
	"cut \xe2\x82",
	"overlong \xc0\xaf",
	"bidi \xe2\x80\xae override",
	"zero\xe2\x80\x8bwidth",
	"bom \xef\xbb\xbf",
	"separator \xe2\x80\xa8 line",
};

START_TEST(test_reason_bad)
{
	const char	*in = reason_bad[_i];
	char		 out[BAN_REASON_MAX + 1];

	ck_assert_msg(ban_reason(in, out) == -1, "'%s' accepted", in);
}
END_TEST

START_TEST(test_reason_bounds)
{
	char	 big[BAN_REASON_MAX + 2], out[BAN_REASON_MAX + 1], *in;

	/* NULL is no reason: "". */
	memset(out, 'X', sizeof out);
	ck_assert_int_eq(ban_reason(NULL, out), 0);
	ck_assert_str_eq(out, "");

	/* BAN_REASON_MAX bytes exactly, then one more. */
	memset(big, 'a', sizeof big);
	big[BAN_REASON_MAX] = '\0';
	in = exact(big, BAN_REASON_MAX);
	ck_assert_int_eq(ban_reason(in, out), 0);
	ck_assert_uint_eq(strlen(out), BAN_REASON_MAX);
	ck_assert_str_eq(out, in);
	free(in);
	big[BAN_REASON_MAX] = 'a';
	in = exact(big, BAN_REASON_MAX + 1);
	ck_assert_int_eq(ban_reason(in, out), -1);
	free(in);

	/* Multi-byte characters count in bytes: 66 x 3 = 198, then 201. */
	memset(big, 0, sizeof big);
	while (strlen(big) + 3 <= BAN_REASON_MAX)
		strcat(big, "\xe2\x82\xac");
	ck_assert_uint_eq(strlen(big), 198);
	ck_assert_int_eq(ban_reason(big, out), 0);
	ck_assert_str_eq(out, big);
	strcat(big, "\xe2\x82\xac");
	ck_assert_int_eq(ban_reason(big, out), -1);
}
END_TEST

/* Durations --------------------------------------------------------- */

struct duration {
	const char	*in;
	int64_t		 want;
};

static const struct duration durations[] = {
	{ "45s", 45 },
	{ "30m", 30 * 60 },
	{ "12h", 12 * 3600 },
	{ "7d", 7 * 86400 },
	{ "2w", 14 * 86400 },
	{ "1s", 1 },
	{ "007m", 7 * 60 },
	/* Zero is no duration. */
	{ "0s", 0 },
	{ "00d", 0 },
	{ "0w", 0 },
	/* Junk. */
	{ "", 0 },
	{ "m", 0 },
	{ "5x", 0 },
	{ "5M", 0 },
	{ "5 m", 0 },
	{ "5m ", 0 },
	{ " 5m", 0 },
	{ "-5m", 0 },
	{ "+5m", 0 },
	{ "5mm", 0 },
	{ "5ms", 0 },
	{ "1.5h", 0 },
	{ "1h30m", 0 },
	{ "0x10s", 0 },
	{ "\xef\xbc\x95m", 0 },		/* a fullwidth digit */
	/* The ten-year bound, in every unit: the largest, then one more. */
	{ "316224000s", BAN_DURATION_MAX },
	{ "316224001s", 0 },
	{ "5270400m", BAN_DURATION_MAX },
	{ "5270401m", 0 },
	{ "87840h", BAN_DURATION_MAX },
	{ "87841h", 0 },
	{ "3660d", BAN_DURATION_MAX },
	{ "3661d", 0 },
	{ "522w", 522LL * 7 * 86400 },
	{ "523w", 0 },
	/* Overflow of any integer type on the way. */
	{ "9223372036854775807s", 0 },
	{ "18446744073709551617m", 0 },
	{ "99999999999999999999999999999999999999w", 0 },
	{ "000000000000000000000000000000000000001s", 1 },
};

START_TEST(test_duration)
{
	const struct duration	*t = &durations[_i];
	char			*in = exact(t->in, strlen(t->in));
	int64_t			 got;

	got = ban_duration(in);
	ck_assert_msg(got == t->want, "'%s': %lld, want %lld", t->in,
	    (long long)got, (long long)t->want);
	free(in);
}
END_TEST

/*
 * Digits without a unit are no duration.  These strings are given a spare
 * NUL after their own: ban_duration() reads the byte after the NUL of an
 * all-digit string (s[i + 1] with s[i] the NUL), one past the end of an
 * exact allocation, which AddressSanitizer reports.  Reported; the spare
 * byte goes when that is fixed.
 */
START_TEST(test_duration_digits_only)
{
	static const char *const digits[] = { "0", "10", "3600", "99" };
	char			 buf[8];
	size_t			 i;

	for (i = 0; i < nitems(digits); i++) {
		memset(buf, 0, sizeof buf);
		memcpy(buf, digits[i], strlen(digits[i]));
		ck_assert_msg(ban_duration(buf) == 0, "'%s' is a duration",
		    digits[i]);
	}
}
END_TEST

/* The list ---------------------------------------------------------- */

static struct bans	l;

static void
list_setup(void)
{
	ban_init(&l);
}

static void
list_teardown(void)
{
	ban_clear(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(TAILQ_FIRST(&l.list));
}

/* Adds pattern with a reason (copied) and an expiry. */
static struct ban *
add(const char *pattern, const char *reason, int64_t expires)
{
	struct ban	 b;
	const char	*why;
	char		 copy[BAN_REASON_MAX + 1];

	ck_assert_msg(ban_parse(pattern, &b, &why) == 0, "%s: %s", pattern,
	    why);
	b.expires = expires;
	b.created = 1000;
	if (reason != NULL) {
		snprintf(copy, sizeof copy, "%s", reason);
		b.reason = copy;
	}
	return (ban_add(&l, &b));
}

static unsigned
count(void)
{
	struct ban	*b;
	unsigned	 n = 0;

	TAILQ_FOREACH(b, &l.list, entry)
		n++;
	return (n);
}

START_TEST(test_list_add_replaces)
{
	struct ban	*b;

	b = add("alice", "first", 0);
	ck_assert_str_eq(b->reason, "first");
	add("192.0.2.0/24", NULL, 0);
	ck_assert_uint_eq(l.n, 2);

	/* Same pattern: replaced, not added. */
	b = add("alice", "second", 5000);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(count(), 2);
	ck_assert_ptr_eq(ban_find(&l, "alice"), b);
	ck_assert_str_eq(b->reason, "second");
	ck_assert_int_eq(b->expires, 5000);

	/* The same prefix written another way is the same ban. */
	b = add("192.0.2.77/24", "again", 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(b->pattern, "192.0.2.0/24");
	ck_assert_str_eq(ban_find(&l, "192.0.2.0/24")->reason, "again");

	/* Newest first. */
	add("bob", NULL, 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_ptr_null(ban_find(&l, "bob")->reason);
	ck_assert_str_eq(TAILQ_FIRST(&l.list)->pattern, "bob");
	ck_assert_ptr_null(ban_find(&l, "carol"));
}
END_TEST

START_TEST(test_list_remove)
{
	add("alice", "x", 0);
	add("bob", NULL, 0);
	add("2001:db8::/32", "y", 0);

	ck_assert_int_eq(ban_remove(&l, "bob"), 1);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(count(), 2);
	ck_assert_ptr_null(ban_find(&l, "bob"));
	ck_assert_int_eq(ban_remove(&l, "bob"), 0);
	ck_assert_uint_eq(l.n, 2);
	/* Removal is by canonical pattern. */
	ck_assert_int_eq(ban_remove(&l, "2001:DB8::/32"), 0);
	ck_assert_int_eq(ban_remove(&l, "2001:db8::/32"), 1);
	ck_assert_int_eq(ban_remove(&l, "alice"), 1);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(TAILQ_FIRST(&l.list));
	ck_assert_int_eq(ban_remove(&l, "alice"), 0);
}
END_TEST

START_TEST(test_list_check_expiry)
{
	struct ban	*b;

	add("192.0.2.0/24", "for a while", 100);
	add("mallory", "for a while", 100);

	ck_assert_ptr_nonnull(ban_check_addr(&l, "192.0.2.9", 99));
	ck_assert_ptr_null(ban_check_addr(&l, "192.0.2.9", 100));
	ck_assert_ptr_null(ban_check_addr(&l, "192.0.2.9", 101));
	ck_assert_ptr_nonnull(ban_check_name(&l, "MALLORY", 99));
	ck_assert_ptr_null(ban_check_name(&l, "MALLORY", 100));

	/* A ban for ever behind an expired one: the one in force. */
	add("192.0.2.9", "for ever", 0);
	add("192.0.2.0/25", "expired", 50);
	b = ban_check_addr(&l, "192.0.2.9", 1000000);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->pattern, "192.0.2.9");
	/* The first in force, newest first, while both are. */
	b = ban_check_addr(&l, "192.0.2.9", 10);
	ck_assert_str_eq(b->pattern, "192.0.2.0/25");

	/* Names and addresses do not cross. */
	ck_assert_ptr_null(ban_check_addr(&l, "198.51.100.1", 0));
	ck_assert_ptr_null(ban_check_name(&l, "alice", 0));
	ck_assert_ptr_null(ban_check_name(&l, "192.0.2.9", 0));

	add("al1ce", NULL, 0);
	b = ban_check_name(&l, "A.lice", 1000000);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->pattern, "al1ce");
}
END_TEST

START_TEST(test_list_prune)
{
	add("a1", NULL, 10);
	add("a2", "r", 20);
	add("a3", NULL, 0);
	add("192.0.2.1", "r", 30);
	add("192.0.2.2", NULL, 0);

	ck_assert_uint_eq(ban_prune(&l, 9), 0);
	ck_assert_uint_eq(l.n, 5);
	/* Expired at now means expires <= now. */
	ck_assert_uint_eq(ban_prune(&l, 20), 2);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(count(), 3);
	ck_assert_ptr_null(ban_find(&l, "a1"));
	ck_assert_ptr_null(ban_find(&l, "a2"));
	ck_assert_ptr_nonnull(ban_find(&l, "192.0.2.1"));
	ck_assert_uint_eq(ban_prune(&l, 20), 0);
	/* Bans for ever are never pruned. */
	ck_assert_uint_eq(ban_prune(&l, INT64_MAX), 1);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_nonnull(ban_find(&l, "a3"));
	ck_assert_ptr_nonnull(ban_find(&l, "192.0.2.2"));
}
END_TEST

START_TEST(test_list_clear_reuse)
{
	add("a1", "r", 0);
	add("a2", "r", 0);
	ban_clear(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(ban_find(&l, "a1"));
	add("a1", "r", 0);
	ck_assert_uint_eq(l.n, 1);
}
END_TEST

/* The ban record of wire.c ------------------------------------------ */

/* wire_parse_ban() on C strings (the value at its exact size). */
static int
parse_record(const char *pattern, const char *value, struct ban *b,
    char *buf)
{
	char	*p = exact(pattern, strlen(pattern));
	char	*v = exact(value, strlen(value));
	int	 rc;

	rc = wire_parse_ban(p, strlen(p), v, strlen(v), b, buf);
	free(p);
	free(v);
	return (rc);
}

START_TEST(test_wire_parse_ban_ok)
{
	struct ban	b;
	char		buf[BAN_REASON_MAX + 1], big[BAN_REASON_MAX + 16];

	ck_assert_int_eq(parse_record("192.0.2.0/24", "0\t1700000000\tspam",
	    &b, buf), 0);
	ck_assert_int_eq(b.kind, BAN_ADDRESS);
	ck_assert_str_eq(b.pattern, "192.0.2.0/24");
	ck_assert_int_eq(b.expires, 0);
	ck_assert_int_eq(b.created, 1700000000);
	ck_assert_ptr_eq(b.reason, buf);
	ck_assert_str_eq(b.reason, "spam");

	/* An empty reason; twelve digits of seconds. */
	ck_assert_int_eq(parse_record("Troll*", "999999999999\t1\t", &b,
	    buf), 0);
	ck_assert_int_eq(b.kind, BAN_NAME);
	ck_assert_int_eq(b.expires, 999999999999LL);
	ck_assert_int_eq(b.created, 1);
	ck_assert_str_eq(b.reason, "");

	/* The pattern is plen bytes, not up to a NUL. */
	ck_assert_int_eq(wire_parse_ban("2001:db8::/32trailing", 13,
	    "0\t0\tr", 5, &b, buf), 0);
	ck_assert_str_eq(b.pattern, "2001:db8::/32");

	/* A reason of BAN_REASON_MAX bytes. */
	memset(big, 0, sizeof big);
	memcpy(big, "0\t0\t", 4);
	memset(big + 4, 'r', BAN_REASON_MAX);
	ck_assert_int_eq(parse_record("x1", big, &b, buf), 0);
	ck_assert_uint_eq(strlen(b.reason), BAN_REASON_MAX);
	big[4 + BAN_REASON_MAX] = 'r';
	ck_assert_int_eq(parse_record("x1", big, &b, buf), -1);
}
END_TEST

static const struct {
	const char	*pattern;
	const char	*value;
} record_bad[] = {
	/* The pattern: valid and canonical, or nothing. */
	{ "", "0\t0\tr" },
	{ "192.0.2.77/24", "0\t0\tr" },
	{ "2001:DB8::/32", "0\t0\tr" },
	{ "192.0.2.7/32", "0\t0\tr" },
	{ "bad pattern", "0\t0\tr" },
	{ "*", "0\t0\tr" },
	{ "::/129", "0\t0\tr" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "0\t0\tr" },
	/* Fields: two TABs, and seconds of at most twelve digits. */
	{ "x1", "" },
	{ "x1", "0" },
	{ "x1", "0\t0" },
	{ "x1", "\t0\tr" },
	{ "x1", "0\t\tr" },
	{ "x1", "x\t0\tr" },
	{ "x1", "0\t-1\tr" },
	{ "x1", "-1\t0\tr" },
	{ "x1", " 0\t0\tr" },
	{ "x1", "1000000000000\t0\tr" },
	{ "x1", "0\t1000000000000\tr" },
	/* The reason: what ban_reason() accepts. */
	{ "x1", "0\t0\ta\tb" },
	{ "x1", "0\t0\t\x1b[2Jcleared" },
	{ "x1", "0\t0\ttwo  spaces" },
	{ "x1", "0\t0\tnew\nline" },
	{ "x1", "0\t0\t\xff" },
};

START_TEST(test_wire_parse_ban_bad)
{
	struct ban	b;
	char		buf[BAN_REASON_MAX + 1];

	ck_assert_msg(parse_record(record_bad[_i].pattern,
	    record_bad[_i].value, &b, buf) == -1, "pattern '%s' value '%s' "
	    "accepted", record_bad[_i].pattern, record_bad[_i].value);
}
END_TEST

START_TEST(test_wire_parse_ban_nul)
{
	struct ban	b;
	char		buf[BAN_REASON_MAX + 1];

	ck_assert_int_eq(wire_parse_ban("x1\0y", 4, "0\t0\tr", 5, &b, buf),
	    -1);
	ck_assert_int_eq(wire_parse_ban("x1", 2, "0\t0\tr\0s", 7, &b, buf),
	    -1);
	ck_assert_int_eq(wire_parse_ban("x1", 2, "0\0\t0\tr", 7, &b, buf),
	    -1);
}
END_TEST

/*
 * wire_ban() on a "ban" message as another node sends it: encoded by
 * wire_encode(), decoded by wire_decode() (which sanitises its text).
 */
static int
ban_message(const char *pattern, const char *expires, const char *created,
    const char *reason, struct ban *b, char *buf)
{
	const char	*field[4] = { pattern, expires, created, reason };
	const char	*why = NULL;
	struct wire_msg	 m;
	size_t		 len;
	char		*data;
	int		 rc;

	data = wire_encode("node-1", WIRE_BAN, field, &len);
	ck_assert_msg(wire_decode(data, len, BAN_REASON_MAX, &m, &why) == 0,
	    "wire_decode: %s", why);
	free(data);
	ck_assert_int_eq(m.type, WIRE_BAN);
	rc = wire_ban(&m, b, buf);
	/* What b holds is buf's and b's own, not the message's. */
	wire_msg_free(&m);
	return (rc);
}

START_TEST(test_wire_ban)
{
	const char	*field[1] = { "192.0.2.0/24" };
	const char	*why;
	struct wire_msg	 m;
	struct ban	 b;
	size_t		 len;
	char		 buf[BAN_REASON_MAX + 1], *data;

	ck_assert_int_eq(ban_message("2001:db8::/48", "1800000000",
	    "1700000000", "a reason", &b, buf), 0);
	ck_assert_str_eq(b.pattern, "2001:db8::/48");
	ck_assert_int_eq(b.net.family, AF_INET6);
	ck_assert_uint_eq(b.net.prefix, 48);
	ck_assert_int_eq(b.expires, 1800000000);
	ck_assert_int_eq(b.created, 1700000000);
	ck_assert_ptr_eq(b.reason, buf);
	ck_assert_str_eq(b.reason, "a reason");

	ck_assert_int_eq(ban_message("spam??", "0", "1", "", &b, buf), 0);
	ck_assert_str_eq(b.reason, "");
	ck_assert_int_eq(b.kind, BAN_NAME);

	/* The decoder sanitised the reason: what arrives is clean. */
	ck_assert_int_eq(ban_message("x1", "0", "1", "\x1b[31mred\x07", &b,
	    buf), 0);
	ck_assert_str_eq(b.reason, "red");

	/* Refused: a pattern not canonical, or not one; bad seconds. */
	ck_assert_int_eq(ban_message("192.0.2.77/24", "0", "1", "r", &b, buf),
	    -1);
	ck_assert_int_eq(ban_message("a b", "0", "1", "r", &b, buf), -1);
	ck_assert_int_eq(ban_message("x1", "soon", "1", "r", &b, buf), -1);
	ck_assert_int_eq(ban_message("x1", "0", "1000000000000", "r", &b,
	    buf), -1);

	/* Another type of message is no ban. */
	data = wire_encode("node-1", WIRE_UNBAN, field, &len);
	ck_assert_int_eq(wire_decode(data, len, BAN_REASON_MAX, &m, &why), 0);
	free(data);
	ck_assert_int_eq(wire_ban(&m, &b, buf), -1);
	wire_msg_free(&m);
}
END_TEST

static Suite *
ban_suite(void)
{
	Suite	*s = suite_create("ban");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_ok, 0, nitems(parse_ok));
	tcase_add_loop_test(tc, test_parse_bad, 0, nitems(parse_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_loop_test(tc, test_match_addr, 0, nitems(match_addr));
	tcase_add_loop_test(tc, test_match_name, 0, nitems(match_name));
	suite_add_tcase(s, tc);

	tc = tcase_create("reason");
	tcase_add_loop_test(tc, test_reason_ok, 0, nitems(reason_ok));
	tcase_add_loop_test(tc, test_reason_bad, 0, nitems(reason_bad));
	tcase_add_test(tc, test_reason_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_loop_test(tc, test_duration, 0, nitems(durations));
	tcase_add_test(tc, test_duration_digits_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("list");
	tcase_add_checked_fixture(tc, list_setup, list_teardown);
	tcase_add_test(tc, test_list_add_replaces);
	tcase_add_test(tc, test_list_remove);
	tcase_add_test(tc, test_list_check_expiry);
	tcase_add_test(tc, test_list_prune);
	tcase_add_test(tc, test_list_clear_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_test(tc, test_wire_parse_ban_ok);
	tcase_add_loop_test(tc, test_wire_parse_ban_bad, 0,
	    nitems(record_bad));
	tcase_add_test(tc, test_wire_parse_ban_nul);
	tcase_add_test(tc, test_wire_ban);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(ban_suite()));
}
