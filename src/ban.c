/*
 * ban.c: who may not come in: ban patterns, their grammar and the list
 * the server checks.
 *
 * A pattern is one of
 *	an address		192.0.2.7, 2001:db8::1
 *	a prefix (CIDR)		192.0.2.0/24, 2001:db8::/64
 *	a name pattern		mallory, Troll*, spam??
 * Addresses and prefixes are addr.c's grammar, kept canonical, so that
 * banning 2001:DB8:0::5/64 and 2001:db8::/64 is one ban.  A name pattern is
 * made of name characters (name.c) and the wildcards '*' and '?', at most
 * NAME_LEN long, with at least one letter or digit; it matches a name
 * without regard to case, and also when the name's key (the look-alike
 * folding of name.c) matches the pattern's, so that banning "alice" bans
 * "AL1CE" too.
 *
 * ban_parse() is the grammar: bytes in, a ban out, no server.  The list is
 * a plain TAILQ, newest first, searched linearly: it is checked once per
 * connection and once per /nick, and operators keep bans in the tens or
 * hundreds, not the millions; an address table would be the next step.
 * Persistence is store.c's, sharing with other nodes cluster.c's.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "sanitize.h"

/* A character of a name pattern: a name's (name.c), or a wildcard. */
static int
ban_name_char(char ch)
{
	return (name_char(ch) || ch == '*' || ch == '?');
}

/* Parses an address or prefix into b; 0, or -1 if it is neither. */
static int
ban_parse_addr(const char *s, struct ban *b)
{
	if (addr_parse_prefix(s, &b->net, b->pattern) != 0)
		return (-1);
	b->kind = BAN_ADDRESS;
	return (0);
}

/*
 * Parses a ban pattern (see the top of this file) into b, whose pattern
 * becomes the canonical text.  Returns 0, or -1 with *why saying what is
 * wrong.  Pure: no server, no allocation.
 */
int
ban_parse(const char *s, struct ban *b, const char **why)
{
	size_t	len = strlen(s), i;
	int	alnum = 0;

	memset(b, 0, sizeof *b);
	if (len == 0) {
		*why = "empty pattern";
		return (-1);
	}
	if (ban_parse_addr(s, b) == 0)
		return (0);
	/* A mistyped address is not a name pattern: say so. */
	if (strchr(s, ':') != NULL || strchr(s, '/') != NULL ||
	    (strchr(s, '.') != NULL && strspn(s, "0123456789.") == len)) {
		*why = "not an address, a prefix or a name pattern";
		return (-1);
	}
	if (len > NAME_LEN) {
		*why = "name pattern longer than a name";
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (!ban_name_char(s[i])) {
			*why = "not an address, a prefix or a name pattern";
			return (-1);
		}
		if (s[i] != '*' && s[i] != '?' && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			alnum = 1;
	}
	if (!alnum) {
		*why = "a name pattern needs a letter or a digit";
		return (-1);
	}
	b->kind = BAN_NAME;
	snprintf(b->pattern, sizeof b->pattern, "%s", s);
	name_key(s, b->key);
	return (0);
}

/*
 * Checks a ban's reason: at most BAN_REASON_MAX bytes of text that the
 * sanitiser leaves as it is (empty, or NULL, is none), copied into out
 * (BAN_REASON_MAX + 1 bytes).  Returns 0, or -1.
 */
int
ban_reason(const char *in, char *out)
{
	char	buf[SANITIZE_MAX(BAN_REASON_MAX) + 1];
	size_t	len = in != NULL ? strlen(in) : 0;

	if (len > BAN_REASON_MAX)
		return (-1);
	if (len != 0 && (sanitize_line(in, len, buf) != len ||
	    memcmp(buf, in, len) != 0))
		return (-1);
	memcpy(out, in != NULL ? in : "", len);
	out[len] = '\0';
	return (0);
}

/* Does the ban (of an address kind) cover the address in text? */
int
ban_match_addr(const struct ban *b, const char *text)
{
	return (b->kind == BAN_ADDRESS && addr_match(&b->net, text));
}

/* Does the ban (of the name kind) cover the valid name? */
int
ban_match_name(const struct ban *b, const char *name)
{
	char	key[NAME_LEN + 1];

	if (b->kind != BAN_NAME)
		return (0);
	if (fnmatch(b->pattern, name, FNM_CASEFOLD) == 0)
		return (1);
	name_key(name, key);
	return (fnmatch(b->key, key, 0) == 0);
}

/*
 * Parses a duration: digits and one unit, s, m, h, d or w ("30m", "12h",
 * "7d"), at most ten years.  Returns seconds, or 0 if s is not one.
 */
int64_t
ban_duration(const char *s)
{
	int64_t	v = 0, unit;
	size_t	i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > BAN_DURATION_MAX)
			return (0);
	}
	if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
		return (0);
	switch (s[i]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return (0);
	}
	if (v == 0 || v > BAN_DURATION_MAX / unit)
		return (0);
	return (v * unit);
}

/* The list ---------------------------------------------------------- */

void
ban_init(struct bans *l)
{
	TAILQ_INIT(&l->list);
	l->n = 0;
}

static void
ban_free_one(struct ban *b)
{
	free(b->reason);
	free(b);
}

void
ban_clear(struct bans *l)
{
	struct ban	*b;

	while ((b = TAILQ_FIRST(&l->list)) != NULL) {
		TAILQ_REMOVE(&l->list, b, entry);
		ban_free_one(b);
	}
	l->n = 0;
}

/* The ban with this canonical pattern, or NULL. */
struct ban *
ban_find(struct bans *l, const char *pattern)
{
	struct ban	*b;

	TAILQ_FOREACH(b, &l->list, entry) {
		if (strcmp(b->pattern, pattern) == 0)
			return (b);
	}
	return (NULL);
}

/*
 * Adds a copy of b (from ban_parse(), with expires, created and reason
 * set; reason is copied), replacing a ban of the same pattern.  Returns
 * the ban in the list.
 */
struct ban *
ban_add(struct bans *l, const struct ban *b)
{
	struct ban	*n;

	ban_remove(l, b->pattern);
	n = xmalloc(sizeof *n);
	*n = *b;
	n->reason = b->reason != NULL ? xstrdup(b->reason) : NULL;
	TAILQ_INSERT_HEAD(&l->list, n, entry);
	l->n++;
	return (n);
}

/* Removes the ban of this canonical pattern.  Returns 1 if there was one. */
int
ban_remove(struct bans *l, const char *pattern)
{
	struct ban	*b;

	if ((b = ban_find(l, pattern)) == NULL)
		return (0);
	TAILQ_REMOVE(&l->list, b, entry);
	ban_free_one(b);
	l->n--;
	return (1);
}

/* The first ban in force at now covering the address, or NULL. */
struct ban *
ban_check_addr(struct bans *l, const char *addr, int64_t now)
{
	struct ban	*b;

	TAILQ_FOREACH(b, &l->list, entry) {
		if ((b->expires == 0 || b->expires > now) &&
		    ban_match_addr(b, addr))
			return (b);
	}
	return (NULL);
}

/* The first ban in force at now covering the name, or NULL. */
struct ban *
ban_check_name(struct bans *l, const char *name, int64_t now)
{
	struct ban	*b;

	TAILQ_FOREACH(b, &l->list, entry) {
		if ((b->expires == 0 || b->expires > now) &&
		    ban_match_name(b, name))
			return (b);
	}
	return (NULL);
}

/* Drops the bans expired at now.  Returns how many. */
unsigned
ban_prune(struct bans *l, int64_t now)
{
	struct ban	*b, *next;
	unsigned	 n = 0;

	for (b = TAILQ_FIRST(&l->list); b != NULL; b = next) {
		next = TAILQ_NEXT(b, entry);
		if (b->expires != 0 && b->expires <= now) {
			TAILQ_REMOVE(&l->list, b, entry);
			ban_free_one(b);
			l->n--;
			n++;
		}
	}
	return (n);
}
