#pragma once
// MLflow's tracking data model as plain values: experiments, runs, metrics, params, tags,
// dataset inputs. Times are int64 milliseconds since the Unix epoch (DESIGN.md §4).
// These structs carry no behaviour; TrackingStore (tracking_store.h) validates and
// persists them.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cairn::tracking {

// Lifecycle stages of experiments and runs (MLflow's spelling).
inline constexpr char kLifecycleActive[] = "active";
inline constexpr char kLifecycleDeleted[] = "deleted";

// Tags that MLflow mirrors from run fields.
inline constexpr char kRunNameTag[] = "mlflow.runName";
inline constexpr char kUserTag[] = "mlflow.user";

struct Experiment {
  std::string experiment_id;
  std::string name;
  std::string artifact_location;
  std::string lifecycle_stage;  // "active" | "deleted"
  int64_t creation_time = 0;
  int64_t last_update_time = 0;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
};

struct RunInfo {
  std::string run_id;
  std::string run_name;
  std::string experiment_id;
  std::string user_id;
  std::string status;  // RUNNING | SCHEDULED | FINISHED | FAILED | KILLED
  int64_t start_time = 0;
  std::optional<int64_t> end_time;
  std::string artifact_uri;
  std::string lifecycle_stage;  // "active" | "deleted"
};

struct Metric {
  std::string key;
  double value = 0;  // NaN and ±inf are valid values
  int64_t timestamp = 0;
  int64_t step = 0;
};

// A metric point with the run it belongs to (bulk-interval history).
struct RunMetric {
  std::string run_id;
  Metric metric;
};

struct Param {
  std::string key;
  std::string value;
};

struct RunTag {
  std::string key;
  std::string value;
};

// A dataset as logged by runs/log-inputs. (name, digest) identifies it within an
// experiment.
struct Dataset {
  std::string name;
  std::string digest;
  std::string source_type;
  std::string source;
  std::string schema;   // optional in the API: empty when absent
  std::string profile;  // optional in the API: empty when absent
};

struct InputTag {
  std::string key;
  std::string value;
};

struct DatasetInput {
  std::vector<InputTag> tags;
  Dataset dataset;
};

struct Run {
  RunInfo info;
  std::vector<Metric> metrics;  // the latest point per key, sorted by key
  std::vector<Param> params;    // sorted by key
  std::vector<RunTag> tags;     // sorted by key
  std::vector<DatasetInput> inputs;
};

struct CreateRunRequest {
  std::string experiment_id;
  std::string user_id;
  std::string run_name;  // empty: taken from tag mlflow.runName, else generated
  int64_t start_time = 0;  // 0: now
  std::vector<RunTag> tags;
};

// Which lifecycle stages a search returns (MLflow's ViewType).
enum class ViewType { kActiveOnly, kDeletedOnly, kAll };

}  // namespace cairn::tracking
