#pragma once
// The demo's training chapter: applies the churn-train pipeline (churn_pipeline.h) to the
// pipeline registry in <data>/cairn.db and runs it with the pipeline engine on a local
// executor in this process — the steps run as `cairn demo step …` child processes on the
// same data directory — printing each step as it ends.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/demo_stores.h"
#include "pipelines/run_types.h"

namespace cairn::pipelines {
class PipelineEngine;
}  // namespace cairn::pipelines

namespace cairn::demo {

struct TrainingPipelineOptions {
  std::string data_dir;  // absolute: the steps run in their own directories
  std::map<std::string, std::string> params;  // overrides of the pipeline's parameters
  std::optional<double> cpus;  // the local executor's capacity; unset: the machine's
  bool no_cache = false;
};

// One step of the run as it ended.
struct PipelineStepOutcome {
  std::string name;
  std::string state;  // "succeeded" | "cached" | "failed" | "skipped" | "cancelled"
  int attempts = 0;   // 0 for a cached step
  double seconds = 0;
  std::string cached_from;  // the run whose outputs it reused
  std::map<std::string, std::string> outputs;  // output name → absolute path
};

struct TrainingPipelineRun {
  std::string pipeline;  // "churn-train"
  int64_t version = 0;
  std::string change;  // how applying it changed the registry: "added" | "changed" | "unchanged"
  std::string run_id;
  std::string tracking_run_id;  // the parent tracking run
  std::vector<PipelineStepOutcome> steps;  // in the order they ended
  int cached = 0;  // steps served from the cache
  double seconds = 0;

  // The step of that name; nullptr when absent.
  const PipelineStepOutcome* Step(const std::string& name) const;
};

// Called when a step ends, before the next is printed (the demo prints what it produced).
using StepDetailFn = std::function<std::string(const PipelineStepOutcome&)>;

// Applies and runs the pipeline, printing the plan line, one line per step as it ends and
// a closing line ("9 of 9 steps cached: nothing re-ran"). A failed run is an error
// (FailedPrecondition) carrying the engine's message: which step failed, after how many
// attempts, why, and the last lines of its log. Stores must be open without the feature
// store (the training-set step opens it in its own process).
absl::StatusOr<TrainingPipelineRun> RunTrainingPipeline(DemoStores& stores,
                                                        const TrainingPipelineOptions& options,
                                                        const StepDetailFn& detail,
                                                        std::ostream& out);

// Waits until run `run_id` (of `pipeline`) ends and returns it. While it runs, `progress`
// (may be empty) gets the run about every `every_ms`; after `deadline_ms` the run is
// cancelled and the answer is DeadlineExceeded ("pipeline P run R did not finish within N
// minutes; cancelled"). Errors of the engine otherwise.
absl::StatusOr<pipelines::RunRecord> WaitForPipelineRun(
    pipelines::PipelineEngine& engine, const std::string& pipeline, const std::string& run_id,
    int64_t every_ms, int64_t deadline_ms,
    const std::function<void(const pipelines::RunRecord&)>& progress);

}  // namespace cairn::demo
