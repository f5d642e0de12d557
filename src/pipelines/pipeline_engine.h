#pragma once
// Runs pipelines (DESIGN.md §5 "pipelines"): pins a run to a pipeline version, resolves
// its parameters, dispatches ready steps to executors, retries with backoff, enforces
// caching, records every run / step / attempt in the run store, mirrors runs into the
// tracking store (a parent run per pipeline run, a child run per step) and resumes
// unfinished runs after a restart. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "compute/executor.h"
#include "pipelines/run_types.h"

namespace cairn::storage {
class Database;
class ArtifactStore;
}  // namespace cairn::storage
namespace cairn::tracking {
class TrackingStore;
}

namespace cairn::pipelines {

class PipelineRegistry;

struct EngineOptions {
  std::string data_dir;    // runs live in <data_dir>/pipelines/runs/<run id>/<step>/
  std::string server_url;  // given to steps as CAIRN_URL and MLFLOW_TRACKING_URI
};

struct StartRunRequest {
  std::string pipeline;
  std::optional<int64_t> version;             // empty: the latest
  std::map<std::string, std::string> params;  // overrides, as text; typed by the spec
  std::string trigger = "manual";             // "manual" | "schedule" | "event:<type>"
  std::string trigger_detail;
  bool no_cache = false;
};

struct ListRunsRequest {
  std::string pipeline;  // empty: all
  std::optional<RunState> state;
  int limit = 50;          // 1..1000
  std::string page_token;  // from the previous page
};

struct ListRunsResult {
  std::vector<RunRecord> runs;  // newest first, without steps
  std::string next_page_token;  // empty: last page
};

class PipelineEngine {
 public:
  // `executors` maps executor names ("local", "slurm") to executors; they outlive the engine.
  static absl::StatusOr<std::unique_ptr<PipelineEngine>> Open(
      storage::Database& db, Clock& clock, PipelineRegistry& registry,
      std::map<std::string, compute::Executor*> executors, tracking::TrackingStore* tracking,
      EngineOptions options);
  ~PipelineEngine();

  // Resumes runs left queued/running by a previous server (DESIGN: finished steps stay
  // finished; a job still running is re-attached; a lost local process is retried).
  absl::Status Recover();

  // Validates the parameters (unknown name, wrong type, missing required → InvalidArgument
  // naming it) and starts the run; returns at once with the run queued.
  absl::StatusOr<RunRecord> StartRun(const StartRunRequest& request);
  // Stops every running step (process group / scancel); the run ends kCancelled.
  absl::Status CancelRun(std::string_view run_id);

  absl::StatusOr<RunRecord> GetRun(std::string_view run_id);  // with steps and attempts
  absl::StatusOr<ListRunsResult> ListRuns(const ListRunsRequest& request);

  // The log of one attempt of a step (attempt 0: the latest) from byte `offset`, at most
  // `max_bytes`; `*done` is set when the attempt has ended and nothing more will be written.
  absl::StatusOr<std::string> ReadLog(std::string_view run_id, std::string_view step,
                                      int attempt, int64_t offset, int64_t max_bytes, bool* done);

  // Blocks until the run is terminal or `timeout_ms` passes (DeadlineExceeded). Tests, CLI --wait.
  absl::StatusOr<RunRecord> WaitForRun(std::string_view run_id, int64_t timeout_ms);

  // Called after every run state change (the event bus publishes run_finished with it).
  void OnRunFinished(std::function<void(const RunRecord&)> fn);

  // Stops dispatching; running jobs are left to be re-attached by the next server.
  void Shutdown();
};

}  // namespace cairn::pipelines
