#include "msg.h"

#include <stdlib.h>
#include <string.h>

#define MSG_FWD_PROPS                                                       \
	(MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |                          \
	 MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |                            \
	 MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |                          \
	 MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA))

static size_t msg_put_str(uint8_t *buf, size_t n, struct mqtt_str s)
{
	if (buf) {
		buf[n] = (uint8_t)(s.len >> 8);
		buf[n + 1] = (uint8_t)s.len;
		memcpy(buf + n + 2, s.p, s.len);
	}
	return n + 2 + s.len;
}

/* Encodes the user properties of a decoded block into buf; returns size. */
static size_t msg_user_props_encode(const struct mqtt_props *in, uint8_t *buf)
{
	struct mqtt_user_prop up;
	uint32_t cur = 0;
	size_t n = 0;

	if (!in || !in->user_count)
		return 0;
	while (mqtt_props_next_user(in, &cur, &up)) {
		if (buf)
			buf[n] = MQTT_PROP_USER;
		n = msg_put_str(buf, n + 1, up.key);
		n = msg_put_str(buf, n, up.val);
	}
	return n;
}

/* Copies s into *p and returns the view of the copy. */
static struct mqtt_str msg_copy_str(uint8_t **p, struct mqtt_str s)
{
	struct mqtt_str out = {.p = *p, .len = s.len};

	if (s.len)
		memcpy(*p, s.p, s.len);
	*p += s.len;
	return out;
}

struct msg *msg_new(const char *topic, size_t topic_len, uint8_t qos,
		    bool retain, const struct mqtt_props *props,
		    const uint8_t *payload, size_t payload_len, uint64_t now_ms)
{
	static const struct mqtt_props none;
	size_t user_len, strs_len;
	struct msg *m;
	uint8_t *p;

	if (!props)
		props = &none;
	user_len = msg_user_props_encode(props, NULL);
	strs_len = props->content_type.len + props->response_topic.len +
		   props->correlation_data.len;

	m = malloc(sizeof(*m) + topic_len + 1 + strs_len + user_len +
		   payload_len);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	atomic_init(&m->refs, 1);
	m->qos = qos;
	m->retain = retain;
	m->topic_len = (uint16_t)topic_len;
	m->props_len = (uint32_t)(strs_len + user_len);
	m->payload_len = (uint32_t)payload_len;
	if (props->present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY)) {
		m->expiry_interval = props->message_expiry;
		m->expiry_at = now_ms + (uint64_t)props->message_expiry * 1000;
	}

	p = (uint8_t *)(m + 1);
	m->topic = (char *)p;
	memcpy(p, topic, topic_len);
	p[topic_len] = 0;
	p += topic_len + 1;

	m->fwd.present = props->present & MSG_FWD_PROPS;
	m->fwd.payload_format = props->payload_format;
	m->fwd.content_type = msg_copy_str(&p, props->content_type);
	m->fwd.response_topic = msg_copy_str(&p, props->response_topic);
	m->fwd.correlation_data = msg_copy_str(&p, props->correlation_data);
	m->fwd.user_raw = p;
	m->fwd.user_raw_len = (uint32_t)msg_user_props_encode(props, p);
	p += user_len;

	m->payload = p;
	if (payload_len)
		memcpy(p, payload, payload_len);
	return m;
}

void msg_props_get(const struct msg *m, struct mqtt_props *out)
{
	memset(out, 0, sizeof(*out));
	out->present = m->fwd.present;
	out->payload_format = m->fwd.payload_format;
	out->content_type = m->fwd.content_type;
	out->response_topic = m->fwd.response_topic;
	out->correlation_data = m->fwd.correlation_data;
	out->user_raw = m->fwd.user_raw;
	out->user_raw_len = m->fwd.user_raw_len;
}

void msg_unref(struct msg *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1,
					   memory_order_acq_rel) == 1)
		free(m);
}

uint32_t msg_expiry_left(const struct msg *m, uint64_t now_ms)
{
	if (!m->expiry_at || now_ms >= m->expiry_at)
		return 0;
	return (uint32_t)((m->expiry_at - now_ms + 999) / 1000);
}
