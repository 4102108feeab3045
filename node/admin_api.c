/*
 * admin_api.c - what a complete admin request asks for: routing, the bearer
 * token of /api/v1, and the answers that need no worker (status,
 * listeners, retained messages). Clients and subscriptions are worker jobs
 * (admin_clients.c); metrics and probes are in admin_metrics.c.
 *
 * Auth: /metrics, /healthz and /readyz are open (Prometheus, kubelet).
 * /api/v1 needs "Authorization: Bearer <admin_token>" whenever a token is
 * configured (401 otherwise); with no token it is refused (403) unless
 * admin_require_token is false, which admin_start allows on a loopback
 * admin listener only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_int.h"
#include "oauth.h"
#include "users.h"
#include "msg.h"
#include "node.h"
#include "retain.h"
#include "store.h"
#include "tern_err.h"
#include "topic.h"

#define ADMIN_LIST_DEFAULT 1000
#define ADMIN_LIST_MAX     100000

/* ---- URL pieces ---------------------------------------------------- */

static int admin_api_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

long admin_api_unescape(const char *s, size_t len, char *out, size_t cap,
                        bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = admin_api_hex(s[i + 1]);
			lo = admin_api_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == 0 || o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	out[o] = 0;
	return (long)o;
}

bool admin_api_query(const char *query, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);

		if (plen >= nlen && !memcmp(p, name, nlen) &&
		    (plen == nlen || p[nlen] == '=')) {
			const char *v = plen == nlen ? p + plen : p + nlen + 1;
			size_t vlen = plen - (size_t)(v - p);

			if (admin_api_unescape(v, vlen, out, cap, true) >= 0)
				return true;
			out[0] = 0;
			return false;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

bool admin_api_paging(struct admin_conn *c, size_t *offset, size_t *limit)
{
	char v[32], *end;
	unsigned long long x;

	*offset = 0;
	*limit = ADMIN_LIST_DEFAULT;
	if (admin_api_query(c->req.query, "limit", v, sizeof(v))) {
		x = strtoull(v, &end, 10);
		if (!v[0] || *end || x > ADMIN_LIST_MAX) {
			admin_http_error(c, 400, "limit: expected 0 to %d",
			                 ADMIN_LIST_MAX);
			return false;
		}
		*limit = (size_t)x;
	}
	if (admin_api_query(c->req.query, "offset", v, sizeof(v))) {
		x = strtoull(v, &end, 10);
		if (!v[0] || *end || x > (1ULL << 40)) {
			admin_http_error(c, 400, "offset: expected a number");
			return false;
		}
		*offset = (size_t)x;
	}
	return true;
}

/* ---- auth ---------------------------------------------------------- */

/* Compares in time that depends only on the configured token's length. */
static bool admin_api_token_eq(const char *given, size_t glen,
                               const char *token, size_t tlen)
{
	unsigned char diff = glen != tlen;

	for (size_t i = 0; i < tlen; i++)
		diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
	return diff == 0;
}

/* True if the request may use /api/v1; else answers 401/403. */
static bool admin_api_authorized(struct admin_conn *c)
{
	const struct tern_config *cfg = &c->a->n->cfg;
	const char *h = c->req.auth;
	size_t len = c->req.auth_len;

	if (!cfg->admin_token[0]) {
		if (c->a->api_open)
			return true;
		admin_http_error(c, 403,
		                 "no admin_token is configured on this node, "
		                 "so the API is disabled: set admin_token "
		                 "(or admin_require_token: false on a "
		                 "loopback admin_listen)");
		return false;
	}
	if (len == 0 && !c->req.auth_too_long) {
		admin_http_error(c, 401,
		                 "missing token: send Authorization: Bearer "
		                 "<admin_token>");
		return false;
	}
	if (c->req.auth_too_long || len < 7 || strncasecmp(h, "Bearer ", 7)) {
		admin_http_error(c, 401,
		                 "the admin token was refused (expected "
		                 "Authorization: Bearer <admin_token>)");
		return false;
	}
	h += 7;
	len -= 7;
	while (len && (*h == ' ' || *h == '\t')) {
		h++;
		len--;
	}
	while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	if (!admin_api_token_eq(h, len, cfg->admin_token,
	                        strlen(cfg->admin_token))) {
		admin_http_error(c, 401, "the admin token was refused");
		return false;
	}
	return true;
}

/* ---- status and listeners ------------------------------------------ */

static json_t *admin_api_listeners_json(struct admin *a)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr && i < a->n_listeners; i++)
		json_array_append_new(
		    arr,
		    json_pack(
		        "{s:s, s:s, s:I}", "url", a->listeners[i].url, "scheme",
		        a->listeners[i].scheme, "connections",
		        (json_int_t)ADMIN_SUM(a->n, conns_by_listener[i])));
	return arr;
}

static void admin_api_status(struct admin_conn *c)
{
	struct admin *a = c->a;
	struct tern_node *n = a->n;
	json_t *j = json_object();

	if (!j) {
		admin_http_error(c, 500, "out of memory");
		return;
	}
	json_object_set_new(j, "version", json_string(TERN_VERSION));
	json_object_set_new(j, "node_id", json_string(a->node_id));
	json_object_set_new(j, "uptime_seconds",
	                    json_integer((json_int_t)admin_metrics_uptime(n)));
	json_object_set_new(j, "started_at",
	                    json_integer((json_int_t)n->start_wall));
	json_object_set_new(j, "workers", json_integer(n->n_workers));
	json_object_set_new(j, "listeners", admin_api_listeners_json(a));
	json_object_set_new(j, "admin_url", json_string(a->url));
	json_object_set_new(j, "connections",
	                    json_integer((json_int_t)atomic_load(&n->n_conns)));
	json_object_set_new(
	    j, "clients_connected",
	    json_integer((json_int_t)ADMIN_SUM(n, clients_connected)));
	json_object_set_new(j, "sessions",
	                    json_integer((json_int_t)ADMIN_SUM(n, sessions)));
	json_object_set_new(
	    j, "subscriptions",
	    json_integer((json_int_t)ADMIN_SUM(n, subscriptions)));
	json_object_set_new(j, "retained_messages",
	                    json_integer((json_int_t)retain_count(n->retain)));
	json_object_set_new(j, "inflight_messages",
	                    json_integer((json_int_t)ADMIN_SUM(n, inflight)));
	json_object_set_new(j, "queued_messages",
	                    json_integer((json_int_t)ADMIN_SUM(n, queued)));
	json_object_set_new(j, "messages_received",
	                    json_integer((json_int_t)ADMIN_SUM(n, msgs_in)));
	json_object_set_new(j, "messages_sent",
	                    json_integer((json_int_t)ADMIN_SUM(n, msgs_out)));
	json_object_set_new(
	    j, "ready",
	    json_boolean(!a->stopping &&
	                 atomic_load(&n->workers_stopped) == 0));
	admin_http_reply_json(c, 200, j);
}

static void admin_api_listeners(struct admin_conn *c)
{
	json_t *j =
	    json_pack("{s:o, s:s}", "listeners", admin_api_listeners_json(c->a),
	              "admin", c->a->url);

	admin_http_reply_json(c, j ? 200 : 500, j);
}

/* ---- retained ------------------------------------------------------ */

static void admin_api_base64(const uint8_t *p, size_t len,
                             struct admin_buf *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = tab[v >> 18 & 63];
		q[1] = tab[v >> 12 & 63];
		q[2] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		admin_buf_append(out, q, 4);
	}
	admin_buf_append(out, "", 0);
}

static json_t *admin_api_retained_json(struct msg *m, uint64_t now,
                                       bool payload)
{
	json_t *j = json_pack("{s:s%, s:i, s:I}", "topic", m->topic,
	                      (size_t)m->topic_len, "qos", m->qos,
	                      "payload_bytes", (json_int_t)m->payload_len);

	if (!j)
		return NULL;
	if (m->expiry_at)
		json_object_set_new(j, "message_expiry",
		                    json_integer(msg_expiry_left(m, now)));
	if (m->fwd.present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT))
		json_object_set_new(j, "payload_format",
		                    json_integer(m->fwd.payload_format));
	if (m->fwd.content_type.len)
		json_object_set_new(
		    j, "content_type",
		    json_stringn((const char *)m->fwd.content_type.p,
		                 m->fwd.content_type.len));
	if (payload) {
		struct admin_buf b = {0};
		json_t *u;

		admin_api_base64(m->payload, m->payload_len, &b);
		json_object_set_new(j, "payload_base64",
		                    json_string(b.p ? b.p : ""));
		admin_buf_free(&b);
		/* jansson refuses invalid UTF-8 */
		u = json_stringn((const char *)m->payload, m->payload_len);
		if (u)
			json_object_set_new(j, "payload_utf8", u);
	}
	return j;
}

static int admin_api_msg_cmp(const void *x, const void *y)
{
	const struct msg *a = *(struct msg *const *)x;
	const struct msg *b = *(struct msg *const *)y;

	return strcmp(a->topic, b->topic);
}

/*
 * GET /api/v1/retained: the matches are read a chunk at a time
 * (retain_chunk), so a node with a million retained messages holds one
 * chunk and the requested page, never the whole result. Order: topic
 * order as the store keeps it (each chunk sorted).
 */
static void admin_api_retained_list(struct admin_conn *c)
{
	struct tern_node *n = c->a->n;
	uint64_t now = uv_now(c->a->loop);
	struct store_retained_pos pos = {0};
	char filter[1024] = "#";
	size_t offset, limit, count = 0;
	json_t *arr, *j;
	int more;

	if (admin_api_query(c->req.query, "filter", filter, sizeof(filter)) &&
	    !filter[0])
		snprintf(filter, sizeof(filter), "#");
	if (!topic_filter_valid(filter, strlen(filter), 0) ||
	    !mqtt_utf8_valid((const uint8_t *)filter, strlen(filter)) ||
	    !strncmp(filter, "$share/", 7)) {
		admin_http_error(c, 400, "filter: not a valid topic filter");
		return;
	}
	if (!admin_api_paging(c, &offset, &limit))
		return;
	arr = json_array();
	do {
		struct msg **msgs = NULL;
		size_t got = 0;

		more = retain_chunk(n->retain, filter, strlen(filter), now, &pos,
				    &msgs, &got);
		if (more < 0) {
			json_decref(arr);
			admin_http_error(c, 500, "cannot read the retained "
						 "messages: %s",
					 tern_strerror(more));
			return;
		}
		if (got > 1)
			qsort(msgs, got, sizeof(*msgs), admin_api_msg_cmp);
		for (size_t i = 0; i < got; i++, count++) {
			if (arr && count >= offset && count - offset < limit)
				json_array_append_new(
				    arr,
				    admin_api_retained_json(msgs[i], now, false));
			msg_unref(msgs[i]);
		}
		free(msgs);
	} while (more > 0);
	j = json_pack("{s:o, s:I, s:I, s:I}", "retained", arr, "total",
		      (json_int_t)count, "offset", (json_int_t)offset, "limit",
		      (json_int_t)limit);
	admin_http_reply_json(c, j ? 200 : 500, j);
}

/* The retained message on exactly `topic` (a new reference) or NULL. */
static struct msg *admin_api_retained_find(struct admin_conn *c,
                                           const char *topic, size_t len)
{
	struct msg **msgs = NULL, *m = NULL;
	int count = retain_collect(c->a->n->retain, topic, len,
	                           uv_now(c->a->loop), &msgs);

	for (int i = 0; i < count; i++) {
		if (!m && msgs[i]->topic_len == len &&
		    !memcmp(msgs[i]->topic, topic, len))
			m = msgs[i];
		else
			msg_unref(msgs[i]);
	}
	free(msgs);
	return m;
}

static void admin_api_retained_one(struct admin_conn *c, const char *raw,
                                   size_t rawlen)
{
	uint64_t now = uv_now(c->a->loop);
	char topic[65536];
	struct msg *m;
	long len = admin_api_unescape(raw, rawlen, topic, sizeof(topic), false);

	if (len <= 0 || !topic_name_valid(topic, (size_t)len, 0) ||
	    !mqtt_utf8_valid((const uint8_t *)topic, (size_t)len)) {
		admin_http_error(c, 400,
		                 "not a valid topic name (URL-encode it; no "
		                 "wildcards)");
		return;
	}
	m = admin_api_retained_find(c, topic, (size_t)len);
	if (!m) {
		admin_http_error(c, 404, "no retained message on topic %s",
		                 topic);
		return;
	}
	if (c->req.method == HTTP_DELETE) {
		static const uint8_t empty[1];
		struct msg *del =
		    msg_new(topic, (size_t)len, 0, true, NULL, empty, 0, now);

		msg_unref(m);
		/* an empty retained payload deletes: the same command the
		 * cluster replicates */
		if (!del || retain_apply(c->a->n->retain, del)) {
			msg_unref(del);
			admin_http_error(c, 500, "out of memory");
			return;
		}
		msg_unref(del);
		admin_http_reply_json(
		    c, 200,
		    json_pack("{s:s, s:b}", "topic", topic, "deleted", 1));
		return;
	}
	admin_http_reply_json(c, 200, admin_api_retained_json(m, now, true));
	msg_unref(m);
}

/* ---- routing ------------------------------------------------------- */

static bool admin_api_method(struct admin_conn *c, bool get, bool del)
{
	unsigned m = c->req.method;

	if ((get && (m == HTTP_GET || m == HTTP_HEAD)) ||
	    (del && m == HTTP_DELETE))
		return true;
	admin_http_not_allowed(c, get && del ? "GET, HEAD, DELETE"
	                          : del      ? "DELETE"
	                                     : "GET, HEAD");
	return false;
}

/* The path after "/api/v1/" (rest, without a trailing '/'). */
static void admin_api_v1(struct admin_conn *c, const char *rest)
{
	size_t len = strlen(rest);
	const char *arg = NULL;
	size_t alen = 0;

	if (!admin_api_authorized(c))
		return;
	if (!strncmp(rest, "clients/", 8) && len > 8) {
		arg = rest + 8;
		alen = len - 8;
		if (!admin_api_method(c, true, true))
			return;
		if (c->req.method == HTTP_DELETE)
			admin_clients_kick(c, arg, alen);
		else
			admin_clients_show(c, arg, alen);
		return;
	}
	if (!strncmp(rest, "oauth-clients/", 14) && len > 14) {
		oauth_clients(c, rest + 14, len - 14);
		return;
	}
	if (!strcmp(rest, "oauth-clients")) {
		oauth_clients(c, NULL, 0);
		return;
	}
	if (!strncmp(rest, "users/", 6) && len > 6) {
		users_api_users(c, rest + 6, len - 6);
		return;
	}
	if (!strcmp(rest, "users")) {
		users_api_users(c, NULL, 0);
		return;
	}
	if (!strncmp(rest, "roles/", 6) && len > 6) {
		users_api_roles(c, rest + 6, len - 6);
		return;
	}
	if (!strcmp(rest, "roles")) {
		users_api_roles(c, NULL, 0);
		return;
	}
	if (!strncmp(rest, "retained/", 9) && len > 9) {
		if (admin_api_method(c, true, true))
			admin_api_retained_one(c, rest + 9, len - 9);
		return;
	}
	if (!strcmp(rest, "status") || !strcmp(rest, "")) {
		if (admin_api_method(c, true, false))
			admin_api_status(c);
	} else if (!strcmp(rest, "clients")) {
		if (admin_api_method(c, true, false))
			admin_clients_list(c);
	} else if (!strcmp(rest, "subscriptions")) {
		if (admin_api_method(c, true, false))
			admin_clients_subscriptions(c);
	} else if (!strcmp(rest, "retained")) {
		if (admin_api_method(c, true, false))
			admin_api_retained_list(c);
	} else if (!strcmp(rest, "listeners")) {
		if (admin_api_method(c, true, false))
			admin_api_listeners(c);
	} else {
		admin_http_error(c, 404, "no such API endpoint: /api/v1/%s",
		                 rest);
	}
}

void admin_api_handle(struct admin_conn *c)
{
	struct admin_req *r = &c->req;
	char *url = r->url.p;
	struct http_parser_url u;
	char *path, *query = "";

	http_parser_url_init(&u);
	if (!url || http_parser_parse_url(url, r->url.len, 0, &u) ||
	    !(u.field_set & (1 << UF_PATH))) {
		admin_http_error(c, 400, "bad request target");
		return;
	}
	path = url + u.field_data[UF_PATH].off;
	if (u.field_set & (1 << UF_QUERY)) {
		query = url + u.field_data[UF_QUERY].off;
		query[u.field_data[UF_QUERY].len] = 0;
	}
	path[u.field_data[UF_PATH].len] = 0;
	r->path = path;
	r->query = query;

	if (!strcmp(path, "/healthz")) {
		if (admin_api_method(c, true, false))
			admin_metrics_healthz(c);
	} else if (!strcmp(path, "/readyz")) {
		if (admin_api_method(c, true, false))
			admin_metrics_readyz(c);
	} else if (!strcmp(path, "/metrics")) {
		if (admin_api_method(c, true, false))
			admin_metrics_serve(c);
	} else if (!strcmp(path, "/oauth/token")) {
		oauth_token(c); /* the client authenticates itself */
	} else if (!strcmp(path, "/.well-known/jwks.json")) {
		oauth_jwks(c);
	} else if (!strncmp(path, "/api/v1/", 8) || !strcmp(path, "/api/v1")) {
		size_t plen = strlen(path);

		while (plen > 8 && path[plen - 1] == '/')
			path[--plen] = 0;
		admin_api_v1(c, plen > 8 ? path + 8 : "");
	} else {
		admin_http_error(c, 404,
		                 "not found: try /metrics, /healthz, /readyz "
		                 "or /api/v1/status");
	}
}
