/* state.c — the state names of OverClouds, steps and nodes, and which
 * transitions their lifecycles allow (state.h); the engine's change_state
 * functions check against these. */
#include "tower/engine/state.h"

#include <stddef.h>
#include <string.h>

const char *const oc_statenames[OC_STATE_COUNT] = {
	[OC_CREATING] = "creating",
	[OC_READY] = "ready",
	[OC_FAILED] = "failed",
	[OC_DELETING] = "deleting",
	[OC_DELETED] = "deleted",
};

const char *const step_statenames[STEP_STATE_COUNT] = {
	[STEP_PENDING] = "pending",
	[STEP_RUNNING] = "running",
	[STEP_DONE] = "done",
	[STEP_FAILED] = "failed",
	[STEP_SKIPPED] = "skipped",
};

const char *const node_statenames[NODE_STATE_COUNT] = {
	[NODE_PENDING] = "pending",
	[NODE_CREATED] = "created",
	[NODE_RELEASED] = "released",
};

static int parse(const char *const *names, int count, const char *name)
{
	for (int i = 0; name != NULL && i < count; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return count;
}

enum oc_state oc_state_parse(const char *name)
{
	return (enum oc_state)parse(oc_statenames, OC_STATE_COUNT, name);
}

enum step_state step_state_parse(const char *name)
{
	return (enum step_state)parse(step_statenames, STEP_STATE_COUNT, name);
}

enum node_state node_state_parse(const char *name)
{
	return (enum node_state)parse(node_statenames, NODE_STATE_COUNT, name);
}

const char *oc_state_name(enum oc_state s)
{
	return s < OC_STATE_COUNT ? oc_statenames[s] : "unknown";
}

const char *step_state_name(enum step_state s)
{
	return s < STEP_STATE_COUNT ? step_statenames[s] : "unknown";
}

const char *node_state_name(enum node_state s)
{
	return s < NODE_STATE_COUNT ? node_statenames[s] : "unknown";
}

/* [from][to]: what each lifecycle allows. A change to the same state is
 * allowed where the engine records one again (a ready OverCloud starting
 * an attach stamps its time). */
static const bool oc_moves[OC_STATE_COUNT][OC_STATE_COUNT] = {
	[OC_CREATING] = {[OC_READY] = true, [OC_FAILED] = true, [OC_DELETING] = true},
	[OC_READY] = {[OC_READY] = true, [OC_FAILED] = true, [OC_DELETING] = true},
	[OC_FAILED] = {[OC_DELETING] = true},
	[OC_DELETING] = {[OC_DELETED] = true, [OC_FAILED] = true},
	[OC_DELETED] = {0},
};

static const bool step_moves[STEP_STATE_COUNT][STEP_STATE_COUNT] = {
	[STEP_PENDING] = {[STEP_RUNNING] = true, [STEP_SKIPPED] = true},
	[STEP_RUNNING] = {[STEP_DONE] = true, [STEP_FAILED] = true, [STEP_PENDING] = true,
			  [STEP_SKIPPED] = true},
	[STEP_DONE] = {0},
	[STEP_FAILED] = {0},
	[STEP_SKIPPED] = {0},
};

static const bool node_moves[NODE_STATE_COUNT][NODE_STATE_COUNT] = {
	[NODE_PENDING] = {[NODE_CREATED] = true, [NODE_RELEASED] = true},
	[NODE_CREATED] = {[NODE_RELEASED] = true},
	[NODE_RELEASED] = {0},
};

bool oc_state_can_change(enum oc_state from, enum oc_state to)
{
	return from < OC_STATE_COUNT && to < OC_STATE_COUNT && oc_moves[from][to];
}

bool step_state_can_change(enum step_state from, enum step_state to)
{
	return from < STEP_STATE_COUNT && to < STEP_STATE_COUNT && step_moves[from][to];
}

bool node_state_can_change(enum node_state from, enum node_state to)
{
	return from < NODE_STATE_COUNT && to < NODE_STATE_COUNT && node_moves[from][to];
}

bool step_state_final(enum step_state s)
{
	return s == STEP_DONE || s == STEP_FAILED || s == STEP_SKIPPED;
}
