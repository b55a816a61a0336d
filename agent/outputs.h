/* outputs.h — parser for a task's $OVERCLOUD_OUTPUT file (key=value lines and
 * key<<DELIM heredocs, see tower/roles/README.md). No I/O: bytes in, map out. */
#ifndef OC_OUTPUTS_H
#define OC_OUTPUTS_H

#include <stddef.h>

#include "shared/msg.h"

#define OUTPUTS_FILE_MAX (1024 * 1024) /* whole file; the reader enforces it */
#define OUTPUTS_KEY_MAX 64              /* bytes of [a-z0-9_] */
#define OUTPUTS_VALUE_MAX (64 * 1024)   /* bytes per value */
#define OUTPUTS_COUNT_MAX 1024          /* distinct keys per file */

/* Parses len bytes of text (need not be NUL-terminated). declared is a
 * NULL-terminated list of allowed keys, or NULL for any. A repeated key keeps
 * its last value. On 0, out holds heap copies the caller frees with
 * outputs_clear(); on -1, err holds "line N: ..." and out is empty. */
int outputs_parse(const char *text, size_t len, const char *const *declared,
		  struct msg_strmap *out, char *err, size_t err_size);
void outputs_clear(struct msg_strmap *m);

#endif
