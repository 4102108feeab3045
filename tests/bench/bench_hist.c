/*
 * bench_hist.c - the latency histogram (see struct bench_hist in bench.h).
 *
 * Index of a value v (ns): below 64 it is v itself; above, with m the
 * position of v's top bit, the 64 sub-buckets of [2^m, 2^(m+1)) follow
 * those of the power below, so index = (m - 5) * 64 + the 6 bits under the
 * top one. Adding is a count-leading-zeros and an increment.
 */
#include "bench.h"

#define SUB (1u << BENCH_HIST_SUB_BITS)

static unsigned hist_index(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	if (v >> BENCH_HIST_MAX_LOG2)
		return BENCH_HIST_BUCKETS - 1;
	unsigned m = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = m - BENCH_HIST_SUB_BITS;
	unsigned sub = (unsigned)(v >> shift) & (SUB - 1);
	return ((m - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS) + sub;
}

/* The largest value that lands in bucket i. */
static uint64_t hist_top(unsigned i)
{
	if (i < SUB)
		return i;
	unsigned m = (i >> BENCH_HIST_SUB_BITS) + BENCH_HIST_SUB_BITS - 1;
	unsigned shift = m - BENCH_HIST_SUB_BITS;
	uint64_t sub = i & (SUB - 1);
	return ((SUB + sub + 1) << shift) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t bench_hist_pct(const struct bench_hist *h, double pct)
{
	if (!h->count)
		return 0;
	/* the rank of the value wanted, 1-based: ceil(pct% of count) */
	double r = pct / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			/* the last bucket also holds everything above it */
			uint64_t top = i == BENCH_HIST_BUCKETS - 1
			                   ? UINT64_MAX
			                   : hist_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
