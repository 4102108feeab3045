/*
 * ternctl_table.c - aligned text tables: columns two spaces apart, widths
 * counted in characters (UTF-8 code points), the last column not padded.
 */
#include <stdlib.h>
#include <string.h>

#include "ternctl.h"

struct ternctl_table {
	size_t ncols;
	size_t nrows, cap;
	char **cells; /* nrows * ncols; row 0 is the header if any */
	bool head;
};

static char *ternctl_table_dup(const char *s)
{
	char *d = strdup(s ? s : "-");

	if (!d) {
		fputs("ternctl: out of memory\n", stderr);
		exit(TERNCTL_ESERVER);
	}
	/* one line per row: control characters would break the layout */
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

struct ternctl_table *ternctl_table_new(size_t ncols, const char *const *heads)
{
	struct ternctl_table *t = calloc(1, sizeof(*t));

	if (!t) {
		fputs("ternctl: out of memory\n", stderr);
		exit(TERNCTL_ESERVER);
	}
	t->ncols = ncols;
	if (heads) {
		ternctl_table_add(t, heads);
		t->head = true;
	}
	return t;
}

void ternctl_table_add(struct ternctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));

		if (!c) {
			fputs("ternctl: out of memory\n", stderr);
			exit(TERNCTL_ESERVER);
		}
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = ternctl_table_dup(cells[i]);
	t->nrows++;
}

static size_t ternctl_table_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void ternctl_table_print(struct ternctl_table *t, FILE *out)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w) {
		fputs("ternctl: out of memory\n", stderr);
		exit(TERNCTL_ESERVER);
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t x =
			    ternctl_table_width(t->cells[r * t->ncols + c]);

			if (x > w[c])
				w[c] = x;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputs(s, out);
			if (c + 1 < t->ncols)
				fprintf(
				    out, "%*s",
				    (int)(w[c] + 2 - ternctl_table_width(s)),
				    "");
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	free(w);
}
