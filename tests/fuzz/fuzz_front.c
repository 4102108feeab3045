/*
 * fuzz_front.c - libFuzzer target for the two parsers that read a client's
 * bytes before MQTT (and before any authentication): the PROXY protocol
 * header (node/proxy.c, proxy_parse) and the WebSocket upgrade request
 * (node/ws_handshake.c, on http-parser).
 *
 * The first input byte picks a mode, the rest is data:
 *
 *  even  proxy_parse with the versions mask (byte >> 1) & 3 (0 taken as
 *        both): 0 means a header of at most the input was consumed and the
 *        peer is a NUL-terminated string; TERN_ENEEDMORE must stay so for
 *        every shorter prefix (a prefix of a valid beginning is one too).
 *  odd   ws_handshake_feed of the data in pieces whose sizes come from the
 *        data itself: a decided status is 101 or an error status, a 101
 *        consumed at most the fed bytes, and the response always fits.
 *
 * Any violated expectation abort()s, which libFuzzer reports as a crash.
 * Seeds: tests/fuzz/corpus_front/. Build and run: tests/fuzz/run.sh
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "tern_err.h"
#include "ws_handshake.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

/* proxy.c's layer half talks to conn.c and log.c: never reached here. */
int conn_add_layer(struct conn *c, const struct transport_ops *ops,
		   void *state)
{
	(void)c, (void)ops, (void)state;
	abort();
}
int conn_up(struct conn *c, unsigned layer, const uint8_t *data, size_t len)
{
	(void)c, (void)layer, (void)data, (void)len;
	abort();
}
int conn_down(struct conn *c, unsigned layer, const uv_buf_t *bufs,
	      unsigned n)
{
	(void)c, (void)layer, (void)bufs, (void)n;
	abort();
}
void conn_close(struct conn *c, uint8_t reason, bool abnormal)
{
	(void)c, (void)reason, (void)abnormal;
	abort();
}
bool log_enabled(enum tern_log_level level)
{
	(void)level;
	return false;
}
void log_write(enum tern_log_level level, const char *fmt, ...)
{
	(void)level, (void)fmt;
}

static void fuzz_proxy(unsigned versions, const uint8_t *d, size_t n)
{
	char peer[64];
	size_t used = 0;
	int rc;

	if (!versions)
		versions = 3;
	rc = proxy_parse(d, n, versions, &used, peer, sizeof(peer));
	CHECK(rc == 0 || rc == TERN_ENEEDMORE || rc == TERN_EMALFORMED);
	if (rc == 0) {
		CHECK(used > 0 && used <= n);
		CHECK(memchr(peer, 0, sizeof(peer)) != NULL);
		/* the header alone parses the same */
		CHECK(proxy_parse(d, used, versions, &used, peer,
				  sizeof(peer)) == 0);
	}
	if (rc == TERN_ENEEDMORE && n > 0)
		CHECK(proxy_parse(d, n - 1, versions, &used, peer,
				  sizeof(peer)) == TERN_ENEEDMORE);
}

static void fuzz_ws(const uint8_t *d, size_t n)
{
	static const struct ws_handshake_rules rules = {
		.path = "/mqtt", .origins = "https://a.example, http://b"};
	struct ws_handshake *h = ws_handshake_new(&rules);
	char resp[512];
	size_t off = 0;
	int status = 0;

	if (!h)
		return;
	while (off < n && status == 0) {
		/* piece sizes from the data: 1..64 bytes */
		size_t piece = 1 + d[off] % 64, used = 0;

		if (piece > n - off)
			piece = n - off;
		status = ws_handshake_feed(h, d + off, piece, &used);
		if (status == 101)
			CHECK(used <= piece);
		off += piece;
	}
	if (status) {
		CHECK(status == 101 || (status >= 400 && status < 600));
		CHECK(ws_handshake_response(h, resp, sizeof(resp)) > 0);
		CHECK(ws_handshake_why(h) != NULL);
	}
	ws_handshake_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_ws(data + 1, size - 1);
	else
		fuzz_proxy((data[0] >> 1) & 3, data + 1, size - 1);
	return 0;
}
