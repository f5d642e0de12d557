#include "common/json.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cairn {

namespace {

// Deepest array/object nesting ParseJson accepts. Serializing and copying a value recurse
// once per level, so unbounded nesting from a small request would overflow the stack.
constexpr int kMaxJsonDepth = 100;

// Linear scan of bracket depth outside string literals.
int MaxNestingDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    char c = text[pos];
    if (in_string) {
      if (c == '\\') ++pos;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  if (MaxNestingDepth(text) > kMaxJsonDepth)
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: nested deeper than ", kMaxJsonDepth, " levels"));
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    // Re-parse with a sax-less exception-free path is impossible; report generically with
    // the position found by a throwing parse, caught right here at the library edge.
    try {
      (void)Json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed JSON at byte ", e.byte, ": ", e.what()));
    } catch (...) {
    }
    return absl::InvalidArgumentError("malformed JSON");
  }
  return value;
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace cairn
