/*
 * auth_scram.h - MQTT 5 enhanced authentication with method
 * "SCRAM-SHA-256" (scram.h carries the SCRAM rules; this file carries
 * them over CONNECT, AUTH and CONNACK). docs/SECURITY.md describes it.
 *
 * Connect:  CONNECT (method, data client-first)
 *           -> AUTH 0x18 (server-first) -> AUTH 0x18 (client-final)
 *           -> CONNACK 0x00 (data "v=...") or CONNACK 0x86 (data "e=...")
 * Re-authentication of a connection that connected with SCRAM:
 *           AUTH 0x19 (client-first) -> AUTH 0x18 -> AUTH 0x18
 *           -> AUTH 0x00 (data "v=...") or DISCONNECT 0x87
 *
 * The exchange's state is c->scram (NULL when none runs), freed when it
 * ends or with the connection. The server needs no PBKDF2 (the verifier
 * holds StoredKey and ServerKey), so everything runs on the worker loop.
 * During a CONNECT exchange the CONNECT's bytes are kept in c->scram; on
 * success the CONNECT is handled again (handle_connect), and auth_connect
 * sees c->scram and allows it. The connect timeout keeps running across
 * the exchange. A SCRAM-authenticated connection has c->auth_name (the
 * SCRAM username) with auth_name_src CONN_NAME_SCRAM.
 *
 * Unknown users get a fake salt (scram_verifier_fake with auth_secret) and
 * fail exactly as a wrong password does; a user whose password file entry
 * is a $pbkdf2-sha512$ hash (no SCRAM verifier) too. Failures count for
 * throttling (auth_limit.h) and are logged as audit lines.
 */
#ifndef TERN_AUTH_SCRAM_H
#define TERN_AUTH_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct conn;
struct mqtt_connect;
struct mqtt_packet;
struct mqtt_props;

/* Is m[0..len) the method name "SCRAM-SHA-256"? */
bool auth_scram_is_method(const uint8_t *m, size_t len);

/*
 * Starts the exchange for CONNECT p (its Authentication Data is the
 * client-first-message; the packet being handled is c->cur): sends AUTH
 * 0x18 with the server-first-message and returns AUTH_PENDING, or
 * AUTH_BAD_CREDENTIALS for a malformed or refused client-first (logged;
 * the caller counts and answers it). Worker thread.
 */
enum auth_verdict auth_scram_connect(struct conn *c,
                                     const struct mqtt_connect *p,
                                     const char *id, size_t id_len);

/*
 * An AUTH packet for a SCRAM exchange: the client-final of a CONNECT
 * exchange (c->state CONN_NEW, c->scram set), or a re-authentication step
 * of a connection with auth_name_src CONN_NAME_SCRAM. Answers, closes or
 * handles the CONNECT again, as the spec asks. Worker thread.
 */
void auth_scram_on_auth(struct conn *c, const struct mqtt_packet *pkt);

/* The successful CONNACK's Authentication Method and Data (borrowed from
 * c->scram: send before auth_scram_end). */
void auth_scram_connack(struct conn *c, struct mqtt_props *ap);

/* Ends the exchange (frees c->scram). NULL c->scram is fine. */
void auth_scram_end(struct conn *c);

/* c is being freed: same as auth_scram_end. */
void auth_scram_conn_gone(struct conn *c);

#endif
