/*
 * ternctl.h - private to ternctl: its HTTP client (ternctl_http.c) and its
 * table printer (ternctl_table.c). ternctl links neither libuv nor the
 * node library: plain blocking sockets with poll() timeouts.
 */
#ifndef TERNCTL_H
#define TERNCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes (docs/ADMIN.md). */
enum {
	TERNCTL_OK = 0,
	TERNCTL_ESERVER = 1, /* the node answered with an error */
	TERNCTL_EUSAGE = 2,
	TERNCTL_ECONNECT = 3, /* cannot reach the node, or no answer */
	TERNCTL_EAUTH = 4,    /* 401/403 */
};

/* ---- ternctl_http.c ------------------------------------------------- */

struct ternctl_url {
	char host[256]; /* without brackets */
	char port[8];
	char prefix[512]; /* path before /api/v1, without a trailing '/' */
};

/*
 * Parses "http://HOST[:PORT][/PREFIX]" (IPv6 as [addr]; port 80 if none).
 * Returns 0 or -1 with the reason in err.
 */
int ternctl_url_parse(const char *s, struct ternctl_url *u, char *err,
                      size_t errlen);

struct ternctl_resp {
	int status;
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
};

/*
 * One request (Connection: close). path starts with '/'; token may be NULL
 * or empty. timeout_ms bounds connecting and each wait for data.
 * Returns 0 (resp filled, free body) or TERNCTL_ECONNECT with the reason
 * in err.
 */
int ternctl_http(const struct ternctl_url *u, const char *method,
                 const char *path, const char *token, int timeout_ms,
                 struct ternctl_resp *resp, char *err, size_t errlen);

/*
 * ternctl_http with a request body of body_len bytes (sent with
 * Content-Type ctype and Content-Length) when body is not NULL.
 */
int ternctl_http_body(const struct ternctl_url *u, const char *method,
                      const char *path, const char *token, const char *ctype,
                      const char *body, size_t body_len, int timeout_ms,
                      struct ternctl_resp *resp, char *err, size_t errlen);

/* Appends s percent-encoded (all but unreserved characters) to out. */
void ternctl_url_escape(const char *s, char *out, size_t cap);

/* ---- ternctl_table.c ------------------------------------------------ */

struct ternctl_table;

/* A table with ncols columns; heads may be NULL (no header row). */
struct ternctl_table *ternctl_table_new(size_t ncols, const char *const *heads);
/* Adds a row of ncols strings (copied; NULL prints as "-"). */
void ternctl_table_add(struct ternctl_table *t, const char *const *cells);
/* Prints with columns aligned (two spaces apart) and frees the table. */
void ternctl_table_print(struct ternctl_table *t, FILE *out);

/* ---- ternctl_passwd.c ----------------------------------------------- */

/*
 * `ternctl passwd FILE USER [--password P] [--iterations N] [--scram]`
 * with argv after "passwd". Offline. Returns an exit code.
 */
int ternctl_passwd(int argc, char **argv);

/*
 * One line (without its line end) into buf: from the terminal without
 * echo after printing prompt to stderr, else a line of standard input
 * (empty at EOF). 0, or -1 if the terminal cannot be set up.
 */
int ternctl_read_secret(const char *prompt, char *buf, size_t cap);

/* ---- ternctl_users.c ------------------------------------------------ */

#define TERNCTL_MAX_ROLES 32

struct ternctl_users_args {
	const struct ternctl_url *u;
	const char *url;
	const char *token;
	bool json;
	int timeout_ms;
	const char *const *args; /* "user"|"role", subcommand, ... */
	int nargs;
	const char *password; /* --password */
	const char *roles[TERNCTL_MAX_ROLES]; /* --role, repeated */
	int n_roles;
	const char *file; /* --file */
};

/* `ternctl user ...` and `ternctl role ...`. Returns an exit code. */
int ternctl_users(const struct ternctl_users_args *a);

#endif
