/* proto.h — messages over a TLS connection: pulls whole frames out of the
 * input buffer and decodes them; encodes and queues outgoing messages. */
#ifndef OC_PROTO_H
#define OC_PROTO_H

#include <stddef.h>

#include "shared/msg.h"

struct evbuffer;
struct tls_conn;

/* Takes the next whole frame from in and decodes it into *out.
 * Returns 1 (a message; msg_clear it), 0 (need more bytes), or -1 with a
 * one-line reason in err (the connection must be closed). */
int proto_read(struct evbuffer *in, size_t max_frame, struct msg *out, char *err, size_t err_size);
/* Encodes and queues m. Returns 0 or -1. */
int proto_send(struct tls_conn *conn, const struct msg *m);

#endif
