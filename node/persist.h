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
 * is sent, in the order the packets arrived [MQTT-4.6.0-2]. The
 * deliveries of such a message wait for the same commit on each of those
 * workers, and are dropped if it fails (persist_hold_begin).
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
struct store_retained_pos;

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
 * Commits the worker's batch, then places or drops the deliveries it held
 * and releases the ack tokens waiting on it. Called from the worker's
 * prepare hook, before output is flushed.
 */
void persist_commit(struct worker *w);

/* ---- deliveries held until the commit ------------------------------ */

/*
 * A message whose acknowledgement waits for durability (it carries an ack
 * token) is routed between persist_hold_begin and persist_hold_end. Every
 * delivery session_deliver makes meanwhile on w is held by w's batch
 * (persist_hold) instead of being sent or queued. persist_commit places
 * the QoS 1/2 ones in their sessions first (session_place_held: in flight
 * or queued, as session_deliver would have; their stored entries join the
 * commit), commits, and then sends them and places the QoS 0 ones, or, if
 * the commit failed, takes them back out and drops them
 * (session_settle_held): a message refused with 0x97 reaches no
 * subscriber on this worker. They go out in the same loop iteration: the
 * commit comes before the flush.
 *
 * tok: the publisher's token on the publisher's worker (its refusal then
 * also frees an inbound QoS 2 packet id), NULL on the other workers. No
 * nesting. Worker thread.
 */
void persist_hold_begin(struct worker *w, struct ack_token *tok);
void persist_hold_end(struct worker *w);
bool persist_holding(const struct worker *w);

/*
 * Holds d (a new delivery to s, in no list; taken) until w's commit. Out
 * of memory: d is placed at once.
 */
void persist_hold(struct session *s, struct delivery *d);

/* s is being freed: the deliveries held for it are dropped. */
void persist_hold_forget(struct session *s);

/* Retained lookups and changes served by the store (see retain.h). */
int persist_retained_now(struct tern_node *n, struct msg *m);
int persist_retained_collect(struct tern_node *n, const char *filter,
			     size_t len, uint64_t now_ms, struct msg ***out);
size_t persist_retained_count(struct tern_node *n);

/*
 * One chunk of the retained messages matching filter that have not
 * expired at now_ms, read from the store after *pos (which it advances;
 * zeroed: from the start): at most `max` messages, fewer once their sizes
 * add up to max_bytes. out (room for max) gets *count new references.
 * Returns 1 when more may follow, 0 when the scan is complete, or an error
 * (TERN_EIO; out is then empty). Any thread.
 */
int persist_retained_chunk(struct tern_node *n, const char *filter,
			   size_t len, uint64_t now_ms,
			   struct store_retained_pos *pos, struct msg **out,
			   size_t max, size_t max_bytes, size_t *count);

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
