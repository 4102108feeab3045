/*
 * acl.c - the ACL engine's core (see acl.h): filter relations, the policy
 * object (reference counting, lookups by name), subjects (a connection's
 * roles resolved, %u/%c substituted) and the checks on them. Parsing is in
 * acl_parse.c, the node's state and live connections in acl_node.c.
 *
 * Threads: a policy is immutable once built and shared by reference.
 * Subjects belong to one connection and so to one worker.
 */
#include "acl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl_int.h"
#include "tern_err.h"
#include "topic.h"

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

void acl_policy_free(struct acl_policy *p)
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
long acl_find(const void *base, size_t n, size_t size, const char *name,
	      size_t len)
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

long acl_role_find(const struct acl_policy *p, const char *name, size_t len)
{
	return acl_find(p->roles, p->n_roles, sizeof(*p->roles), name, len);
}

static const struct acl_user *acl_user_find(const struct acl_policy *p,
					    const char *name, size_t len)
{
	long i = acl_find(p->users, p->n_users, sizeof(*p->users), name, len);

	return i < 0 ? NULL : &p->users[i];
}

char *acl_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
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

void acl_subject_rules_free(struct acl_subject *s)
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
int acl_subject_rebind(struct acl_subject *s, struct acl_policy *p)
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
