/*
 * users.c - the user store's values and its hand-over to auth and the ACL
 * (see users.h). The admin side is users_api.c.
 */
#include "users.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "auth.h"
#include "conn.h"
#include "ident.h"
#include "log.h"
#include "mqtt.h"
#include "node.h"
#include "tern_err.h"
#include "worker.h"

/* ---- values (pure) -------------------------------------------------- */

bool users_name_ok(const char *name, size_t len)
{
	json_t *s;

	if (!ident_name_ok(name, len))
		return false;
	s = json_stringn(name, len); /* NULL: not UTF-8 */
	json_decref(s);
	return s != NULL;
}

bool users_role_name_ok(const char *name, size_t len)
{
	return users_name_ok(name, len) && len <= ACL_ROLE_NAME_MAX &&
	       !memchr(name, ',', len);
}

/* roles: an array of valid role names; returns a new array without
 * duplicates, or NULL (*why set). */
static json_t *users_roles_clean(json_t *roles, const char **why)
{
	json_t *out, *r;
	size_t i;

	if (!json_is_array(roles)) {
		*why = "roles must be a list of role names";
		return NULL;
	}
	out = json_array();
	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	json_array_foreach(roles, i, r) {
		const char *s = json_string_value(r);
		bool dup = false;
		size_t k;
		json_t *o;

		if (!s || !users_role_name_ok(s, json_string_length(r))) {
			*why = "a role name is 1 to 64 printable bytes, "
			       "without ',' or ':'";
			json_decref(out);
			return NULL;
		}
		json_array_foreach(out, k, o)
		dup |= json_equal(o, r);
		if (dup)
			continue;
		if (json_array_size(out) == ACL_MAX_ROLES) {
			*why = "more than 32 roles";
			json_decref(out);
			return NULL;
		}
		json_array_append(out, r);
	}
	return out;
}

void users_put_free(struct users_put *p)
{
	if (p->password) {
		OPENSSL_cleanse(p->password, p->password_len);
		free(p->password);
	}
	free(p->hash);
	json_decref(p->roles);
	memset(p, 0, sizeof(*p));
}

int users_put_parse(const char *body, struct users_put *out,
		    const char **why)
{
	json_t *j, *pw, *hash, *roles;
	struct auth_hash h;
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	j = json_loads(body ? body : "", JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		*why = "the body must be a JSON object";
		goto bad;
	}
	json_object_foreach(j, key, v) {
		if (strcmp(key, "password") && strcmp(key, "password_hash") &&
		    strcmp(key, "roles")) {
			*why = "unknown key (password, password_hash, roles)";
			goto bad;
		}
	}
	pw = json_object_get(j, "password");
	hash = json_object_get(j, "password_hash");
	roles = json_object_get(j, "roles");
	if (pw && hash) {
		*why = "give password or password_hash, not both";
		goto bad;
	}
	if (pw && (!json_is_string(pw) || !json_string_length(pw) ||
		   json_string_length(pw) > USERS_PASSWORD_MAX)) {
		*why = "password must be a string of 1 to 1024 bytes";
		goto bad;
	}
	if (hash && (!json_is_string(hash) ||
		     auth_hash_parse(json_string_value(hash),
				     json_string_length(hash), &h, why))) {
		if (!json_is_string(hash))
			*why = "password_hash must be a string";
		goto bad;
	}
	if (roles && !(out->roles = users_roles_clean(roles, why)))
		goto bad;
	if (pw) {
		out->password_len = json_string_length(pw);
		out->password = malloc(out->password_len + 1);
		if (!out->password) {
			*why = "out of memory";
			goto bad;
		}
		memcpy(out->password, json_string_value(pw),
		       out->password_len + 1);
	}
	if (hash && !(out->hash = strdup(json_string_value(hash)))) {
		*why = "out of memory";
		goto bad;
	}
	if (pw)
		OPENSSL_cleanse((char *)json_string_value(pw),
				json_string_length(pw));
	json_decref(j);
	OPENSSL_cleanse(&h, sizeof(h));
	return 0;
bad:
	if (j && (pw = json_object_get(j, "password")) && json_is_string(pw))
		OPENSSL_cleanse((char *)json_string_value(pw),
				json_string_length(pw));
	json_decref(j);
	users_put_free(out);
	return TERN_EINVAL;
}

int users_user_parse(const char *json, json_t **j, const char **hash,
		     json_t **roles, const char **why)
{
	json_t *v = json_loads(json, 0, NULL), *h, *r;
	struct auth_hash parsed;

	*j = NULL;
	h = json_object_get(v, "hash");
	r = json_object_get(v, "roles");
	if (!json_is_object(v) || !json_is_string(h)) {
		*why = "not a user record";
		goto bad;
	}
	if (auth_hash_parse(json_string_value(h), json_string_length(h),
			    &parsed, why))
		goto bad;
	OPENSSL_cleanse(&parsed, sizeof(parsed));
	if (r && !json_is_array(r)) {
		*why = "roles is not a list";
		goto bad;
	}
	*j = v;
	*hash = json_string_value(h);
	*roles = r;
	return 0;
bad:
	json_decref(v);
	return TERN_EINVAL;
}

int users_user_value(const char *old, const char *hash, json_t *roles,
		     char **out)
{
	json_t *o = old ? json_loads(old, 0, NULL) : NULL, *v;
	const char *h = hash;
	json_t *r = roles;

	*out = NULL;
	if (!h)
		h = json_string_value(json_object_get(o, "hash"));
	if (!r)
		r = json_object_get(o, "roles");
	if (!h) {
		json_decref(o);
		return TERN_EINVAL;
	}
	v = json_pack("{s:s, s:o}", "hash", h, "roles",
		      json_is_array(r) ? json_incref(r) : json_array());
	json_decref(o);
	*out = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return *out ? 0 : TERN_ENOMEM;
}

/* ---- the node ------------------------------------------------------- */

struct users_build {
	struct auth_table *t;
	size_t cap;
	json_t *roles; /* ACL document: role -> rules */
	json_t *users; /* ACL document: user -> roles (users with roles) */
	size_t n_users, n_roles;
};

static int users_scan_user(void *ctx, const char *name, size_t len,
			   const char *json)
{
	struct users_build *b = ctx;
	const char *hash, *why = NULL;
	json_t *j, *roles;
	char key[IDENT_NAME_MAX + 1];
	int rc;

	if (users_user_parse(json, &j, &hash, &roles, &why)) {
		log_warn("user store: user \"%.*s\" skipped: %s", (int)len,
			 name, why);
		return 0;
	}
	rc = auth_table_put(b->t, &b->cap, name, len, hash, strlen(hash),
			    &why);
	if (rc == TERN_EINVAL) {
		log_warn("user store: user \"%.*s\" skipped: %s", (int)len,
			 name, why);
		rc = 0;
	} else if (rc == 0) {
		b->n_users++;
		memcpy(key, name, len);
		key[len] = '\0';
		if (json_array_size(roles) &&
		    json_object_set(b->users, key, roles))
			rc = TERN_ENOMEM;
	}
	json_decref(j);
	return rc;
}

static int users_scan_role(void *ctx, const char *name, size_t len,
			   const char *json)
{
	struct users_build *b = ctx;
	json_t *j = json_loads(json, 0, NULL), *rules;
	char key[IDENT_NAME_MAX + 1];
	int rc = 0;

	rules = json_object_get(j, "rules");
	memcpy(key, name, len);
	key[len] = '\0';
	if (!json_is_array(rules) || !users_role_name_ok(name, len))
		log_warn("user store: role \"%s\" skipped: not a role record",
			 key);
	else if (json_object_set(b->roles, key, rules))
		rc = TERN_ENOMEM;
	else
		b->n_roles++;
	json_decref(j);
	return rc;
}

int users_rebuild(struct tern_node *n, bool live)
{
	struct users_build b = {0};
	char err[512], *doc = NULL;
	json_t *top;
	int rc;

	if (!n->store)
		return 0;
	b.t = auth_table_new();
	b.roles = json_object();
	b.users = json_object();
	top = json_pack("{s:o, s:o}", "roles", b.roles, "users", b.users);
	if (!b.t || !top) {
		auth_table_unref(b.t);
		json_decref(top);
		return TERN_ENOMEM;
	}
	rc = ident_scan(n, IDENT_USER, users_scan_user, &b);
	if (!rc)
		rc = ident_scan(n, IDENT_ROLE, users_scan_role, &b);
	/* ": " and ", " separators (not JSON_COMPACT): YAML reads it */
	if (!rc && !(doc = json_dumps(top, 0)))
		rc = TERN_ENOMEM;
	json_decref(top);
	if (rc) {
		auth_table_unref(b.t);
		log_error("user store: cannot read it: %s", tern_strerror(rc));
		return rc;
	}
	auth_table_seal(b.t);
	auth_store_set(n, b.t);
	rc = acl_store_set(n, doc, live, err, sizeof(err));
	if (rc)
		log_error("user store: roles not applied: %s", err);
	free(doc);
	if (!live && (b.n_users || b.n_roles))
		log_info("user store: %zu user(s), %zu role(s)", b.n_users,
			 b.n_roles);
	return rc;
}

int users_setup(struct tern_node *n, char *err, size_t errlen)
{
	int rc;

	n->users = NULL;
	if (!n->store)
		return 0;
	n->users = calloc(1, sizeof(*n->users));
	if (!n->users) {
		snprintf(err, errlen, "user store: out of memory");
		return TERN_ENOMEM;
	}
	rc = users_rebuild(n, false);
	if (rc)
		snprintf(err, errlen, "user store: cannot load it: %s",
			 tern_strerror(rc));
	return rc;
}

void users_teardown(struct tern_node *n)
{
	struct users *u = n->users;

	if (!u)
		return;
	/* hashes in the thread pool apply their write when they end (~50
	 * ms each; bounded anyway) */
	for (int i = 0; u->pending && i < 1000; i++)
		uv_run(u->loop, UV_RUN_ONCE);
	if (u->pending)
		return; /* leaked rather than freed under a running thread */
	free(u);
	n->users = NULL;
}

struct users_kick_arg {
	size_t len;
	const char *why;
	char name[];
};

static void users_kick_worker(struct worker *w, void *arg)
{
	struct users_kick_arg *k = arg;

	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		bool store = c->auth_name_src == CONN_NAME_STORE ||
			     (c->auth_name_src == CONN_NAME_SCRAM &&
			      c->auth_store);

		if (c->state != CONN_ACTIVE || !store || !c->auth_name ||
		    strlen(c->auth_name) != k->len ||
		    memcmp(c->auth_name, k->name, k->len))
			continue;
		log_info("%s: user \"%s\" %s in the user store: disconnected",
			 c->peer, k->name, k->why);
		conn_close(c, MQTT_RC_NOT_AUTHORIZED, true);
	}
	free(k);
}

void users_kick(struct tern_node *n, const char *name, size_t len,
		const char *why)
{
	for (uint32_t i = 0; i < n->n_workers; i++) {
		struct users_kick_arg *k = malloc(sizeof(*k) + len + 1);

		if (!k) {
			log_error("user store: cannot disconnect \"%.*s\" "
				  "(out of memory)",
				  (int)len, name);
			continue;
		}
		k->len = len;
		k->why = why;
		memcpy(k->name, name, len);
		k->name[len] = '\0';
		if (worker_call(n, i, users_kick_worker, k)) {
			free(k);
			log_error("user store: worker %u did not answer", i);
		}
	}
}
