/*
 * store_session.c - persistent sessions: client id -> value, and the
 * deletion of a session with everything it holds (its entries, with their
 * message references, and its QoS 2 packet ids).
 */
#include "store_int.h"

int store_session_put(struct store_txn *t, const char *id, size_t len,
                      const void *val, size_t vlen)
{
	MDB_val k = {len, (void *)id}, v = {vlen, (void *)val};
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len) || (!val && vlen) || vlen > UINT32_MAX)
		return TERN_EINVAL;
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_SESSIONS], &k, &v, 0);
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot write a session"));
}

int store_session_del(struct store_txn *t, const char *id, size_t len)
{
	uint8_t prefix[STORE_MAX_ID_LEN + 1];
	MDB_val k = {len, (void *)id};
	size_t plen;
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (store_id_check(id, len))
		return TERN_EINVAL;
	plen = store_id_prefix(prefix, id, len);
	rc = store_entry_del_all(t, prefix, plen);
	if (!rc)
		rc = store_qos2_del_all(t, prefix, plen);
	if (rc)
		return store_txn_fail(t, rc);
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_SESSIONS], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot delete a session"));
}

int store_session_scan(struct store *s, store_kv_cb cb, void *ctx)
{
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (!s || !cb)
		return TERN_EINVAL;
	rc = store_rd_cursor(s, STORE_DB_SESSIONS, &txn, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		rc = cb(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0
	                        : store_mdb_err(s, rc, "cannot read sessions");
out:
	store_rd_end(txn, c);
	return rc;
}
