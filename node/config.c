/*
 * config.c - ternd's configuration.
 *
 * One table, config_keys[], describes every key once: its YAML name, type,
 * place in struct tern_config, range, default and help. Defaults, the YAML
 * file, TERN_* environment variables, flags, --help and the range checks of
 * config_validate all walk that table, so a key is added in one place (and
 * in docs/CONFIG.md and deploy/tern.example.yaml).
 *
 * Precedence, lowest first: defaults, the --config file, TERN_* variables,
 * flags (in the order given). Nothing here keeps state between calls, so
 * config_load can run many times in one process (tests do).
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "tern_err.h"

#ifndef TERN_VERSION
#define TERN_VERSION "unknown"
#endif

#define CONFIG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CONFIG_MAX_WORKERS   256

enum config_type {
	CONFIG_BOOL,
	CONFIG_U32,
	CONFIG_U64,
	CONFIG_STRING,
	CONFIG_ENUM,      /* stored as its index, in a bool or a C enum */
	CONFIG_LISTENERS, /* listeners[] and n_listeners */
};

struct config_key {
	const char *name; /* YAML key; env var is TERN_ + upper case */
	enum config_type type;
	size_t offset; /* in struct tern_config */
	size_t size;   /* of that field */
	uint64_t min, max;
	bool suffix;              /* integer may end in k, m or g */
	const char *const *names; /* CONFIG_ENUM: NULL-terminated */
	const char *def;          /* default, parsed like any other value */
	const char *flag;         /* long flag without "--", or NULL */
	const char *metavar;      /* flag's argument; NULL: flag sets "true" */
	const char *help;
};

#define CONFIG_FIELD(f)                                                        \
	.offset = offsetof(struct tern_config, f),                             \
	.size = sizeof(((struct tern_config *)0)->f)
#define CONFIG_KEY(f) .name = #f, CONFIG_FIELD(f)

/* The tables are aligned by hand, kernel style. */
/* clang-format off */
static const char *const config_log_levels[] = {
	"error", "warn", "info", "debug", "trace", NULL,
};
static const char *const config_log_formats[] = {"text", "json", NULL};
static const char *const config_tls_versions[] = {"1.2", "1.3", NULL};
static const char *const config_durabilities[] = {
	"none", "process-crash", "power-loss", NULL,
};
static const char *const config_tls_client_certs[] = {
	"none", "optional", "required", NULL,
};
static const char *const config_tls_usernames[] = {"none", "cn", "san", NULL};
static const char *const config_jwt_matches[] = {
	"none", "username", "client_id", NULL,
};

_Static_assert(sizeof(enum tern_log_level) == sizeof(uint32_t),
	       "enum keys are stored as uint32_t");

static const struct config_key config_keys[] = {
	{CONFIG_KEY(listeners), .type = CONFIG_LISTENERS,
	 .def = "mqtt://127.0.0.1:1883", .flag = "listen", .metavar = "URL",
	 .help = "where to accept clients: mqtt://HOST:PORT (YAML: a list; "
		 "env and --set: comma-separated)"},
	{CONFIG_KEY(allow_anonymous), .type = CONFIG_BOOL, .def = "false",
	 .flag = "allow-anonymous",
	 .help = "accept clients without credentials on every listener"},
	{CONFIG_KEY(allow_anonymous_loopback), .type = CONFIG_BOOL,
	 .def = "true",
	 .help = "accept clients without credentials on loopback listeners"},
	{CONFIG_KEY(password_file), .type = CONFIG_STRING, .def = "",
	 .flag = "password-file", .metavar = "FILE",
	 .help = "username:$pbkdf2-sha512$ITER$SALT$HASH lines (ternctl "
		 "passwd); clients with a username are checked against it; "
		 "reloaded on SIGHUP"},
	{CONFIG_KEY(acl_file), .type = CONFIG_STRING, .def = "",
	 .flag = "acl-file", .metavar = "FILE",
	 .help = "roles, rules and users (YAML, docs/SECURITY.md); without "
		 "it every client may publish and subscribe anywhere; "
		 "reloaded on SIGHUP"},
	{CONFIG_KEY(auth_fail_burst), .type = CONFIG_U32,
	 .min = 0, .max = 1000000, .def = "10",
	 .help = "failed authentications from one address (IPv6: /64) or "
		 "with one client id before its CONNECTs are refused without "
		 "checking (0x9F); 0 = no limit"},
	{CONFIG_KEY(auth_fail_per_minute), .type = CONFIG_U32,
	 .min = 0, .max = 60000, .def = "6",
	 .help = "refill of those buckets: failed authentications an "
		 "address or client id gets back per minute; 0 = no limit"},
	{CONFIG_KEY(auth_fail_delay_ms), .type = CONFIG_U32,
	 .min = 0, .max = 60000, .def = "1000",
	 .help = "milliseconds a throttled connection stays open, unread, "
		 "after its CONNACK; 0 = closed at once"},
	{CONFIG_KEY(jwt_keys), .type = CONFIG_STRING, .def = "",
	 .flag = "jwt-key", .metavar = "FILE",
	 .help = "PEM public keys that sign client JWTs, comma-separated "
		 "(RSA: RS256, EC P-256/P-384: ES256/ES384, Ed25519: EdDSA); "
		 "reloaded on SIGHUP"},
	{CONFIG_KEY(jwt_secret_file), .type = CONFIG_STRING, .def = "",
	 .help = "file holding an HMAC secret for HS256 client JWTs (at "
		 "least 32 bytes); reloaded on SIGHUP"},
	{CONFIG_KEY(jwks_file), .type = CONFIG_STRING, .def = "",
	 .flag = "jwks-file", .metavar = "FILE",
	 .help = "JWK set (RFC 7517) of keys that sign client JWTs; "
		 "reloaded on SIGHUP"},
	{CONFIG_KEY(jwt_issuer), .type = CONFIG_STRING, .def = "",
	 .help = "required iss claim of client JWTs; empty: not checked"},
	{CONFIG_KEY(jwt_audience), .type = CONFIG_STRING, .def = "",
	 .help = "audience client JWTs must name in aud; empty: tokens "
		 "with an aud claim are refused"},
	{CONFIG_KEY(jwt_username_claim), .type = CONFIG_STRING, .def = "sub",
	 .help = "claim that names the client's user"},
	{CONFIG_KEY(jwt_roles_claim), .type = CONFIG_STRING, .def = "roles",
	 .help = "claim with ACL role names (array, or space-separated like "
		 "scope; a.b for nested); empty: roles only from acl_file"},
	{CONFIG_KEY(jwt_leeway), .type = CONFIG_U32, .min = 0, .max = 3600,
	 .def = "30", .help = "seconds of clock skew allowed on exp, nbf, iat"},
	{CONFIG_KEY(jwt_match), .type = CONFIG_ENUM,
	 .names = config_jwt_matches, .def = "username",
	 .help = "what the token's user must equal: nothing, the CONNECT "
		 "username when one is sent, or the client id"},
	{CONFIG_KEY(jwks_url), .type = CONFIG_STRING, .def = "",
	 .flag = "jwks-url", .metavar = "URL",
	 .help = "http:// or https:// URL of a JWK set of keys that sign "
		 "client JWTs; fetched at start, every jwks_refresh seconds "
		 "and on an unknown kid"},
	{CONFIG_KEY(jwks_ca_file), .type = CONFIG_STRING, .def = "",
	 .help = "PEM CA bundle jwks_url's HTTPS certificate is verified "
		 "against; empty: the system's"},
	{CONFIG_KEY(jwks_refresh), .type = CONFIG_U32, .min = 1,
	 .max = 86400, .def = "300",
	 .help = "seconds between fetches of jwks_url"},
	{CONFIG_KEY(jwks_timeout_ms), .type = CONFIG_U32, .min = 100,
	 .max = 60000, .def = "5000",
	 .help = "milliseconds one fetch of jwks_url may take"},
	{CONFIG_KEY(ldap_url), .type = CONFIG_STRING, .def = "",
	 .help = "LDAP server (ldap://HOST:PORT or ldaps://HOST:PORT); turns "
		 "the LDAP provider on for users not in password_file"},
	{CONFIG_KEY(ldap_starttls), .type = CONFIG_BOOL, .def = "false",
	 .help = "StartTLS on an ldap:// URL before binding (required)"},
	{CONFIG_KEY(ldap_ca_file), .type = CONFIG_STRING, .def = "",
	 .help = "PEM CA bundle the LDAP server's certificate is verified "
		 "against; empty: the system's"},
	{CONFIG_KEY(ldap_bind_dn), .type = CONFIG_STRING, .def = "",
	 .help = "DN template to bind as the user, %u = the username "
		 "(escaped), e.g. uid=%u,ou=people,dc=example,dc=com"},
	{CONFIG_KEY(ldap_search_base), .type = CONFIG_STRING, .def = "",
	 .help = "search-then-bind: base DN where the user's entry is "
		 "searched (instead of ldap_bind_dn)"},
	{CONFIG_KEY(ldap_search_filter), .type = CONFIG_STRING,
	 .def = "(uid=%u)",
	 .help = "search-then-bind: filter finding the user, %u = the "
		 "username (RFC 4515 escaped)"},
	{CONFIG_KEY(ldap_service_dn), .type = CONFIG_STRING, .def = "",
	 .help = "search-then-bind: DN that searches; empty: anonymous"},
	{CONFIG_KEY(ldap_service_password_file), .type = CONFIG_STRING,
	 .def = "",
	 .help = "file holding ldap_service_dn's password; reloaded on "
		 "SIGHUP"},
	{CONFIG_KEY(ldap_group_attr), .type = CONFIG_STRING, .def = "",
	 .help = "attribute of the user's entry listing group DNs (e.g. "
		 "memberOf); empty: not read"},
	{CONFIG_KEY(ldap_group_base), .type = CONFIG_STRING, .def = "",
	 .help = "base DN of a group search; empty: no group search"},
	{CONFIG_KEY(ldap_group_filter), .type = CONFIG_STRING,
	 .def = "(member=%d)",
	 .help = "group search filter, %d = the user's DN, %u = the "
		 "username (both RFC 4515 escaped)"},
	{CONFIG_KEY(ldap_role_map), .type = CONFIG_STRING, .def = "",
	 .help = "GROUP_DN=ROLE[,ROLE...] entries separated by ';': ACL "
		 "roles of the members of each group"},
	{CONFIG_KEY(ldap_timeout_ms), .type = CONFIG_U32, .min = 100,
	 .max = 120000, .def = "5000",
	 .help = "milliseconds one LDAP verification (connect, TLS, binds, "
		 "searches) may take"},
	{CONFIG_KEY(oauth_signing_key), .type = CONFIG_STRING, .def = "",
	 .flag = "oauth-signing-key", .metavar = "FILE",
	 .help = "PEM private key (EC P-256: ES256, RSA: RS256) with which "
		 "the admin listener's POST /oauth/token signs device tokens; "
		 "also trusted by the JWT provider"},
	{CONFIG_KEY(oauth_token_ttl), .type = CONFIG_U32, .min = 60,
	 .max = 86400, .def = "3600",
	 .help = "seconds an issued token is valid"},
	{CONFIG_KEY(data_dir), .type = CONFIG_STRING, .def = "./data",
	 .flag = "data-dir", .metavar = "DIR",
	 .help = "directory for durable state"},
	{CONFIG_KEY(log_level), .type = CONFIG_ENUM, .names = config_log_levels,
	 .def = "info", .flag = "log-level", .metavar = "LEVEL",
	 .help = "least severe level logged"},
	{.name = "log_format", CONFIG_FIELD(log_json), .type = CONFIG_ENUM,
	 .names = config_log_formats, .def = "text",
	 .help = "log line format on stderr"},
	{CONFIG_KEY(port_file), .type = CONFIG_STRING, .def = "",
	 .flag = "port-file", .metavar = "FILE",
	 .help = "if set, write the URL of each bound listener (with its "
		 "actual port) to this file"},
	{CONFIG_KEY(workers), .type = CONFIG_U32, .max = CONFIG_MAX_WORKERS,
	 .def = "0", .flag = "workers", .metavar = "N",
	 .help = "worker event loops; 0 = one per online CPU"},
	{CONFIG_KEY(max_connections), .type = CONFIG_U32,
	 .min = 1, .max = UINT32_MAX, .def = "100000",
	 .help = "client connections open at once; more are refused"},
	{CONFIG_KEY(max_packet_size), .type = CONFIG_U32, .suffix = true,
	 .min = 64, .max = 268435460, .def = "1m",
	 .help = "largest MQTT packet accepted or sent, in bytes"},
	{CONFIG_KEY(max_inflight), .type = CONFIG_U32,
	 .min = 1, .max = 65535, .def = "128",
	 .help = "receive maximum: unacknowledged QoS 1/2 messages per "
		 "direction"},
	{CONFIG_KEY(max_queued_messages), .type = CONFIG_U32,
	 .min = 1, .max = UINT32_MAX, .def = "1000",
	 .help = "messages queued per session"},
	{CONFIG_KEY(max_queued_bytes), .type = CONFIG_U64, .suffix = true,
	 .min = 1, .max = UINT64_MAX, .def = "64m",
	 .help = "bytes of messages queued per session"},
	{CONFIG_KEY(max_qos0_backlog), .type = CONFIG_U64, .suffix = true,
	 .min = 1, .max = UINT64_MAX, .def = "32m",
	 .help = "bytes of QoS 0 messages queued for slow subscribers, per "
		 "worker"},
	{CONFIG_KEY(max_topic_levels), .type = CONFIG_U32,
	 .min = 1, .max = 65535, .def = "32",
	 .help = "levels (parts between /) in a topic name or filter"},
	{CONFIG_KEY(max_topic_alias), .type = CONFIG_U32,
	 .min = 0, .max = 65535, .def = "64",
	 .help = "topic alias maximum accepted from clients; 0 = none"},
	{CONFIG_KEY(keepalive_max), .type = CONFIG_U32,
	 .min = 0, .max = 65535, .def = "0",
	 .help = "seconds; larger client keep alives are cut to this; "
		 "0 = no cap"},
	{CONFIG_KEY(connect_timeout_ms), .type = CONFIG_U32,
	 .min = 1, .max = 3600000, .def = "10000",
	 .help = "milliseconds a new connection has to send CONNECT"},
	{CONFIG_KEY(max_session_expiry), .type = CONFIG_U32,
	 .min = 0, .max = UINT32_MAX, .def = "604800",
	 .help = "seconds; cap on the session expiry interval clients ask "
		 "for"},
	{CONFIG_KEY(max_client_id_len), .type = CONFIG_U32,
	 .min = 23, .max = 65535, .def = "256",
	 .help = "longest client identifier accepted, in bytes"},
	{CONFIG_KEY(max_qos), .type = CONFIG_U32,
	 .min = 0, .max = 2, .def = "2",
	 .help = "highest QoS granted to subscriptions and accepted"},
	{CONFIG_KEY(retain_available), .type = CONFIG_BOOL, .def = "true",
	 .help = "retained messages are supported"},
	{CONFIG_KEY(wildcard_sub_available), .type = CONFIG_BOOL, .def = "true",
	 .help = "subscriptions may use + and #"},
	{CONFIG_KEY(shared_sub_available), .type = CONFIG_BOOL, .def = "true",
	 .help = "shared subscriptions ($share/...) are supported"},
	{CONFIG_KEY(sub_id_available), .type = CONFIG_BOOL, .def = "true",
	 .help = "subscription identifiers are supported"},
	{CONFIG_KEY(sys_interval), .type = CONFIG_U32,
	 .min = 0, .max = 86400, .def = "10",
	 .help = "seconds between $SYS topic updates; 0 = off"},
	{CONFIG_KEY(tls_cert), .type = CONFIG_STRING, .def = "",
	 .flag = "tls-cert", .metavar = "FILE",
	 .help = "PEM certificate (chain) of mqtts:// and wss:// listeners"},
	{CONFIG_KEY(tls_key), .type = CONFIG_STRING, .def = "",
	 .flag = "tls-key", .metavar = "FILE",
	 .help = "PEM private key of tls_cert"},
	{CONFIG_KEY(tls_ca), .type = CONFIG_STRING, .def = "",
	 .flag = "tls-ca", .metavar = "FILE",
	 .help = "PEM CA bundle that client certificates must chain to"},
	{CONFIG_KEY(tls_crl), .type = CONFIG_STRING, .def = "",
	 .help = "PEM certificate revocation list checked against client "
		 "certificates"},
	{CONFIG_KEY(tls_ciphers), .type = CONFIG_STRING, .def = "",
	 .help = "OpenSSL cipher list for TLS 1.2; empty = OpenSSL default"},
	{CONFIG_KEY(tls_ciphersuites), .type = CONFIG_STRING, .def = "",
	 .help = "OpenSSL TLS 1.3 cipher suites; empty = OpenSSL default"},
	{CONFIG_KEY(tls_min_version), .type = CONFIG_ENUM,
	 .names = config_tls_versions, .def = "1.2",
	 .help = "oldest TLS version accepted"},
	{CONFIG_KEY(tls_client_cert), .type = CONFIG_ENUM,
	 .names = config_tls_client_certs, .def = "none",
	 .help = "client certificates: not asked, verified if sent, or "
		 "required (mutual TLS)"},
	{CONFIG_KEY(tls_username_from), .type = CONFIG_ENUM,
	 .names = config_tls_usernames, .def = "none",
	 .help = "take the MQTT username from the client certificate's "
		 "subject CN or first DNS/email SAN"},
	{CONFIG_KEY(ws_path), .type = CONFIG_STRING, .def = "/mqtt",
	 .help = "HTTP path of WebSocket upgrades on ws:// and wss:// "
		 "listeners"},
	{CONFIG_KEY(ws_origins), .type = CONFIG_STRING, .def = "",
	 .help = "comma-separated Origin allowlist for WebSocket upgrades; "
		 "empty = any origin"},
	{CONFIG_KEY(ws_max_frame), .type = CONFIG_U32, .suffix = true,
	 .min = 128, .max = 268435460, .def = "1m",
	 .help = "largest WebSocket frame payload accepted, in bytes"},
	{CONFIG_KEY(durability), .type = CONFIG_ENUM,
	 .names = config_durabilities, .def = "process-crash",
	 .help = "none: sessions, QoS 1/2 messages and retained messages "
		 "live in memory; process-crash: kept in LMDB under data_dir, "
		 "an acknowledged message survives kill -9; power-loss: also "
		 "fsync'd before it is acknowledged"},
	{CONFIG_KEY(store_map_size), .type = CONFIG_U64, .suffix = true,
	 .min = 1048576, .max = UINT64_MAX, .def = "16g",
	 .help = "address space reserved for the LMDB store (a sparse file "
		 "grows as needed; when full, publishes that need it are "
		 "refused with 0x97)"},
	{CONFIG_KEY(admin_listen), .type = CONFIG_STRING,
	 .def = "127.0.0.1:8081", .flag = "admin-listen",
	 .metavar = "HOST:PORT",
	 .help = "admin HTTP (/metrics, /healthz, /readyz, /api/v1); "
		 "empty = off; port 0 = any free port"},
	{CONFIG_KEY(admin_token), .type = CONFIG_STRING, .def = "",
	 .flag = "admin-token", .metavar = "TOKEN",
	 .help = "bearer token required by /api/v1"},
	{CONFIG_KEY(admin_require_token), .type = CONFIG_BOOL, .def = "true",
	 .help = "false lets a loopback admin listener serve /api/v1 "
		 "without a token"},
};
/* clang-format on */

const char *config_key_name(size_t i)
{
	return i < CONFIG_ARRAY_SIZE(config_keys) ? config_keys[i].name : NULL;
}

/* Flags that are not keys. */
enum config_flag_id {
	CONFIG_FLAG_KEY = 0,
	CONFIG_FLAG_CONFIG,
	CONFIG_FLAG_SET,
	CONFIG_FLAG_VERSION,
	CONFIG_FLAG_HELP,
};

/* clang-format off */
static const struct config_meta_flag {
	const char *name;
	const char *metavar; /* NULL: takes no value */
	enum config_flag_id id;
	const char *help;
} config_meta_flags[] = {
	{"config", "FILE", CONFIG_FLAG_CONFIG, "read keys from this YAML file"},
	{"set", "KEY=VALUE", CONFIG_FLAG_SET,
	 "set any key listed below (repeatable)"},
	{"version", NULL, CONFIG_FLAG_VERSION, "print the version and exit"},
	{"help", NULL, CONFIG_FLAG_HELP, "print this help and exit"},
};
/* clang-format on */

struct config_flag {
	enum config_flag_id id;
	const struct config_key *key; /* CONFIG_FLAG_KEY */
	const char *name;             /* without "--" */
	const char *value;            /* NULL for flags without a value */
};

/* ---- errors --------------------------------------------------------- */

static int config_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void config_err_prefix(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason to err; returns TERN_ECONFIG. */
static int config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return TERN_ECONFIG;
}

/* Prepends "<prefix>: " to the reason already in err. */
static void config_err_prefix(char *err, size_t errlen, const char *fmt, ...)
{
	char prefix[600], reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(reason, sizeof(reason), "%s", err);
	snprintf(err, errlen, "%s: %s", prefix, reason);
}

/* Edit distance of two short strings; large when either is too long. */
static size_t config_distance(const char *a, size_t alen, const char *b)
{
	size_t row[48], blen = strlen(b);

	if (alen >= CONFIG_ARRAY_SIZE(row) || blen >= CONFIG_ARRAY_SIZE(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t best =
			    diag +
			    (tolower((unsigned char)a[i - 1]) != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[blen];
}

/* The key whose name is within two edits of s, or NULL. */
static const struct config_key *config_suggest(const char *s, size_t len)
{
	const struct config_key *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		size_t d = config_distance(s, len, config_keys[i].name);

		if (d < best_d) {
			best_d = d;
			best = &config_keys[i];
		}
	}
	return best;
}

/* ---- values --------------------------------------------------------- */

static const struct config_key *config_key_find(const char *name, size_t len)
{
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		const char *k = config_keys[i].name;

		if (strlen(k) == len && memcmp(k, name, len) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return TERN_EINVAL;
}

/*
 * Decimal digits, then (if suffix) one of k, m, g (KiB, MiB, GiB).
 * Returns 0, TERN_EINVAL (not a number) or TERN_ELIMIT (overflows).
 */
static int config_parse_uint(const char *s, bool suffix, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return TERN_EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return TERN_ELIMIT;
		v = v * 10 + d;
	}
	if (suffix && *p) {
		switch (tolower((unsigned char)*p)) {
		case 'k':
			mult = 1ull << 10;
			break;
		case 'm':
			mult = 1ull << 20;
			break;
		case 'g':
			mult = 1ull << 30;
			break;
		default:
			return TERN_EINVAL;
		}
		p++;
	}
	if (*p)
		return TERN_EINVAL;
	if (v > UINT64_MAX / mult)
		return TERN_ELIMIT;
	*out = v * mult;
	return 0;
}

/* "64..268435460", or "1 or more" when there is no real upper bound. */
static void config_range(const struct config_key *k, char *buf, size_t size)
{
	if (k->max == UINT64_MAX)
		snprintf(buf, size, "%" PRIu64 " or more", k->min);
	else
		snprintf(buf, size, "%" PRIu64 "..%" PRIu64, k->min, k->max);
}

static int config_set_listeners(struct tern_config *cfg, const char *val,
                                char *err, size_t errlen);

/*
 * Parses val for key k into cfg. On error, err reads "<key>: <reason>"
 * (listeners: "listener "<url>": <reason>").
 */
static int config_set(struct tern_config *cfg, const struct config_key *k,
                      const char *val, char *err, size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	uint64_t v;
	bool b;
	int rc;

	if (!*val && k->type != CONFIG_STRING && k->type != CONFIG_LISTENERS)
		return config_err(err, errlen, "%s: missing value", k->name);

	switch (k->type) {
	case CONFIG_BOOL:
		if (config_parse_bool(val, &b) < 0)
			return config_err(err, errlen,
			                  "%s: \"%.100s\" is not a boolean "
			                  "(true/false, yes/no, on/off, 1/0)",
			                  k->name, val);
		memcpy(field, &b, sizeof(b));
		return 0;
	case CONFIG_U32:
	case CONFIG_U64:
		rc = config_parse_uint(val, k->suffix, &v);
		if (rc == TERN_EINVAL)
			return config_err(
			    err, errlen, "%s: \"%.100s\" is not %s", k->name,
			    val,
			    k->suffix ? "a size (a whole number of bytes, "
			                "optionally with suffix k, m or g)"
			              : "a whole number");
		if (rc < 0 || v < k->min || v > k->max) {
			char range[64];

			config_range(k, range, sizeof(range));
			return config_err(err, errlen,
			                  "%s: %.100s is out of range (%s)",
			                  k->name, val, range);
		}
		if (k->type == CONFIG_U32) {
			uint32_t u = (uint32_t)v;

			memcpy(field, &u, sizeof(u));
		} else {
			memcpy(field, &v, sizeof(v));
		}
		return 0;
	case CONFIG_STRING:
		if (strlen(val) >= k->size)
			return config_err(err, errlen,
			                  "%s: value is too long (%zu bytes, "
			                  "at most %zu)",
			                  k->name, strlen(val), k->size - 1);
		memcpy(field, val, strlen(val) + 1);
		return 0;
	case CONFIG_ENUM:
		for (uint32_t i = 0; k->names[i]; i++) {
			if (strcasecmp(val, k->names[i]) != 0)
				continue;
			if (k->size == sizeof(bool)) {
				b = i != 0;
				memcpy(field, &b, sizeof(b));
			} else {
				memcpy(field, &i, sizeof(i));
			}
			return 0;
		}
		{
			char list[128] = "";

			for (size_t i = 0; k->names[i]; i++) {
				size_t n = strlen(list);

				snprintf(list + n, sizeof(list) - n, "%s%s",
				         i ? "|" : "", k->names[i]);
			}
			return config_err(err, errlen,
			                  "%s: \"%.100s\" is not one of %s",
			                  k->name, val, list);
		}
	case CONFIG_LISTENERS:
		return config_set_listeners(cfg, val, err, errlen);
	}
	return config_err(err, errlen, "%s: unknown key type", k->name);
}

/* ---- listeners ------------------------------------------------------ */

static const struct {
	const char *name;
	enum tern_scheme scheme;
	uint16_t port;
} config_schemes[] = {
    {"mqtt", TERN_SCHEME_MQTT, 1883},
    {"mqtts", TERN_SCHEME_MQTTS, 8883},
    {"ws", TERN_SCHEME_WS, 8080},
    {"wss", TERN_SCHEME_WSS, 8443},
};

/* "proxy=v1|v2|any" after the "?" of listener url: l->proxy. */
static int config_parse_listener_query(const char *url, const char *q,
                                       struct tern_listener_cfg *l,
                                       char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uint8_t proxy;
	} modes[] = {{"v1", 1}, {"v2", 2}, {"any", 3}};

	for (;;) {
		const char *end = strchrnul(q, '&');
		const char *eq = memchr(q, '=', (size_t)(end - q));
		size_t i, vlen;

		if (!eq || eq - q != 5 || strncmp(q, "proxy", 5) != 0)
			return config_err(err, errlen,
			                  "listener \"%s\": unknown parameter "
			                  "\"%.*s\" (the only one is proxy=v1, "
			                  "v2 or any)",
			                  url, (int)(end - q), q);
		if (l->proxy)
			return config_err(err, errlen,
			                  "listener \"%s\": proxy is given "
			                  "twice",
			                  url);
		vlen = (size_t)(end - eq - 1);
		for (i = 0; i < CONFIG_ARRAY_SIZE(modes); i++)
			if (strlen(modes[i].name) == vlen &&
			    memcmp(modes[i].name, eq + 1, vlen) == 0)
				break;
		if (i == CONFIG_ARRAY_SIZE(modes))
			return config_err(err, errlen,
			                  "listener \"%s\": proxy=%.*s: expected "
			                  "v1, v2 or any",
			                  url, (int)vlen, eq + 1);
		l->proxy = modes[i].proxy;
		if (!*end)
			return 0;
		q = end + 1;
	}
}

int config_parse_listener(const char *url, struct tern_listener_cfg *l,
                          char *err, size_t errlen)
{
	struct tern_listener_cfg out;
	char local[256];
	char base[sizeof(out.url)]; /* url without its ?query */
	const char *sep, *host, *host_end, *port = NULL, *query;
	unsigned char addr[16];
	bool bracketed;
	size_t i;

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	memset(&out, 0, sizeof(out));
	if (strlen(url) >= sizeof(out.url))
		return config_err(err, errlen,
		                  "listener \"%.60s...\": URL is too long "
		                  "(at most %zu bytes)",
		                  url, sizeof(out.url) - 1);
	strcpy(out.url, url);
	strcpy(base, url);
	query = strchr(url, '?');
	if (query)
		base[query - url] = '\0';

	sep = strstr(base, "://");
	if (!sep)
		return config_err(
		    err, errlen,
		    "listener \"%s\": expected "
		    "SCHEME://HOST:PORT, e.g. mqtt://127.0.0.1:1883",
		    url);
	for (i = 0; i < CONFIG_ARRAY_SIZE(config_schemes); i++) {
		const char *s = config_schemes[i].name;

		if (strlen(s) == (size_t)(sep - base) &&
		    strncasecmp(s, base, strlen(s)) == 0)
			break;
	}
	if (i == CONFIG_ARRAY_SIZE(config_schemes))
		return config_err(err, errlen,
		                  "listener \"%s\": unknown scheme \"%.*s\" "
		                  "(expected mqtt, mqtts, ws or wss)",
		                  url, (int)(sep - base), base);
	out.scheme = config_schemes[i].scheme;
	out.port = config_schemes[i].port;

	host = sep + 3;
	bracketed = *host == '[';
	if (bracketed) {
		host++;
		host_end = strchr(host, ']');
		if (!host_end)
			return config_err(err, errlen,
			                  "listener \"%s\": missing ] after "
			                  "IPv6 address",
			                  url);
		if (host_end[1] == ':')
			port = host_end + 2;
		else if (host_end[1])
			return config_err(err, errlen,
			                  "listener \"%s\": expected :PORT "
			                  "after ]",
			                  url);
	} else {
		host_end = strchr(host, ':');
		if (host_end && strchr(host_end + 1, ':'))
			return config_err(err, errlen,
			                  "listener \"%s\": write IPv6 "
			                  "addresses in brackets, e.g. "
			                  "mqtt://[::1]:1883",
			                  url);
		if (host_end)
			port = host_end + 1;
		else
			host_end = host + strlen(host);
	}
	if (host_end == host)
		return config_err(err, errlen,
		                  "listener \"%s\": missing host (0.0.0.0 "
		                  "listens on every IPv4 address)",
		                  url);
	if ((size_t)(host_end - host) >= sizeof(out.host))
		return config_err(err, errlen, "listener \"%s\": host too long",
		                  url);
	memcpy(out.host, host, (size_t)(host_end - host));

	if (port) {
		uint64_t p;

		if (config_parse_uint(port, false, &p) < 0 || p > 65535)
			return config_err(err, errlen,
			                  "listener \"%s\": port \"%s\" is not "
			                  "a number in 0..65535",
			                  url, port);
		out.port = (uint16_t)p;
	}

	if (bracketed) {
		if (inet_pton(AF_INET6, out.host, addr) != 1)
			return config_err(err, errlen,
			                  "listener \"%s\": \"%s\" is not an "
			                  "IPv6 address",
			                  url, out.host);
		out.loopback =
		    memcmp(addr, &in6addr_loopback, 16) == 0 ||
		    (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
		     addr[12] == 127);
	} else if (strcasecmp(out.host, "localhost") == 0) {
		strcpy(out.host, "localhost"); /* callers compare with strcmp */
		out.loopback = true;
	} else if (inet_pton(AF_INET, out.host, addr) == 1) {
		out.loopback = addr[0] == 127;
	} else {
		return config_err(err, errlen,
		                  "listener \"%s\": host \"%s\" is not a "
		                  "numeric address: use an IPv4 address, "
		                  "[IPv6] or localhost (names are not "
		                  "resolved)",
		                  url, out.host);
	}
	if (query && config_parse_listener_query(url, query + 1, &out, err,
	                                         errlen) < 0)
		return TERN_ECONFIG;
	*l = out;
	return 0;
}

static int config_add_listener(struct tern_config *cfg, const char *url,
                               char *err, size_t errlen)
{
	if (cfg->n_listeners >= TERN_MAX_LISTENERS)
		return config_err(err, errlen,
		                  "listeners: too many listeners (at most %d)",
		                  TERN_MAX_LISTENERS);
	if (config_parse_listener(url, &cfg->listeners[cfg->n_listeners], err,
	                          errlen) < 0)
		return TERN_ECONFIG;
	cfg->n_listeners++;
	return 0;
}

/* Comma-separated URLs replace the listeners; "" leaves none. */
static int config_set_listeners(struct tern_config *cfg, const char *val,
                                char *err, size_t errlen)
{
	char url[sizeof(cfg->listeners[0].url)];
	const char *s = val;

	cfg->n_listeners = 0;
	while (*val) {
		const char *end = strchrnul(s, ',');
		size_t len;

		while (s < end && isspace((unsigned char)*s))
			s++;
		len = (size_t)(end - s);
		while (len && isspace((unsigned char)s[len - 1]))
			len--;
		if (!len)
			return config_err(err, errlen,
			                  "listeners: empty URL in \"%.100s\"",
			                  val);
		if (len >= sizeof(url))
			return config_err(err, errlen,
			                  "listeners: URL \"%.60s...\" is too "
			                  "long",
			                  s);
		memcpy(url, s, len);
		url[len] = '\0';
		if (config_add_listener(cfg, url, err, errlen) < 0)
			return TERN_ECONFIG;
		if (!*end)
			break;
		s = end + 1;
	}
	return 0;
}

/* ---- YAML file ------------------------------------------------------ */

struct config_yaml {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *path;
	char *err;
	size_t errlen;
};

static size_t config_yaml_line(const struct config_yaml *y)
{
	return y->ev.start_mark.line + 1;
}

static int config_yaml_next(struct config_yaml *y)
{
	yaml_parser_t *p = &y->parser;

	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(p, &y->ev)) {
		if (p->error == YAML_MEMORY_ERROR)
			return config_err(y->err, y->errlen,
			                  "%s: out of memory", y->path);
		if (p->error == YAML_READER_ERROR)
			return config_err(
			    y->err, y->errlen, "%s: %s at byte %zu", y->path,
			    p->problem ? p->problem : "read error",
			    p->problem_offset);
		if (p->context)
			return config_err(y->err, y->errlen,
			                  "%s:%zu: %s (%s on line %zu)",
			                  y->path, p->problem_mark.line + 1,
			                  p->problem ? p->problem : "error",
			                  p->context, p->context_mark.line + 1);
		return config_err(y->err, y->errlen, "%s:%zu: %s", y->path,
		                  p->problem_mark.line + 1,
		                  p->problem ? p->problem : "syntax error");
	}
	y->have_ev = true;
	if (y->ev.type == YAML_ALIAS_EVENT)
		return config_err(y->err, y->errlen,
		                  "%s:%zu: aliases (*name) are not supported",
		                  y->path, config_yaml_line(y));
	return 0;
}

/* The current scalar as a C string, or NULL if it holds a NUL byte. */
static const char *config_yaml_scalar(const struct config_yaml *y)
{
	const char *s = (const char *)y->ev.data.scalar.value;

	if (strlen(s) != y->ev.data.scalar.length)
		return NULL;
	return s;
}

static bool config_yaml_is_null(const struct config_yaml *y)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	const char *s = (const char *)y->ev.data.scalar.value;

	if (y->ev.type != YAML_SCALAR_EVENT ||
	    y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(nulls); i++)
		if (strcmp(s, nulls[i]) == 0)
			return true;
	return false;
}

static int config_yaml_listeners(struct tern_config *cfg, struct config_yaml *y)
{
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return config_err(y->err, y->errlen,
		                  "%s:%zu: listeners: expected a list of "
		                  "URLs, e.g. \"- mqtt://127.0.0.1:1883\"",
		                  y->path, config_yaml_line(y));
	cfg->n_listeners = 0;
	for (;;) {
		const char *url;

		if (config_yaml_next(y) < 0)
			return TERN_ECONFIG;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		url = y->ev.type == YAML_SCALAR_EVENT ? config_yaml_scalar(y)
		                                      : NULL;
		if (!url)
			return config_err(y->err, y->errlen,
			                  "%s:%zu: listeners: expected a URL",
			                  y->path, config_yaml_line(y));
		if (config_add_listener(cfg, url, y->err, y->errlen) < 0) {
			config_err_prefix(y->err, y->errlen, "%s:%zu", y->path,
			                  config_yaml_line(y));
			return TERN_ECONFIG;
		}
	}
}

static int config_yaml_mapping(struct tern_config *cfg, struct config_yaml *y)
{
	size_t seen[CONFIG_ARRAY_SIZE(config_keys)] = {0}; /* line, 0: not */

	for (;;) {
		const struct config_key *k, *hint;
		const char *name, *val;
		size_t len, idx;

		if (config_yaml_next(y) < 0)
			return TERN_ECONFIG;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return config_err(y->err, y->errlen,
			                  "%s:%zu: expected a key name",
			                  y->path, config_yaml_line(y));
		name = (const char *)y->ev.data.scalar.value;
		len = y->ev.data.scalar.length;
		k = config_key_find(name, len);
		if (!k) {
			hint = config_suggest(name, len);
			return config_err(
			    y->err, y->errlen,
			    "%s:%zu: unknown key \"%.*s\"%s%s%s", y->path,
			    config_yaml_line(y), (int)(len > 64 ? 64 : len),
			    name, hint ? " (did you mean \"" : "",
			    hint ? hint->name : "", hint ? "\"?)" : "");
		}
		idx = (size_t)(k - config_keys);
		if (seen[idx])
			return config_err(y->err, y->errlen,
			                  "%s:%zu: duplicate key \"%s\" (first "
			                  "on line %zu)",
			                  y->path, config_yaml_line(y), k->name,
			                  seen[idx]);
		seen[idx] = config_yaml_line(y);

		if (config_yaml_next(y) < 0)
			return TERN_ECONFIG;
		if (k->type == CONFIG_LISTENERS) {
			if (config_yaml_listeners(cfg, y) < 0)
				return TERN_ECONFIG;
			continue;
		}
		if (y->ev.type != YAML_SCALAR_EVENT)
			return config_err(y->err, y->errlen,
			                  "%s:%zu: %s: expected a single value",
			                  y->path, config_yaml_line(y),
			                  k->name);
		val = config_yaml_is_null(y) ? "" : config_yaml_scalar(y);
		if (!val)
			return config_err(y->err, y->errlen,
			                  "%s:%zu: %s: value contains a NUL "
			                  "byte",
			                  y->path, config_yaml_line(y),
			                  k->name);
		if (config_set(cfg, k, val, y->err, y->errlen) < 0) {
			config_err_prefix(y->err, y->errlen, "%s:%zu", y->path,
			                  config_yaml_line(y));
			return TERN_ECONFIG;
		}
	}
}

static int config_yaml_stream(struct tern_config *cfg, struct config_yaml *y)
{
	if (config_yaml_next(y) < 0) /* STREAM_START */
		return TERN_ECONFIG;
	if (config_yaml_next(y) < 0)
		return TERN_ECONFIG;
	if (y->ev.type == YAML_STREAM_END_EVENT) /* empty file */
		return 0;
	if (config_yaml_next(y) < 0) /* after DOCUMENT_START */
		return TERN_ECONFIG;
	if (y->ev.type == YAML_MAPPING_START_EVENT) {
		if (config_yaml_mapping(cfg, y) < 0)
			return TERN_ECONFIG;
	} else if (!config_yaml_is_null(y)) {
		return config_err(y->err, y->errlen,
		                  "%s:%zu: expected \"key: value\" lines at "
		                  "the top level",
		                  y->path, config_yaml_line(y));
	}
	if (config_yaml_next(y) < 0) /* DOCUMENT_END */
		return TERN_ECONFIG;
	if (config_yaml_next(y) < 0)
		return TERN_ECONFIG;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return config_err(y->err, y->errlen,
		                  "%s:%zu: only one YAML document is allowed",
		                  y->path, config_yaml_line(y));
	return 0;
}

static int config_load_file(struct tern_config *cfg, const char *path,
                            char *err, size_t errlen)
{
	struct config_yaml y = {.path = path, .err = err, .errlen = errlen};
	struct stat st;
	FILE *f;
	int rc;

	f = fopen(path, "rb");
	if (!f)
		return config_err(err, errlen, "cannot open config file %s: %s",
		                  path, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return config_err(err, errlen,
		                  "cannot read config file %s: it is a "
		                  "directory",
		                  path);
	}
	if (!yaml_parser_initialize(&y.parser)) {
		fclose(f);
		return config_err(err, errlen, "%s: out of memory", path);
	}
	yaml_parser_set_input_file(&y.parser, f);
	rc = config_yaml_stream(cfg, &y);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	fclose(f);
	return rc;
}

/* ---- environment ---------------------------------------------------- */

static int config_load_env(struct tern_config *cfg, char **envp, char *err,
                           size_t errlen)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp, *name = e + 5, *eq;
		const struct config_key *k = NULL, *hint;
		size_t len;

		if (strncmp(e, "TERN_", 5) != 0 ||
		    strncmp(e, "TERN_TEST_", 10) == 0)
			continue;
		eq = strchr(e, '=');
		if (!eq)
			continue;
		len = (size_t)(eq - name);
		for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys) && !k;
		     i++) {
			const char *kn = config_keys[i].name;
			size_t j;

			if (strlen(kn) != len)
				continue;
			for (j = 0; j < len; j++)
				if (toupper((unsigned char)kn[j]) != name[j])
					break;
			if (j == len)
				k = &config_keys[i];
		}
		if (!k) {
			char upper[64] = "";

			hint = config_suggest(name, len);
			for (size_t j = 0;
			     hint && hint->name[j] && j < sizeof(upper) - 1;
			     j++)
				upper[j] =
				    (char)toupper((unsigned char)hint->name[j]);
			return config_err(err, errlen,
			                  "unknown environment variable "
			                  "TERN_%.*s%s%s%s (TERN_* variables "
			                  "set configuration keys; see ternd "
			                  "--help)",
			                  (int)(len > 64 ? 64 : len), name,
			                  hint ? " (did you mean TERN_" : "",
			                  upper, hint ? "?)" : "");
		}
		if (config_set(cfg, k, eq + 1, err, errlen) < 0) {
			config_err_prefix(err, errlen, "TERN_%.*s", (int)len,
			                  name);
			return TERN_ECONFIG;
		}
	}
	return 0;
}

/* ---- flags ---------------------------------------------------------- */

/* Reads the flag at argv[*i] (and its value) and advances *i. */
static int config_flag_next(int argc, char **argv, int *i,
                            struct config_flag *f, char *err, size_t errlen)
{
	const char *a = argv[*i], *name = a + 2, *eq;
	const char *metavar = NULL;
	size_t len;

	memset(f, 0, sizeof(*f));
	if (a[0] != '-')
		return config_err(err, errlen,
		                  "unexpected argument \"%.100s\" (see "
		                  "--help)",
		                  a);
	if (a[1] != '-' || !a[2])
		return config_err(err, errlen,
		                  "unknown flag \"%.100s\" (see --help)", a);
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);

	for (size_t j = 0; j < CONFIG_ARRAY_SIZE(config_meta_flags); j++) {
		const struct config_meta_flag *m = &config_meta_flags[j];

		if (strlen(m->name) == len && !strncmp(m->name, name, len)) {
			f->id = m->id;
			f->name = m->name;
			metavar = m->metavar;
		}
	}
	for (size_t j = 0; j < CONFIG_ARRAY_SIZE(config_keys) && !f->name;
	     j++) {
		const struct config_key *k = &config_keys[j];

		if (k->flag && strlen(k->flag) == len &&
		    !strncmp(k->flag, name, len)) {
			f->id = CONFIG_FLAG_KEY;
			f->key = k;
			f->name = k->flag;
			metavar = k->metavar;
		}
	}
	if (!f->name)
		return config_err(err, errlen,
		                  "unknown flag \"--%.*s\" (see --help)",
		                  (int)(len > 100 ? 100 : len), name);
	if (!metavar) {
		if (eq)
			return config_err(err, errlen,
			                  "flag --%s takes no value", f->name);
	} else if (eq) {
		f->value = eq + 1;
	} else if (*i + 1 < argc) {
		f->value = argv[++*i];
	} else {
		return config_err(err, errlen, "flag --%s needs a value (%s)",
		                  f->name, metavar);
	}
	++*i;
	return 0;
}

/* Prints "  LEFT" padded to column 27, then text wrapped at 80 columns. */
static void config_usage_line(const char *left, const char *text)
{
	enum { indent = 27, width = 80 };
	size_t col = (size_t)printf("  %s", left);

	while (*text) {
		size_t word = strcspn(text, " ");

		if (col > indent && col + 1 + word > width) {
			printf("\n");
			col = 0;
		}
		if (col < indent) {
			printf("%*s", (int)(indent - col), "");
			col = indent;
		} else {
			printf(" ");
			col++;
		}
		printf("%.*s", (int)word, text);
		col += word;
		text += word;
		text += strspn(text, " ");
	}
	printf("\n");
}

static void config_usage_meta(enum config_flag_id id)
{
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_meta_flags); i++) {
		const struct config_meta_flag *m = &config_meta_flags[i];
		char left[64];

		if (m->id != id)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", m->name,
		         m->metavar ? " " : "", m->metavar ? m->metavar : "");
		config_usage_line(left, m->help);
	}
}

static void config_usage(void)
{
	printf("Usage: ternd [FLAG]...\n"
	       "Tern MQTT broker node.\n\n"
	       "Settings come from, lowest precedence first: defaults, the "
	       "--config file,\nTERN_<KEY> environment variables, flags.\n\n"
	       "Flags:\n");
	config_usage_meta(CONFIG_FLAG_CONFIG);
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		char left[64], text[128];

		if (!k->flag)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", k->flag,
		         k->metavar ? " " : "", k->metavar ? k->metavar : "");
		if (k->type == CONFIG_LISTENERS)
			snprintf(text, sizeof(text),
			         "add a listener (repeatable); the listeners "
			         "of the file and environment are dropped");
		else
			snprintf(text, sizeof(text), "same as --set %s=%s",
			         k->name, k->metavar ? k->metavar : "true");
		config_usage_line(left, text);
	}
	config_usage_meta(CONFIG_FLAG_SET);
	config_usage_meta(CONFIG_FLAG_VERSION);
	config_usage_meta(CONFIG_FLAG_HELP);

	printf("\nKeys (YAML key; environment variable TERN_<KEY>; "
	       "--set KEY=VALUE):\n");
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		char kind[96], range[64], text[400];

		switch (k->type) {
		case CONFIG_BOOL:
			snprintf(kind, sizeof(kind), "boolean");
			break;
		case CONFIG_U32:
		case CONFIG_U64:
			config_range(k, range, sizeof(range));
			snprintf(kind, sizeof(kind), "%s %s",
			         k->suffix ? "size" : "integer", range);
			break;
		case CONFIG_STRING:
			snprintf(kind, sizeof(kind), "string");
			break;
		case CONFIG_ENUM: {
			size_t n =
			    (size_t)snprintf(kind, sizeof(kind), "one of ");

			for (size_t j = 0; k->names[j] && n < sizeof(kind); j++)
				n += (size_t)snprintf(
				    kind + n, sizeof(kind) - n, "%s%s",
				    j ? "|" : "", k->names[j]);
			break;
		}
		case CONFIG_LISTENERS:
			snprintf(kind, sizeof(kind), "list of URLs");
			break;
		}
		snprintf(text, sizeof(text), "%s, default %s", kind,
		         *k->def ? k->def : "\"\" (empty)");
		config_usage_line(k->name, text);
		config_usage_line("", k->help);
	}
	printf("\nSizes take a suffix k, m or g (KiB, MiB, GiB). Booleans: "
	       "true/false, yes/no,\non/off, 1/0. Clients without "
	       "credentials are accepted on loopback\nlisteners "
	       "(allow_anonymous_loopback) or everywhere (allow_anonymous).\n");
}

/* Applies one flag of the second pass. listen_seen: a --listen came. */
static int config_flag_apply(struct tern_config *cfg,
                             const struct config_flag *f, bool *listen_seen,
                             char *err, size_t errlen)
{
	const struct config_key *k = f->key;
	const char *eq;

	if (f->id == CONFIG_FLAG_KEY && k->type == CONFIG_LISTENERS) {
		if (!*listen_seen)
			cfg->n_listeners = 0;
		*listen_seen = true;
		if (config_add_listener(cfg, f->value, err, errlen) < 0)
			goto err_flag;
		return 0;
	}
	if (f->id == CONFIG_FLAG_KEY) {
		if (config_set(cfg, k, f->value ? f->value : "true", err,
		               errlen) < 0)
			goto err_flag;
		return 0;
	}
	if (f->id != CONFIG_FLAG_SET)
		return 0;
	eq = strchr(f->value, '=');
	if (!eq)
		return config_err(err, errlen,
		                  "flag --set: expected KEY=VALUE, got "
		                  "\"%.100s\"",
		                  f->value);
	k = config_key_find(f->value, (size_t)(eq - f->value));
	if (!k) {
		const struct config_key *hint =
		    config_suggest(f->value, (size_t)(eq - f->value));

		return config_err(
		    err, errlen, "flag --set: unknown key \"%.*s\"%s%s%s",
		    (int)(eq - f->value > 64 ? 64 : eq - f->value), f->value,
		    hint ? " (did you mean \"" : "", hint ? hint->name : "",
		    hint ? "\"?)" : "");
	}
	if (config_set(cfg, k, eq + 1, err, errlen) < 0)
		goto err_flag;
	return 0;

err_flag:
	config_err_prefix(err, errlen, "flag --%s", f->name);
	return TERN_ECONFIG;
}

/* ---- public --------------------------------------------------------- */

void config_defaults(struct tern_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		int rc = config_set(cfg, &config_keys[i], config_keys[i].def,
		                    err, sizeof(err));

		assert(rc == 0 && "bad default in config_keys[]");
		(void)rc;
	}
}

int config_load(struct tern_config *cfg, int argc, char **argv, char **envp,
                char *err, size_t errlen)
{
	struct config_flag f;
	const char *path = NULL;
	bool listen_seen = false;
	char local[512];
	int i;

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	err[0] = '\0';
	config_defaults(cfg);

	/* Pass 1: syntax, --config, --help, --version. */
	for (i = 1; i < argc;) {
		if (config_flag_next(argc, argv, &i, &f, err, errlen) < 0)
			return TERN_ECONFIG;
		if (f.id == CONFIG_FLAG_HELP) {
			config_usage();
			fflush(stdout);
			return 1;
		}
		if (f.id == CONFIG_FLAG_VERSION) {
			printf("ternd %s\n", TERN_VERSION);
			fflush(stdout);
			return 1;
		}
		if (f.id == CONFIG_FLAG_CONFIG) {
			if (path)
				return config_err(err, errlen,
				                  "flag --config given more "
				                  "than once");
			path = f.value;
		}
	}

	if (path && config_load_file(cfg, path, err, errlen) < 0)
		return TERN_ECONFIG;
	if (config_load_env(cfg, envp, err, errlen) < 0)
		return TERN_ECONFIG;

	/* Pass 2: values, in order. */
	for (i = 1; i < argc;) {
		if (config_flag_next(argc, argv, &i, &f, err, errlen) < 0 ||
		    config_flag_apply(cfg, &f, &listen_seen, err, errlen) < 0)
			return TERN_ECONFIG;
	}

	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1                    ? 1
		               : n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS
		                                        : (uint32_t)n;
	}
	return config_validate(cfg, err, errlen);
}

/* Every client of listener l is identified by its certificate (TLS, a
 * required client certificate, the user name taken from it). */
static bool config_cert_identity(const struct tern_config *cfg,
                                 const struct tern_listener_cfg *l)
{
	return (l->scheme == TERN_SCHEME_MQTTS ||
	        l->scheme == TERN_SCHEME_WSS) &&
	       cfg->tls_client_cert == TERN_TLS_CLIENT_CERT_REQUIRED &&
	       cfg->tls_username_from != TERN_TLS_USERNAME_NONE;
}

bool config_jwt_on(const struct tern_config *cfg)
{
	return cfg->jwt_keys[0] || cfg->jwt_secret_file[0] ||
	       cfg->jwks_file[0] || cfg->jwks_url[0] ||
	       cfg->oauth_signing_key[0];
}

static const char *config_scheme_missing(enum tern_scheme s)
{
	switch (s) {
	case TERN_SCHEME_MQTT:
		return NULL;
	case TERN_SCHEME_MQTTS:
		return NULL;
	case TERN_SCHEME_WS:
		return NULL;
	case TERN_SCHEME_WSS:
		return NULL;
	}
	return "unknown scheme";
}

int config_validate(const struct tern_config *cfg, char *err, size_t errlen)
{
	char local[512];

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	if (cfg->n_listeners == 0)
		return config_err(err, errlen,
		                  "no listeners configured (e.g. listeners: "
		                  "[mqtt://127.0.0.1:1883])");
	if (cfg->n_listeners > TERN_MAX_LISTENERS)
		return config_err(err, errlen,
		                  "too many listeners (at most %d)",
		                  TERN_MAX_LISTENERS);
	for (unsigned i = 0; i < cfg->n_listeners; i++) {
		const struct tern_listener_cfg *l = &cfg->listeners[i];
		const char *missing = config_scheme_missing(l->scheme);

		if (missing)
			return config_err(err, errlen,
			                  "listener %s: %s; not available in "
			                  "this build",
			                  l->url, missing);
		if (!l->loopback && !cfg->allow_anonymous &&
		    !cfg->password_file[0] && !config_jwt_on(cfg) &&
		    !cfg->ldap_url[0] && !config_cert_identity(cfg, l))
			return config_err(
			    err, errlen,
			    "listener %s is not on loopback and no "
			    "authentication provider is configured: set "
			    "password_file, ldap_url or a JWT key (jwt_keys, "
			    "jwks_file, jwks_url, jwt_secret_file), require "
			    "client certificates as identity on a TLS "
			    "listener (tls_client_cert: required, "
			    "tls_username_from), or allow_anonymous: true to "
			    "accept anonymous clients there (not "
			    "recommended), or bind to 127.0.0.1",
			    l->url);
		for (unsigned j = 0; j < i; j++) {
			const struct tern_listener_cfg *o = &cfg->listeners[j];

			if (l->port && l->port == o->port &&
			    strcasecmp(l->host, o->host) == 0)
				return config_err(err, errlen,
				                  "listeners %s and %s use the "
				                  "same address",
				                  o->url, l->url);
		}
	}

	for (size_t i = 0; i < CONFIG_ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		const char *field = (const char *)cfg + k->offset;
		uint64_t v = 0;
		uint32_t u;

		switch (k->type) {
		case CONFIG_U32:
			memcpy(&u, field, sizeof(u));
			v = u;
			break;
		case CONFIG_U64:
			memcpy(&v, field, sizeof(v));
			break;
		case CONFIG_ENUM:
			if (k->size == sizeof(bool))
				continue;
			memcpy(&u, field, sizeof(u));
			for (v = 0; k->names[v]; v++)
				;
			if (u >= v)
				return config_err(err, errlen,
				                  "%s: bad value %" PRIu32,
				                  k->name, u);
			continue;
		case CONFIG_STRING:
			if (!memchr(field, '\0', k->size))
				return config_err(
				    err, errlen, "%s: not terminated", k->name);
			continue;
		case CONFIG_BOOL:
		case CONFIG_LISTENERS:
			continue;
		}
		if (v < k->min || v > k->max) {
			char range[64];

			config_range(k, range, sizeof(range));
			return config_err(
			    err, errlen, "%s: %" PRIu64 " is out of range (%s)",
			    k->name, v, range);
		}
	}
	if (!cfg->data_dir[0])
		return config_err(err, errlen, "data_dir: must not be empty");
	for (unsigned i = 0; i < cfg->n_listeners; i++) {
		const struct tern_listener_cfg *l = &cfg->listeners[i];

		if (l->scheme != TERN_SCHEME_MQTTS &&
		    l->scheme != TERN_SCHEME_WSS)
			continue;
		if (!cfg->tls_cert[0] || !cfg->tls_key[0])
			return config_err(err, errlen,
			                  "listener %s needs TLS: set tls_cert "
			                  "and tls_key (PEM certificate chain "
			                  "and private key)",
			                  l->url);
		if (cfg->tls_client_cert != TERN_TLS_CLIENT_CERT_NONE &&
		    !cfg->tls_ca[0])
			return config_err(err, errlen,
			                  "tls_client_cert: %s needs tls_ca (the "
			                  "CA bundle client certificates are "
			                  "verified against)",
			                  cfg->tls_client_cert ==
			                          TERN_TLS_CLIENT_CERT_REQUIRED
			                      ? "required"
			                      : "optional");
		break;
	}
	return 0;
}
