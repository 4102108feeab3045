/*
 * bench_scenario.c - the scenarios: their names, defaults, and which client
 * does what.
 *
 * Clients are numbered subscribers first, then publishers (or idle
 * clients), and dealt to threads round robin by number, so every thread
 * gets its share of both. Topics all start with tb/<run tag>/ so that runs
 * sharing a broker do not see each other.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* help: lines of at most 62 characters, separated by \n */
static const struct {
	const char *name;
	const char *help;
} scenario_table[BENCH_SCENARIO_COUNT] = {
    [BENCH_FANIN] = {"fanin", "-c P publishers (16), one topic each, -> "
                              "--subscribers S (1)\n"
                              "subscribers of the wildcard filter"},
    [BENCH_FANOUT] = {"fanout", "--publishers P (1) -> -c S subscribers "
                                "(1000), one topic"},
    [BENCH_PAIRS] = {"pairs", "-c N publisher/subscriber pairs (64), "
                              "one topic per pair"},
    [BENCH_CONNECTIONS] = {"connections",
                           "-c C idle clients (1000) held open for the "
                           "window: connect\n"
                           "rate, CONNECT->CONNACK latency, broker RSS "
                           "per connection"},
    [BENCH_RETAINED] = {"retained",
                        "one publisher stores -c N retained topics "
                        "(10000), then\n"
                        "--subscribers S (1) subscribe to them with a "
                        "wildcard,\n"
                        "unsubscribe, and again, for the window"},
};

const char *bench_scenario_name(enum bench_scenario s)
{
	return s < BENCH_SCENARIO_COUNT ? scenario_table[s].name : "?";
}

int bench_scenario_parse(const char *name, enum bench_scenario *out)
{
	for (int i = 0; i < BENCH_SCENARIO_COUNT; i++) {
		if (!strcmp(name, scenario_table[i].name)) {
			*out = (enum bench_scenario)i;
			return 0;
		}
	}
	return TERN_EINVAL;
}

const char *bench_scenario_help(void)
{
	static char text[2048];
	size_t n = 0;
	text[0] = '\0';
	for (int i = 0; i < BENCH_SCENARIO_COUNT; i++) {
		const char *line = scenario_table[i].help;
		const char *name = scenario_table[i].name;
		while (*line && n < sizeof(text)) {
			size_t len = strcspn(line, "\n");
			int w =
			    snprintf(text + n, sizeof(text) - n,
			             "  %-12s %.*s\n", name, (int)len, line);
			if (w < 0)
				return text;
			n += (size_t)w;
			name = "";
			line += len + (line[len] == '\n');
		}
	}
	return text;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

void bench_scenario_defaults(struct bench_opts *o)
{
	switch (o->scenario) {
	case BENCH_FANIN:
		o->publishers =
		    or_default(o->count, or_default(o->publishers, 16));
		o->subscribers = or_default(o->subscribers, 1);
		o->count = o->publishers;
		break;
	case BENCH_FANOUT:
		o->subscribers =
		    or_default(o->count, or_default(o->subscribers, 1000));
		o->publishers = or_default(o->publishers, 1);
		o->count = o->subscribers;
		break;
	case BENCH_PAIRS:
		o->count = or_default(o->count, 64);
		o->publishers = o->subscribers = o->count;
		break;
	case BENCH_CONNECTIONS:
		o->count = or_default(o->count, 1000);
		o->publishers = o->subscribers = 0;
		break;
	case BENCH_RETAINED:
		o->count = or_default(o->count, 10000);
		o->publishers = 1;
		o->subscribers = or_default(o->subscribers, 1);
		break;
	case BENCH_SCENARIO_COUNT:
		break;
	}
}

uint32_t bench_scenario_clients(const struct bench_opts *o)
{
	if (o->scenario == BENCH_CONNECTIONS)
		return o->count;
	return o->publishers + o->subscribers;
}

uint32_t bench_scenario_publishers(const struct bench_opts *o)
{
	return o->publishers;
}

uint32_t bench_scenario_fan(const struct bench_opts *o)
{
	switch (o->scenario) {
	case BENCH_FANIN:
	case BENCH_FANOUT:
		return o->subscribers;
	case BENCH_PAIRS:
		return 1;
	default:
		return 0;
	}
}

void bench_scenario_plan(const struct bench_opts *o, const char *run_tag,
                         uint32_t i, struct bench_plan *out)
{
	const char *name = bench_scenario_name(o->scenario);
	uint32_t nsub = o->subscribers;

	memset(out, 0, sizeof(*out));
	if (o->scenario == BENCH_CONNECTIONS) {
		out->role = BENCH_ROLE_IDLE;
		return;
	}
	if (i < nsub) {
		out->role = BENCH_ROLE_SUB;
		switch (o->scenario) {
		case BENCH_FANIN:
			out->track_count = o->publishers;
			snprintf(out->topic, sizeof(out->topic), "tb/%s/%s/+",
			         run_tag, name);
			break;
		case BENCH_FANOUT:
			out->track_count = o->publishers;
			snprintf(out->topic, sizeof(out->topic), "tb/%s/%s",
			         run_tag, name);
			break;
		case BENCH_PAIRS:
			out->track_base = i;
			out->track_count = 1;
			snprintf(out->topic, sizeof(out->topic), "tb/%s/%s/%u",
			         run_tag, name, i);
			break;
		default: /* retained */
			snprintf(out->topic, sizeof(out->topic), "tb/%s/%s/#",
			         run_tag, name);
			break;
		}
		return;
	}
	out->role = BENCH_ROLE_PUB;
	out->pub_id = i - nsub;
	switch (o->scenario) {
	case BENCH_FANOUT:
		snprintf(out->topic, sizeof(out->topic), "tb/%s/%s", run_tag,
		         name);
		break;
	case BENCH_RETAINED: /* + the topic number per message */
		snprintf(out->topic, sizeof(out->topic), "tb/%s/%s/", run_tag,
		         name);
		break;
	default:
		snprintf(out->topic, sizeof(out->topic), "tb/%s/%s/%u", run_tag,
		         name, out->pub_id);
		break;
	}
}
