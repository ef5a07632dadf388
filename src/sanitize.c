/*
 * Output sanitiser: turn one received line into text that is safe to show
 * on another user's terminal.
 *
 * A line goes through two layers, as its bytes would on a telnet session.
 * The telnet layer removes commands and negotiation and turns "IAC IAC"
 * into a 0xff data byte.  0xff never occurs in UTF-8, so a memchr() lets
 * almost every line skip this layer; when it is needed it decodes into the
 * spare tail of the output buffer, and the next layer reads from there.
 *
 * The terminal layer is one pass over the data.  Runs of printable ASCII
 * are copied by a tight loop.  C0 controls, DEL and C1 controls are
 * removed and TAB becomes a space.  Escape sequences, in their 7-bit (ESC)
 * and 8-bit (C1, UTF-8 encoded) forms, are removed whole so that no "[2J"
 * debris is left.  Everything else must be well-formed UTF-8; each maximal
 * invalid subpart (Unicode 3.9, WHATWG) becomes one U+FFFD.
 *
 * Some well-formed characters go too, because they let a line lie about
 * what it says.  The bidi marks, embeddings, overrides and isolates
 * (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) reorder the text
 * after them, so "gpj.exe" reads as "exe.jpg" and code reads unlike what
 * it does (Trojan Source, CVE-2021-42574).  The zero widths, joiners and
 * other invisible format characters (U+180E, U+200B-U+200D, U+2060-U+2064,
 * U+206A-U+206F, U+FEFF, U+FFF9-U+FFFB, the tags U+E0000-U+E007F) hide
 * text, or make two strings that look alike differ.  U+2028 and U+2029
 * become a space: some clients break the line there, and what follows
 * would pose as a line of its own.  The price is paid by honest text: a
 * ZWJ emoji sequence shows as its parts, a subdivision flag as a black
 * flag, and a script that shapes with ZWNJ or ZWJ (Persian, the Indic
 * scripts) loses it.  These code points start with the bytes D8, E1, E2,
 * EF or F3 only, so they are matched on multi-byte sequences and cost the
 * ASCII loop nothing.
 *
 * A run of spaces becomes one space, whether it came as spaces, TABs or
 * line separators, or met once what was between them was removed ("a
 * ESC[0m b" gives "a b").  Otherwise 200 spaces and then "*** admin: x"
 * wrap on a narrow terminal into a line that reads as the server's.  One
 * space is kept at either end rather than trimmed: trimming would turn
 * " /quit", chat text today, into a command, and which lines are
 * commands is chat's business, not the sanitiser's.  So a line of spaces
 * gives " ", which is relayed.  The ASCII loop stops at a space that
 * follows a space, and every other space is written by one function that
 * looks at the last byte written.  That is one more test per byte in the
 * loop, rarely taken (what it costs: README, Performance); stopping the
 * loop at every space instead mispredicts at every word.  Only ASCII
 * spaces are squeezed: NBSP and the other Unicode spaces are text.
 *
 * Safety does not depend on recognising sequences: the output holds no C0,
 * DEL, ESC or C1 at all, so nothing in it can start a sequence on the
 * reader's terminal; whole-sequence removal only avoids visible debris.  A
 * malformed sequence ends at the first byte that does not fit its grammar
 * and that byte is handled afresh; an ESC inside a control string ends the
 * string (it is either ST, "ESC \", or aborts the string, as in a terminal).
 * No state survives the line: a sequence cut by the end of the line is
 * handled as if it ended there, which removes it to the end of the line.
 *
 * Rejected: interleaving the telnet layer with the terminal layer in one
 * pass (every lookahead in the escape and UTF-8 parsers would have to step
 * over IAC commands, and "C3 IAC NOP A9" would not come out as U+00E9);
 * a scratch allocation for the telnet data (the output buffer's spare room
 * is enough); mbrtowc() or iconv() (locale-dependent, and neither does
 * maximal-subpart replacement); a 256-entry class table (the ranges are
 * few and the branches read as the rules).  Folding confusables (Cyrillic
 * "a" for Latin "a") or normalising (NFKC): that protects names, which
 * are ASCII already, and in text it would rewrite what people write in
 * their own scripts.  Removing every Default_Ignorable_Code_Point: it
 * needs Unicode tables, and would take the variation selectors that pick
 * emoji presentation and the soft hyphen, which hide nothing that
 * matters; the list above is what reorders a line or makes text vanish.
 * Ending the ASCII loop at every space and squeezing there: a branch
 * mispredicted at every word made chat text three to four times slower.
 */

#include <string.h>

#include "sanitize.h"

#define TELNET_SE	0xf0
#define TELNET_SB	0xfa
#define TELNET_WILL	0xfb		/* WILL, WONT, DO, DONT: 0xfb-0xfe */
#define TELNET_IAC	0xff

#define C0_BEL		0x07
#define C0_TAB		0x09
#define C0_ESC		0x1b

#define C1_DCS		0x90
#define C1_SOS		0x98
#define C1_CSI		0x9b
#define C1_ST		0x9c
#define C1_OSC		0x9d
#define C1_PM		0x9e
#define C1_APC		0x9f

/* What becomes of a well-formed multi-byte sequence. */
enum sanitize_format {
	SANITIZE_KEEP,
	SANITIZE_REMOVE,
	SANITIZE_SPACE
};

static const unsigned char sanitize_replacement[] = { 0xef, 0xbf, 0xbd };

static size_t	sanitize_telnet(const unsigned char *, size_t,
		    unsigned char *);
static size_t	sanitize_esc(const unsigned char *, size_t, size_t);
static size_t	sanitize_csi(const unsigned char *, size_t, size_t);
static size_t	sanitize_string(const unsigned char *, size_t, size_t);
static size_t	sanitize_utf8(const unsigned char *, size_t, size_t *);
static enum sanitize_format sanitize_format(const unsigned char *);
static size_t	sanitize_space(unsigned char *, size_t);

/*
 * Telnet layer: copy the data bytes of in[0..len) to out and return their
 * number (at most len).  "IAC IAC" is a 0xff data byte.  Removed: "IAC
 * WILL/WONT/DO/DONT opt" (three bytes), "IAC SB ... IAC SE" (inside it
 * every "IAC x" is a pair, so an escaped 0xff does not end it), and "IAC x"
 * for any other x (two bytes, even when x is not a command: an IAC is
 * never data).  A command cut by the end of the line is removed to the
 * end.
 */
static size_t
sanitize_telnet(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t	i = 0, n = 0;

	while (i < len) {
		if (in[i] != TELNET_IAC) {
			out[n++] = in[i++];
			continue;
		}
		if (i + 1 == len)
			break;
		if (in[i + 1] == TELNET_IAC) {
			out[n++] = TELNET_IAC;
			i += 2;
		} else if (in[i + 1] >= TELNET_WILL)
			i += 3;
		else if (in[i + 1] == TELNET_SB) {
			for (i += 2; i < len; i++) {
				if (in[i] == TELNET_IAC && ++i < len &&
				    in[i] == TELNET_SE)
					break;
			}
			i++;
		} else
			i += 2;
	}
	return (n);
}

/*
 * The escape parsers take the data d[0..n) and the index i just after the
 * introducer, and return the index just after the sequence (n if the line
 * ends inside it).  None reads past n.
 */

/*
 * After ESC: CSI and the control strings are handed on; "ESC I... F" (nF,
 * intermediates 0x20-0x2f then a final 0x30-0x7e, e.g. "ESC ( B") and the
 * two-byte "ESC x" (x in 0x30-0x7e) are removed.  Before any other byte
 * the ESC is removed alone.
 */
static size_t
sanitize_esc(const unsigned char *d, size_t n, size_t i)
{
	if (i == n)
		return (i);
	switch (d[i]) {
	case '[':
		return (sanitize_csi(d, n, i + 1));
	case ']':	/* OSC */
	case 'P':	/* DCS */
	case 'X':	/* SOS */
	case '^':	/* PM */
	case '_':	/* APC */
		return (sanitize_string(d, n, i + 1));
	}
	if (d[i] >= 0x20 && d[i] <= 0x2f) {
		while (i < n && d[i] >= 0x20 && d[i] <= 0x2f)
			i++;
		if (i < n && d[i] >= 0x30 && d[i] <= 0x7e)
			i++;
		return (i);
	}
	if (d[i] >= 0x30 && d[i] <= 0x7e)
		return (i + 1);
	return (i);
}

/*
 * CSI: parameter bytes 0x30-0x3f, intermediate bytes 0x20-0x2f, then one
 * final byte 0x40-0x7e.
 */
static size_t
sanitize_csi(const unsigned char *d, size_t n, size_t i)
{
	while (i < n && d[i] >= 0x30 && d[i] <= 0x3f)
		i++;
	while (i < n && d[i] >= 0x20 && d[i] <= 0x2f)
		i++;
	if (i < n && d[i] >= 0x40 && d[i] <= 0x7e)
		i++;
	return (i);
}

/*
 * Control string (OSC, DCS, SOS, PM, APC): up to and including BEL or the
 * 8-bit ST (C2 9C), or up to an ESC, which the caller then parses: "ESC \"
 * (ST) is removed as a two-byte escape, any other ESC starts a new
 * sequence.
 */
static size_t
sanitize_string(const unsigned char *d, size_t n, size_t i)
{
	for (; i < n; i++) {
		if (d[i] == C0_BEL)
			return (i + 1);
		if (d[i] == C0_ESC)
			return (i);
		if (d[i] == 0xc2 && i + 1 < n && d[i + 1] == C1_ST)
			return (i + 2);
	}
	return (n);
}

/*
 * UTF-8 at p[0..n), n >= 1 and p[0] >= 0x80.  Returns the length of the
 * well-formed sequence there, or 0 and sets *bad to the length (>= 1) of
 * its maximal invalid subpart: the longest prefix of a well-formed
 * sequence (Unicode table 3-7), or one byte if p[0] starts none.
 */
static size_t
sanitize_utf8(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		*bad = 1;
		return (0);
	}

	for (i = 1; i < need; i++) {
		if (i == n || p[i] < lo || p[i] > hi) {
			*bad = i;
			return (0);
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return (need);
}

/*
 * The well-formed sequence at p (two bytes or more, checked by
 * sanitize_utf8()) is a format or separator character that could reorder
 * or hide text: say whether it is kept, removed or shown as a space.  The
 * bytes are matched rather than decoded; the comments give the code
 * points.  Only five lead bytes can start one, so any other costs a
 * switch.
 */
static enum sanitize_format
sanitize_format(const unsigned char *p)
{
	switch (p[0]) {
	case 0xd8:
		/* U+061C ARABIC LETTER MARK: D8 9C. */
		if (p[1] == 0x9c)
			return (SANITIZE_REMOVE);
		break;
	case 0xe1:
		/* U+180E MONGOLIAN VOWEL SEPARATOR: E1 A0 8E. */
		if (p[1] == 0xa0 && p[2] == 0x8e)
			return (SANITIZE_REMOVE);
		break;
	case 0xe2:
		if (p[1] == 0x80) {
			/* U+200B-U+200F: zero widths, LRM, RLM. */
			if (p[2] >= 0x8b && p[2] <= 0x8f)
				return (SANITIZE_REMOVE);
			/* U+2028, U+2029: line, paragraph separator. */
			if (p[2] == 0xa8 || p[2] == 0xa9)
				return (SANITIZE_SPACE);
			/* U+202A-U+202E: bidi embeddings, overrides. */
			if (p[2] >= 0xaa && p[2] <= 0xae)
				return (SANITIZE_REMOVE);
		} else if (p[1] == 0x81) {
			/*
			 * U+2060-U+2064 (word joiner, invisible operators),
			 * U+2066-U+2069 (bidi isolates) and U+206A-U+206F
			 * (deprecated format characters); not the
			 * unassigned U+2065.
			 */
			if (p[2] >= 0xa0 && p[2] <= 0xaf && p[2] != 0xa5)
				return (SANITIZE_REMOVE);
		}
		break;
	case 0xef:
		/* U+FEFF BOM/ZWNBSP: EF BB BF. */
		if (p[1] == 0xbb && p[2] == 0xbf)
			return (SANITIZE_REMOVE);
		/* U+FFF9-U+FFFB interlinear annotation: EF BF B9-BB. */
		if (p[1] == 0xbf && p[2] >= 0xb9 && p[2] <= 0xbb)
			return (SANITIZE_REMOVE);
		break;
	case 0xf3:
		/* U+E0000-U+E007F tags: F3 A0 80 80 to F3 A0 81 BF. */
		if (p[1] == 0xa0 && p[2] <= 0x81)
			return (SANITIZE_REMOVE);
		break;
	}
	return (SANITIZE_KEEP);
}

/*
 * Appends a space to o[0..w) unless it ends with one already; returns the
 * new length.  Every space that does not come from the ASCII loop in
 * sanitize_line() (TAB, U+2028, U+2029, a space after a space) is written
 * here, so spaces that meet once what was between them is removed still
 * make one.
 */
static size_t
sanitize_space(unsigned char *o, size_t w)
{
	if (w == 0 || o[w - 1] != ' ')
		o[w++] = ' ';
	return (w);
}

/*
 * When the line holds an IAC, the telnet data (m <= len bytes) is put at
 * out + 2 * len and read from there while the output is written from out.
 * Each data byte yields at most three output bytes and is read before
 * they are written, so after i data bytes are consumed the output ends at
 * most at 3 * i <= 2 * len + i: writing never overtakes reading.
 */
size_t
sanitize_line(const char *in, size_t len, char *out)
{
	const unsigned char	*d = (const unsigned char *)in;
	unsigned char		*o = (unsigned char *)out;
	unsigned char		*tail, c, prev;
	size_t			 n = len, i = 0, w = 0, start, k, bad;

	if (len == 0)
		return (0);
	if (memchr(in, TELNET_IAC, len) != NULL) {
		tail = o + 2 * len;
		n = sanitize_telnet(d, len, tail);
		d = tail;
	}

	while (i < n) {
		/*
		 * Printable ASCII up to anything else, or up to a space that
		 * would follow a space.  The second test is one branch, taken
		 * only there; testing c == ' ' on its own would be a branch
		 * mispredicted at every word.
		 */
		start = i;
		prev = w > 0 ? o[w - 1] : 0;
		while (i < n && (c = d[i]) >= 0x20 && c < 0x7f &&
		    ((c ^ ' ') | (prev ^ ' ')) != 0) {
			prev = c;
			i++;
		}
		if (i != start) {
			memmove(o + w, d + start, i - start);
			w += i - start;
			if (i == n)
				break;
		}

		if (d[i] == ' ' || d[i] == C0_TAB) {
			w = sanitize_space(o, w);
			i++;
			continue;
		}
		if (d[i] == C0_ESC) {
			i = sanitize_esc(d, n, i + 1);
			continue;
		}
		if (d[i] < 0x80) {
			i++;		/* other C0, DEL */
			continue;
		}

		if ((k = sanitize_utf8(d + i, n - i, &bad)) == 0) {
			memcpy(o + w, sanitize_replacement,
			    sizeof sanitize_replacement);
			w += sizeof sanitize_replacement;
			i += bad;
		} else if (d[i] == 0xc2 && d[i + 1] <= 0x9f) {
			/* C1 control: U+0080..U+009F. */
			i += 2;
			switch (d[i - 1]) {
			case C1_CSI:
				i = sanitize_csi(d, n, i);
				break;
			case C1_DCS:
			case C1_SOS:
			case C1_OSC:
			case C1_PM:
			case C1_APC:
				i = sanitize_string(d, n, i);
				break;
			}
		} else {
			switch (sanitize_format(d + i)) {
			case SANITIZE_KEEP:
				memmove(o + w, d + i, k);
				w += k;
				break;
			case SANITIZE_SPACE:
				w = sanitize_space(o, w);
				break;
			case SANITIZE_REMOVE:
				break;
			}
			i += k;
		}
	}
	return (w);
}
