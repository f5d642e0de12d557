#pragma once
// The value model of the feature store: five feature types, a nullable Value, typed
// Fields and Schemas. Timestamps are int64 milliseconds since the Unix epoch, UTC
// (DESIGN.md §4), carried as int64 with the kTimestamp type.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::features {

enum class FeatureType { kInt64, kDouble, kString, kBool, kTimestamp };

// "int64", "double", "string", "bool", "timestamp".
std::string_view TypeName(FeatureType type);

// Inverse of TypeName. InvalidArgument naming the text and the valid names otherwise.
absl::StatusOr<FeatureType> ParseType(std::string_view name);

// A nullable cell. monostate is null; int64_t carries kInt64 and kTimestamp (ms); bool
// carries kBool. The type travels beside the value (in a Field or a Column).
using Value = std::variant<std::monostate, int64_t, double, std::string, bool>;

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

struct Field {
  std::string name;
  FeatureType type = FeatureType::kDouble;
  bool nullable = true;
  bool operator==(const Field&) const = default;
};

using Schema = std::vector<Field>;

// Index of the field named `name` in `schema`, or -1.
int FindField(const Schema& schema, std::string_view name);

}  // namespace cairn::features
