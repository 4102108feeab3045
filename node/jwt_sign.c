/*
 * jwt_sign.c - JWS signatures per algorithm, checked (for jwt_verify) and
 * made, and jwt_sign, which builds and signs a token.
 *
 * EVP_DigestSign and EVP_DigestVerify for RSA, RSA-PSS, ECDSA and Ed25519,
 * HMAC() for HS*, ECDSA_SIG to convert between JOSE's raw r||s and
 * OpenSSL's DER (OpenSSL 3 EVP only).
 */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "jwt_int.h"
#include "tern_err.h"

#define JWT_SIG_MAX 1024 /* an 8192-bit RSA signature */

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
bool jwt_sig_check(const struct jwt_key *k, const char *msg, size_t mlen,
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
