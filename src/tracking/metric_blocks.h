#pragma once
// Internal to the tracking library: metric points stored packed in blocks.
//
// A series is one (run_key, key). metric_series holds one row per series (point count,
// block count, the greatest (step, timestamp) stored, and whether the blocks read in
// block_seq order are already in history order); metric_blocks holds the points, one row
// per block, each block the points one write added to the series, packed as described
// in docs/formats/metric_blocks.md. A write appends ONE block per series it touches;
// the only block ever rewritten is a small last one that a small in-order write (up to
// 16 points, runs/log-metric) extends, up to 256 points.
//
// History order, the order of the points within a block, is (step, timestamp, value,
// is_nan) with a NaN compared as the value 0 (MLflow's SQL store keeps a NaN as 0 with
// is_nan set), see PointLess: the order of MLflow's get-history-bulk-interval. MLflow's
// metrics/get-history orders by (timestamp, step, value, is_nan) instead: time order,
// see TimeLess. The two agree on a series whose timestamps do not decrease along history
// order (SeriesInfo::time_ordered).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"
#include "tracking/types.h"

namespace cairn::tracking::internal {

// One stored point.
struct MetricPoint {
  int64_t step = 0;
  int64_t timestamp = 0;
  double value = 0;  // NaN and ±inf allowed
};

// Bytes per point in a block's data (step int64, timestamp int64, value float64, all
// little-endian).
inline constexpr size_t kMetricPointBytes = 24;

// History order: (step, timestamp, value, is_nan), a NaN value comparing as 0.
bool PointLess(const MetricPoint& a, const MetricPoint& b);
// Time order: (timestamp, step, value, is_nan), a NaN value comparing as 0.
bool TimeLess(const MetricPoint& a, const MetricPoint& b);
// Identical points (MLflow's primary key): same step, timestamp and value, NaN equal
// to NaN.
bool SamePoint(const MetricPoint& a, const MetricPoint& b);

// Appends `points` to `out` in the block layout (NaN written as the canonical quiet NaN).
void EncodePoints(std::span<const MetricPoint> points, std::string* out);
// The point at `index` of a block's data; the caller checks the size.
MetricPoint DecodePoint(std::string_view data, size_t index);
// Internal error unless `data` holds exactly `point_count` points.
absl::Status CheckBlockSize(std::string_view data, int64_t point_count);

// Appends the points of `metrics` (all of one run, any keys) to their series, one new
// block per key, keeping each series free of identical points: repeats within
// `metrics` and points already stored are dropped. Keys are processed in sorted order,
// and each series row is locked (upserted) before its blocks are read, so concurrent
// writers on PostgreSQL serialize per series without deadlocking each other.
absl::Status AppendMetricPoints(storage::SqlSession& session, int64_t run_key,
                                const std::vector<Metric>& metrics);

struct SeriesInfo {
  int64_t point_count = 0;
  bool ordered = true;  // blocks in block_seq order are in history order
  // `ordered`, and the timestamps do not decrease along history order, so that history
  // order is time order too: the blocks in block_seq order are in time order. False when
  // that is unknown (a series last written by a binary from before schema v4).
  bool time_ordered = true;
};
// The series' summary, or nullopt when nothing was logged to it.
absl::StatusOr<std::optional<SeriesInfo>> LoadSeries(storage::SqlSession& session,
                                                     int64_t run_key, std::string_view key);

// Calls `block_fn(data, point_count)` for the series' blocks in block_seq order whose
// steps may fall in [min_step, max_step] and whose timestamps may fall in
// [min_timestamp, max_timestamp] (INT64_MIN, INT64_MAX: every block). `data` is valid only
// during the call.
absl::Status ForEachBlock(
    storage::SqlSession& session, int64_t run_key, std::string_view key, int64_t min_step,
    int64_t max_step, int64_t min_timestamp, int64_t max_timestamp,
    absl::FunctionRef<absl::Status(std::string_view data, int64_t point_count)> block_fn);

// Calls `block_fn(data, point_count, first_index)` in block_seq order for the blocks
// holding insertion positions [first, end) of the series (first_index: the number of
// points stored before the block). For an ordered series insertion position is history
// position, so a page reads only its own blocks.
absl::Status ForEachBlockAt(
    storage::SqlSession& session, int64_t run_key, std::string_view key, int64_t first,
    int64_t end,
    absl::FunctionRef<absl::Status(std::string_view data, int64_t point_count,
                                   int64_t first_index)>
        block_fn);

}  // namespace cairn::tracking::internal
