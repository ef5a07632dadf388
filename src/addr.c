/*
 * addr.c: the grammar of an address or an address prefix (CIDR), once,
 * for bans (ban.c), trusted proxies (config.c) and per-address counting
 * (peer.c).
 *
 * A prefix is an IPv4 or IPv6 address with an optional "/length"; without
 * it, the whole address.  It is kept canonical: host bits cleared, the
 * address as inet_ntop() writes it, the length shown only when shorter
 * than the family's, so that "2001:DB8:0::5/64" and "2001:db8::/64" are
 * one prefix.  Pure: bytes in, a prefix out, no server.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/* Clears the bits of addr (len bytes) past the first prefix. */
void
addr_mask(uint8_t *addr, size_t len, unsigned prefix)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		if (prefix <= 8 * i)
			addr[i] = 0;
		else
			addr[i] &= (uint8_t)(0xff << (8 - (prefix - 8 * i)));
	}
}

/*
 * Parses an address or a prefix into *p, and its canonical text into text
 * (ADDR_PREFIX_TEXT bytes).  Returns 0, or -1 if s is neither.
 */
int
addr_parse_prefix(const char *s, struct addr_prefix *p, char *text)
{
	char		 buf[ADDR_PREFIX_TEXT], *slash, *end, host[NETADDR_MAX];
	unsigned long	 prefix;
	size_t		 alen;

	memset(p, 0, sizeof *p);
	if (strlen(s) >= sizeof buf)
		return (-1);
	snprintf(buf, sizeof buf, "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		alen = 4;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		alen = 16;
	} else
		return (-1);
	prefix = 8 * alen;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9' ||
		    (slash[0] == '0' && slash[1] != '\0'))
			return (-1);
		prefix = strtoul(slash, &end, 10);
		if (*end != '\0' || prefix > 8 * alen)
			return (-1);
	}
	p->prefix = (unsigned)prefix;
	/*
	 * An IPv4 address written as v4-mapped IPv6 is an IPv4 address:
	 * clients' addresses are written so (client.c), and would never
	 * match otherwise.
	 */
	if (p->family == AF_INET6 && p->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)p->addr)) {
		memmove(p->addr, p->addr + 12, 4);
		memset(p->addr + 4, 0, 12);
		p->family = AF_INET;
		p->prefix -= 96;
		alen = 4;
	}
	addr_mask(p->addr, alen, p->prefix);
	inet_ntop(p->family, p->addr, host, sizeof host);
	if (p->prefix == 8 * alen)
		snprintf(text, ADDR_PREFIX_TEXT, "%s", host);
	else
		snprintf(text, ADDR_PREFIX_TEXT, "%s/%u", host, p->prefix);
	return (0);
}

/* Is the address in text (as a client's netaddr is written) within p? */
int
addr_match(const struct addr_prefix *p, const char *text)
{
	uint8_t		addr[16];

	if (p->family == AF_INET) {
		if (inet_pton(AF_INET, text, addr) != 1)
			return (0);
		addr_mask(addr, 4, p->prefix);
		return (memcmp(addr, p->addr, 4) == 0);
	}
	if (inet_pton(AF_INET6, text, addr) != 1)
		return (0);
	addr_mask(addr, 16, p->prefix);
	return (memcmp(addr, p->addr, 16) == 0);
}
