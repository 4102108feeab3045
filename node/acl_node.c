/*
 * acl_node.c - the node's ACL state (see acl.h): setup, reload of the ACL
 * file (SIGHUP), the user store's document merged in (acl_store_set), and
 * the live connections: attaching a subject at CONNECT, refreshing it
 * after a change, pruning the subscriptions it no longer allows.
 *
 * Threads: the policy pointer is read by every worker at CONNECT and
 * replaced by the control thread (SIGHUP); load+ref and the swap hold one
 * mutex, as auth.c does for its table. Subjects belong to one connection
 * and so to one worker.
 */
#include "acl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl_int.h"
#include "conn.h"
#include "log.h"
#include "persist.h"
#include "router.h"
#include "session.h"
#include "tern_err.h"
#include "worker.h"

/* ---- the node ------------------------------------------------------- */

struct acl {
	uv_mutex_t lock;
	struct acl_policy *policy;
	uint64_t next_gen;
	/* policy->gen, read without the lock by every check (acl_conn_sync) */
	_Atomic uint64_t gen;
	/* what the policy is built from (control thread only): the ACL
	 * file's text (NULL: no acl_file) and the user store's document */
	char *file_text;
	size_t file_len;
	char *store_doc;
	size_t store_len;
	/* an ACL file, or roles in the user store: roles matter */
	_Atomic bool enforced;
};

static struct acl_policy *acl_current(struct acl *a)
{
	struct acl_policy *p;

	uv_mutex_lock(&a->lock);
	p = acl_policy_ref(a->policy);
	uv_mutex_unlock(&a->lock);
	return p;
}

int acl_setup(struct tern_node *n, char *err, size_t errlen)
{
	struct acl_policy *p;
	struct acl *a;
	int rc;

	char *text = NULL;
	size_t len = 0;

	n->acl = NULL;
	/* with a store, roles may come from it at run time: the engine is
	 * there from the start (an open policy until a role applies) */
	if (!n->cfg.acl_file[0] && !n->store)
		return 0;
	if (n->cfg.acl_file[0]) {
		rc = acl_read_file(n->cfg.acl_file, &text, &len, err, errlen);
		if (rc)
			return rc;
	}
	rc = acl_policy_build(text, len, n->cfg.acl_file, NULL, 0, &p, err,
			      errlen);
	if (rc) {
		free(text);
		return rc;
	}
	a = calloc(1, sizeof(*a));
	if (!a || uv_mutex_init(&a->lock)) {
		free(a);
		free(text);
		acl_policy_unref(p);
		snprintf(err, errlen, "acl_file: out of memory");
		return TERN_ENOMEM;
	}
	a->file_text = text;
	a->file_len = len;
	p->gen = ++a->next_gen;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	atomic_store(&a->enforced, !p->open);
	n->acl = a;
	if (text)
		log_info("acl_file %s: %zu role(s), %zu user(s)",
			 n->cfg.acl_file, p->n_roles, p->n_users);
	return 0;
}

/*
 * Applies the subject's verdict to one subscription of s through the
 * router: removed when refused (frees sub), subscribed again with the QoS
 * capped when the rules allow less than it holds. Returns true if it did
 * either (sub may be gone).
 */
static bool acl_fix_sub(struct conn *c, struct session *s,
			struct session_sub *sub)
{
	int max = acl_check_subscribe(c->acl, sub->filter, sub->len);
	size_t glen = sub->share ? strlen(sub->share) : 0;
	size_t len = sub->share ? 8 + glen + sub->len : sub->len;
	char stack[256], *full = sub->filter;
	bool existed;

	if (max >= MQTT_SUBOPT_QOS(sub->opts))
		return false;
	if (sub->share) {
		full = len <= sizeof(stack) ? stack : malloc(len);
		if (!full)
			return false; /* kept; the next refresh tries again */
		memcpy(full, "$share/", 7);
		memcpy(full + 7, sub->share, glen);
		full[7 + glen] = '/';
		memcpy(full + 8 + glen, sub->filter, sub->len);
	}
	log_info("%s: client \"%.*s\": subscription \"%.*s\" %s by the ACL",
		 c->peer, (int)s->id_len, s->id, (int)len, full,
		 max < 0 ? "removed: not allowed" : "downgraded to its QoS cap");
	if (max < 0)
		router_unsubscribe(c->w, s, full, len);
	else /* the router caps the QoS again through c->acl */
		router_subscribe(c->w, s, full, len, sub->opts, sub->sub_id,
				 &existed);
	if (full != sub->filter && full != stack)
		free(full);
	return true;
}

/* Removes (or downgrades) the subscriptions of c's session that its
 * subject refuses. */
void acl_conn_prune(struct conn *c)
{
	struct session *s = c->s;
	struct session_sub *sub, *next;
	size_t changed = 0;

	if (!s || !c->acl)
		return;
	for (sub = s->subs; sub; sub = next) {
		next = sub->next;
		if (acl_fix_sub(c, s, sub))
			changed++;
	}
	if (changed)
		persist_session(s);
}

int acl_conn_attach(struct conn *c, const char *user, size_t user_len,
		    const char *id, size_t id_len)
{
	return acl_conn_attach_roles(c, user, user_len, id, id_len, NULL, NULL,
				     0);
}

int acl_conn_attach_roles(struct conn *c, const char *user, size_t user_len,
			  const char *id, size_t id_len,
			  const char *const *roles, const size_t *role_lens,
			  size_t n_roles)
{
	struct acl *a = c->w->node->acl;
	struct acl_identity ident = {.user = user,
				     .user_len = user_len,
				     .client_id = id,
				     .client_id_len = id_len,
				     .roles = roles,
				     .role_lens = role_lens,
				     .n_roles = n_roles};
	struct acl_policy *p;

	if (!a)
		return 0;
	p = acl_current(a);
	acl_subject_free(c->acl);
	c->acl = acl_subject_new(p, &ident);
	acl_policy_unref(p);
	if (!c->acl)
		return TERN_ENOMEM;
	if (c->acl->open && !user) {
		/* no ACL file: an anonymous client stays unrestricted
		 * whatever the user store holds, so it needs no subject
		 * (and no memory) */
		acl_subject_free(c->acl);
		c->acl = NULL;
	}
	return 0;
}

void acl_conn_refresh(struct conn *c)
{
	struct acl *a = c->w->node->acl;
	struct acl_policy *p;

	if (!a || !c->acl)
		return;
	p = acl_current(a);
	if (p != c->acl->pol && acl_subject_rebind(c->acl, p)) {
		/* out of memory: refuse everything rather than allow */
		acl_subject_rules_free(c->acl);
		log_error("%s: out of memory applying the new ACL: the client "
			  "is denied everything",
			  c->peer);
	}
	acl_policy_unref(p);
	acl_conn_prune(c);
}

void acl_conn_sync(struct conn *c)
{
	struct acl *a = c->w->node->acl;

	if (a && c->acl &&
	    atomic_load_explicit(&a->gen, memory_order_acquire) !=
		    c->acl->pol->gen)
		acl_conn_refresh(c);
}

static void acl_refresh_worker(struct worker *w, void *arg)
{
	(void)arg;
	for (struct conn *c = w->conns; c; c = c->next)
		if (c->state == CONN_ACTIVE)
			acl_conn_refresh(c);
}

/* Makes p (taken) the policy and refreshes every live connection. */
static void acl_swap(struct tern_node *n, struct acl_policy *p, bool live)
{
	struct acl *a = n->acl;
	struct acl_policy *old;

	uv_mutex_lock(&a->lock);
	p->gen = ++a->next_gen;
	old = a->policy;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	atomic_store(&a->enforced, !p->open || p->n_roles > 0);
	uv_mutex_unlock(&a->lock);
	acl_policy_unref(old);
	for (uint32_t i = 0; live && i < n->n_workers; i++)
		if (worker_call(n, i, acl_refresh_worker, NULL))
			log_error("ACL change: worker %u did not answer", i);
}

int acl_store_set(struct tern_node *n, const char *doc, bool live, char *err,
		  size_t errlen)
{
	struct acl *a = n->acl;
	struct acl_policy *p;
	char *copy;
	int rc;

	if (!a)
		return 0;
	copy = doc ? strdup(doc) : NULL;
	if (doc && !copy)
		return TERN_ENOMEM;
	rc = acl_policy_build(a->file_text, a->file_len, n->cfg.acl_file, copy,
			      copy ? strlen(copy) : 0, &p, err, errlen);
	if (rc) {
		free(copy);
		return rc;
	}
	free(a->store_doc);
	a->store_doc = copy;
	a->store_len = copy ? strlen(copy) : 0;
	acl_swap(n, p, live);
	return 0;
}

int acl_reload(struct tern_node *n, char *err, size_t errlen)
{
	struct acl *a = n->acl;
	struct acl_policy *p, *old;
	char *text;
	size_t len;
	int rc;

	if (!a || !a->file_text)
		return 0;
	rc = acl_read_file(n->cfg.acl_file, &text, &len, err, errlen);
	if (rc)
		return rc;
	rc = acl_policy_build(text, len, n->cfg.acl_file, a->store_doc,
			      a->store_len, &p, err, errlen);
	if (rc) {
		free(text);
		return rc;
	}
	free(a->file_text);
	a->file_text = text;
	a->file_len = len;
	uv_mutex_lock(&a->lock);
	p->gen = ++a->next_gen;
	old = a->policy;
	a->policy = p;
	atomic_store(&a->gen, p->gen);
	uv_mutex_unlock(&a->lock);
	acl_policy_unref(old);
	log_info("acl_file %s reloaded: %zu role(s), %zu user(s)",
		 n->cfg.acl_file, p->n_roles, p->n_users);
	for (uint32_t i = 0; i < n->n_workers; i++)
		if (worker_call(n, i, acl_refresh_worker, NULL))
			log_error("ACL reload: worker %u did not answer", i);
	return 0;
}

bool acl_enforced(const struct tern_node *n)
{
	return n->acl && atomic_load(&n->acl->enforced);
}

void acl_teardown(struct tern_node *n)
{
	struct acl *a = n->acl;

	if (!a)
		return;
	acl_policy_unref(a->policy);
	uv_mutex_destroy(&a->lock);
	free(a->file_text);
	free(a->store_doc);
	free(a);
	n->acl = NULL;
}
