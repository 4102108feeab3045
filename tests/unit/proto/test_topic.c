/*
 * test_topic.c - topic names, topic filters, matching and shared
 * subscriptions against MQTT 3.1.1 / 5.0 sections 4.7 and 4.8.2.
 * Test names carry the spec statement they check.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>

#include "topic.h"

/* A byte range written as a literal, so it may hold a NUL byte. */
#define BYTES(lit) lit, (sizeof(lit) - 1)

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Criterion runs each parameter in a fresh process image (BoxFort), so
 * parameters hold their bytes inline rather than pointers.
 */
struct valid_case {
	char s[40];
	size_t len;
	bool valid;
};

/* ---- topic names ------------------------------------------------------- */

ParameterizedTestParameters(topic, mqtt_4_7_1_1_no_wildcards_in_names)
{
	/* clang-format off */
	static struct valid_case cases[] = {
		{BYTES("sport/tennis/player1"), true},
		{BYTES("sport"), true},
		{BYTES("/"), true},
		{BYTES("//"), true},
		{BYTES("/finance"), true},
		{BYTES("sport/"), true},
		{BYTES("$SYS/monitor/Clients"), true},
		{BYTES("Accounts payable"), true},
		{BYTES("caf\xc3\xa9/\xe2\x82\xac"), true},
		{BYTES("sport+"), false},
		{BYTES("+"), false},
		{BYTES("sport/+/player1"), false},
		{BYTES("#"), false},
		{BYTES("sport/#"), false},
		{BYTES("sport/tennis#"), false},
		{BYTES("a/b+c"), false},
	};
	/* clang-format on */
	return cr_make_param_array(struct valid_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.7.1-1] [MQTT-3.3.2-2] */
ParameterizedTest(struct valid_case *c, topic,
                  mqtt_4_7_1_1_no_wildcards_in_names)
{
	cr_expect_eq(topic_name_valid(c->s, c->len, 0), c->valid,
	             "name \"%s\": expected %s", c->s,
	             c->valid ? "valid" : "invalid");
}

ParameterizedTestParameters(topic, mqtt_4_7_3_name_length_and_null)
{
	/* clang-format off */
	static struct valid_case cases[] = {
		{BYTES(""), false},    /* [MQTT-4.7.3-1] */
		{BYTES("a"), true},    /* [MQTT-4.7.3-1] */
		{BYTES("\0"), false},  /* [MQTT-4.7.3-2] */
		{BYTES("a\0b"), false},
		{BYTES("a/\0"), false},
		{BYTES("\0/a"), false},
	};
	/* clang-format on */
	return cr_make_param_array(struct valid_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.7.3-1] [MQTT-4.7.3-2] */
ParameterizedTest(struct valid_case *c, topic, mqtt_4_7_3_name_length_and_null)
{
	cr_expect_eq(topic_name_valid(c->s, c->len, 0), c->valid,
	             "name of %zu bytes: expected %s", c->len,
	             c->valid ? "valid" : "invalid");
}

/* [MQTT-4.7.3-3] */
Test(topic, mqtt_4_7_3_3_at_most_65535_bytes)
{
	char *buf = malloc(65536);

	cr_assert_not_null(buf);
	memset(buf, 'a', 65536);
	cr_expect(topic_name_valid(buf, 65535, 0));
	cr_expect_not(topic_name_valid(buf, 65536, 0));
	cr_expect(topic_filter_valid(buf, 65535, 0));
	cr_expect_not(topic_filter_valid(buf, 65536, 0));
	buf[65533] = '/';
	buf[65534] = '#';
	cr_expect(topic_filter_valid(buf, 65535, 0));
	cr_expect_not(topic_name_valid(buf, 65535, 0));
	free(buf);
}

/* The functions take byte ranges: bytes past len are not looked at. */
Test(topic, byte_ranges_not_nul_terminated)
{
	cr_expect(topic_name_valid("a/b+", 3, 0));
	cr_expect(topic_name_valid("a/b\0", 3, 0));
	cr_expect(topic_filter_valid("a/#/b", 3, 0));
	cr_expect(topic_filter_valid("a/+x", 3, 0));
	cr_expect_not(topic_filter_valid("a/#", 2, 1)); /* "a/": 2 levels */
	cr_expect(topic_matches("a/+XYZ", 3, "a/bXYZ", 3));
	cr_expect_not(topic_matches("a/b", 3, "a/bc", 4));
	cr_expect(topic_matches("a/#", 3, "a/bc", 1));
	cr_expect_not(topic_filter_has_wildcard("a/b/#", 3));
}

/* ---- topic filters ----------------------------------------------------- */

ParameterizedTestParameters(topic, mqtt_4_7_1_2_multilevel_wildcard_last)
{
	/* clang-format off */
	static struct valid_case cases[] = {
		/* the spec's examples */
		{BYTES("sport/tennis/player1/#"), true},
		{BYTES("sport/#"), true},
		{BYTES("#"), true},
		{BYTES("sport/tennis/#"), true},
		{BYTES("sport/tennis#"), false},
		{BYTES("sport/tennis/#/ranking"), false},
		/* more */
		{BYTES("/#"), true},
		{BYTES("+/#"), true},
		{BYTES("$SYS/#"), true},
		{BYTES("a//#"), true},
		{BYTES("#/"), false},
		{BYTES("#/a"), false},
		{BYTES("##"), false},
		{BYTES("a/##"), false},
		{BYTES("a/#b"), false},
		{BYTES("a/b#"), false},
		{BYTES("#a"), false},
		{BYTES("a/#/#"), false},
	};
	/* clang-format on */
	return cr_make_param_array(struct valid_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.7.1-2] */
ParameterizedTest(struct valid_case *c, topic,
                  mqtt_4_7_1_2_multilevel_wildcard_last)
{
	cr_expect_eq(topic_filter_valid(c->s, c->len, 0), c->valid,
	             "filter \"%s\": expected %s", c->s,
	             c->valid ? "valid" : "invalid");
}

ParameterizedTestParameters(topic, mqtt_4_7_1_3_single_level_wildcard_level)
{
	/* clang-format off */
	static struct valid_case cases[] = {
		/* the spec's examples */
		{BYTES("+"), true},
		{BYTES("+/tennis/#"), true},
		{BYTES("sport+"), false},
		{BYTES("sport/+/player1"), true},
		{BYTES("+/+"), true},
		{BYTES("/+"), true},
		/* more */
		{BYTES("+/"), true},
		{BYTES("sport/+"), true},
		{BYTES("+/+/+"), true},
		{BYTES("a/+/#"), true},
		{BYTES("++"), false},
		{BYTES("+a"), false},
		{BYTES("a/+b/c"), false},
		{BYTES("a/b+/c"), false},
		{BYTES("+#"), false},
		{BYTES("#+"), false},
	};
	/* clang-format on */
	return cr_make_param_array(struct valid_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.7.1-3] */
ParameterizedTest(struct valid_case *c, topic,
                  mqtt_4_7_1_3_single_level_wildcard_level)
{
	cr_expect_eq(topic_filter_valid(c->s, c->len, 0), c->valid,
	             "filter \"%s\": expected %s", c->s,
	             c->valid ? "valid" : "invalid");
}

ParameterizedTestParameters(topic, mqtt_4_7_3_filter_length_and_null)
{
	/* clang-format off */
	static struct valid_case cases[] = {
		{BYTES(""), false}, /* [MQTT-4.7.3-1] */
		{BYTES("/"), true},
		{BYTES("a//b"), true},
		{BYTES("\0"), false}, /* [MQTT-4.7.3-2] */
		{BYTES("a\0b"), false},
		{BYTES("+/\0"), false},
		{BYTES("a/\0/#"), false},
		{BYTES("$share/g/f"), true}, /* still a plain filter here */
	};
	/* clang-format on */
	return cr_make_param_array(struct valid_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.7.3-1] [MQTT-4.7.3-2] */
ParameterizedTest(struct valid_case *c, topic,
                  mqtt_4_7_3_filter_length_and_null)
{
	cr_expect_eq(topic_filter_valid(c->s, c->len, 0), c->valid,
	             "filter of %zu bytes: expected %s", c->len,
	             c->valid ? "valid" : "invalid");
}

Test(topic, filter_has_wildcard)
{
	cr_expect(topic_filter_has_wildcard(BYTES("#")));
	cr_expect(topic_filter_has_wildcard(BYTES("+")));
	cr_expect(topic_filter_has_wildcard(BYTES("a/+/b")));
	cr_expect(topic_filter_has_wildcard(BYTES("a/b/#")));
	cr_expect(topic_filter_has_wildcard(BYTES("+/a")));
	cr_expect_not(topic_filter_has_wildcard(BYTES("a/b")));
	cr_expect_not(topic_filter_has_wildcard(BYTES("/")));
	cr_expect_not(topic_filter_has_wildcard(BYTES("$SYS/broker")));
	cr_expect_not(topic_filter_has_wildcard(BYTES("a//b")));
	/* only whole levels count */
	cr_expect_not(topic_filter_has_wildcard(BYTES("a+/b#")));
}

/* ---- level limits ------------------------------------------------------ */

Test(topic, level_limit_names)
{
	cr_expect(topic_name_valid(BYTES("a/b/c"), 3));
	cr_expect_not(topic_name_valid(BYTES("a/b/c"), 2));
	cr_expect(topic_name_valid(BYTES("a/b/c"), 0)); /* no limit */
	cr_expect(topic_name_valid(BYTES("a"), 1));
	cr_expect_not(topic_name_valid(BYTES("/"), 1)); /* two empty levels */
	cr_expect(topic_name_valid(BYTES("/"), 2));
	cr_expect_not(topic_name_valid(BYTES("a//"), 2));
	cr_expect(topic_name_valid(BYTES("a//"), 3));
}

Test(topic, level_limit_filters)
{
	cr_expect(topic_filter_valid(BYTES("a/+/#"), 3));
	cr_expect_not(topic_filter_valid(BYTES("a/+/#"), 2));
	cr_expect(topic_filter_valid(BYTES("#"), 1));
	cr_expect(topic_filter_valid(BYTES("+/+/+/+"), 0));
	cr_expect_not(topic_filter_valid(BYTES("+/+/+/+"), 3));
	cr_expect_not(topic_filter_valid(BYTES("//"), 2));
}

Test(topic, level_limit_deepest)
{
	/* 65535 bytes of '/': 65536 empty levels. */
	char *buf = malloc(65535);

	cr_assert_not_null(buf);
	memset(buf, '/', 65535);
	cr_expect(topic_name_valid(buf, 65535, 0));
	cr_expect(topic_name_valid(buf, 65535, 65536));
	cr_expect_not(topic_name_valid(buf, 65535, 65535));
	cr_expect(topic_filter_valid(buf, 65535, 65536));
	cr_expect_not(topic_filter_valid(buf, 65535, 65535));
	cr_expect(topic_matches(buf, 65535, buf, 65535));
	cr_expect_not(topic_matches(buf, 65535, buf, 65534));
	/* "+/+/.../+/#": 32768 levels */
	for (size_t i = 0; i < 65535; i += 2)
		buf[i] = '+';
	buf[65534] = '#';
	cr_expect(topic_filter_valid(buf, 65535, 32768));
	cr_expect_not(topic_filter_valid(buf, 65535, 32767));
	free(buf);
}

/* ---- matching ---------------------------------------------------------- */

struct match_case {
	char ref[8]; /* where the row comes from */
	char filter[40];
	char topic[40];
	bool matches;
};

ParameterizedTestParameters(topic, matches)
{
	/* clang-format off */
	static struct match_case cases[] = {
		/* 4.7.1.2 multi-level wildcard [MQTT-4.7.1-2] */
		{"4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player1", true},
		{"4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"4.7.1.2", "sport/tennis/player1/#",
		 "sport/tennis/player1/score/wimbledon", true},
		{"4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player2", false},
		{"4.7.1.2", "sport/tennis/player1/#", "sport/tennis", false},
		{"4.7.1.2", "sport/#", "sport", true},
		{"4.7.1.2", "sport/#", "sport/x/y", true},
		{"4.7.1.2", "sport/#", "sport/", true},
		{"4.7.1.2", "sport/#", "sports", false},
		{"4.7.1.2", "sport/#", "spor", false},
		{"4.7.1.2", "sport/tennis/#", "sport/tennis", true},
		{"4.7.1.2", "sport/tennis/#", "sport", false},
		{"4.7.1.2", "#", "sport/tennis/player1", true},
		{"4.7.1.2", "#", "sport", true},
		{"4.7.1.2", "#", "/", true},
		{"4.7.1.2", "/#", "/finance", true},
		{"4.7.1.2", "/#", "/", true},
		{"4.7.1.2", "/#", "finance", false},
		/* 4.7.1.3 single-level wildcard [MQTT-4.7.1-3] */
		{"4.7.1.3", "sport/tennis/+", "sport/tennis/player1", true},
		{"4.7.1.3", "sport/tennis/+", "sport/tennis/player2", true},
		{"4.7.1.3", "sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"4.7.1.3", "sport/tennis/+", "sport/tennis", false},
		{"4.7.1.3", "sport/+", "sport", false},
		{"4.7.1.3", "sport/+", "sport/", true},
		{"4.7.1.3", "+/+", "/finance", true},
		{"4.7.1.3", "/+", "/finance", true},
		{"4.7.1.3", "+", "/finance", false},
		{"4.7.1.3", "+", "finance", true},
		{"4.7.1.3", "+", "/", false},
		{"4.7.1.3", "+/+", "/", true},
		{"4.7.1.3", "+/tennis/#", "sport/tennis/player1", true},
		{"4.7.1.3", "+/tennis/#", "sport/tennis", true},
		{"4.7.1.3", "+/tennis/#", "sport/golf", false},
		{"4.7.1.3", "sport/+/player1", "sport/tennis/player1", true},
		{"4.7.1.3", "sport/+/player1", "sport//player1", true},
		{"4.7.1.3", "sport/+/player1", "sport/player1", false},
		{"4.7.1.3", "+/+/+", "a/b", false},
		{"4.7.1.3", "+/+/+", "//", true},
		{"4.7.1.3", "a/+/#", "a/b", true},
		{"4.7.1.3", "a/+/#", "a/b/c/d", true},
		{"4.7.1.3", "a/+/#", "a", false},
		/* 4.7.2 topics beginning with $ [MQTT-4.7.2-1] */
		{"4.7.2", "#", "$SYS/monitor/Clients", false},
		{"4.7.2", "#", "$SYS", false},
		{"4.7.2", "+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"4.7.2", "$SYS/#", "$SYS/monitor/Clients", true},
		{"4.7.2", "$SYS/#", "$SYS", true},
		{"4.7.2", "$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"4.7.2", "$SYS/+", "$SYS/x", true},
		{"4.7.2", "+/x", "$SYS/x", false},
		{"4.7.2", "+", "$SYS", false},
		{"4.7.2", "+/#", "$SYS/x", false},
		{"4.7.2", "+", "$", false},
		{"4.7.2", "$", "$", true},
		{"4.7.2", "a/+", "a/$SYS", true}, /* only the first level */
		{"4.7.2", "#", "a/$SYS", true},
		{"4.7.2", "+/+", "a$/b", true},
		/* 4.7.3 no normalization [MQTT-4.7.3-4], empty levels */
		{"4.7.3", "ACCOUNTS", "Accounts", false},
		{"4.7.3", "Accounts payable", "Accounts payable", true},
		{"4.7.3", "a/b", "a//b", false},
		{"4.7.3", "a//b", "a//b", true},
		{"4.7.3", "a/+/b", "a//b", true},
		{"4.7.3", "a", "a/", false},
		{"4.7.3", "a/", "a", false},
		{"4.7.3", "/a", "a", false},
		{"4.7.3", "/", "/", true},
		{"4.7.3", "a/b", "a/bc", false},
		{"4.7.3", "a/bc", "a/b", false},
		{"4.7.3", "caf\xc3\xa9/+", "caf\xc3\xa9/x", true},
		{"4.7.3", "caf\xc3\xa9", "cafe", false},
	};
	/* clang-format on */
	return cr_make_param_array(struct match_case, cases, N_ELEMS(cases));
}

ParameterizedTest(struct match_case *c, topic, matches)
{
	size_t fl = strlen(c->filter), tl = strlen(c->topic);

	cr_assert(topic_filter_valid(c->filter, fl, 0), "bad row: %s",
	          c->filter);
	cr_assert(topic_name_valid(c->topic, tl, 0), "bad row: %s", c->topic);
	cr_expect_eq(topic_matches(c->filter, fl, c->topic, tl), c->matches,
	             "%s: \"%s\" %s \"%s\"", c->ref, c->filter,
	             c->matches ? "should match" : "should not match",
	             c->topic);
}

/* A filter without wildcards matches exactly itself. */
Test(topic, mqtt_4_7_3_4_plain_filter_matches_only_itself)
{
	static const char *t[] = {"a",  "a/b", "a//b",   "/",  "/a",
	                          "a/", "A",   "$SYS/a", "a b"};

	for (size_t i = 0; i < N_ELEMS(t); i++)
		for (size_t j = 0; j < N_ELEMS(t); j++)
			cr_expect_eq(topic_matches(t[i], strlen(t[i]), t[j],
			                           strlen(t[j])),
			             i == j, "%s vs %s", t[i], t[j]);
}

/* ---- shared subscriptions ---------------------------------------------- */

struct shared_case {
	char in[24];
	int rc;
	char group[8];
	char filter[8];
};

ParameterizedTestParameters(topic, mqtt_4_8_2_shared_parse)
{
	/* clang-format off */
	static struct shared_case cases[] = {
		{"$share/g/f", 1, "g", "f"},
		{"$share/group/a/b/#", 1, "group", "a/b/#"},
		{"$share/g/+", 1, "g", "+"},
		{"$share/g/#", 1, "g", "#"},
		{"$share/g//", 1, "g", "/"},
		{"$share/g/$SYS/#", 1, "g", "$SYS/#"},
		{"$share/\xc3\xa9/f", 1, "\xc3\xa9", "f"},
		/* [MQTT-4.8.2-1] a ShareName of at least one character */
		{"$share//f", -1, "", ""},
		{"$share/", -1, "", ""},
		{"$share//", -1, "", ""},
		/* [MQTT-4.8.2-2] no '+' or '#', then "/" and a filter */
		{"$share/g", -1, "", ""},
		{"$share/g/", -1, "", ""},
		{"$share/g+/f", -1, "", ""},
		{"$share/g#/f", -1, "", ""},
		{"$share/+/f", -1, "", ""},
		{"$share/#/f", -1, "", ""},
		{"$share/a+b/f", -1, "", ""},
		/* not shared subscriptions */
		{"$sharex/g/f", 0, "", ""},
		{"$share", 0, "", ""},
		{"$SHARE/g/f", 0, "", ""},
		{"share/g/f", 0, "", ""},
		{"$shar/g/f", 0, "", ""},
		{"a/$share/g/f", 0, "", ""},
		{"/$share/g/f", 0, "", ""},
		{"$queue/f", 0, "", ""},
		{"#", 0, "", ""},
		{"", 0, "", ""},
	};
	/* clang-format on */
	return cr_make_param_array(struct shared_case, cases, N_ELEMS(cases));
}

/* [MQTT-4.8.2-1] [MQTT-4.8.2-2] */
ParameterizedTest(struct shared_case *c, topic, mqtt_4_8_2_shared_parse)
{
	const char *g = NULL, *f = NULL;
	size_t gl = 0, fl = 0;
	int rc = topic_shared_parse(c->in, strlen(c->in), &g, &gl, &f, &fl);

	cr_assert_eq(rc, c->rc, "\"%s\": rc %d, expected %d", c->in, rc, c->rc);
	if (rc != 1)
		return;
	cr_expect_eq(gl, strlen(c->group), "\"%s\": group length", c->in);
	cr_expect_eq(memcmp(g, c->group, gl), 0, "\"%s\": group", c->in);
	cr_expect_eq(fl, strlen(c->filter), "\"%s\": filter length", c->in);
	cr_expect_eq(memcmp(f, c->filter, fl), 0, "\"%s\": filter", c->in);
	/* the ranges point into the input */
	cr_expect(g >= c->in && f + fl == c->in + strlen(c->in));
}

Test(topic, mqtt_4_8_2_shared_parse_byte_range)
{
	static const char in[] = "$share/g/fXYZ";
	const char *g, *f;
	size_t gl, fl;

	cr_assert_eq(topic_shared_parse(in, 10, &g, &gl, &f, &fl), 1);
	cr_expect_eq(gl, 1);
	cr_expect_eq(fl, 1);
	cr_expect_eq(*f, 'f');
	/* cut before the filter: no filter follows */
	cr_expect_eq(topic_shared_parse(in, 9, &g, &gl, &f, &fl), -1);
	cr_expect_eq(topic_shared_parse(in, 8, &g, &gl, &f, &fl), -1);
	cr_expect_eq(topic_shared_parse(in, 6, &g, &gl, &f, &fl), 0);
}
