/*
 * admin_int.h - private to the admin HTTP server (node/admin*.c).
 *
 * Everything here runs on the control loop, except the worker half of a job
 * (admin_work_fn), which runs on a worker loop through worker_call() and
 * touches only that worker's state and its own struct admin_task.
 *
 *   admin.c          start/stop, the listen address, worker jobs
 *   admin_http.c     connections, request parsing, responses, timeouts
 *   admin_api.c      routing, authentication, status/listeners/retained
 *   admin_clients.c  clients and subscriptions (worker jobs), kick
 *   admin_metrics.c  /metrics, /healthz, /readyz
 *   admin_buf.c      a growable byte buffer
 */
#ifndef TERN_ADMIN_INT_H
#define TERN_ADMIN_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "mpsc.h"

struct tern_node;
struct worker;
struct admin_job;
struct oauth_work;
struct users_work;

#define ADMIN_MAX_REQUEST (64 * 1024) /* header + body bytes */
#define ADMIN_MAX_CONNS   64          /* open admin connections */
#define ADMIN_IDLE_MS     30000       /* keep-alive without a request */
#define ADMIN_REQUEST_MS  10000       /* to receive a whole request */
#define ADMIN_JOB_MS      10000       /* for the workers to answer */
#define ADMIN_WRITE_MS    30000       /* for a response to be taken */
#define ADMIN_STOP_MS     2000        /* admin_stop's wait for workers */
#define ADMIN_AUTH_MAX    4096        /* Authorization header bytes (a
                                       * Basic id and secret, escaped) */

/* ---- admin_buf.c: growable buffer ---------------------------------- */

struct admin_buf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed; the content is incomplete */
};

void admin_buf_append(struct admin_buf *b, const void *data, size_t len);
void admin_buf_puts(struct admin_buf *b, const char *s);
void admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void admin_buf_free(struct admin_buf *b);

/* ---- the server ---------------------------------------------------- */

struct admin_listener {
	char url[320];  /* with the bound port, e.g. mqtt://127.0.0.1:1883 */
	char scheme[8]; /* mqtt, mqtts, ws, wss */
};

struct admin {
	struct tern_node *n;
	uv_loop_t *loop;
	uv_tcp_t server;
	uv_async_t async;     /* workers' answers are waiting in `done` */
	uv_timer_t sweep;     /* 1 s: timeouts */
	struct mpsc done;     /* struct admin_task, pushed by workers */
	unsigned handles;     /* open handles (server, async, sweep, conns) */
	unsigned outstanding; /* tasks posted and not back yet */
	struct admin_conn *conns;
	unsigned n_conns;
	bool stopping;
	bool api_open; /* /api/v1 served without a token */
	char url[200]; /* http://HOST:PORT actually bound */
	char node_id[80];
	struct admin_listener listeners[TERN_MAX_LISTENERS];
	unsigned n_listeners;
	char rbuf[16384]; /* read buffer shared by the connections */
};

/* ---- admin_http.c: one admin connection ---------------------------- */

enum admin_conn_state {
	ADMIN_CONN_IDLE = 0, /* waiting for the first byte of a request */
	ADMIN_CONN_READING,  /* part of a request is in */
	ADMIN_CONN_BUSY,     /* request complete: answering */
	ADMIN_CONN_CLOSING,
};

struct admin_req {
	unsigned method;      /* enum http_method */
	struct admin_buf url; /* as received, NUL-terminated once complete */
	char auth[ADMIN_AUTH_MAX + 1];
	size_t auth_len;
	bool auth_too_long;
	bool keepalive;
	int header;     /* header whose value is being read */
	char hname[32]; /* header name being read (lower case) */
	size_t hname_len;
	bool in_value;
	size_t bytes; /* of this request so far */
	bool too_large;
	bool complete;
	struct admin_buf body; /* NUL-terminated when complete */
	char ctype[80];        /* Content-Type, truncated */
	size_t ctype_len;
	/* parsed from url by admin_api */
	const char *path;  /* into url.p, NUL-terminated */
	const char *query; /* into url.p, NUL-terminated, or "" */
};

struct admin_conn {
	uv_tcp_t tcp; /* data = this */
	struct admin *a;
	struct admin_conn *prev, *next;
	http_parser parser;
	struct admin_req req;
	uint8_t state;
	bool reading;
	bool close_after; /* answer with Connection: close, then close */
	uint64_t since;   /* ms: start of the current state */
	uint8_t *pend;    /* bytes read past the current request */
	size_t pend_len;
	struct admin_job *job; /* the request waits for workers */
	struct oauth_work *oauth; /* a token request in the thread pool */
	struct users_work *users; /* a password hash in the thread pool */
	uv_write_t wreq;
	char *wbuf;
};

/* Accepts a connection on a's server (on_connection callback). */
void admin_http_on_connection(uv_stream_t *server, int status);

/* Closes c (idempotent); its job, if any, is detached. */
void admin_http_close(struct admin_conn *c);

/* Timeouts of every connection (sweep timer). */
void admin_http_sweep(struct admin *a, uint64_t now);

/*
 * Answers the current request of c. body (may be NULL if len is 0) is
 * copied. extra_headers: NULL or lines each ending in "\r\n".
 */
void admin_http_reply(struct admin_conn *c, int status, const char *ctype,
                      const char *extra_headers, const void *body, size_t len);

/* Answers with j (taken) as JSON. */
void admin_http_reply_json(struct admin_conn *c, int status, json_t *j);

/* Answers {"error": message}. */
void admin_http_error(struct admin_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers 405 with an Allow header ("GET, HEAD"). */
void admin_http_not_allowed(struct admin_conn *c, const char *allow);

/* ---- admin.c: jobs on the workers ---------------------------------- */

/* One worker's share of a job. Written by that worker only, then handed
 * back through a->done; read by the control loop after that. */
struct admin_task {
	struct mpsc_node node;
	struct admin_job *job;
	uint32_t worker;
	json_t *out;  /* what the worker found (new reference) or NULL */
	size_t total; /* matches before a limit cut the list */
	int status;   /* 0, or an HTTP status (404: not found) */
};

/* Runs on worker w (its loop thread): fill t->out, t->total, t->status. */
typedef void (*admin_work_fn)(struct worker *w, struct admin_task *t);
/* Runs on the control loop once every task is back (conn may be NULL). */
typedef void (*admin_done_fn)(struct admin_job *j, struct admin_conn *c);

struct admin_job {
	struct admin *a;
	struct admin_conn *conn; /* NULL once the connection went away */
	admin_work_fn work;
	admin_done_fn done;
	uint64_t started; /* ms */
	unsigned waiting; /* tasks not back yet */
	unsigned n_tasks;
	bool failed; /* a task could not be posted */
	/* request parameters: read-only while tasks run */
	char *id; /* client id, or NULL */
	size_t id_len;
	char *filter; /* substring or topic filter, or NULL */
	size_t filter_len;
	size_t offset, limit;
	bool discard;
	struct admin_task tasks[];
};

/*
 * A job for connection c with parameters to fill in, then admin_job_run.
 * Returns NULL on ENOMEM.
 */
struct admin_job *admin_job_new(struct admin_conn *c, unsigned n_tasks);

/*
 * Posts the job: to every worker (n_tasks == n_workers) or to worker `to`
 * (n_tasks == 1). The job is owned by the admin from here; c->job points
 * to it until it is done. Returns 0 or TERN_ENOMEM (the job is freed).
 */
int admin_job_run(struct admin_job *j, uint32_t to, admin_work_fn work,
                  admin_done_fn done);

/* Drops a string copy into the job (freed with it). NULL on ENOMEM. */
char *admin_job_strdup(const char *s, size_t len);

/* ---- admin_api.c --------------------------------------------------- */

/* Handles the complete request of c (routing, auth). */
void admin_api_handle(struct admin_conn *c);

/*
 * Decodes %XX (and '+' as a space when plus is true) from s[0..len) into
 * out (cap bytes incl. NUL). Returns the length or -1 (bad escape, too long,
 * or a NUL byte).
 */
long admin_api_unescape(const char *s, size_t len, char *out, size_t cap,
                        bool plus);

/* Value of query parameter `name` decoded into out; false if absent. */
bool admin_api_query(const char *query, const char *name, char *out,
                     size_t cap);

/*
 * Reads ?limit= (default 1000, at most 100000) and ?offset= (default 0).
 * Answers 400 and returns false on a bad value.
 */
bool admin_api_paging(struct admin_conn *c, size_t *offset, size_t *limit);

/* ---- admin_clients.c ----------------------------------------------- */

void admin_clients_list(struct admin_conn *c);
void admin_clients_show(struct admin_conn *c, const char *id, size_t len);
void admin_clients_kick(struct admin_conn *c, const char *id, size_t len);
void admin_clients_subscriptions(struct admin_conn *c);

/* ---- admin_metrics.c ----------------------------------------------- */

void admin_metrics_serve(struct admin_conn *c);
void admin_metrics_healthz(struct admin_conn *c);
void admin_metrics_readyz(struct admin_conn *c);

/* Sum of one worker_stats field over the node's workers. */
#define ADMIN_SUM(n, field)                                                    \
	({                                                                     \
		uint64_t s_ = 0;                                               \
		for (uint32_t i_ = 0; i_ < (n)->n_workers; i_++)               \
			s_ += stat_get(&(n)->workers[i_].stats.field);         \
		s_;                                                            \
	})

/* Seconds since start; the node's connections etc. for status. */
uint64_t admin_metrics_uptime(const struct tern_node *n);

#endif
