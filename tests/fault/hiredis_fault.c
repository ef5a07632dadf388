/*
 * hiredis_fault.so: one injected fault for the cluster suite, put in front
 * of libhiredis with LD_PRELOAD in the environment of one chatd process
 * (test_request_never_queued_is_answered in check_e2e_cluster.c).
 *
 * Why a fault is injected: hiredis refuses to queue a command (its
 * redisvAsyncCommand() returns REDIS_ERR, queues nothing and never calls
 * the callback) only while the context is being torn down, an instant that
 * no test can reach from outside: Redis killed or hung makes hiredis fail
 * queued commands with a NULL reply, which is another path.  chatd must
 * still answer a client whose command was never queued, and must not let
 * that request hang the node.  So this shim makes the refusal happen on
 * purpose: the N-th command whose format starts with "GET ", N from
 * CHATD_FAULT_GET_FAIL (unset or 0: never), is refused exactly as hiredis
 * would refuse it.  Every other command goes to the real
 * redisvAsyncCommand(), found with dlsym(RTLD_NEXT).  chatd is built and
 * run as always: no production code knows of this file.
 *
 * Both entry points are interposed, since chatd builds differ in which
 * one a GET goes through: redisAsyncCommand() (variadic) and
 * redisvAsyncCommand().  The variadic one forwards to fault_vcommand()
 * below, never to the real redisAsyncCommand(), so a command is counted
 * once whichever way it came.  The refusal is written to stderr (the
 * daemon's log), so a test can tell that the shim was loaded and fired.
 *
 * Built without sanitizers: it is preloaded into chatd built either way,
 * and under valgrind.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

typedef int	 vcommand_fn(redisAsyncContext *, redisCallbackFn *, void *,
		    const char *, va_list);

static unsigned long	fault_gets;	/* GET commands seen */

static int
fault_vcommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
    const char *format, va_list ap)
{
	static vcommand_fn	*real;
	const char		*env;
	char			 msg[128];
	int			 n;

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "redisvAsyncCommand");
		if (real == NULL) {
			n = snprintf(msg, sizeof msg, "hiredis_fault: no "
			    "redisvAsyncCommand after the shim\n");
			(void)!write(2, msg, (size_t)n);
			abort();
		}
	}
	if (strncmp(format, "GET ", 4) == 0 &&
	    (env = getenv("CHATD_FAULT_GET_FAIL")) != NULL &&
	    ++fault_gets == strtoul(env, NULL, 10)) {
		n = snprintf(msg, sizeof msg, "hiredis_fault: GET number %lu "
		    "refused, not queued\n", fault_gets);
		(void)!write(2, msg, (size_t)n);
		return (REDIS_ERR);
	}
	return (real(ac, fn, privdata, format, ap));
}

int
redisvAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
    const char *format, va_list ap)
{
	return (fault_vcommand(ac, fn, privdata, format, ap));
}

int
redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
    const char *format, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, format);
	rc = fault_vcommand(ac, fn, privdata, format, ap);
	va_end(ap);
	return (rc);
}
