/*
 * bench_thread.c - one tern-bench thread: a uv loop, its share of the
 * clients, and the timers that drive them.
 *
 * main initialises the loop and its handles before the thread starts (the
 * loop is not running yet, so that is safe), and closes the loop after the
 * join. In between only the thread touches them, except the `wake` async
 * handle, which main signals whenever it moves b->phase on. The thread
 * follows the phases one by one (thread_sync_phase), so none is skipped.
 *
 * Timers: `tick` (100 ms) publishes the live figures, and once a second
 * sends keep-alive pings and gives up stalled retained rounds; `rate`
 * (1 ms, fixed-rate runs only) gives each publisher the messages its share
 * of --rate owes since the last tick.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define NS_PER_S        UINT64_C(1000000000)
#define FINISH_GRACE_NS (2 * NS_PER_S) /* then close what is left */

static void thread_close_handles(struct bench_thread *t)
{
	uv_handle_t *hs[] = {(uv_handle_t *)&t->wake, (uv_handle_t *)&t->tick,
	                     (uv_handle_t *)&t->rate};
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], NULL);
}

void bench_thread_fail(struct bench_thread *t, const char *fmt, ...)
{
	if (!t->err[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof(t->err), fmt, ap);
		va_end(ap);
	}
	atomic_store_explicit(&t->live.failed, 1, memory_order_release);
}

void bench_thread_publish_live(struct bench_thread *t)
{
	struct bench_live *l = &t->live;
	atomic_store_explicit(&l->sent, t->c.sent, memory_order_relaxed);
	atomic_store_explicit(&l->received, t->c.received,
	                      memory_order_relaxed);
	atomic_store_explicit(&l->unique, t->c.unique, memory_order_relaxed);
	atomic_store_explicit(&l->ready, t->ready, memory_order_relaxed);
	atomic_store_explicit(&l->prepared, t->nprepared, memory_order_relaxed);
	if (t->b->o.scenario == BENCH_RETAINED) {
		uint32_t busy = 0;
		for (uint32_t i = 0; i < t->nclients; i++) {
			const struct bench_sub *s = t->clients[i].sub;
			if (s && t->clients[i].state == BENCH_C_READY &&
			    (s->in_round || s->unsub_wait))
				busy++;
		}
		atomic_store_explicit(&l->busy, busy, memory_order_relaxed);
	}
	atomic_store_explicit(&l->stopped, t->phase >= BENCH_STOP,
	                      memory_order_release);
}

void bench_thread_client_ready(struct bench_thread *t)
{
	t->ready++;
	atomic_store_explicit(&t->live.ready, t->ready, memory_order_relaxed);
}

void bench_thread_client_prepared(struct bench_thread *t)
{
	t->nprepared++;
	atomic_store_explicit(&t->live.prepared, t->nprepared,
	                      memory_order_relaxed);
}

void bench_thread_client_closed(struct bench_thread *t)
{
	t->open--;
	if (t->phase == BENCH_FINISH && t->open == 0)
		thread_close_handles(t);
}

void bench_thread_connect_more(struct bench_thread *t)
{
	if (t->phase != BENCH_SETUP)
		return;
	while (!t->err[0] && t->connecting < t->max_connecting &&
	       t->next_connect < t->nclients) {
		struct bench_client *c = &t->clients[t->next_connect++];
		if (bench_client_connect(c) < 0)
			return;
	}
}

static void thread_on_rate(uv_timer_t *h)
{
	struct bench_thread *t = h->data;
	uint64_t now = bench_now();
	double dt = (double)(now - t->last_rate) / (double)NS_PER_S;
	t->last_rate = now;
	for (uint32_t i = 0; i < t->npubs; i++)
		bench_pub_rate(t->pubs[i], dt);
}

static void thread_on_tick(uv_timer_t *h)
{
	struct bench_thread *t = h->data;
	uint64_t now = bench_now();

	if (t->phase == BENCH_FINISH) {
		if (now - t->finish_start > FINISH_GRACE_NS)
			for (uint32_t i = 0; i < t->nclients; i++)
				bench_client_close(&t->clients[i]);
		return;
	}
	if (now - t->last_ping_scan >= NS_PER_S) {
		t->last_ping_scan = now;
		for (uint32_t i = 0; i < t->nclients; i++)
			bench_client_tick(&t->clients[i], now);
	}
	bench_thread_publish_live(t);
}

/* Does what entering phase ph asks of this thread. */
static void thread_enter(struct bench_thread *t, int ph)
{
	struct bench *b = t->b;
	bool retained = b->o.scenario == BENCH_RETAINED;

	switch (ph) {
	case BENCH_PREPARE:
		for (uint32_t i = 0; i < t->npubs; i++)
			bench_pub_start(t->pubs[i]);
		break;
	case BENCH_RUN:
		t->win_start = b->win_start;
		t->win_end = b->win_end;
		if (retained) {
			for (uint32_t i = 0; i < t->nclients; i++)
				bench_sub_round_start(&t->clients[i]);
			break;
		}
		for (uint32_t i = 0; i < t->npubs; i++)
			bench_pub_start(t->pubs[i]);
		if (b->o.rate > 0 && t->npubs) {
			t->last_rate = bench_now();
			uv_timer_start(&t->rate, thread_on_rate, 1, 1);
		}
		break;
	case BENCH_STOP:
		for (uint32_t i = 0; i < t->npubs; i++)
			bench_pub_stop(t->pubs[i]);
		uv_timer_stop(&t->rate);
		break;
	case BENCH_FINISH:
		t->finish_start = bench_now();
		uv_timer_stop(&t->rate);
		for (uint32_t i = 0; i < t->nclients; i++)
			bench_client_finish(&t->clients[i]);
		if (t->open == 0)
			thread_close_handles(t);
		break;
	default:
		break;
	}
}

static void thread_sync_phase(struct bench_thread *t)
{
	int ph = atomic_load_explicit(&t->b->phase, memory_order_acquire);
	while (t->phase < ph) {
		t->phase++;
		thread_enter(t, t->phase);
		if (t->phase < BENCH_FINISH)
			bench_thread_publish_live(t);
	}
}

static void thread_on_wake(uv_async_t *h)
{
	thread_sync_phase(h->data);
}

static void thread_main(void *arg)
{
	struct bench_thread *t = arg;
	uv_timer_start(&t->tick, thread_on_tick, 100, 100);
	t->last_ping_scan = bench_now();
	thread_sync_phase(t);
	bench_thread_connect_more(t);
	uv_run(&t->loop, UV_RUN_DEFAULT);
}

int bench_thread_init(struct bench *b, struct bench_thread *t, uint32_t index)
{
	uint32_t nt = b->o.threads;
	int rc = TERN_ENOMEM;

	memset(t, 0, sizeof(*t));
	t->b = b;
	t->index = index;
	t->phase = BENCH_SETUP;
	t->win_start = UINT64_MAX;
	t->win_end = 0;
	/* clients index, index + nt, index + 2 nt, ... */
	t->nclients =
	    b->nclients > index ? (b->nclients - index - 1) / nt + 1 : 0;
	t->max_connecting = b->o.connect_concurrency / nt;
	if (t->max_connecting < 1)
		t->max_connecting = 1;
	t->clients = calloc(t->nclients ? t->nclients : 1, sizeof(*t->clients));
	t->pubs = calloc(t->nclients ? t->nclients : 1, sizeof(*t->pubs));
	t->rbuf = malloc(BENCH_READ_BUF);
	if (!t->clients || !t->pubs || !t->rbuf)
		goto err_free;
	for (uint32_t k = 0; k < t->nclients; k++) {
		rc = bench_client_init(&t->clients[k], t, index + k * nt);
		if (rc < 0) {
			while (k--)
				bench_client_free(&t->clients[k]);
			goto err_free;
		}
		if (t->clients[k].pub)
			t->pubs[t->npubs++] = &t->clients[k];
	}
	if (uv_loop_init(&t->loop) < 0) {
		rc = TERN_EIO;
		goto err_clients;
	}
	uv_async_init(&t->loop, &t->wake, thread_on_wake);
	uv_timer_init(&t->loop, &t->tick);
	uv_timer_init(&t->loop, &t->rate);
	t->wake.data = t->tick.data = t->rate.data = t;
	return 0;

err_clients:
	for (uint32_t k = 0; k < t->nclients; k++)
		bench_client_free(&t->clients[k]);
err_free:
	free(t->clients);
	free(t->pubs);
	free(t->rbuf);
	t->clients = NULL;
	t->pubs = NULL;
	t->rbuf = NULL;
	return rc;
}

int bench_thread_start(struct bench_thread *t)
{
	if (uv_thread_create(&t->tid, thread_main, t) < 0)
		return TERN_EIO;
	t->started = true;
	return 0;
}

void bench_thread_wake(struct bench_thread *t)
{
	/* The thread may already have closed `wake` if it saw FINISH through
	 * an earlier wake-up; libuv's async send then only writes to the
	 * loop's event fd, which stays open until main closes the loop. */
	if (t->started)
		uv_async_send(&t->wake);
}

void bench_thread_join(struct bench_thread *t)
{
	if (t->started)
		uv_thread_join(&t->tid);
	else
		thread_main(t); /* never started: FINISH it here */
	int rc = uv_loop_close(&t->loop);
	if (rc < 0)
		fprintf(stderr, "tern-bench: thread %u: loop not closed: %s\n",
		        t->index, uv_strerror(rc));
}

void bench_thread_free(struct bench_thread *t)
{
	for (uint32_t k = 0; k < t->nclients; k++)
		bench_client_free(&t->clients[k]);
	free(t->clients);
	free(t->pubs);
	free(t->rbuf);
	t->clients = NULL;
	t->pubs = NULL;
	t->rbuf = NULL;
}
