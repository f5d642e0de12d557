#pragma once
// MLflow 3 logged models: a model logged by a run (or on its own) gets an id
// "m-<32 hex>", a name, an artifact location "<experiment artifact_location>/models/<id>/
// artifacts", a status (PENDING until the client finalizes it READY or UPLOAD_FAILED),
// tags (overwritable), params (key → value) and a lifecycle stage (delete is soft).
// Runs record models as outputs (runs/outputs). Semantics follow MLflow's SQL store.
//
// Persisted through storage::Database (SQLite or PostgreSQL), migrations component
// "logged_models". Thread-safe: every method is one Database transaction.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "storage/database.h"

namespace cairn::tracking {

class TrackingStore;

// MLflow's LoggedModelStatus enum; the integers are the proto numbers.
enum class LoggedModelStatus {
  kUnspecified = 0,
  kPending = 1,
  kReady = 2,
  kUploadFailed = 3,
};
// "LOGGED_MODEL_PENDING", … ; parsing accepts the names and the numbers ("2", 2).
std::string_view LoggedModelStatusName(LoggedModelStatus status);
absl::StatusOr<LoggedModelStatus> ParseLoggedModelStatus(std::string_view text);

// A metric point linked to a logged model (runs/log-metric or log-batch with a model_id).
struct LoggedModelMetric {
  std::string model_id;
  std::string key;
  double value = 0;
  int64_t timestamp = 0;
  int64_t step = 0;
  std::string run_id;
  std::string dataset_name;    // empty when the point names no dataset
  std::string dataset_digest;
};

struct LoggedModel {
  std::string model_id;
  std::string experiment_id;
  std::string name;
  int64_t creation_timestamp_ms = 0;
  int64_t last_updated_timestamp_ms = 0;
  std::string artifact_location;
  LoggedModelStatus status = LoggedModelStatus::kPending;
  std::string status_message;
  std::string model_type;
  std::string source_run_id;
  std::string lifecycle_stage;  // "active" | "deleted"
  std::vector<std::pair<std::string, std::string>> tags;    // sorted by key
  std::vector<std::pair<std::string, std::string>> params;  // sorted by key
  // Every linked point, ordered by (key, timestamp, step, run_id).
  std::vector<LoggedModelMetric> metrics;
};

struct CreateLoggedModelRequest {
  std::string experiment_id;
  std::string name;  // empty: a generated name
  std::string model_type;
  std::string source_run_id;
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::pair<std::string, std::string>> tags;
};

struct LoggedModelOrderBy {
  std::string field_name;  // "creation_timestamp" (also "creation_time"), "name", "model_id",
                           // "last_updated_timestamp", "status", or "metrics.<key>" (the
                           // latest point by timestamp, then step; models without it last)
  bool ascending = true;
  std::string dataset_name;    // metrics only: consider points of this dataset only
  std::string dataset_digest;
};

struct SearchLoggedModelsRequest {
  std::vector<std::string> experiment_ids;  // required, at least one
  std::string filter;  // AND-ed clauses over attributes (name, model_id, status,
                       // model_type, source_run_id, creation_timestamp,
                       // last_updated_timestamp), params.x, tags.x and metrics.x (true
                       // when any linked point of x satisfies the comparison)
  // When not empty, metric clauses consider only points of these datasets (name, and
  // digest when given).
  std::vector<std::pair<std::string, std::string>> datasets;
  int64_t max_results = 0;  // 0: 100 (MLflow's default)
  std::vector<LoggedModelOrderBy> order_by;  // default: creation_timestamp DESC, model_id
  std::string page_token;
};

struct LoggedModelPage {
  std::vector<LoggedModel> models;
  std::string next_page_token;  // empty on the last page
};

// A model recorded as an output of a run (runs/outputs).
struct ModelOutput {
  std::string model_id;
  int64_t step = 0;
};

class LoggedModelStore {
 public:
  // Applies the "logged_models" migrations. `db`, `clock` and `tracking` must outlive the
  // store; `tracking` resolves experiments (artifact location, lifecycle) and runs.
  static absl::StatusOr<std::unique_ptr<LoggedModelStore>> Open(storage::Database& db,
                                                                Clock& clock,
                                                                TrackingStore& tracking);

  // NotFound for an unknown experiment; InvalidArgument for a deleted experiment, a name
  // with '/', ':', '.', '%', '"' or '\'' (MLflow's rule), or a duplicate param key with
  // different values. Status starts PENDING.
  absl::StatusOr<LoggedModel> Create(const CreateLoggedModelRequest& request);

  // NotFound ("Logged model with ID '…' not found.") when missing, or deleted unless
  // `allow_deleted`.
  absl::StatusOr<LoggedModel> Get(std::string_view model_id, bool allow_deleted = false) const;

  // Sets READY / UPLOAD_FAILED (InvalidArgument for other values); returns the model.
  absl::StatusOr<LoggedModel> Finalize(std::string_view model_id, LoggedModelStatus status);

  // Soft delete (lifecycle_stage "deleted"). NotFound when missing.
  absl::Status Delete(std::string_view model_id);

  // Upserts tags (last value wins for a key repeated in one call). NotFound when missing.
  absl::Status SetTags(std::string_view model_id,
                       const std::vector<std::pair<std::string, std::string>>& tags);
  // NotFound when the model or the tag is missing.
  absl::Status DeleteTag(std::string_view model_id, std::string_view key);

  // Adds params; re-logging a key with the same value is a no-op, with another value
  // InvalidArgument. NotFound when the model is missing.
  absl::Status LogParams(std::string_view model_id,
                         const std::vector<std::pair<std::string, std::string>>& params);

  // Active models of the given experiments matching the filter, one page.
  // InvalidArgument for a bad filter, order_by, max_results (1..50000) or page token.
  absl::StatusOr<LoggedModelPage> Search(const SearchLoggedModelsRequest& request) const;

  // Links metric points to their models (each point's model_id), as MLflow does when a
  // metric is logged with a model_id. Identical points are stored once. NotFound when a
  // model does not exist.
  absl::Status LogMetrics(const std::vector<LoggedModelMetric>& metrics);

  // Records models as outputs of a run. NotFound for an unknown run; InvalidArgument for a
  // run that is not active or a model that does not exist.
  absl::Status LogOutputs(std::string_view run_id, const std::vector<ModelOutput>& models);
  // The outputs of a run in the order they were logged (empty when none). Logging the
  // same (model, step) twice records it once.
  absl::StatusOr<std::vector<ModelOutput>> RunOutputs(std::string_view run_id) const;

 private:
  LoggedModelStore(storage::Database& db, Clock& clock, TrackingStore& tracking)
      : db_(db), clock_(clock), tracking_(tracking) {}

  storage::Database& db_;
  Clock& clock_;
  TrackingStore& tracking_;
};

}  // namespace cairn::tracking
