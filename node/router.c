#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "retain.h"
#include "session.h"
#include "subtree.h"
#include "topic.h"
#include "worker.h"

/* Subtree entries whose owner is a shared group, not a session. */
#define ROUTER_SHARED 0x80

struct share_member {
	char *client;
	uint16_t clen;
	uint32_t worker;
	uint8_t opts;
	uint32_t sub_id;
};

struct share_group {
	char *key; /* group '\0' filter */
	size_t klen;
	const char *filter;
	size_t flen;
	struct share_member *m;
	uint32_t n, cap, next;
};

struct router_ctx {
	struct worker *w;
	struct msg *m;
	struct share_group *groups[16];
	unsigned n_groups;
};

/* ---- publish ------------------------------------------------------- */

static void router_on_match(void *ctx, const struct subtree_entry *e)
{
	struct router_ctx *rc = ctx;
	struct worker *w = rc->w;
	struct route_match *rm;
	struct session *s;
	uint8_t qos;

	if (e->opts & ROUTER_SHARED) {
		if (rc->n_groups < 16)
			rc->groups[rc->n_groups++] = e->owner;
		return;
	}
	s = e->owner;
	/* [MQTT-3.8.3-3] no local */
	if ((e->opts & MQTT_SUBOPT_NO_LOCAL) && rc->m->origin == s &&
	    rc->m->origin_worker == w->id)
		return;
	qos = MQTT_SUBOPT_QOS(e->opts);
	if (qos > rc->m->qos)
		qos = rc->m->qos;
	if (s->match_gen == w->match_gen) {
		/* overlapping filters: one copy at the highest QoS with every
		 * subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3] */
		rm = &w->matches[s->match_idx];
		if (qos > rm->qos)
			rm->qos = qos;
		rm->rap |= (e->opts & MQTT_SUBOPT_RAP) != 0;
	} else {
		if (w->n_matches == w->cap_matches) {
			size_t cap = w->cap_matches ? w->cap_matches * 2 : 64;
			struct route_match *a =
				realloc(w->matches, cap * sizeof(*a));

			if (!a) {
				log_error("out of memory routing %s",
					  rc->m->topic);
				return;
			}
			w->matches = a;
			w->cap_matches = cap;
		}
		s->match_gen = w->match_gen;
		s->match_idx = (uint32_t)w->n_matches;
		rm = &w->matches[w->n_matches++];
		rm->s = s;
		rm->qos = qos;
		rm->rap = (e->opts & MQTT_SUBOPT_RAP) != 0;
		rm->n_sub_ids = 0;
	}
	if (e->sub_id && rm->n_sub_ids < 8)
		rm->sub_ids[rm->n_sub_ids++] = e->sub_id;
}

static void router_share_pick(struct worker *w, struct share_group *g,
			      struct msg *m)
{
	struct share_member *mb;
	uint8_t qos;

	if (!g->n)
		return;
	mb = &g->m[g->next++ % g->n];
	qos = MQTT_SUBOPT_QOS(mb->opts);
	if (qos > m->qos)
		qos = m->qos;
	if (mb->worker == w->id) {
		router_deliver_to(w, m, mb->client, mb->clen, qos,
				  (mb->opts & MQTT_SUBOPT_RAP) != 0,
				  mb->sub_id);
		return;
	}
	struct wmsg *wm = worker_msg_new(WMSG_DELIVER, mb->clen);
	if (!wm)
		return;
	wm->m = msg_ref(m);
	wm->qos = qos;
	wm->rap = (mb->opts & MQTT_SUBOPT_RAP) != 0;
	wm->sub_id = mb->sub_id;
	wm->len1 = mb->clen;
	memcpy(wm->data, mb->client, mb->clen);
	worker_post(w->node, mb->worker, wm);
}

void router_route_local(struct worker *w, struct msg *m)
{
	struct router_ctx rc = {.w = w, .m = m};

	w->match_gen++;
	w->n_matches = 0;
	subtree_match(w->subs, m->topic, m->topic_len, router_on_match, &rc);
	for (size_t i = 0; i < w->n_matches; i++) {
		struct route_match *rm = &w->matches[i];

		/* retain as published, else 0 [MQTT-3.3.1-12] [MQTT-3.3.1-13] */
		session_deliver(rm->s, m, rm->qos, rm->rap && m->retain,
				rm->sub_ids, rm->n_sub_ids);
	}
	for (unsigned i = 0; i < rc.n_groups; i++)
		router_share_pick(w, rc.groups[i], m);
}

void router_publish(struct worker *w, struct msg *m, struct ack_token *tok)
{
	struct tern_node *n = w->node;

	if (m->retain && n->cfg.retain_available) {
		if (persist_on(n))
			persist_retained(w, m);
		else if (retain_apply(n->retain, m))
			log_error("out of memory storing retained %s",
				  m->topic);
	}
	/* an acknowledged message: its deliveries here wait for the commit
	 * that stores it (refused, it reaches nobody here) */
	if (tok)
		persist_hold_begin(w, tok);
	router_route_local(w, m);
	if (tok)
		persist_hold_end(w);
	for (uint32_t i = 0; i < n->n_workers; i++) {
		struct wmsg *wm;

		if (i == w->id)
			continue;
		wm = worker_msg_new(WMSG_PUBLISH, 0);
		if (!wm) {
			log_error("out of memory routing %s", m->topic);
			continue;
		}
		wm->m = msg_ref(m);
		/* only a worker with stored sessions can owe a write */
		if (tok && atomic_load_explicit(&n->workers[i].persistent,
						memory_order_relaxed))
			wm->tok = ack_token_share(tok);
		worker_post(n, i, wm);
	}
	(void)cluster_route_targets(m->topic, m->topic_len);
}

void router_deliver_to(struct worker *w, struct msg *m, const char *client,
		       size_t clen, uint8_t qos, bool rap, uint32_t sub_id)
{
	struct session *s = session_find(w, client, clen);

	if (s)
		session_deliver(s, m, qos, rap && m->retain, &sub_id,
				sub_id ? 1 : 0);
}

/* ---- shared groups (owner side) ----------------------------------- */

static uint32_t router_share_owner(const struct tern_node *n,
				   const char *group, size_t glen,
				   const char *filter, size_t flen)
{
	uint32_t h = strmap_hash(group, glen) * 31u ^ strmap_hash(filter, flen);

	return h % n->n_workers;
}

static struct share_group *router_share_get(struct worker *w,
					    const char *group, size_t glen,
					    const char *filter, size_t flen,
					    bool create)
{
	char stack[512], *key = stack;
	size_t klen = glen + 1 + flen;
	struct share_group *g;

	if (klen > sizeof(stack)) {
		key = malloc(klen);
		if (!key)
			return NULL;
	}
	memcpy(key, group, glen);
	key[glen] = 0;
	memcpy(key + glen + 1, filter, flen);
	g = strmap_get(&w->shares, key, klen);
	if (g || !create)
		goto out;
	g = calloc(1, sizeof(*g));
	if (!g)
		goto out;
	g->key = malloc(klen);
	if (!g->key)
		goto err;
	memcpy(g->key, key, klen);
	g->klen = klen;
	g->filter = g->key + glen + 1;
	g->flen = flen;
	struct subtree_entry e = {.owner = g, .opts = ROUTER_SHARED};
	if (subtree_add(w->subs, g->filter, flen, &e, NULL, NULL))
		goto err;
	if (strmap_put(&w->shares, g->key, klen, g)) {
		subtree_remove(w->subs, g->filter, flen, g, NULL);
		goto err;
	}
	goto out;
err:
	if (g)
		free(g->key);
	free(g);
	g = NULL;
out:
	if (key != stack)
		free(key);
	return g;
}

static void router_share_free(struct worker *w, struct share_group *g)
{
	subtree_remove(w->subs, g->filter, g->flen, g, NULL);
	strmap_del(&w->shares, g->key, g->klen);
	for (uint32_t i = 0; i < g->n; i++)
		free(g->m[i].client);
	free(g->m);
	free(g->key);
	free(g);
}

void router_share_join(struct worker *w, const char *group, size_t glen,
		       const char *filter, size_t flen, const char *client,
		       size_t clen, uint32_t member_worker, uint8_t opts,
		       uint32_t sub_id)
{
	struct share_group *g =
		router_share_get(w, group, glen, filter, flen, true);
	struct share_member *mb = NULL;

	if (!g) {
		log_error("out of memory joining shared group");
		return;
	}
	for (uint32_t i = 0; i < g->n; i++)
		if (g->m[i].clen == clen && !memcmp(g->m[i].client, client, clen))
			mb = &g->m[i];
	if (!mb) {
		if (g->n == g->cap) {
			uint32_t cap = g->cap ? g->cap * 2 : 4;
			struct share_member *a =
				realloc(g->m, cap * sizeof(*a));

			if (!a)
				return;
			g->m = a;
			g->cap = cap;
		}
		mb = &g->m[g->n];
		mb->client = malloc(clen ? clen : 1);
		if (!mb->client)
			return;
		memcpy(mb->client, client, clen);
		mb->clen = (uint16_t)clen;
		g->n++;
	}
	mb->worker = member_worker;
	mb->opts = opts;
	mb->sub_id = sub_id;
}

void router_share_leave(struct worker *w, const char *group, size_t glen,
			const char *filter, size_t flen, const char *client,
			size_t clen)
{
	struct share_group *g =
		router_share_get(w, group, glen, filter, flen, false);

	if (!g)
		return;
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->m[i].clen != clen || memcmp(g->m[i].client, client, clen))
			continue;
		free(g->m[i].client);
		g->m[i] = g->m[--g->n];
		break;
	}
	if (!g->n)
		router_share_free(w, g);
}

void router_free_shares(struct worker *w)
{
	const char *k;
	size_t l;
	void *v;

	for (size_t i = 0; strmap_next(&w->shares, &i, &k, &l, &v);)
		router_share_free(w, v);
}

static void router_share_post(struct worker *w, enum wmsg_kind kind,
			      const char *group, size_t glen,
			      const char *filter, size_t flen,
			      struct session *s, uint8_t opts, uint32_t sub_id)
{
	uint32_t owner = router_share_owner(w->node, group, glen, filter, flen);
	struct wmsg *wm;

	if (owner == w->id) {
		if (kind == WMSG_SHARE_JOIN)
			router_share_join(w, group, glen, filter, flen, s->id,
					  s->id_len, w->id, opts, sub_id);
		else
			router_share_leave(w, group, glen, filter, flen, s->id,
					   s->id_len);
		return;
	}
	wm = worker_msg_new(kind, glen + flen + s->id_len);
	if (!wm) {
		log_error("out of memory for shared subscription");
		return;
	}
	wm->worker = w->id;
	wm->opts = opts;
	wm->sub_id = sub_id;
	wm->len1 = glen;
	wm->len2 = flen;
	wm->len3 = s->id_len;
	memcpy(wm->data, group, glen);
	memcpy(wm->data + glen, filter, flen);
	memcpy(wm->data + glen + flen, s->id, s->id_len);
	worker_post(w->node, owner, wm);
}

/* ---- subscribe ----------------------------------------------------- */

uint8_t router_subscribe(struct worker *w, struct session *s,
			 const char *filter, size_t len, uint8_t opts,
			 uint32_t sub_id, bool *existed)
{
	const struct tern_config *cfg = &w->node->cfg;
	const char *group = NULL, *f = filter;
	size_t glen = 0, flen = len;
	uint8_t qos = MQTT_SUBOPT_QOS(opts);
	int shared;

	*existed = false;
	shared = topic_shared_parse(filter, len, &group, &glen, &f, &flen);
	if (shared < 0)
		return MQTT_RC_TOPIC_FILTER_INVALID;
	if (shared && !cfg->shared_sub_available)
		return MQTT_RC_SHARED_SUB_NOT_SUPPORTED;
	if (!topic_filter_valid(f, flen, cfg->max_topic_levels))
		return MQTT_RC_TOPIC_FILTER_INVALID;
	if (!cfg->wildcard_sub_available && topic_filter_has_wildcard(f, flen))
		return MQTT_RC_WILDCARD_SUB_NOT_SUPPORTED;
	if (sub_id && !cfg->sub_id_available)
		return MQTT_RC_SUB_ID_NOT_SUPPORTED;
	if (qos > cfg->max_qos)
		qos = (uint8_t)cfg->max_qos;
	if (s->conn && s->conn->acl)
		acl_conn_sync(s->conn);
	if (s->conn && s->conn->acl) {
		int max = acl_check_subscribe(s->conn->acl, f, flen);

		if (max < 0) {
			stat_add(&w->stats.acl_denied, 1);
			log_info("%s: client \"%.*s\": SUBSCRIBE \"%.*s\" "
				 "denied by the ACL",
				 s->conn->peer, (int)s->id_len, s->id,
				 (int)len, filter);
			return MQTT_RC_NOT_AUTHORIZED;
		}
		if (qos > max)
			qos = (uint8_t)max;
	}
	opts = (uint8_t)((opts & ~0x03) | qos);

	if (session_sub_put(s, f, flen, shared ? group : NULL, glen, opts,
			    sub_id, existed))
		return MQTT_RC_UNSPECIFIED;
	if (shared) {
		router_share_post(w, WMSG_SHARE_JOIN, group, glen, f, flen, s,
				  opts, sub_id);
	} else {
		struct subtree_entry e = {.owner = s, .sub_id = sub_id,
					  .opts = opts};
		bool first = false;

		if (subtree_add(w->subs, f, flen, &e, NULL, &first)) {
			session_sub_del(s, f, flen, NULL, 0);
			return MQTT_RC_UNSPECIFIED;
		}
		if (first)
			cluster_route_change(f, flen, 1);
	}
	return qos;
}

static void router_drop(struct worker *w, struct session *s,
			const struct session_sub *sub)
{
	if (sub->share) {
		router_share_post(w, WMSG_SHARE_LEAVE, sub->share,
				  strlen(sub->share), sub->filter, sub->len, s,
				  0, 0);
	} else {
		bool last = false;

		if (subtree_remove(w->subs, sub->filter, sub->len, s, &last) ==
			    0 &&
		    last)
			cluster_route_change(sub->filter, sub->len, 0);
	}
}

uint8_t router_unsubscribe(struct worker *w, struct session *s,
			   const char *filter, size_t len)
{
	const char *group = NULL, *f = filter;
	size_t glen = 0, flen = len;
	int shared = topic_shared_parse(filter, len, &group, &glen, &f, &flen);

	if (shared < 0)
		return MQTT_RC_TOPIC_FILTER_INVALID;
	for (struct session_sub *sub = s->subs; sub; sub = sub->next) {
		if (sub->len != flen || memcmp(sub->filter, f, flen))
			continue;
		if (shared ? !sub->share || strlen(sub->share) != glen ||
				     memcmp(sub->share, group, glen)
			   : sub->share != NULL)
			continue;
		router_drop(w, s, sub);
		session_sub_del(s, f, flen, shared ? group : NULL, glen);
		return MQTT_RC_SUCCESS;
	}
	return MQTT_RC_NO_SUBSCRIPTION_EXISTED;
}

void router_unsubscribe_all(struct worker *w, struct session *s)
{
	while (s->subs) {
		struct session_sub *sub = s->subs;

		router_drop(w, s, sub);
		session_sub_del(s, sub->filter, sub->len, sub->share,
				sub->share ? strlen(sub->share) : 0);
	}
}
