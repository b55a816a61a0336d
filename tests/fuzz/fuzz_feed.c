/* fuzz_feed.c — libFuzzer target: a replica's change-feed note (a NOTIFY
 * payload another process may have sent) through feed_note_parse. A note it
 * accepts must format back to the very same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/store/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct feed_note note;
	static char again[FEED_PAYLOAD_MAX + 1];
	int len;

	if (feed_note_parse((const char *)data, size, &note) != 0)
		return 0;
	len = feed_note_format(&note, again, sizeof(again));
	if (len < 0 || (size_t)len != size || memcmp(again, data, size) != 0) {
		fprintf(stderr, "fuzz_feed: an accepted note does not format back the same\n");
		abort();
	}
	return 0;
}
