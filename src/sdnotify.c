/*
 * sdnotify.c: systemd's readiness protocol, and the descriptors it passes,
 * natively.
 *
 * The protocol is one datagram of newline-separated KEY=VALUE lines sent to
 * the AF_UNIX socket named by NOTIFY_SOCKET (a leading '@' means the
 * abstract namespace).  The socket is non-blocking: a notify socket whose
 * reader stalls must never stall the event loop, so a datagram that does
 * not fit is dropped (status updates are refreshed anyway).  It is small
 * enough that linking libsystemd for it
 * would add a dependency for a dozen lines; without NOTIFY_SOCKET every
 * call is a no-op, so chatd runs the same with or without systemd.
 *
 * Descriptors for the fd store (FDSTORE=1, handover.c) go with the same
 * datagram as SCM_RIGHTS, at most SDNOTIFY_FDS_MAX a datagram (the
 * kernel's SCM_MAX_FD), and wait for room rather than be dropped: a
 * socket lost on its way to the store is a client dropped.  What systemd
 * passes back (LISTEN_FDS, LISTEN_FDNAMES for LISTEN_PID) is read here
 * for server.c and handover.c alike.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatd.h"

#define SDNOTIFY_FDS_MAX	253	/* SCM_MAX_FD */
#define SDNOTIFY_WAIT_S		5	/* for room to store fds */

/*
 * Sends buf[0..len) with descriptors fds[0..nfds) attached, waiting up to
 * SDNOTIFY_WAIT_S if wait is set.  Returns 1 if sent, 0 if not under
 * systemd, -1 with errno set.
 */
static int
sdnotify_send(const char *buf, size_t len, const int *fds, size_t nfds,
    int wait)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	struct timeval		 tv = { SDNOTIFY_WAIT_S, 0 };
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) *
				    SDNOTIFY_FDS_MAX)];
	}			 ctl;
	ssize_t			 n;
	int			 fd, saved;

	if (path == NULL || *path == '\0')
		return (0);
	if ((path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path || nfds > SDNOTIFY_FDS_MAX) {
		errno = EINVAL;
		return (-1);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';

	memset(&mh, 0, sizeof mh);
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_name = &sun;
	mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds != 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    (wait ? 0 : SOCK_NONBLOCK), 0)) == -1)
		return (-1);
	if (wait)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	saved = errno;
	close(fd);
	errno = saved;
	return (n < 0 ? -1 : 1);
}

/* Sends one notification.  Returns 1 if sent, 0 if not under systemd, -1. */
int
sdnotify(const char *fmt, ...)
{
	char		 buf[512];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (sdnotify_send(buf, (size_t)n, NULL, 0, 0));
}

/*
 * Puts fds[0..n) in the fd store under name (FDSTORE=1, FDNAME=name), as
 * many datagrams as it takes.  Returns 1 if all were sent, 0 if not under
 * systemd, -1 with errno set if one could not be (those before it were).
 */
int
sdnotify_store(const char *name, const int *fds, size_t n)
{
	char	 buf[300];
	size_t	 at, k;
	int	 rc = 0;

	snprintf(buf, sizeof buf, "FDSTORE=1\nFDNAME=%s", name);
	for (at = 0; at < n; at += k) {
		k = n - at > SDNOTIFY_FDS_MAX ? SDNOTIFY_FDS_MAX : n - at;
		if ((rc = sdnotify_send(buf, strlen(buf), fds + at, k, 1)) != 1)
			return (rc);
	}
	return (1);
}

/* Takes every descriptor called name out of the fd store. */
int
sdnotify_unstore(const char *name)
{
	char	buf[300];

	snprintf(buf, sizeof buf, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return (sdnotify_send(buf, strlen(buf), NULL, 0, 1));
}

/*
 * The descriptors systemd passed this process (socket activation, the fd
 * store: LISTEN_PID is ours): fds 3 to 2 + the number returned, and in
 * *namesp as many names ("" where LISTEN_FDNAMES gave none), for
 * sdnotify_names_free().  The variables are unset, so that nothing this
 * process starts takes them for its own.  Returns 0 when nothing was
 * passed, or -1 after logging why LISTEN_FDS is not 1 to max.
 */
long
sdnotify_listen(long max, char ***namesp)
{
	const char	*pid = getenv("LISTEN_PID");
	const char	*fds = getenv("LISTEN_FDS");
	const char	*names = getenv("LISTEN_FDNAMES");
	char		*copy, *next, *name, **v;
	char		*end;
	long		 n, i;

	*namesp = NULL;
	if (pid == NULL || fds == NULL ||
	    strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
		return (0);
	n = strtol(fds, &end, 10);
	if (*end != '\0' || n <= 0 || n > max) {
		log_errorx("socket activation: LISTEN_FDS=%s is not 1 to %ld",
		    fds, max);
		n = -1;
	}
	copy = xstrdup(names != NULL ? names : "");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > 0) {
		v = xcalloc((size_t)n + 1, sizeof *v);
		for (i = 0, next = names != NULL ? copy : NULL; i < n; i++) {
			name = next != NULL ? strsep(&next, ":") : "";
			v[i] = xstrdup(name);
		}
		*namesp = v;
	}
	free(copy);
	return (n);
}

void
sdnotify_names_free(char **names)
{
	char	**p;

	for (p = names; p != NULL && *p != NULL; p++)
		free(*p);
	free(names);
}
