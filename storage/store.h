/*
 * store.h - the node's durable state in LMDB: retained messages, persistent
 * sessions, the messages queued or in flight for them, and inbound QoS 2
 * packet ids. The face of the storage library; it depends on nothing else
 * of Tern's (values are opaque byte strings that the node serializes).
 *
 * On-disk format (version STORE_FORMAT, kept in the "meta" database):
 *   meta      "format" -> u32 little endian; "created" -> u64 unix seconds
 *   retained  topic -> value
 *   sessions  client id -> value
 *   msgs      u64 msg id (big endian) -> u32 refcount (LE) + value
 *   entries   client id + 0x00 + u64 seq (big endian) -> u64 msg id (BE) +
 *             value
 *   qos2      client id + 0x00 + u16 packet id (BE) -> empty
 *   idents    kind byte + name -> value (users, roles, OAuth clients:
 *             the node's identity commands, see node/ident.h); added in
 *             format 1 without a bump: older builds refuse such a store
 *             as "not a Tern store"
 * A message body is stored once however many sessions hold it; every entry
 * holds a reference, and the body goes when the last entry does.
 *
 * Threads: any thread may call store_* functions (MDB_NOTLS is set). Write
 * transactions are serialized by LMDB; keep them short (one batch per loop
 * iteration). Read functions open their own read transaction.
 *
 * Errors: 0 or a negative tern_err. TERN_EQUOTA when the map is full (the
 * transaction is aborted: nothing of it is applied); TERN_EIO for anything
 * else from LMDB (a message with the path and LMDB's words is logged through
 * the error callback if set); TERN_ENOTFOUND; TERN_EVERSION for a store
 * written by a newer format.
 */
#ifndef TERN_STORE_H
#define TERN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_FORMAT 1

/*
 * Longest client id the store takes (LMDB keys are at most 511 bytes and an
 * entry key is id + 0x00 + u64). Ids are 1..STORE_MAX_ID_LEN bytes without
 * 0x00; anything else is TERN_EINVAL. Retained topics have no limit (long
 * ones are keyed by a prefix and a hash; see docs/STORAGE.md) but must not
 * be empty.
 */
#define STORE_MAX_ID_LEN 502

struct store;
struct store_txn;

struct store_opts {
	uint64_t map_size; /* bytes of address space for the map; 0: 16 GiB */
	bool sync;         /* true: fsync on every commit (power-loss);
			    * false: commits reach the page cache only
			    * (survives a process crash) */
};

/*
 * Opens (creating if needed) the store in directory `dir` (created too).
 * Returns 0 and *out, or an error with a one-line reason naming the path in
 * err: TERN_EVERSION (written by a newer Tern: upgrade or use another
 * data_dir), TERN_EIO (unreadable, corrupt, not an LMDB store, locked...),
 * TERN_EINVAL.
 */
int store_open(struct store **out, const char *dir,
	       const struct store_opts *opts, char *err, size_t errlen);

/* Closes; no transaction may be open. NULL is fine. */
void store_close(struct store *s);

/* Path of the LMDB data file (for messages). */
const char *store_path(const struct store *s);

/*
 * Sets the callback that receives the one-line reason ("DIR: what: LMDB's
 * words") of every TERN_EIO after store_open. Called on the thread of the
 * failing call; msg is valid during the call only. cb NULL: silent. Set it
 * before other threads use the store.
 */
typedef void (*store_error_cb)(void *ctx, const char *msg);
void store_set_error_cb(struct store *s, store_error_cb cb, void *ctx);

/* ---- writes: one transaction per batch ------------------------------ */

/*
 * Begins a write transaction (blocks while another is open). The thread
 * that begins it must commit or abort it (LMDB's writer lock is a mutex),
 * and must not begin a second one meanwhile (that deadlocks). Reads on any
 * thread see the last committed state, not this transaction's writes.
 */
int store_begin(struct store *s, struct store_txn **out);

/*
 * Commits (and with opts.sync, fsyncs) and frees the transaction. On
 * TERN_EQUOTA (map full) or any error nothing of it is applied.
 */
int store_commit(struct store_txn *t);

/*
 * After TERN_EQUOTA: commits one tiny write so that pages freed by earlier
 * commits become reusable (LMDB reuses freed pages only after a later
 * commit), then the caller may retry its batch once.
 */
int store_recycle(struct store *s);

/* Aborts and frees the transaction. */
void store_abort(struct store_txn *t);

/*
 * Each write below returns 0, TERN_EQUOTA (map full: the caller must abort
 * the transaction) or TERN_EIO. Writes are idempotent where it makes sense
 * (put replaces; deleting something absent is 0).
 */
int store_retained_put(struct store_txn *t, const char *topic, size_t len,
		       const void *val, size_t vlen);
int store_retained_del(struct store_txn *t, const char *topic, size_t len);

int store_session_put(struct store_txn *t, const char *id, size_t len,
		      const void *val, size_t vlen);

/*
 * Identities: kind (non-zero byte: 'U' user, 'O' OAuth client...) and
 * name (1..510 bytes without 0x00) -> an opaque value. Put replaces,
 * deleting something absent is 0: idempotent commands.
 */
int store_ident_put(struct store_txn *t, uint8_t kind, const char *name,
		    size_t len, const void *val, size_t vlen);
int store_ident_del(struct store_txn *t, uint8_t kind, const char *name,
		    size_t len);
/* Deletes the session with all its entries and qos2 ids (and unreferenced
 * message bodies). */
int store_session_del(struct store_txn *t, const char *id, size_t len);

/*
 * Adds entry (id, seq) referring to message msg_id. The body is written with
 * the first reference (msg/mlen are ignored when it exists already).
 */
int store_entry_put(struct store_txn *t, const char *id, size_t len,
		    uint64_t seq, uint64_t msg_id, const void *msg, size_t mlen,
		    const void *val, size_t vlen);
/* Replaces an existing entry's value (e.g. its state after PUBREC).
 * TERN_ENOTFOUND if there is none (the transaction stays usable). */
int store_entry_update(struct store_txn *t, const char *id, size_t len,
		       uint64_t seq, const void *val, size_t vlen);
/* Removes it and drops its message reference. Absent: 0. */
int store_entry_del(struct store_txn *t, const char *id, size_t len,
		    uint64_t seq);

int store_qos2_put(struct store_txn *t, const char *id, size_t len,
		   uint16_t pid);
int store_qos2_del(struct store_txn *t, const char *id, size_t len,
		   uint16_t pid);

/* ---- reads: each opens its own read transaction ------------------- */

/*
 * Copies the retained value of `topic` into a malloc'd buffer (*val, *vlen).
 * TERN_ENOTFOUND if absent.
 */
int store_retained_get(struct store *s, const char *topic, size_t len,
		       void **val, size_t *vlen);

/*
 * Calls cb for every retained topic starting with prefix[0..plen) in key
 * order (plen 0: all). The pointers are valid during the call only. cb
 * returns 0 to go on, anything else stops the scan and is returned.
 */
typedef int (*store_kv_cb)(void *ctx, const char *key, size_t klen,
			   const void *val, size_t vlen);
int store_retained_scan(struct store *s, const char *prefix, size_t plen,
			store_kv_cb cb, void *ctx);

/*
 * Where a scan in chunks stands: the key of the last record it passed to
 * its callback (opaque bytes; len 0: not started). Long enough for any
 * retained key.
 */
#define STORE_RETAINED_KEY_MAX 490
struct store_retained_pos {
	uint16_t len;
	uint8_t key[STORE_RETAINED_KEY_MAX];
};

/*
 * store_retained_scan in chunks, each in its own short read transaction
 * (so that sending a large result to a slow client pins no pages): starts
 * after *pos (pos->len 0: at the first topic with the prefix) and calls cb
 * for each record, updating *pos before each call. A positive return from
 * cb ends the chunk after that record: the function returns 1, and a call
 * with the same *pos goes on. Returns 0 once every record was visited, or
 * a negative error (also what cb returned if negative). Records written
 * between chunks are seen if they sort after *pos; no key is visited
 * twice.
 */
int store_retained_scan_from(struct store *s, const char *prefix,
			     size_t plen, struct store_retained_pos *pos,
			     store_kv_cb cb, void *ctx);

/* Number of retained topics. */
size_t store_retained_count(struct store *s);

/* Every session (key = client id). */
int store_session_scan(struct store *s, store_kv_cb cb, void *ctx);

/* One identity (*val malloc'd; TERN_ENOTFOUND), or all of one kind in
 * name order. */
int store_ident_get(struct store *s, uint8_t kind, const char *name,
		    size_t len, void **val, size_t *vlen);
int store_ident_scan(struct store *s, uint8_t kind, store_kv_cb cb,
		     void *ctx);

/*
 * Every entry of session `id` in seq order, with its message body.
 */
typedef int (*store_entry_cb)(void *ctx, uint64_t seq, uint64_t msg_id,
			      const void *msg, size_t mlen, const void *val,
			      size_t vlen);
int store_entry_scan(struct store *s, const char *id, size_t len,
		     store_entry_cb cb, void *ctx);

/* Every inbound QoS 2 packet id of session `id`. */
int store_qos2_scan(struct store *s, const char *id, size_t len,
		    int (*cb)(void *ctx, uint16_t pid), void *ctx);

/* Largest msg id and entry seq in use (so ids stay unique after restart). */
int store_max_ids(struct store *s, uint64_t *msg_id, uint64_t *seq);

/* Statistics for metrics: map size, bytes used, entries, message bodies. */
struct store_stats {
	uint64_t map_size;
	uint64_t used_bytes;
	uint64_t sessions;
	uint64_t entries;
	uint64_t msgs;
	uint64_t retained;
};
int store_get_stats(struct store *s, struct store_stats *st);

#endif
