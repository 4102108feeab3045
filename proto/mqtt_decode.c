/*
 * mqtt_decode.c - MQTT 3.1 / 3.1.1 / 5.0 packet decoder.
 *
 * Everything here reads through a bounded cursor (struct rd) over one whole
 * packet: no read can leave buf[0..header_len + remaining), no length read
 * from the wire is trusted before it is compared with what is left, and
 * nothing is allocated. Decoded strings are views into the caller's buffer.
 *
 * Once the whole packet is in, running out of bytes is TERN_EMALFORMED (the
 * packet lied about its length); TERN_ENEEDMORE only ever comes from the
 * fixed header or a packet that has not fully arrived.
 *
 * Error precedence inside a packet follows the wire order: the first rule
 * broken, reading front to back, decides the error.
 */
#include <string.h>

#include "mqtt.h"

/* ---------------------------------------------------------------- reader */

struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static inline size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline int rd_u8(struct rd *r, uint8_t *v)
{
	if (r->p == r->end)
		return TERN_EMALFORMED;
	*v = *r->p++;
	return 0;
}

static inline int rd_u16(struct rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return TERN_EMALFORMED;
	*v = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	return 0;
}

static inline int rd_u32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return TERN_EMALFORMED;
	*v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
	     ((uint32_t)r->p[2] << 8) | r->p[3];
	r->p += 4;
	return 0;
}

/* Variable byte integer of 1 to 4 bytes [MQTT-1.5.5]. */
static int rd_vbi(struct rd *r, uint32_t *v)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < 4; i++) {
		uint8_t b;

		if (rd_u8(r, &b))
			return TERN_EMALFORMED;
		val |= (uint32_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			*v = val;
			return 0;
		}
	}
	return TERN_EMALFORMED;
}

/* Binary Data: two-byte length then that many bytes. */
static inline int rd_bin(struct rd *r, struct mqtt_str *s)
{
	uint16_t n;

	if (rd_u16(r, &n) || rd_left(r) < n)
		return TERN_EMALFORMED;
	s->p = r->p;
	s->len = n;
	r->p += n;
	return 0;
}

/* UTF-8 Encoded String [MQTT-1.5.4-1] [MQTT-1.5.4-2]. */
static inline int rd_str(struct rd *r, struct mqtt_str *s)
{
	if (rd_bin(r, s) || !mqtt_utf8_valid(s->p, s->len))
		return TERN_EMALFORMED;
	return 0;
}

/* A packet identifier where one is required: non-zero [MQTT-2.3.1-1]. */
static inline int rd_packet_id(struct rd *r, uint16_t *id)
{
	if (rd_u16(r, id) || *id == 0)
		return TERN_EMALFORMED;
	return 0;
}

static inline int rd_end(const struct rd *r)
{
	return r->p == r->end ? 0 : TERN_EMALFORMED;
}

/* ------------------------------------------------------------ properties */

enum prop_kind {
	K_NONE = 0,
	K_BYTE,
	K_U16,
	K_U32,
	K_VBI,
	K_STR,
	K_BIN,
	K_PAIR,
};

/* Where a property may appear: bit N for packet type N, bit 0 for will. */
#define CTX_WILL 0x0001u
#define C(t)     (1u << MQTT_##t)
#define CTX_ACKS (C(PUBACK) | C(PUBREC) | C(PUBREL) | C(PUBCOMP))
#define CTX_ANY                                                                \
	(CTX_WILL | C(CONNECT) | C(CONNACK) | C(PUBLISH) | CTX_ACKS |          \
	 C(SUBSCRIBE) | C(SUBACK) | C(UNSUBSCRIBE) | C(UNSUBACK) |             \
	 C(DISCONNECT) | C(AUTH))

#define PROP_MAX MQTT_PROP_SHARED_SUB_AVAILABLE

/* MQTT 5.0 section 2.2.2.2, Table 2-4. */
static const struct {
	uint8_t kind;
	uint16_t ctx;
} prop_tab[PROP_MAX + 1] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = {K_BYTE, C(PUBLISH) | CTX_WILL},
    [MQTT_PROP_MESSAGE_EXPIRY] = {K_U32, C(PUBLISH) | CTX_WILL},
    [MQTT_PROP_CONTENT_TYPE] = {K_STR, C(PUBLISH) | CTX_WILL},
    [MQTT_PROP_RESPONSE_TOPIC] = {K_STR, C(PUBLISH) | CTX_WILL},
    [MQTT_PROP_CORRELATION_DATA] = {K_BIN, C(PUBLISH) | CTX_WILL},
    [MQTT_PROP_SUBSCRIPTION_ID] = {K_VBI, C(PUBLISH) | C(SUBSCRIBE)},
    [MQTT_PROP_SESSION_EXPIRY] = {K_U32,
                                  C(CONNECT) | C(CONNACK) | C(DISCONNECT)},
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = {K_STR, C(CONNACK)},
    [MQTT_PROP_SERVER_KEEP_ALIVE] = {K_U16, C(CONNACK)},
    [MQTT_PROP_AUTH_METHOD] = {K_STR, C(CONNECT) | C(CONNACK) | C(AUTH)},
    [MQTT_PROP_AUTH_DATA] = {K_BIN, C(CONNECT) | C(CONNACK) | C(AUTH)},
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = {K_BYTE, C(CONNECT)},
    [MQTT_PROP_WILL_DELAY] = {K_U32, CTX_WILL},
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = {K_BYTE, C(CONNECT)},
    [MQTT_PROP_RESPONSE_INFO] = {K_STR, C(CONNACK)},
    [MQTT_PROP_SERVER_REFERENCE] = {K_STR, C(CONNACK) | C(DISCONNECT)},
    [MQTT_PROP_REASON_STRING] = {K_STR, C(CONNACK) | CTX_ACKS | C(SUBACK) |
                                            C(UNSUBACK) | C(DISCONNECT) |
                                            C(AUTH)},
    [MQTT_PROP_RECEIVE_MAX] = {K_U16, C(CONNECT) | C(CONNACK)},
    [MQTT_PROP_TOPIC_ALIAS_MAX] = {K_U16, C(CONNECT) | C(CONNACK)},
    [MQTT_PROP_TOPIC_ALIAS] = {K_U16, C(PUBLISH)},
    [MQTT_PROP_MAX_QOS] = {K_BYTE, C(CONNACK)},
    [MQTT_PROP_RETAIN_AVAILABLE] = {K_BYTE, C(CONNACK)},
    [MQTT_PROP_USER] = {K_PAIR, CTX_ANY},
    [MQTT_PROP_MAX_PACKET_SIZE] = {K_U32, C(CONNECT) | C(CONNACK)},
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {K_BYTE, C(CONNACK)},
    [MQTT_PROP_SUB_ID_AVAILABLE] = {K_BYTE, C(CONNACK)},
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = {K_BYTE, C(CONNACK)},
};

struct prop_val {
	uint32_t num;
	struct mqtt_str s;
	struct mqtt_str s2;
};

/* Reads a value of `kind`; `check_utf8` is false when only skipping. */
static int rd_prop_val(struct rd *r, uint8_t kind, bool check_utf8,
                       struct prop_val *v)
{
	uint8_t b;
	uint16_t h;

	switch (kind) {
	case K_BYTE:
		if (rd_u8(r, &b))
			return TERN_EMALFORMED;
		v->num = b;
		return 0;
	case K_U16:
		if (rd_u16(r, &h))
			return TERN_EMALFORMED;
		v->num = h;
		return 0;
	case K_U32:
		return rd_u32(r, &v->num);
	case K_VBI:
		return rd_vbi(r, &v->num);
	case K_STR:
		return check_utf8 ? rd_str(r, &v->s) : rd_bin(r, &v->s);
	case K_BIN:
		return rd_bin(r, &v->s);
	case K_PAIR:
		if (check_utf8)
			return rd_str(r, &v->s) || rd_str(r, &v->s2)
			           ? TERN_EMALFORMED
			           : 0;
		return rd_bin(r, &v->s) || rd_bin(r, &v->s2) ? TERN_EMALFORMED
		                                             : 0;
	default:
		return TERN_EMALFORMED;
	}
}

/* A value that must be 0 or 1 (Payload Format, Maximum QoS, ...). */
static inline int want_bool(uint32_t num, uint8_t *dst)
{
	if (num > 1)
		return TERN_EPROTOCOL;
	*dst = (uint8_t)num;
	return 0;
}

/* A two-byte value for which 0 is a Protocol Error. */
static inline int want_nonzero16(uint32_t num, uint16_t *dst)
{
	if (num == 0)
		return TERN_EPROTOCOL;
	*dst = (uint16_t)num;
	return 0;
}

static int store_prop(struct mqtt_props *pr, uint8_t id,
                      const struct prop_val *v)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT:
		return want_bool(v->num, &pr->payload_format);
	case MQTT_PROP_MESSAGE_EXPIRY:
		pr->message_expiry = v->num;
		return 0;
	case MQTT_PROP_CONTENT_TYPE:
		pr->content_type = v->s;
		return 0;
	case MQTT_PROP_RESPONSE_TOPIC:
		pr->response_topic = v->s;
		return 0;
	case MQTT_PROP_CORRELATION_DATA:
		pr->correlation_data = v->s;
		return 0;
	case MQTT_PROP_SUBSCRIPTION_ID:
		if (v->num == 0)
			return TERN_EPROTOCOL;
		if (pr->sub_id_count == UINT16_MAX)
			return TERN_ETOOLARGE;
		if (pr->sub_id_count++ == 0)
			pr->sub_id = v->num;
		return 0;
	case MQTT_PROP_SESSION_EXPIRY:
		pr->session_expiry = v->num;
		return 0;
	case MQTT_PROP_ASSIGNED_CLIENT_ID:
		pr->assigned_client_id = v->s;
		return 0;
	case MQTT_PROP_SERVER_KEEP_ALIVE:
		pr->server_keep_alive = (uint16_t)v->num;
		return 0;
	case MQTT_PROP_AUTH_METHOD:
		pr->auth_method = v->s;
		return 0;
	case MQTT_PROP_AUTH_DATA:
		pr->auth_data = v->s;
		return 0;
	case MQTT_PROP_REQUEST_PROBLEM_INFO:
		return want_bool(v->num, &pr->request_problem_info);
	case MQTT_PROP_WILL_DELAY:
		pr->will_delay = v->num;
		return 0;
	case MQTT_PROP_REQUEST_RESPONSE_INFO:
		return want_bool(v->num, &pr->request_response_info);
	case MQTT_PROP_RESPONSE_INFO:
		pr->response_info = v->s;
		return 0;
	case MQTT_PROP_SERVER_REFERENCE:
		pr->server_reference = v->s;
		return 0;
	case MQTT_PROP_REASON_STRING:
		pr->reason_string = v->s;
		return 0;
	case MQTT_PROP_RECEIVE_MAX:
		return want_nonzero16(v->num, &pr->receive_max);
	case MQTT_PROP_TOPIC_ALIAS_MAX:
		pr->topic_alias_max = (uint16_t)v->num;
		return 0;
	case MQTT_PROP_TOPIC_ALIAS:
		return want_nonzero16(v->num, &pr->topic_alias);
	case MQTT_PROP_MAX_QOS:
		return want_bool(v->num, &pr->max_qos);
	case MQTT_PROP_RETAIN_AVAILABLE:
		return want_bool(v->num, &pr->retain_available);
	case MQTT_PROP_USER:
		if (pr->user_count == UINT16_MAX)
			return TERN_ETOOLARGE;
		pr->user_count++;
		return 0;
	case MQTT_PROP_MAX_PACKET_SIZE:
		if (v->num == 0)
			return TERN_EPROTOCOL;
		pr->max_packet_size = v->num;
		return 0;
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
		return want_bool(v->num, &pr->wildcard_sub_available);
	case MQTT_PROP_SUB_ID_AVAILABLE:
		return want_bool(v->num, &pr->sub_id_available);
	case MQTT_PROP_SHARED_SUB_AVAILABLE:
		return want_bool(v->num, &pr->shared_sub_available);
	default:
		return TERN_EMALFORMED;
	}
}

/*
 * Property Length (a VBI) then the properties, for a packet of type `ptype`
 * (0: will properties). *pr must be zeroed by the caller.
 */
static int rd_props(struct rd *r, uint8_t ptype, struct mqtt_props *pr)
{
	uint16_t ctx = ptype ? (uint16_t)(1u << ptype) : CTX_WILL;
	uint32_t len;

	if (rd_vbi(r, &len) || len > rd_left(r))
		return TERN_EMALFORMED;
	pr->raw = r->p;
	pr->raw_len = len;

	struct rd pr_rd = {r->p, r->p + len};
	r->p += len;
	while (pr_rd.p < pr_rd.end) {
		/*
		 * The identifier is a VBI, but every defined one fits in a
		 * single byte: a continuation bit means an unknown id.
		 */
		uint8_t id = *pr_rd.p++;
		if (id > PROP_MAX || prop_tab[id].kind == K_NONE ||
		    !(prop_tab[id].ctx & ctx))
			return TERN_EMALFORMED;

		struct prop_val v = {0};
		int rc = rd_prop_val(&pr_rd, prop_tab[id].kind, true, &v);
		if (rc)
			return rc;

		uint64_t bit = MQTT_PROP_BIT(id);
		if ((pr->present & bit) && id != MQTT_PROP_USER &&
		    !(id == MQTT_PROP_SUBSCRIPTION_ID && ptype == MQTT_PUBLISH))
			return TERN_EPROTOCOL;
		pr->present |= bit;
		rc = store_prop(pr, id, &v);
		if (rc)
			return rc;
	}
	return 0;
}

/* --------------------------------------------------------- fixed header */

int mqtt_decode_header(const uint8_t *buf, size_t len, uint8_t *type,
                       uint8_t *flags, uint32_t *remaining,
                       uint32_t *header_len)
{
	if (len == 0)
		return TERN_ENEEDMORE;
	if ((buf[0] >> 4) == 0)
		return TERN_EMALFORMED;

	uint32_t v = 0;
	for (unsigned i = 0; i < 4; i++) {
		if (len < 2 + i)
			return TERN_ENEEDMORE;
		uint8_t b = buf[1 + i];
		v |= (uint32_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			*type = buf[0] >> 4;
			*flags = buf[0] & 0x0F;
			*remaining = v;
			*header_len = 2 + i;
			return 0;
		}
	}
	return TERN_EMALFORMED;
}

/* Fixed header flags [MQTT-2.2.2-1] [MQTT-2.2.2-2], PUBLISH QoS and DUP. */
static int check_flags(uint8_t type, uint8_t flags, bool v5)
{
	switch (type) {
	case MQTT_PUBLISH: {
		uint8_t qos = (flags >> 1) & 3;
		if (qos == 3)
			return TERN_EMALFORMED; /* [MQTT-3.3.1-4] */
		if ((flags & 0x08) && qos == 0)
			return TERN_EMALFORMED; /* [MQTT-3.3.1-2] */
		return 0;
	}
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return flags == 0x02 ? 0 : TERN_EMALFORMED;
	case MQTT_AUTH:
		if (!v5)
			return TERN_EPROTOCOL; /* reserved type before 5.0 */
		return flags == 0 ? 0 : TERN_EMALFORMED;
	default:
		return flags == 0 ? 0 : TERN_EMALFORMED;
	}
}

/* ------------------------------------------------------------- packets */

static bool str_is(const struct mqtt_str *s, const char *lit, uint32_t n)
{
	return s->len == n && memcmp(s->p, lit, n) == 0;
}

static int dec_connect(struct rd *r, struct mqtt_connect *c)
{
	struct mqtt_str name;
	uint8_t level = 0, fl;
	int rc;

	memset(c, 0, sizeof *c);
	if (rd_str(r, &name))
		return TERN_EMALFORMED;
	bool have_level = rd_u8(r, &level) == 0;
	c->version = level;
	if (str_is(&name, "MQTT", 4)) {
		if (!have_level)
			return TERN_EMALFORMED;
		if (level != MQTT_V311 && level != MQTT_V5)
			return TERN_EVERSION;
	} else if (str_is(&name, "MQIsdp", 6)) {
		if (!have_level)
			return TERN_EMALFORMED;
		if (level != MQTT_V31)
			return TERN_EVERSION;
	} else {
		return TERN_EVERSION; /* [MQTT-3.1.2-1] */
	}
	bool v5 = level == MQTT_V5;

	if (rd_u8(r, &fl) || rd_u16(r, &c->keepalive))
		return TERN_EMALFORMED;
	if (fl & 0x01)
		return TERN_EMALFORMED; /* [MQTT-3.1.2-3] */
	c->clean_start = fl & 0x02;
	c->will = fl & 0x04;
	c->will_qos = (fl >> 3) & 3;
	c->will_retain = fl & 0x20;
	c->has_password = fl & 0x40;
	c->has_username = fl & 0x80;
	if (!c->will && (c->will_qos || c->will_retain))
		return TERN_EMALFORMED; /* [MQTT-3.1.2-11/13/15] */
	if (c->will_qos == 3)
		return TERN_EMALFORMED; /* [MQTT-3.1.2-14] */
	if (!v5 && c->has_password && !c->has_username)
		return TERN_EMALFORMED; /* [MQTT-3.1.2-22]; 5.0 allows it */

	if (v5 && (rc = rd_props(r, MQTT_CONNECT, &c->props)))
		return rc;
	if (rd_str(r, &c->client_id))
		return TERN_EMALFORMED;
	if (c->will) {
		if (v5 && (rc = rd_props(r, 0, &c->will_props)))
			return rc;
		if (rd_str(r, &c->will_topic) || rd_bin(r, &c->will_payload))
			return TERN_EMALFORMED;
	}
	if (c->has_username && rd_str(r, &c->username))
		return TERN_EMALFORMED;
	if (c->has_password && rd_bin(r, &c->password))
		return TERN_EMALFORMED;
	return rd_end(r);
}

static int dec_connack(struct rd *r, bool v5, struct mqtt_connack *c)
{
	uint8_t fl;
	int rc;

	memset(c, 0, sizeof *c);
	if (!v5 && rd_left(r) != 2)
		return TERN_EMALFORMED;
	if (rd_u8(r, &fl) || rd_u8(r, &c->reason))
		return TERN_EMALFORMED;
	if (fl & 0xFE)
		return TERN_EMALFORMED; /* [MQTT-3.2.2-1] reserved ack flags */
	c->session_present = fl & 0x01;
	if (v5 && (rc = rd_props(r, MQTT_CONNACK, &c->props)))
		return rc;
	return rd_end(r);
}

static int dec_publish(struct rd *r, uint8_t flags, bool v5,
                       struct mqtt_publish *p)
{
	int rc;

	memset(p, 0, sizeof *p);
	p->qos = (flags >> 1) & 3;
	p->dup = flags & 0x08;
	p->retain = flags & 0x01;
	if (rd_str(r, &p->topic))
		return TERN_EMALFORMED; /* [MQTT-3.3.2-1] */
	if (p->qos && rd_packet_id(r, &p->packet_id))
		return TERN_EMALFORMED;
	if (v5 && (rc = rd_props(r, MQTT_PUBLISH, &p->props)))
		return rc;
	p->payload.p = r->p;
	p->payload.len = (uint32_t)rd_left(r);
	r->p = r->end;
	return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
static int dec_ack(struct rd *r, uint8_t type, bool v5, struct mqtt_ack *a)
{
	memset(a, 0, sizeof *a);
	if (!v5 && rd_left(r) != 2)
		return TERN_EMALFORMED;
	if (rd_packet_id(r, &a->packet_id))
		return TERN_EMALFORMED;
	if (!v5 || rd_left(r) == 0)
		return 0; /* reason 0x00, no properties */
	a->reason = *r->p++;
	if (rd_left(r) == 0)
		return 0; /* no Property Length: no properties */
	int rc = rd_props(r, type, &a->props);
	return rc ? rc : rd_end(r);
}

/* SUBSCRIBE and UNSUBSCRIBE. */
static int dec_subscribe(struct rd *r, uint8_t type, bool v5,
                         struct mqtt_subscribe *s)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (rd_packet_id(r, &s->packet_id))
		return TERN_EMALFORMED;
	if (v5 && (rc = rd_props(r, type, &s->props)))
		return rc;
	if (rd_left(r) == 0)
		return TERN_EPROTOCOL; /* [MQTT-3.8.3-2] [MQTT-3.10.3-2] */
	s->entries_raw = r->p;
	s->entries_len = (uint32_t)rd_left(r);
	while (rd_left(r)) {
		struct mqtt_str f;
		uint8_t o;

		if (rd_str(r, &f) || f.len == 0)
			return TERN_EMALFORMED; /* [MQTT-4.7.3-1] */
		if (type == MQTT_SUBSCRIBE) {
			if (rd_u8(r, &o))
				return TERN_EMALFORMED;
			if (MQTT_SUBOPT_QOS(o) == 3)
				return TERN_EMALFORMED;
			if (!v5 && (o & 0xFC))
				return TERN_EMALFORMED; /* [MQTT-3.8.3-4] */
			if (v5 && (o & 0xC0))
				return TERN_EMALFORMED; /* [MQTT-3.8.3-5] */
			if (v5 && MQTT_SUBOPT_RH(o) == 3)
				return TERN_EPROTOCOL;
		}
		if (s->count == UINT16_MAX)
			return TERN_ETOOLARGE;
		s->count++;
	}
	return 0;
}

/* SUBACK and UNSUBACK. */
static int dec_suback(struct rd *r, uint8_t type, bool v5,
                      struct mqtt_suback *s)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (type == MQTT_UNSUBACK && !v5) {
		/* 3.1.1: the packet identifier and nothing else */
		if (rd_left(r) != 2)
			return TERN_EMALFORMED;
		return rd_packet_id(r, &s->packet_id);
	}
	if (rd_packet_id(r, &s->packet_id))
		return TERN_EMALFORMED;
	if (v5 && (rc = rd_props(r, type, &s->props)))
		return rc;
	if (rd_left(r) == 0)
		return TERN_EPROTOCOL; /* one reason code per filter */
	if (rd_left(r) > UINT16_MAX)
		return TERN_ETOOLARGE;
	s->count = (uint16_t)rd_left(r);
	s->reasons = r->p;
	r->p = r->end;
	return 0;
}

/* DISCONNECT and AUTH. */
static int dec_disconnect(struct rd *r, uint8_t type, bool v5,
                          struct mqtt_disconnect *d)
{
	memset(d, 0, sizeof *d);
	if (!v5)
		return rd_left(r) == 0 ? 0 : TERN_EMALFORMED;
	if (rd_left(r) == 0)
		return 0; /* reason 0x00, no properties */
	d->reason = *r->p++;
	if (rd_left(r) == 0)
		return 0;
	int rc = rd_props(r, type, &d->props);
	return rc ? rc : rd_end(r);
}

int mqtt_decode(const uint8_t *buf, size_t len, uint8_t version,
                uint32_t max_size, struct mqtt_packet *out, size_t *consumed)
{
	uint8_t type, flags;
	uint32_t rem, hl;
	bool v5 = version == MQTT_V5;
	int rc;

	rc = mqtt_decode_header(buf, len, &type, &flags, &rem, &hl);
	if (rc)
		return rc;
	rc = check_flags(type, flags, v5);
	if (rc)
		return rc;
	size_t total = (size_t)hl + rem;
	if (max_size && total > max_size)
		return TERN_ETOOLARGE;
	if (len < total)
		return TERN_ENEEDMORE;

	struct rd r = {buf + hl, buf + total};
	out->type = type;
	out->flags = flags;
	switch (type) {
	case MQTT_CONNECT:
		rc = dec_connect(&r, &out->connect);
		break;
	case MQTT_CONNACK:
		rc = dec_connack(&r, v5, &out->connack);
		break;
	case MQTT_PUBLISH:
		rc = dec_publish(&r, flags, v5, &out->publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		rc = dec_ack(&r, type, v5, &out->ack);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		rc = dec_subscribe(&r, type, v5, &out->subscribe);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		rc = dec_suback(&r, type, v5, &out->suback);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		rc = rem == 0 ? 0 : TERN_EMALFORMED;
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		rc = dec_disconnect(&r, type, v5, &out->disconnect);
		break;
	default:
		rc = TERN_EMALFORMED; /* unreachable: type 0 fails the header */
		break;
	}
	if (rc == 0)
		*consumed = total;
	return rc;
}

/* ------------------------------------------------------------ iterators */

/*
 * Steps over the property at raw[*cursor]; returns its id and a reader over
 * its value, or 0 at the end. The block was validated when decoded, so a
 * damaged one only happens if the caller built it; it simply ends the walk.
 */
static uint8_t prop_step(const struct mqtt_props *pr, uint32_t *cursor,
                         struct prop_val *v)
{
	if (!pr->raw || *cursor >= pr->raw_len)
		return 0;

	struct rd r = {pr->raw + *cursor, pr->raw + pr->raw_len};
	uint8_t id = *r.p++;
	if (id > PROP_MAX || prop_tab[id].kind == K_NONE)
		return 0;
	if (rd_prop_val(&r, prop_tab[id].kind, false, v))
		return 0;
	*cursor = (uint32_t)(r.p - pr->raw);
	return id;
}

bool mqtt_props_next_user(const struct mqtt_props *props, uint32_t *cursor,
                          struct mqtt_user_prop *out)
{
	struct prop_val v;
	uint8_t id;

	while ((id = prop_step(props, cursor, &v)) != 0) {
		if (id == MQTT_PROP_USER) {
			out->key = v.s;
			out->val = v.s2;
			return true;
		}
	}
	return false;
}

bool mqtt_props_next_sub_id(const struct mqtt_props *props, uint32_t *cursor,
                            uint32_t *out)
{
	struct prop_val v = {0};
	uint8_t id;

	while ((id = prop_step(props, cursor, &v)) != 0) {
		if (id == MQTT_PROP_SUBSCRIPTION_ID) {
			*out = v.num;
			return true;
		}
	}
	return false;
}

bool mqtt_sub_next(const struct mqtt_packet *pkt, uint32_t *cursor,
                   struct mqtt_sub_entry *out)
{
	const struct mqtt_subscribe *s = &pkt->subscribe;

	if (!s->entries_raw || *cursor >= s->entries_len)
		return false;

	struct rd r = {s->entries_raw + *cursor,
	               s->entries_raw + s->entries_len};
	if (rd_bin(&r, &out->filter))
		return false;
	out->opts = 0;
	if (pkt->type == MQTT_SUBSCRIBE && rd_u8(&r, &out->opts))
		return false;
	*cursor = (uint32_t)(r.p - s->entries_raw);
	return true;
}
