/*
 * jwt.c - JWT algorithm names, token parsing and verification (see jwt.h):
 * the algorithm table every JWT file shares, the header's kid for a
 * caller that must tell an unknown key from a bad token, and jwt_verify
 * with its header, key choice and claim checks. Keys are in jwt_keys.c
 * and jwt_jwks.c, signatures in jwt_sign.c, base64url and JSON in
 * jwt_codec.c.
 */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jwt_int.h"

/* The algorithm table (jwt_int.h). */
const struct jwt_alg_info jwt_algs[JWT_EDDSA + 1] = {
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

/* ---- token header -------------------------------------------------- */

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
