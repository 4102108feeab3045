/*
 * tern_bench.c - main() of tern-bench: options, the run's phases, the
 * progress lines and the final report.
 *
 * main owns struct bench and the threads' array; it never touches a
 * thread's clients before the join, only the atomics of struct bench_live.
 * It sleeps in 20 ms steps, and at each step checks for a failed thread,
 * the condition it waits for, and whether a progress line is due.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define NS_PER_S UINT64_C(1000000000)
#define STEP_NS (20 * UINT64_C(1000000))
#define SETUP_STALL_NS (10 * NS_PER_S) /* setup fails after no progress */
#define DRAIN_STALL_NS (2 * NS_PER_S)  /* drain ends after no progress */

enum main_exit {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_LOSS = 3, /* QoS 1/2 lost messages, or QoS 2 duplicates */
};

/* ------------------------------------------------------------ options */

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: tern-bench [options] SCENARIO\n"
		"\n"
		"Load generator for MQTT 3.1.1 / 5.0 brokers. Prints a progress "
		"line a second on\nstderr and one key=value line of results on "
		"stdout.\n"
		"\n"
		"scenarios (defaults in parentheses):\n%s"
		"\n"
		"options:\n"
		"  -H, --host HOST          broker address (127.0.0.1)\n"
		"  -p, --port PORT          broker port (1883)\n"
		"  -V, --mqtt-version 4|5   protocol: 4 = 3.1.1, 5 = 5.0 (4)\n"
		"  -q, --qos 0|1|2          QoS of publishes and "
		"subscriptions (0)\n"
		"  -c, --count N            the scenario's main number (see "
		"above)\n"
		"      --publishers N       publishers (fanout)\n"
		"      --subscribers N      subscribers (fanin, retained)\n"
		"  -m, --size BYTES         payload size, >= %d (64)\n"
		"  -d, --duration SEC       measured window (5)\n"
		"  -w, --warmup SEC         load before the window, not "
		"measured (1)\n"
		"      --drain SEC          at most this long waiting for "
		"messages in flight\n"
		"                           after the window (10)\n"
		"  -r, --rate MSG/S         offered rate over all publishers; "
		"0 = unlimited (0)\n"
		"  -i, --inflight N         unacknowledged QoS 1/2 messages "
		"per publisher (64)\n"
		"  -t, --threads N          client threads, each a libuv loop "
		"(1)\n"
		"      --connect-concurrency N\n"
		"                           connects in progress at once "
		"(100)\n"
		"  -k, --keepalive SEC      MQTT keep alive; 0 = off (60)\n"
		"      --pid PID            the broker's pid: report its CPU "
		"and RSS\n"
		"      --id-prefix STR      client ids are STR-SCENARIO-N "
		"(tb)\n"
		"      --quiet              no progress lines\n"
		"  -h, --help               this text\n"
		"      --version            print the version\n"
		"\n"
		"Exit status: 0 done; 1 error (connection refused or closed, "
		"bad input from\nthe broker); 2 usage; 3 done, but QoS 1/2 "
		"messages were lost (or QoS 2\nduplicated). The soft "
		"open-file limit is raised to the hard one when the\nrun needs "
		"more descriptors.\n",
		bench_scenario_help(), BENCH_PAYLOAD_MIN);
}

static int parse_u32(const char *name, const char *s, uint32_t min,
		     uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"tern-bench: --%s: expected an integer in [%u, %u], "
			"got \"%s\"\n",
			name, min, max, s);
		return TERN_EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_secs(const char *name, const char *s, double min,
		      double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < min || v > max) {
		fprintf(stderr,
			"tern-bench: --%s: expected a number in [%g, %g], "
			"got \"%s\"\n",
			name, min, max, s);
		return TERN_EINVAL;
	}
	*out = v;
	return 0;
}

enum {
	OPT_PUBLISHERS = 256,
	OPT_SUBSCRIBERS,
	OPT_DRAIN,
	OPT_CONNECT_CONCURRENCY,
	OPT_PID,
	OPT_ID_PREFIX,
	OPT_QUIET,
	OPT_VERSION,
	OPT_SCENARIO,
};

static const struct option main_longopts[] = {
	{"host", required_argument, NULL, 'H'},
	{"port", required_argument, NULL, 'p'},
	{"mqtt-version", required_argument, NULL, 'V'},
	{"qos", required_argument, NULL, 'q'},
	{"count", required_argument, NULL, 'c'},
	{"publishers", required_argument, NULL, OPT_PUBLISHERS},
	{"subscribers", required_argument, NULL, OPT_SUBSCRIBERS},
	{"size", required_argument, NULL, 'm'},
	{"duration", required_argument, NULL, 'd'},
	{"warmup", required_argument, NULL, 'w'},
	{"drain", required_argument, NULL, OPT_DRAIN},
	{"rate", required_argument, NULL, 'r'},
	{"inflight", required_argument, NULL, 'i'},
	{"threads", required_argument, NULL, 't'},
	{"connect-concurrency", required_argument, NULL,
	 OPT_CONNECT_CONCURRENCY},
	{"keepalive", required_argument, NULL, 'k'},
	{"pid", required_argument, NULL, OPT_PID},
	{"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
	{"scenario", required_argument, NULL, OPT_SCENARIO},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* The option's long name, for messages. */
static const char *opt_name(int c)
{
	for (const struct option *o = main_longopts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* Returns 0 to run, 1 to exit 0 (help, version), < 0 on bad usage. */
static int main_parse(int argc, char **argv, struct bench_opts *o)
{
	const char *scenario = NULL;
	uint32_t v;
	int c;

	memset(o, 0, sizeof(*o));
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	snprintf(o->id_prefix, sizeof(o->id_prefix), "tb");
	o->port = 1883;
	o->version = MQTT_V311;
	o->size = 64;
	o->duration = 5;
	o->warmup = 1;
	o->drain = 10;
	o->inflight = 64;
	o->threads = 1;
	o->connect_concurrency = 100;
	o->keepalive = 60;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":H:p:V:q:c:m:d:w:r:i:t:k:h",
				main_longopts, NULL)) != -1) {
		int rc = 0;
		const char *n = opt_name(c);
		switch (c) {
		case 'H':
			if (strlen(optarg) >= sizeof(o->host) || !*optarg) {
				fprintf(stderr, "tern-bench: --host: bad "
						"host name\n");
				return TERN_EINVAL;
			}
			snprintf(o->host, sizeof(o->host), "%s", optarg);
			break;
		case 'p':
			rc = parse_u32(n, optarg, 1, 65535, &v);
			o->port = (uint16_t)v;
			break;
		case 'V':
			rc = parse_u32(n, optarg, 4, 5, &v);
			o->version = (uint8_t)v;
			break;
		case 'q':
			rc = parse_u32(n, optarg, 0, 2, &v);
			o->qos = (uint8_t)v;
			break;
		case 'c':
			rc = parse_u32(n, optarg, 1, 10000000, &o->count);
			break;
		case OPT_PUBLISHERS:
			rc = parse_u32(n, optarg, 1, 1000000, &o->publishers);
			break;
		case OPT_SUBSCRIBERS:
			rc = parse_u32(n, optarg, 1, 1000000,
				       &o->subscribers);
			break;
		case 'm':
			rc = parse_u32(n, optarg, BENCH_PAYLOAD_MIN,
				       16 * 1024 * 1024, &o->size);
			break;
		case 'd':
			rc = parse_secs(n, optarg, 0.1, 86400, &o->duration);
			break;
		case 'w':
			rc = parse_secs(n, optarg, 0, 3600, &o->warmup);
			break;
		case OPT_DRAIN:
			rc = parse_secs(n, optarg, 0, 3600, &o->drain);
			break;
		case 'r':
			rc = parse_secs(n, optarg, 0, 1e9, &o->rate);
			break;
		case 'i':
			rc = parse_u32(n, optarg, 1, 65535, &o->inflight);
			break;
		case 't':
			rc = parse_u32(n, optarg, 1, 64, &o->threads);
			break;
		case OPT_CONNECT_CONCURRENCY:
			rc = parse_u32(n, optarg, 1, 1000000,
				       &o->connect_concurrency);
			break;
		case 'k':
			rc = parse_u32(n, optarg, 0, 65535, &v);
			o->keepalive = (uint16_t)v;
			break;
		case OPT_PID:
			rc = parse_u32(n, optarg, 1, 0x7fffffff, &v);
			o->broker_pid = (int)v;
			break;
		case OPT_ID_PREFIX:
			if (strlen(optarg) >= sizeof(o->id_prefix) ||
			    !*optarg) {
				fprintf(stderr, "tern-bench: --id-prefix: 1 to "
						"%zu characters\n",
					sizeof(o->id_prefix) - 1);
				return TERN_EINVAL;
			}
			snprintf(o->id_prefix, sizeof(o->id_prefix), "%s",
				 optarg);
			break;
		case OPT_SCENARIO:
			scenario = optarg;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'h':
			main_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("tern-bench %s\n", TERN_VERSION);
			return 1;
		case ':':
			fprintf(stderr, "tern-bench: %s needs a value\n",
				argv[optind - 1]);
			return TERN_EINVAL;
		default:
			fprintf(stderr, "tern-bench: unknown option %s (see "
					"--help)\n",
				argv[optind - 1]);
			return TERN_EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (optind < argc && !scenario)
		scenario = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "tern-bench: unexpected argument \"%s\"\n",
			argv[optind]);
		return TERN_EINVAL;
	}
	if (!scenario) {
		fprintf(stderr, "tern-bench: no scenario given (see --help)\n");
		return TERN_EINVAL;
	}
	if (bench_scenario_parse(scenario, &o->scenario) < 0) {
		fprintf(stderr, "tern-bench: unknown scenario \"%s\"; one of:\n%s",
			scenario, bench_scenario_help());
		return TERN_EINVAL;
	}
	if (o->broker_pid) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/stat", o->broker_pid);
		if (access(path, R_OK) < 0) {
			fprintf(stderr, "tern-bench: --pid %d: no such "
					"process\n",
				o->broker_pid);
			return TERN_EINVAL;
		}
	}
	bench_scenario_defaults(o);
	if ((uint64_t)o->publishers + o->subscribers > 10000000) {
		fprintf(stderr, "tern-bench: too many clients\n");
		return TERN_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ the run */

struct main_totals {
	uint64_t sent;
	uint64_t received;
	uint64_t unique;
	uint32_t ready;
	uint32_t prepared;
	uint32_t stopped;
	uint32_t busy;
	bool failed;
};

/* What main tracks while the run goes. */
struct main_run {
	struct bench *b;
	uint64_t t0;
	uint64_t last_print;
	struct main_totals last; /* at the last progress line */
	uint64_t last_cpu;
	uint64_t progress_key; /* sum of the figures that move */
	uint64_t progress_at;  /* when progress_key last changed */
	/* broker figures */
	bool broker_ok;
	uint64_t rss_base_kb;
	uint64_t rss_end_kb;
	uint64_t rss_max_kb;
	uint64_t cpu_win_start;
	uint64_t cpu_win_end;
	uint64_t self_cpu_start; /* tern-bench's own, over the window */
	uint64_t self_cpu_end;
	uint64_t connected_at;
	const char *drain_end; /* complete, stall or timeout */
};

static void main_totals(const struct bench *b, struct main_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < b->o.threads; i++) {
		const struct bench_live *l = &b->threads[i].live;
		t->stopped += atomic_load_explicit(&l->stopped,
						   memory_order_acquire);
		t->failed |= atomic_load_explicit(&l->failed,
						  memory_order_acquire);
		t->sent += atomic_load_explicit(&l->sent, memory_order_relaxed);
		t->received += atomic_load_explicit(&l->received,
						    memory_order_relaxed);
		t->unique += atomic_load_explicit(&l->unique,
						  memory_order_relaxed);
		t->ready += atomic_load_explicit(&l->ready,
						 memory_order_relaxed);
		t->prepared += atomic_load_explicit(&l->prepared,
						    memory_order_relaxed);
		t->busy += atomic_load_explicit(&l->busy, memory_order_relaxed);
	}
}

static void main_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / NS_PER_S),
			      (long)(ns % NS_PER_S)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *const phase_names[] = {"connect", "prepare", "run",
					   "drain", "finish"};

static void main_progress(struct main_run *m, uint64_t now)
{
	struct bench *b = m->b;
	struct main_totals t;
	int ph = atomic_load_explicit(&b->phase, memory_order_relaxed);

	if (now - m->last_print < NS_PER_S)
		return;
	double dt = (double)(now - m->last_print) / (double)NS_PER_S;
	main_totals(b, &t);
	const char *name = phase_names[ph];
	if (ph == BENCH_RUN && now < b->win_start)
		name = "warmup";
	if (!b->o.quiet) {
		fprintf(stderr,
			"tern-bench: %6.1fs %-7s ready %u/%u  sent %llu "
			"(%.0f/s)  recv %llu (%.0f/s)",
			(double)(now - m->t0) / (double)NS_PER_S, name,
			t.ready, b->nclients, (unsigned long long)t.sent,
			(double)(t.sent - m->last.sent) / dt,
			(unsigned long long)t.received,
			(double)(t.received - m->last.received) / dt);
	}
	if (b->o.broker_pid && m->broker_ok) {
		uint64_t cpu, rss;
		if (bench_proc_cpu_ticks(b->o.broker_pid, &cpu) < 0 ||
		    bench_proc_rss_kb(b->o.broker_pid, &rss) < 0) {
			fprintf(stderr, "\ntern-bench: broker pid %d is gone\n",
				b->o.broker_pid);
			m->broker_ok = false;
		} else {
			if (ph == BENCH_RUN && rss > m->rss_max_kb)
				m->rss_max_kb = rss;
			if (!b->o.quiet && m->last_cpu)
				fprintf(stderr, "  broker cpu %.0f%% rss %llu kB",
					(double)(cpu - m->last_cpu) * 100.0 /
						(double)bench_proc_clk_tck() /
						dt,
					(unsigned long long)rss);
			m->last_cpu = cpu;
		}
	}
	if (!b->o.quiet)
		fputc('\n', stderr);
	m->last = t;
	m->last_print = now;
}

typedef bool (*main_cond)(struct main_run *m, const struct main_totals *t);

/*
 * Waits until cond holds (0), the deadline passes (1), nothing moved for
 * stall_ns (2; 0: no stall check), or a thread failed (TERN_EIO).
 */
static int main_wait(struct main_run *m, main_cond cond, uint64_t deadline,
		     uint64_t stall_ns)
{
	struct main_totals t;
	for (;;) {
		uint64_t now = bench_now();
		main_totals(m->b, &t);
		if (t.failed)
			return TERN_EIO;
		if (cond && cond(m, &t))
			return 0;
		if (now >= deadline)
			return 1;
		uint64_t key = t.ready + t.prepared + t.sent + t.received +
			       t.busy;
		if (key != m->progress_key) {
			m->progress_key = key;
			m->progress_at = now;
		} else if (stall_ns && now - m->progress_at >= stall_ns) {
			return 2;
		}
		main_progress(m, now);
		uint64_t step = deadline - now < STEP_NS ? deadline - now
							 : STEP_NS;
		main_sleep_ns(step);
	}
}

static bool cond_ready(struct main_run *m, const struct main_totals *t)
{
	return t->ready >= m->b->nclients;
}

static bool cond_prepared(struct main_run *m, const struct main_totals *t)
{
	(void)m;
	return t->prepared >= 1;
}

static bool cond_stopped(struct main_run *m, const struct main_totals *t)
{
	return t->stopped >= m->b->o.threads;
}

static bool cond_drained(struct main_run *m, const struct main_totals *t)
{
	const struct bench_opts *o = &m->b->o;
	if (o->scenario == BENCH_RETAINED)
		return t->busy == 0;
	return t->unique >= t->sent * bench_scenario_fan(o);
}

static void main_set_phase(struct bench *b, enum bench_phase ph)
{
	atomic_store_explicit(&b->phase, ph, memory_order_release);
	for (uint32_t i = 0; i < b->o.threads; i++)
		bench_thread_wake(&b->threads[i]);
}

static void main_sample_cpu(struct main_run *m, uint64_t *out)
{
	if (m->broker_ok &&
	    bench_proc_cpu_ticks(m->b->o.broker_pid, out) < 0) {
		fprintf(stderr, "tern-bench: broker pid %d is gone\n",
			m->b->o.broker_pid);
		m->broker_ok = false;
	}
}

static void main_sample_rss(struct main_run *m, uint64_t *out)
{
	if (m->broker_ok &&
	    bench_proc_rss_kb(m->b->o.broker_pid, out) < 0) {
		fprintf(stderr, "tern-bench: broker pid %d is gone\n",
			m->b->o.broker_pid);
		m->broker_ok = false;
	}
}

/* Steps the started threads through the phases. 0 or TERN_EIO. */
static int main_phases(struct main_run *m)
{
	struct bench *b = m->b;
	const struct bench_opts *o = &b->o;
	int rc;

	rc = main_wait(m, cond_ready, UINT64_MAX, SETUP_STALL_NS);
	if (rc == 2) {
		struct main_totals t;
		main_totals(b, &t);
		fprintf(stderr,
			"tern-bench: setup stalled: %u of %u clients ready "
			"and none for %llu s\n",
			t.ready, b->nclients,
			(unsigned long long)(SETUP_STALL_NS / NS_PER_S));
		return TERN_EIO;
	}
	if (rc)
		return TERN_EIO;
	m->connected_at = bench_now();

	if (o->scenario == BENCH_RETAINED) {
		main_set_phase(b, BENCH_PREPARE);
		rc = main_wait(m, cond_prepared, UINT64_MAX, SETUP_STALL_NS);
		if (rc == 2)
			fprintf(stderr, "tern-bench: storing the retained "
					"messages stalled\n");
		if (rc)
			return TERN_EIO;
	}

	uint64_t now = bench_now();
	b->run_start = now;
	b->win_start = now + (uint64_t)(o->warmup * (double)NS_PER_S);
	b->win_end = b->win_start + (uint64_t)(o->duration * (double)NS_PER_S);
	main_set_phase(b, BENCH_RUN);

	if (main_wait(m, NULL, b->win_start, 0) < 0)
		return TERN_EIO;
	main_sample_cpu(m, &m->cpu_win_start);
	bench_proc_cpu_ticks(getpid(), &m->self_cpu_start);
	if (main_wait(m, NULL, b->win_end, 0) < 0)
		return TERN_EIO;
	main_sample_cpu(m, &m->cpu_win_end);
	bench_proc_cpu_ticks(getpid(), &m->self_cpu_end);
	main_sample_rss(m, &m->rss_end_kb);
	if (m->rss_end_kb > m->rss_max_kb)
		m->rss_max_kb = m->rss_end_kb;

	main_set_phase(b, BENCH_STOP);
	if (main_wait(m, cond_stopped, UINT64_MAX, 0) < 0)
		return TERN_EIO;
	uint64_t deadline = bench_now() + (uint64_t)(o->drain *
						     (double)NS_PER_S);
	rc = main_wait(m, cond_drained, deadline, DRAIN_STALL_NS);
	if (rc < 0)
		return TERN_EIO;
	m->drain_end = rc == 0 ? "complete" : rc == 1 ? "timeout" : "stall";
	if (rc == 1)
		fprintf(stderr,
			"tern-bench: messages were still arriving when the "
			"drain ended (--drain %.1f): lost counts them\n",
			o->drain);
	return 0;
}

/* ------------------------------------------------------------ report */

struct main_result {
	uint64_t sent, sent_window, received, expected, unique, dup, lost;
	uint64_t recv_window, foreign, misrouted, rejected, late, rounds;
	uint64_t qos_downgraded;
	struct bench_hist hist;
	struct bench_hist conn_hist;
};

/* Sums the joined threads' figures; the trackers give loss and dups. */
static int main_collect(struct bench *b, struct main_result *r)
{
	const struct bench_opts *o = &b->o;
	uint64_t *sent_by = calloc(b->npublishers ? b->npublishers : 1,
				   sizeof(uint64_t));
	if (!sent_by)
		return TERN_ENOMEM;
	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < o->threads; i++) {
		const struct bench_thread *t = &b->threads[i];
		r->sent += t->c.sent;
		r->sent_window += t->c.sent_window;
		r->received += t->c.received;
		r->recv_window += t->c.recv_window;
		r->foreign += t->c.foreign;
		r->misrouted += t->c.misrouted;
		r->rejected += t->c.rejected;
		r->late += t->c.late;
		r->rounds += t->c.rounds;
		r->qos_downgraded += t->c.qos_downgraded;
		r->lost += t->c.round_lost;
		r->dup += t->c.round_dup;
		bench_hist_merge(&r->hist, &t->hist);
		bench_hist_merge(&r->conn_hist, &t->conn_hist);
		for (uint32_t k = 0; k < t->nclients; k++) {
			const struct bench_pub *p = t->clients[k].pub;
			if (p && p->id < b->npublishers)
				sent_by[p->id] = p->seq;
		}
	}
	if (o->scenario == BENCH_RETAINED) {
		r->expected = r->rounds * o->count;
		r->unique = r->received - r->dup;
	} else {
		for (uint32_t i = 0; i < o->threads; i++) {
			const struct bench_thread *t = &b->threads[i];
			for (uint32_t k = 0; k < t->nclients; k++) {
				const struct bench_sub *s = t->clients[k].sub;
				if (!s)
					continue;
				for (uint32_t j = 0; j < s->track_count; j++) {
					const struct bench_seq *q =
						&s->track[j];
					r->expected +=
						sent_by[s->track_base + j];
					r->unique += q->unique;
					r->dup += q->dup;
				}
			}
		}
		r->lost = r->expected > r->unique ? r->expected - r->unique
						  : 0;
	}
	free(sent_by);
	return 0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void main_report(const struct bench *b, const struct main_run *m,
			const struct main_result *r)
{
	const struct bench_opts *o = &b->o;
	bool conns = o->scenario == BENCH_CONNECTIONS;
	const struct bench_hist *h = conns ? &r->conn_hist : &r->hist;
	double connect_s =
		(double)(m->connected_at - m->t0) / (double)NS_PER_S;

	printf("scenario=%s mqtt_version=%u qos=%u clients=%u publishers=%u "
	       "subscribers=%u size=%u rate=%.0f threads=%u duration_s=%.1f "
	       "warmup_s=%.1f",
	       bench_scenario_name(o->scenario), o->version, o->qos,
	       b->nclients, o->publishers, o->subscribers, o->size, o->rate,
	       o->threads, o->duration, o->warmup);
	printf(" sent=%llu received=%llu expected=%llu lost=%llu dup=%llu",
	       (unsigned long long)r->sent, (unsigned long long)r->received,
	       (unsigned long long)r->expected, (unsigned long long)r->lost,
	       (unsigned long long)r->dup);
	printf(" pub_msgs_per_s=%.0f msgs_per_s=%.0f",
	       (double)r->sent_window / o->duration,
	       (double)r->recv_window / o->duration);
	printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f",
	       us(bench_hist_pct(h, 50)), us(bench_hist_pct(h, 90)),
	       us(bench_hist_pct(h, 99)), us(h->max));
	printf(" connect_s=%.3f connects_per_s=%.0f", connect_s,
	       connect_s > 0 ? (double)b->nclients / connect_s : 0.0);
	if (o->scenario == BENCH_RETAINED)
		printf(" rounds=%llu", (unsigned long long)r->rounds);
	printf(" drain_end=%s bench_cpu_pct=%.1f", m->drain_end,
	       (double)(m->self_cpu_end - m->self_cpu_start) * 100.0 /
		       (double)bench_proc_clk_tck() / o->duration);
	printf(" foreign=%llu misrouted=%llu rejected=%llu",
	       (unsigned long long)r->foreign,
	       (unsigned long long)r->misrouted,
	       (unsigned long long)r->rejected);
	if (o->broker_pid && m->broker_ok) {
		double cpu = (double)(m->cpu_win_end - m->cpu_win_start) *
			     100.0 / (double)bench_proc_clk_tck() /
			     o->duration;
		printf(" broker_cpu_pct=%.1f broker_rss_kb=%llu "
		       "broker_rss_max_kb=%llu",
		       cpu, (unsigned long long)m->rss_end_kb,
		       (unsigned long long)m->rss_max_kb);
		if (conns)
			printf(" broker_rss_base_kb=%llu bytes_per_conn=%.0f",
			       (unsigned long long)m->rss_base_kb,
			       ((double)m->rss_end_kb -
				(double)m->rss_base_kb) *
				       1024.0 / (double)b->nclients);
	} else {
		printf(" broker_cpu_pct=na broker_rss_kb=na "
		       "broker_rss_max_kb=na");
		if (conns)
			printf(" broker_rss_base_kb=na bytes_per_conn=na");
	}
	putchar('\n');
	fflush(stdout);
	if (r->qos_downgraded)
		fprintf(stderr,
			"tern-bench: %llu subscription(s) granted a QoS "
			"below %u\n",
			(unsigned long long)r->qos_downgraded, o->qos);
	if (r->foreign || r->misrouted)
		fprintf(stderr,
			"tern-bench: %llu message(s) not from this run, %llu "
			"from an unexpected publisher\n",
			(unsigned long long)r->foreign,
			(unsigned long long)r->misrouted);
}

/* ------------------------------------------------------------ main */

static int main_resolve(struct bench *b)
{
	struct addrinfo hints, *ai;
	char port[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", b->o.port);
	int rc = getaddrinfo(b->o.host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "tern-bench: %s: %s\n", b->o.host,
			gai_strerror(rc));
		return TERN_EINVAL;
	}
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct main_run m;
	struct main_result *r = NULL;
	int exit_code = EXIT_ERROR;
	uint32_t started = 0;

	memset(&b, 0, sizeof(b));
	int rc = main_parse(argc, argv, &b.o);
	if (rc)
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN); /* a closed socket is an error, not death */
	if (main_resolve(&b) < 0)
		return EXIT_USAGE;

	b.nclients = bench_scenario_clients(&b.o);
	b.npublishers = bench_scenario_publishers(&b.o);
	if (b.o.threads > b.nclients)
		b.o.threads = b.nclients;
	uint64_t seed = bench_now() ^ ((uint64_t)getpid() << 32);
	seed *= UINT64_C(0x9E3779B97F4A7C15);
	snprintf(b.run_tag, sizeof(b.run_tag), "%08x", (uint32_t)(seed >> 32));
	b.token = (uint32_t)seed | 1;

	/* one socket per client, plus stdio and a few per loop (epoll,
	 * eventfd) */
	uint64_t want = (uint64_t)b.nclients + 8 + 4 * (uint64_t)b.o.threads;
	uint64_t before, after;
	rc = bench_proc_raise_nofile(want, &before, &after);
	if (after != before)
		fprintf(stderr,
			"tern-bench: raised the open-file soft limit from "
			"%llu to %llu\n",
			(unsigned long long)before, (unsigned long long)after);
	if (rc < 0) {
		fprintf(stderr,
			"tern-bench: %u clients need about %llu open files; the "
			"limit is %llu (raise the hard limit: ulimit -Hn)\n",
			b.nclients, (unsigned long long)want,
			(unsigned long long)after);
		return EXIT_ERROR;
	}

	memset(&m, 0, sizeof(m));
	m.b = &b;
	m.broker_ok = b.o.broker_pid != 0;
	if (m.broker_ok) {
		main_sample_rss(&m, &m.rss_base_kb);
		main_sample_cpu(&m, &m.last_cpu);
	}

	b.threads = calloc(b.o.threads, sizeof(*b.threads));
	r = calloc(1, sizeof(*r));
	if (!b.threads || !r) {
		fprintf(stderr, "tern-bench: out of memory\n");
		goto err_free;
	}
	for (uint32_t i = 0; i < b.o.threads; i++) {
		rc = bench_thread_init(&b, &b.threads[i], i);
		if (rc < 0) {
			fprintf(stderr, "tern-bench: thread %u: %s\n", i,
				tern_strerror(rc));
			/* the ones before never started: they FINISH inline */
			main_set_phase(&b, BENCH_FINISH);
			while (i--) {
				bench_thread_join(&b.threads[i]);
				bench_thread_free(&b.threads[i]);
			}
			goto err_free;
		}
	}
	m.t0 = m.last_print = m.progress_at = bench_now();
	for (; started < b.o.threads; started++)
		if (bench_thread_start(&b.threads[started]) < 0)
			break;
	if (started < b.o.threads) {
		fprintf(stderr, "tern-bench: cannot start thread %u\n",
			started);
		rc = TERN_EIO;
	} else {
		rc = main_phases(&m);
	}

	main_set_phase(&b, BENCH_FINISH);
	for (uint32_t i = 0; i < b.o.threads; i++)
		bench_thread_join(&b.threads[i]);

	bool failed = false;
	for (uint32_t i = 0; i < b.o.threads; i++) {
		if (b.threads[i].err[0]) {
			fprintf(stderr, "tern-bench: %s\n", b.threads[i].err);
			failed = true;
		}
	}
	if (rc == 0 && !failed) {
		if (main_collect(&b, r) < 0) {
			fprintf(stderr, "tern-bench: out of memory\n");
		} else {
			main_report(&b, &m, r);
			exit_code = EXIT_OK;
			if (b.o.qos && r->lost)
				exit_code = EXIT_LOSS;
			if (b.o.qos == 2 && r->dup)
				exit_code = EXIT_LOSS;
		}
	}
	for (uint32_t i = 0; i < b.o.threads; i++)
		bench_thread_free(&b.threads[i]);
err_free:
	free(b.threads);
	free(r);
	return exit_code;
}
