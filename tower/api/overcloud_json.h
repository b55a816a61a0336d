/* overcloud_json.h — the OverCloud API objects: the engine's C snapshots
 * (tower/engine/workflow.h) turned into the JSON clients read. */
#ifndef OC_OVERCLOUD_JSON_H
#define OC_OVERCLOUD_JSON_H

#include <stdint.h>

#include <jansson.h>

#include "tower/engine/workflow.h"

/* The API object of a snapshot; now_ms dates the elapsed time of steps
 * still running. */
json_t *overcloud_json(const struct workflow_overcloud *oc, int64_t now_ms);
/* The object of one OverCloud, or NULL when unknown. */
json_t *overcloud_json_get(struct workflow *wf, const char *id);
/* Every OverCloud, as an array of those objects. */
json_t *overcloud_json_list(struct workflow *wf);
/* The run ids of its steps ([{"dag","step","run_id"}]), or NULL when unknown. */
json_t *overcloud_json_runs(struct workflow *wf, const char *id);
/* The SSE event name of a watch event: "overcloud" or "end". */
const char *overcloud_json_event_name(enum workflow_event event);

#endif
