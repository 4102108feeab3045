/*
 * jwt.h - JSON Web Tokens (RFC 7519) signed as compact JWS (RFC 7515):
 * key sets (PEM, HMAC secret, JWKS per RFC 7517), verification with claim
 * checks, signing, and the public JWK set. The JWT authentication provider
 * and the OAuth 2.0 token endpoint are built on it.
 *
 * Pure: no loop, no node, no globals. A key set is built by one thread and
 * is read-only afterwards; jwt_verify, jwt_sign and jwt_keys_public_jwks
 * only read it, so any number of threads may use one set at once (OpenSSL 3
 * allows concurrent use of an EVP_PKEY that nobody modifies). Everything
 * that fails inside OpenSSL clears the thread's OpenSSL error queue, so a
 * refused token never leaves errors behind for the TLS code on that thread.
 *
 * Why not libjwt: libjwt 1.x verifies a signature and nothing else. It
 * accepts alg "none" when given a NULL key, lets the token's header choose
 * the algorithm (an HS256 token "signed" with an RSA public key's PEM bytes
 * as the HMAC secret verifies), has no JWKS and checks no claim. Here the
 * key set decides everything and the token only names a key.
 *
 * What jwt_verify checks, in this order (the first failure is the result):
 *
 *  1. Shape: at most JWT_TOKEN_MAX bytes; exactly three non-empty segments
 *     (header, payload, signature) separated by '.'; each segment is
 *     base64url without padding (RFC 7515 section 2): '=' is refused, as
 *     are '+', '/', whitespace, a length of 1 mod 4 and non-zero unused bits
 *     in the last character, so every token has exactly one spelling.
 *  2. Header: a JSON object (JWT_JSON_DEPTH_MAX levels at most, duplicate
 *     members refused) with a string "alg". "none" in any case is refused
 *     (JWT_BAD_ALG), so is an algorithm outside enum jwt_alg. A "crit"
 *     member is refused (no extension is understood, RFC 7515 4.1.11). A
 *     "kid" must be a string of at most JWT_KID_MAX bytes. "jwk", "jku",
 *     "x5u", "x5c" are ignored: keys never come from the token.
 *  3. Key: with a "kid", the candidates are the keys with that kid plus
 *     the keys loaded without one (a kid-less key is a wildcard); none at
 *     all is JWT_UNKNOWN_KID, so the caller can refresh a JWKS and retry.
 *     Without a "kid", every key is a candidate. Of the candidates, only
 *     those whose pinned algorithm equals the header's "alg" are tried;
 *     none is JWT_BAD_ALG. An HS256 token therefore never meets an RSA key.
 *  4. Signature over "header.payload" with each remaining key until one
 *     verifies; none is JWT_BAD_SIGNATURE. HMAC is compared in constant
 *     time; ES256/ES384 signatures are raw r||s (64/96 bytes, RFC 7518
 *     3.4), not DER; PS256 uses MGF1-SHA-256 with a 32-byte salt. The
 *     payload JSON is parsed only after this step.
 *  5. Claims: the payload is a JSON object (same depth and duplicate
 *     rules). With L = leeway seconds and now the caller's clock:
 *     "exp" is required unless exp_optional, and the token is refused
 *     (JWT_EXPIRED) once now >= exp + L (RFC 7519: the current time MUST
 *     be before exp; so with exp == now - L + 1 it is still accepted, with
 *     exp == now - L it is not). "nbf" refuses (JWT_NOT_YET_VALID) while
 *     nbf > now + L, "iat" likewise when iat > now + L (nbf == now + L and
 *     iat == now + L are accepted). Dates are JSON numbers (fractions are
 *     truncated). "iss", when an issuer is expected, must equal it byte for
 *     byte. "aud" (a string or an array of strings) must contain the
 *     expected audience; a token with "aud" is refused when no audience is
 *     expected (RFC 7519 4.1.3). The username claim (default "sub") must be
 *     a non-empty string. Claims of the wrong JSON type are JWT_MALFORMED,
 *     absent required ones JWT_MISSING_CLAIM.
 *
 * Keys are pinned to one algorithm when loaded, and the pairing is checked
 * then: HS* only with a secret of at least the hash's size (RFC 7518 3.2),
 * RS and PS only with RSA keys of 2048 to 8192 bits, ES256 with P-256,
 * ES384 with P-384 (named curves only), EdDSA with Ed25519.
 */
#ifndef TERN_JWT_H
#define TERN_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define JWT_TOKEN_MAX      8192  /* longest token accepted */
#define JWT_JSON_DEPTH_MAX 16    /* nesting of header, payload and JWKS */
#define JWT_KID_MAX        256   /* longest "kid" */
#define JWT_NAME_MAX       256   /* longest sub and username */
#define JWT_ROLES_MAX      32    /* roles kept per token */
#define JWT_ROLE_MAX       64    /* longest role kept */
#define JWT_KEYS_MAX       64    /* keys in a set */
#define JWT_SECRET_MAX     4096  /* longest HMAC secret */
#define JWT_LEEWAY_MAX     86400 /* leeway is clamped to a day */
#define JWT_JWKS_MAX       (256 * 1024) /* longest JWKS document */
#define JWT_FILE_MAX       (64 * 1024)  /* longest PEM file */

/* The algorithms (RFC 7518 3.1, RFC 8037 3.1 for EdDSA with Ed25519). */
#define JWT_ALGS(X)                                                            \
	X(JWT_HS256, "HS256")                                                  \
	X(JWT_HS384, "HS384")                                                  \
	X(JWT_HS512, "HS512")                                                  \
	X(JWT_RS256, "RS256")                                                  \
	X(JWT_RS384, "RS384")                                                  \
	X(JWT_RS512, "RS512")                                                  \
	X(JWT_PS256, "PS256")                                                  \
	X(JWT_ES256, "ES256")                                                  \
	X(JWT_ES384, "ES384")                                                  \
	X(JWT_EDDSA, "EdDSA")

enum jwt_alg {
	JWT_ALG_INFER = 0, /* loaders: infer from the key; never in a token */
#define JWT_ALG_ENUM(name, text) name,
	JWT_ALGS(JWT_ALG_ENUM)
#undef JWT_ALG_ENUM
};

/* "HS256" ... "EdDSA"; "?" for JWT_ALG_INFER or anything else. */
const char *jwt_alg_name(enum jwt_alg alg);

/* The algorithm named exactly (case-sensitive) s, or JWT_ALG_INFER. */
enum jwt_alg jwt_alg_parse(const char *s);

/* ---- key sets -------------------------------------------------------- */

struct jwt_key;  /* one key: kid, pinned algorithm, EVP_PKEY or secret */
struct jwt_keys; /* up to JWT_KEYS_MAX keys */

/* A new empty set, or NULL (out of memory). Free with jwt_keys_free. */
struct jwt_keys *jwt_keys_new(void);

/* Frees ks, its keys and their secrets (cleansed). NULL is fine. */
void jwt_keys_free(struct jwt_keys *ks);

size_t jwt_keys_count(const struct jwt_keys *ks);

/* Key i (< count), borrowed from ks. */
const struct jwt_key *jwt_keys_at(const struct jwt_keys *ks, size_t i);

/* The first key with this kid (NULL finds none), or NULL. Borrowed. */
const struct jwt_key *jwt_keys_find(const struct jwt_keys *ks, const char *kid);

enum jwt_alg jwt_key_alg(const struct jwt_key *k);
const char *jwt_key_kid(const struct jwt_key *k); /* NULL: none */
bool jwt_key_can_sign(const struct jwt_key *k);   /* private or secret */

/*
 * The loaders add to ks. Each takes kid (borrowed, copied; NULL for none)
 * and alg (JWT_ALG_INFER: RSA -> RS256, P-256 -> ES256, P-384 -> ES384,
 * Ed25519 -> EdDSA, secret -> HS256). name labels error messages (a file
 * name, a URL). They return 0, TERN_ECONFIG with "name: reason" in err,
 * TERN_ELIMIT (the set is full) or TERN_ENOMEM; on any error ks is as it
 * was before the call.
 */

/*
 * PEM text pem[0..len): a private key (PKCS#8 or traditional; encrypted
 * keys are refused, nothing prompts), a public key (SubjectPublicKeyInfo)
 * or an X.509 certificate (its public key). A private key can also sign.
 */
int jwt_keys_add_pem(struct jwt_keys *ks, const char *pem, size_t len,
                     const char *kid, enum jwt_alg alg, const char *name,
                     char *err, size_t errlen);

/* jwt_keys_add_pem on the contents of path (at most JWT_FILE_MAX bytes). */
int jwt_keys_add_pem_file(struct jwt_keys *ks, const char *path,
                          const char *kid, enum jwt_alg alg, char *err,
                          size_t errlen);

/* An HMAC secret (alg HS256, HS384 or HS512; at least 32, 48, 64 bytes). */
int jwt_keys_add_secret(struct jwt_keys *ks, const uint8_t *secret, size_t len,
                        const char *kid, enum jwt_alg alg, const char *name,
                        char *err, size_t errlen);

/*
 * The contents of path as an HMAC secret, byte for byte except that one
 * trailing "\n" or "\r\n" (as written by echo or an editor) is dropped.
 */
int jwt_keys_add_secret_file(struct jwt_keys *ks, const char *path,
                             const char *kid, enum jwt_alg alg, char *err,
                             size_t errlen);

/*
 * A JWK set json[0..len) (RFC 7517 section 5, at most JWT_JWKS_MAX bytes):
 * {"keys": [...]}. Supported: kty RSA (n, e), EC (crv P-256/P-384, x, y),
 * OKP (crv Ed25519, x), oct (k). A key's "alg" pins its algorithm; without
 * one it is inferred as above, and an HS* alg on a non-oct key is never
 * accepted. As RFC 7517 asks, keys that cannot be used are skipped rather
 * than failing the set: "use" other than "sig", unknown kty/crv/alg, a
 * missing or malformed member, a point off the curve, a weak key. Private
 * members ("d", ...) are ignored: only public keys are built. Fails if the
 * document is not a JWK set or no key was usable (err then names the last
 * reason a key was skipped).
 */
int jwt_keys_add_jwks(struct jwt_keys *ks, const char *json, size_t len,
                      const char *name, char *err, size_t errlen);

/* jwt_keys_add_jwks on the contents of path. */
int jwt_keys_add_jwks_file(struct jwt_keys *ks, const char *path, char *err,
                           size_t errlen);

/*
 * Appends every key of src to ks, with its kid and pinned algorithm (the
 * keys are shared: src may be freed afterwards; a private key stays able
 * to sign). src is borrowed. Returns 0, TERN_ELIMIT or TERN_ENOMEM; on
 * error ks is as it was. ks and src may not be the same set.
 */
int jwt_keys_add_keys(struct jwt_keys *ks, const struct jwt_keys *src);

/*
 * The "kid" of token[0..len)'s header, without verifying anything else
 * than the header's shape: returns 1 with the kid copied (NUL-terminated)
 * into kid[cap] (cap > JWT_KID_MAX), 0 when the header has no kid, -1
 * when the header is not a JSON object or its kid not a string of 1 to
 * JWT_KID_MAX bytes. Lets a caller tell an unknown key from a bad token.
 */
int jwt_token_kid(const char *token, size_t len, char *kid, size_t cap);

/*
 * The public JWK set of ks as compact JSON: every asymmetric key with kty,
 * use "sig", alg, kid (if any) and its public members only; secrets (oct)
 * never appear. Returns 0 with *json_out a new string (free with free()),
 * TERN_ENOMEM or TERN_EIO (OpenSSL failed).
 */
int jwt_keys_public_jwks(const struct jwt_keys *ks, char **json_out);

/* ---- verification ---------------------------------------------------- */

#define JWT_RESULTS(X)                                                         \
	X(JWT_OK, "ok")                                                        \
	X(JWT_MALFORMED, "malformed")                                          \
	X(JWT_BAD_ALG, "bad algorithm")                                        \
	X(JWT_UNKNOWN_KID, "unknown key id")                                   \
	X(JWT_BAD_SIGNATURE, "bad signature")                                  \
	X(JWT_EXPIRED, "expired")                                              \
	X(JWT_NOT_YET_VALID, "not yet valid")                                  \
	X(JWT_BAD_ISSUER, "bad issuer")                                        \
	X(JWT_BAD_AUDIENCE, "bad audience")                                    \
	X(JWT_MISSING_CLAIM, "missing claim")                                  \
	X(JWT_INTERNAL, "internal error") /* out of memory, OpenSSL */

enum jwt_result {
#define JWT_RESULT_ENUM(name, text) name,
	JWT_RESULTS(JWT_RESULT_ENUM)
#undef JWT_RESULT_ENUM
};

/* A static name for r ("expired"); "?" for anything else. */
const char *jwt_result_name(enum jwt_result r);

/*
 * What a token must satisfy. All pointers borrowed for the call. A zeroed
 * struct is the strict default: exp required, no leeway, username from
 * "sub", no issuer or audience expected (so a token carrying "aud" is
 * refused), no roles read.
 */
struct jwt_expect {
	const char *issuer;         /* NULL: "iss" not checked */
	const char *audience;       /* NULL: a token with "aud" is refused */
	const char *username_claim; /* NULL: "sub" */
	/*
	 * NULL: no roles. Else the member of that name (an array of strings
	 * or a space-separated string such as OAuth's "scope"); if there is
	 * no such top-level member and the name has dots, it is a path into
	 * nested objects ("realm_access.roles").
	 */
	const char *roles_claim;
	/* seconds of clock skew tolerated (clamped to JWT_LEEWAY_MAX) */
	uint32_t leeway;
	bool exp_optional; /* accept tokens without "exp" */
};

/* What a verified token says. Plain data: nothing to free. */
struct jwt_claims {
	enum jwt_alg alg;
	char sub[JWT_NAME_MAX + 1];      /* "" when absent */
	char username[JWT_NAME_MAX + 1]; /* the username claim */
	bool has_exp, has_iat;
	int64_t exp, iat; /* seconds since the epoch */
	size_t n_roles;
	char roles[JWT_ROLES_MAX][JWT_ROLE_MAX + 1];
	/*
	 * Roles were dropped: more than JWT_ROLES_MAX, or one longer than
	 * JWT_ROLE_MAX bytes (which no configured role can match). A caller
	 * whose rules deny by role should refuse such a token.
	 */
	bool roles_truncated;
};

/*
 * Verifies token[0..len) (need not be NUL-terminated) against ks and ex at
 * time now (seconds since the epoch); see the top of this file. Returns
 * JWT_OK with *out filled, or another result with *why set to a static
 * human reason ("ok" on success) and *out zeroed. ks, token and ex are
 * borrowed; ex NULL means a zeroed struct jwt_expect. Any thread. Costs
 * (-O2, one core): RS256 with 2048 bits ~30 us, ES256 ~100 us, EdDSA
 * ~150 us, HS256 ~6 us.
 */
enum jwt_result jwt_verify(const struct jwt_keys *ks, const char *token,
                           size_t len, const struct jwt_expect *ex, time_t now,
                           struct jwt_claims *out, const char **why);

/* ---- signing --------------------------------------------------------- */

/*
 * Signs claims_json (a JSON object, serialized again compactly in its
 * member order) with k, which must be able to sign: header {"alg", "typ":
 * "JWT", "kid" when k has one}. Returns 0 with *out a new NUL-terminated
 * token (free with free()), TERN_EINVAL (k cannot sign, claims_json is not
 * an object), TERN_ELIMIT (the token would exceed JWT_TOKEN_MAX),
 * TERN_ENOMEM or TERN_EIO (OpenSSL failed). k is borrowed.
 */
int jwt_sign(const struct jwt_key *k, const char *claims_json, char **out);

#endif
