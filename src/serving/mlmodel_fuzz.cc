// libFuzzer target: arbitrary bytes as an MLmodel file (ParseMlmodel) and as an XGBoost
// model file (NormalizeXgbModel), chosen by the first byte. Invariants beyond "no crash,
// no hang, no exception": MLmodel errors are InvalidArgument and name the file; a parsed
// model has a flavor Cairn serves (xgboost with a data file, or python_function).
// Normalizing fails only with InvalidArgument naming the file; a normalized model is a
// JSON object without a list base_score, and normalizing it again changes nothing.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/json.h"
#include "serving/mlmodel.h"
#include "serving/xgb_runtime.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool NamesFile(const absl::Status& status, std::string_view file) {
  return std::string_view(status.message().data(), status.message().size()).substr(
             0, file.size()) == file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::serving;  // NOLINT
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    absl::StatusOr<ModelInfo> info = ParseMlmodel(input, "fuzz/MLmodel");
    if (!info.ok()) {
      Check(info.status().code() == absl::StatusCode::kInvalidArgument);
      Check(NamesFile(info.status(), "fuzz/MLmodel"));
      return 0;
    }
    Check(info->flavor == "xgboost" || info->flavor == "python_function");
    if (info->flavor == "xgboost") Check(!info->data_file.empty());
    for (const std::string& column : info->input_columns) Check(!column.empty());
    return 0;
  }
  bool changed = false;
  absl::StatusOr<std::string> normalized = NormalizeXgbModel(input, "fuzz.json", &changed);
  if (!normalized.ok()) {
    Check(normalized.status().code() == absl::StatusCode::kInvalidArgument);
    Check(NamesFile(normalized.status(), "fuzz.json"));
    return 0;
  }
  if (!changed) {
    Check(normalized->empty());
    return 0;
  }
  absl::StatusOr<cairn::Json> parsed = cairn::ParseJson(*normalized);
  Check(parsed.ok() && parsed->is_object());
  bool again = true;
  absl::StatusOr<std::string> twice = NormalizeXgbModel(*normalized, "fuzz.json", &again);
  Check(twice.ok() && !again);
  return 0;
}
