/*
 * End-to-end tests of the [tls] section and the PROXY protocol keys as an
 * operator meets them: the real chatd reads a config naming real files
 * and says, with exit status 78 and one line, what is wrong and where
 * ("chatd: FILE:LINE: message", or "chatd: FILE: message" when no one
 * line is to blame), both for `chatd -t -c FILE` and for a start; a good
 * config passes -t.
 *
 * The certificates are made at test time (certs.c), once, by an
 * unchecked fixture in the runner, in a private directory under the
 * harness root (removed at exit): an EC and an RSA key with self-signed
 * certificates, another EC key that matches neither, a certificate that
 * expired yesterday and one valid from tomorrow, and a text file that is
 * no PEM at all.
 *
 * Where chatd quotes OpenSSL ("error:0480006C:PEM routines::no start
 * line"), the text is OpenSSL 3's, as the daemon prints it on Debian 12;
 * the test asserts the whole line, because that line is all the operator
 * gets.
 *
 * Then the running daemon, with the real clients and proxies a user or an
 * operator would put in front of it, all from Debian's packages:
 *
 *  - the three documented clients, "openssl s_client -quiet", "ncat
 *    --ssl" and "socat - OPENSSL:...", each chatting with a plain client
 *    in one room; each runs with its stdin and stdout on one end of a
 *    socketpair, whose other end is an ordinary test client (struct tc);
 *  - TLS 1.1 refused (the client lowers its own security level to offer
 *    it), TLS 1.2 served unless min_version = 1.3;
 *  - with ca set: a certificate the CA did not sign refused, a signed
 *    one's SHA-256 fingerprint logged, no certificate at all served;
 *    without ca, a self-signed one's fingerprint logged;
 *  - SIGHUP with a new certificate and key: a client already connected
 *    stays and keeps talking, a new one sees the new certificate (s_client
 *    -brief names the peer's); then a broken certificate on reload: the
 *    reload fails saying why, and new clients still get the last good one;
 *  - handshakes never finished count against the per-address and total
 *    limits until handshake_timeout closes them;
 *  - haproxy with send-proxy-v2 and stunnel4 with protocol = proxy in
 *    front: the client's own loopback address (127.0.0.2, bound by the
 *    test) in the log and in the per-address limit, the fourth from one
 *    address refused while one from 127.0.0.3 is served;
 *  - the PROXY protocol's refusals: a forged header from an address not
 *    trusted, no header, a slow one; none of them reaches the room;
 *  - a handshake or a header trickled a byte at a time, each byte within
 *    the timeout of the last: cut off once the timeout has passed since
 *    the connection was accepted.
 *
 * Programs are found on PATH (or OPENSSL, NCAT, SOCAT, HAPROXY, STUNNEL
 * name them); a missing one is a SKIP, which CI=true turns into a failure.
 * A proxy is ready when the kernel lists its port as listening
 * (/proc/net/tcp): it says so no other way that a test could wait on.
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
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <check.h>

#include "certs.h"
#include "progs.h"
#include "harness.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define TEST_TIMEOUT	120
#define DAY		(24L * 60 * 60)
#define W		HARNESS_WAIT_MS

/* Certificates ------------------------------------------------------------ */

static char	*certdir;	/* the fixture's files */
static char	 alice_fp[CERTS_FP_SIZE];	/* SHA-256 of alice.pem */
static char	 mallory_fp[CERTS_FP_SIZE];	/* and of mallory.pem */

/* The fixture's files, in certdir. */
static void
key(const char *name, EVP_PKEY *k)
{
	certs_write_key(certdir, name, k);
}

static void
cert(const char *name, const char *cn, EVP_PKEY *k, long from, long to,
    char *fp)
{
	certs_write_cert(certdir, name, cn, k, from, to, fp);
}

static void
certs_setup(void)
{
	EVP_PKEY	*ec, *rsa, *other, *alice, *mallory;

	certdir = harness_mkdtemp("certs");
	ec = certs_key(0);
	rsa = certs_key(1);
	other = certs_key(0);
	alice = certs_key(0);
	mallory = certs_key(0);
	key("key.pem", ec);
	cert("cert.pem", "localhost", ec, -DAY, 30 * DAY, NULL);
	key("rsa-key.pem", rsa);
	cert("rsa-cert.pem", "localhost", rsa, -DAY, 30 * DAY, NULL);
	key("other-key.pem", other);
	cert("expired.pem", "localhost", ec, -30 * DAY, -DAY, NULL);
	cert("future.pem", "localhost", ec, DAY, 30 * DAY, NULL);
	free(harness_write_file(certdir, "text.pem", "this is no "
	    "certificate\n"));
	/* What a reload swaps in, and clients' own. */
	cert("new-cert.pem", "new.chatd.test", other, -DAY, 30 * DAY,
	    NULL);
	key("alice-key.pem", alice);
	cert("alice.pem", "alice", alice, -DAY, 30 * DAY, alice_fp);
	key("mallory-key.pem", mallory);
	cert("mallory.pem", "alice", mallory, -DAY, 30 * DAY, mallory_fp);
	EVP_PKEY_free(alice);
	EVP_PKEY_free(mallory);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(other);
}

static void
certs_teardown(void)
{
	harness_rmtree(certdir);
	free(certdir);
	certdir = NULL;
}

/*
 * A copy of tmpl with each '@' replaced by the certificates' directory
 * and each '$' by conf; free() the result.
 */
static char *
subst(const char *tmpl, const char *conf)
{
	const char	*p;
	char		*out, *s;
	size_t		 len = 1;

	for (p = tmpl; *p != '\0'; p++)
		len += *p == '@' ? strlen(certdir) : *p == '$' ?
		    strlen(conf) : 1;
	if ((out = s = malloc(len)) == NULL)
		ck_abort_msg("malloc");
	for (p = tmpl; *p != '\0'; p++) {
		if (*p == '@')
			s = stpcpy(s, certdir);
		else if (*p == '$')
			s = stpcpy(s, conf);
		else
			*s++ = *p;
	}
	*s = '\0';
	return (out);
}

/* Configs ----------------------------------------------------------------- */

#define OPENSSL_NO_PEM	"error:0480006C:PEM routines::no start line"
#define OPENSSL_NO_KEY	"error:1E08010C:DECODER routines::unsupported"
#define OPENSSL_NO_CA	"error:05800088:x509 certificate routines::" \
	"no certificate or crl found"
#define OPENSSL_MISMATCH "error:05800074:x509 certificate routines::" \
	"key values mismatch"
#define PREFIX_HINT	"is not an address or a prefix (192.0.2.0/24, " \
	"2001:db8::/64)"

/* '@' is the certificates' directory, '$' the config file. */
static const struct {
	const char	*name;
	const char	*body;
	const char	*want;		/* all chatd prints */
} bad[] = {
	{ "cert_missing",
	    "[tls]\ncertificate = @/missing.pem\nprivate_key = @/key.pem\n",
	    "chatd: $:2: certificate: cannot read @/missing.pem: No such "
	    "file or directory\n" },
	{ "key_missing",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/missing.pem\n",
	    "chatd: $:3: private_key: cannot read @/missing.pem: No such "
	    "file or directory\n" },
	{ "ca_missing",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/key.pem\n"
	    "ca = @/missing.pem\n",
	    "chatd: $:4: ca: cannot read @/missing.pem: No such file or "
	    "directory\n" },
	/* What the files hold, reported at the line of certificate. */
	{ "cert_not_pem",
	    "[tls]\ncertificate = @/text.pem\nprivate_key = @/key.pem\n",
	    "chatd: $:2: certificate: @/text.pem: " OPENSSL_NO_PEM "\n" },
	{ "cert_is_key",
	    "[tls]\ncertificate = @/key.pem\nprivate_key = @/cert.pem\n",
	    "chatd: $:2: certificate: @/key.pem: " OPENSSL_NO_PEM "\n" },
	{ "key_not_pem",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/text.pem\n",
	    "chatd: $:2: private_key: @/text.pem: " OPENSSL_NO_KEY "\n" },
	{ "key_is_cert",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/cert.pem\n",
	    "chatd: $:2: private_key: @/cert.pem: " OPENSSL_NO_KEY "\n" },
	/*
	 * A key of the certificate's type that is not its key is refused
	 * by OpenSSL as it loads it; a key of another type gets as far as
	 * chatd's own check.
	 */
	{ "key_mismatch",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/other-key.pem\n",
	    "chatd: $:2: private_key: @/other-key.pem: " OPENSSL_MISMATCH
	    "\n" },
	{ "key_mismatch_type",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/rsa-key.pem\n",
	    "chatd: $:2: private_key: @/rsa-key.pem does not match the "
	    "certificate @/cert.pem\n" },
	{ "cert_expired",
	    "[server]\nport = 7000\n\n[tls]\ncertificate = @/expired.pem\n"
	    "private_key = @/key.pem\n",
	    "chatd: $:5: certificate: @/expired.pem: expired\n" },
	{ "cert_not_yet_valid",
	    "[tls]\nprivate_key = @/key.pem\ncertificate = @/future.pem\n",
	    "chatd: $:3: certificate: @/future.pem: not valid yet\n" },
	{ "ca_not_pem",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/key.pem\n"
	    "ca = @/text.pem\n",
	    "chatd: $:2: ca: @/text.pem: " OPENSSL_NO_CA "\n" },
	/* Keys that need others, which no one line is to blame for. */
	{ "key_without_cert",
	    "[tls]\nprivate_key = @/key.pem\n",
	    "chatd: $: [tls] needs certificate\n" },
	{ "ca_without_cert",
	    "[tls]\nca = @/cert.pem\n",
	    "chatd: $: [tls] needs certificate\n" },
	{ "cert_without_key",
	    "[tls]\ncertificate = @/cert.pem\n",
	    "chatd: $: [tls] certificate needs private_key\n" },
	{ "min_version_1_1",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/key.pem\n"
	    "min_version = 1.1\n",
	    "chatd: $:4: min_version: '1.1' is not 1.2 or 1.3 (TLS 1.0 and "
	    "1.1 are never offered)\n" },
	{ "min_version_tls1_3",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/key.pem\n"
	    "min_version = TLSv1.3\n",
	    "chatd: $:4: min_version: 'TLSv1.3' is not 1.2 or 1.3 (TLS 1.0 "
	    "and 1.1 are never offered)\n" },
	/* The PROXY protocol. */
	{ "proxy_without_trusted",
	    "[server]\nproxy_protocol = yes\n",
	    "chatd: $: proxy_protocol = yes needs trusted_proxies: the "
	    "proxies whose headers are believed\n" },
	{ "trusted_prefix_too_long",
	    "[server]\nproxy_protocol = yes\n"
	    "trusted_proxies = 192.0.2.0/24 10.0.0.0/33\n",
	    "chatd: $:3: trusted_proxies: '10.0.0.0/33' " PREFIX_HINT "\n" },
	{ "trusted_prefix_v6_too_long",
	    "[server]\ntrusted_proxies = 2001:db8::/129\n"
	    "proxy_protocol = yes\n",
	    "chatd: $:2: trusted_proxies: '2001:db8::/129' " PREFIX_HINT
	    "\n" },
	{ "trusted_prefix_leading_zero",
	    "[server]\nproxy_protocol = yes\ntrusted_proxies = 10.0.0.0/08\n",
	    "chatd: $:3: trusted_proxies: '10.0.0.0/08' " PREFIX_HINT "\n" },
	{ "trusted_name",
	    "[server]\nproxy_protocol = yes\n"
	    "trusted_proxies = proxy.example.org\n",
	    "chatd: $:3: trusted_proxies: 'proxy.example.org' " PREFIX_HINT
	    "\n" },
};

/* Each refused by chatd -t, and by a start, with one exact line. */
START_TEST(test_config_bad)
{
	char	*dir, *conf, *body, *want;
	char	*test[] = { "-t", "-c", NULL, NULL };
	char	*start[] = { "-c", NULL, NULL };

	dir = harness_mkdtemp(bad[_i].name);
	body = subst(bad[_i].body, "");
	conf = harness_write_file(dir, "chatd.conf", body);
	want = subst(bad[_i].want, conf);
	test[2] = conf;
	chatd_run_expect(test, 78, want);
	start[1] = conf;
	chatd_run_expect(start, 78, want);
	harness_rmtree(dir);
	free(want);
	free(conf);
	free(body);
	free(dir);
}
END_TEST

static const struct {
	const char	*name;
	const char	*body;
} good[] = {
	{ "tls_ec",
	    "[tls]\ncertificate = @/cert.pem\nprivate_key = @/key.pem\n" },
	{ "tls_rsa_ca_1_3",
	    "[tls]\nbind = 127.0.0.1, ::1\nport = 7778\n"
	    "certificate = @/rsa-cert.pem\nprivate_key = @/rsa-key.pem\n"
	    "ca = @/cert.pem\nmin_version = 1.3\nhandshake_timeout = 5\n" },
	{ "tls_key_first",
	    "[tls]\nprivate_key = @/key.pem\ncertificate = @/cert.pem\n"
	    "min_version = 1.2\n" },
	{ "proxy",
	    "[server]\nproxy_protocol = yes\n"
	    "trusted_proxies = 127.0.0.1 ::1, 10.0.0.0/8 2001:db8::/32\n"
	    "proxy_timeout = 10\n" },
};

START_TEST(test_config_good)
{
	char	*dir, *conf, *body, *want;
	char	*test[] = { "-t", "-c", NULL, NULL };

	dir = harness_mkdtemp(good[_i].name);
	body = subst(good[_i].body, "");
	conf = harness_write_file(dir, "chatd.conf", body);
	want = harness_asprintf("chatd: configuration %s OK\n", conf);
	test[2] = conf;
	chatd_run_expect(test, 0, want);
	harness_rmtree(dir);
	free(want);
	free(conf);
	free(body);
	free(dir);
}
END_TEST

/* The daemon with TLS --------------------------------------------------- */

/*
 * chatd with [tls] on tport, the fixture's EC certificate unless the
 * certificate's directory dir says otherwise, then more (a [tls] key or
 * other sections).
 */
static struct chatd *
start_tls(int tport, const char *dir, const char *more)
{
	struct chatd	*d;
	char		*extra;

	extra = harness_asprintf("\n[tls]\nbind = 127.0.0.1\nport = %d\n"
	    "certificate = %s/cert.pem\nprivate_key = %s/key.pem\n%s", tport,
	    dir != NULL ? dir : certdir, dir != NULL ? dir : certdir,
	    more != NULL ? more : "");
	d = chatd_start(extra);
	free(extra);
	return (d);
}

/*
 * The three clients the README documents, each in turn in the room with a
 * plain client: what one says the other reads, both ways.
 */
START_TEST(test_tls_documented_clients)
{
	static const char *const names[] = { "openssl", "ncat", "socat",
	    NULL };
	struct chatd	*d;
	struct prog	 p;
	struct tc	*plain;
	char		*path[3], *port, *addr, *want, *arg[8];
	int		 tport, i;

	if (!find_programs("test_tls_documented_clients", names, path))
		return;
	tport = harness_free_port();
	d = start_tls(tport, NULL, NULL);
	plain = tc_connect(d);
	port = harness_asprintf("%d", tport);
	addr = harness_asprintf("OPENSSL:127.0.0.1:%d,verify=0", tport);
	for (i = 0; i < 3; i++) {
		memset(arg, 0, sizeof arg);
		if (i == 0) {
			arg[0] = "s_client";
			arg[1] = "-quiet";
			arg[2] = "-connect";
			arg[3] = want = harness_asprintf("127.0.0.1:%d",
			    tport);
		} else if (i == 1) {
			arg[0] = "--ssl";
			arg[1] = "127.0.0.1";
			arg[2] = port;
			want = NULL;
		} else {
			arg[0] = "-";
			arg[1] = addr;
			want = NULL;
		}
		tls_client(&p, d->dir, names[i], path[i], arg);
		ck_assert_int_eq(p.c->others, 1);
		free(want);
		want = harness_asprintf("*** %s joined", p.c->name);
		tc_expect_line(plain, want);
		free(want);
		tc_send(p.c, "hello from %s\n", names[i]);
		want = harness_asprintf("<%s> hello from %s", p.c->name,
		    names[i]);
		tc_expect_chat(plain, want);
		free(want);
		tc_send(plain, "hello %s\n", p.c->name);
		want = harness_asprintf("<%s> hello %s", plain->name,
		    p.c->name);
		tc_expect_chat(p.c, want);
		free(want);
		prog_stop(&p);
		tc_expect(plain, "*** ", W);
	}
	/* Each was a TLS 1.3 client without a certificate, in the log. */
	ck_assert_int_eq(chatd_log_count(d, ": TLSv1.3, no client "
	    "certificate"), 3);
	ck_assert_int_eq(chatd_log_count(d, " connected over TLS (2 "
	    "online)"), 3);
	tc_close(plain);
	chatd_stop_ok(d);
	free(addr);
	free(port);
	for (i = 0; i < 3; i++)
		free(path[i]);
}
END_TEST

#define UNSUPPORTED	"TLS handshake failed: error:0A000102:SSL " \
	"routines::unsupported protocol"

/*
 * TLS 1.1 is refused, even from a client that lowers its own security
 * level to offer it; TLS 1.2 is served by default, and refused with
 * min_version = 1.3.
 */
START_TEST(test_tls_versions)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct prog	 p;
	char		*openssl;
	int		 tport;

	if (!find_programs("test_tls_versions", names, &openssl))
		return;
	tport = harness_free_port();
	d = start_tls(tport, NULL, NULL);
	s_client(&p, d->dir, "tls1_1", openssl, tport, 0, "-quiet", "-tls1_1",
	    "-cipher", "DEFAULT@SECLEVEL=0", NULL);
	tc_expect_eof(p.c);
	ck_assert_int_ne(prog_exit(&p), 0);
	ck_assert_msg(prog_said(&p, "alert protocol version"), "s_client "
	    "said:\n%s", harness_read_file(p.err));
	chatd_wait_log(d, UNSUPPORTED);
	prog_stop(&p);

	s_client(&p, d->dir, "tls1_2", openssl, tport, 1, "-quiet", "-tls1_2",
	    NULL);
	chatd_wait_log(d, ": TLSv1.2, no client certificate");
	prog_stop(&p);
	chatd_stop_ok(d);

	tport = harness_free_port();
	d = start_tls(tport, NULL, "min_version = 1.3\n");
	s_client(&p, d->dir, "tls1_2", openssl, tport, 0, "-quiet", "-tls1_2",
	    NULL);
	tc_expect_eof(p.c);
	chatd_wait_log(d, UNSUPPORTED);
	prog_stop(&p);
	s_client(&p, d->dir, "tls1_3", openssl, tport, 1, "-quiet", NULL);
	chatd_wait_log(d, ": TLSv1.3, no client certificate");
	prog_stop(&p);
	chatd_stop_ok(d);
	free(openssl);
}
END_TEST

/*
 * With ca set: a certificate the CA did not sign is refused (mallory's,
 * though it says CN=alice), the one it signed is served and its
 * fingerprint logged, and a client without a certificate is served.
 */
START_TEST(test_tls_client_certificate)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct prog	 p;
	char		*openssl, *ca, *cert, *key, *want;
	int		 tport;

	if (!find_programs("test_tls_client_certificate", names, &openssl))
		return;
	tport = harness_free_port();
	ca = harness_asprintf("ca = %s/alice.pem\n", certdir);
	d = start_tls(tport, NULL, ca);

	cert = harness_asprintf("%s/mallory.pem", certdir);
	key = harness_asprintf("%s/mallory-key.pem", certdir);
	s_client(&p, d->dir, "mallory", openssl, tport, 0, "-quiet", "-cert", cert,
	    "-key", key, NULL);
	tc_expect_eof(p.c);
	chatd_wait_log(d, "TLS handshake failed: error:0A000086:SSL "
	    "routines::certificate verify failed");
	ck_assert_msg(prog_said(&p, "alert unknown ca"), "s_client said:\n%s",
	    harness_read_file(p.err));
	prog_stop(&p);
	free(cert);
	free(key);

	cert = harness_asprintf("%s/alice.pem", certdir);
	key = harness_asprintf("%s/alice-key.pem", certdir);
	s_client(&p, d->dir, "alice", openssl, tport, 1, "-quiet", "-cert", cert,
	    "-key", key, NULL);
	want = harness_asprintf(": TLSv1.3, client certificate SHA256:%s",
	    alice_fp);
	chatd_wait_log(d, want);
	free(want);
	prog_stop(&p);

	s_client(&p, d->dir, "nocert", openssl, tport, 1, "-quiet", NULL);
	chatd_wait_log(d, ": TLSv1.3, no client certificate");
	prog_stop(&p);
	chatd_stop_ok(d);
	free(cert);
	free(key);

	/* Without ca, any certificate is taken for its fingerprint. */
	tport = harness_free_port();
	d = start_tls(tport, NULL, NULL);
	cert = harness_asprintf("%s/mallory.pem", certdir);
	key = harness_asprintf("%s/mallory-key.pem", certdir);
	s_client(&p, d->dir, "self-signed", openssl, tport, 1, "-quiet",
	    "-cert", cert, "-key", key, NULL);
	want = harness_asprintf(": TLSv1.3, client certificate SHA256:%s",
	    mallory_fp);
	chatd_wait_log(d, want);
	free(want);
	prog_stop(&p);
	chatd_stop_ok(d);
	free(cert);
	free(key);
	free(ca);
	free(openssl);
}
END_TEST

/* Copies certdir/from to dir/to. */
static void
copy_cert(const char *from, const char *dir, const char *to)
{
	char	*path, *text;

	path = harness_asprintf("%s/%s", certdir, from);
	text = harness_read_file(path);
	ck_assert_msg(text[0] != '\0', "%s is empty", path);
	free(harness_write_file(dir, to, text));
	free(text);
	free(path);
}

/* A new client sees the certificate for cn, and is welcomed. */
static void
expect_cert(struct prog *p, struct chatd *d, const char *tag,
    const char *openssl, int tport, const char *cn)
{
	char	*want;

	s_client(p, d->dir, tag, openssl, tport, 1, "-brief", NULL);
	want = harness_asprintf("Peer certificate: CN = %s\n", cn);
	ck_assert_msg(prog_said(p, want), "%s: no \"%s\"; s_client said:\n%s",
	    tag, want, harness_read_file(p->err));
	free(want);
}

/*
 * SIGHUP with a new certificate and key in place of the old: a client
 * connected before stays and talks, a new one sees the new certificate.
 * Then a reload with a broken certificate fails saying why, and the next
 * client still sees the last good one.
 */
START_TEST(test_tls_reload_certificate)
{
	static const char *const names[] = { "openssl", NULL };
	struct chatd	*d;
	struct prog	 x, y;
	char		*openssl, *dir, *want;
	int		 tport;

	if (!find_programs("test_tls_reload_certificate", names, &openssl))
		return;
	dir = harness_mkdtemp("live");
	copy_cert("cert.pem", dir, "cert.pem");
	copy_cert("key.pem", dir, "key.pem");
	tport = harness_free_port();
	d = start_tls(tport, dir, NULL);
	expect_cert(&x, d, "x", openssl, tport, "localhost");

	copy_cert("other-key.pem", dir, "key.pem");
	copy_cert("new-cert.pem", dir, "cert.pem");
	chatd_reload(d);
	chatd_wait_log(d, "configuration reloaded from ");
	expect_cert(&y, d, "y", openssl, tport, "new.chatd.test");
	tc_send(x.c, "still here\n");
	want = harness_asprintf("<%s> still here", x.c->name);
	tc_expect_chat(y.c, want);
	free(want);
	tc_send(y.c, "welcome back\n");
	want = harness_asprintf("<%s> welcome back", y.c->name);
	tc_expect_chat(x.c, want);
	free(want);
	prog_stop(&y);

	free(harness_write_file(dir, "cert.pem", "this is no certificate\n"));
	chatd_reload(d);
	want = harness_asprintf("reload failed: %s:8: certificate: %s/cert.pem: "
	    "error:0480006C:PEM routines::no start line; keeping the old "
	    "configuration", d->conf, dir);
	chatd_wait_log(d, want);
	free(want);
	expect_cert(&y, d, "z", openssl, tport, "new.chatd.test");
	tc_send(x.c, "and still\n");
	want = harness_asprintf("<%s> and still", x.c->name);
	tc_expect_chat(y.c, want);
	free(want);
	prog_stop(&y);
	prog_stop(&x);
	chatd_stop_ok(d);
	harness_rmtree(dir);
	free(dir);
	free(openssl);
}
END_TEST

/* A connection from src (NULL: 127.0.0.1) to port; the test's skip if not. */
static struct tc *
dial(int port, const char *src, const char *test)
{
	struct tc	*c;

	if ((c = tc_dial(port, src)) == NULL)
		harness_skip(test, "cannot bind %s: %s", src, strerror(errno));
	return (c);
}

/*
 * A TLS connection that never finishes its handshake counts against the
 * per-address and total limits until handshake_timeout closes it.
 */
START_TEST(test_tls_handshake_limits)
{
	static const char	*t = "test_tls_handshake_limits";
	struct chatd		*d;
	struct tc		*r1, *r2, *r3, *q, *x;
	int			 tport;

	tport = harness_free_port();
	d = start_tls(tport, NULL, "handshake_timeout = 1\n\n[limits]\n"
	    "max_clients = 3\nmax_clients_per_address = 2\n");
	r1 = tc_dial(tport, NULL);
	r2 = tc_dial(tport, NULL);
	/* The third from 127.0.0.1 cannot be told why: it is closed. */
	r3 = tc_dial(tport, NULL);
	tc_expect_eof(r3);
	chatd_wait_log_re(d, "client 3 \\[127\\.0\\.0\\.1\\]:[0-9]+ refused: "
	    "too many connections from your address$");
	if ((q = dial(d->port, "127.0.0.2", t)) == NULL)
		goto out;
	tc_welcome(q);
	ck_assert_int_eq(q->others, 0);
	if ((x = dial(d->port, "127.0.0.3", t)) == NULL)
		goto out;
	tc_expect_line(x, "*** server full, try again later");
	tc_expect_eof(x);
	tc_close(x);

	/* The two pending handshakes time out, and make room. */
	tc_expect_eof(r1);
	tc_expect_eof(r2);
	/* By the bufferevent's timeout, or by the cron's (same second). */
	chatd_wait_log_n(d, "TLS handshake timed out: ", 2);
	x = tc_connect(d);
	ck_assert_int_eq(x->others, 1);
	tc_close(x);
out:
	tc_close(q);
	tc_close(r3);
	tc_close(r2);
	tc_close(r1);
	chatd_stop_ok(d);
}
END_TEST

struct said {
	const char	*path;
	const char	*text;
};

static int
said(void *arg)
{
	struct said	*w = arg;

	return (file_has(w->path, w->text));
}

/*
 * Runs chatd under systemd-socket-activate with a plain and a TLS socket
 * (--fdname=chatd.socket:tls, as chatd.socket and chatd-tls.socket pass
 * them) and config body; returns once both listen.  p->err collects what
 * both say.
 */
static void
start_activated(struct prog *p, const char *dir, const char *sa,
    const char *body, int port, int tport)
{
	struct harness_exec	 x;
	struct said		 w;
	char			*conf, *l1, *l2, *ready;
	char			*pre[] = { (char *)sa, "-l", NULL, "-l", NULL,
				    "--fdname=chatd.socket:tls", NULL };
	char			*tail[] = { "-c", NULL, NULL };
	int			 err;

	conf = harness_write_file(dir, "chatd.conf", body);
	l1 = harness_asprintf("127.0.0.1:%d", port);
	l2 = harness_asprintf("127.0.0.1:%d", tport);
	pre[2] = l1;
	pre[4] = l2;
	tail[1] = conf;
	memset(p, 0, sizeof *p);
	p->status = -1;
	p->err = harness_asprintf("%s/activate.log", dir);
	if ((err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		ck_abort_msg("%s: %s", p->err, strerror(errno));
	memset(&x, 0, sizeof x);
	x.pre = pre;
	x.tail = tail;
	x.outfd = err;
	p->pid = harness_spawn(&x);
	close(err);
	ready = harness_asprintf("Listening on %s as 4.", l2);
	w.path = p->err;
	w.text = ready;
	if (!harness_poll(said, &w, W))
		ck_abort_msg("systemd-socket-activate does not listen; it "
		    "said:\n%s", harness_read_file(p->err));
	free(ready);
	free(l2);
	free(l1);
	free(conf);
}

/*
 * Socket activation with chatd.socket's and chatd-tls.socket's names:
 * chatd serves the one named tls with TLS and the other plain, and
 * refuses to start (exit status 78) with a socket named tls and no
 * certificate.
 */
START_TEST(test_tls_socket_activation)
{
	static const char *const names[] = { "openssl", NULL };
	struct prog	 sa, p;
	struct tc	*plain;
	struct said	 w;
	char		*openssl, *activate, *dir, *body, *want;
	int		 port, tport;

	if (!find_programs("test_tls_socket_activation", names, &openssl))
		return;
	if ((activate = harness_program("systemd-socket-activate", NULL)) ==
	    NULL) {
		harness_skip("test_tls_socket_activation", "no "
		    "systemd-socket-activate (Debian: systemd)");
		free(openssl);
		return;
	}
	dir = harness_mkdtemp("activated");
	port = harness_free_port();
	tport = harness_free_port();
	body = harness_asprintf("[server]\nbind = 127.0.0.1\nport = 1\n\n"
	    "[tls]\nport = 2\ncertificate = %s/cert.pem\n"
	    "private_key = %s/key.pem\n", certdir, certdir);
	start_activated(&sa, dir, activate, body, port, tport);
	free(body);
	/* The plain socket starts chatd; then the TLS one is served. */
	plain = tc_dial(port, NULL);
	tc_welcome(plain);
	s_client(&p, dir, "s_client", openssl, tport, 1, "-quiet", NULL);
	want = harness_asprintf("*** %s joined", p.c->name);
	tc_expect_line(plain, want);
	free(want);
	tc_send(p.c, "over the passed TLS socket\n");
	want = harness_asprintf("<%s> over the passed TLS socket", p.c->name);
	tc_expect_chat(plain, want);
	free(want);
	want = harness_asprintf("listening on 127.0.0.1:%d (TLS, from "
	    "systemd)", tport);
	ck_assert_msg(file_has(sa.err, want), "no '%s' in:\n%s", want,
	    harness_read_file(sa.err));
	free(want);
	want = harness_asprintf("listening on 127.0.0.1:%d (from systemd)",
	    port);
	ck_assert_msg(file_has(sa.err, want), "no '%s' in:\n%s", want,
	    harness_read_file(sa.err));
	free(want);
	prog_stop(&p);

	/*
	 * A reload that drops [tls] while the socket named tls is served
	 * fails, and TLS clients are still served.
	 */
	free(harness_write_file(dir, "chatd.conf", "[server]\nport = 1\n"));
	kill(sa.pid, SIGHUP);
	w.path = sa.err;
	w.text = "reload failed: [tls] has no certificate, but systemd passed "
	    "a socket named tls";
	ck_assert_msg(harness_poll(said, &w, W), "no '%s' in:\n%s", w.text,
	    harness_read_file(sa.err));
	s_client(&p, dir, "s_client2", openssl, tport, 1, "-quiet", NULL);
	prog_stop(&p);
	tc_close(plain);
	kill(sa.pid, SIGTERM);
	ck_assert_int_eq(harness_wait(&sa.pid, &sa.status, W), 0);
	free(sa.err);

	/* The same sockets, and no [tls]: a configuration error. */
	port = harness_free_port();
	tport = harness_free_port();
	start_activated(&sa, dir, activate, "[server]\nport = 1\n", port,
	    tport);
	plain = tc_dial(port, NULL);
	tc_expect_eof(plain);
	tc_close(plain);
	ck_assert_int_eq(prog_exit(&sa), 78);
	ck_assert_msg(file_has(sa.err, "error: socket activation: fd 4 is "
	    "named tls, but [tls] has no certificate\n"), "%s",
	    harness_read_file(sa.err));
	free(sa.err);
	harness_rmtree(dir);
	free(dir);
	free(activate);
	free(openssl);
}
END_TEST

/* Behind proxies --------------------------------------------------------- */

#define PROXY_CONF	"proxy_protocol = yes\ntrusted_proxies = 127.0.0.1\n" \
	"\n[limits]\nmax_clients_per_address = 3\n"

/*
 * Clients through a proxy on pport: three from 127.0.0.2 are served
 * under that address, the fourth refused, one from 127.0.0.3 served.
 * connect() makes one client of the proxy from src.
 */
static void
proxied_limits(struct chatd *d, struct tc *(*connect)(const char *src,
    void *arg), void *arg)
{
	struct tc	*c[5];
	int		 i;

	memset(c, 0, sizeof c);
	for (i = 0; i < 3; i++) {
		if ((c[i] = connect("127.0.0.2", arg)) == NULL)
			goto out;
		tc_welcome(c[i]);
		ck_assert_int_eq(c[i]->others, i);
	}
	chatd_wait_log_n(d, ": proxied for [127.0.0.2]:", 3);
	ck_assert_int_eq(chatd_log_count(d, " [127.0.0.2]:"), 6);
	chatd_wait_log_re(d, "client [0-9]+ \\[127\\.0\\.0\\.2\\]:[0-9]+ "
	    "connected( over TLS)? \\(3 online\\)$");
	c[3] = connect("127.0.0.2", arg);
	tc_expect_line(c[3], "*** too many connections from your address, "
	    "try again later");
	tc_expect_eof(c[3]);
	chatd_wait_log_re(d, "client [0-9]+ \\[127\\.0\\.0\\.2\\]:[0-9]+ "
	    "refused: too many connections from your address$");
	if ((c[4] = connect("127.0.0.3", arg)) == NULL)
		goto out;
	tc_welcome(c[4]);
	ck_assert_int_eq(c[4]->others, 3);
	chatd_wait_log_re(d, "client [0-9]+ \\[127\\.0\\.0\\.3\\]:[0-9]+ "
	    "connected( over TLS)? \\(4 online\\)$");
	tc_send(c[4], "from three\n");
	for (i = 0; i < 3; i++) {
		tc_expect(c[i], "<", W);
		ck_assert_msg(strstr(c[i]->line, "> from three") != NULL,
		    "%s", c[i]->line);
	}
out:
	for (i = 0; i < 5; i++)
		tc_close(c[i]);
}

static struct tc *
plain_via(const char *src, void *arg)
{
	return (dial(*(int *)arg, src, "test_proxy_haproxy"));
}

/* haproxy with send-proxy-v2 in front of chatd's plain port. */
START_TEST(test_proxy_haproxy)
{
	static const char *const names[] = { "haproxy", NULL };
	struct chatd	*d;
	struct prog	 h;
	char		*haproxy, *cfg, *body;
	char		*args[] = { "-db", "-f", NULL, NULL };
	int		 hport;

	if (!find_programs("test_proxy_haproxy", names, &haproxy))
		return;
	d = chatd_start(PROXY_CONF);
	hport = harness_free_port();
	body = harness_asprintf("defaults\n\tmode tcp\n\ttimeout connect 10s\n"
	    "\ttimeout client 120s\n\ttimeout server 120s\n\n"
	    "frontend chat\n\tbind 127.0.0.1:%d\n\tdefault_backend chatd\n\n"
	    "backend chatd\n\tserver chatd 127.0.0.1:%d send-proxy-v2\n",
	    hport, d->port);
	cfg = harness_write_file(d->dir, "haproxy.cfg", body);
	args[2] = cfg;
	prog_start(&h, d->dir, "haproxy", haproxy, args, 0);
	wait_listening(&h, hport);
	proxied_limits(d, plain_via, &hport);
	prog_stop(&h);
	chatd_stop_ok(d);
	free(body);
	free(cfg);
	free(haproxy);
}
END_TEST

struct via_tls {
	struct chatd	*d;
	const char	*socat;
	int		 port;
	struct prog	 p[5];
	int		 n;
};

/*
 * socat from src, through its bind option.  Not ncat --ssl -s: ncat does
 * not end when stunnel passes on chatd's close as a TLS close_notify.
 */
static struct tc *
tls_via(const char *src, void *arg)
{
	struct via_tls	*v = arg;
	struct prog	*p = &v->p[v->n];
	char		*addr, *tag;
	char		*args[] = { "-", NULL, NULL };

	addr = harness_asprintf("OPENSSL:127.0.0.1:%d,verify=0,bind=%s",
	    v->port, src);
	tag = harness_asprintf("socat%d", v->n++);
	args[1] = addr;
	prog_start(p, v->d->dir, tag, v->socat, args, 1);
	free(tag);
	free(addr);
	return (p->c);
}

/* stunnel4 with protocol = proxy: TLS outside, PROXY v1 to chatd. */
START_TEST(test_proxy_stunnel)
{
	static const char *const names[] = { "stunnel4", "socat", NULL };
	struct chatd	*d;
	struct prog	 st;
	struct via_tls	 v;
	char		*path[2], *cfg, *body;
	char		*args[] = { NULL, NULL };
	int		 i;

	if (!find_programs("test_proxy_stunnel", names, path))
		return;
	d = chatd_start(PROXY_CONF);
	memset(&v, 0, sizeof v);
	v.d = d;
	v.socat = path[1];
	v.port = harness_free_port();
	body = harness_asprintf("foreground = yes\npid =\n\n[chat]\n"
	    "accept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
	    "cert = %s/cert.pem\nkey = %s/key.pem\nprotocol = proxy\n", v.port,
	    d->port, certdir, certdir);
	cfg = harness_write_file(d->dir, "stunnel.conf", body);
	args[0] = cfg;
	prog_start(&st, d->dir, "stunnel", path[0], args, 0);
	wait_listening(&st, v.port);
	proxied_limits(d, tls_via, &v);
	for (i = 0; i < v.n; i++) {
		v.p[i].c = NULL;	/* closed by proxied_limits() */
		prog_stop(&v.p[i]);
	}
	prog_stop(&st);
	chatd_stop_ok(d);
	free(body);
	free(cfg);
	free(path[0]);
	free(path[1]);
}
END_TEST

/*
 * What the PROXY protocol refuses, with a client in the room who must
 * hear none of it: a forged header from an address not trusted, a
 * connection from a trusted one without a header, and one whose header
 * never ends.  A good header from a trusted address is believed.
 */
START_TEST(test_proxy_refusals)
{
	static const char	*t = "test_proxy_refusals";
	struct chatd		*d;
	struct tc		*member, *c, *legit;
	char			*want;

	d = chatd_start("proxy_protocol = yes\ntrusted_proxies = 127.0.0.1\n"
	    "proxy_timeout = 1\n");
	/* A member, through a header written by hand: 192.0.2.7 to chatd. */
	member = tc_dial(d->port, NULL);
	tc_send(member, "PROXY TCP4 192.0.2.7 127.0.0.1 40000 %d\r\n",
	    d->port);
	tc_welcome(member);
	chatd_wait_log_re(d, "client 1 \\[127\\.0\\.0\\.1\\]:[0-9]+: proxied "
	    "for \\[192\\.0\\.2\\.7\\]:40000$");
	chatd_wait_log(d, "client 1 [192.0.2.7]:40000 connected (1 online)");

	if ((c = dial(d->port, "127.0.0.4", t)) == NULL)
		goto out;
	tc_send(c, "PROXY TCP4 198.51.100.1 127.0.0.1 5000 %d\r\nforged\n",
	    d->port);
	tc_expect_eof(c);
	tc_close(c);
	chatd_wait_log_re(d, "client 2 \\[127\\.0\\.0\\.4\\]:[0-9]+ refused: "
	    "not a trusted proxy, and proxy_protocol is on$");

	c = tc_dial(d->port, NULL);
	tc_send(c, "hello, no header\n");
	tc_expect_eof(c);
	tc_close(c);
	chatd_wait_log_re(d, "client 3 \\[127\\.0\\.0\\.1\\]:[0-9]+: bad PROXY "
	    "header: no PROXY protocol header$");

	c = tc_dial(d->port, NULL);
	tc_send(c, "PROXY TCP4 198.51.100.2 127.0.0.1 ");
	tc_expect_eof(c);
	tc_close(c);
	chatd_wait_log_re(d, "client 4 \\[127\\.0\\.0\\.1\\]:[0-9]+: timed out "
	    "before a PROXY header");

	/* The member heard nothing of them: the next line is this one. */
	legit = tc_dial(d->port, NULL);
	tc_send_bytes(legit, "\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c"
	    "\xc0\x00\x02\x08\x7f\x00\x00\x01\x9c\x40\x1e\x61", 28);
	tc_welcome(legit);
	chatd_wait_log(d, "proxied for [192.0.2.8]:40000");
	want = harness_asprintf("*** %s joined", legit->name);
	tc_expect_line(member, want);
	free(want);
	tc_send(legit, "only me\n");
	want = harness_asprintf("<%s> only me", legit->name);
	tc_expect_line(member, want);
	free(want);
	tc_close(legit);
out:
	tc_close(member);
	chatd_stop_ok(d);
}
END_TEST

/*
 * Sends what a byte at a time, one every TRICKLE_MS, while chatd keeps c
 * open; returns 1 once chatd has closed it, 0 if all of what was sent.
 * The pause paces the load (a slow peer is what is tested); the wait is
 * on chatd, since poll() returns as soon as it closes c.
 */
#define TRICKLE_MS	200
static int
trickle(struct tc *c, const char *what, size_t len)
{
	struct pollfd	pfd;
	char		b;
	size_t		i;

	for (i = 0; i < len; i++) {
		if (tc_write(c, what + i, 1) == -1)
			return (1);
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, TRICKLE_MS) == 1) {
			/* Before a header or a ClientHello: nothing to say. */
			ck_assert_int_le(read(c->fd, &b, 1), 0);
			return (1);
		}
	}
	return (0);
}

/*
 * A TLS handshake and a PROXY header sent a byte every 200 ms, each byte
 * well within the 1 s timeout of the last: chatd closes them anyway once
 * the timeout has passed since the connection was accepted, so a slow
 * peer cannot hold its place against max_clients for as long as it
 * likes.  Seen before: all the bytes went in, the connection still open.
 */
START_TEST(test_slow_trickle)
{
	static const char	 hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01"
				    "\xfc\x03\x03" "0123456789abcdef0123456789"
				    "abcdef0123456789abcdef";
	struct chatd		*d;
	struct tc		*c;
	char			*hdr;
	int			 tport;

	tport = harness_free_port();
	d = start_tls(tport, NULL, "handshake_timeout = 1\n");
	c = tc_dial(tport, NULL);
	ck_assert_msg(trickle(c, hello, sizeof hello - 1),
	    "a handshake trickled over %zu bytes was not cut off",
	    sizeof hello - 1);
	tc_close(c);
	chatd_wait_log_re(d, "client 1 \\[127\\.0\\.0\\.1\\]:[0-9]+: TLS "
	    "handshake timed out: not done in 1 second$");
	chatd_stop_ok(d);

	d = chatd_start("proxy_protocol = yes\ntrusted_proxies = 127.0.0.1\n"
	    "proxy_timeout = 1\n");
	hdr = harness_asprintf("PROXY TCP4 198.51.100.2 127.0.0.1 40000 %d",
	    d->port);
	c = tc_dial(d->port, NULL);
	ck_assert_msg(trickle(c, hdr, strlen(hdr)),
	    "a PROXY header trickled over %zu bytes was not cut off",
	    strlen(hdr));
	tc_close(c);
	chatd_wait_log_re(d, "client 1 \\[127\\.0\\.0\\.1\\]:[0-9]+: timed out "
	    "before a PROXY header: not done in 1 second$");
	free(hdr);
	chatd_stop_ok(d);
}
END_TEST

/* A test case of s with the certificates made for it. */
static TCase *
tcase_certs(Suite *s, const char *name)
{
	TCase	*tc;

	tc = tcase_create(name);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	suite_add_tcase(s, tc);
	return (tc);
}

static Suite *
e2e_tls_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_tls");

	tc = tcase_certs(s, "config");
	tcase_add_loop_test(tc, test_config_bad, 0, nitems(bad));
	tcase_add_loop_test(tc, test_config_good, 0, nitems(good));

	tc = tcase_certs(s, "tls");
	tcase_add_test(tc, test_tls_documented_clients);
	tcase_add_test(tc, test_tls_versions);
	tcase_add_test(tc, test_tls_client_certificate);
	tcase_add_test(tc, test_tls_reload_certificate);
	tcase_add_test(tc, test_tls_handshake_limits);
	tcase_add_test(tc, test_tls_socket_activation);

	tc = tcase_certs(s, "proxy");
	tcase_add_test(tc, test_proxy_haproxy);
	tcase_add_test(tc, test_proxy_stunnel);
	tcase_add_test(tc, test_proxy_refusals);
	tcase_add_test(tc, test_slow_trickle);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_tls_suite());
}
