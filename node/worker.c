#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "msg.h"
#include "persist.h"
#include "persist_int.h"
#include "retain.h"
#include "router.h"
#include "session.h"
#include "subtree.h"
#include "sys.h"

#define WORKER_READ_BUF (64 * 1024)
/* inbox messages handled per wake-up before output is flushed again */
#define WORKER_INBOX_BATCH 1024
/* backpressure: publishers pause while any inbox holds more than HIGH
 * messages, and resume when all are under LOW */
#define WORKER_INBOX_HIGH 8192
#define WORKER_INBOX_LOW 2048
#define WORKER_STOP_GRACE_MS 2000

uint32_t node_worker_for(const struct tern_node *n, const char *id,
			 size_t len)
{
	return n->n_workers > 1 ? strmap_hash(id, len) % n->n_workers : 0;
}

struct wmsg *worker_msg_new(enum wmsg_kind kind, size_t extra)
{
	struct wmsg *wm = calloc(1, sizeof(*wm) + extra);

	if (wm) {
		wm->kind = (uint8_t)kind;
		wm->fd = -1;
	}
	return wm;
}

static void worker_msg_free(struct wmsg *wm)
{
	msg_unref(wm->m);
	if (wm->tok) /* a hold nobody took: release it as failed */
		ack_token_put(wm->tok);
	conn_layers_free(wm->xl);
	if (wm->fd >= 0)
		close(wm->fd);
	free(wm);
}

void worker_post(struct tern_node *n, uint32_t to, struct wmsg *wm)
{
	struct worker *w = &n->workers[to];

	atomic_fetch_add_explicit(&w->inbox_depth, 1, memory_order_relaxed);
	mpsc_push(&w->inbox, &wm->node);
	uv_async_send(&w->wake);
}

bool worker_congested(const struct tern_node *n, bool low)
{
	uint64_t limit = low ? WORKER_INBOX_LOW : WORKER_INBOX_HIGH;

	for (uint32_t i = 0; i < n->n_workers; i++)
		if (atomic_load_explicit(&n->workers[i].inbox_depth,
					 memory_order_relaxed) > limit)
			return true;
	return false;
}

int worker_call(struct tern_node *n, uint32_t to,
		void (*fn)(struct worker *w, void *arg), void *arg)
{
	struct wmsg *wm = worker_msg_new(WMSG_CALL, 0);

	if (!wm)
		return TERN_ENOMEM;
	wm->fn = fn;
	wm->arg = arg;
	worker_post(n, to, wm);
	return 0;
}

void worker_mark_dirty(struct worker *w, struct conn *c)
{
	if (w->n_dirty == w->cap_dirty) {
		uint32_t cap = w->cap_dirty ? w->cap_dirty * 2 : 64;
		struct conn **a = realloc(w->dirty, cap * sizeof(*a));

		if (!a) {
			conn_flush_now(c); /* unbatched, but not lost */
			return;
		}
		w->dirty = a;
		w->cap_dirty = cap;
	}
	c->dirty = true;
	w->dirty[w->n_dirty++] = c;
}

/* ---- loop callbacks ------------------------------------------------ */

static void worker_on_stop_timeout(uv_timer_t *t);

static void worker_close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h->data)
		conn_force_close(h->data);
	else
		uv_close(h, NULL);
}

static void worker_on_stop_timeout(uv_timer_t *t)
{
	struct worker *w = t->data;

	/* clients that do not read their DISCONNECT: stop waiting */
	uv_walk(&w->loop, worker_close_handle, NULL);
}

static void worker_stop(struct worker *w)
{
	const char *k;
	size_t l;
	void *v;

	if (w->stopping)
		return;
	w->stopping = true;
	persist_commit(w);
	for (unsigned i = 0; i < w->n_listeners; i++)
		uv_close((uv_handle_t *)&w->listeners[i], NULL);
	while (w->conns) {
		struct conn *c = w->conns;
		struct session *s = c->s;

		if (s) { /* the session is dropped below, not ended */
			uint64_t now = worker_now(w);

			s->conn = NULL;
			c->s = NULL;
			/* stored sessions resume after a restart: offline
			 * from now, the will due after its delay */
			s->expire_at = s->expiry == UINT32_MAX
					       ? 0
					       : now + (uint64_t)s->expiry * 1000;
			if (s->will)
				s->will_at = now + (uint64_t)s->will->will_delay * 1000;
			persist_session(s);
		}
		conn_close(c, MQTT_RC_SERVER_SHUTTING_DOWN, false);
	}
	persist_commit(w);
	for (size_t i = 0; strmap_next(&w->sessions, &i, &k, &l, &v);)
		session_free(v);
	router_free_shares(w);
	uv_timer_stop(&w->tick);
	uv_timer_start(&w->tick, worker_on_stop_timeout,
		       WORKER_STOP_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&w->tick);
	conn_flush_all(w);
	atomic_fetch_add(&w->node->workers_stopped, 1);
}

static void worker_handle(struct worker *w, struct wmsg *wm)
{
	const char *d = (const char *)wm->data;

	switch (wm->kind) {
	case WMSG_PUBLISH:
		if (!wm->tok) {
			router_route_local(w, wm->m);
			break;
		}
		/* ack after our writes for it are durable; deliveries wait
		 * for the same commit (refused: dropped) */
		persist_hold_begin(w, NULL);
		router_route_local(w, wm->m);
		persist_hold_end(w);
		ack_token_wait(w, wm->tok);
		wm->tok = NULL;
		break;
	case WMSG_ACKDONE:
		ack_token_done(w, wm->tok);
		wm->tok = NULL;
		break;
	case WMSG_DELIVER:
		router_deliver_to(w, wm->m, d, wm->len1, wm->qos, wm->rap,
				  wm->sub_id);
		break;
	case WMSG_HANDOFF: {
		uint8_t *bytes = malloc(wm->len1 ? wm->len1 : 1);

		if (!bytes)
			break;
		memcpy(bytes, wm->data, wm->len1);
		conn_adopt(w, wm->fd, bytes, wm->len1, wm->listener, wm->peer,
			   wm->xl);
		wm->fd = -1; /* taken */
		wm->xl = NULL;
		break;
	}
	case WMSG_SHARE_JOIN:
		router_share_join(w, d, wm->len1, d + wm->len1, wm->len2,
				  d + wm->len1 + wm->len2, wm->len3, wm->worker,
				  wm->opts, wm->sub_id);
		break;
	case WMSG_SHARE_LEAVE:
		router_share_leave(w, d, wm->len1, d + wm->len1, wm->len2,
				   d + wm->len1 + wm->len2, wm->len3);
		break;
	case WMSG_CALL:
		wm->fn(w, wm->arg);
		break;
	case WMSG_STOP:
		worker_stop(w);
		break;
	case WMSG_CLOSE:
		/* every worker has stopped: nobody posts here any more */
		uv_close((uv_handle_t *)&w->wake, NULL);
		uv_close((uv_handle_t *)&w->flush, NULL);
		break;
	}
}

static void worker_on_wake(uv_async_t *a)
{
	struct worker *w = a->data;
	struct mpsc_node *n;
	int budget = WORKER_INBOX_BATCH;

	/* bounded, so this loop's own clients and output are not starved
	 * by another worker's publishers */
	while (budget-- > 0 && (n = mpsc_pop(&w->inbox))) {
		struct wmsg *wm = (struct wmsg *)n;

		atomic_fetch_sub_explicit(&w->inbox_depth, 1,
					  memory_order_relaxed);
		if (!w->stopping || wm->kind == WMSG_CLOSE ||
		    wm->kind == WMSG_CALL)
			worker_handle(w, wm);
		worker_msg_free(wm);
	}
	if (budget < 0 && !uv_is_closing((uv_handle_t *)&w->wake))
		uv_async_send(&w->wake); /* more to do after the flush */
}

static void worker_on_flush(uv_prepare_t *p)
{
	struct worker *w = p->data;

	/* durable first: acks released by the commit go out in this flush */
	persist_commit(w);
	conn_flush_all(w);
	if (w->n_paused && !worker_congested(w->node, true))
		conn_resume_all(w);
}

static void worker_on_tick(uv_timer_t *t)
{
	struct worker *w = t->data;
	uint64_t now = worker_now(w);

	conn_sweep(w, now);
	session_sweep(w, now);
	if (w->id == 0)
		sys_tick(w, now);
}

static void worker_on_connection(uv_stream_t *server, int status)
{
	struct worker *w = server->loop->data;
	unsigned idx = (unsigned)((uv_tcp_t *)server - w->listeners);

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	conn_accept(w, server, idx);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* ---- setup --------------------------------------------------------- */

static int worker_addr(const struct tern_listener_cfg *l, uint16_t port,
		       struct sockaddr_storage *ss)
{
	const char *host = strcmp(l->host, "localhost") ? l->host
						       : "127.0.0.1";

	if (strchr(host, ':'))
		return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

/* Binds a SO_REUSEPORT socket for listener l; *port is updated. */
static int worker_bind(const struct tern_listener_cfg *l, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, one = 1;

	if (worker_addr(l, *port, &ss)) {
		log_error("listener %s: bad address", l->url);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss,
		 ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in))) {
		log_error("listener %s: cannot bind: %s", l->url,
			  strerror(errno));
		close(fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		*port = ntohs(ss.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&ss)->sin6_port
				      : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int worker_init(struct tern_node *n, struct worker *w, uint32_t id)
{
	w->node = n;
	w->id = id;
	if (uv_loop_init(&w->loop))
		return TERN_EIO;
	w->loop.data = w;
	mpsc_init(&w->inbox);
	strmap_init(&w->sessions);
	strmap_init(&w->shares);
	w->subs = subtree_new();
	w->rbuf = malloc(WORKER_READ_BUF);
	if (!w->subs || !w->rbuf)
		return TERN_ENOMEM;
	uv_async_init(&w->loop, &w->wake, worker_on_wake);
	w->wake.data = w;
	uv_prepare_init(&w->loop, &w->flush);
	w->flush.data = w;
	uv_prepare_start(&w->flush, worker_on_flush);
	uv_timer_init(&w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, worker_on_tick, 1000, 1000);
	return 0;
}

static int worker_listen(struct tern_node *n)
{
	uint16_t ports[TERN_MAX_LISTENERS];
	FILE *pf = NULL;

	for (unsigned i = 0; i < n->cfg.n_listeners; i++)
		ports[i] = n->cfg.listeners[i].port;
	for (uint32_t wi = 0; wi < n->n_workers; wi++) {
		struct worker *w = &n->workers[wi];

		for (unsigned i = 0; i < n->cfg.n_listeners; i++) {
			uv_tcp_t *t = &w->listeners[i];
			int fd = worker_bind(&n->cfg.listeners[i], &ports[i]);

			if (fd < 0)
				return TERN_EIO;
			uv_tcp_init(&w->loop, t);
			t->data = NULL; /* conns have data, listeners not */
			w->n_listeners = i + 1;
			if (uv_tcp_open(t, fd) ||
			    uv_listen((uv_stream_t *)t, 1024,
				      worker_on_connection)) {
				log_error("listener %s: cannot listen",
					  n->cfg.listeners[i].url);
				return TERN_EIO;
			}
		}
	}
	if (n->cfg.port_file[0])
		pf = fopen(n->cfg.port_file, "w");
	for (unsigned i = 0; i < n->cfg.n_listeners; i++) {
		const struct tern_listener_cfg *l = &n->cfg.listeners[i];
		static const char *const schemes[] = {"mqtt", "mqtts", "ws",
						      "wss"};
		bool v6 = strchr(l->host, ':') != NULL;
		bool web = l->scheme == TERN_SCHEME_WS ||
			   l->scheme == TERN_SCHEME_WSS;
		char url[300];

		snprintf(url, sizeof(url), "%s://%s%s%s:%u%s",
			 schemes[l->scheme], v6 ? "[" : "", l->host,
			 v6 ? "]" : "", ports[i],
			 web ? n->cfg.ws_path : "");
		log_info("listening on %s", url);
		if (pf)
			fprintf(pf, "%s\n", url);
	}
	if (pf)
		fclose(pf);
	return 0;
}

int worker_start_all(struct tern_node *n)
{
	int rc;

	n->n_workers = n->cfg.workers ? n->cfg.workers : 1;
	n->workers = calloc(n->n_workers, sizeof(*n->workers));
	if (!n->workers)
		return TERN_ENOMEM;
	for (uint32_t i = 0; i < n->n_workers; i++) {
		rc = worker_init(n, &n->workers[i], i);
		if (rc)
			return rc;
	}
	/* before the loops run (single-threaded) and before the listeners
	 * are bound: the port file means "ready" */
	persist_recover(n);
	rc = worker_listen(n);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n->n_workers; i++) {
		if (uv_thread_create(&n->workers[i].thread, worker_main,
				     &n->workers[i]))
			return TERN_EIO;
		n->workers[i].running = true;
	}
	return 0;
}

void worker_destroy(struct worker *w)
{
	struct mpsc_node *node;

	/* anything posted after the loop stopped */
	while ((node = mpsc_pop(&w->inbox)))
		worker_msg_free((struct wmsg *)node);
	uv_run(&w->loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&w->loop)) {
		uv_walk(&w->loop, worker_close_handle, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
	}
	persist_batch_free(w);
	strmap_free(&w->sessions);
	strmap_free(&w->shares);
	subtree_free(w->subs);
	free(w->matches);
	free(w->rbuf);
	free(w->paused);
	free(w->dirty);
	conn_outbufs_free(w);
}

static void worker_post_all(struct tern_node *n, enum wmsg_kind kind)
{
	for (uint32_t i = 0; i < n->n_workers; i++) {
		struct wmsg *wm;

		if (!n->workers[i].running)
			continue;
		wm = worker_msg_new(kind, 0);
		if (wm)
			worker_post(n, i, wm);
	}
}

void worker_stop_all(struct tern_node *n)
{
	uint32_t running = 0;

	if (!n->workers)
		return;
	for (uint32_t i = 0; i < n->n_workers; i++)
		running += n->workers[i].running;
	/* two phases: after STOP no worker posts to another, so CLOSE can
	 * close the inboxes' wake-up handles safely */
	worker_post_all(n, WMSG_STOP);
	for (int i = 0; i < 10000 && atomic_load(&n->workers_stopped) <
					     running; i++)
		uv_sleep(1);
	worker_post_all(n, WMSG_CLOSE);
	for (uint32_t i = 0; i < n->n_workers; i++)
		if (n->workers[i].running)
			uv_thread_join(&n->workers[i].thread);
	for (uint32_t i = 0; i < n->n_workers; i++)
		if (n->workers[i].subs)
			worker_destroy(&n->workers[i]);
	free(n->workers);
	n->workers = NULL;
}
