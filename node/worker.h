/*
 * worker.h - a worker loop thread and its inbox.
 */
#ifndef TERN_WORKER_H
#define TERN_WORKER_H

#include "node.h"

struct msg;
struct conn_layers;

enum wmsg_kind {
	WMSG_PUBLISH = 1, /* route msg to local sessions */
	WMSG_DELIVER,     /* msg to one client (shared subscription pick) */
	WMSG_HANDOFF,     /* a connection whose client id lives here */
	WMSG_SHARE_JOIN,
	WMSG_SHARE_LEAVE,
	WMSG_CALL,        /* run fn(worker, arg) on the worker (admin) */
	WMSG_ACKDONE,     /* an ack token's last holder let go */
	WMSG_STOP,        /* phase 1: close clients, stop posting */
	WMSG_CLOSE,       /* phase 2: close the loop's own handles */
};

struct wmsg {
	struct mpsc_node node;
	uint8_t kind;
	uint8_t qos;
	bool rap;
	uint32_t worker;  /* member worker (share join) */
	uint32_t sub_id;
	uint8_t opts;
	int fd;
	unsigned listener;
	struct msg *m;
	struct ack_token *tok; /* PUBLISH: hold it; ACKDONE: it */
	struct conn_layers *xl; /* hand-off: transport state */
	void (*fn)(struct worker *w, void *arg); /* WMSG_CALL */
	void *arg;
	size_t len1, len2, len3;
	char peer[64];
	uint8_t data[]; /* strings (group, filter, client) or handoff bytes */
};

/* Creates worker loops, listeners, threads. Returns 0 or an error. */
int worker_start_all(struct tern_node *n);

/*
 * Sets up worker `id` of n (loop, inbox, trie, timers) without listeners or a
 * thread: worker_start_all uses it, and unit tests run the loop themselves.
 */
int worker_init(struct tern_node *n, struct worker *w, uint32_t id);

/* Frees what worker_init made; the loop must have no live handles left. */
void worker_destroy(struct worker *w);

/* Asks every worker to stop and joins the threads. */
void worker_stop_all(struct tern_node *n);

/* Allocates a message with `extra` data bytes. NULL on ENOMEM. */
struct wmsg *worker_msg_new(enum wmsg_kind kind, size_t extra);

/* Queues wm (taken) on worker `to`'s inbox and wakes it. Any thread. */
void worker_post(struct tern_node *n, uint32_t to, struct wmsg *wm);

/*
 * Runs fn(worker, arg) on worker `to`'s loop (admin queries, kicks). Any
 * thread. Returns 0 or TERN_ENOMEM. fn owns whatever arg needs freeing.
 */
int worker_call(struct tern_node *n, uint32_t to,
		void (*fn)(struct worker *w, void *arg), void *arg);

/*
 * True while some worker's inbox holds more than the high (low = false) or
 * low (low = true) mark: publishers pause reading until it drains.
 */
bool worker_congested(const struct tern_node *n, bool low);

/* Marks c to be flushed before the loop sleeps. */
void worker_mark_dirty(struct worker *w, struct conn *c);

#endif
