/* fuzz_httpclient_headers.c — libFuzzer target for the response-header
 * capture of tower/httpclient.c: hostile header lines (split at '\n') must
 * leave every captured value NUL-terminated inside its buffer (ASan checks
 * that nothing is written past it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/httpclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[8], b[64];
	struct httpclient_capture cap[2] = {
		{.name = "Retry-After", .value = a, .size = sizeof(a)},
		{.name = "X-Subject-Token", .value = b, .size = sizeof(b)},
	};
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		httpclient_capture_line(cap, 2, p, len);
		for (size_t i = 0; i < 2; i++) {
			if (cap[i].found && memchr(cap[i].value, '\0', cap[i].size) == NULL) {
				fprintf(stderr, "value %zu not terminated\n", i);
				abort();
			}
		}
		p += len;
	}
	return 0;
}
