#include "transport.h"

#include "conn.h"
#include "tls.h"
#include "ws.h"

int transport_attach(struct conn *c)
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
