/* mask.c — the one secret masker of agent and tower (longest match, whole
 * secrets and their prefixes/suffixes of MASK_PART_MIN bytes or more).
 * Owns matching; where the text comes from and goes to is the caller's. */
#include "shared/mask.h"

#include <stdlib.h>
#include <string.h>

/* For each byte value b, the positions j of the secret where a match may
 * start with b: j = 0 (whole secret or a prefix) and every j whose suffix is
 * long enough (len - j >= MASK_PART_MIN), ascending, so the longest suffix
 * is tried first. */
struct mask_secret {
	uint8_t *bytes;
	size_t len;
	uint32_t *starts;           /* len entries at most */
	uint32_t first[257];        /* starts[first[b] .. first[b + 1]) */
};

struct mask {
	struct mask_secret *secrets;
	size_t count, longest;
	bool may_start[256];        /* a byte at which some match may start */
};

struct mask *mask_new(void)
{
	return calloc(1, sizeof(struct mask));
}

void mask_free(struct mask *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->count; i++) {
		explicit_bzero(m->secrets[i].bytes, m->secrets[i].len);
		free(m->secrets[i].bytes);
		free(m->secrets[i].starts);
	}
	free(m->secrets);
	free(m);
}

static bool start_allowed(size_t len, size_t j)
{
	return j == 0 || len - j >= MASK_PART_MIN;
}

int mask_add(struct mask *m, const void *secret, size_t len)
{
	struct mask_secret *grown, *s;
	uint32_t count[256] = {0};

	if (len == 0)
		return 0;
	if (len > UINT32_MAX)
		return -1;
	grown = realloc(m->secrets, (m->count + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	m->secrets = grown;
	s = &m->secrets[m->count];
	memset(s, 0, sizeof(*s));
	s->bytes = malloc(len);
	s->starts = malloc(len * sizeof(*s->starts));
	if (s->bytes == NULL || s->starts == NULL) {
		free(s->bytes);
		free(s->starts);
		return -1;
	}
	memcpy(s->bytes, secret, len);
	s->len = len;
	for (size_t j = 0; j < len; j++)
		if (start_allowed(len, j))
			count[s->bytes[j]]++;
	for (size_t b = 0; b < 256; b++)
		s->first[b + 1] = s->first[b] + count[b];
	memset(count, 0, sizeof(count));
	for (size_t j = 0; j < len; j++) {
		uint8_t b = s->bytes[j];
		if (start_allowed(len, j)) {
			s->starts[s->first[b] + count[b]++] = (uint32_t)j;
			m->may_start[b] = true;
		}
	}
	if (len > m->longest)
		m->longest = len;
	m->count++;
	return 0;
}

size_t mask_count(const struct mask *m)
{
	return m != NULL ? m->count : 0;
}

size_t mask_longest(const struct mask *m)
{
	return m != NULL ? m->longest : 0;
}

/* The longest match of secret s starting at p[0..left); *partial when the
 * text ends (not eof) while still matching, so more bytes could make it longer. */
static size_t match_secret(const struct mask_secret *s, const uint8_t *p, size_t left, bool eof,
			   bool *partial)
{
	uint8_t b = p[0];
	size_t best = 0;

	for (uint32_t k = s->first[b]; k < s->first[b + 1]; k++) {
		size_t j = s->starts[k], need = s->len - j;

		if (j == 0) {
			/* the whole secret, or a prefix of at least MASK_PART_MIN */
			size_t n = left < s->len ? left : s->len, l = 0;
			while (l < n && p[l] == s->bytes[l])
				l++;
			if (l == s->len) {
				best = l;
			} else {
				if (l == left && !eof)
					*partial = true;
				if (l >= MASK_PART_MIN && l > best)
					best = l;
			}
		} else if (left >= need) {
			/* every suffix ends with the secret's last byte: a cheap first
			 * look before comparing it whole */
			if (p[need - 1] == s->bytes[s->len - 1] && memcmp(p, s->bytes + j, need) == 0) {
				if (need > best)
					best = need;
				break;   /* the later starts are shorter suffixes */
			}
		} else if (!eof && memcmp(p, s->bytes + j, left) == 0) {
			*partial = true;
		}
	}
	return best;
}

size_t mask_stream(const struct mask *m, const uint8_t *p, size_t len, bool eof,
		   mask_emit_fn emit, void *ctx)
{
	size_t i = 0, plain = 0;

	if (m == NULL || m->count == 0) {
		if (len > 0)
			emit(ctx, p, len);
		return len;
	}
	while (i < len) {
		size_t best = 0;
		bool partial = false;

		if (!m->may_start[p[i]]) {
			i++;
			continue;
		}
		for (size_t k = 0; k < m->count; k++) {
			size_t got = match_secret(&m->secrets[k], p + i, len - i, eof, &partial);
			if (got > best)
				best = got;
		}
		if (partial)
			break;
		if (best == 0) {
			i++;
			continue;
		}
		if (i > plain)
			emit(ctx, p + plain, i - plain);
		emit(ctx, (const uint8_t *)MASK_REPLACEMENT, sizeof(MASK_REPLACEMENT) - 1);
		i += best;
		plain = i;
	}
	if (i > plain)
		emit(ctx, p + plain, i - plain);
	return i;
}

struct text_out {
	char *buf;
	size_t len;
};

/* Into a buffer of 3 bytes per input byte: a whole secret of one byte grows
 * to "***", nothing grows more. */
static void text_emit(void *ctx, const uint8_t *p, size_t n)
{
	struct text_out *o = ctx;

	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

char *mask_text(const struct mask *m, const char *text)
{
	size_t len = strlen(text);
	struct text_out o = {malloc(3 * len + 1), 0};

	if (o.buf == NULL)
		return NULL;
	mask_stream(m, (const uint8_t *)text, len, true, text_emit, &o);
	o.buf[o.len] = '\0';
	return o.buf;
}
