/*
 * chatctl.c: the operator's client of chatd's control socket, a program
 * of its own over the same library as the daemon.
 *
 * One run is one request and its answer.  The arguments are joined with
 * single spaces into one request line ("json " first with --json), which
 * is checked here with the daemon's own grammar before anything is sent:
 * sanitize_line() then ctlreq_parse(), exactly what chatd does with the
 * line, so that the grammar is written once (ctlreq.c) and a typo gets
 * chatd's reason at once, without a socket.  Then chatctl connects, sends
 * the line, reads until the status line ("ok", or "error " and why),
 * prints the data lines ("| " and text) without their "| " on standard
 * output, and exits 0 (ok), 1 (chatd said no: the reason on standard
 * error), 64 (the request is not one) or 69 (chatd cannot be reached, or
 * did not answer, or answered what is not an answer).  control.c has the
 * protocol; chatctl(8) documents it.
 *
 * A blocking socket and poll(2), not libevent's loop: chatctl has one
 * connection, one request and one thing to wait for at a time, and a loop
 * would only add indirection.  Every wait is bounded by -t: the connect
 * and the send by SO_SNDTIMEO (a Unix socket's connect waits on a full
 * backlog with it), each read by poll().  The answer is read whole before
 * a byte of it is printed, so chatd is drained at once whatever standard
 * output does (a pager, a full pipe): chatctl never holds chatd's output
 * queue, and the loop never waits on chatctl (chatd closes a control
 * connection that leaves its output unread anyway).  The answer is at
 * most [control] output_limit.
 *
 * chatd sanitises what it sends, but what reaches a terminal is checked
 * here too: a control character in an answer is printed as '?'.  JSON is
 * passed through untouched, never parsed: chatctl has no use for its
 * contents, and scripts have jq.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "chatd.h"
#include "sanitize.h"

#define CHATCTL_TIMEOUT		30	/* seconds, default of -t */
#define CHATCTL_TIMEOUT_MAX	86400
#define CHATCTL_READ		65536	/* room made for each read */
#define EX_CHATCTL_REFUSED	1	/* chatd answered "error" */

/* What chatd sent, up to and with the status line. */
struct answer {
	char	*buf;
	size_t	 len;		/* bytes in buf */
	size_t	 size;		/* bytes allocated */
	size_t	 scanned;	/* start of the first line not looked at */
	int	 done;		/* the status line has come: */
	size_t	 status;	/* where it starts in buf */
	size_t	 status_len;	/* its length, without CR LF */
};

static void __attribute__((noreturn))
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: chatctl [-hjV] [-s socket] [-t seconds] command "
	    "[argument ...]\n"
	    "  -s, --socket PATH    chatd's control socket (default %s)\n"
	    "  -t, --timeout SECS   how long chatd may keep chatctl "
	    "waiting (default %d)\n"
	    "  -j, --json           the answer as one JSON document\n"
	    "  -V, --version        print the version and exit\n"
	    "  -h, --help           print this help and exit\n"
	    "commands:\n"
	    "  status | who | rooms | bans | stats | reload\n"
	    "  kick NAME|#ID [REASON]\n"
	    "  ban PATTERN [DURATION] [REASON]    PATTERN: address, "
	    "prefix/bits, name*?\n"
	    "  unban PATTERN\n"
	    "  mute NAME|#ID [DURATION]           DURATION: 30s, 10m, 12h, "
	    "7d, 2w\n"
	    "  unmute NAME|#ID\n"
	    "  announce TEXT\n", CHATD_CONTROL, CHATCTL_TIMEOUT);
	exit(code);
}

/*
 * A usage error: what is wrong, then, if full, the usage; status 64.
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
refuse(int full, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "chatctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (full)
		usage(stderr, EX_USAGE);
	exit(EX_USAGE);
}

/*
 * Joins argv with single spaces, after "json " if json, into line, a
 * request of at most CONTROL_LINE_MAX bytes with its newline, and checks
 * it with chatd's grammar.  line gets it NUL-terminated, without its
 * newline; a request that is not one is a usage error.
 */
static void
chatctl_request(int argc, char **argv, int json,
    char line[CONTROL_LINE_MAX])
{
	struct ctlreq	 r;
	const char	*why;
	char		 copy[SANITIZE_MAX(CONTROL_LINE_MAX) + 1];
	size_t		 len = 0, n, i;
	int		 cmdlen;

	/* The command's name, for messages: its first word, or some of it. */
	cmdlen = (int)strcspn(argv[0], " ");
	if (cmdlen > 32)
		cmdlen = 32;

	if (json) {
		memcpy(line, "json ", 5);
		len = 5;
	}
	for (i = 0; i < (size_t)argc; i++) {
		if (strpbrk(argv[i], "\r\n") != NULL)
			refuse(0, "%.*s: a request is one line, without "
			    "newlines", cmdlen, argv[0]);
		n = strlen(argv[i]);
		/* What is there, a space, this word, and the newline. */
		if (len + (i > 0) + n + 1 > CONTROL_LINE_MAX)
			refuse(0, "%.*s: the request is longer than %d "
			    "bytes", cmdlen, argv[0], CONTROL_LINE_MAX);
		if (i > 0)
			line[len++] = ' ';
		memcpy(line + len, argv[i], n);
		len += n;
	}
	line[len] = '\0';

	/* chatd sanitises a request, then parses it: the same here. */
	n = sanitize_line(line, len, copy);
	copy[n] = '\0';
	if (ctlreq_parse(copy, &r, &why) != 0) {
		if (strcmp(why, "unknown command") == 0)
			refuse(1, "unknown command: %.*s", cmdlen, argv[0]);
		refuse(0, "%.*s: %s", cmdlen, argv[0], why);
	}
}

/* Connects to the control socket at path; exits 69 if it cannot. */
static int
chatctl_connect(const char *path, int timeout)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { timeout, 0 };
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		refuse(0, "%s: a socket path is at most %zu bytes", path,
		    sizeof sun.sun_path - 1);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(EX_OSERR, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
		err(EX_OSERR, "setsockopt");
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return (fd);
	switch (errno) {
	case ENOENT:
		errx(EX_UNAVAILABLE, "cannot connect to %s: no such socket "
		    "(is chatd running, with [control] socket there?)", path);
	case ECONNREFUSED:
		errx(EX_UNAVAILABLE, "cannot connect to %s: connection "
		    "refused (chatd is not running?)", path);
	case EACCES:
	case EPERM:
		errx(EX_UNAVAILABLE, "cannot connect to %s: permission "
		    "denied (root, chatd's user and [control] group may use "
		    "it)", path);
	case EAGAIN:
		errx(EX_UNAVAILABLE, "chatd did not answer within %d "
		    "second%s: %s is not taking connections", timeout,
		    timeout == 1 ? "" : "s", path);
	default:
		err(EX_UNAVAILABLE, "cannot connect to %s", path);
	}
}

/*
 * Sends the request and its newline.  A connection that chatd closed
 * first is no error here: chatd may have said why (a peer it does not
 * permit gets one error line), which the answer will show.
 */
static void
chatctl_send(int fd, const char *line, int timeout)
{
	char		 buf[CONTROL_LINE_MAX];
	size_t		 len = strlen(line) + 1, off = 0;
	ssize_t		 n;

	memcpy(buf, line, len - 1);
	buf[len - 1] = '\n';
	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			errx(EX_UNAVAILABLE, "chatd did not answer within "
			    "%d second%s: it does not take the request",
			    timeout, timeout == 1 ? "" : "s");
		if (n == -1)
			err(EX_UNAVAILABLE, "sending the request");
		off += (size_t)n;
	}
}

/*
 * Looks at the whole lines of a->buf not yet looked at: data lines are
 * passed over, and the first other line is the status line, which ends
 * the answer.
 */
static void
chatctl_scan(struct answer *a)
{
	char	*line, *nl;
	size_t	 len;

	while (!a->done && (nl = memchr(a->buf + a->scanned, '\n', a->len -
	    a->scanned)) != NULL) {
		line = a->buf + a->scanned;
		len = (size_t)(nl - line);
		a->scanned += len + 1;
		if (len >= 2 && line[0] == '|' && line[1] == ' ')
			continue;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		a->status = (size_t)(line - a->buf);
		a->status_len = len;
		a->done = 1;
	}
}

/* Reads until the status line; exits 69 on a timeout or a close. */
static void
chatctl_read(int fd, struct answer *a, int timeout)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	char		*p;
	int		 rc;

	memset(a, 0, sizeof *a);
	while (!a->done) {
		if (a->size - a->len < CHATCTL_READ) {
			if (a->size > SIZE_MAX / 2 - CHATCTL_READ)
				errx(EX_UNAVAILABLE, "chatd's answer is too "
				    "long");
			if ((p = realloc(a->buf, a->size * 2 + CHATCTL_READ)) ==
			    NULL)
				err(EX_OSERR, "chatd's answer");
			a->buf = p;
			a->size = a->size * 2 + CHATCTL_READ;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, timeout * 1000);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1)
			err(EX_UNAVAILABLE, "poll");
		if (rc == 0)
			errx(EX_UNAVAILABLE, "chatd did not answer within %d "
			    "second%s", timeout, timeout == 1 ? "" : "s");
		n = read(fd, a->buf + a->len, a->size - a->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != ECONNRESET)
			err(EX_UNAVAILABLE, "reading chatd's answer");
		if (n <= 0)
			errx(EX_UNAVAILABLE, "chatd closed the connection "
			    "without answering");
		a->len += (size_t)n;
		chatctl_scan(a);
	}
}

/* Writes len bytes of text and a newline, control characters as '?'. */
static void
chatctl_print(FILE *f, const char *text, size_t len)
{
	size_t		i;
	unsigned char	ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)text[i];
		putc(ch < 0x20 || ch == 0x7f ? '?' : ch, f);
	}
	putc('\n', f);
}

/* Prints the data lines of a, and says what the status line says. */
static int
chatctl_answer(struct answer *a)
{
	const char	*line, *nl, *status = a->buf + a->status;
	size_t		 len;

	for (line = a->buf; line < status; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(status - line));
		len = (size_t)(nl - line);
		if (len > 2 && line[len - 1] == '\r')
			len--;
		chatctl_print(stdout, line + 2, len - 2);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EX_IOERR, "standard output");
	if (a->status_len == 2 && memcmp(status, "ok", 2) == 0)
		return (0);
	if (a->status_len > 6 && memcmp(status, "error ", 6) == 0) {
		fprintf(stderr, "chatctl: ");
		chatctl_print(stderr, status + 6, a->status_len - 6);
		return (EX_CHATCTL_REFUSED);
	}
	fprintf(stderr, "chatctl: not an answer from chatd: ");
	chatctl_print(stderr, status, a->status_len > 80 ? 80 :
	    a->status_len);
	return (EX_UNAVAILABLE);
}

/* -t: whole seconds, 1 to a day. */
static int
chatctl_timeout(const char *s)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 1 || v > CHATCTL_TIMEOUT_MAX)
		refuse(0, "-t %s: seconds, 1 to %d", s, CHATCTL_TIMEOUT_MAX);
	return ((int)v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct answer	 a;
	const char	*path = CHATD_CONTROL;
	char		 line[CONTROL_LINE_MAX];
	int		 ch, fd, json = 0, timeout = CHATCTL_TIMEOUT, rc;

	/* "+": options end at the command; its arguments are its own. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hjs:t:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout, 0);
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			break;
		case 't':
			timeout = chatctl_timeout(optarg);
			break;
		case 'V':
			printf("chatctl %s\n", PACKAGE_VERSION);
			return (0);
		case ':':
			refuse(1, "%s needs an argument", argv[optind - 1]);
		default:
			/* --json=yes: an option of ours, given a value. */
			if (optopt != 0 && strchr("hjV", optopt) != NULL)
				refuse(1, "%s: this option takes no argument",
				    argv[optind - 1]);
			if (optopt != 0)
				refuse(1, "unknown option -%c", optopt);
			refuse(1, "unknown option %s", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		refuse(1, "no command");

	chatctl_request(argc, argv, json, line);
	fd = chatctl_connect(path, timeout);
	chatctl_send(fd, line, timeout);
	chatctl_read(fd, &a, timeout);
	close(fd);
	rc = chatctl_answer(&a);
	free(a.buf);
	return (rc);
}
