#include "serving/feature_row_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <variant>

#include "common/json.h"

namespace cairn::serving {
namespace {

// Whether nlohmann writes `text` as is between quotes (printable ASCII, no quote or
// backslash); anything else goes through DumpJson (escapes, UTF-8 checks).
bool Plain(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendQuoted(std::string_view text, std::string* out) {
  if (Plain(text)) {
    out->push_back('"');
    out->append(text);
    out->push_back('"');
  } else {
    out->append(DumpJson(Json(std::string(text))));
  }
}

void AppendValue(const features::Value& value, std::string* out) {
  char buffer[64];
  switch (value.index()) {
    case 1: {
      const char* end =
          std::to_chars(buffer, buffer + sizeof buffer, std::get<int64_t>(value)).ptr;
      out->append(buffer, static_cast<size_t>(end - buffer));
      return;
    }
    case 2: {
      const double d = std::get<double>(value);
      if (!std::isfinite(d)) {
        out->append("null");
        return;
      }
      // What nlohmann's serializer calls for a double (shortest round-trip, "1.0", "1e+20").
      const char* end = ::nlohmann::detail::to_chars(buffer, buffer + sizeof buffer, d);
      out->append(buffer, static_cast<size_t>(end - buffer));
      return;
    }
    case 3: AppendQuoted(std::get<std::string>(value), out); return;
    case 4: out->append(std::get<bool>(value) ? "true" : "false"); return;
    default: out->append("null"); return;
  }
}

}  // namespace

FeatureRowJson::FeatureRowJson(const std::vector<std::string>& columns)
    : columns_(columns), width_(columns.size()) {
  order_.resize(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) order_[c] = c;
  // Sorted by name; of equal names the first column (as a std::map's emplace keeps it).
  std::stable_sort(order_.begin(), order_.end(),
                   [&](size_t a, size_t b) { return columns[a] < columns[b]; });
  order_.erase(std::unique(order_.begin(), order_.end(),
                           [&](size_t a, size_t b) { return columns[a] == columns[b]; }),
               order_.end());
  keys_.reserve(order_.size());
  for (size_t i = 0; i < order_.size(); ++i) {
    std::string key = i == 0 ? "" : ",";
    AppendQuoted(columns[order_[i]], &key);
    key.push_back(':');
    reserve_ += key.size() + 24;
    keys_.push_back(std::move(key));
  }
}

std::string FeatureRowJson::Row(const std::vector<features::Value>& cells, size_t row) const {
  std::string out;
  out.reserve(reserve_);
  out.push_back('{');
  const features::Value* first = cells.data() + row * width_;
  for (size_t i = 0; i < order_.size(); ++i) {
    out.append(keys_[i]);
    AppendValue(first[order_[i]], &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace cairn::serving
