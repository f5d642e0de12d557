#include "features/table.h"

#include "absl/strings/str_cat.h"

namespace cairn::features {

void Column::Reserve(size_t n) {
  valid.reserve(n);
  switch (type) {
    case FeatureType::kDouble: doubles.reserve(n); break;
    case FeatureType::kString: strings.reserve(n); break;
    default: ints.reserve(n); break;
  }
}

void Column::Clear() {
  ints.clear();
  doubles.clear();
  strings.clear();
  valid.clear();
}

void Column::AppendNull() {
  switch (type) {
    case FeatureType::kDouble: doubles.push_back(0.0); break;
    case FeatureType::kString: strings.emplace_back(); break;
    default: ints.push_back(0); break;
  }
  valid.push_back(0);
}

void Column::AppendInt(int64_t v) {
  ints.push_back(v);
  valid.push_back(1);
}

void Column::AppendDouble(double v) {
  doubles.push_back(v);
  valid.push_back(1);
}

void Column::AppendString(std::string_view v) {
  strings.emplace_back(v);
  valid.push_back(1);
}

absl::Status Column::Append(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    AppendNull();
    return absl::OkStatus();
  }
  switch (type) {
    case FeatureType::kInt64:
    case FeatureType::kTimestamp:
      if (auto* p = std::get_if<int64_t>(&v)) {
        AppendInt(*p);
        return absl::OkStatus();
      }
      break;
    case FeatureType::kBool:
      if (auto* p = std::get_if<bool>(&v)) {
        AppendBool(*p);
        return absl::OkStatus();
      }
      break;
    case FeatureType::kDouble:
      if (auto* p = std::get_if<double>(&v)) {
        AppendDouble(*p);
        return absl::OkStatus();
      }
      break;
    case FeatureType::kString:
      if (auto* p = std::get_if<std::string>(&v)) {
        AppendString(*p);
        return absl::OkStatus();
      }
      break;
  }
  static constexpr const char* kAlternative[] = {"null", "int64", "double", "string", "bool"};
  return absl::InvalidArgumentError(absl::StrCat("a ", kAlternative[v.index()],
                                                 " value does not fit a column of type ",
                                                 std::string(TypeName(type))));
}

void Column::AppendFrom(const Column& other, size_t i) {
  switch (type) {
    case FeatureType::kDouble: doubles.push_back(other.doubles[i]); break;
    case FeatureType::kString: strings.push_back(other.strings[i]); break;
    default: ints.push_back(other.ints[i]); break;
  }
  valid.push_back(other.valid[i]);
}

void Column::AppendColumn(const Column& other) {
  valid.insert(valid.end(), other.valid.begin(), other.valid.end());
  ints.insert(ints.end(), other.ints.begin(), other.ints.end());
  doubles.insert(doubles.end(), other.doubles.begin(), other.doubles.end());
  strings.insert(strings.end(), other.strings.begin(), other.strings.end());
}

Value Column::Get(size_t i) const {
  if (valid[i] == 0) return std::monostate{};
  switch (type) {
    case FeatureType::kDouble: return doubles[i];
    case FeatureType::kString: return strings[i];
    case FeatureType::kBool: return ints[i] != 0;
    default: return ints[i];
  }
}

int Table::Find(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int Table::AddColumn(std::string name, FeatureType type) {
  names.push_back(std::move(name));
  columns.emplace_back(type);
  return static_cast<int>(columns.size()) - 1;
}

Table Table::FromSchema(const Schema& schema) {
  Table t;
  for (const Field& f : schema) t.AddColumn(f.name, f.type);
  return t;
}

Schema Table::schema() const {
  Schema s;
  for (size_t i = 0; i < columns.size(); ++i) s.push_back({names[i], columns[i].type, true});
  return s;
}

void Table::Clear() {
  for (Column& c : columns) c.Clear();
}

void Table::AppendRows(const Table& other) {
  for (size_t c = 0; c < columns.size(); ++c) columns[c].AppendColumn(other.columns[c]);
}

void Table::AppendRow(const Table& other, size_t i) {
  for (size_t c = 0; c < columns.size(); ++c) columns[c].AppendFrom(other.columns[c], i);
}

}  // namespace cairn::features
