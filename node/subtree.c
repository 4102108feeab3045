/*
 * subtree.c - the subscription trie (see subtree.h).
 *
 * One node per filter level. A node holds its level bytes inline (one
 * allocation per node); its '+' and '#' children in their own pointers; its
 * other children in the node itself when there is one, in an array of the
 * next power of two when there are 2 to ST_KIDS_ARRAY_MAX, and beyond that
 * in an open-addressing hash table keyed by the level bytes; and the
 * subscriptions whose filter ends there: the first one inline in the node,
 * two or more in a growable array that gets an owner -> index hash table
 * once it holds more than ST_ENTS_INDEX_MIN entries. Adding or removing one
 * subscription is thus O(filter length) amortized, however many siblings or
 * subscribers share a node; matching is O(levels + matches) along each
 * branch the topic can take (exact, '+', '#').
 *
 * Sizes on LP64: a node is offsetof(struct st_node, name) = 51 bytes plus
 * the level length, in one malloc (glibc rounds a chunk up to 8 bytes of
 * header plus a multiple of 16). A single child costs nothing more, 2 to 8
 * children 8 bytes each rounded up to a power of two, more than 8 children
 * 16 to 32 bytes each (table of 8-byte slots at load 1/4 to 1/2). A
 * filter's first subscriber is inline; two or more cost 16 bytes each in an
 * array that doubles (16-byte header), plus 8 to 16 bytes each of owner
 * index (4-byte slots at load 1/4 to 1/2) beyond ST_ENTS_INDEX_MIN.
 *
 * Every change that allocates does so before it modifies anything, so an
 * allocation failure leaves the tree as it was (a container may have grown,
 * which is invisible). Removal never fails: shrinking is best effort.
 *
 * Level hashing is unkeyed FNV-1a, so a subscriber able to create many
 * filters under one level could choose colliding levels and slow lookups
 * in that node down to a linear scan.
 */
#include "subtree.h"

#include "tern_err.h"

#include <stdlib.h>
#include <string.h>

#define ST_LEVEL_MAX       65535u /* a filter is at most 65535 bytes */
#define ST_KIDS_ARRAY_MAX  8u     /* more children: a hash table */
#define ST_KIDS_ARRAY_BACK 4u     /* a table shrinks back to an array here */
#define ST_MAP_MIN         16u    /* smallest hash table */
#define ST_ENTS_FIRST_CAP  4u     /* first entry array */
#define ST_ENTS_INDEX_MIN  16u    /* more entries: an owner index */
#define ST_NONE            UINT32_MAX

struct st_node;

/* Children by level bytes, linear probing, load at most 1/2. */
struct st_map {
	uint32_t cap; /* power of two */
	struct st_node *slot[];
};

/* Two or more subscriptions of one filter. */
struct st_ents {
	uint32_t cap;     /* entries allocated in e[] */
	uint32_t idx_cap; /* slots in idx, a power of two, or 0 */
	uint32_t *idx;    /* owner -> index + 1 (0: empty slot), or NULL */
	struct subtree_entry e[];
};

struct st_node {
	union {
		struct st_node *one;  /* !kids_is_map, nkids == 1 */
		struct st_node **arr; /* !kids_is_map, nkids >= 2 */
		struct st_map *map;   /* kids_is_map */
	} kids;
	struct st_node *plus; /* the '+' child */
	struct st_node *hash; /* the '#' child */
	union {
		struct subtree_entry one; /* nents == 1 */
		struct st_ents *many;     /* nents >= 2 */
		struct st_node *next;     /* free stack, while freeing */
	} ents;
	uint32_t nkids; /* children in kids (not counting plus and hash) */
	uint32_t nents;
	uint16_t len;
	uint8_t kids_is_map;
	char name[]; /* the level bytes, not NUL-terminated */
};

struct subtree {
	struct st_node *root; /* level "" above the first level */
	size_t count;
};

/*
 * Fault injection seam for tests: when a program defines this function,
 * every allocation made here asks it first and fails if it returns true.
 * The broker does not define it, so the weak reference is NULL.
 */
bool subtree_fault_alloc(void) __attribute__((weak));

static void *st_malloc(size_t size)
{
	if (subtree_fault_alloc && subtree_fault_alloc())
		return NULL;
	return malloc(size);
}

static void *st_calloc(size_t n, size_t size)
{
	if (subtree_fault_alloc && subtree_fault_alloc())
		return NULL;
	return calloc(n, size);
}

static void *st_realloc(void *p, size_t size)
{
	if (subtree_fault_alloc && subtree_fault_alloc())
		return NULL;
	return realloc(p, size);
}

static bool st_is_pow2(uint32_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static uint32_t st_pow2_ceil(uint32_t n)
{
	uint32_t c = 1;

	while (c < n)
		c <<= 1;
	return c;
}

/* Index one past the level that starts at pos: the next '/' or len. */
static size_t st_level_end(const char *s, size_t pos, size_t len)
{
	const char *p;

	if (pos >= len)
		return len;
	p = memchr(s + pos, '/', len - pos);
	return p ? (size_t)(p - s) : len;
}

static uint32_t st_hash_level(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32; /* fold the well-mixed high bits into the slot bits */
	return (uint32_t)h;
}

static uint32_t st_hash_owner(const void *owner)
{
	uint64_t x = (uint64_t)(uintptr_t)owner;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static bool st_is_level(const struct st_node *n, const char *lv, size_t ll)
{
	return n->len == ll && memcmp(n->name, lv, ll) == 0;
}

static bool st_is_plus(const struct st_node *n)
{
	return n->len == 1 && n->name[0] == '+';
}

static bool st_is_hash(const struct st_node *n)
{
	return n->len == 1 && n->name[0] == '#';
}

static struct st_node *st_node_new(const char *lv, size_t ll)
{
	struct st_node *n = st_malloc(offsetof(struct st_node, name) + ll);

	if (!n)
		return NULL;
	memset(n, 0, offsetof(struct st_node, name));
	n->len = (uint16_t)ll;
	if (ll)
		memcpy(n->name, lv, ll);
	return n;
}

/* ---- children: one pointer, a small array or a hash table ------------ */

/* Child k of a node whose children are not in a table (k < nkids). */
static struct st_node *st_arr_at(const struct st_node *n, uint32_t k)
{
	return n->nkids == 1 ? n->kids.one : n->kids.arr[k];
}

static void st_map_put(struct st_map *m, struct st_node *c)
{
	uint32_t mask = m->cap - 1;
	uint32_t i = st_hash_level(c->name, c->len) & mask;

	while (m->slot[i])
		i = (i + 1) & mask;
	m->slot[i] = c;
}

static void st_map_del(struct st_map *m, const struct st_node *c)
{
	uint32_t mask = m->cap - 1;
	uint32_t i = st_hash_level(c->name, c->len) & mask;
	uint32_t j;

	while (m->slot[i] != c)
		i = (i + 1) & mask;
	/* Backward-shift deletion: pull later members of the run into the
	 * hole unless their home slot lies cyclically in (i, j]. */
	for (j = i;;) {
		uint32_t k;

		j = (j + 1) & mask;
		if (!m->slot[j])
			break;
		k = st_hash_level(m->slot[j]->name, m->slot[j]->len) & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->slot[i] = m->slot[j];
		i = j;
	}
	m->slot[i] = NULL;
}

/* Smallest table holding n children at load at most 1/2. */
static uint32_t st_map_cap_for(uint32_t n)
{
	uint32_t cap = ST_MAP_MIN;

	while (cap / 2 < n)
		cap <<= 1;
	return cap;
}

/* Moves n's children into a new table of cap slots. 0 or TERN_ENOMEM. */
static int st_map_rebuild(struct st_node *n, uint32_t cap)
{
	struct st_map *m;

	m = st_calloc(1, sizeof(*m) + (size_t)cap * sizeof(m->slot[0]));
	if (!m)
		return TERN_ENOMEM;
	m->cap = cap;
	if (n->kids_is_map) {
		for (uint32_t i = 0; i < n->kids.map->cap; i++)
			if (n->kids.map->slot[i])
				st_map_put(m, n->kids.map->slot[i]);
		free(n->kids.map);
	} else {
		for (uint32_t k = 0; k < n->nkids; k++)
			st_map_put(m, st_arr_at(n, k));
		if (n->nkids > 1)
			free(n->kids.arr);
	}
	n->kids.map = m;
	n->kids_is_map = 1;
	return 0;
}

/* Back from a table (n->nkids <= ST_KIDS_ARRAY_BACK); best effort. */
static void st_map_to_array(struct st_node *n)
{
	struct st_map *m = n->kids.map;
	struct st_node **arr = NULL, *one = NULL;
	uint32_t k = 0;

	if (n->nkids > 1) {
		arr = st_malloc(st_pow2_ceil(n->nkids) * sizeof(*arr));
		if (!arr)
			return;
	}
	for (uint32_t i = 0; i < m->cap; i++) {
		if (!m->slot[i])
			continue;
		if (arr)
			arr[k++] = m->slot[i];
		else
			one = m->slot[i];
	}
	free(m);
	if (arr)
		n->kids.arr = arr;
	else
		n->kids.one = one;
	n->kids_is_map = 0;
}

static struct st_node *st_kid_find(const struct st_node *n, const char *lv,
                                   size_t ll)
{
	const struct st_map *m;
	uint32_t mask, i;

	if (!n->kids_is_map) {
		for (uint32_t k = 0; k < n->nkids; k++)
			if (st_is_level(st_arr_at(n, k), lv, ll))
				return st_arr_at(n, k);
		return NULL;
	}
	m = n->kids.map;
	mask = m->cap - 1;
	for (i = st_hash_level(lv, ll) & mask; m->slot[i]; i = (i + 1) & mask)
		if (st_is_level(m->slot[i], lv, ll))
			return m->slot[i];
	return NULL;
}

/*
 * Adds child c (not '+' or '#'). 0, or TERN_ENOMEM with n unchanged.
 * A first child never allocates.
 */
static int st_kids_add(struct st_node *n, struct st_node *c)
{
	uint32_t k = n->nkids;
	struct st_node **arr;

	if (k >= UINT32_MAX / 4)
		return TERN_ENOMEM;
	if (!n->kids_is_map && k == ST_KIDS_ARRAY_MAX &&
	    st_map_rebuild(n, st_map_cap_for(k + 1)) != 0)
		return TERN_ENOMEM;
	if (n->kids_is_map) {
		if ((size_t)(k + 1) * 2 > n->kids.map->cap &&
		    st_map_rebuild(n, st_map_cap_for(k + 1)) != 0)
			return TERN_ENOMEM;
		st_map_put(n->kids.map, c);
	} else if (k == 0) {
		n->kids.one = c;
	} else if (k == 1) {
		arr = st_malloc(2 * sizeof(*arr));
		if (!arr)
			return TERN_ENOMEM;
		arr[0] = n->kids.one;
		arr[1] = c;
		n->kids.arr = arr;
	} else {
		/* An array of k >= 2 has at least st_pow2_ceil(k) slots. */
		if (st_is_pow2(k)) {
			arr = st_realloc(n->kids.arr, 2 * k * sizeof(*arr));
			if (!arr)
				return TERN_ENOMEM;
			n->kids.arr = arr;
		}
		n->kids.arr[k] = c;
	}
	n->nkids++;
	return 0;
}

/* Removes child c; never fails (shrinking is best effort). */
static void st_kids_unlink(struct st_node *n, const struct st_node *c)
{
	struct st_node **arr;
	uint32_t k;

	if (n->kids_is_map) {
		st_map_del(n->kids.map, c);
		n->nkids--;
		if (n->nkids <= ST_KIDS_ARRAY_BACK)
			st_map_to_array(n);
		else if (n->kids.map->cap > ST_MAP_MIN &&
		         (size_t)n->nkids * 8 <= n->kids.map->cap)
			(void)st_map_rebuild(n, st_map_cap_for(n->nkids * 2));
		return;
	}
	if (n->nkids == 1) {
		n->kids.one = NULL;
		n->nkids = 0;
		return;
	}
	arr = n->kids.arr;
	for (k = 0; arr[k] != c; k++)
		;
	arr[k] = arr[--n->nkids];
	if (n->nkids == 1) {
		n->kids.one = arr[0];
		free(arr);
	} else if (st_is_pow2(n->nkids)) {
		arr = st_realloc(arr, n->nkids * sizeof(*arr));
		if (arr)
			n->kids.arr = arr;
	}
}

static uint32_t st_nchildren(const struct st_node *n)
{
	return n->nkids + (n->plus != NULL) + (n->hash != NULL);
}

static struct st_node *st_child(const struct st_node *n, const char *lv,
                                size_t ll)
{
	if (ll == 1 && lv[0] == '+')
		return n->plus;
	if (ll == 1 && lv[0] == '#')
		return n->hash;
	return st_kid_find(n, lv, ll);
}

/* Hangs c under n. 0, or TERN_ENOMEM with n unchanged. */
static int st_attach(struct st_node *n, struct st_node *c)
{
	if (st_is_plus(c))
		n->plus = c;
	else if (st_is_hash(c))
		n->hash = c;
	else
		return st_kids_add(n, c);
	return 0;
}

static void st_detach(struct st_node *n, const struct st_node *c)
{
	if (st_is_plus(c))
		n->plus = NULL;
	else if (st_is_hash(c))
		n->hash = NULL;
	else
		st_kids_unlink(n, c);
}

/* ---- entries ----------------------------------------------------------- */

static void st_idx_put(struct st_ents *b, uint32_t pos)
{
	uint32_t mask = b->idx_cap - 1;
	uint32_t i = st_hash_owner(b->e[pos].owner) & mask;

	while (b->idx[i])
		i = (i + 1) & mask;
	b->idx[i] = pos + 1;
}

/* The idx slot holding owner, or ST_NONE. */
static uint32_t st_idx_slot(const struct st_ents *b, const void *owner)
{
	uint32_t mask = b->idx_cap - 1;

	for (uint32_t i = st_hash_owner(owner) & mask; b->idx[i];
	     i = (i + 1) & mask)
		if (b->e[b->idx[i] - 1].owner == owner)
			return i;
	return ST_NONE;
}

static void st_idx_del_slot(struct st_ents *b, uint32_t i)
{
	uint32_t mask = b->idx_cap - 1;

	for (uint32_t j = i;;) {
		uint32_t k;

		j = (j + 1) & mask;
		if (!b->idx[j])
			break;
		k = st_hash_owner(b->e[b->idx[j] - 1].owner) & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		b->idx[i] = b->idx[j];
		i = j;
	}
	b->idx[i] = 0;
}

/* Indexes the first n entries in a new table of cap slots. */
static int st_idx_rebuild(struct st_ents *b, uint32_t n, uint32_t cap)
{
	uint32_t *idx = st_calloc(cap, sizeof(*idx));

	if (!idx)
		return TERN_ENOMEM;
	free(b->idx);
	b->idx = idx;
	b->idx_cap = cap;
	for (uint32_t i = 0; i < n; i++)
		st_idx_put(b, i);
	return 0;
}

/* Index of owner's entry in n, or ST_NONE. */
static uint32_t st_ents_find(const struct st_node *n, const void *owner)
{
	const struct st_ents *b;
	uint32_t slot;

	if (n->nents == 0)
		return ST_NONE;
	if (n->nents == 1)
		return n->ents.one.owner == owner ? 0 : ST_NONE;
	b = n->ents.many;
	if (b->idx) {
		slot = st_idx_slot(b, owner);
		return slot == ST_NONE ? ST_NONE : b->idx[slot] - 1;
	}
	for (uint32_t i = 0; i < n->nents; i++)
		if (b->e[i].owner == owner)
			return i;
	return ST_NONE;
}

static struct subtree_entry *st_ents_at(struct st_node *n, uint32_t i)
{
	return n->nents == 1 ? &n->ents.one : &n->ents.many->e[i];
}

/* Appends e (its owner is not in n). 0 or TERN_ENOMEM (unchanged). */
static int st_ents_add(struct st_node *n, const struct subtree_entry *e)
{
	struct st_ents *b;
	uint32_t cnt = n->nents + 1;

	if (n->nents == 0) {
		n->ents.one = *e;
		n->nents = 1;
		return 0;
	}
	if (n->nents == 1) {
		b = st_malloc(sizeof(*b) + ST_ENTS_FIRST_CAP * sizeof(b->e[0]));
		if (!b)
			return TERN_ENOMEM;
		b->cap = ST_ENTS_FIRST_CAP;
		b->idx_cap = 0;
		b->idx = NULL;
		b->e[0] = n->ents.one;
		b->e[1] = *e;
		n->ents.many = b;
		n->nents = 2;
		return 0;
	}
	b = n->ents.many;
	if (n->nents >= UINT32_MAX / 8)
		return TERN_ENOMEM;
	if (n->nents == b->cap) {
		b = st_realloc(b, sizeof(*b) +
		                      (size_t)b->cap * 2 * sizeof(b->e[0]));
		if (!b)
			return TERN_ENOMEM;
		b->cap *= 2;
		n->ents.many = b;
	}
	if (cnt > ST_ENTS_INDEX_MIN && (size_t)cnt * 2 > b->idx_cap &&
	    st_idx_rebuild(b, n->nents, st_pow2_ceil(cnt * 2)) != 0)
		return TERN_ENOMEM;
	b->e[n->nents] = *e;
	if (b->idx)
		st_idx_put(b, n->nents);
	n->nents = cnt;
	return 0;
}

/* Removes entry i; never fails (shrinking is best effort). */
static void st_ents_del(struct st_node *n, uint32_t i)
{
	struct st_ents *b, *nb;
	uint32_t last = n->nents - 1;

	if (n->nents == 1) {
		memset(&n->ents, 0, sizeof(n->ents));
		n->nents = 0;
		return;
	}
	b = n->ents.many;
	if (b->idx) {
		st_idx_del_slot(b, st_idx_slot(b, b->e[i].owner));
		if (i != last)
			b->idx[st_idx_slot(b, b->e[last].owner)] = i + 1;
	}
	b->e[i] = b->e[last];
	n->nents = last;
	if (n->nents == 1) {
		n->ents.one = b->e[0];
		free(b->idx);
		free(b);
		return;
	}
	if (b->idx && n->nents <= ST_ENTS_INDEX_MIN / 2) {
		free(b->idx);
		b->idx = NULL;
		b->idx_cap = 0;
	} else if (b->idx && (size_t)n->nents * 16 <= b->idx_cap) {
		(void)st_idx_rebuild(b, n->nents, st_pow2_ceil(n->nents * 4));
	}
	if (b->cap > ST_ENTS_FIRST_CAP && (size_t)n->nents * 4 <= b->cap) {
		nb = st_realloc(b, sizeof(*b) + b->cap / 2 * sizeof(b->e[0]));
		if (nb) {
			nb->cap /= 2;
			n->ents.many = nb;
		}
	}
}

/* ---- whole subtrees ---------------------------------------------------- */

/* Pushes n on a free stack threaded through ents (entries freed first). */
static void st_push_free(struct st_node **stack, struct st_node *n)
{
	if (n->nents >= 2) {
		free(n->ents.many->idx);
		free(n->ents.many);
	}
	n->nents = 0;
	n->ents.next = *stack;
	*stack = n;
}

/* Frees n and everything under it, without recursion. */
static void st_free_all(struct st_node *n)
{
	struct st_node *stack = NULL;

	if (!n)
		return;
	st_push_free(&stack, n);
	while (stack) {
		n = stack;
		stack = n->ents.next;
		if (n->plus)
			st_push_free(&stack, n->plus);
		if (n->hash)
			st_push_free(&stack, n->hash);
		if (n->kids_is_map) {
			for (uint32_t i = 0; i < n->kids.map->cap; i++)
				if (n->kids.map->slot[i])
					st_push_free(&stack,
					             n->kids.map->slot[i]);
			free(n->kids.map);
		} else {
			for (uint32_t k = 0; k < n->nkids; k++)
				st_push_free(&stack, st_arr_at(n, k));
			if (n->nkids > 1)
				free(n->kids.arr);
		}
		free(n);
	}
}

/* ---- API --------------------------------------------------------------- */

struct subtree *subtree_new(void)
{
	struct subtree *t = st_malloc(sizeof(*t));

	if (!t)
		return NULL;
	t->root = st_node_new("", 0);
	if (!t->root) {
		free(t);
		return NULL;
	}
	t->count = 0;
	return t;
}

void subtree_free(struct subtree *t)
{
	if (!t)
		return;
	st_free_all(t->root);
	free(t);
}

int subtree_add(struct subtree *t, const char *filter, size_t len,
                const struct subtree_entry *e, bool *replaced, bool *first)
{
	struct st_node *n = t->root, *c, *head = NULL, *tail = NULL;
	size_t pos = 0, end;
	uint32_t i;
	bool was_empty;
	int rc;

	if (len == 0 || len > ST_LEVEL_MAX)
		return TERN_EINVAL;
	/* Follow the levels that exist; pos > len once all of them do. */
	for (;;) {
		end = st_level_end(filter, pos, len);
		c = st_child(n, filter + pos, end - pos);
		if (!c)
			break;
		n = c;
		pos = end + 1;
		if (end == len)
			break;
	}
	if (pos > len) {
		i = st_ents_find(n, e->owner);
		if (i != ST_NONE) {
			st_ents_at(n, i)->sub_id = e->sub_id;
			st_ents_at(n, i)->opts = e->opts;
			if (replaced)
				*replaced = true;
			if (first)
				*first = false;
			return 0;
		}
		was_empty = n->nents == 0;
		rc = st_ents_add(n, e);
		if (rc)
			return rc;
		goto added;
	}
	/* Build the missing levels as a detached chain, then hang it. */
	for (;;) {
		end = st_level_end(filter, pos, len);
		c = st_node_new(filter + pos, end - pos);
		if (!c)
			goto err_chain;
		if (!head)
			head = c;
		else if (st_attach(tail, c) != 0) { /* a first child: cannot */
			free(c);
			goto err_chain;
		}
		tail = c;
		if (end == len)
			break;
		pos = end + 1;
	}
	tail->ents.one = *e;
	tail->nents = 1;
	if (st_attach(n, head) != 0)
		goto err_chain;
	was_empty = true;
added:
	t->count++;
	if (replaced)
		*replaced = false;
	if (first)
		*first = was_empty;
	return 0;

err_chain:
	st_free_all(head);
	return TERN_ENOMEM;
}

int subtree_remove(struct subtree *t, const char *filter, size_t len,
                   const void *owner, bool *last)
{
	struct st_node *n = t->root, *keep = NULL, *cut = NULL, *c;
	size_t pos = 0, end;
	uint32_t i;

	if (len == 0 || len > ST_LEVEL_MAX)
		return TERN_ENOTFOUND;
	/*
	 * cut is the highest node on the path that the removal may leave
	 * useless: below keep, the last node that must stay (the root, or one
	 * with entries or another child), every node down to the target has
	 * no entries and a single child.
	 */
	for (;;) {
		end = st_level_end(filter, pos, len);
		c = st_child(n, filter + pos, end - pos);
		if (!c)
			return TERN_ENOTFOUND;
		if (n == t->root || n->nents > 0 || st_nchildren(n) > 1) {
			keep = n;
			cut = c;
		}
		n = c;
		if (end == len)
			break;
		pos = end + 1;
	}
	i = st_ents_find(n, owner);
	if (i == ST_NONE)
		return TERN_ENOTFOUND;
	st_ents_del(n, i);
	t->count--;
	if (last)
		*last = n->nents == 0;
	if (n->nents == 0 && st_nchildren(n) == 0) {
		st_detach(keep, cut);
		st_free_all(cut);
	}
	return 0;
}

static void st_report(const struct st_node *n, subtree_match_cb cb, void *ctx)
{
	if (n->nents == 1) {
		cb(ctx, &n->ents.one);
		return;
	}
	for (uint32_t i = 0; i < n->nents; i++)
		cb(ctx, &n->ents.many->e[i]);
}

/*
 * n matched the topic level ending just before pos; pos > len when that
 * was the last level. Loops down exact children and recurses only into '+'
 * children, so the stack depth is bounded by the number of '+' levels of
 * the stored filters (and by the topic's depth).
 */
static void st_match_walk(const struct st_node *n, const char *topic,
                          size_t pos, size_t len, bool no_wild,
                          subtree_match_cb cb, void *ctx)
{
	size_t end;

	for (;;) {
		if (pos > len) {
			st_report(n, cb, ctx);
			if (n->hash) /* "a/#" matches "a" */
				st_report(n->hash, cb, ctx);
			return;
		}
		end = st_level_end(topic, pos, len);
		if (!no_wild) {
			if (n->hash)
				st_report(n->hash, cb, ctx);
			if (n->plus)
				st_match_walk(n->plus, topic, end + 1, len,
				              false, cb, ctx);
		}
		n = st_kid_find(n, topic + pos, end - pos);
		if (!n)
			return;
		pos = end + 1;
		no_wild = false;
	}
}

void subtree_match(const struct subtree *t, const char *topic, size_t len,
                   subtree_match_cb cb, void *ctx)
{
	if (len == 0)
		return;
	/* [MQTT-4.7.2-1] no '+' or '#' first level for "$..." topics */
	st_match_walk(t->root, topic, 0, len, topic[0] == '$', cb, ctx);
}

size_t subtree_count(const struct subtree *t)
{
	return t->count;
}
