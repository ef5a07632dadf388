/*
 * Unit tests for the name rule (name.c): which byte strings are names,
 * the key each folds to, and which names count as guest names.
 *
 * The validity tests walk every byte value rather than a few samples, so
 * that a character slipping into or out of the rule is caught.  The key's
 * promises (names equal without regard to case have equal keys; a key is
 * never empty nor longer than its name, and is its own key) are checked
 * as properties over many random names from a fixed seed, so a failure
 * can be replayed; the folding rules themselves are checked by example,
 * one rule at a time and then together.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

#define PROPERTY_ROUNDS	20000

static const char name_alphabet[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

/* xorshift64*: a fixed sequence, so a failing round can be replayed. */
static uint64_t	rng_state;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 2685821657736338717ULL);
}

/* The key of s, as a string the assertions can compare. */
static const char *
key(const char *s)
{
	static char	buf[4][NAME_LEN + 1];
	static int	i;

	i = (i + 1) % 4;
	/* A stale byte would show if name_key() left the NUL out. */
	memset(buf[i], 'X', sizeof buf[i]);
	name_key(s, buf[i]);
	return (buf[i]);
}

static int
allowed(int ch)
{
	return (isascii(ch) && (isalnum(ch) || ch == '_' || ch == '-' ||
	    ch == '.'));
}

/* A random valid name of 1 to NAME_LEN bytes. */
static void
random_name(char *buf)
{
	size_t	len = 1 + rng() % NAME_LEN, i;

	for (i = 0; i < len; i++)
		buf[i] = name_alphabet[rng() % (sizeof name_alphabet - 1)];
	buf[len] = '\0';
	/* At least one letter or digit. */
	if (strspn(buf, "_-.") == len)
		buf[rng() % len] = name_alphabet[rng() % 62];
}

START_TEST(test_valid_lengths)
{
	char	buf[NAME_LEN + 2];

	ck_assert_int_eq(name_valid("", 0), 0);
	ck_assert_int_eq(name_valid("alice", 0), 0);
	ck_assert_int_eq(name_valid("a", 1), 1);
	ck_assert_int_eq(name_valid("7", 1), 1);

	memset(buf, 'a', sizeof buf);
	ck_assert_int_eq(name_valid(buf, NAME_LEN), 1);
	ck_assert_int_eq(name_valid(buf, NAME_LEN + 1), 0);
	ck_assert_int_eq(name_valid(buf, NAME_LEN + 2), 0);
	buf[NAME_LEN - 1] = '.';
	ck_assert_int_eq(name_valid(buf, NAME_LEN), 1);
}
END_TEST

/* Every byte, alone and between letters: in the rule or not. */
START_TEST(test_valid_every_byte)
{
	char	buf[3];
	int	ch;

	for (ch = 0; ch < 256; ch++) {
		buf[0] = 'a';
		buf[1] = (char)ch;
		buf[2] = 'b';
		ck_assert_msg(name_valid(buf, 3) == allowed(ch),
		    "byte 0x%02x between letters", ch);
		buf[0] = (char)ch;
		ck_assert_msg(name_valid(buf, 1) ==
		    (allowed(ch) && isalnum(ch)), "byte 0x%02x alone", ch);
	}
}
END_TEST

START_TEST(test_valid_punctuation)
{
	static const char *const good[] = {
		"a_b", "a-b", "a.b", "_a", "-a", ".a", "a_", "a-", "a.",
		"_-.x._-", "...1", "J.R.R.Tolkien", "x-_-_-_-_-_-_-_-_-_-_-_-",
	};
	static const char *const bad[] = {
		"_", "-", ".", "__", "--", "..", "_-.",
		"._-_.-._-_.-._-_.-._-_.", "------------------------",
	};
	size_t	i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(name_valid(good[i], strlen(good[i])),
		    "'%s' refused", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!name_valid(bad[i], strlen(bad[i])),
		    "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_valid_not_ascii)
{
	ck_assert_int_eq(name_valid("caf\xc3\xa9", 5), 0);
	ck_assert_int_eq(name_valid("\xc3\xa9", 2), 0);
	/* Cyrillic "a" in "alice". */
	ck_assert_int_eq(name_valid("\xd0\xb0lice", 6), 0);
	ck_assert_int_eq(name_valid("bob\xff", 4), 0);
	ck_assert_int_eq(name_valid("al ice", 6), 0);
	ck_assert_int_eq(name_valid("al\tice", 6), 0);
	ck_assert_int_eq(name_valid("alice\r", 6), 0);
}
END_TEST

/* The length decides, not a NUL; a NUL within it is not a name byte. */
START_TEST(test_valid_len_argument)
{
	ck_assert_int_eq(name_valid("ab\0cd", 5), 0);
	ck_assert_int_eq(name_valid("ab\0cd", 3), 0);
	ck_assert_int_eq(name_valid("ab\0cd", 2), 1);
	ck_assert_int_eq(name_valid("\0abc", 4), 0);
	/* Not NUL-terminated: only the first len bytes are looked at. */
	ck_assert_int_eq(name_valid("bob carol", 3), 1);
	ck_assert_int_eq(name_valid("bob carol", 4), 0);
}
END_TEST

START_TEST(test_key_case)
{
	ck_assert_str_eq(key("bob"), "bob");
	ck_assert_str_eq(key("BOB"), "bob");
	ck_assert_str_eq(key("BoB"), "bob");
	ck_assert_str_eq(key("ZED"), "zed");
	ck_assert_str_eq(key("Carla"), "carla");
}
END_TEST

START_TEST(test_key_separators)
{
	ck_assert_str_eq(key("a_b"), "ab");
	ck_assert_str_eq(key("a-b"), "ab");
	ck_assert_str_eq(key("a.b"), "ab");
	ck_assert_str_eq(key("_.-a-._"), "a");
	ck_assert_str_eq(key("x_-.y"), "xy");
}
END_TEST

START_TEST(test_key_confusables)
{
	/* i, I, l, L and 1 */
	ck_assert_str_eq(key("i"), "l");
	ck_assert_str_eq(key("I"), "l");
	ck_assert_str_eq(key("l"), "l");
	ck_assert_str_eq(key("L"), "l");
	ck_assert_str_eq(key("1"), "l");
	ck_assert_str_eq(key("bill"), "blll");
	ck_assert_str_eq(key("B1LL"), "blll");
	/* o, O and 0 */
	ck_assert_str_eq(key("o"), "o");
	ck_assert_str_eq(key("O"), "o");
	ck_assert_str_eq(key("0"), "o");
	ck_assert_str_eq(key("b0b"), "bob");
	/* Other digits stay. */
	ck_assert_str_eq(key("23456789"), "23456789");
	/* rn and m */
	ck_assert_str_eq(key("rn"), "m");
	ck_assert_str_eq(key("RN"), "m");
	ck_assert_str_eq(key("rN"), "m");
	ck_assert_str_eq(key("m"), "m");
	ck_assert_str_eq(key("cornwall"), "comwall");
	ck_assert_str_eq(key("rnrn"), "mm");
	ck_assert_str_eq(key("rrn"), "rm");
	ck_assert_str_eq(key("rnn"), "mn");
	ck_assert_str_eq(key("nr"), "nr");
	/* vv and w */
	ck_assert_str_eq(key("vv"), "w");
	ck_assert_str_eq(key("VV"), "w");
	ck_assert_str_eq(key("w"), "w");
	ck_assert_str_eq(key("vvvv"), "ww");
	ck_assert_str_eq(key("vvv"), "wv");
	ck_assert_str_eq(key("v"), "v");
}
END_TEST

START_TEST(test_key_combined)
{
	/* Separators go first, so the pairs fold across them. */
	ck_assert_str_eq(key("r_n"), "m");
	ck_assert_str_eq(key("V.v"), "w");
	ck_assert_str_eq(key("Guest-1"), "guestl");
	ck_assert_str_eq(key("guest1."), "guestl");
	ck_assert_str_eq(key("g.u.e.s.t.1"), "guestl");
	ck_assert_str_eq(key("B0b.Smith_1"), "bobsmlthl");
	ck_assert_str_eq(key("RnVV-I0"), "mwlo");
	ck_assert_str_eq(key("Mallory"), "mallory");
	ck_assert_str_eq(key("rnalI0ry"), "mallory");
	ck_assert_str_eq(key("VVi11ow"), "wlllow");
	ck_assert_str_eq(key("willow"), "wlllow");
}
END_TEST

/*
 * A key folds each rule once: it holds no capital, separator, i, 1 or 0,
 * no "rn" and no "vv", and so is its own key.
 */
static void
check_key_shape(const char *name, const char *k)
{
	size_t	i;

	ck_assert_msg(k[0] != '\0', "'%s': empty key", name);
	ck_assert_msg(strlen(k) <= strlen(name), "'%s': key '%s' longer",
	    name, k);
	for (i = 0; k[i] != '\0'; i++) {
		ck_assert_msg((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= '2' && k[i] <= '9'), "'%s': key '%s' holds '%c'",
		    name, k, k[i]);
		ck_assert_msg(k[i] != 'i', "'%s': key '%s' holds i", name, k);
		if (i > 0) {
			ck_assert_msg(!(k[i - 1] == 'r' && k[i] == 'n') &&
			    !(k[i - 1] == 'v' && k[i] == 'v'),
			    "'%s': key '%s' not folded", name, k);
		}
	}
	ck_assert_msg(name_valid(k, strlen(k)), "'%s': key '%s' not a name",
	    name, k);
	ck_assert_msg(strcmp(key(k), k) == 0, "'%s': key '%s' has key '%s'",
	    name, k, key(k));
}

START_TEST(test_key_property_case)
{
	char	name[NAME_LEN + 1], var[NAME_LEN + 1], k[NAME_LEN + 1];
	size_t	i, round;

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (round = 0; round < PROPERTY_ROUNDS; round++) {
		random_name(name);
		ck_assert_msg(name_valid(name, strlen(name)),
		    "generator made '%s'", name);
		name_key(name, k);
		check_key_shape(name, k);

		/* All upper, all lower, then a random mix. */
		for (i = 0; name[i] != '\0'; i++)
			var[i] = (char)toupper((unsigned char)name[i]);
		var[i] = '\0';
		ck_assert_msg(strcmp(key(var), k) == 0, "'%s' '%s' differ",
		    name, var);
		ck_assert_int_eq(name_same(name, var), 1);
		for (i = 0; name[i] != '\0'; i++)
			var[i] = (char)tolower((unsigned char)name[i]);
		ck_assert_msg(strcmp(key(var), k) == 0, "'%s' '%s' differ",
		    name, var);
		for (i = 0; name[i] != '\0'; i++) {
			var[i] = (char)(rng() & 1 ?
			    toupper((unsigned char)name[i]) :
			    tolower((unsigned char)name[i]));
		}
		ck_assert_msg(strcmp(key(var), k) == 0, "'%s' '%s' differ",
		    name, var);
		ck_assert_int_eq(name_same(var, name), 1);
	}
}
END_TEST

/* Short names over a small alphabet meet the folding rules often. */
START_TEST(test_key_property_confusables)
{
	static const char	 alpha[] = "rRnNvVwWmMiIlL1oO0_.-";
	char			 name[NAME_LEN + 1], k[NAME_LEN + 1];
	size_t			 len, i, round;

	rng_state = 0x243f6a8885a308d3ULL;
	for (round = 0; round < PROPERTY_ROUNDS; round++) {
		len = 1 + rng() % 8;
		for (i = 0; i < len; i++)
			name[i] = alpha[rng() % (sizeof alpha - 1)];
		name[len] = '\0';
		if (!name_valid(name, len))
			continue;
		name_key(name, k);
		check_key_shape(name, k);
	}
}
END_TEST

/*
 * w reads as vv, so "vw", "wv" and "vvv" are one name (a left-to-right
 * fold of pairs gave "vw", "wv" and "wv").
 */
START_TEST(test_key_w_is_vv)
{
	ck_assert_int_eq(name_same("vw", "vvv"), 1);
	ck_assert_int_eq(name_same("vw", "wv"), 1);
	ck_assert_int_eq(name_same("vwv", "ww"), 1);
	ck_assert_int_eq(name_same("Vwes", "wves"), 1);
}
END_TEST

START_TEST(test_same)
{
	ck_assert_int_eq(name_same("alice", "Alice"), 1);
	ck_assert_int_eq(name_same("alice", "a.l.i.c.e"), 1);
	ck_assert_int_eq(name_same("alice", "aiice"), 1);
	ck_assert_int_eq(name_same("alice", "a1ice"), 1);
	ck_assert_int_eq(name_same("bob", "B0B"), 1);
	ck_assert_int_eq(name_same("modern", "rnodern"), 1);
	ck_assert_int_eq(name_same("wes", "vves"), 1);
	ck_assert_int_eq(name_same("alice", "alicia"), 0);
	ck_assert_int_eq(name_same("bob", "bobb"), 0);
	ck_assert_int_eq(name_same("rn", "r"), 0);
	ck_assert_int_eq(name_same("w", "v"), 0);
	ck_assert_int_eq(name_same("guest1", "guest2"), 0);
}
END_TEST

START_TEST(test_is_guest)
{
	static const struct {
		const char	*name;
		int		 guest;
	} cases[] = {
		{ "guest1", 1 },
		{ "GUEST42", 1 },
		{ "guestl", 1 },
		{ "guestI", 1 },
		{ "Guest-1", 1 },
		{ "guest1.", 1 },
		{ "g.u.e.s.t.1", 1 },
		{ "guest0", 1 },
		{ "guestO", 1 },
		{ "guest23456789", 1 },
		{ "guest18446744073709551", 1 },
		{ "guest", 0 },
		{ "GUEST", 0 },
		{ "guest_", 0 },
		{ "guests", 0 },
		{ "guest1x", 0 },
		{ "guestx1", 0 },
		{ "xguest1", 0 },
		{ "gues1", 0 },
		{ "guesst1", 0 },
		{ "alice", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(name_is_guest(cases[i].name) == cases[i].guest,
		    "name_is_guest(%s) is not %d", cases[i].name,
		    cases[i].guest);
}
END_TEST

START_TEST(test_guest_format)
{
	char		buf[NAME_LEN + 1];
	uint64_t	n;

	name_guest(buf, 0);
	ck_assert_str_eq(buf, "guest0");
	name_guest(buf, 1);
	ck_assert_str_eq(buf, "guest1");
	name_guest(buf, 42);
	ck_assert_str_eq(buf, "guest42");
	/* Redis's INCR stops at INT64_MAX: 19 digits, a whole name. */
	name_guest(buf, INT64_MAX);
	ck_assert_str_eq(buf, "guest9223372036854775807");
	ck_assert_uint_eq(strlen(buf), NAME_LEN);

	/* What it gives out is a valid name, and a guest name. */
	for (n = 0; n < 100000; n += 1 + n / 7) {
		name_guest(buf, n);
		ck_assert_msg(name_valid(buf, strlen(buf)), "'%s'", buf);
		ck_assert_msg(name_is_guest(buf), "'%s'", buf);
	}
	name_guest(buf, INT64_MAX);
	ck_assert_int_eq(name_is_guest(buf), 1);
}
END_TEST

static Suite *
name_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("name");

	tc = tcase_create("valid");
	tcase_add_test(tc, test_valid_lengths);
	tcase_add_test(tc, test_valid_every_byte);
	tcase_add_test(tc, test_valid_punctuation);
	tcase_add_test(tc, test_valid_not_ascii);
	tcase_add_test(tc, test_valid_len_argument);
	suite_add_tcase(s, tc);

	tc = tcase_create("key");
	tcase_add_test(tc, test_key_case);
	tcase_add_test(tc, test_key_separators);
	tcase_add_test(tc, test_key_confusables);
	tcase_add_test(tc, test_key_combined);
	tcase_add_test(tc, test_key_property_case);
	tcase_add_test(tc, test_key_property_confusables);
	tcase_add_test(tc, test_same);
	tcase_add_test(tc, test_key_w_is_vv);
	suite_add_tcase(s, tc);

	tc = tcase_create("guest");
	tcase_add_test(tc, test_is_guest);
	tcase_add_test(tc, test_guest_format);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(name_suite());
}
