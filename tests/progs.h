/*
 * progs.h: the programs the end-to-end tests run beside chatd, from
 * Debian's packages: TLS clients (openssl s_client, ncat --ssl, socat)
 * whose stdin and stdout are one end of a socketpair the test talks
 * through as an ordinary client (struct tc), and proxies (haproxy,
 * stunnel4).  Each is found on PATH, or where an environment variable
 * names it (OPENSSL, NCAT, SOCAT, HAPROXY, STUNNEL); a missing one is the
 * test's skip, which CI=true turns into a failure.  A proxy is ready when
 * the kernel lists its port as listening (/proc/net/tcp): it says so no
 * other way that a test could wait on.
 */

#ifndef PROGS_H
#define PROGS_H

#include <sys/types.h>

#include "harness.h"

/* A client or proxy program run by a test. */
struct prog {
	pid_t		 pid;
	int		 status;
	char		*err;		/* what it wrote on stderr */
	struct tc	*c;		/* a client's stdin and stdout */
};

/*
 * The path of each program of names (NULL-terminated) in path[]; or 0
 * after reporting a skip of test that names the missing ones.
 */
int		 find_programs(const char *test, const char *const names[],
		    char *path[]);

/*
 * Runs path with args (NULL-terminated), stderr to dir/tag.err.  As a
 * client, its stdin and stdout are a socketpair whose other end is p->c.
 */
void		 prog_start(struct prog *p, const char *dir, const char *tag,
		    const char *path, char *const args[], int client);
int		 prog_exit(struct prog *p);	/* waits; its exit status */
void		 prog_stop(struct prog *p);	/* SIGTERM if need be; frees */
int		 prog_said(struct prog *p, const char *s);	/* on stderr */
int		 file_has(const char *path, const char *s);
void		 wait_listening(struct prog *p, int port);

/* A TLS client program, from its welcome line on; its stderr in dir. */
void		 tls_client(struct prog *p, const char *dir, const char *tag,
		    const char *path, char *const args[]);

/*
 * "openssl s_client -connect 127.0.0.1:tport" and then the arguments
 * after welcome (NULL-terminated), from its welcome line on if welcome.
 */
void		 s_client(struct prog *p, const char *dir, const char *tag,
		    const char *openssl, int tport, int welcome, ...);

#endif /* PROGS_H */
