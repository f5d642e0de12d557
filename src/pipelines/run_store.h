#pragma once
// Pipeline runs, their steps and every attempt of a step on the metadata database
// (SQLite or PostgreSQL; migrations component "pipeline_runs"). The engine keeps the live
// state in memory and writes what changed here in one transaction per batch of events;
// the API lists and opens runs from here.
//
//   pipeline_runs      id → pipeline, version, params (JSON), trigger, state, message, …;
//                      indexes (created_ms, id), (pipeline, created_ms, id),
//                      (state, created_ms, id), (pipeline, state, created_ms, id): listing
//                      newest first with keyset pagination reads one index range
//   pipeline_steps     (run_id, position) → name, state, cache key, outputs (JSON), …;
//                      index (cache_key) for cache look-ups
//   pipeline_attempts  (run_id, position, attempt) → state, reason, exit code, job id, …
//
// Thread-safe (all state lives in the database).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/run_types.h"
#include "storage/database.h"

namespace cairn::pipelines {

// One run whose header and some steps (indices into run->steps) are to be written.
struct RunChange {
  const RunRecord* run = nullptr;
  std::vector<int> steps;
  bool header = true;  // false: the header is stored and unchanged (only the steps are written)
};

// An earlier step that produced the outputs a cache key names.
struct CachedStep {
  std::string run_id;  // the run that ran the command (follows cached_from)
  std::map<std::string, std::string> outputs;
};

class RunStore {
 public:
  // Applies the "pipeline_runs" migrations. `db` outlives the store.
  static absl::StatusOr<std::unique_ptr<RunStore>> Open(storage::Database& db);

  // Inserts or updates each run's header (unless `header` is false) and the listed steps
  // with all their attempts, in one transaction; `also` (when given) runs in the same
  // transaction after them, and its error rolls everything back.
  absl::Status Save(std::span<const RunChange> changes,
                    const std::function<absl::Status(storage::SqlSession&)>& also = nullptr);

  // The run with its steps (in position order) and attempts. NotFound names the id.
  absl::StatusOr<RunRecord> GetRun(std::string_view run_id);

  // Newest first (created_ms, then id), without steps. InvalidArgument for a limit outside
  // 1..1000 or a malformed page token.
  absl::StatusOr<ListRunsResult> ListRuns(const ListRunsRequest& request);

  // Ids of the runs still queued or running, oldest first (Recover).
  absl::StatusOr<std::vector<std::string>> UnfinishedRuns();

  // Up to `limit` earlier steps, newest first, that succeeded (or were served from the
  // cache) under `cache_key`, not counting run `exclude_run_id`.
  absl::StatusOr<std::vector<CachedStep>> FindCached(std::string_view cache_key,
                                                     std::string_view exclude_run_id,
                                                     int limit = 5);

 private:
  explicit RunStore(storage::Database& db) : db_(db) {}
  storage::Database& db_;
};

}  // namespace cairn::pipelines
