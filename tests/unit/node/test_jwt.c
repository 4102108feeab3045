/*
 * test_jwt.c - node/jwt*.c (jwt.h): key loading (PEM, secret, JWKS),
 * verification with every refusal it promises, signing, the public JWK
 * set, and a cross check against the openssl command line. Keys are
 * generated here; no network, temp files only under mkdtemp directories.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "tern_err.h"

#define NOW ((time_t)1700000000)
/* 64 bytes: long enough for HS256, HS384 and HS512 */
static const char SECRET[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char SECRET2[] = "another secret of thirty-two b..";

/* ---- helpers --------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt,
                                                             ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0);
	return s;
}

static char *b64url(const void *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 8);
	size_t j = 0;
	int len;

	cr_assert(s);
	len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	for (int i = 0; i < len; i++) {
		if (s[i] == '=')
			break;
		s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	}
	s[j] = 0;
	return s;
}

/* Decodes base64url s into a new buffer; *n its length. */
static uint8_t *b64url_decode(const char *s, size_t len, size_t *n)
{
	char *t = malloc(len + 4);
	uint8_t *out = malloc(len + 4);
	size_t pad = (4 - len % 4) % 4;
	int got;

	cr_assert(t && out);
	for (size_t i = 0; i < len; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (size_t i = 0; i < pad; i++)
		t[len + i] = '=';
	got = EVP_DecodeBlock(out, (unsigned char *)t, (int)(len + pad));
	cr_assert(got >= 0);
	*n = (size_t)got - pad;
	free(t);
	return out;
}

/* header.payload signed with HMAC-SHA-256 under key: any JSON we like. */
static char *hs256_token(const char *hdr, const char *pay, const void *key,
                         size_t klen)
{
	char *h = b64url(hdr, strlen(hdr)), *p = b64url(pay, strlen(pay));
	char *in = xasprintf("%s.%s", h, p), *s, *tok;
	uint8_t mac[32];
	unsigned ml = 0;

	cr_assert(HMAC(EVP_sha256(), key, (int)klen, (uint8_t *)in, strlen(in),
	               mac, &ml));
	s = b64url(mac, ml);
	tok = xasprintf("%s.%s", in, s);
	free(h);
	free(p);
	free(in);
	free(s);
	return tok;
}

/* The usual test token: HS256 under SECRET[0..32), kid "k1". */
static char *hs_tok(const char *pay)
{
	return hs256_token("{\"alg\":\"HS256\",\"kid\":\"k1\"}", pay, SECRET,
	                   32);
}

static struct jwt_keys *hs_keys(void)
{
	struct jwt_keys *ks = jwt_keys_new();
	char err[256];

	cr_assert(ks);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 32, "k1",
	                                 JWT_HS256, "test", err, sizeof(err)),
	             0, "%s", err);
	return ks;
}

static EVP_PKEY *gen_key(enum jwt_alg alg)
{
	EVP_PKEY *pk = NULL;

	switch (alg) {
	case JWT_RS256:
	case JWT_RS384:
	case JWT_RS512:
	case JWT_PS256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case JWT_ES256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JWT_ES384:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case JWT_EDDSA:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		break;
	}
	cr_assert(pk, "keygen for %s", jwt_alg_name(alg));
	return pk;
}

static char *bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	s = strndup(data, (size_t)n);
	cr_assert(s);
	BIO_free(b);
	return s;
}

static char *pem_of(EVP_PKEY *pk, bool priv)
{
	BIO *b = BIO_new(BIO_s_mem());

	cr_assert(b);
	if (priv)
		cr_assert(
		    PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL));
	else
		cr_assert(PEM_write_bio_PUBKEY(b, pk));
	return bio_string(b);
}

/* A key set holding pem pinned to alg (JWT_ALG_INFER: inferred). */
static struct jwt_keys *pem_keys(const char *pem, const char *kid,
                                 enum jwt_alg alg)
{
	struct jwt_keys *ks = jwt_keys_new();
	char err[256];

	cr_assert(ks);
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), kid, alg, "pem",
	                              err, sizeof(err)),
	             0, "%s", err);
	return ks;
}

static char *sign(const struct jwt_keys *ks, size_t i, const char *claims)
{
	char *tok = NULL;

	cr_assert_eq(jwt_sign(jwt_keys_at(ks, i), claims, &tok), 0);
	cr_assert(tok);
	return tok;
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/tern-jwt-XXXXXX";

	cr_assert(mkdtemp(tmpl));
	return strdup(tmpl);
}

static char *write_file(const char *dir, const char *name, const void *data,
                        size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	cr_assert(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

static void rm_rf(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	cr_assert_eq(system(cmd), 0);
	free(cmd);
	free(dir);
}

/* Verifies and checks the result, printing the reason on a mismatch. */
#define VERIFY_LEN(ks, tok, len, ex, now, want, claims)                        \
	do {                                                                   \
		const char *why_ = NULL;                                       \
		enum jwt_result got_ = jwt_verify((ks), (tok), (len), (ex),    \
		                                  (now), (claims), &why_);     \
		cr_assert_eq(got_, (want), "got %s (%s), want %s",             \
		             jwt_result_name(got_), why_,                      \
		             jwt_result_name(want));                           \
		cr_assert(why_ &&*why_);                                       \
	} while (0)
#define VERIFY(ks, tok, ex, now, want, claims)                                 \
	VERIFY_LEN(ks, tok, strlen(tok), ex, now, want, claims)

/* ---- round trips ----------------------------------------------------- */

/* Every asymmetric algorithm: sign with the private PEM, verify with the
 * private set, the public PEM and the exported JWKS. */
static void roundtrip(enum jwt_alg alg, enum jwt_alg load_as)
{
	EVP_PKEY *pk = gen_key(alg);
	char *priv = pem_of(pk, true), *pub = pem_of(pk, false), *jwks, *tok;
	struct jwt_keys *ks = pem_keys(priv, "k", load_as), *pks, *jks;
	struct jwt_claims c;
	const char *dot;
	uint8_t *sig;
	size_t n;
	char err[256];

	cr_assert_eq(jwt_key_alg(jwt_keys_at(ks, 0)), alg);
	cr_assert(jwt_key_can_sign(jwt_keys_at(ks, 0)));
	tok = sign(ks, 0,
	           "{\"sub\":\"alice\",\"exp\":1700000060,"
	           "\"iat\":1700000000}");
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	cr_assert_str_eq(c.sub, "alice");
	cr_assert_str_eq(c.username, "alice");
	cr_assert(c.has_exp && c.exp == 1700000060);
	cr_assert(c.has_iat && c.iat == 1700000000);
	cr_assert_eq(c.alg, alg);

	pks = pem_keys(pub, "k", alg);
	cr_assert_not(jwt_key_can_sign(jwt_keys_at(pks, 0)));
	cr_assert_eq(jwt_sign(jwt_keys_at(pks, 0), "{}", &jwks), TERN_EINVAL);
	VERIFY(pks, tok, NULL, NOW, JWT_OK, &c);

	cr_assert_eq(jwt_keys_public_jwks(ks, &jwks), 0);
	cr_assert_null(strstr(jwks, "\"d\""), "%s", jwks);
	jks = jwt_keys_new();
	cr_assert_eq(jwt_keys_add_jwks(jks, jwks, strlen(jwks), "jwks", err,
	                               sizeof(err)),
	             0, "%s: %s", err, jwks);
	cr_assert_eq(jwt_keys_count(jks), 1);
	cr_assert_eq(jwt_key_alg(jwt_keys_at(jks, 0)), alg);
	cr_assert_str_eq(jwt_key_kid(jwt_keys_at(jks, 0)), "k");
	VERIFY(jks, tok, NULL, NOW, JWT_OK, &c);
	cr_assert_str_eq(c.sub, "alice");

	/* the signature segment has the JOSE size */
	dot = strrchr(tok, '.');
	sig = b64url_decode(dot + 1, strlen(dot + 1), &n);
	if (alg == JWT_ES256)
		cr_assert_eq(n, 64);
	else if (alg == JWT_ES384)
		cr_assert_eq(n, 96);
	else if (alg == JWT_EDDSA)
		cr_assert_eq(n, 64);
	else
		cr_assert_eq(n, 256);

	/* a flipped payload byte breaks it under every set */
	tok[strchr(tok, '.') - tok + 5] ^= 'A' ^ 'B';
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	VERIFY(jks, tok, NULL, NOW, JWT_BAD_SIGNATURE, &c);

	free(sig);
	free(jwks);
	free(tok);
	free(priv);
	free(pub);
	jwt_keys_free(ks);
	jwt_keys_free(pks);
	jwt_keys_free(jks);
	EVP_PKEY_free(pk);
}

Test(jwt_roundtrip, rs256_inferred)
{
	roundtrip(JWT_RS256, JWT_ALG_INFER);
}
Test(jwt_roundtrip, rs384)
{
	roundtrip(JWT_RS384, JWT_RS384);
}
Test(jwt_roundtrip, rs512)
{
	roundtrip(JWT_RS512, JWT_RS512);
}
Test(jwt_roundtrip, ps256)
{
	roundtrip(JWT_PS256, JWT_PS256);
}
Test(jwt_roundtrip, es256_inferred)
{
	roundtrip(JWT_ES256, JWT_ALG_INFER);
}
Test(jwt_roundtrip, es384_inferred)
{
	roundtrip(JWT_ES384, JWT_ALG_INFER);
}
Test(jwt_roundtrip, eddsa_inferred)
{
	roundtrip(JWT_EDDSA, JWT_ALG_INFER);
}

static void roundtrip_hs(enum jwt_alg alg, size_t klen)
{
	struct jwt_keys *ks = jwt_keys_new();
	struct jwt_claims c;
	char err[256], *tok, *jwks;
	const char *dot;
	uint8_t *sig;
	size_t n;

	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, klen, "h",
	                                 alg, "s", err, sizeof(err)),
	             0, "%s", err);
	cr_assert(jwt_key_can_sign(jwt_keys_at(ks, 0)));
	tok = sign(ks, 0, "{\"sub\":\"bob\",\"exp\":1700000060}");
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	cr_assert_str_eq(c.sub, "bob");
	cr_assert_eq(c.alg, alg);
	dot = strrchr(tok, '.');
	sig = b64url_decode(dot + 1, strlen(dot + 1), &n);
	cr_assert_eq(n, klen);
	/* secrets never leave through the public JWK set */
	cr_assert_eq(jwt_keys_public_jwks(ks, &jwks), 0);
	cr_assert_str_eq(jwks, "{\"keys\":[]}");
	free(jwks);
	free(sig);
	free(tok);
	jwt_keys_free(ks);
}

Test(jwt_roundtrip, hs256)
{
	roundtrip_hs(JWT_HS256, 32);
}
Test(jwt_roundtrip, hs384)
{
	roundtrip_hs(JWT_HS384, 48);
}
Test(jwt_roundtrip, hs512)
{
	roundtrip_hs(JWT_HS512, 64);
}

/* All algorithms in one set, each token found by its kid, and the JWKS of
 * the set verifies every asymmetric token. */
Test(jwt_roundtrip, mixed_set_and_jwks)
{
	static const enum jwt_alg algs[] = {JWT_RS256, JWT_PS256, JWT_ES256,
	                                    JWT_ES384, JWT_EDDSA};
	struct jwt_keys *ks = jwt_keys_new(), *jks = jwt_keys_new();
	char err[256], *toks[5], *jwks, kid[8];
	struct jwt_claims c;
	json_t *root, *jwk;
	size_t i;
	const char *key;
	json_t *v;

	for (i = 0; i < 5; i++) {
		EVP_PKEY *pk = gen_key(algs[i]);
		char *pem = pem_of(pk, true);

		snprintf(kid, sizeof(kid), "k%zu", i);
		cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), kid,
		                              algs[i], "p", err, sizeof(err)),
		             0, "%s", err);
		free(pem);
		EVP_PKEY_free(pk);
	}
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 32, "hs",
	                                 JWT_HS256, "s", err, sizeof(err)),
	             0);
	for (i = 0; i < 5; i++)
		toks[i] = sign(ks, i, "{\"sub\":\"m\",\"exp\":1700000060}");
	cr_assert_eq(jwt_keys_public_jwks(ks, &jwks), 0);
	cr_assert_eq(
	    jwt_keys_add_jwks(jks, jwks, strlen(jwks), "j", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(jwt_keys_count(jks), 5, "%s", jwks);
	for (i = 0; i < 5; i++) {
		VERIFY(ks, toks[i], NULL, NOW, JWT_OK, &c);
		VERIFY(jks, toks[i], NULL, NOW, JWT_OK, &c);
		cr_assert_eq(c.alg, algs[i]);
	}
	/* public members only */
	root = json_loads(jwks, 0, NULL);
	cr_assert(root);
	json_array_foreach(json_object_get(root, "keys"), i, jwk)
	{
		json_object_foreach(jwk, key, v)
		{
			char *m = xasprintf(" %s ", key);

			cr_assert(strstr(" kty kid use alg n e crv x y ", m),
			          "member %s in %s", key, jwks);
			free(m);
		}
		cr_assert_str_eq(json_string_value(json_object_get(jwk, "use")),
		                 "sig");
	}
	json_decref(root);
	for (i = 0; i < 5; i++)
		free(toks[i]);
	free(jwks);
	jwt_keys_free(ks);
	jwt_keys_free(jks);
}

/* RFC 7515 appendix A.1: the HS256 example, key given as an oct JWK. */
Test(jwt_vectors, rfc7515_a1_hs256)
{
	const char *jwks =
	    "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObw"
	    "VMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";
	const char *tok =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	struct jwt_expect ex = {.issuer = "joe", .username_claim = "iss"};
	struct jwt_keys *ks = jwt_keys_new();
	struct jwt_claims c;
	char err[256];

	cr_assert_eq(
	    jwt_keys_add_jwks(ks, jwks, strlen(jwks), "rfc", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(jwt_key_alg(jwt_keys_at(ks, 0)), JWT_HS256);
	VERIFY(ks, tok, &ex, 1300819379, JWT_OK, &c);
	cr_assert_str_eq(c.username, "joe");
	cr_assert_str_eq(c.sub, "");
	cr_assert_eq(c.exp, 1300819380);
	VERIFY(ks, tok, &ex, 1300819380, JWT_EXPIRED, &c);
	jwt_keys_free(ks);
}

/* RFC 8037 appendix A.4: Ed25519; the payload is not a claim set, so the
 * signature verifies and the payload is then refused as malformed. */
Test(jwt_vectors, rfc8037_a4_ed25519)
{
	const char *jwks =
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
	const char *tok = "eyJhbGciOiJFZERTQSJ9."
	                  "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
	                  "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR"
	                  "4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
	struct jwt_keys *ks = jwt_keys_new();
	struct jwt_claims c;
	const char *why;
	char err[256], *bad;

	cr_assert_eq(
	    jwt_keys_add_jwks(ks, jwks, strlen(jwks), "rfc", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(jwt_key_alg(jwt_keys_at(ks, 0)), JWT_EDDSA);
	cr_assert_eq(jwt_verify(ks, tok, strlen(tok), NULL, NOW, &c, &why),
	             JWT_MALFORMED);
	cr_assert_str_eq(why, "not a JSON object (or a duplicate member)");
	bad = strdup(tok);
	bad[strlen(bad) - 10] ^= 'a' ^ 'b';
	VERIFY(ks, bad, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(bad);
	jwt_keys_free(ks);
}

/* ---- time claims ----------------------------------------------------- */

static enum jwt_result verify_claims(const char *pay,
                                     const struct jwt_expect *ex, time_t now,
                                     struct jwt_claims *c)
{
	struct jwt_keys *ks = hs_keys();
	char *tok = hs_tok(pay);
	const char *why;
	enum jwt_result r = jwt_verify(ks, tok, strlen(tok), ex, now, c, &why);

	cr_log_info("%s -> %s (%s)", pay, jwt_result_name(r), why);
	free(tok);
	jwt_keys_free(ks);
	return r;
}

#define CLAIMS(want, ex, now, ...)                                             \
	do {                                                                   \
		struct jwt_claims c_;                                          \
		char *p_ = xasprintf(__VA_ARGS__);                             \
		enum jwt_result got_ = verify_claims(p_, (ex), (now), &c_);    \
		cr_assert_eq(got_, (want), "%s: got %s want %s", p_,           \
		             jwt_result_name(got_), jwt_result_name(want));    \
		free(p_);                                                      \
	} while (0)

Test(jwt_time, exp)
{
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld}", NOW + 1);
	/* RFC 7519: now must be before exp */
	CLAIMS(JWT_EXPIRED, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld}", NOW);
	CLAIMS(JWT_EXPIRED, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld}",
	       NOW - 3600);
	CLAIMS(JWT_EXPIRED, NULL, NOW, "{\"sub\":\"a\",\"exp\":0}");
	CLAIMS(JWT_EXPIRED, NULL, NOW, "{\"sub\":\"a\",\"exp\":-5}");
	/* fractional NumericDate */
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld.5}", NOW + 1);
	CLAIMS(JWT_EXPIRED, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld.9}", NOW);
	/* huge values neither overflow nor get refused */
	CLAIMS(JWT_OK, NULL, NOW,
	       "{\"sub\":\"a\",\"exp\":9223372036854775807}");
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":\"a\",\"exp\":1e300}");
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":\"a\",\"exp\":\"%ld\"}",
	       NOW + 60);
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":\"a\",\"exp\":null}");
}

Test(jwt_time, exp_required_unless_optional)
{
	struct jwt_expect opt = {.exp_optional = true};

	CLAIMS(JWT_MISSING_CLAIM, NULL, NOW, "{\"sub\":\"a\"}");
	CLAIMS(JWT_OK, &opt, NOW, "{\"sub\":\"a\"}");
	CLAIMS(JWT_EXPIRED, &opt, NOW, "{\"sub\":\"a\",\"exp\":%ld}", NOW - 1);
}

Test(jwt_time, nbf_and_iat)
{
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld,\"nbf\":%ld}",
	       NOW + 60, NOW);
	CLAIMS(JWT_NOT_YET_VALID, NULL, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"nbf\":%ld}", NOW + 60, NOW + 1);
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\",\"exp\":%ld,\"iat\":%ld}",
	       NOW + 60, NOW);
	CLAIMS(JWT_NOT_YET_VALID, NULL, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"iat\":%ld}", NOW + 60, NOW + 1);
	CLAIMS(JWT_MALFORMED, NULL, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"nbf\":true}", NOW + 60);
	CLAIMS(JWT_MALFORMED, NULL, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"iat\":[1]}", NOW + 60);
}

/* With a leeway L: exp is accepted until now reaches exp + L (so exp ==
 * now - L + 1 is the oldest accepted); nbf and iat up to now + L. */
Test(jwt_time, leeway_edges)
{
	struct jwt_expect ex = {.leeway = 30};

	CLAIMS(JWT_OK, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld}", NOW - 29);
	CLAIMS(JWT_EXPIRED, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld}", NOW - 30);
	CLAIMS(JWT_OK, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld,\"nbf\":%ld}",
	       NOW + 60, NOW + 30);
	CLAIMS(JWT_NOT_YET_VALID, &ex, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"nbf\":%ld}", NOW + 60, NOW + 31);
	CLAIMS(JWT_OK, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld,\"iat\":%ld}",
	       NOW + 60, NOW + 30);
	CLAIMS(JWT_NOT_YET_VALID, &ex, NOW,
	       "{\"sub\":\"a\",\"exp\":%ld,\"iat\":%ld}", NOW + 60, NOW + 31);
	/* an absurd leeway is clamped to a day */
	ex.leeway = UINT32_MAX;
	CLAIMS(JWT_OK, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld}",
	       NOW - 86400 + 1);
	CLAIMS(JWT_EXPIRED, &ex, NOW, "{\"sub\":\"a\",\"exp\":%ld}",
	       NOW - 86400);
}

/* ---- issuer, audience, names, roles ---------------------------------- */

#define EXP "\"exp\":1700000060"

Test(jwt_claims, issuer)
{
	struct jwt_expect ex = {.issuer = "https://idp.example"};

	CLAIMS(JWT_OK, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"iss\":\"https://idp.example\"}");
	CLAIMS(JWT_BAD_ISSUER, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"iss\":\"https://idp.example/\"}");
	CLAIMS(JWT_BAD_ISSUER, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"iss\":\"https://evil.example\"}");
	CLAIMS(JWT_MISSING_CLAIM, &ex, NOW, "{\"sub\":\"a\"," EXP "}");
	CLAIMS(JWT_MALFORMED, &ex, NOW, "{\"sub\":\"a\"," EXP ",\"iss\":7}");
	/* not expected: any iss is fine */
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\"," EXP ",\"iss\":\"x\"}");
}

Test(jwt_claims, audience)
{
	struct jwt_expect ex = {.audience = "tern"};

	CLAIMS(JWT_OK, &ex, NOW, "{\"sub\":\"a\"," EXP ",\"aud\":\"tern\"}");
	CLAIMS(JWT_OK, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":[\"other\",\"tern\"]}");
	CLAIMS(JWT_BAD_AUDIENCE, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":\"terns\"}");
	CLAIMS(JWT_BAD_AUDIENCE, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":[\"other\"]}");
	CLAIMS(JWT_BAD_AUDIENCE, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":[]}");
	CLAIMS(JWT_MISSING_CLAIM, &ex, NOW, "{\"sub\":\"a\"," EXP "}");
	CLAIMS(JWT_MALFORMED, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":[\"tern\",1]}");
	CLAIMS(JWT_MALFORMED, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":{\"tern\":1}}");
	/* RFC 7519 4.1.3: an aud nobody here answers to is refused */
	CLAIMS(JWT_BAD_AUDIENCE, NULL, NOW,
	       "{\"sub\":\"a\"," EXP ",\"aud\":\"tern\"}");
	CLAIMS(JWT_OK, NULL, NOW, "{\"sub\":\"a\"," EXP "}");
}

Test(jwt_claims, username_claim)
{
	struct jwt_expect ex = {.username_claim = "preferred_username"};
	struct jwt_claims c;
	char *long_name = malloc(JWT_NAME_MAX + 2), *pay;

	cr_assert_eq(verify_claims("{\"sub\":\"u-1\"," EXP
	                           ",\"preferred_username\":\"alice\"}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_str_eq(c.sub, "u-1");
	cr_assert_str_eq(c.username, "alice");
	cr_assert_eq(verify_claims("{" EXP ",\"preferred_username\":\"al\"}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_str_eq(c.sub, "");
	CLAIMS(JWT_MISSING_CLAIM, &ex, NOW, "{\"sub\":\"a\"," EXP "}");
	CLAIMS(JWT_MISSING_CLAIM, NULL, NOW, "{" EXP "}");
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":\"\"," EXP "}");
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":42," EXP "}");
	CLAIMS(JWT_MALFORMED, &ex, NOW,
	       "{" EXP ",\"preferred_username\":[\"a\"]}");
	memset(long_name, 'n', JWT_NAME_MAX + 1);
	long_name[JWT_NAME_MAX + 1] = 0;
	CLAIMS(JWT_MALFORMED, NULL, NOW, "{\"sub\":\"%s\"," EXP "}", long_name);
	long_name[JWT_NAME_MAX] = 0;
	pay = xasprintf("{\"sub\":\"%s\"," EXP "}", long_name);
	cr_assert_eq(verify_claims(pay, NULL, NOW, &c), JWT_OK);
	cr_assert_eq(strlen(c.username), JWT_NAME_MAX);
	free(pay);
	free(long_name);
}

Test(jwt_claims, roles_array_and_scope_string)
{
	struct jwt_expect ex = {.roles_claim = "roles"};
	struct jwt_claims c;

	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP
	                           ",\"roles\":[\"admin\",\"\",\"ops\"]}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 2);
	cr_assert_str_eq(c.roles[0], "admin");
	cr_assert_str_eq(c.roles[1], "ops");
	cr_assert_not(c.roles_truncated);

	ex.roles_claim = "scope";
	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP
	                           ",\"scope\":\" read  write admin\"}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 3);
	cr_assert_str_eq(c.roles[0], "read");
	cr_assert_str_eq(c.roles[1], "write");
	cr_assert_str_eq(c.roles[2], "admin");

	/* absent: no roles, not an error */
	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP "}", &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 0);
	CLAIMS(JWT_MALFORMED, &ex, NOW, "{\"sub\":\"a\"," EXP ",\"scope\":7}");
	ex.roles_claim = "roles";
	CLAIMS(JWT_MALFORMED, &ex, NOW,
	       "{\"sub\":\"a\"," EXP ",\"roles\":[\"a\",{}]}");
	/* no roles claim configured: whatever is there is ignored */
	cr_assert_eq(
	    verify_claims("{\"sub\":\"a\"," EXP ",\"roles\":7}", NULL, NOW, &c),
	    JWT_OK);
	cr_assert_eq(c.n_roles, 0);
}

Test(jwt_claims, roles_dotted_path)
{
	struct jwt_expect ex = {.roles_claim = "realm_access.roles"};
	struct jwt_claims c;

	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP
	                           ",\"realm_access\":{\"roles\":[\"r1\"]}}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 1);
	cr_assert_str_eq(c.roles[0], "r1");
	/* a top-level member with the dotted name wins */
	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP
	                           ",\"realm_access.roles\":\"x y\","
	                           "\"realm_access\":{\"roles\":[\"r1\"]}}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 2);
	cr_assert_eq(verify_claims("{\"sub\":\"a\"," EXP
	                           ",\"realm_access\":[\"roles\"]}",
	                           &ex, NOW, &c),
	             JWT_OK);
	cr_assert_eq(c.n_roles, 0);
}

Test(jwt_claims, roles_bounded)
{
	struct jwt_expect ex = {.roles_claim = "roles"};
	struct jwt_claims c;
	char *pay, *arr = strdup("["), *t;
	char long_role[JWT_ROLE_MAX + 2], max_role[JWT_ROLE_MAX + 1];

	for (int i = 0; i < 40; i++) {
		t = xasprintf("%s%s\"r%d\"", arr, i ? "," : "", i);
		free(arr);
		arr = t;
	}
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"roles\":%s]}", arr);
	cr_assert_eq(verify_claims(pay, &ex, NOW, &c), JWT_OK);
	cr_assert_eq(c.n_roles, JWT_ROLES_MAX);
	cr_assert_str_eq(c.roles[31], "r31");
	cr_assert(c.roles_truncated);
	free(pay);

	memset(long_role, 'x', JWT_ROLE_MAX + 1);
	long_role[JWT_ROLE_MAX + 1] = 0;
	memset(max_role, 'y', JWT_ROLE_MAX);
	max_role[JWT_ROLE_MAX] = 0;
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"roles\":[\"%s\",\"%s\"]}",
	                long_role, max_role);
	cr_assert_eq(verify_claims(pay, &ex, NOW, &c), JWT_OK);
	cr_assert_eq(c.n_roles, 1);
	cr_assert_str_eq(c.roles[0], max_role);
	cr_assert(c.roles_truncated);
	free(pay);

	ex.roles_claim = "scope";
	pay =
	    xasprintf("{\"sub\":\"a\"," EXP ",\"scope\":\"%s a\"}", long_role);
	cr_assert_eq(verify_claims(pay, &ex, NOW, &c), JWT_OK);
	cr_assert_eq(c.n_roles, 1);
	cr_assert_str_eq(c.roles[0], "a");
	cr_assert(c.roles_truncated);
	free(pay);
	free(arr);
}

/* ---- algorithm and key selection ------------------------------------- */

Test(jwt_alg, none_refused)
{
	struct jwt_keys *ks = hs_keys();
	const char *pay = "{\"sub\":\"a\"," EXP "}";
	char *h = b64url("{\"alg\":\"none\"}", 14), *p;
	char *tok, *tok2, *tok3;
	struct jwt_claims c;

	p = b64url(pay, strlen(pay));
	/* without a signature segment (the unsecured JWS form) */
	tok = xasprintf("%s.%s.", h, p);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = xasprintf("%s.%s", h, p);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	/* with one: the alg is refused before any key is looked at */
	tok2 = xasprintf("%s.%s.AAAA", h, p);
	VERIFY(ks, tok2, NULL, NOW, JWT_BAD_ALG, &c);
	free(h);
	h = b64url("{\"alg\":\"NoNe\",\"kid\":\"k1\"}", 25);
	tok3 = xasprintf("%s.%s.AAAA", h, p);
	VERIFY(ks, tok3, NULL, NOW, JWT_BAD_ALG, &c);
	free(h);
	free(p);
	free(tok);
	free(tok2);
	free(tok3);
	jwt_keys_free(ks);
}

Test(jwt_alg, unsupported_or_missing_alg)
{
	struct jwt_keys *ks = hs_keys();
	const char *pay = "{\"sub\":\"a\"," EXP "}";
	struct jwt_claims c;
	char *tok;

	tok = hs256_token("{\"alg\":\"hs256\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_ALG, &c);
	free(tok);
	tok = hs256_token("{\"alg\":\"ES512\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_ALG, &c);
	free(tok);
	tok = hs256_token("{\"typ\":\"JWT\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs256_token("{\"alg\":256}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	jwt_keys_free(ks);
}

/* The classic confusion: an HS256 token whose HMAC key is the RSA public
 * key's PEM. The RSA key is pinned to RS256, so HS256 finds no key. */
Test(jwt_alg, hs256_with_rsa_public_pem_refused)
{
	EVP_PKEY *pk = gen_key(JWT_RS256);
	char *pub = pem_of(pk, false), *tok, err[256];
	struct jwt_keys *ks = pem_keys(pub, NULL, JWT_ALG_INFER);
	const char *pay = "{\"sub\":\"root\"," EXP "}";
	struct jwt_claims c;

	tok = hs256_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pay, pub,
	                  strlen(pub));
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_ALG, &c);
	free(tok);
	/* also when the token names the key */
	cr_assert_eq(jwt_keys_count(ks), 1);
	jwt_keys_free(ks);
	ks = pem_keys(pub, "rsa", JWT_RS256);
	tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"rsa\"}", pay, pub,
	                  strlen(pub));
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_ALG, &c);
	free(tok);
	/* and a PEM key cannot be pinned to an HMAC algorithm at all */
	cr_assert_eq(jwt_keys_add_pem(ks, pub, strlen(pub), "x", JWT_HS256,
	                              "pub.pem", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "pub.pem: "), "%s", err);
	cr_assert_eq(jwt_keys_count(ks), 1);
	free(pub);
	jwt_keys_free(ks);
	EVP_PKEY_free(pk);
}

Test(jwt_alg, header_alg_must_equal_pinned_alg)
{
	EVP_PKEY *ec = gen_key(JWT_ES256), *rsa = gen_key(JWT_RS256);
	char *ecpub = pem_of(ec, false), *rsapriv = pem_of(rsa, true);
	struct jwt_keys *ks = pem_keys(ecpub, "k", JWT_ES256);
	struct jwt_keys *rs = pem_keys(rsapriv, "k", JWT_RS256);
	struct jwt_keys *ps = pem_keys(rsapriv, "k", JWT_PS256);
	char *tok = sign(rs, 0, "{\"sub\":\"a\"," EXP "}");
	struct jwt_claims c;

	VERIFY(ks, tok, NULL, NOW, JWT_BAD_ALG, &c);
	/* same RSA key, pinned to PS256: an RS256 token does not pass */
	VERIFY(ps, tok, NULL, NOW, JWT_BAD_ALG, &c);
	VERIFY(rs, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	tok = sign(ps, 0, "{\"sub\":\"a\"," EXP "}");
	VERIFY(rs, tok, NULL, NOW, JWT_BAD_ALG, &c);
	VERIFY(ps, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	free(ecpub);
	free(rsapriv);
	jwt_keys_free(ks);
	jwt_keys_free(rs);
	jwt_keys_free(ps);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

Test(jwt_alg, kid_selection)
{
	struct jwt_keys *ks = jwt_keys_new(), *anon = jwt_keys_new();
	struct jwt_keys *empty = jwt_keys_new();
	const char *pay = "{\"sub\":\"a\"," EXP "}";
	struct jwt_claims c;
	char err[256], *tok;

	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 32, "a",
	                                 JWT_HS256, "s", err, sizeof(err)),
	             0);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET2, 32, "b",
	                                 JWT_HS256, "s", err, sizeof(err)),
	             0);
	cr_assert_eq(jwt_keys_add_secret(anon, (const uint8_t *)SECRET, 32,
	                                 NULL, JWT_HS256, "s", err,
	                                 sizeof(err)),
	             0);
	cr_assert_eq(jwt_keys_find(ks, "b"), jwt_keys_at(ks, 1));
	cr_assert_null(jwt_keys_find(ks, "c"));

	tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"c\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_UNKNOWN_KID, &c);
	VERIFY(empty, tok, NULL, NOW, JWT_UNKNOWN_KID, &c);
	/* a key without kid stands in for any kid */
	VERIFY(anon, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	/* kid "b" with a's secret: b is the only candidate */
	tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"b\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(tok);
	/* no kid: every key of the alg is tried */
	tok = hs256_token("{\"alg\":\"HS256\"}", pay, SECRET2, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	VERIFY(empty, tok, NULL, NOW, JWT_UNKNOWN_KID, &c);
	free(tok);
	tok = hs256_token("{\"alg\":\"HS256\",\"kid\":7}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"\"}", pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	jwt_keys_free(ks);
	jwt_keys_free(anon);
	jwt_keys_free(empty);
}

Test(jwt_alg, crit_and_embedded_keys)
{
	struct jwt_keys *ks = hs_keys();
	const char *pay = "{\"sub\":\"a\"," EXP "}";
	struct jwt_claims c;
	char *tok;

	tok = hs256_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
	                  pay, SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	/* a jwk in the header is ignored, not trusted */
	tok = hs256_token(
	    "{\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\","
	    "\"k\":\"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE\"}}",
	    pay, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 32);
	VERIFY(ks, tok, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(tok);
	jwt_keys_free(ks);
}

/* ---- tampering and malformed input ----------------------------------- */

Test(jwt_malformed, tampered_payload_and_signature)
{
	struct jwt_keys *ks = hs_keys();
	char *tok = hs_tok("{\"sub\":\"a\"," EXP "}"), *t2;
	char *evil = b64url("{\"sub\":\"root\"," EXP "}", 27);
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	struct jwt_claims c;
	size_t mid = (size_t)(d2 - tok) + 10, n;
	uint8_t *sig;
	char *cut;

	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	/* another payload under the old signature */
	t2 = xasprintf("%.*s.%s%s", (int)(d1 - tok), tok, evil, d2);
	VERIFY(ks, t2, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(t2);
	/* one signature character changed */
	t2 = strdup(tok);
	t2[mid] = t2[mid] == 'A' ? 'B' : 'A';
	VERIFY(ks, t2, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(t2);
	/* signature cut by 3 bytes (still canonical base64url) */
	sig = b64url_decode(d2 + 1, strlen(d2 + 1), &n);
	cr_assert_eq(n, 32);
	cut = b64url(sig, n - 3);
	t2 = xasprintf("%.*s.%s", (int)(d2 - tok), tok, cut);
	VERIFY(ks, t2, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(t2);
	free(cut);
	free(sig);
	t2 = xasprintf("%.*sAAAA", (int)(d2 - tok + 1), tok);
	VERIFY(ks, t2, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(t2);
	/* signing is deterministic for HMAC: the same token again */
	t2 = hs_tok("{\"sub\":\"a\"," EXP "}");
	cr_assert_str_eq(t2, tok);
	free(t2);
	free(evil);
	free(tok);
	jwt_keys_free(ks);
}

Test(jwt_malformed, segments)
{
	static const char *bad[] = {
	    "",
	    ".",
	    "..",
	    "...",
	    "a",
	    "a.b",
	    "a.b.c.d",
	    ".b.c",
	    "a..c",
	    "a.b.",
	    "eyJhbGciOiJIUzI1NiJ9.e30",
	};
	struct jwt_keys *ks = hs_keys();
	char *tok = hs_tok("{\"sub\":\"a\"," EXP "}"), *t2;
	struct jwt_claims c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		VERIFY(ks, bad[i], NULL, NOW, JWT_MALFORMED, &c);
	VERIFY_LEN(ks, NULL, 0, NULL, NOW, JWT_MALFORMED, &c);
	t2 = xasprintf("%s.", tok);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	t2 = xasprintf("%s.%s", tok, strrchr(tok, '.') + 1);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	/* a length without a NUL: the prefix is what counts */
	t2 = xasprintf("%s.x!", tok);
	VERIFY_LEN(ks, t2, strlen(tok), NULL, NOW, JWT_OK, &c);
	free(t2);
	VERIFY_LEN(ks, tok, (size_t)(strchr(tok, '.') - tok), NULL, NOW,
	           JWT_MALFORMED, &c);
	free(tok);
	jwt_keys_free(ks);
}

/* RFC 7515 2: base64url without padding. '=' anywhere is refused. */
Test(jwt_malformed, padding_refused)
{
	struct jwt_keys *ks = hs_keys();
	/* segments whose length is not a multiple of 4, as padding needs */
	char *tok = hs_tok("{\"sub\":\"ab\"," EXP "}"), *t2;
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	struct jwt_claims c;

	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	cr_assert_neq(strlen(d2 + 1) % 4, 0);
	t2 = xasprintf("%s=", tok);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	t2 = xasprintf("%.*s=%s", (int)(d1 - tok), tok, d1);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	t2 = xasprintf("%.*s=%s", (int)(d2 - tok), tok, d2);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	t2 = xasprintf("%s==", tok);
	VERIFY(ks, t2, NULL, NOW, JWT_MALFORMED, &c);
	free(t2);
	free(tok);
	jwt_keys_free(ks);
}

Test(jwt_malformed, non_base64url_characters)
{
	static const char subst[] = {'+', '/',  ' ',    '\n',   '\t',
	                             '%', '\0', '\x80', '\xff', '*'};
	struct jwt_keys *ks = hs_keys();
	char *tok = hs_tok("{\"sub\":\"a\"," EXP "}");
	size_t len = strlen(tok), d1 = (size_t)(strchr(tok, '.') - tok);
	size_t d2 = (size_t)(strrchr(tok, '.') - tok);
	size_t at[] = {1, d1 + 3, d2 + 3};
	struct jwt_claims c;

	for (size_t s = 0; s < sizeof(subst); s++) {
		for (size_t i = 0; i < 3; i++) {
			char *t2 = strdup(tok);

			t2[at[i]] = subst[s];
			VERIFY_LEN(ks, t2, len, NULL, NOW, JWT_MALFORMED, &c);
			free(t2);
		}
	}
	free(tok);
	jwt_keys_free(ks);
}

/* Unused low bits of the last character must be zero: one spelling. */
Test(jwt_malformed, non_canonical_base64)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789-_";
	struct jwt_keys *ks = hs_keys();
	char *tok = hs_tok("{\"sub\":\"a\"," EXP "}");
	size_t len = strlen(tok);
	struct jwt_claims c;
	int v;

	/* HS256: 32 bytes -> 43 characters, the last carries 2 unused bits */
	cr_assert_eq(strlen(strrchr(tok, '.') + 1), 43);
	v = (int)(strchr(tab, tok[len - 1]) - tab);
	cr_assert_eq(v & 3, 0);
	tok[len - 1] = tab[v | 1];
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	jwt_keys_free(ks);
}

Test(jwt_malformed, huge_token)
{
	struct jwt_keys *ks = hs_keys();
	char *pad = malloc(7000), *pay, *tok, *big;
	struct jwt_claims c;

	memset(pad, 'p', 5900);
	pad[5900] = 0;
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"pad\":\"%s\"}", pad);
	tok = hs_tok(pay);
	cr_assert(strlen(tok) > 7900 && strlen(tok) <= JWT_TOKEN_MAX);
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	free(pay);
	memset(pad, 'p', 6200);
	pad[6200] = 0;
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"pad\":\"%s\"}", pad);
	tok = hs_tok(pay);
	cr_assert(strlen(tok) > JWT_TOKEN_MAX);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	/* jwt_sign refuses to make what jwt_verify would refuse */
	cr_assert_eq(jwt_sign(jwt_keys_at(ks, 0), pay, &tok), TERN_ELIMIT);
	cr_assert_null(tok);
	free(pay);
	big = malloc(1 << 20);
	memset(big, 'A', 1 << 20);
	big[1000] = big[2000] = '.';
	VERIFY_LEN(ks, big, 1 << 20, NULL, NOW, JWT_MALFORMED, &c);
	free(big);
	free(pad);
	jwt_keys_free(ks);
}

/* depth nested arrays: "[[...]]" */
static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);

	cr_assert(s);
	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[2 * depth] = 0;
	return s;
}

Test(jwt_malformed, deep_json)
{
	struct jwt_keys *ks = hs_keys();
	struct jwt_claims c;
	char *n, *pay, *tok;

	/* the claims object is level 1: 15 more levels are fine */
	n = nested(15);
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"x\":%s}", n);
	tok = hs_tok(pay);
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	free(n);
	free(pay);
	free(tok);
	n = nested(16);
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"x\":%s}", n);
	tok = hs_tok(pay);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(n);
	free(pay);
	free(tok);
	/* brackets inside strings do not count */
	pay =
	    xasprintf("{\"sub\":\"a\"," EXP ",\"x\":\"[[[[[[[[[[[[[[[[[[[[\\\""
	              "[[[[[[[[\"}");
	tok = hs_tok(pay);
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	free(pay);
	free(tok);
	n = nested(3000);
	pay = xasprintf("{\"sub\":\"a\"," EXP ",\"x\":%s}", n);
	tok = hs_tok(pay);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(n);
	free(pay);
	free(tok);
	/* the header too */
	n = nested(16);
	pay = xasprintf("{\"alg\":\"HS256\",\"x\":%s}", n);
	tok = hs256_token(pay, "{\"sub\":\"a\"," EXP "}", SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(n);
	free(pay);
	free(tok);
	jwt_keys_free(ks);
}

Test(jwt_malformed, json_shapes)
{
	struct jwt_keys *ks = hs_keys();
	struct jwt_claims c;
	char *tok;

	/* duplicate members: which alg or sub would count is ambiguous */
	tok = hs256_token("{\"alg\":\"HS256\",\"alg\":\"none\"}",
	                  "{\"sub\":\"a\"," EXP "}", SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs_tok("{\"sub\":\"a\",\"sub\":\"root\"," EXP "}");
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs_tok("[\"sub\"]");
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs_tok("{\"sub\":\"a\"," EXP "} x");
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs_tok("{\"sub\":\"a\\u0000b\"," EXP "}");
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs_tok("{\"sub\":\"\xff\"," EXP "}");
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	tok = hs256_token("\"HS256\"", "{}", SECRET, 32);
	VERIFY(ks, tok, NULL, NOW, JWT_MALFORMED, &c);
	free(tok);
	jwt_keys_free(ks);
}

/* An ES256 signature in DER (what OpenSSL emits) is not JOSE: refused. */
Test(jwt_malformed, es256_der_signature_refused)
{
	EVP_PKEY *pk = gen_key(JWT_ES256);
	char *priv = pem_of(pk, true), *tok, *bad, *s;
	struct jwt_keys *ks = pem_keys(priv, NULL, JWT_ES256);
	uint8_t der[128];
	size_t dl = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct jwt_claims c;
	const char *d2;

	tok = sign(ks, 0, "{\"sub\":\"a\"," EXP "}");
	d2 = strrchr(tok, '.');
	cr_assert(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1);
	cr_assert(EVP_DigestSign(md, der, &dl, (const uint8_t *)tok,
	                         (size_t)(d2 - tok)) == 1);
	s = b64url(der, dl);
	bad = xasprintf("%.*s.%s", (int)(d2 - tok), tok, s);
	VERIFY(ks, bad, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	/* r = s = 0 */
	free(bad);
	bad = xasprintf("%.*s.%0*d", (int)(d2 - tok), tok, 86, 0);
	for (char *p = strrchr(bad, '.') + 1; *p; p++)
		*p = 'A';
	VERIFY(ks, bad, NULL, NOW, JWT_BAD_SIGNATURE, &c);
	free(bad);
	free(s);
	free(tok);
	free(priv);
	EVP_MD_CTX_free(md);
	jwt_keys_free(ks);
	EVP_PKEY_free(pk);
}

/* ---- loaders --------------------------------------------------------- */

Test(jwt_load, pem_files_and_errors)
{
	char *dir = tmpdir(), *path, *p2, err[512];
	EVP_PKEY *pk = gen_key(JWT_ES384);
	char *pem = pem_of(pk, false), *missing;
	struct jwt_keys *ks = jwt_keys_new();

	path = write_file(dir, "pub.pem", pem, strlen(pem));
	cr_assert_eq(jwt_keys_add_pem_file(ks, path, "e", JWT_ALG_INFER, err,
	                                   sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(jwt_key_alg(jwt_keys_at(ks, 0)), JWT_ES384);
	/* a P-384 key cannot be ES256 */
	cr_assert_eq(
	    jwt_keys_add_pem_file(ks, path, "e", JWT_ES256, err, sizeof(err)),
	    TERN_ECONFIG);
	cr_assert(strstr(err, path) && strstr(err, "P-256"), "%s", err);
	missing = xasprintf("%s/nope.pem", dir);
	cr_assert_eq(jwt_keys_add_pem_file(ks, missing, NULL, JWT_ALG_INFER,
	                                   err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, missing) && strstr(err, "No such file"), "%s",
	          err);
	p2 = write_file(dir, "junk.pem", "-----BEGIN PUBLIC KEY-----\nAAA\n",
	                31);
	cr_assert_eq(jwt_keys_add_pem_file(ks, p2, NULL, JWT_ALG_INFER, err,
	                                   sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "junk.pem: no unencrypted PEM"), "%s", err);
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), "", JWT_ES384, "x",
	                              err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_eq(jwt_keys_count(ks), 1);
	free(missing);
	free(p2);
	free(path);
	free(pem);
	jwt_keys_free(ks);
	EVP_PKEY_free(pk);
	rm_rf(dir);
}

Test(jwt_load, weak_or_unsupported_keys)
{
	static const char *curves[] = {"P-521", "secp256k1"};
	struct jwt_keys *ks = jwt_keys_new();
	EVP_PKEY *pk;
	char *pem, err[256];

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	pem = pem_of(pk, false);
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL, JWT_ALG_INFER,
	                              "rsa1024", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "rsa1024: RSA key shorter than 2048 bits");
	free(pem);
	EVP_PKEY_free(pk);
	for (size_t i = 0; i < 2; i++) {
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
		pem = pem_of(pk, true);
		cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL,
		                              JWT_ALG_INFER, "ec", err,
		                              sizeof(err)),
		             TERN_ECONFIG, "%s", curves[i]);
		cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL,
		                              JWT_ES256, "ec", err,
		                              sizeof(err)),
		             TERN_ECONFIG, "%s", curves[i]);
		free(pem);
		EVP_PKEY_free(pk);
	}
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	pem = pem_of(pk, false);
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL, JWT_ALG_INFER,
	                              "x", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL, JWT_EDDSA,
	                              "x", err, sizeof(err)),
	             TERN_ECONFIG);
	free(pem);
	EVP_PKEY_free(pk);
	cr_assert_eq(jwt_keys_count(ks), 0);
	jwt_keys_free(ks);
}

Test(jwt_load, encrypted_pem_refused_without_prompt)
{
	EVP_PKEY *pk = gen_key(JWT_ES256);
	BIO *b = BIO_new(BIO_s_mem());
	struct jwt_keys *ks = jwt_keys_new();
	char *pem, err[256];

	cr_assert(PEM_write_bio_PrivateKey(
	    b, pk, EVP_aes_128_cbc(), (unsigned char *)"pw", 2, NULL, NULL));
	pem = bio_string(b);
	cr_assert(strstr(pem, "ENCRYPTED"));
	cr_assert_eq(jwt_keys_add_pem(ks, pem, strlen(pem), NULL, JWT_ALG_INFER,
	                              "enc.pem", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "enc.pem: no unencrypted"), "%s", err);
	free(pem);
	jwt_keys_free(ks);
	EVP_PKEY_free(pk);
}

Test(jwt_load, certificate_pem)
{
	EVP_PKEY *pk = gen_key(JWT_ES256);
	char *priv = pem_of(pk, true), *crtpem, *tok;
	X509 *x = X509_new();
	X509_NAME *nm;
	BIO *b = BIO_new(BIO_s_mem());
	struct jwt_keys *sk = pem_keys(priv, NULL, JWT_ALG_INFER), *ks;
	struct jwt_claims c;

	cr_assert(x && b);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	                           (const unsigned char *)"idp", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	cr_assert(X509_sign(x, pk, EVP_sha256()));
	cr_assert(PEM_write_bio_X509(b, x));
	crtpem = bio_string(b);
	ks = pem_keys(crtpem, "crt", JWT_ALG_INFER);
	cr_assert_eq(jwt_key_alg(jwt_keys_at(ks, 0)), JWT_ES256);
	cr_assert_not(jwt_key_can_sign(jwt_keys_at(ks, 0)));
	tok = sign(sk, 0, "{\"sub\":\"a\"," EXP "}");
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	free(crtpem);
	free(priv);
	X509_free(x);
	jwt_keys_free(ks);
	jwt_keys_free(sk);
	EVP_PKEY_free(pk);
}

Test(jwt_load, secrets)
{
	char *dir = tmpdir(), *path, err[512], *tok;
	struct jwt_keys *ks = jwt_keys_new(), *hs = hs_keys();
	char buf[40];
	struct jwt_claims c;

	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 31, NULL,
	                                 JWT_HS256, "short", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "short: secret shorter"), "%s", err);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 47, NULL,
	                                 JWT_HS384, "s", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 63, NULL,
	                                 JWT_HS512, "s", err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 64, NULL,
	                                 JWT_RS256, "s", err, sizeof(err)),
	             TERN_ECONFIG);
	/* echo-style trailing newline is not part of the secret */
	memcpy(buf, SECRET, 32);
	buf[32] = '\n';
	path = write_file(dir, "secret", buf, 33);
	cr_assert_eq(jwt_keys_add_secret_file(ks, path, "k1", JWT_ALG_INFER,
	                                      err, sizeof(err)),
	             0, "%s", err);
	free(path);
	buf[32] = '\r';
	buf[33] = '\n';
	path = write_file(dir, "secret2", buf, 34);
	cr_assert_eq(jwt_keys_add_secret_file(ks, path, "k1", JWT_HS256, err,
	                                      sizeof(err)),
	             0, "%s", err);
	free(path);
	/* 31 bytes + newline is still too short */
	path = write_file(dir, "secret3", SECRET + 1, 31);
	cr_assert_eq(jwt_keys_add_secret_file(ks, path, "k1", JWT_HS256, err,
	                                      sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, path), "%s", err);
	free(path);
	cr_assert_eq(jwt_keys_count(ks), 2);
	tok = sign(hs, 0, "{\"sub\":\"a\"," EXP "}");
	VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
	free(tok);
	jwt_keys_free(ks);
	jwt_keys_free(hs);
	rm_rf(dir);
}

Test(jwt_load, set_is_bounded_and_loads_are_atomic)
{
	struct jwt_keys *ks = jwt_keys_new();
	char kid[8], err[256], *jwks;

	for (int i = 0; i < JWT_KEYS_MAX - 1; i++) {
		snprintf(kid, sizeof(kid), "k%d", i);
		cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET,
		                                 32, kid, JWT_HS256, "s", err,
		                                 sizeof(err)),
		             0);
	}
	jwks = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"k\":"
	       "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
	       "{\"kty\":\"oct\",\"kid\":\"y\",\"k\":"
	       "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
	cr_assert_eq(
	    jwt_keys_add_jwks(ks, jwks, strlen(jwks), "j", err, sizeof(err)),
	    TERN_ELIMIT);
	cr_assert_str_eq(err, "j: more than 64 keys in the set");
	cr_assert_eq(jwt_keys_count(ks), JWT_KEYS_MAX - 1);
	cr_assert_null(jwt_keys_find(ks, "x"));
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 32, "l",
	                                 JWT_HS256, "s", err, sizeof(err)),
	             0);
	cr_assert_eq(jwt_keys_add_secret(ks, (const uint8_t *)SECRET, 32, "m",
	                                 JWT_HS256, "s", err, sizeof(err)),
	             TERN_ELIMIT);
	cr_assert_eq(jwt_keys_count(ks), JWT_KEYS_MAX);
	jwt_keys_free(ks);
	jwt_keys_free(NULL);
}

static int jwks_load(struct jwt_keys *ks, const char *json, char *err)
{
	return jwt_keys_add_jwks(ks, json, strlen(json), "jwks", err, 512);
}

/* A JWK set exported from a fresh key of alg, as a jansson object. */
static json_t *jwks_of(enum jwt_alg alg, const char *kid)
{
	EVP_PKEY *pk = gen_key(alg);
	char *pem = pem_of(pk, false), *s;
	struct jwt_keys *ks = pem_keys(pem, kid, alg);
	json_t *j;

	cr_assert_eq(jwt_keys_public_jwks(ks, &s), 0);
	j = json_loads(s, 0, NULL);
	cr_assert(j);
	free(s);
	free(pem);
	jwt_keys_free(ks);
	EVP_PKEY_free(pk);
	return j;
}

static json_t *first_jwk(json_t *set)
{
	return json_array_get(json_object_get(set, "keys"), 0);
}

Test(jwt_load, jwks_skips_unusable_keys)
{
	json_t *rsa = jwks_of(JWT_RS256, "r"), *ec = jwks_of(JWT_ES256, "e");
	json_t *k, *keys = json_array(), *set = json_object();
	struct jwt_keys *ks = jwt_keys_new();
	char err[512], *s;

	/* use enc: skipped */
	k = json_deep_copy(first_jwk(rsa));
	json_object_set_new(k, "use", json_string("enc"));
	json_object_set_new(k, "kid", json_string("enc"));
	json_array_append_new(keys, k);
	/* HS256 pinned on an RSA key: skipped (never HMAC with n's bytes) */
	k = json_deep_copy(first_jwk(rsa));
	json_object_set_new(k, "alg", json_string("HS256"));
	json_object_set_new(k, "kid", json_string("hs"));
	json_array_append_new(keys, k);
	/* RS256 alg on an EC key: skipped */
	k = json_deep_copy(first_jwk(ec));
	json_object_set_new(k, "alg", json_string("RS256"));
	json_object_set_new(k, "kid", json_string("mismatch"));
	json_array_append_new(keys, k);
	/* a point off the curve: skipped */
	k = json_deep_copy(first_jwk(ec));
	json_object_set(k, "y", json_object_get(k, "x"));
	json_object_set_new(k, "kid", json_string("offcurve"));
	json_array_append_new(keys, k);
	/* x one byte short: skipped */
	k = json_deep_copy(first_jwk(ec));
	json_object_set_new(k, "x", json_string("AAAA"));
	json_object_set_new(k, "kid", json_string("short"));
	json_array_append_new(keys, k);
	/* unknown kty, unknown alg, alg none, junk: skipped */
	json_array_append_new(
	    keys, json_pack("{s:s,s:s}", "kty", "RSA-X", "kid", "u"));
	k = json_deep_copy(first_jwk(rsa));
	json_object_set_new(k, "alg", json_string("RSA-OAEP"));
	json_array_append_new(keys, k);
	k = json_deep_copy(first_jwk(rsa));
	json_object_set_new(k, "alg", json_string("none"));
	json_array_append_new(keys, k);
	json_array_append_new(keys, json_integer(5));
	json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "kty", "oct",
	                                      "k", "c2hvcnQ", "kid", "o"));
	json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "kty", "RSA",
	                                      "n", "AQAB", "e", "AQAB"));
	json_object_set_new(set, "keys", keys);
	s = json_dumps(set, 0);
	cr_assert_eq(jwks_load(ks, s, err), TERN_ECONFIG);
	cr_assert(strstr(err, "jwks: no usable key in the JWK set ("), "%s",
	          err);
	cr_assert_eq(jwt_keys_count(ks), 0);
	free(s);

	/* the good keys among them load; private members are ignored */
	k = json_deep_copy(first_jwk(ec));
	json_object_set_new(k, "d", json_string("AAAA"));
	json_array_append_new(keys, k);
	json_array_append(keys, first_jwk(rsa));
	s = json_dumps(set, 0);
	cr_assert_eq(jwks_load(ks, s, err), 0, "%s", err);
	cr_assert_eq(jwt_keys_count(ks), 2);
	cr_assert_eq(jwt_key_alg(jwt_keys_find(ks, "e")), JWT_ES256);
	cr_assert_not(jwt_key_can_sign(jwt_keys_find(ks, "e")));
	cr_assert_eq(jwt_key_alg(jwt_keys_find(ks, "r")), JWT_RS256);
	cr_assert_null(jwt_keys_find(ks, "enc"));
	cr_assert_null(jwt_keys_find(ks, "hs"));
	cr_assert_null(jwt_keys_find(ks, "offcurve"));
	free(s);
	json_decref(set);
	json_decref(rsa);
	json_decref(ec);
	jwt_keys_free(ks);
}

Test(jwt_load, jwks_document_errors)
{
	static const char *bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"keys\":{}}",
	    "{\"keys\":[]}",
	    "{\"keys\":[1,2]}",
	    "{\"keys\":[]",
	    "{\"keys\":[],\"keys\":[]}",
	};
	struct jwt_keys *ks = jwt_keys_new();
	char err[512], *deep, *n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cr_assert_eq(jwks_load(ks, bad[i], err), TERN_ECONFIG, "%s",
		             bad[i]);
		cr_assert(!strncmp(err, "jwks: ", 6), "%s", err);
	}
	n = nested(20);
	deep = xasprintf("{\"keys\":%s}", n);
	cr_assert_eq(jwks_load(ks, deep, err), TERN_ECONFIG);
	cr_assert_str_eq(err, "jwks: JSON nested too deeply");
	cr_assert_eq(jwt_keys_add_jwks(ks, deep, JWT_JWKS_MAX + 1, "big", err,
	                               sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_eq(jwt_keys_add_jwks_file(ks, "/nonexistent/jwks.json", err,
	                                    sizeof(err)),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "/nonexistent/jwks.json: "), "%s", err);
	cr_assert_eq(jwt_keys_count(ks), 0);
	free(n);
	free(deep);
	jwt_keys_free(ks);
}

Test(jwt_load, jwks_file_and_inference)
{
	json_t *ed = jwks_of(JWT_EDDSA, "ed"), *ps = jwks_of(JWT_PS256, "ps");
	json_t *rs = json_deep_copy(first_jwk(ps));
	char *dir = tmpdir(), *s, *path, err[512];
	struct jwt_keys *ks = jwt_keys_new();

	json_array_append(json_object_get(ed, "keys"), first_jwk(ps));
	/* without alg an RSA key is RS256 */
	json_object_del(rs, "alg");
	json_object_set_new(rs, "kid", json_string("rs"));
	json_array_append_new(json_object_get(ed, "keys"), rs);
	s = json_dumps(ed, 0);
	path = write_file(dir, "jwks.json", s, strlen(s));
	cr_assert_eq(jwt_keys_add_jwks_file(ks, path, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(jwt_keys_count(ks), 3);
	cr_assert_eq(jwt_key_alg(jwt_keys_find(ks, "ed")), JWT_EDDSA);
	cr_assert_eq(jwt_key_alg(jwt_keys_find(ks, "ps")), JWT_PS256);
	cr_assert_eq(jwt_key_alg(jwt_keys_find(ks, "rs")), JWT_RS256);
	free(s);
	free(path);
	json_decref(ed);
	json_decref(ps);
	jwt_keys_free(ks);
	rm_rf(dir);
}

Test(jwt_misc, names)
{
	cr_assert_str_eq(jwt_alg_name(JWT_EDDSA), "EdDSA");
	cr_assert_str_eq(jwt_alg_name(JWT_ALG_INFER), "?");
	cr_assert_eq(jwt_alg_parse("PS256"), JWT_PS256);
	cr_assert_eq(jwt_alg_parse("ps256"), JWT_ALG_INFER);
	cr_assert_eq(jwt_alg_parse("none"), JWT_ALG_INFER);
	cr_assert_str_eq(jwt_result_name(JWT_UNKNOWN_KID), "unknown key id");
	cr_assert_str_eq(jwt_result_name((enum jwt_result)99), "?");
}

Test(jwt_misc, sign_header_and_errors)
{
	struct jwt_keys *ks = hs_keys();
	char *tok = NULL, *hdr;
	size_t n;

	cr_assert_eq(jwt_sign(jwt_keys_at(ks, 0), "[1]", &tok), TERN_EINVAL);
	cr_assert_eq(jwt_sign(jwt_keys_at(ks, 0), "{", &tok), TERN_EINVAL);
	cr_assert_eq(jwt_sign(jwt_keys_at(ks, 0), "{\"a\":1,\"a\":2}", &tok),
	             TERN_EINVAL);
	cr_assert_null(tok);
	cr_assert_eq(jwt_sign(jwt_keys_at(ks, 0), "{ \"sub\" : \"a\" }", &tok),
	             0);
	hdr = (char *)b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), &n);
	cr_assert_eq(strncmp(hdr,
	                     "{\"alg\":\"HS256\",\"typ\":\"JWT\","
	                     "\"kid\":\"k1\"}",
	                     n),
	             0, "%.*s", (int)n, hdr);
	cr_assert(strstr(tok, ".eyJzdWIiOiJhIn0."), "%s", tok);
	free(hdr);
	free(tok);
	jwt_keys_free(ks);
}

/* ---- the openssl command line ---------------------------------------- */

static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *out = calloc(1, 16384);
	size_t n;

	cr_assert(p && out);
	n = fread(out, 1, 16383, p);
	out[n] = 0;
	cr_assert_eq(pclose(p), 0, "%s", cmd);
	return out;
}

static bool have_openssl(void)
{
	return system("command -v openssl >/dev/null 2>&1") == 0;
}

/* Tokens assembled with printf, base64, tr and signed by openssl. */
Test(jwt_openssl_cli, tokens_made_by_openssl_verify)
{
	static const struct {
		enum jwt_alg alg;
		const char *sign;
	} cases[] = {
	    {JWT_RS256, "openssl dgst -sha256 -sign key.pem in"},
	    {JWT_PS256, "openssl dgst -sha256 -sigopt rsa_padding_mode:pss "
	                "-sigopt rsa_pss_saltlen:32 -sign key.pem in"},
	    {JWT_EDDSA, "openssl pkeyutl -sign -inkey key.pem -rawin -in in"},
	};
	struct jwt_claims c;

	if (!have_openssl())
		cr_skip_test("no openssl command");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *dir = tmpdir(), *cmd, *tok;
		EVP_PKEY *pk = gen_key(cases[i].alg);
		char *priv = pem_of(pk, true), *pub = pem_of(pk, false);
		struct jwt_keys *ks = pem_keys(pub, "cli", cases[i].alg);

		free(write_file(dir, "key.pem", priv, strlen(priv)));
		cmd = xasprintf(
		    "cd '%s' && b64() { openssl base64 -A | tr '+/' '-_' | "
		    "tr -d '='; } && "
		    "h=$(printf '%%s' '{\"alg\":\"%s\",\"kid\":\"cli\"}' | "
		    "b64) "
		    "&& p=$(printf '%%s' '{\"sub\":\"cli\",\"exp\":%ld}' | "
		    "b64) "
		    "&& printf '%%s.%%s' \"$h\" \"$p\" > in && "
		    "s=$(%s | b64) && printf '%%s.%%s.%%s' \"$h\" \"$p\" "
		    "\"$s\"",
		    dir, jwt_alg_name(cases[i].alg), (long)NOW + 60,
		    cases[i].sign);
		tok = run(cmd);
		VERIFY(ks, tok, NULL, NOW, JWT_OK, &c);
		cr_assert_str_eq(c.sub, "cli");
		cr_assert_eq(c.alg, cases[i].alg);
		free(tok);
		free(cmd);
		free(priv);
		free(pub);
		jwt_keys_free(ks);
		EVP_PKEY_free(pk);
		rm_rf(dir);
	}
}

/* And the other way: openssl verifies what jwt_sign made. */
Test(jwt_openssl_cli, openssl_verifies_our_tokens)
{
	static const struct {
		enum jwt_alg alg;
		const char *verify;
	} cases[] = {
	    {JWT_RS256, "openssl dgst -sha256 -verify pub.pem -signature sig "
	                "in"},
	    {JWT_RS512, "openssl dgst -sha512 -verify pub.pem -signature sig "
	                "in"},
	    {JWT_PS256, "openssl dgst -sha256 -sigopt rsa_padding_mode:pss "
	                "-sigopt rsa_pss_saltlen:32 -verify pub.pem "
	                "-signature sig in"},
	    {JWT_EDDSA, "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin "
	                "-in in -sigfile sig"},
	};

	if (!have_openssl())
		cr_skip_test("no openssl command");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *dir = tmpdir(), *cmd, *out, *tok;
		EVP_PKEY *pk = gen_key(cases[i].alg);
		char *priv = pem_of(pk, true), *pub = pem_of(pk, false);
		struct jwt_keys *ks = pem_keys(priv, NULL, cases[i].alg);
		const char *d2;
		uint8_t *sig;
		size_t n;

		tok = sign(ks, 0, "{\"sub\":\"x\"}");
		d2 = strrchr(tok, '.');
		sig = b64url_decode(d2 + 1, strlen(d2 + 1), &n);
		free(write_file(dir, "pub.pem", pub, strlen(pub)));
		free(write_file(dir, "in", tok, (size_t)(d2 - tok)));
		free(write_file(dir, "sig", sig, n));
		cmd = xasprintf("cd '%s' && %s", dir, cases[i].verify);
		out = run(cmd);
		cr_assert(strstr(out, "Verified") ||
		              strstr(out, "Signature Verified Successfully"),
		          "%s: %s", jwt_alg_name(cases[i].alg), out);
		free(out);
		free(cmd);
		free(sig);
		free(tok);
		free(priv);
		free(pub);
		jwt_keys_free(ks);
		EVP_PKEY_free(pk);
		rm_rf(dir);
	}
}

/* ---- jwt_token_kid and jwt_keys_add_keys ------------------------------ */

Test(jwt_token_kid, reads_the_header_kid_only)
{
	char kid[JWT_KID_MAX + 1], *t, long_kid[JWT_KID_MAX + 2], *hdr;
	const char *pay = "{\"sub\":\"a\",\"exp\":1700000060}";

	t = hs256_token("{\"alg\":\"HS256\",\"kid\":\"k-1\"}", pay, SECRET, 32);
	cr_assert_eq(jwt_token_kid(t, strlen(t), kid, sizeof(kid)), 1);
	cr_assert_str_eq(kid, "k-1");
	free(t);
	t = hs256_token("{\"alg\":\"HS256\"}", pay, SECRET, 32);
	cr_assert_eq(jwt_token_kid(t, strlen(t), kid, sizeof(kid)), 0);
	free(t);
	/* a kid that is not a string, empty, or too long */
	t = hs256_token("{\"alg\":\"HS256\",\"kid\":7}", pay, SECRET, 32);
	cr_assert_eq(jwt_token_kid(t, strlen(t), kid, sizeof(kid)), -1);
	free(t);
	t = hs256_token("{\"alg\":\"HS256\",\"kid\":\"\"}", pay, SECRET, 32);
	cr_assert_eq(jwt_token_kid(t, strlen(t), kid, sizeof(kid)), -1);
	free(t);
	memset(long_kid, 'x', sizeof(long_kid) - 1);
	long_kid[sizeof(long_kid) - 1] = '\0';
	hdr = xasprintf("{\"alg\":\"HS256\",\"kid\":\"%s\"}", long_kid);
	t = hs256_token(hdr, pay, SECRET, 32);
	cr_assert_eq(jwt_token_kid(t, strlen(t), kid, sizeof(kid)), -1);
	free(t);
	free(hdr);
	/* not a token, a header that is not JSON, a too small buffer */
	cr_assert_eq(jwt_token_kid("abc", 3, kid, sizeof(kid)), -1);
	cr_assert_eq(jwt_token_kid("", 0, kid, sizeof(kid)), -1);
	cr_assert_eq(jwt_token_kid("bm9wZQ.e30.AA", 13, kid, sizeof(kid)), -1);
	cr_assert_eq(jwt_token_kid("e30.e30.AA", 10, kid, 8), -1);
	cr_assert_eq(jwt_token_kid("e30.e30.AA", 10, kid, sizeof(kid)), 0);
}

Test(jwt_keys_add_keys, shares_keys_with_kid_and_pin)
{
	struct jwt_keys *a = hs_keys(), *b = jwt_keys_new(), *full;
	EVP_PKEY *pk = gen_key(JWT_ES256);
	char *priv = pem_of(pk, true), *tok;
	struct jwt_keys *es = pem_keys(priv, "e1", JWT_ES256);
	struct jwt_claims c;

	tok = sign(es, 0, "{\"sub\":\"alice\",\"exp\":1700000060}");
	cr_assert_eq(jwt_keys_add_keys(b, a), 0);
	cr_assert_eq(jwt_keys_add_keys(b, es), 0);
	cr_assert_eq(jwt_keys_count(b), jwt_keys_count(a) + 1);
	jwt_keys_free(es); /* b keeps its own reference */
	cr_assert_str_eq(jwt_key_kid(jwt_keys_find(b, "e1")), "e1");
	cr_assert_eq(jwt_key_alg(jwt_keys_find(b, "e1")), JWT_ES256);
	cr_assert(jwt_key_can_sign(jwt_keys_find(b, "e1")));
	VERIFY(b, tok, NULL, NOW, JWT_OK, &c);
	cr_assert_str_eq(c.sub, "alice");
	jwt_keys_free(b);

	/* a set that would pass JWT_KEYS_MAX is left as it was */
	full = jwt_keys_new();
	while (jwt_keys_count(full) + jwt_keys_count(a) <= JWT_KEYS_MAX)
		cr_assert_eq(jwt_keys_add_keys(full, a), 0);
	{
		size_t n = jwt_keys_count(full);

		cr_assert_eq(jwt_keys_add_keys(full, a), TERN_ELIMIT);
		cr_assert_eq(jwt_keys_count(full), n);
	}
	jwt_keys_free(full);
	jwt_keys_free(a);
	free(tok);
	free(priv);
	EVP_PKEY_free(pk);
}
