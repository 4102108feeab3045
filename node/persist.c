/*
 * persist.c - per-worker write batches, their commit, and ack tokens.
 * Serialization lives in persist_codec.c, recovery in persist_recover.c.
 */
#include "persist.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "msg.h"
#include "persist_int.h"
#include "session.h"
#include "store.h"
#include "worker.h"

/* ---- ack tokens ---------------------------------------------------- */

struct ack_token {
	atomic_uint refs;
	atomic_uint pending;  /* holders that have not committed yet */
	atomic_bool failed;   /* a holder's commit failed */
	uint32_t worker;      /* the publisher's worker */
	struct conn *c;       /* publisher's connection; NULL once closed */
	struct ack_token *next;
	uint16_t pid;
	uint8_t type;
	bool done;
	bool routed;          /* its message was routed (not a resend's ack) */
};

struct ack_token *ack_token_new(struct conn *c, uint8_t type, uint16_t pid)
{
	struct ack_token *t;
	struct conn_ext *x;

	if (!persist_on(c->w->node) || !(x = conn_ext(c)))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	atomic_init(&t->refs, 2); /* the connection's queue + the caller */
	atomic_init(&t->pending, 0);
	atomic_init(&t->failed, false);
	t->worker = c->w->id;
	t->c = c;
	t->pid = pid;
	t->type = type;
	if (x->acks_tail)
		x->acks_tail->next = t;
	else
		x->acks = t;
	x->acks_tail = t;
	return t;
}

void ack_token_put(struct ack_token *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

struct ack_token *ack_token_share(struct ack_token *t)
{
	atomic_fetch_add(&t->refs, 1);
	atomic_fetch_add(&t->pending, 1);
	return t;
}

/* Sends the acks at the head of c's queue that are complete. */
static void ack_flush(struct conn *c)
{
	struct conn_ext *x = c->x;
	struct ack_token *t;

	while (x && (t = x->acks) && t->done) {
		struct mqtt_packet a = {.type = t->type};
		bool failed = atomic_load(&t->failed);

		x->acks = t->next;
		if (!x->acks)
			x->acks_tail = NULL;
		t->c = NULL;
		if (failed && t->routed && t->type == MQTT_PUBREC && c->s) {
			/* refused: nobody got the message, so the packet id
			 * is free again; a resend is routed anew */
			session_qos2_del(c->s, t->pid);
			persist_qos2(c->s, t->pid, false);
		}
		if (failed && c->version != MQTT_V5) {
			/* no way to say "not stored" in 3.1.1: the client
			 * resends after reconnecting */
			ack_token_put(t);
			c->in_close = false; /* settling inside conn_close */
			conn_close(c, 0, true);
			return;
		}
		a.ack.packet_id = t->pid;
		a.ack.reason = failed ? MQTT_RC_QUOTA_EXCEEDED : 0;
		conn_send(c, &a);
		ack_token_put(t);
	}
}

void ack_token_done(struct worker *w, struct ack_token *t)
{
	(void)w;
	t->done = true;
	if (t->c)
		ack_flush(t->c);
	ack_token_put(t);
}

void ack_tokens_drop(struct conn *c)
{
	struct ack_token *t, *next;

	if (!c->x)
		return;
	for (t = c->x->acks; t; t = next) {
		next = t->next;
		t->c = NULL;
		ack_token_put(t);
	}
	c->x->acks = c->x->acks_tail = NULL;
}

/* One holder (worker w) committed: maybe the token is complete. */
static void ack_token_release(struct worker *w, struct ack_token *t,
			      bool failed)
{
	if (failed)
		atomic_store(&t->failed, true);
	if (atomic_fetch_sub(&t->pending, 1) != 1) {
		ack_token_put(t);
		return;
	}
	if (t->worker == w->id) {
		ack_token_done(w, t);
		return;
	}
	struct wmsg *wm = worker_msg_new(WMSG_ACKDONE, 0);
	if (!wm) {
		log_error("out of memory releasing an acknowledgement");
		ack_token_put(t);
		return;
	}
	wm->tok = t; /* our reference travels */
	worker_post(w->node, t->worker, wm);
}

/* ---- batches ------------------------------------------------------- */

enum pop_type {
	POP_SESSION_PUT = 1,
	POP_SESSION_DEL,
	POP_ENTRY_PUT,
	POP_ENTRY_UPDATE,
	POP_ENTRY_DEL,
	POP_QOS2_PUT,
	POP_QOS2_DEL,
	POP_RETAINED_PUT,
	POP_RETAINED_DEL,
};

struct pop {
	uint8_t type;
	uint16_t pid;
	uint32_t key_off, key_len;
	uint32_t val_off, val_len;
	uint64_t seq;
	struct msg *m; /* POP_ENTRY_PUT, POP_RETAINED_PUT: reference */
};

/* A delivery held until the commit, with its session. */
struct held {
	struct session *s; /* NULL: ended meanwhile (d dropped) */
	struct delivery *d;
};

struct persist_batch {
	struct pop *ops;
	size_t n, cap;
	struct pbuf bytes; /* keys and values of the ops */
	struct ack_token **toks;
	size_t ntoks, captoks;
	struct held *held;
	size_t nheld, capheld;
	struct pbuf scratch;
	bool holding; /* between persist_hold_begin and _end */
};

static struct persist_batch *batch_of(struct worker *w)
{
	if (!w->pb)
		w->pb = calloc(1, sizeof(*w->pb));
	return w->pb;
}

void ack_token_wait(struct worker *w, struct ack_token *t)
{
	struct persist_batch *b = batch_of(w);

	if (b && b->ntoks == b->captoks) {
		size_t cap = b->captoks ? b->captoks * 2 : 16;
		struct ack_token **a = realloc(b->toks, cap * sizeof(*a));

		if (a) {
			b->toks = a;
			b->captoks = cap;
		}
	}
	if (!b || b->ntoks == b->captoks) {
		/* cannot wait for the commit: release now, report failure */
		log_error("out of memory queueing an acknowledgement");
		ack_token_release(w, t, true);
		return;
	}
	b->toks[b->ntoks++] = t;
}

void ack_token_hold(struct worker *w, struct ack_token *t)
{
	ack_token_wait(w, ack_token_share(t));
}

static struct pop *batch_op(struct worker *w, uint8_t type, const char *key,
			    size_t klen)
{
	struct persist_batch *b = batch_of(w);
	struct pop *op;

	if (!b)
		return NULL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct pop *a = realloc(b->ops, cap * sizeof(*a));

		if (!a)
			return NULL;
		b->ops = a;
		b->cap = cap;
	}
	op = &b->ops[b->n];
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->key_off = (uint32_t)b->bytes.len;
	op->key_len = (uint32_t)klen;
	if (pbuf_put(&b->bytes, key, klen))
		return NULL;
	op->val_off = (uint32_t)b->bytes.len;
	b->n++;
	return op;
}

static void batch_fail(struct worker *w, const char *what)
{
	stat_add(&w->stats.store_failures, 1);
	log_error("store: out of memory recording %s", what);
}

void persist_session(struct session *s)
{
	struct pop *op;
	size_t start;

	if (!s->persist)
		return;
	op = batch_op(s->w, POP_SESSION_PUT, s->id, s->id_len);
	if (!op)
		return batch_fail(s->w, "a session");
	start = s->w->pb->bytes.len;
	if (persist_encode_session(&s->w->pb->bytes, s, worker_now(s->w))) {
		s->w->pb->n--;
		return batch_fail(s->w, "a session");
	}
	op->val_len = (uint32_t)(s->w->pb->bytes.len - start);
}

void persist_session_del(struct session *s)
{
	if (persist_on(s->w->node) &&
	    !batch_op(s->w, POP_SESSION_DEL, s->id, s->id_len))
		batch_fail(s->w, "a session end");
}

static uint64_t persist_msg_id(struct tern_node *n, struct msg *m)
{
	uint64_t id = atomic_load(&m->store_id), fresh;

	if (id)
		return id;
	fresh = atomic_fetch_add(&n->next_msg_id, 1);
	if (atomic_compare_exchange_strong(&m->store_id, &id, fresh))
		return fresh;
	return id; /* another worker won the race */
}

static void persist_entry_op(struct session *s, struct delivery *d,
			     uint8_t type)
{
	struct worker *w = s->w;
	struct pop *op;
	size_t start;

	if (!s->persist || (type != POP_ENTRY_PUT && !d->seq))
		return;
	if (type == POP_ENTRY_PUT && !d->seq)
		d->seq = atomic_fetch_add(&w->node->next_seq, 1);
	op = batch_op(w, type, s->id, s->id_len);
	if (!op)
		return batch_fail(w, "a message entry");
	op->seq = d->seq;
	if (type == POP_ENTRY_DEL)
		return;
	start = w->pb->bytes.len;
	if (persist_encode_entry(&w->pb->bytes, d)) {
		w->pb->n--;
		return batch_fail(w, "a message entry");
	}
	op->val_len = (uint32_t)(w->pb->bytes.len - start);
	if (type == POP_ENTRY_PUT) {
		persist_msg_id(w->node, d->m);
		op->m = msg_ref(d->m);
	}
}

void persist_entry_put(struct session *s, struct delivery *d)
{
	persist_entry_op(s, d, POP_ENTRY_PUT);
}

void persist_entry_update(struct session *s, struct delivery *d)
{
	persist_entry_op(s, d, POP_ENTRY_UPDATE);
}

void persist_entry_del(struct session *s, struct delivery *d)
{
	persist_entry_op(s, d, POP_ENTRY_DEL);
	d->seq = 0;
}

void persist_qos2(struct session *s, uint16_t pid, bool add)
{
	struct pop *op;

	if (!s->persist)
		return;
	op = batch_op(s->w, add ? POP_QOS2_PUT : POP_QOS2_DEL, s->id,
		      s->id_len);
	if (!op)
		return batch_fail(s->w, "a QoS 2 packet id");
	op->pid = pid;
}

void persist_retained(struct worker *w, struct msg *m)
{
	uint8_t type = m->payload_len ? POP_RETAINED_PUT : POP_RETAINED_DEL;
	struct pop *op = batch_op(w, type, m->topic, m->topic_len);

	if (!op)
		return batch_fail(w, "a retained message");
	if (type == POP_RETAINED_PUT)
		op->m = msg_ref(m);
}

/* ---- deliveries held until the commit ------------------------------ */

void persist_hold_begin(struct worker *w, struct ack_token *tok)
{
	struct persist_batch *b = batch_of(w);

	if (tok)
		tok->routed = true;
	if (b) /* else (out of memory) deliveries go at once */
		b->holding = true;
}

void persist_hold_end(struct worker *w)
{
	if (w->pb)
		w->pb->holding = false;
}

bool persist_holding(const struct worker *w)
{
	return w->pb && w->pb->holding;
}

void persist_hold(struct session *s, struct delivery *d)
{
	struct persist_batch *b = s->w->pb;

	if (b->nheld == b->capheld) {
		size_t cap = b->capheld ? b->capheld * 2 : 64;
		struct held *a = realloc(b->held, cap * sizeof(*a));

		if (!a) {
			log_error("out of memory holding a delivery until "
				  "the commit");
			if (session_place_held(s, d))
				session_settle_held(s, d, true);
			return;
		}
		b->held = a;
		b->capheld = cap;
	}
	b->held[b->nheld++] = (struct held){.s = s, .d = d};
}

void persist_hold_forget(struct session *s)
{
	struct persist_batch *b = s->w->pb;

	for (size_t i = 0; b && i < b->nheld; i++) {
		if (b->held[i].s != s)
			continue;
		session_held_drop(b->held[i].d);
		b->held[i] = (struct held){0};
	}
}

/* Applies one op inside the transaction. */
static int batch_apply(struct store_txn *t, struct persist_batch *b,
		       struct pop *op, uint64_t now_mono, uint64_t now_wall,
		       struct msg **last, size_t *last_off, size_t *last_len)
{
	const char *key = (const char *)b->bytes.data + op->key_off;
	const uint8_t *val = b->bytes.data + op->val_off;
	size_t klen = op->key_len;

	switch (op->type) {
	case POP_SESSION_PUT:
		return store_session_put(t, key, klen, val, op->val_len);
	case POP_SESSION_DEL:
		return store_session_del(t, key, klen);
	case POP_ENTRY_PUT:
		if (*last != op->m) { /* fan-out: encode each body once */
			*last_off = b->scratch.len;
			if (persist_encode_msg(&b->scratch, op->m, now_mono,
					       now_wall))
				return TERN_ENOMEM;
			*last_len = b->scratch.len - *last_off;
			*last = op->m;
		}
		return store_entry_put(t, key, klen, op->seq,
				       atomic_load(&op->m->store_id),
				       b->scratch.data + *last_off, *last_len,
				       val, op->val_len);
	case POP_ENTRY_UPDATE:
		return store_entry_update(t, key, klen, op->seq, val,
					  op->val_len);
	case POP_ENTRY_DEL:
		return store_entry_del(t, key, klen, op->seq);
	case POP_QOS2_PUT:
		return store_qos2_put(t, key, klen, op->pid);
	case POP_QOS2_DEL:
		return store_qos2_del(t, key, klen, op->pid);
	case POP_RETAINED_PUT: {
		size_t off = b->scratch.len;

		if (persist_encode_msg(&b->scratch, op->m, now_mono, now_wall))
			return TERN_ENOMEM;
		return store_retained_put(t, key, klen, b->scratch.data + off,
					  b->scratch.len - off);
	}
	case POP_RETAINED_DEL:
		return store_retained_del(t, key, klen);
	}
	return TERN_EINVAL;
}

static void batch_reset(struct persist_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		msg_unref(b->ops[i].m);
	b->n = 0;
	b->ntoks = 0;
	b->bytes.len = 0;
	b->scratch.len = 0;
	/* a burst should not pin its memory forever */
	if (b->bytes.cap > (1u << 20))
		pbuf_free(&b->bytes);
	if (b->scratch.cap > (1u << 20))
		pbuf_free(&b->scratch);
}

/* What one commit decides, taken out of the batch before it is acted on. */
struct batch_fate {
	struct ack_token **toks;
	size_t ntoks, captoks;
	struct held *held;
	size_t nheld, capheld;
};

/*
 * Acts on a commit's outcome: held deliveries sent (ok) or taken back,
 * then the tokens released. This runs code that may write into the batch
 * again or even commit it (a refused 3.1.1 ack closes its connection,
 * which settles that connection's acks), so the fate is out of the batch
 * first, and the batch's arrays are given back only if still unused.
 * Settling a delivery ends no session; releasing tokens may, hence that
 * order.
 */
static void batch_decide(struct worker *w, struct batch_fate *f, bool ok)
{
	struct persist_batch *b = w->pb;

	for (size_t i = 0; i < f->nheld; i++)
		if (f->held[i].d)
			session_settle_held(f->held[i].s, f->held[i].d, ok);
	for (size_t i = 0; i < f->ntoks; i++)
		ack_token_release(w, f->toks[i], !ok);
	if (!b->toks && !b->ntoks) {
		b->toks = f->toks;
		b->captoks = f->captoks;
	} else {
		free(f->toks);
	}
	if (!b->held && !b->nheld) {
		b->held = f->held;
		b->capheld = f->capheld;
	} else {
		free(f->held);
	}
}

void persist_commit(struct worker *w)
{
	struct persist_batch *b = w->pb;
	struct store_txn *t = NULL;
	struct msg *last = NULL;
	size_t last_off = 0, last_len = 0;
	uint64_t now_mono, now_wall;
	struct batch_fate f;
	int rc = 0;

	if (!b || (!b->n && !b->ntoks && !b->nheld))
		return;
	/* held deliveries take their place now: the entries that say where
	 * (in flight or queued) are written by this commit */
	for (size_t i = 0; i < b->nheld; i++)
		if (b->held[i].d &&
		    !session_place_held(b->held[i].s, b->held[i].d))
			b->held[i] = (struct held){0};
	for (int attempt = 0; b->n && attempt < 2; attempt++) {
		now_mono = worker_now(w);
		now_wall = persist_wall_ms();
		t = NULL;
		last = NULL;
		b->scratch.len = 0;
		rc = store_begin(w->node->store, &t);
		for (size_t i = 0; !rc && i < b->n; i++)
			rc = batch_apply(t, b, &b->ops[i], now_mono, now_wall,
					 &last, &last_off, &last_len);
		if (t && rc)
			store_abort(t);
		else if (t)
			rc = store_commit(t);
		/* a full map may only need its freed pages recycled */
		if (rc == TERN_EQUOTA && attempt == 0 &&
		    store_recycle(w->node->store) == 0)
			continue;
		if (rc) {
			stat_add(&w->stats.store_failures, 1);
			log_error("store: commit of %zu writes failed: %s%s",
				  b->n, tern_strerror(rc),
				  rc == TERN_EQUOTA
					  ? " (map full: raise store_map_size)"
					  : "");
		} else {
			stat_add(&w->stats.store_commits, 1);
		}
		break;
	}
	f = (struct batch_fate){
		.toks = b->toks, .ntoks = b->ntoks, .captoks = b->captoks,
		.held = b->held, .nheld = b->nheld, .capheld = b->capheld};
	b->toks = NULL;
	b->ntoks = b->captoks = 0;
	b->held = NULL;
	b->nheld = b->capheld = 0;
	batch_reset(b);
	batch_decide(w, &f, rc == 0);
}

void persist_batch_free(struct worker *w)
{
	struct persist_batch *b = w->pb;

	if (!b)
		return;
	for (size_t i = 0; i < b->ntoks; i++)
		ack_token_put(b->toks[i]);
	b->ntoks = 0;
	for (size_t i = 0; i < b->nheld; i++)
		if (b->held[i].d)
			session_held_drop(b->held[i].d);
	b->nheld = 0;
	batch_reset(b);
	free(b->ops);
	free(b->toks);
	free(b->held);
	pbuf_free(&b->bytes);
	pbuf_free(&b->scratch);
	free(b);
	w->pb = NULL;
}
