/* fuzz_journal.c — libFuzzer target for the agent journal's record parser
 * (journal_scan): whatever a crash or a disk left in the file, the parser
 * stays inside the buffer, and the prefix it accepts parses the same again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "shared/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const uint8_t *data;
	size_t size;
	size_t records;
	size_t payload_bytes;
};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_journal: %s\n", what);
	abort();
}

static void check_record(void *arg, char kind, const char *id, int64_t when,
			 const uint8_t *payload, size_t payload_len, size_t offset)
{
	struct seen *s = arg;

	if (kind != 'R' && kind != 'D' && kind != 'A')
		die("unknown record kind");
	if (!util_name_ok(id, JOURNAL_ID_MAX))
		die("bad id accepted");
	if (when < 0)
		die("negative time");
	if (kind == 'D') {
		if (payload == NULL || payload_len == 0 || offset + payload_len > s->size ||
		    payload != s->data + offset)
			die("frame outside the buffer");
		s->payload_bytes += payload_len;
	} else if (payload != NULL || payload_len != 0) {
		die("payload on a record that has none");
	}
	s->records++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen first = {data, size, 0, 0}, again;
	size_t good = journal_scan(data, size, check_record, &first);

	if (good > size)
		die("prefix longer than the input");
	if (good > 0 && data[good - 1] != '\n')
		die("accepted prefix does not end a record");
	again = (struct seen){data, good, 0, 0};
	if (journal_scan(data, good, check_record, &again) != good ||
	    again.records != first.records || again.payload_bytes != first.payload_bytes)
		die("the accepted prefix parses differently on its own");
	return 0;
}
