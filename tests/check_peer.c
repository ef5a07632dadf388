/*
 * Unit tests for the per-address client counts (peer.c): counts go up and
 * down per address, addresses do not disturb one another even when they
 * share a bucket, an address with no clients left leaves no entry, and
 * removing a client that was never added is a broken invariant.  The key
 * an address is counted under: an IPv4 address (or "local") as it is, an
 * IPv6 address by its prefix in canonical text, at byte boundaries and
 * inside a byte.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "death.h"
#include "run_suite.h"

static struct peers	p;

static void
setup(void)
{
	peer_init(&p);
}

static void
teardown(void)
{
	peer_free(&p);
}

/* How many entries the table holds, over all buckets. */
static unsigned
entries(void)
{
	struct peer	*e;
	unsigned	 n = 0;
	size_t		 i;

	for (i = 0; i < PEER_BUCKETS; i++) {
		LIST_FOREACH(e, &p.buckets[i], entry)
			n++;
	}
	return (n);
}

START_TEST(test_empty)
{
	ck_assert_uint_eq(peer_count(&p, "127.0.0.1"), 0);
	ck_assert_uint_eq(peer_count(&p, ""), 0);
	ck_assert_uint_eq(entries(), 0);
}
END_TEST

START_TEST(test_up_and_down)
{
	peer_add(&p, "192.0.2.1");
	peer_add(&p, "192.0.2.1");
	peer_add(&p, "2001:db8::1");
	ck_assert_uint_eq(peer_count(&p, "192.0.2.1"), 2);
	ck_assert_uint_eq(peer_count(&p, "2001:db8::1"), 1);
	ck_assert_uint_eq(peer_count(&p, "192.0.2.10"), 0);
	ck_assert_uint_eq(entries(), 2);

	peer_remove(&p, "192.0.2.1");
	ck_assert_uint_eq(peer_count(&p, "192.0.2.1"), 1);
	peer_remove(&p, "192.0.2.1");
	ck_assert_uint_eq(peer_count(&p, "192.0.2.1"), 0);
	/* No clients, no entry. */
	ck_assert_uint_eq(entries(), 1);
	peer_remove(&p, "2001:db8::1");
	ck_assert_uint_eq(entries(), 0);

	/* And back again. */
	peer_add(&p, "192.0.2.1");
	ck_assert_uint_eq(peer_count(&p, "192.0.2.1"), 1);
}
END_TEST

/* Many more addresses than buckets: chains, each count its own. */
START_TEST(test_many_addresses)
{
	char		addr[NETADDR_MAX];
	unsigned	i, n = 3 * PEER_BUCKETS;

	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		peer_add(&p, addr);
		if (i % 3 == 0)
			peer_add(&p, addr);
	}
	ck_assert_uint_eq(entries(), n);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		ck_assert_uint_eq(peer_count(&p, addr), i % 3 == 0 ? 2 : 1);
	}
	/* Remove every other address whole: the rest stay as they were. */
	for (i = 0; i < n; i += 2) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		peer_remove(&p, addr);
		if (i % 3 == 0)
			peer_remove(&p, addr);
	}
	ck_assert_uint_eq(entries(), n / 2);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		ck_assert_uint_eq(peer_count(&p, addr),
		    i % 2 == 0 ? 0 : (i % 3 == 0 ? 2 : 1));
	}
	/* teardown() frees what is left (valgrind and LSan check it). */
}
END_TEST

/*
 * Removing a client nobody added: chatd's bookkeeping is broken, and it
 * says so (fatalx(), exit 1).
 */
static void
remove_unknown(void *arg)
{
	peer_add(&p, "192.0.2.1");
	peer_remove(&p, "192.0.2.2");
}

START_TEST(test_remove_unknown)
{
	death_expect(remove_unknown, NULL, 1, "error: peer_remove: "
	    "192.0.2.2 has no clients\n");
}
END_TEST

static void
remove_twice(void *arg)
{
	peer_add(&p, "192.0.2.1");
	peer_remove(&p, "192.0.2.1");
	peer_remove(&p, "192.0.2.1");
}

START_TEST(test_remove_twice)
{
	death_expect(remove_twice, NULL, 1, "error: peer_remove: "
	    "192.0.2.1 has no clients\n");
}
END_TEST

static const struct {
	const char	*addr;
	unsigned	 prefix;
	const char	*key;
} keys[] = {
	/* IPv4, and a Unix socket's client, as they are. */
	{ "192.0.2.1", 64, "192.0.2.1" },
	{ "192.0.2.1", 1, "192.0.2.1" },
	{ "192.0.2.1", 128, "192.0.2.1" },
	{ "local", 64, "local" },
	/* IPv6 by its prefix. */
	{ "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48" },
	{ "2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56" },
	{ "2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56" },
	{ "2001:db8:1:2ff:3:4:5:6", 60, "2001:db8:1:2f0::/60" },
	{ "2001:db8:1:2:3:4:5:6", 127, "2001:db8:1:2:3:4:5:6/127" },
	{ "2001:db8:1:2:3:4:5:7", 127, "2001:db8:1:2:3:4:5:6/127" },
	{ "ffff::1", 1, "8000::/1" },
	{ "2001:db8::1", 64, "2001:db8::/64" },
	{ "::1", 64, "::/64" },
	/* In canonical text, however it was written. */
	{ "2001:DB8:0001:0002:0:0:0:5", 64, "2001:db8:1:2::/64" },
	{ "2001:0db8:0000:0000:ffff:0000:0000:0001", 80,
	    "2001:db8:0:0:ffff::/80" },
	/* At 128, the address itself (chatd's own inet_ntop() text). */
	{ "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6" },
	/* Not an address: as it is. */
	{ "not:an:address", 64, "not:an:address" },
};

START_TEST(test_key)
{
	char	key[PEER_KEY_MAX + 8];

	memset(key, 'X', sizeof key);
	peer_key(keys[_i].addr, keys[_i].prefix, key);
	ck_assert_msg(strcmp(key, keys[_i].key) == 0, "%s at /%u: '%s', "
	    "want '%s'", keys[_i].addr, keys[_i].prefix, key, keys[_i].key);
	ck_assert_uint_lt(strlen(key), PEER_KEY_MAX);
	ck_assert_int_eq(key[PEER_KEY_MAX], 'X');
}
END_TEST

/* One user's /64 is one count; the next /64 is another's. */
START_TEST(test_key_shared)
{
	char	a[PEER_KEY_MAX], b[PEER_KEY_MAX], c[PEER_KEY_MAX];

	peer_key("2001:db8:0:1::1", 64, a);
	peer_key("2001:db8:0:1:ffff:ffff:ffff:ffff", 64, b);
	peer_key("2001:db8:0:2::1", 64, c);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);

	peer_add(&p, a);
	peer_add(&p, b);
	peer_add(&p, c);
	ck_assert_uint_eq(peer_count(&p, a), 2);
	ck_assert_uint_eq(peer_count(&p, c), 1);
	peer_remove(&p, a);
	peer_remove(&p, b);
	peer_remove(&p, c);
	ck_assert_uint_eq(entries(), 0);
}
END_TEST

/* The longest key fits PEER_KEY_MAX. */
START_TEST(test_key_longest)
{
	char	key[PEER_KEY_MAX + 8];

	memset(key, 'X', sizeof key);
	peer_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 127, key);
	ck_assert_str_eq(key, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	ck_assert_int_eq(key[PEER_KEY_MAX], 'X');
}
END_TEST

static Suite *
peer_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("peer");

	tc = tcase_create("counts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_up_and_down);
	tcase_add_test(tc, test_many_addresses);
	suite_add_tcase(s, tc);

	tc = tcase_create("invariants");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_remove_unknown);
	tcase_add_test(tc, test_remove_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("key");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_key, 0, sizeof keys / sizeof keys[0]);
	tcase_add_test(tc, test_key_shared);
	tcase_add_test(tc, test_key_longest);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(peer_suite());
}
