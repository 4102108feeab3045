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
#include "jwks_fetch.h"
#include "jwt.h"
#include "log.h"
#include "mqtt.h"
#include "session.h"
#include "tern_err.h"

struct auth_jwt_set {
	atomic_uint refs;
	struct jwt_keys *ks;
};

/* A CONNECT held while the JWK set is fetched again (its token's kid is
 * unknown). Linked in u->waits until the CONNECT is handled again. Per
 * worker one wait (the leader) runs the fetch in the thread pool; the
 * worker's others follow it and are released with it, so a burst of
 * unknown kids blocks at most one pool thread per worker. */
struct auth_jwt_wait {
	uv_work_t req;
	struct auth_jwt *j;
	struct conn *c; /* NULL: the client went away (worker thread) */
	struct worker *wk; /* c's worker */
	struct auth_jwt_wait *prev, *next;
	bool leader; /* runs the fetch (req) */
	bool done;   /* the fetch ended (worker thread) */
	bool released; /* its CONNECT was handed back to be handled again */
	int rc;      /* the fetch's result: 0 or a tern_err */
};

/* jwks_url: fetches, their serialization and the held CONNECTs. */
struct auth_jwt_url {
	uv_mutex_t lock; /* guards the members down to waits */
	uv_cond_t ended; /* a fetch ended */
	bool fetching;
	uint64_t gen;         /* fetches ended */
	int last_rc;          /* the last fetch's result; -1: none ended */
	uint64_t last_kid_ns; /* uv_hrtime of the last unknown-kid fetch */
	unsigned fails;       /* failed fetches in a row (logging) */
	struct auth_jwt_wait *waits;
	unsigned n_waits;
	atomic_uint any_waits; /* n_waits, read without the lock */
	atomic_uint_fast64_t results[AUTH_JWT_FETCH_RESULTS];
	atomic_uint n_keys; /* keys of the last good fetch */
	/* control loop only */
	uv_loop_t *loop;
	uv_timer_t *timer; /* freed by its close callback */
	uv_work_t work;    /* the periodic fetch */
	int work_rc;
	unsigned ctl_fails; /* periodic fetches failed in a row (backoff) */
	bool work_busy, stopping;
};

struct auth_jwt {
	uv_mutex_t lock; /* guards set */
	struct auth_jwt_set *set; /* what CONNECTs are verified against */
	struct jwt_expect ex; /* strings borrowed from the node's config */
	uint32_t match;       /* enum tern_jwt_match */
	const struct tern_config *cfg;
	/*
	 * The sources set is built from, replaced under build (taken before
	 * lock): the files (SIGHUP), the token endpoint's keys (oauth.c) and
	 * the last good fetch of jwks_url (thread pool).
	 */
	uv_mutex_t build;
	struct jwt_keys *files, *oauth, *url;
	struct auth_jwt_url *u; /* NULL without jwks_url */
};

static const char *const auth_jwt_result_names[] = {
#define AUTH_JWT_RESULT_NAME(name, text) text,
	AUTH_JWT_FETCH_RESULTS_X(AUTH_JWT_RESULT_NAME)
#undef AUTH_JWT_RESULT_NAME
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

/* Builds the key set from the sources and swaps it in; the old one stays
 * on error (more than JWT_KEYS_MAX keys in all). j->build held. */
static int auth_jwt_rebuild(struct auth_jwt *j, char *err, size_t errlen)
{
	struct auth_jwt_set *s = calloc(1, sizeof(*s)), *old;
	int rc = 0;

	if (!s || !(s->ks = jwt_keys_new())) {
		free(s);
		snprintf(err, errlen, "JWT keys: out of memory");
		return TERN_ENOMEM;
	}
	atomic_init(&s->refs, 1);
	if (j->files)
		rc = jwt_keys_add_keys(s->ks, j->files);
	if (!rc && j->oauth)
		rc = jwt_keys_add_keys(s->ks, j->oauth);
	if (!rc && j->url)
		rc = jwt_keys_add_keys(s->ks, j->url);
	if (rc) {
		auth_jwt_set_unref(s);
		snprintf(err, errlen,
			 rc == TERN_ELIMIT ? "JWT keys: more than %d in all"
					   : "JWT keys: out of memory",
			 JWT_KEYS_MAX);
		return rc;
	}
	uv_mutex_lock(&j->lock);
	old = j->set;
	j->set = s;
	uv_mutex_unlock(&j->lock);
	auth_jwt_set_unref(old);
	return 0;
}

/* Replaces one source (*slot) with ks (taken on success) and rebuilds. */
static int auth_jwt_replace(struct auth_jwt *j, struct jwt_keys **slot,
			    struct jwt_keys *ks, char *err, size_t errlen)
{
	struct jwt_keys *old;
	int rc;

	uv_mutex_lock(&j->build);
	old = *slot;
	*slot = ks;
	rc = auth_jwt_rebuild(j, err, errlen);
	if (rc)
		*slot = old;
	uv_mutex_unlock(&j->build);
	if (!rc)
		jwt_keys_free(old);
	return rc;
}

/* Builds the key set of the configured files. */
static int auth_jwt_load(const struct tern_config *cfg, struct jwt_keys **out,
			 char *err, size_t errlen)
{
	struct jwt_keys *ks = jwt_keys_new();
	const char *p = cfg->jwt_keys;
	int rc = 0;

	*out = NULL;
	if (!ks) {
		snprintf(err, errlen, "JWT keys: out of memory");
		return TERN_ENOMEM;
	}
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
			rc = jwt_keys_add_pem_file(ks, path + n, NULL,
						   JWT_ALG_INFER, err, errlen);
	}
	if (rc == 0 && cfg->jwt_secret_file[0])
		rc = jwt_keys_add_secret_file(ks, cfg->jwt_secret_file, NULL,
					      JWT_HS256, err, errlen);
	if (rc == 0 && cfg->jwks_file[0])
		rc = jwt_keys_add_jwks_file(ks, cfg->jwks_file, err, errlen);
	/* the token endpoint's keys come from oauth.c, the URL's later */
	if (rc == 0 && jwt_keys_count(ks) == 0 && !cfg->jwks_url[0] &&
	    !cfg->oauth_signing_key[0]) {
		snprintf(err, errlen, "jwt_keys: no key in \"%s\"",
			 cfg->jwt_keys);
		rc = TERN_ECONFIG;
	}
	if (rc) {
		jwt_keys_free(ks);
		return rc == TERN_ENOMEM ? rc : TERN_ECONFIG;
	}
	*out = ks;
	return 0;
}

/* ---- jwks_url --------------------------------------------------------- */

static enum auth_jwt_fetch_result auth_jwt_result_of(int rc)
{
	switch (rc) {
	case 0:
		return AUTH_JWT_FETCH_OK;
	case TERN_EIO:
		return AUTH_JWT_FETCH_UNREACHABLE;
	case TERN_EPROTOCOL:
		return AUTH_JWT_FETCH_HTTP_ERROR;
	case TERN_ETOOLARGE:
		return AUTH_JWT_FETCH_TOO_LARGE;
	case TERN_EMALFORMED:
		return AUTH_JWT_FETCH_MALFORMED;
	default:
		return AUTH_JWT_FETCH_ERROR;
	}
}

/* One GET of jwks_url, parsed and swapped in. Thread pool. */
static int auth_jwt_url_fetch(struct auth_jwt *j, char *err, size_t errlen)
{
	const struct tern_config *cfg = j->cfg;
	struct jwks_fetch_opts o = {
		.url = cfg->jwks_url,
		.ca_file = cfg->jwks_ca_file,
		.timeout_ms = cfg->jwks_timeout_ms,
		.max = JWT_JWKS_MAX, /* longer cannot be parsed anyway */
	};
	struct jwt_keys *ks = NULL;
	char *body = NULL;
	size_t len, n = 0;
	int rc;

	rc = jwks_fetch(&o, &body, &len, err, errlen);
	if (!rc) {
		ks = jwt_keys_new();
		rc = ks ? jwt_keys_add_jwks(ks, body, len, cfg->jwks_url, err,
					    errlen)
			: TERN_ENOMEM;
		if (rc && rc != TERN_ENOMEM)
			rc = TERN_EMALFORMED;
		free(body);
	}
	if (!rc) {
		n = jwt_keys_count(ks);
		rc = auth_jwt_replace(j, &j->url, ks, err, errlen);
	}
	if (rc)
		jwt_keys_free(ks);
	else
		atomic_store(&j->u->n_keys, (unsigned)n);
	atomic_fetch_add(&j->u->results[auth_jwt_result_of(rc)], 1);
	return rc;
}

/* The shortest time between fetches asked for by unknown kids. */
static uint64_t auth_jwt_kid_gap_ns(const struct tern_config *cfg)
{
	uint64_t s = cfg->jwks_refresh < AUTH_JWT_KID_REFRESH_S
			     ? cfg->jwks_refresh
			     : AUTH_JWT_KID_REFRESH_S;

	return s * 1000000000ull;
}

/*
 * Fetches jwks_url unless a fetch is running (then waits for its end) or,
 * for an unknown kid (on_kid), one was made for an unknown kid less than
 * auth_jwt_kid_gap_ns ago (then returns the last result). Returns the
 * result: 0 or a tern_err. Thread pool: blocks up to jwks_timeout_ms.
 */
static int auth_jwt_url_refresh(struct auth_jwt *j, bool on_kid)
{
	struct auth_jwt_url *u = j->u;
	uint64_t now = uv_hrtime(), gen;
	char err[512] = "";
	int rc;

	uv_mutex_lock(&u->lock);
	if (u->fetching) {
		uint64_t wait = (j->cfg->jwks_timeout_ms + 1000ull) * 1000000;

		gen = u->gen;
		while (u->gen == gen && uv_hrtime() - now < wait)
			(void)uv_cond_timedwait(&u->ended, &u->lock,
						wait - (uv_hrtime() - now));
		rc = u->gen == gen ? TERN_EIO : u->last_rc;
		uv_mutex_unlock(&u->lock);
		return rc;
	}
	if (on_kid && u->last_kid_ns &&
	    now - u->last_kid_ns < auth_jwt_kid_gap_ns(j->cfg)) {
		rc = u->last_rc < 0 ? TERN_EIO : u->last_rc;
		uv_mutex_unlock(&u->lock);
		return rc;
	}
	u->fetching = true;
	if (on_kid)
		u->last_kid_ns = now;
	uv_mutex_unlock(&u->lock);

	rc = auth_jwt_url_fetch(j, err, sizeof(err));

	uv_mutex_lock(&u->lock);
	/* logged once per streak of failures, and when it ends */
	if (rc && u->fails++ == 0)
		log_warn("JWKS: fetch failed: %s; keeping the previous keys "
			 "(%u from the URL), retrying",
			 err, atomic_load(&u->n_keys));
	else if (rc)
		log_debug("JWKS: fetch failed again: %s", err);
	else if (u->fails || u->last_rc < 0)
		log_info("JWKS: %u key(s) from %s", atomic_load(&u->n_keys),
			 j->cfg->jwks_url);
	else
		log_debug("JWKS: %u key(s) from %s", atomic_load(&u->n_keys),
			  j->cfg->jwks_url);
	if (!rc)
		u->fails = 0;
	u->fetching = false;
	u->gen++;
	u->last_rc = rc;
	uv_cond_broadcast(&u->ended);
	uv_mutex_unlock(&u->lock);
	return rc;
}

static void auth_jwt_url_queue(struct auth_jwt *j);

static void auth_jwt_url_on_timer(uv_timer_t *t)
{
	auth_jwt_url_queue(t->data);
}

static void auth_jwt_url_on_work(uv_work_t *req)
{
	struct auth_jwt *j = req->data;

	j->u->work_rc = auth_jwt_url_refresh(j, false);
}

static void auth_jwt_url_on_after_work(uv_work_t *req, int status)
{
	struct auth_jwt *j = req->data;
	struct auth_jwt_url *u = j->u;
	uint64_t delay = (uint64_t)j->cfg->jwks_refresh * 1000;

	u->work_busy = false;
	if (u->stopping)
		return;
	if (status || u->work_rc) {
		/* retry sooner: 1, 2, 4 ... s, at most jwks_refresh */
		uint64_t back = 1000ull << (u->ctl_fails < 10 ? u->ctl_fails
							      : 10);

		u->ctl_fails++;
		if (back < delay)
			delay = back;
	} else {
		u->ctl_fails = 0;
	}
	uv_timer_start(u->timer, auth_jwt_url_on_timer, delay, 0);
}

/* Queues a periodic fetch in the control loop's thread pool. */
static void auth_jwt_url_queue(struct auth_jwt *j)
{
	struct auth_jwt_url *u = j->u;

	if (u->work_busy || u->stopping)
		return;
	u->work.data = j;
	if (uv_queue_work(u->loop, &u->work, auth_jwt_url_on_work,
			  auth_jwt_url_on_after_work)) {
		uv_timer_start(u->timer, auth_jwt_url_on_timer, 1000, 0);
		return;
	}
	u->work_busy = true;
}

static void auth_jwt_url_on_timer_closed(uv_handle_t *h)
{
	free(h);
}

/* Sets up j->u and queues the first fetch on the control loop. */
static int auth_jwt_url_setup(struct tern_node *n, struct auth_jwt *j,
			      char *err, size_t errlen)
{
	struct auth_jwt_url *u = calloc(1, sizeof(*u));

	if (!u || !(u->timer = calloc(1, sizeof(*u->timer)))) {
		free(u);
		snprintf(err, errlen, "jwks_url: out of memory");
		return TERN_ENOMEM;
	}
	if (uv_mutex_init(&u->lock)) {
		free(u->timer);
		free(u);
		snprintf(err, errlen, "jwks_url: out of memory");
		return TERN_ENOMEM;
	}
	if (uv_cond_init(&u->ended)) {
		uv_mutex_destroy(&u->lock);
		free(u->timer);
		free(u);
		snprintf(err, errlen, "jwks_url: out of memory");
		return TERN_ENOMEM;
	}
	u->last_rc = -1;
	u->loop = n->ctl_loop;
	uv_timer_init(u->loop, u->timer);
	u->timer->data = j;
	j->u = u;
	auth_jwt_url_queue(j);
	return 0;
}

static void auth_jwt_url_teardown(struct auth_jwt *j)
{
	struct auth_jwt_url *u = j->u;

	u->stopping = true;
	uv_timer_stop(u->timer);
	uv_close((uv_handle_t *)u->timer, auth_jwt_url_on_timer_closed);
	/* a fetch in the thread pool reads j: let it end (bounded by
	 * jwks_timeout_ms) */
	for (int i = 0; u->work_busy && i < 1000; i++)
		uv_run(u->loop, UV_RUN_ONCE);
	/* the workers stopped: no CONNECT is held any more */
	while (u->waits) {
		struct auth_jwt_wait *w = u->waits;

		u->waits = w->next;
		free(w);
	}
	uv_cond_destroy(&u->ended);
	uv_mutex_destroy(&u->lock);
	free(u);
	j->u = NULL;
}

void auth_jwt_url_stats(const struct tern_node *n,
			struct auth_jwt_url_stats *out)
{
	const struct auth_jwt *j = n->jwt;

	memset(out, 0, sizeof(*out));
	if (!j || !j->u)
		return;
	out->on = true;
	out->keys = atomic_load(&j->u->n_keys);
	for (int i = 0; i < AUTH_JWT_FETCH_RESULTS; i++)
		out->results[i] = atomic_load(&j->u->results[i]);
}

const char *auth_jwt_fetch_result_name(enum auth_jwt_fetch_result r)
{
	return r < AUTH_JWT_FETCH_RESULTS ? auth_jwt_result_names[r] : "?";
}

/* ---- setup ------------------------------------------------------------ */

int auth_jwt_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct jwt_keys *files;
	struct auth_jwt *j;
	int rc;

	n->jwt = NULL;
	if (!config_jwt_on(cfg))
		return 0;
	if (cfg->jwks_url[0] && !jwks_fetch_url_ok(cfg->jwks_url)) {
		snprintf(err, errlen,
			 "jwks_url \"%s\": not an http:// or https:// URL",
			 cfg->jwks_url);
		return TERN_ECONFIG;
	}
	rc = auth_jwt_load(cfg, &files, err, errlen);
	if (rc)
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j || uv_mutex_init(&j->lock)) {
		free(j);
		jwt_keys_free(files);
		snprintf(err, errlen, "JWT: out of memory");
		return TERN_ENOMEM;
	}
	if (uv_mutex_init(&j->build)) {
		uv_mutex_destroy(&j->lock);
		free(j);
		jwt_keys_free(files);
		snprintf(err, errlen, "JWT: out of memory");
		return TERN_ENOMEM;
	}
	j->cfg = cfg;
	j->files = files;
	rc = auth_jwt_rebuild(j, err, errlen);
	if (rc) {
		uv_mutex_destroy(&j->build);
		uv_mutex_destroy(&j->lock);
		jwt_keys_free(files);
		free(j);
		return rc;
	}
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
	if (cfg->jwks_url[0]) {
		rc = auth_jwt_url_setup(n, j, err, errlen);
		if (rc) {
			auth_jwt_teardown(n);
			return rc;
		}
	}
	log_info("JWT: %zu key(s)%s%s%s%s%s%s", jwt_keys_count(files),
		 j->ex.issuer ? ", issuer " : "",
		 j->ex.issuer ? j->ex.issuer : "",
		 j->ex.audience ? ", audience " : "",
		 j->ex.audience ? j->ex.audience : "",
		 j->u ? ", and those of " : "", j->u ? cfg->jwks_url : "");
	return 0;
}

int auth_jwt_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct auth_jwt *j = n->jwt;
	struct jwt_keys *files;
	size_t count;
	int rc;

	if (!j)
		return 0;
	rc = auth_jwt_load(&n->cfg, &files, err, errlen);
	if (rc)
		return rc;
	count = jwt_keys_count(files);
	rc = auth_jwt_replace(j, &j->files, files, err, errlen);
	if (rc) {
		jwt_keys_free(files);
		return rc;
	}
	log_info("JWT: keys reloaded: %zu key(s) from files", count);
	return 0;
}

int auth_jwt_set_oauth_keys(struct tern_node *n, const struct jwt_keys *ks)
{
	struct auth_jwt *j = n->jwt;
	struct jwt_keys *copy;
	char err[128];
	int rc;

	if (!j)
		return 0;
	copy = jwt_keys_new();
	if (!copy)
		return TERN_ENOMEM;
	rc = ks ? jwt_keys_add_keys(copy, ks) : 0;
	if (!rc)
		rc = auth_jwt_replace(j, &j->oauth, copy, err, sizeof(err));
	if (rc) {
		jwt_keys_free(copy);
		log_error("JWT: cannot trust the token endpoint's keys: %s",
			  tern_strerror(rc));
	}
	return rc;
}

void auth_jwt_teardown(struct tern_node *n)
{
	struct auth_jwt *j = n->jwt;

	if (!j)
		return;
	if (j->u)
		auth_jwt_url_teardown(j);
	auth_jwt_set_unref(j->set);
	jwt_keys_free(j->files);
	jwt_keys_free(j->oauth);
	jwt_keys_free(j->url);
	uv_mutex_destroy(&j->build);
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

	if (cl->roles_truncated && acl_enforced(c->w->node))
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

/* ---- CONNECTs held for a fetch (worker thread) ---------------------- */

static void auth_jwt_wait_unlink(struct auth_jwt_url *u,
				 struct auth_jwt_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		u->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	u->n_waits--;
	atomic_store(&u->any_waits, u->n_waits);
}

/* c's wait, if c is held or was (NULL otherwise); unlinked when take. */
static struct auth_jwt_wait *auth_jwt_wait_find(struct auth_jwt *j,
						const struct conn *c,
						bool take)
{
	struct auth_jwt_url *u = j ? j->u : NULL;
	struct auth_jwt_wait *w;

	if (!u || !atomic_load(&u->any_waits))
		return NULL;
	uv_mutex_lock(&u->lock);
	for (w = u->waits; w && w->c != c; w = w->next)
		;
	if (w && take)
		auth_jwt_wait_unlink(u, w);
	uv_mutex_unlock(&u->lock);
	return w;
}

static void auth_jwt_wait_on_work(uv_work_t *req)
{
	struct auth_jwt_wait *w = req->data;

	w->rc = auth_jwt_url_refresh(w->j, true);
}

/* The leader's fetch ended: it and the worker's followers are done;
 * their CONNECTs are handled again one by one (each takes and frees its
 * wait), the waits of clients that went away are freed. */
static void auth_jwt_wait_on_after_work(uv_work_t *req, int status)
{
	struct auth_jwt_wait *lead = req->data, *w, *next;
	struct auth_jwt_url *u = lead->j->u;
	struct worker *wk = lead->wk;
	int rc = status ? TERN_EIO : lead->rc;

	uv_mutex_lock(&u->lock);
	for (w = u->waits; w; w = next) {
		next = w->next;
		if (w->wk != wk || w->done || (w != lead && w->leader))
			continue;
		w->done = true;
		w->rc = rc;
		if (!w->c) {
			auth_jwt_wait_unlink(u, w);
			free(w);
		}
	}
	for (;;) {
		struct conn *c = NULL;

		for (w = u->waits; w && !c; w = w->next)
			if (w->wk == wk && w->done && w->c && !w->released) {
				w->released = true;
				c = w->c;
			}
		uv_mutex_unlock(&u->lock);
		if (!c)
			return;
		conn_release(c); /* may take (and free) its wait */
		uv_mutex_lock(&u->lock);
	}
}

void auth_jwt_conn_gone(struct conn *c)
{
	struct auth_jwt *j = c->w->node->jwt;
	struct auth_jwt_wait *w;

	if (!j || !j->u || !atomic_load(&j->u->any_waits))
		return;
	uv_mutex_lock(&j->u->lock);
	for (w = j->u->waits; w && w->c != c; w = w->next)
		;
	if (w && w->done) {
		auth_jwt_wait_unlink(j->u, w);
		free(w);
	} else if (w) {
		w->c = NULL; /* freed by its after-work callback */
	}
	uv_mutex_unlock(&j->u->lock);
}

/* Is the token's kid in no key of the set (a fetch may find it)? */
static bool auth_jwt_kid_unknown(struct auth_jwt *j, const uint8_t *token,
				 size_t len)
{
	char kid[JWT_KID_MAX + 1];
	struct auth_jwt_set *s;
	bool unknown;

	if (jwt_token_kid((const char *)token, len, kid, sizeof(kid)) != 1)
		return false;
	s = auth_jwt_current(j);
	unknown = jwt_keys_find(s->ks, kid) == NULL;
	auth_jwt_set_unref(s);
	return unknown;
}

/* The verdict on an unknown kid once the key set could not be refreshed
 * (rc != 0: 0x88, the IdP is down) or was and still lacks it. */
static enum auth_verdict auth_jwt_after_fetch(struct conn *c, int rc,
					      const char *why)
{
	if (rc) {
		log_warn("%s: JWT: unknown kid and the JWK set could not be "
			 "fetched (%s)",
			 c->peer, tern_strerror(rc));
		return AUTH_UNAVAILABLE;
	}
	log_info("%s: JWT refused: %s (after a refresh of the JWK set)",
		 c->peer, why);
	return AUTH_BAD_CREDENTIALS;
}

/* Holds c while jwks_url is fetched (its token's kid is unknown), unless
 * an unknown kid caused a fetch moments ago: then decides at once. */
static enum auth_verdict auth_jwt_hold(struct conn *c, struct auth_jwt *j,
				       const char *why)
{
	struct auth_jwt_url *u = j->u;
	struct auth_jwt_wait *w;
	int rc;

	uv_mutex_lock(&u->lock);
	if (!u->fetching && u->last_kid_ns &&
	    uv_hrtime() - u->last_kid_ns < auth_jwt_kid_gap_ns(j->cfg)) {
		rc = u->last_rc < 0 ? TERN_EIO : u->last_rc;
		uv_mutex_unlock(&u->lock);
		return auth_jwt_after_fetch(c, rc, why);
	}
	if (u->n_waits >= AUTH_JWT_WAITS_MAX) {
		uv_mutex_unlock(&u->lock);
		log_warn("%s: JWT: unknown kid and %d CONNECTs already wait "
			 "for the JWK set",
			 c->peer, AUTH_JWT_WAITS_MAX);
		return AUTH_UNAVAILABLE;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		uv_mutex_unlock(&u->lock);
		return AUTH_UNAVAILABLE;
	}
	w->req.data = w;
	w->j = j;
	w->c = c;
	w->wk = c->w;
	w->leader = true;
	for (struct auth_jwt_wait *o = u->waits; o; o = o->next)
		if (o->wk == c->w && o->leader && !o->done)
			w->leader = false; /* follows the running one */
	w->next = u->waits;
	if (u->waits)
		u->waits->prev = w;
	u->waits = w;
	u->n_waits++;
	atomic_store(&u->any_waits, u->n_waits);
	/* queued under the lock: no follower can attach to a leader whose
	 * work failed to queue */
	if (w->leader && uv_queue_work(&c->w->loop, &w->req,
				       auth_jwt_wait_on_work,
				       auth_jwt_wait_on_after_work)) {
		auth_jwt_wait_unlink(u, w);
		uv_mutex_unlock(&u->lock);
		free(w);
		return AUTH_UNAVAILABLE;
	}
	uv_mutex_unlock(&u->lock);
	log_debug("%s: JWT: unknown kid, %s the JWK set", c->peer,
		  w->leader ? "fetching" : "waiting for");
	conn_hold(c);
	return AUTH_PENDING;
}

enum auth_verdict auth_jwt_connect(struct conn *c,
				   const struct mqtt_connect *p,
				   const uint8_t *token, size_t len,
				   const char *id, size_t id_len)
{
	struct auth_jwt *j = c->w->node->jwt;
	/* set: the second pass, after a fetch this CONNECT waited for */
	struct auth_jwt_wait *w = auth_jwt_wait_find(j, c, true);
	struct jwt_claims cl;
	const char *why = "?";
	enum jwt_result r = auth_jwt_verify(c, token, len, &cl, &why);
	bool again = w != NULL;
	int rc = w ? w->rc : 0;

	free(w);
	if (r != JWT_OK && j->u && auth_jwt_kid_unknown(j, token, len))
		return again ? auth_jwt_after_fetch(c, rc, why)
			     : auth_jwt_hold(c, j, why);
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
	struct auth_jwt *j = c->w->node->jwt;
	/* set: handled again after a fetch of the JWK set this AUTH waited
	 * for (its token's kid was unknown) */
	struct auth_jwt_wait *w = auth_jwt_wait_find(j, c, true);
	bool again = w != NULL;
	int rc = w ? w->rc : 0;
	struct jwt_claims cl;
	const char *why = "?";
	enum jwt_result r;

	free(w);
	/* [MQTT-4.12.1-1]: re-authentication keeps the CONNECT's method */
	if (reason != MQTT_RC_REAUTHENTICATE || !method ||
	    mlen != strlen(AUTH_JWT_METHOD) ||
	    memcmp(method, AUTH_JWT_METHOD, mlen) != 0) {
		handle_close(c, MQTT_RC_PROTOCOL_ERROR,
			       "AUTH must re-authenticate with method JWT");
		return;
	}
	r = auth_jwt_verify(c, data, dlen, &cl, &why);
	if (r != JWT_OK && j->u && auth_jwt_kid_unknown(j, data, dlen)) {
		/* a key the IdP rotated in: wait for the set, as a CONNECT
		 * does (the AUTH is handled again when it is here) */
		if (!again && auth_jwt_hold(c, j, why) == AUTH_PENDING)
			return;
		if (again && rc)
			why = "the JWK set could not be fetched";
	}
	if (r == JWT_OK && c->auth_name && strcmp(cl.username, c->auth_name))
		why = "a token for another user";
	else if (r == JWT_OK && cl.roles_truncated && acl_enforced(c->w->node))
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
