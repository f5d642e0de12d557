#include "features/table_io.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/ingest/record_reader.h"

namespace cairn::features {
namespace {

void AppendDouble(double v, std::string* out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

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
  bool bv;
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

}  // namespace

void WriteCsv(const Table& table, std::string* out) {
  for (size_t c = 0; c < table.num_columns(); ++c) {
    if (c) out->push_back(',');
    AppendCsvField(table.names[c], out);
  }
  out->push_back('\n');
  for (size_t r = 0; r < table.num_rows(); ++r) {
    for (size_t c = 0; c < table.num_columns(); ++c) {
      if (c) out->push_back(',');
      const Column& col = table.columns[c];
      if (!col.valid[r]) continue;
      switch (col.type) {
        case FeatureType::kInt64: absl::StrAppend(out, col.ints[r]); break;
        case FeatureType::kBool: out->append(col.ints[r] ? "true" : "false"); break;
        case FeatureType::kTimestamp: out->append(FormatTimestamp(col.ints[r])); break;
        case FeatureType::kDouble: {
          double d = col.doubles[r];
          if (std::isnan(d)) out->append("nan");
          else if (std::isinf(d)) out->append(d > 0 ? "inf" : "-inf");
          else AppendDouble(d, out);
          break;
        }
        case FeatureType::kString: AppendCsvField(col.strings[r], out); break;
      }
    }
    out->push_back('\n');
  }
}

void WriteColumnsJson(const Table& table, std::string* out) {
  out->push_back('{');
  for (size_t c = 0; c < table.num_columns(); ++c) {
    if (c) out->push_back(',');
    AppendJsonString(table.names[c], out);
    out->append(":[");
    const Column& col = table.columns[c];
    for (size_t r = 0; r < col.size(); ++r) {
      if (r) out->push_back(',');
      if (!col.valid[r]) {
        out->append("null");
        continue;
      }
      switch (col.type) {
        case FeatureType::kInt64: absl::StrAppend(out, col.ints[r]); break;
        case FeatureType::kBool: out->append(col.ints[r] ? "true" : "false"); break;
        case FeatureType::kTimestamp:
          out->push_back('"');
          out->append(FormatTimestamp(col.ints[r]));
          out->push_back('"');
          break;
        case FeatureType::kDouble:
          if (std::isfinite(col.doubles[r])) AppendDouble(col.doubles[r], out);
          else out->append("null");
          break;
        case FeatureType::kString: AppendJsonString(col.strings[r], out); break;
      }
    }
    out->push_back(']');
  }
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
  std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / absl::StrCat("cairn-entities-", NewUuidHex(), ".csv");
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(csv.data(), static_cast<std::streamsize>(csv.size()));
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
  }
  struct Remove {
    std::filesystem::path p;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } remove{tmp};
  ReaderOptions options;
  options.file_label = std::string(label);
  CAIRN_ASSIGN_OR_RETURN(auto reader, OpenCsvReader(tmp.string(), schema, options));
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
