/* provision.h — makes and releases an OverCloud's nodes through its
 * providers, on a few threads off the event loop: acquire (rolling back what
 * it made when a node fails) and release, each a step that runs to its end
 * over several passes while its calls are out. */
#ifndef OC_PROVISION_H
#define OC_PROVISION_H

#include <stdbool.h>
#include <stddef.h>

#include "tower/engine/state.h"

struct store;
struct tower;
struct pattern;
struct provision;
struct store_overcloud;
struct store_oc_node;

/* Called on the event loop when one of an OverCloud's calls came back (its
 * result recorded): the step that waits for it can take another pass. Not
 * called while provision_free waits for calls still out. */
typedef void (*provision_call_done_fn)(void *arg, const char *oc_id);

/* Returns NULL with err. */
struct provision *provision_new(struct tower *t, provision_call_done_fn done, void *arg, char *err,
				size_t err_size);
/* Waits for the calls still out and records their results (so a restart
 * does not make those nodes again), then closes the providers. */
void provision_free(struct provision *pv);

/* What a pass works on: the OverCloud's row, its pattern, and its node rows
 * as read now (a pass updates them, in the store too). */
struct provision_target {
	const struct store_overcloud *oc;
	const struct pattern *pattern;
	struct store_oc_node *nodes;
	int node_count;
};

enum provision_status {
	PROVISION_WAITING,   /* calls are out: pass again when one is back */
	PROVISION_DONE,
	PROVISION_FAILED,    /* err says why (the first node that failed) */
};

/* One pass of an acquire step: makes every pending node made by a provider
 * (not the attached ones), all at once. When one fails, the nodes already
 * made are released (no half-built OverCloud keeps a VM) and the step fails
 * with the first failure. */
enum provision_status provision_acquire(struct provision *pv, const struct provision_target *tg,
					char *err, size_t err_size);

/* One pass of a release step: every node made for the OverCloud is
 * destroyed and its enrolment revoked; attached nodes leave it, still
 * enrolled. Best effort: one failure does not keep the others; the step
 * fails with the first. Waits first for creates still out. */
enum provision_status provision_release(struct provision *pv, const struct provision_target *tg,
					char *err, size_t err_size);

/* The one place a node's state in an OverCloud changes: the transition
 * must be one state.c allows, the store is written first (when it cannot
 * be, n is left as it was), and it is logged once with reason. Its
 * OverCloud's watchers hear of it from the pass that follows. Returns 0, or
 * -1 when refused or not recorded. */
int node_change_state(struct store *st, const char *oc_id, struct store_oc_node *n,
		      enum node_state to, const char *reason);

#endif
