/* promtext.h — writes Prometheus's text exposition format (version 0.0.4):
 * HELP and TYPE lines, samples with escaped label values, histograms. */
#ifndef OC_PROMTEXT_H
#define OC_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct promtext_label {
	const char *name;    /* a valid label name: the caller's constant */
	const char *value;   /* any text: escaped here */
};

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void promtext_family(struct evbuffer *out, const char *name, const char *type, const char *help);
/* name{labels} value; n may be 0. Values print as integers when they are
 * whole, NaN and infinities as the format spells them. */
void promtext_sample(struct evbuffer *out, const char *name, const struct promtext_label *labels,
		     size_t n, double value);
/* The same labels written once, "{a=\"x\",b=\"y\"}" ("" for none), for
 * many samples: a heap string the caller frees, or NULL. */
char *promtext_label_block(const struct promtext_label *labels, size_t n);
void promtext_sample_block(struct evbuffer *out, const char *name, const char *block, double value);
/* A label value as the format wants it inside its quotes: backslash, double
 * quote and newline escaped; bytes that are not UTF-8 become U+FFFD. */
void promtext_escape_label(struct evbuffer *out, const char *value);

/* A histogram's state: counts[i] for observations <= bounds[i] and not in
 * an earlier bucket, counts[nbounds] for the rest. */
struct promtext_histogram {
	const double *bounds;   /* increasing */
	size_t nbounds;
	uint64_t *counts;       /* nbounds + 1 */
	double sum;
	uint64_t count;
};
void promtext_observe(struct promtext_histogram *h, double value);
/* name_bucket{le=...} (cumulative, +Inf last), name_sum, name_count. */
void promtext_histogram(struct evbuffer *out, const char *name, const struct promtext_label *labels,
			size_t n, const struct promtext_histogram *h);

#endif
