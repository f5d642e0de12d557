#pragma once
// Runs pipelines (DESIGN.md §5 "pipelines"): pins a run to a pipeline version, resolves
// its parameters, dispatches ready steps to executors, retries with backoff, enforces
// caching, records every run / step / attempt in the run store, mirrors runs into the
// tracking store (a parent run per pipeline run, a child run per step) and resumes
// unfinished runs after a restart. A `noop: true` step is never dispatched: it succeeds
// in the dispatcher once its dependencies have (no job, folder or attempt; its child run
// as every step's). Thread-safe.

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
#include "pipelines/pipeline_registry.h"
#include "pipelines/run_types.h"

namespace cairn::storage {
class Database;
class ArtifactStore;
}  // namespace cairn::storage
namespace cairn::tracking {
class TrackingStore;
}

namespace cairn::pipelines {


// Looks up a pipeline version (the latest when `version` is empty), as
// PipelineRegistry::Get does. Lets tests run the engine without a registry.
using VersionLookup = std::function<absl::StatusOr<PipelineVersion>(
    std::string_view name, std::optional<int64_t> version)>;

struct EngineOptions {
  std::string data_dir;    // runs live in <data_dir>/pipelines/runs/<run id>/<step>/
  std::string server_url;  // given to steps as CAIRN_URL and MLFLOW_TRACKING_URI
  // Where the tracking store's "mlflow-artifacts:/…" run artifact URIs live (the server's
  // <data>/artifacts store). Declared step outputs are hard-linked (or copied) into the
  // step's child run under outputs/<name>. nullptr: outputs are not registered as artifacts.
  storage::ArtifactStore* artifacts = nullptr;
  // The executor of steps that ask for GPUs and name no executor themselves (the server's
  // `routing: {gpu_steps: slurm}`); empty: the pipeline's executor.
  std::string gpu_executor;
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
  // The same with the pipeline versions from `lookup` (tests; the registry's Get above).
  static absl::StatusOr<std::unique_ptr<PipelineEngine>> Open(
      storage::Database& db, Clock& clock, VersionLookup lookup,
      std::map<std::string, compute::Executor*> executors, tracking::TrackingStore* tracking,
      EngineOptions options);
  ~PipelineEngine();

  // Resumes runs left queued/running by a previous server (DESIGN: finished steps stay
  // finished; a job still running is re-attached; a lost local process is retried).
  absl::Status Recover();

  // Validates the parameters (unknown name, wrong type, missing required → InvalidArgument
  // naming it) and starts the run; returns at once with the run queued.
  absl::StatusOr<RunRecord> StartRun(const StartRunRequest& request);
  // Stops every running step (process group / scancel) and marks queued steps cancelled;
  // the run ends kCancelled. Returns once the steps are cancelled (at most ~5 s; the run
  // may still be ending when a job ignores its cancellation). NotFound for an unknown run;
  // FailedPrecondition when the run has already ended.
  absl::Status CancelRun(std::string_view run_id);

  // With steps and attempts, as stored: while the dispatcher gathers job reports for one
  // commit (at most ~4 ms) it waits for that commit. Exception: while the database refuses
  // the dispatcher's commits (it retries them every second), an active run is answered
  // from memory, with the changes that are still to be stored.
  absl::StatusOr<RunRecord> GetRun(std::string_view run_id);
  absl::StatusOr<ListRunsResult> ListRuns(const ListRunsRequest& request);

  // The log of one attempt of a step (attempt 0: the latest) from byte `offset`, at most
  // `max_bytes`; `*done` is set when the attempt has ended and nothing more will be written.
  absl::StatusOr<std::string> ReadLog(std::string_view run_id, std::string_view step,
                                      int attempt, int64_t offset, int64_t max_bytes, bool* done);

  // Blocks until the run is terminal or `timeout_ms` passes (DeadlineExceeded). Tests, CLI --wait.
  absl::StatusOr<RunRecord> WaitForRun(std::string_view run_id, int64_t timeout_ms);

  // `fn` is called once per run when it reaches a terminal state (succeeded, failed,
  // cancelled), with its record (steps included), after it was stored, from the engine's
  // thread and without engine locks held (it may call the engine). The event bus
  // publishes pipeline_run_finished with it. Register before starting runs.
  void OnRunFinished(std::function<void(const RunRecord&)> fn);

  // The server's address for steps launched from now on (CAIRN_URL, MLFLOW_TRACKING_URI):
  // the server binds after the engine exists (port 0 picks one). Overrides
  // EngineOptions::server_url. Thread-safe.
  void SetServerUrl(std::string url);

  // Stops dispatching; running jobs are left to be re-attached by the next server.
  // Idempotent; the destructor calls it. Callbacks of executors that arrive later are
  // dropped (they may outlive the engine).
  void Shutdown();

  class Impl;

 private:
  explicit PipelineEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::pipelines
