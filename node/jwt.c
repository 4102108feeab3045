/*
 * jwt.c - JWT key sets, verification and signing (see jwt.h).
 *
 * OpenSSL 3 EVP only (no deprecated RSA_* / EC_KEY_* calls): EVP_DigestSign
 * and EVP_DigestVerify for RSA, RSA-PSS, ECDSA and Ed25519, HMAC() for HS*,
 * ECDSA_SIG to convert between JOSE's raw r||s and OpenSSL's DER, and
 * OSSL_PARAM_BLD + EVP_PKEY_fromdata to build JWKS keys. jansson parses and
 * writes JSON; a pre-scan bounds nesting before jansson sees a document.
 */
#include "jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tern_err.h"

#define JWT_SIG_MAX      1024 /* an 8192-bit RSA signature */
#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BITS 8192

enum jwt_kind {
	JWT_KIND_HMAC,
	JWT_KIND_RSA,
	JWT_KIND_PSS,
	JWT_KIND_EC,
	JWT_KIND_ED
};

static const struct jwt_alg_info {
	const char *name;
	enum jwt_kind kind;
	const EVP_MD *(*md)(void); /* NULL: EdDSA (no pre-hash) */
	size_t size;       /* HMAC: digest (= shortest secret); EC: coord */
	const char *group; /* EC: OpenSSL group name */
	const char *crv;   /* EC: JWK crv */
} jwt_algs[] = {
    [JWT_HS256] = {"HS256", JWT_KIND_HMAC, EVP_sha256, 32, NULL, NULL},
    [JWT_HS384] = {"HS384", JWT_KIND_HMAC, EVP_sha384, 48, NULL, NULL},
    [JWT_HS512] = {"HS512", JWT_KIND_HMAC, EVP_sha512, 64, NULL, NULL},
    [JWT_RS256] = {"RS256", JWT_KIND_RSA, EVP_sha256, 0, NULL, NULL},
    [JWT_RS384] = {"RS384", JWT_KIND_RSA, EVP_sha384, 0, NULL, NULL},
    [JWT_RS512] = {"RS512", JWT_KIND_RSA, EVP_sha512, 0, NULL, NULL},
    [JWT_PS256] = {"PS256", JWT_KIND_PSS, EVP_sha256, 0, NULL, NULL},
    [JWT_ES256] = {"ES256", JWT_KIND_EC, EVP_sha256, 32, "prime256v1", "P-256"},
    [JWT_ES384] = {"ES384", JWT_KIND_EC, EVP_sha384, 48, "secp384r1", "P-384"},
    [JWT_EDDSA] = {"EdDSA", JWT_KIND_ED, NULL, 0, NULL, NULL},
};

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

const char *jwt_alg_name(enum jwt_alg alg)
{
	return alg >= JWT_HS256 && alg <= JWT_EDDSA ? jwt_algs[alg].name : "?";
}

enum jwt_alg jwt_alg_parse(const char *s)
{
	for (int a = JWT_HS256; a <= JWT_EDDSA; a++)
		if (!strcmp(s, jwt_algs[a].name))
			return (enum jwt_alg)a;
	return JWT_ALG_INFER;
}

const char *jwt_result_name(enum jwt_result r)
{
	switch (r) {
#define JWT_RESULT_CASE(name, text)                                            \
	case name:                                                             \
		return text;
		JWT_RESULTS(JWT_RESULT_CASE)
#undef JWT_RESULT_CASE
	}
	return "?";
}

/* ---- base64url (RFC 4648 section 5, unpadded) ------------------------ */

static size_t jwt_b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes jwt_b64_len(n) characters (no NUL) to out; returns that count. */
static size_t jwt_b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		             in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = tab[v >> 10];
		out[o++] = tab[(v >> 4) & 63];
		out[o++] = tab[(v & 15) << 2];
	}
	return o;
}

static int jwt_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes s[0..len) into out (cap bytes). Strict: the URL alphabet only,
 * no padding, no length of 1 mod 4, unused trailing bits zero. Returns the
 * byte count or -1.
 */
static long jwt_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = jwt_b64_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc) /* non-zero unused bits: a second spelling of the bytes */
		return -1;
	return (long)n;
}

/* ---- JSON ------------------------------------------------------------ */

/* False if s[0..n) nests arrays/objects deeper than JWT_JSON_DEPTH_MAX. */
static bool jwt_json_shallow(const char *s, size_t n)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JWT_JSON_DEPTH_MAX)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* Parses s[0..n) as a JSON object (new reference), or NULL with *why. */
static json_t *jwt_json_object(const char *s, size_t n, const char **why)
{
	json_t *j;

	if (!jwt_json_shallow(s, n)) {
		*why = "JSON nested too deeply";
		return NULL;
	}
	j = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		*why = "not a JSON object (or a duplicate member)";
		return NULL;
	}
	return j;
}

/* The string member key of o, or NULL (absent or not a string). */
static const char *jwt_json_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- key sets -------------------------------------------------------- */

struct jwt_keys *jwt_keys_new(void)
{
	return calloc(1, sizeof(struct jwt_keys));
}

static void jwt_key_clear(struct jwt_key *k)
{
	free(k->kid);
	EVP_PKEY_free(k->pkey);
	if (k->secret)
		OPENSSL_clear_free(k->secret, k->secret_len);
	memset(k, 0, sizeof(*k));
}

/* Drops the keys added after the first n (a loader's rollback). */
static void jwt_keys_truncate(struct jwt_keys *ks, size_t n)
{
	while (ks->n > n)
		jwt_key_clear(&ks->keys[--ks->n]);
}

void jwt_keys_free(struct jwt_keys *ks)
{
	if (!ks)
		return;
	jwt_keys_truncate(ks, 0);
	free(ks);
}

size_t jwt_keys_count(const struct jwt_keys *ks)
{
	return ks->n;
}

const struct jwt_key *jwt_keys_at(const struct jwt_keys *ks, size_t i)
{
	return i < ks->n ? &ks->keys[i] : NULL;
}

const struct jwt_key *jwt_keys_find(const struct jwt_keys *ks, const char *kid)
{
	for (size_t i = 0; kid && i < ks->n; i++)
		if (ks->keys[i].kid && !strcmp(ks->keys[i].kid, kid))
			return &ks->keys[i];
	return NULL;
}

enum jwt_alg jwt_key_alg(const struct jwt_key *k)
{
	return k->alg;
}

const char *jwt_key_kid(const struct jwt_key *k)
{
	return k->kid;
}

bool jwt_key_can_sign(const struct jwt_key *k)
{
	return k->secret || k->priv;
}

/* NULL if kid (NULL: none) is acceptable, else why not. */
static const char *jwt_kid_check(const char *kid)
{
	if (kid && !*kid)
		return "empty kid";
	if (kid && strlen(kid) > JWT_KID_MAX)
		return "kid longer than 256 bytes";
	return NULL;
}

/*
 * Appends a key. Takes pk on success (the caller frees it on failure);
 * copies kid and secret. Returns 0, TERN_ELIMIT or TERN_ENOMEM.
 */
static int jwt_keys_push(struct jwt_keys *ks, const char *kid, enum jwt_alg alg,
                         EVP_PKEY *pk, bool priv, const uint8_t *secret,
                         size_t secret_len)
{
	struct jwt_key *k;

	if (ks->n == JWT_KEYS_MAX)
		return TERN_ELIMIT;
	k = &ks->keys[ks->n];
	memset(k, 0, sizeof(*k));
	if (kid && !(k->kid = strdup(kid)))
		return TERN_ENOMEM;
	if (secret) {
		k->secret = malloc(secret_len);
		if (!k->secret) {
			free(k->kid);
			k->kid = NULL;
			return TERN_ENOMEM;
		}
		memcpy(k->secret, secret, secret_len);
		k->secret_len = secret_len;
	}
	k->alg = alg;
	k->pkey = pk;
	k->priv = priv;
	ks->n++;
	return 0;
}

/* Formats "name: why" into err and returns rc. */
static int jwt_fail(char *err, size_t errlen, const char *name, const char *why,
                    int rc)
{
	if (rc == TERN_ELIMIT)
		why = "more than 64 keys in the set";
	else if (rc == TERN_ENOMEM)
		why = "out of memory";
	snprintf(err, errlen, "%s: %s", name ? name : "key", why);
	return rc;
}

/* The group name of an EC key, or "" (not EC, or explicit parameters). */
static void jwt_ec_group(EVP_PKEY *pk, char *buf, size_t cap)
{
	buf[0] = 0;
	if (!EVP_PKEY_is_a(pk, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, buf,
	                                    cap, NULL))
		buf[0] = 0;
	ERR_clear_error();
}

/* The algorithm a key implies, or JWT_ALG_INFER (unsupported key). */
static enum jwt_alg jwt_pkey_infer(EVP_PKEY *pk)
{
	char group[64];

	if (EVP_PKEY_is_a(pk, "RSA"))
		return JWT_RS256;
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return JWT_EDDSA;
	jwt_ec_group(pk, group, sizeof(group));
	if (!strcmp(group, jwt_algs[JWT_ES256].group))
		return JWT_ES256;
	if (!strcmp(group, jwt_algs[JWT_ES384].group))
		return JWT_ES384;
	return JWT_ALG_INFER;
}

/* NULL if pk may be pinned to alg, else why not. */
static const char *jwt_pkey_check(EVP_PKEY *pk, enum jwt_alg alg)
{
	const struct jwt_alg_info *ai = &jwt_algs[alg];
	BIGNUM *e = NULL;
	char group[64];
	bool e_ok;
	int bits;

	switch (ai->kind) {
	case JWT_KIND_HMAC:
		return "an HS* algorithm takes a secret, not a PEM or JWK key";
	case JWT_KIND_RSA:
	case JWT_KIND_PSS:
		if (!EVP_PKEY_is_a(pk, "RSA"))
			return "RS* and PS256 need an RSA key";
		bits = EVP_PKEY_get_bits(pk);
		if (bits < JWT_RSA_MIN_BITS)
			return "RSA key shorter than 2048 bits";
		if (bits > JWT_RSA_MAX_BITS)
			return "RSA key longer than 8192 bits";
		/* e = 1 would make every s its own signature */
		e_ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) &&
		       BN_is_odd(e) && !BN_is_one(e);
		BN_free(e);
		ERR_clear_error();
		return e_ok ? NULL : "RSA public exponent is not odd and > 1";
	case JWT_KIND_EC:
		jwt_ec_group(pk, group, sizeof(group));
		if (strcmp(group, ai->group))
			return alg == JWT_ES256 ? "ES256 needs a P-256 key"
			                        : "ES384 needs a P-384 key";
		return NULL;
	case JWT_KIND_ED:
		return EVP_PKEY_is_a(pk, "ED25519")
		           ? NULL
		           : "EdDSA needs an Ed25519 key";
	}
	return "unknown algorithm";
}

/* Pins pk (taken on success) to alg (or the inferred one) and adds it. */
static int jwt_keys_add_pkey(struct jwt_keys *ks, EVP_PKEY *pk, bool priv,
                             const char *kid, enum jwt_alg alg,
                             const char **why)
{
	if (alg == JWT_ALG_INFER)
		alg = jwt_pkey_infer(pk);
	if (alg == JWT_ALG_INFER) {
		*why = "unsupported key type (RSA, EC P-256/P-384, Ed25519)";
		return TERN_ECONFIG;
	}
	if (alg < JWT_HS256 || alg > JWT_EDDSA) {
		*why = "unknown algorithm";
		return TERN_ECONFIG;
	}
	*why = jwt_pkey_check(pk, alg);
	if (*why)
		return TERN_ECONFIG;
	return jwt_keys_push(ks, kid, alg, pk, priv, NULL, 0);
}

/* ---- PEM and secret loaders ------------------------------------------ */

/* Refuses encrypted PEM keys instead of prompting on the terminal. */
static int jwt_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int jwt_keys_add_pem(struct jwt_keys *ks, const char *pem, size_t len,
                     const char *kid, enum jwt_alg alg, const char *name,
                     char *err, size_t errlen)
{
	const char *why = jwt_kid_check(kid);
	EVP_PKEY *pk = NULL;
	bool priv = false;
	X509 *crt;
	BIO *bio;
	int rc;

	if (why)
		return jwt_fail(err, errlen, name, why, TERN_ECONFIG);
	if (len > JWT_FILE_MAX)
		return jwt_fail(err, errlen, name, "PEM longer than 64 KiB",
		                TERN_ECONFIG);
	/* a fresh BIO per attempt: a failed read leaves it anywhere */
	if ((bio = BIO_new_mem_buf(pem, (int)len))) {
		pk =
		    PEM_read_bio_PrivateKey(bio, NULL, jwt_no_passphrase, NULL);
		priv = pk != NULL;
		BIO_free(bio);
	}
	if (!pk && (bio = BIO_new_mem_buf(pem, (int)len))) {
		pk = PEM_read_bio_PUBKEY(bio, NULL, jwt_no_passphrase, NULL);
		BIO_free(bio);
	}
	if (!pk && (bio = BIO_new_mem_buf(pem, (int)len))) {
		crt = PEM_read_bio_X509(bio, NULL, jwt_no_passphrase, NULL);
		pk = crt ? X509_get_pubkey(crt) : NULL;
		X509_free(crt);
		BIO_free(bio);
	}
	ERR_clear_error();
	if (!pk)
		return jwt_fail(err, errlen, name,
		                "no unencrypted PEM private key, public key "
		                "or certificate",
		                TERN_ECONFIG);
	rc = jwt_keys_add_pkey(ks, pk, priv, kid, alg, &why);
	if (rc) {
		EVP_PKEY_free(pk);
		return jwt_fail(err, errlen, name, why, rc);
	}
	return 0;
}

/* Reads path (at most max bytes) into a new NUL-terminated *out. */
static int jwt_read_file(const char *path, size_t max, char **out, size_t *len,
                         char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*out = NULL;
	if (!f)
		return jwt_fail(err, errlen, path, strerror(errno),
		                TERN_ECONFIG);
	buf = malloc(max + 2);
	if (!buf) {
		fclose(f);
		return jwt_fail(err, errlen, path, "", TERN_ENOMEM);
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		fclose(f);
		OPENSSL_clear_free(buf, max + 2);
		return jwt_fail(err, errlen, path,
		                n > max ? "file too long" : "read error",
		                TERN_ECONFIG);
	}
	fclose(f);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

int jwt_keys_add_pem_file(struct jwt_keys *ks, const char *path,
                          const char *kid, enum jwt_alg alg, char *err,
                          size_t errlen)
{
	char *pem;
	size_t len;
	int rc = jwt_read_file(path, JWT_FILE_MAX, &pem, &len, err, errlen);

	if (rc)
		return rc;
	rc = jwt_keys_add_pem(ks, pem, len, kid, alg, path, err, errlen);
	OPENSSL_clear_free(pem, JWT_FILE_MAX + 2);
	return rc;
}

int jwt_keys_add_secret(struct jwt_keys *ks, const uint8_t *secret, size_t len,
                        const char *kid, enum jwt_alg alg, const char *name,
                        char *err, size_t errlen)
{
	const char *why = jwt_kid_check(kid);
	int rc;

	if (why)
		return jwt_fail(err, errlen, name, why, TERN_ECONFIG);
	if (alg == JWT_ALG_INFER)
		alg = JWT_HS256;
	if (alg < JWT_HS256 || alg > JWT_EDDSA ||
	    jwt_algs[alg].kind != JWT_KIND_HMAC)
		return jwt_fail(err, errlen, name,
		                "a secret takes HS256, HS384 or HS512",
		                TERN_ECONFIG);
	if (len < jwt_algs[alg].size)
		return jwt_fail(err, errlen, name,
		                "secret shorter than the hash (32, 48 or 64 "
		                "bytes for HS256, HS384, HS512)",
		                TERN_ECONFIG);
	if (len > JWT_SECRET_MAX)
		return jwt_fail(err, errlen, name,
		                "secret longer than 4096 bytes", TERN_ECONFIG);
	rc = jwt_keys_push(ks, kid, alg, NULL, false, secret, len);
	return rc ? jwt_fail(err, errlen, name, "", rc) : 0;
}

int jwt_keys_add_secret_file(struct jwt_keys *ks, const char *path,
                             const char *kid, enum jwt_alg alg, char *err,
                             size_t errlen)
{
	char *s;
	size_t len;
	int rc = jwt_read_file(path, JWT_SECRET_MAX + 2, &s, &len, err, errlen);

	if (rc)
		return rc;
	if (len && s[len - 1] == '\n')
		len--;
	if (len && s[len - 1] == '\r')
		len--;
	rc = jwt_keys_add_secret(ks, (const uint8_t *)s, len, kid, alg, path,
	                         err, errlen);
	OPENSSL_clear_free(s, JWT_SECRET_MAX + 4);
	return rc;
}

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

int jwt_keys_add_keys(struct jwt_keys *ks, const struct jwt_keys *src)
{
	size_t n0 = ks->n;

	if (src->n > JWT_KEYS_MAX - ks->n)
		return TERN_ELIMIT;
	for (size_t i = 0; i < src->n; i++) {
		const struct jwt_key *k = &src->keys[i];
		int rc;

		if (k->pkey && !EVP_PKEY_up_ref(k->pkey)) {
			jwt_keys_truncate(ks, n0);
			return TERN_ENOMEM;
		}
		rc = jwt_keys_push(ks, k->kid, k->alg, k->pkey, k->priv,
		                   k->secret, k->secret_len);
		if (rc) {
			EVP_PKEY_free(k->pkey);
			jwt_keys_truncate(ks, n0);
			return rc;
		}
	}
	return 0;
}

int jwt_token_kid(const char *token, size_t len, char *kid, size_t cap)
{
	const char *d1 = len ? memchr(token, '.', len) : NULL;
	const char *why, *s;
	uint8_t buf[JWT_TOKEN_MAX];
	json_t *h, *v;
	long hn;
	int rc = -1;

	if (!d1 || len > JWT_TOKEN_MAX || cap <= JWT_KID_MAX)
		return -1;
	hn = jwt_b64_decode(token, (size_t)(d1 - token), buf, sizeof(buf));
	if (hn <= 0)
		return -1;
	h = jwt_json_object((const char *)buf, (size_t)hn, &why);
	if (!h)
		return -1;
	v = json_object_get(h, "kid");
	s = json_string_value(v);
	if (!v) {
		rc = 0;
	} else if (s && !jwt_kid_check(s)) {
		snprintf(kid, cap, "%s", s);
		rc = 1;
	}
	json_decref(h);
	return rc;
}

/* ---- signatures ------------------------------------------------------ */

/* A digest context set up to sign or verify with k, or NULL. */
static EVP_MD_CTX *jwt_md_ctx(const struct jwt_key *k, bool sign)
{
	const struct jwt_alg_info *ai = &jwt_algs[k->alg];
	const EVP_MD *md = ai->md ? ai->md() : NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (!ctx)
		return NULL;
	ok = sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, k->pkey)
	          : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey);
	if (ok == 1 && ai->kind == JWT_KIND_RSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	/* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash */
	if (ok == 1 && ai->kind == JWT_KIND_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) >
		         0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(
		         pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
	if (ok != 1) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* JOSE r||s (2 * half bytes) to DER into der (cap); length or -1. */
static int jwt_ecdsa_to_der(const uint8_t *raw, size_t half, uint8_t *der,
                            size_t cap)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
	uint8_t *p = der;
	int n = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
		r = s = NULL; /* es owns them */
		n = i2d_ECDSA_SIG(es, NULL);
		if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(es, &p) != n)
			n = -1;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n;
}

/* DER in der[0..len) to JOSE r||s in raw (2 * half bytes); false if bad. */
static bool jwt_ecdsa_from_der(const uint8_t *der, size_t len, uint8_t *raw,
                               size_t half)
{
	const uint8_t *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	bool ok = false;

	if (es) {
		ECDSA_SIG_get0(es, &r, &s);
		ok = BN_bn2binpad(r, raw, (int)half) == (int)half &&
		     BN_bn2binpad(s, raw + half, (int)half) == (int)half;
		ECDSA_SIG_free(es);
	}
	return ok;
}

/* True if sig[0..slen) is k's signature of msg[0..mlen). */
static bool jwt_sig_check(const struct jwt_key *k, const char *msg, size_t mlen,
                          const uint8_t *sig, size_t slen)
{
	const struct jwt_alg_info *ai = &jwt_algs[k->alg];
	uint8_t mac[EVP_MAX_MD_SIZE], der[160];
	unsigned mac_len = 0;
	EVP_MD_CTX *ctx;
	bool ok = false;
	int n;

	switch (ai->kind) {
	case JWT_KIND_HMAC:
		if (HMAC(ai->md(), k->secret, (int)k->secret_len,
		         (const uint8_t *)msg, mlen, mac, &mac_len))
			ok = mac_len == slen &&
			     CRYPTO_memcmp(mac, sig, mac_len) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
		ERR_clear_error();
		return ok;
	case JWT_KIND_EC:
		if (slen != 2 * ai->size)
			return false;
		n = jwt_ecdsa_to_der(sig, ai->size, der, sizeof(der));
		if (n < 0) {
			ERR_clear_error();
			return false;
		}
		sig = der;
		slen = (size_t)n;
		break;
	case JWT_KIND_RSA:
	case JWT_KIND_PSS:
		if (slen != (size_t)EVP_PKEY_get_size(k->pkey))
			return false;
		break;
	case JWT_KIND_ED:
		if (slen != 64)
			return false;
		break;
	}
	ctx = jwt_md_ctx(k, false);
	ok = ctx &&
	     EVP_DigestVerify(ctx, sig, slen, (const uint8_t *)msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/*
 * Signs msg[0..mlen) with k into sig (JWT_SIG_MAX bytes), JOSE form.
 * Returns the length or 0 (OpenSSL failed).
 */
static size_t jwt_sig_make(const struct jwt_key *k, const char *msg,
                           size_t mlen, uint8_t *sig)
{
	const struct jwt_alg_info *ai = &jwt_algs[k->alg];
	uint8_t der[160];
	size_t n = JWT_SIG_MAX;
	unsigned mac_len = 0;
	EVP_MD_CTX *ctx;
	bool ec = ai->kind == JWT_KIND_EC;

	if (ai->kind == JWT_KIND_HMAC) {
		if (!HMAC(ai->md(), k->secret, (int)k->secret_len,
		          (const uint8_t *)msg, mlen, sig, &mac_len))
			mac_len = 0;
		ERR_clear_error();
		return mac_len;
	}
	if (ec)
		n = sizeof(der);
	ctx = jwt_md_ctx(k, true);
	if (!ctx || EVP_DigestSign(ctx, ec ? der : sig, &n,
	                           (const uint8_t *)msg, mlen) != 1)
		n = 0;
	EVP_MD_CTX_free(ctx);
	if (n && ec)
		n = jwt_ecdsa_from_der(der, n, sig, ai->size) ? 2 * ai->size
		                                              : 0;
	ERR_clear_error();
	return n;
}

/* ---- verification ---------------------------------------------------- */

#define JWT_FAIL(res, reason)                                                  \
	do {                                                                   \
		*why = (reason);                                               \
		return (res);                                                  \
	} while (0)

/* Reads alg and kid (borrowed from h) from the protected header. */
static enum jwt_result jwt_header(const json_t *h, enum jwt_alg *alg,
                                  const char **kid, const char **why)
{
	const char *name = jwt_json_str(h, "alg");
	const json_t *v;

	if (!name)
		JWT_FAIL(JWT_MALFORMED, "header has no alg string");
	if (!strcasecmp(name, "none"))
		JWT_FAIL(JWT_BAD_ALG, "alg none is refused");
	*alg = jwt_alg_parse(name);
	if (*alg == JWT_ALG_INFER)
		JWT_FAIL(JWT_BAD_ALG, "unsupported alg");
	if (json_object_get(h, "crit"))
		JWT_FAIL(JWT_MALFORMED, "crit header parameter not supported");
	*kid = NULL;
	v = json_object_get(h, "kid");
	if (v && !json_is_string(v))
		JWT_FAIL(JWT_MALFORMED, "kid is not a string");
	if (v && jwt_kid_check(json_string_value(v)))
		JWT_FAIL(JWT_MALFORMED, "kid empty or longer than 256 bytes");
	if (v)
		*kid = json_string_value(v);
	return JWT_OK;
}

/* The keys a token with alg and kid may be verified with (jwt.h, 3.). */
static enum jwt_result jwt_candidates(const struct jwt_keys *ks,
                                      enum jwt_alg alg, const char *kid,
                                      const struct jwt_key **cand, size_t *n,
                                      const char **why)
{
	size_t named = 0;

	*n = 0;
	for (size_t i = 0; i < ks->n; i++) {
		const struct jwt_key *k = &ks->keys[i];

		if (kid && k->kid && strcmp(kid, k->kid))
			continue;
		named++;
		if (k->alg == alg)
			cand[(*n)++] = k;
	}
	if (!named)
		JWT_FAIL(JWT_UNKNOWN_KID, kid ? "no key with the token's kid"
		                              : "the key set is empty");
	if (!*n)
		JWT_FAIL(JWT_BAD_ALG, "alg is not the key's pinned algorithm");
	return JWT_OK;
}

/* A NumericDate member: 1 (in *t), 0 (absent) or -1 (not a number). */
static int jwt_date(const json_t *o, const char *key, int64_t *t)
{
	const json_t *v = json_object_get(o, key);
	double d;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*t = json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (!(d > -1e15 && d < 1e15)) /* also refuses NaN */
		return -1;
	*t = (int64_t)d;
	return 1;
}

static int64_t jwt_add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static enum jwt_result jwt_check_audience(const json_t *p, const char *want,
                                          const char **why)
{
	const json_t *v = json_object_get(p, "aud"), *e;
	bool hit = false;
	size_t i;

	if (!v) {
		if (want)
			JWT_FAIL(JWT_MISSING_CLAIM, "aud missing");
		return JWT_OK;
	}
	if (json_is_string(v)) {
		hit = want && !strcmp(json_string_value(v), want);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				JWT_FAIL(JWT_MALFORMED,
				         "aud is not a string or an array of "
				         "strings");
			if (want && !strcmp(json_string_value(e), want))
				hit = true;
		}
	} else {
		JWT_FAIL(JWT_MALFORMED,
		         "aud is not a string or an array of strings");
	}
	if (!want)
		JWT_FAIL(JWT_BAD_AUDIENCE,
		         "token has aud but no audience is expected");
	if (!hit)
		JWT_FAIL(JWT_BAD_AUDIENCE,
		         "aud does not contain the expected audience");
	return JWT_OK;
}

/*
 * Copies the string member key (at most JWT_NAME_MAX bytes) into dst.
 * 1 copied, 0 absent, -1 not a non-empty string or too long.
 */
static int jwt_copy_name(const json_t *p, const char *key, char *dst)
{
	const json_t *v = json_object_get(p, key);
	size_t n;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (n == 0 || n > JWT_NAME_MAX)
		return -1;
	memcpy(dst, json_string_value(v), n + 1);
	return 1;
}

/* The roles claim: name itself, else name as a dotted path. */
static const json_t *jwt_claim_path(const json_t *p, const char *name)
{
	const json_t *v = json_object_get(p, name);
	const char *s = name, *dot;
	char part[128];
	size_t n;

	if (v || !strchr(name, '.'))
		return v;
	for (v = p; json_is_object(v); s = dot + 1) {
		dot = strchr(s, '.');
		n = dot ? (size_t)(dot - s) : strlen(s);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, s, n);
		part[n] = 0;
		v = json_object_get(v, part);
		if (!dot)
			return v;
	}
	return NULL;
}

static void jwt_role_add(struct jwt_claims *c, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (n > JWT_ROLE_MAX || c->n_roles == JWT_ROLES_MAX) {
		c->roles_truncated = true;
		return;
	}
	memcpy(c->roles[c->n_roles], s, n);
	c->roles[c->n_roles++][n] = 0;
}

static enum jwt_result jwt_roles(const json_t *v, struct jwt_claims *c,
                                 const char **why)
{
	const char *s, *sp;
	const json_t *e;
	size_t i;

	if (json_is_string(v)) {
		for (s = json_string_value(v); *s; s = *sp ? sp + 1 : sp) {
			sp = strchr(s, ' ');
			if (!sp)
				sp = s + strlen(s);
			jwt_role_add(c, s, (size_t)(sp - s));
		}
		return JWT_OK;
	}
	if (!json_is_array(v))
		JWT_FAIL(JWT_MALFORMED, "roles claim is not an array of "
		                        "strings or a string");
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			JWT_FAIL(JWT_MALFORMED, "roles claim is not an array "
			                        "of strings or a string");
		jwt_role_add(c, json_string_value(e), json_string_length(e));
	}
	return JWT_OK;
}

static enum jwt_result jwt_check_claims(const json_t *p,
                                        const struct jwt_expect *ex, time_t now,
                                        struct jwt_claims *out,
                                        const char **why)
{
	int64_t leeway =
	    ex->leeway > JWT_LEEWAY_MAX ? JWT_LEEWAY_MAX : ex->leeway;
	const char *iss = jwt_json_str(p, "iss"), *uclaim;
	const json_t *v;
	enum jwt_result r;
	int64_t t = (int64_t)now, d;
	int rc;

	rc = jwt_date(p, "exp", &d);
	if (rc < 0)
		JWT_FAIL(JWT_MALFORMED, "exp is not a number");
	if (rc == 0 && !ex->exp_optional)
		JWT_FAIL(JWT_MISSING_CLAIM, "exp missing");
	if (rc > 0 && t >= jwt_add_sat(d, leeway))
		JWT_FAIL(JWT_EXPIRED, "token expired");
	out->has_exp = rc > 0;
	out->exp = rc > 0 ? d : 0;
	rc = jwt_date(p, "nbf", &d);
	if (rc < 0)
		JWT_FAIL(JWT_MALFORMED, "nbf is not a number");
	if (rc > 0 && d > jwt_add_sat(t, leeway))
		JWT_FAIL(JWT_NOT_YET_VALID, "nbf is in the future");
	rc = jwt_date(p, "iat", &d);
	if (rc < 0)
		JWT_FAIL(JWT_MALFORMED, "iat is not a number");
	if (rc > 0 && d > jwt_add_sat(t, leeway))
		JWT_FAIL(JWT_NOT_YET_VALID, "iat is in the future");
	out->has_iat = rc > 0;
	out->iat = rc > 0 ? d : 0;

	v = json_object_get(p, "iss");
	if (v && !iss)
		JWT_FAIL(JWT_MALFORMED, "iss is not a string");
	if (ex->issuer && !iss)
		JWT_FAIL(JWT_MISSING_CLAIM, "iss missing");
	if (ex->issuer && strcmp(iss, ex->issuer))
		JWT_FAIL(JWT_BAD_ISSUER, "iss is not the expected issuer");
	r = jwt_check_audience(p, ex->audience, why);
	if (r != JWT_OK)
		return r;

	if (jwt_copy_name(p, "sub", out->sub) < 0)
		JWT_FAIL(JWT_MALFORMED,
		         "sub is not a string of 1 to 256 bytes");
	uclaim = ex->username_claim ? ex->username_claim : "sub";
	rc = jwt_copy_name(p, uclaim, out->username);
	if (rc == 0)
		JWT_FAIL(JWT_MISSING_CLAIM, "username claim missing");
	if (rc < 0)
		JWT_FAIL(JWT_MALFORMED,
		         "username claim is not a string of 1 to 256 bytes");
	if (ex->roles_claim && (v = jwt_claim_path(p, ex->roles_claim)))
		return jwt_roles(v, out, why);
	return JWT_OK;
}

enum jwt_result jwt_verify(const struct jwt_keys *ks, const char *token,
                           size_t len, const struct jwt_expect *ex, time_t now,
                           struct jwt_claims *out, const char **why)
{
	static const struct jwt_expect strict;
	const struct jwt_key *cand[JWT_KEYS_MAX];
	const char *d1, *d2, *end = token + len, *kid = NULL;
	json_t *hdr = NULL, *pay = NULL;
	enum jwt_alg alg = JWT_ALG_INFER;
	enum jwt_result r = JWT_MALFORMED;
	uint8_t *buf = NULL, *pbuf, *sbuf;
	long hn, pn, sn;
	size_t ncand = 0, i;

	memset(out, 0, sizeof(*out));
	*why = "ok";
	if (!ex)
		ex = &strict;
	if (len > JWT_TOKEN_MAX) {
		*why = "token longer than 8192 bytes";
		goto out;
	}
	d1 = len ? memchr(token, '.', len) : NULL;
	d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) {
		*why = "not three dot-separated segments";
		goto out;
	}
	if (d1 == token || d2 == d1 + 1 || d2 + 1 == end) {
		*why = "empty segment";
		goto out;
	}
	/* the three decoded segments, back to back: < len bytes in all */
	buf = malloc(len);
	if (!buf) {
		r = JWT_INTERNAL;
		*why = "out of memory";
		goto out;
	}
	hn = jwt_b64_decode(token, (size_t)(d1 - token), buf, len);
	pbuf = buf + (hn > 0 ? hn : 0);
	pn = jwt_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), pbuf,
	                    len - (size_t)(pbuf - buf));
	sbuf = pbuf + (pn > 0 ? pn : 0);
	sn = jwt_b64_decode(d2 + 1, (size_t)(end - d2 - 1), sbuf,
	                    len - (size_t)(sbuf - buf));
	if (hn <= 0 || pn <= 0 || sn <= 0) {
		*why = hn <= 0   ? "header is not unpadded base64url"
		       : pn <= 0 ? "payload is not unpadded base64url"
		                 : "signature is not unpadded base64url";
		goto out;
	}

	hdr = jwt_json_object((const char *)buf, (size_t)hn, why);
	if (!hdr)
		goto out; /* JWT_MALFORMED */
	r = jwt_header(hdr, &alg, &kid, why);
	if (r == JWT_OK)
		r = jwt_candidates(ks, alg, kid, cand, &ncand, why);
	if (r != JWT_OK)
		goto out;
	for (i = 0; i < ncand; i++)
		if (jwt_sig_check(cand[i], token, (size_t)(d2 - token), sbuf,
		                  (size_t)sn))
			break;
	if (i == ncand) {
		r = JWT_BAD_SIGNATURE;
		*why = "signature does not verify";
		goto out;
	}

	/* signed by a trusted key: only now is the payload parsed */
	r = JWT_MALFORMED;
	pay = jwt_json_object((const char *)pbuf, (size_t)pn, why);
	if (!pay)
		goto out;
	r = jwt_check_claims(pay, ex, now, out, why);
	out->alg = alg;
out:
	if (r != JWT_OK)
		memset(out, 0, sizeof(*out));
	json_decref(hdr);
	json_decref(pay);
	free(buf);
	return r;
}

/* ---- signing --------------------------------------------------------- */

int jwt_sign(const struct jwt_key *k, const char *claims_json, char **out)
{
	json_t *claims = NULL, *hdr = NULL;
	char *cs = NULL, *hs = NULL, *tok = NULL;
	uint8_t sig[JWT_SIG_MAX];
	size_t hl, cl, sl, pos;
	int rc = TERN_EINVAL;

	*out = NULL;
	if (!jwt_key_can_sign(k))
		return TERN_EINVAL;
	claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(claims))
		goto out;
	rc = TERN_ENOMEM;
	hdr = json_object();
	if (!hdr ||
	    json_object_set_new(hdr, "alg",
	                        json_string(jwt_alg_name(k->alg))) ||
	    json_object_set_new(hdr, "typ", json_string("JWT")) ||
	    (k->kid && json_object_set_new(hdr, "kid", json_string(k->kid))))
		goto out;
	hs = json_dumps(hdr, JSON_COMPACT);
	cs = json_dumps(claims, JSON_COMPACT);
	if (!hs || !cs)
		goto out;
	hl = jwt_b64_len(strlen(hs));
	cl = jwt_b64_len(strlen(cs));
	rc = TERN_ELIMIT;
	if (hl + cl + 2 > JWT_TOKEN_MAX)
		goto out;
	rc = TERN_ENOMEM;
	tok = malloc(hl + cl + 2 + jwt_b64_len(JWT_SIG_MAX) + 1);
	if (!tok)
		goto out;
	pos = jwt_b64_encode((const uint8_t *)hs, strlen(hs), tok);
	tok[pos++] = '.';
	pos += jwt_b64_encode((const uint8_t *)cs, strlen(cs), tok + pos);
	sl = jwt_sig_make(k, tok, pos, sig);
	rc = TERN_EIO;
	if (!sl)
		goto out;
	tok[pos++] = '.';
	pos += jwt_b64_encode(sig, sl, tok + pos);
	tok[pos] = 0;
	rc = TERN_ELIMIT;
	if (pos > JWT_TOKEN_MAX)
		goto out;
	*out = tok;
	tok = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	json_decref(claims);
	json_decref(hdr);
	free(hs);
	free(cs);
	free(tok);
	return rc;
}
