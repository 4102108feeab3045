/*
 * handle_publish.c - PUBLISH from a client and the acknowledgements of the
 * QoS 1/2 flows in both directions.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "conn.h"
#include "handle.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "router.h"
#include "session.h"
#include "topic.h"

/*
 * Acknowledges once this worker's writes of the iteration are durable (with
 * durability on), in arrival order; at once otherwise.
 */
static void publish_ack_durable(struct conn *c, uint8_t type, uint16_t pid)
{
	struct ack_token *t = ack_token_new(c, type, pid);
	struct mqtt_packet a = {.type = type};

	if (t) {
		ack_token_hold(c->w, t);
		ack_token_put(t);
		return;
	}
	a.ack.packet_id = pid;
	conn_send(c, &a);
}

static void publish_ack(struct conn *c, uint8_t type, uint16_t pid,
			uint8_t reason)
{
	struct mqtt_packet a = {.type = type};

	a.ack.packet_id = pid;
	a.ack.reason = reason;
	conn_send(c, &a);
}

/*
 * A PUBLISH the ACL refuses: MQTT 5 says so in the ack (0x87); 3.1.1 has
 * no way to, so the message is acknowledged and dropped [MQTT-3.3.5-2]
 * (a QoS 2 PUBREL then finds no packet id: PUBCOMP all the same).
 */
static void publish_denied(struct conn *c, const struct mqtt_publish *p,
			   const char *topic, size_t len)
{
	uint8_t type = p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC;

	stat_add(&c->w->stats.acl_denied, 1);
	if (!c->acl_logged)
		log_info("%s: client \"%.*s\": PUBLISH to \"%.*s\" denied "
			 "by the ACL (further denials on this connection "
			 "are logged at debug)",
			 c->peer, (int)c->s->id_len, c->s->id, (int)len,
			 topic);
	else
		log_debug("%s: PUBLISH to \"%.*s\" denied by the ACL",
			  c->peer, (int)len, topic);
	c->acl_logged = true;
	if (p->qos)
		publish_ack(c, type, p->packet_id,
			    c->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0);
}

/* Resolves the topic alias of a v5 PUBLISH [MQTT-3.3.2-7..12]. */
static int publish_topic(struct conn *c, const struct mqtt_publish *p,
			 const char **topic, size_t *len)
{
	const struct tern_config *cfg = &c->w->node->cfg;
	struct conn_aliases *a;
	uint16_t alias;

	*topic = (const char *)p->topic.p;
	*len = p->topic.len;
	if (!(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS))) {
		if (!*len) {
			handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
				    "empty topic without topic alias");
			return -1;
		}
		return 0;
	}
	alias = p->props.topic_alias;
	if (alias == 0 || alias > cfg->max_topic_alias) {
		handle_fail(c, MQTT_RC_TOPIC_ALIAS_INVALID,
			    "topic alias out of range");
		return -1;
	}
	a = conn_aliases(c);
	if (a && !a->in) {
		a->in = calloc(cfg->max_topic_alias, sizeof(char *));
		if (a->in)
			a->in_n = (uint16_t)cfg->max_topic_alias;
	}
	if (!a || !a->in) {
		handle_fail(c, MQTT_RC_UNSPECIFIED, "out of memory");
		return -1;
	}
	if (*len) {
		char *copy = malloc(*len + 1);

		if (!copy) {
			handle_fail(c, MQTT_RC_UNSPECIFIED, "out of memory");
			return -1;
		}
		memcpy(copy, *topic, *len);
		copy[*len] = 0;
		free(a->in[alias - 1]);
		a->in[alias - 1] = copy;
		return 0;
	}
	if (!a->in[alias - 1]) {
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
		return -1;
	}
	*topic = a->in[alias - 1];
	*len = strlen(*topic);
	return 0;
}

void handle_publish(struct conn *c, const struct mqtt_publish *p)
{
	struct worker *w = c->w;
	const struct tern_config *cfg = &w->node->cfg;
	struct session *s = c->s;
	const char *topic;
	size_t tlen;
	struct msg *m;

	if (p->qos > cfg->max_qos) {
		handle_fail(c, MQTT_RC_QOS_NOT_SUPPORTED,
			    "QoS above maximum QoS");
		return;
	}
	if (p->retain && !cfg->retain_available) {
		handle_fail(c, MQTT_RC_RETAIN_NOT_SUPPORTED,
			    "retain is not available");
		return;
	}
	if (p->props.sub_id_count) {
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
			    "subscription identifier from a client");
		return;
	}
	if ((p->props.present & MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC)) &&
	    !topic_name_valid((const char *)p->props.response_topic.p,
			      p->props.response_topic.len, 0)) {
		/* [MQTT-3.3.2-14] */
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
			    "response topic is not a valid topic name");
		return;
	}
	if (publish_topic(c, p, &topic, &tlen))
		return;
	if (!topic_name_valid(topic, tlen, cfg->max_topic_levels)) {
		handle_fail(c, MQTT_RC_TOPIC_NAME_INVALID,
			    "invalid topic name");
		return;
	}
	if ((p->props.present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT)) &&
	    p->props.payload_format == 1 &&
	    !mqtt_utf8_valid(p->payload.p, p->payload.len)) {
		/* [MQTT-3.3.2-4]-style check: refuse, do not route */
		if (p->qos)
			publish_ack(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
				    p->packet_id,
				    MQTT_RC_PAYLOAD_FORMAT_INVALID);
		return;
	}
	if (c->acl)
		acl_conn_sync(c);
	if (c->acl && !acl_check_publish(c->acl, topic, tlen, p->qos,
					 p->retain)) {
		publish_denied(c, p, topic, tlen);
		return;
	}
	stat_add(&w->stats.msgs_in, 1);
	c->published = true;
	stat_add(&w->stats.msgs_in_qos[p->qos], 1);
	if (p->qos == 2) {
		if (session_qos2_has(s, p->packet_id)) {
			/* a resend: acknowledge, do not route again
			 * [MQTT-4.3.3-9] */
			publish_ack_durable(c, MQTT_PUBREC, p->packet_id);
			return;
		}
		if (session_qos2_count(s) >= cfg->max_inflight) {
			handle_fail(c, MQTT_RC_RECEIVE_MAX_EXCEEDED,
				    "receive maximum exceeded");
			return;
		}
	}
	m = msg_new(topic, tlen, p->qos, p->retain, &p->props, p->payload.p,
		    p->payload.len, worker_now(w));
	if (!m) {
		if (p->qos)
			publish_ack(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
				    p->packet_id, MQTT_RC_QUOTA_EXCEEDED);
		return;
	}
	m->origin = s;
	m->origin_worker = w->id;
	if (p->qos == 2) {
		if (session_qos2_add(s, p->packet_id)) {
			msg_unref(m);
			publish_ack(c, MQTT_PUBREC, p->packet_id,
				    MQTT_RC_QUOTA_EXCEEDED);
			return;
		}
		persist_qos2(s, p->packet_id, true);
	}
	if (p->qos) {
		/* the ack waits until every worker that routed the message
		 * has stored it for its persistent sessions */
		uint8_t type = p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC;
		struct ack_token *t = ack_token_new(c, type, p->packet_id);

		router_publish(w, m, t);
		if (t) {
			ack_token_hold(w, t);
			ack_token_put(t);
		} else {
			publish_ack(c, type, p->packet_id, 0);
		}
	} else {
		router_publish(w, m, NULL);
	}
	msg_unref(m);
}

void handle_puback(struct conn *c, const struct mqtt_packet *pkt)
{
	int rc = pkt->type == MQTT_PUBACK
			 ? session_on_puback(c->s, pkt->ack.packet_id)
			 : session_on_pubcomp(c->s, pkt->ack.packet_id);

	if (rc)
		log_debug("%s: %s for unknown packet id %u", c->peer,
			  mqtt_type_name(pkt->type), pkt->ack.packet_id);
}

void handle_pubrec(struct conn *c, const struct mqtt_ack *p)
{
	if (session_on_pubrec(c->s, p->packet_id, p->reason) &&
	    p->reason < 0x80)
		publish_ack(c, MQTT_PUBREL, p->packet_id,
			    MQTT_RC_PACKET_ID_NOT_FOUND);
}

void handle_pubrel(struct conn *c, const struct mqtt_ack *p)
{
	if (!session_qos2_has(c->s, p->packet_id)) {
		publish_ack(c, MQTT_PUBCOMP, p->packet_id,
			    MQTT_RC_PACKET_ID_NOT_FOUND);
		return;
	}
	session_qos2_del(c->s, p->packet_id);
	persist_qos2(c->s, p->packet_id, false);
	/* the id may be reused once PUBCOMP is out: forget it durably */
	publish_ack_durable(c, MQTT_PUBCOMP, p->packet_id); /* [MQTT-4.3.3-11] */
}
