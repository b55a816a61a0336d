/* fuzz_msg.c — libFuzzer target for the agent wire format (frame.c, msg.c).
 * Decodes hostile bytes; whatever decodes must re-encode to a fixed point. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/frame.h"
#include "shared/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* encode(m) must decode again, and encoding that result must give the very
 * same bytes: nothing was lost or altered on the way through. */
static void check_roundtrip(const struct msg *m)
{
	struct msg again;
	size_t len, len2 = 0, payload_len = 0;
	uint8_t *frame, *frame2;
	char err[256];

	frame = msg_encode_frame(m, UINT32_MAX, &len);
	if (frame == NULL) {
		fprintf(stderr, "decoded %s message does not re-encode\n", msg_type_name(m->type));
		abort();
	}
	if (frame_peek(frame, len, UINT32_MAX, &payload_len) != FRAME_OK ||
	    payload_len + FRAME_HEADER_LEN != len) {
		fprintf(stderr, "re-encoded %s has a bad frame header\n", msg_type_name(m->type));
		abort();
	}
	if (msg_decode(frame + FRAME_HEADER_LEN, payload_len, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "re-encoded %s does not decode: %s\n", msg_type_name(m->type), err);
		abort();
	}
	if (again.type != m->type)
		abort();
	frame2 = msg_encode_frame(&again, UINT32_MAX, &len2);
	if (frame2 == NULL || len2 != len || memcmp(frame, frame2, len) != 0) {
		fprintf(stderr, "%s changed on a second round trip\n", msg_type_name(m->type));
		abort();
	}
	free(frame2);
	free(frame);
	msg_clear(&again);
}

static void decode_one(const uint8_t *payload, size_t len)
{
	struct msg m;
	char err[256];

	memset(err, 0, sizeof(err));
	if (msg_decode(payload, len, &m, err, sizeof(err)) == 0) {
		check_roundtrip(&m);
		msg_clear(&m);
		return;
	}
	if (err[0] == '\0' || strchr(err, '\n') != NULL || !all_zero(&m, sizeof(m))) {
		fprintf(stderr, "bad failure: \"%s\"\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t payload_len = 0;

	if (frame_peek(data, size, FRAME_MAX_DEFAULT, &payload_len) == FRAME_OK)
		decode_one(data + FRAME_HEADER_LEN, payload_len);
	decode_one(data, size);
	return 0;
}
