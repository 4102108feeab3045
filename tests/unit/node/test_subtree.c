/*
 * test_subtree.c - the subscription trie: add/replace/remove and their
 * first/last flags, matching cross-checked against topic_matches(), $-topics
 * [MQTT-4.7.2-1], large fan-outs, allocation failures, and that removing
 * everything gives every byte back.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_BYTES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_BYTES 1
#endif
#endif
#ifndef HEAP_BYTES
#define HEAP_BYTES 0
#endif

#include "subtree.h"
#include "tern_err.h"
#include "topic.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ----------------------------------------------------------- */

#if HEAP_BYTES
/* From the sanitizer runtime (gcc ships no allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/*
 * Bytes the process holds on the heap now, as the sanitizer allocator
 * counts them; 0 without ASan (glibc's mallinfo counts tcache'd chunks as
 * in use, so it cannot tell), which turns the byte checks into no-ops.
 */
static size_t live_bytes(void)
{
#if HEAP_BYTES
	return __sanitizer_get_current_allocated_bytes();
#else
	return 0;
#endif
}

/*
 * Fault injection: subtree.c asks this (a weak symbol there) before each
 * allocation. fault_after < 0: never fail; otherwise that many allocations
 * succeed and every later one fails.
 */
static long fault_after = -1;

bool subtree_fault_alloc(void);
bool subtree_fault_alloc(void)
{
	if (fault_after < 0)
		return false;
	if (fault_after == 0)
		return true;
	fault_after--;
	return false;
}

static int add(struct subtree *t, const char *f, void *owner, uint32_t sub_id,
               uint8_t opts, bool *replaced, bool *first)
{
	struct subtree_entry e = {
	    .owner = owner, .sub_id = sub_id, .opts = opts};

	return subtree_add(t, f, strlen(f), &e, replaced, first);
}

static int del(struct subtree *t, const char *f, void *owner, bool *last)
{
	return subtree_remove(t, f, strlen(f), owner, last);
}

struct hit {
	const void *owner;
	uint32_t sub_id;
	uint8_t opts;
};

struct hits {
	size_t n, cap;
	struct hit *v;
};

static void collect(void *ctx, const struct subtree_entry *e)
{
	struct hits *h = ctx;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		cr_assert_not_null(h->v);
	}
	h->v[h->n++] = (struct hit){e->owner, e->sub_id, e->opts};
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->sub_id != y->sub_id)
		return x->sub_id < y->sub_id ? -1 : 1;
	if (x->owner != y->owner)
		return (uintptr_t)x->owner < (uintptr_t)y->owner ? -1 : 1;
	return 0;
}

/* Sorted matches of topic; the caller frees h->v. */
static void match(const struct subtree *t, const char *topic, struct hits *h)
{
	h->n = 0;
	subtree_match(t, topic, strlen(topic), collect, h);
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
}

static size_t count_matches(const struct subtree *t, const char *topic)
{
	struct hits h = {0};
	size_t n;

	match(t, topic, &h);
	n = h.n;
	free(h.v);
	return n;
}

/* True if exactly `owner` (once) matches topic. */
static bool only_match(const struct subtree *t, const char *topic,
                       const void *owner)
{
	struct hits h = {0};
	bool ok;

	match(t, topic, &h);
	ok = h.n == 1 && h.v[0].owner == owner;
	free(h.v);
	return ok;
}

/*
 * Scale tests check behaviour at size, not speed (no timed assertions):
 * quadratic behaviour would run into ctest's timeout.
 */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*, fixed seed per test */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static char owners[512]; /* owner identities: &owners[i] */

/* ---- basics ------------------------------------------------------------ */

Test(subtree, new_and_free)
{
	struct subtree *t = subtree_new();

	cr_assert_not_null(t);
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_eq(count_matches(t, "a"), 0);
	subtree_free(t);
	subtree_free(NULL);
}

Test(subtree, add_first_and_replace)
{
	struct subtree *t = subtree_new();
	bool replaced = true, first = false;
	struct hits h = {0};

	cr_assert_eq(add(t, "a/b", &owners[1], 7, 1, &replaced, &first), 0);
	cr_expect(first);
	cr_expect_not(replaced);
	cr_expect_eq(subtree_count(t), 1);

	cr_assert_eq(add(t, "a/b", &owners[2], 0, 2, &replaced, &first), 0);
	cr_expect_not(first, "second subscriber is not the first");
	cr_expect_not(replaced);
	cr_expect_eq(subtree_count(t), 2);

	cr_assert_eq(add(t, "a/b", &owners[1], 9, 0x21, &replaced, &first), 0);
	cr_expect(replaced, "same filter and owner replaces");
	cr_expect_not(first);
	cr_expect_eq(subtree_count(t), 2);

	/* options and subscription identifier were updated in place */
	match(t, "a/b", &h);
	cr_assert_eq(h.n, 2);
	for (size_t i = 0; i < h.n; i++) {
		if (h.v[i].owner == &owners[1]) {
			cr_expect_eq(h.v[i].sub_id, 9);
			cr_expect_eq(h.v[i].opts, 0x21);
		} else {
			cr_expect_eq(h.v[i].owner, &owners[2]);
			cr_expect_eq(h.v[i].opts, 2);
		}
	}
	free(h.v);

	/* an interior node gets its first subscriber */
	cr_assert_eq(add(t, "a", &owners[1], 0, 0, &replaced, &first), 0);
	cr_expect(first);
	cr_expect_not(replaced);
	/* NULL flag pointers are fine */
	cr_assert_eq(add(t, "a/b/c", &owners[3], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b/c", &owners[3], 0, 0, NULL, NULL), 0);
	cr_expect_eq(subtree_count(t), 4);
	subtree_free(t);
}

Test(subtree, remove_last_and_not_found)
{
	struct subtree *t = subtree_new();
	bool last = true;

	cr_assert_eq(add(t, "a/b", &owners[1], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b", &owners[2], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b/c", &owners[1], 0, 0, NULL, NULL), 0);

	cr_expect_eq(del(t, "a/b", &owners[3], &last), TERN_ENOTFOUND);
	cr_expect_eq(del(t, "a", &owners[1], &last), TERN_ENOTFOUND);
	cr_expect_eq(del(t, "a/b/c/d", &owners[1], &last), TERN_ENOTFOUND);
	cr_expect_eq(del(t, "a/+", &owners[1], &last), TERN_ENOTFOUND);
	cr_expect_eq(del(t, "x", &owners[1], &last), TERN_ENOTFOUND);
	cr_expect_eq(subtree_count(t), 3);

	cr_assert_eq(del(t, "a/b", &owners[1], &last), 0);
	cr_expect_not(last, "owner 2 still holds a/b");
	cr_expect_eq(del(t, "a/b", &owners[1], &last), TERN_ENOTFOUND);
	cr_assert_eq(del(t, "a/b", &owners[2], &last), 0);
	cr_expect(last);
	cr_expect_eq(subtree_count(t), 1);
	/* the node stays for its child; the child still matches */
	cr_expect(only_match(t, "a/b/c", &owners[1]));
	cr_expect_eq(count_matches(t, "a/b"), 0);
	cr_assert_eq(del(t, "a/b/c", &owners[1], NULL), 0);
	cr_expect_eq(subtree_count(t), 0);
	subtree_free(t);
}

Test(subtree, remove_keeps_ancestors_and_siblings)
{
	struct subtree *t = subtree_new();
	bool first;

	cr_assert_eq(add(t, "a", &owners[1], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b/c/d", &owners[2], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b/x", &owners[3], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/+/c", &owners[4], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/#", &owners[5], 0, 0, NULL, NULL), 0);

	cr_assert_eq(del(t, "a/b/c/d", &owners[2], NULL), 0);
	cr_expect_eq(count_matches(t, "a/b/x"), 2);
	cr_expect_eq(count_matches(t, "a/b/c"), 2); /* a/+/c, a/# */
	cr_expect_eq(count_matches(t, "a"), 2);     /* a, a/# */
	cr_assert_eq(del(t, "a/#", &owners[5], NULL), 0);
	cr_expect(only_match(t, "a", &owners[1]));
	cr_expect(only_match(t, "a/b/x", &owners[3]));
	cr_expect(only_match(t, "a/q/c", &owners[4]));
	cr_assert_eq(del(t, "a/+/c", &owners[4], NULL), 0);
	cr_assert_eq(del(t, "a/b/x", &owners[3], NULL), 0);
	cr_expect(only_match(t, "a", &owners[1]));
	cr_assert_eq(add(t, "a/b/c/d", &owners[2], 0, 0, NULL, &first), 0);
	cr_expect(first, "the filter was gone");
	subtree_free(t);
}

/* Filters are byte ranges: bytes past len are not part of them. */
Test(subtree, byte_ranges)
{
	struct subtree *t = subtree_new();
	struct subtree_entry e = {.owner = &owners[1]};
	struct hits h = {0};

	cr_assert_eq(subtree_add(t, "a/bXYZ", 3, &e, NULL, NULL), 0);
	subtree_match(t, "a/b/c", 3, collect, &h);
	cr_expect_eq(h.n, 1);
	h.n = 0;
	subtree_match(t, "a/bX", 4, collect, &h);
	cr_expect_eq(h.n, 0);
	cr_expect_eq(subtree_remove(t, "a/bQQ", 3, &owners[1], NULL), 0);
	cr_expect_eq(subtree_count(t), 0);
	free(h.v);
	subtree_free(t);
}

Test(subtree, invalid_lengths)
{
	struct subtree *t = subtree_new();
	struct subtree_entry e = {.owner = &owners[1]};

	cr_expect_eq(subtree_add(t, "", 0, &e, NULL, NULL), TERN_EINVAL);
	cr_expect_eq(subtree_add(t, "a", 65536, &e, NULL, NULL), TERN_EINVAL);
	cr_expect_eq(subtree_remove(t, "", 0, &owners[1], NULL),
	             TERN_ENOTFOUND);
	cr_expect_eq(subtree_count(t), 0);
	subtree_match(t, "", 0, collect, NULL); /* no callback */
	subtree_free(t);
}

/* ---- matching rules ---------------------------------------------------- */

/* [MQTT-4.7.1-2]: "#" also matches the parent level. */
Test(subtree, mqtt_4_7_1_2_hash_matches_parent)
{
	struct subtree *t = subtree_new();

	cr_assert_eq(add(t, "sport/#", &owners[1], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "#", &owners[2], 0, 0, NULL, NULL), 0);
	cr_expect_eq(count_matches(t, "sport"), 2);
	cr_expect_eq(count_matches(t, "sport/"), 2);
	cr_expect_eq(count_matches(t, "sport/x/y"), 2);
	cr_expect(only_match(t, "sports", &owners[2]));
	cr_expect(only_match(t, "/sport", &owners[2]));
	subtree_free(t);
}

/* [MQTT-4.7.1-3]: "+" is exactly one level, possibly empty. */
Test(subtree, mqtt_4_7_1_3_plus_one_level)
{
	struct subtree *t = subtree_new();

	cr_assert_eq(add(t, "sport/+", &owners[1], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "+/+", &owners[2], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "+", &owners[3], 0, 0, NULL, NULL), 0);
	cr_expect(only_match(t, "sport", &owners[3]));
	cr_expect_eq(count_matches(t, "sport/"), 2); /* sport/+ and +/+ */
	cr_expect(only_match(t, "/finance", &owners[2]));
	cr_expect_eq(count_matches(t, "sport/a/b"), 0);
	cr_expect(only_match(t, "/", &owners[2]));
	subtree_free(t);
}

/* [MQTT-4.7.2-1] */
Test(subtree, mqtt_4_7_2_1_dollar_topics)
{
	struct subtree *t = subtree_new();

	cr_assert_eq(add(t, "#", &owners[1], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "+/x", &owners[2], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "+", &owners[3], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "+/#", &owners[4], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "$SYS/#", &owners[5], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "$SYS/+", &owners[6], 0, 0, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/+", &owners[7], 0, 0, NULL, NULL), 0);

	cr_expect(only_match(t, "$SYS", &owners[5]));
	cr_expect_eq(count_matches(t, "$SYS/x"), 2); /* $SYS/# and $SYS/+ */
	cr_expect(only_match(t, "$SYS/x/y", &owners[5]));
	cr_expect_eq(count_matches(t, "$other/x"), 0);
	cr_expect_eq(count_matches(t, "SYS/x"), 3);  /* #, +/x, +/# */
	cr_expect_eq(count_matches(t, "a/$SYS"), 3); /* #, +/#, a/+ */
	cr_expect_eq(count_matches(t, "a$"), 3);     /* #, +, +/# */
	subtree_free(t);
}

Test(subtree, same_owner_several_filters)
{
	struct subtree *t = subtree_new();
	static const char *f[] = {"a/b", "a/+", "+/b", "#", "a/#", "+/+"};

	for (size_t i = 0; i < N_ELEMS(f); i++)
		cr_assert_eq(
		    add(t, f[i], &owners[1], (uint32_t)i, 0, NULL, NULL), 0);
	cr_expect_eq(count_matches(t, "a/b"), N_ELEMS(f));
	cr_expect_eq(subtree_count(t), N_ELEMS(f));
	subtree_free(t);
}

/* ---- randomized cross-check against topic_matches() -------------------- */

#define RF_FILTERS 2000
#define RF_TOPICS  2000
#define RF_OWNERS  64

struct model {
	size_t nf; /* distinct filters */
	char filter[RF_FILTERS][32];
	bool held[RF_FILTERS][RF_OWNERS];
	size_t count;
};

/* Filters and names over a small alphabet, so that they collide often. */
static void random_filter(char *buf)
{
	static const char *lv[] = {"a", "b", "c", "$x", "", "+"};

	do {
		unsigned depth = 1 + rnd(4);

		buf[0] = '\0';
		for (unsigned i = 0; i < depth; i++) {
			if (i)
				strcat(buf, "/");
			if (i + 1 == depth && rnd(5) == 0)
				strcat(buf, "#");
			else
				strcat(buf, lv[rnd(N_ELEMS(lv))]);
		}
	} while (buf[0] == '\0'); /* a lone "" level is no filter */
}

static void random_topic(char *buf)
{
	static const char *lv[] = {"a", "b", "c", "$x", ""};

	do {
		unsigned depth = 1 + rnd(5);

		buf[0] = '\0';
		for (unsigned i = 0; i < depth; i++) {
			if (i)
				strcat(buf, "/");
			strcat(buf, lv[rnd(N_ELEMS(lv))]);
		}
	} while (buf[0] == '\0');
}

static size_t model_filter_id(struct model *m, const char *f)
{
	for (size_t i = 0; i < m->nf; i++)
		if (strcmp(m->filter[i], f) == 0)
			return i;
	strcpy(m->filter[m->nf], f);
	return m->nf++;
}

static bool model_any(const struct model *m, size_t fid)
{
	for (size_t o = 0; o < RF_OWNERS; o++)
		if (m->held[fid][o])
			return true;
	return false;
}

/* subtree_match(topic) == brute force over the model, as multisets. */
static void cross_check(const struct subtree *t, const struct model *m,
                        const char *topic, struct hits *got, struct hits *want)
{
	size_t tl = strlen(topic);

	match(t, topic, got);
	want->n = 0;
	for (size_t f = 0; f < m->nf; f++) {
		if (!topic_matches(m->filter[f], strlen(m->filter[f]), topic,
		                   tl))
			continue;
		for (size_t o = 0; o < RF_OWNERS; o++) {
			struct subtree_entry e = {.owner = &owners[o],
			                          .sub_id = (uint32_t)f,
			                          .opts = (uint8_t)f};

			if (m->held[f][o])
				collect(want, &e);
		}
	}
	if (want->n)
		qsort(want->v, want->n, sizeof(*want->v), hit_cmp);
	cr_assert_eq(got->n, want->n, "topic \"%s\": %zu matches, want %zu",
	             topic, got->n, want->n);
	for (size_t i = 0; i < got->n; i++) {
		cr_assert_eq(hit_cmp(&got->v[i], &want->v[i]), 0,
		             "topic \"%s\": match %zu differs", topic, i);
		cr_assert_eq(got->v[i].opts, (uint8_t)got->v[i].sub_id);
	}
}

Test(subtree, random_cross_check_with_topic_matches)
{
	size_t base = live_bytes(), remaining;
	struct model *m = calloc(1, sizeof(*m));
	struct hits got = {0}, want = {0};
	struct subtree *t;
	char buf[64];

	cr_assert_not_null(m);
	rng_state = 0x7465726e2d746f70ull; /* fixed seed */
	t = subtree_new();
	cr_assert_not_null(t);

	for (size_t i = 0; i < RF_FILTERS; i++) {
		size_t f, o = rnd(RF_OWNERS);
		bool replaced, first, had_any;

		random_filter(buf);
		cr_assert(topic_filter_valid(buf, strlen(buf), 0), "%s", buf);
		f = model_filter_id(m, buf);
		had_any = model_any(m, f);
		cr_assert_eq(add(t, buf, &owners[o], (uint32_t)f, (uint8_t)f,
		                 &replaced, &first),
		             0);
		cr_assert_eq(replaced, m->held[f][o], "%s", buf);
		cr_assert_eq(first, !had_any, "%s", buf);
		if (!m->held[f][o])
			m->count++;
		m->held[f][o] = true;
		cr_assert_eq(subtree_count(t), m->count);
	}

	for (size_t i = 0; i < RF_TOPICS; i++) {
		random_topic(buf);
		cr_assert(topic_name_valid(buf, strlen(buf), 0), "%s", buf);
		cross_check(t, m, buf, &got, &want);
	}

	/* Remove about half (and some pairs that are not held). */
	for (size_t f = 0; f < m->nf; f++) {
		for (size_t o = 0; o < RF_OWNERS; o++) {
			bool last = false;
			int rc;

			if (rnd(2))
				continue;
			rc = del(t, m->filter[f], &owners[o], &last);
			if (!m->held[f][o]) {
				cr_assert_eq(rc, TERN_ENOTFOUND);
				continue;
			}
			cr_assert_eq(rc, 0);
			m->held[f][o] = false;
			m->count--;
			cr_assert_eq(last, !model_any(m, f), "%s",
			             m->filter[f]);
		}
	}
	cr_assert_eq(subtree_count(t), m->count);
	for (size_t i = 0; i < RF_TOPICS; i++) {
		random_topic(buf);
		cross_check(t, m, buf, &got, &want);
	}

	/* Remove everything, in filter order reversed. */
	remaining = m->count;
	for (size_t f = m->nf; f-- > 0;) {
		for (size_t o = 0; o < RF_OWNERS; o++) {
			if (!m->held[f][o])
				continue;
			cr_assert_eq(del(t, m->filter[f], &owners[o], NULL), 0);
			m->held[f][o] = false;
			remaining--;
		}
	}
	cr_assert_eq(remaining, 0);
	cr_assert_eq(subtree_count(t), 0);
	cr_assert_eq(count_matches(t, "a"), 0);
	subtree_free(t);
	free(got.v);
	free(want.v);
	free(m);
	cr_expect_eq(live_bytes(), base, "leaked %zd bytes",
	             (ssize_t)(live_bytes() - base));
}

/* After removing everything only the empty tree remains: no node or
 * container is left behind. */
Test(subtree, remove_all_gives_memory_back)
{
	static const char *f[] = {"a", "a/b", "a/+/c", "#",
	                          "+", "+/+", "a/#",   "$SYS/#",
	                          "/", "//",  "a//b",  "x/y/z/w/v"};
	struct subtree *t = subtree_new();
	size_t empty = live_bytes(), full;
	char buf[32];

	for (size_t o = 0; o < 40; o++)
		for (size_t i = 0; i < N_ELEMS(f); i++)
			cr_assert_eq(add(t, f[i], &owners[o], 0, 0, NULL, NULL),
			             0);
	for (size_t i = 0; i < 300; i++) { /* a wide level */
		snprintf(buf, sizeof(buf), "w/%zu/#", i);
		cr_assert_eq(add(t, buf, &owners[i % 3], 0, 0, NULL, NULL), 0);
	}
	full = live_bytes();
	cr_expect(full > empty || !HEAP_BYTES);
	for (size_t i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "w/%zu/#", i);
		cr_assert_eq(del(t, buf, &owners[i % 3], NULL), 0);
	}
	for (size_t i = 0; i < N_ELEMS(f); i++)
		for (size_t o = 0; o < 40; o++)
			cr_assert_eq(del(t, f[i], &owners[o], NULL), 0);
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_eq(live_bytes(), empty, "%zd bytes left in the empty tree",
	             (ssize_t)(live_bytes() - empty));
	subtree_free(t);
}

/* ---- scale ------------------------------------------------------------- */

static void many_owners_one_filter(size_t n)
{
	struct subtree *t = subtree_new();
	char *o = calloc(n, 1);
	bool replaced, first, last;
	size_t base = live_bytes();

	cr_assert_not_null(o);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(add(t, "fleet/+/cmd", &o[i], (uint32_t)i, 1,
		                 &replaced, &first),
		             0);
		cr_assert_eq(first, i == 0);
		cr_assert_not(replaced);
	}
	cr_assert_eq(subtree_count(t), n);
	cr_assert_eq(count_matches(t, "fleet/7/cmd"), n);
	for (size_t i = 0; i < n; i += 2) {
		cr_assert_eq(
		    add(t, "fleet/+/cmd", &o[i], 0, 2, &replaced, &first), 0);
		cr_assert(replaced);
		cr_assert_not(first);
	}
	cr_assert_eq(subtree_count(t), n);
	/* remove from both ends towards the middle */
	for (size_t i = 0; i < n; i++) {
		size_t k = i % 2 ? n - 1 - i / 2 : i / 2;

		cr_assert_eq(del(t, "fleet/+/cmd", &o[k], &last), 0);
		cr_assert_eq(last, i + 1 == n);
		cr_assert_eq(del(t, "fleet/+/cmd", &o[k], &last),
		             TERN_ENOTFOUND);
	}
	cr_assert_eq(subtree_count(t), 0);
	cr_expect_eq(live_bytes(), base); /* entry array and index freed */
	subtree_free(t);
	free(o);
}

Test(subtree, ten_thousand_owners_one_filter)
{
	many_owners_one_filter(10000);
}

/* Quadratic add/remove would take minutes here. */
Test(subtree, quarter_million_owners_one_filter)
{
	many_owners_one_filter(250000);
}

static void many_filters_one_level(size_t n)
{
	struct subtree *t = subtree_new();
	struct hits h = {0};
	char buf[48];
	bool first, last;

	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "dev/%zx/state", i * 2654435761u);
		cr_assert_eq(
		    add(t, buf, &owners[i % 512], (uint32_t)i, 0, NULL, &first),
		    0);
		cr_assert(first);
	}
	cr_assert_eq(add(t, "dev/+/state", &owners[0], 0, 0, NULL, NULL), 0);
	cr_assert_eq(subtree_count(t), n + 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "dev/%zx/state", i * 2654435761u);
		match(t, buf, &h);
		cr_assert_eq(h.n, 2, "%s", buf);
		cr_assert(h.v[0].sub_id == i || h.v[1].sub_id == i);
	}
	free(h.v);
	cr_assert_eq(count_matches(t, "dev/nope/state"), 1);
	cr_assert_eq(count_matches(t, "dev/nope"), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "dev/%zx/state", i * 2654435761u);
		cr_assert_eq(del(t, buf, &owners[i % 512], &last), 0);
		cr_assert(last);
	}
	cr_assert(only_match(t, "dev/x/state", &owners[0]));
	cr_assert_eq(del(t, "dev/+/state", &owners[0], NULL), 0);
	cr_assert_eq(subtree_count(t), 0);
	subtree_free(t);
}

Test(subtree, ten_thousand_filters_one_level)
{
	many_filters_one_level(10000);
}

/* Fan-out of device topics under one level: O(1) lookups. */
Test(subtree, fanout_200k_under_one_level)
{
	many_filters_one_level(200000);
}

/* 65535-byte filters: 32768 levels; nothing recurses per level. */
Test(subtree, deepest_filter)
{
	struct subtree *t = subtree_new();
	struct subtree_entry e = {.owner = &owners[1]};
	size_t len = 65535;
	char *f = malloc(len);
	struct hits h = {0};

	cr_assert_not_null(f);
	for (size_t i = 0; i < len; i++)
		f[i] = i % 2 ? '/' : 'a'; /* "a/a/.../a" */
	cr_assert_eq(subtree_add(t, f, len, &e, NULL, NULL), 0);
	f[len - 1] = '#'; /* "a/.../a/#" */
	cr_assert_eq(subtree_add(t, f, len, &e, NULL, NULL), 0);
	f[len - 1] = 'a';
	subtree_match(t, f, len, collect, &h);
	cr_expect_eq(h.n, 2);
	h.n = 0;
	subtree_match(t, f, len - 2, collect, &h); /* "#" matches the parent */
	cr_expect_eq(h.n, 1);
	cr_assert_eq(subtree_remove(t, f, len - 2, &owners[1], NULL),
	             TERN_ENOTFOUND);
	cr_assert_eq(subtree_remove(t, f, len, &owners[1], NULL), 0);
	cr_expect_eq(subtree_count(t), 1);
	subtree_free(t); /* frees the other deep chain */

	/*
	 * Matching recurses once per '+' level on the way down (about 100
	 * bytes of stack each, more under sanitizers): 4096 of them here.
	 */
	t = subtree_new();
	for (size_t i = 0; i < 8191; i++)
		f[i] = i % 2 ? '/' : '+';
	cr_assert_eq(subtree_add(t, f, 8191, &e, NULL, NULL), 0);
	for (size_t i = 0; i < 8191; i++)
		f[i] = i % 2 ? '/' : 'a';
	h.n = 0;
	subtree_match(t, f, 8191, collect, &h);
	cr_expect_eq(h.n, 1);
	h.n = 0;
	subtree_match(t, f, 8189, collect, &h);
	cr_expect_eq(h.n, 0);
	subtree_free(t);
	free(h.v);
	free(f);
}

/* ---- allocation failures ----------------------------------------------- */

static const char *probe_topics[] = {
    "a",      "a/b",     "a/b/c", "k/1", "k/9",     "k/new",
    "$SYS/x", "x/y/z/w", "new/a", "/",   "a/b/c/d", "e/e",
};

struct snapshot {
	size_t count;
	size_t n[N_ELEMS(probe_topics)];
	struct hits h[N_ELEMS(probe_topics)];
};

static void snap(const struct subtree *t, struct snapshot *s)
{
	s->count = subtree_count(t);
	for (size_t i = 0; i < N_ELEMS(probe_topics); i++) {
		match(t, probe_topics[i], &s->h[i]);
		s->n[i] = s->h[i].n;
	}
}

static void snap_expect_same(const struct subtree *t, struct snapshot *s,
                             const char *what)
{
	struct hits h = {0};

	cr_assert_eq(subtree_count(t), s->count, "%s", what);
	for (size_t i = 0; i < N_ELEMS(probe_topics); i++) {
		match(t, probe_topics[i], &h);
		cr_assert_eq(h.n, s->n[i], "%s: %s", what, probe_topics[i]);
		for (size_t k = 0; k < h.n; k++) {
			cr_assert_eq(h.v[k].owner, s->h[i].v[k].owner, "%s",
			             what);
			cr_assert_eq(h.v[k].sub_id, s->h[i].v[k].sub_id, "%s",
			             what);
			cr_assert_eq(h.v[k].opts, s->h[i].v[k].opts, "%s",
			             what);
		}
	}
	free(h.v);
}

static void snap_free(struct snapshot *s)
{
	for (size_t i = 0; i < N_ELEMS(probe_topics); i++)
		free(s->h[i].v);
}

/* A tree whose nodes sit at each container boundary. */
static struct subtree *fault_tree(void)
{
	struct subtree *t = subtree_new();
	char buf[32];

	cr_assert_not_null(t);
	cr_assert_eq(add(t, "a/b", &owners[0], 1, 1, NULL, NULL), 0);
	cr_assert_eq(add(t, "a/b/c", &owners[0], 2, 2, NULL, NULL), 0);
	for (int i = 0; i < 8; i++) { /* k: an array about to be a table */
		snprintf(buf, sizeof(buf), "k/%d", i);
		cr_assert_eq(add(t, buf, &owners[i], 3, 3, NULL, NULL), 0);
	}
	for (int i = 0; i < 16; i++) /* e/e: entries about to be indexed */
		cr_assert_eq(add(t, "e/e", &owners[i], 4, 4, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) /* a: entries array full */
		cr_assert_eq(add(t, "a", &owners[i], 5, 5, NULL, NULL), 0);
	for (int i = 0; i < 16; i++) { /* m: a table about to grow */
		snprintf(buf, sizeof(buf), "m/%d", i);
		cr_assert_eq(add(t, buf, &owners[i], 3, 3, NULL, NULL), 0);
	}
	return t;
}

struct fault_op {
	const char *filter;
	size_t owner;
};

/* Every allocation of each add fails in turn; the tree must not change. */
Test(subtree, enomem_leaves_tree_unchanged)
{
	static const struct fault_op ops[] = {
	    {"new/a/b/c/+/#", 1}, /* a fresh chain with every child kind */
	    {"k/new", 1},         /* array -> table */
	    {"k/8/+/x", 1},
	    {"e/e", 100},   /* 16 -> 17 entries: owner index */
	    {"a", 100},     /* entry array grows */
	    {"a/b", 100},   /* 1 -> 2 entries */
	    {"a/b/c/d", 1}, /* new leaf under a node with entries */
	    {"m/16", 1},    /* table grows */
	    {"a/+", 1},     /* '+' child */
	    {"a/#", 1},     /* '#' child */
	    {"#", 1},
	};

	for (size_t i = 0; i < N_ELEMS(ops); i++) {
		size_t base = live_bytes();
		struct subtree *t = fault_tree();
		struct snapshot s = {0};
		long k;
		int rc = TERN_ENOMEM;

		snap(t, &s);
		for (k = 0; rc == TERN_ENOMEM; k++) {
			bool first = false, replaced = false;

			cr_assert_lt(k, 64, "%s never succeeds", ops[i].filter);
			fault_after = k;
			rc = add(t, ops[i].filter, &owners[ops[i].owner], 9, 9,
			         &replaced, &first);
			fault_after = -1;
			if (rc == TERN_ENOMEM) {
				snap_expect_same(t, &s, ops[i].filter);
				continue;
			}
			cr_assert_eq(rc, 0);
			cr_assert_eq(subtree_count(t), s.count + 1);
			cr_assert_not(replaced);
		}
		cr_expect_gt(k, 1, "%s: no allocation was failed",
		             ops[i].filter);
		/* removal never fails, even when shrinking cannot allocate */
		fault_after = 0;
		cr_assert_eq(del(t, ops[i].filter, &owners[ops[i].owner], NULL),
		             0);
		fault_after = -1;
		snap_expect_same(t, &s, "after removal");
		snap_free(&s);
		subtree_free(t);
		cr_expect_eq(live_bytes(), base, "%s: leaked", ops[i].filter);
	}
}

/* Removing everything while no allocation succeeds still empties it. */
Test(subtree, remove_under_enomem)
{
	size_t base = live_bytes();
	struct subtree *t = fault_tree();
	char buf[32];

	fault_after = 0;
	cr_assert_eq(del(t, "a/b", &owners[0], NULL), 0);
	cr_assert_eq(del(t, "a/b/c", &owners[0], NULL), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(buf, sizeof(buf), "k/%d", i);
		cr_assert_eq(del(t, buf, &owners[i], NULL), 0);
	}
	for (int i = 0; i < 16; i++)
		cr_assert_eq(del(t, "e/e", &owners[i], NULL), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(del(t, "a", &owners[i], NULL), 0);
	for (int i = 0; i < 16; i++) {
		snprintf(buf, sizeof(buf), "m/%d", i);
		cr_assert_eq(del(t, buf, &owners[i], NULL), 0);
	}
	fault_after = -1;
	cr_assert_eq(subtree_count(t), 0);
	cr_assert_eq(count_matches(t, "a/b"), 0);
	subtree_free(t);
	cr_expect_eq(live_bytes(), base);
}

Test(subtree, new_under_enomem)
{
	fault_after = 0;
	cr_expect_null(subtree_new());
	fault_after = 1;
	cr_expect_null(subtree_new());
	fault_after = -1;
}
