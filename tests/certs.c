/*
 * certs.c: keys and certificates for the TLS tests (see certs.h).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

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

#include "certs.h"
#include "harness.h"

static const char *
certs_error(void)
{
	static char	buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
	return (buf);
}

EVP_PKEY *
certs_key(int rsa)
{
	EVP_PKEY	*k;

	if ((k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256")) == NULL)
		ck_abort_msg("key generation: %s", certs_error());
	return (k);
}

static FILE *
certs_open(const char *dir, const char *name, char **path)
{
	FILE	*f;

	*path = harness_asprintf("%s/%s", dir, name);
	if ((f = fopen(*path, "w")) == NULL)
		ck_abort_msg("%s: %s", *path, strerror(errno));
	return (f);
}

void
certs_write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	FILE	*f;
	char	*path;

	f = certs_open(dir, name, &path);
	if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(f) != 0)
		ck_abort_msg("%s: %s", path, certs_error());
	free(path);
}

void
certs_write_cert(const char *dir, const char *name, const char *cn,
    EVP_PKEY *k, long from, long to, char *fp)
{
	static long	 serial;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, i;
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
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    X509_sign(x, k, EVP_sha256()) == 0)
		ck_abort_msg("certificate %s: %s", name, certs_error());
	f = certs_open(dir, name, &path);
	if (PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		ck_abort_msg("%s: %s", path, certs_error());
	if (fp != NULL) {
		if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
			ck_abort_msg("digest %s: %s", name, certs_error());
		for (i = 0; i < mdlen; i++)
			snprintf(fp + 2 * i, 3, "%02x", md[i]);
	}
	X509_free(x);
	free(path);
}
