/*
 * bench_client.c - one MQTT client of tern-bench on its thread's loop.
 *
 * Input: the thread's shared read buffer -> client_feed (framing; a packet
 * split across reads is completed in the client's own `carry` buffer) ->
 * mqtt_decode -> client_handle. Output: packets are encoded into `out`;
 * client_flush hands `out` to one uv_write at a time (swapping it with
 * `wbuf`), so everything produced while a write is in flight goes out in
 * the next one. uv_write tries the socket at once, and its callback comes
 * on the next loop iteration: an unlimited publisher refills `out` from
 * that callback, which paces it to what the socket (that is, the broker)
 * takes, one burst per iteration, with no busy polling.
 *
 * Every function runs on the client's thread. A client that meets an error
 * reports it with client_fail(), which stops the whole run and closes the
 * handle; callers stop touching the client when a function returns < 0.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STALL_NS (2 * UINT64_C(1000000000)) /* retained round gives up */

static const struct bench_opts *client_opts(const struct bench_client *c)
{
	return &c->t->b->o;
}

static bool client_retained(const struct bench_client *c)
{
	return client_opts(c)->scenario == BENCH_RETAINED;
}

static void client_id(const struct bench_client *c, char *buf, size_t cap)
{
	const struct bench_opts *o = client_opts(c);
	snprintf(buf, cap, "%s-%s-%u", o->id_prefix,
		 bench_scenario_name(o->scenario), c->index);
}

/* ------------------------------------------------------------ buffers */

static int buf_reserve(struct bench_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return TERN_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_free(struct bench_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ------------------------------------------------------------ failure */

static void client_on_close(uv_handle_t *h)
{
	struct bench_client *c = h->data;
	c->state = BENCH_C_CLOSED;
	bench_thread_client_closed(c->t);
}

/* The client no longer counts against the connect concurrency. */
static void client_connect_done(struct bench_client *c)
{
	if (c->connect_pending) {
		c->connect_pending = false;
		c->t->connecting--;
	}
}

void bench_client_close(struct bench_client *c)
{
	if (!c->handle_open)
		return;
	c->handle_open = false;
	client_connect_done(c);
	uv_close((uv_handle_t *)&c->tcp, client_on_close);
}

/* Reports an error for the whole run (unless it is ending anyway) and
 * closes the client. Returns TERN_EIO for the caller to pass up. */
__attribute__((format(printf, 2, 3))) static int
client_fail(struct bench_client *c, const char *fmt, ...)
{
	if (c->t->phase < BENCH_FINISH && c->state != BENCH_C_CLOSING) {
		char msg[200], id[64];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		client_id(c, id, sizeof(id));
		bench_thread_fail(c->t, "%s: %s", id, msg);
	}
	bench_client_close(c);
	return TERN_EIO;
}

/* ------------------------------------------------------------ output */

static void client_on_write(uv_write_t *req, int status);

static void client_flush(struct bench_client *c)
{
	if (c->writing || !c->out.len || !c->handle_open)
		return;
	struct bench_buf tmp = c->wbuf;
	c->wbuf = c->out;
	c->out = tmp;
	c->out.len = 0;
	uv_buf_t ub = uv_buf_init((char *)c->wbuf.p, (unsigned)c->wbuf.len);
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1,
			  client_on_write);
	if (rc < 0) {
		client_fail(c, "write: %s", uv_strerror(rc));
		return;
	}
	c->writing = true;
	c->t_last_tx = uv_now(&c->t->loop);
}

/* Encodes pkt at the end of `out`. 0 or < 0 (client failed). */
static int client_send(struct bench_client *c, const struct mqtt_packet *pkt)
{
	uint8_t version = client_opts(c)->version;
	size_t n = mqtt_encode(pkt, version, NULL, 0);
	if (!n)
		return client_fail(c, "cannot encode %s",
				   mqtt_type_name(pkt->type));
	if (buf_reserve(&c->out, n) < 0)
		return client_fail(c, "out of memory");
	mqtt_encode(pkt, version, c->out.p + c->out.len, n);
	c->out.len += n;
	return 0;
}

static int client_send_simple(struct bench_client *c, uint8_t type)
{
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	return client_send(c, &pkt);
}

static int client_send_ack(struct bench_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.ack.packet_id = id;
	return client_send(c, &pkt);
}

static uint16_t client_next_pid(struct bench_client *c)
{
	c->next_pid = (uint16_t)(c->next_pid % 65535 + 1);
	return c->next_pid;
}

/* SUBSCRIBE or UNSUBSCRIBE of the plan's filter; the id goes to *pid. */
static int client_send_subscribe(struct bench_client *c, uint8_t type,
				 uint16_t *pid)
{
	struct mqtt_sub_entry e = {
		.filter = {(const uint8_t *)c->plan.topic,
			   (uint32_t)strlen(c->plan.topic)},
		.opts = type == MQTT_SUBSCRIBE ? client_opts(c)->qos : 0,
	};
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.subscribe.packet_id = *pid = client_next_pid(c);
	pkt.subscribe.count = 1;
	pkt.subscribe.entries = &e;
	return client_send(c, &pkt);
}

/* ------------------------------------------------------------ publishing */

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
	const struct bench_opts *o = client_opts(c);
	put_u64(w, seq);
	put_u64(w + 8, now);
	put_u32(w + 16, c->pub->id);
	put_u32(w + 20, c->t->b->token);
	if (o->size > BENCH_PAYLOAD_MIN)
		memcpy(w + BENCH_PAYLOAD_MIN, c->pub->padding,
		       o->size - BENCH_PAYLOAD_MIN);
}

/* One message of the run, from the head template. 0 or < 0. */
static int pub_publish(struct bench_client *c)
{
	const struct bench_opts *o = client_opts(c);
	struct bench_pub *p = c->pub;
	struct bench_thread *t = c->t;
	size_t total = p->head_len + o->size;

	if (buf_reserve(&c->out, total) < 0)
		return client_fail(c, "out of memory");
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

/* One retained message: topic <prefix><seq>, seq = the topic number. */
static int pub_publish_retained(struct bench_client *c, uint32_t n,
				bool clear)
{
	const struct bench_opts *o = client_opts(c);
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
	size_t head = mqtt_encode_publish_head(&pkt, o->version, NULL, 0,
					       &total);
	if (!head)
		return client_fail(c, "cannot encode PUBLISH");
	if (buf_reserve(&c->out, total) < 0)
		return client_fail(c, "out of memory");
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

static void pub_check_prepared(struct bench_client *c)
{
	struct bench_pub *p = c->pub;
	if (p->prepared || p->seq < client_opts(c)->count)
		return;
	if (client_opts(c)->qos == 0) {
		/* a broker answers PINGREQ after the PUBLISHes before it */
		if (!p->ping_sent && client_send_simple(c, MQTT_PINGREQ) == 0)
			p->ping_sent = true;
		return;
	}
	if (p->inflight == 0) {
		p->prepared = true;
		p->running = false;
		bench_thread_client_prepared(c->t);
	}
}

static bool pub_may_send(const struct bench_client *c)
{
	const struct bench_pub *p = c->pub;
	return c->out.len < BENCH_OUT_HIGH &&
	       (client_opts(c)->qos == 0 || p->inflight < p->inflight_max);
}

/* Publishes a burst if publishing unlimited; the caller flushes. */
static void pub_pump(struct bench_client *c)
{
	const struct bench_opts *o = client_opts(c);
	struct bench_pub *p = c->pub;

	if (!p->running || c->state != BENCH_C_READY)
		return;
	if (client_retained(c)) {
		for (int n = 0; n < BENCH_BURST && p->seq < o->count &&
				pub_may_send(c);
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

void bench_client_pub_start(struct bench_client *c)
{
	if (!c->pub || c->state != BENCH_C_READY)
		return;
	c->pub->running = true;
	pub_pump(c);
	client_flush(c);
}

void bench_client_pub_stop(struct bench_client *c)
{
	if (c->pub)
		c->pub->running = false;
}

void bench_client_pub_rate(struct bench_client *c, double dt_s)
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
	client_flush(c);
}

/* ------------------------------------------------------------ retained */

static void round_start(struct bench_client *c)
{
	struct bench_sub *s = c->sub;
	uint32_t words = (client_opts(c)->count + 63) / 64;
	memset(s->seen, 0, words * sizeof(uint64_t));
	s->nseen = 0;
	s->in_round = true;
	s->round_start = s->last_rx = bench_now();
	c->t->c.rounds++;
	client_send_subscribe(c, MQTT_SUBSCRIBE, &s->sub_pid);
}

static void round_end(struct bench_client *c)
{
	c->sub->in_round = false;
	c->sub->unsub_wait = true;
	client_send_subscribe(c, MQTT_UNSUBSCRIBE, &c->sub->unsub_pid);
}

void bench_client_round_start(struct bench_client *c)
{
	if (!c->sub || !client_retained(c) || c->state != BENCH_C_READY ||
	    c->sub->in_round || c->sub->unsub_wait)
		return;
	round_start(c);
	client_flush(c);
}

/* ------------------------------------------------------------ input */

static void client_record(struct bench_client *c, uint64_t now, uint64_t ts)
{
	struct bench_thread *t = c->t;
	t->c.unique++;
	if (now >= t->win_start && now < t->win_end) {
		t->c.recv_window++;
		bench_hist_add(&t->hist, now > ts ? now - ts : 0);
	}
}

static int client_on_publish(struct bench_client *c,
			     const struct mqtt_publish *pb)
{
	struct bench_thread *t = c->t;
	struct bench_sub *s = c->sub;
	uint64_t now = bench_now();
	int rc = 0;

	if (!s)
		return client_fail(c, "PUBLISH on %.*s to a publisher",
				   (int)pb->topic.len,
				   (const char *)pb->topic.p);
	if (pb->qos == 1)
		rc = client_send_ack(c, MQTT_PUBACK, pb->packet_id);
	else if (pb->qos == 2)
		rc = client_send_ack(c, MQTT_PUBREC, pb->packet_id);
	if (rc < 0)
		return rc;

	const uint8_t *p = pb->payload.p;
	if (pb->payload.len < BENCH_PAYLOAD_MIN ||
	    get_u32(p + 20) != t->b->token) {
		t->c.foreign++;
		return 0;
	}
	uint64_t seq = get_u64(p);
	uint64_t ts = get_u64(p + 8);
	uint32_t pub = get_u32(p + 16);

	if (client_retained(c)) {
		if (!s->in_round) {
			t->c.late++;
			return 0;
		}
		if (seq >= client_opts(c)->count) {
			t->c.misrouted++;
			return 0;
		}
		t->c.received++;
		s->last_rx = now;
		uint64_t bit = UINT64_C(1) << (seq % 64);
		if (s->seen[seq / 64] & bit) {
			t->c.round_dup++;
			return 0;
		}
		s->seen[seq / 64] |= bit;
		s->nseen++;
		/* latency: from the SUBSCRIBE, not from the publish */
		client_record(c, now, s->round_start);
		if (s->nseen == client_opts(c)->count)
			round_end(c);
		return 0;
	}

	if (pub < s->track_base || pub - s->track_base >= s->track_count) {
		t->c.misrouted++;
		return 0;
	}
	t->c.received++;
	if (bench_seq_add(&s->track[pub - s->track_base], seq))
		client_record(c, now, ts);
	return 0;
}

static int client_on_connack(struct bench_client *c,
			     const struct mqtt_connack *ack)
{
	const struct bench_opts *o = client_opts(c);
	struct bench_thread *t = c->t;

	if (c->state != BENCH_C_CONNACK)
		return client_fail(c, "unexpected CONNACK");
	if (ack->reason)
		return client_fail(c, "connection refused: CONNACK code "
				      "0x%02x",
				   ack->reason);
	bench_hist_add(&t->conn_hist, bench_now() - c->t_start);
	client_connect_done(c);
	if (o->version == MQTT_V5) {
		const struct mqtt_props *pr = &ack->props;
		if (c->pub && (pr->present &
			       MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX)) &&
		    pr->receive_max < c->pub->inflight_max)
			c->pub->inflight_max = pr->receive_max;
		if ((pr->present & MQTT_PROP_BIT(MQTT_PROP_MAX_QOS)) &&
		    pr->max_qos < o->qos)
			return client_fail(c, "the broker's Maximum QoS is %u",
					   pr->max_qos);
	}
	if (c->sub && !client_retained(c)) {
		c->state = BENCH_C_SUBACK;
		if (client_send_subscribe(c, MQTT_SUBSCRIBE,
					  &c->sub->sub_pid) < 0)
			return TERN_EIO;
	} else {
		c->state = BENCH_C_READY;
		bench_thread_client_ready(t);
	}
	bench_thread_connect_more(t);
	return 0;
}

static int client_on_suback(struct bench_client *c,
			    const struct mqtt_suback *sa)
{
	if (!c->sub || sa->packet_id != c->sub->sub_pid || sa->count < 1)
		return client_fail(c, "unexpected SUBACK");
	uint8_t r = sa->reasons[0];
	if (r >= 0x80)
		return client_fail(c, "subscription to %s refused: code 0x%02x",
				   c->plan.topic, r);
	if (r < client_opts(c)->qos && c->sub->granted == 0xff)
		c->t->c.qos_downgraded++;
	c->sub->granted = r;
	if (c->state == BENCH_C_SUBACK) {
		c->state = BENCH_C_READY;
		bench_thread_client_ready(c->t);
	}
	return 0;
}

static int client_on_unsuback(struct bench_client *c, uint16_t id)
{
	if (!c->sub || !c->sub->unsub_wait || id != c->sub->unsub_pid)
		return client_fail(c, "unexpected UNSUBACK");
	c->sub->unsub_wait = false;
	if (c->t->phase == BENCH_RUN)
		round_start(c);
	return 0;
}

static int client_on_pub_ack(struct bench_client *c, uint8_t type,
			     const struct mqtt_ack *ack)
{
	struct bench_pub *p = c->pub;
	uint16_t id = ack->packet_id;
	uint8_t qos = client_opts(c)->qos;

	if (!p || id == 0 || id > p->id_slots || !p->id_state[id])
		return client_fail(c, "%s for unknown packet id %u",
				   mqtt_type_name(type), id);
	uint8_t st = p->id_state[id];
	bool done = false;
	switch (type) {
	case MQTT_PUBACK:
		if (qos != 1 || st != 1)
			goto unexpected;
		if (ack->reason >= 0x80)
			c->t->c.rejected++;
		done = true;
		break;
	case MQTT_PUBREC:
		if (qos != 2 || st != 1)
			goto unexpected;
		if (ack->reason >= 0x80) {
			c->t->c.rejected++; /* the flow ends here [v5] */
			done = true;
			break;
		}
		p->id_state[id] = 2;
		return client_send_ack(c, MQTT_PUBREL, id);
	default: /* PUBCOMP */
		if (st != 2)
			goto unexpected;
		done = true;
		break;
	}
	if (done) {
		p->id_state[id] = 0;
		p->inflight--;
		if (client_retained(c))
			pub_check_prepared(c);
		pub_pump(c);
	}
	return 0;
unexpected:
	return client_fail(c, "unexpected %s for packet id %u",
			   mqtt_type_name(type), id);
}

static int client_handle(struct bench_client *c, const struct mqtt_packet *pk)
{
	if (c->state == BENCH_C_CLOSING)
		return 0; /* leaving: input no longer matters */
	if (c->state == BENCH_C_CONNACK && pk->type != MQTT_CONNACK)
		return client_fail(c, "%s before CONNACK",
				   mqtt_type_name(pk->type));
	switch (pk->type) {
	case MQTT_CONNACK:
		return client_on_connack(c, &pk->connack);
	case MQTT_SUBACK:
		return client_on_suback(c, &pk->suback);
	case MQTT_UNSUBACK:
		return client_on_unsuback(c, pk->suback.packet_id);
	case MQTT_PUBLISH:
		return client_on_publish(c, &pk->publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		return client_on_pub_ack(c, pk->type, &pk->ack);
	case MQTT_PUBREL:
		return client_send_ack(c, MQTT_PUBCOMP, pk->ack.packet_id);
	case MQTT_PINGRESP:
		if (c->pub && c->pub->ping_sent && !c->pub->prepared) {
			c->pub->prepared = true;
			c->pub->running = false;
			bench_thread_client_prepared(c->t);
		}
		return 0;
	case MQTT_DISCONNECT:
		return client_fail(c, "DISCONNECT from the broker, reason "
				      "0x%02x",
				   pk->disconnect.reason);
	default:
		return client_fail(c, "unexpected %s from the broker",
				   mqtt_type_name(pk->type));
	}
}

/* Decodes and handles one whole packet at p[0..n). 0 or < 0. */
static int client_packet(struct bench_client *c, const uint8_t *p, size_t n,
			 size_t *used)
{
	struct mqtt_packet pk;
	int rc = mqtt_decode(p, n, client_opts(c)->version, 0, &pk, used);
	if (rc == TERN_ENEEDMORE)
		return rc;
	if (rc < 0)
		return client_fail(c, "bad packet from the broker: %s",
				   tern_strerror(rc));
	return client_handle(c, &pk);
}

/*
 * Frames p[0..n): completes the packet carried over from the last read,
 * handles the whole packets that follow in place, and carries the tail.
 */
static int client_feed(struct bench_client *c, const uint8_t *p, size_t n)
{
	size_t used;
	int rc;

	while (c->carry.len) {
		uint8_t type, flags;
		uint32_t rem, hl;
		size_t want;
		rc = mqtt_decode_header(c->carry.p, c->carry.len, &type, &flags,
					&rem, &hl);
		if (rc == TERN_ENEEDMORE)
			want = c->carry.len + 1; /* header: byte by byte */
		else if (rc < 0)
			return client_fail(c, "bad packet from the broker: %s",
					   tern_strerror(rc));
		else
			want = (size_t)hl + rem;
		size_t take = want - c->carry.len;
		if (take > n)
			take = n;
		if (!take)
			return 0;
		if (buf_reserve(&c->carry, take) < 0)
			return client_fail(c, "out of memory");
		memcpy(c->carry.p + c->carry.len, p, take);
		c->carry.len += take;
		p += take;
		n -= take;
		if (rc == 0 && c->carry.len == want) {
			rc = client_packet(c, c->carry.p, c->carry.len, &used);
			if (rc < 0)
				return rc == TERN_ENEEDMORE
					       ? client_fail(c, "bad framing")
					       : rc;
			c->carry.len = 0;
		}
	}
	while (n) {
		rc = client_packet(c, p, n, &used);
		if (rc == TERN_ENEEDMORE) {
			if (buf_reserve(&c->carry, n) < 0)
				return client_fail(c, "out of memory");
			memcpy(c->carry.p, p, n);
			c->carry.len = n;
			return 0;
		}
		if (rc < 0)
			return rc;
		p += used;
		n -= used;
	}
	return 0;
}

static void client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bench_client *c = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)c->t->rbuf, BENCH_READ_BUF);
}

static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct bench_client *c = s->data;
	if (n == 0)
		return;
	if (n < 0) {
		if (c->state == BENCH_C_CLOSING)
			bench_client_close(c);
		else if (n == UV_EOF)
			client_fail(c, "connection closed by the broker");
		else
			client_fail(c, "read: %s", uv_strerror((int)n));
		return;
	}
	if (client_feed(c, (const uint8_t *)buf->base, (size_t)n) < 0)
		return;
	client_flush(c);
}

/* ------------------------------------------------------------ lifecycle */

static void client_shutdown(struct bench_client *c);

static void client_on_write(uv_write_t *req, int status)
{
	struct bench_client *c = req->handle->data;
	c->writing = false;
	c->wbuf.len = 0;
	if (status < 0) {
		if (status != UV_ECANCELED && c->handle_open)
			client_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (!c->handle_open)
		return;
	if (c->state == BENCH_C_CLOSING) {
		client_flush(c);
		if (!c->writing)
			client_shutdown(c);
		return;
	}
	if (c->pub)
		pub_pump(c);
	client_flush(c);
}

static void client_on_connect(uv_connect_t *req, int status)
{
	struct bench_client *c = req->handle->data;
	const struct bench_opts *o = client_opts(c);
	char id[64];

	if (status == UV_ECANCELED || !c->handle_open)
		return;
	if (status < 0) {
		client_fail(c, "connect to %s:%u: %s", o->host, o->port,
			    uv_strerror(status));
		bench_thread_connect_more(c->t);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&c->tcp, client_on_alloc,
			       client_on_read);
	if (rc < 0) {
		client_fail(c, "read: %s", uv_strerror(rc));
		return;
	}
	client_id(c, id, sizeof(id));
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNECT;
	pkt.connect.version = o->version;
	pkt.connect.clean_start = true;
	pkt.connect.keepalive = o->keepalive;
	pkt.connect.client_id.p = (const uint8_t *)id;
	pkt.connect.client_id.len = (uint32_t)strlen(id);
	if (o->version == MQTT_V5) {
		/* let the broker send as much as it wants to subscribers */
		pkt.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX);
		pkt.connect.props.receive_max = 65535;
	}
	c->state = BENCH_C_CONNACK;
	if (client_send(c, &pkt) < 0)
		return;
	client_flush(c);
}

int bench_client_connect(struct bench_client *c)
{
	struct bench_thread *t = c->t;
	int rc = uv_tcp_init(&t->loop, &c->tcp);
	if (rc < 0) {
		c->state = BENCH_C_CLOSED;
		bench_thread_fail(t, "socket: %s", uv_strerror(rc));
		return TERN_EIO;
	}
	c->tcp.data = c;
	c->handle_open = true;
	t->open++;
	c->connect_pending = true;
	t->connecting++;
	c->state = BENCH_C_CONNECTING;
	c->t_start = bench_now();
	uv_tcp_nodelay(&c->tcp, 1);
	rc = uv_tcp_connect(&c->creq, &c->tcp,
			    (const struct sockaddr *)&t->b->addr,
			    client_on_connect);
	if (rc < 0)
		return client_fail(c, "connect: %s", uv_strerror(rc));
	return 0;
}

static void client_on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	bench_client_close(req->handle->data);
}

static void client_shutdown(struct bench_client *c)
{
	if (c->shut || !c->handle_open)
		return;
	c->shut = true;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp,
			client_on_shutdown) < 0)
		bench_client_close(c);
}

void bench_client_finish(struct bench_client *c)
{
	struct bench_sub *s = c->sub;

	if (s && s->in_round) {
		/* a retained round the drain did not see to its end */
		c->t->c.round_lost += client_opts(c)->count - s->nseen;
		s->in_round = false;
	}
	switch (c->state) {
	case BENCH_C_IDLE:
		c->state = BENCH_C_CLOSED;
		return;
	case BENCH_C_CLOSING:
	case BENCH_C_CLOSED:
		return;
	case BENCH_C_CONNECTING:
		bench_client_close(c);
		return;
	default:
		break;
	}
	if (!c->handle_open)
		return;
	if (c->pub && client_retained(c) && c->state == BENCH_C_READY) {
		/* leave the broker as we found it */
		for (uint32_t n = 0; n < c->pub->seq; n++)
			if (pub_publish_retained(c, n, true) < 0)
				return;
	}
	if (client_send_simple(c, MQTT_DISCONNECT) < 0)
		return;
	c->state = BENCH_C_CLOSING;
	client_flush(c);
	if (!c->writing)
		client_shutdown(c);
}

void bench_client_tick(struct bench_client *c, uint64_t now)
{
	const struct bench_opts *o = client_opts(c);
	struct bench_sub *s = c->sub;

	if (c->state != BENCH_C_READY)
		return;
	if (s && s->in_round && now - s->last_rx > STALL_NS) {
		c->t->c.round_lost += o->count - s->nseen;
		round_end(c);
	}
	if (o->keepalive &&
	    uv_now(&c->t->loop) - c->t_last_tx >= o->keepalive * 1000u / 2)
		client_send_simple(c, MQTT_PINGREQ);
	client_flush(c);
}

/* ------------------------------------------------------------ setup */

/* The PUBLISH head of every message of a non-retained publisher. */
static int client_pub_template(struct bench_client *c)
{
	const struct bench_opts *o = client_opts(c);
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

int bench_client_init(struct bench_client *c, struct bench_thread *t,
		      uint32_t index)
{
	const struct bench_opts *o = &t->b->o;

	memset(c, 0, sizeof(*c));
	c->t = t;
	c->index = index;
	bench_scenario_plan(o, t->b->run_tag, index, &c->plan);
	if (c->plan.role == BENCH_ROLE_PUB) {
		struct bench_pub *p = calloc(1, sizeof(*p));
		if (!p)
			goto err;
		c->pub = p;
		p->id = c->plan.pub_id;
		p->inflight_max = o->inflight;
		uint32_t slots = o->inflight * 2 < 64 ? 64 : o->inflight * 2;
		p->id_slots = slots > 65535 ? 65535 : slots;
		p->next_id = 1;
		p->id_state = calloc(p->id_slots + 1, 1);
		p->padding = malloc(o->size - BENCH_PAYLOAD_MIN + 1);
		if (!p->id_state || !p->padding)
			goto err;
		memset(p->padding, 'x', o->size - BENCH_PAYLOAD_MIN + 1);
		if (o->scenario != BENCH_RETAINED &&
		    client_pub_template(c) < 0) {
			bench_client_free(c);
			return TERN_EINVAL;
		}
	} else if (c->plan.role == BENCH_ROLE_SUB) {
		struct bench_sub *s = calloc(1, sizeof(*s));
		if (!s)
			goto err;
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
			s->seen = calloc((o->count + 63) / 64,
					 sizeof(uint64_t));
			if (!s->seen)
				goto err;
		}
	}
	return 0;
err:
	bench_client_free(c);
	return TERN_ENOMEM;
}

void bench_client_free(struct bench_client *c)
{
	if (c->pub) {
		free(c->pub->id_state);
		free(c->pub->padding);
		free(c->pub);
		c->pub = NULL;
	}
	if (c->sub) {
		free(c->sub->track);
		free(c->sub->seen);
		free(c->sub);
		c->sub = NULL;
	}
	buf_free(&c->out);
	buf_free(&c->wbuf);
	buf_free(&c->carry);
}
