/*
 * ws.h - MQTT over WebSocket (ws:// and wss:// listeners): the HTTP upgrade
 * (http-parser) and framing (wslay) as a connection layer (conn.h
 * transport_ops). MQTT packets may span frames and a frame may hold several.
 */
#ifndef TERN_WS_H
#define TERN_WS_H

struct conn;

/* Pushes a server-side WebSocket layer on c. Worker thread. */
int ws_attach(struct conn *c);

#endif
