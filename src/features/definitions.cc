#include "features/definitions.h"

namespace cairn::features {

std::string_view KindName(DefinitionKind kind) {
  switch (kind) {
    case DefinitionKind::kEntity: return "Entity";
    case DefinitionKind::kSource: return "Source";
    case DefinitionKind::kFeatureView: return "FeatureView";
    case DefinitionKind::kFeatureService: return "FeatureService";
  }
  return "Unknown";
}

const std::string& Definition::name() const {
  return std::visit([](const auto& s) -> const std::string& { return s.meta.name; }, spec);
}

std::string_view AggName(AggFn fn) {
  switch (fn) {
    case AggFn::kNone: return "";
    case AggFn::kCount: return "count";
    case AggFn::kSum: return "sum";
    case AggFn::kMean: return "mean";
    case AggFn::kMin: return "min";
    case AggFn::kMax: return "max";
  }
  return "";
}

}  // namespace cairn::features
