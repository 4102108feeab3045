#include "conn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "auth.h"
#include "auth_jwt.h"
#include "handle.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "retain_stream.h"
#include "session.h"
#include "transport.h"
#include "worker.h"

#define CONN_READ_BUF (64 * 1024)
#define CONN_COPY_PAYLOAD_MAX 512      /* smaller payloads are copied */
/* bytes encoded or handed to libuv and not yet taken by the kernel, per
 * connection; past it deliveries wait in the session queue (bounded) */
#define CONN_WRITE_HIGH_WATER (1024 * 1024)

struct conn_wreq {
	uv_write_t req;
	struct outbuf *out;
	size_t bytes; /* counted in the worker's out_pending */
};

static void conn_on_close(uv_handle_t *h);
static void conn_on_read(uv_stream_t *stream, ssize_t nread,
			 const uv_buf_t *buf);

/* ---- output -------------------------------------------------------- */

/* Pooled buffers per worker, and the most memory one keeps there. */
#define CONN_OUT_POOL 256
#define CONN_OUT_KEEP (64u * 1024)

static struct outbuf *outbuf_get(struct worker *w)
{
	struct outbuf *o = w->out_free;

	if (!o)
		return calloc(1, sizeof(*o));
	w->out_free = o->next_free;
	w->n_out_free--;
	o->next_free = NULL;
	return o;
}

/* Gives o back to w's pool: messages unreferenced, large arrays freed. */
static void outbuf_put(struct worker *w, struct outbuf *o)
{
	if (!o)
		return;
	for (uint32_t i = 0; i < o->nsegs; i++)
		msg_unref(o->segs[i].m);
	o->len = o->nsegs = 0;
	o->bytes = 0;
	if (w->n_out_free >= CONN_OUT_POOL) {
		free(o->data);
		free(o->segs);
		free(o);
		return;
	}
	if (o->cap > CONN_OUT_KEEP) {
		free(o->data);
		o->data = NULL;
		o->cap = 0;
	}
	if (o->capsegs * sizeof(*o->segs) > CONN_OUT_KEEP) {
		free(o->segs);
		o->segs = NULL;
		o->capsegs = 0;
	}
	o->next_free = w->out_free;
	w->out_free = o;
	w->n_out_free++;
}

void conn_outbufs_free(struct worker *w)
{
	struct outbuf *o;

	while ((o = w->out_free)) {
		w->out_free = o->next_free;
		free(o->data);
		free(o->segs);
		free(o);
	}
	w->n_out_free = 0;
}

/* c's output buffer, taken from the pool on first use; NULL on ENOMEM. */
static struct outbuf *conn_outbuf(struct conn *c)
{
	if (!c->out)
		c->out = outbuf_get(c->w);
	return c->out;
}

/*
 * Output is counted in the worker's out_pending from the moment it is
 * encoded until the kernel took it: conn_writable bounds it per worker.
 */
static void conn_out_added(struct conn *c, size_t n)
{
	c->out->bytes += n;
	stat_add(&c->w->stats.out_pending, n);
}

/* c's queued output goes back to the pool (written or dropped). */
static void conn_out_drop(struct conn *c)
{
	if (!c->out)
		return;
	stat_sub(&c->w->stats.out_pending, c->out->bytes);
	outbuf_put(c->w, c->out);
	c->out = NULL;
}

static struct outseg *outbuf_seg(struct outbuf *o)
{
	if (o->nsegs == o->capsegs) {
		uint32_t cap = o->capsegs ? o->capsegs * 2 : 8;
		struct outseg *s = realloc(o->segs, cap * sizeof(*s));

		if (!s)
			return NULL;
		o->segs = s;
		o->capsegs = cap;
	}
	return &o->segs[o->nsegs++];
}

/* Reserves n arena bytes at the end of the buffer; NULL on ENOMEM. */
static uint8_t *outbuf_reserve(struct outbuf *o, uint32_t n)
{
	struct outseg *last;
	uint8_t *p;

	if (o->len + n > o->cap) {
		uint32_t cap = o->cap ? o->cap : 256;
		uint8_t *d;

		while (cap < o->len + n)
			cap *= 2;
		d = realloc(o->data, cap);
		if (!d)
			return NULL;
		o->data = d;
		o->cap = cap;
	}
	last = o->nsegs ? &o->segs[o->nsegs - 1] : NULL;
	if (last && !last->ext && last->off + last->len == o->len) {
		last->len += n;
	} else {
		last = outbuf_seg(o);
		if (!last)
			return NULL;
		*last = (struct outseg){.off = o->len, .len = n};
	}
	p = o->data + o->len;
	o->len += n;
	return p;
}

static void conn_dirty(struct conn *c)
{
	if (!c->dirty)
		worker_mark_dirty(c->w, c);
}

void conn_send(struct conn *c, const struct mqtt_packet *pkt)
{
	size_t n = mqtt_encode(pkt, c->version, NULL, 0);
	struct mqtt_packet small;
	uint8_t *p;

	if (c->state == CONN_CLOSING && pkt->type != MQTT_DISCONNECT)
		return;
	if (n > c->max_packet) {
		/* too big for the client: drop the reason string and user
		 * properties first [MQTT-3.2.2-19] [MQTT-3.4.2-2] ... */
		small = *pkt;
		struct mqtt_props *pr = pkt->type == MQTT_CONNACK
						? &small.connack.props
					: pkt->type == MQTT_DISCONNECT ||
							pkt->type == MQTT_AUTH
						? &small.disconnect.props
					: pkt->type == MQTT_SUBACK ||
							pkt->type == MQTT_UNSUBACK
						? &small.suback.props
						: &small.ack.props;
		pr->present &= ~MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		pr->user = NULL;
		pr->user_count = 0;
		pr->user_raw = NULL;
		pr->user_raw_len = 0;
		pkt = &small;
		n = mqtt_encode(pkt, c->version, NULL, 0);
		if (n > c->max_packet && pkt->type != MQTT_CONNACK) {
			/* (a CONNACK goes anyway: the capabilities in it are
			 * what the client must know) */
			log_debug("%s: %s larger than the client's maximum "
				  "packet size, not sent",
				  c->peer, mqtt_type_name(pkt->type));
			return;
		}
	}
	p = conn_outbuf(c) ? outbuf_reserve(c->out, (uint32_t)n) : NULL;
	if (!p) {
		log_error("out of memory queueing %s", mqtt_type_name(pkt->type));
		return;
	}
	mqtt_encode(pkt, c->version, p, n);
	conn_out_added(c, n);
	stat_add(&c->w->stats.bytes_out, n);
	conn_dirty(c);
}

/*
 * Topic alias policy (server to client): the first alias_max distinct
 * topics get aliases in order; later topics go out in full.
 */
struct conn_ext *conn_ext(struct conn *c)
{
	if (!c->x)
		c->x = calloc(1, sizeof(*c->x));
	return c->x;
}

void conn_ext_trim(struct conn *c)
{
	static const struct conn_ext empty;

	if (c->x && memcmp(c->x, &empty, sizeof(empty)) == 0) {
		free(c->x);
		c->x = NULL;
	}
}

struct conn_aliases *conn_aliases(struct conn *c)
{
	struct conn_ext *x = conn_ext(c);

	if (!x)
		return NULL;
	if (!x->aliases) {
		x->aliases = calloc(1, sizeof(*x->aliases));
		if (x->aliases)
			strmap_init(&x->aliases->out);
	}
	return x->aliases;
}

static uint16_t conn_alias_for(struct conn *c, const struct msg *m, bool *known)
{
	struct conn_aliases *a;
	void *v;

	*known = false;
	if (!c->alias_max || !(a = conn_aliases(c)))
		return 0;
	v = strmap_get(&a->out, m->topic, m->topic_len);
	if (v) {
		*known = true;
		return (uint16_t)(uintptr_t)v;
	}
	if (a->out_next >= c->alias_max)
		return 0;
	/* keys must outlive the map entry: store our own copy */
	char *key = malloc(m->topic_len + 1u);
	if (!key)
		return 0;
	memcpy(key, m->topic, m->topic_len + 1u);
	uint16_t alias = ++a->out_next;
	if (strmap_put(&a->out, key, m->topic_len,
		       (void *)(uintptr_t)alias)) {
		free(key);
		a->out_next--;
		return 0;
	}
	return alias;
}

int conn_send_publish(struct conn *c, struct msg *m, uint8_t qos, bool dup,
		      bool retain, uint16_t pid, const uint32_t *sub_ids,
		      uint8_t n_sub_ids)
{
	struct mqtt_packet pkt = {.type = MQTT_PUBLISH};
	struct mqtt_publish *p = &pkt.publish;
	uint64_t now = worker_now(c->w);
	bool known = false;
	uint16_t alias = 0;
	size_t total, head;
	uint8_t *dst;

	p->qos = qos;
	p->dup = dup;
	p->retain = retain;
	p->packet_id = pid;
	p->topic.p = (const uint8_t *)m->topic;
	p->topic.len = m->topic_len;
	p->payload.p = m->payload;
	p->payload.len = m->payload_len;
	if (c->version == MQTT_V5) {
		msg_props_get(m, &p->props);
		if (m->expiry_at) {
			p->props.present |=
				MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
			p->props.message_expiry = msg_expiry_left(m, now);
		}
		if (n_sub_ids) {
			p->props.present |=
				MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
			p->props.sub_ids = sub_ids;
			p->props.sub_id_count = n_sub_ids;
			p->props.sub_id = sub_ids[0];
		}
	}
	head = mqtt_encode_publish_head(&pkt, c->version, NULL, 0, &total);
	if (total > c->max_packet) {
		/* [MQTT-3.1.2-25]: never send it; it counts as delivered */
		stat_add(&c->w->stats.dropped_too_large, 1);
		return TERN_ETOOLARGE;
	}
	if (c->version == MQTT_V5 && dup == false) {
		alias = conn_alias_for(c, m, &known);
		if (alias) {
			p->props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
			p->props.topic_alias = alias;
			if (known)
				p->topic.len = 0;
			head = mqtt_encode_publish_head(&pkt, c->version, NULL,
							0, &total);
		}
	}
	if (m->payload_len <= CONN_COPY_PAYLOAD_MAX) {
		dst = conn_outbuf(c) ? outbuf_reserve(c->out, (uint32_t)total)
				     : NULL;
		if (!dst)
			return TERN_ENOMEM;
		mqtt_encode(&pkt, c->version, dst, total);
		conn_out_added(c, total);
	} else {
		struct outseg *s;

		dst = conn_outbuf(c) ? outbuf_reserve(c->out, (uint32_t)head)
				     : NULL;
		if (!dst)
			return TERN_ENOMEM;
		mqtt_encode_publish_head(&pkt, c->version, dst, head, &total);
		conn_out_added(c, head);
		s = outbuf_seg(c->out);
		if (!s)
			return TERN_ENOMEM; /* head without payload: stream
					     * is broken, close it */
		*s = (struct outseg){.ext = m->payload,
				     .len = m->payload_len,
				     .m = msg_ref(m)};
		conn_out_added(c, m->payload_len);
	}
	stat_add(&c->w->stats.msgs_out, 1);
	stat_add(&c->w->stats.msgs_out_qos[qos], 1);
	stat_add(&c->w->stats.bytes_out, total);
	conn_dirty(c);
	return 0;
}

bool conn_writable(const struct conn *c)
{
	/* what this iteration encoded counts too: a fan-out of one large
	 * inbox batch must not pile up in the output buffer */
	size_t pend = c->tcp.write_queue_size + (c->out ? c->out->bytes : 0);

	/* past the worker's budget only connections with nothing pending
	 * take more (each of them gets a write callback or a flush that
	 * drains it later: nothing waits forever) */
	return c->state == CONN_ACTIVE && pend < CONN_WRITE_HIGH_WATER &&
	       (pend == 0 || stat_get(&c->w->stats.out_pending) <
				     c->w->node->cfg.max_qos0_backlog);
}

static void conn_on_write(uv_write_t *req, int status)
{
	struct conn_wreq *wr = (struct conn_wreq *)req;
	struct conn *c = req->handle->data;

	struct worker *w = req->handle->loop->data;

	(void)status; /* a failed write shows up as a read error */
	stat_sub(&w->stats.out_pending, wr->bytes);
	outbuf_put(w, wr->out);
	free(wr);
	/* the socket caught up: send what waited for it */
	if (c && c->s && c->s->queue && conn_writable(c))
		session_drain(c->s);
	if (c && conn_retained(c))
		retain_stream_on_drained(c);
}

static void conn_flush(struct conn *c)
{
	struct outbuf *o = c->out;
	uv_buf_t stackbufs[64], *bufs = stackbufs;
	struct conn_wreq *wr;
	size_t skip;
	int n;

	if (!o || !o->nsegs)
		return;
	if (uv_is_closing((uv_handle_t *)&c->tcp)) {
		conn_out_drop(c);
		return;
	}
	if (o->nsegs > 64) {
		bufs = malloc(o->nsegs * sizeof(*bufs));
		if (!bufs) {
			conn_out_drop(c);
			return;
		}
	}
	for (uint32_t i = 0; i < o->nsegs; i++) {
		struct outseg *s = &o->segs[i];
		const uint8_t *base = s->ext ? s->ext : o->data + s->off;

		bufs[i] = uv_buf_init((char *)base, s->len);
	}
	if (c->xl) {
		unsigned top = c->xl->n - 1;

		if (c->xl->ops[top]->output(c, top, bufs, o->nsegs))
			conn_close(c, 0, true);
		conn_out_drop(c);
		goto out;
	}
	/* a retained stream goes on from the write callback: make sure
	 * there is one (uv_write still writes at once if it can) */
	n = conn_retained(c) ? UV_EAGAIN
			: uv_try_write((uv_stream_t *)&c->tcp, bufs, o->nsegs);
	skip = n > 0 ? (size_t)n : 0;
	uint32_t first = 0;
	while (first < o->nsegs && skip >= bufs[first].len)
		skip -= bufs[first++].len;
	if (first == o->nsegs) {
		conn_out_drop(c);
		goto out;
	}
	if (n < 0 && n != UV_EAGAIN) {
		conn_out_drop(c);
		goto out;
	}
	bufs[first].base += skip;
	bufs[first].len -= skip;
	wr = malloc(sizeof(*wr));
	if (!wr) {
		conn_out_drop(c);
		goto out;
	}
	wr->out = o;
	wr->bytes = 0;
	for (uint32_t i = first; i < o->nsegs; i++)
		wr->bytes += bufs[i].len;
	/* what the kernel took is no longer pending; the rest is, until
	 * the write callback */
	stat_sub(&c->w->stats.out_pending, o->bytes - wr->bytes);
	c->out = NULL;
	if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, bufs + first,
		     o->nsegs - first, conn_on_write)) {
		stat_sub(&c->w->stats.out_pending, wr->bytes);
		outbuf_put(c->w, o);
		free(wr);
	}
out:
	if (bufs != stackbufs)
		free(bufs);
	/* deliveries that waited for room (conn_writable counts encoded
	 * bytes too) go now if the socket took everything: no write
	 * callback would come to send them (conn_flush_all flushes c again) */
	if (c->s && c->s->queue && conn_writable(c))
		session_drain(c->s);
}

struct conn_rawreq {
	uv_write_t req;
	uv_buf_t buf;
	uint8_t data[];
};

static void conn_on_raw_write(uv_write_t *req, int status)
{
	struct conn_rawreq *wr = (struct conn_rawreq *)req;
	struct worker *w = req->handle->loop->data;
	struct conn *c = req->handle->data;

	(void)status;
	stat_sub(&w->stats.out_pending, wr->buf.len);
	free(wr);
	/* as conn_on_write: the socket caught up (TLS, WebSocket) */
	if (c && c->s && c->s->queue && conn_writable(c))
		session_drain(c->s);
	if (c && conn_retained(c))
		retain_stream_on_drained(c);
}

int conn_down(struct conn *c, unsigned layer, const uv_buf_t *bufs,
	      unsigned n)
{
	struct conn_rawreq *wr;
	size_t total = 0, off = 0, skip;
	int rc;

	if (layer > 0)
		return c->xl->ops[layer - 1]->output(c, layer - 1, bufs, n);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return 0;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (!total)
		return 0;
	/* as in conn_flush: a retained stream needs the write callback */
	rc = conn_retained(c) ? UV_EAGAIN
			 : uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
	if (rc < 0 && rc != UV_EAGAIN)
		return TERN_EIO;
	skip = rc > 0 ? (size_t)rc : 0;
	if (skip == total)
		return 0;
	wr = malloc(sizeof(*wr) + total - skip);
	if (!wr)
		return TERN_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		size_t len = bufs[i].len;
		const char *base = bufs[i].base;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(wr->data + off, base + skip, len - skip);
		off += len - skip;
		skip = 0;
	}
	wr->buf = uv_buf_init((char *)wr->data, (unsigned)off);
	if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &wr->buf, 1,
		     conn_on_raw_write)) {
		free(wr);
		return TERN_EIO;
	}
	stat_add(&c->w->stats.out_pending, wr->buf.len);
	return 0;
}

int conn_add_layer(struct conn *c, const struct transport_ops *ops,
		   void *state)
{
	if (!c->xl) {
		c->xl = calloc(1, sizeof(*c->xl));
		if (!c->xl)
			return TERN_ENOMEM;
	}
	if (c->xl->n == CONN_MAX_LAYERS)
		return TERN_ELIMIT;
	c->xl->ops[c->xl->n] = ops;
	c->xl->state[c->xl->n] = state;
	c->xl->n++;
	return 0;
}

void conn_layers_free(struct conn_layers *xl)
{
	if (!xl)
		return;
	for (unsigned i = 0; i < xl->n; i++)
		if (xl->ops[i]->free)
			xl->ops[i]->free(xl->state[i]);
	free(xl);
}

void conn_flush_now(struct conn *c)
{
	conn_flush(c);
}

void conn_flush_all(struct worker *w)
{
	/* flushing may mark connections dirty again (a drain): they are
	 * appended and flushed in this same pass */
	for (uint32_t i = 0; i < w->n_dirty; i++) {
		struct conn *c = w->dirty[i];

		if (!c)
			continue; /* closed meanwhile */
		c->dirty = false;
		conn_flush(c);
	}
	w->n_dirty = 0;
}

/* ---- lifecycle ----------------------------------------------------- */

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)c->w->rbuf, CONN_READ_BUF);
}

/* A partial packet kept between reads (its sizes live here, not in every
 * idle connection). */
struct conn_rbuf {
	uint32_t len, cap;
	uint8_t data[];
};

/* Makes room for cap bytes in c's kept buffer (contents kept). */
static int conn_rbuf_reserve(struct conn *c, size_t cap)
{
	struct conn_rbuf *b;

	if (c->rb && c->rb->cap >= cap)
		return 0;
	if (cap > UINT32_MAX - sizeof(*b))
		return TERN_ENOMEM;
	b = realloc(c->rb, sizeof(*b) + cap);
	if (!b)
		return TERN_ENOMEM;
	if (!c->rb)
		b->len = 0;
	b->cap = (uint32_t)cap;
	c->rb = b;
	return 0;
}

/* Keeps bytes [p, p+n) for the next read. */
static int conn_keep(struct conn *c, const uint8_t *p, size_t n)
{
	struct conn_rbuf *b = c->rb;

	if (n == 0) {
		free(b);
		c->rb = NULL;
		return 0;
	}
	if (b && p >= b->data && p < b->data + b->cap) {
		memmove(b->data, p, n);
		b->len = (uint32_t)n;
		return 0;
	}
	if (conn_rbuf_reserve(c, n))
		return TERN_ENOMEM;
	memcpy(c->rb->data, p, n);
	c->rb->len = (uint32_t)n;
	return 0;
}

static void conn_protocol_fail(struct conn *c, int err)
{
	uint8_t reason = mqtt_err_reason(err);

	stat_add(&c->w->stats.protocol_errors, 1);
	log_debug("%s: %s, closing", c->peer, tern_strerror(err));
	if (c->state == CONN_NEW && err == TERN_ETOOLARGE &&
	    c->version == 0) {
		conn_close(c, 0, true);
		return;
	}
	conn_close(c, reason, true);
}

/* Decodes and handles every whole packet in data[0..len). */
static void conn_process(struct conn *c, const uint8_t *data, size_t len)
{
	const struct tern_config *cfg = &c->w->node->cfg;
	size_t off = 0;

	while (off < len && c->state != CONN_CLOSING) {
		struct mqtt_packet pkt;
		size_t used = 0;
		int rc;

		rc = mqtt_decode(data + off, len - off, c->version,
				 cfg->max_packet_size, &pkt, &used);
		if (rc == TERN_ENEEDMORE)
			break;
		if (rc == TERN_EVERSION && pkt.type == MQTT_CONNECT &&
		    c->state == CONN_NEW) {
			handle_bad_version(c, pkt.connect.version);
			return;
		}
		if (rc) {
			conn_protocol_fail(c, rc);
			return;
		}
		c->w->cur = data + off;
		c->w->cur_avail = len - off;
		off += used;
		stat_add(&c->w->stats.bytes_in, used);
		if (c->keepalive)
			c->deadline = worker_now(c->w) +
				      (uint64_t)c->keepalive * 1500;
		handle_packet(c, &pkt);
		if (c->moved)
			return; /* handed to another worker */
		if (c->held) {
			/* handled again by conn_release */
			off -= used;
			stat_sub(&c->w->stats.bytes_in, used);
			break;
		}
	}
	if (c->state != CONN_CLOSING && conn_keep(c, data + off, len - off))
		conn_close(c, MQTT_RC_UNSPECIFIED, true);
	/* an acknowledgement may have made room for retained messages */
	if (conn_retained(c))
		retain_stream_on_drained(c);
}

/* MQTT bytes in: joins them to a kept partial packet and processes. */
static void conn_feed(struct conn *c, const uint8_t *data, size_t nread)
{
	if (c->state == CONN_CLOSING || c->moved || !nread)
		return;
	if (c->rb || c->held) {
		size_t have = c->rb ? c->rb->len : 0, need = have + nread;
		/* geometric growth: a large packet arrives in many reads */
		size_t cap = c->rb && (size_t)c->rb->cap * 2 > need
				     ? (size_t)c->rb->cap * 2
				     : need;

		if (need > (c->rb ? c->rb->cap : 0) &&
		    conn_rbuf_reserve(c, cap)) {
			conn_close(c, MQTT_RC_UNSPECIFIED, true);
			return;
		}
		memcpy(c->rb->data + have, data, nread);
		c->rb->len = (uint32_t)need;
		if (!c->held)
			conn_process(c, c->rb->data, need);
	} else {
		conn_process(c, data, nread);
	}
}

int conn_up(struct conn *c, unsigned layer, const uint8_t *data, size_t len)
{
	if (c->state == CONN_CLOSING || c->moved)
		return 0;
	if (c->xl && layer + 1 < c->xl->n)
		return c->xl->ops[layer + 1]->input(c, layer + 1, data, len);
	conn_feed(c, data, len);
	return 0;
}

/*
 * Backpressure: a client that published while another worker's inbox is
 * over its high mark stops being read until the inboxes drain (resumed from
 * the prepare hook), so a fast publisher cannot outrun delivery and grow
 * memory without bound.
 */
static void conn_maybe_pause(struct conn *c)
{
	struct worker *w = c->w;

	if (!c->published || c->state != CONN_ACTIVE || c->moved)
		return;
	c->published = false;
	if (c->paused || !worker_congested(w->node, false))
		return;
	if (w->n_paused == w->cap_paused) {
		uint32_t cap = w->cap_paused ? w->cap_paused * 2 : 16;
		struct conn **a = realloc(w->paused, cap * sizeof(*a));

		if (!a)
			return; /* not paused: the inbox bound still holds */
		w->paused = a;
		w->cap_paused = cap;
	}
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->paused = true;
	w->paused[w->n_paused++] = c;
}

void conn_settle_acks(struct conn *c)
{
	if (c->x && c->x->acks && c->state == CONN_ACTIVE)
		persist_commit(c->w);
}

void conn_resume_all(struct worker *w)
{
	while (w->n_paused) {
		struct conn *c = w->paused[--w->n_paused];

		c->paused = false;
		if (c->state == CONN_ACTIVE &&
		    uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc,
				  conn_on_read))
			conn_close(c, 0, true);
	}
}

void conn_hold(struct conn *c)
{
	c->held = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
}

void conn_release(struct conn *c)
{
	c->held = false;
	if (c->state == CONN_CLOSING)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc,
			  conn_on_read)) {
		conn_close(c, 0, true);
		return;
	}
	if (c->rb)
		conn_process(c, c->rb->data, c->rb->len);
}

static void conn_unpause(struct conn *c)
{
	struct worker *w = c->w;

	if (!c->paused)
		return;
	for (uint32_t i = 0; i < w->n_paused; i++)
		if (w->paused[i] == c) {
			w->paused[i] = w->paused[--w->n_paused];
			break;
		}
	c->paused = false;
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread,
			 const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	int rc;

	if (nread < 0) {
		conn_close(c, 0, true);
		return;
	}
	if (nread == 0 || c->state == CONN_CLOSING)
		return;
	if (!c->xl) {
		conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
		conn_maybe_pause(c);
		return;
	}
	rc = c->xl->ops[0]->input(c, 0, (const uint8_t *)buf->base,
				  (size_t)nread);
	if (rc && c->state != CONN_CLOSING && !c->moved) {
		log_info("%s: %s: %s, closing", c->peer, c->xl->ops[0]->name,
			 tern_strerror(rc));
		conn_close(c, 0, true);
		return;
	}
	conn_maybe_pause(c);
}

static struct conn *conn_new(struct worker *w, unsigned listener)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (uv_tcp_init(&w->loop, &c->tcp)) {
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	c->w = w;
	c->listener = listener;
	c->max_packet = w->node->cfg.max_packet_size;
	c->receive_max = 65535;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	c->deadline = worker_now(w) + w->node->cfg.connect_timeout_ms;
	atomic_fetch_add(&w->node->n_conns, 1);
	stat_add(&w->stats.conns_by_listener[listener], 1);
	return c;
}

/* "ip:port" into c->peer, cut if it does not fit (inet_ntop's forms of
 * real addresses all do). */
static void conn_set_peer(struct conn *c, const char *ip, int port)
{
	char buf[80];
	size_t n;

	snprintf(buf, sizeof(buf), "%s:%d", ip, port);
	n = strlen(buf);
	if (n >= sizeof(c->peer))
		n = sizeof(c->peer) - 1;
	memcpy(c->peer, buf, n);
	c->peer[n] = 0;
}

static void conn_start(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	uv_tcp_nodelay(&c->tcp, 1);
	if (!c->peer[0] &&
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char ip[48] = "?";
		int port = 0;

		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else {
			snprintf(ip, sizeof(ip), "local");
		}
		conn_set_peer(c, ip, port);
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc,
			  conn_on_read))
		conn_close(c, 0, true);
}

void conn_accept(struct worker *w, uv_stream_t *server, unsigned idx)
{
	struct conn *c = conn_new(w, idx);

	if (!c) {
		log_error("out of memory accepting a connection");
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		conn_close(c, 0, true);
		return;
	}
	if (transport_attach(c)) {
		conn_close(c, 0, true);
		return;
	}
	if (atomic_load(&w->node->n_conns) > w->node->cfg.max_connections) {
		log_warn("max_connections (%u) reached: refusing a connection",
			 w->node->cfg.max_connections);
		conn_close(c, 0, true);
		return;
	}
	conn_start(c);
}

void conn_adopt(struct worker *w, int fd, uint8_t *bytes, size_t len,
		unsigned listener, const char *peer, struct conn_layers *xl)
{
	struct conn *c = conn_new(w, listener);

	if (!c) {
		close(fd);
		free(bytes);
		conn_layers_free(xl);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->xl = xl;
	for (unsigned i = 0; xl && i < xl->n; i++)
		if (xl->ops[i]->rebind)
			xl->ops[i]->rebind(c, i);
	if (uv_tcp_open(&c->tcp, fd)) {
		close(fd);
		free(bytes);
		conn_close(c, 0, true);
		return;
	}
	conn_start(c);
	if (c->state != CONN_CLOSING)
		conn_feed(c, bytes, len);
	free(bytes);
}

int conn_handoff(struct conn *c, uint32_t to)
{
	struct worker *w = c->w;
	struct wmsg *wm = worker_msg_new(WMSG_HANDOFF, w->cur_avail);
	uv_os_fd_t fd;
	int nfd;

	if (!wm)
		return TERN_ENOMEM;
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) || (nfd = dup(fd)) < 0) {
		free(wm);
		return TERN_EIO;
	}
	wm->fd = nfd;
	wm->xl = c->xl; /* the layers' state moves with the socket */
	c->xl = NULL;
	wm->listener = c->listener;
	wm->len1 = w->cur_avail;
	memcpy(wm->data, w->cur, w->cur_avail);
	snprintf(wm->peer, sizeof(wm->peer), "%s", c->peer);
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->moved = true; /* tells conn_process to stop */
	atomic_fetch_sub(&w->node->n_conns, 1);
	conn_close(c, 0, false);
	worker_post(w->node, to, wm);
	return 0;
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->handle->data;

	(void)status;
	free(req);
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

void conn_force_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

void conn_close(struct conn *c, uint8_t reason, bool abnormal)
{
	struct worker *w = c->w;

	if (c->state == CONN_CLOSING || c->in_close)
		return;
	c->in_close = true;
	conn_settle_acks(c);
	if (c->state == CONN_CLOSING)
		return; /* settling closed it (a refused 3.1.1 ack) */
	if (c->state == CONN_ACTIVE)
		stat_add(&w->stats.disconnects, 1);
	if (reason >= 0x80 && c->version == MQTT_V5 && !c->disconnect_sent &&
	    c->state == CONN_ACTIVE) {
		struct mqtt_packet d = {.type = MQTT_DISCONNECT};

		d.disconnect.reason = reason;
		c->disconnect_sent = true;
		conn_send(c, &d);
	}
	c->state = CONN_CLOSING;
	retain_stream_free(c);
	conn_unpause(c);
	ack_tokens_drop(c); /* unsent acks: the client resends */
	if (c->s) {
		struct session *s = c->s;

		c->s = NULL;
		s->conn = NULL;
		session_detach(s, abnormal);
	}
	uv_read_stop((uv_stream_t *)&c->tcp);
	/* unlink now so sweeps and shutdown skip it */
	if (c->prev)
		c->prev->next = c->next;
	else if (w->conns == c)
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	conn_flush(c);
	for (unsigned i = c->xl ? c->xl->n : 0; i-- > 0;)
		if (c->xl->ops[i]->close)
			c->xl->ops[i]->close(c, i);
	if (c->tcp.write_queue_size) {
		/* let the last bytes (DISCONNECT, close frames) go out */
		uv_shutdown_t *req = malloc(sizeof(*req));

		if (req && uv_shutdown(req, (uv_stream_t *)&c->tcp,
				       conn_on_shutdown) == 0)
			return;
		free(req);
	}
	uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void conn_on_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	const char *key;
	size_t klen;
	void *val;

	if (c->dirty) {
		/* still on the dirty list: let the flusher skip it */
		struct worker *w = c->w;

		for (uint32_t i = 0; i < w->n_dirty; i++)
			if (w->dirty[i] == c)
				w->dirty[i] = NULL;
	}
	conn_out_drop(c);
	if (c->x && c->x->aliases) {
		struct conn_aliases *a = c->x->aliases;

		for (size_t i = 0; strmap_next(&a->out, &i, &key, &klen, &val);)
			free((char *)key);
		strmap_free(&a->out);
		for (uint16_t i = 0; i < a->in_n; i++)
			free(a->in[i]);
		free(a->in);
		free(a);
	}
	free(c->rb);
	free(c->auth_name);
	retain_stream_free(c); /* closed without conn_close (shutdown) */
	ack_tokens_drop(c);    /* likewise */
	acl_subject_free(c->acl);
	auth_conn_gone(c);
	free(c->x); /* after everything that looks into it */
	conn_layers_free(c->xl);
	stat_sub(&c->w->stats.conns_by_listener[c->listener], 1);
	if (!c->moved)
		atomic_fetch_sub(&c->w->node->n_conns, 1);
	free(c);
}

void conn_sweep(struct worker *w, uint64_t now)
{
	struct conn *c = w->conns, *next;
	uint64_t wall = (uint64_t)time(NULL);

	for (; c; c = next) {
		next = c->next;
		if (c->token_exp) {
			auth_jwt_check_expiry(c, wall);
			if (c->state == CONN_CLOSING)
				continue;
		}
		if (c->deadline && now > c->deadline) {
			if (c->auth_verdict == AUTH_THROTTLED) {
				/* refused by the failure limiter, left
				 * unread for auth_fail_delay_ms
				 * (handle_connect.c): time is up */
				conn_close(c, 0, false);
			} else if (c->state == CONN_NEW) {
				log_info("%s: no CONNECT within %u ms, closing",
					 c->peer,
					 w->node->cfg.connect_timeout_ms);
				conn_close(c, 0, true);
			} else {
				log_info("%s: keepalive timeout, closing",
					 c->peer);
				conn_close(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, true);
			}
		}
	}
}
