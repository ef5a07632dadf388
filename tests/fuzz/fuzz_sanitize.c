/*
 * libFuzzer target for sanitize_line().
 *
 * The input is one line.  The output must fit SANITIZE_MAX(), be valid
 * UTF-8 (no overlongs, surrogates, values above U+10FFFF or truncation)
 * and hold no C0 control, DEL or C1 control; sanitising it again must give
 * it back unchanged.  Any breach aborts.  Buffers are allocated at exactly
 * SANITIZE_MAX(len) so AddressSanitizer sees the smallest overrun.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_valid_utf8(const unsigned char *p, size_t len)
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
		if (cp >= 0x80 && cp <= 0x9f)
			return (0);	/* C1 control */
		i += n;
	}
	return (1);
}

static char *
fuzz_run(const char *in, size_t len, size_t *outlen)
{
	char	*out;

	out = malloc(len > 0 ? SANITIZE_MAX(len) : 1);
	if (out == NULL)
		abort();
	*outlen = sanitize_line(in, len, out);
	if (*outlen > SANITIZE_MAX(len))
		abort();
	return (out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*out, *again;
	size_t	 outlen, againlen, i;

	out = fuzz_run((const char *)data, size, &outlen);
	if (!fuzz_valid_utf8((const unsigned char *)out, outlen))
		abort();
	for (i = 0; i < outlen; i++) {
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
	}

	again = fuzz_run(out, outlen, &againlen);
	if (againlen != outlen || memcmp(again, out, outlen) != 0)
		abort();

	free(again);
	free(out);
	return (0);
}
