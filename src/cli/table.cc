#include "cli/table.h"

#include <cmath>
#include <ctime>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace cairn::cli {
namespace {

// Display width: UTF-8 code points (continuation bytes do not count).
size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char ch : text) {
    if ((ch & 0xC0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), numeric_(headers_.size(), false) {}

void Table::SetNumeric(size_t column) {
  if (column < numeric_.size()) numeric_[column] = true;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t col = 0; col < headers_.size(); ++col) widths[col] = DisplayWidth(headers_[col]);
  for (const auto& row : rows_) {
    for (size_t col = 0; col < row.size(); ++col) {
      widths[col] = std::max(widths[col], DisplayWidth(row[col]));
    }
  }
  std::string out;
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t col = 0; col < cells.size(); ++col) {
      if (col > 0) line.append("  ");
      const size_t padding = widths[col] - DisplayWidth(cells[col]);
      if (numeric_[col]) {
        line.append(padding, ' ');
        line.append(cells[col]);
      } else {
        line.append(cells[col]);
        line.append(padding, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.append(line);
    out.push_back('\n');
  };
  render_line(headers_);
  for (const auto& row : rows_) render_line(row);
  return out;
}

std::string FormatTimestamp(int64_t millis) {
  if (millis <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &utc);
  return buffer;
}

std::string FormatDuration(int64_t millis) {
  if (millis < 0) return "-";
  if (millis < 1000) return absl::StrFormat("%dms", millis);
  if (millis < 60'000) return absl::StrFormat("%.1fs", static_cast<double>(millis) / 1000.0);
  const int64_t seconds = millis / 1000;
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.6g", value);
}

std::string JsonCell(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  if (value.is_number()) return FormatNumber(value.get<double>());
  return value.dump();
}

int64_t JsonMillis(const Json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number()) return static_cast<int64_t>(value.get<double>());
  int64_t parsed = 0;
  if (value.is_string() && absl::SimpleAtoi(value.get<std::string>(), &parsed)) return parsed;
  return 0;
}

}  // namespace cairn::cli
