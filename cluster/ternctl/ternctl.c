/*
 * ternctl - the admin CLI: talks to a node's admin HTTP API (/api/v1) and
 * prints aligned tables, or the raw JSON with -o json.
 *
 *   ternctl [--url URL] [--token TOKEN] [-o table|json] [--timeout S] CMD
 *
 * URL defaults to $TERN_ADMIN_URL or http://127.0.0.1:8081, the token to
 * $TERN_ADMIN_TOKEN. Exit codes: 0 ok, 1 the node answered with an error,
 * 2 usage, 3 cannot reach the node, 4 the token was refused (ternctl.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ternctl.h"

#define TERNCTL_DEFAULT_URL "http://127.0.0.1:8081"
#define TERNCTL_MAX_ARGS    8
/* OAuth client secrets: what the node accepts (docs/SECURITY.md) */
#define TERNCTL_SECRET_MIN    16
#define TERNCTL_SECRET_MAX    512
#define TERNCTL_SECRET_RANDOM 32 /* bytes of a generated secret */

struct ternctl {
	const char *url;
	const char *token;
	bool json;
	int timeout_ms;
	const char *filter;
	const char *limit;
	bool discard;
	const char *roles;  /* oauth-client add --roles */
	const char *secret; /* oauth-client add --secret ("-": stdin) */
	/* user / role commands (ternctl_users.c) */
	struct ternctl_users_args ua;
	const char *args[TERNCTL_MAX_ARGS];
	int nargs;
	struct ternctl_url u;
	/* the request body (oauth-client add), sent as JSON */
	char *body;
};

static void ternctl_usage(FILE *out)
{
	fputs("usage: ternctl [--url URL] [--token TOKEN] [-o table|json] "
	      "[--timeout SECONDS] COMMAND\n"
	      "\n"
	      "commands:\n"
	      "  status                          node version, id, uptime, "
	      "counts\n"
	      "  clients list [--filter S] [--limit N]\n"
	      "                                  clients (sessions); S: part "
	      "of the client id\n"
	      "  clients show ID                 one client and its "
	      "subscriptions\n"
	      "  clients kick ID [--discard-session]\n"
	      "                                  disconnect it (MQTT 5: "
	      "DISCONNECT 0x98)\n"
	      "  subscriptions list [--filter S] [--limit N]\n"
	      "  retained list [--filter F] [--limit N]\n"
	      "                                  F: a topic filter (default "
	      "#)\n"
	      "  retained get TOPIC\n"
	      "  retained delete TOPIC\n"
	      "  listeners\n"
	      "  oauth-client list               OAuth clients and their "
	      "roles\n"
	      "  oauth-client show ID\n"
	      "  oauth-client add ID [--roles R1,R2] [--secret S|-]\n"
	      "                                  add or replace; without "
	      "--secret a random\n"
	      "                                  secret is made and printed "
	      "once; - reads it\n"
	      "                                  from standard input\n"
	      "  oauth-client del ID\n"
	      "  user list | show NAME | del NAME\n"
	      "  user add NAME [--password P] [--role R]...\n"
	      "                                  add or replace a user of the "
	      "node's user store\n"
	      "                                  (prompts, or reads standard "
	      "input, without\n"
	      "                                  --password)\n"
	      "  user passwd NAME [--password P] its password (live clients "
	      "are disconnected)\n"
	      "  user roles NAME R1,R2           its roles (\"\" for none)\n"
	      "  role list | show NAME | del NAME\n"
	      "  role put NAME --file RULES.yaml|json\n"
	      "                                  add or replace a role of the "
	      "user store\n"
	      "  passwd FILE USER [--password P] [--iterations N] "
	      "[--scram]\n"
	      "                                  add or replace USER in a "
	      "password file\n"
	      "                                  (offline; prompts when no "
	      "--password)\n"
	      "\n"
	      "options:\n"
	      "  --url URL        admin API of the node (default "
	      "$TERN_ADMIN_URL or " TERNCTL_DEFAULT_URL ")\n"
	      "  --token TOKEN    bearer token (default $TERN_ADMIN_TOKEN)\n"
	      "  -o table|json    output format (default table)\n"
	      "  --timeout S      seconds to connect and to wait for data "
	      "(default 5)\n"
	      "  --version, --help\n"
	      "\n"
	      "exit codes: 0 ok, 1 the node answered with an error, 2 "
	      "usage,\n"
	      "            3 cannot reach the node, 4 the token was "
	      "refused\n",
	      out);
}

static int ternctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int ternctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ternctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(ternctl --help lists the commands)\n", stderr);
	return TERNCTL_EUSAGE;
}

/* ---- arguments ----------------------------------------------------- */

/* Value of option `name` at argv[*i] ("--name V" or "--name=V"). */
static const char *ternctl_opt(int argc, char **argv, int *i, const char *name,
                               bool *bad)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

static int ternctl_args(struct ternctl *t, int argc, char **argv)
{
	bool rest = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		bool bad = false;

		if (rest || a[0] != '-' || !a[1]) {
			if (t->nargs == TERNCTL_MAX_ARGS)
				return ternctl_usage_error(
				    "too many arguments");
			t->args[t->nargs++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			rest = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			ternctl_usage(stdout);
			exit(TERNCTL_OK);
		} else if (!strcmp(a, "--version")) {
			printf("ternctl %s\n", TERN_VERSION);
			exit(TERNCTL_OK);
		} else if (!strcmp(a, "--discard-session")) {
			t->discard = true;
		} else if ((v = ternctl_opt(argc, argv, &i, "--url", &bad))) {
			t->url = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--token", &bad))) {
			t->token = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--output",
		                            &bad)) ||
		           (v = ternctl_opt(argc, argv, &i, "-o", &bad))) {
			if (strcmp(v, "json") && strcmp(v, "table"))
				return ternctl_usage_error(
				    "-o %s: expected table or json", v);
			t->json = !strcmp(v, "json");
		} else if ((v = ternctl_opt(argc, argv, &i, "--timeout",
		                            &bad))) {
			char *end;
			double s = strtod(v, &end);

			if (*end || !(s > 0 && s <= 3600))
				return ternctl_usage_error(
				    "--timeout %s: expected seconds "
				    "(0 to 3600)",
				    v);
			t->timeout_ms = (int)(s * 1000);
		} else if ((v = ternctl_opt(argc, argv, &i, "--filter",
		                            &bad))) {
			t->filter = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--roles", &bad))) {
			t->roles = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--secret",
		                            &bad))) {
			t->secret = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--password",
		                            &bad))) {
			t->ua.password = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--role", &bad))) {
			if (t->ua.n_roles == TERNCTL_MAX_ROLES)
				return ternctl_usage_error("more than %d "
				                           "--role",
				                           TERNCTL_MAX_ROLES);
			t->ua.roles[t->ua.n_roles++] = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--file", &bad))) {
			t->ua.file = v;
		} else if ((v = ternctl_opt(argc, argv, &i, "--limit", &bad))) {
			if (!*v || strspn(v, "0123456789") != strlen(v))
				return ternctl_usage_error(
				    "--limit %s: expected a number", v);
			t->limit = v;
		} else if (bad) {
			return ternctl_usage_error("%s needs a value", a);
		} else {
			return ternctl_usage_error("unknown option %s", a);
		}
		if (bad)
			return ternctl_usage_error("%s needs a value", a);
	}
	return TERNCTL_OK;
}

/* ---- requests ------------------------------------------------------ */

static const char *ternctl_error_text(json_t *j)
{
	const char *s = json_string_value(json_object_get(j, "error"));

	return s ? s : "";
}

/*
 * One API call; *out gets the parsed JSON on success. Prints the problem
 * and returns the exit code otherwise.
 */
static int ternctl_call(struct ternctl *t, const char *method, const char *path,
                        json_t **out)
{
	struct ternctl_resp r;
	char err[512];
	json_error_t jerr;
	json_t *j;

	*out = NULL;
	if (ternctl_http_body(&t->u, method, path, t->token, "application/json",
	                      t->body, t->body ? strlen(t->body) : 0,
	                      t->timeout_ms, &r, err, sizeof(err))) {
		fprintf(stderr, "ternctl: cannot reach the node at %s: %s\n",
		        t->url, err);
		return TERNCTL_ECONNECT;
	}
	j = json_loadb(r.body, r.len, 0, &jerr);
	if (r.status == 401 || r.status == 403) {
		fprintf(stderr,
		        "ternctl: the admin token was refused by the node at "
		        "%s%s%s%s\n",
		        t->url, j ? " (" : "", j ? ternctl_error_text(j) : "",
		        j ? ")" : "");
		if (!t->token || !*t->token)
			fputs("ternctl: no token given: use --token or "
			      "TERN_ADMIN_TOKEN\n",
			      stderr);
		json_decref(j);
		free(r.body);
		return TERNCTL_EAUTH;
	}
	if (r.status < 200 || r.status > 299) {
		if (j && *ternctl_error_text(j))
			fprintf(stderr, "ternctl: %s\n", ternctl_error_text(j));
		else
			fprintf(stderr, "ternctl: the node answered HTTP %d\n",
			        r.status);
		json_decref(j);
		free(r.body);
		return TERNCTL_ESERVER;
	}
	free(r.body);
	if (!j) {
		fprintf(stderr,
		        "ternctl: the node at %s did not answer with JSON: "
		        "%s\n",
		        t->url, jerr.text);
		return TERNCTL_ESERVER;
	}
	*out = j;
	return TERNCTL_OK;
}

/* ---- formatting ---------------------------------------------------- */

/* Text of j[key] in buf: strings as they are, numbers, yes/no, "-". */
static const char *ternctl_val(json_t *j, const char *key, char *buf,
                               size_t cap)
{
	json_t *v = json_object_get(j, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_true(v))
		snprintf(buf, cap, "yes");
	else if (json_is_false(v))
		snprintf(buf, cap, "no");
	else
		snprintf(buf, cap, "-");
	return buf;
}

static const char *ternctl_proto(json_t *j, char *buf, size_t cap)
{
	switch (json_integer_value(json_object_get(j, "protocol_version"))) {
	case 3:
		return "3.1";
	case 4:
		return "3.1.1";
	case 5:
		return "5.0";
	default:
		return ternctl_val(j, "protocol_version", buf, cap);
	}
}

static const char *ternctl_expiry(json_t *j, char *buf, size_t cap)
{
	json_int_t e = json_integer_value(json_object_get(j, "session_expiry"));

	if (e == 4294967295LL)
		return "never";
	snprintf(buf, cap, "%llds", (long long)e);
	return buf;
}

static const char *ternctl_duration(json_int_t s, char *buf, size_t cap)
{
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d)
		snprintf(buf, cap, "%lldd %lldh %lldm", d, h, m);
	else if (h)
		snprintf(buf, cap, "%lldh %lldm %llds", h, m,
		         (long long)s % 60);
	else
		snprintf(buf, cap, "%lldm %llds", m, (long long)s % 60);
	return buf;
}

/* Key/value rows from (label, key) pairs that are present in j; the
 * caller may add rows, then prints. */
static struct ternctl_table *ternctl_kv(json_t *j, const char *const pairs[][2],
                                        size_t n)
{
	struct ternctl_table *t = ternctl_table_new(2, NULL);
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		const char *row[2];

		if (!json_object_get(j, pairs[i][1]))
			continue;
		row[0] = pairs[i][0];
		row[1] = ternctl_val(j, pairs[i][1], buf, sizeof(buf));
		ternctl_table_add(t, row);
	}
	return t;
}

static void ternctl_kv_add(struct ternctl_table *t, const char *k,
                           const char *v)
{
	const char *row[2] = {k, v};

	ternctl_table_add(t, row);
}

static void ternctl_more(json_t *j, const char *key)
{
	size_t shown = json_array_size(json_object_get(j, key));
	json_int_t total = json_integer_value(json_object_get(j, "total"));

	if ((json_int_t)shown < total)
		printf("(%zu of %lld shown; use --limit)\n", shown,
		       (long long)total);
}

/* ---- commands ------------------------------------------------------ */

static void ternctl_print_status(json_t *j)
{
	static const char *const pairs[][2] = {
	    {"version", "version"},
	    {"node id", "node_id"},
	    {"workers", "workers"},
	    {"ready", "ready"},
	    {"connections", "connections"},
	    {"clients connected", "clients_connected"},
	    {"sessions", "sessions"},
	    {"subscriptions", "subscriptions"},
	    {"retained messages", "retained_messages"},
	    {"inflight messages", "inflight_messages"},
	    {"queued messages", "queued_messages"},
	    {"messages received", "messages_received"},
	    {"messages sent", "messages_sent"},
	    {"admin", "admin_url"},
	};
	json_t *ls = json_object_get(j, "listeners"), *l;
	char buf[64];
	size_t i;

	struct ternctl_table *t =
	    ternctl_kv(j, pairs, sizeof(pairs) / sizeof(pairs[0]));

	ternctl_kv_add(t, "uptime",
	               ternctl_duration(json_integer_value(json_object_get(
	                                    j, "uptime_seconds")),
	                                buf, sizeof(buf)));
	json_array_foreach(ls, i, l)
	{
		char line[512];

		snprintf(line, sizeof(line), "%s (%lld connections)",
		         json_string_value(json_object_get(l, "url")),
		         (long long)json_integer_value(
		             json_object_get(l, "connections")));
		ternctl_kv_add(t, "listener", line);
	}
	ternctl_table_print(t, stdout);
}

static void ternctl_print_clients(json_t *j)
{
	static const char *const heads[] = {
	    "CLIENT ID", "CONNECTED", "PEER",     "PROTOCOL", "KEEPALIVE",
	    "EXPIRY",    "SUBS",      "INFLIGHT", "QUEUED",   "DROPPED",
	};
	struct ternctl_table *t = ternctl_table_new(10, heads);
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(j, "clients"), i, c)
	{
		char b[9][64];
		const char *row[10] = {
		    json_string_value(json_object_get(c, "client_id")),
		    ternctl_val(c, "connected", b[0], 64),
		    ternctl_val(c, "peer", b[1], 64),
		    ternctl_proto(c, b[2], 64),
		    ternctl_val(c, "keepalive", b[3], 64),
		    ternctl_expiry(c, b[4], 64),
		    ternctl_val(c, "subscriptions", b[5], 64),
		    ternctl_val(c, "inflight", b[6], 64),
		    ternctl_val(c, "queued", b[7], 64),
		    ternctl_val(c, "dropped", b[8], 64),
		};
		ternctl_table_add(t, row);
	}
	ternctl_table_print(t, stdout);
	ternctl_more(j, "clients");
}

/* Subscriptions of j[key]; with_client adds the client id column. */
static void ternctl_print_subs(json_t *arr, bool with_client)
{
	static const char *const heads[] = {
	    "CLIENT ID",       "FILTER",   "QOS",
	    "SHARE GROUP",     "NO LOCAL", "RETAIN AS PUBLISHED",
	    "RETAIN HANDLING", "SUB ID",
	};
	size_t skip = with_client ? 0 : 1;
	struct ternctl_table *t = ternctl_table_new(8 - skip, heads + skip);
	json_t *s;
	size_t i;

	json_array_foreach(arr, i, s)
	{
		char b[8][64];
		const char *row[8] = {
		    ternctl_val(s, "client_id", b[0], 64),
		    ternctl_val(s, "filter", b[1], 64),
		    ternctl_val(s, "qos", b[2], 64),
		    ternctl_val(s, "share_group", b[3], 64),
		    ternctl_val(s, "no_local", b[4], 64),
		    ternctl_val(s, "retain_as_published", b[5], 64),
		    ternctl_val(s, "retain_handling", b[6], 64),
		    ternctl_val(s, "subscription_id", b[7], 64),
		};
		ternctl_table_add(t, row + skip);
	}
	ternctl_table_print(t, stdout);
}

static void ternctl_print_client(json_t *j)
{
	static const char *const pairs[][2] = {
	    {"client id", "client_id"},
	    {"connected", "connected"},
	    {"peer", "peer"},
	    {"listener", "listener"},
	    {"certificate user", "cert_user"},
	    {"keepalive", "keepalive"},
	    {"session expires in", "expires_in"},
	    {"worker", "worker"},
	    {"subscriptions", "subscriptions"},
	    {"inflight", "inflight"},
	    {"queued", "queued"},
	    {"queued bytes", "queued_bytes"},
	    {"dropped", "dropped"},
	    {"receive maximum", "receive_maximum"},
	    {"maximum packet size", "maximum_packet_size"},
	};
	json_t *will = json_object_get(j, "will");
	char b[64];

	struct ternctl_table *t =
	    ternctl_kv(j, pairs, sizeof(pairs) / sizeof(pairs[0]));

	ternctl_kv_add(t, "protocol", ternctl_proto(j, b, sizeof(b)));
	ternctl_kv_add(t, "session expiry", ternctl_expiry(j, b, sizeof(b)));
	if (will) {
		char line[512];

		snprintf(
		    line, sizeof(line), "%s (qos %lld, delay %llds)",
		    json_string_value(json_object_get(will, "topic")),
		    (long long)json_integer_value(json_object_get(will, "qos")),
		    (long long)json_integer_value(
		        json_object_get(will, "delay")));
		ternctl_kv_add(t, "will", line);
	}
	ternctl_table_print(t, stdout);
	if (json_array_size(json_object_get(j, "subscription_list"))) {
		printf("\n");
		ternctl_print_subs(json_object_get(j, "subscription_list"),
		                   false);
	}
}

static void ternctl_print_retained(json_t *j)
{
	static const char *const heads[] = {"TOPIC", "QOS", "BYTES",
	                                    "EXPIRES IN"};
	struct ternctl_table *t = ternctl_table_new(4, heads);
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(j, "retained"), i, m)
	{
		char b[3][64];
		const char *row[4] = {
		    json_string_value(json_object_get(m, "topic")),
		    ternctl_val(m, "qos", b[0], 64),
		    ternctl_val(m, "payload_bytes", b[1], 64),
		    ternctl_val(m, "message_expiry", b[2], 64),
		};
		ternctl_table_add(t, row);
	}
	ternctl_table_print(t, stdout);
	ternctl_more(j, "retained");
}

static void ternctl_print_message(json_t *j)
{
	static const char *const pairs[][2] = {
	    {"topic", "topic"},
	    {"qos", "qos"},
	    {"bytes", "payload_bytes"},
	    {"expires in", "message_expiry"},
	    {"payload format", "payload_format"},
	    {"content type", "content_type"},
	};
	json_t *u = json_object_get(j, "payload_utf8");

	ternctl_table_print(
	    ternctl_kv(j, pairs, sizeof(pairs) / sizeof(pairs[0])), stdout);
	if (u)
		printf("payload\n%s\n", json_string_value(u));
	else
		printf("payload (base64)\n%s\n",
		       json_string_value(json_object_get(j, "payload_base64")));
}

static void ternctl_print_listeners(json_t *j)
{
	static const char *const heads[] = {"URL", "SCHEME", "CONNECTIONS"};
	struct ternctl_table *t = ternctl_table_new(3, heads);
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(j, "listeners"), i, l)
	{
		char b[2][64];
		const char *row[3] = {
		    json_string_value(json_object_get(l, "url")),
		    ternctl_val(l, "scheme", b[0], 64),
		    ternctl_val(l, "connections", b[1], 64),
		};
		ternctl_table_add(t, row);
	}
	ternctl_table_print(t, stdout);
	printf("admin: %s\n", json_string_value(json_object_get(j, "admin")));
}

/* Roles of j["roles"] joined by ", " into buf ("-" if none). */
static const char *ternctl_roles_text(json_t *j, char *buf, size_t cap)
{
	json_t *r;
	size_t i, len = 0;

	buf[0] = 0;
	json_array_foreach(json_object_get(j, "roles"), i, r)
	{
		int n =
		    snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
		             json_is_string(r) ? json_string_value(r) : "?");

		if (n < 0 || (size_t)n >= cap - len) {
			/* cut, and say so */
			if (cap > 4)
				snprintf(buf + cap - 4, 4, "...");
			break;
		}
		len += (size_t)n;
	}
	return buf[0] ? buf : "-";
}

static void ternctl_print_oauth_clients(json_t *j)
{
	static const char *const heads[] = {"CLIENT ID", "ROLES"};
	struct ternctl_table *t = ternctl_table_new(2, heads);
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(j, "clients"), i, c)
	{
		char roles[4096];
		const char *row[2] = {
		    json_string_value(json_object_get(c, "client_id")),
		    ternctl_roles_text(c, roles, sizeof(roles)),
		};
		ternctl_table_add(t, row);
	}
	ternctl_table_print(t, stdout);
}

static void ternctl_print_oauth_client(json_t *j)
{
	struct ternctl_table *t = ternctl_table_new(2, NULL);
	char roles[4096];

	ternctl_kv_add(t, "client id",
	               json_string_value(json_object_get(j, "client_id")));
	ternctl_kv_add(t, "roles", ternctl_roles_text(j, roles, sizeof(roles)));
	ternctl_table_print(t, stdout);
}

/*
 * The secret for oauth-client add into buf: --secret S as given, "-" one
 * line of standard input, none 32 random bytes in base64url (*made set).
 * Returns an exit code (usage error for a secret the node would refuse).
 */
static int ternctl_oauth_secret(const struct ternctl *t, char *buf, size_t cap,
                                bool *made)
{
	size_t len;

	*made = false;
	if (!t->secret) {
		unsigned char raw[TERNCTL_SECRET_RANDOM];
		char b64[2 * TERNCTL_SECRET_RANDOM];
		size_t o = 0;

		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			fputs("ternctl: no random bytes for the secret\n",
			      stderr);
			return TERNCTL_ESERVER;
		}
		EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
		OPENSSL_cleanse(raw, sizeof(raw));
		/* base64url without padding (RFC 4648 section 5) */
		for (const char *p = b64; *p && *p != '=' && o + 1 < cap; p++)
			buf[o++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
		buf[o] = 0;
		OPENSSL_cleanse(b64, sizeof(b64));
		*made = true;
		return TERNCTL_OK;
	}
	if (!strcmp(t->secret, "-")) {
		if (ternctl_read_secret("Secret: ", buf, cap)) {
			fputs("ternctl: cannot read the secret from the "
			      "terminal\n",
			      stderr);
			return TERNCTL_EUSAGE;
		}
	} else {
		snprintf(buf, cap, "%s", t->secret);
	}
	len = strlen(buf);
	if (len < TERNCTL_SECRET_MIN || len > TERNCTL_SECRET_MAX) {
		OPENSSL_cleanse(buf, cap);
		return ternctl_usage_error(
		    "the secret must be %d to %d bytes%s", TERNCTL_SECRET_MIN,
		    TERNCTL_SECRET_MAX,
		    !strcmp(t->secret, "-") && !len
		        ? " (nothing was read from standard input)"
		        : "");
	}
	return TERNCTL_OK;
}

/* --roles "a,b" as a JSON array into *out (spaces around names dropped). */
static int ternctl_oauth_roles(const char *roles, json_t **out)
{
	json_t *arr = json_array();
	const char *p = roles ? roles : "";

	*out = NULL;
	if (!arr)
		return TERNCTL_ESERVER;
	while (*p) {
		size_t n = strcspn(p, ","), b = 0, e = n;

		while (b < e && p[b] == ' ')
			b++;
		while (e > b && p[e - 1] == ' ')
			e--;
		if (b == e) {
			json_decref(arr);
			return ternctl_usage_error("--roles %s: an empty role "
			                           "name",
			                           roles);
		}
		if (json_array_append_new(arr, json_stringn(p + b, e - b))) {
			json_decref(arr);
			return ternctl_usage_error("--roles %s: not UTF-8 text",
			                           roles);
		}
		p += n;
		if (*p == ',' && !*++p) {
			json_decref(arr);
			return ternctl_usage_error("--roles %s: an empty role "
			                           "name",
			                           roles);
		}
	}
	*out = arr;
	return TERNCTL_OK;
}

enum ternctl_cmd {
	TERNCTL_STATUS,
	TERNCTL_CLIENTS,
	TERNCTL_CLIENT,
	TERNCTL_KICK,
	TERNCTL_SUBS,
	TERNCTL_RETAINED,
	TERNCTL_MESSAGE,
	TERNCTL_DELETE,
	TERNCTL_LISTENERS,
	TERNCTL_OAUTH_LIST,
	TERNCTL_OAUTH_SHOW,
	TERNCTL_OAUTH_ADD,
	TERNCTL_OAUTH_DEL,
	TERNCTL_USERS, /* user / role: ternctl_users.c */
};

static bool ternctl_is(const struct ternctl *t, const char *a, const char *b,
                       int nargs)
{
	return t->nargs == nargs && !strcmp(t->args[0], a) &&
	       (!b || (t->nargs > 1 && !strcmp(t->args[1], b)));
}

/* Picks the command and builds its method and path. */
static int ternctl_parse_cmd(struct ternctl *t, enum ternctl_cmd *cmd,
                             const char **method, char *path, size_t cap)
{
	bool list = false;

	*method = "GET";
	path[0] = 0;
	if (t->nargs == 0)
		return ternctl_usage_error("no command given");
	if (ternctl_is(t, "status", NULL, 1)) {
		*cmd = TERNCTL_STATUS;
		snprintf(path, cap, "/api/v1/status");
	} else if (ternctl_is(t, "clients", "list", 2) ||
	           ternctl_is(t, "clients", NULL, 1)) {
		*cmd = TERNCTL_CLIENTS;
		snprintf(path, cap, "/api/v1/clients?");
		list = true;
	} else if (ternctl_is(t, "clients", "show", 3) ||
	           ternctl_is(t, "clients", "kick", 3)) {
		bool kick = !strcmp(t->args[1], "kick");

		*cmd = kick ? TERNCTL_KICK : TERNCTL_CLIENT;
		*method = kick ? "DELETE" : "GET";
		snprintf(path, cap, "/api/v1/clients/");
		ternctl_url_escape(t->args[2], path, cap);
		if (kick && t->discard)
			strncat(path, "?session=discard",
			        cap - strlen(path) - 1);
	} else if (ternctl_is(t, "subscriptions", "list", 2) ||
	           ternctl_is(t, "subscriptions", NULL, 1)) {
		*cmd = TERNCTL_SUBS;
		snprintf(path, cap, "/api/v1/subscriptions?");
		list = true;
	} else if (ternctl_is(t, "retained", "list", 2) ||
	           ternctl_is(t, "retained", NULL, 1)) {
		*cmd = TERNCTL_RETAINED;
		snprintf(path, cap, "/api/v1/retained?");
		list = true;
	} else if (ternctl_is(t, "retained", "get", 3) ||
	           ternctl_is(t, "retained", "delete", 3)) {
		bool del = !strcmp(t->args[1], "delete");

		*cmd = del ? TERNCTL_DELETE : TERNCTL_MESSAGE;
		*method = del ? "DELETE" : "GET";
		snprintf(path, cap, "/api/v1/retained/");
		ternctl_url_escape(t->args[2], path, cap);
	} else if (ternctl_is(t, "listeners", NULL, 1)) {
		*cmd = TERNCTL_LISTENERS;
		snprintf(path, cap, "/api/v1/listeners");
	} else if (ternctl_is(t, "oauth-client", "list", 2) ||
	           ternctl_is(t, "oauth-client", NULL, 1)) {
		*cmd = TERNCTL_OAUTH_LIST;
		snprintf(path, cap, "/api/v1/oauth-clients");
	} else if (ternctl_is(t, "oauth-client", "show", 3) ||
	           ternctl_is(t, "oauth-client", "add", 3) ||
	           ternctl_is(t, "oauth-client", "del", 3) ||
	           ternctl_is(t, "oauth-client", "delete", 3)) {
		const char *sub = t->args[1];

		*cmd = !strcmp(sub, "show")  ? TERNCTL_OAUTH_SHOW
		       : !strcmp(sub, "add") ? TERNCTL_OAUTH_ADD
		                             : TERNCTL_OAUTH_DEL;
		*method = *cmd == TERNCTL_OAUTH_SHOW  ? "GET"
		          : *cmd == TERNCTL_OAUTH_ADD ? "PUT"
		                                      : "DELETE";
		if (!t->args[2][0])
			return ternctl_usage_error("oauth-client %s: empty "
			                           "client id",
			                           sub);
		snprintf(path, cap, "/api/v1/oauth-clients/");
		ternctl_url_escape(t->args[2], path, cap);
	} else if (!strcmp(t->args[0], "user") ||
	           !strcmp(t->args[0], "role")) {
		*cmd = TERNCTL_USERS;
		snprintf(path, cap, "/");
	} else {
		return ternctl_usage_error("unknown command or wrong "
		                           "arguments: %s",
		                           t->args[0]);
	}
	if (*cmd != TERNCTL_USERS &&
	    (t->ua.password || t->ua.n_roles || t->ua.file))
		return ternctl_usage_error("--password, --role and --file go "
		                           "with user and role commands only");
	if (!list && (t->filter || t->limit))
		return ternctl_usage_error("--filter and --limit go with "
		                           "list commands only");
	if (t->discard && *cmd != TERNCTL_KICK)
		return ternctl_usage_error("--discard-session goes with "
		                           "clients kick only");
	if ((t->roles || t->secret) && *cmd != TERNCTL_OAUTH_ADD)
		return ternctl_usage_error("--roles and --secret go with "
		                           "oauth-client add only");
	if (list) {
		if (t->filter) {
			strncat(path, "filter=", cap - strlen(path) - 1);
			ternctl_url_escape(t->filter, path, cap);
		}
		if (t->limit) {
			strncat(path, t->filter ? "&limit=" : "limit=",
			        cap - strlen(path) - 1);
			strncat(path, t->limit, cap - strlen(path) - 1);
		}
	}
	if (strlen(path) + 8 >= cap)
		return ternctl_usage_error("argument too long");
	return TERNCTL_OK;
}

/*
 * The body of oauth-client add into t->body: {"secret": S, "roles": [..]}
 * with the secret in secret (cap bytes; *made when generated here).
 */
static int ternctl_oauth_body(struct ternctl *t, char *secret, size_t cap,
                              bool *made, json_t **roles)
{
	json_t *b;
	int rc;

	rc = ternctl_oauth_roles(t->roles, roles);
	if (rc)
		return rc;
	rc = ternctl_oauth_secret(t, secret, cap, made);
	if (rc)
		return rc;
	b = json_pack("{s:s, s:O}", "secret", secret, "roles", *roles);
	if (!b) {
		OPENSSL_cleanse(secret, cap);
		return ternctl_usage_error("the secret is not UTF-8 text");
	}
	t->body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!t->body) {
		fputs("ternctl: out of memory\n", stderr);
		return TERNCTL_ESERVER;
	}
	return TERNCTL_OK;
}

/* What oauth-client add prints; the secret only when made here. */
static void ternctl_print_oauth_add(const struct ternctl *t, json_t *j,
                                    json_t *roles, const char *secret,
                                    bool made)
{
	char buf[4096];

	if (t->json) {
		json_object_set(j, "roles", roles);
		if (made)
			json_object_set_new(j, "secret", json_string(secret));
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		if (made)
			fputs("ternctl: the secret is shown only now: it "
			      "cannot be shown again\n",
			      stderr);
		return;
	}
	json_object_set(j, "roles", roles);
	printf("OAuth client %s written (roles: %s)\n", t->args[2],
	       ternctl_roles_text(j, buf, sizeof(buf)));
	if (made)
		printf("secret: %s\n"
		       "(shown only now: it cannot be shown again; store it "
		       "safely)\n",
		       secret);
}

int main(int argc, char **argv)
{
	struct ternctl t = {.timeout_ms = 5000};
	enum ternctl_cmd cmd = TERNCTL_STATUS;
	const char *method;
	char path[16384], err[512], secret[TERNCTL_SECRET_MAX + 512];
	json_t *j, *roles = NULL;
	bool made = false;
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "passwd"))
		return ternctl_passwd(argc - 2, argv + 2);
	t.url = getenv("TERN_ADMIN_URL");
	if (!t.url || !*t.url)
		t.url = TERNCTL_DEFAULT_URL;
	t.token = getenv("TERN_ADMIN_TOKEN");
	rc = ternctl_args(&t, argc, argv);
	if (rc)
		return rc;
	rc = ternctl_parse_cmd(&t, &cmd, &method, path, sizeof(path));
	if (rc)
		return rc;
	if (ternctl_url_parse(t.url, &t.u, err, sizeof(err))) {
		fprintf(stderr, "ternctl: %s\n", err);
		return TERNCTL_EUSAGE;
	}
	if (cmd == TERNCTL_USERS) {
		t.ua.u = &t.u;
		t.ua.url = t.url;
		t.ua.token = t.token;
		t.ua.json = t.json;
		t.ua.timeout_ms = t.timeout_ms;
		t.ua.args = t.args;
		t.ua.nargs = t.nargs;
		return ternctl_users(&t.ua);
	}
	secret[0] = 0;
	if (cmd == TERNCTL_OAUTH_ADD) {
		rc = ternctl_oauth_body(&t, secret, sizeof(secret), &made,
		                        &roles);
		if (rc) {
			json_decref(roles);
			return rc;
		}
	}
	rc = ternctl_call(&t, method, path, &j);
	if (t.body) {
		OPENSSL_cleanse(t.body, strlen(t.body));
		free(t.body);
		t.body = NULL;
	}
	if (cmd == TERNCTL_OAUTH_ADD && !rc)
		ternctl_print_oauth_add(&t, j, roles, secret, made);
	OPENSSL_cleanse(secret, sizeof(secret));
	json_decref(roles);
	if (rc)
		return rc;
	if (cmd == TERNCTL_OAUTH_ADD) {
		json_decref(j);
		return TERNCTL_OK;
	}
	if (t.json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
		return TERNCTL_OK;
	}
	switch (cmd) {
	case TERNCTL_STATUS:
		ternctl_print_status(j);
		break;
	case TERNCTL_CLIENTS:
		ternctl_print_clients(j);
		break;
	case TERNCTL_CLIENT:
		ternctl_print_client(j);
		break;
	case TERNCTL_KICK:
		printf("kicked %s (%s); session %s\n", t.args[2],
		       json_is_true(json_object_get(j, "was_connected"))
		           ? "was connected"
		           : "was not connected",
		       json_is_true(json_object_get(j, "session_discarded"))
		           ? "discarded"
		       : json_is_true(json_object_get(j, "session_kept"))
		           ? "kept"
		           : "ended");
		break;
	case TERNCTL_SUBS:
		ternctl_print_subs(json_object_get(j, "subscriptions"), true);
		ternctl_more(j, "subscriptions");
		break;
	case TERNCTL_RETAINED:
		ternctl_print_retained(j);
		break;
	case TERNCTL_MESSAGE:
		ternctl_print_message(j);
		break;
	case TERNCTL_DELETE:
		printf("deleted the retained message on %s\n", t.args[2]);
		break;
	case TERNCTL_LISTENERS:
		ternctl_print_listeners(j);
		break;
	case TERNCTL_OAUTH_LIST:
		ternctl_print_oauth_clients(j);
		break;
	case TERNCTL_OAUTH_SHOW:
		ternctl_print_oauth_client(j);
		break;
	case TERNCTL_OAUTH_DEL:
		printf("deleted OAuth client %s\n", t.args[2]);
		break;
	case TERNCTL_OAUTH_ADD:
	case TERNCTL_USERS:
		break;
	}
	json_decref(j);
	return TERNCTL_OK;
}
