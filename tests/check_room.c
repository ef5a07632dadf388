/*
 * Unit tests for the rooms of a server (room.c): the room name rule and
 * its key, which chat and the cluster share, and the table that finds a
 * room by name without regard to case however many there are.  A room's
 * turn (room_trim()) is check_turn's.
 *
 * The rooms here are made with room_new() alone, as server_room() would
 * make them, without chat's history: room.c knows nothing of chat.
 */

#include <stdio.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

#define NROOMS	200	/* past several doublings of the table */

START_TEST(test_valid)
{
	static const char *const	good[] = {
		"#a", "#A", "#0", "#-", "#_", "#.", "#lobby", "#Mixed-Case_1.0",
		"#12345678901234567890123456789012",
	};
	static const char *const	bad[] = {
		"", "#", "a", "lobby", "##a", "#a#", "#a b", "#a!", "#a/b",
		"#a,b", "#a:b", "#\xc3\xa9", "#a\t", "@a", " #a",
		"#123456789012345678901234567890123",
	};
	size_t				i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(room_valid(good[i], strlen(good[i])),
		    "'%s' refused", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!room_valid(bad[i], strlen(bad[i])),
		    "'%s' taken", bad[i]);
	/* The length given is the name: a NUL or more after it is not. */
	ck_assert(room_valid("#ab", 2));
	ck_assert(!room_valid("#a\0b", 4));
	ck_assert(!room_valid("#ab", 1));
}
END_TEST

START_TEST(test_key)
{
	char	key[ROOM_NAME_LEN + 2];

	room_key("#Mixed-Case_1.0", key);
	ck_assert_str_eq(key, "#mixed-case_1.0");
	room_key("#mixed-case_1.0", key);
	ck_assert_str_eq(key, "#mixed-case_1.0");
	room_key("#ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", key);
	ck_assert_str_eq(key, "#abcdefghijklmnopqrstuvwxyz012345");
	ck_assert(room_valid(key, strlen(key)));
}
END_TEST

/*
 * Found in any case, as many as there are (the table grows), and gone
 * once freed while the others stay.
 */
START_TEST(test_find)
{
	struct rooms	 rs;
	struct room	*r[NROOMS], *one;
	char		 name[16];
	int		 i;

	room_init(&rs);
	for (i = 0; i < NROOMS; i++) {
		snprintf(name, sizeof name, "#Room%d", i);
		ck_assert_ptr_null(room_find(&rs, name));
		r[i] = room_new(&rs, name, i % 2 ? ROOM_SECRET : 0);
		ck_assert_str_eq(r[i]->name, name);
	}
	ck_assert_uint_eq(rs.n, NROOMS);
	ck_assert_uint_ge(rs.nbuckets, NROOMS);
	for (i = 0; i < NROOMS; i++) {
		snprintf(name, sizeof name, "#ROOM%d", i);
		ck_assert_ptr_eq(room_find(&rs, name), r[i]);
		snprintf(name, sizeof name, "#room%d", i);
		ck_assert_ptr_eq(room_find(&rs, name), r[i]);
		ck_assert_str_eq(r[i]->key, name);
	}
	for (i = 0; i < NROOMS; i += 2)
		room_free(&rs, r[i]);
	ck_assert_uint_eq(rs.n, NROOMS / 2);
	for (i = 0; i < NROOMS; i++) {
		snprintf(name, sizeof name, "#room%d", i);
		ck_assert_ptr_eq(room_find(&rs, name), i % 2 ? r[i] : NULL);
	}
	/* The list keeps the order they were made in. */
	i = 1;
	TAILQ_FOREACH(one, &rs.list, entry) {
		ck_assert_int_lt(i, NROOMS);
		ck_assert_ptr_eq(one, r[i]);
		i += 2;
	}
	ck_assert_int_eq(i, NROOMS + 1);
	room_clear(&rs);
}
END_TEST

static Suite *
room_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("room");
	tc = tcase_create("name");
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_find);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return run_suite(room_suite());
}
