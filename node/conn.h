/*
 * conn.h - one client connection on a worker loop: socket I/O, the read
 * buffer, packet framing, batched writes, keepalive and close.
 *
 * Bytes go socket -> conn_on_read -> mqtt_decode -> handler (handle_*.c).
 * Output is encoded into the connection's out buffer and written once per
 * loop iteration (worker's prepare hook) with one uv_write of several
 * buffers; message payloads are referenced from the shared struct msg, not
 * copied, when they are large.
 */
#ifndef TERN_CONN_H
#define TERN_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "mqtt.h"
#include "node.h"
#include "strmap.h"

struct msg;
struct conn;
struct ack_token;
struct auth_job;
struct auth_ldap_job;
struct auth_scram;
struct retain_stream;
struct acl_subject;

/*
 * A byte-stream layer between the socket and MQTT (TLS, WebSocket). Layers
 * are stacked bottom (0, next to the socket) to top; plain TCP has none.
 * Every callback runs on the connection's worker loop.
 */
struct transport_ops {
	const char *name;
	/*
	 * Bytes from below (the socket or layer-1). Hand what the layer
	 * produces for above to conn_up(c, layer, ...) and anything it must
	 * answer itself (handshakes, pongs) to conn_down(c, layer, ...).
	 * Returns 0, or a negative tern_err to close the connection.
	 */
	int (*input)(struct conn *c, unsigned layer, const uint8_t *data,
		     size_t len);
	/* MQTT bytes going down: transform and conn_down() all of them. */
	int (*output)(struct conn *c, unsigned layer, const uv_buf_t *bufs,
		      unsigned n);
	/*
	 * conn_close is ending the connection; the MQTT bytes are flushed.
	 * Send the layer's own goodbye (WebSocket close frame, TLS
	 * close_notify) with conn_down. Called top layer first. Optional.
	 */
	void (*close)(struct conn *c, unsigned layer);
	/* The connection moved to another worker's loop (CONNECT hand-off). */
	void (*rebind)(struct conn *c, unsigned layer);
	/* Frees the layer's state. */
	void (*free)(void *state);
};

#define CONN_MAX_LAYERS 2

struct conn_layers {
	unsigned n;
	const struct transport_ops *ops[CONN_MAX_LAYERS];
	void *state[CONN_MAX_LAYERS];
};

struct conn_aliases {
	char **in;            /* client->server, index = alias - 1 */
	uint16_t in_n;
	uint16_t out_next;    /* server->client: last alias given */
	struct strmap out;    /* topic -> alias */
};

/* The connection's alias tables, created on first use; NULL on ENOMEM. */
struct conn_aliases *conn_aliases(struct conn *c);

/*
 * What only some connections need, allocated on first use (conn_ext) and
 * freed with the connection, so that an idle client carries one pointer
 * for all of it (idle memory per connection is a tracked figure).
 */
struct conn_ext {
	/* topic aliases, allocated on first use (most clients never use
	 * them) */
	struct conn_aliases *aliases;
	struct ack_token *acks, *acks_tail; /* acks waiting for durability */
	/* retained messages still to send after SUBSCRIBEs (retain_stream.c);
	 * while set, every write ends with a callback that continues it */
	struct retain_stream *retained;
	/* authentication under way (freed with it; conn_ext_trim gives the
	 * extension back once the CONNECT is through) */
	struct auth_job *auth_job; /* password verification (auth.c) */
	/* LDAP bind in flight, or its answer until the CONNECT is handled
	 * again (auth_ldap.c) */
	struct auth_ldap_job *ldap_job;
	struct auth_scram *scram; /* SCRAM exchange (auth_scram.c) */
};

/* A field of c's extension, or NULL without one. */
#define CONN_EXT(c, field) ((c)->x ? (c)->x->field : NULL)

/* c's extension, created on first use; NULL on ENOMEM. */
struct conn_ext *conn_ext(struct conn *c);

/* Frees c's extension if nothing in it is in use. */
void conn_ext_trim(struct conn *c);

enum conn_name_src {
	CONN_NAME_NONE = 0,
	CONN_NAME_CERT, /* tls_username_from */
	CONN_NAME_TOKEN, /* JWT username claim */
	CONN_NAME_STORE, /* a user of the user store (users.h) */
	CONN_NAME_SCRAM, /* SCRAM-SHA-256 username (auth_scram.h) */
};

enum conn_state {
	CONN_NEW = 0,   /* waiting for CONNECT */
	CONN_ACTIVE,    /* CONNACK sent */
	CONN_CLOSING,   /* no more input handled */
};

struct outseg {
	const uint8_t *ext; /* NULL: arena bytes at off */
	uint32_t off;
	uint32_t len;
	struct msg *m;      /* reference held for ext */
};

/* Output waiting for the flush; taken from the worker's pool when the
 * first byte is queued and given back, memory and all, once written. */
struct outbuf {
	uint8_t *data;
	uint32_t len, cap;
	struct outseg *segs;
	uint32_t nsegs, capsegs;
	size_t bytes; /* in every segment, arena or not */
	struct outbuf *next_free;
};

struct conn {
	uv_tcp_t tcp;
	/* pointers first, then by size: an idle connection's size matters
	 * (one of these per client) */
	struct worker *w;
	struct conn *prev, *next; /* worker's list */
	struct session *s;
	struct conn_rbuf *rb; /* partial packet kept between reads */
	struct outbuf *out; /* NULL: nothing to write */
	struct conn_layers *xl; /* NULL: plain TCP */
	struct conn_ext *x; /* what few connections need, or NULL */
	/* the user a credential established (malloc'd): the TLS client
	 * certificate's name or a JWT's username claim; auth_name_src says
	 * which (enum conn_name_src) */
	char *auth_name;
	struct acl_subject *acl; /* who it is, for the ACL; NULL: no ACL */
	uint64_t deadline; /* ms: connect timeout, then keepalive */
	/* what the client accepts (MQTT 5 CONNECT properties) */
	uint32_t max_packet;
	uint32_t token_exp;    /* JWT exp (Unix seconds); 0: none */
	uint16_t keepalive;
	uint16_t receive_max;
	uint16_t alias_max;
	uint8_t listener;     /* index in cfg.listeners */
	uint8_t state;
	uint8_t version;
	uint8_t auth_verdict; /* auth.h enum auth_verdict; 0: none yet */
	uint8_t auth_name_src; /* enum conn_name_src */
	/* flags as bits: an idle connection's size matters */
	bool dirty : 1;
	bool disconnect_sent : 1;
	bool moved : 1;     /* handed to another worker */
	bool paused : 1;    /* reading stopped by backpressure */
	bool in_close : 1;  /* conn_close is running */
	bool published : 1; /* a PUBLISH was handled in this read */
	bool problem_info : 1;
	bool held : 1; /* CONNECT waits for auth: input kept, not handled */
	bool acl_logged : 1; /* an ACL denial was logged at info */
	bool auth_jwt_method : 1; /* CONNECT used enhanced auth "JWT" */
	bool auth_store : 1; /* auth_name is a user of the user store (for
			      * SCRAM logins: CONN_NAME_STORE says so
			      * for the others) */
	char peer[48]; /* "[v6 address]:port" fits */
};

/* The retained messages c still has to send, or NULL. */
static inline struct retain_stream *conn_retained(const struct conn *c)
{
	return c->x ? c->x->retained : NULL;
}

/* Frees w's pool of output buffers (worker teardown). */
void conn_outbufs_free(struct worker *w);

/* Segments c has queued for the next flush. */
static inline uint32_t conn_out_segs(const struct conn *c)
{
	return c->out ? c->out->nsegs : 0;
}

/* Accepts a pending connection on listener `idx` of worker w. */
void conn_accept(struct worker *w, uv_stream_t *server, unsigned idx);

/*
 * Adopts a socket handed over by another worker with the bytes already read
 * from it (starting at its CONNECT). Takes fd and bytes (freed here).
 */
void conn_adopt(struct worker *w, int fd, uint8_t *bytes, size_t len,
		unsigned listener, const char *peer, struct conn_layers *xl);

/* Pushes a layer on top of the connection's stack (takes state). */
int conn_add_layer(struct conn *c, const struct transport_ops *ops,
		   void *state);

/* Frees a layer stack and every layer's state. NULL is fine. */
void conn_layers_free(struct conn_layers *xl);

/* Bytes produced by `layer` for the layer above it (or for MQTT). */
int conn_up(struct conn *c, unsigned layer, const uint8_t *data, size_t len);

/* Bytes produced by `layer` for the layer below it (or the socket). Copies. */
int conn_down(struct conn *c, unsigned layer, const uv_buf_t *bufs,
	      unsigned n);

/*
 * Hands the connection to worker `to` (its CONNECT is reprocessed there).
 * The conn is closed here; w->cur..cur_avail are the bytes passed on,
 * with the transport layers (their state moves, it is not copied).
 */
int conn_handoff(struct conn *c, uint32_t to);

/*
 * Holds the connection from inside the handler of its current packet: that
 * packet and every byte after it are kept unhandled and reading stops,
 * until conn_release handles them again (auth.c, while a password is
 * verified off the loop). Worker thread.
 */
void conn_hold(struct conn *c);

/* Ends a hold: reads again and handles the kept bytes. No-op if closing. */
void conn_release(struct conn *c);

/* Encodes a control packet for the connection's version. */
void conn_send(struct conn *c, const struct mqtt_packet *pkt);

/*
 * Sends one PUBLISH of message m. Applies the topic alias policy and the
 * client's maximum packet size (returns TERN_ETOOLARGE, nothing sent).
 */
int conn_send_publish(struct conn *c, struct msg *m, uint8_t qos, bool dup,
		      bool retain, uint16_t pid, const uint32_t *sub_ids,
		      uint8_t n_sub_ids);

/* True while the socket keeps up (pending output under the limit). */
bool conn_writable(const struct conn *c);

/*
 * Closes the connection. reason >= 0x80 is sent as a DISCONNECT to an MQTT 5
 * client that completed CONNECT (once). `abnormal` decides the will: true
 * for anything but a client's DISCONNECT. Idempotent.
 */
void conn_close(struct conn *c, uint8_t reason, bool abnormal);

/* Closes the handle now, whatever is pending (shutdown grace over). */
void conn_force_close(struct conn *c);

/*
 * Commits the worker's writes now so acks waiting for them go out before a
 * DISCONNECT the broker is about to send (durability on; else no-op).
 */
void conn_settle_acks(struct conn *c);

/* Resumes reading on every connection paused by backpressure. */
void conn_resume_all(struct worker *w);

/* Writes out c's output now (when it cannot wait for the flush). */
void conn_flush_now(struct conn *c);

/* Writes out every dirty connection of the worker. */
void conn_flush_all(struct worker *w);

/* Keepalive and connect-timeout check for every connection. */
void conn_sweep(struct worker *w, uint64_t now);

#endif
