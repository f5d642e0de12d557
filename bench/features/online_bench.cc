// Online serving benchmarks (Google Benchmark):
//   BM_GetOnlineFeatures/N     OnlineFeatureService::GetOnlineFeatures, N entities ×
//                              10 features, embedded store with 100k keys (µs per call)
//   BM_EmbeddedRead/N          OnlineStore::Read of N keys (items/s = lookups/s)
//   BM_RedisRead/N             the same against CAIRN_TEST_REDIS_URL (skipped when unset)
//   BM_Materialize             10M generated view rows (100k keys × 100 rows, 5 row
//                              features, 2 windows) into a fresh embedded store; reports
//                              peak RSS (MB) as a counter
// Run: online_bench --benchmark_filter=... ; single-threaded, Release build.

#include <sys/resource.h>

#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "features/entity_key.h"
#include "features/online/embedded_online_store.h"
#include "features/online/materializer.h"
#include "features/online/online_feature_service.h"
#include "features/online/online_store.h"

namespace cairn::features {
namespace {

constexpr int64_t kKeys = 100'000;
constexpr int kFeatures = 10;
constexpr int64_t kNow = 1'700'000'000'000;

std::string Key(int64_t id) {
  std::string out;
  EncodeKeyValue(Value(id), FeatureType::kInt64, &out);
  return out;
}

FeatureViewSpec StatsSpec() {
  FeatureViewSpec spec;
  spec.meta.name = "customer_stats";
  spec.ttl_ms = 86'400'000;
  for (int f = 0; f < kFeatures; ++f) {
    FeatureSpec fs;
    fs.name = absl::StrCat("f", f);
    fs.type = f % 3 == 0 ? FeatureType::kInt64 : FeatureType::kDouble;
    spec.features.push_back(fs);
  }
  return spec;
}

void Populate(OnlineStore& store) {
  std::vector<std::string> keys;
  std::vector<OnlineRow> rows;
  for (int64_t k = 0; k < kKeys; ++k) {
    OnlineRow row{kNow - 1000, kNow, {}};
    for (int f = 0; f < kFeatures; ++f) {
      if (f % 3 == 0) {
        row.values.emplace_back(int64_t{k * f});
      } else {
        row.values.emplace_back(k * 0.001 + f);
      }
    }
    keys.push_back(Key(k));
    rows.push_back(std::move(row));
    if (keys.size() == 10'000) {
      if (!store.Write("customer_stats", keys, rows).ok()) std::abort();
      keys.clear();
      rows.clear();
    }
  }
}

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<OnlineStore> store;
  Fixture() {
    dir = std::filesystem::temp_directory_path() /
          ("cairn-online-bench-" + std::to_string(std::random_device()()));
    store = std::move(*OpenEmbeddedOnlineStore(dir.string()));
    Populate(*store);
  }
  ~Fixture() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

Fixture& Embedded() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

class Catalog : public FeatureCatalog {
 public:
  Catalog() {
    auto view = std::make_shared<ServedView>();
    view->spec = StatsSpec();
    view->join_keys = {Field{"customer_id", FeatureType::kInt64, false}};
    view_ = view;
  }
  absl::StatusOr<std::shared_ptr<const ServedView>> View(std::string_view name) const override {
    if (name != "customer_stats") return absl::NotFoundError("no such view");
    return view_;
  }
  absl::StatusOr<std::vector<FeatureRef>> Service(std::string_view) const override {
    return absl::NotFoundError("no services");
  }

 private:
  std::shared_ptr<const ServedView> view_;
};

std::string Request(int entities, std::mt19937_64& rng) {
  std::string req = R"({"features":[)";
  for (int f = 0; f < kFeatures; ++f) absl::StrAppend(&req, f ? "," : "", "\"customer_stats:f", f, "\"");
  req += R"(],"entities":{"customer_id":[)";
  for (int e = 0; e < entities; ++e) absl::StrAppend(&req, e ? "," : "", rng() % kKeys);
  req += "]}}";
  return req;
}

void BM_GetOnlineFeatures(benchmark::State& state) {
  Fixture& fixture = Embedded();
  Catalog catalog;
  FakeClock clock(kNow);
  OnlineFeatureService service(&catalog, fixture.store.get(), &clock);
  std::mt19937_64 rng(1);
  std::vector<std::string> requests;
  for (int i = 0; i < 256; ++i) requests.push_back(Request(static_cast<int>(state.range(0)), rng));
  size_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::string> out = service.GetOnlineFeatures(requests[i++ & 255]);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      break;
    }
    bytes += out->size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["response_bytes"] = static_cast<double>(bytes) / std::max<int64_t>(1, state.iterations());
}
BENCHMARK(BM_GetOnlineFeatures)->Arg(1)->Arg(100);

void ReadBench(benchmark::State& state, const OnlineStore& store) {
  std::mt19937_64 rng(2);
  std::vector<std::vector<std::string>> batches(64);
  for (auto& batch : batches) {
    for (int64_t k = 0; k < state.range(0); ++k) batch.push_back(Key(static_cast<int64_t>(rng() % kKeys)));
  }
  std::vector<std::optional<OnlineRow>> out;
  size_t i = 0;
  for (auto _ : state) {
    absl::Status st = store.Read("customer_stats", batches[i++ & 63], &out);
    if (!st.ok() || !out[0].has_value()) {
      state.SkipWithError(st.ok() ? "key not found" : std::string(st.message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_EmbeddedRead(benchmark::State& state) { ReadBench(state, *Embedded().store); }
BENCHMARK(BM_EmbeddedRead)->Arg(1)->Arg(100);

void BM_RedisRead(benchmark::State& state) {
  const char* url = std::getenv("CAIRN_TEST_REDIS_URL");
  if (url == nullptr) {
    state.SkipWithError("CAIRN_TEST_REDIS_URL is not set");
    return;
  }
  static std::unique_ptr<OnlineStore> store = [&] {
    auto opened = OpenOnlineStore(url, "");
    if (!opened.ok()) std::abort();
    Populate(**opened);
    return std::move(*opened);
  }();
  ReadBench(state, *store);
}
BENCHMARK(BM_RedisRead)->Arg(1)->Arg(100)->UseRealTime();

// Sorted view rows generated on the fly: kKeys keys × rows_per_key rows, batch by batch
// (what an offline scan delivers), so the stream itself holds one batch.
class GeneratedViewStream : public RowStream {
 public:
  GeneratedViewStream(int64_t keys, int64_t rows_per_key) : keys_(keys), per_key_(rows_per_key) {
    schema_ = {{"customer_id", FeatureType::kInt64, false}, {kEventTsColumn, FeatureType::kTimestamp, false},
               {kCreatedTsColumn, FeatureType::kTimestamp, false}, {"amount", FeatureType::kDouble, true},
               {"balance", FeatureType::kDouble, true}, {"items", FeatureType::kInt64, true},
               {"score", FeatureType::kDouble, true}, {"channel", FeatureType::kString, true},
               {"__agg_input.amount_sum_7d", FeatureType::kDouble, true}};
  }
  const Schema& schema() const override { return schema_; }
  absl::StatusOr<bool> Next(Table* batch) override {
    int64_t total = keys_ * per_key_;
    if (next_ >= total) return false;
    if (batch->num_columns() != schema_.size()) *batch = Table::FromSchema(schema_);
    batch->Clear();
    int64_t end = std::min(total, next_ + 65536);
    static const char* kChannels[] = {"web", "app", "store"};
    for (int64_t r = next_; r < end; ++r) {
      int64_t key = r / per_key_, j = r % per_key_;
      int64_t ev = kNow - (per_key_ - j) * 3'600'000;  // hourly
      double amount = static_cast<double>((r * 7919) % 1000) / 10.0;
      batch->columns[0].AppendInt(key);
      batch->columns[1].AppendInt(ev);
      batch->columns[2].AppendInt(ev + 5);
      batch->columns[3].AppendDouble(amount);
      batch->columns[4].AppendDouble(amount * 3);
      batch->columns[5].AppendInt(j);
      batch->columns[6].AppendDouble(0.5);
      batch->columns[7].AppendString(kChannels[r % 3]);
      batch->columns[8].AppendDouble(amount);
    }
    next_ = end;
    return true;
  }

 private:
  Schema schema_;
  int64_t keys_, per_key_, next_ = 0;
};

void BM_Materialize(benchmark::State& state) {
  FeatureViewSpec spec;
  spec.meta.name = "customer_txn";
  for (const auto& [name, type] : std::vector<std::pair<std::string, FeatureType>>{
           {"amount", FeatureType::kDouble}, {"balance", FeatureType::kDouble},
           {"items", FeatureType::kInt64}, {"score", FeatureType::kDouble},
           {"channel", FeatureType::kString}}) {
    FeatureSpec fs;
    fs.name = name;
    fs.type = type;
    spec.features.push_back(fs);
  }
  FeatureSpec sum;
  sum.name = "amount_sum_7d";
  sum.agg = AggFn::kSum;
  sum.of = "amount";
  sum.window_ms = 7 * 86'400'000;
  spec.features.push_back(sum);
  FeatureSpec count;
  count.name = "txn_count_1d";
  count.type = FeatureType::kInt64;
  count.agg = AggFn::kCount;
  count.window_ms = 86'400'000;
  spec.features.push_back(count);
  std::vector<Field> keys = {Field{"customer_id", FeatureType::kInt64, false}};
  int64_t rows_per_key = state.range(0) / kKeys;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-materialize-bench-" + std::to_string(std::random_device()()));
    auto store = std::move(*OpenEmbeddedOnlineStore(dir.string()));
    GeneratedViewStream stream(kKeys, rows_per_key);
    state.ResumeTiming();
    auto result = Materialize(spec, keys, stream, *store, kNow - 30LL * 86'400'000, kNow + 1);
    state.PauseTiming();
    if (!result.ok() || result->keys_written != kKeys) {
      state.SkipWithError(result.ok() ? "wrong key count" : std::string(result.status().message()).c_str());
    }
    state.counters["rows"] = static_cast<double>(result.ok() ? result->rows_read : 0);
    store.reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Materialize)->Arg(10'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cairn::features

BENCHMARK_MAIN();
