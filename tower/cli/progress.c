/* progress.c — the CLI's view of a running workflow: a table of steps
 * (state, nodes, percent, elapsed) redrawn in place on a terminal, or one
 * plain line per change when the output is a pipe or a file. */
#include "tower/cli/progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tower/engine/state.h"

struct seen_step {
	char key[96];
	char state[16];
	long long progress;
};

struct progress {
	FILE *out;
	bool tty;
	int lines_drawn;
	struct seen_step *seen;
	size_t seen_count;
	char status[32];
};

/* The status as the user reads it: an attach runs while it stays ready. */
static void status_text(json_t *oc, char *out, size_t size)
{
	snprintf(out, size, "%s%s", json_string_value(json_object_get(oc, "status")) ?: "?",
		 json_is_true(json_object_get(oc, "attaching")) ? ", attaching" : "");
}

struct progress *progress_new(FILE *out)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->out = out;
	p->tty = isatty(fileno(out)) && getenv("CI") == NULL;
	return p;
}

void progress_free(struct progress *p)
{
	if (p == NULL)
		return;
	free(p->seen);
	free(p);
}

static void format_nodes(json_t *nodes, char *out, size_t size)
{
	size_t i, n = json_array_size(nodes);
	json_t *v;

	out[0] = '\0';
	if (n == 0) {
		snprintf(out, size, "-");
		return;
	}
	if (n > 1) {
		snprintf(out, size, "%zu nodes", n);
		return;
	}
	json_array_foreach(nodes, i, v)
		snprintf(out, size, "%s", json_string_value(v) ?: "?");
}

static int draw_table(FILE *out, json_t *oc, bool color)
{
	json_t *steps = json_object_get(oc, "steps"), *s;
	char status[32];
	size_t i;
	int lines = 0;

	status_text(oc, status, sizeof(status));
	fprintf(out, "overcloud %s  %s  (%s on %s, number %lld)\n",
		json_string_value(json_object_get(oc, "overcloud_id")) ?: "?", status,
		json_string_value(json_object_get(oc, "pattern")) ?: "?",
		json_string_value(json_object_get(oc, "provider")) ?: "?",
		(long long)json_integer_value(json_object_get(oc, "number")));
	fprintf(out, "  %-8s %-20s %-8s %-24s %5s %8s\n", "DAG", "STEP", "STATE", "NODES", "DONE",
		"ELAPSED");
	lines += 2;
	json_array_foreach(steps, i, s) {
		const char *state = json_string_value(json_object_get(s, "state")) ?: "?";
		enum step_state st = step_state_parse(state);
		const char *err = json_string_value(json_object_get(s, "error"));
		const char *mark = "";
		char nodes[64];

		if (color)
			mark = st == STEP_DONE ? "\033[32m" : st == STEP_FAILED ? "\033[31m"
			     : st == STEP_RUNNING ? "\033[33m" : "";
		format_nodes(json_object_get(s, "nodes"), nodes, sizeof(nodes));
		fprintf(out, "  %-8s %-20s %s%-8s%s %-24.24s %4lld%% %7.1fs\n",
			json_string_value(json_object_get(s, "dag")) ?: "",
			json_string_value(json_object_get(s, "name")) ?: "", mark, state,
			mark[0] ? "\033[0m" : "", nodes,
			(long long)json_integer_value(json_object_get(s, "progress")),
			(double)json_integer_value(json_object_get(s, "elapsed_ms")) / 1000.0);
		lines++;
		if (err != NULL && st != STEP_PENDING) {
			fprintf(out, "      %.*s\n", 110, err);
			lines++;
		}
	}
	return lines;
}

void progress_print_table(FILE *out, json_t *oc)
{
	draw_table(out, oc, false);
}

/* Without a terminal: a line when a step changes state or passes 25% marks,
 * and when the OverCloud's status changes. */
static void print_changes(struct progress *p, json_t *oc)
{
	json_t *steps = json_object_get(oc, "steps"), *s;
	char status[32];
	size_t i;

	status_text(oc, status, sizeof(status));
	json_array_foreach(steps, i, s) {
		const char *state = json_string_value(json_object_get(s, "state")) ?: "?";
		enum step_state st = step_state_parse(state);
		long long pct = (long long)json_integer_value(json_object_get(s, "progress"));
		const char *err = json_string_value(json_object_get(s, "error"));
		struct seen_step *seen = NULL;
		char key[96], nodes[64];

		snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(s, "dag")) ?: "",
			 json_string_value(json_object_get(s, "name")) ?: "");
		for (size_t k = 0; k < p->seen_count; k++)
			if (strcmp(p->seen[k].key, key) == 0)
				seen = &p->seen[k];
		if (seen == NULL) {
			struct seen_step *bigger = realloc(p->seen, (p->seen_count + 1) * sizeof(*bigger));
			if (bigger == NULL)
				return;
			p->seen = bigger;
			seen = &p->seen[p->seen_count++];
			memset(seen, 0, sizeof(*seen));
			snprintf(seen->key, sizeof(seen->key), "%s", key);
			snprintf(seen->state, sizeof(seen->state), "%s", step_statenames[STEP_PENDING]);
		}
		if (strcmp(seen->state, state) == 0 && (pct / 25 == seen->progress / 25 ||
							st != STEP_RUNNING))
			continue;
		format_nodes(json_object_get(s, "nodes"), nodes, sizeof(nodes));
		fprintf(p->out, "step %s: %s %lld%% (%s, %.1fs)%s%s\n", key, state, pct, nodes,
			(double)json_integer_value(json_object_get(s, "elapsed_ms")) / 1000.0,
			err && st != STEP_DONE ? " — " : "", err && st != STEP_DONE ? err : "");
		snprintf(seen->state, sizeof(seen->state), "%s", state);
		seen->progress = pct;
	}
	if (strcmp(status, p->status) != 0) {
		fprintf(p->out, "overcloud %s: %s\n",
			json_string_value(json_object_get(oc, "overcloud_id")) ?: "?", status);
		snprintf(p->status, sizeof(p->status), "%s", status);
	}
	fflush(p->out);
}

void progress_update(struct progress *p, json_t *oc)
{
	if (!p->tty) {
		print_changes(p, oc);
		return;
	}
	/* Back to where the last drawing started, and clear below. */
	if (p->lines_drawn > 0)
		fprintf(p->out, "\033[%dA\033[J", p->lines_drawn);
	p->lines_drawn = draw_table(p->out, oc, true);
	fflush(p->out);
}
