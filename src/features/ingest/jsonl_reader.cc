#include "features/ingest/jsonl_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "features/ingest/reader_base.h"
#include "features/ingest/value_text.h"

namespace cairn::features {
namespace ingest_internal {
namespace {

constexpr size_t kMaxLineBytes = size_t{256} << 20;
constexpr int kMaxDepth = 512;

enum class Kind { kNull, kBool, kNumber, kString, kObject, kArray };

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// A JSON scanner over one line. Every Parse* starts at the value's first byte and leaves
// `p` after it; on malformed input it sets `error` (with the 1-based byte position) and
// returns false.
class LineParser {
 public:
  LineParser(const char* begin, const char* end) : begin_(begin), p(begin), end_(end) {}

  void SkipSpace() {
    while (p < end_ && IsSpace(*p)) ++p;
  }
  bool AtEnd() const { return p == end_; }
  bool Consume(char c) {
    if (p < end_ && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  bool Fail(std::string_view what) {
    error = absl::StrCat("invalid JSON at position ", p - begin_ + 1, ": ",
                         absl::string_view(what.data(), what.size()));
    return false;
  }

  // A string; `*out` views the line when it has no escapes, else `scratch`.
  bool ParseString(std::string_view* out, std::string* scratch) {
    ++p;  // the opening quote
    const char* start = p;
    while (p < end_ && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
    if (p < end_ && *p == '"') {
      *out = std::string_view(start, p - start);
      ++p;
      return true;
    }
    scratch->assign(start, p - start);
    while (p < end_) {
      const char c = *p;
      if (c == '"') {
        ++p;
        *out = *scratch;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail("a control character inside a string must be escaped");
      }
      if (c != '\\') {
        scratch->push_back(c);
        ++p;
        continue;
      }
      if (++p == end_) break;
      switch (*p++) {
        case '"': scratch->push_back('"'); break;
        case '\\': scratch->push_back('\\'); break;
        case '/': scratch->push_back('/'); break;
        case 'b': scratch->push_back('\b'); break;
        case 'f': scratch->push_back('\f'); break;
        case 'n': scratch->push_back('\n'); break;
        case 'r': scratch->push_back('\r'); break;
        case 't': scratch->push_back('\t'); break;
        case 'u': {
          uint32_t code;
          if (!Hex4(&code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF) {
            uint32_t low;
            if (end_ - p < 2 || p[0] != '\\' || p[1] != 'u') {
              return Fail("a high surrogate \\u escape must be followed by a low one");
            }
            p += 2;
            if (!Hex4(&low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) {
              return Fail("a high surrogate \\u escape must be followed by a low one");
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return Fail("a low surrogate \\u escape without a high one");
          }
          AppendUtf8(code, scratch);
          break;
        }
        default:
          --p;
          return Fail("unknown escape in a string");
      }
    }
    return Fail("the string is not closed");
  }

  // A number (JSON grammar); `*integral` when it has no fraction or exponent.
  bool ParseNumber(std::string_view* out, bool* integral) {
    const char* start = p;
    Consume('-');
    if (p == end_ || *p < '0' || *p > '9') return Fail("expected a digit");
    if (*p == '0') {
      ++p;
    } else {
      while (p < end_ && *p >= '0' && *p <= '9') ++p;
    }
    *integral = true;
    if (p < end_ && *p == '.') {
      *integral = false;
      ++p;
      if (p == end_ || *p < '0' || *p > '9') return Fail("expected a digit after '.'");
      while (p < end_ && *p >= '0' && *p <= '9') ++p;
    }
    if (p < end_ && (*p == 'e' || *p == 'E')) {
      *integral = false;
      ++p;
      if (p < end_ && (*p == '+' || *p == '-')) ++p;
      if (p == end_ || *p < '0' || *p > '9') return Fail("expected a digit in the exponent");
      while (p < end_ && *p >= '0' && *p <= '9') ++p;
    }
    *out = std::string_view(start, p - start);
    return true;
  }

  bool ParseLiteral(std::string_view word) {
    if (static_cast<size_t>(end_ - p) < word.size() ||
        std::memcmp(p, word.data(), word.size()) != 0) {
      return Fail("expected a value (a string, number, object, array, true, false or null)");
    }
    p += word.size();
    return true;
  }

  // Any value, validated and skipped; `kind` says what it was.
  bool SkipValue(Kind* kind, int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    if (p == end_) return Fail("expected a value");
    std::string_view text;
    bool integral;
    switch (*p) {
      case '"':
        *kind = Kind::kString;
        return ParseString(&text, &skip_scratch_);
      case '{': {
        *kind = Kind::kObject;
        ++p;
        SkipSpace();
        if (Consume('}')) return true;
        while (true) {
          if (p == end_ || *p != '"') return Fail("expected a key (a quoted string)");
          if (!ParseString(&text, &skip_scratch_)) return false;
          SkipSpace();
          if (!Consume(':')) return Fail("expected ':' after a key");
          SkipSpace();
          Kind inner;
          if (!SkipValue(&inner, depth + 1)) return false;
          SkipSpace();
          if (Consume('}')) return true;
          if (!Consume(',')) return Fail("expected ',' or '}' in an object");
          SkipSpace();
        }
      }
      case '[': {
        *kind = Kind::kArray;
        ++p;
        SkipSpace();
        if (Consume(']')) return true;
        while (true) {
          Kind inner;
          if (!SkipValue(&inner, depth + 1)) return false;
          SkipSpace();
          if (Consume(']')) return true;
          if (!Consume(',')) return Fail("expected ',' or ']' in an array");
          SkipSpace();
        }
      }
      case 't':
        *kind = Kind::kBool;
        return ParseLiteral("true");
      case 'f':
        *kind = Kind::kBool;
        return ParseLiteral("false");
      case 'n':
        *kind = Kind::kNull;
        return ParseLiteral("null");
      default:
        *kind = Kind::kNumber;
        if (*p != '-' && (*p < '0' || *p > '9')) {
          return Fail("expected a value (a string, number, object, array, true, false or null)");
        }
        return ParseNumber(&text, &integral);
    }
  }

  const char* begin_;
  const char* p;
  const char* end_;
  std::string error;

 private:
  bool Hex4(uint32_t* code) {
    if (end_ - p < 4) return Fail("a \\u escape needs four hex digits");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = p[k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return Fail("a \\u escape needs four hex digits");
      }
    }
    p += 4;
    *code = v;
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  std::string skip_scratch_;
};

class JsonlReader : public ReaderBase {
 public:
  JsonlReader(std::unique_ptr<ByteSource> source, std::string label, const Schema& schema,
              const ReaderOptions& options)
      : ReaderBase(schema, options, std::move(label)),
        in_(std::move(source), options.buffer_bytes, kMaxLineBytes),
        seen_(schema.size(), 0) {}

  absl::Status SkipByteOrderMark();
  absl::StatusOr<bool> Next(Table* batch, std::vector<BadRow>* bad) override;

 private:
  enum class LineResult { kRow, kBlank, kBad };

  // The next line (without its '\n') in *line and its length with the '\n' in *consumed;
  // false at the end of the input.
  absl::StatusOr<bool> NextLine(std::string_view* line, size_t* consumed);
  LineResult ParseLine(std::string_view line, Table* batch, RowError* error);
  // Appends the value just parsed (`kind`, its JSON text, and for strings their content)
  // to column `column_idx`; false with `error` set when it does not fit the column.
  bool AppendValue(int column_idx, Kind kind, std::string_view json, std::string_view content,
                   bool integral, Table* batch, RowError* error);
  int ColumnOf(size_t member, std::string_view key);

  InputBuffer in_;
  int64_t line_ = 1;
  std::vector<uint8_t> seen_;
  // The keys of the previous line by position, with their schema index: lines of one
  // file usually list the same keys in the same order.
  std::vector<std::pair<std::string, int>> key_cache_;
  std::string key_scratch_;
  std::string value_scratch_;
  absl::Status failed_;
  bool done_ = false;
};

absl::Status JsonlReader::SkipByteOrderMark() {
  while (in_.size() < 3 && !in_.eof()) {
    absl::StatusOr<bool> filled = in_.Fill();
    if (!filled.ok()) return filled.status();
  }
  if (in_.size() >= 3 && std::memcmp(in_.data(), "\xEF\xBB\xBF", 3) == 0) in_.Consume(3);
  return absl::OkStatus();
}

absl::StatusOr<bool> JsonlReader::NextLine(std::string_view* line, size_t* consumed) {
  while (true) {
    const char* nl = static_cast<const char*>(std::memchr(in_.data(), '\n', in_.size()));
    if (nl != nullptr) {
      *line = std::string_view(in_.data(), nl - in_.data());
      *consumed = line->size() + 1;
      return true;
    }
    if (in_.eof()) {
      if (in_.size() == 0) return false;
      *line = std::string_view(in_.data(), in_.size());
      *consumed = in_.size();
      return true;
    }
    absl::StatusOr<bool> filled = in_.Fill();
    if (!filled.ok()) {
      if (filled.status().code() == absl::StatusCode::kResourceExhausted) {
        return absl::InvalidArgumentError(absl::StrCat(label_, ": line ", line_,
                                                       ": the line is longer than ",
                                                       kMaxLineBytes >> 20, " MiB"));
      }
      return absl::Status(filled.status().code(),
                          absl::StrCat(label_, ": ", filled.status().message()));
    }
  }
}

int JsonlReader::ColumnOf(size_t member, std::string_view key) {
  if (member < key_cache_.size() && key_cache_[member].first == key) {
    return key_cache_[member].second;
  }
  const int column_idx = FindField(schema_, key);
  if (member < key_cache_.size()) {
    key_cache_[member].first.assign(key.data(), key.size());
    key_cache_[member].second = column_idx;
  } else if (member == key_cache_.size() && member < 1024) {
    key_cache_.emplace_back(std::string(key), column_idx);
  }
  return column_idx;
}

bool JsonlReader::AppendValue(int column_idx, Kind kind, std::string_view json,
                              std::string_view content, bool integral, Table* batch,
                              RowError* error) {
  Column& column = batch->columns[column_idx];
  const Field& field = schema_[column_idx];
  if (kind == Kind::kNull) {
    if (!field.nullable) {
      error->column = field.name;
      error->reason = "is null, but the column is not nullable; give a value";
      return false;
    }
    column.AppendNull();
    return true;
  }
  const char* reason = nullptr;
  switch (field.type) {
    case FeatureType::kInt64:
      if (kind != Kind::kNumber) {
        reason = "is not an int64 (expected a JSON number)";
        break;
      }
      reason = AppendText(&column, json);
      break;
    case FeatureType::kDouble:
      if (kind != Kind::kNumber) {
        reason = "is not a double (expected a JSON number)";
        break;
      }
      reason = AppendText(&column, json);
      break;
    case FeatureType::kString:
      if (kind != Kind::kString) {
        reason = "is not a string (expected a JSON string)";
        break;
      }
      column.AppendString(content);
      break;
    case FeatureType::kBool:
      if (kind != Kind::kBool) {
        reason = "is not a bool (expected true or false)";
        break;
      }
      column.AppendBool(json[0] == 't');
      break;
    case FeatureType::kTimestamp:
      if (kind == Kind::kString || (kind == Kind::kNumber && integral)) {
        reason = AppendText(&column, kind == Kind::kString ? content : json);
      } else {
        reason =
            "is not a timestamp (expected an RFC 3339 string like \"2024-05-01T12:00:00Z\", or "
            "integer epoch milliseconds)";
      }
      break;
  }
  if (reason == nullptr) return true;
  error->column = field.name;
  error->value = std::string(json);
  error->has_value = true;
  error->reason = reason;
  return false;
}

JsonlReader::LineResult JsonlReader::ParseLine(std::string_view line, Table* batch,
                                               RowError* error) {
  LineParser parser(line.data(), line.data() + line.size());
  parser.SkipSpace();
  if (parser.AtEnd()) return LineResult::kBlank;
  auto malformed = [&] {
    error->reason = std::move(parser.error);
    return LineResult::kBad;
  };
  if (!parser.Consume('{')) {
    error->reason = "the line is not a JSON object (JSON Lines needs one object per line)";
    return LineResult::kBad;
  }
  std::fill(seen_.begin(), seen_.end(), 0);
  parser.SkipSpace();
  if (!parser.Consume('}')) {
    for (size_t member = 0;; ++member) {
      if (parser.AtEnd() || *parser.p != '"') {
        parser.Fail("expected a key (a quoted string)");
        return malformed();
      }
      std::string_view key;
      if (!parser.ParseString(&key, &key_scratch_)) return malformed();
      const int column_idx = ColumnOf(member, key);
      parser.SkipSpace();
      if (!parser.Consume(':')) {
        parser.Fail("expected ':' after a key");
        return malformed();
      }
      parser.SkipSpace();
      if (column_idx < 0) {
        Kind kind;
        if (!parser.SkipValue(&kind, 0)) return malformed();
      } else {
        if (seen_[column_idx]) {
          error->column = schema_[column_idx].name;
          error->reason = "the key appears more than once in the object; keep one";
          return LineResult::kBad;
        }
        seen_[column_idx] = 1;
        const char* value_begin = parser.p;
        Kind kind = Kind::kNull;
        std::string_view content;
        bool integral = false;
        bool ok;
        if (parser.AtEnd()) {
          ok = parser.Fail("expected a value");
        } else if (*parser.p == '"') {
          kind = Kind::kString;
          ok = parser.ParseString(&content, &value_scratch_);
        } else if (*parser.p == '-' || (*parser.p >= '0' && *parser.p <= '9')) {
          kind = Kind::kNumber;
          ok = parser.ParseNumber(&content, &integral);
        } else {
          ok = parser.SkipValue(&kind, 0);
        }
        if (!ok) return malformed();
        std::string_view json(value_begin, parser.p - value_begin);
        if (!AppendValue(column_idx, kind, json, content, integral, batch, error)) {
          return LineResult::kBad;
        }
      }
      parser.SkipSpace();
      if (parser.Consume('}')) break;
      if (!parser.Consume(',')) {
        parser.Fail("expected ',' or '}' after a value");
        return malformed();
      }
      parser.SkipSpace();
    }
  }
  parser.SkipSpace();
  if (!parser.AtEnd()) {
    parser.Fail("unexpected text after the object (one object per line)");
    return malformed();
  }
  for (size_t column_idx = 0; column_idx < schema_.size(); ++column_idx) {
    if (seen_[column_idx]) continue;
    if (!schema_[column_idx].nullable) {
      error->column = schema_[column_idx].name;
      error->reason = "is missing, but the column is not nullable; give a value";
      return LineResult::kBad;
    }
    batch->columns[column_idx].AppendNull();
  }
  return LineResult::kRow;
}

absl::StatusOr<bool> JsonlReader::Next(Table* batch, std::vector<BadRow>* bad) {
  PrepareBatch(batch);
  if (!failed_.ok()) return failed_;
  if (done_) return false;
  size_t rows = 0;
  bool any = false;
  while (rows < std::max<size_t>(options_.batch_rows, 1)) {
    std::string_view line;
    size_t consumed = 0;
    absl::StatusOr<bool> got = NextLine(&line, &consumed);
    if (!got.ok()) {
      failed_ = got.status();
      return failed_;
    }
    if (!*got) {
      done_ = true;
      break;
    }
    RowError error;
    switch (ParseLine(line, batch, &error)) {
      case LineResult::kBlank:
        break;
      case LineResult::kRow:
        ++rows;
        any = true;
        break;
      case LineResult::kBad: {
        TruncateRows(batch, rows);
        std::string_view raw = line;
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        absl::Status status = Reject(line_, std::move(error), raw, bad);
        if (!status.ok()) {
          failed_ = status;
          PrepareBatch(batch);
          return failed_;
        }
        any = true;
        break;
      }
    }
    in_.Consume(consumed);
    ++line_;
  }
  rows_read_ += static_cast<int64_t>(rows);
  return any;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecordReader>> MakeJsonlReader(std::unique_ptr<ByteSource> source,
                                                              std::string label,
                                                              const Schema& schema,
                                                              const ReaderOptions& options) {
  auto reader =
      std::make_unique<JsonlReader>(std::move(source), std::move(label), schema, options);
  CAIRN_RETURN_IF_ERROR(reader->SkipByteOrderMark());
  return std::unique_ptr<RecordReader>(std::move(reader));
}

}  // namespace ingest_internal

absl::StatusOr<std::unique_ptr<RecordReader>> OpenJsonlReader(std::string path,
                                                              const Schema& schema,
                                                              const ReaderOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ingest_internal::ByteSource> source,
                         ingest_internal::OpenFileSource(path));
  std::string label = options.file_label.empty() ? path : options.file_label;
  return ingest_internal::MakeJsonlReader(std::move(source), std::move(label), schema, options);
}

}  // namespace cairn::features
