/*
 * fuzz_jwt.c - libFuzzer target for node/jwt*.c (jwt.h).
 *
 * The first input byte picks a mode (its value mod 3), the rest is data:
 *
 *  0  a token for jwt_verify against a fixed key set (an HS256 secret and
 *     fresh RSA, P-256 and Ed25519 keys, each with a kid). Forged tokens
 *     cannot pass the signature, so this exercises splitting, base64url,
 *     header parsing and key selection; a token that does verify must come
 *     with a non-empty username.
 *  1  a JWK set for jwt_keys_add_jwks. When it loads, its public export is
 *     loaded again and must hold exactly its non-oct keys.
 *  2  a claim set, signed with the fixed HS256 key by jwt_sign and then
 *     verified: the signature must always pass, so the claim checks see
 *     arbitrary JSON.
 *
 * Any violated expectation abort()s, which libFuzzer reports as a crash.
 * Seeds: tests/fuzz/corpus_jwt/. Build and run: tests/fuzz/run.sh [SECONDS]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "tern_err.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define FUZZ_NOW ((time_t)1700000000)
/* The HS256 secret of kid "h" (the seeds in corpus_jwt/ use it). */
#define FUZZ_SECRET "fuzz-secret-fuzz-secret-fuzz-sec"

static struct jwt_keys *keys;

static const struct jwt_expect expect = {
    .issuer = "https://idp.example",
    .audience = "tern",
    .roles_claim = "scope",
    .leeway = 30,
};

static void add_generated(EVP_PKEY *pk, const char *kid)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, err[256];
	long n;

	CHECK(pk && b && PEM_write_bio_PUBKEY(b, pk));
	n = BIO_get_mem_data(b, &pem);
	CHECK(jwt_keys_add_pem(keys, pem, (size_t)n, kid, JWT_ALG_INFER, kid,
	                       err, sizeof(err)) == 0);
	BIO_free(b);
	EVP_PKEY_free(pk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc, (void)argv;
	keys = jwt_keys_new();
	CHECK(keys);
	CHECK(jwt_keys_add_secret(keys, (const uint8_t *)FUZZ_SECRET,
	                          strlen(FUZZ_SECRET), "h", JWT_HS256, "h", err,
	                          sizeof(err)) == 0);
	add_generated(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "r");
	add_generated(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "e");
	add_generated(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "d");
	return 0;
}

static void fuzz_token(const char *s, size_t n)
{
	struct jwt_claims c;
	const char *why = NULL;
	enum jwt_result r = jwt_verify(keys, s, n, &expect, FUZZ_NOW, &c, &why);

	CHECK(why && *why);
	CHECK(r != JWT_INTERNAL);
	if (r == JWT_OK)
		CHECK(c.username[0] && c.n_roles <= JWT_ROLES_MAX);
	else
		CHECK(!c.username[0] && !c.n_roles);
}

static void fuzz_jwks(const char *s, size_t n)
{
	struct jwt_keys *ks = jwt_keys_new(), *again;
	char err[512], *json = NULL;
	size_t asym = 0;

	CHECK(ks);
	if (jwt_keys_add_jwks(ks, s, n, "fuzz", err, sizeof(err)) == 0) {
		CHECK(jwt_keys_count(ks) > 0);
		for (size_t i = 0; i < jwt_keys_count(ks); i++) {
			enum jwt_alg a = jwt_key_alg(jwt_keys_at(ks, i));

			CHECK(a >= JWT_HS256 && a <= JWT_EDDSA);
			asym += a > JWT_HS512;
			CHECK(!jwt_key_can_sign(jwt_keys_at(ks, i)) ||
			      a <= JWT_HS512);
		}
		CHECK(jwt_keys_public_jwks(ks, &json) == 0);
		again = jwt_keys_new();
		CHECK(again);
		if (asym)
			CHECK(jwt_keys_add_jwks(again, json, strlen(json),
			                        "again", err,
			                        sizeof(err)) == 0);
		CHECK(jwt_keys_count(again) == asym);
		jwt_keys_free(again);
		free(json);
	} else {
		CHECK(jwt_keys_count(ks) == 0 && err[0]);
	}
	jwt_keys_free(ks);
}

static void fuzz_claims(const char *s, size_t n)
{
	char *claims = malloc(n + 1), *tok = NULL;
	struct jwt_claims c;
	const char *why;
	enum jwt_result r;
	int rc;

	CHECK(claims);
	memcpy(claims, s, n);
	claims[n] = 0;
	rc = jwt_sign(jwt_keys_find(keys, "h"), claims, &tok);
	CHECK(rc == 0 || rc == TERN_EINVAL || rc == TERN_ELIMIT);
	if (rc == 0) {
		r = jwt_verify(keys, tok, strlen(tok), &expect, FUZZ_NOW, &c,
		               &why);
		CHECK(r != JWT_BAD_SIGNATURE && r != JWT_BAD_ALG &&
		      r != JWT_UNKNOWN_KID && r != JWT_INTERNAL);
		free(tok);
	}
	free(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_token(s, size - 1);
		break;
	case 1:
		fuzz_jwks(s, size - 1);
		break;
	default:
		fuzz_claims(s, size - 1);
		break;
	}
	return 0;
}
