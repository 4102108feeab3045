/*
 * ws.h - MQTT over WebSocket (ws:// and wss:// listeners): the HTTP upgrade
 * (http-parser) and framing (wslay) as a connection layer (conn.h
 * transport_ops). MQTT packets may span frames and a frame may hold several.
 */
#ifndef TERN_WS_H
#define TERN_WS_H

struct conn;

/*
 * Pushes a server-side WebSocket layer on top of c's layers (above TLS for
 * wss://). The layer answers the HTTP upgrade (ws_path, ws_origins), then
 * passes the payload of binary frames up as MQTT bytes and sends MQTT
 * output as binary frames (docs/TRANSPORTS.md). Its state belongs to c's
 * layer stack, moves with it on a hand-off and is freed with it. Worker
 * thread. Returns 0, TERN_ENOMEM or TERN_ELIMIT (too many layers).
 */
int ws_attach(struct conn *c);

#endif
