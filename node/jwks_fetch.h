/*
 * jwks_fetch.h - one HTTP(S) GET of a JWK set (jwks_url), with libcurl.
 *
 * Only http:// and https:// (also after redirects, at most 3), one overall
 * timeout, a cap on the body, HTTPS verified against the system's CAs or a
 * given bundle (peer and host name). The call blocks: the JWT provider runs
 * it in libuv's thread pool (auth_jwt.c). No state between calls; any
 * thread once jwks_fetch_global_init has run.
 */
#ifndef TERN_JWKS_FETCH_H
#define TERN_JWKS_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#define JWKS_FETCH_MAX (1024 * 1024) /* longest body accepted */

/* libcurl's global state: once in main before any thread, and at exit.
 * Returns 0 or TERN_EIO. */
int jwks_fetch_global_init(void);
void jwks_fetch_global_cleanup(void);

/* Is url an http:// or https:// URL with a host (case-insensitive
 * scheme, no whitespace or control characters)? Pure. */
bool jwks_fetch_url_ok(const char *url);

struct jwks_fetch_opts {
	const char *url;     /* borrowed; jwks_fetch_url_ok */
	const char *ca_file; /* NULL or "": the system's CAs */
	unsigned timeout_ms; /* the whole transfer */
	size_t max;          /* body cap (bytes), at most JWKS_FETCH_MAX */
};

/*
 * GETs o->url. Returns 0 with *body a new NUL-terminated buffer of *len
 * bytes (free with free()) when the answer is 200; otherwise *body is NULL
 * and err says why: TERN_EIO the server could not be reached or answered
 * nothing usable in time (DNS, connect, TLS, timeout, reset),
 * TERN_EPROTOCOL another HTTP status, TERN_ETOOLARGE the body exceeds
 * o->max, TERN_ENOMEM.
 */
int jwks_fetch(const struct jwks_fetch_opts *o, char **body, size_t *len,
	       char *err, size_t errlen);

#endif
