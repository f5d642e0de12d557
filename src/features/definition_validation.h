#pragma once
// Checks across feature-store definitions, run by the registry before a plan is shown
// or applied, over the definitions being applied plus those already registered:
//   - names unique per kind (a duplicate names both places);
//   - a source's timestamp_field (and created_timestamp_field) is a schema column of
//     type timestamp; no column or feature name starts with "__" (reserved);
//   - a view's entities exist, and each entity's join keys are source columns of the
//     same type; its source exists;
//   - a plain feature names a source column of a compatible type (the same type, or
//     double from int64); an `expr` compiles against the source schema and yields a
//     compatible type; an aggregation's `of` compiles and is numeric (int64, double,
//     bool);
//   - a service's references name existing views and features.
// Errors are InvalidArgument "FILE:LINE: KIND NAME: field 'F': value 'V' …"; objects
// that came from the registry are named "registry: KIND NAME (vN)". Pure; thread-safe.

#include <functional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "features/definition_yaml.h"
#include "features/definitions.h"
#include "features/types.h"

namespace cairn::features {

// Compiles expression `text` against `inputs` and returns its result type;
// InvalidArgument with the position and reason otherwise (Expression::Compile).
using ExpressionTypeChecker =
    std::function<absl::StatusOr<FeatureType>(std::string_view text, const Schema& inputs)>;

// The checker backed by features/expr (Expression::Compile).
ExpressionTypeChecker CompiledExpressionChecker();

// `existing`: registered objects the apply keeps. An incoming object replaces the
// existing one of the same kind and name. Expressions that are a bare column name are
// checked directly; others need `check_expression` (null: not checked).
absl::Status ValidateDefinitions(const DefinitionSet& incoming,
                                 std::span<const Definition> existing,
                                 const ExpressionTypeChecker& check_expression);

// Whether a column of type `from` can feed a feature of type `to`.
bool TypeCompatible(FeatureType from, FeatureType to);

}  // namespace cairn::features
