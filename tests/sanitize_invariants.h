/*
 * What sanitize_line() promises about its output, checked independently of
 * how src/sanitize.c keeps the promise: shared by the unit tests
 * (tests/check_sanitize.c) and the fuzz target (tests/fuzz/fuzz_sanitize.c)
 * so that both hold the output to the same rules.
 *
 * The UTF-8 checker decodes code points instead of mirroring the byte
 * ranges of sanitize.c, so the two are not wrong in the same way.  Static
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
 * NULL if p[0..len) is safe to show (valid UTF-8 with no C0 control, DEL
 * or C1 control), else what is wrong with it.
 */
static inline const char *
sanitize_invariants_check(const unsigned char *p, size_t len)
{
	size_t	i;

	if (!sanitize_invariants_utf8(p, len))
		return ("invalid UTF-8");
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20)
			return ("C0 control");
		if (p[i] == 0x7f)
			return ("DEL");
		/* In valid UTF-8, U+0080..U+009F are C2 80..C2 9F. */
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] <= 0x9f)
			return ("C1 control");
	}
	return (NULL);
}

#endif /* SANITIZE_INVARIANTS_H */
