// Times OfflineStore::Append and a full Scan on a feature-view-shaped table: an int64
// entity key, __event_ts, __created_ts and three doubles (the shape of issue 3's
// point-in-time benchmark). Not a test; run a Release build:
//   features_offline_bench [rows=10000000] [dir=/tmp/cairn-offline-bench] [segments=1]
//                          [scans=3]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "features/offline/offline_store.h"
#include "features/offline/segment_reader.h"

using cairn::features::FeatureType;
using cairn::features::OfflineStore;
using cairn::features::OfflineTableLayout;
using cairn::features::ScanOptions;
using cairn::features::Table;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// CPU seconds of this process (the machine is shared, so wall time alone misleads).
double CpuSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void Die(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  std::string dir = argc > 2 ? argv[2] : "/tmp/cairn-offline-bench";
  int segments = argc > 3 ? std::atoi(argv[3]) : 1;
  int scans = argc > 4 ? std::atoi(argv[4]) : 3;
  std::filesystem::remove_all(dir);
  auto store = OfflineStore::Open(dir);
  if (!store.ok()) Die(store.status());
  OfflineTableLayout layout;
  layout.key_columns = {"driver_id"};
  layout.schema = {{"driver_id", FeatureType::kInt64, false},
                   {"__event_ts", FeatureType::kTimestamp, false},
                   {"__created_ts", FeatureType::kTimestamp, false},
                   {"conv_rate", FeatureType::kDouble, true},
                   {"acc_rate", FeatureType::kDouble, true},
                   {"avg_daily_trips", FeatureType::kDouble, true}};
  if (auto s = (*store)->EnsureTable("view.bench", layout); !s.ok()) Die(s);

  // 100k keys, event times over 30 days, in random order (as ingestion delivers them).
  std::mt19937_64 rng(42);
  const int64_t t0 = 1'700'000'000'000;
  double append_s = 0, append_cpu = 0;
  size_t per_segment = rows / segments;
  for (int seg = 0; seg < segments; ++seg) {
    size_t n = seg + 1 == segments ? rows - per_segment * seg : per_segment;
    Table t = Table::FromSchema(layout.schema);
    for (auto& c : t.columns) c.Reserve(n);
    for (size_t i = 0; i < n; ++i) {
      t.columns[0].AppendInt(static_cast<int64_t>(rng() % 100'000));
      int64_t ev = t0 + static_cast<int64_t>(rng() % (30ull * 86'400'000));
      t.columns[1].AppendInt(ev);
      t.columns[2].AppendInt(ev + 1000);
      for (int c = 3; c < 6; ++c) t.columns[c].AppendDouble(static_cast<double>(rng() % 1000000) / 1000.0);
    }
    auto start = std::chrono::steady_clock::now();
    double cpu0 = CpuSeconds();
    if (auto s = (*store)->Append("view.bench", t); !s.ok()) Die(s);
    append_s += Seconds(start);
    append_cpu += CpuSeconds() - cpu0;
  }
  auto stats = (*store)->Stats("view.bench");
  std::printf("append: %zu rows in %d segment(s): %.3f s wall, %.3f s CPU (%.2f M rows/s), "
              "%.1f MB on disk\n",
              rows, segments, append_s, append_cpu, rows / append_s / 1e6, stats->bytes / 1e6);

  for (const auto& ent : std::filesystem::directory_iterator(dir + "/view.bench")) {
    if (ent.path().extension() != ".cseg") continue;
    auto reader = cairn::features::offline::SegmentReader::Open(ent.path().string());
    if (!reader.ok()) Die(reader.status());
    const auto& f = (*reader)->footer();
    for (size_t c = 0; c < f.schema.size(); ++c) {
      uint64_t stored = 0, raw = 0, zstd = 0;
      for (const auto& b : f.blocks) {
        stored += b.chunks[c].stored_size;
        raw += b.chunks[c].raw_size;
        zstd += b.chunks[c].compression == cairn::features::offline::ChunkCompression::kZstd;
      }
      std::printf("  %s: %s %.1f MB -> %.1f MB (%.2f), %llu/%zu blocks zstd\n",
                  ent.path().filename().c_str(), f.schema[c].name.c_str(), raw / 1e6,
                  stored / 1e6, static_cast<double>(stored) / raw,
                  static_cast<unsigned long long>(zstd), f.blocks.size());
    }
    break;
  }
  for (int round = 0; round < scans; ++round) {
    auto start = std::chrono::steady_clock::now();
    double cpu0 = CpuSeconds();
    auto stream = (*store)->Scan("view.bench", ScanOptions{});
    if (!stream.ok()) Die(stream.status());
    Table batch;
    size_t seen = 0;
    double checksum = 0;
    while (true) {
      auto more = (*stream)->Next(&batch);
      if (!more.ok()) Die(more.status());
      if (!*more) break;
      seen += batch.num_rows();
      checksum += batch.columns[3].doubles[0];
    }
    double wall = Seconds(start), cpu = CpuSeconds() - cpu0;
    std::printf("scan (all 6 columns, %d segment(s)): %zu rows in %.3f s wall, %.3f s CPU "
                "(%.1f M rows/s)\n",
                static_cast<int>(stats->segments), seen, wall, cpu, seen / wall / 1e6);
  }
  if (segments > 1) {
    auto start = std::chrono::steady_clock::now();
    double cpu0 = CpuSeconds();
    if (auto s = (*store)->Compact("view.bench"); !s.ok()) Die(s);
    auto after = (*store)->Stats("view.bench");
    std::printf("compact: %.3f s wall, %.3f s CPU, %.1f MB after\n", Seconds(start),
                CpuSeconds() - cpu0, after->bytes / 1e6);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
