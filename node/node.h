/*
 * node.h - one broker node: its config, its worker loops and the state they
 * share. main.c builds exactly one struct tern_node and passes it down; there
 * are no mutable globals, so tests could run several nodes in one process.
 *
 * Threads: the control thread (main) runs signals and, later, admin and
 * cluster; each worker runs one libuv loop with its own listeners,
 * connections, sessions and subscription index. Workers talk only through
 * their inboxes (worker_post). Sessions are pinned: a client id always lives
 * on worker hash(client id) % n_workers, so takeover and no-local stay local
 * to one thread.
 */
#ifndef TERN_NODE_H
#define TERN_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "mpsc.h"
#include "strmap.h"

struct msg;
struct conn;
struct session;
struct retain_store;
struct tls_ctx;
struct store;
struct persist_batch;
struct subtree;
struct admin;
struct auth;
struct auth_limit;
struct acl;
struct auth_jwt;
struct auth_ldap;
struct oauth;
struct users;

/*
 * Counters of one worker. Only the owning worker writes them (relaxed
 * load+store, no locked instruction); anyone may read them.
 */
struct worker_stats {
	_Atomic uint64_t msgs_in;
	_Atomic uint64_t msgs_out;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t dropped_queue_full;
	_Atomic uint64_t dropped_qos0_backlog;
	/* bytes of QoS 0 messages queued for slow subscribers of this loop
	 * (bounded by max_qos0_backlog) */
	_Atomic uint64_t qos0_backlog;
	/* bytes handed to libuv and not yet written to the socket */
	_Atomic uint64_t out_pending;
	_Atomic uint64_t dropped_expired;
	_Atomic uint64_t dropped_too_large;
	_Atomic uint64_t connects;
	_Atomic uint64_t clients_connected;
	_Atomic uint64_t sessions;
	_Atomic uint64_t subscriptions;
	_Atomic uint64_t protocol_errors;
	_Atomic uint64_t msgs_in_qos[3];
	_Atomic uint64_t msgs_out_qos[3];
	_Atomic uint64_t disconnects;
	_Atomic uint64_t conns_by_listener[TERN_MAX_LISTENERS]; /* open */
	_Atomic uint64_t tls_handshake_failures;
	_Atomic uint64_t ws_upgrade_failures;
	_Atomic uint64_t proxy_failures; /* bad or missing PROXY headers */
	_Atomic uint64_t auth_successes;
	_Atomic uint64_t auth_failures;
	_Atomic uint64_t auth_throttled; /* CONNECTs refused by auth_limit.c */
	_Atomic uint64_t acl_denied; /* publishes, subscriptions, wills */
	_Atomic uint64_t inflight; /* QoS 1/2 messages awaiting the client */
	_Atomic uint64_t queued;   /* messages in session queues */
	_Atomic uint64_t store_commits;
	_Atomic uint64_t store_failures; /* commits refused (map full...) */
};

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(
		c, atomic_load_explicit(c, memory_order_relaxed) + n,
		memory_order_relaxed);
}

static inline void stat_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(
		c, atomic_load_explicit(c, memory_order_relaxed) - n,
		memory_order_relaxed);
}

static inline uint64_t stat_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* One match of a publish against a session, merged over its filters. */
struct route_match {
	struct session *s;
	uint8_t qos;
	bool rap;
	uint8_t n_sub_ids;
	uint32_t sub_ids[8];
};

struct worker {
	struct tern_node *node;
	uint32_t id;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t wake;
	uv_prepare_t flush;
	uv_timer_t tick;
	struct mpsc inbox;

	uv_tcp_t listeners[TERN_MAX_LISTENERS];
	unsigned n_listeners;

	struct subtree *subs;      /* local sessions' subscriptions */
	struct strmap sessions;    /* client id -> struct session */
	struct strmap shares;      /* "group\0filter" -> shared group (owner) */
	struct conn *conns;        /* every connection of this loop */
	/* connections with output to flush (an array: one link less in
	 * every connection) */
	struct conn **dirty;
	uint32_t n_dirty, cap_dirty;

	uint64_t match_gen;
	struct route_match *matches;
	size_t n_matches, cap_matches;

	uint8_t *rbuf; /* shared read buffer of the loop */
	/* the packet being handled: its first byte and the bytes from there
	 * to the end of the read data (valid inside a handler; conn_handoff
	 * passes them on) */
	const uint8_t *cur;
	size_t cur_avail;
	struct persist_batch *pb; /* writes of this iteration (persist.c) */
	_Atomic uint64_t inbox_depth; /* messages posted, not yet handled */
	_Atomic uint64_t persistent; /* sessions whose state is stored */
	/* publishers paused by backpressure (rare: an array, not a link in
	 * every connection) */
	struct conn **paused;
	uint32_t n_paused, cap_paused;
	/* output buffers between uses (conn.c), kept with their memory */
	struct outbuf *out_free;
	uint32_t n_out_free;
	bool running;
	bool stopping;
	struct worker_stats stats;
};

struct tern_node {
	struct tern_config cfg;
	struct worker *workers;
	uint32_t n_workers;
	struct retain_store *retain;
	struct tls_ctx *tls; /* NULL without TLS listeners */
	struct store *store; /* NULL with durability none */
	_Atomic uint64_t next_msg_id; /* ids of stored message bodies */
	_Atomic uint64_t next_seq;    /* ids of stored entries */
	uv_loop_t *ctl_loop;
	uint64_t start_wall; /* unix seconds at start */
	uint64_t sys_last;   /* worker 0 only: last $SYS publication */
	_Atomic uint64_t n_conns; /* open connections, for max_connections */
	_Atomic uint64_t clients_total;
	_Atomic uint32_t workers_stopped;
	struct admin *admin; /* admin.c: the admin HTTP server, or NULL */
	struct auth *auth;   /* auth.c: password file, or NULL */
	/* auth_limit.c: failed-authentication buckets, or NULL (off) */
	struct auth_limit *auth_limit;
	struct acl *acl;     /* acl_node.c: acl_file, or NULL (all allowed) */
	struct auth_jwt *jwt; /* auth_jwt.c: JWT keys, or NULL */
	struct auth_ldap *ldap; /* auth_ldap.c: LDAP provider, or NULL */
	struct oauth *oauth;  /* oauth.c: token endpoint, or NULL */
	struct users *users;  /* users.c: the user store, or NULL (no store) */
};

/* Monotonic milliseconds of the worker's loop (cached per iteration). */
static inline uint64_t worker_now(struct worker *w)
{
	return uv_now(&w->loop);
}

/* Worker that owns client id (the pinning rule). */
uint32_t node_worker_for(const struct tern_node *n, const char *id,
			 size_t len);

#endif
