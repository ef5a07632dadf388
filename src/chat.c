/*
 * chat.c: what people see in chat mode: names, commands, presence and
 * history.
 *
 * The server hands every sanitised line here.  command.c says whether it
 * is chat or a command; a command runs its handler from the table below,
 * indexed by the command.  Chat lines are formatted once into a shared msg
 * ("<alice> hello") and broadcast; the last `history` of them are kept,
 * referenced rather than copied, and the newest that fit in
 * history_bytes are replayed to newcomers after the welcome and the
 * message of the day, so a room full of long lines stays joinable (the
 * config checks that the replay fits under output_hard_limit).
 * Everything the server says itself starts with "*** ".
 *
 * Names follow name.c's rule and are unique by their key, so that names a
 * reader cannot tell apart cannot both be in the room; the roster
 * (roster.c) finds a holder in constant time.  Events from other nodes
 * (cluster.c) arrive as decoded wire messages and are shown through the
 * same formatters as local ones, by a handler per message type.
 */

#include <limits.h>
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

/* What chat keeps per room: its recent lines. */
struct chat_room {
	struct chat_history	*ring;
	unsigned		 size;	/* capacity: config history */
	unsigned		 count;
	unsigned		 head;	/* oldest entry */
};

typedef int	(*chat_handler)(struct server *, struct client *,
		    const char *);

static int	chat_cmd_help(struct server *, struct client *, const char *);
static int	chat_cmd_who(struct server *, struct client *, const char *);
static int	chat_cmd_me(struct server *, struct client *, const char *);
static int	chat_cmd_msg(struct server *, struct client *, const char *);
static int	chat_cmd_nick(struct server *, struct client *, const char *);
static int	chat_cmd_quit(struct server *, struct client *, const char *);
static int	chat_cmd_join(struct server *, struct client *, const char *);
static int	chat_cmd_part(struct server *, struct client *, const char *);
static int	chat_cmd_rooms(struct server *, struct client *, const char *);
static int	chat_cmd_topic(struct server *, struct client *, const char *);

/* What each command does; command.c holds its name, usage and help. */
static const chat_handler chat_handlers[] = {
	[CMD_HELP] = chat_cmd_help,
	[CMD_WHO] = chat_cmd_who,
	[CMD_NICK] = chat_cmd_nick,
	[CMD_ME] = chat_cmd_me,
	[CMD_MSG] = chat_cmd_msg,
	[CMD_QUIT] = chat_cmd_quit,
	[CMD_JOIN] = chat_cmd_join,
	[CMD_PART] = chat_cmd_part,
	[CMD_ROOMS] = chat_cmd_rooms,
	[CMD_TOPIC] = chat_cmd_topic,
};

/* Resizes a room's history to size lines, keeping the newest. */
static void
chat_history_size(struct chat_room *ch, unsigned size)
{
	struct chat_history	*ring = NULL;
	unsigned		 n = 0, i;

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

/* A room was made: it gets a history. */
void
chat_room_new(struct server *s, struct room *r)
{
	r->chat = xcalloc(1, sizeof *r->chat);
	chat_history_size(r->chat, s->config->history);
}

/*
 * Room r's topic and history, for the image a successor takes over: the
 * lines borrow the history's messages, which stay while r does.
 */
void
chat_export(struct server *s, struct room *r, struct state_room *sr)
{
	struct chat_room	*ch = r->chat;
	struct chat_history	*h;
	unsigned		 i;

	if (r->topic != NULL)
		sr->topic = (struct state_bytes){ (const uint8_t *)r->topic,
		    strlen(r->topic) };
	sr->lines = xcalloc(ch->count + 1, sizeof *sr->lines);
	for (i = 0; i < ch->count; i++) {
		h = &ch->ring[(ch->head + i) % ch->size];
		sr->lines[i].when = (int64_t)h->when;
		sr->lines[i].text = (struct state_bytes){
		    (const uint8_t *)h->msg->data, h->msg->len - 2 };
	}
	sr->nlines = ch->count;
}

/*
 * Room r, made or found by the successor, gets the topic and history its
 * predecessor had (as many lines as history keeps here, the newest).
 */
void
chat_import(struct server *s, struct room *r, const struct state_room *sr)
{
	struct chat_room	*ch = r->chat;
	struct msg		*m;
	uint32_t		 i;
	unsigned		 slot;

	free(r->topic);
	r->topic = NULL;
	r->topic_gen++;
	if (sr->topic.len != 0) {
		r->topic = xmalloc(sr->topic.len + 1);
		memcpy(r->topic, sr->topic.p, sr->topic.len);
		r->topic[sr->topic.len] = '\0';
	}
	chat_history_size(ch, 0);
	chat_history_size(ch, s->config->history);
	i = sr->nlines > ch->size ? sr->nlines - ch->size : 0;
	for (; i < sr->nlines; i++) {
		m = msg_new(sr->lines[i].text.len + 2);
		memcpy(m->data, sr->lines[i].text.p, sr->lines[i].text.len);
		memcpy(m->data + sr->lines[i].text.len, "\r\n", 2);
		slot = (ch->head + ch->count) % ch->size;
		ch->ring[slot].msg = m;
		ch->ring[slot].when = (time_t)sr->lines[i].when;
		ch->count++;
	}
}

/* A room is going: its history goes with it. */
void
chat_room_free(struct server *s, struct room *r)
{
	if (r->chat == NULL)
		return;
	chat_history_size(r->chat, 0);
	free(r->chat);
	r->chat = NULL;
}

/* Room name is permanent again, if it exists. */
static void
chat_permanent(struct server *s, const char *name)
{
	struct room	*r;

	if ((r = room_find(&s->rooms, name)) != NULL)
		r->flags |= ROOM_PERMANENT;
}

/*
 * The rooms of the config: the default room, and in chat mode the
 * configured ones, made and made permanent; a room no longer configured
 * is permanent no more, and vanishes when empty.  Rooms still configured
 * are kept, with their topic and history; those that go, go before new
 * ones are made, so that they make way under max_rooms.  The default
 * room is made whatever max_rooms says (a reload may name a new one
 * while the rooms are full): everyone starts there.
 */
static void
chat_rooms(struct server *s)
{
	struct config	*conf = s->config;
	struct room	*r, *next;
	char		**p;

	TAILQ_FOREACH(r, &s->rooms.list, entry)
		r->flags &= ~ROOM_PERMANENT;
	chat_permanent(s, conf->default_room);
	for (p = conf->rooms; conf->mode == MODE_CHAT && p != NULL &&
	    *p != NULL; p++)
		chat_permanent(s, *p);
	for (r = TAILQ_FIRST(&s->rooms.list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		server_room_gone(s, r);
	}
	s->lobby = server_room(s, conf->default_room, SERVER_ROOM_ALWAYS,
	    ROOM_PERMANENT);
	for (p = conf->rooms; conf->mode == MODE_CHAT && p != NULL &&
	    *p != NULL; p++) {
		if (server_room(s, *p, SERVER_ROOM_MAKE, ROOM_PERMANENT) ==
		    NULL)
			log_warnx("room %s not made: max_rooms (%u) reached",
			    *p, conf->max_rooms);
	}
}

void
chat_init(struct server *s)
{
	chat_rooms(s);
}

/*
 * Raw mode has one room: a reload from chat mode brings everyone in
 * another room to the default room, quietly, as raw mode is.
 */
static void
chat_gather(struct server *s)
{
	struct room	*r, *next;
	struct client	*c, *cnext;

	for (r = TAILQ_FIRST(&s->rooms.list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r == s->lobby)
			continue;
		/* The last one's move frees r, and ends the walk. */
		for (c = TAILQ_FIRST(&r->members); c != NULL; c = cnext) {
			cnext = TAILQ_NEXT(c, room_entry);
			if (!client_in_room(c))
				continue;
			cluster_moved(s, c, r, s->lobby);
			server_move(s, c, s->lobby);
		}
	}
}

/* Applies a new config: the rooms, and every room's history size. */
void
chat_configure(struct server *s)
{
	struct room	*r;

	chat_rooms(s);
	if (s->config->mode == MODE_RAW)
		chat_gather(s);
	TAILQ_FOREACH(r, &s->rooms.list, entry)
		chat_history_size(r->chat, s->config->history);
}

void
chat_free(struct server *s)
{
	struct room	*r;

	TAILQ_FOREACH(r, &s->rooms.list, entry)
		chat_room_free(s, r);
}

static void
chat_remember(struct room *r, struct msg *m)
{
	struct chat_room	*ch = r->chat;
	unsigned		 slot;

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

/*
 * Sends a notice to everyone in room r except `except`, if announcements
 * are on.
 */
static void
chat_announce(struct server *s, struct room *r, struct client *except,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
chat_announce(struct server *s, struct room *r, struct client *except,
    const char *fmt, ...)
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
	server_broadcast(s, r, except, m);
	msg_unref(m);
}

/*
 * Formats a chat line once, "<name> text" or "* name text", broadcasts it
 * to room r but `from` (NULL: a line from another node) and keeps it in
 * r's history.  Local and remote lines share this, so they look the same.
 */
static void
chat_say(struct server *s, struct room *r, struct client *from,
    const char *name, int action, const char *text, size_t len)
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
	server_broadcast(s, r, from, m);
	chat_remember(r, m);
	msg_unref(m);
}

/* The newest history entries of r whose replay fits in history_bytes. */
static unsigned
chat_replay_start(struct server *s, struct room *r)
{
	struct chat_room	*ch = r->chat;
	struct chat_history	*h;
	size_t			 budget = s->config->history_bytes, cost;
	unsigned		 n = 0;

	while (n < ch->count) {
		h = &ch->ring[(ch->head + ch->count - 1 - n) % ch->size];
		cost = CHAT_STAMP_LEN + h->msg->len;
		if (cost > budget)
			break;
		budget -= cost;
		n++;
	}
	return (ch->count - n);
}

/* Sends c room r's topic, if it has one, and its recent lines. */
static void
chat_replay(struct server *s, struct client *c, struct room *r)
{
	struct chat_room	*ch = r->chat;
	struct chat_history	*h;
	char			 stamp[16];
	struct tm		 tm;
	unsigned		 i;

	if (r->topic != NULL)
		output_printf(c, "*** topic of %s: %s", r->name, r->topic);
	for (i = chat_replay_start(s, r); i < ch->count; i++) {
		h = &ch->ring[(ch->head + i) % ch->size];
		localtime_r(&h->when, &tm);
		strftime(stamp, sizeof stamp, "%H:%M", &tm);
		output_printf(c, "*** [%s] %.*s", stamp,
		    (int)h->msg->len - 2, h->msg->data);
	}
}

/* Welcome, message of the day, history; then tell the others. */
void
chat_joined(struct server *s, struct client *c)
{
	struct config	*conf = s->config;
	const char	*p, *nl;
	unsigned	 others = s->nclients - 1;

	if (conf->mode == MODE_RAW)
		return;
	if (others == 0)
		output_printf(c, "*** Welcome to %s, %s. no others online; "
		    "/help lists commands.", conf->name, c->name);
	else
		output_printf(c, "*** Welcome to %s, %s. %u other%s online; "
		    "/help lists commands.", conf->name, c->name, others,
		    others == 1 ? "" : "s");
	for (p = conf->motd; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		output_printf(c, "*** %.*s", (int)(nl - p), p);
		if (*nl == '\0')
			break;
	}
	chat_replay(s, c, c->room);
	if (conf->show_addresses)
		chat_announce(s, c->room, c, "%s joined from %s", c->name,
		    c->netaddr);
	else
		chat_announce(s, c->room, c, "%s joined", c->name);
	cluster_joined(s, c);
}

void
chat_left(struct server *s, struct client *c)
{
	chat_announce(s, c->room, c, "%s left (%s)", c->name, c->reason);
	cluster_left(s, c);
}

static int
chat_cmd_help(struct server *s, struct client *c, const char *args)
{
	const struct command_info	*ci;
	size_t				 i;

	output_printf(c, "*** commands:");
	for (i = 0; (ci = command_nth(i)) != NULL; i++)
		output_printf(c, "***   %-16s %s", ci->usage, ci->help);
	output_printf(c, "***   %-16s %s", "//text", "say text starting "
	    "with /");
	output_printf(c, "*** names: 1 to %d letters, digits, _, - or ., "
	    "not like anyone else's", NAME_LEN);
	return (0);
}

static void
chat_usage(struct client *c, enum command_id id)
{
	output_printf(c, "*** usage: %s", command_info(id)->usage);
}

/* Is every client of this server in one room (as before rooms)? */
static int
chat_one_room(struct server *s)
{
	struct room	*r;
	unsigned	 used = 0;

	TAILQ_FOREACH(r, &s->rooms.list, entry)
		used += r->nmembers != 0;
	return (used <= 1);
}

/* /who * [PAGE]: everyone on this server (and the room), names only. */
static int
chat_who_all(struct server *s, struct client *c, const char *args)
{
	struct client	*o;
	char		 line[CHAT_NAMES_LINE + NAME_LEN + 2];
	size_t		 len = 0;
	unsigned	 per = s->config->who_max, page, pos = 0, first;
	int		 room = cluster_up(s);

	while (*args == ' ')
		args++;
	if ((page = command_page(args, UINT_MAX / per - 1)) == 0) {
		chat_usage(c, CMD_WHO);
		return (0);
	}
	first = (page - 1) * per;
	output_printf(c, "*** %s:", room ? "in every room" : "online");
	TAILQ_FOREACH(o, &s->clients, entry) {
		if (!client_in_room(o) || pos++ < first || pos > first + per)
			continue;
		if (len != 0 && len + 1 + strlen(o->name) > CHAT_NAMES_LINE) {
			output_printf(c, "***   %s", line);
			len = 0;
		}
		len += (size_t)snprintf(line + len, sizeof line - len, "%s%s",
		    len != 0 ? " " : "", o->name);
	}
	if (len != 0)
		output_printf(c, "***   %s", line);
	if (room)
		return (cluster_who(s, c, NULL, pos, page, per));
	output_printf(c, "*** %u online", pos);
	if (pos > first + per)
		output_printf(c, "*** /who * %u for more", page + 1);
	return (0);
}

/*
 * /who [PAGE]: who is in c's room, who_max entries a page, so the answer
 * is bounded however large the room; local users first, then (cluster)
 * the other nodes'.  /who * lists everyone, names only.
 */
static int
chat_cmd_who(struct server *s, struct client *c, const char *args)
{
	struct config	*conf = s->config;
	struct room	*r = c->room;
	struct client	*o;
	uint64_t	 now = server_now_ms(s);
	char		 on[32], idle[32], where[ROOM_NAME_LEN + 8];
	unsigned	 per = conf->who_max, page, pos = 0, first, pages;
	unsigned	 n = 0;
	int		 room = cluster_up(s);

	if (args[0] == '*')
		return (chat_who_all(s, c, args + 1));
	if ((page = command_page(args, UINT_MAX / per - 1)) == 0) {
		chat_usage(c, CMD_WHO);
		return (0);
	}
	TAILQ_FOREACH(o, &r->members, room_entry)
		n += client_in_room(o);
	/* One room, as before rooms: "online"; else the room's name. */
	if (r == s->lobby && chat_one_room(s))
		snprintf(where, sizeof where, "online");
	else
		snprintf(where, sizeof where, "in %s", r->name);
	first = (page - 1) * per;
	pages = (n + per - 1) / per;
	if (!room && page > 1 && page > pages) {
		output_printf(c, "*** no page %u: %u %s, %u page%s", page, n,
		    where, pages, pages == 1 ? "" : "s");
		return (0);
	}
	if (room)
		output_printf(c, "*** in the room%s%s:", r == s->lobby &&
		    chat_one_room(s) ? "" : " ", r == s->lobby &&
		    chat_one_room(s) ? "" : r->name);
	else if (pages <= 1 && page == 1)
		output_printf(c, "*** %u %s:", n, where);
	else
		output_printf(c, "*** %u %s, page %u of %u:", n, where, page,
		    pages);
	TAILQ_FOREACH(o, &r->members, room_entry) {
		if (!client_in_room(o))
			continue;
		if (pos++ < first || pos > first + per)
			continue;
		fmt_duration(on, sizeof on, (now - o->connected_ms) / 1000);
		fmt_duration(idle, sizeof idle, (now - o->active_ms) / 1000);
		output_printf(c, "***   %-*s  on %s, idle %s%s%s%s%s",
		    NAME_LEN, o->name, on, idle,
		    conf->show_addresses ? ", from " : "",
		    conf->show_addresses ? o->netaddr : "",
		    o->account != NULL ? ", logged in" : "",
		    o == c ? " (you)" : "");
	}
	/* The other nodes' users come from Redis; c waits for them. */
	if (room)
		return (cluster_who(s, c, r, pos, page, per));
	if (pos > first + per)
		output_printf(c, "*** /who %u for more", page + 1);
	return (0);
}

static int
chat_cmd_me(struct server *s, struct client *c, const char *args)
{
	if (*args == '\0') {
		chat_usage(c, CMD_ME);
		return (0);
	}
	chat_say(s, c->room, c, c->name, 1, args, strlen(args));
	cluster_said(s, c, 1, args);
	return (0);
}

/* Says "no such user", quoting at most a name's worth of what was typed. */
static void
chat_no_such_user(struct client *c, const char *name, size_t len)
{
	output_printf(c, "*** no such user: %.*s%s",
	    (int)(len > NAME_LEN ? NAME_LEN : len), name,
	    len > NAME_LEN ? "..." : "");
}

static int
chat_cmd_msg(struct server *s, struct client *c, const char *args)
{
	struct client	*to;
	const char	*name, *text = args;
	char		 who[NAME_LEN + 1];
	size_t		 len;

	if (!command_word(&text, &name, &len) || *text == '\0') {
		chat_usage(c, CMD_MSG);
		return (0);
	}
	if (!name_valid(name, len)) {
		chat_no_such_user(c, name, len);
		return (0);
	}
	memcpy(who, name, len);
	who[len] = '\0';
	if ((to = roster_find(&s->roster, who)) == NULL) {
		/* A name like one held here is held nowhere else. */
		if (cluster_up(s) && roster_holder(&s->roster, who) == NULL)
			return (cluster_msg(s, c, who, text));
		chat_no_such_user(c, name, len);
		return (0);
	}
	if (to == c) {
		output_printf(c, "*** that is you");
		return (0);
	}
	output_printf(to, "*%s* %s", c->name, text);
	output_printf(c, "*** message sent to %s", to->name);
	return (0);
}

/*
 * Whether c may be called name (valid): not a guest name, or one like
 * it, but its own, and not like a name someone else here holds.  Says
 * why not.
 */
static int
chat_may_take(struct server *s, struct client *c, const char *name)
{
	struct client	*o;
	char		 guest[NAME_LEN + 1];

	name_guest(guest, c->guest);
	if (ban_check_name(&s->bans, name, (int64_t)time(NULL)) != NULL) {
		output_printf(c, "*** name %s is banned", name);
		return (0);
	}
	if (name_is_guest(name) && strcasecmp(name, guest) != 0) {
		output_printf(c, "*** invalid name: guest names are reserved");
		return (0);
	}
	if ((o = roster_holder(&s->roster, name)) != NULL && o != c) {
		if (strcasecmp(o->name, name) == 0)
			output_printf(c, "*** name %s is taken", o->name);
		else
			output_printf(c, "*** name %s is too like %s, who is "
			    "here", name, o->name);
		return (0);
	}
	return (1);
}

static int
chat_cmd_nick(struct server *s, struct client *c, const char *args)
{
	size_t	len = strlen(args);

	if (len == 0) {
		chat_usage(c, CMD_NICK);
		return (0);
	}
	if (!name_valid(args, len)) {
		output_printf(c, "*** invalid name: use 1 to %d letters, "
		    "digits, _, - or .", NAME_LEN);
		return (0);
	}
	if (strcmp(args, c->name) == 0) {
		output_printf(c, "*** you are already %s", c->name);
		return (0);
	}
	if (!chat_may_take(s, c, args))
		return (0);
	/* A registered name is its owner's (account.c asks the store). */
	return (account_check_nick(s, c, args));
}

/*
 * /nick name by c may go on: it is free here and not someone else's
 * account.  Returns 1 if c waits (for Redis, across nodes).
 */
int
chat_nick_allowed(struct server *s, struct client *c, const char *name)
{
	/* Across nodes, Redis decides; c waits for chat_renamed(). */
	if (cluster_up(s) && !name_same(name, c->name))
		return (cluster_nick(s, c, name));
	chat_renamed(s, c, name);
	return (0);
}

/*
 * c goes back to its guest name, told why (it logged out, or the owner
 * of its name logged in), and the room is told.
 */
void
chat_guest(struct server *s, struct client *c, const char *why)
{
	char	old[NAME_LEN + 1], name[NAME_LEN + 1];

	name_guest(name, c->guest);
	if (strcmp(c->name, name) == 0) {
		output_printf(c, "*** %s", why);
		return;
	}
	snprintf(old, sizeof old, "%s", c->name);
	roster_rename(&s->roster, c, name);
	log_info("client %llu [%s]: %s is now known as %s (%s)",
	    (unsigned long long)c->id, c->netaddr, old, c->name, why);
	output_printf(c, "*** %s; you are now %s", why, c->name);
	chat_announce(s, c->room, c, "%s is now known as %s", old, c->name);
	cluster_renamed(s, c, old);
}

/*
 * c is now known as name, which is valid and free in the room (Redis said
 * so, for a cluster).  Someone here may have taken a like name while c
 * waited for Redis; then c is told it is taken.
 */
void
chat_renamed(struct server *s, struct client *c, const char *name)
{
	char	old[NAME_LEN + 1];

	if (!chat_may_take(s, c, name))
		return;
	snprintf(old, sizeof old, "%s", c->name);
	roster_rename(&s->roster, c, name);
	log_info("client %llu [%s]: %s is now known as %s",
	    (unsigned long long)c->id, c->netaddr, old, c->name);
	output_printf(c, "*** you are now known as %s", c->name);
	chat_announce(s, c->room, c, "%s is now known as %s", old, c->name);
	cluster_renamed(s, c, old);
}

/*
 * The room gave c's name to someone else while this node was cut off from
 * it (cluster.c): c becomes guest number `guest`, and c and the local
 * room are told.
 */
void
chat_name_lost(struct server *s, struct client *c, uint64_t guest)
{
	char	old[NAME_LEN + 1], name[NAME_LEN + 1];

	snprintf(old, sizeof old, "%s", c->name);
	c->guest = guest;
	name_guest(name, guest);
	roster_rename(&s->roster, c, name);
	log_notice("client %llu [%s]: name %s taken on another node; now %s",
	    (unsigned long long)c->id, c->netaddr, old, c->name);
	output_printf(c, "*** the name %s is taken elsewhere in the room; "
	    "you are now %s", old, c->name);
	chat_announce(s, c->room, c, "%s is now known as %s", old, c->name);
}

/*
 * c moves to room r: the old room is told (where it went, unless
 * announce_room_moves is off), c gets r's topic and history, and r is
 * told c joined.
 */
static void
chat_move(struct server *s, struct client *c, struct room *r)
{
	struct room	*old = c->room;

	if (s->config->announce_moves)
		chat_announce(s, old, c, "%s left for %s", c->name, r->name);
	else
		chat_announce(s, old, c, "%s left", c->name);
	log_info("client %llu [%s]: %s moved from %s to %s",
	    (unsigned long long)c->id, c->netaddr, c->name, old->name,
	    r->name);
	cluster_moved(s, c, old, r);	/* before old may vanish */
	server_move(s, c, r);
	output_printf(c, "*** you are now in %s", r->name);
	chat_replay(s, c, r);
	chat_announce(s, r, c, "%s joined", c->name);
}

static int
chat_cmd_join(struct server *s, struct client *c, const char *args)
{
	struct room	*r;
	const char	*name;
	char		 buf[ROOM_NAME_LEN + 2];
	size_t		 len;
	int		 secret;

	if (!command_join(args, &name, &len, &secret)) {
		chat_usage(c, CMD_JOIN);
		return (0);
	}
	if (!room_valid(name, len)) {
		output_printf(c, "*** invalid room name: # and 1 to %d letters, "
		    "digits, -, _ or .", ROOM_NAME_LEN);
		return (0);
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	if ((r = room_find(&s->rooms, buf)) == c->room) {
		output_printf(c, "*** you are already in %s", c->room->name);
		return (0);
	}
	if (r == NULL && (r = server_room(s, buf, SERVER_ROOM_MAKE, secret ?
	    ROOM_SECRET : 0)) == NULL) {
		output_printf(c, "*** no room for %s: there are as many rooms "
		    "as there may be (%u); /rooms lists them", buf,
		    s->config->max_rooms);
		return (0);
	}
	chat_move(s, c, r);
	return (0);
}

static int
chat_cmd_part(struct server *s, struct client *c, const char *args)
{
	if (*args != '\0') {
		chat_usage(c, CMD_PART);
		return (0);
	}
	if (c->room == s->lobby) {
		output_printf(c, "*** you are in the default room, %s",
		    s->lobby->name);
		return (0);
	}
	chat_move(s, c, s->lobby);
	return (0);
}

/* Can c see room r in /rooms?  A secret room shows to its members. */
static int
chat_visible(const struct client *c, const struct room *r)
{
	return (!(r->flags & ROOM_SECRET) || c->room == r);
}

static int
chat_cmd_rooms(struct server *s, struct client *c, const char *args)
{
	struct room	*r;
	unsigned	 per = s->config->who_max, page, pos = 0, first;

	if ((page = command_page(args, UINT_MAX / per - 1)) == 0) {
		chat_usage(c, CMD_ROOMS);
		return (0);
	}
	/* Across nodes, Redis knows the rooms and the numbers. */
	if (cluster_up(s))
		return (cluster_rooms(s, c, page));
	first = (page - 1) * per;
	output_printf(c, "*** rooms:");
	TAILQ_FOREACH(r, &s->rooms.list, entry) {
		if (!chat_visible(c, r) || pos++ < first || pos > first + per)
			continue;
		output_printf(c, "***   %-*s %5u here%s%s%s", ROOM_NAME_LEN + 1,
		    r->name, r->nmembers, r->topic != NULL ? ", topic: " : "",
		    r->topic != NULL ? r->topic : "", r == c->room ?
		    " (you)" : "");
	}
	output_printf(c, "*** %u room%s", pos, pos == 1 ? "" : "s");
	if (pos > first + per)
		output_printf(c, "*** /rooms %u for more", page + 1);
	return (0);
}

/*
 * Room r's topic is now text (NULL or "": none), set by who, or, with who
 * NULL, read back from the cluster: then the room is told of a topic it
 * did not know (a client that has just joined has not seen it), and of
 * nothing else.  Every change counts in r->topic_gen.
 */
void
chat_topic(struct server *s, struct room *r, const char *who,
    const char *text)
{
	struct msg	*m;

	if (text != NULL && *text == '\0')
		text = NULL;
	if (who == NULL && (text == NULL ? r->topic == NULL :
	    r->topic != NULL && strcmp(r->topic, text) == 0))
		return;
	free(r->topic);
	r->topic = text != NULL ? xstrdup(text) : NULL;
	r->topic_gen++;
	if (who != NULL && r->topic != NULL)
		m = msg_printf("*** %s set the topic of %s: %s\r\n", who,
		    r->name, r->topic);
	else if (who != NULL)
		m = msg_printf("*** %s cleared the topic of %s\r\n", who,
		    r->name);
	else if (r->topic != NULL && r->nmembers != 0 &&
	    s->config->mode == MODE_CHAT)
		m = msg_printf("*** topic of %s: %s\r\n", r->name, r->topic);
	else
		return;
	server_broadcast(s, r, NULL, m);
	msg_unref(m);
}

static int
chat_cmd_topic(struct server *s, struct client *c, const char *args)
{
	struct room	*r = c->room;

	if (*args == '\0') {
		if (r->topic != NULL)
			output_printf(c, "*** topic of %s: %s", r->name,
			    r->topic);
		else
			output_printf(c, "*** %s has no topic", r->name);
		return (0);
	}
	/* "/topic -" clears it. */
	chat_topic(s, r, c->name, strcmp(args, "-") == 0 ? NULL : args);
	log_info("client %llu [%s]: %s set the topic of %s", (unsigned long
	    long)c->id, c->netaddr, c->name, r->name);
	cluster_topic(s, r, c->name, r->topic);
	return (0);
}

/*
 * /kick, /ban, /unban, /mute, /unmute, /announce: for operators (an
 * account of [accounts] operators, logged in), with chatctl's meaning,
 * through control.c's grammar and actions.
 */
static int
chat_operator(struct server *s, struct client *c, const struct command *cmd)
{
	const char	*verb = command_info(cmd->id)->name;
	char		*line;

	if (!account_is_operator(s, c)) {
		output_printf(c, "*** /%s is for operators", verb);
		return (0);
	}
	xasprintf(&line, "%s %s", verb, cmd->args);
	control_operator(s, c, line);
	free(line);
	return (0);
}

static int
chat_cmd_quit(struct server *s, struct client *c, const char *args)
{
	free(c->reason_buf);
	if (*args != '\0')
		xasprintf(&c->reason_buf, "quit: %s", args);
	else
		c->reason_buf = xstrdup("quit");
	output_printf(c, "*** bye");
	client_close_after_flush(c, c->reason_buf);
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
	struct command	cmd;

	command_parse(text, len, &cmd);
	/* A muted client's words reach nobody (it was told once). */
	if ((c->flags & CLIENT_MUTED) && (cmd.id == CMD_CHAT ||
	    cmd.id == CMD_ME || cmd.id == CMD_MSG))
		return (0);
	switch (cmd.id) {
	case CMD_CHAT:
		chat_say(s, c->room, c, c->name, 0, cmd.text, cmd.len);
		cluster_said(s, c, 0, cmd.text);
		return (0);
	case CMD_UNKNOWN:
		output_printf(c, "*** unknown command /%.*s (try /help)",
		    (int)cmd.verb_len, cmd.verb);
		return (0);
	case CMD_REGISTER:
	case CMD_LOGIN:
	case CMD_PASSWORD:
	case CMD_LOGOUT:
	case CMD_UNREGISTER:
	case CMD_CERTFP:
		return (account_input(s, c, &cmd));
	case CMD_KICK:
	case CMD_BAN:
	case CMD_UNBAN:
	case CMD_MUTE:
	case CMD_UNMUTE:
	case CMD_ANNOUNCE:
		return (chat_operator(s, c, &cmd));
	default:
		return (chat_handlers[cmd.id](s, c, cmd.args));
	}
}

/* Handlers of events from other nodes, by wire type (see wire.c). */

static void
chat_remote_raw(struct server *s, struct room *r, const struct wire_msg *m)
{
	struct msg	*line;

	if (s->config->mode != MODE_RAW)
		return;
	line = msg_printf("%s\r\n", m->field[0]);
	server_broadcast(s, s->lobby, NULL, line);
	msg_unref(line);
}

static void
chat_remote_say(struct server *s, struct room *r, const struct wire_msg *m)
{
	chat_say(s, r, NULL, m->field[0], m->type == WIRE_ME, m->field[1],
	    strlen(m->field[1]));
}

static void
chat_remote_join(struct server *s, struct room *r, const struct wire_msg *m)
{
	chat_announce(s, r, NULL, "%s joined", m->field[0]);
}

static void
chat_remote_left(struct server *s, struct room *r, const struct wire_msg *m)
{
	chat_announce(s, r, NULL, "%s left (%s)", m->field[0], m->field[1]);
}

static void
chat_remote_nick(struct server *s, struct room *r, const struct wire_msg *m)
{
	chat_announce(s, r, NULL, "%s is now known as %s", m->field[0],
	    m->field[1]);
}

static void
chat_remote_msg(struct server *s, struct room *r, const struct wire_msg *m)
{
	struct client	*to;

	if ((to = roster_find(&s->roster, m->field[1])) != NULL)
		output_printf(to, "*%s* %s", m->field[0], m->field[2]);
}

static void
chat_remote_moved(struct server *s, struct room *r, const struct wire_msg *m)
{
	const char	*to = m->field[1];

	/* Where it went is shown only if it is a room name, and wanted. */
	if (s->config->announce_moves && room_valid(to, strlen(to)))
		chat_announce(s, r, NULL, "%s left for %s", m->field[0], to);
	else
		chat_announce(s, r, NULL, "%s left", m->field[0]);
}

static void
chat_remote_topic(struct server *s, struct room *r, const struct wire_msg *m)
{
	chat_topic(s, r, m->field[0], m->field[1]);
}

static void (*const chat_remote_handlers[WIRE_NTYPES])(struct server *,
    struct room *, const struct wire_msg *) = {
	[WIRE_SAY] = chat_remote_say,
	[WIRE_ME] = chat_remote_say,
	[WIRE_RAW] = chat_remote_raw,
	[WIRE_JOIN] = chat_remote_join,
	[WIRE_LEFT] = chat_remote_left,
	[WIRE_NICK] = chat_remote_nick,
	[WIRE_MSG] = chat_remote_msg,
	[WIRE_MOVED] = chat_remote_moved,
	[WIRE_TOPIC] = chat_remote_topic,
};

/*
 * An event from another node, decoded and checked by wire.c (names valid,
 * text sanitised and bounded) and cluster.c (no name held here), said in
 * room r (NULL for those not of a room: msg).  In raw mode only raw lines
 * are shown.
 */
void
chat_remote(struct server *s, struct room *r, const struct wire_msg *m)
{
	if (s->config->mode == MODE_RAW && m->type != WIRE_RAW)
		return;
	if (chat_remote_handlers[m->type] == NULL ||
	    (r == NULL && m->type != WIRE_MSG && m->type != WIRE_RAW))
		return;
	chat_remote_handlers[m->type](s, r, m);
}
