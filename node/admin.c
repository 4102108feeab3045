/*
 * admin.c - the admin HTTP server's life cycle and its jobs on the workers.
 *
 * The server runs on the control loop. Requests that need worker-owned
 * state (sessions, connections, subscriptions) become a job: one task per
 * worker involved, each run on its worker with worker_call(). A worker fills
 * its task and pushes it on a->done (an MPSC queue) and wakes a->async; the
 * control loop collects the tasks and, when the last one is back, answers.
 * Nothing else of the admin is touched by a worker, and admin_stop waits
 * until every task is back before it frees anything.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "log.h"
#include "node.h"
#include "tern_err.h"
#include "worker.h"

/* ---- jobs ---------------------------------------------------------- */

char *admin_job_strdup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = 0;
	}
	return p;
}

struct admin_job *admin_job_new(struct admin_conn *c, unsigned n_tasks)
{
	struct admin_job *j =
	    calloc(1, sizeof(*j) + n_tasks * sizeof(j->tasks[0]));

	if (!j)
		return NULL;
	j->a = c->a;
	j->conn = c;
	j->n_tasks = n_tasks;
	return j;
}

static void admin_job_free(struct admin_job *j)
{
	for (unsigned i = 0; i < j->n_tasks; i++)
		json_decref(j->tasks[i].out);
	free(j->id);
	free(j->filter);
	free(j);
}

/* Worker side: runs the job's work, then hands the task back. */
static void admin_on_task(struct worker *w, void *arg)
{
	struct admin_task *t = arg;
	struct admin *a = t->job->a;

	t->job->work(w, t);
	mpsc_push(&a->done, &t->node);
	uv_async_send(&a->async);
}

static void admin_job_finish(struct admin_job *j)
{
	struct admin_conn *c = j->conn;

	if (c) {
		c->job = NULL;
		if (j->failed)
			admin_http_error(c, 500, "out of memory");
		else
			j->done(j, c);
	}
	admin_job_free(j);
}

int admin_job_run(struct admin_job *j, uint32_t to, admin_work_fn work,
                  admin_done_fn done)
{
	struct admin *a = j->a;

	j->work = work;
	j->done = done;
	j->started = uv_now(a->loop);
	j->conn->job = j;
	/* count them all first: a fast worker must not finish the job */
	j->waiting = j->n_tasks;
	for (unsigned i = 0; i < j->n_tasks; i++) {
		struct admin_task *t = &j->tasks[i];

		t->job = j;
		t->worker = j->n_tasks == 1 ? to : i;
		if (worker_call(a->n, t->worker, admin_on_task, t)) {
			j->failed = true;
			j->waiting--;
			continue;
		}
		a->outstanding++;
	}
	if (j->waiting == 0) {
		j->conn->job = NULL;
		j->conn = NULL;
		admin_job_free(j);
		return TERN_ENOMEM;
	}
	return 0;
}

static void admin_on_async(uv_async_t *h)
{
	struct admin *a = h->data;
	struct mpsc_node *node;

	while ((node = mpsc_pop(&a->done))) {
		struct admin_task *t = (struct admin_task *)node;
		struct admin_job *j = t->job;

		a->outstanding--;
		if (--j->waiting == 0)
			admin_job_finish(j);
	}
}

/* ---- start --------------------------------------------------------- */

/* "HOST:PORT" or "[v6]:PORT" into an address; sets *loopback. */
static int admin_parse_listen(const char *s, struct sockaddr_storage *ss,
                              bool *loopback, char *err, size_t errlen)
{
	char host[128];
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	unsigned long port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			goto bad;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		goto bad;
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)ss;

		*loopback = memcmp(&in6->sin6_addr, &in6addr_loopback,
		                   sizeof(in6addr_loopback)) == 0;
		return 0;
	}
bad:
	snprintf(err, errlen,
	         "admin_listen \"%s\": expected HOST:PORT with a numeric "
	         "address or localhost (e.g. 127.0.0.1:8081, [::1]:8081)",
	         s);
	return TERN_ECONFIG;
}

static void admin_addr_url(const struct sockaddr_storage *ss,
                           const char *scheme, char *out, size_t cap)
{
	char ip[64] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		uv_ip6_name(a, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "%s://[%s]:%d", scheme, ip, port);
		return;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		uv_ip4_name(a, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	}
	snprintf(out, cap, "%s://%s:%d", scheme, ip, port);
}

/*
 * The MQTT listeners with the ports the workers actually bound, written as
 * the port file has them (ws:// and wss:// with ws_path).
 */
static void admin_collect_listeners(struct admin *a)
{
	static const char *const schemes[] = {"mqtt", "mqtts", "ws", "wss"};
	const struct tern_config *cfg = &a->n->cfg;
	struct worker *w0 = &a->n->workers[0];

	for (unsigned i = 0; i < cfg->n_listeners; i++) {
		const struct tern_listener_cfg *l = &cfg->listeners[i];
		struct admin_listener *al = &a->listeners[i];
		unsigned si = (unsigned)l->scheme < 4 ? (unsigned)l->scheme : 0;
		bool web = l->scheme == TERN_SCHEME_WS ||
		           l->scheme == TERN_SCHEME_WSS;
		bool v6 = strchr(l->host, ':') != NULL;
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		uint16_t port = l->port;

		snprintf(al->scheme, sizeof(al->scheme), "%s", schemes[si]);
		/* the listening sockets were set up before the worker threads
		 * started and never change: reading the fd is safe */
		if (i < w0->n_listeners &&
		    uv_tcp_getsockname(&w0->listeners[i],
		                       (struct sockaddr *)&ss, &len) == 0) {
			port =
			    ntohs(ss.ss_family == AF_INET6
			              ? ((struct sockaddr_in6 *)&ss)->sin6_port
			              : ((struct sockaddr_in *)&ss)->sin_port);
		}
		snprintf(al->url, sizeof(al->url), "%s://%s%s%s:%u%s",
		         schemes[si], v6 ? "[" : "", l->host, v6 ? "]" : "",
		         port, web ? cfg->ws_path : "");
	}
	a->n_listeners = cfg->n_listeners;
}

static void admin_read_node_id(struct admin *a)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node-id", a->n->cfg.data_dir);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(a->node_id, sizeof(a->node_id), f))
		a->node_id[strcspn(a->node_id, "\r\n")] = 0;
	fclose(f);
}

static void admin_on_sweep(uv_timer_t *t)
{
	struct admin *a = t->data;

	admin_http_sweep(a, uv_now(a->loop));
}

static void admin_on_handle_closed(uv_handle_t *h)
{
	struct admin *a = h->data;

	a->handles--;
}

int admin_start(struct tern_node *n, uv_loop_t *loop, char *err, size_t errlen)
{
	const struct tern_config *cfg = &n->cfg;
	struct sockaddr_storage ss;
	bool loopback = false;
	struct admin *a;
	int rc, len;

	if (!cfg->admin_listen[0]) {
		log_info("admin HTTP off (admin_listen is empty)");
		return 0;
	}
	rc = admin_parse_listen(cfg->admin_listen, &ss, &loopback, err, errlen);
	if (rc)
		return rc;
	if (!cfg->admin_require_token && !loopback) {
		snprintf(err, errlen,
		         "admin_require_token is false but admin_listen %s is "
		         "not a loopback address: the API would be open to "
		         "the network; set admin_token (and "
		         "admin_require_token: true) or bind the admin "
		         "listener to 127.0.0.1",
		         cfg->admin_listen);
		return TERN_ECONFIG;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return TERN_ENOMEM;
	}
	a->n = n;
	a->loop = loop;
	a->api_open = !cfg->admin_require_token && !cfg->admin_token[0];
	mpsc_init(&a->done);
	/* jansson seeds its hash function on first use: do it here, before
	 * worker threads build JSON */
	json_object_seed(0);
	admin_read_node_id(a);
	admin_collect_listeners(a);

	uv_tcp_init(loop, &a->server);
	a->server.data = a;
	a->handles++;
	n->admin = a;
	rc = uv_tcp_bind(&a->server, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&a->server, 64,
		               admin_http_on_connection);
	if (rc) {
		snprintf(err, errlen, "admin_listen %s: cannot listen: %s",
		         cfg->admin_listen, uv_strerror(rc));
		return TERN_EIO; /* admin_stop cleans up */
	}
	len = sizeof(ss);
	uv_tcp_getsockname(&a->server, (struct sockaddr *)&ss, &len);
	admin_addr_url(&ss, "http", a->url, sizeof(a->url));

	uv_async_init(loop, &a->async, admin_on_async);
	a->async.data = a;
	a->handles++;
	uv_timer_init(loop, &a->sweep);
	a->sweep.data = a;
	a->handles++;
	uv_timer_start(&a->sweep, admin_on_sweep, 1000, 1000);
	uv_unref((uv_handle_t *)&a->sweep);

	if (cfg->port_file[0]) {
		FILE *pf = fopen(cfg->port_file, "a");

		if (!pf || fprintf(pf, "admin %s\n", a->url) < 0 ||
		    fclose(pf)) {
			snprintf(err, errlen, "port_file %s: cannot append",
			         cfg->port_file);
			return TERN_EIO;
		}
	}
	if (a->api_open)
		log_warn("admin: no admin_token and admin_require_token is "
		         "false: /api/v1 is open to anyone who can reach %s",
		         a->url);
	else if (!cfg->admin_token[0])
		log_info("admin: no admin_token set: /api/v1 is disabled");
	log_info("admin HTTP on %s (/metrics /healthz /readyz /api/v1)",
	         a->url);
	return 0;
}

/* ---- stop ---------------------------------------------------------- */

void admin_stop(struct tern_node *n)
{
	struct admin *a = n->admin;
	int i;

	if (!a)
		return;
	a->stopping = true;
	if (!uv_is_closing((uv_handle_t *)&a->server))
		uv_close((uv_handle_t *)&a->server, admin_on_handle_closed);
	while (a->conns)
		admin_http_close(a->conns);
	/* tasks still on a worker point into a: wait until they are back */
	for (i = 0; a->outstanding && i < ADMIN_STOP_MS; i++) {
		uv_run(a->loop, UV_RUN_NOWAIT);
		if (a->outstanding)
			uv_sleep(1);
	}
	if (a->outstanding) {
		/* a worker is stuck: freeing would let it write into freed
		 * memory later, so the admin state is left allocated */
		log_error("admin: %u worker call(s) still running after %d ms; "
		          "leaving the admin state allocated",
		          a->outstanding, ADMIN_STOP_MS);
		uv_unref((uv_handle_t *)&a->async);
		n->admin = NULL;
		return;
	}
	if (a->async.loop && !uv_is_closing((uv_handle_t *)&a->async))
		uv_close((uv_handle_t *)&a->async, admin_on_handle_closed);
	if (a->sweep.loop && !uv_is_closing((uv_handle_t *)&a->sweep))
		uv_close((uv_handle_t *)&a->sweep, admin_on_handle_closed);
	for (i = 0; a->handles && i < ADMIN_STOP_MS; i++)
		uv_run(a->loop, UV_RUN_NOWAIT);
	if (a->handles) {
		log_error("admin: %u handle(s) did not close", a->handles);
		n->admin = NULL;
		return;
	}
	n->admin = NULL;
	free(a);
}
