#include "features/types.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::features {

std::string_view TypeName(FeatureType type) {
  switch (type) {
    case FeatureType::kInt64: return "int64";
    case FeatureType::kDouble: return "double";
    case FeatureType::kString: return "string";
    case FeatureType::kBool: return "bool";
    case FeatureType::kTimestamp: return "timestamp";
  }
  return "unknown";
}

absl::StatusOr<FeatureType> ParseType(std::string_view name) {
  for (FeatureType t : {FeatureType::kInt64, FeatureType::kDouble, FeatureType::kString,
                        FeatureType::kBool, FeatureType::kTimestamp}) {
    if (TypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("type: '", ToAbsl(name),
                   "' is not a feature type (int64, double, string, bool, timestamp)"));
}

int FindField(const Schema& schema, std::string_view name) {
  for (size_t i = 0; i < schema.size(); ++i) {
    if (schema[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace cairn::features
