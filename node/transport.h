/*
 * transport.h - picks the byte-stream layers of a new connection from its
 * listener's scheme: none (mqtt://), TLS (mqtts://), WebSocket (ws://), TLS
 * then WebSocket (wss://).
 */
#ifndef TERN_TRANSPORT_H
#define TERN_TRANSPORT_H

struct conn;

/* Attaches the layers; returns 0 or a negative tern_err (close it). */
int transport_attach(struct conn *c);

#endif
