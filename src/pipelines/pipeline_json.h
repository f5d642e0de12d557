#pragma once
// The canonical JSON form of a pipeline (what the registry stores and hashes, what the API
// returns as `spec`) and its SHA-256 content hash. Canonical: every field present with
// its value or default, object keys sorted (common/json.h), lists in written order,
// durations in milliseconds (`timeout_ms`, `backoff_ms`, `max_backoff_ms`), memory in
// bytes (`memory_bytes`), parameter defaults in their type's canonical text ("06" → "6");
// file and line numbers are left out. So the same content written with other key order,
// quoting, whitespace or comments has the same hash, and any change of content a
// different one. Pure functions; thread-safe.
//
//   {"kind": "Pipeline", "name", "description", "owner", "tags": {}, "executor",
//    "params": [{"name", "type", "default" (null: required), "description"}],
//    "steps": [{"name", "command": [..], "script", "env": {}, "workdir",
//               "inputs": [{"name", "from", "path"}], "outputs": [{"name", "path"}],
//               "depends_on": [..], "resources": {"cpus", "memory_bytes", "gpus",
//               "timeout_ms"}, "retry": {"attempts", "backoff_ms", "factor",
//               "max_backoff_ms", "jitter"}, "cache", "executor", "partition",
//               "noop": true (only on a no-op step: absent means false)}],
//    "schedule": {"cron", "catchup"}, "triggers": [{"on", "match": {}, "params": {}}]}

#include <string>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

Json PipelineToJson(const PipelineSpec& spec);
// DumpJson(PipelineToJson(spec)): compact, keys sorted.
std::string PipelineCanonicalText(const PipelineSpec& spec);
// Lower-case hex SHA-256 of PipelineCanonicalText.
std::string PipelineContentHash(const PipelineSpec& spec);

// One step alone, in the same form as in "steps" (for the engine's cache key: the step's
// definition without the pipeline around it).
Json StepToJson(const StepSpec& step);
std::string StepCanonicalJson(const StepSpec& step);

// Back from the canonical form (the registry reads it; missing fields take their defaults).
// file and lines are left empty / 0. InvalidArgument naming the field on a wrong type.
absl::StatusOr<PipelineSpec> PipelineFromJson(const Json& json);

}  // namespace cairn::pipelines
