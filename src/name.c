/*
 * name.c: the rule for the names people go by, written once.
 *
 * A name is 1 to NAME_LEN bytes of ASCII letters, digits, '_', '-' and
 * '.', with at least one letter or digit.  Every caller uses name_valid():
 * /nick and /msg (chat.c), the fields of messages from other nodes and the
 * values read back from Redis (wire.c), so that a name a local client
 * could not have chosen never reaches a terminal or a log from anywhere.
 *
 * Two names are the same name when their keys are equal.  The key folds
 * what a reader cannot tell apart on a terminal: case, the separators '_',
 * '-' and '.', and the ASCII confusables i/l/1 (and so I), o/0, "rn"/"m",
 * and runs of v and w read as their strokes ("vv" and "w", "vw" and "vvv").
 * So "guest1", "guestl", "Guest-1" and "guest1." are one name, and only
 * one client in the room may hold it.  The key is what the
 * room's index (roster.c) and Redis (PREFIX:nick:KEY) are keyed by; the
 * name as its holder spelled it is what is shown.  The folding depends
 * only on the lower-cased letter, so names equal without regard to case
 * always have equal keys.
 *
 * Rejected: Unicode names (confusables beyond ASCII are a large table and
 * a plain terminal user cannot type most of them); UTS #39's full ASCII
 * skeleton (it also folds digits such as 5/S and 8/B, which refuses too
 * many ordinary names for little gain).
 */

#include <stdio.h>
#include <string.h>

#include "chatd.h"

/* Is ch a character a name may hold? */
int
name_char(char ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.');
}

/* Is s[0..len) a valid name?  s need not be NUL-terminated. */
int
name_valid(const char *s, size_t len)
{
	size_t	i;
	int	alnum = 0;

	if (len == 0 || len > NAME_LEN)
		return (0);
	for (i = 0; i < len; i++) {
		if (!name_char(s[i]))
			return (0);
		if (s[i] != '_' && s[i] != '-' && s[i] != '.')
			alnum = 1;
	}
	return (alnum);
}

/*
 * Writes the key of the valid name s (NUL-terminated) into key, which
 * holds NAME_LEN + 1 bytes.  The key is never longer than the name and
 * never empty.  A ban's name pattern (ban.c) folds the same way, its
 * wildcards '*' and '?' passing through.
 */
void
name_key(const char *s, char *key)
{
	size_t		n = 0;
	unsigned	strokes = 0;	/* a run of v (1) and w (2) */
	char		ch;

	for (;; s++) {
		ch = *s;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '_' || ch == '-' || ch == '.')
			continue;
		if (ch == 'v' || ch == 'w') {
			strokes += ch == 'v' ? 1 : 2;
			continue;
		}
		/*
		 * A run of v and w reads as its strokes: "vw", "wv" and "vvv"
		 * are one name, written as many w as fit, then a v if odd.
		 */
		for (; strokes >= 2; strokes -= 2)
			key[n++] = 'w';
		if (strokes == 1) {
			key[n++] = 'v';
			strokes = 0;
		}
		if (ch == '\0')
			break;
		switch (ch) {
		case 'i':
		case '1':
			ch = 'l';
			break;
		case '0':
			ch = 'o';
			break;
		}
		/* "rn" reads as the "m" it mimics. */
		if (ch == 'n' && n > 0 && key[n - 1] == 'r') {
			key[n - 1] = 'm';
			continue;
		}
		key[n++] = ch;
	}
	key[n] = '\0';
}

/* Do a and b (valid names) count as the same name? */
int
name_same(const char *a, const char *b)
{
	char	ka[NAME_LEN + 1], kb[NAME_LEN + 1];

	name_key(a, ka);
	name_key(b, kb);
	return (strcmp(ka, kb) == 0);
}

/*
 * Does name count as a guest name: is its key "guest" and folded digits?
 * Guest names are given out by the server (name_guest()) and nobody may
 * choose one but their own.  Deciding on the key means that "guestl",
 * "Guest-1" and "guest1." are refused as well as "guest1", so a name
 * chosen now can never fold onto a guest name given out later.
 */
int
name_is_guest(const char *name)
{
	char	key[NAME_LEN + 1];
	size_t	n;

	name_key(name, key);
	if (strncmp(key, "guest", 5) != 0 || key[5] == '\0')
		return (0);
	n = strspn(key + 5, "ol23456789");
	return (key[5 + n] == '\0');
}

/* Formats the guest name of number n into buf (NAME_LEN + 1 bytes). */
void
name_guest(char *buf, uint64_t n)
{
	snprintf(buf, NAME_LEN + 1, "guest%llu", (unsigned long long)n);
}
