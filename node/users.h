/*
 * users.h - the user store: MQTT users (a password hash and role names)
 * and roles (ordered ACL rules) kept in the identity store (ident.h,
 * kinds IDENT_USER and IDENT_ROLE), changed at run time through the admin
 * API (users_api.c) and effective at once, without a restart.
 *
 * Every change goes through ident_apply (the seam the cluster will
 * replicate), then users_rebuild reads the store again and hands the
 * result to the two engines: the users' hashes to auth.c (a second table
 * after the password file's, auth_store_set) and the users' roles and the
 * roles' rules to acl.c (merged with the ACL file, acl_store_set), which
 * refreshes every live connection as a SIGHUP reload does. A deleted user,
 * or one whose password changed, is disconnected (users_kick).
 *
 * Stored values (JSON objects):
 *   user  {"hash": "$pbkdf2-sha512$...", "roles": ["r1", ...]}
 *         (the hash is whatever auth_hash_parse accepts; never plain text)
 *   role  {"rules": [{"allow": "publish", "topic": "a/#", "max_qos": 2,
 *                     "retain": true}, ...]}  (acl_rules_canonical)
 *
 * The value functions are pure (no loop, no node) for tests.
 */
#ifndef TERN_USERS_H
#define TERN_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct tern_node;

/* n->users: password hashes of admin writes in the thread pool. */
struct users {
	uv_loop_t *loop;  /* the control loop, once a hash was queued */
	unsigned pending; /* hashes in the thread pool */
};

#define USERS_PASSWORD_MAX 1024 /* bytes of a plain password in a PUT */

/* A user name: ident_name_ok and valid UTF-8. */
bool users_name_ok(const char *name, size_t len);

/* A role name: a user name of at most ACL_ROLE_NAME_MAX bytes, no ','. */
bool users_role_name_ok(const char *name, size_t len);

/* A PUT /api/v1/users/NAME body, parsed. */
struct users_put {
	char *password;   /* malloc'd (cleansed by users_put_free) or NULL */
	size_t password_len;
	char *hash;       /* malloc'd, accepted by auth_hash_parse, or NULL */
	json_t *roles;    /* array of role names (new reference) or NULL:
			   * keep the user's roles */
};

/*
 * Parses body: {"password": P} or {"password_hash": H} (not both), and/or
 * {"roles": [NAME...]} (at most ACL_MAX_ROLES valid role names, duplicates
 * dropped); nothing else. Returns 0, or TERN_EINVAL with *why a static
 * reason (out is then empty). Pure.
 */
int users_put_parse(const char *body, struct users_put *out,
		    const char **why);
void users_put_free(struct users_put *p);

/*
 * A stored user value, parsed: hash (auth_hash_parse accepts it) and
 * roles. On success *hash and *roles point into *j (a new reference the
 * caller drops). TERN_EINVAL with *why otherwise. Pure.
 */
int users_user_parse(const char *json, json_t **j, const char **hash,
		     json_t **roles, const char **why);

/*
 * The value to store for a user: hash (NULL: the old value's) and roles
 * (NULL: the old value's, or none). old is the stored value or NULL.
 * Returns 0 with *out malloc'd, TERN_EINVAL (no hash at all) or
 * TERN_ENOMEM. Pure.
 */
int users_user_value(const char *old, const char *hash, json_t *roles,
		     char **out);

/* ---- the node ------------------------------------------------------- */

/*
 * Reads the store's users and roles into auth and the ACL (n->auth and
 * n->acl exist whenever n->store does). No-op without a store. Control
 * thread, after auth_setup and acl_setup, before the workers start.
 */
int users_setup(struct tern_node *n, char *err, size_t errlen);

/*
 * Reads the store again and swaps what auth and the ACL use; with live,
 * connected clients are re-resolved at once (subscriptions the new rules
 * refuse are removed). Control thread.
 */
int users_rebuild(struct tern_node *n, bool live);

/*
 * Disconnects every connection that authenticated as user name[0..len)
 * of the user store (MQTT 5: DISCONNECT 0x87 not authorized; 3.1.1: the
 * socket closes). Asynchronous: each worker does it on its loop. Control
 * thread.
 */
void users_kick(struct tern_node *n, const char *name, size_t len,
		const char *why);

/* Waits for password hashes still in the thread pool (users_api.c). */
void users_teardown(struct tern_node *n);

/* ---- users_api.c: admin routes (control loop, admin token checked) --- */

struct admin_conn;

/* GET /api/v1/users, GET|PUT|DELETE /api/v1/users/NAME (name NULL: the
 * list). A PUT with "password" hashes it in the thread pool. */
void users_api_users(struct admin_conn *c, const char *name, size_t len);

/* GET /api/v1/roles, GET|PUT|DELETE /api/v1/roles/NAME. */
void users_api_roles(struct admin_conn *c, const char *name, size_t len);

/* c is closing with a hash in the thread pool: the write still happens,
 * the answer is dropped. */
void users_api_conn_gone(struct admin_conn *c);

#endif
