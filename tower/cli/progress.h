/* progress.h — draws an OverCloud's steps for the CLI: redrawn in place on
 * a terminal, one plain line per change otherwise. */
#ifndef OC_PROGRESS_H
#define OC_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

struct progress;

struct progress *progress_new(FILE *out);
void progress_free(struct progress *p);
/* Shows the OverCloud object (as GET /v1/overclouds/{id} returns it). */
void progress_update(struct progress *p, json_t *oc);
/* Prints the steps table once (for `tower show`). */
void progress_print_table(FILE *out, json_t *oc);

#endif
