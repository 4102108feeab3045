/*
 * auth_jwt.h - the JWT authentication provider: a signed token (jwt.h) in
 * the CONNECT password, or in MQTT 5 enhanced authentication with method
 * "JWT" (the token is the Authentication Data), which also lets the client
 * re-authenticate with a fresh token through AUTH. A connection whose token
 * expires is closed (MQTT 5: DISCONNECT 0x87 "token expired"). The token's
 * username claim becomes the client's user for the ACL; its roles claim
 * adds ACL roles. docs/SECURITY.md describes the behaviour.
 *
 * Keys (PEM files, an HMAC secret, a JWKS file) load at start and again on
 * SIGHUP; the key set is immutable and reference-counted, swapped under a
 * mutex. Verification is cheap (30-150 us) and runs on the worker loop.
 */
#ifndef TERN_AUTH_JWT_H
#define TERN_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct conn;
struct mqtt_connect;
struct tern_node;

#define AUTH_JWT_METHOD "JWT"

/* Loads the configured keys into n->jwt (NULL when none is configured).
 * Returns 0 or TERN_ECONFIG with the reason in err. Control thread. */
int auth_jwt_setup(struct tern_node *n, char *err, size_t errlen);

/* Reloads the keys (SIGHUP); on error the old set stays. */
int auth_jwt_reload(struct tern_node *n, char *err, size_t errlen);

void auth_jwt_teardown(struct tern_node *n);

/* Does the password have a JWT's shape (three base64url segments, a JSON
 * header)? Such passwords go to the JWT provider when it is on. */
bool auth_jwt_is_token(const uint8_t *s, size_t len);

/*
 * Verifies a CONNECT's token: on success c->auth_name is the username
 * claim, c->token_exp its expiry, and c's ACL subject carries the token's
 * roles. Logs refusals with the reason. Worker thread.
 */
enum auth_verdict auth_jwt_connect(struct conn *c,
				   const struct mqtt_connect *p,
				   const uint8_t *token, size_t len,
				   const char *id, size_t id_len);

/*
 * An AUTH packet on an established connection (MQTT 5 re-authentication).
 * Answers it (AUTH 0x00 with the method) when the fresh token verifies for
 * the same user, updating the expiry and roles; otherwise closes the
 * connection with the reason code the spec asks for. Worker thread.
 */
void auth_jwt_on_auth(struct conn *c, uint8_t reason, const char *method,
		      size_t mlen, const uint8_t *data, size_t dlen);

/* Closes connections whose token expired (called from the sweep). */
void auth_jwt_check_expiry(struct conn *c, uint64_t now_s);

#endif
