#include "transport.h"

#include "conn.h"
#include "proxy.h"
#include "tls.h"
#include "ws.h"

/* The layers of the listener's scheme. */
static int transport_attach_scheme(struct conn *c)
{
	int rc;

	switch (c->w->node->cfg.listeners[c->listener].scheme) {
	case TERN_SCHEME_MQTT:
		return 0;
	case TERN_SCHEME_MQTTS:
		return tls_attach(c);
	case TERN_SCHEME_WS:
		return ws_attach(c);
	case TERN_SCHEME_WSS:
		rc = tls_attach(c);
		return rc ? rc : ws_attach(c);
	}
	return TERN_EINVAL;
}

/*
 * A PROXY protocol header comes first on the stream, before TLS or the
 * WebSocket upgrade: the PROXY layer goes alone at the bottom and pushes
 * the scheme's layers once the header is read (proxy.h).
 */
int transport_attach(struct conn *c)
{
	uint8_t proxy = c->w->node->cfg.listeners[c->listener].proxy;

	if (proxy)
		return proxy_attach(c, proxy, transport_attach_scheme);
	return transport_attach_scheme(c);
}
