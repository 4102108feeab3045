/*
 * strmap.h - open-addressing hash map from byte strings to pointers.
 * Keys are borrowed: the caller keeps them alive while mapped (usually the
 * key lives in the value). Not thread-safe.
 */
#ifndef TERN_STRMAP_H
#define TERN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	const char *key;
	uint32_t len;
	uint32_t hash;
	void *val;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t count;
	size_t tombs;
};

uint32_t strmap_hash(const char *key, size_t len);

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m); /* values untouched */

/* Returns the value or NULL. */
void *strmap_get(const struct strmap *m, const char *key, size_t len);

/* Inserts or replaces. Returns 0 or TERN_ENOMEM (map unchanged). */
int strmap_put(struct strmap *m, const char *key, size_t len, void *val);

/* Removes; returns the old value or NULL. */
void *strmap_del(struct strmap *m, const char *key, size_t len);

/* Iteration: for (size_t i = 0; strmap_next(m, &i, &k, &l, &v);) */
int strmap_next(const struct strmap *m, size_t *i, const char **key,
		size_t *len, void **val);

#endif
