/*
 * bench.h - tern-bench internals, shared by the files of tests/bench/.
 *
 * tern-bench is a load generator for any MQTT 3.1.1 or 5.0 broker. main()
 * (tern_bench.c) parses the options into one struct bench_opts, lays out
 * the clients of the chosen scenario (bench_scenario.c), starts
 * opts.threads threads (bench_thread.c), each a libuv loop driving many
 * clients (bench_client.c), steps them through the phases below, then
 * joins them and prints the figures (bench_stats.c holds the latency
 * histogram and the sequence trackers, bench_proc.c reads the broker's
 * /proc entries).
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
	uint32_t count;  /* pairs (pairs), C (connections), N (retained) */
	uint32_t size;   /* payload bytes, >= BENCH_PAYLOAD_MIN */
	double duration; /* seconds measured */
	double warmup;   /* seconds before the window */
	double drain;    /* at most this many seconds waiting after STOP */
	double rate;     /* offered msg/s over all publishers; 0: unlimited */
	uint32_t inflight; /* unacknowledged QoS 1/2 messages per publisher */
	uint32_t threads;
	uint32_t connect_concurrency; /* connects in progress, all threads */
	uint16_t keepalive;
	int broker_pid; /* 0: not given */
	bool quiet;     /* no progress lines */
	char id_prefix[32];
};

/* Payload: seq (8) | send time ns (8) | publisher id (4) | run token (4). */
#define BENCH_PAYLOAD_MIN 24

/* Per-client buffer bounds. */
#define BENCH_OUT_HIGH (64 * 1024) /* stop filling `out` above this */
#define BENCH_BURST 256            /* publishes per pump call */
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
#define BENCH_HIST_BUCKETS                                                  \
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
int bench_proc_raise_nofile(uint64_t want, uint64_t *before,
			    uint64_t *after);

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
	uint64_t sent_window;   /* sent inside the measured window */
	uint64_t received;
	uint64_t unique;
	uint64_t recv_window;   /* delivered inside the window */
	uint64_t foreign;       /* PUBLISH whose payload is not ours */
	uint64_t misrouted;     /* ours, but from a publisher not expected */
	uint64_t rejected;      /* PUBACK/PUBREC with a failure reason */
	uint64_t late;          /* retained: arrived outside a round */
	uint64_t rounds;        /* retained: rounds started */
	uint64_t round_lost;    /* retained: missing when a round gave up */
	uint64_t round_dup;     /* retained: repeated inside a round */
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
	uint8_t *id_state;     /* [id_slots + 1]: 0 free, 1 sent, 2 PUBREL */
	bool running;          /* publishing (RUN, or PREPARE for retained) */
	bool prepared;         /* retained: all stored */
	bool ping_sent;        /* retained, QoS 0: PINGREQ after the last */
	double tokens;         /* fixed rate: messages owed */
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
	uint8_t granted;   /* QoS of the first SUBACK; 0xff before */
	uint16_t sub_pid;  /* id of the last SUBSCRIBE */
	uint16_t unsub_pid; /* id of the last UNSUBSCRIBE */
	/* retained rounds */
	uint64_t *seen; /* bitmap of count bits */
	uint32_t nseen;
	bool in_round;    /* SUBSCRIBE sent, messages expected */
	bool unsub_wait;  /* UNSUBSCRIBE sent */
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
	bool writing;       /* wreq in flight with `wbuf` */
	bool handle_open;   /* tcp initialised, close not yet called */
	bool connect_pending; /* counted in t->connecting */
	bool shut;          /* uv_shutdown called */
	uint16_t next_pid;  /* SUBSCRIBE/UNSUBSCRIBE ids */
	struct bench_buf out;   /* being filled */
	struct bench_buf wbuf;  /* being written */
	struct bench_buf carry; /* an incomplete packet from the last read */
	uint64_t t_start;   /* connect started, ns */
	uint64_t t_last_tx; /* last write, ns (keep-alive) */
	struct bench_pub *pub;
	struct bench_sub *sub;
};

struct bench_thread {
	struct bench *b;
	uint32_t index;
	uv_thread_t tid;
	bool started;       /* tid is running (or ran) thread_main */
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	uv_timer_t rate;
	int phase;          /* the last phase acted on */
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
	char run_tag[16];  /* topics are tb/<run_tag>/... */
	uint32_t token;    /* run token in every payload */
	uint32_t nclients;
	uint32_t npublishers;
	_Atomic int phase; /* enum bench_phase; main writes, threads read */
	/* Written by main before it stores BENCH_RUN (release). */
	uint64_t run_start;
	uint64_t win_start;
	uint64_t win_end;
	struct bench_thread *threads;
};

/* ------------------------------------------------------------ threads */

/*
 * Sets up thread t (its loop, handles and clients) on the calling thread,
 * before bench_thread_start(). Returns 0 or a negative tern_err; on error
 * nothing is left to free.
 */
int bench_thread_init(struct bench *b, struct bench_thread *t,
		      uint32_t index);
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

/* Prepares client c (no I/O yet). 0 or TERN_ENOMEM (nothing to free). */
int bench_client_init(struct bench_client *c, struct bench_thread *t,
		      uint32_t index);
/* Frees what bench_client_init allocated. The handle must be closed. */
void bench_client_free(struct bench_client *c);
/* Starts the TCP connect. 0, or a negative tern_err (client failed). */
int bench_client_connect(struct bench_client *c);
/* Publishers: start or stop publishing (RUN / STOP / PREPARE). */
void bench_client_pub_start(struct bench_client *c);
void bench_client_pub_stop(struct bench_client *c);
/* Publishes what the fixed rate owes since the last call. */
void bench_client_pub_rate(struct bench_client *c, double dt_s);
/* Retained subscribers: start the first round (RUN). */
void bench_client_round_start(struct bench_client *c);
/* Periodic duties: keep-alive, retained round stalls. */
void bench_client_tick(struct bench_client *c, uint64_t now);
/* Sends DISCONNECT and shuts down; closes the handle afterwards. */
void bench_client_finish(struct bench_client *c);
/* Closes the handle now (after finish took too long, or on error). */
void bench_client_close(struct bench_client *c);

/* Monotonic clock, ns (uv_hrtime: CLOCK_MONOTONIC). */
static inline uint64_t bench_now(void)
{
	return uv_hrtime();
}

#endif
