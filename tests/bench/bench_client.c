/*
 * bench_client.c - one MQTT client of tern-bench on its thread's loop.
 *
 * Input: the thread's shared read buffer -> client_feed (framing; a packet
 * split across reads is completed in the client's own `carry` buffer) ->
 * mqtt_decode -> client_handle. Output: packets are encoded into `out`;
 * bench_client_flush hands `out` to one uv_write at a time (swapping it with
 * `wbuf`), so everything produced while a write is in flight goes out in
 * the next one. uv_write tries the socket at once, and its callback comes
 * on the next loop iteration: an unlimited publisher refills `out` from
 * that callback, which paces it to what the socket (that is, the broker)
 * takes, one burst per iteration, with no busy polling.
 *
 * What a publisher or a subscriber does with its packets is in bench_pub.c
 * and bench_sub.c; this file owns the connection, the buffers and the
 * packets of the session itself (CONNECT, SUBSCRIBE, PING, DISCONNECT).
 *
 * Every function runs on the client's thread. A client that meets an error
 * reports it with bench_client_fail(), which stops the whole run and
 * closes the handle; callers stop touching the client when a function
 * returns < 0. Clients live in their thread's array until main frees it
 * after the join, so a failed client's memory stays valid meanwhile.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

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

int bench_client_fail(struct bench_client *c, const char *fmt, ...)
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

void bench_client_flush(struct bench_client *c)
{
	if (c->writing || !c->out.len || !c->handle_open)
		return;
	struct bench_buf tmp = c->wbuf;
	c->wbuf = c->out;
	c->out = tmp;
	c->out.len = 0;
	uv_buf_t ub = uv_buf_init((char *)c->wbuf.p, (unsigned)c->wbuf.len);
	int rc =
	    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1, client_on_write);
	if (rc < 0) {
		bench_client_fail(c, "write: %s", uv_strerror(rc));
		return;
	}
	c->writing = true;
	c->t_last_tx = uv_now(&c->t->loop);
}

int bench_client_reserve(struct bench_client *c, size_t n)
{
	if (buf_reserve(&c->out, n) < 0)
		return bench_client_fail(c, "out of memory");
	return 0;
}

int bench_client_send(struct bench_client *c, const struct mqtt_packet *pkt)
{
	uint8_t version = client_opts(c)->version;
	size_t n = mqtt_encode(pkt, version, NULL, 0);
	if (!n)
		return bench_client_fail(c, "cannot encode %s",
		                         mqtt_type_name(pkt->type));
	if (bench_client_reserve(c, n) < 0)
		return TERN_ENOMEM;
	mqtt_encode(pkt, version, c->out.p + c->out.len, n);
	c->out.len += n;
	return 0;
}

int bench_client_send_simple(struct bench_client *c, uint8_t type)
{
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	int rc = bench_client_send(c, &pkt);
	if (rc == 0 && type == MQTT_PINGREQ)
		c->pings_out++;
	return rc;
}

int bench_client_send_ack(struct bench_client *c, uint8_t type, uint16_t id)
{
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.ack.packet_id = id;
	return bench_client_send(c, &pkt);
}

static uint16_t client_next_pid(struct bench_client *c)
{
	c->next_pid = (uint16_t)(c->next_pid % 65535 + 1);
	return c->next_pid;
}

int bench_client_send_subscribe(struct bench_client *c, uint8_t type,
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
	return bench_client_send(c, &pkt);
}

/* ------------------------------------------------------------ input */

static int client_on_connack(struct bench_client *c,
                             const struct mqtt_connack *ack)
{
	const struct bench_opts *o = client_opts(c);
	struct bench_thread *t = c->t;

	if (c->state != BENCH_C_CONNACK)
		return bench_client_fail(c, "unexpected CONNACK");
	if (ack->reason)
		return bench_client_fail(c,
		                         "connection refused: CONNACK code "
		                         "0x%02x",
		                         ack->reason);
	bench_hist_add(&t->conn_hist, bench_now() - c->t_start);
	client_connect_done(c);
	if (o->version == MQTT_V5) {
		const struct mqtt_props *pr = &ack->props;
		if (c->pub &&
		    (pr->present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX)) &&
		    pr->receive_max < c->pub->inflight_max)
			c->pub->inflight_max = pr->receive_max;
		if (pr->present & MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE))
			c->keepalive = pr->server_keep_alive;
		if ((pr->present & MQTT_PROP_BIT(MQTT_PROP_MAX_QOS)) &&
		    pr->max_qos < o->qos)
			return bench_client_fail(
			    c, "the broker's Maximum QoS is %u", pr->max_qos);
	}
	if (c->sub && !client_retained(c)) {
		c->state = BENCH_C_SUBACK;
		if (bench_client_send_subscribe(c, MQTT_SUBSCRIBE,
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
		return bench_client_fail(c, "unexpected SUBACK");
	uint8_t r = sa->reasons[0];
	if (r >= 0x80)
		return bench_client_fail(
		    c, "subscription to %s refused: code 0x%02x", c->plan.topic,
		    r);
	if (r < client_opts(c)->qos && c->sub->granted == 0xff)
		c->t->c.qos_downgraded++;
	c->sub->granted = r;
	if (c->state == BENCH_C_SUBACK) {
		c->state = BENCH_C_READY;
		bench_thread_client_ready(c->t);
	}
	return 0;
}

static int client_handle(struct bench_client *c, const struct mqtt_packet *pk)
{
	if (c->state == BENCH_C_CLOSING)
		return 0; /* leaving: input no longer matters */
	if (c->state == BENCH_C_CONNACK && pk->type != MQTT_CONNACK)
		return bench_client_fail(c, "%s before CONNACK",
		                         mqtt_type_name(pk->type));
	switch (pk->type) {
	case MQTT_CONNACK:
		return client_on_connack(c, &pk->connack);
	case MQTT_SUBACK:
		return client_on_suback(c, &pk->suback);
	case MQTT_UNSUBACK:
		return bench_sub_on_unsuback(c, pk->suback.packet_id);
	case MQTT_PUBLISH:
		return bench_sub_on_publish(c, &pk->publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		return bench_pub_on_ack(c, pk->type, &pk->ack);
	case MQTT_PUBREL:
		return bench_client_send_ack(c, MQTT_PUBCOMP,
		                             pk->ack.packet_id);
	case MQTT_PINGRESP:
		if (c->pings_out)
			c->pings_out--;
		bench_pub_on_pingresp(c);
		return 0;
	case MQTT_DISCONNECT:
		return bench_client_fail(c,
		                         "DISCONNECT from the broker, reason "
		                         "0x%02x",
		                         pk->disconnect.reason);
	default:
		return bench_client_fail(c, "unexpected %s from the broker",
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
		return bench_client_fail(c, "bad packet from the broker: %s",
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
			return bench_client_fail(
			    c, "bad packet from the broker: %s",
			    tern_strerror(rc));
		else
			want = (size_t)hl + rem;
		size_t take = want - c->carry.len;
		if (take > n)
			take = n;
		if (!take)
			return 0;
		if (buf_reserve(&c->carry, take) < 0)
			return bench_client_fail(c, "out of memory");
		memcpy(c->carry.p + c->carry.len, p, take);
		c->carry.len += take;
		p += take;
		n -= take;
		if (rc == 0 && c->carry.len == want) {
			rc = client_packet(c, c->carry.p, c->carry.len, &used);
			if (rc < 0)
				return rc == TERN_ENEEDMORE
				           ? bench_client_fail(c, "bad framing")
				           : rc;
			c->carry.len = 0;
		}
	}
	while (n) {
		rc = client_packet(c, p, n, &used);
		if (rc == TERN_ENEEDMORE) {
			if (buf_reserve(&c->carry, n) < 0)
				return bench_client_fail(c, "out of memory");
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
			bench_client_fail(c, "connection closed by the broker");
		else
			bench_client_fail(c, "read: %s", uv_strerror((int)n));
		return;
	}
	if (client_feed(c, (const uint8_t *)buf->base, (size_t)n) < 0)
		return;
	bench_client_flush(c);
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
			bench_client_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (!c->handle_open)
		return;
	if (c->state == BENCH_C_CLOSING) {
		bench_client_flush(c);
		if (!c->writing)
			client_shutdown(c);
		return;
	}
	bench_pub_pump(c);
	bench_client_flush(c);
}

static void client_on_connect(uv_connect_t *req, int status)
{
	struct bench_client *c = req->handle->data;
	const struct bench_opts *o = client_opts(c);
	char id[64];

	if (status == UV_ECANCELED || !c->handle_open)
		return;
	if (status < 0) {
		bench_client_fail(c, "connect to %s:%u: %s", o->host, o->port,
		                  uv_strerror(status));
		bench_thread_connect_more(c->t);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&c->tcp, client_on_alloc,
	                       client_on_read);
	if (rc < 0) {
		bench_client_fail(c, "read: %s", uv_strerror(rc));
		return;
	}
	client_id(c, id, sizeof(id));
	struct mqtt_packet pkt;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNECT;
	pkt.connect.version = o->version;
	/* --persistent: subscribers keep their session (and have it stored
	 * by a durable broker); publishers stay clean */
	bool keep = o->persistent && c->sub;
	pkt.connect.clean_start = !keep;
	pkt.connect.keepalive = o->keepalive;
	pkt.connect.client_id.p = (const uint8_t *)id;
	pkt.connect.client_id.len = (uint32_t)strlen(id);
	if (o->version == MQTT_V5) {
		/* let the broker send as much as it wants to subscribers */
		pkt.connect.props.present =
		    MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX);
		pkt.connect.props.receive_max = 65535;
		if (keep) { /* the broker caps it (max_session_expiry) */
			pkt.connect.props.present |=
			    MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
			pkt.connect.props.session_expiry = UINT32_MAX;
		}
	}
	c->state = BENCH_C_CONNACK;
	if (bench_client_send(c, &pkt) < 0)
		return;
	bench_client_flush(c);
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
		return bench_client_fail(c, "connect: %s", uv_strerror(rc));
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
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, client_on_shutdown) <
	    0)
		bench_client_close(c);
}

void bench_client_finish(struct bench_client *c)
{
	bench_sub_finish(c);
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
	/* leave the broker as we found it */
	if (c->state == BENCH_C_READY && bench_pub_clear_retained(c) < 0)
		return;
	if (bench_client_send_simple(c, MQTT_DISCONNECT) < 0)
		return;
	c->state = BENCH_C_CLOSING;
	bench_client_flush(c);
	if (!c->writing)
		client_shutdown(c);
}

void bench_client_tick(struct bench_client *c, uint64_t now)
{
	if (c->state != BENCH_C_READY)
		return;
	bench_sub_tick(c, now);
	if (c->keepalive &&
	    uv_now(&c->t->loop) - c->t_last_tx >= c->keepalive * 1000u / 2)
		bench_client_send_simple(c, MQTT_PINGREQ);
	bench_client_flush(c);
}

/* ------------------------------------------------------------ setup */

int bench_client_init(struct bench_client *c, struct bench_thread *t,
                      uint32_t index)
{
	const struct bench_opts *o = &t->b->o;

	memset(c, 0, sizeof(*c));
	c->t = t;
	c->index = index;
	c->keepalive = o->keepalive;
	bench_scenario_plan(o, t->b->run_tag, index, &c->plan);
	if (c->plan.role == BENCH_ROLE_PUB)
		return bench_pub_init(c);
	if (c->plan.role == BENCH_ROLE_SUB)
		return bench_sub_init(c);
	return 0;
}

void bench_client_free(struct bench_client *c)
{
	bench_pub_free(c);
	bench_sub_free(c);
	buf_free(&c->out);
	buf_free(&c->wbuf);
	buf_free(&c->carry);
}
