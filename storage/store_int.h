/*
 * store_int.h - what the store_*.c files share: the store and transaction
 * structs, LMDB error translation, key encoding and the limits of the
 * on-disk format. Private to storage/; callers see only store.h.
 */
#ifndef TERN_STORE_INT_H
#define TERN_STORE_INT_H

#include <lmdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store.h"
#include "tern_err.h"

/* LMDB's compiled-in key limit (mdb_env_get_maxkeysize on Debian 12). */
#define STORE_KEY_MAX 511

/*
 * Retained topics of up to STORE_TOPIC_DIRECT bytes are their own key.
 * Longer ones are keyed by their first STORE_TOPIC_DIRECT bytes, the
 * FNV-1a 64 hash of the whole topic (big endian) and a u16 (big endian)
 * that tells apart topics whose prefix and hash collide; their value starts
 * with u32 (LE) topic length + the whole topic. The key length alone tells
 * the two kinds apart.
 */
#define STORE_TOPIC_DIRECT 480
#define STORE_TOPIC_HASHED (STORE_TOPIC_DIRECT + 8 + 2)

/* Client id + 0x00 + u64 seq must fit a key (see STORE_MAX_ID_LEN). */
_Static_assert(STORE_MAX_ID_LEN + 1 + 8 <= STORE_KEY_MAX, "entries key");
_Static_assert(STORE_TOPIC_HASHED <= STORE_KEY_MAX, "hashed topic key");

/* Tern's databases in the environment, in the order they are opened. */
enum store_db {
	STORE_DB_META,
	STORE_DB_RETAINED,
	STORE_DB_SESSIONS,
	STORE_DB_MSGS,
	STORE_DB_ENTRIES,
	STORE_DB_QOS2,
	STORE_DB_IDENTS,
	STORE_DB_COUNT
};

extern const char *const store_db_names[STORE_DB_COUNT];

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_COUNT];
	int lock_fd; /* data.mdb, flock'd: one opener at a time */
	char *dir;
	char *path; /* dir/data.mdb */
	store_error_cb err_cb;
	void *err_ctx;
};

/* Message reference count changes of a transaction (store_entry.c). */
struct store_ref {
	uint64_t id;
	int64_t delta;
	bool used;
};

struct store_refs {
	struct store_ref *slots;
	size_t cap, n;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int err; /* first failure: later writes and the commit return it */
	struct store_refs refs;
};

/* ---- store.c ------------------------------------------------------- */

/* Passes "DIR: <formatted>" to the error callback, if any. */
void store_log(const struct store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Translates an LMDB return code: 0, MDB_NOTFOUND -> TERN_ENOTFOUND,
 * MDB_MAP_FULL -> TERN_EQUOTA, anything else -> TERN_EIO (logged with
 * `what`).
 */
int store_mdb_err(const struct store *s, int rc, const char *what);

/*
 * Records a write's failure in t (the first one sticks) and returns it.
 * Any error but TERN_EINVAL / TERN_ENOTFOUND spoils the transaction.
 */
int store_txn_fail(struct store_txn *t, int err);

/* Checks a write's transaction: TERN_EINVAL, its sticky error, or 0. */
int store_txn_check(const struct store_txn *t);

/* Begins a short read transaction (TERN_EIO on failure). */
int store_rd_begin(struct store *s, MDB_txn **txn);

/*
 * Begins a read transaction with a cursor on database `db`; on failure
 * nothing is left open. End both with store_rd_end().
 */
int store_rd_cursor(struct store *s, int db, MDB_txn **txn, MDB_cursor **c);
void store_rd_end(MDB_txn *txn, MDB_cursor *c);

/*
 * Calls cb for every record of database db whose key starts with
 * prefix[0..plen), in key order, in one read
 * transaction (passed to cb for lookups). The key past the prefix is in
 * *rest. cb's non-zero return stops the walk and is returned; an LMDB
 * error is logged as "cannot read <what>".
 */
typedef int (*store_walk_cb)(void *ctx, MDB_txn *txn, const MDB_val *rest,
                             const MDB_val *val);
int store_prefix_walk(struct store *s, int db, const void *prefix,
                      size_t plen, store_walk_cb cb, void *ctx,
                      const char *what);

/*
 * Deletes every record of db whose key starts with prefix[0..plen) in t;
 * each (if not NULL) is called with a record's value before it goes, and
 * its non-zero return stops. Errors as "cannot delete <what>".
 */
int store_prefix_del(struct store_txn *t, int db, const void *prefix,
                     size_t plen,
                     int (*each)(struct store_txn *t, const MDB_val *val),
                     const char *what);

/* 0 if id[0..len) can be a client id here (1..STORE_MAX_ID_LEN bytes,
 * no 0x00), else TERN_EINVAL. */
int store_id_check(const char *id, size_t len);

/* Writes id + 0x00 into k; returns its length (len + 1). */
size_t store_id_prefix(uint8_t *k, const char *id, size_t len);

/* Writes the transaction's pending message counts (before the commit);
 * frees them. */
int store_entry_refs_flush(struct store_txn *t);
void store_entry_refs_free(struct store_refs *r);

/* Deletes every key of db that starts with prefix; for entries also drops
 * the message references (store_entry.c). */
int store_entry_del_all(struct store_txn *t, const uint8_t *prefix,
                        size_t plen);
int store_qos2_del_all(struct store_txn *t, const uint8_t *prefix, size_t plen);

/* ---- store_check.c ------------------------------------------------- */

/*
 * Walks data.mdb (open as fd, read with pread, never mapped) and checks
 * every structure LMDB would trust: meta pages, page headers, node bounds,
 * tree shape, overflow runs, the free list, and that only Tern's databases
 * are present. Returns 0, TERN_EVERSION (meta says a newer format), or
 * TERN_EIO with the reason in err. An empty file is fine (a new store).
 */
int store_check_file(int fd, const char *dir, char *err, size_t errlen);

/* ---- byte order ---------------------------------------------------- */

static inline void store_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t store_get_be64(const void *q)
{
	const uint8_t *p = q;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void store_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t store_get_be16(const void *q)
{
	const uint8_t *p = q;

	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void store_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t store_get_le32(const void *q)
{
	const uint8_t *p = q;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void store_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t store_get_le64(const void *q)
{
	const uint8_t *p = q;
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* True if key k[0..klen) starts with p[0..plen). */
static inline bool store_has_prefix(const MDB_val *k, const void *p,
                                    size_t plen)
{
	return plen == 0 ||
	       (k->mv_size >= plen && memcmp(k->mv_data, p, plen) == 0);
}

#endif
