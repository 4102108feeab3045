/*
 * test_codec_utf8.c - mqtt_utf8_valid: well-formed UTF-8 per RFC 3629
 * [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]), no U+0000 [MQTT-1.5.4-2]
 * (3.1.1: [MQTT-1.5.3-2]), and U+FEFF kept as a character [MQTT-1.5.4-3].
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "mqtt.h"

struct utf8_row {
	char name[48];
	char hex[40];
	bool valid;
};

static struct utf8_row rows[] = {
    /* well formed */
    {"empty", "", true},
    {"ASCII", "61 2f 62", true},
    {"U+0001 (control, allowed)", "01", true},
    {"U+007F DEL", "7f", true},
    {"U+0080 smallest 2-byte", "c2 80", true},
    {"U+009F C1 control", "c2 9f", true},
    {"U+00E9", "c3 a9", true},
    {"U+07FF largest 2-byte", "df bf", true},
    {"U+0800 smallest 3-byte", "e0 a0 80", true},
    {"U+20AC euro", "e2 82 ac", true},
    {"U+D7FF just below surrogates", "ed 9f bf", true},
    {"U+E000 just above surrogates", "ee 80 80", true},
    {"[MQTT-1.5.4-3] U+FEFF BOM", "ef bb bf", true},
    {"U+FFFE noncharacter (SHOULD NOT only)", "ef bf be", true},
    {"U+FFFF largest 3-byte", "ef bf bf", true},
    {"U+10000 smallest 4-byte", "f0 90 80 80", true},
    {"U+1F600 emoji", "f0 9f 98 80", true},
    {"U+10FFFF largest", "f4 8f bf bf", true},
    {"mixed", "61 c3 a9 e2 82 ac f0 9f 98 80 7a", true},
    /* U+0000 */
    {"[MQTT-1.5.4-2] U+0000 alone", "00", false},
    {"[MQTT-1.5.4-2] U+0000 inside", "61 00 62", false},
    {"[MQTT-1.5.4-2] U+0000 at end", "61 62 00", false},
    {"U+0000 overlong C0 80 (modified UTF-8)", "c0 80", false},
    /* surrogates */
    {"[MQTT-1.5.4-1] U+D800", "ed a0 80", false},
    {"[MQTT-1.5.4-1] U+DBFF", "ed af bf", false},
    {"[MQTT-1.5.4-1] U+DC00", "ed b0 80", false},
    {"[MQTT-1.5.4-1] U+DFFF", "ed bf bf", false},
    {"[MQTT-1.5.4-1] CESU-8 pair for U+1F600", "ed a0 bd ed b8 80", false},
    /* overlong */
    {"overlong '/' C0 AF", "c0 af", false},
    {"overlong C1 BF", "c1 bf", false},
    {"overlong 3-byte E0 80 80", "e0 80 80", false},
    {"overlong 3-byte E0 9F BF", "e0 9f bf", false},
    {"overlong 4-byte F0 80 80 80", "f0 80 80 80", false},
    {"overlong 4-byte F0 8F BF BF", "f0 8f bf bf", false},
    /* above U+10FFFF, old 5/6-byte forms, never-valid bytes */
    {"U+110000 F4 90 80 80", "f4 90 80 80", false},
    {"F5 lead", "f5 80 80 80", false},
    {"F7 BF BF BF", "f7 bf bf bf", false},
    {"5-byte form", "f8 88 80 80 80", false},
    {"6-byte form", "fc 84 80 80 80 80", false},
    {"FE", "fe", false},
    {"FF", "ff", false},
    /* truncated */
    {"truncated 2-byte", "c3", false},
    {"truncated 3-byte after 1", "e2", false},
    {"truncated 3-byte after 2", "e2 82", false},
    {"truncated 4-byte after 3", "f0 9f 98", false},
    {"truncated then ASCII", "e2 82 61", false},
    {"truncated at end of ASCII", "61 62 63 e2 82", false},
    /* bad continuation */
    {"stray continuation 80", "80", false},
    {"stray continuation BF after ASCII", "61 bf", false},
    {"continuation not 10xxxxxx (C2 41)", "c2 41", false},
    {"continuation not 10xxxxxx (C2 C0)", "c2 c0", false},
    {"third byte bad (E1 80 41)", "e1 80 41", false},
    {"fourth byte bad (F1 80 80 41)", "f1 80 80 41", false},
};

static size_t unhex(const char *hex, uint8_t *out)
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
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

ParameterizedTestParameters(utf8, table)
{
	return cr_make_param_array(struct utf8_row, rows,
	                           sizeof rows / sizeof rows[0]);
}

ParameterizedTest(struct utf8_row *r, utf8, table)
{
	uint8_t s[64];
	size_t n = unhex(r->hex, s);

	cr_assert_eq(mqtt_utf8_valid(s, n), r->valid, "%s", r->name);

	/*
	 * The same bytes at every offset inside longer ASCII, so the 8-byte
	 * fast path meets them at every alignment and on both sides.
	 */
	for (size_t pre = 0; pre < 17; pre++) {
		uint8_t big[96];
		memset(big, 'a', sizeof big);
		memcpy(big + pre, s, n);
		cr_assert_eq(mqtt_utf8_valid(big, pre + n + 9), r->valid,
		             "%s at offset %zu", r->name, pre);
		/* and at the very end */
		cr_assert_eq(mqtt_utf8_valid(big, pre + n), r->valid,
		             "%s at end after %zu", r->name, pre);
	}
}

Test(utf8, ascii_fast_path_sees_every_position)
{
	uint8_t s[67];

	for (size_t len = 1; len <= sizeof s; len++) {
		memset(s, 'x', sizeof s);
		cr_assert(mqtt_utf8_valid(s, len));
		for (size_t i = 0; i < len; i++) {
			static const uint8_t bad[] = {0x00, 0x80, 0xc3, 0xff};
			for (size_t b = 0; b < sizeof bad; b++) {
				s[i] = bad[b];
				cr_assert_not(mqtt_utf8_valid(s, len),
				              "len %zu, %02x at %zu", len,
				              bad[b], i);
			}
			s[i] = 'x';
		}
	}
}

Test(utf8, does_not_read_past_len)
{
	/* A valid lead byte just before len must not peek beyond it. */
	uint8_t s[] = {'a', 0xc3, 0xa9};

	cr_assert_not(mqtt_utf8_valid(s, 2));
	cr_assert(mqtt_utf8_valid(s, 3));
	cr_assert(mqtt_utf8_valid(NULL, 0));
}

Test(utf8, every_code_point_round_trip)
{
	/* Encode each scalar value the textbook way; all must be valid. */
	uint8_t b[4];

	for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
		size_t n;
		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
			b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
		if (mqtt_utf8_valid(b, n) == surrogate)
			cr_assert_fail("U+%04X: %s", cp,
			               surrogate ? "accepted" : "rejected");
	}
}
