/* jwks_fetch_url_ok: which jwks_url values ternd accepts (jwks_fetch.h).
 * The fetch itself is covered by tests/integration/test_jwks_url.py. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "jwks_fetch.h"
#include "tern_err.h"

Test(jwks_fetch, url_schemes)
{
	cr_assert(jwks_fetch_url_ok("http://127.0.0.1:8080/jwks.json"));
	cr_assert(jwks_fetch_url_ok("https://idp.example.com/.well-known/jwks"));
	cr_assert(jwks_fetch_url_ok("HTTPS://idp.example.com"));
	cr_assert(jwks_fetch_url_ok("http://[::1]:9/k"));
	cr_assert_not(jwks_fetch_url_ok(""));
	cr_assert_not(jwks_fetch_url_ok("http://"));
	cr_assert_not(jwks_fetch_url_ok("https:///path"));
	cr_assert_not(jwks_fetch_url_ok("ftp://idp.example.com/jwks"));
	cr_assert_not(jwks_fetch_url_ok("file:///etc/passwd"));
	cr_assert_not(jwks_fetch_url_ok("gopher://x"));
	cr_assert_not(jwks_fetch_url_ok("idp.example.com/jwks"));
	cr_assert_not(jwks_fetch_url_ok("http://idp.example.com/a b"));
	cr_assert_not(jwks_fetch_url_ok("http://idp.example.com/\r\nX: y"));
}

Test(jwks_fetch, refused_port_is_unreachable)
{
	struct jwks_fetch_opts o = {.url = "http://127.0.0.1:1/jwks.json",
				    .timeout_ms = 2000,
				    .max = 1024};
	char err[256], *body = (char *)1;
	size_t len = 7;

	cr_assert_eq(jwks_fetch_global_init(), 0);
	cr_assert_eq(jwks_fetch(&o, &body, &len, err, sizeof(err)), TERN_EIO);
	cr_assert_null(body);
	cr_assert_eq(len, 0);
	cr_assert(strstr(err, "127.0.0.1:1") != NULL, "%s", err);
	jwks_fetch_global_cleanup();
}
