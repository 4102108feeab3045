/*
 * session.h - MQTT session state, owned by one worker: subscriptions, QoS
 * 1/2 in flight both ways, messages queued while offline or over the
 * client's receive maximum, the will, and expiry.
 *
 * A session outlives its connections (clean start 0 / session expiry > 0).
 * Its queue is bounded by max_queued_messages and max_queued_bytes; when full
 * a QoS 0 message goes first, and every drop is counted.
 */
#ifndef TERN_SESSION_H
#define TERN_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "node.h"

struct msg;
struct conn;
struct session_pids;

/* One message on its way to a session's client. */
struct delivery {
	struct delivery *next;
	struct msg *m;
	uint64_t seq; /* stored entry id; 0: not stored */
	uint16_t pid;
	uint8_t qos;
	uint8_t state; /* DELIVERY_* */
	bool retain;
	uint8_t n_sub_ids;
	uint32_t sub_ids[];
};

enum {
	DELIVERY_QUEUED = 0,
	DELIVERY_PUBLISHED, /* PUBLISH sent, waiting PUBACK / PUBREC */
	DELIVERY_RELEASED,  /* PUBREL sent, waiting PUBCOMP */
	DELIVERY_RESEND,    /* sent on an earlier connection, to send again */
};

struct session_sub {
	struct session_sub *next;
	uint8_t opts;
	uint32_t sub_id;
	uint16_t len;
	char *share; /* group name of a shared subscription, or NULL */
	char filter[];
};

struct session {
	/* ordered by size to keep padding out: one of these per client */
	struct worker *w;
	struct conn *conn; /* NULL while offline */
	struct msg *will;
	struct session_sub *subs;
	struct delivery *inflight, *inflight_tail;
	struct delivery *queue, *queue_tail;
	uint64_t *pid_map; /* packet ids in flight; built once many are */
	/* packet ids received at QoS 2, awaiting PUBREL; NULL: none yet */
	struct session_pids *qos2_in;
	uint64_t expire_at;  /* ms, while offline */
	uint64_t will_at;    /* ms; 0 = no pending will */
	uint64_t queued_bytes;
	uint64_t match_gen;
	uint32_t dropped;    /* messages dropped (queue full), for the API */
	uint32_t expiry;     /* seconds after disconnect; UINT32_MAX never */
	uint32_t n_subs;
	uint32_t n_queued;
	uint32_t match_idx;
	/* in flight: at most one per packet id */
	uint16_t n_inflight; /* including n_resend */
	uint16_t n_resend;
	uint16_t id_len;
	uint16_t next_pid;
	uint8_t version;
	bool persist; /* stored: durability on and expiry > 0 */
	char id[];    /* NUL-terminated, in the same allocation */
};

/* Creates an empty session registered on w. Returns NULL on ENOMEM. */
struct session *session_new(struct worker *w, const char *id, size_t len);

/* Sets whether the session's state is stored (counted per worker). */
void session_set_persist(struct session *s, bool on);

/* Unregisters and frees: subscriptions removed, queues dropped. */
void session_free(struct session *s);

/* Looks up the session of a client id on w. */
struct session *session_find(struct worker *w, const char *id, size_t len);

/*
 * Hands message m (borrowed; the session takes its own reference) to the
 * session at `qos` with the given retain flag and subscription ids: sent now
 * when the client is online and within its receive maximum, else queued.
 * While the worker holds deliveries until its commit (persist_holding),
 * the delivery is made now but held there instead.
 */
void session_deliver(struct session *s, struct msg *m, uint8_t qos,
		     bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids);

/*
 * Deliveries held until the worker's commit (persist.h, persist_hold).
 * Just before the commit, session_place_held puts a QoS 1/2 d where
 * session_deliver would have: in flight (packet id; its stored entry says
 * so, for a resend) or queued; it returns false when d was dropped
 * instead (queue full). After the commit, session_settle_held sends the
 * PUBLISH of a d put in flight, and sends or queues a QoS 0 one (ok), or
 * takes d back out and drops it (the commit failed).
 * session_held_drop frees a held d never placed (its session is being
 * freed). All take d.
 */
bool session_place_held(struct session *s, struct delivery *d);
void session_settle_held(struct session *s, struct delivery *d, bool ok);
void session_held_drop(struct delivery *d);

/*
 * Client acknowledgements. Return 0 or TERN_ENOTFOUND (no such packet id in
 * the matching state). A PUBREC with a reason code >= 0x80 ends the flow.
 */
int session_on_puback(struct session *s, uint16_t pid);
int session_on_pubrec(struct session *s, uint16_t pid, uint8_t reason);
int session_on_pubcomp(struct session *s, uint16_t pid);

/* After CONNACK: resend what is in flight (DUP), then send the queue. */
void session_resume(struct session *s);

/* Sends queued messages while the client has room. */
void session_drain(struct session *s);

/* The connection went away; abnormal decides whether the will goes out. */
void session_detach(struct session *s, bool abnormal);

/* Publishes the will now (if any) and clears it. */
void session_publish_will(struct session *s);

/*
 * Ends the session: its will (if any) is published, its subscriptions and
 * stored state go, and s is freed.
 */
void session_end(struct session *s);

/* Will delay and session expiry for every offline session of w. */
void session_sweep(struct worker *w, uint64_t now);

/* Inbound QoS 2 bookkeeping. */
uint32_t session_qos2_count(const struct session *s);
bool session_qos2_has(const struct session *s, uint16_t pid);
int session_qos2_add(struct session *s, uint16_t pid);
void session_qos2_del(struct session *s, uint16_t pid);

/* Records a subscription (replacing the same filter). */
int session_sub_put(struct session *s, const char *filter, size_t len,
		    const char *share, size_t share_len, uint8_t opts,
		    uint32_t sub_id, bool *existed);
/* Forgets it; returns 0 or TERN_ENOTFOUND. */
int session_sub_del(struct session *s, const char *filter, size_t len,
		    const char *share, size_t share_len);

#endif
