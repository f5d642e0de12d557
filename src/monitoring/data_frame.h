#pragma once
// A data set as the monitoring module reads it: named columns, each numeric (doubles,
// NaN where a value is missing or not finite) or categorical (codes into a per-column
// dictionary, -1 where missing). Built from CSV (csv_frame.h), from JSON (the API), from
// a feature view's offline rows (monitors) — and turned into stats::ColumnPair for the
// tests by drift.h.

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::monitoring {

struct FrameColumn {
  std::string name;
  bool categorical = false;
  std::vector<double> numbers;          // numeric: one per row, NaN = missing/non-finite
  std::vector<int32_t> codes;           // categorical: one per row, -1 = missing
  std::vector<std::string> categories;  // categorical: code → label
  size_t size() const { return categorical ? codes.size() : numbers.size(); }
};

struct DataFrame {
  std::vector<FrameColumn> columns;  // in file order
  int64_t rows = 0;
  // nullptr when there is no such column.
  const FrameColumn* Find(const std::string& name) const;
};

}  // namespace cairn::monitoring
