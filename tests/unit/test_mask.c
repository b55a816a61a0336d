/* test_mask.c — the one secret masker (shared/mask.c) of agent and tower:
 * longest match, prefixes and suffixes of 8 bytes or more, short secrets only
 * whole, streaming in pieces equal to masking the whole, an 817-byte session
 * token cut short inside a cloud message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/mask.h"

struct out {
	char buf[8192];
	size_t len;
};

static void out_emit(void *ctx, const uint8_t *p, size_t n)
{
	struct out *o = ctx;

	assert_true(o->len + n < sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static struct mask *mask_of(const char *const *secrets)
{
	struct mask *m = mask_new();

	assert_non_null(m);
	for (; *secrets != NULL; secrets++)
		assert_int_equal(mask_add(m, *secrets, strlen(*secrets)), 0);
	return m;
}

static void expect_masked(const struct mask *m, const char *in, const char *want)
{
	char *got = mask_text(m, in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_whole_and_longest(void **state)
{
	static const char *const secrets[] = {"Hunter2", "Hunter2-s3cret", "", NULL};
	struct mask *m = mask_of(secrets);

	assert_int_equal(mask_count(m), 2);   /* the empty one is ignored */
	assert_int_equal(mask_longest(m), 14);
	/* The longer secret wins where both start; a first-match masker would
	 * have left "-s3cret" behind. */
	expect_masked(m, "pw=Hunter2-s3cret;", "pw=***;");
	expect_masked(m, "short Hunter2 x", "short *** x");
	expect_masked(m, "nothing here", "nothing here");
	expect_masked(m, "", "");
	mask_free(m);
}

static void test_prefix_suffix_rule(void **state)
{
	static const char *const secrets[] = {"ABCDEFGHIJKLMNOP", "tiny", NULL};
	struct mask *m = mask_of(secrets);

	/* a prefix or suffix of 8 or more bytes is masked, anywhere */
	expect_masked(m, "cut: ABCDEFGH", "cut: ***");
	expect_masked(m, "cut: ABCDEFGHIJ and on", "cut: *** and on");
	expect_masked(m, "IJKLMNOP was the end", "*** was the end");
	expect_masked(m, "xHIJKLMNOPx", "x***x");
	/* 7 bytes give nothing away: kept */
	expect_masked(m, "ABCDEFG", "ABCDEFG");
	expect_masked(m, "JKLMNOP.", "JKLMNOP.");
	/* an inner piece that is neither prefix nor suffix is no match */
	expect_masked(m, "CDEFGHIJKLMN", "CDEFGHIJKLMN");
	/* a short secret only whole */
	expect_masked(m, "tin tiny tinyy", "tin *** ***y");
	mask_free(m);
}

static void test_null_and_empty(void **state)
{
	struct mask *m = mask_new();
	struct out o = {0};

	assert_int_equal(mask_stream(NULL, (const uint8_t *)"abc", 3, false, out_emit, &o), 3);
	assert_int_equal(mask_stream(m, (const uint8_t *)"def", 3, false, out_emit, &o), 3);
	assert_string_equal(o.buf, "abcdef");
	expect_masked(NULL, "plain", "plain");
	/* a one-byte secret grows to three: the buffer is sized for it */
	assert_int_equal(mask_add(m, "x", 1), 0);
	expect_masked(m, "xxxx", "************");
	mask_free(m);
}

/* Feeds text in pieces of `step` bytes, keeping what mask_stream holds back. */
static void stream_in_pieces(const struct mask *m, const char *text, size_t step, struct out *o)
{
	char held[4096];
	size_t held_len = 0, len = strlen(text), pos = 0;

	while (pos < len) {
		size_t n = len - pos < step ? len - pos : step, used;
		memcpy(held + held_len, text + pos, n);
		held_len += n;
		pos += n;
		used = mask_stream(m, (const uint8_t *)held, held_len, false, out_emit, o);
		assert_true(held_len - used < (mask_longest(m) ? mask_longest(m) : 1));
		memmove(held, held + used, held_len - used);
		held_len -= used;
	}
	assert_int_equal(mask_stream(m, (const uint8_t *)held, held_len, true, out_emit, o), held_len);
}

static void test_streaming_equals_whole(void **state)
{
	static const char *const secrets[] = {"Hunter2", "Hunter2-s3cret", "ABCDEFGHIJKLMNOP", NULL};
	static const char *const texts[] = {
		"split: Hunter2-s3cret done\n",
		"tail Hunter",
		"cut ABCDEFGHIJ|IJKLMNOP|ABCDEFGHIJKLMNOP|Hunter2-s3cre|Hunter2",
		"ABCDEFG",
	};
	struct mask *m = mask_of(secrets);

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		char *whole = mask_text(m, texts[t]);
		assert_non_null(whole);
		for (size_t step = 1; step <= strlen(texts[t]); step++) {
			struct out o = {0};
			stream_in_pieces(m, texts[t], step, &o);
			assert_string_equal(o.buf, whole);
		}
		free(whole);
	}
	/* A piece that may still become a secret is held back, not emitted. */
	struct out o = {0};
	assert_int_equal(mask_stream(m, (const uint8_t *)"ok Hunt", 7, false, out_emit, &o), 3);
	assert_string_equal(o.buf, "ok ");
	mask_free(m);
}

/* No 8-byte window of secret appears in text. */
static void assert_no_piece_of(const char *text, const char *secret)
{
	char window[9];

	for (size_t i = 0; i + 8 <= strlen(secret); i++) {
		memcpy(window, secret + i, 8);
		window[8] = '\0';
		assert_null(strstr(text, window));
	}
}

/* Issue 17 item 6: an 817-byte session token quoted inside an AWS message
 * that is then cut to 320 bytes. Masked first, nothing of it is left. */
static void test_long_token_in_cut_message(void **state)
{
	char token[818], message[2048], cut[321];
	struct mask *m = mask_new();
	char *masked;

	for (size_t i = 0; i < 817; i++)
		token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7 + i / 64) % 64];
	token[817] = '\0';
	assert_int_equal(mask_add(m, token, 817), 0);
	snprintf(message, sizeof(message),
		 "The request signature we calculated does not match the signature you provided. "
		 "The canonical string for this request should have been 'POST / "
		 "x-amz-security-token:%s'", token);
	masked = mask_text(m, message);
	assert_non_null(masked);
	snprintf(cut, sizeof(cut), "%s", masked);
	assert_no_piece_of(cut, token);
	assert_non_null(strstr(cut, "x-amz-security-token:***'"));
	free(masked);
	/* and cut first (the old order): the prefix rule still catches the piece */
	snprintf(cut, sizeof(cut), "%s", message);
	masked = mask_text(m, cut);
	assert_non_null(masked);
	assert_no_piece_of(masked, token);
	assert_non_null(strstr(masked, "x-amz-security-token:***"));
	free(masked);
	mask_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_and_longest),
		cmocka_unit_test(test_prefix_suffix_rule),
		cmocka_unit_test(test_null_and_empty),
		cmocka_unit_test(test_streaming_equals_whole),
		cmocka_unit_test(test_long_token_in_cut_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
