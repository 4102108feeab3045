/*
 * ident.c - the identity store's commands (see ident.h).
 */
#include "ident.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "store.h"
#include "tern_err.h"

bool ident_name_ok(const char *name, size_t len)
{
	if (!name || !len || len > IDENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x21 || name[i] == ':' ||
		    name[i] == 0x7f)
			return false;
	return true;
}

static const char *ident_kind_name(enum ident_kind k)
{
	return k == IDENT_USER	 ? "user"
	       : k == IDENT_ROLE ? "role"
				 : "OAuth client";
}

int ident_apply(struct tern_node *n, const struct ident_cmd *cmd)
{
	struct store_txn *t;
	int rc;

	if (!n->store)
		return TERN_ENOTSUP;
	if (!ident_name_ok(cmd->name, cmd->len) ||
	    (cmd->op == IDENT_PUT && !cmd->value))
		return TERN_EINVAL;
	rc = store_begin(n->store, &t);
	if (rc)
		return rc;
	if (cmd->op == IDENT_PUT)
		rc = store_ident_put(t, (uint8_t)cmd->kind, cmd->name, cmd->len,
				     cmd->value, strlen(cmd->value));
	else
		rc = store_ident_del(t, (uint8_t)cmd->kind, cmd->name,
				     cmd->len);
	if (rc) {
		store_abort(t);
		return rc;
	}
	rc = store_commit(t);
	if (rc == 0)
		log_info("audit: %s \"%.*s\" %s", ident_kind_name(cmd->kind),
			 (int)cmd->len, cmd->name,
			 cmd->op == IDENT_PUT ? "written" : "deleted");
	return rc;
}

int ident_get(struct tern_node *n, enum ident_kind kind, const char *name,
	      size_t len, char **json)
{
	void *val;
	size_t vlen;
	int rc;

	*json = NULL;
	if (!n->store)
		return TERN_ENOTSUP;
	if (!ident_name_ok(name, len))
		return TERN_ENOTFOUND;
	rc = store_ident_get(n->store, (uint8_t)kind, name, len, &val, &vlen);
	if (rc)
		return rc;
	*json = malloc(vlen + 1);
	if (!*json) {
		free(val);
		return TERN_ENOMEM;
	}
	memcpy(*json, val, vlen);
	(*json)[vlen] = '\0';
	free(val);
	return 0;
}

struct ident_walk {
	int (*cb)(void *ctx, const char *name, size_t len, const char *json);
	void *ctx;
};

static int ident_scan_one(void *ctx, const char *key, size_t klen,
			  const void *val, size_t vlen)
{
	struct ident_walk *w = ctx;
	char *json = malloc(vlen + 1);
	int rc;

	if (!json)
		return TERN_ENOMEM;
	memcpy(json, val, vlen);
	json[vlen] = '\0';
	rc = w->cb(w->ctx, key, klen, json);
	free(json);
	return rc;
}

int ident_scan(struct tern_node *n, enum ident_kind kind,
	       int (*cb)(void *ctx, const char *name, size_t len,
			 const char *json),
	       void *ctx)
{
	struct ident_walk w = {cb, ctx};

	if (!n->store)
		return TERN_ENOTSUP;
	return store_ident_scan(n->store, (uint8_t)kind, ident_scan_one, &w);
}
