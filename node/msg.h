/*
 * msg.h - an application message as the broker routes it: immutable once
 * built, reference-counted, shared by every subscriber on every worker.
 *
 * One allocation holds the struct, the topic, the forwardable MQTT 5
 * properties (payload format, content type, response topic, correlation
 * data; user properties kept encoded, in the publisher's order) and the
 * payload. Per-delivery properties (topic alias, subscription identifiers,
 * remaining message expiry) are written by the sender, not stored here.
 */
#ifndef TERN_MSG_H
#define TERN_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt.h"

/*
 * The properties a PUBLISH forwards [MQTT-3.3.2-*]: views into the
 * message's own allocation. (A whole struct mqtt_props is 264 bytes; one
 * of these is kept per message in memory.)
 */
struct msg_props {
	uint64_t present; /* MSG_FWD_PROPS bits only */
	struct mqtt_str content_type;
	struct mqtt_str response_topic;
	struct mqtt_str correlation_data;
	const uint8_t *user_raw; /* user properties, encoded */
	uint32_t user_raw_len;
	uint8_t payload_format;
};

struct msg {
	atomic_uint refs;
	uint8_t qos;     /* as published */
	bool retain;     /* retain flag as published */
	uint16_t topic_len;
	uint32_t props_len;
	uint32_t payload_len;
	uint64_t expiry_at;   /* monotonic ms deadline; 0 = never expires */
	uint32_t expiry_interval; /* seconds, as published */
	uint32_t will_delay;  /* a will's Will Delay Interval (seconds) */
	_Atomic uint64_t store_id; /* id of the stored body; 0: not stored */
	const void *origin;   /* publishing session, compared for no-local */
	uint32_t origin_worker;
	char *topic;          /* NUL-terminated, in the same allocation */
	uint8_t *payload;
	/* forwardable properties; views into the same allocation */
	struct msg_props fwd; /* present, payload_format, content_type,
				* response_topic, correlation_data,
				* user_raw/user_raw_len */
};

/*
 * Builds a message from a decoded PUBLISH (or a will): copies the topic,
 * payload and forwardable properties. `topic` overrides pub->topic (topic
 * alias resolution). `now_ms` is the monotonic clock used for expiry.
 * Returns a new reference, or NULL when out of memory.
 */
struct msg *msg_new(const char *topic, size_t topic_len, uint8_t qos,
		    bool retain, const struct mqtt_props *props,
		    const uint8_t *payload, size_t payload_len, uint64_t now_ms);

static inline struct msg *msg_ref(struct msg *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

/* m's forwarded properties into *out (every other field zero). */
void msg_props_get(const struct msg *m, struct mqtt_props *out);

/* Drops a reference; frees on the last one. NULL is fine. */
void msg_unref(struct msg *m);

/* True if the message expired at now_ms. */
static inline bool msg_expired(const struct msg *m, uint64_t now_ms)
{
	return m->expiry_at && now_ms >= m->expiry_at;
}

/* Remaining expiry in whole seconds (rounded up) at now_ms; 0 if none. */
uint32_t msg_expiry_left(const struct msg *m, uint64_t now_ms);

/* Bytes this message accounts for in queue limits. */
static inline size_t msg_size(const struct msg *m)
{
	return sizeof(*m) + m->topic_len + m->props_len + m->payload_len + 1;
}

#endif
