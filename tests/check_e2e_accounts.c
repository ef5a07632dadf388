/*
 * End-to-end tests of accounts (issue 14) against the real chatd, its
 * state database on disk and, for certificates, openssl s_client:
 *
 *  - every command: /register (not a guest name), /login, /password,
 *    /logout, /unregister, /certfp add|list|del; /who shows who is
 *    logged in;
 *  - a registered name, or one like it, cannot be taken by /nick; /login
 *    takes it from whoever holds it, who is told why (a second session of
 *    the same account included);
 *  - a wrong password is refused, and after login_attempts failures a
 *    login is refused with the time to wait, from that address and to
 *    that account, while another address logs in to another account;
 *  - a password appears nowhere but in what its owner typed: not in
 *    another client's output, not in the log (at debug level);
 *  - plain connections may not send passwords unless allowed, and are
 *    told the TLS port; over TLS they may;
 *  - accounts survive a restart, and the stored hash is a real yescrypt
 *    string of the default cost ($y$j9T$, read from the SQLite file);
 *  - /certfp add logs in a later TLS connection by its certificate, and
 *    /certfp del stops it;
 *  - operators: /kick, /mute, /ban, /announce from the chat with
 *    chatctl's meaning, logged with the operator's name; refused to
 *    others; a reload changes who is an operator at once.
 *
 * Most runs use hash_cost = 1 (about a millisecond, so that the suite
 * stays quick under valgrind); the default cost is checked once.  Every
 * wait is on a line chatd sends or logs.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include <check.h>

#include "certs.h"
#include "harness.h"
#include "progs.h"

#define TEST_TIMEOUT	120
#define W		HARNESS_WAIT_MS
#define DAY		(24L * 60 * 60)

/* [accounts] for most tests: fast hashes, passwords on plain TCP. */
#define ACCOUNTS	"\n[accounts]\nallow_plaintext_passwords = yes\n" \
	"hash_cost = 1\nlogin_interval = 3600\n"

static char	*certdir;
static char	 alice_fp[CERTS_FP_SIZE];

static void
certs_setup(void)
{
	EVP_PKEY	*server, *alice;

	certdir = harness_mkdtemp("certs");
	server = certs_key(0);
	alice = certs_key(0);
	certs_write_key(certdir, "key.pem", server);
	certs_write_cert(certdir, "cert.pem", "localhost", server, -DAY,
	    30 * DAY, NULL);
	certs_write_key(certdir, "alice-key.pem", alice);
	certs_write_cert(certdir, "alice.pem", "alice", alice, -DAY,
	    30 * DAY, alice_fp);
	EVP_PKEY_free(server);
	EVP_PKEY_free(alice);
}

static void
certs_teardown(void)
{
	harness_rmtree(certdir);
	free(certdir);
	certdir = NULL;
}

/*
 * chatd with its state database in dir (made if NULL; *dirp gets it) and
 * more after it (sections of their own).
 */
static struct chatd *
start(char **dirp, const char *more)
{
	struct chatd	*d;
	char		*extra;

	if (*dirp == NULL)
		*dirp = harness_mkdtemp("state");
	extra = harness_asprintf("log_level = debug\n\n[limits]\n"
	    "rate_lines = 0\n\n[control]\nstate = %s/chatd.db\n%s", *dirp,
	    more != NULL ? more : "");
	d = chatd_start(extra);
	free(extra);
	return (d);
}

/* Sends line and checks the very next line is want. */
static void
say(struct tc *c, const char *line, const char *want)
{
	tc_send(c, "%s\n", line);
	tc_expect_line(c, want);
}

/* A client named name (not registered). */
static struct tc *
named(struct chatd *d, const char *name)
{
	struct tc	*c;
	char		*want;

	c = tc_connect(d);
	want = harness_asprintf("*** you are now known as %s", name);
	tc_send(c, "/nick %s\n", name);
	tc_expect(c, want, W);
	free(want);
	tc_rename(c, name);
	return (c);
}

/* A client that registers name with password pw (and is logged in). */
static struct tc *
registered(struct chatd *d, const char *name, const char *pw)
{
	struct tc	*c;
	char		*want, *line;

	c = named(d, name);
	line = harness_asprintf("/register %s", pw);
	want = harness_asprintf("*** %s is registered to you", name);
	say(c, line, want);
	free(want);
	want = harness_asprintf("*** you are logged in as %s", name);
	tc_expect_line(c, want);
	free(want);
	free(line);
	return (c);
}

/* Reads c's lines up to and with the one that is exactly marker. */
static char *
lines_until(struct tc *c, const char *marker)
{
	char	*all = harness_asprintf("%s", ""), *next, *l;

	for (;;) {
		if ((l = tc_line(c, W)) == NULL)
			ck_abort_msg("%s: no '%s'; got:\n%s", c->name, marker,
			    all);
		next = harness_asprintf("%s%s\n", all, l);
		free(all);
		all = next;
		if (strcmp(l, marker) == 0)
			return (all);
	}
}

/* Every command, in the order a user meets them. */
START_TEST(test_commands)
{
	struct chatd	*d;
	struct tc	*a, *b, *g;
	char		*dir = NULL;

	d = start(&dir, ACCOUNTS);
	b = tc_connect(d);
	g = tc_connect(d);
	say(g, "/register hunter2222", "*** take a name first (/nick NAME), "
	    "then register it");
	say(g, "/register", "*** /register PASSWORD");
	tc_close(g);
	a = registered(d, "alice", "hunter2222");
	tc_expect_re(b, "^\\*\\*\\* guest[0-9]+ is now known as alice$", W);
	say(a, "/register hunter2222", "*** you are logged in as alice "
	    "already");

	/* /who says who is logged in. */
	tc_send(b, "/who\n");
	tc_expect_line(b, "*** 2 online:");
	tc_expect_line_re(b, "^\\*\\*\\*   guest1 +on [0-9smhd]+, idle "
	    "[0-9smhd]+ \\(you\\)$");
	tc_expect_line_re(b, "^\\*\\*\\*   alice +on [0-9smhd]+, idle "
	    "[0-9smhd]+, logged in$");

	/* Logged out: a guest again, and the name stays registered. */
	tc_send(a, "/logout\n");
	tc_expect_line_re(a, "^\\*\\*\\* you logged out; you are now "
	    "guest[0-9]+$");
	tc_expect_line_re(b, "^\\*\\*\\* alice is now known as guest[0-9]+$");
	say(b, "/nick alice", "*** alice is registered: /login alice "
	    "PASSWORD to use it");
	say(b, "/nick A.L1CE", "*** A.L1CE is registered: /login A.L1CE "
	    "PASSWORD to use it");
	say(b, "/password a b", "*** you are not logged in");
	say(b, "/certfp list", "*** you are not logged in");

	/* Back in, a new password, and the old one no longer works. */
	say(a, "/login alice hunter2222", "*** you are logged in as alice");
	tc_expect_line(a, "*** you are now known as alice");
	tc_expect_line_re(b, "^\\*\\*\\* guest[0-9]+ is now known as "
	    "alice$");
	say(a, "/password hunter2222 sh0rt", "*** a password is 8 to 128 "
	    "bytes, without spaces");
	say(a, "/password wrong-one newpass99", "*** wrong password");
	say(a, "/password hunter2222 newpass99", "*** password changed");
	say(a, "/certfp list", "*** no certificates log in alice; /certfp "
	    "add adds the one you use");
	say(a, "/certfp add", "*** this connection has no client "
	    "certificate to add");
	tc_send(a, "/logout\n");
	tc_expect(a, "*** you logged out", W);
	tc_expect_re(b, "^\\*\\*\\* alice is now known as guest[0-9]+$", W);
	say(a, "/login alice hunter2222", "*** login failed: wrong name or "
	    "password");
	say(a, "/login alice newpass99", "*** you are logged in as alice");
	tc_expect_line(a, "*** you are now known as alice");
	tc_expect_re(b, "^\\*\\*\\* guest[0-9]+ is now known as alice$", W);

	/* Unregistered: the name is anyone's once alice lets it go. */
	say(a, "/unregister hunter2222", "*** wrong password");
	say(a, "/unregister newpass99", "*** alice is no longer registered");
	say(b, "/nick alice", "*** name alice is taken");
	say(a, "/nick alicia", "*** you are now known as alicia");
	tc_expect_line(b, "*** alice is now known as alicia");
	say(b, "/nick alice", "*** you are now known as alice");
	say(b, "/login nobody12 whatever1", "*** login failed: wrong name or "
	    "password");

	chatd_wait_log(d, "registered alice");
	chatd_wait_log(d, "changed the password of alice");
	chatd_wait_log(d, "unregistered alice");
	chatd_wait_log_re(d, "failed login as alice: wrong password$");
	/* A name that is no account is not logged: it may be a password. */
	chatd_wait_log_re(d, "\\]: failed login: no such account$");
	ck_assert_int_eq(chatd_log_count(d, "nobody12"), 0);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* /login takes the name from whoever holds it, who is told why. */
START_TEST(test_login_takes_name)
{
	struct chatd	*d;
	struct tc	*a, *b, *c;
	char		*dir = NULL;

	d = start(&dir, ACCOUNTS);
	a = registered(d, "alice", "hunter2222");
	b = tc_connect(d);
	tc_rename(b, "second");
	tc_expect_re(a, " joined$", W);
	/* A second session of alice's: the first is logged out. */
	tc_send(b, "/login alice hunter2222\n");
	tc_expect(b, "*** you are logged in as alice", W);
	tc_expect_line(b, "*** you are now known as alice");
	tc_expect_line_re(a, "^\\*\\*\\* alice logged in again, so you are "
	    "logged out; you are now guest[0-9]+$");
	tc_expect_re(a, "^\\*\\*\\* guest[0-9]+ is now known as alice$", W);
	tc_send(a, "/who\n");
	tc_expect_line(a, "*** 2 online:");
	tc_expect_line_re(a, "^\\*\\*\\*   guest[0-9]+ .* \\(you\\)$");
	tc_expect_line_re(a, "^\\*\\*\\*   alice .*, logged in$");
	/* Two sessions of alice's; one unregisters, both are logged out. */
	say(b, "/nick alice2", "*** you are now known as alice2");
	tc_send(a, "/login alice hunter2222\n");
	tc_expect(a, "*** you are logged in as alice", W);
	tc_expect(a, "*** you are now known as alice", W);
	tc_expect_re(b, "is now known as alice$", W);
	say(b, "/unregister hunter2222", "*** alice is no longer registered");
	tc_expect(a, "*** alice was unregistered: you are logged out", W);
	say(a, "/certfp list", "*** you are not logged in");
	tc_send(b, "/nick guest-again\n");
	tc_expect(b, "*** you are now known as guest-again", W);
	tc_expect(a, "*** alice2 is now known as guest-again", W);
	say(a, "/register hunter2222", "*** alice is registered to you");
	tc_expect_line(a, "*** you are logged in as alice");
	tc_send(a, "/logout\n");
	tc_expect(a, "*** you logged out", W);
	tc_send(b, "/login alice hunter2222\n");
	tc_expect(b, "*** you are logged in as alice", W);
	tc_expect(b, "*** you are now known as alice", W);

	/* A /logout leaves the name free, but still alice's to log in to. */
	tc_send(b, "/logout\n");
	tc_expect(b, "*** you logged out", W);
	c = tc_connect(d);
	say(c, "/nick alice", "*** alice is registered: /login alice "
	    "PASSWORD to use it");
	tc_close(c);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * After login_attempts (3) failures a login is refused with the time to
 * wait, even with the right password: from that address, and to that
 * account from anywhere.  Another address logs in to another account.
 */
START_TEST(test_login_throttled)
{
	struct chatd	*d;
	struct tc	*a, *b, *m, *o;
	char		*dir = NULL;
	int		 i;

	d = start(&dir, ACCOUNTS "login_attempts = 3\n");
	a = registered(d, "alice", "hunter2222");
	b = registered(d, "bobby", "bobbypass");
	tc_send(a, "/quit\n");
	tc_close(a);
	m = tc_connect(d);
	for (i = 0; i < 3; i++) {
		tc_send(m, "/login alice guess-wrong\n");
		tc_expect(m, "*** login failed: wrong name or password", W);
	}
	tc_send(m, "/login alice hunter2222\n");
	tc_expect_re(m, "^\\*\\*\\* too many failed logins: try again in "
	    "[0-9]+ s$", W);
	chatd_wait_log_re(d, "login as alice refused: too many failures$");
	/* A logged-in session's password guesses count the same. */
	tc_send(b, "/password bobbypass newpass12\n");
	tc_expect_re(b, "^\\*\\*\\* too many failed logins: try again in "
	    "[0-9]+ s$", W);
	tc_send(b, "/quit\n");
	tc_close(b);
	/* The account is held back for everyone. */
	if ((o = tc_dial(d->port, "127.0.0.2")) == NULL) {
		harness_skip("test_login_throttled", "cannot bind 127.0.0.2: "
		    "%s", strerror(errno));
		goto out;
	}
	tc_welcome(o);
	tc_send(o, "/login alice hunter2222\n");
	tc_expect_re(o, "^\\*\\*\\* too many failed logins: try again in "
	    "[0-9]+ s$", W);
	/* Another account from another address: fine. */
	say(o, "/login bobby bobbypass", "*** you are logged in as bobby");
	/* m's address is held back for every account. */
	tc_send(m, "/login bobby bobbypass\n");
	tc_expect_re(m, "^\\*\\*\\* too many failed logins: try again in "
	    "[0-9]+ s$", W);
	tc_close(o);
out:
	tc_close(m);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* A password appears in no other client's output and nowhere in the log. */
START_TEST(test_password_never_shown)
{
	static const char *const secrets[] = { "Sw0rdfish-s3cret",
	    "Wr0ng-gu3ss-s3cret", "N3w-s3cret-pass" };
	struct chatd	*d;
	struct tc	*a, *b;
	char		*dir = NULL, *seen;
	const char	*log;
	size_t		 i;

	d = start(&dir, ACCOUNTS);
	b = tc_connect(d);
	a = registered(d, "alice", secrets[0]);
	tc_send(a, "/logout\n/login alice %s\n/login alice %s\n"
	    "/password %s %s\n/unregister %s\n//login alice %s\n", secrets[1],
	    secrets[0], secrets[0], secrets[2], secrets[1], "not-a-command");
	tc_expect(a, "*** wrong password", W);
	tc_send(a, "the end\n");
	seen = lines_until(b, "<alice> the end");
	for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		ck_assert_msg(strstr(seen, secrets[i]) == NULL, "another "
		    "client saw '%s':\n%s", secrets[i], seen);
	}
	/* What was said as chat is chat: the escape shows the check works. */
	ck_assert_ptr_nonnull(strstr(seen, "<alice> /login alice "
	    "not-a-command"));
	free(seen);
	chatd_wait_log(d, "changed the password of alice");
	log = chatd_log(d);
	for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		ck_assert_msg(strstr(log, secrets[i]) == NULL, "the log holds "
		    "'%s':\n%s", secrets[i], log);
	tc_close(a);
	tc_close(b);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* Plain connections may not send passwords; TLS ones may. */
START_TEST(test_passwords_over_tls)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct prog	 p;
	struct tc	*a;
	char		*dir = NULL, *openssl, *more, *want;
	int		 tport;

	/* No TLS at all: said so. */
	d = start(&dir, "\n[accounts]\nhash_cost = 1\n");
	a = named(d, "alice");
	say(a, "/register hunter2222", "*** passwords go over TLS only, and "
	    "this server has no TLS port");
	say(a, "/login alice hunter2222", "*** passwords go over TLS only, "
	    "and this server has no TLS port");
	tc_close(a);
	chatd_stop_ok(d);

	tport = harness_free_port();
	more = harness_asprintf("\n[accounts]\nhash_cost = 1\n\n[tls]\n"
	    "bind = 127.0.0.1\nport = %d\ncertificate = %s/cert.pem\n"
	    "private_key = %s/key.pem\n", tport, certdir, certdir);
	d = start(&dir, more);
	free(more);
	a = named(d, "alice");
	want = harness_asprintf("*** passwords go over TLS only: connect to "
	    "port %d with TLS (openssl s_client -quiet -connect HOST:%d)",
	    tport, tport);
	say(a, "/register hunter2222", want);
	free(want);
	tc_close(a);
	if (!find_programs("test_passwords_over_tls", names, &openssl))
		goto out;
	s_client(&p, dir, "s_client", openssl, tport, 1, "-quiet", NULL);
	say(p.c, "/nick alice", "*** you are now known as alice");
	say(p.c, "/register hunter2222", "*** alice is registered to you");
	tc_expect_line(p.c, "*** you are logged in as alice");
	prog_stop(&p);
	free(openssl);
out:
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* One text from the SQLite file. */
static char *
sql_text(const char *path, const char *sql)
{
	sqlite3		*h;
	sqlite3_stmt	*q;
	char		*out;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		ck_abort_msg("%s: %s", path, sqlite3_errmsg(h));
	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, sqlite3_errmsg(h));
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	out = harness_asprintf("%s", (const char *)sqlite3_column_text(q,
	    0));
	sqlite3_finalize(q);
	sqlite3_close(h);
	return (out);
}

/*
 * Accounts survive a restart; the hash on disk is yescrypt of the
 * default cost (5: "$y$j9T$").
 */
START_TEST(test_survive_restart)
{
	struct chatd	*d;
	struct tc	*a;
	char		*dir = NULL, *db, *hash;

	d = start(&dir, "\n[accounts]\nallow_plaintext_passwords = yes\n");
	a = registered(d, "alice", "hunter2222");
	tc_close(a);
	chatd_stop_ok(d);

	db = harness_asprintf("%s/chatd.db", dir);
	hash = sql_text(db, "SELECT hash FROM accounts WHERE key = 'allce';");
	ck_assert_msg(strncmp(hash, "$y$j9T$", 7) == 0, "stored hash '%s' "
	    "is not yescrypt of cost 5", hash);
	ck_assert_ptr_null(strstr(hash, "hunter2222"));
	free(hash);
	free(db);

	d = start(&dir, "\n[accounts]\nallow_plaintext_passwords = yes\n");
	a = tc_connect(d);
	say(a, "/login alice hunter2222", "*** you are logged in as alice");
	tc_expect_line(a, "*** you are now known as alice");
	tc_close(a);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* /certfp add: the next TLS connection with that certificate logs in. */
START_TEST(test_certfp_login)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct prog	 p;
	char		*dir = NULL, *openssl, *more, *want, *cert, *key;
	int		 tport;

	if (!find_programs("test_certfp_login", names, &openssl))
		return;
	tport = harness_free_port();
	more = harness_asprintf("\n[accounts]\nhash_cost = 1\n\n[tls]\n"
	    "bind = 127.0.0.1\nport = %d\ncertificate = %s/cert.pem\n"
	    "private_key = %s/key.pem\nca = %s/alice.pem\n", tport, certdir,
	    certdir, certdir);
	d = start(&dir, more);
	free(more);
	cert = harness_asprintf("%s/alice.pem", certdir);
	key = harness_asprintf("%s/alice-key.pem", certdir);

	s_client(&p, dir, "first", openssl, tport, 1, "-quiet", "-cert", cert,
	    "-key", key, NULL);
	say(p.c, "/nick alice", "*** you are now known as alice");
	say(p.c, "/register hunter2222", "*** alice is registered to you");
	tc_expect_line(p.c, "*** you are logged in as alice");
	say(p.c, "/certfp add", "*** this certificate now logs you in as "
	    "alice");
	want = harness_asprintf("*** SHA256:%s (this connection's)",
	    alice_fp);
	say(p.c, "/certfp list", want);
	free(want);
	say(p.c, "/certfp add", "*** that certificate already logs in alice");
	prog_stop(&p);

	s_client(&p, dir, "second", openssl, tport, 1, "-quiet", "-cert",
	    cert, "-key", key, NULL);
	tc_expect(p.c, "*** you are logged in as alice by your certificate",
	    W);
	tc_expect_line(p.c, "*** you are now known as alice");
	want = harness_asprintf("logged in as alice by your certificate");
	chatd_wait_log(d, want);
	free(want);
	want = harness_asprintf("/certfp del SHA256:%s", alice_fp);
	tc_send(p.c, "%s\n", want);
	free(want);
	want = harness_asprintf("*** certificate SHA256:%s no longer logs in "
	    "alice", alice_fp);
	tc_expect_line(p.c, want);
	free(want);
	prog_stop(&p);

	/* Without it: a guest, not logged in. */
	s_client(&p, dir, "third", openssl, tport, 1, "-quiet", "-cert", cert,
	    "-key", key, NULL);
	tc_send(p.c, "/certfp list\n");
	tc_expect_line(p.c, "*** you are not logged in");
	prog_stop(&p);
	ck_assert_int_eq(chatd_log_count(d, "by your certificate"), 1);
	chatd_stop_ok(d);
	free(cert);
	free(key);
	free(openssl);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * Operators kick, mute, ban and announce from the chat, as chatctl does;
 * others may not; a reload changes the list at once.
 */
START_TEST(test_operators)
{
	struct chatd	*d;
	struct tc	*op, *bob, *carol, *eve;
	char		*dir = NULL, *body;

	d = start(&dir, ACCOUNTS "operators = opal\n");
	op = registered(d, "opal", "opalpass1");
	bob = named(d, "bob");
	carol = named(d, "carol");
	eve = named(d, "eve");
	tc_expect_re(op, "is now known as eve$", W);
	tc_expect_re(bob, "is now known as eve$", W);
	tc_expect_re(carol, "is now known as eve$", W);

	say(eve, "/kick bob", "*** /kick is for operators");
	say(eve, "/announce hi", "*** /announce is for operators");

	say(op, "/kick bob flooding", "*** kicked bob (#2)");
	tc_expect_line(bob, "*** you have been kicked: flooding");
	tc_expect_eof(bob);
	tc_close(bob);
	tc_expect(carol, "*** bob left (kicked: flooding)", W);
	tc_expect(op, "*** bob left (kicked: flooding)", W);
	chatd_wait_log_re(d, "operator opal: bob \\(#2\\) kicked: flooding$");

	say(op, "/mute carol 1h", "*** muted carol (#3)");
	tc_expect_line(carol, "*** you have been muted for 1h00m: nobody sees "
	    "what you say");
	say(op, "/unmute carol", "*** unmuted carol (#3)");
	tc_expect_line(carol, "*** you are no longer muted");
	say(op, "/unmute carol", "*** carol is not muted");
	say(op, "/kick nobody", "*** no such user: nobody");

	tc_send(op, "/announce back at noon\n");
	tc_expect(op, "*** announced to 3 clients here", W);
	tc_expect(carol, "*** back at noon", W);
	tc_expect(eve, "*** back at noon", W);
	tc_send(op, "/ban eve 1h trolling\n");
	tc_expect_re(op, "^\\*\\*\\* banned eve until [0-9T:-]+Z, 1 client "
	    "removed$", W);
	tc_expect(eve, "*** you have been banned: trolling", W);
	tc_expect_eof(eve);
	tc_close(eve);
	tc_expect(op, "*** eve left (banned: trolling)", W);
	chatd_wait_log_re(d, "operator opal: ban eve: trolling \\(1 client "
	    "removed\\)$");
	chatd_wait_log_re(d, "operator opal: announced: back at noon$");

	/* opal is an operator no more, at once. */
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[control]\nstate = %s/chatd.db\n" ACCOUNTS "operators = carol\n",
	    d->port, dir);
	free(harness_write_file(d->dir, "chatd.conf", body));
	free(body);
	chatd_reload(d);
	say(op, "/kick carol", "*** /kick is for operators");
	tc_close(op);
	tc_close(carol);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
e2e_accounts_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_accounts");
	tc = tcase_create("accounts");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_login_takes_name);
	tcase_add_test(tc, test_login_throttled);
	tcase_add_test(tc, test_password_never_shown);
	tcase_add_test(tc, test_passwords_over_tls);
	tcase_add_test(tc, test_survive_restart);
	tcase_add_test(tc, test_certfp_login);
	tcase_add_test(tc, test_operators);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_accounts_suite());
}
