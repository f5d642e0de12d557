#pragma once
// A data set as the monitoring module reads it: named columns, each numeric (doubles,
// NaN where a value is missing or not finite) or categorical (codes into a per-column
// dictionary, -1 where missing). Built from CSV (csv_frame.h), from JSON (the API), from
// a feature view's offline rows (monitors) — and turned into stats::ColumnPair for the
// tests by drift.h.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"

namespace cairn::monitoring {

struct FrameColumn {
  std::string name;
  bool categorical = false;
  std::vector<double> numbers;          // numeric: one per row, NaN = missing/non-finite
  std::vector<int32_t> codes;           // categorical: one per row, -1 = missing
  std::vector<std::string> categories;  // categorical: code → label
  // Numeric: what pandas would type int64 — every value written as a whole number (CSV
  // text without '.' or exponent, JSON integers, an int64 feature), none missing. Drift's
  // binned tests then use numpy's integer Sturges width (stats::ColumnPair::integer).
  bool integer = false;
  size_t size() const { return categorical ? codes.size() : numbers.size(); }
};

struct DataFrame {
  std::vector<FrameColumn> columns;  // in file order
  int64_t rows = 0;
  // nullptr when there is no such column.
  const FrameColumn* Find(const std::string& name) const;
  // The column names in order.
  std::vector<std::string> Names() const;
};

// A frame from JSON columns as the API receives them: {"col": [values…], …} with one
// value per row in every column. Numbers make a numeric column (non-finite → NaN); a
// column with any string or boolean value is categorical (labels: the strings, "true" /
// "false", and numbers as written); null is missing in either kind. Columns named in
// `categorical` are categorical whatever their values. Columns come in the object's
// order (nlohmann objects sort keys: alphabetical). InvalidArgument naming
// `field`.<column> and the row when the value is not an object of arrays, when lengths
// differ, when a value is an array or object, or when a `categorical` name is not a
// column.
absl::StatusOr<DataFrame> DataFrameFromJson(const Json& columns,
                                            const std::vector<std::string>& categorical,
                                            std::string_view field);

// The candidate closest to `word` by edit distance when it is close enough to be a likely
// typo ("did you mean"), else empty.
std::string NearestColumnName(std::string_view word, const std::vector<std::string>& names);

}  // namespace cairn::monitoring
