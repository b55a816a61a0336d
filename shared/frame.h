/* frame.h — the agent protocol's framing: a 4-byte big-endian length, then
 * that many bytes holding one msgpack map. Lengths over the cap are refused. */
#ifndef OC_FRAME_H
#define OC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4
#define FRAME_MAX_DEFAULT (1024u * 1024u)

enum frame_status {
	FRAME_OK = 0,      /* a whole frame is there: *payload_len is its size */
	FRAME_NEED_MORE,   /* fewer than header + payload bytes are available */
	FRAME_TOO_BIG,     /* declared length over max: close the connection */
	FRAME_EMPTY,       /* declared length 0: close the connection */
};

/* Looks at the first avail bytes of buf (avail may be < 4). Never reads past
 * avail. *payload_len is set whenever the header could be read. */
enum frame_status frame_peek(const uint8_t *buf, size_t avail, size_t max, size_t *payload_len);
/* Writes the 4-byte header for a payload of len bytes. */
void frame_write_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len);
const char *frame_status_str(enum frame_status status);

#endif
