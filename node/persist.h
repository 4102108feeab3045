/*
 * persist.h - durable node state (durability: process-crash or power-loss):
 * the bridge between the node's memory and storage/store.h.
 *
 * Each worker collects the writes of one loop iteration (sessions, entries
 * for messages queued or in flight to persistent sessions, inbound QoS 2
 * packet ids, retained messages) and commits them as one LMDB transaction
 * in its prepare hook, before that iteration's output is written. Writes
 * from every client of the iteration share the commit (and its fsync in
 * power-loss mode).
 *
 * Acknowledgements that promise durability (PUBACK, PUBREC, PUBCOMP) wait
 * for it: an ack token is held by every worker that routed the message and
 * released after that worker's commit; when the last one lets go, the ack
 * is sent, in the order the packets arrived [MQTT-4.6.0-2].
 *
 * With durability none every function here is a no-op and acks go at once.
 */
#ifndef TERN_PERSIST_H
#define TERN_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

struct conn;
struct delivery;
struct msg;
struct session;
struct ack_token;

static inline bool persist_on(const struct tern_node *n)
{
	return n->store != NULL;
}

/* Opens the store under data_dir if durability is on. Control thread. */
int persist_open(struct tern_node *n, char *err, size_t errlen);

/*
 * Rebuilds every stored session on its owner worker (subscriptions,
 * queued and in-flight messages, QoS 2 ids, will, expiry with the time
 * spent down counted). Call after the workers are initialised and before
 * their threads run. Returns the number of sessions recovered.
 */
int persist_recover(struct tern_node *n);

/* Closes the store (after the workers stopped). */
void persist_close(struct tern_node *n);

/* ---- writes (worker thread) -------------------------------------- */

/* Stores the session's state (subscriptions, expiry, will). */
void persist_session(struct session *s);
/* Forgets the session and everything stored for it. */
void persist_session_del(struct session *s);
/* A delivery to a persistent session was created / changed / ended. */
void persist_entry_put(struct session *s, struct delivery *d);
void persist_entry_update(struct session *s, struct delivery *d);
void persist_entry_del(struct session *s, struct delivery *d);
/* Inbound QoS 2 packet id added (true) or released (false). */
void persist_qos2(struct session *s, uint16_t pid, bool add);
/* A retained message: put, or delete when its payload is empty. */
void persist_retained(struct worker *w, struct msg *m);

/*
 * Commits the worker's batch and releases the ack tokens waiting on it.
 * Called from the worker's prepare hook, before output is flushed.
 */
void persist_commit(struct worker *w);

/* Retained lookups and changes served by the store (see retain.h). */
int persist_retained_now(struct tern_node *n, struct msg *m);
int persist_retained_collect(struct tern_node *n, const char *filter,
			     size_t len, uint64_t now_ms, struct msg ***out);
size_t persist_retained_count(struct tern_node *n);

/* ---- acknowledgements --------------------------------------------- */

/*
 * A PUBACK / PUBREC / PUBCOMP for c that must wait for durability. Queued
 * on c in arrival order; returns NULL when durability is off or out of
 * memory (then send the ack at once).
 */
struct ack_token *ack_token_new(struct conn *c, uint8_t type, uint16_t pid);

/* Worker w's current batch must commit before the ack (any worker). */
void ack_token_hold(struct worker *w, struct ack_token *t);

/* For router_publish: another worker will hold t too (take a reference). */
struct ack_token *ack_token_share(struct ack_token *t);

/* Drops a reference taken by ack_token_new / ack_token_share. */
void ack_token_put(struct ack_token *t);

/* The connection closes: its pending acks are dropped. */
void ack_tokens_drop(struct conn *c);

/* Inbox message: the token's last holder let go (publisher's worker). */
void ack_token_done(struct worker *w, struct ack_token *t);

#endif
