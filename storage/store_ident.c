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

struct ident_walk {
	store_kv_cb cb;
	void *ctx;
};

static int ident_walk_one(void *ctx, MDB_txn *txn, const MDB_val *rest,
                          const MDB_val *v)
{
	struct ident_walk *w = ctx;

	(void)txn;
	if (!rest->mv_size)
		return 0; /* a kind byte alone names nothing */
	return w->cb(w->ctx, rest->mv_data, rest->mv_size, v->mv_data,
	             v->mv_size);
}

int store_ident_scan(struct store *s, uint8_t kind, store_kv_cb cb,
                     void *ctx)
{
	struct ident_walk w = {cb, ctx};

	if (!s || !cb || !kind)
		return TERN_EINVAL;
	return store_prefix_walk(s, STORE_DB_IDENTS, &kind, 1, ident_walk_one,
	                         &w, "identities");
}
