/*
 * auth_ldap.h - the LDAP authentication provider: a CONNECT's username and
 * password are checked by binding to an LDAP server as the user, and the
 * groups the directory lists for the user become ACL roles through
 * ldap_role_map. docs/SECURITY.md ("LDAP") describes the behaviour.
 *
 * Two ways to find the user's DN:
 *  - ldap_bind_dn, a template: "uid=%u,ou=people,dc=example,dc=com" with
 *    %u the username escaped as an RFC 4514 attribute value;
 *  - search-then-bind: ldap_search_base and ldap_search_filter ("(uid=%u)",
 *    %u escaped per RFC 4515), searched as ldap_service_dn (or anonymously),
 *    exactly one entry must match; then a bind as that entry.
 * Groups: the values of ldap_group_attr (e.g. memberOf) on the user's
 * entry, and/or the entries under ldap_group_base matching
 * ldap_group_filter ("(member=%d)", %d the user's DN). A group lookup that
 * fails refuses the client (roles may carry deny rules).
 *
 * An empty password is refused before any LDAP traffic: a simple bind
 * with a DN and no password is an "unauthenticated bind" (RFC 4513 5.1.2)
 * that many servers answer with success.
 *
 * Threads: libldap's synchronous calls block, so a verification runs in
 * libuv's thread pool (uv_queue_work on the worker's loop) with its own
 * LDAP connection, opened and closed per CONNECT (no pool: a bind changes
 * the connection's identity, and one connection per job keeps jobs
 * independent). The connection is held meanwhile (conn_hold) and released
 * from the after-work callback; the CONNECT is then handled again and
 * auth_ldap_connect returns the answer kept in c->ldap_job. Every step
 * (connect, TLS, binds, searches) shares one deadline, ldap_timeout_ms.
 * The provider's settings and role map are immutable once set up; only
 * the service password is replaced on SIGHUP (under a mutex).
 */
#ifndef TERN_AUTH_LDAP_H
#define TERN_AUTH_LDAP_H

#include <stddef.h>

#include "auth.h"

struct conn;
struct mqtt_connect;
struct tern_node;

#define AUTH_LDAP_USER_MAX 256 /* longest username sent to LDAP, bytes */
#define AUTH_LDAP_MAP_MAX 256  /* entries in ldap_role_map */

/*
 * Checks the ldap_* keys, reads ldap_service_password_file and parses
 * ldap_role_map into n->ldap (NULL when ldap_url is empty). Returns 0 or
 * TERN_ECONFIG with the reason in err (TERN_ENOMEM). Control thread,
 * before the workers start.
 */
int auth_ldap_setup(struct tern_node *n, char *err, size_t errlen);

/* Reads ldap_service_password_file again (SIGHUP); on error the old
 * password stays. Returns 0 (also without LDAP) or TERN_ECONFIG. */
int auth_ldap_reload(struct tern_node *n, char *err, size_t errlen);

/* Frees n->ldap after the workers stopped (no job is in flight). */
void auth_ldap_teardown(struct tern_node *n);

/*
 * Verifies p's username and password (both present) for c. First pass:
 * refuses an empty password or an unusable username at once, else queues
 * the bind and returns AUTH_PENDING with c held. Second pass (c->ldap_job
 * set and done): returns the answer; on AUTH_ALLOW c's ACL subject is the
 * username with the mapped roles (acl_conn_attach_roles). Refusals are
 * logged with the reason, never the password. Worker thread.
 */
enum auth_verdict auth_ldap_connect(struct conn *c,
				    const struct mqtt_connect *p,
				    const char *id, size_t id_len);

/* c is being freed: a job in flight drops its answer, a finished one is
 * freed. Called by auth_conn_gone. */
void auth_ldap_conn_gone(struct conn *c);

#endif
