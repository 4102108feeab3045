/*
 * admin_metrics.c - GET /metrics (Prometheus text format 0.0.4), /healthz
 * and /readyz.
 *
 * Every counter is read straight from the per-worker stats (relaxed atomic
 * loads, summed over the workers): a scrape never waits for a worker. The
 * names are listed in docs/ADMIN.md.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin_int.h"
#include "auth_jwt.h"
#include "node.h"
#include "retain.h"

uint64_t admin_metrics_uptime(const struct tern_node *n)
{
	time_t now = time(NULL);

	return (uint64_t)now > n->start_wall ? (uint64_t)now - n->start_wall
	                                     : 0;
}

static void admin_metrics_head(struct admin_buf *b, const char *name,
                               const char *type, const char *help)
{
	admin_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	                 type);
}

static void admin_metrics_one(struct admin_buf *b, const char *name,
                              const char *type, const char *help, uint64_t v)
{
	admin_metrics_head(b, name, type, help);
	admin_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value with \, " and newline escaped. */
static void admin_metrics_label(struct admin_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			admin_buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			admin_buf_puts(b, "\\n");
		else
			admin_buf_append(b, v, 1);
	}
}

/* jwks_url fetches (auth_jwt.h), only when it is set. */
static void admin_metrics_jwks(struct admin_buf *b, const struct tern_node *n)
{
	struct auth_jwt_url_stats st;

	auth_jwt_url_stats(n, &st);
	if (!st.on)
		return;
	admin_metrics_head(b, "tern_jwks_fetch_total", "counter",
	                   "Fetches of jwks_url by result.");
	for (int i = 0; i < AUTH_JWT_FETCH_RESULTS; i++)
		admin_buf_printf(b, "tern_jwks_fetch_total{result=\"%s\"} "
		                    "%llu\n",
		                 auth_jwt_fetch_result_name(
		                     (enum auth_jwt_fetch_result)i),
		                 (unsigned long long)st.results[i]);
	admin_metrics_one(b, "tern_jwks_keys", "gauge",
	                  "Keys of the last good fetch of jwks_url.", st.keys);
}

static uint64_t admin_metrics_rss(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	long page = sysconf(_SC_PAGESIZE);

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (uint64_t)(page > 0 ? page : 4096);
}

static uint64_t admin_metrics_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* not the one opendir holds */
}

/* A metric that is one per-worker counter summed over the workers. */
struct admin_metric {
	const char *name, *type, *help;
	size_t off; /* of the counter in struct worker_stats */
};

#define ADMIN_METRIC(name, type, help, field)                                  \
	{name, type, help, offsetof(struct worker_stats, field)}
#define ADMIN_METRICS_N(t) (sizeof(t) / sizeof((t)[0]))

/* Every per-worker counter or gauge /metrics exports as it is. */
static const struct admin_metric admin_metrics_plain[] = {
	ADMIN_METRIC("tern_clients_connected", "gauge",
	             "Clients connected (CONNECT accepted).", clients_connected),
	ADMIN_METRIC("tern_connects_total", "counter",
	             "CONNECTs accepted.", connects),
	ADMIN_METRIC("tern_disconnects_total", "counter",
	             "Connections of connected clients that ended.", disconnects),
	ADMIN_METRIC("tern_bytes_received_total", "counter",
	             "Bytes received from clients.", bytes_in),
	ADMIN_METRIC("tern_bytes_sent_total", "counter",
	             "Bytes sent to clients.", bytes_out),
	ADMIN_METRIC("tern_qos0_backlog_bytes", "gauge",
	             "Bytes of QoS 0 messages queued for slow subscribers (max_qos0_backlog per worker).", qos0_backlog),
	ADMIN_METRIC("tern_output_pending_bytes", "gauge",
	             "Bytes handed to sockets' write queues and not yet taken by the kernel.", out_pending),
	ADMIN_METRIC("tern_subscriptions", "gauge",
	             "Subscriptions held by sessions.", subscriptions),
	ADMIN_METRIC("tern_sessions", "gauge",
	             "Sessions, online and offline.", sessions),
	ADMIN_METRIC("tern_inflight_messages", "gauge",
	             "QoS 1/2 messages sent and not yet acknowledged.", inflight),
	ADMIN_METRIC("tern_queued_messages", "gauge",
	             "Messages waiting in session queues.", queued),
	ADMIN_METRIC("tern_protocol_errors_total", "counter",
	             "Connections closed for a protocol violation.", protocol_errors),
	ADMIN_METRIC("tern_auth_successes_total", "counter",
	             "Successful client authentications.", auth_successes),
	ADMIN_METRIC("tern_auth_failures_total", "counter",
	             "Refused client authentications.", auth_failures),
	ADMIN_METRIC("tern_auth_throttled_total", "counter",
	             "CONNECTs refused unchecked after too many failed authentications from their address or client id.", auth_throttled),
	ADMIN_METRIC("tern_acl_denied_total", "counter",
	             "Publishes, subscriptions and wills the ACL refused.", acl_denied),
	ADMIN_METRIC("tern_tls_handshake_failures_total", "counter",
	             "TLS handshakes that failed.", tls_handshake_failures),
	ADMIN_METRIC("tern_ws_upgrade_failures_total", "counter",
	             "WebSocket upgrade requests refused.", ws_upgrade_failures),
	ADMIN_METRIC("tern_proxy_failures_total", "counter",
	             "Connections closed for a bad or missing PROXY protocol header.", proxy_failures),
};

static void admin_metrics_table(struct admin_buf *b, struct tern_node *n,
                                const struct admin_metric *t, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint64_t v = 0;

		for (uint32_t w = 0; w < n->n_workers; w++)
			v += stat_get((_Atomic uint64_t *)((char *)&n->workers[w]
			                                        .stats +
			                                   t[i].off));
		admin_metrics_one(b, t[i].name, t[i].type, t[i].help, v);
	}
}

void admin_metrics_serve(struct admin_conn *c)
{
	struct admin *a = c->a;
	struct tern_node *n = a->n;
	struct admin_buf b = {0};
	struct rlimit rl;

	admin_metrics_head(&b, "tern_build_info", "gauge",
	                   "Build information; the value is always 1.");
	admin_buf_printf(&b, "tern_build_info{version=\"%s\"} 1\n",
	                 TERN_VERSION);
	admin_metrics_one(&b, "tern_uptime_seconds", "gauge",
	                  "Seconds since the node started.",
	                  admin_metrics_uptime(n));
	admin_metrics_one(&b, "tern_start_time_seconds", "gauge",
	                  "Start time of the node in Unix seconds.",
	                  n->start_wall);
	admin_metrics_one(&b, "tern_workers", "gauge",
	                  "Worker loops (threads) of the node.", n->n_workers);
	admin_metrics_table(&b, n, admin_metrics_plain,
	                    ADMIN_METRICS_N(admin_metrics_plain));

	admin_metrics_head(&b, "tern_connections", "gauge",
	                   "Open client connections by listener.");
	for (unsigned i = 0; i < a->n_listeners; i++) {
		admin_buf_puts(&b, "tern_connections{listener=\"");
		admin_metrics_label(&b, a->listeners[i].url);
		admin_buf_printf(
		    &b, "\"} %llu\n",
		    (unsigned long long)ADMIN_SUM(n, conns_by_listener[i]));
	}
	admin_metrics_head(&b, "tern_messages_received_total", "counter",
	                   "PUBLISH packets received from clients by QoS.");
	for (int q = 0; q < 3; q++)
		admin_buf_printf(
		    &b,
		    "tern_messages_received_total{qos=\"%d\"} "
		    "%llu\n",
		    q, (unsigned long long)ADMIN_SUM(n, msgs_in_qos[q]));
	admin_metrics_head(&b, "tern_messages_sent_total", "counter",
	                   "PUBLISH packets sent to clients by QoS.");
	for (int q = 0; q < 3; q++)
		admin_buf_printf(
		    &b, "tern_messages_sent_total{qos=\"%d\"} %llu\n", q,
		    (unsigned long long)ADMIN_SUM(n, msgs_out_qos[q]));
	admin_metrics_head(&b, "tern_messages_dropped_total", "counter",
	                   "Messages not delivered, by reason.");
	admin_buf_printf(
	    &b,
	    "tern_messages_dropped_total{reason=\"queue_full\"} %llu\n"
	    "tern_messages_dropped_total{reason=\"expired\"} %llu\n"
	    "tern_messages_dropped_total{reason=\"too_large\"} %llu\n"
	    "tern_messages_dropped_total{reason=\"qos0_backlog\"} %llu\n",
	    (unsigned long long)ADMIN_SUM(n, dropped_queue_full),
	    (unsigned long long)ADMIN_SUM(n, dropped_expired),
	    (unsigned long long)ADMIN_SUM(n, dropped_too_large),
	    (unsigned long long)ADMIN_SUM(n, dropped_qos0_backlog));

	admin_metrics_one(&b, "tern_retained_messages", "gauge",
	                  "Retained messages stored.", retain_count(n->retain));
	admin_metrics_jwks(&b, n);
	admin_metrics_one(&b, "tern_process_resident_memory_bytes", "gauge",
	                  "Resident memory of the process in bytes.",
	                  admin_metrics_rss());
	admin_metrics_one(&b, "tern_process_open_fds", "gauge",
	                  "Open file descriptors of the process.",
	                  admin_metrics_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		admin_metrics_one(&b, "tern_process_max_fds", "gauge",
		                  "Limit on open file descriptors.",
		                  rl.rlim_cur == RLIM_INFINITY
		                      ? UINT64_MAX
		                      : (uint64_t)rl.rlim_cur);
	admin_metrics_one(&b, "tern_admin_connections", "gauge",
	                  "Open admin HTTP connections.", a->n_conns);

	if (b.oom) {
		admin_buf_free(&b);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	admin_http_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8",
	                 NULL, b.p, b.len);
	admin_buf_free(&b);
}

void admin_metrics_healthz(struct admin_conn *c)
{
	admin_http_reply(c, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3);
}

/* NULL when ready, else the reason. */
static const char *admin_metrics_not_ready(struct admin *a)
{
	struct tern_node *n = a->n;

	if (a->stopping || atomic_load(&n->workers_stopped))
		return "stopping";
	if (!n->workers || !n->n_workers)
		return "no workers";
	for (uint32_t i = 0; i < n->n_workers; i++) {
		if (!n->workers[i].running)
			return "a worker is not running";
		if (n->workers[i].n_listeners != n->cfg.n_listeners)
			return "a listener is not bound";
	}
	return NULL;
}

void admin_metrics_readyz(struct admin_conn *c)
{
	const char *why = admin_metrics_not_ready(c->a);
	char body[128];
	int len;

	if (!why) {
		admin_http_reply(c, 200, "text/plain; charset=utf-8", NULL,
		                 "ok\n", 3);
		return;
	}
	len = snprintf(body, sizeof(body), "not ready: %s\n", why);
	admin_http_reply(c, 503, "text/plain; charset=utf-8", NULL, body,
	                 (size_t)len);
}
