/*
 * users_api.c - /api/v1/users and /api/v1/roles (see users.h and
 * docs/ADMIN.md). Control loop. A plain password is hashed in libuv's
 * thread pool (~50 ms of PBKDF2 must not stall the admin loop); the write
 * happens in the after-work callback, whether or not the client waited.
 * Answers never carry a hash or a password.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "admin_int.h"
#include "auth.h"
#include "ident.h"
#include "log.h"
#include "node.h"
#include "tern_err.h"
#include "users.h"

#define USERS_NO_STORE                                                      \
	"users and roles need the store (durability process-crash or "      \
	"power-loss); this node runs with durability none"

struct users_work {
	uv_work_t req;
	struct admin_conn *c; /* NULL: went away */
	struct tern_node *n;
	json_t *roles; /* NULL: keep */
	int rc;
	char hash[AUTH_HASH_STRLEN];
	char name[IDENT_NAME_MAX + 1];
	size_t len;
	size_t pw_len;
	char pw[];
};

static void users_reply_user(struct admin_conn *c, const char *name,
			     size_t len, const char *json)
{
	const char *hash, *why;
	json_t *j, *roles;

	if (!json || users_user_parse(json, &j, &hash, &roles, &why)) {
		admin_http_error(c, 500, "user \"%.*s\": bad record", (int)len,
				 name);
		return;
	}
	admin_http_reply_json(c, 200,
			      json_pack("{s:s%, s:o}", "user", name, len,
					"roles",
					roles ? json_incref(roles)
					      : json_array()));
	json_decref(j);
}

/*
 * Writes user name with hash (NULL: keep) and roles (NULL: keep) through
 * ident_apply, applies it to auth and the ACL, disconnects the user's
 * clients if its password changed, and answers c (if not NULL).
 */
static void users_write(struct tern_node *n, struct admin_conn *c,
			const char *name, size_t len, const char *hash,
			json_t *roles)
{
	struct ident_cmd cmd = {.op = IDENT_PUT,
				.kind = IDENT_USER,
				.name = name,
				.len = len};
	char *old = NULL, *value = NULL;
	int rc;

	rc = ident_get(n, IDENT_USER, name, len, &old);
	if (rc && rc != TERN_ENOTFOUND) {
		if (c)
			admin_http_error(c, 500, "cannot read the user: %s",
					 tern_strerror(rc));
		return;
	}
	rc = users_user_value(old, hash, roles, &value);
	if (rc == TERN_EINVAL) {
		if (c)
			admin_http_error(c, 404,
					 "no user \"%.*s\" (a new user needs "
					 "password or password_hash)",
					 (int)len, name);
		free(old);
		return;
	}
	cmd.value = value;
	if (!rc)
		rc = ident_apply(n, &cmd);
	if (rc) {
		if (c)
			admin_http_error(c, rc == TERN_EQUOTA ? 507 : 500,
					 "cannot store the user: %s",
					 tern_strerror(rc));
		free(old);
		free(value);
		return;
	}
	users_rebuild(n, true);
	if (old && hash)
		users_kick(n, name, len, "had its password changed");
	if (c)
		users_reply_user(c, name, len, value);
	free(old);
	free(value);
}

static void users_on_hash(uv_work_t *req)
{
	struct users_work *w = req->data;

	w->rc = auth_hash_make((const uint8_t *)w->pw, w->pw_len,
			       AUTH_MIN_ITERATIONS, w->hash, sizeof(w->hash));
	OPENSSL_cleanse(w->pw, w->pw_len);
}

static void users_on_hashed(uv_work_t *req, int status)
{
	struct users_work *w = req->data;
	struct admin_conn *c = w->c;

	if (c)
		c->users = NULL;
	if (status || w->rc) {
		if (c)
			admin_http_error(c, 500, "cannot hash the password");
	} else {
		users_write(w->n, c, w->name, w->len, w->hash, w->roles);
	}
	OPENSSL_cleanse(w->hash, sizeof(w->hash));
	json_decref(w->roles);
	w->n->users->pending--;
	free(w);
}

static void users_put(struct admin_conn *c, const char *name, size_t len)
{
	struct tern_node *n = c->a->n;
	struct users_put p;
	struct users_work *w;
	const char *why = NULL;

	if (users_put_parse(c->req.body.p, &p, &why)) {
		admin_http_error(c, 400, "%s", why);
		return;
	}
	if (!p.password) {
		users_write(n, c, name, len, p.hash, p.roles);
		users_put_free(&p);
		return;
	}
	w = calloc(1, sizeof(*w) + p.password_len);
	if (!w) {
		users_put_free(&p);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	w->req.data = w;
	w->c = c;
	w->n = n;
	w->roles = p.roles;
	p.roles = NULL;
	memcpy(w->name, name, len);
	w->len = len;
	w->pw_len = p.password_len;
	memcpy(w->pw, p.password, p.password_len);
	users_put_free(&p);
	if (uv_queue_work(c->a->loop, &w->req, users_on_hash,
			  users_on_hashed)) {
		OPENSSL_cleanse(w->pw, w->pw_len);
		json_decref(w->roles);
		free(w);
		admin_http_error(c, 500, "cannot queue the hash");
		return;
	}
	c->users = w;
	n->users->loop = c->a->loop;
	n->users->pending++;
}

void users_api_conn_gone(struct admin_conn *c)
{
	if (c->users)
		c->users->c = NULL;
	c->users = NULL;
}

/* The name part of the path, unescaped into out; false: answered 400. */
static bool users_path_name(struct admin_conn *c, const char *raw, size_t len,
			    char *out, size_t cap, size_t *olen, bool role)
{
	long n = admin_api_unescape(raw, len, out, cap, false);

	if (n < 0 || !(role ? users_role_name_ok(out, (size_t)n)
			    : users_name_ok(out, (size_t)n))) {
		admin_http_error(c, 400,
				 role ? "bad role name (1 to 64 printable "
					"bytes, no ',' or ':')"
				      : "bad user name (1 to 256 printable "
					"bytes, no ':')");
		return false;
	}
	*olen = (size_t)n;
	return true;
}

static int users_list_one(void *ctx, const char *name, size_t len,
			  const char *json)
{
	json_t *arr = ctx, *v = json_loads(json, 0, NULL), *e, *r;

	r = json_object_get(v, "roles");
	e = json_pack("{s:s%, s:o}", "user", name, len, "roles",
		      json_is_array(r) ? json_incref(r) : json_array());
	json_decref(v);
	return e && !json_array_append_new(arr, e) ? 0 : TERN_ENOMEM;
}

/* ---- roles ---------------------------------------------------------- */

static int users_roles_one(void *ctx, const char *name, size_t len,
			   const char *json)
{
	json_t *arr = ctx, *v = json_loads(json, 0, NULL), *e, *r;

	r = json_object_get(v, "rules");
	e = json_pack("{s:s%, s:o}", "role", name, len, "rules",
		      json_is_array(r) ? json_incref(r) : json_array());
	json_decref(v);
	return e && !json_array_append_new(arr, e) ? 0 : TERN_ENOMEM;
}

static void users_role_put(struct admin_conn *c, const char *name,
			   size_t len)
{
	struct tern_node *n = c->a->n;
	const char *body = c->req.body.p ? c->req.body.p : "";
	struct ident_cmd cmd = {.op = IDENT_PUT,
				.kind = IDENT_ROLE,
				.name = name,
				.len = len};
	char err[256], *text = NULL, *rules = NULL, *value = NULL;
	bool yaml = !strncasecmp(c->req.ctype, "application/yaml", 16) ||
		    !strncasecmp(c->req.ctype, "text/yaml", 9) ||
		    !strncasecmp(c->req.ctype, "application/x-yaml", 18);
	json_t *v;
	int rc;

	if (!yaml) {
		/* JSON: checked as JSON first, then read by the ACL file's
		 * rule parser (YAML reads JSON dumped with spaces) */
		json_error_t jerr;
		json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);

		if (!j) {
			admin_http_error(c, 400, "bad JSON: %s (line %d)",
					 jerr.text, jerr.line);
			return;
		}
		text = json_dumps(j, 0);
		json_decref(j);
		if (!text) {
			admin_http_error(c, 500, "out of memory");
			return;
		}
		body = text;
	}
	rc = acl_rules_canonical(body, strlen(body), &rules, err, sizeof(err));
	free(text);
	if (rc) {
		admin_http_error(c, rc == TERN_EINVAL ? 400 : 500, "%s",
				 rc == TERN_EINVAL ? err : "out of memory");
		return;
	}
	v = json_pack("{s:o}", "rules", json_loads(rules, 0, NULL));
	free(rules);
	value = v ? json_dumps(v, JSON_COMPACT) : NULL;
	if (!value) {
		json_decref(v);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	cmd.value = value;
	rc = ident_apply(n, &cmd);
	free(value);
	if (rc) {
		json_decref(v);
		admin_http_error(c, rc == TERN_EQUOTA ? 507 : 500,
				 "cannot store the role: %s",
				 tern_strerror(rc));
		return;
	}
	users_rebuild(n, true);
	admin_http_reply_json(c, 200,
			      json_pack("{s:s%, s:O}", "role", name, len,
					"rules", json_object_get(v, "rules")));
	json_decref(v);
}

/* A role's JSON as GET /api/v1/roles/NAME shows it. */
static void users_reply_role(struct admin_conn *c, const char *name,
			     size_t len, const char *json)
{
	json_t *arr = json_array();

	if (!arr || users_roles_one(arr, name, len, json)) {
		json_decref(arr);
		admin_http_error(c, 500, "out of memory");
		return;
	}
	admin_http_reply_json(c, 200, json_incref(json_array_get(arr, 0)));
	json_decref(arr);
}

/* ---- /api/v1/users and /api/v1/roles --------------------------------- */

/* What differs between the two collections. */
struct users_api_kind {
	enum ident_kind kind;
	const char *one, *many;  /* "user", "users" */
	const char *where;       /* after "no user \"NAME\"" in a 404 */
	bool role;               /* users_path_name's names of roles */
	bool kick;               /* deleting one disconnects its clients */
	int (*list_one)(void *arr, const char *name, size_t len,
			const char *json);
	void (*put)(struct admin_conn *c, const char *name, size_t len);
	void (*show)(struct admin_conn *c, const char *name, size_t len,
		     const char *json);
};

static const struct users_api_kind users_kind_user = {
	.kind = IDENT_USER, .one = "user", .many = "users", .where = "",
	.kick = true, .list_one = users_list_one, .put = users_put,
	.show = users_reply_user,
};

static const struct users_api_kind users_kind_role = {
	.kind = IDENT_ROLE, .one = "role", .many = "roles",
	.where = " in the user store", .role = true,
	.list_one = users_roles_one, .put = users_role_put,
	.show = users_reply_role,
};

static void users_api_list(struct admin_conn *c,
			   const struct users_api_kind *k)
{
	json_t *arr = json_array();

	if (c->req.method != HTTP_GET && c->req.method != HTTP_HEAD) {
		json_decref(arr);
		admin_http_not_allowed(c, "GET, HEAD");
		return;
	}
	if (!arr || ident_scan(c->a->n, k->kind, k->list_one, arr)) {
		json_decref(arr);
		admin_http_error(c, 500, "cannot list the %s", k->many);
		return;
	}
	admin_http_reply_json(c, 200, json_pack("{s:o}", k->many, arr));
}

static void users_api_delete(struct admin_conn *c,
			     const struct users_api_kind *k, const char *name,
			     size_t len)
{
	struct tern_node *n = c->a->n;
	struct ident_cmd cmd = {
		.op = IDENT_DEL, .kind = k->kind, .name = name, .len = len};

	if (ident_apply(n, &cmd)) {
		admin_http_error(c, 500, "cannot delete the %s", k->one);
		return;
	}
	users_rebuild(n, true);
	if (k->kick)
		users_kick(n, name, len, "was deleted");
	admin_http_reply_json(c, 200, json_pack("{s:s, s:b}", k->one, name,
						"deleted", 1));
}

static void users_api(struct admin_conn *c, const struct users_api_kind *k,
		      const char *raw, size_t rlen)
{
	struct tern_node *n = c->a->n;
	unsigned m = c->req.method;
	char name[IDENT_NAME_MAX + 1];
	size_t len = 0;
	char *json = NULL;

	if (!n->store || !n->users) {
		admin_http_error(c, 503, USERS_NO_STORE);
		return;
	}
	if (!raw) {
		users_api_list(c, k);
		return;
	}
	if (!users_path_name(c, raw, rlen, name, sizeof(name), &len, k->role))
		return;
	if (m == HTTP_PUT) {
		k->put(c, name, len);
		return;
	}
	if (m != HTTP_DELETE && m != HTTP_GET && m != HTTP_HEAD) {
		admin_http_not_allowed(c, "GET, HEAD, PUT, DELETE");
		return;
	}
	if (ident_get(n, k->kind, name, len, &json)) {
		admin_http_error(c, 404, "no %s \"%s\"%s", k->one, name,
				 k->where);
		return;
	}
	if (m == HTTP_DELETE)
		users_api_delete(c, k, name, len);
	else
		k->show(c, name, len, json);
	free(json);
}

void users_api_users(struct admin_conn *c, const char *raw, size_t rlen)
{
	users_api(c, &users_kind_user, raw, rlen);
}

void users_api_roles(struct admin_conn *c, const char *raw, size_t rlen)
{
	users_api(c, &users_kind_role, raw, rlen);
}
