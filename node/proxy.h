/*
 * proxy.h - the PROXY protocol (HAProxy's proxy-protocol.txt, versions 1
 * and 2) on listeners behind a load balancer. The balancer writes one
 * header carrying the real client's address before any other byte of the
 * TCP stream (before TLS, before the WebSocket upgrade); ternd reads it,
 * takes that address as the connection's peer, and then the stream goes on
 * exactly as on a listener without the option.
 *
 * The header is mandatory on such a listener: anything else, or a header
 * of a version the listener does not take, closes the connection (counted
 * in worker_stats.proxy_failures). docs/TRANSPORTS.md describes the
 * behaviour.
 */
#ifndef TERN_PROXY_H
#define TERN_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/*
 * Header versions a listener accepts: a bit mask with the values of
 * tern_listener_cfg.proxy (1 v1, 2 v2, 3 either, told by the first byte).
 */
enum proxy_versions {
	PROXY_V1 = 1,
	PROXY_V2 = 2,
	PROXY_ANY = PROXY_V1 | PROXY_V2,
};

/* Longest headers taken: a v1 line with its CRLF (the spec's worst case),
 * and a v2 header with up to 2048 bytes of addresses and TLVs. */
#define PROXY_V1_MAX 107
#define PROXY_V2_MAX (16 + 2048)

/*
 * Parses the PROXY header at the start of buf[0..len) (pure: no I/O, no
 * allocation; buf borrowed). `versions` is a mask of enum proxy_versions.
 *
 * Returns 0 with the header's length in *consumed and the client's address
 * in peer as "IP:PORT" ("[IP]:PORT" for IPv6), or peer "" when the header
 * carries none to use (v1 UNKNOWN; v2 LOCAL, AF_UNSPEC, AF_UNIX or a
 * datagram family): the socket's own address stays. Returns
 * TERN_ENEEDMORE when buf is a valid beginning of a header (len 0
 * included): call again with the same bytes and more; the header then
 * ends past len. Returns TERN_EMALFORMED as soon as the bytes cannot
 * start a header the listener takes (wrong signature, bad field, a header
 * over PROXY_V1_MAX / PROXY_V2_MAX). peerlen of 64 fits every address.
 */
int proxy_parse(const uint8_t *buf, size_t len, unsigned versions,
                size_t *consumed, char *peer, size_t peerlen);

/*
 * Pushes the PROXY layer on c, which has no layer yet (transport_attach).
 * It buffers the header (a header split over reads is fine; the
 * connection's connect timeout bounds the wait), sets c->peer, then takes
 * itself off the stack, calls next(c) to push the listener's own layers
 * (NULL: none) and hands them, or MQTT, the bytes that followed the
 * header: after the header the connection costs what any other does.
 * A bad header makes its input return TERN_EMALFORMED (conn.c logs and
 * closes) after counting it in c->w->stats.proxy_failures. Worker thread.
 * Returns 0 or TERN_ENOMEM.
 */
int proxy_attach(struct conn *c, unsigned versions,
                 int (*next)(struct conn *c));

#endif
