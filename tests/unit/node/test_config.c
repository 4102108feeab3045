/*
 * test_config.c - config_load, config_validate, config_parse_listener:
 * defaults, the YAML file, TERN_* variables, flags and their precedence.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tern_err.h"

#ifndef TERN_FIXTURES
#define TERN_FIXTURES "tests/fixtures"
#endif
#ifndef TERN_SOURCE_DIR
#define TERN_SOURCE_DIR TERN_FIXTURES "/../.."
#endif

#define ERRLEN 512

/* Every key of struct tern_config, as named in YAML. */

static char tmp_path[64];

/* Writes text to a new file under /tmp; its name is in tmp_path. */
static const char *write_tmp(const char *text)
{
	int fd;

	strcpy(tmp_path, "/tmp/tern_test_config_XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmp_path;
}

static void remove_tmp(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
}

TestSuite(config, .fini = remove_tmp);

static int load_argv(struct tern_config *cfg, char **env, char *err,
                     char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return config_load(cfg, argc, argv, env, err, ERRLEN);
}

/* LOAD(&cfg, envp, err, "--flag", "value", ...): argv[0] is "ternd". */
#define LOAD(cfg, env, err, ...)                                               \
	load_argv(cfg, env, err, (char *[]){"ternd", __VA_ARGS__, NULL})
#define ENV(...) ((char *[]){__VA_ARGS__, NULL})

static uint32_t expected_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (uint32_t)n;
}

Test(config, defaults)
{
	struct tern_config c;
	char err[ERRLEN];

	config_defaults(&c);
	cr_assert_eq(c.n_listeners, 1);
	cr_assert_str_eq(c.listeners[0].url, "mqtt://127.0.0.1:1883");
	cr_assert_eq(c.listeners[0].scheme, TERN_SCHEME_MQTT);
	cr_assert_str_eq(c.listeners[0].host, "127.0.0.1");
	cr_assert_eq(c.listeners[0].port, 1883);
	cr_assert(c.listeners[0].loopback);
	cr_assert(!c.allow_anonymous);
	cr_assert_str_eq(c.data_dir, "./data");
	cr_assert_eq(c.log_level, TERN_LOG_INFO);
	cr_assert(!c.log_json);
	cr_assert_str_eq(c.port_file, "");
	cr_assert_eq(c.workers, 0);
	cr_assert_eq(c.max_connections, 100000);
	cr_assert_eq(c.max_packet_size, 1048576);
	cr_assert_eq(c.max_inflight, 128);
	cr_assert_eq(c.max_queued_messages, 1000);
	cr_assert_eq(c.max_queued_bytes, 64ull << 20);
	cr_assert_eq(c.max_topic_levels, 32);
	cr_assert_eq(c.max_topic_alias, 64);
	cr_assert_eq(c.keepalive_max, 0);
	cr_assert_eq(c.connect_timeout_ms, 10000);
	cr_assert_eq(c.max_session_expiry, 604800);
	cr_assert_eq(c.max_client_id_len, 256);
	cr_assert_eq(c.max_qos, 2);
	cr_assert(c.retain_available);
	cr_assert(c.wildcard_sub_available);
	cr_assert(c.shared_sub_available);
	cr_assert(c.sub_id_available);
	cr_assert_eq(c.sys_interval, 10);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), 0, "%s", err);
}

Test(config, load_without_anything_resolves_workers)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(load_argv(&c, NULL, err, (char *[]){"ternd", NULL}), 0,
	             "%s", err);
	cr_assert_eq(c.workers, expected_workers());
	cr_assert_eq(c.n_listeners, 1);
	/* argc 0 and a NULL err buffer are fine too */
	cr_assert_eq(config_load(&c, 0, (char *[]){NULL}, NULL, NULL, 0), 0);
}

Test(config, yaml_every_key)
{
	struct tern_config c;
	char err[ERRLEN];
	const char *path = write_tmp("# every key, none at its default\n"
	                             "listeners:\n"
	                             "  - mqtt://127.0.0.1:0\n"
	                             "  - mqtt://[::1]:1884\n"
	                             "allow_anonymous: yes\n"
	                             "data_dir: /var/lib/tern\n"
	                             "log_level: debug\n"
	                             "log_format: json\n"
	                             "port_file: \"/tmp/ports\"\n"
	                             "workers: 3\n"
	                             "max_connections: 5000\n"
	                             "max_packet_size: 2m\n"
	                             "max_inflight: 20\n"
	                             "max_queued_messages: 50\n"
	                             "max_queued_bytes: 1g\n"
	                             "max_topic_levels: 8\n"
	                             "max_topic_alias: 0\n"
	                             "keepalive_max: 600\n"
	                             "connect_timeout_ms: 2500\n"
	                             "max_session_expiry: 4294967295\n"
	                             "max_client_id_len: 64\n"
	                             "max_qos: 1\n"
	                             "retain_available: false\n"
	                             "wildcard_sub_available: off\n"
	                             "shared_sub_available: NO\n"
	                             "sub_id_available: 0\n"
	                             "sys_interval: 0\n");

	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path), 0, "%s",
	             err);
	cr_assert_eq(c.n_listeners, 2);
	cr_assert_str_eq(c.listeners[0].url, "mqtt://127.0.0.1:0");
	cr_assert_eq(c.listeners[0].port, 0);
	cr_assert_str_eq(c.listeners[1].host, "::1");
	cr_assert_eq(c.listeners[1].port, 1884);
	cr_assert(c.listeners[1].loopback);
	cr_assert(c.allow_anonymous);
	cr_assert_str_eq(c.data_dir, "/var/lib/tern");
	cr_assert_eq(c.log_level, TERN_LOG_DEBUG);
	cr_assert(c.log_json);
	cr_assert_str_eq(c.port_file, "/tmp/ports");
	cr_assert_eq(c.workers, 3);
	cr_assert_eq(c.max_connections, 5000);
	cr_assert_eq(c.max_packet_size, 2u << 20);
	cr_assert_eq(c.max_inflight, 20);
	cr_assert_eq(c.max_queued_messages, 50);
	cr_assert_eq(c.max_queued_bytes, 1ull << 30);
	cr_assert_eq(c.max_topic_levels, 8);
	cr_assert_eq(c.max_topic_alias, 0);
	cr_assert_eq(c.keepalive_max, 600);
	cr_assert_eq(c.connect_timeout_ms, 2500);
	cr_assert_eq(c.max_session_expiry, 4294967295u);
	cr_assert_eq(c.max_client_id_len, 64);
	cr_assert_eq(c.max_qos, 1);
	cr_assert(!c.retain_available);
	cr_assert(!c.wildcard_sub_available);
	cr_assert(!c.shared_sub_available);
	cr_assert(!c.sub_id_available);
	cr_assert_eq(c.sys_interval, 0);
}

Test(config, yaml_empty_file_and_null_string)
{
	struct tern_config c;
	char err[ERRLEN];
	const char *path = write_tmp("");

	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path), 0, "%s",
	             err);
	cr_assert_eq(c.max_qos, 2);
	remove_tmp();

	path = write_tmp("port_file:\nlog_level: warn\n");
	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path), 0, "%s",
	             err);
	cr_assert_str_eq(c.port_file, "");
	cr_assert_eq(c.log_level, TERN_LOG_WARN);
}

/* want: the error after the file's name, e.g. ":3: unknown key ..." */
static void expect_file_error(const char *text, const char *want_tail)
{
	struct tern_config c;
	char err[ERRLEN], want[ERRLEN];
	const char *path = write_tmp(text);

	snprintf(want, sizeof(want), "%s%s", path, want_tail);
	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, want);
	remove_tmp();
}

Test(config, yaml_unknown_key)
{
	expect_file_error("workers: 2\n"
	                  "\n"
	                  "max_conections: 5\n",
	                  ":3: unknown key \"max_conections\" (did you mean "
	                  "\"max_connections\"?)");
	expect_file_error("frobnicate: 1\n", ":1: unknown key \"frobnicate\"");
}

Test(config, yaml_bad_values_name_key_value_and_range)
{
	expect_file_error("workers: 2\nmax_qos: 5\n",
	                  ":2: max_qos: 5 is out of range (0..2)");
	expect_file_error("max_packet_size: 10\n",
	                  ":1: max_packet_size: 10 is out of range "
	                  "(64..268435460)");
	expect_file_error("max_packet_size: 1g\n",
	                  ":1: max_packet_size: 1g is out of range "
	                  "(64..268435460)");
	expect_file_error("max_inflight: 0\n",
	                  ":1: max_inflight: 0 is out of range (1..65535)");
	expect_file_error("max_client_id_len: 22\n",
	                  ":1: max_client_id_len: 22 is out of range "
	                  "(23..65535)");
	expect_file_error("max_connections: 4294967296\n",
	                  ":1: max_connections: 4294967296 is out of range "
	                  "(1..4294967295)");
	expect_file_error("workers: -1\n",
	                  ":1: workers: \"-1\" is not a whole number");
	expect_file_error("workers: 2k\n",
	                  ":1: workers: \"2k\" is not a whole number");
	expect_file_error("workers:\n", ":1: workers: missing value");
	expect_file_error("allow_anonymous: maybe\n",
	                  ":1: allow_anonymous: \"maybe\" is not a boolean "
	                  "(true/false, yes/no, on/off, 1/0)");
	expect_file_error("log_level: verbose\n",
	                  ":1: log_level: \"verbose\" is not one of "
	                  "error|warn|info|debug|trace");
	expect_file_error("log_format: xml\n",
	                  ":1: log_format: \"xml\" is not one of text|json");
	expect_file_error("max_queued_bytes: 64x\n",
	                  ":1: max_queued_bytes: \"64x\" is not a size (a "
	                  "whole number of bytes, optionally with suffix k, m "
	                  "or g)");
	expect_file_error("listeners:\n  - http://127.0.0.1:80\n",
	                  ":2: listener \"http://127.0.0.1:80\": unknown "
	                  "scheme \"http\" (expected mqtt, mqtts, ws or wss)");
	expect_file_error("listeners: mqtt://127.0.0.1:1883\n",
	                  ":1: listeners: expected a list of URLs, e.g. \"- "
	                  "mqtt://127.0.0.1:1883\"");
	expect_file_error("workers: [1, 2]\n",
	                  ":1: workers: expected a single value");
	expect_file_error("- workers\n",
	                  ":1: expected \"key: value\" lines at the top "
	                  "level");
	expect_file_error("workers: 1\n---\nworkers: 2\n",
	                  ":2: only one YAML document is allowed");
	expect_file_error("a: &x 1\nworkers: *x\n", ":1: unknown key \"a\"");
	expect_file_error("workers: &x 1\nmax_qos: *x\n",
	                  ":2: aliases (*name) are not supported");
}

Test(config, yaml_string_too_long)
{
	char text[700];

	memset(text, 'a', sizeof(text));
	memcpy(text, "data_dir: ", 10);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_file_error(text, ":1: data_dir: value is too long (688 bytes, "
	                        "at most 511)");
}

Test(config, yaml_duplicate_key)
{
	expect_file_error("workers: 2\nmax_qos: 1\nworkers: 3\n",
	                  ":3: duplicate key \"workers\" (first on line 1)");
	expect_file_error("listeners: [mqtt://127.0.0.1:1]\n"
	                  "listeners: [mqtt://127.0.0.1:2]\n",
	                  ":2: duplicate key \"listeners\" (first on line "
	                  "1)");
}

Test(config, yaml_syntax_error)
{
	expect_file_error("workers: 2\nmax_qos: 1\n- 3\n",
	                  ":3: did not find expected key (while parsing a "
	                  "block mapping on line 1)");
	expect_file_error("workers: 2\n\tmax_qos: 1\n",
	                  ":2: found a tab character that violates "
	                  "indentation (while scanning a plain scalar on line "
	                  "1)");
	expect_file_error("data_dir: \"/var\nworkers: 2\n",
	                  ":3: found unexpected end of stream (while scanning "
	                  "a quoted scalar on line 1)");
	expect_file_error("{workers: 2\n",
	                  ":2: did not find expected ',' or '}' (while parsing "
	                  "a flow mapping on line 1)");
}

Test(config, missing_file)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, NULL, err, "--config", "/nonexistent/t.yaml"),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "cannot open config file /nonexistent/t.yaml: "
	                      "No such file or directory");
	cr_assert_eq(LOAD(&c, NULL, err, "--config", "/tmp"), TERN_ECONFIG);
	cr_assert_str_eq(err, "cannot read config file /tmp: it is a "
	                      "directory");
}

Test(config, env_overrides_file)
{
	struct tern_config c;
	char err[ERRLEN];
	const char *path = write_tmp("max_connections: 10\nworkers: 2\n"
	                             "log_level: warn\n");

	cr_assert_eq(LOAD(&c,
	                  ENV("HOME=/root", "TERN_MAX_CONNECTIONS=5000",
	                      "TERN_ALLOW_ANONYMOUS=true",
	                      "TERN_LISTENERS=mqtt://127.0.0.1:1883, "
	                      "mqtt://0.0.0.0:1884",
	                      "TERN_LOG_FORMAT=json", "TERN_TEST_FOO=1",
	                      "TERND=/usr/bin/ternd"),
	                  err, "--config", (char *)path),
	             0, "%s", err);
	cr_assert_eq(c.max_connections, 5000);
	cr_assert_eq(c.workers, 2);
	cr_assert_eq(c.log_level, TERN_LOG_WARN);
	cr_assert(c.log_json);
	cr_assert(c.allow_anonymous);
	cr_assert_eq(c.n_listeners, 2);
	cr_assert_str_eq(c.listeners[1].url, "mqtt://0.0.0.0:1884");
	cr_assert(!c.listeners[1].loopback);
}

Test(config, env_errors)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, ENV("TERN_MAX_CONECTIONS=5"), err, NULL),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "unknown environment variable "
	                      "TERN_MAX_CONECTIONS (did you mean "
	                      "TERN_MAX_CONNECTIONS?) (TERN_* variables set "
	                      "configuration keys; see ternd --help)");
	cr_assert_eq(LOAD(&c, ENV("TERN_max_qos=1"), err, NULL), TERN_ECONFIG);
	cr_assert_eq(LOAD(&c, ENV("TERN_MAX_QOS=3"), err, NULL), TERN_ECONFIG);
	cr_assert_str_eq(err,
	                 "TERN_MAX_QOS: max_qos: 3 is out of range (0..2)");
	cr_assert_eq(
	    LOAD(&c, ENV("TERN_LISTENERS=mqtt://127.0.0.1:1,"), err, NULL),
	    TERN_ECONFIG);
	cr_assert_str_eq(err, "TERN_LISTENERS: listeners: empty URL in "
	                      "\"mqtt://127.0.0.1:1,\"");
	cr_assert_eq(LOAD(&c, ENV("TERN_LISTENERS="), err, NULL), TERN_ECONFIG);
	cr_assert_str_eq(err, "no listeners configured (e.g. listeners: "
	                      "[mqtt://127.0.0.1:1883])");
}

Test(config, flag_overrides_env)
{
	struct tern_config c;
	char err[ERRLEN];
	const char *path = write_tmp("workers: 2\ndata_dir: /from/file\n");

	cr_assert_eq(LOAD(&c,
	                  ENV("TERN_WORKERS=4", "TERN_DATA_DIR=/from/env",
	                      "TERN_LOG_LEVEL=error", "TERN_PORT_FILE=/env"),
	                  err, "--workers", "8", "--config", (char *)path,
	                  "--data-dir=/from/flag", "--log-level", "trace"),
	             0, "%s", err);
	cr_assert_eq(c.workers, 8);
	cr_assert_str_eq(c.data_dir, "/from/flag");
	cr_assert_eq(c.log_level, TERN_LOG_TRACE);
	cr_assert_str_eq(c.port_file, "/env");

	cr_assert_eq(LOAD(&c, ENV("TERN_PORT_FILE=/env"), err, "--port-file",
	                  "/flag", "--allow-anonymous"),
	             0, "%s", err);
	cr_assert_str_eq(c.port_file, "/flag");
	cr_assert(c.allow_anonymous);
}

Test(config, listen_repeated_replaces_file_and_env)
{
	struct tern_config c;
	char err[ERRLEN];
	const char *path = write_tmp("listeners:\n"
	                             "  - mqtt://127.0.0.1:1\n"
	                             "  - mqtt://127.0.0.1:2\n");

	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path), 0, "%s",
	             err);
	cr_assert_eq(c.n_listeners, 2);

	cr_assert_eq(LOAD(&c, ENV("TERN_LISTENERS=mqtt://127.0.0.1:3"), err,
	                  "--config", (char *)path, "--listen",
	                  "mqtt://127.0.0.1:4", "--listen=mqtt://[::1]:5",
	                  "--listen", "mqtt://localhost"),
	             0, "%s", err);
	cr_assert_eq(c.n_listeners, 3);
	cr_assert_eq(c.listeners[0].port, 4);
	cr_assert_str_eq(c.listeners[1].host, "::1");
	cr_assert_eq(c.listeners[1].port, 5);
	cr_assert_str_eq(c.listeners[2].host, "localhost");
	cr_assert_eq(c.listeners[2].port, 1883);

	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://127.0.0.1:7",
	                  "--listen", "mqtt://127.0.0.1:7"),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "listeners mqtt://127.0.0.1:7 and "
	                      "mqtt://127.0.0.1:7 use the same address");
}

Test(config, too_many_listeners)
{
	struct tern_config c;
	char err[ERRLEN];
	char *argv[2 + 2 * (TERN_MAX_LISTENERS + 1)];
	char urls[TERN_MAX_LISTENERS + 1][32];
	int argc = 1;

	argv[0] = "ternd";
	for (int i = 0; i <= TERN_MAX_LISTENERS; i++) {
		snprintf(urls[i], sizeof(urls[i]), "mqtt://127.0.0.1:%d",
		         2000 + i);
		argv[argc++] = "--listen";
		argv[argc++] = urls[i];
	}
	argv[argc] = NULL;
	cr_assert_eq(config_load(&c, argc - 2, argv, NULL, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(c.n_listeners, TERN_MAX_LISTENERS);
	cr_assert_eq(config_load(&c, argc, argv, NULL, err, sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --listen: listeners: too many listeners "
	                      "(at most 16)");
}

Test(config, set_key_value)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, ENV("TERN_MAX_QOS=2"), err, "--set", "max_qos=0",
	                  "--set=retain_available=off", "--set",
	                  "log_format=json", "--set",
	                  "listeners=mqtt://127.0.0.1:9,mqtt://[::1]:9",
	                  "--set", "port_file="),
	             0, "%s", err);
	cr_assert_eq(c.max_qos, 0);
	cr_assert(!c.retain_available);
	cr_assert(c.log_json);
	cr_assert_eq(c.n_listeners, 2);
	cr_assert_str_eq(c.port_file, "");

	cr_assert_eq(LOAD(&c, NULL, err, "--set", "max_qoss=1"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --set: unknown key \"max_qoss\" (did you "
	                      "mean \"max_qos\"?)");
	cr_assert_eq(LOAD(&c, NULL, err, "--set", "max_qos"), TERN_ECONFIG);
	cr_assert_str_eq(err,
	                 "flag --set: expected KEY=VALUE, got \"max_qos\"");
	cr_assert_eq(LOAD(&c, NULL, err, "--set", "max_qos=9"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --set: max_qos: 9 is out of range (0..2)");
	cr_assert_eq(LOAD(&c, NULL, err, "--workers", "257"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --workers: workers: 257 is out of range "
	                      "(0..256)");
}

Test(config, size_suffixes)
{
	static const struct {
		const char *in;
		uint64_t want; /* 0: refused */
	} cases[] = {
	    {"64m", 64ull << 20},
	    {"64M", 64ull << 20},
	    {"1k", 1024},
	    {"3K", 3072},
	    {"2g", 2ull << 30},
	    {"12345", 12345},
	    {"17179869184g", 17179869184ull << 30},
	    {"17179869185g", 0}, /* overflows 64 bits */
	    {"99999999999999999999", 0},
	    {"64x", 0},
	    {"64mb", 0},
	    {"m", 0},
	    {"0", 0},
	    {" 1", 0},
	    {"1.5m", 0},
	};
	struct tern_config c;
	char err[ERRLEN], set[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		snprintf(set, sizeof(set), "max_queued_bytes=%s", cases[i].in);
		rc = LOAD(&c, NULL, err, "--set", set);
		if (cases[i].want) {
			cr_expect_eq(rc, 0, ": %s", cases[i].in, err);
			cr_expect_eq(c.max_queued_bytes, cases[i].want, "%s",
			             cases[i].in);
		} else {
			cr_expect_eq(rc, TERN_ECONFIG, "%s accepted",
			             cases[i].in);
		}
	}
	cr_assert_eq(LOAD(&c, ENV("TERN_MAX_PACKET_SIZE=256m"), err, NULL), 0,
	             "%s", err);
	cr_assert_eq(c.max_packet_size, 256u << 20);
	cr_assert_eq(LOAD(&c, ENV("TERN_MAX_CONNECTIONS=1k"), err, NULL),
	             TERN_ECONFIG);
}

Test(config, booleans)
{
	static const char *const yes[] = {"true", "yes",  "on",
	                                  "1",    "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "Off"};
	struct tern_config c;
	char err[ERRLEN], set[64];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(set, sizeof(set), "allow_anonymous=%s", yes[i]);
		cr_expect_eq(LOAD(&c, NULL, err, "--set", set), 0, "%s", err);
		cr_expect(c.allow_anonymous, "%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(set, sizeof(set), "sub_id_available=%s", no[i]);
		cr_expect_eq(LOAD(&c, NULL, err, "--set", set), 0, "%s", err);
		cr_expect(!c.sub_id_available, "%s", no[i]);
	}
	cr_assert_eq(LOAD(&c, NULL, err, "--set", "sub_id_available=2"),
	             TERN_ECONFIG);
	cr_assert_eq(LOAD(&c, NULL, err, "--set", "sub_id_available="),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --set: sub_id_available: missing value");
}

Test(config, listener_url_table)
{
	static const struct {
		const char *url;
		int rc;
		enum tern_scheme scheme;
		const char *host;
		uint16_t port;
		bool loopback;
	} cases[] = {
	    {"mqtt://127.0.0.1:1883", 0, TERN_SCHEME_MQTT, "127.0.0.1", 1883,
	     true},
	    {"mqtt://127.8.9.10:0", 0, TERN_SCHEME_MQTT, "127.8.9.10", 0, true},
	    {"mqtt://0.0.0.0:1883", 0, TERN_SCHEME_MQTT, "0.0.0.0", 1883,
	     false},
	    {"mqtt://10.1.2.3:65535", 0, TERN_SCHEME_MQTT, "10.1.2.3", 65535,
	     false},
	    {"mqtt://127.0.0.1", 0, TERN_SCHEME_MQTT, "127.0.0.1", 1883, true},
	    {"mqtts://127.0.0.1", 0, TERN_SCHEME_MQTTS, "127.0.0.1", 8883,
	     true},
	    {"ws://127.0.0.1", 0, TERN_SCHEME_WS, "127.0.0.1", 8080, true},
	    {"wss://127.0.0.1", 0, TERN_SCHEME_WSS, "127.0.0.1", 8443, true},
	    {"MQTT://127.0.0.1:1", 0, TERN_SCHEME_MQTT, "127.0.0.1", 1, true},
	    {"mqtt://[::1]:1883", 0, TERN_SCHEME_MQTT, "::1", 1883, true},
	    {"mqtt://[::1]", 0, TERN_SCHEME_MQTT, "::1", 1883, true},
	    {"mqtt://[::]:1883", 0, TERN_SCHEME_MQTT, "::", 1883, false},
	    {"mqtt://[fe80::1]:1", 0, TERN_SCHEME_MQTT, "fe80::1", 1, false},
	    {"mqtt://[::ffff:127.0.0.1]:1", 0, TERN_SCHEME_MQTT,
	     "::ffff:127.0.0.1", 1, true},
	    {"mqtt://localhost:1884", 0, TERN_SCHEME_MQTT, "localhost", 1884,
	     true},
	    {"mqtt://LocalHost:1", 0, TERN_SCHEME_MQTT, "localhost", 1, true},
	    {"mqtt://localhost", 0, TERN_SCHEME_MQTT, "localhost", 1883, true},
	    /* refused */
	    {"127.0.0.1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"http://127.0.0.1:80", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.0.0.1:", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.0.0.1:65536", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.0.0.1:-1", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.0.0.1:1883/", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.0.0.1:18x", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://example.com:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://127.1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://256.0.0.1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://::1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://[::1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://[::1]1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://[127.0.0.1]:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://[]:1883", TERN_ECONFIG, 0, NULL, 0, false},
	    {"mqtt://user@127.0.0.1:1883", TERN_ECONFIG, 0, NULL, 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tern_listener_cfg l;
		char err[ERRLEN] = "";
		int rc =
		    config_parse_listener(cases[i].url, &l, err, sizeof(err));

		cr_expect_eq(rc, cases[i].rc, ": rc %d (%s)", cases[i].url, rc,
		             err);
		if (rc != 0) {
			cr_expect(strstr(err, cases[i].url), ": %s",
			          cases[i].url, err);
			continue;
		}
		cr_expect_str_eq(l.url, cases[i].url);
		cr_expect_eq(l.scheme, cases[i].scheme, "%s", cases[i].url);
		cr_expect_str_eq(l.host, cases[i].host, "%s", cases[i].url);
		cr_expect_eq(l.port, cases[i].port, "%s", cases[i].url);
		cr_expect_eq(l.loopback, cases[i].loopback, "%s", cases[i].url);
	}
}

Test(config, listener_error_messages)
{
	struct tern_listener_cfg l;
	char err[ERRLEN];

	cr_assert_eq(config_parse_listener("mqtt://example.com:1883", &l, err,
	                                   sizeof(err)),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "listener \"mqtt://example.com:1883\": host "
	                      "\"example.com\" is not a numeric address: use "
	                      "an IPv4 address, [IPv6] or localhost (names "
	                      "are not resolved)");
	cr_assert_eq(
	    config_parse_listener("mqtt://::1:1883", &l, err, sizeof(err)),
	    TERN_ECONFIG);
	cr_assert_str_eq(err, "listener \"mqtt://::1:1883\": write IPv6 "
	                      "addresses in brackets, e.g. "
	                      "mqtt://[::1]:1883");
	cr_assert_eq(
	    config_parse_listener("mqtt://127.0.0.1:99999", &l, NULL, 0),
	    TERN_ECONFIG);
}

Test(config, non_loopback_needs_allow_anonymous)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://0.0.0.0:1883"),
	             TERN_ECONFIG);
	cr_assert_str_eq(err,
	                 "listener mqtt://0.0.0.0:1883 is not on loopback and "
	                 "no authentication provider is configured: set "
	                 "password_file, ldap_url or a JWT key (jwt_keys, "
	                 "jwks_file, jwks_url, jwt_secret_file), require "
	                 "client certificates as identity on a TLS listener "
	                 "(tls_client_cert: required, tls_username_from), or "
	                 "allow_anonymous: true to accept "
	                 "anonymous clients there (not recommended), or bind "
	                 "to 127.0.0.1");
	/* mutual TLS with the certificate as identity is a provider, on TLS
	 * listeners only, and only when the certificate is required */
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtts://0.0.0.0:8883",
	                  "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
	                  "--tls-ca", "/ca.pem", "--set",
	                  "tls_client_cert=required", "--set",
	                  "tls_username_from=cn"),
	             0, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtts://0.0.0.0:8883",
	                  "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
	                  "--tls-ca", "/ca.pem", "--set",
	                  "tls_client_cert=optional", "--set",
	                  "tls_username_from=cn"),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "is not on loopback") != NULL, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://0.0.0.0:1883",
	                  "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
	                  "--tls-ca", "/ca.pem", "--set",
	                  "tls_client_cert=required", "--set",
	                  "tls_username_from=san"),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "is not on loopback") != NULL, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://0.0.0.0:1883",
	                  "--password-file", "/nonexistent/passwd"),
	             0, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://0.0.0.0:1883",
	                  "--set", "ldap_url=ldaps://ldap.example.com"),
	             0, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://0.0.0.0:1883",
	                  "--allow-anonymous"),
	             0, "%s", err);
	cr_assert_eq(LOAD(&c, ENV("TERN_ALLOW_ANONYMOUS=yes"), err, "--listen",
	                  "mqtt://[::]:1883"),
	             0, "%s", err);

	/* and config_validate alone */
	config_defaults(&c);
	cr_assert_eq(config_parse_listener("mqtt://10.0.0.1:1883",
	                                   &c.listeners[1], err, sizeof(err)),
	             0);
	c.n_listeners = 2;
	cr_assert_eq(config_validate(&c, err, sizeof(err)), TERN_ECONFIG);
	cr_assert(strstr(err, "listener mqtt://10.0.0.1:1883 is not on "
	                      "loopback"));
	c.allow_anonymous = true;
	cr_assert_eq(config_validate(&c, err, sizeof(err)), 0, "%s", err);
}

Test(config, tls_listeners_need_cert_and_key)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtts://127.0.0.1"),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "listener mqtts://127.0.0.1 needs TLS: set "
	                      "tls_cert and tls_key"), "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "wss://127.0.0.1"),
	             TERN_ECONFIG);
	cr_assert(strstr(err, "needs TLS"), "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "wss://127.0.0.1",
	                  "--tls-cert", "c.pem", "--tls-key", "k.pem"),
	             0, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "ws://127.0.0.1:80"), 0,
	             "%s", err);
}

Test(config, validate_ranges)
{
	struct tern_config c;
	char err[ERRLEN];

	config_defaults(&c);
	c.max_qos = 3;
	cr_assert_eq(config_validate(&c, err, sizeof(err)), TERN_ECONFIG);
	cr_assert_str_eq(err, "max_qos: 3 is out of range (0..2)");
	config_defaults(&c);
	c.log_level = (enum tern_log_level)7;
	cr_assert_eq(config_validate(&c, err, sizeof(err)), TERN_ECONFIG);
	config_defaults(&c);
	c.data_dir[0] = '\0';
	cr_assert_eq(config_validate(&c, err, sizeof(err)), TERN_ECONFIG);
	cr_assert_str_eq(err, "data_dir: must not be empty");
	config_defaults(&c);
	c.n_listeners = 0;
	cr_assert_eq(config_validate(&c, NULL, 0), TERN_ECONFIG);
}

Test(config, help_and_version_return_1, .init = cr_redirect_stdout)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, NULL, err, "--version"), 1);
	cr_assert_stdout_eq_str("ternd 0.1.0\n");
}

Test(config, help_lists_every_flag_and_key, .init = cr_redirect_stdout)
{
	static const char *const flags[] = {
	    "--config FILE",    "--listen URL",      "--allow-anonymous",
	    "--data-dir DIR",   "--log-level LEVEL", "--workers N",
	    "--port-file FILE", "--set KEY=VALUE",   "--version",
	    "--help",
	};
	struct tern_config c;
	char err[ERRLEN], out[16384];
	FILE *f;
	size_t n;

	/* --help wins over anything after it, even a bad flag */
	cr_assert_eq(LOAD(&c, NULL, err, "--workers", "2", "--help", "--bad"),
	             1);
	fflush(stdout);
	f = cr_get_redirected_stdout();
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		cr_expect(strstr(out, flags[i]), "help lacks %s", flags[i]);
	for (size_t i = 0; config_key_name(i); i++)
		cr_expect(strstr(out, config_key_name(i)), "help lacks %s",
		          config_key_name(i));
}

Test(config, bad_flags)
{
	struct tern_config c;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&c, NULL, err, "--frobnicate"), TERN_ECONFIG);
	cr_assert_str_eq(err, "unknown flag \"--frobnicate\" (see --help)");
	cr_assert_eq(LOAD(&c, NULL, err, "-h"), TERN_ECONFIG);
	cr_assert_str_eq(err, "unknown flag \"-h\" (see --help)");
	cr_assert_eq(LOAD(&c, NULL, err, "--workers"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --workers needs a value (N)");
	cr_assert_eq(LOAD(&c, NULL, err, "--config"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --config needs a value (FILE)");
	cr_assert_eq(LOAD(&c, NULL, err, "--allow-anonymous=no"), TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --allow-anonymous takes no value");
	cr_assert_eq(LOAD(&c, NULL, err, "serve"), TERN_ECONFIG);
	cr_assert_str_eq(err, "unexpected argument \"serve\" (see --help)");
	cr_assert_eq(LOAD(&c, NULL, err, "--config", "a", "--config", "b"),
	             TERN_ECONFIG);
	cr_assert_str_eq(err, "flag --config given more than once");
	cr_assert_eq(LOAD(&c, NULL, err, "--listen", "mqtt://x:1"),
	             TERN_ECONFIG);
	cr_assert(
	    strncmp(err, "flag --listen: listener \"mqtt://x:1\": ", 38) == 0,
	    "%s", err);
}

Test(config, repeated_loads_share_nothing)
{
	struct tern_config a, b;
	char err[ERRLEN];

	cr_assert_eq(LOAD(&a, NULL, err, "--workers", "5", "--listen",
	                  "mqtt://127.0.0.1:1"),
	             0);
	cr_assert_eq(LOAD(&b, NULL, err, "--set", "max_qos=1"), 0);
	cr_assert_eq(a.workers, 5);
	cr_assert_eq(a.max_qos, 2);
	cr_assert_eq(b.max_qos, 1);
	cr_assert_eq(b.n_listeners, 1);
	cr_assert_eq(b.listeners[0].port, 1883);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(config, example_file_loads_with_defaults_and_has_every_key)
{
	const char *path = TERN_SOURCE_DIR "/deploy/tern.example.yaml";
	struct tern_config c, d;
	char err[ERRLEN], *text, want[64];

	cr_assert_eq(LOAD(&c, NULL, err, "--config", (char *)path), 0, "%s",
	             err);
	cr_assert_eq(LOAD(&d, NULL, err, NULL), 0, "%s", err);
	cr_assert_str_eq(c.listeners[0].url, d.listeners[0].url);
	cr_assert_eq(c.n_listeners, d.n_listeners);
	cr_assert_str_eq(c.data_dir, d.data_dir);
	cr_assert_eq(c.max_packet_size, d.max_packet_size);
	cr_assert_eq(c.max_queued_bytes, d.max_queued_bytes);
	cr_assert_eq(c.max_session_expiry, d.max_session_expiry);
	cr_assert_eq(c.allow_anonymous, d.allow_anonymous);

	text = read_all(path);
	for (size_t i = 0; config_key_name(i); i++) {
		snprintf(want, sizeof(want), "\n%s:", config_key_name(i));
		cr_expect(strstr(text, want), "example lacks %s",
		          config_key_name(i));
	}
	free(text);

	text = read_all(TERN_SOURCE_DIR "/docs/CONFIG.md");
	for (size_t i = 0; config_key_name(i); i++) {
		snprintf(want, sizeof(want), "`%s`", config_key_name(i));
		cr_expect(strstr(text, want), "CONFIG.md lacks %s",
		          config_key_name(i));
	}
	free(text);
}
