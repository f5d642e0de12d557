#pragma once
// Internal to the tracking library: the schema and the SQL helpers that
// tracking_store.cc and run_search.cc share. Not a public interface.
//
// Schema (docs in tracking_schema.cc): experiments, experiment_tags, runs, params, tags,
// metric_series and metric_blocks (metric points packed in blocks, metric_blocks.h),
// latest_metrics (one row per run and key, kept in the same write), datasets and
// run_inputs.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"
#include "storage/migrations.h"
#include "tracking/types.h"

namespace cairn::tracking::internal {

std::span<const storage::Migration> TrackingMigrations();

// Columns selected for a RunInfo, in the order RunInfoFromRow reads them.
inline constexpr char kRunColumns[] =
    "r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, "
    "r.artifact_uri, r.lifecycle_stage";
RunInfo RunInfoFromRow(const storage::SqlRowView& row);

inline constexpr char kExperimentColumns[] =
    "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, "
    "e.last_update_time";
Experiment ExperimentFromRow(const storage::SqlRowView& row);

// Fills metrics (latest), params, tags and inputs of `runs` (whose info is set): on
// PostgreSQL with a bounded number of statements whatever the number of runs (IN lists of
// 64 ids), on SQLite (in-process, no round trips) with three short primary-key statements
// per run. The same data either way.
absl::Status LoadRunData(storage::SqlSession& session, storage::Dialect dialect,
                         std::vector<Run>& runs);
// The same for one run (runs/get): three primary-key statements on either backend.
absl::Status LoadRunData(storage::SqlSession& session, Run& run);
// Fills the tags of `experiments`.
absl::Status LoadExperimentTags(storage::SqlSession& session,
                                std::vector<Experiment>& experiments);

// Opaque offset page tokens (base64 of {"offset": N}), as MLflow's SQL store uses.
std::string EncodeOffsetToken(int64_t offset);
// Empty token → 0; InvalidArgument when malformed.
absl::StatusOr<int64_t> DecodeOffsetToken(std::string_view token);

// Reads a metric value stored as (value, is_nan).
double MetricValue(double stored, bool is_nan);

// Multi-row statements (INSERT … VALUES (…), (…)). A write of n rows is split into
// chunks whose sizes are powers of two up to kMaxRowsPerStatement (20 rows: 16 + 4), so
// that a handful of prepared statements serve every n. Returns (first row, row count)
// pairs in row order.
inline constexpr size_t kMaxRowsPerStatement = 64;
std::vector<std::pair<size_t, size_t>> RowChunks(size_t rows);
// Appends "$first, $first+1, …" (`count` placeholders) to `out`.
void AppendPlaceholders(int first, int count, std::string* out);

// NotFound with MLflow's message for an unknown run.
absl::Status RunNotFound(std::string_view run_id);

struct RunKeys {
  std::string lifecycle_stage;
  int64_t experiment_id = 0;
  int64_t run_key = 0;  // the compact key of the run's metric points
};
// The run's stage and keys; NotFound when the run does not exist.
absl::StatusOr<RunKeys> RunStage(storage::SqlSession& session, std::string_view run_id);

}  // namespace cairn::tracking::internal
