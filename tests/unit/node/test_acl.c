/*
 * test_acl.c - the ACL engine (node/acl.c) without sockets or loops: filter
 * relations, the file parser and its errors, role resolution, and the
 * publish / subscribe / receive checks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "tern_err.h"

#define S(s) (s), strlen(s)

static bool covers(const char *outer, const char *inner)
{
	return acl_filter_covers(S(outer), S(inner));
}

static bool overlaps(const char *a, const char *b)
{
	bool ab = acl_filter_overlaps(S(a), S(b));

	/* the relation is symmetric */
	cr_assert_eq(ab, acl_filter_overlaps(S(b), S(a)), "%s vs %s", a, b);
	return ab;
}

Test(acl_filter, covers)
{
	cr_assert(covers("#", "#"));
	cr_assert(covers("#", "a/b"));
	cr_assert(covers("#", "a/+/c"));
	cr_assert(covers("a/#", "a"));
	cr_assert(covers("a/#", "a/#"));
	cr_assert(covers("a/#", "a/b/c"));
	cr_assert(covers("a/+", "a/b"));
	cr_assert(covers("a/+", "a/+"));
	cr_assert(covers("sensors/#", "sensors/+/temp"));
	cr_assert(covers("a/b", "a/b"));
	cr_assert(covers("+/+", "a/b"));
	cr_assert(covers("+", ""));
	cr_assert(covers("a/+/#", "a/b"));

	cr_assert_not(covers("a/b", "a/+"));
	cr_assert_not(covers("a/+", "a/#"));
	cr_assert_not(covers("a/+", "a"));
	cr_assert_not(covers("a/+", "a/b/c"));
	cr_assert_not(covers("a/b", "a/b/c"));
	cr_assert_not(covers("a/b/c", "a/b"));
	cr_assert_not(covers("a/b", "a/c"));
	cr_assert_not(covers("a/#", "b"));
	cr_assert_not(covers("a/#", "ab"));
	cr_assert_not(covers("sensors/#", "#"));
	cr_assert_not(covers("a/+/#", "a"));
}

/* [MQTT-4.7.2-1]: a leading wildcard does not match '$' topics, so it
 * cannot cover them either. */
Test(acl_filter, covers_dollar_topics)
{
	cr_assert_not(covers("#", "$SYS/#"));
	cr_assert_not(covers("+/#", "$SYS/broker"));
	cr_assert_not(covers("+", "$SYS"));
	cr_assert(covers("$SYS/#", "$SYS/broker/+"));
	cr_assert(covers("#", "+/x")); /* '+' never matches '$' either */
}

Test(acl_filter, overlaps)
{
	cr_assert(overlaps("#", "a"));
	cr_assert(overlaps("secrets/#", "#"));
	cr_assert(overlaps("secrets/#", "+/x"));
	cr_assert(overlaps("a/+", "+/b"));
	cr_assert(overlaps("a/#", "a"));
	cr_assert(overlaps("a/b", "a/b"));
	cr_assert(overlaps("a/+/c", "a/b/+"));

	cr_assert_not(overlaps("a/b", "a/c"));
	cr_assert_not(overlaps("a/+", "a"));
	cr_assert_not(overlaps("a/+", "a/b/c"));
	cr_assert_not(overlaps("a/b", "b/#"));
	cr_assert_not(overlaps("#", "$SYS/x"));
	cr_assert_not(overlaps("+/x", "$SYS/x"));
	cr_assert(overlaps("$SYS/#", "$SYS/+"));
}

/* ---- the file ------------------------------------------------------- */

static const char *POLICY =
	"roles:\n"
	"  device:\n"
	"    - allow: publish\n"
	"      topic: devices/%c/telemetry/#\n"
	"      max_qos: 1\n"
	"      retain: false\n"
	"    - allow: subscribe\n"
	"      topic: devices/%c/commands/#\n"
	"  operator:\n"
	"    - deny: all\n"
	"      topic: secrets/#\n"
	"    - allow: all\n"
	"      topic: \"#\"\n"
	"  monitor:\n"
	"    - allow: subscribe\n"
	"      topic: $SYS/#\n"
	"  guest:\n"
	"    - allow: subscribe\n"
	"      topic: public/#\n"
	"      max_qos: 0\n"
	"  home:\n"
	"    - deny: publish\n"
	"      topic: users/%u/locked\n"
	"    - allow: all\n"
	"      topic: users/%u/#\n"
	"  empty:\n"
	"users:\n"
	"  alice: [operator, monitor]\n"
	"  bob: [monitor, operator]\n"
	"  carol: [home]\n"
	"  nobody: []\n"
	"default_roles: [device]\n"
	"anonymous_roles: guest\n";

static struct acl_policy *policy(const char *text)
{
	struct acl_policy *p = NULL;
	char err[256] = "";

	cr_assert_eq(acl_policy_parse(S(text), "acl.yaml", &p, err,
				      sizeof(err)),
		     0, "%s", err);
	return p;
}

static struct acl_subject *subject(struct acl_policy *p, const char *user,
				   const char *id)
{
	struct acl_identity ident = {.user = user,
				     .user_len = user ? strlen(user) : 0,
				     .client_id = id,
				     .client_id_len = strlen(id)};
	struct acl_subject *s = acl_subject_new(p, &ident);

	cr_assert_not_null(s);
	return s;
}

static void parse_error(const char *text, const char *want)
{
	struct acl_policy *p = NULL;
	char err[256] = "";
	int rc = acl_policy_parse(S(text), "acl.yaml", &p, err, sizeof(err));

	cr_assert_eq(rc, TERN_ECONFIG, "accepted: %s", text);
	cr_assert_null(p);
	cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
}

Test(acl_file, parses_roles_and_users)
{
	struct acl_policy *p = policy(POLICY);

	cr_assert_eq(acl_policy_roles(p), 6);
	cr_assert_eq(acl_policy_users(p), 4);
	acl_policy_unref(p);
}

Test(acl_file, errors_name_the_line)
{
	parse_error("roles:\n  r:\n    - allow: publish\n", "acl.yaml:3: rule "
							  "without topic");
	parse_error("roles:\n  r:\n    - topic: a\n", "rule without allow");
	parse_error("roles:\n  r:\n    - allow: read\n      topic: a\n",
		    "acl.yaml:3: action must be publish, subscribe or all");
	parse_error("roles:\n  r:\n    - allow: all\n      topic: a/#/b\n",
		    "acl.yaml:4: invalid topic filter \"a/#/b\"");
	parse_error("roles:\n  r:\n    - allow: all\n      topic: a\n"
		    "      max_qos: 3\n",
		    "max_qos must be 0, 1 or 2");
	parse_error("roles:\n  r:\n    - allow: all\n      topic: a\n"
		    "      retain: maybe\n",
		    "retain must be true or false");
	parse_error("roles:\n  r:\n    - allow: all\n      topic: a\n"
		    "      colour: red\n",
		    "unknown rule key \"colour\"");
	parse_error("roles:\n  r:\n    - allow: all\n      deny: all\n"
		    "      topic: a\n",
		    "one allow or deny");
	parse_error("users:\n  alice: [ghost]\n", "alice: no role \"ghost\"");
	parse_error("roles: {}\nusers:\n  alice: [a]\n  alice: [a]\n",
		    "no role");
	parse_error("roles:\n  r: []\nusers:\n  alice: [r]\n  alice: [r]\n",
		    "user \"alice\" twice");
	parse_error("roles:\n  r: []\n  r: []\n", "role \"r\" twice");
	parse_error("rules: []\n", "unknown key \"rules\"");
	parse_error("", "empty ACL file");
	parse_error("- a\n- b\n", "is a mapping");
	parse_error("roles: [\n", "acl.yaml:");
	parse_error("roles:\n  r: 5\n", "a list of rules");
	parse_error("default_roles: [nope]\n", "default_roles: no role");
}

Test(acl_file, load_missing_file)
{
	struct acl_policy *p = NULL;
	char err[256] = "";

	cr_assert_eq(acl_policy_load("/nonexistent/acl.yaml", &p, err,
				     sizeof(err)),
		     TERN_ECONFIG);
	cr_assert(strstr(err, "/nonexistent/acl.yaml"), "%s", err);
}

/* ---- resolution and checks ------------------------------------------ */

Test(acl_check, roles_by_user_default_and_anonymous)
{
	struct acl_policy *p = policy(POLICY);
	struct acl_subject *a = subject(p, "alice", "c1");
	struct acl_subject *d = subject(p, "dave", "c2");
	struct acl_subject *anon = subject(p, NULL, "c3");
	struct acl_subject *none = subject(p, "nobody", "c4");
	char buf[128];

	acl_subject_roles(a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "operator,monitor");
	acl_subject_roles(d, buf, sizeof(buf));
	cr_assert_str_eq(buf, "device");
	acl_subject_roles(anon, buf, sizeof(buf));
	cr_assert_str_eq(buf, "guest");
	acl_subject_roles(none, buf, sizeof(buf));
	cr_assert_str_eq(buf, "");

	cr_assert(acl_check_publish(a, S("any/topic"), 2, true));
	cr_assert_not(acl_check_publish(a, S("secrets/x"), 0, false));
	cr_assert_eq(acl_check_subscribe(a, S("$SYS/#")), 2);
	/* default deny */
	cr_assert_not(acl_check_publish(none, S("a"), 0, false));
	cr_assert_eq(acl_check_subscribe(none, S("a")), -1);
	cr_assert_not(acl_check_publish(anon, S("public/x"), 0, false));
	cr_assert_eq(acl_check_subscribe(anon, S("public/#")), 0);
	acl_subject_free(a);
	acl_subject_free(d);
	acl_subject_free(anon);
	acl_subject_free(none);
	acl_policy_unref(p);
}

Test(acl_check, first_match_wins_in_role_order)
{
	struct acl_policy *p = policy(
		"roles:\n"
		"  open: [{allow: all, topic: \"#\"}]\n"
		"  closed: [{deny: all, topic: \"#\"}]\n"
		"users:\n"
		"  a: [open, closed]\n"
		"  b: [closed, open]\n");
	struct acl_subject *a = subject(p, "a", "x");
	struct acl_subject *b = subject(p, "b", "y");

	cr_assert(acl_check_publish(a, S("t"), 0, false));
	cr_assert_not(acl_check_publish(b, S("t"), 0, false));
	cr_assert_eq(acl_check_subscribe(a, S("t/#")), 2);
	cr_assert_eq(acl_check_subscribe(b, S("t/#")), -1);
	acl_subject_free(a);
	acl_subject_free(b);
	acl_policy_unref(p);
}

Test(acl_check, deny_overlapping_a_wildcard_subscription)
{
	struct acl_policy *p = policy(POLICY);
	struct acl_subject *a = subject(p, "alice", "c");

	cr_assert_eq(acl_check_subscribe(a, S("#")), -1);
	cr_assert_eq(acl_check_subscribe(a, S("+/x")), -1);
	cr_assert_eq(acl_check_subscribe(a, S("public/#")), 2);
	cr_assert_eq(acl_check_receive(a, S("secrets/k")), -1);
	cr_assert_eq(acl_check_receive(a, S("public/k")), 2);
	acl_subject_free(a);
	acl_policy_unref(p);
}

Test(acl_check, client_id_substitution_qos_and_retain)
{
	struct acl_policy *p = policy(POLICY);
	struct acl_subject *d = subject(p, "dave", "dev7");

	cr_assert(acl_check_publish(d, S("devices/dev7/telemetry/t"), 1,
				    false));
	cr_assert(acl_check_publish(d, S("devices/dev7/telemetry"), 0,
				    false));
	/* QoS above max_qos, retain not allowed: refused */
	cr_assert_not(acl_check_publish(d, S("devices/dev7/telemetry/t"), 2,
					false));
	cr_assert_not(acl_check_publish(d, S("devices/dev7/telemetry/t"), 0,
					true));
	cr_assert_not(acl_check_publish(d, S("devices/dev8/telemetry/t"), 0,
					false));
	cr_assert_eq(acl_check_subscribe(d, S("devices/dev7/commands/#")), 2);
	cr_assert_eq(acl_check_subscribe(d, S("devices/dev7/commands/+")), 2);
	cr_assert_eq(acl_check_subscribe(d, S("devices/+/commands/#")), -1);
	cr_assert_eq(acl_check_subscribe(d, S("devices/dev8/commands/#")), -1);
	acl_subject_free(d);
	acl_policy_unref(p);
}

/* A client id or username that would change the filter's shape is never
 * substituted: allow rules using it match nothing, deny rules everything. */
Test(acl_check, unsafe_substitution)
{
	struct acl_policy *p = policy(POLICY);
	const char *bad_ids[] = {"a/b", "+", "#", ""};

	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		struct acl_subject *d = subject(p, "dave", bad_ids[i]);

		cr_assert_not(acl_check_publish(d, S("devices/a/b/telemetry/x"),
						0, false));
		cr_assert_not(acl_check_publish(d, S("devices/x/telemetry/x"),
						0, false));
		cr_assert_eq(acl_check_subscribe(d, S("devices/+/commands/#")),
			     -1);
		acl_subject_free(d);
	}

	/* carol: deny publish users/%u/locked, allow all users/%u/# */
	struct acl_subject *c = subject(p, "carol", "c");
	struct acl_subject *evil = subject(p, "carol/x", "c");

	cr_assert(acl_check_publish(c, S("users/carol/a"), 0, false));
	cr_assert_not(acl_check_publish(c, S("users/carol/locked"), 0, false));
	/* the deny is for publish only */
	cr_assert_eq(acl_check_subscribe(c, S("users/carol/#")), 2);
	cr_assert_eq(acl_check_subscribe(c, S("users/+/#")), -1);
	/* "carol/x" is not carol (not in users: default role device) */
	cr_assert_not(acl_check_publish(evil, S("users/carol/x/a"), 0, false));
	cr_assert_eq(acl_check_subscribe(evil, S("users/carol/#")), -1);
	acl_subject_free(c);
	acl_subject_free(evil);

	/* a username with '/' is not in users: default_roles; anonymous
	 * clients have no %u at all */
	struct acl_policy *q = policy(
		"roles:\n"
		"  home:\n"
		"    - deny: publish\n"
		"      topic: users/%u/locked\n"
		"    - allow: all\n"
		"      topic: users/%u/#\n"
		"default_roles: [home]\n"
		"anonymous_roles: [home]\n");
	struct acl_subject *slash = subject(q, "x/y", "c");
	struct acl_subject *anon = subject(q, NULL, "c");

	/* the deny rule matches everything it covers: publish */
	cr_assert_not(acl_check_publish(slash, S("users/x/y/a"), 0, false));
	cr_assert_not(acl_check_publish(anon, S("users//a"), 0, false));
	cr_assert_eq(acl_check_subscribe(slash, S("users/x/y/#")), -1);
	cr_assert_eq(acl_check_subscribe(anon, S("users/+/#")), -1);
	acl_subject_free(slash);
	acl_subject_free(anon);
	acl_policy_unref(q);
	acl_policy_unref(p);
}

Test(acl_check, provider_roles_after_the_file_roles)
{
	struct acl_policy *p = policy(POLICY);
	const char *roles[] = {"monitor", "no-such-role", "guest"};
	size_t lens[] = {7, 12, 5};
	struct acl_identity ident = {.user = "dave",
				     .user_len = 4,
				     .client_id = "c",
				     .client_id_len = 1,
				     .roles = roles,
				     .role_lens = lens,
				     .n_roles = 3};
	struct acl_subject *s = acl_subject_new(p, &ident);
	char buf[128];

	cr_assert_not_null(s);
	acl_subject_roles(s, buf, sizeof(buf));
	cr_assert_str_eq(buf, "device,monitor,guest");
	cr_assert_eq(acl_check_subscribe(s, S("$SYS/broker/load")), 2);
	cr_assert_eq(acl_check_subscribe(s, S("public/x")), 0);
	acl_subject_free(s);
	acl_policy_unref(p);
}

Test(acl_check, subscribe_qos_cap)
{
	struct acl_policy *p = policy(POLICY);
	struct acl_subject *anon = subject(p, NULL, "c");

	cr_assert_eq(acl_check_subscribe(anon, S("public/+/x")), 0);
	cr_assert_eq(acl_check_receive(anon, S("public/a")), 0);
	cr_assert_eq(acl_check_receive(anon, S("private/a")), -1);
	acl_subject_free(anon);
	acl_policy_unref(p);
}

/* The subject keeps its own reference: the policy may be dropped by the
 * node (reload) while a connection still uses it. */
Test(acl_check, subject_outlives_the_node_reference)
{
	struct acl_policy *p = policy(POLICY);
	struct acl_subject *a = subject(p, "alice", "c1");

	acl_policy_unref(p);
	cr_assert(acl_check_publish(a, S("x"), 0, false));
	cr_assert_eq(acl_policy_roles(acl_subject_policy(a)), 6);
	acl_subject_free(a);
}
