/*
 * bench_opts.c - tern-bench's command line: --help, parsing, checks.
 *
 * Every problem is reported on stderr as "tern-bench: ..." naming the
 * option; nothing is run before the whole command line is known good.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void bench_opts_usage(FILE *out)
{
	fprintf(
	    out,
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
	    "      --persistent         subscribers keep a persistent "
	    "session: clean\n"
	    "                           session 0 (3.1.1), or clean start "
	    "0 and the\n"
	    "                           longest session expiry (5.0)\n"
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

static int opts_u32(const char *name, const char *s, uint32_t min, uint32_t max,
                    uint32_t *out)
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

static int opts_secs(const char *name, const char *s, double min, double max,
                     double *out)
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
	OPT_PERSISTENT,
	OPT_VERSION,
	OPT_SCENARIO,
};

static const struct option opts_longopts[] = {
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
    {"connect-concurrency", required_argument, NULL, OPT_CONNECT_CONCURRENCY},
    {"keepalive", required_argument, NULL, 'k'},
    {"pid", required_argument, NULL, OPT_PID},
    {"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"persistent", no_argument, NULL, OPT_PERSISTENT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The option's long name, for messages. */
static const char *opts_name(int c)
{
	for (const struct option *o = opts_longopts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

int bench_opts_parse(int argc, char **argv, struct bench_opts *o)
{
	const char *scenario = NULL;
	uint32_t v = 0;
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
	                        opts_longopts, NULL)) != -1) {
		int rc = 0;
		const char *n = opts_name(c);
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
			rc = opts_u32(n, optarg, 1, 65535, &v);
			o->port = (uint16_t)v;
			break;
		case 'V':
			rc = opts_u32(n, optarg, 4, 5, &v);
			o->version = (uint8_t)v;
			break;
		case 'q':
			rc = opts_u32(n, optarg, 0, 2, &v);
			o->qos = (uint8_t)v;
			break;
		case 'c':
			rc = opts_u32(n, optarg, 1, 10000000, &o->count);
			break;
		case OPT_PUBLISHERS:
			rc = opts_u32(n, optarg, 1, 1000000, &o->publishers);
			break;
		case OPT_SUBSCRIBERS:
			rc = opts_u32(n, optarg, 1, 1000000, &o->subscribers);
			break;
		case 'm':
			rc = opts_u32(n, optarg, BENCH_PAYLOAD_MIN,
			              16 * 1024 * 1024, &o->size);
			break;
		case 'd':
			rc = opts_secs(n, optarg, 0.1, 86400, &o->duration);
			break;
		case 'w':
			rc = opts_secs(n, optarg, 0, 3600, &o->warmup);
			break;
		case OPT_DRAIN:
			rc = opts_secs(n, optarg, 0, 3600, &o->drain);
			break;
		case 'r':
			rc = opts_secs(n, optarg, 0, 1e9, &o->rate);
			break;
		case 'i':
			rc = opts_u32(n, optarg, 1, 65535, &o->inflight);
			break;
		case 't':
			rc = opts_u32(n, optarg, 1, 64, &o->threads);
			break;
		case OPT_CONNECT_CONCURRENCY:
			rc = opts_u32(n, optarg, 1, 1000000,
			              &o->connect_concurrency);
			break;
		case 'k':
			rc = opts_u32(n, optarg, 0, 65535, &v);
			o->keepalive = (uint16_t)v;
			break;
		case OPT_PID:
			rc = opts_u32(n, optarg, 1, 0x7fffffff, &v);
			o->broker_pid = (int)v;
			break;
		case OPT_ID_PREFIX:
			if (strlen(optarg) >= sizeof(o->id_prefix) ||
			    !*optarg) {
				fprintf(stderr,
				        "tern-bench: --id-prefix: 1 to "
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
		case OPT_PERSISTENT:
			o->persistent = true;
			break;
		case 'h':
			bench_opts_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("tern-bench %s\n", TERN_VERSION);
			return 1;
		case ':':
			fprintf(stderr, "tern-bench: %s needs a value\n",
			        argv[optind - 1]);
			return TERN_EINVAL;
		default:
			fprintf(stderr,
			        "tern-bench: unknown option %s (see "
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
		fprintf(stderr,
		        "tern-bench: unknown scenario \"%s\"; one of:\n%s",
		        scenario, bench_scenario_help());
		return TERN_EINVAL;
	}
	if (o->broker_pid) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/stat", o->broker_pid);
		if (access(path, R_OK) < 0) {
			fprintf(stderr,
			        "tern-bench: --pid %d: no such "
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
