#include "monitoring/data_frame.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/strings.h"
#include "monitoring/category_label.h"

namespace cairn::monitoring {

const FrameColumn* DataFrame::Find(const std::string& name) const {
  for (const FrameColumn& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

std::vector<std::string> DataFrame::Names() const {
  std::vector<std::string> names;
  names.reserve(columns.size());
  for (const FrameColumn& column : columns) names.push_back(column.name);
  return names;
}

namespace {

// How a value is shown in a message: JSON text, cut at 60 characters.
std::string Shown(const Json& value) {
  std::string text = DumpJson(value);
  if (text.size() > 60) text = text.substr(0, 60) + "...";
  return text;
}

// A number as its label in a categorical column (category_label.h: 1, 1.0 and 1.00 are
// one category, "1").
std::string NumberLabel(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    return v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? NumberCategoryLabel(static_cast<int64_t>(v))
               : NumberCategoryLabel(static_cast<double>(v));
  }
  if (value.is_number_integer()) return NumberCategoryLabel(value.get<int64_t>());
  return NumberCategoryLabel(value.get<double>());
}

}  // namespace

std::string NearestColumnName(std::string_view word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& name : names) {
    const size_t distance = EditDistance(word, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = name;
    }
  }
  // A likely typo: at most a third of the word differs (and at least one edit allowed).
  const size_t allowed = std::max<size_t>(1, word.size() / 3);
  return best_distance <= allowed ? best : std::string();
}

absl::StatusOr<DataFrame> DataFrameFromJson(const Json& columns,
                                            const std::vector<std::string>& categorical,
                                            std::string_view field) {
  const std::string prefix(field);
  if (!columns.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, ": must be an object of columns, {\"name\": [values, ...], ...}, got ",
        Shown(columns)));
  }
  if (columns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ": has no columns; send {\"name\": [values, ...], ...}"));
  }
  std::vector<std::string> names;
  for (auto it = columns.begin(); it != columns.end(); ++it) names.push_back(it.key());
  const std::set<std::string> forced(categorical.begin(), categorical.end());
  for (const std::string& name : forced) {
    if (!columns.contains(name)) {
      const std::string nearest = NearestColumnName(name, names);
      return absl::InvalidArgumentError(absl::StrCat(
          "categorical: '", name, "' is not a column of ", prefix,
          nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
          "; its columns: ", absl::StrJoin(names, ", ")));
    }
  }

  DataFrame frame;
  const std::string* first_name = nullptr;
  for (auto it = columns.begin(); it != columns.end(); ++it) {
    const std::string& name = it.key();
    const Json& values = it.value();
    const std::string where = absl::StrCat(prefix, ".", name);
    if (!values.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": must be an array of values (numbers, strings, booleans or null), got ",
          Shown(values)));
    }
    const int64_t rows = static_cast<int64_t>(values.size());
    if (first_name == nullptr) {
      first_name = &name;
      frame.rows = rows;
    } else if (rows != frame.rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": has ", rows, " values but ", prefix, ".", *first_name, " has ", frame.rows,
          ": every column needs one value per row (null for a missing one)"));
    }
    FrameColumn column;
    column.name = name;
    column.categorical = forced.count(name) > 0;
    for (size_t row = 0; row < values.size(); ++row) {
      const Json& value = values[row];
      if (value.is_array() || value.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "[", row, "]: must be a number, a string, a boolean or null, got ",
            Shown(value)));
      }
      if (value.is_string() || value.is_boolean()) column.categorical = true;
    }
    if (column.categorical) {
      absl::flat_hash_map<std::string, int32_t> index;
      column.codes.reserve(values.size());
      for (const Json& value : values) {
        if (value.is_null()) {
          column.codes.push_back(-1);
          continue;
        }
        std::string label = value.is_string()    ? value.get<std::string>()
                            : value.is_boolean() ? std::string(value.get<bool>() ? "true" : "false")
                                                 : NumberLabel(value);
        auto [entry, inserted] =
            index.try_emplace(label, static_cast<int32_t>(column.categories.size()));
        if (inserted) column.categories.push_back(std::move(label));
        column.codes.push_back(entry->second);
      }
    } else {
      column.numbers.reserve(values.size());
      column.integer = !values.empty();  // pandas' int64: JSON integers only, none null
      for (const Json& value : values) {
        double number = value.is_null() ? std::nan("") : value.get<double>();
        if (!std::isfinite(number)) number = std::nan("");
        column.numbers.push_back(number);
        column.integer = column.integer && value.is_number_integer();
      }
    }
    frame.columns.push_back(std::move(column));
  }
  return frame;
}

}  // namespace cairn::monitoring
