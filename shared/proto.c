/* proto.c — glue between the frame/message codec and a TLS connection.
 * Owns nothing but the bounded extraction of one frame at a time. */
#include "shared/proto.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "shared/frame.h"
#include "shared/tls.h"

int proto_read(struct evbuffer *in, size_t max_frame, struct msg *out, char *err, size_t err_size)
{
	uint8_t header[FRAME_HEADER_LEN];
	size_t have = evbuffer_get_length(in), payload_len = 0;
	ssize_t copied;
	enum frame_status status;
	uint8_t *frame;
	int rc;

	copied = evbuffer_copyout(in, header, have < sizeof(header) ? have : sizeof(header));
	if (copied < 0) {
		snprintf(err, err_size, "cannot read input buffer");
		return -1;
	}
	if (copied < FRAME_HEADER_LEN)
		return 0;
	/* Only the header is looked at here, so NEED_MORE just means the
	 * payload is not all there yet; the length is known either way. */
	status = frame_peek(header, FRAME_HEADER_LEN, max_frame, &payload_len);
	if (status != FRAME_OK && status != FRAME_NEED_MORE) {
		snprintf(err, err_size, "frame of %zu bytes: %s", payload_len, frame_status_str(status));
		return -1;
	}
	if (have < FRAME_HEADER_LEN + payload_len)
		return 0;
	frame = evbuffer_pullup(in, (ssize_t)(FRAME_HEADER_LEN + payload_len));
	if (frame == NULL) {
		snprintf(err, err_size, "out of memory for a %zu-byte frame", payload_len);
		return -1;
	}
	rc = msg_decode(frame + FRAME_HEADER_LEN, payload_len, out, err, err_size);
	evbuffer_drain(in, FRAME_HEADER_LEN + payload_len);
	return rc == 0 ? 1 : -1;
}

int proto_send(struct tls_conn *conn, const struct msg *m)
{
	size_t len;
	uint8_t *frame = msg_encode_frame(m, FRAME_MAX_DEFAULT, &len);
	int rc;

	if (frame == NULL)
		return -1;
	rc = tls_conn_write(conn, frame, len);
	free(frame);
	return rc;
}
