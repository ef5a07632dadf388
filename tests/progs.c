/*
 * progs.c: the programs the end-to-end tests run beside chatd (progs.h).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "progs.h"

static const struct {
	const char	*name;
	const char	*env;
} programs[] = {
	{ "openssl", "OPENSSL" },
	{ "ncat", "NCAT" },
	{ "socat", "SOCAT" },
	{ "haproxy", "HAPROXY" },
	{ "stunnel4", "STUNNEL" },
};

/*
 * The path of each of the programs names (a NULL-terminated list) in
 * path[], or NULL after reporting a skip of test naming the ones missing.
 */
int
find_programs(const char *test, const char *const names[], char *path[])
{
	char	 missing[256] = "";
	size_t	 i, j;

	for (i = 0; names[i] != NULL; i++) {
		path[i] = NULL;
		for (j = 0; j < sizeof programs / sizeof programs[0]; j++) {
			if (strcmp(programs[j].name, names[i]) == 0)
				path[i] = harness_program(names[i],
				    programs[j].env);
		}
		if (path[i] == NULL)
			snprintf(missing + strlen(missing), sizeof missing -
			    strlen(missing), " %s", names[i]);
	}
	if (missing[0] == '\0')
		return (1);
	harness_skip(test, "not installed:%s (Debian: openssl ncat socat "
	    "haproxy stunnel4)", missing);
	for (j = 0; j < i; j++)
		free(path[j]);
	return (0);
}

/*
 * Runs path with args (NULL-terminated), stderr to a file in dir named
 * after tag.  As a client (client set), its stdin and stdout are one end
 * of a socketpair and p->c the other; else both are /dev/null's.
 */
void
prog_start(struct prog *p, const char *dir, const char *tag,
    const char *path, char *const args[], int client)
{
	struct harness_exec	 x;
	int			 sv[2], err, out;

	memset(p, 0, sizeof *p);
	p->status = -1;
	p->err = harness_asprintf("%s/%s.err", dir, tag);
	if ((err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		ck_abort_msg("%s: %s", p->err, strerror(errno));
	if (client) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			ck_abort_msg("socketpair: %s", strerror(errno));
		out = sv[1];
	} else if ((out = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		ck_abort_msg("/dev/null: %s", strerror(errno));
	memset(&x, 0, sizeof x);
	x.bin = path;
	x.tail = args;
	x.infd = client ? out : 0;
	x.outfd = out;
	x.errfd = err;
	p->pid = harness_spawn(&x);
	close(out);
	close(err);
	if (client)
		p->c = tc_adopt(sv[0], tag);
}

/* Waits for p to end by itself; its exit status. */
int
prog_exit(struct prog *p)
{
	int	st;

	st = harness_wait(&p->pid, &p->status, HARNESS_WAIT_MS);
	ck_assert_msg(st != -1, "%s did not exit; it said:\n%s", p->err,
	    harness_read_file(p->err));
	return (st);
}

/* Ends p if it still runs. */
void
prog_stop(struct prog *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		if (harness_wait(&p->pid, &p->status, HARNESS_WAIT_MS) == -1)
			ck_abort_msg("%s: no exit after SIGTERM", p->err);
	}
	tc_close(p->c);
	p->c = NULL;
	free(p->err);
	p->err = NULL;
}

/* The text s in the file of path (a program's stderr), read anew. */
int
file_has(const char *path, const char *s)
{
	char	*text;
	int	 found;

	text = harness_read_file(path);
	found = strstr(text, s) != NULL;
	free(text);
	return (found);
}

/* Whether what p wrote on stderr so far holds s. */
int
prog_said(struct prog *p, const char *s)
{
	return (file_has(p->err, s));
}

/* Whether the kernel lists a TCP socket listening on 127.0.0.1:port. */
static int
listening(void *arg)
{
	FILE	*f;
	char	 line[512], want[32];
	int	 found = 0;

	snprintf(want, sizeof want, "0100007F:%04X 00000000:0000 0A",
	    *(int *)arg);
	if ((f = fopen("/proc/net/tcp", "r")) == NULL)
		return (0);
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, want) != NULL;
	fclose(f);
	return (found);
}

void
wait_listening(struct prog *p, int port)
{
	if (!harness_poll(listening, &port, HARNESS_WAIT_MS))
		ck_abort_msg("nothing listens on port %d; %s says:\n%s", port,
		    p->err, harness_read_file(p->err));
}

/* A TLS client program, from its welcome line on; its stderr in dir. */
void
tls_client(struct prog *p, const char *dir, const char *tag,
    const char *path, char *const args[])
{
	prog_start(p, dir, tag, path, args, 1);
	tc_welcome(p->c);
}

#define S_CLIENT_ARGS	12

/*
 * "openssl s_client -connect 127.0.0.1:tport" and then the arguments
 * after welcome (NULL-terminated), from its welcome line on if welcome.
 */
void
s_client(struct prog *p, const char *dir, const char *tag,
    const char *openssl, int tport, int welcome, ...)
{
	va_list	 ap;
	char	*hostport, *args[S_CLIENT_ARGS + 1];
	int	 n = 0;

	hostport = harness_asprintf("127.0.0.1:%d", tport);
	args[n++] = "s_client";
	args[n++] = "-connect";
	args[n++] = hostport;
	va_start(ap, welcome);
	while ((args[n] = va_arg(ap, char *)) != NULL)
		if (++n == S_CLIENT_ARGS)
			ck_abort_msg("s_client: too many arguments");
	va_end(ap);
	if (welcome)
		tls_client(p, dir, tag, openssl, args);
	else
		prog_start(p, dir, tag, openssl, args, 1);
	free(hostport);
}

