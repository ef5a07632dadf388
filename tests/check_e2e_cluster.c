/*
 * End-to-end tests of the cluster: two or three chatd nodes sharing one
 * room through a real redis-server (src/cluster.c).  Chat both ways with
 * per-sender order over a thousand lines, /who, /nick and /msg across
 * nodes, names freed after a node is killed and kept unique after Redis
 * lost them, joins, leaves, renames and /me formatted as local ones, no
 * echo of a node's own messages, hostile messages published straight into
 * the channel (kept out of the log, refused in a local user's name, too
 * long for the history) and hostile name records planted in Redis, Redis
 * killed and restarted under a conversation, a node started while Redis
 * is down, commands waiting on a hung Redis or never queued by hiredis, a
 * node restarted under its name, a node upgraded in place without the
 * room noticing, the password, separate channels, raw
 * mode, reload, -t on [cluster] configs, and bans: one made through a
 * node's control socket refuses and removes clients on another, a node
 * takes the room's bans from Redis on link, and one made while Redis was
 * down is saved there when it returns; and accounts: one registered on a
 * node logs in on another (taking the name from its own session there),
 * a registered name is refused to /nick on every node, and an operator
 * on one node kicks a user of another.
 *
 * hiredis queues every command but while it tears a context down, which
 * no test can time, so one test preloads tests/fault/hiredis_fault.so
 * (CHATD_FAULT_SO) into one node to refuse a command as hiredis would.
 *
 * Each test starts its own redis-server on a free loopback port in a
 * private directory (no persistence) and kills it at the end; the child
 * has PR_SET_PDEATHSIG and sits in the test's process group, and an
 * atexit() handler kills any still running, so a failed test leaves none
 * behind.  Without redis-server, or when configure found no hiredis (then
 * chatd has no [cluster], and this suite compiles to main() alone), main()
 * exits 77 and automake reports SKIP; under CI=true it fails
 * (harness_skip_suite()).  REDIS_SERVER overrides /usr/bin/redis-server.
 * The tests speak to Redis with hiredis's blocking API, one connection
 * per command (redis_cmd(), binary-safe redis_cmdv()).
 *
 * A node links to Redis after READY=1; node_up() waits for "cluster:
 * linked to Redis" in its log and for "cluster: guest numbers A to B from
 * Redis" (its block of PREFIX:ids has arrived), so that guest names do not
 * collide across nodes.  Waits for state that nobody announces (a key
 * expiring, a port free again) are bounded polls (harness_poll()), never
 * sleeps.  Nodes have
 * no common clock, so room_join() ends with a barrier (room_sync()): a
 * message of an unknown type is published and every node must log it,
 * which shows that each has handled everything published before.
 *
 * As in the other end-to-end suites, negatives are proved by order, never
 * by silence: a line that must not reach a client is followed by a marker
 * on the same path, which must be the very next line.  Most checks are on
 * the exact next line, so anything extra fails the test.  Waits are guards
 * (HARNESS_WAIT_MS); the bounds that are assertions are about expiry: a
 * killed node's names must be free within NAME_FREE_MS (presence_ttl = 3)
 * and its users gone from /who within four times presence_ttl.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include "harness.h"

#ifdef HAVE_HIREDIS

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	240

#define TTL		3	/* presence_ttl of every node */
#define NAME_FREE_MS	10000	/* a dead node's names free by then */
#define NLINES		1000	/* lines per sender, long test */
#define MAXC		12	/* clients of one test */
#define ROOM_MAX	40	/* a room's name, with slack */
#define REDIS_MAX	8

#define LINKED		"cluster: linked to Redis"
#define LOCAL_ONLY	"*** the room is temporarily local-only: lines " \
	"reach this server's users only"
#define WHOLE		"*** the room is whole again: other nodes are back"
#define UNREACHABLE	"cluster: Redis still unreachable"
#define LOBBY		"#lobby"

static const char	*redis_bin;

/* Helpers -------------------------------------------------------------- */

/*
 * As tc_expect_line(), but repeats of the local-only notice come first and
 * are skipped (test_local_only_told_once is about them).
 */
#define expect_past_notice(c, want) \
	expect_past_notice_at(__LINE__, c, want)
static void
expect_past_notice_at(int at, struct tc *c, const char *want)
{
	char	*l;

	while ((l = tc_line(c, W)) != NULL && strcmp(l, LOCAL_ONLY) == 0)
		;
	ck_assert_msg(l != NULL && strcmp(l, want) == 0,
	    "line %d: %s: expected '%s', got %s%s%s; recent lines:\n%s", at,
	    c->name, want, l != NULL ? "'" : "", l != NULL ? l : c->eof ?
	    "end of file" : "nothing", l != NULL ? "'" : "", c->seen);
}

/* A client of d while the room is local-only: its welcome says so. */
static struct tc *
connect_local_only(struct chatd *d)
{
	struct tc	*c;

	c = tc_connect(d);
	tc_expect_line(c, LOCAL_ONLY);
	return c;
}

/* Wait until d logs one more failed attempt to reach Redis. */
static void
wait_unreachable(struct chatd *d)
{
	chatd_wait_log_n(d, UNREACHABLE, chatd_log_count(d, UNREACHABLE) + 1);
}

/* Redis: hiredis's blocking client ------------------------------------ */

struct redis {
	pid_t		 pid;
	int		 port;
	char		*dir;
	const char	*password;	/* requirepass, or NULL */
};

/*
 * A connection to r, after AUTH if r has a password, on which connecting
 * and every command are bounded by timeout_ms; NULL if Redis cannot be
 * reached, does not answer in time or refuses the password.  A fresh
 * connection per command keeps nothing across a Redis that is stopped,
 * killed or restarted under a test.
 */
static redisContext *
redis_connect(const struct redis *r, int timeout_ms)
{
	struct timeval	 tv;
	redisContext	*rc;
	redisReply	*reply;
	int		 ok;

	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if ((rc = redisConnectWithTimeout("127.0.0.1", r->port, tv)) == NULL)
		ck_abort_msg("redisConnectWithTimeout: out of memory");
	if (rc->err != 0 || redisSetTimeout(rc, tv) != REDIS_OK) {
		redisFree(rc);
		return NULL;
	}
	if (r->password != NULL) {
		reply = redisCommand(rc, "AUTH %s", r->password);
		ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
		if (reply != NULL)
			freeReplyObject(reply);
		if (!ok) {
			redisFree(rc);
			return NULL;
		}
	}
	return rc;
}

/*
 * One command of argc binary-safe arguments (argv[i] is lens[i] bytes;
 * with lens NULL, NUL-terminated strings) on a fresh connection; its
 * reply (freeReplyObject() it), or NULL if Redis cannot be reached or
 * does not answer within timeout_ms.
 */
static redisReply *
redis_reply(const struct redis *r, int timeout_ms, int argc,
    const char *const argv[], const size_t lens[])
{
	redisContext	*rc;
	redisReply	*reply;

	if ((rc = redis_connect(r, timeout_ms)) == NULL)
		return NULL;
	reply = redisCommandArgv(rc, argc, (const char **)argv, lens);
	redisFree(rc);
	return reply;
}

static void
reply_append(char **out, size_t *len, const char *p, size_t n)
{
	if ((*out = realloc(*out, *len + n + 1)) == NULL)
		ck_abort_msg("out of memory");
	memcpy(*out + *len, p, n);
	*len += n;
	(*out)[*len] = '\0';
}

/* Append reply to *out (*len bytes so far) as redis_cmdv() shows it. */
static void
reply_string(const redisReply *reply, char **out, size_t *len)
{
	char	num[32];
	size_t	i;
	int	n;

	switch (reply->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		reply_append(out, len, reply->str, reply->len);
		break;
	case REDIS_REPLY_ERROR:
		reply_append(out, len, "(error) ", 8);
		reply_append(out, len, reply->str, reply->len);
		break;
	case REDIS_REPLY_INTEGER:
		n = snprintf(num, sizeof num, "%lld", reply->integer);
		reply_append(out, len, num, n);
		break;
	case REDIS_REPLY_NIL:
		reply_append(out, len, "(nil)", 5);
		break;
	case REDIS_REPLY_ARRAY:
		for (i = 0; i < reply->elements; i++) {
			if (i > 0)
				reply_append(out, len, "\n", 1);
			reply_string(reply->element[i], out, len);
		}
		break;
	default:
		ck_abort_msg("Redis reply of unknown type %d", reply->type);
	}
}

/*
 * Any command, binary-safe: argc arguments, argv[i] of lens[i] bytes
 * (lens NULL: NUL-terminated strings), so values may hold NUL, TAB or any
 * control byte.  Returns the reply as a NUL-terminated string (free() it;
 * *lenp, unless NULL, gets its length, since a value may hold NUL): a bulk
 * or status string as it is ("OK", a value), an integer in decimal, nil
 * as "(nil)", an error as "(error) " and its message, an array as its
 * elements so written, one a line.  Fails the test if Redis does not
 * answer within W.
 */
static char *
redis_cmdv(struct redis *r, size_t *lenp, int argc, const char *const argv[],
    const size_t lens[])
{
	redisReply	*reply;
	char		*out;
	size_t		 len = 0;

	if ((reply = redis_reply(r, W, argc, argv, lens)) == NULL)
		ck_abort_msg("%s: no reply from Redis on port %d", argv[0],
		    r->port);
	if ((out = calloc(1, 1)) == NULL)
		ck_abort_msg("out of memory");
	reply_string(reply, &out, &len);
	freeReplyObject(reply);
	if (lenp != NULL)
		*lenp = len;
	return out;
}

/*
 * redis_cmdv() for arguments that are NUL-terminated strings (they may
 * still hold TABs and control bytes), given as a NULL-terminated list:
 * redis_cmd(r, "SET", key, value, NULL).
 */
static char *
redis_cmd(struct redis *r, const char *arg, ...)
{
	const char	*argv[16];
	va_list		 ap;
	int		 argc = 0;

	va_start(ap, arg);
	for (; arg != NULL; arg = va_arg(ap, const char *)) {
		if (argc == 16)
			ck_abort_msg("redis_cmd: more than 16 arguments");
		argv[argc++] = arg;
	}
	va_end(ap);
	return redis_cmdv(r, NULL, argc, argv, NULL);
}

/* Whether r answers PING within timeout_ms. */
static int
redis_ping(const struct redis *r, int timeout_ms)
{
	const char	*argv[] = { "PING" };
	redisReply	*reply;
	int		 ok;

	if ((reply = redis_reply(r, timeout_ms, 1, argv, NULL)) == NULL)
		return 0;
	ok = reply->type == REDIS_REPLY_STATUS &&
	    strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	return ok;
}

/* Redis: the server ---------------------------------------------------- */

static struct {
	pid_t	pid;
	pid_t	owner;
} redis_children[REDIS_MAX];
static int	redis_atexit_done;

static void
redis_atexit(void)
{
	int	i, st;

	for (i = 0; i < REDIS_MAX; i++) {
		if (redis_children[i].pid <= 0 ||
		    redis_children[i].owner != getpid())
			continue;
		kill(redis_children[i].pid, SIGKILL);
		waitpid(redis_children[i].pid, &st, 0);
		redis_children[i].pid = 0;
	}
}

static void
redis_child_set(pid_t old, pid_t pid)
{
	int	i;

	for (i = 0; i < REDIS_MAX; i++) {
		if (redis_children[i].pid == old) {
			redis_children[i].pid = pid;
			redis_children[i].owner = getpid();
			return;
		}
	}
}

/* The server's log so far (for failure messages); a static buffer. */
static const char *
redis_log(const struct redis *r)
{
	static char	 buf[4096];
	char		*path, *text;
	size_t		 len;

	path = harness_asprintf("%s/redis.log", r->dir);
	text = harness_read_file(path);
	len = strlen(text);
	snprintf(buf, sizeof buf, "%s", len > sizeof buf - 1 ?
	    text + len - (sizeof buf - 1) : text);
	free(text);
	free(path);
	return buf;
}

/*
 * For harness_poll(): whether the redis-server just started answers PING,
 * or has exited (then reaped, and r->pid is -1).
 */
static int
redis_up_or_gone(void *arg)
{
	struct redis	*r = arg;
	int		 st;

	if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
		r->pid = -1;
		return 1;
	}
	return redis_ping(r, 1000);
}

/* Start redis-server on r->port; 0 once it answers PING, -1 if it exited. */
static int
redis_spawn(struct redis *r)
{
	char	 portstr[16], *logpath;
	pid_t	 parent = getpid(), pid;
	int	 fd, st;

	if (!redis_atexit_done) {
		atexit(redis_atexit);
		redis_atexit_done = 1;
	}
	snprintf(portstr, sizeof portstr, "%d", r->port);
	if (asprintf(&logpath, "%s/redis.log", r->dir) == -1)
		ck_abort_msg("out of memory");
	switch (r->pid = fork()) {
	case -1:
		ck_abort_msg("fork: %s", strerror(errno));
		break;
	case 0:
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		if (getppid() != parent)
			_exit(127);
		if ((fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(fd, 0) == -1)
			_exit(127);
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (r->password != NULL)
			execl(redis_bin, "redis-server", "--port", portstr,
			    "--bind", "127.0.0.1", "--save", "", "--appendonly",
			    "no", "--dir", r->dir, "--requirepass", r->password,
			    (char *)NULL);
		else
			execl(redis_bin, "redis-server", "--port", portstr,
			    "--bind", "127.0.0.1", "--save", "", "--appendonly",
			    "no", "--dir", r->dir, (char *)NULL);
		dprintf(2, "exec %s: %s\n", redis_bin, strerror(errno));
		_exit(127);
	default:
		break;
	}
	free(logpath);
	pid = r->pid;
	redis_child_set(0, r->pid);
	if (harness_poll(redis_up_or_gone, r, W)) {
		if (r->pid != -1)
			return 0;
		redis_child_set(pid, 0);
		return -1;
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &st, 0);
	redis_child_set(r->pid, 0);
	r->pid = -1;
	ck_abort_msg("redis-server on port %d did not answer PING within %d "
	    "ms; its log:\n%s", r->port, W, redis_log(r));
	return -1;
}

/*
 * A fresh redis-server on a free port (port 0) or on port, with password
 * as requirepass unless it is NULL.
 */
static struct redis *
redis_start_pw(int port, const char *password)
{
	struct redis	*r;
	int		 attempt;

	if ((r = calloc(1, sizeof *r)) == NULL)
		ck_abort_msg("out of memory");
	r->dir = harness_mkdtemp("redis");
	r->password = password;
	for (attempt = 0; attempt < 5; attempt++) {
		r->port = port != 0 ? port : harness_free_port();
		if (redis_spawn(r) == 0)
			return r;
	}
	ck_abort_msg("redis-server did not start (port %d)", r->port);
	return NULL;
}

static struct redis *
redis_start(int port)
{
	return redis_start_pw(port, NULL);
}

/*
 * For harness_poll(): whether 127.0.0.1:port can be bound as Redis binds
 * it (SO_REUSEADDR), that is, nothing listens there.
 */
static int
port_bindable(void *arg)
{
	struct sockaddr_in	sin;
	int			fd, on = 1, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(*(int *)arg);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return ok;
}

/*
 * Start it again on the same port (after redis_kill()): once the port
 * can be bound, which it can at once unless something else took it.
 */
static void
redis_restart(struct redis *r)
{
	int	attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		if (!harness_poll(port_bindable, &r->port, W))
			ck_abort_msg("port %d still taken %d ms after "
			    "redis-server was killed", r->port, W);
		if (redis_spawn(r) == 0)
			return;
	}
	ck_abort_msg("redis-server did not restart on port %d; its log:\n%s",
	    r->port, redis_log(r));
}

/* Send sig; unless it is SIGSTOP or SIGCONT, reap the server. */
static void
redis_kill(struct redis *r, int sig)
{
	int	st;

	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	if (sig == SIGSTOP || sig == SIGCONT)
		return;
	waitpid(r->pid, &st, 0);
	redis_child_set(r->pid, 0);
	r->pid = -1;
}

static void
redis_stop(struct redis *r)
{
	redis_kill(r, SIGKILL);
	harness_rmtree(r->dir);
	free(r->dir);
	free(r);
}

/* PUBLISH channel msg (len bytes); returns how many subscribers got it. */
static int
redis_publish(struct redis *r, const char *channel, const char *msg,
    size_t len)
{
	const char	*argv[] = { "PUBLISH", channel, msg };
	size_t		 lens[] = { 7, strlen(channel), len };
	char		*reply, *end;
	long		 n;

	reply = redis_cmdv(r, NULL, 3, argv, lens);
	n = strtol(reply, &end, 10);
	ck_assert_msg(end != reply && *end == '\0', "PUBLISH: reply '%s'",
	    reply);
	free(reply);
	return (int)n;
}

/* PUBLISH into the default room, which must have a subscriber. */
static void
publish(struct redis *r, const char *msg)
{
	int	n;

	n = redis_publish(r, "chatd", msg, strlen(msg));
	ck_assert_msg(n >= 1, "PUBLISH '%s': %d subscribers", msg, n);
}

/* GET key as an integer (0 if missing). */
static long long
redis_get_int(struct redis *r, const char *key)
{
	char		*reply;
	long long	 n;

	reply = redis_cmd(r, "GET", key, NULL);
	n = strcmp(reply, "(nil)") == 0 ? 0 : strtoll(reply, NULL, 10);
	free(reply);
	return n;
}

/* Nodes ---------------------------------------------------------------- */

/*
 * A node of a room on Redis at 127.0.0.1:port with presence_ttl ttl;
 * server_more goes into [server], cluster_more into [cluster] (NULL for
 * none).  Unthrottled, and without history so that newcomers see only new
 * lines.
 */
static struct chatd *
node_start(int port, const char *node, int ttl, const char *server_more,
    const char *cluster_more)
{
	char	extra[1024];

	/* Debug: every message a node ignores is logged (room_sync()). */
	snprintf(extra, sizeof extra, "name = e2etest\nlog_level = debug\n%s"
	    "[limits]\nrate_lines = 0\n"
	    "[chat]\nhistory = 0\n"
	    "[cluster]\nredis = 127.0.0.1:%d\nnode = %s\npresence_ttl = %d\n"
	    "%s", server_more != NULL ? server_more : "", port, node, ttl,
	    cluster_more != NULL ? cluster_more : "");
	return chatd_start(extra);
}

/* Wait until d has linked to Redis the n-th time. */
static void
node_linked(struct chatd *d, int n)
{
	chatd_wait_log_n(d, LINKED, n);
}

/*
 * Wait until d, just started as the k-th node (from 1) of the room on
 * channel (NULL: "chatd"), is linked and has its block of guest numbers,
 * so that its guests are unique: the node logs (at debug level, which
 * node_start() sets) "cluster: guest numbers A to B from Redis" once the
 * answer to its INCRBY has arrived.  Nodes are started one at a time, so
 * the k-th has taken the k-th block at least.
 */
static void
node_ready(struct redis *r, struct chatd *d, const char *node, int k,
    const char *channel)
{
	char		 key[128];
	long long	 ids;

	node_linked(d, 1);
	chatd_wait_log(d, "cluster: guest numbers ");
	snprintf(key, sizeof key, "%s:ids", channel != NULL ? channel :
	    "chatd");
	ids = redis_get_int(r, key);
	ck_assert_msg(ids >= 1000LL * k, "node %s has its guest numbers, but "
	    "%s is %lld, below %lld", node, key, ids, 1000LL * k);
}

/* Start the k-th node of the room on channel: node_ready() once it is. */
static struct chatd *
node_up_ex(struct redis *r, const char *node, int k, int ttl,
    const char *channel, const char *cluster_more)
{
	struct chatd	*d;

	d = node_start(r->port, node, ttl, NULL, cluster_more);
	node_ready(r, d, node, k, channel);
	return d;
}

static struct chatd *
node_up(struct redis *r, const char *node, int k)
{
	return node_up_ex(r, node, k, TTL, NULL, NULL);
}

/* Rooms: clients that see each other's joins ----------------------------- */

struct room {
	struct redis	*r;
	const char	*channel;
	struct chatd	*node[4];
	int		 nnodes;
	struct tc	*c[MAXC];
	char		 in[MAXC][ROOM_MAX];	/* the chat room of c[i] */
	struct chatd	*at[MAXC];		/* its node */
	int		 n;
	int		 syncs;
};

static void
room_init(struct room *rm, struct redis *r)
{
	memset(rm, 0, sizeof *rm);
	rm->r = r;
	rm->channel = "chatd";
}

static void
room_node(struct room *rm, struct chatd *d)
{
	int	i;

	for (i = 0; i < rm->nnodes; i++) {
		if (rm->node[i] == d)
			return;
	}
	ck_assert_int_lt(rm->nnodes, 4);
	rm->node[rm->nnodes++] = d;
}

/* d is dead: no barrier waits for it. */
static void
room_drop_node(struct room *rm, struct chatd *d)
{
	int	i;

	for (i = 0; i < rm->nnodes; i++) {
		if (rm->node[i] == d) {
			rm->node[i] = rm->node[--rm->nnodes];
			return;
		}
	}
}

/*
 * A barrier: every node has handled everything published before.  A
 * message of an unknown type goes through the channel and each node must
 * log it (at debug level, which node_start() sets); Redis delivers to
 * each subscriber in publishing order.
 */
static void
room_sync(struct room *rm)
{
	char	msg[64], needle[64];
	int	i;

	rm->syncs++;
	snprintf(msg, sizeof msg, "chatd1\tsync\tsync%d", rm->syncs);
	snprintf(needle, sizeof needle, "message ignored (unknown type): "
	    "chatd1 sync sync%d", rm->syncs);
	ck_assert_int_ge(redis_publish(rm->r, rm->channel, msg, strlen(msg)),
	    1);
	for (i = 0; i < rm->nnodes; i++)
		chatd_wait_log(rm->node[i], needle);
}

/* c, a client of d in the default room, is one of rm's from now on. */
static void
room_add(struct room *rm, struct chatd *d, struct tc *c)
{
	ck_assert_int_lt(rm->n, MAXC);
	snprintf(rm->in[rm->n], sizeof rm->in[rm->n], "%s", LOBBY);
	rm->at[rm->n] = d;
	rm->c[rm->n++] = c;
}

/*
 * Connect a client to d, make it nick, and check that everyone already in
 * the room (on any node) was told, exactly as about a local client: "***
 * guestN joined" and "*** guestN is now known as NICK"; everyone in the
 * default room, that is, where a new client lands (see rooms_move()).
 * Then wait until every node has handled both, so that a client who
 * connects next, on a node where nobody saw them, does not get them late.
 */
static struct tc *
room_join(struct room *rm, struct chatd *d, const char *nick)
{
	struct tc	*c;
	char		 guest[64], want[256];
	int		 i;

	ck_assert_int_lt(rm->n, MAXC);
	room_node(rm, d);
	c = tc_connect(d);
	snprintf(guest, sizeof guest, "%s", c->name);
	snprintf(want, sizeof want, "*** %s joined", guest);
	for (i = 0; i < rm->n; i++) {
		if (strcmp(rm->in[i], LOBBY) == 0)
			tc_expect_line(rm->c[i], want);
	}
	tc_send(c, "/nick %s\n", nick);
	snprintf(want, sizeof want, "*** you are now known as %s", nick);
	tc_expect_line(c, want);
	tc_rename(c, nick);
	snprintf(want, sizeof want, "*** %s is now known as %s", guest, nick);
	for (i = 0; i < rm->n; i++) {
		if (strcmp(rm->in[i], LOBBY) == 0)
			tc_expect_line(rm->c[i], want);
	}
	room_add(rm, d, c);
	/*
	 * d's "join" and "nick" went out on its Redis connection before this
	 * GET, so Redis has relayed them once the answer is back.
	 */
	tc_send(c, "/msg nobody.sync x\n");
	tc_expect_line(c, "*** no such user: nobody.sync");
	room_sync(rm);
	return c;
}

/* A Redis server of its own, and nodes a and b on it: the usual room. */
static void
room_two_nodes(struct room *rm, struct redis **r, struct chatd **a,
    struct chatd **b)
{
	*r = redis_start(0);
	room_init(rm, *r);
	*a = node_up(*r, "a", 1);
	*b = node_up(*r, "b", 2);
}

static void
room_close(struct room *rm)
{
	int	i;

	for (i = 0; i < rm->n; i++)
		tc_close(rm->c[i]);
	rm->n = 0;
}

/* c leaves the room: it is closed and freed. */
static void
room_leave(struct room *rm, struct tc *c)
{
	int	i;

	for (i = 0; i < rm->n; i++) {
		if (rm->c[i] == c) {
			rm->n--;
			rm->c[i] = rm->c[rm->n];
			rm->at[i] = rm->at[rm->n];
			memcpy(rm->in[i], rm->in[rm->n], sizeof rm->in[i]);
			break;
		}
	}
	tc_close(c);
}

/* Every client of the room but except gets exactly want next. */
static void
room_expect(struct room *rm, struct tc *except, const char *want)
{
	int	i;

	for (i = 0; i < rm->n; i++) {
		if (rm->c[i] != except)
			tc_expect_line(rm->c[i], want);
	}
}

/*
 * Read /who's answer on c (the command was just sent): the lines between
 * "*** in the room:" and "*** N online in the room" go to lines (up to
 * max); returns N, which must equal the number of lines.
 */
static int
read_who(struct tc *c, char lines[][256], int max)
{
	char	*l;
	int	 n = 0, online;

	tc_expect_line(c, "*** in the room:");
	for (;;) {
		l = tc_line(c, W);
		ck_assert_msg(l != NULL, "%s: /who answer cut short; recent "
		    "lines:\n%s", c->name, c->seen);
		if (harness_match(l, "^\\*\\*\\* [0-9]+ online in the room$"))
			break;
		ck_assert_msg(strncmp(l, "***   ", 6) == 0, "%s: unexpected "
		    "line in /who: '%s'", c->name, l);
		ck_assert_msg(n < max, "%s: /who: too many entries", c->name);
		snprintf(lines[n++], 256, "%s", l);
	}
	online = atoi(l + 4);
	ck_assert_msg(online == n, "%s: '%s' after %d entries", c->name, l, n);
	return online;
}

/* How many of lines[0..n) match re. */
static int
count_matching(char lines[][256], int n, const char *re)
{
	int	i, k = 0;

	for (i = 0; i < n; i++)
		k += harness_match(lines[i], re);
	return k;
}

/* Local /who entry: "***   NAME  on 0s, idle 0s" and maybe " (you)". */
#define WHO_LOCAL(name, rest)	"^\\*\\*\\*   " name " +on [0-9]+[smhd]" \
	"([0-9][0-9][mh])?, idle [0-9]+[smhd]([0-9][0-9][mh])?" rest "$"
/* Remote /who entry: "***   NAME  on since HH:MM, node NODE". */
#define WHO_REMOTE(name, node)	"^\\*\\*\\*   " name " +on since " \
	"[0-2][0-9]:[0-5][0-9], node " node "$"

/* 1. Chat both ways over three nodes, 1,000 lines per sender. ------------ */

/*
 * Read the chat lines on c: na lines "<alice> aNNNN" and nb lines "<bob>
 * bNNNN", each sender's in order.  Anything else, a line twice or a gap
 * fails the test.
 */
static void
read_two(struct tc *c, int na, int nb)
{
	char	 want[64], *l;
	int	 ia = 0, ib = 0;

	while (ia < na || ib < nb) {
		l = tc_line(c, W);
		ck_assert_msg(l != NULL, "%s: %s after %d+%d of %d+%d lines; "
		    "recent:\n%s", c->name, c->eof ? "end of file" :
		    "timed out", ia, ib, na, nb, c->seen);
		if (strncmp(l, "<alice> ", 8) == 0 && ia < na)
			snprintf(want, sizeof want, "<alice> a%04d", ia++);
		else if (strncmp(l, "<bob> ", 6) == 0 && ib < nb)
			snprintf(want, sizeof want, "<bob> b%04d", ib++);
		else
			ck_abort_msg("%s: unexpected line '%s' after %d+%d "
			    "lines", c->name, l, ia, ib);
		ck_assert_msg(strcmp(l, want) == 0, "%s: got '%s', want '%s' "
		    "(order broken or a line twice)", c->name, l, want);
	}
}

START_TEST(test_chat_both_ways)
{
	struct redis	*r;
	struct chatd	*a, *b, *c;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave, *erin;
	int		 i, j;

	room_two_nodes(&rm, &r, &a, &b);
	c = node_up(r, "c", 3);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");
	dave = room_join(&rm, b, "dave");
	erin = room_join(&rm, c, "erin");

	/* Interleaved in bursts: both senders' lines cross in Redis. */
	for (i = 0; i < NLINES / 50; i++) {
		for (j = 0; j < 50; j++)
			tc_send(alice, "a%04d\n", i * 50 + j);
		for (j = 0; j < 50; j++)
			tc_send(bob, "b%04d\n", i * 50 + j);
	}
	/* Senders get only the other's lines: no echo through Redis. */
	read_two(alice, 0, NLINES);
	read_two(bob, NLINES, 0);
	read_two(carol, NLINES, NLINES);
	read_two(dave, NLINES, NLINES);
	read_two(erin, NLINES, NLINES);

	/* Nothing came twice late: the markers are the next lines. */
	tc_send(erin, "marker from c\n");
	room_expect(&rm, erin, "<erin> marker from c");
	tc_send(alice, "marker from a\n");
	room_expect(&rm, alice, "<alice> marker from a");
	tc_send(bob, "marker from b\n");
	room_expect(&rm, bob, "<bob> marker from b");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	chatd_stop_ok(c);
	redis_stop(r);
}
END_TEST

/* 2. /who across nodes, names unique, freed after SIGKILL. ---------------- */

/* Whether none of keys (NULL-terminated) exists (for harness_poll()). */
struct keys_wait {
	struct redis	*r;
	const char	*keys[4];
};

static int
keys_gone(void *arg)
{
	struct keys_wait	*w = arg;
	char			*n;
	int			 i, gone = 1;

	for (i = 0; gone && w->keys[i] != NULL; i++) {
		n = redis_cmd(w->r, "EXISTS", w->keys[i], NULL);
		gone = strcmp(n, "0") == 0;
		free(n);
	}
	return gone;
}

START_TEST(test_who_nick_kill)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol;
	struct keys_wait gone;
	char		 who[MAXC][256];
	int		 n, st;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");

	/* Local users from memory, the other node's from Redis. */
	tc_send(alice, "/who\n");
	n = read_who(alice, who, MAXC);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("alice",
	    " \\(you\\)")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("carol", "")), 1);
	ck_assert_msg(count_matching(who, n, WHO_REMOTE("bob", "b")) == 1,
	    "bob on node b not in alice's /who:\n%s\n%s\n%s", who[0], who[1],
	    who[2]);

	tc_send(bob, "/who\n");
	n = read_who(bob, who, MAXC);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("bob",
	    " \\(you\\)")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("alice", "a")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("carol", "a")), 1);

	/* A name taken on B is refused on A, whatever its case, and back. */
	tc_send(carol, "/nick bob\n");
	tc_expect_line(carol, "*** name bob is taken");
	tc_send(carol, "/nick BOB\n");
	tc_expect_line(carol, "*** name BOB is taken");
	tc_send(bob, "/nick Alice\n");
	tc_expect_line(bob, "*** name Alice is taken");
	/* Nobody heard of the refusals: the marker is next everywhere. */
	tc_send(carol, "after the refusals\n");
	room_expect(&rm, carol, "<carol> after the refusals");

	/*
	 * B dies without a word: no "left" ever comes for bob.  Its claim on
	 * the name (chatd:nick:bob) and its /who hash (chatd:node:b) expire
	 * within the TTL, as B no longer refreshes them; then carol may take
	 * the name.
	 */
	chatd_kill(b, SIGKILL);
	st = chatd_wait(b, HARNESS_STOP_MS);
	ck_assert_msg(st == 128 + SIGKILL, "node b: status %d after SIGKILL",
	    st);
	gone.r = r;
	gone.keys[0] = "chatd:nick:bob";
	gone.keys[1] = "chatd:node:b";
	gone.keys[2] = NULL;
	ck_assert_msg(harness_poll(keys_gone, &gone, NAME_FREE_MS), "bob still "
	    "taken (chatd:nick:bob or chatd:node:b in Redis) %d ms after "
	    "node b was killed (presence_ttl = %d)", NAME_FREE_MS, TTL);
	tc_send(carol, "/nick bob\n");
	tc_expect_line(carol, "*** you are now known as bob");
	tc_rename(carol, "bob");
	tc_expect_line(alice, "*** carol is now known as bob");

	/* B's /who hash expired with its names. */
	tc_send(alice, "/who\n");
	n = read_who(alice, who, MAXC);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("alice",
	    " \\(you\\)")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("bob", "")), 1);

	st = chatd_stop(b);
	ck_assert_int_eq(st, 128 + SIGKILL);
	tc_close(bob);
	tc_close(alice);
	tc_close(carol);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/*
 * For harness_poll(): whether the name's key and the node's /who entry
 * of a name are both in Redis.
 */
struct claim_wait {
	struct redis	*r;
	const char	*key;		/* PREFIX:nick:KEY */
	const char	*hash;		/* PREFIX:node:NODE */
	const char	*field;		/* the name */
};

static int
claimed(void *arg)
{
	struct claim_wait	*w = arg;
	char			*n;
	int			 there;

	n = redis_cmd(w->r, "EXISTS", w->key, NULL);
	there = strcmp(n, "1") == 0;
	free(n);
	if (!there)
		return 0;
	n = redis_cmd(w->r, "HEXISTS", w->hash, w->field, NULL);
	there = strcmp(n, "1") == 0;
	free(n);
	return there;
}

/*
 * 2b. Redis loses every name (FLUSHALL here; a restart without data is
 * the same) under a running room: the node holding a name claims it again
 * at its next refresh, so the name stays one person's across the room.
 */
START_TEST(test_names_unique_after_flushall)
{
	/* Before: a never claimed carol again, and b gave bob carol too. */
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*bob;
	struct claim_wait back;
	char		 who[MAXC][256], *reply;
	int		 n, again;

	room_two_nodes(&rm, &r, &a, &b);
	room_join(&rm, a, "carol");
	bob = room_join(&rm, b, "bob");

	reply = redis_cmd(r, "FLUSHALL", NULL);
	ck_assert_str_eq(reply, "OK");
	free(reply);
	/*
	 * Node a refreshes every presence_ttl / 3 = 1 s.  Whether it claimed
	 * carol again is asserted after what bob sees, so that a node that
	 * never does fails the test as the user saw it.
	 */
	back.r = r;
	back.key = "chatd:nick:carol";
	back.hash = "chatd:node:a";
	back.field = "carol";
	again = harness_poll(claimed, &back, NAME_FREE_MS);

	tc_send(bob, "/nick carol\n");
	tc_expect_line(bob, "*** name carol is taken");
	tc_send(bob, "/who\n");
	n = read_who(bob, who, MAXC);
	ck_assert_msg(count_matching(who, n, "^\\*\\*\\*   carol ") == 1,
	    "bob's /who lists %d carols", count_matching(who, n,
	    "^\\*\\*\\*   carol "));
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("carol", "a")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_LOCAL("bob",
	    " \\(you\\)")), 1);
	ck_assert_int_eq(n, 2);

	ck_assert_msg(again, "chatd:nick:carol or carol in chatd:node:a not "
	    "back %d ms after FLUSHALL (presence_ttl = %d)", NAME_FREE_MS,
	    TTL);
	reply = redis_cmd(r, "GET", "chatd:nick:carol", NULL);
	ck_assert_str_eq(reply, "a\tcarol");
	free(reply);
	ck_assert_int_eq(chatd_log_count(a, "cluster: Redis lost this node's "
	    "names (restarted or flushed); claiming them again"), 1);
	ck_assert_int_eq(chatd_log_count(a, "cluster: claiming carol again"),
	    1);

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 3. /msg across nodes reaches only its addressee. ------------------------ */

START_TEST(test_msg_across)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");
	dave = room_join(&rm, b, "dave");

	tc_send(alice, "/msg bob psst, bob\n");
	tc_expect_line(alice, "*** message sent to bob");
	tc_expect_line(bob, "*alice* psst, bob");
	/* Only bob: everyone's next line is the public marker. */
	tc_send(alice, "public after the msg\n");
	room_expect(&rm, alice, "<alice> public after the msg");

	/* Back, with the name in another case. */
	tc_send(dave, "/msg ALICE hi from b\n");
	tc_expect_line(dave, "*** message sent to alice");
	tc_expect_line(alice, "*dave* hi from b");
	tc_send(dave, "public from dave\n");
	room_expect(&rm, dave, "<dave> public from dave");

	/* Lines after /msg wait for it: their order holds. */
	tc_send(carol, "/msg dave one\nafter one\n/msg bob two\nafter two\n");
	tc_expect_line(carol, "*** message sent to dave");
	tc_expect_line(carol, "*** message sent to bob");
	tc_expect_line(dave, "*carol* one");
	tc_expect_line(dave, "<carol> after one");
	tc_expect_line(dave, "<carol> after two");
	tc_expect_line(bob, "<carol> after one");
	tc_expect_line(bob, "*carol* two");
	tc_expect_line(bob, "<carol> after two");
	tc_expect_line(alice, "<carol> after one");
	tc_expect_line(alice, "<carol> after two");

	tc_send(alice, "/msg nobody hello?\n");
	tc_expect_line(alice, "*** no such user: nobody");
	tc_send(alice, "/msg bob\n");
	tc_expect_line(alice, "*** usage: /msg NAME TEXT");
	tc_send(bob, "last\n");
	room_expect(&rm, bob, "<bob> last");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * 3b. A name too long to be anyone's is no one's: it is refused where it
 * was typed, and never cut down to the name of someone on another node.
 */
START_TEST(test_msg_long_name_not_truncated_across_nodes)
{
	/* Before: cut to 24 bytes, it reached abcdefghijklmnopqrstuvwx. */
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *x;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	x = room_join(&rm, b, "abcdefghijklmnopqrstuvwx");

	tc_send(alice, "/msg abcdefghijklmnopqrstuvwxYZ hi\n");
	tc_expect_line(alice, "*** no such user: abcdefghijklmnopqrstuvwx...");
	/* Nothing reached x: its next line is the marker. */
	tc_send(alice, "after the msg\n");
	tc_expect_line(x, "<alice> after the msg");

	/* The name itself, all 24 bytes of it, still reaches x. */
	tc_send(alice, "/msg abcdefghijklmnopqrstuvwx hi\n");
	tc_expect_line(alice, "*** message sent to abcdefghijklmnopqrstuvwx");
	tc_expect_line(x, "*alice* hi");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 4. Redis killed mid-conversation, then restarted on the same port. ------ */

/*
 * Read c until the line stop: chat lines from alice must be "<alice> a000"
 * and on, consecutive (a prefix of what she sent: what Redis had relayed
 * before it died); notices are skipped; anything else fails.  Returns the
 * number of alice's lines.
 */
static int
read_prefix_until(struct tc *c, const char *stop)
{
	char	 want[64], *l;
	int	 n = 0;

	for (;;) {
		l = tc_line(c, W);
		ck_assert_msg(l != NULL, "%s: no '%s' (%s); recent:\n%s",
		    c->name, stop, c->eof ? "end of file" : "timed out",
		    c->seen);
		if (strcmp(l, stop) == 0)
			return n;
		if (strncmp(l, "*** ", 4) == 0)
			continue;
		snprintf(want, sizeof want, "<alice> a%03d", n++);
		ck_assert_msg(strcmp(l, want) == 0, "%s: got '%s', want '%s'",
		    c->name, l, want);
	}
}

/*
 * Cut off from each other, two nodes can give one name to two people.
 * When the room is whole again one of them keeps it; the other becomes a
 * guest, is told why, and so is everyone, on both nodes.
 */
START_TEST(test_name_clash_after_outage)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave, *loser;
	char		*l, *lost, *won, guest[64], want[256];
	char		 on_a[256], on_b[256];
	const char	*re = "^\\*\\*\\* (the name carol is taken elsewhere "
	    "in the room; you are now|carol is now known as) guest[0-9]+$";

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	carol = room_join(&rm, a, "carol");
	bob = room_join(&rm, b, "bob");
	dave = room_join(&rm, b, "dave");

	redis_kill(r, SIGKILL);
	room_expect(&rm, NULL, LOCAL_ONLY);
	/* b cannot ask the room, and nobody on b is called carol. */
	tc_send(dave, "/nick carol\n");
	tc_expect_line(dave, "*** you are now known as carol");
	tc_expect_line(bob, "*** dave is now known as carol");

	/* Redis comes back empty: both nodes claim carol, one wins. */
	redis_restart(r);
	node_linked(a, 2);
	node_linked(b, 2);
	l = tc_expect_re(carol, re, W);
	snprintf(on_a, sizeof on_a, "%s", l);
	l = tc_expect_re(dave, re, W);
	snprintf(on_b, sizeof on_b, "%s", l);
	if (strstr(on_a, "taken elsewhere") != NULL) {
		loser = carol;
		lost = on_a;
		won = on_b;
	} else {
		loser = dave;
		lost = on_b;
		won = on_a;
	}
	ck_assert_msg(strstr(lost, "taken elsewhere") != NULL, "neither "
	    "carol lost the name: carol was told '%s', dave '%s'", on_a, on_b);
	snprintf(guest, sizeof guest, "%s", strrchr(lost, ' ') + 1);
	snprintf(want, sizeof want, "*** carol is now known as %s", guest);
	/* The winner, and everyone else on both nodes, is told. */
	ck_assert_str_eq(won, want);
	l = tc_expect_re(alice, re, W);
	ck_assert_str_eq(l, want);
	l = tc_expect_re(bob, re, W);
	ck_assert_str_eq(l, want);

	/* The new name is the loser's across the room, the old one not. */
	tc_rename(loser, guest);
	tc_send(loser, "/nick carol\n");
	tc_expect_line(loser, "*** name carol is taken");
	tc_send(alice, "/msg %s are you the other carol?\n", guest);
	snprintf(want, sizeof want, "*** message sent to %s", guest);
	tc_expect(alice, want, W);
	tc_expect(loser, "*alice* are you the other carol?", W);

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

START_TEST(test_redis_outage)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave, *erin;
	char		*l;
	int		 i, n, told;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");
	dave = room_join(&rm, b, "dave");

	tc_send(alice, "hello b\n");
	room_expect(&rm, alice, "<alice> hello b");
	tc_send(bob, "hello a\n");
	room_expect(&rm, bob, "<bob> hello a");

	/* Mid-conversation: alice keeps talking while Redis dies. */
	for (i = 0; i < 50; i++)
		tc_send(alice, "a%03d\n", i);
	redis_kill(r, SIGKILL);
	for (i = 50; i < 100; i++)
		tc_send(alice, "a%03d\n", i);

	/* Locally nothing is lost; everyone is told, once. */
	told = 0;
	for (i = 0; i < 100; i++) {
		char want[64];

		snprintf(want, sizeof want, "<alice> a%03d", i);
		while ((l = tc_line(carol, W)) != NULL &&
		    strcmp(l, LOCAL_ONLY) == 0)
			told++;
		ck_assert_msg(l != NULL && strcmp(l, want) == 0, "carol: got "
		    "'%s', want '%s'; recent:\n%s", l != NULL ? l : "nothing",
		    want, carol->seen);
	}
	ck_assert_msg(told <= 1, "carol: told %d times", told);
	if (!told)
		tc_expect_line(carol, LOCAL_ONLY);
	tc_expect_line(alice, LOCAL_ONLY);
	/* On B, a prefix of alice's lines, then the notice. */
	n = read_prefix_until(dave, LOCAL_ONLY);
	ck_assert_int_le(n, 100);
	ck_assert_int_eq(read_prefix_until(bob, LOCAL_ONLY), n);

	/* Local-only: each node's clients still chat among themselves. */
	tc_send(bob, "local on b\n");
	tc_expect_line(dave, "<bob> local on b");
	tc_send(carol, "local on a\n");
	tc_expect_line(alice, "<carol> local on a");
	/* Commands that need Redis answer from memory meanwhile. */
	tc_send(alice, "/msg bob are you there\n");
	tc_expect_line(alice, "*** no such user: bob");
	tc_send(alice, "/who\n");
	tc_expect_line(alice, "*** 2 online:");
	tc_expect(alice, "***   carol", W);
	tc_send(dave, "/msg carol hi\n");
	tc_expect_line(dave, "*** no such user: carol");

	/* Same port again: both nodes relink by themselves. */
	redis_restart(r);
	node_linked(a, 2);
	node_linked(b, 2);
	room_expect(&rm, NULL, WHOLE);

	/* Cross-node lines flow again; nothing from the outage leaked. */
	tc_send(alice, "back from a\n");
	room_expect(&rm, alice, "<alice> back from a");
	tc_send(dave, "back from b\n");
	room_expect(&rm, dave, "<dave> back from b");
	/* The names were claimed again: /msg and /nick know them. */
	tc_send(carol, "/msg bob welcome back\n");
	tc_expect_line(carol, "*** message sent to bob");
	tc_expect_line(bob, "*carol* welcome back");
	tc_send(carol, "/nick dave\n");
	tc_expect_line(carol, "*** name dave is taken");
	/* And a newcomer is announced across nodes again. */
	erin = room_join(&rm, b, "erin");
	tc_send(erin, "hi all\n");
	room_expect(&rm, erin, "<erin> hi all");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 5. Joins, leaves, renames and /me look as local ones; no echo. ---------- */

START_TEST(test_formats)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *carol, *bob, *dave, *g;
	char		 local[256], want[256];

	room_two_nodes(&rm, &r, &a, &b);
	/* room_join() checks "joined" and "is now known as" everywhere. */
	alice = room_join(&rm, a, "alice");
	carol = room_join(&rm, a, "carol");
	bob = room_join(&rm, b, "bob");
	dave = room_join(&rm, b, "dave");

	tc_send(bob, "/me waves\n");
	room_expect(&rm, bob, "* bob waves");
	tc_send(alice, "/me smiles back\n");
	room_expect(&rm, alice, "* alice smiles back");
	tc_send(bob, "//slash text\n");
	room_expect(&rm, bob, "<bob> /slash text");

	/*
	 * No echo, and each line once: alice's line reached both nodes
	 * before bob's marker was sent, so a copy of it coming back to A
	 * through Redis would arrive before the marker.
	 */
	tc_send(alice, "x1\n");
	room_expect(&rm, alice, "<alice> x1");
	tc_send(alice, "/me x2\n");
	room_expect(&rm, alice, "* alice x2");
	tc_send(bob, "m1\n");
	room_expect(&rm, bob, "<bob> m1");

	/* A second rename, both ways. */
	tc_send(bob, "/nick bobby\n");
	tc_expect_line(bob, "*** you are now known as bobby");
	tc_rename(bob, "bobby");
	room_expect(&rm, bob, "*** bob is now known as bobby");
	tc_send(carol, "/nick Carol\n");
	tc_expect_line(carol, "*** you are now known as Carol");
	tc_rename(carol, "Carol");
	room_expect(&rm, carol, "*** carol is now known as Carol");

	/* /quit with a reason, seen on both nodes alike. */
	tc_send(bob, "/quit see you\n");
	tc_expect_line(bob, "*** bye");
	ck_assert(tc_closed(bob, W));
	room_leave(&rm, bob);
	room_expect(&rm, NULL, "*** bobby left (quit: see you)");

	/* A plain close: the remote reason is the local one. */
	room_leave(&rm, carol);
	ck_assert_ptr_nonnull(tc_line(alice, W));
	snprintf(local, sizeof local, "%.255s", alice->line);
	ck_assert_msg(harness_match(local, "^\\*\\*\\* Carol left \\(.+\\)$"),
	    "alice: got '%s'", local);
	tc_expect_line(dave, local);

	/* A guest that never renamed leaves too. */
	g = tc_connect(b);
	snprintf(want, sizeof want, "*** %s joined", g->name);
	room_expect(&rm, NULL, want);
	tc_send(g, "/quit\n");
	tc_expect_line(g, "*** bye");
	snprintf(want, sizeof want, "*** %s left (quit)", g->name);
	room_expect(&rm, NULL, want);
	tc_close(g);

	tc_send(dave, "the end\n");
	tc_expect_line(alice, "<dave> the end");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 6. Malformed and hostile messages in the channel. ---------------------- */

#define M(s)	s, sizeof(s) - 1

static const struct {
	const char	*msg;
	size_t		 len;
	const char	*log;	/* what the log must say, or NULL */
} bad_messages[] = {
	{ M("garbage"),
	    "message ignored (unknown version): garbage" },
	{ M("chatd9\tx\tsay\tbob\thi"),
	    "message ignored (unknown version): chatd9 x say bob hi" },
	{ M("chatd1\tz\tsay\tbad name!\thi"),
	    "message ignored (bad name): chatd1 z say bad name! hi" },
	{ M("chatd1\tz\tbogus"),
	    "message ignored (unknown type): chatd1 z bogus" },
	{ "", 0, "message ignored (empty): " },
	{ M("chatd1\tz\tsay\tzed\tnul\0inside"),
	    "message ignored (NUL byte): chatd1 z say zed nul?inside" },
	{ M("chatd1\tz\tsay\tzed"),
	    "message ignored (wrong number of fields): chatd1 z say zed" },
	{ M("chatd1\tz\tsay\tzed\tx\ty"),
	    "message ignored (wrong number of fields): chatd1 z say zed x y" },
	{ M("chatd1\tz\tsay\tzed\ta\tb\tc\td\te"),
	    "message ignored (too many fields): chatd1 z say zed a b c d e" },
	{ M("chatd1\tz\tnick\tzed\tno way"),
	    "message ignored (bad name): chatd1 z nick zed no way" },
	{ M("chatd1\tz\tjoin\tev\x1bil"),
	    "message ignored (bad name): chatd1 z join ev?il" },
	{ M("chatd1\tz\tjoin\t0123456789012345678901234"),
	    "message ignored (bad name): chatd1 z join 0123456789" },
	{ M("chatd1\tz\tsay\t\tno name"),
	    "message ignored (bad name): chatd1 z say  no name" },
	{ M("chatd1\tz\tsay\tzed\t\x1b[2J\x07"),
	    "message ignored (empty text): chatd1 z say zed ?[2J?" },
	{ M("chatd1\tz\tmsg\tzed\tno body\thi"),
	    "message ignored (bad name): chatd1 z msg zed no body hi" },
	{ M("chatd1\tz\tleft\tzed"),
	    "message ignored (wrong number of fields): chatd1 z left zed" },
	/* Our own node's name: delivered locally already, never again. */
	{ M("chatd1\ta\tsay\tzed\tfrom myself"), NULL },
	/* Raw lines are for raw mode; a chat node drops them. */
	{ M("chatd1\tz\traw\tsome raw line"), NULL },
};

/* Publish "<zed> ok N" and check that both clients' next line is it. */
static void
ok_marker(struct redis *r, struct tc *x, struct tc *y, int n)
{
	char	msg[64], want[64];

	snprintf(msg, sizeof msg, "chatd1\tz\tsay\tzed\tok %d", n);
	publish(r, msg);
	snprintf(want, sizeof want, "<zed> ok %d", n);
	tc_expect_line(x, want);
	tc_expect_line(y, want);
}

START_TEST(test_malformed)
{
	struct redis	*r;
	struct chatd	*a;
	struct room	 rm;
	struct tc	*alice, *carol;
	char		*big;
	size_t		 i, biglen = 70000;
	int		 before, marker = 0;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up(r, "a", 1);
	alice = room_join(&rm, a, "alice");
	carol = room_join(&rm, a, "carol");
	ok_marker(r, alice, carol, marker++);

	for (i = 0; i < sizeof bad_messages / sizeof bad_messages[0]; i++) {
		before = bad_messages[i].log != NULL ?
		    chatd_log_count(a, bad_messages[i].log) : 0;
		ck_assert_int_ge(redis_publish(r, "chatd", bad_messages[i].msg,
		    bad_messages[i].len), 1);
		/* Nothing came of it: the marker is the next line. */
		ok_marker(r, alice, carol, marker++);
		/* Logged before the marker was handled. */
		if (bad_messages[i].log != NULL)
			ck_assert_msg(chatd_log_count(a, bad_messages[i].log) >
			    before, "message %zu: no '%s' in the log:\n%s", i,
			    bad_messages[i].log, chatd_log(a));
	}

	/* Longer than any message chatd accepts. */
	if ((big = malloc(biglen)) == NULL)
		ck_abort_msg("out of memory");
	memset(big, 'x', biglen);
	memcpy(big, "chatd1\tz\tsay\tzed\t", 17);
	ck_assert_int_ge(redis_publish(r, "chatd", big, biglen), 1);
	free(big);
	ok_marker(r, alice, carol, marker++);
	ck_assert_msg(chatd_log_count(a, "message ignored (text too long): "
	    "chatd1 z say zed xxx") == 1, "no log of the long message:\n%s",
	    chatd_log(a));

	/* Valid but dirty: every field is sanitised before display. */
	publish(r, "chatd1\tz\tsay\tzed\ta\x1b[2Jb\xc2\x9b" "31mc\xc2\x85"
	    "d\x9b" "e\x07" "f\x1b]0;title\x07g");
	tc_expect_line(alice, "<zed> abcd\xef\xbf\xbd" "efg");
	tc_expect_line(carol, "<zed> abcd\xef\xbf\xbd" "efg");
	publish(r, "chatd1\tz\tme\tzed\t\x1b[1mbold\x1b[0m move\r");
	tc_expect_line(alice, "* zed bold move");
	tc_expect_line(carol, "* zed bold move");
	publish(r, "chatd1\tz\tjoin\tzed");
	tc_expect_line(alice, "*** zed joined");
	tc_expect_line(carol, "*** zed joined");
	publish(r, "chatd1\tz\tnick\tzed\tzed.2");
	tc_expect_line(alice, "*** zed is now known as zed.2");
	tc_expect_line(carol, "*** zed is now known as zed.2");
	publish(r, "chatd1\tz\tleft\tzed.2\tquit: \x1b[31mred\x1b[0m\xc2\x9b"
	    "2J\x7f");
	tc_expect_line(alice, "*** zed.2 left (quit: red)");
	tc_expect_line(carol, "*** zed.2 left (quit: red)");
	/* A private message from "another node" reaches carol alone. */
	publish(r, "chatd1\tz\tmsg\tzed\tCAROL\tps\x1b[2Js\x1b" "ct");
	tc_expect_line(carol, "*zed* psst");
	ok_marker(r, alice, carol, marker++);

	/* The node kept relaying, locally and through Redis. */
	tc_send(alice, "still here\n");
	tc_expect_line(carol, "<alice> still here");

	room_close(&rm);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/*
 * 6b. Nothing from the channel reaches the log unsanitised: fields shown in
 * warnings may hold ESC and LF (only TAB and NUL are excluded by framing),
 * which would forge log lines or drive the terminal of whoever reads it.
 */
START_TEST(test_malformed_log_safe)
{
	static const char	*forged[] = {
		"chatd1\tev\x1b[2Jil\nFORGED-1 chatd: notice: node\tbogus",
		"chatd9\x1b[2J\nFORGED-2\tx\tsay\tbob\thi",
		"chatd1\tz\tbo\x1b[2J\nFORGED-3\tzed\thi",
		"chatd1\tz\nFORGED-4\tsay\tbad name\thi",
	};
	struct redis	*r;
	struct chatd	*a;
	struct room	 rm;
	struct tc	*alice, *carol;
	const char	*log;
	size_t		 i;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up(r, "a", 1);
	alice = room_join(&rm, a, "alice");
	carol = room_join(&rm, a, "carol");
	for (i = 0; i < sizeof forged / sizeof forged[0]; i++) {
		publish(r, forged[i]);
		ok_marker(r, alice, carol, (int)i);
	}
	log = chatd_log(a);
	ck_assert_msg(strchr(log, '\x1b') == NULL, "ESC from the channel "
	    "reached the log:\n%s", log);
	ck_assert_msg(strstr(log, "\nFORGED") == NULL, "a line of the log "
	    "was forged from the channel:\n%s", log);

	room_close(&rm);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/*
 * Fail unless the next line on c is want; before comparing, fail if it
 * holds a control byte (C0 or DEL), quoting it as \xNN rather than sending
 * it to the terminal of whoever reads the failure.
 */
#define expect_clean_line(c, want) \
	expect_clean_line_at(__LINE__, c, want)
static void
expect_clean_line_at(int at, struct tc *c, const char *want)
{
	const unsigned char	*p;
	char			 shown[1024], *l;
	size_t			 n = 0;
	int			 dirty = 0;

	l = tc_line(c, W);
	ck_assert_msg(l != NULL, "line %d: %s: expected '%s', got %s", at,
	    c->name, want, c->eof ? "end of file" : "nothing");
	for (p = (const unsigned char *)l; *p != '\0' &&
	    n + 5 < sizeof shown; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			dirty = 1;
			n += (size_t)snprintf(shown + n, sizeof shown - n,
			    "\\x%02x", *p);
		} else
			shown[n++] = (char)*p;
	}
	shown[n] = '\0';
	ck_assert_msg(!dirty, "line %d: %s: control bytes from the server: "
	    "'%s'", at, c->name, shown);
	ck_assert_msg(strcmp(l, want) == 0, "line %d: %s: expected '%s', got "
	    "'%s'", at, c->name, want, shown);
}

/*
 * 6c. A name's record in Redis is read as untrusted input: one that is
 * not "node TAB name" with a valid node and name is nobody's, and nothing
 * of it reaches the client or the log.  (mallory and trudy are their own
 * keys: chatd:nick:mallory, chatd:nick:trudy.)
 */
START_TEST(test_msg_shows_no_raw_bytes_from_redis)
{
	/* Before: alice got "*** message sent to " ESC [2J ESC ]0;pwned... */
	static const char	 mallory[] =
	    "x\t\x1b[2J\x1b]0;pwned\x07\r\n*** fake";
	static const char	 trudy[] = "b\tev\x1bil";
	struct redis		*r;
	struct chatd		*a;
	struct room		 rm;
	struct tc		*alice;
	const char		*log;
	char			*reply;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up(r, "a", 1);
	alice = room_join(&rm, a, "alice");
	reply = redis_cmd(r, "SET", "chatd:nick:mallory", mallory, NULL);
	ck_assert_str_eq(reply, "OK");
	free(reply);
	reply = redis_cmd(r, "SET", "chatd:nick:trudy", trudy, NULL);
	ck_assert_str_eq(reply, "OK");
	free(reply);

	/* An invalid name after a valid node, and a bad value whole. */
	tc_send(alice, "/msg mallory hi\n");
	expect_clean_line(alice, "*** no such user: mallory");
	tc_send(alice, "/msg trudy hi\n");
	expect_clean_line(alice, "*** no such user: trudy");
	/* Nothing else came: the marker is the next line. */
	publish(r, "chatd1\tz\tsay\tzed\tmarker");
	expect_clean_line(alice, "<zed> marker");
	ck_assert_msg(alice->len == 0, "alice: %zu more bytes after the "
	    "marker", alice->len);

	/* Said once (the report is rate limited), and safely. */
	ck_assert_int_eq(chatd_log_count(a, "cluster: malformed name record "
	    "in Redis ignored (0 more since the last report)"), 1);
	log = chatd_log(a);
	ck_assert_msg(strchr(log, '\x1b') == NULL && strchr(log, '\x07') ==
	    NULL && strstr(log, "pwned") == NULL, "the record reached the "
	    "log:\n%s", log);

	room_close(&rm);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/* Publish "<zed> marker N" as from node z: every client of rm gets it next. */
static void
room_marker(struct room *rm, int n)
{
	char	msg[64], want[64];

	snprintf(msg, sizeof msg, "chatd1\tz\tsay\tzed\tmarker %d", n);
	publish(rm->r, msg);
	snprintf(want, sizeof want, "<zed> marker %d", n);
	room_expect(rm, NULL, want);
}

/*
 * How many times d logged (at debug level, one line each) that it refused
 * the message shown as printable, for why.  The once-a-minute warning of
 * the same refusal goes on after the message and is not counted.
 */
static int
refusals(struct chatd *d, const char *why, const char *printable)
{
	char	needle[256];

	snprintf(needle, sizeof needle, "message ignored (%s): %s\n", why,
	    printable);
	return chatd_log_count(d, needle);
}

/*
 * 6d. A message that names one of this node's own users as its speaker
 * (or as the name a join, leave or rename is about) is forged, or stale,
 * and the node refuses it.  The trust model (cluster.c): a node refuses
 * only what it can know is forged.  It knows its own users, so a forged
 * "alice" is refused on alice's node, a; node b cannot tell it from
 * alice's own lines and shows it.  The recipient of a "msg" is not its
 * speaker: a forged "msg bob alice" is refused on b (bob is b's) and shown
 * to alice on a.  The one naming of a local user that is shown is a
 * rename to a guest name, which is how a node that lost a name after an
 * outage tells the room (test_name_clash_after_outage).
 */
START_TEST(test_forged_local_speaker_refused)
{
	/* Before: a showed alice, and carol, "<alice> hi" from the channel. */
	static const char	*mine = "names alice, a user of this node";
	struct redis		*r;
	struct chatd		*a, *b;
	struct room		 rm;
	struct tc		*alice, *bob, *carol;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");

	/* alice "says": refused on a, shown on b. */
	publish(r, "chatd1\tz\tsay\talice\thi");
	tc_expect_line(bob, "<alice> hi");
	room_marker(&rm, 1);
	ck_assert_int_eq(refusals(a, mine, "chatd1 z say alice hi"), 1);
	ck_assert_int_eq(chatd_log_count(b, "chatd1 z say alice hi"), 0);

	/* alice "renames" herself: refused on a, shown on b. */
	publish(r, "chatd1\tz\tnick\talice\tevil");
	tc_expect_line(bob, "*** alice is now known as evil");
	room_marker(&rm, 2);
	ck_assert_int_eq(refusals(a, mine, "chatd1 z nick alice evil"), 1);
	ck_assert_int_eq(chatd_log_count(b, "chatd1 z nick alice evil"), 0);

	/* The exception, to a guest name: shown on both. */
	publish(r, "chatd1\tz\tnick\talice\tguest99");
	room_expect(&rm, NULL, "*** alice is now known as guest99");
	room_marker(&rm, 3);
	ck_assert_int_eq(chatd_log_count(a, "chatd1 z nick alice guest99"), 0);
	ck_assert_int_eq(chatd_log_count(b, "chatd1 z nick alice guest99"), 0);

	/* alice "writes" to bob: refused on a, shown to bob on b. */
	publish(r, "chatd1\tz\tmsg\talice\tbob\thi");
	tc_expect_line(bob, "*alice* hi");
	room_marker(&rm, 4);
	ck_assert_int_eq(refusals(a, mine, "chatd1 z msg alice bob hi"), 1);
	ck_assert_int_eq(chatd_log_count(b, "chatd1 z msg alice bob hi"), 0);

	/* bob "writes" to alice: refused on b, shown to alice on a. */
	publish(r, "chatd1\tz\tmsg\tbob\talice\thi");
	tc_expect_line(alice, "*bob* hi");
	room_marker(&rm, 5);
	ck_assert_int_eq(refusals(b, "names bob, a user of this node",
	    "chatd1 z msg bob alice hi"), 1);
	ck_assert_int_eq(chatd_log_count(a, "chatd1 z msg bob alice hi"), 0);

	/* The names are still theirs. */
	tc_send(carol, "/msg alice still you?\n");
	tc_expect_line(carol, "*** message sent to alice");
	tc_expect_line(alice, "*carol* still you?");
	tc_send(carol, "/msg bob still you?\n");
	tc_expect_line(carol, "*** message sent to bob");
	tc_expect_line(bob, "*carol* still you?");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * 6e. Text from the channel is held to what a local client could have
 * said: a line longer than max_line allows (after sanitising, three times
 * max_line) is refused, so it never reaches the history that newcomers
 * are sent, and a newcomer is not dropped for the size of its greeting.
 */
#define FLOOD_LINES	20
#define FLOOD_LEN	65536	/* each message, as a7f79f1 still took it */

START_TEST(test_room_joinable_after_long_remote_lines)
{
	/* Before: the lines went into the history; every newcomer dropped. */
	struct redis	*r;
	struct chatd	*a;
	struct room	 rm;
	struct tc	*c1, *c2;
	char		*big, want[256], re[256];
	const char	*history = "^\\*\\*\\* \\[[0-2][0-9]:[0-5][0-9]\\] "
	    "<zed> before the flood$";
	int		 i, n;

	r = redis_start(0);
	room_init(&rm, r);
	/* node_start() sets history = 0; a later [chat] overrides it. */
	a = node_up_ex(r, "a", 1, TTL, NULL, "[chat]\nhistory = 100\n");
	room_node(&rm, a);

	publish(r, "chatd1\tz\tsay\tzed\tbefore the flood");
	if ((big = malloc(FLOOD_LEN)) == NULL)
		ck_abort_msg("out of memory");
	memset(big, 'x', FLOOD_LEN);
	for (i = 0; i < FLOOD_LINES; i++) {
		n = snprintf(big, FLOOD_LEN, "chatd1\tz\tsay\tzed\tline%02d ",
		    i);
		big[n] = 'x';
		ck_assert_int_ge(redis_publish(r, "chatd", big, FLOOD_LEN), 1);
	}
	free(big);
	room_sync(&rm);

	/* Welcome first, then the one line of history, and chat. */
	c1 = tc_connect(a);
	tc_expect_line_re(c1, history);
	c2 = tc_connect(a);
	tc_expect_line_re(c2, history);
	snprintf(want, sizeof want, "*** %s joined", c2->name);
	tc_expect_line(c1, want);
	tc_send(c1, "hello after the flood\n");
	snprintf(want, sizeof want, "<%s> hello after the flood", c1->name);
	tc_expect_line(c2, want);

	for (i = 0; i < FLOOD_LINES; i++) {
		snprintf(re, sizeof re, "message ignored \\(text too long\\): "
		    "chatd1 z say zed line%02d x+$", i);
		ck_assert_msg(harness_match(chatd_log(a), re), "no '%s' in "
		    "the log:\n%s", re, chatd_log(a));
	}

	tc_close(c1);
	tc_close(c2);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/* 7. A node started while Redis is down. --------------------------------- */

START_TEST(test_start_redis_down)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*c1, *c2, *bob;
	char		 want[256];
	int		 port;

	port = harness_free_port();
	a = node_start(port, "a", TTL, "log_level = debug\n", NULL);
	/* The welcome says the room is local-only. */
	c1 = connect_local_only(a);

	/* At least one more failed attempt after c1 was told. */
	wait_unreachable(a);
	c2 = connect_local_only(a);
	snprintf(want, sizeof want, "*** %s joined", c2->name);
	expect_past_notice(c1, want);

	/* Local clients are served meanwhile. */
	tc_send(c2, "local hello\n");
	snprintf(want, sizeof want, "<%s> local hello", c2->name);
	tc_expect_line(c1, want);
	ck_assert_int_eq(chatd_log_count(a, LINKED), 0);

	/* Redis comes: the node links by itself and says so. */
	r = redis_start(port);
	room_init(&rm, r);
	room_node(&rm, a);
	node_linked(a, 1);
	tc_expect_line(c1, WHOLE);
	tc_expect_line(c2, WHOLE);

	b = node_up(r, "b", 2);
	room_add(&rm, a, c1);
	room_add(&rm, a, c2);
	bob = room_join(&rm, b, "bob");
	tc_send(bob, "hi from b\n");
	room_expect(&rm, bob, "<bob> hi from b");
	tc_send(c1, "hi from a\n");
	snprintf(want, sizeof want, "<%s> hi from a", c1->name);
	room_expect(&rm, c1, want);

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * 7b. Told once, and told again when it is over: a client told at its
 * welcome that the room is local-only is not told a second time when the
 * next attempt to reach Redis fails, and is told when the room is whole.
 */
START_TEST(test_local_only_told_once)
{
	struct redis	*r;
	struct chatd	*a;
	struct tc	*c1, *c2, *c3;
	char		 want[256];
	int		 port;

	port = harness_free_port();
	a = node_start(port, "a", TTL, "log_level = debug\n", NULL);
	c1 = connect_local_only(a);
	/* The next attempt fails too: c1 was told already. */
	wait_unreachable(a);
	c2 = connect_local_only(a);
	snprintf(want, sizeof want, "*** %s joined", c2->name);
	tc_expect_line(c1, want);

	/*
	 * Right after a failed attempt (the backoff is a second or more by
	 * now), c3 joins and Redis starts: the next attempt links, and c3,
	 * told at its welcome, must hear that the room is whole.
	 */
	wait_unreachable(a);
	c3 = connect_local_only(a);
	r = redis_start(port);
	node_linked(a, 1);
	snprintf(want, sizeof want, "*** %s joined", c3->name);
	tc_expect_line(c1, want);
	tc_expect_line(c2, want);
	tc_expect_line(c1, WHOLE);
	tc_expect_line(c2, WHOLE);
	tc_expect_line(c3, WHOLE);
	/* Nothing else came before this marker. */
	tc_send(c3, "marker\n");
	snprintf(want, sizeof want, "<%s> marker", c3->name);
	tc_expect_line(c1, want);
	tc_expect_line(c2, want);

	tc_close(c1);
	tc_close(c2);
	tc_close(c3);
	chatd_stop_ok(a);
	redis_stop(r);
}
END_TEST

/* 9. Requests waiting for a hung Redis: answered, detached, or cut. ------ */


/* Read n lines on c into lines. */
static void
read_lines(struct tc *c, char lines[][256], int n)
{
	char	*l;
	int	 i;

	for (i = 0; i < n; i++) {
		l = tc_line(c, W);
		ck_assert_msg(l != NULL, "%s: %d of %d lines, then %s; recent "
		    "lines:\n%s", c->name, i, n, c->eof ? "end of file" :
		    "nothing", c->seen);
		snprintf(lines[i], 256, "%.255s", l);
	}
}

/* The index of the line in lines[0..n) that matches re; fails if none. */
static int
find_line(char lines[][256], int n, const char *re, const char *who)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (harness_match(lines[i], re))
			return i;
	}
	ck_abort_msg("%s: no line matching '%s' among %d", who, re, n);
	return -1;
}

START_TEST(test_requests_in_flight)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *g;
	char		 want[256], got[4][256];
	int		 ren, after, bobl, end;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");

	/* Redis hangs: commands wait for it, and lines after them too. */
	redis_kill(r, SIGSTOP);
	tc_send(carol, "/nick zed\nafter the nick\n");
	tc_send(alice, "/who\n");
	tc_expect_line(alice, "*** in the room:");
	tc_expect_line_re(alice, WHO_LOCAL("alice", " \\(you\\)"));
	tc_expect_line_re(alice, WHO_LOCAL("carol", ""));
	/* A client whose /who waits leaves before Redis answers. */
	g = tc_connect(a);
	snprintf(want, sizeof want, "*** %s joined", g->name);
	tc_expect_line(alice, want);
	tc_expect_line(carol, want);
	tc_send(g, "/who\n");
	tc_expect_line(g, "*** in the room:");
	tc_expect_line_re(g, WHO_LOCAL("alice", ""));
	tc_expect_line_re(g, WHO_LOCAL("carol", ""));
	tc_expect_line_re(g, WHO_LOCAL(".*", " \\(you\\)"));
	snprintf(want, sizeof want, "*** %s left (connection reset)",
	    g->name);
	tc_reset(g);
	tc_expect_line(alice, want);
	tc_expect_line(carol, want);

	/* Redis answers: everyone's request completes, g's without g. */
	redis_kill(r, SIGCONT);
	tc_expect_line(carol, "*** you are now known as zed");
	tc_rename(carol, "zed");
	read_lines(alice, got, 4);
	ren = find_line(got, 4, "^\\*\\*\\* carol is now known as zed$",
	    "alice");
	after = find_line(got, 4, "^<zed> after the nick$", "alice");
	bobl = find_line(got, 4, WHO_REMOTE("bob", "b"), "alice");
	end = find_line(got, 4, "^\\*\\*\\* 3 online in the room$", "alice");
	ck_assert_msg(ren < after && bobl < end, "alice: lines out of order:"
	    "\n%s\n%s\n%s\n%s", got[0], got[1], got[2], got[3]);
	/* On B the queued join and leave come first, in order. */
	tc_expect_line_re(bob, "^\\*\\*\\* guest[0-9]+ joined$");
	tc_expect_line_re(bob, "^\\*\\*\\* guest[0-9]+ left "
	    "\\(connection reset\\)$");
	tc_expect_line(bob, "*** carol is now known as zed");
	tc_expect_line(bob, "<zed> after the nick");

	/* Redis dies under a waiting /nick: answered; the client goes on. */
	redis_kill(r, SIGSTOP);
	tc_send(carol, "/nick yan\nafter the second nick\n");
	/*
	 * Killed only once the /nick waits for Redis (its SET sent): were it
	 * handled after the kill, carol would be renamed locally.
	 */
	chatd_wait_log(a, "]: /nick yan: waiting for Redis");
	redis_kill(r, SIGKILL);
	tc_expect_line(carol, "*** cannot change names now: the room is "
	    "local-only, try again");
	tc_expect_line(carol, LOCAL_ONLY);
	tc_expect_line(alice, LOCAL_ONLY);
	tc_expect_line(alice, "<zed> after the second nick");
	tc_expect_line(bob, LOCAL_ONLY);

	/* Back; then shut down with requests waiting on a hung Redis. */
	redis_restart(r);
	node_linked(a, 2);
	node_linked(b, 2);
	room_expect(&rm, NULL, WHOLE);
	tc_send(bob, "whole again\n");
	room_expect(&rm, bob, "<bob> whole again");
	redis_kill(r, SIGSTOP);
	tc_send(carol, "/who\n");
	tc_expect_line(carol, "*** in the room:");
	tc_expect_line_re(carol, WHO_LOCAL("alice", ""));
	tc_expect_line_re(carol, WHO_LOCAL("zed", " \\(you\\)"));
	tc_send(bob, "/who\n");
	tc_expect_line(bob, "*** in the room:");
	tc_expect_line_re(bob, WHO_LOCAL("bob", " \\(you\\)"));

	chatd_stop_ok(a);
	chatd_stop_ok(b);
	room_close(&rm);
	redis_stop(r);
}
END_TEST

/*
 * 9b. A Redis that hangs counts as lost after reply_timeout: the waiting
 * command fails, the room turns local-only, and the node relinks once
 * Redis answers again.
 */
START_TEST(test_reply_timeout)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up_ex(r, "a", 1, TTL, NULL, "reply_timeout = 2\n");
	b = node_up_ex(r, "b", 2, TTL, NULL, "reply_timeout = 2\n");
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");

	redis_kill(r, SIGSTOP);
	tc_send(carol, "/nick zed\nstill carol\n");
	/* No answer within 2 s: the /nick fails and carol goes on. */
	tc_expect_line(carol, "*** cannot change names now: the room is "
	    "local-only, try again");
	tc_expect_line(carol, LOCAL_ONLY);
	tc_expect_line(alice, LOCAL_ONLY);
	tc_expect_line(alice, "<carol> still carol");
	tc_expect_line(bob, LOCAL_ONLY);
	chatd_wait_log(a, "cluster: Redis has not answered for 2 seconds");

	redis_kill(r, SIGCONT);
	node_linked(a, 2);
	node_linked(b, 2);
	room_expect(&rm, NULL, WHOLE);
	tc_send(carol, "/nick zed\n");
	tc_expect_line(carol, "*** you are now known as zed");
	tc_rename(carol, "zed");
	tc_expect_line(alice, "*** carol is now known as zed");
	tc_expect_line(bob, "*** carol is now known as zed");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * For harness_poll(): whether every connection Redis has, other than the
 * one asking, is at least secs old (CLIENT LIST's age), that is, nobody
 * has reconnected for secs seconds.
 */
struct links_wait {
	struct redis	*r;
	long		 secs;
};

static int
links_older(void *arg)
{
	struct links_wait	*w = arg;
	char			*list, *line, *next, *age;
	int			 old = 1;

	list = redis_cmd(w->r, "CLIENT", "LIST", NULL);
	for (line = list; old && line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strstr(line, " cmd=client") != NULL)
			continue;	/* this one */
		age = strstr(line, " age=");
		old = age != NULL && strtol(age + 5, NULL, 10) >= w->secs;
	}
	free(list);
	return old;
}

/*
 * 9c. A command hiredis refuses to queue (it does so only while tearing
 * its context down) gets no callback, ever.  The request must fail at
 * once, its client be told, and the node relink once; not wait at the
 * head of the queue until reply_timeout drops the link, again and again.
 * No test can time hiredis's teardown, so node a runs with
 * tests/fault/hiredis_fault.so preloaded, which refuses its first GET as
 * hiredis would: alice's /msg to bob on node b.
 */
#define FAULT_TIMEOUT	2	/* reply_timeout of both nodes */

START_TEST(test_request_never_queued_is_answered)
{
	/* Before: alice never answered; a dropped its link every second. */
	struct redis		*r;
	struct chatd		*a, *b;
	struct room		 rm;
	struct tc		*alice, *bob;
	struct links_wait	 steady;
	const char		*so = getenv("CHATD_FAULT_SO"), *asan;
	char			 who[MAXC][256], want[256], more[64];
	char			*saved, *opts;
	int			 n;

	if (so == NULL || *so == '\0' || access(so, R_OK) != 0) {
		harness_skip("test_request_never_queued_is_answered", "no "
		    "fault library (CHATD_FAULT_SO=%s): make check builds "
		    "tests/fault/hiredis_fault.so", so != NULL ? so : "");
		return;
	}
	snprintf(more, sizeof more, "reply_timeout = %d\n", FAULT_TIMEOUT);
	r = redis_start(0);
	room_init(&rm, r);
	b = node_up_ex(r, "b", 1, TTL, NULL, more);
	bob = room_join(&rm, b, "bob");
	/*
	 * The fault, for node a's process alone.  A chatd built with a
	 * dynamic ASan runtime (gcc's) refuses to start unless that runtime
	 * comes first in its library list, which a preload does not; the
	 * shim has no ASan in it, so a is told not to check.
	 */
	asan = getenv("ASAN_OPTIONS");
	saved = asan != NULL ? strdup(asan) : NULL;
	opts = harness_asprintf("%s%sverify_asan_link_order=0", asan != NULL ?
	    asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	ck_assert_int_eq(setenv("ASAN_OPTIONS", opts, 1), 0);
	ck_assert_int_eq(setenv("LD_PRELOAD", so, 1), 0);
	ck_assert_int_eq(setenv("CHATD_FAULT_GET_FAIL", "1", 1), 0);
	a = node_start(r->port, "a", TTL, NULL, more);
	unsetenv("LD_PRELOAD");
	unsetenv("CHATD_FAULT_GET_FAIL");
	if (saved != NULL)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
	free(opts);
	node_ready(r, a, "a", 2, NULL);

	/* By hand: room_join()'s /msg would be the GET refused. */
	alice = tc_connect(a);
	snprintf(want, sizeof want, "*** %s joined", alice->name);
	tc_expect_line(bob, want);
	snprintf(want, sizeof want, "*** %s is now known as alice",
	    alice->name);
	tc_send(alice, "/nick alice\n");
	tc_expect_line(alice, "*** you are now known as alice");
	tc_rename(alice, "alice");
	tc_expect_line(bob, want);

	/* Not queued: alice is told at once, the link dropped and renewed. */
	tc_send(alice, "/msg bob hi\n");
	chatd_wait_log(a, "hiredis_fault: GET number 1 refused");
	tc_expect_line(alice, "*** cannot reach the other nodes now: the room "
	    "is local-only, try again");
	tc_expect_line(alice, LOCAL_ONLY);
	node_linked(a, 2);
	tc_expect_line(alice, WHOLE);
	ck_assert_int_eq(chatd_log_count(a, "cluster: Redis command not "
	    "sent: "), 1);
	ck_assert_int_eq(chatd_log_count(a, "cluster: lost Redis (a command "
	    "could not be sent); the room is local-only until it returns"), 1);

	/* Then the same /msg goes through, and bob got nothing before it. */
	tc_send(alice, "/msg bob hi\n");
	tc_expect_line(alice, "*** message sent to bob");
	tc_expect_line(bob, "*alice* hi");
	tc_send(alice, "/who\n");
	n = read_who(alice, who, MAXC);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("bob", "b")), 1);

	/*
	 * Nothing of the request is left to time out: once every link to
	 * Redis has lived past reply_timeout (and a's once-a-second check
	 * has run since), a has lost Redis that once.
	 */
	steady.r = r;
	steady.secs = FAULT_TIMEOUT + 2;
	ck_assert_msg(harness_poll(links_older, &steady, W), "a link to Redis "
	    "was renewed within every %ld s for %d ms; node a's log:\n%s",
	    steady.secs, W, chatd_log(a));
	ck_assert_int_eq(chatd_log_count(a, "cluster: lost Redis"), 1);
	ck_assert_int_eq(chatd_log_count(a, "Redis has not answered"), 0);
	ck_assert_int_eq(chatd_log_count(a, LINKED), 2);
	ck_assert_int_eq(chatd_log_count(a, "hiredis_fault: "), 1);

	tc_close(alice);
	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 10. A node restarted under its name: the dead process's users go. ------ */

#define GHOST_TTL	5

/* Whether hash key has no field (for harness_poll()). */
struct field_wait {
	struct redis	*r;
	const char	*key;
	const char	*field;
};

static int
field_gone(void *arg)
{
	struct field_wait	*w = arg;
	char			*n;
	int			 gone;

	n = redis_cmd(w->r, "HEXISTS", w->key, w->field, NULL);
	gone = strcmp(n, "0") == 0;
	free(n);
	return gone;
}

START_TEST(test_node_restart)
{
	struct redis	*r;
	struct chatd	*a, *a2, *b;
	struct room	 rm;
	struct tc	*alice, *bob;
	struct field_wait ghost;
	char		 who[MAXC][256];
	int64_t		 killed;
	int		 n, st;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up_ex(r, "a", 1, GHOST_TTL, NULL, NULL);
	b = node_up_ex(r, "b", 2, GHOST_TTL, NULL, NULL);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	tc_send(bob, "/who\n");
	n = read_who(bob, who, MAXC);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("alice", "a")), 1);

	/* Node a crashes and is restarted at once, as systemd would. */
	chatd_kill(a, SIGKILL);
	st = chatd_wait(a, HARNESS_STOP_MS);
	ck_assert_int_eq(st, 128 + SIGKILL);
	killed = harness_now_ms();
	room_leave(&rm, alice);
	room_drop_node(&rm, a);
	a2 = node_up_ex(r, "a", 3, GHOST_TTL, NULL, NULL);
	if (harness_now_ms() - killed > GHOST_TTL * 1000)
		harness_skip("test_node_restart", "node a took %lld ms to "
		    "come back, over presence_ttl: nothing of the old one was "
		    "left to test", (long long)(harness_now_ms() - killed));
	room_join(&rm, a2, "carol");

	/*
	 * alice went with the old process: she leaves node a's /who hash
	 * (chatd:node:a, which the new process must not keep alive) within
	 * the TTL, and bob's /who then lists carol alone from node a.
	 */
	ghost.r = r;
	ghost.key = "chatd:node:a";
	ghost.field = "alice";
	ck_assert_msg(harness_poll(field_gone, &ghost, (int)(killed + 4 *
	    GHOST_TTL * 1000 - harness_now_ms())), "alice, on node a when "
	    "it was killed, is still in its /who hash %lld ms later "
	    "(presence_ttl = %d); node a was restarted and keeps her alive",
	    (long long)(harness_now_ms() - killed), GHOST_TTL);
	tc_send(bob, "/who\n");
	n = read_who(bob, who, MAXC);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("carol", "a")), 1);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("alice", "a")), 0);
	ck_assert_int_eq(n, 2);

	chatd_stop(a);
	room_close(&rm);
	chatd_stop_ok(a2);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * 10b. A node upgraded in place (SIGUSR2, handover.c): its users stay,
 * and the room does not notice: the other node's users see no departure
 * and no arrival, the names stay the node's own in Redis, and lines flow
 * both ways at once, none of the upgraded node's users' lost for being
 * said before it was linked again.
 */
START_TEST(test_node_upgrade)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *dave;
	char		 who[MAXC][256], *reply;
	int		 n;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");

	chatd_upgrade(a);
	tc_expect_line(alice, "*** server restarted");
	/* Sent at once: the new process reads it once linked. */
	tc_send(alice, "upgraded\n");
	tc_expect_line(bob, "<alice> upgraded");
	node_linked(a, 2);
	tc_send(bob, "welcome back\n");
	tc_expect_line(alice, "<bob> welcome back");

	/* alice's name (its key folded as name.c folds) is still a's. */
	reply = redis_cmd(r, "GET", "chatd:nick:allce", NULL);
	ck_assert_str_eq(reply, "a\talice");
	free(reply);
	dave = room_join(&rm, b, "dave");
	tc_send(dave, "/nick alice\n");
	tc_expect_line(dave, "*** name alice is taken");
	tc_send(bob, "/who\n");
	n = read_who(bob, who, MAXC);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("alice", "a")), 1);
	ck_assert_int_eq(n, 3);

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 11. [cluster] password; a node with a wrong one stays local. ----------- */

START_TEST(test_password)
{
	struct redis	*r;
	struct chatd	*a, *b, *w;
	struct room	 rm;
	struct tc	*alice, *bob, *w1, *w2;
	char		 want[256];

	r = redis_start_pw(0, "s3cret pass");
	room_init(&rm, r);
	w = node_start(r->port, "w", TTL, NULL, "password = wrong\n");
	chatd_wait_log(w, "cluster: Redis refused the password");
	w1 = connect_local_only(w);

	a = node_up_ex(r, "a", 1, TTL, NULL, "password = s3cret pass\n");
	b = node_up_ex(r, "b", 2, TTL, NULL, "password = s3cret pass\n");
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	tc_send(alice, "for members only\n");
	tc_expect_line(bob, "<alice> for members only");
	tc_send(bob, "indeed\n");
	tc_expect_line(alice, "<bob> indeed");

	/*
	 * Nothing reached w: w1's next line is w2's join.  (Repeats of the
	 * local-only notice are skipped here; test_start_redis_down is
	 * about them.)
	 */
	w2 = tc_connect(w);
	snprintf(want, sizeof want, "*** %s joined", w2->name);
	expect_past_notice(w1, want);
	ck_assert_int_eq(chatd_log_count(w, LINKED), 0);

	tc_close(w1);
	tc_close(w2);
	room_close(&rm);
	chatd_stop_ok(w);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 12. Two rooms (channels) on one Redis do not mix. ----------------------- */

START_TEST(test_channels)
{
	struct redis	*r;
	struct chatd	*a, *b, *c;
	struct room	 red, blue;
	struct tc	*alice, *carol, *bob, *dave;
	char		 who[MAXC][256];
	int		 n;

	r = redis_start(0);
	room_init(&red, r);
	red.channel = "red";
	room_init(&blue, r);
	blue.channel = "blue";
	a = node_up_ex(r, "a", 1, TTL, "red", "channel = red\n");
	b = node_up_ex(r, "b", 1, TTL, "blue", "channel = blue\n");
	c = node_up_ex(r, "c", 2, TTL, "red", "channel = red\n");
	alice = room_join(&red, a, "alice");
	bob = room_join(&blue, b, "bob");
	carol = room_join(&red, c, "carol");
	dave = room_join(&blue, b, "dave");

	tc_send(alice, "in red\n");
	tc_expect_line(carol, "<alice> in red");
	tc_send(bob, "in blue\n");
	tc_expect_line(dave, "<bob> in blue");
	tc_send(carol, "red again\n");
	tc_expect_line(alice, "<carol> red again");

	/* Names and /who are per room too. */
	tc_send(carol, "/nick bob\n");
	tc_expect_line(carol, "*** you are now known as bob");
	tc_expect_line(alice, "*** carol is now known as bob");
	tc_send(alice, "/who\n");
	n = read_who(alice, who, MAXC);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(count_matching(who, n, WHO_REMOTE("bob", "c")), 1);
	tc_send(alice, "/msg dave hi\n");
	tc_expect_line(alice, "*** no such user: dave");
	tc_send(dave, "/msg bob hi bob\n");
	tc_expect_line(dave, "*** message sent to bob");
	tc_expect_line(bob, "*dave* hi bob");
	/* The blue bob got nothing from red, and the red one nothing. */
	tc_send(alice, "end of red\n");
	tc_expect_line(carol, "<alice> end of red");
	tc_send(dave, "end of blue\n");
	tc_expect_line(bob, "<dave> end of blue");

	room_close(&red);
	room_close(&blue);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	chatd_stop_ok(c);
	redis_stop(r);
}
END_TEST

/*
 * 13. A channel name is a name, not a pattern: one with glob characters,
 * which would make /who's SCAN MATCH list other rooms, is refused by the
 * config (cluster-bad-channel.conf in test 17).
 */

/* 14. /msg across nodes names the addressee as it is now. ---------------- */

START_TEST(test_msg_after_case_change)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	carol = room_join(&rm, a, "carol");
	bob = room_join(&rm, b, "bob");

	tc_send(bob, "/nick Bob\n");
	tc_expect_line(bob, "*** you are now known as Bob");
	tc_rename(bob, "Bob");
	room_expect(&rm, bob, "*** bob is now known as Bob");
	/* As for a local addressee: "message sent to" its name now. */
	tc_send(carol, "/msg carol hi me\n");
	tc_expect_line(carol, "*** that is you");
	tc_send(carol, "/msg ALICE hi alice\n");
	tc_expect_line(carol, "*** message sent to alice");
	tc_expect_line(alice, "*carol* hi alice");
	tc_send(alice, "/msg bob hi\n");
	tc_expect_line(bob, "*alice* hi");
	tc_expect_line(alice, "*** message sent to Bob");

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 15. Raw mode: lines cross nodes verbatim (sanitised). ------------------ */

START_TEST(test_raw_mode)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct tc	*a1, *a2, *b1;

	r = redis_start(0);
	a = node_start(r->port, "a", TTL, "mode = raw\n", NULL);
	b = node_start(r->port, "b", TTL, "mode = raw\n", NULL);
	node_linked(a, 1);
	node_linked(b, 1);
	/* No welcome in raw mode: the log says when each is in. */
	a1 = tc_connect_raw(a, AF_INET);
	chatd_wait_log(a, "connected (1 online)");
	a2 = tc_connect_raw(a, AF_INET);
	chatd_wait_log(a, "connected (2 online)");
	b1 = tc_connect_raw(b, AF_INET);
	chatd_wait_log(b, "connected (1 online)");
	tc_rename(a1, "a1");
	tc_rename(a2, "a2");
	tc_rename(b1, "b1");

	tc_send(a1, "{\"raw\":1}\n");
	tc_expect_line(a2, "{\"raw\":1}");
	tc_expect_line(b1, "{\"raw\":1}");
	tc_send(b1, "from b \x1b[2Jclean\n");
	tc_expect_line(a1, "from b clean");
	tc_expect_line(a2, "from b clean");
	/* No echo: a1's next line is a2's. */
	tc_send(a2, "from a2\n");
	tc_expect_line(a1, "from a2");
	tc_expect_line(b1, "from a2");

	tc_close(a1);
	tc_close(a2);
	tc_close(b1);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 16. A reload keeps the room linked; [cluster], default_room wait. ------- */

START_TEST(test_reload)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob;
	char		 body[1024], *path;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");

	snprintf(body, sizeof body, "[server]\nbind = 127.0.0.1\nport = %d\n"
	    "name = reloaded\nlog_level = debug\n"
	    "[limits]\nrate_lines = 0\n[chat]\nhistory = 0\n"
	    "default_room = #main\n"
	    "[cluster]\nredis = 127.0.0.1:%d\nnode = a2\nchannel = other\n"
	    "presence_ttl = 30\n", a->port, r->port);
	path = harness_write_file(a->dir, "chatd.conf", body);
	free(path);
	chatd_kill(a, SIGHUP);
	ck_assert_msg(chatd_notified(a, "READY=1", W), "no READY=1 after "
	    "SIGHUP; log:\n%s", chatd_log(a));
	chatd_wait_log(a, "configuration reloaded");
	ck_assert_msg(chatd_log_count(a, "[cluster] changes take effect at the "
	    "next restart") == 1, "no notice of the kept [cluster]; log:\n%s",
	    chatd_log(a));
	/* The default room too: carol, below, lands where the others are. */
	ck_assert_msg(chatd_log_count(a, "default_room changes take effect at "
	    "the next restart") == 1, "no notice of the kept default_room; "
	    "log:\n%s", chatd_log(a));

	tc_send(alice, "after the reload\n");
	tc_expect_line(bob, "<alice> after the reload");
	tc_send(bob, "still linked\n");
	tc_expect_line(alice, "<bob> still linked");
	room_join(&rm, a, "carol");
	tc_send(bob, "/who\n");
	tc_expect_line(bob, "*** in the room:");
	tc_expect_line_re(bob, WHO_LOCAL("bob", " \\(you\\)"));
	tc_expect_re(bob, WHO_REMOTE("carol", "a"), W);
	tc_expect(bob, "*** 3 online in the room", W);

	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/* 17. [cluster] configs: chatd -t accepts good ones, refuses bad ones. -- */

#define NAME_RULE	"must be 1 to 63 letters, digits, '.', '_', '-' or ':'"

static const struct {
	const char	*file;
	int		 status;
	int		 line;	/* the line named in the error, or 0 */
	const char	*why;	/* the error, or NULL */
} cluster_configs[] = {
	{ "cluster-good.conf",		0,	0,	NULL },
	{ "cluster-bad-ttl.conf",	78,	8,
	    "presence_ttl: 2 is out of range (3 to 3600)" },
	{ "cluster-bad-node.conf",	78,	7,
	    "node: 'node a' " NAME_RULE },
	{ "cluster-bad-channel.conf",	78,	8,
	    "channel: 'room[1]' " NAME_RULE },
	{ "cluster-bad-redis.conf",	78,	6,
	    "redis: 'localhost' is not host:port or a socket path" },
	{ "cluster-no-redis.conf",	78,	0,
	    "[cluster] needs redis = host:port or a socket path" },
};

START_TEST(test_cluster_config)
{
	char	*path, *want, *argv[] = { "-t", "-c", NULL, NULL };

	path = harness_config_path(cluster_configs[_i].file);
	argv[2] = path;
	if (cluster_configs[_i].status == 0)
		want = harness_asprintf("chatd: configuration %s OK\n", path);
	else if (cluster_configs[_i].line != 0)
		want = harness_asprintf("chatd: %s:%d: %s\n", path,
		    cluster_configs[_i].line, cluster_configs[_i].why);
	else
		want = harness_asprintf("chatd: %s: %s\n", path,
		    cluster_configs[_i].why);
	chatd_run_expect(argv, cluster_configs[_i].status, want);
	free(want);
	free(path);
}
END_TEST

/* 18. A ban made on one node's control socket holds on every node. ------ */

/*
 * A node's control socket and state database, in a directory of its own,
 * and the [control] section that puts them there (for node_start()'s
 * cluster_more, which ends the config).
 */
struct ctlnode {
	char	*dir;
	char	*sock;
	char	*more;
};

static void
ctlnode_init(struct ctlnode *n, const char *tag)
{
	n->dir = harness_mkdtemp(tag);
	n->sock = harness_asprintf("%s/control.sock", n->dir);
	n->more = harness_asprintf("[control]\nsocket = %s\nstate = "
	    "%s/chatd.db\n", n->sock, n->dir);
}

static void
ctlnode_free(struct ctlnode *n)
{
	harness_rmtree(n->dir);
	free(n->dir);
	free(n->sock);
	free(n->more);
}

/*
 * One request on the control socket at sock, spoken raw as chatctl(8)
 * speaks it; the answer, up to and with its status line ("ok" or
 * "error ..."), which must be ok.  free() it.
 */
static char *
ctl_ok(const char *sock, const char *req)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	int64_t			 deadline = harness_now_ms() + W;
	char			*buf, *last, *line;
	size_t			 len = 0, size = 65536;
	ssize_t			 n;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) ==
	    -1)
		ck_abort_msg("connect to %s: %s", sock, strerror(errno));
	line = harness_asprintf("%s\n", req);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		ck_abort_msg("write to %s: %s", sock, strerror(errno));
	free(line);
	if ((buf = calloc(1, size)) == NULL)
		ck_abort_msg("out of memory");
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		/* The last whole line: a status line ends the answer. */
		if (len >= 2 && strcmp(buf + len - 2, "\r\n") == 0) {
			buf[len - 2] = '\0';
			last = (last = strrchr(buf, '\n')) != NULL ? last + 1 :
			    buf;
			buf[len - 2] = '\r';
			if (strncmp(last, "ok\r", 3) == 0 ||
			    strncmp(last, "error ", 6) == 0)
				break;
		}
		if (poll(&pfd, 1, harness_left_ms(deadline)) != 1)
			ck_abort_msg("control %s: '%s': no answer within %d ms; "
			    "got:\n%s", sock, req, W, buf);
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || len + (size_t)n >= size - 1)
			ck_abort_msg("control %s: '%s': %s; got:\n%s", sock,
			    req, n == 0 ? "end of file" : n < 0 ?
			    strerror(errno) : "answer too long", buf);
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fd);
	ck_assert_msg(strncmp(last, "ok\r", 3) == 0, "control %s: '%s': not "
	    "ok:\n%s", sock, req, buf);
	return buf;
}

/*
 * Whether this host can bind the local address src (another loopback
 * address); if not, the skip is reported for test.
 */
static int
have_addr(const char *src, const char *test)
{
	struct sockaddr_in	sin;
	int			fd, ok;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd != -1, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	if (!ok)
		harness_skip(test, "cannot bind %s (%s): a client from another "
		    "address is what the test needs", src, strerror(errno));
	close(fd);
	return ok;
}

/*
 * A connection from the local address src (have_addr()) to d on
 * 127.0.0.1, nothing read.
 */
static struct tc *
connect_from_raw(struct chatd *d, const char *src)
{
	struct tc	*c;

	ck_assert_msg((c = tc_dial(d->port, src)) != NULL, "bind %s: %s",
	    src, strerror(errno));
	return c;
}

/* As connect_from_raw(), then the welcome line, which must come first. */
static struct tc *
connect_from(struct chatd *d, const char *src)
{
	struct tc	*c;

	c = connect_from_raw(d, src);
	tc_welcome(c);
	return c;
}

/* A newcomer from src is refused by a ban for reason. */
static void
expect_banned_from(struct chatd *d, const char *src, const char *reason)
{
	struct tc	*c;
	char		 want[256];

	c = connect_from_raw(d, src);
	snprintf(want, sizeof want, "*** you are banned from this server: %s",
	    reason);
	tc_expect_line(c, want);
	tc_expect_eof(c);
	tc_close(c);
}

/* Accounts in Redis, for every node. */
#define ACCOUNTS_MORE	"\n[accounts]\nallow_plaintext_passwords = yes\n" \
	"hash_cost = 1\noperators = opal\n"

/*
 * An account registered on a logs in on b; the session it had on a is
 * logged out and becomes a guest there; a name registered on one node is
 * refused to /nick on the other; opal, an operator, kicks from b a user
 * of a.  Each reply is a line the node sends, each remote effect a line
 * the other node sends or logs.
 */
START_TEST(test_accounts_across_nodes)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *opal, *mallory, *g;
	char		*value;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up_ex(r, "a", 1, TTL, NULL, ACCOUNTS_MORE);
	b = node_up_ex(r, "b", 2, TTL, NULL, ACCOUNTS_MORE);
	alice = room_join(&rm, a, "alice");
	opal = room_join(&rm, b, "opal");
	mallory = room_join(&rm, a, "mallory");
	tc_send(alice, "/register hunter2222\n");
	tc_expect(alice, "*** alice is registered to you", W);
	tc_expect_line(alice, "*** you are logged in as alice");
	tc_send(opal, "/register opalpass1\n");
	tc_expect(opal, "*** opal is registered to you", W);
	tc_expect_line(opal, "*** you are logged in as opal");
	/* Redis holds the record, hash and all. */
	value = redis_cmd(r, "GET", "chatd:account:allce", NULL);
	ck_assert_msg(strncmp(value, "chatd-account1\talice\t", 21) == 0 &&
	    strstr(value, "\t$y$") != NULL, "account record: %s", value);
	free(value);

	/* b's newcomer cannot take the name, nor a look-alike. */
	g = tc_connect(b);
	tc_send(g, "/nick alice\n");
	tc_expect(g, "*** alice is registered: /login alice PASSWORD to use "
	    "it", W);
	tc_send(g, "/nick ALICE\n");
	tc_expect(g, "*** ALICE is registered: /login ALICE PASSWORD to use it",
	    W);

	/* The login on b takes the name from a's session. */
	tc_send(g, "/login alice hunter2222\n");
	tc_expect(g, "*** you are logged in as alice", W);
	tc_expect(g, "*** you are now known as alice", W);
	/* a's users see the rename of b's newcomer. */
	tc_expect_re(mallory, "^\\*\\*\\* guest[0-9]+ is now known as alice$",
	    W);
	tc_expect_re(alice, "^\\*\\*\\* alice logged in again on another "
	    "node, so you are logged out; you are now guest[0-9]+$", W);
	chatd_wait_log(b, "logged in as alice");

	/* An owner, logged in, may go back to the name. */
	tc_send(opal, "/nick opal2\n");
	tc_expect(opal, "*** you are now known as opal2", W);
	tc_send(opal, "/nick opal\n");
	tc_expect(opal, "*** you are now known as opal", W);

	/* opal kicks mallory, who is on a. */
	tc_send(opal, "/kick mallory spamming\n");
	tc_expect(opal, "*** mallory is not on this node: asked the other "
	    "nodes to kick them", W);
	tc_expect(mallory, "*** you have been kicked: spamming", W);
	tc_expect_eof(mallory);
	chatd_wait_log(a, "operator opal (on node b): kicked mallory");
	chatd_wait_log(b, "operator opal: asked the other nodes to kick "
	    "mallory: spamming");

	tc_close(g);
	room_close(&rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(r);
}
END_TEST

/*
 * A ban made on node a through its control socket refuses a client on
 * node b, and removes the one b already has from that address; b keeps it
 * in its own list, Redis in the room's; unban on a lets the address in on
 * b again.  b says when a ban from another node reaches it, and that log
 * line is what the test waits on: how fast it comes is propagation, one
 * PUBLISH, not something a test under valgrind can time.
 */
START_TEST(test_ban_across_nodes)
{
	struct ctlnode	 ca, cb;
	struct redis	*r;
	struct chatd	*a, *b;
	struct tc	*victim, *watcher, *other;
	char		*ans, *v, want[256];

	if (!have_addr("127.0.0.2", "test_ban_across_nodes"))
		return;
	r = redis_start(0);
	ctlnode_init(&ca, "ctl-a");
	ctlnode_init(&cb, "ctl-b");
	a = node_up_ex(r, "a", 1, TTL, NULL, ca.more);
	b = node_up_ex(r, "b", 2, TTL, NULL, cb.more);
	victim = connect_from(b, "127.0.0.2");
	watcher = tc_connect(b);
	snprintf(want, sizeof want, "*** %s joined", watcher->name);
	tc_expect_line(victim, want);

	ans = ctl_ok(ca.sock, "ban 127.0.0.2 1h flooding");
	ck_assert_msg(harness_match(ans, "^\\| banned 127\\.0\\.0\\.2 until "
	    "[0-9TZ:-]+, 0 clients removed\r$"), "answer:\n%s", ans);
	free(ans);
	chatd_wait_log(b, "ban 127.0.0.2 from another node: flooding (1 "
	    "client removed)");
	tc_expect_line(victim, "*** you have been banned: flooding");
	tc_expect_eof(victim);
	snprintf(want, sizeof want, "*** %s left (banned: flooding)",
	    victim->name);
	tc_expect_line(watcher, want);
	tc_close(victim);
	expect_banned_from(b, "127.0.0.2", "flooding");
	/* 127.0.0.1 is not banned. */
	other = tc_connect(b);
	snprintf(want, sizeof want, "*** %s joined", other->name);
	tc_expect_line(watcher, want);

	/* b holds the ban as its own; Redis holds it for the room. */
	ans = ctl_ok(cb.sock, "bans");
	ck_assert_msg(harness_match(ans, "^\\| 127\\.0\\.0\\.2 +[0-9TZ:-]+ "
	    "[0-9TZ:-]+ flooding\r$"), "b's bans:\n%s", ans);
	free(ans);
	v = redis_cmd(r, "HGET", "chatd:bans", "127.0.0.2", NULL);
	ck_assert_msg(harness_match(v, "^[0-9]+\t[0-9]+\tflooding$"),
	    "chatd:bans 127.0.0.2: '%s'", v);
	free(v);

	/* Lifted on a: lifted on b, and remembered in Redis. */
	ans = ctl_ok(ca.sock, "unban 127.0.0.2");
	ck_assert_str_eq(ans, "| unbanned 127.0.0.2\r\nok\r\n");
	free(ans);
	chatd_wait_log(b, "unban 127.0.0.2 from another node");
	victim = connect_from(b, "127.0.0.2");
	tc_close(victim);
	v = redis_cmd(r, "HGET", "chatd:bans", "127.0.0.2", NULL);
	ck_assert_str_eq(v, "(nil)");
	free(v);
	v = redis_cmd(r, "HGET", "chatd:unbans", "127.0.0.2", NULL);
	ck_assert_msg(harness_match(v, "^[0-9]+$"), "chatd:unbans 127.0.0.2: "
	    "'%s'", v);
	free(v);
	ans = ctl_ok(cb.sock, "json bans");
	ck_assert_str_eq(ans, "| {\"bans\":[]}\r\nok\r\n");
	free(ans);
	tc_close(other);
	tc_close(watcher);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	ctlnode_free(&ca);
	ctlnode_free(&cb);
	redis_stop(r);
}
END_TEST

/*
 * A node started while a ban is in Redis, but not in its own database,
 * takes it on link (its log says so) and refuses the address; it has
 * saved it, too: started again with no Redis to link to, it still does.
 */
START_TEST(test_ban_taken_on_link)
{
	struct ctlnode	 ca, cb;
	struct redis	*r;
	struct chatd	*a, *b;

	if (!have_addr("127.0.0.2", "test_ban_taken_on_link"))
		return;
	r = redis_start(0);
	ctlnode_init(&ca, "ctl-a");
	ctlnode_init(&cb, "ctl-b");
	a = node_up_ex(r, "a", 1, TTL, NULL, ca.more);
	free(ctl_ok(ca.sock, "ban 127.0.0.2 1h early bird"));

	b = node_start(r->port, "b", TTL, NULL, cb.more);
	chatd_wait_log(b, "0 bans in force");
	node_ready(r, b, "b", 2, NULL);
	chatd_wait_log(b, "ban 127.0.0.2 from another node: early bird (0 "
	    "clients removed)");
	expect_banned_from(b, "127.0.0.2", "early bird");

	/* From its own database now: Redis is nowhere to be found. */
	chatd_stop_ok(b);
	b = node_start(harness_free_port(), "b", TTL, NULL, cb.more);
	chatd_wait_log(b, "1 ban in force");
	expect_banned_from(b, "127.0.0.2", "early bird");
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	ctlnode_free(&ca);
	ctlnode_free(&cb);
	redis_stop(r);
}
END_TEST

/* For harness_poll(): the room's bans in Redis hold 127.0.0.2. */
static int
ban_in_redis(void *arg)
{
	char	*v;
	int	 in;

	v = redis_cmd(arg, "HGET", "chatd:bans", "127.0.0.2", NULL);
	in = strcmp(v, "(nil)") != 0;
	free(v);
	return in;
}

/*
 * A ban made while Redis is down holds on its node at once, and is saved
 * in Redis for the room once Redis is back (the node pushes what Redis
 * lacks on link).
 */
START_TEST(test_ban_pushed_on_link)
{
	struct ctlnode	 ca;
	struct redis	*r;
	struct chatd	*a;
	struct tc	*probe;
	long long	 expires, created;
	char		*ans, *v, reason[64];

	if (!have_addr("127.0.0.2", "test_ban_pushed_on_link"))
		return;
	r = redis_start(0);
	ctlnode_init(&ca, "ctl-a");
	a = node_up_ex(r, "a", 1, TTL, NULL, ca.more);
	/* Let in before the ban. */
	probe = connect_from(a, "127.0.0.2");
	tc_close(probe);

	redis_kill(r, SIGKILL);
	chatd_wait_log(a, "cluster: lost Redis");
	ans = ctl_ok(ca.sock, "ban 127.0.0.2 2h while away");
	ck_assert_msg(harness_match(ans, "^\\| banned 127\\.0\\.0\\.2 until "
	    "[0-9TZ:-]+, 0 clients removed\r$"), "answer:\n%s", ans);
	free(ans);
	expect_banned_from(a, "127.0.0.2", "while away");

	/* Redis is back, empty: a links again and saves its ban there. */
	redis_restart(r);
	node_linked(a, 2);
	ck_assert_msg(harness_poll(ban_in_redis, r, W), "the ban made while "
	    "Redis was down is not in chatd:bans %d ms after a linked again",
	    W);
	v = redis_cmd(r, "HGET", "chatd:bans", "127.0.0.2", NULL);
	ck_assert_msg(sscanf(v, "%lld\t%lld\t%63[^\n]", &expires, &created,
	    reason) == 3, "chatd:bans 127.0.0.2: '%s'", v);
	ck_assert_int_eq(expires - created, 2 * 3600);
	ck_assert_str_eq(reason, "while away");
	free(v);
	chatd_stop_ok(a);
	ctlnode_free(&ca);
	redis_stop(r);
}
END_TEST

/* Rooms across the nodes ------------------------------------------------- */

static int
room_index(struct room *rm, struct tc *c)
{
	int	i;

	for (i = 0; i < rm->n; i++) {
		if (rm->c[i] == c)
			return i;
	}
	ck_abort_msg("%s is not a client of the test", c->name);
	return -1;
}

/* Every client of rm in chat room `in` but except gets exactly want next. */
static void
rooms_expect(struct room *rm, const char *in, struct tc *except,
    const char *want)
{
	int	i;

	for (i = 0; i < rm->n; i++) {
		if (rm->c[i] != except && strcasecmp(rm->in[i], in) == 0)
			tc_expect_line(rm->c[i], want);
	}
}

/*
 * c types "/join ROOM" (room as chatd shows it), and then how unless it
 * is NULL ("secret"): its old room hears, on every node, that it left for
 * room, c is told where it is, and room hears, on every node, that it
 * joined.  Whatever c gets after "*** you
 * are now in ROOM" is the caller's.  If c is the first of its node in
 * room, this waits until the node hears room's channel (it logs so at
 * debug level): only then does what room says elsewhere reach c.
 */
static void
rooms_move(struct room *rm, struct tc *c, const char *room, const char *how)
{
	char		 want[256], needle[128], key[ROOM_MAX];
	struct chatd	*d;
	int		 i, k = room_index(rm, c), first = 1, heard = 0;
	size_t		 j;

	d = rm->at[k];
	for (j = 0; room[j] != '\0' && j < sizeof key - 1; j++)
		key[j] = (char)tolower((unsigned char)room[j]);
	key[j] = '\0';
	snprintf(needle, sizeof needle, "cluster: subscribed to %s:%s",
	    rm->channel, key);
	for (i = 0; i < rm->n; i++)
		first &= rm->at[i] != d || strcasecmp(rm->in[i], room) != 0;
	if (first)
		heard = chatd_log_count(d, needle);

	tc_send(c, "/join %s%s%s\n", room, how != NULL ? " " : "",
	    how != NULL ? how : "");
	snprintf(want, sizeof want, "*** %s left for %s", c->name, room);
	rooms_expect(rm, rm->in[k], c, want);
	snprintf(want, sizeof want, "*** you are now in %s", room);
	tc_expect_line(c, want);
	snprintf(want, sizeof want, "*** %s joined", c->name);
	rooms_expect(rm, room, c, want);
	snprintf(rm->in[k], sizeof rm->in[k], "%s", room);
	if (first && strcasecmp(room, LOBBY) != 0)
		chatd_wait_log_n(d, needle, heard + 1);
}

/* c says text: everyone else in its room, on every node, gets it next. */
static void
rooms_say(struct room *rm, struct tc *c, const char *text)
{
	char	want[256];

	tc_send(c, "%s\n", text);
	snprintf(want, sizeof want, "<%s> %s", c->name, text);
	rooms_expect(rm, rm->in[room_index(rm, c)], c, want);
}

/*
 * What every node sent to Redis has been handled by every node (a
 * GET through each node's link, then the barrier), and every client's
 * next line is the answer to a command it sends now: nothing it was not
 * told of is waiting for it.
 */
static void
rooms_fence(struct room *rm)
{
	int	i, j;

	for (j = 0; j < rm->nnodes; j++) {
		for (i = 0; i < rm->n && rm->at[i] != rm->node[j]; i++)
			;
		if (i == rm->n)
			continue;
		tc_send(rm->c[i], "/msg nobody.sync x\n");
		tc_expect_line(rm->c[i], "*** no such user: nobody.sync");
	}
	room_sync(rm);
	for (i = 0; i < rm->n; i++) {
		tc_send(rm->c[i], "/fence\n");
		tc_expect_line(rm->c[i], "*** unknown command /fence (try "
		    "/help)");
	}
}

/*
 * The fence, then the end of a test of two nodes a and b: the clients
 * closed, the nodes stopped (they must exit 0), Redis stopped.
 */
static void
rooms_end(struct room *rm, struct chatd *a, struct chatd *b)
{
	rooms_fence(rm);
	room_close(rm);
	chatd_stop_ok(a);
	chatd_stop_ok(b);
	redis_stop(rm->r);
}

/*
 * Sends cmd on c and checks the answer: the lines from first to the one
 * before last are want[] (extended regular expressions, NULL-ended, in
 * order), and the last is last.  ROOMS_ANSWER() takes want as arguments.
 */
#define ROOMS_ANSWER(c, cmd, first, last, ...) \
	rooms_answer(c, cmd, first, last, \
	    (const char *const []){ __VA_ARGS__, NULL })
static void
rooms_answer(struct tc *c, const char *cmd, const char *first,
    const char *last, const char *const want[])
{
	int	i;

	tc_send(c, "%s\n", cmd);
	tc_expect_line(c, first);
	for (i = 0; want[i] != NULL; i++)
		tc_expect_line_re(c, want[i]);
	tc_expect_line(c, last);
}

/* A /rooms entry: the room, its count on every node and what follows. */
#define ROOMS_RE(room, n, rest) \
	"^\\*\\*\\*   " room " +" #n " here" rest "$"
/* /rooms on c lists n rooms: the ROOMS_RE() arguments, in order. */
#define ROOMS_LIST(c, n, ...) \
	ROOMS_ANSWER(c, "/rooms", "*** rooms, on every node:", \
	    "*** " #n " rooms", __VA_ARGS__)

/*
 * Three rooms of three clients, each room's clients on both nodes, and
 * one client of each node left in the default room: a line said in a
 * room on one node reaches that room's clients on both nodes, and nobody
 * else on either.  Each line is read by all it is for before the next is
 * sent; then markers, and the fence, show that none went elsewhere.
 */
START_TEST(test_rooms_lines_stay_in_their_room)
{
	static const char *const	 rooms[] = { "#red", "#green",
	    "#blue" };
	/* Where each room's three clients are: a, b, a; b, a, b; a, b, b. */
	static const int		 onb[9] = { 0, 1, 0, 1, 0, 1, 0, 1, 1 };
	struct redis			*r;
	struct chatd			*a, *b;
	struct room			 rm;
	struct tc			*c[9], *la, *lb;
	char				 nick[16], text[128];
	int				 i, k, n;

	room_two_nodes(&rm, &r, &a, &b);
	for (i = 0; i < 9; i++) {
		snprintf(nick, sizeof nick, "%.1s%d", rooms[i / 3] + 1,
		    i % 3 + 1);
		c[i] = room_join(&rm, onb[i] ? b : a, nick);
	}
	la = room_join(&rm, a, "la");
	lb = room_join(&rm, b, "lb");
	for (i = 0; i < 9; i++)
		rooms_move(&rm, c[i], rooms[i / 3], NULL);

	/* Interleaved across the rooms and the nodes. */
	for (k = 0; k < 3; k++) {
		for (n = 0; n < 3; n++) {
			snprintf(text, sizeof text, "line %d of %s", k + 1,
			    c[n * 3 + k]->name);
			rooms_say(&rm, c[n * 3 + k], text);
		}
	}
	rooms_say(&rm, la, "default room, node a");
	rooms_say(&rm, lb, "default room, node b");
	for (n = 0; n < 3; n++) {
		rooms_say(&rm, c[n * 3], "marker one");
		rooms_say(&rm, c[n * 3 + 1], "marker two");
	}
	rooms_end(&rm, a, b);
}
END_TEST

/*
 * /rooms on either node counts the members on both, and shows a room one
 * node has no member in; /who lists a room's members on both nodes,
 * /who * everyone with the room each is in; a secret room is listed on
 * neither node to those not in it.
 */
START_TEST(test_rooms_counted_on_every_node)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave, *eve, *frank;

	room_two_nodes(&rm, &r, &a, &b);
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, a, "carol");
	dave = room_join(&rm, b, "dave");
	eve = room_join(&rm, b, "eve");
	frank = room_join(&rm, a, "frank");
	rooms_move(&rm, alice, "#dev", NULL);
	rooms_move(&rm, bob, "#dev", NULL);
	rooms_move(&rm, carol, "#ops", NULL);
	rooms_move(&rm, eve, "#hide", "secret");
	tc_send(carol, "/topic night shift\n");
	tc_expect_line(carol, "*** carol set the topic of #ops: night shift");
	/* Both nodes' lists in Redis are up to date once this is done. */
	rooms_fence(&rm);

	ROOMS_LIST(alice, 3,
	    ROOMS_RE("#lobby", 2, ""),
	    ROOMS_RE("#dev", 2, " \\(you\\)"),
	    ROOMS_RE("#ops", 1, ", topic: night shift"));
	/* #ops is only node a's: its topic comes from Redis. */
	ROOMS_LIST(dave, 3,
	    ROOMS_RE("#lobby", 2, " \\(you\\)"),
	    ROOMS_RE("#dev", 2, ""),
	    ROOMS_RE("#ops", 1, ", topic: night shift"));
	ROOMS_LIST(eve, 4,
	    ROOMS_RE("#lobby", 2, ""),
	    ROOMS_RE("#dev", 2, ""),
	    ROOMS_RE("#hide", 1, " \\(you\\)"),
	    ROOMS_RE("#ops", 1, ", topic: night shift"));
	ROOMS_ANSWER(bob, "/who", "*** in the room #dev:", "*** 2 in #dev",
	    WHO_LOCAL("bob", " \\(you\\)"),
	    WHO_REMOTE("alice", "a"));
	ROOMS_ANSWER(dave, "/who *", "*** in every room:",
	    "*** 6 online in every room",
	    "^\\*\\*\\*   bob dave eve$",
	    "^\\*\\*\\*   (alice \\(#dev|carol \\(#ops|frank \\(#lobby), "
	    "node a\\)$",
	    "^\\*\\*\\*   (alice \\(#dev|carol \\(#ops|frank \\(#lobby), "
	    "node a\\)$",
	    "^\\*\\*\\*   (alice \\(#dev|carol \\(#ops|frank \\(#lobby), "
	    "node a\\)$");

	/* Joined by name on the other node: listed there to its members. */
	rooms_move(&rm, frank, "#hide", NULL);
	rooms_fence(&rm);
	ROOMS_LIST(frank, 4,
	    ROOMS_RE("#lobby", 1, ""),
	    ROOMS_RE("#dev", 2, ""),
	    ROOMS_RE("#ops", 1, ", topic: night shift"),
	    ROOMS_RE("#hide", 2, " \\(you\\)"));
	ROOMS_LIST(alice, 3,
	    ROOMS_RE("#lobby", 1, ""),
	    ROOMS_RE("#dev", 2, " \\(you\\)"),
	    ROOMS_RE("#ops", 1, ", topic: night shift"));
	rooms_end(&rm, a, b);
}
END_TEST

/*
 * setter, alone in its room, sets the room's topic to text; once every
 * node has handled that, c comes to the room, on whichever node, and is
 * told the topic right after where it is.
 */
static void
rooms_topic_then_join(struct room *rm, struct tc *setter, const char *text,
    struct tc *c)
{
	char	room[ROOM_MAX], want[256];

	snprintf(room, sizeof room, "%s", rm->in[room_index(rm, setter)]);
	tc_send(setter, "/topic %s\n", text);
	snprintf(want, sizeof want, "*** %s set the topic of %s: %s",
	    setter->name, room, text);
	tc_expect_line(setter, want);
	rooms_fence(rm);
	rooms_move(rm, c, room, NULL);
	snprintf(want, sizeof want, "*** topic of %s: %s", room, text);
	tc_expect_line(c, want);
}

/*
 * Topics are shared: one set on a node reaches the room's clients on
 * the other; a client joining a room on a node that had nobody in it
 * gets the room's topic from Redis; a configured room that a node has
 * had nobody in for a while shows the topic set meanwhile elsewhere, not
 * the one it knew; clearing reaches both nodes.
 */
START_TEST(test_rooms_topics_shared)
{
	struct redis	*r;
	struct chatd	*a, *b;
	struct room	 rm;
	struct tc	*alice, *bob, *carol, *dave;

	r = redis_start(0);
	room_init(&rm, r);
	a = node_up_ex(r, "a", 1, TTL, NULL, "[chat]\nrooms = #help\n");
	b = node_up_ex(r, "b", 2, TTL, NULL, "[chat]\nrooms = #help\n");
	alice = room_join(&rm, a, "alice");
	bob = room_join(&rm, b, "bob");
	carol = room_join(&rm, b, "carol");
	dave = room_join(&rm, a, "dave");

	rooms_move(&rm, alice, "#dev", NULL);
	rooms_move(&rm, bob, "#dev", NULL);
	tc_send(alice, "/topic ship it\n");
	rooms_expect(&rm, "#dev", NULL, "*** alice set the topic of #dev: "
	    "ship it");
	rooms_move(&rm, carol, "#dev", NULL);
	tc_expect_line(carol, "*** topic of #dev: ship it");

	/* #ops is new to node b when carol comes: Redis has its topic. */
	rooms_move(&rm, dave, "#ops", NULL);
	rooms_topic_then_join(&rm, dave, "ops only", carol);

	/* #help, configured on both: b knew v1, v2 was set while away. */
	rooms_move(&rm, alice, "#help", NULL);
	rooms_topic_then_join(&rm, alice, "v1", bob);
	rooms_move(&rm, bob, LOBBY, NULL);
	rooms_topic_then_join(&rm, alice, "v2", bob);
	tc_send(bob, "/topic\n");
	tc_expect_line(bob, "*** topic of #help: v2");
	tc_send(alice, "/topic -\n");
	rooms_expect(&rm, "#help", NULL, "*** alice cleared the topic of "
	    "#help");
	tc_send(bob, "/topic\n");
	tc_expect_line(bob, "*** #help has no topic");
	rooms_end(&rm, a, b);
}
END_TEST

/* main ------------------------------------------------------------------ */

static Suite *
e2e_cluster_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_cluster");

	tc = tcase_create("chat");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_chat_both_ways);
	tcase_add_test(tc, test_formats);
	tcase_add_test(tc, test_msg_across);
	tcase_add_test(tc, test_msg_long_name_not_truncated_across_nodes);
	tcase_add_test(tc, test_msg_after_case_change);
	suite_add_tcase(s, tc);

	tc = tcase_create("presence");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_who_nick_kill);
	tcase_add_test(tc, test_names_unique_after_flushall);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_redis_outage);
	tcase_add_test(tc, test_name_clash_after_outage);
	tcase_add_test(tc, test_start_redis_down);
	tcase_add_test(tc, test_local_only_told_once);
	tcase_add_test(tc, test_requests_in_flight);
	tcase_add_test(tc, test_reply_timeout);
	tcase_add_test(tc, test_request_never_queued_is_answered);
	tcase_add_test(tc, test_node_restart);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_node_upgrade);
	tcase_add_test(tc, test_password);
	tcase_add_test(tc, test_channels);
	tcase_add_test(tc, test_raw_mode);
	tcase_add_test(tc, test_reload);
	tcase_add_loop_test(tc, test_cluster_config, 0,
	    sizeof cluster_configs / sizeof cluster_configs[0]);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_malformed_log_safe);
	tcase_add_test(tc, test_msg_shows_no_raw_bytes_from_redis);
	tcase_add_test(tc, test_forged_local_speaker_refused);
	tcase_add_test(tc, test_room_joinable_after_long_remote_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("rooms");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_rooms_lines_stay_in_their_room);
	tcase_add_test(tc, test_rooms_counted_on_every_node);
	tcase_add_test(tc, test_rooms_topics_shared);
	suite_add_tcase(s, tc);

	tc = tcase_create("bans");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_ban_across_nodes);
	tcase_add_test(tc, test_accounts_across_nodes);
	tcase_add_test(tc, test_ban_taken_on_link);
	tcase_add_test(tc, test_ban_pushed_on_link);
	suite_add_tcase(s, tc);

	return s;
}

#endif /* HAVE_HIREDIS */

int
main(void)
{
#ifdef HAVE_HIREDIS
	char	*why;

	redis_bin = getenv("REDIS_SERVER");
	if (redis_bin == NULL || *redis_bin == '\0')
		redis_bin = "/usr/bin/redis-server";
	if (access(redis_bin, X_OK) != 0) {
		if (asprintf(&why, "%s not found (install redis-server, or set "
		    "REDIS_SERVER): the cluster tests need a real Redis",
		    redis_bin) == -1)
			return 99;
		return harness_skip_suite("e2e_cluster", why);
	}
	harness_trace_children();
	return harness_run_suite(e2e_cluster_suite());
#else
	return harness_skip_suite("e2e_cluster", "configure found no hiredis: "
	    "chatd has no [cluster], and these tests no Redis client");
#endif
}
