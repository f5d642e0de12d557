#pragma once
// Trains a binary XGBoost classifier through libxgboost's C API and reports train and
// validation logloss and AUC after every boosting round. The xgboost headers stay inside
// xgb_trainer.cc.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/churn_data.h"

namespace cairn::demo {

struct XgbParams {
  int max_depth = 6;
  double eta = 0.3;
  int num_round = 50;
  double subsample = 0.8;
  double colsample_bytree = 0.8;
  double min_child_weight = 1.0;
  int threads = 0;  // 0: all cores
  uint64_t seed = 42;

  // The parameters as logged to a tracking run (string values, MLflow's param shape).
  std::map<std::string, std::string> AsParams() const;
};

// Metrics after one boosting round (iteration counts from 0).
struct IterationMetrics {
  int iteration = 0;
  double train_logloss = 0;
  double val_logloss = 0;
  double train_auc = 0;
  double val_auc = 0;
};

struct TrainResult {
  std::vector<IterationMetrics> history;  // one entry per round, in order
  std::string model_json;                 // the booster in xgboost's JSON model format
  double train_seconds = 0;               // wall time of the boosting rounds

  // The last round's metrics; history must not be empty.
  const IterationMetrics& final_metrics() const { return history.back(); }
};

// Called after every round with that round's metrics; a non-OK status stops training
// and is returned by TrainXgbClassifier.
using IterationCallback = std::function<absl::Status(const IterationMetrics&)>;

// Trains `params.num_round` rounds of binary:logistic on `train`, evaluating on `train`
// and `validation` after each. Both sets must have the same columns and at least one
// row. Every xgboost error becomes an Internal status carrying XGBGetLastError();
// invalid arguments (no rows, mismatched columns, num_round < 1) are InvalidArgument.
// Thread-safe (no shared state besides libxgboost's own).
absl::StatusOr<TrainResult> TrainXgbClassifier(const Dataset& train, const Dataset& validation,
                                               const XgbParams& params,
                                               const IterationCallback& on_iteration = {});

// Loads `model_json` and returns the predicted probabilities for every row of `data`
// (used to check a saved model serves the same scores).
absl::StatusOr<std::vector<float>> PredictXgb(const std::string& model_json, const Dataset& data,
                                              int threads);

// Area under the ROC curve of `scores` against 0/1 `labels` (ties averaged); 0.5 when
// one class is absent.
double RocAuc(const std::vector<float>& scores, const std::vector<float>& labels);

}  // namespace cairn::demo
