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

struct bufferevent;
struct chat;
struct cluster;
struct cluster_req;
struct event;
struct event_base;
struct evbuffer;
struct evconnlistener;
struct iovec;

#define CHATD_NAME		"chatd"
#define EX_CHATD_USAGE		64	/* EX_USAGE */
#define EX_CHATD_CONFIG		78	/* EX_CONFIG */

#define CLIENT_NAME_MAX		24	/* a nickname, without the NUL */
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

	/* [limits] */
	unsigned		 max_clients;
	unsigned		 max_per_address;
	size_t			 max_line;
	size_t			 output_hard;
	size_t			 output_soft;
	unsigned		 output_soft_seconds;
	unsigned		 rate_lines;
	unsigned		 rate_burst;
	unsigned		 idle_timeout;
	unsigned		 keepalive;
	unsigned		 shutdown_grace;

	/* [chat] */
	int			 announce;
	int			 show_addresses;
	char			*motd;
	char			*motd_file;
	unsigned		 history;

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
	struct turn_mark	*marks;		/* TURN_LINES */
	unsigned		 nmarks;
	uint64_t		 gen;		/* this turn's number */
	struct iovec		*iov;		/* TURN_LINES + 1, for parts */
};

/* Clients in the room per peer address (peer.c). */
#define PEER_BUCKETS		4096	/* a power of two */
struct peer {
	LIST_ENTRY(peer)	 entry;
	unsigned		 n;		/* clients in the room */
	char			 addr[NETADDR_MAX];
};
LIST_HEAD(peer_list, peer);
struct peers {
	struct peer_list	*buckets;	/* PEER_BUCKETS */
};

/* A token bucket counting lines (in thousandths, to stay in integers). */
struct ratelimit {
	uint64_t		 last_ms;
	uint32_t		 milli;		/* tokens * 1000 */
};

/* A connected peer. */
struct client {
	struct server		*server;
	int			 fd;		/* the socket */
	struct bufferevent	*bev;		/* awake: its I/O, else NULL */
	struct event		 wait_ev;	/* asleep: wakes on input */
	struct evbuffer		*out;		/* asleep: output, on demand */
	uint64_t		 id;		/* never reused */
	char			 netaddr[NETADDR_MAX];	/* peer, as text */
	uint16_t		 port;		/* peer port */
	char			 name[CLIENT_NAME_MAX + 1];

	int			 flags;
#define CLIENT_CONNECTED	0x01	/* in the room: receives broadcasts */
#define CLIENT_CLOSING		0x02	/* torn down; freed when reaped */
#define CLIENT_EOF		0x04	/* peer sent FIN; lines left to read */
#define CLIENT_DISCARD		0x08	/* skipping the rest of a long line */
#define CLIENT_THROTTLED	0x10	/* waiting for its rate budget */
#define CLIENT_FLUSHING		0x20	/* last words queued; then closed */
#define CLIENT_PENDING		0x40	/* on the server's flush list */
#define CLIENT_RECENT		0x80	/* I/O since the last cron */

	struct future		 read;		/* client_read_line() */
	struct future		 send;		/* client_send() */
	size_t			 line_len;	/* the borrowed line */
	size_t			 eol_len;
	uint64_t		 pass;		/* scheduler pass of pass_lines */
	unsigned		 pass_lines;
	uint64_t		 turn_gen;	/* turn of turn_seen */
	uint64_t		 said_gen;	/* last turn it said a line in */
	unsigned		 turn_seen;	/* marks of the turn it has had */

	struct ratelimit	 rate;
	uint64_t		 resume_ms;	/* when throttled */
	uint64_t		 connected_ms;
	uint64_t		 active_ms;	/* last line received */
	uint64_t		 soft_ms;	/* over the soft limit since */
	const char		*reason;	/* why it was closed */
	char			*reason_buf;	/* owned text of reason */
	struct cluster_req	*req;		/* Redis command awaited */

	TAILQ_ENTRY(client)	 entry;		/* server's clients */
	TAILQ_ENTRY(client)	 wait_entry;	/* throttled or dead list */
	TAILQ_ENTRY(client)	 out_entry;	/* flush list */
};
TAILQ_HEAD(clients, client);

/* A listening socket; its accept future completes with new clients. */
struct listener {
	struct server		*server;
	struct evconnlistener	*evl;
	struct future		 accept;
	struct clients		 backlog;	/* accepted, not yet taken */
	struct event		*retry;		/* re-arm after EMFILE */
	char			 text[NETADDR_MAX + 8];	/* [addr]:port */
	TAILQ_ENTRY(listener)	 entry;
};
TAILQ_HEAD(listeners, listener);

/* The daemon: one per process. */
struct server {
	struct event_base	*base;
	struct future_sched	 sched;
	struct config		*config;	/* owned; replaced on reload */
	char			*config_path;	/* -c FILE, or NULL */
	int			 debug;		/* -d: log level fixed */
	int			 activated;	/* listeners from systemd */
	struct listeners	 listeners;
	struct clients		 clients;	/* accepted by the server */
	struct clients		 throttled;	/* waiting for rate budget */
	struct clients		 dead;		/* to be freed */
	struct clients		 pending;	/* output to flush */
	struct turn		 turn;		/* broadcast this loop turn */
	struct peers		 peers;		/* connected, per address */
	unsigned		 nclients;	/* connected */
	unsigned		 status_clients; /* last told to systemd */
	uint64_t		 next_id;

	struct event		*reap_ev;
	struct event		*flush_ev;
	struct event		*throttle_ev;
	struct event		*cron_ev;
	struct event		*grace_ev;
	struct event		*watchdog_ev;
	struct event		*sig_ev[3];

	struct chat		*chat;		/* chat.c's state */
	struct cluster		*cluster;	/* NULL: a single node */
	char			*scratch;	/* one line, sanitised */
	size_t			 scratch_size;
	int			 stopping;
	int			 exit_code;
	unsigned		 trim_pending;	/* fell asleep: trim heap */
};

/* chat.c */
void		 chat_init(struct server *);
void		 chat_configure(struct server *);
void		 chat_free(struct server *);
void		 chat_joined(struct server *, struct client *);
void		 chat_left(struct server *, struct client *);
int		 chat_input(struct server *, struct client *, char *, size_t);
void		 chat_renamed(struct server *, struct client *, const char *);
void		 chat_name_lost(struct server *, struct client *, const char *);
struct client	*chat_holder(struct server *, const char *);
int		 chat_remote(struct server *, const char *, char **, int);

/* cluster.c */
void		 cluster_start(struct server *);
void		 cluster_free(struct server *);
void		 cluster_cron(struct server *);
int		 cluster_up(struct server *);
uint64_t	 cluster_next_id(struct server *);
void		 cluster_said(struct server *, struct client *, int,
		    const char *);
void		 cluster_joined(struct server *, struct client *);
void		 cluster_left(struct server *, struct client *);
void		 cluster_renamed(struct server *, struct client *,
		    const char *);
void		 cluster_forget(struct client *);
int		 cluster_nick(struct server *, struct client *, const char *);
int		 cluster_msg(struct server *, struct client *, const char *,
		    size_t, const char *);
int		 cluster_who(struct server *, struct client *, unsigned);

/* client.c */
struct client	*client_new(struct server *, int, const struct sockaddr *,
		    socklen_t);
void		 client_start(struct client *);
void		 client_configure(struct client *);
struct future	*client_read_line(struct client *);
const char	*client_line(struct client *, size_t *);
struct future	*client_send(struct client *, const char *, size_t);
struct future	*client_send_msg(struct client *, struct msg *);
void		 client_printf(struct client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 client_close(struct client *, const char *);
void		 client_close_after_flush(struct client *, const char *);
void		 client_resume(struct client *);
void		 client_free(struct client *);
void		 client_check_output(struct client *, uint64_t);
void		 client_flush(struct client *);
int		 client_cron(struct client *);
int		 client_in_room(const struct client *);

/* config.c */
void		 config_defaults(struct config *);
int		 config_load(struct config *, const char *, int, char *,
		    size_t);
int		 config_parse_buffer(struct config *, const char *,
		    const char *, char *, size_t);
void		 config_free(struct config *);
int		 config_valid_node(const char *);
void		 config_keep_cluster(struct config *, struct config *);

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
void		 listener_free(struct listener *);

/* log.c */
#define LOG_LEVEL_ERROR		0
#define LOG_LEVEL_WARNING	1
#define LOG_LEVEL_NOTICE	2
#define LOG_LEVEL_INFO		3
#define LOG_LEVEL_DEBUG		4
void		 log_init(int);
void		 log_setlevel(int);
int		 log_getlevel(void);
int		 log_journal_stream(void);
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

/* peer.c */
void		 peer_init(struct peers *);
void		 peer_free(struct peers *);
unsigned	 peer_count(struct peers *, const char *);
void		 peer_add(struct peers *, const char *);
void		 peer_remove(struct peers *, const char *);

/* turn.c */
void		 turn_init(struct turn *);
void		 turn_free(struct turn *);
int		 turn_room(const struct turn *, size_t);
void		 turn_add(struct turn *, struct client *, const char *, size_t);
void		 turn_join(struct turn *, struct client *);
int		 turn_part(struct turn *, const struct client *,
		    struct iovec **);
void		 turn_seen(struct turn *, struct client *);
void		 turn_end(struct turn *);

/* msg.c */
struct msg	*msg_new(size_t);
struct msg	*msg_printf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 msg_ref(struct msg *);
void		 msg_unref(struct msg *);

/* ratelimit.c */
int		 ratelimit_take(struct ratelimit *, uint64_t, unsigned,
		    unsigned);
uint64_t	 ratelimit_ready(struct ratelimit *, uint64_t, unsigned,
		    unsigned);
uint64_t	 ratelimit_wait(const struct ratelimit *, unsigned);
void		 ratelimit_init(struct ratelimit *, uint64_t, unsigned);

/* sdnotify.c */
int		 sdnotify(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* server.c */
struct server	*server_new(struct config *, const char *, int);
int		 server_listen(struct server *);
int		 server_run(struct server *);
void		 server_free(struct server *);
int		 server_input(struct server *, struct client *, const char *,
		    size_t);
void		 server_broadcast(struct server *, struct client *,
		    struct msg *);
void		 server_remove(struct server *, struct client *);
void		 server_throttle(struct server *, struct client *);
void		 server_pending(struct server *, struct client *);
uint64_t	 server_now_ms(struct server *);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

#endif /* CHATD_H */
