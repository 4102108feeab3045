/*
 * fuzz_decode.c - libFuzzer target for the MQTT codec.
 *
 * The input is read as a stream of packets, once per protocol version
 * (3, 4, 5) and per size limit (small and none). Every packet that decodes
 * is re-encoded and must decode again; the re-encoding must then be a fixed
 * point (decode + encode gives the same bytes) and no larger than what was
 * read. Any violation abort()s, which libFuzzer reports as a crash.
 *
 * A decoded packet keeps user properties, extra subscription identifiers
 * and SUBSCRIBE entries only in their raw form; they are rebuilt into the
 * arrays the encoder takes, as a caller forwarding the packet would.
 *
 * Build and run: tests/fuzz/run.sh [SECONDS]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

/* Heap blocks held by one rebuilt packet. */
struct arrays {
	void *p[6];
	int n;
};

static void *hold(struct arrays *a, size_t size)
{
	void *p = malloc(size ? size : 1);

	CHECK(p && a->n < 6);
	a->p[a->n++] = p;
	return p;
}

static void release(struct arrays *a)
{
	while (a->n)
		free(a->p[--a->n]);
}

static void rebuild_props(struct mqtt_props *pr, struct arrays *a)
{
	uint32_t cur = 0;
	uint16_t i = 0;

	if (pr->user_count) {
		struct mqtt_user_prop *u = hold(a, sizeof *u * pr->user_count);
		struct mqtt_user_prop extra;
		while (i < pr->user_count &&
		       mqtt_props_next_user(pr, &cur, &u[i]))
			i++;
		CHECK(i == pr->user_count);
		CHECK(!mqtt_props_next_user(pr, &cur, &extra));
		pr->user = u;
	}
	if (pr->sub_id_count) {
		uint32_t *s = hold(a, sizeof *s * pr->sub_id_count);
		cur = 0;
		i = 0;
		uint32_t extra;
		while (i < pr->sub_id_count &&
		       mqtt_props_next_sub_id(pr, &cur, &s[i]))
			i++;
		CHECK(i == pr->sub_id_count);
		CHECK(!mqtt_props_next_sub_id(pr, &cur, &extra));
		CHECK(s[0] == pr->sub_id);
		pr->sub_ids = s;
	}
}

/* Turns a decoded packet into one the encoder reproduces in full. */
static void rebuild(struct mqtt_packet *p, struct arrays *a)
{
	switch (p->type) {
	case MQTT_CONNECT:
		rebuild_props(&p->connect.props, a);
		rebuild_props(&p->connect.will_props, a);
		break;
	case MQTT_CONNACK:
		rebuild_props(&p->connack.props, a);
		break;
	case MQTT_PUBLISH:
		rebuild_props(&p->publish.props, a);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		rebuild_props(&p->ack.props, a);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		struct mqtt_subscribe *s = &p->subscribe;
		struct mqtt_sub_entry *e = hold(a, sizeof *e * s->count);
		uint32_t cur = 0;
		uint16_t i = 0;
		struct mqtt_sub_entry extra;
		while (i < s->count && mqtt_sub_next(p, &cur, &e[i]))
			i++;
		CHECK(i == s->count && s->count > 0);
		CHECK(!mqtt_sub_next(p, &cur, &extra));
		s->entries = e;
		rebuild_props(&s->props, a);
		break;
	}
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		rebuild_props(&p->suback.props, a);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		rebuild_props(&p->disconnect.props, a);
		break;
	default:
		break;
	}
}

/* Encodes p for v into a fresh buffer; *n gets its size. */
static uint8_t *encode(const struct mqtt_packet *p, uint8_t v, size_t *n)
{
	size_t size = mqtt_encode(p, v, NULL, 0);

	CHECK(size >= 2);
	uint8_t *buf = malloc(size);
	CHECK(buf);
	CHECK(mqtt_encode(p, v, buf, size) == size);
	/* One byte short: the size comes back and nothing else happens. */
	CHECK(mqtt_encode(p, v, buf, size - 1) == size);
	*n = size;
	return buf;
}

static void check_packet(struct mqtt_packet *p, uint8_t version, size_t len)
{
	/* CONNECT carries its own version; the connection's is ignored. */
	uint8_t v = p->type == MQTT_CONNECT ? p->connect.version : version;
	struct arrays a1 = {0}, a2 = {0};
	struct mqtt_packet q;
	size_t n1, n2, used;

	rebuild(p, &a1);
	uint8_t *e1 = encode(p, v, &n1);
	CHECK(n1 <= len);

	int rc = mqtt_decode(e1, n1, v, 0, &q, &used);
	CHECK(rc == 0);
	CHECK(used == n1);
	CHECK(q.type == p->type);
	for (size_t k = 0; k < n1; k += 1 + k / 4)
		CHECK(mqtt_decode(e1, k, v, 0, &q, &used) == TERN_ENEEDMORE);

	CHECK(mqtt_decode(e1, n1, v, 0, &q, &used) == 0);
	rebuild(&q, &a2);
	uint8_t *e2 = encode(&q, v, &n2);
	CHECK(n2 == n1 && memcmp(e1, e2, n1) == 0);

	if (p->type == MQTT_PUBLISH) {
		size_t total = 0;
		size_t head = mqtt_encode_publish_head(p, v, e2, n2, &total);
		CHECK(total == n1);
		CHECK(head + p->publish.payload.len == n1);
		CHECK(memcmp(e1, e2, head) == 0);
	}
	free(e2);
	free(e1);
	release(&a2);
	release(&a1);
}

static void run(const uint8_t *data, size_t size, uint8_t version,
                uint32_t max_size)
{
	size_t off = 0;

	while (off < size) {
		struct mqtt_packet p;
		size_t used = 0;
		int rc = mqtt_decode(data + off, size - off, version, max_size,
		                     &p, &used);
		if (rc != 0) {
			CHECK(rc == TERN_ENEEDMORE || rc == TERN_EMALFORMED ||
			      rc == TERN_EPROTOCOL || rc == TERN_ETOOLARGE ||
			      rc == TERN_EVERSION);
			CHECK(used == 0);
			return;
		}
		CHECK(used >= 2 && used <= size - off);
		CHECK(!max_size || used <= max_size);
		check_packet(&p, version, used);
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		run(data, size, v, 64);
		run(data, size, v, 0);
	}
	/* The UTF-8 check on raw input, for the sanitizers' sake. */
	(void)mqtt_utf8_valid(data, size);
	return 0;
}
