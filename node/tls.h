/*
 * tls.h - TLS for mqtts:// and wss:// listeners: OpenSSL over memory BIOs as
 * a connection layer (conn.h transport_ops), so the handshake never blocks
 * the loop.
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
 * reason (file and OpenSSL's words) in err. Control thread, before workers.
 */
int tls_setup(struct tern_node *n, char *err, size_t errlen);

/*
 * Reloads certificate and key (SIGHUP). New connections use the new
 * context; live ones keep theirs. Returns 0 or TERN_ECONFIG (the old
 * context stays). Control thread.
 */
int tls_reload(struct tern_node *n, char *err, size_t errlen);

/* Frees the context (after the workers stopped). */
void tls_teardown(struct tern_node *n);

/* Pushes a server-side TLS layer on c. Worker thread. */
int tls_attach(struct conn *c);

#endif
