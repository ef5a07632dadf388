/*
 * Unit tests for hash.c: a hash is yescrypt ("$y$"), salted anew each
 * time, with the cost it was made with in it (5 is "j9T", Debian's
 * default); the right password matches and others do not; and a stored
 * value that is not a yescrypt hash chatd could have written (another
 * scheme, garbage, empty, cut short) is refused, never checked.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

START_TEST(test_make_check)
{
	char	a[HASH_MAX], b[HASH_MAX];

	ck_assert_int_eq(hash_make("correct horse", 1, a), 0);
	ck_assert_int_eq(hash_make("correct horse", 1, b), 0);
	ck_assert_int_eq(strncmp(a, "$y$", 3), 0);
	ck_assert_str_ne(a, b);		/* a new salt each time */
	ck_assert(hash_valid(a));
	ck_assert_int_eq(hash_check("correct horse", a), 1);
	ck_assert_int_eq(hash_check("correct horse", b), 1);
	ck_assert_int_eq(hash_check("correct hors", a), 0);
	ck_assert_int_eq(hash_check("correct horse ", a), 0);
	ck_assert_int_eq(hash_check("", a), 0);
	ck_assert_ptr_null(strstr(a, "correct"));
}
END_TEST

START_TEST(test_cost)
{
	char	h[HASH_MAX];

	ck_assert_int_eq(hash_make("pw", 5, h), 0);
	ck_assert_int_eq(strncmp(h, "$y$j9T$", 7), 0);
	ck_assert_int_eq(hash_check("pw", h), 1);
	ck_assert_int_eq(hash_make("pw", 1, h), 0);
	ck_assert_int_ne(strncmp(h, "$y$j9T$", 7), 0);
}
END_TEST

START_TEST(test_refused)
{
	char	h[HASH_MAX], cut[HASH_MAX];

	ck_assert_int_eq(hash_make("pw", 1, h), 0);
	ck_assert(!hash_valid(""));
	ck_assert(!hash_valid("garbage"));
	ck_assert(!hash_valid("$6$saltsalt$abcdefghijklmnopqrstuv"));
	ck_assert(!hash_valid("$2b$05$abcdefghijklmnopqrstuuabcdefghijklmn"));
	ck_assert_int_eq(hash_check("pw", "$6$saltsalt$x"), -1);
	ck_assert_int_eq(hash_check("pw", "*"), -1);
	memcpy(cut, h, 10);
	cut[10] = '\0';
	ck_assert_int_ne(hash_check("pw", cut), 1);
}
END_TEST

static Suite *
hash_suite(void)
{
	Suite	*s = suite_create("hash");
	TCase	*tc = tcase_create("hash");

	tcase_add_test(tc, test_make_check);
	tcase_add_test(tc, test_cost);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(hash_suite()));
}
