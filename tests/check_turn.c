/*
 * Unit tests for a loop turn's broadcasts (turn.c), and for the rooms'
 * trimming of quiet turns (room_trim(), room.c).
 *
 * turn.c reads only three fields of a client (turn_gen, turn_seen and
 * said_gen) and compares client pointers with a line's sender, so the
 * clients here are zeroed struct clients, as client_new() leaves them:
 * x, y and z, reset before every test, and one calloc'd client.
 *
 * A part is checked as a string: its iovecs joined with '|', so that one
 * comparison covers the bytes, the count of iovecs and where each run
 * starts and ends ("B.|D." is two iovecs, "B.D." one).  turn.c treats
 * lines as opaque bytes, so the lines here are short words of different
 * lengths without the CRLF, which keeps a failure message on one line.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

static struct turn	 t;
static struct client	 x, y, z;

static void
setup(void)
{
	turn_init(&t);
	memset(&x, 0, sizeof x);
	memset(&y, 0, sizeof y);
	memset(&z, 0, sizeof z);
}

static void
teardown(void)
{
	turn_free(&t);
}

/* Adds a line from `from` (NULL: the server), as server_broadcast() does. */
static void
add(struct client *from, const char *line)
{
	ck_assert_msg(turn_room(&t, strlen(line)), "no room for '%s'", line);
	turn_add(&t, from, line, strlen(line));
}

/* Adds a line of n copies of ch. */
static void
add_fill(struct client *from, char ch, size_t n)
{
	char	*line;

	line = malloc(n);
	ck_assert_ptr_nonnull(line);
	memset(line, ch, n);
	turn_add(&t, from, line, n);
	free(line);
}

/*
 * c's part, its iovecs joined with '|' (a NUL-terminated string to free),
 * and their count in *np.  Each iovec must be a non-empty piece of the
 * turn buffer, after the one before it and not adjacent to it (adjacent
 * runs are coalesced).
 */
static char *
part_join(const struct client *c, int *np)
{
	struct iovec	*iov = NULL;
	const char	*base, *prev_end = NULL;
	char		*s, *p;
	size_t		 total = 1;
	unsigned	 lines, want = 0, first, m;
	int		 i, n;

	n = turn_part(&t, c, &iov, &lines);
	/* The line count: the marks after c's place that are not c's. */
	first = c->turn_gen == t.gen ? c->turn_seen : 0;
	for (m = first; m < t.nmarks; m++)
		want += t.marks[m].from != c;
	ck_assert_uint_eq(lines, want);
	ck_assert_int_ge(n, 0);
	ck_assert_int_le(n, TURN_LINES + 1);
	ck_assert_ptr_nonnull(iov);
	for (i = 0; i < n; i++) {
		base = iov[i].iov_base;
		ck_assert_ptr_nonnull(t.buf);
		ck_assert_uint_gt(iov[i].iov_len, 0);
		ck_assert(base >= t.buf->data);
		ck_assert(base + iov[i].iov_len <= t.buf->data + t.buf->len);
		if (prev_end != NULL)
			ck_assert_msg(base > prev_end, "iovec %d is not after "
			    "the gap that ends iovec %d", i, i - 1);
		prev_end = base + iov[i].iov_len;
		total += iov[i].iov_len + 1;
	}
	s = p = malloc(total);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = '|';
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	*p = '\0';
	*np = n;
	return (s);
}

/* How many iovecs the joined part s stands for. */
static int
runs(const char *s)
{
	int	n;

	if (*s == '\0')
		return (0);
	for (n = 1; *s != '\0'; s++)
		if (*s == '|')
			n++;
	return (n);
}

/* c's part is exactly want (iovecs joined with '|'; "": nothing). */
#define expect_part(c, want) do {					\
	char	*got_;							\
	int	 n_;							\
									\
	got_ = part_join((c), &n_);					\
	ck_assert_str_eq(got_, (want));					\
	ck_assert_int_eq(n_, runs(want));				\
	free(got_);							\
} while (0)

START_TEST(test_init)
{
	ck_assert_ptr_null(t.buf);
	ck_assert_uint_eq(t.nmarks, 0);
	/* Marks come with the first line (a quiet room holds none). */
	ck_assert_ptr_null(t.marks);
	ck_assert_uint_eq(t.nalloc, 0);
	/* A new client's turn_gen of 0 is never the current turn. */
	ck_assert_uint_ne(t.gen, 0);
	ck_assert(turn_room(&t, 1));
	expect_part(&x, "");
}
END_TEST

START_TEST(test_silent_gets_all)
{
	struct client	*c;

	add(&x, "A.");
	add(&y, "Bb.");
	add(NULL, "Ccc.");
	add(&x, "Dddd.");
	ck_assert_uint_eq(t.nmarks, 4);
	/* Said nothing: one iovec, the whole turn. */
	expect_part(&z, "A.Bb.Ccc.Dddd.");

	c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	expect_part(c, "A.Bb.Ccc.Dddd.");
	free(c);
}
END_TEST

/* Lines A(x) B(y) C(x) D(z) E(x). */
START_TEST(test_sender_interleaved)
{
	add(&x, "A.");
	add(&y, "Bb.");
	add(&x, "Ccc.");
	add(&z, "Dddd.");
	add(&x, "Eeeee.");

	expect_part(&x, "Bb.|Dddd.");
	expect_part(&y, "A.|Ccc.Dddd.Eeeee.");
	expect_part(&z, "A.Bb.Ccc.|Eeeee.");
	/* turn_part() moves no one's place. */
	expect_part(&x, "Bb.|Dddd.");
}
END_TEST

/* Own lines at the start and at the end leave one run in between. */
START_TEST(test_own_at_both_ends)
{
	add(&x, "A.");
	add(&y, "Bb.");
	add(&z, "Ccc.");
	add(NULL, "Dddd.");
	add(&x, "Eeeee.");

	expect_part(&x, "Bb.Ccc.Dddd.");
	expect_part(&y, "A.|Ccc.Dddd.Eeeee.");
}
END_TEST

/* Several own lines in a row split nothing more than one. */
START_TEST(test_own_runs)
{
	add(&x, "A.");
	add(&x, "Bb.");
	add(&y, "Ccc.");
	add(&z, "Dddd.");
	add(&x, "Eeeee.");
	add(&x, "Ffffff.");
	add(&y, "G.");
	add(&x, "Hh.");
	add(&x, "Iii.");

	expect_part(&x, "Ccc.Dddd.|G.");
	expect_part(&y, "A.Bb.|Dddd.Eeeee.Ffffff.|Hh.Iii.");
	expect_part(&z, "A.Bb.Ccc.|Eeeee.Ffffff.G.Hh.Iii.");
}
END_TEST

START_TEST(test_only_own)
{
	add(&x, "A.");
	expect_part(&x, "");
	add(&x, "Bb.");
	add(&x, "Ccc.");
	expect_part(&x, "");
	expect_part(&y, "A.Bb.Ccc.");
}
END_TEST

START_TEST(test_server_lines)
{
	add(NULL, "A.");
	add(&x, "Bb.");
	add(NULL, "Ccc.");
	add(&y, "Dddd.");
	add(NULL, "Eeeee.");

	expect_part(&x, "A.|Ccc.Dddd.Eeeee.");
	expect_part(&y, "A.Bb.Ccc.|Eeeee.");
	expect_part(&z, "A.Bb.Ccc.Dddd.Eeeee.");
	/* The server's lines are no one's own. */
	ck_assert_uint_ne(z.said_gen, t.gen);
	ck_assert_uint_eq(x.said_gen, t.gen);
}
END_TEST

/* After turn_seen(), the next part is only what was added since. */
START_TEST(test_seen_then_more)
{
	add(&y, "A.");
	add(&x, "Bb.");
	expect_part(&x, "A.");
	turn_seen(&t, &x);
	expect_part(&x, "");

	add(&y, "Ccc.");
	add(&x, "Dddd.");
	add(&z, "Eeeee.");
	expect_part(&x, "Ccc.|Eeeee.");
	turn_seen(&t, &x);
	expect_part(&x, "");

	/* Its own line first after its place. */
	add(&x, "Ffffff.");
	add(NULL, "G.");
	expect_part(&x, "G.");

	/* One that said nothing, seen mid-turn: one run from its place. */
	turn_seen(&t, &z);
	add(&y, "Hh.");
	add(&x, "Iii.");
	expect_part(&z, "Hh.Iii.");
	/* y, never seen, still gets all but its own. */
	expect_part(&y, "Bb.|Dddd.Eeeee.Ffffff.G.|Iii.");
}
END_TEST

/* A place from an earlier turn means the whole of this one. */
START_TEST(test_end_new_turn)
{
	add(&x, "A.");
	add(&y, "Bb.");
	add(&z, "Ccc.");
	turn_seen(&t, &x);
	turn_seen(&t, &y);
	expect_part(&x, "");
	turn_end(&t);
	ck_assert_uint_eq(t.nmarks, 0);
	expect_part(&x, "");

	/*
	 * x and y had turn 1 to its end (3 lines), z never had it: all
	 * get the whole new turn, and x, who spoke in turn 1 only, gets it
	 * as one iovec.
	 */
	add(&y, "D.");
	expect_part(&x, "D.");
	expect_part(&y, "");
	expect_part(&z, "D.");
	add(NULL, "Ee.");
	add(&z, "Fff.");
	add(NULL, "Gggg.");
	expect_part(&x, "D.Ee.Fff.Gggg.");
	expect_part(&y, "Ee.Fff.Gggg.");
	expect_part(&z, "D.Ee.|Gggg.");

	/* A stale place past the new turn's end is not applied either. */
	turn_seen(&t, &x);
	ck_assert_uint_eq(x.turn_seen, 4);
	turn_end(&t);
	add(&y, "H.");
	expect_part(&x, "H.");
}
END_TEST

START_TEST(test_join_mid_turn)
{
	struct client	*j;

	j = calloc(1, sizeof *j);
	ck_assert_ptr_nonnull(j);

	add(&x, "A.");
	add(&y, "Bb.");
	turn_join(&t, j);
	expect_part(j, "");
	add(&x, "Ccc.");
	add(NULL, "Dddd.");
	expect_part(j, "Ccc.Dddd.");
	expect_part(&x, "Bb.|Dddd.");

	/* Its own line after joining. */
	add(j, "Eeeee.");
	add(&y, "F.");
	expect_part(j, "Ccc.Dddd.|F.");

	/* In the next turn it is like everyone else. */
	turn_seen(&t, j);
	turn_end(&t);
	add(&x, "Gg.");
	expect_part(j, "Gg.");
	free(j);
}
END_TEST

START_TEST(test_join_empty_turn)
{
	turn_join(&t, &z);
	expect_part(&z, "");
	add(&x, "A.");
	expect_part(&z, "A.");
}
END_TEST

/* TURN_LINES lines fill a turn, however few their bytes. */
START_TEST(test_room_lines)
{
	char		 line[16];
	char		*want_x, *want_y, *want_z, *px, *py, *pz, *got;
	size_t		 size = (size_t)TURN_LINES * (sizeof line + 1) + 1;
	unsigned	 i;
	int		 n, len;

	want_x = px = malloc(size);
	want_y = py = malloc(size);
	want_z = pz = malloc(size);
	ck_assert_ptr_nonnull(want_x);
	ck_assert_ptr_nonnull(want_y);
	ck_assert_ptr_nonnull(want_z);

	/* x says the even lines, y the odd ones. */
	for (i = 0; i < TURN_LINES; i++) {
		len = snprintf(line, sizeof line, "%u.", i);
		ck_assert_msg(turn_room(&t, (size_t)len), "line %u", i);
		turn_add(&t, i % 2 == 0 ? &x : &y, line, (size_t)len);
		pz += sprintf(pz, "%s", line);
		if (i % 2 == 0)
			py += sprintf(py, "%s%s", py == want_y ? "" : "|", line);
		else
			px += sprintf(px, "%s%s", px == want_x ? "" : "|", line);
	}
	ck_assert_uint_eq(t.nmarks, TURN_LINES);
	ck_assert_uint_lt(t.buf->len, TURN_BYTES);
	ck_assert(!turn_room(&t, 1));
	ck_assert(!turn_room(&t, 0));

	/* One iovec per line of the other: the most a part can have. */
	got = part_join(&x, &n);
	ck_assert_int_eq(n, TURN_LINES / 2);
	ck_assert_str_eq(got, want_x);
	free(got);
	got = part_join(&y, &n);
	ck_assert_int_eq(n, TURN_LINES / 2 + 1);
	ck_assert_str_eq(got, want_y);
	free(got);
	got = part_join(&z, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(got, want_z);
	free(got);

	/* The next turn has room again. */
	turn_end(&t);
	ck_assert(turn_room(&t, 1));
	free(want_x);
	free(want_y);
	free(want_z);
}
END_TEST

/* Room while the bytes stay within TURN_BYTES. */
START_TEST(test_room_bytes)
{
	char	*got;
	int	 n;

	ck_assert(turn_room(&t, TURN_BYTES));
	add_fill(&x, 'a', TURN_BYTES - 10);
	ck_assert(turn_room(&t, 10));
	ck_assert(!turn_room(&t, 11));
	ck_assert(!turn_room(&t, TURN_BYTES));
	add_fill(&y, 'b', 4);
	ck_assert(turn_room(&t, 6));
	ck_assert(!turn_room(&t, 7));
	add_fill(NULL, 'c', 6);
	ck_assert_uint_eq(t.buf->len, TURN_BYTES);
	ck_assert(!turn_room(&t, 1));

	/* Full, and the bytes are all there. */
	got = part_join(&x, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(got, "bbbbcccccc");
	free(got);
	got = part_join(&z, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(strlen(got), TURN_BYTES);
	ck_assert_int_eq(got[0], 'a');
	ck_assert_int_eq(got[TURN_BYTES - 11], 'a');
	ck_assert_str_eq(got + TURN_BYTES - 10, "bbbbcccccc");
	free(got);

	/* An empty turn, with its buffer kept, has room again. */
	turn_end(&t);
	ck_assert(turn_room(&t, TURN_BYTES));
}
END_TEST

/* Checks that c's part is one iovec of n copies of ch. */
static void
expect_fill(const struct client *c, char ch, size_t n)
{
	char	*got;
	size_t	 i;
	int	 nv;

	got = part_join(c, &nv);
	ck_assert_int_eq(nv, 1);
	ck_assert_uint_eq(strlen(got), n);
	for (i = 0; i < n; i++)
		if (got[i] != ch)
			break;
	ck_assert_msg(i == n, "byte %zu is '%c', not '%c'", i, got[i], ch);
	free(got);
}

/* An empty turn takes a line of any length: a turn of its own. */
START_TEST(test_room_long_line)
{
	ck_assert(turn_room(&t, 2 * TURN_BYTES));
	add_fill(&x, 'L', 2 * TURN_BYTES);
	ck_assert_uint_eq(t.nmarks, 1);
	ck_assert_uint_eq(t.buf->len, 2 * TURN_BYTES);
	expect_fill(&y, 'L', 2 * TURN_BYTES);
	expect_part(&x, "");
	/* Nothing more fits with it. */
	ck_assert(!turn_room(&t, 1));
	turn_end(&t);
	/* The big buffer is not kept: turns stay within TURN_BYTES. */
	ck_assert_ptr_null(t.buf);

	/* The next turn starts small lines as usual. */
	add(&y, "A.");
	add(NULL, "Bb.");
	expect_part(&x, "A.Bb.");
	expect_part(&y, "Bb.");
	ck_assert_uint_eq(t.cap, TURN_BYTES);
	ck_assert(turn_room(&t, TURN_BYTES - 5));
	ck_assert(!turn_room(&t, TURN_BYTES - 4));
}
END_TEST

/* A long line on an empty turn whose buffer was kept from the last one. */
START_TEST(test_long_line_reused_buffer)
{
	add(&x, "A.");
	turn_end(&t);
	ck_assert_ptr_nonnull(t.buf);
	ck_assert(turn_room(&t, 2 * TURN_BYTES));
	add_fill(NULL, 'M', 2 * TURN_BYTES);
	ck_assert_uint_eq(t.buf->len, 2 * TURN_BYTES);
	ck_assert_uint_eq(t.buf->refs, 1);
	expect_fill(&x, 'M', 2 * TURN_BYTES);
	expect_fill(&y, 'M', 2 * TURN_BYTES);
}
END_TEST

/* No one refers to the buffer: the next turn writes over it. */
START_TEST(test_end_reuses_buffer)
{
	struct msg	*old;

	add(&x, "A.");
	add(&y, "Bb.");
	old = t.buf;
	ck_assert_ptr_nonnull(old);
	ck_assert_uint_eq(old->refs, 1);
	turn_end(&t);
	ck_assert_ptr_eq(t.buf, old);
	ck_assert_uint_eq(t.buf->len, 0);
	ck_assert_uint_eq(t.nmarks, 0);

	add(&z, "Ccc.");
	ck_assert_ptr_eq(t.buf, old);
	ck_assert_uint_eq(t.buf->len, 4);
	ck_assert_mem_eq(t.buf->data, "Ccc.", 4);
	/* Nothing of the last turn shows through. */
	expect_part(&x, "Ccc.");
	expect_part(&z, "");
}
END_TEST

/*
 * A queue refers to the buffer (msg_ref(), as client_queue_msg() does for
 * a slow reader): turn_end() leaves it to them and the next turn gets a
 * new buffer, so the bytes they refer to do not change.
 */
START_TEST(test_end_with_reference)
{
	struct msg	*old;
	struct iovec	*iov;
	const char	*held;
	size_t		 held_len;
	uint64_t	 gen;
	unsigned	 lines;

	add(&x, "hello.");
	add(&y, "there.");
	ck_assert_int_eq(turn_part(&t, &y, &iov, &lines), 1);
	ck_assert_uint_eq(lines, 1);
	held = iov[0].iov_base;
	held_len = iov[0].iov_len;
	ck_assert_mem_eq(held, "hello.", held_len);
	old = t.buf;
	msg_ref(old);
	ck_assert_uint_eq(old->refs, 2);

	gen = t.gen;
	turn_end(&t);
	ck_assert_uint_eq(t.gen, gen + 1);
	/* The turn let go of its reference: only the queue's is left. */
	ck_assert_uint_eq(old->refs, 1);
	ck_assert_ptr_null(t.buf);

	add(&z, "WORLD!");
	add(&x, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
	ck_assert_ptr_nonnull(t.buf);
	ck_assert_ptr_ne(t.buf, old);
	ck_assert_uint_eq(t.buf->refs, 1);
	expect_part(&y, "WORLD!XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
	expect_part(&x, "WORLD!");

	/* The old turn reads as it did. */
	ck_assert_uint_eq(old->len, 12);
	ck_assert_mem_eq(old->data, "hello.there.", 12);
	ck_assert_uint_eq(held_len, 6);
	ck_assert_mem_eq(held, "hello.", 6);

	/* The queue is done with it: freed (the leak checkers see to it). */
	msg_unref(old);

	/* With no reference held, the new buffer is reused in its turn. */
	old = t.buf;
	turn_end(&t);
	ck_assert_ptr_eq(t.buf, old);
	add(&y, "again.");
	ck_assert_ptr_eq(t.buf, old);
	expect_part(&x, "again.");
}
END_TEST

/* Ending a turn that said nothing changes nothing. */
START_TEST(test_end_empty)
{
	struct msg	*old;
	uint64_t	 gen;

	gen = t.gen;
	turn_end(&t);
	ck_assert_uint_eq(t.gen, gen);
	ck_assert_ptr_null(t.buf);

	add(&x, "A.");
	turn_end(&t);
	gen = t.gen;
	old = t.buf;
	msg_ref(old);
	turn_end(&t);	/* empty: the buffer is not given up */
	ck_assert_uint_eq(t.gen, gen);
	ck_assert_ptr_eq(t.buf, old);
	ck_assert_uint_eq(old->refs, 2);
	msg_unref(old);
}
END_TEST

/* turn_free() lets go of everything, its reference to the buffer too. */
START_TEST(test_free)
{
	struct turn	 u;
	struct client	 c;
	struct msg	*held;

	/* A turn that never had a line. */
	turn_init(&u);
	turn_free(&u);
	ck_assert_ptr_null(u.buf);
	ck_assert_ptr_null(u.marks);

	/* One with lines, whose buffer a queue also refers to. */
	memset(&c, 0, sizeof c);
	turn_init(&u);
	turn_add(&u, &c, "A.", 2);
	turn_add(&u, NULL, "Bb.", 3);
	held = u.buf;
	msg_ref(held);
	turn_free(&u);
	ck_assert_ptr_null(u.buf);
	ck_assert_ptr_null(u.marks);
	ck_assert_uint_eq(u.nmarks, 0);
	ck_assert_uint_eq(held->refs, 1);
	ck_assert_mem_eq(held->data, "A.Bb.", 5);
	msg_unref(held);

	/* One after a turn_end() that gave its buffer up, and a new one. */
	turn_init(&u);
	turn_add(&u, NULL, "A.", 2);
	held = u.buf;
	msg_ref(held);
	turn_end(&u);
	turn_add(&u, NULL, "Bb.", 3);
	ck_assert_ptr_ne(u.buf, held);
	turn_free(&u);
	ck_assert_ptr_null(u.buf);
	ck_assert_uint_eq(held->refs, 1);
	msg_unref(held);
}
END_TEST

/*
 * turn_trim() gives back the buffer and the marks of a turn with no line
 * in it, and nothing else: the turn's number stays, so every client's
 * place stays valid, and a line after it allocates again.
 */
START_TEST(test_trim)
{
	struct turn_mark	*marks;
	struct msg		*old, *held;
	uint32_t		 gen;

	/* A turn with lines keeps them. */
	add(&x, "A.");
	old = t.buf;
	marks = t.marks;
	turn_trim(&t);
	ck_assert_ptr_eq(t.buf, old);
	ck_assert_ptr_eq(t.marks, marks);
	ck_assert_uint_eq(t.nmarks, 1);
	expect_part(&y, "A.");
	turn_seen(&t, &y);
	turn_end(&t);
	ck_assert_ptr_eq(t.buf, old);	/* kept for the next turn */

	/* Quiet now: trimmed, twice is harmless, places unchanged. */
	gen = t.gen;
	turn_join(&t, &z);
	turn_trim(&t);
	turn_trim(&t);
	ck_assert_ptr_null(t.buf);
	ck_assert_ptr_null(t.marks);
	ck_assert_uint_eq(t.nalloc, 0);
	ck_assert_uint_eq(t.gen, gen);
	ck_assert(turn_room(&t, TURN_BYTES));
	add(&x, "Bb.");
	add(&z, "Ccc.");
	expect_part(&x, "Ccc.");
	expect_part(&y, "Bb.Ccc.");
	expect_part(&z, "Bb.");
	turn_end(&t);

	/* A buffer a queue still refers to is only let go of. */
	held = t.buf;
	msg_ref(held);
	turn_trim(&t);
	ck_assert_ptr_null(t.buf);
	ck_assert_uint_eq(held->refs, 1);
	ck_assert_mem_eq(held->data, "Bb.Ccc.", 7);
	msg_unref(held);
}
END_TEST

/*
 * room_trim(), once a second: a room's turn is trimmed once a whole call
 * to the next has passed without a turn ending in it, not before.
 */
START_TEST(test_room_trim)
{
	struct rooms	 rs;
	struct room	*talking, *quiet;

	room_init(&rs);
	talking = room_new(&rs, "#talking", 0);
	quiet = room_new(&rs, "#quiet", 0);
	turn_add(&talking->turn, NULL, "A.", 2);
	turn_add(&quiet->turn, NULL, "B.", 2);
	turn_end(&talking->turn);
	turn_end(&quiet->turn);

	/* Both spoke since the last call (there was none). */
	room_trim(&rs);
	ck_assert_ptr_nonnull(talking->turn.buf);
	ck_assert_ptr_nonnull(quiet->turn.buf);

	/* Only #talking speaks until the next call. */
	turn_add(&talking->turn, NULL, "C.", 2);
	turn_end(&talking->turn);
	room_trim(&rs);
	ck_assert_ptr_nonnull(talking->turn.buf);
	ck_assert_ptr_null(quiet->turn.buf);
	ck_assert_ptr_null(quiet->turn.marks);

	/* Then nobody: #talking's turn goes too. */
	room_trim(&rs);
	ck_assert_ptr_null(talking->turn.buf);
	room_clear(&rs);
}
END_TEST

static Suite *
turn_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("turn");

	tc = tcase_create("part");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_silent_gets_all);
	tcase_add_test(tc, test_sender_interleaved);
	tcase_add_test(tc, test_own_at_both_ends);
	tcase_add_test(tc, test_own_runs);
	tcase_add_test(tc, test_only_own);
	tcase_add_test(tc, test_server_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("place");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_seen_then_more);
	tcase_add_test(tc, test_end_new_turn);
	tcase_add_test(tc, test_join_mid_turn);
	tcase_add_test(tc, test_join_empty_turn);
	suite_add_tcase(s, tc);

	tc = tcase_create("room");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_room_lines);
	tcase_add_test(tc, test_room_bytes);
	tcase_add_test(tc, test_room_long_line);
	tcase_add_test(tc, test_long_line_reused_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("buffer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_end_reuses_buffer);
	tcase_add_test(tc, test_end_with_reference);
	tcase_add_test(tc, test_end_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_test(tc, test_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("trim");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_room_trim);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(turn_suite());
}
