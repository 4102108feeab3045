/*
 * tls.h - TLS for mqtts:// and wss:// listeners: OpenSSL over memory BIOs as
 * a connection layer (conn.h transport_ops), so the handshake never blocks
 * the loop. One context per node (n->tls), built from the tls_* keys and
 * replaced whole by a reload; every connection keeps the context it was
 * accepted with. docs/TRANSPORTS.md describes the behaviour.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <stddef.h>

struct conn;
struct tern_node;

/*
 * Builds the node's TLS context from the config (certificate, key, CA, CRL,
 * ciphers, minimum version, client certificate policy, ALPN) if any listener
 * needs TLS; n->tls stays NULL otherwise. Returns 0 or TERN_ECONFIG with the
 * reason (key, file and OpenSSL's words) in err (TERN_ENOMEM if memory
 * runs out). Control thread, before workers.
 */
int tls_setup(struct tern_node *n, char *err, size_t errlen);

/*
 * Reloads certificate, key, CA and CRL files (SIGHUP) from the same paths.
 * New connections use the new context; live ones keep theirs. Returns 0
 * (also without TLS listeners) or TERN_ECONFIG with the reason in err (the
 * old context stays). Control thread, concurrently with tls_attach.
 */
int tls_reload(struct tern_node *n, char *err, size_t errlen);

/* Frees the node's reference to the context (after the workers stopped;
 * connections still open hold their own). NULL n->tls is fine. */
void tls_teardown(struct tern_node *n);

/*
 * Pushes a server-side TLS layer on c (c->xl owns its state from then on;
 * it moves with c on a CONNECT hand-off). A failed handshake is logged,
 * counted in c->w->stats.tls_handshake_failures and closes c; after it,
 * tls_username_from fills c->auth_name (malloc'd, freed by conn.c). The
 * handshake has no timer of its own: connect_timeout_ms covers it. Returns
 * 0, TERN_ENOMEM, or TERN_EINVAL if the node has no TLS context. Worker
 * thread.
 */
int tls_attach(struct conn *c);

#endif
