/*
 * oauth.c - the OAuth 2.0 client-credentials token endpoint, the JWK set
 * and the OAuth clients API (see oauth.h).
 *
 * A token request verifies the client's secret (PBKDF2, ~50 ms), so the
 * lookup, the verification and the signing run in libuv's thread pool of
 * the control loop; the after-work callback answers, if the connection is
 * still there (admin_http_close detaches it). Everything else runs on the
 * control loop. Errors follow RFC 6749 section 5.2.
 */
#include "oauth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_int.h"
#include "auth.h"
#include "auth_jwt.h"
#include "ident.h"
#include "jwt.h"
#include "log.h"
#include "node.h"
#include "tern_err.h"

#define OAUTH_SECRET_MAX 512
#define OAUTH_SCOPE_MAX 2048
#define OAUTH_ROLES_MAX 32

#define OAUTH_RETIRED_MAX 4 /* previous keys still published */

/* A signing key, shared by the token requests in the thread pool. */
struct oauth_signer {
	atomic_uint refs;
	struct jwt_keys *keys; /* the key alone, with its kid */
	const struct jwt_key *key;
	char kid[17];
};

/* A previous key: published and trusted until its last token expired. */
struct oauth_retired {
	struct oauth_signer *sg;
	time_t until;
};

struct oauth {
	/* control loop: SIGHUP, the admin requests and the timer */
	struct oauth_signer *cur;
	struct oauth_retired old[OAUTH_RETIRED_MAX]; /* oldest first */
	size_t n_old;
	uv_timer_t *timer; /* drops retired keys; freed by its close cb */
	struct auth_hash dummy; /* verified for unknown clients (timing) */
	uv_loop_t *loop;        /* the control loop */
	unsigned pending;       /* token requests in the thread pool */
};

/* ---- keys ------------------------------------------------------------ */

/* kid: the first 16 hex digits of SHA-256 over the public JWK set of a
 * kid-less copy of the key (stable for a key, different across keys). */
static int oauth_kid(const char *path, char *kid, size_t cap, char *err,
		     size_t errlen)
{
	struct jwt_keys *tmp = jwt_keys_new();
	unsigned char md[32];
	char *json = NULL;
	int rc;

	if (!tmp)
		return TERN_ENOMEM;
	rc = jwt_keys_add_pem_file(tmp, path, NULL, JWT_ALG_INFER, err, errlen);
	if (!rc)
		rc = jwt_keys_public_jwks(tmp, &json);
	if (!rc && !EVP_Digest(json, strlen(json), md, NULL, EVP_sha256(), NULL))
		rc = TERN_EIO;
	if (!rc)
		for (size_t i = 0; i < 8 && 2 * i + 2 < cap; i++)
			snprintf(kid + 2 * i, 3, "%02x", md[i]);
	free(json);
	jwt_keys_free(tmp);
	return rc;
}

static void oauth_signer_unref(struct oauth_signer *sg)
{
	if (sg && atomic_fetch_sub(&sg->refs, 1) == 1) {
		jwt_keys_free(sg->keys);
		free(sg);
	}
}

/* Loads the private key at path. Returns 0 with *out (one reference),
 * or TERN_ECONFIG / TERN_ENOMEM with the reason in err. */
static int oauth_signer_load(const char *path, struct oauth_signer **out,
			     char *err, size_t errlen)
{
	struct oauth_signer *sg = calloc(1, sizeof(*sg));
	int rc;

	*out = NULL;
	if (!sg || !(sg->keys = jwt_keys_new())) {
		free(sg);
		snprintf(err, errlen, "oauth_signing_key: out of memory");
		return TERN_ENOMEM;
	}
	atomic_init(&sg->refs, 1);
	rc = oauth_kid(path, sg->kid, sizeof(sg->kid), err, errlen);
	if (!rc)
		rc = jwt_keys_add_pem_file(sg->keys, path, sg->kid,
					   JWT_ALG_INFER, err, errlen);
	if (!rc) {
		sg->key = jwt_keys_at(sg->keys, 0);
		if (!jwt_key_can_sign(sg->key)) {
			snprintf(err, errlen,
				 "oauth_signing_key %s: a public key cannot "
				 "sign tokens: give the private key",
				 path);
			rc = TERN_ECONFIG;
		}
	}
	if (rc) {
		oauth_signer_unref(sg);
		return rc == TERN_ENOMEM ? rc : TERN_ECONFIG;
	}
	*out = sg;
	return 0;
}

/* The current key and the retired ones still valid at now, as a new set
 * (NULL: out of memory). */
static struct jwt_keys *oauth_published(const struct oauth *o, time_t now)
{
	struct jwt_keys *ks = jwt_keys_new();

	if (!ks || jwt_keys_add_keys(ks, o->cur->keys)) {
		jwt_keys_free(ks);
		return NULL;
	}
	for (size_t i = 0; i < o->n_old; i++)
		if (o->old[i].until > now &&
		    jwt_keys_add_keys(ks, o->old[i].sg->keys)) {
			jwt_keys_free(ks);
			return NULL;
		}
	return ks;
}

/* Hands the published keys to the JWT provider, which trusts them. */
static void oauth_trust(struct tern_node *n)
{
	struct jwt_keys *ks = oauth_published(n->oauth, time(NULL));

	if (!ks)
		log_error("OAuth: cannot update the trusted keys: out of "
			  "memory");
	else
		auth_jwt_set_oauth_keys(n, ks);
	jwt_keys_free(ks);
}

static void oauth_on_timer(uv_timer_t *t);

/* Drops the retired keys whose tokens all expired; arms the timer for
 * the next one. */
static void oauth_prune(struct tern_node *n)
{
	struct oauth *o = n->oauth;
	time_t now = time(NULL), next = 0;
	size_t k = 0, dropped = 0;

	for (size_t i = 0; i < o->n_old; i++) {
		if (o->old[i].until <= now) {
			log_info("OAuth: key %s retired: its last token "
				 "expired",
				 o->old[i].sg->kid);
			oauth_signer_unref(o->old[i].sg);
			dropped++;
			continue;
		}
		if (!next || o->old[i].until < next)
			next = o->old[i].until;
		o->old[k++] = o->old[i];
	}
	o->n_old = k;
	if (dropped)
		oauth_trust(n);
	if (next)
		uv_timer_start(o->timer, oauth_on_timer,
			       (uint64_t)(next - now) * 1000 + 50, 0);
}

static void oauth_on_timer(uv_timer_t *t)
{
	oauth_prune(t->data);
}

static void oauth_on_timer_closed(uv_handle_t *h)
{
	free(h);
}

/* ---- setup ---------------------------------------------------------- */

int oauth_setup(struct tern_node *n, char *err, size_t errlen)
{
	const char *path = n->cfg.oauth_signing_key;
	struct oauth *o;
	int rc;

	n->oauth = NULL;
	if (!path[0])
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->timer = calloc(1, sizeof(*o->timer)))) {
		free(o);
		snprintf(err, errlen, "oauth_signing_key: out of memory");
		return TERN_ENOMEM;
	}
	rc = oauth_signer_load(path, &o->cur, err, errlen);
	if (rc) {
		free(o->timer);
		free(o);
		return rc;
	}
	o->loop = n->ctl_loop;
	uv_timer_init(o->loop, o->timer);
	o->timer->data = n;
	o->dummy.iterations = AUTH_MIN_ITERATIONS;
	o->dummy.salt_len = AUTH_SALT_LEN;
	o->dummy.hash_len = AUTH_HASH_MAX;
	RAND_bytes(o->dummy.salt, AUTH_SALT_LEN);
	n->oauth = o;
	oauth_trust(n);
	log_info("OAuth token endpoint: %s key %s, tokens valid %u s%s",
		 jwt_alg_name(jwt_key_alg(o->cur->key)), o->cur->kid,
		 n->cfg.oauth_token_ttl,
		 n->store ? "" : " (no OAuth clients: durability is none)");
	return 0;
}

int oauth_reload(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct oauth *o = n->oauth;
	struct oauth_signer *sg;
	int rc;

	if (!o)
		return 0;
	rc = oauth_signer_load(cfg->oauth_signing_key, &sg, err, errlen);
	if (rc)
		return rc;
	if (!strcmp(sg->kid, o->cur->kid)) {
		oauth_signer_unref(sg); /* the same key */
		return 0;
	}
	if (o->n_old == OAUTH_RETIRED_MAX) {
		log_warn("OAuth: key %s dropped before its tokens expired: "
			 "more than %d rotations within a token's lifetime",
			 o->old[0].sg->kid, OAUTH_RETIRED_MAX);
		oauth_signer_unref(o->old[0].sg);
		memmove(o->old, o->old + 1, sizeof(o->old[0]) * --o->n_old);
	}
	/* its tokens: issued up to now, valid ttl + leeway seconds (a
	 * request being signed now extends it, oauth_on_after_work) */
	o->old[o->n_old].sg = o->cur;
	o->old[o->n_old].until = time(NULL) + (time_t)cfg->oauth_token_ttl +
				 (time_t)cfg->jwt_leeway;
	o->n_old++;
	log_info("OAuth: signing key rotated: new tokens are signed with %s, "
		 "key %s stays published for %u s",
		 sg->kid, o->cur->kid, cfg->oauth_token_ttl + cfg->jwt_leeway);
	o->cur = sg;
	oauth_trust(n);
	oauth_prune(n); /* arms the timer */
	return 0;
}

void oauth_teardown(struct tern_node *n)
{
	struct oauth *o = n->oauth;

	if (!o)
		return;
	uv_timer_stop(o->timer);
	uv_close((uv_handle_t *)o->timer, oauth_on_timer_closed);
	/* requests in the thread pool read o and the store: let them end
	 * (each is one hash, ~50 ms; bounded anyway) */
	for (int i = 0; o->pending && i < 1000; i++)
		uv_run(o->loop, UV_RUN_ONCE);
	if (o->pending)
		return; /* leaked rather than freed under a running thread */
	oauth_signer_unref(o->cur);
	for (size_t i = 0; i < o->n_old; i++)
		oauth_signer_unref(o->old[i].sg);
	free(o);
	n->oauth = NULL;
}

/* ---- the token endpoint --------------------------------------------- */

struct oauth_work {
	uv_work_t req;
	struct admin_conn *c; /* NULL: went away */
	struct tern_node *n;
	struct oauth_signer *sg; /* the key it signs with (a reference) */
	time_t exp;              /* of the token issued, 0: none */
	char id[IDENT_NAME_MAX + 1];
	char secret[OAUTH_SECRET_MAX + 1];
	char scope[OAUTH_SCOPE_MAX + 1];
	bool has_scope;
	bool basic; /* client authenticated with HTTP Basic */
	/* the answer, made in the thread pool */
	int status;
	char *body;
	char peer[64];
};

static void oauth_peer(struct admin_conn *c, char *out, size_t cap);

/* RFC 6749 5.2 error answer to a request refused before the secret
 * check (logged as the others are). */
static void oauth_error(struct admin_conn *c, const char *who, int status,
			const char *code, const char *desc, bool basic)
{
	char peer[64];

	oauth_peer(c, peer, sizeof(peer));
	log_info("audit: OAuth token for client \"%s\" from %s: %s (%s)",
		 who && who[0] ? who : "?", peer, code, desc);
	json_t *j = json_pack("{s:s, s:s}", "error", code, "error_description",
			      desc);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	admin_http_reply(c, status, "application/json",
			 basic ? "WWW-Authenticate: Basic realm=\"tern\"\r\n"
				 "Pragma: no-cache\r\n"
			       : "Pragma: no-cache\r\n",
			 body, body ? strlen(body) : 0);
	free(body);
}

/* How many times form parameter `name` appears. */
static unsigned oauth_form_count(const char *form, const char *name)
{
	size_t nlen = strlen(name);
	unsigned n = 0;

	for (const char *p = form; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);

		if (plen >= nlen && !memcmp(p, name, nlen) &&
		    (plen == nlen || p[nlen] == '='))
			n++;
		p = amp ? amp + 1 : NULL;
	}
	return n;
}

/* A form parameter that may appear at most once; false: absent. Sets
 * *bad for a repeat or a bad escape. */
static bool oauth_form(const char *form, const char *name, char *out,
		       size_t cap, bool *bad)
{
	unsigned n = oauth_form_count(form, name);

	out[0] = '\0';
	if (n > 1)
		*bad = true;
	if (n != 1)
		return false;
	if (!admin_api_query(form, name, out, cap)) {
		*bad = true;
		return false;
	}
	return true;
}

/* HTTP Basic (RFC 6749 2.3.1: id and secret form-urlencoded, then
 * base64). Returns 1 with id/secret set, 0 when the header is not Basic,
 * -1 when it is but malformed. */
static int oauth_basic(const struct admin_req *r, char *id, size_t idcap,
		       char *secret, size_t scap)
{
	unsigned char dec[ADMIN_AUTH_MAX];
	const char *b64;
	size_t blen;
	char *colon;
	int n;

	if (r->auth_len < 6 || strncasecmp(r->auth, "Basic ", 6))
		return 0;
	b64 = r->auth + 6;
	while (*b64 == ' ')
		b64++;
	blen = strlen(b64);
	if (!blen || blen % 4 || blen / 4 * 3 >= sizeof(dec))
		return -1;
	n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)blen);
	if (n < 0)
		return -1;
	n -= (b64[blen - 1] == '=') + (b64[blen - 2] == '=');
	dec[n] = '\0';
	colon = memchr(dec, ':', (size_t)n);
	if (!colon || memchr(dec, '\0', (size_t)n))
		return -1;
	if (admin_api_unescape((const char *)dec, (size_t)(colon - (char *)dec),
			       id, idcap, true) < 0 ||
	    admin_api_unescape(colon + 1,
			       (size_t)n - (size_t)(colon - (char *)dec) - 1,
			       secret, scap, true) < 0)
		return -1;
	OPENSSL_cleanse(dec, sizeof(dec));
	return 1;
}

/* Does the space-separated list have the word s[0..len)? */
static bool oauth_words_have(const char *list, const char *s, size_t len)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");

		if (n == len && !memcmp(p, s, len))
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* Is every space-separated role of scope in roles? */
static bool oauth_scope_ok(const char *scope, json_t *roles)
{
	for (const char *p = scope; *p;) {
		size_t len = strcspn(p, " "), i;
		bool found = false;
		json_t *r;

		json_array_foreach(roles, i, r)
		found |= json_is_string(r) && json_string_length(r) == len &&
			 !memcmp(json_string_value(r), p, len);
		if (len && !found)
			return false;
		p += len;
		while (*p == ' ')
			p++;
	}
	return true;
}

static void oauth_answer(struct oauth_work *w, int status, const char *code,
			 const char *desc)
{
	json_t *j = json_pack("{s:s, s:s}", "error", code, "error_description",
			      desc);

	w->status = status;
	w->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
}

/* Sets v (a new reference) at a dotted path of o ("realm_access.roles":
 * {"realm_access": {"roles": v}}), as the JWT provider reads it. */
static void oauth_set_path(json_t *o, const char *path, json_t *v)
{
	char part[64];
	const char *dot;

	while ((dot = strchr(path, '.')) && (size_t)(dot - path) < sizeof(part)) {
		json_t *next;

		memcpy(part, path, (size_t)(dot - path));
		part[dot - path] = '\0';
		next = json_object_get(o, part);
		if (!json_is_object(next)) {
			next = json_object();
			if (!next || json_object_set_new(o, part, next))
				return;
		}
		o = next;
		path = dot + 1;
	}
	json_object_set(o, path, v);
}

/* The access token for client w->id with these roles. */
static int oauth_issue(struct oauth_work *w, json_t *granted)
{
	const struct tern_config *cfg = &w->n->cfg;
	time_t now = time(NULL);
	uint8_t jti[12];
	char jtihex[25], *claims, *token = NULL, scope[OAUTH_SCOPE_MAX + 1];
	size_t slen = 0, i;
	json_t *c, *r, *resp;
	int rc;

	scope[0] = '\0';
	json_array_foreach(granted, i, r) {
		int k = snprintf(scope + slen, sizeof(scope) - slen, "%s%s",
				 slen ? " " : "", json_string_value(r));

		if (k > 0 && (size_t)k < sizeof(scope) - slen)
			slen += (size_t)k;
	}
	RAND_bytes(jti, sizeof(jti));
	for (i = 0; i < sizeof(jti); i++)
		snprintf(jtihex + 2 * i, 3, "%02x", jti[i]);
	c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "iss",
		      cfg->jwt_issuer[0] ? cfg->jwt_issuer : "tern", "sub",
		      w->id, "iat", (json_int_t)now, "exp",
		      (json_int_t)(now + cfg->oauth_token_ttl), "jti", jtihex,
		      "scope", scope);
	if (!c)
		return TERN_ENOMEM;
	if (cfg->jwt_audience[0])
		json_object_set_new(c, "aud", json_string(cfg->jwt_audience));
	if (cfg->jwt_username_claim[0] && strcmp(cfg->jwt_username_claim, "sub"))
		json_object_set_new(c, cfg->jwt_username_claim,
				    json_string(w->id));
	if (cfg->jwt_roles_claim[0] && strcmp(cfg->jwt_roles_claim, "scope"))
		oauth_set_path(c, cfg->jwt_roles_claim, granted);
	claims = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	if (!claims)
		return TERN_ENOMEM;
	rc = jwt_sign(w->sg->key, claims, &token);
	if (!rc)
		w->exp = now + (time_t)cfg->oauth_token_ttl;
	free(claims);
	if (rc)
		return rc;
	resp = json_pack("{s:s, s:s, s:i, s:s}", "access_token", token,
			 "token_type", "Bearer", "expires_in",
			 (int)cfg->oauth_token_ttl, "scope", scope);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	w->body = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	if (!w->body)
		return TERN_ENOMEM;
	w->status = 200;
	return 0;
}

static void oauth_on_work(uv_work_t *req)
{
	struct oauth_work *w = req->data;
	struct auth_hash h;
	const char *why = NULL;
	json_t *j = NULL, *roles, *granted = NULL;
	char *json = NULL;
	bool known;
	int rc;

	rc = ident_get(w->n, IDENT_OAUTH_CLIENT, w->id, strlen(w->id), &json);
	if (rc && rc != TERN_ENOTFOUND) {
		oauth_answer(w, 500, "server_error", "cannot read the client");
		return;
	}
	j = json ? json_loads(json, 0, NULL) : NULL;
	free(json);
	known = j && json_is_string(json_object_get(j, "secret")) &&
		!auth_hash_parse(json_string_value(json_object_get(j, "secret")),
				 json_string_length(
					 json_object_get(j, "secret")),
				 &h, &why);
	/* an unknown client costs what a wrong secret costs */
	if (!auth_hash_verify(known ? &h : &w->n->oauth->dummy,
			      (const uint8_t *)w->secret, strlen(w->secret)) ||
	    !known) {
		oauth_answer(w, 401, "invalid_client",
			     "unknown client or wrong secret");
		goto out;
	}
	roles = json_object_get(j, "roles");
	if (!json_is_array(roles))
		roles = NULL;
	if (w->has_scope && (!roles || !oauth_scope_ok(w->scope, roles))) {
		oauth_answer(w, 400, "invalid_scope",
			     "scope names a role the client does not have");
		goto out;
	}
	granted = json_array();
	if (!granted) {
		oauth_answer(w, 500, "server_error", "out of memory");
		goto out;
	}
	if (roles) {
		size_t i;
		json_t *r;

		json_array_foreach(roles, i, r) {
			const char *s = json_string_value(r);

			/* with a scope, only the roles it names */
			if (s && (!w->has_scope || !w->scope[0] ||
				  oauth_words_have(w->scope, s, strlen(s))))
				json_array_append(granted, r);
		}
	}
	if (oauth_issue(w, granted))
		oauth_answer(w, 500, "server_error", "cannot sign the token");
out:
	json_decref(granted);
	json_decref(j);
	OPENSSL_cleanse(w->secret, sizeof(w->secret));
}

static void oauth_on_after_work(uv_work_t *req, int status)
{
	struct oauth_work *w = req->data;
	struct admin_conn *c = w->c;

	if (status)
		oauth_answer(w, 500, "server_error", "cancelled");
	log_info("audit: OAuth token for client \"%s\" from %s: %s", w->id,
		 w->peer,
		 w->status == 200 ? "issued"
		 : w->status == 401 ? "invalid_client"
		 : w->status == 400 ? "invalid_scope"
				    : "server_error");
	if (c) {
		c->oauth = NULL;
		admin_http_reply(c, w->status, "application/json",
				 w->status == 401 && w->basic
					 ? "WWW-Authenticate: Basic "
					   "realm=\"tern\"\r\n"
					   "Pragma: no-cache\r\n"
					 : "Pragma: no-cache\r\n",
				 w->body, w->body ? strlen(w->body) : 0);
	}
	if (w->body)
		OPENSSL_cleanse(w->body, strlen(w->body));
	free(w->body);
	/* signed with a key rotated meanwhile: it stays until this token
	 * expires too */
	for (size_t i = 0; w->exp && i < w->n->oauth->n_old; i++) {
		struct oauth_retired *r = &w->n->oauth->old[i];
		time_t until = w->exp + (time_t)w->n->cfg.jwt_leeway;

		if (r->sg == w->sg && r->until < until) {
			r->until = until;
			oauth_prune(w->n);
		}
	}
	oauth_signer_unref(w->sg);
	w->n->oauth->pending--;
	free(w);
}

static void oauth_peer(struct admin_conn *c, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[64] = "?";

	if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
		uv_ip_name((struct sockaddr *)&ss, host, sizeof(host));
	snprintf(out, cap, "%s", host);
}

/* Who a refused request claimed to be, for the audit line. */
#define OAUTH_WHO (w->id[0] ? w->id : has_fid ? fid : NULL)

void oauth_token(struct admin_conn *c)
{
	struct tern_node *n = c->a->n;
	const char *form = c->req.body.p ? c->req.body.p : "";
	char grant[64], fid[IDENT_NAME_MAX + 1], fsecret[OAUTH_SECRET_MAX + 1];
	bool bad = false, has_fid = false, has_fsecret;
	struct oauth_work *w;
	int basic;

	if (!n->oauth) {
		admin_http_error(c, 404, "no token endpoint: set "
					 "oauth_signing_key");
		return;
	}
	if (c->req.method != HTTP_POST) {
		admin_http_not_allowed(c, "POST");
		return;
	}
	fid[0] = '\0';
	w = calloc(1, sizeof(*w));
	if (!w) {
		oauth_error(c, NULL, 500, "server_error", "out of memory",
			    false);
		return;
	}
	if (strncasecmp(c->req.ctype, "application/x-www-form-urlencoded",
			33)) {
		oauth_error(c, OAUTH_WHO, 400, "invalid_request",
			    "the body must be application/x-www-form-urlencoded",
			    false);
		goto fail;
	}
	basic = oauth_basic(&c->req, w->id, sizeof(w->id), w->secret,
			    sizeof(w->secret));
	w->basic = basic != 0;
	has_fid = oauth_form(form, "client_id", fid, sizeof(fid), &bad);
	has_fsecret = oauth_form(form, "client_secret", fsecret,
				 sizeof(fsecret), &bad);
	w->has_scope = oauth_form(form, "scope", w->scope, sizeof(w->scope),
				  &bad);
	if (!oauth_form(form, "grant_type", grant, sizeof(grant), &bad) ||
	    bad || basic < 0) {
		oauth_error(c, OAUTH_WHO, 400, "invalid_request",
			    basic < 0 ? "malformed Basic authorization"
				      : "grant_type missing, or a parameter "
					"repeated or badly encoded",
			    false);
		goto fail;
	}
	if (strcmp(grant, "client_credentials")) {
		oauth_error(c, OAUTH_WHO, 400, "unsupported_grant_type",
			    "only client_credentials is supported", false);
		goto fail;
	}
	if (basic && has_fsecret) {
		/* RFC 6749 2.3: one authentication method per request */
		oauth_error(c, OAUTH_WHO, 400, "invalid_request",
			    "client authenticated twice (Basic and body)",
			    false);
		goto fail;
	}
	if (!basic) {
		if (!has_fid || !has_fsecret) {
			oauth_error(c, OAUTH_WHO, 401, "invalid_client",
				    "no client authentication", false);
			goto fail;
		}
		memcpy(w->id, fid, sizeof(w->id));
		memcpy(w->secret, fsecret, sizeof(w->secret));
	} else if (has_fid && strcmp(fid, w->id)) {
		oauth_error(c, OAUTH_WHO, 400, "invalid_request",
			    "client_id differs from the Basic user", true);
		goto fail;
	}
	if (!n->store) {
		oauth_error(c, OAUTH_WHO, 503, "temporarily_unavailable",
			    "no OAuth clients without a store (durability "
			    "none)",
			    false);
		goto fail;
	}
	if (!ident_name_ok(w->id, strlen(w->id))) {
		oauth_error(c, OAUTH_WHO, 401, "invalid_client",
			    "unknown client or wrong secret", w->basic);
		goto fail;
	}
	w->c = c;
	w->n = n;
	w->req.data = w;
	w->sg = n->oauth->cur;
	atomic_fetch_add(&w->sg->refs, 1);
	oauth_peer(c, w->peer, sizeof(w->peer));
	if (uv_queue_work(c->a->loop, &w->req, oauth_on_work,
			  oauth_on_after_work)) {
		oauth_signer_unref(w->sg);
		oauth_error(c, OAUTH_WHO, 500, "server_error", "cannot queue", false);
		goto fail;
	}
	c->oauth = w;
	n->oauth->pending++;
	OPENSSL_cleanse(fsecret, sizeof(fsecret));
	return;
fail:
	OPENSSL_cleanse(fsecret, sizeof(fsecret));
	OPENSSL_cleanse(w->secret, sizeof(w->secret));
	free(w);
}

void oauth_conn_gone(struct admin_conn *c)
{
	if (c->oauth)
		c->oauth->c = NULL;
	c->oauth = NULL;
}

void oauth_jwks(struct admin_conn *c)
{
	struct oauth *o = c->a->n->oauth;
	struct jwt_keys *ks;
	char *json = NULL;
	int rc;

	if (!o) {
		admin_http_error(c, 404, "no signing key: set "
					 "oauth_signing_key");
		return;
	}
	if (c->req.method != HTTP_GET && c->req.method != HTTP_HEAD) {
		admin_http_not_allowed(c, "GET, HEAD");
		return;
	}
	/* the current key and the previous ones whose tokens are valid */
	ks = oauth_published(o, time(NULL));
	rc = ks ? jwt_keys_public_jwks(ks, &json) : TERN_ENOMEM;
	jwt_keys_free(ks);
	if (rc) {
		admin_http_error(c, 500, "cannot export the key");
		return;
	}
	admin_http_reply(c, 200, "application/json", NULL, json, strlen(json));
	free(json);
}

/* ---- /api/v1/oauth-clients ----------------------------------------- */

static int oauth_list_one(void *ctx, const char *name, size_t len,
			  const char *json)
{
	json_t *arr = ctx, *v = json_loads(json, 0, NULL), *e;

	e = json_pack("{s:s%, s:O?}", "client_id", name, len, "roles",
		      v ? json_object_get(v, "roles") : NULL);
	json_decref(v);
	return e && !json_array_append_new(arr, e) ? 0 : TERN_ENOMEM;
}

static void oauth_clients_put(struct admin_conn *c, const char *id,
			      size_t len)
{
	char hash[AUTH_HASH_STRLEN];
	json_error_t jerr;
	json_t *in, *roles, *out;
	const char *secret;
	struct ident_cmd cmd = {.op = IDENT_PUT,
				.kind = IDENT_OAUTH_CLIENT,
				.name = id,
				.len = len};
	char *value;
	size_t i;
	json_t *r;
	int rc;

	in = json_loads(c->req.body.p ? c->req.body.p : "", 0, &jerr);
	secret = json_string_value(json_object_get(in, "secret"));
	roles = json_object_get(in, "roles");
	if (!in || !secret || strlen(secret) < 16 ||
	    strlen(secret) > OAUTH_SECRET_MAX || (roles && !json_is_array(roles))) {
		json_decref(in);
		admin_http_error(c, 400,
				 "expected {\"secret\": \"16 to %d bytes\", "
				 "\"roles\": [\"role\", ...]}",
				 OAUTH_SECRET_MAX);
		return;
	}
	json_array_foreach(roles, i, r) {
		if (!json_is_string(r) || !json_string_length(r) ||
		    json_string_length(r) > 64 || i >= OAUTH_ROLES_MAX ||
		    strchr(json_string_value(r), ' ')) {
			json_decref(in);
			admin_http_error(c, 400,
					 "roles: at most %d names of 1 to 64 "
					 "bytes without spaces",
					 OAUTH_ROLES_MAX);
			return;
		}
	}
	/* hashed on the control loop: an admin write, ~50 ms */
	rc = auth_hash_make((const uint8_t *)secret, strlen(secret),
			    AUTH_MIN_ITERATIONS, hash, sizeof(hash));
	out = rc ? NULL
		 : json_pack("{s:s, s:o}", "secret", hash, "roles",
			     roles ? json_incref(roles) : json_array());
	json_decref(in);
	value = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (!value) {
		admin_http_error(c, 500, "out of memory");
		return;
	}
	cmd.value = value;
	rc = ident_apply(c->a->n, &cmd);
	free(value);
	if (rc) {
		admin_http_error(c, rc == TERN_EQUOTA ? 507 : 500,
				 "cannot store the client: %s",
				 tern_strerror(rc));
		return;
	}
	admin_http_reply_json(c, 200,
			      json_pack("{s:s%}", "client_id", id, len));
}

void oauth_clients(struct admin_conn *c, const char *id, size_t len)
{
	struct tern_node *n = c->a->n;
	unsigned m = c->req.method;
	char name[IDENT_NAME_MAX + 1];
	long nlen = 0;

	if (!n->store) {
		admin_http_error(c, 409, "OAuth clients need the store "
					 "(durability process-crash or "
					 "power-loss)");
		return;
	}
	if (id) {
		nlen = admin_api_unescape(id, len, name, sizeof(name), false);
		if (nlen < 0 || !ident_name_ok(name, (size_t)nlen)) {
			admin_http_error(c, 400, "bad client id");
			return;
		}
	}
	if (!id) {
		json_t *arr = json_array();

		if (m != HTTP_GET && m != HTTP_HEAD) {
			admin_http_not_allowed(c, "GET, HEAD");
			json_decref(arr);
			return;
		}
		if (!arr || ident_scan(n, IDENT_OAUTH_CLIENT, oauth_list_one,
				       arr)) {
			json_decref(arr);
			admin_http_error(c, 500, "cannot list the clients");
			return;
		}
		admin_http_reply_json(c, 200, json_pack("{s:o}", "clients",
							arr));
	} else if (m == HTTP_PUT) {
		oauth_clients_put(c, name, (size_t)nlen);
	} else if (m == HTTP_DELETE) {
		struct ident_cmd cmd = {.op = IDENT_DEL,
					.kind = IDENT_OAUTH_CLIENT,
					.name = name,
					.len = (size_t)nlen};
		char *old = NULL;

		if (ident_get(n, IDENT_OAUTH_CLIENT, name, (size_t)nlen, &old)) {
			admin_http_error(c, 404, "no OAuth client \"%s\"",
					 name);
			return;
		}
		free(old);
		if (ident_apply(n, &cmd)) {
			admin_http_error(c, 500, "cannot delete the client");
			return;
		}
		admin_http_reply_json(c, 200, json_pack("{s:s, s:b}",
							"client_id", name,
							"deleted", 1));
	} else if (m == HTTP_GET || m == HTTP_HEAD) {
		char *json = NULL;
		json_t *v;

		if (ident_get(n, IDENT_OAUTH_CLIENT, name, (size_t)nlen,
			      &json)) {
			admin_http_error(c, 404, "no OAuth client \"%s\"",
					 name);
			return;
		}
		v = json_loads(json, 0, NULL);
		free(json);
		admin_http_reply_json(c, 200,
				      json_pack("{s:s, s:O?}", "client_id",
						name, "roles",
						v ? json_object_get(v, "roles")
						  : NULL));
		json_decref(v);
	} else {
		admin_http_not_allowed(c, "GET, HEAD, PUT, DELETE");
	}
}
