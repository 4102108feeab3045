/*
 * ws_handshake.h - the server side of the WebSocket opening handshake
 * (RFC 6455 section 4.2) for MQTT over WebSocket: parses the HTTP upgrade
 * request with http-parser, checks it against the listener's rules (path,
 * Origin allowlist, MQTT subprotocol) and writes the HTTP answer.
 *
 * Private to ws*.c. Pure: no sockets, no loop, no globals; any thread, one
 * handshake per connection.
 */
#ifndef TERN_WS_HANDSHAKE_H
#define TERN_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

/* Largest upgrade request (request line and headers) accepted. */
#define WS_HANDSHAKE_MAX 8192

struct ws_handshake;

/* What a handshake accepts. Borrowed for the handshake's lifetime. */
struct ws_handshake_rules {
	const char *path;    /* exact path; the query string is ignored */
	const char *origins; /* comma-separated allowlist; "" = any */
};

/* A new handshake, or NULL (out of memory). Free with ws_handshake_free. */
struct ws_handshake *ws_handshake_new(const struct ws_handshake_rules *r);

/* Frees h. NULL is fine. */
void ws_handshake_free(struct ws_handshake *h);

/*
 * Feeds request bytes (data is borrowed). Returns 0 when the request is not
 * complete yet (every byte was consumed), else the HTTP status decided: 101
 * (upgrade accepted) or an error status (400, 403, 404, 405, 414, 426, 431).
 * On 101, *used is the number of bytes of data that belonged to the
 * request: the rest are the first WebSocket bytes. Once a status is
 * returned, do not feed again.
 */
int ws_handshake_feed(struct ws_handshake *h, const uint8_t *data, size_t len,
                      size_t *used);

/*
 * Writes the HTTP response for the decided status into buf (cap bytes,
 * 512 are enough) and returns its length, or 0 if it does not fit.
 */
size_t ws_handshake_response(const struct ws_handshake *h, char *buf,
                             size_t cap);

/*
 * Why the request was refused, for the log (printable ASCII, quotes the
 * offending value). "" after a 101. Valid until ws_handshake_free.
 */
const char *ws_handshake_why(const struct ws_handshake *h);

/* The subprotocol chosen ("mqtt", "mqttv3.1") or NULL (none offered). */
const char *ws_handshake_protocol(const struct ws_handshake *h);

#endif
