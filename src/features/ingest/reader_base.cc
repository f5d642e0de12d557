#include "features/ingest/reader_base.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::features::ingest_internal {

std::string FormatRowError(std::string_view file, int64_t line, const RowError& error) {
  std::string out = absl::StrCat(ToAbsl(file), ": line ", line, ": ");
  if (!error.column.empty()) absl::StrAppend(&out, "column '", error.column, "': ");
  if (error.has_value) {
    constexpr size_t kShown = 200;
    if (error.value.size() > kShown) {
      absl::StrAppend(&out, "value '", absl::string_view(error.value.data(), kShown),
                      "...' (", error.value.size(), " bytes) ");
    } else {
      absl::StrAppend(&out, "value '", error.value, "' ");
    }
  }
  absl::StrAppend(&out, error.reason);
  return out;
}

ReaderBase::ReaderBase(Schema schema, ReaderOptions options, std::string label)
    : schema_(std::move(schema)), options_(std::move(options)), label_(std::move(label)) {}

void ReaderBase::PrepareBatch(Table* batch) const {
  bool same = batch->columns.size() == schema_.size() && batch->names.size() == schema_.size();
  for (size_t field_idx = 0; same && field_idx < schema_.size(); ++field_idx) {
    same = batch->names[field_idx] == schema_[field_idx].name &&
           batch->columns[field_idx].type == schema_[field_idx].type;
  }
  if (same) {
    batch->Clear();
  } else {
    *batch = Table::FromSchema(schema_);
  }
  const size_t reserve = std::min<size_t>(options_.batch_rows, 65536);
  for (Column& column : batch->columns) column.Reserve(reserve);
}

void ReaderBase::TruncateRows(Table* batch, size_t rows) {
  for (Column& column : batch->columns) {
    if (column.valid.size() <= rows) continue;
    column.valid.resize(rows);
    switch (column.type) {
      case FeatureType::kDouble: column.doubles.resize(rows); break;
      case FeatureType::kString: column.strings.resize(rows); break;
      default: column.ints.resize(rows); break;
    }
  }
}

absl::Status ReaderBase::Reject(int64_t line, RowError error, std::string_view raw,
                                std::vector<BadRow>* bad) {
  if (!options_.quarantine) {
    return absl::InvalidArgumentError(FormatRowError(label_, line, error));
  }
  ++bad_rows_;
  if (bad != nullptr && bad_rows_kept_ < static_cast<int64_t>(options_.max_bad_rows_kept)) {
    ++bad_rows_kept_;
    BadRow row;
    row.file = label_;
    row.line = line;
    row.reason = FormatRowError(label_, line, error);
    row.column = std::move(error.column);
    row.value = std::move(error.value);
    row.raw = std::string(raw);
    bad->push_back(std::move(row));
  }
  return absl::OkStatus();
}

}  // namespace cairn::features::ingest_internal
