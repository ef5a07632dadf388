/*
 * Unit tests for line framing (line_next(), line_skip()) and for the
 * shared broadcast lines of msg.c.
 *
 * Framing is tested on real evbuffers, since the point of line.c is to
 * walk libevent's chains without copying: lines are built from one add,
 * from many small adds, and from evbuffer_add_reference() pieces (each
 * its own chain, so a CR and its LF can sit in different chains).  The
 * buffer is never drained by line_next(); tests drain len + eol as
 * client.c does.  The limit is always LINE_MAX_TEST so that the boundary
 * cases (max, max + 1, max + CR) read plainly.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "chatd.h"
#include "death.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* A byte string literal as pointer and length (it may hold NULs). */
#define B(s)		(s), (sizeof(s) - 1)

#define LINE_MAX_TEST	64

static struct evbuffer *
buf_new(const char *s, size_t n)
{
	struct evbuffer	*b;

	b = evbuffer_new();
	ck_assert_ptr_nonnull(b);
	if (n > 0)
		ck_assert_int_eq(evbuffer_add(b, s, n), 0);
	return (b);
}

/* Adds n copies of ch. */
static void
buf_fill(struct evbuffer *b, char ch, size_t n)
{
	char	*tmp;

	tmp = malloc(n);
	ck_assert_ptr_nonnull(tmp);
	memset(tmp, ch, n);
	ck_assert_int_eq(evbuffer_add(b, tmp, n), 0);
	free(tmp);
}

/* Checks that the first n bytes of b are s. */
static void
buf_starts(struct evbuffer *b, const char *s, size_t n)
{
	char	*tmp;

	ck_assert_uint_ge(evbuffer_get_length(b), n);
	if (n == 0)
		return;
	tmp = malloc(n);
	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_eq(evbuffer_copyout(b, tmp, n), (ev_ssize_t)n);
	ck_assert_msg(memcmp(tmp, s, n) == 0, "buffer does not start with "
	    "'%.*s'", (int)n, s);
	free(tmp);
}

/*
 * Expects the next line to be READY with text s (n bytes) and eol bytes
 * of end of line, then drains it as the daemon does.
 */
static void
expect_line(struct evbuffer *b, const char *s, size_t n, size_t eol)
{
	size_t	len = 99, e = 99, before;

	before = evbuffer_get_length(b);
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &e), LINE_READY);
	ck_assert_uint_eq(len, n);
	ck_assert_uint_eq(e, eol);
	/* line_next() removes nothing. */
	ck_assert_uint_eq(evbuffer_get_length(b), before);
	buf_starts(b, s, n);
	ck_assert_int_eq(evbuffer_drain(b, len + e), 0);
}

static void
expect_none(struct evbuffer *b)
{
	size_t	len = 99, eol = 99, before;

	before = evbuffer_get_length(b);
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol), LINE_NONE);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(eol, 0);
	ck_assert_uint_eq(evbuffer_get_length(b), before);
}

START_TEST(test_empty_buffer)
{
	struct evbuffer	*b = buf_new(NULL, 0);

	expect_none(b);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_lf)
{
	struct evbuffer	*b = buf_new(B("hello\n"));

	expect_line(b, B("hello"), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	expect_none(b);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_crlf)
{
	struct evbuffer	*b = buf_new(B("hello\r\n"));

	expect_line(b, B("hello"), 2);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_cr_alone_stays)
{
	struct evbuffer	*b;

	/* A CR not right before the LF is text. */
	b = buf_new(B("a\rb\n"));
	expect_line(b, B("a\rb"), 1);
	evbuffer_free(b);

	/* Only the CR right before the LF belongs to the end of line. */
	b = buf_new(B("ab\r\r\n"));
	expect_line(b, B("ab\r"), 2);
	evbuffer_free(b);

	/* Telnet's CR NUL is text. */
	b = buf_new(B("a\r\0b\r\n"));
	expect_line(b, B("a\r\0b"), 2);
	evbuffer_free(b);

	/* A CR alone is not an end of line. */
	b = buf_new(B("abc\r"));
	expect_none(b);
	ck_assert_int_eq(evbuffer_add(b, B("def\n")), 0);
	expect_line(b, B("abc\rdef"), 1);
	evbuffer_free(b);

	/* An LF CR pair: the CR starts the next line. */
	b = buf_new(B("x\n\ry\n"));
	expect_line(b, B("x"), 1);
	expect_line(b, B("\ry"), 1);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_empty_lines)
{
	struct evbuffer	*b;

	b = buf_new(B("\n"));
	expect_line(b, B(""), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);

	b = buf_new(B("\r\n"));
	expect_line(b, B(""), 2);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);

	b = buf_new(B("\n\r\n\n"));
	expect_line(b, B(""), 1);
	expect_line(b, B(""), 2);
	expect_line(b, B(""), 1);
	expect_none(b);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_several_lines)
{
	struct evbuffer	*b;

	b = buf_new(B("one\ntwo\r\n\nthree\r\nfour\nfiv"));
	expect_line(b, B("one"), 1);
	expect_line(b, B("two"), 2);
	expect_line(b, B(""), 1);
	expect_line(b, B("three"), 2);
	expect_line(b, B("four"), 1);
	expect_none(b);
	ck_assert_uint_eq(evbuffer_get_length(b), 3);
	buf_starts(b, B("fiv"));
	ck_assert_int_eq(evbuffer_add(b, B("e\r\n")), 0);
	expect_line(b, B("five"), 2);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_nul_in_line)
{
	struct evbuffer	*b = buf_new(B("a\0b\0\n"));

	expect_line(b, B("a\0b\0"), 1);
	evbuffer_free(b);
}
END_TEST

/* One byte per evbuffer_add(), as a slow client's reads might arrive. */
START_TEST(test_split_small_adds)
{
	static const char	 line[] = "arrives byte by byte\r\n";
	struct evbuffer		*b = buf_new(NULL, 0);
	size_t			 i, n = sizeof line - 1;

	for (i = 0; i < n; i++) {
		/* No LF yet: nothing, and never too long. */
		expect_none(b);
		ck_assert_int_eq(evbuffer_add(b, &line[i], 1), 0);
	}
	expect_line(b, line, n - 2, 2);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

/*
 * Each evbuffer_add_reference() piece is a chain of its own, so the line
 * spans many chains; the CR and the LF are in different chains.
 */
START_TEST(test_split_chains)
{
	static const char	*pieces[] = {
		"spl", "it", " ", "acr", "oss", " chains", "\r", "\n",
		"next", "\n",
	};
	struct evbuffer		*b = buf_new(NULL, 0);
	size_t			 i;

	for (i = 0; i < nitems(pieces); i++) {
		if (i < 7)
			expect_none(b);
		ck_assert_int_eq(evbuffer_add_reference(b, pieces[i],
		    strlen(pieces[i]), NULL, NULL), 0);
	}
	ck_assert_int_gt(evbuffer_peek(b, -1, NULL, NULL, 0), 5);
	expect_line(b, B("split across chains"), 2);
	expect_line(b, B("next"), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

/* A CR that ends one chain followed by text: still text. */
START_TEST(test_cr_ends_chain)
{
	struct evbuffer	*b = buf_new(NULL, 0);

	evbuffer_add_reference(b, "ab\r", 3, NULL, NULL);
	evbuffer_add_reference(b, "c\n", 2, NULL, NULL);
	expect_line(b, B("ab\rc"), 1);
	evbuffer_free(b);

	/* The LF alone in the first chain after the CR. */
	b = buf_new(NULL, 0);
	evbuffer_add_reference(b, "\r", 1, NULL, NULL);
	evbuffer_add_reference(b, "\n", 1, NULL, NULL);
	expect_line(b, B(""), 2);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_exactly_max)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len, eol;

	buf_fill(b, 'a', LINE_MAX_TEST);
	evbuffer_add(b, B("\n"));
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol), LINE_READY);
	ck_assert_uint_eq(len, LINE_MAX_TEST);
	ck_assert_uint_eq(eol, 1);
	evbuffer_drain(b, len + eol);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);

	/* The CR does not count against the limit. */
	buf_fill(b, 'b', LINE_MAX_TEST);
	evbuffer_add(b, B("\r\n"));
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol), LINE_READY);
	ck_assert_uint_eq(len, LINE_MAX_TEST);
	ck_assert_uint_eq(eol, 2);
	evbuffer_drain(b, len + eol);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_max_plus_one_with_lf)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len, eol;

	buf_fill(b, 'a', LINE_MAX_TEST + 1);
	evbuffer_add(b, B("\nok\n"));
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(len, LINE_MAX_TEST + 1);
	ck_assert_uint_eq(eol, 1);
	/* len + eol cover the whole line: the next line is intact. */
	evbuffer_drain(b, len + eol);
	expect_line(b, B("ok"), 1);
	evbuffer_free(b);

	b = buf_new(NULL, 0);
	buf_fill(b, 'a', LINE_MAX_TEST + 1);
	evbuffer_add(b, B("\r\nok\r\n"));
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(len, LINE_MAX_TEST + 1);
	ck_assert_uint_eq(eol, 2);
	evbuffer_drain(b, len + eol);
	expect_line(b, B("ok"), 2);
	evbuffer_free(b);
}
END_TEST

/* A long line whose LF is in the buffer: reported whole, whatever its size. */
START_TEST(test_much_too_long_with_lf)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len, eol;

	buf_fill(b, 'x', 10000);
	evbuffer_add(b, B("\r\nafter\n"));
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(len, 10000);
	ck_assert_uint_eq(eol, 2);
	evbuffer_drain(b, len + eol);
	expect_line(b, B("after"), 1);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_no_lf_too_long)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len = 99, eol = 99;

	buf_fill(b, 'a', LINE_MAX_TEST + 2);
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(eol, 0);
	ck_assert_uint_eq(evbuffer_get_length(b), LINE_MAX_TEST + 2);
	evbuffer_free(b);

	b = buf_new(NULL, 0);
	buf_fill(b, 'a', 5000);
	len = eol = 99;
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(eol, 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_no_lf_within_limit)
{
	struct evbuffer	*b = buf_new(NULL, 0);

	buf_fill(b, 'a', 1);
	expect_none(b);
	buf_fill(b, 'a', LINE_MAX_TEST - 1);
	expect_none(b);
	/*
	 * max + 1 bytes without LF: the last may be the CR of a CRLF, so
	 * it is not yet known to be too long.
	 */
	buf_fill(b, 'a', 1);
	expect_none(b);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_max_plus_cr_waits)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len, eol;

	buf_fill(b, 'a', LINE_MAX_TEST);
	evbuffer_add(b, B("\r"));
	expect_none(b);
	evbuffer_add(b, B("\n"));
	ck_assert_uint_eq(evbuffer_get_length(b), LINE_MAX_TEST + 2);
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol), LINE_READY);
	ck_assert_uint_eq(len, LINE_MAX_TEST);
	ck_assert_uint_eq(eol, 2);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_skip_with_lf)
{
	struct evbuffer	*b;

	b = buf_new(B("rest of a long line\nnext\n"));
	ck_assert_int_eq(line_skip(b), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 5);
	expect_line(b, B("next"), 1);
	evbuffer_free(b);

	/* The CR of a CRLF goes with the skipped line. */
	b = buf_new(B("junk\r\nnext\r\n"));
	ck_assert_int_eq(line_skip(b), 1);
	expect_line(b, B("next"), 2);
	evbuffer_free(b);

	/* Only up to the first LF. */
	b = buf_new(B("\n\n"));
	ck_assert_int_eq(line_skip(b), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 1);
	ck_assert_int_eq(line_skip(b), 1);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_skip_without_lf)
{
	struct evbuffer	*b;

	b = buf_new(B("no end of line here\r"));
	ck_assert_int_eq(line_skip(b), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	ck_assert_int_eq(line_skip(b), 0);
	evbuffer_free(b);
}
END_TEST

/* The daemon's sequence: too long, drain all, skip to the LF, go on. */
START_TEST(test_discard_sequence)
{
	struct evbuffer	*b = buf_new(NULL, 0);
	size_t		 len, eol;

	buf_fill(b, 'z', 3 * LINE_MAX_TEST);
	ck_assert_int_eq(line_next(b, LINE_MAX_TEST, &len, &eol),
	    LINE_TOOLONG);
	ck_assert_uint_eq(eol, 0);
	evbuffer_drain(b, evbuffer_get_length(b));

	buf_fill(b, 'z', 3 * LINE_MAX_TEST);
	ck_assert_int_eq(line_skip(b), 0);
	evbuffer_add(b, B("zzz\r\nhello\r\n"));
	ck_assert_int_eq(line_skip(b), 1);
	expect_line(b, B("hello"), 2);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_msg_new)
{
	struct msg	*m;

	m = msg_new(10);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(m->len, 10);
	/* Room for len bytes (AddressSanitizer checks). */
	memcpy(m->data, "0123456789", 10);
	msg_unref(m);

	m = msg_new(0);
	ck_assert_uint_eq(m->len, 0);
	msg_unref(m);
}
END_TEST

START_TEST(test_msg_printf)
{
	struct msg	*m;
	const char	*want = "<bob> 42 is the answer\r\n";

	m = msg_printf("<%s> %d is the answer\r\n", "bob", 42);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(m->len, strlen(want));
	ck_assert_mem_eq(m->data, want, m->len);
	ck_assert_mem_eq(m->data + m->len - 2, "\r\n", 2);
	msg_unref(m);

	m = msg_printf("%s", "");
	ck_assert_uint_eq(m->len, 0);
	msg_unref(m);
}
END_TEST

START_TEST(test_msg_printf_long)
{
	struct msg	*m;
	char		*s;
	size_t		 n = 10000;

	s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, 'q', n);
	s[n] = '\0';
	m = msg_printf("* %s\r\n", s);
	ck_assert_uint_eq(m->len, n + 4);
	ck_assert_mem_eq(m->data, "* qq", 4);
	ck_assert_mem_eq(m->data + n + 1, "q\r\n", 3);
	msg_unref(m);
	free(s);
}
END_TEST

START_TEST(test_msg_refs)
{
	struct msg	*m;

	m = msg_printf("shared\r\n");
	msg_ref(m);
	msg_ref(m);
	ck_assert_uint_eq(m->refs, 3);
	msg_unref(m);
	ck_assert_uint_eq(m->refs, 2);
	/* Still readable while referenced. */
	ck_assert_mem_eq(m->data, "shared\r\n", 8);
	msg_unref(m);
	ck_assert_uint_eq(m->refs, 1);
	msg_unref(m);	/* freed: a leak checker would see otherwise */
}
END_TEST

/* Kept reachable so that the leak checkers stay quiet in the child. */
static struct msg	*msg_broken;

static void
msg_unref_zero(void *arg)
{
	msg_broken = msg_new(1);
	msg_broken->refs = 0;
	msg_unref(msg_broken);
}

/* A broken invariant: fatalx(), exit 1, saying which. */
START_TEST(test_msg_unref_zero)
{
	death_expect(msg_unref_zero, NULL, 1, "error: msg_unref: no "
	    "references\n");
}
END_TEST

static Suite *
line_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("line");

	tc = tcase_create("line_next");
	tcase_add_test(tc, test_empty_buffer);
	tcase_add_test(tc, test_lf);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_cr_alone_stays);
	tcase_add_test(tc, test_empty_lines);
	tcase_add_test(tc, test_several_lines);
	tcase_add_test(tc, test_nul_in_line);
	tcase_add_test(tc, test_split_small_adds);
	tcase_add_test(tc, test_split_chains);
	tcase_add_test(tc, test_cr_ends_chain);
	suite_add_tcase(s, tc);

	tc = tcase_create("limit");
	tcase_add_test(tc, test_exactly_max);
	tcase_add_test(tc, test_max_plus_one_with_lf);
	tcase_add_test(tc, test_much_too_long_with_lf);
	tcase_add_test(tc, test_no_lf_too_long);
	tcase_add_test(tc, test_no_lf_within_limit);
	tcase_add_test(tc, test_max_plus_cr_waits);
	suite_add_tcase(s, tc);

	tc = tcase_create("line_skip");
	tcase_add_test(tc, test_skip_with_lf);
	tcase_add_test(tc, test_skip_without_lf);
	tcase_add_test(tc, test_discard_sequence);
	suite_add_tcase(s, tc);

	tc = tcase_create("msg");
	tcase_add_test(tc, test_msg_new);
	tcase_add_test(tc, test_msg_printf);
	tcase_add_test(tc, test_msg_printf_long);
	tcase_add_test(tc, test_msg_refs);
	tcase_add_test(tc, test_msg_unref_zero);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(line_suite());
}
