/*
 * Unit tests for the state image a chatd hands its successor: state.c's
 * state_encode() and state_decode().
 *
 * Round trips: a state with rooms (secret and not, topics, history),
 * clients (guests and named, muted, skipping a long line, in several
 * rooms, with input not yet handled and output not yet written, IPv4,
 * IPv6 and local addresses) and the counters comes back field for field,
 * and encoding it again gives the same bytes; so does an empty state.
 *
 * Rejections, each with the start of its why: a short header, another
 * magic, another version, reserved bytes, a truncated image (every
 * length short of the whole, none of which may be taken), bytes after the
 * image, a checksum that does not match (every byte of the payload
 * flipped), and then, on images sealed again so that they get past the
 * checksum, every rule of a field (names, rooms, flags, text, addresses,
 * times, output bytes, lengths and counts past the end or past their
 * bounds) and of the image as a whole (unique rooms, ids and names, the
 * rooms clients are in, the counters, the successor's limits).
 *
 * Every decode gets its bytes in an allocation of exactly their size, so
 * that AddressSanitizer and valgrind see a read past the image.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static const struct state_limits no_limits = { 0, 0 };

/* The state the tests start from, rebuilt for each. */
static struct state_room	 rooms[3];
static struct state_line	 lines[3];
static struct state_client	 clients[4];
static struct state		 base;

#define BYTES(s)	((struct state_bytes){ (const uint8_t *)(s), \
			    sizeof(s) - 1 })

static void
make_base(void)
{
	memset(rooms, 0, sizeof rooms);
	memset(clients, 0, sizeof clients);
	lines[0] = (struct state_line){ 1700000000, BYTES("<alice> morning") };
	lines[1] = (struct state_line){ 1700000060, BYTES("* alice waves") };
	lines[2] = (struct state_line){ -5, BYTES("<guest3> caf\xc3\xa9") };

	snprintf(rooms[0].name, sizeof rooms[0].name, "#lobby");
	rooms[0].lines = lines;
	rooms[0].nlines = 2;
	rooms[0].topic = BYTES("welcome, all");
	snprintf(rooms[1].name, sizeof rooms[1].name, "#Ops");
	rooms[1].flags = STATE_ROOM_SECRET;
	rooms[1].lines = lines + 2;
	rooms[1].nlines = 1;
	snprintf(rooms[2].name, sizeof rooms[2].name, "#empty");

	clients[0].id = 1;
	clients[0].guest = 1;
	clients[0].sock = 123456;
	snprintf(clients[0].name, sizeof clients[0].name, "alice");
	snprintf(clients[0].room, sizeof clients[0].room, "#lobby");
	snprintf(clients[0].addr, sizeof clients[0].addr, "127.0.0.1");
	clients[0].port = 40000;
	clients[0].rate_milli = 49000;
	clients[0].rate_age_ms = 12;
	clients[0].connected_age_ms = 3600000;
	clients[0].active_age_ms = 20;
	clients[0].lines_in = 7;
	clients[0].lines_out = 9;
	clients[0].bytes_in = 100;
	clients[0].bytes_out = 300;
	clients[0].input = BYTES("half a li");
	clients[0].output = BYTES("ne\r\n<bob> hi\r\n<bo");

	clients[1].id = 3;
	clients[1].guest = 3;
	clients[1].sock = 99;
	snprintf(clients[1].name, sizeof clients[1].name, "guest3");
	snprintf(clients[1].room, sizeof clients[1].room, "#ops");
	snprintf(clients[1].addr, sizeof clients[1].addr, "::1");
	clients[1].port = 1;
	clients[1].flags = STATE_CLIENT_MUTED | STATE_CLIENT_DISCARD;
	clients[1].mute_ms = 5000;
	clients[1].long_lines = 2;

	clients[2].id = 7;
	clients[2].guest = 5;
	clients[2].sock = 100;
	snprintf(clients[2].name, sizeof clients[2].name, "bob");
	snprintf(clients[2].room, sizeof clients[2].room, "#LOBBY");
	snprintf(clients[2].account, sizeof clients[2].account, "Bob");
	snprintf(clients[2].addr, sizeof clients[2].addr, "local");
	clients[2].flags = STATE_CLIENT_MUTED;

	clients[3].id = 8;
	clients[3].guest = 6;
	clients[3].sock = 101;
	snprintf(clients[3].name, sizeof clients[3].name, "guest6");
	snprintf(clients[3].room, sizeof clients[3].room, "#empty");
	snprintf(clients[3].addr, sizeof clients[3].addr, "2001:db8::7");

	memset(&base, 0, sizeof base);
	base.next_id = 8;
	base.next_guest = 6;
	base.rooms = rooms;
	base.nrooms = nitems(rooms);
	base.clients = clients;
	base.nclients = nitems(clients);
}

/* state_decode() on a copy of buf[0..len) in an allocation of len bytes. */
static int
decode(const uint8_t *buf, size_t len, const struct state_limits *lim,
    struct state *st, uint8_t **copyp, char *why, size_t whylen)
{
	uint8_t	*copy;
	int	 rc;

	if ((copy = malloc(len == 0 ? 1 : len)) == NULL)
		ck_abort_msg("malloc");
	memcpy(copy, buf, len);
	why[0] = '\0';
	rc = state_decode(copy, len, lim, st, why, whylen);
	if (rc != 0) {
		ck_assert_msg(why[0] != '\0', "rejected without a why");
		ck_assert_msg(st->nrooms == 0 && st->nclients == 0 &&
		    st->rooms == NULL && st->clients == NULL,
		    "a rejected state is not empty");
	}
	*copyp = copy;
	return rc;
}

/* Fails unless st encodes to an image rejected with a why starting want. */
static void
expect_reject_lim(const struct state *st, const struct state_limits *lim,
    const char *want)
{
	struct state	 out;
	uint8_t		*img, *copy;
	size_t		 len;
	char		 why[256];

	img = state_encode(st, &len);
	ck_assert_ptr_nonnull(img);
	ck_assert_msg(decode(img, len, lim, &out, &copy, why, sizeof why) ==
	    -1, "accepted; wanted \"%s\"", want);
	ck_assert_msg(strncmp(why, want, strlen(want)) == 0,
	    "why \"%s\", wanted \"%s...\"", why, want);
	free(copy);
	free(img);
}

static void
expect_reject(const struct state *st, const char *want)
{
	expect_reject_lim(st, &no_limits, want);
}

/* Fails unless img[0..len) is rejected with a why starting want. */
static void
expect_bytes_reject(const uint8_t *img, size_t len, const char *want)
{
	struct state	 out;
	uint8_t		*copy;
	char		 why[256];

	ck_assert_msg(decode(img, len, &no_limits, &out, &copy, why,
	    sizeof why) == -1, "accepted %zu bytes; wanted \"%s\"", len, want);
	ck_assert_msg(strncmp(why, want, strlen(want)) == 0,
	    "why \"%s\", wanted \"%s...\"", why, want);
	free(copy);
}

static int
bytes_eq(const struct state_bytes *a, const struct state_bytes *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0);
}

static void
expect_same(const struct state *a, const struct state *b)
{
	const struct state_client	*x, *y;
	uint32_t			 i, j;

	ck_assert_uint_eq(a->next_id, b->next_id);
	ck_assert_uint_eq(a->next_guest, b->next_guest);
	ck_assert_uint_eq(a->nrooms, b->nrooms);
	ck_assert_uint_eq(a->nclients, b->nclients);
	for (i = 0; i < a->nrooms; i++) {
		ck_assert_str_eq(a->rooms[i].name, b->rooms[i].name);
		ck_assert_uint_eq(a->rooms[i].flags, b->rooms[i].flags);
		ck_assert(bytes_eq(&a->rooms[i].topic, &b->rooms[i].topic));
		ck_assert_uint_eq(a->rooms[i].nlines, b->rooms[i].nlines);
		for (j = 0; j < a->rooms[i].nlines; j++) {
			ck_assert_int_eq(a->rooms[i].lines[j].when,
			    b->rooms[i].lines[j].when);
			ck_assert(bytes_eq(&a->rooms[i].lines[j].text,
			    &b->rooms[i].lines[j].text));
		}
	}
	for (i = 0; i < a->nclients; i++) {
		x = &a->clients[i];
		y = &b->clients[i];
		ck_assert_uint_eq(x->id, y->id);
		ck_assert_uint_eq(x->guest, y->guest);
		ck_assert_uint_eq(x->sock, y->sock);
		ck_assert_str_eq(x->name, y->name);
		ck_assert_str_eq(x->room, y->room);
		ck_assert_str_eq(x->account, y->account);
		ck_assert_str_eq(x->addr, y->addr);
		ck_assert_uint_eq(x->port, y->port);
		ck_assert_uint_eq(x->flags, y->flags);
		ck_assert_uint_eq(x->mute_ms, y->mute_ms);
		ck_assert_uint_eq(x->rate_milli, y->rate_milli);
		ck_assert_uint_eq(x->rate_age_ms, y->rate_age_ms);
		ck_assert_uint_eq(x->connected_age_ms, y->connected_age_ms);
		ck_assert_uint_eq(x->active_age_ms, y->active_age_ms);
		ck_assert_uint_eq(x->lines_in, y->lines_in);
		ck_assert_uint_eq(x->lines_out, y->lines_out);
		ck_assert_uint_eq(x->long_lines, y->long_lines);
		ck_assert_uint_eq(x->bytes_in, y->bytes_in);
		ck_assert_uint_eq(x->bytes_out, y->bytes_out);
		ck_assert(bytes_eq(&x->input, &y->input));
		ck_assert(bytes_eq(&x->output, &y->output));
	}
}

/* Round trips -------------------------------------------------------------- */

static void
round_trip(const struct state *st)
{
	struct state	 out;
	uint8_t		*img, *again, *copy;
	size_t		 len, len2;
	char		 why[256];

	img = state_encode(st, &len);
	ck_assert_ptr_nonnull(img);
	ck_assert_msg(decode(img, len, &no_limits, &out, &copy, why,
	    sizeof why) == 0, "rejected: %s", why);
	expect_same(st, &out);
	again = state_encode(&out, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(img, again, len) == 0);
	state_free(&out);
	free(again);
	free(copy);
	free(img);
}

START_TEST(test_round_trip)
{
	make_base();
	round_trip(&base);
}
END_TEST

START_TEST(test_round_trip_empty)
{
	struct state	empty;

	memset(&empty, 0, sizeof empty);
	round_trip(&empty);
	empty.next_id = UINT64_MAX;
	empty.next_guest = 12345;
	round_trip(&empty);
}
END_TEST

START_TEST(test_limits_at_bound)
{
	struct state_limits	lim = { 4, 3 };
	struct state		out;
	uint8_t			*img, *copy;
	size_t			 len;
	char			 why[256];

	make_base();
	img = state_encode(&base, &len);
	ck_assert_msg(decode(img, len, &lim, &out, &copy, why, sizeof why) ==
	    0, "rejected at the limits: %s", why);
	state_free(&out);
	free(copy);
	free(img);
}
END_TEST

/* The header --------------------------------------------------------------- */

START_TEST(test_header)
{
	uint8_t	*img, *bad;
	size_t	 len;

	make_base();
	img = state_encode(&base, &len);
	bad = malloc(len + 3);
	ck_assert_ptr_nonnull(bad);

	expect_bytes_reject(img, 0, "truncated: 0 bytes, less than a header");
	expect_bytes_reject(img, STATE_HEADER_LEN - 1, "truncated: 31 bytes");

	memcpy(bad, img, len);
	bad[0] = 'C';
	expect_bytes_reject(bad, len, "not a chatd state image");

	memcpy(bad, img, len);
	bad[8] = 2;
	expect_bytes_reject(bad, len, "version 2, this chatd reads version 1");
	memcpy(bad, img, len);
	bad[11] = 0x80;
	expect_bytes_reject(bad, len, "version 2147483649");

	memcpy(bad, img, len);
	bad[13] = 1;
	expect_bytes_reject(bad, len, "corrupt: reserved header bytes");
	memcpy(bad, img, len);
	bad[31] = 1;
	expect_bytes_reject(bad, len, "corrupt: reserved header bytes");

	memcpy(bad, img, len);
	memcpy(bad + len, "xyz", 3);
	expect_bytes_reject(bad, len + 3, "corrupt: 3 bytes after the image");

	memcpy(bad, img, len);
	bad[24] ^= 1;
	expect_bytes_reject(bad, len, "corrupt: the checksum does not match");
	free(bad);
	free(img);
}
END_TEST

/* Every length short of the whole image is refused, never taken. */
START_TEST(test_truncated_everywhere)
{
	uint8_t	*img;
	size_t	 len, k;
	char	 want[64];

	make_base();
	img = state_encode(&base, &len);
	for (k = STATE_HEADER_LEN; k < len; k++) {
		snprintf(want, sizeof want, "truncated: %zu of %zu bytes",
		    k - STATE_HEADER_LEN, len - STATE_HEADER_LEN);
		expect_bytes_reject(img, k, want);
	}
	free(img);
}
END_TEST

/* Any byte of the payload changed: the checksum says so. */
START_TEST(test_flipped_everywhere)
{
	uint8_t	*img;
	size_t	 len, k;

	make_base();
	img = state_encode(&base, &len);
	for (k = STATE_HEADER_LEN; k < len; k++) {
		img[k] ^= 0x20;
		expect_bytes_reject(img, len,
		    "corrupt: the checksum does not match");
		img[k] ^= 0x20;
	}
	free(img);
}
END_TEST

/*
 * Sealed again after any one byte of the payload changed, an image is
 * refused or taken, and taken only if it is canonical: it encodes back to
 * the same bytes.
 */
START_TEST(test_resealed_everywhere)
{
	struct state	 out;
	uint8_t		*img, *copy, *again;
	size_t		 len, len2, k;
	char		 why[256];
	int		 v;

	make_base();
	img = state_encode(&base, &len);
	for (k = STATE_HEADER_LEN; k < len; k++) {
		for (v = 0; v < 256; v += 51) {
			uint8_t	saved = img[k];

			img[k] = (uint8_t)v;
			state_seal(img, len);
			if (decode(img, len, &no_limits, &out, &copy, why,
			    sizeof why) == 0) {
				again = state_encode(&out, &len2);
				ck_assert_uint_eq(len, len2);
				ck_assert_msg(memcmp(copy, again, len) == 0,
				    "byte %zu = %d: taken, not canonical", k,
				    v);
				free(again);
				state_free(&out);
			}
			free(copy);
			img[k] = saved;
		}
	}
	free(img);
}
END_TEST

/* Fields ------------------------------------------------------------------ */

START_TEST(test_room_fields)
{
	static struct state_line bad_line;

	make_base();
	snprintf(rooms[1].name, sizeof rooms[1].name, "ops");
	expect_reject(&base, "corrupt: room 1: not a room name");

	make_base();
	snprintf(rooms[1].name, sizeof rooms[1].name, "#a b");
	expect_reject(&base, "corrupt: room 1: not a room name");

	make_base();
	rooms[2].flags = 2;
	expect_reject(&base, "corrupt: room 2: unknown flags 0x2");

	make_base();
	rooms[0].topic = BYTES("a \x1b[31mred\x1b[0m topic");
	expect_reject(&base, "corrupt: room 0: the topic is not clean text");

	make_base();
	rooms[0].topic = BYTES("two  spaces");
	expect_reject(&base, "corrupt: room 0: the topic is not clean text");

	make_base();
	rooms[0].topic = BYTES("bad \xff utf-8");
	expect_reject(&base, "corrupt: room 0: the topic is not clean text");

	make_base();
	bad_line = (struct state_line){ 0, BYTES("<eve> bell\a") };
	rooms[2].lines = &bad_line;
	rooms[2].nlines = 1;
	expect_reject(&base, "corrupt: room 2: line 0 is not clean text");

	make_base();
	bad_line = (struct state_line){ 0, BYTES("") };
	rooms[2].lines = &bad_line;
	rooms[2].nlines = 1;
	expect_reject(&base, "corrupt: room 2: line 0 is not clean text");

	/* A time localtime_r() cannot take: the replay would print junk. */
	make_base();
	bad_line = (struct state_line){ INT64_MAX, BYTES("<eve> late") };
	rooms[2].lines = &bad_line;
	rooms[2].nlines = 1;
	expect_reject(&base, "corrupt: room 2: line 0's time is out of range");

	make_base();
	bad_line = (struct state_line){ INT64_MIN, BYTES("<eve> early") };
	rooms[2].lines = &bad_line;
	rooms[2].nlines = 1;
	expect_reject(&base, "corrupt: room 2: line 0's time is out of range");

	make_base();
	snprintf(rooms[2].name, sizeof rooms[2].name, "#LoBbY");
	expect_reject(&base, "corrupt: rooms 0 and 2 have one name");
}
END_TEST

START_TEST(test_client_fields)
{
	make_base();
	snprintf(clients[2].name, sizeof clients[2].name, "b b");
	expect_reject(&base, "corrupt: client 2: not a name");

	make_base();
	snprintf(clients[2].room, sizeof clients[2].room, "#nowhere");
	expect_reject(&base, "corrupt: client 2 is in no room of the image");

	make_base();
	snprintf(clients[2].account, sizeof clients[2].account, "a b");
	expect_reject(&base, "corrupt: client 2: the account is not a name");

	make_base();
	snprintf(clients[2].addr, sizeof clients[2].addr, "10.0.0.300");
	expect_reject(&base, "corrupt: client 2: not an address");

	make_base();
	snprintf(clients[2].addr, sizeof clients[2].addr, "::0:1");
	expect_reject(&base, "corrupt: client 2: not an address");

	make_base();
	clients[0].id = 0;
	expect_reject(&base, "corrupt: client 0: id 0");

	make_base();
	clients[0].flags = 4;
	expect_reject(&base, "corrupt: client 0: unknown flags 0x4");

	make_base();
	clients[0].mute_ms = 10;
	expect_reject(&base, "corrupt: client 0: a mute time but not muted");

	make_base();
	clients[0].rate_milli = 1000000001;
	expect_reject(&base, "corrupt: client 0: a time or a rate out of "
	    "range");

	make_base();
	clients[0].connected_age_ms = UINT64_MAX;
	expect_reject(&base, "corrupt: client 0: a time or a rate out of "
	    "range");

	make_base();
	clients[1].guest = 2;
	expect_reject(&base, "corrupt: client 1: a guest name not its own");

	make_base();
	clients[0].output = BYTES("<x> \x1b]0;title\a\r\n");
	expect_reject(&base, "corrupt: client 0: control characters in its "
	    "output");

	make_base();
	clients[2].id = 3;
	expect_reject(&base, "corrupt: two clients with id 3");

	make_base();
	snprintf(clients[2].name, sizeof clients[2].name, "AL1CE");
	expect_reject(&base, "corrupt: clients 0 and 2 have one name");

	make_base();
	base.next_id = 7;
	expect_reject(&base, "corrupt: client 3: an id or a guest number "
	    "beyond the counters");

	make_base();
	base.next_guest = 5;
	expect_reject(&base, "corrupt: client 3: an id or a guest number "
	    "beyond the counters");
}
END_TEST

START_TEST(test_lengths)
{
	uint8_t	*big;

	make_base();
	big = calloc(1, STATE_INPUT_MAX + 1);
	ck_assert_ptr_nonnull(big);
	clients[3].input = (struct state_bytes){ big, STATE_INPUT_MAX + 1 };
	expect_reject(&base, "corrupt: client 3's input of 2097153 bytes, "
	    "more than 2097152");
	clients[3].input = (struct state_bytes){ big, STATE_INPUT_MAX };
	memset(big, 'x', STATE_INPUT_MAX);
	round_trip(&base);
	free(big);
}
END_TEST

START_TEST(test_limits)
{
	struct state_limits	lim = { 3, 0 };

	make_base();
	expect_reject_lim(&base, &lim, "4 clients, more than max_clients (3)");
	lim.max_clients = 0;
	lim.max_rooms = 2;
	expect_reject_lim(&base, &lim, "3 rooms, more than max_rooms (2)");
}
END_TEST

/* Offsets in the image of the base state, found by encoding. */
static size_t
offset_of_nclients(const uint8_t *img, size_t len)
{
	struct state	 st;
	uint8_t		*rest;
	size_t		 rlen;

	/* The image without clients ends where the count of clients is. */
	make_base();
	st = base;
	st.nclients = 0;
	rest = state_encode(&st, &rlen);
	ck_assert(rlen <= len && memcmp(rest, img, 16) == 0);
	free(rest);
	return rlen - 4;
}

START_TEST(test_counts_and_strings_past_the_end)
{
	uint8_t	*img;
	size_t	 len, at;

	make_base();
	img = state_encode(&base, &len);
	at = offset_of_nclients(img, len);

	/* A count that the bytes left cannot hold. */
	img[at] = 0xff;
	img[at + 1] = 0xff;
	state_seal(img, len);
	expect_bytes_reject(img, len, "corrupt: 65535 clients cannot fit in");
	img[at] = 4;
	img[at + 1] = 0;

	/* Fewer clients than there are: bytes left over. */
	img[at] = 3;
	state_seal(img, len);
	expect_bytes_reject(img, len, "corrupt: ");
	img[at] = 4;

	/* The first client's name running past the end. */
	img[at + 4 + 24] = 0xff;
	img[at + 4 + 25] = 0xff;
	state_seal(img, len);
	expect_bytes_reject(img, len, "corrupt: client 0's name of 65535 "
	    "bytes, more than 24");
	img[at + 4 + 24] = 5;
	img[at + 4 + 25] = 0;

	/* A NUL in the first client's name. */
	img[at + 4 + 24 + 4 + 2] = '\0';
	state_seal(img, len);
	expect_bytes_reject(img, len, "corrupt: client 0's name holds a NUL");
	img[at + 4 + 24 + 4 + 2] = 'i';

	state_seal(img, len);
	expect_bytes_reject(img, len - 1, "truncated");
	free(img);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite	*s = suite_create("state");
	TCase	*tc = tcase_create("image");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_round_trip_empty);
	tcase_add_test(tc, test_limits_at_bound);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_flipped_everywhere);
	tcase_add_test(tc, test_resealed_everywhere);
	tcase_add_test(tc, test_room_fields);
	tcase_add_test(tc, test_client_fields);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_counts_and_strings_past_the_end);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(state_suite());
}
