/*
 * Unit tests for the room's index of clients (roster.c).
 *
 * The roster reads a client's id and name and writes only its two chain
 * pointers, so the clients here are zeroed struct clients with those two
 * fields set, allocated by the tests.  Lookups are checked by name (the
 * exact name without regard to case, and any name with the same key) and
 * by id; renaming must move the client to its new key.
 *
 * The tables' sizes are visible in struct roster, so the growth test
 * checks that they double past 64, 128, ... and halve on the way back,
 * and after every resize that each client on the roster is found by name
 * and id, that those removed are not, and that the chains hold exactly
 * the clients on the roster.  Adding a taken key and removing a client
 * that is not on the roster are broken invariants: death tests check the
 * exact fatalx() message.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "death.h"
#include "run_suite.h"

#define MANY		10000

static struct roster	r;

static void
setup(void)
{
	roster_init(&r);
}

static void
teardown(void)
{
	roster_free(&r);
}

static struct client *
client(uint64_t id, const char *name)
{
	struct client	*c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		ck_abort_msg("calloc failed");
	c->id = id;
	ck_assert_uint_lt(strlen(name), sizeof c->name);
	strcpy(c->name, name);
	return (c);
}

/* Clients on the chains of the name table and of the id table. */
static void
chain_counts(size_t *by_key, size_t *by_id)
{
	struct client	*c;
	size_t		 i;

	*by_key = *by_id = 0;
	for (i = 0; i < r.nbuckets; i++) {
		for (c = r.by_key[i]; c != NULL; c = c->key_next)
			(*by_key)++;
		for (c = r.by_id[i]; c != NULL; c = c->id_next)
			(*by_id)++;
	}
}

START_TEST(test_empty)
{
	size_t	nk, ni;

	ck_assert_uint_eq(roster_count(&r), 0);
	ck_assert_ptr_null(roster_find(&r, "alice"));
	ck_assert_ptr_null(roster_holder(&r, "alice"));
	ck_assert_ptr_null(roster_by_id(&r, 0));
	ck_assert_ptr_null(roster_by_id(&r, 1));
	ck_assert_uint_eq(r.nbuckets, 64);
	chain_counts(&nk, &ni);
	ck_assert_uint_eq(nk, 0);
	ck_assert_uint_eq(ni, 0);
}
END_TEST

START_TEST(test_find)
{
	struct client	*a = client(1, "alice"), *b = client(2, "Bob");
	struct client	*g = client(3, "guest1"), *m = client(4, "rnary");
	struct client	*d = client(UINT64_MAX, "d.v.d");

	roster_add(&r, a);
	roster_add(&r, b);
	roster_add(&r, g);
	roster_add(&r, m);
	roster_add(&r, d);
	ck_assert_uint_eq(roster_count(&r), 5);

	/* The exact name, without regard to case. */
	ck_assert_ptr_eq(roster_find(&r, "alice"), a);
	ck_assert_ptr_eq(roster_find(&r, "ALICE"), a);
	ck_assert_ptr_eq(roster_find(&r, "bob"), b);
	ck_assert_ptr_eq(roster_find(&r, "Bob"), b);
	ck_assert_ptr_eq(roster_find(&r, "GUEST1"), g);
	ck_assert_ptr_eq(roster_find(&r, "RnArY"), m);
	ck_assert_ptr_eq(roster_find(&r, "D.V.D"), d);
	/* A look-alike is not the name. */
	ck_assert_ptr_null(roster_find(&r, "guestl"));
	ck_assert_ptr_null(roster_find(&r, "Guest-1"));
	ck_assert_ptr_null(roster_find(&r, "a1ice"));
	ck_assert_ptr_null(roster_find(&r, "B0b"));
	ck_assert_ptr_null(roster_find(&r, "mary"));
	ck_assert_ptr_null(roster_find(&r, "dvd"));
	ck_assert_ptr_null(roster_find(&r, "carol"));

	/* The holder of the key is found by any name that folds to it. */
	ck_assert_ptr_eq(roster_holder(&r, "alice"), a);
	ck_assert_ptr_eq(roster_holder(&r, "A.1.I.C.E"), a);
	ck_assert_ptr_eq(roster_holder(&r, "B0B"), b);
	ck_assert_ptr_eq(roster_holder(&r, "guestl"), g);
	ck_assert_ptr_eq(roster_holder(&r, "Guest-1"), g);
	ck_assert_ptr_eq(roster_holder(&r, "guest1."), g);
	ck_assert_ptr_eq(roster_holder(&r, "g.u.e.s.t.i"), g);
	ck_assert_ptr_eq(roster_holder(&r, "mary"), m);
	ck_assert_ptr_eq(roster_holder(&r, "dvd"), d);
	ck_assert_ptr_null(roster_holder(&r, "guest2"));
	ck_assert_ptr_null(roster_holder(&r, "alicia"));
	ck_assert_ptr_null(roster_holder(&r, "bobb"));

	ck_assert_ptr_eq(roster_by_id(&r, 1), a);
	ck_assert_ptr_eq(roster_by_id(&r, 2), b);
	ck_assert_ptr_eq(roster_by_id(&r, 3), g);
	ck_assert_ptr_eq(roster_by_id(&r, 4), m);
	ck_assert_ptr_eq(roster_by_id(&r, UINT64_MAX), d);
	ck_assert_ptr_null(roster_by_id(&r, 0));
	ck_assert_ptr_null(roster_by_id(&r, 5));
	ck_assert_ptr_null(roster_by_id(&r, UINT64_MAX - 1));

	/* Nothing but the chain pointers was written. */
	ck_assert_str_eq(a->name, "alice");
	ck_assert_uint_eq(a->id, 1);

	roster_remove(&r, a);
	roster_remove(&r, b);
	roster_remove(&r, g);
	roster_remove(&r, m);
	roster_remove(&r, d);
	free(a);
	free(b);
	free(g);
	free(m);
	free(d);
}
END_TEST

START_TEST(test_remove)
{
	struct client	*a = client(1, "alice"), *b = client(2, "bob");
	struct client	*c = client(3, "carol");
	size_t		 nk, ni;

	roster_add(&r, a);
	roster_add(&r, b);
	roster_add(&r, c);
	roster_remove(&r, b);
	ck_assert_uint_eq(roster_count(&r), 2);
	ck_assert_ptr_null(roster_find(&r, "bob"));
	ck_assert_ptr_null(roster_holder(&r, "bob"));
	ck_assert_ptr_null(roster_by_id(&r, 2));
	ck_assert_ptr_eq(roster_find(&r, "alice"), a);
	ck_assert_ptr_eq(roster_find(&r, "carol"), c);
	ck_assert_ptr_eq(roster_by_id(&r, 1), a);
	ck_assert_ptr_eq(roster_by_id(&r, 3), c);
	chain_counts(&nk, &ni);
	ck_assert_uint_eq(nk, 2);
	ck_assert_uint_eq(ni, 2);

	/* The name is free again, for anyone; the id too. */
	b->id = 4;
	strcpy(b->name, "B0B");
	roster_add(&r, b);
	ck_assert_ptr_eq(roster_find(&r, "b0b"), b);
	ck_assert_ptr_eq(roster_by_id(&r, 4), b);
	ck_assert_ptr_null(roster_by_id(&r, 2));

	roster_remove(&r, a);
	roster_remove(&r, b);
	roster_remove(&r, c);
	ck_assert_uint_eq(roster_count(&r), 0);
	chain_counts(&nk, &ni);
	ck_assert_uint_eq(nk, 0);
	ck_assert_uint_eq(ni, 0);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(test_rename)
{
	struct client	*a = client(1, "alice"), *b = client(2, "bob");

	roster_add(&r, a);
	roster_add(&r, b);

	roster_rename(&r, a, "Zoe");
	ck_assert_str_eq(a->name, "Zoe");
	ck_assert_uint_eq(roster_count(&r), 2);
	ck_assert_ptr_null(roster_find(&r, "alice"));
	ck_assert_ptr_null(roster_holder(&r, "alice"));
	ck_assert_ptr_eq(roster_find(&r, "zoe"), a);
	ck_assert_ptr_eq(roster_holder(&r, "Z0E"), a);
	ck_assert_ptr_eq(roster_by_id(&r, 1), a);

	/* To a name with the same key: still found, now as spelled. */
	roster_rename(&r, a, "Z.o.e");
	ck_assert_ptr_null(roster_find(&r, "zoe"));
	ck_assert_ptr_eq(roster_find(&r, "z.O.e"), a);
	ck_assert_ptr_eq(roster_holder(&r, "zoe"), a);

	/* The old key is free: another client may take it. */
	roster_rename(&r, b, "Alice");
	ck_assert_ptr_eq(roster_find(&r, "alice"), b);
	ck_assert_ptr_eq(roster_by_id(&r, 2), b);

	/* Removal finds each under its new key (else it would die). */
	roster_remove(&r, a);
	roster_remove(&r, b);
	ck_assert_uint_eq(roster_count(&r), 0);
	free(a);
	free(b);
}
END_TEST

/* Name of client i of the growth test: distinct keys, mixed case. */
static void
many_name(size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "%s%zu", i % 3 == 0 ? "User" : "user-", i);
}

/*
 * Every client in cs[0..MANY) is found by name and id if on[i], and not
 * otherwise; the chains hold exactly the clients on the roster.
 */
static void
check_all(struct client **cs, const char *on, size_t n)
{
	char	name[NAME_LEN + 1];
	size_t	i, nk, ni;

	ck_assert_uint_eq(roster_count(&r), n);
	chain_counts(&nk, &ni);
	ck_assert_uint_eq(nk, n);
	ck_assert_uint_eq(ni, n);
	for (i = 0; i < MANY; i++) {
		many_name(i, name, sizeof name);
		if (on[i]) {
			ck_assert_msg(roster_find(&r, name) == cs[i],
			    "%s (%zu of %zu buckets) not found by name", name,
			    n, r.nbuckets);
			ck_assert_msg(roster_by_id(&r, cs[i]->id) == cs[i],
			    "%s (%zu of %zu buckets) not found by id", name,
			    n, r.nbuckets);
		} else {
			ck_assert_ptr_null(roster_holder(&r, name));
			ck_assert_ptr_null(roster_by_id(&r, cs[i]->id));
		}
	}
}

/* The table size the roster should have for n clients on the way up. */
static size_t
size_for(size_t n)
{
	size_t	size = 64;

	while (size < n)
		size *= 2;
	return (size);
}

START_TEST(test_grow_and_shrink)
{
	struct client	**cs;
	char		 *on, name[NAME_LEN + 1];
	size_t		  i, j, n = 0, prev, resizes = 0, *order, tmp;
	uint64_t	  rnd = 0x853c49e6748fea9bULL;

	cs = calloc(MANY, sizeof *cs);
	on = calloc(MANY, 1);
	order = calloc(MANY, sizeof *order);
	ck_assert(cs != NULL && on != NULL && order != NULL);
	for (i = 0; i < MANY; i++) {
		many_name(i, name, sizeof name);
		/* Ids far apart, as after many connections came and went. */
		cs[i] = client(1000 + i * 7919, name);
	}

	for (i = 0; i < MANY; i++) {
		prev = r.nbuckets;
		roster_add(&r, cs[i]);
		on[i] = 1;
		n++;
		ck_assert_uint_eq(r.nbuckets, size_for(n));
		if (r.nbuckets != prev) {
			ck_assert_uint_eq(r.nbuckets, prev * 2);
			check_all(cs, on, n);
			resizes++;
		}
	}
	/* 64 -> 128 -> ... -> 16384 */
	ck_assert_uint_eq(r.nbuckets, 16384);
	ck_assert_uint_eq(resizes, 8);
	check_all(cs, on, n);

	/* Out in a shuffled order; halves below an eighth. */
	for (i = 0; i < MANY; i++)
		order[i] = i;
	for (i = MANY - 1; i > 0; i--) {
		rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
		j = (size_t)(rnd >> 33) % (i + 1);
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	resizes = 0;
	for (i = 0; i < MANY; i++) {
		prev = r.nbuckets;
		roster_remove(&r, cs[order[i]]);
		on[order[i]] = 0;
		n--;
		/* Unlinked: no stale pointer into the roster. */
		ck_assert_ptr_null(cs[order[i]]->key_next);
		ck_assert_ptr_null(cs[order[i]]->id_next);
		if (r.nbuckets != prev) {
			ck_assert_uint_eq(r.nbuckets, prev / 2);
			ck_assert_uint_lt(n, prev / 8);
			check_all(cs, on, n);
			resizes++;
		} else
			ck_assert(prev == 64 || n >= prev / 8);
	}
	ck_assert_uint_eq(r.nbuckets, 64);
	ck_assert_uint_eq(resizes, 8);
	check_all(cs, on, 0);

	for (i = 0; i < MANY; i++)
		free(cs[i]);
	free(cs);
	free(on);
	free(order);
}
END_TEST

/*
 * A client whose name folds to a key already held: the caller should
 * have asked roster_holder(), and chatd dies rather than index two.
 */
static void
add_taken(void *arg)
{
	roster_add(&r, client(1, "guest1"));
	roster_add(&r, client(2, "Guest-l"));
}

START_TEST(test_add_taken)
{
	death_expect(add_taken, NULL, 1,
	    "error: roster_add: Guest-l is taken\n");
}
END_TEST

static void
add_twice(void *arg)
{
	struct client	*c = client(7, "alice");

	roster_add(&r, c);
	roster_add(&r, c);
}

START_TEST(test_add_twice)
{
	death_expect(add_twice, NULL, 1,
	    "error: roster_add: alice is taken\n");
}
END_TEST

static void
remove_stranger(void *arg)
{
	roster_add(&r, client(1, "alice"));
	/* Same name, same key chain, but never added. */
	roster_remove(&r, client(42, "alice"));
}

START_TEST(test_remove_stranger)
{
	death_expect(remove_stranger, NULL, 1,
	    "error: roster: client 42 is not on the roster\n");
}
END_TEST

static void
remove_twice(void *arg)
{
	struct client	*c = client(9, "bob");

	roster_add(&r, c);
	roster_remove(&r, c);
	roster_remove(&r, c);
}

START_TEST(test_remove_twice)
{
	death_expect(remove_twice, NULL, 1,
	    "error: roster: client 9 is not on the roster\n");
}
END_TEST

static Suite *
roster_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("roster");

	tc = tcase_create("lookups");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_rename);
	suite_add_tcase(s, tc);

	tc = tcase_create("resize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_grow_and_shrink);
	suite_add_tcase(s, tc);

	tc = tcase_create("invariants");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_add_taken);
	tcase_add_test(tc, test_add_twice);
	tcase_add_test(tc, test_remove_stranger);
	tcase_add_test(tc, test_remove_twice);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(roster_suite());
}
