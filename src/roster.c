/*
 * roster.c: who is in the room, found by name or by id in constant time.
 *
 * /msg, /nick and every reply from Redis that names a client need "the
 * client called X" or "the client numbered N".  Walking the client list
 * for that grew with the room (README, Performance); two hash tables make
 * it the same with 10 clients or 10,000.  A client is on the roster from its
 * admission until its departure has been announced (server.c), so a name
 * stays taken until everyone has been told its holder left.
 *
 * The tables chain clients through two pointers embedded in struct client
 * (16 bytes a client, no allocation per entry), over arrays of bucket
 * heads that double when the roster outgrows them and halve when it
 * shrinks to an eighth, so a storm of connections leaves no large table
 * behind.  Names are hashed by their key (name.c), so a lookup finds the
 * holder of any name that folds to the same key; the chains compare keys.
 * The name hash is FNV-1a from a per-process random seed: names are
 * chosen by clients, and a fixed hash would let them pick colliding
 * names; with a per-address connection limit the gain of a smarter attack
 * on FNV is small, and SipHash would cost more than it guards here.
 *
 * Rejected: uthash (a dependency and a macro API for two small tables);
 * open addressing (it needs no per-client pointers but twice the slots,
 * and deletion is fiddlier than unlinking from a chain).
 */

#include <sys/types.h>
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "chatd.h"

#define ROSTER_MIN	64	/* buckets, a power of two */

static uint64_t
roster_hash_key(const struct roster *r, const char *key)
{
	uint64_t	h = 14695981039346656037ULL ^ r->seed;

	while (*key != '\0') {
		h ^= (unsigned char)*key++;
		h *= 1099511628211ULL;
	}
	return (h);
}

static uint64_t
roster_hash_id(uint64_t id)
{
	return ((id * 11400714819323198485ULL) >> 17);
}

static struct client **
roster_key_head(struct roster *r, const char *key)
{
	return (&r->by_key[roster_hash_key(r, key) & (r->nbuckets - 1)]);
}

static struct client **
roster_id_head(struct roster *r, uint64_t id)
{
	return (&r->by_id[roster_hash_id(id) & (r->nbuckets - 1)]);
}

static void
roster_link(struct roster *r, struct client *c)
{
	struct client	**head;
	char		  key[NAME_LEN + 1];

	name_key(c->name, key);
	head = roster_key_head(r, key);
	c->key_next = *head;
	*head = c;
	head = roster_id_head(r, c->id);
	c->id_next = *head;
	*head = c;
}

/* Rehashes every client into tables of n buckets. */
static void
roster_resize(struct roster *r, size_t n)
{
	struct client	**old = r->by_id, *c, *next;
	size_t		  oldn = r->nbuckets, i;

	free(r->by_key);
	r->by_key = xcalloc(n, sizeof *r->by_key);
	r->by_id = xcalloc(n, sizeof *r->by_id);
	r->nbuckets = n;
	for (i = 0; i < oldn; i++) {
		for (c = old[i]; c != NULL; c = next) {
			next = c->id_next;
			roster_link(r, c);
		}
	}
	free(old);
}

void
roster_init(struct roster *r)
{
	memset(r, 0, sizeof *r);
	if (getrandom(&r->seed, sizeof r->seed, GRND_NONBLOCK) !=
	    (ssize_t)sizeof r->seed)
		r->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	r->nbuckets = ROSTER_MIN;
	r->by_key = xcalloc(r->nbuckets, sizeof *r->by_key);
	r->by_id = xcalloc(r->nbuckets, sizeof *r->by_id);
}

/* Frees the tables; the clients are the server's to free. */
void
roster_free(struct roster *r)
{
	free(r->by_key);
	free(r->by_id);
	memset(r, 0, sizeof *r);
}

/*
 * Puts c, with its id and name set, on the roster.  Its name's key must
 * be free (the caller checked with roster_holder()): two holders of one
 * key is a broken invariant.
 */
void
roster_add(struct roster *r, struct client *c)
{
	if (roster_holder(r, c->name) != NULL)
		fatalx("roster_add: %s is taken", c->name);
	if (r->n + 1 > r->nbuckets)
		roster_resize(r, r->nbuckets * 2);
	roster_link(r, c);
	r->n++;
}

/* Unlinks c from a chain of the name table, or of the id table. */
static void
roster_unlink(struct client **head, struct client *c, int by_id)
{
	struct client	**p;

	for (p = head; *p != NULL; p = by_id ? &(*p)->id_next :
	    &(*p)->key_next) {
		if (*p == c) {
			*p = by_id ? c->id_next : c->key_next;
			return;
		}
	}
	fatalx("roster: client %llu is not on the roster",
	    (unsigned long long)c->id);
}

void
roster_remove(struct roster *r, struct client *c)
{
	char	key[NAME_LEN + 1];

	name_key(c->name, key);
	roster_unlink(roster_key_head(r, key), c, 0);
	roster_unlink(roster_id_head(r, c->id), c, 1);
	c->key_next = c->id_next = NULL;
	r->n--;
	if (r->nbuckets > ROSTER_MIN && r->n < r->nbuckets / 8)
		roster_resize(r, r->nbuckets / 2);
}

/*
 * c, on the roster, is now called name (valid, and its key free or c's
 * own).  This is the only way to change the name of a client on the
 * roster.
 */
void
roster_rename(struct roster *r, struct client *c, const char *name)
{
	struct client	**head;
	char		  key[NAME_LEN + 1];

	name_key(c->name, key);
	roster_unlink(roster_key_head(r, key), c, 0);
	snprintf(c->name, sizeof c->name, "%s", name);
	name_key(c->name, key);
	head = roster_key_head(r, key);
	c->key_next = *head;
	*head = c;
}

/*
 * The client holding name's key (name itself, or a name that folds to
 * the same key: see name.c), or NULL.  name must be valid.
 */
struct client *
roster_holder(struct roster *r, const char *name)
{
	struct client	*c;
	char		 key[NAME_LEN + 1], ckey[NAME_LEN + 1];

	name_key(name, key);
	for (c = *roster_key_head(r, key); c != NULL; c = c->key_next) {
		name_key(c->name, ckey);
		if (strcmp(ckey, key) == 0)
			return (c);
	}
	return (NULL);
}

/* The client called name, without regard to case, or NULL. */
struct client *
roster_find(struct roster *r, const char *name)
{
	struct client	*c = roster_holder(r, name);

	return (c != NULL && strcasecmp(c->name, name) == 0 ? c : NULL);
}

/* The client on the roster with this id, or NULL. */
struct client *
roster_by_id(struct roster *r, uint64_t id)
{
	struct client	*c;

	for (c = *roster_id_head(r, id); c != NULL; c = c->id_next) {
		if (c->id == id)
			return (c);
	}
	return (NULL);
}

/* Clients on the roster. */
size_t
roster_count(const struct roster *r)
{
	return (r->n);
}
