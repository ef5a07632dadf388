/*
 * cluster.c: the rooms of several chatd nodes, shared through Redis
 * pub/sub.
 *
 * chatd does not speak to other chatd nodes; every node speaks to Redis,
 * as Socket.IO's and Action Cable's Redis adapters do.  Two hiredis
 * connections on the node's libevent base: `sub` is subscribed to the
 * channels, `pub` carries everything else (PUBLISH, names, /who).  What
 * goes over a channel, and what is read back from keys, is wire.c's
 * grammar; this file only sends and acts.
 *
 * Rooms: the default room's lines go on the main channel, as they did
 * before rooms, with what is not of a room (bans, announcements, /msg);
 * every other room has a channel of its own, PREFIX and the room's key
 * ("chatd:#dev"), which a node hears only while it has members in the
 * room.  One channel with a room field was rejected: every node would
 * receive and decode every line of every room, so what a node spends
 * would grow with the whole cluster's traffic rather than with its own
 * rooms'; with a channel per room Redis does the sorting, and a node
 * with nobody in #dev spends nothing on it (reasoned, not measured: make
 * bench has no scenario of rooms across nodes).  The price is a SUBSCRIBE
 * when a room gains its first local member and an UNSUBSCRIBE when it
 * loses its last, and a window after the first: what the room says
 * elsewhere before Redis has the subscription is not heard here (the
 * node logs "subscribed to" at debug level once it has).  A room's topic
 * and secrecy live in PREFIX:room:KEY, whose expiry the nodes that use
 * the room refresh; a node reads them when it begins to hear the room,
 * and Redis's topic replaces the one it knew unless the topic changed
 * here meanwhile (a configured room forgets its topic when the node
 * stops hearing it).  The node's /who hash records each user's room, so
 * /rooms and /who count the members on every node.
 *
 * Trust: a node trusts Redis, and whoever can publish on the channel, for
 * what it cannot check: anyone who can publish can speak under any name
 * that is not held on this node.  What a node can check it refuses:
 * anything wire_decode() rejects (unknown version or type, bad names,
 * text a local client could not have sent, e.g. longer than max_line
 * allows), and a message that names one of this node's own users as its
 * speaker (a forged "<alice> ..." on alice's node).  Values read back from
 * keys pass the same rules before they reach a terminal or the log.
 * Keep Redis on a trusted network (README).
 *
 * Presence lives in Redis with expiry, so a crashed node's names free
 * themselves: PREFIX:nick:KEY (KEY is the name's key, name.c) holds "node
 * TAB name" (SET NX EX makes names unique across nodes) and
 * PREFIX:node:NODE is a hash of the node's users for /who; the node
 * refreshes both every third of presence_ttl.  A refresh that finds a key
 * gone (Redis restarted without persistence, or was flushed) claims it
 * again, as after an outage, so names stay unique.  Guest numbers come
 * from PREFIX:ids in blocks (INCRBY), so guest names do not collide across
 * nodes; a client's id is this process's own and never changes.
 *
 * Faults: a Redis that stops answering (a PING each second, or a client's
 * command, unanswered for reply_timeout) counts as lost, so that no client
 * waits on it for ever.  When either connection fails, both are dropped,
 * every request still waiting is failed (its client is told and goes on),
 * local clients are told once that the room is local-only, and the node
 * reconnects with exponential backoff (0.5 s to 10 s).  A command hiredis
 * refuses to queue fails its request at once and the link is treated as
 * lost.  Once subscribed again the node claims its names anew (a name
 * taken meanwhile elsewhere turns its local owner back into a guest) and
 * tells its clients the room is whole.  Lines sent while the room is
 * local-only stay local.
 *
 * Commands that need an answer from Redis (/nick, /msg to a remote user,
 * /who) pause the client's read loop: the request holds a future that
 * completes when the reply has been handled, and its continuation resumes
 * the client.  A request names its client by id and finds it on the
 * roster, so a client that left meanwhile is simply not found.  A request
 * counts the hiredis callbacks still to come and is freed after the last,
 * so no callback ever sees a freed request.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "chatd.h"
#include "sanitize.h"

#ifdef HAVE_HIREDIS

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#define CLUSTER_BACKOFF_MIN	500	/* ms */
#define CLUSTER_BACKOFF_MAX	10000	/* ms */
#define CLUSTER_CONNECT_MS	5000	/* connect timeout */
#define CLUSTER_ID_BLOCK	1000	/* guest numbers fetched at once */
#define CLUSTER_SCAN_COUNT	100	/* keys per SCAN step of /who */
#define CLUSTER_ROOM_TTL	4	/* a room's topic: this x presence_ttl */
/*
 * /nick with accounts: -1 if the account KEYS[2] exists, else SET KEYS[1]
 * ARGV[1] NX EX ARGV[2] (OK, or nil if the name is held).
 */
#define CLUSTER_NICK_OWNED	(-1)
#define CLUSTER_NICK_UNLESS_OWNED "if redis.call('EXISTS', KEYS[2]) == 1 " \
	"then return -1 end return redis.call('SET', KEYS[1], ARGV[1], " \
	"'NX', 'EX', ARGV[2])"
/* Deletes KEYS[1] if it holds ARGV[1]. */
#define CLUSTER_DEL_OURS	"if redis.call('GET', KEYS[1]) == ARGV[1] " \
	"then return redis.call('DEL', KEYS[1]) end return 0"

#define ID2PTR(id)	((void *)(uintptr_t)(id))
#define PTR2ID(p)	((uint64_t)(uintptr_t)(p))

struct cluster_req;

/* An unban made while the room was local-only, told to Redis on link. */
struct cluster_unban {
	char			 pattern[BAN_PATTERN_MAX];
	int64_t			 when;
	TAILQ_ENTRY(cluster_unban) entry;
};
TAILQ_HEAD(cluster_unbans, cluster_unban);

struct cluster {
	struct server		*server;
	redisAsyncContext	*pub;
	redisAsyncContext	*sub;
	int			 pub_ready;	/* connected (and authed) */
	int			 sub_ready;	/* subscribed */
	int			 up;		/* both: the room is whole */
	int			 down_told;	/* clients told local-only */
	int			 stopping;
	int			 lost_told;	/* logged: Redis lost our names */
	unsigned		 backoff;	/* ms */
	struct event		*retry_ev;
	struct event		*refresh_ev;
	struct event		*fail_ev;	/* a command was not queued */
	uint64_t		 ping_ms;	/* unanswered PING sent at */
	char			*prefix;	/* "channel:" */
	char			*own;		/* "chatd1 TAB node TAB" */
	size_t			 own_len;
	uint64_t		 guest_next;	/* block of guest numbers */
	uint64_t		 guest_end;
	struct log_rate		 bad_log;	/* refused channel messages */
	struct log_rate		 record_log;	/* refused key values */
	TAILQ_HEAD(, cluster_req) reqs;
	struct cluster_unbans	 unbans;	/* made while unlinked */
};

#define CLUSTER_TOMB_DAYS	30	/* how long an unban is remembered */

enum cluster_req_kind {
	REQ_NICK,
	REQ_MSG,
	REQ_WHO,
	REQ_ROOMS,
	REQ_CALL,	/* cluster_call(): no client, a callback */
};

/* What cluster_meta_reply() needs to know of the room it asked about. */
struct cluster_meta {
	char			 key[ROOM_NAME_LEN + 2];
	unsigned		 topic_gen;	/* the room's, when asked */
};

/* /rooms across the nodes: a room and how many are in it. */
struct cluster_room {
	char			 key[ROOM_NAME_LEN + 2];
	char			 name[ROOM_NAME_LEN + 2];
	unsigned		 count;
	int			 secret;
	char			*topic;
	int			 known;		/* heard here: topic known */
};
#define CLUSTER_ROOMS_MAX	10000	/* rooms /rooms looks at */

/* A command a client waits for. */
struct cluster_req {
	struct cluster		*cluster;
	enum cluster_req_kind	 kind;
	uint64_t		 client;	/* id of the waiting client */
	struct future		 done;
	unsigned		 inflight;	/* hiredis callbacks to come */
	int			 released;	/* done's continuation ran */
	char			 name[NAME_LEN + 1];
	char			*text;
	uint64_t		 sent_ms;	/* when it went to Redis */
	unsigned		 found;		/* /who: entries so far */
	unsigned		 page;
	unsigned		 per;
	char			 room[ROOM_NAME_LEN + 2];	/* key; "": all */
	char			 where[ROOM_NAME_LEN + 32];	/* for the end */
	struct cluster_room	*rooms;		/* /rooms */
	unsigned		 nrooms;
	cluster_call_fn		 call_fn;	/* REQ_CALL */
	void			*call_arg;
	TAILQ_ENTRY(cluster_req) entry;
};

static void	cluster_connect(struct cluster *);
static void	cluster_fetch_ids(struct cluster *);
static void	cluster_lost(struct cluster *, const char *);
static void	cluster_claim(struct cluster *, struct client *);
static void	cluster_sub_reply(redisAsyncContext *, void *, void *);
static void	cluster_meta_reply(redisAsyncContext *, void *, void *);
static void	cluster_room_enter(struct cluster *, struct room *);
static void	cluster_rooms_meta(struct cluster_req *);

/*
 * Sends a command on the pub link.  Returns 0, or -1 if hiredis did not
 * queue it: then no callback will come, and the link, which hiredis is
 * tearing down, is treated as lost from the event loop.
 */
static int
cluster_vcommand(struct cluster *cl, redisCallbackFn *fn, void *arg,
    const char *fmt, va_list ap)
{
	if (cl->pub == NULL)
		return (-1);
	if (redisvAsyncCommand(cl->pub, fn, arg, fmt, ap) != REDIS_OK) {
		log_warnx("cluster: Redis command not sent: %s",
		    cl->pub->errstr[0] != '\0' ? cl->pub->errstr :
		    "the link is closing");
		event_active(cl->fail_ev, 0, 0);
		return (-1);
	}
	return (0);
}

static int
cluster_command(struct cluster *cl, redisCallbackFn *fn, void *arg,
    const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = cluster_vcommand(cl, fn, arg, fmt, ap);
	va_end(ap);
	return (rc);
}

static void
cluster_fail_callback(evutil_socket_t fd, short events, void *arg)
{
	cluster_lost(arg, "a command could not be sent");
}

/* Logs a refused value read back from a key (rate limited: see log.c). */
static void
cluster_bad_record(struct cluster *cl, const char *what)
{
	unsigned	skipped;

	if (log_rate_ok(&cl->record_log, server_now_ms(cl->server), &skipped))
		log_warnx("cluster: malformed %s in Redis ignored (%u more "
		    "since the last report)", what, skipped);
}

/*
 * Publishes a message of type with its fields (as many as the type has).
 * Local-only: dropped.  This runs for every line a local client says.
 */
static void
cluster_publish4(struct cluster *cl, struct room *r, enum wire_type type,
    const char *f0, const char *f1, const char *f2, const char *f3)
{
	const char	*field[WIRE_FIELDS] = { f0, f1, f2, f3 };
	char		*msg;
	size_t		 len;
	int		 rc;

	if (!cl->up)
		return;
	msg = wire_encode(cl->server->config->cluster_node, type, field, &len);
	if (r != NULL && r != cl->server->lobby)
		rc = cluster_command(cl, NULL, NULL, "PUBLISH %s%s %b",
		    cl->prefix, r->key, msg, len);
	else
		rc = cluster_command(cl, NULL, NULL, "PUBLISH %s %b",
		    cl->server->config->cluster_channel, msg, len);
	if (rc == 0)
		cl->server->stats.published++;
	free(msg);
}

/*
 * Publishes on room r's channel; the default room's is the main channel,
 * which carries what is not of a room too (r NULL).  So a room of one
 * room is what it was before rooms, on the wire too.
 */
static void
cluster_publish(struct cluster *cl, struct room *r, enum wire_type type,
    const char *f0, const char *f1, const char *f2)
{
	cluster_publish4(cl, r, type, f0, f1, f2, NULL);
}

/* Tells every local client something about the room. */
static void
cluster_tell(struct cluster *cl, const char *text)
{
	struct msg	*m;

	m = msg_printf("*** %s\r\n", text);
	server_broadcast_all(cl->server, m);
	msg_unref(m);
}

/*
 * Lists c in the node's /who hash: name -> "connected-since TAB node TAB
 * room", where room is c's (NULL) or the one it is moving to.
 */
static void
cluster_who_add(struct cluster *cl, struct client *c, struct room *room)
{
	struct config	*conf = cl->server->config;
	long long	 since;

	since = (long long)time(NULL) - (long long)((server_now_ms(cl->server) -
	    c->connected_ms) / 1000);
	cluster_command(cl, NULL, NULL, "HSET %snode:%s %s %lld\t%s\t%s",
	    cl->prefix, conf->cluster_node, c->name, since, conf->cluster_node,
	    room != NULL ? room->name : c->room->name);
	cluster_command(cl, NULL, NULL, "EXPIRE %snode:%s %u", cl->prefix,
	    conf->cluster_node, conf->cluster_ttl);
}

/* The client a reply is about, if it is still in the room. */
static struct client *
cluster_client(struct cluster *cl, uint64_t id)
{
	struct client	*c = roster_by_id(&cl->server->roster, id);

	return (c != NULL && client_in_room(c) ? c : NULL);
}

static void	cluster_claim_reply(redisAsyncContext *, void *, void *);
static void	cluster_squat_reply(redisAsyncContext *, void *, void *);

/* cluster_claim()'s question about a name, and whose it was. */
struct cluster_squat {
	uint64_t	 client;
	char		 name[NAME_LEN + 1];
};
static void	cluster_owner_reply(redisAsyncContext *, void *, void *);

/* Sets c's name key to this node's value: "node TAB name". */
static void
cluster_set_name(struct cluster *cl, struct client *c, const char *mode,
    redisCallbackFn *fn)
{
	struct config	*conf = cl->server->config;
	char		 key[WIRE_KEY_MAX];

	wire_nick_key(cl->prefix, c->name, key);
	cluster_command(cl, fn, ID2PTR(c->id), "SET %s %s\t%s %s EX %u", key,
	    conf->cluster_node, c->name, mode, conf->cluster_ttl);
}

/*
 * Claims c's name across the room (at join, after an outage, and when
 * Redis lost it), fire and forget: if another node owns it, c becomes a
 * fresh guest.
 */
static void
cluster_claim(struct cluster *cl, struct client *c)
{
	struct cluster_squat	*q;
	char			 akey[WIRE_KEY_MAX];

	cluster_set_name(cl, c, "NX", cluster_claim_reply);
	cluster_who_add(cl, c, NULL);
	/*
	 * A name taken while the room was local-only may be registered
	 * (this node could not ask): its holder, unless logged in to it,
	 * gives it up.
	 */
	if (cl->server->accounts == NULL || name_is_guest(c->name) ||
	    (c->account != NULL && name_same(c->account, c->name)))
		return;
	q = xcalloc(1, sizeof *q);
	q->client = c->id;
	snprintf(q->name, sizeof q->name, "%s", c->name);
	wire_account_key(cl->prefix, c->name, akey);
	if (cluster_command(cl, cluster_squat_reply, q, "EXISTS %s", akey) !=
	    0)
		free(q);
}

/* The answer to cluster_claim()'s question: is the name registered? */
static void
cluster_squat_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_squat	*q = arg;
	struct cluster		*cl = ac->data;
	redisReply		*reply = r;
	struct client		*c;
	char			 why[2 * NAME_LEN + 64];

	if (reply != NULL && cl != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 1 &&
	    (c = cluster_client(cl, q->client)) != NULL &&
	    strcmp(c->name, q->name) == 0 && (c->account == NULL ||
	    !name_same(c->account, c->name))) {
		snprintf(why, sizeof why, "%s is registered: /login %s "
		    "PASSWORD to use it", q->name, q->name);
		chat_guest(cl->server, c, why);
	}
	free(q);
}

static void
cluster_claim_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	struct client	*c;
	char		 key[WIRE_KEY_MAX];

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_NIL)
		return;
	if ((c = cluster_client(cl, PTR2ID(arg))) == NULL)
		return;
	/* Taken: by us before the outage, or by someone else? */
	wire_nick_key(cl->prefix, c->name, key);
	cluster_command(cl, cluster_owner_reply, arg, "GET %s", key);
}

static void
cluster_owner_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	struct config	*conf;
	redisReply	*reply = r;
	struct client	*c;
	char		 old[NAME_LEN + 1], node[CONFIG_NODE_MAX + 1];
	char		 name[NAME_LEN + 1];

	if (reply == NULL || cl == NULL)
		return;
	if ((c = cluster_client(cl, PTR2ID(arg))) == NULL)
		return;
	conf = cl->server->config;
	if (reply->type == REDIS_REPLY_NIL) {
		cluster_claim(cl, c);	/* it just expired: try again */
		return;
	}
	if (reply->type != REDIS_REPLY_STRING ||
	    wire_parse_owner(reply->str, reply->len, node, name) != 0) {
		/* Nobody's, readably: the name is c's. */
		cluster_bad_record(cl, "name record");
		cluster_set_name(cl, c, "XX", NULL);
		return;
	}
	if (strcmp(node, conf->cluster_node) == 0) {
		/* Ours from before: keep it, spelled as c spells it now. */
		cluster_set_name(cl, c, "XX", NULL);
		return;
	}
	snprintf(old, sizeof old, "%s", c->name);
	cluster_command(cl, NULL, NULL, "HDEL %snode:%s %s", cl->prefix,
	    conf->cluster_node, old);
	/*
	 * Everyone who knew c by its old name is told: here, and on the
	 * other nodes through a "nick" message.  The old name's key is the
	 * other owner's now, so nothing is released (see cluster_renamed()).
	 */
	chat_name_lost(cl->server, c, cluster_next_guest(cl->server));
	cluster_publish(cl, c->room, WIRE_NICK, old, c->name, NULL);
	cluster_claim(cl, c);
}

static void
cluster_release(struct cluster *cl, const char *name)
{
	struct config	*conf = cl->server->config;
	char		 key[WIRE_KEY_MAX];

	if (!cl->up)
		return;
	wire_nick_key(cl->prefix, name, key);
	/*
	 * Only if it is still ours: an owner who logged in on another node
	 * may have taken it already (cluster_take()).
	 */
	cluster_command(cl, NULL, NULL, "EVAL %s 1 %s %s\t%s",
	    CLUSTER_DEL_OURS, key, conf->cluster_node, name);
	cluster_command(cl, NULL, NULL, "HDEL %snode:%s %s", cl->prefix,
	    conf->cluster_node, name);
}

static void
cluster_ping_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;

	if (cl != NULL && r != NULL)
		cl->ping_ms = 0;
}

/*
 * Once a second, from the server's cron: a Redis that has not answered a
 * PING or a client's command for reply_timeout is treated as lost (its
 * connections are dropped and every waiting command failed, and the node
 * relinks as after any outage).  Otherwise a new PING goes out.
 */
void
cluster_cron(struct server *s)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	uint64_t		 now, limit;

	if (cl == NULL || !cl->pub_ready)
		return;
	now = server_now_ms(s);
	limit = (uint64_t)s->config->cluster_timeout * 1000;
	TAILQ_FOREACH(req, &cl->reqs, entry) {
		if (future_pending(&req->done))
			break;
	}
	if ((cl->ping_ms != 0 && now - cl->ping_ms >= limit) ||
	    (req != NULL && now - req->sent_ms >= limit)) {
		log_warnx("cluster: Redis has not answered for %u seconds",
		    s->config->cluster_timeout);
		cluster_lost(cl, "no answer");
		return;
	}
	if (cl->ping_ms == 0 &&
	    cluster_command(cl, cluster_ping_reply, NULL, "PING") == 0)
		cl->ping_ms = now;
}

/* A refreshed name key was gone: Redis lost it, so claim it again. */
static void
cluster_expire_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	struct client	*c;

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_INTEGER ||
	    reply->integer != 0 || !cl->up)
		return;
	if ((c = cluster_client(cl, PTR2ID(arg))) == NULL)
		return;
	if (!cl->lost_told) {
		log_notice("cluster: Redis lost this node's names (restarted "
		    "or flushed); claiming them again");
		cl->lost_told = 1;
	}
	log_info("cluster: claiming %s again", c->name);
	cluster_claim(cl, c);
}

/*
 * A room's topic and secrecy, read when this node began to hear it: arg
 * is a struct cluster_meta (the room may be gone by now).  Redis has the
 * room's topic, which this node may have missed while it did not hear
 * the room: it replaces what the node knew, unless the topic changed
 * here since it was asked, which is newer.
 */
static void
cluster_meta_reply(redisAsyncContext *ac, void *rp, void *arg)
{
	struct cluster		*cl = ac->data;
	struct cluster_meta	*meta = arg;
	redisReply		*reply = rp, *topic, *secret;
	struct room		*r;
	char			*buf;
	size_t			 n;
	int			 newer;

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    (r = room_find(&cl->server->rooms, meta->key)) == NULL ||
	    r->nmembers == 0) {
		free(meta);
		return;
	}
	newer = r->topic_gen != meta->topic_gen;
	free(meta);
	topic = reply->element[0];
	secret = reply->element[1];
	if (secret->type == REDIS_REPLY_STRING && secret->len == 1 &&
	    secret->str[0] == '1')
		r->flags |= ROOM_SECRET;
	if (newer)
		return;
	if (topic->type == REDIS_REPLY_NIL) {
		chat_topic(cl->server, r, NULL, NULL);
		return;
	}
	if (topic->type != REDIS_REPLY_STRING ||
	    topic->len > SANITIZE_MAX(cl->server->config->max_line)) {
		cluster_bad_record(cl, "room topic");
		return;
	}
	/* Read back, a topic is held to the rules of what a client says. */
	buf = xmalloc(SANITIZE_MAX(topic->len) + 1);
	n = sanitize_line(topic->str, topic->len, buf);
	buf[n] = '\0';
	if (n == topic->len && memcmp(buf, topic->str, n) == 0)
		chat_topic(cl->server, r, NULL, buf);
	else
		cluster_bad_record(cl, "room topic");
	free(buf);
}

/* The node's /who hash was gone: list every local user again. */
static void
cluster_node_expire_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	struct client	*c;

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_INTEGER ||
	    reply->integer != 0 || !cl->up)
		return;
	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (client_in_room(c))
			cluster_who_add(cl, c, NULL);
	}
}

/*
 * Every third of the TTL: keep our names and our /who hash alive, and
 * claim again whatever Redis lost.
 */
static void
cluster_refresh_callback(evutil_socket_t fd, short events, void *arg)
{
	struct cluster	*cl = arg;
	struct config	*conf = cl->server->config;
	struct client	*c;
	struct room	*r;
	char		 key[WIRE_KEY_MAX];

	if (!cl->up)
		return;
	cl->lost_told = 0;
	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (!client_in_room(c))
			continue;
		wire_nick_key(cl->prefix, c->name, key);
		cluster_command(cl, cluster_expire_reply, ID2PTR(c->id),
		    "EXPIRE %s %u", key, conf->cluster_ttl);
	}
	cluster_command(cl, cluster_node_expire_reply, NULL,
	    "EXPIRE %snode:%s %u", cl->prefix, conf->cluster_node,
	    conf->cluster_ttl);
	TAILQ_FOREACH(r, &cl->server->rooms.list, entry) {
		if (r->nmembers != 0 || (r->flags & ROOM_PERMANENT))
			cluster_command(cl, NULL, NULL, "EXPIRE %sroom:%s %u",
			    cl->prefix, r->key,
			    conf->cluster_ttl * CLUSTER_ROOM_TTL);
	}
	if (cl->guest_end - cl->guest_next < CLUSTER_ID_BLOCK / 2)
		cluster_fetch_ids(cl);
}

/*
 * Whether m names one of this node's users as one of the room's users
 * elsewhere (its speaker, or a name it joined, left or took): such a
 * message is forged, or stale, and is not shown.  Returns that name.  The
 * one exception is a rename to a guest name (see below), so the most a
 * forger can show about one of ours is "NAME is now known as guestN".
 */
static const char *
cluster_forged(struct cluster *cl, const struct wire_msg *m)
{
	int	i;

	for (i = 0; i < wire_names(m->type); i++) {
		if (m->type == WIRE_MSG && i == 1)
			continue;	/* the recipient, who is ours */
		/*
		 * A kick names the operator (an account, or "control", which
		 * anyone here may hold as a name) and whom, ours; a reclaim
		 * a name whose owner logged in elsewhere, held here.
		 */
		if (m->type == WIRE_KICK || m->type == WIRE_RECLAIM)
			continue;
		/*
		 * After an outage two nodes may have given out one name;
		 * the node that claims it second renames its user to a
		 * guest name and says so, naming the name ours still
		 * holds.  That rename is shown; no other naming of ours.
		 */
		if (m->type == WIRE_NICK && i == 0 &&
		    name_is_guest(m->field[1]))
			continue;
		if (roster_holder(&cl->server->roster, m->field[i]) != NULL)
			return (m->field[i]);
	}
	return (NULL);
}

/*
 * Copies at most size - 1 bytes of s[0..len) for the log, with TAB as a
 * space and anything else but printable ASCII as '?': channel content is
 * not trusted.
 */
static const char *
cluster_printable(const char *s, size_t len, char *buf, size_t size)
{
	size_t	i;

	for (i = 0; i + 1 < size && i < len; i++) {
		if (s[i] == '\t')
			buf[i] = ' ';
		else
			buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	buf[i] = '\0';
	return (buf);
}

/*
 * A message refused: every one is logged at debug level, and a warning
 * at most once a minute, since anyone who can publish can repeat it.
 */
static void
cluster_refused(struct cluster *cl, const char *data, size_t len,
    const char *why)
{
	char		text[64];
	unsigned	skipped;

	cluster_printable(data, len, text, sizeof text);
	log_debug("cluster: message ignored (%s): %s", why, text);
	if (log_rate_ok(&cl->bad_log, server_now_ms(cl->server), &skipped))
		log_warnx("cluster: message ignored (%s): %s; %u more ignored "
		    "since the last warning", why, text, skipped);
}

/*
 * A message from chatctl on another node (ban, unban, announce) is acted
 * on here; any other goes to chat, with the room whose channel it came
 * on (NULL: the main channel).  Returns -1 if a ban is not valid.
 */
static int
cluster_operator(struct cluster *cl, struct room *r, const struct wire_msg *m)
{
	struct server	*s = cl->server;
	struct ban	 b;
	struct msg	*line;
	char		 reason[BAN_REASON_MAX + 1];
	const char	*why;

	switch (m->type) {
	case WIRE_BAN:
		if (wire_ban(m, &b, reason) != 0)
			return (-1);
		if (b.expires == 0 || b.expires > (int64_t)time(NULL))
			control_ban_apply(s, &b, NULL);
		return (0);
	case WIRE_UNBAN:
		if (ban_parse(m->field[0], &b, &why) != 0)
			return (-1);
		control_unban_apply(s, b.pattern, NULL);
		return (0);
	case WIRE_ANNOUNCE:
		line = msg_printf("*** %s\r\n", m->field[0]);
		server_broadcast_all(s, line);
		msg_unref(line);
		return (0);
	case WIRE_KICK:
		account_remote_kick(s, m);
		return (0);
	case WIRE_RECLAIM:
		account_remote_reclaim(s, m);
		return (0);
	default:
		chat_remote(s, r, m);
		return (0);
	}
}

/* Is a message of this type said in a room (on the room's channel)? */
static int
cluster_room_type(enum wire_type type)
{
	switch (type) {
	case WIRE_SAY:
	case WIRE_ME:
	case WIRE_RAW:
	case WIRE_JOIN:
	case WIRE_LEFT:
	case WIRE_NICK:
	case WIRE_MOVED:
	case WIRE_TOPIC:
		return (1);
	default:
		return (0);
	}
}

/*
 * A message from a channel: decode, check, hand to chat.  r is the room
 * whose channel it came on, NULL for the main channel, where what is of a
 * room is of the default room.
 */
static void
cluster_message(struct cluster *cl, struct room *r, const char *data,
    size_t len)
{
	struct server	*s = cl->server;
	struct wire_msg	 m;
	const char	*why, *name;
	char		 buf[128];

	/* Our own: delivered locally already, and not worth decoding. */
	if (len > cl->own_len && memcmp(data, cl->own, cl->own_len) == 0)
		return;
	if (wire_decode(data, len, SANITIZE_MAX(s->config->max_line), &m,
	    &why) != 0) {
		cluster_refused(cl, data, len, why);
		return;
	}
	s->stats.received++;
	if ((name = cluster_forged(cl, &m)) != NULL) {
		snprintf(buf, sizeof buf, "names %s, a user of this node",
		    name);
		cluster_refused(cl, data, len, buf);
	} else if (r != NULL && !cluster_room_type(m.type))
		cluster_refused(cl, data, len, "not of a room");
	else if (cluster_operator(cl, r != NULL || !cluster_room_type(m.type) ?
	    r : s->lobby, &m) != 0)
		cluster_refused(cl, data, len, "bad ban");
	wire_msg_free(&m);
}

/* Saves a ban under PREFIX:bans, and forgets an unban of its pattern. */
static void
cluster_ban_put(struct cluster *cl, const struct ban *b)
{
	cluster_command(cl, NULL, NULL, "HSET %sbans %s %lld\t%lld\t%s",
	    cl->prefix, b->pattern, (long long)b->expires,
	    (long long)b->created, b->reason != NULL ? b->reason : "");
	cluster_command(cl, NULL, NULL, "HDEL %sunbans %s", cl->prefix,
	    b->pattern);
}

/* Removes a ban from Redis and remembers the unban (a tombstone). */
static void
cluster_unban_put(struct cluster *cl, const char *pattern, int64_t when)
{
	cluster_command(cl, NULL, NULL, "HDEL %sbans %s", cl->prefix, pattern);
	cluster_command(cl, NULL, NULL, "HSET %sunbans %s %lld", cl->prefix,
	    pattern, (long long)when);
}

/*
 * The room's bans and unbans, read back on link: bans this node lacks
 * are applied, bans it holds that were lifted elsewhere meanwhile (an
 * unban newer than the ban) are lifted, and bans only this node holds
 * (made while cut off, or kept while Redis lost its data) are saved.
 */
static void
cluster_bans_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	struct server	*s;
	redisReply	*reply = r, *bans, *unbans, *f, *v;
	struct ban	 b, *lb, *next;
	char		 reason[BAN_REASON_MAX + 1], pat[BAN_PATTERN_MAX];
	int64_t		 now = (int64_t)time(NULL), when;
	size_t		 i;

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_ARRAY ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	s = cl->server;
	bans = reply->element[0];
	unbans = reply->element[1];
	/* Unbans newer than a ban held here lift it. */
	for (i = 0; i + 1 < unbans->elements; i += 2) {
		f = unbans->element[i];
		v = unbans->element[i + 1];
		if (f->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING || f->len >= sizeof pat ||
		    memchr(f->str, '\0', f->len) != NULL)
			continue;
		when = strtoll(v->str, NULL, 10);
		memcpy(pat, f->str, f->len);
		pat[f->len] = '\0';
		if (when < now - CLUSTER_TOMB_DAYS * 86400LL) {
			cluster_command(cl, NULL, NULL, "HDEL %sunbans %s",
			    cl->prefix, pat);
			continue;
		}
		if ((lb = ban_find(&s->bans, pat)) != NULL &&
		    lb->created <= when)
			control_unban_apply(s, pat, NULL);
	}
	for (i = 0; i + 1 < bans->elements; i += 2) {
		f = bans->element[i];
		v = bans->element[i + 1];
		if (f->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING ||
		    wire_parse_ban(f->str, f->len, v->str, v->len, &b,
		    reason) != 0) {
			cluster_bad_record(cl, "ban");
			continue;
		}
		if ((b.expires != 0 && b.expires <= now) ||
		    ((lb = ban_find(&s->bans, b.pattern)) != NULL &&
		    lb->created >= b.created))
			continue;
		control_ban_apply(s, &b, NULL);
	}
	/* Ours alone: saved for the room. */
	for (lb = TAILQ_FIRST(&s->bans.list); lb != NULL; lb = next) {
		next = TAILQ_NEXT(lb, entry);
		for (i = 0; i + 1 < bans->elements; i += 2) {
			f = bans->element[i];
			if (f->type == REDIS_REPLY_STRING &&
			    f->len == strlen(lb->pattern) &&
			    memcmp(f->str, lb->pattern, f->len) == 0)
				break;
		}
		if (i + 1 >= bans->elements)
			cluster_ban_put(cl, lb);
	}
}

static void
cluster_bans_sync(struct cluster *cl)
{
	struct cluster_unban	*u;

	/* Unbans made while cut off go first, so the sync sees them. */
	while ((u = TAILQ_FIRST(&cl->unbans)) != NULL) {
		TAILQ_REMOVE(&cl->unbans, u, entry);
		cluster_unban_put(cl, u->pattern, u->when);
		free(u);
	}
	cluster_command(cl, NULL, NULL, "MULTI");
	cluster_command(cl, NULL, NULL, "HGETALL %sbans", cl->prefix);
	cluster_command(cl, NULL, NULL, "HGETALL %sunbans", cl->prefix);
	cluster_command(cl, cluster_bans_reply, NULL, "EXEC");
}

/*
 * Both connections are ready (in whichever order they became so): the room
 * is whole.  Our /who hash is rebuilt from scratch, since users who left
 * while we were cut off (or before a restart under the same node name)
 * must not linger in it, and our names are claimed again.
 */
static void
cluster_linked(struct cluster *cl)
{
	struct config	*conf = cl->server->config;
	struct client	*c;
	struct room	*r;

	cl->up = 1;
	cl->backoff = 0;
	evtimer_del(cl->retry_ev);
	log_notice("cluster: linked to Redis, room %s shared",
	    conf->cluster_channel);
	cluster_command(cl, NULL, NULL, "DEL %snode:%s", cl->prefix,
	    conf->cluster_node);
	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (client_in_room(c))
			cluster_claim(cl, c);
	}
	TAILQ_FOREACH(r, &cl->server->rooms.list, entry) {
		if (r->nmembers != 0)
			cluster_room_enter(cl, r);
	}
	cluster_bans_sync(cl);
	if (cl->down_told) {
		cluster_tell(cl, "the room is whole again: other nodes are "
		    "back");
		cl->down_told = 0;
	}
}

static void
cluster_sub_reply(redisAsyncContext *ac, void *rp, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = rp, *chan;
	struct room	*r;
	int		 main, room;

	if (reply == NULL || cl == NULL || cl->stopping)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		log_warnx("cluster: unexpected reply on the subscription");
		return;
	}
	chan = reply->element[1];
	if (chan->type != REDIS_REPLY_STRING)
		return;
	main = strcmp(chan->str, cl->server->config->cluster_channel) == 0;
	/* A room's channel: PREFIX and the room's key. */
	room = !main && chan->len > strlen(cl->prefix) &&
	    strncmp(chan->str, cl->prefix, strlen(cl->prefix)) == 0 &&
	    room_valid(chan->str + strlen(cl->prefix), chan->len -
	    strlen(cl->prefix));
	if (strcmp(reply->element[0]->str, "subscribe") == 0) {
		if (main && !cl->sub_ready) {
			cl->sub_ready = 1;
			if (cl->pub_ready)
				cluster_linked(cl);
		}
		/* From now on the room's lines reach this node. */
		if (room)
			log_debug("cluster: subscribed to %s", chan->str);
		return;
	}
	if (strcmp(reply->element[0]->str, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (main) {
		cluster_message(cl, NULL, reply->element[2]->str,
		    reply->element[2]->len);
		return;
	}
	if (room && (r = room_find(&cl->server->rooms, chan->str +
	    strlen(cl->prefix))) != NULL && r->nmembers != 0)
		cluster_message(cl, r, reply->element[2]->str,
		    reply->element[2]->len);
}

static void
cluster_ids_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	struct server	*s;
	redisReply	*reply = r;
	uint64_t	 end;

	if (reply == NULL || cl == NULL || reply->type !=
	    REDIS_REPLY_INTEGER || reply->integer < CLUSTER_ID_BLOCK)
		return;
	s = cl->server;
	end = (uint64_t)reply->integer + 1;
	/* Never a guest number below one this process gave out. */
	if (end <= s->next_guest + 1)
		return;
	cl->guest_next = (uint64_t)reply->integer - CLUSTER_ID_BLOCK + 1;
	if (cl->guest_next <= s->next_guest)
		cl->guest_next = s->next_guest + 1;
	cl->guest_end = end;
	log_debug("cluster: guest numbers %llu to %llu from Redis",
	    (unsigned long long)cl->guest_next,
	    (unsigned long long)cl->guest_end - 1);
}

static void
cluster_fetch_ids(struct cluster *cl)
{
	if (cl->pub_ready)
		cluster_command(cl, cluster_ids_reply, NULL, "INCRBY %sids %u",
		    cl->prefix, CLUSTER_ID_BLOCK);
}

/*
 * The next guest number: from the node's block while it lasts, so that
 * guest names are unique across nodes; else from the local counter.
 */
uint64_t
cluster_next_guest(struct server *s)
{
	struct cluster	*cl = s->cluster;

	if (cl != NULL && cl->guest_next != 0 &&
	    cl->guest_next < cl->guest_end) {
		s->next_guest = cl->guest_next++;
		if (cl->guest_end - cl->guest_next == CLUSTER_ID_BLOCK / 2)
			cluster_fetch_ids(cl);
		return (s->next_guest);
	}
	return (++s->next_guest);
}

static void
cluster_auth_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	char		 text[128];
	size_t		 n;

	if (reply == NULL || cl == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		n = sanitize_line(reply->str, reply->len > 40 ? 40 :
		    reply->len, text);
		text[n] = '\0';
		log_warnx("cluster: Redis refused the password: %s", text);
	}
}

static void
cluster_connected(const redisAsyncContext *ac, int status)
{
	struct cluster	*cl = ac->data;
	struct config	*conf;

	if (cl == NULL)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		if (ac == cl->pub)
			cl->pub = NULL;
		else
			cl->sub = NULL;
		cluster_lost(cl, ac->errstr);
		return;
	}
	conf = cl->server->config;
	if (ac == cl->pub) {
		cl->pub_ready = 1;
		cluster_fetch_ids(cl);
		if (cl->sub_ready && !cl->up)
			cluster_linked(cl);
	} else if (redisAsyncCommand(cl->sub, cluster_sub_reply, NULL,
	    "SUBSCRIBE %s", conf->cluster_channel) != REDIS_OK)
		event_active(cl->fail_ev, 0, 0);
}

static void
cluster_disconnected(const redisAsyncContext *ac, int status)
{
	struct cluster	*cl = ac->data;

	if (cl == NULL)
		return;
	if (ac == cl->pub)
		cl->pub = NULL;
	else if (ac == cl->sub)
		cl->sub = NULL;
	cluster_lost(cl, status == REDIS_OK ? "closed" :
	    (ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr :
	    "connection lost"));
}

static void
cluster_retry_callback(evutil_socket_t fd, short events, void *arg)
{
	struct cluster	*cl = arg;

	if (cl->pub == NULL && cl->sub == NULL)
		cluster_connect(cl);
	else if (!cl->up)
		cluster_lost(cl, "timed out");
}

static void	cluster_req_finish(struct cluster_req *, int);

/*
 * Either connection failed: drop both, fail every request still waiting,
 * tell the room once, and try again after the backoff.
 */
static void
cluster_lost(struct cluster *cl, const char *why)
{
	redisAsyncContext	*ac;
	struct cluster_req	*req;
	struct timeval		 tv;

	if (cl->stopping)
		return;
	if (cl->up)
		cl->server->stats.outages++;
	if (cl->up || cl->backoff == 0)
		log_warnx("cluster: lost Redis (%s); the room is local-only "
		    "until it returns", why);
	else
		log_debug("cluster: Redis still unreachable (%s)", why);
	cl->up = cl->pub_ready = cl->sub_ready = 0;
	cl->guest_next = cl->guest_end = 0;
	cl->ping_ms = 0;
	/* hiredis calls the callbacks still to come, with no reply. */
	if ((ac = cl->pub) != NULL) {
		cl->pub = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if ((ac = cl->sub) != NULL) {
		cl->sub = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	/* And a request whose command never went out has none to come. */
	TAILQ_FOREACH(req, &cl->reqs, entry)
		cluster_req_finish(req, ECONNRESET);
	if (!cl->down_told && cl->server->nclients > 0) {
		cluster_tell(cl, "the room is temporarily local-only: lines "
		    "reach this server's users only");
		cl->down_told = 1;
	}
	cl->backoff = cl->backoff == 0 ? CLUSTER_BACKOFF_MIN :
	    cl->backoff * 2;
	if (cl->backoff > CLUSTER_BACKOFF_MAX)
		cl->backoff = CLUSTER_BACKOFF_MAX;
	tv.tv_sec = cl->backoff / 1000;
	tv.tv_usec = (cl->backoff % 1000) * 1000;
	evtimer_add(cl->retry_ev, &tv);
}

static redisAsyncContext *
cluster_open(struct cluster *cl)
{
	struct config		*conf = cl->server->config;
	redisAsyncContext	*ac;

	if (conf->cluster_path != NULL)
		ac = redisAsyncConnectUnix(conf->cluster_path);
	else
		ac = redisAsyncConnect(conf->cluster_host, conf->cluster_port);
	if (ac == NULL)
		fatalx("cluster: out of memory");
	if (ac->err) {
		log_debug("cluster: connect: %s", ac->errstr);
		redisAsyncFree(ac);
		return (NULL);
	}
	ac->data = cl;
	if (redisLibeventAttach(ac, cl->server->base) != REDIS_OK)
		fatalx("cluster: cannot attach to the event loop");
	redisAsyncSetConnectCallback(ac, cluster_connected);
	redisAsyncSetDisconnectCallback(ac, cluster_disconnected);
	if (conf->cluster_password != NULL &&
	    redisAsyncCommand(ac, cluster_auth_reply, NULL, "AUTH %s",
	    conf->cluster_password) != REDIS_OK) {
		ac->data = NULL;
		redisAsyncFree(ac);
		return (NULL);
	}
	return (ac);
}

static void
cluster_connect(struct cluster *cl)
{
	struct timeval	tv = { CLUSTER_CONNECT_MS / 1000, 0 };

	cl->pub = cluster_open(cl);
	cl->sub = cl->pub != NULL ? cluster_open(cl) : NULL;
	if (cl->pub == NULL || cl->sub == NULL) {
		cluster_lost(cl, "cannot connect");
		return;
	}
	/* hiredis 0.14 has no async connect timeout: ours. */
	evtimer_add(cl->retry_ev, &tv);
}

/* Starts linking the room through Redis, if [cluster] is configured. */
void
cluster_start(struct server *s)
{
	struct config	*conf = s->config;
	struct cluster	*cl;
	struct timeval	 tv = { conf->cluster_ttl / 3, 0 };

	if (conf->cluster_host == NULL && conf->cluster_path == NULL)
		return;
	cl = xcalloc(1, sizeof *cl);
	cl->server = s;
	TAILQ_INIT(&cl->reqs);
	TAILQ_INIT(&cl->unbans);
	xasprintf(&cl->prefix, "%s:", conf->cluster_channel);
	cl->own_len = (size_t)xasprintf(&cl->own, "%s\t%s\t", WIRE_VERSION,
	    conf->cluster_node);
	cl->retry_ev = evtimer_new(s->base, cluster_retry_callback, cl);
	cl->refresh_ev = event_new(s->base, -1, EV_PERSIST,
	    cluster_refresh_callback, cl);
	cl->fail_ev = event_new(s->base, -1, 0, cluster_fail_callback, cl);
	if (cl->retry_ev == NULL || cl->refresh_ev == NULL ||
	    cl->fail_ev == NULL)
		fatalx("cluster: event_new failed");
	if (tv.tv_sec == 0)
		tv.tv_sec = 1;
	event_add(cl->refresh_ev, &tv);
	s->cluster = cl;
	log_notice("cluster: node %s, room %s via Redis at %s",
	    conf->cluster_node, conf->cluster_channel, conf->cluster_redis);
	cluster_connect(cl);
}

static void
cluster_req_free(struct cluster_req *req)
{
	unsigned	i;

	for (i = 0; i < req->nrooms; i++)
		free(req->rooms[i].topic);
	free(req->rooms);
	free(req->text);
	free(req);
}

void
cluster_free(struct server *s)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	struct cluster_unban	*u;

	if (cl == NULL)
		return;
	cl->stopping = 1;
	while ((u = TAILQ_FIRST(&cl->unbans)) != NULL) {
		TAILQ_REMOVE(&cl->unbans, u, entry);
		free(u);
	}
	/* First: the callbacks still to come run now, on live requests. */
	if (cl->pub != NULL) {
		cl->pub->data = NULL;
		redisAsyncFree(cl->pub);
	}
	if (cl->sub != NULL) {
		cl->sub->data = NULL;
		redisAsyncFree(cl->sub);
	}
	while ((req = TAILQ_FIRST(&cl->reqs)) != NULL) {
		TAILQ_REMOVE(&cl->reqs, req, entry);
		future_cancel(&req->done);
		cluster_req_free(req);
	}
	event_free(cl->retry_ev);
	event_free(cl->refresh_ev);
	event_free(cl->fail_ev);
	free(cl->prefix);
	free(cl->own);
	free(cl);
	s->cluster = NULL;
}

int
cluster_up(struct server *s)
{
	return (s->cluster != NULL && s->cluster->up);
}

/* "off" (a single node), "up" (the room is whole) or "down". */
const char *
cluster_state(struct server *s)
{
	if (s->cluster == NULL)
		return ("off");
	return (s->cluster->up ? "up" : "down");
}

/* chatctl's ban, told to the room: at once, and kept in Redis. */
void
cluster_ban(struct server *s, const struct ban *b)
{
	struct cluster	*cl = s->cluster;
	char		 expires[24], created[24];

	if (cl == NULL || !cl->up)
		return;		/* cluster_bans_sync() saves it on link */
	snprintf(expires, sizeof expires, "%lld", (long long)b->expires);
	snprintf(created, sizeof created, "%lld", (long long)b->created);
	cluster_ban_put(cl, b);
	cluster_publish4(cl, NULL, WIRE_BAN, b->pattern, expires, created,
	    b->reason != NULL ? b->reason : "");
}

void
cluster_unban(struct server *s, const char *pattern)
{
	struct cluster		*cl = s->cluster;
	struct cluster_unban	*u;

	if (cl == NULL)
		return;
	if (!cl->up) {
		u = xcalloc(1, sizeof *u);
		snprintf(u->pattern, sizeof u->pattern, "%s", pattern);
		u->when = (int64_t)time(NULL);
		TAILQ_INSERT_TAIL(&cl->unbans, u, entry);
		return;
	}
	cluster_unban_put(cl, pattern, (int64_t)time(NULL));
	cluster_publish(cl, NULL, WIRE_UNBAN, pattern, NULL, NULL);
}

void
cluster_announce(struct server *s, const char *text)
{
	if (s->cluster != NULL)
		cluster_publish(s->cluster, NULL, WIRE_ANNOUNCE, text, NULL,
		    NULL);
}

/*
 * Someone here logged in to the account name, and is about to take it
 * (chat_renamed() follows): the name is taken across the room whoever
 * held it, and a holder on another node is told to give it up
 * (WIRE_RECLAIM), before the rename is published, so that the other
 * nodes see a rename of someone who no longer holds a name of theirs.
 */
void
cluster_take(struct server *s, const char *name)
{
	struct cluster	*cl = s->cluster;
	struct config	*conf = s->config;
	char		 key[WIRE_KEY_MAX];

	if (cl == NULL || !cl->up)
		return;
	wire_nick_key(cl->prefix, name, key);
	cluster_command(cl, NULL, NULL, "SET %s %s\t%s EX %u", key,
	    conf->cluster_node, name, conf->cluster_ttl);
	cluster_publish(cl, NULL, WIRE_RECLAIM, name, NULL, NULL);
}

/* An operator's kick of a user not on this node: whose node acts. */
void
cluster_kick(struct server *s, const char *op, const char *whom,
    const char *reason)
{
	if (s->cluster != NULL)
		cluster_publish(s->cluster, NULL, WIRE_KICK, op, whom, reason);
}

/* Local events, shared with the room. */
void
cluster_said(struct server *s, struct client *c, int action,
    const char *text)
{
	if (s->cluster == NULL)
		return;
	if (c == NULL)
		cluster_publish(s->cluster, s->lobby, WIRE_RAW, text, NULL,
		    NULL);
	else
		cluster_publish(s->cluster, c->room, action ? WIRE_ME :
		    WIRE_SAY, c->name, text, NULL);
}

/* A room has its first local member: its channel is heard here now. */
static void
cluster_room_enter(struct cluster *cl, struct room *r)
{
	struct cluster_meta	*meta;

	if (!cl->up || cl->sub == NULL)
		return;		/* cluster_linked() subscribes */
	if (r == cl->server->lobby)
		goto meta;	/* the main channel, always heard */
	if (redisAsyncCommand(cl->sub, cluster_sub_reply, NULL,
	    "SUBSCRIBE %s%s", cl->prefix, r->key) != REDIS_OK) {
		event_active(cl->fail_ev, 0, 0);
		return;
	}
meta:
	if (r->flags & ROOM_SECRET)
		cluster_command(cl, NULL, NULL, "HSETNX %sroom:%s secret 1",
		    cl->prefix, r->key);
	meta = xcalloc(1, sizeof *meta);
	snprintf(meta->key, sizeof meta->key, "%s", r->key);
	meta->topic_gen = r->topic_gen;
	cluster_command(cl, cluster_meta_reply, meta,
	    "HMGET %sroom:%s topic secret", cl->prefix, r->key);
}

/*
 * A room has no local member left: its channel costs this node nothing.
 * A room that stays (a configured one) forgets its topic, which this node
 * no longer hears of: Redis has it for whoever comes next.
 */
static void
cluster_room_leave(struct cluster *cl, struct room *r)
{
	if (!cl->up || cl->sub == NULL || r == cl->server->lobby)
		return;
	if (redisAsyncCommand(cl->sub, NULL, NULL, "UNSUBSCRIBE %s%s",
	    cl->prefix, r->key) != REDIS_OK)
		event_active(cl->fail_ev, 0, 0);
	chat_topic(cl->server, r, NULL, NULL);
}

void
cluster_joined(struct server *s, struct client *c)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL)
		return;
	if (cl->up && c->room->nmembers == 1)
		cluster_room_enter(cl, c->room);
	if (s->config->mode == MODE_RAW)
		return;
	if (!cl->up) {
		output_printf(c, "*** the room is temporarily local-only: "
		    "lines reach this server's users only");
		cl->down_told = 1;	/* so that it hears when it is whole */
		return;
	}
	cluster_claim(cl, c);
	cluster_publish(cl, c->room, WIRE_JOIN, c->name, NULL, NULL);
}

void
cluster_left(struct server *s, struct client *c)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL)
		return;
	if (s->config->mode != MODE_RAW) {
		cluster_release(cl, c->name);
		cluster_publish(cl, c->room, WIRE_LEFT, c->name, c->reason,
		    NULL);
	}
	if (c->room->nmembers == 1)
		cluster_room_leave(cl, c->room);
}

/*
 * c is about to move from room `from` to room `to`: from's channel hears
 * it left for `to`, to's that it joined, the node's /who hash that it is
 * in `to`, and each is subscribed or not as it has local members.
 */
void
cluster_moved(struct server *s, struct client *c, struct room *from,
    struct room *to)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL || !cl->up)
		return;
	cluster_publish(cl, from, WIRE_MOVED, c->name, to->name, NULL);
	cluster_who_add(cl, c, to);
	if (from->nmembers == 1)
		cluster_room_leave(cl, from);
	if (to->nmembers == 0)
		cluster_room_enter(cl, to);
	cluster_publish(cl, to, WIRE_JOIN, c->name, NULL, NULL);
}

/* Room r's topic is now text (NULL: none), set here by who. */
void
cluster_topic(struct server *s, struct room *r, const char *who,
    const char *text)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL || !cl->up)
		return;
	if (text != NULL)
		cluster_command(cl, NULL, NULL, "HSET %sroom:%s topic %s",
		    cl->prefix, r->key, text);
	else
		cluster_command(cl, NULL, NULL, "HDEL %sroom:%s topic",
		    cl->prefix, r->key);
	cluster_command(cl, NULL, NULL, "EXPIRE %sroom:%s %u", cl->prefix,
	    r->key, s->config->cluster_ttl * CLUSTER_ROOM_TTL);
	cluster_publish(cl, r, WIRE_TOPIC, who, text != NULL ? text : "",
	    NULL);
}

/* Requests: a client paused until Redis answers. */

/*
 * Completes (error 0) or fails a request, once.  A client whose request
 * failed is told at once, before whatever the failure makes the node say
 * to the whole room.
 */
static void
cluster_req_finish(struct cluster_req *req, int error)
{
	struct client	*c;

	if (!future_pending(&req->done))
		return;
	if (error == 0) {
		future_complete(&req->done, NULL);
		return;
	}
	if (req->kind == REQ_CALL)
		req->call_fn(req->cluster->server, NULL, req->call_arg);
	else if ((c = cluster_client(req->cluster, req->client)) != NULL) {
		if (req->kind == REQ_NICK)
			output_printf(c, "*** cannot change names now: the "
			    "room is local-only, try again");
		else
			output_printf(c, "*** cannot reach the other nodes "
			    "now: the room is local-only, try again");
	}
	future_fail(&req->done, error);
}

/*
 * The request's continuation: its client, if still here, resumes.  The
 * request is freed after its last callback.
 */
static void
cluster_req_done(struct future *f, void *arg)
{
	struct cluster_req	*req = arg;
	struct client		*c;

	TAILQ_REMOVE(&req->cluster->reqs, req, entry);
	req->released = 1;
	c = roster_by_id(&req->cluster->server->roster, req->client);
	if (c != NULL && (c->flags & CLIENT_WAITING))
		client_resume(c);
	if (req->inflight == 0)
		cluster_req_free(req);
}

static struct cluster_req *
cluster_req_new(struct cluster *cl, struct client *c,
    enum cluster_req_kind kind)
{
	struct cluster_req	*req;

	req = xcalloc(1, sizeof *req);
	req->cluster = cl;
	req->kind = kind;
	req->client = c != NULL ? c->id : 0;
	req->sent_ms = server_now_ms(cl->server);
	future_init(&req->done, &cl->server->sched);
	future_start(&req->done);
	future_then(&req->done, cluster_req_done, req);
	TAILQ_INSERT_TAIL(&cl->reqs, req, entry);
	return (req);
}

/* Sends a command for req; one that is not sent fails req. */
static void
cluster_req_send(struct cluster_req *req, redisCallbackFn *fn,
    const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = cluster_vcommand(req->cluster, fn, req, fmt, ap);
	va_end(ap);
	if (rc == 0)
		req->inflight++;
	else
		cluster_req_finish(req, ECONNRESET);
}

/*
 * Every reply callback of a request starts here.  Returns the request if
 * it still waits for this reply, else NULL (freeing it if this was the
 * last callback of one whose continuation has run).
 */
static struct cluster_req *
cluster_req_reply(void *arg)
{
	struct cluster_req	*req = arg;

	req->inflight--;
	if (future_pending(&req->done))
		return (req);
	if (req->released && req->inflight == 0)
		cluster_req_free(req);
	return (NULL);
}

static void	cluster_nick_owner_reply(redisAsyncContext *, void *, void *);

static void
cluster_nick_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster		*cl;
	redisReply		*reply = r;
	struct client		*c;
	char			 key[WIRE_KEY_MAX];

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cl = req->cluster;
	if ((c = cluster_client(cl, req->client)) != NULL) {
		if (reply->type == REDIS_REPLY_STATUS)
			chat_renamed(cl->server, c, req->name);
		else if (reply->type == REDIS_REPLY_INTEGER &&
		    reply->integer == CLUSTER_NICK_OWNED)
			account_nick_owned(cl->server, c, req->name);
		else if (reply->type == REDIS_REPLY_NIL) {
			/* Someone's, or a leftover claim of ours? */
			wire_nick_key(cl->prefix, req->name, key);
			cluster_req_send(req, cluster_nick_owner_reply,
			    "GET %s", key);
			return;
		} else
			output_printf(c, "*** cannot change names now, try "
			    "again");
	}
	cluster_req_finish(req, 0);
}

/*
 * The name was taken.  If this node holds the key but none of its clients
 * has the name, it is a claim whose answer never came (Redis hung, and ran
 * the SET after we had given up on it): the key is ours to reuse.
 */
static void
cluster_nick_owner_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster		*cl;
	struct config		*conf;
	redisReply		*reply = r;
	struct client		*c;
	char			 node[CONFIG_NODE_MAX + 1];
	char			 name[NAME_LEN + 1];

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cl = req->cluster;
	conf = cl->server->config;
	if ((c = cluster_client(cl, req->client)) == NULL) {
		cluster_req_finish(req, 0);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    wire_parse_owner(reply->str, reply->len, node, name) != 0)
		cluster_bad_record(cl, "name record");
	else if (reply->type == REDIS_REPLY_STRING &&
	    strcmp(node, conf->cluster_node) == 0 &&
	    roster_holder(&cl->server->roster, req->name) == NULL) {
		chat_renamed(cl->server, c, req->name);
		if (strcmp(c->name, req->name) == 0)	/* renamed */
			cluster_set_name(cl, c, "XX", NULL);
		cluster_req_finish(req, 0);
		return;
	}
	output_printf(c, "*** name %s is taken", req->name);
	cluster_req_finish(req, 0);
}

/*
 * /nick across the room: claims the new name with SET NX; chat_renamed()
 * runs when Redis says it is ours.  Returns 1: c is paused until then.
 */
int
cluster_nick(struct server *s, struct client *c, const char *name)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	char			 key[WIRE_KEY_MAX], akey[WIRE_KEY_MAX];
	char			 value[CONFIG_NODE_MAX + NAME_LEN + 2];

	req = cluster_req_new(cl, c, REQ_NICK);
	snprintf(req->name, sizeof req->name, "%s", name);
	wire_nick_key(cl->prefix, name, key);
	/*
	 * With accounts, a registered name is refused in the same round
	 * trip (c is not logged in to it: account_check_nick()).
	 */
	if (s->accounts != NULL && (c->account == NULL ||
	    !name_same(c->account, name))) {
		wire_account_key(cl->prefix, name, akey);
		snprintf(value, sizeof value, "%s\t%s",
		    s->config->cluster_node, name);
		cluster_req_send(req, cluster_nick_reply, "EVAL %s 2 %s %s %s "
		    "%u", CLUSTER_NICK_UNLESS_OWNED, key, akey, value,
		    s->config->cluster_ttl);
	} else
		cluster_req_send(req, cluster_nick_reply,
		    "SET %s %s\t%s NX EX %u", key, s->config->cluster_node,
		    name, s->config->cluster_ttl);
	log_debug("client %llu [%s]: /nick %s: waiting for Redis",
	    (unsigned long long)c->id, c->netaddr, name);
	return (1);
}

static void
cluster_call_nothing(struct server *s, const struct cluster_reply *r,
    void *arg)
{
}

/* cluster_call(): hands Redis's answer on as a cluster_reply. */
static void
cluster_call_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster_reply	 cr;
	redisReply		*reply = r;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	memset(&cr, 0, sizeof cr);
	switch (reply->type) {
	case REDIS_REPLY_NIL:
		cr.type = CLUSTER_REPLY_NIL;
		break;
	case REDIS_REPLY_INTEGER:
		cr.type = CLUSTER_REPLY_INTEGER;
		cr.integer = reply->integer;
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		cr.type = reply->type == REDIS_REPLY_STRING ?
		    CLUSTER_REPLY_STRING : CLUSTER_REPLY_STATUS;
		cr.str = reply->str;
		cr.len = reply->len;
		break;
	default:
		/* An error, or a shape no caller asks for. */
		cr.type = CLUSTER_REPLY_ERROR;
		if (reply->type == REDIS_REPLY_ERROR)
			log_warnx("cluster: Redis: %.*s",
			    (int)(reply->len > 200 ? 200 : reply->len),
			    reply->str);
		break;
	}
	req->call_fn(req->cluster->server, &cr, req->call_arg);
	cluster_req_finish(req, 0);
}

/*
 * Sends one command (hiredis's format: each %s is one argument, whatever
 * it holds) to Redis for another part of chatd (acctdb.c), whose fn(arg)
 * gets the reply, or NULL when none will come (the link was lost or the
 * answer took reply_timeout), exactly once and never before this returns.
 * Returns -1 at once, fn not called, if the link is not up.
 */
int
cluster_vcall(struct server *s, cluster_call_fn fn, void *arg,
    const char *fmt, va_list ap)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	int			 rc;

	if (cl == NULL || !cl->up)
		return (-1);
	req = cluster_req_new(cl, NULL, REQ_CALL);
	req->call_fn = fn;
	req->call_arg = arg;
	rc = cluster_vcommand(cl, cluster_call_reply, req, fmt, ap);
	if (rc == 0) {
		req->inflight++;
		return (0);
	}
	/* Not sent: the caller hears it from the -1, not from fn. */
	req->call_fn = cluster_call_nothing;
	cluster_req_finish(req, ECONNRESET);
	return (-1);
}

/* The prefix of every key and channel of the room: "channel:". */
const char *
cluster_prefix(struct server *s)
{
	return (s->cluster != NULL ? s->cluster->prefix : "");
}

/* Renamed: the old name is released and the room told. */
void
cluster_renamed(struct server *s, struct client *c, const char *old)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL || !cl->up)
		return;
	if (!name_same(old, c->name))
		cluster_release(cl, old);
	else {
		/* Same key, new spelling: what remote /msg will show. */
		cluster_set_name(cl, c, "XX", NULL);
		cluster_command(cl, NULL, NULL, "HDEL %snode:%s %s",
		    cl->prefix, s->config->cluster_node, old);
	}
	cluster_who_add(cl, c, NULL);
	cluster_publish(cl, c->room, WIRE_NICK, old, c->name, NULL);
}

static void
cluster_msg_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster		*cl;
	redisReply		*reply = r;
	struct client		*c;
	char			 node[CONFIG_NODE_MAX + 1];
	char			 name[NAME_LEN + 1];

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cl = req->cluster;
	if ((c = cluster_client(cl, req->client)) == NULL) {
		cluster_req_finish(req, 0);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    wire_parse_owner(reply->str, reply->len, node, name) != 0)
		cluster_bad_record(cl, "name record");
	else if (reply->type == REDIS_REPLY_STRING &&
	    strcasecmp(name, req->name) == 0 &&
	    strcmp(node, cl->server->config->cluster_node) != 0) {
		cluster_publish(cl, NULL, WIRE_MSG, c->name, name, req->text);
		output_printf(c, "*** message sent to %s", name);
		cluster_req_finish(req, 0);
		return;
	}
	output_printf(c, "*** no such user: %s", req->name);
	cluster_req_finish(req, 0);
}

/*
 * /msg to a valid name nobody here holds.  Returns 1: c waits for Redis.
 */
int
cluster_msg(struct server *s, struct client *c, const char *name,
    const char *text)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	char			 key[WIRE_KEY_MAX];

	req = cluster_req_new(cl, c, REQ_MSG);
	snprintf(req->name, sizeof req->name, "%s", name);
	req->text = xstrdup(text);
	wire_nick_key(cl->prefix, name, key);
	cluster_req_send(req, cluster_msg_reply, "GET %s", key);
	return (1);
}

/* A /rooms entry for the room of this key, added if new (NULL: full). */
static struct cluster_room *
cluster_rooms_entry(struct cluster_req *req, const char *name)
{
	char		key[ROOM_NAME_LEN + 2];
	unsigned	i;

	room_key(name, key);
	for (i = 0; i < req->nrooms; i++) {
		if (strcmp(req->rooms[i].key, key) == 0)
			return (&req->rooms[i]);
	}
	if (req->nrooms == CLUSTER_ROOMS_MAX)
		return (NULL);
	req->rooms = xrealloc(req->rooms, (req->nrooms + 1) *
	    sizeof *req->rooms);
	memset(&req->rooms[req->nrooms], 0, sizeof *req->rooms);
	snprintf(req->rooms[req->nrooms].key, sizeof req->rooms->key, "%s",
	    key);
	snprintf(req->rooms[req->nrooms].name, sizeof req->rooms->name, "%s",
	    name);
	return (&req->rooms[req->nrooms++]);
}

static void
cluster_who_node_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster		*cl;
	struct cluster_room	*cr;
	redisReply		*reply = r, *field, *value;
	struct client		*c;
	struct wire_who		 w;
	char			 since[16], key[ROOM_NAME_LEN + 2];
	unsigned		 first;
	time_t			 when;
	struct tm		 tm;
	size_t			 i;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cl = req->cluster;
	c = cluster_client(cl, req->client);
	if (reply->type != REDIS_REPLY_ARRAY)
		return;
	first = (req->page - 1) * req->per;
	for (i = 0; i + 1 < reply->elements; i += 2) {
		field = reply->element[i];
		value = reply->element[i + 1];
		/* Redis is not trusted more than a client. */
		if (field->type != REDIS_REPLY_STRING ||
		    value->type != REDIS_REPLY_STRING ||
		    wire_parse_who(field->str, field->len, value->str,
		    value->len, &w) != 0) {
			cluster_bad_record(cl, "/who entry");
			continue;
		}
		if (strcmp(w.node, cl->server->config->cluster_node) == 0)
			continue;	/* listed from memory */
		if (req->kind == REQ_ROOMS) {
			if ((cr = cluster_rooms_entry(req, w.room)) != NULL)
				cr->count++;
			continue;
		}
		room_key(w.room, key);
		if (req->room[0] != '\0' && strcmp(key, req->room) != 0)
			continue;
		if (req->found++ < first || req->found > first + req->per ||
		    c == NULL)
			continue;
		if (req->room[0] == '\0') {
			output_printf(c, "***   %s (%s, node %s)", w.name,
			    w.room, w.node);
			continue;
		}
		when = (time_t)w.since;
		localtime_r(&when, &tm);
		strftime(since, sizeof since, "%H:%M", &tm);
		output_printf(c, "***   %-*s  on since %s, node %s",
		    NAME_LEN, w.name, since, w.node);
	}
}

static void
cluster_who_end_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct client		*c;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (r == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	if ((c = cluster_client(req->cluster, req->client)) != NULL) {
		output_printf(c, "*** %u %s", req->found, req->where);
		if (req->found > req->page * req->per)
			output_printf(c, "*** /who %s%u for more",
			    req->room[0] == '\0' ? "* " : "", req->page + 1);
	}
	cluster_req_finish(req, 0);
}

/* Every node's /who hash has been read: the rooms' topics and secrecy. */
static void
cluster_rooms_counted_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (r == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cluster_rooms_meta(req);
}

static void
cluster_who_scan_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req;
	struct cluster		*cl;
	redisReply		*reply = r, *keys;
	unsigned long long	 cursor;
	size_t			 i;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	cl = req->cluster;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY ||
	    wire_parse_cursor(reply->element[0]->str,
	    reply->element[0]->len, &cursor) != 0) {
		cluster_bad_record(cl, "SCAN reply");
		cluster_req_finish(req, 0);
		return;
	}
	keys = reply->element[1];
	for (i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type == REDIS_REPLY_STRING)
			cluster_req_send(req, cluster_who_node_reply,
			    "HGETALL %b", keys->element[i]->str,
			    keys->element[i]->len);
	}
	/*
	 * Replies come in order: these run after the HGETALLs above, and
	 * /rooms asks about the rooms once they have all been counted.
	 */
	if (cursor != 0)
		cluster_req_send(req, cluster_who_scan_reply,
		    "SCAN %llu MATCH %snode:* COUNT %d", cursor, cl->prefix,
		    CLUSTER_SCAN_COUNT);
	else if (req->kind == REQ_ROOMS)
		cluster_req_send(req, cluster_rooms_counted_reply, "PING");
	else
		cluster_req_send(req, cluster_who_end_reply, "PING");
}

/* A room's topic and secrecy for /rooms: arg is the request. */
static void
cluster_rooms_meta_reply(redisAsyncContext *ac, void *rp, void *arg)
{
	struct cluster_req	*req;
	struct cluster_room	*cr;
	redisReply		*reply = rp, *topic, *secret;
	size_t			 i;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (reply == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	/* MULTI's answers: EXEC's reply holds one array per room. */
	if (reply->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < reply->elements && i < req->nrooms; i++) {
		cr = &req->rooms[i];
		if (cr->known || reply->element[i]->type != REDIS_REPLY_ARRAY ||
		    reply->element[i]->elements != 2)
			continue;
		topic = reply->element[i]->element[0];
		secret = reply->element[i]->element[1];
		cr->secret = secret->type == REDIS_REPLY_STRING &&
		    secret->len == 1 && secret->str[0] == '1';
		if (topic->type == REDIS_REPLY_STRING && topic->len <=
		    SANITIZE_MAX(req->cluster->server->config->max_line)) {
			cr->topic = xmalloc(SANITIZE_MAX(topic->len) + 1);
			cr->topic[sanitize_line(topic->str, topic->len,
			    cr->topic)] = '\0';
		}
	}
}

static void
cluster_rooms_end_reply(redisAsyncContext *ac, void *rp, void *arg)
{
	struct cluster_req	*req;
	struct cluster_room	*cr;
	struct client		*c;
	unsigned		 i, pos = 0, first;

	if ((req = cluster_req_reply(arg)) == NULL)
		return;
	if (rp == NULL) {
		cluster_req_finish(req, ECONNRESET);
		return;
	}
	if ((c = cluster_client(req->cluster, req->client)) != NULL) {
		first = (req->page - 1) * req->per;
		output_printf(c, "*** rooms, on every node:");
		for (i = 0; i < req->nrooms; i++) {
			cr = &req->rooms[i];
			if ((cr->secret && strcmp(cr->key, c->room->key) != 0) ||
			    pos++ < first || pos > first + req->per)
				continue;
			output_printf(c, "***   %-*s %5u here%s%s%s",
			    ROOM_NAME_LEN + 1, cr->name, cr->count,
			    cr->topic != NULL ? ", topic: " : "",
			    cr->topic != NULL ? cr->topic : "",
			    strcmp(cr->key, c->room->key) == 0 ? " (you)" : "");
		}
		output_printf(c, "*** %u room%s", pos, pos == 1 ? "" : "s");
		if (pos > first + req->per)
			output_printf(c, "*** /rooms %u for more",
			    req->page + 1);
	}
	cluster_req_finish(req, 0);
}

/* All nodes counted: the topics of rooms not of this node, then the end. */
static void
cluster_rooms_meta(struct cluster_req *req)
{
	struct cluster	*cl = req->cluster;
	unsigned	 i;

	/* Answered all at once by EXEC; a failure fails the link. */
	cluster_command(cl, NULL, NULL, "MULTI");
	for (i = 0; i < req->nrooms; i++)
		cluster_command(cl, NULL, NULL, "HMGET %sroom:%s topic secret",
		    cl->prefix, req->rooms[i].key);
	cluster_req_send(req, cluster_rooms_meta_reply, "EXEC");
	cluster_req_send(req, cluster_rooms_end_reply, "PING");
}

/*
 * /rooms across the nodes, page `page`: every node's users counted from
 * their /who hashes, this node's from memory; the topic and secrecy of
 * rooms this node does not hear come from Redis.  Returns 1: c waits.
 */
int
cluster_rooms(struct server *s, struct client *c, unsigned page)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	struct cluster_room	*cr;
	struct room		*r;

	req = cluster_req_new(cl, c, REQ_ROOMS);
	req->page = page;
	req->per = s->config->who_max;
	TAILQ_FOREACH(r, &s->rooms.list, entry) {
		if ((cr = cluster_rooms_entry(req, r->name)) == NULL)
			break;
		cr->count = r->nmembers;
		/* This node hears the room: what it knows is current. */
		cr->known = r->nmembers != 0 || r == s->lobby;
		cr->secret = (r->flags & ROOM_SECRET) != 0;
		if (cr->known && r->topic != NULL)
			cr->topic = xstrdup(r->topic);
	}
	cluster_req_send(req, cluster_who_scan_reply,
	    "SCAN 0 MATCH %snode:* COUNT %d", cl->prefix, CLUSTER_SCAN_COUNT);
	return (1);
}

/*
 * /who in room r across the nodes (NULL: /who *, everyone), page `page`
 * of `per` entries: the found local users were listed from memory; the
 * other nodes' come from their /who hashes and follow them.  Returns 1:
 * c waits.
 */
int
cluster_who(struct server *s, struct client *c, struct room *r,
    unsigned found, unsigned page, unsigned per)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;

	req = cluster_req_new(cl, c, REQ_WHO);
	req->found = found;
	req->page = page;
	req->per = per;
	if (r != NULL)
		snprintf(req->room, sizeof req->room, "%s", r->key);
	if (r == NULL)
		snprintf(req->where, sizeof req->where, "online in every room");
	else if (r == s->lobby)
		snprintf(req->where, sizeof req->where, "online in the room");
	else
		snprintf(req->where, sizeof req->where, "in %s", r->name);
	cluster_req_send(req, cluster_who_scan_reply,
	    "SCAN 0 MATCH %snode:* COUNT %d", cl->prefix, CLUSTER_SCAN_COUNT);
	return (1);
}

#else /* !HAVE_HIREDIS */

/* Built without hiredis: config.c refuses [cluster], so none of this runs. */

void
cluster_cron(struct server *s)
{
}

void
cluster_start(struct server *s)
{
}

void
cluster_free(struct server *s)
{
}

int
cluster_up(struct server *s)
{
	return (0);
}

const char *
cluster_state(struct server *s)
{
	return ("off");
}

void
cluster_ban(struct server *s, const struct ban *b)
{
}

void
cluster_unban(struct server *s, const char *pattern)
{
}

void
cluster_announce(struct server *s, const char *text)
{
}

int
cluster_vcall(struct server *s, cluster_call_fn fn, void *arg,
    const char *fmt, va_list ap)
{
	return (-1);
}

const char *
cluster_prefix(struct server *s)
{
	return ("");
}

void
cluster_kick(struct server *s, const char *op, const char *whom,
    const char *reason)
{
}

void
cluster_take(struct server *s, const char *name)
{
}

uint64_t
cluster_next_guest(struct server *s)
{
	return (++s->next_guest);
}

void
cluster_said(struct server *s, struct client *c, int action,
    const char *text)
{
}

void
cluster_joined(struct server *s, struct client *c)
{
}

void
cluster_left(struct server *s, struct client *c)
{
}

void
cluster_renamed(struct server *s, struct client *c, const char *old)
{
}

int
cluster_nick(struct server *s, struct client *c, const char *name)
{
	return (0);
}

int
cluster_msg(struct server *s, struct client *c, const char *name,
    const char *text)
{
	return (0);
}

int
cluster_who(struct server *s, struct client *c, struct room *r,
    unsigned found, unsigned page, unsigned per)
{
	return (0);
}

int
cluster_rooms(struct server *s, struct client *c, unsigned page)
{
	return (0);
}

void
cluster_moved(struct server *s, struct client *c, struct room *from,
    struct room *to)
{
}

void
cluster_topic(struct server *s, struct room *r, const char *who,
    const char *text)
{
}

#endif /* HAVE_HIREDIS */
