/*
 * wire.c: what chatd nodes say to each other through Redis, and what
 * they read back from it, as pure functions of bytes.
 *
 * A message on the room's channel is one line of TAB-separated fields:
 *
 *	chatd1 TAB node TAB type TAB field...
 *
 * The table below says, for each type, how many fields follow and how many
 * of the first ones are names: say and me (name, text), raw (text), join
 * (name), left (name, reason), nick (old, new), msg (from, to, text); and
 * from chatctl, ban (pattern, expires, created, reason: see wire_ban()),
 * unban (pattern) and announce (text); and for rooms, moved (name, the room
 * it went to or empty) and topic (setter, topic or empty for none); for
 * accounts, kick (the operator, whom, the reason or empty) and reclaim (a
 * registered name whose owner has logged in: whoever holds it elsewhere
 * gives it up).  Messages of a room go on the room's own channel, the others
 * on the main one (cluster.c).  Fields come from sanitised client input and
 * valid names, which hold no TAB, CR, LF or NUL, so no escaping is needed.
 *
 * Nothing read from Redis is trusted more than a client: wire_decode()
 * checks the version, the node (config_valid_node()), the type, the
 * number of fields, every name with name_valid() and every text with the
 * sanitiser, and refuses a text longer than a local client's line could
 * have become (the caller passes the bound).  The values kept under keys
 * (the holder of a name, a node's /who entries, SCAN cursors, accounts)
 * are parsed here with the same rules.  An account is one value,
 *
 *	chatd-account1 TAB name TAB created TAB hash TAB certfp,certfp...
 *
 * so that creating one is one SET NX and changing one a compare-and-set of
 * the whole value (cluster.c's account calls).  What the node then does with
 * a message is chat.c's (its handlers are indexed by the type): keeping the
 * grammar free of handlers keeps it free of the server, so the unit suite
 * and the fuzz target (tests/fuzz/fuzz_cluster.c) run it alone.
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "sanitize.h"

static const struct wire_kind {
	const char	*name;
	int		 nnames;	/* leading fields that are names */
	int		 nfields;
	int		 last_empty;	/* the last field may be empty */
} wire_kinds[WIRE_NTYPES] = {
	[WIRE_SAY] = { "say", 1, 2, 0 },
	[WIRE_ME] = { "me", 1, 2, 0 },
	[WIRE_RAW] = { "raw", 0, 1, 0 },
	[WIRE_JOIN] = { "join", 1, 1, 0 },
	[WIRE_LEFT] = { "left", 1, 2, 0 },
	[WIRE_NICK] = { "nick", 2, 2, 0 },
	[WIRE_MSG] = { "msg", 2, 3, 0 },
	[WIRE_BAN] = { "ban", 0, 4, 1 },	/* wire_ban() */
	[WIRE_UNBAN] = { "unban", 0, 1, 0 },
	[WIRE_ANNOUNCE] = { "announce", 0, 1, 0 },
	[WIRE_MOVED] = { "moved", 1, 2, 1 },	/* name, room or "" */
	[WIRE_TOPIC] = { "topic", 1, 2, 1 },	/* setter, topic or "" */
	[WIRE_KICK] = { "kick", 2, 3, 1 },	/* operator, whom, reason */
	[WIRE_RECLAIM] = { "reclaim", 1, 1, 0 },	/* a logged-in owner */
};

const char *
wire_type_name(enum wire_type type)
{
	return (wire_kinds[type].name);
}

/* How many of type's fields are names (the rest is text). */
int
wire_names(enum wire_type type)
{
	return (wire_kinds[type].nnames);
}

/*
 * Builds the message node says of type with its fields (as many as the
 * type has), in one allocation.  Returns it, NUL-terminated, and its
 * length in *len.  A field holding a TAB, CR or LF is a broken invariant:
 * callers pass sanitised text and valid names.
 */
char *
wire_encode(const char *node, enum wire_type type, const char *const *field,
    size_t *len)
{
	const struct wire_kind	*k = &wire_kinds[type];
	size_t			 n, flen[WIRE_FIELDS];
	char			*msg, *p;
	int			 i;

	n = strlen(WIRE_VERSION) + 1 + strlen(node) + 1 + strlen(k->name);
	for (i = 0; i < k->nfields; i++) {
		flen[i] = strlen(field[i]);
		if (strcspn(field[i], "\t\r\n") != flen[i])
			fatalx("wire_encode: %s field %d holds a separator",
			    k->name, i);
		n += 1 + flen[i];
	}
	p = msg = xmalloc(n + 1);
	memcpy(p, WIRE_VERSION "\t", sizeof WIRE_VERSION);
	p += sizeof WIRE_VERSION;
	memcpy(p, node, strlen(node));
	p += strlen(node);
	*p++ = '\t';
	memcpy(p, k->name, strlen(k->name));
	p += strlen(k->name);
	for (i = 0; i < k->nfields; i++) {
		*p++ = '\t';
		memcpy(p, field[i], flen[i]);
		p += flen[i];
	}
	*p = '\0';
	*len = n;
	return (msg);
}

void
wire_msg_free(struct wire_msg *m)
{
	int	i;

	for (i = 0; i < WIRE_FIELDS; i++)
		free(m->text[i]);
	free(m->buf);
	memset(m, 0, sizeof *m);
}

/*
 * Parses and checks one message from the channel.  Text fields are
 * sanitised, and refused when empty afterwards or longer than text_max
 * bytes.  Returns 0 with *m filled (free it with wire_msg_free()), or -1
 * with *why saying what was wrong and *m empty.
 */
int
wire_decode(const char *data, size_t len, size_t text_max,
    struct wire_msg *m, const char **why)
{
	const struct wire_kind	*k = NULL;
	char			*part[3 + WIRE_FIELDS + 1], *p;
	size_t			 n, flen;
	int			 nparts = 0, i;

	memset(m, 0, sizeof *m);
	if (len == 0 || len > WIRE_MAX) {
		*why = len == 0 ? "empty" : "too long";
		return (-1);
	}
	if (memchr(data, '\0', len) != NULL) {
		*why = "NUL byte";
		return (-1);
	}
	m->buf = xmalloc(len + 1);
	memcpy(m->buf, data, len);
	m->buf[len] = '\0';
	for (p = m->buf; nparts < (int)(sizeof part / sizeof part[0]); ) {
		part[nparts++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	if (p != NULL) {
		*why = "too many fields";
		goto fail;
	}
	if (nparts < 3 || strcmp(part[0], WIRE_VERSION) != 0) {
		*why = "unknown version";
		goto fail;
	}
	if (!config_valid_node(part[1])) {
		*why = "bad node name";
		goto fail;
	}
	for (i = 0; i < WIRE_NTYPES; i++) {
		if (strcmp(part[2], wire_kinds[i].name) == 0) {
			k = &wire_kinds[i];
			m->type = (enum wire_type)i;
			break;
		}
	}
	if (k == NULL) {
		*why = "unknown type";
		goto fail;
	}
	if (nparts - 3 != k->nfields) {
		*why = "wrong number of fields";
		goto fail;
	}
	m->node = part[1];
	for (i = 0; i < k->nfields; i++) {
		flen = strlen(part[3 + i]);
		if (i < k->nnames) {
			if (!name_valid(part[3 + i], flen)) {
				*why = "bad name";
				goto fail;
			}
			m->field[i] = part[3 + i];
			continue;
		}
		/* As if a client had typed it: the same rules, again. */
		m->text[i] = xmalloc(SANITIZE_MAX(flen) + 1);
		n = sanitize_line(part[3 + i], flen, m->text[i]);
		m->text[i][n] = '\0';
		if ((n == 0 && !(k->last_empty && i == k->nfields - 1)) ||
		    n > text_max) {
			*why = n == 0 ? "empty text" : "text too long";
			goto fail;
		}
		m->field[i] = m->text[i];
	}
	m->nfields = k->nfields;
	return (0);
fail:
	wire_msg_free(m);
	return (-1);
}

/* Parses seconds of the epoch: decimal digits, at most 12.  0, or -1. */
static int
wire_seconds(const char *s, size_t len, int64_t *t)
{
	size_t	i;

	if (len == 0 || len > 12)
		return (-1);
	*t = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		*t = *t * 10 + (s[i] - '0');
	}
	return (0);
}

/*
 * A ban as it travels and is kept in Redis: pattern, expires and created
 * (seconds of the epoch; expires 0 for never) and a reason (maybe empty).
 * wire_ban() checks the fields of a decoded "ban" message, and
 * wire_parse_ban() the value kept under PREFIX:bans for a pattern,
 * "expires TAB created TAB reason".  Both fill b (its reason in buf,
 * BAN_REASON_MAX + 1 bytes) and return 0, or -1 if anything breaks the
 * rules of ban.c.
 */
static int
wire_ban_fields(const char *pattern, const char *expires, size_t elen,
    const char *created, size_t clen, const char *reason, struct ban *b,
    char *buf)
{
	const char	*why;

	if (ban_parse(pattern, b, &why) != 0 ||
	    strcmp(b->pattern, pattern) != 0 ||
	    wire_seconds(expires, elen, &b->expires) != 0 ||
	    wire_seconds(created, clen, &b->created) != 0 ||
	    ban_reason(reason, buf) != 0)
		return (-1);
	b->reason = buf;
	return (0);
}

int
wire_ban(const struct wire_msg *m, struct ban *b, char *buf)
{
	if (m->type != WIRE_BAN)
		return (-1);
	return (wire_ban_fields(m->field[0], m->field[1], strlen(m->field[1]),
	    m->field[2], strlen(m->field[2]), m->field[3], b, buf));
}

int
wire_parse_ban(const char *pattern, size_t plen, const char *value,
    size_t vlen, struct ban *b, char *buf)
{
	char		 pat[BAN_PATTERN_MAX], reason[BAN_REASON_MAX + 1];
	const char	*t1, *t2;

	if (plen == 0 || plen >= sizeof pat ||
	    memchr(pattern, '\0', plen) != NULL ||
	    memchr(value, '\0', vlen) != NULL ||
	    (t1 = memchr(value, '\t', vlen)) == NULL ||
	    (t2 = memchr(t1 + 1, '\t', vlen - (size_t)(t1 + 1 - value))) ==
	    NULL)
		return (-1);
	if (vlen - (size_t)(t2 + 1 - value) > BAN_REASON_MAX)
		return (-1);
	memcpy(pat, pattern, plen);
	pat[plen] = '\0';
	memcpy(reason, t2 + 1, vlen - (size_t)(t2 + 1 - value));
	reason[vlen - (size_t)(t2 + 1 - value)] = '\0';
	return (wire_ban_fields(pat, value, (size_t)(t1 - value), t1 + 1,
	    (size_t)(t2 - t1 - 1), reason, b, buf));
}

/*
 * Parses the value of a name's key, "node TAB name": copies the node
 * (CONFIG_NODE_MAX + 1 bytes) and the name (NAME_LEN + 1 bytes).  Returns
 * 0, or -1 if either breaks its rule.
 */
int
wire_parse_owner(const char *s, size_t len, char *node, char *name)
{
	const char	*tab = memchr(s, '\t', len);
	size_t		 nlen;

	if (tab == NULL)
		return (-1);
	nlen = (size_t)(tab - s);
	if (nlen == 0 || nlen > CONFIG_NODE_MAX)
		return (-1);
	memcpy(node, s, nlen);
	node[nlen] = '\0';
	if (memchr(node, '\0', nlen) != NULL || !config_valid_node(node))
		return (-1);
	len -= nlen + 1;
	if (!name_valid(tab + 1, len))
		return (-1);
	memcpy(name, tab + 1, len);
	name[len] = '\0';
	return (0);
}

/*
 * Parses one entry of a node's /who hash: the field is the name, the
 * value "since TAB node TAB room" (since in seconds of the epoch).
 * Returns 0 with name, *since, node and room filled, or -1.
 */
int
wire_parse_who(const char *field, size_t flen, const char *value,
    size_t vlen, struct wire_who *w)
{
	const char	*tab = memchr(value, '\t', vlen), *tab2;
	size_t		 i, nlen, rlen;
	int64_t		 t = 0;

	if (!name_valid(field, flen) || tab == NULL || tab == value)
		return (-1);
	for (i = 0; value + i < tab; i++) {
		if (value[i] < '0' || value[i] > '9' || t > INT64_MAX / 10 - 1)
			return (-1);
		t = t * 10 + (value[i] - '0');
	}
	tab2 = memchr(tab + 1, '\t', vlen - (size_t)(tab + 1 - value));
	if (tab2 == NULL)
		return (-1);
	nlen = (size_t)(tab2 - tab - 1);
	rlen = vlen - (size_t)(tab2 + 1 - value);
	if (nlen == 0 || nlen > CONFIG_NODE_MAX ||
	    !room_valid(tab2 + 1, rlen))
		return (-1);
	memcpy(w->node, tab + 1, nlen);
	w->node[nlen] = '\0';
	if (memchr(w->node, '\0', nlen) != NULL ||
	    !config_valid_node(w->node))
		return (-1);
	memcpy(w->room, tab2 + 1, rlen);
	w->room[rlen] = '\0';
	memcpy(w->name, field, flen);
	w->name[flen] = '\0';
	w->since = t;
	return (0);
}

/* Parses a SCAN cursor: decimal digits only.  Returns 0, or -1. */
int
wire_parse_cursor(const char *s, size_t len, unsigned long long *cursor)
{
	unsigned long long	v = 0;
	size_t			i;

	if (len == 0 || len > 20)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (UINT64_MAX - (unsigned)(s[i] - '0')) / 10)
			return (-1);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*cursor = v;
	return (0);
}

/*
 * Builds a name's key in Redis, "PREFIX nick: KEY" (prefix ends in ':'),
 * into buf (WIRE_KEY_MAX bytes).  The key is name.c's, so names that
 * fold together are one key across the room.
 */
void
wire_nick_key(const char *prefix, const char *name, char *buf)
{
	char	key[NAME_LEN + 1];

	name_key(name, key);
	snprintf(buf, WIRE_KEY_MAX, "%snick:%s", prefix, key);
}

/* The key of the account of name: PREFIX:account:KEY (name.c's key). */
void
wire_account_key(const char *prefix, const char *name, char *buf)
{
	char	key[NAME_LEN + 1];

	name_key(name, key);
	snprintf(buf, WIRE_KEY_MAX, "%saccount:%s", prefix, key);
}

/* The key of the account a certificate logs in: PREFIX:certfp:FP. */
void
wire_certfp_key(const char *prefix, const char *fp, char *buf)
{
	snprintf(buf, WIRE_CERTFP_KEY_MAX, "%scertfp:%s", prefix, fp);
}

/* Whether s[0..len) is a certificate fingerprint: 64 lower-case hex. */
int
wire_certfp_valid(const char *s, size_t len)
{
	size_t	i;

	if (len != 64)
		return (0);
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

/*
 * The stored form of a, in buf (size bytes, WIRE_ACCOUNT_MAX will do).
 * Returns its length, or -1 if it does not fit.
 */
int
wire_account(const struct account *a, char *buf, size_t size)
{
	size_t		i;
	int		n;

	n = snprintf(buf, size, "%s\t%s\t%lld\t%s\t", WIRE_ACCOUNT_VERSION,
	    a->name, (long long)a->created, a->hash);
	for (i = 0; i < a->ncertfps && n >= 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%s", i == 0 ? "" :
		    ",", a->certfps[i]);
	return (n < 0 || (size_t)n >= size ? -1 : n);
}

/*
 * Parses a stored account of at most max_certfps certificates into *a.
 * Every field is checked as if a client had sent it: the name by its
 * rule, the hash by hash_valid(), each fingerprint by its form.  Returns
 * 0, or -1 if any breaks its rule.
 */
int
wire_parse_account(const char *s, size_t len, unsigned max_certfps,
    struct account *a)
{
	const char	*f[5], *end = s + len, *p, *comma;
	size_t		 flen[5];
	char		 num[24];
	long long	 created;
	int		 i;

	memset(a, 0, sizeof *a);
	if (max_certfps > ACCOUNT_CERTFPS_MAX)
		max_certfps = ACCOUNT_CERTFPS_MAX;
	if (memchr(s, '\0', len) != NULL)
		return (-1);
	for (i = 0, p = s; i < 5; i++) {
		f[i] = p;
		if (i == 4)
			flen[i] = (size_t)(end - p);
		else {
			if ((p = memchr(p, '\t', (size_t)(end - p))) == NULL)
				return (-1);
			flen[i] = (size_t)(p - f[i]);
			p++;
		}
	}
	if (flen[0] != strlen(WIRE_ACCOUNT_VERSION) ||
	    memcmp(f[0], WIRE_ACCOUNT_VERSION, flen[0]) != 0 ||
	    !name_valid(f[1], flen[1]) || flen[2] == 0 ||
	    flen[2] >= sizeof num || flen[3] == 0 || flen[3] >= HASH_MAX)
		return (-1);
	memcpy(a->name, f[1], flen[1]);
	if (name_is_guest(a->name))
		return (-1);
	memcpy(num, f[2], flen[2]);
	num[flen[2]] = '\0';
	if (num[0] == '0' && flen[2] > 1)
		return (-1);
	for (i = 0; num[i] != '\0'; i++) {
		if (num[i] < '0' || num[i] > '9')
			return (-1);
	}
	if ((created = strtoll(num, NULL, 10)) < 0 || created == LLONG_MAX)
		return (-1);
	a->created = created;
	memcpy(a->hash, f[3], flen[3]);
	if (memchr(a->hash, '\t', flen[3]) != NULL || !hash_valid(a->hash))
		return (-1);
	/* None, or fingerprints separated by single commas. */
	for (p = f[4]; flen[4] != 0; p = comma + 1) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		if (a->ncertfps == max_certfps ||
		    !wire_certfp_valid(p, (size_t)(comma - p)))
			return (-1);
		memcpy(a->certfps[a->ncertfps++], p, 64);
		if (comma == end)
			break;
	}
	return (0);
}
