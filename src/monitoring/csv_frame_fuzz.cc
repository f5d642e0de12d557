// libFuzzer target: arbitrary bytes as a CSV file through ParseCsvFrame, once as one chunk
// on one thread and once cut into tiny chunks on three threads; both must give the same
// frame or the same error, and every frame must be well formed (one value per row in
// each column, codes inside the dictionary, no duplicate categories). The first byte
// picks the options (forced categorical / selected columns). Seeds:
// fuzz/corpus/csv_frame_fuzz/.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "monitoring/csv_frame.h"

namespace {

using cairn::monitoring::CsvFrameOptions;
using cairn::monitoring::DataFrame;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckWellFormed(const DataFrame& frame) {
  for (const auto& column : frame.columns) {
    Check(static_cast<int64_t>(column.size()) == frame.rows);
    if (column.categorical) {
      Check(column.numbers.empty());
      for (int32_t code : column.codes) {
        Check(code >= -1 && code < static_cast<int32_t>(column.categories.size()));
      }
      Check(std::set<std::string>(column.categories.begin(), column.categories.end()).size() ==
            column.categories.size());
    } else {
      Check(column.codes.empty() && column.categories.empty());
      for (double value : column.numbers) Check(std::isnan(value) || std::isfinite(value));
    }
  }
}

bool SameNumbers(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  CsvFrameOptions options;
  if (flags & 1) options.categorical = {"a"};
  if (flags & 2) options.columns = {"b", "a"};
  options.threads = 1;
  absl::StatusOr<DataFrame> one = cairn::monitoring::ParseCsvFrame(text, "fuzz.csv", options);
  options.threads = 3;
  options.min_chunk_bytes = 1 + (flags >> 4);
  absl::StatusOr<DataFrame> many = cairn::monitoring::ParseCsvFrame(text, "fuzz.csv", options);
  Check(one.ok() == many.ok());
  if (!one.ok()) {
    Check(one.status() == many.status());
    return 0;
  }
  CheckWellFormed(*one);
  CheckWellFormed(*many);
  Check(one->rows == many->rows && one->columns.size() == many->columns.size());
  for (size_t c = 0; c < one->columns.size(); ++c) {
    const auto& x = one->columns[c];
    const auto& y = many->columns[c];
    Check(x.name == y.name && x.categorical == y.categorical && x.codes == y.codes &&
          x.categories == y.categories && SameNumbers(x.numbers, y.numbers));
  }
  return 0;
}
