#pragma once
// A data profile: per column, what a data set looks like — inferred type, count, nulls,
// mean, standard deviation, min/max, quantiles, histogram (numeric) and the most frequent
// labels (categorical) — computed in one streaming pass over a DataFrame or over row
// batches of one, in memory that does not grow with the number of rows:
//   - mean and variance: per 4,096-value block a two-pass sum, blocks combined with
//     Chan et al.'s parallel update (Welford's recurrence, blockwise, so it vectorizes);
//     a column whose magnitudes reach beyond 2^±256 (±1e200, 1e-300) is summed scaled by
//     a power of two (stats/scaling.h), so mean, std and merges stay finite and accurate
//     wherever the true result is a double;
//   - quantiles and histogram: a KLL sketch (quantile_sketch.h; rank error ≤ ε·n with 99%
//     probability, ε = 0.66% for the default k = 400; exact below k values);
//   - categories: a Misra–Gries summary (category_counter.h; exact while a column has at
//     most 1,000 distinct labels).
// Profiles are mergeable (profile of A ∪ B = Merge(profile A, profile B), within the
// sketches' bounds) and round-trip through JSON with their sketch state, so a stored
// profile can still be merged or re-summarized.
//
// Types (SageMaker Model Monitor's names): "Integral" (numeric, every value a whole
// number), "Fractional" (numeric), "String" (categorical), "Unknown" (no non-null value).
// Missing: NaN / non-finite numbers and -1 codes (data_frame.h). The standard deviation is
// the sample one (ddof = 1, as pandas' describe).

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/json.h"
#include "monitoring/category_counter.h"
#include "monitoring/data_frame.h"
#include "monitoring/quantile_sketch.h"

namespace cairn::monitoring {

enum class InferredType { kUnknown, kIntegral, kFractional, kString };
// "Unknown", "Integral", "Fractional", "String".
std::string_view InferredTypeName(InferredType type);
std::optional<InferredType> ParseInferredType(std::string_view name);

struct ProfileOptions {
  int sketch_k = QuantileSketch::kDefaultK;
  int max_tracked_categories = CategoryCounter::kDefaultCapacity;
  int histogram_bins = 20;  // equal-width bins over [min, max]
};

// The quantiles every numeric column reports.
inline constexpr double kProfileQuantiles[] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};

struct Histogram {
  std::vector<double> edges;   // bins + 1 ascending edges; the last bin includes its right edge
  std::vector<int64_t> counts;  // per bin; sums to the column's count
};

// One column's running state and the summaries derived from it.
class ColumnProfile {
 public:
  ColumnProfile(std::string name, bool categorical, const ProfileOptions& options);

  const std::string& name() const { return name_; }
  bool categorical() const { return categorical_; }
  int64_t count() const { return count_; }  // non-null values
  int64_t nulls() const { return nulls_; }
  int64_t rows() const { return count_ + nulls_; }
  double completeness() const;  // count / rows; 1 for an empty column
  InferredType type() const;

  // Numeric columns (NaN when there are no values).
  double mean() const;
  double stddev() const;  // sample (ddof = 1); NaN below 2 values
  double min() const;
  double max() const;
  int64_t non_integral() const { return non_integral_; }  // values with a fractional part
  const QuantileSketch& sketch() const { return sketch_; }
  std::vector<double> Quantiles() const;  // at kProfileQuantiles
  Histogram MakeHistogram(int bins) const;

  // Categorical columns.
  CategoryCounter& categories() { return categories_; }
  const CategoryCounter& categories() const { return categories_; }

  // Streaming updates (used by DataProfile).
  void AddNumbers(const double* values, size_t n);
  void AddCodes(const int32_t* codes, size_t n, const std::vector<std::string>& labels);
  void AddNulls(int64_t n) { nulls_ += n; }
  void Merge(const ColumnProfile& other);

  Json ToJson(const ProfileOptions& options) const;
  static absl::StatusOr<ColumnProfile> FromJson(const Json& json, const ProfileOptions& options);

 private:
  // Brings m2_ to the scale exponent `e` (at least scale_exp_ for a consistent state).
  void Rescale(int e);
  // Adds `count` values whose mean is `scaled_mean` · 2^scale_exp_ and whose sum of
  // squared deviations is `scaled_m2` · 4^scale_exp_ (Chan et al.'s update).
  void Combine(int64_t count, double scaled_mean, double scaled_m2);

  std::string name_;
  bool categorical_;
  int64_t count_ = 0;
  int64_t nulls_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;  // sum of squared deviations from the mean, divided by 4^scale_exp_
  // Values are summed as x · 2^-scale_exp_ (stats/scaling.h): 0 unless the column's
  // largest magnitude is beyond 2^±256, so that ±1e300 neither overflows nor 1e-300
  // underflows the mean and M2.
  int scale_exp_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  int64_t non_integral_ = 0;
  QuantileSketch sketch_;
  CategoryCounter categories_;
  std::vector<int64_t> code_counts_;  // scratch for AddCodes, reused between batches
};

class DataProfile;
absl::StatusOr<DataProfile> ProfileFromJson(const Json& json);

class DataProfile {
 public:
  explicit DataProfile(ProfileOptions options = {});

  // Adds the rows of `batch`. Columns are matched by name: a column missing from the batch
  // counts its rows as nulls; a column seen for the first time counts the earlier rows as
  // nulls. InvalidArgument when a column is numeric in one batch and categorical in
  // another (naming it), or a column's length differs from batch.rows.
  absl::Status Add(const DataFrame& batch);

  // Adds everything `other` profiled (same rules as Add, column by column).
  absl::Status Merge(const DataProfile& other);

  int64_t rows() const { return rows_; }
  const ProfileOptions& options() const { return options_; }
  const std::vector<ColumnProfile>& columns() const { return columns_; }
  // nullptr when there is no such column.
  const ColumnProfile* Find(std::string_view name) const;

 private:
  friend absl::StatusOr<DataProfile> ProfileFromJson(const Json& json);

  ProfileOptions options_;
  int64_t rows_ = 0;
  std::vector<ColumnProfile> columns_;  // first-seen order
};

// One-batch convenience: a profile of `frame`.
absl::StatusOr<DataProfile> ProfileFrame(const DataFrame& frame, const ProfileOptions& options = {});

// {"rows", "options": {…}, "columns": [{"name", "kind": "numeric"|"categorical",
//   "inferred_type", "count", "nulls", "completeness",
//   numeric: "mean", "std", "min", "max", "non_integral", "quantiles": [{"q", "value"}],
//   "quantile_rank_error" (0 when exact), "histogram": {"edges", "counts", "exact"},
//   "state": {"m2", "sketch", "scale_exponent" (only when not 0)} — the sum of squared
//   deviations is m2 · 4^scale_exponent (a column of values beyond 2^±256 keeps it
//   scaled, so that it stays finite);
//   categorical: "distinct" (held labels), "distinct_exact", "count_error_bound",
//   "top": [{"value", "count"}] (at most 20), "categories": {Misra–Gries state}}]}
// Non-finite summaries (no values) are null.
Json ProfileToJson(const DataProfile& profile);
// Reads ProfileToJson's output back (the state fields; summaries are recomputed).
// InvalidArgument naming the field that is wrong.
absl::StatusOr<DataProfile> ProfileFromJson(const Json& json);

}  // namespace cairn::monitoring
