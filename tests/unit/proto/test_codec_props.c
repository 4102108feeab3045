/*
 * test_codec_props.c - MQTT 5.0 properties against the spec's Table 2-4
 * (section 2.2.2.2), transcribed here as text independently of the
 * decoder's own table: for every property and every packet type (and the
 * will), the property alone must decode iff the table allows it there
 * ("A Control Packet which contains an Identifier which is not valid for
 * its packet type ... is a Malformed Packet"), twice must be a Protocol
 * Error (except User Property, and Subscription Identifier in PUBLISH),
 * and every allowed (property, packet) pair must round-trip the encoder.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "mqtt.h"

/* MQTT 5.0 Table 2-4 - Properties. */
static const struct spec_prop {
	uint8_t id;
	const char *name;
	const char *type;
	const char *where;
} spec[] = {
    {0x01, "Payload Format Indicator", "byte", "PUBLISH WILL"},
    {0x02, "Message Expiry Interval", "u32", "PUBLISH WILL"},
    {0x03, "Content Type", "utf8", "PUBLISH WILL"},
    {0x08, "Response Topic", "utf8", "PUBLISH WILL"},
    {0x09, "Correlation Data", "binary", "PUBLISH WILL"},
    {0x0B, "Subscription Identifier", "vbi", "PUBLISH SUBSCRIBE"},
    {0x11, "Session Expiry Interval", "u32", "CONNECT CONNACK DISCONNECT"},
    {0x12, "Assigned Client Identifier", "utf8", "CONNACK"},
    {0x13, "Server Keep Alive", "u16", "CONNACK"},
    {0x15, "Authentication Method", "utf8", "CONNECT CONNACK AUTH"},
    {0x16, "Authentication Data", "binary", "CONNECT CONNACK AUTH"},
    {0x17, "Request Problem Information", "byte", "CONNECT"},
    {0x18, "Will Delay Interval", "u32", "WILL"},
    {0x19, "Request Response Information", "byte", "CONNECT"},
    {0x1A, "Response Information", "utf8", "CONNACK"},
    {0x1C, "Server Reference", "utf8", "CONNACK DISCONNECT"},
    {0x1F, "Reason String", "utf8",
     "CONNACK PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK DISCONNECT "
     "AUTH"},
    {0x21, "Receive Maximum", "u16", "CONNECT CONNACK"},
    {0x22, "Topic Alias Maximum", "u16", "CONNECT CONNACK"},
    {0x23, "Topic Alias", "u16", "PUBLISH"},
    {0x24, "Maximum QoS", "byte", "CONNACK"},
    {0x25, "Retain Available", "byte", "CONNACK"},
    {0x26, "User Property", "pair",
     "CONNECT CONNACK PUBLISH WILL PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE "
     "SUBACK UNSUBSCRIBE UNSUBACK DISCONNECT AUTH"},
    {0x27, "Maximum Packet Size", "u32", "CONNECT CONNACK"},
    {0x28, "Wildcard Subscription Available", "byte", "CONNACK"},
    {0x29, "Subscription Identifier Available", "byte", "CONNACK"},
    {0x2A, "Shared Subscription Available", "byte", "CONNACK"},
};
#define NSPEC (sizeof spec / sizeof spec[0])

/* Where a property block can be: packet types with one, and the will. */
#define CTX_WILL 0
static const struct {
	uint8_t type;
	const char *name;
} ctxs[] = {
    {CTX_WILL, "WILL"},
    {MQTT_CONNECT, "CONNECT"},
    {MQTT_CONNACK, "CONNACK"},
    {MQTT_PUBLISH, "PUBLISH"},
    {MQTT_PUBACK, "PUBACK"},
    {MQTT_PUBREC, "PUBREC"},
    {MQTT_PUBREL, "PUBREL"},
    {MQTT_PUBCOMP, "PUBCOMP"},
    {MQTT_SUBSCRIBE, "SUBSCRIBE"},
    {MQTT_SUBACK, "SUBACK"},
    {MQTT_UNSUBSCRIBE, "UNSUBSCRIBE"},
    {MQTT_UNSUBACK, "UNSUBACK"},
    {MQTT_DISCONNECT, "DISCONNECT"},
    {MQTT_AUTH, "AUTH"},
};
#define NCTX (sizeof ctxs / sizeof ctxs[0])

/* Is `word` one of the space-separated words of `list`? */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, word, n) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* A valid value of `type` (binary is 0x00: not UTF-8 checked). */
static size_t sample_value(const char *type, uint8_t *out)
{
	static const struct {
		const char *type;
		uint8_t len;
		uint8_t bytes[8];
	} v[] = {
	    {"byte", 1, {1}},
	    {"u16", 2, {0, 1}},
	    {"u32", 4, {0, 0, 0, 1}},
	    {"vbi", 1, {1}},
	    {"utf8", 3, {0, 1, 'x'}},
	    {"binary", 3, {0, 1, 0}},
	    {"pair", 6, {0, 1, 'k', 0, 1, 'v'}},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		if (strcmp(v[i].type, type) == 0) {
			memcpy(out, v[i].bytes, v[i].len);
			return v[i].len;
		}
	}
	cr_assert_fail("no sample for %s", type);
	return 0;
}

/*
 * A 5.0 packet of context `ctx` whose property block (the will's, for
 * CTX_WILL) is prop[0..plen); everything else minimal and valid.
 */
static size_t build(uint8_t ctx, const uint8_t *prop, size_t plen, uint8_t *out)
{
	uint8_t body[512];
	size_t n = 0;
	uint8_t first = (uint8_t)(ctx << 4);

#define PUT(...)                                                               \
	do {                                                                   \
		const uint8_t t_[] = {__VA_ARGS__};                            \
		memcpy(body + n, t_, sizeof t_);                               \
		n += sizeof t_;                                                \
	} while (0)
#define PROPS()                                                                \
	do {                                                                   \
		n += mqtt_vbi_encode((uint32_t)plen, body + n);                \
		memcpy(body + n, prop, plen);                                  \
		n += plen;                                                     \
	} while (0)

	switch (ctx) {
	case CTX_WILL:
		first = 0x10;
		PUT(0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 60, 0, 0, 1, 'c');
		PROPS();
		PUT(0, 1, 't', 0, 1, 'm');
		break;
	case MQTT_CONNECT:
		PUT(0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60);
		PROPS();
		PUT(0, 1, 'c');
		break;
	case MQTT_CONNACK:
		PUT(0, 0);
		PROPS();
		break;
	case MQTT_PUBLISH:
		PUT(0, 1, 't');
		PROPS();
		PUT('p');
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		if (ctx == MQTT_PUBREL)
			first |= 0x02;
		PUT(0, 1, 0);
		PROPS();
		break;
	case MQTT_SUBSCRIBE:
		first |= 0x02;
		PUT(0, 1);
		PROPS();
		PUT(0, 1, 'a', 0);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		PUT(0, 1);
		PROPS();
		PUT(0);
		break;
	case MQTT_UNSUBSCRIBE:
		first |= 0x02;
		PUT(0, 1);
		PROPS();
		PUT(0, 1, 'a');
		break;
	case MQTT_DISCONNECT:
		PUT(0);
		PROPS();
		break;
	case MQTT_AUTH:
		PUT(0x18);
		PROPS();
		break;
	default:
		cr_assert_fail("ctx %u", ctx);
	}
#undef PUT
#undef PROPS
	out[0] = first;
	size_t hl = 1 + mqtt_vbi_encode((uint32_t)n, out + 1);
	memcpy(out + hl, body, n);
	return hl + n;
}

/* The property block a decoded packet of context `ctx` carries. */
static const struct mqtt_props *props_of(const struct mqtt_packet *p,
                                         uint8_t ctx)
{
	switch (ctx) {
	case CTX_WILL:
		return &p->connect.will_props;
	case MQTT_CONNECT:
		return &p->connect.props;
	case MQTT_CONNACK:
		return &p->connack.props;
	case MQTT_PUBLISH:
		return &p->publish.props;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return &p->subscribe.props;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return &p->suback.props;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return &p->disconnect.props;
	default:
		return &p->ack.props;
	}
}

static struct mqtt_props *mprops_of(struct mqtt_packet *p, uint8_t ctx)
{
	return (struct mqtt_props *)props_of(p, ctx);
}

static int decode_one(uint8_t ctx, const uint8_t *prop, size_t plen,
                      struct mqtt_packet *out, uint8_t *buf)
{
	size_t n = build(ctx, prop, plen, buf), used = 0;
	int rc = mqtt_decode(buf, n, MQTT_V5, 0, out, &used);
	if (rc == 0)
		cr_assert_eq(used, n);
	return rc;
}

Test(props, table_2_4_allowed_matrix)
{
	static uint8_t buf[1024];

	for (size_t i = 0; i < NSPEC; i++) {
		for (size_t c = 0; c < NCTX; c++) {
			uint8_t prop[16] = {spec[i].id};
			size_t plen = 1 + sample_value(spec[i].type, prop + 1);
			struct mqtt_packet p;
			bool ok = has_word(spec[i].where, ctxs[c].name);
			int rc = decode_one(ctxs[c].type, prop, plen, &p, buf);

			cr_assert_eq(rc, ok ? 0 : TERN_EMALFORMED,
			             "%s in %s: %s", spec[i].name, ctxs[c].name,
			             tern_strerror(rc));
			if (!ok)
				continue;
			const struct mqtt_props *pr =
			    props_of(&p, ctxs[c].type);
			cr_assert_eq(pr->present, MQTT_PROP_BIT(spec[i].id),
			             "%s in %s", spec[i].name, ctxs[c].name);
			cr_assert_eq(pr->raw_len, plen);
		}
	}
}

Test(props, unknown_identifiers_are_malformed_everywhere)
{
	static uint8_t buf[1024];

	for (unsigned id = 0; id < 256; id++) {
		bool known = false;
		for (size_t i = 0; i < NSPEC; i++)
			known |= spec[i].id == id;
		if (known)
			continue;
		for (size_t c = 0; c < NCTX; c++) {
			/* id, then bytes that would be a plausible value */
			uint8_t prop[] = {(uint8_t)id, 0, 1, 'x'};
			struct mqtt_packet p;
			int rc = decode_one(ctxs[c].type, prop, sizeof prop, &p,
			                    buf);
			cr_assert_eq(rc, TERN_EMALFORMED, "id %#x in %s: %s",
			             id, ctxs[c].name, tern_strerror(rc));
		}
	}
}

Test(props, duplicates_are_protocol_errors)
{
	static uint8_t buf[1024];

	for (size_t i = 0; i < NSPEC; i++) {
		for (size_t c = 0; c < NCTX; c++) {
			if (!has_word(spec[i].where, ctxs[c].name))
				continue;
			uint8_t prop[32] = {spec[i].id};
			size_t one = 1 + sample_value(spec[i].type, prop + 1);
			memcpy(prop + one, prop, one);
			struct mqtt_packet p;
			int rc =
			    decode_one(ctxs[c].type, prop, 2 * one, &p, buf);
			bool multi = spec[i].id == MQTT_PROP_USER ||
			             (spec[i].id == MQTT_PROP_SUBSCRIPTION_ID &&
			              ctxs[c].type == MQTT_PUBLISH);
			cr_assert_eq(rc, multi ? 0 : TERN_EPROTOCOL,
			             "%s twice in %s: %s", spec[i].name,
			             ctxs[c].name, tern_strerror(rc));
			if (multi) {
				const struct mqtt_props *pr =
				    props_of(&p, ctxs[c].type);
				cr_assert_eq(pr->user_count + pr->sub_id_count,
				             2);
			}
		}
	}
}

Test(props, byte_properties_are_0_or_1)
{
	static uint8_t buf[1024];
	static const uint8_t values[] = {0, 1, 2, 3, 0x80, 0xff};

	for (size_t i = 0; i < NSPEC; i++) {
		if (strcmp(spec[i].type, "byte") != 0)
			continue;
		for (size_t c = 0; c < NCTX; c++) {
			if (!has_word(spec[i].where, ctxs[c].name))
				continue;
			for (size_t k = 0; k < sizeof values; k++) {
				uint8_t prop[] = {spec[i].id, values[k]};
				struct mqtt_packet p;
				int rc = decode_one(ctxs[c].type, prop,
				                    sizeof prop, &p, buf);
				cr_assert_eq(
				    rc, values[k] <= 1 ? 0 : TERN_EPROTOCOL,
				    "%s = %u in %s", spec[i].name, values[k],
				    ctxs[c].name);
			}
		}
	}
}

Test(props, zero_where_zero_is_a_protocol_error)
{
	static uint8_t buf[1024];
	static const struct {
		uint8_t ctx;
		uint8_t prop[6];
		uint8_t len;
		int rc;
	} cases[] = {
	    /* 3.1.2.11.3, 3.2.2.3.3: Receive Maximum 0 */
	    {MQTT_CONNECT, {0x21, 0, 0}, 3, TERN_EPROTOCOL},
	    {MQTT_CONNACK, {0x21, 0, 0}, 3, TERN_EPROTOCOL},
	    /* 3.1.2.11.4, 3.2.2.3.6: Maximum Packet Size 0 */
	    {MQTT_CONNECT, {0x27, 0, 0, 0, 0}, 5, TERN_EPROTOCOL},
	    {MQTT_CONNACK, {0x27, 0, 0, 0, 0}, 5, TERN_EPROTOCOL},
	    /* 3.3.2.3.4: Topic Alias 0 */
	    {MQTT_PUBLISH, {0x23, 0, 0}, 3, TERN_EPROTOCOL},
	    /* 3.3.2.3.8, 3.8.2.1.2: Subscription Identifier 0 */
	    {MQTT_PUBLISH, {0x0b, 0}, 2, TERN_EPROTOCOL},
	    {MQTT_SUBSCRIBE, {0x0b, 0}, 2, TERN_EPROTOCOL},
	    /* A non-minimal VBI of 0 is still 0 */
	    {MQTT_SUBSCRIBE, {0x0b, 0x80, 0}, 3, TERN_EPROTOCOL},
	    /* 0 is fine for these */
	    {MQTT_CONNECT, {0x22, 0, 0}, 3, 0},
	    {MQTT_CONNACK, {0x22, 0, 0}, 3, 0},
	    {MQTT_CONNECT, {0x11, 0, 0, 0, 0}, 5, 0},
	    {MQTT_PUBLISH, {0x02, 0, 0, 0, 0}, 5, 0},
	    {MQTT_CONNACK, {0x13, 0, 0}, 3, 0},
	    {CTX_WILL, {0x18, 0, 0, 0, 0}, 5, 0},
	    /* maxima */
	    {MQTT_CONNACK, {0x21, 0xff, 0xff}, 3, 0},
	    {MQTT_CONNACK, {0x27, 0xff, 0xff, 0xff, 0xff}, 5, 0},
	    {MQTT_PUBLISH, {0x0b, 0xff, 0xff, 0xff, 0x7f}, 5, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mqtt_packet p;
		int rc = decode_one(cases[i].ctx, cases[i].prop, cases[i].len,
		                    &p, buf);
		cr_assert_eq(rc, cases[i].rc, "case %zu: %s", i,
		             tern_strerror(rc));
	}
}

Test(props, strings_checked_binary_not)
{
	static uint8_t buf[1024];

	for (size_t i = 0; i < NSPEC; i++) {
		bool utf8 = strcmp(spec[i].type, "utf8") == 0;
		bool bin = strcmp(spec[i].type, "binary") == 0;
		bool pair = strcmp(spec[i].type, "pair") == 0;
		if (!utf8 && !bin && !pair)
			continue;
		for (size_t c = 0; c < NCTX; c++) {
			if (!has_word(spec[i].where, ctxs[c].name))
				continue;
			/* 0xff and U+0000: fine as binary, never as UTF-8 */
			uint8_t prop[] = {spec[i].id, 0, 2, 0xff,
			                  0x00,       0, 1, 'v'};
			size_t len = pair ? sizeof prop : 5;
			struct mqtt_packet p;
			int rc = decode_one(ctxs[c].type, prop, len, &p, buf);
			cr_assert_eq(rc, bin ? 0 : TERN_EMALFORMED,
			             "%s in %s: %s", spec[i].name, ctxs[c].name,
			             tern_strerror(rc));
			if (pair) {
				/* and the value of a pair is checked too */
				uint8_t pv[] = {spec[i].id, 0, 1,    'k',
				                0,          2, 0xc3, 0x28};
				rc = decode_one(ctxs[c].type, pv, sizeof pv, &p,
				                buf);
				cr_assert_eq(rc, TERN_EMALFORMED);
			}
		}
	}
}

Test(props, truncated_values_are_malformed)
{
	static uint8_t buf[1024];

	for (size_t i = 0; i < NSPEC; i++) {
		const char *where = spec[i].where;
		size_t c;
		for (c = 0; c < NCTX; c++)
			if (has_word(where, ctxs[c].name))
				break;
		uint8_t prop[16] = {spec[i].id};
		size_t plen = 1 + sample_value(spec[i].type, prop + 1);
		/* Every cut of the value inside a correct property length. */
		for (size_t k = 1; k < plen; k++) {
			struct mqtt_packet p;
			int rc = decode_one(ctxs[c].type, prop, k, &p, buf);
			cr_assert_eq(rc, TERN_EMALFORMED, "%s cut at %zu: %s",
			             spec[i].name, k, tern_strerror(rc));
		}
	}
}

/* Sets a recognisable value for property `id` in *pr. */
static void set_sample(struct mqtt_props *pr, uint8_t id)
{
	static const struct mqtt_user_prop up[] = {
	    {{(const uint8_t *)"key", 3}, {(const uint8_t *)"val", 3}},
	};
	static const uint8_t bin[] = {0x00, 0xff, 0x80};
	const struct mqtt_str s = {(const uint8_t *)"str/\xc3\xa9", 6};
	const struct mqtt_str b = {bin, sizeof bin};

	pr->present |= MQTT_PROP_BIT(id);
	switch (id) {
	case 0x01:
		pr->payload_format = 1;
		break;
	case 0x02:
		pr->message_expiry = 0x01020304;
		break;
	case 0x03:
		pr->content_type = s;
		break;
	case 0x08:
		pr->response_topic = s;
		break;
	case 0x09:
		pr->correlation_data = b;
		break;
	case 0x0B:
		pr->sub_id = 2097152;
		break;
	case 0x11:
		pr->session_expiry = 0xfffffffe;
		break;
	case 0x12:
		pr->assigned_client_id = s;
		break;
	case 0x13:
		pr->server_keep_alive = 0x0102;
		break;
	case 0x15:
		pr->auth_method = s;
		break;
	case 0x16:
		pr->auth_data = b;
		break;
	case 0x17:
		pr->request_problem_info = 1;
		break;
	case 0x18:
		pr->will_delay = 77;
		break;
	case 0x19:
		pr->request_response_info = 1;
		break;
	case 0x1A:
		pr->response_info = s;
		break;
	case 0x1C:
		pr->server_reference = s;
		break;
	case 0x1F:
		pr->reason_string = s;
		break;
	case 0x21:
		pr->receive_max = 0xfffe;
		break;
	case 0x22:
		pr->topic_alias_max = 0x0203;
		break;
	case 0x23:
		pr->topic_alias = 0x0304;
		break;
	case 0x24:
		pr->max_qos = 1;
		break;
	case 0x25:
		pr->retain_available = 1;
		break;
	case 0x26:
		pr->user = up;
		pr->user_count = 1;
		break;
	case 0x27:
		pr->max_packet_size = 0x7fffffff;
		break;
	case 0x28:
		pr->wildcard_sub_available = 1;
		break;
	case 0x29:
		pr->sub_id_available = 1;
		break;
	case 0x2A:
		pr->shared_sub_available = 1;
		break;
	default:
		cr_assert_fail("id %#x", id);
	}
}

/* A 5.0 packet of context `ctx`, otherwise minimal and valid. */
static void minimal_packet(struct mqtt_packet *p, uint8_t ctx)
{
	static const struct mqtt_sub_entry e[] = {
	    {{(const uint8_t *)"a", 1}, 1}};
	static const uint8_t rc[] = {0};

	memset(p, 0, sizeof *p);
	p->type = ctx == CTX_WILL ? MQTT_CONNECT : ctx;
	switch (p->type) {
	case MQTT_CONNECT:
		p->connect.client_id =
		    (struct mqtt_str){(const uint8_t *)"c", 1};
		if (ctx == CTX_WILL) {
			p->connect.will = true;
			p->connect.will_topic =
			    (struct mqtt_str){(const uint8_t *)"w", 1};
		}
		break;
	case MQTT_PUBLISH:
		p->publish.topic = (struct mqtt_str){(const uint8_t *)"t", 1};
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		p->subscribe.packet_id = 1;
		p->subscribe.entries = e;
		p->subscribe.count = 1;
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		p->suback.packet_id = 1;
		p->suback.reasons = rc;
		p->suback.count = 1;
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		p->ack.packet_id = 1;
		break;
	default:
		break;
	}
}

static void assert_same(const struct mqtt_props *g, const struct mqtt_props *w,
                        uint8_t id, const char *what)
{
#define SEQ(f)                                                                 \
	cr_assert(g->f.len == w->f.len &&                                      \
	              memcmp(g->f.p, w->f.p, w->f.len) == 0,                   \
	          "%s", what)
	switch (id) {
	case 0x01:
		cr_assert_eq(g->payload_format, w->payload_format);
		break;
	case 0x02:
		cr_assert_eq(g->message_expiry, w->message_expiry);
		break;
	case 0x03:
		SEQ(content_type);
		break;
	case 0x08:
		SEQ(response_topic);
		break;
	case 0x09:
		SEQ(correlation_data);
		break;
	case 0x0B:
		cr_assert_eq(g->sub_id, w->sub_id);
		cr_assert_eq(g->sub_id_count, 1);
		break;
	case 0x11:
		cr_assert_eq(g->session_expiry, w->session_expiry);
		break;
	case 0x12:
		SEQ(assigned_client_id);
		break;
	case 0x13:
		cr_assert_eq(g->server_keep_alive, w->server_keep_alive);
		break;
	case 0x15:
		SEQ(auth_method);
		break;
	case 0x16:
		SEQ(auth_data);
		break;
	case 0x17:
		cr_assert_eq(g->request_problem_info, w->request_problem_info);
		break;
	case 0x18:
		cr_assert_eq(g->will_delay, w->will_delay);
		break;
	case 0x19:
		cr_assert_eq(g->request_response_info,
		             w->request_response_info);
		break;
	case 0x1A:
		SEQ(response_info);
		break;
	case 0x1C:
		SEQ(server_reference);
		break;
	case 0x1F:
		SEQ(reason_string);
		break;
	case 0x21:
		cr_assert_eq(g->receive_max, w->receive_max);
		break;
	case 0x22:
		cr_assert_eq(g->topic_alias_max, w->topic_alias_max);
		break;
	case 0x23:
		cr_assert_eq(g->topic_alias, w->topic_alias);
		break;
	case 0x24:
		cr_assert_eq(g->max_qos, w->max_qos);
		break;
	case 0x25:
		cr_assert_eq(g->retain_available, w->retain_available);
		break;
	case 0x26: {
		uint32_t cur = 0;
		struct mqtt_user_prop up;
		cr_assert_eq(g->user_count, 1);
		cr_assert(mqtt_props_next_user(g, &cur, &up));
		cr_assert(up.key.len == 3 && memcmp(up.key.p, "key", 3) == 0);
		cr_assert(up.val.len == 3 && memcmp(up.val.p, "val", 3) == 0);
		break;
	}
	case 0x27:
		cr_assert_eq(g->max_packet_size, w->max_packet_size);
		break;
	case 0x28:
		cr_assert_eq(g->wildcard_sub_available,
		             w->wildcard_sub_available);
		break;
	case 0x29:
		cr_assert_eq(g->sub_id_available, w->sub_id_available);
		break;
	case 0x2A:
		cr_assert_eq(g->shared_sub_available, w->shared_sub_available);
		break;
	default:
		cr_assert_fail("id %#x", id);
	}
#undef SEQ
}

Test(props, every_allowed_property_round_trips_in_every_packet)
{
	static uint8_t buf[1024];
	size_t pairs = 0;

	for (size_t i = 0; i < NSPEC; i++) {
		for (size_t c = 0; c < NCTX; c++) {
			if (!has_word(spec[i].where, ctxs[c].name))
				continue;
			struct mqtt_packet in, out;
			minimal_packet(&in, ctxs[c].type);
			struct mqtt_props *w = mprops_of(&in, ctxs[c].type);
			set_sample(w, spec[i].id);

			size_t n = mqtt_encode(&in, MQTT_V5, buf, sizeof buf);
			cr_assert_gt(n, 0);
			size_t used;
			int rc = mqtt_decode(buf, n, MQTT_V5, 0, &out, &used);
			cr_assert_eq(rc, 0, "%s in %s: %s", spec[i].name,
			             ctxs[c].name, tern_strerror(rc));
			cr_assert_eq(used, n);
			const struct mqtt_props *g =
			    props_of(&out, ctxs[c].type);
			cr_assert_eq(g->present, MQTT_PROP_BIT(spec[i].id));
			assert_same(g, w, spec[i].id, spec[i].name);
			pairs++;
		}
	}
	/* 27 properties, 64 (property, packet) pairs in Table 2-4. */
	cr_assert_eq(pairs, 64);
}

Test(props, v3_packets_have_no_property_block)
{
	/* A 3.1.1 PUBLISH: what would be a property block is payload. */
	static const uint8_t buf[] = {0x30, 0x06, 0x00, 0x01,
	                              't',  0x02, 0x01, 0x01};
	struct mqtt_packet p;
	size_t used;

	cr_assert_eq(mqtt_decode(buf, sizeof buf, MQTT_V311, 0, &p, &used), 0);
	cr_assert_eq(p.publish.props.present, 0);
	cr_assert_eq(p.publish.payload.len, 3);
	/* The same bytes as 5.0: Payload Format Indicator 1, empty payload */
	cr_assert_eq(mqtt_decode(buf, sizeof buf, MQTT_V5, 0, &p, &used), 0);
	cr_assert_eq(p.publish.props.payload_format, 1);
	cr_assert_eq(p.publish.payload.len, 0);
}
