/*
 * scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's side: the
 * stored verifier and the message exchange. Pure: no loop, no node, no
 * globals (the caller passes random bytes and secrets in), so it is unit
 * tested and fuzzed on its own; auth_scram.c carries it over MQTT 5 AUTH.
 *
 * Verifier text: "$scram-sha-256$ITER$SALT_B64$STOREDKEY_B64$SERVERKEY_B64"
 * (standard base64 with padding), where
 *   SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, ITER, 32)
 *   StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 * The password itself is not recoverable from it, and the server needs no
 * PBKDF2 during an exchange. Passwords are used as the bytes given (no
 * SASLprep): ASCII passwords are unaffected.
 *
 * The exchange (server side):
 *   client-first  "n,,n=USER,r=CNONCE"           scram_server_start
 *   server-first  "r=CNONCE+SNONCE,s=SALT,i=ITER" scram_server_first
 *   client-final  "c=biws,r=NONCE,p=PROOF"       scram_server_final
 *   server-final  "v=SIGNATURE" or "e=ERROR"
 * Refused: channel binding ("p=" flag: e=channel-binding-not-supported;
 * "n" and "y" are fine, since no -PLUS variant is offered), mandatory
 * extensions ("m=": e=extensions-not-supported), an authzid ("a=") other
 * than the username itself (Tern has no proxy authorization:
 * e=other-error). Unknown optional extensions are ignored (RFC 5802 5.1).
 */
#ifndef TERN_SCRAM_H
#define TERN_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_METHOD "SCRAM-SHA-256"
#define SCRAM_PREFIX "$scram-sha-256$"
/*
 * RFC 7677's minimum, and the default: the client recomputes PBKDF2 with
 * this count on every connect (or caches SaltedPassword per salt), and
 * 4096 rounds of HMAC-SHA256 already take ~0.1-0.3 s on a 100 MHz
 * microcontroller with software SHA-256. Raise it (ternctl passwd --scram
 * --iterations N) where clients are servers or phones.
 */
#define SCRAM_MIN_ITERATIONS     4096u
#define SCRAM_DEFAULT_ITERATIONS 4096u
#define SCRAM_MAX_ITERATIONS     10000000u
#define SCRAM_SALT_LEN           16
#define SCRAM_KEY_LEN            32
/* longest verifier text with a 64-byte salt */
#define SCRAM_VERIFIER_STRLEN 200
/* longest client message accepted (either one) */
#define SCRAM_MSG_MAX  1024
#define SCRAM_USER_MAX 255
/* server nonce: 18 random bytes, base64 (24 printable characters) */
#define SCRAM_SNONCE_BYTES 18
/* "v=" + base64 of 32 bytes, or "e=" + the longest error value */
#define SCRAM_FINAL_MAX 64

struct scram_verifier {
	uint32_t iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/*
 * Parses verifier text s[0..len) (iterations SCRAM_MIN..MAX_ITERATIONS,
 * salt 8..64 bytes, keys 32 bytes). Returns 0, or TERN_EINVAL with *why a
 * static reason.
 */
int scram_verifier_parse(const char *s, size_t len, struct scram_verifier *v,
                         const char **why);

/* The verifier of pw with the given salt and count. 0 or TERN_EIO. */
int scram_verifier_derive(const uint8_t *pw, size_t pw_len, const uint8_t *salt,
                          size_t salt_len, uint32_t iterations,
                          struct scram_verifier *v);

/* Writes v as text into out (NUL-terminated). 0 or TERN_EINVAL (cap). */
int scram_verifier_format(const struct scram_verifier *v, char *out,
                          size_t cap);

/*
 * The text verifier of pw with a fresh SCRAM_SALT_LEN-byte random salt.
 * Returns 0, TERN_EINVAL (iterations out of range, cap too small) or
 * TERN_EIO (OpenSSL failed).
 */
int scram_verifier_make(const uint8_t *pw, size_t pw_len, uint32_t iterations,
                        char *out, size_t cap);

/*
 * True if pw matches v (a plain password CONNECT against a SCRAM
 * verifier): full PBKDF2, constant-time comparison. Slow: thread pool.
 */
bool scram_verifier_check_password(const struct scram_verifier *v,
                                   const uint8_t *pw, size_t pw_len);

/*
 * A stand-in verifier for an unknown user, so that the server-first
 * message does not tell unknown users from known ones: the salt is
 * HMAC-SHA256(secret, user) (the same on every attempt, as a real salt
 * is), the count SCRAM_DEFAULT_ITERATIONS, the keys unguessable.
 */
void scram_verifier_fake(const uint8_t secret[32], const char *user, size_t len,
                         struct scram_verifier *v);

enum scram_state {
	SCRAM_S_NEW = 0,    /* nothing parsed yet */
	SCRAM_S_STARTED,    /* client-first parsed: look up the user */
	SCRAM_S_FIRST_SENT, /* server-first built: client-final expected */
	SCRAM_S_DONE,       /* verified or failed: nothing more accepted */
};

/* One exchange. Zero it, then start. Holds no pointers. */
struct scram_server {
	uint8_t state; /* enum scram_state */
	bool known;    /* a real verifier (else a fake: always fails) */
	char user[SCRAM_USER_MAX + 1]; /* unescaped, NUL-terminated */
	size_t user_len;
	char gs2[SCRAM_USER_MAX * 3 + 8]; /* gs2 header as sent */
	size_t gs2_len;
	size_t cnonce_len;
	char nonce[SCRAM_MSG_MAX + 64]; /* client nonce + server nonce */
	size_t nonce_len;
	struct scram_verifier v;
	/* client-first-message-bare "," server-first-message: the start of
	 * the AuthMessage */
	char auth[SCRAM_MSG_MAX * 2 + 160];
	size_t auth_len;
};

/*
 * Parses a client-first-message msg[0..len) into s (state NEW). On 0, s->
 * user is the username to look up. On failure returns TERN_EINVAL
 * (malformed or refused) with *err the RFC 5802 server-error-value
 * ("invalid-encoding", "channel-binding-not-supported", ...); the
 * exchange is over (state DONE).
 */
int scram_server_start(struct scram_server *s, const uint8_t *msg, size_t len,
                       const char **err);

/*
 * Builds the server-first-message into out[0..cap) (NUL-terminated, length
 * in *out_len) with verifier v (copied; known false for a fake one) and
 * the server nonce snonce[0..snonce_len) (printable, no ','). State must
 * be STARTED. Returns 0 or TERN_EINVAL.
 */
int scram_server_first(struct scram_server *s, const struct scram_verifier *v,
                       bool known, const char *snonce, size_t snonce_len,
                       char *out, size_t cap, size_t *out_len);

/*
 * Parses and verifies the client-final-message msg[0..len) (state
 * FIRST_SENT). Returns 0 when the proof is right, with "v=SIGNATURE" in
 * out; else TERN_EINVAL with "e=ERROR" in out and *err the error value
 * ("invalid-proof" for a wrong password and an unknown user alike). out
 * needs SCRAM_FINAL_MAX bytes. The exchange is over either way (DONE).
 * The proof check is constant-time.
 */
int scram_server_final(struct scram_server *s, const uint8_t *msg, size_t len,
                       char *out, size_t cap, size_t *out_len,
                       const char **err);

/*
 * Standard base64 (with padding) of in[0..len) into out (NUL-terminated);
 * returns the length, or 0 if cap is too small. Decoding: strict, returns
 * the byte count or -1.
 */
size_t scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int scram_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap);

#endif
