#pragma once
// The input every drift statistic reads: one column of the reference data set and the
// same column of the current data set, already cleaned (Evidently's rule, FACTS.md:
// ±inf became NaN and NaNs and nulls were dropped), and the shape of a test's answer.

#include <optional>
#include <string>
#include <vector>

namespace cairn::monitoring::stats {

// Numeric columns hold their values. Categorical columns hold category codes (0, 1, …)
// into `categories`, one code space shared by both samples, so counts line up.
struct ColumnPair {
  std::string name;
  bool categorical = false;
  std::vector<double> reference;  // finite values (numeric) or codes (categorical)
  std::vector<double> current;
  std::vector<std::string> categories;  // categorical only: code → label
  // Numeric only: both samples are sorted ascending (ComputeDrift sorts a column once for
  // every test that needs the order; RunStatTest sorts a copy when this is false).
  bool sorted = false;
  // Numeric only: both columns are what pandas reads as int64 — every value a whole number
  // (below 2^63 in magnitude), none missing or non-finite. numpy's Sturges bins are then at
  // least 1 wide (histogram_bin_edges on an integer array), as Evidently's binning gets
  // them (binned_tests.h).
  bool integer = false;
};

// Whether a larger or a smaller statistic means drift, and whether the bound is strict.
enum class DriftRule {
  kPValueBelow,          // p-value <  threshold → drift (chi-squared, Z, AD, MWU, t-test, TVD)
  kPValueAtMost,         // p-value <= threshold → drift (KS, Cramér–von Mises)
  kDistanceAtLeast,      // distance >= threshold → drift (Wasserstein, JS, PSI, KL, Hellinger)
  kDistanceAbove,        // distance >  threshold → drift (energy distance)
};

// One test on one column.
struct TestResult {
  std::string test;        // registry name: "ks", "wasserstein", "jensenshannon", …
  double statistic = 0;    // the test statistic or distance
  std::optional<double> p_value;  // tests with a p-value
  double threshold = 0;    // what the verdict compared against
  DriftRule rule = DriftRule::kPValueBelow;
  double score = 0;        // the value compared: p_value for p-value tests, else statistic
  bool drifted = false;
  std::string method;      // how the p-value was computed: "exact", "asymptotic", …
};

// Sets score and drifted from statistic / p_value, threshold and rule.
void Decide(TestResult& result);

}  // namespace cairn::monitoring::stats
