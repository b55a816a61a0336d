/* fuzz_mask.c — libFuzzer target for the secret masker (shared/mask.c).
 * Input: up to 4 secrets separated by NUL, a second NUL, then the text and
 * the piece sizes come from the input too. Checks: feeding the text in
 * pieces gives exactly the whole-text result; nothing is held back beyond
 * the longest secret; no secret without '*' survives whole, nor its first or
 * last MASK_PART_MIN bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	uint8_t *buf;
	size_t len, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_mask: %s\n", what);
	abort();
}

static void out_emit(void *ctx, const uint8_t *p, size_t n)
{
	struct out *o = ctx;

	if (o->len + n > o->cap)
		die("output over 3 bytes per input byte");
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static bool contains(const struct out *o, const uint8_t *needle, size_t n)
{
	if (n == 0 || n > o->len)
		return false;
	for (size_t i = 0; i + n <= o->len; i++)
		if (memcmp(o->buf + i, needle, n) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *secrets[4], *text, *end = data + size, *p = data;
	size_t secret_len[4], nsecrets = 0, text_len;
	struct mask *m = mask_new();
	struct out whole = {0}, pieces = {0};
	uint8_t *held = NULL;
	uint8_t step;

	if (m == NULL || size < 2)
		goto out;
	step = (uint8_t)(data[0] % 31 + 1);
	p++;
	/* secrets up to the first empty one (two NULs) or four */
	while (p < end && nsecrets < 4) {
		const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL || nul == p)
			break;
		secrets[nsecrets] = p;
		secret_len[nsecrets] = (size_t)(nul - p);
		if (mask_add(m, p, secret_len[nsecrets]) != 0)
			die("mask_add failed");
		nsecrets++;
		p = nul + 1;
	}
	text = p;
	text_len = (size_t)(end - p);
	whole.cap = pieces.cap = 3 * text_len + 1;
	whole.buf = malloc(whole.cap);
	pieces.buf = malloc(pieces.cap);
	held = malloc(text_len + 1);
	if (whole.buf == NULL || pieces.buf == NULL || held == NULL)
		goto out;
	if (mask_stream(m, text, text_len, true, out_emit, &whole) != text_len)
		die("eof left bytes unconsumed");

	size_t held_len = 0, pos = 0;
	while (pos < text_len) {
		size_t n = text_len - pos < step ? text_len - pos : step, used;
		memcpy(held + held_len, text + pos, n);
		held_len += n;
		pos += n;
		used = mask_stream(m, held, held_len, false, out_emit, &pieces);
		if (used > held_len)
			die("consumed more than given");
		held_len -= used;
		if (held_len > 0 && held_len >= mask_longest(m))
			die("held back more than the longest secret");
		memmove(held, held + used, held_len);
	}
	if (mask_stream(m, held, held_len, true, out_emit, &pieces) != held_len)
		die("eof left held bytes unconsumed");
	if (pieces.len != whole.len || memcmp(pieces.buf, whole.buf, whole.len) != 0)
		die("pieces and whole masked differently");

	for (size_t k = 0; k < nsecrets; k++) {
		size_t n = secret_len[k];
		if (memchr(secrets[k], '*', n) != NULL)
			continue;   /* "***" may spell part of it */
		if (contains(&whole, secrets[k], n))
			die("a whole secret survived");
		if (n >= MASK_PART_MIN && (contains(&whole, secrets[k], MASK_PART_MIN) ||
					   contains(&whole, secrets[k] + n - MASK_PART_MIN, MASK_PART_MIN)))
			die("a prefix or suffix of MASK_PART_MIN bytes survived");
	}
out:
	free(held);
	free(whole.buf);
	free(pieces.buf);
	mask_free(m);
	return 0;
}
