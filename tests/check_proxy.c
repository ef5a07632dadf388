/*
 * Unit tests for proxy_parse() (proxy.c), the PROXY protocol header that
 * a trusted proxy puts before a client's bytes.
 *
 * Version 1 from tables, one row per line, each failure naming its row:
 * TCP4, TCP6 (written canonically, v4-mapped written as IPv4), UNKNOWN
 * with and without its address fields, the 107-byte maximum exactly and
 * one byte over, and every strictness refusal with its exact why (double
 * spaces, case, protocols, ports out of range or with leading zeros,
 * addresses of the other family, a missing CR, a NUL).  Version 2 from
 * headers built here: PROXY over IPv4 and IPv6 with exact addresses and
 * ports, LOCAL, the UNSPEC and UNIX families (the connection's own
 * address stands), datagrams and unknown families refused, other versions
 * and commands refused, TLVs skipped, a length over PROXY_MAX refused from
 * the first 16 bytes, addresses cut short.  For every valid header, every
 * prefix of it says PROXY_MORE and bytes after it are left alone (h.len
 * is exact).  Input that is no header at all, such as a chat line, is
 * refused at its first byte that cannot begin one.
 *
 * Every call gets its bytes in an allocation of exactly their size, so
 * that AddressSanitizer and valgrind see a read past what was received.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define V2_SIG		"\r\n\r\n\0\r\nQUIT\n"
#define V2_SIG_LEN	12
#define V2_HEAD		16

/* What a chat client sends first, after a header or without one. */
#define CHAT_LINE	"hello, room\r\n"

/* Helpers ---------------------------------------------------------------- */

/* proxy_parse() on a copy of buf[0..len) in an allocation of len bytes. */
static int
parse(const void *buf, size_t len, struct proxy_hdr *h, const char **why)
{
	uint8_t	*copy;
	int	 rc;

	if ((copy = malloc(len == 0 ? 1 : len)) == NULL)
		ck_abort_msg("malloc");
	memcpy(copy, buf, len);
	rc = proxy_parse(copy, len, h, why);
	free(copy);
	return (rc);
}

static const char *
rc_name(int rc)
{
	switch (rc) {
	case PROXY_MORE:
		return ("PROXY_MORE");
	case PROXY_DONE:
		return ("PROXY_DONE");
	case PROXY_BAD:
		return ("PROXY_BAD");
	}
	return ("(not a result)");
}

/*
 * Fails, naming what, unless buf[0..len) is refused with exactly why.
 */
static void
expect_bad(const char *what, const void *buf, size_t len, const char *want)
{
	struct proxy_hdr	 h;
	const char		*why = "(not set)";
	int			 rc;

	rc = parse(buf, len, &h, &why);
	ck_assert_msg(rc == PROXY_BAD, "%s: want PROXY_BAD (%s), got %s",
	    what, want, rc_name(rc));
	ck_assert_msg(why != NULL && strcmp(why, want) == 0,
	    "%s: want why '%s', got '%s'", what, want,
	    why == NULL ? "(null)" : why);
}

/* Fails, naming what, unless buf[0..len) says PROXY_MORE, why NULL. */
static void
expect_more(const char *what, const void *buf, size_t len)
{
	struct proxy_hdr	 h;
	const char		*why = "(not set)";
	int			 rc;

	rc = parse(buf, len, &h, &why);
	ck_assert_msg(rc == PROXY_MORE, "%s: %zu bytes: want PROXY_MORE, got "
	    "%s (%s)", what, len, rc_name(rc), why == NULL ? "no why" : why);
	ck_assert_msg(why == NULL, "%s: %zu bytes: PROXY_MORE with why '%s'",
	    what, len, why);
}

/* Fails unless every proper prefix of buf[0..len), 0 bytes too, is MORE. */
static void
expect_prefixes_more(const char *what, const void *buf, size_t len)
{
	size_t	n;

	for (n = 0; n < len; n++)
		expect_more(what, buf, n);
}

/*
 * Parses the header buf[0..len), which must be valid, with a chat line
 * after it, and fails unless it is PROXY_DONE with h->len == len and why
 * NULL; h is the result.  The same header alone must give the same h.
 */
static void
expect_done(const char *what, const void *buf, size_t len,
    struct proxy_hdr *h)
{
	struct proxy_hdr	 alone;
	const char		*why = "(not set)";
	uint8_t			*more;
	size_t			 extra = sizeof CHAT_LINE - 1;
	int			 rc;

	if ((more = malloc(len + extra)) == NULL)
		ck_abort_msg("malloc");
	memcpy(more, buf, len);
	memcpy(more + len, CHAT_LINE, extra);
	rc = parse(more, len + extra, h, &why);
	free(more);
	ck_assert_msg(rc == PROXY_DONE, "%s: want PROXY_DONE, got %s (%s)",
	    what, rc_name(rc), why == NULL ? "no why" : why);
	ck_assert_msg(why == NULL, "%s: PROXY_DONE with why '%s'", what, why);
	ck_assert_msg(h->len == len, "%s: h.len %zu, want %zu (the header "
	    "alone, not the chat line after it)", what, h->len, len);

	rc = parse(buf, len, &alone, &why);
	ck_assert_msg(rc == PROXY_DONE, "%s alone: want PROXY_DONE, got %s",
	    what, rc_name(rc));
	ck_assert_msg(alone.len == h->len && alone.local == h->local &&
	    alone.family == h->family && strcmp(alone.addr, h->addr) == 0 &&
	    alone.port == h->port && alone.dport == h->dport &&
	    memcmp(alone.dst, h->dst, sizeof h->dst) == 0,
	    "%s: the header alone and with a chat line after it differ", what);
}

/*
 * Fails unless h is a client at family, addr (the text chatd logs and
 * counts), port, connected to dst (as text in dfamily) and dport.
 */
static void
expect_addr(const char *what, const struct proxy_hdr *h, int family,
    const char *addr, uint16_t port, int dfamily, const char *dst,
    uint16_t dport)
{
	uint8_t	want[16];

	memset(want, 0, sizeof want);
	if (inet_pton(dfamily, dst, want) != 1)
		ck_abort_msg("%s: bad test address %s", what, dst);
	ck_assert_msg(h->local == 0, "%s: local", what);
	ck_assert_msg(h->family == family, "%s: family %d, want %d", what,
	    h->family, family);
	ck_assert_msg(strcmp(h->addr, addr) == 0, "%s: addr '%s', want '%s'",
	    what, h->addr, addr);
	ck_assert_msg(h->port == port, "%s: port %u, want %u", what,
	    (unsigned)h->port, (unsigned)port);
	ck_assert_msg(memcmp(h->dst, want, dfamily == AF_INET ? 4 : 16) == 0,
	    "%s: dst is not %s", what, dst);
	ck_assert_msg(h->dport == dport, "%s: dport %u, want %u", what,
	    (unsigned)h->dport, (unsigned)dport);
}

/* Fails unless h leaves the connection's own address standing. */
static void
expect_local(const char *what, const struct proxy_hdr *h)
{
	static const uint8_t	zero[16];

	ck_assert_msg(h->local == 1, "%s: not local", what);
	ck_assert_msg(h->family == 0 && h->addr[0] == '\0' && h->port == 0 &&
	    h->dport == 0 && memcmp(h->dst, zero, sizeof zero) == 0,
	    "%s: local, yet an address is set (family %d, '%s')", what,
	    h->family, h->addr);
}

/* Version 1 -------------------------------------------------------------- */

#define V6_FULL		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const struct v1_ok {
	const char	*in;
	int		 local;
	int		 family;	/* of the header's protocol */
	const char	*addr;		/* as chatd writes it */
	uint16_t	 port;
	const char	*dst;
	uint16_t	 dport;
} v1_ok[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 7777\r\n", 0, AF_INET,
	    "192.0.2.1", 56324, "198.51.100.2", 7777 },
	{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", 0, AF_INET,
	    "0.0.0.0", 0, "255.255.255.255", 65535 },
	{ "PROXY TCP4 203.0.113.9 10.0.0.1 1 9\r\n", 0, AF_INET,
	    "203.0.113.9", 1, "10.0.0.1", 9 },
	/* Written as inet_ntop() writes it: lower case, zeros folded. */
	{ "PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 40000 7777\r\n", 0, AF_INET6,
	    "2001:db8::1", 40000, "2001:db8::2", 7777 },
	{ "PROXY TCP6 ::1 ::1 65535 1\r\n", 0, AF_INET6, "::1", 65535, "::1",
	    1 },
	/*
	 * A v4-mapped client is written as IPv4, as chatd writes a client
	 * that reached an IPv6 listener over IPv4; family stays the header's,
	 * which dst is in.
	 */
	{ "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::2 5000 7777\r\n", 0,
	    AF_INET6, "192.0.2.7", 5000, "2001:db8::2", 7777 },
	{ "PROXY TCP6 ::FFFF:c000:0207 ::ffff:10.0.0.1 5000 7777\r\n", 0,
	    AF_INET6, "192.0.2.7", 5000, "::ffff:10.0.0.1", 7777 },
	/* UNKNOWN: the proxy's own check; whatever follows is ignored. */
	{ "PROXY UNKNOWN\r\n", 1, 0, "", 0, NULL, 0 },
	{ "PROXY UNKNOWN 192.0.2.1 198.51.100.2 56324 7777\r\n", 1, 0, "", 0,
	    NULL, 0 },
	{ "PROXY UNKNOWN " V6_FULL " " V6_FULL " 65535 65535\r\n", 1, 0, "",
	    0, NULL, 0 },
};

START_TEST(test_v1_ok)
{
	const struct v1_ok	*t = &v1_ok[_i];
	struct proxy_hdr	 h;

	expect_done(t->in, t->in, strlen(t->in), &h);
	if (t->local)
		expect_local(t->in, &h);
	else
		expect_addr(t->in, &h, t->family, t->addr, t->port,
		    t->family, t->dst, t->dport);
	expect_prefixes_more(t->in, t->in, strlen(t->in));
}
END_TEST

/*
 * The longest line the specification allows, 107 bytes with its CRLF
 * (UNKNOWN with two full IPv6 addresses, or TCP6 with embedded IPv4
 * notation), is read; at 108 bytes a header that would otherwise be valid
 * is refused, and refused once 107 bytes without a LF have come.
 */
#define V6_V4_45	"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
#define V6_V4_36	"ffff:ffff:ffff:ffff:ffff:fff:1.2.3.4"
#define V6_V4_37	"ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4"

START_TEST(test_v1_max)
{
	const char		*unknown = "PROXY UNKNOWN " V6_FULL " " V6_FULL
	    " 65535 65535\r\n";
	const char		*tcp6 = "PROXY TCP6 " V6_V4_45 " " V6_V4_36
	    " 65535 65535\r\n";
	const char		*over = "PROXY TCP6 " V6_V4_45 " " V6_V4_37
	    " 65535 65535\r\n";
	const char		*over_unknown = "PROXY UNKNOWN " V6_FULL " "
	    V6_FULL " 65535 655350\r\n";
	struct proxy_hdr	 h;

	ck_assert_uint_eq(strlen(unknown), 107);
	ck_assert_uint_eq(strlen(tcp6), 107);
	ck_assert_uint_eq(strlen(over), 108);
	ck_assert_uint_eq(strlen(over_unknown), 108);

	expect_done("107 UNKNOWN", unknown, 107, &h);
	expect_local("107 UNKNOWN", &h);
	expect_done("107 TCP6", tcp6, 107, &h);
	expect_addr("107 TCP6", &h, AF_INET6, V6_FULL, 65535, AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:fff:102:304", 65535);
	expect_prefixes_more("107 TCP6", tcp6, 107);

	expect_bad("108 TCP6", over, 108, "v1 header longer than 107 bytes");
	expect_bad("108 TCP6, 107 received", over, 107,
	    "v1 header longer than 107 bytes");
	expect_prefixes_more("108 TCP6", over, 107);
	expect_bad("108 UNKNOWN", over_unknown, 108,
	    "v1 header longer than 107 bytes");
	expect_bad("108 UNKNOWN, 107 received", over_unknown, 107,
	    "v1 header longer than 107 bytes");
}
END_TEST

/* Bytes after the header are the client's, in one read or in several. */
#define V1_HDR	"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n"

START_TEST(test_v1_rest_untouched)
{
	const char		*two = V1_HDR
	    "PROXY TCP4 192.0.2.9 198.51.100.2 3 4\r\n";
	const char		*why;
	struct proxy_hdr	 h;
	size_t			 len = strlen(V1_HDR);

	/* A second header is the client's line, not the proxy's. */
	ck_assert_int_eq(parse(two, strlen(two), &h, &why), PROXY_DONE);
	ck_assert_uint_eq(h.len, len);
	ck_assert_str_eq(h.addr, "192.0.2.1");
	/* One byte of the client's line. */
	ck_assert_int_eq(parse(two, len + 1, &h, &why), PROXY_DONE);
	ck_assert_uint_eq(h.len, len);
	/* A client's line that starts with a LF. */
	ck_assert_int_eq(parse("PROXY UNKNOWN\r\n\n", 16, &h, &why),
	    PROXY_DONE);
	ck_assert_uint_eq(h.len, 15);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

static const struct v1_bad {
	const char	*in;
	const char	*why;
} v1_bad[] = {
	/* Single spaces. */
	{ "PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 header without four addresses and ports" },
	{ "PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n",
	    "v1 header without four addresses and ports" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1  2\r\n",
	    "v1 header without four addresses and ports" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n",
	    "v1 header without four addresses and ports" },
	{ "PROXY TCP4\t192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	/* Case, and protocols. */
	{ "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
	    "no PROXY protocol header" },
	{ "Proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
	    "no PROXY protocol header" },
	{ "PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY unknown\r\n", "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY \r\n", "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY\r\n", "no PROXY protocol header" },
	/* Fields. */
	{ "PROXY TCP4\r\n", "v1 header without four addresses and ports" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n",
	    "v1 header without four addresses and ports" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
	    "v1 header without four addresses and ports" },
	/* Ports. */
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 65536\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 99999 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 080 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 00\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 000001 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 +1 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 8a 2\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 0x50 2\r\n",
	    "v1 port not 0 to 65535" },
	/* Addresses of the other family, or none. */
	{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 192.0.2.1 ::1 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 ::ffff:192.0.2.1 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP6 2001:db8::1 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP4 localhost 198.51.100.2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP6 [2001:db8::1] 2001:db8::2 1 2\r\n",
	    "v1 address not of its protocol" },
	{ "PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n",
	    "v1 address not of its protocol" },
	/* The end of the line. */
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n",
	    "v1 header not ended by CRLF" },
	{ "PROXY UNKNOWN\n", "v1 header not ended by CRLF" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n",
	    "v1 port not 0 to 65535" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n\r\n",
	    "v1 header not ended by CRLF" },
};

START_TEST(test_v1_bad)
{
	const struct v1_bad	*t = &v1_bad[_i];

	expect_bad(t->in, t->in, strlen(t->in), t->why);
}
END_TEST

/* A NUL anywhere in the line, which the string fields would hide. */
START_TEST(test_v1_nul)
{
	static const char	 hdr[] = "PROXY TCP4 192.0.2.1 198.51.100.2 1 2"
	    "\r\n";
	char			 buf[sizeof hdr];
	size_t			 len = sizeof hdr - 1, i;

	/* After "PROXY ": before it, the bytes are no header at all. */
	for (i = 6; i < len - 1; i++) {
		memcpy(buf, hdr, len);
		buf[i] = '\0';
		expect_bad(hdr, buf, len, "v1 header not ended by CRLF");
	}
	expect_bad("PROXY UNKNOWN NUL", "PROXY UNKNOWN\0\r\n", 16,
	    "v1 header not ended by CRLF");
	expect_bad("NUL in PROXY", "PRO\0Y UNKNOWN\r\n", 15,
	    "no PROXY protocol header");
}
END_TEST

/* Not a header at all: what a client says when no proxy is in front. */
static const struct {
	const char	*in;
	size_t		 len;
} no_header[] = {
	{ CHAT_LINE, sizeof CHAT_LINE - 1 },
	{ "/nick alice\r\n", 13 },
	{ "h", 1 },
	{ "PROXX TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 39 },
	{ "PROXYTCP4 192.0.2.1 198.51.100.2 1 2\r\n", 38 },
	{ " PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 40 },
	{ "GET / HTTP/1.1\r\n", 16 },
	/* A TLS ClientHello on a plain listener. */
	{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11 },
	/* The v2 signature, one byte wrong. */
	{ "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c", 16 },
	{ "\r\n\r\n\r\n", 6 },
	{ "\r\nhello\r\n", 9 },
};

START_TEST(test_no_header)
{
	expect_bad(no_header[_i].in, no_header[_i].in, no_header[_i].len,
	    "no PROXY protocol header");
}
END_TEST

/*
 * The beginnings of both signatures wait for more, and so does nothing:
 * an empty line from a client with no proxy in front ("\r\n") could still
 * be the start of a v2 header.
 */
START_TEST(test_beginnings)
{
	char	buf[107];

	expect_more("nothing", "", 0);
	expect_prefixes_more("PROXY ", "PROXY ", 6);
	expect_more("PROXY ", "PROXY ", 6);
	expect_more("PROXY TCP4 ", "PROXY TCP4 ", 11);
	expect_prefixes_more("v2 signature", V2_SIG, V2_SIG_LEN);
	expect_more("v2 signature", V2_SIG, V2_SIG_LEN);
	expect_more("v2 signature and 3 bytes", V2_SIG "\x21\x11\x00", 15);
	expect_more("empty line", "\r\n", 2);

	/* A v1 line waits for its LF up to 106 bytes, not 107. */
	memset(buf, '1', sizeof buf);
	memcpy(buf, "PROXY TCP4 ", 11);
	buf[106] = '\r';
	expect_more("106 bytes, no LF", buf, 106);
	expect_bad("107 bytes, no LF", buf, 107,
	    "v1 header longer than 107 bytes");
}
END_TEST

/* Version 2 -------------------------------------------------------------- */

#define V2_LOCAL	0x20
#define V2_PROXY	0x21
#define V2_UNSPEC	0x00
#define V2_TCP4		0x11
#define V2_UDP4		0x12
#define V2_TCP6		0x21
#define V2_UDP6		0x22
#define V2_UNIX_STREAM	0x31
#define V2_UNIX_DGRAM	0x32

/*
 * Writes into buf the v2 header with byte 13 vercmd, byte 14 fam, and
 * the body of len bytes; returns its length.
 */
static size_t
v2(uint8_t *buf, uint8_t vercmd, uint8_t fam, const void *body, size_t len)
{
	memcpy(buf, V2_SIG, V2_SIG_LEN);
	buf[12] = vercmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(len >> 8);
	buf[15] = (uint8_t)len;
	if (len > 0)
		memcpy(buf + V2_HEAD, body, len);
	return (V2_HEAD + len);
}

/* The 12 address bytes of TCP over IPv4. */
static void
v2_inet(uint8_t *body, const char *src, const char *dst, uint16_t sport,
    uint16_t dport)
{
	if (inet_pton(AF_INET, src, body) != 1 ||
	    inet_pton(AF_INET, dst, body + 4) != 1)
		ck_abort_msg("bad test address");
	body[8] = (uint8_t)(sport >> 8);
	body[9] = (uint8_t)sport;
	body[10] = (uint8_t)(dport >> 8);
	body[11] = (uint8_t)dport;
}

/* The 36 address bytes of TCP over IPv6. */
static void
v2_inet6(uint8_t *body, const char *src, const char *dst, uint16_t sport,
    uint16_t dport)
{
	if (inet_pton(AF_INET6, src, body) != 1 ||
	    inet_pton(AF_INET6, dst, body + 16) != 1)
		ck_abort_msg("bad test address");
	body[32] = (uint8_t)(sport >> 8);
	body[33] = (uint8_t)sport;
	body[34] = (uint8_t)(dport >> 8);
	body[35] = (uint8_t)dport;
}

START_TEST(test_v2_inet)
{
	uint8_t			body[12], buf[64];
	struct proxy_hdr	h;
	size_t			len;

	v2_inet(body, "192.0.2.1", "198.51.100.2", 56324, 7777);
	len = v2(buf, V2_PROXY, V2_TCP4, body, sizeof body);
	ck_assert_uint_eq(len, 28);
	expect_done("v2 TCP4", buf, len, &h);
	expect_addr("v2 TCP4", &h, AF_INET, "192.0.2.1", 56324, AF_INET,
	    "198.51.100.2", 7777);
	expect_prefixes_more("v2 TCP4", buf, len);

	/* Ports are big-endian: 0x0102 is 258, not 513. */
	v2_inet(body, "0.0.0.0", "255.255.255.255", 258, 65535);
	len = v2(buf, V2_PROXY, V2_TCP4, body, sizeof body);
	expect_done("v2 TCP4 edges", buf, len, &h);
	expect_addr("v2 TCP4 edges", &h, AF_INET, "0.0.0.0", 258, AF_INET,
	    "255.255.255.255", 65535);
}
END_TEST

START_TEST(test_v2_inet6)
{
	uint8_t			body[36], buf[64];
	struct proxy_hdr	h;
	size_t			len;

	v2_inet6(body, "2001:db8:0:0:0:0:0:1", "2001:db8::2", 40000, 7777);
	len = v2(buf, V2_PROXY, V2_TCP6, body, sizeof body);
	ck_assert_uint_eq(len, 52);
	expect_done("v2 TCP6", buf, len, &h);
	expect_addr("v2 TCP6", &h, AF_INET6, "2001:db8::1", 40000, AF_INET6,
	    "2001:db8::2", 7777);
	expect_prefixes_more("v2 TCP6", buf, len);

	/* v4-mapped: written as IPv4, as chatd writes such a client. */
	v2_inet6(body, "::ffff:192.0.2.7", "::ffff:198.51.100.2", 5000, 7777);
	len = v2(buf, V2_PROXY, V2_TCP6, body, sizeof body);
	expect_done("v2 TCP6 v4-mapped", buf, len, &h);
	expect_addr("v2 TCP6 v4-mapped", &h, AF_INET6, "192.0.2.7", 5000,
	    AF_INET6, "::ffff:198.51.100.2", 7777);

	/* Not v4-mapped: v4-compatible and NAT64 stay IPv6. */
	v2_inet6(body, "64:ff9b::192.0.2.7", "::1", 1, 2);
	len = v2(buf, V2_PROXY, V2_TCP6, body, sizeof body);
	expect_done("v2 TCP6 NAT64", buf, len, &h);
	expect_addr("v2 TCP6 NAT64", &h, AF_INET6, "64:ff9b::c000:207", 1,
	    AF_INET6, "::1", 2);
}
END_TEST

/*
 * LOCAL (the proxy's own connection) whatever its family says, and PROXY
 * with no address chatd can use (UNSPEC, a Unix socket): the connection's
 * own address stands.
 */
START_TEST(test_v2_local)
{
	uint8_t			body[216], buf[V2_HEAD + sizeof body];
	struct proxy_hdr	h;
	size_t			len;

	len = v2(buf, V2_LOCAL, V2_UNSPEC, NULL, 0);
	expect_done("LOCAL", buf, len, &h);
	ck_assert_uint_eq(h.len, 16);
	expect_local("LOCAL", &h);
	expect_prefixes_more("LOCAL", buf, len);

	v2_inet(body, "192.0.2.1", "198.51.100.2", 1, 2);
	len = v2(buf, V2_LOCAL, V2_TCP4, body, 12);
	expect_done("LOCAL TCP4", buf, len, &h);
	ck_assert_uint_eq(h.len, 28);
	expect_local("LOCAL TCP4", &h);

	/* Even a family chatd would refuse under PROXY. */
	len = v2(buf, V2_LOCAL, V2_UDP4, body, 12);
	expect_done("LOCAL UDP4", buf, len, &h);
	expect_local("LOCAL UDP4", &h);
	len = v2(buf, V2_LOCAL, 0xff, NULL, 0);
	expect_done("LOCAL 0xff", buf, len, &h);
	expect_local("LOCAL 0xff", &h);

	len = v2(buf, V2_PROXY, V2_UNSPEC, NULL, 0);
	expect_done("UNSPEC", buf, len, &h);
	expect_local("UNSPEC", &h);
	expect_prefixes_more("UNSPEC", buf, len);

	/* Two 108-byte socket paths. */
	memset(body, 0, sizeof body);
	memcpy(body, "/run/haproxy.sock", 17);
	memcpy(body + 108, "/run/chatd.sock", 15);
	len = v2(buf, V2_PROXY, V2_UNIX_STREAM, body, sizeof body);
	ck_assert_uint_eq(len, 232);
	expect_done("UNIX", buf, len, &h);
	ck_assert_uint_eq(h.len, 232);
	expect_local("UNIX", &h);
	expect_prefixes_more("UNIX", buf, len);
}
END_TEST

START_TEST(test_v2_refused)
{
	uint8_t	body[36], buf[64];
	size_t	len;

	memset(body, 0, sizeof body);
	v2_inet(body, "192.0.2.1", "198.51.100.2", 1, 2);

	/* Datagrams, and families not in the specification. */
	len = v2(buf, V2_PROXY, V2_UDP4, body, 12);
	expect_bad("UDP4", buf, len, "v2 family not TCP over IPv4 or IPv6");
	len = v2(buf, V2_PROXY, V2_UDP6, body, 36);
	expect_bad("UDP6", buf, len, "v2 family not TCP over IPv4 or IPv6");
	len = v2(buf, V2_PROXY, V2_UNIX_DGRAM, NULL, 0);
	expect_bad("UNIX DGRAM", buf, len,
	    "v2 family not TCP over IPv4 or IPv6");
	len = v2(buf, V2_PROXY, 0x41, body, 12);
	expect_bad("family 4", buf, len,
	    "v2 family not TCP over IPv4 or IPv6");
	len = v2(buf, V2_PROXY, 0x13, body, 12);
	expect_bad("transport 3", buf, len,
	    "v2 family not TCP over IPv4 or IPv6");
	len = v2(buf, V2_PROXY, 0x01, body, 12);
	expect_bad("UNSPEC over stream", buf, len,
	    "v2 family not TCP over IPv4 or IPv6");

	/*
	 * Versions other than 2, refused once the first 16 bytes have come
	 * (the length with them), the rest not waited for.
	 */
	len = v2(buf, 0x11, V2_TCP4, body, 12);
	expect_bad("version 1", buf, len, "v2 header of another version");
	expect_bad("version 1, 16 bytes", buf, V2_HEAD,
	    "v2 header of another version");
	expect_prefixes_more("version 1", buf, V2_HEAD);
	len = v2(buf, 0x31, V2_TCP4, body, 12);
	expect_bad("version 3", buf, len, "v2 header of another version");
	len = v2(buf, 0x01, V2_TCP4, body, 12);
	expect_bad("version 0", buf, len, "v2 header of another version");

	/* Commands other than LOCAL and PROXY. */
	len = v2(buf, 0x22, V2_TCP4, body, 12);
	expect_bad("command 2", buf, len, "v2 command not LOCAL or PROXY");
	expect_bad("command 2, 16 bytes", buf, V2_HEAD,
	    "v2 command not LOCAL or PROXY");
	expect_prefixes_more("command 2", buf, V2_HEAD);
	len = v2(buf, 0x2f, V2_TCP4, body, 12);
	expect_bad("command 15", buf, len, "v2 command not LOCAL or PROXY");

	/* Addresses cut short by the length. */
	len = v2(buf, V2_PROXY, V2_TCP4, body, 11);
	expect_bad("TCP4 11 bytes", buf, len, "v2 IPv4 addresses cut short");
	len = v2(buf, V2_PROXY, V2_TCP4, NULL, 0);
	expect_bad("TCP4 0 bytes", buf, len, "v2 IPv4 addresses cut short");
	len = v2(buf, V2_PROXY, V2_TCP6, body, 35);
	expect_bad("TCP6 35 bytes", buf, len, "v2 IPv6 addresses cut short");
	len = v2(buf, V2_PROXY, V2_TCP6, body, 12);
	expect_bad("TCP6 12 bytes", buf, len, "v2 IPv6 addresses cut short");
}
END_TEST

/*
 * TLVs after the addresses are skipped whole, whatever they hold (ALPN,
 * authority, unique id, NOOP padding, SSL with sub-TLVs, as haproxy sends
 * them): h.len covers them, and the chat bytes after them are the
 * client's.
 */
START_TEST(test_v2_tlvs)
{
	static const uint8_t	tlvs[] = {
		0x01, 0x00, 0x02, 'h', '2',			/* ALPN */
		0x02, 0x00, 0x0f, 'c', 'h', 'a', 't', '.', 'e', 'x', 'a',
		    'm', 'p', 'l', 'e', '.', 'o', 'r',		/* authority */
		0x05, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,	/* unique id */
		0x20, 0x00, 0x0c, 0x07, 0x00, 0x00, 0x00, 0x00,	/* SSL */
		    0x21, 0x00, 0x04, 'T', 'L', 'S', '1',	/*  version */
		0x04, 0x00, 0x03, 0x00, 0x00, 0x00,		/* NOOP */
	};
	uint8_t			body[36 + sizeof tlvs], buf[128];
	struct proxy_hdr	h;
	size_t			len;

	v2_inet(body, "192.0.2.1", "198.51.100.2", 56324, 7777);
	memcpy(body + 12, tlvs, sizeof tlvs);
	len = v2(buf, V2_PROXY, V2_TCP4, body, 12 + sizeof tlvs);
	ck_assert_uint_eq(len, 28 + sizeof tlvs);
	expect_done("TCP4 with TLVs", buf, len, &h);
	expect_addr("TCP4 with TLVs", &h, AF_INET, "192.0.2.1", 56324,
	    AF_INET, "198.51.100.2", 7777);
	expect_prefixes_more("TCP4 with TLVs", buf, len);

	v2_inet6(body, "2001:db8::1", "2001:db8::2", 40000, 7777);
	memcpy(body + 36, tlvs, sizeof tlvs);
	len = v2(buf, V2_PROXY, V2_TCP6, body, sizeof body);
	expect_done("TCP6 with TLVs", buf, len, &h);
	expect_addr("TCP6 with TLVs", &h, AF_INET6, "2001:db8::1", 40000,
	    AF_INET6, "2001:db8::2", 7777);
	expect_prefixes_more("TCP6 with TLVs", buf, len);

	/* Bytes past the addresses are skipped even if they are no TLV. */
	memset(body + 12, 0xff, 5);
	len = v2(buf, V2_PROXY, V2_TCP4, body, 17);
	expect_done("TCP4 with 5 stray bytes", buf, len, &h);
	ck_assert_uint_eq(h.len, 33);
}
END_TEST

/*
 * The longest header chatd takes is PROXY_MAX bytes; a longer one is
 * refused as soon as its length field has come, not buffered first.
 */
START_TEST(test_v2_max)
{
	static uint8_t		buf[PROXY_MAX + 64], body[PROXY_MAX];
	struct proxy_hdr	h;
	size_t			len;

	memset(body, 0, sizeof body);
	v2_inet(body, "192.0.2.1", "198.51.100.2", 1, 2);
	body[12] = 0x04;			/* NOOP TLV, to the end */
	body[13] = (uint8_t)((PROXY_MAX - V2_HEAD - 15) >> 8);
	body[14] = (uint8_t)(PROXY_MAX - V2_HEAD - 15);

	len = v2(buf, V2_PROXY, V2_TCP4, body, PROXY_MAX - V2_HEAD);
	ck_assert_uint_eq(len, PROXY_MAX);
	expect_more("PROXY_MAX, 16 bytes", buf, V2_HEAD);
	expect_more("PROXY_MAX, all but one", buf, PROXY_MAX - 1);
	expect_done("PROXY_MAX", buf, len, &h);
	expect_addr("PROXY_MAX", &h, AF_INET, "192.0.2.1", 1, AF_INET,
	    "198.51.100.2", 2);

	len = v2(buf, V2_PROXY, V2_TCP4, body, PROXY_MAX - V2_HEAD + 1);
	ck_assert_uint_eq(len, PROXY_MAX + 1);
	expect_bad("PROXY_MAX + 1, 16 bytes", buf, V2_HEAD,
	    "v2 header longer than chatd accepts");
	expect_bad("PROXY_MAX + 1, all", buf, len,
	    "v2 header longer than chatd accepts");
	expect_prefixes_more("PROXY_MAX + 1", buf, V2_HEAD);

	/* The largest length field, and a LOCAL header: still refused. */
	buf[14] = buf[15] = 0xff;
	expect_bad("length 65535", buf, V2_HEAD,
	    "v2 header longer than chatd accepts");
	buf[12] = V2_LOCAL;
	expect_bad("LOCAL, length 65535", buf, V2_HEAD,
	    "v2 header longer than chatd accepts");
}
END_TEST

/* A v2 header then the client's bytes, in the same read. */
START_TEST(test_v2_rest_untouched)
{
	uint8_t			body[12], buf[128];
	struct proxy_hdr	h;
	const char		*why;
	size_t			len;

	v2_inet(body, "192.0.2.1", "198.51.100.2", 1, 2);
	len = v2(buf, V2_PROXY, V2_TCP4, body, sizeof body);
	/* Another v2 header after it is the client's. */
	memcpy(buf + len, buf, len);
	ck_assert_int_eq(parse(buf, 2 * len, &h, &why), PROXY_DONE);
	ck_assert_uint_eq(h.len, len);
	/* One byte after it. */
	ck_assert_int_eq(parse(buf, len + 1, &h, &why), PROXY_DONE);
	ck_assert_uint_eq(h.len, len);
	/* A v1 header after a v2 LOCAL. */
	len = v2(buf, V2_LOCAL, V2_UNSPEC, NULL, 0);
	memcpy(buf + len, "PROXY UNKNOWN\r\n", 15);
	ck_assert_int_eq(parse(buf, len + 15, &h, &why), PROXY_DONE);
	ck_assert_uint_eq(h.len, 16);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite	*s = suite_create("proxy");
	TCase	*tc;

	tc = tcase_create("v1");
	tcase_add_loop_test(tc, test_v1_ok, 0, nitems(v1_ok));
	tcase_add_test(tc, test_v1_max);
	tcase_add_test(tc, test_v1_rest_untouched);
	tcase_add_loop_test(tc, test_v1_bad, 0, nitems(v1_bad));
	tcase_add_test(tc, test_v1_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("none");
	tcase_add_loop_test(tc, test_no_header, 0, nitems(no_header));
	tcase_add_test(tc, test_beginnings);
	suite_add_tcase(s, tc);

	tc = tcase_create("v2");
	tcase_add_test(tc, test_v2_inet);
	tcase_add_test(tc, test_v2_inet6);
	tcase_add_test(tc, test_v2_local);
	tcase_add_test(tc, test_v2_refused);
	tcase_add_test(tc, test_v2_tlvs);
	tcase_add_test(tc, test_v2_max);
	tcase_add_test(tc, test_v2_rest_untouched);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(proxy_suite()));
}
