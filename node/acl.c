/*
 * acl.c - roles, rules and their checks (see acl.h).
 *
 * Threads: the policy pointer is read by every worker at CONNECT and
 * replaced by the control thread (SIGHUP); load+ref and the swap hold one
 * mutex, as auth.c does for its table. Subjects belong to one connection
 * and so to one worker.
 */
#include "acl.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "conn.h"
#include "log.h"
#include "persist.h"
#include "router.h"
#include "session.h"
#include "tern_err.h"
#include "topic.h"
#include "worker.h"

#define ACL_FILE_MAX (4u << 20)
#define ACL_FILTER_MAX 65535u

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

/* ---- filter relations ---------------------------------------------- */

/* Next level of f[*pos..len): start and length; false at the end. */
static bool acl_level(const char *f, size_t len, size_t *pos, bool *more,
		      const char **lv, size_t *lvlen)
{
	const char *slash;

	if (!*more)
		return false;
	*lv = f + *pos;
	slash = memchr(*lv, '/', len - *pos);
	if (slash) {
		*lvlen = (size_t)(slash - *lv);
		*pos += *lvlen + 1;
	} else {
		*lvlen = len - *pos;
		*pos = len;
		*more = false;
	}
	return true;
}

static bool acl_is(const char *lv, size_t n, char c)
{
	return n == 1 && lv[0] == c;
}

static bool acl_wild(const char *lv, size_t n)
{
	return acl_is(lv, n, '+') || acl_is(lv, n, '#');
}

bool acl_filter_covers(const char *outer, size_t olen, const char *inner,
		       size_t ilen)
{
	size_t op = 0, ip = 0, on, in;
	bool om = true, im = true, first = true;
	const char *o, *i;

	for (;; first = false) {
		bool ho = acl_level(outer, olen, &op, &om, &o, &on);
		bool hi = acl_level(inner, ilen, &ip, &im, &i, &in);

		if (!hi)
			/* inner ended: outer must end too, or go on with a
			 * "#" that also matches the parent */
			return !ho || acl_is(o, on, '#');
		if (!ho)
			return false;
		/* '$' topics: a leading wildcard of the outer filter does
		 * not match them [MQTT-4.7.2-1] */
		if (first && acl_wild(o, on) && !acl_wild(i, in) && in &&
		    i[0] == '$')
			return false;
		if (acl_is(o, on, '#'))
			return true;
		if (acl_is(i, in, '#'))
			return false;
		if (acl_is(o, on, '+'))
			continue;
		if (acl_is(i, in, '+'))
			return false;
		if (on != in || memcmp(o, i, on) != 0)
			return false;
	}
}

bool acl_filter_overlaps(const char *a, size_t alen, const char *b,
			 size_t blen)
{
	size_t ap = 0, bp = 0, an, bn;
	bool am = true, bm = true, first = true;
	const char *x, *y;

	for (;; first = false) {
		bool hx = acl_level(a, alen, &ap, &am, &x, &an);
		bool hy = acl_level(b, blen, &bp, &bm, &y, &bn);

		if (!hx && !hy)
			return true;
		if (!hx)
			return acl_is(y, bn, '#');
		if (!hy)
			return acl_is(x, an, '#');
		if (first && ((acl_wild(x, an) && !acl_wild(y, bn) && bn &&
			       y[0] == '$') ||
			      (acl_wild(y, bn) && !acl_wild(x, an) && an &&
			       x[0] == '$')))
			return false;
		if (acl_is(x, an, '#') || acl_is(y, bn, '#'))
			return true;
		if (acl_is(x, an, '+') || acl_is(y, bn, '+'))
			continue;
		if (an != bn || memcmp(x, y, an) != 0)
			return false;
	}
}

/* ---- policy --------------------------------------------------------- */

static void acl_policy_free(struct acl_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_roles; i++) {
		for (uint32_t k = 0; k < p->roles[i].n; k++)
			free(p->roles[i].rules[k].filter);
		free(p->roles[i].rules);
		free(p->roles[i].name);
	}
	for (size_t i = 0; i < p->n_users; i++) {
		free(p->users[i].name);
		free(p->users[i].roles);
	}
	free(p->roles);
	free(p->users);
	free(p->default_roles.idx);
	free(p->anonymous_roles.idx);
	free(p);
}

struct acl_policy *acl_policy_ref(struct acl_policy *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void acl_policy_unref(struct acl_policy *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1)
		acl_policy_free(p);
}

size_t acl_policy_roles(const struct acl_policy *p)
{
	return p->n_roles;
}

size_t acl_policy_users(const struct acl_policy *p)
{
	return p->n_users;
}

uint64_t acl_policy_gen(const struct acl_policy *p)
{
	return p->gen;
}

static int acl_name_cmp(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* Binary search in an array sorted by name, of structs whose first
 * member is `char *name` (roles, users). Returns the index or -1. */
static long acl_find(const void *base, size_t n, size_t size,
		     const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *const *elem =
			(const void *)((const char *)base + mid * size);
		int c = acl_name_cmp(name, len, *elem);

		if (!c)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static long acl_role_find(const struct acl_policy *p, const char *name,
			  size_t len)
{
	return acl_find(p->roles, p->n_roles, sizeof(*p->roles), name, len);
}

static const struct acl_user *acl_user_find(const struct acl_policy *p,
					    const char *name, size_t len)
{
	long i = acl_find(p->users, p->n_users, sizeof(*p->users), name, len);

	return i < 0 ? NULL : &p->users[i];
}

/* ---- ACL file (YAML) ----------------------------------------------- */

struct acl_parse {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
	struct acl_policy *p;
	/* the user store's document: its roles and users replace the
	 * file's of the same name, and a user's unknown role names are
	 * skipped (the file may be reloaded without them) */
	bool store;
};

static int acl_perr(struct acl_parse *ps, const yaml_node_t *at,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int acl_perr(struct acl_parse *ps, const yaml_node_t *at,
		    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->name,
		 at ? (size_t)at->start_mark.line + 1 : (size_t)1, msg);
	return TERN_ECONFIG;
}

static yaml_node_t *acl_node(struct acl_parse *ps, int idx)
{
	return yaml_document_get_node(ps->doc, idx);
}

static bool acl_scalar(const yaml_node_t *n, const char **s, size_t *len)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return false;
	*s = (const char *)n->data.scalar.value;
	*len = n->data.scalar.length;
	return true;
}

static bool acl_scalar_is(const yaml_node_t *n, const char *word)
{
	const char *s;
	size_t len;

	return acl_scalar(n, &s, &len) && len == strlen(word) &&
	       memcmp(s, word, len) == 0;
}

static char *acl_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static bool acl_role_name_ok(const char *s, size_t len)
{
	if (!len || len > ACL_ROLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == ',' ||
		    (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/* A filter with %u/%c standing for one whole or partial level. */
static int acl_parse_filter(struct acl_parse *ps, const yaml_node_t *n,
			    struct acl_rule *r)
{
	const char *s;
	size_t len;

	if (!acl_scalar(n, &s, &len) || !len)
		return acl_perr(ps, n, "topic must be a non-empty string");
	if (len > ACL_FILTER_MAX || memchr(s, '\0', len) ||
	    !topic_filter_valid(s, len, 0))
		return acl_perr(ps, n, "invalid topic filter \"%.*s\"",
				(int)(len > 80 ? 80 : len), s);
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '%' && (s[i + 1] == 'u' || s[i + 1] == 'c'))
			r->subst = true;
	r->filter = acl_strndup(s, len);
	if (!r->filter)
		return TERN_ENOMEM;
	r->len = (uint32_t)len;
	return 0;
}

static int acl_parse_action(struct acl_parse *ps, const yaml_node_t *n,
			    uint8_t *actions)
{
	if (acl_scalar_is(n, "publish"))
		*actions = ACL_PUBLISH;
	else if (acl_scalar_is(n, "subscribe"))
		*actions = ACL_SUBSCRIBE;
	else if (acl_scalar_is(n, "all"))
		*actions = ACL_ALL;
	else
		return acl_perr(ps, n,
				"action must be publish, subscribe or all");
	return 0;
}

static int acl_parse_rule(struct acl_parse *ps, const yaml_node_t *n,
			  struct acl_rule *r)
{
	bool have_action = false, have_topic = false;
	int rc;

	r->max_qos = 2;
	r->retain = true;
	if (n->type != YAML_MAPPING_NODE)
		return acl_perr(ps, n,
				"a rule is a mapping: {allow|deny: ACTION, "
				"topic: FILTER}");
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
	     kv < n->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = acl_node(ps, kv->key);
		yaml_node_t *v = acl_node(ps, kv->value);

		if (acl_scalar_is(k, "allow") || acl_scalar_is(k, "deny")) {
			if (have_action)
				return acl_perr(ps, k,
						"a rule has one allow or deny");
			have_action = true;
			r->allow = acl_scalar_is(k, "allow");
			rc = acl_parse_action(ps, v, &r->actions);
		} else if (acl_scalar_is(k, "topic")) {
			if (have_topic)
				return acl_perr(ps, k, "a rule has one topic");
			have_topic = true;
			rc = acl_parse_filter(ps, v, r);
		} else if (acl_scalar_is(k, "max_qos")) {
			if (acl_scalar_is(v, "0") || acl_scalar_is(v, "1") ||
			    acl_scalar_is(v, "2"))
				r->max_qos = (uint8_t)(
					v->data.scalar.value[0] - '0');
			else
				return acl_perr(ps, v,
						"max_qos must be 0, 1 or 2");
			rc = 0;
		} else if (acl_scalar_is(k, "retain")) {
			if (acl_scalar_is(v, "true"))
				r->retain = true;
			else if (acl_scalar_is(v, "false"))
				r->retain = false;
			else
				return acl_perr(ps, v,
						"retain must be true or false");
			rc = 0;
		} else {
			const char *s = "?";
			size_t len = 1;

			acl_scalar(k, &s, &len);
			return acl_perr(ps, k,
					"unknown rule key \"%.*s\" (allow, "
					"deny, topic, max_qos, retain)",
					(int)(len > 40 ? 40 : len), s);
		}
		if (rc)
			return rc;
	}
	if (!have_action)
		return acl_perr(ps, n, "rule without allow or deny");
	if (!have_topic)
		return acl_perr(ps, n, "rule without topic");
	return 0;
}

static int acl_role_cmp(const void *a, const void *b)
{
	return strcmp(((const struct acl_role *)a)->name,
		      ((const struct acl_role *)b)->name);
}

static int acl_user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct acl_user *)a)->name,
		      ((const struct acl_user *)b)->name);
}

static int acl_parse_roles(struct acl_parse *ps, const yaml_node_t *n)
{
	struct acl_policy *p = ps->p;
	size_t cap;
	int rc;

	if (n->type != YAML_MAPPING_NODE)
		return acl_perr(ps, n, "roles must be a mapping of role name "
				       "to a list of rules");
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	{
		struct acl_role *grown = realloc(
			p->roles, (p->n_roles + cap + 1) * sizeof(*p->roles));

		if (!grown)
			return TERN_ENOMEM;
		memset(grown + p->n_roles, 0, (cap + 1) * sizeof(*grown));
		p->roles = grown;
	}
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
	     kv < n->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = acl_node(ps, kv->key);
		yaml_node_t *v = acl_node(ps, kv->value);
		struct acl_role *r = &p->roles[p->n_roles];
		const char *s;
		size_t len, nr;
		long old;

		if (!acl_scalar(k, &s, &len) || !acl_role_name_ok(s, len))
			return acl_perr(ps, k, "bad role name (1..%d "
					       "printable bytes, no comma)",
					ACL_ROLE_NAME_MAX);
		old = acl_role_find(p, s, len);
		if (old >= 0 && !ps->store)
			return acl_perr(ps, k, "role \"%.*s\" twice", (int)len,
					s);
		if (old >= 0) {
			/* the store's version wins: same slot, new rules */
			r = &p->roles[old];
			for (uint32_t i = 0; i < r->n; i++)
				free(r->rules[i].filter);
			free(r->rules);
			r->rules = NULL;
			r->n = 0;
		} else {
			r->name = acl_strndup(s, len);
			if (!r->name)
				return TERN_ENOMEM;
			p->n_roles++;
		}
		if (v->type == YAML_SCALAR_NODE && !v->data.scalar.length)
			nr = 0; /* "role:" with nothing: no rules */
		else if (v->type != YAML_SEQUENCE_NODE)
			return acl_perr(ps, v, "role \"%s\": a list of rules",
					r->name);
		else
			nr = (size_t)(v->data.sequence.items.top -
				      v->data.sequence.items.start);
		if (nr) {
			r->rules = calloc(nr, sizeof(*r->rules));
			if (!r->rules)
				return TERN_ENOMEM;
		}
		for (size_t i = 0; i < nr; i++) {
			rc = acl_parse_rule(
				ps, acl_node(ps, v->data.sequence.items.start[i]),
				&r->rules[i]);
			r->n++; /* freed with the role even on error */
			if (rc)
				return rc;
		}
		/* kept sorted for acl_role_find during the parse */
		qsort(p->roles, p->n_roles, sizeof(*p->roles), acl_role_cmp);
	}
	return 0;
}

/* A list of role names: "[a, b]" or a single name. */
static int acl_parse_rolelist(struct acl_parse *ps, const yaml_node_t *n,
			      const char *what, struct acl_rolelist *out)
{
	yaml_node_item_t *items = NULL;
	size_t count = 1;

	if (n->type == YAML_SEQUENCE_NODE) {
		items = n->data.sequence.items.start;
		count = (size_t)(n->data.sequence.items.top - items);
	} else if (n->type == YAML_SCALAR_NODE && !n->data.scalar.length) {
		count = 0;
	} else if (n->type != YAML_SCALAR_NODE) {
		return acl_perr(ps, n, "%s: a list of role names", what);
	}
	if (count > ACL_MAX_ROLES)
		return acl_perr(ps, n, "%s: more than %d roles", what,
				ACL_MAX_ROLES);
	out->idx = calloc(count ? count : 1, sizeof(*out->idx));
	if (!out->idx)
		return TERN_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *e = items ? acl_node(ps, items[i]) : n;
		const char *s;
		size_t len;
		long r;

		if (!acl_scalar(e, &s, &len))
			return acl_perr(ps, e, "%s: role names are strings",
					what);
		r = acl_role_find(ps->p, s, len);
		if (r < 0 && ps->store)
			continue; /* skipped, as a provider's unknown roles */
		if (r < 0)
			return acl_perr(ps, e, "%s: no role \"%.*s\"", what,
					(int)(len > 64 ? 64 : len), s);
		out->idx[out->n++] = (uint32_t)r;
	}
	return 0;
}

static int acl_parse_users(struct acl_parse *ps, const yaml_node_t *n)
{
	struct acl_policy *p = ps->p;
	size_t cap, sorted;
	int rc;

	if (n->type != YAML_MAPPING_NODE)
		return acl_perr(ps, n, "users must be a mapping of username "
				       "to a list of roles");
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	{
		struct acl_user *grown = realloc(
			p->users, (p->n_users + cap + 1) * sizeof(*p->users));

		if (!grown)
			return TERN_ENOMEM;
		memset(grown + p->n_users, 0, (cap + 1) * sizeof(*grown));
		p->users = grown;
	}
	sorted = p->n_users; /* the file's users, sorted */
	for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
	     kv < n->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = acl_node(ps, kv->key);
		struct acl_user *u = &p->users[p->n_users];
		struct acl_rolelist rl = {0};
		const char *s;
		size_t len;
		long old = -1;

		if (!acl_scalar(k, &s, &len) || !len || len > 65535 ||
		    memchr(s, '\0', len))
			return acl_perr(ps, k, "bad username");
		if (ps->store)
			old = acl_find(p->users, sorted, sizeof(*p->users), s,
				       len);
		if (old >= 0) {
			/* the store's roles replace the file's entry */
			u = &p->users[old];
			free(u->roles);
			u->roles = NULL;
			u->n = 0;
		} else {
			u->name = acl_strndup(s, len);
			if (!u->name)
				return TERN_ENOMEM;
			p->n_users++;
		}
		rc = acl_parse_rolelist(ps, acl_node(ps, kv->value), u->name,
					&rl);
		u->roles = rl.idx;
		u->n = rl.n;
		if (rc)
			return rc;
	}
	qsort(p->users, p->n_users, sizeof(*p->users), acl_user_cmp);
	for (size_t i = 1; i < p->n_users; i++)
		if (!strcmp(p->users[i - 1].name, p->users[i].name))
			return acl_perr(ps, n, "user \"%s\" twice",
					p->users[i].name);
	return 0;
}

static const yaml_node_t *acl_top_key(struct acl_parse *ps,
				      const yaml_node_t *root, const char *key)
{
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start;
	     kv < root->data.mapping.pairs.top; kv++)
		if (acl_scalar_is(acl_node(ps, kv->key), key))
			return acl_node(ps, kv->value);
	return NULL;
}

/*
 * One phase of a document: 0 checks its keys and reads its roles, 1 its
 * users, default_roles and anonymous_roles. Both documents (file, store)
 * go through phase 0 before either goes through phase 1, so every user
 * sees every role.
 */
static int acl_parse_doc(struct acl_parse *ps, int phase)
{
	static const char *const keys[] = {"roles", "users", "default_roles",
					   "anonymous_roles"};
	const yaml_node_t *root = yaml_document_get_root_node(ps->doc);
	const yaml_node_t *v;
	int rc;

	if (phase == 1) {
		v = acl_top_key(ps, root, "users");
		if (v && (rc = acl_parse_users(ps, v)))
			return rc;
		if (ps->store)
			return 0;
		v = acl_top_key(ps, root, "default_roles");
		if (v && (rc = acl_parse_rolelist(ps, v, "default_roles",
						  &ps->p->default_roles)))
			return rc;
		v = acl_top_key(ps, root, "anonymous_roles");
		if (v && (rc = acl_parse_rolelist(ps, v, "anonymous_roles",
						  &ps->p->anonymous_roles)))
			return rc;
		return 0;
	}
	if (!root || (root->type == YAML_SCALAR_NODE &&
		      !root->data.scalar.length))
		return acl_perr(ps, root, "empty ACL file (everything would be "
					  "denied)");
	if (root->type != YAML_MAPPING_NODE)
		return acl_perr(ps, root, "the ACL file is a mapping with "
					  "roles, users, default_roles, "
					  "anonymous_roles");
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start;
	     kv < root->data.mapping.pairs.top; kv++) {
		const yaml_node_t *k = acl_node(ps, kv->key);
		bool known = false;
		const char *s = "?";
		size_t len = 1;

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= acl_scalar_is(k, keys[i]);
		if (!known) {
			acl_scalar(k, &s, &len);
			return acl_perr(ps, k,
					"unknown key \"%.*s\" (roles, users, "
					"default_roles, anonymous_roles)",
					(int)(len > 40 ? 40 : len), s);
		}
	}
	v = acl_top_key(ps, root, "roles");
	if (v && (rc = acl_parse_roles(ps, v)))
		return rc;
	return 0;
}

/* Loads text[0..len) into doc; TERN_ECONFIG with "NAME:LINE: why". */
static int acl_yaml_load(const char *text, size_t len, const char *name,
			 yaml_document_t *doc, char *err, size_t errlen)
{
	yaml_parser_t parser;

	if (!yaml_parser_initialize(&parser))
		return TERN_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		snprintf(err, errlen, "%s:%zu: %s", name,
			 parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		return TERN_ECONFIG;
	}
	yaml_parser_delete(&parser);
	return 0;
}

int acl_policy_build(const char *text, size_t len, const char *name,
		     const char *store, size_t store_len,
		     struct acl_policy **out, char *err, size_t errlen)
{
	struct acl_parse ps = {.name = name, .err = err, .errlen = errlen};
	yaml_document_t fdoc, sdoc;
	bool have_f = false, have_s = false;
	int rc = 0;

	*out = NULL;
	ps.p = calloc(1, sizeof(*ps.p));
	if (!ps.p)
		return TERN_ENOMEM;
	atomic_init(&ps.p->refs, 1);
	ps.p->open = !text;
	if (text) {
		rc = acl_yaml_load(text, len, name, &fdoc, err, errlen);
		have_f = rc == 0;
	}
	if (!rc && store) {
		rc = acl_yaml_load(store, store_len, "user store", &sdoc, err,
				   errlen);
		have_s = rc == 0;
	}
	for (int phase = 0; !rc && phase < 2; phase++) {
		if (have_f) {
			ps.doc = &fdoc;
			ps.name = name;
			ps.store = false;
			rc = acl_parse_doc(&ps, phase);
		}
		if (!rc && have_s) {
			ps.doc = &sdoc;
			ps.name = "user store";
			ps.store = true;
			rc = acl_parse_doc(&ps, phase);
		}
	}
	if (have_f)
		yaml_document_delete(&fdoc);
	if (have_s)
		yaml_document_delete(&sdoc);
	if (rc) {
		if (rc == TERN_ENOMEM)
			snprintf(err, errlen, "%s: out of memory", name);
		acl_policy_free(ps.p);
		return rc;
	}
	*out = ps.p;
	return 0;
}

int acl_policy_parse(const char *text, size_t len, const char *name,
		     struct acl_policy **out, char *err, size_t errlen)
{
	return acl_policy_build(text, len, name, NULL, 0, out, err, errlen);
}

/* ---- a role's rules on their own (the user store) ------------------- */

static json_t *acl_rule_json(const struct acl_rule *r)
{
	static const char *const actions[] = {[ACL_PUBLISH] = "publish",
					      [ACL_SUBSCRIBE] = "subscribe",
					      [ACL_ALL] = "all"};

	return json_pack("{s:s, s:s%, s:i, s:b}", r->allow ? "allow" : "deny",
			 actions[r->actions & ACL_ALL], "topic", r->filter,
			 (size_t)r->len, "max_qos", (int)r->max_qos, "retain",
			 r->retain);
}

int acl_rules_canonical(const char *text, size_t len, char **json, char *err,
			size_t errlen)
{
	struct acl_parse ps = {.name = "rules", .err = err, .errlen = errlen};
	const yaml_node_t *root, *list;
	yaml_document_t doc;
	json_t *arr = NULL;
	int rc;

	*json = NULL;
	rc = acl_yaml_load(text, len, "rules", &doc, err, errlen);
	if (rc)
		return rc == TERN_ENOMEM ? rc : TERN_EINVAL;
	ps.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	list = root;
	if (root && root->type == YAML_MAPPING_NODE) {
		list = acl_top_key(&ps, root, "rules");
		if (!list || root->data.mapping.pairs.top -
					     root->data.mapping.pairs.start !=
				     1) {
			rc = acl_perr(&ps, root, "expected a list of rules or "
						 "{\"rules\": [...]}");
			goto out;
		}
	}
	if (!list || list->type != YAML_SEQUENCE_NODE) {
		rc = acl_perr(&ps, list, "expected a list of rules or "
					 "{\"rules\": [...]}");
		goto out;
	}
	if (list->data.sequence.items.top - list->data.sequence.items.start >
	    ACL_ROLE_RULES_MAX) {
		rc = acl_perr(&ps, list, "more than %d rules",
			      ACL_ROLE_RULES_MAX);
		goto out;
	}
	arr = json_array();
	if (!arr) {
		rc = TERN_ENOMEM;
		goto out;
	}
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		struct acl_rule r = {0};

		rc = acl_parse_rule(&ps, acl_node(&ps, *it), &r);
		if (!rc && json_array_append_new(arr, acl_rule_json(&r)))
			rc = TERN_ENOMEM;
		free(r.filter);
		if (rc)
			goto out;
	}
	*json = json_dumps(arr, JSON_COMPACT);
	rc = *json ? 0 : TERN_ENOMEM;
out:
	json_decref(arr);
	yaml_document_delete(&doc);
	return rc == TERN_ECONFIG ? TERN_EINVAL : rc;
}

/* The ACL file's text into *buf (malloc'd, NUL-terminated). */
static int acl_read_file(const char *path, char **out, size_t *outlen,
			 char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return TERN_ECONFIG;
	}
	buf = malloc(ACL_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return TERN_ENOMEM;
	}
	len = fread(buf, 1, ACL_FILE_MAX + 1, f);
	if (ferror(f) || len > ACL_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? "read error" : "larger than 4 MiB");
		fclose(f);
		free(buf);
		return TERN_ECONFIG;
	}
	fclose(f);
	{
		char *fit = realloc(buf, len + 1); /* kept for reloads */

		if (fit)
			buf = fit;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int acl_policy_load(const char *path, struct acl_policy **out, char *err,
		    size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = acl_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	rc = acl_policy_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

/* ---- subjects ------------------------------------------------------- */

static bool acl_subst_ok(const char *v, size_t len)
{
	if (!v || !len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (v[i] == '/' || v[i] == '+' || v[i] == '#' || v[i] == '\0')
			return false;
	return true;
}

/* Substitutes %u and %c of r for s into sr; false if not possible. */
static bool acl_subst(const struct acl_subject *s, const struct acl_rule *r,
		      struct acl_srule *sr, bool *oom)
{
	size_t cap = r->len, n = 0;
	char *out;

	for (size_t i = 0; i + 1 < r->len; i++) {
		if (r->filter[i] != '%')
			continue;
		if (r->filter[i + 1] == 'u') {
			if (!acl_subst_ok(s->user, s->user_len))
				return false;
			cap += s->user_len;
		} else if (r->filter[i + 1] == 'c') {
			if (!acl_subst_ok(s->id, s->id_len))
				return false;
			cap += s->id_len;
		}
	}
	out = malloc(cap + 1);
	if (!out) {
		*oom = true;
		return false;
	}
	for (size_t i = 0; i < r->len; i++) {
		if (r->filter[i] == '%' && i + 1 < r->len &&
		    (r->filter[i + 1] == 'u' || r->filter[i + 1] == 'c')) {
			bool u = r->filter[i + 1] == 'u';

			memcpy(out + n, u ? s->user : s->id,
			       u ? s->user_len : s->id_len);
			n += u ? s->user_len : s->id_len;
			i++;
		} else {
			out[n++] = r->filter[i];
		}
	}
	out[n] = '\0';
	sr->filter = out;
	sr->len = (uint32_t)n;
	sr->owned = true;
	return true;
}

static void acl_subject_add_role(struct acl_subject *s, uint32_t r)
{
	for (uint32_t i = 0; i < s->n_roles; i++)
		if (s->roles[i] == r)
			return;
	if (s->n_roles < ACL_MAX_ROLES)
		s->roles[s->n_roles++] = r;
}

static void acl_subject_rules_free(struct acl_subject *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->rules[i].owned)
			free((char *)s->rules[i].filter);
	free(s->rules);
	s->rules = NULL;
	s->n = 0;
	s->n_roles = 0;
}

/* (Re)builds s's roles and rules from its identity and s->pol. */
static int acl_subject_resolve(struct acl_subject *s)
{
	const struct acl_policy *p = s->pol;
	const struct acl_rolelist *base;
	const struct acl_user *u = NULL;
	size_t total = 0;
	bool oom = false;

	acl_subject_rules_free(s);
	if (s->user)
		u = acl_user_find(p, s->user, s->user_len);
	s->open = !u && p->open;
	if (s->open)
		return 0;
	if (u) {
		for (uint32_t i = 0; i < u->n; i++)
			acl_subject_add_role(s, u->roles[i]);
	} else {
		base = s->user ? &p->default_roles : &p->anonymous_roles;
		for (uint32_t i = 0; i < base->n; i++)
			acl_subject_add_role(s, base->idx[i]);
	}
	for (size_t i = 0; i < s->n_ext; i++) {
		long r = acl_role_find(p, s->ext[i], strlen(s->ext[i]));

		if (r >= 0)
			acl_subject_add_role(s, (uint32_t)r);
	}
	for (uint32_t i = 0; i < s->n_roles; i++)
		total += p->roles[s->roles[i]].n;
	if (total) {
		s->rules = calloc(total, sizeof(*s->rules));
		if (!s->rules)
			return TERN_ENOMEM;
	}
	for (uint32_t i = 0; i < s->n_roles; i++) {
		const struct acl_role *role = &p->roles[s->roles[i]];

		for (uint32_t k = 0; k < role->n; k++) {
			const struct acl_rule *r = &role->rules[k];
			struct acl_srule *sr = &s->rules[s->n];

			sr->actions = r->actions;
			sr->max_qos = r->max_qos;
			sr->allow = r->allow;
			sr->retain = r->retain;
			if (!r->subst) {
				sr->filter = r->filter;
				sr->len = r->len;
			} else if (!acl_subst(s, r, sr, &oom)) {
				if (oom)
					return TERN_ENOMEM;
				if (r->allow)
					continue; /* matches nothing */
				sr->all = true;
			}
			s->n++;
		}
	}
	return 0;
}

struct acl_subject *acl_subject_new(struct acl_policy *p,
				    const struct acl_identity *id)
{
	struct acl_subject *s = calloc(1, sizeof(*s));
	size_t n_ext = id->n_roles < ACL_MAX_ROLES ? id->n_roles
						   : ACL_MAX_ROLES;

	if (!s)
		return NULL;
	s->pol = acl_policy_ref(p);
	if (id->user) {
		s->user = acl_strndup(id->user, id->user_len);
		s->user_len = id->user_len;
	}
	s->id = acl_strndup(id->client_id ? id->client_id : "",
			    id->client_id_len);
	s->id_len = id->client_id_len;
	if (n_ext)
		s->ext = calloc(n_ext, sizeof(*s->ext));
	if ((id->user && !s->user) || !s->id || (n_ext && !s->ext))
		goto fail;
	for (size_t i = 0; i < n_ext; i++) {
		s->ext[i] = acl_strndup(id->roles[i], id->role_lens[i]);
		if (!s->ext[i])
			goto fail;
		s->n_ext++;
	}
	if (acl_subject_resolve(s))
		goto fail;
	return s;
fail:
	acl_subject_free(s);
	return NULL;
}

/* Points s at policy p and resolves again. */
static int acl_subject_rebind(struct acl_subject *s, struct acl_policy *p)
{
	acl_policy_unref(s->pol);
	s->pol = acl_policy_ref(p);
	return acl_subject_resolve(s);
}

void acl_subject_free(struct acl_subject *s)
{
	if (!s)
		return;
	acl_subject_rules_free(s);
	for (size_t i = 0; i < s->n_ext; i++)
		free(s->ext[i]);
	free(s->ext);
	free(s->user);
	free(s->id);
	acl_policy_unref(s->pol);
	free(s);
}

const struct acl_policy *acl_subject_policy(const struct acl_subject *s)
{
	return s->pol;
}

void acl_subject_roles(const struct acl_subject *s, char *buf, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return;
	buf[0] = '\0';
	for (uint32_t i = 0; i < s->n_roles && n < cap; i++) {
		int w = snprintf(buf + n, cap - n, "%s%s", i ? "," : "",
				 s->pol->roles[s->roles[i]].name);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* ---- checks --------------------------------------------------------- */

bool acl_check_publish(const struct acl_subject *s, const char *topic,
		       size_t len, uint8_t qos, bool retain)
{
	if (s->open)
		return true;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct acl_srule *r = &s->rules[i];

		if (!(r->actions & ACL_PUBLISH))
			continue;
		if (!r->all && !topic_matches(r->filter, r->len, topic, len))
			continue;
		if (!r->allow)
			return false;
		return qos <= r->max_qos && (!retain || r->retain);
	}
	return false;
}

int acl_check_subscribe(const struct acl_subject *s, const char *filter,
			size_t len)
{
	if (s->open)
		return 2;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct acl_srule *r = &s->rules[i];

		if (!(r->actions & ACL_SUBSCRIBE))
			continue;
		if (!r->allow) {
			if (r->all ||
			    acl_filter_overlaps(r->filter, r->len, filter, len))
				return -1;
		} else if (acl_filter_covers(r->filter, r->len, filter, len)) {
			return r->max_qos;
		}
	}
	return -1;
}

int acl_check_receive(const struct acl_subject *s, const char *topic,
		      size_t len)
{
	if (s->open)
		return 2;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct acl_srule *r = &s->rules[i];

		if (!(r->actions & ACL_SUBSCRIBE))
			continue;
		if (!r->all && !topic_matches(r->filter, r->len, topic, len))
			continue;
		return r->allow ? r->max_qos : -1;
	}
	return -1;
}

/* ---- the node ------------------------------------------------------- */

struct acl {
	uv_mutex_t lock;
	struct acl_policy *policy;
	uint64_t next_gen;
	/* policy->gen, read without the lock by every check (acl_conn_sync) */
	_Atomic uint64_t gen;
	/* what the policy is built from (control thread only): the ACL
	 * file's text (NULL: no acl_file) and the user store's document */
	char *file_text;
	size_t file_len;
	char *store_doc;
	size_t store_len;
	/* an ACL file, or roles in the user store: roles matter */
	_Atomic bool enforced;
};

static struct acl_policy *acl_current(struct acl *a)
{
	struct acl_policy *p;

	uv_mutex_lock(&a->lock);
	p = acl_policy_ref(a->policy);
	uv_mutex_unlock(&a->lock);
	return p;
}

int acl_setup(struct tern_node *n, char *err, size_t errlen)
{
	struct acl_policy *p;
	struct acl *a;
	int rc;

	char *text = NULL;
	size_t len = 0;

	n->acl = NULL;
	/* with a store, roles may come from it at run time: the engine is
	 * there from the start (an open policy until a role applies) */
	if (!n->cfg.acl_file[0] && !n->store)
		return 0;
	if (n->cfg.acl_file[0]) {
		rc = acl_read_file(n->cfg.acl_file, &text, &len, err, errlen);
		if (rc)
			return rc;
	}
	rc = acl_policy_build(text, len, n->cfg.acl_file, NULL, 0, &p, err,
			      errlen);
	if (rc) {
		free(text);
		return rc;
	}
	a = calloc(1, sizeof(*a));
	if (!a || uv_mutex_init(&a->lock)) {
		free(a);
		free(text);
		acl_policy_unref(p);
		snprintf(err, errlen, "acl_file: out of memory");
		return TERN_ENOMEM;
	}
	a->file_text = text;
	a->file_len = len;
	p->gen = ++a->next_gen;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	atomic_store(&a->enforced, !p->open);
	n->acl = a;
	if (text)
		log_info("acl_file %s: %zu role(s), %zu user(s)",
			 n->cfg.acl_file, p->n_roles, p->n_users);
	return 0;
}

/*
 * Applies the subject's verdict to one subscription of s through the
 * router: removed when refused (frees sub), subscribed again with the QoS
 * capped when the rules allow less than it holds. Returns true if it did
 * either (sub may be gone).
 */
static bool acl_fix_sub(struct conn *c, struct session *s,
			struct session_sub *sub)
{
	int max = acl_check_subscribe(c->acl, sub->filter, sub->len);
	size_t glen = sub->share ? strlen(sub->share) : 0;
	size_t len = sub->share ? 8 + glen + sub->len : sub->len;
	char stack[256], *full = sub->filter;
	bool existed;

	if (max >= MQTT_SUBOPT_QOS(sub->opts))
		return false;
	if (sub->share) {
		full = len <= sizeof(stack) ? stack : malloc(len);
		if (!full)
			return false; /* kept; the next refresh tries again */
		memcpy(full, "$share/", 7);
		memcpy(full + 7, sub->share, glen);
		full[7 + glen] = '/';
		memcpy(full + 8 + glen, sub->filter, sub->len);
	}
	log_info("%s: client \"%.*s\": subscription \"%.*s\" %s by the ACL",
		 c->peer, (int)s->id_len, s->id, (int)len, full,
		 max < 0 ? "removed: not allowed" : "downgraded to its QoS cap");
	if (max < 0)
		router_unsubscribe(c->w, s, full, len);
	else /* the router caps the QoS again through c->acl */
		router_subscribe(c->w, s, full, len, sub->opts, sub->sub_id,
				 &existed);
	if (full != sub->filter && full != stack)
		free(full);
	return true;
}

/* Removes (or downgrades) the subscriptions of c's session that its
 * subject refuses. */
void acl_conn_prune(struct conn *c)
{
	struct session *s = c->s;
	struct session_sub *sub, *next;
	size_t changed = 0;

	if (!s || !c->acl)
		return;
	for (sub = s->subs; sub; sub = next) {
		next = sub->next;
		if (acl_fix_sub(c, s, sub))
			changed++;
	}
	if (changed)
		persist_session(s);
}

int acl_conn_attach(struct conn *c, const char *user, size_t user_len,
		    const char *id, size_t id_len)
{
	return acl_conn_attach_roles(c, user, user_len, id, id_len, NULL, NULL,
				     0);
}

int acl_conn_attach_roles(struct conn *c, const char *user, size_t user_len,
			  const char *id, size_t id_len,
			  const char *const *roles, const size_t *role_lens,
			  size_t n_roles)
{
	struct acl *a = c->w->node->acl;
	struct acl_identity ident = {.user = user,
				     .user_len = user_len,
				     .client_id = id,
				     .client_id_len = id_len,
				     .roles = roles,
				     .role_lens = role_lens,
				     .n_roles = n_roles};
	struct acl_policy *p;

	if (!a)
		return 0;
	p = acl_current(a);
	acl_subject_free(c->acl);
	c->acl = acl_subject_new(p, &ident);
	acl_policy_unref(p);
	if (!c->acl)
		return TERN_ENOMEM;
	if (c->acl->open && !user) {
		/* no ACL file: an anonymous client stays unrestricted
		 * whatever the user store holds, so it needs no subject
		 * (and no memory) */
		acl_subject_free(c->acl);
		c->acl = NULL;
	}
	return 0;
}

void acl_conn_refresh(struct conn *c)
{
	struct acl *a = c->w->node->acl;
	struct acl_policy *p;

	if (!a || !c->acl)
		return;
	p = acl_current(a);
	if (p != c->acl->pol && acl_subject_rebind(c->acl, p)) {
		/* out of memory: refuse everything rather than allow */
		acl_subject_rules_free(c->acl);
		log_error("%s: out of memory applying the new ACL: the client "
			  "is denied everything",
			  c->peer);
	}
	acl_policy_unref(p);
	acl_conn_prune(c);
}

void acl_conn_sync(struct conn *c)
{
	struct acl *a = c->w->node->acl;

	if (a && c->acl &&
	    atomic_load_explicit(&a->gen, memory_order_acquire) !=
		    c->acl->pol->gen)
		acl_conn_refresh(c);
}

static void acl_refresh_worker(struct worker *w, void *arg)
{
	(void)arg;
	for (struct conn *c = w->conns; c; c = c->next)
		if (c->state == CONN_ACTIVE)
			acl_conn_refresh(c);
}

/* Makes p (taken) the policy and refreshes every live connection. */
static void acl_swap(struct tern_node *n, struct acl_policy *p, bool live)
{
	struct acl *a = n->acl;
	struct acl_policy *old;

	uv_mutex_lock(&a->lock);
	p->gen = ++a->next_gen;
	old = a->policy;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	atomic_store(&a->enforced, !p->open || p->n_roles > 0);
	uv_mutex_unlock(&a->lock);
	acl_policy_unref(old);
	for (uint32_t i = 0; live && i < n->n_workers; i++)
		if (worker_call(n, i, acl_refresh_worker, NULL))
			log_error("ACL change: worker %u did not answer", i);
}

int acl_store_set(struct tern_node *n, const char *doc, bool live, char *err,
		  size_t errlen)
{
	struct acl *a = n->acl;
	struct acl_policy *p;
	char *copy;
	int rc;

	if (!a)
		return 0;
	copy = doc ? strdup(doc) : NULL;
	if (doc && !copy)
		return TERN_ENOMEM;
	rc = acl_policy_build(a->file_text, a->file_len, n->cfg.acl_file, copy,
			      copy ? strlen(copy) : 0, &p, err, errlen);
	if (rc) {
		free(copy);
		return rc;
	}
	free(a->store_doc);
	a->store_doc = copy;
	a->store_len = copy ? strlen(copy) : 0;
	acl_swap(n, p, live);
	return 0;
}

int acl_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct acl *a = n->acl;
	struct acl_policy *p, *old;
	char *text;
	size_t len;
	int rc;

	if (!a || !a->file_text)
		return 0;
	rc = acl_read_file(n->cfg.acl_file, &text, &len, err, errlen);
	if (rc)
		return rc;
	rc = acl_policy_build(text, len, n->cfg.acl_file, a->store_doc,
			      a->store_len, &p, err, errlen);
	if (rc) {
		free(text);
		return rc;
	}
	free(a->file_text);
	a->file_text = text;
	a->file_len = len;
	uv_mutex_lock(&a->lock);
	p->gen = ++a->next_gen;
	old = a->policy;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	uv_mutex_unlock(&a->lock);
	acl_policy_unref(old);
	log_info("acl_file %s reloaded: %zu role(s), %zu user(s)",
		 n->cfg.acl_file, p->n_roles, p->n_users);
	for (uint32_t i = 0; i < n->n_workers; i++)
		if (worker_call(n, i, acl_refresh_worker, NULL))
			log_error("ACL reload: worker %u did not answer", i);
	return 0;
}

bool acl_enforced(const struct tern_node *n)
{
	return n->acl && atomic_load(&n->acl->enforced);
}

void acl_teardown(struct tern_node *n)
{
	struct acl *a = n->acl;

	if (!a)
		return;
	acl_policy_unref(a->policy);
	uv_mutex_destroy(&a->lock);
	free(a->file_text);
	free(a->store_doc);
	free(a);
	n->acl = NULL;
}
