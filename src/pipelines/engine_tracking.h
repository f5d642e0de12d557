#pragma once
// The engine's mirror of runs in the tracking store (issue 4 §4): experiment
// "pipelines/<name>" (created when missing), a parent run per pipeline run (params = the
// resolved parameters; tags cairn.pipeline.name / version / trigger / run_id) and a child
// run per step (tags mlflow.parentRunId, cairn.step, cairn.pipeline.run_id,
// cairn.input_hashes, cairn.cache_key, cairn.cached_from). When a step ends its child run
// gets FINISHED / FAILED / KILLED and its declared outputs are hard-linked (or copied)
// into the child run's artifacts under outputs/<name>/ (a file keeps its name there), so
// MLflow shows them with lineage.
//
// Tracking is best effort: a failing tracking call is logged and never fails a run. With
// a null store every call does nothing. Not thread-safe: the engine's dispatcher thread
// is its only caller.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pipelines/run_types.h"

namespace cairn::storage {
class ArtifactStore;
}
namespace cairn::tracking {
class TrackingStore;
}

namespace cairn::pipelines {

class EngineTracking {
 public:
  EngineTracking(tracking::TrackingStore* store, storage::ArtifactStore* artifacts)
      : store_(store), artifacts_(artifacts) {}

  // The parent run's id ("" without tracking or on error).
  std::string StartPipelineRun(const RunRecord& run);
  // The step's child run id ("" without tracking or on error); tags from `step`.
  std::string StartStepRun(const RunRecord& run, const StepRecord& step);
  // Queue the end of a child / parent run (status from the state; outputs linked); done
  // by Flush, after the dispatcher has launched what became ready.
  void EndStepRun(const StepRecord& step);
  void EndPipelineRun(const RunRecord& run);
  void Flush();

 private:
  std::string ExperimentFor(const std::string& pipeline);
  void LinkOutputs(const std::string& tracking_run_id,
                   const std::map<std::string, std::string>& outputs);

  tracking::TrackingStore* store_;
  storage::ArtifactStore* artifacts_;
  std::map<std::string, std::string> experiments_;  // pipeline → experiment id
  std::vector<std::function<void()>> pending_;
};

}  // namespace cairn::pipelines
