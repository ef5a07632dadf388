/*
 * json.c: the little JSON chatd writes (chatctl --json), by hand.
 *
 * chatd writes JSON and never reads it, and what it writes is objects of
 * numbers, booleans and strings that are already sanitised UTF-8 (names,
 * addresses, reasons).  A string needs its quotes and backslashes escaped
 * and, to be safe whatever it is given, any control character written as
 * \u00XX.  That is this file; a JSON library would be a dependency for a
 * dozen lines.
 */

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "chatd.h"

/* Appends s as a JSON string, quotes included. */
void
json_string(struct evbuffer *b, const char *s)
{
	const char	*run;

	evbuffer_add(b, "\"", 1);
	while (*s != '\0') {
		run = s;
		while (*s != '\0' && *s != '"' && *s != '\\' &&
		    (unsigned char)*s >= 0x20)
			s++;
		evbuffer_add(b, run, (size_t)(s - run));
		if (*s == '\0')
			break;
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(b, "\\%c", *s);
		else
			evbuffer_add_printf(b, "\\u%04x", (unsigned char)*s);
		s++;
	}
	evbuffer_add(b, "\"", 1);
}
