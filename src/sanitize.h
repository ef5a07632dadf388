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
 * removed, TAB becomes one space, and each maximal invalid subpart of
 * UTF-8 becomes one U+FFFD.  Valid UTF-8 is copied byte for byte except
 * for the bidi controls and invisible format characters (U+061C, U+180E,
 * U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+206F, U+FEFF,
 * U+FFF9-U+FFFB, U+E0000-U+E007F), which are removed, and U+2028 and
 * U+2029, which become one space.  Then every run of spaces is one space,
 * at the ends of the line too: nothing is trimmed, so a line of spaces
 * gives " " (1), not 0.  The output is valid UTF-8 with no control
 * characters, none of the code points above and no two spaces in a row,
 * and sanitising it again changes nothing.  Pure: no allocation and no
 * state kept between calls, so a sequence cut by the end of the line ends
 * there.  O(len).
 */
size_t	sanitize_line(const char *, size_t, char *);

#endif /* SANITIZE_H */
