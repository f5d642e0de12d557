#include "demo/traffic.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "demo/rng.h"
#include "demo/step_io.h"

namespace cairn::demo {
namespace {

namespace fs = std::filesystem;

// How the shift moves one feature: value × scale + add (when the draw below `p` hits),
// rounded for counts.
struct Shift {
  const char* feature;
  double scale;
  double add;
  double p;  // share of rows the change applies to
  bool round;
};

constexpr Shift kShifts[] = {
    {"monthly_price", 1.3, 0, 1.0, true},
    {"effective_price", 1.3, 0, 1.0, false},
    {"discount_pct", 0.0, 0, 0.7, false},
    {"logins_7d", 0.5, 0, 1.0, true},
    {"logins_30d", 0.5, 0, 1.0, true},
    {"session_minutes_30d", 0.5, 0, 1.0, false},
    {"last_login_mobile", 0.0, 0, 0.8, true},
    {"tickets_30d", 1.0, 1, 0.6, true},
    {"tickets_90d", 1.0, 1, 0.6, true},
    {"billing_tickets_30d", 1.0, 1, 0.5, true},
};
// Share of the shifted requests' customers who stayed in the base data but churn now.
constexpr double kExtraChurn = 0.2;

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Drops the first field (the label) of every line.
std::string WithoutFirstColumn(const std::string& csv) {
  std::string out;
  out.reserve(csv.size());
  size_t start = 0;
  while (start < csv.size()) {
    size_t end = csv.find('\n', start);
    if (end == std::string::npos) end = csv.size();
    const size_t comma = csv.find(',', start);
    if (comma != std::string::npos && comma < end) out.append(csv, comma + 1, end - comma - 1);
    out.push_back('\n');
    start = end + 1;
  }
  return out;
}

}  // namespace

absl::StatusOr<TrafficDay> WriteTrafficDay(const Dataset& base, int day, bool shifted,
                                           int64_t rows, uint64_t seed, const std::string& dir) {
  if (base.rows() == 0) {
    return absl::InvalidArgumentError("traffic: the base data set has no rows");
  }
  std::map<std::string, size_t> column;
  for (size_t col = 0; col < base.cols(); ++col) column[base.feature_names[col]] = col;
  if (shifted) {
    for (const Shift& shift : kShifts) {
      if (!column.contains(shift.feature)) {
        return absl::InvalidArgumentError(
            absl::StrCat("traffic: the base data set has no feature '", shift.feature, "'"));
      }
    }
  }
  Rng rng(seed * 1000003ULL + static_cast<uint64_t>(day));
  Dataset traffic;
  traffic.feature_names = base.feature_names;
  const size_t cols = base.cols();
  traffic.features.reserve(static_cast<size_t>(rows) * cols);
  traffic.labels.reserve(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    const size_t from = static_cast<size_t>(rng.Uniform() * static_cast<double>(base.rows()));
    const size_t first = traffic.features.size();
    traffic.features.insert(traffic.features.end(), base.features.begin() + from * cols,
                            base.features.begin() + (from + 1) * cols);
    float label = base.labels[from];
    if (shifted) {
      for (const Shift& shift : kShifts) {
        float& value = traffic.features[first + column[shift.feature]];
        if (std::isnan(value) || !rng.Bernoulli(shift.p)) continue;
        double moved = value * shift.scale + shift.add;
        if (shift.round) moved = std::round(moved);
        value = static_cast<float>(moved);
      }
      if (label == 0 && rng.Bernoulli(kExtraChurn)) label = 1;
    }
    traffic.labels.push_back(label);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  TrafficDay result;
  result.day = day;
  result.shifted = shifted;
  result.rows = rows;
  result.positive_rate = traffic.PositiveRate();
  result.labeled_path = (fs::path(dir) / absl::StrCat("day-", day, ".labeled.csv")).string();
  result.features_path = (fs::path(dir) / absl::StrCat("day-", day, ".csv")).string();
  result.current_path = (fs::path(dir) / "current.csv").string();
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(traffic, result.labeled_path));
  std::ifstream labeled(result.labeled_path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(labeled)), std::istreambuf_iterator<char>());
  const std::string features = WithoutFirstColumn(text);
  CAIRN_RETURN_IF_ERROR(WriteText(result.features_path, features));
  CAIRN_RETURN_IF_ERROR(WriteText(result.current_path, features));
  return result;
}

absl::StatusOr<Dataset> ReadLabeledTraffic(const std::string& dir, int days,
                                           std::vector<std::string>* files_read) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view kPrefix = "day-", kSuffix = ".labeled.csv";
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) continue;
    int day = 0;
    if (!absl::SimpleAtoi(ToAbsl(std::string_view(name).substr(
                              kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size())),
                          &day)) {
      continue;
    }
    found.emplace_back(day, entry.path().string());
  }
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no labeled traffic (day-N.labeled.csv) in ", dir,
                     ec ? absl::StrCat(": ", ec.message()) : ""));
  }
  std::sort(found.begin(), found.end());
  const size_t take = std::min(found.size(), static_cast<size_t>(std::max(days, 1)));
  Dataset all;
  for (size_t idx = found.size() - take; idx < found.size(); ++idx) {
    CAIRN_ASSIGN_OR_RETURN(Dataset one, ReadDatasetCsv(found[idx].second));
    if (all.feature_names.empty()) {
      all.feature_names = one.feature_names;
    } else if (one.feature_names != all.feature_names) {
      return absl::InvalidArgumentError(absl::StrCat(
          found[idx].second, ": its columns differ from ", found[found.size() - take].second));
    }
    all.features.insert(all.features.end(), one.features.begin(), one.features.end());
    all.labels.insert(all.labels.end(), one.labels.begin(), one.labels.end());
    if (files_read != nullptr) files_read->push_back(found[idx].second);
  }
  return all;
}

}  // namespace cairn::demo
