/*
 * chatd.h: the private header of chatd, in the manner of tmux.h: the
 * structures every file shares, then prototypes under one banner per file.
 */

#ifndef CHATD_H
#define CHATD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>	/* struct client embeds one */

#include "future.h"

struct account;
struct accounts;
struct acctdb_redis;
struct bufferevent;
struct chat;
struct chat_room;
struct command;
struct client;
struct cluster;
struct event;
struct metrics;
struct event_base;
struct evbuffer;
struct handover;
struct evconnlistener;
struct iovec;
struct ssl_ctx_st;
struct state;
struct state_bytes;
struct state_client;
struct state_room;
struct store;
struct wire_msg;
struct workers;

#define CHATD_NAME		"chatd"
#define EX_CHATD_USAGE		64	/* EX_USAGE */
#define EX_CHATD_CONFIG		78	/* EX_CONFIG */

#define NAME_LEN		24	/* a name's longest, without the NUL */
#define NETADDR_MAX		46	/* INET6_ADDRSTRLEN */

/* One listening address from the config, parsed. */
struct config_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 text[NETADDR_MAX];
};

/* The whole configuration; built and validated before it is used. */
struct config {
	char			*path;		/* file read, NULL: built-in */

	/* [server] */
	struct config_addr	*addrs;
	size_t			 naddrs;
	uint16_t		 port;
	char			*name;
	int			 mode;
#define MODE_CHAT	0
#define MODE_RAW	1
	char			*user;
	char			*group;
	int			 log_level;
	int			 proxy_protocol;	/* plain listeners */
	struct addr_prefix	*proxies;	/* trusted_proxies */
	size_t			 nproxies;
	unsigned		 proxy_timeout;	/* seconds for the header */

	/* [tls] */
	struct config_addr	*tls_addrs;	/* NULL: [server] bind */
	size_t			 tls_naddrs;
	uint16_t		 tls_port;
	char			*tls_cert;	/* NULL: no TLS */
	char			*tls_key;
	char			*tls_ca;
	int			 tls_min_version;	/* TLS1_2_VERSION... */
	unsigned		 tls_timeout;	/* handshake, seconds */

	/* [limits] */
	unsigned		 max_clients;
	unsigned		 max_per_address;
	unsigned		 ipv6_prefix;	/* per-address counting */
	size_t			 max_line;
	size_t			 output_hard;
	size_t			 output_soft;
	unsigned		 output_soft_seconds;
	unsigned		 rate_lines;
	unsigned		 rate_burst;
	unsigned		 idle_timeout;
	unsigned		 keepalive;
	unsigned		 shutdown_grace;
	unsigned		 handover_drain_ms;	/* for queued output */
	unsigned		 handover_timeout;	/* for the successor */

	/* [chat] */
	int			 announce;
	int			 show_addresses;
	char			*motd;
	char			*motd_file;
	unsigned		 history;
	size_t			 history_bytes;
	unsigned		 who_max;
	char			*default_room;	/* #lobby */
	char			**rooms;	/* always there, NULL-ended */
	unsigned		 max_rooms;
	int			 announce_moves;	/* "left for #x" */

	/* [cluster] */
	char			*cluster_redis;	/* as written */
	char			*cluster_host;	/* host:port, or */
	uint16_t		 cluster_port;
	char			*cluster_path;	/* a unix socket */
	char			*cluster_password;
	char			*cluster_channel;
	char			*cluster_node;
	unsigned		 cluster_ttl;	/* presence_ttl, seconds */
	unsigned		 cluster_timeout; /* reply_timeout, seconds */

	/* [control] */
	char			*control_socket; /* NULL: none */
	char			*control_group;
	char			*state;		/* the database; NULL: none */
	int			 control_set;	/* socket, state: set, not */
	int			 state_set;	/* just the defaults */
	size_t			 control_output;
	unsigned		 control_idle;	/* idle_timeout, seconds */

	/* [accounts] */
	int			 accounts;	/* on: yes, auto or no */
#define ACCOUNTS_OFF	0
#define ACCOUNTS_ON	1
#define ACCOUNTS_AUTO	2	/* on if there is a store */
	char			**operators;	/* account names, NULL-ended */
	int			 plaintext_passwords;
	unsigned		 hash_cost;	/* yescrypt, 1..11 */
	unsigned		 hash_workers;	/* threads */
	unsigned		 hash_queue;	/* jobs at once */
	unsigned		 password_min;	/* bytes */
	unsigned		 login_attempts;	/* failures before a wait */
	unsigned		 login_interval;	/* seconds per failure forgiven */
	unsigned		 login_tracked;	/* addresses and names kept */
	unsigned		 max_certfps;	/* per account */

	/* [metrics] */
	char			*metrics_listen; /* as written; NULL: off */
	struct config_addr	 metrics_addr;
};
#define CONFIG_NODE_MAX		63

/*
 * A broadcast line, formatted once and shared by every recipient: queued
 * output holds a reference (evbuffer_add_reference) rather than a copy when
 * the line is long enough for sharing to pay.
 */
struct msg {
	unsigned		 refs;
	size_t			 len;
	char			 data[];	/* len bytes, ends in CRLF */
};

/* The lines broadcast in one loop turn (turn.c). */
#define TURN_BYTES		(64 * 1024)	/* flush early past this */
#define TURN_LINES		1023	/* and this; IOV_MAX is 1024 */
struct turn_mark {
	struct client		*from;		/* who said it, or NULL */
	size_t			 end;		/* where it ends in buf */
};
struct turn {
	struct msg		*buf;		/* the lines; NULL: none yet */
	size_t			 cap;		/* bytes buf can hold */
	struct turn_mark	*marks;		/* nalloc, up to TURN_LINES */
	unsigned		 nmarks;
	unsigned		 nalloc;
	uint32_t		 gen;		/* this turn's number */
};

/* A room and the rooms (room.c). */
#define ROOM_NAME_LEN		32	/* after the '#' */
struct room {
	char			 name[ROOM_NAME_LEN + 2];	/* as made */
	char			 key[ROOM_NAME_LEN + 2];	/* lower case */
	int			 flags;
#define ROOM_PERMANENT		0x01	/* the default room, or configured */
#define ROOM_SECRET		0x02	/* listed to its members only */
	TAILQ_HEAD(, client)	 members;	/* here, in the room state */
	unsigned		 nmembers;
	struct turn		 turn;
	uint32_t		 trim_gen;	/* turn.gen at room_trim() */
	char			*topic;		/* NULL: none */
	unsigned		 topic_gen;	/* changes of topic */
	struct chat_room	*chat;		/* chat.c's: the history */
	int			 dirty;		/* on rooms' dirty list */
	TAILQ_ENTRY(room)	 entry;
	TAILQ_ENTRY(room)	 dirty_entry;
	struct room		*hash_next;
};
struct rooms {
	TAILQ_HEAD(, room)	 list;
	TAILQ_HEAD(, room)	 dirty;		/* with lines this turn */
	struct room		**buckets;
	size_t			 nbuckets;	/* a power of two */
	unsigned		 n;
};

/* Clients in the room per peer address (peer.c). */
#define PEER_BUCKETS		4096	/* a power of two */
#define PEER_KEY_MAX		(NETADDR_MAX + 5)	/* "addr/len" */
struct peer {
	LIST_ENTRY(peer)	 entry;
	unsigned		 n;		/* clients in the room */
	char			 addr[PEER_KEY_MAX];	/* peer_key() */
};
LIST_HEAD(peer_list, peer);
struct peers {
	struct peer_list	*buckets;	/* PEER_BUCKETS */
};

/* The clients in the room by name and by id (roster.c). */
struct roster {
	struct client		**by_key;	/* nbuckets chains */
	struct client		**by_id;
	size_t			  nbuckets;	/* a power of two */
	size_t			  n;
	uint64_t		  seed;
};

/* A token bucket counting lines (in thousandths, to stay in integers). */
struct ratelimit {
	uint64_t		 last_ms;
	uint32_t		 milli;		/* tokens * 1000 */
};

/*
 * Where a client is in its life.  It moves only forward, through
 * client_set_state(): NEW -> [HEADER ->] [HANDSHAKE ->] ROOM ->
 * [FLUSHING ->] CLOSING, or to FLUSHING or CLOSING from before ROOM for
 * one refused at the door.
 */
enum client_state {
	CLIENT_NEW,		/* accepted; not yet admitted */
	CLIENT_HEADER,		/* reading the proxy's PROXY header */
	CLIENT_HANDSHAKE,	/* in its TLS handshake */
	CLIENT_ROOM,		/* in the room: reads lines, gets broadcasts */
	CLIENT_FLUSHING,	/* last words queued; closed once written */
	CLIENT_CLOSING,		/* torn down; the reaper frees it */
};

/* A connected peer. */
struct client {
	struct server		*server;
	int			 fd;		/* the socket */
	uint8_t			 state;		/* enum client_state */
	uint8_t			 eol_len;	/* of the borrowed line */
	uint16_t		 port;		/* peer port */
	int			 flags;
#define CLIENT_CONNECTED	0x01	/* admitted: counted and on the roster
					   until its leaving is announced */
#define CLIENT_EOF		0x02	/* peer sent FIN; lines left to read */
#define CLIENT_DISCARD		0x04	/* skipping the rest of a long line */
#define CLIENT_THROTTLED	0x08	/* waiting for its rate budget */
#define CLIENT_PENDING		0x10	/* on the server's flush list */
#define CLIENT_RECENT		0x20	/* I/O since the last cron */
#define CLIENT_WAITING		0x40	/* paused until a command is answered */
#define CLIENT_CONTROL		0x80	/* a chatctl connection, not a user */
#define CLIENT_MUTED		0x100	/* its lines reach nobody */
#define CLIENT_TLS		0x200	/* its bufferevent speaks TLS */
#define CLIENT_COUNTED		0x400	/* counted against the limits */
	struct bufferevent	*bev;		/* awake: its I/O, else NULL */
	struct event		 wait_ev;	/* asleep: wakes on input */
	struct evbuffer		*out;		/* queued output, on demand */
	uint64_t		 id;		/* this process's; never changes */
	uint64_t		 guest;		/* number of its guest name */
	char			 netaddr[NETADDR_MAX];	/* peer, as text */
	char			 name[NAME_LEN + 1];

	struct future		 read;		/* client_read_line() */
	struct future		 send;		/* queued output written */
	uint32_t		 line_len;	/* the borrowed line */
	unsigned		 long_lines;	/* overlong lines discarded */
	uint32_t		 pass;		/* scheduler pass of pass_lines */
	unsigned		 pass_lines;
	unsigned		 turn_seen;	/* marks of the turn it has had */
	uint32_t		 turn_gen;	/* turn of turn_seen */
	uint32_t		 said_gen;	/* last turn it said a line in */
	uint32_t		 lines_in;	/* for chatctl who */
	uint32_t		 lines_out;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;

	struct ratelimit	 rate;
	uint64_t		 resume_ms;	/* when throttled, or flushing */
	uint64_t		 connected_ms;
	uint64_t		 active_ms;	/* last line received */
	uint64_t		 soft_ms;	/* over the soft limit since */
	const char		*reason;	/* why it was closed */
	char			*reason_buf;	/* owned text of reason */
	char			*certfp;	/* TLS client certificate */
	char			*account;	/* logged in as, or NULL */

	struct client		*key_next;	/* roster chains */
	struct client		*id_next;
	struct room		*room;		/* in the room state */
	TAILQ_ENTRY(client)	 room_entry;	/* its members */
	TAILQ_ENTRY(client)	 entry;		/* server's clients */
	TAILQ_ENTRY(client)	 wait_entry;	/* throttled or dead list */
	TAILQ_ENTRY(client)	 out_entry;	/* flush list */
};
TAILQ_HEAD(clients, client);

/* A listening socket; its accept future completes with new clients. */
#define LISTENER_TEXT_MAX	110	/* a Unix socket's path */
struct listener {
	struct server		*server;
	int			 kind;
#define LISTENER_CHAT		0
#define LISTENER_CONTROL	1
#define LISTENER_TLS		2
	struct evconnlistener	*evl;
	struct future		 accept;
	struct clients		 backlog;	/* accepted, not yet taken */
	struct event		*retry;		/* re-arm after EMFILE */
	char			 text[LISTENER_TEXT_MAX]; /* [addr]:port, path */
	TAILQ_ENTRY(listener)	 entry;
};
TAILQ_HEAD(listeners, listener);

/* An address or a prefix (addr.c). */
#define ADDR_PREFIX_TEXT	(NETADDR_MAX + 5)	/* "addr/len" */
struct addr_prefix {
	int			 family;	/* AF_INET or AF_INET6 */
	uint8_t			 addr[16];	/* host bits cleared */
	unsigned		 prefix;
};

/* A ban (ban.c). */
#define BAN_PATTERN_MAX		64	/* canonical text, NUL included */
#define BAN_REASON_MAX		200
#define BAN_DURATION_MAX	(10LL * 366 * 86400)
#define BAN_ADDRESS		1	/* an address or a prefix */
#define BAN_NAME		2	/* a name pattern */
struct ban {
	TAILQ_ENTRY(ban)	 entry;
	int			 kind;
	struct addr_prefix	 net;		/* BAN_ADDRESS */
	char			 pattern[BAN_PATTERN_MAX]; /* canonical */
	char			 key[NAME_LEN + 1];	/* name pattern, folded */
	int64_t			 expires;	/* epoch seconds; 0: never */
	int64_t			 created;
	char			*reason;	/* owned in a list; may be NULL */
};
struct bans {
	TAILQ_HEAD(ban_list, ban) list;
	unsigned		 n;
};

/* A client muted for a time (control.c). */
struct mute {
	uint64_t		 id;
	uint64_t		 until_ms;
	TAILQ_ENTRY(mute)	 entry;
};
TAILQ_HEAD(mutes, mute);

/* What metrics.c exports and chatctl stats shows. */
enum stats_refused {
	REFUSED_FULL,
	REFUSED_ADDRESS,
	REFUSED_BANNED,
	REFUSED_EMFILE,
	REFUSED_NREASONS
};
enum stats_closed {
	CLOSED_QUIT,
	CLOSED_RESET,
	CLOSED_IDLE,
	CLOSED_OUTPUT,
	CLOSED_KICKED,
	CLOSED_SHUTDOWN,
	CLOSED_OTHER,
	CLOSED_NREASONS
};
#define STATS_TURN_BUCKETS	12	/* loop-turn duration histogram */
struct stats {
	uint64_t		 accepted;
	uint64_t		 refused[REFUSED_NREASONS];
	uint64_t		 closed[CLOSED_NREASONS];
	uint64_t		 lines_in;	/* lines received */
	uint64_t		 relayed;	/* lines broadcast */
	uint64_t		 deliveries;	/* broadcast lines x recipients */
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	uint64_t		 throttled_ms;
	uint64_t		 overlong;
	uint64_t		 turns[STATS_TURN_BUCKETS + 1];	/* last: +Inf */
	uint64_t		 turn_ns;	/* sum of turn durations */
	uint64_t		 published;	/* cluster */
	uint64_t		 received;
	uint64_t		 outages;
	unsigned		 peak;		/* most clients at once */
};

/* The daemon: one per process. */
struct server {
	struct event_base	*base;
	struct future_sched	 sched;
	struct config		*config;	/* owned; replaced on reload */
	char			*config_path;	/* -c FILE, or NULL */
	int			 debug;		/* -d: log level fixed */
	int			 activated;	/* listeners from systemd */
	struct listeners	 listeners;
	struct listener		*control;	/* the control socket, or NULL */
	struct clients		 clients;	/* accepted by the server */
	struct clients		 throttled;	/* waiting for rate budget */
	struct clients		 dead;		/* to be freed */
	struct clients		 pending;	/* output to flush */
	struct rooms		 rooms;
	struct room		*lobby;		/* the default room */
	struct peers		 peers;		/* connected, per address */
	struct roster		 roster;	/* connected, by name and id */
	unsigned		 nclients;	/* connected */
	unsigned		 npending;	/* counted, not yet in the room */
	struct ssl_ctx_st	*tls_ctx;	/* NULL: no TLS */
	unsigned		 status_clients; /* last told to systemd */
	uint64_t		 next_id;	/* client ids */
	uint64_t		 next_guest;	/* guest names, single node */

	struct event		*reap_ev;
	struct event		*flush_ev;
	struct event		*throttle_ev;
	struct event		*cron_ev;
	struct event		*grace_ev;
	struct event		*watchdog_ev;
	struct event		*sig_ev[4];

	struct chat		*chat;		/* chat.c's state */
	struct cluster		*cluster;	/* NULL: a single node */
	struct metrics		*metrics;	/* NULL: off */
	struct store		*store;		/* NULL: no state file */
	struct accounts		*accounts;	/* NULL: off */
	struct workers		*workers;	/* NULL: none started */
	struct bans		 bans;
	struct mutes		 mutes;
	struct stats		 stats;
	time_t			 started;
	uint64_t		 started_ms;
	char			*scratch;	/* one line, sanitised */
	size_t			 scratch_size;
	int			 stopping;
	int			 frozen;	/* handing over: nothing is read
						   or accepted */
	int			 released;	/* control, metrics, Redis let
						   go for a successor */
	struct handover		*handover;	/* handover.c's */
	unsigned		 trim_pending;	/* fell asleep: trim heap */
};

/* account.c */
#define PASSWORD_MAX		128	/* bytes */
void		 account_start(struct server *);
void		 account_configure(struct server *);
void		 account_free(struct server *);
int		 account_input(struct server *, struct client *,
		    const struct command *);
int		 account_check_nick(struct server *, struct client *,
		    const char *);
void		 account_nick_owned(struct server *, struct client *,
		    const char *);
void		 account_joined(struct server *, struct client *);
int		 account_is_operator(struct server *, const struct client *);
void		 account_remote_kick(struct server *, const struct wire_msg *);
void		 account_remote_reclaim(struct server *,
		    const struct wire_msg *);

/* acctdb.c */
#define HASH_MAX		128	/* a stored hash, with its NUL */
#define ACCOUNT_CERTFPS_MAX	16	/* most max_certfps allows */
struct account {
	char			 name[NAME_LEN + 1];	/* as registered */
	char			 hash[HASH_MAX];
	int64_t			 created;
	unsigned		 ncertfps;
	char			 certfps[ACCOUNT_CERTFPS_MAX][64 + 1];
};
enum acctdb_op {
	ACCTDB_GET,		/* name -> account */
	ACCTDB_BY_CERTFP,	/* certfp -> account */
	ACCTDB_CREATE,		/* account, unless its name is taken */
	ACCTDB_UPDATE,		/* old -> account, unless changed since */
	ACCTDB_DELETE,		/* old, unless changed since */
};
enum acctdb_result {
	ACCTDB_OK,
	ACCTDB_NOTFOUND,
	ACCTDB_EXISTS,		/* create: name taken; certfp: another's */
	ACCTDB_CHANGED,		/* update, delete: not as read */
	ACCTDB_UNAVAILABLE,	/* the store cannot answer now */
	ACCTDB_FAILED,		/* an error or a bad record (logged) */
};
struct acctdb_req {
	enum acctdb_op		 op;
	enum acctdb_result	 result;
	struct account		 acct;	/* in: name, or the new record */
	struct account		 old;	/* update, delete: as read */
	char			 certfp[64 + 1];	/* by_certfp */
	struct future		 done;
	struct acctdb_redis	*redis;	/* a Redis operation's state */
	struct server		*server;
};
int		 acctdb_available(struct server *);
const char	*acctdb_kind(struct server *);
struct future	*acctdb_run(struct server *, struct acctdb_req *);

/* addr.c */
void		 addr_mask(uint8_t *, size_t, unsigned);
int		 addr_parse_prefix(const char *, struct addr_prefix *, char *);
int		 addr_match(const struct addr_prefix *, const char *);

/* ban.c */
int		 ban_parse(const char *, struct ban *, const char **);
int		 ban_reason(const char *, char *);
int		 ban_match_addr(const struct ban *, const char *);
int		 ban_match_name(const struct ban *, const char *);
int64_t		 ban_duration(const char *);
void		 ban_init(struct bans *);
void		 ban_clear(struct bans *);
struct ban	*ban_find(struct bans *, const char *);
struct ban	*ban_add(struct bans *, const struct ban *);
int		 ban_remove(struct bans *, const char *);
struct ban	*ban_check_addr(struct bans *, const char *, int64_t);
struct ban	*ban_check_name(struct bans *, const char *, int64_t);
unsigned	 ban_prune(struct bans *, int64_t);

/* chat.c */
#define CHAT_STAMP_LEN		12	/* "*** [HH:MM] " before a history line */
#define CHAT_WHO_LINE_MAX	160	/* longest /who line, CRLF included */
#define CHAT_WELCOME_MAX	512	/* the welcome line, with slack */
#define CHAT_NAMES_LINE		64	/* /who *: names per line, in bytes */
void		 chat_init(struct server *);
void		 chat_configure(struct server *);
void		 chat_free(struct server *);
void		 chat_joined(struct server *, struct client *);
void		 chat_left(struct server *, struct client *);
int		 chat_input(struct server *, struct client *, char *, size_t);
void		 chat_room_new(struct server *, struct room *);
void		 chat_topic(struct server *, struct room *, const char *,
		    const char *);
void		 chat_room_free(struct server *, struct room *);
void		 chat_export(struct server *, struct room *,
		    struct state_room *);
void		 chat_import(struct server *, struct room *,
		    const struct state_room *);
void		 chat_renamed(struct server *, struct client *, const char *);
void		 chat_name_lost(struct server *, struct client *, uint64_t);
int		 chat_nick_allowed(struct server *, struct client *,
		    const char *);
void		 chat_guest(struct server *, struct client *, const char *);
void		 chat_remote(struct server *, struct room *,
		    const struct wire_msg *);

/* cluster.c */
struct cluster_reply {
	int			 type;
#define CLUSTER_REPLY_NIL	0
#define CLUSTER_REPLY_INTEGER	1
#define CLUSTER_REPLY_STRING	2
#define CLUSTER_REPLY_STATUS	3
#define CLUSTER_REPLY_ERROR	4
	long long		 integer;
	const char		*str;	/* not NUL-terminated: len */
	size_t			 len;
};
typedef void	(*cluster_call_fn)(struct server *,
		    const struct cluster_reply *, void *);
int		 cluster_vcall(struct server *, cluster_call_fn, void *,
		    const char *, va_list);
const char	*cluster_prefix(struct server *);
void		 cluster_kick(struct server *, const char *, const char *,
		    const char *);
void		 cluster_take(struct server *, const char *);
void		 cluster_start(struct server *);
void		 cluster_free(struct server *);
void		 cluster_cron(struct server *);
int		 cluster_up(struct server *);
const char	*cluster_state(struct server *);
void		 cluster_ban(struct server *, const struct ban *);
void		 cluster_unban(struct server *, const char *);
void		 cluster_announce(struct server *, const char *);
uint64_t	 cluster_next_guest(struct server *);
void		 cluster_said(struct server *, struct client *, int,
		    const char *);
void		 cluster_joined(struct server *, struct client *);
void		 cluster_left(struct server *, struct client *);
void		 cluster_renamed(struct server *, struct client *,
		    const char *);
int		 cluster_nick(struct server *, struct client *, const char *);
int		 cluster_msg(struct server *, struct client *, const char *,
		    const char *);
int		 cluster_who(struct server *, struct client *, struct room *,
		    unsigned, unsigned, unsigned);
int		 cluster_rooms(struct server *, struct client *, unsigned);
void		 cluster_moved(struct server *, struct client *, struct room *,
		    struct room *);
void		 cluster_topic(struct server *, struct room *, const char *,
		    const char *);

/* client.c */
struct client	*client_new(struct server *, int, const struct sockaddr *,
		    socklen_t);
void		 client_set_state(struct client *, enum client_state);
void		 client_start(struct client *);
void		 client_configure(struct client *);
struct future	*client_read_line(struct client *);
struct future	*client_handshake(struct client *);
struct future	*client_proxy_header(struct client *);
const char	*client_line(struct client *, size_t *);
void		 client_wipe_line(struct client *);
void		 client_close(struct client *, const char *);
void		 client_close_after_flush(struct client *, const char *);
void		 client_broken(struct client *, const char *, const char *);
void		 client_resume(struct client *);
void		 client_free(struct client *);
int		 client_cron(struct client *);
int		 client_overdue(struct client *, uint64_t);
int		 client_in_room(const struct client *);
int		 client_reading(const struct client *);
void		 client_read_callback(struct bufferevent *, void *);
void		 client_event_callback(struct bufferevent *, short, void *);
void		 client_freeze(struct client *);
void		 client_thaw(struct client *);
void		 client_export(struct client *, struct state_client *,
		    uint64_t);
uint64_t	 client_socket_id(int);
struct client	*client_import(struct server *, int,
		    const struct state_client *, uint64_t);

/* control.c */
#define CONTROL_LINE_MAX	4096	/* a request, its end of line left out */
void		 control_admit(struct server *, struct client *);
int		 control_input(struct server *, struct client *, char *,
		    size_t);
void		 control_cron(struct server *, uint64_t);
int		 control_banned(struct server *, struct client *, int);
unsigned	 control_ban_apply(struct server *, const struct ban *,
		    const char *);
void		 control_unban_apply(struct server *, const char *,
		    const char *);
void		 control_free(struct server *);
void		 control_operator(struct server *, struct client *, char *);
void		 control_remove(struct client *, const char *, const char *);
uint64_t	 control_mute_left(struct server *, uint64_t, uint64_t);
void		 control_mute_restore(struct server *, uint64_t, uint64_t);

/* ctlreq.c */
enum ctlreq_cmd {
	CTL_STATUS,
	CTL_WHO,
	CTL_ROOMS,
	CTL_KICK,
	CTL_BAN,
	CTL_UNBAN,
	CTL_BANS,
	CTL_MUTE,
	CTL_UNMUTE,
	CTL_ANNOUNCE,
	CTL_RELOAD,
	CTL_STATS,
	CTL_NCMDS
};
struct ctlreq {
	enum ctlreq_cmd	 cmd;
	int		 json;		/* answer as one JSON document */
	const char	*target;	/* NAME, or NULL for #id */
	uint64_t	 target_id;
	struct ban	 ban;		/* ban, unban: the parsed pattern */
	int64_t		 duration;	/* seconds; 0: none given */
	const char	*text;		/* reason or announcement; "" none */
};
int		 ctlreq_parse(char *, struct ctlreq *, const char **);
const char	*ctlreq_name(enum ctlreq_cmd);

/* command.c */
enum command_id {
	CMD_CHAT,		/* not a command: text to say */
	CMD_UNKNOWN,		/* "/verb" that is no command */
	CMD_HELP,
	CMD_WHO,
	CMD_NICK,
	CMD_ME,
	CMD_MSG,
	CMD_QUIT,
	CMD_JOIN,
	CMD_PART,
	CMD_ROOMS,
	CMD_TOPIC,
	CMD_REGISTER,
	CMD_LOGIN,
	CMD_PASSWORD,
	CMD_LOGOUT,
	CMD_UNREGISTER,
	CMD_CERTFP,
	CMD_KICK,
	CMD_BAN,
	CMD_UNBAN,
	CMD_MUTE,
	CMD_UNMUTE,
	CMD_ANNOUNCE,
};
#define COMMAND_COUNT	22	/* entries of the table */
struct command_info {
	enum command_id	 id;
	const char	*name;
	const char	*usage;
	const char	*help;
};
struct command {
	enum command_id	 id;
	char		*text;		/* CMD_CHAT: what to say */
	size_t		 len;
	const char	*verb;		/* a command, as typed */
	size_t		 verb_len;
	const char	*args;		/* no leading or trailing spaces */
};
void		 command_parse(char *, size_t, struct command *);
const struct command_info *command_info(enum command_id);
const struct command_info *command_nth(size_t);
int		 command_word(const char **, const char **, size_t *);
struct account_args {
	const char	*name;		/* /login */
	size_t		 name_len;
	const char	*password;	/* the one, or the old */
	size_t		 password_len;
	const char	*newpw;		/* /password */
	size_t		 newpw_len;
	int		 sub;		/* /certfp */
#define CERTFP_LIST	0
#define CERTFP_ADD	1
#define CERTFP_DEL	2
	char		 certfp[64 + 1];	/* del: lower-case hex */
};
int		 command_account(enum command_id, const char *,
		    struct account_args *, const char **);
int		 command_join(const char *, const char **, size_t *, int *);
unsigned	 command_page(const char *, unsigned);

/* config.c */
void		 config_defaults(struct config *);
int		 config_load(struct config *, const char *, int, char *,
		    size_t);
int		 config_parse_buffer(struct config *, const char *,
		    const char *, char *, size_t);
void		 config_free(struct config *);
int		 config_valid_node(const char *);
void		 config_keep_cluster(struct config *, struct config *);
void		 config_keep_control(struct config *, struct config *);

/* fmt.c */
void		 fmt_duration(char *, size_t, uint64_t);
void		 fmt_time(char *, size_t, int64_t);

/* handover.c */
/*
 * What the descriptors a predecessor hands over are called in
 * LISTEN_FDNAMES.  A client's is one byte: LISTEN_FDNAMES is one
 * environment string, and the kernel takes none over 128 KiB.
 */
#define HANDOVER_FD_STATE	"chatd-state"
#define HANDOVER_FD_ACK		"chatd-handover"
#define HANDOVER_FD_CLIENT	"c"
#define HANDOVER_FD_LISTEN	"chatd-listen"
#define HANDOVER_FD_LISTEN_TLS	"chatd-listen-tls"
#define HANDOVER_EXIT		75	/* handed to systemd's fd store */
void		 handover_init(struct server *, char **);
int		 handover_claim(struct server *, int, const char *);
int		 handover_claimed(const char *);
int		 handover_restore(struct server *);
int		 handover_ready(struct server *);
void		 handover_abandon(struct server *, const char *);
void		 handover_abandon_early(const char *);
void		 handover_start(struct server *);
int		 handover_busy(struct server *);
void		 handover_stop_after(struct server *);
int		 handover_status(struct server *);
void		 handover_free(struct server *);

/* json.c */
void		 json_string(struct evbuffer *, const char *);

/* line.c */
#define LINE_NONE	0	/* no whole line yet */
#define LINE_READY	1	/* *len bytes of text, *eol of end of line */
#define LINE_TOOLONG	2	/* longer than the limit */
int		 line_next(struct evbuffer *, size_t, size_t *, size_t *);
int		 line_skip(struct evbuffer *);

/* listener.c */
struct listener	*listener_new(struct server *, const struct sockaddr *,
		    socklen_t, int);
struct future	*listener_accept(struct listener *);
void		 listener_pause(struct listener *, unsigned);
int		 listener_fd(const struct listener *);
void		 listener_hold(struct listener *);
void		 listener_release(struct listener *);
void		 listener_free(struct listener *);

/* log.c */
#define LOG_LEVEL_ERROR		0
#define LOG_LEVEL_WARNING	1
#define LOG_LEVEL_NOTICE	2
#define LOG_LEVEL_INFO		3
#define LOG_LEVEL_DEBUG		4
/* Counts events a peer can repeat at will, so that few are logged. */
struct log_rate {
	uint64_t		 since_ms;	/* last one logged */
	unsigned		 skipped;	/* not logged since */
};
void		 log_init(int);
void		 log_setlevel(int);
int		 log_journal_stream(void);
int		 log_rate_ok(struct log_rate *, uint64_t, unsigned *);
void		 log_libevent(int, const char *);
void		 log_errorx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 log_parse_level(const char *);
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_notice(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

/* metrics.c */
#define METRICS_REQUEST_MAX	8192	/* headers of one request */
#define METRICS_TIMEOUT_S	5
#define METRICS_ACCEPTS_PER_S	100	/* new connections a second */
int		 metrics_start(struct server *, char *, size_t);
void		 metrics_free(struct server *);
void		 metrics_turn(struct server *, uint64_t);
const char	*metrics_refused_name(int);
const char	*metrics_closed_name(int);

/* lru.c */
#define LRU_KEY_MAX		64
struct lru_entry {
	char			 key[LRU_KEY_MAX];
	unsigned		 count;
	uint64_t		 ms;
	struct lru_entry	*next;		/* bucket chain */
	TAILQ_ENTRY(lru_entry)	 entry;		/* least recently used first */
};
struct lru {
	struct lru_entry	**buckets;
	size_t			 nbuckets;	/* a power of two */
	TAILQ_HEAD(, lru_entry)	 list;
	unsigned		 n;
	unsigned		 max;
};
void		 lru_init(struct lru *, unsigned);
void		 lru_free(struct lru *);
void		 lru_limit(struct lru *, unsigned);
struct lru_entry *lru_find(struct lru *, const char *);
struct lru_entry *lru_get(struct lru *, const char *);
void		 lru_touch(struct lru *, struct lru_entry *);
void		 lru_drop(struct lru *, struct lru_entry *);

/* msg.c */
struct msg	*msg_new(size_t);
struct msg	*msg_printf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 msg_ref(struct msg *);
void		 msg_unref(struct msg *);

/* name.c */
int		 name_char(char);
int		 name_valid(const char *, size_t);
void		 name_key(const char *, char *);
int		 name_same(const char *, const char *);
int		 name_is_guest(const char *);
void		 name_guest(char *, uint64_t);

/* output.c */
size_t		 output_length(const struct client *);
void		 output_sync(struct client *);
void		 output_printf(struct client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 output_buffer_add(struct client *, struct evbuffer *);
void		 output_flush(struct client *);
void		 output_check(struct client *, uint64_t);
void		 output_wake(struct client *);
void		 output_tls(struct client *);
int		 output_sleep(struct client *);
void		 output_free(struct client *);
void		 output_hold(struct client *);
void		 output_release(struct client *);
void		 output_export(struct client *, struct state_bytes *);
void		 output_import(struct client *, const struct state_bytes *);

/* peer.c */
void		 peer_init(struct peers *);
void		 peer_free(struct peers *);
void		 peer_key(const char *, unsigned, char *);
unsigned	 peer_count(struct peers *, const char *);
void		 peer_add(struct peers *, const char *);
void		 peer_remove(struct peers *, const char *);

/* proxy.c */
#define PROXY_MAX	2048	/* the longest header accepted, TLVs included */
#define PROXY_MORE	0	/* a valid start: wait for more */
#define PROXY_DONE	1
#define PROXY_BAD	(-1)
struct proxy_hdr {
	size_t			 len;		/* bytes of the header */
	int			 local;		/* no client address given */
	int			 family;
	char			 addr[NETADDR_MAX];	/* the client's */
	uint16_t		 port;
	uint8_t			 dst[16];	/* where it connected to */
	uint16_t		 dport;
};
int		 proxy_parse(const uint8_t *, size_t, struct proxy_hdr *,
		    const char **);

/* hash.c */
int		 hash_make(const char *, unsigned, char *);
int		 hash_valid(const char *);
int		 hash_check(const char *, const char *);

/* ratelimit.c */
int		 ratelimit_take(struct ratelimit *, uint64_t, unsigned,
		    unsigned);
uint64_t	 ratelimit_ready(struct ratelimit *, uint64_t, unsigned,
		    unsigned);
uint64_t	 ratelimit_wait(const struct ratelimit *, unsigned);
void		 ratelimit_init(struct ratelimit *, uint64_t, unsigned);

/* room.c */
int		 room_valid(const char *, size_t);
void		 room_key(const char *, char *);
void		 room_init(struct rooms *);
void		 room_clear(struct rooms *);
struct room	*room_find(struct rooms *, const char *);
struct room	*room_new(struct rooms *, const char *, int);
void		 room_free(struct rooms *, struct room *);
void		 room_add(struct room *, struct client *);
void		 room_remove(struct client *);
void		 room_dirty(struct rooms *, struct room *);
void		 room_trim(struct rooms *);
void		 room_export(const struct room *, struct state_room *);
void		 room_import(struct room *, const struct state_room *);

/* roster.c */
void		 roster_init(struct roster *);
void		 roster_free(struct roster *);
void		 roster_add(struct roster *, struct client *);
void		 roster_remove(struct roster *, struct client *);
void		 roster_rename(struct roster *, struct client *,
		    const char *);
struct client	*roster_holder(struct roster *, const char *);
struct client	*roster_find(struct roster *, const char *);
struct client	*roster_by_id(struct roster *, uint64_t);
size_t		 roster_count(const struct roster *);

/* store.c */
struct store	*store_open(const char *, char *, size_t);
int		 store_account_get(struct store *, const char *,
		    struct account *);
int		 store_account_by_certfp(struct store *, const char *,
		    struct account *);
int		 store_account_create(struct store *, const char *,
		    const struct account *);
int		 store_account_update(struct store *, const char *,
		    const struct account *, const struct account *);
int		 store_account_delete(struct store *, const char *,
		    const struct account *);
void		 store_close(struct store *);
int		 store_ban_put(struct store *, const struct ban *);
int		 store_ban_del(struct store *, const char *);
int		 store_ban_prune(struct store *, int64_t);
int		 store_ban_load(struct store *, struct bans *, int64_t, char *,
		    size_t);

/* sdnotify.c */
int		 sdnotify(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 sdnotify_store(const char *, const int *, size_t);
int		 sdnotify_unstore(const char *);
long		 sdnotify_listen(long, char ***);
void		 sdnotify_names_free(char **);

/* server.c */
struct server	*server_new(struct config *, const char *, int);
int		 server_listen(struct server *);
void		 server_run(struct server *);
void		 server_free(struct server *);
int		 server_input(struct server *, struct client *, const char *,
		    size_t);
void		 server_broadcast(struct server *, struct room *,
		    struct client *, struct msg *);
void		 server_broadcast_all(struct server *, struct msg *);
#define SERVER_ROOM_FIND	0	/* server_room(): an existing room */
#define SERVER_ROOM_MAKE	1	/* ... or made within max_rooms */
#define SERVER_ROOM_ALWAYS	2	/* ... or made past it too */
struct room	*server_room(struct server *, const char *, int, int);
void		 server_move(struct server *, struct client *, struct room *);
void		 server_room_gone(struct server *, struct room *);
void		 server_remove(struct server *, struct client *);
int		 server_reload(struct server *, char *, size_t);
void		 server_throttle(struct server *, struct client *);
void		 server_pending(struct server *, struct client *);
uint64_t	 server_now_ms(struct server *);
void		 server_stop(struct server *);
void		 server_freeze(struct server *);
int		 server_drained(struct server *);
void		 server_export(struct server *, struct state *);
void		 server_thaw(struct server *);
int		 server_import(struct server *, const struct state *,
		    const int *, char *, size_t);

/* state.c */
#define STATE_VERSION		1
#define STATE_HEADER_LEN	32
#define STATE_SIZE_MAX		(1024UL * 1024 * 1024)	/* a whole image */
#define STATE_ACCOUNT_MAX	64	/* an account, its NUL left out */
/* A topic, a history line: sanitize_line() of max_line's most, and a name. */
#define STATE_TEXT_MAX		(3UL * 1024 * 1024 + 64)
#define STATE_INPUT_MAX		(2UL * 1024 * 1024)	/* read, unhandled */
#define STATE_OUTPUT_MAX	((1ULL << 32) + 1024 * 1024)	/* unwritten */
#define STATE_HISTORY_MAX	100000	/* a room's lines: history's bound */
/* Bytes an image borrows, or the server lends it: not NUL-terminated. */
struct state_bytes {
	const uint8_t		*p;
	size_t			 len;
};
struct state_line {
	int64_t			 when;		/* epoch seconds */
	struct state_bytes	 text;		/* no CRLF */
};
struct state_room {
	char			 name[ROOM_NAME_LEN + 2];
	uint32_t		 flags;
#define STATE_ROOM_SECRET	0x1
	struct state_bytes	 topic;		/* len 0: none */
	struct state_line	*lines;		/* history, oldest first */
	uint32_t		 nlines;
};
struct state_client {
	uint64_t		 id;
	uint64_t		 guest;
	uint64_t		 sock;		/* its socket's inode */
	char			 name[NAME_LEN + 1];
	char			 room[ROOM_NAME_LEN + 2];
	char			 account[STATE_ACCOUNT_MAX + 1];	/* "" */
	char			 addr[NETADDR_MAX];
	uint16_t		 port;
	uint32_t		 flags;
#define STATE_CLIENT_MUTED	0x1
#define STATE_CLIENT_DISCARD	0x2	/* skipping the rest of a long line */
	uint64_t		 mute_ms;	/* a timed mute's rest, or 0 */
	uint32_t		 rate_milli;	/* struct ratelimit's */
	uint64_t		 rate_age_ms;	/* since its last refill */
	uint64_t		 connected_age_ms;
	uint64_t		 active_age_ms;
	uint32_t		 lines_in;
	uint32_t		 lines_out;
	uint32_t		 long_lines;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	struct state_bytes	 input;		/* read, not yet handled */
	struct state_bytes	 output;	/* queued, not yet written */
};
struct state {
	uint64_t		 next_id;
	uint64_t		 next_guest;
	struct state_room	*rooms;
	uint32_t		 nrooms;
	struct state_client	*clients;
	uint32_t		 nclients;
};
/* The successor's bounds on an image (0: none). */
struct state_limits {
	unsigned		 max_clients;
	unsigned		 max_rooms;
};
uint8_t		*state_encode(const struct state *, size_t *);
void		 state_seal(uint8_t *, size_t);
int		 state_decode(const uint8_t *, size_t,
		    const struct state_limits *, struct state *, char *,
		    size_t);
void		 state_free(struct state *);
uint32_t	*state_rooms_of(const struct state *);

/* tls.c */
#define TLS_FP_LEN	64	/* SHA-256, in hex */
struct ssl_ctx_st *tls_context(const struct config *, char *, size_t);
void		 tls_context_free(struct ssl_ctx_st *);
struct bufferevent *tls_bufferevent(struct ssl_ctx_st *, struct event_base *,
		    int);
void		 tls_free(struct bufferevent *);
const char	*tls_failure(struct bufferevent *);
int		 tls_fingerprint(struct bufferevent *, char *);
const char	*tls_version(struct bufferevent *);

/* turn.c */
void		 turn_init(struct turn *);
void		 turn_free(struct turn *);
int		 turn_room(const struct turn *, size_t);
void		 turn_add(struct turn *, struct client *, const char *, size_t);
void		 turn_join(struct turn *, struct client *);
int		 turn_part(struct turn *, const struct client *,
		    struct iovec **, unsigned *);
void		 turn_seen(struct turn *, struct client *);
void		 turn_end(struct turn *);
void		 turn_trim(struct turn *);

/* wire.c */
#define WIRE_VERSION	"chatd1"
#define WIRE_MAX	(1024 * 1024)	/* longest message considered */
#define WIRE_FIELDS	4		/* most fields of any type */
#define WIRE_KEY_MAX	(CONFIG_NODE_MAX + 16 + NAME_LEN)
enum wire_type {
	WIRE_SAY,
	WIRE_ME,
	WIRE_RAW,
	WIRE_JOIN,
	WIRE_LEFT,
	WIRE_NICK,
	WIRE_MSG,
	WIRE_BAN,
	WIRE_UNBAN,
	WIRE_ANNOUNCE,
	WIRE_MOVED,
	WIRE_TOPIC,
	WIRE_KICK,
	WIRE_RECLAIM,
	WIRE_NTYPES
};
struct wire_msg {
	enum wire_type	 type;
	const char	*node;
	const char	*field[WIRE_FIELDS];	/* names, then text */
	int		 nfields;
	char		*buf;		/* owns node and the names */
	char		*text[WIRE_FIELDS];	/* owns the sanitised text */
};
const char	*wire_type_name(enum wire_type);
int		 wire_names(enum wire_type);
char		*wire_encode(const char *, enum wire_type, const char *const *,
		    size_t *);
int		 wire_decode(const char *, size_t, size_t, struct wire_msg *,
		    const char **);
void		 wire_msg_free(struct wire_msg *);
int		 wire_parse_owner(const char *, size_t, char *, char *);
struct wire_who {
	char		 name[NAME_LEN + 1];
	int64_t		 since;
	char		 node[CONFIG_NODE_MAX + 1];
	char		 room[ROOM_NAME_LEN + 2];
};
int		 wire_parse_who(const char *, size_t, const char *, size_t,
		    struct wire_who *);
int		 wire_parse_cursor(const char *, size_t, unsigned long long *);
int		 wire_ban(const struct wire_msg *, struct ban *, char *);
int		 wire_parse_ban(const char *, size_t, const char *, size_t,
		    struct ban *, char *);
void		 wire_nick_key(const char *, const char *, char *);
#define WIRE_CERTFP_KEY_MAX	(WIRE_KEY_MAX + 64)
#define WIRE_ACCOUNT_VERSION	"chatd-account1"
#define WIRE_ACCOUNT_MAX	(64 + NAME_LEN + 24 + HASH_MAX + \
	ACCOUNT_CERTFPS_MAX * (64 + 1))
int		 wire_account(const struct account *, char *, size_t);
int		 wire_parse_account(const char *, size_t, unsigned,
		    struct account *);
void		 wire_account_key(const char *, const char *, char *);
void		 wire_certfp_key(const char *, const char *, char *);
int		 wire_certfp_valid(const char *, size_t);

/* worker.c */
struct worker_job {
	void		(*run)(struct worker_job *);	/* on a thread */
	void		(*discard)(struct worker_job *); /* never completed */
	struct future	  done;
	TAILQ_ENTRY(worker_job) entry;
};
struct workers	*workers_new(struct event_base *, struct future_sched *,
		    unsigned, unsigned);
struct future	*worker_submit(struct workers *, struct worker_job *);
unsigned	 worker_busy(const struct workers *);
void		 workers_free(struct workers *);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

#endif /* CHATD_H */
