#include "pipelines/pipeline_spec.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::pipelines {

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString: return "string";
    case ParamType::kInt: return "int";
    case ParamType::kFloat: return "float";
    case ParamType::kBool: return "bool";
  }
  return "string";
}

absl::StatusOr<ParamType> ParseParamType(std::string_view name) {
  if (name == "string") return ParamType::kString;
  if (name == "int") return ParamType::kInt;
  if (name == "float") return ParamType::kFloat;
  if (name == "bool") return ParamType::kBool;
  return absl::InvalidArgumentError(
      absl::StrCat("'", ToAbsl(name), "' is not a parameter type (int, float, string, bool)"));
}

}  // namespace cairn::pipelines
