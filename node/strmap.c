#include "strmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tern_err.h"

/* A deleted slot keeps a non-NULL key marker and a NULL value. */
static const char strmap_tomb[1];

uint32_t strmap_hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)key[i];
		h *= 16777619u;
	}
	return h;
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	strmap_init(m);
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key,
				       size_t len, uint32_t h)
{
	size_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != strmap_tomb && s->hash == h && s->len == len &&
		    memcmp(s->key, key, len) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key, size_t len)
{
	struct strmap_slot *s = strmap_find(m, key, len, strmap_hash(key, len));

	return s ? s->val : NULL;
}

static int strmap_grow(struct strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct strmap_slot *slots, *old = m->slots;
	size_t old_cap = m->cap;

	if (m->count * 2 < m->cap)
		cap = m->cap; /* only tombstones to clear */
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return TERN_ENOMEM;
	m->slots = slots;
	m->cap = cap;
	m->tombs = 0;
	for (size_t i = 0; i < old_cap; i++) {
		struct strmap_slot *s = &old[i];

		if (!s->key || s->key == strmap_tomb)
			continue;
		for (size_t j = s->hash & (cap - 1);; j = (j + 1) & (cap - 1)) {
			if (!slots[j].key) {
				slots[j] = *s;
				break;
			}
		}
	}
	free(old);
	return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, void *val)
{
	uint32_t h = strmap_hash(key, len);
	struct strmap_slot *s = strmap_find(m, key, len, h);
	size_t mask;

	if (s) {
		s->key = key;
		s->val = val;
		return 0;
	}
	if ((m->count + m->tombs + 1) * 4 > m->cap * 3) {
		int rc = strmap_grow(m);
		if (rc)
			return rc;
	}
	mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		s = &m->slots[i];
		if (!s->key || s->key == strmap_tomb) {
			if (s->key == strmap_tomb)
				m->tombs--;
			s->key = key;
			s->len = (uint32_t)len;
			s->hash = h;
			s->val = val;
			m->count++;
			return 0;
		}
	}
}

void *strmap_del(struct strmap *m, const char *key, size_t len)
{
	struct strmap_slot *s = strmap_find(m, key, len, strmap_hash(key, len));
	void *val;

	if (!s)
		return NULL;
	val = s->val;
	s->key = strmap_tomb;
	s->val = NULL;
	m->count--;
	m->tombs++;
	return val;
}

int strmap_next(const struct strmap *m, size_t *i, const char **key,
		size_t *len, void **val)
{
	for (; *i < m->cap; (*i)++) {
		struct strmap_slot *s = &m->slots[*i];

		if (s->key && s->key != strmap_tomb) {
			*key = s->key;
			*len = s->len;
			*val = s->val;
			(*i)++;
			return 1;
		}
	}
	return 0;
}
