/*
 * room.c: the rooms of a server: their names, their members, their turns.
 *
 * Every client in the room state is in exactly one room, and every line
 * it says goes to the other members of that room.  A room owns its turn
 * (turn.c): what its members said in this loop turn, written once to each
 * of the others.  Rooms whose turn holds lines are on the server's dirty
 * list, so a flush walks only the members of rooms that spoke; a server
 * with one room does exactly what it did before rooms existed.  Members
 * are a TAILQ through the client, so joining and leaving, and moving from
 * one room to another, cost the same whatever the numbers of rooms and
 * clients; rooms are found by name in a hash table that grows with them.
 *
 * A room name is '#' and 1 to ROOM_NAME_LEN letters, digits, '-', '_' or
 * '.', compared without regard to case: room_valid() and room_key() are
 * the rule, pure, for chat and the cluster alike.  Rooms listed in the
 * config, and the default room, are permanent; the others vanish when
 * their last member leaves.  What chat keeps per room (its history) hangs
 * off the room as chat.c's own, so this file knows nothing of chat.  A
 * room quiet for a second gives back its turn's buffer (room_trim()), so
 * that many rooms cost memory only while they talk.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

#define ROOM_BUCKETS_MIN	16	/* a power of two */

/* Is s[0..len) a room name? */
int
room_valid(const char *s, size_t len)
{
	size_t	i;

	if (len < 2 || len > ROOM_NAME_LEN + 1 || s[0] != '#')
		return (0);
	for (i = 1; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_' || s[i] == '.'))
			return (0);
	}
	return (1);
}

/* The key of a valid room name: lower case (ROOM_NAME_LEN + 2 bytes). */
void
room_key(const char *name, char *key)
{
	size_t	i;

	for (i = 0; name[i] != '\0' && i < ROOM_NAME_LEN + 1; i++)
		key[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	key[i] = '\0';
}

static uint64_t
room_hash(const char *key)
{
	uint64_t	h = 14695981039346656037ULL;

	while (*key != '\0') {
		h ^= (unsigned char)*key++;
		h *= 1099511628211ULL;
	}
	return (h);
}

static void
room_resize(struct rooms *rs, size_t n)
{
	struct room	*r, **old = rs->buckets;
	size_t		 oldn = rs->nbuckets, i;

	rs->buckets = xcalloc(n, sizeof *rs->buckets);
	rs->nbuckets = n;
	for (i = 0; i < oldn; i++) {
		while ((r = old[i]) != NULL) {
			old[i] = r->hash_next;
			r->hash_next = rs->buckets[room_hash(r->key) & (n - 1)];
			rs->buckets[room_hash(r->key) & (n - 1)] = r;
		}
	}
	free(old);
}

void
room_init(struct rooms *rs)
{
	memset(rs, 0, sizeof *rs);
	TAILQ_INIT(&rs->list);
	TAILQ_INIT(&rs->dirty);
	rs->nbuckets = ROOM_BUCKETS_MIN;
	rs->buckets = xcalloc(rs->nbuckets, sizeof *rs->buckets);
}

/* The room called name (valid), or NULL. */
struct room *
room_find(struct rooms *rs, const char *name)
{
	struct room	*r;
	char		 key[ROOM_NAME_LEN + 2];

	room_key(name, key);
	for (r = rs->buckets[room_hash(key) & (rs->nbuckets - 1)]; r != NULL;
	    r = r->hash_next) {
		if (strcmp(r->key, key) == 0)
			return (r);
	}
	return (NULL);
}

/*
 * Makes the room called name (valid, and not a room yet), empty.  The
 * caller bounds how many there are (max_rooms).
 */
struct room *
room_new(struct rooms *rs, const char *name, int flags)
{
	struct room	*r;
	size_t		 b;

	r = xcalloc(1, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	room_key(name, r->key);
	r->flags = flags;
	TAILQ_INIT(&r->members);
	turn_init(&r->turn);
	if (rs->n + 1 > rs->nbuckets)
		room_resize(rs, rs->nbuckets * 2);
	b = room_hash(r->key) & (rs->nbuckets - 1);
	r->hash_next = rs->buckets[b];
	rs->buckets[b] = r;
	TAILQ_INSERT_TAIL(&rs->list, r, entry);
	rs->n++;
	return (r);
}

/* Frees an empty room (the caller freed what chat kept in it). */
void
room_free(struct rooms *rs, struct room *r)
{
	struct room	**p;

	if (r->nmembers != 0)
		fatalx("room_free: %s has %u members", r->name, r->nmembers);
	for (p = &rs->buckets[room_hash(r->key) & (rs->nbuckets - 1)];
	    *p != r; p = &(*p)->hash_next)
		;
	*p = r->hash_next;
	TAILQ_REMOVE(&rs->list, r, entry);
	if (r->dirty)
		TAILQ_REMOVE(&rs->dirty, r, dirty_entry);
	rs->n--;
	turn_free(&r->turn);
	free(r->topic);
	free(r);
}

/* Frees every room; their members are gone already. */
void
room_clear(struct rooms *rs)
{
	struct room	*r;

	while ((r = TAILQ_FIRST(&rs->list)) != NULL) {
		r->nmembers = 0;
		room_free(rs, r);
	}
	free(rs->buckets);
	rs->buckets = NULL;
}

/*
 * c enters r: it gets what r says from now on (its place in r's turn is
 * after what was said before it came).
 */
void
room_add(struct room *r, struct client *c)
{
	TAILQ_INSERT_TAIL(&r->members, c, room_entry);
	r->nmembers++;
	c->room = r;
	turn_join(&r->turn, c);
}

/* c leaves its room (the caller flushed what it was owed there). */
void
room_remove(struct client *c)
{
	struct room	*r = c->room;

	TAILQ_REMOVE(&r->members, c, room_entry);
	r->nmembers--;
	c->room = NULL;
}

/* r's turn holds lines: it is flushed with the others at the turn's end. */
void
room_dirty(struct rooms *rs, struct room *r)
{
	if (r->dirty)
		return;
	r->dirty = 1;
	TAILQ_INSERT_TAIL(&rs->dirty, r, dirty_entry);
}

/*
 * Called once a second (the server's cron): every room whose turn has not
 * ended since the last call, so that said nothing for a second at least,
 * gives back its turn's buffer and marks (turn_trim()).  Rooms that talk
 * keep theirs; a quiet one costs no TURN_BYTES buffer, and allocates it
 * again with its next line.  A walk of the rooms, which max_rooms bounds.
 */
void
room_trim(struct rooms *rs)
{
	struct room	*r;

	TAILQ_FOREACH(r, &rs->list, entry) {
		if (r->turn.gen == r->trim_gen)
			turn_trim(&r->turn);
		r->trim_gen = r->turn.gen;
	}
}

/* r's name and flags, for the image a successor takes over (state.c). */
void
room_export(const struct room *r, struct state_room *sr)
{
	snprintf(sr->name, sizeof sr->name, "%s", r->name);
	if (r->flags & ROOM_SECRET)
		sr->flags |= STATE_ROOM_SECRET;
}

/* r was taken over: it keeps its secrecy. */
void
room_import(struct room *r, const struct state_room *sr)
{
	if (sr->flags & STATE_ROOM_SECRET)
		r->flags |= ROOM_SECRET;
}
