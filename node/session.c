#include "session.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "router.h"

struct session *session_new(struct worker *w, const char *id, size_t len)
{
	/* the id lives in the same allocation */
	struct session *s = calloc(1, offsetof(struct session, id) + len + 1);

	if (!s)
		return NULL;
	memcpy(s->id, id, len);
	s->id[len] = 0;
	s->id_len = (uint16_t)len;
	s->w = w;
	s->next_pid = 1;
	if (strmap_put(&w->sessions, s->id, len, s)) {
		free(s);
		return NULL;
	}
	stat_add(&w->stats.sessions, 1);
	return s;
}

struct session *session_find(struct worker *w, const char *id, size_t len)
{
	return strmap_get(&w->sessions, id, len);
}

static void delivery_free(struct delivery *d)
{
	msg_unref(d->m);
	free(d);
}

static void delivery_list_free(struct delivery *d)
{
	while (d) {
		struct delivery *next = d->next;

		delivery_free(d);
		d = next;
	}
}

void session_set_persist(struct session *s, bool on)
{
	if (s->persist != on)
		atomic_fetch_add_explicit(&s->w->persistent,
					  on ? 1 : (uint64_t)-1,
					  memory_order_relaxed);
	s->persist = on;
}

void session_free(struct session *s)
{
	session_set_persist(s, false);
	struct session_sub *sub, *next;

	persist_hold_forget(s);
	strmap_del(&s->w->sessions, s->id, s->id_len);
	stat_sub(&s->w->stats.sessions, 1);
	stat_sub(&s->w->stats.inflight, s->n_inflight);
	stat_sub(&s->w->stats.queued, s->n_queued);
	for (const struct delivery *d = s->queue; d; d = d->next)
		if (d->qos == 0)
			stat_sub(&s->w->stats.qos0_backlog,
				 msg_size(d->m));
	delivery_list_free(s->inflight);
	delivery_list_free(s->queue);
	for (sub = s->subs; sub; sub = next) {
		next = sub->next;
		stat_sub(&s->w->stats.subscriptions, 1);
		free(sub->share);
		free(sub);
	}
	msg_unref(s->will);
	free(s->qos2_in);
	free(s->pid_map);
	free(s);
}

/* ---- outbound ------------------------------------------------------ */

/* Keeps pid_map in step with the in-flight list (when it exists). */
static void session_pid_mark(struct session *s, uint16_t pid, bool used)
{
	if (!s->pid_map)
		return;
	if (used)
		s->pid_map[pid >> 6] |= UINT64_C(1) << (pid & 63);
	else
		s->pid_map[pid >> 6] &= ~(UINT64_C(1) << (pid & 63));
}

/*
 * Is pid in flight? A short list is scanned; past 16 messages a bitmap of
 * the 65536 ids (8 KiB) is built once, so large receive maximums do not
 * make every send a scan.
 */
static bool session_pid_used(struct session *s, uint16_t pid)
{
	if (!s->pid_map && s->n_inflight > 16) {
		s->pid_map = calloc(65536 / 64, sizeof(uint64_t));
		for (const struct delivery *d = s->inflight; s->pid_map && d;
		     d = d->next)
			session_pid_mark(s, d->pid, true);
	}
	if (s->pid_map)
		return s->pid_map[pid >> 6] & (UINT64_C(1) << (pid & 63));
	for (const struct delivery *d = s->inflight; d; d = d->next)
		if (d->pid == pid)
			return true;
	return false;
}

static uint16_t session_next_pid(struct session *s)
{
	for (;;) {
		uint16_t pid = s->next_pid++;

		if (s->next_pid == 0)
			s->next_pid = 1;
		if (pid && (!s->n_inflight || !session_pid_used(s, pid)))
			return pid;
	}
}

static uint32_t session_window(const struct session *s)
{
	return s->conn ? s->conn->receive_max : 0;
}

static void session_inflight_push(struct session *s, struct delivery *d)
{
	d->next = NULL;
	if (s->inflight_tail)
		s->inflight_tail->next = d;
	else
		s->inflight = d;
	s->inflight_tail = d;
	s->n_inflight++;
	stat_add(&s->w->stats.inflight, 1);
	session_pid_mark(s, d->pid, true);
}

/* Sends d (QoS 1/2) now: pid, in flight, PUBLISH. Takes d. */
static void session_send_new(struct session *s, struct delivery *d)
{
	d->pid = session_next_pid(s);
	d->state = DELIVERY_PUBLISHED;
	if (conn_send_publish(s->conn, d->m, d->qos, false, d->retain, d->pid,
			      d->sub_ids, d->n_sub_ids) == TERN_ETOOLARGE) {
		persist_entry_del(s, d);
		delivery_free(d); /* as if delivered [MQTT-3.1.2-25] */
		return;
	}
	session_inflight_push(s, d);
	if (!d->seq)
		persist_entry_put(s, d);
	else if (d->qos == 2) /* keep its packet id for a resend */
		persist_entry_update(s, d);
}

static struct delivery *delivery_new(struct msg *m, uint8_t qos, bool retain,
				     const uint32_t *sub_ids, uint8_t n)
{
	struct delivery *d = malloc(sizeof(*d) + n * sizeof(uint32_t));

	if (!d)
		return NULL;
	d->next = NULL;
	d->m = msg_ref(m);
	d->seq = 0;
	d->pid = 0;
	d->qos = qos;
	d->state = DELIVERY_QUEUED;
	d->retain = retain;
	d->n_sub_ids = n;
	if (n)
		memcpy(d->sub_ids, sub_ids, n * sizeof(uint32_t));
	return d;
}

/* Every delivery entering or leaving the queue is counted here: the
 * session's bounds, the worker's gauge and its QoS 0 backlog. */
static void session_queued_add(struct session *s, const struct delivery *d)
{
	s->n_queued++;
	s->queued_bytes += msg_size(d->m);
	stat_add(&s->w->stats.queued, 1);
	if (d->qos == 0)
		stat_add(&s->w->stats.qos0_backlog, msg_size(d->m));
}

static void session_queued_sub(struct session *s, const struct delivery *d)
{
	s->n_queued--;
	s->queued_bytes -= msg_size(d->m);
	stat_sub(&s->w->stats.queued, 1);
	if (d->qos == 0)
		stat_sub(&s->w->stats.qos0_backlog, msg_size(d->m));
}

static void session_drop(struct session *s, const char *why)
{
	s->dropped++;
	stat_add(&s->w->stats.dropped_queue_full, 1);
	/* log the first drop and then every 1000th */
	if (s->dropped % 1000 == 1)
		log_warn("session %.*s: %s, %llu messages dropped so far",
			 (int)s->id_len, s->id, why,
			 (unsigned long long)s->dropped);
}

/* Removes the oldest QoS 0 message from the queue; false if none. */
static bool session_evict_qos0(struct session *s)
{
	struct delivery **pp = &s->queue, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		struct delivery *d = *pp;

		if (d->qos)
			continue;
		*pp = d->next;
		if (s->queue_tail == d)
			s->queue_tail = prev;
		session_queued_sub(s, d);
		delivery_free(d);
		return true;
	}
	return false;
}

/* Makes room in the queue for a message of `size` bytes; false: dropped. */
static bool session_make_room(struct session *s, uint8_t qos, size_t size)
{
	const struct tern_config *cfg = &s->w->node->cfg;

	if (qos == 0 && stat_get(&s->w->stats.qos0_backlog) + size >
				cfg->max_qos0_backlog) {
		/* the worker's QoS 0 backlog for slow subscribers is full:
		 * a fan-out to many of them cannot take all its memory */
		stat_add(&s->w->stats.dropped_qos0_backlog, 1);
		s->dropped++;
		return false;
	}
	while (s->n_queued >= cfg->max_queued_messages ||
	       s->queued_bytes + size > cfg->max_queued_bytes) {
		if (qos == 0 || !session_evict_qos0(s)) {
			session_drop(s, "queue full");
			return false;
		}
		session_drop(s, "queue full, QoS 0 message evicted");
	}
	return true;
}

/* Appends d (room made) to the queue, storing it if it is not yet. */
static void session_queue_push(struct session *s, struct delivery *d)
{
	d->next = NULL;
	if (s->queue_tail)
		s->queue_tail->next = d;
	else
		s->queue = d;
	s->queue_tail = d;
	session_queued_add(s, d);
	if (d->qos && !d->seq)
		persist_entry_put(s, d);
}

static void session_enqueue(struct session *s, struct msg *m, uint8_t qos,
			    bool retain, const uint32_t *sub_ids, uint8_t n)
{
	struct delivery *d;

	if (!session_make_room(s, qos, msg_size(m)))
		return;
	d = delivery_new(m, qos, retain, sub_ids, n);
	if (!d) {
		session_drop(s, "out of memory");
		return;
	}
	session_queue_push(s, d);
}

/* While the worker holds deliveries until its commit (persist.h). */
static void session_hold(struct session *s, struct msg *m, uint8_t qos,
			 bool retain, const uint32_t *sub_ids, uint8_t n)
{
	struct delivery *d = delivery_new(m, qos, retain, sub_ids, n);

	if (!d) {
		session_drop(s, "out of memory");
		return;
	}
	persist_hold(s, d);
}

bool session_place_held(struct session *s, struct delivery *d)
{
	struct conn *c = s->conn;

	/* QoS 0: nothing to store, placed when settled (placed now and
	 * queued, it could be evicted by the next one placed) */
	if (d->qos == 0)
		return true;
	if (c && !s->queue && conn_writable(c) &&
	    s->n_inflight < session_window(s)) {
		/* in flight now, its PUBLISH encoded once the commit that
		 * stores it (as in flight, for a resend) is through */
		d->pid = session_next_pid(s);
		d->state = DELIVERY_PUBLISHED;
		session_inflight_push(s, d);
		persist_entry_put(s, d);
		return true;
	}
	if (!session_make_room(s, d->qos, msg_size(d->m))) {
		delivery_free(d);
		return false;
	}
	session_queue_push(s, d); /* QoS 1/2 are never evicted */
	return true;
}

/* Unlinks d from the list at *head (and *tail); false if absent. */
static bool session_unlink(struct delivery **head, struct delivery **tail,
			   struct delivery *d)
{
	struct delivery **pp = head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != d)
			continue;
		*pp = d->next;
		if (*tail == d)
			*tail = prev;
		return true;
	}
	return false;
}

void session_settle_held(struct session *s, struct delivery *d, bool ok)
{
	struct conn *c = s->conn;

	if (d->qos == 0) {
		/* as session_deliver (after QoS 1/2 ones placed in the same
		 * commit when the socket lags: different QoS, no order) */
		if (!ok || !c) {
			delivery_free(d);
		} else if (!s->queue && conn_writable(c)) {
			conn_send_publish(c, d->m, 0, false, d->retain, 0,
					  d->sub_ids, d->n_sub_ids);
			delivery_free(d);
		} else if (session_make_room(s, 0, msg_size(d->m))) {
			session_queue_push(s, d);
		} else {
			delivery_free(d);
		}
		return;
	}
	if (d->state == DELIVERY_QUEUED) {
		/* ok: it waits in the queue like any other */
		if (!ok && session_unlink(&s->queue, &s->queue_tail, d)) {
			session_queued_sub(s, d);
			delivery_free(d);
		}
		return;
	}
	if (ok && conn_send_publish(c, d->m, d->qos, false, d->retain, d->pid,
				   d->sub_ids, d->n_sub_ids) != TERN_ETOOLARGE)
		return;
	/* refused (its entry went with the failed commit), or too large
	 * for the client: as if delivered [MQTT-3.1.2-25] */
	if (session_unlink(&s->inflight, &s->inflight_tail, d)) {
		s->n_inflight--;
		stat_sub(&s->w->stats.inflight, 1);
		session_pid_mark(s, d->pid, false);
	}
	if (ok)
		persist_entry_del(s, d);
	delivery_free(d);
}

void session_held_drop(struct delivery *d)
{
	delivery_free(d);
}

void session_deliver(struct session *s, struct msg *m, uint8_t qos,
		     bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids)
{
	struct conn *c = s->conn;

	if (!c && qos == 0)
		return; /* QoS 0 is not kept for offline clients */
	if (persist_holding(s->w)) {
		session_hold(s, m, qos, retain, sub_ids, n_sub_ids);
		return;
	}
	if (c && !s->queue && conn_writable(c)) {
		if (qos == 0) {
			conn_send_publish(c, m, 0, false, retain, 0, sub_ids,
					  n_sub_ids);
			return;
		}
		if (s->n_inflight < session_window(s)) {
			struct delivery *d = delivery_new(m, qos, retain,
							  sub_ids, n_sub_ids);
			if (d)
				session_send_new(s, d);
			else
				session_drop(s, "out of memory");
			return;
		}
	}
	session_enqueue(s, m, qos, retain, sub_ids, n_sub_ids);
}

/* Re-sends in-flight messages of an earlier connection, in order. */
static void session_resend(struct session *s)
{
	struct delivery **pp = &s->inflight, *prev = NULL;

	while (*pp && s->n_resend && conn_writable(s->conn) &&
	       (uint32_t)(s->n_inflight - s->n_resend) < session_window(s)) {
		struct delivery *d = *pp;

		if (d->state != DELIVERY_RESEND) {
			prev = d;
			pp = &d->next;
			continue;
		}
		s->n_resend--;
		d->state = DELIVERY_PUBLISHED;
		if (conn_send_publish(s->conn, d->m, d->qos, true, d->retain,
				      d->pid, d->sub_ids, d->n_sub_ids) ==
		    TERN_ETOOLARGE) {
			*pp = d->next;
			if (s->inflight_tail == d)
				s->inflight_tail = prev;
			s->n_inflight--;
			stat_sub(&s->w->stats.inflight, 1);
			session_pid_mark(s, d->pid, false);
			persist_entry_del(s, d);
			delivery_free(d);
			continue;
		}
		prev = d;
		pp = &d->next;
	}
}

void session_drain(struct session *s)
{
	uint64_t now = worker_now(s->w);

	if (s->conn && s->n_resend)
		session_resend(s);

	while (s->queue && s->conn && conn_writable(s->conn)) {
		struct delivery *d = s->queue;

		if (d->qos && s->n_inflight >= session_window(s))
			break;
		s->queue = d->next;
		if (!s->queue)
			s->queue_tail = NULL;
		session_queued_sub(s, d);
		if (msg_expired(d->m, now)) {
			/* [MQTT-3.3.2-5] expired: not forwarded */
			stat_add(&s->w->stats.dropped_expired, 1);
			persist_entry_del(s, d);
			delivery_free(d);
			continue;
		}
		if (d->qos == 0) {
			conn_send_publish(s->conn, d->m, 0, false, d->retain,
					  0, d->sub_ids, d->n_sub_ids);
			delivery_free(d);
			continue;
		}
		session_send_new(s, d);
	}
}

/*
 * Unlinks and returns the in-flight delivery with pid and qos that is
 * waiting for its first acknowledgement (PUBACK / PUBREC; also one still
 * waiting to be re-sent), or for PUBCOMP when `released`. NULL if none.
 */
static struct delivery *session_inflight_take(struct session *s, uint16_t pid,
					      uint8_t qos, bool released)
{
	struct delivery **pp = &s->inflight, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		struct delivery *d = *pp;

		if (d->pid != pid || d->qos != qos ||
		    (d->state == DELIVERY_RELEASED) != released)
			continue;
		*pp = d->next;
		if (s->inflight_tail == d)
			s->inflight_tail = prev;
		if (d->state == DELIVERY_RESEND)
			s->n_resend--;
		s->n_inflight--;
		stat_sub(&s->w->stats.inflight, 1);
		session_pid_mark(s, d->pid, false);
		return d;
	}
	return NULL;
}

/* The flow of one in-flight message ended: free it, let the next go. */
static int session_acked(struct session *s, struct delivery *d)
{
	if (!d)
		return TERN_ENOTFOUND;
	persist_entry_del(s, d);
	delivery_free(d);
	session_drain(s);
	return 0;
}

int session_on_puback(struct session *s, uint16_t pid)
{
	return session_acked(s, session_inflight_take(s, pid, 1, false));
}

int session_on_pubcomp(struct session *s, uint16_t pid)
{
	return session_acked(s, session_inflight_take(s, pid, 2, true));
}

int session_on_pubrec(struct session *s, uint16_t pid, uint8_t reason)
{
	struct mqtt_packet rel = {.type = MQTT_PUBREL};
	struct delivery *d;

	if (reason >= 0x80) /* refused: acknowledged, no PUBREL
			     * [MQTT-4.3.3-4] [MQTT-4.4.0-2] */
		return session_acked(s, session_inflight_take(s, pid, 2,
							      false));
	for (d = s->inflight; d; d = d->next)
		if (d->pid == pid && d->qos == 2)
			break;
	if (!d)
		return TERN_ENOTFOUND;
	if (d->state == DELIVERY_RESEND)
		s->n_resend--;
	/* the message is no longer needed, only its packet id */
	d->state = DELIVERY_RELEASED;
	persist_entry_update(s, d);
	msg_unref(d->m);
	d->m = NULL;
	rel.ack.packet_id = pid;
	conn_send(s->conn, &rel);
	return 0;
}

void session_resume(struct session *s)
{
	/*
	 * [MQTT-4.4.0-1]: unacknowledged PUBLISHes go again with DUP and
	 * their packet ids, PUBRELs again; the PUBLISHes count against the
	 * new connection's Receive Maximum, so session_drain sends them.
	 */
	for (struct delivery *d = s->inflight; d; d = d->next) {
		if (d->state == DELIVERY_RELEASED) {
			struct mqtt_packet rel = {.type = MQTT_PUBREL};

			rel.ack.packet_id = d->pid;
			conn_send(s->conn, &rel);
		} else if (d->state == DELIVERY_PUBLISHED) {
			d->state = DELIVERY_RESEND;
			s->n_resend++;
		}
	}
	session_drain(s);
}

/* ---- will and expiry ----------------------------------------------- */

void session_publish_will(struct session *s)
{
	struct msg *m = s->will;

	s->will = NULL;
	s->will_at = 0;
	if (!m)
		return;
	if (m->expiry_interval) /* expiry counts from publication */
		m->expiry_at = worker_now(s->w) +
			       (uint64_t)m->expiry_interval * 1000;
	m->origin = s;
	m->origin_worker = s->w->id;
	router_publish(s->w, m, NULL);
	msg_unref(m);
}

void session_end(struct session *s)
{
	if (s->persist)
		persist_session_del(s);
	session_set_persist(s, false);
	if (s->will)
		session_publish_will(s);
	router_unsubscribe_all(s->w, s);
	session_free(s);
}

void session_detach(struct session *s, bool abnormal)
{
	uint64_t now = worker_now(s->w);

	stat_sub(&s->w->stats.clients_connected, 1);
	s->conn = NULL;
	/* QoS 0 messages are not kept for an offline client */
	while (s->queue && session_evict_qos0(s))
		;
	if (!abnormal) {
		msg_unref(s->will);
		s->will = NULL;
	}
	if (s->expiry == 0) {
		session_end(s);
		return;
	}
	if (s->will) {
		uint32_t delay = s->will->will_delay < s->expiry ? s->will->will_delay
							   : s->expiry;
		if (delay == 0)
			session_publish_will(s);
		else
			s->will_at = now + (uint64_t)delay * 1000;
	}
	s->expire_at = s->expiry == UINT32_MAX
			       ? 0
			       : now + (uint64_t)s->expiry * 1000;
	persist_session(s);
}

void session_sweep(struct worker *w, uint64_t now)
{
	const char *key;
	size_t len;
	void *val;

	for (size_t i = 0; strmap_next(&w->sessions, &i, &key, &len, &val);) {
		struct session *s = val;

		if (s->conn)
			continue;
		if (s->will_at && now >= s->will_at) {
			session_publish_will(s);
			persist_session(s);
		}
		if (s->expire_at && now >= s->expire_at) {
			log_debug("session %.*s expired", (int)s->id_len,
				  s->id);
			session_end(s);
		}
	}
}

/* ---- inbound QoS 2 ------------------------------------------------- */

/* A growing set of packet ids with its sizes in the same allocation. */
struct session_pids {
	uint32_t n, cap;
	uint16_t pid[];
};

uint32_t session_qos2_count(const struct session *s)
{
	return s->qos2_in ? s->qos2_in->n : 0;
}

bool session_qos2_has(const struct session *s, uint16_t pid)
{
	for (uint32_t i = 0; i < session_qos2_count(s); i++)
		if (s->qos2_in->pid[i] == pid)
			return true;
	return false;
}

int session_qos2_add(struct session *s, uint16_t pid)
{
	struct session_pids *p = s->qos2_in;

	if (!p || p->n == p->cap) {
		uint32_t cap = p ? p->cap * 2 : 4;

		p = realloc(p, sizeof(*p) + cap * sizeof(p->pid[0]));
		if (!p)
			return TERN_ENOMEM;
		if (!s->qos2_in)
			p->n = 0;
		p->cap = cap;
		s->qos2_in = p;
	}
	p->pid[p->n++] = pid;
	return 0;
}

void session_qos2_del(struct session *s, uint16_t pid)
{
	struct session_pids *p = s->qos2_in;

	for (uint32_t i = 0; i < session_qos2_count(s); i++) {
		if (p->pid[i] == pid) {
			p->pid[i] = p->pid[--p->n];
			return;
		}
	}
}

/* ---- subscriptions ------------------------------------------------- */

static bool session_sub_is(const struct session_sub *sub, const char *filter,
			   size_t len, const char *share, size_t share_len)
{
	if (sub->len != len || memcmp(sub->filter, filter, len))
		return false;
	if (!share)
		return sub->share == NULL;
	return sub->share && strlen(sub->share) == share_len &&
	       memcmp(sub->share, share, share_len) == 0;
}

int session_sub_put(struct session *s, const char *filter, size_t len,
		    const char *share, size_t share_len, uint8_t opts,
		    uint32_t sub_id, bool *existed)
{
	struct session_sub *sub;

	for (sub = s->subs; sub; sub = sub->next) {
		if (session_sub_is(sub, filter, len, share, share_len)) {
			sub->opts = opts;
			sub->sub_id = sub_id;
			*existed = true;
			return 0;
		}
	}
	*existed = false;
	sub = malloc(sizeof(*sub) + len + 1);
	if (!sub)
		return TERN_ENOMEM;
	sub->share = NULL;
	if (share) {
		sub->share = strndup(share, share_len);
		if (!sub->share) {
			free(sub);
			return TERN_ENOMEM;
		}
	}
	sub->opts = opts;
	sub->sub_id = sub_id;
	sub->len = (uint16_t)len;
	memcpy(sub->filter, filter, len);
	sub->filter[len] = 0;
	sub->next = s->subs;
	s->subs = sub;
	s->n_subs++;
	stat_add(&s->w->stats.subscriptions, 1);
	return 0;
}

int session_sub_del(struct session *s, const char *filter, size_t len,
		    const char *share, size_t share_len)
{
	for (struct session_sub **pp = &s->subs; *pp; pp = &(*pp)->next) {
		struct session_sub *sub = *pp;

		if (!session_sub_is(sub, filter, len, share, share_len))
			continue;
		*pp = sub->next;
		free(sub->share);
		free(sub);
		s->n_subs--;
		stat_sub(&s->w->stats.subscriptions, 1);
		return 0;
	}
	return TERN_ENOTFOUND;
}
