/*
 * transport.h - picks the byte-stream layers of a new connection from its
 * listener's scheme: none (mqtt://), TLS (mqtts://), WebSocket (ws://), TLS
 * then WebSocket (wss://); with ?proxy= on the listener, the PROXY protocol
 * layer goes first and hands over to those once the header is read.
 */
#ifndef TERN_TRANSPORT_H
#define TERN_TRANSPORT_H

struct conn;

/* Attaches the layers; returns 0 or a negative tern_err (close it). */
int transport_attach(struct conn *c);

#endif
