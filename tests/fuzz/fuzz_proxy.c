/*
 * libFuzzer target for the PROXY protocol header: proxy_parse() (proxy.c).
 *
 * The input is the start of a connection from a trusted proxy, as
 * client.c hands it over: all that has arrived so far.  It is parsed as
 * it would arrive one byte at a time (every prefix, up to the first that
 * is not PROXY_MORE), then with one byte more and whole; each call gets
 * its bytes in an allocation of exactly their size, so that
 * AddressSanitizer sees any read past what was received.
 *
 * With FUZZ_MISALIGN every parse sees its bytes at an odd address: the
 * parser once read a v2 IPv6 source through a struct in6_addr pointer,
 * which is undefined (and a fault on machines that require alignment)
 * when the header does not start 4-aligned, and the fuzzer keeps it
 * fixed.
 *
 * Invariants, any breach of which aborts:
 *
 *  - a result is PROXY_MORE, PROXY_DONE or PROXY_BAD; why is set, and
 *    printable text for the log, exactly when it is PROXY_BAD;
 *  - PROXY_MORE only for fewer than PROXY_MAX bytes, and only while the
 *    header can still end within its limit (a v1 line without its LF in
 *    fewer than 107 bytes, a v2 header whose length field keeps it within
 *    PROXY_MAX, not all of it come): chatd never buffers more waiting;
 *  - the results over the prefixes are PROXY_MORE up to some length k0,
 *    then one result that more bytes never change: the same why, or the
 *    same header.  A header does not depend on bytes it did not see, so
 *    it is done exactly when its last byte has come: h.len == k0, which
 *    is within (0, size] and at most PROXY_MAX;
 *  - a local header (v1 UNKNOWN, v2 LOCAL, UNSPEC or UNIX) gives no
 *    address at all; any other gives family AF_INET or AF_INET6 and an
 *    address that inet_pton() reads back in its family and inet_ntop()
 *    writes again unchanged, except that a v4-mapped IPv6 client is
 *    written as IPv4, as chatd writes a client's address;
 *  - a v1 header is "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" with single
 *    spaces, ports written as "%u" writes them (no leading zeros, no sign)
 *    and addresses that are what h holds; a v2 header is version 2 with
 *    command LOCAL or PROXY, its length 16 plus its length field, and its
 *    addresses and big-endian ports what h holds.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

#define V2_SIG		"\r\n\r\n\0\r\nQUIT\n"
#define V1_MAX		107
#define FUZZ_MISALIGN	1	/* see above */

struct fuzz_result {
	int			 rc;
	const char		*why;
	struct proxy_hdr	 h;
};

/*
 * proxy_parse() on a copy of data[0..len) that ends where its allocation
 * does.
 */
static void
fuzz_parse(const uint8_t *data, size_t len, struct fuzz_result *r)
{
	uint8_t	*copy;
	size_t	 off = FUZZ_MISALIGN;

	if ((copy = malloc(off + len == 0 ? 1 : off + len)) == NULL)
		abort();
	if (len > 0)
		memcpy(copy + off, data, len);
	memset(r, 0xa5, sizeof *r);
	r->rc = proxy_parse(copy + off, len, &r->h, &r->why);
	free(copy);
}

static int
fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	if (a->rc != b->rc)
		return (0);
	if (a->rc == PROXY_BAD)
		return (strcmp(a->why, b->why) == 0);
	if (a->rc == PROXY_MORE)
		return (1);
	return (a->h.len == b->h.len && a->h.local == b->h.local &&
	    a->h.family == b->h.family && strcmp(a->h.addr, b->h.addr) == 0 &&
	    a->h.port == b->h.port && a->h.dport == b->h.dport &&
	    memcmp(a->h.dst, b->h.dst, sizeof a->h.dst) == 0);
}

/* Writes an address of family as chatd writes a client's. */
static void
fuzz_text(int family, const uint8_t *addr, char *text)
{
	if (family == AF_INET6 && memcmp(addr,
	    "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		FUZZ_CHECK(inet_ntop(AF_INET, addr + 12, text, NETADDR_MAX) !=
		    NULL);
	else
		FUZZ_CHECK(inet_ntop(family, addr, text, NETADDR_MAX) != NULL);
}

/* The address of a non-local header is one chatd can log and count. */
static void
fuzz_check_addr(const struct proxy_hdr *h)
{
	uint8_t	bin[16];
	char	again[NETADDR_MAX];

	FUZZ_CHECK(h->family == AF_INET || h->family == AF_INET6);
	FUZZ_CHECK(memchr(h->addr, '\0', sizeof h->addr) != NULL);
	if (inet_pton(h->family, h->addr, bin) == 1) {
		fuzz_text(h->family, bin, again);
		FUZZ_CHECK(strcmp(again, h->addr) == 0);
	} else {
		/* Only a v4-mapped IPv6 client is written as IPv4. */
		FUZZ_CHECK(h->family == AF_INET6);
		FUZZ_CHECK(inet_pton(AF_INET, h->addr, bin) == 1);
		FUZZ_CHECK(inet_ntop(AF_INET, bin, again, sizeof again) !=
		    NULL);
		FUZZ_CHECK(strcmp(again, h->addr) == 0);
	}
}

/* A done v1 header against the grammar, field by field. */
static void
fuzz_check_v1(const uint8_t *data, const struct proxy_hdr *h)
{
	char	 line[V1_MAX + 1], *f[7], *p, text[NETADDR_MAX], port[8];
	uint8_t	 bin[16];
	int	 nf, family;

	FUZZ_CHECK(h->len >= 8 && h->len <= V1_MAX);
	FUZZ_CHECK(data[h->len - 2] == '\r' && data[h->len - 1] == '\n');
	FUZZ_CHECK(memchr(data, '\0', h->len) == NULL);
	FUZZ_CHECK(memchr(data, '\n', h->len - 1) == NULL);
	memcpy(line, data, h->len - 2);
	line[h->len - 2] = '\0';
	for (nf = 0, p = line; nf < 7 && p != NULL; nf++) {
		f[nf] = p;
		if ((p = strchr(p, ' ')) != NULL)
			*p++ = '\0';
	}
	FUZZ_CHECK(nf >= 2 && strcmp(f[0], "PROXY") == 0);
	if (h->local) {
		FUZZ_CHECK(strcmp(f[1], "UNKNOWN") == 0);
		return;
	}
	FUZZ_CHECK(nf == 6 && p == NULL);
	family = strcmp(f[1], "TCP4") == 0 ? AF_INET :
	    strcmp(f[1], "TCP6") == 0 ? AF_INET6 : 0;
	FUZZ_CHECK(family != 0 && family == h->family);
	memset(bin, 0, sizeof bin);
	FUZZ_CHECK(inet_pton(family, f[2], bin) == 1);
	fuzz_text(family, bin, text);
	FUZZ_CHECK(strcmp(text, h->addr) == 0);
	memset(bin, 0, sizeof bin);
	FUZZ_CHECK(inet_pton(family, f[3], bin) == 1);
	FUZZ_CHECK(memcmp(bin, h->dst, sizeof bin) == 0);
	snprintf(port, sizeof port, "%u", (unsigned)h->port);
	FUZZ_CHECK(strcmp(port, f[4]) == 0);
	snprintf(port, sizeof port, "%u", (unsigned)h->dport);
	FUZZ_CHECK(strcmp(port, f[5]) == 0);
}

/* A done v2 header against the layout. */
static void
fuzz_check_v2(const uint8_t *data, const struct proxy_hdr *h)
{
	static const uint8_t	zero[16];
	char			text[NETADDR_MAX];
	size_t			body = (size_t)data[14] << 8 | data[15];

	FUZZ_CHECK(h->len == 16 + body);
	FUZZ_CHECK(data[12] == 0x20 || data[12] == 0x21);
	if (h->local) {
		FUZZ_CHECK(data[12] == 0x20 || data[13] == 0x00 ||
		    data[13] == 0x31);
		return;
	}
	FUZZ_CHECK(data[12] == 0x21);
	if (data[13] == 0x11) {
		FUZZ_CHECK(h->family == AF_INET && body >= 12);
		fuzz_text(AF_INET, data + 16, text);
		FUZZ_CHECK(strcmp(text, h->addr) == 0);
		FUZZ_CHECK(memcmp(h->dst, data + 20, 4) == 0);
		FUZZ_CHECK(memcmp(h->dst + 4, zero, 12) == 0);
		FUZZ_CHECK(h->port == (data[24] << 8 | data[25]));
		FUZZ_CHECK(h->dport == (data[26] << 8 | data[27]));
	} else {
		FUZZ_CHECK(data[13] == 0x21);
		FUZZ_CHECK(h->family == AF_INET6 && body >= 36);
		fuzz_text(AF_INET6, data + 16, text);
		FUZZ_CHECK(strcmp(text, h->addr) == 0);
		FUZZ_CHECK(memcmp(h->dst, data + 32, 16) == 0);
		FUZZ_CHECK(h->port == (data[48] << 8 | data[49]));
		FUZZ_CHECK(h->dport == (data[50] << 8 | data[51]));
	}
}

/* A header that is waited for can still end within its limit. */
static void
fuzz_check_more(const uint8_t *data, size_t len)
{
	size_t	body;

	if (len >= 16 && memcmp(data, V2_SIG, 12) == 0) {
		body = (size_t)data[14] << 8 | data[15];
		FUZZ_CHECK(16 + body <= PROXY_MAX && len < 16 + body);
	} else if (len >= 6 && memcmp(data, "PROXY ", 6) == 0) {
		FUZZ_CHECK(len < V1_MAX);
		FUZZ_CHECK(memchr(data, '\n', len) == NULL);
	} else
		FUZZ_CHECK(len < 16);
}

/* What holds of any one result for len bytes. */
static void
fuzz_check_one(const struct fuzz_result *r, size_t len)
{
	static const uint8_t	 zero[16];
	const char		*p;

	switch (r->rc) {
	case PROXY_MORE:
		FUZZ_CHECK(r->why == NULL);
		FUZZ_CHECK(len < PROXY_MAX);
		break;
	case PROXY_BAD:
		FUZZ_CHECK(r->why != NULL && *r->why != '\0');
		for (p = r->why; *p != '\0'; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
		break;
	case PROXY_DONE:
		FUZZ_CHECK(r->why == NULL);
		FUZZ_CHECK(r->h.len > 0 && r->h.len <= len &&
		    r->h.len <= PROXY_MAX);
		if (r->h.local)
			FUZZ_CHECK(r->h.local == 1 && r->h.family == 0 &&
			    r->h.addr[0] == '\0' && r->h.port == 0 &&
			    r->h.dport == 0 &&
			    memcmp(r->h.dst, zero, sizeof zero) == 0);
		else
			fuzz_check_addr(&r->h);
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_result	first, r;
	size_t			k0;

	/* Byte by byte, until the header is done or refused. */
	for (k0 = 0; k0 <= size; k0++) {
		fuzz_parse(data, k0, &first);
		fuzz_check_one(&first, k0);
		if (first.rc != PROXY_MORE)
			break;
		fuzz_check_more(data, k0);
	}
	if (k0 > size) {
		/* Still waiting: for no more than PROXY_MAX bytes. */
		FUZZ_CHECK(size < PROXY_MAX);
		return (0);
	}
	FUZZ_CHECK(k0 > 0);
	if (first.rc == PROXY_DONE) {
		FUZZ_CHECK(first.h.len == k0);
		if (memcmp(data, V2_SIG, 12) == 0)
			fuzz_check_v2(data, &first.h);
		else
			fuzz_check_v1(data, &first.h);
	}

	/* More bytes change nothing. */
	if (k0 < size) {
		fuzz_parse(data, k0 + 1, &r);
		fuzz_check_one(&r, k0 + 1);
		FUZZ_CHECK(fuzz_same(&first, &r));
	}
	if (k0 + 1 < size) {
		fuzz_parse(data, size, &r);
		fuzz_check_one(&r, size);
		FUZZ_CHECK(fuzz_same(&first, &r));
	}
	return (0);
}
