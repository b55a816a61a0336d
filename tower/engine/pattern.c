/* pattern.c — loads and checks tower/patterns/<name>.yaml: node groups and the
 * create/destroy/attach DAGs. Owns the schema and its errors; running DAGs is
 * workflow.c's.
 *
 * The format (tower/patterns/README.md says the same, with examples):
 *
 *   description: free text                       optional
 *   inputs:                                      optional, 0..64 pattern inputs
 *     <name>: {default: V, description: D}       name [a-z0-9_]; without a
 *                                                default the request must give it
 *   groups:                                      required, 1..64 groups
 *     <group>: {count: N | number, role: R}      N in 1..1000; "number" is the
 *                                                request's number; R is the token
 *                                                role the group's agents enroll with
 *   create:  [step, ...]                         required, 1..256 steps
 *   destroy: [step, ...]                         required, 1..256 steps
 *   attach:  [step, ...]                         optional, 1..256 steps: runs
 *                                                when `tower attach` adds an
 *                                                enrolled node to the OverCloud
 *
 *   step:
 *     name: [a-z0-9-]        required, unique within its DAG
 *     role: R                a role of the role set ...
 *     step: apply            ... and one of its steps (default apply)
 *     on: <group> | all      required with role, refused with action;
 *        | attached          in attach the node(s) being attached, in destroy
 *                            every attached node (not in create); an attach
 *                            DAG has at least one role step on attached
 *     action: A              or a tower-side action: acquire, enroll, release,
 *                            record (no step, on or inputs); exactly one of
 *                            role and action; attach takes record only
 *     requires: [step, ...]  steps of the same DAG; no cycles
 *     inputs: {name: value}  names the role declares; every required role
 *                            input without a default must be given
 *     retries: 0..10         default: the role step's (0 for actions)
 *     timeout: 90s|15m|1h    default: the role step's (30m for actions)
 *     archs: [A, ...]        role steps: run only on the target's nodes of
 *                            these archs (each one the role runs on); none
 *                            there, the step is done with no node
 *
 * Input values are strings that may hold references, each ${{ REF }}:
 *   steps.S.outputs.K   S is a role step of the same DAG that this step
 *                       requires, directly or through other steps; K is an
 *                       output S's role declares; S runs on a group of a
 *                       fixed count of 1 (its output is one node's)
 *   groups.G.address    the first node of group G; G a declared group, or
 *                       attached in attach and destroy
 *   groups.G.addresses  all of G's addresses, space-separated
 *   overcloud.id, overcloud.number, overcloud.size
 *   inputs.NAME         a pattern input (declared under inputs:)
 * Anything else between ${{ and }}, or a ${{ without }}, is refused: the
 * grammar is template.c's, which also expands them when a step starts.
 * Every refusal is one line, "PATH:LINE: reason". */
#include "tower/engine/pattern.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/util.h"
#include "tower/engine/role.h"
#include "tower/engine/template.h"
#include "tower/engine/yamldoc.h"

#define PATTERN_SET_MAX 1024
#define MAX_GROUPS 64
#define MAX_INPUTS 64
#define MAX_PARAMS 64
#define MAX_COUNT 1000
#define ACTION_TIMEOUT_S (30 * 60)

static const char *const actions[] = {"acquire", "enroll", "release", "record"};

/* What every check needs to say where it failed. */
struct load {
	struct yamldoc doc;
	const struct role_set *roles;
	struct pattern *p;
};

/* Lines and nodes of one step kept while its DAG is checked. */
struct step_meta {
	int name_line, role_line, step_line, on_line, action_line, inputs_line, archs_line;
	int *require_lines;
	int *input_lines;       /* of each input's value */
	size_t *require_idx;    /* requires as indexes into the DAG */
	bool has_retries, has_timeout;
};

struct pattern_set {
	struct pattern **items; /* sorted by name */
	size_t count;
};

/* ---- groups ---- */

static int parse_group(const struct load *ld, struct pattern_group *g, struct fy_node *map,
		       int line)
{
	struct fy_node_pair *pair;
	char what[128];
	void *it = NULL;
	int kline;

	snprintf(what, sizeof(what), "group \"%s\"", g->name);
	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, what) != 0)
		return -1;
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);
		char *s;

		if (key == NULL)
			return -1;
		snprintf(what, sizeof(what), "group \"%s\": %s", g->name, key);
		if (strcmp(key, "count") == 0) {
			s = yamldoc_get_string(&ld->doc, val, kline, what);
			if (s == NULL)
				return -1;
			if (strcmp(s, "number") == 0) {
				g->from_request = true;
				g->count = 0;
			} else if (util_parse_int(s, 1, MAX_COUNT, &g->count) != 0) {
				yamldoc_err(&ld->doc, yamldoc_node_line(val, kline),
					    "group \"%s\": count \"%s\" must be a whole number from 1 to %d, or number",
					    g->name, s, MAX_COUNT);
				free(s);
				return -1;
			} else {
				g->from_request = false;
			}
			free(s);
		} else if (strcmp(key, "role") == 0) {
			free(g->role);
			g->role = yamldoc_get_name(&ld->doc, val, kline, what, "-");
			if (g->role == NULL)
				return -1;
		} else {
			yamldoc_err(&ld->doc, kline, "group \"%s\": unknown key \"%s\"", g->name,
				    key);
			return -1;
		}
	}
	if (g->count == 0 && !g->from_request) {
		yamldoc_err(&ld->doc, line, "group \"%s\": missing key \"count\"", g->name);
		return -1;
	}
	if (g->role == NULL) {
		yamldoc_err(&ld->doc, line, "group \"%s\": missing key \"role\"", g->name);
		return -1;
	}
	return 0;
}

static int parse_groups(const struct load *ld, struct pattern *p, struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, "groups") != 0)
		return -1;
	n = (size_t)fy_node_mapping_item_count(map);
	if (n == 0) {
		yamldoc_err(&ld->doc, line, "groups is empty: the pattern would have no nodes");
		return -1;
	}
	if (n > MAX_GROUPS) {
		yamldoc_err(&ld->doc, line, "more than %d groups", MAX_GROUPS);
		return -1;
	}
	p->groups = calloc(n, sizeof(*p->groups));
	if (p->groups == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct pattern_group *g = &p->groups[p->group_count];
		int kline;
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);

		if (key == NULL)
			return -1;
		if (!yamldoc_name_ok(key, "-")) {
			yamldoc_err(&ld->doc, kline,
				    "group name \"%s\" must be 1 to %d of [a-z0-9-]", key,
				    YAMLDOC_NAME_MAX);
			return -1;
		}
		if (strcmp(key, "all") == 0) {
			yamldoc_err(&ld->doc, kline,
				    "group name \"all\" is reserved (on: all means every node)");
			return -1;
		}
		if (strcmp(key, PATTERN_ATTACHED) == 0) {
			yamldoc_err(&ld->doc, kline,
				    "group name \"" PATTERN_ATTACHED "\" is reserved (on: "
				    PATTERN_ATTACHED " means the nodes tower attach adds)");
			return -1;
		}
		if (pattern_find_group(p, key) != NULL) {
			yamldoc_err(&ld->doc, kline, "duplicate group \"%s\"", key);
			return -1;
		}
		g->name = strdup(key);
		if (g->name == NULL) {
			yamldoc_err(&ld->doc, kline, "out of memory");
			return -1;
		}
		p->group_count++;
		if (parse_group(ld, g, fy_node_pair_value(pair), kline) != 0)
			return -1;
	}
	return 0;
}

/* ---- steps ---- */

static bool is_action(const char *s)
{
	for (size_t i = 0; i < OC_ARRAY_LEN(actions); i++)
		if (strcmp(s, actions[i]) == 0)
			return true;
	return false;
}

static int parse_requires(const struct load *ld, struct pattern_step *st, struct step_meta *m,
			  struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	char what[128];
	size_t n;

	snprintf(what, sizeof(what), "step \"%s\": requires", st->name);
	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, what) != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	if (n > PATTERN_MAX_STEPS) {
		yamldoc_err(&ld->doc, line, "step \"%s\": requires more than %d steps", st->name,
			    PATTERN_MAX_STEPS);
		return -1;
	}
	st->requires = calloc(n > 0 ? n : 1, sizeof(*st->requires));
	m->require_lines = calloc(n > 0 ? n : 1, sizeof(*m->require_lines));
	if (st->requires == NULL || m->require_lines == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	snprintf(what, sizeof(what), "step \"%s\": required step", st->name);
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		int iline = yamldoc_node_line(item, line);
		char *name = yamldoc_get_name(&ld->doc, item, line, what, "-");

		if (name == NULL)
			return -1;
		for (size_t i = 0; i < st->require_count; i++) {
			if (strcmp(st->requires[i], name) == 0) {
				yamldoc_err(&ld->doc, iline, "step \"%s\": requires \"%s\" twice",
					    st->name, name);
				free(name);
				return -1;
			}
		}
		m->require_lines[st->require_count] = iline;
		st->requires[st->require_count++] = name;
	}
	return 0;
}

static int parse_archs(const struct load *ld, struct pattern_step *st, struct fy_node *seq,
		       int line)
{
	static const char *const known[] = {"x86_64", "aarch64", "armv7"};
	struct fy_node *item;
	void *it = NULL;
	char what[128];
	size_t n;

	snprintf(what, sizeof(what), "step \"%s\": archs", st->name);
	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, what) != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	if (n == 0 || n > OC_ARRAY_LEN(known)) {
		yamldoc_err(&ld->doc, line, "step \"%s\": archs lists 1 to %zu of x86_64, aarch64, armv7",
			    st->name, OC_ARRAY_LEN(known));
		return -1;
	}
	st->archs = calloc(n, sizeof(*st->archs));
	if (st->archs == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	snprintf(what, sizeof(what), "step \"%s\": arch", st->name);
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		int iline = yamldoc_node_line(item, line);
		char *arch = yamldoc_get_name(&ld->doc, item, line, what, "_");
		bool ok = false;

		if (arch == NULL)
			return -1;
		for (size_t i = 0; i < OC_ARRAY_LEN(known); i++)
			ok |= strcmp(arch, known[i]) == 0;
		for (size_t i = 0; ok && i < st->arch_count; i++)
			if (strcmp(st->archs[i], arch) == 0) {
				yamldoc_err(&ld->doc, iline, "step \"%s\": arch %s listed twice", st->name,
					    arch);
				free(arch);
				return -1;
			}
		if (!ok) {
			yamldoc_err(&ld->doc, iline,
				    "step \"%s\": unknown arch \"%s\" (x86_64, aarch64 or armv7)", st->name,
				    arch);
			free(arch);
			return -1;
		}
		st->archs[st->arch_count++] = arch;
	}
	return 0;
}

static int parse_inputs(const struct load *ld, struct pattern_step *st, struct step_meta *m,
			struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	char what[256];
	size_t n;

	snprintf(what, sizeof(what), "step \"%s\": inputs", st->name);
	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, what) != 0)
		return -1;
	n = (size_t)fy_node_mapping_item_count(map);
	if (n > MAX_INPUTS) {
		yamldoc_err(&ld->doc, line, "step \"%s\": more than %d inputs", st->name,
			    MAX_INPUTS);
		return -1;
	}
	st->inputs = calloc(n > 0 ? n : 1, sizeof(*st->inputs));
	m->input_lines = calloc(n > 0 ? n : 1, sizeof(*m->input_lines));
	if (st->inputs == NULL || m->input_lines == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct pattern_input *in = &st->inputs[st->input_count];
		int kline;
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		for (size_t i = 0; i < st->input_count; i++) {
			if (strcmp(st->inputs[i].name, key) == 0) {
				yamldoc_err(&ld->doc, kline, "step \"%s\": duplicate input \"%s\"",
					    st->name, key);
				return -1;
			}
		}
		in->name = strdup(key);
		if (in->name == NULL) {
			yamldoc_err(&ld->doc, kline, "out of memory");
			return -1;
		}
		st->input_count++;
		snprintf(what, sizeof(what), "step \"%s\": input \"%s\"", st->name, key);
		in->value = yamldoc_get_string(&ld->doc, val, kline, what);
		if (in->value == NULL)
			return -1;
		m->input_lines[st->input_count - 1] = yamldoc_node_line(val, kline);
	}
	return 0;
}

/* The checks of one step that need nothing but the step, the groups and
 * the roles; references between steps wait for the whole DAG. */
static int check_step(const struct load *ld, struct pattern_step *st, struct step_meta *m,
		      int line, const char *dag)
{
	const struct role_step *rs;
	const struct role *role;

	if (st->role != NULL && st->action != NULL) {
		yamldoc_err(&ld->doc, line,
			    "step \"%s\": has both role and action; a step is one or the other",
			    st->name);
		return -1;
	}
	if (st->role == NULL && st->action == NULL) {
		yamldoc_err(&ld->doc, line, "step \"%s\": needs a role (with on) or an action",
			    st->name);
		return -1;
	}
	if (st->action != NULL) {
		if (st->on != NULL) {
			yamldoc_err(&ld->doc, m->on_line,
				    "step \"%s\": action %s runs on the tower; \"on\" is only for role steps",
				    st->name, st->action);
			return -1;
		}
		if (st->role_step != NULL) {
			yamldoc_err(&ld->doc, m->step_line,
				    "step \"%s\": \"step\" is only for role steps, not action %s",
				    st->name, st->action);
			return -1;
		}
		if (m->inputs_line > 0) {
			yamldoc_err(&ld->doc, m->inputs_line,
				    "step \"%s\": action %s takes no inputs", st->name, st->action);
			return -1;
		}
		if (st->arch_count > 0) {
			yamldoc_err(&ld->doc, m->archs_line,
				    "step \"%s\": action %s runs on the tower; archs is only for role steps",
				    st->name, st->action);
			return -1;
		}
		/* An attach neither makes nor gives back the provider's nodes. */
		if (strcmp(dag, "attach") == 0 && strcmp(st->action, "record") != 0) {
			yamldoc_err(&ld->doc, m->action_line,
				    "step \"%s\": action %s has no place in attach (only record)",
				    st->name, st->action);
			return -1;
		}
		if (!m->has_retries)
			st->retries = 0;
		if (!m->has_timeout)
			st->timeout_s = ACTION_TIMEOUT_S;
		return 0;
	}
	role = role_set_find(ld->roles, st->role);
	if (role == NULL) {
		yamldoc_err(&ld->doc, m->role_line, "step \"%s\": unknown role \"%s\"", st->name,
			    st->role);
		return -1;
	}
	if (st->role_step == NULL) {
		st->role_step = strdup("apply");
		if (st->role_step == NULL) {
			yamldoc_err(&ld->doc, line, "out of memory");
			return -1;
		}
		m->step_line = m->role_line;
	}
	rs = role_find_step(role, st->role_step);
	if (rs == NULL) {
		yamldoc_err(&ld->doc, m->step_line, "step \"%s\": role %s has no step \"%s\"",
			    st->name, st->role, st->role_step);
		return -1;
	}
	if (st->on == NULL) {
		yamldoc_err(&ld->doc, line, "step \"%s\": missing key \"on\" (a group, or all)",
			    st->name);
		return -1;
	}
	if (strcmp(st->on, PATTERN_ATTACHED) == 0) {
		if (strcmp(dag, "create") == 0) {
			yamldoc_err(&ld->doc, m->on_line,
				    "step \"%s\": on: " PATTERN_ATTACHED " is for attach and destroy steps "
				    "(no node is attached while the OverCloud is created)", st->name);
			return -1;
		}
	} else if (strcmp(st->on, "all") != 0 && pattern_find_group(ld->p, st->on) == NULL) {
		yamldoc_err(&ld->doc, m->on_line, "step \"%s\": on: unknown group \"%s\"", st->name,
			    st->on);
		return -1;
	}
	for (size_t i = 0; i < st->arch_count; i++) {
		if (!role_supports_arch(role, st->archs[i])) {
			yamldoc_err(&ld->doc, m->archs_line,
				    "step \"%s\": archs: role %s does not run on %s", st->name, st->role,
				    st->archs[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < st->input_count; i++) {
		if (role_find_input(role, st->inputs[i].name) == NULL) {
			yamldoc_err(&ld->doc, m->input_lines[i],
				    "step \"%s\": role %s has no input \"%s\"", st->name, st->role,
				    st->inputs[i].name);
			return -1;
		}
	}
	for (size_t i = 0; i < role->input_count; i++) {
		const struct role_input *ri = &role->inputs[i];
		bool given = false;

		for (size_t k = 0; k < st->input_count && !given; k++)
			given = strcmp(st->inputs[k].name, ri->name) == 0;
		if (!given && ri->required && ri->default_value == NULL) {
			yamldoc_err(&ld->doc, line, "step \"%s\": role %s needs input \"%s\"",
				    st->name, st->role, ri->name);
			return -1;
		}
	}
	if (!m->has_retries)
		st->retries = rs->retries;
	if (!m->has_timeout)
		st->timeout_s = rs->timeout_s;
	return 0;
}

static int parse_step(const struct load *ld, struct pattern_step *steps, size_t index,
		      struct step_meta *m, struct fy_node *map, int line, const char *dag)
{
	struct pattern_step *st = &steps[index];
	struct fy_node_pair *pair;
	const struct pattern_step *prev;
	void *it = NULL;
	char what[128];
	int kline;

	st->line = line;
	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, "a step") != 0)
		return -1;
	pair = yamldoc_find_pair(map, "name");
	if (pair == NULL) {
		yamldoc_err(&ld->doc, line, "a step in %s has no name", dag);
		return -1;
	}
	m->name_line = yamldoc_node_line(fy_node_pair_value(pair),
					 yamldoc_node_line(fy_node_pair_key(pair), line));
	st->name = yamldoc_get_name(&ld->doc, fy_node_pair_value(pair), m->name_line, "step name",
				    "-");
	if (st->name == NULL)
		return -1;
	prev = pattern_find_step(steps, index, st->name);
	if (prev != NULL) {
		yamldoc_err(&ld->doc, m->name_line,
			    "duplicate step \"%s\" in %s (first at line %d)", st->name, dag,
			    prev->line);
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);
		int vline = yamldoc_node_line(val, kline);

		if (key == NULL)
			return -1;
		snprintf(what, sizeof(what), "step \"%s\": %s", st->name, key);
		if (strcmp(key, "name") == 0) {
			continue;
		} else if (strcmp(key, "role") == 0) {
			free(st->role);
			st->role = yamldoc_get_name(&ld->doc, val, kline, what, "-");
			m->role_line = vline;
			if (st->role == NULL)
				return -1;
		} else if (strcmp(key, "step") == 0) {
			free(st->role_step);
			st->role_step = yamldoc_get_string(&ld->doc, val, kline, what);
			m->step_line = vline;
			if (st->role_step == NULL)
				return -1;
		} else if (strcmp(key, "action") == 0) {
			free(st->action);
			st->action = yamldoc_get_string(&ld->doc, val, kline, what);
			m->action_line = vline;
			if (st->action == NULL)
				return -1;
			if (!is_action(st->action)) {
				yamldoc_err(&ld->doc, vline,
					    "step \"%s\": unknown action \"%s\" (acquire, enroll, release or record)",
					    st->name, st->action);
				return -1;
			}
		} else if (strcmp(key, "on") == 0) {
			free(st->on);
			st->on = yamldoc_get_name(&ld->doc, val, kline, what, "-");
			m->on_line = vline;
			if (st->on == NULL)
				return -1;
		} else if (strcmp(key, "requires") == 0) {
			if (parse_requires(ld, st, m, val, kline) != 0)
				return -1;
		} else if (strcmp(key, "inputs") == 0) {
			m->inputs_line = kline;
			if (parse_inputs(ld, st, m, val, kline) != 0)
				return -1;
		} else if (strcmp(key, "archs") == 0) {
			m->archs_line = kline;
			if (st->archs != NULL) {
				yamldoc_err(&ld->doc, kline, "step \"%s\": archs given twice", st->name);
				return -1;
			}
			if (parse_archs(ld, st, val, kline) != 0)
				return -1;
		} else if (strcmp(key, "retries") == 0) {
			if (yamldoc_get_retries(&ld->doc, val, kline, what, &st->retries) != 0)
				return -1;
			m->has_retries = true;
		} else if (strcmp(key, "timeout") == 0) {
			if (yamldoc_get_timeout(&ld->doc, val, kline, what, &st->timeout_s) != 0)
				return -1;
			m->has_timeout = true;
		} else {
			yamldoc_err(&ld->doc, kline, "step \"%s\": unknown key \"%s\"", st->name,
				    key);
			return -1;
		}
	}
	if (st->requires == NULL) {
		st->requires = calloc(1, sizeof(*st->requires));
		if (st->requires == NULL) {
			yamldoc_err(&ld->doc, line, "out of memory");
			return -1;
		}
	}
	if (st->inputs == NULL) {
		st->inputs = calloc(1, sizeof(*st->inputs));
		if (st->inputs == NULL) {
			yamldoc_err(&ld->doc, line, "out of memory");
			return -1;
		}
	}
	return check_step(ld, st, m, line, dag);
}

/* ---- the DAG: requires, cycles, references ---- */

static int resolve_requires(const struct load *ld, struct pattern_step *steps, size_t n,
			    struct step_meta *meta, const char *dag)
{
	for (size_t i = 0; i < n; i++) {
		struct pattern_step *st = &steps[i];

		meta[i].require_idx = calloc(st->require_count > 0 ? st->require_count : 1,
					     sizeof(*meta[i].require_idx));
		if (meta[i].require_idx == NULL) {
			yamldoc_err(&ld->doc, st->line, "out of memory");
			return -1;
		}
		for (size_t r = 0; r < st->require_count; r++) {
			const struct pattern_step *dep = pattern_find_step(steps, n, st->requires[r]);

			if (dep == NULL) {
				yamldoc_err(&ld->doc, meta[i].require_lines[r],
					    "step \"%s\": requires unknown step \"%s\" (not in %s)",
					    st->name, st->requires[r], dag);
				return -1;
			}
			meta[i].require_idx[r] = (size_t)(dep - steps);
		}
	}
	return 0;
}

enum { WHITE, GRAY, BLACK };

/* Depth-first over requires. On a back edge to v, the stack from v to the
 * top is the cycle: it is named from v, at v's line. order gets the steps
 * with each one after everything it requires. */
static int visit(const struct load *ld, struct pattern_step *steps, struct step_meta *meta,
		 unsigned char *color, size_t *stack, size_t depth, size_t u, size_t *order,
		 size_t *norder)
{
	color[u] = GRAY;
	stack[depth] = u;
	for (size_t r = 0; r < steps[u].require_count; r++) {
		size_t v = meta[u].require_idx[r];

		if (color[v] == GRAY) {
			char path[900];
			size_t start = depth, off = 0;

			while (stack[start] != v)
				start--;
			path[0] = '\0';
			for (size_t k = start; k <= depth && off < sizeof(path); k++)
				off += (size_t)snprintf(path + off, sizeof(path) - off, "%s -> ",
							steps[stack[k]].name);
			if (off < sizeof(path))
				snprintf(path + off, sizeof(path) - off, "%s", steps[v].name);
			yamldoc_err(&ld->doc, steps[v].line, "cycle: %s", path);
			return -1;
		}
		if (color[v] == WHITE &&
		    visit(ld, steps, meta, color, stack, depth + 1, v, order, norder) != 0)
			return -1;
	}
	color[u] = BLACK;
	order[(*norder)++] = u;
	return 0;
}

/* reach[i * n + j]: step i requires step j, directly or through others. */
static bool *dag_closure(const struct load *ld, struct pattern_step *steps, size_t n,
			 struct step_meta *meta)
{
	size_t *stack = calloc(n, sizeof(*stack)), *order = calloc(n, sizeof(*order));
	unsigned char *color = calloc(n, 1);
	bool *reach = calloc(n * n, sizeof(*reach));
	size_t norder = 0;

	if (stack == NULL || order == NULL || color == NULL || reach == NULL) {
		yamldoc_err(&ld->doc, 0, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (color[i] == WHITE &&
		    visit(ld, steps, meta, color, stack, 0, i, order, &norder) != 0)
			goto fail;
	for (size_t k = 0; k < norder; k++) {
		size_t u = order[k];

		for (size_t r = 0; r < steps[u].require_count; r++) {
			size_t v = meta[u].require_idx[r];

			reach[u * n + v] = true;
			for (size_t j = 0; j < n; j++)
				reach[u * n + j] = reach[u * n + j] || reach[v * n + j];
		}
	}
	free(stack);
	free(order);
	free(color);
	return reach;
fail:
	free(stack);
	free(order);
	free(color);
	free(reach);
	return NULL;
}

/* What check_ref needs about the input whose template is walked. */
struct ref_check {
	const struct load *ld;
	struct pattern_step *steps;
	size_t n, i;
	const bool *reach;
	const struct pattern_input *in;
	const char *dag;
};

/* One ${{ ... }} reference of step i's input, parsed by template.c: what
 * it names must exist, and a step output must exist before step i runs. */
static int check_ref(void *arg, const char *literal, size_t len, const struct template_ref *ref,
		     char *err, size_t err_size)
{
	const struct ref_check *rc = arg;
	const struct pattern_step *st = &rc->steps[rc->i], *dep;
	const struct pattern_group *g;
	const struct role *role;
	char shown[TEMPLATE_REF_MAX + 16];

	(void)literal;
	(void)len;
	if (ref == NULL)
		return 0;
	snprintf(shown, sizeof(shown), "${{ %s }}", ref->text);
	switch (ref->kind) {
	case TEMPLATE_STEP_OUTPUT:
		dep = pattern_find_step(rc->steps, rc->n, ref->name);
		if (dep == NULL) {
			snprintf(err, err_size, "%s: no step \"%s\" in %s", shown, ref->name, rc->dag);
			return -1;
		}
		if (!rc->reach[rc->i * rc->n + (size_t)(dep - rc->steps)]) {
			snprintf(err, err_size,
				 "%s: step \"%s\" is not required by \"%s\" (directly or through other steps), so its outputs may not exist yet",
				 shown, dep->name, st->name);
			return -1;
		}
		if (dep->role == NULL) {
			snprintf(err, err_size,
				 "%s: step \"%s\" is tower action %s, which has no outputs", shown,
				 dep->name, dep->action);
			return -1;
		}
		role = role_set_find(rc->ld->roles, dep->role);
		if (role_find_output(role, ref->key) == NULL) {
			snprintf(err, err_size, "%s: role %s (step \"%s\") has no output \"%s\"",
				 shown, dep->role, dep->name, ref->key);
			return -1;
		}
		g = pattern_find_group(rc->ld->p, dep->on);
		if (g == NULL || g->from_request || g->count != 1) {
			snprintf(err, err_size,
				 "%s: step \"%s\" runs on %s%s%s, not on a group of one node, so it has no single output",
				 shown, dep->name, g == NULL ? dep->on : "group \"",
				 g == NULL ? "" : g->name, g == NULL ? "" : "\"");
			return -1;
		}
		return 0;
	case TEMPLATE_GROUP_ADDRESS:
	case TEMPLATE_GROUP_ADDRESSES:
		if (strcmp(ref->name, PATTERN_ATTACHED) == 0 && strcmp(rc->dag, "create") == 0) {
			snprintf(err, err_size,
				 "%s: " PATTERN_ATTACHED " is for attach and destroy steps", shown);
			return -1;
		}
		if (strcmp(ref->name, PATTERN_ATTACHED) != 0 &&
		    pattern_find_group(rc->ld->p, ref->name) == NULL) {
			snprintf(err, err_size, "%s: no group \"%s\"", shown, ref->name);
			return -1;
		}
		return 0;
	case TEMPLATE_INPUT:
		if (pattern_find_param(rc->ld->p, ref->name) == NULL) {
			snprintf(err, err_size,
				 "%s: the pattern has no input \"%s\" (declare it under inputs:)",
				 shown, ref->name);
			return -1;
		}
		return 0;
	case TEMPLATE_OVERCLOUD_ID:
	case TEMPLATE_OVERCLOUD_NUMBER:
	case TEMPLATE_OVERCLOUD_SIZE:
		return 0;
	}
	return 0;
}

/* Every ${{ ... }} in one input value. */
static int check_template(const struct load *ld, struct pattern_step *steps, size_t n, size_t i,
			  const bool *reach, const struct pattern_input *in, int line,
			  const char *dag)
{
	struct ref_check rc = {.ld = ld, .steps = steps, .n = n, .i = i, .reach = reach,
			       .in = in, .dag = dag};
	char why[TEMPLATE_REF_MAX * 2 + 512];

	if (template_walk(in->value, check_ref, &rc, why, sizeof(why)) == 0)
		return 0;
	yamldoc_err(&ld->doc, line, "step \"%s\": input \"%s\": %s", steps[i].name, in->name, why);
	return -1;
}

static void free_steps(struct pattern_step *steps, size_t n)
{
	for (size_t i = 0; steps != NULL && i < n; i++) {
		struct pattern_step *st = &steps[i];

		free(st->name);
		free(st->role);
		free(st->role_step);
		free(st->action);
		free(st->on);
		for (size_t k = 0; k < st->require_count; k++)
			free(st->requires[k]);
		free(st->requires);
		for (size_t k = 0; k < st->input_count; k++) {
			free(st->inputs[k].name);
			free(st->inputs[k].value);
		}
		free(st->inputs);
		for (size_t k = 0; k < st->arch_count; k++)
			free(st->archs[k]);
		free(st->archs);
	}
	free(steps);
}

static int parse_dag(const struct load *ld, struct fy_node *seq, int line, const char *dag,
		     struct pattern_step **steps_out, size_t *count_out)
{
	struct step_meta *meta = NULL;
	struct pattern_step *steps;
	struct fy_node *item;
	bool *reach = NULL;
	void *it = NULL;
	size_t n;
	int rc = -1;

	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, dag) != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	if (n == 0) {
		yamldoc_err(&ld->doc, line, "%s is empty", dag);
		return -1;
	}
	if (n > PATTERN_MAX_STEPS) {
		yamldoc_err(&ld->doc, line, "%s has more than %d steps", dag, PATTERN_MAX_STEPS);
		return -1;
	}
	*steps_out = steps = calloc(n, sizeof(*steps));
	meta = calloc(n, sizeof(*meta));
	if (steps == NULL || meta == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		goto out;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		size_t i = (*count_out)++;

		if (parse_step(ld, steps, i, &meta[i], item, yamldoc_node_line(item, line),
			       dag) != 0)
			goto out;
	}
	if (resolve_requires(ld, steps, n, meta, dag) != 0)
		goto out;
	reach = dag_closure(ld, steps, n, meta);
	if (reach == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < steps[i].input_count; k++)
			if (check_template(ld, steps, n, i, reach, &steps[i].inputs[k],
					   meta[i].input_lines[k], dag) != 0)
				goto out;
	rc = 0;
out:
	for (size_t i = 0; meta != NULL && i < n; i++) {
		free(meta[i].require_lines);
		free(meta[i].input_lines);
		free(meta[i].require_idx);
	}
	free(meta);
	free(reach);
	return rc;
}

/* ---- pattern inputs ---- */

static int parse_param(const struct load *ld, struct pattern_param *pp, struct fy_node *map,
		       int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	char what[128];
	int kline;

	snprintf(what, sizeof(what), "input \"%s\"", pp->name);
	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, what) != 0)
		return -1;
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);
		char **slot;

		if (key == NULL)
			return -1;
		if (strcmp(key, "default") == 0) {
			slot = &pp->default_value;
		} else if (strcmp(key, "description") == 0) {
			slot = &pp->description;
		} else {
			yamldoc_err(&ld->doc, kline,
				    "input \"%s\": unknown key \"%s\" (default, description)", pp->name, key);
			return -1;
		}
		snprintf(what, sizeof(what), "input \"%s\": %s", pp->name, key);
		free(*slot);
		*slot = yamldoc_get_string(&ld->doc, val, kline, what);
		if (*slot == NULL)
			return -1;
		if (slot == &pp->default_value && strlen(*slot) > PATTERN_PARAM_VALUE_MAX) {
			yamldoc_err(&ld->doc, kline, "input \"%s\": default over %d bytes", pp->name,
				    PATTERN_PARAM_VALUE_MAX);
			return -1;
		}
	}
	if (pp->description == NULL && (pp->description = strdup("")) == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	return 0;
}

static int parse_params(const struct load *ld, struct pattern *p, struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, "inputs") != 0)
		return -1;
	n = (size_t)fy_node_mapping_item_count(map);
	if (n > MAX_PARAMS) {
		yamldoc_err(&ld->doc, line, "more than %d inputs", MAX_PARAMS);
		return -1;
	}
	p->params = calloc(n > 0 ? n : 1, sizeof(*p->params));
	if (p->params == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct pattern_param *pp = &p->params[p->param_count];
		int kline;
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);

		if (key == NULL)
			return -1;
		if (!yamldoc_name_ok(key, "_")) {
			yamldoc_err(&ld->doc, kline, "input name \"%s\" must be 1 to %d of [a-z0-9_]",
				    key, YAMLDOC_NAME_MAX);
			return -1;
		}
		if (pattern_find_param(p, key) != NULL) {
			yamldoc_err(&ld->doc, kline, "duplicate input \"%s\"", key);
			return -1;
		}
		pp->name = strdup(key);
		if (pp->name == NULL) {
			yamldoc_err(&ld->doc, kline, "out of memory");
			return -1;
		}
		p->param_count++;
		if (parse_param(ld, pp, fy_node_pair_value(pair), kline) != 0)
			return -1;
	}
	return 0;
}

/* The optional attach DAG: what `tower attach` runs for the node it adds. */
static int parse_attach(const struct load *ld, struct pattern *p, struct fy_node *seq, int line)
{
	if (parse_dag(ld, seq, line, "attach", &p->attach, &p->attach_count) != 0)
		return -1;
	for (size_t i = 0; i < p->attach_count; i++)
		if (p->attach[i].on != NULL && strcmp(p->attach[i].on, PATTERN_ATTACHED) == 0)
			return 0;
	yamldoc_err(&ld->doc, line,
		    "attach: no step runs on " PATTERN_ATTACHED ", so the attached node would get no work");
	return -1;
}

static int parse_pattern(const struct load *ld, struct pattern *p, struct fy_node *root)
{
	struct fy_node *groups = NULL, *create = NULL, *destroy = NULL, *attach = NULL, *inputs = NULL;
	int line, root_line = yamldoc_node_line(root, 1), gline = 0, cline = 0, dline = 0, aline = 0,
	    iline = 0;
	struct fy_node_pair *pair;
	void *it = NULL;

	if (root == NULL || fy_node_is_alias(root) || !fy_node_is_mapping(root)) {
		yamldoc_err(&ld->doc, root_line, "the file must hold a mapping, not %s",
			    yamldoc_node_kind(root));
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, root_line, &line);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		if (strcmp(key, "description") == 0) {
			free(p->description);
			p->description = yamldoc_get_string(&ld->doc, val, line, "description");
			if (p->description == NULL)
				return -1;
		} else if (strcmp(key, "groups") == 0) {
			groups = val;
			gline = line;
		} else if (strcmp(key, "create") == 0) {
			create = val;
			cline = line;
		} else if (strcmp(key, "destroy") == 0) {
			destroy = val;
			dline = line;
		} else if (strcmp(key, "attach") == 0) {
			attach = val;
			aline = line;
		} else if (strcmp(key, "inputs") == 0) {
			inputs = val;
			iline = line;
		} else {
			yamldoc_err(&ld->doc, line, "unknown key \"%s\"", key);
			return -1;
		}
	}
	/* Groups first: steps name them, wherever they are written. */
	if (gline == 0) {
		yamldoc_err(&ld->doc, root_line, "missing key \"groups\"");
		return -1;
	}
	if (parse_groups(ld, p, groups, gline) != 0)
		return -1;
	/* Inputs before the DAGs: their steps name them. */
	if (iline != 0 && parse_params(ld, p, inputs, iline) != 0)
		return -1;
	if (cline == 0) {
		yamldoc_err(&ld->doc, root_line, "missing key \"create\"");
		return -1;
	}
	if (parse_dag(ld, create, cline, "create", &p->create, &p->create_count) != 0)
		return -1;
	if (dline == 0) {
		yamldoc_err(&ld->doc, root_line, "missing key \"destroy\"");
		return -1;
	}
	if (parse_dag(ld, destroy, dline, "destroy", &p->destroy, &p->destroy_count) != 0)
		return -1;
	if (aline != 0 && parse_attach(ld, p, attach, aline) != 0)
		return -1;
	if (p->description == NULL && (p->description = strdup("")) == NULL) {
		yamldoc_err(&ld->doc, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- files ---- */

/* The pattern's name: the file name without ".yaml"; NULL when not valid. */
static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;
	char *name;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len <= 5 || strcmp(base + len - 5, ".yaml") != 0)
		return NULL;
	name = strndup(base, len - 5);
	if (name != NULL && !yamldoc_name_ok(name, "-")) {
		free(name);
		return NULL;
	}
	return name;
}

struct pattern *pattern_load(const char *path, const struct role_set *roles, char *err,
			     size_t err_size)
{
	struct load ld = {.doc = {.file = path, .err = err, .err_size = err_size}, .roles = roles};
	struct yamldoc_file *yf = NULL;
	struct pattern *p = NULL;

	if (err != NULL && err_size > 0)
		err[0] = '\0';
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		yamldoc_err(&ld.doc, 0, "out of memory");
		return NULL;
	}
	ld.p = p;
	p->name = name_from_path(path);
	if (p->name == NULL) {
		yamldoc_err(&ld.doc, 0,
			    "the file name must be NAME.yaml with NAME 1 to %d of [a-z0-9-]",
			    YAMLDOC_NAME_MAX);
		goto fail;
	}
	yf = yamldoc_load(&ld.doc);
	if (yf == NULL)
		goto fail;
	if (parse_pattern(&ld, p, yamldoc_root(yf)) != 0)
		goto fail;
	yamldoc_free(yf);
	return p;
fail:
	pattern_free(p);
	yamldoc_free(yf);
	return NULL;
}

void pattern_free(struct pattern *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->description);
	for (size_t i = 0; i < p->group_count; i++) {
		free(p->groups[i].name);
		free(p->groups[i].role);
	}
	free(p->groups);
	for (size_t i = 0; i < p->param_count; i++) {
		free(p->params[i].name);
		free(p->params[i].default_value);
		free(p->params[i].description);
	}
	free(p->params);
	free_steps(p->create, p->create_count);
	free_steps(p->destroy, p->destroy_count);
	free_steps(p->attach, p->attach_count);
	free(p);
}

const struct pattern_group *pattern_find_group(const struct pattern *p, const char *name)
{
	for (size_t i = 0; p != NULL && name != NULL && i < p->group_count; i++)
		if (p->groups[i].name != NULL && strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

const struct pattern_step *pattern_find_step(const struct pattern_step *steps, size_t count,
					     const char *name)
{
	for (size_t i = 0; steps != NULL && name != NULL && i < count; i++)
		if (steps[i].name != NULL && strcmp(steps[i].name, name) == 0)
			return &steps[i];
	return NULL;
}

const struct pattern_param *pattern_find_param(const struct pattern *p, const char *name)
{
	for (size_t i = 0; p != NULL && name != NULL && i < p->param_count; i++)
		if (p->params[i].name != NULL && strcmp(p->params[i].name, name) == 0)
			return &p->params[i];
	return NULL;
}

bool pattern_step_runs_on_arch(const struct pattern_step *st, const char *arch)
{
	if (st->arch_count == 0)
		return true;
	for (size_t i = 0; arch != NULL && i < st->arch_count; i++)
		if (strcmp(st->archs[i], arch) == 0)
			return true;
	return false;
}

/* ---- sets ---- */

/* The *.yaml regular files of a patterns directory. */
static bool is_pattern_file(int dfd, const char *name)
{
	size_t len = strlen(name);
	struct stat st;

	if (len <= 5 || strcmp(name + len - 5, ".yaml") != 0)
		return false;
	return fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

struct pattern_set *pattern_set_load(const char *dir, const struct role_set *roles, char *err,
				     size_t err_size)
{
	struct pattern_set *set;
	size_t n = 0;
	char **names;

	names = yamldoc_list(dir, is_pattern_file, PATTERN_SET_MAX, "patterns", &n, err, err_size);
	if (names == NULL)
		return NULL;
	set = calloc(1, sizeof(*set));
	if (set == NULL || (set->items = calloc(n > 0 ? n : 1, sizeof(*set->items))) == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
			snprintf(err, err_size, "%s: path too long", dir);
			goto fail;
		}
		set->items[i] = pattern_load(path, roles, err, err_size);
		if (set->items[i] == NULL)
			goto fail;
		set->count++;
	}
	yamldoc_free_names(names, n);
	return set;
fail:
	if (err_size > 0)
		util_one_line(err);
	pattern_set_free(set);
	yamldoc_free_names(names, n);
	return NULL;
}

void pattern_set_free(struct pattern_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		pattern_free(set->items[i]);
	free(set->items);
	free(set);
}

const struct pattern *pattern_set_find(const struct pattern_set *set, const char *name)
{
	for (size_t i = 0; set != NULL && name != NULL && i < set->count; i++)
		if (strcmp(set->items[i]->name, name) == 0)
			return set->items[i];
	return NULL;
}

size_t pattern_set_count(const struct pattern_set *set)
{
	return set != NULL ? set->count : 0;
}

const struct pattern *pattern_set_at(const struct pattern_set *set, size_t i)
{
	return set != NULL && i < set->count ? set->items[i] : NULL;
}
