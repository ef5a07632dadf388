/*
 * sanitize.h: make one received line safe to show on another user's
 * terminal.  See sanitize.c for the design.
 */

#ifndef SANITIZE_H
#define SANITIZE_H

#include <stddef.h>

/*
 * Upper bound of the output size for an input of len bytes.  Callers bound
 * len by the configured line length, so the product cannot overflow.
 */
#define SANITIZE_MAX(len) ((len) * 3)

/*
 * Sanitise one line: in[0..len) is the line as received, without its LF or
 * CRLF (a stray CR left at the end is removed like any other control).
 * Writes the text to show into out, which must hold SANITIZE_MAX(len) bytes
 * and must not overlap in; out is not NUL-terminated.  Returns the output
 * length; 0 means nothing printable was left and the caller drops the line.
 *
 * Telnet commands, C0 and C1 controls, DEL and ANSI escape sequences are
 * removed, TAB becomes one space, valid UTF-8 is copied byte for byte and
 * each maximal invalid subpart becomes one U+FFFD.  The output is valid
 * UTF-8 with no control characters, and sanitising it again changes
 * nothing.  Pure: no allocation and no state kept between calls, so a
 * sequence cut by the end of the line ends there.  O(len).
 */
size_t	sanitize_line(const char *, size_t, char *);

#endif /* SANITIZE_H */
