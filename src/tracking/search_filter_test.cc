#include "tracking/search_filter.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::tracking {
namespace {

using ::testing::HasSubstr;
using Strings = std::vector<std::string>;

constexpr FilterEntity kMetric = FilterEntity::kMetric;
constexpr FilterEntity kParam = FilterEntity::kParam;
constexpr FilterEntity kTag = FilterEntity::kTag;
constexpr FilterEntity kAttr = FilterEntity::kAttribute;
constexpr FilterEntity kDataset = FilterEntity::kDataset;

FilterClause Num(FilterEntity entity, std::string key, std::string op, double value) {
  return FilterClause{entity, std::move(key), std::move(op), value};
}
FilterClause Str(FilterEntity entity, std::string key, std::string op, std::string value) {
  return FilterClause{entity, std::move(key), std::move(op), std::move(value)};
}
FilterClause List(FilterEntity entity, std::string key, std::string op, Strings values) {
  return FilterClause{entity, std::move(key), std::move(op), std::move(values)};
}
FilterClause Null(FilterEntity entity, std::string key, std::string op) {
  return FilterClause{entity, std::move(key), std::move(op), std::monostate{}};
}

struct AcceptCase {
  std::string filter;
  std::vector<FilterClause> expected;
  SearchDialect dialect = SearchDialect::kRuns;
};

// Expected clauses were checked against mlflow 3.x SearchUtils.parse_search_filter
// (keys, values and comparators; we additionally upper-case operators and canonicalise
// attribute aliases as SearchUtils.translate_key_alias does).
const std::vector<AcceptCase>& AcceptCases() {
  static const auto* const kCases = new std::vector<AcceptCase>{
      {"", {}},
      {"   \t\n", {}},
      {"metrics.a > 1", {Num(kMetric, "a", ">", 1)}},
      {"metrics.a>1", {Num(kMetric, "a", ">", 1)}},
      {"metrics.a>=1", {Num(kMetric, "a", ">=", 1)}},
      {"metrics.a=1", {Num(kMetric, "a", "=", 1)}},
      {"metrics.a != 1", {Num(kMetric, "a", "!=", 1)}},
      {"metrics.a < 1", {Num(kMetric, "a", "<", 1)}},
      {"metrics.a <= 1", {Num(kMetric, "a", "<=", 1)}},
      {"metric.a = 1", {Num(kMetric, "a", "=", 1)}},
      {"metrics.a > -1.5e3", {Num(kMetric, "a", ">", -1500)}},
      {"metrics.a > 1.", {Num(kMetric, "a", ">", 1)}},
      {"metrics.a > .5", {Num(kMetric, "a", ">", 0.5)}},
      {"metrics.a > 1e5", {Num(kMetric, "a", ">", 1e5)}},
      {"metrics.a > 1e-3", {Num(kMetric, "a", ">", 1e-3)}},
      {"metrics.a > 1E+3", {Num(kMetric, "a", ">", 1e3)}},
      {"metrics.a > 00012", {Num(kMetric, "a", ">", 12)}},
      {"metrics.a > -0", {Num(kMetric, "a", ">", 0)}},
      {"metrics.A > 1", {Num(kMetric, "A", ">", 1)}},
      {"metrics.1a > 1", {Num(kMetric, "1a", ">", 1)}},
      {"metrics._a > 1", {Num(kMetric, "_a", ">", 1)}},
      {"metrics.status > 1", {Num(kMetric, "status", ">", 1)}},
      {"metrics.a.b.c > 1", {Num(kMetric, "a.b.c", ">", 1)}},
      {"metrics.\"my metric\" < 0.5", {Num(kMetric, "my metric", "<", 0.5)}},
      {"metrics.`my metric` < 0.5", {Num(kMetric, "my metric", "<", 0.5)}},
      {"metrics.'a b' > 1", {Num(kMetric, "a b", ">", 1)}},
      {"metrics.\xE6\x8D\x9F\xE5\xA4\xB1 > 1", {Num(kMetric, "\xE6\x8D\x9F\xE5\xA4\xB1", ">", 1)}},
      {"`metrics`.a > 1", {Num(kMetric, "a", ">", 1)}},
      {"params.model = 'xgb'", {Str(kParam, "model", "=", "xgb")}},
      {"param.model = 'xgb'", {Str(kParam, "model", "=", "xgb")}},
      {"parameter.model = 'xgb'", {Str(kParam, "model", "=", "xgb")}},
      {"parameters.model = 'xgb'", {Str(kParam, "model", "=", "xgb")}},
      {"params.x = \"dq\"", {Str(kParam, "x", "=", "dq")}},
      {"params.a!='x'", {Str(kParam, "a", "!=", "x")}},
      {"params.a like 'x%'", {Str(kParam, "a", "LIKE", "x%")}},
      {"params.a ILike 'x%'", {Str(kParam, "a", "ILIKE", "x%")}},
      {"params.select = 'x'", {Str(kParam, "select", "=", "x")}},
      {"params.x = ''", {Str(kParam, "x", "=", "")}},
      {"params.x = 'a and b'", {Str(kParam, "x", "=", "a and b")}},
      {"params.x = 'metrics.a > 1 OR'", {Str(kParam, "x", "=", "metrics.a > 1 OR")}},
      // MLflow keeps the text between the quotes verbatim.
      {"params.x = 'it''s'", {Str(kParam, "x", "=", "it''s")}},
      {"params.x = 'a\\'b'", {Str(kParam, "x", "=", "a\\'b")}},
      {"params.x = \"it's\"", {Str(kParam, "x", "=", "it's")}},
      {"params.\"a.b\" = 'x'", {Str(kParam, "a.b", "=", "x")}},
      {"params.`a` = 'x'", {Str(kParam, "a", "=", "x")}},
      {"params.x IS NULL", {Null(kParam, "x", "IS NULL")}},
      {"tags.team = 'a'", {Str(kTag, "team", "=", "a")}},
      {"tag.team = 'a'", {Str(kTag, "team", "=", "a")}},
      {"tags.\"a b\" = 'x'", {Str(kTag, "a b", "=", "x")}},
      {"tags.`a.b` = 'x'", {Str(kTag, "a.b", "=", "x")}},
      {"tags.a.b = 'x'", {Str(kTag, "a.b", "=", "x")}},
      {"tags.and = 'x'", {Str(kTag, "and", "=", "x")}},
      {"tags.\"a\"\"b\" = 'x'", {Str(kTag, "a\"\"b", "=", "x")}},
      {"tags.x is null", {Null(kTag, "x", "IS NULL")}},
      {"tags.x IS NOT NULL", {Null(kTag, "x", "IS NOT NULL")}},
      {"tags.x IS  NOT   NULL", {Null(kTag, "x", "IS NOT NULL")}},
      {"tags.x ILIKE '%A_'", {Str(kTag, "x", "ILIKE", "%A_")}},
      {"status = 'FINISHED'", {Str(kAttr, "status", "=", "FINISHED")}},
      {"attributes.status = 'FINISHED'", {Str(kAttr, "status", "=", "FINISHED")}},
      {"attribute.status != 'FAILED'", {Str(kAttr, "status", "!=", "FAILED")}},
      {"attr.run_name LIKE 'a%'", {Str(kAttr, "run_name", "LIKE", "a%")}},
      {"run.user_id = 'me'", {Str(kAttr, "user_id", "=", "me")}},
      {"artifact_uri ILIKE '%s3%'", {Str(kAttr, "artifact_uri", "ILIKE", "%s3%")}},
      {"`run name` = 'x'", {Str(kAttr, "run_name", "=", "x")}},
      {"\"Run Name\" = 'x'", {Str(kAttr, "run_name", "=", "x")}},
      {"start_time > 5", {Num(kAttr, "start_time", ">", 5)}},
      {"start_time > 5.5", {Num(kAttr, "start_time", ">", 5.5)}},
      {"attributes.end_time <= 1700000000000", {Num(kAttr, "end_time", "<=", 1700000000000.0)}},
      {"created > 1", {Num(kAttr, "start_time", ">", 1)}},
      {"Created > 1", {Num(kAttr, "start_time", ">", 1)}},
      {"run_id = 'a'", {Str(kAttr, "run_id", "=", "a")}},
      {"run_id IN ('a','b')", {List(kAttr, "run_id", "IN", {"a", "b"})}},
      {"run_id in ( 'a' , \"b\" )", {List(kAttr, "run_id", "IN", {"a", "b"})}},
      {"run_id NOT IN ('a', 'b')", {List(kAttr, "run_id", "NOT IN", {"a", "b"})}},
      {"run_id not  in ('a')", {List(kAttr, "run_id", "NOT IN", {"a"})}},
      {"run_id IN ('a',)", {List(kAttr, "run_id", "IN", {"a"})}},
      {"attributes.run_id IN ('a,b')", {List(kAttr, "run_id", "IN", {"a,b"})}},
      {"datasets.name = 'x'", {Str(kDataset, "name", "=", "x")}},
      {"dataset.digest IN ('a')", {List(kDataset, "digest", "IN", {"a"})}},
      {"datasets.context NOT IN ('train', 'eval')",
       {List(kDataset, "context", "NOT IN", {"train", "eval"})}},
      {"datasets.name LIKE 'tr%'", {Str(kDataset, "name", "LIKE", "tr%")}},
      {"metric.a = 1 AND params.b = 'x'", {Num(kMetric, "a", "=", 1), Str(kParam, "b", "=", "x")}},
      {"metrics.a > 1 and metrics.b < 2 And metrics.c = 3",
       {Num(kMetric, "a", ">", 1), Num(kMetric, "b", "<", 2), Num(kMetric, "c", "=", 3)}},
      {"  metrics.rmse < 1 and params.model = 'xgb' and tags.team = 'a' and "
       "attributes.status = 'FINISHED'  ",
       {Num(kMetric, "rmse", "<", 1), Str(kParam, "model", "=", "xgb"),
        Str(kTag, "team", "=", "a"), Str(kAttr, "status", "=", "FINISHED")}},
      {"tags.x IS NULL and metrics.a > 1", {Null(kTag, "x", "IS NULL"), Num(kMetric, "a", ">", 1)}},
      {"params.a='x'AND params.b='y'", {Str(kParam, "a", "=", "x"), Str(kParam, "b", "=", "y")}},
      // Other searches.
      {"name = 'exp'", {Str(kAttr, "name", "=", "exp")}, SearchDialect::kExperiments},
      {"attribute.name LIKE 'e%'", {Str(kAttr, "name", "LIKE", "e%")},
       SearchDialect::kExperiments},
      {"experiment_id IN ('1', '2')", {List(kAttr, "experiment_id", "IN", {"1", "2"})},
       SearchDialect::kExperiments},
      {"creation_time > 10", {Num(kAttr, "creation_time", ">", 10)}, SearchDialect::kExperiments},
      {"tags.t IS NULL", {Null(kTag, "t", "IS NULL")}, SearchDialect::kExperiments},
      {"name = 'm' and tags.k = 'v'", {Str(kAttr, "name", "=", "m"), Str(kTag, "k", "=", "v")},
       SearchDialect::kRegisteredModels},
      {"name IN ('a', 'b')", {List(kAttr, "name", "IN", {"a", "b"})},
       SearchDialect::kRegisteredModels},
      {"name = 'm' and version_number >= 2 and run_id = 'r'",
       {Str(kAttr, "name", "=", "m"), Num(kAttr, "version_number", ">=", 2),
        Str(kAttr, "run_id", "=", "r")},
       SearchDialect::kModelVersions},
      {"source_path LIKE 's3://%'", {Str(kAttr, "source_path", "LIKE", "s3://%")},
       SearchDialect::kModelVersions},
  };
  return *kCases;
}

TEST(ParseSearchFilterTest, AcceptsMlflowFilters) {
  for (const AcceptCase& test_case : AcceptCases()) {
    SCOPED_TRACE(test_case.filter);
    absl::StatusOr<std::vector<FilterClause>> parsed =
        ParseSearchFilter(test_case.filter, test_case.dialect);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, test_case.expected);
  }
}

struct RejectCase {
  std::string filter;
  std::string message_fragment;
  SearchDialect dialect = SearchDialect::kRuns;
};

const std::vector<RejectCase>& RejectCases() {
  static const auto* const kCases = new std::vector<RejectCase>{
      {"metrics.a > 1 OR metrics.b < 2", "'OR' is not supported"},
      {"tags.x = 'a' or tags.y = 'b'", "'OR' is not supported"},
      {"OR metrics.a > 1", "'OR' is not supported"},
      {"metrics.a", "Expected a comparison operator"},
      {"metrics.a >", "expected a value"},
      {"metrics.a > 1;", "multiple expression"},
      {"metrics.a > 1; metrics.b > 2", "multiple expression"},
      {"(metrics.a > 1)", "Parentheses are not supported"},
      {"metrics.a > 1 metrics.b > 2", "Expected AND between clauses"},
      {"metrics.a > 1 and", "after the final AND"},
      {"and metrics.a > 1", "Expected a clause before each AND"},
      {"metrics.a > 1 and and metrics.b > 2", "Expected a clause before each AND"},
      {"metrics.a > 1 -- comment", "Expected AND between clauses"},
      {"metrics.a between 1 and 2", "Expected a comparison operator"},
      {"metrics.a == 1", "Invalid comparator '=='"},
      {"metrics.a <> 1", "Invalid comparator '<>'"},
      {"metrics.a LIKE 1", "Invalid comparator 'LIKE' for metric 'a'"},
      {"metrics.a IN ('1')", "Invalid comparator 'IN' for metric 'a'"},
      {"metrics.x IS NULL", "only supported for tags and params, not for metric 'x'"},
      {"metrics.a > '1'", "Expected numeric value type for metric 'a'. Found '1'"},
      {"metrics.a > \"1\"", "Expected numeric value type for metric 'a'"},
      {"metrics.a > +1", "Expected numeric value type"},
      {"metrics.a > - 1", "Expected numeric value type"},
      {"metrics.a > 1e", "Found 1e"},
      {"metrics.a > 0x10", "Found 0x10"},
      {"metrics.a > 1.5.5", "Found 1.5.5"},
      {"metrics.a>1AND metrics.b>2", "Found 1AND"},
      {"metrics.a-b > 1", "Expected a comparison operator"},
      {"metrics.a$b > 1", "Expected a comparison operator"},
      {"metrics. > 1", "expected a key after the '.'"},
      {"metrics.`a`b > 1", "Expected a comparison operator"},
      {"METRICS.a > 1", "Invalid entity type 'METRICS'"},
      {"foo.a = 'x'", "Invalid entity type 'foo'. Valid values are"},
      {"attributes.foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are"},
      {"lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"},
      {"timestamp > 1", "Invalid attribute key 'timestamp'"},
      {"datasets.foo = 'x'", "Invalid dataset key 'foo'"},
      {"params.a = 1", "Expected a quoted string value for parameter 'a'"},
      {"params.a = xgb", "Expected a quoted string value for parameter 'a'"},
      {"params.a > 'x'", "Invalid comparator '>' for parameter 'a'"},
      {"params.a NOT LIKE 'x'", "Invalid comparator 'NOT LIKE'"},
      {"params.a IN ('x')", "Invalid comparator 'IN' for parameter 'a'"},
      {"params.x = 'ab", "no closing quote"},
      {"params.x = 'a''", "no closing quote"},
      {"tags.\"a b = 'x'", "Invalid clause(s) in filter string"},
      {"tags.x IS 'a'", "Expected 'IS NULL' or 'IS NOT NULL'"},
      {"tags.x IS NOT 'a'", "Expected 'IS NULL' or 'IS NOT NULL'"},
      {"tags.x NOT = 'a'", "Expected 'NOT IN'"},
      {"status IN ('a')", "Only {'run_id'} attributes support comparison with a list"},
      {"status > 'a'", "Invalid comparator '>' for attribute 'status'"},
      {"status = 1", "Expected a quoted string value for attribute 'status'"},
      {"start_time > 'a'", "Expected numeric value type for attribute 'start_time'"},
      {"start_time LIKE '1%'", "Invalid comparator 'LIKE' for attribute 'start_time'"},
      {"start_time IS NULL", "not for attribute 'start_time'"},
      {"run_id IN ()", "non-empty list"},
      {"run_id IN ('a', 1)", "expected a comma-separated list of quoted string values"},
      {"run_id IN ('a' 'b')", "expected a comma-separated list"},
      {"run_id IN ('a',,'b')", "expected a comma-separated list"},
      {"run_id IN ('a'", "no closing ')'"},
      {"run_id IN 'a'", "Expected a parenthesised list"},
      {"run_id = ('a')", "Expected a quoted string value for attribute 'run_id'"},
      {"run_id NOT ('a')", "Expected 'NOT IN'"},
      {"'unterminated", "Invalid clause(s) in filter string"},
      {"= 1", "Expected an identifier"},
      {"!metrics.a > 1", "Expected an identifier"},
      // Other searches.
      {"attributes.name = 'x'", "Invalid entity type 'attributes'",
       SearchDialect::kExperiments},
      {"metrics.a > 1", "Invalid entity type 'metrics'", SearchDialect::kExperiments},
      {"run_id = 'a'", "Invalid attribute key 'run_id'", SearchDialect::kExperiments},
      {"name IN ('a')", "Only {'experiment_id'} attributes", SearchDialect::kExperiments},
      {"tags.t IS NULL", "IS NULL / IS NOT NULL is not supported in this search",
       SearchDialect::kRegisteredModels},
      {"params.a = 'x'", "Invalid entity type 'params'", SearchDialect::kRegisteredModels},
      {"version_number = 'x'", "Expected numeric value type for attribute 'version_number'",
       SearchDialect::kModelVersions},
      {"source_path IN ('a')", "Only {'name', 'run_id'} attributes",
       SearchDialect::kModelVersions},
  };
  return *kCases;
}

TEST(ParseSearchFilterTest, RejectsInvalidFiltersWithMlflowStyleMessages) {
  for (const RejectCase& test_case : RejectCases()) {
    SCOPED_TRACE(test_case.filter);
    absl::StatusOr<std::vector<FilterClause>> parsed =
        ParseSearchFilter(test_case.filter, test_case.dialect);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ToStd(parsed.status().message())),
                HasSubstr(test_case.message_fragment));
  }
}

TEST(ParseSearchFilterTest, HugeNumbersSaturateLikePythonFloat) {
  absl::StatusOr<std::vector<FilterClause>> parsed = ParseSearchFilter("metrics.a < 1e999");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ(std::get<double>((*parsed)[0].value), std::numeric_limits<double>::infinity());
}

TEST(ParseSearchFilterTest, ErrorMessagesStayShortForHugeInput) {
  const std::string filter = "params.a = '" + std::string(1 << 20, 'x');
  absl::StatusOr<std::vector<FilterClause>> parsed = ParseSearchFilter(filter);
  ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(parsed.status().message().size(), 1000u);
}

TEST(ParseSearchFilterTest, ManyClausesParseInLinearTime) {
  std::string filter;
  constexpr int kClauses = 20000;
  for (int clause_idx = 0; clause_idx < kClauses; ++clause_idx) {
    if (clause_idx > 0) filter += " and ";
    filter += "metrics.m" + std::to_string(clause_idx) + " > " + std::to_string(clause_idx);
  }
  absl::StatusOr<std::vector<FilterClause>> parsed = ParseSearchFilter(filter);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), static_cast<size_t>(kClauses));
  EXPECT_EQ(parsed->back(), Num(kMetric, "m19999", ">", 19999));
}

TEST(ParseSearchFilterTest, DeeplyNestedParenthesesAreRejectedWithoutRecursion) {
  const std::string filter = std::string(100000, '(') + "metrics.a > 1" + std::string(100000, ')');
  EXPECT_EQ(ParseSearchFilter(filter).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseSearchFilterTest, EmbeddedNulBytesAreRejected) {
  const std::string filter("metrics.a\0 > 1", 14);
  EXPECT_EQ(ParseSearchFilter(filter).status().code(), absl::StatusCode::kInvalidArgument);
}

struct OrderByCase {
  std::string clause;
  OrderByClause expected;
  SearchDialect dialect = SearchDialect::kRuns;
};

TEST(ParseOrderByTest, AcceptsMlflowOrderBy) {
  const std::vector<OrderByCase> cases = {
      {"metrics.rmse", {kMetric, "rmse", true}},
      {"metrics.`my metric` DESC", {kMetric, "my metric", false}},
      {"metrics.\"my metric\" desc", {kMetric, "my metric", false}},
      {"metric.a", {kMetric, "a", true}},
      {"attributes.start_time ASC", {kAttr, "start_time", true}},
      {"start_time", {kAttr, "start_time", true}},
      {"status desc", {kAttr, "status", false}},
      {"run_name", {kAttr, "run_name", true}},
      {"created", {kAttr, "start_time", true}},
      {"Created DESC", {kAttr, "start_time", false}},
      {"params.x", {kParam, "x", true}},
      {"tags.y", {kTag, "y", true}},
      {"tags.`a b` Asc", {kTag, "a b", true}},
      {"  metrics.a  ", {kMetric, "a", true}},
      {"name DESC", {kAttr, "name", false}, SearchDialect::kExperiments},
      {"last_update_time", {kAttr, "last_update_time", true}, SearchDialect::kExperiments},
      {"name", {kAttr, "name", true}, SearchDialect::kRegisteredModels},
      {"last_updated_timestamp DESC", {kAttr, "last_updated_timestamp", false},
       SearchDialect::kRegisteredModels},
      {"version_number DESC", {kAttr, "version_number", false}, SearchDialect::kModelVersions},
  };
  for (const OrderByCase& test_case : cases) {
    SCOPED_TRACE(test_case.clause);
    absl::StatusOr<OrderByClause> parsed = ParseOrderBy(test_case.clause, test_case.dialect);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, test_case.expected);
  }
}

TEST(ParseOrderByTest, RejectsInvalidOrderBy) {
  const std::vector<RejectCase> cases = {
      {"", "Could not be parsed"},
      {"metrics.a sideways", "Invalid ordering key in order_by clause 'metrics.a sideways'"},
      {"metrics.a DESC ASC", "Could not be parsed"},
      {"metrics.a, metrics.b", "Invalid ordering key"},
      {"foo.a", "Invalid entity type 'foo'"},
      {"attributes.foo", "Invalid attribute key 'foo'"},
      {"timestamp", "Invalid attribute key 'timestamp'"},
      {"run name", "Invalid ordering key"},
      {"datasets.name", "Invalid order_by entity type 'dataset'"},
      {"= DESC", "Could not be parsed"},
      {"creation_timestamp", "Invalid attribute key", SearchDialect::kExperiments},
      {"attribute.name", "Invalid order by key 'attribute.name'",
       SearchDialect::kRegisteredModels},
      {"tags.x", "Invalid order by key", SearchDialect::kRegisteredModels},
  };
  for (const RejectCase& test_case : cases) {
    SCOPED_TRACE(test_case.filter);
    absl::StatusOr<OrderByClause> parsed = ParseOrderBy(test_case.filter, test_case.dialect);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ToStd(parsed.status().message())),
                HasSubstr(test_case.message_fragment));
  }
}

TEST(LikeMatchTest, MatchesSqlLikeSemantics) {
  struct Case {
    std::string value;
    std::string pattern;
    bool case_insensitive;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"", "", false, true},
      {"", "%", false, true},
      {"", "_", false, false},
      {"abc", "abc", false, true},
      {"abc", "ABC", false, false},
      {"abc", "ABC", true, true},
      {"abc", "a%", false, true},
      {"abc", "%c", false, true},
      {"abc", "%b%", false, true},
      {"abc", "%d%", false, false},
      {"abc", "a_c", false, true},
      {"abc", "a_", false, false},
      {"abc", "___", false, true},
      {"abc", "____", false, false},
      {"abc", "%%%", false, true},
      {"abc", "a%%c", false, true},
      {"abcbc", "a%bc", false, true},
      {"abcbd", "a%bc", false, false},
      {"aaa", "%a%a%a%a", false, false},
      {"mississippi", "%iss%ppi", false, true},
      {"mississippi", "m%s_i%", false, true},
      {"XGBoost", "xgb%", true, true},
      {"XGBoost", "xgb%", false, false},
      {"a.b", "a.b", false, true},
      {"axb", "a.b", false, false},  // '.' is literal, not a regex wildcard
      {"a*b", "a*b", false, true},
      {"a+b", "a+b", false, true},
      {"ab", "a[b]", false, false},
      {"line1\nline2", "line1%", false, true},
  };
  for (const Case& test_case : cases) {
    SCOPED_TRACE(test_case.value + " LIKE " + test_case.pattern);
    EXPECT_EQ(LikeMatch(test_case.value, test_case.pattern, test_case.case_insensitive),
              test_case.expected);
  }
}

TEST(LikeMatchTest, PathologicalPatternFinishesQuickly) {
  const std::string value(20000, 'a');
  const std::string pattern = std::string(200, '%') + "a%a%a%a%b";
  EXPECT_FALSE(LikeMatch(value, pattern, false));
}

}  // namespace
}  // namespace cairn::tracking
