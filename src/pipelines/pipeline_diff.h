#pragma once
// Field-level differences between two versions of a pipeline, on their canonical JSON
// (pipeline_json.h): [{"path": "steps[1].command", "old": […], "new": […]}, …].
//
// Objects are compared key by key ("schedule.cron", "steps[0].resources.gpus"); lists of
// scalars (command, depends_on) as one value; lists of named objects (params, steps,
// inputs, outputs) are matched by name, so inserting a step does not make every later
// one "changed": the path carries the index in the new version (the old one for removed
// entries), an added entry has "old": null, a removed one "new": null, and a new order of
// the same names is one entry for the list ("steps" with the old and new name lists).
// Other lists (triggers) are compared by position. Pure functions; thread-safe.

#include "common/json.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

Json DiffPipelineJson(const Json& old_json, const Json& new_json);
Json DiffPipelines(const PipelineSpec& old_spec, const PipelineSpec& new_spec);

}  // namespace cairn::pipelines
