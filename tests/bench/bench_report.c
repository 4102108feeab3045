/*
 * bench_report.c - the final figures of a run and the key=value line.
 *
 * Runs on main after the threads are joined: sums their counters and
 * histograms, and walks every subscriber's trackers to get expected,
 * lost and duplicated messages per (publisher, subscriber) pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define NS_PER_S UINT64_C(1000000000)

struct report_result {
	uint64_t sent, sent_window, received, expected, unique, dup, lost;
	uint64_t recv_window, foreign, misrouted, rejected, late, rounds;
	uint64_t qos_downgraded;
	struct bench_hist hist;
	struct bench_hist conn_hist;
};

/* Sums the joined threads' figures; the trackers give loss and dups. */
static int report_collect(const struct bench *b, struct report_result *r)
{
	const struct bench_opts *o = &b->o;
	uint64_t *sent_by =
	    calloc(b->npublishers ? b->npublishers : 1, sizeof(uint64_t));
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
		r->lost = r->expected > r->unique ? r->expected - r->unique : 0;
	}
	free(sent_by);
	return 0;
}

static double report_us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void report_print(const struct bench *b, const struct bench_samples *m,
                         const struct report_result *r)
{
	const struct bench_opts *o = &b->o;
	bool conns = o->scenario == BENCH_CONNECTIONS;
	const struct bench_hist *h = conns ? &r->conn_hist : &r->hist;
	double connect_s = (double)(m->connected_at - m->t0) / (double)NS_PER_S;

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
	if (h->count)
		printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f",
		       report_us(bench_hist_pct(h, 50)),
		       report_us(bench_hist_pct(h, 90)),
		       report_us(bench_hist_pct(h, 99)), report_us(h->max));
	else /* nothing arrived inside the window: no latency to give */
		printf(" p50_us=na p90_us=na p99_us=na max_us=na");
	printf(" connect_s=%.3f connects_per_s=%.0f", connect_s,
	       connect_s > 0 ? (double)b->nclients / connect_s : 0.0);
	if (o->scenario == BENCH_RETAINED)
		printf(" rounds=%llu late=%llu", (unsigned long long)r->rounds,
		       (unsigned long long)r->late);
	printf(" drain_end=%s bench_cpu_pct=%.1f", m->drain_end,
	       (double)(m->self_cpu_end - m->self_cpu_start) * 100.0 /
	           (double)bench_proc_clk_tck() / o->duration);
	printf(" foreign=%llu misrouted=%llu rejected=%llu",
	       (unsigned long long)r->foreign, (unsigned long long)r->misrouted,
	       (unsigned long long)r->rejected);
	if (o->broker_pid && m->broker_ok) {
		double cpu = (double)(m->cpu_win_end - m->cpu_win_start) *
		             100.0 / (double)bench_proc_clk_tck() / o->duration;
		printf(" broker_cpu_pct=%.1f broker_rss_kb=%llu "
		       "broker_rss_max_kb=%llu",
		       cpu, (unsigned long long)m->rss_end_kb,
		       (unsigned long long)m->rss_max_kb);
		if (conns)
			printf(
			    " broker_rss_base_kb=%llu bytes_per_conn=%.0f",
			    (unsigned long long)m->rss_base_kb,
			    ((double)m->rss_end_kb - (double)m->rss_base_kb) *
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

int bench_report(const struct bench *b, const struct bench_samples *s)
{
	struct report_result *r = calloc(1, sizeof(*r));
	if (!r || report_collect(b, r) < 0) {
		free(r);
		return TERN_ENOMEM;
	}
	report_print(b, s, r);
	int loss = (b->o.qos && r->lost) || (b->o.qos == 2 && r->dup);
	free(r);
	return loss;
}
