/*
 * chat.c: what people see in chat mode: names, commands, presence and
 * history.
 *
 * The server hands every sanitised line here.  A line is chat unless it
 * starts with '/': "//x" is chat with one '/' removed, "/cmd args" runs a
 * command from a table (matched without regard to case).  Chat lines are
 * formatted once into a shared msg ("<alice> hello") and broadcast; the
 * last `history` of them are kept, referenced rather than copied, and
 * replayed to newcomers after the welcome and the message of the day.
 * Everything the server says itself starts with "*** ".
 *
 * Names are looked up by walking the client list.  That is O(clients) per
 * /nick or /msg, far below the cost of the broadcast each chat line makes,
 * and keeps no second index to get out of step.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chatd.h"

struct chat_history {
	struct msg	*msg;
	time_t		 when;
};

struct chat {
	struct chat_history	*ring;
	unsigned		 size;	/* capacity: config history */
	unsigned		 count;
	unsigned		 head;	/* oldest entry */
};

struct chat_command {
	const char	*name;
	const char	*usage;
	int		(*fn)(struct server *, struct client *, const char *);
};

static int	chat_cmd_help(struct server *, struct client *, const char *);
static int	chat_cmd_who(struct server *, struct client *, const char *);
static int	chat_cmd_me(struct server *, struct client *, const char *);
static int	chat_cmd_msg(struct server *, struct client *, const char *);
static int	chat_cmd_nick(struct server *, struct client *, const char *);
static int	chat_cmd_quit(struct server *, struct client *, const char *);

static const struct chat_command chat_commands[] = {
	{ "help", "/help", chat_cmd_help },
	{ "who", "/who", chat_cmd_who },
	{ "nick", "/nick NAME", chat_cmd_nick },
	{ "me", "/me ACTION", chat_cmd_me },
	{ "msg", "/msg NAME TEXT", chat_cmd_msg },
	{ "quit", "/quit [REASON]", chat_cmd_quit },
};

void
chat_init(struct server *s)
{
	s->chat = xcalloc(1, sizeof *s->chat);
	chat_configure(s);
}

/* Applies the history size from the config, keeping the newest lines. */
void
chat_configure(struct server *s)
{
	struct chat		*ch = s->chat;
	struct chat_history	*ring = NULL;
	unsigned		 size = s->config->history, n = 0, i;

	if (size == ch->size)
		return;
	if (size != 0)
		ring = xcalloc(size, sizeof *ring);
	while (ch->count > 0) {
		i = ch->head;
		if (ch->count <= size)
			ring[n++] = ch->ring[i];
		else
			msg_unref(ch->ring[i].msg);
		ch->head = (ch->head + 1) % ch->size;
		ch->count--;
	}
	free(ch->ring);
	ch->ring = ring;
	ch->size = size;
	ch->count = n;
	ch->head = 0;
}

void
chat_free(struct server *s)
{
	struct chat	*ch = s->chat;

	while (ch->count > 0) {
		msg_unref(ch->ring[ch->head].msg);
		ch->head = (ch->head + 1) % ch->size;
		ch->count--;
	}
	free(ch->ring);
	free(ch);
	s->chat = NULL;
}

static void
chat_remember(struct server *s, struct msg *m)
{
	struct chat	*ch = s->chat;
	unsigned	 slot;

	if (ch->size == 0)
		return;
	if (ch->count == ch->size) {
		msg_unref(ch->ring[ch->head].msg);
		ch->head = (ch->head + 1) % ch->size;
		ch->count--;
	}
	slot = (ch->head + ch->count) % ch->size;
	msg_ref(m);
	ch->ring[slot].msg = m;
	ch->ring[slot].when = time(NULL);
	ch->count++;
}

/* Sends a notice to everyone connected except `except`. */
static void
chat_announce(struct server *s, struct client *except, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
chat_announce(struct server *s, struct client *except, const char *fmt, ...)
{
	struct msg	*m;
	char		*text;
	va_list		 ap;

	if (!s->config->announce || s->config->mode == MODE_RAW)
		return;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	m = msg_printf("*** %s\r\n", text);
	free(text);
	server_broadcast(s, except, m);
	msg_unref(m);
}

/*
 * Formats a chat line once, "<name> text" or "* name text", broadcasts it
 * to everyone but `from` (NULL: a line from another node) and keeps it in
 * the history.  Local and remote lines share this, so they look the same.
 */
static void
chat_say(struct server *s, struct client *from, const char *name,
    int action, const char *text, size_t len)
{
	struct msg	*m;
	size_t		 nlen = strlen(name), at = 0;

	m = msg_new(nlen + len + 5);
	if (action) {
		memcpy(m->data, "* ", 2);
		at = 2;
		memcpy(m->data + at, name, nlen);
		at += nlen;
		m->data[at++] = ' ';
	} else {
		m->data[at++] = '<';
		memcpy(m->data + at, name, nlen);
		at += nlen;
		memcpy(m->data + at, "> ", 2);
		at += 2;
	}
	memcpy(m->data + at, text, len);
	at += len;
	memcpy(m->data + at, "\r\n", 2);
	m->len = at + 2;
	server_broadcast(s, from, m);
	chat_remember(s, m);
	msg_unref(m);
}

/* Welcome, message of the day, history; then tell the others. */
void
chat_joined(struct server *s, struct client *c)
{
	struct config	*conf = s->config;
	struct chat	*ch = s->chat;
	const char	*p, *nl;
	char		 stamp[16];
	struct tm	 tm;
	unsigned	 others = s->nclients - 1, i;

	if (conf->mode == MODE_RAW)
		return;
	if (others == 0)
		client_printf(c, "*** Welcome to %s, %s. no others online; "
		    "/help lists commands.", conf->name, c->name);
	else
		client_printf(c, "*** Welcome to %s, %s. %u other%s online; "
		    "/help lists commands.", conf->name, c->name, others,
		    others == 1 ? "" : "s");
	for (p = conf->motd; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		client_printf(c, "*** %.*s", (int)(nl - p), p);
		if (*nl == '\0')
			break;
	}
	for (i = 0; i < ch->count; i++) {
		struct chat_history *h = &ch->ring[(ch->head + i) % ch->size];

		localtime_r(&h->when, &tm);
		strftime(stamp, sizeof stamp, "%H:%M", &tm);
		client_printf(c, "*** [%s] %.*s", stamp,
		    (int)h->msg->len - 2, h->msg->data);
	}
	if (conf->show_addresses)
		chat_announce(s, c, "%s joined from %s", c->name, c->netaddr);
	else
		chat_announce(s, c, "%s joined", c->name);
	cluster_joined(s, c);
}

void
chat_left(struct server *s, struct client *c)
{
	chat_announce(s, c, "%s left (%s)", c->name, c->reason);
	cluster_left(s, c);
}

/* Finds a connected client by name, without regard to case. */
static struct client *
chat_find(struct server *s, const char *name, size_t len)
{
	struct client	*c;

	TAILQ_FOREACH(c, &s->clients, entry) {
		if ((c->flags & CLIENT_CONNECTED) &&
		    strlen(c->name) == len &&
		    strncasecmp(c->name, name, len) == 0)
			return (c);
	}
	return (NULL);
}

/* The connected client called name (without regard to case), or NULL. */
struct client *
chat_holder(struct server *s, const char *name)
{
	return (chat_find(s, name, strlen(name)));
}

static int
chat_cmd_help(struct server *s, struct client *c, const char *args)
{
	client_printf(c, "*** commands:");
	client_printf(c, "***   /help            this list");
	client_printf(c, "***   /who             who is here, since when, "
	    "idle for how long");
	client_printf(c, "***   /nick NAME       change your name (1-%d "
	    "letters, digits, _ - .)", CLIENT_NAME_MAX);
	client_printf(c, "***   /me ACTION       say that you do something");
	client_printf(c, "***   /msg NAME TEXT   private message to NAME");
	client_printf(c, "***   /quit [REASON]   leave");
	client_printf(c, "***   //text           say text starting with /");
	return (0);
}

static void
chat_duration(char *buf, size_t size, uint64_t ms)
{
	uint64_t	sec = ms / 1000;

	if (sec < 60)
		snprintf(buf, size, "%llus", (unsigned long long)sec);
	else if (sec < 3600)
		snprintf(buf, size, "%llum", (unsigned long long)sec / 60);
	else if (sec < 86400)
		snprintf(buf, size, "%lluh%02llum",
		    (unsigned long long)sec / 3600,
		    (unsigned long long)(sec % 3600) / 60);
	else
		snprintf(buf, size, "%llud%02lluh",
		    (unsigned long long)sec / 86400,
		    (unsigned long long)(sec % 86400) / 3600);
}

static int
chat_cmd_who(struct server *s, struct client *c, const char *args)
{
	struct client	*o;
	uint64_t	 now = server_now_ms(s);
	char		 on[32], idle[32];
	int		 room = cluster_up(s);

	if (room)
		client_printf(c, "*** in the room:");
	else
		client_printf(c, "*** %u online:", s->nclients);
	TAILQ_FOREACH(o, &s->clients, entry) {
		if (!(o->flags & CLIENT_CONNECTED))
			continue;
		chat_duration(on, sizeof on, now - o->connected_ms);
		chat_duration(idle, sizeof idle, now - o->active_ms);
		client_printf(c, "***   %-*s  on %s, idle %s%s%s%s",
		    CLIENT_NAME_MAX, o->name, on, idle,
		    s->config->show_addresses ? ", from " : "",
		    s->config->show_addresses ? o->netaddr : "",
		    o == c ? " (you)" : "");
	}
	/* The other nodes' users come from Redis; c waits for them. */
	return (room ? cluster_who(s, c, s->nclients) : 0);
}

static int
chat_cmd_me(struct server *s, struct client *c, const char *args)
{
	if (*args == '\0') {
		client_printf(c, "*** usage: /me ACTION");
		return (0);
	}
	chat_say(s, c, c->name, 1, args, strlen(args));
	cluster_said(s, c, 1, args);
	return (0);
}

static int
chat_cmd_msg(struct server *s, struct client *c, const char *args)
{
	struct client	*to;
	size_t		 len = strcspn(args, " ");
	const char	*text = args + len;

	while (*text == ' ')
		text++;
	if (len == 0 || *text == '\0') {
		client_printf(c, "*** usage: /msg NAME TEXT");
		return (0);
	}
	if ((to = chat_find(s, args, len)) == NULL) {
		if (cluster_up(s))
			return (cluster_msg(s, c, args, len, text));
		client_printf(c, "*** no such user: %.*s", (int)len, args);
		return (0);
	}
	if (to == c) {
		client_printf(c, "*** that is you");
		return (0);
	}
	client_printf(to, "*%s* %s", c->name, text);
	client_printf(c, "*** message sent to %s", to->name);
	return (0);
}

/* Is name of the form guestN (the default names)? */
static int
chat_is_guest(const char *name)
{
	if (strncasecmp(name, "guest", 5) != 0 || name[5] == '\0')
		return (0);
	return (strspn(name + 5, "0123456789") == strlen(name + 5));
}

static int
chat_cmd_nick(struct server *s, struct client *c, const char *args)
{
	struct client	*o;
	char		 guest[sizeof c->name];
	size_t		 len = strlen(args), i;

	if (len == 0) {
		client_printf(c, "*** usage: /nick NAME");
		return (0);
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)args[i]) && args[i] != '_' &&
		    args[i] != '-' && args[i] != '.')
			break;
	}
	if (len > CLIENT_NAME_MAX || i != len) {
		client_printf(c, "*** invalid name: use 1 to %d letters, "
		    "digits, _, - or .", CLIENT_NAME_MAX);
		return (0);
	}
	if (strcmp(args, c->name) == 0) {
		client_printf(c, "*** you are already %s", c->name);
		return (0);
	}
	if (chat_is_guest(args)) {
		snprintf(guest, sizeof guest, "guest%llu",
		    (unsigned long long)c->id);
		if (strcasecmp(args, guest) != 0) {
			client_printf(c, "*** invalid name: guest names are "
			    "reserved");
			return (0);
		}
	}
	if ((o = chat_find(s, args, len)) != NULL && o != c) {
		client_printf(c, "*** name %s is taken", o->name);
		return (0);
	}
	/* Across nodes, Redis decides; c waits for chat_renamed(). */
	if (cluster_up(s) && strcasecmp(args, c->name) != 0)
		return (cluster_nick(s, c, args));
	chat_renamed(s, c, args);
	return (0);
}

/* c is now known as name, which is valid and free. */
void
chat_renamed(struct server *s, struct client *c, const char *name)
{
	char	old[sizeof c->name];

	snprintf(old, sizeof old, "%s", c->name);
	snprintf(c->name, sizeof c->name, "%s", name);
	log_info("client %llu [%s]: %s is now known as %s",
	    (unsigned long long)c->id, c->netaddr, old, c->name);
	client_printf(c, "*** you are now known as %s", c->name);
	chat_announce(s, c, "%s is now known as %s", old, c->name);
	cluster_renamed(s, c, old);
}

/*
 * The room gave c's name to someone else while this node was cut off from
 * it (cluster.c); c is now called c->name.  c and the local room are told.
 */
void
chat_name_lost(struct server *s, struct client *c, const char *old)
{
	log_notice("client %llu [%s]: name %s taken on another node; now %s",
	    (unsigned long long)c->id, c->netaddr, old, c->name);
	client_printf(c, "*** the name %s is taken elsewhere in the room; "
	    "you are now %s", old, c->name);
	chat_announce(s, c, "%s is now known as %s", old, c->name);
}

static int
chat_cmd_quit(struct server *s, struct client *c, const char *args)
{
	if (*args != '\0') {
		free(c->reason_buf);
		xasprintf(&c->reason_buf, "quit: %s", args);
	} else
		c->reason_buf = xstrdup("quit");
	client_printf(c, "*** bye");
	client_close_after_flush(c, c->reason_buf);
	return (0);
}

/* Runs "/cmd args" (the leading '/' removed).  Returns 1 if c waits. */
static int
chat_command(struct server *s, struct client *c, char *line)
{
	const struct chat_command	*cmd;
	size_t				 len = strcspn(line, " ");
	char				*args = line + len;
	size_t				 i;

	while (*args == ' ')
		args++;
	for (i = 0; i < sizeof chat_commands / sizeof chat_commands[0]; i++) {
		cmd = &chat_commands[i];
		if (strlen(cmd->name) == len &&
		    strncasecmp(cmd->name, line, len) == 0) {
			return (cmd->fn(s, c, args));
		}
	}
	client_printf(c, "*** unknown command /%.*s (try /help)", (int)len,
	    line);
	return (0);
}

/*
 * Handles one sanitised line from c.  text is the server's scratch buffer,
 * NUL-terminated, and may be modified.  Returns 1 if c must wait (a command
 * that asks Redis) and will be resumed by client_resume().
 */
int
chat_input(struct server *s, struct client *c, char *text, size_t len)
{
	if (text[0] == '/' && text[1] != '/') {
		/* Trailing spaces would end up in names and reasons. */
		while (len > 1 && text[len - 1] == ' ')
			text[--len] = '\0';
		return (chat_command(s, c, text + 1));
	}
	if (text[0] == '/') {
		text++;
		len--;
	}
	chat_say(s, c, c->name, 0, text, len);
	cluster_said(s, c, 0, text);
	return (0);
}

/*
 * An event from another node of the room (cluster.c has checked the
 * version, validated names and sanitised text).  Returns -1 if the fields
 * do not fit the type.
 */
int
chat_remote(struct server *s, const char *type, char **argv, int argc)
{
	struct client	*to;
	struct msg	*m;

	if (strcmp(type, "raw") == 0 && argc == 1) {
		if (s->config->mode == MODE_RAW) {
			m = msg_printf("%s\r\n", argv[0]);
			server_broadcast(s, NULL, m);
			msg_unref(m);
		}
		return (0);
	}
	if (s->config->mode == MODE_RAW)
		return (0);
	if ((strcmp(type, "say") == 0 || strcmp(type, "me") == 0) &&
	    argc == 2)
		chat_say(s, NULL, argv[0], type[0] == 'm', argv[1],
		    strlen(argv[1]));
	else if (strcmp(type, "join") == 0 && argc == 1)
		chat_announce(s, NULL, "%s joined", argv[0]);
	else if (strcmp(type, "left") == 0 && argc == 2)
		chat_announce(s, NULL, "%s left (%s)", argv[0], argv[1]);
	else if (strcmp(type, "nick") == 0 && argc == 2)
		chat_announce(s, NULL, "%s is now known as %s", argv[0],
		    argv[1]);
	else if (strcmp(type, "msg") == 0 && argc == 3) {
		if ((to = chat_find(s, argv[1], strlen(argv[1]))) != NULL)
			client_printf(to, "*%s* %s", argv[0], argv[2]);
	} else
		return (-1);
	return (0);
}
