/*
 * Session and QoS state machines, driven in-process: one worker loop run by
 * the test, clients on socketpairs adopted by the worker, packets encoded
 * and decoded with the codec. Deterministic: no threads, no timing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "node.h"
#include "retain.h"
#include "worker.h"

static struct tern_node node;
static struct worker *w;

struct client {
	int fd;
	uint8_t version;
	uint8_t buf[65536];
	size_t len;
	uint8_t pkt[65536]; /* the last packet returned */
};

static void pump(void)
{
	for (int i = 0; i < 8; i++)
		uv_run(&w->loop, UV_RUN_NOWAIT);
}

static void setup(void)
{
	memset(&node, 0, sizeof(node));
	config_defaults(&node.cfg);
	node.cfg.workers = 1;
	node.cfg.sys_interval = 0;
	node.n_workers = 1;
	node.workers = calloc(1, sizeof(*node.workers));
	node.retain = retain_store_new();
	cr_assert(node.workers && node.retain);
	w = &node.workers[0];
	cr_assert_eq(worker_init(&node, w, 0), 0);
}

static void teardown(void)
{
	struct wmsg *wm = worker_msg_new(WMSG_STOP, 0);

	worker_post(&node, 0, wm);
	pump();
	worker_post(&node, 0, worker_msg_new(WMSG_CLOSE, 0));
	uv_run(&w->loop, UV_RUN_DEFAULT);
	worker_destroy(w);
	free(node.workers);
	retain_store_free(node.retain);
}

TestSuite(session, .init = setup, .fini = teardown);

static void client_send(struct client *c, const struct mqtt_packet *p)
{
	uint8_t out[4096];
	size_t n = mqtt_encode(p, c->version, out, sizeof(out));

	cr_assert(n <= sizeof(out));
	cr_assert_eq(write(c->fd, out, n), (ssize_t)n);
	pump();
}

/* Next packet from the broker, or type 0 if none arrives. */
static struct mqtt_packet client_recv(struct client *c)
{
	struct mqtt_packet p = {0};

	for (int tries = 0; tries < 50; tries++) {
		size_t used = 0;
		ssize_t n;

		if (c->len && mqtt_decode(c->buf, c->len, c->version, 0, &p,
					  &used) == 0) {
			memcpy(c->pkt, c->buf, used);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			/* re-decode from the stable copy */
			mqtt_decode(c->pkt, used, c->version, 0, &p, &used);
			return p;
		}
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n > 0)
			c->len += (size_t)n;
		else
			pump();
	}
	memset(&p, 0, sizeof(p));
	return p;
}

static void client_open(struct client *c, uint8_t version)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	c->fd = sv[1];
	c->version = version;
	conn_adopt(w, sv[0], NULL, 0, 0, "test", NULL);
}

/* Connects; returns the CONNACK. */
static struct mqtt_packet client_connect(struct client *c, uint8_t version,
					 const char *id, bool clean,
					 uint16_t receive_max)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	client_open(c, version);
	p.connect.version = version;
	p.connect.clean_start = clean;
	p.connect.client_id.p = (const uint8_t *)id;
	p.connect.client_id.len = (uint32_t)strlen(id);
	if (version == MQTT_V5) {
		p.connect.props.present =
			MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
		p.connect.props.session_expiry = clean ? 0 : 3600;
		if (receive_max) {
			p.connect.props.present |=
				MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX);
			p.connect.props.receive_max = receive_max;
		}
	}
	client_send(c, &p);
	p = client_recv(c);
	cr_assert_eq(p.type, MQTT_CONNACK);
	cr_assert_eq(p.connack.reason, 0);
	return p;
}

static void client_subscribe(struct client *c, const char *filter,
			     uint8_t qos)
{
	struct mqtt_sub_entry e = {
		.filter = {(const uint8_t *)filter, (uint32_t)strlen(filter)},
		.opts = qos};
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};

	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	client_send(c, &p);
	p = client_recv(c);
	cr_assert_eq(p.type, MQTT_SUBACK);
	cr_assert_eq(p.suback.reasons[0], qos);
}

static void client_publish(struct client *c, const char *topic, uint8_t qos,
			   uint16_t pid, bool dup, const char *payload)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};

	p.publish.qos = qos;
	p.publish.dup = dup;
	p.publish.packet_id = pid;
	p.publish.topic.p = (const uint8_t *)topic;
	p.publish.topic.len = (uint32_t)strlen(topic);
	p.publish.payload.p = (const uint8_t *)payload;
	p.publish.payload.len = (uint32_t)strlen(payload);
	client_send(c, &p);
}

static void client_ack(struct client *c, uint8_t type, uint16_t pid)
{
	struct mqtt_packet p = {.type = type};

	p.ack.packet_id = pid;
	client_send(c, &p);
}

static void client_close(struct client *c)
{
	close(c->fd);
	pump();
}

static void assert_payload(const struct mqtt_packet *p, const char *want)
{
	cr_assert_eq(p->type, MQTT_PUBLISH);
	cr_assert_eq(p->publish.payload.len, strlen(want));
	cr_assert(memcmp(p->publish.payload.p, want, strlen(want)) == 0);
}

/* [MQTT-3.3.4-9] at most Receive Maximum unacknowledged QoS 1 PUBLISH */
Test(session, mqtt_3_3_4_9_receive_maximum_window)
{
	struct client sub, pub;
	struct mqtt_packet p;
	uint16_t first_pid;

	client_connect(&sub, MQTT_V5, "sub", true, 2);
	client_subscribe(&sub, "t", 1);
	client_connect(&pub, MQTT_V311, "pub", true, 0);
	for (int i = 0; i < 5; i++) {
		char payload[8];

		snprintf(payload, sizeof(payload), "m%d", i);
		client_publish(&pub, "t", 1, (uint16_t)(10 + i), false,
			       payload);
		p = client_recv(&pub);
		cr_assert_eq(p.type, MQTT_PUBACK);
		cr_assert_eq(p.ack.packet_id, 10 + i);
	}
	p = client_recv(&sub);
	assert_payload(&p, "m0");
	first_pid = p.publish.packet_id;
	p = client_recv(&sub);
	assert_payload(&p, "m1");
	p = client_recv(&sub);
	cr_assert_eq(p.type, 0, "a third PUBLISH exceeded receive maximum");

	client_ack(&sub, MQTT_PUBACK, first_pid);
	p = client_recv(&sub);
	assert_payload(&p, "m2");
	p = client_recv(&sub);
	cr_assert_eq(p.type, 0);
	client_close(&sub);
	client_close(&pub);
}

/* [MQTT-4.4.0-1] unacknowledged PUBLISH resent with DUP on reconnect */
Test(session, mqtt_4_4_0_1_resend_with_dup)
{
	struct client sub, pub;
	struct mqtt_packet p;
	uint16_t pid;

	client_connect(&sub, MQTT_V311, "persist", false, 0);
	client_subscribe(&sub, "a/+", 1);
	client_connect(&pub, MQTT_V311, "pub", true, 0);
	client_publish(&pub, "a/b", 1, 1, false, "hello");
	p = client_recv(&sub);
	assert_payload(&p, "hello");
	cr_assert_not(p.publish.dup);
	pid = p.publish.packet_id;
	client_close(&sub); /* never acknowledged */

	client_publish(&pub, "a/c", 1, 2, false, "queued");
	p = client_connect(&sub, MQTT_V311, "persist", false, 0);
	cr_assert(p.connack.session_present); /* [MQTT-3.2.2-2] */
	p = client_recv(&sub);
	assert_payload(&p, "hello");
	cr_assert(p.publish.dup); /* [MQTT-3.3.1-1] */
	cr_assert_eq(p.publish.packet_id, pid);
	p = client_recv(&sub);
	assert_payload(&p, "queued");
	cr_assert_not(p.publish.dup);
	client_close(&sub);
	client_close(&pub);
}

/* [MQTT-4.3.3-10]: a resent QoS 2 PUBLISH is not delivered twice */
Test(session, mqtt_4_3_3_qos2_inbound_exactly_once)
{
	struct client sub, pub;
	struct mqtt_packet p;

	client_connect(&sub, MQTT_V311, "sub", true, 0);
	client_subscribe(&sub, "q2", 2);
	client_connect(&pub, MQTT_V5, "pub", true, 0);
	client_publish(&pub, "q2", 2, 7, false, "once");
	p = client_recv(&pub);
	cr_assert_eq(p.type, MQTT_PUBREC);
	client_publish(&pub, "q2", 2, 7, true, "once");
	p = client_recv(&pub);
	cr_assert_eq(p.type, MQTT_PUBREC);
	client_ack(&pub, MQTT_PUBREL, 7);
	p = client_recv(&pub);
	cr_assert_eq(p.type, MQTT_PUBCOMP);
	cr_assert_eq(p.ack.reason, 0);

	p = client_recv(&sub);
	assert_payload(&p, "once");
	cr_assert_eq(p.publish.qos, 2);
	client_ack(&sub, MQTT_PUBREC, p.publish.packet_id);
	p = client_recv(&sub);
	cr_assert_eq(p.type, MQTT_PUBREL); /* [MQTT-4.3.3-4] */
	client_ack(&sub, MQTT_PUBCOMP, p.ack.packet_id);
	p = client_recv(&sub);
	cr_assert_eq(p.type, 0, "delivered twice");

	/* a PUBREL for an unknown id: PUBCOMP 0x92 */
	client_ack(&pub, MQTT_PUBREL, 99);
	p = client_recv(&pub);
	cr_assert_eq(p.type, MQTT_PUBCOMP);
	cr_assert_eq(p.ack.reason, MQTT_RC_PACKET_ID_NOT_FOUND);
	client_close(&sub);
	client_close(&pub);
}

/* A full queue drops QoS 0 first and counts every drop. */
Test(session, queue_bound_evicts_qos0_first)
{
	struct client sub, pub;
	struct mqtt_packet p;

	node.cfg.max_queued_messages = 2;
	client_connect(&sub, MQTT_V5, "slow", true, 1);
	client_subscribe(&sub, "s", 1);
	client_connect(&pub, MQTT_V311, "pub", true, 0);
	client_publish(&pub, "s", 1, 1, false, "inflight");
	client_publish(&pub, "s", 0, 0, false, "q0"); /* QoS 0: no window */
	client_publish(&pub, "s", 1, 2, false, "q1a"); /* queued */
	client_publish(&pub, "s", 0, 0, false, "q0mid"); /* queued */
	client_publish(&pub, "s", 1, 3, false, "q1b"); /* evicts q0mid */
	client_publish(&pub, "s", 0, 0, false, "q0late"); /* dropped */
	cr_assert_eq(stat_get(&w->stats.dropped_queue_full), 2);

	p = client_recv(&sub);
	assert_payload(&p, "inflight");
	p = client_recv(&sub);
	assert_payload(&p, "q0");
	client_ack(&sub, MQTT_PUBACK, 1);
	p = client_recv(&sub);
	assert_payload(&p, "q1a");
	client_ack(&sub, MQTT_PUBACK, p.publish.packet_id);
	p = client_recv(&sub);
	assert_payload(&p, "q1b");
	client_ack(&sub, MQTT_PUBACK, p.publish.packet_id);
	p = client_recv(&sub);
	cr_assert_eq(p.type, 0);
	client_close(&sub);
	client_close(&pub);
}

/* [MQTT-3.1.4-3] takeover: the old connection gets DISCONNECT 0x8E */
Test(session, mqtt_3_1_4_3_takeover)
{
	struct client a, b;
	struct mqtt_packet p;

	client_connect(&a, MQTT_V5, "dup-id", false, 0);
	client_subscribe(&a, "x", 0);
	p = client_connect(&b, MQTT_V5, "dup-id", false, 0);
	cr_assert(p.connack.session_present);
	p = client_recv(&a);
	cr_assert_eq(p.type, MQTT_DISCONNECT);
	cr_assert_eq(p.disconnect.reason, MQTT_RC_SESSION_TAKEN_OVER);
	client_close(&a);
	client_close(&b);
}

/* [MQTT-3.1.2-8] the will goes out when the connection drops */
Test(session, mqtt_3_1_2_8_will_on_abnormal_close)
{
	struct client sub, dev;
	struct mqtt_packet p = {.type = MQTT_CONNECT};

	client_connect(&sub, MQTT_V311, "watcher", true, 0);
	client_subscribe(&sub, "status/+", 1);

	client_open(&dev, MQTT_V311);
	p.connect.version = MQTT_V311;
	p.connect.clean_start = true;
	p.connect.client_id.p = (const uint8_t *)"dev1";
	p.connect.client_id.len = 4;
	p.connect.will = true;
	p.connect.will_qos = 1;
	p.connect.will_topic.p = (const uint8_t *)"status/dev1";
	p.connect.will_topic.len = 11;
	p.connect.will_payload.p = (const uint8_t *)"offline";
	p.connect.will_payload.len = 7;
	client_send(&dev, &p);
	p = client_recv(&dev);
	cr_assert_eq(p.type, MQTT_CONNACK);
	client_close(&dev);

	p = client_recv(&sub);
	assert_payload(&p, "offline");
	cr_assert_eq(p.publish.qos, 1);
	client_close(&sub);
}
