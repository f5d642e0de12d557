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

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pipelines/run_types.h"
#include "tracking/types.h"

namespace cairn::storage {
class ArtifactStore;
class Database;
class SqlSession;
}  // namespace cairn::storage
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
  // The child runs of `steps` (of `run`) in one tracking transaction: sets each step's
  // tracking_run_id ("" without tracking or on its error), as StartStepRun would.
  void StartStepRuns(const RunRecord& run, const std::vector<StepRecord*>& steps);
  // Queue the end of a child / parent run (status from the state; outputs linked); done
  // by Flush, after the dispatcher has launched what became ready, all in one transaction.
  void EndStepRun(const StepRecord& step);
  void EndPipelineRun(const RunRecord& run);
  void Flush();

  // The same ends written inside the caller's transaction on `db` (the engine's Save, one
  // commit for its state and the ends) when the tracking store uses `db`:
  //   LinkOutputs();  Save(…, [&](session) { return WriteEnds(session); });
  //   then EndsWritten(saved.ok()) — a failed transaction keeps the ends for the next try.
  bool SharesDatabase(const storage::Database& db) const;
  bool HasEnds() const { return !pending_.empty(); }
  void LinkOutputs();
  absl::Status WriteEnds(storage::SqlSession& session);
  void EndsWritten(bool committed);

 private:
  std::string ExperimentFor(const std::string& pipeline);
  // The child run request of `step` (tags as the header says).
  static tracking::CreateRunRequest StepRunRequest(const std::string& experiment,
                                                   const RunRecord& run, const StepRecord& step);
  void LinkOutputs(const std::string& tracking_run_id,
                   const std::map<std::string, std::string>& outputs);

  tracking::TrackingStore* store_;
  storage::ArtifactStore* artifacts_;
  std::map<std::string, std::string> experiments_;  // pipeline → experiment id
  struct PendingEnd {
    std::string tracking_run_id;
    std::string status;
    int64_t end_ms = 0;
    std::map<std::string, std::string> outputs;  // to link first (finished steps)
    bool pipeline = false;                       // a parent run (for the warning)
  };
  std::vector<PendingEnd> pending_;
};

}  // namespace cairn::pipelines
