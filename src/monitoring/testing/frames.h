#pragma once
// Tests of the monitoring module: small DataFrames written inline.
//
//   Frame({Numeric("x", {0.1, kNaN, 2.0}), Categorical("plan", {"a", "", "b"})})

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/data_frame.h"

namespace cairn::monitoring::test_support {

inline FrameColumn Numeric(std::string name, std::vector<double> values) {
  FrameColumn column;
  column.name = std::move(name);
  column.numbers = std::move(values);
  return column;
}

// A categorical column from its codes (-1 = missing) and dictionary.
inline FrameColumn Categorical(std::string name, std::vector<int32_t> codes,
                               std::vector<std::string> labels) {
  FrameColumn column;
  column.name = std::move(name);
  column.categorical = true;
  column.codes = std::move(codes);
  column.categories = std::move(labels);
  return column;
}

// A categorical column from labels ("" = missing), with the dictionary in first-seen order.
inline FrameColumn Categorical(std::string name, const std::vector<std::string>& labels) {
  FrameColumn column;
  column.name = std::move(name);
  column.categorical = true;
  std::map<std::string, int32_t> codes;
  for (const std::string& label : labels) {
    if (label.empty()) {
      column.codes.push_back(-1);
      continue;
    }
    auto [it, inserted] = codes.try_emplace(label, static_cast<int32_t>(column.categories.size()));
    if (inserted) column.categories.push_back(label);
    column.codes.push_back(it->second);
  }
  return column;
}

// The rows are the first column's length (0 without columns).
inline DataFrame Frame(std::vector<FrameColumn> columns) {
  DataFrame frame;
  frame.rows = columns.empty() ? 0 : static_cast<int64_t>(columns.front().size());
  frame.columns = std::move(columns);
  return frame;
}

}  // namespace cairn::monitoring::test_support
