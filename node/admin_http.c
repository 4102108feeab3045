/*
 * admin_http.c - admin connections: HTTP/1.1 requests in (http-parser),
 * responses out, keep-alive, and the limits that keep a misbehaving client
 * from costing the node more than a few KiB and a socket.
 *
 * One request at a time per connection: when a request is complete the
 * parser is paused and reading stops; bytes already read past it (a
 * pipelined request) are kept and parsed after the response is written.
 *
 * Limits: ADMIN_MAX_CONNS connections (more are closed at once), a request
 * of at most ADMIN_MAX_REQUEST bytes (413), ADMIN_REQUEST_MS to send it
 * (408), ADMIN_IDLE_MS between keep-alive requests, ADMIN_WRITE_MS for a
 * response to be taken, ADMIN_JOB_MS for the workers to answer (504).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "oauth.h"
#include "users.h"
#include "log.h"

static int admin_http_on_url(http_parser *p, const char *at, size_t len);
static int admin_http_on_header_field(http_parser *p, const char *at,
                                      size_t len);
static int admin_http_on_header_value(http_parser *p, const char *at,
                                      size_t len);
static int admin_http_on_headers_complete(http_parser *p);
static int admin_http_on_body(http_parser *p, const char *at, size_t len);
static int admin_http_on_message_complete(http_parser *p);

static const http_parser_settings admin_http_settings = {
    .on_url = admin_http_on_url,
    .on_header_field = admin_http_on_header_field,
    .on_header_value = admin_http_on_header_value,
    .on_headers_complete = admin_http_on_headers_complete,
    .on_body = admin_http_on_body,
    .on_message_complete = admin_http_on_message_complete,
};

enum {
	ADMIN_HDR_OTHER = 0,
	ADMIN_HDR_AUTHORIZATION,
	ADMIN_HDR_CONTENT_TYPE,
};

/* ---- parser callbacks ---------------------------------------------- */

/* Counts request bytes; false (and too_large) past the cap. */
static bool admin_http_count(struct admin_conn *c, size_t len)
{
	c->req.bytes += len;
	if (c->req.bytes > ADMIN_MAX_REQUEST) {
		c->req.too_large = true;
		return false;
	}
	return true;
}

static int admin_http_on_url(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;

	if (!admin_http_count(c, len))
		return 1;
	admin_buf_append(&c->req.url, at, len);
	return c->req.url.oom ? 1 : 0;
}

static int admin_http_on_header_field(http_parser *p, const char *at,
                                      size_t len)
{
	struct admin_conn *c = p->data;
	struct admin_req *r = &c->req;

	if (!admin_http_count(c, len))
		return 1;
	if (r->in_value) {
		r->in_value = false;
		r->hname_len = 0;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = at[i];

		if (r->hname_len >= sizeof(r->hname) - 1) {
			r->hname_len = sizeof(r->hname); /* matches nothing */
			break;
		}
		r->hname[r->hname_len++] =
		    (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	return 0;
}

static int admin_http_on_header_value(http_parser *p, const char *at,
                                      size_t len)
{
	struct admin_conn *c = p->data;
	struct admin_req *r = &c->req;

	if (!admin_http_count(c, len))
		return 1;
	if (!r->in_value) {
		r->in_value = true;
		r->header = ADMIN_HDR_OTHER;
		if (r->hname_len == 13 &&
		    !memcmp(r->hname, "authorization", 13)) {
			r->header = ADMIN_HDR_AUTHORIZATION;
			r->auth_len = 0; /* the last one counts */
			r->auth_too_long = false;
		} else if (r->hname_len == 12 &&
		           !memcmp(r->hname, "content-type", 12)) {
			r->header = ADMIN_HDR_CONTENT_TYPE;
			r->ctype_len = 0;
		}
	}
	if (r->header == ADMIN_HDR_CONTENT_TYPE) {
		size_t room = sizeof(r->ctype) - 1 - r->ctype_len;
		size_t n = len < room ? len : room;

		memcpy(r->ctype + r->ctype_len, at, n);
		r->ctype_len += n;
		r->ctype[r->ctype_len] = 0;
	}
	if (r->header == ADMIN_HDR_AUTHORIZATION) {
		if (r->auth_len + len > ADMIN_AUTH_MAX) {
			r->auth_too_long = true;
		} else {
			memcpy(r->auth + r->auth_len, at, len);
			r->auth_len += len;
			r->auth[r->auth_len] = 0;
		}
	}
	return 0;
}

static int admin_http_on_headers_complete(http_parser *p)
{
	struct admin_conn *c = p->data;

	c->req.keepalive = http_should_keep_alive(p) != 0;
	return 0;
}

static int admin_http_on_body(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;

	if (!admin_http_count(c, len))
		return 1;
	/* kept for the handlers that read one (bounded by the request
	 * limit), NUL-terminated */
	admin_buf_append(&c->req.body, at, len);
	return c->req.body.oom ? 1 : 0;
}

static int admin_http_on_message_complete(http_parser *p)
{
	struct admin_conn *c = p->data;

	c->req.method = p->method;
	c->req.keepalive = http_should_keep_alive(p) != 0;
	c->req.complete = true;
	http_parser_pause(p, 1); /* one request at a time */
	return 0;
}

/* ---- connection ---------------------------------------------------- */

static void admin_http_on_close(uv_handle_t *h)
{
	struct admin_conn *c = h->data;

	c->a->handles--;
	admin_buf_free(&c->req.url);
	admin_buf_free(&c->req.body);
	free(c->pend);
	free(c->wbuf);
	free(c);
}

void admin_http_close(struct admin_conn *c)
{
	struct admin *a = c->a;

	if (c->state == ADMIN_CONN_CLOSING)
		return;
	c->state = ADMIN_CONN_CLOSING;
	if (c->job) {
		c->job->conn = NULL; /* it finishes without us */
		c->job = NULL;
	}
	oauth_conn_gone(c);
	users_api_conn_gone(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	a->n_conns--;
	uv_close((uv_handle_t *)&c->tcp, admin_http_on_close);
}

static void admin_http_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct admin_conn *c = h->data;

	(void)hint;
	/* read callbacks follow their alloc at once: one buffer is enough */
	buf->base = c->a->rbuf;
	buf->len = sizeof(c->a->rbuf);
}

static void admin_http_on_read(uv_stream_t *s, ssize_t nread,
                               const uv_buf_t *buf);

static void admin_http_read_start(struct admin_conn *c)
{
	if (c->reading)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, admin_http_on_alloc,
	                  admin_http_on_read)) {
		admin_http_close(c);
		return;
	}
	c->reading = true;
}

static void admin_http_read_stop(struct admin_conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

/* Forgets the answered request; the parser starts afresh. */
static void admin_http_reset(struct admin_conn *c)
{
	struct admin_buf url = c->req.url, body = c->req.body;

	url.len = 0;
	if (url.p)
		url.p[0] = 0;
	url.oom = false;
	body.len = 0;
	body.oom = false;
	memset(&c->req, 0, sizeof(c->req));
	c->req.url = url;
	c->req.body = body;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
}

/* Parses data[0..len); answers a complete request. */
static void admin_http_feed(struct admin_conn *c, const uint8_t *data,
                            size_t len)
{
	size_t used;

	if (c->state == ADMIN_CONN_IDLE) {
		c->state = ADMIN_CONN_READING;
		c->since = uv_now(c->a->loop);
	}
	used = http_parser_execute(&c->parser, &admin_http_settings,
	                           (const char *)data, len);
	if (c->req.complete) {
		admin_http_read_stop(c);
		if (used < len) {
			uint8_t *rest = malloc(len - used);

			if (!rest) {
				admin_http_close(c);
				return;
			}
			memcpy(rest, data + used, len - used);
			free(c->pend);
			c->pend = rest;
			c->pend_len = len - used;
		}
		c->state = ADMIN_CONN_BUSY;
		c->since = uv_now(c->a->loop);
		if (!c->req.keepalive)
			c->close_after = true;
		admin_buf_append(&c->req.url, "", 0); /* NUL-terminated */
		admin_buf_append(&c->req.body, "", 0);
		if (c->req.url.oom || c->req.body.oom) {
			admin_http_error(c, 500, "out of memory");
			return;
		}
		admin_api_handle(c);
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		admin_http_read_stop(c);
		c->state = ADMIN_CONN_BUSY;
		c->close_after = true;
		if (c->req.too_large || e == HPE_HEADER_OVERFLOW)
			admin_http_error(c, 413, "request larger than %d bytes",
			                 ADMIN_MAX_REQUEST);
		else if (c->req.url.oom)
			admin_http_error(c, 500, "out of memory");
		else
			admin_http_error(c, 400, "malformed HTTP request: %s",
			                 http_errno_description(e));
	}
}

/* After a response: the next request, already read or still to come. */
static void admin_http_next(struct admin_conn *c)
{
	if (c->pend) {
		uint8_t *p = c->pend;
		size_t len = c->pend_len;

		c->pend = NULL;
		c->pend_len = 0;
		admin_http_feed(c, p, len);
		free(p);
	}
	if (c->state == ADMIN_CONN_IDLE || c->state == ADMIN_CONN_READING)
		admin_http_read_start(c);
}

static void admin_http_on_read(uv_stream_t *s, ssize_t nread,
                               const uv_buf_t *buf)
{
	struct admin_conn *c = s->data;

	if (nread < 0) {
		admin_http_close(c);
		return;
	}
	if (nread == 0 || c->state == ADMIN_CONN_CLOSING)
		return;
	admin_http_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void admin_http_on_write(uv_write_t *req, int status)
{
	struct admin_conn *c = req->data;

	free(c->wbuf);
	c->wbuf = NULL;
	if (c->state == ADMIN_CONN_CLOSING)
		return;
	if (status < 0 || c->close_after || c->a->stopping) {
		admin_http_close(c);
		return;
	}
	admin_http_reset(c);
	c->state = ADMIN_CONN_IDLE;
	c->since = uv_now(c->a->loop);
	admin_http_next(c);
}

void admin_http_on_connection(uv_stream_t *server, int status)
{
	struct admin *a = server->data;
	struct admin_conn *c;

	if (status < 0) {
		log_warn("admin: accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("admin: out of memory accepting a connection");
		return;
	}
	c->a = a;
	uv_tcp_init(a->loop, &c->tcp);
	c->tcp.data = c;
	a->handles++;
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->n_conns++;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = ADMIN_CONN_IDLE;
	c->since = uv_now(a->loop);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) || a->stopping) {
		admin_http_close(c);
		return;
	}
	if (a->n_conns > ADMIN_MAX_CONNS) {
		log_warn("admin: %d connections open: refusing another",
		         ADMIN_MAX_CONNS);
		admin_http_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	admin_http_read_start(c);
}

void admin_http_sweep(struct admin *a, uint64_t now)
{
	struct admin_conn *c = a->conns, *next;

	for (; c; c = next) {
		uint64_t age = now - c->since;

		next = c->next;
		switch (c->state) {
		case ADMIN_CONN_IDLE:
			if (age > ADMIN_IDLE_MS)
				admin_http_close(c);
			break;
		case ADMIN_CONN_READING:
			if (age > ADMIN_REQUEST_MS) {
				admin_http_read_stop(c);
				c->state = ADMIN_CONN_BUSY;
				c->close_after = true;
				admin_http_error(c, 408,
				                 "request not received within "
				                 "%d s",
				                 ADMIN_REQUEST_MS / 1000);
			}
			break;
		case ADMIN_CONN_BUSY:
			if (c->job && now - c->job->started > ADMIN_JOB_MS) {
				c->job->conn = NULL;
				c->job = NULL;
				admin_http_error(c, 504,
				                 "the workers did not answer "
				                 "within %d s",
				                 ADMIN_JOB_MS / 1000);
			} else if (c->wbuf && age > ADMIN_WRITE_MS) {
				admin_http_close(c);
			}
			break;
		default:
			break;
		}
	}
}

/* ---- responses ----------------------------------------------------- */

static const char *admin_http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

void admin_http_reply(struct admin_conn *c, int status, const char *ctype,
                      const char *extra_headers, const void *body, size_t len)
{
	struct admin_buf b = {0};
	uv_buf_t ub;

	if (c->state == ADMIN_CONN_CLOSING || c->wbuf)
		return; /* gone, or already answered */
	if (c->a->stopping)
		c->close_after = true;
	admin_buf_printf(&b,
	                 "HTTP/1.1 %d %s\r\n"
	                 "Content-Type: %s\r\n"
	                 "Content-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\n"
	                 "Connection: %s\r\n"
	                 "%s\r\n",
	                 status, admin_http_status_text(status), ctype, len,
	                 c->close_after ? "close" : "keep-alive",
	                 extra_headers ? extra_headers : "");
	if (c->req.method != HTTP_HEAD)
		admin_buf_append(&b, body, len);
	if (b.oom) {
		admin_buf_free(&b);
		admin_http_close(c);
		return;
	}
	c->wbuf = b.p;
	c->wreq.data = c;
	c->state = ADMIN_CONN_BUSY;
	c->since = uv_now(c->a->loop);
	ub = uv_buf_init(b.p, (unsigned)b.len);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1,
	             admin_http_on_write)) {
		free(c->wbuf);
		c->wbuf = NULL;
		admin_http_close(c);
	}
}

static void admin_http_json(struct admin_conn *c, int status, json_t *j,
                            const char *extra_headers)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char *body;
	size_t len;

	json_decref(j);
	if (!s) {
		static const char oom[] = "{\"error\":\"out of memory\"}\n";

		admin_http_reply(c, 500, "application/json", NULL, oom,
		                 sizeof(oom) - 1);
		return;
	}
	len = strlen(s);
	body = realloc(s, len + 2);
	if (body) {
		s = body;
		s[len++] = '\n';
		s[len] = 0;
	}
	admin_http_reply(c, status, "application/json", extra_headers, s, len);
	free(s);
}

void admin_http_reply_json(struct admin_conn *c, int status, json_t *j)
{
	admin_http_json(c, status, j,
	                status == 401 ? "WWW-Authenticate: Bearer "
	                                "realm=\"tern\"\r\n"
	                              : NULL);
}

static json_t *admin_http_error_json(const char *fmt, va_list ap)
{
	char msg[512];
	json_t *j = json_object();
	json_t *s;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	s = json_string(msg);
	if (!s) /* not UTF-8: a client's bytes were quoted */
		s = json_string("invalid request");
	if (j)
		json_object_set_new(j, "error", s);
	else
		json_decref(s);
	return j;
}

void admin_http_error(struct admin_conn *c, int status, const char *fmt, ...)
{
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	j = admin_http_error_json(fmt, ap);
	va_end(ap);
	admin_http_reply_json(c, status, j);
}

void admin_http_not_allowed(struct admin_conn *c, const char *allow)
{
	char hdr[128];
	json_t *j = json_pack("{s:s, s:s}", "error", "method not allowed",
	                      "allow", allow);

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	admin_http_json(c, 405, j, hdr);
}
