/*
 * admin_clients.c - /api/v1/clients and /api/v1/subscriptions: jobs that
 * read sessions on the workers that own them.
 *
 * A list asks every worker; each sorts what matches, keeps the first
 * offset+limit and returns JSON; the control loop merges, sorts again and
 * cuts the page. A single client (show, kick) is asked of its owner worker
 * only (sessions are pinned: node_worker_for).
 *
 * The *_work functions run on a worker loop and read only that worker's
 * state plus the job's read-only parameters; the *_done functions run on
 * the control loop.
 */
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "conn.h"
#include "msg.h"
#include "node.h"
#include "router.h"
#include "session.h"
#include "worker.h"

/* ---- worker side --------------------------------------------------- */

static bool admin_clients_match(const struct admin_job *j,
                                const struct session *s)
{
	return !j->filter || !j->filter_len ||
	       memmem(s->id, s->id_len, j->filter, j->filter_len);
}

static int admin_clients_idcmp(const struct session *a, const struct session *b)
{
	size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
	int r = memcmp(a->id, b->id, n);

	if (r)
		return r;
	return (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

static int admin_clients_session_cmp(const void *x, const void *y)
{
	return admin_clients_idcmp(*(struct session *const *)x,
	                           *(struct session *const *)y);
}

static json_t *admin_clients_sub_json(const struct session *s,
                                      const struct session_sub *sub,
                                      bool with_client)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	if (with_client)
		json_object_set_new(j, "client_id",
		                    json_stringn(s->id, s->id_len));
	json_object_set_new(j, "filter", json_stringn(sub->filter, sub->len));
	json_object_set_new(j, "share_group",
	                    sub->share ? json_string(sub->share) : json_null());
	json_object_set_new(j, "qos", json_integer(MQTT_SUBOPT_QOS(sub->opts)));
	json_object_set_new(j, "no_local",
	                    json_boolean(sub->opts & MQTT_SUBOPT_NO_LOCAL));
	json_object_set_new(j, "retain_as_published",
	                    json_boolean(sub->opts & MQTT_SUBOPT_RAP));
	json_object_set_new(j, "retain_handling",
	                    json_integer(MQTT_SUBOPT_RH(sub->opts)));
	if (sub->sub_id)
		json_object_set_new(j, "subscription_id",
		                    json_integer(sub->sub_id));
	return j;
}

static json_t *admin_clients_json(const struct admin *a,
                                  const struct session *s, bool detail)
{
	const struct conn *c = s->conn;
	uint64_t now = worker_now(s->w);
	json_t *j = json_object();

	if (!j)
		return NULL;
	json_object_set_new(j, "client_id", json_stringn(s->id, s->id_len));
	json_object_set_new(j, "connected", json_boolean(c != NULL));
	json_object_set_new(j, "protocol_version", json_integer(s->version));
	json_object_set_new(j, "session_expiry", json_integer(s->expiry));
	if (!c && s->expire_at)
		json_object_set_new(
		    j, "expires_in",
		    json_integer(
		        (json_int_t)(s->expire_at > now
		                         ? (s->expire_at - now + 999) / 1000
		                         : 0)));
	json_object_set_new(j, "subscriptions", json_integer(s->n_subs));
	json_object_set_new(j, "inflight", json_integer(s->n_inflight));
	json_object_set_new(j, "queued", json_integer(s->n_queued));
	json_object_set_new(j, "queued_bytes",
	                    json_integer((json_int_t)s->queued_bytes));
	json_object_set_new(j, "dropped", json_integer((json_int_t)s->dropped));
	json_object_set_new(j, "worker", json_integer(s->w->id));
	if (c) {
		json_object_set_new(j, "peer", json_string(c->peer));
		json_object_set_new(j, "keepalive", json_integer(c->keepalive));
		if (c->listener < a->n_listeners)
			json_object_set_new(
			    j, "listener",
			    json_string(a->listeners[c->listener].url));
		if (c->auth_name)
			json_object_set_new(j,
			                    c->auth_name_src == CONN_NAME_CERT
			                        ? "cert_user"
			                    : c->auth_name_src == CONN_NAME_STORE
			                        ? "store_user"
			                        : "token_user",
			                    json_string(c->auth_name));
	}
	if (detail) {
		json_t *subs = json_array();

		for (const struct session_sub *sub = s->subs; subs && sub;
		     sub = sub->next)
			json_array_append_new(
			    subs, admin_clients_sub_json(s, sub, false));
		json_object_set_new(j, "subscription_list", subs);
		if (c) {
			json_object_set_new(j, "receive_maximum",
			                    json_integer(c->receive_max));
			json_object_set_new(j, "maximum_packet_size",
			                    json_integer(c->max_packet));
		}
		if (s->will)
			json_object_set_new(
			    j, "will",
			    json_pack("{s:s%, s:i, s:b, s:I, s:I}", "topic",
			              s->will->topic,
			              (size_t)s->will->topic_len, "qos",
			              s->will->qos, "retain", s->will->retain,
			              "delay", (json_int_t)s->will->will_delay,
			              "payload_bytes",
			              (json_int_t)s->will->payload_len));
	}
	return j;
}

/* Sessions of w matching the job, sorted by id; NULL only on ENOMEM. */
static struct session **admin_clients_collect(struct worker *w,
                                              const struct admin_job *j,
                                              size_t *count)
{
	struct session **v = malloc((w->sessions.count + 1) * sizeof(*v));
	const char *k;
	size_t l, n = 0;
	void *val;

	if (!v)
		return NULL;
	for (size_t i = 0; strmap_next(&w->sessions, &i, &k, &l, &val);)
		if (n < w->sessions.count && admin_clients_match(j, val))
			v[n++] = val;
	qsort(v, n, sizeof(*v), admin_clients_session_cmp);
	*count = n;
	return v;
}

static void admin_clients_list_work(struct worker *w, struct admin_task *t)
{
	const struct admin_job *j = t->job;
	size_t n, keep;
	struct session **v = admin_clients_collect(w, j, &n);

	if (!v) {
		t->status = 500;
		return;
	}
	t->total = n;
	keep = j->offset + j->limit < n ? j->offset + j->limit : n;
	t->out = json_array();
	for (size_t i = 0; t->out && i < keep; i++)
		json_array_append_new(t->out,
		                      admin_clients_json(j->a, v[i], false));
	if (!t->out)
		t->status = 500;
	free(v);
}

static void admin_clients_show_work(struct worker *w, struct admin_task *t)
{
	const struct admin_job *j = t->job;
	struct session *s = session_find(w, j->id, j->id_len);

	if (!s) {
		t->status = 404;
		return;
	}
	t->out = admin_clients_json(j->a, s, true);
	if (!t->out)
		t->status = 500;
}

static void admin_clients_kick_work(struct worker *w, struct admin_task *t)
{
	const struct admin_job *j = t->job;
	struct session *s = session_find(w, j->id, j->id_len);
	bool was_connected, discarded = false;

	if (!s) {
		t->status = 404;
		return;
	}
	was_connected = s->conn != NULL;
	if (s->conn) /* DISCONNECT 0x98 to MQTT 5 clients, then close */
		conn_close(s->conn, MQTT_RC_ADMIN_ACTION, true);
	/* a session with expiry 0 ended with its connection */
	s = session_find(w, j->id, j->id_len);
	if (s && j->discard) {
		session_end(s); /* its will is due */
		s = NULL;
		discarded = true;
	}
	t->out =
	    json_pack("{s:s%, s:b, s:b, s:b}", "client_id", j->id, j->id_len,
	              "was_connected", was_connected, "session_discarded",
	              discarded, "session_kept", s != NULL);
	if (!t->out)
		t->status = 500;
}

/* (session, subscription) pairs of a worker, for sorting. */
struct admin_clients_pair {
	const struct session *s;
	const struct session_sub *sub;
};

static int admin_clients_pair_cmp(const void *x, const void *y)
{
	const struct admin_clients_pair *a = x, *b = y;
	int r = admin_clients_idcmp(a->s, b->s);

	if (r)
		return r;
	r = strcmp(a->sub->filter, b->sub->filter);
	if (r)
		return r;
	return strcmp(a->sub->share ? a->sub->share : "",
	              b->sub->share ? b->sub->share : "");
}

static void admin_clients_subs_work(struct worker *w, struct admin_task *t)
{
	const struct admin_job *j = t->job;
	struct admin_clients_pair *v;
	size_t n = 0, cap = 0, keep;
	const char *k;
	size_t l;
	void *val;

	for (size_t i = 0; strmap_next(&w->sessions, &i, &k, &l, &val);)
		if (admin_clients_match(j, val))
			cap += ((struct session *)val)->n_subs;
	v = malloc((cap + 1) * sizeof(*v));
	if (!v) {
		t->status = 500;
		return;
	}
	for (size_t i = 0; strmap_next(&w->sessions, &i, &k, &l, &val);) {
		const struct session *s = val;

		if (!admin_clients_match(j, s))
			continue;
		for (const struct session_sub *sub = s->subs; sub && n < cap;
		     sub = sub->next)
			v[n++] = (struct admin_clients_pair){s, sub};
	}
	qsort(v, n, sizeof(*v), admin_clients_pair_cmp);
	t->total = n;
	keep = j->offset + j->limit < n ? j->offset + j->limit : n;
	t->out = json_array();
	for (size_t i = 0; t->out && i < keep; i++)
		json_array_append_new(
		    t->out, admin_clients_sub_json(v[i].s, v[i].sub, true));
	if (!t->out)
		t->status = 500;
	free(v);
}

/* ---- control side -------------------------------------------------- */

static int admin_clients_json_cmp(const void *x, const void *y)
{
	json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	const char *keys[] = {"client_id", "filter", "share_group"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *sa = json_string_value(json_object_get(a, keys[i]));
		const char *sb = json_string_value(json_object_get(b, keys[i]));
		int r = strcmp(sa ? sa : "", sb ? sb : "");

		if (r)
			return r;
	}
	return 0;
}

/* Merges the workers' sorted pages into one page under `key`. */
static void admin_clients_merge(struct admin_job *j, struct admin_conn *c,
                                const char *key)
{
	size_t n = 0, total = 0, k = 0;
	json_t **v, *arr, *out;

	for (unsigned i = 0; i < j->n_tasks; i++) {
		if (j->tasks[i].status) {
			admin_http_error(c, 500, "out of memory");
			return;
		}
		n += json_array_size(j->tasks[i].out);
		total += j->tasks[i].total;
	}
	v = malloc((n + 1) * sizeof(*v));
	arr = json_array();
	if (!v || !arr) {
		free(v);
		json_decref(arr);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	for (unsigned i = 0; i < j->n_tasks; i++)
		for (size_t x = 0; x < json_array_size(j->tasks[i].out); x++)
			v[k++] = json_array_get(j->tasks[i].out, x);
	qsort(v, k, sizeof(*v), admin_clients_json_cmp);
	for (size_t i = j->offset; i < k && i - j->offset < j->limit; i++)
		json_array_append(arr, v[i]);
	free(v);
	out = json_pack("{s:o, s:I, s:I, s:I}", key, arr, "total",
	                (json_int_t)total, "offset", (json_int_t)j->offset,
	                "limit", (json_int_t)j->limit);
	admin_http_reply_json(c, out ? 200 : 500, out);
}

static void admin_clients_list_done(struct admin_job *j, struct admin_conn *c)
{
	admin_clients_merge(j, c, "clients");
}

static void admin_clients_subs_done(struct admin_job *j, struct admin_conn *c)
{
	admin_clients_merge(j, c, "subscriptions");
}

static void admin_clients_one_done(struct admin_job *j, struct admin_conn *c)
{
	struct admin_task *t = &j->tasks[0];

	if (t->status == 404) {
		admin_http_error(c, 404, "no client or session with id %s",
		                 j->id);
		return;
	}
	if (t->status || !t->out) {
		admin_http_error(c, 500, "out of memory");
		return;
	}
	admin_http_reply_json(c, 200, json_incref(t->out));
}

/* Starts a list job with ?filter= (or ?client=) and paging. */
static void admin_clients_start_list(struct admin_conn *c, const char *param,
                                     admin_work_fn work, admin_done_fn done)
{
	struct tern_node *n = c->a->n;
	char filter[1024] = "";
	struct admin_job *j;
	size_t offset, limit;

	if (!admin_api_paging(c, &offset, &limit))
		return;
	if (!admin_api_query(c->req.query, param, filter, sizeof(filter)))
		admin_api_query(c->req.query, "filter", filter, sizeof(filter));
	j = admin_job_new(c, n->n_workers);
	if (!j) {
		admin_http_error(c, 500, "out of memory");
		return;
	}
	j->offset = offset;
	j->limit = limit;
	if (filter[0]) {
		j->filter_len = strlen(filter);
		j->filter = admin_job_strdup(filter, j->filter_len);
		if (!j->filter) {
			free(j);
			admin_http_error(c, 500, "out of memory");
			return;
		}
	}
	if (admin_job_run(j, 0, work, done))
		admin_http_error(c, 500, "out of memory");
}

void admin_clients_list(struct admin_conn *c)
{
	admin_clients_start_list(c, "filter", admin_clients_list_work,
	                         admin_clients_list_done);
}

void admin_clients_subscriptions(struct admin_conn *c)
{
	admin_clients_start_list(c, "client", admin_clients_subs_work,
	                         admin_clients_subs_done);
}

/* Starts a job on the owner of client id raw[0..len) (URL-encoded). */
static void admin_clients_start_one(struct admin_conn *c, const char *raw,
                                    size_t rawlen, admin_work_fn work)
{
	struct tern_node *n = c->a->n;
	char id[65536], v[16];
	struct admin_job *j;
	long len = admin_api_unescape(raw, rawlen, id, sizeof(id), false);

	if (len <= 0 || !mqtt_utf8_valid((const uint8_t *)id, (size_t)len)) {
		admin_http_error(c, 400,
		                 "not a valid client id (URL-encode "
		                 "it)");
		return;
	}
	j = admin_job_new(c, 1);
	if (!j || !(j->id = admin_job_strdup(id, (size_t)len))) {
		free(j);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	j->id_len = (size_t)len;
	if (admin_api_query(c->req.query, "session", v, sizeof(v))) {
		if (strcmp(v, "discard") && strcmp(v, "keep")) {
			free(j->id);
			free(j);
			admin_http_error(c, 400,
			                 "session: expected discard or keep");
			return;
		}
		j->discard = !strcmp(v, "discard");
	}
	if (admin_job_run(j, node_worker_for(n, id, (size_t)len), work,
	                  admin_clients_one_done))
		admin_http_error(c, 500, "out of memory");
}

void admin_clients_show(struct admin_conn *c, const char *id, size_t len)
{
	admin_clients_start_one(c, id, len, admin_clients_show_work);
}

void admin_clients_kick(struct admin_conn *c, const char *id, size_t len)
{
	admin_clients_start_one(c, id, len, admin_clients_kick_work);
}
