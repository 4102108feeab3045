/*
 * ternctl_users.c - `ternctl user ...` and `ternctl role ...`: the node's
 * user store through /api/v1/users and /api/v1/roles (docs/ADMIN.md).
 * Passwords go to the node in the request body (it hashes them); they are
 * never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "ternctl.h"

#define TERNCTL_PASSWORD_MAX 1024
#define TERNCTL_RULES_MAX    (1u << 20)

static int ternctl_users_usage(const char *what)
{
	fprintf(stderr, "ternctl: %s\n(ternctl --help lists the commands)\n",
	        what);
	return TERNCTL_EUSAGE;
}

/* One call: *out the parsed JSON answer on success; prints the problem
 * and returns the exit code otherwise (as ternctl_call does). */
static int ternctl_users_call(const struct ternctl_users_args *a,
                              const char *method, const char *path,
                              const char *ctype, const char *body, json_t **out)
{
	struct ternctl_resp r;
	char err[512];
	json_t *j;

	*out = NULL;
	if (ternctl_http_body(a->u, method, path, a->token, ctype, body,
	                      body ? strlen(body) : 0, a->timeout_ms, &r, err,
	                      sizeof(err))) {
		fprintf(stderr, "ternctl: cannot reach the node at %s: %s\n",
		        a->url, err);
		return TERNCTL_ECONNECT;
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	free(r.body);
	if (r.status == 401 || r.status == 403) {
		fprintf(stderr,
		        "ternctl: the admin token was refused by the "
		        "node at %s\n",
		        a->url);
		json_decref(j);
		return TERNCTL_EAUTH;
	}
	if (r.status < 200 || r.status > 299) {
		const char *e = json_string_value(json_object_get(j, "error"));

		if (e)
			fprintf(stderr, "ternctl: %s\n", e);
		else
			fprintf(stderr, "ternctl: the node answered HTTP %d\n",
			        r.status);
		json_decref(j);
		return TERNCTL_ESERVER;
	}
	if (!j) {
		fprintf(stderr, "ternctl: the node did not answer with JSON\n");
		return TERNCTL_ESERVER;
	}
	*out = j;
	return TERNCTL_OK;
}

/* "r1, r2" of j[key] (an array of strings) into buf; "-" if empty. */
static const char *ternctl_users_list(json_t *j, const char *key, char *buf,
                                      size_t cap)
{
	size_t len = 0, i;
	json_t *r;

	buf[0] = 0;
	json_array_foreach(json_object_get(j, key), i, r)
	{
		int n =
		    snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
		             json_string_value(r) ? json_string_value(r) : "?");

		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
	return buf[0] ? buf : "-";
}

static void ternctl_users_print(const struct ternctl_users_args *a, json_t *j,
                                bool role, bool list)
{
	char buf[4096];
	size_t i;
	json_t *e;

	if (a->json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		return;
	}
	if (list && !role) {
		static const char *const heads[] = {"USER", "ROLES"};
		struct ternctl_table *t = ternctl_table_new(2, heads);

		json_array_foreach(json_object_get(j, "users"), i, e)
		{
			const char *row[2] = {
			    json_string_value(json_object_get(e, "user")),
			    ternctl_users_list(e, "roles", buf, sizeof(buf))};
			ternctl_table_add(t, row);
		}
		ternctl_table_print(t, stdout);
	} else if (list) {
		static const char *const heads[] = {"ROLE", "RULES"};
		struct ternctl_table *t = ternctl_table_new(2, heads);

		json_array_foreach(json_object_get(j, "roles"), i, e)
		{
			char n[32];
			const char *row[2] = {
			    json_string_value(json_object_get(e, "role")), n};

			snprintf(n, sizeof(n), "%zu",
			         json_array_size(json_object_get(e, "rules")));
			ternctl_table_add(t, row);
		}
		ternctl_table_print(t, stdout);
	} else if (!role) {
		struct ternctl_table *t = ternctl_table_new(2, NULL);
		const char *row[2] = {
		    "user", json_string_value(json_object_get(j, "user"))};

		ternctl_table_add(t, row);
		row[0] = "roles";
		row[1] = ternctl_users_list(j, "roles", buf, sizeof(buf));
		ternctl_table_add(t, row);
		ternctl_table_print(t, stdout);
	} else {
		static const char *const heads[] = {
		    "#", "RULE", "ACTION", "TOPIC", "MAX QOS", "RETAIN"};
		struct ternctl_table *t = ternctl_table_new(6, heads);

		printf("role %s\n",
		       json_string_value(json_object_get(j, "role")));
		json_array_foreach(json_object_get(j, "rules"), i, e)
		{
			json_t *al = json_object_get(e, "allow");
			char num[24], q[24];
			const char *row[6] = {
			    num,
			    al ? "allow" : "deny",
			    json_string_value(al ? al
			                         : json_object_get(e, "deny")),
			    json_string_value(json_object_get(e, "topic")),
			    q,
			    json_is_false(json_object_get(e, "retain"))
			        ? "no"
			        : "yes"};

			snprintf(num, sizeof(num), "%zu", i + 1);
			snprintf(q, sizeof(q), "%lld",
			         (long long)json_integer_value(
			             json_object_get(e, "max_qos")));
			ternctl_table_add(t, row);
		}
		ternctl_table_print(t, stdout);
	}
}

/* The password: --password, else a prompt on a terminal or a line of
 * standard input. Returns an exit code. */
static int ternctl_users_password(const struct ternctl_users_args *a, char *buf,
                                  size_t cap)
{
	if (a->password) {
		snprintf(buf, cap, "%s", a->password);
	} else if (ternctl_read_secret("Password: ", buf, cap)) {
		return ternctl_users_usage("cannot read the password from the "
		                           "terminal");
	}
	if (!buf[0])
		return ternctl_users_usage(
		    isatty(STDIN_FILENO)
		        ? "empty password"
		        : "no password: give --password or one line on "
		          "standard input");
	if (strlen(buf) > TERNCTL_PASSWORD_MAX)
		return ternctl_users_usage("password longer than 1024 bytes");
	return TERNCTL_OK;
}

/* "a,b" as a JSON array (empty string: no roles). */
static json_t *ternctl_users_split(const char *s)
{
	json_t *arr = json_array();

	while (arr && *s) {
		size_t n = strcspn(s, ",");

		if (n && json_array_append_new(arr, json_stringn(s, n))) {
			json_decref(arr);
			return NULL;
		}
		s += n + (s[n] == ',');
	}
	return arr;
}

/* The text of a rules file (malloc'd) and its content type. */
static int ternctl_users_rules(const char *path, char **text,
                               const char **ctype)
{
	const char *dot = strrchr(path, '.');
	size_t len;
	FILE *f;

	if (dot && !strcmp(dot, ".json"))
		*ctype = "application/json";
	else if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml")))
		*ctype = "application/yaml";
	else
		return ternctl_users_usage("--file: expected a .yaml, .yml or "
		                           ".json file");
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "ternctl: cannot open %s\n", path);
		return TERNCTL_EUSAGE;
	}
	*text = malloc(TERNCTL_RULES_MAX + 1);
	len = *text ? fread(*text, 1, TERNCTL_RULES_MAX + 1, f) : 0;
	fclose(f);
	if (!*text || len > TERNCTL_RULES_MAX) {
		free(*text);
		*text = NULL;
		return ternctl_users_usage("--file: larger than 1 MiB");
	}
	(*text)[len] = 0;
	return TERNCTL_OK;
}

int ternctl_users(const struct ternctl_users_args *a)
{
	const char *what = a->args[0],
	           *sub = a->nargs > 1 ? a->args[1] : "list";
	bool role = !strcmp(what, "role");
	const char *method = "GET", *ctype = "application/json";
	char path[2048], pw[TERNCTL_PASSWORD_MAX + 2];
	char *body = NULL;
	bool list = false, has_pw = false;
	json_t *j = NULL, *b = NULL;
	int need = 3, rc;

	snprintf(path, sizeof(path), role ? "/api/v1/roles" : "/api/v1/users");
	if (!strcmp(sub, "list"))
		need = a->nargs > 1 ? 2 : 1, list = true;
	else if (!role && !strcmp(sub, "roles"))
		need = 4;
	else if (strcmp(sub, "show") && strcmp(sub, "del") &&
	         strcmp(sub, "delete") &&
	         (role ? strcmp(sub, "put")
	               : strcmp(sub, "add") && strcmp(sub, "passwd")))
		return ternctl_users_usage(
		    role ? "role: expected put, del, list or show"
		         : "user: expected add, del, list, show, passwd or "
		           "roles");
	if (a->nargs != need)
		return ternctl_users_usage("wrong number of arguments");
	if (!list) {
		if (!a->args[2][0])
			return ternctl_users_usage("empty name");
		strncat(path, "/", sizeof(path) - strlen(path) - 1);
		ternctl_url_escape(a->args[2], path, sizeof(path));
	}
	if ((a->password &&
	     (role || (strcmp(sub, "add") && strcmp(sub, "passwd")))) ||
	    (a->n_roles && (role || strcmp(sub, "add"))) ||
	    (a->file && (!role || strcmp(sub, "put"))))
		return ternctl_users_usage("--password goes with user add and "
		                           "user passwd, --role with user add, "
		                           "--file with role put");
	if (!role && !strcmp(sub, "passwd")) {
		/* the user must exist: a PUT would create it */
		rc = ternctl_users_call(a, "GET", path, NULL, NULL, &j);
		json_decref(j);
		if (rc)
			return rc;
	}
	if (!role && (!strcmp(sub, "add") || !strcmp(sub, "passwd"))) {
		rc = ternctl_users_password(a, pw, sizeof(pw));
		if (rc) {
			OPENSSL_cleanse(pw, sizeof(pw));
			return rc;
		}
		has_pw = true;
		b = json_pack("{s:s}", "password", pw);
		if (b && !strcmp(sub, "add")) {
			json_t *roles = json_array();

			for (int i = 0; roles && i < a->n_roles; i++)
				json_array_append_new(roles,
				                      json_string(a->roles[i]));
			json_object_set_new(b, "roles", roles);
		}
	} else if (!role && !strcmp(sub, "roles")) {
		json_t *roles = ternctl_users_split(a->args[3]);

		b = roles ? json_pack("{s:o}", "roles", roles) : NULL;
	} else if (role && !strcmp(sub, "put")) {
		if (!a->file)
			return ternctl_users_usage("role put needs --file "
			                           "RULES.yaml|json");
		rc = ternctl_users_rules(a->file, &body, &ctype);
		if (rc)
			return rc;
	}
	if (b) {
		body = json_dumps(b, JSON_COMPACT);
		json_decref(b);
	}
	if (has_pw || (!role && !strcmp(sub, "roles")))
		if (!body) {
			OPENSSL_cleanse(pw, sizeof(pw));
			return ternctl_users_usage(
			    "a name, role or password is "
			    "not UTF-8 text");
		}
	if (body)
		method = "PUT";
	else if (!strcmp(sub, "del") || !strcmp(sub, "delete"))
		method = "DELETE";
	rc = ternctl_users_call(a, method, path, ctype, body, &j);
	if (body) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc)
		return rc;
	if (!strcmp(method, "DELETE") && !a->json)
		printf("deleted %s %s\n", what, a->args[2]);
	else if (!strcmp(sub, "passwd") && !a->json)
		printf("password of user %s changed\n", a->args[2]);
	else
		ternctl_users_print(a, j, role, list);
	json_decref(j);
	return TERNCTL_OK;
}
