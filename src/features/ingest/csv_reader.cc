#include "features/ingest/csv_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "features/ingest/reader_base.h"
#include "features/ingest/value_text.h"

namespace cairn::features {
namespace ingest_internal {
namespace {

// Longest record a reader buffers: a stray quote would otherwise pull the rest of the
// file into memory looking for its partner.
constexpr size_t kMaxRecordBytes = size_t{256} << 20;

class CsvReader : public ReaderBase {
 public:
  CsvReader(std::unique_ptr<ByteSource> source, std::string label, const Schema& schema,
            const ReaderOptions& options)
      : ReaderBase(schema, options, std::move(label)),
        in_(std::move(source), options.buffer_bytes, kMaxRecordBytes) {}

  absl::Status ReadHeader();
  absl::StatusOr<bool> Next(Table* batch, std::vector<BadRow>* bad) override;

 private:
  struct FieldSpan {
    size_t begin;  // offset from the record's first byte
    size_t size;
    bool quoted;
    bool escaped;  // holds "" pairs
  };
  enum class Scan { kRecord, kMalformed, kNeedMore, kEnd };

  // Scans the record at the front of the buffer into fields_, record_size_ (its text),
  // consumed_ (with its terminator) and newlines_ (line breaks inside quoted fields).
  Scan ScanRecord();
  // The next record (kRecord or kMalformed) or kEnd, filling the buffer as needed.
  absl::StatusOr<Scan> NextRecord();
  void Advance() {
    in_.Consume(consumed_);
    line_ += 1 + newlines_;
  }
  bool IsBlank() const {
    return fields_.size() == 1 && !fields_[0].quoted && fields_[0].size == 0;
  }
  std::string_view Raw() const { return {in_.data(), record_size_}; }
  // The unquoted, unescaped text of field `field_idx`.
  std::string_view FieldText(size_t field_idx);
  // Appends the current record to `batch`: OK, or the RowError that rejects it.
  bool AppendRecord(Table* batch, RowError* error);

  InputBuffer in_;
  int64_t line_ = 1;
  std::vector<FieldSpan> fields_;
  std::vector<std::string> unescaped_;
  size_t record_size_ = 0;
  size_t consumed_ = 0;
  int64_t newlines_ = 0;
  std::string malformed_;
  size_t header_fields_ = 0;
  std::vector<int> field_to_column_;   // header position → schema index, or -1
  std::vector<int> missing_columns_;   // schema indexes absent from the header
  absl::Status failed_;
  bool done_ = false;
};

CsvReader::Scan CsvReader::ScanRecord() {
  const char* const base = in_.data();
  const char* const end = base + in_.size();
  const bool eof = in_.eof();
  fields_.clear();
  newlines_ = 0;
  if (base == end) return eof ? Scan::kEnd : Scan::kNeedMore;
  const char* p = base;
  auto finish = [&](const char* text_end, const char* next) {
    record_size_ = static_cast<size_t>(text_end - base);
    consumed_ = static_cast<size_t>(next - base);
    return Scan::kRecord;
  };
  while (true) {
    // Here p < end: the first byte of a field.
    if (*p == '"') {
      const char* q = p + 1;
      bool escaped = false;
      while (true) {
        const char* quote = static_cast<const char*>(std::memchr(q, '"', end - q));
        if (quote == nullptr) {
          if (!eof) return Scan::kNeedMore;
          newlines_ += std::count(q, end, '\n');
          malformed_ = "a quoted field is not closed before the end of the file";
          record_size_ = consumed_ = static_cast<size_t>(end - base);
          return Scan::kMalformed;
        }
        if (quote + 1 == end && !eof) return Scan::kNeedMore;  // "" split by the refill?
        newlines_ += std::count(q, quote, '\n');
        if (quote + 1 < end && quote[1] == '"') {
          escaped = true;
          q = quote + 2;
          continue;
        }
        q = quote;
        break;
      }
      fields_.push_back({static_cast<size_t>(p + 1 - base), static_cast<size_t>(q - p - 1),
                         true, escaped});
      p = q + 1;
      if (p == end) return finish(p, p);  // eof: a last record without a line break
      if (*p == ',') {
        ++p;
        if (p == end) {
          if (!eof) return Scan::kNeedMore;
          fields_.push_back({static_cast<size_t>(p - base), 0, false, false});
          return finish(p, p);
        }
        continue;
      }
      if (*p == '\n') return finish(p, p + 1);
      if (*p == '\r') {
        if (p + 1 == end) {
          if (!eof) return Scan::kNeedMore;
          return finish(p, p + 1);
        }
        if (p[1] == '\n') return finish(p, p + 2);
      }
      // Text after a closing quote: resynchronize at the next line break.
      malformed_ = absl::StrCat("unexpected text after the closing quote of field ",
                                fields_.size(),
                                " (a quote inside a quoted field is written as \"\")");
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) {
        if (!eof) return Scan::kNeedMore;
        nl = end;
      }
      record_size_ = static_cast<size_t>(nl - base);
      if (record_size_ > 0 && base[record_size_ - 1] == '\r') --record_size_;
      consumed_ = static_cast<size_t>((nl == end ? nl : nl + 1) - base);
      return Scan::kMalformed;
    }
    const char* q = p;
    while (q < end && *q != ',' && *q != '\n') ++q;
    if (q == end) {
      if (!eof) return Scan::kNeedMore;
      const char* text_end = (q > p && q[-1] == '\r') ? q - 1 : q;
      fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(text_end - p),
                         false, false});
      return finish(text_end, q);
    }
    if (*q == ',') {
      fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(q - p), false,
                         false});
      p = q + 1;
      if (p == end) {
        if (!eof) return Scan::kNeedMore;
        fields_.push_back({static_cast<size_t>(p - base), 0, false, false});
        return finish(p, p);
      }
      continue;
    }
    // *q == '\n'
    const char* text_end = (q > p && q[-1] == '\r') ? q - 1 : q;
    fields_.push_back({static_cast<size_t>(p - base), static_cast<size_t>(text_end - p),
                       false, false});
    return finish(text_end, q + 1);
  }
}

absl::StatusOr<CsvReader::Scan> CsvReader::NextRecord() {
  while (true) {
    Scan scan = ScanRecord();
    if (scan != Scan::kNeedMore) return scan;
    absl::StatusOr<bool> filled = in_.Fill();
    if (!filled.ok()) {
      if (filled.status().code() == absl::StatusCode::kResourceExhausted) {
        return absl::InvalidArgumentError(absl::StrCat(
            label_, ": line ", line_, ": the record is longer than ", kMaxRecordBytes >> 20,
            " MiB; is a quote left open? (a quote inside a quoted field is written as \"\")"));
      }
      return absl::Status(filled.status().code(),
                          absl::StrCat(label_, ": ", filled.status().message()));
    }
  }
}

std::string_view CsvReader::FieldText(size_t field_idx) {
  const FieldSpan& field = fields_[field_idx];
  std::string_view text(in_.data() + field.begin, field.size);
  if (!field.escaped) return text;
  if (unescaped_.size() <= field_idx) unescaped_.resize(field_idx + 1);
  std::string& out = unescaped_[field_idx];
  out.clear();
  for (size_t pos = 0; pos < text.size(); ++pos) {
    out.push_back(text[pos]);
    if (text[pos] == '"') ++pos;  // the second quote of a "" pair
  }
  return out;
}

absl::Status CsvReader::ReadHeader() {
  // An optional UTF-8 byte order mark.
  while (in_.size() < 3 && !in_.eof()) {
    absl::StatusOr<bool> filled = in_.Fill();
    if (!filled.ok()) return filled.status();
  }
  if (in_.size() >= 3 && std::memcmp(in_.data(), "\xEF\xBB\xBF", 3) == 0) in_.Consume(3);

  Scan scan;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(scan, NextRecord());
    if (scan == Scan::kEnd) {
      done_ = true;  // an empty file: no header, no rows
      return absl::OkStatus();
    }
    if (scan == Scan::kMalformed) {
      return absl::InvalidArgumentError(
          absl::StrCat(label_, ": line ", line_, ": header: ", malformed_));
    }
    if (!IsBlank()) break;
    Advance();
  }
  header_fields_ = fields_.size();
  field_to_column_.assign(header_fields_, -1);
  std::vector<std::string> names;
  std::vector<bool> present(schema_.size(), false);
  for (size_t field_idx = 0; field_idx < header_fields_; ++field_idx) {
    std::string name(FieldText(field_idx));
    int column_idx = FindField(schema_, name);
    if (column_idx >= 0) {
      if (present[column_idx]) {
        return absl::InvalidArgumentError(
            absl::StrCat(label_, ": line ", line_, ": header: column '", name,
                         "' appears more than once; keep one"));
      }
      present[column_idx] = true;
      field_to_column_[field_idx] = column_idx;
    }
    names.push_back(std::move(name));
  }
  for (size_t column_idx = 0; column_idx < schema_.size(); ++column_idx) {
    if (present[column_idx]) continue;
    if (!schema_[column_idx].nullable) {
      return absl::InvalidArgumentError(absl::StrCat(
          label_, ": header: no column '", schema_[column_idx].name,
          "', which the source schema requires (it is not nullable); the header has: ",
          absl::StrJoin(names, ", ")));
    }
    missing_columns_.push_back(static_cast<int>(column_idx));
  }
  Advance();
  return absl::OkStatus();
}

bool CsvReader::AppendRecord(Table* batch, RowError* error) {
  if (fields_.size() != header_fields_) {
    error->reason =
        absl::StrCat("expected ", header_fields_, " fields, found ", fields_.size());
    return false;
  }
  for (size_t field_idx = 0; field_idx < header_fields_; ++field_idx) {
    const int column_idx = field_to_column_[field_idx];
    if (column_idx < 0) continue;
    Column& column = batch->columns[column_idx];
    std::string_view text = FieldText(field_idx);
    // Empty is null, except a quoted "" in a string column (the empty string).
    const bool is_null = column.type == FeatureType::kString
                             ? text.empty() && !fields_[field_idx].quoted
                             : TrimSpaces(text).empty();
    if (is_null) {
      if (!schema_[column_idx].nullable) {
        error->column = schema_[column_idx].name;
        error->reason = "is empty, but the column is not nullable; give a value";
        return false;
      }
      column.AppendNull();
      continue;
    }
    if (const char* reason = AppendText(&column, text)) {
      error->column = schema_[column_idx].name;
      error->value = std::string(text);
      error->has_value = true;
      error->reason = reason;
      return false;
    }
  }
  for (int column_idx : missing_columns_) batch->columns[column_idx].AppendNull();
  return true;
}

absl::StatusOr<bool> CsvReader::Next(Table* batch, std::vector<BadRow>* bad) {
  PrepareBatch(batch);
  if (!failed_.ok()) return failed_;
  if (done_) return false;
  size_t rows = 0;
  bool any = false;
  while (rows < std::max<size_t>(options_.batch_rows, 1)) {
    absl::StatusOr<Scan> scan = NextRecord();
    if (!scan.ok()) {
      failed_ = scan.status();
      return failed_;
    }
    if (*scan == Scan::kEnd) {
      done_ = true;
      break;
    }
    if (*scan == Scan::kRecord && IsBlank()) {
      Advance();
      continue;
    }
    RowError error;
    bool ok;
    if (*scan == Scan::kMalformed) {
      error.reason = malformed_;
      ok = false;
    } else {
      ok = AppendRecord(batch, &error);
    }
    if (ok) {
      ++rows;
    } else {
      TruncateRows(batch, rows);
      absl::Status status = Reject(line_, std::move(error), Raw(), bad);
      if (!status.ok()) {
        failed_ = status;
        PrepareBatch(batch);
        return failed_;
      }
    }
    any = true;
    Advance();
  }
  rows_read_ += static_cast<int64_t>(rows);
  return any;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecordReader>> MakeCsvReader(std::unique_ptr<ByteSource> source,
                                                            std::string label,
                                                            const Schema& schema,
                                                            const ReaderOptions& options) {
  auto reader = std::make_unique<CsvReader>(std::move(source), std::move(label), schema, options);
  CAIRN_RETURN_IF_ERROR(reader->ReadHeader());
  return std::unique_ptr<RecordReader>(std::move(reader));
}

}  // namespace ingest_internal

absl::StatusOr<std::unique_ptr<RecordReader>> OpenCsvReader(std::string path,
                                                            const Schema& schema,
                                                            const ReaderOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ingest_internal::ByteSource> source,
                         ingest_internal::OpenFileSource(path));
  std::string label = options.file_label.empty() ? path : options.file_label;
  return ingest_internal::MakeCsvReader(std::move(source), std::move(label), schema, options);
}

}  // namespace cairn::features
