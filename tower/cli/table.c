/* table.c — plain-text tables for the CLI: each column as wide as its widest
 * cell, so a long node or role name does not push the rest out of line. */
#include "tower/cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "shared/util.h"

struct table {
	size_t columns;
	size_t lines, cap;   /* the header and the rows; room for cap of them */
	char **cells;        /* lines * columns, line 0 the header */
	size_t *width;
	bool *right;
	bool incomplete;     /* a row could not be added: print nothing */
};

/* Cells come from the API, and a node's name from its agent: a control
 * character (an escape sequence for the operator's terminal) prints as '?'. */
static char *cell_copy(const char *s)
{
	char *copy = strdup(s != NULL ? s : "-");

	util_one_line(copy);
	return copy;
}

static void widen(struct table *t, char **row)
{
	for (size_t c = 0; c < t->columns; c++) {
		size_t len = strlen(row[c]);

		if (len > t->width[c])
			t->width[c] = len;
	}
}

/* Appends a row of copies, or nothing. */
static int table_append(struct table *t, const char *const *cells)
{
	char **row;

	if (t->lines == t->cap) {
		size_t cap = t->cap * 2;
		char **grown = realloc(t->cells, cap * t->columns * sizeof(*grown));

		if (grown == NULL)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	row = t->cells + t->lines * t->columns;
	for (size_t c = 0; c < t->columns; c++) {
		row[c] = cell_copy(cells[c]);
		if (row[c] == NULL) {
			while (c-- > 0)
				free(row[c]);
			return -1;
		}
	}
	widen(t, row);
	t->lines++;
	return 0;
}

struct table *table_new(size_t columns, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL || columns == 0)
		goto fail;
	t->columns = columns;
	t->cap = 8;
	t->cells = calloc(t->cap * columns, sizeof(*t->cells));
	t->width = calloc(columns, sizeof(*t->width));
	t->right = calloc(columns, sizeof(*t->right));
	if (t->cells == NULL || t->width == NULL || t->right == NULL)
		goto fail;
	if (table_append(t, headers) != 0)
		goto fail;
	return t;
fail:
	table_free(t);
	return NULL;
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	if (t->cells != NULL)
		for (size_t i = 0; i < t->lines * t->columns; i++)
			free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t->right);
	free(t);
}

void table_align_right(struct table *t, size_t column)
{
	if (t != NULL && column < t->columns)
		t->right[column] = true;
}

int table_add(struct table *t, const char *const *cells)
{
	if (t == NULL)
		return -1;
	if (table_append(t, cells) != 0) {
		t->incomplete = true;
		return -1;
	}
	return 0;
}

int table_print(const struct table *t, FILE *out, const char *indent)
{
	if (t == NULL || t->incomplete)
		return -1;
	for (size_t line = 0; line < t->lines; line++) {
		char **row = t->cells + line * t->columns;

		fputs(indent != NULL ? indent : "", out);
		for (size_t c = 0; c < t->columns; c++) {
			bool last = c + 1 == t->columns;
			int width = (int)t->width[c];

			if (t->right[c])
				fprintf(out, "%*s", width, row[c]);
			else if (last)
				fputs(row[c], out);
			else
				fprintf(out, "%-*s", width, row[c]);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
	return 0;
}

void table_format_bytes(uint64_t bytes, char *out, size_t size)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, size, "%lluB", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	/* 9.96 would print as "10.0": one decimal only where it stays under 10 */
	if (v < 9.95)
		snprintf(out, size, "%.1f%c", v, units[u]);
	else
		snprintf(out, size, "%.0f%c", v, units[u]);
}
