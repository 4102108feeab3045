/*
 * retain.h - the node's retained messages: topic -> last retained message.
 *
 * Changes go through retain_apply() only, an idempotent put/delete by
 * topic: on one node it is applied at once; in a cluster the same command
 * becomes a Raft entry applied on every node. Shared by all workers behind a
 * mutex (retained traffic is not the hot path); lookups return references.
 */
#ifndef TERN_RETAIN_H
#define TERN_RETAIN_H

#include <stddef.h>
#include <stdint.h>

struct msg;
struct retain_store;
struct store_retained_pos;

struct tern_node;

struct retain_store *retain_store_new(void);

/*
 * From now on the node's LMDB store holds the retained messages (durability
 * on): lookups read it, retain_apply writes it in its own transaction.
 * Publishes on a worker go through persist_retained() instead, batched.
 */
void retain_store_durable(struct retain_store *r, struct tern_node *n);
void retain_store_free(struct retain_store *r);

/*
 * Puts m (a new reference is taken) under its topic, or deletes the topic
 * when m has an empty payload [MQTT-3.3.1-6] [MQTT-3.3.1-7].
 * Returns 0 or TERN_ENOMEM.
 */
int retain_apply(struct retain_store *r, struct msg *m);

/*
 * Collects every retained message matching `filter` that has not expired
 * at now_ms: *out gets a malloc'd array of new references (caller unrefs
 * each and frees the array). Returns the count, or TERN_ENOMEM. Holds them
 * all at once: for small results (the admin API); a subscribe sends them
 * with retain_chunk.
 */
int retain_collect(struct retain_store *r, const char *filter, size_t len,
		   uint64_t now_ms, struct msg ***out);

/* Bounds of one chunk of retain_chunk with durability on. */
#define RETAIN_CHUNK_MSGS 256
#define RETAIN_CHUNK_BYTES (1u << 20)

/*
 * The retained messages matching `filter` that have not expired at now_ms,
 * a chunk at a time: each call resumes after *pos (zeroed before the first
 * call) and advances it. With durability on a chunk is read from the store
 * and holds at most RETAIN_CHUNK_MSGS messages, fewer once their sizes
 * reach RETAIN_CHUNK_BYTES; in memory the first chunk holds them all.
 * *out gets a malloc'd array of *n new references (caller unrefs each and
 * frees the array; NULL when *n is 0). Returns 1 when more may follow
 * (call again with the same pos), 0 after the last chunk, or TERN_ENOMEM /
 * TERN_EIO (nothing returned). Any thread.
 */
int retain_chunk(struct retain_store *r, const char *filter, size_t len,
		 uint64_t now_ms, struct store_retained_pos *pos,
		 struct msg ***out, size_t *n);

size_t retain_count(struct retain_store *r);

#endif
