/* promtext.c — the Prometheus text exposition format, written into an
 * evbuffer; what the tower exports is exporter.c's and telemetry.c's. */
#include "tower/metrics/promtext.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* Length of the valid UTF-8 sequence at s, or 0 (overlong forms, surrogates
 * and code points over U+10FFFF are not valid). */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* Escapes backslash and newline always, the double quote only inside label
 * values (HELP text keeps it, as the format says). */
static void escape(struct evbuffer *out, const char *text, bool quote)
{
	const unsigned char *s = (const unsigned char *)text;

	while (*s != '\0') {
		size_t n = utf8_len(s), plain = 0;

		/* A run of printable ASCII that needs nothing goes in one piece. */
		while (s[plain] >= 0x20 && s[plain] < 0x7f && s[plain] != '\\' && s[plain] != '"')
			plain++;
		if (plain > 0) {
			evbuffer_add(out, s, plain);
			s += plain;
			continue;
		}
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (*s == '"' && quote)
			evbuffer_add(out, "\\\"", 2);
		else if (n == 0)
			evbuffer_add(out, "\xef\xbf\xbd", 3);
		else
			evbuffer_add(out, s, n);
		s += n ? n : 1;
	}
}

void promtext_escape_label(struct evbuffer *out, const char *value)
{
	escape(out, value, true);
}

void promtext_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s ", name);
	escape(out, help, false);
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* The shortest %g form that reads back as v (0.42, not 0.41999999999999998). */
static const char *shortest(double v, char *text, size_t size)
{
	for (int precision = 1; precision < 17; precision++) {
		snprintf(text, size, "%.*g", precision, v);
		if (strtod(text, NULL) == v)
			return text;
	}
	snprintf(text, size, "%.17g", v);
	return text;
}

static void write_value(struct evbuffer *out, double v)
{
	char text[32];

	if (isnan(v))
		evbuffer_add(out, "NaN", 3);
	else if (isinf(v))
		evbuffer_add_printf(out, "%sInf", v > 0 ? "+" : "-");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		evbuffer_add_printf(out, "%.0f", v);
	else
		evbuffer_add_printf(out, "%s", shortest(v, text, sizeof(text)));
}

static void write_labels(struct evbuffer *out, const struct promtext_label *labels, size_t n,
			 const char *le)
{
	if (n == 0 && le == NULL)
		return;
	evbuffer_add(out, "{", 1);
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", labels[i].name);
		promtext_escape_label(out, labels[i].value != NULL ? labels[i].value : "");
		evbuffer_add(out, "\"", 1);
	}
	if (le != NULL)
		evbuffer_add_printf(out, "%sle=\"%s\"", n ? "," : "", le);
	evbuffer_add(out, "}", 1);
}

char *promtext_label_block(const struct promtext_label *labels, size_t n)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *text;

	if (b == NULL)
		return NULL;
	write_labels(b, labels, n, NULL);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	if (text != NULL) {
		evbuffer_remove(b, text, len);
		text[len] = '\0';
	}
	evbuffer_free(b);
	return text;
}

void promtext_sample_block(struct evbuffer *out, const char *name, const char *block, double value)
{
	evbuffer_add_printf(out, "%s%s ", name, block);
	write_value(out, value);
	evbuffer_add(out, "\n", 1);
}

void promtext_sample(struct evbuffer *out, const char *name, const struct promtext_label *labels,
		     size_t n, double value)
{
	evbuffer_add_printf(out, "%s", name);
	write_labels(out, labels, n, NULL);
	evbuffer_add(out, " ", 1);
	write_value(out, value);
	evbuffer_add(out, "\n", 1);
}

void promtext_observe(struct promtext_histogram *h, double value)
{
	size_t i = 0;

	while (i < h->nbounds && value > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += value;
	h->count++;
}

void promtext_histogram(struct evbuffer *out, const char *name, const struct promtext_label *labels,
			size_t n, const struct promtext_histogram *h)
{
	uint64_t cumulative = 0;
	char le[32];

	for (size_t i = 0; i <= h->nbounds; i++) {
		cumulative += h->counts[i];
		if (i < h->nbounds)
			snprintf(le, sizeof(le), "%g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		evbuffer_add_printf(out, "%s_bucket", name);
		write_labels(out, labels, n, le);
		evbuffer_add_printf(out, " %llu\n", (unsigned long long)cumulative);
	}
	evbuffer_add_printf(out, "%s_sum", name);
	write_labels(out, labels, n, NULL);
	evbuffer_add(out, " ", 1);
	write_value(out, h->sum);
	evbuffer_add_printf(out, "\n%s_count", name);
	write_labels(out, labels, n, NULL);
	evbuffer_add_printf(out, " %llu\n", (unsigned long long)h->count);
}
