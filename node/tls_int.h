/*
 * tls_int.h - private to tls.c and tls_ctx.c: context building and the
 * OpenSSL callbacks it installs. Nothing outside TLS includes it.
 */
#ifndef TERN_TLS_INT_H
#define TERN_TLS_INT_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

/*
 * A new server context from the config (returns a new reference), or NULL
 * with "<key> <file>: <OpenSSL's reason>" in err. Reads every file now, so
 * a reload sees their current contents. Any thread.
 */
SSL_CTX *tls_ctx_new(const struct tern_config *cfg, char *err, size_t errlen);

/* Logs one info line naming the certificate ctx serves ("TLS <what>: ..."),
 * and a warning if it has expired. Borrows ctx. */
void tls_ctx_log(SSL_CTX *ctx, const struct tern_config *cfg, const char *what);

/* SSL_CTX_set_verify callback: records the first client chain error on the
 * connection so the handshake failure can name it. */
int tls_on_verify(int ok, X509_STORE_CTX *store);

/* SSL_CTX_set_alpn_select_cb callback: "mqtt" on mqtts://, "http/1.1" on
 * wss://; a client offering ALPN without it is refused
 * (no_application_protocol); a client offering none is accepted. */
int tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                const unsigned char *in, unsigned int inlen, void *arg);

/* OpenSSL's oldest queued error as "error:XXXXXXXX:lib::reason" in buf
 * (then clears this thread's queue). Returns buf. */
const char *tls_err_text(char *buf, size_t len);

/* A name as RFC 2253 text ("CN=device-1,O=Example") in buf. */
void tls_name_text(const X509_NAME *name, char *buf, size_t len);

#endif
