/*
 * ws_handshake.c - WebSocket opening handshake, server side (RFC 6455
 * section 4.2.1/4.2.2), for MQTT over WebSocket (MQTT 5.0 section 6).
 *
 * http-parser does the HTTP/1.1 syntax. The request is fed as it arrives;
 * only the headers the handshake needs are kept, each in a bounded buffer
 * (repeated headers are joined with ", " as HTTP lists are). The callback
 * on_headers_complete asks http-parser to skip any body, so with an upgrade
 * it stops right after the blank line and what follows is WebSocket.
 */
#include "ws_handshake.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_URL_MAX   1024
#define WS_VALUE_MAX 512
#define WS_FIELD_MAX 32

/* The request headers the handshake looks at. */
enum ws_hdr {
	WS_H_HOST,
	WS_H_UPGRADE,
	WS_H_CONNECTION,
	WS_H_KEY,
	WS_H_VERSION,
	WS_H_PROTOCOL,
	WS_H_ORIGIN,
	WS_H_COUNT,
};

static const char *const ws_hdr_names[WS_H_COUNT] = {
    [WS_H_HOST] = "Host",
    [WS_H_UPGRADE] = "Upgrade",
    [WS_H_CONNECTION] = "Connection",
    [WS_H_KEY] = "Sec-WebSocket-Key",
    [WS_H_VERSION] = "Sec-WebSocket-Version",
    [WS_H_PROTOCOL] = "Sec-WebSocket-Protocol",
    [WS_H_ORIGIN] = "Origin",
};

/* Subprotocols we speak [MQTT-6.0.0-3]: "mqtt" whenever the client offers
 * it [MQTT-6.0.0-4], "mqttv3.1" for MQTT 3.1 clients that offer only it. */
static const char *const ws_protocols[] = {"mqtt", "mqttv3.1"};

struct ws_value {
	char v[WS_VALUE_MAX];
	size_t len;
	unsigned count; /* times the header appeared */
};

struct ws_handshake {
	http_parser parser;
	const struct ws_handshake_rules *rules;
	size_t seen;   /* request bytes fed so far */
	bool done;     /* headers complete */
	bool in_value; /* last callback was a header value */
	bool overflow; /* a kept header value did not fit */
	int cur;       /* header whose value is being read, or -1 */
	char field[WS_FIELD_MAX];
	size_t field_len; /* > WS_FIELD_MAX: too long to be one we keep */
	char url[WS_URL_MAX];
	size_t url_len; /* > WS_URL_MAX: too long */
	struct ws_value h[WS_H_COUNT];

	int status;
	const char *protocol; /* static */
	char accept[32];      /* base64 of a SHA-1: 28 chars */
	char why[256];
};

/* ---- http-parser callbacks ----------------------------------------- */

static int ws_hs_on_url(http_parser *p, const char *at, size_t len)
{
	struct ws_handshake *h = p->data;

	if (h->url_len + len > WS_URL_MAX) {
		h->url_len = WS_URL_MAX + 1;
		return 0;
	}
	memcpy(h->url + h->url_len, at, len);
	h->url_len += len;
	return 0;
}

static int ws_hs_on_field(http_parser *p, const char *at, size_t len)
{
	struct ws_handshake *h = p->data;

	if (h->in_value) {
		h->in_value = false;
		h->field_len = 0;
	}
	if (h->field_len + len > WS_FIELD_MAX) {
		h->field_len = WS_FIELD_MAX + 1;
		return 0;
	}
	memcpy(h->field + h->field_len, at, len);
	h->field_len += len;
	return 0;
}

static int ws_hs_header_index(const char *name, size_t len)
{
	for (int i = 0; i < WS_H_COUNT; i++)
		if (strlen(ws_hdr_names[i]) == len &&
		    strncasecmp(ws_hdr_names[i], name, len) == 0)
			return i;
	return -1;
}

static void ws_hs_append(struct ws_handshake *h, struct ws_value *v,
                         const char *s, size_t len)
{
	if (v->len + len >= WS_VALUE_MAX) {
		h->overflow = true;
		return;
	}
	memcpy(v->v + v->len, s, len);
	v->len += len;
	v->v[v->len] = '\0';
}

static int ws_hs_on_value(http_parser *p, const char *at, size_t len)
{
	struct ws_handshake *h = p->data;

	if (!h->in_value) {
		h->in_value = true;
		h->cur = h->field_len <= WS_FIELD_MAX
		             ? ws_hs_header_index(h->field, h->field_len)
		             : -1;
		if (h->cur >= 0 && h->h[h->cur].count++)
			ws_hs_append(h, &h->h[h->cur], ", ", 2);
	}
	if (h->cur >= 0)
		ws_hs_append(h, &h->h[h->cur], at, len);
	return 0;
}

static int ws_hs_on_headers_complete(http_parser *p)
{
	struct ws_handshake *h = p->data;

	h->done = true;
	return 1; /* no body: with an upgrade, stop right after the headers */
}

static int ws_hs_on_message_complete(http_parser *p)
{
	/* never parse a second request out of WebSocket bytes */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings ws_hs_settings = {
    .on_url = ws_hs_on_url,
    .on_header_field = ws_hs_on_field,
    .on_header_value = ws_hs_on_value,
    .on_headers_complete = ws_hs_on_headers_complete,
    .on_message_complete = ws_hs_on_message_complete,
};

/* ---- checks -------------------------------------------------------- */

/*
 * Calls fn on each comma-separated element of list, trimmed of spaces and
 * tabs; stops and returns true as soon as fn does.
 */
static bool ws_hs_each(const char *list,
                       bool (*fn)(const char *s, size_t n, const void *arg),
                       const void *arg)
{
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ',');
		const char *end = e ? e : p + strlen(p);
		const char *s = p;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > s && fn(s, (size_t)(end - s), arg))
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* Case-insensitive token equality (HTTP tokens, origins). */
static bool ws_hs_eq_nocase(const char *s, size_t n, const void *arg)
{
	const char *want = arg;

	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

static bool ws_hs_has_token(const struct ws_value *v, const char *token)
{
	return v->count && ws_hs_each(v->v, ws_hs_eq_nocase, token);
}

struct ws_hs_pick {
	const char *chosen;
};

/* Subprotocol names are compared exactly: the echo must match the offer.
 * Stops at "mqtt"; "mqttv3.1" is kept while the rest is looked through. */
static bool ws_hs_protocol_match(const char *s, size_t n, const void *arg)
{
	struct ws_hs_pick *pick = (struct ws_hs_pick *)arg;

	for (size_t i = 0; i < sizeof(ws_protocols) / sizeof(*ws_protocols);
	     i++) {
		if (strlen(ws_protocols[i]) == n &&
		    memcmp(s, ws_protocols[i], n) == 0) {
			if (!pick->chosen || i == 0)
				pick->chosen = ws_protocols[i];
			return i == 0;
		}
	}
	return false;
}

struct ws_hs_origin {
	const char *s;
	size_t n;
};

static bool ws_hs_origin_match(const char *s, size_t n, const void *arg)
{
	const struct ws_hs_origin *o = arg;

	return o->n == n && strncasecmp(s, o->s, n) == 0;
}

/* A valid key is the base64 of 16 bytes: 22 characters and "==". */
static bool ws_hs_key_valid(const struct ws_value *v)
{
	unsigned char raw[24];

	if (v->count != 1 || v->len != 24 || v->v[22] != '=' || v->v[23] != '=')
		return false;
	return EVP_DecodeBlock(raw, (const unsigned char *)v->v, 24) == 18;
}

/* Copies s into dst for a log line: printable ASCII only, truncated. */
static void ws_hs_printable(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		dst[o++] =
		    ch >= 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?';
	}
	dst[o] = '\0';
}

/* Records a refusal: why = what, then the offending value if any. */
static int ws_hs_refuse(struct ws_handshake *h, int status, const char *what,
                        const char *value, size_t value_len)
{
	char shown[96];

	if (value) {
		ws_hs_printable(shown, sizeof(shown), value, value_len);
		snprintf(h->why, sizeof(h->why), "%s \"%s\"", what, shown);
	} else {
		snprintf(h->why, sizeof(h->why), "%s", what);
	}
	h->status = status;
	return status;
}

static int ws_hs_accept_key(struct ws_handshake *h)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char in[24 + sizeof(WS_GUID)];

	memcpy(in, h->h[WS_H_KEY].v, 24);
	memcpy(in + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (!EVP_Digest(in, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(),
	                NULL) ||
	    mdlen != 20)
		return -1;
	EVP_EncodeBlock((unsigned char *)h->accept, md, (int)mdlen);
	return 0;
}

/* Decides the status once the headers are in. */
static int ws_hs_decide(struct ws_handshake *h)
{
	const http_parser *p = &h->parser;
	const struct ws_value *v = h->h;
	struct http_parser_url u;
	const char *path = "/";
	size_t path_len = 1;

	/* http-parser keeps a value's trailing spaces and tabs */
	for (int i = 0; i < WS_H_COUNT; i++) {
		struct ws_value *t = &h->h[i];

		while (t->len &&
		       (t->v[t->len - 1] == ' ' || t->v[t->len - 1] == '\t'))
			t->v[--t->len] = '\0';
	}
	if (h->url_len > WS_URL_MAX)
		return ws_hs_refuse(h, 414, "request URL too long", NULL, 0);
	if (h->overflow)
		return ws_hs_refuse(h, 431, "a header is too long", NULL, 0);
	http_parser_url_init(&u);
	if (http_parser_parse_url(h->url, h->url_len, 0, &u))
		return ws_hs_refuse(h, 400, "bad request target", h->url,
		                    h->url_len);
	if (u.field_set & (1u << UF_PATH)) {
		path = h->url + u.field_data[UF_PATH].off;
		path_len = u.field_data[UF_PATH].len;
	}
	if (strlen(h->rules->path) != path_len ||
	    memcmp(path, h->rules->path, path_len) != 0)
		return ws_hs_refuse(h, 404, "path is not ws_path:", path,
		                    path_len);
	if (p->method != HTTP_GET)
		return ws_hs_refuse(
		    h, 405, "method is not GET:", http_method_str(p->method),
		    strlen(http_method_str(p->method)));
	if (p->http_major < 1 || (p->http_major == 1 && p->http_minor < 1))
		return ws_hs_refuse(h, 400, "HTTP/1.1 required", NULL, 0);
	if (!v[WS_H_HOST].count)
		return ws_hs_refuse(h, 400, "no Host header", NULL, 0);
	if (!ws_hs_has_token(&v[WS_H_UPGRADE], "websocket"))
		return ws_hs_refuse(h, 400, "Upgrade is not websocket:",
		                    v[WS_H_UPGRADE].v, v[WS_H_UPGRADE].len);
	if (!ws_hs_has_token(&v[WS_H_CONNECTION], "upgrade"))
		return ws_hs_refuse(
		    h, 400, "Connection lacks upgrade:", v[WS_H_CONNECTION].v,
		    v[WS_H_CONNECTION].len);
	if (!v[WS_H_VERSION].count)
		return ws_hs_refuse(h, 400, "no Sec-WebSocket-Version", NULL,
		                    0);
	if (strcmp(v[WS_H_VERSION].v, "13") != 0)
		return ws_hs_refuse(h, 426, "Sec-WebSocket-Version is not 13:",
		                    v[WS_H_VERSION].v, v[WS_H_VERSION].len);
	if (!ws_hs_key_valid(&v[WS_H_KEY]))
		return ws_hs_refuse(h, 400,
		                    "Sec-WebSocket-Key missing or invalid:",
		                    v[WS_H_KEY].v, v[WS_H_KEY].len);
	if (h->rules->origins[0] && v[WS_H_ORIGIN].count) {
		struct ws_hs_origin o = {v[WS_H_ORIGIN].v, v[WS_H_ORIGIN].len};

		if (v[WS_H_ORIGIN].count != 1 ||
		    !ws_hs_each(h->rules->origins, ws_hs_origin_match, &o))
			return ws_hs_refuse(h, 403, "Origin not in ws_origins:",
			                    v[WS_H_ORIGIN].v,
			                    v[WS_H_ORIGIN].len);
	}
	if (v[WS_H_PROTOCOL].count) {
		struct ws_hs_pick pick = {NULL};

		ws_hs_each(v[WS_H_PROTOCOL].v, ws_hs_protocol_match, &pick);
		if (!pick.chosen)
			return ws_hs_refuse(
			    h, 400,
			    "Sec-WebSocket-Protocol offers neither mqtt "
			    "nor mqttv3.1:",
			    v[WS_H_PROTOCOL].v, v[WS_H_PROTOCOL].len);
		h->protocol = pick.chosen;
	}
	if (ws_hs_accept_key(h))
		return ws_hs_refuse(h, 500, "SHA-1 unavailable", NULL, 0);
	h->why[0] = '\0';
	h->status = 101;
	return 101;
}

/* ---- API ----------------------------------------------------------- */

struct ws_handshake *ws_handshake_new(const struct ws_handshake_rules *r)
{
	struct ws_handshake *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	h->rules = r;
	h->cur = -1;
	return h;
}

void ws_handshake_free(struct ws_handshake *h)
{
	free(h);
}

int ws_handshake_feed(struct ws_handshake *h, const uint8_t *data, size_t len,
                      size_t *used)
{
	size_t room = WS_HANDSHAKE_MAX - h->seen;
	size_t n = len < room ? len : room;
	size_t parsed;
	enum http_errno e;

	*used = 0;
	if (h->status)
		return h->status;
	parsed = http_parser_execute(&h->parser, &ws_hs_settings,
	                             (const char *)data, n);
	h->seen += parsed;
	e = HTTP_PARSER_ERRNO(&h->parser);
	if (h->done) {
		/* the parser stopped right after the blank line: no body
		 * (on_headers_complete), one message (on_message_complete).
		 * Our checks decide, not parser.upgrade, which misses
		 * "Connection: Upgrade<TAB>" */
		*used = parsed;
		return ws_hs_decide(h);
	}
	if (e != HPE_OK && e != HPE_PAUSED)
		return ws_hs_refuse(
		    h, 400, "malformed HTTP request:", http_errno_name(e),
		    strlen(http_errno_name(e)));
	if (h->seen >= WS_HANDSHAKE_MAX)
		return ws_hs_refuse(h, 431, "request headers too large", NULL,
		                    0);
	*used = len;
	return 0;
}

static const char *ws_hs_status_text(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Internal Server Error";
	}
}

size_t ws_handshake_response(const struct ws_handshake *h, char *buf,
                             size_t cap)
{
	const char *text = ws_hs_status_text(h->status);
	int n;

	if (h->status == 101)
		n = snprintf(
		    buf, cap,
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "%s%s%s"
		    "\r\n",
		    h->accept, h->protocol ? "Sec-WebSocket-Protocol: " : "",
		    h->protocol ? h->protocol : "", h->protocol ? "\r\n" : "");
	else
		/* the body is the status text: never echo the request */
		n = snprintf(buf, cap,
		             "HTTP/1.1 %d %s\r\n"
		             "Connection: close\r\n"
		             "Content-Type: text/plain\r\n"
		             "Content-Length: %zu\r\n"
		             "%s"
		             "\r\n"
		             "%s\n",
		             h->status, text, strlen(text) + 1,
		             h->status == 426 ? "Sec-WebSocket-Version: 13\r\n"
		             : h->status == 405 ? "Allow: GET\r\n"
		                                : "",
		             text);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const char *ws_handshake_why(const struct ws_handshake *h)
{
	return h->why;
}

const char *ws_handshake_protocol(const struct ws_handshake *h)
{
	return h->protocol;
}
