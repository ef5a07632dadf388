/*
 * log.c: leveled logging to stderr, in the manner of OpenBSD's log.c.
 *
 * Under systemd, stderr is the journal (JOURNAL_STREAM names the device and
 * inode of the stream): each line then starts with a "<N>" syslog priority
 * so that journalctl -p works, and carries no timestamp since the journal
 * adds its own.  Elsewhere each line starts with an ISO 8601 UTC time.
 * Rejected: syslog(3), which would bypass the journal's per-unit stream and
 * its priorities are lost when stderr is a terminal.
 */

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chatd.h"

#define LOG_RATE_MS	60000	/* log_rate_ok(): one line a minute */

static int	log_level = LOG_LEVEL_INFO;
static int	log_journal;

static const struct {
	const char	*name;
	int		 syslog;	/* priority for the journal */
} log_levels[] = {
	[LOG_LEVEL_ERROR] = { "error", 3 },
	[LOG_LEVEL_WARNING] = { "warning", 4 },
	[LOG_LEVEL_NOTICE] = { "notice", 5 },
	[LOG_LEVEL_INFO] = { "info", 6 },
	[LOG_LEVEL_DEBUG] = { "debug", 7 },
};

/* Is stderr the journal stream systemd gave us? */
static int
log_stderr_is_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	struct stat		 sb;
	unsigned long long	 dev, ino;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &sb) == -1)
		return (0);
	return ((unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino);
}

void
log_init(int level)
{
	log_level = level;
	log_journal = log_stderr_is_journal();
}

void
log_setlevel(int level)
{
	log_level = level;
}

/* Is stderr the journal (lines then carry "<N>" priorities)? */
int
log_journal_stream(void)
{
	return (log_journal);
}

/*
 * Whether to log an event of a kind a peer can repeat at will (a hostile
 * client or Redis publisher): the first in each minute is logged, the
 * rest are only counted.  When one is logged, *skipped says how many were
 * not since the last; the caller adds it to the line.
 */
int
log_rate_ok(struct log_rate *r, uint64_t now_ms, unsigned *skipped)
{
	if (r->since_ms != 0 && now_ms - r->since_ms < LOG_RATE_MS) {
		r->skipped++;
		return (0);
	}
	*skipped = r->skipped;
	r->skipped = 0;
	r->since_ms = now_ms != 0 ? now_ms : 1;
	return (1);
}

/*
 * libevent's own messages (event_set_log_callback()), at the matching
 * level, so that they reach the journal with a priority like ours.
 */
void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_errorx("libevent: %s", msg);
		break;
	}
}

/* Returns the level named by s, or -1. */
int
log_parse_level(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
		if (strcasecmp(s, log_levels[i].name) == 0)
			return ((int)i);
	}
	return (-1);
}

static void
log_vwrite(int level, const char *errstr, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void
log_vwrite(int level, const char *errstr, const char *fmt, va_list ap)
{
	char		 msg[2048], stamp[32];
	struct timeval	 tv;
	struct tm	 tm;
	int		 saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal) {
		if (errstr != NULL)
			fprintf(stderr, "<%d>%s: %s\n",
			    log_levels[level].syslog, msg, errstr);
		else
			fprintf(stderr, "<%d>%s\n", log_levels[level].syslog,
			    msg);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		if (errstr != NULL)
			fprintf(stderr, "%s.%03dZ chatd[%ld] %s: %s: %s\n",
			    stamp, (int)(tv.tv_usec / 1000), (long)getpid(),
			    log_levels[level].name, msg, errstr);
		else
			fprintf(stderr, "%s.%03dZ chatd[%ld] %s: %s\n", stamp,
			    (int)(tv.tv_usec / 1000), (long)getpid(),
			    log_levels[level].name, msg);
	}
	errno = saved;
}

#define LOG_FUNC(fn, level)					\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list	ap;						\
								\
	va_start(ap, fmt);					\
	log_vwrite(level, NULL, fmt, ap);			\
	va_end(ap);						\
}
LOG_FUNC(log_errorx, LOG_LEVEL_ERROR)
LOG_FUNC(log_warnx, LOG_LEVEL_WARNING)
LOG_FUNC(log_notice, LOG_LEVEL_NOTICE)
LOG_FUNC(log_info, LOG_LEVEL_INFO)
LOG_FUNC(log_debug, LOG_LEVEL_DEBUG)

/* Logs a warning followed by the current errno's text. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	*e = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARNING, e, fmt, ap);
	va_end(ap);
}

/* Start-up failures and broken invariants only: log and exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	char	*e = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
