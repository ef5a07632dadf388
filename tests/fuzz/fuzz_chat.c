/*
 * libFuzzer target for what a chat client types: the sanitiser, the
 * command grammar (command.c), the name rule (name.c) and the room name
 * rule (room.c), in the order server_input() and chat.c run them.
 *
 * The input is one received line.  It is sanitised into a buffer of
 * SANITIZE_MAX(len) + 1 bytes and NUL-terminated, as server_input() does
 * (a line that sanitises to nothing is dropped there, and here), then
 * command_parse()d.  Invariants: chat text lies within the line and holds
 * no CR or LF, and is the whole line or, for "//", the line less its
 * first '/'; a command's verb starts after the '/' and holds no space, a
 * known verb matches its table entry without regard to case and an
 * unknown one matches none, and the arguments lie within the line with
 * no leading or trailing space.
 *
 * Then each command's arguments go through the grammar chat.c applies:
 * /msg takes a word with command_word() (the word lies within the
 * arguments, holds no space and is followed by one or the end) and, if
 * name_valid(), its key is checked; /nick checks its whole argument the
 * same way.  A key must be non-empty, no longer than the name, hold no
 * capital, be its own key and be the key of the name upper-cased and
 * lower-cased, and name_is_guest() must agree for all three spellings.
 * /who's page (after "*" too) and /rooms' must be 0 or within 1..max,
 * and equal a model's reading of the digits.  /join's arguments go
 * through command_join(), which must agree with a model ("#ROOM" and at
 * most the word "secret" in any case; the word within the arguments,
 * without spaces), and its word through room_valid(), which must agree
 * with a model of the rule; a valid room's key must be as long as the
 * name, lower case, valid, its own key and the key of the name in either
 * case.  The whole line is a room name to room_valid() too.  Any breach
 * aborts.
 */

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"
#include "sanitize.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

/* The key promises of name.c for the valid name s[0..len). */
static void
fuzz_check_name(const char *s, size_t len)
{
	char	name[NAME_LEN + 1], upper[NAME_LEN + 1], lower[NAME_LEN + 1];
	char	key[NAME_LEN + 1], k2[NAME_LEN + 1];
	size_t	i, klen;
	int	guest;

	FUZZ_CHECK(len >= 1 && len <= NAME_LEN);
	memcpy(name, s, len);
	name[len] = '\0';
	for (i = 0; i <= len; i++) {
		upper[i] = (char)toupper((unsigned char)name[i]);
		lower[i] = (char)tolower((unsigned char)name[i]);
	}

	name_key(name, key);
	klen = strlen(key);
	FUZZ_CHECK(klen >= 1 && klen <= len);
	for (i = 0; i < klen; i++) {
		FUZZ_CHECK((key[i] >= 'a' && key[i] <= 'z') ||
		    (key[i] >= '2' && key[i] <= '9'));
		FUZZ_CHECK(key[i] != 'i');
	}
	name_key(key, k2);
	FUZZ_CHECK(strcmp(k2, key) == 0);
	name_key(upper, k2);
	FUZZ_CHECK(strcmp(k2, key) == 0);
	name_key(lower, k2);
	FUZZ_CHECK(strcmp(k2, key) == 0);
	FUZZ_CHECK(name_same(name, upper) && name_same(lower, name));

	guest = name_is_guest(name);
	FUZZ_CHECK(name_is_guest(upper) == guest);
	FUZZ_CHECK(name_is_guest(lower) == guest);
	FUZZ_CHECK(!guest || strncmp(key, "guest", 5) == 0);
}

/* command_page() against a reading of the digits that cannot overflow. */
static void
fuzz_check_page(const char *args, unsigned max)
{
	unsigned long long	v = 0;
	unsigned		page, want;
	const char		*p;
	int			big = 0;

	page = command_page(args, max);
	FUZZ_CHECK(page == 0 || (page >= 1 && page <= max) ||
	    (*args == '\0' && page == 1));
	if (*args == '\0') {
		FUZZ_CHECK(page == 1);
		return;
	}
	for (p = args; *p >= '0' && *p <= '9'; p++) {
		if (v > UINT_MAX)
			big = 1;
		else
			v = v * 10 + (unsigned)(*p - '0');
	}
	if (*p != '\0' || big || v < 1 || v > max)
		want = 0;
	else
		want = (unsigned)v;
	FUZZ_CHECK(page == want);
}

/* The room name rule, written again plainly. */
static int
fuzz_room_model(const char *s, size_t len)
{
	size_t	i;

	if (len < 2 || len > ROOM_NAME_LEN + 1 || s[0] != '#')
		return (0);
	for (i = 1; i < len; i++) {
		if (!isascii((unsigned char)s[i]) ||
		    !(isalnum((unsigned char)s[i]) || s[i] == '-' ||
		    s[i] == '_' || s[i] == '.'))
			return (0);
	}
	return (1);
}

/* room_valid() against the model, and a valid name's key. */
static void
fuzz_check_room(const char *s, size_t len)
{
	char	name[ROOM_NAME_LEN + 2], upper[ROOM_NAME_LEN + 2];
	char	lower[ROOM_NAME_LEN + 2], key[ROOM_NAME_LEN + 2];
	char	k2[ROOM_NAME_LEN + 2];
	size_t	i;

	FUZZ_CHECK(room_valid(s, len) == fuzz_room_model(s, len));
	if (!room_valid(s, len))
		return;
	memcpy(name, s, len);
	name[len] = '\0';
	for (i = 0; i <= len; i++) {
		upper[i] = (char)toupper((unsigned char)name[i]);
		lower[i] = (char)tolower((unsigned char)name[i]);
	}
	room_key(name, key);
	FUZZ_CHECK(strlen(key) == len && strcmp(key, lower) == 0);
	FUZZ_CHECK(room_valid(key, len));
	room_key(key, k2);
	FUZZ_CHECK(strcmp(k2, key) == 0);
	room_key(upper, k2);
	FUZZ_CHECK(strcmp(k2, key) == 0);
}

/* command_join() against a model of /join's arguments. */
static void
fuzz_join(const char *args)
{
	const char	*name = NULL, *p;
	size_t		 len = 0, wlen;
	int		 secret = -1, ok, want;

	ok = command_join(args, &name, &len, &secret);
	/* The model: a word, then nothing or exactly "secret". */
	for (p = args; *p == ' '; p++)
		;
	wlen = strcspn(p, " ");
	want = wlen != 0;
	if (want) {
		p += wlen;
		while (*p == ' ')
			p++;
		want = *p == '\0' || strcasecmp(p, "secret") == 0;
	}
	FUZZ_CHECK(ok == want);
	if (!ok)
		return;
	FUZZ_CHECK(name >= args && len == wlen &&
	    name + len <= args + strlen(args));
	FUZZ_CHECK(memchr(name, ' ', len) == NULL);
	FUZZ_CHECK(name[len] == ' ' || name[len] == '\0');
	FUZZ_CHECK(secret == (*p != '\0'));
	fuzz_check_room(name, len);
}

static void
fuzz_check_args(const char *line, size_t n, const char *args)
{
	size_t	alen;

	FUZZ_CHECK(args > line && args <= line + n);
	alen = strlen(args);
	FUZZ_CHECK(args + alen <= line + n);
	if (alen > 0)
		FUZZ_CHECK(args[0] != ' ' && args[alen - 1] != ' ');
}

static void
fuzz_msg(const char *args)
{
	const char	*rest = args, *word, *prev;
	size_t		 len;
	int		 words = 0;

	for (;;) {
		prev = rest;
		if (!command_word(&rest, &word, &len)) {
			FUZZ_CHECK(len == 0 && *rest == '\0');
			break;
		}
		FUZZ_CHECK(word >= prev && word + len <= rest);
		FUZZ_CHECK(memchr(word, ' ', len) == NULL);
		FUZZ_CHECK(word[len] == ' ' || word[len] == '\0');
		FUZZ_CHECK(*rest != ' ');
		/* chat.c looks only at the first word, the name. */
		if (words++ == 0 && name_valid(word, len))
			fuzz_check_name(word, len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct command_info	*ci;
	struct command			 cmd;
	const char			*p;
	char				*line;
	size_t				 n, i;

	line = malloc(SANITIZE_MAX(size) + 1);
	if (line == NULL)
		abort();
	n = sanitize_line((const char *)data, size, line);
	FUZZ_CHECK(n <= SANITIZE_MAX(size));
	if (n == 0) {
		free(line);
		return (0);
	}
	line[n] = '\0';
	FUZZ_CHECK(strlen(line) == n);
	fuzz_check_room(line, n);

	command_parse(line, n, &cmd);
	if (cmd.id == CMD_CHAT) {
		FUZZ_CHECK(cmd.verb == NULL && cmd.args == NULL);
		FUZZ_CHECK(cmd.text >= line && cmd.text + cmd.len == line + n);
		FUZZ_CHECK(memchr(cmd.text, '\r', cmd.len) == NULL);
		FUZZ_CHECK(memchr(cmd.text, '\n', cmd.len) == NULL);
		if (cmd.text == line)
			FUZZ_CHECK(line[0] != '/');
		else
			FUZZ_CHECK(cmd.text == line + 1 && line[0] == '/' &&
			    line[1] == '/');
		free(line);
		return (0);
	}

	FUZZ_CHECK(line[0] == '/' && cmd.text == NULL);
	FUZZ_CHECK(cmd.verb == line + 1);
	FUZZ_CHECK(cmd.verb + cmd.verb_len <= line + n);
	FUZZ_CHECK(memchr(cmd.verb, ' ', cmd.verb_len) == NULL);
	FUZZ_CHECK(cmd.verb[cmd.verb_len] == ' ' ||
	    cmd.verb[cmd.verb_len] == '\0');
	fuzz_check_args(line, n, cmd.args);
	for (i = 0; (ci = command_nth(i)) != NULL; i++) {
		if (strlen(ci->name) == cmd.verb_len &&
		    strncasecmp(ci->name, cmd.verb, cmd.verb_len) == 0)
			break;
	}
	if (cmd.id == CMD_UNKNOWN)
		FUZZ_CHECK(ci == NULL);
	else
		FUZZ_CHECK(ci != NULL && ci->id == cmd.id &&
		    command_info(cmd.id) == ci);

	switch (cmd.id) {
	case CMD_MSG:
		fuzz_msg(cmd.args);
		break;
	case CMD_NICK:
		if (name_valid(cmd.args, strlen(cmd.args)))
			fuzz_check_name(cmd.args, strlen(cmd.args));
		break;
	case CMD_WHO:
	case CMD_ROOMS:
		/* "/who * PAGE": the page after the '*' and its spaces. */
		p = cmd.args;
		if (cmd.id == CMD_WHO && *p == '*')
			for (p++; *p == ' '; p++)
				;
		/* chat.c's max for who_max 100, and a small one. */
		fuzz_check_page(p, UINT_MAX / 100 - 1);
		fuzz_check_page(p, 10);
		break;
	case CMD_JOIN:
		fuzz_join(cmd.args);
		break;
	default:
		break;
	}
	free(line);
	return (0);
}
