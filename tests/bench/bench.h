/*
 * bench.h - tern-bench internals, shared by the files of tests/bench/.
 *
 * tern-bench is a load generator for any MQTT 3.1.1 or 5.0 broker. main()
 * (tern_bench.c) parses the options (bench_opts.c) into one struct
 * bench_opts, lays out the clients of the chosen scenario
 * (bench_scenario.c), starts opts.threads threads (bench_thread.c), each a
 * libuv loop driving many clients (bench_client.c: the connection;
 * bench_pub.c and bench_sub.c: publishing and receiving), steps them
 * through the phases below, then joins them and prints the figures
 * (bench_report.c). bench_hist.c is the latency histogram, bench_seq.c the
 * loss/duplicate tracker, bench_proc.c reads the broker's /proc entries.
 *
 * Threads share nothing mutable with main but:
 *  - struct bench's `phase` (written by main, read by the threads), and
 *    the window times that main writes before it publishes BENCH_RUN;
 *  - each thread's struct bench_live (written by its thread, read by main).
 * Everything else of a thread (its clients, counters, histogram) is touched
 * only by that thread until main has joined it.
 *
 * Phases (main moves forward only; every thread follows on its wake-up):
 *   SETUP    clients connect, subscribers subscribe;
 *   PREPARE  retained scenario only: the publisher stores the messages;
 *   RUN      publishers publish (warm-up, then the measured window);
 *   STOP     publishers stop; in-flight messages drain;
 *   FINISH   clients send DISCONNECT and close; the loops end.
 */
#ifndef TERN_BENCH_H
#define TERN_BENCH_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "mqtt.h"

/* ------------------------------------------------------------ options */

enum bench_scenario {
	BENCH_FANIN,       /* P publishers -> S wildcard subscribers (S=1) */
	BENCH_FANOUT,      /* P publishers (P=1) -> S subscribers, one topic */
	BENCH_PAIRS,       /* N publisher/subscriber pairs, distinct topics */
	BENCH_CONNECTIONS, /* C idle clients */
	BENCH_RETAINED,    /* N retained topics, then wildcard subscribes */
	BENCH_SCENARIO_COUNT,
};

struct bench_opts {
	enum bench_scenario scenario;
	char host[256];
	uint16_t port;
	uint8_t version; /* MQTT_V311 or MQTT_V5 */
	uint8_t qos;
	uint32_t publishers;
	uint32_t subscribers;
	uint32_t count;    /* pairs (pairs), C (connections), N (retained) */
	uint32_t size;     /* payload bytes, >= BENCH_PAYLOAD_MIN */
	double duration;   /* seconds measured */
	double warmup;     /* seconds before the window */
	double drain;      /* at most this many seconds waiting after STOP */
	double rate;       /* offered msg/s over all publishers; 0: unlimited */
	uint32_t inflight; /* unacknowledged QoS 1/2 messages per publisher */
	uint32_t threads;
	uint32_t connect_concurrency; /* connects in progress, all threads */
	uint16_t keepalive;
	int broker_pid;  /* 0: not given */
	bool quiet;      /* no progress lines */
	bool persistent; /* subscribers keep their session (clean 0) */
	char id_prefix[32];
};

/* Payload: seq (8) | send time ns (8) | publisher id (4) | run token (4). */
#define BENCH_PAYLOAD_MIN 24

/* Per-client buffer bounds. */
#define BENCH_OUT_HIGH (64 * 1024) /* stop filling `out` above this */
#define BENCH_BURST    256         /* publishes per pump call */
#define BENCH_READ_BUF (64 * 1024) /* the thread's shared read buffer */

/* ------------------------------------------------------------ stats */

/*
 * Latency histogram, HDR-style: values in nanoseconds, log2 buckets each
 * split into 64 linear sub-buckets (relative error under 1.6 %), from 1 ns
 * to 2^37 ns (137 s; larger values land in the last bucket). Fixed size,
 * no allocation.
 */
#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_MAX_LOG2 37
#define BENCH_HIST_BUCKETS                                                     \
	((BENCH_HIST_MAX_LOG2 - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* The value at percentile pct (0..100], in ns; 0 if the histogram is empty.
 * Reports the top of the bucket, never more than the maximum seen. */
uint64_t bench_hist_pct(const struct bench_hist *h, double pct);

/*
 * Receive tracker for the messages of one publisher at one subscriber:
 * every sequence number below `next` has arrived; `bits` records arrivals
 * in [next, next + BENCH_SEQ_WINDOW). A number more than a window ahead
 * gives up on the oldest gaps (those messages count as lost unless they
 * come later, when they count as duplicates: MQTT keeps per-topic order,
 * so that takes a broker bug).
 */
#define BENCH_SEQ_WINDOW 1024

struct bench_seq {
	uint64_t next;
	uint64_t unique;
	uint64_t dup;
	uint64_t bits[BENCH_SEQ_WINDOW / 64];
};

/* Records seq; returns true if it is new, false for a duplicate. */
bool bench_seq_add(struct bench_seq *s, uint64_t seq);

/* ------------------------------------------------------------ /proc */

/* utime + stime of pid in clock ticks. 0 or -errno. */
int bench_proc_cpu_ticks(int pid, uint64_t *ticks);
/* VmRSS of pid in kB. 0 or -errno. */
int bench_proc_rss_kb(int pid, uint64_t *kb);
/* Clock ticks per second (for bench_proc_cpu_ticks). */
long bench_proc_clk_tck(void);
/*
 * Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
 * Sets *before and *after to the soft limit before and after. Returns 0,
 * or -EMFILE if the hard limit is below `want`.
 */
int bench_proc_raise_nofile(uint64_t want, uint64_t *before, uint64_t *after);

/* ------------------------------------------------------------ layout */

enum bench_role {
	BENCH_ROLE_PUB,
	BENCH_ROLE_SUB,
	BENCH_ROLE_IDLE,
};

#define BENCH_TOPIC_MAX 96

/* What one client does; bench_scenario_plan() fills it. */
struct bench_plan {
	enum bench_role role;
	uint32_t pub_id;      /* PUB: global publisher number */
	uint32_t track_base;  /* SUB: first publisher id it receives */
	uint32_t track_count; /* SUB: how many publishers (0: retained) */
	char topic[BENCH_TOPIC_MAX]; /* PUB: topic (prefix if retained);
	                                SUB: filter */
};

const char *bench_scenario_name(enum bench_scenario s);
/* Parses a scenario name; returns 0 or TERN_EINVAL. */
int bench_scenario_parse(const char *name, enum bench_scenario *out);
/* One line per scenario for --help. */
const char *bench_scenario_help(void);
/* Fills in the scenario's defaults for options left at 0. */
void bench_scenario_defaults(struct bench_opts *o);
/* Number of clients and of publishers of the run. */
uint32_t bench_scenario_clients(const struct bench_opts *o);
uint32_t bench_scenario_publishers(const struct bench_opts *o);
/* How many subscribers receive each message (fan-out factor). */
uint32_t bench_scenario_fan(const struct bench_opts *o);
/* The plan of client number i (0 <= i < bench_scenario_clients()). */
void bench_scenario_plan(const struct bench_opts *o, const char *run_tag,
                         uint32_t i, struct bench_plan *out);

/* ------------------------------------------------------------ the run */

enum bench_phase {
	BENCH_SETUP,
	BENCH_PREPARE,
	BENCH_RUN,
	BENCH_STOP,
	BENCH_FINISH,
};

struct bench;
struct bench_thread;

/* Figures a thread publishes for main, updated every tick (100 ms) and on
 * phase changes. Written by the thread only. */
struct bench_live {
	_Atomic uint64_t sent;     /* publishes written */
	_Atomic uint64_t received; /* deliveries, duplicates included */
	_Atomic uint64_t unique;   /* deliveries, duplicates excluded */
	_Atomic uint32_t ready;    /* clients connected (and subscribed) */
	_Atomic uint32_t prepared; /* retained publishers done storing */
	_Atomic uint32_t stopped;  /* 1 once the thread saw BENCH_STOP */
	_Atomic uint32_t busy;     /* retained subscribers mid-round */
	_Atomic uint32_t failed;   /* 1 once `err` is set */
};

/* Counters owned by one thread; main sums them after the join. */
struct bench_counts {
	uint64_t sent;
	uint64_t sent_window; /* sent inside the measured window */
	uint64_t received;
	uint64_t unique;
	uint64_t recv_window;    /* delivered inside the window */
	uint64_t foreign;        /* PUBLISH whose payload is not ours */
	uint64_t misrouted;      /* ours, but from a publisher not expected */
	uint64_t rejected;       /* PUBACK/PUBREC with a failure reason */
	uint64_t late;           /* retained: arrived outside a round */
	uint64_t rounds;         /* retained: rounds started */
	uint64_t round_lost;     /* retained: missing when a round gave up */
	uint64_t round_dup;      /* retained: repeated inside a round */
	uint64_t qos_downgraded; /* subscriptions granted a lower QoS */
};

struct bench_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

enum bench_cstate {
	BENCH_C_IDLE = 0,   /* not started */
	BENCH_C_CONNECTING, /* TCP connect in progress */
	BENCH_C_CONNACK,    /* CONNECT sent */
	BENCH_C_SUBACK,     /* SUBSCRIBE sent (setup) */
	BENCH_C_READY,      /* set up */
	BENCH_C_CLOSING,    /* DISCONNECT queued, shutting down */
	BENCH_C_CLOSED,     /* handle closed (or never opened) */
};

/* Publisher state (role PUB). */
struct bench_pub {
	uint32_t id;
	uint64_t seq;          /* next sequence number = messages sent */
	uint32_t inflight;     /* QoS 1/2 not yet completed */
	uint32_t inflight_max; /* min(--inflight, broker's Receive Maximum) */
	uint32_t id_slots;     /* packet ids used: 1..id_slots */
	uint16_t next_id;
	uint8_t *id_state; /* [id_slots + 1]: 0 free, 1 sent, 2 PUBREL */
	bool running;      /* publishing (RUN, or PREPARE for retained) */
	bool prepared;     /* retained: all stored */
	bool ping_sent;    /* retained, QoS 0: PINGREQ after the last;
	                      prepared once every ping is answered */
	double tokens;     /* fixed rate: messages owed */
	/* PUBLISH head template (non-retained): packet id at id_off */
	uint8_t head[BENCH_TOPIC_MAX + 16];
	size_t head_len;
	size_t id_off;
	uint8_t *padding; /* the payload after its 24-byte header */
};

/* Subscriber state (role SUB). */
struct bench_sub {
	uint32_t track_base;
	uint32_t track_count;
	struct bench_seq *track; /* [track_count] */
	uint8_t granted;         /* QoS of the first SUBACK; 0xff before */
	uint16_t sub_pid;        /* id of the last SUBSCRIBE */
	uint16_t unsub_pid;      /* id of the last UNSUBSCRIBE */
	/* retained rounds */
	uint64_t *seen; /* bitmap of count bits */
	uint32_t nseen;
	bool in_round;   /* SUBSCRIBE sent, messages expected */
	bool unsub_wait; /* UNSUBSCRIBE sent */
	uint64_t round_start;
	uint64_t last_rx;
};

struct bench_client {
	uv_tcp_t tcp; /* first: the handle's data points at the client */
	uv_connect_t creq;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct bench_thread *t;
	struct bench_plan plan;
	uint32_t index; /* global client number */
	enum bench_cstate state;
	bool writing;           /* wreq in flight with `wbuf` */
	bool handle_open;       /* tcp initialised, close not yet called */
	bool connect_pending;   /* counted in t->connecting */
	bool shut;              /* uv_shutdown called */
	uint16_t next_pid;      /* SUBSCRIBE/UNSUBSCRIBE ids */
	uint16_t keepalive;     /* ours, or the broker's Server Keep Alive */
	uint32_t pings_out;     /* PINGREQs not answered yet */
	struct bench_buf out;   /* being filled */
	struct bench_buf wbuf;  /* being written */
	struct bench_buf carry; /* an incomplete packet from the last read */
	uint64_t t_start;       /* connect started, ns */
	uint64_t t_last_tx;     /* last write, ns (keep-alive) */
	struct bench_pub *pub;
	struct bench_sub *sub;
};

struct bench_thread {
	struct bench *b;
	uint32_t index;
	uv_thread_t tid;
	bool started; /* tid is running (or ran) thread_main */
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	uv_timer_t rate;
	int phase; /* the last phase acted on */
	struct bench_client *clients;
	uint32_t nclients;
	struct bench_client **pubs; /* the publishers among clients */
	uint32_t npubs;
	uint64_t win_start; /* copies of b->win_*, taken at BENCH_RUN */
	uint64_t win_end;
	uint32_t next_connect; /* next client to start connecting */
	uint32_t connecting;   /* connects in progress */
	uint32_t max_connecting;
	uint32_t ready;
	uint32_t open;          /* client handles not yet closed */
	uint32_t npub_retained; /* retained publishers on this thread */
	uint32_t nprepared;
	uint64_t finish_start;
	uint64_t last_ping_scan;
	uint64_t last_rate;
	uint8_t *rbuf; /* BENCH_READ_BUF bytes shared by the clients' reads */
	struct bench_counts c;
	struct bench_hist hist;      /* message latency, in the window */
	struct bench_hist conn_hist; /* CONNECT -> CONNACK, every client */
	struct bench_live live;
	char err[256];
};

struct bench {
	struct bench_opts o;
	struct sockaddr_storage addr;
	char run_tag[16]; /* topics are tb/<run_tag>/... */
	uint32_t token;   /* run token in every payload */
	uint32_t nclients;
	uint32_t npublishers;
	_Atomic int phase; /* enum bench_phase; main writes, threads read */
	/* Written by main before it stores BENCH_RUN (release). */
	uint64_t run_start;
	uint64_t win_start;
	uint64_t win_end;
	struct bench_thread *threads;
};

/* Samples main takes during the run, for the report. */
struct bench_samples {
	uint64_t t0;            /* start */
	uint64_t connected_at;  /* every client ready */
	bool broker_ok;         /* --pid given and the process readable */
	uint64_t rss_base_kb;   /* broker, before the clients connect */
	uint64_t rss_end_kb;    /* broker, at the end of the window */
	uint64_t rss_max_kb;    /* broker, largest seen during RUN */
	uint64_t cpu_win_start; /* broker CPU ticks at the window's ends */
	uint64_t cpu_win_end;
	uint64_t self_cpu_start; /* tern-bench's own */
	uint64_t self_cpu_end;
	const char *drain_end; /* "complete", "stall" or "timeout" */
};

/* ------------------------------------------------------------ main */

/* --help text. */
void bench_opts_usage(FILE *out);
/*
 * Parses the command line into *o (defaults applied). Returns 0 to run,
 * 1 when it printed --help or --version, < 0 after printing why the
 * command line is bad.
 */
int bench_opts_parse(int argc, char **argv, struct bench_opts *o);
/*
 * Prints the key=value line of a finished run (threads joined, nothing
 * freed yet) and its warnings. Returns 1 if QoS 1/2 messages were lost or
 * QoS 2 ones duplicated, 0 if not, TERN_ENOMEM.
 */
int bench_report(const struct bench *b, const struct bench_samples *s);

/* ------------------------------------------------------------ threads */

/*
 * Sets up thread t (its loop, handles and clients) on the calling thread,
 * before bench_thread_start(). Returns 0 or a negative tern_err; on error
 * nothing is left to free.
 */
int bench_thread_init(struct bench *b, struct bench_thread *t, uint32_t index);
/* Starts the thread; it runs until every handle is closed (FINISH). */
int bench_thread_start(struct bench_thread *t);
/* Tells the thread that b->phase changed. Any thread; until FINISH. */
void bench_thread_wake(struct bench_thread *t);
/* Waits for the thread to end and closes its loop. A thread that was
 * never started runs its FINISH here (main must have published it). */
void bench_thread_join(struct bench_thread *t);
/* Frees the clients of a joined (or never started) thread. */
void bench_thread_free(struct bench_thread *t);
/* Stops thread t's whole run with a message (first one wins). Loop thread. */
void bench_thread_fail(struct bench_thread *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copies the thread's counters into t->live. Loop thread. */
void bench_thread_publish_live(struct bench_thread *t);
/* A client finished its setup / its retained preparation. Loop thread. */
void bench_thread_client_ready(struct bench_thread *t);
void bench_thread_client_prepared(struct bench_thread *t);
/* Starts more connects while under the concurrency bound. Loop thread. */
void bench_thread_connect_more(struct bench_thread *t);
/* A client's handle is closed. Loop thread. */
void bench_thread_client_closed(struct bench_thread *t);

/* ------------------------------------------------------------ clients */

/*
 * Prepares client c for its plan (no I/O yet). 0, or TERN_ENOMEM /
 * TERN_EINVAL with nothing left to free.
 */
int bench_client_init(struct bench_client *c, struct bench_thread *t,
                      uint32_t index);
/* Frees what bench_client_init allocated. The handle must be closed. */
void bench_client_free(struct bench_client *c);
/* Starts the TCP connect. 0, or a negative tern_err (client failed). */
int bench_client_connect(struct bench_client *c);
/* Periodic duties (once a second): keep-alive, retained round stalls. */
void bench_client_tick(struct bench_client *c, uint64_t now);
/* Sends DISCONNECT and shuts down; closes the handle afterwards. */
void bench_client_finish(struct bench_client *c);
/* Closes the handle now (after finish took too long, or on error). */
void bench_client_close(struct bench_client *c);

/*
 * For bench_pub.c and bench_sub.c. The send functions encode a packet at
 * the end of c->out (bench_client_reserve makes room for n bytes there);
 * bench_client_flush starts writing it unless a write is in flight, whose
 * completion flushes again. bench_client_fail reports an error for the
 * whole run (unless it is ending anyway) and closes the client. All return
 * 0, or < 0 once the client has failed.
 */
int bench_client_fail(struct bench_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int bench_client_reserve(struct bench_client *c, size_t n);
int bench_client_send(struct bench_client *c, const struct mqtt_packet *pkt);
int bench_client_send_simple(struct bench_client *c, uint8_t type);
int bench_client_send_ack(struct bench_client *c, uint8_t type, uint16_t id);
/* SUBSCRIBE or UNSUBSCRIBE of the plan's filter; its id goes to *pid. */
int bench_client_send_subscribe(struct bench_client *c, uint8_t type,
                                uint16_t *pid);
void bench_client_flush(struct bench_client *c);

/* ------------------------------------------------------------ publishers */

/* Allocates c->pub for a publisher plan. 0 or < 0 (nothing left). */
int bench_pub_init(struct bench_client *c);
void bench_pub_free(struct bench_client *c);
/* Start or stop publishing (RUN and STOP; PREPARE for retained). No-ops
 * for clients that do not publish. */
void bench_pub_start(struct bench_client *c);
void bench_pub_stop(struct bench_client *c);
/* Unlimited: publishes a burst if the window and `out` have room; the
 * caller flushes. */
void bench_pub_pump(struct bench_client *c);
/* Fixed rate: publishes what the rate owes for dt_s seconds, flushes. */
void bench_pub_rate(struct bench_client *c, double dt_s);
/* PUBACK, PUBREC or PUBCOMP for this publisher. */
int bench_pub_on_ack(struct bench_client *c, uint8_t type,
                     const struct mqtt_ack *ack);
/* A PINGRESP arrived (c->pings_out already counts it off). */
void bench_pub_on_pingresp(struct bench_client *c);
/* Retained: queues the empty retained messages deleting what it stored. */
int bench_pub_clear_retained(struct bench_client *c);

/* ------------------------------------------------------------ subscribers */

/* Allocates c->sub for a subscriber plan. 0 or < 0 (nothing left). */
int bench_sub_init(struct bench_client *c);
void bench_sub_free(struct bench_client *c);
/* A PUBLISH from the broker: acknowledges and counts it. */
int bench_sub_on_publish(struct bench_client *c, const struct mqtt_publish *pb);
/* Retained rounds: the first one (RUN), UNSUBACK (the next one), the
 * stall check, and FINISH (an unfinished round counts as lost). */
void bench_sub_round_start(struct bench_client *c);
int bench_sub_on_unsuback(struct bench_client *c, uint16_t id);
void bench_sub_tick(struct bench_client *c, uint64_t now);
void bench_sub_finish(struct bench_client *c);

/* Payload fields, little-endian. */
static inline void bench_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void bench_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t bench_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint32_t bench_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Monotonic clock, ns (uv_hrtime: CLOCK_MONOTONIC). */
static inline uint64_t bench_now(void)
{
	return uv_hrtime();
}

#endif
