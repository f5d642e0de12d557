#pragma once
// The catalogue of drift tests by name (what `--test`, a Monitor's `tests:` and the API
// take) and one entry point that runs a named test on a column pair. Each test's maths
// lives in its own file (ks.h, rank_tests.h, binned_tests.h); this file only maps names
// to them with Evidently's default thresholds and rules (FACTS.md "Drift statistics").
//
//   name            rule                 default   columns
//   ks              p-value <= t         0.05      numeric
//   chisquare       p-value <  t         0.05      both (numeric: one bin per value)
//   z               p-value <  t         0.05      both (smallest value vs the rest)
//   wasserstein     distance >= t        0.1       numeric (normed by reference std)
//   jensenshannon   distance >= t        0.1       both
//   psi             distance >= t        0.1       both
//   kl_div          distance >= t        0.1       both
//   hellinger       distance >= t        0.1       both
//   tvd             p-value <  t         0.1       both
//   anderson        p-value <  t         0.1       numeric
//   cramer_von_mises p-value <= t        0.1       numeric
//   mannw           p-value <  t         0.05      numeric (one-sided "less")
//   t_test          p-value <  t         0.05      numeric (pooled variance)
//   energy_dist     distance >  t        0.1       numeric
//
// As Evidently 0.7.23 computes them: mannw is mannwhitneyu(reference, current,
// alternative="less") — one-sided: it flags drift only when the current values tend to be
// larger than the reference's —, and t_test is ttest_ind with equal_var=True (Student's
// pooled test, not Welch's).
// Evidently's registry names "ed" and "TVD" are accepted for energy_dist and tvd. Evidently
// registers chisquare and z for categorical columns only, yet picks them by default for
// small numeric columns with few values; here they take both kinds. A test that needs the
// order of the values (ks, cramer_von_mises, anderson, mannw, energy_dist, wasserstein)
// reads the samples as they are when ColumnPair::sorted, else sorts a copy.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "monitoring/stats/column_pair.h"

namespace cairn::monitoring::stats {

struct StatTestInfo {
  std::string_view name;
  DriftRule rule;
  double default_threshold;
  bool numeric;      // applies to numeric columns
  bool categorical;  // applies to categorical columns
  std::string_view description;  // one line for --help and the report
};

// Every test, in the table's order.
std::span<const StatTestInfo> StatTests();
// nullptr for an unknown name.
const StatTestInfo* FindStatTest(std::string_view name);

// OK when `name` is a test (or an alias); else InvalidArgument "<field>: unknown drift test
// 'kss' (did you mean 'ks'?); known tests: …" — for the CLI, the API and monitor files.
absl::Status CheckStatTestName(std::string_view field, std::string_view name);

// Runs test `name` on `column` with `threshold` (its default when unset). InvalidArgument
// naming the column and the test when the name is unknown ("did you mean"), when the test
// does not apply to the column's kind, or when a sample is empty.
absl::StatusOr<TestResult> RunStatTest(std::string_view name, const ColumnPair& column,
                                       std::optional<double> threshold = std::nullopt);

}  // namespace cairn::monitoring::stats
