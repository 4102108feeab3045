/*
 * retain_stream.c - the retained messages of new subscriptions, sent a
 * chunk at a time as the connection drains (see retain_stream.h).
 */
#include "retain_stream.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "retain.h"
#include "session.h"
#include "store.h"
#include "tern_err.h"

/* One subscription's retained messages still to send. */
struct retain_scan {
	struct retain_scan *next;
	struct store_retained_pos pos; /* after the last topic read */
	uint32_t sub_id;
	uint8_t granted;
	bool started; /* a chunk was read */
	bool last;    /* the chunk read was the scan's last */
	uint16_t flen;
	char filter[];
};

struct retain_stream {
	struct retain_scan *head, *tail; /* head: the one being sent */
	struct msg **buf;                /* head's chunk: [next, n) left */
	size_t n, next;
};

/* Would session_deliver send a message at qos now, rather than queue it? */
static bool stream_can_send(const struct conn *c, uint8_t qos)
{
	const struct session *s = c->s;

	return c->state == CONN_ACTIVE && s && !s->queue && conn_writable(c) &&
	       (qos == 0 || s->n_inflight < c->receive_max);
}

/* Bytes encoded for c and not yet handed to libuv. */
static size_t stream_out_bytes(const struct conn *c)
{
	size_t n = 0;

	for (uint32_t i = 0; i < conn_out_segs(c); i++)
		n += c->out->segs[i].len;
	return n;
}

/*
 * May the next chunk be read? Once everything written before it has
 * reached the kernel; a new stream's first chunk at once unless the output
 * already holds a chunk's worth.
 */
static bool stream_may_read(const struct conn *c, bool fresh)
{
	if (conn_out_segs(c) == 0 && c->tcp.write_queue_size == 0)
		return true;
	return fresh && conn_writable(c) &&
	       stream_out_bytes(c) < RETAIN_CHUNK_BYTES;
}

static void stream_drop_chunk(struct retain_stream *st)
{
	for (size_t i = st->next; i < st->n; i++)
		msg_unref(st->buf[i]);
	free(st->buf);
	st->buf = NULL;
	st->n = st->next = 0;
}

static void stream_pop(struct retain_stream *st)
{
	struct retain_scan *sc = st->head;

	st->head = sc->next;
	if (!st->head)
		st->tail = NULL;
	free(sc);
}

static void stream_pump(struct conn *c, bool fresh)
{
	struct retain_stream *st = c->x->retained;
	uint64_t now = worker_now(c->w);
	size_t got;
	int rc;

	while (st->head) {
		struct retain_scan *sc = st->head;

		while (st->next < st->n) {
			struct msg *m = st->buf[st->next];
			uint8_t qos = m->qos < sc->granted ? m->qos
							   : sc->granted;
			int max = c->acl ? acl_check_receive(c->acl, m->topic,
							     m->topic_len)
					 : 2;

			if (max >= 0 && qos > max)
				qos = (uint8_t)max;
			if (!stream_can_send(c, qos))
				return; /* a drain or an ack calls again */
			st->buf[st->next++] = NULL;
			/* retained messages go out with retain set
			 * [MQTT-3.3.1-8]; each one the ACL lets this client
			 * read */
			if (max >= 0 && !msg_expired(m, now))
				session_deliver(c->s, m, qos, true, &sc->sub_id,
						sc->sub_id ? 1 : 0);
			msg_unref(m);
		}
		stream_drop_chunk(st);
		if (sc->last) {
			stream_pop(st);
			continue;
		}
		if (!stream_may_read(c, fresh))
			return; /* the write callback calls again */
		fresh = false;
		rc = retain_chunk(c->w->node->retain, sc->filter, sc->flen, now,
				  &sc->pos, &st->buf, &got);
		sc->started = true;
		if (rc < 0) {
			log_error("%s: cannot read the retained messages of "
				  "%.*s: %s",
				  c->peer, (int)sc->flen, sc->filter,
				  tern_strerror(rc));
			sc->last = true;
			continue;
		}
		st->n = got;
		sc->last = rc == 0;
	}
	free(st);
	c->x->retained = NULL;
}

int retain_stream_add(struct conn *c, const char *filter, size_t len,
		      uint8_t granted, uint32_t sub_id)
{
	struct conn_ext *x = conn_ext(c);
	struct retain_stream *st = x ? x->retained : NULL;
	bool fresh = st == NULL;
	struct retain_scan *sc;

	if (!x)
		return TERN_ENOMEM;
	if (len > UINT16_MAX)
		return TERN_EINVAL;
	for (sc = st ? st->head : NULL; sc; sc = sc->next)
		if (!sc->started && sc->flen == len &&
		    sc->granted == granted && sc->sub_id == sub_id &&
		    memcmp(sc->filter, filter, len) == 0)
			return 0; /* it will read the same, later */
	sc = calloc(1, sizeof(*sc) + len);
	if (!sc)
		return TERN_ENOMEM;
	memcpy(sc->filter, filter, len);
	sc->flen = (uint16_t)len;
	sc->granted = granted;
	sc->sub_id = sub_id;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st) {
			free(sc);
			return TERN_ENOMEM;
		}
		x->retained = st;
	}
	if (st->tail)
		st->tail->next = sc;
	else
		st->head = sc;
	st->tail = sc;
	stream_pump(c, fresh);
	return 0;
}

void retain_stream_cancel(struct conn *c, const char *filter, size_t len)
{
	struct retain_stream *st = conn_retained(c);
	struct retain_scan *sc, *prev, *next;

	if (!st)
		return;
	prev = st->head;
	for (sc = prev->next; sc; sc = next) {
		next = sc->next;
		if (sc->flen != len || memcmp(sc->filter, filter, len)) {
			prev = sc;
			continue;
		}
		prev->next = next;
		if (st->tail == sc)
			st->tail = prev;
		free(sc);
	}
	sc = st->head;
	if (sc->flen == len && memcmp(sc->filter, filter, len) == 0) {
		stream_drop_chunk(st);
		sc->last = true;
	}
	retain_stream_on_drained(c);
}

void retain_stream_on_drained(struct conn *c)
{
	if (conn_retained(c) && c->state == CONN_ACTIVE)
		stream_pump(c, false);
}

void retain_stream_free(struct conn *c)
{
	struct retain_stream *st = conn_retained(c);

	if (!st)
		return;
	stream_drop_chunk(st);
	while (st->head)
		stream_pop(st);
	free(st);
	c->x->retained = NULL;
}
