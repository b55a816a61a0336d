/* fuzz_bundle.c — libFuzzer target for the bundle reader (bundle.c): hostile tar
 * bytes; a refusal leaves nothing, nothing escapes, accepted bundles repack. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/bundle.h"
#include "shared/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static void cleanup(void)
{
	if (base[0] != '\0')
		util_remove_tree(base);
}

static void make_base(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/fuzz_bundle.XXXXXX",
		 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(cleanup);
}

/* What unpacked must pack again, and that must unpack and pack to the same
 * bytes: the reader accepted nothing the writer cannot express. */
static void check_repack(const char *dir)
{
	char again[128], err[256];
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;

	snprintf(again, sizeof(again), "%s/again", base);
	if (bundle_pack_dir(dir, &a, &alen, err, sizeof(err)) != 0) {
		fprintf(stderr, "accepted bundle does not repack: %s\n", err);
		abort();
	}
	if (bundle_unpack(a, alen, again, err, sizeof(err)) != 0) {
		fprintf(stderr, "repacked bundle does not unpack: %s\n", err);
		abort();
	}
	if (bundle_pack_dir(again, &b, &blen, err, sizeof(err)) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0) {
		fprintf(stderr, "repack is not a fixed point\n");
		abort();
	}
	free(a);
	free(b);
	util_remove_tree(again);
}

/* Once dest is removed, base must be empty: nothing was written beside it. */
static void check_nothing_escaped(void)
{
	struct dirent *de;
	DIR *d = opendir(base);

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			fprintf(stderr, "%s/%s written outside dest\n", base, de->d_name);
			abort();
		}
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dest[128], err[256];
	struct stat st;

	if (base[0] == '\0')
		make_base();
	snprintf(dest, sizeof(dest), "%s/d", base);
	memset(err, 0, sizeof(err));
	if (bundle_unpack(data, size, dest, err, sizeof(err)) == 0) {
		check_repack(dest);
		util_remove_tree(dest);
		check_nothing_escaped();
		return 0;
	}
	if (err[0] == '\0' || strchr(err, '\n') != NULL) {
		fprintf(stderr, "bad refusal message: \"%s\"\n", err);
		abort();
	}
	if (lstat(dest, &st) == 0) {
		fprintf(stderr, "refused bundle left %s behind: %s\n", dest, err);
		abort();
	}
	check_nothing_escaped();
	return 0;
}
