#pragma once
// `cairn demo`: the main job on the embedded defaults (DESIGN.md §9), told in chapters.
// It generates a subscription business's raw events (customers, transactions, logins,
// support tickets) as CSV files under <data>/raw, applies the feature definitions of
// examples/churn/features to the feature store in <data> (registry in <data>/cairn.db,
// offline tables under <data>/offline) and ingests the files. Then it trains as a
// pipeline: examples/churn/pipelines/churn-train.yaml is applied to the pipeline registry
// and run by the pipeline engine on a local executor in this process — a point-in-time
// training set with the `churn` feature service, an XGBoost grid trained in parallel (one
// core per model, each model logged into its step's tracking run with the snapshot as its
// input dataset and its model file under <data>/artifacts), the best by validation AUC,
// registered as "churn" with its `production` alias — each step a `cairn demo step …`
// process (steps.h). Finally it materializes the feature views into the embedded online
// store and looks one customer up online — the same layout `cairn server --data <data>`
// serves. Running it again on the same directory reuses the ingested events (same seed
// and size) and, the data unchanged, every pipeline step from the cache: nothing re-runs
// and no model version is added.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/demo_monitoring.h"
#include "demo/demo_pipeline.h"
#include "demo/demo_release.h"
#include "demo/steps.h"

namespace cairn::demo {

struct DemoOptions {
  std::string data_dir = "demo-data";
  int rows = 5'000;  // customers; about 60 raw events each
  int threads = 0;  // the local executor's CPUs: models trained at once; 0: every core
  // The hyperparameter grid: every max_depth × eta, each trained for num_round rounds.
  // The pipeline has 3 × 2 train steps: exactly 3 max_depths and 2 etas.
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

  // The training pipeline (churn-train) and what its steps produced.
  std::string pipeline_run_id;
  int64_t pipeline_version = 0;
  std::vector<PipelineStepOutcome> pipeline_steps;  // in the order they ended
  int steps_cached = 0;           // served from the cache (a rerun on unchanged data: all)
  std::string experiment_id;      // "pipelines/churn-train", the steps' tracking runs
  std::vector<DemoRun> runs;      // in grid order (train-1-1, train-1-2, …)
  size_t best_run_index = 0;      // into runs, by val_auc
  int64_t model_version = 0;      // of model "churn", now `production`
  bool model_version_created = false;  // false: the best model was registered before

  // The monitoring chapter: days of traffic, the alert and its retraining runs.
  MonitoringChapterResult monitoring;
  // The release chapter: the gate, the canary, the rejected candidate, serving.
  ReleaseChapterResult release;
};

// Runs the demo, printing each chapter with its timing to `out`. Errors from the stores,
// the feature definitions or the pipeline are returned (a failed pipeline run as
// FailedPrecondition naming the step, why it failed and its last log lines).
// InvalidArgument for rows < 100, a grid other than 3 × 2 or num_round < 1;
// FailedPrecondition when <data> already holds the events of another --rows or seed.
absl::StatusOr<DemoResult> RunDemoSteps(const DemoOptions& options, std::ostream& out);

// Runs the demo on stdout and returns the process exit code (errors to stderr, 1).
int RunDemo(const DemoOptions& options);

}  // namespace cairn::demo
