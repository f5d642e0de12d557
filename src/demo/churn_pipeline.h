#pragma once
// The churn example's training pipeline (examples/churn/pipelines/*.yaml), compiled into
// the binary so that `cairn demo` applies the same pipeline from any working directory.
// The build reruns CMake when a file there changes (CMAKE_CONFIGURE_DEPENDS), so the copy
// is never stale.

#include <vector>

#include "features/definition_yaml.h"

namespace cairn::demo {

// Where the pipeline files live in the repository (and how the demo names them).
inline constexpr char kChurnPipelinesDir[] = "examples/churn/pipelines";
// The pipeline the demo runs.
inline constexpr char kChurnPipelineName[] = "churn-train";

// The files, sorted by name, each path "examples/churn/pipelines/<name>.yaml".
std::vector<features::DefinitionFile> ChurnPipelineFiles();

}  // namespace cairn::demo
