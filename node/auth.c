/*
 * auth.c - password file authentication (see auth.h).
 *
 * Threads: the table pointer and the cache are read by every worker and the
 * thread pool and replaced by the control thread (SIGHUP). A bare atomic
 * load of the table followed by a reference increment could race with the
 * last unref of a table just swapped out, so load+ref and the swap hold one
 * mutex (as tls.c does for its SSL_CTX). The cache has its own mutex; its
 * entries carry the table generation, so a reload invalidates them all.
 */
#include "auth.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth_jwt.h"
#include "auth_ldap.h"
#include "auth_limit.h"
#include "auth_scram.h"
#include "conn.h"
#include "log.h"
#include "mqtt.h"
#include "scram.h"
#include "tern_err.h"

#define AUTH_LINE_MAX 1024
#define AUTH_CACHE_SLOTS 1024
#define AUTH_CACHE_TTL_MS (5u * 60u * 1000u)

struct auth_user {
	char *name;
	size_t len;
	struct auth_hash h;
};

struct auth_table {
	atomic_uint refs;
	uint64_t gen;
	size_t n;
	struct auth_user *users; /* sorted by (len, name) */
};

struct auth_cache_entry {
	uint8_t key[32]; /* SHA-256(len(user) || user || password) */
	uint64_t gen;
	uint64_t expires; /* uv_hrtime() ms */
};

struct auth {
	uv_mutex_t lock; /* guards table and store */
	struct auth_table *table; /* password_file (empty without one) */
	/* the user store's users (users.h), asked after the file; NULL
	 * until users.c sets them */
	struct auth_table *store;
	_Atomic size_t store_n; /* users in store, read without the lock */
	bool file;              /* password_file is set */
	uint64_t next_gen;
	struct auth_hash dummy; /* verified for unknown users (timing) */
	uint8_t secret[32];     /* auth_secret */
	uv_mutex_t cache_lock;
	struct auth_cache_entry cache[AUTH_CACHE_SLOTS];
};

struct auth_job {
	uv_work_t req;
	struct conn *c; /* NULL: closed meanwhile */
	struct auth *a;
	struct auth_table *t; /* reference */
	const struct auth_hash *h; /* in t; NULL: unknown user */
	bool store; /* t is the user store's table */
	uint8_t key[32];
	bool ok;
	/* a wrong password takes a token from these failure buckets
	 * (auth_limit.h), even when the client left meanwhile */
	struct auth_limit *lim;
	struct auth_limit_key lim_keys[2];
	unsigned n_lim_keys;
	size_t pw_len;
	uint8_t pw[];
};

/* ---- hashes ---------------------------------------------------------- */

/* Decodes standard base64 s[0..len) into out; returns bytes or -1. */
static int auth_b64_decode(const char *s, size_t len, uint8_t *out,
			   size_t cap)
{
	uint8_t tmp[128];
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';

		if (ch == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (!ok || pad)
			return -1;
	}
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > cap)
		return -1;
	n -= (int)pad;
	memcpy(out, tmp, (size_t)n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return n;
}

int auth_hash_parse(const char *s, size_t len, struct auth_hash *h,
		    const char **why)
{
	const size_t plen = sizeof(AUTH_HASH_PREFIX) - 1;
	const char *p, *end = s + len, *d1, *d2;
	uint64_t iter = 0;
	int n;

	memset(h, 0, sizeof(*h));
	if (len >= sizeof(SCRAM_PREFIX) - 1 &&
	    memcmp(s, SCRAM_PREFIX, sizeof(SCRAM_PREFIX) - 1) == 0) {
		struct scram_verifier v;

		if (scram_verifier_parse(s, len, &v, why))
			return TERN_EINVAL;
		h->kind = AUTH_HASH_SCRAM_SHA256;
		h->iterations = v.iterations;
		memcpy(h->salt, v.salt, v.salt_len);
		h->salt_len = v.salt_len;
		memcpy(h->hash, v.stored_key, SCRAM_KEY_LEN);
		memcpy(h->hash + SCRAM_KEY_LEN, v.server_key, SCRAM_KEY_LEN);
		h->hash_len = 2 * SCRAM_KEY_LEN;
		OPENSSL_cleanse(&v, sizeof(v));
		return 0;
	}
	if (len < plen || memcmp(s, AUTH_HASH_PREFIX, plen)) {
		*why = "hash does not start with " AUTH_HASH_PREFIX;
		return TERN_EINVAL;
	}
	p = s + plen;
	d1 = memchr(p, '$', (size_t)(end - p));
	d2 = d1 ? memchr(d1 + 1, '$', (size_t)(end - d1 - 1)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '$', (size_t)(end - d2 - 1))) {
		*why = "hash is not $pbkdf2-sha512$ITER$SALT$HASH";
		return TERN_EINVAL;
	}
	if (p == d1 || d1 - p > 9) {
		*why = "bad iteration count";
		return TERN_EINVAL;
	}
	for (const char *q = p; q < d1; q++) {
		if (*q < '0' || *q > '9') {
			*why = "bad iteration count";
			return TERN_EINVAL;
		}
		iter = iter * 10 + (uint64_t)(*q - '0');
	}
	if (iter < AUTH_MIN_ITERATIONS || iter > AUTH_MAX_ITERATIONS) {
		*why = "iteration count out of range (100000..10000000)";
		return TERN_EINVAL;
	}
	h->iterations = (uint32_t)iter;
	n = auth_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), h->salt,
			    sizeof(h->salt));
	if (n < 8) {
		*why = "bad salt (base64 of 8..64 bytes)";
		return TERN_EINVAL;
	}
	h->salt_len = (size_t)n;
	n = auth_b64_decode(d2 + 1, (size_t)(end - d2 - 1), h->hash,
			    sizeof(h->hash));
	if (n < 16) {
		*why = "bad hash (base64 of 16..64 bytes)";
		return TERN_EINVAL;
	}
	h->hash_len = (size_t)n;
	return 0;
}

int auth_hash_make(const uint8_t *pw, size_t pw_len, uint32_t iterations,
		   char *out, size_t cap)
{
	uint8_t salt[AUTH_SALT_LEN], hash[AUTH_HASH_MAX];
	char salt64[32], hash64[96];
	int n, rc = 0;

	if (iterations < AUTH_MIN_ITERATIONS ||
	    iterations > AUTH_MAX_ITERATIONS || pw_len > INT32_MAX)
		return TERN_EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_len, salt,
			      sizeof(salt), (int)iterations, EVP_sha512(),
			      sizeof(hash), hash) != 1)
		return TERN_EIO;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)hash64, hash, sizeof(hash));
	n = snprintf(out, cap, AUTH_HASH_PREFIX "%u$%s$%s", iterations, salt64,
		     hash64);
	if (n < 0 || (size_t)n >= cap)
		rc = TERN_EINVAL;
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

/* The SCRAM verifier held in h (kind AUTH_HASH_SCRAM_SHA256). */
void auth_hash_scram(const struct auth_hash *h, struct scram_verifier *v)
{
	memset(v, 0, sizeof(*v));
	v->iterations = h->iterations;
	memcpy(v->salt, h->salt, h->salt_len);
	v->salt_len = h->salt_len;
	memcpy(v->stored_key, h->hash, SCRAM_KEY_LEN);
	memcpy(v->server_key, h->hash + SCRAM_KEY_LEN, SCRAM_KEY_LEN);
}

bool auth_hash_verify(const struct auth_hash *h, const uint8_t *pw,
		      size_t pw_len)
{
	uint8_t got[AUTH_HASH_MAX];
	bool ok;

	if (pw_len > INT32_MAX || h->hash_len == 0 ||
	    h->hash_len > sizeof(got))
		return false;
	if (h->kind == AUTH_HASH_SCRAM_SHA256) {
		struct scram_verifier v;

		auth_hash_scram(h, &v);
		ok = scram_verifier_check_password(&v, pw, pw_len);
		OPENSSL_cleanse(&v, sizeof(v));
		return ok;
	}
	if (PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_len, h->salt,
			      (int)h->salt_len, (int)h->iterations,
			      EVP_sha512(), (int)h->hash_len, got) != 1)
		return false;
	ok = CRYPTO_memcmp(got, h->hash, h->hash_len) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* ---- the table ------------------------------------------------------- */

static int auth_user_cmp(const void *a, const void *b)
{
	const struct auth_user *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

static void auth_table_free(struct auth_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->users[i].name);
	if (t->users)
		OPENSSL_cleanse(t->users, t->n * sizeof(*t->users));
	free(t->users);
	free(t);
}

struct auth_table *auth_table_ref(struct auth_table *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void auth_table_unref(struct auth_table *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		auth_table_free(t);
}

size_t auth_table_size(const struct auth_table *t)
{
	return t->n;
}

const struct auth_hash *auth_table_find(const struct auth_table *t,
					const char *user, size_t len)
{
	struct auth_user key = {.name = (char *)user, .len = len};
	const struct auth_user *u;

	if (!t->n)
		return NULL;
	u = bsearch(&key, t->users, t->n, sizeof(*t->users), auth_user_cmp);
	return u ? &u->h : NULL;
}

static int auth_table_add(struct auth_table *t, size_t *cap, const char *name,
			  size_t len, const struct auth_hash *h)
{
	if (t->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct auth_user *u = realloc(t->users, ncap * sizeof(*u));

		if (!u)
			return TERN_ENOMEM;
		t->users = u;
		*cap = ncap;
	}
	t->users[t->n].name = malloc(len + 1);
	if (!t->users[t->n].name)
		return TERN_ENOMEM;
	memcpy(t->users[t->n].name, name, len);
	t->users[t->n].name[len] = 0;
	t->users[t->n].len = len;
	t->users[t->n].h = *h;
	t->n++;
	return 0;
}

struct auth_table *auth_table_new(void)
{
	struct auth_table *t = calloc(1, sizeof(*t));

	if (t)
		atomic_init(&t->refs, 1);
	return t;
}

int auth_table_put(struct auth_table *t, size_t *cap, const char *name,
		   size_t len, const char *hash, size_t hash_len,
		   const char **why)
{
	struct auth_hash h;
	int rc;

	if (auth_hash_parse(hash, hash_len, &h, why))
		return TERN_EINVAL;
	rc = auth_table_add(t, cap, name, len, &h);
	OPENSSL_cleanse(&h, sizeof(h));
	return rc;
}

void auth_table_seal(struct auth_table *t)
{
	if (t->n > 1)
		qsort(t->users, t->n, sizeof(*t->users), auth_user_cmp);
}

int auth_table_load(const char *path, struct auth_table **out, char *err,
		    size_t errlen)
{
	char line[AUTH_LINE_MAX + 2];
	struct auth_table *t;
	unsigned lineno = 0;
	size_t cap = 0;
	FILE *f;
	int rc = 0;

	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "password_file %s: %s", path,
			 strerror(errno));
		return TERN_ECONFIG;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		fclose(f);
		return TERN_ENOMEM;
	}
	atomic_init(&t->refs, 1);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		struct auth_hash h;
		const char *why = NULL, *colon;

		lineno++;
		if (len > AUTH_LINE_MAX) {
			why = "line too long";
			goto bad_line;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (len == 0 || line[0] == '#')
			continue;
		colon = memchr(line, ':', len);
		if (!colon || colon == line) {
			why = "expected username:$pbkdf2-sha512$...";
			goto bad_line;
		}
		if (auth_hash_parse(colon + 1, len - (size_t)(colon + 1 - line),
				    &h, &why))
			goto bad_line;
		if (auth_table_find(t, line, (size_t)(colon - line))) {
			why = "duplicate user";
			goto bad_line;
		}
		rc = auth_table_add(t, &cap, line, (size_t)(colon - line), &h);
		OPENSSL_cleanse(&h, sizeof(h));
		if (rc)
			goto err;
		/* kept sorted as we go: files are small, loads are rare */
		qsort(t->users, t->n, sizeof(*t->users), auth_user_cmp);
		continue;
bad_line:
		snprintf(err, errlen, "password_file %s:%u: %s", path, lineno,
			 why);
		rc = TERN_ECONFIG;
		goto err;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "password_file %s: read error", path);
		rc = TERN_ECONFIG;
		goto err;
	}
	fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	*out = t;
	return 0;
err:
	fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	auth_table_free(t);
	return rc;
}

/* ---- the node's state ---------------------------------------------- */

static struct auth_table *auth_current(struct auth *a)
{
	struct auth_table *t;

	uv_mutex_lock(&a->lock);
	t = auth_table_ref(a->table);
	uv_mutex_unlock(&a->lock);
	return t;
}

/* The user store's table (a reference), or NULL. */
static struct auth_table *auth_current_store(struct auth *a)
{
	struct auth_table *t;

	uv_mutex_lock(&a->lock);
	t = a->store ? auth_table_ref(a->store) : NULL;
	uv_mutex_unlock(&a->lock);
	return t;
}

/* Does a username+password CONNECT meet a password provider? */
static bool auth_passwords(struct auth *a)
{
	return a && (a->file || atomic_load(&a->store_n) > 0);
}

void auth_store_set(struct tern_node *n, struct auth_table *t)
{
	struct auth *a = n->auth;
	struct auth_table *old;

	if (!a) {
		auth_table_unref(t);
		return;
	}
	uv_mutex_lock(&a->lock);
	/* a new generation: cached verifications of the old one are void */
	t->gen = ++a->next_gen;
	old = a->store;
	a->store = t;
	atomic_store(&a->store_n, t->n);
	uv_mutex_unlock(&a->lock);
	auth_table_unref(old);
}

static void auth_warn_plaintext(const struct tern_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_listeners; i++) {
		const struct tern_listener_cfg *l = &cfg->listeners[i];

		if (!l->loopback && (l->scheme == TERN_SCHEME_MQTT ||
				     l->scheme == TERN_SCHEME_WS))
			log_warn("listener %s is not on loopback and not TLS: "
				 "passwords cross the network in clear "
				 "(use mqtts:// or wss://)",
				 l->url);
	}
}

int auth_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct auth_table *t;
	struct auth *a;
	uint8_t pw[16];
	int rc;

	n->auth = NULL;
	/* with a store, users may be added at run time (users.h) */
	if (!cfg->password_file[0] && !n->store)
		return 0;
	if (cfg->password_file[0]) {
		rc = auth_table_load(cfg->password_file, &t, err, errlen);
		if (rc)
			return rc;
	} else if (!(t = auth_table_new())) {
		return TERN_ENOMEM;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		auth_table_unref(t);
		return TERN_ENOMEM;
	}
	if (uv_mutex_init(&a->lock)) {
		free(a);
		auth_table_unref(t);
		snprintf(err, errlen, "cannot create a mutex");
		return TERN_ENOMEM;
	}
	if (uv_mutex_init(&a->cache_lock)) {
		uv_mutex_destroy(&a->lock);
		free(a);
		auth_table_unref(t);
		snprintf(err, errlen, "cannot create a mutex");
		return TERN_ENOMEM;
	}
	/* a user that does not exist costs what a wrong password costs */
	a->dummy.iterations = AUTH_MIN_ITERATIONS;
	a->dummy.salt_len = AUTH_SALT_LEN;
	a->dummy.hash_len = AUTH_HASH_MAX;
	if (RAND_bytes(a->dummy.salt, AUTH_SALT_LEN) != 1 ||
	    RAND_bytes(pw, sizeof(pw)) != 1 ||
	    RAND_bytes(a->secret, sizeof(a->secret)) != 1)
		memset(pw, 0x5a, sizeof(pw));
	memcpy(a->dummy.hash, pw, sizeof(pw));
	t->gen = ++a->next_gen;
	a->table = t;
	a->file = cfg->password_file[0] != '\0';
	n->auth = a;
	if (a->file)
		log_info("password_file %s: %zu user(s)", cfg->password_file,
			 t->n);
	if (a->file)
		auth_warn_plaintext(cfg);
	return 0;
}

int auth_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct auth *a = n->auth;
	struct auth_table *t, *old;
	int rc;

	if (!a || !a->file)
		return 0;
	rc = auth_table_load(n->cfg.password_file, &t, err, errlen);
	if (rc)
		return rc;
	uv_mutex_lock(&a->lock);
	t->gen = ++a->next_gen;
	old = a->table;
	a->table = t;
	uv_mutex_unlock(&a->lock);
	auth_table_unref(old);
	log_info("password_file %s reloaded: %zu user(s)",
		 n->cfg.password_file, t->n);
	return 0;
}

int auth_lookup(struct tern_node *n, const char *user, size_t len,
		struct auth_hash *out, bool *from_store)
{
	const struct auth_hash *h;
	struct auth_table *t;

	if (from_store)
		*from_store = false;
	if (!n->auth)
		return TERN_ENOTFOUND;
	t = auth_current(n->auth);
	h = auth_table_find(t, user, len);
	if (!h) {
		if (from_store)
			*from_store = true;
		/* then the user store (users.h) */
		auth_table_unref(t);
		t = auth_current_store(n->auth);
		h = t ? auth_table_find(t, user, len) : NULL;
	}
	if (h)
		*out = *h;
	auth_table_unref(t);
	return h ? 0 : TERN_ENOTFOUND;
}

bool auth_has_passwords(const struct tern_node *n)
{
	return auth_passwords(n->auth);
}

const uint8_t *auth_secret(const struct tern_node *n)
{
	return n->auth ? n->auth->secret : NULL;
}

void auth_teardown(struct tern_node *n)
{
	struct auth *a = n->auth;

	if (!a)
		return;
	auth_table_unref(a->table);
	auth_table_unref(a->store);
	uv_mutex_destroy(&a->lock);
	uv_mutex_destroy(&a->cache_lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	n->auth = NULL;
}

/* ---- the cache ------------------------------------------------------- */

static uint64_t auth_now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static int auth_cache_key(const struct mqtt_connect *p, uint8_t key[32])
{
	uint8_t len[4] = {(uint8_t)(p->username.len >> 24),
			  (uint8_t)(p->username.len >> 16),
			  (uint8_t)(p->username.len >> 8),
			  (uint8_t)p->username.len};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (!md)
		return TERN_ENOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, len, sizeof(len)) == 1 &&
	     EVP_DigestUpdate(md, p->username.p, p->username.len) == 1 &&
	     EVP_DigestUpdate(md, p->password.p, p->password.len) == 1 &&
	     EVP_DigestFinal_ex(md, key, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : TERN_EIO;
}

static struct auth_cache_entry *auth_cache_slot(struct auth *a,
						const uint8_t key[32])
{
	return &a->cache[((size_t)key[0] | (size_t)key[1] << 8) %
			 AUTH_CACHE_SLOTS];
}

static bool auth_cache_hit(struct auth *a, const uint8_t key[32],
			   uint64_t gen)
{
	struct auth_cache_entry *e = auth_cache_slot(a, key);
	bool hit;

	uv_mutex_lock(&a->cache_lock);
	hit = e->gen == gen && e->expires > auth_now_ms() &&
	      CRYPTO_memcmp(e->key, key, 32) == 0;
	uv_mutex_unlock(&a->cache_lock);
	return hit;
}

static void auth_cache_put(struct auth *a, const uint8_t key[32],
			   uint64_t gen)
{
	struct auth_cache_entry *e = auth_cache_slot(a, key);

	uv_mutex_lock(&a->cache_lock);
	memcpy(e->key, key, 32);
	e->gen = gen;
	e->expires = auth_now_ms() + AUTH_CACHE_TTL_MS;
	uv_mutex_unlock(&a->cache_lock);
}

/* ---- CONNECT --------------------------------------------------------- */

void auth_printable(const uint8_t *s, size_t len, char *out, size_t cap)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 4 < cap; i++)
		out[j++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"'
				   ? (char)s[i]
				   : '?';
	if (j + 4 >= cap && j < len) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = 0;
}

static const char *const auth_verdict_names[] = {
	[AUTH_ALLOW] = "allowed",
	[AUTH_PENDING] = "pending",
	[AUTH_BAD_CREDENTIALS] = "bad username or password",
	[AUTH_NOT_AUTHORIZED] = "anonymous not allowed",
	[AUTH_BAD_METHOD] = "unsupported authentication method",
	[AUTH_UNAVAILABLE] = "authentication server unavailable",
};

static enum auth_verdict auth_decided(struct conn *c,
				      const struct mqtt_connect *p,
				      const char *id, size_t id_len,
				      const char *provider,
				      enum auth_verdict v)
{
	struct worker_stats *st = &c->w->stats;
	char user[96], cid[96];

	if (v == AUTH_PENDING)
		return v; /* held (jwks_url fetch): decided on the next pass */
	if (v == AUTH_ALLOW && !auth_passwords(c->w->node->auth) &&
	    !c->w->node->jwt &&
	    !c->w->node->ldap && !c->auth_name)
		return v; /* no providers: as before, not logged */
	if (v == AUTH_ALLOW)
		stat_add(&st->auth_successes, 1);
	else
		stat_add(&st->auth_failures, 1);
	/* failures count towards throttling (auth_limit.h), except a thread
	 * pool verdict (c->auth_verdict set): auth_on_after_work counted it,
	 * whether or not the client waited for it */
	if ((v == AUTH_BAD_CREDENTIALS || v == AUTH_NOT_AUTHORIZED) &&
	    !c->auth_verdict)
		auth_limit_conn_failed(c, p);
	auth_printable((const uint8_t *)id, id_len, cid, sizeof(cid));
	if (c->auth_name)
		auth_printable((const uint8_t *)c->auth_name,
			       strlen(c->auth_name), user, sizeof(user));
	else if (p->has_username)
		auth_printable(p->username.p, p->username.len, user,
			       sizeof(user));
	else
		snprintf(user, sizeof(user), "-");
	log_info("%s: auth client \"%s\" user \"%s\" provider %s: %s",
		 c->peer, cid, user, provider, auth_verdict_names[v]);
	return v;
}

static void auth_on_work(uv_work_t *req)
{
	struct auth_job *j = req->data;

	/* unknown users cost the same as wrong passwords */
	j->ok = auth_hash_verify(j->h ? j->h : &j->a->dummy, j->pw, j->pw_len) &&
		j->h;
}

static void auth_on_after_work(uv_work_t *req, int status)
{
	struct auth_job *j = req->data;
	struct conn *c = j->c;
	bool stale = false;

	if (status == 0 && j->ok && j->store) {
		/* the user was changed or deleted while its password was
		 * verified against the old record: verify again */
		uv_mutex_lock(&j->a->lock);
		stale = j->a->store != j->t;
		uv_mutex_unlock(&j->a->lock);
	}
	if (status == 0 && j->ok && !stale)
		auth_cache_put(j->a, j->key, j->t->gen);
	else if (status == 0 && !j->ok)
		auth_limit_failed(j->lim, j->lim_keys, j->n_lim_keys);
	if (c) {
		c->x->auth_job = NULL;
		c->auth_verdict = stale ? 0
				  : status == 0 && j->ok ? AUTH_ALLOW
							 : AUTH_BAD_CREDENTIALS;
		if (c->auth_verdict && j->store)
			c->auth_verdict |= AUTH_VERDICT_STORE;
		conn_release(c); /* the CONNECT is handled again */
	}
	auth_table_unref(j->t);
	OPENSSL_cleanse(j->pw, j->pw_len);
	free(j);
}

/*
 * True when p's username and password are in the cache of verified ones
 * (only asked for throttled CONNECTs: a SHA-256 and two mutexes).
 */
static bool auth_cache_ok(struct auth *a, const struct mqtt_connect *p)
{
	struct auth_table *t;
	uint8_t key[32];
	bool ok = false;

	if (!a || !p->has_username || !p->has_password)
		return false;
	t = auth_current(a);
	if (!auth_table_find(t, (const char *)p->username.p,
			     p->username.len)) {
		auth_table_unref(t);
		t = auth_current_store(a);
		if (t && !auth_table_find(t, (const char *)p->username.p,
					  p->username.len)) {
			auth_table_unref(t);
			t = NULL;
		}
	}
	if (t && auth_cache_key(p, key) == 0)
		ok = auth_cache_hit(a, key, t->gen);
	auth_table_unref(t);
	return ok;
}

void auth_conn_gone(struct conn *c)
{
	if (c->auth_verdict == AUTH_THROTTLED)
		/* its delayed close is over (handle_connect.c) */
		auth_limit_delay_end(c->w->node->auth_limit);
	c->auth_verdict = 0;
	if (CONN_EXT(c, auth_job)) {
		c->x->auth_job->c = NULL;
		/* not started yet: nobody waits for it, skip the hashing
		 * (clients that connect and leave must not queue work in
		 * front of the ones that stay) */
		uv_cancel((uv_req_t *)&c->x->auth_job->req);
		c->x->auth_job = NULL;
	}
	auth_ldap_conn_gone(c);
	auth_scram_conn_gone(c);
	auth_jwt_conn_gone(c);
}

/* Queues the verification of p's password; holds c meanwhile. */
static enum auth_verdict auth_queue(struct conn *c, struct auth_table *t,
				    bool store, const struct auth_hash *h,
				    const struct mqtt_connect *p,
				    const uint8_t key[32])
{
	struct auth_job *j = calloc(1, sizeof(*j) + p->password.len);

	if (!j)
		return (enum auth_verdict)0;
	j->req.data = j;
	j->c = c;
	j->a = c->w->node->auth;
	j->t = t;
	j->store = store;
	j->h = h;
	memcpy(j->key, key, 32);
	j->pw_len = p->password.len;
	if (p->password.len)
		memcpy(j->pw, p->password.p, p->password.len);
	if (!conn_ext(c) || uv_queue_work(&c->w->loop, &j->req, auth_on_work,
					  auth_on_after_work)) {
		OPENSSL_cleanse(j->pw, j->pw_len);
		free(j);
		return (enum auth_verdict)0;
	}
	c->x->auth_job = j;
	conn_hold(c);
	j->lim = c->w->node->auth_limit;
	j->n_lim_keys = auth_limit_conn_keys(c, p, j->lim_keys);
	return AUTH_PENDING;
}

/* Is p's username in the password file or the user store (which then
 * decides, not LDAP)? */
static bool auth_in_file(struct auth *a, const struct mqtt_connect *p)
{
	struct auth_table *t;
	bool in;

	if (!a)
		return false;
	t = auth_current(a);
	in = auth_table_find(t, (const char *)p->username.p,
			     p->username.len) != NULL;
	auth_table_unref(t);
	if (!in && (t = auth_current_store(a))) {
		in = auth_table_find(t, (const char *)p->username.p,
				     p->username.len) != NULL;
		auth_table_unref(t);
	}
	return in;
}

/* c was allowed as a user of the user store: remember who, so a change
 * of that user reaches the connection (users_kick). */
static bool auth_name_store(struct conn *c, const struct mqtt_connect *p)
{
	char *name = malloc(p->username.len + 1);

	if (!name)
		return false;
	memcpy(name, p->username.p, p->username.len);
	name[p->username.len] = '\0';
	free(c->auth_name);
	c->auth_name = name;
	c->auth_name_src = CONN_NAME_STORE;
	return true;
}

const char *auth_user(const struct conn *c, const struct mqtt_connect *p,
		      size_t *len)
{
	if (c->auth_name) {
		*len = strlen(c->auth_name);
		return c->auth_name;
	}
	if ((auth_passwords(c->w->node->auth) || c->w->node->ldap) &&
	    p->has_username && p->has_password) {
		*len = p->username.len;
		return (const char *)p->username.p;
	}
	*len = 0;
	return NULL;
}

enum auth_verdict auth_connect(struct conn *c, const struct mqtt_connect *p,
			       const char *id, size_t id_len)
{
	const struct tern_config *cfg = &c->w->node->cfg;
	struct auth *a = c->w->node->auth;
	bool pw = auth_passwords(a), store = false;
	const struct auth_hash *h;
	struct auth_table *t;
	enum auth_verdict v;
	uint8_t key[32];

	if (CONN_EXT(c, scram))
		/* second pass: a SCRAM exchange succeeded (auth_scram.c:
		 * only then is its CONNECT handled again) */
		return auth_decided(c, p, id, id_len, "scram", AUTH_ALLOW);
	if (c->auth_verdict) {
		/* second pass: the thread pool decided (auth_decided sees
		 * auth_verdict set: auth_on_after_work counted a failure) */
		store = c->auth_verdict & AUTH_VERDICT_STORE;
		c->auth_verdict &= (uint8_t)~AUTH_VERDICT_STORE;
		v = (enum auth_verdict)c->auth_verdict;
		if (v == AUTH_ALLOW && store && !auth_name_store(c, p))
			v = AUTH_BAD_CREDENTIALS;
		v = auth_decided(c, p, id, id_len,
				 store ? "user_store" : "password_file", v);
		c->auth_verdict = 0;
		return v;
	}
	if (c->auth_name && c->auth_name_src == CONN_NAME_CERT)
		/* a verified client certificate names the user
		 * (tls_username_from); the CONNECT's credentials are not
		 * asked for */
		return auth_decided(c, p, id, id_len, "certificate",
				    AUTH_ALLOW);
	if (!CONN_EXT(c, ldap_job) && auth_limit_conn_throttled(c, p) &&
	    !auth_cache_ok(a, p)) {
		/* too many failures from its address or with its client id:
		 * refused before any provider runs (no hash to burn); a
		 * password verified within the cache's lifetime still gets
		 * in, so an attacker cannot lock a known device out */
		stat_add(&c->w->stats.auth_throttled, 1);
		return AUTH_THROTTLED;
	}
	if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) {
		/* MQTT 5 enhanced authentication: "JWT" and "SCRAM-SHA-256" */
		const struct mqtt_str *m = &p->props.auth_method;

		if (auth_scram_is_method(m->p, m->len)) {
			if (!auth_has_passwords(c->w->node))
				return auth_decided(c, p, id, id_len, "scram",
						    AUTH_BAD_METHOD);
			v = auth_scram_connect(c, p, id, id_len);
			return v == AUTH_PENDING
				       ? v
				       : auth_decided(c, p, id, id_len,
						      "scram", v);
		}
		if (!c->w->node->jwt || m->len != strlen(AUTH_JWT_METHOD) ||
		    memcmp(m->p, AUTH_JWT_METHOD, m->len) != 0)
			return auth_decided(c, p, id, id_len, "enhanced",
					    AUTH_BAD_METHOD);
		c->auth_jwt_method = true;
		return auth_decided(c, p, id, id_len, "jwt",
				    auth_jwt_connect(c, p,
						     p->props.auth_data.p,
						     p->props.auth_data.len,
						     id, id_len));
	}
	if (c->w->node->jwt && p->has_password &&
	    auth_jwt_is_token(p->password.p, p->password.len))
		return auth_decided(c, p, id, id_len, "jwt",
				    auth_jwt_connect(c, p, p->password.p,
						     p->password.len, id,
						     id_len));
	if (!pw && !c->w->node->ldap && c->w->node->jwt &&
	    (p->has_username || p->has_password))
		/* credentials, but not a token, and no password provider */
		return auth_decided(c, p, id, id_len, "jwt",
				    AUTH_BAD_CREDENTIALS);
	if ((!pw && !c->w->node->ldap) ||
	    (!p->has_username && !p->has_password)) {
		bool ok = cfg->allow_anonymous ||
			  (cfg->listeners[c->listener].loopback &&
			   cfg->allow_anonymous_loopback);

		return auth_decided(c, p, id, id_len, "anonymous",
				    ok ? AUTH_ALLOW : AUTH_NOT_AUTHORIZED);
	}
	if (!p->has_username || !p->has_password)
		return auth_decided(c, p, id, id_len,
				    !pw	     ? "ldap"
				    : a->file ? "password_file"
					      : "user_store",
				    AUTH_BAD_CREDENTIALS);
	if (CONN_EXT(c, ldap_job) || (c->w->node->ldap && !auth_in_file(a, p))) {
		/* not a password file user: LDAP, whose answer the second
		 * pass (c->ldap_job) takes */
		v = auth_ldap_connect(c, p, id, id_len);
		return v == AUTH_PENDING
			       ? v
			       : auth_decided(c, p, id, id_len, "ldap", v);
	}
	/* the password file first, then the user store */
	t = auth_current(a);
	h = auth_table_find(t, (const char *)p->username.p, p->username.len);
	if (!h) {
		struct auth_table *st = auth_current_store(a);

		if (st)
			h = auth_table_find(st, (const char *)p->username.p,
					    p->username.len);
		/* an unknown user is judged (and timed) against the file's
		 * table, or the store's without a file */
		if (st && (h || !a->file)) {
			auth_table_unref(t);
			t = st;
			store = true;
		} else {
			auth_table_unref(st);
		}
	}
	if (auth_cache_key(p, key) == 0) {
		if (h && auth_cache_hit(a, key, t->gen)) {
			auth_table_unref(t);
			if (store && !auth_name_store(c, p))
				return auth_decided(c, p, id, id_len,
						    "user_store",
						    AUTH_BAD_CREDENTIALS);
			return auth_decided(c, p, id, id_len,
					    store ? "user_store (cached)"
						  : "password_file (cached)",
					    AUTH_ALLOW);
		}
		/* takes t if pending */
		v = auth_queue(c, t, store, h, p, key);
		if (v == AUTH_PENDING)
			return v;
	}
	auth_table_unref(t);
	log_error("%s: cannot verify a password (out of memory)", c->peer);
	return auth_decided(c, p, id, id_len,
			    store ? "user_store" : "password_file",
			    AUTH_BAD_CREDENTIALS);
}
