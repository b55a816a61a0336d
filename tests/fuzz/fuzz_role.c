/* fuzz_role.c — libFuzzer target for role.yaml loading (role.c, libfyaml): a
 * refusal is one "FILE[:LINE]: reason" line, a loaded role is consistent. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/bundle.h"
#include "shared/util.h"
#include "tower/engine/role.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static char yaml[128];

static void cleanup(void)
{
	if (base[0] != '\0')
		util_remove_tree(base);
}

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (util_write_file(path, text, strlen(text), mode) != 0) {
		perror(path);
		abort();
	}
}

/* <base>/fz/{apply,remove,lib/x.sh} and what it may include,
 * <base>/_shared/{lib.sh,node.sh,tool,apply,dir/} (the first two for the
 * real roles' seeds), once; role.yaml per input. */
static void make_base(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[160];

	snprintf(base, sizeof(base), "%s/fuzz_role.XXXXXX",
		 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/fz/lib", base);
	if (util_mkdir_p(path, 0755) != 0)
		abort();
	put("fz/apply", "#!/bin/sh\nexit 0\n", 0755);
	put("fz/remove", "#!/bin/sh\nexit 0\n", 0755);
	put("fz/lib/x.sh", "x=1\n", 0644);
	snprintf(path, sizeof(path), "%s/" ROLE_SHARED_DIR "/dir", base);
	if (util_mkdir_p(path, 0755) != 0)
		abort();
	put(ROLE_SHARED_DIR "/lib.sh", "y=1\n", 0644);
	put(ROLE_SHARED_DIR "/node.sh", "z=1\n", 0644);
	put(ROLE_SHARED_DIR "/tool", "#!/bin/sh\nexit 0\n", 0755);
	put(ROLE_SHARED_DIR "/apply", "#!/bin/sh\nexit 1\n", 0755);
	snprintf(yaml, sizeof(yaml), "%s/fz/role.yaml", base);
}

static void check_role(const struct role *role)
{
	char hash[65];

	if (strcmp(role->name, "fz") != 0 || role->description == NULL || role->arch_count == 0 ||
	    role->step_count == 0 || role->timeout_s <= 0 || role->timeout_s > 86400 ||
	    role->retries < 0 || role->retries > 10)
		abort();
	for (size_t i = 0; i < role->step_count; i++) {
		const struct role_step *st = &role->steps[i];

		if (role_find_step(role, st->name) != st || st->script == NULL ||
		    st->timeout_s <= 0 || st->timeout_s > 86400 || st->retries < 0 || st->retries > 10)
			abort();
	}
	for (size_t i = 0; i < role->input_count; i++)
		if (role_find_input(role, role->inputs[i].name) != &role->inputs[i])
			abort();
	for (size_t i = 0; i < role->output_count; i++)
		if (role_find_output(role, role->outputs[i].name) != &role->outputs[i])
			abort();
	/* Includes are plain names of the shared dir's regular files, once each,
	 * never one the role dir has itself. */
	for (size_t i = 0; i < role->include_count; i++) {
		const char *inc = role->includes[i];
		char path[256];
		struct stat st;

		if (inc[0] == '.' || strchr(inc, '/') != NULL)
			abort();
		snprintf(path, sizeof(path), "%s/" ROLE_SHARED_DIR "/%s", base, inc);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			abort();
		snprintf(path, sizeof(path), "%s/fz/%s", base, inc);
		if (lstat(path, &st) == 0)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(role->includes[j], inc) == 0)
				abort();
	}
	util_sha256_hex(role->bundle, role->bundle_len, hash);
	if (strcmp(hash, role->bundle_hash) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct role *role;
	char err[512];
	int fd;

	if (base[0] == '\0')
		make_base();
	/* No fsync per input: util_write_file would make the fuzzer crawl. */
	fd = open(yaml, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		abort();
	memset(err, 0, sizeof(err));
	role = role_load(base, "fz", err, sizeof(err));
	if (role != NULL) {
		check_role(role);
		role_free(role);
		return 0;
	}
	/* One line that starts with the file it is about. */
	if (strncmp(err, base, strlen(base)) != 0 || strchr(err, '\n') != NULL) {
		fprintf(stderr, "bad refusal message: \"%s\"\n", err);
		abort();
	}
	return 0;
}
