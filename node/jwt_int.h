/*
 * jwt_int.h - private to the JWT files: jwt.c (algorithm table, token
 * parsing and verification), jwt_codec.c (base64url, JSON), jwt_keys.c
 * (key sets, PEM and secret loaders), jwt_jwks.c (JWK sets) and
 * jwt_sign.c (signatures, jwt_sign). It holds the layout of a key and a
 * key set, which jwt.h keeps opaque, and the helpers those files share.
 * Nothing outside the JWT files includes it; jwt.h is their API.
 *
 * Like jwt.h: no globals but the constant algorithm table, any thread.
 */
#ifndef TERN_JWT_INT_H
#define TERN_JWT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jwt.h"

#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BITS 8192

enum jwt_kind {
	JWT_KIND_HMAC,
	JWT_KIND_RSA,
	JWT_KIND_PSS,
	JWT_KIND_EC,
	JWT_KIND_ED
};

/* What each algorithm is; indexed by enum jwt_alg (JWT_ALG_INFER: zero). */
struct jwt_alg_info {
	const char *name;
	enum jwt_kind kind;
	const EVP_MD *(*md)(void); /* NULL: EdDSA (no pre-hash) */
	size_t size;       /* HMAC: digest (= shortest secret); EC: coord */
	const char *group; /* EC: OpenSSL group name */
	const char *crv;   /* EC: JWK crv */
};

/* Defined in jwt.c. */
extern const struct jwt_alg_info jwt_algs[JWT_EDDSA + 1];

struct jwt_key {
	enum jwt_alg alg;
	char *kid;       /* NULL: none (matches any kid) */
	EVP_PKEY *pkey;  /* asymmetric algorithms */
	bool priv;       /* pkey holds a private key */
	uint8_t *secret; /* HMAC */
	size_t secret_len;
};

struct jwt_keys {
	size_t n;
	struct jwt_key keys[JWT_KEYS_MAX];
};

/* ---- jwt_codec.c: base64url and JSON --------------------------------- */

/* Length of the unpadded base64url of n bytes. */
size_t jwt_b64_len(size_t n);

/*
 * Writes the jwt_b64_len(n) characters (no NUL) of in[0..n) to out;
 * returns that count. Borrows in and out.
 */
size_t jwt_b64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decodes s[0..len) into out (cap bytes), strictly (see jwt.h, 1.).
 * Returns the byte count or -1. Borrows s and out.
 */
long jwt_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/*
 * Parses s[0..n) (borrowed) as a JSON object at most JWT_JSON_DEPTH_MAX
 * deep without duplicate members: returns a new reference (json_decref
 * it), or NULL with *why set to a static reason.
 */
json_t *jwt_json_object(const char *s, size_t n, const char **why);

/* The string member key of o, or NULL. Borrowed from o. */
const char *jwt_json_str(const json_t *o, const char *key);

/* ---- jwt_keys.c: key sets and loaders --------------------------------- */

/* NULL if kid (borrowed; NULL: none) is acceptable, else a static reason. */
const char *jwt_kid_check(const char *kid);

/* Drops the keys added after the first n (a loader's rollback). */
void jwt_keys_truncate(struct jwt_keys *ks, size_t n);

/*
 * Appends a key to ks. Takes pk on success (the caller frees it on
 * failure); copies kid and secret (both borrowed). Returns 0, TERN_ELIMIT
 * or TERN_ENOMEM.
 */
int jwt_keys_push(struct jwt_keys *ks, const char *kid, enum jwt_alg alg,
                  EVP_PKEY *pk, bool priv, const uint8_t *secret,
                  size_t secret_len);

/*
 * Formats "name: why" into err (name NULL: "key"; why replaced for
 * TERN_ELIMIT and TERN_ENOMEM) and returns rc. Borrows its strings.
 */
int jwt_fail(char *err, size_t errlen, const char *name, const char *why,
             int rc);

/*
 * Pins pk to alg (JWT_ALG_INFER: the algorithm the key implies) after
 * checking the pairing, and appends it. Takes pk on success (the caller
 * frees it on failure). Returns 0, TERN_ECONFIG with *why a static
 * reason, TERN_ELIMIT or TERN_ENOMEM. Borrows kid (copied).
 */
int jwt_keys_add_pkey(struct jwt_keys *ks, EVP_PKEY *pk, bool priv,
                      const char *kid, enum jwt_alg alg, const char **why);

/*
 * Reads path (at most max bytes) into *out, a new NUL-terminated buffer of
 * max + 2 bytes (OPENSSL_clear_free it with that size), and its length
 * into *len. Returns 0 or, with "path: reason" in err, TERN_ECONFIG or
 * TERN_ENOMEM (*out then NULL).
 */
int jwt_read_file(const char *path, size_t max, char **out, size_t *len,
                  char *err, size_t errlen);

/* ---- jwt_sign.c: signatures ------------------------------------------- */

/*
 * True if sig[0..slen) is k's signature (JOSE form) of msg[0..mlen).
 * Borrows everything; clears the thread's OpenSSL error queue.
 */
bool jwt_sig_check(const struct jwt_key *k, const char *msg, size_t mlen,
                   const uint8_t *sig, size_t slen);

#endif
