/*
 * auth_jwt.c - the JWT provider (see auth_jwt.h).
 *
 * Threads: the key set pointer is read by every worker and replaced by the
 * control thread (SIGHUP); load+ref and the swap hold one mutex, as auth.c
 * does for its password table. A key set is read-only once built, so any
 * number of workers verify against it at once (jwt.h).
 */
#include "auth_jwt.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "conn.h"
#include "handle.h"
#include "jwt.h"
#include "log.h"
#include "mqtt.h"
#include "session.h"
#include "tern_err.h"

struct auth_jwt_set {
	atomic_uint refs;
	struct jwt_keys *ks;
};

struct auth_jwt {
	uv_mutex_t lock; /* guards set */
	struct auth_jwt_set *set;
	struct jwt_expect ex; /* strings borrowed from the node's config */
	uint32_t match;       /* enum tern_jwt_match */
};

static void auth_jwt_set_unref(struct auth_jwt_set *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		jwt_keys_free(s->ks);
		free(s);
	}
}

static struct auth_jwt_set *auth_jwt_current(struct auth_jwt *j)
{
	struct auth_jwt_set *s;

	uv_mutex_lock(&j->lock);
	s = j->set;
	atomic_fetch_add(&s->refs, 1);
	uv_mutex_unlock(&j->lock);
	return s;
}

/* Builds a key set from the configured sources. */
static int auth_jwt_load(const struct tern_config *cfg,
			 struct auth_jwt_set **out, char *err, size_t errlen)
{
	struct auth_jwt_set *s = calloc(1, sizeof(*s));
	const char *p = cfg->jwt_keys;
	int rc = 0;

	*out = NULL;
	if (!s || !(s->ks = jwt_keys_new())) {
		free(s);
		snprintf(err, errlen, "JWT keys: out of memory");
		return TERN_ENOMEM;
	}
	atomic_init(&s->refs, 1);
	while (*p && rc == 0) {
		char path[sizeof(cfg->jwt_keys)];
		size_t n = strcspn(p, ",");

		memcpy(path, p, n);
		path[n] = '\0';
		p += n + (p[n] == ',');
		/* spaces around commas are not part of a path */
		while (n && path[n - 1] == ' ')
			path[--n] = '\0';
		n = strspn(path, " ");
		if (path[n])
			rc = jwt_keys_add_pem_file(s->ks, path + n, NULL,
						   JWT_ALG_INFER, err, errlen);
	}
	if (rc == 0 && cfg->jwt_secret_file[0])
		rc = jwt_keys_add_secret_file(s->ks, cfg->jwt_secret_file, NULL,
					      JWT_HS256, err, errlen);
	if (rc == 0 && cfg->oauth_signing_key[0])
		/* the token endpoint's own tokens (oauth.h) */
		rc = jwt_keys_add_pem_file(s->ks, cfg->oauth_signing_key, NULL,
					   JWT_ALG_INFER, err, errlen);
	if (rc == 0 && cfg->jwks_file[0])
		rc = jwt_keys_add_jwks_file(s->ks, cfg->jwks_file, err, errlen);
	if (rc == 0 && jwt_keys_count(s->ks) == 0) {
		snprintf(err, errlen, "jwt_keys: no key in \"%s\"",
			 cfg->jwt_keys);
		rc = TERN_ECONFIG;
	}
	if (rc) {
		auth_jwt_set_unref(s);
		return rc == TERN_ENOMEM ? rc : TERN_ECONFIG;
	}
	*out = s;
	return 0;
}

int auth_jwt_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct auth_jwt_set *s;
	struct auth_jwt *j;
	int rc;

	n->jwt = NULL;
	if (!config_jwt_on(cfg))
		return 0;
	rc = auth_jwt_load(cfg, &s, err, errlen);
	if (rc)
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j || uv_mutex_init(&j->lock)) {
		free(j);
		auth_jwt_set_unref(s);
		snprintf(err, errlen, "JWT: out of memory");
		return TERN_ENOMEM;
	}
	j->set = s;
	j->ex.issuer = cfg->jwt_issuer[0] ? cfg->jwt_issuer : NULL;
	j->ex.audience = cfg->jwt_audience[0] ? cfg->jwt_audience : NULL;
	j->ex.username_claim = cfg->jwt_username_claim[0]
				       ? cfg->jwt_username_claim
				       : NULL;
	j->ex.roles_claim = cfg->jwt_roles_claim[0] ? cfg->jwt_roles_claim
						    : NULL;
	j->ex.leeway = cfg->jwt_leeway;
	j->match = cfg->jwt_match;
	n->jwt = j;
	log_info("JWT: %zu key(s)%s%s%s%s", jwt_keys_count(s->ks),
		 j->ex.issuer ? ", issuer " : "",
		 j->ex.issuer ? j->ex.issuer : "",
		 j->ex.audience ? ", audience " : "",
		 j->ex.audience ? j->ex.audience : "");
	return 0;
}

int auth_jwt_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct auth_jwt *j = n->jwt;
	struct auth_jwt_set *s, *old;
	int rc;

	if (!j)
		return 0;
	rc = auth_jwt_load(&n->cfg, &s, err, errlen);
	if (rc)
		return rc;
	uv_mutex_lock(&j->lock);
	old = j->set;
	j->set = s;
	uv_mutex_unlock(&j->lock);
	auth_jwt_set_unref(old);
	log_info("JWT: keys reloaded: %zu key(s)", jwt_keys_count(s->ks));
	return 0;
}

void auth_jwt_teardown(struct tern_node *n)
{
	struct auth_jwt *j = n->jwt;

	if (!j)
		return;
	auth_jwt_set_unref(j->set);
	uv_mutex_destroy(&j->lock);
	free(j);
	n->jwt = NULL;
}

bool auth_jwt_is_token(const uint8_t *s, size_t len)
{
	size_t dots = 0;

	/* a JSON header in base64url starts with "eyJ" ('{"') */
	if (len < 10 || memcmp(s, "eyJ", 3) != 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (!((s[i] >= 'A' && s[i] <= 'Z') ||
			   (s[i] >= 'a' && s[i] <= 'z') ||
			   (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
			   s[i] == '_'))
			return false;
	}
	return dots == 2;
}

/* Verifies token for c; *cl is filled on JWT_OK. */
static enum jwt_result auth_jwt_verify(struct conn *c, const uint8_t *token,
				       size_t len, struct jwt_claims *cl,
				       const char **why)
{
	struct auth_jwt *j = c->w->node->jwt;
	struct auth_jwt_set *s = auth_jwt_current(j);
	enum jwt_result r;

	r = jwt_verify(s->ks, (const char *)token, len, &j->ex, time(NULL), cl,
		       why);
	auth_jwt_set_unref(s);
	return r;
}

/* The ACL subject of c with the token's roles (no-op without acl_file). */
static int auth_jwt_attach(struct conn *c, const struct jwt_claims *cl,
			   const char *id, size_t id_len)
{
	const char *roles[JWT_ROLES_MAX];
	size_t lens[JWT_ROLES_MAX];

	for (size_t i = 0; i < cl->n_roles; i++) {
		roles[i] = cl->roles[i];
		lens[i] = strlen(cl->roles[i]);
	}
	return acl_conn_attach_roles(c, c->auth_name, strlen(c->auth_name), id,
				     id_len, roles, lens, cl->n_roles);
}

/* Why a verified token does not fit this CONNECT, or NULL. */
static const char *auth_jwt_mismatch(const struct conn *c,
				     const struct mqtt_connect *p,
				     const struct jwt_claims *cl,
				     const char *id, size_t id_len)
{
	size_t ulen = strlen(cl->username);

	if (cl->roles_truncated && c->w->node->acl)
		return "too many or too long roles in the token";
	switch (c->w->node->jwt->match) {
	case TERN_JWT_MATCH_USERNAME:
		if (p->has_username &&
		    (p->username.len != ulen ||
		     memcmp(p->username.p, cl->username, ulen) != 0))
			return "the token's user is not the CONNECT username";
		break;
	case TERN_JWT_MATCH_CLIENT_ID:
		if (id_len != ulen || memcmp(id, cl->username, ulen) != 0)
			return "the token's user is not the client id";
		break;
	default:
		break;
	}
	return NULL;
}

static uint32_t auth_jwt_exp(const struct tern_config *cfg,
			     const struct jwt_claims *cl)
{
	int64_t e;

	if (!cl->has_exp)
		return 0;
	e = cl->exp + (int64_t)cfg->jwt_leeway;
	return e <= 0 ? 1 : e > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)e;
}

enum auth_verdict auth_jwt_connect(struct conn *c,
				   const struct mqtt_connect *p,
				   const uint8_t *token, size_t len,
				   const char *id, size_t id_len)
{
	struct jwt_claims cl;
	const char *why = "?";
	enum jwt_result r = auth_jwt_verify(c, token, len, &cl, &why);

	if (r == JWT_OK)
		why = auth_jwt_mismatch(c, p, &cl, id, id_len);
	if (r != JWT_OK || why) {
		log_info("%s: JWT refused: %s", c->peer, why);
		return AUTH_BAD_CREDENTIALS;
	}
	free(c->auth_name);
	c->auth_name = strdup(cl.username);
	if (!c->auth_name) {
		c->auth_name_src = CONN_NAME_NONE;
		return AUTH_BAD_CREDENTIALS;
	}
	c->auth_name_src = CONN_NAME_TOKEN;
	c->token_exp = auth_jwt_exp(&c->w->node->cfg, &cl);
	if (auth_jwt_attach(c, &cl, id, id_len)) {
		log_error("%s: out of memory resolving the token's roles",
			  c->peer);
		return AUTH_BAD_CREDENTIALS;
	}
	return AUTH_ALLOW;
}

void auth_jwt_on_auth(struct conn *c, uint8_t reason, const char *method,
		      size_t mlen, const uint8_t *data, size_t dlen)
{
	struct mqtt_packet ok = {.type = MQTT_AUTH};
	const struct session *s = c->s;
	struct jwt_claims cl;
	const char *why = "?";
	enum jwt_result r;

	/* [MQTT-4.12.1-1]: re-authentication keeps the CONNECT's method */
	if (reason != MQTT_RC_REAUTHENTICATE || !method ||
	    mlen != strlen(AUTH_JWT_METHOD) ||
	    memcmp(method, AUTH_JWT_METHOD, mlen) != 0) {
		handle_close(c, MQTT_RC_PROTOCOL_ERROR,
			       "AUTH must re-authenticate with method JWT");
		return;
	}
	r = auth_jwt_verify(c, data, dlen, &cl, &why);
	if (r == JWT_OK && c->auth_name && strcmp(cl.username, c->auth_name))
		why = "a token for another user";
	else if (r == JWT_OK && cl.roles_truncated && c->w->node->acl)
		why = "too many or too long roles in the token";
	else if (r == JWT_OK)
		why = NULL;
	if (why) {
		log_info("%s: re-authentication refused: %s", c->peer, why);
		stat_add(&c->w->stats.auth_failures, 1);
		handle_close(c, MQTT_RC_NOT_AUTHORIZED, why);
		return;
	}
	c->token_exp = auth_jwt_exp(&c->w->node->cfg, &cl);
	if (c->acl) {
		/* the fresh token's roles replace the old ones */
		if (auth_jwt_attach(c, &cl, s->id, s->id_len)) {
			handle_close(c, MQTT_RC_UNSPECIFIED, "out of memory");
			return;
		}
		acl_conn_prune(c);
	}
	stat_add(&c->w->stats.auth_successes, 1);
	log_info("%s: client \"%.*s\" re-authenticated (token user \"%s\")",
		 c->peer, (int)s->id_len, s->id, cl.username);
	ok.disconnect.reason = MQTT_RC_SUCCESS;
	ok.disconnect.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
	ok.disconnect.props.auth_method.p = (const uint8_t *)AUTH_JWT_METHOD;
	ok.disconnect.props.auth_method.len = strlen(AUTH_JWT_METHOD);
	conn_send(c, &ok);
}

void auth_jwt_check_expiry(struct conn *c, uint64_t now_s)
{
	if (!c->token_exp || now_s < c->token_exp ||
	    c->state != CONN_ACTIVE)
		return;
	log_info("%s: client \"%.*s\": token expired, closing", c->peer,
		 c->s ? (int)c->s->id_len : 1, c->s ? c->s->id : "?");
	handle_close(c, MQTT_RC_NOT_AUTHORIZED, "token expired");
}
