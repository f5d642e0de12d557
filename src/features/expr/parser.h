#pragma once
// Recursive-descent parser of the expression language (grammar in expression.h). Builds an
// untyped tree; checker.h types it. Internal to features/expr.

#include <string_view>

#include "absl/status/statusor.h"
#include "features/expr/ast.h"

namespace cairn::features::expr {

// Nesting deeper than kMaxDepth (parentheses, unary operators, call arguments) and trees
// taller than kMaxHeight (long operator chains such as 1+1+...+1) are rejected, so hostile
// input cannot exhaust the stack of the parser, the checker or the evaluator.
inline constexpr int kMaxDepth = 128;
inline constexpr int kMaxHeight = 256;

// InvalidArgument "position N: reason" on a lexical or syntax error: unexpected token,
// unterminated string, integer literal out of range, empty expression, too deep.
absl::StatusOr<NodePtr> Parse(std::string_view source);

}  // namespace cairn::features::expr
