/*
 * config.c: the ini configuration, read with inih.
 *
 * The file is parsed into a fresh struct config and validated whole before
 * anything uses it: start-up opens no socket, and a reload replaces nothing,
 * until every key has parsed.  Keys are described by one table (section,
 * name, type, bounds, where the value goes) so that parsing, defaults and
 * errors cannot drift apart.  The first error is reported as
 * "FILE:LINE: message", the shape compilers use, which editors understand.
 *
 * inih calls the handler once per key; with its multi-line support a value
 * continued on indented lines arrives as repeated calls for the same key,
 * which `motd` uses to hold several lines.  Other keys take the last value.
 * inih's lines are at most 200 bytes (INI_MAX_LINE in Debian's build) and
 * it neither reports section headers nor stops at read errors, so lines
 * reach inih through config_reader(), which counts them, rejects a line
 * that does not fit and checks section names where they are written.
 * Every error is recorded with its line and the earliest one is reported.
 */

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/ssl.h>

#include "config.h"
#include "chatd.h"

#define MOTD_FILE_MAX	(64 * 1024)
#define CONFIG_SECRET_MAX	255	/* a password read from a file */

enum config_type {
	CONFIG_STRING,
	CONFIG_UINT,
	CONFIG_SIZE,
	CONFIG_BOOL,
	CONFIG_PORT,
	CONFIG_BIND,
	CONFIG_MODE,
	CONFIG_LOGLEVEL,
	CONFIG_MOTD,
	CONFIG_MOTD_FILE,
	CONFIG_REDIS,
	CONFIG_NODE,
	CONFIG_PATH,		/* an absolute path, or empty for none */
	CONFIG_GROUP,		/* a group that exists */
	CONFIG_SECRET_FILE,	/* a file whose first line is the value */
	CONFIG_LISTEN,		/* address:port */
	CONFIG_PREFIXES,	/* addresses and prefixes */
	CONFIG_FILE,		/* a file that must be readable */
	CONFIG_TLSVER,		/* 1.2 or 1.3 */
	CONFIG_ROOM,		/* a room name */
	CONFIG_ROOMS,		/* room names */
	CONFIG_ACCOUNTS,	/* yes, no or auto */
	CONFIG_NAMES,		/* names (name.c) */
};

static const struct config_key {
	const char		*section;
	const char		*name;
	enum config_type	 type;
	size_t			 offset;
	unsigned long long	 min;
	unsigned long long	 max;
} config_keys[] = {
#define K(s, n, t, f, lo, hi) { s, n, t, offsetof(struct config, f), lo, hi }
	K("server", "bind", CONFIG_BIND, addrs, 0, 0),
	K("server", "port", CONFIG_PORT, port, 1, 65535),
	K("server", "name", CONFIG_STRING, name, 1, 64),
	K("server", "mode", CONFIG_MODE, mode, 0, 0),
	K("server", "user", CONFIG_STRING, user, 1, 255),
	K("server", "group", CONFIG_STRING, group, 1, 255),
	K("server", "log_level", CONFIG_LOGLEVEL, log_level, 0, 0),
	K("server", "proxy_protocol", CONFIG_BOOL, proxy_protocol, 0, 0),
	K("server", "trusted_proxies", CONFIG_PREFIXES, proxies, 0, 0),
	K("server", "proxy_timeout", CONFIG_UINT, proxy_timeout, 1, 300),

	K("tls", "bind", CONFIG_BIND, tls_addrs, 0, 0),
	K("tls", "port", CONFIG_PORT, tls_port, 1, 65535),
	K("tls", "certificate", CONFIG_FILE, tls_cert, 0, 0),
	K("tls", "private_key", CONFIG_FILE, tls_key, 0, 0),
	K("tls", "ca", CONFIG_FILE, tls_ca, 0, 0),
	K("tls", "min_version", CONFIG_TLSVER, tls_min_version, 0, 0),
	K("tls", "handshake_timeout", CONFIG_UINT, tls_timeout, 1, 300),

	K("limits", "max_clients", CONFIG_UINT, max_clients, 0, 10000000),
	K("limits", "max_clients_per_address", CONFIG_UINT, max_per_address,
	    0, 10000000),
	K("limits", "ipv6_prefix", CONFIG_UINT, ipv6_prefix, 1, 128),
	K("limits", "max_line", CONFIG_SIZE, max_line, 64, 1024 * 1024),
	K("limits", "output_hard_limit", CONFIG_SIZE, output_hard, 0,
	    1ULL << 32),
	K("limits", "output_soft_limit", CONFIG_SIZE, output_soft, 0,
	    1ULL << 32),
	K("limits", "output_soft_seconds", CONFIG_UINT, output_soft_seconds,
	    1, 86400),
	K("limits", "rate_lines", CONFIG_UINT, rate_lines, 0, 1000000),
	K("limits", "rate_burst", CONFIG_UINT, rate_burst, 1, 1000000),
	K("limits", "idle_timeout", CONFIG_UINT, idle_timeout, 0, 31536000),
	K("limits", "keepalive", CONFIG_UINT, keepalive, 0, 86400),
	K("limits", "shutdown_grace", CONFIG_UINT, shutdown_grace, 0, 600),
	K("limits", "handover_drain_ms", CONFIG_UINT, handover_drain_ms, 0,
	    60000),
	K("limits", "handover_timeout", CONFIG_UINT, handover_timeout, 1, 600),

	K("chat", "announce", CONFIG_BOOL, announce, 0, 0),
	K("chat", "show_addresses", CONFIG_BOOL, show_addresses, 0, 0),
	K("chat", "motd", CONFIG_MOTD, motd, 0, 0),
	K("chat", "motd_file", CONFIG_MOTD_FILE, motd_file, 0, 0),
	K("chat", "history", CONFIG_UINT, history, 0, 100000),
	K("chat", "history_bytes", CONFIG_SIZE, history_bytes, 0,
	    64 * 1024 * 1024),
	K("chat", "who_max", CONFIG_UINT, who_max, 1, 100000),
	K("chat", "default_room", CONFIG_ROOM, default_room, 0, 0),
	K("chat", "rooms", CONFIG_ROOMS, rooms, 0, 0),
	K("chat", "max_rooms", CONFIG_UINT, max_rooms, 1, 100000),
	K("chat", "announce_room_moves", CONFIG_BOOL, announce_moves, 0, 0),

	K("cluster", "redis", CONFIG_REDIS, cluster_redis, 0, 0),
	K("cluster", "password", CONFIG_STRING, cluster_password, 1, 255),
	K("cluster", "password_file", CONFIG_SECRET_FILE, cluster_password, 0,
	    0),
	K("cluster", "channel", CONFIG_NODE, cluster_channel, 0, 0),
	K("cluster", "node", CONFIG_NODE, cluster_node, 0, 0),
	K("cluster", "presence_ttl", CONFIG_UINT, cluster_ttl, 3, 3600),
	K("cluster", "reply_timeout", CONFIG_UINT, cluster_timeout, 1, 300),

	K("control", "socket", CONFIG_PATH, control_socket, 0, 107),
	K("control", "group", CONFIG_GROUP, control_group, 1, 255),
	K("control", "state", CONFIG_PATH, state, 0, 4095),
	K("control", "output_limit", CONFIG_SIZE, control_output, 64 * 1024,
	    1ULL << 32),
	K("control", "idle_timeout", CONFIG_UINT, control_idle, 1, 86400),

	K("accounts", "accounts", CONFIG_ACCOUNTS, accounts, 0, 0),
	K("accounts", "operators", CONFIG_NAMES, operators, 0, 0),
	K("accounts", "allow_plaintext_passwords", CONFIG_BOOL,
	    plaintext_passwords, 0, 0),
	K("accounts", "hash_cost", CONFIG_UINT, hash_cost, 1, 11),
	K("accounts", "hash_workers", CONFIG_UINT, hash_workers, 1, 64),
	K("accounts", "hash_queue", CONFIG_UINT, hash_queue, 1, 100000),
	K("accounts", "password_min", CONFIG_UINT, password_min, 1,
	    PASSWORD_MAX),
	K("accounts", "login_attempts", CONFIG_UINT, login_attempts, 1, 1000),
	K("accounts", "login_interval", CONFIG_UINT, login_interval, 1,
	    86400),
	K("accounts", "login_tracked", CONFIG_UINT, login_tracked, 16,
	    10000000),
	K("accounts", "max_certfps", CONFIG_UINT, max_certfps, 1,
	    ACCOUNT_CERTFPS_MAX),

	K("metrics", "listen", CONFIG_LISTEN, metrics_listen, 0, 0),
#undef K
};

#define CONFIG_LINE_MAX	200	/* INI_MAX_LINE of Debian's libinih */

/* State of one parse. */
struct config_parse {
	struct config	*config;
	const char	*file;
	FILE		*f;		/* read from f, or from text */
	const char	*text;
	int		 line;		/* lines read so far */
	int		 error_line;	/* of error; 0: none or no line */
	char		*error;		/* the earliest error, without FILE:LINE */
	int		 motd_seen;	/* motd replaced the default once */
	int		 password_line;	/* password or password_file */
	int		 tls_line;	/* where certificate was set */
	int		 motd_file_seen; /* motd_file wins over motd */
	int		 user_line;	/* where user and group were set */
	int		 group_line;
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->port = 7777;
	c->name = xstrdup("chatd");
	c->mode = MODE_CHAT;
	c->log_level = LOG_LEVEL_INFO;
	c->max_clients = 10000;
	c->max_per_address = 32;
	c->max_line = 4096;
	c->output_hard = 1024 * 1024;
	c->output_soft = 256 * 1024;
	c->output_soft_seconds = 10;
	c->rate_lines = 10;
	c->rate_burst = 50;
	c->idle_timeout = 0;
	c->keepalive = 60;
	c->shutdown_grace = 2;
	c->handover_drain_ms = 500;
	c->handover_timeout = 10;
	c->announce = 1;
	c->show_addresses = 0;
	c->history = 20;
	c->history_bytes = 64 * 1024;
	c->who_max = 100;
	c->default_room = xstrdup("#lobby");
	c->max_rooms = 100;
	c->announce_moves = 1;
	c->cluster_ttl = 15;
	c->cluster_timeout = 10;
	c->ipv6_prefix = 64;
	c->proxy_timeout = 5;
	c->tls_port = 7778;
	c->tls_min_version = TLS1_2_VERSION;
	c->tls_timeout = 10;
	c->control_socket = xstrdup(CHATD_CONTROL);
	c->state = xstrdup(CHATD_STATE);
	c->control_output = 64 * 1024 * 1024;
	c->control_idle = 60;
	c->accounts = ACCOUNTS_AUTO;
	c->hash_cost = 5;
	c->hash_workers = 2;
	c->hash_queue = 64;
	c->password_min = 8;
	c->login_attempts = 5;
	c->login_interval = 60;
	c->login_tracked = 65536;
	c->max_certfps = 8;
}

static void
config_free_names(char ***list)
{
	char	**p;

	for (p = *list; p != NULL && *p != NULL; p++)
		free(*p);
	free(*list);
	*list = NULL;
}

static void
config_free_rooms(struct config *c)
{
	char	**p;

	for (p = c->rooms; p != NULL && *p != NULL; p++)
		free(*p);
	free(c->rooms);
	c->rooms = NULL;
}

void
config_free(struct config *c)
{
	free(c->path);
	free(c->addrs);
	free(c->name);
	free(c->user);
	free(c->group);
	free(c->motd);
	free(c->motd_file);
	free(c->cluster_redis);
	free(c->cluster_host);
	free(c->cluster_path);
	free(c->cluster_password);
	free(c->cluster_channel);
	free(c->cluster_node);
	free(c->control_socket);
	free(c->control_group);
	free(c->state);
	free(c->metrics_listen);
	free(c->proxies);
	free(c->default_room);
	config_free_rooms(c);
	config_free_names(&c->operators);
	free(c->tls_addrs);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ca);
	memset(c, 0, sizeof *c);
}

/* Records an error on the current line, keeping the earliest.  Returns 0. */
static int
config_error(struct config_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
config_error(struct config_parse *p, const char *fmt, ...)
{
	va_list	ap;

	if (p->error != NULL)
		return (0);
	va_start(ap, fmt);
	if (vasprintf(&p->error, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	p->error_line = p->line;
	return (0);
}

/*
 * Steps *s to the next word of a list (words are separated by blanks and
 * commas) and sets *len to its length.  Returns 0 at the end.
 */
static int
config_word(const char **s, size_t *len)
{
	*s += strspn(*s, " \t,");
	*len = strcspn(*s, " \t,");
	return (**s != '\0');
}

/* Is there a key in section `name`? */
static int
config_known_section(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		if (strlen(config_keys[i].section) == len &&
		    strncmp(config_keys[i].section, name, len) == 0)
			return (1);
	}
	return (0);
}

/* Checks a "[section]" line where it stands. */
static void
config_check_section(struct config_parse *p, const char *line)
{
	const char	*end;

	line += strspn(line, " \t");
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	if (!config_known_section(line + 1, (size_t)(end - line - 1)))
		config_error(p, "unknown section [%.*s]",
		    (int)(end - line - 1), line + 1);
}

/*
 * inih's line reader (fgets semantics): counts lines, refuses one longer
 * than inih can hold, checks section headers.
 */
static char *
config_reader(char *buf, int size, void *arg)
{
	struct config_parse	*p = arg;
	size_t			 len;
	int			 ch;

	if (p->f != NULL) {
		if (fgets(buf, size, p->f) == NULL)
			return (NULL);
		len = strlen(buf);
		if (len > 0 && buf[len - 1] != '\n' && !feof(p->f)) {
			p->line++;
			config_error(p, "line longer than %d bytes",
			    CONFIG_LINE_MAX - 1);
			while ((ch = fgetc(p->f)) != EOF && ch != '\n')
				;
			buf[0] = '\0';
			return (buf);
		}
	} else {
		if (*p->text == '\0')
			return (NULL);
		len = strcspn(p->text, "\n");
		if (len >= (size_t)size - 1) {
			p->line++;
			config_error(p, "line longer than %d bytes",
			    CONFIG_LINE_MAX - 1);
			p->text += len + (p->text[len] == '\n');
			buf[0] = '\0';
			return (buf);
		}
		memcpy(buf, p->text, len);
		buf[len] = '\0';
		p->text += len + (p->text[len] == '\n');
	}
	p->line++;
	config_check_section(p, buf);
	return (buf);
}

/* Parses one numeric address ("1.2.3.4", "::1", "[::1]"). */
static int
config_parse_addr(const char *s, size_t len, struct config_addr *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;
	char			 buf[NETADDR_MAX + 2];

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof buf)
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->sslen = sizeof *sin;
	} else if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		a->sslen = sizeof *sin6;
	} else
		return (-1);
	/* Canonical text, as the log and the listeners show it. */
	if (inet_ntop(a->ss.ss_family, a->ss.ss_family == AF_INET ?
	    (void *)&sin->sin_addr : (void *)&sin6->sin6_addr, a->text,
	    sizeof a->text) == NULL)
		return (-1);
	return (0);
}

static int
config_parse_bind(struct config_parse *p, const char *value,
    struct config_addr **into, size_t *count)
{
	struct config_addr	*addrs = NULL, a;
	size_t			 n = 0, len, i;
	const char		*s = value;

	while (config_word(&s, &len)) {
		if (config_parse_addr(s, len, &a) != 0) {
			free(addrs);
			return (config_error(p, "bind: '%.*s' is not a numeric "
			    "IPv4 or IPv6 address", (int)len, s));
		}
		for (i = 0; i < n; i++) {
			if (strcmp(addrs[i].text, a.text) == 0)
				break;
		}
		if (i == n) {
			addrs = xrealloc(addrs, (n + 1) * sizeof *addrs);
			addrs[n++] = a;
		}
		s += len;
	}
	if (n == 0)
		return (config_error(p, "bind: no address given"));
	free(*into);
	*into = addrs;
	*count = n;
	return (1);
}

static int
config_parse_number(struct config_parse *p, const struct config_key *k,
    const char *value, int sizes, unsigned long long *out)
{
	unsigned long long	 v;
	char			*end;

	if (!isdigit((unsigned char)*value))
		return (config_error(p, "%s: '%s' is not a number", k->name,
		    value));
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno == ERANGE)
		return (config_error(p, "%s: '%s' is too large", k->name,
		    value));
	if (sizes && (*end == 'k' || *end == 'K' || *end == 'm' ||
	    *end == 'M')) {
		unsigned long long mult = (*end == 'k' || *end == 'K') ?
		    1024 : 1024 * 1024;

		if (v > k->max / mult)
			return (config_error(p, "%s: %s is out of range (%llu "
			    "to %llu)", k->name, value, k->min, k->max));
		v *= mult;
		end++;
	}
	if (*end != '\0')
		return (config_error(p, "%s: '%s' is not a%s number", k->name,
		    value, sizes ? " size (bytes, or with K or M)" : ""));
	if (v < k->min || v > k->max)
		return (config_error(p, "%s: %s is out of range (%llu to %llu)",
		    k->name, value, k->min, k->max));
	*out = v;
	return (1);
}

static int
config_bool(const char *value, int *out)
{
	static const char	*yes[] = { "yes", "true", "on", "1" };
	static const char	*no[] = { "no", "false", "off", "0" };
	size_t			 i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = 1;
			return (1);
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = 0;
			return (1);
		}
	}
	return (0);
}

static int
config_parse_bool(struct config_parse *p, const struct config_key *k,
    const char *value, int *out)
{
	if (config_bool(value, out))
		return (1);
	return (config_error(p, "%s: '%s' is not yes or no", k->name, value));
}

static void
config_append_line(char **s, const char *line)
{
	char	*n;

	if (*s == NULL || **s == '\0') {
		free(*s);
		*s = xstrdup(line);
		return;
	}
	xasprintf(&n, "%s\n%s", *s, line);
	free(*s);
	*s = n;
}

/* Node names: letters, digits and . _ - :, as host names and pids give. */
int
config_valid_node(const char *s)
{
	size_t	len = strlen(s);

	return (len > 0 && len <= CONFIG_NODE_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-:") == len);
}

#ifdef HAVE_HIREDIS
/* redis = host:port, [v6]:port, or /path/to/unix.socket */
static int
config_parse_redis(struct config_parse *p, const char *value)
{
	struct config	*c = p->config;
	const char	*colon, *host = value;
	size_t		 hlen;
	char		*end;
	long		 port;

	free(c->cluster_host);
	free(c->cluster_path);
	c->cluster_host = c->cluster_path = NULL;
	if (value[0] == '/') {
		c->cluster_path = xstrdup(value);
	} else {
		if ((colon = strrchr(value, ':')) == NULL)
			return (config_error(p, "redis: '%s' is not host:port or "
			    "a socket path", value));
		hlen = (size_t)(colon - value);
		if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']') {
			host++;
			hlen -= 2;
		}
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (hlen == 0 || *end != '\0' || colon[1] == '\0' ||
		    port < 1 || port > 65535)
			return (config_error(p, "redis: '%s' is not host:port "
			    "with a port from 1 to 65535", value));
		c->cluster_host = xmalloc(hlen + 1);
		memcpy(c->cluster_host, host, hlen);
		c->cluster_host[hlen] = '\0';
		c->cluster_port = (uint16_t)port;
	}
	free(c->cluster_redis);
	c->cluster_redis = xstrdup(value);
	return (1);
}
#endif

/*
 * Reads a secret (password_file) now: its first line, which must be
 * printable and not empty.  The file may be a systemd credential
 * (LoadCredential=, then $CREDENTIALS_DIRECTORY/NAME).
 */
static int
config_read_secret(struct config_parse *p, const struct config_key *k,
    const char *path, char **field)
{
	FILE	*f;
	char	 buf[CONFIG_SECRET_MAX + 2];
	size_t	 n, i;

	if ((f = fopen(path, "r")) == NULL)
		return (config_error(p, "%s: cannot read %s: %s", k->name, path,
		    strerror(errno)));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	if (n == 0 || n > CONFIG_SECRET_MAX)
		return (config_error(p, "%s: %s must hold 1 to %d bytes on its "
		    "first line", k->name, path, CONFIG_SECRET_MAX));
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return (config_error(p, "%s: %s holds a control "
			    "character", k->name, path));
	}
	free(*field);
	*field = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return (1);
}

/* rooms = room names, blank-separated; a room named twice is one. */
static int
config_parse_rooms(struct config_parse *p, const struct config_key *k,
    const char *value)
{
	struct config	*c = p->config;
	char		**list = NULL, key[ROOM_NAME_LEN + 2], other[ROOM_NAME_LEN + 2];
	const char	*s = value;
	size_t		 n = 0, len, i;

	while (config_word(&s, &len)) {
		if (!room_valid(s, len)) {
			for (i = 0; i < n; i++)
				free(list[i]);
			free(list);
			return (config_error(p, "%s: '%.*s' is not a room name: "
			    "# and 1 to %d letters, digits, -, _ or .",
			    k->name, (int)len, s, ROOM_NAME_LEN));
		}
		list = xrealloc(list, (n + 2) * sizeof *list);
		list[n] = xmalloc(len + 1);
		memcpy(list[n], s, len);
		list[n][len] = '\0';
		room_key(list[n], key);
		for (i = 0; i < n; i++) {
			room_key(list[i], other);
			if (strcmp(key, other) == 0)
				break;
		}
		if (i < n)
			free(list[n]);
		else
			n++;
		list[n] = NULL;
		s += len;
	}
	config_free_rooms(c);
	c->rooms = list;
	return (1);
}

/* operators = names (name.c's rule), blank-separated. */
static int
config_parse_names(struct config_parse *p, const struct config_key *k,
    const char *value, char ***field)
{
	char		**list = NULL;
	const char	*s = value;
	size_t		 n = 0, len;

	while (config_word(&s, &len)) {
		if (!name_valid(s, len)) {
			list = xrealloc(list, (n + 1) * sizeof *list);
			list[n] = NULL;
			config_free_names(&list);
			return (config_error(p, "%s: '%.*s' is not a name: 1 "
			    "to %d letters, digits, _, - or .", k->name,
			    (int)len, s, NAME_LEN));
		}
		list = xrealloc(list, (n + 2) * sizeof *list);
		list[n] = xmalloc(len + 1);
		memcpy(list[n], s, len);
		list[n++][len] = '\0';
		list[n] = NULL;
		s += len;
	}
	config_free_names(field);
	*field = list;
	return (1);
}

/* trusted_proxies = addresses or prefixes (addr.c), blank-separated. */
static int
config_parse_prefixes(struct config_parse *p, const struct config_key *k,
    const char *value)
{
	struct config		*c = p->config;
	struct addr_prefix	*list = NULL;
	char			 word[ADDR_PREFIX_TEXT + 1];
	char			 text[ADDR_PREFIX_TEXT];
	const char		*s = value;
	size_t			 n = 0, len;

	while (config_word(&s, &len)) {
		if (len >= sizeof word)
			len = sizeof word - 1;
		memcpy(word, s, len);
		word[len] = '\0';
		list = xrealloc(list, (n + 1) * sizeof *list);
		if (addr_parse_prefix(word, &list[n], text) != 0) {
			free(list);
			return (config_error(p, "%s: '%s' is not an address or "
			    "a prefix (192.0.2.0/24, 2001:db8::/64)", k->name,
			    word));
		}
		n++;
		s += strcspn(s, " \t,");
	}
	free(c->proxies);
	c->proxies = list;
	c->nproxies = n;
	return (1);
}

/* listen = address:port, [v6]:port; empty: off. */
static int
config_parse_listen(struct config_parse *p, const struct config_key *k,
    const char *value)
{
	struct config	*c = p->config;
	const char	*colon;
	char		*end;
	long		 port;

	free(c->metrics_listen);
	c->metrics_listen = NULL;
	if (*value == '\0')
		return (1);
	if ((colon = strrchr(value, ':')) == NULL ||
	    config_parse_addr(value, (size_t)(colon - value),
	    &c->metrics_addr) != 0)
		return (config_error(p, "%s: '%s' is not a numeric address "
		    "and port (127.0.0.1:9177, [::1]:9177)", k->name, value));
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return (config_error(p, "%s: '%s' needs a port from 1 to 65535",
		    k->name, value));
	if (c->metrics_addr.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&c->metrics_addr.ss)->sin_port =
		    htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&c->metrics_addr.ss)->sin6_port =
		    htons((uint16_t)port);
	c->metrics_listen = xstrdup(value);
	return (1);
}

/* Reads motd_file now, so that a missing file is a config error. */
static int
config_read_motd(struct config_parse *p, const char *path)
{
	struct config	*c = p->config;
	FILE		*f;
	char		*buf;
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL)
		return (config_error(p, "motd_file: cannot read %s: %s", path,
		    strerror(errno)));
	buf = xmalloc(MOTD_FILE_MAX + 1);
	n = fread(buf, 1, MOTD_FILE_MAX + 1, f);
	if (ferror(f) || n > MOTD_FILE_MAX) {
		fclose(f);
		free(buf);
		return (config_error(p, "motd_file: %s: %s", path,
		    n > MOTD_FILE_MAX ? "larger than 64 KiB" : "read error"));
	}
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	free(c->motd_file);
	c->motd_file = xstrdup(path);
	free(c->motd);
	c->motd = buf;
	p->motd_seen = p->motd_file_seen = 1;
	return (1);
}

static int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse		*p = arg;
	struct config			*c = p->config;
	const struct config_key		*k = NULL;
	struct stat			 sb;
	void				*field;
	unsigned long long		 v = 0;
	size_t				 i;
	int				 known = 0, level;

	for (i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		if (strcmp(config_keys[i].section, section) != 0)
			continue;
		known = 1;
		if (strcmp(config_keys[i].name, name) == 0) {
			k = &config_keys[i];
			break;
		}
	}
	if (!known)
		return (config_error(p, "unknown section [%s]", section));
	/* (Reported at its header line by config_reader() already.) */
	if (k == NULL)
		return (config_error(p, "unknown key '%s' in section [%s]",
		    name, section));
	field = (char *)c + k->offset;

	switch (k->type) {
	case CONFIG_STRING:
		if (field == &c->cluster_password && p->password_line != 0)
			return (config_error(p, "password: password_file is "
			    "set too (line %d); use one", p->password_line));
		if (field == &c->cluster_password)
			p->password_line = p->line;
		if (field == &c->user)
			p->user_line = p->line;
		else if (field == &c->group)
			p->group_line = p->line;
		if (strlen(value) < k->min || strlen(value) > k->max)
			return (config_error(p, "%s: must be %llu to %llu "
			    "characters", k->name, k->min, k->max));
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_UINT:
	case CONFIG_PORT:
	case CONFIG_SIZE:
		if (!config_parse_number(p, k, value, k->type == CONFIG_SIZE,
		    &v))
			return (0);
		if (k->type == CONFIG_PORT)
			*(uint16_t *)field = (uint16_t)v;
		else if (k->type == CONFIG_SIZE)
			*(size_t *)field = (size_t)v;
		else
			*(unsigned *)field = (unsigned)v;
		return (1);
	case CONFIG_BOOL:
		return (config_parse_bool(p, k, value, (int *)field));
	case CONFIG_BIND:
		if (field == &c->tls_addrs)
			return (config_parse_bind(p, value, &c->tls_addrs,
			    &c->tls_naddrs));
		return (config_parse_bind(p, value, &c->addrs, &c->naddrs));
	case CONFIG_PREFIXES:
		return (config_parse_prefixes(p, k, value));
	case CONFIG_FILE:
		if (field == &c->tls_cert)
			p->tls_line = p->line;
		if (access(value, R_OK) != 0)
			return (config_error(p, "%s: cannot read %s: %s",
			    k->name, value, strerror(errno)));
		if (stat(value, &sb) == 0 && !S_ISREG(sb.st_mode))
			return (config_error(p, "%s: %s is not a file",
			    k->name, value));
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_ROOM:
		if (!room_valid(value, strlen(value)))
			return (config_error(p, "%s: '%s' is not a room name: "
			    "# and 1 to %d letters, digits, -, _ or .", k->name,
			    value, ROOM_NAME_LEN));
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_ROOMS:
		return (config_parse_rooms(p, k, value));
	case CONFIG_NAMES:
		return (config_parse_names(p, k, value, (char ***)field));
	case CONFIG_ACCOUNTS:
		if (strcasecmp(value, "auto") == 0)
			c->accounts = ACCOUNTS_AUTO;
		else if (!config_bool(value, &c->accounts))
			return (config_error(p, "%s: '%s' is not yes, no or "
			    "auto", k->name, value));
		return (1);
	case CONFIG_TLSVER:
		if (strcmp(value, "1.2") == 0)
			c->tls_min_version = TLS1_2_VERSION;
		else if (strcmp(value, "1.3") == 0)
			c->tls_min_version = TLS1_3_VERSION;
		else
			return (config_error(p, "%s: '%s' is not 1.2 or 1.3 "
			    "(TLS 1.0 and 1.1 are never offered)", k->name,
			    value));
		return (1);
	case CONFIG_MODE:
		if (strcasecmp(value, "chat") == 0)
			c->mode = MODE_CHAT;
		else if (strcasecmp(value, "raw") == 0)
			c->mode = MODE_RAW;
		else
			return (config_error(p, "mode: '%s' is not chat or raw",
			    value));
		return (1);
	case CONFIG_LOGLEVEL:
		if ((level = log_parse_level(value)) < 0)
			return (config_error(p, "log_level: '%s' is not one of "
			    "error, warning, notice, info, debug", value));
		c->log_level = level;
		return (1);
	case CONFIG_MOTD:
		if (p->motd_file_seen)
			return (1);	/* motd_file overrides motd */
		if (!p->motd_seen) {
			free(c->motd);
			c->motd = NULL;
			p->motd_seen = 1;
		}
		config_append_line(&c->motd, value);
		return (1);
	case CONFIG_MOTD_FILE:
		return (config_read_motd(p, value));
	case CONFIG_REDIS:
#ifdef HAVE_HIREDIS
		return (config_parse_redis(p, value));
#else
		return (config_error(p, "redis: this chatd was built without "
		    "hiredis, so [cluster] is not available"));
#endif
	case CONFIG_NODE:
		/* Names that go into Redis keys and patterns: no globs. */
		if (!config_valid_node(value))
			return (config_error(p, "%s: '%s' must be 1 to %d "
			    "letters, digits, '.', '_', '-' or ':'", k->name,
			    value, CONFIG_NODE_MAX));
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_PATH:
		if (field == &c->control_socket)
			c->control_set = 1;
		else if (field == &c->state)
			c->state_set = 1;
		free(*(char **)field);
		*(char **)field = NULL;
		if (*value == '\0')
			return (1);	/* empty: none */
		if (value[0] != '/' || strlen(value) > k->max)
			return (config_error(p, "%s: '%s' is not an absolute "
			    "path of at most %llu bytes (or empty for none)",
			    k->name, value, k->max));
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_GROUP:
		if (getgrnam(value) == NULL)
			return (config_error(p, "%s: no such group '%s'",
			    k->name, value));
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return (1);
	case CONFIG_SECRET_FILE:
		if (p->password_line != 0)
			return (config_error(p, "password_file: password is "
			    "set too (line %d); use one", p->password_line));
		p->password_line = p->line;
		return (config_read_secret(p, k, value, (char **)field));
	case CONFIG_LISTEN:
		return (config_parse_listen(p, k, value));
	}
	return (config_error(p, "%s: unhandled type", k->name));
}

/*
 * The most a newcomer is sent on joining: the welcome line, the motd (a
 * "*** " and CRLF a line) and the replayed history.
 */
static size_t
config_greeting(const struct config *c)
{
	size_t		 n = CHAT_WELCOME_MAX + c->history_bytes;
	const char	*p;

	if (c->motd != NULL) {
		n += strlen(c->motd) + 6;
		for (p = c->motd; (p = strchr(p, '\n')) != NULL; p++)
			n += 6;
	}
	return (n);
}

/* The rooms that always exist: the default room and those of rooms. */
static unsigned
config_nrooms(const struct config *c)
{
	char		**p, a[ROOM_NAME_LEN + 2], b[ROOM_NAME_LEN + 2];
	unsigned	 n = 1;

	room_key(c->default_room, a);
	for (p = c->rooms; p != NULL && *p != NULL; p++) {
		room_key(*p, b);
		n += strcmp(a, b) != 0;
	}
	return (n);
}

/* Checks what no single key can. */
static int
config_validate(struct config_parse *p)
{
	struct config	*c = p->config;

	/* Accounts are checked now, not after the sockets are open. */
	if (c->user != NULL && getpwnam(c->user) == NULL) {
		p->line = p->user_line;
		return (config_error(p, "user: no such user '%s'", c->user));
	}
	if (c->group != NULL && getgrnam(c->group) == NULL) {
		p->line = p->group_line;
		return (config_error(p, "group: no such group '%s'",
		    c->group));
	}
	p->line = 0;	/* no single line is to blame */
	if ((c->cluster_channel != NULL || c->cluster_node != NULL ||
	    c->cluster_password != NULL) && c->cluster_redis == NULL)
		return (config_error(p, "[cluster] needs redis = host:port or "
		    "a socket path"));
	if (c->output_hard != 0 && c->output_soft > c->output_hard)
		return (config_error(p, "output_soft_limit (%zu) is above "
		    "output_hard_limit (%zu)", c->output_soft,
		    c->output_hard));
	if (config_nrooms(c) > c->max_rooms)
		return (config_error(p, "max_rooms (%u) is less than the rooms "
		    "that always exist (%u: default_room and rooms)",
		    c->max_rooms, config_nrooms(c)));
	if (c->proxy_protocol && c->nproxies == 0)
		return (config_error(p, "proxy_protocol = yes needs "
		    "trusted_proxies: the proxies whose headers are believed"));
	if (c->tls_cert == NULL && (c->tls_key != NULL || c->tls_ca != NULL))
		return (config_error(p, "[tls] needs certificate"));
	if (c->tls_cert != NULL && c->tls_key == NULL)
		return (config_error(p, "[tls] certificate needs private_key"));
	if (c->tls_cert != NULL) {
		struct ssl_ctx_st	*ctx;
		char			 err[512];

		if ((ctx = tls_context(c, err, sizeof err)) == NULL) {
			p->line = p->tls_line;
			return (config_error(p, "%s", err));
		}
		tls_context_free(ctx);
	}
	/*
	 * What one command queues at once must fit under the hard limit,
	 * or it drops the client who asked: the welcome, motd and history
	 * of a newcomer, and a page of /who.
	 */
	if (c->output_hard != 0 && config_greeting(c) > c->output_hard)
		return (config_error(p, "history_bytes (%zu) with the welcome "
		    "and motd (%zu bytes) exceeds output_hard_limit (%zu): "
		    "newcomers would be dropped", c->history_bytes,
		    config_greeting(c) - c->history_bytes, c->output_hard));
	if (c->output_hard != 0 && (size_t)c->who_max * CHAT_WHO_LINE_MAX +
	    CHAT_WELCOME_MAX > c->output_hard)
		return (config_error(p, "who_max (%u) pages of up to %u bytes "
		    "a line exceed output_hard_limit (%zu)", c->who_max,
		    CHAT_WHO_LINE_MAX, c->output_hard));
	return (1);
}

static void
config_set_port(struct config_addr *addrs, size_t n, uint16_t port)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (addrs[i].ss.ss_family == AF_INET)
			((struct sockaddr_in *)&addrs[i].ss)->sin_port =
			    htons(port);
		else
			((struct sockaddr_in6 *)&addrs[i].ss)->sin6_port =
			    htons(port);
	}
}

/* Fills in what parsing leaves: default addresses, ports, node name. */
static void
config_finish(struct config *c)
{
	char			 host[CONFIG_NODE_MAX - 8];

	if (c->cluster_redis != NULL) {
		if (c->cluster_channel == NULL)
			c->cluster_channel = xstrdup("chatd");
		if (c->cluster_node == NULL) {
			if (gethostname(host, sizeof host) != 0)
				snprintf(host, sizeof host, "chatd");
			host[sizeof host - 1] = '\0';
			host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] = '\0';
			xasprintf(&c->cluster_node, "%s:%ld", host,
			    (long)getpid());
		}
	}

	if (c->naddrs == 0) {
		c->addrs = xcalloc(2, sizeof *c->addrs);
		config_parse_addr("0.0.0.0", 7, &c->addrs[0]);
		config_parse_addr("::", 2, &c->addrs[1]);
		c->naddrs = 2;
	}
	config_set_port(c->addrs, c->naddrs, c->port);
	if (c->tls_cert != NULL && c->tls_addrs == NULL) {
		/* TLS listens where the plain listeners do, by default. */
		c->tls_addrs = xcalloc(c->naddrs, sizeof *c->tls_addrs);
		memcpy(c->tls_addrs, c->addrs, c->naddrs * sizeof *c->addrs);
		c->tls_naddrs = c->naddrs;
	}
	config_set_port(c->tls_addrs, c->tls_naddrs, c->tls_port);
}

/*
 * Runs inih over p's input.  Returns 0, or -1 with "FILE[:LINE]: message"
 * in err, reporting the earliest error: ours, or inih's syntax error.
 */
static int
config_parse(struct config_parse *p, char *err, size_t errlen)
{
	int	line;

	line = ini_parse_stream(config_reader, p, config_handler, p);
	if (line == 0 && p->f != NULL && ferror(p->f))
		config_error(p, "read error: %s", strerror(errno));
	if (line > 0 && (p->error == NULL || p->error_line > line)) {
		free(p->error);
		p->error = NULL;
		p->error_line = line;
		config_error(p, "syntax error (expected [section] or "
		    "key = value)");
		p->error_line = line;
	}
	if (p->error == NULL)
		config_validate(p);
	if (p->error == NULL)
		return (0);
	if (p->error_line > 0)
		snprintf(err, errlen, "%s:%d: %s", p->file, p->error_line,
		    p->error);
	else
		snprintf(err, errlen, "%s: %s", p->file, p->error);
	free(p->error);
	return (-1);
}

/*
 * Reads the file at path into c, which holds the defaults.  If required is
 * 0 and the file does not exist, c keeps the defaults and 1 is returned.
 * Returns 0 on success; -1 with "FILE[:LINE]: message" in err otherwise,
 * leaving c to be freed by the caller.
 */
int
config_load(struct config *c, const char *path, int required, char *err,
    size_t errlen)
{
	struct config_parse	 p;
	struct stat		 sb;
	FILE			*f;
	int			 rc;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !required) {
			config_finish(c);
			return (1);
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return (-1);
	}
	memset(&p, 0, sizeof p);
	p.config = c;
	p.file = path;
	p.f = f;
	rc = config_parse(&p, err, errlen);
	fclose(f);
	if (rc != 0)
		return (-1);
	free(c->path);
	c->path = xstrdup(path);
	config_finish(c);
	return (0);
}

/* The same, from a string named `name` in messages (tests, fuzzing). */
int
config_parse_buffer(struct config *c, const char *name, const char *text,
    char *err, size_t errlen)
{
	struct config_parse	p;

	memset(&p, 0, sizeof p);
	p.config = c;
	p.file = name;
	p.text = text;
	if (config_parse(&p, err, errlen) != 0)
		return (-1);
	config_finish(c);
	return (0);
}

/*
 * A reload keeps the running [control] and [metrics] settings too: the
 * socket, the database and the metrics listener are opened at start-up,
 * before privileges are dropped.  Moves old's settings into c.
 */
void
config_keep_control(struct config *c, struct config *old)
{
	int	same;

#define SAME(f) ((c->f == NULL && old->f == NULL) || (c->f != NULL && \
	old->f != NULL && strcmp(c->f, old->f) == 0))
	same = SAME(control_socket) && SAME(state) && SAME(metrics_listen) &&
	    SAME(control_group);
#undef SAME
	if (!same)
		log_notice("reload: [control] and [metrics] changes take "
		    "effect at the next restart");
#define MOVE(f) do { free(c->f); c->f = old->f; old->f = NULL; } while (0)
	MOVE(control_socket);
	MOVE(control_group);
	MOVE(state);
	MOVE(metrics_listen);
#undef MOVE
	c->metrics_addr = old->metrics_addr;
	c->control_set = old->control_set;
	c->state_set = old->state_set;
}

/*
 * A reload keeps the running [cluster] settings: relinking the room under
 * its users is a restart's job.  Moves old's settings into c.  In a
 * cluster the default room is kept too: its lines go on the main channel,
 * where the other nodes look for it, and the room that was the default
 * has never been heard on a channel of its own.
 */
void
config_keep_cluster(struct config *c, struct config *old)
{
	char	a[ROOM_NAME_LEN + 2], b[ROOM_NAME_LEN + 2];
	int	same;

	same = (c->cluster_redis == NULL) == (old->cluster_redis == NULL) &&
	    (c->cluster_redis == NULL ||
	    (strcmp(c->cluster_redis, old->cluster_redis) == 0 &&
	    strcmp(c->cluster_channel, old->cluster_channel) == 0));
	if (!same)
		log_notice("reload: [cluster] changes take effect at the next "
		    "restart");
#define MOVE(f) do { free(c->f); c->f = old->f; old->f = NULL; } while (0)
	MOVE(cluster_redis);
	MOVE(cluster_host);
	MOVE(cluster_path);
	MOVE(cluster_password);
	MOVE(cluster_channel);
	MOVE(cluster_node);
#undef MOVE
	c->cluster_port = old->cluster_port;
	c->cluster_ttl = old->cluster_ttl;
	c->cluster_timeout = old->cluster_timeout;
	if (c->cluster_redis == NULL)
		return;
	room_key(c->default_room, a);
	room_key(old->default_room, b);
	if (strcmp(a, b) != 0)
		log_notice("reload: default_room changes take effect at the "
		    "next restart of a cluster node");
	free(c->default_room);
	c->default_room = xstrdup(old->default_room);
}
