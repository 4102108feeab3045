/*
 * fuzz_scram.c - libFuzzer target for node/scram.c (server side).
 *
 * The first input byte picks a mode (its value mod 3), the rest is data:
 *
 *  0  a client-first-message for scram_server_start. When it is accepted,
 *     the server-first is built against a fixed verifier and must start
 *     with "r=" + the client's nonce.
 *  1  a client-final-message after the RFC 7677 example's client-first
 *     and server-first: it must never verify unless it is the RFC's own
 *     client-final, and the answer is always "v=..." or "e=...".
 *  2  verifier text for scram_verifier_parse (and auth's parser through
 *     the same code): an accepted one formats back to the same text.
 *
 * Any violated expectation abort()s, which libFuzzer reports as a crash.
 * Seeds: tests/fuzz/corpus_scram/. Build and run: tests/fuzz/run.sh
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scram.h"
#include "tern_err.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_FINAL                                                              \
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="       \
	"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static struct scram_verifier rfc;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t salt[16];

	(void)argc, (void)argv;
	CHECK(scram_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt,
	                       sizeof(salt)) == 16);
	CHECK(scram_verifier_derive((const uint8_t *)"pencil", 6, salt, 16,
	                            4096, &rfc) == 0);
	return 0;
}

static void fuzz_first(const uint8_t *d, size_t n)
{
	struct scram_server s;
	char out[SCRAM_MSG_MAX + 200];
	const char *err = NULL;
	size_t len = 0;

	memset(&s, 0, sizeof(s));
	if (scram_server_start(&s, d, n, &err)) {
		CHECK(err && *err && s.state == SCRAM_S_DONE);
		return;
	}
	CHECK(s.state == SCRAM_S_STARTED && s.user_len &&
	      strlen(s.user) == s.user_len);
	CHECK(scram_server_first(&s, &rfc, true, "abc", 3, out, sizeof(out),
	                         &len) == 0);
	CHECK(len > 2 && memcmp(out, "r=", 2) == 0 &&
	      memcmp(out + 2, s.nonce, s.cnonce_len) == 0);
}

static void fuzz_final(const uint8_t *d, size_t n)
{
	static const char first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	struct scram_server s;
	char out[SCRAM_MSG_MAX + 200];
	const char *err = NULL;
	size_t len = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	CHECK(scram_server_start(&s, (const uint8_t *)first, strlen(first),
	                         &err) == 0);
	CHECK(scram_server_first(&s, &rfc, true, RFC_SNONCE, strlen(RFC_SNONCE),
	                         out, sizeof(out), &len) == 0);
	rc = scram_server_final(&s, d, n, out, SCRAM_FINAL_MAX, &len, &err);
	CHECK(s.state == SCRAM_S_DONE && len > 2 && len < SCRAM_FINAL_MAX);
	if (rc == 0)
		CHECK(n == strlen(RFC_FINAL) && !memcmp(d, RFC_FINAL, n) &&
		      out[0] == 'v');
	else
		CHECK(out[0] == 'e' && out[1] == '=' && err && *err);
}

static void fuzz_verifier(const uint8_t *d, size_t n)
{
	struct scram_verifier v;
	char again[SCRAM_VERIFIER_STRLEN];
	const char *why = NULL;

	if (scram_verifier_parse((const char *)d, n, &v, &why)) {
		CHECK(why && *why);
		return;
	}
	CHECK(v.iterations >= SCRAM_MIN_ITERATIONS && v.salt_len >= 8);
	CHECK(scram_verifier_format(&v, again, sizeof(again)) == 0);
	CHECK(strlen(again) == n && memcmp(again, d, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_first(data + 1, size - 1);
		break;
	case 1:
		fuzz_final(data + 1, size - 1);
		break;
	default:
		fuzz_verifier(data + 1, size - 1);
		break;
	}
	return 0;
}
