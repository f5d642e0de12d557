#pragma once
// The churn example's monitors (examples/churn/monitors/*.yaml), compiled into the binary
// so that `cairn demo` applies the same monitor from any working directory (CMake reruns
// when a file there changes).

#include <vector>

#include "features/definition_yaml.h"

namespace cairn::demo {

inline constexpr char kChurnMonitorsDir[] = "examples/churn/monitors";
// The monitor the demo runs, and the pipeline it starts when it raises an alert.
inline constexpr char kChurnMonitorName[] = "churn-inputs";
inline constexpr char kChurnRetrainPipeline[] = "churn-retrain";

// The files, sorted by name, each path "examples/churn/monitors/<name>.yaml".
std::vector<features::DefinitionFile> ChurnMonitorFiles();

}  // namespace cairn::demo
