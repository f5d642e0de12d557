// libFuzzer target: arbitrary bytes as a search filter (every dialect), as an order_by
// clause, and as a LIKE value/pattern pair. Invariants checked beyond "no crash, no
// hang": errors are always InvalidArgument, and accepted clauses carry one of the
// documented operators with the value kind that operator implies.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "tracking/search_filter.h"

namespace {

using cairn::tracking::FilterClause;
using cairn::tracking::SearchDialect;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckClause(const FilterClause& clause) {
  const std::string& op = clause.op;
  if (op == "IS NULL" || op == "IS NOT NULL") {
    Check(std::holds_alternative<std::monostate>(clause.value));
  } else if (op == "IN" || op == "NOT IN") {
    Check(std::holds_alternative<std::vector<std::string>>(clause.value));
    Check(!std::get<std::vector<std::string>>(clause.value).empty());
  } else if (op == "LIKE" || op == "ILIKE") {
    Check(std::holds_alternative<std::string>(clause.value));
  } else {
    Check(op == "=" || op == "!=" || op == ">" || op == ">=" || op == "<" || op == "<=");
    Check(std::holds_alternative<double>(clause.value) ||
          std::holds_alternative<std::string>(clause.value));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (SearchDialect dialect : {SearchDialect::kRuns, SearchDialect::kExperiments,
                                SearchDialect::kRegisteredModels, SearchDialect::kModelVersions}) {
    auto clauses = cairn::tracking::ParseSearchFilter(input, dialect);
    if (clauses.ok()) {
      for (const FilterClause& clause : *clauses) CheckClause(clause);
    } else {
      Check(clauses.status().code() == absl::StatusCode::kInvalidArgument);
    }
    auto order = cairn::tracking::ParseOrderBy(input, dialect);
    if (!order.ok()) Check(order.status().code() == absl::StatusCode::kInvalidArgument);
  }

  // LIKE: the first byte picks case sensitivity, a NUL byte splits value from pattern
  // (both kept short: matching is O(|value|·|pattern|) by contract).
  if (size > 0) {
    const bool case_insensitive = (data[0] & 1) != 0;
    std::string_view rest = input.substr(1);
    const size_t split = rest.find('\0');
    std::string_view value = rest.substr(0, split);
    std::string_view pattern =
        split == std::string_view::npos ? std::string_view("%") : rest.substr(split + 1);
    value = value.substr(0, 2048);
    pattern = pattern.substr(0, 2048);
    const bool matched = cairn::tracking::LikeMatch(value, pattern, case_insensitive);
    // A pattern without wildcards matches exactly itself (case-sensitively).
    if (!case_insensitive && pattern.find_first_of("%_") == std::string_view::npos) {
      Check(matched == (value == pattern));
    }
    Check(cairn::tracking::LikeMatch(value, "%", case_insensitive));
  }
  return 0;
}
