#pragma once
// Readable, aligned text tables for the CLI, and the formatting of the values in them.

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"

namespace cairn::cli {

// A table with a header row. Render() pads every column to its widest cell (counted in
// UTF-8 code points), separates columns with two spaces, right-aligns the columns marked
// numeric, and leaves no trailing spaces. Rows shorter than the header are padded with
// empty cells; longer rows are cut.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Right-aligns column `column` (numbers read better that way).
  void SetNumeric(size_t column);
  void AddRow(std::vector<std::string> cells);

  size_t rows() const { return rows_.size(); }
  // The header line, then one line per row, each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-28 00:48:56" (UTC) for milliseconds since the epoch; "-" for 0 or less.
std::string FormatTimestamp(int64_t millis);
// "850ms", "12.3s", "4m05s", "2h03m"; "-" for a negative duration.
std::string FormatDuration(int64_t millis);
// Up to 6 significant digits ("0.8512", "1e-05", "120"); "nan", "inf" as such.
std::string FormatNumber(double value);
// A JSON scalar as a table cell: strings as they are, numbers via FormatNumber (integers
// without a decimal point), null and missing as "-".
std::string JsonCell(const Json& value);
// Integer millis from a JSON number or numeric string (MLflow sends int64 as either);
// 0 when absent or not numeric.
int64_t JsonMillis(const Json& value);

}  // namespace cairn::cli
