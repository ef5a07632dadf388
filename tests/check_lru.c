/*
 * Unit tests for the bounded table of lru.c: entries made once and found
 * again, dropped least recently used first when the table is full (a get
 * or a touch counts as a use, a find does not), a lower bound applied at
 * once, and the bucket array growing under thousands of keys with every
 * key still found.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

START_TEST(test_get_find)
{
	struct lru		 l;
	struct lru_entry	*e;

	lru_init(&l, 10);
	ck_assert_ptr_null(lru_find(&l, "a:192.0.2.1"));
	e = lru_get(&l, "a:192.0.2.1");
	ck_assert_str_eq(e->key, "a:192.0.2.1");
	ck_assert_uint_eq(e->count, 0);
	ck_assert_uint_eq(e->ms, 0);
	e->count = 3;
	ck_assert_ptr_eq(lru_find(&l, "a:192.0.2.1"), e);
	ck_assert_ptr_eq(lru_get(&l, "a:192.0.2.1"), e);
	ck_assert_uint_eq(lru_get(&l, "a:192.0.2.1")->count, 3);
	ck_assert_uint_eq(l.n, 1);
	lru_drop(&l, e);
	ck_assert_ptr_null(lru_find(&l, "a:192.0.2.1"));
	ck_assert_uint_eq(l.n, 0);
	lru_free(&l);
}
END_TEST

/* A key longer than LRU_KEY_MAX - 1 is cut, and found by the cut key. */
START_TEST(test_long_key)
{
	struct lru	 l;
	char		 key[200];

	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	lru_init(&l, 4);
	ck_assert_uint_eq(strlen(lru_get(&l, key)->key), LRU_KEY_MAX - 1);
	key[LRU_KEY_MAX - 1] = '\0';
	ck_assert_ptr_nonnull(lru_find(&l, key));
	lru_free(&l);
}
END_TEST

START_TEST(test_evicts_least_recent)
{
	struct lru	 l;

	lru_init(&l, 3);
	lru_get(&l, "one");
	lru_get(&l, "two");
	lru_get(&l, "three");
	/* A get is a use; a find is not. */
	lru_get(&l, "one");
	lru_find(&l, "two");
	lru_get(&l, "four");
	ck_assert_uint_eq(l.n, 3);
	ck_assert_ptr_null(lru_find(&l, "two"));
	ck_assert_ptr_nonnull(lru_find(&l, "one"));
	ck_assert_ptr_nonnull(lru_find(&l, "three"));
	ck_assert_ptr_nonnull(lru_find(&l, "four"));
	/* A touch is a use. */
	lru_touch(&l, lru_find(&l, "three"));
	lru_get(&l, "five");
	ck_assert_ptr_null(lru_find(&l, "one"));
	ck_assert_ptr_nonnull(lru_find(&l, "three"));
	/* A lower bound drops the least recent at once. */
	lru_limit(&l, 1);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_nonnull(lru_find(&l, "five"));
	lru_limit(&l, 0);
	ck_assert_uint_eq(l.max, 1);
	lru_free(&l);
}
END_TEST

START_TEST(test_many)
{
	struct lru	 l;
	char		 key[32];
	unsigned	 i;

	lru_init(&l, 20000);
	for (i = 0; i < 50000; i++) {
		snprintf(key, sizeof key, "n:%u", i);
		lru_get(&l, key)->count = i;
	}
	ck_assert_uint_eq(l.n, 20000);
	ck_assert_uint_ge(l.nbuckets, 20000 / 2);
	for (i = 0; i < 50000; i++) {
		snprintf(key, sizeof key, "n:%u", i);
		if (i < 30000)
			ck_assert_ptr_null(lru_find(&l, key));
		else
			ck_assert_uint_eq(lru_find(&l, key)->count, i);
	}
	lru_free(&l);
}
END_TEST

static Suite *
lru_suite(void)
{
	Suite	*s = suite_create("lru");
	TCase	*tc = tcase_create("lru");

	tcase_add_test(tc, test_get_find);
	tcase_add_test(tc, test_long_key);
	tcase_add_test(tc, test_evicts_least_recent);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(lru_suite()));
}
