#pragma once
// The stages of the demo's training pipeline (examples/churn/pipelines/churn-train.yaml),
// each run by `cairn demo step <name>` in its own process on the stores of one data
// directory, with its inputs and outputs as files the pipeline engine passes along:
//
//   training-set  point-in-time training set of the `churn` feature service for the
//                 labels in <data>/raw/labels.csv; saved as a snapshot; writes the train
//                 and validation matrices (step_io.h) and snapshot.json
//   train         one XGBoost model on them; logs params, per-round metrics, the snapshot
//                 as input dataset and the model (MLflow xgboost flavor) into a tracking
//                 run; writes model.json and metrics.json
//   evaluate      reads every train step's metrics.json, picks the best by validation AUC
//   register      registers the best run's model as "churn" and points `production` at it
//
// The functions are what the step commands (step_command.h) call; tests call them
// directly. Each takes the stores it writes to; none keeps state between calls.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "demo/demo_stores.h"

namespace cairn::demo {

// The experiment and registered model the demo writes to.
inline constexpr char kDemoExperiment[] = "churn";
inline constexpr char kDemoModel[] = "churn";
inline constexpr char kDemoAlias[] = "production";

// ---- training-set ----

struct TrainingSetStepRequest {
  std::string data_dir;
  int64_t expected_rows = 0;  // customers the labels must hold (0: any)
  std::string data_version;   // recorded in snapshot.json (the pipeline's cache key has it)
  std::string train_path;       // outputs
  std::string validation_path;
  std::string snapshot_path;
};

struct TrainingSetStepResult {
  std::string id;            // the snapshot
  std::string uri;           // cairn://training-sets/<id>
  std::string content_hash;  // SHA-256 hex of its rows
  int64_t rows = 0;
  int64_t train_rows = 0;
  int64_t validation_rows = 0;
  std::vector<std::string> feature_names;  // as the model reads them
  double positive_rate = 0;
  int64_t join_ms = 0;
  std::string data_version;
};
Json TrainingSetStepResultToJson(const TrainingSetStepResult& result);
absl::StatusOr<TrainingSetStepResult> TrainingSetStepResultFromJson(const Json& json);

// Needs stores opened with the feature store. FailedPrecondition when labels.csv is
// missing (run `cairn demo` first) or holds another number of customers than expected.
absl::StatusOr<TrainingSetStepResult> RunTrainingSetStep(DemoStores& stores,
                                                         const TrainingSetStepRequest& request);

// ---- train ----

struct TrainStepRequest {
  std::string train_path;  // inputs (from the training-set step)
  std::string validation_path;
  std::string snapshot_path;
  int max_depth = 6;
  double eta = 0.3;
  int num_round = 60;
  int threads = 1;  // xgboost threads (the step's cpus)
  // The tracking run to log into: the step's child run that the pipeline engine passes
  // as MLFLOW_RUN_ID. Empty: a new run in experiment "churn", ended when done.
  std::string run_id;
  std::string model_path;  // outputs
  std::string metrics_path;
};

// One trained and logged model (the train step's metrics.json).
struct DemoRun {
  std::string run_id;
  std::string run_name;  // "xgb-depth3-eta0.1"
  int max_depth = 0;
  double eta = 0;
  int num_round = 0;
  double val_auc = 0;
  double val_logloss = 0;
  double best_val_auc = 0;
  int best_iteration = 0;
  double seconds = 0;  // training plus logging, wall time
};
Json DemoRunToJson(const DemoRun& run);
absl::StatusOr<DemoRun> DemoRunFromJson(const Json& json, const std::string& file);

// "xgb-depth3-eta0.1".
std::string TrainRunName(int max_depth, double eta);

// A run it created is marked FAILED on error; a given run is left to its owner.
absl::StatusOr<DemoRun> RunTrainStep(DemoStores& stores, const TrainStepRequest& request);

// ---- evaluate ----

struct EvaluateStepResult {
  std::vector<DemoRun> candidates;  // in the order given
  size_t best = 0;                  // into candidates: the highest val_auc (first on ties)
};

// Reads each metrics.json, writes {"metric": "val_auc", "best": {…}, "candidates": […]}
// to `out_path`. InvalidArgument naming the file for an unreadable one or none given.
absl::StatusOr<EvaluateStepResult> RunEvaluateStep(const std::vector<std::string>& metrics_paths,
                                                   const std::string& out_path);

// ---- register ----

struct RegisterStepResult {
  std::string run_id;  // the best run
  std::string run_name;
  double val_auc = 0;
  int64_t version = 0;  // of model "churn"
  bool created = false;  // false: that run's model was already a version (reused)
  std::optional<int64_t> previous_version;  // where `production` pointed before
};
Json RegisterStepResultToJson(const RegisterStepResult& result);
absl::StatusOr<RegisterStepResult> RegisterStepResultFromJson(const Json& json,
                                                              const std::string& file);

// Registers the best run of `best_path` (evaluate's output) as a version of "churn" —
// unless a version of that run's model exists already: then that version is reused, so
// a rerun never registers the same model twice — and, when `promote`, points `production`
// at it (moving it only when it pointed elsewhere; each move is recorded with actor "cairn
// demo"). Without `promote` (retraining) the version waits for the release gate.
// Writes registered.json to `out_path`.
absl::StatusOr<RegisterStepResult> RunRegisterStep(DemoStores& stores,
                                                   const std::string& best_path,
                                                   const std::string& out_path,
                                                   bool promote = true);

}  // namespace cairn::demo
