#pragma once
// Loads the documents of a YAML definition file (features, pipelines, monitors, …) with
// the checks that make yaml-cpp 0.7 safe on user input: the text must be valid UTF-8
// without control characters, nest at most 64 flow levels and 512 indentation columns,
// pass libyaml's syntax check, and use no anchors, aliases or explicit tags — on some such
// inputs yaml-cpp's scanner never returns or overflows the stack (found by fuzzing;
// fuzz/regressions/definition_yaml_fuzz/). Errors are InvalidArgument and read
// "FILE:LINE: invalid YAML: …". Pure function; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace cairn {

// Every document of `text`, empty ones included (callers skip null documents). `file`
// names the text in messages.
absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text,
                                                          std::string_view file);

// A YAML value as quoted in a message: a scalar as written in quotes (cut at 80
// characters), other nodes by shape ("a list of 3", "a map of 2 keys"; never expanded:
// aliases could make them huge), "null" for a missing or null node.
std::string YamlShown(const YAML::Node& node);

// The 1-based line where `node` starts; 0 when it is undefined.
int YamlLine(const YAML::Node& node);

}  // namespace cairn
