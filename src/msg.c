/*
 * msg.c: broadcast lines, formatted once and shared by their recipients.
 *
 * A msg is reference counted: the broadcaster holds one reference, and each
 * recipient whose output buffer refers to it (evbuffer_add_reference) holds
 * another, dropped by libevent's cleanup callback once the bytes are
 * written or the buffer is freed.  One 4 KiB line to ten thousand slow
 * readers thus costs 4 KiB plus a chain header per reader, not 40 MB.
 * The event loop is single-threaded, so the count is a plain integer.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "chatd.h"

/* Returns a msg with room for len bytes and one reference. */
struct msg *
msg_new(size_t len)
{
	struct msg	*m;

	m = xmalloc(sizeof *m + len + 1);
	m->refs = 1;
	m->len = len;
	return (m);
}

/* Formats a line; the caller includes the CRLF. */
struct msg *
msg_printf(const char *fmt, ...)
{
	struct msg	*m;
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("msg_printf: bad format");
	m = msg_new((size_t)n);
	va_start(ap, fmt);
	vsnprintf(m->data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return (m);
}

void
msg_ref(struct msg *m)
{
	m->refs++;
}

void
msg_unref(struct msg *m)
{
	if (m->refs == 0)
		fatalx("msg_unref: no references");
	if (--m->refs == 0)
		free(m);
}
