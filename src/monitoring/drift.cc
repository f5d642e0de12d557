#include "monitoring/drift.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "monitoring/stats/sort_sample.h"
#include "monitoring/stats/stat_tests.h"

namespace cairn::monitoring {
namespace {

using stats::ColumnPair;

bool NeedsSortedSamples(std::string_view test) {
  return test == "ks" || test == "cramer_von_mises" || test == "anderson" || test == "mannw" ||
         test == "energy_dist" || test == "wasserstein";
}

// The finite values of a numeric column; `missing` counts the rest (NaN, ±inf).
std::vector<double> FiniteValues(const FrameColumn& column, int64_t* missing) {
  std::vector<double> values;
  values.reserve(column.numbers.size());
  for (double v : column.numbers) {
    if (std::isfinite(v)) values.push_back(v);
  }
  *missing = static_cast<int64_t>(column.numbers.size() - values.size());
  return values;
}

// Whether every value is a whole number that an int64 holds (pandas' int64 column).
bool AllWholeNumbers(const std::vector<double>& values) {
  bool whole = true;
  for (double v : values) whole &= std::trunc(v) == v && std::fabs(v) < 0x1p63;
  return whole;
}

// Both categorical columns' codes in one code space: the reference's dictionary first,
// then the current's labels the reference lacks, in their order. Missing codes (-1) are
// dropped and counted.
void AlignCategories(const FrameColumn& reference, const FrameColumn& current, ColumnPair& pair,
                     int64_t* reference_missing, int64_t* current_missing) {
  pair.categories = reference.categories;
  absl::flat_hash_map<std::string_view, int32_t> code_of;
  code_of.reserve(reference.categories.size() + current.categories.size());
  for (size_t code = 0; code < reference.categories.size(); ++code) {
    code_of.try_emplace(reference.categories[code], static_cast<int32_t>(code));
  }
  std::vector<int32_t> current_to_shared(current.categories.size());
  for (size_t code = 0; code < current.categories.size(); ++code) {
    const std::string& label = current.categories[code];
    auto [it, inserted] = code_of.try_emplace(label, static_cast<int32_t>(pair.categories.size()));
    if (inserted) pair.categories.push_back(label);
    current_to_shared[code] = it->second;
  }
  const auto valid = [](int32_t code, size_t size) {
    return code >= 0 && static_cast<size_t>(code) < size;
  };
  pair.reference.reserve(reference.codes.size());
  for (int32_t code : reference.codes) {
    if (valid(code, reference.categories.size())) pair.reference.push_back(code);
  }
  pair.current.reserve(current.codes.size());
  for (int32_t code : current.codes) {
    if (valid(code, current.categories.size())) pair.current.push_back(current_to_shared[code]);
  }
  *reference_missing = static_cast<int64_t>(reference.codes.size() - pair.reference.size());
  *current_missing = static_cast<int64_t>(current.codes.size() - pair.current.size());
}

// Distinct values over both samples (pandas nunique of the concatenation), counted only up
// to `cap`: the default test needs to know whether there are more than 5 (numeric) or 2
// (categorical). Usually returns after a handful of values.
int DistinctValuesUpTo(const ColumnPair& pair, int cap) {
  double seen[8] = {};
  int count = 0;
  for (const std::vector<double>* sample : {&pair.reference, &pair.current}) {
    for (double v : *sample) {
      bool known = false;
      for (int i = 0; i < count; ++i) {
        if (seen[i] == v) {
          known = true;
          break;
        }
      }
      if (known) continue;
      seen[count++] = v;
      if (count >= cap) return count;
    }
  }
  return count;
}

}  // namespace

std::string DefaultStatTest(const ColumnPair& column) {
  // Evidently 0.7.23 (legacy/calculations/stattests/registry.py _get_default_stattest),
  // on the samples left after dropping NaN and ±inf: small references (<= 1000 values)
  // get a p-value test, large ones a distance.
  const bool small = column.reference.size() <= 1000;
  if (column.categorical) {
    if (!small) return "jensenshannon";
    return DistinctValuesUpTo(column, 3) > 2 ? "chisquare" : "z";
  }
  const int distinct = DistinctValuesUpTo(column, 6);
  if (!small) return distinct > 5 ? "wasserstein" : "jensenshannon";
  if (distinct > 5) return "ks";
  return distinct > 2 ? "chisquare" : "z";
}

namespace {

struct ColumnJob {
  const FrameColumn* reference = nullptr;
  const FrameColumn* current = nullptr;
  std::optional<std::string> test;
  std::optional<double> threshold;
};

absl::StatusOr<ColumnDrift> RunColumn(const ColumnJob& job, bool keep_histograms) {
  const FrameColumn& ref = *job.reference;
  const FrameColumn& cur = *job.current;
  ColumnDrift drift;
  drift.column = ref.name;
  drift.categorical = ref.categorical;
  ColumnPair pair;
  pair.name = ref.name;
  pair.categorical = ref.categorical;
  if (ref.categorical) {
    AlignCategories(ref, cur, pair, &drift.reference_missing, &drift.current_missing);
  } else {
    pair.reference = FiniteValues(ref, &drift.reference_missing);
    pair.current = FiniteValues(cur, &drift.current_missing);
    // What pandas reads as int64 on both sides (FrameColumn::integer: integers as written,
    // none missing): numpy's Sturges bins are then ≥ 1 wide.
    pair.integer = ref.integer && cur.integer && drift.reference_missing == 0 &&
                   drift.current_missing == 0 && AllWholeNumbers(pair.reference) &&
                   AllWholeNumbers(pair.current);
  }
  drift.reference_count = static_cast<int64_t>(pair.reference.size());
  drift.current_count = static_cast<int64_t>(pair.current.size());
  const std::string test = job.test.has_value() ? *job.test : DefaultStatTest(pair);
  if (pair.reference.empty() || pair.current.empty()) {
    // Nothing to test on one side. A feature that stopped arriving is drift (it raises
    // the alert); a reference without values gives nothing to compare with.
    drift.result.test = test;
    drift.result.statistic = std::nan("");
    drift.result.score = std::nan("");
    if (const stats::StatTestInfo* info = stats::FindStatTest(test)) {
      drift.result.rule = info->rule;
      drift.result.threshold = job.threshold.value_or(info->default_threshold);
    }
    if (pair.reference.empty()) {
      drift.tested = false;
      drift.reason = "no values in the reference data: not tested";
    } else {
      drift.result.drifted = true;
      drift.reason = "no values in the current data";
    }
    if (pair.categorical && keep_histograms) drift.categories = std::move(pair.categories);
    return drift;
  }
  if (!pair.categorical && NeedsSortedSamples(test)) {
    stats::SortSample(pair.reference);
    stats::SortSample(pair.current);
    pair.sorted = true;
  }
  CAIRN_ASSIGN_OR_RETURN(drift.result, stats::RunStatTest(test, pair, job.threshold));
  if (keep_histograms) {
    drift.histogram = stats::BinColumn(pair);
    if (pair.categorical) drift.categories = std::move(pair.categories);
  }
  return drift;
}

// DataFrame::Find, kept here so this library needs only the header of data_frame.h.
const FrameColumn* FindColumn(const DataFrame& frame, std::string_view name) {
  for (const FrameColumn& column : frame.columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

std::string ColumnNames(const DataFrame& frame) {
  std::vector<std::string> names;
  for (const FrameColumn& column : frame.columns) names.push_back(column.name);
  return names.empty() ? std::string("(none)") : absl::StrJoin(names, ", ");
}

// An example label of a categorical column that does not read as a number, for the
// message when a column is numeric on one side only.
std::string NonNumericExample(const FrameColumn& column) {
  for (const std::string& label : column.categories) {
    char* end = nullptr;
    std::strtod(label.c_str(), &end);
    if (label.empty() || end != label.c_str() + label.size()) return label;
  }
  return column.categories.empty() ? std::string() : column.categories.front();
}

}  // namespace

absl::StatusOr<DriftReport> ComputeDrift(const DataFrame& reference, const DataFrame& current,
                                         const DriftOptions& options) {
  if (!std::isfinite(options.drift_share) || options.drift_share < 0 ||
      options.drift_share > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "drift_share ", options.drift_share,
        " must be a share of columns between 0 and 1 (0.5: drift when half the columns drift)"));
  }
  if (options.test.has_value()) {
    CAIRN_RETURN_IF_ERROR(stats::CheckStatTestName("test", *options.test));
  }

  // The columns to test: those asked for (each must exist on both sides), else every
  // reference column the current data also has, in the reference's order.
  std::vector<std::string> names;
  if (!options.columns.empty()) {
    absl::flat_hash_set<std::string> asked;
    for (const std::string& name : options.columns) {
      if (!asked.insert(name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("columns: column '", name, "' is listed twice"));
      }
      if (FindColumn(reference, name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("columns: column '", name, "' is not in the reference data (columns: ",
                         ColumnNames(reference), ")"));
      }
      if (FindColumn(current, name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("columns: column '", name, "' is not in the current data (columns: ",
                         ColumnNames(current), ")"));
      }
      names.push_back(name);
    }
  } else {
    for (const FrameColumn& column : reference.columns) {
      if (FindColumn(current, column.name) != nullptr) names.push_back(column.name);
    }
    if (names.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the reference and current data share no column (reference: ", ColumnNames(reference),
          "; current: ", ColumnNames(current), ")"));
    }
  }
  for (const auto& [name, override] : options.per_column) {
    if (override.test.has_value()) {
      CAIRN_RETURN_IF_ERROR(stats::CheckStatTestName(
          absl::StrCat("per_column: column '", name, "'"), *override.test));
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "per_column: column '", name, "' is not among the columns compared (",
          absl::StrJoin(names, ", "), ")"));
    }
  }

  for (const auto& [side, frame] : {std::pair{"reference", &reference}, {"current", &current}}) {
    if (frame->rows == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", side, " data set has no rows (only a header?): nothing to compare"));
    }
  }

  // A test for every column applies to the columns of the kinds it supports; the others
  // keep their default test (per-column tests are checked strictly by RunStatTest).
  const stats::StatTestInfo* global_test =
      options.test.has_value() ? stats::FindStatTest(*options.test) : nullptr;

  std::vector<ColumnJob> jobs;
  jobs.reserve(names.size());
  // A column with no values at all reads as numeric from CSV; facing a categorical column
  // it is that column with every value missing (a category that stopped arriving).
  std::deque<FrameColumn> emptied;
  const auto all_missing = [](const FrameColumn& column) {
    return !column.categorical &&
           std::none_of(column.numbers.begin(), column.numbers.end(),
                        [](double v) { return std::isfinite(v); });
  };
  for (const std::string& name : names) {
    ColumnJob job;
    job.reference = FindColumn(reference, name);
    job.current = FindColumn(current, name);
    for (const FrameColumn** side : {&job.reference, &job.current}) {
      const FrameColumn* other = side == &job.reference ? job.current : job.reference;
      if (other->categorical && all_missing(**side)) {
        FrameColumn& column = emptied.emplace_back();
        column.name = (*side)->name;
        column.categorical = true;
        column.codes.assign((*side)->numbers.size(), -1);
        *side = &column;
      }
    }
    if (job.reference->categorical != job.current->categorical) {
      const bool reference_categorical = job.reference->categorical;
      const FrameColumn& categorical = reference_categorical ? *job.reference : *job.current;
      return absl::InvalidArgumentError(absl::StrCat(
          "column '", name, "' is ", reference_categorical ? "categorical" : "numeric",
          " in the reference data but ", reference_categorical ? "numeric" : "categorical",
          " in the current data (the ", reference_categorical ? "reference" : "current",
          " side holds '", NonNumericExample(categorical),
          "'); fix the data, or compare it as categories on both sides (--categorical ", name,
          ")"));
    }
    const bool applies = global_test == nullptr ||
                         (job.reference->categorical ? global_test->categorical
                                                     : global_test->numeric);
    if (applies) {
      job.test = options.test;
      job.threshold = options.threshold;
    }
    if (auto it = options.per_column.find(name); it != options.per_column.end()) {
      if (it->second.test.has_value()) job.test = it->second.test;
      if (it->second.threshold.has_value()) job.threshold = it->second.threshold;
    }
    jobs.push_back(std::move(job));
  }

  // Columns are independent: workers take the next column until none is left.
  std::vector<absl::StatusOr<ColumnDrift>> results(jobs.size(),
                                                   absl::InternalError("column not computed"));
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp<int>(threads, 1, static_cast<int>(jobs.size()));
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      results[i] = RunColumn(jobs[i], options.keep_histograms);
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (int t = 1; t < threads; ++t) workers.emplace_back(work);
    work();
    for (std::thread& worker : workers) worker.join();
  }

  DriftReport report;
  report.reference_rows = reference.rows;
  report.current_rows = current.rows;
  report.share_threshold = options.drift_share;
  report.columns.reserve(results.size());
  for (auto& result : results) {
    if (!result.ok()) return result.status();
    if (result->result.drifted) ++report.drifted_columns;
    if (!result->tested) ++report.untested_columns;
    report.columns.push_back(*std::move(result));
  }
  const size_t tested = report.columns.size() - static_cast<size_t>(report.untested_columns);
  report.drift_share = tested == 0 ? 0.0
                                   : static_cast<double>(report.drifted_columns) /
                                         static_cast<double>(tested);
  // Evidently's get_dataset_drift: drifted when the share reaches the threshold.
  report.dataset_drift = tested > 0 && report.drift_share >= report.share_threshold;
  return report;
}

namespace {

std::string_view RuleText(stats::DriftRule rule) {
  switch (rule) {
    case stats::DriftRule::kPValueBelow: return "p_value < threshold";
    case stats::DriftRule::kPValueAtMost: return "p_value <= threshold";
    case stats::DriftRule::kDistanceAtLeast: return "statistic >= threshold";
    case stats::DriftRule::kDistanceAbove: return "statistic > threshold";
  }
  return "";
}

Json Number(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

Json HistogramToJson(const ColumnDrift& column) {
  const stats::BinnedCounts& bins = column.histogram;
  Json histogram = Json::object();
  if (!bins.edges.empty()) histogram["edges"] = bins.edges;
  if (!bins.values.empty()) {
    if (column.categorical) {
      Json labels = Json::array();
      for (double code : bins.values) {
        const auto index = static_cast<size_t>(code);
        labels.push_back(index < column.categories.size() ? Json(column.categories[index])
                                                          : Json(nullptr));
      }
      histogram["labels"] = std::move(labels);
    } else {
      histogram["values"] = bins.values;
    }
  }
  histogram["reference"] = bins.reference;
  histogram["current"] = bins.current;
  return histogram;
}

}  // namespace

Json DriftReportToJson(const DriftReport& report) {
  Json columns = Json::array();
  for (const ColumnDrift& column : report.columns) {
    const stats::TestResult& result = column.result;
    Json entry = {
        {"column", column.column},
        {"kind", column.categorical ? "categorical" : "numeric"},
        {"test", result.test},
        {"statistic", Number(result.statistic)},
        {"p_value", result.p_value.has_value() ? Number(*result.p_value) : Json(nullptr)},
        {"threshold", result.threshold},
        {"rule", RuleText(result.rule)},
        {"score", Number(result.score)},
        {"drifted", result.drifted},
        {"method", result.method},
        {"reference_count", column.reference_count},
        {"current_count", column.current_count},
        {"reference_missing", column.reference_missing},
        {"current_missing", column.current_missing},
    };
    if (!column.histogram.reference.empty()) entry["histogram"] = HistogramToJson(column);
    if (!column.reason.empty()) entry["reason"] = column.reason;
    if (!column.tested) entry["tested"] = false;
    columns.push_back(std::move(entry));
  }
  Json out = Json{
      {"dataset_drift", report.dataset_drift},
      {"drift_share", report.drift_share},
      {"share_threshold", report.share_threshold},
      {"drifted_columns", report.drifted_columns},
      {"number_of_columns", static_cast<int64_t>(report.columns.size())},
      {"reference_rows", report.reference_rows},
      {"current_rows", report.current_rows},
      {"columns", std::move(columns)},
  };
  if (report.untested_columns > 0) out["untested_columns"] = report.untested_columns;
  return out;
}

}  // namespace cairn::monitoring
