#pragma once
// Loads a model directory in the runtime that serves it (DESIGN.md §5 "serving"): the
// native XGBoost runtime in this process (xgb_runtime.h) or the Python worker pool
// (python_worker_pool.h), picked from the MLmodel file's flavors or forced by the
// endpoint's `runtime` setting.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "serving/model_runtime.h"
#include "serving/python_worker_pool.h"

namespace cairn::serving {

struct RuntimeOptions {
  // "auto": the xgboost flavor in the XGBoost runtime, any other python_function model in
  // the Python pool; "xgboost": the XGBoost runtime (the model must have the xgboost
  // flavor); "python": the Python pool, whatever the flavor (e.g. an xgboost model through
  // mlflow.xgboost's pyfunc, for comparisons).
  std::string runtime = "auto";
  int xgb_threads = 1;        // libxgboost nthread per Predict (xgb_runtime.h)
  PythonPoolOptions python;   // the pool's settings
};

// Reads model_dir/MLmodel (mlmodel.h) and loads the model as `options.runtime` says.
// Errors: those of ReadModelInfo, LoadXgbRuntime and StartPythonRuntime; InvalidArgument
// naming the value for an unknown runtime ("runtime: 'onnx' is not auto, xgboost or
// python"); FailedPrecondition when "xgboost" is asked for a model without that flavor,
// or "python" for one without python_function (the demo's models have both). Thread-safe.
absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadModelRuntime(const std::string& model_dir,
                                                               const RuntimeOptions& options);

}  // namespace cairn::serving
