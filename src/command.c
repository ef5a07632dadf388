/*
 * command.c: the grammar of what a chat client types, apart from acting
 * on it.
 *
 * A sanitised line is either chat or a command.  It is chat unless it
 * starts with '/'; "//x" is chat with one '/' removed.  A command is
 * "/verb args": the verb is matched without regard to case against the
 * table below, and the arguments lose their leading and trailing spaces
 * (they would otherwise end up in names and reasons).  command_word()
 * takes the first word off the arguments (the NAME of /msg NAME TEXT),
 * command_join() reads /join's, command_page() a page number.
 * The table also holds each command's usage and help text, so /help, the
 * usage notices and the man page's list have one source.
 *
 * These functions take bytes and return a result: no server, client or
 * socket, so that the unit suite and the fuzz target (tests/fuzz/
 * fuzz_chat.c) run them alone.  chat.c maps each command to its handler.
 */

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"

static const struct command_info command_table[] = {
	{ CMD_HELP, "help", "/help", "this list" },
	{ CMD_WHO, "who", "/who [*] [PAGE]",
	    "who is in this room (*: everyone, names only)" },
	{ CMD_NICK, "nick", "/nick NAME", "change your name" },
	{ CMD_ME, "me", "/me ACTION", "say that you do something" },
	{ CMD_MSG, "msg", "/msg NAME TEXT", "private message to NAME" },
	{ CMD_JOIN, "join", "/join #ROOM [secret]",
	    "go to ROOM, made if new (secret: not listed)" },
	{ CMD_PART, "part", "/part", "back to the default room" },
	{ CMD_ROOMS, "rooms", "/rooms [PAGE]",
	    "the rooms, how many are in each, their topics" },
	{ CMD_TOPIC, "topic", "/topic [TEXT]",
	    "show or set this room's topic" },
	{ CMD_QUIT, "quit", "/quit [REASON]", "leave" },
	{ CMD_REGISTER, "register", "/register PASSWORD",
	    "make your name yours (over TLS)" },
	{ CMD_LOGIN, "login", "/login NAME PASSWORD",
	    "log in to NAME, and take it (over TLS)" },
	{ CMD_PASSWORD, "password", "/password OLD NEW",
	    "change your password" },
	{ CMD_LOGOUT, "logout", "/logout", "log out, and become a guest" },
	{ CMD_UNREGISTER, "unregister", "/unregister PASSWORD",
	    "delete your account" },
	{ CMD_CERTFP, "certfp", "/certfp add|list|del [SHA256:HEX]",
	    "log in by this TLS client certificate" },
	{ CMD_KICK, "kick", "/kick NAME [REASON]",
	    "operators: disconnect NAME" },
	{ CMD_BAN, "ban", "/ban NAME|ADDRESS[/BITS] [DURATION] [REASON]",
	    "operators: keep out a name or an address" },
	{ CMD_UNBAN, "unban", "/unban PATTERN", "operators: lift a ban" },
	{ CMD_MUTE, "mute", "/mute NAME [DURATION]",
	    "operators: nobody sees what NAME says" },
	{ CMD_UNMUTE, "unmute", "/unmute NAME", "operators: end a mute" },
	{ CMD_ANNOUNCE, "announce", "/announce TEXT",
	    "operators: say TEXT to everyone on every node" },
};

/* The table entry of a command, for its usage and help. */
const struct command_info *
command_info(enum command_id id)
{
	size_t	i;

	for (i = 0; i < COMMAND_COUNT; i++) {
		if (command_table[i].id == id)
			return (&command_table[i]);
	}
	return (NULL);
}

/* The i-th command of the table (for /help), or NULL past the end. */
const struct command_info *
command_nth(size_t i)
{
	return (i < COMMAND_COUNT ? &command_table[i] : NULL);
}

/*
 * Parses line[0..len), a sanitised line, NUL-terminated at len, which is
 * modified (trailing spaces of a command are cut off).  Fills *cmd:
 * CMD_CHAT with the text to say, or a command with its arguments, or
 * CMD_UNKNOWN with the verb as typed.  Every pointer in *cmd points into
 * line.
 */
void
command_parse(char *line, size_t len, struct command *cmd)
{
	size_t	i;

	memset(cmd, 0, sizeof *cmd);
	if (len == 0 || line[0] != '/' || (len > 1 && line[1] == '/')) {
		cmd->id = CMD_CHAT;
		cmd->text = line + (len > 0 && line[0] == '/');
		cmd->len = len - (len > 0 && line[0] == '/');
		return;
	}
	while (len > 1 && line[len - 1] == ' ')
		line[--len] = '\0';
	cmd->verb = line + 1;
	cmd->verb_len = strcspn(cmd->verb, " ");
	cmd->args = cmd->verb + cmd->verb_len;
	while (*cmd->args == ' ')
		cmd->args++;
	cmd->id = CMD_UNKNOWN;
	for (i = 0; i < COMMAND_COUNT; i++) {
		if (strlen(command_table[i].name) == cmd->verb_len &&
		    strncasecmp(command_table[i].name, cmd->verb,
		    cmd->verb_len) == 0) {
			cmd->id = command_table[i].id;
			break;
		}
	}
}

/*
 * Takes the first space-separated word off *args: sets *word and *len to
 * it and advances *args past it and the spaces after.  Returns 0 if there
 * was no word.
 */
int
command_word(const char **args, const char **word, size_t *len)
{
	const char	*p = *args;

	while (*p == ' ')
		p++;
	*word = p;
	*len = strcspn(p, " ");
	p += *len;
	while (*p == ' ')
		p++;
	*args = p;
	return (*len != 0);
}

/*
 * The arguments of /join, "#ROOM [secret]" ("secret" in any case): sets
 * *name and *len to the room's word, which is not checked against the
 * room rule (room_valid() is), and *secret.  Returns 0 if args are not
 * that shape.
 */
int
command_join(const char *args, const char **name, size_t *len, int *secret)
{
	const char	*rest = args;

	if (!command_word(&rest, name, len) ||
	    (*rest != '\0' && strcasecmp(rest, "secret") != 0))
		return (0);
	*secret = *rest != '\0';
	return (1);
}

/*
 * Parses a page number for /who and /rooms: empty means 1; else 1 to max,
 * decimal, nothing after.  Returns the page, or 0 if args is not one.
 */
unsigned
command_page(const char *args, unsigned max)
{
	unsigned long	v = 0;

	if (*args == '\0')
		return (1);
	for (; *args >= '0' && *args <= '9'; args++) {
		v = v * 10 + (unsigned long)(*args - '0');
		if (v > max)
			return (0);
	}
	return (*args == '\0' && v >= 1 ? (unsigned)v : 0);
}

/*
 * The arguments of an account command, by their grammar: passwords are
 * one word (no spaces), names follow name.c's rule, and /certfp takes
 * add, list or del, del with a fingerprint ("SHA256:" and 64 hex digits,
 * either case, as chatctl who and /certfp list show it).  Pointers point
 * into args.  Returns 0, or -1 with *why (the usage) if args do not fit.
 */
int
command_account(enum command_id id, const char *args, struct account_args *a,
    const char **why)
{
	const char	*w, *rest = args, *fp;
	size_t		 len, i;

	memset(a, 0, sizeof *a);
	*why = command_info(id) != NULL ? command_info(id)->usage : "";
	switch (id) {
	case CMD_REGISTER:
	case CMD_UNREGISTER:
		if (!command_word(&rest, &a->password, &a->password_len) ||
		    *rest != '\0')
			return (-1);
		return (0);
	case CMD_LOGIN:
		if (!command_word(&rest, &a->name, &a->name_len) ||
		    !command_word(&rest, &a->password, &a->password_len) ||
		    *rest != '\0')
			return (-1);
		if (!name_valid(a->name, a->name_len)) {
			*why = "no such account: names are 1 to 24 letters, "
			    "digits, _, - or .";
			return (-1);
		}
		return (0);
	case CMD_PASSWORD:
		if (!command_word(&rest, &a->password, &a->password_len) ||
		    !command_word(&rest, &a->newpw, &a->newpw_len) ||
		    *rest != '\0')
			return (-1);
		return (0);
	case CMD_LOGOUT:
		return (*args == '\0' ? 0 : -1);
	case CMD_CERTFP:
		if (!command_word(&rest, &w, &len))
			return (-1);
		if (len == 4 && strncasecmp(w, "list", 4) == 0)
			a->sub = CERTFP_LIST;
		else if (len == 3 && strncasecmp(w, "add", 3) == 0)
			a->sub = CERTFP_ADD;
		else if (len == 3 && strncasecmp(w, "del", 3) == 0)
			a->sub = CERTFP_DEL;
		else
			return (-1);
		if (a->sub != CERTFP_DEL)
			return (*rest == '\0' ? 0 : -1);
		if (!command_word(&rest, &fp, &len) || *rest != '\0')
			return (-1);
		if (len > 7 && strncasecmp(fp, "SHA256:", 7) == 0) {
			fp += 7;
			len -= 7;
		}
		if (len != TLS_FP_LEN)
			return (-1);
		for (i = 0; i < len; i++)
			a->certfp[i] = (char)tolower((unsigned char)fp[i]);
		a->certfp[len] = '\0';
		if (!wire_certfp_valid(a->certfp, len))
			return (-1);
		return (0);
	default:
		return (-1);
	}
}
