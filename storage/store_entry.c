/*
 * store_entry.c - a session's queued and in-flight messages, and the
 * message bodies they share.
 *
 *   entries  id + 0x00 + u64 seq (BE) -> u64 msg id (BE) + value
 *   msgs     u64 msg id (BE)           -> u32 refcount (LE) + body
 *
 * Every entry holds one reference to its body; the body is written with the
 * first reference and deleted with the last. Count changes are gathered
 * per transaction and written by store_commit (see below).
 */
#include <stdlib.h>

#include "store_int.h"

static size_t entry_key(uint8_t *k, const char *id, size_t len, uint64_t seq)
{
	size_t n = store_id_prefix(k, id, len);

	store_put_be64(k + n, seq);
	return n + 8;
}

/* ---- pending reference counts ---------------------------------------
 * msg id -> change of its count in this transaction, open addressing.
 * A message's record is rewritten once, at the commit, however many
 * entries took or dropped a reference: a fan-out to N sessions writes the
 * body twice (created, then with its final count), not N times. */

static uint64_t refs_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return id;
}

/* The slot of id (inserted with delta 0 if new), or NULL without memory. */
static struct store_ref *refs_slot(struct store_refs *r, uint64_t id)
{
	size_t mask, i;

	if (r->n * 2 >= r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct store_ref *a = calloc(cap, sizeof(*a));

		if (!a)
			return NULL;
		for (size_t j = 0; j < r->cap; j++) {
			if (!r->slots[j].used)
				continue;
			for (i = refs_hash(r->slots[j].id) & (cap - 1);
			     a[i].used; i = (i + 1) & (cap - 1))
				;
			a[i] = r->slots[j];
		}
		free(r->slots);
		r->slots = a;
		r->cap = cap;
	}
	mask = r->cap - 1;
	for (i = refs_hash(id) & mask; r->slots[i].used; i = (i + 1) & mask)
		if (r->slots[i].id == id)
			return &r->slots[i];
	r->slots[i] = (struct store_ref){.id = id, .used = true};
	r->n++;
	return &r->slots[i];
}

static struct store_ref *refs_find(const struct store_refs *r, uint64_t id)
{
	size_t mask = r->cap - 1;

	if (!r->cap)
		return NULL;
	for (size_t i = refs_hash(id) & mask; r->slots[i].used;
	     i = (i + 1) & mask)
		if (r->slots[i].id == id)
			return &r->slots[i];
	return NULL;
}

void store_entry_refs_free(struct store_refs *r)
{
	free(r->slots);
	*r = (struct store_refs){0};
}

/* Writes one message's new count (copying the record: the old value may
 * live in a page this very put moves). */
static int refs_apply(struct store_txn *t, uint64_t id, int64_t delta)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	int64_t n;
	void *copy;
	int rc;

	store_put_be64(kb, id);
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_MSGS], &k, &v);
	if (rc)
		return store_mdb_err(t->s,
		                     rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc,
		                     "cannot read a message");
	n = (int64_t)store_get_le32(v.mv_data) + delta;
	if (n <= 0) {
		rc = mdb_del(t->txn, t->s->dbi[STORE_DB_MSGS], &k, NULL);
		return store_mdb_err(t->s, rc, "cannot delete a message");
	}
	if (n > UINT32_MAX)
		return TERN_EQUOTA;
	copy = malloc(v.mv_size);
	if (!copy)
		return TERN_ENOMEM;
	memcpy(copy, v.mv_data, v.mv_size);
	store_put_le32(copy, (uint32_t)n);
	v.mv_data = copy;
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_MSGS], &k, &v, 0);
	free(copy);
	return store_mdb_err(t->s, rc, "cannot write a message");
}

int store_entry_refs_flush(struct store_txn *t)
{
	struct store_refs *r = &t->refs;
	int rc = 0;

	for (size_t i = 0; !rc && i < r->cap; i++)
		if (r->slots[i].used && r->slots[i].delta)
			rc = refs_apply(t, r->slots[i].id, r->slots[i].delta);
	store_entry_refs_free(r);
	return rc;
}

/*
 * Reads msgs[id]: 0 (a valid record), TERN_ENOTFOUND, or TERN_EIO (LMDB
 * failed, or *corrupt: a record too short or with count 0).
 */
static int msg_get(struct store_txn *t, uint64_t id, MDB_val *v, bool *corrupt)
{
	uint8_t kb[8];
	MDB_val k = {8, kb};
	int rc;

	*corrupt = false;
	store_put_be64(kb, id);
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_MSGS], &k, v);
	if (rc)
		return store_mdb_err(t->s, rc, "cannot read a message");
	if (v->mv_size < 4 || store_get_le32(v->mv_data) == 0) {
		store_log(t->s, "corrupt message %llu (%zu bytes)",
		          (unsigned long long)id, v->mv_size);
		*corrupt = true;
		return TERN_EIO;
	}
	return 0;
}

/* Takes a reference on msg_id, writing the body if it is the first. */
static int msg_ref(struct store_txn *t, uint64_t msg_id, const void *msg,
                   size_t mlen)
{
	struct store_ref *ref = refs_find(&t->refs, msg_id);
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	bool corrupt;
	int rc;

	if (ref) { /* seen in this transaction: it exists */
		ref->delta++;
		return 0;
	}
	rc = msg_get(t, msg_id, &v, &corrupt);
	if (rc && rc != TERN_ENOTFOUND)
		return rc;
	ref = refs_slot(&t->refs, msg_id);
	if (!ref)
		return TERN_ENOMEM;
	if (rc == 0) {
		ref->delta = 1;
		return 0;
	}
	store_put_be64(kb, msg_id);
	v = (MDB_val){4 + mlen, NULL};
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_MSGS], &k, &v, MDB_RESERVE);
	if (rc)
		return store_mdb_err(t->s, rc, "cannot write a message");
	store_put_le32(v.mv_data, 1);
	if (mlen)
		memcpy((uint8_t *)v.mv_data + 4, msg, mlen);
	return 0;
}

/* Drops a reference on msg_id; the last one deletes the body (at the
 * commit). A missing body is logged and ignored so that a damaged store
 * can still be cleaned. */
static int msg_unref(struct store_txn *t, uint64_t msg_id)
{
	struct store_ref *ref = refs_find(&t->refs, msg_id);
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	bool corrupt;
	int rc;

	if (ref) {
		ref->delta--;
		return 0;
	}
	rc = msg_get(t, msg_id, &v, &corrupt);
	if (rc == TERN_ENOTFOUND) {
		store_log(t->s, "message %llu was already gone",
		          (unsigned long long)msg_id);
		return 0;
	}
	if (corrupt) { /* its last reference may be going: let it go */
		store_put_be64(kb, msg_id);
		rc = mdb_del(t->txn, t->s->dbi[STORE_DB_MSGS], &k, NULL);
		return store_mdb_err(t->s, rc, "cannot delete a message");
	}
	if (rc)
		return rc;
	ref = refs_slot(&t->refs, msg_id);
	if (!ref)
		return TERN_ENOMEM;
	ref->delta = -1;
	return 0;
}

/* The msg id an entry value refers to; false if it is too short. */
static bool entry_msg_id(struct store *s, const MDB_val *v, uint64_t *id)
{
	if (v->mv_size < 8) {
		store_log(s, "corrupt entry value (%zu bytes)", v->mv_size);
		return false;
	}
	*id = store_get_be64(v->mv_data);
	return true;
}

static int entry_write(struct store_txn *t, MDB_val *k, uint64_t msg_id,
                       const void *val, size_t vlen)
{
	MDB_val v = {8 + vlen, NULL};
	int rc;

	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_ENTRIES], k, &v, MDB_RESERVE);
	if (rc)
		return store_mdb_err(t->s, rc, "cannot write an entry");
	store_put_be64(v.mv_data, msg_id);
	if (vlen)
		memcpy((uint8_t *)v.mv_data + 8, val, vlen);
	return 0;
}

int store_entry_put(struct store_txn *t, const char *id, size_t len,
                    uint64_t seq, uint64_t msg_id, const void *msg, size_t mlen,
                    const void *val, size_t vlen)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k, v;
	uint64_t old;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len) || (!msg && mlen) || (!val && vlen) ||
	    mlen > UINT32_MAX - 4 || vlen > UINT32_MAX - 8)
		return TERN_EINVAL;
	k = (MDB_val){entry_key(kb, id, len, seq), kb};
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_ENTRIES], &k, &v);
	if (rc == 0) {
		/* replacing (id, seq): the reference moves if the msg does;
		 * a corrupt old value holds none (logged) */
		if (!entry_msg_id(t->s, &v, &old)) {
			rc = msg_ref(t, msg_id, msg, mlen);
		} else if (old != msg_id) {
			rc = msg_unref(t, old);
			if (!rc)
				rc = msg_ref(t, msg_id, msg, mlen);
		}
	} else if (rc == MDB_NOTFOUND) {
		rc = msg_ref(t, msg_id, msg, mlen);
	} else {
		rc = store_mdb_err(t->s, rc, "cannot read an entry");
	}
	if (!rc)
		rc = entry_write(t, &k, msg_id, val, vlen);
	return store_txn_fail(t, rc);
}

int store_entry_update(struct store_txn *t, const char *id, size_t len,
                       uint64_t seq, const void *val, size_t vlen)
{
	uint8_t kb[STORE_KEY_MAX];
	uint64_t msg_id;
	MDB_val k, v;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len) || (!val && vlen) || vlen > UINT32_MAX - 8)
		return TERN_EINVAL;
	k = (MDB_val){entry_key(kb, id, len, seq), kb};
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_ENTRIES], &k, &v);
	if (rc == MDB_NOTFOUND)
		return TERN_ENOTFOUND;
	if (rc)
		return store_txn_fail(
		    t, store_mdb_err(t->s, rc, "cannot read an entry"));
	if (!entry_msg_id(t->s, &v, &msg_id))
		return store_txn_fail(t, TERN_EIO);
	return store_txn_fail(t, entry_write(t, &k, msg_id, val, vlen));
}

int store_entry_del(struct store_txn *t, const char *id, size_t len,
                    uint64_t seq)
{
	uint8_t kb[STORE_KEY_MAX];
	uint64_t msg_id;
	MDB_val k, v;
	bool corrupt;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len))
		return TERN_EINVAL;
	k = (MDB_val){entry_key(kb, id, len, seq), kb};
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_ENTRIES], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_txn_fail(
		    t, store_mdb_err(t->s, rc, "cannot read an entry"));
	corrupt = !entry_msg_id(t->s, &v, &msg_id); /* then: no reference */
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_ENTRIES], &k, NULL);
	rc = store_mdb_err(t->s, rc, "cannot delete an entry");
	if (!rc && !corrupt)
		rc = msg_unref(t, msg_id);
	return store_txn_fail(t, rc);
}

/* store_prefix_del's look at an entry: its message loses a reference. */
static int entry_del_one(struct store_txn *t, const MDB_val *v)
{
	uint64_t msg_id;

	/* corrupt: it held no reference */
	return entry_msg_id(t->s, v, &msg_id) ? msg_unref(t, msg_id) : 0;
}

int store_entry_del_all(struct store_txn *t, const uint8_t *prefix, size_t plen)
{
	return store_prefix_del(t, STORE_DB_ENTRIES, prefix, plen,
	                        entry_del_one, "a session's entries");
}

struct entry_walk {
	struct store *s;
	const char *id;
	size_t len;
	store_entry_cb cb;
	void *ctx;
};

/* One entry of a session: its message looked up, then the caller's cb. */
static int entry_walk_one(void *ctx, MDB_txn *txn, const MDB_val *rest,
                          const MDB_val *v)
{
	struct entry_walk *w = ctx;
	struct store *s = w->s;
	uint8_t mk[8];
	MDB_val key = {8, mk}, m;
	uint64_t msg_id;
	int rc;

	if (rest->mv_size != 8 || v->mv_size < 8) {
		store_log(s,
		          "corrupt entry of %.*s (key %zu bytes, value %zu "
		          "bytes)",
		          (int)w->len, w->id, rest->mv_size + w->len + 1,
		          v->mv_size);
		return TERN_EIO;
	}
	msg_id = store_get_be64(v->mv_data);
	store_put_be64(mk, msg_id);
	rc = mdb_get(txn, s->dbi[STORE_DB_MSGS], &key, &m);
	if (rc || m.mv_size < 4) {
		store_log(s, "entry %llu of %.*s: message %llu %s",
		          (unsigned long long)store_get_be64(rest->mv_data),
		          (int)w->len, w->id, (unsigned long long)msg_id,
		          rc == MDB_NOTFOUND ? "is missing"
		          : rc               ? mdb_strerror(rc)
		                             : "is corrupt");
		return TERN_EIO;
	}
	return w->cb(w->ctx, store_get_be64(rest->mv_data), msg_id,
	             (uint8_t *)m.mv_data + 4, m.mv_size - 4,
	             (uint8_t *)v->mv_data + 8, v->mv_size - 8);
}

int store_entry_scan(struct store *s, const char *id, size_t len,
                     store_entry_cb cb, void *ctx)
{
	uint8_t prefix[STORE_MAX_ID_LEN + 1];
	struct entry_walk w = {s, id, len, cb, ctx};

	if (!s || !cb || store_id_check(id, len))
		return TERN_EINVAL;
	return store_prefix_walk(s, STORE_DB_ENTRIES, prefix,
	                         store_id_prefix(prefix, id, len),
	                         entry_walk_one, &w, "entries");
}
