// Metric histories: one (run, key) series read from its packed blocks (metric_blocks.h),
// streamed to the caller; and MLflow's bulk-interval sampling for charts.

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tracking/metric_blocks.h"
#include "tracking/tracking_sql.h"
#include "tracking/tracking_store.h"

namespace cairn::tracking {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

namespace {

constexpr int64_t kAllSteps[2] = {std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max()};

// A series' points as read from its blocks, and the ranges of `points` that, taken in
// turn, are the history order.
struct HistoryPoints {
  struct Range {
    size_t begin, end;
  };
  std::vector<internal::MetricPoint> points;
  std::vector<Range> order;

  // Calls fn(point) for history positions [first, end).
  template <typename Fn>
  void ForEach(int64_t first, int64_t end, Fn fn) const {
    int64_t position = 0;
    for (const Range& range : order) {
      const int64_t size = static_cast<int64_t>(range.end - range.begin);
      if (position + size > first) {
        for (int64_t index = std::max(first, position); index < std::min(end, position + size);
             ++index)
          fn(points[range.begin + static_cast<size_t>(index - position)]);
      }
      position += size;
      if (position >= end) return;
    }
  }
};

// Orders `history.points`, read block by block (each block's points, from block_starts[i]
// to the next start, are sorted already: every write stores its points sorted). When the
// blocks' point ranges do not interleave — concurrent writers that each log their own
// steps, or batches that arrive out of order — ordering the blocks by their first point
// is enough (O(blocks log blocks) plus one linear check, no copy). Otherwise a full sort.
// Two distinct stored points never compare equal (PointLess ties only identical points,
// which a series stores once), so the order is the same either way.
void OrderBlocks(HistoryPoints& history, const std::vector<size_t>& block_starts) {
  std::vector<internal::MetricPoint>& points = history.points;
  std::vector<HistoryPoints::Range>& order = history.order;
  order.clear();
  for (size_t idx = 0; idx < block_starts.size(); ++idx) {
    size_t end = idx + 1 < block_starts.size() ? block_starts[idx + 1] : points.size();
    if (end > block_starts[idx]) order.push_back({block_starts[idx], end});
  }
  std::sort(order.begin(), order.end(),
            [&](const HistoryPoints::Range& a, const HistoryPoints::Range& b) {
              return internal::PointLess(points[a.begin], points[b.begin]);
            });
  const internal::MetricPoint* previous = nullptr;
  bool sorted = true;
  for (const HistoryPoints::Range& range : order) {
    for (size_t index = range.begin; index < range.end && sorted; ++index) {
      if (previous != nullptr && internal::PointLess(points[index], *previous)) sorted = false;
      previous = &points[index];
    }
    if (!sorted) break;
  }
  if (sorted) return;
  std::stable_sort(points.begin(), points.end(), internal::PointLess);
  order.assign(1, {0, points.size()});
}

// The series' points with steps in [min_step, max_step], in history order.
absl::StatusOr<HistoryPoints> LoadHistoryPoints(SqlSession& session, int64_t run_key,
                                                std::string_view key,
                                                const internal::SeriesInfo& info,
                                                int64_t min_step, int64_t max_step) {
  HistoryPoints history;
  std::vector<internal::MetricPoint>& points = history.points;
  if (min_step == kAllSteps[0] && max_step == kAllSteps[1])
    points.reserve(static_cast<size_t>(info.point_count));
  std::vector<size_t> block_starts;  // where each block's points begin in `points`
  CAIRN_RETURN_IF_ERROR(internal::ForEachBlock(
      session, run_key, key, min_step, max_step, std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      [&](std::string_view data, int64_t count) -> absl::Status {
        block_starts.push_back(points.size());
        for (int64_t point_idx = 0; point_idx < count; ++point_idx) {
          internal::MetricPoint point = internal::DecodePoint(data, static_cast<size_t>(point_idx));
          if (point.step >= min_step && point.step <= max_step) points.push_back(point);
        }
        return absl::OkStatus();
      }));
  if (info.ordered) {
    history.order.assign(1, {0, points.size()});
  } else {
    OrderBlocks(history, block_starts);
  }
  return history;
}

// The same, as one vector.
absl::StatusOr<std::vector<internal::MetricPoint>> LoadSortedPoints(
    SqlSession& session, int64_t run_key, std::string_view key, const internal::SeriesInfo& info,
    int64_t min_step, int64_t max_step) {
  CAIRN_ASSIGN_OR_RETURN(HistoryPoints history,
                         LoadHistoryPoints(session, run_key, key, info, min_step, max_step));
  if (history.order.size() == 1 && history.order[0].begin == 0) return std::move(history.points);
  std::vector<internal::MetricPoint> points;
  points.reserve(history.points.size());
  for (const HistoryPoints::Range& range : history.order)
    points.insert(points.end(), history.points.begin() + static_cast<ptrdiff_t>(range.begin),
                  history.points.begin() + static_cast<ptrdiff_t>(range.end));
  return points;
}

}  // namespace

absl::Status TrackingStore::ScanMetricHistory(
    std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
    std::string_view page_token,
    absl::FunctionRef<void(double value, int64_t timestamp, int64_t step)> point_fn,
    std::string* next_page_token, const std::function<void(int64_t points)>& page_size_fn) {
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, internal::DecodeOffsetToken(page_token));
  if (max_results && *max_results <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value ", *max_results, " for parameter 'max_results' supplied: must be positive"));
  next_page_token->clear();
  return db_.Read([&](SqlSession& session) -> absl::Status {
    next_page_token->clear();
    // As MLflow: the history of an unknown run is empty, not an error.
    absl::StatusOr<internal::RunKeys> keys_or = internal::RunStage(session, run_id);
    if (absl::IsNotFound(keys_or.status())) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(keys_or.status());
    const int64_t run_key = keys_or->run_key;
    CAIRN_ASSIGN_OR_RETURN(std::optional<internal::SeriesInfo> info,
                           internal::LoadSeries(session, run_key, key));
    if (!info || offset >= info->point_count) return absl::OkStatus();
    // Points [offset, end) of the history.
    int64_t end = max_results ? std::min(info->point_count, offset + *max_results)
                              : info->point_count;
    if (end < info->point_count) *next_page_token = internal::EncodeOffsetToken(end);
    if (page_size_fn) page_size_fn(end - offset);
    if (info->ordered) {
      // The blocks are in history order: read only those holding [offset, end).
      return internal::ForEachBlockAt(
          session, run_key, key, offset, end,
          [&](std::string_view data, int64_t count, int64_t position) -> absl::Status {
            int64_t first = std::max(position, offset);
            int64_t last = std::min(position + count, end);
            for (int64_t index = first; index < last; ++index) {
              internal::MetricPoint point =
                  internal::DecodePoint(data, static_cast<size_t>(index - position));
              point_fn(point.value, point.timestamp, point.step);
            }
            return absl::OkStatus();
          });
    }
    CAIRN_ASSIGN_OR_RETURN(
        HistoryPoints history,
        LoadHistoryPoints(session, run_key, key, *info, kAllSteps[0], kAllSteps[1]));
    history.ForEach(offset, end, [&](const internal::MetricPoint& point) {
      point_fn(point.value, point.timestamp, point.step);
    });
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
      CAIRN_ASSIGN_OR_RETURN(std::optional<internal::SeriesInfo> info,
                             internal::LoadSeries(session, run_keys[run_idx], key));
      if (!info) continue;
      CAIRN_ASSIGN_OR_RETURN(
          std::vector<internal::MetricPoint> points,
          LoadSortedPoints(session, run_keys[run_idx], key, *info,
                           start_step ? *start_step : kAllSteps[0],
                           end_step ? *end_step : kAllSteps[1]));
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
      for (size_t idx : picked) {
        const internal::MetricPoint& point = points[idx];
        out.push_back(
            RunMetric{run_id, Metric{std::string(key), point.value, point.timestamp, point.step}});
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace cairn::tracking
