/*
 * test_auth_limit.c - the failed-authentication buckets (node/auth_limit.c):
 * keys, burst, refill, debt, reports, replacement and the delayed-close
 * cap, with time passed in (no loop, no sockets).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth_limit.h"
#include "tern_err.h"

/* 1 s after an arbitrary monotonic origin */
#define T0 1000u

static const uint8_t seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static struct auth_limit *make(uint32_t burst, uint32_t per_minute)
{
	struct auth_limit *l = NULL;

	cr_assert_eq(auth_limit_new(burst, per_minute, seed, &l), 0);
	cr_assert(l);
	return l;
}

static struct auth_limit_key addr(struct auth_limit *l, const char *peer)
{
	struct auth_limit_key k;

	cr_assert(auth_limit_key_addr(l, peer, &k, NULL, 0), "%s", peer);
	return k;
}

static void take_n(struct auth_limit *l, const struct auth_limit_key *k,
                   unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		auth_limit_take(l, k, now);
}

static uint64_t check(struct auth_limit *l, const struct auth_limit_key *k,
                      uint64_t now)
{
	uint32_t fails;

	return auth_limit_check(l, k, now, &fails);
}

Test(auth_limit, siphash_reference_vectors)
{
	uint8_t key[16], in[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		in[i] = (uint8_t)i;
	/* the SipHash paper's example (appendix A) and vectors.h[0] */
	cr_assert_eq(auth_limit_siphash(key, in, 15), 0xa129ca6149be45e5ull);
	cr_assert_eq(auth_limit_siphash(key, in, 0), 0x726fdb47dd0e0e31ull);
}

Test(auth_limit, bad_parameters)
{
	struct auth_limit *l = (struct auth_limit *)1;

	cr_assert_eq(auth_limit_new(0, 6, seed, &l), TERN_EINVAL);
	cr_assert_null(l);
	cr_assert_eq(auth_limit_new(10, 0, seed, &l), TERN_EINVAL);
	cr_assert_eq(auth_limit_new(10, 60001, seed, &l), TERN_EINVAL);
	auth_limit_free(NULL);
}

Test(auth_limit, address_keys)
{
	struct auth_limit *l = make(10, 6);
	struct auth_limit_key a, b;
	char text[64];

	/* the port does not matter, the address does */
	cr_assert(
	    auth_limit_key_addr(l, "127.0.0.1:5000", &a, text, sizeof(text)));
	cr_assert_str_eq(text, "127.0.0.1");
	cr_assert_neq(a.h, 0);
	cr_assert_eq(addr(l, "127.0.0.1:6000").h, a.h);
	cr_assert_neq(addr(l, "127.0.0.2:5000").h, a.h);
	/* IPv4-mapped IPv6 is the IPv4 address */
	cr_assert(auth_limit_key_addr(l, "::ffff:127.0.0.1:7", &b, text,
	                              sizeof(text)));
	cr_assert_eq(b.h, a.h);
	cr_assert_str_eq(text, "127.0.0.1");
	cr_assert_eq(addr(l, "[::ffff:127.0.0.1]:7").h, a.h);

	/* IPv6: the /64, bracketed (PROXY) or not (accept) */
	cr_assert(auth_limit_key_addr(l, "[2001:db8:1:2::5]:1883", &b, text,
	                              sizeof(text)));
	cr_assert_str_eq(text, "2001:db8:1:2::/64");
	cr_assert_eq(addr(l, "2001:db8:1:2:ffff::9:1883").h, b.h);
	cr_assert_eq(addr(l, "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1").h, b.h);
	cr_assert_neq(addr(l, "[2001:db8:1:3::5]:1883").h, b.h);
	cr_assert_neq(addr(l, "[::1]:1883").h, b.h);

	/* not an IP address */
	static const char *const bad[] = {"local:0", "?:0",        "",
	                                  ":5",      "[]:5",       "127.0.0.1",
	                                  "x",       "999.1.1.1:5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(auth_limit_key_addr(l, bad[i], &b, NULL, 0), "%s",
		              bad[i]);
		cr_assert_eq(b.h, 0);
	}
	auth_limit_free(l);
}

Test(auth_limit, client_keys)
{
	struct auth_limit *l = make(10, 6);
	struct auth_limit_key a, b, c;

	auth_limit_key_client(l, (const uint8_t *)"sensor-1", 8, &a);
	auth_limit_key_client(l, (const uint8_t *)"sensor-1", 8, &b);
	auth_limit_key_client(l, (const uint8_t *)"sensor-2", 8, &c);
	cr_assert_neq(a.h, 0);
	cr_assert_eq(a.h, b.h);
	cr_assert_neq(a.h, c.h);
	/* a client id that spells an address is not that address */
	auth_limit_key_client(l, (const uint8_t *)"127.0.0.1", 9, &c);
	cr_assert_neq(c.h, addr(l, "127.0.0.1:1").h);
	auth_limit_free(l);
}

Test(auth_limit, burst_then_throttled)
{
	struct auth_limit *l = make(10, 6); /* a token every 10 s */
	struct auth_limit_key k = addr(l, "192.0.2.7:1");
	struct auth_limit_key other = addr(l, "192.0.2.8:1");

	cr_assert_not(auth_limit_active(l, T0));
	take_n(l, &k, 9, T0);
	cr_assert_eq(check(l, &k, T0), 0, "9 failures of 10: still allowed");
	cr_assert_not(auth_limit_active(l, T0));
	auth_limit_take(l, &k, T0);
	cr_assert(auth_limit_active(l, T0));
	cr_assert_eq(check(l, &k, T0), 10000);
	cr_assert_eq(check(l, &k, T0 + 2500), 7500);
	cr_assert_eq(check(l, &other, T0), 0, "other addresses go on");
	auth_limit_free(l);
}

Test(auth_limit, refill)
{
	struct auth_limit *l = make(3, 60); /* a token every second */
	struct auth_limit_key k = addr(l, "192.0.2.7:1");

	take_n(l, &k, 3, T0);
	cr_assert_eq(check(l, &k, T0 + 999), 1);
	cr_assert_eq(check(l, &k, T0 + 1000), 0, "one token back");
	auth_limit_take(l, &k, T0 + 1000);
	cr_assert_eq(check(l, &k, T0 + 1000), 1000, "and used again");
	/* tokens come back one an interval, never more than the burst */
	cr_assert_eq(check(l, &k, T0 + 2000), 0);
	take_n(l, &k, 1, T0 + 2000);
	cr_assert_eq(check(l, &k, T0 + 2000), 1000);
	cr_assert_eq(check(l, &k, T0 + 100000), 0);
	take_n(l, &k, 2, T0 + 100000);
	cr_assert_eq(check(l, &k, T0 + 100000), 0, "full again: 3 allowed");
	auth_limit_take(l, &k, T0 + 100000);
	cr_assert_neq(check(l, &k, T0 + 100000), 0);
	cr_assert_not(auth_limit_active(l, T0 + 101000));
	auth_limit_free(l);
}

Test(auth_limit, uneven_interval)
{
	struct auth_limit *l = make(1, 7); /* 60000 / 7 = 8571 ms */
	struct auth_limit_key k = addr(l, "192.0.2.7:1");

	auth_limit_take(l, &k, T0);
	cr_assert_eq(check(l, &k, T0), 8571);
	cr_assert_eq(check(l, &k, T0 + 8571), 0);
	auth_limit_free(l);
}

Test(auth_limit, failures_beyond_the_burst_are_debt)
{
	struct auth_limit *l = make(2, 60); /* a token a second */
	struct auth_limit_key k = addr(l, "192.0.2.7:1");

	/* 12 verifications were in flight when the bucket emptied: all 12
	 * failures count, so the address waits for 11 tokens back, not 1 */
	take_n(l, &k, 12, T0);
	cr_assert_eq(check(l, &k, T0), 11000);
	cr_assert_neq(check(l, &k, T0 + 10999), 0);
	cr_assert_eq(check(l, &k, T0 + 11000), 0);
	cr_assert(auth_limit_active(l, T0 + 10999));
	cr_assert_not(auth_limit_active(l, T0 + 11000));
	/* long-run rate: 12 failures cost 12 s of refill */
	take_n(l, &k, 1, T0 + 11000);
	cr_assert_eq(check(l, &k, T0 + 11000), 1000);
	auth_limit_free(l);
}

Test(auth_limit, reports_once_per_minute)
{
	struct auth_limit *l = make(10, 6);
	struct auth_limit_key k = addr(l, "192.0.2.7:1");
	uint32_t fails = 99;

	take_n(l, &k, 10, T0);
	cr_assert_eq(auth_limit_check(l, &k, T0, &fails), 10000);
	cr_assert_eq(fails, 10, "the first refusal reports the burst");
	for (int i = 1; i < 50; i++) {
		auth_limit_check(l, &k, T0 + (uint64_t)i, &fails);
		cr_assert_eq(fails, 0, "not per attempt");
	}
	/* a token every 10 s, used at once: still throttled a minute on */
	for (uint64_t t = T0 + 10000; t <= T0 + 60000; t += 10000) {
		cr_assert_eq(auth_limit_check(l, &k, t, &fails), 0);
		auth_limit_take(l, &k, t);
		cr_assert_neq(auth_limit_check(l, &k, t, &fails), 0);
		if (t < T0 + AUTH_LIMIT_LOG_EVERY_MS)
			cr_assert_eq(fails, 0);
	}
	cr_assert_eq(fails, 6, "a minute later: the failures since");
	cr_assert_eq(check(l, &k, T0 + 60000), 10000);
	auth_limit_free(l);
}

Test(auth_limit, new_run_after_refill)
{
	struct auth_limit *l = make(2, 60);
	struct auth_limit_key k = addr(l, "192.0.2.7:1");
	uint32_t fails;

	take_n(l, &k, 2, T0);
	auth_limit_check(l, &k, T0, &fails);
	cr_assert_eq(fails, 2);
	/* full again long after: a fresh run, counted from zero */
	take_n(l, &k, 2, T0 + 120000);
	cr_assert_neq(auth_limit_check(l, &k, T0 + 120000, &fails), 0);
	cr_assert_eq(fails, 2);
	auth_limit_free(l);
}

/* Keys whose windows start at the same slot. */
static struct auth_limit_key same_window(unsigned i)
{
	return (struct auth_limit_key){.h = 5 + (uint64_t)i * AUTH_LIMIT_SLOTS};
}

Test(auth_limit, full_window_replaces_the_fullest_bucket)
{
	struct auth_limit *l = make(1, 60);
	struct auth_limit_key k;

	/* AUTH_LIMIT_WINDOW throttled keys, key i empty until T0 + 1 s + i */
	for (unsigned i = 0; i < AUTH_LIMIT_WINDOW; i++) {
		k = same_window(i);
		auth_limit_take(l, &k, T0 + i);
		cr_assert_neq(check(l, &k, T0 + i), 0);
	}
	/* one more: replaces key 0, the one with a token back soonest */
	k = same_window(AUTH_LIMIT_WINDOW);
	auth_limit_take(l, &k, T0 + 100);
	cr_assert_neq(check(l, &k, T0 + 100), 0);
	k = same_window(0);
	cr_assert_eq(check(l, &k, T0 + 100), 0, "forgotten");
	for (unsigned i = 1; i < AUTH_LIMIT_WINDOW; i++) {
		k = same_window(i);
		cr_assert_neq(check(l, &k, T0 + 100), 0, "key %u kept", i);
	}
	auth_limit_free(l);
}

Test(auth_limit, full_buckets_free_their_slot)
{
	struct auth_limit *l = make(2, 60);
	struct auth_limit_key k;

	for (unsigned i = 0; i < AUTH_LIMIT_WINDOW; i++) {
		k = same_window(i);
		auth_limit_take(l, &k, T0); /* one failure, not throttled */
	}
	k = same_window(100);
	take_n(l, &k, 2, T0 + 5000); /* the others are full again by now */
	cr_assert_neq(check(l, &k, T0 + 5000), 0);
	/* and key 1 (throttled later) is in a slot of its own */
	k = same_window(1);
	take_n(l, &k, 2, T0 + 5000);
	cr_assert_neq(check(l, &k, T0 + 5000), 0);
	k = same_window(100);
	cr_assert_neq(check(l, &k, T0 + 5000), 0);
	auth_limit_free(l);
}

Test(auth_limit, delayed_close_cap)
{
	struct auth_limit *l = make(10, 6);

	cr_assert_not(auth_limit_delay_begin(NULL));
	for (unsigned i = 0; i < AUTH_LIMIT_MAX_DELAYED; i++)
		cr_assert(auth_limit_delay_begin(l));
	cr_assert_not(auth_limit_delay_begin(l), "over the cap");
	cr_assert_eq(auth_limit_delayed(l), AUTH_LIMIT_MAX_DELAYED);
	auth_limit_delay_end(l);
	cr_assert(auth_limit_delay_begin(l));
	for (unsigned i = 0; i < AUTH_LIMIT_MAX_DELAYED; i++)
		auth_limit_delay_end(l);
	cr_assert_eq(auth_limit_delayed(l), 0);
	auth_limit_free(l);
}
