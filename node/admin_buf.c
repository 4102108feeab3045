/*
 * admin_buf.c - a growable byte buffer for the admin server's responses.
 * The content is always NUL-terminated (not counted in len). An append that
 * cannot allocate sets oom and leaves the buffer as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"

static bool admin_buf_reserve(struct admin_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void admin_buf_append(struct admin_buf *b, const void *data, size_t len)
{
	if (!admin_buf_reserve(b, len))
		return;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
}

void admin_buf_puts(struct admin_buf *b, const char *s)
{
	admin_buf_append(b, s, strlen(s));
}

void admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!admin_buf_reserve(b, 128))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = 0;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!admin_buf_reserve(b, (size_t)n)) {
			b->p[b->len] = 0;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void admin_buf_free(struct admin_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
