/* fuzz_metrics.c — libFuzzer target: the agent's /proc parsers
 * (agent/metrics.c) on any bytes. The first byte picks the source; the
 * figures they give must stay consistent (available <= total). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_figures f;
	char *text;

	if (size == 0)
		return 0;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(&f, 0, sizeof(f));
	metrics_parse((enum metrics_source)(data[0] % 4), text, &f);
	if (f.have_mem && f.mem_available > f.mem_total)
		abort();
	if (f.have_cpu && f.cpu_busy > f.cpu_total)
		abort();
	free(text);
	return 0;
}
