#include "common/duration.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn {

absl::StatusOr<int64_t> ParseDuration(std::string_view text) {
  if (text == "0") return 0;
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", ToAbsl(text), "': a duration is a non-negative integer and a unit, like 30s or 7d"));
  }
  int64_t n = 0;
  for (size_t i = 0; i < digits; ++i) n = n * 10 + (text[i] - '0');
  std::string_view unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", ToAbsl(text), "': unit must be one of ms, s, m, h, d"));
  }
  if (n > std::numeric_limits<int64_t>::max() / scale) {
    return absl::InvalidArgumentError(absl::StrCat("'", ToAbsl(text), "': duration too large"));
  }
  return n * scale;
}

std::string FormatDuration(int64_t millis) {
  if (millis == 0) return "0";
  struct Unit {
    int64_t scale;
    const char* name;
  };
  for (Unit u : {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"},
                 Unit{1000, "s"}}) {
    if (millis % u.scale == 0) return absl::StrCat(millis / u.scale, u.name);
  }
  return absl::StrCat(millis, "ms");
}

}  // namespace cairn
