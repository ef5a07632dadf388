/*
 * peer.c: how many clients each peer address has in the room, for
 * max_clients_per_address.
 *
 * Admission asks how many clients the newcomer's address already has.
 * Counting them by walking the room cost O(N) per connection and O(N^2)
 * for a reconnect storm (README, Performance).  A hash table of counts
 * answers at once.  An entry lives while its address has clients: about
 * 80 bytes per distinct address, none per connection.
 *
 * Rejected: hsearch(3), which has one table per process and cannot delete.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/*
 * The key an address is counted under: the address itself, or for IPv6
 * its first prefix bits, as "2001:db8::/64", since one user usually holds
 * a whole /64.  key holds PEER_KEY_MAX bytes.
 */
void
peer_key(const char *addr, unsigned prefix, char *key)
{
	struct in6_addr	a;
	char		text[NETADDR_MAX];

	if (prefix >= 128 || strchr(addr, ':') == NULL ||
	    inet_pton(AF_INET6, addr, &a) != 1) {
		snprintf(key, PEER_KEY_MAX, "%s", addr);
		return;
	}
	addr_mask(a.s6_addr, 16, prefix);
	inet_ntop(AF_INET6, &a, text, sizeof text);
	snprintf(key, PEER_KEY_MAX, "%s/%u", text, prefix);
}

/* FNV-1a: short keys, and no need to resist chosen collisions here. */
static struct peer_list *
peer_bucket(struct peers *p, const char *addr)
{
	uint32_t	h = 2166136261u;

	while (*addr != '\0') {
		h ^= (unsigned char)*addr++;
		h *= 16777619u;
	}
	return (&p->buckets[h & (PEER_BUCKETS - 1)]);
}

static struct peer *
peer_find(struct peer_list *list, const char *addr)
{
	struct peer	*e;

	LIST_FOREACH(e, list, entry) {
		if (strcmp(e->addr, addr) == 0)
			return (e);
	}
	return (NULL);
}

void
peer_init(struct peers *p)
{
	size_t	i;

	p->buckets = xcalloc(PEER_BUCKETS, sizeof *p->buckets);
	for (i = 0; i < PEER_BUCKETS; i++)
		LIST_INIT(&p->buckets[i]);
}

void
peer_free(struct peers *p)
{
	struct peer	*e;
	size_t		 i;

	for (i = 0; i < PEER_BUCKETS && p->buckets != NULL; i++) {
		while ((e = LIST_FIRST(&p->buckets[i])) != NULL) {
			LIST_REMOVE(e, entry);
			free(e);
		}
	}
	free(p->buckets);
	p->buckets = NULL;
}

/* Clients under key (peer_key()) in the room. */
unsigned
peer_count(struct peers *p, const char *addr)
{
	struct peer	*e = peer_find(peer_bucket(p, addr), addr);

	return (e != NULL ? e->n : 0);
}

/* A client from addr joined the room. */
void
peer_add(struct peers *p, const char *addr)
{
	struct peer_list	*list = peer_bucket(p, addr);
	struct peer		*e;

	if ((e = peer_find(list, addr)) == NULL) {
		e = xcalloc(1, sizeof *e);
		snprintf(e->addr, sizeof e->addr, "%s", addr);
		LIST_INSERT_HEAD(list, e, entry);
	}
	e->n++;
}

/* A client from addr left the room; one that was never added is a bug. */
void
peer_remove(struct peers *p, const char *addr)
{
	struct peer	*e = peer_find(peer_bucket(p, addr), addr);

	if (e == NULL || e->n == 0)
		fatalx("peer_remove: %s has no clients", addr);
	if (--e->n == 0) {
		LIST_REMOVE(e, entry);
		free(e);
	}
}
