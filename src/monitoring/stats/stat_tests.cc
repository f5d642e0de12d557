#include "monitoring/stats/stat_tests.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/strings.h"
#include "monitoring/stats/binned_tests.h"
#include "monitoring/stats/ks.h"
#include "monitoring/stats/rank_tests.h"
#include "monitoring/stats/scaling.h"
#include "monitoring/stats/sort_sample.h"

namespace cairn::monitoring::stats {
namespace {

constexpr StatTestInfo kTests[] = {
    {"ks", DriftRule::kPValueAtMost, 0.05, true, false,
     "two-sample Kolmogorov-Smirnov p-value (scipy ks_2samp, exact or asymptotic)"},
    {"chisquare", DriftRule::kPValueBelow, 0.05, true, true,
     "chi-squared goodness-of-fit p-value of current counts against reference shares"},
    {"z", DriftRule::kPValueBelow, 0.05, true, true,
     "two-proportion Z-test p-value (first value against the rest)"},
    {"wasserstein", DriftRule::kDistanceAtLeast, 0.1, true, false,
     "Wasserstein-1 distance divided by max(std(reference), 0.001)"},
    {"jensenshannon", DriftRule::kDistanceAtLeast, 0.1, true, true,
     "Jensen-Shannon distance (natural log) of the binned shares"},
    {"psi", DriftRule::kDistanceAtLeast, 0.1, true, true,
     "population stability index of the binned shares (empty bins smoothed)"},
    {"kl_div", DriftRule::kDistanceAtLeast, 0.1, true, true,
     "Kullback-Leibler divergence of reference from current shares (empty bins smoothed)"},
    {"hellinger", DriftRule::kDistanceAtLeast, 0.1, true, true,
     "Hellinger distance of the two distributions"},
    {"tvd", DriftRule::kPValueBelow, 0.1, true, true,
     "total variation distance with a permutation-test p-value"},
    {"anderson", DriftRule::kPValueBelow, 0.1, true, false,
     "Anderson-Darling k-sample significance level (interpolated, capped to [0.001, 0.25])"},
    {"cramer_von_mises", DriftRule::kPValueAtMost, 0.1, true, false,
     "two-sample Cramer-von Mises p-value"},
    {"mannw", DriftRule::kPValueBelow, 0.05, true, false,
     "Mann-Whitney U p-value, one-sided 'less' as Evidently (reference below current)"},
    {"t_test", DriftRule::kPValueBelow, 0.05, true, false,
     "Student's two-sample t-test (pooled variance) two-sided p-value, as Evidently"},
    {"energy_dist", DriftRule::kDistanceAbove, 0.1, true, false,
     "energy distance of the two samples"},
};

// Evidently's registry names where they differ from ours, so its configurations carry
// over unchanged.
struct Alias {
  std::string_view alias;
  std::string_view name;
};
constexpr Alias kAliases[] = {{"ed", "energy_dist"}, {"TVD", "tvd"}};

bool NeedsSortedSamples(std::string_view name) {
  return name == "ks" || name == "cramer_von_mises" || name == "anderson" || name == "mannw" ||
         name == "energy_dist" || name == "wasserstein";
}

std::string TestNames(bool numeric, bool categorical) {
  std::vector<std::string> names;
  for (const StatTestInfo& info : kTests) {
    if ((numeric && info.numeric) || (categorical && info.categorical)) {
      names.emplace_back(info.name);
    }
  }
  return absl::StrJoin(names, ", ");
}

std::string UnknownTestMessage(std::string_view name, std::string_view field) {
  std::string_view nearest;
  size_t best = std::max<size_t>(2, name.size() / 2) + 1;
  for (const StatTestInfo& info : kTests) {
    const size_t distance = EditDistance(name, info.name);
    if (distance < best) {
      best = distance;
      nearest = info.name;
    }
  }
  std::string message =
      absl::StrCat(ToAbsl(field), ": unknown drift test '", ToAbsl(name), "'");
  if (!nearest.empty()) absl::StrAppend(&message, " (did you mean '", ToAbsl(nearest), "'?)");
  absl::StrAppend(&message, "; known tests: ", TestNames(true, true));
  return message;
}

// Population standard deviation (numpy's std, ddof = 0) in two compensated passes, so it
// agrees with numpy to ~1e-15 relative on million-value samples. Values beyond 2^±256 are
// scaled by a power of two first (stats/scaling.h), so ±1e200 or 1e-300 samples get their
// true std where numpy's squares overflow to inf (or underflow to 0).
double PopulationStd(std::span<const double> values) {
  const double n = static_cast<double>(values.size());
  double max_abs = 0;
  for (double v : values) max_abs = std::max(max_abs, std::abs(v));
  const int scale_exp = MomentScaleExponent(max_abs);
  const double scale = std::ldexp(1.0, -scale_exp);  // 1 for ordinary magnitudes: exact
  double sum = 0, carry = 0;
  for (double value : values) {
    const double v = value * scale;
    const double t = sum + v;
    carry += std::abs(sum) >= std::abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  const double mean = (sum + carry) / n;
  double squares = 0;
  carry = 0;
  for (double value : values) {
    const double v = value * scale;
    const double d = (v - mean) * (v - mean);
    const double t = squares + d;
    carry += squares >= d ? (squares - t) + d : (d - t) + squares;
    squares = t;
  }
  return std::ldexp(std::sqrt((squares + carry) / n), scale_exp);
}

void SetPValue(TestResult& result, const StatisticAndP& answer, std::string_view exact_method,
               std::string_view other_method) {
  result.statistic = answer.statistic;
  result.p_value = answer.p_value;
  result.method = std::string(answer.exact ? exact_method : other_method);
}

}  // namespace

std::span<const StatTestInfo> StatTests() { return kTests; }

const StatTestInfo* FindStatTest(std::string_view name) {
  for (const Alias& alias : kAliases) {
    if (alias.alias == name) {
      name = alias.name;
      break;
    }
  }
  for (const StatTestInfo& info : kTests) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

absl::Status CheckStatTestName(std::string_view field, std::string_view name) {
  if (FindStatTest(name) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(UnknownTestMessage(name, field));
}

absl::StatusOr<TestResult> RunStatTest(std::string_view name, const ColumnPair& column,
                                       std::optional<double> threshold) {
  const StatTestInfo* info = FindStatTest(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        UnknownTestMessage(name, absl::StrCat("column '", column.name, "'")));
  }
  if (column.categorical && !info->categorical) {
    return absl::InvalidArgumentError(absl::StrCat(
        "column '", column.name, "' is categorical and test '", ToAbsl(info->name),
        "' applies to numeric columns only; tests for categorical columns: ",
        TestNames(false, true), " (or leave the test unset for the default)"));
  }
  if (!column.categorical && !info->numeric) {
    return absl::InvalidArgumentError(absl::StrCat(
        "column '", column.name, "' is numeric and test '", ToAbsl(info->name),
        "' applies to categorical columns only; tests for numeric columns: ",
        TestNames(true, false)));
  }
  if (threshold.has_value() && !(std::isfinite(*threshold) && *threshold >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("column '", column.name, "': threshold ", *threshold, " of test '",
                     ToAbsl(info->name), "' must be a finite number >= 0 (default ",
                     info->default_threshold, ")"));
  }
  for (const auto* sample : {&column.reference, &column.current}) {
    if (sample->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column '", column.name, "': the ",
          sample == &column.reference ? "reference" : "current",
          " sample has no values left after dropping missing and non-finite ones; "
          "drop the column from the comparison or fix the data"));
    }
  }

  // Tests on the order of the values read sorted samples; sort a copy only when the
  // caller did not (ComputeDrift sorts each column once).
  std::vector<double> sorted_reference, sorted_current;
  std::span<const double> reference = column.reference;
  std::span<const double> current = column.current;
  if (NeedsSortedSamples(info->name) && !column.sorted) {
    sorted_reference = column.reference;
    sorted_current = column.current;
    SortSample(sorted_reference);
    SortSample(sorted_current);
    reference = sorted_reference;
    current = sorted_current;
  }

  TestResult result;
  result.test = std::string(info->name);
  result.rule = info->rule;
  result.threshold = threshold.value_or(info->default_threshold);
  const std::string_view test = info->name;
  if (test == "ks") {
    SetPValue(result, KolmogorovSmirnov(reference, current), "exact", "asymptotic");
  } else if (test == "chisquare") {
    SetPValue(result, ChiSquared(column), "exact", "chi-squared distribution");
  } else if (test == "z") {
    SetPValue(result, ProportionZ(column), "exact", "normal distribution");
  } else if (test == "wasserstein") {
    // Evidently divides by numpy's std of the reference (ddof = 0), floored at 0.001.
    const double norm = std::max(PopulationStd(reference), 0.001);
    result.statistic = Wasserstein(reference, current) / norm;
    result.method = absl::StrCat("normed by reference std ", norm);
  } else if (test == "jensenshannon") {
    result.statistic = JensenShannon(column);
    result.method = "binned shares";
  } else if (test == "psi") {
    result.statistic = Psi(column);
    result.method = "binned shares, empty bins smoothed";
  } else if (test == "kl_div") {
    result.statistic = KlDivergence(column);
    result.method = "binned shares, empty bins smoothed";
  } else if (test == "hellinger") {
    result.statistic = Hellinger(column);
    result.method = column.categorical ? "category shares" : "Sturges histogram densities";
  } else if (test == "tvd") {
    SetPValue(result, TotalVariation(column), "exact", "permutation test");
  } else if (test == "anderson") {
    SetPValue(result, AndersonDarling(reference, current), "exact",
              "interpolated significance level");
  } else if (test == "cramer_von_mises") {
    SetPValue(result, CramerVonMises(reference, current), "exact", "asymptotic");
  } else if (test == "mannw") {
    // Evidently calls mannwhitneyu(reference, current, alternative="less").
    SetPValue(result, MannWhitneyU(reference, current, Alternative::kLess), "exact",
              "asymptotic");
  } else if (test == "t_test") {
    // Evidently calls ttest_ind(reference, current): equal_var=True, the pooled test.
    SetPValue(result, StudentTTest(column.reference, column.current), "exact",
              "Student t, pooled variance");
  } else if (test == "energy_dist") {
    result.statistic = EnergyDistance(reference, current);
  }
  Decide(result);
  return result;
}

}  // namespace cairn::monitoring::stats
