/*
 * proxy.c: the PROXY protocol header (versions 1 and 2, as haproxy,
 * nginx's stream module and stunnel send them), as a pure function of
 * the bytes received so far.
 *
 * A proxy in front of chatd opens one connection per client and starts it
 * with a header saying where the client really is:
 *
 *	v1	"PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN
 *		...\r\n", at most 107 bytes in all
 *	v2	a 12-byte signature, a version and command byte, a family and
 *		transport byte, a 16-bit length, then the addresses (12 bytes
 *		for TCP over IPv4, 36 over IPv6) and optional TLVs
 *
 * proxy_parse() is given the start of the connection's input and says:
 * PROXY_MORE (a valid beginning: wait for more), PROXY_DONE (h is filled,
 * h->len bytes are the header and the rest is the client's), or
 * PROXY_BAD with why.  A LOCAL (v2) or UNKNOWN (v1) header, which a proxy
 * sends for its own health checks, leaves h->local set: the connection's
 * own address stands.  The grammar is strict (single spaces, no leading
 * zeros in ports, addresses inet_pton() accepts, v2 version 2 only), since
 * whatever a trusted proxy sends is all chatd knows of the client, and a
 * header longer than PROXY_MAX is refused rather than buffered.  No server
 * and no socket here: the unit suite and tests/fuzz/fuzz_proxy.c run it.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chatd.h"

#define PROXY_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXY_V2_HEAD	16	/* signature, command, family, length */

static const uint8_t proxy_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
	0x0a
};

/* Is buf[0..len) the start of what s[0..slen) is (or all of it)? */
static int
proxy_prefix(const uint8_t *buf, size_t len, const void *s, size_t slen)
{
	return (memcmp(buf, s, len < slen ? len : slen) == 0);
}

/* A port: 1 to 5 digits, no leading zero, at most 65535. */
static int
proxy_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long	v = 0;
	size_t		i;

	if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	*port = (uint16_t)v;
	return (0);
}

/* Writes a binary address as chatd writes a client's (v4-mapped as v4). */
static void
proxy_text(int family, const uint8_t *addr, char *text)
{
	static const uint8_t	v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	uint8_t			a[16];

	/* A copy: the header's bytes need not be aligned for in6_addr. */
	memcpy(a, addr, family == AF_INET6 ? 16 : 4);
	if (family == AF_INET6 && memcmp(a, v4mapped, sizeof v4mapped) == 0)
		inet_ntop(AF_INET, a + 12, text, NETADDR_MAX);
	else
		inet_ntop(family, a, text, NETADDR_MAX);
}

static int
proxy_v1(const uint8_t *buf, size_t len, struct proxy_hdr *h,
    const char **why)
{
	char		 line[PROXY_V1_MAX + 1], *f[6], *p;
	uint8_t		 addr[16];
	const uint8_t	*crlf;
	size_t		 n;
	int		 nf = 0, family;

	crlf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	if (crlf == NULL) {
		if (len >= PROXY_V1_MAX) {
			*why = "v1 header longer than 107 bytes";
			return (PROXY_BAD);
		}
		return (PROXY_MORE);
	}
	n = (size_t)(crlf - buf);
	if (n == 0 || buf[n - 1] != '\r' || memchr(buf, '\0', n) != NULL) {
		*why = "v1 header not ended by CRLF";
		return (PROXY_BAD);
	}
	memcpy(line, buf, n - 1);
	line[n - 1] = '\0';
	h->len = n + 1;
	/* "PROXY" SP proto ...: single spaces. */
	for (p = line; nf < 6; ) {
		f[nf++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p++ = '\0';
	}
	if (strcmp(f[0], "PROXY") != 0 || nf < 2) {
		*why = "not a v1 header";
		return (PROXY_BAD);
	}
	if (strcmp(f[1], "UNKNOWN") == 0) {
		h->local = 1;
		return (PROXY_DONE);
	}
	if (strcmp(f[1], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		family = AF_INET6;
	else {
		*why = "v1 protocol not TCP4, TCP6 or UNKNOWN";
		return (PROXY_BAD);
	}
	if (nf != 6 || p != NULL) {
		*why = "v1 header without four addresses and ports";
		return (PROXY_BAD);
	}
	if (inet_pton(family, f[2], addr) != 1 ||
	    inet_pton(family, f[3], h->dst) != 1) {
		*why = "v1 address not of its protocol";
		return (PROXY_BAD);
	}
	if (proxy_port(f[4], strlen(f[4]), &h->port) != 0 ||
	    proxy_port(f[5], strlen(f[5]), &h->dport) != 0) {
		*why = "v1 port not 0 to 65535";
		return (PROXY_BAD);
	}
	h->family = family;
	proxy_text(family, addr, h->addr);
	return (PROXY_DONE);
}

static int
proxy_v2(const uint8_t *buf, size_t len, struct proxy_hdr *h,
    const char **why)
{
	size_t	body;
	int	cmd;

	if (len < PROXY_V2_HEAD)
		return (PROXY_MORE);
	if ((buf[12] >> 4) != 2) {
		*why = "v2 header of another version";
		return (PROXY_BAD);
	}
	cmd = buf[12] & 0x0f;
	if (cmd > 1) {
		*why = "v2 command not LOCAL or PROXY";
		return (PROXY_BAD);
	}
	body = (size_t)buf[14] << 8 | buf[15];
	if (PROXY_V2_HEAD + body > PROXY_MAX) {
		*why = "v2 header longer than chatd accepts";
		return (PROXY_BAD);
	}
	if (len < PROXY_V2_HEAD + body)
		return (PROXY_MORE);
	h->len = PROXY_V2_HEAD + body;
	if (cmd == 0) {
		h->local = 1;	/* the proxy's own connection */
		return (PROXY_DONE);
	}
	switch (buf[13]) {
	case 0x11:	/* TCP over IPv4 */
		if (body < 12) {
			*why = "v2 IPv4 addresses cut short";
			return (PROXY_BAD);
		}
		h->family = AF_INET;
		proxy_text(AF_INET, buf + 16, h->addr);
		memcpy(h->dst, buf + 20, 4);
		h->port = (uint16_t)(buf[24] << 8 | buf[25]);
		h->dport = (uint16_t)(buf[26] << 8 | buf[27]);
		return (PROXY_DONE);
	case 0x21:	/* TCP over IPv6 */
		if (body < 36) {
			*why = "v2 IPv6 addresses cut short";
			return (PROXY_BAD);
		}
		h->family = AF_INET6;
		proxy_text(AF_INET6, buf + 16, h->addr);
		memcpy(h->dst, buf + 32, 16);
		h->port = (uint16_t)(buf[48] << 8 | buf[49]);
		h->dport = (uint16_t)(buf[50] << 8 | buf[51]);
		return (PROXY_DONE);
	case 0x00:	/* unspecified: as LOCAL */
	case 0x31:	/* a Unix socket: no address to give */
		h->local = 1;
		return (PROXY_DONE);
	}
	*why = "v2 family not TCP over IPv4 or IPv6";
	return (PROXY_BAD);
}

/*
 * Parses the header at the start of buf[0..len), the connection's input
 * so far.  See the top of this file for the results.
 */
int
proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h,
    const char **why)
{
	memset(h, 0, sizeof *h);
	*why = NULL;
	if (len == 0)
		return (PROXY_MORE);
	if (proxy_prefix(buf, len, proxy_sig, sizeof proxy_sig))
		return (len < sizeof proxy_sig ? PROXY_MORE :
		    proxy_v2(buf, len, h, why));
	if (proxy_prefix(buf, len, "PROXY ", 6))
		return (len < 6 ? PROXY_MORE : proxy_v1(buf, len, h, why));
	*why = "no PROXY protocol header";
	return (PROXY_BAD);
}
