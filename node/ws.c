/*
 * ws.c - the WebSocket connection layer (conn.h transport_ops) for ws:// and
 * wss:// listeners.
 *
 * Two phases. HTTP: bytes go to ws_handshake.c until it decides; the answer
 * (101 or an error) is written with conn_down, an error also closes the
 * connection. WebSocket: a wslay server context decodes frames; the
 * payload of binary frames is MQTT and goes up with conn_up, continuation
 * frames included, without waiting for the end of a message (conn.c
 * reassembles packets that span frames and splits frames holding several).
 *
 * Reentrancy. conn_up runs MQTT handlers, which may close the connection or
 * hand it (and this state) to another worker. So wslay callbacks never call
 * conn_up: the chunk callback copies payload into ws->pend, and after
 * wslay_event_recv returns the layer first sends wslay's control replies
 * (pong, close), then delivers pend, and touches nothing of its state once
 * the connection has moved.
 *
 * Output. Each batch from conn.c becomes one unmasked binary frame whose
 * header is written here and sent with the batch's buffers in one
 * conn_down, so payloads are not copied (wslay_event_queue_msg would copy
 * each message twice). wslay only sends control frames, always completely
 * (conn_down takes every byte), so frames never interleave.
 */
#include "ws.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "conn.h"
#include "log.h"
#include "tern_err.h"
#include "worker.h"
#include "ws_handshake.h"

#define WS_PEND_KEEP  16384 /* larger receive buffers are freed when idle */
#define WS_STACK_BUFS 64

struct ws {
	struct conn *c; /* owner; updated by rebind (wslay's user data is
	                 * this struct, which moves with the connection) */
	unsigned layer;
	struct ws_handshake_rules rules;
	struct ws_handshake *hs;    /* HTTP phase; NULL once upgraded */
	wslay_event_context_ptr ev; /* WebSocket phase */

	const uint8_t *in; /* bytes wslay's recv callback serves */
	size_t in_len;
	uint8_t *pend; /* MQTT bytes decoded this round */
	size_t pend_len, pend_cap;

	uint8_t msg_opcode;   /* data message in progress */
	uint8_t frame_opcode; /* frame being received */
	uint16_t fail;        /* close code we sent for our own reason */
	bool nomem;
	bool closed; /* our close frame went out (ws_close) */
};

static struct ws *ws_of(struct conn *c, unsigned layer)
{
	return c->xl->state[layer];
}

/* ---- wslay callbacks (never call conn_up from here) ---------------- */

static ssize_t ws_on_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len,
                          int flags, void *user)
{
	struct ws *ws = user;
	size_t n = ws->in_len < len ? ws->in_len : len;

	(void)flags;
	if (!n) {
		wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	memcpy(buf, ws->in, n);
	ws->in += n;
	ws->in_len -= n;
	return (ssize_t)n;
}

static ssize_t ws_on_send(wslay_event_context_ptr ev, const uint8_t *data,
                          size_t len, int flags, void *user)
{
	struct ws *ws = user;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

	(void)flags;
	if (conn_down(ws->c, ws->layer, &b, 1)) {
		wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static void ws_fail(struct ws *ws, uint16_t code)
{
	ws->fail = code;
	wslay_event_shutdown_read(ws->ev);
	(void)wslay_event_queue_close(ws->ev, code, NULL, 0);
}

static void
ws_on_frame_start(wslay_event_context_ptr ev,
                  const struct wslay_event_on_frame_recv_start_arg *arg,
                  void *user)
{
	struct ws *ws = user;

	(void)ev;
	ws->frame_opcode = arg->opcode;
	if (arg->opcode == WSLAY_TEXT_FRAME ||
	    arg->opcode == WSLAY_BINARY_FRAME)
		ws->msg_opcode = arg->opcode;
	/* MQTT travels in binary frames only [MQTT-6.0.0-1] */
	if (arg->opcode == WSLAY_TEXT_FRAME && !ws->fail)
		ws_fail(ws, WSLAY_CODE_UNSUPPORTED_DATA);
}

static int ws_pend_append(struct ws *ws, const uint8_t *p, size_t n)
{
	if (ws->pend_len + n > ws->pend_cap) {
		size_t cap = ws->pend_cap ? ws->pend_cap * 2 : 4096;
		uint8_t *b;

		while (cap < ws->pend_len + n)
			cap *= 2;
		b = realloc(ws->pend, cap);
		if (!b)
			return TERN_ENOMEM;
		ws->pend = b;
		ws->pend_cap = cap;
	}
	memcpy(ws->pend + ws->pend_len, p, n);
	ws->pend_len += n;
	return 0;
}

static void
ws_on_frame_chunk(wslay_event_context_ptr ev,
                  const struct wslay_event_on_frame_recv_chunk_arg *arg,
                  void *user)
{
	struct ws *ws = user;
	bool binary = ws->frame_opcode == WSLAY_BINARY_FRAME ||
	              (ws->frame_opcode == WSLAY_CONTINUATION_FRAME &&
	               ws->msg_opcode == WSLAY_BINARY_FRAME);

	(void)ev;
	if (!binary || ws->fail || !arg->data_length)
		return;
	if (ws_pend_append(ws, arg->data, arg->data_length)) {
		ws->nomem = true;
		ws_fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
	}
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_on_recv,
    .send_callback = ws_on_send,
    .on_frame_recv_start_callback = ws_on_frame_start,
    .on_frame_recv_chunk_callback = ws_on_frame_chunk,
};

/* ---- HTTP phase ---------------------------------------------------- */

/*
 * Feeds the upgrade request. Returns how many bytes of data it took (the
 * rest are WebSocket bytes), or a negative tern_err after answering with
 * an HTTP error and closing the connection.
 */
static ssize_t ws_upgrade(struct ws *ws, const uint8_t *data, size_t len)
{
	struct conn *c = ws->c;
	const struct tern_config *cfg = &c->w->node->cfg;
	char resp[512];
	size_t used = 0, n;
	uv_buf_t b;
	int status;

	status = ws_handshake_feed(ws->hs, data, len, &used);
	if (status == 0)
		return (ssize_t)len;
	if (status == 101) {
		if (wslay_event_context_server_init(&ws->ev, &ws_callbacks,
		                                    ws)) {
			ws->ev = NULL;
			log_error("%s: ws: out of memory", c->peer);
			status = 500;
		} else {
			wslay_event_config_set_no_buffering(ws->ev, 1);
			wslay_event_config_set_max_recv_msg_length(
			    ws->ev, cfg->ws_max_frame);
		}
	}
	if (status != 101) {
		/* refusal text for a 500 that the handshake did not decide */
		n = status == 500
		        ? (size_t)snprintf(resp, sizeof(resp),
		                           "HTTP/1.1 500 Internal Server "
		                           "Error\r\nConnection: close\r\n"
		                           "Content-Length: 0\r\n\r\n")
		        : ws_handshake_response(ws->hs, resp, sizeof(resp));
		b = uv_buf_init(resp, (unsigned)n);
		(void)conn_down(c, ws->layer, &b, 1);
		stat_add(&c->w->stats.ws_upgrade_failures, 1);
		log_info("%s: ws: upgrade refused with %d: %s", c->peer, status,
		         status == 500 ? "out of memory"
		                       : ws_handshake_why(ws->hs));
		conn_close(c, 0, true);
		return TERN_EPROTOCOL;
	}
	n = ws_handshake_response(ws->hs, resp, sizeof(resp));
	b = uv_buf_init(resp, (unsigned)n);
	if (!n || conn_down(c, ws->layer, &b, 1)) {
		conn_close(c, 0, true);
		return TERN_EIO;
	}
	log_debug("%s: ws: upgraded on %s, subprotocol %s", c->peer,
	          cfg->ws_path,
	          ws_handshake_protocol(ws->hs) ? ws_handshake_protocol(ws->hs)
	                                        : "(none)");
	ws_handshake_free(ws->hs);
	ws->hs = NULL;
	return (ssize_t)used;
}

/* ---- WebSocket phase ----------------------------------------------- */

static const char *ws_close_reason(uint16_t code)
{
	switch (code) {
	case WSLAY_CODE_UNSUPPORTED_DATA:
		return "text frame (MQTT needs binary frames)";
	case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
		return "invalid UTF-8 in a close frame";
	case WSLAY_CODE_MESSAGE_TOO_BIG:
		return "frame larger than ws_max_frame";
	case WSLAY_CODE_INTERNAL_SERVER_ERROR:
		return "out of memory";
	default: /* 1002, or 1005: wslay's close for a bad frame header */
		return "WebSocket protocol error";
	}
}

/* Hands the MQTT bytes of this round to conn.c. */
static void ws_deliver(struct ws *ws, struct conn *c, unsigned layer)
{
	size_t n = ws->pend_len;

	if (!n)
		return;
	ws->pend_len = 0;
	/* may close c or move it (and ws) to another worker */
	conn_up(c, layer, ws->pend, n);
	if (c->moved)
		return; /* ws belongs to the other worker now */
	if (ws->pend_cap > WS_PEND_KEEP) {
		free(ws->pend);
		ws->pend = NULL;
		ws->pend_cap = 0;
	}
}

static int ws_frames(struct ws *ws, const uint8_t *data, size_t len)
{
	struct conn *c = ws->c;
	unsigned layer = ws->layer;
	int rrc, src;
	uint16_t sent;

	if (!wslay_event_get_read_enabled(ws->ev))
		return 0; /* closing: bytes after a close frame are dropped */
	ws->in = data;
	ws->in_len = len;
	rrc = wslay_event_recv(ws->ev);
	ws->in = NULL;
	ws->in_len = 0;
	src = wslay_event_send(ws->ev); /* pongs and close frames */
	if (!rrc && !src && wslay_event_get_read_enabled(ws->ev)) {
		ws_deliver(ws, c, layer);
		return 0;
	}
	sent = wslay_event_get_close_sent(ws->ev)
	           ? wslay_event_get_status_code_sent(ws->ev)
	           : 0;
	if (wslay_event_get_close_received(ws->ev) && !ws->fail) {
		/* the client's close: what came before it still counts (an
		 * MQTT DISCONNECT often shares a read with the close frame).
		 * Our echo may fail if the client closed its socket at once. */
		uint16_t code = wslay_event_get_status_code_received(ws->ev);

		ws_deliver(ws, c, layer);
		if (c->moved || c->state == CONN_CLOSING)
			return 0;
		log_debug("%s: ws: close %u from the client, closing", c->peer,
		          code);
		conn_close(c, 0, true);
		return 0;
	}
	if (src && !ws->fail)
		log_info("%s: ws: write failed, closing", c->peer);
	else
		log_info("%s: ws: %s, closing (close %u)", c->peer,
		         ws_close_reason(ws->fail ? ws->fail : sent),
		         ws->fail ? ws->fail : sent);
	ws->pend_len = 0;
	conn_close(c, 0, true);
	return ws->nomem ? TERN_ENOMEM : TERN_EPROTOCOL;
}

/* ---- transport_ops ------------------------------------------------- */

static int ws_input(struct conn *c, unsigned layer, const uint8_t *data,
                    size_t len)
{
	struct ws *ws = ws_of(c, layer);

	ws->c = c;
	ws->layer = layer;
	if (ws->hs) {
		ssize_t used = ws_upgrade(ws, data, len);

		if (used < 0)
			return (int)used;
		if (ws->hs)
			return 0; /* request not complete yet */
		data += used;
		len -= (size_t)used;
	}
	if (!len)
		return 0;
	return ws_frames(ws, data, len);
}

/* Writes a server frame header (FIN, binary, unmasked); returns its size. */
static size_t ws_frame_header(uint8_t *h, uint64_t len)
{
	h[0] = 0x80 | WSLAY_BINARY_FRAME;
	if (len < 126) {
		h[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

static int ws_output(struct conn *c, unsigned layer, const uv_buf_t *bufs,
                     unsigned n)
{
	struct ws *ws = ws_of(c, layer);
	uv_buf_t stackbufs[WS_STACK_BUFS], *all = stackbufs;
	uint8_t head[10];
	uint64_t total = 0;
	int rc;

	/* nothing goes out before the 101 or after a close frame */
	if (ws->hs || !ws->ev || !wslay_event_get_write_enabled(ws->ev) ||
	    wslay_event_get_close_sent(ws->ev) || ws->closed)
		return 0;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (!total)
		return 0;
	if (n + 1 > WS_STACK_BUFS) {
		all = malloc((n + 1) * sizeof(*all));
		if (!all)
			return TERN_ENOMEM;
	}
	all[0] =
	    uv_buf_init((char *)head, (unsigned)ws_frame_header(head, total));
	memcpy(all + 1, bufs, n * sizeof(*bufs));
	rc = conn_down(c, layer, all, n + 1);
	if (all != stackbufs)
		free(all);
	return rc;
}

/*
 * conn_close ends the connection (keepalive, DISCONNECT, shutdown...): say
 * so with a close frame (1000, or 1001 while the server stops) unless one
 * went out already. Written by hand like ws_output's frames.
 */
static void ws_close(struct conn *c, unsigned layer)
{
	struct ws *ws = ws_of(c, layer);
	uint16_t code = c->w->stopping ? 1001 : 1000;
	uint8_t frame[4] = {0x88, 2, (uint8_t)(code >> 8), (uint8_t)code};
	uv_buf_t buf = uv_buf_init((char *)frame, sizeof(frame));

	if (ws->hs || !ws->ev || ws->closed ||
	    !wslay_event_get_write_enabled(ws->ev) ||
	    wslay_event_get_close_sent(ws->ev))
		return;
	ws->closed = true;
	(void)conn_down(c, layer, &buf, 1);
}

static void ws_rebind(struct conn *c, unsigned layer)
{
	struct ws *ws = ws_of(c, layer);

	ws->c = c;
	ws->layer = layer;
}

static void ws_free(void *state)
{
	struct ws *ws = state;

	if (!ws)
		return;
	ws_handshake_free(ws->hs);
	if (ws->ev)
		wslay_event_context_free(ws->ev);
	free(ws->pend);
	free(ws);
}

static const struct transport_ops ws_ops = {
    .name = "ws",
    .input = ws_input,
    .output = ws_output,
    .close = ws_close,
    .rebind = ws_rebind,
    .free = ws_free,
};

int ws_attach(struct conn *c)
{
	const struct tern_config *cfg = &c->w->node->cfg;
	struct ws *ws = calloc(1, sizeof(*ws));
	int rc;

	if (!ws)
		return TERN_ENOMEM;
	ws->c = c;
	ws->rules.path = cfg->ws_path;
	ws->rules.origins = cfg->ws_origins;
	ws->hs = ws_handshake_new(&ws->rules);
	if (!ws->hs) {
		free(ws);
		return TERN_ENOMEM;
	}
	rc = conn_add_layer(c, &ws_ops, ws);
	if (rc) {
		ws_free(ws);
		return rc;
	}
	ws->layer = c->xl->n - 1;
	return 0;
}
