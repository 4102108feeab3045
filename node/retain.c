#include "retain.h"

#include <pthread.h>
#include <stdlib.h>

#include "msg.h"
#include "node.h"
#include "persist.h"
#include "strmap.h"
#include "tern_err.h"
#include "topic.h"

struct retain_store {
	pthread_mutex_t lock;
	struct strmap by_topic; /* key: the msg's own topic */
	struct tern_node *durable; /* set: the store holds them, not memory */
};

void retain_store_durable(struct retain_store *r, struct tern_node *n)
{
	r->durable = n;
}

struct retain_store *retain_store_new(void)
{
	struct retain_store *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	strmap_init(&r->by_topic);
	return r;
}

void retain_store_free(struct retain_store *r)
{
	const char *k;
	size_t l;
	void *v;

	if (!r)
		return;
	for (size_t i = 0; strmap_next(&r->by_topic, &i, &k, &l, &v);)
		msg_unref(v);
	strmap_free(&r->by_topic);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int retain_apply(struct retain_store *r, struct msg *m)
{
	struct msg *old;
	int rc = 0;

	if (r->durable)
		return persist_retained_now(r->durable, m);
	pthread_mutex_lock(&r->lock);
	if (m->payload_len == 0) {
		old = strmap_del(&r->by_topic, m->topic, m->topic_len);
	} else {
		old = strmap_get(&r->by_topic, m->topic, m->topic_len);
		rc = strmap_put(&r->by_topic, m->topic, m->topic_len,
				msg_ref(m));
		if (rc) {
			msg_unref(m);
			old = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	msg_unref(old);
	return rc;
}

static int retain_push(struct msg ***out, int *n, int *cap, struct msg *m)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 8;
		struct msg **a = realloc(*out, (size_t)ncap * sizeof(*a));

		if (!a)
			return TERN_ENOMEM;
		*out = a;
		*cap = ncap;
	}
	(*out)[(*n)++] = msg_ref(m);
	return 0;
}

int retain_collect(struct retain_store *r, const char *filter, size_t len,
		   uint64_t now_ms, struct msg ***out)
{
	int n = 0, cap = 0, rc = 0;
	const char *k;
	size_t l;
	void *v;

	*out = NULL;
	if (r->durable)
		return persist_retained_collect(r->durable, filter, len, now_ms,
						out);
	pthread_mutex_lock(&r->lock);
	if (!topic_filter_has_wildcard(filter, len)) {
		struct msg *m = strmap_get(&r->by_topic, filter, len);

		if (m && !msg_expired(m, now_ms))
			rc = retain_push(out, &n, &cap, m);
	} else {
		/* in memory (durability none) a wildcard scans every
		 * retained message; the store scans the filter's literal
		 * prefix (persist_retained.c) */
		for (size_t i = 0;
		     !rc && strmap_next(&r->by_topic, &i, &k, &l, &v);) {
			struct msg *m = v;

			if (!msg_expired(m, now_ms) &&
			    topic_matches(filter, len, k, l))
				rc = retain_push(out, &n, &cap, m);
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		for (int i = 0; i < n; i++)
			msg_unref((*out)[i]);
		free(*out);
		*out = NULL;
		return rc;
	}
	return n;
}

int retain_chunk(struct retain_store *r, const char *filter, size_t len,
		 uint64_t now_ms, struct store_retained_pos *pos,
		 struct msg ***out, size_t *n)
{
	struct msg **a;
	int rc;

	*out = NULL;
	*n = 0;
	if (!r->durable) {
		/* in memory already: one chunk of references */
		rc = retain_collect(r, filter, len, now_ms, out);
		if (rc < 0)
			return rc;
		*n = (size_t)rc;
		return 0;
	}
	a = malloc(RETAIN_CHUNK_MSGS * sizeof(*a));
	if (!a)
		return TERN_ENOMEM;
	rc = persist_retained_chunk(r->durable, filter, len, now_ms, pos, a,
				    RETAIN_CHUNK_MSGS, RETAIN_CHUNK_BYTES, n);
	if (rc < 0 || !*n) {
		free(a);
		return rc;
	}
	*out = a;
	return rc;
}

size_t retain_count(struct retain_store *r)
{
	size_t n;

	if (r->durable)
		return persist_retained_count(r->durable);
	pthread_mutex_lock(&r->lock);
	n = r->by_topic.count;
	pthread_mutex_unlock(&r->lock);
	return n;
}
