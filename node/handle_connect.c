/*
 * handle_connect.c - CONNECT: validation, session pinning, takeover,
 * session present, will, CONNACK with the server's capabilities; and
 * DISCONNECT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "auth.h"
#include "auth_jwt.h"
#include "auth_limit.h"
#include "auth_scram.h"
#include "cluster.h"
#include "conn.h"
#include "handle.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "router.h"
#include "scram.h"
#include "session.h"
#include "topic.h"

/* Sends a CONNACK refusing the CONNECT (the caller closes). */
static void connect_connack_refusal(struct conn *c, uint8_t v5_reason,
				    uint8_t v3_code, const char *why)
{
	struct mqtt_packet r = {.type = MQTT_CONNACK};

	r.connack.reason = c->version == MQTT_V5 ? v5_reason : v3_code;
	if (c->version == MQTT_V5 && c->problem_info) {
		r.connack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		r.connack.props.reason_string.p = (const uint8_t *)why;
		r.connack.props.reason_string.len = (uint32_t)strlen(why);
	}
	conn_send(c, &r);
}

static void connect_refuse(struct conn *c, uint8_t v5_reason, uint8_t v3_code,
			   const char *why)
{
	log_info("%s: CONNECT refused: %s", c->peer, why);
	connect_connack_refusal(c, v5_reason, v3_code, why);
	conn_close(c, 0, false);
}

/*
 * Too many failed authentications from c's address or with its client id
 * (auth_limit.h; logged there, once per burst). MQTT 5: 0x9F "Connection
 * rate exceeded", the spec's code for a server-imposed connection rate
 * limit (0x8A "Banned" means administrative action, and 0x86 would claim
 * the credentials were checked). MQTT 3.1/3.1.1 has no such code: 5, not
 * authorized. Then the connection stays open but unread for
 * auth_fail_delay_ms, closed by the worker's 1 s sweep (conn_sweep), so a
 * client that waits for the close cannot retry at full speed; beyond
 * AUTH_LIMIT_MAX_DELAYED such connections it is closed at once.
 */
static void connect_throttled(struct conn *c)
{
	struct worker *w = c->w;
	uint32_t delay = w->node->cfg.auth_fail_delay_ms;

	connect_connack_refusal(c, MQTT_RC_CONNECTION_RATE_EXCEEDED,
				MQTT_V3_NOT_AUTHORIZED,
				"too many failed authentications, try "
				"again later");
	if (delay && auth_limit_delay_begin(w->node->auth_limit)) {
		conn_hold(c); /* nothing more is read or handled */
		c->auth_verdict = AUTH_THROTTLED; /* auth_conn_gone ends it */
		c->deadline = worker_now(w) + delay;
		return;
	}
	conn_close(c, 0, false);
}

void handle_bad_version(struct conn *c, uint8_t level)
{
	struct mqtt_packet r = {.type = MQTT_CONNACK};

	/* [MQTT-3.1.2-2]: answer 0x01 (v3 form) and close */
	log_info("%s: unsupported protocol level %u", c->peer, level);
	c->version = MQTT_V311;
	r.connack.reason = MQTT_V3_BAD_VERSION;
	conn_send(c, &r);
	conn_close(c, 0, false);
}

/* An assigned client id that is pinned to this worker. */
static int connect_assign_id(struct worker *w, char *buf, size_t cap)
{
	for (int i = 0; i < 256; i++) {
		uint64_t r = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^
			     (uint64_t)uv_hrtime();
		int n = snprintf(buf, cap, "tern-%016llx",
				 (unsigned long long)r);

		if (node_worker_for(w->node, buf, (size_t)n) == w->id &&
		    !session_find(w, buf, (size_t)n))
			return n;
	}
	return -1;
}

static struct msg *connect_will(struct conn *c, const struct mqtt_connect *p)
{
	return msg_new((const char *)p->will_topic.p, p->will_topic.len,
		       p->will_qos, p->will_retain,
		       c->version == MQTT_V5 ? &p->will_props : NULL,
		       p->will_payload.p, p->will_payload.len,
		       worker_now(c->w));
}

/*
 * Second connection for a live session: the first one goes [MQTT-3.1.4-3].
 * Its will: published now if its delay is 0 or the new connection ends the
 * session (clean start); else the reconnection within the delay cancels it
 * [MQTT-3.1.3-9].
 */
static void connect_takeover(struct session *s, bool clean_start)
{
	struct conn *old = s->conn;

	log_info("%s: session %.*s taken over", old->peer, (int)s->id_len,
		 s->id);
	old->s = NULL;
	s->conn = NULL;
	stat_sub(&s->w->stats.clients_connected, 1);
	if (s->will && (s->will->will_delay == 0 || clean_start))
		session_publish_will(s);
	msg_unref(s->will);
	s->will = NULL;
	conn_close(old, MQTT_RC_SESSION_TAKEN_OVER, false);
}

void handle_connect(struct conn *c, const struct mqtt_connect *p)
{
	struct worker *w = c->w;
	const struct tern_config *cfg = &w->node->cfg;
	const struct mqtt_props *pr = &p->props;
	struct mqtt_packet ack = {.type = MQTT_CONNACK};
	struct mqtt_props *ap = &ack.connack.props;
	char assigned[40];
	const char *id = (const char *)p->client_id.p;
	size_t id_len = p->client_id.len;
	bool assigned_id = false, present = false;
	struct msg *will = NULL;
	struct session *s;
	const char *user;
	size_t user_len = 0;
	uint32_t expiry, owner;
	uint16_t keepalive = p->keepalive;

	c->version = p->version;
	c->problem_info = true;
	if (c->version == MQTT_V5) {
		if (pr->present & MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO))
			c->problem_info = pr->request_problem_info;
		if (pr->present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX))
			c->receive_max = pr->receive_max;
		if (pr->present & MQTT_PROP_BIT(MQTT_PROP_MAX_PACKET_SIZE) &&
		    pr->max_packet_size < c->max_packet)
			c->max_packet = pr->max_packet_size;
		if (pr->present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX))
			c->alias_max = pr->topic_alias_max;
	}

	/* client identifier [MQTT-3.1.3-3..9] */
	if (id_len == 0) {
		if (c->version == MQTT_V31 ||
		    (c->version == MQTT_V311 && !p->clean_start)) {
			connect_refuse(c, MQTT_RC_CLIENT_ID_INVALID,
				       MQTT_V3_ID_REJECTED,
				       "empty client id needs clean session");
			return;
		}
		int n = connect_assign_id(w, assigned, sizeof(assigned));
		if (n < 0) {
			connect_refuse(c, MQTT_RC_SERVER_BUSY,
				       MQTT_V3_SERVER_UNAVAILABLE,
				       "could not assign a client id");
			return;
		}
		id = assigned;
		id_len = (size_t)n;
		assigned_id = true;
	} else if (id_len > cfg->max_client_id_len ||
		   (c->version == MQTT_V31 && id_len > 23)) {
		connect_refuse(c, MQTT_RC_CLIENT_ID_INVALID,
			       MQTT_V3_ID_REJECTED, "client id too long");
		return;
	}

	/* sessions are pinned to the worker that owns the id */
	owner = node_worker_for(w->node, id, id_len);
	if (owner != w->id) {
		if (conn_handoff(c, owner))
			conn_close(c, 0, true);
		return;
	}
	if (cluster_session_owner(id, id_len) != CLUSTER_HERE) {
		connect_refuse(c, MQTT_RC_SERVER_UNAVAILABLE,
			       MQTT_V3_SERVER_UNAVAILABLE,
			       "session owned by another node");
		return;
	}

	/* authentication (auth.h): may hold c and come back here later */
	switch (auth_connect(c, p, id, id_len)) {
	case AUTH_ALLOW:
		break;
	case AUTH_PENDING:
		return;
	case AUTH_THROTTLED:
		connect_throttled(c);
		return;
	case AUTH_BAD_CREDENTIALS:
		connect_refuse(c, MQTT_RC_BAD_USER_OR_PASSWORD,
			       MQTT_V3_BAD_USER_OR_PASSWORD,
			       "bad user name or password");
		return;
	case AUTH_BAD_METHOD:
		connect_refuse(c, MQTT_RC_BAD_AUTH_METHOD,
			       MQTT_V3_NOT_AUTHORIZED,
			       "unsupported authentication method (\""
			       AUTH_JWT_METHOD "\" needs JWT keys, \""
			       SCRAM_METHOD "\" a password file)");
		return;
	case AUTH_UNAVAILABLE:
		connect_refuse(c, MQTT_RC_SERVER_UNAVAILABLE,
			       MQTT_V3_SERVER_UNAVAILABLE,
			       "authentication server unavailable");
		return;
	case AUTH_NOT_AUTHORIZED:
	default:
		connect_refuse(c, MQTT_RC_NOT_AUTHORIZED,
			       MQTT_V3_NOT_AUTHORIZED,
			       "anonymous access is not allowed here");
		return;
	}
	/* authorization (acl.h): who the client is, for every check */
	user = auth_user(c, p, &user_len);
	if (!c->acl && acl_conn_attach(c, user, user_len, id, id_len)) {
		connect_refuse(c, MQTT_RC_SERVER_BUSY,
			       MQTT_V3_SERVER_UNAVAILABLE, "out of memory");
		return;
	}

	if (p->will) {
		if (!topic_name_valid((const char *)p->will_topic.p,
				      p->will_topic.len,
				      cfg->max_topic_levels)) {
			connect_refuse(c, MQTT_RC_TOPIC_NAME_INVALID,
				       MQTT_V3_NOT_AUTHORIZED,
				       "invalid will topic");
			return;
		}
		if ((p->will_props.present &
		     MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC)) &&
		    !topic_name_valid(
			    (const char *)p->will_props.response_topic.p,
			    p->will_props.response_topic.len, 0)) {
			/* the will obeys [MQTT-3.3.2-14] too */
			connect_refuse(c, MQTT_RC_PROTOCOL_ERROR,
				       MQTT_V3_NOT_AUTHORIZED,
				       "invalid will response topic");
			return;
		}
		if (p->will_qos > cfg->max_qos) {
			connect_refuse(c, MQTT_RC_QOS_NOT_SUPPORTED,
				       MQTT_V3_NOT_AUTHORIZED,
				       "will QoS above maximum QoS");
			return;
		}
		if (p->will_retain && !cfg->retain_available) {
			connect_refuse(c, MQTT_RC_RETAIN_NOT_SUPPORTED,
				       MQTT_V3_NOT_AUTHORIZED,
				       "retain is not available");
			return;
		}
		if (c->acl && !acl_check_publish(c->acl,
						 (const char *)p->will_topic.p,
						 p->will_topic.len, p->will_qos,
						 p->will_retain)) {
			stat_add(&w->stats.acl_denied, 1);
			connect_refuse(c, MQTT_RC_NOT_AUTHORIZED,
				       MQTT_V3_NOT_AUTHORIZED,
				       "will topic not allowed by the ACL");
			return;
		}
		will = connect_will(c, p);
		if (!will) {
			connect_refuse(c, MQTT_RC_SERVER_BUSY,
				       MQTT_V3_SERVER_UNAVAILABLE,
				       "out of memory");
			return;
		}
	}

	/* session expiry: v5 property; v3 clean session 0 keeps it for the
	 * configured maximum */
	if (c->version == MQTT_V5)
		expiry = (pr->present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY))
				 ? pr->session_expiry
				 : 0;
	else
		expiry = p->clean_start ? 0 : UINT32_MAX;
	if (expiry > cfg->max_session_expiry) {
		if (c->version == MQTT_V5) {
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
			ap->session_expiry = cfg->max_session_expiry;
		}
		expiry = cfg->max_session_expiry;
	}

	s = session_find(w, id, id_len);
	if (s && s->conn)
		connect_takeover(s, p->clean_start);
	if (s && p->clean_start) {
		session_end(s); /* its will goes now */
		s = NULL;
	}
	if (s) {
		present = true;
		/* reconnected within the will delay: the will is cancelled */
		msg_unref(s->will);
		s->will = NULL;
		s->will_at = 0;
	} else {
		s = session_new(w, id, id_len);
		if (!s) {
			msg_unref(will);
			connect_refuse(c, MQTT_RC_SERVER_BUSY,
				       MQTT_V3_SERVER_UNAVAILABLE,
				       "out of memory");
			return;
		}
	}
	s->version = c->version;
	s->expiry = expiry;
	s->will = will; /* msg_new left its will_delay 0 */
	if (will && c->version == MQTT_V5 &&
	    (p->will_props.present & MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY)))
		s->will->will_delay = p->will_props.will_delay;
	s->conn = c;
	c->s = s;
	/* a resumed session keeps only what this identity may hold */
	acl_conn_prune(c);
	if (s->persist && !(persist_on(w->node) && expiry > 0))
		persist_session_del(s); /* no longer kept: forget it */
	session_set_persist(s, persist_on(w->node) && expiry > 0);
	persist_session(s);

	if (cfg->keepalive_max && (keepalive == 0 || keepalive >
						      cfg->keepalive_max)) {
		keepalive = (uint16_t)cfg->keepalive_max;
		if (c->version == MQTT_V5) {
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE);
			ap->server_keep_alive = keepalive;
		}
	}
	c->keepalive = keepalive;
	c->deadline = keepalive
			      ? worker_now(w) + (uint64_t)keepalive * 1500
			      : 0;

	ack.connack.session_present = present;
	ack.connack.reason = 0;
	if (c->version == MQTT_V5) {
		ap->present |= MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX) |
			       MQTT_PROP_BIT(MQTT_PROP_MAX_PACKET_SIZE) |
			       MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX);
		ap->receive_max = (uint16_t)cfg->max_inflight;
		ap->max_packet_size = cfg->max_packet_size;
		ap->topic_alias_max = (uint16_t)cfg->max_topic_alias;
		if (cfg->max_qos < 2) {
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_MAX_QOS);
			ap->max_qos = (uint8_t)cfg->max_qos;
		}
		if (!cfg->retain_available) {
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE);
			ap->retain_available = 0;
		}
		if (!cfg->wildcard_sub_available) {
			ap->present |=
				MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUB_AVAILABLE);
			ap->wildcard_sub_available = 0;
		}
		if (!cfg->sub_id_available) {
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_SUB_ID_AVAILABLE);
			ap->sub_id_available = 0;
		}
		if (!cfg->shared_sub_available) {
			ap->present |=
				MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE);
			ap->shared_sub_available = 0;
		}
		if (c->auth_jwt_method) {
			/* [MQTT-3.2.2-?]: the method the client chose */
			ap->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
			ap->auth_method.p = (const uint8_t *)AUTH_JWT_METHOD;
			ap->auth_method.len = strlen(AUTH_JWT_METHOD);
		} else if (CONN_EXT(c, scram)) {
			auth_scram_connack(c, ap); /* server-final */
		}
		if (assigned_id) {
			ap->present |=
				MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
			ap->assigned_client_id.p = (const uint8_t *)s->id;
			ap->assigned_client_id.len = s->id_len;
		}
	}
	conn_send(c, &ack);
	auth_scram_end(c); /* the exchange, if any, is over */
	conn_ext_trim(c);  /* so is authentication: an idle client is small */
	c->state = CONN_ACTIVE;
	stat_add(&w->stats.connects, 1);
	stat_add(&w->stats.clients_connected, 1);
	atomic_fetch_add(&w->node->clients_total, 1);
	log_debug("%s: client %.*s connected (v%u, session present %d)",
		  c->peer, (int)s->id_len, s->id, c->version, present);
	session_resume(s);
}

void handle_disconnect(struct conn *c, const struct mqtt_disconnect *p)
{
	struct session *s = c->s;
	bool with_will = false;

	if (c->version == MQTT_V5) {
		if (p->props.present &
		    MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY)) {
			/* [MQTT-3.14.2-2]: 0 in CONNECT cannot become
			 * non-zero */
			if (s && s->expiry == 0 && p->props.session_expiry) {
				handle_fail(c, MQTT_RC_PROTOCOL_ERROR,
					    "session expiry set after 0");
				return;
			}
			if (s)
				s->expiry = p->props.session_expiry >
							    c->w->node->cfg
								    .max_session_expiry
						    ? c->w->node->cfg
							      .max_session_expiry
						    : p->props.session_expiry;
		}
		with_will = p->reason == MQTT_RC_DISCONNECT_WITH_WILL;
	}
	/* a normal DISCONNECT discards the will [MQTT-3.1.2-10] */
	if (s && !with_will) {
		msg_unref(s->will);
		s->will = NULL;
	}
	conn_close(c, 0, with_will);
}
