/*
 * retain_stream.h - sends the retained messages that match new
 * subscriptions, paced by the connection, so that a wildcard subscribe
 * over many of them never holds them all in memory.
 *
 * Each subscription that asks for its retained messages queues a scan on
 * its connection (conn->retained: a FIFO, served in order, each scan once).
 * The head scan reads a chunk (retain_chunk: at most RETAIN_CHUNK_MSGS
 * messages or about RETAIN_CHUNK_BYTES from the store), hands its messages
 * to the session only while the session would send them at once (nothing
 * queued, the socket keeping up, room in the client's receive maximum),
 * and reads the next chunk, after the last topic read, once everything
 * written before has reached the kernel. conn.c calls
 * retain_stream_on_drained when a write completes and after input was
 * handled (a PUBACK opens the window), and always completes writes with a
 * callback while a stream is pending.
 *
 * Messages retained or deleted meanwhile are sent as they are when the scan
 * reaches them. A connection that closes drops what was not sent (a later
 * session resumes without it). Worker thread of the connection only.
 */
#ifndef TERN_RETAIN_STREAM_H
#define TERN_RETAIN_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct retain_stream;

/*
 * Queues the retained messages matching filter[0..len) (copied) for c's
 * session, at most at QoS `granted` with subscription identifier sub_id (0:
 * none), and sends what can go now. A scan of the same filter, QoS and
 * identifier that has not started yet is not queued twice. Returns 0 or
 * TERN_ENOMEM (nothing queued).
 */
int retain_stream_add(struct conn *c, const char *filter, size_t len,
		      uint8_t granted, uint32_t sub_id);

/* UNSUBSCRIBE of filter: its scans stop (what was handed over stays). */
void retain_stream_cancel(struct conn *c, const char *filter, size_t len);

/* c's output drained or its session made room: sends what can go. */
void retain_stream_on_drained(struct conn *c);

/* c is closing: frees its scans and chunk. NULL stream is fine. */
void retain_stream_free(struct conn *c);

#endif
