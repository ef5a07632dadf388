/*
 * libFuzzer target for the control protocol's grammar: ctlreq_parse(),
 * and under it ban_parse(), ban_duration() and the ban record of wire.c.
 *
 * The input is a request line as chatd sees it: sanitised as
 * server_input() does, NUL-terminated, parsed.  A request that parses
 * must be one chatd can act on: a command in range; a target that is a
 * valid name, or an id above zero; a ban pattern that parses again to
 * itself; a duration of zero or within the ten-year bound, only where one
 * is taken; a reason within BAN_REASON_MAX (an announcement within its
 * bound) that sanitising leaves as it is, with no space at either end,
 * and that is the rest of the line.  A ban that parses must also be
 * accepted when it comes back from Redis (wire_parse_ban()) or from the
 * database (ban_parse() and ban_reason(), as store.c loads it).  A request
 * that does not parse must say why.
 *
 * The same bytes go to ban_parse() (canonical text a fixed point, host
 * bits clear, the ban covering its own network or a name it spells), to
 * ban_duration() (against a model), and, split at the first 0xff byte
 * into a pattern and a value, to wire_parse_ban().  Any breach aborts.
 *
 * Strings are in allocations of their exact size, but for one spare NUL
 * after the request line and the duration: ban_duration() reads the byte
 * after the NUL of an all-digit word ("mute alice 10"), which was
 * reported; the spare byte (FUZZ_SLACK) goes when that is fixed, so that
 * the fuzzer meanwhile finds anything else.
 */

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "sanitize.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

#define FUZZ_SLACK	1	/* see above */
#define FUZZ_NOW	1700000000LL
#define ANNOUNCE_MAX	400	/* ctlreq.c's CTL_ANNOUNCE_MAX */

/* A NUL-terminated copy of len bytes, with slack spare NULs after it. */
static char *
fuzz_copy(const void *p, size_t len, size_t slack)
{
	char	*s;

	if ((s = calloc(1, len + 1 + slack)) == NULL)
		abort();
	memcpy(s, p, len);
	return (s);
}

/* Is s[0..len) left as it is by the sanitiser? */
static int
fuzz_clean(const char *s, size_t len)
{
	char	*out;
	int	 same;

	if (len == 0)
		return (1);
	if ((out = malloc(SANITIZE_MAX(len))) == NULL)
		abort();
	same = sanitize_line(s, len, out) == len && memcmp(out, s, len) == 0;
	free(out);
	return (same);
}

/* A ban as chatd keeps and shares it must be read back as it was. */
static void
fuzz_check_stored(const struct ban *b, int64_t duration, const char *text)
{
	struct ban	 again;
	const char	*why;
	char		 value[64 + BAN_REASON_MAX], buf[BAN_REASON_MAX + 1];
	int		 n;

	/* Redis: PREFIX:bans PATTERN "expires TAB created TAB reason". */
	n = snprintf(value, sizeof value, "%lld\t%lld\t%s",
	    duration != 0 ? FUZZ_NOW + (long long)duration : 0LL, FUZZ_NOW,
	    text);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof value);
	FUZZ_CHECK(wire_parse_ban(b->pattern, strlen(b->pattern), value,
	    (size_t)n, &again, buf) == 0);
	FUZZ_CHECK(strcmp(again.pattern, b->pattern) == 0);
	FUZZ_CHECK(again.expires == (duration != 0 ? FUZZ_NOW + duration : 0));
	FUZZ_CHECK(strcmp(buf, text) == 0);

	/* SQLite: store_ban_load() checks a row with these two. */
	FUZZ_CHECK(ban_parse(b->pattern, &again, &why) == 0);
	FUZZ_CHECK(ban_reason(text, buf) == 0);
}

/* Does line, less trailing spaces, end in text? */
static int
fuzz_ends_with(const char *line, const char *text)
{
	size_t	n = strlen(line), t = strlen(text);

	while (n > 0 && line[n - 1] == ' ')
		n--;
	return (t <= n && memcmp(line + n - t, text, t) == 0);
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
	struct ctlreq	 r;
	struct ban	 b;
	const char	*why = NULL;
	char		*scratch, *line, *orig, reason[BAN_REASON_MAX + 1];
	size_t		 n, tlen;
	int		 rc;

	/* server_input(): the line sanitised, then NUL-terminated. */
	if ((scratch = malloc(size > 0 ? SANITIZE_MAX(size) : 1)) == NULL)
		abort();
	n = sanitize_line((const char *)data, size, scratch);
	FUZZ_CHECK(n <= SANITIZE_MAX(size));
	line = fuzz_copy(scratch, n, FUZZ_SLACK);
	orig = fuzz_copy(scratch, n, 0);
	free(scratch);

	memset(&r, 0xa5, sizeof r);
	rc = ctlreq_parse(line, &r, &why);
	if (rc != 0) {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		goto out;
	}

	FUZZ_CHECK((unsigned)r.cmd < CTL_NCMDS);
	FUZZ_CHECK(ctlreq_name(r.cmd) != NULL);
	FUZZ_CHECK(r.json == 0 || r.json == 1);
	FUZZ_CHECK(strstr(orig, ctlreq_name(r.cmd)) != NULL);
	FUZZ_CHECK(!r.json || strstr(orig, "json") != NULL);

	/* The target. */
	switch (r.cmd) {
	case CTL_KICK:
	case CTL_MUTE:
	case CTL_UNMUTE:
		if (r.target != NULL)
			FUZZ_CHECK(name_valid(r.target, strlen(r.target)));
		else
			FUZZ_CHECK(r.target_id > 0);
		break;
	default:
		FUZZ_CHECK(r.target == NULL && r.target_id == 0);
		break;
	}

	/* The pattern. */
	if (r.cmd == CTL_BAN || r.cmd == CTL_UNBAN) {
		FUZZ_CHECK(r.ban.kind == BAN_ADDRESS || r.ban.kind == BAN_NAME);
		FUZZ_CHECK(ban_parse(r.ban.pattern, &b, &why) == 0);
		FUZZ_CHECK(strcmp(b.pattern, r.ban.pattern) == 0);
		FUZZ_CHECK(b.kind == r.ban.kind);
	} else
		FUZZ_CHECK(r.ban.kind == 0);

	/* The duration. */
	FUZZ_CHECK(r.duration >= 0 && r.duration <= BAN_DURATION_MAX);
	if (r.cmd != CTL_BAN && r.cmd != CTL_MUTE)
		FUZZ_CHECK(r.duration == 0);

	/* The text: clean, bounded, trimmed, the rest of the line. */
	FUZZ_CHECK(r.text != NULL);
	tlen = strlen(r.text);
	switch (r.cmd) {
	case CTL_KICK:
	case CTL_BAN:
		FUZZ_CHECK(tlen <= BAN_REASON_MAX);
		FUZZ_CHECK(ban_reason(r.text, reason) == 0);
		break;
	case CTL_ANNOUNCE:
		FUZZ_CHECK(tlen >= 1 && tlen <= ANNOUNCE_MAX);
		break;
	default:
		FUZZ_CHECK(tlen == 0);
		break;
	}
	FUZZ_CHECK(fuzz_clean(r.text, tlen));
	if (tlen > 0) {
		FUZZ_CHECK(r.text >= line && r.text + tlen <= line + n);
		FUZZ_CHECK(r.text[0] != ' ' && r.text[tlen - 1] != ' ');
		FUZZ_CHECK(fuzz_ends_with(orig, r.text));
	}

	if (r.cmd == CTL_BAN)
		fuzz_check_stored(&r.ban, r.duration, r.text);
out:
	free(line);
	free(orig);
}

/* The address text of an address ban: its pattern up to any '/'. */
static void
fuzz_network(const struct ban *b, char *out, size_t size)
{
	size_t	n = strcspn(b->pattern, "/");

	FUZZ_CHECK(n < size);
	memcpy(out, b->pattern, n);
	out[n] = '\0';
}

static void
fuzz_pattern(const uint8_t *data, size_t size)
{
	struct ban	 b, again;
	const char	*why = NULL;
	char		*s, text[BAN_PATTERN_MAX], name[NAME_LEN + 1];
	char		 key[NAME_LEN + 1];
	size_t		 i, len, alen;

	s = fuzz_copy(data, size, 0);
	if (ban_parse(s, &b, &why) != 0) {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		free(s);
		return;
	}
	FUZZ_CHECK(memchr(b.pattern, '\0', sizeof b.pattern) != NULL);
	FUZZ_CHECK(ban_parse(b.pattern, &again, &why) == 0);
	FUZZ_CHECK(strcmp(again.pattern, b.pattern) == 0);
	FUZZ_CHECK(again.kind == b.kind && again.net.prefix == b.net.prefix &&
	    memcmp(again.net.addr, b.net.addr, sizeof b.net.addr) == 0);

	if (b.kind == BAN_ADDRESS) {
		FUZZ_CHECK(b.net.family == AF_INET || b.net.family == AF_INET6);
		alen = b.net.family == AF_INET ? 4 : 16;
		FUZZ_CHECK(b.net.prefix <= 8 * alen);
		/* Host bits clear. */
		for (i = b.net.prefix; i < 8 * alen; i++)
			FUZZ_CHECK((b.net.addr[i / 8] & (0x80 >> (i % 8))) == 0);
		fuzz_network(&b, text, sizeof text);
		FUZZ_CHECK(ban_match_addr(&b, text));
		FUZZ_CHECK(!ban_match_name(&b, "alice"));
	} else {
		FUZZ_CHECK(b.kind == BAN_NAME);
		/* Kept as written. */
		FUZZ_CHECK(strcmp(b.pattern, s) == 0);
		len = strlen(b.pattern);
		FUZZ_CHECK(len >= 1 && len <= NAME_LEN);
		for (i = 0; i < len; i++)
			FUZZ_CHECK(name_char(b.pattern[i]) ||
			    b.pattern[i] == '*' || b.pattern[i] == '?');
		name_key(b.pattern, key);
		FUZZ_CHECK(strcmp(key, b.key) == 0);
		/* The name it spells ('*' as none, '?' as 'x') is covered. */
		for (i = 0, len = 0; b.pattern[i] != '\0'; i++) {
			if (b.pattern[i] != '*')
				name[len++] = b.pattern[i] == '?' ? 'x' :
				    b.pattern[i];
		}
		name[len] = '\0';
		if (name_valid(name, len))
			FUZZ_CHECK(ban_match_name(&b, name));
		FUZZ_CHECK(!ban_match_addr(&b, "192.0.2.1"));
	}
	free(s);
}

/* ban_duration() again, the slow way. */
static int64_t
fuzz_duration_model(const char *s)
{
	int64_t	v = 0, unit;
	size_t	i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v <= BAN_DURATION_MAX)
			v = v * 10 + (s[i] - '0');
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
		unit = 604800;
		break;
	default:
		return (0);
	}
	if (v == 0 || v > BAN_DURATION_MAX / unit)
		return (0);
	return (v * unit);
}

static void
fuzz_duration(const uint8_t *data, size_t size)
{
	char	*s = fuzz_copy(data, size, FUZZ_SLACK);
	int64_t	 d;

	d = ban_duration(s);
	FUZZ_CHECK(d >= 0 && d <= BAN_DURATION_MAX);
	FUZZ_CHECK(d == fuzz_duration_model(s));
	free(s);
}

static void
fuzz_record(const uint8_t *data, size_t size)
{
	const uint8_t	*ff = memchr(data, 0xff, size);
	struct ban	 b;
	char		*pattern, *value, buf[BAN_REASON_MAX + 1];
	char		 check[BAN_REASON_MAX + 1];
	const char	*t2;
	size_t		 plen, vlen;

	plen = ff != NULL ? (size_t)(ff - data) : size;
	vlen = ff != NULL ? size - plen - 1 : 0;
	/* Exact allocations, not NUL-terminated: lengths are what count. */
	if ((pattern = malloc(plen > 0 ? plen : 1)) == NULL ||
	    (value = malloc(vlen > 0 ? vlen : 1)) == NULL)
		abort();
	memcpy(pattern, data, plen);
	if (vlen > 0)
		memcpy(value, ff + 1, vlen);

	memset(buf, 'X', sizeof buf);
	if (wire_parse_ban(pattern, plen, value, vlen, &b, buf) == 0) {
		/* The pattern was canonical; the reason is what followed. */
		FUZZ_CHECK(strlen(b.pattern) == plen &&
		    memcmp(b.pattern, pattern, plen) == 0);
		FUZZ_CHECK(b.reason == buf);
		FUZZ_CHECK(memchr(buf, '\0', sizeof buf) != NULL);
		FUZZ_CHECK(ban_reason(buf, check) == 0);
		FUZZ_CHECK(b.expires >= 0 && b.expires <= 999999999999LL);
		FUZZ_CHECK(b.created >= 0 && b.created <= 999999999999LL);
		t2 = memchr(value, '\t', vlen);
		FUZZ_CHECK(t2 != NULL);
		t2 = memchr(t2 + 1, '\t', vlen - (size_t)(t2 + 1 - value));
		FUZZ_CHECK(t2 != NULL);
		FUZZ_CHECK(strlen(buf) == vlen - (size_t)(t2 + 1 - value) &&
		    memcmp(buf, t2 + 1, strlen(buf)) == 0);
	}
	free(pattern);
	free(value);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A request is one line of at most CONTROL_LINE_MAX bytes. */
	if (size > CONTROL_LINE_MAX)
		return (0);
	fuzz_request(data, size);
	fuzz_pattern(data, size);
	fuzz_duration(data, size);
	fuzz_record(data, size);
	return (0);
}
