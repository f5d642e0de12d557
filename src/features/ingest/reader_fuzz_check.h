#pragma once
// Shared by the two libFuzzer targets (csv_reader_fuzz, jsonl_reader_fuzz): reads the
// fuzz input twice, once through a tiny read buffer that puts refill boundaries
// everywhere and once through a large one, and aborts unless both reads agree and every
// invariant of RecordReader holds (only InvalidArgument errors, batches of at most
// batch_rows rows shaped like the schema, no nulls in non-nullable columns, no error at
// all under quarantine, bad rows on lines that exist).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "features/ingest/input_buffer.h"
#include "features/ingest/record_reader.h"

namespace cairn::features::ingest_internal {

inline void FuzzCheck(bool condition) {
  if (!condition) std::abort();
}

// Columns i (int64, required), d (double), s (string), b (bool), t (timestamp).
inline Schema FuzzSchema() {
  return {{"i", FeatureType::kInt64, false},
          {"d", FeatureType::kDouble, true},
          {"s", FeatureType::kString, true},
          {"b", FeatureType::kBool, true},
          {"t", FeatureType::kTimestamp, true}};
}

struct FuzzRead {
  absl::Status status;
  Table rows;
  std::vector<BadRow> bad;
  int64_t bad_count = 0;
};

using MakeReaderFn = absl::StatusOr<std::unique_ptr<RecordReader>> (*)(
    std::unique_ptr<ByteSource>, std::string, const Schema&, const ReaderOptions&);

inline FuzzRead FuzzReadAll(MakeReaderFn make, std::string_view text,
                            const ReaderOptions& options) {
  const Schema schema = FuzzSchema();
  FuzzRead out;
  out.rows = Table::FromSchema(schema);
  auto reader = make(StringSource(text), "fuzz", schema, options);
  if (!reader.ok()) {
    out.status = reader.status();
    FuzzCheck(out.status.code() == absl::StatusCode::kInvalidArgument);
    return out;
  }
  Table batch;
  for (int calls = 0;; ++calls) {
    FuzzCheck(calls <= static_cast<int>(text.size()) + 2);  // every true consumes a record
    absl::StatusOr<bool> more = (*reader)->Next(&batch, &out.bad);
    FuzzCheck(batch.num_columns() == schema.size());
    if (!more.ok()) {
      out.status = more.status();
      FuzzCheck(out.status.code() == absl::StatusCode::kInvalidArgument);
      FuzzCheck(!options.quarantine);
      FuzzCheck(batch.num_rows() == 0);
      break;
    }
    if (!*more) {
      FuzzCheck(batch.num_rows() == 0);
      break;
    }
    FuzzCheck(batch.num_rows() <= options.batch_rows);
    for (size_t col = 0; col < schema.size(); ++col) {
      const Column& column = batch.columns[col];
      FuzzCheck(batch.names[col] == schema[col].name && column.type == schema[col].type);
      FuzzCheck(column.size() == batch.num_rows());
      const size_t data = column.type == FeatureType::kDouble   ? column.doubles.size()
                          : column.type == FeatureType::kString ? column.strings.size()
                                                                : column.ints.size();
      FuzzCheck(data == column.size());
      for (size_t row = 0; row < column.size(); ++row) {
        FuzzCheck(column.valid[row] <= 1);
        if (!schema[col].nullable) FuzzCheck(column.valid[row] == 1);
        if (column.type == FeatureType::kBool) FuzzCheck(column.ints[row] == 0 || column.ints[row] == 1);
      }
    }
    for (size_t row = 0; row < batch.num_rows(); ++row) out.rows.AppendRow(batch, row);
  }
  out.bad_count = (*reader)->bad_rows();
  FuzzCheck((*reader)->rows_read() == static_cast<int64_t>(out.rows.num_rows()));
  FuzzCheck(out.bad.size() <= options.max_bad_rows_kept);
  FuzzCheck(static_cast<int64_t>(out.bad.size()) <= out.bad_count);
  const int64_t lines = 1 + static_cast<int64_t>(std::count(text.begin(), text.end(), '\n'));
  for (const BadRow& bad : out.bad) FuzzCheck(bad.line >= 1 && bad.line <= lines);
  return out;
}

inline bool SameColumn(const Column& a, const Column& b) {
  if (a.type != b.type || a.valid != b.valid || a.ints != b.ints || a.strings != b.strings ||
      a.doubles.size() != b.doubles.size()) {
    return false;
  }
  // Bitwise, so that NaN equals NaN.
  return a.doubles.empty() ||
         std::memcmp(a.doubles.data(), b.doubles.data(), a.doubles.size() * sizeof(double)) == 0;
}

// The whole check for one fuzz input; data[0] picks the options.
inline void FuzzOneInput(MakeReaderFn make, const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t knobs = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ReaderOptions options;
  options.quarantine = (knobs & 1) != 0;
  options.batch_rows = 1 + ((knobs >> 1) & 3);
  options.max_bad_rows_kept = (knobs >> 3) & 3;
  options.buffer_bytes = text.size() + 1;  // the whole input in one read
  FuzzRead big = FuzzReadAll(make, text, options);
  options.buffer_bytes = 1 + (knobs >> 5);
  FuzzRead tiny = FuzzReadAll(make, text, options);

  FuzzCheck(big.status == tiny.status);
  FuzzCheck(big.bad_count == tiny.bad_count);
  FuzzCheck(big.rows.num_rows() == tiny.rows.num_rows());
  for (size_t col = 0; col < big.rows.num_columns(); ++col) {
    FuzzCheck(SameColumn(big.rows.columns[col], tiny.rows.columns[col]));
  }
  FuzzCheck(big.bad.size() == tiny.bad.size());
  for (size_t k = 0; k < big.bad.size(); ++k) {
    FuzzCheck(big.bad[k].line == tiny.bad[k].line && big.bad[k].raw == tiny.bad[k].raw &&
              big.bad[k].reason == tiny.bad[k].reason && big.bad[k].column == tiny.bad[k].column);
  }
}

}  // namespace cairn::features::ingest_internal
