/*
 * test_users.c - the user store's pure parts: PUT bodies and stored user
 * values (node/users.c), a role's rules in canonical JSON and the policy
 * merged from an ACL file and the store's document (node/acl.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "auth.h"
#include "tern_err.h"
#include "users.h"

#define S(s) (s), strlen(s)

/* A real hash (100000 iterations: ~50 ms, made once per test). */
static void make_hash(char *out, size_t cap)
{
	cr_assert_eq(auth_hash_make((const uint8_t *)"pw", 2,
				    AUTH_MIN_ITERATIONS, out, cap),
		     0);
}

Test(users_names, user_and_role_names)
{
	cr_assert(users_name_ok(S("alice")));
	cr_assert(users_name_ok(S("dev-01.example")));
	cr_assert_not(users_name_ok(S("")));
	cr_assert_not(users_name_ok(S("a:b")));
	cr_assert_not(users_name_ok(S("a b")));
	cr_assert_not(users_name_ok(S("\xff\xfe")));
	cr_assert(users_role_name_ok(S("reader")));
	cr_assert_not(users_role_name_ok(S("a,b")));
	char long_role[66];
	memset(long_role, 'r', 65);
	long_role[65] = 0;
	cr_assert_not(users_role_name_ok(S(long_role)));
	cr_assert(users_role_name_ok(long_role, 64));
}

Test(users_put, password_and_roles)
{
	struct users_put p;
	const char *why = NULL;

	cr_assert_eq(users_put_parse("{\"password\": \"s3cret\", \"roles\": "
				     "[\"a\", \"b\", \"a\"]}",
				     &p, &why),
		     0, "%s", why);
	cr_assert_str_eq(p.password, "s3cret");
	cr_assert_eq(p.password_len, 6);
	cr_assert_null(p.hash);
	cr_assert_eq(json_array_size(p.roles), 2); /* duplicate dropped */
	users_put_free(&p);
	cr_assert_null(p.password);

	cr_assert_eq(users_put_parse("{\"roles\": []}", &p, &why), 0);
	cr_assert_null(p.password);
	cr_assert_null(p.hash);
	cr_assert_eq(json_array_size(p.roles), 0);
	users_put_free(&p);

	cr_assert_eq(users_put_parse("{}", &p, &why), 0);
	cr_assert_null(p.roles); /* keep the roles */
	users_put_free(&p);
}

Test(users_put, password_hash)
{
	char hash[AUTH_HASH_STRLEN], body[512];
	struct users_put p;
	const char *why = NULL;

	make_hash(hash, sizeof(hash));
	snprintf(body, sizeof(body), "{\"password_hash\": \"%s\"}", hash);
	cr_assert_eq(users_put_parse(body, &p, &why), 0, "%s", why);
	cr_assert_str_eq(p.hash, hash);
	users_put_free(&p);
}

Test(users_put, refused_bodies)
{
	static const char *const bad[] = {
		"",
		"{not json",
		"[]",
		"\"x\"",
		"{\"password\": \"a\", \"password_hash\": \"b\"}",
		"{\"password\": \"\"}",
		"{\"password\": 7}",
		"{\"password_hash\": \"$md5$abc\"}",
		"{\"password_hash\": \"$pbkdf2-sha512$10$AAAA$AAAA\"}",
		"{\"password_hash\": 1}",
		"{\"roles\": \"admin\"}",
		"{\"roles\": [1]}",
		"{\"roles\": [\"\"]}",
		"{\"roles\": [\"a,b\"]}",
		"{\"roles\": [\"a:b\"]}",
		"{\"user\": \"x\"}",
		"{\"password\": \"a\", \"password\": \"b\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct users_put p;
		const char *why = NULL;

		cr_assert_eq(users_put_parse(bad[i], &p, &why), TERN_EINVAL,
			     "accepted %s", bad[i]);
		cr_assert_not_null(why);
		cr_assert_null(p.password);
		cr_assert_null(p.roles);
	}
}

Test(users_put, too_many_roles)
{
	char body[4096] = "{\"roles\": [";
	struct users_put p;
	const char *why = NULL;

	for (int i = 0; i < ACL_MAX_ROLES + 1; i++)
		snprintf(body + strlen(body), sizeof(body) - strlen(body),
			 "%s\"r%d\"", i ? ", " : "", i);
	strcat(body, "]}");
	cr_assert_eq(users_put_parse(body, &p, &why), TERN_EINVAL);
}

Test(users_value, merge_and_parse)
{
	char hash[AUTH_HASH_STRLEN], *v = NULL, *v2 = NULL;
	const char *h, *why = NULL;
	json_t *j, *roles, *r = json_pack("[s]", "reader");

	make_hash(hash, sizeof(hash));
	/* a new user needs a hash */
	cr_assert_eq(users_user_value(NULL, NULL, r, &v), TERN_EINVAL);
	cr_assert_eq(users_user_value(NULL, hash, r, &v), 0);
	cr_assert_eq(users_user_parse(v, &j, &h, &roles, &why), 0, "%s", why);
	cr_assert_str_eq(h, hash);
	cr_assert_str_eq(json_string_value(json_array_get(roles, 0)),
			 "reader");
	json_decref(j);
	/* roles only: the hash is kept */
	cr_assert_eq(users_user_value(v, NULL, NULL, &v2), 0);
	cr_assert_eq(users_user_parse(v2, &j, &h, &roles, &why), 0);
	cr_assert_str_eq(h, hash);
	cr_assert_eq(json_array_size(roles), 1);
	json_decref(j);
	free(v2);
	/* no roles given, none before: an empty list */
	cr_assert_eq(users_user_value(NULL, hash, NULL, &v2), 0);
	cr_assert_not_null(strstr(v2, "\"roles\":[]"));
	free(v2);
	free(v);
	json_decref(r);
}

Test(users_value, refused_records)
{
	json_t *j, *roles;
	const char *h, *why;

	cr_assert_eq(users_user_parse("{}", &j, &h, &roles, &why),
		     TERN_EINVAL);
	cr_assert_eq(users_user_parse("{\"hash\": \"plain\"}", &j, &h, &roles,
				      &why),
		     TERN_EINVAL);
	cr_assert_eq(users_user_parse("nope", &j, &h, &roles, &why),
		     TERN_EINVAL);
	cr_assert_null(j);
}

Test(acl_rules, canonical_from_yaml_and_json)
{
	char err[256], *json = NULL;

	cr_assert_eq(acl_rules_canonical(S("- allow: publish\n"
					   "  topic: dev/%u/#\n"
					   "  max_qos: 1\n"
					   "- deny: all\n"
					   "  topic: '#'\n"
					   "  retain: false\n"),
					 &json, err, sizeof(err)),
		     0, "%s", err);
	json_t *j = json_loads(json, 0, NULL);
	cr_assert_eq(json_array_size(j), 2);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_array_get(j, 0),
						  "allow")),
		"publish");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(j, 0),
							"max_qos")),
		     1);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(j, 1), "deny")),
			 "all");
	cr_assert(json_is_false(json_object_get(json_array_get(j, 1),
						"retain")));
	json_decref(j);
	free(json);
	/* {"rules": [...]} with spaces, as the node re-dumps JSON */
	cr_assert_eq(acl_rules_canonical(S("{\"rules\": [{\"allow\": "
					   "\"subscribe\", \"topic\": "
					   "\"a/+\"}]}"),
					 &json, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(json, "[{\"allow\":\"subscribe\",\"topic\":\"a/+\","
			       "\"max_qos\":2,\"retain\":true}]");
	free(json);
	/* no rules: a role that allows nothing */
	cr_assert_eq(acl_rules_canonical(S("[]"), &json, err, sizeof(err)),
		     0);
	cr_assert_str_eq(json, "[]");
	free(json);
}

Test(acl_rules, refused)
{
	static const char *const bad[] = {
		"",
		"allow: publish",
		"{\"rules\": [], \"more\": 1}",
		"- allow: fly\n  topic: a\n",
		"- allow: publish\n",
		"- allow: publish\n  topic: a/#/b\n",
		"- allow: publish\n  topic: a\n  max_qos: 3\n",
		"- allow: publish\n  topic: a\n  colour: red\n",
		"[{\"allow\": \"publish\", \"deny\": \"all\", \"topic\": \"a\"}]",
		"- [",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "", *json = NULL;

		cr_assert_eq(acl_rules_canonical(S(bad[i]), &json, err,
						 sizeof(err)),
			     TERN_EINVAL, "accepted %s", bad[i]);
		cr_assert_null(json);
		cr_assert(err[0]);
	}
}

static struct acl_subject *subject(struct acl_policy *p, const char *user)
{
	struct acl_identity id = {.user = user,
				  .user_len = user ? strlen(user) : 0,
				  .client_id = "c1",
				  .client_id_len = 2};
	struct acl_subject *s = acl_subject_new(p, &id);

	cr_assert_not_null(s);
	return s;
}

Test(acl_store, merged_with_the_file)
{
	const char *file = "roles:\n"
			   "  base:\n"
			   "    - allow: publish\n"
			   "      topic: file/#\n"
			   "users:\n"
			   "  ann: [base]\n"
			   "default_roles: [base]\n";
	const char *store = "{\"roles\": {\"base\": [{\"allow\": \"publish\", "
			    "\"topic\": \"store/#\"}], \"extra\": [{\"allow\": "
			    "\"publish\", \"topic\": \"x/%u\"}]}, \"users\": "
			    "{\"ann\": [\"extra\", \"gone\"], \"bo\": "
			    "[\"extra\"]}}";
	struct acl_policy *p;
	struct acl_subject *s;
	char err[256];

	cr_assert_eq(acl_policy_build(S(file), "acl.yaml", S(store), &p, err,
				      sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(acl_policy_roles(p), 2);
	/* the store's user entry replaces the file's; unknown role skipped */
	s = subject(p, "ann");
	cr_assert(acl_check_publish(s, S("x/ann"), 0, false));
	cr_assert_not(acl_check_publish(s, S("file/a"), 0, false));
	acl_subject_free(s);
	/* default roles get the store's version of "base" */
	s = subject(p, "cy");
	cr_assert(acl_check_publish(s, S("store/a"), 0, false));
	cr_assert_not(acl_check_publish(s, S("file/a"), 0, false));
	acl_subject_free(s);
	acl_policy_unref(p);
}

Test(acl_store, open_without_a_file)
{
	const char *store = "{\"roles\": {\"r\": [{\"allow\": \"publish\", "
			    "\"topic\": \"a/#\"}]}, \"users\": {\"u\": "
			    "[\"r\"]}}";
	struct acl_policy *p;
	struct acl_subject *s;
	char err[256];

	cr_assert_eq(acl_policy_build(NULL, 0, "", S(store), &p, err,
				      sizeof(err)),
		     0, "%s", err);
	s = subject(p, "u"); /* a store user with roles: restricted */
	cr_assert(acl_check_publish(s, S("a/b"), 0, false));
	cr_assert_not(acl_check_publish(s, S("b"), 0, false));
	cr_assert_eq(acl_check_subscribe(s, S("b/#")), -1);
	acl_subject_free(s);
	s = subject(p, "other"); /* no roles: unrestricted, as before */
	cr_assert(acl_check_publish(s, S("b"), 2, true));
	cr_assert_eq(acl_check_subscribe(s, S("#")), 2);
	acl_subject_free(s);
	s = subject(p, NULL);
	cr_assert(acl_check_publish(s, S("$anything"), 2, true));
	acl_subject_free(s);
	acl_policy_unref(p);
}

Test(acl_store, file_errors_still_reported)
{
	struct acl_policy *p;
	char err[256];

	cr_assert_eq(acl_policy_build(S("roles:\n  a:\n    - allow: x\n"),
				      "acl.yaml", S("{\"roles\": {}}"), &p,
				      err, sizeof(err)),
		     TERN_ECONFIG);
	cr_assert_not_null(strstr(err, "acl.yaml:3"), "%s", err);
}
