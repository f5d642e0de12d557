#include "features/columnar_io.h"

#include <charconv>
#include <cstring>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::features {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kTrailer = 16;  // footer length (u64) + magic
// The most cells (rows × columns) an upload may decode to: what the HTTP server's default
// 64 MiB body holds in the CSV form at one byte a cell. Decoding allocates 9 bytes (bool,
// int64, double, timestamp) to 33 bytes (string) a cell, whatever the buffers hold.
constexpr uint64_t kMaxUploadCells = uint64_t{64} << 20;
// The longest prefix of a client's string value quoted back in a message.
constexpr size_t kQuotedChars = 40;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
size_t BitmapBytes(size_t rows) { return (rows + 7) / 8; }

void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

// Bit i of `bits` (LSB-first) = bytes[i] != 0.
void PackBits(const uint8_t* bytes, size_t n, char* bits) {
  size_t full = n / 8;
  for (size_t b = 0; b < full; ++b) {
    const uint8_t* v = bytes + b * 8;
    bits[b] = static_cast<char>((v[0] != 0) | (v[1] != 0) << 1 | (v[2] != 0) << 2 |
                                (v[3] != 0) << 3 | (v[4] != 0) << 4 | (v[5] != 0) << 5 |
                                (v[6] != 0) << 6 | (v[7] != 0) << 7);
  }
  if (n % 8) {
    unsigned last = 0;
    for (size_t i = full * 8; i < n; ++i) last |= (bytes[i] != 0 ? 1u : 0u) << (i % 8);
    bits[full] = static_cast<char>(last);
  }
}

bool Bit(const char* bits, size_t i) {
  return (static_cast<unsigned char>(bits[i / 8]) >> (i % 8)) & 1;
}

// Where one column's buffers go in the body.
struct ColumnPlan {
  size_t null_count = 0;
  size_t validity = 0, validity_len = 0;  // validity_len 0: no bitmap (no nulls)
  size_t values = 0, values_len = 0;
  size_t data = 0, data_len = 0;  // strings only
};

Json Range(size_t offset, size_t length) { return Json::array({offset, length}); }

// A client's JSON value in an error message without serializing it whole (an array nested
// deep recurses once per level; a long string would flood the message): a number, bool or
// null as written, a string as a quoted prefix, an array or object by its kind.
std::string Describe(const Json& value) {
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.size() <= kQuotedChars) return DumpJson(value);
    // DumpJson replaces a UTF-8 sequence cut in two with U+FFFD.
    return absl::StrCat(DumpJson(Json(text.substr(0, kQuotedChars))), " (", text.size(),
                        " bytes)");
  }
  return value.dump();  // a scalar: no recursion
}

}  // namespace

Json WriteColumnBuffers(const Table& table, std::string* out) {
  const size_t rows = table.num_rows();
  std::vector<ColumnPlan> plans(table.num_columns());
  size_t end = AlignUp(kColumnsMagic.size());
  auto place = [&](size_t len, size_t* offset, size_t* length) {
    *offset = end;
    *length = len;
    end = AlignUp(end + len);
  };
  for (size_t c = 0; c < table.num_columns(); ++c) {
    const Column& col = table.columns[c];
    ColumnPlan& plan = plans[c];
    for (uint8_t v : col.valid) plan.null_count += v == 0;
    if (plan.null_count > 0) place(BitmapBytes(rows), &plan.validity, &plan.validity_len);
    switch (col.type) {
      case FeatureType::kBool: place(BitmapBytes(rows), &plan.values, &plan.values_len); break;
      case FeatureType::kString: {
        size_t bytes = 0;
        for (size_t i = 0; i < rows; ++i) bytes += col.valid[i] ? col.strings[i].size() : 0;
        place((rows + 1) * 8, &plan.values, &plan.values_len);
        place(bytes, &plan.data, &plan.data_len);
        break;
      }
      default: place(rows * 8, &plan.values, &plan.values_len); break;
    }
  }
  // Written front to back, each byte once (no zero-fill of the whole body first); room
  // for the footer too, so that appending it does not move the buffers.
  out->reserve(end + 256 * 1024);
  out->assign(kColumnsMagic.data(), kColumnsMagic.size());
  auto pad_to = [out](size_t offset) { out->append(offset - out->size(), '\0'); };
  // Appends `n` zero bytes at `offset`; returns their index in *out.
  auto zeros_at = [&](size_t offset, size_t n) {
    pad_to(offset);
    out->append(n, '\0');
    return offset;
  };
  Json columns = Json::array();
  for (size_t c = 0; c < table.num_columns(); ++c) {
    const Column& col = table.columns[c];
    const ColumnPlan& plan = plans[c];
    if (plan.validity_len > 0) {
      PackBits(col.valid.data(), rows, out->data() + zeros_at(plan.validity, plan.validity_len));
    }
    switch (col.type) {
      case FeatureType::kBool: {
        std::vector<uint8_t> set(rows);
        for (size_t i = 0; i < rows; ++i) set[i] = col.valid[i] && col.ints[i] != 0;
        PackBits(set.data(), rows, out->data() + zeros_at(plan.values, plan.values_len));
        break;
      }
      case FeatureType::kString: {
        zeros_at(plan.values, plan.values_len);
        pad_to(plan.data);
        uint64_t at = 0;
        for (size_t i = 0; i < rows; ++i) {
          if (col.valid[i]) {
            out->append(col.strings[i]);
            at += col.strings[i].size();
          }
          PutU64(at, out->data() + plan.values + (i + 1) * 8);
        }
        break;
      }
      default: {  // int64, timestamp (ms), double
        // Little-endian hosts only (x86-64, aarch64): the vector's bytes are the buffer.
        pad_to(plan.values);
        const void* data = col.type == FeatureType::kDouble
                               ? static_cast<const void*>(col.doubles.data())
                               : static_cast<const void*>(col.ints.data());
        if (rows) out->append(static_cast<const char*>(data), rows * 8);
        // A null slot holds 0 in the Column already (table.h); keep it so on the wire.
        if (plan.null_count > 0) {
          char* values = out->data() + plan.values;
          for (size_t i = 0; i < rows; ++i) {
            if (!col.valid[i]) std::memset(values + i * 8, 0, 8);
          }
        }
        break;
      }
    }
    Json entry = {{"name", table.names[c]},
                  {"type", std::string(TypeName(col.type))},
                  {"null_count", plan.null_count},
                  {"validity", plan.validity_len > 0 ? Range(plan.validity, plan.validity_len)
                                                     : Json(nullptr)},
                  {"values", Range(plan.values, plan.values_len)}};
    if (col.type == FeatureType::kString) entry["data"] = Range(plan.data, plan.data_len);
    columns.push_back(std::move(entry));
  }
  pad_to(end);
  return Json{{"format", "cairn.columns"},
              {"version", kColumnsVersion},
              {"rows", rows},
              {"columns", std::move(columns)}};
}

void AppendColumnsFooter(const Json& footer, std::string* out) {
  // Names that are not valid UTF-8 (a CSV header can hold any bytes) get U+FFFD instead
  // of failing the whole answer.
  std::string text = footer.dump(-1, ' ', false, Json::error_handler_t::replace);
  char length[8];
  PutU64(text.size(), length);
  out->append(text);
  out->append(length, 8);
  out->append(kColumnsMagic);
}

std::string WriteColumns(const Table& table) {
  std::string out;
  Json footer = WriteColumnBuffers(table, &out);
  AppendColumnsFooter(footer, &out);
  return out;
}

absl::StatusOr<Json> ColumnsFooter(std::string_view body, std::string_view label) {
  auto bad = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(label), ": ", parts...));
  };
  const size_t magic = kColumnsMagic.size();
  if (body.size() < magic + kTrailer || body.substr(0, magic) != kColumnsMagic ||
      body.substr(body.size() - magic) != kColumnsMagic) {
    return bad("not Cairn's columnar form (", ToAbsl(kColumnsContentType),
               "): it must start and end with 'CAIRNCOL' (", body.size(), " bytes)");
  }
  uint64_t footer_len = GetU64(body.data() + body.size() - kTrailer);
  if (footer_len > body.size() - magic - kTrailer) {
    return bad("the footer length ", footer_len, " is more than the body holds (",
               body.size(), " bytes)");
  }
  std::string_view text = body.substr(body.size() - kTrailer - footer_len, footer_len);
  // ParseJson bounds the nesting (a deep footer would overflow the stack when it is
  // copied, destroyed or serialized).
  absl::StatusOr<Json> footer = ParseJson(text);
  if (!footer.ok()) return bad("the footer is not a JSON object (", footer.status().message(), ")");
  if (!footer->is_object()) return bad("the footer is not a JSON object");
  return std::move(*footer);
}

absl::StatusOr<Table> TableFromColumns(std::string_view body, std::string_view label,
                                       const std::map<std::string, FeatureType>& types) {
  CAIRN_ASSIGN_OR_RETURN(Json footer, ColumnsFooter(body, label));
  auto bad = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(label), ": ", parts...));
  };
  // Buffers lie between the opening magic and the footer.
  const size_t buffers_end =
      body.size() - kTrailer - GetU64(body.data() + body.size() - kTrailer);
  auto version = footer.find("version");
  if (version == footer.end() || !version->is_number_integer() ||
      version->get<int64_t>() != kColumnsVersion) {
    return bad("footer.version: ", version == footer.end() ? "missing" : Describe(*version),
               " (this server reads version ", kColumnsVersion, ")");
  }
  auto rows_it = footer.find("rows");
  if (rows_it == footer.end() || !rows_it->is_number_unsigned()) {
    return bad("footer.rows: a row count (a non-negative integer) is required");
  }
  const uint64_t rows = rows_it->get<uint64_t>();
  // Every column needs at least one bit per row in the body: this bounds every size
  // computed from `rows` below (no overflow).
  auto columns_it = footer.find("columns");
  if (columns_it == footer.end() || !columns_it->is_array()) {
    return bad("footer.columns: a list of columns is required");
  }
  if (!columns_it->empty() && rows > uint64_t{8} * buffers_end) {
    return bad("footer.rows: ", rows, " rows do not fit in ", buffers_end, " bytes of buffers");
  }
  if (columns_it->empty() && rows != 0) {
    return bad("footer.rows: ", rows, " rows but no columns");
  }
  if (!columns_it->empty() && rows > kMaxUploadCells / columns_it->size()) {
    return bad("footer.rows: ", rows, " rows of ", columns_it->size(),
               " columns are more than ", kMaxUploadCells,
               " cells; send the rows in several requests");
  }
  Table table;
  std::set<std::string> seen;
  size_t index = 0;
  // Buffers are disjoint and in the order the writers lay them out (column by column:
  // validity, values, data): each starts at or after the end of the one before. With every
  // length exact, the decoded table is then proportional to the body (no buffer is read
  // for two columns).
  uint64_t next_free = kColumnsMagic.size();
  std::string previous_buffer = "the opening magic";
  for (const Json& entry : *columns_it) {
    const std::string where = absl::StrCat("footer.columns[", index++, "]");
    if (!entry.is_object()) return bad(where, ": not an object");
    auto name_it = entry.find("name");
    if (name_it == entry.end() || !name_it->is_string()) {
      return bad(where, ".name: a string is required");
    }
    const std::string& name = name_it->get_ref<const std::string&>();
    if (!seen.insert(name).second) return bad(where, ".name: '", name, "' appears twice");
    const std::string col_where = absl::StrCat(where, " ('", name, "')");
    auto type_it = entry.find("type");
    if (type_it == entry.end() || !type_it->is_string()) {
      return bad(col_where, ".type: one of int64, double, string, bool, timestamp is required");
    }
    absl::StatusOr<FeatureType> type = ParseType(type_it->get_ref<const std::string&>());
    if (!type.ok()) return bad(col_where, ".type: ", type.status().message());
    // A buffer: [offset, length] inside the buffers, of exactly `want` bytes.
    auto buffer = [&](std::string_view key, std::optional<uint64_t> want,
                      bool optional) -> absl::StatusOr<std::string_view> {
      auto it = entry.find(std::string(key));
      if (it == entry.end() || it->is_null()) {
        if (optional) return std::string_view();
        return bad(col_where, ".", ToAbsl(key), ": [offset, length] is required");
      }
      if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
          !(*it)[1].is_number_unsigned()) {
        return bad(col_where, ".", ToAbsl(key), ": ", Describe(*it),
                   " is not [offset, length] (two non-negative integers)");
      }
      uint64_t offset = (*it)[0].get<uint64_t>(), length = (*it)[1].get<uint64_t>();
      if (offset < kColumnsMagic.size() || offset > buffers_end ||
          length > buffers_end - offset) {
        return bad(col_where, ".", ToAbsl(key), ": [", offset, ", ", length,
                   "] is outside the buffers (bytes ", kColumnsMagic.size(), " to ",
                   buffers_end, ")");
      }
      if (want && length != *want) {
        return bad(col_where, ".", ToAbsl(key), ": ", length, " bytes, but ", rows,
                   " rows need ", *want);
      }
      if (offset < next_free) {
        return bad(col_where, ".", ToAbsl(key), ": [", offset, ", ", length,
                   "] starts before the end (byte ", next_free, ") of ", previous_buffer,
                   "; buffers must not overlap and must come in column order (validity, "
                   "values, data)");
      }
      next_free = offset + length;
      previous_buffer = absl::StrCat(where, ".", ToAbsl(key));
      return body.substr(offset, length);
    };
    // Every buffer is checked before anything is allocated for the column.
    CAIRN_ASSIGN_OR_RETURN(std::string_view validity,
                           buffer("validity", BitmapBytes(rows), true));
    std::string_view values, data;
    switch (*type) {
      case FeatureType::kBool: {
        CAIRN_ASSIGN_OR_RETURN(values, buffer("values", BitmapBytes(rows), false));
        break;
      }
      case FeatureType::kString: {
        CAIRN_ASSIGN_OR_RETURN(values, buffer("values", (rows + 1) * 8, false));
        CAIRN_ASSIGN_OR_RETURN(data, buffer("data", std::nullopt, false));
        break;
      }
      default: {  // int64, double, timestamp
        CAIRN_ASSIGN_OR_RETURN(values, buffer("values", rows * 8, false));
        break;
      }
    }
    Column col(*type);
    col.valid.assign(rows, 1);
    if (!validity.empty()) {
      for (uint64_t i = 0; i < rows; ++i) col.valid[i] = Bit(validity.data(), i) ? 1 : 0;
    }
    switch (*type) {
      case FeatureType::kBool:
        col.ints.resize(rows);
        for (uint64_t i = 0; i < rows; ++i) {
          col.ints[i] = col.valid[i] && Bit(values.data(), i);
        }
        break;
      case FeatureType::kDouble:
        col.doubles.resize(rows);
        if (rows) std::memcpy(col.doubles.data(), values.data(), rows * 8);
        for (uint64_t i = 0; i < rows; ++i) {
          if (!col.valid[i]) col.doubles[i] = 0.0;
        }
        break;
      case FeatureType::kString: {
        col.strings.resize(rows);
        uint64_t prev = GetU64(values.data());
        if (prev != 0) {
          return bad(col_where, ".values: the first string offset is ", prev, ", not 0");
        }
        for (uint64_t i = 0; i < rows; ++i) {
          uint64_t next = GetU64(values.data() + (i + 1) * 8);
          if (next < prev || next > data.size()) {
            return bad(col_where, ".values: string offset ", i + 1, " is ", next,
                       " (offsets must not decrease and must stay within the ", data.size(),
                       " bytes of data)");
          }
          if (col.valid[i]) col.strings[i].assign(data.data() + prev, next - prev);
          prev = next;
        }
        if (prev != data.size()) {
          return bad(col_where, ".data: ", data.size(), " bytes, but the offsets end at ",
                     prev);
        }
        break;
      }
      default:  // int64, timestamp
        col.ints.resize(rows);
        if (rows) std::memcpy(col.ints.data(), values.data(), rows * 8);
        for (uint64_t i = 0; i < rows; ++i) {
          if (!col.valid[i]) col.ints[i] = 0;
        }
        break;
    }
    auto null_count = entry.find("null_count");
    if (null_count != entry.end() && !null_count->is_null()) {
      uint64_t nulls = 0;
      for (uint8_t v : col.valid) nulls += v == 0;
      if (!null_count->is_number_unsigned() || null_count->get<uint64_t>() != nulls) {
        return bad(col_where, ".null_count: ", Describe(*null_count),
                   ", but the validity bitmap has ", nulls, " nulls");
      }
    }
    // The type the caller needs, converted as the CSV form would type the value's text.
    auto wanted = types.find(name);
    if (wanted != types.end() && wanted->second != col.type) {
      const FeatureType from = col.type, to = wanted->second;
      Column conv(to);
      conv.valid = col.valid;
      if (from == FeatureType::kInt64 && to == FeatureType::kTimestamp) {
        conv.ints = std::move(col.ints);
      } else if (from == FeatureType::kInt64 && to == FeatureType::kDouble) {
        conv.doubles.resize(rows);
        for (uint64_t i = 0; i < rows; ++i) conv.doubles[i] = static_cast<double>(col.ints[i]);
      } else if ((from == FeatureType::kInt64 || from == FeatureType::kBool) &&
                 to == FeatureType::kString) {
        conv.strings.resize(rows);
        for (uint64_t i = 0; i < rows; ++i) {
          if (!col.valid[i]) continue;
          if (from == FeatureType::kBool) {
            conv.strings[i] = col.ints[i] ? "true" : "false";
          } else {
            char buf[24];
            auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), col.ints[i]);
            conv.strings[i].assign(buf, end);
          }
        }
      } else {
        return bad(col_where, ".type: ", ToAbsl(TypeName(from)), ", but the column must be ",
                   ToAbsl(TypeName(to)), " (send it as ", ToAbsl(TypeName(to)), ")");
      }
      col = std::move(conv);
    }
    table.names.push_back(name);
    table.columns.push_back(std::move(col));
  }
  return table;
}

}  // namespace cairn::features
