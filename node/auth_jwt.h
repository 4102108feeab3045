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
 * The token endpoint's keys (oauth.h) are handed over by oauth.c.
 *
 * jwks_url: a JWK set fetched over HTTP(S) (jwks_fetch.h) in libuv's
 * thread pool: at start, every jwks_refresh seconds from the control loop
 * (sooner after a failure: 1, 2, 4 ... s), and when a CONNECT's token
 * names a kid that no key has. Such a CONNECT is held (conn_hold) while
 * the fetch runs, at most AUTH_JWT_KID_REFRESH_S apart, and then verified
 * against the new set; if the fetch failed it is refused with 0x88 server
 * unavailable, if the kid is still unknown with 0x86. A failed fetch keeps
 * the previous keys. The URL's keys are combined with the files' keys.
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

#define AUTH_JWT_KID_REFRESH_S 30 /* unknown kids fetch at most this often
				     (or every jwks_refresh, if shorter) */
#define AUTH_JWT_WAITS_MAX 1024   /* CONNECTs held for a fetch at once */

/* Results of fetches of jwks_url (tern_jwks_fetch_total{result}). */
#define AUTH_JWT_FETCH_RESULTS_X(X)                                            \
	X(AUTH_JWT_FETCH_OK, "ok")                                             \
	X(AUTH_JWT_FETCH_UNREACHABLE, "unreachable")                           \
	X(AUTH_JWT_FETCH_HTTP_ERROR, "http_error")                             \
	X(AUTH_JWT_FETCH_TOO_LARGE, "too_large")                               \
	X(AUTH_JWT_FETCH_MALFORMED, "malformed")                               \
	X(AUTH_JWT_FETCH_ERROR, "error")

enum auth_jwt_fetch_result {
#define AUTH_JWT_FETCH_ENUM(name, text) name,
	AUTH_JWT_FETCH_RESULTS_X(AUTH_JWT_FETCH_ENUM)
#undef AUTH_JWT_FETCH_ENUM
	AUTH_JWT_FETCH_RESULTS
};

struct auth_jwt_url_stats {
	bool on;       /* jwks_url is set */
	unsigned keys; /* keys of the last good fetch */
	uint64_t results[AUTH_JWT_FETCH_RESULTS];
};

struct jwt_keys;

/* Loads the configured keys into n->jwt (NULL when none is configured).
 * Returns 0 or TERN_ECONFIG with the reason in err. Control thread. */
int auth_jwt_setup(struct tern_node *n, char *err, size_t errlen);

/* Reloads the keys (SIGHUP); on error the old set stays. */
int auth_jwt_reload(struct tern_node *n, char *err, size_t errlen);

/* Frees n->jwt: after the workers stopped; waits for a fetch in the
 * thread pool (at most jwks_timeout_ms). Control thread. */
void auth_jwt_teardown(struct tern_node *n);

/* Trusts the token endpoint's keys ks (borrowed; copied, replacing the
 * previous ones; NULL: none). Returns 0 or a tern_err (the old ones stay).
 * Control thread. No-op without the provider. */
int auth_jwt_set_oauth_keys(struct tern_node *n, const struct jwt_keys *ks);

/* Fetch counters of jwks_url (zeroed when unset). Any thread. */
void auth_jwt_url_stats(const struct tern_node *n,
			struct auth_jwt_url_stats *out);
const char *auth_jwt_fetch_result_name(enum auth_jwt_fetch_result r);

/* c is being freed: a held CONNECT's wait is dropped (auth_conn_gone). */
void auth_jwt_conn_gone(struct conn *c);

/* Does the password have a JWT's shape (three base64url segments, a JSON
 * header)? Such passwords go to the JWT provider when it is on. */
bool auth_jwt_is_token(const uint8_t *s, size_t len);

/*
 * Verifies a CONNECT's token: on success c->auth_name is the username
 * claim, c->token_exp its expiry, and c's ACL subject carries the token's
 * roles. Logs refusals with the reason. With jwks_url, an unknown kid
 * may give AUTH_PENDING (c held; the CONNECT is handled again after the
 * fetch) or AUTH_UNAVAILABLE (the fetch failed). Worker thread.
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
