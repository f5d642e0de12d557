#pragma once
// Durations as users write them in definitions and flags: an integer and a unit,
// "500ms", "30s", "5m", "1h", "7d" ("0" alone means zero). Stored as int64 milliseconds.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn {

// InvalidArgument ("'7x': unit must be one of ms, s, m, h, d") on anything else,
// negative values included.
absl::StatusOr<int64_t> ParseDuration(std::string_view text);

// The shortest exact form: 604800000 → "7d", 90000 → "90s", 0 → "0".
std::string FormatDuration(int64_t millis);

}  // namespace cairn
