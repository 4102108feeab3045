/*
 * router.h - where a publish goes, and the subscription side of it.
 *
 * router_publish() runs on the publisher's worker: retained store, local
 * sessions, every other worker (each matches its own sessions), and the
 * cluster seam (cluster_forward_publish: nothing on a single node).
 * Shared subscriptions: each group $share/G/F has one owner worker
 * (hash of G and F); members join it through the inbox, and the owner picks
 * one member per message, round robin.
 */
#ifndef TERN_ROUTER_H
#define TERN_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

struct msg;
struct session;

struct ack_token;

/*
 * Routes m (borrowed) from worker w, where it was published. With tok (an
 * ack waiting for durability), every other worker holds it until its
 * writes for m are committed.
 */
void router_publish(struct worker *w, struct msg *m, struct ack_token *tok);

/* Delivers m (borrowed) to the matching sessions of w only. */
void router_route_local(struct worker *w, struct msg *m);

/*
 * Subscribes s to `filter` (may be $share/G/F) with options and id. Returns
 * the SUBACK reason code (granted QoS or an error code). *existed is set when
 * the subscription replaced one (retain handling 1 needs it).
 */
uint8_t router_subscribe(struct worker *w, struct session *s,
			 const char *filter, size_t len, uint8_t opts,
			 uint32_t sub_id, bool *existed);

/* Returns the UNSUBACK reason code (0x00 or 0x11). */
uint8_t router_unsubscribe(struct worker *w, struct session *s,
			   const char *filter, size_t len);

/* Drops every subscription of s (session end). */
void router_unsubscribe_all(struct worker *w, struct session *s);

/* Inbox handlers (worker.c calls them). */
void router_share_join(struct worker *w, const char *group, size_t glen,
		       const char *filter, size_t flen, const char *client,
		       size_t clen, uint32_t member_worker, uint8_t opts,
		       uint32_t sub_id);
void router_share_leave(struct worker *w, const char *group, size_t glen,
			const char *filter, size_t flen, const char *client,
			size_t clen);
void router_deliver_to(struct worker *w, struct msg *m, const char *client,
		       size_t clen, uint8_t qos, bool rap, uint32_t sub_id);

/* Frees the shared groups owned by w (shutdown). */
void router_free_shares(struct worker *w);

#endif
