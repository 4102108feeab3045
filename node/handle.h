/*
 * handle.h - what the broker does with each decoded packet. Handlers never
 * parse (the codec did) and never route (router.c does): they validate,
 * authorize, keep the QoS bookkeeping and answer.
 */
#ifndef TERN_HANDLE_H
#define TERN_HANDLE_H

#include <stdint.h>

#include "mqtt.h"

struct conn;

/* Dispatches one decoded packet (handle.c). */
void handle_packet(struct conn *c, const struct mqtt_packet *pkt);

/* CONNECT with an unsupported protocol level: CONNACK 0x01 / 0x84. */
void handle_bad_version(struct conn *c, uint8_t level);

void handle_connect(struct conn *c, const struct mqtt_connect *p);
void handle_publish(struct conn *c, const struct mqtt_publish *p);
void handle_puback(struct conn *c, const struct mqtt_packet *pkt);
void handle_pubrec(struct conn *c, const struct mqtt_ack *p);
void handle_pubrel(struct conn *c, const struct mqtt_ack *p);
void handle_subscribe(struct conn *c, const struct mqtt_packet *pkt);
void handle_unsubscribe(struct conn *c, const struct mqtt_packet *pkt);
void handle_disconnect(struct conn *c, const struct mqtt_disconnect *p);

/*
 * Closes c for a protocol violation: MQTT 5 clients get DISCONNECT with
 * `reason` (and a reason string when they asked for problem information).
 */
void handle_fail(struct conn *c, uint8_t reason, const char *why);

/* The same without counting or logging it (the caller logs): token
 * expired, re-authentication refused. */
void handle_close(struct conn *c, uint8_t reason, const char *why);

#endif
