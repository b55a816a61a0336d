/* fuzz_pattern.c — libFuzzer target for pattern loading (pattern.c, libfyaml):
 * a refusal is one "FILE[:LINE]: reason" line, a loaded pattern is consistent. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/engine/pattern.h"
#include "tower/engine/role.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static char yaml[128];
static struct role_set *roles;

static void cleanup(void)
{
	role_set_free(roles);
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

/* Two small roles, as in tests/unit/fixtures/patterns/roles (the corpus
 * uses their names): server outputs token and url, client needs token. */
static void make_base(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[160], err[512];

	snprintf(base, sizeof(base), "%s/fuzz_pattern.XXXXXX",
		 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/roles/server", base);
	if (util_mkdir_p(path, 0755) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/roles/client", base);
	if (util_mkdir_p(path, 0755) != 0)
		abort();
	put("roles/server/role.yaml",
	    "name: server\ntimeout: 10m\nretries: 2\ninputs:\n  - name: size\n    default: \"1\"\n"
	    "outputs:\n  - name: token\n    secret: true\n  - name: url\n"
	    "steps:\n  apply:\n    script: apply\n  remove:\n    script: remove\n", 0644);
	put("roles/client/role.yaml",
	    "name: client\ninputs:\n  - name: token\n    required: true\n  - name: url\n"
	    "    default: \"\"\n  - name: labels\noutputs:\n  - name: name\n"
	    "steps:\n  apply:\n    script: apply\n  remove:\n    script: remove\n", 0644);
	put("roles/server/apply", "#!/bin/sh\nexit 0\n", 0755);
	put("roles/server/remove", "#!/bin/sh\nexit 0\n", 0755);
	put("roles/client/apply", "#!/bin/sh\nexit 0\n", 0755);
	put("roles/client/remove", "#!/bin/sh\nexit 0\n", 0755);
	snprintf(path, sizeof(path), "%s/roles", base);
	roles = role_set_load(path, err, sizeof(err));
	if (roles == NULL) {
		fprintf(stderr, "fuzz roles: %s\n", err);
		abort();
	}
	snprintf(yaml, sizeof(yaml), "%s/fz.yaml", base);
}

/* dag: "create", "destroy" or "attach"; only the last two may run on the
 * attached nodes, and an attach DAG has a role step that does. */
static void check_dag(const struct pattern *p, const struct pattern_step *steps, size_t n,
		      const char *dag)
{
	bool on_attached = false;

	for (size_t i = 0; i < n; i++) {
		const struct pattern_step *st = &steps[i];

		if (pattern_find_step(steps, n, st->name) != st || st->line <= 0 ||
		    (st->role == NULL) == (st->action == NULL) || st->retries < 0 ||
		    st->retries > 10 || st->timeout_s <= 0 || st->timeout_s > 86400)
			abort();
		if (st->role != NULL) {
			const struct role *r = role_set_find(roles, st->role);

			if (r == NULL || role_find_step(r, st->role_step) == NULL || st->on == NULL)
				abort();
			if (strcmp(st->on, PATTERN_ATTACHED) == 0) {
				if (strcmp(dag, "create") == 0)
					abort();
				on_attached = true;
			} else if (strcmp(st->on, "all") != 0 && pattern_find_group(p, st->on) == NULL) {
				abort();
			}
			for (size_t k = 0; k < st->input_count; k++)
				if (role_find_input(r, st->inputs[k].name) == NULL ||
				    st->inputs[k].value == NULL)
					abort();
		} else if (st->on != NULL || st->role_step != NULL || st->input_count != 0 ||
			   (strcmp(dag, "attach") == 0 && strcmp(st->action, "record") != 0)) {
			abort();
		}
		for (size_t k = 0; k < st->require_count; k++)
			if (pattern_find_step(steps, n, st->requires[k]) == NULL ||
			    strcmp(st->requires[k], st->name) == 0)
				abort();
	}
	if (strcmp(dag, "attach") == 0 && n > 0 && !on_attached)
		abort();
}

static void check_pattern(const struct pattern *p)
{
	if (strcmp(p->name, "fz") != 0 || p->description == NULL || p->group_count == 0 ||
	    p->create_count == 0 || p->destroy_count == 0)
		abort();
	for (size_t i = 0; i < p->group_count; i++) {
		const struct pattern_group *g = &p->groups[i];

		if (pattern_find_group(p, g->name) != g || g->role == NULL ||
		    strcmp(g->name, PATTERN_ATTACHED) == 0 || strcmp(g->name, "all") == 0 ||
		    (!g->from_request && (g->count < 1 || g->count > 1000)))
			abort();
	}
	if ((p->attach == NULL) != (p->attach_count == 0))
		abort();
	check_dag(p, p->create, p->create_count, "create");
	check_dag(p, p->destroy, p->destroy_count, "destroy");
	check_dag(p, p->attach, p->attach_count, "attach");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pattern *p;
	char err[1024];
	int fd;

	if (base[0] == '\0')
		make_base();
	/* No fsync per input: util_write_file would make the fuzzer crawl. */
	fd = open(yaml, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		abort();
	memset(err, 0, sizeof(err));
	p = pattern_load(yaml, roles, err, sizeof(err));
	if (p != NULL) {
		check_pattern(p);
		pattern_free(p);
		return 0;
	}
	/* One line that starts with the file it is about. */
	if (strncmp(err, yaml, strlen(yaml)) != 0 || strchr(err, '\n') != NULL) {
		fprintf(stderr, "bad refusal message: \"%s\"\n", err);
		abort();
	}
	return 0;
}
