#pragma once
// A loaded model that answers predictions (DESIGN.md §5 "serving"). Two runtimes implement
// it: the native XGBoost runtime (xgb_runtime.h, libxgboost's C API in this process) and
// the Python worker runtime (python_worker_pool.h, an MLflow pyfunc model in a pool of
// worker processes that grows and shrinks with load). model_loader.h picks one from the
// model directory's MLmodel file.
//
// Inputs are a row-major table of feature values (features::Value: null, int64, double,
// string, bool). Outputs are one number per row: the positive-class probability of a
// binary classifier, the value of a regressor, the label of a classifier that predicts
// labels (as a number). A runtime never reorders rows.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "features/types.h"

namespace cairn::serving {

// Rows to predict. cells.size() == rows * columns.size(); cell (r, c) is
// cells[r * columns.size() + c]. Column names are the model's input names.
struct ModelInput {
  std::vector<std::string> columns;
  size_t rows = 0;
  std::vector<features::Value> cells;

  const features::Value& at(size_t row, size_t column) const {
    return cells[row * columns.size() + column];
  }
};

// What a model directory holds, read from its MLmodel file (MLflow's format).
struct ModelInfo {
  std::string model_dir;  // absolute local path of the directory holding MLmodel
  std::string flavor;     // the runtime that serves it: "xgboost" | "python_function"
  // The model's input columns in the order it reads them: MLmodel's signature inputs, or
  // the booster's feature_names; empty when the model does not say (then the caller's
  // columns are passed as given).
  std::vector<std::string> input_columns;
  int64_t size_bytes = 0;  // total size of the files under model_dir
  // The flavor's model file relative to model_dir (MLmodel's flavors.<flavor>.data, e.g.
  // "model.json" for xgboost); empty when the flavor names none.
  std::string data_file;
};

// Load of a runtime right now (the Python pool's; the XGBoost runtime reports replicas 1).
struct RuntimeStats {
  int replicas = 1;       // live workers
  int in_flight = 0;      // requests being predicted now
  int queued = 0;         // requests waiting for a worker
  int64_t rejected = 0;   // requests refused with ResourceExhausted since start
};

class ModelRuntime {
 public:
  virtual ~ModelRuntime() = default;
  virtual const ModelInfo& info() const = 0;
  // One prediction per input row, in order. InvalidArgument naming the column and row for
  // input the model cannot take (a missing input column, a string where a number is
  // needed); ResourceExhausted ("endpoint busy: N requests queued; retry after 1 s") when
  // the runtime is saturated and its queue is full — the API answers 429 with
  // Retry-After; DeadlineExceeded when the request's deadline (the endpoint's timeout)
  // passed — the API answers 504; Unavailable when a worker died mid-request (the pool
  // replaces it);
  // Internal for a model error, with the model's own message. Thread-safe: many callers
  // at once.
  virtual absl::StatusOr<std::vector<double>> Predict(const ModelInput& input) = 0;
  virtual RuntimeStats Stats() const { return {}; }

  // True when Predict computes on the caller's thread and never waits on another process,
  // a lock held across a prediction or I/O (the native XGBoost runtime): the HTTP server
  // may then call it on an I/O thread instead of handing the request to a worker pool.
  virtual bool runs_in_process() const { return false; }
};

}  // namespace cairn::serving
