// Metric histories: one (run, key) series read as a range of the metrics table's primary
// key, streamed to the caller; and MLflow's bulk-interval sampling for charts.

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tracking/tracking_sql.h"
#include "tracking/tracking_store.h"

namespace cairn::tracking {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

absl::Status TrackingStore::ScanMetricHistory(
    std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
    std::string_view page_token,
    absl::FunctionRef<void(double value, int64_t timestamp, int64_t step)> point_fn,
    std::string* next_page_token) {
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, internal::DecodeOffsetToken(page_token));
  if (max_results && *max_results <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value ", *max_results, " for parameter 'max_results' supplied: must be positive"));
  next_page_token->clear();
  return db_.Read([&](SqlSession& session) -> absl::Status {
    // As MLflow: the history of an unknown run is empty, not an error.
    absl::StatusOr<internal::RunKeys> keys_or = internal::RunStage(session, run_id);
    if (absl::IsNotFound(keys_or.status())) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(keys_or.status());
    const internal::RunKeys& keys = *keys_or;
    // No max_results: a limit no series reaches.
    int64_t limit = max_results ? *max_results + 1 : int64_t{1} << 62;
    const SqlValue params[] = {keys.run_key, std::string(key), limit, offset};
    int64_t emitted = 0;
    bool more = false;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT value, timestamp, step, is_nan FROM metrics WHERE run_key = $1 AND key = $2 "
        "ORDER BY step, timestamp, value, is_nan LIMIT $3 OFFSET $4",
        params, [&](const SqlRowView& row) {
          if (max_results && emitted == *max_results) {
            more = true;
            return absl::OkStatus();
          }
          point_fn(internal::MetricValue(row.Double(0), row.Int(3) != 0), row.Int(1),
                   row.Int(2));
          ++emitted;
          return absl::OkStatus();
        }));
    if (more) *next_page_token = internal::EncodeOffsetToken(offset + emitted);
    return absl::OkStatus();
  });
}

absl::StatusOr<MetricHistoryPage> TrackingStore::GetMetricHistory(
    std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
    std::string_view page_token) {
  MetricHistoryPage page;
  std::string owned_key(key);
  CAIRN_RETURN_IF_ERROR(ScanMetricHistory(
      run_id, key, max_results, page_token,
      [&](double value, int64_t timestamp, int64_t step) {
        page.metrics.push_back(Metric{owned_key, value, timestamp, step});
      },
      &page.next_page_token));
  return page;
}

absl::StatusOr<std::vector<RunMetric>> TrackingStore::GetMetricHistoryBulkInterval(
    const std::vector<std::string>& run_ids, std::string_view key,
    std::optional<int64_t> start_step, std::optional<int64_t> end_step, int64_t max_results) {
  if (start_step.has_value() != end_step.has_value())
    return absl::InvalidArgumentError(
        "Both start_step and end_step must be specified together, or neither may be "
        "specified.");
  if (start_step && *start_step > *end_step)
    return absl::InvalidArgumentError(absl::StrCat(
        "end_step must be greater than start_step. Found start_step=", *start_step,
        " and end_step=", *end_step, "."));
  if (run_ids.size() > kBulkIntervalMaxRuns)
    return absl::InvalidArgumentError(absl::StrCat(
        "GetMetricHistoryBulkInterval request must specify at most ", kBulkIntervalMaxRuns,
        " run_ids. Received ", run_ids.size(), " run_ids."));
  max_results = std::max<int64_t>(1, max_results);
  std::vector<RunMetric> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    std::vector<int64_t> run_keys;
    for (const std::string& run_id : run_ids) {
      CAIRN_ASSIGN_OR_RETURN(internal::RunKeys keys, internal::RunStage(session, run_id));
      run_keys.push_back(keys.run_key);
    }
    for (size_t run_idx = 0; run_idx < run_ids.size(); ++run_idx) {
      const std::string& run_id = run_ids[run_idx];
      const SqlValue params[] = {run_keys[run_idx], std::string(key),
                                 start_step ? *start_step : std::numeric_limits<int64_t>::min(),
                                 end_step ? *end_step : std::numeric_limits<int64_t>::max()};
      std::vector<Metric> points;
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT value, timestamp, step, is_nan FROM metrics WHERE run_key = $1 AND key = $2 "
          "AND step >= $3 AND step <= $4 ORDER BY step, timestamp, value, is_nan",
          params, [&](const SqlRowView& row) {
            points.push_back(Metric{std::string(key),
                                    internal::MetricValue(row.Double(0), row.Int(3) != 0),
                                    row.Int(1), row.Int(2)});
            return absl::OkStatus();
          }));
      if (points.empty()) continue;
      // NTILE(max_results) over the ordered points: the first row of each bucket (the first
      // total % n buckets hold one extra row), then the last point replaces or extends.
      int64_t total = static_cast<int64_t>(points.size());
      int64_t buckets = std::min(total, max_results);
      int64_t base = total / buckets;
      int64_t extra = total % buckets;
      std::vector<size_t> picked;
      int64_t index = 0;
      for (int64_t bucket = 0; bucket < buckets; ++bucket) {
        picked.push_back(static_cast<size_t>(index));
        index += base + (bucket < extra ? 1 : 0);
      }
      size_t last = points.size() - 1;
      if (picked.back() != last) {
        if (static_cast<int64_t>(picked.size()) >= max_results)
          picked.back() = last;
        else
          picked.push_back(last);
      }
      for (size_t idx : picked) out.push_back(RunMetric{run_id, points[idx]});
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace cairn::tracking
