/*
 * bench_pub.c - the publishing side of a tern-bench client.
 *
 * A publisher of the fan-in, fan-out and pairs scenarios encodes the head
 * of its PUBLISH once (bench_pub_init) and for each message copies it,
 * patches the packet id, and writes the payload: sequence number, send
 * time, publisher id, run token, padding. Unlimited, it publishes a burst
 * whenever its previous write completed or an acknowledgement freed room in
 * its in-flight window (bench_pub_pump); at a fixed rate the thread's 1 ms
 * timer calls bench_pub_rate. QoS 1/2 packet ids come from a small table
 * (twice the window) so that one slow acknowledgement never blocks the
 * others.
 *
 * The retained scenario's publisher instead stores one message per topic
 * <prefix><n> during PREPARE, and empties them again at FINISH.
 *
 * Everything runs on the client's thread; functions returning int give 0
 * or < 0 when the client failed (bench_client_fail), after which the
 * caller must stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static uint16_t pub_alloc_id(struct bench_pub *p)
{
	/* terminates: called only while inflight < inflight_max <= slots */
	for (;;) {
		uint16_t id = p->next_id;
		p->next_id = (uint16_t)(id % p->id_slots + 1);
		if (!p->id_state[id])
			return id;
	}
}

/* Writes the 24-byte payload header and the padding at w. */
static void pub_payload(struct bench_client *c, uint8_t *w, uint64_t seq,
                        uint64_t now)
{
	uint32_t size = c->t->b->o.size;
	bench_put_u64(w, seq);
	bench_put_u64(w + 8, now);
	bench_put_u32(w + 16, c->pub->id);
	bench_put_u32(w + 20, c->t->b->token);
	if (size > BENCH_PAYLOAD_MIN)
		memcpy(w + BENCH_PAYLOAD_MIN, c->pub->padding,
		       size - BENCH_PAYLOAD_MIN);
}

/* One message of the run, from the head template. */
static int pub_publish(struct bench_client *c)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_pub *p = c->pub;
	struct bench_thread *t = c->t;
	size_t total = p->head_len + o->size;

	if (bench_client_reserve(c, total) < 0)
		return TERN_ENOMEM;
	uint8_t *w = c->out.p + c->out.len;
	memcpy(w, p->head, p->head_len);
	if (o->qos) {
		uint16_t id = pub_alloc_id(p);
		w[p->id_off] = (uint8_t)(id >> 8);
		w[p->id_off + 1] = (uint8_t)id;
		p->id_state[id] = 1;
		p->inflight++;
	}
	uint64_t now = bench_now();
	pub_payload(c, w + p->head_len, p->seq, now);
	c->out.len += total;
	p->seq++;
	t->c.sent++;
	if (now >= t->win_start && now < t->win_end)
		t->c.sent_window++;
	return 0;
}

/* Retained message number n on topic <prefix><n>; `clear`: the empty
 * QoS 0 message that deletes it. */
static int pub_publish_retained(struct bench_client *c, uint32_t n, bool clear)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_pub *p = c->pub;
	char topic[BENCH_TOPIC_MAX + 12];
	int tl = snprintf(topic, sizeof(topic), "%s%u", c->plan.topic, n);
	struct mqtt_packet pkt;
	size_t total;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_PUBLISH;
	pkt.publish.qos = clear ? 0 : o->qos;
	pkt.publish.retain = true;
	pkt.publish.topic.p = (const uint8_t *)topic;
	pkt.publish.topic.len = (uint32_t)tl;
	pkt.publish.payload.len = clear ? 0 : o->size;
	if (pkt.publish.qos)
		pkt.publish.packet_id = pub_alloc_id(p);
	size_t head =
	    mqtt_encode_publish_head(&pkt, o->version, NULL, 0, &total);
	if (!head)
		return bench_client_fail(c, "cannot encode PUBLISH");
	if (bench_client_reserve(c, total) < 0)
		return TERN_ENOMEM;
	uint8_t *w = c->out.p + c->out.len;
	mqtt_encode_publish_head(&pkt, o->version, w, total, &total);
	if (!clear)
		pub_payload(c, w + head, n, bench_now());
	c->out.len += total;
	if (pkt.publish.qos) {
		p->id_state[pkt.publish.packet_id] = 1;
		p->inflight++;
	}
	if (!clear) {
		p->seq++;
		c->t->c.sent++;
	}
	return 0;
}

static void pub_set_prepared(struct bench_client *c)
{
	c->pub->prepared = true;
	c->pub->running = false;
	bench_thread_client_prepared(c->t);
}

/* Retained: all stored? QoS 1/2: every one acknowledged. QoS 0: a PINGREQ
 * after the last, since a broker answers it after the PUBLISHes before it;
 * bench_pub_on_pingresp finishes. */
static void pub_check_prepared(struct bench_client *c)
{
	struct bench_pub *p = c->pub;
	if (p->prepared || p->seq < c->t->b->o.count)
		return;
	if (c->t->b->o.qos == 0) {
		if (!p->ping_sent &&
		    bench_client_send_simple(c, MQTT_PINGREQ) == 0)
			p->ping_sent = true;
		return;
	}
	if (p->inflight == 0)
		pub_set_prepared(c);
}

static bool pub_may_send(const struct bench_client *c)
{
	const struct bench_pub *p = c->pub;
	return c->out.len < BENCH_OUT_HIGH &&
	       (c->t->b->o.qos == 0 || p->inflight < p->inflight_max);
}

void bench_pub_pump(struct bench_client *c)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_pub *p = c->pub;

	if (!p || !p->running || c->state != BENCH_C_READY)
		return;
	if (o->scenario == BENCH_RETAINED) {
		for (int n = 0;
		     n < BENCH_BURST && p->seq < o->count && pub_may_send(c);
		     n++) {
			if (pub_publish_retained(c, (uint32_t)p->seq, false))
				return;
		}
		pub_check_prepared(c);
		return;
	}
	if (o->rate > 0)
		return; /* the rate timer paces */
	for (int n = 0; n < BENCH_BURST && pub_may_send(c); n++) {
		if (pub_publish(c) < 0)
			return;
	}
}

void bench_pub_start(struct bench_client *c)
{
	if (!c->pub || c->state != BENCH_C_READY || c->pub->prepared)
		return;
	c->pub->running = true;
	bench_pub_pump(c);
	bench_client_flush(c);
}

void bench_pub_stop(struct bench_client *c)
{
	if (c->pub)
		c->pub->running = false;
}

void bench_pub_rate(struct bench_client *c, double dt_s)
{
	struct bench_pub *p = c->pub;
	struct bench *b = c->t->b;
	if (!p->running || c->state != BENCH_C_READY)
		return;
	double per = b->o.rate / (double)b->npublishers;
	p->tokens += per * dt_s;
	/* owe at most 50 ms: a publisher held back by its in-flight window
	 * offers less, and pub_msgs_per_s shows it */
	double cap = per * 0.05 + 1.0;
	if (p->tokens > cap)
		p->tokens = cap;
	while (p->tokens >= 1.0 && pub_may_send(c)) {
		if (pub_publish(c) < 0)
			return;
		p->tokens -= 1.0;
	}
	bench_client_flush(c);
}

int bench_pub_on_ack(struct bench_client *c, uint8_t type,
                     const struct mqtt_ack *ack)
{
	struct bench_pub *p = c->pub;
	uint16_t id = ack->packet_id;
	uint8_t qos = c->t->b->o.qos;

	if (!p || id == 0 || id > p->id_slots || !p->id_state[id])
		return bench_client_fail(c, "%s for unknown packet id %u",
		                         mqtt_type_name(type), id);
	uint8_t st = p->id_state[id];
	switch (type) {
	case MQTT_PUBACK:
		if (qos != 1 || st != 1)
			goto unexpected;
		if (ack->reason >= 0x80)
			c->t->c.rejected++;
		break;
	case MQTT_PUBREC:
		if (qos != 2 || st != 1)
			goto unexpected;
		if (ack->reason >= 0x80) {
			c->t->c.rejected++; /* the flow ends here [v5] */
			break;
		}
		p->id_state[id] = 2;
		return bench_client_send_ack(c, MQTT_PUBREL, id);
	default: /* PUBCOMP */
		if (st != 2)
			goto unexpected;
		break;
	}
	p->id_state[id] = 0;
	p->inflight--;
	if (c->t->b->o.scenario == BENCH_RETAINED)
		pub_check_prepared(c);
	bench_pub_pump(c);
	return 0;
unexpected:
	return bench_client_fail(c, "unexpected %s for packet id %u",
	                         mqtt_type_name(type), id);
}

void bench_pub_on_pingresp(struct bench_client *c)
{
	struct bench_pub *p = c->pub;
	if (p && p->ping_sent && !p->prepared && !c->pings_out)
		pub_set_prepared(c);
}

int bench_pub_clear_retained(struct bench_client *c)
{
	if (!c->pub || c->t->b->o.scenario != BENCH_RETAINED)
		return 0;
	for (uint32_t n = 0; n < c->pub->seq; n++) {
		int rc = pub_publish_retained(c, n, true);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The PUBLISH head of every message of a non-retained publisher. */
static int pub_template(struct bench_client *c)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_pub *p = c->pub;
	struct mqtt_packet pkt;
	size_t total;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_PUBLISH;
	pkt.publish.qos = o->qos;
	pkt.publish.topic.p = (const uint8_t *)c->plan.topic;
	pkt.publish.topic.len = (uint32_t)strlen(c->plan.topic);
	pkt.publish.packet_id = o->qos ? 0x0102 : 0;
	pkt.publish.payload.len = o->size;
	p->head_len = mqtt_encode_publish_head(&pkt, o->version, p->head,
	                                       sizeof(p->head), &total);
	if (!p->head_len || p->head_len > sizeof(p->head))
		return TERN_EINVAL;
	if (o->qos) {
		/* the packet id ends the variable header, before the (empty)
		 * property block in v5 */
		p->id_off = p->head_len - 2 - (o->version == MQTT_V5 ? 1 : 0);
		if (p->head[p->id_off] != 1 || p->head[p->id_off + 1] != 2)
			return TERN_EINVAL;
	}
	return 0;
}

int bench_pub_init(struct bench_client *c)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_pub *p = calloc(1, sizeof(*p));
	if (!p)
		return TERN_ENOMEM;
	c->pub = p;
	p->id = c->plan.pub_id;
	p->inflight_max = o->inflight;
	uint32_t slots = o->inflight * 2 < 64 ? 64 : o->inflight * 2;
	p->id_slots = slots > 65535 ? 65535 : slots;
	p->next_id = 1;
	p->id_state = calloc(p->id_slots + 1, 1);
	p->padding = malloc(o->size - BENCH_PAYLOAD_MIN + 1);
	if (!p->id_state || !p->padding) {
		bench_pub_free(c);
		return TERN_ENOMEM;
	}
	memset(p->padding, 'x', o->size - BENCH_PAYLOAD_MIN + 1);
	if (o->scenario != BENCH_RETAINED && pub_template(c) < 0) {
		bench_pub_free(c);
		return TERN_EINVAL;
	}
	return 0;
}

void bench_pub_free(struct bench_client *c)
{
	if (!c->pub)
		return;
	free(c->pub->id_state);
	free(c->pub->padding);
	free(c->pub);
	c->pub = NULL;
}
