/*
 * libFuzzer target for sanitize_line().
 *
 * The input is one line.  The output must fit SANITIZE_MAX(), be valid
 * UTF-8 (no overlongs, surrogates, values above U+10FFFF or truncation),
 * hold no C0 control, DEL, C1 control, bidi control, invisible format
 * character or line separator, and no two spaces in a row (the checks of
 * tests/sanitize_invariants.h, which the unit tests share); sanitising it
 * again must give it back unchanged.  Any breach aborts.  Buffers are
 * allocated at exactly SANITIZE_MAX(len) so AddressSanitizer sees the
 * smallest overrun.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"
#include "../sanitize_invariants.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
	size_t	 outlen, againlen;

	out = fuzz_run((const char *)data, size, &outlen);
	if (sanitize_invariants_check((const unsigned char *)out,
	    outlen) != NULL)
		abort();

	again = fuzz_run(out, outlen, &againlen);
	if (againlen != outlen || memcmp(again, out, outlen) != 0)
		abort();

	free(again);
	free(out);
	return (0);
}
