/*
 * persist_codec.c - serialized forms of messages and entries (version 1,
 * little endian) and the byte buffer they are built in. Sessions are
 * encoded here too; persist_recover.c decodes them.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "persist_int.h"
#include "session.h"
#include "tern_err.h"
#include "topic.h"

#define PERSIST_V1 1

uint64_t persist_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int pbuf_put(struct pbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return TERN_ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void pbuf_free(struct pbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int pbuf_u8(struct pbuf *b, uint8_t v)
{
	return pbuf_put(b, &v, 1);
}

int pbuf_u16(struct pbuf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return pbuf_put(b, x, 2);
}

int pbuf_u32(struct pbuf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return pbuf_put(b, x, 4);
}

int pbuf_u64(struct pbuf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return pbuf_put(b, x, 8);
}

const uint8_t *prd_bytes(struct prd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t prd_uint(struct prd *r, int n)
{
	const uint8_t *p = prd_bytes(r, (size_t)n);
	uint64_t v = 0;

	for (int i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t prd_u8(struct prd *r)
{
	return (uint8_t)prd_uint(r, 1);
}

uint16_t prd_u16(struct prd *r)
{
	return (uint16_t)prd_uint(r, 2);
}

uint32_t prd_u32(struct prd *r)
{
	return (uint32_t)prd_uint(r, 4);
}

uint64_t prd_u64(struct prd *r)
{
	return prd_uint(r, 8);
}

static int pbuf_str16(struct pbuf *b, const void *p, size_t n)
{
	return pbuf_u16(b, (uint16_t)n) || pbuf_put(b, p, n);
}

static int pbuf_str32(struct pbuf *b, const void *p, size_t n)
{
	return pbuf_u32(b, (uint32_t)n) || pbuf_put(b, p, n);
}

/*
 * msg v1: u8 version, u8 qos, u8 retain, u64 expiry (wall ms, 0 none),
 * u32 expiry interval, str16 topic, u64 present bits of forwarded
 * properties, u8 payload format, str16 content type, str16 response topic,
 * str16 correlation data, str32 user properties (encoded), str32 payload.
 */
int persist_encode_msg(struct pbuf *b, const struct msg *m, uint64_t now_mono,
		       uint64_t now_wall)
{
	uint64_t expiry = 0;

	if (m->expiry_at)
		expiry = m->expiry_at > now_mono
				 ? now_wall + (m->expiry_at - now_mono)
				 : now_wall;
	if (pbuf_u8(b, PERSIST_V1) || pbuf_u8(b, m->qos) ||
	    pbuf_u8(b, m->retain) || pbuf_u64(b, expiry) ||
	    pbuf_u32(b, m->expiry_interval) ||
	    pbuf_str16(b, m->topic, m->topic_len) ||
	    pbuf_u64(b, m->fwd.present) || pbuf_u8(b, m->fwd.payload_format) ||
	    pbuf_str16(b, m->fwd.content_type.p, m->fwd.content_type.len) ||
	    pbuf_str16(b, m->fwd.response_topic.p, m->fwd.response_topic.len) ||
	    pbuf_str16(b, m->fwd.correlation_data.p,
		       m->fwd.correlation_data.len) ||
	    pbuf_str32(b, m->fwd.user_raw, m->fwd.user_raw_len) ||
	    pbuf_str32(b, m->payload, m->payload_len))
		return TERN_ENOMEM;
	return 0;
}

static struct mqtt_str prd_str16(struct prd *r)
{
	struct mqtt_str s = {0};

	s.len = prd_u16(r);
	s.p = prd_bytes(r, s.len);
	return s;
}

/* Stored user properties must be well-formed: they are sent verbatim. */
static bool persist_user_props_valid(const uint8_t *p, size_t len)
{
	struct prd r = {.p = p, .len = len};

	while (!r.bad && r.off < r.len) {
		if (prd_u8(&r) != MQTT_PROP_USER)
			return false;
		for (int i = 0; i < 2; i++) {
			uint16_t n = (uint16_t)(prd_u8(&r) << 8);
			const uint8_t *s;

			n = (uint16_t)(n | prd_u8(&r));
			s = prd_bytes(&r, n);
			if (!s || !mqtt_utf8_valid(s, n))
				return false;
		}
	}
	return !r.bad;
}

struct msg *persist_decode_msg(const void *p, size_t len, uint64_t now_mono,
			       uint64_t now_wall)
{
	struct prd r = {.p = p, .len = len};
	struct mqtt_props props = {0};
	struct mqtt_str topic, user, payload;
	uint8_t qos, retain;
	uint64_t expiry;
	uint32_t interval;
	struct msg *m;

	if (prd_u8(&r) != PERSIST_V1)
		return NULL;
	qos = prd_u8(&r);
	retain = prd_u8(&r);
	expiry = prd_u64(&r);
	interval = prd_u32(&r);
	topic = prd_str16(&r);
	props.present = prd_u64(&r);
	props.payload_format = prd_u8(&r);
	props.content_type = prd_str16(&r);
	props.response_topic = prd_str16(&r);
	props.correlation_data = prd_str16(&r);
	user.len = prd_u32(&r);
	user.p = prd_bytes(&r, user.len);
	payload.len = prd_u32(&r);
	payload.p = prd_bytes(&r, payload.len);
	/* a damaged store must not make us send malformed packets */
	if (r.bad || qos > 2 ||
	    !topic_name_valid((const char *)topic.p, topic.len, 0) ||
	    !mqtt_utf8_valid(topic.p, topic.len) ||
	    !mqtt_utf8_valid(props.content_type.p, props.content_type.len) ||
	    !mqtt_utf8_valid(props.response_topic.p, props.response_topic.len) ||
	    !persist_user_props_valid(user.p, user.len))
		return NULL;
	m = msg_new((const char *)topic.p, topic.len, qos, retain != 0, &props,
		    payload.p, payload.len, now_mono);
	if (!m)
		return NULL;
	/* user properties were stored encoded: copy them in as they are */
	if (user.len) {
		struct msg *full = malloc(sizeof(*full) + m->topic_len + 1 +
					  m->props_len + user.len +
					  m->payload_len);
		uint8_t *q;

		if (!full) {
			msg_unref(m);
			return NULL;
		}
		memcpy(full, m, sizeof(*m));
		atomic_init(&full->refs, 1);
		atomic_init(&full->store_id, 0);
		q = (uint8_t *)(full + 1);
		full->topic = (char *)q;
		memcpy(q, m->topic, m->topic_len + 1u);
		q += m->topic_len + 1u;
		full->fwd.content_type.p = q;
		memcpy(q, m->fwd.content_type.p, m->fwd.content_type.len);
		q += m->fwd.content_type.len;
		full->fwd.response_topic.p = q;
		memcpy(q, m->fwd.response_topic.p, m->fwd.response_topic.len);
		q += m->fwd.response_topic.len;
		full->fwd.correlation_data.p = q;
		memcpy(q, m->fwd.correlation_data.p,
		       m->fwd.correlation_data.len);
		q += m->fwd.correlation_data.len;
		full->fwd.user_raw = q;
		full->fwd.user_raw_len = user.len;
		memcpy(q, user.p, user.len);
		q += user.len;
		full->props_len = m->props_len + user.len;
		full->payload = q;
		memcpy(q, m->payload, m->payload_len);
		msg_unref(m);
		m = full;
	}
	m->expiry_interval = interval;
	m->expiry_at = 0;
	if (expiry)
		m->expiry_at = expiry > now_wall ? now_mono + (expiry - now_wall)
						 : now_mono;
	return m;
}

/*
 * entry v1: u8 version, u8 qos, u8 state, u8 retain, u16 pid,
 * u8 n_sub_ids, u32 sub_ids[n].
 */
int persist_encode_entry(struct pbuf *b, const struct delivery *d)
{
	if (pbuf_u8(b, PERSIST_V1) || pbuf_u8(b, d->qos) ||
	    pbuf_u8(b, d->state == DELIVERY_RESEND ? DELIVERY_PUBLISHED
						   : d->state) ||
	    pbuf_u8(b, d->retain) || pbuf_u16(b, d->pid) ||
	    pbuf_u8(b, d->n_sub_ids))
		return TERN_ENOMEM;
	for (uint8_t i = 0; i < d->n_sub_ids; i++)
		if (pbuf_u32(b, d->sub_ids[i]))
			return TERN_ENOMEM;
	return 0;
}

int persist_decode_entry(const void *p, size_t len, struct persist_entry *e)
{
	struct prd r = {.p = p, .len = len};
	uint8_t n;

	memset(e, 0, sizeof(*e));
	if (prd_u8(&r) != PERSIST_V1)
		return TERN_EMALFORMED;
	e->qos = prd_u8(&r);
	e->state = prd_u8(&r);
	e->retain = prd_u8(&r) != 0;
	e->pid = prd_u16(&r);
	n = prd_u8(&r);
	for (uint8_t i = 0; i < n; i++) {
		uint32_t id = prd_u32(&r);

		if (e->n_sub_ids < 8)
			e->sub_ids[e->n_sub_ids++] = id;
	}
	if (r.bad || e->qos < 1 || e->qos > 2 ||
	    e->state > DELIVERY_RELEASED)
		return TERN_EMALFORMED;
	return 0;
}

/*
 * session v1: u8 version, u8 protocol version, u32 expiry, u64 wall ms when
 * it expires (0: connected when written, or never), u32 will delay, u64
 * wall ms when a pending will goes (0: none pending), u8 has will
 * [+ str32 msg], u32 n subs, each: u8 opts, u32 sub id, str16 share group
 * (empty: not shared), str16 filter.
 */
static uint64_t persist_wall_of(uint64_t mono, uint64_t now_mono,
				uint64_t now_wall)
{
	if (!mono)
		return 0;
	return mono > now_mono ? now_wall + (mono - now_mono) : now_wall;
}

int persist_encode_session(struct pbuf *b, const struct session *s,
			   uint64_t now_mono)
{
	uint64_t now_wall = persist_wall_ms();
	uint64_t expire = s->conn ? 0
				  : persist_wall_of(s->expire_at, now_mono,
						    now_wall);
	uint64_t will_at = persist_wall_of(s->will_at, now_mono, now_wall);

	if (pbuf_u8(b, PERSIST_V1) || pbuf_u8(b, s->version) ||
	    pbuf_u32(b, s->expiry) || pbuf_u64(b, expire) ||
	    pbuf_u32(b, s->will ? s->will->will_delay : 0) ||
	    pbuf_u64(b, will_at) ||
	    pbuf_u8(b, s->will != NULL))
		return TERN_ENOMEM;
	if (s->will) {
		size_t at = b->len;

		if (pbuf_u32(b, 0) ||
		    persist_encode_msg(b, s->will, now_mono, now_wall))
			return TERN_ENOMEM;
		uint32_t n = (uint32_t)(b->len - at - 4);
		for (int i = 0; i < 4; i++)
			b->data[at + (size_t)i] = (uint8_t)(n >> (8 * i));
	}
	if (pbuf_u32(b, s->n_subs))
		return TERN_ENOMEM;
	for (const struct session_sub *sub = s->subs; sub; sub = sub->next) {
		size_t sl = sub->share ? strlen(sub->share) : 0;

		if (pbuf_u8(b, sub->opts) || pbuf_u32(b, sub->sub_id) ||
		    pbuf_str16(b, sub->share, sl) ||
		    pbuf_str16(b, sub->filter, sub->len))
			return TERN_ENOMEM;
	}
	return 0;
}
