/* fuzz_config.c — libFuzzer target for the tower's INI parser: any bytes
 * either parse into entries that read back, or fail with a FILE:LINE error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	struct config *cfg = config_parse("fuzz.conf", (const char *)data, size, err, sizeof(err));

	if (cfg == NULL) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	if (config_count(cfg) > size)
		abort();
	(void)config_get(cfg, "aws", "region");
	config_free(cfg);
	return 0;
}
