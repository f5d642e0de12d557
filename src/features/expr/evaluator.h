#pragma once
// Vectorized evaluation of a checked expression tree: each node is evaluated once over all
// rows into a Column by a tight loop chosen by the node's operator and static type (no
// per-row dispatch on a Value). Internal to features/expr.

#include <vector>

#include "features/expr/ast.h"
#include "features/table.h"

namespace cairn::features::expr {

// Evaluates `root` (typed by Check, type not kNull) over `rows` rows. inputs[i] is the
// column for CheckResult::columns[i], of its checked type and `rows` long. Never fails:
// domain errors give null or NaN as expression.h documents.
Column EvaluateTree(const Node& root, const std::vector<const Column*>& inputs, size_t rows);

}  // namespace cairn::features::expr
