/*
 * acl_parse.c - the ACL engine's parser (see acl.h): the rule language
 * (YAML or JSON, shared with the user store through acl_rules_canonical),
 * an ACL file's roles, users, default_roles and anonymous_roles into a
 * policy, the user store's roles and users merged over the file's
 * (acl_policy_build), and reading the file. Pure: no loop, no node.
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

#include "acl_int.h"
#include "tern_err.h"
#include "topic.h"

#define ACL_FILE_MAX (4u << 20)
#define ACL_FILTER_MAX 65535u

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
int acl_read_file(const char *path, char **out, size_t *outlen, char *err,
		  size_t errlen)
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
