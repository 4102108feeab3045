/*
 * auth_scram.c - SCRAM-SHA-256 over MQTT 5 AUTH (see auth_scram.h).
 */
#include "auth_scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth_limit.h"
#include "conn.h"
#include "handle.h"
#include "log.h"
#include "mqtt.h"
#include "scram.h"
#include "session.h"
#include "tern_err.h"

struct auth_scram {
	struct scram_server ex;
	bool reauth; /* on an established connection */
	bool from_store; /* the verifier is a user store user's (users.h) */
	/* a failure takes a token from these buckets (auth_limit.h) */
	struct auth_limit_key lim_keys[2];
	unsigned n_lim_keys;
	char cid[96];                    /* printable client id, for the log */
	char final_msg[SCRAM_FINAL_MAX]; /* server-final "v=..." */
	size_t final_len;
	size_t connect_len;
	uint8_t connect[]; /* the CONNECT, handled again on success */
};

bool auth_scram_is_method(const uint8_t *m, size_t len)
{
	return len == strlen(SCRAM_METHOD) && memcmp(m, SCRAM_METHOD, len) == 0;
}

static void auth_scram_free(struct auth_scram *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(&s->ex, sizeof(s->ex));
	free(s);
}

void auth_scram_end(struct conn *c)
{
	if (!c->x)
		return;
	auth_scram_free(c->x->scram);
	c->x->scram = NULL;
}

void auth_scram_conn_gone(struct conn *c)
{
	auth_scram_end(c);
}

/* Sets AUTH/CONNACK properties: the method, data[0..len) if any. */
static void auth_scram_props(struct mqtt_props *pr, const char *data,
                             size_t len)
{
	pr->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	pr->auth_method.p = (const uint8_t *)SCRAM_METHOD;
	pr->auth_method.len = (uint32_t)strlen(SCRAM_METHOD);
	if (data && len) {
		pr->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
		pr->auth_data.p = (const uint8_t *)data;
		pr->auth_data.len = (uint32_t)len;
	}
}

static void auth_scram_send_auth(struct conn *c, uint8_t reason,
                                 const char *data, size_t len)
{
	struct mqtt_packet a = {.type = MQTT_AUTH};

	a.disconnect.reason = reason;
	auth_scram_props(&a.disconnect.props, data, len);
	conn_send(c, &a);
}

void auth_scram_connack(struct conn *c, struct mqtt_props *ap)
{
	/* [MQTT-4.12.0-5]: the CONNECT's method; the server-final */
	auth_scram_props(ap, c->x->scram->final_msg, c->x->scram->final_len);
}

/* The audit line of a decision the CONNECT path does not log itself. */
static void auth_scram_audit(struct conn *c, const struct auth_scram *s,
                             const char *result)
{
	char user[96];

	if (s->ex.user_len)
		auth_printable((const uint8_t *)s->ex.user, s->ex.user_len,
		               user, sizeof(user));
	else
		snprintf(user, sizeof(user), "-");
	log_info("%s: auth client \"%s\" user \"%s\" provider scram: %s",
	         c->peer, s->cid, user, result);
}

/*
 * Looks the user up and answers the client-first with server-first (AUTH
 * 0x18). Returns 0 or a negative tern_err (nothing sent).
 */
static int auth_scram_challenge(struct conn *c, struct auth_scram *s)
{
	struct tern_node *n = c->w->node;
	const uint8_t *secret = auth_secret(n);
	uint8_t raw[SCRAM_SNONCE_BYTES];
	char snonce[40], first[SCRAM_MSG_MAX + 160];
	struct scram_verifier v;
	struct auth_hash h;
	bool known = false;
	size_t len = 0;
	int rc;

	if (!secret)
		return TERN_EINVAL; /* no password source */
	if (auth_lookup(n, s->ex.user, s->ex.user_len, &h, &s->from_store) ==
		    0 &&
	    h.kind == AUTH_HASH_SCRAM_SHA256) {
		auth_hash_scram(&h, &v);
		known = true;
	} else {
		/* unknown, or no SCRAM verifier: indistinguishable */
		scram_verifier_fake(secret, s->ex.user, s->ex.user_len, &v);
	}
	OPENSSL_cleanse(&h, sizeof(h));
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		OPENSSL_cleanse(&v, sizeof(v));
		return TERN_EIO;
	}
	scram_b64_encode(raw, sizeof(raw), snonce, sizeof(snonce));
	rc = scram_server_first(&s->ex, &v, known, snonce, strlen(snonce),
	                        first, sizeof(first), &len);
	OPENSSL_cleanse(&v, sizeof(v));
	if (rc)
		return rc;
	/* [MQTT-4.12.0-2] */
	auth_scram_send_auth(c, MQTT_RC_CONTINUE_AUTH, first, len);
	return 0;
}

/* A new exchange for client-first data[0..len); NULL when it fails. */
static struct auth_scram *auth_scram_new(struct conn *c, const uint8_t *data,
                                         size_t len, size_t connect_len,
                                         const char **err)
{
	struct auth_scram *s = calloc(1, sizeof(*s) + connect_len);

	*err = "no-resources";
	if (!s)
		return NULL;
	s->connect_len = connect_len;
	if (scram_server_start(&s->ex, data, len, err) ||
	    auth_scram_challenge(c, s)) {
		auth_scram_free(s);
		return NULL;
	}
	return s;
}

enum auth_verdict auth_scram_connect(struct conn *c,
                                     const struct mqtt_connect *p,
                                     const char *id, size_t id_len)
{
	const struct mqtt_props *pr = &p->props;
	uint32_t rem = 0, hl = 0;
	uint8_t type, flags;
	struct auth_scram *s;
	const char *err = "invalid-encoding";

	if (!(pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) ||
	    mqtt_decode_header(c->w->cur, c->w->cur_avail, &type, &flags, &rem,
	                       &hl) ||
	    type != MQTT_CONNECT || (size_t)hl + rem > c->w->cur_avail) {
		log_info("%s: SCRAM refused: no client-first-message in the "
		         "CONNECT",
		         c->peer);
		return AUTH_BAD_CREDENTIALS;
	}
	s = auth_scram_new(c, pr->auth_data.p, pr->auth_data.len,
	                   (size_t)hl + rem, &err);
	if (!s) {
		log_info("%s: SCRAM refused: client-first-message: %s", c->peer,
		         err);
		return AUTH_BAD_CREDENTIALS;
	}
	if (!conn_ext(c)) {
		auth_scram_free(s);
		return AUTH_BAD_CREDENTIALS; /* out of memory */
	}
	memcpy(s->connect, c->w->cur, s->connect_len);
	s->n_lim_keys = auth_limit_conn_keys(c, p, s->lim_keys);
	auth_printable((const uint8_t *)id, id_len, s->cid, sizeof(s->cid));
	c->x->scram = s;
	return AUTH_PENDING;
}

/* Refuses the CONNECT being authenticated (CONNACK, close). */
static void auth_scram_refuse(struct conn *c, uint8_t reason, const char *why,
                              const char *data, size_t len)
{
	struct mqtt_packet r = {.type = MQTT_CONNACK};

	log_info("%s: CONNECT refused: %s", c->peer, why);
	r.connack.reason = reason;
	if (data)
		auth_scram_props(&r.connack.props, data, len);
	if (c->problem_info) {
		r.connack.props.present |=
		    MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		r.connack.props.reason_string.p = (const uint8_t *)why;
		r.connack.props.reason_string.len = (uint32_t)strlen(why);
	}
	conn_send(c, &r);
	auth_scram_end(c);
	conn_close(c, 0, false);
}

/* A failed proof: counted, logged; the caller answers. */
static void auth_scram_failed(struct conn *c, struct auth_scram *s,
                              const char *err)
{
	stat_add(&c->w->stats.auth_failures, 1);
	auth_limit_failed(c->w->node->auth_limit, s->lim_keys, s->n_lim_keys);
	log_debug("%s: SCRAM: %s", c->peer, err);
	auth_scram_audit(c, s,
	                 s->reauth ? "re-authentication refused"
	                           : "bad username or password");
}

/* AUTH 0x18 with the client-final of a CONNECT exchange. */
static void auth_scram_connect_final(struct conn *c, const uint8_t *data,
                                     size_t len)
{
	struct auth_scram *s = c->x->scram;
	struct mqtt_packet pkt;
	const char *err = NULL;
	char out[SCRAM_FINAL_MAX];
	size_t out_len = 0, used = 0;

	if (scram_server_final(&s->ex, data, len, out, sizeof(out), &out_len,
	                       &err)) {
		auth_scram_failed(c, s, err);
		/* [MQTT-4.12.0-4]; the RFC 5802 server-error as data */
		auth_scram_refuse(c, MQTT_RC_BAD_USER_OR_PASSWORD,
		                  "bad user name or password", out, out_len);
		return;
	}
	memcpy(s->final_msg, out, out_len);
	s->final_len = out_len;
	free(c->auth_name);
	c->auth_name = strdup(s->ex.user);
	if (!c->auth_name ||
	    mqtt_decode(s->connect, s->connect_len, c->version, 0, &pkt,
	                &used) ||
	    pkt.type != MQTT_CONNECT) {
		c->auth_name_src = CONN_NAME_NONE;
		auth_scram_refuse(c, MQTT_RC_UNSPECIFIED, "out of memory", NULL,
		                  0);
		return;
	}
	c->auth_name_src = CONN_NAME_SCRAM;
	c->auth_store = s->from_store;
	/* auth_connect sees c->scram and allows; the CONNACK carries the
	 * server-final (auth_scram_connack) and ends the exchange. pkt
	 * borrows s->connect, which lives until then or the close. */
	handle_connect(c, &pkt.connect);
}

/* The keys of a re-authenticating client: its address and client id. */
static void auth_scram_reauth_keys(struct conn *c, struct auth_scram *s)
{
	struct mqtt_connect p;

	memset(&p, 0, sizeof(p));
	if (c->s) {
		p.client_id.p = (const uint8_t *)c->s->id;
		p.client_id.len = (uint32_t)c->s->id_len;
		auth_printable((const uint8_t *)c->s->id, c->s->id_len, s->cid,
		               sizeof(s->cid));
	}
	s->n_lim_keys = auth_limit_conn_keys(c, &p, s->lim_keys);
}

/* Re-authentication refused: [MQTT-4.12.1-2] DISCONNECT 0x87, close. */
static void auth_scram_reauth_refuse(struct conn *c, const char *why)
{
	auth_scram_end(c);
	handle_close(c, MQTT_RC_NOT_AUTHORIZED, why);
}

static void auth_scram_reauth(struct conn *c, uint8_t reason,
                              const uint8_t *data, size_t len)
{
	struct auth_scram *s = CONN_EXT(c, scram);
	const char *err = NULL;
	char out[SCRAM_FINAL_MAX];
	size_t out_len = 0;

	if (reason == MQTT_RC_REAUTHENTICATE) {
		if (s) {
			handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
			            "AUTH 0x19 while a re-authentication runs");
			return;
		}
		s = conn_ext(c) ? calloc(1, sizeof(*s)) : NULL;
		if (!s) {
			handle_close(c, MQTT_RC_UNSPECIFIED, "out of memory");
			return;
		}
		s->reauth = true;
		auth_scram_reauth_keys(c, s);
		c->x->scram = s;
		if (scram_server_start(&s->ex, data, len, &err)) {
			auth_scram_failed(c, s, err);
			auth_scram_reauth_refuse(c, "re-authentication "
			                            "refused");
			return;
		}
		if (!c->auth_name || strcmp(s->ex.user, c->auth_name) != 0) {
			/* another user: not on this connection */
			auth_scram_failed(c, s, "another user");
			auth_scram_reauth_refuse(c, "re-authentication as "
			                            "another user");
			return;
		}
		if (auth_scram_challenge(c, s)) {
			auth_scram_reauth_refuse(c, "re-authentication "
			                            "failed");
			return;
		}
		return;
	}
	/* reason 0x18: the client-final */
	if (!s) {
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
		            "AUTH 0x18 without an authentication in progress");
		return;
	}
	if (scram_server_final(&s->ex, data, len, out, sizeof(out), &out_len,
	                       &err)) {
		auth_scram_failed(c, s, err);
		auth_scram_reauth_refuse(c, "re-authentication refused");
		return;
	}
	stat_add(&c->w->stats.auth_successes, 1);
	c->auth_store = s->from_store;
	auth_scram_audit(c, s, "re-authenticated");
	auth_scram_end(c);
	auth_scram_send_auth(c, MQTT_RC_SUCCESS, out, out_len);
}

void auth_scram_on_auth(struct conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_disconnect *a = &pkt->disconnect;
	const struct mqtt_props *pr = &a->props;
	bool connecting = c->state == CONN_NEW;
	const uint8_t *data = pr->auth_data.p;
	size_t len = pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)
	                 ? pr->auth_data.len
	                 : 0;
	const char *why = NULL;

	if (!(pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) ||
	    !auth_scram_is_method(pr->auth_method.p, pr->auth_method.len))
		/* [MQTT-4.12.0-5], [MQTT-4.12.1-1] */
		why = "AUTH must carry the method SCRAM-SHA-256";
	else if (connecting && a->reason != MQTT_RC_CONTINUE_AUTH)
		/* [MQTT-4.12.0-3] */
		why = "AUTH in a CONNECT exchange must be 0x18";
	else if (!connecting && a->reason != MQTT_RC_CONTINUE_AUTH &&
	         a->reason != MQTT_RC_REAUTHENTICATE)
		/* [MQTT-3.15.2-1]: 0x00 is the server's */
		why = "AUTH reason code not allowed from a client";
	if (why && connecting) {
		stat_add(&c->w->stats.protocol_errors, 1);
		auth_scram_refuse(c, MQTT_RC_PROTOCOL_ERROR, why, NULL, 0);
		return;
	}
	if (why) {
		auth_scram_end(c);
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR, why);
		return;
	}
	if (connecting)
		auth_scram_connect_final(c, data, len);
	else
		auth_scram_reauth(c, a->reason, data, len);
}
