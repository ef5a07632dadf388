/*
 * End-to-end test harness for chatd: start the real daemon on a free
 * loopback port in a private temporary directory and talk to it over TCP.
 *
 * Environment (set by the Makefile):
 *   CHATD_BIN      absolute path of the daemon (required)
 *   CHATD_SRCDIR   top source directory (for tests/configs/)
 *   CHATD_WRAPPER  optional command prefix, split on blanks, put in front
 *                  of the daemon's argv (for example valgrind)
 *
 * Every function here is meant to be called from inside a Check test.
 * Anything that goes wrong (a daemon that does not start, a wait that
 * exceeds its guard, an unexpected line) fails the test with
 * ck_abort_msg() and a message saying what was seen; there are no error
 * returns to check unless a function says so.
 *
 * Timeouts are guards against a hung test, never assertions about speed:
 * the suites also run with the daemon under valgrind.
 */

#ifndef HARNESS_H
#define HARNESS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

/* Guard for one wait in a test (a line, a close, an exit). */
#define HARNESS_WAIT_MS		30000
/* Guard for the daemon to report READY=1 or to exit after SIGTERM. */
#define HARNESS_START_MS	60000
#define HARNESS_STOP_MS		60000

/*
 * Call once from main() before srunner_run_all(); harness_run_suite()
 * does. It creates the directory under $TMPDIR (or /tmp) that holds every
 * test's private directory and arranges for the process that called it to
 * remove the whole tree at exit: Check runs each test in a forked child
 * that leaves with _exit() when an assertion fails, so a failed test
 * cannot clean up after itself.
 * Without harness_init() the root is made lazily by the first test that
 * needs it, and a failing test may leave its directory behind.
 */
void		 harness_init(void);

/*
 * The whole main() of a suite: harness_init(), then run every test of s
 * (CK_NORMAL) and return EXIT_SUCCESS if none failed, else EXIT_FAILURE;
 * but 77 (automake's SKIP) if every test that ran called harness_skip()
 * and none failed. See harness_skip() for how skips are reported.
 */
int		 harness_run_suite(Suite *s);

/*
 * Skips. A test that cannot run here (no ::1, not root, a program that is
 * not installed) calls harness_skip() and returns, or goes on with the
 * part it can run. harness_skip() prints "SKIP: test: why" on stderr and
 * then
 *
 *  - when the environment has CI=true, fails the test with "skipped
 *    under CI=true: test: why": CI must run everything, and a test that
 *    silently stopped running is how a regression gets in;
 *  - otherwise records "test: why" as one line appended (O_APPEND) to the
 *    file "skips" in the harness root.
 *
 * A file because Check runs each test in a forked child, whose memory the
 * runner never sees; harness_init() makes the root in the runner before
 * any test forks, so every child appends to the same file (and with
 * CK_FORK=no the runner appends to it itself). harness_run_suite() reads
 * it after the run. Check has no "skipped" result and automake none for
 * part of a program, so a suite where every test that ran skipped exits
 * 77 (automake says SKIP), and one where only some did prints, after
 * Check's summary (whose percentage counts them as passed),
 *
 *	SKIP: N of M tests skipped (not passed): test: why; ...
 *
 * and exits as its other tests say. Call harness_skip() at most once per
 * test; why is a printf() format.
 */
void		 harness_skip(const char *test, const char *fmt, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

/*
 * For main() when the whole suite cannot run here (a program or a build
 * option missing): prints "SKIP: suite: why" and returns 77, or under
 * CI=true prints "FAIL: skipped under CI=true: suite: why" and returns 1.
 * main() returns what it returns.
 */
int		 harness_skip_suite(const char *suite, const char *why);

/* Whether the environment has CI=true, which turns skips into failures. */
int		 harness_ci(void);

/* The root directory above; valid until exit. */
const char	*harness_root(void);

/* A fresh private directory under the root; free() the result. */
char		*harness_mkdtemp(const char *tag);

/* Remove a directory tree (best effort). */
void		 harness_rmtree(const char *path);

/*
 * Write body to dir/name (mode 0600); return the malloc'd path of the
 * file.
 */
char		*harness_write_file(const char *dir, const char *name,
		    const char *body);

/*
 * A loopback TCP port that was free a moment ago: bind 127.0.0.1:0, read
 * the port, close. When the host can bind ::1 the port is also checked
 * there. Another process may take it before the daemon does; chatd_start()
 * retries for that reason.
 */
int		 harness_free_port(void);

/*
 * Listen on 127.0.0.1 on a port of the kernel's choice, without
 * SO_REUSEADDR, and return the socket; *port is set to the port. As long as
 * the socket is open, a daemon that tries to bind that port fails.
 */
int		 harness_hold_port(int *port);

/* Whether an AF_INET6 socket can be bound to ::1 on this host. */
int		 harness_have_ipv6(void);

/*
 * Fill *ss with 127.0.0.1:port (AF_INET) or [::1]:port (AF_INET6); its
 * length.
 */
socklen_t	 harness_loopback(int family, int port,
		    struct sockaddr_storage *ss);

/* Path of tests/configs/NAME in the source tree; free() the result. */
char		*harness_config_path(const char *name);

/*
 * The whole file, NUL-terminated (empty if it cannot be read); free() the
 * result.
 */
char		*harness_read_file(const char *path);

/* asprintf() that never returns NULL; free() the result. */
char		*harness_asprintf(const char *fmt, ...)
		    __attribute__((__format__(__printf__, 1, 2)));

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t		 harness_now_ms(void);

/* Milliseconds left until deadline: 0 once it has passed. */
int		 harness_left_ms(int64_t deadline);

/*
 * Sleep for ms. Only to pace what a test sends (to split TCP segments,
 * say), never to wait for the daemon: wait for a line, a notification or
 * a log line instead, or, for state a program leaves without announcing
 * it (a key in Redis), poll it with harness_poll().
 */
void		 harness_pause_ms(int ms);

/*
 * Call cond(arg) every few milliseconds until it returns nonzero (1) or
 * timeout_ms have passed (0). A bounded wait on a condition, for state
 * that a program produces but does not announce; what to wait for is
 * cond, never a time.
 */
int		 harness_poll(int (*cond)(void *), void *arg, int timeout_ms);

/*
 * Whether some line of text matches the POSIX extended regular expression
 * re (^ and $ match at line ends). A bad re fails the test.
 */
int		 harness_match(const char *text, const char *re);

/*
 * Where the program name is: the value of the environment variable env
 * when that is set and not empty (NULL: none is looked at), else the first
 * executable name in a directory of PATH. NULL if there is none, for the
 * caller to harness_skip(); free() the result.
 */
char		*harness_program(const char *name, const char *env);

/* The daemon ------------------------------------------------------------ */

struct chatd {
	pid_t	 pid;			/* -1 once reaped */
	int	 port;
	int	 status;		/* exit status once reaped, or -1 */
	pid_t	 collector;		/* fills notify_log */
	size_t	 notify_off;		/* notify_log read so far */
	char	 dir[PATH_MAX];		/* private directory */
	char	 conf[PATH_MAX];	/* dir/chatd.conf */
	char	 log[PATH_MAX];		/* dir/chatd.log */
	char	 notify_log[PATH_MAX];	/* dir/notify.log */
	char	 notify[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char	*logbuf;		/* last chatd_log() result */
	pid_t	 next_pid;		/* upgrading: the successor, or 0 */
	int	 upgrading;		/* chatd_upgrade_begin() was called */
	int64_t	 upgrade_deadline;
};

/*
 * Start the daemon with "[server]\nbind = 127.0.0.1\nport = N\n" followed
 * by extra (NULL for none; it may add [server] keys or other sections).
 * Returns once the daemon has sent READY=1 on NOTIFY_SOCKET, which it does
 * after its listeners are open. If the daemon exits first (the port may
 * have been taken in a race) it is retried on a new port, five times in
 * all. Never returns NULL.
 */
struct chatd	*chatd_start(const char *extra);

/*
 * As chatd_start(), but body is the whole config file. Every "%d" in it is
 * replaced with the port and "%%" with "%"; nothing else is interpreted.
 */
struct chatd	*chatd_start_conf(const char *body);

/* The substitution chatd_start_conf() makes; free() the result. */
char		*harness_subst_port(const char *tmpl, int port);

/* Send a signal to the daemon (no-op once it has been reaped). */
void		 chatd_kill(struct chatd *d, int sig);

/*
 * Wait up to timeout_ms for the daemon to exit. Returns its exit status,
 * or 128 + signal if it was killed, or -1 if it is still running.
 */
int		 chatd_wait(struct chatd *d, int timeout_ms);

/*
 * Wait up to timeout_ms for a notification holding the line "line" (for
 * example "READY=1" after a SIGHUP) that came after the last one this (or
 * chatd_start()) consumed. Returns 1 if it came, 0 if not. Every datagram
 * is collected by a helper process as soon as it is sent, so the daemon
 * never blocks on a full NOTIFY_SOCKET queue.
 */
int		 chatd_notified(struct chatd *d, const char *line,
		    int timeout_ms);

/*
 * SIGHUP, and wait (guard HARNESS_WAIT_MS each) for the reload's two
 * notifications, RELOADING=1 and then READY=1, which chatd sends whether
 * the reload worked or not; the log says which. A missing one fails the
 * test, quoting the log.
 */
void		 chatd_reload(struct chatd *d);

/*
 * Upgrade the daemon in place: SIGUSR2 makes chatd hand every client over
 * to a new process of the same binary (handover.c).  chatd_upgrade()
 * returns once the old process has exited with status 0 (the status a
 * CHATD_WRAPPER tool such as valgrind reports its findings with; the old
 * process says MAINPID=N first) and the new one has sent READY=1; from then
 * on d->pid is the new process's, and chatd_stop() and the rest act on
 * it.  The old process's exit orphans the new one, so the test process
 * makes itself a child subreaper first (PR_SET_CHILD_SUBREAPER): the new
 * process becomes its child, to wait for like the first.  Anything else
 * (the old process exits with another status, or keeps running: the
 * handover failed) fails the test within HARNESS_START_MS, quoting the
 * log.
 *
 * For a test that keeps its clients busy meanwhile, the same in steps:
 * chatd_upgrade_begin() sends SIGUSR2, and chatd_upgrade_poll() returns 1
 * once the handover is over as above, or 0 at once while it is not.
 */
void		 chatd_upgrade(struct chatd *d);

/*
 * For main() of a suite that upgrades chatd: the successors are exec'd by
 * chatd, not by the harness, so a valgrind CHATD_WRAPPER is given
 * --trace-children=yes, and every one of them runs under valgrind too
 * and reports through its exit status.  Any other wrapper is left alone.
 */
void		 harness_trace_children(void);
void		 chatd_upgrade_begin(struct chatd *d);
int		 chatd_upgrade_poll(struct chatd *d);

/*
 * Stop the daemon: SIGTERM, then wait HARNESS_STOP_MS for it to exit (if it
 * has not, SIGKILL it and fail the test). Removes the private directory,
 * frees d, and returns the exit status (128 + signal if killed by one).
 * The status is what CHATD_WRAPPER tools such as valgrind use to report
 * errors, so tests should end with chatd_stop_ok().
 */
int		 chatd_stop(struct chatd *d);

/*
 * chatd_stop(), failing the test unless the exit status is 0; the failure
 * message quotes the end of the log (where valgrind writes its report).
 */
void		 chatd_stop_ok(struct chatd *d);

/*
 * The daemon's stdout and stderr so far, NUL-terminated. The string is
 * owned by d and valid until the next chatd_log() or chatd_stop().
 */
const char	*chatd_log(struct chatd *d);

/* How often s occurs in the daemon's log so far (overlaps count). */
int		 chatd_log_count(struct chatd *d, const char *s);

/*
 * Wait (guard HARNESS_WAIT_MS) until the daemon's log holds s
 * (chatd_wait_log), holds it n times (chatd_wait_log_n), or has a line
 * matching re as harness_match() does (chatd_wait_log_re). On timeout the
 * test fails, quoting the log.
 */
void		 chatd_wait_log(struct chatd *d, const char *s);
void		 chatd_wait_log_n(struct chatd *d, const char *s, int n);
void		 chatd_wait_log_re(struct chatd *d, const char *re);

/*
 * Run [CHATD_WRAPPER...] CHATD_BIN argv_tail... synchronously (argv_tail
 * is NULL-terminated) with stdout and stderr captured into out (always
 * NUL-terminated, truncated to outlen - 1 bytes). Returns the exit status,
 * or 128 + signal. A run longer than HARNESS_START_MS is killed and fails
 * the test.
 */
int		 chatd_run(char *const argv_tail[], char *out,
		    size_t outlen);

/*
 * chatd_run(), failing the test (naming file:line) unless the exit status
 * is status and the output is exactly want, once every log line's prefix
 * "TIME chatd[PID] " is taken off (see harness_unstamp()). For runs that
 * must fail: the status alone does not say that chatd failed for the
 * right reason.
 */
#define chatd_run_expect(tail, status, want) \
	chatd_run_expect_at(__FILE__, __LINE__, tail, status, want)
void		 chatd_run_expect_at(const char *file, int line,
		    char *const argv_tail[], int status, const char *want);

/*
 * What chatd -h prints (its usage, exit status 0), which a bad command
 * line gets on stderr after getopt's complaint; free() the result.
 */
char		*chatd_usage(void);

/*
 * A copy of text without the prefix "YYYY-MM-DDTHH:MM:SS.mmmZ chatd[PID] "
 * that chatd's log puts at the start of each line outside the journal;
 * other lines are kept as they are. free() the result.
 */
char		*harness_unstamp(const char *text);

/* Running the daemon by hand -------------------------------------------- */

/*
 * For tests that need what chatd_start() does not give: a chosen
 * environment, another program in front of the daemon, a NOTIFY_SOCKET of
 * their own, or another program of the package (chatctl). harness_spawn()
 * runs
 *
 *	[pre...] [CHATD_WRAPPER...] CHATD_BIN tail...
 *
 * or, when bin is set, [pre...] bin tail... (the wrapper is the daemon's),
 * with stdin from /dev/null, stdout on outfd and stderr on errfd (0: on
 * outfd too), and this process's environment less NOTIFY_SOCKET,
 * LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES and the variables named in unset,
 * plus NOTIFY_SOCKET = notify (unless NULL) and then env. setup, unless
 * NULL, runs in the child just before exec(), once stdin, stdout and
 * stderr are in place and every other descriptor below 1024 is closed, so
 * that a descriptor it opens without O_CLOEXEC reaches the daemon (fd 3
 * for socket activation); it may _exit() on failure. It cannot change the
 * daemon's environment with setenv(), since env is built before fork(),
 * but it may rewrite the text of an env string in place (its own pid as
 * LISTEN_PID, say). All lists are NULL-terminated; pre, env and unset may
 * be NULL. The child dies with the test (PR_SET_PDEATHSIG) and is killed
 * at exit if it still runs.
 */
struct harness_exec {
	const char	 *bin;		/* NULL: CHATD_BIN */
	char *const	 *pre;
	char *const	 *tail;
	char *const	 *env;		/* "NAME=value" */
	const char *const *unset;	/* "NAME=" */
	const char	 *notify;
	int		  infd;		/* 0: /dev/null */
	int		  outfd;
	int		  errfd;	/* 0: outfd */
	void		(*setup)(void);
};

pid_t		 harness_spawn(const struct harness_exec *x);

/*
 * Wait up to timeout_ms for *pid, from harness_spawn(), to exit. Returns
 * its exit status (128 + signal if it was killed), or -1 if it is still
 * running. Once it has exited, *pid is -1 and *status holds the status,
 * which later calls return at once. chatd_wait() is this on a struct chatd.
 */
int		 harness_wait(pid_t *pid, int *status, int timeout_ms);

/* Test clients ---------------------------------------------------------- */

/*
 * The welcome line of server for a client called name when others
 * ("no others", "1 other", "2 others", ...) are online.
 */
#define CHATD_WELCOME(server, name, others)				\
	"*** Welcome to " server ", " name ". " others " online; "	\
	"/help lists commands."

struct tc {
	int	 fd;
	int	 eof;		/* the server closed or reset */
	int	 others;	/* count from the welcome line, or -1 */
	char	 name[64];	/* our name, from the welcome line */
	size_t	 len;		/* bytes in buf */
	char	 buf[8192];	/* received, not yet returned */
	char	 line[8192];	/* the last line returned */
	char	 seen[2048];	/* recent lines, for failure messages */
};

/*
 * Connect to 127.0.0.1 and read the welcome line, which must be the first
 * line: "*** Welcome to SERVER, NAME. N others online; /help lists
 * commands." (N may be "no"). Fills in name and others, and leaves the
 * welcome line in c->line until the next tc_* call on c. The parse is
 * lenient about "No"/"no" and "other"/"others"; the exact text is the
 * business of a test, not of every connect.
 */
struct tc	*tc_connect(struct chatd *d);

/*
 * Connect to 127.0.0.1 (AF_INET) or ::1 (AF_INET6) without reading
 * anything (raw mode, refused clients, ...).
 */
struct tc	*tc_connect_raw(struct chatd *d, int family);

/*
 * Connect from the IPv4 address src (another loopback address, say
 * 127.0.0.2; NULL: the kernel's choice) to 127.0.0.1:port, without
 * reading anything. NULL, with errno set, if this host cannot bind src
 * (for the caller to harness_skip()); any other failure fails the test.
 */
struct tc	*tc_dial(int port, const char *src);

/*
 * A client on a descriptor the test already has (one end of a socketpair
 * whose other end is a TLS client program's stdin and stdout, say), named
 * name in failure messages. Nothing is read; tc_close() closes fd.
 */
struct tc	*tc_adopt(int fd, const char *name);

/* Read and parse the welcome line on a client from tc_connect_raw(). */
void		 tc_welcome(struct tc *c);

/*
 * Send bytes, waiting (poll, HARNESS_WAIT_MS) while the socket is full.
 * tc_write() returns 0, or -1 with errno set if the connection is gone;
 * tc_send() and tc_send_bytes() fail the test instead. tc_send() formats
 * like printf() and sends the result as is: the caller adds "\n".
 */
int		 tc_write(struct tc *c, const void *buf, size_t len);
void		 tc_send_bytes(struct tc *c, const void *buf, size_t len);
void		 tc_send(struct tc *c, const char *fmt, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

/*
 * The next line without its CRLF, or NULL on timeout or end of file.
 * Every line from the server must end in CRLF; one that ends in a bare LF
 * fails the test. The string lives in c->line and stays valid until the
 * next tc_* call on c.
 */
char		*tc_line(struct tc *c, int timeout_ms);

/*
 * As tc_line(), but skips server notices (lines starting with "*** ").
 * Returns NULL on timeout or end of file.
 */
char		*tc_chat(struct tc *c, int timeout_ms);

/*
 * Read lines until one starts with prefix (tc_expect) or matches the POSIX
 * extended regular expression re (tc_expect_re; anchor it yourself) and
 * return it as tc_line() does. Fails the test, quoting the lines seen, on
 * timeout or end of file.
 */
char		*tc_expect(struct tc *c, const char *prefix,
		    int timeout_ms);
char		*tc_expect_re(struct tc *c, const char *re,
		    int timeout_ms);

/*
 * Wait for the server to close the connection. Lines that arrive first
 * are discarded. Returns 1 on end of file or reset, 0 on timeout.
 */
int		 tc_closed(struct tc *c, int timeout_ms);

/*
 * Fail the test unless the very next line on c is exactly want
 * (tc_expect_line), or matches the extended regular expression re
 * (tc_expect_line_re; it returns the line, as tc_line() does); unless the
 * next line that is not a server notice ("*** ...") is exactly want
 * (tc_expect_chat); or unless the server closes c before sending another
 * line (tc_expect_eof). Unlike tc_expect() and tc_expect_re(), which skip
 * lines, these check the very next one, so anything extra the daemon sends
 * fails the test. The guard is HARNESS_WAIT_MS; the failure message names
 * the line of the test that expected, and quotes the recent lines.
 */
#define tc_expect_line(c, want) \
	tc_expect_line_at(__FILE__, __LINE__, c, want)
#define tc_expect_line_re(c, re) \
	tc_expect_line_re_at(__FILE__, __LINE__, c, re)
#define tc_expect_chat(c, want) \
	tc_expect_chat_at(__FILE__, __LINE__, c, want)
#define tc_expect_eof(c) \
	tc_expect_eof_at(__FILE__, __LINE__, c)
void		 tc_expect_line_at(const char *file, int line, struct tc *c,
		    const char *want);
char		*tc_expect_line_re_at(const char *file, int line,
		    struct tc *c, const char *re);
void		 tc_expect_chat_at(const char *file, int line, struct tc *c,
		    const char *want);
void		 tc_expect_eof_at(const char *file, int line, struct tc *c);

/* Name c in failure messages from now on (it does not talk to chatd). */
void		 tc_rename(struct tc *c, const char *name);

/* Close with SO_LINGER {1, 0} so the server gets an RST; frees c. */
void		 tc_reset(struct tc *c);

/* Close normally; frees c. NULL is allowed. */
void		 tc_close(struct tc *c);

#endif /* HARNESS_H */
