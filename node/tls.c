/*
 * tls.c - TLS for mqtts:// and wss:// listeners: the node's context
 * (publication, reload, teardown) and the server-side connection layer.
 *
 * Publication. n->tls->ctx is read by workers (tls_attach) and replaced by
 * the control thread (tls_reload). A bare atomic load followed by
 * SSL_CTX_up_ref would race with the SSL_CTX_free of a context just
 * swapped out, so the load+up_ref and the swap hold one mutex: a pointer
 * copy and a reference count increment, once per accepted TLS connection.
 * Every SSL object keeps its own reference, so connections opened before a
 * reload finish on the old context, which goes away with the last of them.
 *
 * The layer. Each connection has an SSL object over two memory BIOs:
 * ciphertext from below is written into the read BIO, whatever OpenSSL
 * writes (handshake, alerts, records) is taken from the write BIO and
 * handed to conn_down. OpenSSL never touches the socket, so nothing blocks
 * the loop. All plaintext a read yields goes up in one conn_up call: if
 * that call hands the connection to another worker (CONNECT hand-off),
 * everything after the CONNECT travels with it, and from then on the
 * state belongs to the other worker and is not touched here.
 */
#include "tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "tern_err.h"
#include "tls_int.h"

#define TLS_PLAIN_STACK (16 * 1024) /* one record of plaintext */
#define TLS_FLUSH_STACK (17 * 1024) /* one record of ciphertext */
#define TLS_WRITE_CHUNK (64 * 1024) /* plaintext per SSL_write */
#define TLS_BIO_KEEP    (17 * 1024) /* larger idle BIO buffers are freed */

struct tls_ctx {
	uv_mutex_t lock; /* guards ctx (see above) */
	SSL_CTX *ctx;
};

/* One connection's TLS state: conn->xl->state[layer]. */
struct tls_conn {
	SSL *ssl;         /* owns rbio and wbio */
	BIO *rbio, *wbio; /* ciphertext in, ciphertext out */
	bool wss;         /* ALPN http/1.1 rather than mqtt */
	bool done;        /* handshake complete */
	bool seen;        /* `first` is set */
	bool alpn_refused;
	bool closing;   /* close_notify sent */
	uint8_t first;  /* first byte received (diagnostics) */
	int verify_err; /* first X509_V_ERR_* of the client chain */
	int verify_depth;
	char verify_subject[160];
	uint8_t *held; /* plaintext output before the handshake ended */
	size_t held_len;
};

static const unsigned char tls_alpn_mqtt[] = "\x04mqtt";
static const unsigned char tls_alpn_http[] = "\x08http/1.1";

static const char *const tls_username_names[] = {"none", "cn", "san"};

/* ---- helpers shared with tls_ctx.c ---------------------------------- */

const char *tls_err_text(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "no OpenSSL error queued");
	ERR_clear_error();
	return buf;
}

void tls_name_text(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, (int)len - 1);
	BIO_free(b);
	if (n > 0)
		buf[n] = '\0';
	else
		snprintf(buf, len, "?");
}

/* ---- the node's context --------------------------------------------- */

int tls_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct tls_ctx *tc;
	bool needed = false;

	n->tls = NULL;
	for (unsigned i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].scheme == TERN_SCHEME_MQTTS ||
		    cfg->listeners[i].scheme == TERN_SCHEME_WSS)
			needed = true;
	if (!needed)
		return 0;
	tc = calloc(1, sizeof(*tc));
	if (!tc) {
		snprintf(err, errlen, "out of memory");
		return TERN_ENOMEM;
	}
	if (uv_mutex_init(&tc->lock)) {
		free(tc);
		snprintf(err, errlen, "cannot create a mutex");
		return TERN_ENOMEM;
	}
	tc->ctx = tls_ctx_new(cfg, err, errlen);
	if (!tc->ctx) {
		uv_mutex_destroy(&tc->lock);
		free(tc);
		return TERN_ECONFIG;
	}
	n->tls = tc;
	tls_ctx_log(tc->ctx, cfg, "ready");
	if (cfg->tls_client_cert == TERN_TLS_CLIENT_CERT_NONE) {
		if (cfg->tls_crl[0])
			log_warn("TLS: tls_crl is set but tls_client_cert is "
			         "none: it is not used");
		if (cfg->tls_username_from != TERN_TLS_USERNAME_NONE)
			log_warn("TLS: tls_username_from is set but "
			         "tls_client_cert is none: there is no "
			         "certificate to take it from");
	}
	return 0;
}

int tls_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct tls_ctx *tc = n->tls;
	SSL_CTX *fresh, *old;

	if (!tc)
		return 0;
	fresh = tls_ctx_new(&n->cfg, err, errlen);
	if (!fresh)
		return TERN_ECONFIG;
	uv_mutex_lock(&tc->lock);
	old = tc->ctx;
	tc->ctx = fresh;
	uv_mutex_unlock(&tc->lock);
	SSL_CTX_free(old); /* live connections hold their own references */
	tls_ctx_log(fresh, &n->cfg, "reloaded");
	return 0;
}

void tls_teardown(struct tern_node *n)
{
	struct tls_ctx *tc = n->tls;

	if (!tc)
		return;
	n->tls = NULL;
	SSL_CTX_free(tc->ctx);
	uv_mutex_destroy(&tc->lock);
	free(tc);
}

/* ---- OpenSSL callbacks (during SSL_do_handshake, worker thread) ----- */

int tls_on_verify(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
	    store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *t = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert;

	if (ok || !t || t->verify_err)
		return ok;
	t->verify_err = X509_STORE_CTX_get_error(store);
	t->verify_depth = X509_STORE_CTX_get_error_depth(store);
	cert = X509_STORE_CTX_get_current_cert(store);
	if (cert)
		tls_name_text(X509_get_subject_name(cert), t->verify_subject,
		              sizeof(t->verify_subject));
	else
		snprintf(t->verify_subject, sizeof(t->verify_subject), "?");
	return ok;
}

int tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_conn *t = SSL_get_app_data(ssl);
	bool wss = t && t->wss;
	const unsigned char *want = wss ? tls_alpn_http : tls_alpn_mqtt;
	unsigned int wantlen =
	    wss ? sizeof(tls_alpn_http) - 1 : sizeof(tls_alpn_mqtt) - 1;
	unsigned char *sel = NULL, sellen = 0;

	(void)arg;
	if (SSL_select_next_proto(&sel, &sellen, want, wantlen, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		*outlen = sellen;
		return SSL_TLSEXT_ERR_OK;
	}
	if (t)
		t->alpn_refused = true;
	return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
}

/* ---- username from the client certificate --------------------------- */

/* A C string copy of n certificate bytes; NULL if empty or with a NUL. */
static char *tls_cert_text(const unsigned char *p, int n)
{
	char *s;

	if (!p || n <= 0 || memchr(p, 0, (size_t)n))
		return NULL;
	s = malloc((size_t)n + 1);
	if (s) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

/*
 * The username the peer certificate gives under tls_username_from: the
 * subject's first CN (as UTF-8) or the first DNS or email SAN. Returns a
 * malloc'd string, or NULL (no certificate, no such field).
 */
static char *tls_cert_user(SSL *ssl, uint32_t from)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	GENERAL_NAMES *names;
	char *user = NULL;

	if (!x || from == TERN_TLS_USERNAME_NONE)
		return NULL;
	if (from == TERN_TLS_USERNAME_CN) {
		X509_NAME *nm = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
		unsigned char *u = NULL;
		int n;

		if (i < 0)
			return NULL;
		n = ASN1_STRING_to_UTF8(
		    &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
		if (n >= 0)
			user = tls_cert_text(u, n);
		OPENSSL_free(u);
		return user;
	}
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && !user && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const ASN1_IA5STRING *s;

		if (g->type == GEN_DNS)
			s = g->d.dNSName;
		else if (g->type == GEN_EMAIL)
			s = g->d.rfc822Name;
		else
			continue;
		user = tls_cert_text(ASN1_STRING_get0_data(s),
		                     ASN1_STRING_length(s));
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return user;
}

/* ---- the connection layer ------------------------------------------- */

static int tls_input(struct conn *c, unsigned layer, const uint8_t *data,
                     size_t len);
static int tls_output(struct conn *c, unsigned layer, const uv_buf_t *bufs,
                      unsigned n);
static void tls_close(struct conn *c, unsigned layer);
static void tls_rebind(struct conn *c, unsigned layer);
static void tls_free(void *state);

static const struct transport_ops tls_ops = {
    .name = "tls",
    .input = tls_input,
    .output = tls_output,
    .close = tls_close,
    .rebind = tls_rebind,
    .free = tls_free,
};

/*
 * Swaps an empty memory BIO whose buffer grew past TLS_BIO_KEEP for a new
 * one, so a connection that once moved a large message does not keep the
 * buffer while idle.
 */
static void tls_bio_trim(struct tls_conn *t, bool rd)
{
	BIO *b = rd ? t->rbio : t->wbio, *fresh;
	BUF_MEM *bm = NULL;

	if (BIO_ctrl_pending(b) || BIO_get_mem_ptr(b, &bm) != 1 || !bm ||
	    bm->max <= TLS_BIO_KEEP)
		return;
	fresh = BIO_new(BIO_s_mem());
	if (!fresh)
		return; /* keep the big one */
	if (rd) {
		SSL_set0_rbio(t->ssl, fresh); /* frees the old one */
		t->rbio = fresh;
	} else {
		SSL_set0_wbio(t->ssl, fresh);
		t->wbio = fresh;
	}
}

/* Sends whatever OpenSSL wrote (records, alerts) down the stack. */
static int tls_flush(struct conn *c, unsigned layer, struct tls_conn *t)
{
	uint8_t stackbuf[TLS_FLUSH_STACK], *buf = stackbuf;
	size_t pending = BIO_ctrl_pending(t->wbio);
	uv_buf_t b;
	int n, rc;

	if (!pending)
		return 0;
	if (pending > INT_MAX)
		pending = INT_MAX;
	if (pending > sizeof(stackbuf)) {
		buf = malloc(pending);
		if (!buf)
			return TERN_ENOMEM;
	}
	n = BIO_read(t->wbio, buf, (int)pending);
	rc = 0;
	if (n > 0) {
		b = uv_buf_init((char *)buf, (unsigned)n);
		rc = conn_down(c, layer, &b, 1);
	}
	if (buf != stackbuf)
		free(buf);
	tls_bio_trim(t, false);
	return rc;
}

/* Encrypts len plaintext bytes into the write BIO, flushing as it goes. */
static int tls_write(struct conn *c, unsigned layer, struct tls_conn *t,
                     const uint8_t *p, size_t len)
{
	char why[256];
	int rc;

	while (len) {
		size_t chunk = len < TLS_WRITE_CHUNK ? len : TLS_WRITE_CHUNK;
		size_t wrote = 0;

		ERR_clear_error();
		if (SSL_write_ex(t->ssl, p, chunk, &wrote) != 1) {
			log_info("%s: TLS write failed: %s", c->peer,
			         tls_err_text(why, sizeof(why)));
			return TERN_EIO;
		}
		p += wrote;
		len -= wrote;
		if (BIO_ctrl_pending(t->wbio) >= TLS_WRITE_CHUNK) {
			rc = tls_flush(c, layer, t);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/*
 * The handshake failed: count it, log it with the most precise reason
 * there is, send the alert and close. Returns a negative tern_err.
 */
static int tls_handshake_failed(struct conn *c, unsigned layer,
                                struct tls_conn *t)
{
	char why[512], oerr[256];
	const char *hint = "";

	tls_err_text(oerr, sizeof(oerr));
	if (t->seen && t->first == 0x10)
		hint = " (plaintext MQTT CONNECT on a TLS listener?)";
	else if (t->seen && t->first != 0x16)
		hint = " (not a TLS ClientHello)";
	if (t->verify_err)
		snprintf(why, sizeof(why),
		         "client certificate rejected: %s (depth %d, "
		         "subject %s)",
		         X509_verify_cert_error_string(t->verify_err),
		         t->verify_depth, t->verify_subject);
	else if (t->alpn_refused)
		snprintf(why, sizeof(why),
		         "client offered ALPN without \"%s\" "
		         "(no_application_protocol)",
		         t->wss ? "http/1.1" : "mqtt");
	else
		snprintf(why, sizeof(why), "%s%s", oerr, hint);
	stat_add(&c->w->stats.tls_handshake_failures, 1);
	log_info("%s: TLS handshake failed: %s", c->peer, why);
	(void)tls_flush(c, layer, t); /* the alert, if any */
	conn_close(c, 0, true);       /* closed here: one log line */
	return TERN_EPROTOCOL;
}

static void tls_handshake_done(struct conn *c, struct tls_conn *t)
{
	const struct tern_config *cfg = &c->w->node->cfg;
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	char subject[256] = "none";

	t->done = true;
	if (peer)
		tls_name_text(X509_get_subject_name(peer), subject,
		              sizeof(subject));
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpnlen);
	log_debug("%s: TLS handshake done: %s %s, ALPN %.*s, client "
	          "certificate %s",
	          c->peer, SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
	          alpn ? (int)alpnlen : 4, alpn ? (const char *)alpn : "none",
	          subject);
	if (cfg->tls_username_from == TERN_TLS_USERNAME_NONE || !peer)
		return;
	free(c->auth_name);
	c->auth_name = tls_cert_user(t->ssl, cfg->tls_username_from);
	c->auth_name_src = c->auth_name ? CONN_NAME_CERT : CONN_NAME_NONE;
	if (c->auth_name)
		log_debug("%s: username from the certificate's %s: %s", c->peer,
		          tls_username_names[cfg->tls_username_from],
		          c->auth_name);
	else
		log_debug("%s: the client certificate has no %s for a "
		          "username",
		          c->peer, tls_username_names[cfg->tls_username_from]);
}

/* Drives the handshake with the ciphertext in the read BIO. */
static int tls_handshake(struct conn *c, unsigned layer, struct tls_conn *t)
{
	int r, rc;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ)
			return tls_flush(c, layer, t);
		return tls_handshake_failed(c, layer, t);
	}
	tls_handshake_done(c, t);
	if (t->held) {
		rc = tls_write(c, layer, t, t->held, t->held_len);
		free(t->held);
		t->held = NULL;
		t->held_len = 0;
		if (rc)
			return rc;
	}
	return tls_flush(c, layer, t);
}

/*
 * Reads every whole record out of the read BIO and hands the plaintext up
 * in one piece (see the hand-off note at the top).
 */
static int tls_read(struct conn *c, unsigned layer, struct tls_conn *t)
{
	uint8_t stackbuf[TLS_PLAIN_STACK], *buf = stackbuf;
	size_t cap = sizeof(stackbuf), len = 0;
	bool eof = false;
	char why[256];
	int rc = 0;

	for (;;) {
		size_t got = 0;
		int r, e;

		if (len == cap) {
			uint8_t *nb = buf == stackbuf ? malloc(cap * 2)
			                              : realloc(buf, cap * 2);

			if (!nb) {
				rc = TERN_ENOMEM;
				goto out;
			}
			if (buf == stackbuf)
				memcpy(nb, stackbuf, len);
			buf = nb;
			cap *= 2;
		}
		ERR_clear_error();
		r = SSL_read_ex(t->ssl, buf + len, cap - len, &got);
		if (r == 1) {
			len += got;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			eof = true; /* close_notify */
			break;
		}
		log_info("%s: TLS read failed: %s, closing", c->peer,
		         tls_err_text(why, sizeof(why)));
		(void)tls_flush(c, layer, t); /* the alert, if any */
		conn_close(c, 0, true);
		rc = TERN_EIO;
		goto out;
	}
	/* answers (e.g. to a key update) go out before the state may move */
	rc = tls_flush(c, layer, t);
	if (rc)
		goto out;
	tls_bio_trim(t, true);
	if (len)
		rc = conn_up(c, layer, buf, len);
	if (rc || c->moved || c->state == CONN_CLOSING)
		goto out; /* moved: t now belongs to the other worker */
	if (eof) {
		/* the client ended TLS without DISCONNECT: an abnormal close.
		 * Answer with our close_notify now unless conn_close has
		 * output to flush (tls_output adds it after that) */
		log_debug("%s: TLS close_notify, closing", c->peer);
		if (!conn_out_segs(c)) {
			t->closing = true;
			ERR_clear_error();
			(void)SSL_shutdown(t->ssl);
			(void)tls_flush(c, layer, t);
			ERR_clear_error();
		}
		conn_close(c, 0, true);
	}
out:
	if (buf != stackbuf)
		free(buf);
	return rc;
}

static int tls_input(struct conn *c, unsigned layer, const uint8_t *data,
                     size_t len)
{
	struct tls_conn *t = c->xl->state[layer];
	int rc;

	if (len && !t->seen) {
		t->seen = true;
		t->first = data[0];
	}
	while (len) {
		int w = BIO_write(t->rbio, data,
		                  len > INT_MAX ? INT_MAX : (int)len);

		if (w <= 0)
			return TERN_ENOMEM;
		data += w;
		len -= (size_t)w;
	}
	if (!t->done) {
		rc = tls_handshake(c, layer, t);
		if (rc || !t->done)
			return rc;
	}
	return tls_read(c, layer, t);
}

static int tls_output(struct conn *c, unsigned layer, const uv_buf_t *bufs,
                      unsigned n)
{
	struct tls_conn *t = c->xl->state[layer];
	int rc;

	if (!t->done) {
		/* nothing of MQTT goes out before CONNECT; kept for safety */
		size_t total = t->held_len;
		uint8_t *h;

		for (unsigned i = 0; i < n; i++)
			total += bufs[i].len;
		h = realloc(t->held, total ? total : 1);
		if (!h)
			return TERN_ENOMEM;
		t->held = h;
		for (unsigned i = 0; i < n; i++) {
			memcpy(h + t->held_len, bufs[i].base, bufs[i].len);
			t->held_len += bufs[i].len;
		}
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		rc = tls_write(c, layer, t, (const uint8_t *)bufs[i].base,
		               bufs[i].len);
		if (rc)
			return rc;
	}
	return tls_flush(c, layer, t);
}

/* conn_close: end the TLS stream properly once the handshake is done. */
static void tls_close(struct conn *c, unsigned layer)
{
	struct tls_conn *t = c->xl->state[layer];

	if (!t->done || t->closing)
		return;
	t->closing = true;
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	(void)tls_flush(c, layer, t);
}

/* Nothing of the loop is kept; the new conn gets the certificate's
 * username again (the old conn freed its copy). */
static void tls_rebind(struct conn *c, unsigned layer)
{
	struct tls_conn *t = c->xl->state[layer];
	uint32_t from = c->w->node->cfg.tls_username_from;

	if (t->done && !c->auth_name && from != TERN_TLS_USERNAME_NONE) {
		c->auth_name = tls_cert_user(t->ssl, from);
		c->auth_name_src = c->auth_name ? CONN_NAME_CERT
						: CONN_NAME_NONE;
	}
}

static void tls_free(void *state)
{
	struct tls_conn *t = state;

	if (!t)
		return;
	SSL_free(t->ssl); /* and both BIOs */
	free(t->held);
	free(t);
}

int tls_attach(struct conn *c)
{
	struct tls_ctx *tc = c->w->node->tls;
	struct tls_conn *t;
	SSL_CTX *ctx;
	char why[256];
	int rc;

	if (!tc)
		return TERN_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return TERN_ENOMEM;
	uv_mutex_lock(&tc->lock);
	ctx = tc->ctx;
	SSL_CTX_up_ref(ctx);
	uv_mutex_unlock(&tc->lock);
	ERR_clear_error();
	t->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL holds its own reference */
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		log_error("TLS: cannot create a connection: %s",
		          tls_err_text(why, sizeof(why)));
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		return TERN_ENOMEM;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	SSL_set_app_data(t->ssl, t);
	t->wss =
	    c->w->node->cfg.listeners[c->listener].scheme == TERN_SCHEME_WSS;
	rc = conn_add_layer(c, &tls_ops, t);
	if (rc)
		tls_free(t);
	return rc;
}
