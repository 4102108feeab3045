/*
 * ternctl_http.c - a small HTTP/1.1 client for the admin API: one request
 * per connection, non-blocking connect and reads bounded by poll().
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ternctl.h"

#define TERNCTL_MAX_RESPONSE (64u * 1024 * 1024)

int ternctl_url_parse(const char *s, struct ternctl_url *u, char *err,
                      size_t errlen)
{
	const char *h, *end, *path;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "http://", 7)) {
		snprintf(err, errlen, "admin URL %s: expected http://HOST:PORT",
		         s);
		return -1;
	}
	h = s + 7;
	path = strchr(h, '/');
	if (!path)
		path = h + strlen(h);
	if (*h == '[') {
		end = memchr(h, ']', (size_t)(path - h));
		if (!end)
			goto bad;
		h++;
		hlen = (size_t)(end - h);
		end++;
	} else {
		end = memchr(h, ':', (size_t)(path - h));
		if (!end)
			end = path;
		hlen = (size_t)(end - h);
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		goto bad;
	memcpy(u->host, h, hlen);
	if (*end == ':') {
		size_t plen = (size_t)(path - end - 1);

		if (plen == 0 || plen >= sizeof(u->port) ||
		    strspn(end + 1, "0123456789") < plen)
			goto bad;
		memcpy(u->port, end + 1, plen);
	} else if (end != path) {
		goto bad;
	} else {
		snprintf(u->port, sizeof(u->port), "80");
	}
	if (strlen(path) >= sizeof(u->prefix))
		goto bad;
	snprintf(u->prefix, sizeof(u->prefix), "%s", path);
	for (size_t l = strlen(u->prefix); l && u->prefix[l - 1] == '/'; l--)
		u->prefix[l - 1] = 0;
	return 0;
bad:
	snprintf(err, errlen, "admin URL %s: expected http://HOST:PORT", s);
	return -1;
}

void ternctl_url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(out);

	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

/* Waits for fd to be ready for `events`; 0, or -1 with errno set. */
static int ternctl_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static int ternctl_connect(const struct ternctl_url *u, int timeout_ms,
                           char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc, fd = -1, e = 0;

	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		socklen_t elen = sizeof(e);

		fd = socket(ai->ai_family,
		            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		if (e == EINPROGRESS) {
			if (ternctl_wait(fd, POLLOUT, timeout_ms))
				e = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
			                    &elen))
				e = errno;
			else if (e == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s",
		         e == ETIMEDOUT ? "connection timed out"
		                        : strerror(e ? e : ECONNREFUSED));
		return -1;
	}
	return fd;
}

static int ternctl_send_all(int fd, const char *p, size_t len, int timeout_ms)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (ternctl_wait(fd, POLLOUT, timeout_ms))
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the response until the peer closes or Content-Length is in. */
static int ternctl_read_all(int fd, int timeout_ms, char **out, size_t *outlen,
                            char *err, size_t errlen)
{
	size_t len = 0, cap = 4096, want = (size_t)-1;
	char *buf = malloc(cap + 1);

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= TERNCTL_MAX_RESPONSE) {
				snprintf(err, errlen, "answer too large");
				goto fail;
			}
			nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (ternctl_wait(fd, POLLIN, timeout_ms)) {
				snprintf(err, errlen,
				         "no answer within %d s (%s)",
				         timeout_ms / 1000, strerror(errno));
				goto fail;
			}
			continue;
		}
		if (n < 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (want == (size_t)-1) {
			char *eoh = strstr(buf, "\r\n\r\n");
			char *cl = NULL;

			if (eoh) {
				*eoh = 0;
				cl = strcasestr(buf, "\r\nContent-Length:");
				*eoh = '\r';
				want = cl ? (size_t)(eoh + 4 - buf) +
				                strtoul(cl + 17, NULL, 10)
				          : (size_t)-2; /* until close */
			}
		}
		if (want < (size_t)-2 && len >= want)
			break;
	}
	buf[len] = 0;
	*out = buf;
	*outlen = len;
	return 0;
fail:
	free(buf);
	return -1;
}

int ternctl_http(const struct ternctl_url *u, const char *method,
                 const char *path, const char *token, int timeout_ms,
                 struct ternctl_resp *resp, char *err, size_t errlen)
{
	return ternctl_http_body(u, method, path, token, NULL, NULL, 0,
	                         timeout_ms, resp, err, errlen);
}

int ternctl_http_body(const struct ternctl_url *u, const char *method,
                      const char *path, const char *token, const char *ctype,
                      const char *body_in, size_t body_len, int timeout_ms,
                      struct ternctl_resp *resp, char *err, size_t errlen)
{
	char req[8192], clen[96] = "", *raw, *body;
	size_t rawlen;
	bool v6 = strchr(u->host, ':') != NULL;
	int fd, n;

	memset(resp, 0, sizeof(*resp));
	if (body_in)
		snprintf(clen, sizeof(clen),
		         "Content-Type: %s\r\nContent-Length: %zu\r\n",
		         ctype ? ctype : "application/octet-stream", body_len);
	n = snprintf(req, sizeof(req),
	             "%s %s%s HTTP/1.1\r\n"
	             "Host: %s%s%s:%s\r\n"
	             "User-Agent: ternctl/%s\r\n"
	             "Accept: application/json\r\n"
	             "Connection: close\r\n"
	             "%s%s%s%s"
	             "\r\n",
	             method, u->prefix, path, v6 ? "[" : "", u->host,
	             v6 ? "]" : "", u->port, TERN_VERSION,
	             token && *token ? "Authorization: Bearer " : "",
	             token && *token ? token : "",
	             token && *token ? "\r\n" : "", clen);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errlen, "request too long");
		return TERNCTL_ECONNECT;
	}
	fd = ternctl_connect(u, timeout_ms, err, errlen);
	if (fd < 0)
		return TERNCTL_ECONNECT;
	if (ternctl_send_all(fd, req, (size_t)n, timeout_ms) ||
	    (body_in && body_len &&
	     ternctl_send_all(fd, body_in, body_len, timeout_ms))) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return TERNCTL_ECONNECT;
	}
	if (ternctl_read_all(fd, timeout_ms, &raw, &rawlen, err, errlen)) {
		close(fd);
		return TERNCTL_ECONNECT;
	}
	close(fd);
	if (sscanf(raw, "HTTP/1.%*d %d", &resp->status) != 1 ||
	    !(body = strstr(raw, "\r\n\r\n"))) {
		snprintf(err, errlen, "not an HTTP answer");
		free(raw);
		return TERNCTL_ECONNECT;
	}
	body += 4;
	resp->len = rawlen - (size_t)(body - raw);
	memmove(raw, body, resp->len + 1);
	resp->body = raw;
	return 0;
}
