/*
 * sdnotify.c: systemd's readiness protocol, natively.
 *
 * The protocol is one datagram of newline-separated KEY=VALUE lines sent to
 * the AF_UNIX socket named by NOTIFY_SOCKET (a leading '@' means the
 * abstract namespace).  The socket is non-blocking: a notify socket whose
 * reader stalls must never stall the event loop, so a datagram that does
 * not fit is dropped (status updates are refreshed anyway).  It is small
 * enough that linking libsystemd for it
 * would add a dependency for a dozen lines; without NOTIFY_SOCKET every
 * call is a no-op, so chatd runs the same with or without systemd.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatd.h"

/* Sends one notification.  Returns 1 if sent, 0 if not under systemd, -1. */
int
sdnotify(const char *fmt, ...)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 buf[512];
	va_list			 ap;
	ssize_t			 n;
	int			 fd, saved;

	if (path == NULL || *path == '\0')
		return (0);
	if ((path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path) {
		errno = EINVAL;
		return (-1);
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf) {
		errno = EMSGSIZE;
		return (-1);
	}

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return (-1);
	n = sendto(fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len);
	saved = errno;
	close(fd);
	errno = saved;
	return (n < 0 ? -1 : 1);
}
