/*
 * lru.c: a bounded table of short string keys, each with a count and a
 * time, the least recently used dropped first when it is full.
 *
 * For what is counted per peer and must cost bounded memory whatever
 * peers do: failed logins per address and per account, and the names a
 * node knows to be registered (account.c).  A chained hash whose bucket
 * array doubles as entries are added (from 64 buckets, at most two
 * entries a bucket on average), and a list in order of use; lru_get()
 * makes an entry, dropping the least recently used once max are held.
 */

#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

#define LRU_BUCKETS_MIN	64	/* a power of two */

static size_t
lru_hash(const struct lru *l, const char *key)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return (h & (l->nbuckets - 1));
}

void
lru_init(struct lru *l, unsigned max)
{
	l->nbuckets = LRU_BUCKETS_MIN;
	l->buckets = xcalloc(l->nbuckets, sizeof *l->buckets);
	TAILQ_INIT(&l->list);
	l->n = 0;
	l->max = max > 0 ? max : 1;
}

void
lru_free(struct lru *l)
{
	struct lru_entry	*e;

	while ((e = TAILQ_FIRST(&l->list)) != NULL) {
		TAILQ_REMOVE(&l->list, e, entry);
		free(e);
	}
	free(l->buckets);
	l->buckets = NULL;
	l->n = 0;
}

/* The entry of key, or NULL; its place in the order is kept. */
struct lru_entry *
lru_find(struct lru *l, const char *key)
{
	struct lru_entry	*e;

	for (e = l->buckets[lru_hash(l, key)]; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0)
			return (e);
	}
	return (NULL);
}

/* Makes e the most recently used. */
void
lru_touch(struct lru *l, struct lru_entry *e)
{
	TAILQ_REMOVE(&l->list, e, entry);
	TAILQ_INSERT_TAIL(&l->list, e, entry);
}

/* Drops e. */
void
lru_drop(struct lru *l, struct lru_entry *e)
{
	struct lru_entry	**pp;

	for (pp = &l->buckets[lru_hash(l, e->key)]; *pp != e;
	    pp = &(*pp)->next)
		;
	*pp = e->next;
	TAILQ_REMOVE(&l->list, e, entry);
	free(e);
	l->n--;
}

static void
lru_grow(struct lru *l)
{
	struct lru_entry	*e;
	size_t			 h;

	free(l->buckets);
	l->nbuckets *= 2;
	l->buckets = xcalloc(l->nbuckets, sizeof *l->buckets);
	TAILQ_FOREACH(e, &l->list, entry) {
		h = lru_hash(l, e->key);
		e->next = l->buckets[h];
		l->buckets[h] = e;
	}
}

/*
 * The entry of key (at most LRU_KEY_MAX - 1 bytes; longer keys are cut),
 * made with a zero count and time if there is none, and made the most
 * recently used.  A table holding max entries drops its least recently
 * used to make room.
 */
struct lru_entry *
lru_get(struct lru *l, const char *key)
{
	struct lru_entry	*e;
	char			 k[LRU_KEY_MAX];
	size_t			 h;

	snprintf(k, sizeof k, "%s", key);
	if ((e = lru_find(l, k)) != NULL) {
		lru_touch(l, e);
		return (e);
	}
	if (l->n >= l->max)
		lru_drop(l, TAILQ_FIRST(&l->list));
	if (l->n >= 2 * l->nbuckets)
		lru_grow(l);
	e = xcalloc(1, sizeof *e);
	memcpy(e->key, k, sizeof k);
	h = lru_hash(l, k);
	e->next = l->buckets[h];
	l->buckets[h] = e;
	TAILQ_INSERT_TAIL(&l->list, e, entry);
	l->n++;
	return (e);
}

/* A new bound; the least recently used go until the table is within it. */
void
lru_limit(struct lru *l, unsigned max)
{
	l->max = max > 0 ? max : 1;
	while (l->n > l->max)
		lru_drop(l, TAILQ_FIRST(&l->list));
}
