/*
 * tls.c: TLS for chatd's clients, with OpenSSL 3 through libevent's own
 * bufferevent_openssl.
 *
 * A TLS client is an ordinary client whose bufferevent encrypts: the read
 * loop, framing, limits, sanitising and commands are the same.  The
 * context (certificate chain, key, protocol floor, optional CA for client
 * certificates) is built whole from the configuration by tls_context();
 * a reload builds a new one and swaps it only if that succeeded, so new
 * handshakes use the new certificate while established sessions keep the
 * context they started with (OpenSSL counts the references).  config.c
 * builds one at parse time too, so that a bad certificate or key (not
 * readable, not PEM, not matching, expired, not yet valid) is a
 * configuration error naming it.
 *
 * Why bufferevent_openssl rather than SSL_write() from our own flush, as
 * plain clients are written: a TLS record is encrypted per recipient
 * anyway, so the plain path's one-writev-from-one-buffer trick saves
 * nothing, and OpenSSL's non-blocking state machine (WANT_READ during a
 * write, renegotiation refused, close_notify) is what libevent already
 * gets right.  SSL_MODE_RELEASE_BUFFERS returns OpenSSL's 16 KiB record
 * buffers of a quiet connection (README, Performance, for what an idle
 * TLS client costs).  Compression and renegotiation are off; TLS 1.0 and
 * 1.1 are never offered.
 */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "chatd.h"

/* The session id context, needed when clients present certificates. */
static const unsigned char tls_sid[] = "chatd";

/* The first OpenSSL error on the queue, as text (the queue is cleared). */
static const char *
tls_error(void)
{
	static char	buf[256];
	unsigned long	e = ERR_get_error();

	if (e == 0)
		return ("unknown error");
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return (buf);
}

/*
 * Without ca: whatever chain the client shows is accepted (the handshake
 * still proves it holds the key); the fingerprint is all that is used.
 */
static int
tls_any_certificate(int preverify_ok, X509_STORE_CTX *store)
{
	return (1);
}

/* Checks the dates of the leaf certificate. */
static int
tls_check_dates(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	X509	*x = SSL_CTX_get0_certificate(ctx);

	if (x == NULL) {
		snprintf(err, errlen, "certificate: %s: no certificate", path);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		snprintf(err, errlen, "certificate: %s: expired", path);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		snprintf(err, errlen, "certificate: %s: not valid yet", path);
		return (-1);
	}
	return (0);
}

/*
 * Builds the server context of conf's [tls] section.  Returns it, or NULL
 * with a message naming the key and the file in err.
 */
SSL_CTX *
tls_context(const struct config *conf, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", tls_error());
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, conf->tls_min_version);
	/* CLEANSE_PLAINTEXT: record buffers may have held a password. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		snprintf(err, errlen, "certificate: %s: %s", conf->tls_cert,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "private_key: %s: %s", conf->tls_key,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "private_key: %s does not match the "
		    "certificate %s", conf->tls_key, conf->tls_cert);
		goto fail;
	}
	if (tls_check_dates(ctx, conf->tls_cert, err, errlen) != 0)
		goto fail;
	/*
	 * A client certificate is asked for, never required.  With ca, one
	 * those CAs did not sign ends the handshake; without, any is taken
	 * as what it is, a key its holder proves to have: its fingerprint
	 * names the client (for /certfp), whoever signed it, as IRC's
	 * CertFP does with self-signed certificates.
	 */
	if (conf->tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, conf->tls_ca, NULL) !=
		    1) {
			snprintf(err, errlen, "ca: %s: %s", conf->tls_ca,
			    tls_error());
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_any_certificate);
	SSL_CTX_set_session_id_context(ctx, tls_sid, sizeof tls_sid - 1);
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return (NULL);
}

void
tls_context_free(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_free(ctx);
}

/*
 * A bufferevent that will run the server side of a handshake on the
 * accepted socket fd (which stays the caller's to close).  Never NULL.
 */
struct bufferevent *
tls_bufferevent(SSL_CTX *ctx, struct event_base *base, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		fatalx("SSL_new: %s", tls_error());
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		fatalx("bufferevent_openssl_socket_new failed");
	/* A peer that closes without close_notify has simply gone. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* Frees a TLS client's bufferevent and its SSL. */
void
tls_free(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	bufferevent_free(bev);
	if (ssl != NULL)
		SSL_free(ssl);
}

/* Why the bufferevent's TLS failed, as text. */
const char *
tls_failure(struct bufferevent *bev)
{
	static char	buf[256];
	unsigned long	e = bufferevent_get_openssl_error(bev);

	if (e == 0)
		return ("connection closed");
	ERR_error_string_n(e, buf, sizeof buf);
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	return (buf);
}

/*
 * The SHA-256 fingerprint of the client's certificate, as 64 lower-case
 * hex digits, into fp (TLS_FP_LEN + 1 bytes).  Returns 0, or -1 when the
 * client presented none.  (A certificate that did not verify against ca
 * ended the handshake.)
 */
int
tls_fingerprint(struct bufferevent *bev, char *fp)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	X509		*x;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n, i;

	if (ssl == NULL || (x = SSL_get1_peer_certificate(ssl)) == NULL)
		return (-1);
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n * 2 > TLS_FP_LEN) {
		X509_free(x);
		return (-1);
	}
	X509_free(x);
	for (i = 0; i < n; i++)
		snprintf(fp + 2 * i, 3, "%02x", md[i]);
	return (0);
}

/* The protocol the session settled on ("TLSv1.3"), for the log. */
const char *
tls_version(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	return (ssl != NULL ? SSL_get_version(ssl) : "?");
}
