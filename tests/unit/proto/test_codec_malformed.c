/*
 * test_codec_malformed.c - one row per decoder rule: a packet that breaks
 * exactly that rule, as hex, and the error mqtt_decode must return.
 *
 * Rows are named after the normative statement they check ([MQTT-x.y.z-n],
 * 3.1.1 numbering unless marked "(5.0)") or, where the spec states the rule
 * in prose without a number, after the section ("2.2.2.2" is MQTT 5.0's
 * property table: an identifier not valid for the packet is a Malformed
 * Packet; "It is a Protocol Error to include X more than once" and value
 * ranges are stated per property in 3.x.2.x).
 *
 * Every row is otherwise well formed (lengths are right), so it fails for
 * the rule it names. Each row's strict prefixes must give TERN_ENEEDMORE or
 * the same error, never success.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "mqtt.h"

struct bad_row {
	char name[72];
	uint8_t version;
	int expected;
	uint32_t max_size;
	char hex[160];
};

#define ROW(n, v, e, m, h)                                                     \
	{                                                                      \
		n, v, e, m, h                                                  \
	}

static struct bad_row rows[] = {
    ROW("[MQTT-2.2.2-1] packet type 0 is reserved", 4, TERN_EMALFORMED, 0,
        "00 00"),
    ROW("1.5.5 remaining length in 5 bytes", 4, TERN_EMALFORMED, 0,
        "30 ff ff ff ff 01"),
    ROW("1.5.5 remaining length: 4th byte has continuation bit", 5,
        TERN_EMALFORMED, 0, "30 80 80 80 80"),
    ROW("[MQTT-2.2.2-1] CONNECT flags 0x1", 4, TERN_EMALFORMED, 0,
        "11 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-2.2.2-1] CONNACK flags 0x1", 4, TERN_EMALFORMED, 0,
        "21 02 00 00"),
    ROW("[MQTT-2.2.2-1] PUBACK flags 0x2", 4, TERN_EMALFORMED, 0,
        "42 02 00 01"),
    ROW("[MQTT-2.2.2-1] PUBREC flags 0x1", 4, TERN_EMALFORMED, 0,
        "51 02 00 01"),
    ROW("[MQTT-3.6.1-1] PUBREL flags 0x0", 4, TERN_EMALFORMED, 0,
        "60 02 00 01"),
    ROW("[MQTT-3.6.1-1] PUBREL flags 0xA (DUP)", 4, TERN_EMALFORMED, 0,
        "6a 02 00 01"),
    ROW("[MQTT-2.2.2-1] PUBCOMP flags 0x8", 4, TERN_EMALFORMED, 0,
        "78 02 00 01"),
    ROW("[MQTT-3.8.1-1] SUBSCRIBE flags 0x0", 4, TERN_EMALFORMED, 0,
        "80 08 00 01 00 03 61 2f 62 01"),
    ROW("[MQTT-3.8.1-1] SUBSCRIBE flags 0x3", 5, TERN_EMALFORMED, 0,
        "83 09 00 01 00 00 03 61 2f 62 01"),
    ROW("[MQTT-2.2.2-1] SUBACK flags 0x1", 4, TERN_EMALFORMED, 0,
        "91 03 00 01 00"),
    ROW("[MQTT-3.10.1-1] UNSUBSCRIBE flags 0x0", 4, TERN_EMALFORMED, 0,
        "a0 07 00 01 00 03 61 2f 62"),
    ROW("[MQTT-2.2.2-1] UNSUBACK flags 0x2", 4, TERN_EMALFORMED, 0,
        "b2 02 00 01"),
    ROW("[MQTT-2.2.2-1] PINGREQ flags 0x1", 4, TERN_EMALFORMED, 0, "c1 00"),
    ROW("[MQTT-2.2.2-1] PINGRESP flags 0x4", 4, TERN_EMALFORMED, 0, "d4 00"),
    ROW("[MQTT-3.14.1-1] DISCONNECT flags 0x2", 4, TERN_EMALFORMED, 0, "e2 00"),
    ROW("[MQTT-2.1.3-1] AUTH flags 0x1 (5.0)", 5, TERN_EMALFORMED, 0, "f1 00"),
    ROW("2.2.1 (3.1.1) AUTH, type 15, is reserved", 4, TERN_EPROTOCOL, 0,
        "f0 00"),
    ROW("2.2.1 (3.1.1) AUTH is reserved in 3.1 too", 3, TERN_EPROTOCOL, 0,
        "f0 00"),
    ROW("max_size: declared size over the limit, body not yet read", 4,
        TERN_ETOOLARGE, 1024, "30 ff ff ff 7f"),
    ROW("max_size: header_len + remaining is one over", 4, TERN_ETOOLARGE, 16,
        "30 0f"),
    ROW("[MQTT-3.3.1-4] PUBLISH QoS 3", 4, TERN_EMALFORMED, 0,
        "36 07 00 03 61 2f 62 00 01"),
    ROW("[MQTT-3.3.1-4] PUBLISH QoS 3 with DUP and RETAIN (5.0)", 5,
        TERN_EMALFORMED, 0, "3f 08 00 03 61 2f 62 00 01 00"),
    ROW("[MQTT-3.3.1-2] PUBLISH DUP with QoS 0", 4, TERN_EMALFORMED, 0,
        "38 05 00 03 61 2f 62"),
    ROW("[MQTT-3.3.1-2] PUBLISH DUP with QoS 0 (5.0)", 5, TERN_EMALFORMED, 0,
        "38 06 00 03 61 2f 62 00"),
    ROW("[MQTT-2.3.1-1] PUBLISH QoS 1 with packet id 0", 4, TERN_EMALFORMED, 0,
        "32 07 00 03 61 2f 62 00 00"),
    ROW("[MQTT-2.3.1-1] PUBLISH QoS 2 with packet id 0 (5.0)", 5,
        TERN_EMALFORMED, 0, "34 08 00 03 61 2f 62 00 00 00"),
    ROW("[MQTT-2.3.1-1] PUBLISH QoS 1 without packet id", 4, TERN_EMALFORMED, 0,
        "32 05 00 03 61 2f 62"),
    ROW("[MQTT-3.3.2-1] PUBLISH topic is not UTF-8", 4, TERN_EMALFORMED, 0,
        "30 05 00 03 61 ff 62"),
    ROW("[MQTT-1.5.3-2] PUBLISH topic contains U+0000", 4, TERN_EMALFORMED, 0,
        "30 05 00 03 61 00 62"),
    ROW("[MQTT-1.5.3-1] PUBLISH topic contains a surrogate", 4, TERN_EMALFORMED,
        0, "30 06 00 04 61 ed a0 80"),
    ROW("[MQTT-1.5.4-1] PUBLISH topic with overlong \"/\" (5.0)", 5,
        TERN_EMALFORMED, 0, "30 07 00 04 61 c0 af 62 00"),
    ROW("PUBLISH topic length runs past the packet", 4, TERN_EMALFORMED, 0,
        "30 03 00 05 61"),
    ROW("PUBLISH remaining length 1: topic length cut", 4, TERN_EMALFORMED, 0,
        "30 01 00"),
    ROW("2.2.2.1 PUBLISH property length runs past the packet", 5,
        TERN_EMALFORMED, 0, "30 06 00 03 61 2f 62 05"),
    ROW("2.2.2.1 PUBLISH property length missing", 5, TERN_EMALFORMED, 0,
        "30 05 00 03 61 2f 62"),
    ROW("2.2.2.1 PUBLISH property length in 5 bytes", 5, TERN_EMALFORMED, 0,
        "30 0a 00 03 61 2f 62 ff ff ff ff 01"),
    ROW("2.2.2.2 PUBLISH with Session Expiry (not a PUBLISH property)", 5,
        TERN_EMALFORMED, 0, "30 0b 00 03 61 2f 62 05 11 00 00 00 0a"),
    ROW("2.2.2.2 PUBLISH with Will Delay (will only)", 5, TERN_EMALFORMED, 0,
        "30 0b 00 03 61 2f 62 05 18 00 00 00 0a"),
    ROW("2.2.2.2 PUBLISH with Reason String (not a PUBLISH property)", 5,
        TERN_EMALFORMED, 0, "30 0a 00 03 61 2f 62 04 1f 00 01 78"),
    ROW("2.2.2.2 PUBLISH with unknown property 0x04", 5, TERN_EMALFORMED, 0,
        "30 09 00 03 61 2f 62 03 04 00 00"),
    ROW("2.2.2.2 PUBLISH with unknown property 0x2b", 5, TERN_EMALFORMED, 0,
        "30 08 00 03 61 2f 62 02 2b 00"),
    ROW("2.2.2.2 PUBLISH with property id 0x00", 5, TERN_EMALFORMED, 0,
        "30 08 00 03 61 2f 62 02 00 00"),
    ROW("2.2.2.2 PUBLISH with a 2-byte property identifier", 5, TERN_EMALFORMED,
        0, "30 09 00 03 61 2f 62 03 81 00 00"),
    ROW("2.2.2.2 PUBLISH Message Expiry cut short", 5, TERN_EMALFORMED, 0,
        "30 0a 00 03 61 2f 62 04 02 00 00 00"),
    ROW("2.2.2.2 PUBLISH Correlation Data length past the block", 5,
        TERN_EMALFORMED, 0, "30 0a 00 03 61 2f 62 04 09 00 05 61"),
    ROW("3.3.2.3.2 PUBLISH Payload Format Indicator 2", 5, TERN_EPROTOCOL, 0,
        "30 08 00 03 61 2f 62 02 01 02"),
    ROW("3.3.2.3.2 PUBLISH Payload Format Indicator twice", 5, TERN_EPROTOCOL,
        0, "30 0a 00 03 61 2f 62 04 01 00 01 01"),
    ROW("3.3.2.3.3 PUBLISH Message Expiry twice", 5, TERN_EPROTOCOL, 0,
        "30 10 00 03 61 2f 62 0a 02 00 00 00 01 02 00 00"
        " 00 02"),
    ROW("3.3.2.3.4 PUBLISH Topic Alias 0", 5, TERN_EPROTOCOL, 0,
        "30 09 00 03 61 2f 62 03 23 00 00"),
    ROW("3.3.2.3.4 PUBLISH Topic Alias twice", 5, TERN_EPROTOCOL, 0,
        "30 0c 00 03 61 2f 62 06 23 00 01 23 00 02"),
    ROW("3.3.2.3.5 PUBLISH Response Topic twice", 5, TERN_EPROTOCOL, 0,
        "30 0e 00 03 61 2f 62 08 08 00 01 72 08 00 01 72"),
    ROW("[MQTT-1.5.4-2] PUBLISH Response Topic contains U+0000", 5,
        TERN_EMALFORMED, 0, "30 0b 00 03 61 2f 62 05 08 00 02 72 00"),
    ROW("3.3.2.3.6 PUBLISH Correlation Data twice", 5, TERN_EPROTOCOL, 0,
        "30 0e 00 03 61 2f 62 08 09 00 01 63 09 00 01 63"),
    ROW("3.3.2.3.8 PUBLISH Subscription Identifier 0", 5, TERN_EPROTOCOL, 0,
        "30 08 00 03 61 2f 62 02 0b 00"),
    ROW("1.5.5 PUBLISH Subscription Identifier in 5 bytes", 5, TERN_EMALFORMED,
        0, "30 0c 00 03 61 2f 62 06 0b ff ff ff ff 01"),
    ROW("[MQTT-1.5.4-1] PUBLISH Content Type is not UTF-8", 5, TERN_EMALFORMED,
        0, "30 0a 00 03 61 2f 62 04 03 00 01 ff"),
    ROW("3.3.2.3.9 PUBLISH Content Type twice", 5, TERN_EPROTOCOL, 0,
        "30 0e 00 03 61 2f 62 08 03 00 01 74 03 00 01 74"),
    ROW("[MQTT-1.5.7-1] PUBLISH User Property key not UTF-8", 5,
        TERN_EMALFORMED, 0, "30 0d 00 03 61 2f 62 07 26 00 01 c3 00 01 76"),
    ROW("[MQTT-1.5.7-1] PUBLISH User Property value contains U+0000", 5,
        TERN_EMALFORMED, 0, "30 0d 00 03 61 2f 62 07 26 00 01 6b 00 01 00"),
    ROW("PUBLISH User Property value missing", 5, TERN_EMALFORMED, 0,
        "30 0a 00 03 61 2f 62 04 26 00 01 6b"),
    ROW("[MQTT-3.1.2-3] CONNECT reserved flag set", 4, TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 03 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-3] CONNECT reserved flag set (5.0)", 5, TERN_EMALFORMED, 0,
        "10 10 00 04 4d 51 54 54 05 03 00 3c 00 00 03 61"
        " 62 63"),
    ROW("[MQTT-3.1.2-3] CONNECT reserved flag set (3.1)", 3, TERN_EMALFORMED, 0,
        "10 11 00 06 4d 51 49 73 64 70 03 03 00 3c 00 03"
        " 61 62 63"),
    ROW("[MQTT-3.1.2-13] CONNECT Will QoS 1 without Will Flag", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 0a 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-13] CONNECT Will QoS 2 without Will Flag", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 12 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-15] CONNECT Will Retain without Will Flag", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 22 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-11] CONNECT Will QoS without Will Flag (5.0)", 5,
        TERN_EMALFORMED, 0,
        "10 10 00 04 4d 51 54 54 05 0a 00 3c 00 00 03 61"
        " 62 63"),
    ROW("[MQTT-3.1.2-13] CONNECT Will Retain without Will Flag (5.0)", 5,
        TERN_EMALFORMED, 0,
        "10 10 00 04 4d 51 54 54 05 22 00 3c 00 00 03 61"
        " 62 63"),
    ROW("[MQTT-3.1.2-14] CONNECT Will QoS 3", 4, TERN_EMALFORMED, 0,
        "10 15 00 04 4d 51 54 54 04 1e 00 3c 00 03 61 62"
        " 63 00 01 74 00 01 6d"),
    ROW("[MQTT-3.1.2-12] CONNECT Will QoS 3 (5.0)", 5, TERN_EMALFORMED, 0,
        "10 17 00 04 4d 51 54 54 05 1e 00 3c 00 00 03 61"
        " 62 63 00 00 01 74 00 01 6d"),
    ROW("[MQTT-3.1.2-22] CONNECT Password without User Name", 4,
        TERN_EMALFORMED, 0,
        "10 12 00 04 4d 51 54 54 04 42 00 3c 00 03 61 62"
        " 63 00 01 70"),
    ROW("[MQTT-3.1.2-22] CONNECT Password without User Name (3.1)", 3,
        TERN_EMALFORMED, 0,
        "10 14 00 06 4d 51 49 73 64 70 03 42 00 3c 00 03"
        " 61 62 63 00 01 70"),
    ROW("[MQTT-3.1.2-1] CONNECT protocol name \"MQTX\"", 4, TERN_EVERSION, 0,
        "10 0f 00 04 4d 51 54 58 04 02 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-1] CONNECT protocol name \"mqtt\"", 4, TERN_EVERSION, 0,
        "10 0f 00 04 6d 71 74 74 04 02 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-1] CONNECT protocol name empty", 4, TERN_EVERSION, 0,
        "10 0b 00 00 04 02 00 3c 00 03 61 62 63"),
    ROW("[MQTT-3.1.2-2] CONNECT \"MQTT\" level 3", 4, TERN_EVERSION, 0,
        "10 0f 00 04 4d 51 54 54 03 02 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-2] CONNECT \"MQTT\" level 6", 4, TERN_EVERSION, 0,
        "10 0f 00 04 4d 51 54 54 06 02 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-2] CONNECT \"MQIsdp\" level 4", 4, TERN_EVERSION, 0,
        "10 11 00 06 4d 51 49 73 64 70 04 02 00 3c 00 03"
        " 61 62 63"),
    ROW("[MQTT-1.5.3-1] CONNECT protocol name not UTF-8", 4, TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 ff 54 04 02 00 3c 00 03 61 62"
        " 63"),
    ROW("CONNECT protocol name length past the packet", 4, TERN_EMALFORMED, 0,
        "10 06 00 09 4d 51 54 54"),
    ROW("CONNECT \"MQTT\" without protocol level", 4, TERN_EMALFORMED, 0,
        "10 06 00 04 4d 51 54 54"),
    ROW("CONNECT cut after the flags (no keep alive)", 4, TERN_EMALFORMED, 0,
        "10 08 00 04 4d 51 54 54 04 02"),
    ROW("[MQTT-3.1.3-3] CONNECT without client identifier", 4, TERN_EMALFORMED,
        0, "10 0a 00 04 4d 51 54 54 04 02 00 3c"),
    ROW("[MQTT-3.1.3-4] CONNECT client identifier not UTF-8", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 e2"
        " 82"),
    ROW("[MQTT-3.1.3-1] CONNECT byte trailing the payload", 4, TERN_EMALFORMED,
        0,
        "10 10 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62"
        " 63 00"),
    ROW("[MQTT-3.1.3-1] CONNECT username trailing without its flag", 4,
        TERN_EMALFORMED, 0,
        "10 12 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62"
        " 63 00 01 75"),
    ROW("[MQTT-3.1.2-9] CONNECT Will Flag without will topic", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 06 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.2-9] CONNECT Will Flag without will payload", 4,
        TERN_EMALFORMED, 0,
        "10 12 00 04 4d 51 54 54 04 06 00 3c 00 03 61 62"
        " 63 00 01 74"),
    ROW("[MQTT-3.1.3-10] CONNECT will topic not UTF-8", 4, TERN_EMALFORMED, 0,
        "10 19 00 04 4d 51 54 54 04 06 00 3c 00 03 61 62"
        " 63 00 05 f8 88 80 80 80 00 01 6d"),
    ROW("[MQTT-3.1.2-19] CONNECT User Name Flag without user name", 4,
        TERN_EMALFORMED, 0,
        "10 0f 00 04 4d 51 54 54 04 82 00 3c 00 03 61 62"
        " 63"),
    ROW("[MQTT-3.1.3-11] CONNECT user name not UTF-8", 4, TERN_EMALFORMED, 0,
        "10 14 00 04 4d 51 54 54 04 82 00 3c 00 03 61 62"
        " 63 00 03 ed bf bf"),
    ROW("[MQTT-3.1.2-21] CONNECT Password Flag without password", 4,
        TERN_EMALFORMED, 0,
        "10 12 00 04 4d 51 54 54 04 c2 00 3c 00 03 61 62"
        " 63 00 01 75"),
    ROW("CONNECT password length past the packet", 4, TERN_EMALFORMED, 0,
        "10 16 00 04 4d 51 54 54 04 c2 00 3c 00 03 61 62"
        " 63 00 01 75 00 04 70 77"),
    ROW("3.1.2.11 CONNECT property length past the packet", 5, TERN_EMALFORMED,
        0, "10 0c 00 04 4d 51 54 54 05 02 00 3c 09 11"),
    ROW("3.1.2.11.2 CONNECT Session Expiry twice", 5, TERN_EPROTOCOL, 0,
        "10 1a 00 04 4d 51 54 54 05 02 00 3c 0a 11 00 00"
        " 00 01 11 00 00 00 01 00 03 61 62 63"),
    ROW("3.1.2.11.3 CONNECT Receive Maximum 0", 5, TERN_EPROTOCOL, 0,
        "10 13 00 04 4d 51 54 54 05 02 00 3c 03 21 00 00"
        " 00 03 61 62 63"),
    ROW("3.1.2.11.4 CONNECT Maximum Packet Size 0", 5, TERN_EPROTOCOL, 0,
        "10 15 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00"
        " 00 00 00 03 61 62 63"),
    ROW("3.1.2.11.5 CONNECT Topic Alias Maximum twice", 5, TERN_EPROTOCOL, 0,
        "10 16 00 04 4d 51 54 54 05 02 00 3c 06 22 00 01"
        " 22 00 01 00 03 61 62 63"),
    ROW("3.1.2.11.6 CONNECT Request Response Information 2", 5, TERN_EPROTOCOL,
        0,
        "10 12 00 04 4d 51 54 54 05 02 00 3c 02 19 02 00"
        " 03 61 62 63"),
    ROW("3.1.2.11.7 CONNECT Request Problem Information 2", 5, TERN_EPROTOCOL,
        0,
        "10 12 00 04 4d 51 54 54 05 02 00 3c 02 17 02 00"
        " 03 61 62 63"),
    ROW("3.1.2.11.9 CONNECT Authentication Method twice", 5, TERN_EPROTOCOL, 0,
        "10 18 00 04 4d 51 54 54 05 02 00 3c 08 15 00 01"
        " 6d 15 00 01 6d 00 03 61 62 63"),
    ROW("3.1.2.11.10 CONNECT Authentication Data twice", 5, TERN_EPROTOCOL, 0,
        "10 18 00 04 4d 51 54 54 05 02 00 3c 08 16 00 01"
        " 64 16 00 01 64 00 03 61 62 63"),
    ROW("2.2.2.2 CONNECT with Topic Alias (PUBLISH only)", 5, TERN_EMALFORMED,
        0,
        "10 13 00 04 4d 51 54 54 05 02 00 3c 03 23 00 01"
        " 00 03 61 62 63"),
    ROW("2.2.2.2 CONNECT with Will Delay outside the will", 5, TERN_EMALFORMED,
        0,
        "10 15 00 04 4d 51 54 54 05 02 00 3c 05 18 00 00"
        " 00 01 00 03 61 62 63"),
    ROW("2.2.2.2 CONNECT with Maximum QoS (CONNACK only)", 5, TERN_EMALFORMED,
        0,
        "10 12 00 04 4d 51 54 54 05 02 00 3c 02 24 01 00"
        " 03 61 62 63"),
    ROW("2.2.2.2 CONNECT will properties with Session Expiry", 5,
        TERN_EMALFORMED, 0,
        "10 1c 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61"
        " 62 63 05 11 00 00 00 01 00 01 74 00 01 6d"),
    ROW("3.1.3.2.3 CONNECT will Payload Format Indicator 2", 5, TERN_EPROTOCOL,
        0,
        "10 19 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61"
        " 62 63 02 01 02 00 01 74 00 01 6d"),
    ROW("3.1.3.2.2 CONNECT will Will Delay twice", 5, TERN_EPROTOCOL, 0,
        "10 21 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61"
        " 62 63 0a 18 00 00 00 01 18 00 00 00 02 00 01 74"
        " 00 01 6d"),
    ROW("3.1.3.2 CONNECT will property length past the packet", 5,
        TERN_EMALFORMED, 0,
        "10 17 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61"
        " 62 63 20 00 01 74 00 01 6d"),
    ROW("3.2.2.1 CONNACK reserved acknowledge flag bit 1", 4, TERN_EMALFORMED,
        0, "20 02 02 00"),
    ROW("3.2.2.1 CONNACK reserved acknowledge flag bit 7", 4, TERN_EMALFORMED,
        0, "20 02 80 00"),
    ROW("[MQTT-3.2.2-1] CONNACK reserved acknowledge flags (5.0)", 5,
        TERN_EMALFORMED, 0, "20 03 fe 00 00"),
    ROW("3.2 CONNACK remaining length 3", 4, TERN_EMALFORMED, 0,
        "20 03 00 00 00"),
    ROW("3.2 CONNACK remaining length 1", 4, TERN_EMALFORMED, 0, "20 01 00"),
    ROW("3.2.2.3 CONNACK without property length (5.0)", 5, TERN_EMALFORMED, 0,
        "20 02 00 00"),
    ROW("3.2.2.3.4 CONNACK Maximum QoS 2", 5, TERN_EPROTOCOL, 0,
        "20 05 00 00 02 24 02"),
    ROW("3.2.2.3.5 CONNACK Retain Available 2", 5, TERN_EPROTOCOL, 0,
        "20 05 00 00 02 25 02"),
    ROW("3.2.2.3.11 CONNACK Wildcard Subscription Available 2", 5,
        TERN_EPROTOCOL, 0, "20 05 00 00 02 28 02"),
    ROW("3.2.2.3.12 CONNACK Subscription Identifiers Available 2", 5,
        TERN_EPROTOCOL, 0, "20 05 00 00 02 29 02"),
    ROW("3.2.2.3.13 CONNACK Shared Subscription Available 2", 5, TERN_EPROTOCOL,
        0, "20 05 00 00 02 2a 02"),
    ROW("3.2.2.3.3 CONNACK Receive Maximum 0", 5, TERN_EPROTOCOL, 0,
        "20 06 00 00 03 21 00 00"),
    ROW("3.2.2.3.6 CONNACK Maximum Packet Size 0", 5, TERN_EPROTOCOL, 0,
        "20 08 00 00 05 27 00 00 00 00"),
    ROW("3.2.2.3.14 CONNACK Server Keep Alive twice", 5, TERN_EPROTOCOL, 0,
        "20 09 00 00 06 13 00 05 13 00 ff"),
    ROW("2.2.2.2 CONNACK with Request Problem Information (CONNECT only)", 5,
        TERN_EMALFORMED, 0, "20 05 00 00 02 17 01"),
    ROW("2.2.2.2 CONNACK with Subscription Identifier", 5, TERN_EMALFORMED, 0,
        "20 05 00 00 02 0b 01"),
    ROW("[MQTT-1.5.4-1] CONNACK Assigned Client Identifier not UTF-8", 5,
        TERN_EMALFORMED, 0, "20 08 00 00 05 12 00 02 c0 80"),
    ROW("CONNACK byte trailing the properties", 5, TERN_EMALFORMED, 0,
        "20 04 00 00 00 00"),
    ROW("3.4 PUBACK remaining length 3 (3.1.1)", 4, TERN_EMALFORMED, 0,
        "40 03 00 01 00"),
    ROW("3.4 PUBACK remaining length 1", 4, TERN_EMALFORMED, 0, "40 01 00"),
    ROW("3.4 PUBACK remaining length 1 (5.0)", 5, TERN_EMALFORMED, 0,
        "40 01 00"),
    ROW("[MQTT-2.3.1-6] PUBACK packet id 0", 4, TERN_EMALFORMED, 0,
        "40 02 00 00"),
    ROW("[MQTT-2.3.1-6] PUBREC packet id 0", 4, TERN_EMALFORMED, 0,
        "50 02 00 00"),
    ROW("[MQTT-2.3.1-6] PUBREL packet id 0 (5.0)", 5, TERN_EMALFORMED, 0,
        "62 02 00 00"),
    ROW("[MQTT-2.3.1-6] PUBCOMP packet id 0 (5.0)", 5, TERN_EMALFORMED, 0,
        "70 03 00 00 10"),
    ROW("3.5 PUBREC remaining length 4 (3.1.1)", 4, TERN_EMALFORMED, 0,
        "50 04 00 0a 00 00"),
    ROW("2.2.2.2 PUBACK with Topic Alias", 5, TERN_EMALFORMED, 0,
        "40 07 00 01 00 03 23 00 01"),
    ROW("2.2.2.2 PUBREL with Server Reference", 5, TERN_EMALFORMED, 0,
        "62 08 00 01 00 04 1c 00 01 73"),
    ROW("3.4.2.2 PUBACK property length past the packet", 5, TERN_EMALFORMED, 0,
        "40 05 00 01 00 04 1f"),
    ROW("3.4.2.2 PUBACK byte trailing the properties", 5, TERN_EMALFORMED, 0,
        "40 05 00 01 00 00 00"),
    ROW("3.4.2.2.2 PUBACK Reason String twice", 5, TERN_EPROTOCOL, 0,
        "40 0c 00 01 10 08 1f 00 01 61 1f 00 01 62"),
    ROW("[MQTT-1.5.4-1] PUBCOMP Reason String not UTF-8", 5, TERN_EMALFORMED, 0,
        "70 08 00 01 92 04 1f 00 01 80"),
    ROW("[MQTT-2.3.1-1] SUBSCRIBE packet id 0", 4, TERN_EMALFORMED, 0,
        "82 08 00 00 00 03 61 2f 62 01"),
    ROW("[MQTT-2.3.1-1] SUBSCRIBE packet id 0 (5.0)", 5, TERN_EMALFORMED, 0,
        "82 09 00 00 00 00 03 61 2f 62 01"),
    ROW("[MQTT-3.8.3-3] SUBSCRIBE with no topic filter (3.1.1)", 4,
        TERN_EPROTOCOL, 0, "82 02 00 01"),
    ROW("[MQTT-3.8.3-2] SUBSCRIBE with no topic filter (5.0)", 5,
        TERN_EPROTOCOL, 0, "82 03 00 01 00"),
    ROW("[MQTT-3.8.3-4] SUBSCRIBE options bit 2 set (3.1.1)", 4,
        TERN_EMALFORMED, 0, "82 08 00 01 00 03 61 2f 62 05"),
    ROW("[MQTT-3.8.3-4] SUBSCRIBE options bit 7 set (3.1.1)", 4,
        TERN_EMALFORMED, 0, "82 08 00 01 00 03 61 2f 62 80"),
    ROW("[MQTT-3.8.3-4] SUBSCRIBE requested QoS 3 (3.1.1)", 4, TERN_EMALFORMED,
        0, "82 08 00 01 00 03 61 2f 62 03"),
    ROW("[MQTT-3.8.3-4] SUBSCRIBE second entry has QoS 3 (3.1)", 3,
        TERN_EMALFORMED, 0, "82 0a 00 01 00 01 61 00 00 01 62 03"),
    ROW("[MQTT-3.8.3-5] SUBSCRIBE options bit 6 set (5.0)", 5, TERN_EMALFORMED,
        0, "82 09 00 01 00 00 03 61 2f 62 41"),
    ROW("[MQTT-3.8.3-5] SUBSCRIBE options bit 7 set (5.0)", 5, TERN_EMALFORMED,
        0, "82 09 00 01 00 00 03 61 2f 62 80"),
    ROW("3.8.3.1 SUBSCRIBE Retain Handling 3 (5.0)", 5, TERN_EPROTOCOL, 0,
        "82 09 00 01 00 00 03 61 2f 62 30"),
    ROW("3.8.3.1 SUBSCRIBE Maximum QoS 3 (5.0)", 5, TERN_EMALFORMED, 0,
        "82 09 00 01 00 00 03 61 2f 62 03"),
    ROW("[MQTT-4.7.3-1] SUBSCRIBE empty topic filter", 4, TERN_EMALFORMED, 0,
        "82 05 00 01 00 00 00"),
    ROW("[MQTT-3.8.3-1] SUBSCRIBE topic filter not UTF-8", 4, TERN_EMALFORMED,
        0, "82 08 00 01 00 03 61 2f fe 00"),
    ROW("3.8.3 SUBSCRIBE entry without options byte", 4, TERN_EMALFORMED, 0,
        "82 07 00 01 00 03 61 2f 62"),
    ROW("3.8.3 SUBSCRIBE filter length past the packet", 4, TERN_EMALFORMED, 0,
        "82 08 00 01 00 07 61 2f 62 00"),
    ROW("3.8.2.1.2 SUBSCRIBE Subscription Identifier 0", 5, TERN_EPROTOCOL, 0,
        "82 09 00 01 02 0b 00 00 01 61 00"),
    ROW("3.8.2.1.2 SUBSCRIBE Subscription Identifier twice", 5, TERN_EPROTOCOL,
        0, "82 0b 00 01 04 0b 01 0b 02 00 01 61 00"),
    ROW("2.2.2.2 SUBSCRIBE with Reason String", 5, TERN_EMALFORMED, 0,
        "82 0b 00 01 04 1f 00 01 72 00 01 61 00"),
    ROW("3.9.3 SUBACK with no return code (3.1.1)", 4, TERN_EPROTOCOL, 0,
        "90 02 00 01"),
    ROW("3.9.3 SUBACK with no reason code (5.0)", 5, TERN_EPROTOCOL, 0,
        "90 03 00 01 00"),
    ROW("[MQTT-2.3.1-7] SUBACK packet id 0", 4, TERN_EMALFORMED, 0,
        "90 03 00 00 00"),
    ROW("2.2.2.2 SUBACK with Subscription Identifier", 5, TERN_EMALFORMED, 0,
        "90 06 00 01 02 0b 01 00"),
    ROW("3.9.2.1.3 SUBACK User Property key not UTF-8", 5, TERN_EMALFORMED, 0,
        "90 0e 00 01 0a 26 00 04 f5 80 80 80 00 01 76 00"),
    ROW("[MQTT-2.3.1-1] UNSUBSCRIBE packet id 0", 4, TERN_EMALFORMED, 0,
        "a2 05 00 00 00 01 61"),
    ROW("[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter (3.1.1)", 4,
        TERN_EPROTOCOL, 0, "a2 02 00 01"),
    ROW("[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter (5.0)", 5,
        TERN_EPROTOCOL, 0, "a2 03 00 01 00"),
    ROW("[MQTT-4.7.3-1] UNSUBSCRIBE empty topic filter", 4, TERN_EMALFORMED, 0,
        "a2 07 00 01 00 01 61 00 00"),
    ROW("[MQTT-3.10.3-1] UNSUBSCRIBE topic filter not UTF-8", 5,
        TERN_EMALFORMED, 0, "a2 08 00 01 00 00 03 e0 80 af"),
    ROW("3.10.3 UNSUBSCRIBE filter length past the packet", 4, TERN_EMALFORMED,
        0, "a2 05 00 01 00 02 61"),
    ROW("2.2.2.2 UNSUBSCRIBE with Subscription Identifier", 5, TERN_EMALFORMED,
        0, "a2 08 00 01 02 0b 01 00 01 61"),
    ROW("3.11 UNSUBACK remaining length 3 (3.1.1)", 4, TERN_EMALFORMED, 0,
        "b0 03 00 01 00"),
    ROW("[MQTT-2.3.1-7] UNSUBACK packet id 0", 4, TERN_EMALFORMED, 0,
        "b0 02 00 00"),
    ROW("3.11.3 UNSUBACK with no reason code (5.0)", 5, TERN_EPROTOCOL, 0,
        "b0 03 00 01 00"),
    ROW("2.2.2.2 UNSUBACK with Server Reference", 5, TERN_EMALFORMED, 0,
        "b0 08 00 01 04 1c 00 01 73 00"),
    ROW("3.12 PINGREQ remaining length 1", 4, TERN_EMALFORMED, 0, "c0 01 00"),
    ROW("3.13 PINGRESP remaining length 1 (5.0)", 5, TERN_EMALFORMED, 0,
        "d0 01 00"),
    ROW("3.14 DISCONNECT remaining length 1 (3.1.1)", 4, TERN_EMALFORMED, 0,
        "e0 01 00"),
    ROW("2.2.2.2 DISCONNECT with Authentication Method", 5, TERN_EMALFORMED, 0,
        "e0 06 00 04 15 00 01 6d"),
    ROW("3.14.2.2.2 DISCONNECT Session Expiry twice", 5, TERN_EPROTOCOL, 0,
        "e0 0c 00 0a 11 00 00 00 01 11 00 00 00 01"),
    ROW("3.14.2.2 DISCONNECT property length past the packet", 5,
        TERN_EMALFORMED, 0, "e0 03 00 07 11"),
    ROW("3.14.2.2 DISCONNECT byte trailing the properties", 5, TERN_EMALFORMED,
        0, "e0 03 00 00 00"),
    ROW("2.2.2.2 AUTH with Session Expiry", 5, TERN_EMALFORMED, 0,
        "f0 07 18 05 11 00 00 00 01"),
    ROW("3.15.2.2.2 AUTH Authentication Method twice", 5, TERN_EPROTOCOL, 0,
        "f0 0a 18 08 15 00 01 6d 15 00 01 6d"),
    ROW("3.15.2.2.4 AUTH Reason String not UTF-8", 5, TERN_EMALFORMED, 0,
        "f0 08 18 06 1f 00 03 ed a0 80"),
};

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (const char *c = hex; *c; c++) {
		int v;
		if (*c >= '0' && *c <= '9')
			v = *c - '0';
		else if (*c >= 'a' && *c <= 'f')
			v = *c - 'a' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			cr_assert_lt(n, cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	cr_assert_eq(hi, -1, "odd hex: %s", hex);
	return n;
}

ParameterizedTestParameters(malformed, rule)
{
	return cr_make_param_array(struct bad_row, rows,
	                           sizeof rows / sizeof rows[0]);
}

ParameterizedTest(struct bad_row *r, malformed, rule)
{
	uint8_t buf[128];
	size_t n = unhex(r->hex, buf, sizeof buf);
	struct mqtt_packet p;
	size_t used = 4242;

	int rc = mqtt_decode(buf, n, r->version, r->max_size, &p, &used);
	cr_assert_eq(rc, r->expected, "%s: got %s, want %s", r->name,
	             tern_strerror(rc), tern_strerror(r->expected));
	cr_assert_eq(used, 4242, "%s: consumed set on error", r->name);

	for (size_t k = 0; k < n; k++) {
		rc = mqtt_decode(buf, k, r->version, r->max_size, &p, &used);
		cr_assert(rc == TERN_ENEEDMORE || rc == r->expected,
		          "%s: prefix %zu gave %s", r->name, k,
		          tern_strerror(rc));
	}
}

Test(malformed, table_is_large_and_covers_every_error)
{
	size_t count[8] = {0};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		count[-rows[i].expected & 7]++;
	cr_assert_geq(sizeof rows / sizeof rows[0], 60);
	cr_assert_gt(count[-TERN_EMALFORMED], 0);
	cr_assert_gt(count[-TERN_EPROTOCOL], 0);
	cr_assert_gt(count[-TERN_EVERSION], 0);
	cr_assert_gt(count[-TERN_ETOOLARGE], 0);
}

/*
 * Controls: the same shapes, legal. Without these a row could pass for a
 * reason other than the one it names.
 */
static const struct {
	const char *name;
	uint8_t version;
	const char *hex;
} controls[] = {
    {"CONNECT 3.1.1 flags 0x02", 4,
     "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62 63"},
    {"CONNECT 3.1 flags 0x02", 3,
     "10 11 00 06 4d 51 49 73 64 70 03 02 00 3c 00 03 61 62 63"},
    {"CONNECT 5.0 flags 0x02", 5,
     "10 10 00 04 4d 51 54 54 05 02 00 3c 00 00 03 61 62 63"},
    {"CONNECT 3.1.1 will QoS 2 retain", 4,
     "10 15 00 04 4d 51 54 54 04 36 00 3c 00 03 61 62 63 00 01 74"
     " 00 01 6d"},
    {"CONNECT 5.0 password without user name", 5,
     "10 13 00 04 4d 51 54 54 05 42 00 3c 00 00 03 61 62 63 00 01 70"},
    {"CONNECT 3.1.1 user name and password", 4,
     "10 15 00 04 4d 51 54 54 04 c2 00 3c 00 03 61 62 63 00 01 75"
     " 00 01 70"},
    {"CONNECT 5.0 will with Will Delay", 5,
     "10 1c 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61 62 63 05 18"
     " 00 00 00 01 00 01 74 00 01 6d"},
    {"PUBLISH 3.1.1 QoS 1 id 1", 4, "32 07 00 03 61 2f 62 00 01"},
    {"PUBLISH 5.0 QoS 0 empty props", 5, "30 06 00 03 61 2f 62 00"},
    {"PUBLISH 5.0 payload format 1", 5, "30 08 00 03 61 2f 62 02 01 01"},
    {"PUBLISH 5.0 two sub ids", 5, "30 0a 00 03 61 2f 62 04 0b 01 0b 02"},
    {"PUBLISH 5.0 two user props same key", 5,
     "30 14 00 03 61 2f 62 0e 26 00 01 6b 00 01 76 26 00 01 6b 00 01 76"},
    {"PUBLISH 3.1.1 empty topic (codec does not check)", 4, "30 02 00 00"},
    {"CONNACK 3.1.1", 4, "20 02 01 05"},
    {"CONNACK 5.0 max QoS 1", 5, "20 05 00 00 02 24 01"},
    {"PUBACK 5.0 with reason", 5, "40 03 00 01 10"},
    {"PUBREL 3.1.1", 4, "62 02 00 01"},
    {"SUBSCRIBE 3.1.1 QoS 2", 4, "82 08 00 01 00 03 61 2f 62 02"},
    {"SUBSCRIBE 5.0 options 0x2e", 5, "82 09 00 01 00 00 03 61 2f 62 2e"},
    {"SUBSCRIBE 5.0 sub id 268435455", 5,
     "82 0c 00 01 05 0b ff ff ff 7f 00 01 61 00"},
    {"SUBACK 3.1.1", 4, "90 03 00 01 00"},
    {"UNSUBSCRIBE 3.1.1", 4, "a2 05 00 01 00 01 61"},
    {"UNSUBACK 3.1.1", 4, "b0 02 00 01"},
    {"UNSUBACK 5.0", 5, "b0 04 00 01 00 00"},
    {"PINGREQ", 4, "c0 00"},
    {"DISCONNECT 5.0 reason only", 5, "e0 01 04"},
    {"DISCONNECT 5.0 empty props", 5, "e0 02 00 00"},
    {"AUTH 5.0 reason only", 5, "f0 01 18"},
};

Test(malformed, controls_decode)
{
	for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
		uint8_t buf[128];
		size_t n = unhex(controls[i].hex, buf, sizeof buf), used = 0;
		struct mqtt_packet p;
		int rc = mqtt_decode(buf, n, controls[i].version, 0, &p, &used);
		cr_assert_eq(rc, 0, "%s: %s", controls[i].name,
		             tern_strerror(rc));
		cr_assert_eq(used, n, "%s", controls[i].name);
	}
}
