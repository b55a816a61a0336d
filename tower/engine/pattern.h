/* pattern.h — OverCloud templates loaded from tower/patterns/<name>.yaml:
 * node groups plus the create, destroy and (optional) attach DAGs of steps.
 * Checked at load: unknown keys, roles, steps, groups, requires and cycles,
 * with file:line. */
#ifndef OC_PATTERN_H
#define OC_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct role_set;

/* The target of attach and destroy steps that run on the enrolled nodes
 * attached to the OverCloud (tower attach): in the attach DAG the node(s)
 * being attached, in destroy every attached node. Not a group name. */
#define PATTERN_ATTACHED "attached"

/* A group of nodes; count is fixed, or the request's "number". */
struct pattern_group {
	char *name;             /* [a-z0-9-] */
	int64_t count;          /* fixed count, when !from_request */
	bool from_request;      /* count: number */
	char *role;             /* the node role its agents enroll with (token role) */
};

/* An input value: a literal, or a template with ${{ ... }} references:
 *   ${{ steps.<step>.outputs.<key> }}   output of a step that ran on one node
 *   ${{ groups.<group>.address }}        address of the group's first node
 *   ${{ groups.<group>.addresses }}      space-separated addresses of the group
 *   ${{ overcloud.id }}, ${{ overcloud.number }}, ${{ overcloud.size }}
 *   ${{ inputs.<name> }}                 a pattern input (struct pattern_param) */
struct pattern_input {
	char *name;
	char *value;
};

/* A pattern-level input: what `tower create --input NAME=VALUE` (the API's
 * "inputs") sets for the whole OverCloud, e.g. a Kubernetes version or a
 * mirror. Steps pass it on to roles as ${{ inputs.NAME }}. */
struct pattern_param {
	char *name;             /* [a-z0-9_] */
	char *default_value;    /* NULL: the request must give it */
	char *description;      /* "" when none */
};

/* Most steps one DAG of a pattern has; a pattern with more is refused at
 * load. An OverCloud records at most PATTERN_MAX_RECORDED_STEPS, its three
 * DAGs' (create, destroy, attach). */
#define PATTERN_MAX_STEPS 256
#define PATTERN_MAX_RECORDED_STEPS (3 * PATTERN_MAX_STEPS)

/* Longest value a pattern input takes, in bytes. */
#define PATTERN_PARAM_VALUE_MAX 1024

struct pattern_step {
	char *name;             /* unique within its DAG, [a-z0-9-] */
	char *role;             /* role name, or NULL for a tower action */
	char *role_step;        /* step of the role ("apply", "remove"), default "apply" */
	char *action;           /* tower-side: "acquire", "enroll", "release", "record"; or NULL */
	char *on;               /* group name, "all" or "attached"; NULL for tower actions */
	char **requires;        /* names of steps in the same DAG */
	size_t require_count;
	struct pattern_input *inputs;
	size_t input_count;
	int64_t retries;        /* default: the role step's */
	int64_t timeout_s;      /* default: the role step's */
	char **archs;           /* run only on the target's nodes of these archs */
	size_t arch_count;      /* 0: every node of the target */
	int line;               /* where it is defined, for messages */
};

struct pattern {
	char *name;             /* file name without .yaml */
	char *description;
	struct pattern_param *params;  /* the top-level inputs, in file order */
	size_t param_count;
	struct pattern_group *groups;
	size_t group_count;
	struct pattern_step *create;   /* in file order; requires form a DAG */
	size_t create_count;
	struct pattern_step *destroy;
	size_t destroy_count;
	struct pattern_step *attach;   /* NULL (count 0) when nodes cannot be attached */
	size_t attach_count;
};

/* Loads and checks one pattern file against roles (every role and role
 * step it names must exist there). Returns NULL with "PATH:LINE: reason". */
struct pattern *pattern_load(const char *path, const struct role_set *roles, char *err,
			     size_t err_size);
void pattern_free(struct pattern *p);
const struct pattern_group *pattern_find_group(const struct pattern *p, const char *name);
const struct pattern_step *pattern_find_step(const struct pattern_step *steps, size_t count,
					     const char *name);
const struct pattern_param *pattern_find_param(const struct pattern *p, const char *name);
/* Whether step st runs on a node of this arch (its archs list, if any). */
bool pattern_step_runs_on_arch(const struct pattern_step *st, const char *arch);

/* Every .yaml file in dir, sorted by name; NULL with err naming the first bad file. */
struct pattern_set;
struct pattern_set *pattern_set_load(const char *dir, const struct role_set *roles, char *err,
				     size_t err_size);
void pattern_set_free(struct pattern_set *set);
const struct pattern *pattern_set_find(const struct pattern_set *set, const char *name);
size_t pattern_set_count(const struct pattern_set *set);
const struct pattern *pattern_set_at(const struct pattern_set *set, size_t i);

#endif
