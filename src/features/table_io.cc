#include "features/table_io.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/ingest/csv_reader.h"
#include "features/ingest/input_buffer.h"
#include "features/ingest/record_reader.h"

namespace cairn::features {
namespace {

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendCsvField(std::string_view s, std::string* out) {
  bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos || s.empty();
  if (!quote) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

// nullptr when `text` is a whole int64 / double; a reason otherwise.
const char* ParseInt64Text(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() ? nullptr
                                                                                 : "not an int64";
}

const char* ParseDoubleText(std::string_view text, double* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() ? nullptr
                                                                                 : "not a double";
}

// Infers a column type from string cells: int64, double, bool, else string.
Column InferColumn(const Column& text) {
  auto all = [&](auto parse) {
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.valid[i] && !parse(text.strings[i])) return false;
    }
    return true;
  };
  int64_t iv;
  double dv;
  if (all([&](const std::string& s) { return ParseInt64Text(s, &iv) == nullptr; })) {
    Column c(FeatureType::kInt64);
    for (size_t i = 0; i < text.size(); ++i) {
      if (!text.valid[i]) c.AppendNull();
      else { ParseInt64Text(text.strings[i], &iv); c.AppendInt(iv); }
    }
    return c;
  }
  if (all([&](const std::string& s) { return ParseDoubleText(s, &dv) == nullptr; })) {
    Column c(FeatureType::kDouble);
    for (size_t i = 0; i < text.size(); ++i) {
      if (!text.valid[i]) c.AppendNull();
      else { ParseDoubleText(text.strings[i], &dv); c.AppendDouble(dv); }
    }
    return c;
  }
  if (all([&](const std::string& s) { return (s == "true" || s == "false"); })) {
    Column c(FeatureType::kBool);
    for (size_t i = 0; i < text.size(); ++i) {
      if (!text.valid[i]) c.AppendNull();
      else c.AppendBool(text.strings[i] == "true");
    }
    return c;
  }
  return text;
}

// Appends one JSON value to a column of a known type.
absl::Status AppendJson(Column* col, const Json& v, const std::string& where) {
  auto bad = [&](std::string_view want) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected ", ToAbsl(want), ", got ", v.dump()));
  };
  if (v.is_null()) {
    col->AppendNull();
    return absl::OkStatus();
  }
  switch (col->type) {
    case FeatureType::kInt64:
      if (v.is_number_integer()) {
        col->AppendInt(v.get<int64_t>());
        return absl::OkStatus();
      }
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (std::floor(d) == d && std::abs(d) < 9.2e18) {
          col->AppendInt(static_cast<int64_t>(d));
          return absl::OkStatus();
        }
      }
      return bad("an int64");
    case FeatureType::kDouble:
      if (v.is_number()) {
        col->AppendDouble(v.get<double>());
        return absl::OkStatus();
      }
      return bad("a number");
    case FeatureType::kBool:
      if (v.is_boolean()) {
        col->AppendBool(v.get<bool>());
        return absl::OkStatus();
      }
      return bad("true or false");
    case FeatureType::kString:
      if (v.is_string()) {
        col->AppendString(v.get_ref<const std::string&>());
        return absl::OkStatus();
      }
      return bad("a string");
    case FeatureType::kTimestamp:
      if (v.is_number_integer()) {
        col->AppendInt(v.get<int64_t>());
        return absl::OkStatus();
      }
      if (v.is_string()) {
        auto t = ParseTimestamp(v.get_ref<const std::string&>());
        if (t) {
          col->AppendInt(*t);
          return absl::OkStatus();
        }
      }
      return bad("an RFC 3339 timestamp or epoch milliseconds");
  }
  return bad("a value");
}

FeatureType InferJsonType(const Json& values) {
  bool any = false, all_int = true, all_num = true, all_bool = true;
  for (const Json& v : values) {
    if (v.is_null()) continue;
    any = true;
    if (!v.is_number_integer()) all_int = false;
    if (!v.is_number()) all_num = false;
    if (!v.is_boolean()) all_bool = false;
  }
  if (!any) return FeatureType::kString;
  if (all_int) return FeatureType::kInt64;
  if (all_num) return FeatureType::kDouble;
  if (all_bool) return FeatureType::kBool;
  return FeatureType::kString;
}

// Appends text through a raw pointer into a string grown ahead of the writes (one bounds
// check per value instead of one per character). The string gets its final size when the
// writer is destroyed.
class TextWriter {
 public:
  static constexpr size_t kStep = 64 * 1024;

  explicit TextWriter(std::string* s) : s_(s), len_(s->size()) {}
  ~TextWriter() { s_->resize(len_); }
  TextWriter(const TextWriter&) = delete;
  TextWriter& operator=(const TextWriter&) = delete;

  // Room for `n` more bytes; returns where they go. Commit(end) after writing. The
  // string's size runs ahead of the text in small steps (resize zero-fills what it adds),
  // its capacity doubles.
  char* Reserve(size_t n) {
    if (len_ + n > s_->size()) {
      size_t size = len_ + n + kStep;
      if (size > s_->capacity()) s_->reserve(std::max(s_->capacity() * 2, size));
      s_->resize(size);
    }
    return s_->data() + len_;
  }
  // Expects about `n` more bytes in all: one allocation instead of regrowing.
  void Expect(size_t n) { s_->reserve(len_ + n + kStep); }
  void Commit(char* end) { len_ = static_cast<size_t>(end - s_->data()); }
  size_t size() const { return len_; }
  void Put(char c) { *Reserve(1) = c, ++len_; }
  void Append(std::string_view text) {
    std::memcpy(Reserve(text.size()), text.data(), text.size());
    len_ += text.size();
  }

 private:
  std::string* s_;
  size_t len_;
};

constexpr size_t kParallelRows = 32768;  // fewer rows: one thread

size_t FormatThreads() { return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8); }

char* TwoDigits(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// FormatTimestamp(millis) written at p (at most 48 bytes); returns the end.
char* PutTimestamp(int64_t millis, char* p) {
  int64_t secs = millis / 1000 - (millis % 1000 < 0 ? 1 : 0);
  unsigned ms = static_cast<unsigned>(millis - secs * 1000);
  int64_t days = secs / 86400 - (secs % 86400 < 0 ? 1 : 0);
  unsigned rem = static_cast<unsigned>(secs - days * 86400);
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0 || y > 9999) {  // the rare widths: exactly as FormatTimestamp writes them
    std::string text = FormatTimestamp(millis);
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
  }
  p = TwoDigits(p, static_cast<unsigned>(y / 100));
  p = TwoDigits(p, static_cast<unsigned>(y % 100));
  *p++ = '-';
  p = TwoDigits(p, m);
  *p++ = '-';
  p = TwoDigits(p, d);
  *p++ = 'T';
  p = TwoDigits(p, rem / 3600);
  *p++ = ':';
  p = TwoDigits(p, rem % 3600 / 60);
  *p++ = ':';
  p = TwoDigits(p, rem % 60);
  *p++ = '.';
  *p++ = static_cast<char>('0' + ms / 100);
  p = TwoDigits(p, ms % 100);
  *p++ = 'Z';
  return p;
}

constexpr size_t kMaxTimestampChars = 48;
constexpr size_t kMaxNumberChars = 32;  // an int64 (20) or a shortest double (24)

char* PutInt(int64_t v, char* p) { return std::to_chars(p, p + kMaxNumberChars, v).ptr; }

// "true" or "false", as CSV and JSON write a bool.
char* PutBool(bool v, char* p) {
  if (v) {
    std::memcpy(p, "true", 4);
    return p + 4;
  }
  std::memcpy(p, "false", 5);
  return p + 5;
}
char* PutDouble(double v, char* p) { return std::to_chars(p, p + kMaxNumberChars, v).ptr; }

// Rows [begin, end) of `table` as CSV lines (the format of WriteCsv).
void WriteCsvRows(const Table& table, size_t begin, size_t end, TextWriter* w) {
  const size_t columns = table.num_columns();
  size_t bound = 1;  // the longest line without strings
  for (const Column& col : table.columns) {
    switch (col.type) {
      case FeatureType::kTimestamp: bound += kMaxTimestampChars + 1; break;
      case FeatureType::kString: bound += 1; break;
      default: bound += kMaxNumberChars + 1; break;
    }
  }
  std::string field;
  // The first rows tell about how long a line is: room for all of them at once.
  const size_t sample_end = std::min(end, begin + 256);
  const size_t start = w->size();
  for (size_t r = begin; r < end; ++r) {
    if (r == sample_end && r > begin) {
      w->Expect((w->size() - start) / (r - begin) * (end - r) * 9 / 8);
    }
    char* p = w->Reserve(bound);
    for (size_t c = 0; c < columns; ++c) {
      if (c) *p++ = ',';
      const Column& col = table.columns[c];
      if (!col.valid[r]) continue;
      switch (col.type) {
        case FeatureType::kInt64: p = PutInt(col.ints[r], p); break;
        case FeatureType::kBool:
          p = PutBool(col.ints[r] != 0, p);
          break;
        case FeatureType::kTimestamp: p = PutTimestamp(col.ints[r], p); break;
        case FeatureType::kDouble: {
          double d = col.doubles[r];
          if (std::isnan(d)) {
            std::memcpy(p, "nan", 3), p += 3;
          } else if (std::isinf(d)) {
            if (d > 0) {
              std::memcpy(p, "inf", 3), p += 3;
            } else {
              std::memcpy(p, "-inf", 4), p += 4;
            }
          } else {
            p = PutDouble(d, p);
          }
          break;
        }
        case FeatureType::kString: {
          field.clear();
          AppendCsvField(col.strings[r], &field);
          w->Commit(p);
          // The rest of the line still fits after the field.
          p = w->Reserve(field.size() + bound);
          std::memcpy(p, field.data(), field.size());
          p += field.size();
          break;
        }
      }
    }
    *p++ = '\n';
    w->Commit(p);
  }
}

// One column's values, comma-separated (the inside of its JSON array).
void WriteJsonValues(const Column& col, TextWriter* w) {
  std::string text;
  const size_t sample_end = std::min<size_t>(col.size(), 256);
  const size_t start = w->size();
  for (size_t r = 0; r < col.size(); ++r) {
    if (r == sample_end && r > 0) w->Expect((w->size() - start) / r * (col.size() - r) * 9 / 8);
    char* p = w->Reserve(kMaxTimestampChars + 3);
    if (r) *p++ = ',';
    if (!col.valid[r]) {
      std::memcpy(p, "null", 4), p += 4;
      w->Commit(p);
      continue;
    }
    switch (col.type) {
      case FeatureType::kInt64: p = PutInt(col.ints[r], p); break;
      case FeatureType::kBool:
        p = PutBool(col.ints[r] != 0, p);
        break;
      case FeatureType::kTimestamp:
        *p++ = '"';
        p = PutTimestamp(col.ints[r], p);
        *p++ = '"';
        break;
      case FeatureType::kDouble:
        if (std::isfinite(col.doubles[r])) {
          p = PutDouble(col.doubles[r], p);
        } else {
          std::memcpy(p, "null", 4), p += 4;
        }
        break;
      case FeatureType::kString:
        w->Commit(p);
        text.clear();
        AppendJsonString(col.strings[r], &text);
        w->Append(text);
        continue;
    }
    w->Commit(p);
  }
}

}  // namespace

void WriteCsv(const Table& table, std::string* out) {
  for (size_t c = 0; c < table.num_columns(); ++c) {
    if (c) out->push_back(',');
    AppendCsvField(table.names[c], out);
  }
  out->push_back('\n');
  const size_t n = table.num_rows();
  size_t parts = n >= kParallelRows ? std::min<size_t>(FormatThreads(), n / (kParallelRows / 2))
                                    : 1;
  if (parts <= 1) {
    TextWriter w(out);
    WriteCsvRows(table, 0, n, &w);
    return;
  }
  // Row ranges formatted on parallel threads, then appended in order.
  std::vector<std::string> pieces(parts);
  // A thread's exception (bad_alloc) is kept and rethrown here after the join; jthreads, so
  // that if starting one throws, those already started are joined on the way out.
  std::vector<std::exception_ptr> errors(parts);
  std::vector<std::jthread> pool;
  for (size_t p = 1; p < parts; ++p) {
    pool.emplace_back([&, p] {
      try {
        TextWriter w(&pieces[p]);
        WriteCsvRows(table, n * p / parts, n * (p + 1) / parts, &w);
      } catch (...) {
        errors[p] = std::current_exception();
      }
    });
  }
  {
    TextWriter w(out);
    WriteCsvRows(table, 0, n / parts, &w);
  }
  for (std::jthread& t : pool) t.join();
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  size_t total = out->size();
  for (const std::string& piece : pieces) total += piece.size();
  out->reserve(total);
  for (const std::string& piece : pieces) out->append(piece);
}

void WriteColumnsJson(const Table& table, std::string* out) {
  const size_t columns = table.num_columns();
  // Columns formatted on parallel threads (each into its own string) when the table is
  // large, then appended in order.
  std::vector<std::string> pieces(columns);
  auto format = [&](size_t c) {
    std::string* s = c == 0 ? out : &pieces[c];
    TextWriter w(s);
    if (c) w.Put(',');
    std::string name;
    AppendJsonString(table.names[c], &name);
    w.Append(name);
    w.Append(":[");
    WriteJsonValues(table.columns[c], &w);
    w.Put(']');
  };
  out->push_back('{');
  size_t threads = table.num_rows() >= kParallelRows ? std::min(FormatThreads(), columns) : 1;
  if (threads <= 1) {
    for (size_t c = 0; c < columns; ++c) format(c);
  } else {
    std::atomic<size_t> next{1};
    // A thread's exception (bad_alloc) is kept and rethrown after the join.
    std::vector<std::exception_ptr> errors(threads);
    auto work = [&](size_t thread) {
      try {
        for (size_t c = next++; c < columns; c = next++) format(c);
      } catch (...) {
        errors[thread] = std::current_exception();
      }
    };
    std::vector<std::jthread> pool;  // joined on the way out if starting one throws
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    format(0);
    work(0);
    for (std::jthread& t : pool) t.join();
    for (const std::exception_ptr& error : errors) {
      if (error) std::rethrow_exception(error);
    }
  }
  size_t total = out->size() + 1;
  for (const std::string& piece : pieces) total += piece.size();
  out->reserve(total);
  for (size_t c = 1; c < columns; ++c) out->append(pieces[c]);
  out->push_back('}');
}

absl::StatusOr<Table> TableFromColumnsJson(const Json& columns, std::string_view field,
                                           const std::map<std::string, FeatureType>& types) {
  if (!columns.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(field), ": expected an object of column arrays"));
  }
  Table table;
  size_t rows = 0;
  bool first = true;
  for (auto it = columns.begin(); it != columns.end(); ++it) {
    const Json& values = it.value();
    std::string name = it.key();
    if (!values.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(field), ".", name, ": expected an array of values"));
    }
    if (first) {
      rows = values.size();
      first = false;
    } else if (values.size() != rows) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ".", name, ": has ",
                                                     values.size(), " values, other columns ",
                                                     rows, "; every column needs one per row"));
    }
    auto known = types.find(name);
    FeatureType type = known != types.end() ? known->second : InferJsonType(values);
    Column col(type);
    col.Reserve(values.size());
    for (size_t r = 0; r < values.size(); ++r) {
      const Json& v = values[r];
      if (known == types.end() && type == FeatureType::kString && !v.is_null() && !v.is_string()) {
        col.AppendString(v.dump());
        continue;
      }
      CAIRN_RETURN_IF_ERROR(AppendJson(&col, v, absl::StrCat(ToAbsl(field), ".", name, "[", r, "]")));
    }
    table.names.push_back(std::move(name));
    table.columns.push_back(std::move(col));
  }
  return table;
}

absl::StatusOr<Table> TableFromRowsJson(const Json& rows, std::string_view field,
                                        const std::map<std::string, FeatureType>& types) {
  if (!rows.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": expected an array of rows"));
  }
  Json columns = Json::object();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(field), "[", r, "]: expected an object"));
    }
    for (auto it = rows[r].begin(); it != rows[r].end(); ++it) {
      if (!columns.contains(it.key())) columns[it.key()] = Json::array();
    }
  }
  for (auto it = columns.begin(); it != columns.end(); ++it) {
    for (const Json& row : rows) {
      auto v = row.find(it.key());
      it.value().push_back(v == row.end() ? Json(nullptr) : *v);
    }
  }
  return TableFromColumnsJson(columns, field, types);
}

absl::StatusOr<Table> TableFromCsv(std::string_view csv, std::string_view label,
                                   const std::map<std::string, FeatureType>& types) {
  // The header, to learn the column names (the reader types columns by a schema).
  std::vector<std::string> names;
  {
    size_t pos = csv.size() >= 3 && csv.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    std::string cell;
    bool quoted = false;
    for (; pos < csv.size(); ++pos) {
      char c = csv[pos];
      if (quoted) {
        if (c == '"' && pos + 1 < csv.size() && csv[pos + 1] == '"') {
          cell.push_back('"');
          ++pos;
        } else if (c == '"') {
          quoted = false;
        } else {
          cell.push_back(c);
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        names.push_back(std::move(cell));
        cell.clear();
      } else if (c == '\n' || c == '\r') {
        break;
      } else {
        cell.push_back(c);
      }
    }
    names.push_back(std::move(cell));
  }
  Schema schema;
  for (const std::string& n : names) {
    auto it = types.find(n);
    schema.push_back({n, it != types.end() ? it->second : FeatureType::kString, true});
  }
  ReaderOptions options;
  options.file_label = std::string(label);
  CAIRN_ASSIGN_OR_RETURN(
      auto reader, ingest_internal::MakeCsvReader(ingest_internal::StringSource(csv),
                                                  std::string(label), schema, options));
  Table out = Table::FromSchema(schema), batch;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(bool more, reader->Next(&batch, nullptr));
    if (!more) break;
    out.AppendRows(batch);
  }
  for (size_t c = 0; c < out.num_columns(); ++c) {
    if (types.count(out.names[c]) == 0) out.columns[c] = InferColumn(out.columns[c]);
  }
  return out;
}

}  // namespace cairn::features
