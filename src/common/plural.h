#pragma once
// "1 step", "3 steps": a count and a noun made plural by an 's' when the count is not 1
// (for messages; nouns with other plurals are spelled out where they are used).

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn {

inline std::string Plural(int64_t n, std::string_view word) {
  return absl::StrCat(n, " ", ToAbsl(word), n == 1 ? "" : "s");
}

}  // namespace cairn
