/*
 * jwt_keys.c - JWT key sets: keys pinned to one algorithm when loaded (the
 * pairing checked then), lookup, PEM files, HMAC secrets and copying keys
 * between sets. JWK sets are loaded and published in jwt_jwks.c.
 *
 * OpenSSL 3 EVP only (no deprecated RSA_* / EC_KEY_* calls).
 */
#include "jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt_int.h"
#include "tern_err.h"

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
void jwt_keys_truncate(struct jwt_keys *ks, size_t n)
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
const char *jwt_kid_check(const char *kid)
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
int jwt_keys_push(struct jwt_keys *ks, const char *kid, enum jwt_alg alg,
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
int jwt_fail(char *err, size_t errlen, const char *name, const char *why,
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
int jwt_keys_add_pkey(struct jwt_keys *ks, EVP_PKEY *pk, bool priv,
                      const char *kid, enum jwt_alg alg, const char **why)
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
int jwt_read_file(const char *path, size_t max, char **out, size_t *len,
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

/* ---- copying keys ---------------------------------------------------- */

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
