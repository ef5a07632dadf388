/*
 * What sanitize_line() promises about its output, checked independently of
 * how src/sanitize.c keeps the promise: shared by the unit tests
 * (tests/check_sanitize.c) and the fuzz target (tests/fuzz/fuzz_sanitize.c)
 * so that both hold the output to the same rules.
 *
 * The checker decodes code points instead of mirroring the byte ranges of
 * sanitize.c, and lists the removed format characters as code points
 * where sanitize.c matches their bytes, so the two are not wrong in the
 * same way.  Static
 * inline and self-contained (no Check, no libevent) because the fuzz
 * target links neither.
 */

#ifndef SANITIZE_INVARIANTS_H
#define SANITIZE_INVARIANTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Whether p[0..len) is valid UTF-8: no stray continuation byte, overlong
 * form, surrogate, value above U+10FFFF or truncated sequence.
 */
static inline int
sanitize_invariants_utf8(const unsigned char *p, size_t len)
{
	size_t		i = 0, n, j;
	uint32_t	cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return (0);
		if (len - i < n)
			return (0);
		for (j = 1; j < n; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += n;
	}
	return (1);
}

/*
 * The code point of the valid UTF-8 sequence at p; sets *n to its length.
 */
static inline uint32_t
sanitize_invariants_decode(const unsigned char *p, size_t *n)
{
	if (p[0] < 0x80) {
		*n = 1;
		return (p[0]);
	}
	if (p[0] < 0xe0) {
		*n = 2;
		return ((uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f));
	}
	if (p[0] < 0xf0) {
		*n = 3;
		return ((uint32_t)(p[0] & 0x0f) << 12 |
		    (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f));
	}
	*n = 4;
	return ((uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
	    (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f));
}

/*
 * Whether cp is a bidi control or an invisible format character, which
 * sanitize_line() removes.
 */
static inline int
sanitize_invariants_format(uint32_t cp)
{
	return (cp == 0x061c || cp == 0x180e ||
	    (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2060 && cp <= 0x2064) ||
	    (cp >= 0x2066 && cp <= 0x206f) ||
	    cp == 0xfeff ||
	    (cp >= 0xfff9 && cp <= 0xfffb) ||
	    (cp >= 0xe0000 && cp <= 0xe007f));
}

/*
 * NULL if p[0..len) is safe to show, else what is wrong with it.  Safe
 * is: valid UTF-8 with no C0 control, DEL, C1 control, bidi control,
 * invisible format character, line or paragraph separator, and no two
 * spaces in a row.
 */
static inline const char *
sanitize_invariants_check(const unsigned char *p, size_t len)
{
	size_t		i, n;
	uint32_t	cp, prev = 0;

	if (!sanitize_invariants_utf8(p, len))
		return ("invalid UTF-8");
	for (i = 0; i < len; i += n, prev = cp) {
		cp = sanitize_invariants_decode(p + i, &n);
		if (cp < 0x20)
			return ("C0 control");
		if (cp == 0x7f)
			return ("DEL");
		if (cp >= 0x80 && cp <= 0x9f)
			return ("C1 control");
		if (cp == 0x2028 || cp == 0x2029)
			return ("line or paragraph separator");
		if (sanitize_invariants_format(cp))
			return ("bidi or invisible format character");
		if (cp == ' ' && prev == ' ')
			return ("two spaces in a row");
	}
	return (NULL);
}

#endif /* SANITIZE_INVARIANTS_H */
