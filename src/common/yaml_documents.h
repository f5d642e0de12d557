#pragma once
// Loads the documents of a YAML definition file (features, pipelines, monitors, …) with
// the checks that make yaml-cpp 0.7 safe on user input: the text must be valid UTF-8
// without control characters, nest at most 64 flow levels and 512 indentation columns,
// pass libyaml's syntax check, and use no anchors, aliases or explicit tags — on some such
// inputs yaml-cpp's scanner never returns or overflows the stack (found by fuzzing;
// fuzz/regressions/definition_yaml_fuzz/). Errors are InvalidArgument and read
// "FILE:LINE: invalid YAML: …". Pure function; thread-safe.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace cairn {

// Every document of `text`, empty ones included (callers skip null documents). `file`
// names the text in messages.
absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text,
                                                          std::string_view file);

}  // namespace cairn
