/*
 * auth_limit.c - throttling of failed authentications (see auth_limit.h).
 */
#include "auth_limit.h"

#include "auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <uv.h>

#include "auth.h"
#include "conn.h"
#include "log.h"
#include "mqtt.h"
#include "node.h"
#include "tern_err.h"

struct auth_limit_entry {
	uint64_t key;       /* 0: never used */
	uint64_t full_at;   /* ms: the bucket is full again; <= now: free */
	uint64_t log_after; /* ms: the next report may be logged from then */
	uint32_t fails;     /* failures since the last report */
};

struct auth_limit {
	uv_mutex_t lock;    /* guards slots */
	uint64_t interval;  /* ms per token */
	uint64_t tolerance; /* (burst - 1) * interval */
	/* ms: no bucket is empty from then on (written under lock) */
	_Atomic uint64_t horizon;
	_Atomic uint32_t delayed; /* auth_limit_delay_begin count */
	uint8_t key_addr[16], key_client[16];
	struct auth_limit_entry slots[AUTH_LIMIT_SLOTS];
};

/* ---- SipHash-2-4 ------------------------------------------------------ */

#define AUTH_LIMIT_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t auth_limit_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void auth_limit_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = AUTH_LIMIT_ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = AUTH_LIMIT_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = AUTH_LIMIT_ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = AUTH_LIMIT_ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = AUTH_LIMIT_ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = AUTH_LIMIT_ROTL(v[2], 32);
}

uint64_t auth_limit_siphash(const uint8_t k[16], const void *in, size_t len)
{
	const uint8_t *p = in;
	uint64_t k0 = auth_limit_le64(k), k1 = auth_limit_le64(k + 8);
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
	                 k0 ^ 0x6c7967656e657261ull,
	                 k1 ^ 0x7465646279746573ull};
	uint64_t m, b = (uint64_t)len << 56;
	size_t left = len & 7;

	for (const uint8_t *end = p + (len - left); p != end; p += 8) {
		m = auth_limit_le64(p);
		v[3] ^= m;
		auth_limit_sipround(v);
		auth_limit_sipround(v);
		v[0] ^= m;
	}
	for (size_t i = 0; i < left; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v[3] ^= b;
	auth_limit_sipround(v);
	auth_limit_sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		auth_limit_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the table ------------------------------------------------------- */

int auth_limit_new(uint32_t burst, uint32_t per_minute, const uint8_t seed[32],
                   struct auth_limit **out)
{
	struct auth_limit *l;

	*out = NULL;
	if (burst == 0 || per_minute == 0 || per_minute > 60000)
		return TERN_EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return TERN_ENOMEM;
	if (uv_mutex_init(&l->lock)) {
		free(l);
		return TERN_ENOMEM;
	}
	l->interval = 60000u / per_minute;
	l->tolerance = (uint64_t)(burst - 1) * l->interval;
	atomic_init(&l->horizon, 0);
	atomic_init(&l->delayed, 0);
	memcpy(l->key_addr, seed, 16);
	memcpy(l->key_client, seed + 16, 16);
	*out = l;
	return 0;
}

void auth_limit_free(struct auth_limit *l)
{
	if (!l)
		return;
	uv_mutex_destroy(&l->lock);
	free(l);
}

bool auth_limit_key_addr(const struct auth_limit *l, const char *peer,
                         struct auth_limit_key *k, char *text, size_t cap)
{
	char host[64];
	const char *colon = strrchr(peer, ':');
	size_t len = colon ? (size_t)(colon - peer) : 0;
	uint8_t a[16], buf[9] = {0};
	size_t n;

	k->h = 0;
	if (len >= 2 && peer[0] == '[' && peer[len - 1] == ']') {
		peer++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, peer, len);
	host[len] = 0;
	if (inet_pton(AF_INET, host, a) == 1) {
		buf[0] = 4;
		memcpy(buf + 1, a, 4);
		n = 5;
	} else if (inet_pton(AF_INET6, host, a) == 1) {
		static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			buf[0] = 4;
			memcpy(buf + 1, a + 12, 4);
			n = 5;
		} else {
			buf[0] = 6;
			memcpy(buf + 1, a, 8); /* the /64 */
			n = 9;
		}
	} else {
		return false;
	}
	k->h = auth_limit_siphash(l->key_addr, buf, n) | 1;
	if (text && cap) {
		char ip[INET6_ADDRSTRLEN];

		if (buf[0] == 4) {
			inet_ntop(AF_INET, buf + 1, ip, sizeof(ip));
			snprintf(text, cap, "%s", ip);
		} else {
			memset(a + 8, 0, 8);
			inet_ntop(AF_INET6, a, ip, sizeof(ip));
			snprintf(text, cap, "%s/64", ip);
		}
	}
	return true;
}

void auth_limit_key_client(const struct auth_limit *l, const uint8_t *id,
                           size_t len, struct auth_limit_key *k)
{
	k->h = auth_limit_siphash(l->key_client, id, len) | 1;
}

bool auth_limit_active(struct auth_limit *l, uint64_t now)
{
	return now < atomic_load_explicit(&l->horizon, memory_order_acquire);
}

/* k's entry, or NULL. Under lock. */
static struct auth_limit_entry *auth_limit_find(struct auth_limit *l,
                                                uint64_t h)
{
	for (size_t i = 0; i < AUTH_LIMIT_WINDOW; i++) {
		struct auth_limit_entry *e =
		    &l->slots[(h + i) & (AUTH_LIMIT_SLOTS - 1)];

		if (e->key == h)
			return e;
	}
	return NULL;
}

/*
 * k's entry, made if needed: in a free slot of its window (never used, or
 * its bucket full again), else replacing the entry whose bucket is full
 * soonest. Under lock.
 */
static struct auth_limit_entry *auth_limit_get(struct auth_limit *l, uint64_t h,
                                               uint64_t now)
{
	struct auth_limit_entry *e = auth_limit_find(l, h), *pick = NULL;

	if (e)
		return e;
	for (size_t i = 0; i < AUTH_LIMIT_WINDOW; i++) {
		e = &l->slots[(h + i) & (AUTH_LIMIT_SLOTS - 1)];
		if (e->key == 0 || e->full_at <= now) {
			pick = e;
			break;
		}
		if (!pick || e->full_at < pick->full_at)
			pick = e;
	}
	*pick = (struct auth_limit_entry){.key = h, .full_at = now};
	return pick;
}

uint64_t auth_limit_check(struct auth_limit *l, const struct auth_limit_key *k,
                          uint64_t now, uint32_t *log_fails)
{
	struct auth_limit_entry *e;
	uint64_t wait = 0;

	*log_fails = 0;
	if (!auth_limit_active(l, now))
		return 0;
	uv_mutex_lock(&l->lock);
	e = auth_limit_find(l, k->h);
	if (e && e->full_at > now + l->tolerance) {
		wait = e->full_at - l->tolerance - now;
		if (now >= e->log_after) {
			*log_fails = e->fails ? e->fails : 1;
			e->fails = 0;
			e->log_after = now + AUTH_LIMIT_LOG_EVERY_MS;
		}
	}
	uv_mutex_unlock(&l->lock);
	return wait;
}

void auth_limit_take(struct auth_limit *l, const struct auth_limit_key *k,
                     uint64_t now)
{
	struct auth_limit_entry *e;

	uv_mutex_lock(&l->lock);
	e = auth_limit_get(l, k->h, now);
	if (e->full_at <= now) {
		/* full: a new run of failures */
		e->full_at = now;
		e->fails = 0;
	}
	e->full_at += l->interval;
	e->fails++;
	if (e->full_at > now + l->tolerance) {
		/* empty: checks take the lock until it has a token again */
		uint64_t until = e->full_at - l->tolerance;

		if (until >
		    atomic_load_explicit(&l->horizon, memory_order_relaxed))
			atomic_store_explicit(&l->horizon, until,
			                      memory_order_release);
	}
	uv_mutex_unlock(&l->lock);
}

bool auth_limit_delay_begin(struct auth_limit *l)
{
	if (!l)
		return false;
	if (atomic_fetch_add(&l->delayed, 1) >= AUTH_LIMIT_MAX_DELAYED) {
		atomic_fetch_sub(&l->delayed, 1);
		return false;
	}
	return true;
}

void auth_limit_delay_end(struct auth_limit *l)
{
	if (l)
		atomic_fetch_sub(&l->delayed, 1);
}

uint32_t auth_limit_delayed(struct auth_limit *l)
{
	return atomic_load(&l->delayed);
}

/* ---- glue ------------------------------------------------------------ */

static uint64_t auth_limit_now(void)
{
	return uv_hrtime() / 1000000u;
}

int auth_limit_setup(struct tern_node *n, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	uint8_t seed[32];
	int rc;

	n->auth_limit = NULL;
	if (!cfg->auth_fail_burst || !cfg->auth_fail_per_minute) {
		log_info("failed authentications are not rate-limited "
		         "(auth_fail_burst or auth_fail_per_minute is 0)");
		return 0;
	}
	if (RAND_bytes(seed, sizeof(seed)) != 1) {
		snprintf(err, errlen, "auth limiter: no random bytes");
		return TERN_EIO;
	}
	rc = auth_limit_new(cfg->auth_fail_burst, cfg->auth_fail_per_minute,
	                    seed, &n->auth_limit);
	if (rc)
		snprintf(err, errlen, "auth limiter: %s", tern_strerror(rc));
	return rc;
}

void auth_limit_teardown(struct tern_node *n)
{
	auth_limit_free(n->auth_limit);
	n->auth_limit = NULL;
}

unsigned auth_limit_conn_keys(const struct conn *c,
                              const struct mqtt_connect *p,
                              struct auth_limit_key keys[2])
{
	struct auth_limit *l = c->w->node->auth_limit;
	unsigned n = 0;

	if (!l)
		return 0;
	if (auth_limit_key_addr(l, c->peer, &keys[n], NULL, 0))
		n++;
	if (p->client_id.len)
		auth_limit_key_client(l, p->client_id.p, p->client_id.len,
		                      &keys[n++]);
	return n;
}

static void auth_limit_report(const char *who, uint32_t fails, uint64_t wait)
{
	log_warn("%s: %u failed authentication%s, throttled for %llu s", who,
	         fails, fails == 1 ? "" : "s",
	         (unsigned long long)((wait + 999) / 1000));
}

bool auth_limit_conn_throttled(struct conn *c, const struct mqtt_connect *p)
{
	struct auth_limit *l = c->w->node->auth_limit;
	struct auth_limit_key k;
	uint64_t now, wait = 0;
	uint32_t fails = 0;
	char who[128];

	if (!l)
		return false;
	now = auth_limit_now();
	if (!auth_limit_active(l, now))
		return false;
	if (auth_limit_key_addr(l, c->peer, &k, who, sizeof(who)))
		wait = auth_limit_check(l, &k, now, &fails);
	if (!wait && p->client_id.len) {
		char cid[96];

		auth_limit_key_client(l, p->client_id.p, p->client_id.len, &k);
		wait = auth_limit_check(l, &k, now, &fails);
		if (wait) {
			auth_printable(p->client_id.p, p->client_id.len,
			                     cid, sizeof(cid));
			snprintf(who, sizeof(who), "client \"%s\"", cid);
		}
	}
	if (!wait)
		return false;
	if (fails)
		auth_limit_report(who, fails, wait);
	log_debug("%s: CONNECT throttled: %s has no authentication attempt "
	          "left for %llu ms",
	          c->peer, who, (unsigned long long)wait);
	return true;
}

void auth_limit_failed(struct auth_limit *l, const struct auth_limit_key *keys,
                       unsigned n)
{
	uint64_t now = auth_limit_now();

	for (unsigned i = 0; l && i < n; i++)
		auth_limit_take(l, &keys[i], now);
}

void auth_limit_conn_failed(struct conn *c, const struct mqtt_connect *p)
{
	struct auth_limit_key keys[2];

	auth_limit_failed(c->w->node->auth_limit, keys,
	                  auth_limit_conn_keys(c, p, keys));
}
