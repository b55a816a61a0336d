/* fuzz_ticket_keyrow.c — libFuzzer target for ticket_row_open: arbitrary
 * bytes as the sealed text of a ticket key row read from the database,
 * against a fixed key-encryption key and generation, so the seed corpus can
 * hold a row that opens (made with FUZZ_KEYROW_SEAL=FILE, see below). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "tower/fleet/ticket_row.h"

#define FUZZ_GENERATION 7

/* Fixed on purpose: tests/fuzz/corpus/fuzz_ticket_keyrow/ holds rows sealed
 * with it. */
static const uint8_t fuzz_kek[TICKET_KEK_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static void fuzz_seal_once(void)
{
	static int done;
	const char *seal_to = getenv("FUZZ_KEYROW_SEAL");
	struct ticket_key_material m;
	char text[TICKET_ROW_TEXT_LEN + 1];

	if (done || seal_to == NULL)
		return;
	done = 1;
	memset(&m, 0x5a, sizeof(m));
	if (ticket_row_seal(fuzz_kek, FUZZ_GENERATION, &m, text, sizeof(text)) != 0 ||
	    util_write_file(seal_to, text, strlen(text), 0644) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ticket_key_material out;
	/* a copy of exactly size bytes: the parser must not read past len */
	char *copy = malloc(size ? size : 1);

	fuzz_seal_once();
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (ticket_row_open(fuzz_kek, FUZZ_GENERATION, copy, size, &out) == 0 &&
	    size != TICKET_ROW_TEXT_LEN)
		abort();	/* only a row of the one length ever opens */
	free(copy);
	return 0;
}
