/*
 * scram.c - SCRAM-SHA-256, server side (see scram.h).
 *
 * Parsing is by attribute: a message is split at ',' into "x=value"
 * pieces, in the order RFC 5802 section 7 fixes. Nothing here trusts a
 * length it did not check against SCRAM_MSG_MAX and the buffers of struct
 * scram_server.
 */
#include "scram.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "mqtt.h"
#include "tern_err.h"

/* ---- base64 ---------------------------------------------------------- */

size_t scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need = (len + 2) / 3 * 4;

	if (need + 1 > cap || len > 3 * 1024)
		return 0;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	out[need] = 0;
	return need;
}

static bool scram_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

int scram_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	uint8_t tmp[SCRAM_MSG_MAX];
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (!scram_b64_char(s[i]) || pad)
			return -1;
	}
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > cap)
		return -1;
	n -= (int)pad;
	/* canonical only: unused trailing bits must be zero, so a value has
	 * one text (the last character re-encodes the same) */
	{
		char back[4];
		size_t last = len - 4, k = (size_t)n - last / 4 * 3;

		EVP_EncodeBlock((unsigned char *)back, tmp + last / 4 * 3,
		                (int)k);
		if (memcmp(back, s + last, 4) != 0)
			n = -1;
	}
	if (n >= 0)
		memcpy(out, tmp, (size_t)n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return n;
}

/* ---- primitives ------------------------------------------------------ */

static bool scram_hmac(const uint8_t *key, size_t klen, const void *msg,
                       size_t mlen, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) &&
	       n == SCRAM_KEY_LEN;
}

static bool scram_sha256(const uint8_t *in, size_t len,
                         uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;

	return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) == 1 &&
	       n == SCRAM_KEY_LEN;
}

/* SaltedPassword of pw. */
static bool scram_salted(const uint8_t *pw, size_t pw_len, const uint8_t *salt,
                         size_t salt_len, uint32_t iterations,
                         uint8_t out[SCRAM_KEY_LEN])
{
	if (pw_len > INT32_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_len, salt,
	                         (int)salt_len, (int)iterations, EVP_sha256(),
	                         SCRAM_KEY_LEN, out) == 1;
}

/* ---- verifiers ------------------------------------------------------- */

int scram_verifier_derive(const uint8_t *pw, size_t pw_len, const uint8_t *salt,
                          size_t salt_len, uint32_t iterations,
                          struct scram_verifier *v)
{
	uint8_t salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];
	bool ok;

	memset(v, 0, sizeof(*v));
	if (salt_len > sizeof(v->salt) || iterations == 0)
		return TERN_EINVAL;
	ok =
	    scram_salted(pw, pw_len, salt, salt_len, iterations, salted) &&
	    scram_hmac(salted, sizeof(salted), "Client Key", 10, ckey) &&
	    scram_sha256(ckey, sizeof(ckey), v->stored_key) &&
	    scram_hmac(salted, sizeof(salted), "Server Key", 10, v->server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	if (!ok)
		return TERN_EIO;
	v->iterations = iterations;
	memcpy(v->salt, salt, salt_len);
	v->salt_len = salt_len;
	return 0;
}

int scram_verifier_format(const struct scram_verifier *v, char *out, size_t cap)
{
	char salt[96], sk[48], svk[48];
	int n;

	if (!scram_b64_encode(v->salt, v->salt_len, salt, sizeof(salt)))
		return TERN_EINVAL;
	scram_b64_encode(v->stored_key, SCRAM_KEY_LEN, sk, sizeof(sk));
	scram_b64_encode(v->server_key, SCRAM_KEY_LEN, svk, sizeof(svk));
	n = snprintf(out, cap, SCRAM_PREFIX "%u$%s$%s$%s", v->iterations, salt,
	             sk, svk);
	return n < 0 || (size_t)n >= cap ? TERN_EINVAL : 0;
}

int scram_verifier_make(const uint8_t *pw, size_t pw_len, uint32_t iterations,
                        char *out, size_t cap)
{
	uint8_t salt[SCRAM_SALT_LEN];
	struct scram_verifier v;
	int rc;

	if (iterations < SCRAM_MIN_ITERATIONS ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return TERN_EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return TERN_EIO;
	rc = scram_verifier_derive(pw, pw_len, salt, sizeof(salt), iterations,
	                           &v);
	if (rc == 0)
		rc = scram_verifier_format(&v, out, cap);
	OPENSSL_cleanse(&v, sizeof(v));
	return rc;
}

int scram_verifier_parse(const char *s, size_t len, struct scram_verifier *v,
                         const char **why)
{
	const size_t plen = sizeof(SCRAM_PREFIX) - 1;
	const char *f[4], *end = s + len, *p;
	size_t flen[4];
	uint64_t iter = 0;
	int n;

	memset(v, 0, sizeof(*v));
	if (len < plen || memcmp(s, SCRAM_PREFIX, plen)) {
		*why = "verifier does not start with " SCRAM_PREFIX;
		return TERN_EINVAL;
	}
	p = s + plen;
	for (int i = 0; i < 4; i++) {
		const char *d = memchr(p, '$', (size_t)(end - p));

		if ((i < 3) != (d != NULL)) {
			*why = "verifier is not $scram-sha-256$ITER$SALT$"
			       "STOREDKEY$SERVERKEY";
			return TERN_EINVAL;
		}
		f[i] = p;
		flen[i] = (size_t)((d ? d : end) - p);
		p = d ? d + 1 : end;
	}
	if (flen[0] == 0 || flen[0] > 9 || f[0][0] == '0') {
		*why = "bad iteration count";
		return TERN_EINVAL;
	}
	for (size_t i = 0; i < flen[0]; i++) {
		if (f[0][i] < '0' || f[0][i] > '9') {
			*why = "bad iteration count";
			return TERN_EINVAL;
		}
		iter = iter * 10 + (uint64_t)(f[0][i] - '0');
	}
	if (iter < SCRAM_MIN_ITERATIONS || iter > SCRAM_MAX_ITERATIONS) {
		*why = "iteration count out of range (4096..10000000)";
		return TERN_EINVAL;
	}
	v->iterations = (uint32_t)iter;
	n = scram_b64_decode(f[1], flen[1], v->salt, sizeof(v->salt));
	if (n < 8) {
		*why = "bad salt (base64 of 8..64 bytes)";
		return TERN_EINVAL;
	}
	v->salt_len = (size_t)n;
	if (scram_b64_decode(f[2], flen[2], v->stored_key, SCRAM_KEY_LEN) !=
	        SCRAM_KEY_LEN ||
	    scram_b64_decode(f[3], flen[3], v->server_key, SCRAM_KEY_LEN) !=
	        SCRAM_KEY_LEN) {
		*why = "bad key (base64 of 32 bytes)";
		memset(v, 0, sizeof(*v));
		return TERN_EINVAL;
	}
	return 0;
}

bool scram_verifier_check_password(const struct scram_verifier *v,
                                   const uint8_t *pw, size_t pw_len)
{
	struct scram_verifier got;
	bool ok;

	if (scram_verifier_derive(pw, pw_len, v->salt, v->salt_len,
	                          v->iterations, &got))
		return false;
	ok = CRYPTO_memcmp(got.stored_key, v->stored_key, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(&got, sizeof(got));
	return ok;
}

void scram_verifier_fake(const uint8_t secret[32], const char *user, size_t len,
                         struct scram_verifier *v)
{
	uint8_t buf[SCRAM_USER_MAX + 16];
	size_t n = len > SCRAM_USER_MAX ? SCRAM_USER_MAX : len;
	uint8_t mac[SCRAM_KEY_LEN];

	memset(v, 0, sizeof(*v));
	v->iterations = SCRAM_DEFAULT_ITERATIONS;
	memcpy(buf, "salt:", 5);
	memcpy(buf + 5, user, n);
	if (!scram_hmac(secret, 32, buf, n + 5, mac))
		memset(mac, 0x5a, sizeof(mac));
	memcpy(v->salt, mac, SCRAM_SALT_LEN);
	v->salt_len = SCRAM_SALT_LEN;
	memcpy(buf, "keys:", 5);
	if (!scram_hmac(secret, 32, buf, n + 5, v->stored_key))
		memset(v->stored_key, 0xa5, SCRAM_KEY_LEN);
	memcpy(v->server_key, v->stored_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* ---- the exchange ---------------------------------------------------- */

/* RFC 5802 "printable": %x21-2B / %x2D-7E (no ','). */
static bool scram_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == ',')
			return false;
	return true;
}

/* A position in a message being split at ','. */
struct scram_cur {
	const char *p, *end;
	bool done; /* the last piece was taken */
};

/* The next ','-separated piece: sets *a..*alen. False when none is left. */
static bool scram_next(struct scram_cur *k, const char **a, size_t *alen)
{
	const char *c;

	if (k->done)
		return false;
	c = memchr(k->p, ',', (size_t)(k->end - k->p));
	*a = k->p;
	*alen = (size_t)((c ? c : k->end) - k->p);
	if (c)
		k->p = c + 1;
	else
		k->done = true;
	return true;
}

/* Is piece a[0..alen) "k=..." ? */
static bool scram_is(const char *a, size_t alen, char k)
{
	return alen >= 2 && a[0] == k && a[1] == '=';
}

/*
 * Unescapes saslname s[0..len) ("=2C" ',', "=3D" '=') into out (cap
 * bytes, NUL-terminated). False on another '=', an empty or over-long
 * name, a NUL or invalid UTF-8.
 */
static bool scram_saslname(const char *s, size_t len, char *out, size_t cap,
                           size_t *out_len)
{
	size_t j = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '=') {
			if (i + 3 > len)
				return false;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				ch = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				ch = '=';
			else
				return false;
			i += 2;
		} else if (ch == 0) {
			return false;
		}
		if (j + 1 >= cap)
			return false;
		out[j++] = ch;
	}
	out[j] = 0;
	*out_len = j;
	return mqtt_utf8_valid((const uint8_t *)out, j);
}

static int scram_fail(struct scram_server *s, const char **err,
                      const char *value)
{
	s->state = SCRAM_S_DONE;
	*err = value;
	return TERN_EINVAL;
}

int scram_server_start(struct scram_server *s, const uint8_t *msg, size_t len,
                       const char **err)
{
	const char *m = (const char *)msg, *a, *bare;
	struct scram_cur k = {.p = m, .end = m + len};
	char authz[SCRAM_USER_MAX + 1];
	size_t alen, authz_len = 0;
	bool has_authz = false;

	if (s->state != SCRAM_S_NEW)
		return scram_fail(s, err, "other-error");
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(m, 0, len))
		return scram_fail(s, err, "invalid-encoding");
	/* gs2-header: cbind flag "," [authzid] "," */
	if (!scram_next(&k, &a, &alen))
		return scram_fail(s, err, "invalid-encoding");
	if (scram_is(a, alen, 'p'))
		return scram_fail(s, err, "channel-binding-not-supported");
	if (alen != 1 || (a[0] != 'n' && a[0] != 'y'))
		return scram_fail(s, err, "invalid-encoding");
	if (!scram_next(&k, &a, &alen) || k.done)
		return scram_fail(s, err, "invalid-encoding");
	if (alen) {
		if (!scram_is(a, alen, 'a') ||
		    !scram_saslname(a + 2, alen - 2, authz, sizeof(authz),
		                    &authz_len))
			return scram_fail(s, err, "invalid-encoding");
		has_authz = true;
	}
	s->gs2_len = (size_t)(k.p - m);
	if (s->gs2_len >= sizeof(s->gs2))
		return scram_fail(s, err, "invalid-encoding");
	memcpy(s->gs2, m, s->gs2_len);
	s->gs2[s->gs2_len] = 0;
	/* client-first-message-bare: [m=..,] n=user, r=nonce [,ext...] */
	bare = k.p;
	if (!scram_next(&k, &a, &alen))
		return scram_fail(s, err, "invalid-encoding");
	if (scram_is(a, alen, 'm'))
		return scram_fail(s, err, "extensions-not-supported");
	if (!scram_is(a, alen, 'n') ||
	    !scram_saslname(a + 2, alen - 2, s->user, sizeof(s->user),
	                    &s->user_len))
		return scram_fail(s, err, "invalid-username-encoding");
	if (!scram_next(&k, &a, &alen) || !scram_is(a, alen, 'r') ||
	    alen == 2 || !scram_printable(a + 2, alen - 2))
		return scram_fail(s, err, "invalid-encoding");
	memcpy(s->nonce, a + 2, alen - 2);
	s->cnonce_len = s->nonce_len = alen - 2;
	while (scram_next(&k, &a, &alen)) {
		/* optional extensions: "x=value", ignored */
		if (alen < 2 || a[1] != '=' ||
		    !((a[0] >= 'a' && a[0] <= 'z') ||
		      (a[0] >= 'A' && a[0] <= 'Z')))
			return scram_fail(s, err, "invalid-encoding");
	}
	if (has_authz && (authz_len != s->user_len ||
	                  memcmp(authz, s->user, authz_len) != 0))
		/* no proxy authorization: only "as myself" */
		return scram_fail(s, err, "other-error");
	s->auth_len = (size_t)(k.end - bare);
	memcpy(s->auth, bare, s->auth_len);
	s->state = SCRAM_S_STARTED;
	return 0;
}

int scram_server_first(struct scram_server *s, const struct scram_verifier *v,
                       bool known, const char *snonce, size_t snonce_len,
                       char *out, size_t cap, size_t *out_len)
{
	char salt[96];
	int n;

	if (s->state != SCRAM_S_STARTED || snonce_len == 0 ||
	    !scram_printable(snonce, snonce_len) ||
	    s->nonce_len + snonce_len >= sizeof(s->nonce) ||
	    !scram_b64_encode(v->salt, v->salt_len, salt, sizeof(salt)))
		return TERN_EINVAL;
	memcpy(s->nonce + s->nonce_len, snonce, snonce_len);
	s->nonce_len += snonce_len;
	n = snprintf(out, cap, "r=%.*s,s=%s,i=%u", (int)s->nonce_len, s->nonce,
	             salt, v->iterations);
	if (n < 0 || (size_t)n >= cap ||
	    s->auth_len + 1 + (size_t)n > sizeof(s->auth)) {
		s->state = SCRAM_S_DONE;
		return TERN_EINVAL;
	}
	s->auth[s->auth_len++] = ',';
	memcpy(s->auth + s->auth_len, out, (size_t)n);
	s->auth_len += (size_t)n;
	s->v = *v;
	s->known = known;
	*out_len = (size_t)n;
	s->state = SCRAM_S_FIRST_SENT;
	return 0;
}

static int scram_final_err(struct scram_server *s, const char *value, char *out,
                           size_t cap, size_t *out_len, const char **err)
{
	int n = snprintf(out, cap, "e=%s", value);

	*out_len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	return scram_fail(s, err, value);
}

int scram_server_final(struct scram_server *s, const uint8_t *msg, size_t len,
                       char *out, size_t cap, size_t *out_len, const char **err)
{
	const char *m = (const char *)msg, *end = m + len, *a;
	struct scram_cur k = {.p = m, .end = end};
	const char *proof64 = NULL;
	uint8_t cb[SCRAM_USER_MAX * 3 + 8], proof[SCRAM_KEY_LEN];
	uint8_t csig[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN], skey[SCRAM_KEY_LEN];
	uint8_t ssig[SCRAM_KEY_LEN];
	char amsg[sizeof(s->auth) + SCRAM_MSG_MAX + 1];
	size_t alen, wo_len = 0, amsg_len;
	unsigned diff;
	int n;

	*out_len = 0;
	if (s->state != SCRAM_S_FIRST_SENT)
		return scram_final_err(s, "other-error", out, cap, out_len,
		                       err);
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(m, 0, len))
		return scram_final_err(s, "invalid-encoding", out, cap, out_len,
		                       err);
	/* c=base64(gs2 header): no channel binding data */
	if (!scram_next(&k, &a, &alen) || !scram_is(a, alen, 'c'))
		return scram_final_err(s, "invalid-encoding", out, cap, out_len,
		                       err);
	n = scram_b64_decode(a + 2, alen - 2, cb, sizeof(cb));
	if (n < 0 || (size_t)n != s->gs2_len ||
	    memcmp(cb, s->gs2, s->gs2_len) != 0)
		return scram_final_err(s, "channel-bindings-dont-match", out,
		                       cap, out_len, err);
	if (!scram_next(&k, &a, &alen) || !scram_is(a, alen, 'r'))
		return scram_final_err(s, "invalid-encoding", out, cap, out_len,
		                       err);
	if (alen - 2 != s->nonce_len ||
	    memcmp(a + 2, s->nonce, s->nonce_len) != 0)
		/* RFC 5802 has no value for this: the proof cannot be right
		 * for another nonce either */
		return scram_final_err(s, "invalid-proof", out, cap, out_len,
		                       err);
	/* extensions, then p= last */
	while (scram_next(&k, &a, &alen)) {
		if (scram_is(a, alen, 'p')) {
			if (!k.done)
				return scram_final_err(s, "invalid-encoding",
				                       out, cap, out_len, err);
			proof64 = a + 2;
			wo_len = (size_t)(a - 1 - m);
			break;
		}
		if (alen < 2 || a[1] != '=')
			return scram_final_err(s, "invalid-encoding", out, cap,
			                       out_len, err);
	}
	if (!proof64 || scram_b64_decode(proof64, (size_t)(end - proof64),
	                                 proof, sizeof(proof)) != SCRAM_KEY_LEN)
		return scram_final_err(s, "invalid-encoding", out, cap, out_len,
		                       err);
	/* AuthMessage = client-first-bare "," server-first "," final w/o
	 * proof */
	memcpy(amsg, s->auth, s->auth_len);
	amsg[s->auth_len] = ',';
	memcpy(amsg + s->auth_len + 1, m, wo_len);
	amsg_len = s->auth_len + 1 + wo_len;
	if (!scram_hmac(s->v.stored_key, SCRAM_KEY_LEN, amsg, amsg_len, csig) ||
	    !scram_hmac(s->v.server_key, SCRAM_KEY_LEN, amsg, amsg_len, ssig))
		return scram_final_err(s, "other-error", out, cap, out_len,
		                       err);
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		ckey[i] = proof[i] ^ csig[i];
	if (!scram_sha256(ckey, sizeof(ckey), skey))
		return scram_final_err(s, "other-error", out, cap, out_len,
		                       err);
	diff = (unsigned)CRYPTO_memcmp(skey, s->v.stored_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(csig, sizeof(csig));
	if (diff || !s->known) {
		OPENSSL_cleanse(ssig, sizeof(ssig));
		return scram_final_err(s, "invalid-proof", out, cap, out_len,
		                       err);
	}
	if (cap < 3 + 45)
		return scram_final_err(s, "other-error", out, cap, out_len,
		                       err);
	memcpy(out, "v=", 2);
	*out_len = 2 + scram_b64_encode(ssig, sizeof(ssig), out + 2, cap - 2);
	OPENSSL_cleanse(ssig, sizeof(ssig));
	s->state = SCRAM_S_DONE;
	*err = NULL;
	return 0;
}
