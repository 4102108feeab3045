/*
 * mqtt_util.c - small codec helpers: variable byte integers, UTF-8
 * validation, names for logs, and error-to-reason-code mapping.
 */
#include <string.h>

#include "mqtt.h"

size_t mqtt_vbi_size(uint32_t v)
{
	if (v < 128u)
		return 1;
	if (v < 16384u)
		return 2;
	if (v < 2097152u)
		return 3;
	return 4;
}

size_t mqtt_vbi_encode(uint32_t v, uint8_t *out)
{
	size_t n = 0;

	do {
		uint8_t b = (uint8_t)(v & 0x7F);

		v >>= 7;
		if (v)
			b |= 0x80;
		out[n++] = b;
	} while (v && n < 4);
	return n;
}

/*
 * UTF-8 as RFC 3629 defines it (Table 3-7 of Unicode): each lead byte
 * allows a narrower range for its first continuation byte, which is what
 * excludes overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates
 * (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF).
 * U+0000 is excluded on top [MQTT-1.5.4-2].
 */
#define ASCII_MASK UINT64_C(0x8080808080808080)
#define ONES       UINT64_C(0x0101010101010101)

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		/* Fast path: 8 ASCII bytes, none of them NUL, at a time. */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, sizeof w);
			if ((w & ASCII_MASK) || ((w - ONES) & ~w & ASCII_MASK))
				break;
			i += 8;
		}
		if (i >= len)
			break;

		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}

		size_t need;
		uint8_t lo = 0x80, hi = 0xBF; /* range of the 2nd byte */
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates D800..DFFF */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* above U+10FFFF */
		} else {
			return false; /* 80..C1 (stray or overlong), F5..FF */
		}
		if (len - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

const char *mqtt_type_name(uint8_t type)
{
	static const char *const names[16] = {
	    "RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
	    "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
	    "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
	    "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH",
	};

	return type < 16 ? names[type] : "UNKNOWN";
}

uint8_t mqtt_err_reason(int err)
{
	switch (err) {
	case TERN_EMALFORMED:
		return MQTT_RC_MALFORMED;
	case TERN_EPROTOCOL:
		return MQTT_RC_PROTOCOL_ERROR;
	case TERN_ETOOLARGE:
		return MQTT_RC_PACKET_TOO_LARGE;
	case TERN_EVERSION:
		return MQTT_RC_UNSUPPORTED_VERSION;
	default:
		return MQTT_RC_UNSPECIFIED;
	}
}
