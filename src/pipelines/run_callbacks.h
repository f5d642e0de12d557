#pragma once
// The two seams through which schedules (schedule_service.h) and event triggers
// (trigger_service.h) reach the rest of the server, so they are tested without the
// registry or the engine. In the server:
//   list  = the latest version of every pipeline: PipelineRegistry::List(), specs only;
//   start = PipelineEngine::StartRun(request), returning the new run's id.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// Starts a run and returns its id. Unavailable means "try again later" (the database is
// unreachable); any other error is permanent for this request (bad parameters, unknown
// pipeline) and is logged, not retried.
using StartRunFn = std::function<absl::StatusOr<std::string>(const StartRunRequest&)>;

// The latest version of every registered (not removed) pipeline.
using ListPipelinesFn = std::function<absl::StatusOr<std::vector<PipelineSpec>>()>;

}  // namespace cairn::pipelines
