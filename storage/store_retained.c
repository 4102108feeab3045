/*
 * store_retained.c - retained messages: topic -> value.
 *
 * Topics of up to STORE_TOPIC_DIRECT (480) bytes are the key itself. A
 * longer topic (MQTT allows 65535 bytes; LMDB keys stop at 511) is keyed by
 *   topic[0..480) + FNV-1a 64 of the whole topic (BE) + u16 slot (BE)
 * (490 bytes) and its value is u32 (LE) topic length + topic + value. The
 * 488-byte prefix of such keys is a "range": every long topic that shares
 * the first 480 bytes and the hash lives in it, each in its own slot, and
 * a lookup walks the range comparing whole topics, so a hash collision
 * costs a longer walk, never a wrong answer. Key order is the topics' byte
 * order except among long topics sharing their first 480 bytes.
 */
#include <stdlib.h>

#include "store_int.h"

#define RANGE_LEN (STORE_TOPIC_DIRECT + 8)

struct rkey {
	uint8_t k[STORE_TOPIC_HASHED];
	size_t len; /* direct: the key; hashed: RANGE_LEN */
	bool hashed;
};

static uint64_t fnv1a64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void rkey_make(struct rkey *r, const char *topic, size_t len)
{
	r->hashed = len > STORE_TOPIC_DIRECT;
	if (!r->hashed) {
		memcpy(r->k, topic, len);
		r->len = len;
		return;
	}
	memcpy(r->k, topic, STORE_TOPIC_DIRECT);
	store_put_be64(r->k + STORE_TOPIC_DIRECT, fnv1a64(topic, len));
	r->len = RANGE_LEN;
}

/* A hashed record's parts; false if it does not hold together. */
static bool hashed_parse(const MDB_val *k, const MDB_val *v, const char **topic,
                         size_t *tlen, const void **val, size_t *vlen)
{
	const uint8_t *p = v->mv_data;
	uint32_t n;

	if (k->mv_size != STORE_TOPIC_HASHED || v->mv_size < 4)
		return false;
	n = store_get_le32(p);
	if (n <= STORE_TOPIC_DIRECT || v->mv_size - 4 < n ||
	    memcmp(p + 4, k->mv_data, STORE_TOPIC_DIRECT) != 0)
		return false;
	*topic = (const char *)p + 4;
	*tlen = n;
	*val = p + 4 + n;
	*vlen = v->mv_size - 4 - n;
	return true;
}

/*
 * Looks for topic in its range. 0: found, the cursor is on it and k, v
 * are its record. TERN_ENOTFOUND: absent, *slot is the lowest free slot
 * (65536 if none). TERN_EIO: a corrupt record or an LMDB failure (logged).
 */
static int hashed_find(struct store *s, MDB_cursor *c, const struct rkey *r,
                       const char *topic, size_t len, MDB_val *k, MDB_val *v,
                       unsigned *slot)
{
	unsigned expect = 0;
	bool gap = false;
	int rc;

	*k = (MDB_val){r->len, (void *)r->k};
	for (rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, k, v, MDB_NEXT)) {
		const char *t;
		const void *val;
		size_t tlen, vlen;

		if (!store_has_prefix(k, r->k, RANGE_LEN))
			break;
		if (!hashed_parse(k, v, &t, &tlen, &val, &vlen)) {
			store_log(s,
			          "corrupt retained record (key %zu bytes, "
			          "value %zu bytes)",
			          k->mv_size, v->mv_size);
			return TERN_EIO;
		}
		if (tlen == len && memcmp(t, topic, len) == 0)
			return 0;
		if (!gap &&
		    store_get_be16((uint8_t *)k->mv_data + RANGE_LEN) == expect)
			expect++;
		else
			gap = true;
	}
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_err(s, rc, "cannot read retained messages");
	*slot = expect;
	return TERN_ENOTFOUND;
}

static int check_topic(const char *topic, size_t len)
{
	return topic && len > 0 && len <= UINT32_MAX ? 0 : TERN_EINVAL;
}

int store_retained_put(struct store_txn *t, const char *topic, size_t len,
                       const void *val, size_t vlen)
{
	uint8_t key[STORE_TOPIC_HASHED];
	MDB_cursor *c = NULL;
	struct rkey r;
	MDB_val k, v;
	unsigned slot = 0;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (check_topic(topic, len) || (!val && vlen) ||
	    vlen > UINT32_MAX - 4 - len)
		return TERN_EINVAL;
	rkey_make(&r, topic, len);
	if (!r.hashed) {
		k = (MDB_val){len, (void *)topic};
		v = (MDB_val){vlen, (void *)val};
		rc = mdb_put(t->txn, t->s->dbi[STORE_DB_RETAINED], &k, &v, 0);
		return store_txn_fail(t,
		                      store_mdb_err(t->s, rc,
		                                    "cannot write a retained "
		                                    "message"));
	}
	rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_RETAINED], &c);
	if (rc)
		return store_txn_fail(
		    t, store_mdb_err(t->s, rc, "cannot open a cursor"));
	rc = hashed_find(t->s, c, &r, topic, len, &k, &v, &slot);
	if (rc == 0) {
		memcpy(key, k.mv_data, STORE_TOPIC_HASHED);
	} else if (rc == TERN_ENOTFOUND && slot <= UINT16_MAX) {
		memcpy(key, r.k, RANGE_LEN);
		store_put_be16(key + RANGE_LEN, (uint16_t)slot);
	} else {
		/* 65536 topics sharing a prefix and a hash: not plausible */
		mdb_cursor_close(c);
		return store_txn_fail(t,
		                      rc == TERN_ENOTFOUND ? TERN_EQUOTA : rc);
	}
	mdb_cursor_close(c);
	k = (MDB_val){STORE_TOPIC_HASHED, key};
	v = (MDB_val){4 + len + vlen, NULL};
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_RETAINED], &k, &v, MDB_RESERVE);
	if (rc)
		return store_txn_fail(t,
		                      store_mdb_err(t->s, rc,
		                                    "cannot write a retained "
		                                    "message"));
	store_put_le32(v.mv_data, (uint32_t)len);
	memcpy((uint8_t *)v.mv_data + 4, topic, len);
	if (vlen)
		memcpy((uint8_t *)v.mv_data + 4 + len, val, vlen);
	return 0;
}

int store_retained_del(struct store_txn *t, const char *topic, size_t len)
{
	MDB_cursor *c;
	struct rkey r;
	MDB_val k, v;
	unsigned slot;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (check_topic(topic, len))
		return TERN_EINVAL;
	rkey_make(&r, topic, len);
	if (!r.hashed) {
		k = (MDB_val){len, (void *)topic};
		rc = mdb_del(t->txn, t->s->dbi[STORE_DB_RETAINED], &k, NULL);
		if (rc == MDB_NOTFOUND)
			return 0;
		return store_txn_fail(t,
		                      store_mdb_err(t->s, rc,
		                                    "cannot delete a retained "
		                                    "message"));
	}
	rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_RETAINED], &c);
	if (rc)
		return store_txn_fail(
		    t, store_mdb_err(t->s, rc, "cannot open a cursor"));
	rc = hashed_find(t->s, c, &r, topic, len, &k, &v, &slot);
	if (rc == 0) {
		rc = mdb_cursor_del(c, 0);
		rc =
		    store_mdb_err(t->s, rc, "cannot delete a retained message");
	} else if (rc == TERN_ENOTFOUND) {
		rc = 0;
	}
	mdb_cursor_close(c);
	return store_txn_fail(t, rc);
}

static int copy_out(const void *p, size_t n, void **val, size_t *vlen)
{
	void *b = malloc(n ? n : 1);

	if (!b)
		return TERN_ENOMEM;
	if (n)
		memcpy(b, p, n);
	*val = b;
	*vlen = n;
	return 0;
}

int store_retained_get(struct store *s, const char *topic, size_t len,
                       void **val, size_t *vlen)
{
	MDB_cursor *c = NULL;
	struct rkey r;
	MDB_txn *txn;
	MDB_val k, v;
	unsigned slot;
	int rc;

	if (!val || !vlen)
		return TERN_EINVAL;
	*val = NULL;
	*vlen = 0;
	if (!s || check_topic(topic, len))
		return TERN_EINVAL;
	rc = store_rd_begin(s, &txn);
	if (rc)
		return rc;
	rkey_make(&r, topic, len);
	if (!r.hashed) {
		k = (MDB_val){len, (void *)topic};
		rc = mdb_get(txn, s->dbi[STORE_DB_RETAINED], &k, &v);
		rc = store_mdb_err(s, rc, "cannot read a retained message");
		if (!rc)
			rc = copy_out(v.mv_data, v.mv_size, val, vlen);
		goto out;
	}
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_RETAINED], &c);
	if (rc) {
		rc = store_mdb_err(s, rc, "cannot open a cursor");
		goto out;
	}
	rc = hashed_find(s, c, &r, topic, len, &k, &v, &slot);
	if (!rc) {
		const char *tp = NULL;
		const void *p = NULL;
		size_t tlen = 0, n = 0;

		hashed_parse(&k, &v, &tp, &tlen, &p, &n); /* checked */
		rc = copy_out(p, n, val, vlen);
	}
	mdb_cursor_close(c);
out:
	mdb_txn_abort(txn);
	return rc;
}

_Static_assert(STORE_RETAINED_KEY_MAX == STORE_TOPIC_HASHED,
               "a position holds any retained key");

/*
 * Walks the retained topics starting with prefix[0..plen), after the key
 * in pos if pos->len (else from the first), calling cb until it returns
 * nonzero (returned) or the keys run out (0). pos, if given, is left on
 * the last record passed to cb.
 */
static int retained_walk(struct store *s, const char *prefix, size_t plen,
                         struct store_retained_pos *pos, store_kv_cb cb,
                         void *ctx)
{
	size_t seek = plen < STORE_TOPIC_DIRECT ? plen : STORE_TOPIC_DIRECT;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (!s || !cb || (!prefix && plen) ||
	    (pos && pos->len > STORE_RETAINED_KEY_MAX))
		return TERN_EINVAL;
	rc = store_rd_cursor(s, STORE_DB_RETAINED, &txn, &c);
	if (rc)
		return rc;
	/* every key of a matching topic starts with the prefix's first
	 * `seek` bytes; longer prefixes are matched on the whole topic */
	if (pos && pos->len) {
		/* resume: the first key after the last one visited (it may
		 * have been deleted since; then the first after its place) */
		k = (MDB_val){pos->len, pos->key};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == pos->len &&
		    memcmp(k.mv_data, pos->key, pos->len) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	} else {
		k = (MDB_val){seek, (void *)prefix};
		rc = mdb_cursor_get(c, &k, &v,
		                    seek ? MDB_SET_RANGE : MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const char *topic = k.mv_data;
		const void *val = v.mv_data;
		size_t tlen = k.mv_size, vlen = v.mv_size;

		if (!store_has_prefix(&k, prefix, seek))
			break;
		if (k.mv_size > STORE_TOPIC_DIRECT &&
		    !hashed_parse(&k, &v, &topic, &tlen, &val, &vlen)) {
			store_log(s,
			          "corrupt retained record (key %zu bytes, "
			          "value %zu bytes)",
			          k.mv_size, v.mv_size);
			rc = TERN_EIO;
			goto out;
		}
		if (plen > seek &&
		    (tlen < plen || memcmp(topic, prefix, plen) != 0))
			continue;
		if (pos) {
			/* hashed_parse checked the length of long keys;
			 * direct ones are at most STORE_TOPIC_DIRECT */
			pos->len = (uint16_t)k.mv_size;
			memcpy(pos->key, k.mv_data, k.mv_size);
		}
		rc = cb(ctx, topic, tlen, val, vlen);
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND
	         ? 0
	         : store_mdb_err(s, rc, "cannot read retained messages");
out:
	store_rd_end(txn, c);
	return rc;
}

int store_retained_scan(struct store *s, const char *prefix, size_t plen,
                        store_kv_cb cb, void *ctx)
{
	return retained_walk(s, prefix, plen, NULL, cb, ctx);
}

int store_retained_scan_from(struct store *s, const char *prefix,
                             size_t plen, struct store_retained_pos *pos,
                             store_kv_cb cb, void *ctx)
{
	int rc;

	if (!pos)
		return TERN_EINVAL;
	rc = retained_walk(s, prefix, plen, pos, cb, ctx);
	return rc > 0 ? 1 : rc;
}

size_t store_retained_count(struct store *s)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	if (!s || store_rd_begin(s, &txn))
		return 0;
	rc = mdb_stat(txn, s->dbi[STORE_DB_RETAINED], &st);
	mdb_txn_abort(txn);
	if (rc) {
		store_mdb_err(s, rc, "cannot count retained messages");
		return 0;
	}
	return st.ms_entries;
}
