/*
 * control.c: the operator's side of chatd, over a local Unix socket:
 * what chatctl asks, and the bans and mutes it sets.
 *
 * A control connection is one more kind of client in the event loop (a
 * struct client with CLIENT_CONTROL): it is accepted by its own listener,
 * reads lines through the same futures and framing, and is answered
 * through the same output queue and limits, so a slow or stuck chatctl
 * costs what a slow chat client costs and never stalls the loop.  It is
 * not in the room: it gets no broadcasts, no name, no turn.  Who may
 * connect is decided once, at accept, from the peer's credentials
 * (SO_PEERCRED): root, chatd's own user, and members of [control] group.
 *
 * The protocol, for chatctl(8): a request is one line (ctlreq.c has the
 * grammar); the answer is zero or more data lines, each "| " and text,
 * then one status line, "ok" or "error " and why.  With "json" before the
 * command the data is one line holding one JSON document.  Lines end in
 * CRLF like everything chatd sends.  Requests are answered in order, one
 * at a time; a connection may send several.
 *
 * Bans live in a list (ban.c), are saved in the state database (store.c)
 * and shared with the other nodes of a cluster (cluster.c); a ban takes
 * effect at once on the clients it covers.  Mutes belong to connections
 * and are not saved.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config.h"
#include "chatd.h"

#define CONTROL_GROUPS_MAX	256	/* supplementary groups looked at */

/* Is the peer of fd allowed to control chatd?  *uid is set from it. */
static int
control_permitted(struct server *s, int fd, uid_t *uid)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof cred;
	struct group	*gr;
	struct passwd	*pw;
	gid_t		 groups[CONTROL_GROUPS_MAX];
	int		 n = CONTROL_GROUPS_MAX, i;

	*uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (0);
	*uid = cred.uid;
	if (cred.uid == 0 || cred.uid == geteuid())
		return (1);
	if (s->config->control_group == NULL ||
	    (gr = getgrnam(s->config->control_group)) == NULL)
		return (0);
	if (cred.gid == gr->gr_gid)
		return (1);
	if ((pw = getpwuid(cred.uid)) == NULL ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return (0);
	for (i = 0; i < n; i++) {
		if (groups[i] == gr->gr_gid)
			return (1);
	}
	return (0);
}

/*
 * A connection on the control socket: let it in, or say why not and
 * close it.
 */
void
control_admit(struct server *s, struct client *c)
{
	uid_t	uid;

	c->flags |= CLIENT_CONTROL;
	c->connected_ms = c->active_ms = server_now_ms(s);
	if (!control_permitted(s, c->fd, &uid)) {
		log_warnx("control: connection from uid %ld refused: not "
		    "root, chatd's user or a member of [control] group",
		    (long)(int)uid);
		output_printf(c, "error permission denied");
		client_close_after_flush(c, "not permitted");
		return;
	}
	log_debug("control: connection %llu from uid %ld",
	    (unsigned long long)c->id, (long)uid);
	client_set_state(c, CLIENT_ROOM);
	client_start(c);
}

/* When (epoch seconds) the client connected. */
static int64_t
control_since(struct server *s, const struct client *o)
{
	return ((int64_t)s->started +
	    (int64_t)((o->connected_ms - s->started_ms) / 1000));
}

/* Sends b, a JSON document, as the data line of the answer. */
static void
control_json(struct client *c, struct evbuffer *b)
{
	struct evbuffer	*line;

	if ((line = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add(line, "| ", 2);
	evbuffer_add_buffer(line, b);
	evbuffer_add(line, "\r\n", 2);
	output_buffer_add(c, line);
	evbuffer_free(line);
}

/*
 * Answers c, a control connection ("| text") or an operator in the chat
 * ("*** text"): the same actions answer both (chat.c's /kick and the rest
 * come here through control_operator()).
 */
static void	control_vanswer(struct client *, const char *, const char *,
		    va_list) __attribute__((format(printf, 3, 0)));
static void	control_ok(struct client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	control_err(struct client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
control_vanswer(struct client *c, const char *prefix, const char *fmt,
    va_list ap)
{
	char	*text;

	if (vasprintf(&text, fmt, ap) == -1)
		fatal("vasprintf");
	output_printf(c, "%s %s", (c->flags & CLIENT_CONTROL) ? prefix :
	    "***", text);
	free(text);
}

static void
control_ok(struct client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	control_vanswer(c, "|", fmt, ap);
	va_end(ap);
}

/* A refusal, as control_ok(): "error text" or "*** text". */
static void
control_err(struct client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	control_vanswer(c, "error", fmt, ap);
	va_end(ap);
}

/* Who did it, for the log: "control", or "operator NAME". */
static const char *
control_actor(const struct client *c, char *buf, size_t size)
{
	if (c->flags & CLIENT_CONTROL)
		return ("control");
	snprintf(buf, size, "operator %s", c->account != NULL ? c->account :
	    c->name);
	return (buf);
}

/* The client a request names: a user in the room, by name or by id. */
static struct client *
control_target(struct server *s, const struct ctlreq *r)
{
	struct client	*o;

	if (r->target != NULL)
		o = roster_find(&s->roster, r->target);
	else
		o = roster_by_id(&s->roster, r->target_id);
	return (o != NULL && client_in_room(o) ? o : NULL);
}

static void
control_no_target(struct client *c, const struct ctlreq *r)
{
	if (r->target != NULL)
		control_err(c, "no such user: %s", r->target);
	else
		control_err(c, "no such client: #%llu",
		    (unsigned long long)r->target_id);
}

/*
 * Removes o from the room for what = "kicked" or "banned": o is told, and
 * the others see it leave with the reason.
 */
void
control_remove(struct client *o, const char *what, const char *reason)
{
	free(o->reason_buf);
	if (*reason != '\0') {
		output_printf(o, "*** you have been %s: %s", what, reason);
		xasprintf(&o->reason_buf, "%s: %s", what, reason);
	} else {
		output_printf(o, "*** you have been %s", what);
		o->reason_buf = xstrdup(what);
	}
	client_close_after_flush(o, o->reason_buf);
}

static int
control_status(struct server *s, struct client *c, struct ctlreq *r)
{
	struct config	*conf = s->config;
	struct listener	*l;
	struct evbuffer	*b;
	char		 up[32], since[32];
	int		 first = 1;

	fmt_duration(up, sizeof up, (server_now_ms(s) - s->started_ms) /
	    1000);
	fmt_time(since, sizeof since, s->started);
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	if (r->json) {
		evbuffer_add_printf(b, "{\"version\":\"%s\",\"uptime_seconds\":"
		    "%llu,\"started\":\"%s\",\"mode\":\"%s\",\"listeners\":[",
		    PACKAGE_VERSION, (unsigned long long)(server_now_ms(s) -
		    s->started_ms) / 1000, since, conf->mode == MODE_RAW ?
		    "raw" : "chat");
		TAILQ_FOREACH(l, &s->listeners, entry) {
			if (!first)
				evbuffer_add(b, ",", 1);
			json_string(b, l->text);
			first = 0;
		}
		evbuffer_add_printf(b, "],\"clients\":%u,\"clients_peak\":%u,"
		    "\"cluster\":\"%s\",\"bans\":%u}", s->nclients,
		    s->stats.peak, cluster_state(s), s->bans.n);
		control_json(c, b);
	} else {
		output_printf(c, "| chatd %s", PACKAGE_VERSION);
		output_printf(c, "| uptime %s (since %s)", up, since);
		output_printf(c, "| mode %s", conf->mode == MODE_RAW ? "raw" :
		    "chat");
		TAILQ_FOREACH(l, &s->listeners, entry) {
			evbuffer_add_printf(b, "%s%s", first ? "" : " ",
			    l->text);
			first = 0;
		}
		evbuffer_add(b, "", 1);
		output_printf(c, "| listening %s",
		    (const char *)evbuffer_pullup(b, -1));
		output_printf(c, "| clients %u, peak %u", s->nclients,
		    s->stats.peak);
		if (conf->cluster_node != NULL)
			output_printf(c, "| cluster %s: node %s, room %s via %s",
			    cluster_state(s), conf->cluster_node,
			    conf->cluster_channel, conf->cluster_redis);
		else
			output_printf(c, "| cluster off");
		output_printf(c, "| bans %u", s->bans.n);
	}
	evbuffer_free(b);
	return (0);
}

static int
control_who(struct server *s, struct client *c, struct ctlreq *r)
{
	struct client	*o;
	struct evbuffer	*b;
	uint64_t	 now = server_now_ms(s);
	char		 since[32], idle[32], on[32];
	char		 where[NETADDR_MAX + 10];
	int		 first = 1;

	if (r->json) {
		if ((b = evbuffer_new()) == NULL)
			fatalx("evbuffer_new failed");
		evbuffer_add_printf(b, "{\"clients\":[");
		TAILQ_FOREACH(o, &s->clients, entry) {
			if (!(o->flags & CLIENT_CONNECTED))
				continue;
			fmt_time(since, sizeof since,
			    control_since(s, o));
			evbuffer_add_printf(b, "%s{\"id\":%llu,\"name\":",
			    first ? "" : ",", (unsigned long long)o->id);
			json_string(b, o->name);
			evbuffer_add_printf(b, ",\"room\":");
			json_string(b, o->room != NULL ? o->room->name : "");
			evbuffer_add_printf(b, ",\"address\":\"%s\",\"port\":%u,"
			    "\"connected\":\"%s\",\"connected_seconds\":%llu,"
			    "\"idle_seconds\":%llu,\"lines_in\":%u,"
			    "\"bytes_in\":%llu,\"lines_out\":%u,"
			    "\"bytes_out\":%llu,\"queued\":%zu,\"tls\":%s,"
			    "\"certfp\":", o->netaddr, o->port, since,
			    (unsigned long long)(now - o->connected_ms) / 1000,
			    (unsigned long long)(now - o->active_ms) / 1000,
			    o->lines_in, (unsigned long long)o->bytes_in,
			    o->lines_out, (unsigned long long)o->bytes_out,
			    output_length(o), (o->flags & CLIENT_TLS) ?
			    "true" : "false");
			if (o->certfp != NULL)
				evbuffer_add_printf(b, "\"SHA256:%s\"",
				    o->certfp);
			else
				evbuffer_add_printf(b, "null");
			evbuffer_add_printf(b, ",\"muted\":%s}",
			    (o->flags & CLIENT_MUTED) ? "true" : "false");
			first = 0;
		}
		evbuffer_add_printf(b, "]}");
		control_json(c, b);
		evbuffer_free(b);
		return (0);
	}
	output_printf(c, "| %-6s %-24s %-25s %-46s %-20s %7s %7s %9s %11s %9s "
	    "%11s %8s %s", "ID", "NAME", "ROOM", "ADDRESS:PORT", "CONNECTED",
	    "ON", "IDLE", "LINES-IN", "BYTES-IN", "LINES-OUT", "BYTES-OUT",
	    "QUEUED", "TLS");
	TAILQ_FOREACH(o, &s->clients, entry) {
		if (!(o->flags & CLIENT_CONNECTED))
			continue;
		fmt_time(since, sizeof since, control_since(s, o));
		fmt_duration(on, sizeof on, (now - o->connected_ms) /
		    1000);
		fmt_duration(idle, sizeof idle, (now - o->active_ms) /
		    1000);
		if (strchr(o->netaddr, ':') != NULL)
			snprintf(where, sizeof where, "[%s]:%u", o->netaddr,
			    o->port);
		else
			snprintf(where, sizeof where, "%s:%u", o->netaddr,
			    o->port);
		/* TLS: no, yes, or the client certificate's fingerprint. */
		output_printf(c, "| %-6llu %-24s %-25s %-46s %-20s %7s %7s %9u "
		    "%11llu %9u %11llu %8zu %s%s%s", (unsigned long long)o->id,
		    o->name, o->room != NULL ? o->room->name : "-", where,
		    since, on, idle, o->lines_in,
		    (unsigned long long)o->bytes_in, o->lines_out,
		    (unsigned long long)o->bytes_out, output_length(o),
		    !(o->flags & CLIENT_TLS) ? "no" : o->certfp == NULL ?
		    "yes" : "SHA256:", o->certfp != NULL ? o->certfp : "",
		    (o->flags & CLIENT_MUTED) ? " muted" : "");
	}
	return (0);
}

/*
 * The rooms of this node: name, members here, secret, permanent, topic.
 * In a cluster the members are this node's; /rooms counts every node's.
 */
static int
control_rooms(struct server *s, struct client *c, struct ctlreq *r)
{
	struct room	*rm;
	struct evbuffer	*b;
	int		 first = 1;

	if (r->json) {
		if ((b = evbuffer_new()) == NULL)
			fatalx("evbuffer_new failed");
		evbuffer_add_printf(b, "{\"rooms\":[");
		TAILQ_FOREACH(rm, &s->rooms.list, entry) {
			evbuffer_add_printf(b, "%s{\"name\":", first ? "" : ",");
			json_string(b, rm->name);
			evbuffer_add_printf(b, ",\"members\":%u,\"secret\":%s,"
			    "\"permanent\":%s,\"default\":%s,\"topic\":",
			    rm->nmembers, (rm->flags & ROOM_SECRET) ? "true" :
			    "false", (rm->flags & ROOM_PERMANENT) ? "true" :
			    "false", rm == s->lobby ? "true" : "false");
			if (rm->topic != NULL)
				json_string(b, rm->topic);
			else
				evbuffer_add_printf(b, "null");
			evbuffer_add(b, "}", 1);
			first = 0;
		}
		evbuffer_add_printf(b, "]}");
		control_json(c, b);
		evbuffer_free(b);
		return (0);
	}
	output_printf(c, "| %-33s %7s %-6s %-9s %s", "NAME", "MEMBERS",
	    "SECRET", "PERMANENT", "TOPIC");
	/* No topic: the line ends after PERMANENT, without blanks. */
	TAILQ_FOREACH(rm, &s->rooms.list, entry)
		output_printf(c, "| %-33s %7u %-6s %-*s%s%s", rm->name,
		    rm->nmembers, (rm->flags & ROOM_SECRET) ? "yes" : "no",
		    rm->topic != NULL ? 9 : 0, rm == s->lobby ? "default" :
		    (rm->flags & ROOM_PERMANENT) ? "yes" : "no",
		    rm->topic != NULL ? " " : "",
		    rm->topic != NULL ? rm->topic : "");
	return (0);
}

static int
control_kick(struct server *s, struct client *c, struct ctlreq *r)
{
	struct client	*o;
	char		 actor[NAME_LEN + 16];

	if ((o = control_target(s, r)) == NULL) {
		/* A name held on another node: that node kicks. */
		if (r->target != NULL && cluster_up(s) &&
		    roster_holder(&s->roster, r->target) == NULL) {
			log_notice("%s: asked the other nodes to kick %s%s%s",
			    control_actor(c, actor, sizeof actor), r->target,
			    *r->text != '\0' ? ": " : "", r->text);
			cluster_kick(s, (c->flags & CLIENT_CONTROL) ?
			    "control" : c->account, r->target, r->text);
			if (r->json)
				output_printf(c, "| {\"kick_sent\":\"%s\"}",
				    r->target);
			else
				control_ok(c, "%s is not on this node: asked "
				    "the other nodes to kick them", r->target);
			return (0);
		}
		control_no_target(c, r);
		return (-1);
	}
	log_notice("%s: %s (#%llu) kicked%s%s",
	    control_actor(c, actor, sizeof actor), o->name,
	    (unsigned long long)o->id, *r->text != '\0' ? ": " : "", r->text);
	if (r->json)
		output_printf(c, "| {\"kicked\":{\"id\":%llu,\"name\":\"%s\"}}",
		    (unsigned long long)o->id, o->name);
	else
		control_ok(c, "kicked %s (#%llu)", o->name,
		    (unsigned long long)o->id);
	control_remove(o, "kicked", r->text);
	return (0);
}

/* Removes the clients ban b covers.  Returns how many. */
static unsigned
control_ban_enforce(struct server *s, const struct ban *b)
{
	struct client	*o, *next;
	unsigned	 n = 0;

	for (o = TAILQ_FIRST(&s->clients); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (!client_in_room(o))
			continue;
		if ((b->kind == BAN_ADDRESS && ban_match_addr(b, o->netaddr)) ||
		    (b->kind == BAN_NAME && ban_match_name(b, o->name))) {
			control_remove(o, "banned", b->reason != NULL ?
			    b->reason : "");
			n++;
		}
	}
	return (n);
}

/*
 * A ban is in force, made by `by` (control_actor()) or, when NULL, on
 * another node: keep it, save it, and remove the clients it covers.
 * Returns how many.
 */
unsigned
control_ban_apply(struct server *s, const struct ban *b, const char *by)
{
	unsigned	n;

	ban_add(&s->bans, b);
	if (s->store != NULL)
		store_ban_put(s->store, b);
	n = control_ban_enforce(s, b);
	log_notice("%s%sban %s%s%s%s (%u client%s removed)", by != NULL ? by :
	    "", by != NULL ? ": " : "", b->pattern,
	    by == NULL ? " from another node" : "",
	    b->reason != NULL && *b->reason != '\0' ? ": " : "",
	    b->reason != NULL ? b->reason : "", n, n == 1 ? "" : "s");
	return (n);
}

/* Lifts a ban, by whom (control_actor()), or NULL: another node. */
void
control_unban_apply(struct server *s, const char *pattern, const char *by)
{
	if (!ban_remove(&s->bans, pattern))
		return;
	if (s->store != NULL)
		store_ban_del(s->store, pattern);
	log_notice("%s%sunban %s%s", by != NULL ? by : "", by != NULL ?
	    ": " : "", pattern, by == NULL ? " from another node" : "");
}

static int
control_ban(struct server *s, struct client *c, struct ctlreq *r)
{
	struct ban	*b = &r->ban;
	char		 until[32], actor[NAME_LEN + 16];
	int64_t		 now = (int64_t)time(NULL);
	unsigned	 n;

	b->created = now;
	b->expires = r->duration != 0 ? now + r->duration : 0;
	b->reason = (char *)r->text;
	n = control_ban_apply(s, b, control_actor(c, actor, sizeof actor));
	cluster_ban(s, b);
	if (b->expires != 0)
		fmt_time(until, sizeof until, b->expires);
	if (r->json)
		output_printf(c, "| {\"banned\":\"%s\",\"expires\":%s%s%s,"
		    "\"removed\":%u}", b->pattern, b->expires != 0 ? "\"" : "",
		    b->expires != 0 ? until : "null",
		    b->expires != 0 ? "\"" : "", n);
	else
		control_ok(c, "banned %s %s%s, %u client%s removed",
		    b->pattern, b->expires != 0 ? "until " : "for good",
		    b->expires != 0 ? until : "", n, n == 1 ? "" : "s");
	return (0);
}

static int
control_unban(struct server *s, struct client *c, struct ctlreq *r)
{
	char	actor[NAME_LEN + 16];

	if (ban_find(&s->bans, r->ban.pattern) == NULL) {
		control_err(c, "no such ban: %s", r->ban.pattern);
		return (-1);
	}
	control_unban_apply(s, r->ban.pattern, control_actor(c, actor,
	    sizeof actor));
	cluster_unban(s, r->ban.pattern);
	if (r->json)
		output_printf(c, "| {\"unbanned\":\"%s\"}", r->ban.pattern);
	else
		control_ok(c, "unbanned %s", r->ban.pattern);
	return (0);
}

static int
control_bans(struct server *s, struct client *c, struct ctlreq *r)
{
	struct ban	*b;
	struct evbuffer	*j = NULL;
	char		 until[32], made[32];
	int64_t		 now = (int64_t)time(NULL);
	int		 first = 1;

	if (r->json) {
		if ((j = evbuffer_new()) == NULL)
			fatalx("evbuffer_new failed");
		evbuffer_add_printf(j, "{\"bans\":[");
	} else
		output_printf(c, "| %-44s %-20s %-20s %s", "PATTERN", "SINCE",
		    "UNTIL", "REASON");
	TAILQ_FOREACH_REVERSE(b, &s->bans.list, ban_list, entry) {
		if (b->expires != 0 && b->expires <= now)
			continue;
		fmt_time(made, sizeof made, b->created);
		if (b->expires != 0)
			fmt_time(until, sizeof until, b->expires);
		else
			snprintf(until, sizeof until, "%s", r->json ? "" :
			    "-");
		if (j == NULL) {
			output_printf(c, "| %-44s %-20s %-20s %s", b->pattern,
			    made, until, b->reason != NULL ? b->reason : "");
			continue;
		}
		evbuffer_add_printf(j, "%s{\"pattern\":\"%s\",\"kind\":\"%s\","
		    "\"created\":\"%s\",\"expires\":", first ? "" : ",",
		    b->pattern, b->kind == BAN_NAME ? "name" :
		    strchr(b->pattern, '/') != NULL ? "prefix" : "address",
		    made);
		if (b->expires != 0)
			evbuffer_add_printf(j, "\"%s\"", until);
		else
			evbuffer_add_printf(j, "null");
		evbuffer_add_printf(j, ",\"reason\":");
		json_string(j, b->reason != NULL ? b->reason : "");
		evbuffer_add(j, "}", 1);
		first = 0;
	}
	if (j != NULL) {
		evbuffer_add_printf(j, "]}");
		control_json(c, j);
		evbuffer_free(j);
	}
	return (0);
}

static struct mute *
control_mute_find(struct server *s, uint64_t id)
{
	struct mute	*m;

	TAILQ_FOREACH(m, &s->mutes, entry) {
		if (m->id == id)
			return (m);
	}
	return (NULL);
}

static void
control_mute_forget(struct server *s, uint64_t id)
{
	struct mute	*m;

	if ((m = control_mute_find(s, id)) != NULL) {
		TAILQ_REMOVE(&s->mutes, m, entry);
		free(m);
	}
}

static int
control_mute(struct server *s, struct client *c, struct ctlreq *r)
{
	struct client	*o;
	struct mute	*m;
	char		 d[32], actor[NAME_LEN + 16];

	if ((o = control_target(s, r)) == NULL) {
		control_no_target(c, r);
		return (-1);
	}
	control_mute_forget(s, o->id);
	if (r->duration != 0) {
		m = xcalloc(1, sizeof *m);
		m->id = o->id;
		m->until_ms = server_now_ms(s) + (uint64_t)r->duration * 1000;
		TAILQ_INSERT_TAIL(&s->mutes, m, entry);
		fmt_duration(d, sizeof d, (uint64_t)r->duration);
	}
	if (!(o->flags & CLIENT_MUTED)) {
		o->flags |= CLIENT_MUTED;
		if (r->duration != 0)
			output_printf(o, "*** you have been muted for %s: "
			    "nobody sees what you say", d);
		else
			output_printf(o, "*** you have been muted: nobody "
			    "sees what you say");
	}
	log_notice("%s: %s (#%llu) muted%s%s",
	    control_actor(c, actor, sizeof actor), o->name,
	    (unsigned long long)o->id, r->duration != 0 ? " for " : "",
	    r->duration != 0 ? d : "");
	if (r->json)
		output_printf(c, "| {\"muted\":{\"id\":%llu,\"name\":\"%s\"}}",
		    (unsigned long long)o->id, o->name);
	else
		control_ok(c, "muted %s (#%llu)", o->name,
		    (unsigned long long)o->id);
	return (0);
}

/*
 * What is left of client id's timed mute, in ms (0: none, or until
 * unmuted), for the image a successor takes over.
 */
uint64_t
control_mute_left(struct server *s, uint64_t id, uint64_t now)
{
	struct mute	*m;

	if ((m = control_mute_find(s, id)) == NULL)
		return (0);
	return (m->until_ms > now ? m->until_ms - now : 1);
}

/* Client id, taken over muted, is unmuted at until_ms (control_cron()). */
void
control_mute_restore(struct server *s, uint64_t id, uint64_t until_ms)
{
	struct mute	*m;

	control_mute_forget(s, id);
	m = xcalloc(1, sizeof *m);
	m->id = id;
	m->until_ms = until_ms;
	TAILQ_INSERT_TAIL(&s->mutes, m, entry);
}

/* o may speak again; it is told so. */
static void
control_unmuted(struct server *s, struct client *o)
{
	control_mute_forget(s, o->id);
	if (!(o->flags & CLIENT_MUTED))
		return;
	o->flags &= ~CLIENT_MUTED;
	output_printf(o, "*** you are no longer muted");
	log_notice("%s (#%llu) no longer muted", o->name,
	    (unsigned long long)o->id);
}

static int
control_unmute(struct server *s, struct client *c, struct ctlreq *r)
{
	struct client	*o;

	if ((o = control_target(s, r)) == NULL) {
		control_no_target(c, r);
		return (-1);
	}
	if (!(o->flags & CLIENT_MUTED)) {
		control_err(c, "%s is not muted", o->name);
		return (-1);
	}
	control_unmuted(s, o);
	if (r->json)
		output_printf(c, "| {\"unmuted\":{\"id\":%llu,\"name\":\"%s\"}}",
		    (unsigned long long)o->id, o->name);
	else
		control_ok(c, "unmuted %s (#%llu)", o->name,
		    (unsigned long long)o->id);
	return (0);
}

static int
control_announce(struct server *s, struct client *c, struct ctlreq *r)
{
	struct msg	*m;
	char		 actor[NAME_LEN + 16];

	m = msg_printf("*** %s\r\n", r->text);
	server_broadcast_all(s, m);
	msg_unref(m);
	cluster_announce(s, r->text);
	log_notice("%s: announced: %s", control_actor(c, actor, sizeof actor),
	    r->text);
	if (r->json)
		output_printf(c, "| {\"announced\":%u}", s->nclients);
	else
		control_ok(c, "announced to %u client%s here", s->nclients,
		    s->nclients == 1 ? "" : "s");
	return (0);
}

static int
control_reload(struct server *s, struct client *c, struct ctlreq *r)
{
	char	err[1024];

	if (server_reload(s, err, sizeof err) != 0) {
		output_printf(c, "error %s", err);
		return (-1);
	}
	if (r->json)
		output_printf(c, "| {\"reloaded\":true}");
	else
		output_printf(c, "| configuration reloaded");
	return (0);
}

static int
control_stats(struct server *s, struct client *c, struct ctlreq *r)
{
	struct stats	*st = &s->stats;
	struct evbuffer	*b;
	size_t		 i;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add_printf(b, "clients %u\npeak %u\naccepted %llu\n",
	    s->nclients, st->peak, (unsigned long long)st->accepted);
	for (i = 0; i < REFUSED_NREASONS; i++)
		evbuffer_add_printf(b, "refused_%s %llu\n", metrics_refused_name((int)i),
		    (unsigned long long)st->refused[i]);
	for (i = 0; i < CLOSED_NREASONS; i++)
		evbuffer_add_printf(b, "closed_%s %llu\n", metrics_closed_name((int)i),
		    (unsigned long long)st->closed[i]);
	evbuffer_add_printf(b, "lines_received %llu\nlines_relayed %llu\n"
	    "deliveries %llu\nbytes_received %llu\nbytes_sent %llu\n"
	    "throttled_seconds %.3f\nlines_overlong %llu\nbans %u\n"
	    "cluster %s\ncluster_published %llu\ncluster_received %llu\n"
	    "cluster_outages %llu\n", (unsigned long long)st->lines_in,
	    (unsigned long long)st->relayed,
	    (unsigned long long)st->deliveries,
	    (unsigned long long)st->bytes_in,
	    (unsigned long long)st->bytes_out,
	    (double)st->throttled_ms / 1000, (unsigned long long)st->overlong,
	    s->bans.n, cluster_state(s), (unsigned long long)st->published,
	    (unsigned long long)st->received,
	    (unsigned long long)st->outages);
	evbuffer_add(b, "", 1);
	if (r->json) {
		char	*p = (char *)evbuffer_pullup(b, -1), *nl, *sp;
		struct evbuffer *j = evbuffer_new();
		int	 first = 1;

		if (j == NULL)
			fatalx("evbuffer_new failed");
		evbuffer_add(j, "{", 1);
		for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			sp = strchr(p, ' ');
			*sp = '\0';
			if (strcmp(p, "cluster") == 0)
				evbuffer_add_printf(j, "%s\"%s\":\"%s\"",
				    first ? "" : ",", p, sp + 1);
			else
				evbuffer_add_printf(j, "%s\"%s\":%s",
				    first ? "" : ",", p, sp + 1);
			first = 0;
		}
		evbuffer_add(j, "}", 1);
		control_json(c, j);
		evbuffer_free(j);
	} else {
		char	*p = (char *)evbuffer_pullup(b, -1), *nl;

		for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			output_printf(c, "| %s", p);
		}
	}
	evbuffer_free(b);
	return (0);
}

/*
 * Acts on request r from c (a control connection, or an operator through
 * control_operator()) and answers it.  Returns 0 if it succeeded (the
 * control protocol then says "ok"), -1 if not (the answer said why).
 */
static int
control_run(struct server *s, struct client *c, struct ctlreq *r)
{
	static int (*const handlers[CTL_NCMDS])(struct server *,
	    struct client *, struct ctlreq *) = {
		[CTL_STATUS] = control_status,
		[CTL_WHO] = control_who,
		[CTL_ROOMS] = control_rooms,
		[CTL_KICK] = control_kick,
		[CTL_BAN] = control_ban,
		[CTL_UNBAN] = control_unban,
		[CTL_BANS] = control_bans,
		[CTL_MUTE] = control_mute,
		[CTL_UNMUTE] = control_unmute,
		[CTL_ANNOUNCE] = control_announce,
		[CTL_RELOAD] = control_reload,
		[CTL_STATS] = control_stats,
	};

	if (r->cmd >= CTL_NCMDS || handlers[r->cmd] == NULL) {
		control_err(c, "unknown command");
		return (-1);
	}
	return (handlers[r->cmd](s, c, r));
}

/*
 * A request line from a control connection (sanitised like any line):
 * parse it, act, answer.  Returns 0: control connections never wait.
 */
int
control_input(struct server *s, struct client *c, char *line, size_t len)
{
	struct ctlreq	 r;
	const char	*why;
	int		 rc;

	if (ctlreq_parse(line, &r, &why) != 0) {
		output_printf(c, "error %s", why);
		return (0);
	}
	log_debug("control: connection %llu: %s", (unsigned long long)c->id,
	    ctlreq_name(r.cmd));
	rc = control_run(s, c, &r);
	if (rc == 0)
		output_printf(c, "ok");
	return (0);
}

/*
 * An operator's command from the chat (chat.c): line is "VERB ARGS" for
 * kick, ban, unban, mute, unmute or announce, acted on as chatctl's
 * request and answered in the chat's words.
 */
void
control_operator(struct server *s, struct client *c, char *line)
{
	struct ctlreq	 r;
	const char	*why;

	if (ctlreq_parse(line, &r, &why) != 0) {
		control_err(c, "%s", why);
		return;
	}
	switch (r.cmd) {
	case CTL_KICK:
	case CTL_BAN:
	case CTL_UNBAN:
	case CTL_MUTE:
	case CTL_UNMUTE:
	case CTL_ANNOUNCE:
		control_run(s, c, &r);
		break;
	default:
		control_err(c, "not an operator's command");
		break;
	}
}

/*
 * Whether the client, about to be admitted, is banned: if so it is told
 * (when tell) and closed, and 1 is returned.
 */
int
control_banned(struct server *s, struct client *c, int tell)
{
	struct ban	*b;

	if ((b = ban_check_addr(&s->bans, c->netaddr, (int64_t)time(NULL))) ==
	    NULL)
		return (0);
	log_notice("client %llu [%s]:%u refused: banned (%s)",
	    (unsigned long long)c->id, c->netaddr, c->port, b->pattern);
	if (!tell) {
		client_close(c, "banned");
		return (1);
	}
	if (b->reason != NULL && *b->reason != '\0')
		output_printf(c, "*** you are banned from this server: %s",
		    b->reason);
	else
		output_printf(c, "*** you are banned from this server");
	client_close_after_flush(c, "banned");
	return (1);
}

/*
 * Once a second: mutes that ran out end, and expired bans are dropped
 * from the list and the database.
 */
void
control_cron(struct server *s, uint64_t now)
{
	struct mute	*m, *next;
	struct client	*o;
	int64_t		 t = (int64_t)time(NULL);

	for (m = TAILQ_FIRST(&s->mutes); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->until_ms > now)
			continue;
		if ((o = roster_by_id(&s->roster, m->id)) != NULL)
			control_unmuted(s, o);
		else
			control_mute_forget(s, m->id);
	}
	if (ban_prune(&s->bans, t) != 0 && s->store != NULL)
		store_ban_prune(s->store, t);
}

void
control_free(struct server *s)
{
	struct mute	*m;

	while ((m = TAILQ_FIRST(&s->mutes)) != NULL) {
		TAILQ_REMOVE(&s->mutes, m, entry);
		free(m);
	}
	ban_clear(&s->bans);
}
