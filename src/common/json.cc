#include "common/json.h"

#include "absl/strings/str_cat.h"

namespace cairn {

absl::StatusOr<Json> ParseJson(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
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
