/*
 * state.c: the image of a running chatd that it hands its successor, as
 * pure functions of bytes: state_encode() writes it, state_decode() reads
 * and checks it.  No I/O, no libevent, no server: handover.c moves the
 * bytes (in a memfd), server.c and friends fill and apply a struct state.
 *
 * The image is a 32-byte header and a payload:
 *
 *	magic "chatd-st", u32 version, u32 zero, u64 payload length,
 *	u32 CRC-32 of the payload, u32 zero
 *	u64 next id, u64 next guest number
 *	u32 rooms, then each: str name, u32 flags, str topic, u32 lines,
 *	    then each line: i64 when (epoch seconds), str text
 *	u32 clients, then each: u64 id, u64 guest, u64 socket inode,
 *	    str name, str room, str account, str address, u16 port,
 *	    u32 flags, u64 mute left (ms), u32 rate tokens (thousandths),
 *	    u64 rate age, u64 connected age, u64 active age (ms),
 *	    u32 lines in, u32 lines out, u32 long lines,
 *	    u64 bytes in, u64 bytes out, str input, str output
 *
 * Integers are little-endian; a str is a u32 length and its bytes, no
 * NUL.  Times are ages (milliseconds before the image was written) rather
 * than clock readings, so the successor needs no clock in common with the
 * writer but the wall clock of history lines.  A client's socket is named
 * by its inode, which stays the same for every descriptor of one socket
 * in every process: the successor matches the descriptors it inherits to
 * clients by it, whatever order or numbers they arrive in.
 *
 * The image is untrusted input, like a client's line: a successor of
 * another version, a corrupt memfd, or a forger with access to the fd
 * store must not crash chatd or put a half-restored room on screen.  So
 * state_decode() checks everything before it returns anything: the magic,
 * the version, the length (truncated and overlong images are told apart),
 * the checksum, then every count against the bytes left and the
 * successor's limits, every length against its bound, every name (and
 * account: a registered name, or none) with name_valid() and
 * room_valid(), every text with the sanitiser (a topic or a history line
 * must be what sanitize_line() leaves unchanged), a history line's time
 * against the years localtime_r() takes, the output not yet written for
 * control characters, ids and names for uniqueness, every client's room
 * for existence, and that nothing is left over.  Unknown flag bits and
 * set reserved bytes are refused, so an accepted image is canonical:
 * encoding what it decodes to gives the same bytes, which the fuzz target
 * checks.
 *
 * Decoded strings of variable length (topics, history, input, output) are
 * borrowed: they point into the image, which must outlive the state.
 * Rejected: a text format (the output not yet written is arbitrary bytes,
 * and escaping it costs more than lengths do), and mmap()ing structs
 * (no versioning, and every pointer would need checking anyway).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"
#include "sanitize.h"

#define STATE_MAGIC		"chatd-st"
#define STATE_AGE_MAX		(100ULL * 366 * 86400 * 1000)	/* ms */
#define STATE_RATE_MAX		(1000000ULL * 1000)	/* rate_burst's */
#define STATE_WHEN_MAX		253402300799LL	/* 9999-12-31T23:59:59Z */
#define STATE_ROOM_FLAGS	STATE_ROOM_SECRET
#define STATE_CLIENT_FLAGS	(STATE_CLIENT_MUTED | STATE_CLIENT_DISCARD)
/* The fewest bytes a room, a history line and a client take. */
#define STATE_ROOM_MIN		(4 + 2 + 4 + 4 + 4)
#define STATE_LINE_MIN		(8 + 4 + 1)
#define STATE_CLIENT_MIN	(3 * 8 + (4 + 1) + (4 + 2) + 4 + (4 + 2) + 2 + \
				    4 + 8 + 4 + 3 * 8 + 3 * 4 + 2 * 8 + 2 * 4)

/* A growing output buffer: the encoder's. */
struct state_out {
	uint8_t		*buf;
	size_t		 len;
	size_t		 size;
};

/* The decoder's position and its first error. */
struct state_in {
	const uint8_t	*p;
	size_t		 left;
	char		*why;
	size_t		 whylen;
	int		 failed;
};

static uint32_t
state_crc32(const uint8_t *p, size_t len)
{
	static uint32_t	table[256];
	static int	made;
	uint32_t	c;
	size_t		i;
	int		k;

	if (!made) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		made = 1;
	}
	c = 0xffffffffU;
	for (i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return (c ^ 0xffffffffU);
}

/* Encoding ---------------------------------------------------------------- */

static void
state_put(struct state_out *o, const void *p, size_t len)
{
	if (len > o->size - o->len) {
		while (len > o->size - o->len)
			o->size = o->size == 0 ? 4096 : o->size * 2;
		o->buf = xrealloc(o->buf, o->size);
	}
	if (len != 0)
		memcpy(o->buf + o->len, p, len);
	o->len += len;
}

static void
state_put_int(struct state_out *o, uint64_t v, size_t n)
{
	uint8_t	b[8];
	size_t	i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	state_put(o, b, n);
}

static void
state_put_str(struct state_out *o, const void *p, size_t len)
{
	state_put_int(o, len, 4);
	state_put(o, p, len);
}

static void
state_put_bytes(struct state_out *o, const struct state_bytes *b)
{
	state_put_str(o, b->p, b->len);
}

static void
state_put_client(struct state_out *o, const struct state_client *c)
{
	state_put_int(o, c->id, 8);
	state_put_int(o, c->guest, 8);
	state_put_int(o, c->sock, 8);
	state_put_str(o, c->name, strlen(c->name));
	state_put_str(o, c->room, strlen(c->room));
	state_put_str(o, c->account, strlen(c->account));
	state_put_str(o, c->addr, strlen(c->addr));
	state_put_int(o, c->port, 2);
	state_put_int(o, c->flags, 4);
	state_put_int(o, c->mute_ms, 8);
	state_put_int(o, c->rate_milli, 4);
	state_put_int(o, c->rate_age_ms, 8);
	state_put_int(o, c->connected_age_ms, 8);
	state_put_int(o, c->active_age_ms, 8);
	state_put_int(o, c->lines_in, 4);
	state_put_int(o, c->lines_out, 4);
	state_put_int(o, c->long_lines, 4);
	state_put_int(o, c->bytes_in, 8);
	state_put_int(o, c->bytes_out, 8);
	state_put_bytes(o, &c->input);
	state_put_bytes(o, &c->output);
}

/*
 * The image of st, in an allocation the caller frees, its length in
 * *lenp; NULL if it would be longer than STATE_SIZE_MAX.  st is trusted
 * (the server's own): state_decode() is what checks.
 */
uint8_t *
state_encode(const struct state *st, size_t *lenp)
{
	struct state_out	 o = { NULL, 0, 0 };
	const struct state_room	*r;
	uint32_t		 i, j;

	state_put(&o, STATE_MAGIC, 8);
	state_put_int(&o, STATE_VERSION, 4);
	state_put_int(&o, 0, 4);
	state_put_int(&o, 0, 8);	/* length and checksum: below */
	state_put_int(&o, 0, 8);
	state_put_int(&o, st->next_id, 8);
	state_put_int(&o, st->next_guest, 8);
	state_put_int(&o, st->nrooms, 4);
	for (i = 0; i < st->nrooms; i++) {
		r = &st->rooms[i];
		state_put_str(&o, r->name, strlen(r->name));
		state_put_int(&o, r->flags, 4);
		state_put_bytes(&o, &r->topic);
		state_put_int(&o, r->nlines, 4);
		for (j = 0; j < r->nlines; j++) {
			state_put_int(&o, (uint64_t)r->lines[j].when, 8);
			state_put_bytes(&o, &r->lines[j].text);
		}
		if (o.len > STATE_SIZE_MAX)
			goto big;
	}
	state_put_int(&o, st->nclients, 4);
	for (i = 0; i < st->nclients; i++) {
		state_put_client(&o, &st->clients[i]);
		if (o.len > STATE_SIZE_MAX)
			goto big;
	}
	state_seal(o.buf, o.len);
	*lenp = o.len;
	return (o.buf);
big:
	free(o.buf);
	return (NULL);
}

/*
 * Writes the payload length and checksum of the image buf[0..len), len at
 * least STATE_HEADER_LEN, into its header: the encoder's last step, and
 * how the tests make images that get past the checksum.
 */
void
state_seal(uint8_t *buf, size_t len)
{
	uint64_t	payload = len - STATE_HEADER_LEN;
	uint32_t	crc;
	int		i;

	for (i = 0; i < 8; i++)
		buf[16 + i] = (uint8_t)(payload >> (8 * i));
	crc = state_crc32(buf + STATE_HEADER_LEN, len - STATE_HEADER_LEN);
	for (i = 0; i < 4; i++)
		buf[24 + i] = (uint8_t)(crc >> (8 * i));
}

/* Decoding ---------------------------------------------------------------- */

static int
state_fail(struct state_in *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
state_fail(struct state_in *in, const char *fmt, ...)
{
	va_list	ap;

	if (!in->failed) {
		va_start(ap, fmt);
		vsnprintf(in->why, in->whylen, fmt, ap);
		va_end(ap);
		in->failed = 1;
	}
	return (-1);
}

static uint64_t
state_get_int(struct state_in *in, size_t n)
{
	uint64_t	v = 0;
	size_t		i;

	if (in->failed)
		return (0);
	if (in->left < n) {
		state_fail(in, "corrupt: a field runs past the end");
		return (0);
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)in->p[i] << (8 * i);
	in->p += n;
	in->left -= n;
	return (v);
}

/* A str of at most max bytes, borrowed from the image. */
static int
state_get_bytes(struct state_in *in, size_t max, struct state_bytes *b,
    const char *what)
{
	uint64_t	len = state_get_int(in, 4);

	b->p = NULL;
	b->len = 0;
	if (in->failed)
		return (-1);
	if (len > max)
		return (state_fail(in, "corrupt: %s of %llu bytes, more than "
		    "%zu", what, (unsigned long long)len, max));
	if (len > in->left)
		return (state_fail(in, "corrupt: %s runs past the end",
		    what));
	b->p = in->p;
	b->len = (size_t)len;
	in->p += len;
	in->left -= len;
	return (0);
}

/* A str of at most size - 1 bytes, copied and NUL-terminated. */
static int
state_get_string(struct state_in *in, char *buf, size_t size,
    const char *what)
{
	struct state_bytes	b;

	if (state_get_bytes(in, size - 1, &b, what) != 0)
		return (-1);
	if (memchr(b.p, '\0', b.len) != NULL)
		return (state_fail(in, "corrupt: %s holds a NUL", what));
	memcpy(buf, b.p, b.len);
	buf[b.len] = '\0';
	return (0);
}

/*
 * A count of things each at least min bytes long: no more than the bytes
 * left can hold, nor than limit (0: none).
 */
static uint32_t
state_get_count(struct state_in *in, size_t min, uint64_t limit,
    const char *what, const char *limit_name)
{
	uint64_t	n = state_get_int(in, 4);

	if (in->failed)
		return (0);
	if (n > in->left / min) {
		state_fail(in, "corrupt: %llu %s cannot fit in %zu bytes",
		    (unsigned long long)n, what, in->left);
		return (0);
	}
	if (limit != 0 && n > limit) {
		state_fail(in, "%llu %s, more than %s (%llu)",
		    (unsigned long long)n, what, limit_name,
		    (unsigned long long)limit);
		return (0);
	}
	return ((uint32_t)n);
}

/* Whether text is what the sanitiser leaves unchanged (and not empty). */
static int
state_text_ok(const struct state_bytes *b)
{
	char	*buf;
	size_t	 n;
	int	 ok;

	if (b->len == 0)
		return (0);
	buf = xmalloc(SANITIZE_MAX(b->len));
	n = sanitize_line((const char *)b->p, b->len, buf);
	ok = n == b->len && memcmp(buf, b->p, n) == 0;
	free(buf);
	return (ok);
}

/*
 * Whether bytes are fit to be written to a client as chatd writes: lines
 * of text ended by CRLF, perhaps cut at either end (a write the socket
 * took in part), with no control character but those line ends.
 */
static int
state_output_ok(const struct state_bytes *b)
{
	size_t	i;

	for (i = 0; i < b->len; i++) {
		if ((b->p[i] < 0x20 && b->p[i] != '\r' && b->p[i] != '\n') ||
		    b->p[i] == 0x7f)
			return (0);
	}
	return (1);
}

/* Whether a is an address as client.c writes one, or "local". */
static int
state_addr_ok(const char *a)
{
	struct in6_addr	in6;
	struct in_addr	in4;
	char		back[NETADDR_MAX];

	if (strcmp(a, "local") == 0)
		return (1);
	if (inet_pton(AF_INET, a, &in4) == 1)
		return (inet_ntop(AF_INET, &in4, back, sizeof back) != NULL &&
		    strcmp(back, a) == 0);
	if (inet_pton(AF_INET6, a, &in6) == 1)
		return (inet_ntop(AF_INET6, &in6, back, sizeof back) != NULL &&
		    strcmp(back, a) == 0);
	return (0);
}

static int
state_get_room(struct state_in *in, struct state_room *r, uint32_t i)
{
	uint32_t	j;
	char		what[64];

	snprintf(what, sizeof what, "room %u's name", i);
	if (state_get_string(in, r->name, sizeof r->name, what) != 0)
		return (-1);
	if (!room_valid(r->name, strlen(r->name)))
		return (state_fail(in, "corrupt: room %u: not a room name", i));
	r->flags = (uint32_t)state_get_int(in, 4);
	if (r->flags & ~STATE_ROOM_FLAGS)
		return (state_fail(in, "corrupt: room %u: unknown flags %#x",
		    i, r->flags));
	snprintf(what, sizeof what, "room %u's topic", i);
	if (state_get_bytes(in, STATE_TEXT_MAX, &r->topic, what) != 0)
		return (-1);
	if (r->topic.len != 0 && !state_text_ok(&r->topic))
		return (state_fail(in, "corrupt: room %u: the topic is not "
		    "clean text", i));
	r->nlines = state_get_count(in, STATE_LINE_MIN, STATE_HISTORY_MAX,
	    "history lines", "the history kept");
	if (in->failed)
		return (-1);
	r->lines = xcalloc(r->nlines == 0 ? 1 : r->nlines, sizeof *r->lines);
	for (j = 0; j < r->nlines; j++) {
		r->lines[j].when = (int64_t)state_get_int(in, 8);
		/* localtime_r() fails beyond, and the replay shows it. */
		if (r->lines[j].when < -STATE_WHEN_MAX ||
		    r->lines[j].when > STATE_WHEN_MAX)
			return (state_fail(in, "corrupt: room %u: line %u's "
			    "time is out of range", i, j));
		snprintf(what, sizeof what, "room %u's line %u", i, j);
		if (state_get_bytes(in, STATE_TEXT_MAX, &r->lines[j].text,
		    what) != 0)
			return (-1);
		if (!state_text_ok(&r->lines[j].text))
			return (state_fail(in, "corrupt: room %u: line %u is "
			    "not clean text", i, j));
	}
	return (0);
}

static int
state_get_client(struct state_in *in, struct state_client *c, uint32_t i)
{
	char	what[64], guest[NAME_LEN + 1];

	c->id = state_get_int(in, 8);
	c->guest = state_get_int(in, 8);
	c->sock = state_get_int(in, 8);
	snprintf(what, sizeof what, "client %u's name", i);
	if (state_get_string(in, c->name, sizeof c->name, what) != 0)
		return (-1);
	if (!name_valid(c->name, strlen(c->name)))
		return (state_fail(in, "corrupt: client %u: not a name", i));
	snprintf(what, sizeof what, "client %u's room", i);
	if (state_get_string(in, c->room, sizeof c->room, what) != 0)
		return (-1);
	snprintf(what, sizeof what, "client %u's account", i);
	if (state_get_string(in, c->account, sizeof c->account, what) != 0)
		return (-1);
	if (c->account[0] != '\0' &&
	    !name_valid(c->account, strlen(c->account)))
		return (state_fail(in, "corrupt: client %u: the account is "
		    "not a name", i));
	snprintf(what, sizeof what, "client %u's address", i);
	if (state_get_string(in, c->addr, sizeof c->addr, what) != 0)
		return (-1);
	if (!state_addr_ok(c->addr))
		return (state_fail(in, "corrupt: client %u: not an address",
		    i));
	c->port = (uint16_t)state_get_int(in, 2);
	c->flags = (uint32_t)state_get_int(in, 4);
	c->mute_ms = state_get_int(in, 8);
	c->rate_milli = (uint32_t)state_get_int(in, 4);
	c->rate_age_ms = state_get_int(in, 8);
	c->connected_age_ms = state_get_int(in, 8);
	c->active_age_ms = state_get_int(in, 8);
	c->lines_in = (uint32_t)state_get_int(in, 4);
	c->lines_out = (uint32_t)state_get_int(in, 4);
	c->long_lines = (uint32_t)state_get_int(in, 4);
	c->bytes_in = state_get_int(in, 8);
	c->bytes_out = state_get_int(in, 8);
	snprintf(what, sizeof what, "client %u's input", i);
	if (state_get_bytes(in, STATE_INPUT_MAX, &c->input, what) != 0)
		return (-1);
	snprintf(what, sizeof what, "client %u's output", i);
	if (state_get_bytes(in, STATE_OUTPUT_MAX, &c->output, what) != 0)
		return (-1);
	if (c->id == 0)
		return (state_fail(in, "corrupt: client %u: id 0", i));
	if (c->flags & ~STATE_CLIENT_FLAGS)
		return (state_fail(in, "corrupt: client %u: unknown flags "
		    "%#x", i, c->flags));
	if (c->mute_ms != 0 && !(c->flags & STATE_CLIENT_MUTED))
		return (state_fail(in, "corrupt: client %u: a mute time but "
		    "not muted", i));
	if (c->rate_milli > STATE_RATE_MAX || c->rate_age_ms > STATE_AGE_MAX ||
	    c->connected_age_ms > STATE_AGE_MAX ||
	    c->active_age_ms > STATE_AGE_MAX || c->mute_ms > STATE_AGE_MAX)
		return (state_fail(in, "corrupt: client %u: a time or a rate "
		    "out of range", i));
	if (name_is_guest(c->name)) {
		name_guest(guest, c->guest);
		if (strcasecmp(guest, c->name) != 0)
			return (state_fail(in, "corrupt: client %u: a guest "
			    "name not its own", i));
	}
	if (!state_output_ok(&c->output))
		return (state_fail(in, "corrupt: client %u: control "
		    "characters in its output", i));
	return (in->failed ? -1 : 0);
}

/* One key of a sorted list, and where it came from. */
struct state_key {
	char		 key[ROOM_NAME_LEN + 2];	/* or a name's */
	uint32_t	 index;
};

static int
state_key_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct state_key *)a)->key,
	    ((const struct state_key *)b)->key));
}

static int
state_id_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* The keys of st's rooms, sorted, each with its room's index. */
static struct state_key *
state_room_keys(const struct state *st)
{
	struct state_key	*keys;
	uint32_t		 i;

	keys = xcalloc(st->nrooms + 1, sizeof *keys);
	for (i = 0; i < st->nrooms; i++) {
		room_key(st->rooms[i].name, keys[i].key);
		keys[i].index = i;
	}
	qsort(keys, st->nrooms, sizeof *keys, state_key_cmp);
	return (keys);
}

/*
 * For each client of st, the index of its room among st->rooms, or
 * UINT32_MAX if it names none; free() the result.  Room names are
 * compared as room_key() makes them.
 */
uint32_t *
state_rooms_of(const struct state *st)
{
	struct state_key	*keys, probe, *hit;
	uint32_t		*of, i;

	keys = state_room_keys(st);
	of = xcalloc(st->nclients + 1, sizeof *of);
	for (i = 0; i < st->nclients; i++) {
		room_key(st->clients[i].room, probe.key);
		hit = bsearch(&probe, keys, st->nrooms, sizeof *keys,
		    state_key_cmp);
		of[i] = hit != NULL ? hit->index : UINT32_MAX;
	}
	free(keys);
	return (of);
}

/*
 * Across the image: unique room names, unique ids and names, every room
 * a client is in among the rooms, ids and guest numbers not beyond the
 * counters.
 */
static int
state_check(struct state_in *in, const struct state *st)
{
	struct state_key	*keys;
	uint64_t		*ids;
	uint32_t		*of, i;
	int			 rc = 0;

	keys = state_room_keys(st);
	for (i = 1; i < st->nrooms && rc == 0; i++) {
		if (strcmp(keys[i - 1].key, keys[i].key) == 0)
			rc = state_fail(in, "corrupt: rooms %u and %u have one "
			    "name", keys[i - 1].index, keys[i].index);
	}
	free(keys);
	of = state_rooms_of(st);
	for (i = 0; i < st->nclients && rc == 0; i++) {
		if (of[i] == UINT32_MAX)
			rc = state_fail(in, "corrupt: client %u is in no room "
			    "of the image", i);
	}
	free(of);
	if (rc != 0)
		return (rc);

	ids = xcalloc(st->nclients + 1, sizeof *ids);
	keys = xcalloc(st->nclients + 1, sizeof *keys);
	for (i = 0; i < st->nclients; i++) {
		ids[i] = st->clients[i].id;
		name_key(st->clients[i].name, keys[i].key);
		keys[i].index = i;
		if (st->clients[i].id > st->next_id ||
		    st->clients[i].guest > st->next_guest)
			rc = state_fail(in, "corrupt: client %u: an id or a "
			    "guest number beyond the counters", i);
	}
	qsort(ids, st->nclients, sizeof *ids, state_id_cmp);
	qsort(keys, st->nclients, sizeof *keys, state_key_cmp);
	for (i = 1; i < st->nclients && rc == 0; i++) {
		if (ids[i - 1] == ids[i])
			rc = state_fail(in, "corrupt: two clients with id "
			    "%llu", (unsigned long long)ids[i]);
		else if (strcmp(keys[i - 1].key, keys[i].key) == 0)
			rc = state_fail(in, "corrupt: clients %u and %u have "
			    "one name", keys[i - 1].index, keys[i].index);
	}
	free(ids);
	free(keys);
	return (rc);
}

/*
 * Reads the image buf[0..len) into st, checking all of it against the
 * rules above and the successor's limits (lim).  Returns 0, or -1 with st
 * empty and why (NUL-terminated, at most whylen bytes) saying what is
 * wrong: it starts "truncated", "corrupt", "version" or "not a chatd",
 * and never quotes a byte of the image.  st borrows from buf: free it
 * with state_free(), and buf after it.
 */
int
state_decode(const uint8_t *buf, size_t len, const struct state_limits *lim,
    struct state *st, char *why, size_t whylen)
{
	struct state_in	 in = { buf, len, why, whylen, 0 };
	uint64_t	 payload;
	uint32_t	 version, i;

	memset(st, 0, sizeof *st);
	if (len < STATE_HEADER_LEN) {
		state_fail(&in, "truncated: %zu bytes, less than a header",
		    len);
		return (-1);
	}
	if (memcmp(buf, STATE_MAGIC, 8) != 0) {
		state_fail(&in, "not a chatd state image");
		return (-1);
	}
	in.p += 8;
	in.left -= 8;
	version = (uint32_t)state_get_int(&in, 4);
	if (version != STATE_VERSION) {
		state_fail(&in, "version %u, this chatd reads version %d",
		    version, STATE_VERSION);
		return (-1);
	}
	if (state_get_int(&in, 4) != 0) {
		state_fail(&in, "corrupt: reserved header bytes are set");
		return (-1);
	}
	payload = state_get_int(&in, 8);
	if (payload > len - STATE_HEADER_LEN) {
		state_fail(&in, "truncated: %zu of %llu bytes",
		    len - STATE_HEADER_LEN, (unsigned long long)payload);
		return (-1);
	}
	if (payload < len - STATE_HEADER_LEN) {
		state_fail(&in, "corrupt: %llu bytes after the image",
		    (unsigned long long)(len - STATE_HEADER_LEN - payload));
		return (-1);
	}
	if (state_get_int(&in, 4) != state_crc32(buf + STATE_HEADER_LEN,
	    len - STATE_HEADER_LEN)) {
		state_fail(&in, "corrupt: the checksum does not match");
		return (-1);
	}
	if (state_get_int(&in, 4) != 0) {
		state_fail(&in, "corrupt: reserved header bytes are set");
		return (-1);
	}

	st->next_id = state_get_int(&in, 8);
	st->next_guest = state_get_int(&in, 8);
	st->nrooms = state_get_count(&in, STATE_ROOM_MIN, lim->max_rooms,
	    "rooms", "max_rooms");
	st->rooms = xcalloc(st->nrooms + 1, sizeof *st->rooms);
	for (i = 0; i < st->nrooms && !in.failed; i++) {
		if (state_get_room(&in, &st->rooms[i], i) != 0)
			break;
	}
	st->nclients = state_get_count(&in, STATE_CLIENT_MIN,
	    lim->max_clients, "clients", "max_clients");
	st->clients = xcalloc(st->nclients + 1, sizeof *st->clients);
	for (i = 0; i < st->nclients && !in.failed; i++) {
		if (state_get_client(&in, &st->clients[i], i) != 0)
			break;
	}
	if (!in.failed && in.left != 0)
		state_fail(&in, "corrupt: %zu bytes after the last client",
		    in.left);
	if (!in.failed)
		state_check(&in, st);
	if (in.failed) {
		state_free(st);
		return (-1);
	}
	return (0);
}

/* Frees what state_decode() allocated (not what it borrowed). */
void
state_free(struct state *st)
{
	uint32_t	i;

	if (st->rooms != NULL) {
		for (i = 0; i < st->nrooms; i++)
			free(st->rooms[i].lines);
	}
	free(st->rooms);
	free(st->clients);
	memset(st, 0, sizeof *st);
}
