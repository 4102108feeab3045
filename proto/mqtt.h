/*
 * mqtt.h - MQTT 3.1, 3.1.1 and 5.0 packet codec.
 *
 * The codec owns the wire format and nothing else: it never allocates, never
 * routes, and never looks at a socket. Decoded packets are views into the
 * caller's buffer (struct mqtt_str points into it) and stay valid as long as
 * that buffer does. Every field of every packet type is decoded and encoded in
 * both directions, so the same code serves the broker, the benchmark client
 * and the tests.
 *
 * Validation done here (so handlers can trust what they get):
 *  - fixed header flags, remaining length (at most 4 bytes, minimal is not
 *    required by the spec), the declared length against max_packet_size;
 *  - every length-prefixed field lies inside the packet and nothing trails it
 *    (except where the spec allows: PUBLISH payload, CONNECT fields);
 *  - UTF-8 strings are well formed, have no U+0000 and no surrogates
 *    [MQTT-1.5.4-1] [MQTT-1.5.4-2];
 *  - MQTT 5 properties: identifier valid for the packet type, value in range,
 *    no duplicates except User Property (and Subscription Identifier in a
 *    server-to-client PUBLISH);
 *  - packet-specific rules: CONNECT reserved flag and will flags, QoS 3,
 *    packet identifier 0 where one is required, SUBSCRIBE with no filter,
 *    reserved subscription option bits, ...
 * Topic name/filter syntax (wildcards) is checked by topic.h, not here.
 */
#ifndef TERN_MQTT_H
#define TERN_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern_err.h"

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15,
};

/* Protocol level byte of CONNECT. */
enum mqtt_version {
	MQTT_V31 = 3,  /* "MQIsdp" */
	MQTT_V311 = 4, /* "MQTT" */
	MQTT_V5 = 5,   /* "MQTT" */
};

/* MQTT 5 reason codes (also used as v3 CONNACK return codes where noted). */
enum mqtt_rc {
	MQTT_RC_SUCCESS = 0x00,
	MQTT_RC_GRANTED_QOS1 = 0x01,
	MQTT_RC_GRANTED_QOS2 = 0x02,
	MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQTT_RC_CONTINUE_AUTH = 0x18,
	MQTT_RC_REAUTHENTICATE = 0x19,
	MQTT_RC_UNSPECIFIED = 0x80,
	MQTT_RC_MALFORMED = 0x81,
	MQTT_RC_PROTOCOL_ERROR = 0x82,
	MQTT_RC_IMPL_SPECIFIC = 0x83,
	MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	MQTT_RC_CLIENT_ID_INVALID = 0x85,
	MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
	MQTT_RC_NOT_AUTHORIZED = 0x87,
	MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	MQTT_RC_SERVER_BUSY = 0x89,
	MQTT_RC_BANNED = 0x8A,
	MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
	MQTT_RC_BAD_AUTH_METHOD = 0x8C,
	MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
	MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
	MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
	MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	MQTT_RC_PACKET_ID_IN_USE = 0x91,
	MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	MQTT_RC_PACKET_TOO_LARGE = 0x95,
	MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	MQTT_RC_QUOTA_EXCEEDED = 0x97,
	MQTT_RC_ADMIN_ACTION = 0x98,
	MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
	MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
	MQTT_RC_SERVER_MOVED = 0x9D,
	MQTT_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
	MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	MQTT_RC_MAX_CONNECT_TIME = 0xA0,
	MQTT_RC_SUB_ID_NOT_SUPPORTED = 0xA1,
	MQTT_RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1/3.1.1 CONNACK return codes. */
enum mqtt_v3_connack {
	MQTT_V3_ACCEPTED = 0,
	MQTT_V3_BAD_VERSION = 1,
	MQTT_V3_ID_REJECTED = 2,
	MQTT_V3_SERVER_UNAVAILABLE = 3,
	MQTT_V3_BAD_USER_OR_PASSWORD = 4,
	MQTT_V3_NOT_AUTHORIZED = 5,
};

/* MQTT 5 property identifiers. */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
	MQTT_PROP_SESSION_EXPIRY = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
	MQTT_PROP_AUTH_METHOD = 0x15,
	MQTT_PROP_AUTH_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	MQTT_PROP_WILL_DELAY = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	MQTT_PROP_RESPONSE_INFO = 0x1A,
	MQTT_PROP_SERVER_REFERENCE = 0x1C,
	MQTT_PROP_REASON_STRING = 0x1F,
	MQTT_PROP_RECEIVE_MAX = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAX_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER = 0x26,
	MQTT_PROP_MAX_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Bit for property id in mqtt_props.present. */
#define MQTT_PROP_BIT(id) (UINT64_C(1) << (id))

/* A length-prefixed string or binary field: a view, not NUL-terminated. */
struct mqtt_str {
	const uint8_t *p;
	uint32_t len;
};

struct mqtt_user_prop {
	struct mqtt_str key;
	struct mqtt_str val;
};

/*
 * MQTT 5 properties of one packet (or of the will in CONNECT).
 *
 * Decoding fills the scalar fields and sets the bit of every property seen in
 * `present`. User properties are not copied out: `raw`/`raw_len` is the
 * property block as received, and mqtt_props_next_user() walks it in order.
 * A decoded PUBLISH may carry several Subscription Identifiers (only
 * server-to-client): `sub_id` is the first, `sub_id_count` how many; the rest
 * are reachable through mqtt_props_next_sub_id().
 *
 * Encoding writes every property whose bit is set in `present` (except
 * MQTT_PROP_USER and MQTT_PROP_SUBSCRIPTION_ID, see below), in ascending
 * identifier order, then:
 *  - the Subscription Identifiers in `sub_ids[0..sub_id_count)` if `sub_ids`
 *    is non-NULL, else `sub_id` if its bit is set;
 *  - the user properties in `user[0..user_count)`;
 *  - then `user_raw[0..user_raw_len)` verbatim (already-encoded properties,
 *    e.g. the user properties of a message being forwarded).
 */
struct mqtt_props {
	uint64_t present;
	/* as received (decode only): the whole property block */
	const uint8_t *raw;
	uint32_t raw_len;

	uint8_t payload_format;
	uint32_t message_expiry;
	struct mqtt_str content_type;
	struct mqtt_str response_topic;
	struct mqtt_str correlation_data;
	uint32_t sub_id;
	uint32_t session_expiry;
	struct mqtt_str assigned_client_id;
	uint16_t server_keep_alive;
	struct mqtt_str auth_method;
	struct mqtt_str auth_data;
	uint8_t request_problem_info;
	uint32_t will_delay;
	uint8_t request_response_info;
	struct mqtt_str response_info;
	struct mqtt_str server_reference;
	struct mqtt_str reason_string;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint8_t max_qos;
	uint8_t retain_available;
	uint32_t max_packet_size;
	uint8_t wildcard_sub_available;
	uint8_t sub_id_available;
	uint8_t shared_sub_available;

	/* decode: number of user properties and subscription ids seen */
	uint16_t user_count;
	uint16_t sub_id_count;

	/* encode only */
	const struct mqtt_user_prop *user;
	const uint32_t *sub_ids;
	const uint8_t *user_raw;
	uint32_t user_raw_len;
};

/* Subscription options byte of a SUBSCRIBE entry. */
#define MQTT_SUBOPT_QOS(o) ((o)&0x03)
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RAP 0x08 /* retain as published */
#define MQTT_SUBOPT_RH(o) (((o) >> 4) & 0x03) /* retain handling */

struct mqtt_connect {
	uint8_t version; /* enum mqtt_version */
	bool clean_start;
	uint16_t keepalive;
	struct mqtt_props props;
	struct mqtt_str client_id;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	struct mqtt_props will_props;
	struct mqtt_str will_topic;
	struct mqtt_str will_payload;
	bool has_username;
	struct mqtt_str username;
	bool has_password;
	struct mqtt_str password;
};

struct mqtt_connack {
	bool session_present;
	uint8_t reason; /* v5 reason code, or v3 return code */
	struct mqtt_props props;
};

struct mqtt_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	struct mqtt_str topic; /* may be empty in v5 when a topic alias is set */
	uint16_t packet_id;    /* 0 for QoS 0 */
	struct mqtt_props props;
	struct mqtt_str payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t reason;
	struct mqtt_props props;
};

struct mqtt_sub_entry {
	struct mqtt_str filter;
	uint8_t opts; /* SUBSCRIBE: options byte; UNSUBSCRIBE: 0 */
};

/*
 * SUBSCRIBE and UNSUBSCRIBE. Decode: `entries_raw` is the payload; walk it
 * with mqtt_sub_next(). Encode: `entries[0..count)`.
 */
struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_props props;
	uint16_t count;
	const uint8_t *entries_raw;
	uint32_t entries_len;
	const struct mqtt_sub_entry *entries;
};

/* SUBACK and UNSUBACK: one reason code per filter (v3.1.1 UNSUBACK: none). */
struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_props props;
	uint16_t count;
	const uint8_t *reasons;
};

/* DISCONNECT and AUTH. */
struct mqtt_disconnect {
	uint8_t reason;
	struct mqtt_props props;
};

struct mqtt_packet {
	uint8_t type;  /* enum mqtt_type */
	uint8_t flags; /* low nibble of the fixed header */
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;
		struct mqtt_subscribe subscribe; /* also UNSUBSCRIBE */
		struct mqtt_suback suback;       /* also UNSUBACK */
		struct mqtt_disconnect disconnect; /* also AUTH */
	};
};

/*
 * Parses the fixed header at buf[0..len).
 * Returns 0 and sets *type, *flags, *remaining (remaining length) and
 * *header_len; TERN_ENEEDMORE if the header is incomplete; TERN_EMALFORMED if
 * the remaining length takes more than 4 bytes or the type is 0.
 */
int mqtt_decode_header(const uint8_t *buf, size_t len, uint8_t *type,
		       uint8_t *flags, uint32_t *remaining, uint32_t *header_len);

/*
 * Decodes one whole packet from buf[0..len).
 *
 * `version` is the connection's protocol version (enum mqtt_version); it is
 * ignored for CONNECT, whose own protocol level decides. `max_size` is the
 * largest whole packet accepted (0: the protocol maximum).
 *
 * Returns 0 and sets *out and *consumed (the packet's total length) on
 * success. Errors: TERN_ENEEDMORE (buf holds less than one packet; *consumed
 * untouched), TERN_ETOOLARGE (declared size > max_size, detectable as soon as
 * the fixed header is in), TERN_EMALFORMED, TERN_EPROTOCOL, and
 * TERN_EVERSION (CONNECT with an unknown protocol name or level). On
 * TERN_EVERSION out->connect.version holds the level that was read.
 * *out borrows from buf.
 */
int mqtt_decode(const uint8_t *buf, size_t len, uint8_t version,
		uint32_t max_size, struct mqtt_packet *out, size_t *consumed);

/* The MQTT 5 reason code that a decode error maps to (0x81, 0x82, 0x95...). */
uint8_t mqtt_err_reason(int err);

/*
 * Iterates the user properties of a decoded property block, in order.
 * Start with *cursor = 0. Returns true and sets *out while there are more.
 */
bool mqtt_props_next_user(const struct mqtt_props *props, uint32_t *cursor,
			  struct mqtt_user_prop *out);

/* Same for Subscription Identifiers. */
bool mqtt_props_next_sub_id(const struct mqtt_props *props, uint32_t *cursor,
			    uint32_t *out);

/* Iterates SUBSCRIBE / UNSUBSCRIBE entries of a decoded packet. */
bool mqtt_sub_next(const struct mqtt_packet *pkt, uint32_t *cursor,
		   struct mqtt_sub_entry *out);

/*
 * Encodes `pkt` for protocol `version` into out[0..cap).
 * Returns the packet's total size; if that exceeds cap nothing useful is
 * written, so callers may size with (NULL, 0) first. Properties are written
 * only for MQTT_V5. The PUBLISH payload is included. Returns 0 if the packet
 * cannot be represented (a field over 65535 bytes, a length over 268435455,
 * QoS 3, an unknown type, AUTH before 5.0).
 */
size_t mqtt_encode(const struct mqtt_packet *pkt, uint8_t version,
		   uint8_t *out, size_t cap);

/*
 * Encodes all of a PUBLISH except its payload (fixed header with the full
 * remaining length, topic, packet id, properties) so the payload can be sent
 * from a shared buffer. Returns the head's size (same cap contract as
 * mqtt_encode); *total gets the whole packet's size.
 */
size_t mqtt_encode_publish_head(const struct mqtt_packet *pkt,
				uint8_t version, uint8_t *out, size_t cap,
				size_t *total);

/* Encoded size of a property block (without its length prefix). */
size_t mqtt_props_size(const struct mqtt_props *props);

/* Writes a variable byte integer (v < 268435456); returns bytes written. */
size_t mqtt_vbi_encode(uint32_t v, uint8_t *out);
/* Its encoded size: 1 to 4. */
size_t mqtt_vbi_size(uint32_t v);

/*
 * Checks that s[0..len) is well-formed UTF-8 as MQTT requires: no U+0000,
 * no surrogates, no overlong forms, nothing above U+10FFFF.
 */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);

/* Name of a packet type ("PUBLISH"), for logs. */
const char *mqtt_type_name(uint8_t type);

#endif
