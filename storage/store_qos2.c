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
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_QOS2], &c);
	if (rc)
		return store_mdb_err(t->s, rc, "cannot open a cursor");
	for (;;) {
		k = (MDB_val){plen, (void *)prefix};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc || !store_has_prefix(&k, prefix, plen))
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0
	                          : store_mdb_err(t->s, rc,
	                                          "cannot delete a session's "
	                                          "qos2 ids");
}

int store_qos2_scan(struct store *s, const char *id, size_t len,
                    int (*cb)(void *ctx, uint16_t pid), void *ctx)
{
	uint8_t prefix[STORE_MAX_ID_LEN + 1];
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	size_t plen;
	int rc;

	if (!s || !cb || store_id_check(id, len))
		return TERN_EINVAL;
	plen = store_id_prefix(prefix, id, len);
	rc = store_rd_cursor(s, STORE_DB_QOS2, &txn, &c);
	if (rc)
		return rc;
	k = (MDB_val){plen, prefix};
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!store_has_prefix(&k, prefix, plen))
			break;
		if (k.mv_size != plen + 2) {
			store_log(s, "corrupt qos2 key of %.*s (%zu bytes)",
			          (int)len, id, k.mv_size);
			rc = TERN_EIO;
			goto out;
		}
		rc = cb(ctx, store_get_be16((uint8_t *)k.mv_data + plen));
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0
	                        : store_mdb_err(s, rc, "cannot read qos2 ids");
out:
	store_rd_end(txn, c);
	return rc;
}
