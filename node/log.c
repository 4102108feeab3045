/*
 * log.c - one line per event on stderr.
 *
 * Text:  2026-11-25T21:54:06.123Z INFO message
 * JSON:  {"ts":"2026-11-25T21:54:06.123Z","level":"info","msg":"message"}
 *
 * Each line is built in a stack buffer and written with one write(2), so
 * lines from different threads do not interleave. Lines are cut at
 * LOG_LINE_MAX bytes, ending in "..." when cut. Control characters in the
 * message are escaped (so an event stays on one line); in JSON, invalid
 * UTF-8 becomes U+FFFD so the line is always valid JSON.
 *
 * The level and format are the only mutable globals of the project: set
 * once by log_setup before any thread starts, read-only afterwards.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static enum tern_log_level log_level = TERN_LOG_INFO;
static bool log_json;

static const char *const log_names[] = {
    "error", "warn", "info", "debug", "trace",
};
static const char *const log_names_upper[] = {
    "ERROR", "WARN", "INFO", "DEBUG", "TRACE",
};

struct log_buf {
	char *p;
	size_t len;
	size_t cap; /* room left for the message; the tail is reserved */
	bool cut;
};

void log_setup(enum tern_log_level level, bool json)
{
	log_level = level > TERN_LOG_TRACE ? TERN_LOG_TRACE : level;
	log_json = json;
}

bool log_enabled(enum tern_log_level level)
{
	return level <= log_level;
}

static void log_put(struct log_buf *b, const char *s, size_t n)
{
	if (b->cut)
		return;
	if (b->len + n > b->cap) {
		b->cut = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t log_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends msg, escaped for JSON strings or for one text line. */
static void log_put_escaped(struct log_buf *b, const char *msg, bool json)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t n = strlen(msg);
	char esc[8];

	while (n && !b->cut) {
		unsigned char c = *s;
		size_t len = 1;

		if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			log_put(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x",
			         c);
			log_put(b, esc, strlen(esc));
		} else if (json && (c == '"' || c == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_put(b, esc, 2);
		} else if (json && c >= 0x80) {
			len = log_utf8_len(s, n);
			if (len)
				log_put(b, (const char *)s, len);
			else
				log_put(b, "\\ufffd", 6);
			if (!len)
				len = 1;
		} else {
			log_put(b, (const char *)s, 1);
		}
		s += len;
		n -= len;
	}
}

static void log_timestamp(char *ts, size_t size)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, size - n, ".%03dZ", (int)(now.tv_nsec / 1000000));
}

void log_write(enum tern_log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX], ts[40];
	struct log_buf b = {.p = line};
	const char *tail = log_json ? "\"}\n" : "\n";
	unsigned idx = level > TERN_LOG_TRACE ? TERN_LOG_TRACE : level;
	int saved_errno = errno;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = snprintf(msg, sizeof(msg), "(bad log format \"%s\")", fmt);
	if (n < 0)
		n = 0;

	log_timestamp(ts, sizeof(ts));
	b.cap = sizeof(line) - strlen(tail) - 3; /* room for "..." */
	if (log_json) {
		log_put(&b, "{\"ts\":\"", 7);
		log_put(&b, ts, strlen(ts));
		log_put(&b, "\",\"level\":\"", 11);
		log_put(&b, log_names[idx], strlen(log_names[idx]));
		log_put(&b, "\",\"msg\":\"", 9);
	} else {
		log_put(&b, ts, strlen(ts));
		log_put(&b, " ", 1);
		log_put(&b, log_names_upper[idx], strlen(log_names_upper[idx]));
		log_put(&b, " ", 1);
	}
	log_put_escaped(&b, msg, log_json);
	if (b.cut || (size_t)n >= sizeof(msg)) {
		memcpy(line + b.len, "...", 3);
		b.len += 3;
	}
	memcpy(line + b.len, tail, strlen(tail));
	b.len += strlen(tail);

	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(STDERR_FILENO, line + off, b.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved_errno;
}
