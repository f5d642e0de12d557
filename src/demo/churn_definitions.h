#pragma once
// The churn example's feature definitions (examples/churn/features/*.yaml), compiled into
// the binary so that `cairn demo` applies the same definitions from any working
// directory. The build reruns CMake when a file there changes (CMAKE_CONFIGURE_DEPENDS),
// so the copy is never stale.

#include <vector>

#include "features/definition_yaml.h"

namespace cairn::demo {

// Where the definitions live in the repository (and how the demo names them).
inline constexpr char kChurnDefinitionsDir[] = "examples/churn/features";

// The files, sorted by name, each path "examples/churn/features/<name>.yaml".
std::vector<features::DefinitionFile> ChurnDefinitionFiles();

}  // namespace cairn::demo
