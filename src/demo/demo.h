#pragma once
// `cairn demo`: the main job on the embedded defaults (DESIGN.md §9). This first chapter
// generates the churn data set, trains an XGBoost grid in-process, logs every model as a
// tracking run in <data>/cairn.db with its model file under <data>/artifacts (the same
// layout `cairn server --data <data>` serves), registers the best run's model as "churn"
// and points its `production` alias at it. Running it again on the same directory adds
// new runs to the same experiment and a new model version.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::demo {

struct DemoOptions {
  std::string data_dir = "demo-data";
  int rows = 100'000;
  int threads = 0;  // models trained at once (one xgboost thread each); 0: one per core
  // The hyperparameter grid: every max_depth × eta, each trained for num_round rounds.
  std::vector<int> max_depths = {3, 5, 7};
  std::vector<double> etas = {0.1, 0.3};
  int num_round = 60;
  uint64_t data_seed = 20240601;
};

// One trained and logged model.
struct DemoRun {
  std::string run_id;
  std::string run_name;
  int max_depth = 0;
  double eta = 0;
  int num_round = 0;
  double val_auc = 0;
  double val_logloss = 0;
  double seconds = 0;  // training plus logging, wall time
};

struct DemoResult {
  std::string experiment_id;
  std::vector<DemoRun> runs;  // in grid order
  size_t best_run_index = 0;  // into runs, by val_auc
  int64_t model_version = 0;  // the new version of model "churn", now `production`
};

// The experiment and registered model the demo writes to.
inline constexpr char kDemoExperiment[] = "churn";
inline constexpr char kDemoModel[] = "churn";
inline constexpr char kDemoAlias[] = "production";

// Runs the demo, printing each step to `out`. Errors from the stores or xgboost are
// returned (a run that fails is marked FAILED before returning). InvalidArgument for
// rows < 100, an empty grid or num_round < 1.
absl::StatusOr<DemoResult> RunDemoSteps(const DemoOptions& options, std::ostream& out);

// Runs the demo on stdout and returns the process exit code (errors to stderr, 1).
int RunDemo(const DemoOptions& options);

}  // namespace cairn::demo
