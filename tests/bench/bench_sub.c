/*
 * bench_sub.c - the receiving side of a tern-bench client.
 *
 * Every PUBLISH is acknowledged as its QoS asks, then its payload is
 * checked: one without this run's token is counted as foreign and ignored.
 * Fan-in, fan-out and pairs subscribers feed the (publisher, subscriber)
 * tracker of bench_seq.c, which tells new messages from duplicates; the
 * latency of a new message is its arrival time minus the send time in its
 * payload (one process, one monotonic clock).
 *
 * Retained subscribers work in rounds: SUBSCRIBE to the wildcard, receive
 * the N stored messages (a bitmap of N bits finds duplicates), UNSUBSCRIBE,
 * and again while the run lasts. Their latency is measured from the
 * SUBSCRIBE. A round that receives nothing for 2 s gives up and counts
 * what is missing as lost.
 *
 * Everything runs on the client's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STALL_NS (2 * UINT64_C(1000000000)) /* a retained round gives up */

static void sub_round_start(struct bench_client *c)
{
	struct bench_sub *s = c->sub;
	uint32_t words = (c->t->b->o.count + 63) / 64;
	memset(s->seen, 0, words * sizeof(uint64_t));
	s->nseen = 0;
	s->in_round = true;
	s->round_start = s->last_rx = bench_now();
	c->t->c.rounds++;
	bench_client_send_subscribe(c, MQTT_SUBSCRIBE, &s->sub_pid);
}

static void sub_round_end(struct bench_client *c)
{
	c->sub->in_round = false;
	c->sub->unsub_wait = true;
	bench_client_send_subscribe(c, MQTT_UNSUBSCRIBE, &c->sub->unsub_pid);
}

void bench_sub_round_start(struct bench_client *c)
{
	if (!c->sub || c->t->b->o.scenario != BENCH_RETAINED ||
	    c->state != BENCH_C_READY || c->sub->in_round || c->sub->unsub_wait)
		return;
	sub_round_start(c);
	bench_client_flush(c);
}

int bench_sub_on_unsuback(struct bench_client *c, uint16_t id)
{
	if (!c->sub || !c->sub->unsub_wait || id != c->sub->unsub_pid)
		return bench_client_fail(c, "unexpected UNSUBACK");
	c->sub->unsub_wait = false;
	if (c->t->phase == BENCH_RUN)
		sub_round_start(c);
	return 0;
}

void bench_sub_tick(struct bench_client *c, uint64_t now)
{
	struct bench_sub *s = c->sub;
	if (s && s->in_round && now - s->last_rx > STALL_NS) {
		c->t->c.round_lost += c->t->b->o.count - s->nseen;
		sub_round_end(c);
	}
}

void bench_sub_finish(struct bench_client *c)
{
	struct bench_sub *s = c->sub;
	if (s && s->in_round) {
		/* a round the drain did not see to its end */
		c->t->c.round_lost += c->t->b->o.count - s->nseen;
		s->in_round = false;
	}
}

/* A new message: counts it, and its latency if inside the window. */
static void sub_record(struct bench_client *c, uint64_t now, uint64_t since)
{
	struct bench_thread *t = c->t;
	t->c.unique++;
	if (now >= t->win_start && now < t->win_end) {
		t->c.recv_window++;
		bench_hist_add(&t->hist, now > since ? now - since : 0);
	}
}

static void sub_retained(struct bench_client *c, uint64_t now, uint64_t n)
{
	struct bench_thread *t = c->t;
	struct bench_sub *s = c->sub;

	if (!s->in_round) {
		t->c.late++;
		return;
	}
	if (n >= t->b->o.count) {
		t->c.misrouted++;
		return;
	}
	t->c.received++;
	s->last_rx = now;
	uint64_t bit = UINT64_C(1) << (n % 64);
	if (s->seen[n / 64] & bit) {
		t->c.round_dup++;
		return;
	}
	s->seen[n / 64] |= bit;
	s->nseen++;
	sub_record(c, now, s->round_start);
	if (s->nseen == t->b->o.count)
		sub_round_end(c);
}

int bench_sub_on_publish(struct bench_client *c, const struct mqtt_publish *pb)
{
	struct bench_thread *t = c->t;
	struct bench_sub *s = c->sub;
	uint64_t now = bench_now();
	int rc = 0;

	if (!s)
		return bench_client_fail(c, "PUBLISH on %.*s to a publisher",
		                         (int)pb->topic.len,
		                         (const char *)pb->topic.p);
	if (pb->qos == 1)
		rc = bench_client_send_ack(c, MQTT_PUBACK, pb->packet_id);
	else if (pb->qos == 2)
		rc = bench_client_send_ack(c, MQTT_PUBREC, pb->packet_id);
	if (rc < 0 || t->phase >= BENCH_FINISH)
		return rc; /* e.g. the retained publisher clearing its topics */

	const uint8_t *p = pb->payload.p;
	if (pb->payload.len < BENCH_PAYLOAD_MIN ||
	    bench_get_u32(p + 20) != t->b->token) {
		t->c.foreign++;
		return 0;
	}
	uint64_t seq = bench_get_u64(p);
	uint64_t ts = bench_get_u64(p + 8);
	uint32_t pub = bench_get_u32(p + 16);

	if (t->b->o.scenario == BENCH_RETAINED) {
		sub_retained(c, now, seq);
		return 0;
	}
	if (pub < s->track_base || pub - s->track_base >= s->track_count) {
		t->c.misrouted++;
		return 0;
	}
	t->c.received++;
	if (bench_seq_add(&s->track[pub - s->track_base], seq))
		sub_record(c, now, ts);
	return 0;
}

int bench_sub_init(struct bench_client *c)
{
	const struct bench_opts *o = &c->t->b->o;
	struct bench_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return TERN_ENOMEM;
	c->sub = s;
	s->granted = 0xff;
	s->track_base = c->plan.track_base;
	s->track_count = c->plan.track_count;
	if (s->track_count) {
		s->track = calloc(s->track_count, sizeof(*s->track));
		if (!s->track)
			goto err;
	}
	if (o->scenario == BENCH_RETAINED) {
		s->seen = calloc((o->count + 63) / 64, sizeof(uint64_t));
		if (!s->seen)
			goto err;
	}
	return 0;
err:
	bench_sub_free(c);
	return TERN_ENOMEM;
}

void bench_sub_free(struct bench_client *c)
{
	if (!c->sub)
		return;
	free(c->sub->track);
	free(c->sub->seen);
	free(c->sub);
	c->sub = NULL;
}
