/*
 * test_proxy.c - proxy_parse, the PROXY protocol header parser (HAProxy's
 * proxy-protocol.txt, versions 1 and 2): v1 TCP4/TCP6/UNKNOWN, v2
 * PROXY/LOCAL with IPv4, IPv6, TLVs and the families a receiver falls back
 * from; every header split at every byte; garbage, oversized headers,
 * wrong signatures, and each version refused where the listener does not
 * take it.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "proxy.h"
#include "tern_err.h"

/* A byte string literal (NULs allowed) and its length. */
#define B(s) s, sizeof(s) - 1

/* v2: signature, then ver_cmd and fam (one string each: a \x escape would
 * swallow the digits of a following literal otherwise) */
#define SIG       "\r\n\r\n\0\r\nQUIT\n"
#define PROXY_CMD "\x21"
#define LOCAL_CMD "\x20"
#define TCP4      "\x11"
#define TCP6      "\x21"
#define UNSPEC    "\0"
#define UDP4      "\x12"
#define UDP6      "\x22"
/* 203.0.113.7:54321 -> 10.0.0.1:1883 */
#define ADDR4                                                                  \
	"\xcb\x00\x71\x07"                                                     \
	"\x0a\x00\x00\x01"                                                     \
	"\xd4\x31"                                                             \
	"\x07\x5b"
/* [2001:db8::7]:443 -> [2001:db8::1]:8883 */
#define ADDR6                                                                  \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07"                           \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"                           \
	"\x01\xbb"                                                             \
	"\x22\xb3"
/* a NOOP TLV (3 bytes) and a UNIQUE_ID TLV (4 bytes) */
#define TLVS                                                                   \
	"\x04\0\x03"                                                           \
	"abc"                                                                  \
	"\x05\0\x04"                                                           \
	"id-1"

/* MQTT 3.1.1 CONNECT "c", after the header in the split tests */
#define CONNECT                                                                \
	"\x10\x0d\0\x04MQTT\x04\x02\0\x3c\0\x01"                               \
	"c"

/*
 * Each accepted row is exactly one header. Rows hold their bytes, not
 * pointers: Criterion runs each parameter in a new process.
 */
struct row {
	char name[64];
	uint8_t data[176];
	size_t len;
	unsigned versions;
	int rc;           /* for the whole row */
	char peer[64];    /* rc 0 */
	size_t reject_at; /* rc MALFORMED: shortest prefix refused; 0: len */
};

/* ---- accepted ----------------------------------------------------------- */

static struct row good[] = {
    /* v1 */
    {"v1 TCP4", B("PROXY TCP4 203.0.113.7 10.0.0.1 54321 1883\r\n"), PROXY_V1,
     0, "203.0.113.7:54321", 0},
    {"v1 TCP4 ports 0 and 65535",
     B("PROXY TCP4 255.255.255.255 0.0.0.0 0 65535\r\n"), PROXY_V1, 0,
     "255.255.255.255:0", 0},
    {"v1 TCP6", B("PROXY TCP6 2001:db8::7 2001:db8::1 443 8883\r\n"), PROXY_V1,
     0, "[2001:db8::7]:443", 0},
    {"v1 TCP6 written long, printed canonical",
     B("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0007 ::1 1 2\r\n"),
     PROXY_V1, 0, "[2001:db8::7]:1", 0},
    {"v1 TCP6 longest (104 bytes)",
     B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
     PROXY_V1, 0, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 0},
    {"v1 TCP6 v4-mapped", B("PROXY TCP6 ::ffff:203.0.113.7 ::1 7 8\r\n"),
     PROXY_V1, 0, "[::ffff:203.0.113.7]:7", 0},
    {"v1 UNKNOWN short", B("PROXY UNKNOWN\r\n"), PROXY_V1, 0, "", 0},
    {"v1 UNKNOWN worst case (107 bytes)",
     B("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
     PROXY_V1, 0, "", 0},
    {"v1 UNKNOWN ignores the rest of the line",
     B("PROXY UNKNOWN whatever it is\r\n"), PROXY_V1, 0, "", 0},
    {"v1 on an any listener", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"),
     PROXY_ANY, 0, "192.0.2.1:1", 0},
    /* v2 */
    {"v2 PROXY TCP4", B(SIG PROXY_CMD TCP4 "\0\x0c" ADDR4), PROXY_V2, 0,
     "203.0.113.7:54321", 0},
    {"v2 PROXY TCP6", B(SIG PROXY_CMD TCP6 "\0\x24" ADDR6), PROXY_V2, 0,
     "[2001:db8::7]:443", 0},
    {"v2 PROXY TCP4 with TLVs", B(SIG PROXY_CMD TCP4 "\0\x19" ADDR4 TLVS),
     PROXY_V2, 0, "203.0.113.7:54321", 0},
    {"v2 PROXY TCP6 with TLVs", B(SIG PROXY_CMD TCP6 "\0\x31" ADDR6 TLVS),
     PROXY_V2, 0, "[2001:db8::7]:443", 0},
    {"v2 LOCAL UNSPEC", B(SIG LOCAL_CMD UNSPEC "\0\0"), PROXY_V2, 0, "", 0},
    {"v2 LOCAL with addresses (ignored)", B(SIG LOCAL_CMD TCP4 "\0\x0c" ADDR4),
     PROXY_V2, 0, "", 0},
    {"v2 LOCAL with TLVs", B(SIG LOCAL_CMD UNSPEC "\0\x0d" TLVS), PROXY_V2, 0,
     "", 0},
    {"v2 LOCAL, family ignored", B(SIG LOCAL_CMD "\xff\0\0"), PROXY_V2, 0, "",
     0},
    {"v2 PROXY UNSPEC", B(SIG PROXY_CMD UNSPEC "\0\0"), PROXY_V2, 0, "", 0},
    {"v2 PROXY UDP4 falls back", B(SIG PROXY_CMD UDP4 "\0\x0c" ADDR4), PROXY_V2,
     0, "", 0},
    {"v2 PROXY UDP6 falls back", B(SIG PROXY_CMD UDP6 "\0\x24" ADDR6), PROXY_V2,
     0, "", 0},
    {"v2 on an any listener", B(SIG PROXY_CMD TCP4 "\0\x0c" ADDR4), PROXY_ANY,
     0, "203.0.113.7:54321", 0},
};

/* ---- refused ------------------------------------------------------------ */

static struct row bad[] = {
    /* not a PROXY header at all: refused on the first byte */
    {"MQTT CONNECT", B(CONNECT), PROXY_ANY, TERN_EMALFORMED, "", 1},
    {"HTTP request", B("GET /mqtt HTTP/1.1\r\n\r\n"), PROXY_ANY,
     TERN_EMALFORMED, "", 1},
    {"TLS ClientHello", B("\x16\x03\x01\x02\0\x01"), PROXY_ANY, TERN_EMALFORMED,
     "", 1},
    {"v1 header on a v2 listener", B("PROXY UNKNOWN\r\n"), PROXY_V2,
     TERN_EMALFORMED, "", 1},
    {"v2 header on a v1 listener", B(SIG LOCAL_CMD UNSPEC "\0\0"), PROXY_V1,
     TERN_EMALFORMED, "", 1},
    {"no version taken", B("PROXY UNKNOWN\r\n"), 0, TERN_EMALFORMED, "", 1},
    /* v1 */
    {"v1 lower case", B("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 1},
    {"v1 PROXY without space", B("PROXY\r\n"), PROXY_V1, TERN_EMALFORMED, "",
     6},
    {"v1 LF alone", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n"), PROXY_V1,
     TERN_EMALFORMED, "", 31},
    {"v1 CR alone", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\rx"), PROXY_V1,
     TERN_EMALFORMED, "", 32},
    {"v1 control byte", B("PROXY TCP4\x01 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 11},
    {"v1 8-bit byte", B("PROXY TCP4 1.2.3.4\xc3 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 19},
    {"v1 empty", B("PROXY \r\n"), PROXY_V1, TERN_EMALFORMED, "", 0},
    {"v1 TCP5", B("PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 UNKNOWNX", B("PROXY UNKNOWNX\r\n"), PROXY_V1, TERN_EMALFORMED, "", 0},
    {"v1 double space", B("PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 trailing space", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 missing port", B("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 extra field", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 TCP4 with IPv6", B("PROXY TCP4 ::1 ::1 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 TCP6 with IPv4", B("PROXY TCP6 1.2.3.4 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 bad destination", B("PROXY TCP4 1.2.3.4 1.2.3 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 octet with leading zero", B("PROXY TCP4 1.2.3.04 1.2.3.5 1 2\r\n"),
     PROXY_V1, TERN_EMALFORMED, "", 0},
    {"v1 octet over 255", B("PROXY TCP4 1.2.3.256 1.2.3.5 1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 name, not address", B("PROXY TCP4 localhost 1.2.3.5 1 2\r\n"),
     PROXY_V1, TERN_EMALFORMED, "", 0},
    {"v1 port with leading zero", B("PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n"),
     PROXY_V1, TERN_EMALFORMED, "", 0},
    {"v1 port 65536", B("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 port 999999", B("PROXY TCP4 1.2.3.4 1.2.3.5 1 999999\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 port sign", B("PROXY TCP4 1.2.3.4 1.2.3.5 +1 2\r\n"), PROXY_V1,
     TERN_EMALFORMED, "", 0},
    {"v1 108 bytes with its CRLF",
     B("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n"),
     PROXY_V1, TERN_EMALFORMED, "", 106},
    {"v1 no CRLF in 107 bytes",
     B("PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"),
     PROXY_V1, TERN_EMALFORMED, "", 106},
    /* v2 */
    {"v2 signature, last byte wrong", B("\r\n\r\n\0\r\nQUIT\x0b\x21"), PROXY_V2,
     TERN_EMALFORMED, "", 12},
    {"v2 signature, NUL missing", B("\r\n\r\n\r\nQUIT\n\x21\x11"), PROXY_V2,
     TERN_EMALFORMED, "", 5},
    {"v2 version 1", B(SIG "\x11" TCP4 "\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 13},
    {"v2 version 3", B(SIG "\x31" TCP4 "\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 13},
    {"v2 command 2", B(SIG "\x22" TCP4 "\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 13},
    {"v2 command 15", B(SIG "\x2f" TCP4 "\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 13},
    {"v2 family 4", B(SIG PROXY_CMD "\x41\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 14},
    {"v2 transport 3", B(SIG PROXY_CMD "\x13\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 14},
    {"v2 INET without transport", B(SIG PROXY_CMD "\x10\0\x0c" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 14},
    {"v2 TCP4 addresses cut short", B(SIG PROXY_CMD TCP4 "\0\x08" ADDR4),
     PROXY_V2, TERN_EMALFORMED, "", 24},
    {"v2 TCP6 addresses cut short", B(SIG PROXY_CMD TCP6 "\0\x0c" ADDR4),
     PROXY_V2, TERN_EMALFORMED, "", 28},
    {"v2 length 2049", B(SIG PROXY_CMD TCP4 "\x08\x01" ADDR4), PROXY_V2,
     TERN_EMALFORMED, "", 16},
    {"v2 length 65535", B(SIG LOCAL_CMD UNSPEC "\xff\xff"), PROXY_V2,
     TERN_EMALFORMED, "", 16},
};

/* ---- helpers ------------------------------------------------------------ */

static int parse(const uint8_t *b, size_t len, unsigned versions, size_t *used,
                 char *peer)
{
	return proxy_parse(b, len, versions, used, peer, 64);
}

/* ---- tests -------------------------------------------------------------- */

ParameterizedTestParameters(proxy, good)
{
	return cr_make_param_array(struct row, good,
	                           sizeof(good) / sizeof(good[0]));
}

/*
 * The whole header is read with the client's address; every shorter prefix
 * (each split of the header over two reads) asks for more; bytes after the
 * header (an MQTT CONNECT) are left alone.
 */
ParameterizedTest(struct row *r, proxy, good)
{
	uint8_t buf[PROXY_V2_MAX + 64];
	char peer[64];
	size_t used = 12345;

	cr_assert_eq(parse(r->data, r->len, r->versions, &used, peer), 0, "%s",
	             r->name);
	cr_expect_eq(used, r->len, "%s: consumed %zu", r->name, used);
	cr_expect_str_eq(peer, r->peer, "%s", r->name);

	for (size_t k = 0; k < r->len; k++) {
		strcpy(peer, "junk");
		cr_assert_eq(parse(r->data, k, r->versions, &used, peer),
		             TERN_ENEEDMORE, "%s: prefix of %zu bytes", r->name,
		             k);
		cr_expect_str_eq(peer, "", "%s: prefix %zu", r->name, k);
	}

	memcpy(buf, r->data, r->len);
	memcpy(buf + r->len, CONNECT, sizeof(CONNECT) - 1);
	used = 0;
	cr_assert_eq(
	    parse(buf, r->len + sizeof(CONNECT) - 1, r->versions, &used, peer),
	    0, "%s + CONNECT", r->name);
	cr_expect_eq(used, r->len, "%s + CONNECT", r->name);
	cr_expect_str_eq(peer, r->peer, "%s + CONNECT", r->name);
}

ParameterizedTestParameters(proxy, bad)
{
	return cr_make_param_array(struct row, bad,
	                           sizeof(bad) / sizeof(bad[0]));
}

/*
 * Refused as soon as the bytes cannot start a header: every prefix shorter
 * than reject_at asks for more, every longer one (and the whole row) is
 * refused, and no address comes out.
 */
ParameterizedTest(struct row *r, proxy, bad)
{
	size_t at = r->reject_at ? r->reject_at : r->len;
	char peer[64];
	size_t used = 0;

	cr_assert_leq(at, r->len, "%s", r->name);
	for (size_t k = 0; k <= r->len; k++) {
		int want = k < at ? TERN_ENEEDMORE : TERN_EMALFORMED;

		strcpy(peer, "junk");
		cr_assert_eq(parse(r->data, k, r->versions, &used, peer), want,
		             "%s: prefix of %zu bytes (refused from %zu)",
		             r->name, k, at);
		cr_expect_str_eq(peer, "", "%s: prefix %zu", r->name, k);
	}
}

/* The largest v2 header taken: 2048 bytes of addresses and TLVs. */
Test(proxy, v2_largest)
{
	static uint8_t buf[PROXY_V2_MAX + 1];
	static const uint8_t head[] = SIG PROXY_CMD TCP4 "\x08\0" ADDR4;
	size_t used = 0, n = PROXY_V2_MAX;
	char peer[64];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, head, sizeof(head) - 1);
	/* one NOOP TLV filling the rest */
	buf[28] = 0x04;
	buf[29] = (uint8_t)((n - 31) >> 8);
	buf[30] = (uint8_t)(n - 31);
	cr_assert_eq(parse(buf, n - 1, PROXY_ANY, &used, peer), TERN_ENEEDMORE);
	cr_assert_eq(parse(buf, n, PROXY_ANY, &used, peer), 0);
	cr_expect_eq(used, n);
	cr_expect_str_eq(peer, "203.0.113.7:54321");
	/* one byte more declared: refused on the length alone */
	buf[14] = 0x08;
	buf[15] = 0x01;
	cr_assert_eq(parse(buf, 16, PROXY_ANY, &used, peer), TERN_EMALFORMED);
}

/* Every byte value after a valid start: never a crash, never an address
 * from a refused header, and only v1 text or v2 binary gets through. */
Test(proxy, every_second_byte)
{
	for (unsigned v = 0; v < 256; v++) {
		uint8_t b1[] = {'P', (uint8_t)v};
		uint8_t b2[] = {'\r', (uint8_t)v};
		char peer[64];
		size_t used;

		cr_expect_eq(parse(b1, 2, PROXY_ANY, &used, peer),
		             v == 'R' ? TERN_ENEEDMORE : TERN_EMALFORMED,
		             "P %02x", v);
		cr_expect_eq(parse(b2, 2, PROXY_ANY, &used, peer),
		             v == '\n' ? TERN_ENEEDMORE : TERN_EMALFORMED,
		             "CR %02x", v);
	}
}

/* A v1 line may take 107 bytes with its CRLF, not one more. */
Test(proxy, v1_length_limit)
{
	char line[160];
	size_t used = 0;
	char peer[64];

	for (size_t n = 15; n <= 110; n++) {
		memset(line, 'x', sizeof(line));
		memcpy(line, "PROXY UNKNOWN ", 14);
		if (n == 15)
			line[13] = '\r'; /* "PROXY UNKNOWN\r\n" */
		line[n - 2] = '\r';
		line[n - 1] = '\n';
		cr_assert_eq(
		    parse((const uint8_t *)line, n, PROXY_V1, &used, peer),
		    n <= PROXY_V1_MAX ? 0 : TERN_EMALFORMED, "%zu bytes", n);
		if (n <= PROXY_V1_MAX)
			cr_expect_eq(used, n);
	}
}

/* A small peer buffer is cut, still NUL-terminated. */
Test(proxy, short_peer_buffer)
{
	static const uint8_t h[] =
	    "PROXY TCP4 203.0.113.7 10.0.0.1 54321 1\r\n";
	char peer[8];
	size_t used;

	cr_assert_eq(
	    proxy_parse(h, sizeof(h) - 1, PROXY_V1, &used, peer, sizeof(peer)),
	    0);
	cr_expect_str_eq(peer, "203.0.1");
}

/*
 * The listener option (config_parse_listener; here rather than in
 * test_config.c so the feature's tests sit together): ?proxy= with v1, v2
 * or any, the URL kept as written; anything else refused naming the
 * listener.
 */
Test(proxy, listener_query)
{
	static const struct {
		const char *url;
		uint8_t proxy;
		enum tern_scheme scheme;
		const char *host;
		uint16_t port;
	} good_urls[] = {
	    {"mqtt://127.0.0.1:1883", 0, TERN_SCHEME_MQTT, "127.0.0.1", 1883},
	    {"mqtt://0.0.0.0:1883?proxy=v1", PROXY_V1, TERN_SCHEME_MQTT,
	     "0.0.0.0", 1883},
	    {"mqtts://[::]:8883?proxy=v2", PROXY_V2, TERN_SCHEME_MQTTS,
	     "::", 8883},
	    {"ws://localhost?proxy=any", PROXY_ANY, TERN_SCHEME_WS, "localhost",
	     8080},
	    {"wss://10.0.0.1:0?proxy=any", PROXY_ANY, TERN_SCHEME_WSS,
	     "10.0.0.1", 0},
	};
	static const struct {
		const char *url;
		const char *why;
	} bad_urls[] = {
	    {"mqtt://127.0.0.1:1883?proxy=v3", "proxy=v3: expected v1, v2 or "
	                                       "any"},
	    {"mqtt://127.0.0.1:1883?proxy=", "proxy=: expected v1, v2 or any"},
	    {"mqtt://127.0.0.1:1883?proxy=V1", "proxy=V1: expected"},
	    {"mqtt://127.0.0.1:1883?proxy", "unknown parameter \"proxy\""},
	    {"mqtt://127.0.0.1:1883?", "unknown parameter \"\""},
	    {"mqtt://127.0.0.1:1883?tls=1", "unknown parameter \"tls=1\""},
	    {"mqtt://127.0.0.1:1883?proxy=v1&x=1", "unknown parameter \"x=1\""},
	    {"mqtt://127.0.0.1:1883?proxy=v1&proxy=v1", "given twice"},
	    {"mqtt://127.0.0.1:18x?proxy=v1", "is not a number"},
	    {"http://127.0.0.1:1?proxy=v1", "unknown scheme \"http\""},
	};

	for (size_t i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++) {
		struct tern_listener_cfg l;
		char err[256] = "";

		cr_assert_eq(config_parse_listener(good_urls[i].url, &l, err,
		                                   sizeof(err)),
		             0, "%s: %s", good_urls[i].url, err);
		cr_expect_str_eq(l.url, good_urls[i].url);
		cr_expect_eq(l.proxy, good_urls[i].proxy, "%s",
		             good_urls[i].url);
		cr_expect_eq(l.scheme, good_urls[i].scheme, "%s",
		             good_urls[i].url);
		cr_expect_str_eq(l.host, good_urls[i].host, "%s",
		                 good_urls[i].url);
		cr_expect_eq(l.port, good_urls[i].port, "%s", good_urls[i].url);
	}
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		struct tern_listener_cfg l;
		char err[256] = "", want[300];

		cr_assert_eq(config_parse_listener(bad_urls[i].url, &l, err,
		                                   sizeof(err)),
		             TERN_ECONFIG, "%s", bad_urls[i].url);
		snprintf(want, sizeof(want),
		         "listener \"%s\": ", bad_urls[i].url);
		cr_expect_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
		cr_expect(strstr(err, bad_urls[i].why), "%s: %s",
		          bad_urls[i].url, err);
	}
}
