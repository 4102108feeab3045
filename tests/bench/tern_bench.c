/*
 * tern_bench.c - main() of tern-bench: the run's phases and the progress
 * lines (options: bench_opts.c; final figures: bench_report.c).
 *
 * main owns struct bench and the threads' array; it never touches a
 * thread's clients before the join, only the atomics of struct bench_live.
 * It sleeps in 20 ms steps, and at each step checks for a failed thread,
 * the condition it waits for, and whether a progress line is due.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define NS_PER_S       UINT64_C(1000000000)
#define STEP_NS        (20 * UINT64_C(1000000))
#define SETUP_STALL_NS (10 * NS_PER_S) /* setup fails after no progress */
#define DRAIN_STALL_NS (2 * NS_PER_S)  /* QoS 0 drain: no progress, done */

enum main_exit {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_LOSS = 3, /* QoS 1/2 lost messages, or QoS 2 duplicates */
};

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
	struct bench_samples s; /* what the report needs */
	uint64_t last_print;
	struct main_totals last; /* at the last progress line */
	uint64_t last_cpu;
	bool have_cpu;         /* last_cpu holds a sample */
	uint64_t progress_key; /* sum of the figures that move */
	uint64_t progress_at;  /* when progress_key last changed */
};

static void main_totals(const struct bench *b, struct main_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < b->o.threads; i++) {
		const struct bench_live *l = &b->threads[i].live;
		t->stopped +=
		    atomic_load_explicit(&l->stopped, memory_order_acquire);
		t->failed |=
		    atomic_load_explicit(&l->failed, memory_order_acquire);
		t->sent += atomic_load_explicit(&l->sent, memory_order_relaxed);
		t->received +=
		    atomic_load_explicit(&l->received, memory_order_relaxed);
		t->unique +=
		    atomic_load_explicit(&l->unique, memory_order_relaxed);
		t->ready +=
		    atomic_load_explicit(&l->ready, memory_order_relaxed);
		t->prepared +=
		    atomic_load_explicit(&l->prepared, memory_order_relaxed);
		t->busy += atomic_load_explicit(&l->busy, memory_order_relaxed);
	}
}

static void main_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *const phase_names[] = {"connect", "prepare", "run", "drain",
                                          "finish"};

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
		        (double)(now - m->s.t0) / (double)NS_PER_S, name,
		        t.ready, b->nclients, (unsigned long long)t.sent,
		        (double)(t.sent - m->last.sent) / dt,
		        (unsigned long long)t.received,
		        (double)(t.received - m->last.received) / dt);
	}
	if (b->o.broker_pid && m->s.broker_ok) {
		uint64_t cpu, rss;
		if (bench_proc_cpu_ticks(b->o.broker_pid, &cpu) < 0 ||
		    bench_proc_rss_kb(b->o.broker_pid, &rss) < 0) {
			fprintf(stderr, "\ntern-bench: broker pid %d is gone\n",
			        b->o.broker_pid);
			m->s.broker_ok = false;
		} else {
			if (ph == BENCH_RUN && rss > m->s.rss_max_kb)
				m->s.rss_max_kb = rss;
			if (!b->o.quiet && m->have_cpu)
				fprintf(stderr,
				        "  broker cpu %.0f%% rss %llu kB",
				        (double)(cpu - m->last_cpu) * 100.0 /
				            (double)bench_proc_clk_tck() / dt,
				        (unsigned long long)rss);
			m->last_cpu = cpu;
			m->have_cpu = true;
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
		uint64_t key =
		    t.ready + t.prepared + t.sent + t.received + t.busy;
		if (key != m->progress_key) {
			m->progress_key = key;
			m->progress_at = now;
		} else if (stall_ns && now - m->progress_at >= stall_ns) {
			return 2;
		}
		main_progress(m, now);
		uint64_t step =
		    deadline - now < STEP_NS ? deadline - now : STEP_NS;
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
	if (m->s.broker_ok &&
	    bench_proc_cpu_ticks(m->b->o.broker_pid, out) < 0) {
		fprintf(stderr, "tern-bench: broker pid %d is gone\n",
		        m->b->o.broker_pid);
		m->s.broker_ok = false;
	}
}

static void main_sample_rss(struct main_run *m, uint64_t *out)
{
	if (m->s.broker_ok && bench_proc_rss_kb(m->b->o.broker_pid, out) < 0) {
		fprintf(stderr, "tern-bench: broker pid %d is gone\n",
		        m->b->o.broker_pid);
		m->s.broker_ok = false;
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
	m->s.connected_at = bench_now();

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
	main_sample_cpu(m, &m->s.cpu_win_start);
	bench_proc_cpu_ticks(getpid(), &m->s.self_cpu_start);
	if (main_wait(m, NULL, b->win_end, 0) < 0)
		return TERN_EIO;
	main_sample_cpu(m, &m->s.cpu_win_end);
	bench_proc_cpu_ticks(getpid(), &m->s.self_cpu_end);
	main_sample_rss(m, &m->s.rss_end_kb);
	if (m->s.rss_end_kb > m->s.rss_max_kb)
		m->s.rss_max_kb = m->s.rss_end_kb;

	main_set_phase(b, BENCH_STOP);
	if (main_wait(m, cond_stopped, UINT64_MAX, 0) < 0)
		return TERN_EIO;
	uint64_t deadline =
	    bench_now() + (uint64_t)(o->drain * (double)NS_PER_S);
	/* QoS 0 messages stop coming when the broker dropped them; QoS 1/2
	 * ones may only be late, so they get all of --drain */
	rc = main_wait(m, cond_drained, deadline,
	               o->qos == 0 ? DRAIN_STALL_NS : 0);
	if (rc < 0)
		return TERN_EIO;
	m->s.drain_end = rc == 0 ? "complete" : rc == 1 ? "timeout" : "stall";
	if (rc == 1)
		fprintf(stderr,
		        "tern-bench: not every message had arrived when the "
		        "drain ended (--drain %.1f s); lost counts them\n",
		        o->drain);
	return 0;
}

/* ------------------------------------------------------------ report */

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
	int exit_code = EXIT_ERROR;
	uint32_t started = 0;

	memset(&b, 0, sizeof(b));
	int rc = bench_opts_parse(argc, argv, &b.o);
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
		fprintf(
		    stderr,
		    "tern-bench: %u clients need about %llu open files; the "
		    "limit is %llu (raise the hard limit: ulimit -Hn)\n",
		    b.nclients, (unsigned long long)want,
		    (unsigned long long)after);
		return EXIT_ERROR;
	}

	memset(&m, 0, sizeof(m));
	m.b = &b;
	m.s.broker_ok = b.o.broker_pid != 0;
	if (m.s.broker_ok) {
		main_sample_rss(&m, &m.s.rss_base_kb);
		main_sample_cpu(&m, &m.last_cpu);
		m.have_cpu = m.s.broker_ok;
	}

	b.threads = calloc(b.o.threads, sizeof(*b.threads));
	if (!b.threads) {
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
	m.s.t0 = m.last_print = m.progress_at = bench_now();
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
		rc = bench_report(&b, &m.s);
		if (rc < 0)
			fprintf(stderr, "tern-bench: out of memory\n");
		else
			exit_code = rc ? EXIT_LOSS : EXIT_OK;
	}
	for (uint32_t i = 0; i < b.o.threads; i++)
		bench_thread_free(&b.threads[i]);
err_free:
	free(b.threads);
	return exit_code;
}
