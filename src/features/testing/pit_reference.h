#pragma once
// A brute-force point-in-time join for tests only: for every entity row and every view it
// scans every view row. Written from FACTS.md's Feast rules without sharing code with
// pit_join.cc (no CompareKeys, no TrailingWindow), so the two can check each other.
// Assumes valid input (the checks are pit_join's); quadratic, keep inputs small.

#include <string>
#include <vector>

#include "features/definitions.h"
#include "features/pit_join.h"
#include "features/table.h"

namespace cairn::features::testing {

struct ReferenceView {
  const FeatureViewSpec* spec = nullptr;
  std::vector<std::string> key_columns;
  const Table* rows = nullptr;  // any order
  std::vector<std::string> features;
};

// The training set PointInTimeJoin must return for the same input (same columns, names,
// types and row order). Aggregation sums are computed in long double.
Table ReferencePointInTimeJoin(const Table& entities, const std::vector<ReferenceView>& views,
                               const PitOptions& options);

// `rows` sorted by (key_columns, __event_ts, __created_ts), stably: the order a
// RowStream delivers. Null key cells first.
Table SortViewRows(const Table& rows, const std::vector<std::string>& key_columns);

}  // namespace cairn::features::testing
