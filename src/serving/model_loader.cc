#include "serving/model_loader.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "serving/mlmodel.h"
#include "serving/xgb_runtime.h"

namespace cairn::serving {

absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadModelRuntime(const std::string& model_dir,
                                                               const RuntimeOptions& options) {
  const std::string& runtime = options.runtime;
  if (runtime != "auto" && runtime != "xgboost" && runtime != "python") {
    return absl::InvalidArgumentError(absl::StrCat(
        "runtime: '", runtime, "' is not auto, xgboost or python (auto picks by the model's "
        "MLmodel flavors)"));
  }
  if (runtime == "auto") {
    CAIRN_ASSIGN_OR_RETURN(ModelInfo info, ReadModelInfo(model_dir));
    if (info.flavor == "xgboost") return LoadXgbRuntime(info, options.xgb_threads);
    return StartPythonRuntime(info, options.python);
  }
  if (runtime == "xgboost") {
    CAIRN_ASSIGN_OR_RETURN(ModelInfo info, ReadModelInfo(model_dir, "xgboost"));
    return LoadXgbRuntime(info, options.xgb_threads);
  }
  // The Python pool serves an xgboost model through MLflow's python_function flavor,
  // which mlflow.xgboost and the Cairn demo both write.
  CAIRN_ASSIGN_OR_RETURN(ModelInfo info, ReadModelInfo(model_dir, "python_function"));
  return StartPythonRuntime(info, options.python);
}

}  // namespace cairn::serving
