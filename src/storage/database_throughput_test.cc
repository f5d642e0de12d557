// Write-throughput measurements of the Database backends. Disabled by default (timings are
// not assertions on shared machines); run them with
//   storage_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// PostgreSQL cases need CAIRN_TEST_POSTGRES_URL.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "storage/testing/test_databases.h"
#include "gtest/gtest.h"
#include "storage/database.h"

namespace cairn::storage {
namespace {

// CPU seconds this process has used (user + system, all threads): on a loaded shared
// machine, rows per CPU-second says more than rows per wall-clock second.
double ProcessCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class Throughput : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-storage-bench-", ::getpid());
      std::filesystem::create_directories(dir_);
      url = (dir_ / "bench.db").string();
    } else {
      const char* env = storage::test_support::PrivatePostgresUrl();
      if (env == nullptr) GTEST_SKIP() << "CAIRN_TEST_POSTGRES_URL is not set";
      url = env;
    }
    auto db = OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS storage_bench_points;"
                         "CREATE TABLE storage_bench_points (run_uuid TEXT NOT NULL, "
                         "key TEXT NOT NULL, step BIGINT NOT NULL, timestamp BIGINT NOT NULL, "
                         "value DOUBLE PRECISION NOT NULL, "
                         "PRIMARY KEY (run_uuid, key, step, timestamp))");
                   }).ok());
  }
  void TearDown() override {
    if (db_) db_->Write([](SqlSession& s) {
                   return s.ExecuteScript("DROP TABLE IF EXISTS storage_bench_points");
                 }).IgnoreError();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static absl::Status InsertPoint(SqlSession& s, const std::string& run, int64_t step) {
    const SqlValue p[] = {run, std::string("loss"), step, int64_t{1'700'000'000'000} + step,
                          0.5 + static_cast<double>(step)};
    return s
        .Execute("INSERT INTO storage_bench_points (run_uuid, key, step, timestamp, value) "
                 "VALUES ($1, $2, $3, $4, $5)",
                 p)
        .status();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Database> db_;
};

TEST_P(Throughput, DISABLED_BatchesOf1000RowsInOneWrite) {
  const int kBatches = GetParam() == "sqlite" ? 500 : 20;
  const std::string run = "run-batch";
  double cpu_start = ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  for (int batch_idx = 0; batch_idx < kBatches; ++batch_idx) {
    ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                     for (int row_idx = 0; row_idx < 1000; ++row_idx)
                       CAIRN_RETURN_IF_ERROR(InsertPoint(s, run, batch_idx * 1000 + row_idx));
                     return absl::OkStatus();
                   }).ok());
  }
  double seconds = SecondsSince(start);
  double cpu = ProcessCpuSeconds() - cpu_start;
  std::printf(
      "[%s] metric-point table: %d rows in batches of 1000 (one Write each): %.3f s, %.0f "
      "rows/s wall, %.0f rows per CPU-second\n",
      GetParam().c_str(), kBatches * 1000, seconds, kBatches * 1000 / seconds,
      kBatches * 1000 / cpu);
}

// The same load on the narrowest table (rowid key only): the engine's own ceiling.
TEST_P(Throughput, DISABLED_BatchesOf1000RowsIntoARowidTable) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) {
                   return s.ExecuteScript(
                       "DROP TABLE IF EXISTS storage_bench_points;"
                       "CREATE TABLE storage_bench_points (id BIGINT PRIMARY KEY, "
                       "value DOUBLE PRECISION NOT NULL)");
                 }).ok());
  const int kBatches = GetParam() == "sqlite" ? 1000 : 20;
  double cpu_start = ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  for (int batch_idx = 0; batch_idx < kBatches; ++batch_idx) {
    ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                     for (int64_t row_idx = 0; row_idx < 1000; ++row_idx) {
                       const SqlValue p[] = {batch_idx * int64_t{1000} + row_idx, 0.25};
                       CAIRN_RETURN_IF_ERROR(
                           s.Execute("INSERT INTO storage_bench_points (id, value) VALUES ($1, $2)",
                                     p)
                               .status());
                     }
                     return absl::OkStatus();
                   }).ok());
  }
  double seconds = SecondsSince(start);
  double cpu = ProcessCpuSeconds() - cpu_start;
  std::printf(
      "[%s] rowid table: %d rows in batches of 1000: %.3f s, %.0f rows/s wall, %.0f rows per "
      "CPU-second\n",
      GetParam().c_str(), kBatches * 1000, seconds, kBatches * 1000 / seconds,
      kBatches * 1000 / cpu);
}

TEST_P(Throughput, DISABLED_SingleRowWritesSerialVsConcurrent) {
  const int kSerial = GetParam() == "sqlite" ? 5000 : 1000;
  auto start = std::chrono::steady_clock::now();
  for (int write_idx = 0; write_idx < kSerial; ++write_idx) {
    ASSERT_TRUE(db_->Write([&](SqlSession& s) { return InsertPoint(s, "serial", write_idx); }).ok());
  }
  double serial = SecondsSince(start);
  std::printf("[%s] 1 writer, %d single-row Writes: %.3f s, %.0f commits/s\n", GetParam().c_str(),
              kSerial, serial, kSerial / serial);

  constexpr int kThreads = 32;
  const int kPerThread = GetParam() == "sqlite" ? 1000 : 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  start = std::chrono::steady_clock::now();
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      std::string run = absl::StrCat("concurrent-", thread_idx);
      for (int write_idx = 0; write_idx < kPerThread; ++write_idx) {
        if (!db_->Write([&](SqlSession& s) { return InsertPoint(s, run, write_idx); }).ok())
          failures.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  double concurrent = SecondsSince(start);
  EXPECT_EQ(failures.load(), 0);
  std::printf("[%s] %d writers x %d single-row Writes: %.3f s, %.0f writes/s (%.1fx serial)\n",
              GetParam().c_str(), kThreads, kPerThread, concurrent,
              kThreads * kPerThread / concurrent,
              (kThreads * kPerThread / concurrent) / (kSerial / serial));
}

INSTANTIATE_TEST_SUITE_P(Backends, Throughput, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::storage
