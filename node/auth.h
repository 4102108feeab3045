/*
 * auth.h - authentication of CONNECT: the password file (PBKDF2-SHA512
 * hashes), the anonymous rules, and a short-lived cache of successful
 * verifications. docs/SECURITY.md describes the behaviour.
 *
 * The node owns one struct auth (n->auth, NULL without password_file). Its
 * password table is immutable once loaded; a reload (SIGHUP) builds a new
 * one and swaps the pointer under a mutex, and every verification in flight
 * holds a reference to the table it started with.
 *
 * Hashing costs ~50 ms, so it never runs on a worker loop: auth_connect
 * holds the connection (conn_hold), verifies in libuv's thread pool
 * (uv_queue_work on the worker's loop) and releases it from the after-work
 * callback, which handles the same CONNECT again with the verdict ready.
 *
 * The hash functions and the table are pure (no loop, no node) for tests.
 */
#ifndef TERN_AUTH_H
#define TERN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct mqtt_connect;
struct tern_node;

#define AUTH_HASH_PREFIX "$pbkdf2-sha512$"
#define AUTH_MIN_ITERATIONS 100000u
#define AUTH_MAX_ITERATIONS 10000000u
#define AUTH_SALT_LEN 16
#define AUTH_HASH_MAX 64 /* SHA-512 output */
/* Longest "$pbkdf2-sha512$ITER$SALT$HASH" with a 64-byte salt. */
#define AUTH_HASH_STRLEN 220

/* A parsed "$pbkdf2-sha512$ITER$SALT_B64$HASH_B64". */
struct auth_hash {
	uint32_t iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t hash[AUTH_HASH_MAX];
	size_t hash_len;
};

/*
 * Parses the hash text s[0..len) (standard base64 with padding; salt 8..64
 * bytes, hash 16..64 bytes, iterations AUTH_MIN..AUTH_MAX_ITERATIONS).
 * Returns 0, or TERN_EINVAL with *why set to a static reason.
 */
int auth_hash_parse(const char *s, size_t len, struct auth_hash *h,
		    const char **why);

/*
 * Hashes a password with a fresh 16-byte random salt into out (NUL-
 * terminated, at most AUTH_HASH_STRLEN bytes). Returns 0, TERN_EINVAL
 * (iterations out of range, cap too small) or TERN_EIO (OpenSSL failed).
 */
int auth_hash_make(const uint8_t *pw, size_t pw_len, uint32_t iterations,
		   char *out, size_t cap);

/*
 * True if pw hashes to h. Always runs the full PBKDF2 and compares in
 * constant time (CRYPTO_memcmp). Slow: thread pool or tests only.
 */
bool auth_hash_verify(const struct auth_hash *h, const uint8_t *pw,
		      size_t pw_len);

/* An immutable, reference-counted user -> hash table. */
struct auth_table;

/*
 * Loads a password file: "username:HASH" lines, '#' comments and blank
 * lines ignored. Returns 0 with *out a new reference, or TERN_ECONFIG with
 * "FILE:LINE: reason" (or the open error) in err, TERN_ENOMEM.
 */
int auth_table_load(const char *path, struct auth_table **out, char *err,
		    size_t errlen);

/* Entry of user[0..len), or NULL. Borrowed from t. */
const struct auth_hash *auth_table_find(const struct auth_table *t,
					const char *user, size_t len);

size_t auth_table_size(const struct auth_table *t);
struct auth_table *auth_table_ref(struct auth_table *t);
void auth_table_unref(struct auth_table *t); /* NULL is fine */

/*
 * Loads password_file (if set) into n->auth and warns about plaintext
 * listeners on non-loopback addresses. Returns 0 or TERN_ECONFIG with the
 * reason in err. Control thread, before the workers start.
 */
int auth_setup(struct tern_node *n, char *err, size_t errlen);

/*
 * Reloads password_file (SIGHUP). The new table applies to the next
 * CONNECTs and empties the verification cache; on error the old table
 * stays. Returns 0 (also without a password file) or TERN_ECONFIG with the
 * reason in err. Control thread, concurrently with the workers.
 */
int auth_reload(struct tern_node *n, char *err, size_t errlen);

/* Frees n->auth after the workers stopped. */
void auth_teardown(struct tern_node *n);

/* What auth_connect decided. 0 is "not decided" in conn->auth_verdict. */
enum auth_verdict {
	AUTH_ALLOW = 1,
	AUTH_PENDING,         /* held: the CONNECT comes back when verified */
	AUTH_BAD_CREDENTIALS, /* CONNACK 0x86 / 4 */
	AUTH_NOT_AUTHORIZED,  /* CONNACK 0x87 / 5 (anonymous refused) */
	AUTH_BAD_METHOD,      /* CONNACK 0x8C: unknown enhanced auth method */
	AUTH_UNAVAILABLE,     /* CONNACK 0x88 / 3: the provider's server did
			       * not answer (LDAP down, timeout) */
	AUTH_THROTTLED, /* CONNACK 0x9F / 5: too many failures (auth_limit.h) */
};

/*
 * Decides a CONNECT (client id id[0..id_len), for the log). Without a
 * password file: anonymous rules only, as before authentication existed.
 * With one: username+password are verified (from the cache, or held in the
 * thread pool: AUTH_PENDING); no username means anonymous. With ldap_url
 * (auth_ldap.h), a username+password whose user is not in the password
 * file is bound to LDAP in the thread pool (AUTH_PENDING too; the server
 * not answering gives AUTH_UNAVAILABLE). Logs the decision and counts it
 * in the worker's stats. Worker thread.
 * Before any provider: AUTH_THROTTLED when c's address or client id has
 * no failed authentication left (auth_limit.h; not logged per attempt);
 * failures (bad credentials, refused anonymous) take tokens there.
 */
enum auth_verdict auth_connect(struct conn *c, const struct mqtt_connect *p,
			       const char *id, size_t id_len);

/*
 * The username authentication established for c's CONNECT p (which it
 * allowed): the client certificate's name (tls_username_from), else the
 * CONNECT's username when a provider verified it, else NULL (anonymous).
 */
const char *auth_user(const struct conn *c, const struct mqtt_connect *p,
		      size_t *len);

/* A printable copy of a client-chosen string for the log: bytes outside
 * 0x20..0x7e and '"' become '?', "..." marks a cut (cap >= 5). */
void auth_printable(const uint8_t *s, size_t len, char *out, size_t cap);

/* c is being freed with a verification in flight: drop its result. */
void auth_conn_gone(struct conn *c);

#endif
