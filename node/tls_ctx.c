/*
 * tls_ctx.c - builds the server SSL_CTX from the config: certificate chain
 * and key, protocol floor, ciphers, ALPN, session resumption, client
 * certificate policy (trust store, CA names, CRL). tls.c publishes it.
 */
#include "tls_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tern_err.h"

static const char *const tls_ctx_client_cert_names[] = {"none", "optional",
                                                        "required"};

/* err = "<what>: <OpenSSL's reason>"; returns TERN_ECONFIG. */
__attribute__((format(printf, 3, 4))) static int
tls_ctx_fail(char *err, size_t errlen, const char *fmt, ...)
{
	char what[700], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", what, tls_err_text(why, sizeof(why)));
	return TERN_ECONFIG;
}

/* Adds every CRL of a PEM file to the context's store and turns on CRL
 * checking of client certificates. */
static int tls_ctx_load_crl(SSL_CTX *ctx, const char *path, char *err,
                            size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_CRL *crl;
	unsigned long e;
	int n = 0;
	BIO *b;

	b = BIO_new_file(path, "r");
	if (!b)
		return tls_ctx_fail(err, errlen, "tls_crl %s", path);
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_crl(store, crl);

		X509_CRL_free(crl);
		if (!ok) {
			BIO_free(b);
			return tls_ctx_fail(err, errlen, "tls_crl %s", path);
		}
		n++;
	}
	BIO_free(b);
	/* the loop ends with "no start line" at the end of the file */
	e = ERR_peek_last_error();
	if (n == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		return tls_ctx_fail(err, errlen, "tls_crl %s: no valid PEM CRL",
		                    path);
	ERR_clear_error();
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/* Client certificate policy: verification mode, trust store, CA names. */
static int tls_ctx_client_certs(SSL_CTX *ctx, const struct tern_config *cfg,
                                char *err, size_t errlen)
{
	STACK_OF(X509_NAME) * names;
	int mode = SSL_VERIFY_PEER;

	if (cfg->tls_client_cert == TERN_TLS_CLIENT_CERT_NONE) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (cfg->tls_client_cert == TERN_TLS_CLIENT_CERT_REQUIRED)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	if (cfg->tls_ca[0]) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1)
			return tls_ctx_fail(err, errlen, "tls_ca %s",
			                    cfg->tls_ca);
		/* the CA names go in the CertificateRequest */
		names = SSL_load_client_CA_file(cfg->tls_ca);
		if (!names)
			return tls_ctx_fail(err, errlen,
			                    "tls_ca %s: no CA certificate",
			                    cfg->tls_ca);
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (cfg->tls_crl[0] && tls_ctx_load_crl(ctx, cfg->tls_crl, err, errlen))
		return TERN_ECONFIG;
	SSL_CTX_set_verify(ctx, mode, tls_on_verify);
	return 0;
}

SSL_CTX *tls_ctx_new(const struct tern_config *cfg, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "ternd";
	SSL_CTX *ctx;
	bool key_ok;

	ERR_clear_error();
	if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
		snprintf(err, errlen, "tls_cert and tls_key must be set");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_ctx_fail(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(
	        ctx, cfg->tls_min_version ? TLS1_3_VERSION : TLS1_2_VERSION)) {
		tls_ctx_fail(err, errlen, "tls_min_version");
		goto err_after_ctx;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* idle connections give back OpenSSL's record buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_dh_auto(ctx, 1);
	/* resumption: OpenSSL's server-side cache (TLS 1.2 session ids) and
	 * stateless tickets, both keyed to this context (a reload starts
	 * afresh); the id context lets resumed sessions keep a verified
	 * client certificate */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		tls_ctx_fail(err, errlen,
		             "tls_cert %s: cannot load the certificate chain",
		             cfg->tls_cert);
		goto err_after_ctx;
	}
	/* a key that does not fit the certificate fails here already */
	key_ok = SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	                                     SSL_FILETYPE_PEM) == 1 &&
	         SSL_CTX_check_private_key(ctx) == 1;
	if (!key_ok) {
		unsigned long e = ERR_peek_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			tls_ctx_fail(err, errlen,
			             "tls_key %s does not match tls_cert %s",
			             cfg->tls_key, cfg->tls_cert);
		else
			tls_ctx_fail(err, errlen,
			             "tls_key %s: cannot load the private key",
			             cfg->tls_key);
		goto err_after_ctx;
	}
	if (cfg->tls_ciphers[0] &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		tls_ctx_fail(err, errlen, "tls_ciphers \"%s\"",
		             cfg->tls_ciphers);
		goto err_after_ctx;
	}
	if (cfg->tls_ciphersuites[0] &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		tls_ctx_fail(err, errlen, "tls_ciphersuites \"%s\"",
		             cfg->tls_ciphersuites);
		goto err_after_ctx;
	}
	SSL_CTX_set_alpn_select_cb(ctx, tls_on_alpn, NULL);
	if (tls_ctx_client_certs(ctx, cfg, err, errlen))
		goto err_after_ctx;
	return ctx;

err_after_ctx:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_ctx_log(SSL_CTX *ctx, const struct tern_config *cfg, const char *what)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	char subject[256], serial[80] = "?", until[64] = "?";
	BIGNUM *bn;
	BIO *b;

	if (!x)
		return;
	tls_name_text(X509_get_subject_name(x), subject, sizeof(subject));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn) {
		char *hex = BN_bn2hex(bn);

		if (hex)
			snprintf(serial, sizeof(serial), "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
	}
	b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, X509_get0_notAfter(x))) {
		int n = BIO_read(b, until, (int)sizeof(until) - 1);

		until[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
	log_info("TLS %s: certificate %s (subject %s, serial %s, expires %s), "
	         "minimum TLS %s, client certificates %s",
	         what, cfg->tls_cert, subject, serial, until,
	         cfg->tls_min_version ? "1.3" : "1.2",
	         tls_ctx_client_cert_names[cfg->tls_client_cert % 3]);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warn("TLS: certificate %s has expired", cfg->tls_cert);
}
