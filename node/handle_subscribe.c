/*
 * handle_subscribe.c - SUBSCRIBE (with retained messages per retain
 * handling) and UNSUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "handle.h"
#include "log.h"
#include "persist.h"
#include "retain_stream.h"
#include "router.h"
#include "session.h"
#include "tern_err.h"
#include "topic.h"

/*
 * Sends the retained messages matching one new subscription: queued on the
 * connection and read from the store a chunk at a time as it drains
 * (retain_stream.c), after those of earlier subscriptions.
 */
static void subscribe_retained(struct conn *c, const struct mqtt_sub_entry *e,
			       uint8_t granted, uint32_t sub_id)
{
	int rc = retain_stream_add(c, (const char *)e->filter.p,
				   e->filter.len, granted, sub_id);

	if (rc)
		log_error("%s: cannot queue retained messages: %s", c->peer,
			  tern_strerror(rc));
}

void handle_subscribe(struct conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_subscribe *p = &pkt->subscribe;
	struct mqtt_packet ack = {.type = MQTT_SUBACK};
	uint8_t stack[64], *reasons = stack;
	bool stack_existed[64], *existed = stack_existed;
	uint32_t sub_id = 0, cur = 0;
	struct mqtt_sub_entry e;
	uint16_t i = 0;

	if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID))
		sub_id = p->props.sub_id;
	if (p->count > 64) {
		reasons = malloc(p->count);
		existed = malloc(p->count * sizeof(bool));
		if (!reasons || !existed) {
			free(reasons);
			free(existed);
			handle_fail(c, MQTT_RC_UNSPECIFIED, "out of memory");
			return;
		}
	}
	while (i < p->count && mqtt_sub_next(pkt, &cur, &e)) {
		const char *g, *f;
		size_t gl, fl;

		if ((e.opts & MQTT_SUBOPT_NO_LOCAL) &&
		    topic_shared_parse((const char *)e.filter.p, e.filter.len,
				       &g, &gl, &f, &fl) == 1) {
			/* [MQTT-3.8.3-4] */
			handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
				    "no local on a shared subscription");
			goto out;
		}
		reasons[i] = router_subscribe(c->w, c->s,
					      (const char *)e.filter.p,
					      e.filter.len, e.opts, sub_id,
					      &existed[i]);
		if (reasons[i] >= 0x80 && c->version != MQTT_V5)
			reasons[i] = 0x80;
		i++;
	}
	persist_session(c->s);
	ack.suback.packet_id = p->packet_id;
	ack.suback.count = i;
	ack.suback.reasons = reasons;
	conn_send(c, &ack); /* [MQTT-3.8.4-1] */

	cur = 0;
	for (uint16_t k = 0; k < i && mqtt_sub_next(pkt, &cur, &e); k++) {
		uint8_t rh = c->version == MQTT_V5 ? MQTT_SUBOPT_RH(e.opts) : 0;
		const char *g, *f;
		size_t gl, fl;

		if (reasons[k] >= 0x80 || rh == 2 || (rh == 1 && existed[k]))
			continue;
		/* no retained messages for shared subscriptions */
		if (topic_shared_parse((const char *)e.filter.p, e.filter.len,
				       &g, &gl, &f, &fl) == 1)
			continue;
		subscribe_retained(c, &e, reasons[k], sub_id);
	}
out:
	if (reasons != stack) {
		free(reasons);
		free(existed);
	}
}

void handle_unsubscribe(struct conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_subscribe *p = &pkt->subscribe;
	struct mqtt_packet ack = {.type = MQTT_UNSUBACK};
	uint8_t stack[64], *reasons = stack;
	struct mqtt_sub_entry e;
	uint32_t cur = 0;
	uint16_t i = 0;

	if (p->count > 64) {
		reasons = malloc(p->count);
		if (!reasons) {
			handle_fail(c, MQTT_RC_UNSPECIFIED, "out of memory");
			return;
		}
	}
	while (i < p->count && mqtt_sub_next(pkt, &cur, &e)) {
		reasons[i++] = router_unsubscribe(c->w, c->s,
						  (const char *)e.filter.p,
						  e.filter.len);
		/* its retained messages not read yet are not sent */
		retain_stream_cancel(c, (const char *)e.filter.p,
				     e.filter.len);
	}
	persist_session(c->s);
	ack.suback.packet_id = p->packet_id;
	ack.suback.count = c->version == MQTT_V5 ? i : 0;
	ack.suback.reasons = reasons;
	conn_send(c, &ack);
	if (reasons != stack)
		free(reasons);
}
