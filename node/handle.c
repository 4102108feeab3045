#include "handle.h"

#include <string.h>

#include "auth_jwt.h"
#include "auth_scram.h"
#include "conn.h"
#include "log.h"

void handle_fail(struct conn *c, uint8_t reason, const char *why)
{
	stat_add(&c->w->stats.protocol_errors, 1);
	log_info("%s: %s (reason 0x%02x), closing", c->peer, why, reason);
	handle_close(c, reason, why);
}

void handle_close(struct conn *c, uint8_t reason, const char *why)
{
	conn_settle_acks(c); /* acks of accepted messages go first */
	if (c->version == MQTT_V5 && c->state == CONN_ACTIVE &&
	    !c->disconnect_sent) {
		struct mqtt_packet d = {.type = MQTT_DISCONNECT};

		d.disconnect.reason = reason;
		if (c->problem_info) {
			d.disconnect.props.present =
				MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
			d.disconnect.props.reason_string.p =
				(const uint8_t *)why;
			d.disconnect.props.reason_string.len =
				(uint32_t)strlen(why);
		}
		c->disconnect_sent = true;
		conn_send(c, &d);
	}
	conn_close(c, reason, true);
}

void handle_packet(struct conn *c, const struct mqtt_packet *pkt)
{
	if (c->state == CONN_NEW && pkt->type == MQTT_AUTH &&
	    CONN_EXT(c, scram)) {
		/* a CONNECT's SCRAM exchange (auth_scram.h) */
		auth_scram_on_auth(c, pkt);
		return;
	}
	if (c->state == CONN_NEW && pkt->type != MQTT_CONNECT) {
		/* [MQTT-3.1.0-1] the first packet must be CONNECT */
		log_info("%s: %s before CONNECT, closing", c->peer,
			 mqtt_type_name(pkt->type));
		conn_close(c, 0, true);
		return;
	}
	switch (pkt->type) {
	case MQTT_CONNECT:
		if (c->state != CONN_NEW || CONN_EXT(c, scram)) {
			/* [MQTT-3.1.0-2] a second CONNECT (also during a
			 * CONNECT's authentication exchange) */
			handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
				    "second CONNECT");
			return;
		}
		handle_connect(c, &pkt->connect);
		return;
	case MQTT_PUBLISH:
		handle_publish(c, &pkt->publish);
		return;
	case MQTT_PUBACK:
	case MQTT_PUBCOMP:
		handle_puback(c, pkt);
		return;
	case MQTT_PUBREC:
		handle_pubrec(c, &pkt->ack);
		return;
	case MQTT_PUBREL:
		handle_pubrel(c, &pkt->ack);
		return;
	case MQTT_SUBSCRIBE:
		handle_subscribe(c, pkt);
		return;
	case MQTT_UNSUBSCRIBE:
		handle_unsubscribe(c, pkt);
		return;
	case MQTT_PINGREQ: {
		struct mqtt_packet r = {.type = MQTT_PINGRESP};

		conn_send(c, &r); /* [MQTT-3.12.4-1] */
		return;
	}
	case MQTT_DISCONNECT:
		handle_disconnect(c, &pkt->disconnect);
		return;
	case MQTT_AUTH: {
		const struct mqtt_props *pr = &pkt->disconnect.props;
		bool has_m = pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);

		if (c->auth_name_src == CONN_NAME_SCRAM) {
			auth_scram_on_auth(c, pkt); /* re-authentication */
			return;
		}
		if (!c->auth_jwt_method) {
			/* no enhanced authentication method was agreed in
			 * CONNECT */
			handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
				    "AUTH without an authentication method");
			return;
		}
		auth_jwt_on_auth(c, pkt->disconnect.reason,
				 has_m ? (const char *)pr->auth_method.p : NULL,
				 has_m ? pr->auth_method.len : 0,
				 pr->auth_data.p, pr->auth_data.len);
		return;
	}
	default:
		/* server-to-client packets sent by a client */
		handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
			    "packet type not allowed from a client");
		return;
	}
}
