#include "serving/python_worker_pool.h"

namespace cairn::serving {

absl::StatusOr<std::unique_ptr<ModelRuntime>> StartPythonRuntime(const ModelInfo& info,
                                                                  const PythonPoolOptions& options) {
  return absl::UnimplementedError("the Python worker runtime is not built yet");
}

}  // namespace cairn::serving
