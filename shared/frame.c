/* frame.c — the 4-byte big-endian length prefix of agent-protocol frames.
 * Owns header reading and writing and the size cap; payloads are msg.c's. */
#include "shared/frame.h"

enum frame_status frame_peek(const uint8_t *buf, size_t avail, size_t max, size_t *payload_len)
{
	uint32_t len;

	if (avail < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	      (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	if (payload_len != NULL)
		*payload_len = len;
	/* Refuse before waiting for the body: a peer announcing 4 GiB must be
	 * closed now, not after we have buffered the cap. */
	if (len == 0)
		return FRAME_EMPTY;
	if (len > max)
		return FRAME_TOO_BIG;
	if (avail - FRAME_HEADER_LEN < len)
		return FRAME_NEED_MORE;
	return FRAME_OK;
}

void frame_write_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

const char *frame_status_str(enum frame_status status)
{
	switch (status) {
	case FRAME_OK:
		return "ok";
	case FRAME_NEED_MORE:
		return "need more bytes";
	case FRAME_TOO_BIG:
		return "frame over size limit";
	case FRAME_EMPTY:
		return "empty frame";
	}
	return "unknown frame status";
}
