/*
 * jwt_codec.c - the encodings under every JWT file: strict unpadded
 * base64url (RFC 4648 section 5, one spelling per byte string) and JSON
 * objects parsed by jansson after a pre-scan bounds their nesting.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jwt.h"
#include "jwt_int.h"

/* ---- base64url (RFC 4648 section 5, unpadded) ------------------------ */

size_t jwt_b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes jwt_b64_len(n) characters (no NUL) to out; returns that count. */
size_t jwt_b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		             in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = tab[v >> 10];
		out[o++] = tab[(v >> 4) & 63];
		out[o++] = tab[(v & 15) << 2];
	}
	return o;
}

static int jwt_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes s[0..len) into out (cap bytes). Strict: the URL alphabet only,
 * no padding, no length of 1 mod 4, unused trailing bits zero. Returns the
 * byte count or -1.
 */
long jwt_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = jwt_b64_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc) /* non-zero unused bits: a second spelling of the bytes */
		return -1;
	return (long)n;
}

/* ---- JSON ------------------------------------------------------------ */

/* False if s[0..n) nests arrays/objects deeper than JWT_JSON_DEPTH_MAX. */
static bool jwt_json_shallow(const char *s, size_t n)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JWT_JSON_DEPTH_MAX)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* Parses s[0..n) as a JSON object (new reference), or NULL with *why. */
json_t *jwt_json_object(const char *s, size_t n, const char **why)
{
	json_t *j;

	if (!jwt_json_shallow(s, n)) {
		*why = "JSON nested too deeply";
		return NULL;
	}
	j = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		*why = "not a JSON object (or a duplicate member)";
		return NULL;
	}
	return j;
}

/* The string member key of o, or NULL (absent or not a string). */
const char *jwt_json_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}
