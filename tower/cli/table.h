/* table.h — plain-text tables for the CLI: each column as wide as its widest
 * cell, so a long node or role name does not push the rest out of line. */
#ifndef OC_TABLE_H
#define OC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct table;

/* columns headers; NULL when out of memory. Every function below takes that
 * NULL too, so a caller checks once, at table_print. */
struct table *table_new(size_t columns, const char *const *headers);
void table_free(struct table *t);
/* Numbers read better right-aligned. */
void table_align_right(struct table *t, size_t column);
/* Copies one row of the table's column count; a NULL cell prints as "-", a
 * control character as '?'.
 * 0, or -1 when out of memory (the table then prints nothing). */
int table_add(struct table *t, const char *const *cells);
/* Header, then rows, each line starting with indent (may be NULL); columns
 * two spaces apart, the last one not padded. Widths count bytes: the names
 * in these tables are ASCII. 0, or -1 (nothing printed) for a NULL table or
 * one that lost a row. */
int table_print(const struct table *t, FILE *out, const char *indent);

/* A byte count for a cell, in binary units with one decimal under 10 and
 * none above: "512B", "1.5K", "812M", "3.8G", "12T". */
void table_format_bytes(uint64_t bytes, char *out, size_t size);

#endif
