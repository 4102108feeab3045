/*
 * persist_retained.c - the retained messages read from the store in
 * chunks (retain_chunk with durability on), so that a wildcard subscribe
 * over many of them holds one chunk in memory, not all of them.
 */
#include "persist.h"

#include "msg.h"
#include "persist_int.h"
#include "store.h"
#include "tern_err.h"
#include "topic.h"

struct chunk_ctx {
	const char *filter;
	size_t flen;
	uint64_t now_mono, now_wall;
	struct msg **out;
	size_t n, max;
	size_t bytes, max_bytes;
};

static int chunk_one(void *ctx, const char *topic, size_t tlen,
		     const void *val, size_t vlen)
{
	struct chunk_ctx *cc = ctx;
	struct msg *m;

	/* the store gives the whole topic: most non-matching records are
	 * skipped without decoding them */
	if (!topic_matches(cc->filter, cc->flen, topic, tlen))
		return 0;
	m = persist_decode_msg(val, vlen, cc->now_mono, cc->now_wall);
	if (!m)
		return 0; /* damaged (or out of memory): skipped */
	if (!topic_matches(cc->filter, cc->flen, m->topic, m->topic_len) ||
	    msg_expired(m, cc->now_mono)) {
		msg_unref(m);
		return 0;
	}
	cc->out[cc->n++] = m;
	cc->bytes += msg_size(m);
	return cc->n == cc->max || cc->bytes >= cc->max_bytes ? 1 : 0;
}

int persist_retained_chunk(struct tern_node *n, const char *filter,
			   size_t len, uint64_t now_ms,
			   struct store_retained_pos *pos, struct msg **out,
			   size_t max, size_t max_bytes, size_t *count)
{
	struct chunk_ctx cc = {.filter = filter, .flen = len,
			       .now_mono = now_ms,
			       .now_wall = persist_wall_ms(), .out = out,
			       .max = max, .max_bytes = max_bytes};
	size_t plen = 0;
	int rc;

	*count = 0;
	if (!max)
		return TERN_EINVAL;
	/* scan only the literal prefix before the first wildcard level */
	while (plen < len && filter[plen] != '+' && filter[plen] != '#')
		plen++;
	rc = store_retained_scan_from(n->store, filter, plen, pos, chunk_one,
				      &cc);
	if (rc < 0) {
		for (size_t i = 0; i < cc.n; i++)
			msg_unref(out[i]);
		return rc;
	}
	*count = cc.n;
	return rc;
}
