// Measures the streaming readers on a generated "typical feature file": an int64 key, an
// RFC 3339 event timestamp, three doubles and one short string.
//
//   features_ingest_bench [ROWS] [DIR]      (default 2,000,000 rows in $TMPDIR)
//
// Writes DIR/ingest_bench.csv and DIR/ingest_bench.jsonl (removed afterwards), reads each
// three times with the default options and prints the best rows/s and MB/s, by wall clock
// and by this thread's CPU time (the fair figure on a machine shared with other work).

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/timestamp.h"
#include "features/ingest/record_reader.h"

namespace {

using cairn::features::BadRow;
using cairn::features::FeatureType;
using cairn::features::ReaderOptions;
using cairn::features::RecordReader;
using cairn::features::Schema;
using cairn::features::Table;

void WriteFiles(const std::string& csv, const std::string& jsonl, long rows) {
  FILE* c = std::fopen(csv.c_str(), "w");
  FILE* j = std::fopen(jsonl.c_str(), "w");
  if (c == nullptr || j == nullptr) {
    std::perror("fopen");
    std::exit(1);
  }
  std::fputs("customer_id,event_timestamp,amount,balance,score,country\n", c);
  static const char* kCountries[] = {"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA"};
  uint64_t state = 42;
  int64_t ts = 1714564800000;
  for (long row = 0; row < rows; ++row) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const long key = static_cast<long>((state >> 33) % 100000);
    ts += static_cast<int64_t>((state >> 20) % 5000);
    const double amount = static_cast<double>((state >> 12) % 100000) / 100.0;
    const double balance = static_cast<double>((state >> 24) % 10000000) / 7.0;
    const double score = static_cast<double>((state >> 40) % 1000) / 1000.0;
    const std::string when = cairn::FormatTimestamp(ts);
    const char* country = kCountries[(state >> 50) % 8];
    std::fprintf(c, "%ld,%s,%.2f,%.6g,%.3f,%s\n", key, when.c_str(), amount, balance, score,
                 country);
    std::fprintf(j,
                 "{\"customer_id\":%ld,\"event_timestamp\":\"%s\",\"amount\":%.2f,"
                 "\"balance\":%.6g,\"score\":%.3f,\"country\":\"%s\"}\n",
                 key, when.c_str(), amount, balance, score, country);
  }
  std::fclose(c);
  std::fclose(j);
}

double FileMb(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  std::fseek(f, 0, SEEK_END);
  double mb = static_cast<double>(std::ftell(f)) / 1e6;
  std::fclose(f);
  return mb;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

template <typename Open>
void Measure(const char* name, const std::string& path, const Schema& schema, long rows,
             Open open) {
  double best = 1e100;
  double best_cpu = 1e100;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuSeconds();
    auto reader = open(path, schema, ReaderOptions{});
    if (!reader.ok()) {
      std::fprintf(stderr, "%s\n", std::string(reader.status().message()).c_str());
      std::exit(1);
    }
    Table batch;
    std::vector<BadRow> bad;
    long seen = 0;
    while (true) {
      absl::StatusOr<bool> more = (*reader)->Next(&batch, &bad);
      if (!more.ok()) {
        std::fprintf(stderr, "%s\n", std::string(more.status().message()).c_str());
        std::exit(1);
      }
      if (!*more) break;
      seen += static_cast<long>(batch.num_rows());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = ThreadCpuSeconds() - cpu_start;
    if (cpu < best_cpu) best_cpu = cpu;
    if (seen != rows) {
      std::fprintf(stderr, "%s: read %ld rows, expected %ld\n", name, seen, rows);
      std::exit(1);
    }
    if (secs < best) best = secs;
  }
  const double mb = FileMb(path);
  std::printf(
      "%-6s %ld rows, %.1f MB: best of 3: wall %.3f s = %.2f M rows/s, %.0f MB/s; "
      "cpu %.3f s = %.2f M rows/s\n",
      name, rows, mb, best, rows / best / 1e6, mb / best, best_cpu, rows / best_cpu / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::atol(argv[1]) : 2000000;
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = argc > 2 ? argv[2] : (tmp ? tmp : "/tmp");
  const std::string csv = dir + "/ingest_bench.csv";
  const std::string jsonl = dir + "/ingest_bench.jsonl";
  WriteFiles(csv, jsonl, rows);
  const Schema schema = {{"customer_id", FeatureType::kInt64, false},
                         {"event_timestamp", FeatureType::kTimestamp, false},
                         {"amount", FeatureType::kDouble, true},
                         {"balance", FeatureType::kDouble, true},
                         {"score", FeatureType::kDouble, true},
                         {"country", FeatureType::kString, true}};
  Measure("csv", csv, schema, rows, cairn::features::OpenCsvReader);
  Measure("jsonl", jsonl, schema, rows, cairn::features::OpenJsonlReader);
  std::remove(csv.c_str());
  std::remove(jsonl.c_str());
  return 0;
}
