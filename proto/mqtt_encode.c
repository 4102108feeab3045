/*
 * mqtt_encode.c - MQTT 3.1 / 3.1.1 / 5.0 packet encoder.
 *
 * Every packet but PUBLISH goes through one body emitter run twice: first
 * with no output to size the remaining length, then writing behind the fixed
 * header. PUBLISH, which runs once per delivered message, has its own
 * straight-line path that computes the layout once and writes directly.
 *
 * The encoder writes what it is given and does not police the caller
 * (e.g. it will write a SUBSCRIBE with no entries, which the decoder would
 * refuse); it only normalises what the decoder would reject outright and
 * the caller cannot have meant: DUP is dropped on QoS 0 [MQTT-3.3.1-2],
 * will QoS/retain are dropped without a will [MQTT-3.1.2-11], and v3
 * subscription options keep only their QoS bits [MQTT-3.8.3-4].
 *
 * Returns 0 (never a valid size: the smallest packet is 2 bytes) when the
 * packet cannot be represented: a string or binary field over 65535 bytes,
 * a remaining length, property length or subscription identifier over
 * 268435455, QoS 3, an unknown type, AUTH before 5.0, or count > 0 with a
 * NULL entries/reasons array.
 */
#include <string.h>

#include "mqtt.h"

#define VBI_MAX 268435455u

/* A writer that only counts when p is NULL. */
struct wr {
	uint8_t *p;
	size_t n;
	bool bad;
};

static inline void w_u8(struct wr *w, uint8_t v)
{
	if (w->p)
		w->p[w->n] = v;
	w->n++;
}

static inline void w_u16(struct wr *w, uint16_t v)
{
	if (w->p) {
		w->p[w->n] = (uint8_t)(v >> 8);
		w->p[w->n + 1] = (uint8_t)v;
	}
	w->n += 2;
}

static inline void w_u32(struct wr *w, uint32_t v)
{
	if (w->p) {
		uint8_t *q = w->p + w->n;
		q[0] = (uint8_t)(v >> 24);
		q[1] = (uint8_t)(v >> 16);
		q[2] = (uint8_t)(v >> 8);
		q[3] = (uint8_t)v;
	}
	w->n += 4;
}

static inline void w_vbi(struct wr *w, size_t v)
{
	if (v > VBI_MAX) {
		w->bad = true;
		return;
	}
	if (w->p)
		mqtt_vbi_encode((uint32_t)v, w->p + w->n);
	w->n += mqtt_vbi_size((uint32_t)v);
}

static inline void w_bytes(struct wr *w, const uint8_t *s, size_t n)
{
	if (w->p && n)
		memcpy(w->p + w->n, s, n);
	w->n += n;
}

/* A two-byte-length-prefixed string or binary field. */
static inline void w_bin(struct wr *w, struct mqtt_str s)
{
	if (s.len > UINT16_MAX) {
		w->bad = true;
		return;
	}
	w_u16(w, (uint16_t)s.len);
	w_bytes(w, s.p, s.len);
}

/* ------------------------------------------------------------ properties */

#define NOT_SCANNED                                                            \
	(MQTT_PROP_BIT(MQTT_PROP_USER) |                                       \
	 MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID))

/* The property block without its length prefix. */
static void props_body(struct wr *w, const struct mqtt_props *pr)
{
	uint64_t bits = pr->present & ~NOT_SCANNED;

	/* Ascending identifier order, as documented in mqtt.h. */
	while (bits) {
		uint8_t id = (uint8_t)__builtin_ctzll(bits);

		bits &= bits - 1;
		switch (id) {
		case MQTT_PROP_PAYLOAD_FORMAT:
			w_u8(w, id);
			w_u8(w, pr->payload_format);
			break;
		case MQTT_PROP_MESSAGE_EXPIRY:
			w_u8(w, id);
			w_u32(w, pr->message_expiry);
			break;
		case MQTT_PROP_CONTENT_TYPE:
			w_u8(w, id);
			w_bin(w, pr->content_type);
			break;
		case MQTT_PROP_RESPONSE_TOPIC:
			w_u8(w, id);
			w_bin(w, pr->response_topic);
			break;
		case MQTT_PROP_CORRELATION_DATA:
			w_u8(w, id);
			w_bin(w, pr->correlation_data);
			break;
		case MQTT_PROP_SESSION_EXPIRY:
			w_u8(w, id);
			w_u32(w, pr->session_expiry);
			break;
		case MQTT_PROP_ASSIGNED_CLIENT_ID:
			w_u8(w, id);
			w_bin(w, pr->assigned_client_id);
			break;
		case MQTT_PROP_SERVER_KEEP_ALIVE:
			w_u8(w, id);
			w_u16(w, pr->server_keep_alive);
			break;
		case MQTT_PROP_AUTH_METHOD:
			w_u8(w, id);
			w_bin(w, pr->auth_method);
			break;
		case MQTT_PROP_AUTH_DATA:
			w_u8(w, id);
			w_bin(w, pr->auth_data);
			break;
		case MQTT_PROP_REQUEST_PROBLEM_INFO:
			w_u8(w, id);
			w_u8(w, pr->request_problem_info);
			break;
		case MQTT_PROP_WILL_DELAY:
			w_u8(w, id);
			w_u32(w, pr->will_delay);
			break;
		case MQTT_PROP_REQUEST_RESPONSE_INFO:
			w_u8(w, id);
			w_u8(w, pr->request_response_info);
			break;
		case MQTT_PROP_RESPONSE_INFO:
			w_u8(w, id);
			w_bin(w, pr->response_info);
			break;
		case MQTT_PROP_SERVER_REFERENCE:
			w_u8(w, id);
			w_bin(w, pr->server_reference);
			break;
		case MQTT_PROP_REASON_STRING:
			w_u8(w, id);
			w_bin(w, pr->reason_string);
			break;
		case MQTT_PROP_RECEIVE_MAX:
			w_u8(w, id);
			w_u16(w, pr->receive_max);
			break;
		case MQTT_PROP_TOPIC_ALIAS_MAX:
			w_u8(w, id);
			w_u16(w, pr->topic_alias_max);
			break;
		case MQTT_PROP_TOPIC_ALIAS:
			w_u8(w, id);
			w_u16(w, pr->topic_alias);
			break;
		case MQTT_PROP_MAX_QOS:
			w_u8(w, id);
			w_u8(w, pr->max_qos);
			break;
		case MQTT_PROP_RETAIN_AVAILABLE:
			w_u8(w, id);
			w_u8(w, pr->retain_available);
			break;
		case MQTT_PROP_MAX_PACKET_SIZE:
			w_u8(w, id);
			w_u32(w, pr->max_packet_size);
			break;
		case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
			w_u8(w, id);
			w_u8(w, pr->wildcard_sub_available);
			break;
		case MQTT_PROP_SUB_ID_AVAILABLE:
			w_u8(w, id);
			w_u8(w, pr->sub_id_available);
			break;
		case MQTT_PROP_SHARED_SUB_AVAILABLE:
			w_u8(w, id);
			w_u8(w, pr->shared_sub_available);
			break;
		default:
			break; /* not a property: nothing to write */
		}
	}

	if (pr->sub_ids) {
		for (uint16_t i = 0; i < pr->sub_id_count; i++) {
			w_u8(w, MQTT_PROP_SUBSCRIPTION_ID);
			w_vbi(w, pr->sub_ids[i]);
		}
	} else if (pr->present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID)) {
		w_u8(w, MQTT_PROP_SUBSCRIPTION_ID);
		w_vbi(w, pr->sub_id);
	}
	/* user_count without a `user` array is a decoded count: nothing. */
	if (pr->user) {
		for (uint16_t i = 0; i < pr->user_count; i++) {
			w_u8(w, MQTT_PROP_USER);
			w_bin(w, pr->user[i].key);
			w_bin(w, pr->user[i].val);
		}
	}
	w_bytes(w, pr->user_raw, pr->user_raw_len);
}

static size_t props_len(const struct mqtt_props *pr, bool *bad)
{
	struct wr s = {NULL, 0, false};

	props_body(&s, pr);
	if (s.bad)
		*bad = true;
	return s.n;
}

size_t mqtt_props_size(const struct mqtt_props *props)
{
	bool bad = false;

	return props_len(props, &bad);
}

/* Property Length then the properties. */
static void w_props(struct wr *w, const struct mqtt_props *pr)
{
	size_t n = props_len(pr, &w->bad);

	w_vbi(w, n);
	if (w->p && !w->bad)
		props_body(w, pr);
	else
		w->n += n;
}

/* ------------------------------------------------------------ PUBLISH */

struct pub_layout {
	size_t var;   /* topic, packet id, properties */
	size_t plen;  /* property block, without its length */
	size_t head;  /* fixed header + var */
	size_t total; /* head + payload */
};

static bool pub_layout(const struct mqtt_publish *pb, bool v5,
                       struct pub_layout *l)
{
	bool bad = pb->topic.len > UINT16_MAX || pb->qos > 2;

	l->var = 2 + (size_t)pb->topic.len + (pb->qos ? 2 : 0);
	l->plen = 0;
	if (v5) {
		l->plen = props_len(&pb->props, &bad);
		if (l->plen > VBI_MAX)
			return false;
		l->var += mqtt_vbi_size((uint32_t)l->plen) + l->plen;
	}
	size_t rem = l->var + pb->payload.len;
	if (bad || rem > VBI_MAX)
		return false;
	l->head = 1 + mqtt_vbi_size((uint32_t)rem) + l->var;
	l->total = l->head + pb->payload.len;
	return true;
}

static void pub_write_head(const struct mqtt_publish *pb, bool v5,
                           const struct pub_layout *l, uint8_t *out)
{
	uint8_t *p = out;
	uint8_t b = (uint8_t)((MQTT_PUBLISH << 4) | (pb->qos << 1));

	if (pb->qos && pb->dup)
		b |= 0x08;
	if (pb->retain)
		b |= 0x01;
	*p++ = b;
	p += mqtt_vbi_encode((uint32_t)(l->var + pb->payload.len), p);
	*p++ = (uint8_t)(pb->topic.len >> 8);
	*p++ = (uint8_t)pb->topic.len;
	if (pb->topic.len) {
		memcpy(p, pb->topic.p, pb->topic.len);
		p += pb->topic.len;
	}
	if (pb->qos) {
		*p++ = (uint8_t)(pb->packet_id >> 8);
		*p++ = (uint8_t)pb->packet_id;
	}
	if (v5) {
		struct wr w = {p, 0, false};

		w_vbi(&w, l->plen);
		props_body(&w, &pb->props);
	}
}

size_t mqtt_encode_publish_head(const struct mqtt_packet *pkt, uint8_t version,
                                uint8_t *out, size_t cap, size_t *total)
{
	bool v5 = version == MQTT_V5;
	struct pub_layout l;

	if (pkt->type != MQTT_PUBLISH || !pub_layout(&pkt->publish, v5, &l)) {
		*total = 0;
		return 0;
	}
	*total = l.total;
	if (out && l.head <= cap)
		pub_write_head(&pkt->publish, v5, &l, out);
	return l.head;
}

/* ------------------------------------------------------- other packets */

static void w_connect(struct wr *w, const struct mqtt_connect *c,
                      uint8_t version)
{
	bool v5 = version == MQTT_V5;
	uint8_t fl = 0;

	if (version == MQTT_V31) {
		w_u16(w, 6);
		w_bytes(w, (const uint8_t *)"MQIsdp", 6);
	} else {
		w_u16(w, 4);
		w_bytes(w, (const uint8_t *)"MQTT", 4);
	}
	w_u8(w, version);
	if (c->has_username)
		fl |= 0x80;
	if (c->has_password)
		fl |= 0x40;
	if (c->will) {
		if (c->will_qos > 2)
			w->bad = true;
		fl |= (uint8_t)(0x04 | (c->will_qos & 3) << 3);
		if (c->will_retain)
			fl |= 0x20;
	}
	if (c->clean_start)
		fl |= 0x02;
	w_u8(w, fl);
	w_u16(w, c->keepalive);
	if (v5)
		w_props(w, &c->props);
	w_bin(w, c->client_id);
	if (c->will) {
		if (v5)
			w_props(w, &c->will_props);
		w_bin(w, c->will_topic);
		w_bin(w, c->will_payload);
	}
	if (c->has_username)
		w_bin(w, c->username);
	if (c->has_password)
		w_bin(w, c->password);
}

/*
 * The tail shared by v5 acks, DISCONNECT and AUTH: reason code and
 * properties, each omitted when it and everything after it is default.
 */
static void w_reason_props(struct wr *w, uint8_t reason,
                           const struct mqtt_props *pr)
{
	size_t n = props_len(pr, &w->bad);

	if (reason == 0 && n == 0)
		return;
	w_u8(w, reason);
	if (n)
		w_props(w, pr);
}

static void w_subscribe(struct wr *w, uint8_t type, bool v5,
                        const struct mqtt_subscribe *s)
{
	w_u16(w, s->packet_id);
	if (v5)
		w_props(w, &s->props);
	if (s->count && !s->entries) {
		w->bad = true;
		return;
	}
	for (uint16_t i = 0; i < s->count; i++) {
		w_bin(w, s->entries[i].filter);
		if (type == MQTT_SUBSCRIBE)
			w_u8(w, v5 ? s->entries[i].opts
			           : MQTT_SUBOPT_QOS(s->entries[i].opts));
	}
}

static void w_suback(struct wr *w, uint8_t type, bool v5,
                     const struct mqtt_suback *s)
{
	w_u16(w, s->packet_id);
	if (type == MQTT_UNSUBACK && !v5)
		return; /* 3.1.1 UNSUBACK: packet id only */
	if (v5)
		w_props(w, &s->props);
	if (s->count && !s->reasons) {
		w->bad = true;
		return;
	}
	w_bytes(w, s->reasons, s->count);
}

/* The variable header and payload of any packet but PUBLISH. */
static void w_body(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	bool v5 = version == MQTT_V5;

	switch (pkt->type) {
	case MQTT_CONNECT:
		w_connect(w, &pkt->connect, version);
		break;
	case MQTT_CONNACK:
		w_u8(w, pkt->connack.session_present ? 1 : 0);
		w_u8(w, pkt->connack.reason);
		if (v5)
			w_props(w, &pkt->connack.props);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		w_u16(w, pkt->ack.packet_id);
		if (v5)
			w_reason_props(w, pkt->ack.reason, &pkt->ack.props);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		w_subscribe(w, pkt->type, v5, &pkt->subscribe);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		w_suback(w, pkt->type, v5, &pkt->suback);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (v5)
			w_reason_props(w, pkt->disconnect.reason,
			               &pkt->disconnect.props);
		else if (pkt->type == MQTT_AUTH)
			w->bad = true; /* no AUTH before 5.0 */
		break;
	default:
		w->bad = true;
		break;
	}
}

size_t mqtt_encode(const struct mqtt_packet *pkt, uint8_t version, uint8_t *out,
                   size_t cap)
{
	if (pkt->type == MQTT_PUBLISH) {
		const struct mqtt_publish *pb = &pkt->publish;
		bool v5 = version == MQTT_V5;
		struct pub_layout l;

		if (!pub_layout(pb, v5, &l))
			return 0;
		if (!out || l.total > cap)
			return l.total;
		pub_write_head(pb, v5, &l, out);
		if (pb->payload.len)
			memcpy(out + l.head, pb->payload.p, pb->payload.len);
		return l.total;
	}

	struct wr w = {NULL, 0, false};
	w_body(&w, pkt, version);
	if (w.bad || w.n > VBI_MAX)
		return 0;
	size_t total = 1 + mqtt_vbi_size((uint32_t)w.n) + w.n;
	if (!out || total > cap)
		return total;

	uint8_t fl = 0;
	if (pkt->type == MQTT_PUBREL || pkt->type == MQTT_SUBSCRIBE ||
	    pkt->type == MQTT_UNSUBSCRIBE)
		fl = 0x02;
	out[0] = (uint8_t)(pkt->type << 4 | fl);
	size_t hl = 1 + mqtt_vbi_encode((uint32_t)w.n, out + 1);
	struct wr w2 = {out + hl, 0, false};
	w_body(&w2, pkt, version);
	return total;
}
