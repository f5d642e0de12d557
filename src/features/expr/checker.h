#pragma once
// Type checking of a parsed expression against the input schema: resolves column names and
// functions, assigns every node its static type, and rewrites the tree so the evaluator
// needs no coercion logic (int64 operands of double operations get a kCast node, literals
// are converted in place, a bare null takes the type its context needs). Internal to
// features/expr.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "features/expr/ast.h"
#include "features/types.h"

namespace cairn::features::expr {

enum class Fn {
  kLog, kLog1p, kExp, kSqrt, kAbs, kFloor, kCeil, kRound, kPow, kClip, kLeast, kGreatest,
  kCoalesce, kIf, kIsNull, kToInt64, kToDouble, kToString, kToBool, kToTimestamp,
  kYear, kMonth, kDay, kHour, kMinute, kSecond, kDayOfWeek, kDayOfYear,
};

struct FunctionInfo {
  const char* name;
  Fn fn;
  int min_args;
  int max_args;  // -1: any number ≥ min_args
  const char* signature;  // for arity messages: "clip(x, lo, hi)"
};

// Every function of the language; Node::function indexes this table.
const std::vector<FunctionInfo>& Functions();

// The closest of `candidates` to `name` (edit distance, ignoring case) when it is close
// enough to be a likely typo; "" otherwise.
std::string Suggest(std::string_view name, const std::vector<std::string>& candidates);

struct CheckResult {
  std::vector<std::string> columns;  // referenced input columns, in order of first use
  std::vector<FeatureType> column_types;
};

// Types `root` in place (it may be replaced). The root's type is never kNull afterwards (a
// bare null is a double). InvalidArgument "position N: reason" for unknown columns and
// functions (with a suggestion), wrong arity and type mismatches; `source` is the text the
// positions refer to.
absl::Status Check(std::string_view source, const Schema& inputs, NodePtr& root,
                   CheckResult* result);

}  // namespace cairn::features::expr
