/*
 * libFuzzer target for what chatd reads from Redis (wire.c): messages on
 * the room's channel and the values kept under keys.
 *
 * The first byte picks text_max: below 0x80 it is that byte (0 to 127,
 * so the bound is hit often), else cluster.c's bound for the default
 * max_line, SANITIZE_MAX(4096).  The rest is a message from the channel,
 * given to wire_decode().
 *
 * A message it accepts must obey the rules a local client's would: the
 * version is "chatd1", the node passes config_valid_node() and is what
 * the message said, the type is in range and named as the message named
 * it, nfields is the number of fields the message held and no more are
 * set, each name field passes name_valid() and is exactly what was sent,
 * each text field is non-empty (but some last ones), within text_max,
 * free of TAB, CR and LF, safe to show (tests/sanitize_invariants.h) and
 * unchanged by sanitising again.  Encoding it with wire_encode() and
 * decoding that must give the same message, and when no text was changed by sanitising the encoding
 * is the input itself.  A message it refuses must come with one of the
 * documented reasons and an empty struct.
 *
 * The same bytes, split at their first 0xff (which no valid value holds)
 * into a and b, are then a name's value (wire_parse_owner(a)), a /who
 * entry (wire_parse_who(a, b): the name, and since, node and room) and a
 * SCAN cursor (wire_parse_cursor(a)).
 * What they accept must rebuild the input from its parts, each part
 * obeying its rule; the cursor, and values that plainly obey the rules,
 * are checked against a model in the other direction too.  Any breach
 * aborts.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "sanitize.h"
#include "../sanitize_invariants.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

#define FUZZ_PARTS	(3 + WIRE_FIELDS + 2)

static const char *const fuzz_whys[] = {
	"empty", "too long", "NUL byte", "too many fields",
	"unknown version", "bad node name", "unknown type",
	"wrong number of fields", "bad name", "empty text", "text too long",
};

static void
fuzz_check_empty(const struct wire_msg *m)
{
	int	i;

	FUZZ_CHECK(m->buf == NULL && m->node == NULL && m->nfields == 0);
	for (i = 0; i < WIRE_FIELDS; i++)
		FUZZ_CHECK(m->field[i] == NULL && m->text[i] == NULL);
}

/*
 * Splits data[0..len) (no NUL in it) at TABs into a copy; returns the
 * number of parts, at most FUZZ_PARTS (more are not looked at).
 */
static int
fuzz_split(const char *data, size_t len, char **copy, char **part)
{
	char	*p;
	int	 n = 0;

	if ((*copy = malloc(len + 1)) == NULL)
		abort();
	memcpy(*copy, data, len);
	(*copy)[len] = '\0';
	for (p = *copy; n < FUZZ_PARTS; ) {
		part[n++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	return (n);
}

/* Same message: type, node, fields. */
static void
fuzz_check_same(const struct wire_msg *a, const struct wire_msg *b)
{
	int	i;

	FUZZ_CHECK(a->type == b->type && a->nfields == b->nfields);
	FUZZ_CHECK(strcmp(a->node, b->node) == 0);
	for (i = 0; i < a->nfields; i++)
		FUZZ_CHECK(strcmp(a->field[i], b->field[i]) == 0);
}

static void
fuzz_decode(const char *data, size_t len, size_t text_max)
{
	struct wire_msg	 m, m2;
	const char	*why = NULL, *why2 = NULL;
	char		*copy, *part[FUZZ_PARTS], *wire, *again;
	size_t		 i, flen, wlen, n;
	int		 nparts, nnames, changed = 0, j;

	if (wire_decode(data, len, text_max, &m, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		for (i = 0; i < sizeof fuzz_whys / sizeof fuzz_whys[0]; i++) {
			if (strcmp(why, fuzz_whys[i]) == 0)
				break;
		}
		FUZZ_CHECK(i < sizeof fuzz_whys / sizeof fuzz_whys[0]);
		fuzz_check_empty(&m);
		return;
	}

	/* Accepted: the input had no NUL, and split as the message says. */
	FUZZ_CHECK(len > 0 && len <= WIRE_MAX);
	FUZZ_CHECK(memchr(data, '\0', len) == NULL);
	nparts = fuzz_split(data, len, &copy, part);
	FUZZ_CHECK(nparts >= 3 && nparts <= 3 + WIRE_FIELDS);
	FUZZ_CHECK(strcmp(part[0], WIRE_VERSION) == 0);
	FUZZ_CHECK((int)m.type >= 0 && m.type < WIRE_NTYPES);
	FUZZ_CHECK(strcmp(part[2], wire_type_name(m.type)) == 0);
	FUZZ_CHECK(m.node != NULL && config_valid_node(m.node));
	FUZZ_CHECK(strcmp(m.node, part[1]) == 0);
	FUZZ_CHECK(m.nfields == nparts - 3 && m.nfields >= 1);
	nnames = wire_names(m.type);
	FUZZ_CHECK(nnames >= 0 && nnames <= m.nfields);
	for (j = 0; j < m.nfields; j++) {
		FUZZ_CHECK(m.field[j] != NULL);
		flen = strlen(m.field[j]);
		if (j < nnames) {
			FUZZ_CHECK(name_valid(m.field[j], flen));
			FUZZ_CHECK(strcmp(m.field[j], part[3 + j]) == 0);
			FUZZ_CHECK(m.text[j] == NULL);
			continue;
		}
		FUZZ_CHECK(m.field[j] == m.text[j]);
		/*
		 * Only the last field of ban (the reason), moved (where to)
		 * and topic (the topic) may be empty.
		 */
		FUZZ_CHECK((flen > 0 || ((m.type == WIRE_BAN ||
		    m.type == WIRE_MOVED || m.type == WIRE_TOPIC) &&
		    j == m.nfields - 1)) && flen <= text_max);
		FUZZ_CHECK(strcspn(m.field[j], "\t\r\n") == flen);
		FUZZ_CHECK(sanitize_invariants_check(
		    (const unsigned char *)m.field[j], flen) == NULL);
		if ((again = malloc(SANITIZE_MAX(flen))) == NULL)
			abort();
		n = sanitize_line(m.field[j], flen, again);
		FUZZ_CHECK(n == flen && memcmp(again, m.field[j], n) == 0);
		free(again);
		if (strcmp(m.field[j], part[3 + j]) != 0)
			changed = 1;
	}
	for (; j < WIRE_FIELDS; j++)
		FUZZ_CHECK(m.field[j] == NULL && m.text[j] == NULL);

	/* Said again, it reads the same. */
	wire = wire_encode(m.node, m.type, m.field, &wlen);
	FUZZ_CHECK(strlen(wire) == wlen);
	if (!changed)
		FUZZ_CHECK(wlen == len && memcmp(wire, data, len) == 0);
	FUZZ_CHECK(wire_decode(wire, wlen, text_max, &m2, &why2) == 0);
	fuzz_check_same(&m, &m2);
	wire_msg_free(&m2);
	free(wire);

	wire_msg_free(&m);
	fuzz_check_empty(&m);
	free(copy);
}

/* Does s[0..len) hold only decimal digits (and at least one)? */
static int
fuzz_digits(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
	}
	return (len > 0);
}

/* Is s[0..len) a node name (config_valid_node() wants a string)? */
static int
fuzz_node(const char *s, size_t len)
{
	char	buf[CONFIG_NODE_MAX + 1];

	if (len == 0 || len > CONFIG_NODE_MAX || memchr(s, '\0', len) != NULL)
		return (0);
	memcpy(buf, s, len);
	buf[len] = '\0';
	return (config_valid_node(buf));
}

static void
fuzz_owner(const char *a, size_t alen)
{
	char		 node[CONFIG_NODE_MAX + 1], name[NAME_LEN + 1];
	char		 key[WIRE_KEY_MAX], want[WIRE_KEY_MAX], k[NAME_LEN + 1];
	const char	*tab = memchr(a, '\t', alen);
	size_t		 nlen, mlen;
	int		 plain;

	plain = tab != NULL && fuzz_node(a, (size_t)(tab - a)) &&
	    name_valid(tab + 1, alen - (size_t)(tab - a) - 1);
	if (wire_parse_owner(a, alen, node, name) != 0) {
		FUZZ_CHECK(!plain);
		return;
	}
	FUZZ_CHECK(plain);
	nlen = strlen(node);
	mlen = strlen(name);
	FUZZ_CHECK(config_valid_node(node) && nlen <= CONFIG_NODE_MAX);
	FUZZ_CHECK(name_valid(name, mlen));
	FUZZ_CHECK(nlen + 1 + mlen == alen && memcmp(a, node, nlen) == 0 &&
	    a[nlen] == '\t' && memcmp(a + nlen + 1, name, mlen) == 0);

	wire_nick_key("chatd:room:", name, key);
	name_key(name, k);
	snprintf(want, sizeof want, "chatd:room:nick:%s", k);
	FUZZ_CHECK(strcmp(key, want) == 0);
}

static void
fuzz_who(const char *a, size_t alen, const char *b, size_t blen)
{
	struct wire_who	 w;
	const char	*tab = memchr(b, '\t', blen), *tab2 = NULL;
	uint64_t	 t = 0;
	size_t		 dlen, nlen = 0, rlen = 0, i, lead;
	int		 plain;

	/*
	 * Plainly valid: a name, then up to 18 significant digits (within
	 * int64_t whatever they are), TAB, a node name, TAB and a room name.
	 */
	dlen = tab != NULL ? (size_t)(tab - b) : 0;
	if (tab != NULL)
		tab2 = memchr(tab + 1, '\t', blen - dlen - 1);
	if (tab2 != NULL) {
		nlen = (size_t)(tab2 - tab - 1);
		rlen = blen - dlen - nlen - 2;
	}
	for (lead = 0; lead < dlen && b[lead] == '0'; lead++)
		;
	plain = name_valid(a, alen) && tab2 != NULL && fuzz_digits(b, dlen) &&
	    dlen - lead <= 18 && fuzz_node(tab + 1, nlen) &&
	    room_valid(tab2 + 1, rlen);

	if (wire_parse_who(a, alen, b, blen, &w) != 0) {
		FUZZ_CHECK(!plain);
		return;
	}
	if (!plain)
		FUZZ_CHECK(dlen - lead > 18);
	FUZZ_CHECK(strlen(w.name) == alen && memcmp(w.name, a, alen) == 0);
	FUZZ_CHECK(name_valid(w.name, alen));
	FUZZ_CHECK(tab2 != NULL && fuzz_digits(b, dlen));
	FUZZ_CHECK(dlen - lead <= 19);
	for (i = 0; i < dlen; i++)
		t = t * 10 + (uint64_t)(b[i] - '0');
	FUZZ_CHECK(t <= INT64_MAX && w.since == (int64_t)t);
	FUZZ_CHECK(config_valid_node(w.node));
	FUZZ_CHECK(strlen(w.node) == nlen && memcmp(w.node, tab + 1, nlen) == 0);
	FUZZ_CHECK(strlen(w.room) == rlen && memcmp(w.room, tab2 + 1, rlen) ==
	    0 && room_valid(w.room, rlen));
}

static void
fuzz_cursor(const char *a, size_t alen)
{
	unsigned long long	 v = 12345, want = 0;
	char			 buf[32], *end;
	int			 ok;

	ok = alen >= 1 && alen <= 20 && fuzz_digits(a, alen);
	if (ok) {
		memcpy(buf, a, alen);
		buf[alen] = '\0';
		errno = 0;
		want = strtoull(buf, &end, 10);
		ok = errno == 0 && *end == '\0';
	}
	if (wire_parse_cursor(a, alen, &v) != 0) {
		FUZZ_CHECK(!ok);
		return;
	}
	FUZZ_CHECK(ok && v == want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*msg, *ff, *b;
	size_t		 text_max, len, alen, blen;

	if (size == 0)
		return (0);
	text_max = data[0] < 0x80 ? data[0] : SANITIZE_MAX(4096);
	msg = (const char *)data + 1;
	len = size - 1;

	fuzz_decode(msg, len, text_max);

	ff = memchr(msg, 0xff, len);
	alen = ff != NULL ? (size_t)(ff - msg) : len;
	b = ff != NULL ? ff + 1 : msg + len;
	blen = len - alen - (ff != NULL);
	fuzz_owner(msg, alen);
	fuzz_who(msg, alen, b, blen);
	fuzz_cursor(msg, alen);
	return (0);
}
