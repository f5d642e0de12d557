#pragma once
// The churn example's endpoint and release policy (examples/churn/serving/*.yaml),
// compiled into the binary so that `cairn demo` applies them from any working directory
// (CMake reruns when a file there changes).

#include <vector>

#include "features/definition_yaml.h"

namespace cairn::demo {

inline constexpr char kChurnEndpointName[] = "churn";
inline constexpr char kChurnPolicyName[] = "churn-gate";
// Where the policy's evaluation data lives, under the data directory.
inline constexpr char kChurnEvaluationFile[] = "evaluation/churn-eval.csv";

// The files, sorted by name, each path "examples/churn/serving/<name>.yaml".
std::vector<features::DefinitionFile> ChurnServingFiles();

}  // namespace cairn::demo
