#pragma once
// What the CSV and JSON Lines readers share: the batch shape, rolling back a half-appended
// row, and the bad-row policy (fail, or quarantine with bounded memory).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "features/ingest/record_reader.h"
#include "features/table.h"
#include "features/types.h"

namespace cairn::features::ingest_internal {

// Why one record is rejected. With `column` empty the record as a whole is wrong; with
// `has_value` the message quotes `value`.
struct RowError {
  std::string column;
  std::string value;
  bool has_value = false;
  std::string reason;
};

// "rows.csv: line 12: column 'amount': value 'abc' is not a double". Long values are
// shortened to their first 200 bytes.
std::string FormatRowError(std::string_view file, int64_t line, const RowError& error);

class ReaderBase : public RecordReader {
 protected:
  ReaderBase(Schema schema, ReaderOptions options, std::string label);

  // Resets `batch` to the schema's columns with no rows, reusing its memory.
  void PrepareBatch(Table* batch) const;
  // Drops rows past `rows` (a record that failed after some of its columns were appended).
  static void TruncateRows(Table* batch, size_t rows);
  // A rejected record starting at `line` whose text is `raw`: without quarantine the
  // InvalidArgument error to return; with quarantine OK, after counting it and appending
  // it to `bad` (when not null and fewer than max_bad_rows_kept were kept). The BadRow's
  // reason is the whole message (FormatRowError), the same text the error would carry.
  absl::Status Reject(int64_t line, RowError error, std::string_view raw,
                      std::vector<BadRow>* bad);

  const Schema schema_;
  const ReaderOptions options_;
  const std::string label_;
  int64_t bad_rows_kept_ = 0;
};

}  // namespace cairn::features::ingest_internal
