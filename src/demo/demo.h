#pragma once
// `cairn demo`: the main job on the embedded defaults (DESIGN.md §9), told in chapters.
// It generates a subscription business's raw events (customers, transactions, logins,
// support tickets) as CSV files under <data>/raw, applies the feature definitions of
// examples/churn/features to the feature store in <data> (registry in <data>/cairn.db,
// offline tables under <data>/offline), ingests the files, builds a point-in-time
// training set with the `churn` feature service, trains an XGBoost grid in-process on it,
// logs every model as a tracking run (with the training-set snapshot as its input
// dataset, its model file under <data>/artifacts), registers the best run's model as
// "churn", points its `production` alias at it, materializes the feature views into the
// embedded online store and looks one customer up online — the same layout
// `cairn server --data <data>` serves. Running it again on the same directory reuses the
// ingested events (same seed and size), adds new runs to the same experiment and a new
// model version.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/steps.h"

namespace cairn::demo {

struct DemoOptions {
  std::string data_dir = "demo-data";
  int rows = 5'000;  // customers; about 60 raw events each
  int threads = 0;  // models trained at once (one xgboost thread each); 0: one per core
  // The hyperparameter grid: every max_depth × eta, each trained for num_round rounds.
  std::vector<int> max_depths = {3, 5, 7};
  std::vector<double> etas = {0.1, 0.3};
  int num_round = 60;
  uint64_t data_seed = 20240601;
  // Feature definitions to apply: a file or directory of YAML; empty: the copy of
  // examples/churn/features compiled into the binary (demo/churn_definitions.h).
  std::string features_path;
  // Run every pipeline step even when an earlier run has its outputs.
  bool no_cache = false;
  // What the pipeline's steps run as `<step_binary> demo step …`; empty: this executable.
  std::string step_binary;
};

struct DemoResult {
  // The feature store chapter.
  int64_t raw_events = 0;                      // generated, all sources
  bool reused_ingested_events = false;         // a rerun found them already ingested
  std::map<std::string, int64_t> ingested_rows;  // source → rows (this run or before)
  std::string training_set_id;                 // the snapshot the runs trained on
  std::string training_set_hash;               // its content hash (SHA-256, hex)
  int64_t training_rows = 0;
  std::vector<std::string> feature_names;      // as the model reads them
  std::map<std::string, int64_t> materialized_keys;  // view → keys written online
  int64_t online_customer_id = 0;
  std::string online_response;                 // the Feast-shaped JSON, untrimmed

  std::string experiment_id;
  std::vector<DemoRun> runs;  // in grid order
  size_t best_run_index = 0;  // into runs, by val_auc
  int64_t model_version = 0;  // the new version of model "churn", now `production`
};

// Runs the demo, printing each chapter with its timing to `out`. Errors from the stores,
// the feature definitions or xgboost are returned (a run that fails is marked FAILED
// before returning). InvalidArgument for rows < 100, an empty grid or num_round < 1;
// FailedPrecondition when <data> already holds the events of another --rows or seed.
absl::StatusOr<DemoResult> RunDemoSteps(const DemoOptions& options, std::ostream& out);

// Runs the demo on stdout and returns the process exit code (errors to stderr, 1).
int RunDemo(const DemoOptions& options);

}  // namespace cairn::demo
