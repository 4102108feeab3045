/*
 * test_codec_wire.c - the codec against fixed bytes: golden packets from the
 * specs' examples (decoded, re-encoded, compared byte for byte), property
 * order, variable byte integer edges, stream behaviour (prefixes, max_size,
 * back-to-back packets), iterators, the PUBLISH head encoder and the
 * encoder's edge cases.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

#define BIT(id) MQTT_PROP_BIT(MQTT_PROP_##id)

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

/* ------------------------------------------------------------- golden */

/*
 * Hand-written wire bytes, from the specs' examples and figures. Each is
 * decoded, re-encoded and must come out byte for byte.
 */
static const struct golden {
	const char *what;
	uint8_t version;
	const char *hex;
} goldens[] = {
    {"CONNECT 3.1.1 minimal, clean session, keep alive 60, id abc", 4,
     "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62 63"},
    {"CONNECT 3.1 MQIsdp level 3", 3,
     "10 11 00 06 4d 51 49 73 64 70 03 02 00 3c 00 03 61 62 63"},
    /* MQTT 5.0 3.1.2.12: flags CE, keep alive 10, session expiry 10 */
    {"CONNECT 5.0 variable header example of 3.1.2.12", 5,
     "10 21 00 04 4d 51 54 54 05 ce 00 0a 05 11 00 00 00 0a"
     " 00 01 63 00 00 01 74 00 01 6d 00 01 75 00 02 70 77"},
    {"CONNACK 3.1.1 accepted", 4, "20 02 00 00"},
    {"CONNACK 3.1.1 session present", 4, "20 02 01 00"},
    {"CONNACK 5.0 no properties", 5, "20 03 00 00 00"},
    {"CONNACK 5.0 topic alias maximum 10", 5, "20 06 00 00 03 22 00 0a"},
    {"PUBLISH 3.1.1 QoS 0 a/b", 4, "30 07 00 03 61 2f 62 68 69"},
    {"PUBLISH 3.1.1 QoS 1 id 10 retain", 4, "33 09 00 03 61 2f 62 00 0a 68 69"},
    {"PUBLISH 3.1.1 QoS 2 DUP", 4, "3c 07 00 03 61 2f 62 00 0b"},
    {"PUBLISH 5.0 QoS 1 message expiry 30", 5,
     "32 0f 00 03 61 2f 62 00 0a 05 02 00 00 00 1e 68 69"},
    {"PUBACK 3.1.1", 4, "40 02 00 0a"},
    {"PUBREC 3.1.1", 4, "50 02 00 0a"},
    {"PUBREL 3.1.1 (flags 0010)", 4, "62 02 00 0a"},
    {"PUBCOMP 3.1.1", 4, "70 02 00 0a"},
    {"PUBACK 5.0 success short form", 5, "40 02 00 0a"},
    {"PUBACK 5.0 no matching subscribers", 5, "40 03 00 0a 10"},
    {"PUBREC 5.0 reason string", 5, "50 08 00 0a 80 04 1f 00 01 78"},
    /* MQTT 3.1.1 3.8.3.1: a/b QoS 1, c/d QoS 2 */
    {"SUBSCRIBE 3.1.1 payload example", 4,
     "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02"},
    {"SUBSCRIBE 5.0 no local, RAP, RH 2", 5,
     "82 09 00 0a 00 00 03 61 2f 62 2d"},
    /* MQTT 3.1.1 3.9.3.1: Success QoS 0, Success QoS 2, Failure */
    {"SUBACK 3.1.1 payload example", 4, "90 05 00 0a 00 02 80"},
    {"SUBACK 5.0", 5, "90 05 00 0a 00 01 87"},
    {"UNSUBSCRIBE 3.1.1 payload example", 4,
     "a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64"},
    {"UNSUBACK 3.1.1", 4, "b0 02 00 0a"},
    {"UNSUBACK 5.0", 5, "b0 04 00 0a 00 11"},
    {"PINGREQ", 4, "c0 00"},
    {"PINGRESP", 4, "d0 00"},
    {"DISCONNECT 3.1.1", 4, "e0 00"},
    {"DISCONNECT 5.0 normal", 5, "e0 00"},
    {"DISCONNECT 5.0 session taken over", 5, "e0 01 8e"},
    {"DISCONNECT 5.0 session expiry 0", 5, "e0 07 00 05 11 00 00 00 00"},
    {"AUTH 5.0 success", 5, "f0 00"},
    {"AUTH 5.0 continue, method", 5, "f0 07 18 05 15 00 02 6d 31"},
};

Test(golden, decode_then_encode_is_identity)
{
	for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
		const struct golden *g = &goldens[i];
		uint8_t in[128], out[128];
		size_t n = unhex(g->hex, in, sizeof in), used = 0;
		struct mqtt_packet p;

		int rc = mqtt_decode(in, n, g->version, 0, &p, &used);
		cr_assert_eq(rc, 0, "%s: %s", g->what, tern_strerror(rc));
		cr_assert_eq(used, n, "%s", g->what);
		for (size_t k = 0; k < n; k++) {
			struct mqtt_packet q;
			size_t c;
			cr_assert_eq(mqtt_decode(in, k, g->version, 0, &q, &c),
			             TERN_ENEEDMORE, "%s: prefix %zu", g->what,
			             k);
		}
		struct mqtt_sub_entry e[8];
		rehydrate(&p, e, 8);
		size_t m = mqtt_encode(&p, g->version, out, sizeof out);
		cr_assert_eq(m, n, "%s: encoded %zu bytes, want %zu", g->what,
		             m, n);
		cr_assert(memcmp(in, out, n) == 0, "%s: bytes differ", g->what);
	}
}

Test(golden, encode_from_struct)
{
	uint8_t out[64], want[64];
	size_t n, m;

	struct mqtt_packet c = {.type = MQTT_CONNECT};
	c.connect.clean_start = true;
	c.connect.keepalive = 60;
	c.connect.client_id = str("abc");
	n = mqtt_encode(&c, MQTT_V311, out, sizeof out);
	m = unhex("10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62 63", want,
	          sizeof want);
	assert_bytes(out, n, want, m);

	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = 1;
	p.publish.packet_id = 10;
	p.publish.topic = str("a/b");
	p.publish.payload = str("hi");
	n = mqtt_encode(&p, MQTT_V311, out, sizeof out);
	m = unhex("32 09 00 03 61 2f 62 00 0a 68 69", want, sizeof want);
	assert_bytes(out, n, want, m);
	/* Same in 5.0: one more byte for an empty property block. */
	n = mqtt_encode(&p, MQTT_V5, out, sizeof out);
	m = unhex("32 0a 00 03 61 2f 62 00 0a 00 68 69", want, sizeof want);
	assert_bytes(out, n, want, m);

	static const uint8_t rc[] = {0x00, 0x02, 0x80};
	struct mqtt_packet s = {.type = MQTT_SUBACK};
	s.suback.packet_id = 10;
	s.suback.reasons = rc;
	s.suback.count = 3;
	n = mqtt_encode(&s, MQTT_V311, out, sizeof out);
	m = unhex("90 05 00 0a 00 02 80", want, sizeof want);
	assert_bytes(out, n, want, m);

	struct mqtt_packet x = {.type = MQTT_PINGREQ};
	n = mqtt_encode(&x, MQTT_V311, out, sizeof out);
	assert_bytes(out, n, (const uint8_t *)"\xc0\x00", 2);
	x.type = MQTT_DISCONNECT;
	n = mqtt_encode(&x, MQTT_V311, out, sizeof out);
	assert_bytes(out, n, (const uint8_t *)"\xe0\x00", 2);
	x.disconnect.reason = 0x04;
	n = mqtt_encode(&x, MQTT_V311, out, sizeof out);
	assert_bytes(out, n, (const uint8_t *)"\xe0\x00", 2);
	n = mqtt_encode(&x, MQTT_V5, out, sizeof out);
	assert_bytes(out, n, (const uint8_t *)"\xe0\x01\x04", 3);
}

Test(golden, property_order_is_ascending_then_sub_ids_then_user)
{
	static const uint32_t ids[] = {5, 300};
	static const struct mqtt_user_prop up[] = {
	    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}},
	};
	static const uint8_t raw[] = {0x26, 0, 1, 'r', 0, 0};
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	uint8_t out[64], want[64];

	p.publish.topic = str("t");
	p.publish.props.present = BIT(TOPIC_ALIAS) | BIT(PAYLOAD_FORMAT) |
	                          BIT(CONTENT_TYPE) | BIT(SUBSCRIPTION_ID) |
	                          BIT(USER);
	p.publish.props.topic_alias = 2;
	p.publish.props.payload_format = 1;
	p.publish.props.content_type = str("c");
	p.publish.props.sub_ids = ids;
	p.publish.props.sub_id_count = 2;
	p.publish.props.user = up;
	p.publish.props.user_count = 1;
	p.publish.props.user_raw = raw;
	p.publish.props.user_raw_len = sizeof raw;
	size_t n = mqtt_encode(&p, MQTT_V5, out, sizeof out);
	size_t m = unhex("30 1f 00 01 74 1b"
	                 " 01 01"                /* payload format */
	                 " 03 00 01 63"          /* content type */
	                 " 23 00 02"             /* topic alias */
	                 " 0b 05 0b ac 02"       /* sub ids 5, 300 */
	                 " 26 00 01 6b 00 01 76" /* user k=v */
	                 " 26 00 01 72 00 00",   /* user_raw */
	                 want, sizeof want);
	assert_bytes(out, n, want, m);
}

/* ------------------------------------------------------------- VBI */

static const struct {
	uint32_t v;
	const char *hex;
} vbis[] = {
    {0, "00"},
    {1, "01"},
    {127, "7f"},
    {128, "80 01"},
    {321, "c1 02"},
    {16383, "ff 7f"},
    {16384, "80 80 01"},
    {2097151, "ff ff 7f"},
    {2097152, "80 80 80 01"},
    {268435455, "ff ff ff 7f"},
};

Test(vbi, encode_and_size_at_the_edges)
{
	for (size_t i = 0; i < sizeof vbis / sizeof vbis[0]; i++) {
		uint8_t want[4], got[4] = {0};
		size_t n = unhex(vbis[i].hex, want, sizeof want);
		cr_assert_eq(mqtt_vbi_size(vbis[i].v), n, "%u", vbis[i].v);
		cr_assert_eq(mqtt_vbi_encode(vbis[i].v, got), n);
		assert_bytes(got, n, want, n);
	}
}

Test(vbi, remaining_length_decoded_at_the_edges)
{
	for (size_t i = 0; i < sizeof vbis / sizeof vbis[0]; i++) {
		uint8_t buf[5] = {0x30};
		size_t n = unhex(vbis[i].hex, buf + 1, 4);
		uint8_t type, flags;
		uint32_t rem, hl;
		int rc =
		    mqtt_decode_header(buf, n + 1, &type, &flags, &rem, &hl);
		cr_assert_eq(rc, 0, "%u: %s", vbis[i].v, tern_strerror(rc));
		cr_assert_eq(type, MQTT_PUBLISH);
		cr_assert_eq(flags, 0);
		cr_assert_eq(rem, vbis[i].v);
		cr_assert_eq(hl, n + 1);
		for (size_t k = 0; k <= n; k++)
			cr_assert_eq(mqtt_decode_header(buf, k, &type, &flags,
			                                &rem, &hl),
			             TERN_ENEEDMORE, "%u prefix %zu", vbis[i].v,
			             k);
	}
}

Test(vbi, five_byte_form_is_malformed)
{
	static const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f};
	static const uint8_t zero5[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x00};
	uint8_t type, flags;
	uint32_t rem, hl;
	struct mqtt_packet p;
	size_t used;

	cr_assert_eq(
	    mqtt_decode_header(five, sizeof five, &type, &flags, &rem, &hl),
	    TERN_EMALFORMED);
	/* Detected as soon as the 4th byte with a continuation bit is in. */
	cr_assert_eq(mqtt_decode_header(five, 5, &type, &flags, &rem, &hl),
	             TERN_EMALFORMED);
	cr_assert_eq(
	    mqtt_decode_header(zero5, sizeof zero5, &type, &flags, &rem, &hl),
	    TERN_EMALFORMED);
	cr_assert_eq(mqtt_decode(five, sizeof five, MQTT_V5, 0, &p, &used),
	             TERN_EMALFORMED);
}

Test(vbi, non_minimal_remaining_length_accepted)
{
	/* PINGREQ with remaining length 0 written on two bytes. */
	static const uint8_t buf[] = {0xc0, 0x80, 0x00};
	struct mqtt_packet p;
	size_t used;

	cr_assert_eq(mqtt_decode(buf, sizeof buf, MQTT_V311, 0, &p, &used), 0);
	cr_assert_eq(used, 3);
}

Test(vbi, type_zero_is_malformed_at_once)
{
	static const uint8_t buf[] = {0x00};
	uint8_t type, flags;
	uint32_t rem, hl;

	cr_assert_eq(mqtt_decode_header(buf, 1, &type, &flags, &rem, &hl),
	             TERN_EMALFORMED);
	cr_assert_eq(mqtt_decode_header(buf, 0, &type, &flags, &rem, &hl),
	             TERN_ENEEDMORE);
}

/* ------------------------------------------------------------ stream */

Test(stream, too_large_before_the_body_arrives)
{
	/* PUBLISH declaring 268435455 bytes; only the header is here. */
	static const uint8_t hdr[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
	struct mqtt_packet p;
	size_t used = 5;

	cr_assert_eq(
	    mqtt_decode(hdr, sizeof hdr, MQTT_V311, 1 << 20, &p, &used),
	    TERN_ETOOLARGE);
	cr_assert_eq(used, 5);
	/* Without a limit it is simply incomplete. */
	cr_assert_eq(mqtt_decode(hdr, sizeof hdr, MQTT_V311, 0, &p, &used),
	             TERN_ENEEDMORE);
	/* Header still incomplete: cannot tell yet. */
	cr_assert_eq(mqtt_decode(hdr, 4, MQTT_V311, 16, &p, &used),
	             TERN_ENEEDMORE);
}

Test(stream, max_size_counts_the_fixed_header)
{
	/* 2-byte header + 100-byte body = 102 */
	uint8_t buf[102] = {0x30, 100, 0x00, 0x01, 't'};
	struct mqtt_packet p;
	size_t used;

	cr_assert_eq(mqtt_decode(buf, 2, MQTT_V311, 101, &p, &used),
	             TERN_ETOOLARGE);
	cr_assert_eq(mqtt_decode(buf, 2, MQTT_V311, 102, &p, &used),
	             TERN_ENEEDMORE);
	cr_assert_eq(mqtt_decode(buf, sizeof buf, MQTT_V311, 102, &p, &used),
	             0);
	cr_assert_eq(used, 102);
	cr_assert_eq(p.publish.payload.len, 97);
	cr_assert_eq(mqtt_err_reason(TERN_ETOOLARGE), 0x95);
}

Test(stream, back_to_back_packets)
{
	uint8_t buf[128];
	size_t n = unhex("c0 00"
	                 " 32 09 00 03 61 2f 62 00 0a 68 69"
	                 " 62 02 00 0a"
	                 " e0 00",
	                 buf, sizeof buf);
	static const uint8_t types[] = {MQTT_PINGREQ, MQTT_PUBLISH, MQTT_PUBREL,
	                                MQTT_DISCONNECT};
	size_t off = 0;

	for (size_t i = 0; i < 4; i++) {
		struct mqtt_packet p;
		size_t used = 0;
		cr_assert_eq(
		    mqtt_decode(buf + off, n - off, MQTT_V311, 0, &p, &used),
		    0);
		cr_assert_eq(p.type, types[i]);
		off += used;
	}
	cr_assert_eq(off, n);
}

/* ------------------------------------------------------- iterators */

Test(iter, sub_next_walks_subscribe_and_unsubscribe)
{
	uint8_t buf[64];
	size_t n = unhex("82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02", buf,
	                 sizeof buf);
	struct mqtt_packet p;
	size_t used;
	struct mqtt_sub_entry e;
	uint32_t cur = 0;

	cr_assert_eq(mqtt_decode(buf, n, MQTT_V311, 0, &p, &used), 0);
	cr_assert_eq(p.subscribe.count, 2);
	cr_assert_eq(p.subscribe.entries_len, 12);
	cr_assert(mqtt_sub_next(&p, &cur, &e));
	assert_str(e.filter, str("a/b"), "filter 1");
	cr_assert_eq(e.opts, 1);
	cr_assert(mqtt_sub_next(&p, &cur, &e));
	assert_str(e.filter, str("c/d"), "filter 2");
	cr_assert_eq(e.opts, 2);
	cr_assert_not(mqtt_sub_next(&p, &cur, &e));
	cr_assert_not(mqtt_sub_next(&p, &cur, &e));

	n = unhex("a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64", buf, sizeof buf);
	cr_assert_eq(mqtt_decode(buf, n, MQTT_V311, 0, &p, &used), 0);
	cur = 0;
	cr_assert(mqtt_sub_next(&p, &cur, &e));
	assert_str(e.filter, str("a/b"), "filter 1");
	cr_assert_eq(e.opts, 0);
	cr_assert(mqtt_sub_next(&p, &cur, &e));
	assert_str(e.filter, str("c/d"), "filter 2");
	cr_assert_not(mqtt_sub_next(&p, &cur, &e));
}

Test(iter, props_iterators_skip_other_properties)
{
	uint8_t buf[64];
	/* PUBLISH 5.0: sub id 1, user a=b, topic alias 1, sub id 2, user c=d */
	size_t n = unhex("30 1a 00 01 74 15"
	                 " 0b 01 26 00 01 61 00 01 62 23 00 01"
	                 " 0b 02 26 00 01 63 00 01 64 78",
	                 buf, sizeof buf);
	struct mqtt_packet p;
	size_t used;

	cr_assert_eq(mqtt_decode(buf, n, MQTT_V5, 0, &p, &used), 0);
	const struct mqtt_props *pr = &p.publish.props;
	cr_assert_eq(pr->user_count, 2);
	cr_assert_eq(pr->sub_id_count, 2);
	cr_assert_eq(pr->sub_id, 1);
	cr_assert_eq(pr->topic_alias, 1);
	cr_assert_eq(pr->raw, buf + 6);
	cr_assert_eq(pr->raw_len, 0x15);
	assert_str(p.publish.payload, str("x"), "payload");

	uint32_t cur = 0, id;
	struct mqtt_user_prop up;
	cr_assert(mqtt_props_next_user(pr, &cur, &up));
	assert_str(up.key, str("a"), "k1");
	assert_str(up.val, str("b"), "v1");
	cr_assert(mqtt_props_next_user(pr, &cur, &up));
	assert_str(up.key, str("c"), "k2");
	assert_str(up.val, str("d"), "v2");
	cr_assert_not(mqtt_props_next_user(pr, &cur, &up));
	cur = 0;
	cr_assert(mqtt_props_next_sub_id(pr, &cur, &id));
	cr_assert_eq(id, 1);
	cr_assert(mqtt_props_next_sub_id(pr, &cur, &id));
	cr_assert_eq(id, 2);
	cr_assert_not(mqtt_props_next_sub_id(pr, &cur, &id));

	/* Empty and absent blocks iterate nothing. */
	struct mqtt_props none = {0};
	cur = 0;
	cr_assert_not(mqtt_props_next_user(&none, &cur, &up));
	cr_assert_not(mqtt_props_next_sub_id(&none, &cur, &id));
}

/* ------------------------------------------------------ publish head */

Test(publish_head, head_plus_payload_equals_encode)
{
	static uint8_t payload[300];
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	uint8_t head[64], full[512];

	memset(payload, 'z', sizeof payload);
	p.publish.topic = str("some/topic");
	p.publish.payload = bin(payload, sizeof payload);
	p.publish.props.present = BIT(MESSAGE_EXPIRY);
	p.publish.props.message_expiry = 9;
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		for (uint8_t q = 0; q < 3; q++) {
			p.publish.qos = q;
			p.publish.packet_id = q ? 99 : 0;
			size_t total = 0;
			size_t h = mqtt_encode_publish_head(
			    &p, v, head, sizeof head, &total);
			size_t n = mqtt_encode(&p, v, full, sizeof full);
			cr_assert_eq(total, n);
			cr_assert_eq(h + sizeof payload, n);
			cr_assert(memcmp(head, full, h) == 0);

			/* Sizing call and too small a buffer. */
			uint8_t small[4] = {0xA5, 0xA5, 0xA5, 0xA5};
			size_t t2 = 0;
			cr_assert_eq(
			    mqtt_encode_publish_head(&p, v, NULL, 0, &t2), h);
			cr_assert_eq(t2, n);
			cr_assert_eq(
			    mqtt_encode_publish_head(&p, v, small, 4, &t2), h);
			cr_assert_eq(small[0], 0xA5);
		}
	}
}

/* ---------------------------------------------------------- encoder */

Test(encode, unrepresentable_packets_size_zero)
{
	static uint8_t big[70000];
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	size_t total = 1;

	p.publish.topic = bin(big, sizeof big);
	cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 0);
	cr_assert_eq(mqtt_encode_publish_head(&p, MQTT_V311, NULL, 0, &total),
	             0);
	cr_assert_eq(total, 0);
	p.publish.topic = str("t");
	p.publish.qos = 3;
	cr_assert_eq(mqtt_encode(&p, MQTT_V311, NULL, 0), 0);
	p.publish.qos = 0;
	p.publish.props.present = BIT(SUBSCRIPTION_ID);
	p.publish.props.sub_id = 268435456;
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 0);
	cr_assert_gt(mqtt_encode(&p, MQTT_V311, NULL, 0), 0); /* no props */
	p.publish.props.present = BIT(CONTENT_TYPE);
	p.publish.props.content_type = bin(big, sizeof big);
	cr_assert_eq(mqtt_encode(&p, MQTT_V5, NULL, 0), 0);

	struct mqtt_packet c = {.type = MQTT_CONNECT};
	c.connect.client_id = bin(big, 65536);
	cr_assert_eq(mqtt_encode(&c, MQTT_V311, NULL, 0), 0);
	c.connect.client_id = bin(big, 65535);
	cr_assert_eq(mqtt_encode(&c, MQTT_V311, NULL, 0), 1 + 3 + 10 + 65537);
	c.connect.client_id = str("x");
	c.connect.will = true;
	c.connect.will_qos = 3;
	cr_assert_eq(mqtt_encode(&c, MQTT_V311, NULL, 0), 0);

	struct mqtt_packet a = {.type = MQTT_AUTH};
	cr_assert_eq(mqtt_encode(&a, MQTT_V311, NULL, 0), 0);
	cr_assert_eq(mqtt_encode(&a, MQTT_V5, NULL, 0), 2);
	a.type = 0;
	cr_assert_eq(mqtt_encode(&a, MQTT_V5, NULL, 0), 0);

	struct mqtt_packet s = {.type = MQTT_SUBSCRIBE};
	s.subscribe.packet_id = 1;
	s.subscribe.count = 1;
	cr_assert_eq(mqtt_encode(&s, MQTT_V5, NULL, 0), 0);
	struct mqtt_packet k = {.type = MQTT_SUBACK};
	k.suback.count = 1;
	cr_assert_eq(mqtt_encode(&k, MQTT_V311, NULL, 0), 0);
}

Test(encode, normalises_what_the_decoder_would_reject)
{
	uint8_t out[32];
	struct mqtt_packet p = {.type = MQTT_PUBLISH};

	/* DUP is never sent with QoS 0 [MQTT-3.3.1-2]. */
	p.publish.topic = str("t");
	p.publish.dup = true;
	size_t n = mqtt_encode(&p, MQTT_V311, out, sizeof out);
	cr_assert_eq(out[0], 0x30);

	/* Will QoS / retain without a will are dropped [MQTT-3.1.2-11]. */
	struct mqtt_packet c = {.type = MQTT_CONNECT};
	c.connect.will_qos = 2;
	c.connect.will_retain = true;
	c.connect.client_id = str("c");
	n = mqtt_encode(&c, MQTT_V311, out, sizeof out);
	cr_assert_eq(out[9], 0x00, "flags %02x", out[9]);

	/* 3.1.1 subscription options keep only the QoS [MQTT-3.8.3-4]. */
	static const struct mqtt_sub_entry e[] = {
	    {{(const uint8_t *)"a", 1}, 0x2d}};
	struct mqtt_packet s = {.type = MQTT_SUBSCRIBE};
	s.subscribe.packet_id = 1;
	s.subscribe.entries = e;
	s.subscribe.count = 1;
	n = mqtt_encode(&s, MQTT_V311, out, sizeof out);
	cr_assert_eq(out[n - 1], 0x01);
	n = mqtt_encode(&s, MQTT_V5, out, sizeof out);
	cr_assert_eq(out[n - 1], 0x2d);
}

/* ------------------------------------------------------------- misc */

Test(misc, err_reason)
{
	cr_assert_eq(mqtt_err_reason(TERN_EMALFORMED), 0x81);
	cr_assert_eq(mqtt_err_reason(TERN_EPROTOCOL), 0x82);
	cr_assert_eq(mqtt_err_reason(TERN_ETOOLARGE), 0x95);
	cr_assert_eq(mqtt_err_reason(TERN_EVERSION), 0x84);
	cr_assert_eq(mqtt_err_reason(TERN_ENOMEM), 0x80);
	cr_assert_eq(mqtt_err_reason(TERN_ENEEDMORE), 0x80);
	cr_assert_eq(mqtt_err_reason(0), 0x80);
	cr_assert_eq(mqtt_err_reason(-1000), 0x80);
}

Test(misc, type_name)
{
	cr_assert_str_eq(mqtt_type_name(MQTT_CONNECT), "CONNECT");
	cr_assert_str_eq(mqtt_type_name(MQTT_PUBLISH), "PUBLISH");
	cr_assert_str_eq(mqtt_type_name(MQTT_UNSUBSCRIBE), "UNSUBSCRIBE");
	cr_assert_str_eq(mqtt_type_name(MQTT_AUTH), "AUTH");
	cr_assert_str_eq(mqtt_type_name(0), "RESERVED");
	cr_assert_str_eq(mqtt_type_name(16), "UNKNOWN");
	cr_assert_str_eq(mqtt_type_name(255), "UNKNOWN");
}
