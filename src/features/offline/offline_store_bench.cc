// Times OfflineStore::Append and a full Scan on a feature-view-shaped table: an int64
// entity key, __event_ts, __created_ts and three doubles (the shape of issue 3's
// point-in-time benchmark). Not a test; run a Release build:
//   features_offline_bench [rows=10000000] [dir=/tmp/cairn-offline-bench] [segments=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "features/offline/offline_store.h"

using cairn::features::FeatureType;
using cairn::features::OfflineStore;
using cairn::features::OfflineTableLayout;
using cairn::features::ScanOptions;
using cairn::features::Table;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
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
  double append_s = 0;
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
    if (auto s = (*store)->Append("view.bench", t); !s.ok()) Die(s);
    append_s += Seconds(start);
  }
  auto stats = (*store)->Stats("view.bench");
  std::printf("append: %zu rows in %d segment(s): %.3f s (%.2f M rows/s), %.1f MB on disk\n",
              rows, segments, append_s, rows / append_s / 1e6, stats->bytes / 1e6);

  for (int round = 0; round < 3; ++round) {
    auto start = std::chrono::steady_clock::now();
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
    std::printf("scan (all 6 columns, %d segment(s)): %zu rows in %.3f s (%.1f M rows/s)\n",
                static_cast<int>(stats->segments), seen, Seconds(start),
                seen / Seconds(start) / 1e6);
  }
  if (segments > 1) {
    auto start = std::chrono::steady_clock::now();
    if (auto s = (*store)->Compact("view.bench"); !s.ok()) Die(s);
    auto after = (*store)->Stats("view.bench");
    std::printf("compact: %.3f s, %.1f MB after\n", Seconds(start), after->bytes / 1e6);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
