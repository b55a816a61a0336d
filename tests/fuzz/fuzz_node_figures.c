/* fuzz_node_figures.c — libFuzzer target for nodemetrics_figures_parse: any
 * bytes as a node row's figures text (another replica wrote it into the
 * shared database); what parses must format back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tower/metrics/nodemetrics.h"
#include "tower/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct node_figures f;
	char again[STORE_NODE_FIGURES_MAX];
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (nodemetrics_figures_parse(text, &f) == 0 &&
	    (nodemetrics_figures_format(&f, again, sizeof(again)) != 0 || strcmp(again, text) != 0))
		abort();
	free(text);
	return 0;
}
