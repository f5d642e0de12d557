#include "monitoring/profile.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/stats/scaling.h"

namespace cairn::monitoring {
namespace {

// Values per block of the mean/variance pass: small enough to stay in L1/L2 for the
// second (deviation) pass over the block.
constexpr size_t kBlock = 4096;
// How many labels ProfileToJson shows under "top".
constexpr size_t kTopShown = 20;

inline bool IsIntegral(double v) {
  // Every double of magnitude ≥ 2^52 is a whole number; below, the int64 round trip is
  // exact and cheap (no libm call).
  return std::fabs(v) >= 4503599627370496.0 || v == static_cast<double>(static_cast<int64_t>(v));
}

Json Num(double v) { return std::isfinite(v) ? Json(v) : Json(); }

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(where), ": ", ToAbsl(what)));
}

absl::StatusOr<int64_t> NonNegativeInt(const Json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    return Bad(where, absl::StrCat(key, ": must be a non-negative integer"));
  return it->get<int64_t>();
}

// A number field that may be null (NaN); absent counts as null.
absl::StatusOr<double> NullableNumber(const Json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nan("");
  if (!it->is_number()) return Bad(where, absl::StrCat(key, ": must be a number or null"));
  return it->get<double>();
}

}  // namespace

std::string_view InferredTypeName(InferredType type) {
  switch (type) {
    case InferredType::kIntegral: return "Integral";
    case InferredType::kFractional: return "Fractional";
    case InferredType::kString: return "String";
    case InferredType::kUnknown: break;
  }
  return "Unknown";
}

std::optional<InferredType> ParseInferredType(std::string_view name) {
  for (InferredType t : {InferredType::kUnknown, InferredType::kIntegral,
                         InferredType::kFractional, InferredType::kString}) {
    if (InferredTypeName(t) == name) return t;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// ColumnProfile

ColumnProfile::ColumnProfile(std::string name, bool categorical, const ProfileOptions& options)
    : name_(std::move(name)),
      categorical_(categorical),
      sketch_(options.sketch_k),
      categories_(options.max_tracked_categories) {}

double ColumnProfile::completeness() const {
  return rows() == 0 ? 1.0 : static_cast<double>(count_) / static_cast<double>(rows());
}

InferredType ColumnProfile::type() const {
  if (count_ == 0) return InferredType::kUnknown;
  if (categorical_) return InferredType::kString;
  return non_integral_ == 0 ? InferredType::kIntegral : InferredType::kFractional;
}

double ColumnProfile::mean() const { return count_ == 0 || categorical_ ? std::nan("") : mean_; }
double ColumnProfile::stddev() const {
  if (count_ < 2 || categorical_) return std::nan("");
  return std::ldexp(std::sqrt(m2_ / static_cast<double>(count_ - 1)), scale_exp_);
}
double ColumnProfile::min() const { return count_ == 0 || categorical_ ? std::nan("") : min_; }
double ColumnProfile::max() const { return count_ == 0 || categorical_ ? std::nan("") : max_; }

std::vector<double> ColumnProfile::Quantiles() const {
  return sketch_.Quantiles(std::vector<double>(std::begin(kProfileQuantiles),
                                               std::end(kProfileQuantiles)));
}

Histogram ColumnProfile::MakeHistogram(int bins) const {
  Histogram h;
  if (categorical_ || count_ == 0) return h;
  bins = std::max(1, bins);
  if (!(max_ > min_)) {
    h.edges = {min_, max_};
    h.counts = {count_};
    return h;
  }
  // A range wider than the largest double (-1e308 … 1e308) is measured in halves.
  const bool halved = !std::isfinite(max_ - min_);
  const double width = halved ? (max_ * 0.5 - min_ * 0.5) / bins * 2.0 : (max_ - min_) / bins;
  for (int i = 0; i < bins; ++i) {
    h.edges.push_back(i == 0 ? min_
                      : halved ? (min_ * 0.5 + width * 0.5 * i) * 2.0
                               : min_ + width * i);
  }
  h.edges.push_back(max_);
  h.counts.assign(static_cast<size_t>(bins), 0);
  for (const auto& [value, weight] : sketch_.SortedItems()) {
    const double offset =
        halved ? (value * 0.5 - min_ * 0.5) / (width * 0.5) : (value - min_) / width;
    int bin = static_cast<int>(std::min(offset, static_cast<double>(bins)));
    h.counts[static_cast<size_t>(std::clamp(bin, 0, bins - 1))] += weight;
  }
  return h;
}

void ColumnProfile::AddNumbers(const double* values, size_t n) {
  double finite[kBlock];
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    // Gather the finite values without branching, then run branch-free passes over them.
    size_t m = 0;
    for (size_t i = start; i < end; ++i) {
      const double v = values[i];
      finite[m] = v;
      m += std::isfinite(v) ? 1 : 0;
    }
    const int64_t block_count = static_cast<int64_t>(m);
    nulls_ += static_cast<int64_t>(end - start) - block_count;
    if (block_count == 0) continue;
    int64_t block_non_integral = 0;
    double sum = 0.0;
    double lo = min_;
    double hi = max_;
    for (size_t i = 0; i < m; ++i) {
      const double v = finite[i];
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      block_non_integral += !IsIntegral(v);
    }
    // lo and hi include the earlier values, so the exponent never decreases.
    Rescale(stats::MomentScaleExponent(std::max(std::fabs(lo), std::fabs(hi))));
    double block_mean = 0.0;
    double block_m2 = 0.0;
    if (scale_exp_ == 0) {
      block_mean = sum / static_cast<double>(block_count);
      for (size_t i = 0; i < m; ++i) {
        const double d = finite[i] - block_mean;
        block_m2 += d * d;
      }
    } else {
      // The unscaled sum above may have overflowed: sum again in scaled units.
      const double scale = std::ldexp(1.0, -scale_exp_);
      double scaled_sum = 0.0;
      for (size_t i = 0; i < m; ++i) scaled_sum += finite[i] * scale;
      block_mean = scaled_sum / static_cast<double>(block_count);
      for (size_t i = 0; i < m; ++i) {
        const double d = finite[i] * scale - block_mean;
        block_m2 += d * d;
      }
    }
    sketch_.AddMany(finite, m);
    Combine(block_count, block_mean, block_m2);
    min_ = lo;
    max_ = hi;
    non_integral_ += block_non_integral;
  }
}

void ColumnProfile::Rescale(int e) {
  if (e == scale_exp_) return;
  m2_ = std::ldexp(m2_, 2 * (scale_exp_ - e));
  scale_exp_ = e;
}

void ColumnProfile::Combine(int64_t count, double scaled_mean, double scaled_m2) {
  const int64_t total = count_ + count;
  double mean = scale_exp_ == 0 ? mean_ : std::ldexp(mean_, -scale_exp_);
  const double delta = scaled_mean - mean;
  const double share = static_cast<double>(count) / static_cast<double>(total);
  mean += delta * share;
  m2_ += scaled_m2 + delta * delta * static_cast<double>(count_) * share;
  mean_ = scale_exp_ == 0 ? mean : std::ldexp(mean, scale_exp_);
  count_ = total;
}

void ColumnProfile::AddCodes(const int32_t* codes, size_t n,
                             const std::vector<std::string>& labels) {
  // Count codes first (slot 0: missing or out of range), then one counter update per
  // distinct label: no per-row hashing or allocation.
  code_counts_.assign(labels.size() + 1, 0);
  const uint64_t slots = code_counts_.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t slot = static_cast<uint64_t>(static_cast<int64_t>(codes[i]) + 1);
    ++code_counts_[slot < slots ? slot : 0];
  }
  nulls_ += code_counts_[0];
  for (size_t code = 0; code < labels.size(); ++code) {
    const int64_t c = code_counts_[code + 1];
    if (c == 0) continue;
    count_ += c;
    categories_.Add(labels[code], c);
  }
  categories_.Flush();
}

void ColumnProfile::Merge(const ColumnProfile& other) {
  nulls_ += other.nulls_;
  if (other.count_ == 0) return;
  if (categorical_) {
    count_ += other.count_;
    categories_.Merge(other.categories_);
    return;
  }
  const double lo = std::min(min_, other.min_);
  const double hi = std::max(max_, other.max_);
  // Both sides' exponents are at most the one of the union's largest magnitude.
  Rescale(stats::MomentScaleExponent(std::max(std::fabs(lo), std::fabs(hi))));
  Combine(other.count_, std::ldexp(other.mean_, -scale_exp_),
          std::ldexp(other.m2_, 2 * (other.scale_exp_ - scale_exp_)));
  min_ = lo;
  max_ = hi;
  non_integral_ += other.non_integral_;
  sketch_.Merge(other.sketch_);
}

Json ColumnProfile::ToJson(const ProfileOptions& options) const {
  Json out = {{"name", name_},
              {"kind", categorical_ ? "categorical" : "numeric"},
              {"inferred_type", std::string(InferredTypeName(type()))},
              {"count", count_},
              {"nulls", nulls_},
              {"completeness", completeness()}};
  if (categorical_) {
    std::vector<LabelCount> sorted = categories_.Sorted();
    Json top = Json::array();
    for (size_t i = 0; i < sorted.size() && i < kTopShown; ++i)
      top.push_back({{"value", sorted[i].label}, {"count", sorted[i].count}});
    out["distinct"] = sorted.size();
    out["distinct_exact"] = categories_.exact();
    out["count_error_bound"] = categories_.undercount();
    out["top"] = std::move(top);
    out["categories"] = categories_.ToJson();
    return out;
  }
  out["mean"] = Num(mean());
  out["std"] = Num(stddev());
  out["min"] = Num(min());
  out["max"] = Num(max());
  out["non_integral"] = non_integral_;
  Json quantiles = Json::array();
  if (count_ > 0) {
    std::vector<double> values = Quantiles();
    for (size_t i = 0; i < values.size(); ++i)
      quantiles.push_back({{"q", kProfileQuantiles[i]}, {"value", Num(values[i])}});
  }
  out["quantiles"] = std::move(quantiles);
  out["quantile_rank_error"] = sketch_.RankError();
  Histogram h = MakeHistogram(options.histogram_bins);
  out["histogram"] = {{"edges", h.edges}, {"counts", h.counts}, {"exact", sketch_.exact()}};
  out["state"] = {{"m2", m2_}, {"sketch", sketch_.ToJson()}};
  if (scale_exp_ != 0) out["state"]["scale_exponent"] = scale_exp_;
  return out;
}

absl::StatusOr<ColumnProfile> ColumnProfile::FromJson(const Json& json,
                                                      const ProfileOptions& options) {
  if (!json.is_object()) return Bad("columns[]", "each column must be an object");
  auto name = json.find("name");
  if (name == json.end() || !name->is_string() || name->get<std::string>().empty())
    return Bad("columns[]", "name: must be a non-empty string");
  const std::string where = absl::StrCat("column '", name->get<std::string>(), "'");
  auto kind = json.find("kind");
  if (kind == json.end() || (*kind != "numeric" && *kind != "categorical"))
    return Bad(where, "kind: must be 'numeric' or 'categorical'");
  ColumnProfile column(name->get<std::string>(), *kind == "categorical", options);
  CAIRN_ASSIGN_OR_RETURN(column.count_, NonNegativeInt(json, "count", where));
  CAIRN_ASSIGN_OR_RETURN(column.nulls_, NonNegativeInt(json, "nulls", where));
  if (column.categorical_) {
    auto categories = json.find("categories");
    if (categories == json.end()) return Bad(where, "categories: missing");
    absl::StatusOr<CategoryCounter> counter = CategoryCounter::FromJson(*categories);
    if (!counter.ok()) return Bad(where, ToStd(counter.status().message()));
    if (counter->total() != column.count_) {
      return Bad(where, absl::StrCat("categories count ", counter->total(),
                                     " values, but count is ", column.count_));
    }
    column.categories_ = std::move(*counter);
    return column;
  }
  CAIRN_ASSIGN_OR_RETURN(column.non_integral_, NonNegativeInt(json, "non_integral", where));
  auto state = json.find("state");
  if (state == json.end() || !state->is_object()) return Bad(where, "state: must be an object");
  auto m2 = state->find("m2");
  if (m2 == state->end() || !m2->is_number()) return Bad(where, "state.m2: must be a number");
  column.m2_ = m2->get<double>();
  if (auto e = state->find("scale_exponent"); e != state->end()) {
    if (!e->is_number_integer() || e->get<int64_t>() < -1100 || e->get<int64_t>() > 1100)
      return Bad(where, "state.scale_exponent: must be an integer from -1100 to 1100");
    column.scale_exp_ = e->get<int>();
  }
  auto sketch_json = state->find("sketch");
  if (sketch_json == state->end()) return Bad(where, "state.sketch: missing");
  absl::StatusOr<QuantileSketch> sketch = QuantileSketch::FromJson(*sketch_json);
  if (!sketch.ok()) return Bad(where, ToStd(sketch.status().message()));
  if (sketch->count() != column.count_) {
    return Bad(where, absl::StrCat("state.sketch holds ", sketch->count(),
                                   " values, but count is ", column.count_));
  }
  column.sketch_ = std::move(*sketch);
  if (column.count_ > 0) {
    CAIRN_ASSIGN_OR_RETURN(column.mean_, NullableNumber(json, "mean", where));
    CAIRN_ASSIGN_OR_RETURN(column.min_, NullableNumber(json, "min", where));
    CAIRN_ASSIGN_OR_RETURN(column.max_, NullableNumber(json, "max", where));
    if (!std::isfinite(column.mean_) || !std::isfinite(column.min_) ||
        !std::isfinite(column.max_)) {
      return Bad(where, "mean, min and max: must be numbers when count > 0");
    }
  }
  return column;
}

// ---------------------------------------------------------------------------------------
// DataProfile

DataProfile::DataProfile(ProfileOptions options) : options_(options) {}

const ColumnProfile* DataProfile::Find(std::string_view name) const {
  for (const ColumnProfile& c : columns_) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

absl::Status DataProfile::Add(const DataFrame& batch) {
  // Check everything first, so that a bad batch changes nothing.
  std::vector<ColumnProfile*> targets(batch.columns.size(), nullptr);
  for (size_t i = 0; i < batch.columns.size(); ++i) {
    const FrameColumn& col = batch.columns[i];
    if (static_cast<int64_t>(col.size()) != batch.rows) {
      return absl::InvalidArgumentError(absl::StrCat("column '", col.name, "': has ",
                                                     col.size(), " values, but the batch has ",
                                                     batch.rows, " rows"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (batch.columns[j].name == col.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("column '", col.name, "': appears twice; rename one of them"));
      }
    }
    const ColumnProfile* existing = Find(col.name);
    if (existing != nullptr && existing->categorical() != col.categorical) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column '", col.name, "': ", existing->categorical() ? "categorical" : "numeric",
          " in the rows profiled so far but ", col.categorical ? "categorical" : "numeric",
          " in this batch; force one kind for every batch (e.g. --categorical ", col.name,
          ")"));
    }
  }
  std::vector<bool> seen(columns_.size(), false);
  for (size_t i = 0; i < batch.columns.size(); ++i) {
    const FrameColumn& col = batch.columns[i];
    ColumnProfile* target = nullptr;
    for (size_t j = 0; j < columns_.size(); ++j) {
      if (columns_[j].name() == col.name) {
        target = &columns_[j];
        seen[j] = true;
      }
    }
    if (target == nullptr) {
      columns_.emplace_back(col.name, col.categorical, options_);
      target = &columns_.back();
      target->AddNulls(rows_);
    }
    if (col.categorical) {
      target->AddCodes(col.codes.data(), col.codes.size(), col.categories);
    } else {
      target->AddNumbers(col.numbers.data(), col.numbers.size());
    }
  }
  for (size_t j = 0; j < seen.size(); ++j) {
    if (!seen[j]) columns_[j].AddNulls(batch.rows);
  }
  rows_ += batch.rows;
  return absl::OkStatus();
}

absl::Status DataProfile::Merge(const DataProfile& other) {
  for (const ColumnProfile& theirs : other.columns_) {
    const ColumnProfile* mine = Find(theirs.name());
    if (mine != nullptr && mine->categorical() != theirs.categorical()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column '", theirs.name(), "': ", mine->categorical() ? "categorical" : "numeric",
          " in one profile but ", theirs.categorical() ? "categorical" : "numeric",
          " in the other; profiles of one column must agree on its kind"));
    }
  }
  std::vector<bool> seen(columns_.size(), false);
  for (const ColumnProfile& theirs : other.columns_) {
    ColumnProfile* target = nullptr;
    for (size_t j = 0; j < columns_.size(); ++j) {
      if (columns_[j].name() == theirs.name()) {
        target = &columns_[j];
        seen[j] = true;
      }
    }
    if (target == nullptr) {
      columns_.emplace_back(theirs.name(), theirs.categorical(), options_);
      target = &columns_.back();
      target->AddNulls(rows_);
    }
    target->Merge(theirs);
  }
  for (size_t j = 0; j < seen.size(); ++j) {
    if (!seen[j]) columns_[j].AddNulls(other.rows_);
  }
  rows_ += other.rows_;
  return absl::OkStatus();
}

absl::StatusOr<DataProfile> ProfileFrame(const DataFrame& frame, const ProfileOptions& options) {
  DataProfile profile(options);
  CAIRN_RETURN_IF_ERROR(profile.Add(frame));
  return profile;
}

Json ProfileToJson(const DataProfile& profile) {
  const ProfileOptions& o = profile.options();
  Json columns = Json::array();
  for (const ColumnProfile& c : profile.columns()) columns.push_back(c.ToJson(o));
  return Json{{"rows", profile.rows()},
              {"options",
               {{"sketch_k", o.sketch_k},
                {"max_tracked_categories", o.max_tracked_categories},
                {"histogram_bins", o.histogram_bins}}},
              {"columns", std::move(columns)}};
}

absl::StatusOr<DataProfile> ProfileFromJson(const Json& json) {
  if (!json.is_object()) return Bad("profile", "must be a JSON object {rows, options, columns}");
  ProfileOptions options;
  auto opts = json.find("options");
  if (opts != json.end() && !opts->is_null()) {
    if (!opts->is_object()) return Bad("profile", "options: must be an object");
    for (auto [key, field] : {std::pair{"sketch_k", &options.sketch_k},
                              std::pair{"max_tracked_categories", &options.max_tracked_categories},
                              std::pair{"histogram_bins", &options.histogram_bins}}) {
      auto it = opts->find(key);
      if (it == opts->end()) continue;
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1'000'000)
        return Bad("profile", absl::StrCat("options.", key, ": must be an integer from 1 to 1000000"));
      *field = it->get<int>();
    }
  }
  DataProfile profile(options);
  CAIRN_ASSIGN_OR_RETURN(profile.rows_, NonNegativeInt(json, "rows", "profile"));
  auto columns = json.find("columns");
  if (columns == json.end() || !columns->is_array())
    return Bad("profile", "columns: must be an array");
  for (const Json& item : *columns) {
    CAIRN_ASSIGN_OR_RETURN(ColumnProfile column, ColumnProfile::FromJson(item, options));
    if (column.rows() != profile.rows_) {
      return Bad(absl::StrCat("column '", column.name(), "'"),
                 absl::StrCat("count + nulls = ", column.rows(), ", but the profile has ",
                              profile.rows_, " rows"));
    }
    if (profile.Find(column.name()) != nullptr)
      return Bad(absl::StrCat("column '", column.name(), "'"), "appears twice");
    profile.columns_.push_back(std::move(column));
  }
  return profile;
}

}  // namespace cairn::monitoring
