/*
 * auth_limit.h - throttling of failed authentications (docs/SECURITY.md,
 * "Rate limiting"): a token bucket per source address (an IPv4 address,
 * an IPv6 /64) and one per client id, shared by every worker.
 *
 * A bucket holds at most `burst` tokens and gets `per_minute` back per
 * minute. Each failed authentication of a CONNECT (bad username or
 * password, bad token, refused anonymous client) takes one token from the
 * bucket of its address and one from the bucket of its client id. While
 * either bucket is empty, a CONNECT from that address or with that client
 * id is refused before any provider runs: no PBKDF2 is spent on it.
 * Failures landing on an empty bucket still count, as debt: attempts that
 * were already being verified when the bucket emptied (parallel
 * connections) each push its refill one interval later, so no amount of
 * parallelism raises the long-run rate above `per_minute`. A password
 * verification that fails counts even if the client left meanwhile.
 *
 * The table: AUTH_LIMIT_SLOTS entries keyed by SipHash-2-4 of the address
 * or client id under a random per-process key (an attacker cannot aim at
 * slots), open addressing within a window of AUTH_LIMIT_WINDOW slots. A
 * full bucket is the same as no entry, so its slot is free; when a window
 * holds no free slot, the entry with the most tokens is replaced. One
 * mutex guards the table. A check takes no lock while no bucket is empty:
 * an atomic "horizon" holds the time the last bucket emptied gets a token
 * back, and a check before it is a single atomic load.
 *
 * A bucket is stored as the time it is full again ("generic cell rate"):
 * taking a token moves that time one interval (60000 / per_minute ms)
 * later, starting from now if it was in the past; the bucket is empty
 * while that time is more than (burst - 1) intervals ahead (and in debt
 * while more than `burst` intervals ahead).
 *
 * The table functions are pure (time passed in, no loop, no node) for the
 * unit tests; the auth_limit_conn_* functions are the glue used by auth.c
 * and handle_connect.c on worker threads.
 */
#ifndef TERN_AUTH_LIMIT_H
#define TERN_AUTH_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct mqtt_connect;
struct tern_node;

#define AUTH_LIMIT_SLOTS  4096 /* power of two */
#define AUTH_LIMIT_WINDOW 8    /* slots probed per key */
/* at most one "throttled" log line per key per this many ms */
#define AUTH_LIMIT_LOG_EVERY_MS 60000u
/* throttled connections left open for auth_fail_delay_ms, node-wide;
 * beyond it they are closed at once */
#define AUTH_LIMIT_MAX_DELAYED 1024u

/* A bucket's identity: a keyed hash of its kind and bytes; never 0. */
struct auth_limit_key {
	uint64_t h;
};

struct auth_limit;

/*
 * SipHash-2-4 of in[0..len) under key k (64-bit output, the reference
 * algorithm). Exposed for the tests.
 */
uint64_t auth_limit_siphash(const uint8_t k[16], const void *in, size_t len);

/*
 * A table with buckets of `burst` tokens (>= 1) refilled at `per_minute`
 * tokens a minute (1..60000), keyed under seed (32 random bytes). Returns
 * 0 with *out new, or TERN_EINVAL, TERN_ENOMEM.
 */
int auth_limit_new(uint32_t burst, uint32_t per_minute, const uint8_t seed[32],
                   struct auth_limit **out);

void auth_limit_free(struct auth_limit *l); /* NULL is fine */

/*
 * The key of a peer "ADDR:PORT" or "[ADDR]:PORT" (conn->peer): its IPv4
 * address, or the /64 prefix of its IPv6 address (an IPv4-mapped IPv6
 * address counts as IPv4). When text is not NULL it gets the address
 * ("192.0.2.7", "2001:db8:1:2::/64") for logs. Returns false (k zeroed)
 * when peer is not an IP address (a Unix socket).
 */
bool auth_limit_key_addr(const struct auth_limit *l, const char *peer,
                         struct auth_limit_key *k, char *text, size_t cap);

/* The key of client id id[0..len). */
void auth_limit_key_client(const struct auth_limit *l, const uint8_t *id,
                           size_t len, struct auth_limit_key *k);

/*
 * True when some bucket may be empty at `now` (ms): false means every
 * check would pass. Lock-free.
 */
bool auth_limit_active(struct auth_limit *l, uint64_t now);

/*
 * 0 when k's bucket holds a token at `now`, else the ms until it gets one
 * back. *log_fails is set to the failures counted since the last report
 * when this refusal should be reported (the first time the bucket is found
 * empty, then at most once per AUTH_LIMIT_LOG_EVERY_MS), else to 0.
 */
uint64_t auth_limit_check(struct auth_limit *l, const struct auth_limit_key *k,
                          uint64_t now, uint32_t *log_fails);

/* Takes a token from k's bucket (a failure), into debt if it is empty. */
void auth_limit_take(struct auth_limit *l, const struct auth_limit_key *k,
                     uint64_t now);

/*
 * Counts a connection left open after its refusal; false (not counted)
 * when AUTH_LIMIT_MAX_DELAYED are open already. auth_limit_delay_end
 * uncounts it. Any thread.
 */
bool auth_limit_delay_begin(struct auth_limit *l);
void auth_limit_delay_end(struct auth_limit *l);

/* Connections counted by auth_limit_delay_begin and not yet ended. */
uint32_t auth_limit_delayed(struct auth_limit *l);

/* ---- glue (worker threads) ------------------------------------------ */

/*
 * Creates n->auth_limit from auth_fail_burst and auth_fail_per_minute
 * (NULL when either is 0: no limiting). Returns 0 or TERN_ENOMEM with the
 * reason in err. Control thread, before the workers start.
 */
int auth_limit_setup(struct tern_node *n, char *err, size_t errlen);

/* Frees n->auth_limit after the workers stopped. */
void auth_limit_teardown(struct tern_node *n);

/*
 * The keys of c's CONNECT p into keys[0..2): its address and its client
 * id (none for an empty client id, which the server assigns). Returns
 * how many (0 without a limiter).
 */
unsigned auth_limit_conn_keys(const struct conn *c,
                              const struct mqtt_connect *p,
                              struct auth_limit_key keys[2]);

/*
 * True when c's address or client id is throttled: its CONNECT is to be
 * refused without authenticating it. Logs "ADDR: N failed
 * authentications, throttled for S s" (or `client "ID": ...`) at warn once
 * per AUTH_LIMIT_LOG_EVERY_MS per key, and each refusal at debug. Costs
 * one atomic load while nothing is throttled.
 */
bool auth_limit_conn_throttled(struct conn *c, const struct mqtt_connect *p);

/*
 * A failure: takes a token from each of keys[0..n), now. l NULL (no
 * limiter) is fine. Any thread (auth.c calls it from a thread pool
 * verification's after-work callback, the client maybe gone).
 */
void auth_limit_failed(struct auth_limit *l, const struct auth_limit_key *keys,
                       unsigned n);

/* A failed authentication of c's CONNECT p: takes from both buckets. */
void auth_limit_conn_failed(struct conn *c, const struct mqtt_connect *p);

#endif
