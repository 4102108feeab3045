/* Placeholder until WebSocket lands: config_validate refuses ws:// and wss://. */
#include "ws.h"

#include "tern_err.h"

int ws_attach(struct conn *c)
{
	(void)c;
	return TERN_EINVAL;
}
