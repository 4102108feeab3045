/*
 * test_admin.c - the admin server's pure helpers: percent-decoding of path
 * segments and query values, query lookup, the growable buffer.
 * (The server itself is driven over HTTP by tests/integration/test_admin.py.)
 */
#include <criterion/criterion.h>

#include <string.h>

#include "admin_int.h"

Test(admin_api, unescape)
{
	char out[32];

	cr_assert_eq(
	    admin_api_unescape("a%2Fb%20c", 9, out, sizeof(out), false), 5);
	cr_assert_str_eq(out, "a/b c");
	cr_assert_eq(admin_api_unescape("a+b", 3, out, sizeof(out), false), 3);
	cr_assert_str_eq(out, "a+b");
	cr_assert_eq(admin_api_unescape("a+b", 3, out, sizeof(out), true), 3);
	cr_assert_str_eq(out, "a b");
	cr_assert_eq(admin_api_unescape("%C3%BC", 6, out, sizeof(out), false),
	             2);
	cr_assert_str_eq(out, "\xc3\xbc");
	cr_assert_eq(admin_api_unescape("", 0, out, sizeof(out), false), 0);
}

Test(admin_api, unescape_refuses)
{
	char out[8];

	cr_assert_eq(admin_api_unescape("%", 1, out, sizeof(out), false), -1);
	cr_assert_eq(admin_api_unescape("%4", 2, out, sizeof(out), false), -1);
	cr_assert_eq(admin_api_unescape("%zz", 3, out, sizeof(out), false), -1);
	cr_assert_eq(admin_api_unescape("a%00", 4, out, sizeof(out), false), -1,
	             "NUL bytes are refused");
	cr_assert_eq(admin_api_unescape("12345678", 8, out, sizeof(out), false),
	             -1, "too long for out");
	cr_assert_eq(admin_api_unescape("1234567", 7, out, sizeof(out), false),
	             7);
}

Test(admin_api, query)
{
	const char *q = "limit=5&filter=a%2Fb+c&flag&offset=";
	char v[32];

	cr_assert(admin_api_query(q, "limit", v, sizeof(v)));
	cr_assert_str_eq(v, "5");
	cr_assert(admin_api_query(q, "filter", v, sizeof(v)));
	cr_assert_str_eq(v, "a/b c");
	cr_assert(admin_api_query(q, "flag", v, sizeof(v)));
	cr_assert_str_eq(v, "");
	cr_assert(admin_api_query(q, "offset", v, sizeof(v)));
	cr_assert_str_eq(v, "");
	cr_assert_not(admin_api_query(q, "lim", v, sizeof(v)));
	cr_assert_not(admin_api_query(q, "session", v, sizeof(v)));
	cr_assert_not(admin_api_query("", "limit", v, sizeof(v)));
	cr_assert_not(admin_api_query("x=%zz", "x", v, sizeof(v)));
	cr_assert_str_eq(v, "");
}

Test(admin_buf, grows_and_terminates)
{
	struct admin_buf b = {0};

	admin_buf_puts(&b, "");
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.p, "");
	for (int i = 0; i < 1000; i++)
		admin_buf_printf(&b, "%d,", i % 10);
	cr_assert_eq(b.len, 2000);
	cr_assert_eq(b.p[b.len], 0);
	admin_buf_append(&b, "xyz", 3);
	cr_assert_str_eq(b.p + 2000, "xyz");
	admin_buf_printf(&b, "%0600d", 7);
	cr_assert_eq(b.len, 2603);
	cr_assert_eq(strlen(b.p), b.len);
	cr_assert_not(b.oom);
	admin_buf_free(&b);
	cr_assert_null(b.p);
}
