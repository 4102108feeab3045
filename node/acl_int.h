/*
 * acl_int.h - what the pieces of the ACL engine share (acl.c, acl_parse.c,
 * acl_node.c); private to them. acl.h is the face the rest of the node
 * sees. Here: the parsed policy's structs (roles, rules, users), a
 * subject's resolved rules, and the few helpers one piece lends another.
 */
#ifndef TERN_ACL_INT_H
#define TERN_ACL_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"

struct acl_rule {
	char *filter;
	uint32_t len;
	uint8_t actions; /* enum acl_action bits */
	uint8_t max_qos;
	bool allow;
	bool retain;     /* publishing with retain set is allowed */
	bool subst;      /* contains %u or %c */
};

struct acl_role {
	char *name;
	struct acl_rule *rules;
	uint32_t n;
};

struct acl_user {
	char *name;
	uint32_t *roles; /* indexes into policy->roles */
	uint32_t n;
};

struct acl_rolelist {
	uint32_t *idx;
	uint32_t n;
};

struct acl_policy {
	atomic_uint refs;
	uint64_t gen;
	struct acl_role *roles; /* sorted by name */
	size_t n_roles;
	struct acl_user *users; /* sorted by name */
	size_t n_users;
	struct acl_rolelist default_roles, anonymous_roles;
	/* no ACL file, only the user store's roles: a subject without a
	 * user entry is unrestricted, as without authorization */
	bool open;
};

/* A rule as one subject sees it: the filter substituted. */
struct acl_srule {
	const char *filter; /* the policy's, or owned (subst) */
	uint32_t len;
	uint8_t actions;
	uint8_t max_qos;
	bool allow;
	bool retain;
	bool owned;
	bool all; /* unusable substitution in a deny: matches everything */
};

struct acl_subject {
	struct acl_policy *pol;
	char *user; /* NULL: anonymous */
	char *id;
	size_t user_len, id_len;
	char **ext;  /* provider roles, kept for re-resolution */
	size_t n_ext;
	uint32_t roles[ACL_MAX_ROLES];
	uint32_t n_roles;
	struct acl_srule *rules;
	uint32_t n;
	bool open; /* everything allowed (acl_policy.open) */
};

/* ---- acl.c: the policy object and subjects ---------------------------- */

/* Frees p and everything it holds, whatever its reference count (a policy
 * under construction); NULL is fine. Takes p. */
void acl_policy_free(struct acl_policy *p);

/* Binary search in an array sorted by name, of structs whose first
 * member is `char *name` (roles, users). Returns the index or -1.
 * Borrows base and name. */
long acl_find(const void *base, size_t n, size_t size, const char *name,
	      size_t len);

/* The index of role name[0..len) in p->roles, or -1. Borrows both. */
long acl_role_find(const struct acl_policy *p, const char *name, size_t len);

/* A NUL-terminated copy of s[0..len): a new malloc'd string (the caller
 * frees it), or NULL on ENOMEM. Borrows s. */
char *acl_strndup(const char *s, size_t len);

/* Frees the subject's resolved rules and forgets its roles: it then
 * matches no rule (everything denied unless s->open). Borrows s. */
void acl_subject_rules_free(struct acl_subject *s);

/* Points s at policy p (takes a new reference to p, drops the old one)
 * and resolves again. Returns 0 or TERN_ENOMEM. Borrows s. */
int acl_subject_rebind(struct acl_subject *s, struct acl_policy *p);

/* ---- acl_parse.c: the ACL file ---------------------------------------- */

/* The ACL file's text into *out: a new malloc'd, NUL-terminated buffer
 * the caller frees, its length in *outlen. Returns 0, TERN_ECONFIG with
 * "PATH: reason" in err, or TERN_ENOMEM. Borrows path. */
int acl_read_file(const char *path, char **out, size_t *outlen, char *err,
		  size_t errlen);

#endif
