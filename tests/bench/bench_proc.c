/*
 * bench_proc.c - what tern-bench reads from /proc about the broker, and
 * its own open-file limit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* Reads /proc/<pid>/<name> into buf (NUL-terminated). 0 or -errno. */
static int proc_read(int pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, cap - 1, f);
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	buf[n] = '\0';
	return err;
}

int bench_proc_cpu_ticks(int pid, uint64_t *ticks)
{
	char buf[1024];
	int rc = proc_read(pid, "stat", buf, sizeof(buf));
	if (rc < 0)
		return rc;
	/* comm (field 2) may hold spaces and parentheses: start after the
	 * last ')'; utime and stime are fields 14 and 15, i.e. the 12th and
	 * 13th after it */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	uint64_t v[13];
	for (int i = 0; i < 13; i++) {
		while (*p == ' ')
			p++;
		if (i == 0) { /* state: a letter */
			while (*p && *p != ' ')
				p++;
			v[i] = 0;
			continue;
		}
		char *end;
		errno = 0;
		long long x = strtoll(p, &end, 10);
		if (end == p || errno)
			return -EINVAL;
		v[i] = (uint64_t)(x < 0 ? 0 : x);
		p = end;
	}
	*ticks = v[11] + v[12];
	return 0;
}

int bench_proc_rss_kb(int pid, uint64_t *kb)
{
	char buf[4096];
	int rc = proc_read(pid, "status", buf, sizeof(buf));
	if (rc < 0)
		return rc;
	const char *p = strstr(buf, "\nVmRSS:");
	if (!p)
		return -EINVAL; /* a zombie or a kernel thread */
	p += strlen("\nVmRSS:");
	char *end;
	unsigned long long x = strtoull(p, &end, 10);
	if (end == p)
		return -EINVAL;
	*kb = x;
	return 0;
}

long bench_proc_clk_tck(void)
{
	long t = sysconf(_SC_CLK_TCK);
	return t > 0 ? t : 100;
}

int bench_proc_raise_nofile(uint64_t want, uint64_t *before, uint64_t *after)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	*before = *after = rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		/* the whole hard limit: `want` is an estimate (libuv and
		 * stdio hold a few descriptors of their own) */
		rlim_t soft =
		    rl.rlim_max == RLIM_INFINITY ? (rlim_t)want : rl.rlim_max;
		rl.rlim_cur = soft;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
		*after = rl.rlim_cur;
	}
	if (*after != RLIM_INFINITY && *after < want)
		return -EMFILE;
	return 0;
}
