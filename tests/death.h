/*
 * Death tests: code that must end the process (fatalx() on a broken
 * invariant, abort() on a misused future) is run in a child of the test's
 * own, with stderr on a pipe, and the test fails unless the child dies as
 * it should (an exit status, or a signal) having written exactly the
 * message it should. The status alone would pass a test that died for
 * another reason: an assertion elsewhere, a crash, a fatalx() with the
 * wrong words.
 *
 *	death_expect(fn, arg, 1, "error: peer_remove: 192.0.2.2 has no "
 *	    "clients\n");
 *
 * Rejected: Check's tcase_add_exit_test() and tcase_add_test_raise_signal(),
 * which check the status only, and need CK_FORK (a fatalx() under
 * CK_FORK=no ends the whole suite); redirecting stderr inside the test and
 * checking it from an atexit() handler, which runs in the process that is
 * dying and cannot see a signal. The child here is forked by the test
 * itself, so it works the same under CK_FORK=no.
 *
 * Static functions in a header, as in run_suite.h: the unit suites link
 * only the code they test. harness.c takes death_unstamp() from here too.
 */

#ifndef DEATH_H
#define DEATH_H

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

/* Guard for the child to die: it should do so at once. */
#define DEATH_WAIT_MS	30000
#define DEATH_OUT_MAX	8192

/* chatd's log prefix outside the journal (see src/log.c). */
#define DEATH_STAMP_RE	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:" \
	"[0-9]{2}\\.[0-9]{3}Z chatd\\[[0-9]+\\] "

/*
 * A copy of text in which each line that starts with chatd's log prefix
 * "YYYY-MM-DDTHH:MM:SS.mmmZ chatd[PID] " has lost it; the time and the pid
 * are all that differ from run to run. free() the result.
 */
static inline char *
death_unstamp(const char *text)
{
	regex_t		 re;
	regmatch_t	 m;
	const char	*line, *nl;
	char		*out, *p;
	size_t		 len;

	if (regcomp(&re, DEATH_STAMP_RE, REG_EXTENDED) != 0)
		ck_abort_msg("death_unstamp: bad regex");
	if ((out = p = malloc(strlen(text) + 1)) == NULL)
		ck_abort_msg("death_unstamp: out of memory");
	for (line = text; *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			nl++;
		else
			nl = line + strlen(line);
		len = nl - line;
		/* REG_STARTEND is not POSIX: match on a copy of the line. */
		memcpy(p, line, len);
		p[len] = '\0';
		if (regexec(&re, p, 1, &m, 0) == 0 && m.rm_so == 0) {
			memmove(p, p + m.rm_eo, len - m.rm_eo + 1);
			len -= m.rm_eo;
		}
		p += len;
	}
	*p = '\0';
	regfree(&re);
	return out;
}

/*
 * Run fn(arg) in a child with stderr on a pipe; fail the test, naming
 * file:line, unless the child exits with status (or, for status 128 + N,
 * is killed by signal N) and its stderr, without log prefixes (see
 * death_unstamp()), is exactly want. A child in which fn returns fails the
 * test too.
 */
#define death_expect(fn, arg, status, want) \
	death_expect_at(__FILE__, __LINE__, fn, arg, status, want)

static inline void
death_expect_at(const char *file, int line, void (*fn)(void *), void *arg,
    int status, const char *want)
{
	struct pollfd	 pfd;
	char		 out[DEATH_OUT_MAX], *got;
	size_t		 len = 0;
	ssize_t		 n;
	pid_t		 pid;
	int		 p[2], st, code;

	if (pipe(p) == -1)
		ck_abort_msg("%s:%d: pipe: %s", file, line, strerror(errno));
	/* The child must not write out what the parent has buffered. */
	fflush(NULL);
	switch (pid = fork()) {
	case -1:
		ck_abort_msg("%s:%d: fork: %s", file, line, strerror(errno));
		break;
	case 0:
		close(p[0]);
		if (dup2(p[1], STDERR_FILENO) == -1)
			_exit(125);
		close(p[1]);
		/* Die of the signal, not of a handler Check or a tool set. */
		signal(SIGABRT, SIG_DFL);
		fn(arg);
		fprintf(stderr, "death_expect: the call returned\n");
		_exit(125);
	default:
		break;
	}
	close(p[1]);
	for (;;) {
		pfd.fd = p[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, DEATH_WAIT_MS) == 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = read(p[0], out + len, sizeof out - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || (len += n) == sizeof out - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR)
			ck_abort_msg("%s:%d: waitpid: %s", file, line,
			    strerror(errno));
	}
	if (WIFEXITED(st))
		code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		code = 128 + WTERMSIG(st);
	else
		code = -1;
	got = death_unstamp(out);
	ck_assert_msg(code == status && strcmp(got, want) == 0,
	    "%s:%d: want status %d and stderr\n'%s'\ngot status %d and "
	    "stderr\n'%s'", file, line, status, want, code, got);
	free(got);
}

#endif /* DEATH_H */
