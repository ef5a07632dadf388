/*
 * fmt.c: how chatd writes durations and times for people, once for the
 * chat (/who) and for chatctl.
 */

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "chatd.h"

/* Seconds as "12s", "4m", "2h05m" or "3d04h". */
void
fmt_duration(char *buf, size_t size, uint64_t sec)
{
	if (sec < 60)
		snprintf(buf, size, "%llus", (unsigned long long)sec);
	else if (sec < 3600)
		snprintf(buf, size, "%llum", (unsigned long long)sec / 60);
	else if (sec < 86400)
		snprintf(buf, size, "%lluh%02llum",
		    (unsigned long long)sec / 3600,
		    (unsigned long long)(sec % 3600) / 60);
	else
		snprintf(buf, size, "%llud%02lluh",
		    (unsigned long long)sec / 86400,
		    (unsigned long long)(sec % 86400) / 3600);
}

/* Seconds of the epoch as UTC in ISO 8601: "2026-12-01T09:58:00Z". */
void
fmt_time(char *buf, size_t size, int64_t t)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
