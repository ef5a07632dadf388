/*
 * End-to-end test harness: runs the real chatd binary and talks to it.
 *
 * A daemon gets a private directory (under a per-program root, see
 * harness_init()), a port that was free a moment ago, a config file, a log
 * file for its stdout and stderr, and an AF_UNIX datagram socket passed as
 * NOTIFY_SOCKET. chatd_start() waits for READY=1 on that socket, which the
 * daemon sends once its listeners are open, so no test polls the port or
 * sleeps. A small forked collector drains the socket into a file the whole
 * time, because the daemon's sendto() blocks once the socket's queue is
 * full and chatd notifies STATUS= on every connect. Picking a port and
 * handing it to another process is racy; a daemon that exits before
 * READY=1 is retried on a new port. harness_spawn() is the one place that
 * forks a daemon: chatd_start(), chatd_run() and the tests that need an
 * environment or a program in front of their own all go through it, and
 * so does the chatctl suite for chatctl.
 *
 * Every wait is poll() with a deadline from CLOCK_MONOTONIC. Deadlines are
 * generous guards (tens of seconds) because the daemon may run under
 * valgrind; nothing here measures how fast the daemon is.
 *
 * Cleanup has three layers because Check runs each test in a forked child
 * and a failed assertion leaves that child with _exit(): (1) chatd_stop()
 * and tc_close() clean up on the normal path; (2) daemons get
 * PR_SET_PDEATHSIG(SIGKILL) and sit in the test's process group, which
 * Check kills after every test, and an atexit() handler kills any still
 * registered (for CK_FORK=no runs); (3) the process that called
 * harness_init() removes the whole temporary tree at exit.
 *
 * Rejected: waiting for the port with connect() probes (a probe is itself
 * a client, and it changes the daemon's client ids); a SIGCHLD handler
 * (process-wide state shared with Check and the tests, where a WNOHANG
 * poll needs none); a thread to drain NOTIFY_SOCKET (threads and Check's
 * fork() per test mix badly, and the build links no thread library).
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
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "death.h"
#include "harness.h"

#define START_ATTEMPTS	5
#define POLL_SLICE_MS	20
#define MAX_CHILDREN	64
#define MAX_WRAPPER	32
#define LOG_TAIL	3000
#define SKIPS_FILE	"skips"	/* in the root: see harness_skip() */

extern char **environ;

static char	 root[PATH_MAX];
static pid_t	 root_owner;
static int	 atexit_done;

/* Daemons and collectors this process started and has not reaped. */
static struct {
	pid_t	pid;
	pid_t	owner;
} children[MAX_CHILDREN];

int64_t
harness_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
harness_left_ms(int64_t deadline)
{
	int64_t	left;

	left = deadline - harness_now_ms();
	if (left < 0)
		return 0;
	if (left > INT32_MAX)
		return INT32_MAX;
	return (int)left;
}

void
harness_pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

int
harness_poll(int (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t	deadline;

	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		if (cond(arg))
			return 1;
		if (harness_left_ms(deadline) == 0)
			return 0;
		poll(NULL, 0, POLL_SLICE_MS);
	}
}

static void *
xcalloc1(size_t size)
{
	void	*p;

	if ((p = calloc(1, size)) == NULL)
		ck_abort_msg("harness: out of memory");
	return p;
}

static char *
xstrdup1(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		ck_abort_msg("harness: out of memory");
	return p;
}

/* vasprintf() that never fails; the length of *sp. */
static int
xvasprintf1(char **sp, const char *fmt, va_list ap)
    __attribute__((__format__(__printf__, 2, 0)));

static int
xvasprintf1(char **sp, const char *fmt, va_list ap)
{
	int	n;

	if ((n = vasprintf(sp, fmt, ap)) < 0)
		ck_abort_msg("harness: out of memory");
	return n;
}

char *
harness_asprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf1(&s, fmt, ap);
	va_end(ap);
	return s;
}

static int
decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Registry of children, for the atexit() safety net. */

static void
child_add(pid_t pid)
{
	int	i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0) {
			children[i].pid = pid;
			children[i].owner = getpid();
			return;
		}
	}
}

static void
child_del(pid_t pid)
{
	int	i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == pid)
			children[i].pid = 0;
	}
}

/* Wait up to timeout_ms for pid; its decoded status, or -1 if running. */
static int
reap(pid_t pid, int timeout_ms)
{
	int64_t	deadline;
	pid_t	r;
	int	st;

	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			child_del(pid);
			return decode_status(st);
		}
		if (r == -1 && errno != EINTR)
			ck_abort_msg("harness: waitpid %ld: %s", (long)pid,
			    strerror(errno));
		if (harness_left_ms(deadline) == 0)
			return -1;
		poll(NULL, 0, POLL_SLICE_MS);
	}
}

static int
rmtree_cb(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
harness_rmtree(const char *path)
{
	nftw(path, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
harness_atexit(void)
{
	int	i, st;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0 || children[i].owner != getpid())
			continue;
		kill(children[i].pid, SIGKILL);
		waitpid(children[i].pid, &st, 0);
		children[i].pid = 0;
	}
	if (root[0] != '\0' && root_owner == getpid())
		harness_rmtree(root);
}

static void
register_atexit(void)
{
	if (!atexit_done) {
		atexit(harness_atexit);
		atexit_done = 1;
	}
}

/*
 * Make the root directory. $TMPDIR is used unless it is so long that a
 * socket path under it would not fit in sun_path.
 */
static int
root_make(void)
{
	const char	*base;

	base = getenv("TMPDIR");
	if (base == NULL || *base == '\0' || strlen(base) > 60)
		base = "/tmp";
	snprintf(root, sizeof root, "%s/chatd-e2e.XXXXXX", base);
	if (mkdtemp(root) == NULL) {
		root[0] = '\0';
		return -1;
	}
	root_owner = getpid();
	register_atexit();
	return 0;
}

void
harness_init(void)
{
	if (root[0] != '\0')
		return;
	if (root_make() == -1) {
		fprintf(stderr, "harness: cannot make a temporary directory: "
		    "%s\n", strerror(errno));
		exit(99);
	}
}

int
harness_ci(void)
{
	const char	*ci = getenv("CI");

	return ci != NULL && strcmp(ci, "true") == 0;
}

void
harness_skip(const char *test, const char *fmt, ...)
{
	va_list	 ap;
	char	*why, *path;
	int	 fd;

	va_start(ap, fmt);
	xvasprintf1(&why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "SKIP: %s: %s\n", test, why);
	if (harness_ci())
		ck_abort_msg("skipped under CI=true: %s: %s", test, why);
	path = harness_asprintf("%s/%s", harness_root(), SKIPS_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd == -1 || dprintf(fd, "%s: %s\n", test, why) < 0)
		ck_abort_msg("harness: cannot record the skip in %s: %s", path,
		    strerror(errno));
	close(fd);
	free(path);
	free(why);
}

int
harness_skip_suite(const char *suite, const char *why)
{
	if (harness_ci()) {
		printf("FAIL: skipped under CI=true: %s: %s\n", suite, why);
		return EXIT_FAILURE;
	}
	printf("SKIP: %s: %s\n", suite, why);
	return 77;
}

/*
 * After the run: the skips the tests recorded, as "SKIP: N of M tests
 * skipped (not passed): test: why; ..." on stdout; their number.
 */
static int
skips_report(int ran)
{
	char	*path, *text, *p, *nl;
	int	 n = 0;

	path = harness_asprintf("%s/%s", root, SKIPS_FILE);
	text = harness_read_file(path);
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	if (n > 0) {
		printf("SKIP: %d of %d test%s skipped (not passed): ", n, ran,
		    ran == 1 ? "" : "s");
		for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			printf("%.*s%s", (int)(nl - p), p, nl[1] != '\0' ?
			    "; " : "\n");
	}
	fflush(stdout);
	free(text);
	free(path);
	return n;
}

int
harness_run_suite(Suite *s)
{
	SRunner	*sr;
	int	 ran, failed, skipped;

	harness_init();
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	ran = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	skipped = skips_report(ran);
	if (failed != 0)
		return EXIT_FAILURE;
	if (ran > 0 && skipped >= ran)
		return 77;
	return EXIT_SUCCESS;
}

const char *
harness_root(void)
{
	if (root[0] == '\0' && root_make() == -1)
		ck_abort_msg("harness: cannot make a temporary directory: %s",
		    strerror(errno));
	return root;
}

char *
harness_mkdtemp(const char *tag)
{
	char	*path;

	path = harness_asprintf("%s/%s.XXXXXX", harness_root(), tag);
	if (mkdtemp(path) == NULL)
		ck_abort_msg("harness: mkdtemp %s: %s", path, strerror(errno));
	return path;
}

char *
harness_write_file(const char *dir, const char *name, const char *body)
{
	char	*path;
	size_t	 len, off;
	ssize_t	 n;
	int	 fd;

	path = harness_asprintf("%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		ck_abort_msg("harness: open %s: %s", path, strerror(errno));
	len = strlen(body);
	for (off = 0; off < len; off += n) {
		n = write(fd, body + off, len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1)
			ck_abort_msg("harness: write %s: %s", path,
			    strerror(errno));
	}
	close(fd);
	return path;
}

char *
harness_config_path(const char *name)
{
	const char	*srcdir;

	if ((srcdir = getenv("CHATD_SRCDIR")) == NULL || *srcdir == '\0')
		ck_abort_msg("harness: CHATD_SRCDIR is not set");
	return harness_asprintf("%s/tests/configs/%s", srcdir, name);
}

int
harness_match(const char *text, const char *re)
{
	regex_t	preg;
	int	r;

	if (regcomp(&preg, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0)
		ck_abort_msg("harness: bad regex '%s'", re);
	r = regexec(&preg, text, 0, NULL, 0) == 0;
	regfree(&preg);
	return r;
}

socklen_t
harness_loopback(int family, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *sin;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = in6addr_loopback;
	return sizeof *sin6;
}

static int
bind_loopback(int family, int port)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			fd, on = 1;

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	len = harness_loopback(family, port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
harness_have_ipv6(void)
{
	int	fd;

	if ((fd = bind_loopback(AF_INET6, 0)) == -1)
		return 0;
	close(fd);
	return 1;
}

int
harness_free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len;
	int			fd, fd6, i, port, v6;

	v6 = harness_have_ipv6();
	for (i = 0; i < 20; i++) {
		if ((fd = bind_loopback(AF_INET, 0)) == -1)
			ck_abort_msg("harness: bind 127.0.0.1:0: %s",
			    strerror(errno));
		len = sizeof sin;
		if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
			ck_abort_msg("harness: getsockname: %s",
			    strerror(errno));
		port = ntohs(sin.sin_port);
		fd6 = -1;
		if (v6 && (fd6 = bind_loopback(AF_INET6, port)) == -1) {
			close(fd);
			continue;
		}
		if (fd6 != -1)
			close(fd6);
		close(fd);
		return port;
	}
	ck_abort_msg("harness: no port free on both 127.0.0.1 and ::1");
	return -1;
}

int
harness_hold_port(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len;
	int			fd;

	if ((fd = bind_loopback(AF_INET, 0)) == -1 || listen(fd, 1) == -1)
		ck_abort_msg("harness: listen on 127.0.0.1:0: %s",
		    strerror(errno));
	len = sizeof sin;
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		ck_abort_msg("harness: getsockname: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Running the daemon ------------------------------------------------------ */

/* Whether kv ("NAME=value") is one of the variables in drop ("NAME="). */
static int
env_listed(const char *kv, const char *const drop[])
{
	int	i;

	for (i = 0; drop != NULL && drop[i] != NULL; i++) {
		if (strncmp(kv, drop[i], strlen(drop[i])) == 0)
			return 1;
	}
	return 0;
}

/* How many entries a NULL-terminated list (or NULL) has. */
static size_t
list_len(char *const list[])
{
	size_t	n = 0;

	while (list != NULL && list[n] != NULL)
		n++;
	return n;
}

/*
 * Everything the child needs is built before fork(): between fork() and
 * exec() it only moves descriptors and calls x->setup.
 */
pid_t
harness_spawn(const struct harness_exec *x)
{
	static const char *const managed[] = {
		"NOTIFY_SOCKET=", "LISTEN_PID=", "LISTEN_FDS=",
		"LISTEN_FDNAMES=", NULL
	};
	const char	 *bin, *wrapper;
	char		**argv, **envp, *words, *w, *save, *notify_env;
	size_t		  i, j;
	sigset_t	  none;
	pid_t		  pid, parent;
	int		  devnull, fd;

	if ((bin = x->bin) == NULL &&
	    ((bin = getenv("CHATD_BIN")) == NULL || *bin == '\0'))
		ck_abort_msg("harness: CHATD_BIN is not set");
	if (access(bin, X_OK) == -1)
		ck_abort_msg("harness: %s%s: %s", x->bin == NULL ?
		    "CHATD_BIN " : "", bin, strerror(errno));

	argv = xcalloc1((list_len(x->pre) + MAX_WRAPPER +
	    list_len(x->tail) + 2) * sizeof *argv);
	i = 0;
	for (j = 0; j < list_len(x->pre); j++)
		argv[i++] = x->pre[j];
	words = NULL;
	if (x->bin == NULL && (wrapper = getenv("CHATD_WRAPPER")) != NULL) {
		words = xstrdup1(wrapper);
		for (w = strtok_r(words, " \t", &save); w != NULL;
		    w = strtok_r(NULL, " \t", &save)) {
			if (i == list_len(x->pre) + MAX_WRAPPER)
				ck_abort_msg("harness: CHATD_WRAPPER has more "
				    "than %d words", MAX_WRAPPER);
			argv[i++] = w;
		}
	}
	argv[i++] = (char *)bin;
	for (j = 0; j < list_len(x->tail); j++)
		argv[i++] = x->tail[j];
	argv[i] = NULL;

	envp = xcalloc1((list_len(environ) + list_len(x->env) + 2) *
	    sizeof *envp);
	notify_env = NULL;
	for (i = j = 0; environ[i] != NULL; i++) {
		if (!env_listed(environ[i], managed) &&
		    !env_listed(environ[i], x->unset))
			envp[j++] = environ[i];
	}
	if (x->notify != NULL) {
		notify_env = harness_asprintf("NOTIFY_SOCKET=%s", x->notify);
		envp[j++] = notify_env;
	}
	for (i = 0; i < list_len(x->env); i++)
		envp[j++] = x->env[i];
	envp[j] = NULL;

	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		ck_abort_msg("harness: /dev/null: %s", strerror(errno));
	parent = getpid();
	register_atexit();
	switch (pid = fork()) {
	case -1:
		ck_abort_msg("harness: fork: %s", strerror(errno));
		break;
	case 0:
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(x->infd != 0 ? x->infd : devnull, 0) == -1 ||
		    dup2(x->outfd, 1) == -1 ||
		    dup2(x->errfd != 0 ? x->errfd : x->outfd, 2) == -1)
			_exit(127);
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		/* Last, so that what it opens (fd 3...) reaches the daemon. */
		if (x->setup != NULL)
			x->setup();
		execvpe(argv[0], argv, envp);
		dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	default:
		break;
	}
	child_add(pid);
	close(devnull);
	free(notify_env);
	free(envp);
	free(words);
	free(argv);
	return pid;
}

char *
harness_program(const char *name, const char *env)
{
	const char	*value, *path;
	char		*dirs, *d, *save, *p;

	if (env != NULL && (value = getenv(env)) != NULL && *value != '\0')
		return access(value, X_OK) == 0 ? xstrdup1(value) : NULL;
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	dirs = xstrdup1(path);
	for (d = strtok_r(dirs, ":", &save); d != NULL;
	    d = strtok_r(NULL, ":", &save)) {
		p = harness_asprintf("%s/%s", d, name);
		if (access(p, X_OK) == 0) {
			free(dirs);
			return p;
		}
		free(p);
	}
	free(dirs);
	return NULL;
}

int
harness_wait(pid_t *pid, int *status, int timeout_ms)
{
	int	st;

	if (*pid <= 0)
		return *status;
	if ((st = reap(*pid, timeout_ms)) == -1)
		return -1;
	*pid = -1;
	*status = st;
	return st;
}

static int
notify_open(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		ck_abort_msg("harness: socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		ck_abort_msg("harness: socket AF_UNIX: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		ck_abort_msg("harness: bind %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Read every queued datagram; 1 if one of them holds the line "want"
 * (datagrams are newline-separated KEY=VALUE lines).
 */
static int
notify_drain(int fd, const char *want)
{
	char	 buf[4096], *line, *save;
	ssize_t	 n;
	int	 found = 0;

	for (;;) {
		n = recv(fd, buf, sizeof buf - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (want != NULL && strcmp(line, want) == 0)
				found = 1;
		}
	}
	return found;
}

char *
harness_read_file(const char *path)
{
	char	*buf;
	size_t	 len = 0, size = 4096;
	ssize_t	 n;
	int	 fd;

	buf = xcalloc1(size);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return buf;
	for (;;) {
		if (size - len < 1024) {
			size *= 2;
			if ((buf = realloc(buf, size)) == NULL)
				ck_abort_msg("harness: out of memory");
		}
		n = read(fd, buf + len, size - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/*
 * Start the process that receives notifications on the socket at sockpath
 * and appends them to logpath, one line per KEY=VALUE. The daemon's
 * sendto() blocks when the socket's queue is full (ten datagrams on many
 * hosts) and chatd reports STATUS= on every connect, so the socket must be
 * drained all the time, not only while a test happens to wait for it.
 */
static pid_t
notify_collect(const char *sockpath, const char *logpath)
{
	char	buf[4096];
	ssize_t	n;
	pid_t	pid, parent;
	int	sfd, lfd, fd;

	sfd = notify_open(sockpath);
	lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (lfd == -1)
		ck_abort_msg("harness: open %s: %s", logpath, strerror(errno));
	parent = getpid();
	register_atexit();
	if ((pid = fork()) == -1)
		ck_abort_msg("harness: fork: %s", strerror(errno));
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		if (getppid() != parent)
			_exit(0);
		/* Hold no copies of the test's client sockets. */
		for (fd = 3; fd < 1024; fd++) {
			if (fd != sfd && fd != lfd)
				close(fd);
		}
		fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) & ~O_NONBLOCK);
		for (;;) {
			n = recv(sfd, buf, sizeof buf - 1, 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				_exit(1);
			buf[n++] = '\n';
			if (write(lfd, buf, n) != n)
				_exit(1);
		}
	}
	child_add(pid);
	close(sfd);
	close(lfd);
	return pid;
}

/*
 * Whether the line "want" was notified since the last line this returned
 * 1 for; if so, consume the notifications up to and including it.
 */
static int
notify_seen(struct chatd *d, const char *want)
{
	char	*text, *line, *nl;
	size_t	 wlen;
	int	 found = 0;

	text = harness_read_file(d->notify_log);
	wlen = strlen(want);
	if (d->notify_off <= strlen(text)) {
		for (line = text + d->notify_off;
		    (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			if ((size_t)(nl - line) == wlen &&
			    memcmp(line, want, wlen) == 0) {
				d->notify_off = nl + 1 - text;
				found = 1;
				break;
			}
		}
	}
	free(text);
	return found;
}

const char *
chatd_log(struct chatd *d)
{
	free(d->logbuf);
	d->logbuf = harness_read_file(d->log);
	return d->logbuf;
}

/* The last LOG_TAIL bytes of the log, for failure messages. */
static const char *
log_tail(struct chatd *d)
{
	const char	*text;
	size_t		 len;

	text = chatd_log(d);
	len = strlen(text);
	return len > LOG_TAIL ? text + len - LOG_TAIL : text;
}

int
chatd_log_count(struct chatd *d, const char *s)
{
	const char	*p;
	int		 n = 0;

	for (p = chatd_log(d); (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

void
chatd_wait_log_n(struct chatd *d, const char *s, int n)
{
	int64_t	deadline;
	int	seen;

	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while ((seen = chatd_log_count(d, s)) < n) {
		/* log_tail() rereads the log: seen is counted before. */
		if (harness_left_ms(deadline) == 0)
			ck_abort_msg("'%s' %d times, not %d, in the log within "
			    "%d ms; its end:\n%s", s, seen, n, HARNESS_WAIT_MS,
			    log_tail(d));
		poll(NULL, 0, POLL_SLICE_MS);
	}
}

void
chatd_wait_log(struct chatd *d, const char *s)
{
	chatd_wait_log_n(d, s, 1);
}

void
chatd_wait_log_re(struct chatd *d, const char *re)
{
	int64_t	deadline;

	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while (!harness_match(chatd_log(d), re)) {
		if (harness_left_ms(deadline) == 0)
			ck_abort_msg("no log line matching '%s' within %d ms; "
			    "its end:\n%s", re, HARNESS_WAIT_MS, log_tail(d));
		poll(NULL, 0, POLL_SLICE_MS);
	}
}

/* Every "%d" in tmpl becomes the port, "%%" becomes "%". */
static char *
conf_subst(const char *tmpl, int port, const char *extra)
{
	char	*out, *p;
	size_t	 size;

	size = 2 * strlen(tmpl) + (extra != NULL ? strlen(extra) : 0) + 64;
	for (p = strstr(tmpl, "%d"); p != NULL; p = strstr(p + 2, "%d"))
		size += 8;
	out = p = xcalloc1(size);
	while (*tmpl != '\0') {
		if (tmpl[0] == '%' && tmpl[1] == 'd') {
			p += sprintf(p, "%d", port);
			tmpl += 2;
		} else if (tmpl[0] == '%' && tmpl[1] == '%') {
			*p++ = '%';
			tmpl += 2;
		} else
			*p++ = *tmpl++;
	}
	if (extra != NULL)
		strcpy(p, extra);
	return out;
}

static void
log_note(int fd, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));

static void
log_note(int fd, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vdprintf(fd, fmt, ap);
	va_end(ap);
}

static void
path_join(char *dst, size_t size, const char *dir, const char *name)
{
	if ((size_t)snprintf(dst, size, "%s/%s", dir, name) >= size)
		ck_abort_msg("harness: path too long: %s/%s", dir, name);
}

static struct chatd *
chatd_launch(const char *tmpl, const char *extra)
{
	struct harness_exec	 x;
	struct chatd		*d;
	char			*dir, *body, *path;
	char			*tail[] = { "-c", NULL, NULL };
	int64_t			 deadline;
	int			 attempt, logfd, st = -1;

	d = xcalloc1(sizeof *d);
	d->pid = -1;
	d->collector = -1;
	d->status = -1;
	dir = harness_mkdtemp("chatd");
	if ((size_t)snprintf(d->dir, sizeof d->dir, "%s", dir) >=
	    sizeof d->dir)
		ck_abort_msg("harness: path too long: %s", dir);
	free(dir);
	path_join(d->conf, sizeof d->conf, d->dir, "chatd.conf");
	path_join(d->log, sizeof d->log, d->dir, "chatd.log");
	path_join(d->notify, sizeof d->notify, d->dir, "notify");
	path_join(d->notify_log, sizeof d->notify_log, d->dir, "notify.log");
	d->collector = notify_collect(d->notify, d->notify_log);
	logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd == -1)
		ck_abort_msg("harness: open %s: %s", d->log, strerror(errno));
	tail[1] = d->conf;
	memset(&x, 0, sizeof x);
	x.tail = tail;
	x.notify = d->notify;
	x.outfd = logfd;

	for (attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
		d->port = harness_free_port();
		body = conf_subst(tmpl, d->port, extra);
		path = harness_write_file(d->dir, "chatd.conf", body);
		free(path);
		free(body);

		d->pid = harness_spawn(&x);
		deadline = harness_now_ms() + HARNESS_START_MS;
		for (;;) {
			if (notify_seen(d, "READY=1")) {
				close(logfd);
				return d;
			}
			if ((st = reap(d->pid, 0)) != -1)
				break;
			if (harness_left_ms(deadline) == 0) {
				kill(d->pid, SIGKILL);
				reap(d->pid, HARNESS_STOP_MS);
				ck_abort_msg("chatd did not send READY=1 "
				    "within %d ms on port %d; log:\n%s",
				    HARNESS_START_MS, d->port, log_tail(d));
			}
			poll(NULL, 0, POLL_SLICE_MS);
		}
		log_note(logfd, "harness: attempt %d on port %d: chatd exited "
		    "with status %d before READY=1\n", attempt, d->port, st);
		d->pid = -1;
	}
	close(logfd);
	ck_abort_msg("chatd exited before READY=1 (%d attempts, last status "
	    "%d); config:\n%s\nlog:\n%s", START_ATTEMPTS, st,
	    harness_read_file(d->conf), log_tail(d));
	return NULL;
}

struct chatd *
chatd_start(const char *extra)
{
	return chatd_launch("[server]\nbind = 127.0.0.1\nport = %d\n",
	    extra != NULL ? extra : "");
}

struct chatd *
chatd_start_conf(const char *body)
{
	return chatd_launch(body, NULL);
}

char *
harness_subst_port(const char *tmpl, int port)
{
	return conf_subst(tmpl, port, NULL);
}

void
chatd_kill(struct chatd *d, int sig)
{
	if (d->pid > 0)
		kill(d->pid, sig);
}

int
chatd_wait(struct chatd *d, int timeout_ms)
{
	return harness_wait(&d->pid, &d->status, timeout_ms);
}

int
chatd_notified(struct chatd *d, const char *line, int timeout_ms)
{
	int64_t	deadline;

	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		if (notify_seen(d, line))
			return 1;
		if (harness_left_ms(deadline) == 0)
			return 0;
		poll(NULL, 0, POLL_SLICE_MS);
	}
}

/*
 * The value of the first line "prefix..." notified since the last line
 * consumed (notify_seen()), consuming up to it; NULL if none yet. free()
 * the result.
 */
static char *
notify_value(struct chatd *d, const char *prefix)
{
	char	*text, *line, *nl, *value = NULL;
	size_t	 plen = strlen(prefix);

	text = harness_read_file(d->notify_log);
	if (d->notify_off <= strlen(text)) {
		for (line = text + d->notify_off;
		    (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			if (strncmp(line, prefix, plen) == 0) {
				*nl = '\0';
				value = xstrdup1(line + plen);
				d->notify_off = nl + 1 - text;
				break;
			}
		}
	}
	free(text);
	return value;
}

void
chatd_upgrade_begin(struct chatd *d)
{
	if (d->upgrading)
		ck_abort_msg("harness: chatd_upgrade_begin() twice");
#ifdef __linux__
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		ck_abort_msg("harness: PR_SET_CHILD_SUBREAPER: %s",
		    strerror(errno));
#endif
	d->upgrading = 1;
	d->next_pid = 0;
	d->upgrade_deadline = harness_now_ms() + HARNESS_START_MS;
	chatd_kill(d, SIGUSR2);
}

int
chatd_upgrade_poll(struct chatd *d)
{
	char	*value, *end;
	long	 pid;
	int	 st;

	if (!d->upgrading)
		ck_abort_msg("harness: chatd_upgrade_poll() without begin");
	if (harness_left_ms(d->upgrade_deadline) == 0)
		ck_abort_msg("chatd did not hand over within %d ms of SIGUSR2 "
		    "(MAINPID %s, the old process %s); log:\n%s",
		    HARNESS_START_MS, d->next_pid != 0 ? "seen" : "not seen",
		    d->pid > 0 ? "still running" : "gone", log_tail(d));
	/* The old process: gone with status 0, or still at it. */
	if (d->pid > 0 && (st = reap(d->pid, 0)) != -1) {
		if (st != 0)
			ck_abort_msg("the old chatd exited with status %d on "
			    "SIGUSR2; log:\n%s", st, log_tail(d));
		d->pid = -1;
	}
	/* The collector may log its MAINPID= after it is gone. */
	if (d->next_pid == 0) {
		if ((value = notify_value(d, "MAINPID=")) == NULL)
			return 0;
		pid = strtol(value, &end, 10);
		if (*end != '\0' || pid <= 1)
			ck_abort_msg("harness: MAINPID=%s", value);
		free(value);
		d->next_pid = (pid_t)pid;
	}
	if (d->pid > 0 || !notify_seen(d, "READY=1"))
		return 0;
	d->pid = d->next_pid;
	d->status = -1;
	child_add(d->pid);
	d->next_pid = 0;
	d->upgrading = 0;
	return 1;
}

void
harness_trace_children(void)
{
	const char	*w = getenv("CHATD_WRAPPER");
	char		*traced;

	if (w == NULL || strncmp(w, "valgrind", 8) != 0 ||
	    (w[8] != ' ' && w[8] != '\t' && w[8] != '\0') ||
	    strstr(w, "--trace-children") != NULL)
		return;
	traced = harness_asprintf("valgrind --trace-children=yes%s", w + 8);
	setenv("CHATD_WRAPPER", traced, 1);
	free(traced);
}

void
chatd_upgrade(struct chatd *d)
{
	chatd_upgrade_begin(d);
	while (!chatd_upgrade_poll(d))
		poll(NULL, 0, POLL_SLICE_MS);
}

/*
 * Stop d and free it; the exit status. With logp, *logp gets a malloc'd
 * copy of the end of the daemon's log, taken before its directory goes.
 */
static int
stop(struct chatd *d, char **logp)
{
	char	*msg = NULL;
	int	 st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		if (chatd_wait(d, HARNESS_STOP_MS) == -1) {
			kill(d->pid, SIGKILL);
			chatd_wait(d, HARNESS_STOP_MS);
			msg = xstrdup1(log_tail(d));
		}
	}
	st = d->status;
	if (logp != NULL)
		*logp = xstrdup1(log_tail(d));
	if (d->collector > 0) {
		kill(d->collector, SIGKILL);
		reap(d->collector, HARNESS_STOP_MS);
	}
	harness_rmtree(d->dir);
	free(d->logbuf);
	free(d);
	if (msg != NULL)
		ck_abort_msg("chatd did not exit within %d ms of SIGTERM; "
		    "log:\n%s", HARNESS_STOP_MS, msg);
	return st;
}

void
chatd_reload(struct chatd *d)
{
	chatd_kill(d, SIGHUP);
	if (!chatd_notified(d, "RELOADING=1", HARNESS_WAIT_MS))
		ck_abort_msg("no RELOADING=1 after SIGHUP; log:\n%s",
		    chatd_log(d));
	if (!chatd_notified(d, "READY=1", HARNESS_WAIT_MS))
		ck_abort_msg("no READY=1 after RELOADING=1; log:\n%s",
		    chatd_log(d));
}

int
chatd_stop(struct chatd *d)
{
	return stop(d, NULL);
}

void
chatd_stop_ok(struct chatd *d)
{
	char	*log;
	int	 st;

	if ((st = stop(d, &log)) != 0)
		ck_abort_msg("chatd exited with status %d, not 0; log:\n%s", st,
		    log);
	free(log);
}

int
chatd_run(char *const argv_tail[], char *out, size_t outlen)
{
	struct harness_exec	 x;
	struct pollfd		 pfd[2];
	char			 buf[4096], *dir, *notify;
	size_t			 len = 0;
	ssize_t			 n;
	int64_t			 deadline;
	pid_t			 pid;
	int			 p[2], nfd, st = -1, ready = 0;

	if (outlen == 0)
		ck_abort_msg("harness: chatd_run needs an output buffer");
	dir = harness_mkdtemp("run");
	notify = harness_asprintf("%s/notify", dir);
	nfd = notify_open(notify);
	if (pipe2(p, O_CLOEXEC) == -1)
		ck_abort_msg("harness: pipe: %s", strerror(errno));
	memset(&x, 0, sizeof x);
	x.tail = argv_tail;
	x.notify = notify;
	x.outfd = p[1];
	pid = harness_spawn(&x);
	close(p[1]);

	deadline = harness_now_ms() + HARNESS_START_MS;
	for (;;) {
		if (notify_drain(nfd, "READY=1")) {
			ready = 1;
			break;
		}
		pfd[0].fd = p[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = nfd;
		pfd[1].events = POLLIN;
		if (harness_left_ms(deadline) == 0)
			break;
		if (poll(pfd, 2, harness_left_ms(deadline)) <= 0)
			continue;
		if (pfd[0].revents == 0)
			continue;
		n = read(p[0], buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < outlen - 1) {
			if ((size_t)n > outlen - 1 - len)
				n = outlen - 1 - len;
			memcpy(out + len, buf, n);
			len += n;
		}
	}
	out[len] = '\0';
	close(p[0]);
	close(nfd);
	harness_rmtree(dir);
	free(notify);
	free(dir);

	if (!ready)
		st = reap(pid, harness_left_ms(deadline));
	if (ready || st == -1) {
		kill(pid, SIGKILL);
		reap(pid, HARNESS_STOP_MS);
		ck_abort_msg("chatd_run: %s (%s); output:\n%s", ready ?
		    "the daemon started (READY=1) instead of exiting" :
		    "still running", argv_tail[0] != NULL ? argv_tail[0] : "",
		    out);
	}
	return st;
}

char *
harness_unstamp(const char *text)
{
	return death_unstamp(text);
}

void
chatd_run_expect_at(const char *file, int line, char *const argv_tail[],
    int status, const char *want)
{
	char	 out[8192], cmd[1024], *got;
	size_t	 i, len = 0;
	int	 st;

	cmd[0] = '\0';
	for (i = 0; argv_tail[i] != NULL && len < sizeof cmd; i++)
		len += snprintf(cmd + len, sizeof cmd - len, " %s",
		    argv_tail[i]);
	st = chatd_run(argv_tail, out, sizeof out);
	got = harness_unstamp(out);
	ck_assert_msg(st == status && strcmp(got, want) == 0, "%s:%d: chatd%s: "
	    "want status %d and output\n'%s'\ngot status %d and output\n'%s'",
	    file, line, cmd, status, want, st, got);
	free(got);
}

char *
chatd_usage(void)
{
	char	 out[4096];
	char	*help[] = { "-h", NULL };
	int	 st;

	st = chatd_run(help, out, sizeof out);
	ck_assert_msg(st == 0 && strncmp(out, "usage: ", 7) == 0, "chatd -h: "
	    "exit %d; output:\n%s", st, out);
	return xstrdup1(out);
}

/* Test clients ---------------------------------------------------------- */

static const char *
tc_who(struct tc *c)
{
	return c->name[0] != '\0' ? c->name : "client";
}

/* Remember line in c->seen, dropping the oldest text when full. */
static void
tc_remember(struct tc *c, const char *line)
{
	size_t	have, add, drop;

	have = strlen(c->seen);
	add = strlen(line) + 1;
	if (add > sizeof c->seen - 1) {
		line += add - (sizeof c->seen / 2);
		add = sizeof c->seen / 2;
	}
	if (have + add > sizeof c->seen - 1) {
		drop = have + add - (sizeof c->seen - 1);
		memmove(c->seen, c->seen + drop, have - drop + 1);
		have -= drop;
	}
	snprintf(c->seen + have, sizeof c->seen - have, "%s\n", line);
}

struct tc *
tc_connect_raw(struct chatd *d, int family)
{
	struct sockaddr_storage	 ss;
	struct pollfd		 pfd;
	struct tc		*c;
	socklen_t		 salen, len;
	int			 on = 1, err;

	c = xcalloc1(sizeof *c);
	c->others = -1;
	c->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd == -1)
		ck_abort_msg("harness: socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	salen = harness_loopback(family, d->port, &ss);
	if (connect(c->fd, (struct sockaddr *)&ss, salen) == -1) {
		if (errno != EINPROGRESS)
			ck_abort_msg("connect to %s port %d: %s", family ==
			    AF_INET ? "127.0.0.1" : "::1", d->port,
			    strerror(errno));
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, HARNESS_WAIT_MS) != 1)
			ck_abort_msg("connect to port %d: no answer in %d ms",
			    d->port, HARNESS_WAIT_MS);
		len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0)
			ck_abort_msg("connect to %s port %d: %s", family ==
			    AF_INET ? "127.0.0.1" : "::1", d->port,
			    strerror(err));
	}
	return c;
}

struct tc *
tc_dial(int port, const char *src)
{
	struct sockaddr_in	 sin;
	struct tc		*c;
	int			 on = 1, fd, e;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		ck_abort_msg("harness: socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	if (src != NULL) {
		if (inet_pton(AF_INET, src, &sin.sin_addr) != 1)
			ck_abort_msg("harness: tc_dial: bad address %s", src);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
			e = errno;
			close(fd);
			errno = e;
			return NULL;
		}
	}
	sin.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		ck_abort_msg("connect from %s to port %d: %s", src != NULL ?
		    src : "127.0.0.1", port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	c = tc_adopt(fd, src != NULL ? src : "127.0.0.1");
	return c;
}

struct tc *
tc_adopt(int fd, const char *name)
{
	struct tc	*c;

	c = xcalloc1(sizeof *c);
	c->others = -1;
	c->fd = fd;
	/* The harness reads with non-blocking sockets and poll(). */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	tc_rename(c, name);
	return c;
}

void
tc_welcome(struct tc *c)
{
	static const char	*re =
	    "^\\*\\*\\* Welcome to (.*), ([^ ,]+)\\. "
	    "([Nn]o|[0-9]+) others? online; /help lists commands\\.$";
	regex_t			 preg;
	regmatch_t		 m[4];
	char			*line;
	size_t			 n;

	if ((line = tc_line(c, HARNESS_WAIT_MS)) == NULL)
		ck_abort_msg("no welcome line (%s); seen:\n%s", c->eof ?
		    "connection closed" : "timed out", c->seen);
	if (regcomp(&preg, re, REG_EXTENDED) != 0)
		ck_abort_msg("harness: bad regex");
	if (regexec(&preg, line, 4, m, 0) != 0) {
		regfree(&preg);
		ck_abort_msg("first line is not the welcome line: '%s'", line);
	}
	regfree(&preg);
	n = m[2].rm_eo - m[2].rm_so;
	if (n >= sizeof c->name)
		ck_abort_msg("name too long in welcome line: '%s'", line);
	memcpy(c->name, line + m[2].rm_so, n);
	c->name[n] = '\0';
	if (line[m[3].rm_so] == 'n' || line[m[3].rm_so] == 'N')
		c->others = 0;
	else
		c->others = atoi(line + m[3].rm_so);
}

struct tc *
tc_connect(struct chatd *d)
{
	struct tc	*c;

	c = tc_connect_raw(d, AF_INET);
	tc_welcome(c);
	return c;
}

int
tc_write(struct tc *c, const void *buf, size_t len)
{
	const char	*p = buf;
	struct pollfd	 pfd;
	int64_t		 deadline;
	ssize_t		 n;

	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (harness_left_ms(deadline) == 0)
			ck_abort_msg("%s: send blocked for %d ms", tc_who(c),
			    HARNESS_WAIT_MS);
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		poll(&pfd, 1, harness_left_ms(deadline));
	}
	return 0;
}

void
tc_send_bytes(struct tc *c, const void *buf, size_t len)
{
	if (tc_write(c, buf, len) == -1)
		ck_abort_msg("%s: send: %s", tc_who(c), strerror(errno));
}

void
tc_send(struct tc *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf1(&s, fmt, ap);
	va_end(ap);
	if (tc_write(c, s, n) == -1) {
		free(s);
		ck_abort_msg("%s: send: %s", tc_who(c), strerror(errno));
	}
	free(s);
}

/*
 * Wait up to timeout_ms for more input. Returns 1 if bytes arrived, 0 on
 * timeout, -1 at end of file (or reset).
 */
static int
tc_fill(struct tc *c, int timeout_ms)
{
	struct pollfd	pfd;
	int64_t		deadline;
	ssize_t		n;

	if (c->eof)
		return -1;
	if (c->len == sizeof c->buf)
		ck_abort_msg("%s: line longer than %zu bytes", tc_who(c),
		    sizeof c->buf);
	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n > 0) {
			c->len += n;
			return 1;
		}
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			c->eof = 1;
			return -1;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			ck_abort_msg("%s: read: %s", tc_who(c),
			    strerror(errno));
		if (harness_left_ms(deadline) == 0)
			return 0;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, harness_left_ms(deadline));
	}
}

char *
tc_line(struct tc *c, int timeout_ms)
{
	char	*nl;
	size_t	 n;
	int64_t	 deadline;

	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		if ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			n = nl - c->buf;
			if (n == 0 || c->buf[n - 1] != '\r') {
				memcpy(c->line, c->buf, n);
				c->line[n] = '\0';
				ck_abort_msg("%s: line not terminated by CRLF: "
				    "'%s'", tc_who(c), c->line);
			}
			memcpy(c->line, c->buf, n - 1);
			c->line[n - 1] = '\0';
			c->len -= n + 1;
			memmove(c->buf, nl + 1, c->len);
			tc_remember(c, c->line);
			return c->line;
		}
		if (tc_fill(c, harness_left_ms(deadline)) != 1)
			return NULL;
	}
}

char *
tc_chat(struct tc *c, int timeout_ms)
{
	char	*line;
	int64_t	 deadline;

	deadline = harness_now_ms() + timeout_ms;
	while ((line = tc_line(c, harness_left_ms(deadline))) != NULL) {
		if (strncmp(line, "*** ", 4) != 0)
			return line;
	}
	return NULL;
}

char *
tc_expect(struct tc *c, const char *prefix, int timeout_ms)
{
	char	*line;
	int64_t	 deadline;

	deadline = harness_now_ms() + timeout_ms;
	while ((line = tc_line(c, harness_left_ms(deadline))) != NULL) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			return line;
	}
	ck_abort_msg("%s: no line starting with '%s' (%s); recent lines:\n%s",
	    tc_who(c), prefix, c->eof ? "connection closed" : "timed out",
	    c->seen);
	return NULL;
}

char *
tc_expect_re(struct tc *c, const char *re, int timeout_ms)
{
	regex_t	 preg;
	char	*line;
	int64_t	 deadline;

	if (regcomp(&preg, re, REG_EXTENDED | REG_NOSUB) != 0)
		ck_abort_msg("harness: bad regex '%s'", re);
	deadline = harness_now_ms() + timeout_ms;
	while ((line = tc_line(c, harness_left_ms(deadline))) != NULL) {
		if (regexec(&preg, line, 0, NULL, 0) == 0) {
			regfree(&preg);
			return line;
		}
	}
	regfree(&preg);
	ck_abort_msg("%s: no line matching '%s' (%s); recent lines:\n%s",
	    tc_who(c), re, c->eof ? "connection closed" : "timed out",
	    c->seen);
	return NULL;
}

/* What the next line was, for failure messages: 'LINE', or why none. */
static const char *
tc_got(struct tc *c, const char *l, char *buf, size_t size)
{
	if (l == NULL)
		return c->eof ? "end of file" : "nothing";
	snprintf(buf, size, "'%s'", l);
	return buf;
}

/* Fail, naming file:line, unless l (what, read from c) is want. */
static void
tc_check(const char *file, int line, struct tc *c, const char *what,
    const char *l, const char *want)
{
	char	got[sizeof c->line + 2];

	ck_assert_msg(l != NULL && strcmp(l, want) == 0,
	    "%s:%d: %s: expected %s '%s', got %s; recent lines:\n%s", file,
	    line, tc_who(c), what, want, tc_got(c, l, got, sizeof got),
	    c->seen);
}

void
tc_expect_line_at(const char *file, int line, struct tc *c, const char *want)
{
	tc_check(file, line, c, "line", tc_line(c, HARNESS_WAIT_MS), want);
}

void
tc_expect_chat_at(const char *file, int line, struct tc *c, const char *want)
{
	tc_check(file, line, c, "chat line", tc_chat(c, HARNESS_WAIT_MS),
	    want);
}

char *
tc_expect_line_re_at(const char *file, int line, struct tc *c,
    const char *re)
{
	char	*l, got[sizeof c->line + 2];

	l = tc_line(c, HARNESS_WAIT_MS);
	ck_assert_msg(l != NULL && harness_match(l, re),
	    "%s:%d: %s: expected a line matching '%s', got %s; recent "
	    "lines:\n%s", file, line, tc_who(c), re,
	    tc_got(c, l, got, sizeof got), c->seen);
	return l;
}

void
tc_expect_eof_at(const char *file, int line, struct tc *c)
{
	char	*l, got[sizeof c->line + 2];

	l = tc_line(c, HARNESS_WAIT_MS);
	ck_assert_msg(l == NULL && c->eof, "%s:%d: %s: expected end of file, "
	    "got %s", file, line, tc_who(c), l != NULL ?
	    tc_got(c, l, got, sizeof got) : "a timeout");
}

void
tc_rename(struct tc *c, const char *name)
{
	snprintf(c->name, sizeof c->name, "%s", name);
}

int
tc_closed(struct tc *c, int timeout_ms)
{
	int64_t	deadline;
	int	r;

	deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		c->len = 0;
		if ((r = tc_fill(c, harness_left_ms(deadline))) == -1)
			return 1;
		if (r == 0)
			return 0;
	}
}

void
tc_reset(struct tc *c)
{
	struct linger	l = { 1, 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(c->fd);
	free(c);
}

void
tc_close(struct tc *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}
