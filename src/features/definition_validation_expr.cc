// The expression checker backed by features/expr, kept in its own file so that the
// validation rules can be tested with a fake.

#include "features/definition_validation.h"
#include "features/expr/expression.h"

namespace cairn::features {

ExpressionTypeChecker CompiledExpressionChecker() {
  return [](std::string_view text, const Schema& inputs) -> absl::StatusOr<FeatureType> {
    absl::StatusOr<Expression> compiled = Expression::Compile(text, inputs);
    if (!compiled.ok()) return compiled.status();
    return compiled->result_type();
  };
}

}  // namespace cairn::features
