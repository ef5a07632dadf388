/*
 * cluster.c: one room across several chatd nodes, through Redis pub/sub.
 *
 * chatd does not speak to other chatd nodes; every node speaks to Redis,
 * as Socket.IO's and Action Cable's Redis adapters do.  Two hiredis
 * connections on the node's libevent base: `sub` is subscribed to the
 * room's channel, `pub` carries everything else (PUBLISH, names, /who).
 *
 * Messages on the channel are one line of TAB-separated fields:
 *	chatd1 TAB node TAB type TAB field...
 * with types say/me (name, text), raw (text), join (name), left (name,
 * reason), nick (old, new) and msg (from, to, text).  Fields come from
 * sanitised client input, which has no TAB, CR or LF, so no escaping is
 * needed; a node ignores its own messages (it delivered them locally
 * already) and anything it cannot parse or whose version it does not know,
 * and sanitises every field again before it reaches a terminal.
 *
 * Presence lives in Redis with expiry, so a crashed node's names free
 * themselves: PREFIX:nick:<lower-case name> holds "node TAB name" (SET NX
 * EX makes names unique across nodes) and PREFIX:node:<node> is a hash of
 * the node's users for /who; the node refreshes both every third of
 * presence_ttl.  Client ids come from PREFIX:ids in blocks (INCRBY), so
 * guest names do not collide across nodes.
 *
 * Faults: a Redis that stops answering (a PING each second, or a client's
 * command, unanswered for reply_timeout) counts as lost, so that no client
 * waits on it for ever.  When either connection fails, both are dropped, local clients
 * are told once that the room is local-only, and the node reconnects with
 * exponential backoff (0.5 s to 10 s).  Once subscribed again it claims its
 * names anew (a name taken meanwhile elsewhere turns its local owner back
 * into a guest) and tells its clients the room is whole.  Lines sent while
 * the room is local-only stay local.
 *
 * Commands that need an answer from Redis (/nick, /msg to a remote user,
 * /who) pause the client's read loop: the request holds a future that
 * completes when the reply has been handled, and its continuation resumes
 * the client.  A client that leaves first is detached from its request,
 * which then completes without it.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
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

#define CLUSTER_VERSION		"chatd1"
#define CLUSTER_BACKOFF_MIN	500	/* ms */
#define CLUSTER_BACKOFF_MAX	10000	/* ms */
#define CLUSTER_CONNECT_MS	5000	/* connect timeout */
#define CLUSTER_ID_BLOCK	1000	/* client ids fetched at once */
#define CLUSTER_FIELDS		8
#define CLUSTER_MSG_MAX		65536	/* longest message accepted */

struct cluster_req;

struct cluster {
	struct server		*server;
	redisAsyncContext	*pub;
	redisAsyncContext	*sub;
	int			 pub_ready;	/* connected (and authed) */
	int			 sub_ready;	/* subscribed */
	int			 up;		/* both: the room is whole */
	int			 down_told;	/* clients told local-only */
	int			 stopping;
	unsigned		 backoff;	/* ms */
	struct event		*retry_ev;
	struct event		*refresh_ev;
	uint64_t		 ping_ms;	/* unanswered PING sent at */
	char			*prefix;	/* "channel:" */
	uint64_t		 id_next;	/* block of client ids */
	uint64_t		 id_end;
	TAILQ_HEAD(, cluster_req) reqs;
};

/* A command a client waits for. */
struct cluster_req {
	struct cluster		*cluster;
	struct client		*client;	/* NULL once it left */
	struct future		 done;
	char			 name[CLIENT_NAME_MAX + 1];
	char			*text;
	uint64_t		 sent_ms;	/* when it went to Redis */
	unsigned long long	 cursor;	/* /who: SCAN position */
	unsigned		 found;
	TAILQ_ENTRY(cluster_req) entry;
};

static void	cluster_connect(struct cluster *);
static void	cluster_fetch_ids(struct cluster *);
static void	cluster_lost(struct cluster *, const char *);

static void
cluster_lower(char *dst, const char *src, size_t size)
{
	size_t	i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/*
 * Publishes one message, fields NULL-terminated.  Local-only: dropped.
 * This runs for every line a local client says, so the message is built
 * in one pass into one allocation.
 */
static void
cluster_publish(struct cluster *cl, const char *type, ...)
{
	struct config	*conf = cl->server->config;
	const char	*f;
	char		*msg, *p;
	size_t		 len;
	va_list		 ap;

	if (!cl->up)
		return;
	len = strlen(CLUSTER_VERSION) + 1 + strlen(conf->cluster_node) + 1 +
	    strlen(type);
	va_start(ap, type);
	while ((f = va_arg(ap, const char *)) != NULL)
		len += 1 + strlen(f);
	va_end(ap);
	p = msg = xmalloc(len + 1);
	p += sprintf(p, "%s\t%s\t%s", CLUSTER_VERSION, conf->cluster_node,
	    type);
	va_start(ap, type);
	while ((f = va_arg(ap, const char *)) != NULL) {
		*p++ = '\t';
		memcpy(p, f, strlen(f));
		p += strlen(f);
	}
	va_end(ap);
	redisAsyncCommand(cl->pub, NULL, NULL, "PUBLISH %s %b",
	    conf->cluster_channel, msg, len);
	free(msg);
}

/* Tells every local client something about the room. */
static void
cluster_tell(struct cluster *cl, const char *text)
{
	struct msg	*m;

	m = msg_printf("*** %s\r\n", text);
	server_broadcast(cl->server, NULL, m);
	msg_unref(m);
}

/* Lists c in the node's /who hash: name -> "connected-since TAB node". */
static void
cluster_who_add(struct cluster *cl, struct client *c)
{
	struct config	*conf = cl->server->config;
	long long	 since;

	since = (long long)time(NULL) - (long long)((server_now_ms(cl->server) -
	    c->connected_ms) / 1000);
	redisAsyncCommand(cl->pub, NULL, NULL, "HSET %snode:%s %s %lld\t%s",
	    cl->prefix, conf->cluster_node, c->name, since, conf->cluster_node);
	redisAsyncCommand(cl->pub, NULL, NULL, "EXPIRE %snode:%s %u",
	    cl->prefix, conf->cluster_node, conf->cluster_ttl);
}

static struct client *
cluster_client_by_id(struct cluster *cl, uint64_t id)
{
	struct client	*c;

	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (c->id == id && (c->flags & CLIENT_CONNECTED))
			return (c);
	}
	return (NULL);
}

static void cluster_claim_reply(redisAsyncContext *, void *, void *);
static void cluster_owner_reply(redisAsyncContext *, void *, void *);

/*
 * Claims c's name across the room (at join, and again after an outage),
 * fire and forget: if another node owns it, c becomes a fresh guest.
 */
static void
cluster_claim(struct cluster *cl, struct client *c)
{
	struct config	*conf = cl->server->config;
	char		 lower[CLIENT_NAME_MAX + 1];

	cluster_lower(lower, c->name, sizeof lower);
	redisAsyncCommand(cl->pub, cluster_claim_reply,
	    (void *)(uintptr_t)c->id, "SET %snick:%s %s\t%s NX EX %u",
	    cl->prefix, lower, conf->cluster_node, c->name,
	    conf->cluster_ttl);
	cluster_who_add(cl, c);
}

static void
cluster_claim_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	struct client	*c;
	char		 lower[CLIENT_NAME_MAX + 1];

	if (reply == NULL || cl == NULL || reply->type != REDIS_REPLY_NIL)
		return;
	if ((c = cluster_client_by_id(cl, (uint64_t)(uintptr_t)arg)) == NULL)
		return;
	/* Taken: by us before the outage, or by someone else? */
	cluster_lower(lower, c->name, sizeof lower);
	redisAsyncCommand(cl->pub, cluster_owner_reply, arg, "GET %snick:%s",
	    cl->prefix, lower);
}

static void
cluster_owner_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	struct config	*conf;
	redisReply	*reply = r;
	struct client	*c;
	char		 old[CLIENT_NAME_MAX + 1];
	size_t		 nlen;

	if (reply == NULL || cl == NULL)
		return;
	if ((c = cluster_client_by_id(cl, (uint64_t)(uintptr_t)arg)) == NULL)
		return;
	conf = cl->server->config;
	nlen = strlen(conf->cluster_node);
	if (reply->type == REDIS_REPLY_STRING && reply->len > nlen &&
	    strncmp(reply->str, conf->cluster_node, nlen) == 0 &&
	    reply->str[nlen] == '\t') {
		/* Ours from before: the refresh keeps it alive. */
		return;
	}
	if (reply->type == REDIS_REPLY_NIL) {
		cluster_claim(cl, c);	/* it just expired: try again */
		return;
	}
	snprintf(old, sizeof old, "%s", c->name);
	redisAsyncCommand(cl->pub, NULL, NULL, "HDEL %snode:%s %s",
	    cl->prefix, conf->cluster_node, old);
	c->id = cluster_next_id(cl->server);
	snprintf(c->name, sizeof c->name, "guest%llu",
	    (unsigned long long)c->id);
	/*
	 * Everyone who knew c by its old name is told: here, and on the
	 * other nodes through a "nick" message.  The old name's key is the
	 * other owner's now, so nothing is released (see cluster_renamed()).
	 */
	chat_name_lost(cl->server, c, old);
	cluster_publish(cl, "nick", old, c->name, (char *)NULL);
	cluster_claim(cl, c);
}

static void
cluster_release(struct cluster *cl, const char *name)
{
	struct config	*conf = cl->server->config;
	char		 lower[CLIENT_NAME_MAX + 1];

	if (!cl->up)
		return;
	cluster_lower(lower, name, sizeof lower);
	redisAsyncCommand(cl->pub, NULL, NULL, "DEL %snick:%s", cl->prefix,
	    lower);
	redisAsyncCommand(cl->pub, NULL, NULL, "HDEL %snode:%s %s",
	    cl->prefix, conf->cluster_node, name);
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
 * connections are dropped, which fails every waiting command, and the
 * node relinks as after any outage).  Otherwise a new PING goes out.
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
	req = TAILQ_FIRST(&cl->reqs);
	if ((cl->ping_ms != 0 && now - cl->ping_ms >= limit) ||
	    (req != NULL && now - req->sent_ms >= limit)) {
		log_warnx("cluster: Redis has not answered for %u seconds",
		    s->config->cluster_timeout);
		cluster_lost(cl, "no answer");
		return;
	}
	if (cl->ping_ms == 0) {
		cl->ping_ms = now;
		redisAsyncCommand(cl->pub, cluster_ping_reply, NULL, "PING");
	}
}

/* Every third of the TTL: keep our names and our /who hash alive. */
static void
cluster_refresh_callback(evutil_socket_t fd, short events, void *arg)
{
	struct cluster	*cl = arg;
	struct config	*conf = cl->server->config;
	struct client	*c;
	char		 lower[CLIENT_NAME_MAX + 1];

	if (!cl->up)
		return;
	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (!(c->flags & CLIENT_CONNECTED))
			continue;
		cluster_lower(lower, c->name, sizeof lower);
		redisAsyncCommand(cl->pub, NULL, NULL, "EXPIRE %snick:%s %u",
		    cl->prefix, lower, conf->cluster_ttl);
	}
	redisAsyncCommand(cl->pub, NULL, NULL, "EXPIRE %snode:%s %u",
	    cl->prefix, conf->cluster_node, conf->cluster_ttl);
	if (cl->id_end - cl->id_next < CLUSTER_ID_BLOCK / 2)
		cluster_fetch_ids(cl);
}

/*
 * Copies at most size - 1 bytes of s for the log, with anything but
 * printable ASCII shown as '?': channel content is not trusted.
 */
static const char *
cluster_printable(const char *s, char *buf, size_t size)
{
	size_t	i;

	for (i = 0; i + 1 < size && s[i] != '\0'; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return (buf);
}

/* Is s a name a client could have chosen? */
static int
cluster_valid_name(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > CLIENT_NAME_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return (0);
	}
	return (1);
}

/*
 * Cleans one field from Redis as if a client had typed it; names must be
 * valid names.  Returns the field (maybe a new allocation kept in *keep)
 * or NULL if it is unacceptable.
 */
static char *
cluster_field(char *f, int name, char **keep)
{
	size_t	len = strlen(f), n;
	char	*buf;

	if (name)
		return (cluster_valid_name(f, len) ? f : NULL);
	buf = xmalloc(SANITIZE_MAX(len) + 1);
	n = sanitize_line(f, len, buf);
	buf[n] = '\0';
	*keep = buf;
	return (n == 0 ? NULL : buf);
}

/* A message from the channel: parse, check, hand to chat. */
static void
cluster_message(struct cluster *cl, const char *data, size_t len)
{
	struct config	*conf = cl->server->config;
	char		*copy, *argv[CLUSTER_FIELDS], *p;
	char		*keep[CLUSTER_FIELDS] = { NULL };
	char		 v[24], node[CONFIG_NODE_MAX + 1], type[24];
	int		 argc = 0, i, nnames;

	if (len == 0 || len > CLUSTER_MSG_MAX || memchr(data, '\0', len)) {
		log_warnx("cluster: malformed message ignored (%zu bytes)",
		    len);
		return;
	}
	copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	for (p = copy; argc < CLUSTER_FIELDS; ) {
		argv[argc++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	if (p != NULL || argc < 3 || strcmp(argv[0], CLUSTER_VERSION) != 0) {
		log_warnx("cluster: message of unknown version or shape "
		    "ignored: %s", cluster_printable(argv[0], v, sizeof v));
		goto out;
	}
	if (strcmp(argv[1], conf->cluster_node) == 0)
		goto out;	/* our own, delivered locally already */
	cluster_printable(argv[1], node, sizeof node);
	cluster_printable(argv[2], type, sizeof type);

	/* The leading fields of each type are names; the rest text. */
	if (strcmp(argv[2], "say") == 0 || strcmp(argv[2], "me") == 0 ||
	    strcmp(argv[2], "join") == 0 || strcmp(argv[2], "left") == 0)
		nnames = 1;
	else if (strcmp(argv[2], "nick") == 0 || strcmp(argv[2], "msg") == 0)
		nnames = 2;
	else if (strcmp(argv[2], "raw") == 0)
		nnames = 0;
	else {
		log_warnx("cluster: unknown message type '%s' from %s "
		    "ignored", type, node);
		goto out;
	}
	for (i = 3; i < argc; i++) {
		argv[i] = cluster_field(argv[i], i - 3 < nnames, &keep[i]);
		if (argv[i] == NULL) {
			log_warnx("cluster: bad field in '%s' message from "
			    "%s ignored", type, node);
			goto out;
		}
	}
	if (chat_remote(cl->server, argv[2], argv + 3, argc - 3) != 0)
		log_warnx("cluster: '%s' message from %s with %d fields "
		    "ignored", type, node, argc - 3);
out:
	for (i = 0; i < CLUSTER_FIELDS; i++)
		free(keep[i]);
	free(copy);
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

	cl->up = 1;
	cl->backoff = 0;
	evtimer_del(cl->retry_ev);
	log_notice("cluster: linked to Redis, room %s shared",
	    conf->cluster_channel);
	redisAsyncCommand(cl->pub, NULL, NULL, "DEL %snode:%s", cl->prefix,
	    conf->cluster_node);
	TAILQ_FOREACH(c, &cl->server->clients, entry) {
		if (c->flags & CLIENT_CONNECTED)
			cluster_claim(cl, c);
	}
	if (cl->down_told) {
		cluster_tell(cl, "the room is whole again: other nodes are "
		    "back");
		cl->down_told = 0;
	}
}

static void
cluster_sub_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;

	if (reply == NULL || cl == NULL || cl->stopping)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		log_warnx("cluster: unexpected reply on the subscription");
		return;
	}
	if (strcmp(reply->element[0]->str, "subscribe") == 0) {
		cl->sub_ready = 1;
		if (cl->pub_ready)
			cluster_linked(cl);
		return;
	}
	if (strcmp(reply->element[0]->str, "message") == 0 &&
	    reply->element[2]->type == REDIS_REPLY_STRING)
		cluster_message(cl, reply->element[2]->str,
		    reply->element[2]->len);
}

static void
cluster_ids_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;
	uint64_t	 end;

	if (reply == NULL || cl == NULL || reply->type !=
	    REDIS_REPLY_INTEGER || reply->integer < CLUSTER_ID_BLOCK)
		return;
	end = (uint64_t)reply->integer + 1;
	/* Never hand out an id below one already used by this process. */
	if (end <= cl->server->next_id + 1)
		return;
	cl->id_next = (uint64_t)reply->integer - CLUSTER_ID_BLOCK + 1;
	if (cl->id_next <= cl->server->next_id)
		cl->id_next = cl->server->next_id + 1;
	cl->id_end = end;
}

static void
cluster_fetch_ids(struct cluster *cl)
{
	if (cl->pub_ready)
		redisAsyncCommand(cl->pub, cluster_ids_reply, NULL,
		    "INCRBY %sids %u", cl->prefix, CLUSTER_ID_BLOCK);
}

/*
 * The next client id: from the node's block while it lasts, so that names
 * are unique across nodes; else from the local counter.
 */
uint64_t
cluster_next_id(struct server *s)
{
	struct cluster	*cl = s->cluster;

	if (cl != NULL && cl->id_next != 0 && cl->id_next < cl->id_end) {
		s->next_id = cl->id_next++;
		if (cl->id_end - cl->id_next == CLUSTER_ID_BLOCK / 2)
			cluster_fetch_ids(cl);
		return (s->next_id);
	}
	return (++s->next_id);
}

static void
cluster_auth_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster	*cl = ac->data;
	redisReply	*reply = r;

	if (reply == NULL || cl == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR)
		log_warnx("cluster: Redis refused the password: %s",
		    reply->str);
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
	} else {
		redisAsyncCommand(cl->sub, cluster_sub_reply, NULL,
		    "SUBSCRIBE %s", conf->cluster_channel);
	}
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
	    (ac->errstr != NULL && *ac->errstr ? ac->errstr :
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

/*
 * Either connection failed: drop both, tell the room once, and try again
 * after the backoff.
 */
static void
cluster_lost(struct cluster *cl, const char *why)
{
	redisAsyncContext	*ac;
	struct timeval		 tv;

	if (cl->stopping)
		return;
	if (cl->up || cl->backoff == 0)
		log_warnx("cluster: lost Redis (%s); the room is local-only "
		    "until it returns", why);
	else
		log_debug("cluster: Redis still unreachable (%s)", why);
	cl->up = cl->pub_ready = cl->sub_ready = 0;
	cl->id_next = cl->id_end = 0;
	cl->ping_ms = 0;
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
	if (conf->cluster_password != NULL)
		redisAsyncCommand(ac, cluster_auth_reply, NULL, "AUTH %s",
		    conf->cluster_password);
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
	xasprintf(&cl->prefix, "%s:", conf->cluster_channel);
	cl->retry_ev = evtimer_new(s->base, cluster_retry_callback, cl);
	cl->refresh_ev = event_new(s->base, -1, EV_PERSIST,
	    cluster_refresh_callback, cl);
	if (cl->retry_ev == NULL || cl->refresh_ev == NULL)
		fatalx("cluster: event_new failed");
	if (tv.tv_sec == 0)
		tv.tv_sec = 1;
	event_add(cl->refresh_ev, &tv);
	s->cluster = cl;
	log_notice("cluster: node %s, room %s via Redis at %s",
	    conf->cluster_node, conf->cluster_channel, conf->cluster_redis);
	cluster_connect(cl);
}

void
cluster_free(struct server *s)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;

	if (cl == NULL)
		return;
	cl->stopping = 1;
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
		if (req->client != NULL)
			req->client->req = NULL;
		free(req->text);
		free(req);
	}
	event_free(cl->retry_ev);
	event_free(cl->refresh_ev);
	free(cl->prefix);
	free(cl);
	s->cluster = NULL;
}

int
cluster_up(struct server *s)
{
	return (s->cluster != NULL && s->cluster->up);
}

/* Local events, shared with the room. */
void
cluster_said(struct server *s, struct client *c, int action,
    const char *text)
{
	if (s->cluster == NULL)
		return;
	if (c == NULL)
		cluster_publish(s->cluster, "raw", text, (char *)NULL);
	else
		cluster_publish(s->cluster, action ? "me" : "say", c->name,
		    text, (char *)NULL);
}

void
cluster_joined(struct server *s, struct client *c)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL || s->config->mode == MODE_RAW)
		return;
	if (!cl->up) {
		client_printf(c, "*** the room is temporarily local-only: "
		    "lines reach this server's users only");
		cl->down_told = 1;	/* so that it hears when it is whole */
		return;
	}
	cluster_claim(cl, c);
	cluster_publish(cl, "join", c->name, (char *)NULL);
}

void
cluster_left(struct server *s, struct client *c)
{
	struct cluster	*cl = s->cluster;

	if (cl == NULL)
		return;
	if (s->config->mode == MODE_RAW)
		return;
	cluster_release(cl, c->name);
	cluster_publish(cl, "left", c->name, c->reason, (char *)NULL);
}

/* Requests: a client paused until Redis answers. */

/* c is being torn down: its request, if any, completes without it. */
void
cluster_forget(struct client *c)
{
	if (c->req != NULL) {
		c->req->client = NULL;
		c->req = NULL;
	}
}

static void
cluster_req_done(struct future *f, void *arg)
{
	struct cluster_req	*req = arg;
	struct client		*c = req->client;

	TAILQ_REMOVE(&req->cluster->reqs, req, entry);
	if (c != NULL) {
		c->req = NULL;
		client_resume(c);
	}
	free(req->text);
	free(req);
}

static struct cluster_req *
cluster_req_new(struct cluster *cl, struct client *c)
{
	struct cluster_req	*req;

	req = xcalloc(1, sizeof *req);
	req->cluster = cl;
	req->client = c;
	c->req = req;
	req->sent_ms = server_now_ms(cl->server);
	future_init(&req->done, &cl->server->sched);
	future_start(&req->done);
	future_then(&req->done, cluster_req_done, req);
	TAILQ_INSERT_TAIL(&cl->reqs, req, entry);
	return (req);
}

static void
cluster_req_finish(struct cluster_req *req, redisReply *reply)
{
	if (reply == NULL)
		future_fail(&req->done, ECONNRESET);
	else
		future_complete(&req->done, NULL);
}

static void cluster_nick_owner_reply(redisAsyncContext *, void *, void *);

static void
cluster_nick_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;
	struct cluster		*cl = req->cluster;
	redisReply		*reply = r;
	struct client		*c = req->client;
	char			 lower[CLIENT_NAME_MAX + 1];

	if (c != NULL && reply != NULL) {
		if (reply->type == REDIS_REPLY_STATUS)
			chat_renamed(cl->server, c, req->name);
		else if (reply->type == REDIS_REPLY_NIL) {
			/* Someone's, or a leftover claim of ours? */
			cluster_lower(lower, req->name, sizeof lower);
			redisAsyncCommand(cl->pub, cluster_nick_owner_reply,
			    req, "GET %snick:%s", cl->prefix, lower);
			return;
		} else
			client_printf(c, "*** cannot change names now, try "
			    "again");
	} else if (c != NULL)
		client_printf(c, "*** cannot change names now: the room is "
		    "local-only, try again");
	cluster_req_finish(req, reply);
}

/*
 * The name was taken.  If this node holds the key but none of its clients
 * has the name, it is a claim whose answer never came (Redis hung, and ran
 * the SET after we had given up on it): the key is ours to reuse.
 */
static void
cluster_nick_owner_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;
	struct cluster		*cl = req->cluster;
	struct config		*conf = cl->server->config;
	redisReply		*reply = r;
	struct client		*c = req->client;
	size_t			 nlen = strlen(conf->cluster_node);
	char			 lower[CLIENT_NAME_MAX + 1];

	if (c != NULL && reply != NULL) {
		if (reply->type == REDIS_REPLY_STRING && reply->len > nlen &&
		    strncmp(reply->str, conf->cluster_node, nlen) == 0 &&
		    reply->str[nlen] == '\t' &&
		    chat_holder(cl->server, req->name) == NULL) {
			cluster_lower(lower, req->name, sizeof lower);
			redisAsyncCommand(cl->pub, NULL, NULL, "SET %snick:%s "
			    "%s\t%s XX EX %u", cl->prefix, lower,
			    conf->cluster_node, req->name, conf->cluster_ttl);
			chat_renamed(cl->server, c, req->name);
		} else
			client_printf(c, "*** name %s is taken", req->name);
	} else if (c != NULL)
		client_printf(c, "*** cannot change names now: the room is "
		    "local-only, try again");
	cluster_req_finish(req, reply);
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
	char			 lower[CLIENT_NAME_MAX + 1];

	req = cluster_req_new(cl, c);
	snprintf(req->name, sizeof req->name, "%s", name);
	cluster_lower(lower, name, sizeof lower);
	redisAsyncCommand(cl->pub, cluster_nick_reply, req,
	    "SET %snick:%s %s\t%s NX EX %u", cl->prefix, lower,
	    s->config->cluster_node, name, s->config->cluster_ttl);
	return (1);
}

/* Renamed: the old name is released and the room told. */
void
cluster_renamed(struct server *s, struct client *c, const char *old)
{
	struct cluster	*cl = s->cluster;
	char		 lower[CLIENT_NAME_MAX + 1];

	if (cl == NULL)
		return;
	if (!cl->up)
		return;
	if (strcasecmp(old, c->name) != 0)
		cluster_release(cl, old);
	else {
		/* Same key, new spelling: what remote /msg will show. */
		cluster_lower(lower, c->name, sizeof lower);
		redisAsyncCommand(cl->pub, NULL, NULL, "SET %snick:%s %s\t%s XX "
		    "EX %u", cl->prefix, lower, s->config->cluster_node,
		    c->name, s->config->cluster_ttl);
		redisAsyncCommand(cl->pub, NULL, NULL, "HDEL %snode:%s %s",
		    cl->prefix, s->config->cluster_node, old);
	}
	cluster_who_add(cl, c);
	cluster_publish(cl, "nick", old, c->name, (char *)NULL);
}

static void
cluster_msg_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;
	struct cluster		*cl = req->cluster;
	redisReply		*reply = r;
	struct client		*c = req->client;
	const char		*tab;

	if (c != NULL && reply != NULL) {
		if (reply->type == REDIS_REPLY_STRING &&
		    (tab = memchr(reply->str, '\t', reply->len)) != NULL) {
			snprintf(req->name, sizeof req->name, "%.*s",
			    (int)(reply->len - (size_t)(tab + 1 - reply->str)),
			    tab + 1);
			cluster_publish(cl, "msg", c->name, req->name,
			    req->text, (char *)NULL);
			client_printf(c, "*** message sent to %s", req->name);
		} else
			client_printf(c, "*** no such user: %s", req->name);
	}
	cluster_req_finish(req, reply);
}

/* /msg to a name not on this node.  Returns 1: c waits for Redis. */
int
cluster_msg(struct server *s, struct client *c, const char *name,
    size_t len, const char *text)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;
	char			 lower[CLIENT_NAME_MAX + 1];

	req = cluster_req_new(cl, c);
	snprintf(req->name, sizeof req->name, "%.*s", (int)len, name);
	req->text = xstrdup(text);
	cluster_lower(lower, req->name, sizeof lower);
	redisAsyncCommand(cl->pub, cluster_msg_reply, req, "GET %snick:%s",
	    cl->prefix, lower);
	return (1);
}

static void
cluster_who_node_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;
	struct config		*conf = req->cluster->server->config;
	redisReply		*reply = r, *name, *val;
	struct client		*c = req->client;
	char			 since[16], node[CONFIG_NODE_MAX + 1];
	const char		*tab;
	long long		 t;
	time_t			 when;
	struct tm		 tm;
	size_t			 i;

	if (c == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i + 1 < reply->elements; i += 2) {
		name = reply->element[i];
		val = reply->element[i + 1];
		/* Redis is not trusted more than a client. */
		if (name->type != REDIS_REPLY_STRING ||
		    val->type != REDIS_REPLY_STRING ||
		    !cluster_valid_name(name->str, name->len) ||
		    (tab = strchr(val->str, '\t')) == NULL)
			continue;
		t = strtoll(val->str, NULL, 10);
		if (!config_valid_node(tab + 1))
			continue;
		snprintf(node, sizeof node, "%s", tab + 1);
		if (strcmp(node, conf->cluster_node) == 0)
			continue;	/* listed from memory */
		when = (time_t)t;
		localtime_r(&when, &tm);
		strftime(since, sizeof since, "%H:%M", &tm);
		client_printf(c, "***   %-*s  on since %s, node %s",
		    CLIENT_NAME_MAX, name->str, since, node);
		req->found++;
	}
}

static void
cluster_who_end_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;

	if (req->client != NULL && r != NULL)
		client_printf(req->client, "*** %u online in the room",
		    req->found);
	cluster_req_finish(req, r);
}

static void
cluster_who_scan_reply(redisAsyncContext *ac, void *r, void *arg)
{
	struct cluster_req	*req = arg;
	struct cluster		*cl = req->cluster;
	redisReply		*reply = r, *keys;
	size_t			 i;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		cluster_req_finish(req, reply);
		return;
	}
	req->cursor = strtoull(reply->element[0]->str, NULL, 10);
	keys = reply->element[1];
	for (i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type == REDIS_REPLY_STRING)
			redisAsyncCommand(cl->pub, cluster_who_node_reply, req,
			    "HGETALL %b", keys->element[i]->str,
			    keys->element[i]->len);
	}
	/* Replies come in order: these run after the HGETALLs above. */
	if (req->cursor != 0)
		redisAsyncCommand(cl->pub, cluster_who_scan_reply, req,
		    "SCAN %llu MATCH %snode:* COUNT 100", req->cursor,
		    cl->prefix);
	else
		redisAsyncCommand(cl->pub, cluster_who_end_reply, req, "PING");
}

/*
 * /who across the room: local users were listed from memory (found of
 * them); the other nodes' come from their /who hashes.  Returns 1: c waits.
 */
int
cluster_who(struct server *s, struct client *c, unsigned found)
{
	struct cluster		*cl = s->cluster;
	struct cluster_req	*req;

	req = cluster_req_new(cl, c);
	req->found = found;
	redisAsyncCommand(cl->pub, cluster_who_scan_reply, req,
	    "SCAN 0 MATCH %snode:* COUNT 100", cl->prefix);
	return (1);
}

#else /* !HAVE_HIREDIS */

void
cluster_forget(struct client *c)
{
}

void
cluster_cron(struct server *s)
{
}

/* Built without hiredis: config.c refuses [cluster], so none of this runs. */
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

uint64_t
cluster_next_id(struct server *s)
{
	return (++s->next_id);
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
    size_t len, const char *text)
{
	return (0);
}

int
cluster_who(struct server *s, struct client *c, unsigned found)
{
	return (0);
}

#endif /* HAVE_HIREDIS */
