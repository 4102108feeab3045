/*
 * persist_int.h - private to persist*.c: a byte buffer, the serialized
 * forms of messages, sessions and entries (format version 1), and helpers
 * shared by the batch, codec and recovery files.
 */
#ifndef TERN_PERSIST_INT_H
#define TERN_PERSIST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ack_token;
struct delivery;
struct msg;
struct session;
struct worker;

struct pbuf {
	uint8_t *data;
	size_t len, cap;
};

int pbuf_put(struct pbuf *b, const void *p, size_t n);
void pbuf_free(struct pbuf *b);

/* Wall clock in ms (stored times survive restarts; the monotonic clock
 * does not). */
uint64_t persist_wall_ms(void);

/* Appends the serialized form; 0 or TERN_ENOMEM. */
int persist_encode_msg(struct pbuf *b, const struct msg *m, uint64_t now_mono,
		       uint64_t now_wall);
int persist_encode_session(struct pbuf *b, const struct session *s,
			   uint64_t now_mono);
int persist_encode_entry(struct pbuf *b, const struct delivery *d);

/*
 * Decoders: NULL / negative on malformed input (a corrupt store is logged
 * and skipped, never trusted).
 */
struct msg *persist_decode_msg(const void *p, size_t len, uint64_t now_mono,
			       uint64_t now_wall);

struct persist_entry {
	uint8_t qos, state;
	bool retain;
	uint16_t pid;
	uint8_t n_sub_ids;
	uint32_t sub_ids[8];
};
int persist_decode_entry(const void *p, size_t len, struct persist_entry *e);

/* A bounds-checked reader: any short read sets bad and returns zeros. */
struct prd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

uint8_t prd_u8(struct prd *r);
uint16_t prd_u16(struct prd *r);
uint32_t prd_u32(struct prd *r);
uint64_t prd_u64(struct prd *r);
/* Returns a pointer to n bytes in the input, or NULL (bad). */
const uint8_t *prd_bytes(struct prd *r, size_t n);

int pbuf_u8(struct pbuf *b, uint8_t v);
int pbuf_u16(struct pbuf *b, uint16_t v);
int pbuf_u32(struct pbuf *b, uint32_t v);
int pbuf_u64(struct pbuf *b, uint64_t v);

/* Adds an already shared token to w's batch (persist.c). */
void ack_token_wait(struct worker *w, struct ack_token *t);

/* Frees w's batch (worker shutdown). */
void persist_batch_free(struct worker *w);

#endif
