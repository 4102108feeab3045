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
 * Collects the retained messages matching `filter` that have not expired at
 * now_ms: *out gets a malloc'd array of new references (caller unrefs each
 * and frees the array). Returns the count, or TERN_ENOMEM.
 */
int retain_collect(struct retain_store *r, const char *filter, size_t len,
		   uint64_t now_ms, struct msg ***out);

size_t retain_count(struct retain_store *r);

#endif
