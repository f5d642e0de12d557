// Inference-log throughput (docs/benchmarks.md, "Inference log"): appenders on N threads
// push records of 20 numeric features (as JSON text, as the endpoint service makes them)
// as fast as they can (the endpoint service's side),
// the writer commits them in batches; then monitors' side: ReadFrame of everything.
//
//   serving_inference_log_bench [DATABASE_URL] [RECORDS] [THREADS]
//   (default: a fresh SQLite file under /tmp, 200000 records, 2 threads)
//
// Prints: the Append cost per record on the caller's thread, records committed per second
// (wall, first Append → Flush returned) and per CPU-second of the process, dropped records,
// and ReadFrame rows/s.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "serving/inference_log.h"
#include "storage/database.h"

namespace {

double CpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cairn;
  std::string url;
  std::filesystem::path dir;
  if (argc > 1 && std::string(argv[1]) != "-") {
    url = argv[1];
  } else {
    dir = std::filesystem::temp_directory_path() /
          absl::StrCat("cairn-inference-log-bench-", ::getpid());
    std::filesystem::create_directories(dir);
    url = (dir / "bench.db").string();
  }
  const int64_t records = argc > 2 ? std::atoll(argv[2]) : 200'000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  // As the server runs (api/http_server.cc): Debian's abseil is built without NDEBUG, and
  // its deadlock detection would otherwise cost every lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  auto db = storage::OpenDatabase(url);
  if (!db.ok()) {
    std::fprintf(stderr, "open %s: %s\n", url.c_str(), std::string(db.status().message()).c_str());
    return 1;
  }
  auto reset = (*db)->Write([](storage::SqlSession& s) {
    return s.ExecuteScript(
        "DROP TABLE IF EXISTS serving_inference_log;"
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version "
        "INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY "
        "(component, version));"
        "DELETE FROM schema_migrations WHERE component = 'serving_inference_log'");
  });
  if (!reset.ok()) {
    std::fprintf(stderr, "reset: %s\n", std::string(reset.message()).c_str());
    return 1;
  }
  serving::InferenceLogOptions options;
  options.max_queue = 1'000'000;
  auto log = serving::InferenceLog::Open(**db, options);
  if (!log.ok()) {
    std::fprintf(stderr, "open log: %s\n", std::string(log.status().message()).c_str());
    return 1;
  }

  // Records are built before the clock starts: the endpoint service builds them anyway.
  std::vector<std::vector<serving::InferenceRecord>> prepared(threads);
  for (int t = 0; t < threads; ++t) {
    for (int64_t i = t; i < records; i += threads) {
      serving::InferenceRecord record;
      record.id = absl::StrCat("req-", i);
      record.endpoint = "churn";
      record.model = "churn";
      record.model_version = 3;
      record.variant = "champion";
      record.time_ms = 1'700'000'000'000 + i;
      record.latency_us = 300 + i % 200;
      // As the endpoint service hands them over: the features as JSON text
      // (feature_row_json.h), which the writer stores as is.
      Json features = Json::object();
      for (int f = 0; f < 20; ++f) {
        features[absl::StrCat("f", f)] = static_cast<double>((i * 31 + f * 7) % 1000) / 7;
      }
      record.features_json = DumpJson(features);
      record.prediction = static_cast<double>(i % 1000) / 1000;
      prepared[t].push_back(std::move(record));
    }
  }

  std::atomic<int64_t> append_ns{0};
  std::atomic<int64_t> append_cpu_ns{0};
  const double cpu0 = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto begin = std::chrono::steady_clock::now();
      const double cpu_begin = ThreadCpuSeconds();
      for (auto& record : prepared[t]) (*log)->Append(std::move(record));
      append_cpu_ns += static_cast<int64_t>((ThreadCpuSeconds() - cpu_begin) * 1e9);
      append_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - begin)
                       .count();
    });
  }
  for (auto& worker : workers) worker.join();
  const double append_wall = Since(start);
  absl::Status flushed = (*log)->Flush();
  const double wall = Since(start);
  const double cpu = CpuSeconds() - cpu0;
  serving::InferenceLogStats stats = (*log)->Stats();
  std::printf("backend %s, %lld records of 20 features, %d appending threads\n",
              (*db)->dialect() == storage::Dialect::kSqlite ? "sqlite" : "postgresql",
              static_cast<long long>(records), threads);
  std::printf("append: %.0f ns CPU (%.0f ns wall) per record on the caller's thread (all "
              "appended in %.3f s)\n",
              static_cast<double>(append_cpu_ns.load()) / static_cast<double>(records),
              static_cast<double>(append_ns.load()) / static_cast<double>(records), append_wall);
  std::printf("committed: %lld records in %.3f s wall = %.0f records/s; %.3f CPU s = %.0f "
              "records per CPU-second; dropped %lld, failed %lld (%s)\n",
              static_cast<long long>(stats.written), wall,
              static_cast<double>(stats.written) / wall, cpu,
              static_cast<double>(stats.written) / cpu, static_cast<long long>(stats.dropped),
              static_cast<long long>(stats.failed),
              flushed.ok() ? "ok" : std::string(flushed.message()).c_str());

  const auto read_start = std::chrono::steady_clock::now();
  const double read_cpu0 = CpuSeconds();
  auto frame = (*log)->ReadFrame("churn", 0, 0);
  const double read_wall = Since(read_start);
  const double read_cpu = CpuSeconds() - read_cpu0;
  if (!frame.ok()) {
    std::fprintf(stderr, "ReadFrame: %s\n", std::string(frame.status().message()).c_str());
    return 1;
  }
  std::printf("ReadFrame: %lld rows x %zu columns in %.3f s wall = %.0f rows/s (%.3f CPU s)\n",
              static_cast<long long>(frame->rows), frame->columns.size(), read_wall,
              static_cast<double>(frame->rows) / read_wall, read_cpu);
  log->reset();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}
