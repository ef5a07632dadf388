/*
 * line.c: line framing on a client's input buffer.
 *
 * A line ends at LF; a CR right before the LF belongs to the end of line,
 * so LF and CRLF clients both work.  Anything else (a CR NUL from telnet, a
 * stray CR) stays in the text for the sanitiser to remove.  Framing uses
 * evbuffer_search_eol(), which walks the buffer's chains without copying;
 * the line is made contiguous only when it is used (client_line()).
 *
 * A line longer than the limit is never accumulated: as soon as more than
 * the limit is buffered without an LF, the caller drops what it has and
 * skips to the next LF (line_skip()), so a client's unparsed input stays
 * under the limit plus one read whatever it sends.
 */

#include <stddef.h>

#include <event2/buffer.h>

#include "chatd.h"

/*
 * Looks for the next whole line in `in`.  LINE_READY: the first *len bytes
 * are the text and the next *eol bytes (1 or 2) end it; nothing is removed.
 * LINE_TOOLONG: the text exceeds max bytes; if its LF is buffered, *len and
 * *eol cover the whole line so the caller can drain it, else *len is 0 and
 * *eol 0 (the caller drains everything and skips to the next LF).
 * LINE_NONE: no LF yet and within the limit.
 */
int
line_next(struct evbuffer *in, size_t max, size_t *len, size_t *eol)
{
	struct evbuffer_ptr	 p;
	size_t			 n, buffered;
	char			 cr;

	*len = *eol = 0;
	p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		buffered = evbuffer_get_length(in);
		/* max text bytes plus a CR that may precede the LF. */
		return (buffered > max + 1 ? LINE_TOOLONG : LINE_NONE);
	}
	n = (size_t)p.pos;
	*eol = 1;
	if (n > 0) {
		if (evbuffer_ptr_set(in, &p, n - 1, EVBUFFER_PTR_SET) == 0 &&
		    evbuffer_copyout_from(in, &p, &cr, 1) == 1 && cr == '\r') {
			n--;
			*eol = 2;
		}
	}
	*len = n;
	return (n > max ? LINE_TOOLONG : LINE_READY);
}

/*
 * Discards input up to and including the next LF.  Returns 1 if the LF was
 * found (the long line is over), 0 if everything buffered was discarded.
 */
int
line_skip(struct evbuffer *in)
{
	struct evbuffer_ptr	p;

	p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return (0);
	}
	evbuffer_drain(in, (size_t)p.pos + 1);
	return (1);
}
