/* fuzz_template.c — libFuzzer target for the ${{ }} language (template.c):
 * any text either expands or is refused with a one-line reason; an expansion
 * holds every literal byte and one value per reference, in order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/engine/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
	fprintf(stderr, "fuzz_template: %s\n", what);
	abort();
}

/* Every reference resolves to "@": the expansion is the text with each
 * ${{ ... }} replaced by one '@'. */
static char *at(void *arg, const struct template_ref *ref, char *err, size_t err_size)
{
	size_t *refs = arg;

	(void)err;
	(void)err_size;
	if (ref->text[0] == '\0' || strlen(ref->text) > TEMPLATE_REF_MAX)
		die("a reference parsed empty or over-long");
	(*refs)++;
	return strdup("@");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *out, err[1024] = "";
	size_t refs = 0, len;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';   /* an input value is a C string */
	len = strlen(text);
	out = template_expand(text, at, &refs, err, sizeof(err));
	if (out == NULL) {
		if (err[0] == '\0' || strchr(err, '\n') != NULL)
			die("a refusal is not one line");
	} else {
		if (strlen(out) + refs * 5 > len)
			die("the expansion is longer than the text allows");
		if (refs == 0 && strcmp(out, text) != 0)
			die("text without references changed");
		free(out);
	}
	free(text);
	return 0;
}
