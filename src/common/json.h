#pragma once
// JSON values: nlohmann::json, aliased so that modules name one type. Parsing user input
// goes through ParseJson, which turns syntax errors into InvalidArgument instead of
// exceptions (no exceptions cross module boundaries).

#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cairn {

using Json = nlohmann::json;

// Parses `text`; an empty text parses as an empty object. Errors name the byte offset.
absl::StatusOr<Json> ParseJson(std::string_view text);

// Serializes without throwing on invalid UTF-8 (replaced with U+FFFD).
std::string DumpJson(const Json& value);

}  // namespace cairn
