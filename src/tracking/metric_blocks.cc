#include "tracking/metric_blocks.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "tracking/tracking_sql.h"

namespace cairn::tracking::internal {
namespace {

using storage::SqlBlob;
using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr uint64_t kCanonicalNanBits = 0x7ff8000000000000ULL;

// A write of at most kMergeMaxNewPoints points that all come after the series' end is
// merged into the last block while that stays within kMergeMaxBlockPoints, so that
// point-by-point logging (runs/log-metric in a training loop) does not leave one block
// row per point. Larger writes always get a block of their own.
constexpr int64_t kMergeMaxNewPoints = 16;
constexpr int64_t kMergeMaxBlockPoints = 256;

void PutU64(char* out, uint64_t value) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, &value, sizeof(value));
  } else {
    for (int byte_idx = 0; byte_idx < 8; ++byte_idx)
      out[byte_idx] = static_cast<char>(value >> (8 * byte_idx));
  }
}

uint64_t GetU64(const char* in) {
  uint64_t value = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&value, in, sizeof(value));
  } else {
    for (int byte_idx = 0; byte_idx < 8; ++byte_idx)
      value |= uint64_t{static_cast<unsigned char>(in[byte_idx])} << (8 * byte_idx);
  }
  return value;
}

// The value as the old metrics table compared it: NaN stored as 0 with is_nan = 1.
std::tuple<int64_t, int64_t, double, bool> OrderKey(const MetricPoint& point) {
  bool is_nan = std::isnan(point.value);
  return {point.step, point.timestamp, is_nan ? 0.0 : point.value, is_nan};
}

// (step, timestamp) strictly after the series' greatest (step, timestamp): such a point
// cannot be stored already.
bool After(const MetricPoint& point, int64_t max_step, int64_t max_timestamp) {
  return std::tie(point.step, point.timestamp) > std::tie(max_step, max_timestamp);
}

struct StoredSeries {
  int64_t point_count = 0;
  int64_t block_count = 0;
  int64_t max_step = 0;
  int64_t max_timestamp = 0;
  bool ordered = true;
  int64_t last_block_points = 0;
  int64_t top_timestamp = 0;   // the greatest timestamp of any stored point
  int64_t max_block_span = 0;  // the greatest max_timestamp - min_timestamp of a block
  // Points in (step, timestamp, value) order have non-decreasing timestamps (schema v4).
  bool time_ordered = true;
  // point_count when this writer last wrote max_block_span and time_ordered: they are
  // trusted only while it equals point_count (schema v4; -1 for older rows).
  int64_t verified_points = 0;
};

// a + b for b >= 0, INT64_MAX when that overflows.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max()
                                                     : a + b;
}

// high - low for high >= low, INT64_MAX when that overflows.
int64_t SaturatingSpan(int64_t low, int64_t high) {
  if (low < 0 && high > std::numeric_limits<int64_t>::max() + low)
    return std::numeric_limits<int64_t>::max();
  return high - low;
}

// The keys of one AppendMetricPoints call, in sorted order, with their points (sorted,
// repeat-free).
using KeyPoints = std::map<std::string, std::vector<MetricPoint>>;

// Creates the series rows of `keys` or locks the existing ones (the no-op update takes
// the row locks on PostgreSQL, in key order) and returns their states, in key order:
// one multi-row statement per chunk of keys.
absl::StatusOr<std::vector<StoredSeries>> LockSeries(SqlSession& session, int64_t run_key,
                                                     const KeyPoints& keys) {
  std::vector<const std::string*> names;
  names.reserve(keys.size());
  for (const auto& [key, points] : keys) names.push_back(&key);
  std::vector<StoredSeries> states(names.size());
  for (auto [begin, size] : RowChunks(names.size())) {
    std::string sql =
        "INSERT INTO metric_series (run_key, key, point_count, block_count, max_step, "
        "max_timestamp, ordered, last_block_points, top_timestamp, max_block_span, "
        "time_ordered, verified_points) VALUES ";
    std::vector<SqlValue> params;
    params.reserve(size + 1);
    params.emplace_back(run_key);
    for (size_t row = 0; row < size; ++row) {
      absl::StrAppend(&sql, row > 0 ? ", " : "", "($1, $", row + 2,
                      ", 0, 0, 0, 0, 1, 0, 0, 0, 1, 0)");
      params.emplace_back(*names[begin + row]);
    }
    sql +=
        " ON CONFLICT (run_key, key) DO UPDATE SET point_count = metric_series.point_count "
        "RETURNING key, point_count, block_count, max_step, max_timestamp, ordered, "
        "last_block_points, top_timestamp, max_block_span, time_ordered, verified_points";
    auto first = names.begin() + static_cast<ptrdiff_t>(begin);
    auto last = first + static_cast<ptrdiff_t>(size);
    size_t returned = 0;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(sql, params, [&](const SqlRowView& row) {
      std::string_view key = row.Text(0);
      auto it = std::lower_bound(first, last, key,
                                 [](const std::string* name, std::string_view wanted) {
                                   return *name < wanted;
                                 });
      if (it == last || **it != key)
        return absl::InternalError(absl::StrCat("metric series '", ToAbsl(key),
                                                "' returned for a key that was not written"));
      states[static_cast<size_t>(it - names.begin())] = {
          row.Int(1), row.Int(2), row.Int(3),      row.Int(4), row.Int(5) != 0,
          row.Int(6), row.Int(7), row.Int(8), row.Int(9) != 0, row.Int(10)};
      ++returned;
      return absl::OkStatus();
    }));
    if (returned != size)
      return absl::InternalError(absl::StrCat("locking ", size, " metric series returned ",
                                              returned, " rows"));
  }
  return states;
}

// Sorts `points` into history order and drops repeats.
void SortUnique(std::vector<MetricPoint>& points) {
  std::sort(points.begin(), points.end(), PointLess);
  points.erase(std::unique(points.begin(), points.end(), SamePoint), points.end());
}

// Reads the stored points of the series with steps in [min_step, max_step] from the
// blocks whose timestamps overlap [oldest, newest]. Such a block has max_timestamp in
// [oldest, newest + the series' widest block span], a range bounded on both sides on
// metric_blocks_run_time_idx (run_key, max_timestamp, key), so the blocks of an
// interleaved writer that are all newer than the checked points are not visited; the key
// is compared on the index entries. (`key || ''` keeps SQLite's planner, which has no
// statistics, from taking the primary key's (run_key, key) prefix, which would read every
// block of the series.)
absl::StatusOr<std::vector<MetricPoint>> StoredPointsIn(SqlSession& session, int64_t run_key,
                                                        const std::string& key,
                                                        const StoredSeries& series,
                                                        int64_t min_step, int64_t max_step,
                                                        int64_t oldest, int64_t newest) {
  const SqlValue params[] = {run_key, key,    min_step,
                             max_step, oldest, newest,
                             SaturatingAdd(newest, series.max_block_span)};
  std::vector<MetricPoint> stored;
  std::string scratch;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT point_count, data FROM metric_blocks WHERE run_key = $1 AND "
      "max_timestamp >= $5 AND max_timestamp <= $7 AND key || '' = $2 AND "
      "min_timestamp <= $6 AND max_step >= $3 AND min_step <= $4",
      params, [&](const SqlRowView& row) -> absl::Status {
        int64_t count = row.Int(0);
        std::string_view data = row.Blob(1, &scratch);
        CAIRN_RETURN_IF_ERROR(CheckBlockSize(data, count));
        for (int64_t point_idx = 0; point_idx < count; ++point_idx) {
          MetricPoint point = DecodePoint(data, static_cast<size_t>(point_idx));
          if (point.step >= min_step && point.step <= max_step) stored.push_back(point);
        }
        return absl::OkStatus();
      }));
  std::sort(stored.begin(), stored.end(), PointLess);
  return stored;
}

// What a series' blocks say about it, for a series whose max_block_span and time_ordered
// are not trusted (verified_points != point_count).
struct BlockScan {
  int64_t widest = 0;         // the greatest max_timestamp - min_timestamp (saturating)
  bool time_ordered = false;  // history order has non-decreasing timestamps
};

// Reads max_block_span and time_ordered back from the series' blocks. `ordered` is the
// series' flag (maintained by every version): only then is block_seq order history order,
// along which time order is checked; otherwise the series is not time ordered and only the
// blocks' timestamp ranges are read. Time order needs every block's min_timestamp at or
// after the previous block's max_timestamp (checked on the small columns first, so most
// out-of-order series are rejected without reading any data) and the timestamps inside
// each block not to decrease (one pass over the points).
absl::StatusOr<BlockScan> ScanBlocks(SqlSession& session, int64_t run_key,
                                     const std::string& key, bool ordered) {
  const SqlValue params[] = {run_key, key};
  BlockScan scan;
  scan.time_ordered = ordered;
  bool first_block = true;
  int64_t previous_max = 0;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT min_timestamp, max_timestamp FROM metric_blocks WHERE run_key = $1 AND "
      "key = $2 ORDER BY block_seq",
      params, [&](const SqlRowView& row) {
        const int64_t min_timestamp = row.Int(0);
        const int64_t max_timestamp = row.Int(1);
        scan.widest = std::max(scan.widest, SaturatingSpan(min_timestamp, max_timestamp));
        if (!first_block && min_timestamp < previous_max) scan.time_ordered = false;
        first_block = false;
        previous_max = max_timestamp;
        return absl::OkStatus();
      }));
  if (!scan.time_ordered) return scan;
  bool first_point = true;
  int64_t previous = 0;
  std::string scratch;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT point_count, data FROM metric_blocks WHERE run_key = $1 AND key = $2 "
      "ORDER BY block_seq",
      params, [&](const SqlRowView& row) -> absl::Status {
        const int64_t count = row.Int(0);
        std::string_view data = row.Blob(1, &scratch);
        CAIRN_RETURN_IF_ERROR(CheckBlockSize(data, count));
        for (int64_t point_idx = 0; scan.time_ordered && point_idx < count; ++point_idx) {
          const int64_t timestamp = DecodePoint(data, static_cast<size_t>(point_idx)).timestamp;
          if (!first_point && timestamp < previous) scan.time_ordered = false;
          first_point = false;
          previous = timestamp;
        }
        return absl::OkStatus();
      }));
  return scan;
}

// A block to insert.
struct NewBlock {
  const std::string* key = nullptr;
  int64_t block_seq = 0;
  int64_t point_count = 0;
  int64_t min_step = 0;
  int64_t max_step = 0;
  int64_t first_index = 0;
  SqlBlob data;
  int64_t max_timestamp = 0;
  int64_t min_timestamp = 0;
};

// The work of one series: its state after the write, and the block to insert (none when
// the points were merged into the last block or were all stored already).
struct SeriesWrite {
  const std::string* key = nullptr;
  StoredSeries updated;
};

// Drops from the sorted, repeat-free `points` those stored already in `series`, merges
// them into its last block (a small in-order write) or returns the block to insert, and
// sets `*updated` to the series' state after the write. Returns nullopt when nothing is
// left to insert as a block.
absl::StatusOr<std::optional<NewBlock>> PrepareSeries(SqlSession& session, int64_t run_key,
                                                      const std::string& key,
                                                      StoredSeries series,
                                                      std::vector<MetricPoint> points,
                                                      StoredSeries* updated) {
  if (series.point_count > 0 && series.verified_points != series.point_count) {
    // Written last by a writer that does not maintain max_block_span and time_ordered
    // (a row from before schema v4, or a binary from before v2 or v4 still running
    // during a rolling upgrade): both are read back from the blocks (their time ranges,
    // their points and the series' `ordered` are maintained by every version), once:
    // this write stores them with verified_points = point_count.
    CAIRN_ASSIGN_OR_RETURN(BlockScan scan, ScanBlocks(session, run_key, key, series.ordered));
    series.max_block_span = scan.widest;
    series.time_ordered = scan.time_ordered;
  }
  *updated = series;
  // A point may be stored already only when it is neither after the series' greatest
  // (step, timestamp) nor newer than its greatest timestamp. Clients stamp points with
  // the wall clock, so re-logged steps (a new epoch over steps 0..N) are new points found
  // without reading any block.
  auto maybe_stored = [&series](const MetricPoint& point) {
    return !After(point, series.max_step, series.max_timestamp) &&
           point.timestamp <= series.top_timestamp;
  };
  if (series.point_count > 0) {
    // Compare the possibly stored points with the stored points in their step range.
    std::vector<MetricPoint> candidates;
    for (const MetricPoint& point : points)
      if (maybe_stored(point)) candidates.push_back(point);
    if (!candidates.empty()) {
      int64_t min_step = candidates.front().step;
      int64_t max_step = candidates.back().step;  // candidates are sorted by step first
      int64_t oldest = candidates.front().timestamp;
      int64_t newest_candidate = oldest;
      for (const MetricPoint& point : candidates) {
        oldest = std::min(oldest, point.timestamp);
        newest_candidate = std::max(newest_candidate, point.timestamp);
      }
      CAIRN_ASSIGN_OR_RETURN(std::vector<MetricPoint> stored,
                             StoredPointsIn(session, run_key, key, series, min_step, max_step,
                                            oldest, newest_candidate));
      auto is_stored = [&](const MetricPoint& point) {
        if (!maybe_stored(point)) return false;
        auto it = std::lower_bound(stored.begin(), stored.end(), point, PointLess);
        // Equal in order but different points (-0.0 and 0.0) are still equal for the
        // old primary key, which SamePoint follows.
        return it != stored.end() && SamePoint(*it, point);
      };
      points.erase(std::remove_if(points.begin(), points.end(), is_stored), points.end());
    }
  }
  if (points.empty()) return std::nullopt;

  bool appended_in_order = series.point_count == 0 ||
                           After(points.front(), series.max_step, series.max_timestamp);
  updated->point_count += static_cast<int64_t>(points.size());
  updated->ordered = series.ordered && appended_in_order;
  // Time order survives a write whose points all come after the stored ones in history
  // order (they are appended at its end) with timestamps that do not decrease along it,
  // starting at or after the last stored point's (max_timestamp).
  bool time_ordered = updated->ordered && (series.point_count == 0 || series.time_ordered);
  if (time_ordered && series.point_count > 0 && points.front().timestamp < series.max_timestamp)
    time_ordered = false;
  for (size_t idx = 1; time_ordered && idx < points.size(); ++idx)
    if (points[idx].timestamp < points[idx - 1].timestamp) time_ordered = false;
  updated->time_ordered = time_ordered;
  const MetricPoint* greatest = &points.front();
  for (const MetricPoint& point : points)
    if (std::tie(point.step, point.timestamp) > std::tie(greatest->step, greatest->timestamp))
      greatest = &point;
  if (series.point_count == 0 ||
      After(*greatest, series.max_step, series.max_timestamp)) {
    updated->max_step = greatest->step;
    updated->max_timestamp = greatest->timestamp;
  }
  int64_t newest = points.front().timestamp;
  int64_t oldest_new = newest;
  for (const MetricPoint& point : points) {
    newest = std::max(newest, point.timestamp);
    oldest_new = std::min(oldest_new, point.timestamp);
  }
  updated->top_timestamp =
      series.point_count == 0 ? newest : std::max(series.top_timestamp, newest);
  const int64_t new_points = static_cast<int64_t>(points.size());
  bool merge = series.point_count > 0 && appended_in_order && new_points <= kMergeMaxNewPoints &&
               series.last_block_points + new_points <= kMergeMaxBlockPoints;
  if (merge) {
    // The new points sort after every stored one, so the last block stays sorted.
    const int64_t last_seq = series.block_count - 1;
    const SqlValue last[] = {run_key, key, last_seq};
    SqlBlob data;
    int64_t stored_points = -1;
    int64_t block_min_timestamp = 0;
    int64_t block_max_timestamp = 0;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT point_count, data, min_timestamp, max_timestamp FROM metric_blocks WHERE "
        "run_key = $1 AND key = $2 AND block_seq = $3",
        last, [&](const SqlRowView& row) -> absl::Status {
          std::string scratch;
          std::string_view bytes = row.Blob(1, &scratch);
          stored_points = row.Int(0);
          CAIRN_RETURN_IF_ERROR(CheckBlockSize(bytes, stored_points));
          data.bytes.reserve(bytes.size() + points.size() * kMetricPointBytes);
          data.bytes.assign(bytes.data(), bytes.size());
          block_min_timestamp = std::min(row.Int(2), oldest_new);
          block_max_timestamp = std::max(row.Int(3), newest);
          return absl::OkStatus();
        }));
    if (stored_points < 0)
      return absl::InternalError(absl::StrCat("metric block ", last_seq, " of series '", key,
                                              "' is missing"));
    EncodePoints(points, &data.bytes);
    updated->last_block_points = stored_points + new_points;
    updated->max_block_span = std::max(
        series.max_block_span, SaturatingSpan(block_min_timestamp, block_max_timestamp));
    const SqlValue block[] = {run_key,
                              key,
                              last_seq,
                              updated->last_block_points,
                              points.back().step,
                              std::move(data),
                              block_max_timestamp,
                              block_min_timestamp};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE metric_blocks SET point_count = $4, max_step = $5, data = $6, "
                     "max_timestamp = $7, min_timestamp = $8 WHERE run_key = $1 AND key = $2 "
                     "AND block_seq = $3",
                     block)
            .status());
    return std::nullopt;
  }
  NewBlock block;
  block.key = &key;
  block.block_seq = series.block_count;
  block.point_count = new_points;
  block.min_step = points.front().step;
  block.max_step = points.back().step;
  block.first_index = series.point_count;
  EncodePoints(points, &block.data.bytes);
  block.max_timestamp = newest;
  block.min_timestamp = oldest_new;
  updated->block_count += 1;
  updated->last_block_points = new_points;
  updated->max_block_span =
      std::max(series.max_block_span, SaturatingSpan(oldest_new, newest));
  return block;
}

// Inserts `blocks` (all of `run_key`), one multi-row statement per chunk.
absl::Status InsertBlocks(SqlSession& session, int64_t run_key, std::vector<NewBlock>& blocks) {
  constexpr int kColumns = 9;  // after the shared run_key ($1)
  for (auto [begin, size] : RowChunks(blocks.size())) {
    std::string sql =
        "INSERT INTO metric_blocks (run_key, key, block_seq, point_count, min_step, max_step, "
        "first_index, data, max_timestamp, min_timestamp) VALUES ";
    std::vector<SqlValue> params;
    params.reserve(1 + size * kColumns);
    params.emplace_back(run_key);
    for (size_t row = 0; row < size; ++row) {
      NewBlock& block = blocks[begin + row];
      absl::StrAppend(&sql, row > 0 ? ", ($1, " : "($1, ");
      AppendPlaceholders(static_cast<int>(2 + row * kColumns), kColumns, &sql);
      sql += ")";
      params.emplace_back(*block.key);
      params.emplace_back(block.block_seq);
      params.emplace_back(block.point_count);
      params.emplace_back(block.min_step);
      params.emplace_back(block.max_step);
      params.emplace_back(block.first_index);
      params.emplace_back(std::move(block.data));
      params.emplace_back(block.max_timestamp);
      params.emplace_back(block.min_timestamp);
    }
    CAIRN_RETURN_IF_ERROR(session.Execute(sql, params).status());
  }
  return absl::OkStatus();
}

// Writes the new states of the series (all rows exist: LockSeries created them), one
// multi-row statement per chunk.
absl::Status UpdateSeries(SqlSession& session, int64_t run_key,
                          const std::vector<SeriesWrite>& writes) {
  constexpr int kColumns = 11;  // after the shared run_key ($1)
  for (auto [begin, size] : RowChunks(writes.size())) {
    std::string sql =
        "INSERT INTO metric_series (run_key, key, point_count, block_count, max_step, "
        "max_timestamp, ordered, last_block_points, top_timestamp, max_block_span, "
        "time_ordered, verified_points) VALUES ";
    std::vector<SqlValue> params;
    params.reserve(1 + size * kColumns);
    params.emplace_back(run_key);
    for (size_t row = 0; row < size; ++row) {
      const SeriesWrite& write = writes[begin + row];
      absl::StrAppend(&sql, row > 0 ? ", ($1, " : "($1, ");
      AppendPlaceholders(static_cast<int>(2 + row * kColumns), kColumns, &sql);
      sql += ")";
      const StoredSeries& state = write.updated;
      params.emplace_back(*write.key);
      params.emplace_back(state.point_count);
      params.emplace_back(state.block_count);
      params.emplace_back(state.max_step);
      params.emplace_back(state.max_timestamp);
      params.emplace_back(int64_t{state.ordered ? 1 : 0});
      params.emplace_back(state.last_block_points);
      params.emplace_back(state.top_timestamp);
      params.emplace_back(state.max_block_span);
      params.emplace_back(int64_t{state.time_ordered ? 1 : 0});
      params.emplace_back(state.point_count);  // verified_points: all written by this code
    }
    sql +=
        " ON CONFLICT (run_key, key) DO UPDATE SET point_count = excluded.point_count, "
        "block_count = excluded.block_count, max_step = excluded.max_step, max_timestamp = "
        "excluded.max_timestamp, ordered = excluded.ordered, last_block_points = "
        "excluded.last_block_points, top_timestamp = excluded.top_timestamp, max_block_span = "
        "excluded.max_block_span, time_ordered = excluded.time_ordered, verified_points = "
        "excluded.verified_points";
    CAIRN_RETURN_IF_ERROR(session.Execute(sql, params).status());
  }
  return absl::OkStatus();
}

}  // namespace

bool PointLess(const MetricPoint& a, const MetricPoint& b) { return OrderKey(a) < OrderKey(b); }

bool TimeLess(const MetricPoint& a, const MetricPoint& b) {
  if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
  return OrderKey(a) < OrderKey(b);  // then (step, value, is_nan)
}

bool SamePoint(const MetricPoint& a, const MetricPoint& b) {
  if (a.step != b.step || a.timestamp != b.timestamp) return false;
  bool a_nan = std::isnan(a.value);
  bool b_nan = std::isnan(b.value);
  return a_nan == b_nan && (a_nan || a.value == b.value);
}

void EncodePoints(std::span<const MetricPoint> points, std::string* out) {
  size_t begin = out->size();
  out->resize(begin + points.size() * kMetricPointBytes);
  char* cursor = out->data() + begin;
  for (const MetricPoint& point : points) {
    uint64_t value_bits = std::isnan(point.value) ? kCanonicalNanBits
                                                  : std::bit_cast<uint64_t>(point.value);
    PutU64(cursor, static_cast<uint64_t>(point.step));
    PutU64(cursor + 8, static_cast<uint64_t>(point.timestamp));
    PutU64(cursor + 16, value_bits);
    cursor += kMetricPointBytes;
  }
}

MetricPoint DecodePoint(std::string_view data, size_t index) {
  const char* in = data.data() + index * kMetricPointBytes;
  return MetricPoint{static_cast<int64_t>(GetU64(in)), static_cast<int64_t>(GetU64(in + 8)),
                     std::bit_cast<double>(GetU64(in + 16))};
}

absl::Status CheckBlockSize(std::string_view data, int64_t point_count) {
  if (point_count < 0 || data.size() != static_cast<size_t>(point_count) * kMetricPointBytes)
    return absl::InternalError(absl::StrCat("metric block of ", data.size(),
                                            " bytes does not hold ", point_count, " points"));
  return absl::OkStatus();
}

absl::Status AppendMetricPoints(SqlSession& session, int64_t run_key,
                                const std::vector<Metric>& metrics) {
  KeyPoints by_key;
  for (const Metric& metric : metrics) {
    // -0.0 is stored as 0 (as SQLite's REAL column did): one spelling per point.
    double value = metric.value == 0 ? 0.0 : metric.value;
    by_key[metric.key].push_back(MetricPoint{metric.step, metric.timestamp, value});
  }
  if (by_key.empty()) return absl::OkStatus();
  // Statements per write: the series rows locked together, a duplicate check only for
  // series whose points may be stored already, the new blocks and the series' new states
  // written together (multi-row statements), so a 1,000-point batch over 20 keys runs a
  // handful of statements, not ~4 per key.
  CAIRN_ASSIGN_OR_RETURN(std::vector<StoredSeries> states, LockSeries(session, run_key, by_key));
  std::vector<NewBlock> blocks;
  std::vector<SeriesWrite> writes;
  size_t key_idx = 0;
  for (auto& [key, points] : by_key) {
    const StoredSeries& series = states[key_idx++];
    SortUnique(points);
    StoredSeries updated;
    CAIRN_ASSIGN_OR_RETURN(
        std::optional<NewBlock> block,
        PrepareSeries(session, run_key, key, series, std::move(points), &updated));
    if (block) blocks.push_back(std::move(*block));
    // A series verified by this write is written even when no point was new, so that
    // the blocks are not scanned again.
    const bool verified_now =
        series.point_count > 0 && series.verified_points != series.point_count;
    if (updated.point_count != series.point_count || verified_now)
      writes.push_back({&key, updated});
  }
  CAIRN_RETURN_IF_ERROR(InsertBlocks(session, run_key, blocks));
  return UpdateSeries(session, run_key, writes);
}

absl::StatusOr<std::optional<SeriesInfo>> LoadSeries(SqlSession& session, int64_t run_key,
                                                     std::string_view key) {
  const SqlValue params[] = {run_key, std::string(key)};
  std::optional<SeriesInfo> info;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT point_count, ordered, time_ordered, verified_points FROM metric_series WHERE "
      "run_key = $1 AND key = $2",
      params, [&](const SqlRowView& row) {
        const int64_t point_count = row.Int(0);
        const bool ordered = row.Int(1) != 0;
        info = SeriesInfo{point_count, ordered,
                          ordered && row.Int(2) != 0 && row.Int(3) == point_count};
        return absl::OkStatus();
      }));
  return info;
}

absl::Status ForEachBlock(
    SqlSession& session, int64_t run_key, std::string_view key, int64_t min_step,
    int64_t max_step, int64_t min_timestamp, int64_t max_timestamp,
    absl::FunctionRef<absl::Status(std::string_view data, int64_t point_count)> block_fn) {
  const SqlValue params[] = {run_key,  std::string(key), min_step,
                             max_step, min_timestamp,    max_timestamp};
  std::string scratch;
  return session.QueryEach(
      // `+max_timestamp`: read through the primary key (the series' blocks, in block_seq
      // order), not through metric_blocks_run_time_idx (every block of the run, sorted).
      "SELECT point_count, data FROM metric_blocks WHERE run_key = $1 AND key = $2 AND "
      "+max_timestamp >= $5 AND min_timestamp <= $6 AND max_step >= $3 AND min_step <= $4 "
      "ORDER BY block_seq",
      params, [&](const SqlRowView& row) -> absl::Status {
        int64_t count = row.Int(0);
        std::string_view data = row.Blob(1, &scratch);
        CAIRN_RETURN_IF_ERROR(CheckBlockSize(data, count));
        return block_fn(data, count);
      });
}

absl::Status ForEachBlockAt(
    SqlSession& session, int64_t run_key, std::string_view key, int64_t first, int64_t end,
    absl::FunctionRef<absl::Status(std::string_view data, int64_t point_count,
                                   int64_t first_index)>
        block_fn) {
  const SqlValue params[] = {run_key, std::string(key), first, end};
  std::string scratch;
  return session.QueryEach(
      "SELECT point_count, first_index, data FROM metric_blocks WHERE run_key = $1 AND key = $2 "
      "AND first_index + point_count > $3 AND first_index < $4 ORDER BY block_seq",
      params, [&](const SqlRowView& row) -> absl::Status {
        int64_t count = row.Int(0);
        std::string_view data = row.Blob(2, &scratch);
        CAIRN_RETURN_IF_ERROR(CheckBlockSize(data, count));
        return block_fn(data, count, row.Int(1));
      });
}

}  // namespace cairn::tracking::internal
