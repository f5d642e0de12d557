// runs/search and experiments/search: parsed filter clauses become SQL with bound
// parameters (user text never reaches the SQL text), `run_uuid IN (subquery)` on
// latest_metrics / params / tags (covering indexes on key, value, run_uuid), MLflow's
// ordering (NULLs last,
// then start_time DESC, then run_uuid) and offset page tokens.

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "tracking/search_filter.h"
#include "tracking/tracking_sql.h"
#include "tracking/tracking_store.h"
#include "tracking/tracking_validation.h"

namespace cairn::tracking {
namespace {

using storage::Dialect;
using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// Accumulates SQL text and its bound parameters.
class SqlBuilder {
 public:
  explicit SqlBuilder(Dialect dialect) : dialect_(dialect) {}

  std::string Bind(SqlValue value) {
    params_.push_back(std::move(value));
    return absl::StrCat("$", params_.size());
  }
  Dialect dialect() const { return dialect_; }
  std::vector<SqlValue>& params() { return params_; }

 private:
  Dialect dialect_;
  std::vector<SqlValue> params_;
};

bool IsNumericOp(std::string_view op) {
  return op == "=" || op == "!=" || op == ">" || op == ">=" || op == "<" || op == "<=";
}

// MLflow's LIKE has no escape character and is case-sensitive; SQLite's LIKE is
// case-insensitive, so SQLite uses GLOB with the pattern translated.
std::string GlobPattern(std::string_view like) {
  std::string out;
  for (char c : like) {
    switch (c) {
      case '%': out += '*'; break;
      case '_': out += '?'; break;
      case '*': out += "[*]"; break;
      case '?': out += "[?]"; break;
      case '[': out += "[[]"; break;
      default: out += c;
    }
  }
  return out;
}

absl::Status BadOp(std::string_view entity, std::string_view op) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid comparator '", ToAbsl(op),
                                                 "' not one of the supported comparators for ",
                                                 ToAbsl(entity), "."));
}

// `column <op> value` for string comparisons (=, !=, LIKE, ILIKE, IN, NOT IN).
absl::StatusOr<std::string> StringComparison(SqlBuilder& sql, std::string_view column,
                                             const FilterClause& clause,
                                             std::string_view entity) {
  const std::string& op = clause.op;
  if (op == "IN" || op == "NOT IN") {
    const auto* values = std::get_if<std::vector<std::string>>(&clause.value);
    if (values == nullptr) return BadOp(entity, op);
    if (values->empty()) return std::string(op == "IN" ? "1 = 0" : "1 = 1");
    std::string list;
    for (const std::string& value : *values)
      absl::StrAppend(&list, list.empty() ? "" : ", ", sql.Bind(value));
    return absl::StrCat(ToAbsl(column), " ", op, " (", list, ")");
  }
  std::string text;
  if (const auto* s = std::get_if<std::string>(&clause.value)) {
    text = *s;
  } else if (const auto* d = std::get_if<double>(&clause.value)) {
    // A number given for a string field: MLflow compares its text form.
    text = absl::StrCat(*d);
  } else {
    return BadOp(entity, op);
  }
  if (op == "=" || op == "!=") return absl::StrCat(ToAbsl(column), " ", op, " ", sql.Bind(text));
  if (op == "LIKE") {
    if (sql.dialect() == Dialect::kSqlite)
      return absl::StrCat(ToAbsl(column), " GLOB ", sql.Bind(GlobPattern(text)));
    return absl::StrCat(ToAbsl(column), " LIKE ", sql.Bind(text), " ESCAPE ''");
  }
  if (op == "ILIKE") {
    if (sql.dialect() == Dialect::kSqlite)
      return absl::StrCat("LOWER(", ToAbsl(column), ") LIKE LOWER(", sql.Bind(text), ")");
    return absl::StrCat(ToAbsl(column), " ILIKE ", sql.Bind(text), " ESCAPE ''");
  }
  return BadOp(entity, op);
}

absl::StatusOr<std::string> NumericComparison(SqlBuilder& sql, std::string_view column,
                                              const FilterClause& clause,
                                              std::string_view entity, bool integral) {
  if (!IsNumericOp(clause.op)) return BadOp(entity, clause.op);
  const double* value = std::get_if<double>(&clause.value);
  if (value == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("Expected numeric value type for ",
                                                   ToAbsl(entity), " '", clause.key, "'."));
  SqlValue bound = *value;
  if (integral && *value == static_cast<double>(static_cast<int64_t>(*value)))
    bound = static_cast<int64_t>(*value);
  return absl::StrCat(ToAbsl(column), " ", clause.op, " ", sql.Bind(std::move(bound)));
}

// `*candidates` (when not null) receives the clause's subquery when the condition is
// `r.run_uuid IN (<subquery>)`: the runs that can match, looked up from a covering index.
absl::StatusOr<std::string> RunClauseSql(SqlBuilder& sql, const FilterClause& clause,
                                         std::string* candidates = nullptr) {
  const std::string& op = clause.op;
  bool null_check = op == "IS NULL" || op == "IS NOT NULL";
  switch (clause.entity) {
    case FilterEntity::kMetric: {
      // IN (subquery) rather than a correlated EXISTS: the subquery is answered once from
      // the covering index (key, value, run_uuid), whatever the number of runs.
      std::string key = sql.Bind(clause.key);
      std::string subquery =
          absl::StrCat("SELECT m.run_uuid FROM latest_metrics m WHERE m.key = ", key);
      if (!null_check) {
        CAIRN_ASSIGN_OR_RETURN(std::string cmp,
                               NumericComparison(sql, "m.value", clause, "metrics", false));
        absl::StrAppend(&subquery, " AND ", cmp);
      }
      if (op == "IS NULL") return absl::StrCat("r.run_uuid NOT IN (", subquery, ")");
      if (candidates != nullptr) *candidates = subquery;
      return absl::StrCat("r.run_uuid IN (", subquery, ")");
    }
    case FilterEntity::kParam:
    case FilterEntity::kTag: {
      bool param = clause.entity == FilterEntity::kParam;
      std::string table = param ? "params" : "tags";
      std::string key = sql.Bind(clause.key);
      std::string subquery =
          absl::StrCat("SELECT x.run_uuid FROM ", table, " x WHERE x.key = ", key);
      if (!null_check) {
        CAIRN_ASSIGN_OR_RETURN(std::string cmp, StringComparison(sql, "x.value", clause,
                                                                 param ? "params" : "tags"));
        absl::StrAppend(&subquery, " AND ", cmp);
      }
      if (op == "IS NULL") return absl::StrCat("r.run_uuid NOT IN (", subquery, ")");
      if (candidates != nullptr) *candidates = subquery;
      return absl::StrCat("r.run_uuid IN (", subquery, ")");
    }
    case FilterEntity::kAttribute: {
      const std::string& key = clause.key;
      if (key == "start_time" || key == "end_time" || key == "created") {
        std::string column = key == "end_time" ? "r.end_time" : "r.start_time";
        if (null_check) return absl::StrCat(column, " ", op);
        return NumericComparison(sql, column, clause, "numeric attributes", true);
      }
      std::string column;
      if (key == "run_id") column = "r.run_uuid";
      else if (key == "run_name") column = "r.name";
      else if (key == "status") column = "r.status";
      else if (key == "user_id") column = "r.user_id";
      else if (key == "artifact_uri") column = "r.artifact_uri";
      else if (key == "lifecycle_stage") column = "r.lifecycle_stage";
      else
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid attribute key '", key, "' specified."));
      if (null_check) return absl::StrCat(column, " ", op);
      return StringComparison(sql, column, clause, "string attributes");
    }
    case FilterEntity::kDataset: {
      std::string column;
      if (clause.key == "name") column = "i.dataset_name";
      else if (clause.key == "digest") column = "i.dataset_digest";
      if (!column.empty()) {
        CAIRN_ASSIGN_OR_RETURN(std::string cmp,
                               StringComparison(sql, column, clause, "dataset attributes"));
        return absl::StrCat(
            "EXISTS (SELECT 1 FROM run_inputs i WHERE i.run_uuid = r.run_uuid AND ", cmp, ")");
      }
      if (clause.key == "context" && op == "=") {
        const auto* value = std::get_if<std::string>(&clause.value);
        if (value == nullptr) return BadOp("dataset attributes", op);
        // Input tags are stored as compact JSON; the context is one of them.
        std::string needle = absl::StrCat("%\"mlflow.data.context\":\"", *value, "\"%");
        return absl::StrCat(
            "EXISTS (SELECT 1 FROM run_inputs i WHERE i.run_uuid = r.run_uuid AND i.tags_json "
            "LIKE ",
            sql.Bind(needle), ")");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid dataset comparison: datasets.", clause.key, " ", op, " is not supported."));
    }
  }
  return absl::InvalidArgumentError("unsupported filter clause");
}

// The sort expression for one order_by clause.
absl::StatusOr<std::string> RunOrderExpr(SqlBuilder& sql, const OrderByClause& clause) {
  switch (clause.entity) {
    case FilterEntity::kMetric:
      return absl::StrCat(
          "(SELECT m.value FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ",
          sql.Bind(clause.key), ")");
    case FilterEntity::kParam:
      return absl::StrCat("(SELECT p.value FROM params p WHERE p.run_uuid = r.run_uuid AND p.key = ",
                          sql.Bind(clause.key), ")");
    case FilterEntity::kTag:
      return absl::StrCat("(SELECT t.value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ",
                          sql.Bind(clause.key), ")");
    case FilterEntity::kAttribute: {
      const std::string& key = clause.key;
      if (key == "start_time" || key == "created") return std::string("r.start_time");
      if (key == "end_time") return std::string("r.end_time");
      if (key == "run_id") return std::string("r.run_uuid");
      if (key == "run_name") return std::string("r.name");
      if (key == "status") return std::string("r.status");
      if (key == "user_id") return std::string("r.user_id");
      if (key == "artifact_uri") return std::string("r.artifact_uri");
      if (key == "lifecycle_stage") return std::string("r.lifecycle_stage");
      if (key == "experiment_id") return std::string("r.experiment_id");
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid order_by attribute key '", key, "' specified."));
    }
    case FilterEntity::kDataset:
      break;
  }
  return absl::InvalidArgumentError("Invalid order_by clause: datasets cannot be ordered by.");
}

std::string LifecycleCondition(ViewType view_type, std::string_view column) {
  switch (view_type) {
    case ViewType::kActiveOnly:
      return absl::StrCat(ToAbsl(column), " = 'active'");
    case ViewType::kDeletedOnly:
      return absl::StrCat(ToAbsl(column), " = 'deleted'");
    case ViewType::kAll:
      break;
  }
  return "1 = 1";
}

absl::Status CheckMaxResults(int64_t max_results) {
  if (max_results > kSearchMaxResultsThreshold)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value for request parameter max_results. It must be at most ",
        kSearchMaxResultsThreshold, ", but got value ", max_results));
  if (max_results < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value for request parameter max_results. It must be at least 0, but got value ",
        max_results));
  return absl::OkStatus();
}

// runs/search on SQLite: whether to drive the query from the filter's candidate runs.
// Without statistics SQLite's planner walks every run of the experiments in the order of the
// result (runs_experiment_start_idx) and probes each clause's run list per run: right when
// many runs match (the LIMIT stops the walk early), but it walks every run when few match
// (6 ms for 10,000 runs). So the candidates of each `r.run_uuid IN (subquery)` clause are
// counted, up to `cap` (a covering-index range, ~0.1 ms per 1,000). Returns the clause with
// the fewest, when fewer than `cap`, else -1. The query is then driven from that clause's
// candidates (see SearchRuns). Either plan returns the same rows.
absl::StatusOr<int> CandidateDriver(SqlSession& session, Dialect dialect,
                                    const std::vector<FilterClause>& clauses, int64_t cap) {
  int driver = -1;
  int64_t fewest = cap;
  for (size_t idx = 0; idx < clauses.size(); ++idx) {
    SqlBuilder sql(dialect);
    std::string candidates;
    CAIRN_ASSIGN_OR_RETURN(std::string condition, RunClauseSql(sql, clauses[idx], &candidates));
    if (candidates.empty()) continue;
    std::string limit = sql.Bind(fewest);
    int64_t count = fewest;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT COUNT(*) FROM (", candidates, " LIMIT ", limit, ") c"),
        sql.params(), [&](const SqlRowView& row) {
          count = row.Int(0);
          return absl::OkStatus();
        }));
    if (count < fewest) {
      fewest = count;
      driver = static_cast<int>(idx);
    }
  }
  return driver;
}

// Candidate runs above which SQLite keeps the ordered walk (on top of offset + page).
constexpr int64_t kCandidateDrivenMaxRuns = 2048;

}  // namespace

absl::StatusOr<SearchRunsResult> TrackingStore::SearchRuns(const SearchRunsRequest& request) {
  CAIRN_RETURN_IF_ERROR(CheckMaxResults(request.max_results));
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, internal::DecodeOffsetToken(request.page_token));
  CAIRN_ASSIGN_OR_RETURN(std::vector<FilterClause> clauses,
                         ParseSearchFilter(request.filter, SearchDialect::kRuns));
  std::vector<int64_t> experiment_ids;
  for (const std::string& id : request.experiment_ids) {
    CAIRN_ASSIGN_OR_RETURN(int64_t parsed, ParseExperimentId(id));
    experiment_ids.push_back(parsed);
  }
  SearchRunsResult result;
  if (experiment_ids.empty() || request.max_results == 0) return result;

  // The query, walking the runs in order (driver -1), or driven from the candidates of
  // clauses[driver]: the experiment condition written `+r.experiment_id` (so that SQLite does
  // not use runs_experiment_start_idx for it) and the other `r.run_uuid IN (subquery)` clauses
  // nested in the driver's subquery, so that only runs matching all of them are looked up.
  struct Query {
    std::string text;
    std::vector<SqlValue> params;
  };
  auto build = [&](int driver) -> absl::StatusOr<Query> {
    SqlBuilder sql(db_.dialect());
    std::string where = driver >= 0 ? "+r.experiment_id IN (" : "r.experiment_id IN (";
    for (size_t idx = 0; idx < experiment_ids.size(); ++idx)
      absl::StrAppend(&where, idx > 0 ? ", " : "", sql.Bind(experiment_ids[idx]));
    absl::StrAppend(&where, ") AND ", LifecycleCondition(request.view_type, "r.lifecycle_stage"));
    std::vector<std::string> nested;  // with a driver: the other clauses' candidates
    std::string driver_candidates;
    for (size_t idx = 0; idx < clauses.size(); ++idx) {
      std::string candidates;
      CAIRN_ASSIGN_OR_RETURN(std::string condition, RunClauseSql(sql, clauses[idx], &candidates));
      if (driver < 0 || candidates.empty()) {
        absl::StrAppend(&where, " AND ", condition);
      } else if (static_cast<int>(idx) == driver) {
        driver_candidates = std::move(candidates);
      } else {
        nested.push_back(std::move(candidates));
      }
    }
    if (driver >= 0) {
      // "SELECT m.run_uuid FROM …": the driver's run id column.
      const size_t from = driver_candidates.find(" FROM ");
      const std::string column = driver_candidates.substr(7, from - 7);
      for (const std::string& other : nested)
        absl::StrAppend(&driver_candidates, " AND ", column, " IN (", other, ")");
      absl::StrAppend(&where, " AND r.run_uuid IN (", driver_candidates, ")");
    }
    std::string order;
    bool has_start_time = false;
    for (const std::string& text : request.order_by) {
      CAIRN_ASSIGN_OR_RETURN(OrderByClause clause, ParseOrderBy(text, SearchDialect::kRuns));
      CAIRN_ASSIGN_OR_RETURN(std::string expr, RunOrderExpr(sql, clause));
      if (clause.entity == FilterEntity::kAttribute &&
          (clause.key == "start_time" || clause.key == "created"))
        has_start_time = true;
      // NULLs (runs without the metric/param/tag) sort last either way, as in MLflow.
      bool can_be_null = clause.entity != FilterEntity::kAttribute || clause.key == "end_time";
      if (can_be_null)
        absl::StrAppend(&order, "CASE WHEN ", expr, " IS NULL THEN 1 ELSE 0 END, ");
      absl::StrAppend(&order, expr, clause.ascending ? " ASC, " : " DESC, ");
    }
    if (!has_start_time) order += "r.start_time DESC, ";
    order += "r.run_uuid ASC";
    std::string limit = sql.Bind(request.max_results + 1);
    std::string offset_param = sql.Bind(offset);
    return Query{absl::StrCat("SELECT ", internal::kRunColumns, " FROM runs r WHERE ", where,
                              " ORDER BY ", order, " LIMIT ", limit, " OFFSET ", offset_param),
                 std::move(sql.params())};
  };
  CAIRN_ASSIGN_OR_RETURN(Query ordered_walk, build(-1));  // also checks every clause

  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    result.runs.clear();
    int driver = -1;
    if (db_.dialect() == Dialect::kSqlite) {  // PostgreSQL's planner has statistics
      CAIRN_ASSIGN_OR_RETURN(
          driver,
          CandidateDriver(session, db_.dialect(), clauses,
                          kCandidateDrivenMaxRuns + std::min<int64_t>(offset, int64_t{1} << 40) +
                              request.max_results + 1));
    }
    Query driven;
    if (driver >= 0) {
      CAIRN_ASSIGN_OR_RETURN(driven, build(driver));
    }
    const Query& query = driver >= 0 ? driven : ordered_walk;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(query.text, query.params,
                                            [&](const SqlRowView& row) {
      result.runs.emplace_back().info = internal::RunInfoFromRow(row);
      return absl::OkStatus();
    }));
    if (static_cast<int64_t>(result.runs.size()) > request.max_results) {
      result.runs.resize(request.max_results);
      result.next_page_token = internal::EncodeOffsetToken(offset + request.max_results);
    }
    return internal::LoadRunData(session, result.runs);
  }));
  return result;
}

absl::StatusOr<SearchExperimentsResult> TrackingStore::SearchExperiments(
    const SearchExperimentsRequest& request) {
  if (request.max_results > kSearchMaxResultsThreshold || request.max_results < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value ", request.max_results,
        " for parameter 'max_results' supplied. It must be at most ", kSearchMaxResultsThreshold));
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, internal::DecodeOffsetToken(request.page_token));
  CAIRN_ASSIGN_OR_RETURN(std::vector<FilterClause> clauses,
                         ParseSearchFilter(request.filter, SearchDialect::kExperiments));
  SqlBuilder sql(db_.dialect());
  std::string where = LifecycleCondition(request.view_type, "e.lifecycle_stage");
  for (const FilterClause& clause : clauses) {
    std::string condition;
    if (clause.entity == FilterEntity::kTag) {
      std::string key = sql.Bind(clause.key);
      if (clause.op == "IS NULL" || clause.op == "IS NOT NULL") {
        condition = absl::StrCat(clause.op == "IS NULL" ? "NOT " : "",
                                 "EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id "
                                 "= e.experiment_id AND x.key = ",
                                 key, ")");
      } else {
        CAIRN_ASSIGN_OR_RETURN(std::string cmp, StringComparison(sql, "x.value", clause, "tags"));
        condition = absl::StrCat(
            "EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id = e.experiment_id "
            "AND x.key = ",
            key, " AND ", cmp, ")");
      }
    } else if (clause.entity == FilterEntity::kAttribute &&
               (clause.key == "creation_time" || clause.key == "last_update_time")) {
      CAIRN_ASSIGN_OR_RETURN(condition, NumericComparison(sql, absl::StrCat("e.", clause.key),
                                                          clause, "numeric attributes", true));
    } else if (clause.entity == FilterEntity::kAttribute && clause.key == "name") {
      CAIRN_ASSIGN_OR_RETURN(condition,
                             StringComparison(sql, "e.name", clause, "string attributes"));
    } else if (clause.entity == FilterEntity::kAttribute && clause.key == "experiment_id") {
      FilterClause as_number = clause;
      if (const auto* s = std::get_if<std::string>(&clause.value)) {
        CAIRN_ASSIGN_OR_RETURN(int64_t id, ParseExperimentId(*s));
        as_number.value = static_cast<double>(id);
      }
      CAIRN_ASSIGN_OR_RETURN(condition, NumericComparison(sql, "e.experiment_id", as_number,
                                                          "experiment_id", true));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid attribute key '", clause.key, "' specified."));
    }
    absl::StrAppend(&where, " AND ", condition);
  }
  std::string order;
  bool has_id = false;
  std::vector<std::string> order_by = request.order_by;
  if (order_by.empty()) order_by = {"creation_time DESC", "experiment_id ASC"};
  for (const std::string& text : order_by) {
    CAIRN_ASSIGN_OR_RETURN(OrderByClause clause, ParseOrderBy(text, SearchDialect::kExperiments));
    std::string column;
    if (clause.entity != FilterEntity::kAttribute)
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid order_by entity for experiments: '", text, "'"));
    if (clause.key == "name" || clause.key == "creation_time" ||
        clause.key == "last_update_time" || clause.key == "experiment_id")
      column = absl::StrCat("e.", clause.key);
    else
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid order_by attribute key '", clause.key, "' specified."));
    if (clause.key == "experiment_id") has_id = true;
    absl::StrAppend(&order, column, clause.ascending ? " ASC, " : " DESC, ");
  }
  if (!has_id) order += "e.experiment_id ASC, ";
  order.resize(order.size() - 2);
  std::string limit = sql.Bind(request.max_results + 1);
  std::string offset_param = sql.Bind(offset);
  std::string query =
      absl::StrCat("SELECT ", internal::kExperimentColumns, " FROM experiments e WHERE ", where,
                   " ORDER BY ", order, " LIMIT ", limit, " OFFSET ", offset_param);
  SearchExperimentsResult result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    result.experiments.clear();
    CAIRN_RETURN_IF_ERROR(session.QueryEach(query, sql.params(), [&](const SqlRowView& row) {
      result.experiments.push_back(internal::ExperimentFromRow(row));
      return absl::OkStatus();
    }));
    if (static_cast<int64_t>(result.experiments.size()) > request.max_results) {
      result.experiments.resize(request.max_results);
      result.next_page_token = internal::EncodeOffsetToken(offset + request.max_results);
    }
    return internal::LoadExperimentTags(session, result.experiments);
  }));
  return result;
}

}  // namespace cairn::tracking
