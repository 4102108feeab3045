/*
 * test_scram.c - SCRAM-SHA-256, server side (node/scram.c): the RFC 7677
 * section 3 example exchange, verifiers, the fake verifier of unknown
 * users, and tables of malformed client messages. No sockets, no loops.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "scram.h"
#include "tern_err.h"

#define PW(s)  (const uint8_t *)(s), strlen(s)
#define MSG(s) (const uint8_t *)(s), strlen(s)

/* RFC 7677 section 3: user "user", password "pencil". */
#define RFC_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE       "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_NONCE        "rOprNGfwEbeRWgbNEkqO" RFC_SNONCE
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_PROOF        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_NONCE ",p=" RFC_PROOF
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void rfc_verifier(struct scram_verifier *v)
{
	uint8_t salt[32];
	int n = scram_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt,
	                         sizeof(salt));

	cr_assert_eq(n, 16);
	cr_assert_eq(
	    scram_verifier_derive(PW("pencil"), salt, (size_t)n, 4096, v), 0);
}

/* A server that has answered the RFC's client-first. */
static void rfc_started(struct scram_server *s, bool known)
{
	struct scram_verifier v;
	char out[512];
	size_t len = 0;
	const char *err = NULL;

	memset(s, 0, sizeof(*s));
	rfc_verifier(&v);
	cr_assert_eq(scram_server_start(s, MSG(RFC_CLIENT_FIRST), &err), 0,
	             "%s", err);
	cr_assert_str_eq(s->user, "user");
	cr_assert_eq(scram_server_first(s, &v, known, RFC_SNONCE,
	                                strlen(RFC_SNONCE), out, sizeof(out),
	                                &len),
	             0);
	cr_assert_str_eq(out, RFC_SERVER_FIRST);
	cr_assert_eq(len, strlen(RFC_SERVER_FIRST));
}

Test(scram, rfc7677_example_exchange)
{
	struct scram_server s;
	char out[SCRAM_FINAL_MAX];
	size_t len = 0;
	const char *err = "x";

	rfc_started(&s, true);
	cr_assert_eq(scram_server_final(&s, MSG(RFC_CLIENT_FINAL), out,
	                                sizeof(out), &len, &err),
	             0, "%s", err);
	cr_assert_str_eq(out, RFC_SERVER_FINAL);
	cr_assert_eq(len, strlen(RFC_SERVER_FINAL));
	cr_assert_null(err);
	cr_assert_eq(s.state, SCRAM_S_DONE);
	/* nothing more is accepted */
	cr_assert_eq(scram_server_final(&s, MSG(RFC_CLIENT_FINAL), out,
	                                sizeof(out), &len, &err),
	             TERN_EINVAL);
}

Test(scram, wrong_proof_is_invalid_proof)
{
	struct scram_server s;
	char out[SCRAM_FINAL_MAX];
	size_t len = 0;
	const char *err = NULL;

	rfc_started(&s, true);
	cr_assert_eq(
	    scram_server_final(&s,
	                       MSG("c=biws,r=" RFC_NONCE ",p=eHzbZapWIk4jUhN+"
	                           "Ute9ytag9zjfMHgsqmmiz7AndVQ="),
	                       out, sizeof(out), &len, &err),
	    TERN_EINVAL);
	cr_assert_str_eq(err, "invalid-proof");
	cr_assert_str_eq(out, "e=invalid-proof");
	cr_assert_eq(len, strlen("e=invalid-proof"));
}

/* A fake verifier never verifies, even with the matching proof. */
Test(scram, unknown_user_fails_like_a_wrong_password)
{
	struct scram_server s;
	char out[SCRAM_FINAL_MAX];
	size_t len = 0;
	const char *err = NULL;

	rfc_started(&s, false);
	cr_assert_eq(scram_server_final(&s, MSG(RFC_CLIENT_FINAL), out,
	                                sizeof(out), &len, &err),
	             TERN_EINVAL);
	cr_assert_str_eq(out, "e=invalid-proof");
}

Test(scram, fake_verifier_is_stable_per_user)
{
	uint8_t secret[32] = {1, 2, 3}, other[32] = {9};
	struct scram_verifier a, b, c, d;

	scram_verifier_fake(secret, "ghost", 5, &a);
	scram_verifier_fake(secret, "ghost", 5, &b);
	scram_verifier_fake(secret, "ghost2", 6, &c);
	scram_verifier_fake(other, "ghost", 5, &d);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_neq(memcmp(a.salt, c.salt, SCRAM_SALT_LEN), 0);
	cr_assert_neq(memcmp(a.salt, d.salt, SCRAM_SALT_LEN), 0);
	cr_assert_eq(a.iterations, SCRAM_DEFAULT_ITERATIONS);
	cr_assert_eq(a.salt_len, SCRAM_SALT_LEN);
}

Test(scram, verifier_make_parse_check)
{
	char text[SCRAM_VERIFIER_STRLEN], again[SCRAM_VERIFIER_STRLEN];
	struct scram_verifier v;
	const char *why = NULL;

	cr_assert_eq(
	    scram_verifier_make(PW("pencil"), 4096, text, sizeof(text)), 0);
	cr_assert_eq(strncmp(text, "$scram-sha-256$4096$", 20), 0, "%s", text);
	cr_assert_eq(scram_verifier_parse(text, strlen(text), &v, &why), 0,
	             "%s", why);
	cr_assert_eq(scram_verifier_format(&v, again, sizeof(again)), 0);
	cr_assert_str_eq(again, text);
	cr_assert(scram_verifier_check_password(&v, PW("pencil")));
	cr_assert_not(scram_verifier_check_password(&v, PW("pencil ")));
	cr_assert_not(scram_verifier_check_password(&v, PW("")));
	cr_assert_eq(scram_verifier_make(PW("x"), 4095, text, sizeof(text)),
	             TERN_EINVAL);
	cr_assert_eq(scram_verifier_make(PW("x"), 4096, text, 20), TERN_EINVAL);
}

/* The RFC's verifier, as text, works through the password file parser. */
Test(scram, auth_hash_accepts_a_verifier)
{
	struct scram_verifier v, back;
	struct auth_hash h;
	char text[SCRAM_VERIFIER_STRLEN];
	const char *why = NULL;

	rfc_verifier(&v);
	cr_assert_eq(scram_verifier_format(&v, text, sizeof(text)), 0);
	cr_assert_eq(auth_hash_parse(text, strlen(text), &h, &why), 0, "%s",
	             why);
	cr_assert_eq(h.kind, AUTH_HASH_SCRAM_SHA256);
	cr_assert_eq(h.iterations, 4096);
	auth_hash_scram(&h, &back);
	cr_assert_eq(memcmp(&v, &back, sizeof(v)), 0);
	cr_assert(auth_hash_verify(&h, PW("pencil")));
	cr_assert_not(auth_hash_verify(&h, PW("pencio")));
}

/* Criterion runs parameters in another process: no pointers in rows. */
struct bad_verifier {
	char text[200];
};

static struct bad_verifier bad_verifiers[] = {
    {"$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ=="},
    {"$scram-sha-256$4095$W22ZaJ0SNY7soEsUEjb6gQ==$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"$scram-sha-256$4096$W22Z$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$x"},
    {"$scram-sha-256$40x6$W22ZaJ0SNY7soEsUEjb6gQ==$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"$scram-sha-1$4096$W22ZaJ0SNY7soEsUEjb6gQ==$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
};

ParameterizedTestParameters(scram, bad_verifier)
{
	return cr_make_param_array(struct bad_verifier, bad_verifiers,
	                           sizeof(bad_verifiers) /
	                               sizeof(bad_verifiers[0]));
}

ParameterizedTest(struct bad_verifier *r, scram, bad_verifier)
{
	struct scram_verifier v;
	struct auth_hash h;
	const char *why = NULL;

	cr_expect_eq(scram_verifier_parse(r->text, strlen(r->text), &v, &why),
	             TERN_EINVAL, "%s", r->text);
	cr_expect_eq(auth_hash_parse(r->text, strlen(r->text), &h, &why),
	             TERN_EINVAL, "%s", r->text);
	cr_expect(why && *why);
}

/* ---- client-first ---------------------------------------------------- */

struct first_row {
	char msg[64];
	char err[40];  /* "": accepted */
	char user[16]; /* when accepted */
};

static struct first_row firsts[] = {
    {"n,,n=user,r=abc", "", "user"},
    {"y,,n=user,r=abc", "", "user"},
    {"n,a=user,n=user,r=abc", "", "user"},
    {"n,,n=a=2Cb=3Dc,r=abc", "", "a,b=c"},
    {"n,,n=user,r=abc,x=ext", "", "user"},
    {"n,,n=\xc3\xa9t\xc3\xa9,r=abc", "", "\xc3\xa9t\xc3\xa9"},
    {"p=tls-unique,,n=user,r=abc", "channel-binding-not-supported", ""},
    {"n,a=admin,n=user,r=abc", "other-error", ""},
    {"n,,m=x,n=user,r=abc", "extensions-not-supported", ""},
    {"n,,n=a=2Xb,r=abc", "invalid-username-encoding", ""},
    {"n,,n=a=2,r=abc", "invalid-username-encoding", ""},
    {"n,,n=a=,r=abc", "invalid-username-encoding", ""},
    {"n,,n=,r=abc", "invalid-username-encoding", ""},
    {"n,,n=\xff,r=abc", "invalid-username-encoding", ""},
    {"n,,r=abc,n=user", "invalid-username-encoding", ""},
    {"n,,n=user", "invalid-encoding", ""},
    {"n,,n=user,r=", "invalid-encoding", ""},
    {"n,,n=user,r=a b", "invalid-encoding", ""},
    {"n,,n=user,r=abc,", "invalid-encoding", ""},
    {"n,,n=user,r=abc,=x", "invalid-encoding", ""},
    {"x,,n=user,r=abc", "invalid-encoding", ""},
    {"n,n=user,r=abc", "invalid-encoding", ""},
    {"n,,", "invalid-username-encoding", ""},
    {"n,", "invalid-encoding", ""},
    {"n", "invalid-encoding", ""},
    {"", "invalid-encoding", ""},
    {",,n=user,r=abc", "invalid-encoding", ""},
    {"n,b=x,n=user,r=abc", "invalid-encoding", ""},
};

ParameterizedTestParameters(scram, client_first)
{
	return cr_make_param_array(struct first_row, firsts,
	                           sizeof(firsts) / sizeof(firsts[0]));
}

ParameterizedTest(struct first_row *r, scram, client_first)
{
	struct scram_server s;
	const char *err = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = scram_server_start(&s, MSG(r->msg), &err);
	if (!r->err[0]) {
		cr_assert_eq(rc, 0, "\"%s\": %s", r->msg, err);
		cr_expect_str_eq(s.user, r->user);
		cr_expect_eq(s.state, SCRAM_S_STARTED);
	} else {
		cr_assert_eq(rc, TERN_EINVAL, "\"%s\" accepted", r->msg);
		cr_expect_str_eq(err, r->err, "\"%s\"", r->msg);
		cr_expect_eq(s.state, SCRAM_S_DONE);
	}
}

Test(scram, client_first_too_long_or_with_nul)
{
	char big[SCRAM_MSG_MAX + 16];
	struct scram_server s;
	const char *err = NULL;

	memset(big, 'a', sizeof(big));
	memcpy(big, "n,,n=user,r=", 12);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(
	    scram_server_start(&s, (const uint8_t *)big, sizeof(big), &err),
	    TERN_EINVAL);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(
	    scram_server_start(&s, (const uint8_t *)"n,,n=u\0,r=a", 11, &err),
	    TERN_EINVAL);
}

/* ---- client-final ---------------------------------------------------- */

struct final_row {
	char msg[160];
	char err[40];
};

static struct final_row finals[] = {
    /* tampered nonce: server part or client part */
    {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=" RFC_PROOF,
     "invalid-proof"},
    {"c=biws,r=rOprNGfwEbeRWgbNEkqO,p=" RFC_PROOF, "invalid-proof"},
    {"c=biws,r=" RFC_NONCE "x,p=" RFC_PROOF, "invalid-proof"},
    /* c= is not base64("n,,") */
    {"c=eSws,r=" RFC_NONCE ",p=" RFC_PROOF, "channel-bindings-dont-match"},
    {"c=bixx,r=" RFC_NONCE ",p=" RFC_PROOF, "channel-bindings-dont-match"},
    {"c=,r=" RFC_NONCE ",p=" RFC_PROOF, "channel-bindings-dont-match"},
    {"r=" RFC_NONCE ",p=" RFC_PROOF, "invalid-encoding"},
    {"c=biws,p=" RFC_PROOF, "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE, "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE ",p=", "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE ",p=dHzb", "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE ",p=" RFC_PROOF ",x=y", "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE ",p=" RFC_PROOF ",", "invalid-encoding"},
    {"c=biws,r=" RFC_NONCE ",p=!HzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "invalid-encoding"},
    {"", "invalid-encoding"},
    /* an extension before the proof changes the AuthMessage: the proof
     * no longer matches */
    {"c=biws,r=" RFC_NONCE ",x=y,p=" RFC_PROOF, "invalid-proof"},
};

ParameterizedTestParameters(scram, client_final)
{
	return cr_make_param_array(struct final_row, finals,
	                           sizeof(finals) / sizeof(finals[0]));
}

ParameterizedTest(struct final_row *r, scram, client_final)
{
	struct scram_server s;
	char out[SCRAM_FINAL_MAX], want[SCRAM_FINAL_MAX];
	size_t len = 0;
	const char *err = NULL;

	rfc_started(&s, true);
	cr_assert_eq(
	    scram_server_final(&s, MSG(r->msg), out, sizeof(out), &len, &err),
	    TERN_EINVAL, "\"%s\" accepted", r->msg);
	cr_expect_str_eq(err, r->err, "\"%s\"", r->msg);
	snprintf(want, sizeof(want), "e=%s", r->err);
	cr_expect_str_eq(out, want);
	cr_expect_eq(s.state, SCRAM_S_DONE);
}

/* y,, is bound as "eSws" (base64 of "y,,"), not "biws". */
Test(scram, channel_binding_of_y_flag)
{
	struct scram_verifier v;
	struct scram_server s;
	char out[512];
	size_t len;
	const char *err = NULL;

	memset(&s, 0, sizeof(s));
	rfc_verifier(&v);
	cr_assert_eq(scram_server_start(&s, MSG("y,,n=user,r=abc"), &err), 0);
	cr_assert_eq(
	    scram_server_first(&s, &v, true, "def", 3, out, sizeof(out), &len),
	    0);
	cr_assert_str_eq(out, "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	cr_assert_eq(scram_server_final(&s, MSG("c=biws,r=abcdef,p=" RFC_PROOF),
	                                out, sizeof(out), &len, &err),
	             TERN_EINVAL);
	cr_assert_str_eq(err, "channel-bindings-dont-match");
}

Test(scram, out_of_order_calls)
{
	struct scram_verifier v;
	struct scram_server s;
	char out[512];
	size_t len;
	const char *err = NULL;

	memset(&s, 0, sizeof(s));
	rfc_verifier(&v);
	cr_assert_eq(
	    scram_server_first(&s, &v, true, "x", 1, out, sizeof(out), &len),
	    TERN_EINVAL);
	cr_assert_eq(scram_server_final(&s, MSG(RFC_CLIENT_FINAL), out,
	                                sizeof(out), &len, &err),
	             TERN_EINVAL);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(scram_server_start(&s, MSG(RFC_CLIENT_FIRST), &err), 0);
	/* a server nonce with a ',' would break the message */
	cr_assert_eq(
	    scram_server_first(&s, &v, true, "a,b", 3, out, sizeof(out), &len),
	    TERN_EINVAL);
	cr_assert_eq(scram_server_start(&s, MSG(RFC_CLIENT_FIRST), &err),
	             TERN_EINVAL);
}

/* A password file may mix $pbkdf2-sha512$ hashes and SCRAM verifiers. */
Test(scram, password_file_with_both_kinds)
{
	char path[] = "/tmp/tern-scram-XXXXXX", line[512],
	     hash[AUTH_HASH_STRLEN];
	char ver[SCRAM_VERIFIER_STRLEN];
	struct auth_table *t = NULL;
	const struct auth_hash *h;
	char err[256] = "";
	int fd = mkstemp(path);
	FILE *f;

	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	cr_assert(f);
	cr_assert_eq(auth_hash_make(PW("one"), 100000, hash, sizeof(hash)), 0);
	cr_assert_eq(scram_verifier_make(PW("two"), 4096, ver, sizeof(ver)), 0);
	snprintf(line, sizeof(line), "p:%s\ns:%s\n", hash, ver);
	fputs(line, f);
	fclose(f);
	cr_assert_eq(auth_table_load(path, &t, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_assert_eq(auth_table_size(t), 2);
	h = auth_table_find(t, "p", 1);
	cr_assert(h && h->kind == AUTH_HASH_PBKDF2_SHA512);
	cr_assert(auth_hash_verify(h, PW("one")));
	h = auth_table_find(t, "s", 1);
	cr_assert(h && h->kind == AUTH_HASH_SCRAM_SHA256);
	cr_assert(auth_hash_verify(h, PW("two")));
	cr_assert_not(auth_hash_verify(h, PW("one")));
	auth_table_unref(t);
}
