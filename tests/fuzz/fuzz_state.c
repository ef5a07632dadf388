/*
 * libFuzzer target for the state image decoder: state_decode() (state.c),
 * what a chatd successor reads from the memfd its predecessor (or the
 * systemd fd store) hands it.
 *
 * The first byte picks how the rest is read:
 *
 *  - bit 0 clear: the rest is an image as it came, header and all, so
 *    that the header's checks (magic, version, length, checksum) are
 *    fuzzed too;
 *  - bit 0 set: the rest is a payload, behind a good header that is sealed
 *    over it (state_seal()), so that the fuzzer does not spend itself on
 *    the checksum and reaches every field.
 *
 * Bits 1 and 2 pick the successor's limits: none when both are clear,
 * else max_clients and max_rooms of 3, so that the limits are hit often.
 * Every decode gets its bytes in an allocation of exactly their size, at
 * an odd address with FUZZ_MISALIGN, so that AddressSanitizer sees any
 * read past the image and UBSan any read through a misaligned pointer.
 *
 * Invariants, any breach of which aborts:
 *
 *  - a rejected image leaves the state empty, and its why is not empty,
 *    is printable ASCII (it goes to the log), and starts with one of the
 *    documented words: "truncated", "corrupt", "version", "not a chatd",
 *    or for a limit a count;
 *  - an accepted image holds no more clients and rooms than the limits
 *    allow, every client's room is one of the image's rooms, and it is
 *    canonical: encoding what it decoded to gives back the same bytes.
 */

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

static void
fuzz_check_why(const char *why)
{
	static const char *const starts[] = {
		"truncated", "corrupt", "version", "not a chatd",
	};
	size_t	i;

	FUZZ_CHECK(why[0] != '\0');
	for (i = 0; why[i] != '\0'; i++)
		FUZZ_CHECK(why[i] >= ' ' && why[i] <= '~');
	for (i = 0; i < sizeof starts / sizeof starts[0]; i++) {
		if (strncmp(why, starts[i], strlen(starts[i])) == 0)
			return;
	}
	FUZZ_CHECK(isdigit((unsigned char)why[0]));
}

static void
fuzz_check_accepted(const uint8_t *img, size_t len, const struct state *st,
    const struct state_limits *lim)
{
	uint8_t		*again;
	size_t		 len2;
	uint32_t	 i, j;

	FUZZ_CHECK(lim->max_clients == 0 || st->nclients <= lim->max_clients);
	FUZZ_CHECK(lim->max_rooms == 0 || st->nrooms <= lim->max_rooms);
	for (i = 0; i < st->nclients; i++) {
		for (j = 0; j < st->nrooms; j++) {
			if (strcasecmp(st->clients[i].room,
			    st->rooms[j].name) == 0)
				break;
		}
		FUZZ_CHECK(j < st->nrooms);
	}
	again = state_encode(st, &len2);
	FUZZ_CHECK(again != NULL && len2 == len);
	FUZZ_CHECK(memcmp(again, img, len) == 0);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_limits	 lim = { 0, 0 };
	struct state		 st;
	uint8_t			*buf, *img;
	size_t			 len, off = 0;
	char			 why[256];

	if (size == 0)
		return (0);
#ifdef FUZZ_MISALIGN
	off = 1;
#endif
	if (data[0] & 0x06)
		lim = (struct state_limits){ 3, 3 };
	if (data[0] & 1)
		len = STATE_HEADER_LEN + size - 1;
	else
		len = size - 1;
	if ((buf = malloc(len + off == 0 ? 1 : len + off)) == NULL)
		abort();
	img = buf + off;
	if (data[0] & 1) {
		memset(img, 0, STATE_HEADER_LEN);
		memcpy(img, "chatd-st", 8);
		img[8] = STATE_VERSION;
		memcpy(img + STATE_HEADER_LEN, data + 1, size - 1);
		state_seal(img, len);
	} else
		memcpy(img, data + 1, len);

	why[0] = '\0';
	if (state_decode(img, len, &lim, &st, why, sizeof why) == 0) {
		fuzz_check_accepted(img, len, &st, &lim);
		state_free(&st);
	} else {
		FUZZ_CHECK(st.nrooms == 0 && st.nclients == 0 &&
		    st.rooms == NULL && st.clients == NULL);
		fuzz_check_why(why);
	}
	free(buf);
	return (0);
}
