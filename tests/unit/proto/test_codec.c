/*
 * test_codec.c - round trips of every packet type through mqtt_encode and
 * mqtt_decode, for 3.1 (CONNECT), 3.1.1 and 5.0, with and without
 * properties. Golden bytes, VBI edges and stream behaviour are in
 * test_codec_wire.c; the malformed-packet table in test_codec_malformed.c.
 *
 * Every round trip also checks the encoder's sizing contract and that each
 * strict prefix of the encoded packet decodes to TERN_ENEEDMORE.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

/* ------------------------------------------------------------- helpers */

static struct mqtt_str str(const char *s)
{
	return (struct mqtt_str){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static struct mqtt_str bin(const void *p, uint32_t n)
{
	return (struct mqtt_str){(const uint8_t *)p, n};
}

/* Hex digits with optional spaces into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (const char *c = hex; *c; c++) {
		int v;
		if (*c >= '0' && *c <= '9')
			v = *c - '0';
		else if (*c >= 'a' && *c <= 'f')
			v = *c - 'a' + 10;
		else if (*c >= 'A' && *c <= 'F')
			v = *c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			cr_assert_lt(n, cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	cr_assert_eq(hi, -1, "odd number of hex digits in %s", hex);
	return n;
}

static void assert_str(struct mqtt_str got, struct mqtt_str want,
                       const char *what)
{
	cr_assert_eq(got.len, want.len, "%s: length %u, want %u", what, got.len,
	             want.len);
	if (want.len)
		cr_assert(memcmp(got.p, want.p, want.len) == 0,
		          "%s: content differs", what);
}

static void assert_bytes(const uint8_t *got, size_t glen, const uint8_t *want,
                         size_t wlen)
{
	cr_assert_eq(glen, wlen, "length %zu, want %zu", glen, wlen);
	for (size_t i = 0; i < wlen; i++)
		cr_assert_eq(got[i], want[i], "byte %zu: %02x, want %02x", i,
		             got[i], want[i]);
}

/*
 * `want` is an encode-side property set; `got` what the decoder made of
 * it. Compares every present scalar and string, user properties in order
 * and subscription identifiers in order.
 */
static void assert_props(const struct mqtt_props *got,
                         const struct mqtt_props *want)
{
	uint64_t present = want->present;
	uint16_t want_users = want->user ? want->user_count : 0;
	uint16_t want_subs = 0;

	if (want->sub_ids)
		want_subs = want->sub_id_count;
	else if (want->present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID))
		want_subs = 1;
	present &= ~(MQTT_PROP_BIT(MQTT_PROP_USER) |
	             MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID));
	if (want_users)
		present |= MQTT_PROP_BIT(MQTT_PROP_USER);
	if (want_subs)
		present |= MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	cr_assert_eq(got->present, present, "present %#llx, want %#llx",
	             (unsigned long long)got->present,
	             (unsigned long long)present);
	cr_assert_eq(got->raw_len, mqtt_props_size(want));

#define HAS(id) (present & MQTT_PROP_BIT(MQTT_PROP_##id))
#define EQ(id, f)                                                              \
	do {                                                                   \
		if (HAS(id))                                                   \
			cr_assert_eq(got->f, want->f, #f);                     \
	} while (0)
#define SEQ(id, f)                                                             \
	do {                                                                   \
		if (HAS(id))                                                   \
			assert_str(got->f, want->f, #f);                       \
	} while (0)
	EQ(PAYLOAD_FORMAT, payload_format);
	EQ(MESSAGE_EXPIRY, message_expiry);
	SEQ(CONTENT_TYPE, content_type);
	SEQ(RESPONSE_TOPIC, response_topic);
	SEQ(CORRELATION_DATA, correlation_data);
	EQ(SESSION_EXPIRY, session_expiry);
	SEQ(ASSIGNED_CLIENT_ID, assigned_client_id);
	EQ(SERVER_KEEP_ALIVE, server_keep_alive);
	SEQ(AUTH_METHOD, auth_method);
	SEQ(AUTH_DATA, auth_data);
	EQ(REQUEST_PROBLEM_INFO, request_problem_info);
	EQ(WILL_DELAY, will_delay);
	EQ(REQUEST_RESPONSE_INFO, request_response_info);
	SEQ(RESPONSE_INFO, response_info);
	SEQ(SERVER_REFERENCE, server_reference);
	SEQ(REASON_STRING, reason_string);
	EQ(RECEIVE_MAX, receive_max);
	EQ(TOPIC_ALIAS_MAX, topic_alias_max);
	EQ(TOPIC_ALIAS, topic_alias);
	EQ(MAX_QOS, max_qos);
	EQ(RETAIN_AVAILABLE, retain_available);
	EQ(MAX_PACKET_SIZE, max_packet_size);
	EQ(WILDCARD_SUB_AVAILABLE, wildcard_sub_available);
	EQ(SUB_ID_AVAILABLE, sub_id_available);
	EQ(SHARED_SUB_AVAILABLE, shared_sub_available);
#undef HAS
#undef EQ
#undef SEQ

	cr_assert_eq(got->user_count, want_users);
	uint32_t cur = 0;
	struct mqtt_user_prop up;
	for (uint16_t i = 0; i < want_users; i++) {
		cr_assert(mqtt_props_next_user(got, &cur, &up), "user %u", i);
		assert_str(up.key, want->user[i].key, "user key");
		assert_str(up.val, want->user[i].val, "user value");
	}
	cr_assert_not(mqtt_props_next_user(got, &cur, &up));

	cr_assert_eq(got->sub_id_count, want_subs);
	cur = 0;
	uint32_t sid;
	for (uint16_t i = 0; i < want_subs; i++) {
		uint32_t w = want->sub_ids ? want->sub_ids[i] : want->sub_id;
		cr_assert(mqtt_props_next_sub_id(got, &cur, &sid));
		cr_assert_eq(sid, w, "sub id %u: %u, want %u", i, sid, w);
		if (i == 0)
			cr_assert_eq(got->sub_id, w);
	}
	cr_assert_not(mqtt_props_next_sub_id(got, &cur, &sid));
}

static void assert_no_props(const struct mqtt_props *p)
{
	cr_assert_eq(p->present, 0);
	cr_assert_eq(p->raw_len, 0);
	cr_assert_eq(p->user_count, 0);
}

static void assert_packet(const struct mqtt_packet *got,
                          const struct mqtt_packet *want, uint8_t v)
{
	bool v5 = v == MQTT_V5;

	cr_assert_eq(got->type, want->type);
	switch (want->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *g = &got->connect,
		                          *w = &want->connect;
		cr_assert_eq(g->version, v);
		cr_assert_eq(g->clean_start, w->clean_start);
		cr_assert_eq(g->keepalive, w->keepalive);
		assert_str(g->client_id, w->client_id, "client id");
		cr_assert_eq(g->will, w->will);
		if (w->will) {
			cr_assert_eq(g->will_qos, w->will_qos);
			cr_assert_eq(g->will_retain, w->will_retain);
			assert_str(g->will_topic, w->will_topic, "will topic");
			assert_str(g->will_payload, w->will_payload,
			           "will payload");
		}
		cr_assert_eq(g->has_username, w->has_username);
		if (w->has_username)
			assert_str(g->username, w->username, "username");
		cr_assert_eq(g->has_password, w->has_password);
		if (w->has_password)
			assert_str(g->password, w->password, "password");
		if (v5) {
			assert_props(&g->props, &w->props);
			if (w->will)
				assert_props(&g->will_props, &w->will_props);
		} else {
			assert_no_props(&g->props);
			assert_no_props(&g->will_props);
		}
		break;
	}
	case MQTT_CONNACK:
		cr_assert_eq(got->connack.session_present,
		             want->connack.session_present);
		cr_assert_eq(got->connack.reason, want->connack.reason);
		if (v5)
			assert_props(&got->connack.props, &want->connack.props);
		else
			assert_no_props(&got->connack.props);
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *g = &got->publish,
		                          *w = &want->publish;
		cr_assert_eq(g->qos, w->qos);
		cr_assert_eq(g->dup, w->dup);
		cr_assert_eq(g->retain, w->retain);
		assert_str(g->topic, w->topic, "topic");
		cr_assert_eq(g->packet_id, w->qos ? w->packet_id : 0);
		assert_str(g->payload, w->payload, "payload");
		if (v5)
			assert_props(&g->props, &w->props);
		else
			assert_no_props(&g->props);
		break;
	}
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		cr_assert_eq(got->ack.packet_id, want->ack.packet_id);
		cr_assert_eq(got->ack.reason, v5 ? want->ack.reason : 0);
		if (v5)
			assert_props(&got->ack.props, &want->ack.props);
		else
			assert_no_props(&got->ack.props);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		const struct mqtt_subscribe *w = &want->subscribe;
		cr_assert_eq(got->subscribe.packet_id, w->packet_id);
		cr_assert_eq(got->subscribe.count, w->count);
		uint32_t cur = 0;
		struct mqtt_sub_entry e;
		for (uint16_t i = 0; i < w->count; i++) {
			cr_assert(mqtt_sub_next(got, &cur, &e));
			assert_str(e.filter, w->entries[i].filter, "filter");
			cr_assert_eq(e.opts, want->type == MQTT_SUBSCRIBE
			                         ? w->entries[i].opts
			                         : 0);
		}
		cr_assert_not(mqtt_sub_next(got, &cur, &e));
		if (v5)
			assert_props(&got->subscribe.props, &w->props);
		else
			assert_no_props(&got->subscribe.props);
		break;
	}
	case MQTT_SUBACK:
	case MQTT_UNSUBACK: {
		const struct mqtt_suback *w = &want->suback;
		cr_assert_eq(got->suback.packet_id, w->packet_id);
		if (want->type == MQTT_UNSUBACK && !v5) {
			cr_assert_eq(got->suback.count, 0);
		} else {
			cr_assert_eq(got->suback.count, w->count);
			assert_bytes(got->suback.reasons, got->suback.count,
			             w->reasons, w->count);
		}
		if (v5)
			assert_props(&got->suback.props, &w->props);
		else
			assert_no_props(&got->suback.props);
		break;
	}
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		cr_assert_eq(got->disconnect.reason,
		             v5 ? want->disconnect.reason : 0);
		if (v5)
			assert_props(&got->disconnect.props,
			             &want->disconnect.props);
		else
			assert_no_props(&got->disconnect.props);
		break;
	default:
		break;
	}
}

/*
 * Encodes `in` for v, checks the sizing contract, decodes it back into
 * *out (borrowing from wire[]), checks every strict prefix gives
 * TERN_ENEEDMORE, max_size at and one below the size, and that a packet
 * followed by another is consumed exactly. Returns the encoded size.
 */
static uint8_t wire[200000];

static size_t roundtrip(const struct mqtt_packet *in, uint8_t v,
                        struct mqtt_packet *out)
{
	size_t n = mqtt_encode(in, v, NULL, 0);
	cr_assert_gt(n, 1, "%s v%u: not encodable", mqtt_type_name(in->type),
	             v);
	cr_assert_lt(n + 2, sizeof wire);

	/* Too small a buffer: size returned, nothing written. */
	memset(wire, 0xA5, n + 2);
	cr_assert_eq(mqtt_encode(in, v, wire, n - 1), n);
	for (size_t i = 0; i < n + 2; i++)
		cr_assert_eq(wire[i], 0xA5, "byte %zu written", i);

	cr_assert_eq(mqtt_encode(in, v, wire, n), n);
	cr_assert_eq(wire[n], 0xA5, "wrote past the packet");

	int rc;
	size_t used = 0;
	struct mqtt_packet tmp;
	for (size_t k = 0; k < n; k++) {
		size_t c = 777;
		rc = mqtt_decode(wire, k, v, 0, &tmp, &c);
		cr_assert_eq(rc, TERN_ENEEDMORE, "%s v%u: prefix %zu/%zu: %s",
		             mqtt_type_name(in->type), v, k, n,
		             tern_strerror(rc));
		cr_assert_eq(c, 777);
	}
	if (n > 2) {
		rc = mqtt_decode(wire, n, v, (uint32_t)n - 1, &tmp, &used);
		cr_assert_eq(rc, TERN_ETOOLARGE);
	}

	/* Followed by a PINGREQ: exactly one packet consumed. */
	wire[n] = 0xC0;
	wire[n + 1] = 0x00;
	rc = mqtt_decode(wire, n + 2, v, (uint32_t)n, out, &used);
	cr_assert_eq(rc, 0, "%s v%u: %s", mqtt_type_name(in->type), v,
	             tern_strerror(rc));
	cr_assert_eq(used, n);
	assert_packet(out, in, v);
	return n;
}

/*
 * A decoded SUBSCRIBE/UNSUBSCRIBE only has entries_raw; the encoder takes
 * entries[]. Rebuild them as a caller would.
 */
static void rehydrate(struct mqtt_packet *p, struct mqtt_sub_entry *e,
                      size_t cap)
{
	uint32_t cur = 0;
	uint16_t n = 0;

	if (p->type != MQTT_SUBSCRIBE && p->type != MQTT_UNSUBSCRIBE)
		return;
	while (n < cap && mqtt_sub_next(p, &cur, &e[n]))
		n++;
	cr_assert_eq(n, p->subscribe.count);
	p->subscribe.entries = e;
}

/*
 * Round trip then re-encode the decoded packet: same bytes. Only for
 * packets without user properties or several subscription ids, which a
 * decoded mqtt_props holds in `raw` only.
 */
static void roundtrip_stable(const struct mqtt_packet *in, uint8_t v)
{
	struct mqtt_packet out;
	size_t n = roundtrip(in, v, &out);
	static uint8_t again[sizeof wire];
	uint8_t first[512];
	struct mqtt_sub_entry e[64];

	rehydrate(&out, e, 64);

	cr_assert_leq(n, sizeof first);
	memcpy(first, wire, n);
	size_t m = mqtt_encode(&out, v, again, sizeof again);
	assert_bytes(again, m, first, n);
}

/* ------------------------------------------------------- shared values */

static const struct mqtt_user_prop users[] = {
    {{(const uint8_t *)"region", 6}, {(const uint8_t *)"eu-west", 7}},
    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"", 0}},
    {{(const uint8_t *)"region", 6}, {(const uint8_t *)"us-east", 7}},
    {{(const uint8_t *)"", 0}, {(const uint8_t *)"\xc3\xa9t\xc3\xa9", 5}},
};
#define NUSERS  ((uint16_t)(sizeof users / sizeof users[0]))
#define BIT(id) MQTT_PROP_BIT(MQTT_PROP_##id)

/* --------------------------------------------------------------- CONNECT */

Test(roundtrip, connect_v31_minimal)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	struct mqtt_packet out;

	p.connect.clean_start = true;
	p.connect.keepalive = 60;
	p.connect.client_id = str("client-31");
	roundtrip_stable(&p, MQTT_V31);
	roundtrip(&p, MQTT_V31, &out);
	cr_assert_eq(out.connect.version, MQTT_V31);
	/* The protocol name on the wire is "MQIsdp". */
	cr_assert(memcmp(wire + 2, "\x00\x06MQIsdp\x03", 9) == 0);
}

Test(roundtrip, connect_v311_will_user_password)
{
	static const uint8_t will_msg[] = {0x00, 0xff, 0x10, 0x00};
	static const uint8_t pw[] = {0x00, 's', 0xc0, 0x80}; /* binary */
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	p.connect.keepalive = 0xffff;
	p.connect.client_id = str("dev/\xe2\x82\xac");
	p.connect.will = true;
	p.connect.will_qos = 2;
	p.connect.will_retain = true;
	p.connect.will_topic = str("status/dev");
	p.connect.will_payload = bin(will_msg, sizeof will_msg);
	p.connect.has_username = true;
	p.connect.username = str("alice");
	p.connect.has_password = true;
	p.connect.password = bin(pw, sizeof pw);
	roundtrip_stable(&p, MQTT_V311);
	roundtrip_stable(&p, MQTT_V31);

	/* Each will QoS, with and without retain, and an empty will. */
	for (uint8_t q = 0; q < 3; q++) {
		p.connect.will_qos = q;
		p.connect.will_retain = q & 1;
		p.connect.will_payload = bin(NULL, 0);
		p.connect.has_password = false;
		roundtrip_stable(&p, MQTT_V311);
	}
}

Test(roundtrip, connect_v311_empty_client_id_username_only)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	p.connect.client_id = str("");
	p.connect.has_username = true;
	p.connect.username = str("");
	roundtrip_stable(&p, MQTT_V311);
}

Test(roundtrip, connect_v5_all_properties)
{
	static const uint8_t auth[] = {0, 1, 2, 0xfe};
	static const uint8_t corr[] = {0xde, 0xad, 0x00, 0xef};
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	struct mqtt_connect *c = &p.connect;

	c->clean_start = true;
	c->keepalive = 30;
	c->client_id = str("c5");
	c->props.present =
	    BIT(SESSION_EXPIRY) | BIT(RECEIVE_MAX) | BIT(MAX_PACKET_SIZE) |
	    BIT(TOPIC_ALIAS_MAX) | BIT(REQUEST_RESPONSE_INFO) |
	    BIT(REQUEST_PROBLEM_INFO) | BIT(AUTH_METHOD) | BIT(AUTH_DATA);
	c->props.session_expiry = 0xffffffff;
	c->props.receive_max = 20;
	c->props.max_packet_size = 268435460;
	c->props.topic_alias_max = 0; /* 0 is allowed here */
	c->props.request_response_info = 1;
	c->props.request_problem_info = 0;
	c->props.auth_method = str("SCRAM-SHA-1");
	c->props.auth_data = bin(auth, sizeof auth);
	c->props.user = users;
	c->props.user_count = NUSERS;

	c->will = true;
	c->will_qos = 1;
	c->will_topic = str("last/will");
	c->will_payload = str("bye");
	c->will_props.present = BIT(WILL_DELAY) | BIT(PAYLOAD_FORMAT) |
	                        BIT(MESSAGE_EXPIRY) | BIT(CONTENT_TYPE) |
	                        BIT(RESPONSE_TOPIC) | BIT(CORRELATION_DATA);
	c->will_props.will_delay = 5;
	c->will_props.payload_format = 1;
	c->will_props.message_expiry = 3600;
	c->will_props.content_type = str("text/plain");
	c->will_props.response_topic = str("reply/here");
	c->will_props.correlation_data = bin(corr, sizeof corr);
	c->will_props.user = users + 1;
	c->will_props.user_count = 2;

	c->has_username = true;
	c->username = str("u");
	c->has_password = true;
	c->password = str("p");
	struct mqtt_packet out;
	roundtrip(&p, MQTT_V5, &out);

	/* The same packet for 3.1.1 carries no properties at all. */
	roundtrip(&p, MQTT_V311, &out);
	cr_assert_eq(out.connect.props.present, 0);
}

Test(roundtrip, connect_v5_password_without_username)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	/* Allowed from 5.0 on (3.1.2.9), refused for 3.1.1 [MQTT-3.1.2-22] */
	p.connect.client_id = str("x");
	p.connect.has_password = true;
	p.connect.password = str("token");
	roundtrip_stable(&p, MQTT_V5);

	uint8_t buf[64];
	size_t n = mqtt_encode(&p, MQTT_V311, buf, sizeof buf);
	struct mqtt_packet out;
	size_t used;
	cr_assert_eq(mqtt_decode(buf, n, MQTT_V311, 0, &out, &used),
	             TERN_EMALFORMED);
}

Test(roundtrip, connect_v5_no_properties_will_without_properties)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	p.connect.client_id = str("");
	p.connect.will = true;
	p.connect.will_topic = str("w");
	roundtrip_stable(&p, MQTT_V5);
}

Test(connect, version_reported_on_eversion)
{
	static const struct {
		const char *hex;
		uint8_t version;
	} cases[] = {
	    {"10 0f 00 04 4d 51 54 54 06 02 00 3c 00 03 61 62 63", 6},
	    {"10 0f 00 04 4d 51 54 54 03 02 00 3c 00 03 61 62 63", 3},
	    {"10 11 00 06 4d 51 49 73 64 70 04 02 00 3c 00 03 61 62 63", 4},
	    {"10 0f 00 04 4d 51 54 58 05 02 00 3c 00 03 61 62 63", 5},
	    {"10 06 00 04 48 54 54 50", 0}, /* "HTTP", no level byte */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[64];
		size_t n = unhex(cases[i].hex, buf, sizeof buf), used = 99;
		struct mqtt_packet out;
		int rc = mqtt_decode(buf, n, MQTT_V5, 0, &out, &used);
		cr_assert_eq(rc, TERN_EVERSION, "case %zu: %s", i,
		             tern_strerror(rc));
		cr_assert_eq(out.type, MQTT_CONNECT);
		cr_assert_eq(out.connect.version, cases[i].version);
		cr_assert_eq(used, 99);
		cr_assert_eq(mqtt_err_reason(rc), 0x84);
	}
}

Test(connect, version_argument_ignored)
{
	/* A 3.1.1 CONNECT decodes the same whatever the connection says. */
	uint8_t buf[64];
	size_t n = unhex("10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62 63",
	                 buf, sizeof buf);
	for (uint8_t v = 0; v < 7; v++) {
		struct mqtt_packet out;
		size_t used;
		cr_assert_eq(mqtt_decode(buf, n, v, 0, &out, &used), 0);
		cr_assert_eq(out.connect.version, MQTT_V311);
	}
}

/* --------------------------------------------------------------- CONNACK */

Test(roundtrip, connack_v311)
{
	struct mqtt_packet p = {.type = MQTT_CONNACK};

	for (uint8_t rc = 0; rc <= MQTT_V3_NOT_AUTHORIZED; rc++) {
		p.connack.session_present = rc == 0;
		p.connack.reason = rc;
		roundtrip_stable(&p, MQTT_V311);
		roundtrip_stable(&p, MQTT_V31);
	}
}

Test(roundtrip, connack_v5_all_properties)
{
	static const uint8_t auth[] = {9, 8, 7};
	struct mqtt_packet p = {.type = MQTT_CONNACK};
	struct mqtt_props *pr = &p.connack.props;

	p.connack.session_present = true;
	p.connack.reason = MQTT_RC_SUCCESS;
	pr->present = BIT(SESSION_EXPIRY) | BIT(RECEIVE_MAX) | BIT(MAX_QOS) |
	              BIT(RETAIN_AVAILABLE) | BIT(MAX_PACKET_SIZE) |
	              BIT(ASSIGNED_CLIENT_ID) | BIT(TOPIC_ALIAS_MAX) |
	              BIT(REASON_STRING) | BIT(WILDCARD_SUB_AVAILABLE) |
	              BIT(SUB_ID_AVAILABLE) | BIT(SHARED_SUB_AVAILABLE) |
	              BIT(SERVER_KEEP_ALIVE) | BIT(RESPONSE_INFO) |
	              BIT(SERVER_REFERENCE) | BIT(AUTH_METHOD) | BIT(AUTH_DATA);
	pr->session_expiry = 120;
	pr->receive_max = 65535;
	pr->max_qos = 1;
	pr->retain_available = 0;
	pr->max_packet_size = 1;
	pr->assigned_client_id = str("auto-1234");
	pr->topic_alias_max = 10;
	pr->reason_string = str("welcome");
	pr->wildcard_sub_available = 1;
	pr->sub_id_available = 0;
	pr->shared_sub_available = 1;
	pr->server_keep_alive = 15;
	pr->response_info = str("resp/");
	pr->server_reference = str("other:1883");
	pr->auth_method = str("m");
	pr->auth_data = bin(auth, sizeof auth);
	pr->user = users;
	pr->user_count = NUSERS;
	struct mqtt_packet out;
	roundtrip(&p, MQTT_V5, &out);
}

Test(roundtrip, connack_v5_no_properties)
{
	struct mqtt_packet p = {.type = MQTT_CONNACK};

	p.connack.reason = MQTT_RC_BANNED;
	roundtrip_stable(&p, MQTT_V5);
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 5);
}

/* --------------------------------------------------------------- PUBLISH */

Test(roundtrip, publish_v311_each_qos)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};

	p.publish.topic = str("sensors/+x/temp");
	p.publish.payload = str("21.5");
	for (uint8_t q = 0; q < 3; q++) {
		for (int f = 0; f < 4; f++) {
			p.publish.qos = q;
			p.publish.packet_id = q ? (uint16_t)(q * 1000 + f) : 0;
			p.publish.retain = f & 1;
			p.publish.dup = q && (f & 2);
			roundtrip_stable(&p, MQTT_V311);
			roundtrip_stable(&p, MQTT_V31);
			roundtrip_stable(&p, MQTT_V5);
		}
	}
}

Test(roundtrip, publish_empty_payload_and_max_packet_id)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};

	p.publish.topic = str("t");
	p.publish.qos = 1;
	p.publish.packet_id = 65535;
	roundtrip_stable(&p, MQTT_V311);
	roundtrip_stable(&p, MQTT_V5);
	cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 2 + 3 + 2);
}

Test(roundtrip, publish_large_payload)
{
	/* 3- and 4-byte remaining lengths, payload bytes of every value. */
	static uint8_t payload[2200000], big_wire[2200100];
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	struct mqtt_packet out;

	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7);
	p.publish.topic = str("big");
	p.publish.qos = 2;
	p.publish.packet_id = 7;
	p.publish.payload = bin(payload, 20000);
	size_t n = mqtt_encode(&p, MQTT_V311, NULL, 0);
	cr_assert_eq(n, 1 + 3 + 2 + 3 + 2 + 20000);
	p.publish.payload = bin(payload, sizeof payload);
	n = mqtt_encode(&p, MQTT_V5, big_wire, sizeof big_wire);
	cr_assert_eq(n, 1 + 4 + 2 + 3 + 2 + 1 + sizeof payload);
	cr_assert_eq(big_wire[4] & 0x80, 0);
	cr_assert_eq(big_wire[3] & 0x80, 0x80);
	size_t used;
	cr_assert_eq(mqtt_decode(big_wire, n, MQTT_V5, 0, &out, &used), 0);
	cr_assert_eq(used, n);
	cr_assert_eq(mqtt_decode(big_wire, n - 1, MQTT_V5, 0, &out, &used),
	             TERN_ENEEDMORE);
	assert_packet(&out, &p, MQTT_V5);
}

Test(roundtrip, publish_v5_all_properties)
{
	static const uint8_t corr[] = {0, 0, 0};
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	struct mqtt_props *pr = &p.publish.props;

	p.publish.topic = str("a/\xf0\x9f\x98\x80/b");
	p.publish.qos = 1;
	p.publish.packet_id = 42;
	p.publish.payload = str("{\"t\":1}");
	pr->present = BIT(PAYLOAD_FORMAT) | BIT(MESSAGE_EXPIRY) |
	              BIT(TOPIC_ALIAS) | BIT(RESPONSE_TOPIC) |
	              BIT(CORRELATION_DATA) | BIT(CONTENT_TYPE) |
	              BIT(SUBSCRIPTION_ID);
	pr->payload_format = 1;
	pr->message_expiry = 0;
	pr->topic_alias = 65535;
	pr->response_topic = str("r/1");
	pr->correlation_data = bin(corr, sizeof corr);
	pr->content_type = str("application/json");
	pr->sub_id = 268435455;
	pr->user = users;
	pr->user_count = NUSERS;
	struct mqtt_packet out;
	roundtrip(&p, MQTT_V5, &out);
	cr_assert_eq(out.publish.props.sub_id, 268435455);
}

Test(roundtrip, publish_v5_several_subscription_ids)
{
	static const uint32_t ids[] = {
	    1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 1};
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	struct mqtt_packet out;

	p.publish.topic = str("x");
	p.publish.props.sub_ids = ids;
	p.publish.props.sub_id_count = sizeof ids / sizeof ids[0];
	p.publish.props.present = BIT(SUBSCRIPTION_ID);
	roundtrip(&p, MQTT_V5, &out);
	cr_assert_eq(out.publish.props.sub_id_count, 9);
	cr_assert_eq(out.publish.props.sub_id, 1);
}

Test(roundtrip, publish_v5_topic_alias_with_empty_topic)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	struct mqtt_packet out;

	p.publish.topic = str("");
	p.publish.props.present = BIT(TOPIC_ALIAS);
	p.publish.props.topic_alias = 3;
	p.publish.payload = str("v");
	roundtrip(&p, MQTT_V5, &out);
	cr_assert_eq(out.publish.topic.len, 0);
}

Test(roundtrip, publish_v5_forwarded_user_raw)
{
	/* user_raw: already-encoded properties appended verbatim. */
	static const uint8_t raw[] = {0x26, 0, 1, 'a', 0, 1, 'b',
	                              0x26, 0, 1, 'c', 0, 0};
	static const struct mqtt_user_prop want[] = {
	    {{(const uint8_t *)"x", 1}, {(const uint8_t *)"y", 1}},
	    {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}},
	    {{(const uint8_t *)"c", 1}, {(const uint8_t *)"", 0}},
	};
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	struct mqtt_packet out;

	p.publish.topic = str("t");
	p.publish.props.user = want;
	p.publish.props.user_count = 1;
	p.publish.props.user_raw = raw;
	p.publish.props.user_raw_len = sizeof raw;
	cr_assert_eq(mqtt_props_size(&p.publish.props), 7 + sizeof raw);
	size_t n = mqtt_encode(&p, MQTT_V5, wire, sizeof wire);
	size_t used;
	cr_assert_eq(mqtt_decode(wire, n, MQTT_V5, 0, &out, &used), 0);
	cr_assert_eq(out.publish.props.user_count, 3);
	uint32_t cur = 0;
	struct mqtt_user_prop up;
	for (int i = 0; i < 3; i++) {
		cr_assert(mqtt_props_next_user(&out.publish.props, &cur, &up));
		assert_str(up.key, want[i].key, "key");
		assert_str(up.val, want[i].val, "val");
	}
	cr_assert_not(mqtt_props_next_user(&out.publish.props, &cur, &up));
}

/* ------------------------------------------------------------------ acks */

static const uint8_t ack_types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL,
                                    MQTT_PUBCOMP};

Test(roundtrip, acks_v311)
{
	for (size_t i = 0; i < 4; i++) {
		struct mqtt_packet p = {.type = ack_types[i]};
		p.ack.packet_id = (uint16_t)(0x1234 + i);
		roundtrip_stable(&p, MQTT_V311);
		roundtrip_stable(&p, MQTT_V31);
		cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 4);
		/* 3.1.1 has no reason code: it is not written. */
		p.ack.reason = MQTT_RC_PACKET_ID_NOT_FOUND;
		cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 4);
	}
}

Test(roundtrip, acks_v5_short_forms)
{
	for (size_t i = 0; i < 4; i++) {
		struct mqtt_packet p = {.type = ack_types[i]};
		p.ack.packet_id = 1;
		roundtrip_stable(&p, MQTT_V5);
		cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 4);
		p.ack.reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
		roundtrip_stable(&p, MQTT_V5);
		cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 5);
	}
}

Test(roundtrip, acks_v5_properties)
{
	for (size_t i = 0; i < 4; i++) {
		struct mqtt_packet p = {.type = ack_types[i]};
		struct mqtt_packet out;
		p.ack.packet_id = 65535;
		p.ack.reason = 0;
		p.ack.props.present = BIT(REASON_STRING);
		p.ack.props.reason_string = str("queued");
		p.ack.props.user = users;
		p.ack.props.user_count = NUSERS;
		roundtrip(&p, MQTT_V5, &out);
		p.ack.reason = MQTT_RC_QUOTA_EXCEEDED;
		p.ack.props.present = 0;
		p.ack.props.user_count = 1;
		roundtrip(&p, MQTT_V5, &out);
	}
}

Test(decode, acks_v5_reason_with_empty_property_block)
{
	/* Remaining length 4, property length 0: legal, same meaning. */
	uint8_t buf[] = {0x50, 0x04, 0x00, 0x09, 0x80, 0x00};
	struct mqtt_packet out;
	size_t used;

	cr_assert_eq(mqtt_decode(buf, sizeof buf, MQTT_V5, 0, &out, &used), 0);
	cr_assert_eq(out.ack.packet_id, 9);
	cr_assert_eq(out.ack.reason, 0x80);
	cr_assert_eq(out.ack.props.present, 0);
}

/* ------------------------------------------------- SUBSCRIBE/UNSUBSCRIBE */

Test(roundtrip, subscribe_v311)
{
	static const struct mqtt_sub_entry e[] = {
	    {{(const uint8_t *)"a/b", 3}, 0},
	    {{(const uint8_t *)"c/+/d", 5}, 1},
	    {{(const uint8_t *)"#", 1}, 2},
	};
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};

	p.subscribe.packet_id = 10;
	p.subscribe.entries = e;
	p.subscribe.count = 3;
	roundtrip_stable(&p, MQTT_V311);
	roundtrip_stable(&p, MQTT_V31);
}

Test(roundtrip, subscribe_v5_every_option)
{
	static struct mqtt_sub_entry e[48];
	static char names[48][8];
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};
	struct mqtt_packet out;
	uint16_t n = 0;

	/* QoS 0..2 x No Local x Retain As Published x Retain Handling 0..2 */
	for (uint8_t o = 0; o < 0x30; o++) {
		if ((o & 3) == 3)
			continue;
		snprintf(names[n], sizeof names[n], "f/%u", o);
		e[n].filter = str(names[n]);
		e[n].opts = o;
		n++;
	}
	p.subscribe.packet_id = 0xfffe;
	p.subscribe.entries = e;
	p.subscribe.count = n;
	p.subscribe.props.present = BIT(SUBSCRIPTION_ID);
	p.subscribe.props.sub_id = 16384;
	p.subscribe.props.user = users;
	p.subscribe.props.user_count = NUSERS;
	roundtrip(&p, MQTT_V5, &out);
	cr_assert_eq(out.subscribe.count, 36);
	cr_assert_eq(out.subscribe.props.sub_id, 16384);
}

Test(roundtrip, unsubscribe_v311_and_v5)
{
	static const struct mqtt_sub_entry e[] = {
	    {{(const uint8_t *)"a/b", 3}, 0},
	    {{(const uint8_t *)"$share/g/x", 10}, 0},
	};
	struct mqtt_packet p = {.type = MQTT_UNSUBSCRIBE};
	struct mqtt_packet out;

	p.subscribe.packet_id = 3;
	p.subscribe.entries = e;
	p.subscribe.count = 2;
	roundtrip_stable(&p, MQTT_V311);
	roundtrip_stable(&p, MQTT_V5);
	p.subscribe.props.user = users + 2;
	p.subscribe.props.user_count = 2;
	roundtrip(&p, MQTT_V5, &out);
	cr_assert_eq(out.subscribe.count, 2);
}

/* ---------------------------------------------------- SUBACK/UNSUBACK */

Test(roundtrip, suback_v311_and_v5)
{
	static const uint8_t rc3[] = {0x00, 0x01, 0x02, 0x80};
	static const uint8_t rc5[] = {0x00, 0x01, 0x02, 0x80, 0x87, 0x8f,
	                              0x91, 0x97, 0x9e, 0xa1, 0xa2};
	struct mqtt_packet p = {.type = MQTT_SUBACK};
	struct mqtt_packet out;

	p.suback.packet_id = 77;
	p.suback.reasons = rc3;
	p.suback.count = sizeof rc3;
	roundtrip_stable(&p, MQTT_V311);
	p.suback.reasons = rc5;
	p.suback.count = sizeof rc5;
	roundtrip_stable(&p, MQTT_V5);
	p.suback.props.present = BIT(REASON_STRING);
	p.suback.props.reason_string = str("partly");
	p.suback.props.user = users;
	p.suback.props.user_count = 1;
	roundtrip(&p, MQTT_V5, &out);
}

Test(roundtrip, unsuback_v311_and_v5)
{
	static const uint8_t rc[] = {0x00, 0x11, 0x87};
	struct mqtt_packet p = {.type = MQTT_UNSUBACK};
	struct mqtt_packet out;

	p.suback.packet_id = 5;
	p.suback.reasons = rc;
	p.suback.count = sizeof rc;
	/* 3.1.1: the packet identifier only, whatever count says. */
	roundtrip(&p, MQTT_V311, &out);
	cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 4);
	cr_assert_eq(out.suback.count, 0);
	roundtrip_stable(&p, MQTT_V5);
	p.suback.props.present = BIT(REASON_STRING);
	p.suback.props.reason_string = str("");
	p.suback.props.user = users + 3;
	p.suback.props.user_count = 1;
	roundtrip(&p, MQTT_V5, &out);
}

/* ------------------------------------------- PING, DISCONNECT and AUTH */

Test(roundtrip, pingreq_pingresp)
{
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		struct mqtt_packet p = {.type = MQTT_PINGREQ};
		roundtrip_stable(&p, v);
		p.type = MQTT_PINGRESP;
		roundtrip_stable(&p, v);
		cr_assert_eq(mqtt_encode(&p, v, NULL, 0), 2);
	}
}

Test(roundtrip, disconnect_v311)
{
	struct mqtt_packet p = {.type = MQTT_DISCONNECT};

	/* Reason and properties do not exist before 5.0. */
	p.disconnect.reason = MQTT_RC_DISCONNECT_WITH_WILL;
	p.disconnect.props.present = BIT(SESSION_EXPIRY);
	roundtrip(&p, MQTT_V311, &(struct mqtt_packet){0});
	cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 2);
}

Test(roundtrip, disconnect_v5_forms)
{
	struct mqtt_packet p = {.type = MQTT_DISCONNECT};
	struct mqtt_packet out;

	roundtrip_stable(&p, MQTT_V5);
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 2);
	p.disconnect.reason = MQTT_RC_SESSION_TAKEN_OVER;
	roundtrip_stable(&p, MQTT_V5);
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 3);
	p.disconnect.reason = MQTT_RC_USE_ANOTHER_SERVER;
	p.disconnect.props.present =
	    BIT(SESSION_EXPIRY) | BIT(REASON_STRING) | BIT(SERVER_REFERENCE);
	p.disconnect.props.session_expiry = 0;
	p.disconnect.props.reason_string = str("moving");
	p.disconnect.props.server_reference = str("b.example:1883");
	p.disconnect.props.user = users;
	p.disconnect.props.user_count = NUSERS;
	roundtrip(&p, MQTT_V5, &out);
	/* Reason 0 with properties keeps the reason byte. */
	p.disconnect.reason = 0;
	roundtrip(&p, MQTT_V5, &out);
}

Test(roundtrip, auth_v5)
{
	static const uint8_t data[] = {0x00, 0x01, 0xff};
	struct mqtt_packet p = {.type = MQTT_AUTH};
	struct mqtt_packet out;

	roundtrip_stable(&p, MQTT_V5);
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 2);
	p.disconnect.reason = MQTT_RC_CONTINUE_AUTH;
	p.disconnect.props.present =
	    BIT(AUTH_METHOD) | BIT(AUTH_DATA) | BIT(REASON_STRING);
	p.disconnect.props.auth_method = str("SCRAM-SHA-256");
	p.disconnect.props.auth_data = bin(data, sizeof data);
	p.disconnect.props.reason_string = str("more");
	p.disconnect.props.user = users + 1;
	p.disconnect.props.user_count = 1;
	roundtrip(&p, MQTT_V5, &out);
	p.disconnect.reason = MQTT_RC_REAUTHENTICATE;
	p.disconnect.props.present = 0;
	p.disconnect.props.user_count = 0;
	roundtrip_stable(&p, MQTT_V5);
}
