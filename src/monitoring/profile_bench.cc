// Profiling throughput and memory: streams N generated rows (20 numeric + 5 categorical
// columns, like the drift benchmark's data) through DataProfile in batches of 65,536
// rows, timing only DataProfile::Add (thread CPU time, so the figure is per core even
// on a shared machine; wall time is printed too). Prints values/s and the process's
// peak RSS, which should not grow with N (only one batch is ever held).
//
//   monitoring_profile_bench [rows] [--json]

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "monitoring/profile.h"

namespace {

using cairn::monitoring::DataFrame;
using cairn::monitoring::DataProfile;
using cairn::monitoring::FrameColumn;

constexpr int kNumeric = 20;
constexpr int kCategorical = 5;
constexpr int64_t kBatch = 65'536;

// Fills `frame` with the next batch: normal, lognormal, integer and mostly-complete
// columns, and categorical columns of 3 to 1,000 labels.
void Fill(DataFrame& frame, int64_t rows, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  frame.rows = rows;
  for (int c = 0; c < kNumeric; ++c) {
    FrameColumn& col = frame.columns[c];
    col.numbers.resize(rows);
    for (int64_t i = 0; i < rows; ++i) {
      double v = normal(rng);
      switch (c % 4) {
        case 0: v = 10 * v + c; break;
        case 1: v = std::exp(v); break;
        case 2: v = std::floor(100 * std::fabs(v)); break;
        case 3: v = (i % 50 == 0) ? std::nan("") : v; break;
      }
      col.numbers[i] = v;
    }
  }
  for (int c = 0; c < kCategorical; ++c) {
    FrameColumn& col = frame.columns[kNumeric + c];
    const int labels = static_cast<int>(col.categories.size());
    col.codes.resize(rows);
    for (int64_t i = 0; i < rows; ++i) {
      col.codes[i] = static_cast<int32_t>(rng() % static_cast<uint64_t>(labels + 1)) - 1;
    }
  }
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = argc > 1 ? std::strtoll(argv[1], nullptr, 10) : 1'000'000;
  bool json = argc > 2 && std::strcmp(argv[2], "--json") == 0;
  DataFrame frame;
  for (int c = 0; c < kNumeric; ++c) {
    FrameColumn col;
    col.name = "n" + std::to_string(c);
    frame.columns.push_back(std::move(col));
  }
  const int label_counts[kCategorical] = {3, 10, 50, 200, 1000};
  for (int c = 0; c < kCategorical; ++c) {
    FrameColumn col;
    col.name = "c" + std::to_string(c);
    col.categorical = true;
    for (int l = 0; l < label_counts[c]; ++l) col.categories.push_back("label" + std::to_string(l));
    frame.columns.push_back(std::move(col));
  }
  std::mt19937_64 rng(42);
  DataProfile profile;
  double seconds = 0;  // CPU time of this (the only) thread: per core, even on a busy box
  double wall = 0;
  for (int64_t done = 0; done < rows; done += kBatch) {
    Fill(frame, std::min(kBatch, rows - done), rng);
    const double cpu_start = ThreadCpuSeconds();
    const auto wall_start = std::chrono::steady_clock::now();
    if (!profile.Add(frame).ok()) return 1;
    seconds += ThreadCpuSeconds() - cpu_start;
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  }
  // Summaries (quantiles, histograms, JSON) once at the end, as a stored profile does.
  auto start = std::chrono::steady_clock::now();
  std::string text = cairn::DumpJson(cairn::monitoring::ProfileToJson(profile));
  double finish = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const double values = static_cast<double>(rows) * (kNumeric + kCategorical);
  std::printf(json ? "{\"rows\": %" PRId64 ", \"values\": %.0f, \"cpu_seconds\": %.4f, "
                     "\"wall_seconds\": %.4f, \"values_per_cpu_second\": %.0f, "
                     "\"finish_seconds\": %.4f, \"profile_json_bytes\": %zu, "
                     "\"peak_rss_mb\": %.1f}\n"
                   : "rows %" PRId64 "  values %.0f  profile %.3f s CPU (%.3f s wall)  "
                     "%.0f values/s/core  summaries+JSON %.4f s (%zu bytes)  peak RSS %.1f MB\n",
              rows, values, seconds, wall, values / seconds, finish, text.size(),
              usage.ru_maxrss / 1024.0);
  return 0;
}
