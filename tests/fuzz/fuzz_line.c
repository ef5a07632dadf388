/*
 * libFuzzer target for line framing (line_next(), line_skip()).
 *
 * The first byte picks the limit (8 to 71 bytes, so that the boundaries
 * are hit often); the rest is fed into an evbuffer in pieces, as reads
 * would arrive.  Each piece's first byte gives its length, and pieces are
 * added alternately by copy and by reference, so lines span many chains
 * and a CR and its LF are often in different ones.  After each piece the
 * buffer is framed the way client.c does it: READY and TOOLONG with an LF
 * drain len + eol, TOOLONG without one drains everything and skips to the
 * next LF.
 *
 * Every result is checked against a model working on the flat input (the
 * first LF from the read position decides everything), and the bytes the
 * buffer holds must be the model's.  Invariants: READY is never over the
 * limit, no text holds an LF, what is left unparsed stays within the
 * limit plus one, and the buffer holds exactly what was added less what
 * was drained.  Any breach aborts.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "chatd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

/* The input as a flat array: added bytes are [0, added), read from off. */
struct fuzz_model {
	const uint8_t	*bytes;
	size_t		 added;
	size_t		 off;
};

/* Index of the first LF at or after off, or (size_t)-1. */
static size_t
fuzz_find_lf(const struct fuzz_model *m)
{
	const uint8_t	*p;

	if (m->off == m->added)
		return ((size_t)-1);
	p = memchr(m->bytes + m->off, '\n', m->added - m->off);
	return (p == NULL ? (size_t)-1 : (size_t)(p - m->bytes));
}

/* The buffer holds exactly the model's unread bytes. */
static void
fuzz_same_bytes(struct evbuffer *in, const struct fuzz_model *m, size_t n)
{
	uint8_t	*tmp;

	FUZZ_CHECK(evbuffer_get_length(in) == m->added - m->off);
	FUZZ_CHECK(n <= m->added - m->off);
	if (n == 0)
		return;
	if ((tmp = malloc(n)) == NULL)
		abort();
	FUZZ_CHECK(evbuffer_copyout(in, tmp, n) == (ev_ssize_t)n);
	FUZZ_CHECK(memcmp(tmp, m->bytes + m->off, n) == 0);
	free(tmp);
}

static void
fuzz_drain(struct evbuffer *in, struct fuzz_model *m, size_t n)
{
	FUZZ_CHECK(n <= m->added - m->off);
	FUZZ_CHECK(evbuffer_drain(in, n) == 0);
	m->off += n;
	FUZZ_CHECK(evbuffer_get_length(in) == m->added - m->off);
}

/* Frames what is buffered as client_try_read() does, checking each step. */
static void
fuzz_frame(struct evbuffer *in, struct fuzz_model *m, size_t max,
    int *discard)
{
	size_t	lf, n, want_len, want_eol, len, eol, rounds = 0;
	int	r, want;

	for (;;) {
		/* Each round drains at least a byte, or stops. */
		FUZZ_CHECK(rounds++ <= m->added + 1);

		if (*discard) {
			lf = fuzz_find_lf(m);
			r = line_skip(in);
			if (lf == (size_t)-1) {
				FUZZ_CHECK(r == 0);
				m->off = m->added;
				FUZZ_CHECK(evbuffer_get_length(in) == 0);
				return;
			}
			FUZZ_CHECK(r == 1);
			m->off = lf + 1;
			FUZZ_CHECK(evbuffer_get_length(in) ==
			    m->added - m->off);
			*discard = 0;
		}

		len = eol = 12345;
		r = line_next(in, max, &len, &eol);

		lf = fuzz_find_lf(m);
		if (lf == (size_t)-1) {
			n = m->added - m->off;
			want = n > max + 1 ? LINE_TOOLONG : LINE_NONE;
			want_len = want_eol = 0;
		} else {
			n = lf - m->off;
			want_eol = 1;
			if (n > 0 && m->bytes[lf - 1] == '\r')
				want_eol = 2;
			want_len = n + 1 - want_eol;
			want = want_len > max ? LINE_TOOLONG : LINE_READY;
		}
		FUZZ_CHECK(r == want);
		FUZZ_CHECK(len == want_len);
		FUZZ_CHECK(eol == want_eol);

		switch (r) {
		case LINE_READY:
			FUZZ_CHECK(len <= max);
			FUZZ_CHECK(eol == 1 || eol == 2);
			fuzz_same_bytes(in, m, len + eol);
			FUZZ_CHECK(memchr(m->bytes + m->off, '\n', len) ==
			    NULL);
			FUZZ_CHECK(m->bytes[m->off + len + eol - 1] == '\n');
			fuzz_drain(in, m, len + eol);
			break;
		case LINE_TOOLONG:
			if (eol != 0) {
				FUZZ_CHECK(len > max);
				fuzz_same_bytes(in, m, len + eol);
				fuzz_drain(in, m, len + eol);
			} else {
				FUZZ_CHECK(len == 0);
				FUZZ_CHECK(evbuffer_get_length(in) > max + 1);
				fuzz_drain(in, m, evbuffer_get_length(in));
				*discard = 1;
			}
			break;
		case LINE_NONE:
			FUZZ_CHECK(len == 0 && eol == 0);
			/* Unparsed input stays within the limit. */
			FUZZ_CHECK(evbuffer_get_length(in) <= max + 1);
			fuzz_same_bytes(in, m, evbuffer_get_length(in));
			return;
		default:
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer		*in;
	struct fuzz_model	 m;
	size_t			 max, piece, pieces = 0;
	int			 discard = 0;

	if (size == 0)
		return (0);
	max = 8 + (data[0] & 63);
	data++;
	size--;

	if ((in = evbuffer_new()) == NULL)
		abort();
	m.bytes = data;
	m.added = m.off = 0;
	while (m.added < size) {
		piece = 1 + (data[m.added] & 15);
		if (piece > size - m.added)
			piece = size - m.added;
		if (pieces++ & 1) {
			FUZZ_CHECK(evbuffer_add_reference(in, data + m.added,
			    piece, NULL, NULL) == 0);
		} else {
			FUZZ_CHECK(evbuffer_add(in, data + m.added,
			    piece) == 0);
		}
		m.added += piece;
		FUZZ_CHECK(evbuffer_get_length(in) == m.added - m.off);

		fuzz_frame(in, &m, max, &discard);
		/* Never more buffered than added, and bounded by the limit. */
		FUZZ_CHECK(evbuffer_get_length(in) <= m.added);
		FUZZ_CHECK(evbuffer_get_length(in) <= max + 1);
	}
	evbuffer_free(in);
	return (0);
}
