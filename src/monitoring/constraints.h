#pragma once
// Data-quality constraints in the spirit of SageMaker Model Monitor's baseline
// constraints: inferred from a reference profile (InferConstraints), edited by people if
// they like (the JSON is SageMaker's shape), and checked against new data
// (CheckConstraints) → violations per column.
//
// Per column (SageMaker's "features"): inferred_type, completeness (the reference's share
// of non-null values), num_constraints {is_non_negative, min, max} for numeric columns,
// string_constraints {domains} for categorical columns with a small, exactly known set of
// labels. Checks (SageMaker's constraint_check_type names, plus range_check):
//   - missing_column_check: a constrained column is absent from the data;
//   - extra_column_check: the data has a column no constraint names
//     (monitoring_config.check_extra_columns);
//   - data_type_check: the share of non-null values of the constrained type is below
//     datatype_check_threshold (default 1.0). Integral accepts whole numbers, Fractional
//     any number, String anything; a categorical column's labels count when they parse
//     as the type;
//   - completeness_check: the column's completeness is below the constraint's;
//   - range_check: a negative value in an is_non_negative column, or a share of values
//     outside [min, max] above out_of_range_threshold (default 0.01);
//   - categorical_values_check: the share of non-null values inside the domain is below
//     domain_content_threshold (default 1.0).
// Each description names the column, what was observed (counts, shares, example values)
// and the constraint.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "monitoring/data_frame.h"
#include "monitoring/profile.h"

namespace cairn::monitoring {

struct FeatureConstraint {
  std::string name;
  InferredType inferred_type = InferredType::kUnknown;
  double completeness = 1.0;
  // Numeric columns.
  std::optional<bool> is_non_negative;
  std::optional<double> min;
  std::optional<double> max;
  // Categorical columns: the allowed labels; empty: no categorical_values_check.
  std::vector<std::string> domain;
};

struct ConstraintsConfig {
  double datatype_check_threshold = 1.0;
  double domain_content_threshold = 1.0;
  double out_of_range_threshold = 0.01;
  bool check_extra_columns = true;
};

struct Constraints {
  std::vector<FeatureConstraint> features;  // in the profile's column order
  ConstraintsConfig config;
};

struct InferOptions {
  // A categorical column gets a domain when it has at most this many distinct labels
  // (and the profile counted them exactly).
  int max_domain_size = 100;
};

Constraints InferConstraints(const DataProfile& reference, const InferOptions& options = {});

// SageMaker's constraints.json shape:
// {"version": 0.0, "features": [{"name", "inferred_type", "completeness",
//   "num_constraints": {"is_non_negative", "min", "max"},
//   "string_constraints": {"domains": [...]}}],
//  "monitoring_config": {"evaluate_constraints": "Enabled", "datatype_check_threshold",
//   "domain_content_threshold", "out_of_range_threshold", "check_extra_columns"}}
Json ConstraintsToJson(const Constraints& constraints);
// InvalidArgument naming the field (features[i].name …) that is wrong.
absl::StatusOr<Constraints> ConstraintsFromJson(const Json& json);

struct Violation {
  std::string feature_name;           // the column
  std::string constraint_check_type;  // "data_type_check", "completeness_check", …
  std::string description;
  bool operator==(const Violation&) const = default;
};

// Violations of `constraints` by `data`, constrained columns first (in constraint order,
// each column's checks in the order listed above), then extra columns. Empty: the data
// passes. InvalidArgument only for unusable constraints (a threshold outside [0, 1]).
// One pass per column; thread-safe (reads only).
absl::StatusOr<std::vector<Violation>> CheckConstraints(const Constraints& constraints,
                                                        const DataFrame& data);

// The same checks against a profile of the new data (e.g. a stored one). Shares come from
// the profile's sketches and label counts, so they carry their error bounds; data types
// are judged from the profile's kind and inferred type.
absl::StatusOr<std::vector<Violation>> CheckConstraintsOnProfile(const Constraints& constraints,
                                                                 const DataProfile& profile);

// {"violations": [{"feature_name", "constraint_check_type", "description"}]} (SageMaker's
// constraint_violations.json shape).
Json ViolationsToJson(const std::vector<Violation>& violations);

}  // namespace cairn::monitoring
