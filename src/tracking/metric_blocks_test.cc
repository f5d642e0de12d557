// The metric write path (metric_blocks.cc) through TrackingStore, on SQLite and (when
// CAIRN_TEST_POSTGRES_URL is set) PostgreSQL: the duplicate check's bounded range, the
// statements a log-batch runs, a database written by schema version 1 migrated to
// versions 2 to 4 (max_block_span, metric_blocks_run_time_idx, time_ordered and
// verified_points) answering as before, a writer that does not maintain the version 2 and
// 4 columns (a rolling upgrade), and get-history's time order against a reference sort.

#include "tracking/metric_blocks.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/migrations.h"
#include "storage/testing/test_databases.h"
#include "tracking/tracking_sql.h"
#include "tracking/tracking_store.h"

namespace cairn::tracking {
namespace {

using storage::Database;
using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;
using Point = std::tuple<int64_t, int64_t, double>;  // step, timestamp, value

constexpr char kDropTracking[] =
    "DROP TABLE IF EXISTS tracking_counters; DROP TABLE IF EXISTS experiments;"
    "DROP TABLE IF EXISTS experiment_tags; DROP TABLE IF EXISTS runs;"
    "DROP TABLE IF EXISTS params; DROP TABLE IF EXISTS tags;"
    "DROP TABLE IF EXISTS latest_metrics; DROP TABLE IF EXISTS metric_series;"
    "DROP TABLE IF EXISTS metric_blocks;"
    "DROP TABLE IF EXISTS datasets; DROP TABLE IF EXISTS run_inputs;"
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER "
    "NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, "
    "version));"
    "DELETE FROM schema_migrations WHERE component = 'tracking'";

// Counts the statements that Write bodies run (QueryEach and Execute), forwarding to the
// real database.
class CountingDatabase : public Database {
 public:
  explicit CountingDatabase(Database& db) : db_(db) {}
  storage::Dialect dialect() const override { return db_.dialect(); }
  absl::Status Write(const std::function<absl::Status(SqlSession&)>& fn) override {
    return db_.Write([&](SqlSession& session) {
      Session counting(session, &write_statements_);
      return fn(counting);
    });
  }
  absl::Status Read(const std::function<absl::Status(SqlSession&)>& fn) override {
    return db_.Read(fn);
  }
  int64_t write_statements() const { return write_statements_.load(); }

 private:
  class Session : public SqlSession {
   public:
    Session(SqlSession& inner, std::atomic<int64_t>* count) : inner_(inner), count_(count) {}
    absl::Status QueryEach(std::string_view sql, std::span<const SqlValue> params,
                           absl::FunctionRef<absl::Status(const SqlRowView&)> row_fn) override {
      count_->fetch_add(1);
      return inner_.QueryEach(sql, params, row_fn);
    }
    absl::StatusOr<int64_t> Execute(std::string_view sql,
                                    std::span<const SqlValue> params) override {
      count_->fetch_add(1);
      return inner_.Execute(sql, params);
    }
    absl::Status ExecuteScript(std::string_view sql) override {
      return inner_.ExecuteScript(sql);
    }

   private:
    SqlSession& inner_;
    std::atomic<int64_t>* count_;
  };

  Database& db_;
  std::atomic<int64_t> write_statements_{0};
};

std::filesystem::path FreshTempDir() {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-metric-blocks-test-", ::getpid(), "-", counter.fetch_add(1),
                          "-", std::random_device{}());
  std::filesystem::create_directories(dir);
  return dir;
}

class MetricBlocksTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == "sqlite") {
      dir_ = FreshTempDir();
      url = (dir_ / "tracking.db").string();
    } else {
      CAIRN_REQUIRE_POSTGRES();
      url = storage::test_support::PrivatePostgresUrl();
    }
    auto db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](SqlSession& s) { return s.ExecuteScript(kDropTracking); }).ok());
    counting_ = std::make_unique<CountingDatabase>(*db_);
  }
  void TearDown() override {
    store_.reset();
    counting_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void OpenStore() {
    auto store = TrackingStore::Open(*counting_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string NewRun() {
    CreateRunRequest request;
    request.experiment_id = "0";
    request.user_id = "alice";
    auto run = store_->CreateRun(request);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->info.run_id : "";
  }

  std::vector<Point> History(const std::string& run_id, const std::string& key) {
    std::vector<Point> out;
    std::string next;
    absl::Status status = store_->ScanMetricHistory(
        run_id, key, std::nullopt, "",
        [&](double value, int64_t timestamp, int64_t step) {
          out.emplace_back(step, timestamp, value);
        },
        &next);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(next, "");
    return out;
  }

  int64_t Int(const std::string& sql, std::vector<SqlValue> params = {}) {
    int64_t value = -1;
    absl::Status status = db_->Read([&](SqlSession& session) {
      return session.QueryEach(sql, params, [&](const SqlRowView& row) {
        value = row.Int(0);
        return absl::OkStatus();
      });
    });
    EXPECT_TRUE(status.ok()) << status;
    return value;
  }

  std::filesystem::path dir_;
  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<Database> db_;
  std::unique_ptr<CountingDatabase> counting_;
  std::unique_ptr<TrackingStore> store_;
};

// The benchmark's request: 1,000 points, 20 keys × 50 steps, one timestamp.
std::vector<Metric> BenchBatch(int64_t timestamp) {
  std::vector<Metric> batch;
  for (int index = 0; index < 1000; ++index)
    batch.push_back({absl::StrCat("m", index % 20), ((index * 7919) % 1000) / 1000.0, timestamp,
                     index / 20});
  return batch;
}

TEST_P(MetricBlocksTest, LogBatchOfTwentyKeysRunsAFewStatements) {
  OpenStore();
  std::string run_id = NewRun();
  // First write (creates the series), then a write whose points are all new, then one
  // with older timestamps that needs the duplicate check of every key.
  for (int64_t timestamp : {2'000, 3'000, 1'000}) {
    int64_t before = counting_->write_statements();
    ASSERT_TRUE(store_->LogBatch(run_id, BenchBatch(timestamp), {}, {}).ok());
    int64_t statements = counting_->write_statements() - before;
    // The run check, the series locked (16 + 4 keys: 2 statements), the blocks inserted
    // (2), the series updated (2), latest_metrics (2); plus one duplicate check per key
    // for the batch with the older timestamps. The write path used to run ≈ 100.
    EXPECT_LE(statements, timestamp == 1'000 ? 9 + 20 : 9) << "timestamp " << timestamp;
  }
  std::vector<Point> history = History(run_id, "m3");
  ASSERT_EQ(history.size(), 150u);
  // Time order: the batch stamped 1,000 (written last) first.
  EXPECT_EQ(history[0], Point(0, 1'000, ((3 * 7919) % 1000) / 1000.0));
  EXPECT_EQ(history[1], Point(1, 1'000, ((23 * 7919) % 1000) / 1000.0));
  EXPECT_EQ(history[50], Point(0, 2'000, ((3 * 7919) % 1000) / 1000.0));
  EXPECT_EQ(history[149], Point(49, 3'000, ((983 * 7919) % 1000) / 1000.0));
  // The same batch again stores nothing.
  ASSERT_TRUE(store_->LogBatch(run_id, BenchBatch(1'000), {}, {}).ok());
  EXPECT_EQ(History(run_id, "m3").size(), 150u);
  auto run = store_->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->metrics.size(), 20u);
  for (const Metric& metric : run->metrics) {
    EXPECT_EQ(metric.step, 49) << metric.key;
    EXPECT_EQ(metric.timestamp, 3'000) << metric.key;
  }
}

TEST_P(MetricBlocksTest, DuplicateCheckFindsPointsInsideWideBlocks) {
  OpenStore();
  std::string run_id = NewRun();
  // One block spanning timestamps 100..1000, then blocks of other writers, all newer.
  std::vector<Metric> wide;
  for (int step = 0; step < 10; ++step) wide.push_back({"m", step * 1.0, 100 + step * 100, step});
  ASSERT_TRUE(store_->LogBatch(run_id, wide, {}, {}).ok());
  for (int64_t timestamp = 5'000; timestamp < 5'020; ++timestamp) {
    std::vector<Metric> other;
    for (int step = 0; step < 10; ++step) other.push_back({"m", -1.0, timestamp, step});
    ASSERT_TRUE(store_->LogBatch(run_id, other, {}, {}).ok());
  }
  // Step 3 at timestamp 400 is inside the wide block (its max_timestamp is 1000, so the
  // check's range must reach 600 past the point): the identical point is dropped, a new
  // value at the same step and timestamp is kept.
  std::vector<Metric> again = {{"m", 3.0, 400, 3}, {"m", 33.0, 400, 3}};
  ASSERT_TRUE(store_->LogBatch(run_id, again, {}, {}).ok());
  // Point-by-point logging grows the last block's span through merges.
  std::string merged_run = NewRun();
  for (int step = 0; step < 40; ++step)
    ASSERT_TRUE(store_->LogMetric(merged_run, {"n", step * 2.0, 10 + step * 10, step}).ok());
  ASSERT_TRUE(store_->LogBatch(merged_run, {{"n", -5.0, 9'000, 100}}, {}, {}).ok());
  ASSERT_TRUE(store_->LogMetric(merged_run, {"n", 2.0, 20, 1}).ok());  // stored: dropped
  ASSERT_TRUE(store_->LogMetric(merged_run, {"n", 7.0, 20, 1}).ok());  // new value: kept

  std::vector<Point> history = History(run_id, "m");
  ASSERT_EQ(history.size(), 10u + 20u * 10u + 1u);
  int at_step3_400 = 0;
  for (const Point& point : history)
    if (std::get<0>(point) == 3 && std::get<1>(point) == 400) ++at_step3_400;
  EXPECT_EQ(at_step3_400, 2);
  std::vector<Point> merged = History(merged_run, "n");
  ASSERT_EQ(merged.size(), 42u);
  EXPECT_EQ(merged[1], Point(1, 20, 2.0));
  EXPECT_EQ(merged[2], Point(1, 20, 7.0));
  EXPECT_EQ(merged.back(), Point(100, 9'000, -5.0));
}

TEST_P(MetricBlocksTest, VersionOneDatabaseMigratesAndAnswersAsBefore) {
  // A database at schema version 1, written as the old code wrote it: one series with
  // two blocks, the first spanning timestamps 100..900.
  ASSERT_TRUE(
      storage::ApplyMigrations(*db_, "tracking", internal::TrackingMigrations().first(1)).ok());
  const std::string run_id = "0123456789abcdef0123456789abcdef";
  std::vector<internal::MetricPoint> first = {{0, 100, 0.5}, {1, 900, 0.25}, {2, 500, NAN}};
  std::vector<internal::MetricPoint> second = {{3, 2'000, 1.5}, {4, 2'000, -INFINITY}};
  storage::SqlBlob first_data;
  storage::SqlBlob second_data;
  internal::EncodePoints(first, &first_data.bytes);
  internal::EncodePoints(second, &second_data.bytes);
  absl::Status written = db_->Write([&](SqlSession& session) -> absl::Status {
    const SqlValue run[] = {run_id};
    auto status = session.Execute(
        "INSERT INTO runs (run_uuid, run_key, name, experiment_id, user_id, status, "
        "start_time, artifact_uri, lifecycle_stage) VALUES ($1, 7, 'old', 0, 'alice', "
        "'RUNNING', 1, 'file:///tmp/x', 'active')",
        run);
    if (!status.ok()) return status.status();
    const SqlValue blocks[] = {first_data, second_data};
    status = session.Execute(
        "INSERT INTO metric_blocks (run_key, key, block_seq, point_count, min_step, "
        "max_step, first_index, min_timestamp, max_timestamp, data) VALUES "
        "(7, 'loss', 0, 3, 0, 2, 0, 100, 900, $1), (7, 'loss', 1, 2, 3, 4, 3, 2000, 2000, $2)",
        blocks);
    if (!status.ok()) return status.status();
    status = session.Execute(
        "INSERT INTO metric_series (run_key, key, point_count, block_count, max_step, "
        "max_timestamp, ordered, last_block_points, top_timestamp) VALUES "
        "(7, 'loss', 5, 2, 4, 2000, 1, 2, 2000)");
    if (!status.ok()) return status.status();
    const SqlValue latest[] = {run_id, -INFINITY};
    status = session.Execute(
        "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES "
        "($1, 'loss', $2, 2000, 4, 0)",
        latest);
    return status.status();
  });
  ASSERT_TRUE(written.ok()) << written;
  OpenStore();  // applies versions 2 to 4
  EXPECT_EQ(Int("SELECT max_block_span FROM metric_series WHERE run_key = 7 AND key = 'loss'"),
            800);
  EXPECT_EQ(Int("SELECT MAX(version) FROM schema_migrations WHERE component = 'tracking'"), 4);
  // Version 4: not verified, so not trusted to be in time order.
  EXPECT_EQ(Int("SELECT verified_points FROM metric_series WHERE run_key = 7"), -1);
  // The duplicate check's index is (run_key, max_timestamp, key) now.
  const std::string index_count =
      GetParam() == "sqlite"
          ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = $1"
          : "SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1";
  EXPECT_EQ(Int(index_count, {std::string("metric_blocks_run_time_idx")}), 1);
  EXPECT_EQ(Int(index_count, {std::string("metric_blocks_newest_idx")}), 0);

  // get-history's time order: (2, 500) before (1, 900), though ordered = 1.
  auto expect_history = [&](size_t extra) {
    std::vector<Point> history = History(run_id, "loss");
    ASSERT_EQ(history.size(), 5u + extra);
    EXPECT_EQ(history[0], Point(0, 100, 0.5));
    EXPECT_EQ(std::get<0>(history[1]), 2);
    EXPECT_TRUE(std::isnan(std::get<2>(history[1])));
    EXPECT_EQ(history[2 + extra], Point(1, 900, 0.25));
    EXPECT_EQ(history[3 + extra], Point(3, 2'000, 1.5));
    EXPECT_EQ(history[4 + extra], Point(4, 2'000, -INFINITY));
  };
  expect_history(0);
  // Re-logging the stored point (1, 900) — inside the old wide block, whose span the
  // migration recorded — stores nothing; (2, 600) is new.
  ASSERT_TRUE(store_->LogBatch(run_id, {{"loss", 0.25, 900, 1}, {"loss", 0.75, 600, 2}}, {}, {})
                  .ok());
  ASSERT_TRUE(store_->LogMetric(run_id, {"loss", 0.5, 100, 0}).ok());
  expect_history(1);
  std::vector<Point> history = History(run_id, "loss");
  EXPECT_EQ(history[2], Point(2, 600, 0.75));
  // The write verified the series: the span read back from the blocks, not time ordered.
  EXPECT_EQ(Int("SELECT verified_points FROM metric_series WHERE run_key = 7"), 6);
  EXPECT_EQ(Int("SELECT max_block_span FROM metric_series WHERE run_key = 7"), 800);
  EXPECT_EQ(Int("SELECT time_ordered FROM metric_series WHERE run_key = 7"), 0);
  auto run = store_->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->metrics.size(), 1u);
  EXPECT_EQ(run->metrics[0].step, 4);
  EXPECT_EQ(run->metrics[0].value, -INFINITY);
}

TEST_P(MetricBlocksTest, SpansSaturateInsteadOfOverflowing) {
  OpenStore();
  std::string run_id = NewRun();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // One block spanning every valid timestamp: the check's upper bound (newest + span)
  // saturates at INT64_MAX.
  ASSERT_TRUE(store_->LogBatch(run_id, {{"t", 1.0, 0, 0}, {"t", 2.0, kMax, 1}}, {}, {}).ok());
  ASSERT_TRUE(store_->LogBatch(run_id, {{"t", 1.0, 0, 0}, {"t", 3.0, 5, 0}}, {}, {}).ok());
  ASSERT_TRUE(store_->LogBatch(run_id, {{"t", 2.0, kMax, 1}}, {}, {}).ok());
  std::vector<Point> history = History(run_id, "t");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0], Point(0, 0, 1.0));
  EXPECT_EQ(history[1], Point(0, 5, 3.0));
  EXPECT_EQ(history[2], Point(1, kMax, 2.0));
}

// A binary that does not maintain max_block_span (before schema v2) nor time_ordered and
// verified_points (before v4), still running during a rolling upgrade while this one
// migrated the database, appends a wide block written out of time order, and updates the
// series row with the columns it knows. This binary then neither trusts the stale span
// (the duplicate check would miss the wide block and store a point twice) nor the stale
// time order (get-history would come back in step order).
TEST_P(MetricBlocksTest, WriterOfAnOlderVersionLeavesTheSeriesUnverified) {
  OpenStore();
  std::string run_id = NewRun();
  std::vector<Metric> first;
  for (int step = 0; step < 10; ++step) first.push_back({"m", 1.0 * step, 1'000 + step, step});
  ASSERT_TRUE(store_->LogBatch(run_id, first, {}, {}).ok());
  const std::string series = "FROM metric_series WHERE key = 'm'";
  EXPECT_EQ(Int("SELECT time_ordered " + series), 1);
  EXPECT_EQ(Int("SELECT verified_points " + series), 10);
  EXPECT_EQ(Int("SELECT max_block_span " + series), 9);
  // The older writer: steps 10..12 stamped 5000, 100, 9000 (history order, as every
  // version stores a block), then its series upsert.
  std::vector<internal::MetricPoint> old_points = {{10, 5'000, 10.0}, {11, 100, 11.0},
                                                   {12, 9'000, 12.0}};
  storage::SqlBlob data;
  internal::EncodePoints(old_points, &data.bytes);
  const int64_t run_key = Int("SELECT run_key " + series);
  absl::Status written = db_->Write([&](SqlSession& session) -> absl::Status {
    const SqlValue block[] = {run_key, data};
    auto status = session.Execute(
        "INSERT INTO metric_blocks (run_key, key, block_seq, point_count, min_step, "
        "max_step, first_index, min_timestamp, max_timestamp, data) VALUES "
        "($1, 'm', 1, 3, 10, 12, 10, 100, 9000, $2)",
        block);
    if (!status.ok()) return status.status();
    const SqlValue row[] = {run_key};
    return session
        .Execute(
            "INSERT INTO metric_series (run_key, key, point_count, block_count, max_step, "
            "max_timestamp, ordered, last_block_points, top_timestamp) VALUES "
            "($1, 'm', 13, 2, 12, 9000, 1, 3, 9000) ON CONFLICT (run_key, key) DO UPDATE SET "
            "point_count = excluded.point_count, block_count = excluded.block_count, "
            "max_step = excluded.max_step, max_timestamp = excluded.max_timestamp, ordered = "
            "excluded.ordered, last_block_points = excluded.last_block_points, "
            "top_timestamp = excluded.top_timestamp",
            row)
        .status();
  });
  ASSERT_TRUE(written.ok()) << written;
  // The stale flag says time ordered; get-history is in time order all the same.
  std::vector<Point> history = History(run_id, "m");
  ASSERT_EQ(history.size(), 13u);
  EXPECT_EQ(history[0], Point(11, 100, 11.0));
  EXPECT_EQ(history[1], Point(0, 1'000, 0.0));
  EXPECT_EQ(history[11], Point(10, 5'000, 10.0));
  EXPECT_EQ(history[12], Point(12, 9'000, 12.0));
  // Re-logging (11, 100) — inside the wide block, beyond the stale span of 9 — stores
  // nothing; the write reads the span back from the blocks and verifies the series.
  ASSERT_TRUE(store_->LogBatch(run_id, {{"m", 11.0, 100, 11}, {"m", 13.0, 9'500, 13}}, {}, {})
                  .ok());
  history = History(run_id, "m");
  ASSERT_EQ(history.size(), 14u);
  EXPECT_EQ(history[0], Point(11, 100, 11.0));
  EXPECT_EQ(history[1], Point(0, 1'000, 0.0));
  EXPECT_EQ(history[13], Point(13, 9'500, 13.0));
  EXPECT_EQ(Int("SELECT verified_points " + series), 14);
  // (13, 9500) was merged into the older writer's block: 9500 - 100.
  EXPECT_EQ(Int("SELECT max_block_span " + series), 9'400);
  EXPECT_EQ(Int("SELECT time_ordered " + series), 0);
}

// "step@timestamp=value" for comparing histories (NaN equal to NaN).
std::string Show(const Point& point) {
  return absl::StrCat(std::get<0>(point), "@", std::get<1>(point), "=", std::get<2>(point));
}

// MLflow's get-history order: (timestamp, step, value, is_nan), a NaN as the value 0.
bool MlflowTimeLess(const Point& a, const Point& b) {
  auto key = [](const Point& point) {
    bool is_nan = std::isnan(std::get<2>(point));
    return std::make_tuple(std::get<1>(point), std::get<0>(point),
                           is_nan ? 0.0 : std::get<2>(point), is_nan);
  };
  return key(a) < key(b);
}

// Series written before schema v4 (the migration leaves time_ordered = 0, verified_points =
// -1) are scanned once by their next write: one logged in time order becomes time_ordered
// (get-history's fast path) and stays so; one whose timestamps decrease inside a block or
// across blocks stays unordered. get-history is in time order before and after.
TEST_P(MetricBlocksTest, SeriesFromBeforeVersionFourAreScannedForTimeOrderOnce) {
  OpenStore();
  std::string run_id = NewRun();
  std::map<std::string, std::vector<Point>> logged;
  auto log = [&](const std::string& key, std::vector<Point> points) {
    std::vector<Metric> batch;
    for (const Point& point : points) {
      batch.push_back({key, std::get<2>(point), std::get<1>(point), std::get<0>(point)});
      logged[key].push_back(point);
    }
    ASSERT_TRUE(store_->LogBatch(run_id, batch, {}, {}).ok());
  };
  auto steps = [](int64_t first, int64_t last, int64_t first_timestamp) {
    std::vector<Point> points;
    for (int64_t step = first; step <= last; ++step)
      points.emplace_back(step, first_timestamp + step - first, 0.5 * step);
    return points;
  };
  // "in": two blocks (each write over 16 points gets its own), in time order.
  log("in", steps(0, 9, 1'000));
  log("in", steps(10, 29, 2'000));
  // "inner": the block boundary is in time order, the first block is not inside.
  log("inner", {{0, 1'000, 0.0}, {1, 900, 0.5}, {2, 1'100, 1.0}});
  log("inner", steps(3, 22, 2'000));
  // "cross": each block in time order, the second older than the first.
  log("cross", steps(0, 19, 5'000));
  log("cross", steps(20, 39, 1'000));
  auto value = [&](const std::string& column, const std::string& key) {
    return Int(absl::StrCat("SELECT ", column, " FROM metric_series WHERE key = $1"), {key});
  };
  EXPECT_EQ(value("time_ordered", "in"), 1);
  // What the version 4 migration leaves on existing rows.
  ASSERT_TRUE(db_->Write([](SqlSession& session) {
                   return session
                       .Execute("UPDATE metric_series SET time_ordered = 0, verified_points = -1")
                       .status();
                 }).ok());
  auto expect_history = [&](const std::string& key) {
    std::vector<Point> expected = logged[key];
    std::sort(expected.begin(), expected.end(), MlflowTimeLess);
    std::vector<Point> history = History(run_id, key);
    ASSERT_EQ(history.size(), expected.size()) << key;
    for (size_t idx = 0; idx < expected.size(); ++idx)
      EXPECT_EQ(Show(history[idx]), Show(expected[idx])) << key << " at " << idx;
  };
  for (const char* key : {"in", "inner", "cross"}) expect_history(key);
  // A write that stores nothing new verifies the series all the same.
  ASSERT_TRUE(store_->LogBatch(run_id, {{"in", 0.0, 1'000, 0}}, {}, {}).ok());
  EXPECT_EQ(value("verified_points", "in"), 30);
  EXPECT_EQ(value("time_ordered", "in"), 1);
  EXPECT_EQ(value("max_block_span", "in"), 19);
  EXPECT_EQ(value("point_count", "in"), 30);
  log("in", {{30, 3'000, 15.0}});
  log("inner", {{23, 5'000, 11.5}});
  log("cross", {{40, 9'000, 20.0}});
  EXPECT_EQ(value("verified_points", "in"), 31);
  EXPECT_EQ(value("time_ordered", "in"), 1);
  EXPECT_EQ(value("verified_points", "inner"), 24);
  EXPECT_EQ(value("time_ordered", "inner"), 0);
  EXPECT_EQ(value("max_block_span", "inner"), 3'000);  // (23, 5000) merged into 2000..2019
  EXPECT_EQ(value("verified_points", "cross"), 41);
  EXPECT_EQ(value("time_ordered", "cross"), 0);
  EXPECT_EQ(value("max_block_span", "cross"), 8'000);
  for (const char* key : {"in", "inner", "cross"}) expect_history(key);
  // Later in-order writes keep "in" on the fast path without scanning again.
  log("in", steps(31, 60, 4'000));
  EXPECT_EQ(value("time_ordered", "in"), 1);
  EXPECT_EQ(value("verified_points", "in"), 61);
  expect_history("in");
}

// get-history of random series (steps logged out of time order, repeats, NaN, ±inf,
// batches and single points) equals a reference sort of the distinct points, whole and by
// pages of several sizes; the in-order series stays flagged time_ordered (the fast path).
TEST_P(MetricBlocksTest, HistoryIsInTimeOrderWholeAndByPages) {
  OpenStore();
  std::string run_id = NewRun();
  std::mt19937_64 random(20261128);
  const double kValues[] = {0.0, -0.0, 1.5, -2.0, NAN, INFINITY, -INFINITY, 7.25};
  std::vector<Point> logged;
  for (int write = 0; write < 60; ++write) {
    std::vector<Metric> batch;
    const int size = write % 5 == 0 ? 1 : 1 + static_cast<int>(random() % 40);
    for (int idx = 0; idx < size; ++idx) {
      if (!logged.empty() && random() % 6 == 0) {  // a repeat of a logged point
        const Point& again = logged[random() % logged.size()];
        batch.push_back({"r", std::get<2>(again), std::get<1>(again), std::get<0>(again)});
        continue;
      }
      batch.push_back({"r", kValues[random() % 8], static_cast<int64_t>(random() % 50),
                       static_cast<int64_t>(random() % 30)});
    }
    for (const Metric& metric : batch) logged.emplace_back(metric.step, metric.timestamp,
                                                           metric.value == 0 ? 0.0 : metric.value);
    ASSERT_TRUE(size == 1 ? store_->LogMetric(run_id, batch[0]).ok()
                          : store_->LogBatch(run_id, batch, {}, {}).ok());
  }
  // In order: steps up, timestamps never down (ties too), by single points and batches.
  std::vector<Point> in_order;
  for (int step = 0; step < 600; ++step)
    in_order.emplace_back(step, 10 + step / 3, kValues[step % 8] == 0 ? 0.0 : kValues[step % 8]);
  for (size_t begin = 0; begin < in_order.size();) {
    size_t size = begin < 100 ? 1 : 50;
    std::vector<Metric> batch;
    for (size_t idx = begin; idx < begin + size; ++idx)
      batch.push_back({"s", std::get<2>(in_order[idx]), std::get<1>(in_order[idx]),
                       std::get<0>(in_order[idx])});
    ASSERT_TRUE(store_->LogBatch(run_id, batch, {}, {}).ok());
    begin += size;
  }
  EXPECT_EQ(Int("SELECT time_ordered FROM metric_series WHERE key = 's'"), 1);
  EXPECT_EQ(Int("SELECT time_ordered FROM metric_series WHERE key = 'r'"), 0);

  for (auto& [key, points] : {std::pair<std::string, std::vector<Point>>{"r", logged},
                              std::pair<std::string, std::vector<Point>>{"s", in_order}}) {
    std::vector<std::string> want;
    std::vector<Point> sorted = points;
    std::sort(sorted.begin(), sorted.end(), MlflowTimeLess);
    for (const Point& point : sorted)
      if (want.empty() || want.back() != Show(point)) want.push_back(Show(point));
    std::vector<std::string> whole;
    for (const Point& point : History(run_id, key)) whole.push_back(Show(point));
    EXPECT_EQ(whole, want) << key;
    for (int64_t page_size : {1, 3, 64, 1000}) {
      std::vector<std::string> paged;
      std::string token;
      int pages = 0;
      do {
        std::string next;
        absl::Status status = store_->ScanMetricHistory(
            run_id, key, page_size, token,
            [&](double value, int64_t timestamp, int64_t step) {
              paged.push_back(Show(Point(step, timestamp, value)));
            },
            &next);
        ASSERT_TRUE(status.ok()) << status;
        token = next;
        ASSERT_LT(++pages, 2'000);
      } while (!token.empty());
      EXPECT_EQ(paged, want) << key << " by pages of " << page_size;
    }
    // get-history-bulk-interval keeps MLflow's order for it: (step, timestamp, value).
    auto bulk = store_->GetMetricHistoryBulkInterval({run_id}, key, std::nullopt,
                                                     std::nullopt, 100'000);
    ASSERT_TRUE(bulk.ok()) << bulk.status();
    ASSERT_EQ(bulk->size(), want.size());
    for (size_t idx = 1; idx < bulk->size(); ++idx) {
      const Metric& a = (*bulk)[idx - 1].metric;
      const Metric& b = (*bulk)[idx].metric;
      ASSERT_LE(std::tie(a.step, a.timestamp), std::tie(b.step, b.timestamp)) << key;
    }
  }
}

// As MLflow's handler: max_results is checked before the store reads the page token.
TEST_P(MetricBlocksTest, MaxResultsIsCheckedBeforeThePageToken) {
  OpenStore();
  std::string run_id = NewRun();
  auto both_bad = store_->ReadMetricHistory(run_id, "m", 0, "not base64!");
  EXPECT_EQ(both_bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(both_bad.status().message(),
            "Invalid value 0 for parameter 'max_results' supplied. It must be a positive "
            "integer.");
  auto bad_token = store_->ReadMetricHistory(run_id, "m", 5, "not base64!");
  EXPECT_EQ(bad_token.status().message(), "Invalid page token, could not base64-decode");
}

INSTANTIATE_TEST_SUITE_P(Backends, MetricBlocksTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::tracking
