#pragma once
// Data drift between a reference and a current data set (DESIGN.md §5 monitoring): per
// column, Evidently's default test (FACTS.md "Drift statistics": chosen from the reference
// size, the column kind and the number of distinct values) or the test the user named,
// with its threshold; then the data-set verdict (drifted when the share of drifted
// columns >= drift_share, 0.5 by default). Columns are tested in parallel on `threads`.
// What `cairn drift`, POST /api/v1/monitoring/drift and monitors all call.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "monitoring/data_frame.h"
#include "monitoring/stats/binned_tests.h"
#include "monitoring/stats/column_pair.h"

namespace cairn::monitoring {

struct ColumnTestOverride {
  std::optional<std::string> test;  // a name from stats::StatTests()
  std::optional<double> threshold;
};

struct DriftOptions {
  std::vector<std::string> columns;  // empty: every column the two frames share
  // For every column of a kind the test supports (the others keep their default test and
  // threshold): `--test ks` on mixed data tests the numeric columns with KS.
  std::optional<std::string> test;
  std::optional<double> threshold;   // for those columns (else the test's default)
  std::map<std::string, ColumnTestOverride> per_column;  // wins over the two above
  double drift_share = 0.5;
  int threads = 0;                   // 0: hardware concurrency
  bool keep_histograms = true;       // fill ColumnDrift::histogram (the HTML report)
};

struct ColumnDrift {
  std::string column;
  bool categorical = false;
  int64_t reference_count = 0;  // values tested (after dropping missing / non-finite)
  int64_t current_count = 0;
  int64_t reference_missing = 0;
  int64_t current_missing = 0;
  stats::TestResult result;
  stats::BinnedCounts histogram;  // for reports: the reference vs current counts
  // Categorical columns: the label of each code in histogram.values (the column's shared
  // code space), so reports can name the bins. Empty for numeric columns.
  std::vector<std::string> categories;
  // Why the column was not tested normally (empty when it was): "no values in the current
  // data" (a feature that stopped arriving: drifted, so it raises the alert) or "no values
  // in the reference data: not tested" (tested = false: nothing to compare with; left out
  // of the drift share). Statistic and p-value are NaN / empty then, no histogram.
  std::string reason;
  bool tested = true;
};

struct DriftReport {
  std::vector<ColumnDrift> columns;  // in the order asked / the reference's order
  int64_t reference_rows = 0;
  int64_t current_rows = 0;
  int drifted_columns = 0;
  int untested_columns = 0;  // columns with no reference values (ColumnDrift::tested false)
  double drift_share = 0;   // drifted_columns / tested columns (0 when none was tested)
  double share_threshold = 0.5;
  bool dataset_drift = false;
};

// InvalidArgument when either frame has no rows, naming the column when a named column
// is missing from either frame,
// when a column is numeric in one and categorical in the other, or when a test does not
// apply. A column with no values left (all missing or non-finite) is not an error: in the
// current data it counts as drifted, in the reference it is reported untested
// (ColumnDrift::reason).
absl::StatusOr<DriftReport> ComputeDrift(const DataFrame& reference, const DataFrame& current,
                                         const DriftOptions& options);

// The test Evidently 0.7.23 picks for a column by default (registry.py
// _get_default_stattest), from the cleaned samples: n = reference values, u = distinct
// values over both samples. n <= 1000: numeric u > 5 → "ks", 3 <= u <= 5 → "chisquare",
// u <= 2 → "z"; categorical u > 2 → "chisquare", else "z". n > 1000: numeric u > 5 →
// "wasserstein", else "jensenshannon"; categorical → "jensenshannon".
std::string DefaultStatTest(const stats::ColumnPair& column);

// {"dataset_drift": …, "drift_share": …, "drifted_columns": …, "columns": [{"column",
// "kind", "test", "statistic", "p_value" (null when none), "threshold", "drifted",
// "method", "reference_count", "current_count", …, and "reason" (+ "tested": false) only
// for a column without values on one side}], "untested_columns" only when > 0} — the JSON
// of `cairn drift --json`, the API and stored monitor runs.
Json DriftReportToJson(const DriftReport& report);

}  // namespace cairn::monitoring
