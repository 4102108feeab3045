/*
 * bench_seq.c - loss and duplicate tracking per (publisher, subscriber)
 * pair (see struct bench_seq in bench.h). MQTT keeps the order of one
 * publisher's messages on a topic, so nearly every arrival is `next` and
 * costs a compare and two increments; the window only matters for QoS 0
 * gaps and for brokers that reorder.
 */
#include <string.h>

#include "bench.h"

#define WORDS (BENCH_SEQ_WINDOW / 64)

static bool seq_bit(const struct bench_seq *s, uint64_t seq)
{
	uint64_t i = seq % BENCH_SEQ_WINDOW;
	return s->bits[i / 64] >> (i % 64) & 1;
}

static void seq_set(struct bench_seq *s, uint64_t seq, bool on)
{
	uint64_t i = seq % BENCH_SEQ_WINDOW;
	uint64_t m = UINT64_C(1) << (i % 64);
	if (on)
		s->bits[i / 64] |= m;
	else
		s->bits[i / 64] &= ~m;
}

bool bench_seq_add(struct bench_seq *s, uint64_t seq)
{
	if (seq < s->next) {
		s->dup++;
		return false;
	}
	if (seq >= s->next + BENCH_SEQ_WINDOW) {
		/* give up on the oldest gaps: slide so seq is the last slot */
		uint64_t new_next = seq - BENCH_SEQ_WINDOW + 1;
		if (new_next - s->next >= BENCH_SEQ_WINDOW) {
			memset(s->bits, 0, sizeof(s->bits));
			s->next = new_next;
		} else {
			while (s->next < new_next) {
				seq_set(s, s->next, false);
				s->next++;
			}
		}
	}
	if (seq == s->next && !seq_bit(s, seq + 1)) {
		/* the common case: in order, nothing pending behind it */
		s->next++;
		s->unique++;
		return true;
	}
	if (seq_bit(s, seq)) {
		s->dup++;
		return false;
	}
	seq_set(s, seq, true);
	s->unique++;
	while (seq_bit(s, s->next)) {
		seq_set(s, s->next, false);
		s->next++;
	}
	return true;
}
