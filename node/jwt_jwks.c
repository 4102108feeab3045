/*
 * jwt_jwks.c - JWK sets (RFC 7517): building public keys (RSA, EC P-256 and
 * P-384, Ed25519) and HMAC secrets from a JWKS document, and writing a key
 * set's public keys as one.
 *
 * OSSL_PARAM_BLD + EVP_PKEY_fromdata build the keys (OpenSSL 3 EVP only).
 */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "jwt_int.h"
#include "tern_err.h"

/* ---- JWK sets -------------------------------------------------------- */

/*
 * Decodes the base64url member key of jwk into out (cap bytes); returns
 * the byte count, or -1 (absent, not a string, malformed, too long).
 */
static long jwt_jwk_bytes(const json_t *jwk, const char *key, uint8_t *out,
                          size_t cap)
{
	const json_t *v = json_object_get(jwk, key);

	if (!json_is_string(v))
		return -1;
	return jwt_b64_decode(json_string_value(v), json_string_length(v), out,
	                      cap);
}

/* A public key of type from the parameters in bld (freed), or NULL. */
static EVP_PKEY *jwt_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	ERR_clear_error();
	return pk;
}

static EVP_PKEY *jwt_jwk_rsa(const json_t *jwk, const char **why)
{
	uint8_t n[JWT_RSA_MAX_BITS / 8 + 1], e[8]; /* n may have a 0 byte */
	long nl = jwt_jwk_bytes(jwk, "n", n, sizeof(n));
	long el = jwt_jwk_bytes(jwk, "e", e, sizeof(e));
	OSSL_PARAM_BLD *bld;
	BIGNUM *bn, *be;
	EVP_PKEY *pk;

	if (nl <= 0 || el <= 0) {
		*why = "RSA key without valid n and e";
		return NULL;
	}
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn || !be || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		OSSL_PARAM_BLD_free(bld);
		bld = NULL;
	}
	pk = jwt_pkey_fromdata("RSA", bld);
	BN_free(bn);
	BN_free(be);
	if (!pk)
		*why = "RSA key refused by OpenSSL";
	return pk;
}

static EVP_PKEY *jwt_jwk_ec(const json_t *jwk, const char **why)
{
	const char *crv = jwt_json_str(jwk, "crv");
	const struct jwt_alg_info *ai;
	uint8_t pt[1 + 2 * 48];
	OSSL_PARAM_BLD *bld;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk;
	bool on_curve;

	if (crv && !strcmp(crv, "P-256"))
		ai = &jwt_algs[JWT_ES256];
	else if (crv && !strcmp(crv, "P-384"))
		ai = &jwt_algs[JWT_ES384];
	else {
		*why = "EC key on an unsupported curve (P-256, P-384)";
		return NULL;
	}
	/* RFC 7518 6.2.1.2: x and y are exactly the coordinate size */
	pt[0] = 4; /* uncompressed point */
	if (jwt_jwk_bytes(jwk, "x", pt + 1, ai->size) != (long)ai->size ||
	    jwt_jwk_bytes(jwk, "y", pt + 1 + ai->size, ai->size) !=
	        (long)ai->size) {
		*why = "EC key without valid x and y";
		return NULL;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld && (!OSSL_PARAM_BLD_push_utf8_string(
	                bld, OSSL_PKEY_PARAM_GROUP_NAME, ai->group, 0) ||
	            !OSSL_PARAM_BLD_push_octet_string(
	                bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * ai->size))) {
		OSSL_PARAM_BLD_free(bld);
		bld = NULL;
	}
	pk = jwt_pkey_fromdata("EC", bld);
	if (!pk) {
		*why = "EC key refused by OpenSSL (point not on the curve?)";
		return NULL;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	on_curve = ctx && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (!on_curve) {
		EVP_PKEY_free(pk);
		*why = "EC public key fails the public key check";
		return NULL;
	}
	return pk;
}

static EVP_PKEY *jwt_jwk_okp(const json_t *jwk, const char **why)
{
	const char *crv = jwt_json_str(jwk, "crv");
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pk;
	uint8_t x[32];

	if (!crv || strcmp(crv, "Ed25519")) {
		*why = "OKP key on an unsupported curve (Ed25519)";
		return NULL;
	}
	if (jwt_jwk_bytes(jwk, "x", x, sizeof(x)) != (long)sizeof(x)) {
		*why = "Ed25519 key without a valid x";
		return NULL;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld && !OSSL_PARAM_BLD_push_octet_string(
	               bld, OSSL_PKEY_PARAM_PUB_KEY, x, sizeof(x))) {
		OSSL_PARAM_BLD_free(bld);
		bld = NULL;
	}
	pk = jwt_pkey_fromdata("ED25519", bld);
	if (!pk)
		*why = "Ed25519 key refused by OpenSSL";
	return pk;
}

/* An oct key: an HMAC secret in "k". */
static int jwt_jwk_oct(struct jwt_keys *ks, const json_t *jwk, const char *kid,
                       enum jwt_alg alg, const char **why)
{
	uint8_t k[JWT_SECRET_MAX];
	long n;
	int rc;

	if (alg == JWT_ALG_INFER)
		alg = JWT_HS256;
	if (jwt_algs[alg].kind != JWT_KIND_HMAC) {
		*why = "oct key with a non-HS* alg";
		return 1;
	}
	n = jwt_jwk_bytes(jwk, "k", k, sizeof(k));
	if (n < (long)jwt_algs[alg].size) {
		OPENSSL_cleanse(k, sizeof(k));
		*why = "oct key without a valid k as long as the hash";
		return 1;
	}
	rc = jwt_keys_push(ks, kid, alg, NULL, false, k, (size_t)n);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

/*
 * Adds the key jwk describes. Returns 0 (added), 1 (skipped, *why says
 * why), TERN_ELIMIT or TERN_ENOMEM.
 */
static int jwt_jwk_add(struct jwt_keys *ks, const json_t *jwk, const char **why)
{
	const char *kty = jwt_json_str(jwk, "kty"), *kid = NULL;
	enum jwt_alg alg = JWT_ALG_INFER;
	const json_t *v;
	EVP_PKEY *pk;
	int rc;

	if (!json_is_object(jwk) || !kty) {
		*why = "key without kty";
		return 1;
	}
	v = json_object_get(jwk, "use");
	if (v && (!json_is_string(v) || strcmp(json_string_value(v), "sig"))) {
		*why = "key whose use is not sig";
		return 1;
	}
	v = json_object_get(jwk, "kid");
	if (v &&
	    (!json_is_string(v) || jwt_kid_check(kid = json_string_value(v)))) {
		*why = "key with a bad kid";
		return 1;
	}
	v = json_object_get(jwk, "alg");
	if (v && (!json_is_string(v) ||
	          !(alg = jwt_alg_parse(json_string_value(v))))) {
		*why = "key with an unsupported alg";
		return 1;
	}
	if (!strcmp(kty, "oct"))
		return jwt_jwk_oct(ks, jwk, kid, alg, why);
	if (alg != JWT_ALG_INFER && jwt_algs[alg].kind == JWT_KIND_HMAC) {
		*why = "HS* alg on a key that is not oct";
		return 1;
	}
	if (!strcmp(kty, "RSA"))
		pk = jwt_jwk_rsa(jwk, why);
	else if (!strcmp(kty, "EC"))
		pk = jwt_jwk_ec(jwk, why);
	else if (!strcmp(kty, "OKP"))
		pk = jwt_jwk_okp(jwk, why);
	else {
		*why = "key with an unsupported kty";
		return 1;
	}
	if (!pk)
		return 1;
	rc = jwt_keys_add_pkey(ks, pk, false, kid, alg, why);
	if (rc)
		EVP_PKEY_free(pk);
	return rc == TERN_ECONFIG ? 1 : rc;
}

int jwt_keys_add_jwks(struct jwt_keys *ks, const char *json, size_t len,
                      const char *name, char *err, size_t errlen)
{
	const char *why = "the keys array is empty";
	size_t n0 = ks->n, i;
	json_t *root, *keys, *jwk;
	char msg[160];
	int rc = 0;

	if (len > JWT_JWKS_MAX)
		return jwt_fail(err, errlen, name, "JWKS longer than 256 KiB",
		                TERN_ECONFIG);
	root = jwt_json_object(json, len, &why);
	if (!root)
		return jwt_fail(err, errlen, name, why, TERN_ECONFIG);
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		json_decref(root);
		return jwt_fail(err, errlen, name, "no \"keys\" array",
		                TERN_ECONFIG);
	}
	json_array_foreach(keys, i, jwk)
	{
		rc = jwt_jwk_add(ks, jwk, &why);
		if (rc < 0)
			break;
	}
	json_decref(root);
	if (rc < 0) {
		jwt_keys_truncate(ks, n0);
		return jwt_fail(err, errlen, name, "", rc);
	}
	if (ks->n == n0) {
		snprintf(msg, sizeof(msg), "no usable key in the JWK set (%s)",
		         why);
		return jwt_fail(err, errlen, name, msg, TERN_ECONFIG);
	}
	return 0;
}

int jwt_keys_add_jwks_file(struct jwt_keys *ks, const char *path, char *err,
                           size_t errlen)
{
	char *json;
	size_t len;
	int rc = jwt_read_file(path, JWT_JWKS_MAX, &json, &len, err, errlen);

	if (rc)
		return rc;
	rc = jwt_keys_add_jwks(ks, json, len, path, err, errlen);
	OPENSSL_clear_free(json, JWT_JWKS_MAX + 2);
	return rc;
}

/* Sets o[key] to the base64url of b[0..n); false on failure. */
static bool jwt_json_set_b64(json_t *o, const char *key, const uint8_t *b,
                             size_t n)
{
	char *s = malloc(jwt_b64_len(n) + 1);
	bool ok;

	if (!s)
		return false;
	s[jwt_b64_encode(b, n, s)] = 0;
	ok = json_object_set_new(o, key, json_string(s)) == 0;
	free(s);
	return ok;
}

/* Sets o[key] to the base64url of the big-endian bn (pad: at least). */
static bool jwt_json_set_bn(json_t *o, const char *key, const BIGNUM *bn,
                            int pad)
{
	uint8_t buf[JWT_RSA_MAX_BITS / 8];
	int n = BN_num_bytes(bn);

	if (n < pad)
		n = pad;
	if (n > (int)sizeof(buf) || BN_bn2binpad(bn, buf, n) != n)
		return false;
	return jwt_json_set_b64(o, key, buf, (size_t)n);
}

/* The public JWK of an asymmetric key (new reference), or NULL. */
static json_t *jwt_jwk_public(const struct jwt_key *k)
{
	const struct jwt_alg_info *ai = &jwt_algs[k->alg];
	json_t *o = json_object();
	BIGNUM *a = NULL, *b = NULL;
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);
	bool ok = o != NULL;

	switch (ai->kind) {
	case JWT_KIND_RSA:
	case JWT_KIND_PSS:
		ok =
		    ok && !json_object_set_new(o, "kty", json_string("RSA")) &&
		    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &a) &&
		    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &b) &&
		    jwt_json_set_bn(o, "n", a, 0) &&
		    jwt_json_set_bn(o, "e", b, 0);
		break;
	case JWT_KIND_EC:
		ok = ok && !json_object_set_new(o, "kty", json_string("EC")) &&
		     !json_object_set_new(o, "crv", json_string(ai->crv)) &&
		     EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
		                           &a) &&
		     EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
		                           &b) &&
		     jwt_json_set_bn(o, "x", a, (int)ai->size) &&
		     jwt_json_set_bn(o, "y", b, (int)ai->size);
		break;
	case JWT_KIND_ED:
		ok = ok && !json_object_set_new(o, "kty", json_string("OKP")) &&
		     !json_object_set_new(o, "crv", json_string("Ed25519")) &&
		     EVP_PKEY_get_raw_public_key(k->pkey, raw, &raw_len) &&
		     raw_len == sizeof(raw) &&
		     jwt_json_set_b64(o, "x", raw, raw_len);
		break;
	case JWT_KIND_HMAC:
		ok = false;
		break;
	}
	ok = ok &&
	     (!k->kid || !json_object_set_new(o, "kid", json_string(k->kid))) &&
	     !json_object_set_new(o, "use", json_string("sig")) &&
	     !json_object_set_new(o, "alg", json_string(ai->name));
	BN_free(a);
	BN_free(b);
	ERR_clear_error();
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int jwt_keys_public_jwks(const struct jwt_keys *ks, char **json_out)
{
	json_t *keys = json_array(), *root = json_object(), *jwk;
	int rc = 0;

	*json_out = NULL;
	if (!keys || !root || json_object_set(root, "keys", keys)) {
		rc = TERN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ks->n && !rc; i++) {
		if (ks->keys[i].secret)
			continue; /* never publish a secret */
		jwk = jwt_jwk_public(&ks->keys[i]);
		if (!jwk || json_array_append_new(keys, jwk))
			rc = TERN_EIO;
	}
	if (!rc && !(*json_out = json_dumps(root, JSON_COMPACT)))
		rc = TERN_ENOMEM;
out:
	json_decref(keys);
	json_decref(root);
	return rc;
}
