/*
 * proxy.c - the PROXY protocol (proxy.h): a pure parser for both header
 * versions, and the connection layer that reads the header.
 *
 * The layer lives only until the header is read. Then it takes itself off
 * the connection's stack, lets transport.c push the listener's own layers
 * and hands them the rest of that read, so from the first byte after the
 * header a proxied connection runs exactly the code of any other one: no
 * pass-through call on input or output, nothing kept in memory. It also
 * keeps the stack within CONN_MAX_LAYERS (wss:// behind a balancer would
 * otherwise need three layers).
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "tern_err.h"

/* v2: the signature, then ver_cmd, fam and a 16-bit length. */
#define PROXY_V2_HEAD  16
#define PROXY_V2_LOCAL 0x0
#define PROXY_V2_PROXY 0x1
#define PROXY_V2_TCP4  0x11
#define PROXY_V2_TCP6  0x21

static const uint8_t proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char proxy_v1_sig[] = "PROXY ";

/* ---- the parser ------------------------------------------------------ */

/* "IP:PORT" or "[IP]:PORT" from an address in network order. */
static void proxy_format(int af, const void *addr, unsigned port, char *peer,
                         size_t peerlen)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(af, addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	if (af == AF_INET6)
		snprintf(peer, peerlen, "[%s]:%u", ip, port);
	else
		snprintf(peer, peerlen, "%s:%u", ip, port);
}

/* A v1 port: decimal 0..65535, no leading zero. */
static bool proxy_v1_port(const char *s, unsigned *port)
{
	size_t n = strlen(s);
	unsigned v = 0;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*port = v;
	return v <= 65535;
}

/*
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", single spaces, at most
 * PROXY_V1_MAX bytes with the CRLF; "PROXY UNKNOWN" then anything up to
 * the CRLF.
 */
static int proxy_parse_v1(const uint8_t *buf, size_t len, size_t *consumed,
                          char *peer, size_t peerlen)
{
	size_t sig = sizeof(proxy_v1_sig) - 1;
	char line[PROXY_V1_MAX];
	char *field[5], *s;
	unsigned char src[16], dst[16];
	unsigned sport, dport, nf = 0;
	size_t i;
	int af;

	if (memcmp(buf, proxy_v1_sig, len < sig ? len : sig))
		return TERN_EMALFORMED;
	/* printable US-ASCII up to the CR, which leaves room for the LF */
	for (i = 0; i < len && buf[i] != '\r'; i++)
		if (i == PROXY_V1_MAX - 2 || buf[i] < 0x20 || buf[i] > 0x7e)
			return TERN_EMALFORMED;
	if (i + 1 >= len)
		return TERN_ENEEDMORE;
	if (buf[i + 1] != '\n' || i < sig)
		return TERN_EMALFORMED;
	memcpy(line, buf + sig, i - sig);
	line[i - sig] = '\0';

	s = line;
	if (strncmp(s, "UNKNOWN", 7) == 0 && (s[7] == '\0' || s[7] == ' ')) {
		*consumed = i + 2; /* the rest of the line is ignored */
		return 0;
	}
	for (;;) {
		if (nf == 5)
			return TERN_EMALFORMED;
		field[nf++] = s;
		s = strchr(s, ' ');
		if (!s)
			break;
		*s++ = '\0';
	}
	if (nf != 5)
		return TERN_EMALFORMED;
	if (strcmp(field[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(field[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return TERN_EMALFORMED;
	if (inet_pton(af, field[1], src) != 1 ||
	    inet_pton(af, field[2], dst) != 1 ||
	    !proxy_v1_port(field[3], &sport) ||
	    !proxy_v1_port(field[4], &dport))
		return TERN_EMALFORMED;
	proxy_format(af, src, sport, peer, peerlen);
	*consumed = i + 2;
	return 0;
}

/* The protocol bytes the spec defines; a receiver must refuse the rest. */
static bool proxy_v2_fam_valid(uint8_t fam)
{
	switch (fam) {
	case 0x00: /* UNSPEC */
	case 0x11: /* TCP over IPv4 */
	case 0x12: /* UDP over IPv4 */
	case 0x21: /* TCP over IPv6 */
	case 0x22: /* UDP over IPv6 */
	case 0x31: /* UNIX stream */
	case 0x32: /* UNIX datagram */
		return true;
	default:
		return false;
	}
}

/*
 * The 12-byte signature, version 2 and a command (LOCAL or PROXY), the
 * family, the length of what follows, the addresses, TLVs (skipped).
 */
static int proxy_parse_v2(const uint8_t *buf, size_t len, size_t *consumed,
                          char *peer, size_t peerlen)
{
	size_t sig = sizeof(proxy_v2_sig), total;
	uint8_t cmd;

	if (memcmp(buf, proxy_v2_sig, len < sig ? len : sig))
		return TERN_EMALFORMED;
	if (len <= sig)
		return TERN_ENEEDMORE;
	cmd = buf[12] & 0x0F;
	if (buf[12] >> 4 != 2 || cmd > PROXY_V2_PROXY)
		return TERN_EMALFORMED;
	/* LOCAL: the family is ignored, whatever it is */
	if (len > 13 && cmd == PROXY_V2_PROXY && !proxy_v2_fam_valid(buf[13]))
		return TERN_EMALFORMED;
	if (len < PROXY_V2_HEAD)
		return TERN_ENEEDMORE;
	total = PROXY_V2_HEAD + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PROXY_V2_MAX)
		return TERN_EMALFORMED;
	if (len < total)
		return TERN_ENEEDMORE;
	if (cmd == PROXY_V2_PROXY && buf[13] == PROXY_V2_TCP4) {
		if (total < PROXY_V2_HEAD + 12)
			return TERN_EMALFORMED;
		proxy_format(AF_INET, buf + 16,
		             (unsigned)buf[24] << 8 | buf[25], peer, peerlen);
	} else if (cmd == PROXY_V2_PROXY && buf[13] == PROXY_V2_TCP6) {
		if (total < PROXY_V2_HEAD + 36)
			return TERN_EMALFORMED;
		proxy_format(AF_INET6, buf + 16,
		             (unsigned)buf[48] << 8 | buf[49], peer, peerlen);
	}
	/* else LOCAL, or a family the spec lets a receiver fall back from
	 * (UNSPEC, UDP, UNIX): the socket's address stays */
	*consumed = total;
	return 0;
}

int proxy_parse(const uint8_t *buf, size_t len, unsigned versions,
                size_t *consumed, char *peer, size_t peerlen)
{
	if (peerlen)
		peer[0] = '\0';
	if (!len)
		return TERN_ENEEDMORE;
	if ((versions & PROXY_V2) && buf[0] == proxy_v2_sig[0])
		return proxy_parse_v2(buf, len, consumed, peer, peerlen);
	if ((versions & PROXY_V1) && buf[0] == (uint8_t)proxy_v1_sig[0])
		return proxy_parse_v1(buf, len, consumed, peer, peerlen);
	return TERN_EMALFORMED;
}

/* ---- the connection layer ------------------------------------------- */

struct proxy {
	unsigned versions;
	int (*next)(struct conn *c);
	uint8_t *buf; /* a header split over reads (PROXY_V2_MAX bytes) */
	size_t len;   /* bytes in buf */
};

static int proxy_input(struct conn *c, unsigned layer, const uint8_t *data,
                       size_t len);
static int proxy_output(struct conn *c, unsigned layer, const uv_buf_t *bufs,
                        unsigned n);
static void proxy_free(void *state);

static const struct transport_ops proxy_ops = {
    .name = "proxy",
    .input = proxy_input,
    .output = proxy_output,
    .free = proxy_free,
};

static void proxy_free(void *state)
{
	struct proxy *p = state;

	if (!p)
		return;
	free(p->buf);
	free(p);
}

/*
 * The header is read. The layer is alone on the stack (transport_attach
 * pushes nothing before the header): empty the stack, let next() push the
 * listener's layers and give them, or MQTT, the n bytes after the header.
 * rest may point into p->buf, so p goes last.
 */
static int proxy_step_aside(struct conn *c, struct proxy *p,
                            const uint8_t *rest, size_t n)
{
	int rc = 0;

	c->xl->n = 0;
	if (p->next)
		rc = p->next(c);
	if (!c->xl->n) {
		free(c->xl);
		c->xl = NULL;
	}
	if (rc) {
		log_info("%s: proxy: cannot set up the listener's layers: %s, "
		         "closing",
		         c->peer, tern_strerror(rc));
		conn_close(c, 0, true);
	} else if (n && c->xl) {
		rc = c->xl->ops[0]->input(c, 0, rest, n);
	} else if (n) {
		rc = conn_up(c, 0, rest, n);
		/* conn.c would name the failing layer from c->xl */
		if (rc && c->state != CONN_CLOSING && !c->moved)
			conn_close(c, 0, true);
	}
	proxy_free(p);
	return rc;
}

static int proxy_input(struct conn *c, unsigned layer, const uint8_t *data,
                       size_t len)
{
	struct proxy *p = c->xl->state[layer];
	const uint8_t *hdr = data;
	size_t have = len, kept = p->len, used = 0;
	char peer[sizeof(c->peer)];
	int rc;

	assert(layer == 0 && c->xl->n == 1);
	if (kept) {
		/* the header is not over before kept (proxy_parse), and
		 * cannot go past the buffer */
		size_t take =
		    len < PROXY_V2_MAX - kept ? len : PROXY_V2_MAX - kept;

		memcpy(p->buf + kept, data, take);
		hdr = p->buf;
		have = kept + take;
	}
	rc = proxy_parse(hdr, have, p->versions, &used, peer, sizeof(peer));
	if (rc == TERN_ENEEDMORE) {
		/* have < PROXY_V2_MAX: a longer header is malformed */
		if (!p->buf) {
			p->buf = malloc(PROXY_V2_MAX);
			if (!p->buf)
				return TERN_ENOMEM;
			memcpy(p->buf, data, len);
		}
		p->len = have;
		return 0;
	}
	if (rc) {
		stat_add(&c->w->stats.proxy_failures, 1);
		log_debug("%s: proxy: no valid PROXY %s header (%zu bytes, "
		          "first 0x%02x)",
		          c->peer,
		          p->versions == PROXY_V1   ? "v1"
		          : p->versions == PROXY_V2 ? "v2"
		                                    : "v1 or v2",
		          have, hdr[0]);
		return rc;
	}
	if (peer[0]) {
		log_debug("%s: proxy: client %s", c->peer, peer);
		memcpy(c->peer, peer, sizeof(c->peer));
	} else {
		log_debug("%s: proxy: header without a client address, "
		          "keeping the socket's",
		          c->peer);
	}
	/* the header ends in this read (proxy_parse asked for more at kept) */
	assert(used > kept);
	return proxy_step_aside(c, p, data + (used - kept),
	                        len - (used - kept));
}

/* Nothing is sent before CONNECT, so nothing before the header either;
 * whatever might be goes straight down. */
static int proxy_output(struct conn *c, unsigned layer, const uv_buf_t *bufs,
                        unsigned n)
{
	return conn_down(c, layer, bufs, n);
}

int proxy_attach(struct conn *c, unsigned versions, int (*next)(struct conn *c))
{
	struct proxy *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return TERN_ENOMEM;
	p->versions = versions;
	p->next = next;
	rc = conn_add_layer(c, &proxy_ops, p);
	if (rc)
		free(p);
	return rc;
}
