/*
 * store_qos2.c - inbound QoS 2 packet ids a session has received but not
 * yet released (PUBREL): id + 0x00 + u16 packet id (BE) -> empty.
 */
#include "store_int.h"

static size_t qos2_key(uint8_t *k, const char *id, size_t len, uint16_t pid)
{
	size_t n = store_id_prefix(k, id, len);

	store_put_be16(k + n, pid);
	return n + 2;
}

int store_qos2_put(struct store_txn *t, const char *id, size_t len,
                   uint16_t pid)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k, v = {0, NULL};
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len))
		return TERN_EINVAL;
	k = (MDB_val){qos2_key(kb, id, len, pid), kb};
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_QOS2], &k, &v, 0);
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot write a qos2 id"));
}

int store_qos2_del(struct store_txn *t, const char *id, size_t len,
                   uint16_t pid)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len))
		return TERN_EINVAL;
	k = (MDB_val){qos2_key(kb, id, len, pid), kb};
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_QOS2], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot delete a qos2 id"));
}

int store_qos2_del_all(struct store_txn *t, const uint8_t *prefix, size_t plen)
{
	return store_prefix_del(t, STORE_DB_QOS2, prefix, plen, NULL,
	                        "a session's qos2 ids");
}

struct qos2_walk {
	struct store *s;
	const char *id;
	size_t len;
	int (*cb)(void *ctx, uint16_t pid);
	void *ctx;
};

static int qos2_walk_one(void *ctx, MDB_txn *txn, const MDB_val *rest,
                         const MDB_val *v)
{
	struct qos2_walk *w = ctx;

	(void)txn;
	(void)v;
	if (rest->mv_size != 2) {
		store_log(w->s, "corrupt qos2 key of %.*s (%zu bytes)",
		          (int)w->len, w->id, rest->mv_size + w->len + 1);
		return TERN_EIO;
	}
	return w->cb(w->ctx, store_get_be16(rest->mv_data));
}

int store_qos2_scan(struct store *s, const char *id, size_t len,
                    int (*cb)(void *ctx, uint16_t pid), void *ctx)
{
	uint8_t prefix[STORE_MAX_ID_LEN + 1];
	struct qos2_walk w = {s, id, len, cb, ctx};

	if (!s || !cb || store_id_check(id, len))
		return TERN_EINVAL;
	return store_prefix_walk(s, STORE_DB_QOS2, prefix,
	                         store_id_prefix(prefix, id, len),
	                         qos2_walk_one, &w, "qos2 ids");
}
