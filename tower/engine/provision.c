/* provision.c — acquire and release of an OverCloud's nodes: one
 * create_node or destroy_node call per node on the job threads, the results
 * recorded back on the event loop; rollback of a failed acquire. */
#include "tower/engine/provision.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/boot/userdata.h"
#include "tower/config.h"
#include "tower/engine/jobs.h"
#include "tower/engine/pattern.h"
#include "tower/engine/workflow.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/fleet/nodes.h"
#include "tower/providers/provider.h"
#include "tower/store/store.h"
#include "tower/engine/lease.h"
#include "tower/tower.h"

#define PROVIDER_THREADS 8   /* nodes made or released at once */

struct provider_slot {
	const struct provider_ops *ops;
	void *ctx;
};

/* The calls one step started: how many came back failed, and the first
 * failure. Acquire (with its rollback) and release each have their own. */
struct tally {
	bool started;                 /* release: its calls went out */
	bool rolled_back;             /* acquire: its rollback went out */
	int failed;
	char first_error[512];
};

/* Per OverCloud, while it has calls out or a step in between passes. */
struct oc_calls {
	char oc_id[STORE_ID_MAX];
	int in_flight;                /* every call out, whichever step made it */
	struct tally acquire, release;
	struct oc_calls *next;
};

struct provision {
	struct tower *t;
	provision_call_done_fn done;
	void *done_arg;
	struct provider_slot providers[4];
	size_t provider_count;
	char agent_binary[PATH_MAX];
	bool closing;
	struct jobs *jobs;
	struct oc_calls *calls;
};

/* One create_node or destroy_node call and everything it needs, so the
 * pool thread touches nothing the event loop owns. */
struct node_call {
	struct provision *pv;
	const struct provider_ops *ops;
	void *ctx;
	bool create;
	bool for_release;             /* counted in the release tally */
	char oc_id[STORE_ID_MAX];
	char name[STORE_ID_MAX];
	char group[STORE_ROLE_MAX];
	char size[STORE_ROLE_MAX];
	char token[ENROLL_TOKEN_LEN + 1];
	char *user_data;
	char towers[1024];            /* every replica's agent address */
	struct provider_node made;    /* in for destroy, out for create */
	int rc;
	char err[512];
};

/* ---- providers ---- */

static void find_agent_binary(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(out, size, "/usr/bin/overcloud-agent");
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	snprintf(out, size, "%s/overcloud-agent", exe);
	if (access(out, X_OK) != 0)
		snprintf(out, size, "/usr/bin/overcloud-agent");
}

static struct provider_slot *provider_for(struct provision *pv, const char *name, char *err,
					  size_t err_size)
{
	const struct provider_ops *ops = provider_find(name);
	struct provider_env env;
	void *ctx;

	if (ops == NULL) {
		snprintf(err, err_size, "unknown provider \"%s\"", name);
		return NULL;
	}
	for (size_t i = 0; i < pv->provider_count; i++)
		if (pv->providers[i].ops == ops)
			return &pv->providers[i];
	if (pv->provider_count == OC_ARRAY_LEN(pv->providers)) {
		snprintf(err, err_size, "too many providers");
		return NULL;
	}
	memset(&env, 0, sizeof(env));
	env.state_dir = pv->t->state_dir;
	env.tower_host = pv->t->join_host;
	env.tower_port = pv->t->agent_port;
	env.ca_pem = ca_cert_pem(pv->t->ca);
	env.ca_pin = ca_pin(pv->t->ca);
	env.agent_binary = pv->agent_binary;
	env.cloud_init_dir = pv->t->cloud_init_dir;
	env.config = pv->t->config;
	ctx = ops->open(&env, err, err_size);
	if (ctx == NULL)
		return NULL;
	pv->providers[pv->provider_count].ops = ops;
	pv->providers[pv->provider_count].ctx = ctx;
	return &pv->providers[pv->provider_count++];
}

/* The provider that makes node n (its own in a heterogeneous OverCloud). */
static struct provider_slot *node_provider(struct provision *pv, const struct provision_target *tg,
					   const struct store_oc_node *n, char *err, size_t err_size)
{
	return provider_for(pv, n->provider[0] ? n->provider : tg->oc->provider, err, err_size);
}

/* ---- per-OverCloud bookkeeping ---- */

static struct oc_calls *oc_calls_find(struct provision *pv, const char *oc_id)
{
	for (struct oc_calls *oc = pv->calls; oc != NULL; oc = oc->next)
		if (strcmp(oc->oc_id, oc_id) == 0)
			return oc;
	return NULL;
}

static struct oc_calls *oc_calls_get(struct provision *pv, const char *oc_id)
{
	struct oc_calls *oc = oc_calls_find(pv, oc_id);

	if (oc != NULL)
		return oc;
	oc = calloc(1, sizeof(*oc));
	if (oc == NULL)
		return NULL;
	snprintf(oc->oc_id, sizeof(oc->oc_id), "%s", oc_id);
	oc->next = pv->calls;
	pv->calls = oc;
	return oc;
}

static void oc_calls_drop(struct provision *pv, const char *oc_id)
{
	for (struct oc_calls **p = &pv->calls; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->oc_id, oc_id) == 0) {
			struct oc_calls *gone = *p;
			*p = gone->next;
			free(gone);
			return;
		}
	}
}

static void tally_fail(struct tally *tl, const char *node, const char *reason)
{
	tl->failed++;
	if (tl->first_error[0] == '\0')
		snprintf(tl->first_error, sizeof(tl->first_error), "%s: %s", node, reason);
}

/* ---- node states ---- */

int node_change_state(struct store *st, const char *oc_id, struct store_oc_node *n,
		      enum node_state to, const char *reason)
{
	enum node_state from = node_state_parse(n->state);
	struct store_oc_node was = *n;

	if (!node_state_can_change(from, to)) {
		log_error("overcloud %s: node %s: %s -> %s is not a transition it has", oc_id, n->name,
			  node_state_name(from), node_state_name(to));
		return -1;
	}
	snprintf(n->state, sizeof(n->state), "%s", node_statenames[to]);
	if (store_ocn_update(st, oc_id, n) != 0) {
		log_error("overcloud %s: cannot record node %s %s", oc_id, n->name,
			  node_statenames[to]);
		*n = was;
		return -1;
	}
	log_info("overcloud %s: node %s %s%s%s", oc_id, n->name, node_statenames[to],
		 reason ? ", " : "", reason ? reason : "");
	return 0;
}

/* ---- one call ---- */

static void node_call_free(struct node_call *c)
{
	explicit_bzero(c->token, sizeof(c->token));
	if (c->user_data != NULL) {
		/* It carries the join token too. */
		explicit_bzero(c->user_data, strlen(c->user_data));
		free(c->user_data);
	}
	free(c);
}

static void node_call_work(void *arg)
{
	struct node_call *c = arg;

	if (c->create) {
		struct provider_node_request req = {
			.overcloud_id = c->oc_id,
			.name = c->name,
			.group = c->group,
			.size = c->size[0] ? c->size : NULL,
			.join_token = c->token,
			.user_data = c->user_data,
			.towers = c->towers[0] ? c->towers : NULL,
		};
		c->rc = c->ops->create_node(c->ctx, &req, &c->made, c->err, sizeof(c->err));
	} else {
		c->rc = c->ops->destroy_node(c->ctx, c->oc_id, &c->made, c->err, sizeof(c->err));
	}
}

/* Records what call c made or released in the node's row, read again (its
 * agent may have enrolled while the call was out): only the provider's
 * fields change. Returns 0, or -1 when the row could not be read or
 * written. */
static int record_call(struct provision *pv, const struct node_call *c)
{
	struct store_oc_node *nodes = NULL;
	int count = -1;

	/* Sized for the usual few nodes; grown when it comes back full. */
	for (size_t cap = 32;; cap *= 4) {
		free(nodes);
		nodes = calloc(cap, sizeof(*nodes));
		if (nodes == NULL)
			return -1;
		count = store_ocn_list(pv->t->store, c->oc_id, nodes, cap);
		if (count < (int)cap || cap >= WORKFLOW_MAX_NODES)
			break;
	}
	for (int i = 0; i < count; i++) {
		struct store_oc_node *n = &nodes[i];
		char made_at[128];
		if (strcmp(n->name, c->name) != 0)
			continue;
		if (c->create) {
			snprintf(n->handle, sizeof(n->handle), "%s", c->made.handle);
			snprintf(n->address, sizeof(n->address), "%s", c->made.address);
			snprintf(made_at, sizeof(made_at), "made at %s", c->made.address);
			node_change_state(pv->t->store, c->oc_id, n, NODE_CREATED, made_at);
		} else {
			node_change_state(pv->t->store, c->oc_id, n, NODE_RELEASED, "by its provider");
		}
	}
	free(nodes);
	return count < 0 ? -1 : 0;
}

/* Back on the loop. */
static void node_call_done(void *arg, bool ran)
{
	struct node_call *c = arg;
	struct provision *pv = c->pv;
	struct oc_calls *oc = oc_calls_find(pv, c->oc_id);
	struct tally *tl = oc == NULL ? NULL : c->for_release ? &oc->release : &oc->acquire;
	char oc_id[STORE_ID_MAX];
	/* what the call made is recorded only while this replica holds the
	 * lease: a deposed leader's late result is refused (the new leader
	 * resumes the step as a restarted tower does) */
	bool was = store_fence_on(pv->t->store, true);
	bool recorded = ran && c->rc == 0 && record_call(pv, c) == 0;

	store_fence_on(pv->t->store, was);
	if (!recorded && tl != NULL)
		tally_fail(tl, c->name, !ran ? "the tower stopped first"
				      : c->rc != 0 ? c->err : "cannot read its row");
	if (oc != NULL)
		oc->in_flight--;
	snprintf(oc_id, sizeof(oc_id), "%s", c->oc_id);
	node_call_free(c);
	if (ran && !pv->closing)
		pv->done(pv->done_arg, oc_id);
}

static struct node_call *node_call_new(struct provision *pv, struct provider_slot *prov,
				       const char *oc_id, const struct store_oc_node *n, bool create)
{
	struct node_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->pv = pv;
	c->ops = prov->ops;
	c->ctx = prov->ctx;
	c->create = create;
	snprintf(c->oc_id, sizeof(c->oc_id), "%s", oc_id);
	snprintf(c->name, sizeof(c->name), "%s", n->name);
	snprintf(c->group, sizeof(c->group), "%s", n->group);
	snprintf(c->made.handle, sizeof(c->made.handle), "%s", n->handle);
	snprintf(c->made.address, sizeof(c->made.address), "%s", n->address);
	/* read here, on the loop: the store is not for the call's thread */
	if (create && pv->t->lease != NULL)
		lease_agent_addresses(pv->t->lease, c->towers, sizeof(c->towers));
	return c;
}

/* Queues c; it is freed (and counted failed in tl) when it cannot be. */
static int node_call_submit(struct provision *pv, struct oc_calls *oc, struct tally *tl,
			    struct node_call *c)
{
	c->for_release = tl == &oc->release;
	if (jobs_submit(pv->jobs, node_call_work, node_call_done, c) != 0) {
		tally_fail(tl, c->name, "out of memory");
		node_call_free(c);
		return -1;
	}
	oc->in_flight++;
	return 0;
}

/* ---- release ---- */

/* Starts destroy_node for every node that has something to destroy,
 * counting in tl; nodes never made are marked released at once. Returns
 * the calls started. */
static int release_nodes(struct provision *pv, const struct provision_target *tg,
			 struct oc_calls *oc, struct tally *tl)
{
	int started = 0;

	for (int i = 0; i < tg->node_count; i++) {
		struct store_oc_node *n = &tg->nodes[i];
		struct provider_slot *prov;
		struct node_call *c;
		char prov_err[256];

		if (n->attached) {
			/* Attached: not the provider's, and it stays enrolled, free
			 * to be attached again. */
			if (node_state_parse(n->state) != NODE_RELEASED)
				node_change_state(pv->t->store, tg->oc->id, n, NODE_RELEASED,
						  "attached: it left the overcloud, still enrolled");
			continue;
		}
		if (n->node_id[0] != '\0') {
			/* Its certificate dies with it (and with the node row,
			 * its oc_nodes.node_id reads empty from now on). */
			if (nodes_revoke(pv->t->store, pv->t->hub, pv->t->nodemetrics, n->node_id,
					 "node released") < 0)
				log_error("overcloud %s: cannot delete node %s", tg->oc->id,
					  n->node_id);
			else
				n->node_id[0] = '\0';   /* the view says what the store now does */
		}
		if (node_state_parse(n->state) == NODE_RELEASED)
			continue;
		if (node_state_parse(n->state) != NODE_CREATED && n->token_id[0] == '\0') {
			node_change_state(pv->t->store, tg->oc->id, n, NODE_RELEASED, "never made");
			continue;
		}
		prov = node_provider(pv, tg, n, prov_err, sizeof(prov_err));
		if (prov == NULL) {
			tally_fail(tl, n->name, prov_err);
			continue;
		}
		c = node_call_new(pv, prov, tg->oc->id, n, false);
		if (c == NULL) {
			tally_fail(tl, n->name, "out of memory");
			continue;
		}
		if (node_call_submit(pv, oc, tl, c) == 0)
			started++;
	}
	return started;
}

/* The end of a step: its result, and the OverCloud's calls forgotten. */
static enum provision_status finish(struct provision *pv, const struct tally *tl, const char *oc_id,
				    char *err, size_t err_size)
{
	enum provision_status st = tl->failed > 0 ? PROVISION_FAILED : PROVISION_DONE;

	if (st == PROVISION_FAILED)
		snprintf(err, err_size, "%s", tl->first_error);
	oc_calls_drop(pv, oc_id);
	return st;
}

/* The OverCloud's calls when none is out, so that a pass may act; NULL
 * with *st when it must wait (a call still out, whichever step made it:
 * release waits for a create of an OverCloud deleted while creating) or
 * cannot go on (out of memory, in err). */
static struct oc_calls *calls_idle(struct provision *pv, const char *oc_id,
				   enum provision_status *st, char *err, size_t err_size)
{
	struct oc_calls *oc = oc_calls_get(pv, oc_id);

	if (oc == NULL) {
		snprintf(err, err_size, "out of memory");
		*st = PROVISION_FAILED;
		return NULL;
	}
	if (oc->in_flight > 0) {
		*st = PROVISION_WAITING;
		return NULL;
	}
	return oc;
}

enum provision_status provision_release(struct provision *pv, const struct provision_target *tg,
					char *err, size_t err_size)
{
	enum provision_status st = PROVISION_WAITING;
	struct oc_calls *oc = calls_idle(pv, tg->oc->id, &st, err, err_size);

	if (oc == NULL)
		return st;
	if (!oc->release.started) {
		oc->release.started = true;
		if (release_nodes(pv, tg, oc, &oc->release) > 0)
			return PROVISION_WAITING;
	}
	return finish(pv, &oc->release, tg->oc->id, err, err_size);
}

/* ---- acquire ---- */

/* Starts create_node for node n with a new join token. Returns 0, or -1
 * with the failure counted in the acquire tally. */
static int create_node(struct provision *pv, const struct provision_target *tg,
		       struct oc_calls *oc, struct store_oc_node *n)
{
	const struct pattern_group *g = pattern_find_group(tg->pattern, n->group);
	const char *role = g && g->role ? g->role : n->group;
	char err[512], token[ENROLL_TOKEN_LEN + 1];
	struct provider_slot *prov;
	struct node_call *c;

	prov = node_provider(pv, tg, n, err, sizeof(err));
	if (prov == NULL)
		goto fail;
	if (enroll_create_token(pv->t->store, role, 3600, 1, token, err, sizeof(err)) != 0)
		goto fail;
	/* Recorded first: a node whose call is lost in a crash is made again
	 * with a new token, and the old one is released. Unrecorded, a lost
	 * call would leave a VM nobody releases: no call then. */
	memcpy(n->token_id, token, ENROLL_TOKEN_ID_HEX);
	n->token_id[ENROLL_TOKEN_ID_HEX] = '\0';
	if (store_ocn_update(pv->t->store, tg->oc->id, n) != 0) {
		explicit_bzero(token, sizeof(token));
		snprintf(err, sizeof(err), "cannot record its join token");
		goto fail;
	}
	c = node_call_new(pv, prov, tg->oc->id, n, true);
	if (c == NULL) {
		explicit_bzero(token, sizeof(token));
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	memcpy(c->token, token, sizeof(token));
	explicit_bzero(token, sizeof(token));
	snprintf(c->size, sizeof(c->size), "%s", n->size[0] ? n->size : tg->oc->size);
	if (prov->ops->wants_user_data) {
		/* cloud-init user-data (userdata_render, with this tower's
		 * endpoints); tower.conf [provider] arch = aarch64 for ARM
		 * instance types. */
		const char *arch = config_get(pv->t->config, prov->ops->name, "arch");
		size_t user_data_len = 0;
		c->user_data = userdata_for_tower(pv->t, c->token, role, arch ? arch : "x86_64",
						  n->name, &user_data_len, err, sizeof(err));
		if (c->user_data == NULL) {
			node_call_free(c);
			goto fail;
		}
	}
	node_call_submit(pv, oc, &oc->acquire, c);
	return 0;
fail:
	tally_fail(&oc->acquire, n->name, err);
	return -1;
}

/* A failed acquire: the nodes it made are released first (once), then the
 * step fails with the first failure. */
static enum provision_status roll_back(struct provision *pv, const struct provision_target *tg,
				       struct oc_calls *oc, char *err, size_t err_size)
{
	if (!oc->acquire.rolled_back) {
		oc->acquire.rolled_back = true;
		log_warn("overcloud %s: %s; releasing the nodes already made", tg->oc->id,
			 oc->acquire.first_error);
		if (release_nodes(pv, tg, oc, &oc->acquire) > 0)
			return PROVISION_WAITING;
	}
	return finish(pv, &oc->acquire, tg->oc->id, err, err_size);
}

enum provision_status provision_acquire(struct provision *pv, const struct provision_target *tg,
					char *err, size_t err_size)
{
	enum provision_status st = PROVISION_WAITING;
	struct oc_calls *oc = calls_idle(pv, tg->oc->id, &st, err, err_size);

	if (oc == NULL)
		return st;
	if (oc->acquire.failed == 0) {
		/* Also after a restart: the nodes not made yet. */
		for (int i = 0; i < tg->node_count; i++) {
			struct store_oc_node *n = &tg->nodes[i];
			if (node_state_parse(n->state) != NODE_PENDING || n->attached)
				continue;
			if (create_node(pv, tg, oc, n) != 0)
				break;
		}
		if (oc->in_flight > 0)
			return PROVISION_WAITING;
	}
	if (oc->acquire.failed > 0)
		return roll_back(pv, tg, oc, err, err_size);
	return finish(pv, &oc->acquire, tg->oc->id, err, err_size);
}

/* ---- life ---- */

struct provision *provision_new(struct tower *t, provision_call_done_fn done, void *arg, char *err,
				size_t err_size)
{
	struct provision *pv = calloc(1, sizeof(*pv));

	if (pv == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pv->t = t;
	pv->done = done;
	pv->done_arg = arg;
	find_agent_binary(pv->agent_binary, sizeof(pv->agent_binary));
	pv->jobs = jobs_new(t->base, PROVIDER_THREADS, err, err_size);
	if (pv->jobs == NULL) {
		free(pv);
		return NULL;
	}
	return pv;
}

void provision_free(struct provision *pv)
{
	if (pv == NULL)
		return;
	pv->closing = true;
	jobs_free(pv->jobs);
	while (pv->calls != NULL)
		oc_calls_drop(pv, pv->calls->oc_id);
	for (size_t i = 0; i < pv->provider_count; i++)
		pv->providers[i].ops->close(pv->providers[i].ctx);
	free(pv);
}
