/*
 * End-to-end tests of the [tls] section and the PROXY protocol keys as an
 * operator meets them: the real chatd reads a config naming real files
 * and says, with exit status 78 and one line, what is wrong and where
 * ("chatd: FILE:LINE: message", or "chatd: FILE: message" when no one
 * line is to blame), both for `chatd -t -c FILE` and for a start; a good
 * config passes -t.
 *
 * The certificates are made at test time with the OpenSSL API, once, by
 * an unchecked fixture in the runner, in a private directory under the
 * harness root (removed at exit): an EC and an RSA key with self-signed
 * certificates, another EC key that matches neither, a certificate that
 * expired yesterday and one valid from tomorrow (dates the openssl
 * command of Debian 12 cannot write: its req and x509 count days from
 * now), and a text file that is no PEM at all.
 *
 * Where chatd quotes OpenSSL ("error:0480006C:PEM routines::no start
 * line"), the text is OpenSSL 3's, as the daemon prints it on Debian 12;
 * the test asserts the whole line, because that line is all the operator
 * gets.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <check.h>

#include "harness.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define TEST_TIMEOUT	120
#define DAY		(24L * 60 * 60)

/* Certificates ------------------------------------------------------------ */

static char	*certdir;	/* the fixture's files */

static const char *
ossl_error(void)
{
	static char	buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
	return (buf);
}

/* A new key: EC on P-256, or RSA of 2048 bits. */
static EVP_PKEY *
make_key(int rsa)
{
	EVP_PKEY	*k;

	if ((k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256")) == NULL)
		ck_abort_msg("key generation: %s", ossl_error());
	return (k);
}

static FILE *
open_out(const char *name, char **path)
{
	FILE	*f;

	*path = harness_asprintf("%s/%s", certdir, name);
	if ((f = fopen(*path, "w")) == NULL)
		ck_abort_msg("%s: %s", *path, strerror(errno));
	return (f);
}

/* Writes k to certdir/name as a PEM private key. */
static void
write_key(const char *name, EVP_PKEY *k)
{
	FILE	*f;
	char	*path;

	f = open_out(name, &path);
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(f) != 0)
		ck_abort_msg("%s: %s", path, ossl_error());
	free(path);
}

/*
 * Writes to certdir/name a certificate for CN=localhost, self-signed with
 * k, valid from now + from to now + to seconds (negative: in the past).
 */
static void
write_cert(const char *name, EVP_PKEY *k, long from, long to)
{
	static long	 serial;
	X509		*x;
	X509_NAME	*n;
	FILE		*f;
	char		*path;

	if ((x = X509_new()) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), from) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), to) == NULL ||
	    X509_set_pubkey(x, k) != 1 ||
	    (n = X509_get_subject_name(x)) == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    X509_sign(x, k, EVP_sha256()) == 0)
		ck_abort_msg("certificate %s: %s", name, ossl_error());
	f = open_out(name, &path);
	if (PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		ck_abort_msg("%s: %s", path, ossl_error());
	X509_free(x);
	free(path);
}

static void
certs_setup(void)
{
	EVP_PKEY	*ec, *rsa, *other;

	certdir = harness_mkdtemp("certs");
	ec = make_key(0);
	rsa = make_key(1);
	other = make_key(0);
	write_key("key.pem", ec);
	write_cert("cert.pem", ec, -DAY, 30 * DAY);
	write_key("rsa-key.pem", rsa);
	write_cert("rsa-cert.pem", rsa, -DAY, 30 * DAY);
	write_key("other-key.pem", other);
	write_cert("expired.pem", ec, -30 * DAY, -DAY);
	write_cert("future.pem", ec, DAY, 30 * DAY);
	free(harness_write_file(certdir, "text.pem", "this is no "
	    "certificate\n"));
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

static Suite *
e2e_tls_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_tls");

	tc = tcase_create("config");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_add_loop_test(tc, test_config_bad, 0, nitems(bad));
	tcase_add_loop_test(tc, test_config_good, 0, nitems(good));
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_tls_suite());
}
