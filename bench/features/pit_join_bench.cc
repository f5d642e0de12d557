// Point-in-time join micro-benchmark (issue 3's figure: 1M entity rows against 3 views of
// 10M rows each, 100k distinct int64 keys, 3 double features per view; the downstream
// target is within 2x of DuckDB's ASOF JOIN on the same shape, bench/features/duckdb_asof.py).
//
//   build/<dir>/src/features/pit_join_bench --benchmark_filter='PitJoin/1000000'
//
// Arguments: entity rows, rows per view, distinct keys, threads (0 = one per view up to
// the cores), stream. View tables are generated once per shape, sorted, and streamed in
// 65,536-row batches (the offline store's default scan batch) through StreamOfSortedTable
// (stream 0), a column-range copy (stream 1, SliceStream below), or OfflineStore::Scan over
// real segment files (stream 2: four segments per view, merged; stream 3: one segment),
// written once under $CAIRN_BENCH_DIR or /tmp. BM_StreamOnly drains the same streams
// without joining: the floor set by the stream.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <tuple>

#include "features/offline/offline_store.h"
#include "features/pit_join.h"

namespace cairn::features {
namespace {

constexpr int kViews = 3;
constexpr int64_t kTimeRange = 1'000'000'000;  // ms, about 11.6 days
constexpr size_t kBatchRows = 65536;

struct Data {
  Table entities;
  std::vector<FeatureViewSpec> specs;
  std::vector<Table> views;
};

Table MakeView(int64_t rows, int64_t keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Table t;
  t.AddColumn("driver_id", FeatureType::kInt64);
  t.AddColumn(kEventTsColumn, FeatureType::kTimestamp);
  t.AddColumn(kCreatedTsColumn, FeatureType::kTimestamp);
  for (const char* f : {"f0", "f1", "f2"}) t.AddColumn(f, FeatureType::kDouble);
  for (Column& c : t.columns) c.valid.assign(rows, 1);
  for (int c = 0; c < 3; ++c) t.columns[c].ints.resize(rows);
  for (int c = 3; c < 6; ++c) t.columns[c].doubles.resize(rows);
  std::uniform_int_distribution<int64_t> ts(0, kTimeRange);
  std::uniform_real_distribution<double> val(0, 100);
  // Rows spread evenly over the keys, each key's rows sorted by event time.
  int64_t r = 0;
  for (int64_t k = 0; k < keys; ++k) {
    int64_t end = rows * (k + 1) / keys;
    int64_t begin = r;
    for (; r < end; ++r) {
      t.columns[0].ints[r] = k;
      t.columns[1].ints[r] = ts(rng);
    }
    std::sort(t.columns[1].ints.begin() + begin, t.columns[1].ints.begin() + end);
    for (int64_t i = begin; i < end; ++i) t.columns[2].ints[i] = t.columns[1].ints[i] + 1000;
  }
  for (int c = 3; c < 6; ++c) {
    for (double& d : t.columns[c].doubles) d = val(rng);
  }
  return t;
}

const Data& GetData(int64_t entities, int64_t view_rows, int64_t keys) {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Data>> cache;
  auto& slot = cache[{entities, view_rows, keys}];
  if (slot) return *slot;
  cache.clear();  // one shape in memory at a time
  auto& fresh = cache[{entities, view_rows, keys}];
  fresh = std::make_unique<Data>();
  Data& d = *fresh;
  std::mt19937_64 rng(42);
  d.entities.AddColumn("driver_id", FeatureType::kInt64);
  d.entities.AddColumn("event_timestamp", FeatureType::kTimestamp);
  // 1% of the entity keys are absent from the views.
  std::uniform_int_distribution<int64_t> key(0, keys + keys / 100);
  std::uniform_int_distribution<int64_t> ts(0, kTimeRange);
  for (int64_t i = 0; i < entities; ++i) {
    d.entities.columns[0].AppendInt(key(rng));
    d.entities.columns[1].AppendInt(ts(rng));
  }
  for (int v = 0; v < kViews; ++v) {
    FeatureViewSpec spec;
    spec.meta.name = "view" + std::to_string(v);
    for (const char* f : {"f0", "f1", "f2"}) {
      FeatureSpec fs;
      fs.name = f;
      spec.features.push_back(fs);
    }
    d.specs.push_back(spec);
    d.views.push_back(MakeView(view_rows, keys, 100 + v));
  }
  return d;
}

// Like StreamOfSortedTable, but copies each batch column by column (a range copy per
// column instead of an append per cell): shows what the join costs with a cheaper stream.
class SliceStream final : public RowStream {
 public:
  SliceStream(const Table& table, size_t batch_rows)
      : table_(table), schema_(table.schema()), batch_rows_(batch_rows) {}
  const Schema& schema() const override { return schema_; }
  absl::StatusOr<bool> Next(Table* batch) override {
    const size_t n = table_.num_rows();
    if (next_ >= n) return false;
    const size_t end = std::min(n, next_ + batch_rows_);
    batch->names = table_.names;
    batch->columns.resize(table_.num_columns());
    for (size_t c = 0; c < table_.num_columns(); ++c) {
      const Column& from = table_.columns[c];
      Column& to = batch->columns[c];
      to.type = from.type;
      to.valid.assign(from.valid.begin() + next_, from.valid.begin() + end);
      to.ints.clear();
      to.doubles.clear();
      to.strings.clear();
      if (!from.ints.empty()) to.ints.assign(from.ints.begin() + next_, from.ints.begin() + end);
      if (!from.doubles.empty()) {
        to.doubles.assign(from.doubles.begin() + next_, from.doubles.begin() + end);
      }
      if (!from.strings.empty()) {
        to.strings.assign(from.strings.begin() + next_, from.strings.begin() + end);
      }
    }
    next_ = end;
    return true;
  }

 private:
  const Table& table_;
  Schema schema_;
  size_t batch_rows_;
  size_t next_ = 0;
};

// The views written to an OfflineStore in a temporary directory (removed at exit): table
// "view.viewN.4seg" holds view N as four segments split by event-time quarter (so a scan
// merges four overlapping key ranges), "view.viewN.1seg" as one segment.
struct Store {
  std::filesystem::path dir;
  std::unique_ptr<OfflineStore> store;
  ~Store() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

OfflineStore* GetStore(const Data& d) {
  static std::unique_ptr<Store> cached;
  static const Data* cached_for = nullptr;
  if (cached && cached_for == &d) return cached->store.get();
  cached.reset();
  auto s = std::make_unique<Store>();
  const char* base = std::getenv("CAIRN_BENCH_DIR");
  std::string tmpl = (base ? std::string(base) : std::string("/tmp")) + "/pit_bench_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return nullptr;
  s->dir = tmpl;
  auto opened = OfflineStore::Open(s->dir.string());
  if (!opened.ok()) return nullptr;
  s->store = std::move(*opened);
  for (int v = 0; v < kViews; ++v) {
    const Table& rows = d.views[v];
    OfflineTableLayout layout{{"driver_id"}, rows.schema()};
    std::string one = "view.view" + std::to_string(v) + ".1seg";
    std::string four = "view.view" + std::to_string(v) + ".4seg";
    if (!s->store->EnsureTable(one, layout).ok() || !s->store->EnsureTable(four, layout).ok() ||
        !s->store->Append(one, rows).ok()) {
      return nullptr;
    }
    for (int q = 0; q < 4; ++q) {
      Table part = Table::FromSchema(rows.schema());
      const std::vector<int64_t>& ts = rows.columns[1].ints;
      for (size_t r = 0; r < rows.num_rows(); ++r) {
        if (ts[r] * 4 / (kTimeRange + 1) == q) part.AppendRow(rows, r);
      }
      if (!s->store->Append(four, part).ok()) return nullptr;
    }
  }
  cached = std::move(s);
  cached_for = &d;
  return cached->store.get();
}

// kind: 0 StreamOfSortedTable, 1 SliceStream, 2 OfflineStore (4 segments), 3 (1 segment).
std::unique_ptr<RowStream> OpenStream(const Data& d, int v, int64_t kind) {
  if (kind == 1) return std::make_unique<SliceStream>(d.views[v], kBatchRows);
  if (kind >= 2) {
    OfflineStore* store = GetStore(d);
    if (store == nullptr) return nullptr;
    ScanOptions options;
    options.batch_rows = kBatchRows;
    auto scan = store->Scan(
        "view.view" + std::to_string(v) + (kind == 2 ? ".4seg" : ".1seg"), options);
    return scan.ok() ? std::move(*scan) : nullptr;
  }
  return StreamOfSortedTable(d.views[v], kBatchRows);
}

void BM_PitJoin(benchmark::State& state) {
  const Data& d = GetData(state.range(0), state.range(1), state.range(2));
  PitOptions options;
  options.full_feature_names = true;
  options.threads = static_cast<int>(state.range(3));
  if (OpenStream(d, 0, state.range(4)) == nullptr) {
    state.SkipWithError("could not open the stream (offline store?)");
    return;
  }
  for (auto _ : state) {
    std::vector<PitView> views;
    for (int v = 0; v < kViews; ++v) {
      views.push_back(PitView{&d.specs[v], {"driver_id"}, OpenStream(d, v, state.range(4)),
                              {"f0", "f1", "f2"}});
    }
    auto out = PointInTimeJoin(d.entities, std::move(views), options);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(out->columns.back().doubles.data());
  }
  state.counters["entity_rows/s"] =
      benchmark::Counter(static_cast<double>(state.range(0)) * state.iterations(),
                         benchmark::Counter::kIsRate);
  state.counters["view_rows/s"] =
      benchmark::Counter(static_cast<double>(state.range(1)) * kViews * state.iterations(),
                         benchmark::Counter::kIsRate);
}

void BM_StreamOnly(benchmark::State& state) {
  const Data& d = GetData(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) {
    int64_t rows = 0;
    for (int v = 0; v < kViews; ++v) {
      auto stream = OpenStream(d, v, state.range(3));
      Table batch;
      while (*stream->Next(&batch)) rows += batch.num_rows();
    }
    benchmark::DoNotOptimize(rows);
  }
}

// entities, rows per view, keys, threads, stream (0 StreamOfSortedTable, 1 SliceStream)
BENCHMARK(BM_PitJoin)
    ->Args({100'000, 1'000'000, 10'000, 1, 0})
    ->Args({100'000, 1'000'000, 10'000, 0, 0})
    ->Args({100'000, 1'000'000, 10'000, 1, 1})
    ->Args({1'000'000, 10'000'000, 100'000, 1, 0})
    ->Args({1'000'000, 10'000'000, 100'000, 0, 0})
    ->Args({1'000'000, 10'000'000, 100'000, 1, 1})
    ->Args({1'000'000, 10'000'000, 100'000, 0, 1})
    ->Args({1'000'000, 10'000'000, 100'000, 1, 2})
    ->Args({1'000'000, 10'000'000, 100'000, 0, 2})
    ->Args({1'000'000, 10'000'000, 100'000, 1, 3})
    ->Args({1'000'000, 10'000'000, 100'000, 0, 3})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);
// entities, rows per view, keys, stream
BENCHMARK(BM_StreamOnly)
    ->Args({100'000, 1'000'000, 10'000, 0})
    ->Args({100'000, 1'000'000, 10'000, 1})
    ->Args({1'000'000, 10'000'000, 100'000, 0})
    ->Args({1'000'000, 10'000'000, 100'000, 1})
    ->Args({1'000'000, 10'000'000, 100'000, 2})
    ->Args({1'000'000, 10'000'000, 100'000, 3})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace cairn::features

BENCHMARK_MAIN();
