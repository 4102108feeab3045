/*
 * ident.h - the node's identity store: users, roles and OAuth clients kept
 * in LMDB (storage's "idents" database) as idempotent commands, put or
 * delete by (kind, name), each value a JSON object.
 *
 * ident_apply is the one place these commands change state: the admin API
 * calls it today; the cluster will replicate exactly these commands
 * through Raft and apply them here on every node (DESIGN.md's seam).
 * Needs the store (durability process-crash or power-loss).
 */
#ifndef TERN_IDENT_H
#define TERN_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tern_node;

enum ident_kind {
	IDENT_USER = 'U',  /* users.h: {"hash": ..., "roles": [...]} */
	IDENT_ROLE = 'R',  /* users.h: {"rules": [...]} */
	IDENT_OAUTH_CLIENT = 'O',
};

enum ident_op {
	IDENT_PUT = 1,
	IDENT_DEL,
};

struct ident_cmd {
	enum ident_op op;
	enum ident_kind kind;
	const char *name; /* 1..256 bytes, no NUL */
	size_t len;
	const char *value; /* JSON object text (PUT), NUL-terminated */
};

#define IDENT_NAME_MAX 256

/* True if name[0..len) may name an identity (printable, no ':'). */
bool ident_name_ok(const char *name, size_t len);

/*
 * Applies cmd durably (one committed write). Returns 0, TERN_EINVAL (bad
 * name or value), TERN_EQUOTA (store full), TERN_EIO, or TERN_ENOTSUP
 * when the node has no store. Logs an audit line. Any thread.
 */
int ident_apply(struct tern_node *n, const struct ident_cmd *cmd);

/* The JSON value of (kind, name) (*json malloc'd, NUL-terminated), or
 * TERN_ENOTFOUND / TERN_ENOTSUP / TERN_EIO. Any thread. */
int ident_get(struct tern_node *n, enum ident_kind kind, const char *name,
	      size_t len, char **json);

/* Calls cb for every identity of kind in name order (name not
 * NUL-terminated; json is). A non-zero return from cb stops the walk and
 * is returned. */
int ident_scan(struct tern_node *n, enum ident_kind kind,
	       int (*cb)(void *ctx, const char *name, size_t len,
			 const char *json),
	       void *ctx);

#endif
