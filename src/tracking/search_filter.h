#pragma once

// MLflow's search-filter language (the `filter` field of runs/search,
// experiments/search, registered-models/search, model-versions/search) and its
// `order_by` clauses. Semantics follow MLflow's SearchUtils
// (mlflow/utils/search_utils.py): a SQL-WHERE subset whose clauses are joined by
// AND only.
//
//   metrics.rmse < 0.5 and params.model = 'xgb' and tags."team name" LIKE 'a%'
//   and attributes.status = 'FINISHED' and run_id IN ('a1', 'b2')
//   and datasets.name = 'train'
//
// Identifiers: `metrics.x`/`metric.x`, `params.x`/`param.x`, `tags.x`/`tag.x`,
// `attributes.x`/`attribute.x`/`attr.x`/`run.x`, `datasets.x`/`dataset.x`; a bare name
// (`status`, `start_time`, ...) is an attribute. Names with special characters go in
// double quotes or backticks (`metrics."my metric"`, tags.`a.b`). String values are in
// single or double quotes; numbers may be negative, fractional or scientific.
//
// Pure functions; thread-safe. Never crash on any input; time is linear in the input
// length and recursion depth is bounded.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::tracking {

// Which MLflow search the filter belongs to; each accepts its own entities and
// attribute keys (MLflow's SearchUtils, SearchExperimentsUtils, SearchModelUtils,
// SearchModelVersionUtils):
//   kRuns: metrics/params/tags/attributes/datasets; attributes run_id, run_name, status,
//     user_id, artifact_uri (strings; IN/NOT IN for run_id), start_time, end_time,
//     created (numbers; created → start_time, "run name" → run_name).
//   kExperiments: attributes name, experiment_id (IN/NOT IN), creation_time,
//     last_update_time (numbers); tags (IS NULL allowed). Entity spellings:
//     attribute, tag, tags.
//   kRegisteredModels: attribute name (IN/NOT IN); tags without IS NULL. Order-by keys
//     are bare: name, creation_timestamp, last_updated_timestamp.
//   kModelVersions: attributes name, run_id (IN/NOT IN), source_path, version_number
//     (number); tags without IS NULL.
enum class SearchDialect { kRuns, kExperiments, kRegisteredModels, kModelVersions };

enum class FilterEntity { kMetric, kParam, kTag, kAttribute, kDataset };

struct FilterClause {
  FilterEntity entity;
  // For metrics/params/tags: the user's key, outer quotes/backticks removed. For
  // attributes: the canonical name of the dialect's attribute (kRuns: `run_id`,
  // `run_name`, `status`, `user_id`, `artifact_uri`, `start_time`, `end_time`; the
  // aliases `created`/`Created` arrive as `start_time`, `run name` as `run_name`).
  // `lifecycle_stage` is not a filter key (MLflow rejects it too; view types select
  // deleted runs). For datasets: `name`, `digest` or `context`.
  std::string key;
  // One of "=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN",
  // "IS NULL", "IS NOT NULL" (always upper case). String values and IN-list items are
  // the text between the outer quotes, verbatim (MLflow does not unescape '' or \').
  std::string op;
  // monostate for IS [NOT] NULL; double for numeric comparisons (metrics and numeric
  // attributes); std::string for string comparisons; vector for IN / NOT IN.
  std::variant<std::monostate, double, std::string, std::vector<std::string>> value;

  friend bool operator==(const FilterClause&, const FilterClause&) = default;
};

// Parses `filter` into its clauses (ANDed). An empty or blank filter gives an empty
// vector. Errors are InvalidArgument with MLflow's wording, naming the offending
// token and what was expected (e.g. "Invalid clause(s) in filter string: ...",
// "Invalid attribute key '...' specified. Valid keys are ...", "... 'OR' is not
// supported ...").
// Validation (MLflow's rules, checked at parse time):
//   metrics and numeric attributes: = != > >= < <= with a number;
//   params and tags: = != LIKE ILIKE with a quoted string, and IS NULL / IS NOT NULL
//     (no value) where the dialect allows it;
//   string attributes: = != LIKE ILIKE with a quoted string; IN / NOT IN with a
//     non-empty list of quoted strings for the dialect's list keys;
//   datasets (name, digest, context): = != LIKE ILIKE, IN, NOT IN.
// Stricter than MLflow's tokenizer-based parser, on purpose: operators are validated
// here rather than at query time, and the clause list must be `clause (AND clause)*`
// (MLflow silently accepts a leading, trailing or doubled AND, or a missing one).
// `ParseSearchFilter(filter)` is the kRuns dialect.
absl::StatusOr<std::vector<FilterClause>> ParseSearchFilter(std::string_view filter);
absl::StatusOr<std::vector<FilterClause>> ParseSearchFilter(std::string_view filter,
                                                            SearchDialect dialect);

struct OrderByClause {
  FilterEntity entity;
  std::string key;  // same normalisation as FilterClause::key
  bool ascending = true;

  friend bool operator==(const OrderByClause&, const OrderByClause&) = default;
};

// Parses one order_by entry: "metrics.rmse", "metrics.`my metric` DESC",
// "attributes.start_time ASC", "start_time", "params.x", "tags.y". Direction is
// ASC/DESC (case-insensitive), default ascending. Invalid direction, entity or
// attribute → InvalidArgument.
// Attribute keys are those the dialect can order by (kRuns: run_id, run_name, status,
// user_id, artifact_uri, start_time, end_time, created → start_time); datasets cannot
// be ordered by. `ParseOrderBy(clause)` is the kRuns dialect.
absl::StatusOr<OrderByClause> ParseOrderBy(std::string_view clause);
absl::StatusOr<OrderByClause> ParseOrderBy(std::string_view clause, SearchDialect dialect);

// SQL LIKE for in-memory matching: '%' matches any run of characters (including
// none), '_' exactly one byte; every other byte matches itself (no escape
// character, as in MLflow). `case_insensitive` gives ILIKE (ASCII folding).
// Runs in O(|value| * |pattern|) worst case, no recursion.
bool LikeMatch(std::string_view value, std::string_view pattern, bool case_insensitive);

}  // namespace cairn::tracking
