#pragma once
// The tracking store: MLflow's experiments, runs, params, tags, metrics and dataset
// inputs over storage::Database (SQLite or PostgreSQL, same SQL).
//
// Semantics follow MLflow's SQL store (mlflow/store/tracking/sqlalchemy_store.py) and its
// validation (mlflow/utils/validation.py), so the stock client sees the same behaviour:
//   - experiment "0" named "Default" always exists; experiment names are unique
//     (AlreadyExists); deleted experiments cannot receive new runs;
//   - params are write-once (same value again is fine, another value is InvalidArgument);
//     tags overwrite; metrics are append-only series, and logging an identical point
//     (key, value, timestamp, step) twice stores it once, so retried requests are safe;
//   - a run's "latest" metric per key is the point with the greatest (step, timestamp,
//     value);
//   - logging to a run needs the run to be active (lifecycle_stage "active").
//
// Artifact locations follow `mlflow server --serve-artifacts`: an experiment created
// without an artifact_location gets "<default_artifact_root>/<experiment_id>" (root
// "mlflow-artifacts:/" → "mlflow-artifacts:/<id>"); a run gets
// "<experiment artifact_location>/<run_id>/artifacts".
//
// Errors use canonical codes that api/errors.h maps to MLflow's: InvalidArgument →
// INVALID_PARAMETER_VALUE, NotFound → RESOURCE_DOES_NOT_EXIST, AlreadyExists →
// RESOURCE_ALREADY_EXISTS. Messages follow MLflow's wording.
//
// Thread-safe: all state lives in the database; each call is one Read or Write
// transaction.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "storage/database.h"
#include "tracking/types.h"

namespace cairn::tracking {

// Limits (MLflow's).
inline constexpr int64_t kSearchMaxResultsDefault = 1000;
inline constexpr int64_t kSearchMaxResultsThreshold = 50000;
inline constexpr int64_t kBulkIntervalMaxResultsDefault = 2500;  // MLflow 3 MAX_RESULTS_PER_RUN
inline constexpr int64_t kBulkIntervalMaxResultsLimit = 2500;
inline constexpr size_t kBulkIntervalMaxRuns = 100;

struct SearchExperimentsRequest {
  ViewType view_type = ViewType::kActiveOnly;
  int64_t max_results = kSearchMaxResultsDefault;
  std::string filter;
  std::vector<std::string> order_by;
  std::string page_token;
};

struct SearchExperimentsResult {
  std::vector<Experiment> experiments;
  std::string next_page_token;  // empty when there is no further page
};

struct SearchRunsRequest {
  std::vector<std::string> experiment_ids;
  std::string filter;
  ViewType view_type = ViewType::kActiveOnly;
  int64_t max_results = kSearchMaxResultsDefault;
  std::vector<std::string> order_by;
  std::string page_token;
};

struct SearchRunsResult {
  std::vector<Run> runs;
  std::string next_page_token;  // empty when there is no further page
};

struct MetricHistoryPage {
  std::vector<Metric> metrics;  // ordered by (timestamp, step, value), as MLflow
  std::string next_page_token;  // empty when there is no further page
};

// One page of a metric history read whole (24 bytes a point) for a caller that formats it
// itself (metrics/get-history). The points stay as the blocks were read and `ranges` says
// in which order to visit them, so an out-of-order series is not copied a second time.
struct MetricHistoryPoints {
  struct Point {
    int64_t step = 0;
    int64_t timestamp = 0;
    double value = 0;  // NaN and ±inf allowed
  };
  struct Range {
    size_t begin = 0;
    size_t end = 0;
  };
  std::vector<Point> points;    // may also hold points outside the page
  std::vector<Range> ranges;    // the page: points[begin, end) of each range, in turn
  std::string next_page_token;  // empty when there is no further page

  // Points in the page.
  size_t size() const {
    size_t total = 0;
    for (const Range& range : ranges) total += range.end - range.begin;
    return total;
  }
  // Calls fn(const Point&) for the page's points in history order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Range& range : ranges)
      for (size_t index = range.begin; index < range.end; ++index) fn(points[index]);
  }
};

// The end of a run for TrackingStore::EndRuns.
struct RunEnd {
  std::string run_id;
  std::string status;  // FINISHED, FAILED, KILLED (or RUNNING, SCHEDULED)
  int64_t end_time = 0;
};

class TrackingStore {
 public:
  // Applies this component's migrations ("tracking") and ensures experiment "0"
  // "Default". `db` and `clock` must outlive the store.
  static absl::StatusOr<std::unique_ptr<TrackingStore>> Open(
      storage::Database& db, Clock& clock,
      std::string default_artifact_root = "mlflow-artifacts:/");

  // ---- Experiments ----

  // Returns the new experiment's id. InvalidArgument for an invalid name or tag;
  // AlreadyExists when an experiment (active or deleted) has the name.
  absl::StatusOr<std::string> CreateExperiment(
      std::string_view name, std::string_view artifact_location,
      const std::vector<std::pair<std::string, std::string>>& tags);
  // NotFound when no experiment has the id (deleted ones are returned).
  absl::StatusOr<Experiment> GetExperiment(std::string_view experiment_id);
  // NotFound when no experiment has the name.
  absl::StatusOr<Experiment> GetExperimentByName(std::string_view name);
  absl::StatusOr<SearchExperimentsResult> SearchExperiments(
      const SearchExperimentsRequest& request);
  // Renames; InvalidArgument when the experiment is deleted; AlreadyExists on a clash.
  absl::Status RenameExperiment(std::string_view experiment_id, std::string_view new_name);
  // Marks the experiment and its runs deleted. NotFound unless it exists and is active.
  absl::Status DeleteExperiment(std::string_view experiment_id);
  // Marks the experiment and its deleted runs active again. NotFound unless it exists
  // and is deleted.
  absl::Status RestoreExperiment(std::string_view experiment_id);
  absl::Status SetExperimentTag(std::string_view experiment_id, std::string_view key,
                                std::string_view value);
  // NotFound when the tag does not exist.
  absl::Status DeleteExperimentTag(std::string_view experiment_id, std::string_view key);

  // ---- Runs ----

  // NotFound for an unknown experiment; InvalidArgument when it is deleted or the
  // request is invalid.
  absl::StatusOr<Run> CreateRun(const CreateRunRequest& request);
  // NotFound when no run has the id (deleted runs are returned).
  absl::StatusOr<Run> GetRun(std::string_view run_id);
  absl::StatusOr<RunInfo> GetRunInfo(std::string_view run_id);
  // Changes only the fields given. `status` must be one of RUNNING, SCHEDULED, FINISHED,
  // FAILED, KILLED. A new run_name also updates tag mlflow.runName.
  absl::StatusOr<RunInfo> UpdateRun(std::string_view run_id, std::optional<std::string> status,
                                    std::optional<int64_t> end_time,
                                    std::optional<std::string> run_name);
  // Batches for the pipeline engine (a child run per step): each request or end is checked
  // and applied as CreateRun / UpdateRun(status, end_time) would, all in ONE write
  // transaction. The results are in request order: the run created (or ended), or that
  // request's own error (InvalidArgument, NotFound: unknown or deleted experiment, unknown
  // or deleted run), which does not stop the others. The returned status is an error only
  // when the transaction failed; then nothing was written.
  absl::StatusOr<std::vector<absl::StatusOr<Run>>> CreateRuns(
      const std::vector<CreateRunRequest>& requests);
  absl::StatusOr<std::vector<absl::Status>> EndRuns(const std::vector<RunEnd>& ends);
  absl::Status DeleteRun(std::string_view run_id);
  absl::Status RestoreRun(std::string_view run_id);
  absl::StatusOr<SearchRunsResult> SearchRuns(const SearchRunsRequest& request);

  // ---- Run data ----

  // One write transaction for the whole batch; validated first (MLflow's limits: at
  // most 1000 metrics, 100 params, 100 tags, 1000 in total), then applied atomically.
  // As MLflow (MLFLOW_TRUNCATE_LONG_VALUES), param values over 6000 and tag values over
  // 8000 characters are truncated to the limit, here and in LogParam/SetTag/CreateRun.
  absl::Status LogBatch(std::string_view run_id, const std::vector<Metric>& metrics,
                        const std::vector<Param>& params, const std::vector<RunTag>& tags);
  absl::Status LogMetric(std::string_view run_id, const Metric& metric);
  absl::Status LogParam(std::string_view run_id, const Param& param);
  absl::Status SetTag(std::string_view run_id, const RunTag& tag);
  // NotFound when the run has no such tag.
  absl::Status DeleteTag(std::string_view run_id, std::string_view key);
  absl::Status LogInputs(std::string_view run_id, const std::vector<DatasetInput>& inputs);

  // ---- Metric history ----

  // Points of one (run, key) series in (timestamp, step, value, is_nan) order, as MLflow
  // 3.17's metrics/get-history (paged by offset into that order). `max_results`
  // absent: all points. `page_token` comes from a previous page's next_page_token;
  // InvalidArgument when it is malformed. An unknown run has an empty history (MLflow).
  absl::StatusOr<MetricHistoryPage> GetMetricHistory(std::string_view run_id,
                                                     std::string_view key,
                                                     std::optional<int64_t> max_results,
                                                     std::string_view page_token);
  // The same, as calls of `point_fn(value, timestamp, step)` for each point of the page
  // (read whole first, as ReadMetricHistory, without building Metric objects). Sets
  // `*next_page_token` (empty when none). When given, `page_size_fn(points)` is called
  // once before the first point with the number of points this page will have (lets
  // the caller size its output buffer); not called for an empty page.
  absl::Status ScanMetricHistory(
      std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
      std::string_view page_token,
      absl::FunctionRef<void(double value, int64_t timestamp, int64_t step)> point_fn,
      std::string* next_page_token,
      const std::function<void(int64_t points)>& page_size_fn = nullptr);
  // The same page read whole, for callers that format it themselves. The points are
  // written into `buffer`'s storage (cleared first): a caller that hands back the vector
  // of an earlier page reuses its memory instead of allocating and faulting in a new one.
  absl::StatusOr<MetricHistoryPoints> ReadMetricHistory(
      std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
      std::string_view page_token, std::vector<MetricHistoryPoints::Point> buffer = {});
  // MLflow's get-history-bulk-interval: for each run (≤ 100), at most `max_results`
  // points of `key` sampled evenly over the steps in [start_step, end_step] (always
  // including the first and last step), ordered by run, then step, then timestamp.
  absl::StatusOr<std::vector<RunMetric>> GetMetricHistoryBulkInterval(
      const std::vector<std::string>& run_ids, std::string_view key,
      std::optional<int64_t> start_step, std::optional<int64_t> end_step,
      int64_t max_results);

  const std::string& default_artifact_root() const { return default_artifact_root_; }
  storage::Database& database() { return db_; }

 private:
  TrackingStore(storage::Database& db, Clock& clock, std::string default_artifact_root)
      : db_(db), clock_(clock), default_artifact_root_(std::move(default_artifact_root)) {}

  storage::Database& db_;
  Clock& clock_;
  std::string default_artifact_root_;
};

}  // namespace cairn::tracking
