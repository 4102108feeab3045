/*
 * config.h - the node's configuration: one struct, filled from (lowest to
 * highest precedence) built-in defaults, a YAML file (--config), TERN_*
 * environment variables, and command-line flags.
 *
 * Every key is described once in a table in config.c (name, type, range,
 * default, help); docs/CONFIG.md documents the same keys. Unknown keys and
 * bad values are refused with the key's name and the reason.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERN_MAX_LISTENERS 16

enum tern_scheme {
	TERN_SCHEME_MQTT = 0, /* mqtt://  plain TCP */
	TERN_SCHEME_MQTTS,    /* mqtts:// TLS (later issue) */
	TERN_SCHEME_WS,       /* ws://    (later issue) */
	TERN_SCHEME_WSS,      /* wss://   (later issue) */
};

enum tern_log_level {
	TERN_LOG_ERROR = 0,
	TERN_LOG_WARN,
	TERN_LOG_INFO,
	TERN_LOG_DEBUG,
	TERN_LOG_TRACE,
};

struct tern_listener_cfg {
	char url[256];
	enum tern_scheme scheme;
	char host[128]; /* numeric IPv4/IPv6 address or "localhost" */
	uint16_t port;  /* 0: pick a free port (tests) */
	bool loopback;  /* host is in 127.0.0.0/8, ::1 or "localhost" */
	uint8_t proxy;  /* ?proxy=: 0 none, 1 v1, 2 v2, 3 any (proxy.h) */
};

struct tern_config {
	struct tern_listener_cfg listeners[TERN_MAX_LISTENERS];
	unsigned n_listeners;

	bool allow_anonymous; /* set: anonymous allowed on every listener */
	bool allow_anonymous_loopback; /* anonymous allowed on loopback ones */
	char password_file[512]; /* username:$pbkdf2-sha512$... lines */
	char acl_file[512];      /* roles and rules (acl.h) */
	/* failed-authentication limiter (auth_limit.h); 0 disables it */
	uint32_t auth_fail_burst;      /* failures in a row per address/id */
	uint32_t auth_fail_per_minute; /* failures allowed back per minute */
	uint32_t auth_fail_delay_ms;   /* throttled: closed after this */
	/* JWT provider (auth_jwt.c); any of the three key sources enables it */
	char jwt_keys[2048];      /* comma-separated PEM files */
	char jwt_secret_file[512]; /* HMAC secret (HS256) */
	char jwks_file[512];      /* RFC 7517 key set */
	char jwks_url[512];       /* http(s):// RFC 7517 key set (fetched) */
	char jwks_ca_file[512];   /* PEM CAs for an https:// jwks_url */
	uint32_t jwks_refresh;    /* seconds between fetches */
	uint32_t jwks_timeout_ms; /* one fetch */
	char jwt_issuer[256];     /* "" = iss not checked */
	char jwt_audience[256];   /* "" = tokens with aud refused */
	char jwt_username_claim[64];
	char jwt_roles_claim[64]; /* "" = no roles from tokens */
	uint32_t jwt_leeway;      /* seconds of clock skew */
	uint32_t jwt_match;       /* enum tern_jwt_match */
	char oauth_signing_key[512]; /* PEM private key of the token endpoint */
	uint32_t oauth_token_ttl;    /* seconds */
	/* LDAP provider (auth_ldap.c); ldap_url enables it */
	char ldap_url[512];           /* ldap://HOST[:PORT] or ldaps:// */
	bool ldap_starttls;           /* StartTLS on an ldap:// URL */
	char ldap_ca_file[512];       /* PEM CAs for ldaps:// / StartTLS */
	char ldap_bind_dn[512];       /* "uid=%u,ou=people,..."; or: */
	char ldap_search_base[512];   /* search-then-bind from here */
	char ldap_search_filter[512]; /* "(uid=%u)" */
	char ldap_service_dn[512];    /* who searches ("": anonymous) */
	char ldap_service_password_file[512];
	char ldap_group_attr[64];     /* group DNs on the user's entry */
	char ldap_group_base[512];    /* group search from here */
	char ldap_group_filter[512];  /* "(member=%d)" */
	char ldap_role_map[4096];     /* "GROUP_DN=role role2; ..." */
	uint32_t ldap_timeout_ms;     /* whole verification */
	char data_dir[512];
	enum tern_log_level log_level;
	bool log_json;
	char port_file[512]; /* if set, write "URL\n" per bound listener */

	uint32_t workers; /* worker loops; 0 in the file = number of CPUs */

	/* limits */
	uint32_t max_connections;
	uint32_t max_packet_size;      /* bytes, whole packet, both ways */
	uint32_t max_inflight;         /* receive maximum we advertise and use */
	uint32_t max_queued_messages;  /* per session */
	uint64_t max_queued_bytes;     /* per session */
	uint64_t max_qos0_backlog;     /* per worker */
	uint32_t max_topic_levels;
	uint32_t max_topic_alias;      /* topic alias maximum we accept */
	uint32_t keepalive_max;        /* seconds; larger client values are cut */
	uint32_t connect_timeout_ms;   /* socket without CONNECT is closed */
	uint32_t max_session_expiry;   /* seconds; cap on client's value */
	uint32_t max_client_id_len;

	/* features */
	uint32_t max_qos;              /* 0..2 */
	bool retain_available;
	bool wildcard_sub_available;
	bool shared_sub_available;
	bool sub_id_available;

	uint32_t sys_interval; /* seconds between $SYS updates; 0 = off */

	/* TLS (mqtts:// and wss:// listeners) */
	char tls_cert[512];       /* PEM certificate chain */
	char tls_key[512];        /* PEM private key */
	char tls_ca[512];         /* PEM CA bundle for client certificates */
	char tls_crl[512];        /* PEM CRL checked against client certs */
	char tls_ciphers[512];    /* TLS 1.2 cipher list; empty: OpenSSL's */
	char tls_ciphersuites[256]; /* TLS 1.3 suites; empty: OpenSSL's */
	uint32_t tls_min_version; /* 0: TLS 1.2, 1: TLS 1.3 */
	uint32_t tls_client_cert; /* 0 none, 1 optional, 2 required */
	uint32_t tls_username_from; /* 0 none, 1 cn, 2 san */

	/* WebSocket (ws:// and wss:// listeners) */
	char ws_path[128];        /* HTTP path of the upgrade, e.g. /mqtt */
	char ws_origins[1024];    /* comma-separated allowlist; empty: any */
	uint32_t ws_max_frame;    /* largest frame payload accepted */

	/* durability of sessions, QoS 1/2 messages and retained messages */
	uint32_t durability;      /* enum tern_durability */
	uint64_t store_map_size;  /* bytes of address space for LMDB */

	/* admin HTTP: /metrics, /healthz, /readyz, /api/v1 */
	char admin_listen[160];   /* HOST:PORT; empty: off */
	char admin_token[256];    /* bearer token for /api/v1 */
	bool admin_require_token; /* false: loopback API without a token */
};

enum tern_durability {
	TERN_DURABILITY_NONE = 0,      /* memory only */
	TERN_DURABILITY_PROCESS_CRASH, /* LMDB, no fsync: survives kill -9 */
	TERN_DURABILITY_POWER_LOSS,    /* LMDB, fsync before acknowledging */
};

enum tern_tls_client_cert {
	TERN_TLS_CLIENT_CERT_NONE = 0,
	TERN_TLS_CLIENT_CERT_OPTIONAL,
	TERN_TLS_CLIENT_CERT_REQUIRED,
};

enum tern_jwt_match {
	TERN_JWT_MATCH_NONE = 0, /* the CONNECT username is not compared */
	TERN_JWT_MATCH_USERNAME, /* a CONNECT username must equal the claim */
	TERN_JWT_MATCH_CLIENT_ID, /* the client id must equal the claim */
};

enum tern_tls_username_from {
	TERN_TLS_USERNAME_NONE = 0,
	TERN_TLS_USERNAME_CN,
	TERN_TLS_USERNAME_SAN,
};

/*
 * Fills *cfg from defaults, the file named by --config (if any), TERN_*
 * environment variables (envp, NULL-terminated "K=V" strings) and argv.
 * Returns 0 when the node should start, 1 when a flag such as --help or
 * --version was handled (text already printed to stdout) and the process
 * should exit 0, or TERN_ECONFIG with a one-line reason in err.
 * The final config is validated (see config_validate).
 */
int config_load(struct tern_config *cfg, int argc, char **argv, char **envp,
		char *err, size_t errlen);

/* Built-in defaults: listener mqtt://127.0.0.1:1883, anonymous allowed there. */
void config_defaults(struct tern_config *cfg);

/*
 * Cross-key checks: at least one listener; only mqtt:// listeners for now;
 * a listener on a non-loopback address needs allow_anonymous or a
 * password_file; ranges. Returns 0 or TERN_ECONFIG
 * with the reason in err.
 */
/* True if a JWT key source is configured (the JWT provider is on). */
bool config_jwt_on(const struct tern_config *cfg);

int config_validate(const struct tern_config *cfg, char *err, size_t errlen);

/* Name of the i-th configuration key, or NULL past the last (docs, tests). */
const char *config_key_name(size_t i);

/*
 * Parses "mqtt://HOST:PORT" (IPv6 as [addr]) into *l. Returns 0 or
 * TERN_ECONFIG with the reason in err.
 */
int config_parse_listener(const char *url, struct tern_listener_cfg *l,
			  char *err, size_t errlen);

#endif
