#pragma once
// The search language of registered-models/search and model-versions/search, as
// MLflow's SearchModelUtils / SearchModelVersionUtils accept it (mlflow/utils/
// search_utils.py): comparisons joined by AND only,
//
//   name LIKE 'churn%' AND tags.team = 'growth' AND run_id IN ('a1', 'b2')
//   AND version_number >= 3 AND tags.`mlflow.prompt.is_prompt` = 'true'
//
// Identifiers: a bare attribute (`name`, …), `attribute.x`, `tag.x` / `tags.x`; keys with
// special characters in backticks or double quotes. Values: strings in single or double
// quotes, integers, or a parenthesized list of strings for IN / NOT IN. Also page tokens
// (MLflow's base64 {"offset": N}) and order_by clauses. Pure functions; thread-safe;
// never crash on any input.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::tracking {

enum class RegistrySearchTarget { kRegisteredModels, kModelVersions };

struct RegistryClause {
  bool is_tag = false;   // false: an attribute
  std::string key;       // attribute name (name, run_id, source_path, version_number) or tag key
  std::string op;        // =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN (upper case)
  std::variant<std::string, int64_t, std::vector<std::string>> value;
};

// Validates keys and comparators for `target` with MLflow's messages (InvalidArgument).
absl::StatusOr<std::vector<RegistryClause>> ParseRegistryFilter(std::string_view filter,
                                                                RegistrySearchTarget target);

struct RegistryOrderBy {
  std::string key;  // name | creation_timestamp | last_updated_timestamp | version_number
  bool ascending = true;
};

// Parses the order_by list for `target`; InvalidArgument for an unknown key, a bad
// direction or a key given twice.
absl::StatusOr<std::vector<RegistryOrderBy>> ParseRegistryOrderBy(
    const std::vector<std::string>& order_by, RegistrySearchTarget target);

// SQL LIKE: '%' any run (possibly empty), '_' one byte; `case_insensitive` for ILIKE.
bool RegistryLikeMatch(std::string_view value, std::string_view pattern,
                       bool case_insensitive);

// Whether `lhs` satisfies a string comparison (=, !=, LIKE, ILIKE, IN, NOT IN).
bool MatchesStringClause(std::string_view lhs, const RegistryClause& clause);

// MLflow's page tokens: base64 of {"offset": N}. An empty token is offset 0.
std::string EncodePageToken(int64_t offset);
absl::StatusOr<int64_t> DecodePageToken(std::string_view token);

}  // namespace cairn::tracking
