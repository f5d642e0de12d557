#pragma once
// The JSON text of one row of a model's input as the inference log stores it (the
// `features` of InferenceRecord): {"column": value, …} byte for byte as DumpJson writes the
// Json object of the row — keys in sorted order, the first of columns sharing a name,
// int64 and bool as such, a double as nlohmann writes it (non-finite: null), a missing
// value null, strings escaped the same way — but written straight from the cells, without
// building a Json object and serializing it again (about 8 % of the predict path's CPU).
// Made once for a set of columns (the key order and the quoted names), then Row per logged
// row.

#include <cstddef>
#include <string>
#include <vector>

#include "features/types.h"

namespace cairn::serving {

class FeatureRowJson {
 public:
  explicit FeatureRowJson(const std::vector<std::string>& columns);

  // Whether this was made for `columns` (so that a caller can keep one across requests
  // whose columns are the same, and the per-request work is a comparison).
  bool For(const std::vector<std::string>& columns) const { return columns == columns_; }

  // Row `row` of `cells` (row-major, columns.size() cells a row).
  std::string Row(const std::vector<features::Value>& cells, size_t row) const;

 private:
  std::vector<std::string> columns_;
  size_t width_ = 0;
  std::vector<size_t> order_;       // the columns written, in key order
  std::vector<std::string> keys_;   // per entry of order_: "\"name\":" (with the comma)
  size_t reserve_ = 2;
};

}  // namespace cairn::serving
