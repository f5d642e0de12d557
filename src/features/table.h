#pragma once
// Columnar in-memory tables: the unit of exchange between ingestion, expressions, the
// offline store, the point-in-time join and materialization. Plain data with public
// vectors, so hot loops index them directly.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "features/types.h"

namespace cairn::features {

// One typed, nullable column. Exactly one data vector is used, chosen by `type`:
//   kInt64, kTimestamp (ms), kBool (0/1) → ints;  kDouble → doubles;  kString → strings.
// `valid[i]` is 1 when row i has a value and 0 when it is null; the data vector has the
// same length as `valid` (a null slot holds 0 / 0.0 / "").
struct Column {
  FeatureType type = FeatureType::kDouble;
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  std::vector<uint8_t> valid;

  Column() = default;
  explicit Column(FeatureType t) : type(t) {}

  size_t size() const { return valid.size(); }
  bool IsNull(size_t i) const { return valid[i] == 0; }
  void Reserve(size_t n);
  void Clear();

  void AppendNull();
  void AppendInt(int64_t v);  // kInt64, kTimestamp, kBool
  void AppendDouble(double v);
  void AppendString(std::string_view v);
  void AppendBool(bool v) { AppendInt(v ? 1 : 0); }
  // Appends `v`, which must hold the alternative that `type` uses (or null).
  // InvalidArgument naming both types otherwise.
  absl::Status Append(const Value& v);
  // Appends row `i` of `other` (same type).
  void AppendFrom(const Column& other, size_t i);
  // Appends every row of `other` (same type), a vector at a time.
  void AppendColumn(const Column& other);

  // Row i as a Value (monostate when null; bool for kBool).
  Value Get(size_t i) const;
};

// Named columns of equal length.
struct Table {
  std::vector<std::string> names;
  std::vector<Column> columns;

  size_t num_rows() const { return columns.empty() ? 0 : columns[0].size(); }
  size_t num_columns() const { return columns.size(); }
  // Index of the column named `name`, or -1.
  int Find(std::string_view name) const;
  // Adds an empty column; returns its index.
  int AddColumn(std::string name, FeatureType type);
  // An empty table with one column per field of `schema`.
  static Table FromSchema(const Schema& schema);
  Schema schema() const;
  void Clear();  // keeps names and types, drops rows
  // Appends row `i` of `other`, which has the same columns in the same order.
  void AppendRow(const Table& other, size_t i);
  // Appends every row of `other`, which has the same columns in the same order.
  void AppendRows(const Table& other);
};

}  // namespace cairn::features
