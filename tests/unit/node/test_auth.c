/*
 * test_auth.c - the password hash format, verification and the password
 * file loader (node/auth.c), without sockets or loops.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "tern_err.h"

#define PW(s) (const uint8_t *)(s), strlen(s)

/* Writes text to a fresh temp file; returns its path (static buffer). */
static const char *write_file(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/tern-auth-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(auth, make_then_parse_and_verify)
{
	char text[AUTH_HASH_STRLEN];
	struct auth_hash h;
	const char *why = NULL;

	cr_assert_eq(auth_hash_make(PW("s3cret"), 100000, text, sizeof(text)),
		     0);
	cr_assert_eq(strncmp(text, "$pbkdf2-sha512$100000$", 22), 0, "%s",
		     text);
	cr_assert_eq(auth_hash_parse(text, strlen(text), &h, &why), 0, "%s",
		     why);
	cr_assert_eq(h.iterations, 100000);
	cr_assert_eq(h.salt_len, 16);
	cr_assert_eq(h.hash_len, 64);
	cr_assert(auth_hash_verify(&h, PW("s3cret")));
	cr_assert_not(auth_hash_verify(&h, PW("s3cret ")));
	cr_assert_not(auth_hash_verify(&h, PW("")));
	cr_assert_not(auth_hash_verify(&h, PW("S3cret")));
}

Test(auth, salts_differ)
{
	char a[AUTH_HASH_STRLEN], b[AUTH_HASH_STRLEN];

	cr_assert_eq(auth_hash_make(PW("x"), 100000, a, sizeof(a)), 0);
	cr_assert_eq(auth_hash_make(PW("x"), 100000, b, sizeof(b)), 0);
	cr_assert_str_neq(a, b);
}

/* A known vector: PBKDF2-HMAC-SHA512("password", "saltsaltsaltsalt",
 * 100000) computed independently (Python hashlib). */
Test(auth, known_vector)
{
	const char *text =
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "vtSoEFFE/jYHDnuzFXVWIYvJ1cDlP05xesOoGZCAe8E0EOH6m+3va+fpbhASaJBe"
	    "XW/0ME9ge7job1oJO5JYQg==";
	struct auth_hash h;
	const char *why = NULL;

	cr_assert_eq(auth_hash_parse(text, strlen(text), &h, &why), 0, "%s",
		     why);
	cr_assert_eq(h.salt_len, 16);
	cr_assert(auth_hash_verify(&h, PW("password")));
	cr_assert_not(auth_hash_verify(&h, PW("passwore")));
	/* a one-bit change in the stored hash fails (same work done) */
	h.hash[63] ^= 1;
	cr_assert_not(auth_hash_verify(&h, PW("password")));
}

Test(auth, parse_rejects)
{
	static const char *const bad[] = {
	    "",
	    "$pbkdf2-sha256$100000$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==",
	    "$pbkdf2-sha512$99999$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==",                   /* too few */
	    "$pbkdf2-sha512$10000001$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==",                   /* too many */
	    "$pbkdf2-sha512$1e5$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==",
	    "$pbkdf2-sha512$$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==",
	    "$pbkdf2-sha512$100000$c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==", /* 4 B */
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRzYWx0c2FsdA==$AAAA", /* short */
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRz!Wx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==",                   /* not base64 */
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AAAAAAAAAAAAAAAAAAAAAA==$x",                 /* extra field */
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRzYWx0c2FsdA==",
	    "$pbkdf2-sha512$100000$c2FsdHNhbHRzYWx0c2FsdA==$"
	    "AA=AAAAAAAAAAAAAAAAAAA==",                   /* = inside */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct auth_hash h;
		const char *why = NULL;

		cr_assert_eq(auth_hash_parse(bad[i], strlen(bad[i]), &h, &why),
			     TERN_EINVAL, "accepted %s", bad[i]);
		cr_assert_not_null(why);
	}
}

Test(auth, make_refuses_low_iterations)
{
	char text[AUTH_HASH_STRLEN];

	cr_assert_eq(auth_hash_make(PW("x"), 1000, text, sizeof(text)),
		     TERN_EINVAL);
	cr_assert_eq(auth_hash_make(PW("x"), 100000, text, 20), TERN_EINVAL);
}

Test(auth, table_load_and_find)
{
	char a[AUTH_HASH_STRLEN], b[AUTH_HASH_STRLEN], text[1024];
	struct auth_table *t = NULL;
	char err[256] = "";
	const struct auth_hash *h;

	cr_assert_eq(auth_hash_make(PW("pa"), 100000, a, sizeof(a)), 0);
	cr_assert_eq(auth_hash_make(PW("pb"), 100000, b, sizeof(b)), 0);
	snprintf(text, sizeof(text),
		 "# users\n\nalice:%s\r\nbob-the-builder:%s\n", a, b);
	cr_assert_eq(auth_table_load(write_file(text), &t, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(auth_table_size(t), 2);
	h = auth_table_find(t, "alice", 5);
	cr_assert_not_null(h);
	cr_assert(auth_hash_verify(h, PW("pa")));
	cr_assert_not(auth_hash_verify(h, PW("pb")));
	h = auth_table_find(t, "bob-the-builder", 15);
	cr_assert_not_null(h);
	cr_assert(auth_hash_verify(h, PW("pb")));
	cr_assert_null(auth_table_find(t, "alic", 4));
	cr_assert_null(auth_table_find(t, "alice\0", 6));
	cr_assert_null(auth_table_find(t, "carol", 5));
	cr_assert_eq(auth_table_ref(t), t);
	auth_table_unref(t);
	auth_table_unref(t);
}

Test(auth, table_errors_name_file_and_line)
{
	char a[AUTH_HASH_STRLEN], text[1024], want[256];
	struct auth_table *t = NULL;
	char err[256] = "";
	const char *path;

	cr_assert_eq(auth_hash_make(PW("pa"), 100000, a, sizeof(a)), 0);

	snprintf(text, sizeof(text), "alice:%s\n# c\nbob\n", a);
	path = write_file(text);
	cr_assert_eq(auth_table_load(path, &t, err, sizeof(err)),
		     TERN_ECONFIG);
	cr_assert_null(t);
	snprintf(want, sizeof(want),
		 "password_file %s:3: expected username:$pbkdf2-sha512$...",
		 path);
	cr_assert_str_eq(err, want);

	snprintf(text, sizeof(text), "alice:%s\nalice:%s\n", a, a);
	path = write_file(text);
	cr_assert_eq(auth_table_load(path, &t, err, sizeof(err)),
		     TERN_ECONFIG);
	snprintf(want, sizeof(want), "password_file %s:2: duplicate user",
		 path);
	cr_assert_str_eq(err, want);

	path = write_file("alice:$pbkdf2-sha512$5$x$y\n");
	cr_assert_eq(auth_table_load(path, &t, err, sizeof(err)),
		     TERN_ECONFIG);
	cr_assert(strstr(err, ":1: bad iteration") ||
		      strstr(err, ":1: iteration count"),
		  "%s", err);

	cr_assert_eq(auth_table_load("/nonexistent/pw", &t, err, sizeof(err)),
		     TERN_ECONFIG);
	cr_assert_str_eq(err, "password_file /nonexistent/pw: No such file "
			      "or directory");
}
