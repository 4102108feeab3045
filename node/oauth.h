/*
 * oauth.h - Tern as an OAuth 2.0 authorization server for devices: the
 * client-credentials grant (RFC 6749 section 4.4) on the admin HTTP
 * listener, issuing short-lived JWTs that the JWT provider (auth_jwt.h)
 * accepts, the public keys as a JWK set, and the OAuth clients (id, hashed
 * secret, roles) in the node's identity store (ident.h).
 *
 *   POST /oauth/token               grant_type=client_credentials
 *   GET  /.well-known/jwks.json     the signing key's public JWK
 *   GET|PUT|DELETE /api/v1/oauth-clients[/ID]   (admin token)
 *
 * docs/SECURITY.md describes the behaviour; this is the admin side. The
 * signing key (oauth_signing_key, a PEM private key) is loaded at start
 * and again on SIGHUP (key rotation, oauth_reload).
 */
#ifndef TERN_OAUTH_H
#define TERN_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

struct admin_conn;
struct tern_node;

/* Loads oauth_signing_key into n->oauth (NULL when not configured).
 * Returns 0 or TERN_ECONFIG with the reason in err. Control thread. */
int oauth_setup(struct tern_node *n, char *err, size_t errlen);
void oauth_teardown(struct tern_node *n);

/*
 * Reads oauth_signing_key again (SIGHUP). A different key signs the new
 * tokens (with its own kid); the previous one stays in the JWK set and
 * trusted by the JWT provider until its last token expired (rotation time
 * or the last token it signed, + oauth_token_ttl + jwt_leeway), then it is
 * dropped (a timer on the control loop). An unreadable or public key
 * keeps the old one: returns TERN_ECONFIG with the reason in err. Control
 * thread.
 */
int oauth_reload(struct tern_node *n, char *err, size_t errlen);

/* Admin routes (control loop). */
void oauth_token(struct admin_conn *c);
void oauth_jwks(struct admin_conn *c);
void oauth_clients(struct admin_conn *c, const char *id, size_t len);

/* c is closing with a token request in the thread pool: drop the answer. */
void oauth_conn_gone(struct admin_conn *c);

#endif
