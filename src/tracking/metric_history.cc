// Metric histories: one (run, key) series read from its packed blocks (metric_blocks.h),
// read whole for the caller to format, in MLflow's get-history order (time order:
// timestamp, step, value, is_nan); and MLflow's bulk-interval sampling for charts, in
// history order (step, timestamp, value, is_nan).

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

using Point = MetricHistoryPoints::Point;
using Range = MetricHistoryPoints::Range;

internal::MetricPoint AsStored(const Point& point) {
  return internal::MetricPoint{point.step, point.timestamp, point.value};
}

bool Less(const Point& a, const Point& b) { return internal::PointLess(AsStored(a), AsStored(b)); }

// History order, deciding on the step alone where it can.
struct StepOrder {
  bool operator()(const Point& a, const Point& b) const {
    return a.step < b.step || (a.step == b.step && Less(a, b));
  }
};

// Time order (MLflow's get-history), deciding on the timestamp alone where it can.
struct TimeOrder {
  bool operator()(const Point& a, const Point& b) const {
    return a.timestamp < b.timestamp ||
           (a.timestamp == b.timestamp && internal::TimeLess(AsStored(a), AsStored(b)));
  }
};

// Orders `history.points`, read block by block (each block's points, from block_starts[i]
// to the next start, are in history order: every write stores its points sorted so; in
// time order too, mostly, as a batch is usually stamped with one time or steps that
// increase with time), into `history.ranges` by `less`. When each block is in `less`
// order and the blocks' point ranges do not interleave — concurrent writers that each
// log their own steps, or batches that arrive out of order — ordering the blocks by
// their first point is enough (O(blocks log blocks) plus one linear check of every
// point, no copy). Otherwise the points of history positions [first, end) are selected
// and sorted (all points sorted when that is all of them; else O(points + page log page)).
// Two distinct stored points never compare equal in either order (both compare all of
// (step, timestamp, value, is_nan); only identical points tie, and a series stores those
// once), so the order is the same either way, and an unstable sort is enough. `ranges`
// then hold at least positions [first, end) (TrimRanges cuts them).
template <typename LessFn>
void OrderBlocks(MetricHistoryPoints& history, const std::vector<size_t>& block_starts,
                 size_t first, size_t end, LessFn less) {
  std::vector<Point>& points = history.points;
  std::vector<Range>& order = history.ranges;
  order.clear();
  for (size_t idx = 0; idx < block_starts.size(); ++idx) {
    size_t end = idx + 1 < block_starts.size() ? block_starts[idx + 1] : points.size();
    if (end > block_starts[idx]) order.push_back({block_starts[idx], end});
  }
  std::sort(order.begin(), order.end(), [&](const Range& a, const Range& b) {
    return less(points[a.begin], points[b.begin]);
  });
  // One linear check of every point against the one before it (within a block too).
  const Point* previous = nullptr;
  for (const Range& range : order) {
    for (size_t index = range.begin; index < range.end; ++index) {
      const Point& point = points[index];
      if (previous != nullptr && less(point, *previous)) {
        end = std::min(end, points.size());
        first = std::min(first, end);
        const auto begin = points.begin();
        if (first > 0) std::nth_element(begin, begin + first, points.end(), less);
        if (end < points.size()) std::nth_element(begin + first, begin + end, points.end(), less);
        std::sort(begin + first, begin + end, less);
        order.assign(1, {0, points.size()});
        return;
      }
      previous = &point;
    }
  }
}

// Appends the block's points with steps in [min_step, max_step] to `points`.
void AppendBlock(std::string_view data, int64_t count, int64_t min_step, int64_t max_step,
                 std::vector<Point>& points) {
  for (int64_t point_idx = 0; point_idx < count; ++point_idx) {
    internal::MetricPoint point = internal::DecodePoint(data, static_cast<size_t>(point_idx));
    if (point.step >= min_step && point.step <= max_step)
      points.push_back({point.step, point.timestamp, point.value});
  }
}

// The series' points with steps in [min_step, max_step], in history order (`ranges`), or
// in time order when `time_order`; only positions [first, end) of that order are sure to
// be in place.
absl::Status LoadHistoryPoints(SqlSession& session, int64_t run_key, std::string_view key,
                               const internal::SeriesInfo& info, int64_t min_step,
                               int64_t max_step, bool time_order, MetricHistoryPoints& history,
                               size_t first = 0,
                               size_t end = std::numeric_limits<size_t>::max()) {
  std::vector<Point>& points = history.points;
  points.clear();
  if (min_step == kAllSteps[0] && max_step == kAllSteps[1])
    points.reserve(static_cast<size_t>(info.point_count));
  std::vector<size_t> block_starts;  // where each block's points begin in `points`
  CAIRN_RETURN_IF_ERROR(internal::ForEachBlock(
      session, run_key, key, min_step, max_step, std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      [&](std::string_view data, int64_t count) -> absl::Status {
        block_starts.push_back(points.size());
        AppendBlock(data, count, min_step, max_step, points);
        return absl::OkStatus();
      }));
  if (time_order ? info.time_ordered : info.ordered) {
    history.ranges.assign(1, {0, points.size()});
  } else if (time_order) {
    OrderBlocks(history, block_starts, first, end, TimeOrder{});
  } else {
    OrderBlocks(history, block_starts, first, end, StepOrder{});
  }
  return absl::OkStatus();
}

// Keeps only history positions [first, end) in `history.ranges`.
void TrimRanges(MetricHistoryPoints& history, int64_t first, int64_t end) {
  std::vector<Range> kept;
  int64_t position = 0;
  for (const Range& range : history.ranges) {
    const int64_t size = static_cast<int64_t>(range.end - range.begin);
    const int64_t from = std::max(first, position);
    const int64_t to = std::min(end, position + size);
    if (from < to)
      kept.push_back({range.begin + static_cast<size_t>(from - position),
                      range.begin + static_cast<size_t>(to - position)});
    position += size;
    if (position >= end) break;
  }
  history.ranges = std::move(kept);
}

// The same, as one vector.
absl::StatusOr<std::vector<Point>> LoadSortedPoints(SqlSession& session, int64_t run_key,
                                                    std::string_view key,
                                                    const internal::SeriesInfo& info,
                                                    int64_t min_step, int64_t max_step) {
  MetricHistoryPoints history;
  CAIRN_RETURN_IF_ERROR(LoadHistoryPoints(session, run_key, key, info, min_step, max_step,
                                          /*time_order=*/false, history));
  if (history.ranges.size() == 1 && history.ranges[0].begin == 0) return std::move(history.points);
  std::vector<Point> points;
  points.reserve(history.points.size());
  for (const Range& range : history.ranges)
    points.insert(points.end(), history.points.begin() + static_cast<ptrdiff_t>(range.begin),
                  history.points.begin() + static_cast<ptrdiff_t>(range.end));
  return points;
}

}  // namespace

absl::StatusOr<MetricHistoryPoints> TrackingStore::ReadMetricHistory(
    std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
    std::string_view page_token, std::vector<Point> buffer) {
  // MLflow's handler checks max_results before its store reads the page token.
  if (max_results && *max_results <= 0)
    return absl::InvalidArgumentError(absl::StrCat("Invalid value ", *max_results,
                                                   " for parameter 'max_results' supplied. It "
                                                   "must be a positive integer."));  // MLflow's
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, internal::DecodeOffsetToken(page_token));
  MetricHistoryPoints history;
  history.points = std::move(buffer);
  history.points.clear();
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    history.points.clear();
    history.ranges.clear();
    history.next_page_token.clear();
    // As MLflow: the history of an unknown run is empty, not an error.
    absl::StatusOr<internal::RunKeys> keys_or = internal::RunStage(session, run_id);
    if (absl::IsNotFound(keys_or.status())) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(keys_or.status());
    const int64_t run_key = keys_or->run_key;
    CAIRN_ASSIGN_OR_RETURN(std::optional<internal::SeriesInfo> info,
                           internal::LoadSeries(session, run_key, key));
    if (!info || offset >= info->point_count) return absl::OkStatus();
    // Points [offset, end) of the history in time order, (timestamp, step, value, is_nan),
    // as MLflow's SQL store pages it (ORDER BY timestamp, step, value; OFFSET, LIMIT): the
    // page token is the offset into that order, the same order on every page.
    int64_t end = max_results ? std::min(info->point_count, offset + *max_results)
                              : info->point_count;
    if (end < info->point_count) history.next_page_token = internal::EncodeOffsetToken(end);
    if (info->time_ordered) {
      // The blocks in block_seq order are in history order (`ordered`), along which the
      // timestamps do not decrease; then history order is time order. Take points p
      // before q in history order: t(p) <= t(q). If t(p) < t(q), p is before q in time
      // order. If t(p) = t(q), time order compares (step, value, is_nan) next, and history
      // order compared (step, then the equal timestamps, then value, is_nan): the same
      // comparison, so p is before q there too. So the insertion positions are time-order
      // positions, and a page reads only the blocks holding [offset, end).
      history.points.reserve(static_cast<size_t>(end - offset));
      CAIRN_RETURN_IF_ERROR(internal::ForEachBlockAt(
          session, run_key, key, offset, end,
          [&](std::string_view data, int64_t count, int64_t position) -> absl::Status {
            const int64_t first = std::max(position, offset);
            const int64_t last = std::min(position + count, end);
            for (int64_t index = first; index < last; ++index) {
              internal::MetricPoint point =
                  internal::DecodePoint(data, static_cast<size_t>(index - position));
              history.points.push_back({point.step, point.timestamp, point.value});
            }
            return absl::OkStatus();
          }));
      history.ranges.assign(1, {0, history.points.size()});
      return absl::OkStatus();
    }
    // Steps logged out of time order (or a series last written before schema v4): all
    // points, ordered by time (usually by ordering whole blocks), then the page.
    CAIRN_RETURN_IF_ERROR(LoadHistoryPoints(
        session, run_key, key, *info, kAllSteps[0], kAllSteps[1], /*time_order=*/true, history,
        static_cast<size_t>(offset), static_cast<size_t>(end)));
    TrimRanges(history, offset, end);
    return absl::OkStatus();
  }));
  return history;
}

absl::Status TrackingStore::ScanMetricHistory(
    std::string_view run_id, std::string_view key, std::optional<int64_t> max_results,
    std::string_view page_token,
    absl::FunctionRef<void(double value, int64_t timestamp, int64_t step)> point_fn,
    std::string* next_page_token, const std::function<void(int64_t points)>& page_size_fn) {
  next_page_token->clear();
  CAIRN_ASSIGN_OR_RETURN(MetricHistoryPoints history,
                         ReadMetricHistory(run_id, key, max_results, page_token));
  *next_page_token = std::move(history.next_page_token);
  const size_t size = history.size();
  if (size == 0) return absl::OkStatus();
  if (page_size_fn) page_size_fn(static_cast<int64_t>(size));
  history.ForEach([&](const Point& point) { point_fn(point.value, point.timestamp, point.step); });
  return absl::OkStatus();
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
          std::vector<Point> points,
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
        const Point& point = points[idx];
        out.push_back(
            RunMetric{run_id, Metric{std::string(key), point.value, point.timestamp, point.step}});
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace cairn::tracking
