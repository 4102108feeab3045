/*
 * auth.h - authentication of CONNECT: the password file (PBKDF2-SHA512
 * hashes), the anonymous rules, and a short-lived cache of successful
 * verifications. docs/SECURITY.md describes the behaviour.
 *
 * The node owns one struct auth (n->auth, NULL without password_file and
 * without a store; with a store, the user store's users (users.h) are a
 * second table asked after the file's, and a username+password CONNECT is
 * verified once either has a user). Its
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

enum auth_hash_kind {
	AUTH_HASH_PBKDF2_SHA512 = 0,
	AUTH_HASH_SCRAM_SHA256, /* a SCRAM verifier (scram.h) */
};

/*
 * A parsed "$pbkdf2-sha512$ITER$SALT_B64$HASH_B64", or a SCRAM verifier
 * "$scram-sha-256$ITER$SALT_B64$STOREDKEY_B64$SERVERKEY_B64" (kind
 * AUTH_HASH_SCRAM_SHA256: hash is StoredKey || ServerKey, 64 bytes).
 */
struct auth_hash {
	uint8_t kind; /* enum auth_hash_kind */
	uint32_t iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t hash[AUTH_HASH_MAX];
	size_t hash_len;
};

/*
 * Parses the hash text s[0..len) (standard base64 with padding; salt 8..64
 * bytes, hash 16..64 bytes, iterations AUTH_MIN..AUTH_MAX_ITERATIONS), or
 * a SCRAM verifier (scram_verifier_parse's rules).
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

struct scram_verifier;

/* The SCRAM verifier of h (kind AUTH_HASH_SCRAM_SHA256) into *v. */
void auth_hash_scram(const struct auth_hash *h, struct scram_verifier *v);

/*
 * True if pw hashes to h (either kind: a SCRAM verifier is checked by
 * deriving it again). Always runs the full PBKDF2 and compares in
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

/*
 * The user store's users (users.h), asked after the password file: an
 * empty table, then auth_table_put for each user (cap: a size_t starting
 * at 0; TERN_EINVAL with *why for a hash auth_hash_parse refuses), then
 * auth_table_seal (sorts). auth_store_set makes t (taken) the store's
 * table: a new generation, so cached verifications of changed or deleted
 * users are void, and a verification in flight against the old table
 * that succeeded is done again. No-op (t freed) without n->auth. Control
 * thread.
 */
struct auth_table *auth_table_new(void);
int auth_table_put(struct auth_table *t, size_t *cap, const char *name,
		   size_t len, const char *hash, size_t hash_len,
		   const char **why);
void auth_table_seal(struct auth_table *t);
void auth_store_set(struct tern_node *n, struct auth_table *t);

/*
 * The stored credential of user[0..len), copied into *out, from the node's
 * password sources (the password file, then the user store, users.h);
 * *from_store (if not NULL) says which.
 * Returns 0, or TERN_ENOTFOUND (unknown user, or no password source). Any
 * thread.
 */
int auth_lookup(struct tern_node *n, const char *user, size_t len,
		struct auth_hash *out, bool *from_store);

/* Does the node have a password source (auth_lookup can find users)? */
bool auth_has_passwords(const struct tern_node *n);

/*
 * 32 random bytes drawn at start, for answers about unknown users that
 * must look like answers about known ones (scram_verifier_fake). NULL
 * without a password source.
 */
const uint8_t *auth_secret(const struct tern_node *n);

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

/* In conn->auth_verdict next to the verdict: the user store decided. */
#define AUTH_VERDICT_STORE 0x40

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
