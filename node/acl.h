/*
 * acl.h - authorization: roles of ordered allow/deny rules on topic
 * filters, users with roles, checked on PUBLISH, SUBSCRIBE, wills and
 * retained messages delivered on subscribe. docs/SECURITY.md describes the
 * rule language; this is the engine.
 *
 * Three layers:
 *  - struct acl_policy: an ACL file parsed (roles, users, default and
 *    anonymous roles). Immutable, reference-counted; a reload (SIGHUP)
 *    builds a new one and swaps the node's pointer under a mutex.
 *  - struct acl_subject: one connection's identity (username, client id,
 *    roles a provider gave it) resolved against a policy: the rules of its
 *    roles in order, %u and %c already substituted. This is the cache per
 *    connection: a check is a scan of the subject's rules, no lookup.
 *  - the node's acl state (n->acl, NULL without acl_file and without a
 *    store: everything is allowed, as before authorization existed). With
 *    a store, roles and users of the user store (users.h) are merged in.
 *
 * First matching rule wins; no matching rule is a deny. A rule for
 * PUBLISH matches when its filter matches the topic name; a rule for
 * SUBSCRIBE matches a requested filter when (allow) every topic the
 * requested filter can match is matched by the rule's filter, or (deny) the
 * two filters can match a common topic. So a deny on secret/# refuses a
 * subscription to #, and an allow on sensors/# grants sensors/+/temp.
 *
 * %u / %c substitution: a username or client id that is empty or contains
 * '/', '+', '#' would change the filter's shape, so it is never substituted:
 * an allow rule using it matches nothing and a deny rule using it matches
 * everything (its action only). Anonymous clients have no username.
 *
 * The parsing and checking functions are pure (no loop, no node) for tests.
 */
#ifndef TERN_ACL_H
#define TERN_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct tern_node;
struct worker;

enum acl_action {
	ACL_PUBLISH = 1,
	ACL_SUBSCRIBE = 2,
	ACL_ALL = 3,
};

#define ACL_MAX_ROLES 32      /* per identity */
#define ACL_ROLE_NAME_MAX 64  /* bytes */

struct acl_policy;
struct acl_subject;

/*
 * Parses an ACL file (YAML). Returns 0 with *out a new reference, or
 * TERN_ECONFIG with "FILE:LINE: reason" in err, or TERN_ENOMEM.
 */
int acl_policy_load(const char *path, struct acl_policy **out, char *err,
		    size_t errlen);

/* Same from text (tests); `name` stands for the file in errors. */
int acl_policy_parse(const char *text, size_t len, const char *name,
		     struct acl_policy **out, char *err, size_t errlen);

#define ACL_ROLE_RULES_MAX 1024 /* rules of one role in the user store */

/*
 * The policy of an ACL file's text (NULL: no acl_file, an open policy:
 * anonymous clients and users without a user entry may do everything)
 * merged with the user store's document `store` (NULL: none), a JSON
 * text of the ACL file's shape {"roles": {NAME: [RULE...]}, "users":
 * {NAME: [ROLE...]}} (dumped with ": " and ", " so YAML reads it). A
 * store role replaces a file role of the same name (the store wins; the
 * file's users and default roles then get the store's rules); a store
 * user replaces the file's entry; a store user's unknown role names are
 * skipped. Returns 0 with *out a new reference, TERN_ECONFIG with the
 * reason in err, or TERN_ENOMEM. Pure.
 */
int acl_policy_build(const char *text, size_t len, const char *name,
		     const char *store, size_t store_len,
		     struct acl_policy **out, char *err, size_t errlen);

/*
 * One role's rules as the user store keeps them: text[0..len) is YAML or
 * JSON, a list of rules or {"rules": [...]}, in the ACL file's rule
 * language (same parser). *json gets the canonical JSON array (malloc'd):
 * [{"allow"|"deny": ACTION, "topic": F, "max_qos": N, "retain": B}...].
 * Returns 0, TERN_EINVAL with "rules:LINE: reason" in err, TERN_ENOMEM.
 * Pure.
 */
int acl_rules_canonical(const char *text, size_t len, char **json, char *err,
			size_t errlen);

struct acl_policy *acl_policy_ref(struct acl_policy *p);
void acl_policy_unref(struct acl_policy *p); /* NULL is fine */
size_t acl_policy_roles(const struct acl_policy *p);
size_t acl_policy_users(const struct acl_policy *p);
uint64_t acl_policy_gen(const struct acl_policy *p);

/* Who a connection is, as authentication decided. */
struct acl_identity {
	const char *user; /* NULL: anonymous */
	size_t user_len;
	const char *client_id;
	size_t client_id_len;
	/* roles a provider gave (JWT claim, LDAP groups); may be empty */
	const char *const *roles;
	const size_t *role_lens;
	size_t n_roles;
};

/*
 * Resolves an identity against p: roles are the user's entry in the file
 * (or default_roles for an authenticated user without one, anonymous_roles
 * for an anonymous client), then the provider's roles; unknown role names
 * are skipped, duplicates kept once. Returns NULL on ENOMEM. The subject
 * holds a reference to p.
 */
struct acl_subject *acl_subject_new(struct acl_policy *p,
				    const struct acl_identity *id);
void acl_subject_free(struct acl_subject *s); /* NULL is fine */
const struct acl_policy *acl_subject_policy(const struct acl_subject *s);

/* Names of the roles the subject resolved to, comma-separated, for logs
 * and the admin API (into buf, truncated, NUL-terminated). */
void acl_subject_roles(const struct acl_subject *s, char *buf, size_t cap);

/*
 * May the subject publish to topic[0..len) at qos, with retain? A rule
 * with max_qos below qos or retain: false with retain set refuses (it
 * matched: no later rule is tried).
 */
bool acl_check_publish(const struct acl_subject *s, const char *topic,
		       size_t len, uint8_t qos, bool retain);

/*
 * May the subject subscribe to filter[0..len) (a shared subscription's
 * filter part, without $share/GROUP/)? Returns the highest QoS it may be
 * granted (0..2), or -1 if refused.
 */
int acl_check_subscribe(const struct acl_subject *s, const char *filter,
			size_t len);

/*
 * May a message on topic[0..len) be delivered to the subject (retained
 * messages on subscribe)? The first SUBSCRIBE rule whose filter matches the
 * topic decides. Returns the highest QoS, or -1.
 */
int acl_check_receive(const struct acl_subject *s, const char *topic,
		      size_t len);

/* Filter relations used by the subscribe check (exported for tests). */
bool acl_filter_covers(const char *outer, size_t olen, const char *inner,
		       size_t ilen);
bool acl_filter_overlaps(const char *a, size_t alen, const char *b,
			 size_t blen);

/* ---- the node ------------------------------------------------------- */

/*
 * Loads acl_file (if set) into n->acl. Returns 0 or TERN_ECONFIG with the
 * reason in err. Control thread, before the workers start.
 */
int acl_setup(struct tern_node *n, char *err, size_t errlen);

/*
 * Reloads acl_file (SIGHUP): on success every worker re-resolves the
 * subjects of its connected clients and removes subscriptions the new
 * rules refuse. On error the old policy stays. Control thread.
 */
int acl_reload(struct tern_node *n, char *err, size_t errlen);

/*
 * Rebuilds the policy from the ACL file's text (as last loaded) and the
 * user store's document doc (copied; NULL: none; see acl_policy_build).
 * With live, every worker then refreshes its connections as after a
 * reload. On error the old policy stays. No-op without n->acl (no
 * acl_file and no store). Control thread.
 */
int acl_store_set(struct tern_node *n, const char *doc, bool live, char *err,
		  size_t errlen);

/* Do roles matter: an ACL file, or roles in the user store? (Without,
 * n->acl may exist for a store that has no roles yet: everything is
 * allowed.) Any thread. */
bool acl_enforced(const struct tern_node *n);

void acl_teardown(struct tern_node *n);

/*
 * Sets c's subject after authentication allowed its CONNECT (user NULL:
 * anonymous), and removes subscriptions of a resumed session that this
 * identity may not hold. Returns 0 or TERN_ENOMEM. No-op without acl_file.
 */
int acl_conn_attach(struct conn *c, const char *user, size_t user_len,
		    const char *id, size_t id_len);

/* Same, with roles an authentication provider gave (JWT claim): they
 * follow the file's roles. Replaces a subject c already has. */
int acl_conn_attach_roles(struct conn *c, const char *user, size_t user_len,
			  const char *id, size_t id_len,
			  const char *const *roles, const size_t *role_lens,
			  size_t n_roles);

/* Removes subscriptions of c's session that its subject refuses (a
 * resumed session). No-op without acl_file. Worker thread. */
void acl_conn_prune(struct conn *c);

/* Before a check: if the policy was reloaded since c's subject was
 * resolved, resolves it again now (acl_conn_refresh), so a check never
 * uses rules older than the last reload. One atomic load otherwise. */
void acl_conn_sync(struct conn *c);

/* Re-resolves c's subject against the current policy and removes
 * subscriptions of c's session it no longer allows. Worker thread. */
void acl_conn_refresh(struct conn *c);

#endif
