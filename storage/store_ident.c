/*
 * store_ident.c - the identity database: users, roles and OAuth clients as
 * opaque values under (kind, name) keys (see store.h).
 */
#include <stdlib.h>

#include "store_int.h"

static int ident_key(uint8_t kind, const char *name, size_t len, uint8_t *k)
{
	if (!kind || !name || !len || len > STORE_KEY_MAX - 1 ||
	    memchr(name, '\0', len))
		return TERN_EINVAL;
	k[0] = kind;
	memcpy(k + 1, name, len);
	return 0;
}

int store_ident_put(struct store_txn *t, uint8_t kind, const char *name,
                    size_t len, const void *val, size_t vlen)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k = {len + 1, kb}, v = {vlen, (void *)val};
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (ident_key(kind, name, len, kb) || (!val && vlen) ||
	    vlen > UINT32_MAX)
		return TERN_EINVAL;
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_IDENTS], &k, &v, 0);
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot write an identity"));
}

int store_ident_del(struct store_txn *t, uint8_t kind, const char *name,
                    size_t len)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k = {len + 1, kb};
	int rc;

	rc = store_txn_check(t);
	if (rc)
		return rc;
	if (ident_key(kind, name, len, kb))
		return TERN_EINVAL;
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_IDENTS], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return store_txn_fail(
	    t, store_mdb_err(t->s, rc, "cannot delete an identity"));
}

int store_ident_get(struct store *s, uint8_t kind, const char *name,
                    size_t len, void **val, size_t *vlen)
{
	uint8_t kb[STORE_KEY_MAX];
	MDB_val k = {len + 1, kb}, v;
	MDB_txn *txn;
	int rc;

	if (!s || !val || !vlen || ident_key(kind, name, len, kb))
		return TERN_EINVAL;
	*val = NULL;
	*vlen = 0;
	rc = store_rd_begin(s, &txn);
	if (rc)
		return rc;
	rc = mdb_get(txn, s->dbi[STORE_DB_IDENTS], &k, &v);
	rc = store_mdb_err(s, rc, "cannot read an identity");
	if (!rc) {
		*val = malloc(v.mv_size ? v.mv_size : 1);
		if (!*val)
			rc = TERN_ENOMEM;
		else if (v.mv_size)
			memcpy(*val, v.mv_data, v.mv_size);
		*vlen = v.mv_size;
	}
	mdb_txn_abort(txn);
	return rc;
}

int store_ident_scan(struct store *s, uint8_t kind, store_kv_cb cb,
                     void *ctx)
{
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k = {1, &kind}, v;
	int rc;

	if (!s || !cb || !kind)
		return TERN_EINVAL;
	rc = store_rd_cursor(s, STORE_DB_IDENTS, &txn, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size > 1 && ((uint8_t *)k.mv_data)[0] == kind;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		rc = cb(ctx, (const char *)k.mv_data + 1, k.mv_size - 1,
		        v.mv_data, v.mv_size);
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND || rc == 0
	         ? 0
	         : store_mdb_err(s, rc, "cannot read identities");
out:
	store_rd_end(txn, c);
	return rc;
}
