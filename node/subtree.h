/*
 * subtree.h - the subscription index: a trie of topic filters, one level per
 * node, mapping each filter to the subscribers that hold it.
 *
 * Matching a topic name walks the trie once: at each level it follows the
 * exact child, the '+' child and the '#' child, so the cost depends on the
 * topic's depth and the number of matches, never on how many filters exist.
 * Level lookup in a node with many children uses a hash table.
 *
 * One subtree belongs to one worker loop; it is not thread-safe.
 * Filters are byte ranges (no NUL needed) and must already be valid
 * (topic_filter_valid); shared subscriptions are stored by the caller under
 * whatever key it chooses.
 */
#ifndef TERN_SUBTREE_H
#define TERN_SUBTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct subtree;

/* One subscription: who holds it and with which options. */
struct subtree_entry {
	void *owner;     /* the subscriber (e.g. a session); identity key */
	uint32_t sub_id; /* MQTT 5 subscription identifier, 0 if none */
	uint8_t opts;    /* subscription options byte (and caller flags) */
};

/* Returns a new empty tree, or NULL when out of memory. */
struct subtree *subtree_new(void);

/* Frees the tree and every node; owners are not touched. NULL is fine. */
void subtree_free(struct subtree *t);

/*
 * Adds or replaces (same filter, same owner) a subscription.
 * Sets *replaced when the owner already held the filter (its options and
 * sub_id are updated), and *first when this is the filter's first
 * subscriber (a route the cluster must learn). Either pointer may be NULL.
 * Returns 0 or TERN_ENOMEM (the tree is unchanged then).
 */
int subtree_add(struct subtree *t, const char *filter, size_t len,
		const struct subtree_entry *e, bool *replaced, bool *first);

/*
 * Removes owner's subscription to filter. Sets *last when the filter has no
 * subscriber left (its route can go). Returns 0, or TERN_ENOTFOUND when the
 * owner did not hold the filter. Empty nodes are freed.
 */
int subtree_remove(struct subtree *t, const char *filter, size_t len,
		   const void *owner, bool *last);

/*
 * Calls cb once for every subscription whose filter matches `topic`, with
 * the filter's entry. The same owner may be reported several times if it
 * holds several matching filters. cb must not change the tree.
 */
typedef void (*subtree_match_cb)(void *ctx, const struct subtree_entry *e);
void subtree_match(const struct subtree *t, const char *topic, size_t len,
		   subtree_match_cb cb, void *ctx);

/* Number of (filter, owner) subscriptions held. */
size_t subtree_count(const struct subtree *t);

#endif
