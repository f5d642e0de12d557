#pragma once
// Debian's abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), which does not convert to or from std::string_view. Cairn's interfaces take
// std::string_view; these two helpers cross the boundary where absl APIs need it
// (absl::StrCat, StrSplit, StartsWith, Status::message()).

#include <string_view>

#include "absl/strings/string_view.h"

namespace cairn {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace cairn
