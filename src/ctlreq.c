/*
 * ctlreq.c: the grammar of a control request (chatctl to chatd), apart
 * from acting on it.
 *
 * A request is one line, sanitised like any client's input:
 *
 *	["json" SP] COMMAND [SP ARGUMENTS]
 *
 *	status | who | rooms | bans | stats | reload	no arguments
 *	kick TARGET [REASON]
 *	ban PATTERN [DURATION] [REASON]
 *	unban PATTERN
 *	mute TARGET [DURATION]
 *	unmute TARGET
 *	announce TEXT
 *
 * TARGET is a name (name.c's rule) or "#" and a client id; PATTERN is a
 * ban pattern (ban.c); DURATION is digits and a unit, s m h d or w (a
 * REASON that looks like a duration needs a DURATION before it, and a
 * word of digits then letters that is not a duration, "30min", is an
 * error rather than the start of a reason for a permanent ban); REASON
 * and TEXT are the rest of the line, at most BAN_REASON_MAX bytes.
 * Words are separated by spaces.  The answer's format is control.c's.
 *
 * ctlreq_parse() takes the bytes and returns the request or why it is
 * not one; no server is involved, so the unit suite and the fuzz target
 * (tests/fuzz/fuzz_control.c) run it alone.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

#define CTL_ANNOUNCE_MAX	400	/* an announcement's text */

static const char *const ctlreq_names[CTL_NCMDS] = {
	[CTL_STATUS] = "status",
	[CTL_WHO] = "who",
	[CTL_ROOMS] = "rooms",
	[CTL_KICK] = "kick",
	[CTL_BAN] = "ban",
	[CTL_UNBAN] = "unban",
	[CTL_BANS] = "bans",
	[CTL_MUTE] = "mute",
	[CTL_UNMUTE] = "unmute",
	[CTL_ANNOUNCE] = "announce",
	[CTL_RELOAD] = "reload",
	[CTL_STATS] = "stats",
};

const char *
ctlreq_name(enum ctlreq_cmd cmd)
{
	return (ctlreq_names[cmd]);
}

/*
 * Cuts the next word off *p (NUL-terminating it in place) and returns it,
 * or NULL if there is none.  *p then points past the spaces after it.
 */
static char *
ctlreq_word(char **p)
{
	char	*w = *p, *end;

	while (*w == ' ')
		w++;
	if (*w == '\0') {
		*p = w;
		return (NULL);
	}
	end = w + strcspn(w, " ");
	if (*end != '\0') {
		*end++ = '\0';
		while (*end == ' ')
			end++;
	}
	*p = end;
	return (w);
}

/* TARGET: a valid name, or '#' and a client id. */
static int
ctlreq_target(const char *w, struct ctlreq *r)
{
	uint64_t	id = 0;
	size_t		i;

	if (w[0] != '#') {
		if (!name_valid(w, strlen(w)))
			return (-1);
		r->target = w;
		return (0);
	}
	if (w[1] == '\0' || strlen(w + 1) > 19)
		return (-1);
	for (i = 1; w[i] != '\0'; i++) {
		if (w[i] < '0' || w[i] > '9')
			return (-1);
		id = id * 10 + (uint64_t)(w[i] - '0');
	}
	if (id == 0)
		return (-1);
	r->target = NULL;
	r->target_id = id;
	return (0);
}

/*
 * Parses a request line (NUL-terminated, modified in place: the words are
 * cut out of it).  Returns 0 with *r filled, its strings pointing into
 * line, or -1 with *why saying what is wrong.
 */
int
ctlreq_parse(char *line, struct ctlreq *r, const char **why)
{
	char	*p = line, *w, *rest;
	size_t	 i, len = strlen(line);

	memset(r, 0, sizeof *r);
	r->text = "";
	while (len > 0 && line[len - 1] == ' ')
		line[--len] = '\0';
	if ((w = ctlreq_word(&p)) == NULL) {
		*why = "empty request";
		return (-1);
	}
	if (strcmp(w, "json") == 0) {
		r->json = 1;
		if ((w = ctlreq_word(&p)) == NULL) {
			*why = "json: no command";
			return (-1);
		}
	}
	for (i = 0; i < CTL_NCMDS; i++) {
		if (strcmp(w, ctlreq_names[i]) == 0)
			break;
	}
	if (i == CTL_NCMDS) {
		*why = "unknown command";
		return (-1);
	}
	r->cmd = (enum ctlreq_cmd)i;

	switch (r->cmd) {
	case CTL_STATUS:
	case CTL_WHO:
	case CTL_ROOMS:
	case CTL_BANS:
	case CTL_STATS:
	case CTL_RELOAD:
		if (*p != '\0') {
			*why = "this command takes no arguments";
			return (-1);
		}
		return (0);
	case CTL_KICK:
	case CTL_MUTE:
	case CTL_UNMUTE:
		if ((w = ctlreq_word(&p)) == NULL ||
		    ctlreq_target(w, r) != 0) {
			*why = "expected a name or #id";
			return (-1);
		}
		if (r->cmd == CTL_UNMUTE && *p != '\0') {
			*why = "unmute takes only a name or #id";
			return (-1);
		}
		if (r->cmd == CTL_MUTE && *p != '\0') {
			w = ctlreq_word(&p);
			if ((r->duration = ban_duration(w)) == 0 ||
			    *p != '\0') {
				*why = "expected a duration (30m, 12h, 7d)";
				return (-1);
			}
		}
		break;
	case CTL_BAN:
	case CTL_UNBAN:
		if ((w = ctlreq_word(&p)) == NULL) {
			*why = "expected a pattern";
			return (-1);
		}
		if (ban_parse(w, &r->ban, why) != 0)
			return (-1);
		if (r->cmd == CTL_UNBAN) {
			if (*p != '\0') {
				*why = "unban takes only a pattern";
				return (-1);
			}
			return (0);
		}
		/* A duration, if the next word is one. */
		rest = p;
		if ((w = ctlreq_word(&p)) != NULL &&
		    (r->duration = ban_duration(w)) == 0) {
			/* Digits then letters meant a duration: say so. */
			if (w[0] >= '0' && w[0] <= '9' && w[strspn(w,
			    "0123456789")] != '\0' && strspn(w + strspn(w,
			    "0123456789"), "abcdefghijklmnopqrstuvwxyz") ==
			    strlen(w + strspn(w, "0123456789"))) {
				*why = "expected a duration (30m, 12h, 7d)";
				return (-1);
			}
			/* Not a duration: it starts the reason; undo. */
			if (w + strlen(w) < p)
				w[strlen(w)] = ' ';
			p = rest;
		}
		break;
	case CTL_ANNOUNCE:
		if (*p == '\0') {
			*why = "announce needs a text";
			return (-1);
		}
		if (strlen(p) > CTL_ANNOUNCE_MAX) {
			*why = "text too long";
			return (-1);
		}
		r->text = p;
		return (0);
	default:
		*why = "unknown command";
		return (-1);
	}
	/* kick, ban: the rest is the reason. */
	if (strlen(p) > BAN_REASON_MAX) {
		*why = "reason too long";
		return (-1);
	}
	r->text = p;
	return (0);
}
