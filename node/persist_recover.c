/*
 * persist_recover.c - opening the store, rebuilding sessions at start, and
 * retained lookups served from the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "persist.h"
#include "persist_int.h"
#include "router.h"
#include "session.h"
#include "store.h"
#include "subtree.h"
#include "topic.h"
#include "worker.h"

int persist_open(struct tern_node *n, char *err, size_t errlen)
{
	struct store_opts o = {
		.map_size = n->cfg.store_map_size,
		.sync = n->cfg.durability == TERN_DURABILITY_POWER_LOSS,
	};
	char dir[600];
	uint64_t msg_id = 0, seq = 0;
	int rc;

	if (n->cfg.durability == TERN_DURABILITY_NONE)
		return 0;
	snprintf(dir, sizeof(dir), "%s/store", n->cfg.data_dir);
	rc = store_open(&n->store, dir, &o, err, errlen);
	if (rc)
		return rc;
	rc = store_max_ids(n->store, &msg_id, &seq);
	if (rc) {
		snprintf(err, errlen, "%s: cannot read the store: %s", dir,
			 tern_strerror(rc));
		store_close(n->store);
		n->store = NULL;
		return rc;
	}
	atomic_store(&n->next_msg_id, msg_id + 1);
	atomic_store(&n->next_seq, seq + 1);
	log_info("store %s opened (durability %s)", dir,
		 o.sync ? "power-loss" : "process-crash");
	return 0;
}

void persist_close(struct tern_node *n)
{
	store_close(n->store);
	n->store = NULL;
}

/* ---- recovery ------------------------------------------------------ */

struct recover_ctx {
	struct tern_node *n;
	uint64_t now_mono, now_wall;
	struct session *s;
	struct msg **wills; /* published once every session is back */
	size_t n_wills, cap_wills;
	int sessions, entries, bad, expired;
	/* bodies shared by several entries are decoded once */
	uint64_t last_id;
	struct msg *last;
};

static void recover_will_later(struct recover_ctx *rc, struct session *s)
{
	if (rc->n_wills == rc->cap_wills) {
		size_t cap = rc->cap_wills ? rc->cap_wills * 2 : 16;
		struct msg **a = realloc(rc->wills, cap * sizeof(*a));

		if (!a)
			return;
		rc->wills = a;
		rc->cap_wills = cap;
	}
	s->will->origin = s;
	s->will->origin_worker = s->w->id;
	rc->wills[rc->n_wills++] = s->will;
	s->will = NULL;
	s->will_at = 0;
}

static int recover_entry(void *ctx, uint64_t seq, uint64_t msg_id,
			 const void *msg, size_t mlen, const void *val,
			 size_t vlen)
{
	struct recover_ctx *rc = ctx;
	struct session *s = rc->s;
	struct persist_entry e;
	struct delivery *d;

	if (persist_decode_entry(val, vlen, &e)) {
		rc->bad++;
		return 0;
	}
	if (rc->last_id != msg_id) {
		msg_unref(rc->last);
		rc->last = persist_decode_msg(msg, mlen, rc->now_mono,
					      rc->now_wall);
		rc->last_id = msg_id;
		if (rc->last)
			atomic_store(&rc->last->store_id, msg_id);
	}
	if (!rc->last) {
		rc->bad++;
		return 0;
	}
	d = calloc(1, sizeof(*d) + e.n_sub_ids * sizeof(uint32_t));
	if (!d)
		return TERN_ENOMEM;
	d->m = msg_ref(rc->last);
	d->seq = seq;
	d->qos = e.qos;
	d->retain = e.retain;
	d->pid = e.pid;
	d->n_sub_ids = e.n_sub_ids;
	memcpy(d->sub_ids, e.sub_ids, e.n_sub_ids * sizeof(uint32_t));
	if (e.state == DELIVERY_QUEUED) {
		d->state = DELIVERY_QUEUED;
		if (s->queue_tail)
			s->queue_tail->next = d;
		else
			s->queue = d;
		s->queue_tail = d;
		s->n_queued++;
		s->queued_bytes += msg_size(d->m);
		stat_add(&s->w->stats.queued, 1);
	} else {
		/* in flight when we stopped: sent again on reconnect */
		d->state = e.state == DELIVERY_RELEASED ? DELIVERY_RELEASED
							: DELIVERY_RESEND;
		if (d->state == DELIVERY_RESEND)
			s->n_resend++;
		if (s->inflight_tail)
			s->inflight_tail->next = d;
		else
			s->inflight = d;
		s->inflight_tail = d;
		s->n_inflight++;
		stat_add(&s->w->stats.inflight, 1);
		if (d->pid >= s->next_pid)
			s->next_pid = (uint16_t)(d->pid + 1 ? d->pid + 1 : 1);
	}
	rc->entries++;
	return 0;
}

static int recover_qos2(void *ctx, uint16_t pid)
{
	struct recover_ctx *rc = ctx;

	return session_qos2_add(rc->s, pid);
}

/* Restores the subscription on the session's worker (no retained sent). */
static void recover_sub(struct session *s, uint8_t opts, uint32_t sub_id,
			struct mqtt_str share, struct mqtt_str filter)
{
	char *buf = malloc(share.len + filter.len + 9);
	size_t len = 0;
	bool existed;

	if (!buf)
		return;
	if (share.len)
		len = (size_t)sprintf(buf, "$share/%.*s/", (int)share.len,
				      share.p);
	memcpy(buf + len, filter.p, filter.len);
	len += filter.len;
	router_subscribe(s->w, s, buf, len, opts, sub_id, &existed);
	free(buf);
}

static int recover_session(void *ctx, const char *id, size_t len,
			   const void *val, size_t vlen)
{
	struct recover_ctx *rc = ctx;
	struct tern_node *n = rc->n;
	struct prd r = {.p = val, .len = vlen};
	struct worker *w = &n->workers[node_worker_for(n, id, len)];
	uint64_t expire, will_wall;
	uint32_t will_delay;
	uint32_t n_subs;
	struct session *s;

	if (prd_u8(&r) != 1) {
		log_error("store: session %.*s: unknown format, skipped",
			  (int)len, id);
		rc->bad++;
		return 0;
	}
	s = session_new(w, id, len);
	if (!s)
		return TERN_ENOMEM;
	session_set_persist(s, true);
	s->version = prd_u8(&r);
	s->expiry = prd_u32(&r);
	expire = prd_u64(&r);
	will_delay = prd_u32(&r);
	will_wall = prd_u64(&r);
	if (prd_u8(&r)) {
		uint32_t wl = prd_u32(&r);
		const uint8_t *wp = prd_bytes(&r, wl);

		if (wp)
			s->will = persist_decode_msg(wp, wl, rc->now_mono,
						     rc->now_wall);
		if (s->will)
			s->will->will_delay = will_delay;
	}
	n_subs = prd_u32(&r);
	for (uint32_t i = 0; i < n_subs && !r.bad; i++) {
		uint8_t opts = prd_u8(&r);
		uint32_t sub_id = prd_u32(&r);
		struct mqtt_str share, filter;

		share.len = prd_u16(&r);
		share.p = prd_bytes(&r, share.len);
		filter.len = prd_u16(&r);
		filter.p = prd_bytes(&r, filter.len);
		if (!r.bad && filter.len)
			recover_sub(s, opts, sub_id, share, filter);
	}
	if (r.bad) {
		log_error("store: session %.*s is damaged; what could be read "
			  "was kept",
			  (int)len, id);
		rc->bad++;
	}

	/* time spent down counts: an expired session ends now */
	if (!expire && s->expiry != UINT32_MAX)
		expire = rc->now_wall + (uint64_t)s->expiry * 1000;
	s->expire_at = 0;
	if (expire)
		s->expire_at = expire > rc->now_wall
				       ? rc->now_mono + (expire - rc->now_wall)
				       : rc->now_mono;
	if (s->will) {
		/* a session that was online lost its connection: its will
		 * goes after the delay, as for any abnormal close */
		if (!will_wall)
			will_wall = rc->now_wall + (uint64_t)s->will->will_delay * 1000;
		if (will_wall <= rc->now_wall)
			recover_will_later(rc, s);
		else
			s->will_at = rc->now_mono + (will_wall - rc->now_wall);
	}

	rc->s = s;
	if (store_entry_scan(n->store, id, len, recover_entry, rc) ||
	    store_qos2_scan(n->store, id, len, recover_qos2, rc))
		rc->bad++;
	rc->s = NULL;
	if (s->expire_at && s->expire_at <= rc->now_mono) {
		/* expired while we were down: it ends now, will included,
		 * before any client can resume it */
		session_end(s);
		rc->expired++;
		return 0;
	}
	rc->sessions++;
	return 0;
}

int persist_recover(struct tern_node *n)
{
	struct recover_ctx rc = {.n = n};

	if (!n->store)
		return 0;
	rc.now_mono = uv_hrtime() / 1000000;
	rc.now_wall = persist_wall_ms();
	if (store_session_scan(n->store, recover_session, &rc))
		log_error("store: reading sessions failed; some were not "
			  "recovered");
	msg_unref(rc.last);
	/* wills whose time came while we were down go out now (the worker
	 * loops deliver them when they start) */
	for (size_t i = 0; i < rc.n_wills; i++) {
		struct msg *m = rc.wills[i];
		struct session *s = (struct session *)m->origin;

		router_publish(s->w, m, NULL);
		msg_unref(m);
	}
	free(rc.wills);
	log_info("store: recovered %d session(s) with %d message(s), %d "
		 "expired while down%s",
		 rc.sessions, rc.entries, rc.expired,
		 rc.bad ? " (damaged records skipped: see above)" : "");
	return rc.sessions;
}

/* ---- retained ------------------------------------------------------ */

struct collect_ctx {
	const char *filter;
	size_t flen;
	uint64_t now_mono, now_wall;
	struct msg **out;
	int n, cap;
};

static int collect_one(void *ctx, const char *key, size_t klen,
		       const void *val, size_t vlen)
{
	struct collect_ctx *cc = ctx;
	struct msg *m;

	(void)key;
	(void)klen;
	m = persist_decode_msg(val, vlen, cc->now_mono, cc->now_wall);
	if (!m)
		return 0;
	/* long topics are stored under a shortened key: match the message */
	if (!topic_matches(cc->filter, cc->flen, m->topic, m->topic_len) ||
	    msg_expired(m, cc->now_mono)) {
		msg_unref(m);
		return 0;
	}
	if (cc->n == cc->cap) {
		int cap = cc->cap ? cc->cap * 2 : 8;
		struct msg **a = realloc(cc->out, (size_t)cap * sizeof(*a));

		if (!a) {
			msg_unref(m);
			return TERN_ENOMEM;
		}
		cc->out = a;
		cc->cap = cap;
	}
	cc->out[cc->n++] = m;
	return 0;
}

int persist_retained_collect(struct tern_node *n, const char *filter,
			     size_t len, uint64_t now_ms, struct msg ***out)
{
	struct collect_ctx cc = {.filter = filter, .flen = len,
				 .now_mono = now_ms,
				 .now_wall = persist_wall_ms()};
	size_t plen = 0;
	int rc;

	/* scan only the literal prefix before the first wildcard level */
	while (plen < len && filter[plen] != '+' && filter[plen] != '#')
		plen++;
	rc = store_retained_scan(n->store, filter, plen, collect_one, &cc);
	if (rc) {
		for (int i = 0; i < cc.n; i++)
			msg_unref(cc.out[i]);
		free(cc.out);
		*out = NULL;
		return rc;
	}
	*out = cc.out;
	return cc.n;
}

int persist_retained_now(struct tern_node *n, struct msg *m)
{
	struct store_txn *t;
	struct pbuf b = {0};
	int rc = store_begin(n->store, &t);

	if (rc)
		return rc;
	if (m->payload_len == 0) {
		rc = store_retained_del(t, m->topic, m->topic_len);
	} else {
		rc = persist_encode_msg(&b, m, uv_hrtime() / 1000000,
					persist_wall_ms());
		if (!rc)
			rc = store_retained_put(t, m->topic, m->topic_len,
						b.data, b.len);
	}
	pbuf_free(&b);
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t);
}

size_t persist_retained_count(struct tern_node *n)
{
	return store_retained_count(n->store);
}
