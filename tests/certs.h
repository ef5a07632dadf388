/*
 * certs.h: keys and self-signed certificates made at test time with the
 * OpenSSL API, for the suites that run chatd with [tls] (check_e2e_tls,
 * check_e2e_accounts).  Made by the API rather than the openssl command so
 * that dates in the past and the future can be written (Debian 12's
 * openssl req and x509 count days from now).  Any failure fails the test.
 */

#ifndef CERTS_H
#define CERTS_H

#include <openssl/evp.h>

/* The SHA-256 fingerprint of a certificate, in lower-case hex, and NUL. */
#define CERTS_FP_SIZE	(2 * 32 + 1)

/* A new key: EC on P-256, or RSA of 2048 bits. */
EVP_PKEY	*certs_key(int rsa);

/* Writes k to dir/name as a PEM private key (mode 0600). */
void		 certs_write_key(const char *dir, const char *name,
		    EVP_PKEY *k);

/*
 * Writes to dir/name a certificate for CN=cn, self-signed with k, valid
 * from now + from to now + to seconds (negative: in the past); if fp is
 * not NULL, its SHA-256 fingerprint goes there (CERTS_FP_SIZE bytes).
 */
void		 certs_write_cert(const char *dir, const char *name,
		    const char *cn, EVP_PKEY *k, long from, long to, char *fp);

#endif /* CERTS_H */
