/*
 * main.c: options, configuration, privileges and the loop.
 *
 * Everything that can fail because of the operator fails here, before the
 * first client: the whole config is parsed and validated, every listener is
 * opened, privileges are dropped, and only then is readiness reported.
 * A process started to take over from another (handover.c) takes its
 * clients after that, and if it cannot start at all says so to the one
 * that still serves them, or, when systemd passed them, tells and closes
 * them, so that nobody hangs on a server that is not there.
 */

#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "chatd.h"

static void __attribute__((noreturn))
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: chatd [-dhtV] [-c file]\n"
	    "  -c, --config FILE  read FILE (default %s)\n"
	    "  -t, --test         check the configuration and exit\n"
	    "  -d, --debug        log everything, including debug messages\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n", CHATD_CONF);
	exit(code);
}

/*
 * Started as root with `user` set: become that user (and its primary group,
 * or `group`), with no supplementary groups.
 */
static int
drop_privileges(const struct config *conf)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return (0);
	if (conf->user == NULL) {
		log_warnx("running as root: set user in [server] so that "
		    "chatd drops its privileges");
		return (0);
	}
	errno = 0;
	if ((pw = getpwnam(conf->user)) == NULL) {
		log_errorx("user %s: %s", conf->user,
		    errno ? strerror(errno) : "no such user");
		return (-1);
	}
	gid = pw->pw_gid;
	if (conf->group != NULL) {
		errno = 0;
		if ((gr = getgrnam(conf->group)) == NULL) {
			log_errorx("group %s: %s", conf->group,
			    errno ? strerror(errno) : "no such group");
			return (-1);
		}
		gid = gr->gr_gid;
	}
	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_errorx("dropping privileges to %s: %s", conf->user,
		    strerror(errno));
		return (-1);
	}
	if (setuid(0) != -1) {
		log_errorx("dropping privileges to %s: still root",
		    conf->user);
		return (-1);
	}
	log_info("running as user %s (uid %lu, gid %lu)", conf->user,
	    (unsigned long)pw->pw_uid, (unsigned long)gid);
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*conf;
	struct server	*s;
	const char	*path = NULL;
	char		 err[1024];
	int		 ch, debug = 0, test = 0, loaded, rc = 0;

	while ((ch = getopt_long(argc, argv, "c:dhtV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(stdout, 0);
		case 't':
			test = 1;
			break;
		case 'V':
			printf("chatd %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage(stderr, EX_CHATD_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_CHATD_USAGE);

	log_init(debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	event_set_log_callback(log_libevent);
	conf = xcalloc(1, sizeof *conf);
	config_defaults(conf);
	loaded = config_load(conf, path != NULL ? path : CHATD_CONF,
	    path != NULL, err, sizeof err);
	if (loaded < 0) {
		/* In the journal, the reason a unit failed is an error. */
		fprintf(stderr, "%schatd: %s\n", log_journal_stream() ? "<3>" :
		    "", err);
		if (!test)
			handover_abandon_early(err);
		config_free(conf);
		free(conf);
		return (EX_CHATD_CONFIG);
	}
	if (test) {
		printf("chatd: configuration %s OK\n", loaded == 1 ?
		    "(built-in defaults)" : conf->path);
		config_free(conf);
		free(conf);
		return (0);
	}
	if (!debug)
		log_setlevel(conf->log_level);
	if (loaded == 1)
		log_notice("%s not found: running on built-in defaults",
		    CHATD_CONF);
	else
		log_info("configuration read from %s", conf->path);

	signal(SIGPIPE, SIG_IGN);
#ifdef M_TRIM_THRESHOLD
	/*
	 * Output chains are allocated and freed on every loop turn; without
	 * this glibc hands the top of the heap back and forth with brk() all
	 * the time (seen in perf as brk and page faults on the broadcast
	 * path).  Memory stays bounded by the output limits either way.
	 */
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
	mallopt(M_TOP_PAD, 1024 * 1024);
#endif
	s = server_new(conf, path, debug);
	handover_init(s, argv);
	if ((rc = server_listen(s)) != 0 || drop_privileges(conf) != 0 ||
	    handover_restore(s) != 0 || handover_ready(s) != 0) {
		log_errorx("not starting");
		handover_abandon(s, rc == -2 ? "the sockets do not fit the "
		    "configuration" : "it could not start (its log says why)");
		server_free(s);
		/* A config that does not fit the units: no restart loop. */
		return (rc == -2 ? EX_CHATD_CONFIG : 1);
	}
	server_run(s);
	rc = handover_status(s);
	server_free(s);
	log_notice("exiting");
	return (rc);
}
