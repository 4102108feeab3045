/*
 * mpsc.h - intrusive multi-producer single-consumer queue (Vyukov's).
 *
 * Any thread may push; only the owning worker pops. Push is one atomic
 * exchange, wait-free; pop never blocks (it may report "empty" for the
 * instant a push is half done, and the pusher's uv_async_send wakes the
 * consumer again).
 */
#ifndef TERN_MPSC_H
#define TERN_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

struct mpsc_node {
	_Atomic(struct mpsc_node *) next;
};

struct mpsc {
	_Atomic(struct mpsc_node *) head; /* producers swap here */
	struct mpsc_node *tail;           /* consumer side */
	struct mpsc_node stub;
};

static inline void mpsc_init(struct mpsc *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->head, &q->stub);
	q->tail = &q->stub;
}

static inline void mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	struct mpsc_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Returns the oldest node or NULL. */
static inline struct mpsc_node *mpsc_pop(struct mpsc *q)
{
	struct mpsc_node *tail = q->tail;
	struct mpsc_node *next =
		atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &q->stub) {
		if (!next)
			return NULL;
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
		return NULL; /* a push is in progress */
	mpsc_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

#endif
