// The endpoint service's predict path in process (docs/benchmarks.md, "Serving"): an
// XGBoost model of 100 trees (depth 6) over 20 features, served by EndpointService with a
// feature service of 20 online features (embedded online store, 100,000 customers), one
// entity key per request (varying keys), through Predict(name, request JSON) → response
// JSON: parse, online lookup, XGBoost predict, ids, inference-log sampling, the answer.
// No HTTP: this is what the endpoint adds on top of the server's request handling.
//
//   build/<dir>/src/serving/serving_endpoint_bench [SECONDS] [THREADS] [LOG_SAMPLE]
//
// Phase 1: THREADS closed-loop callers for SECONDS → predictions/s and the latency
// distribution. Phase 2: the same threads paced at half that rate (each sends at fixed
// intervals; latency measured from the intended send time, so queueing counts) → p50/p99.

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "features/entity_key.h"
#include "features/online/embedded_online_store.h"
#include "features/online/online_feature_service.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_service.h"
#include "serving/endpoint_store.h"
#include "serving/testing/xgb_models.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace {

using namespace cairn;           // NOLINT: a benchmark program
using namespace cairn::serving;  // NOLINT

constexpr int kFeatures = 20;
constexpr int kCustomers = 100'000;

class Catalog : public features::FeatureCatalog {
 public:
  absl::StatusOr<std::shared_ptr<const features::ServedView>> View(
      std::string_view name) const override {
    if (name != "customer_features") return absl::NotFoundError("no such view");
    return view;
  }
  absl::StatusOr<std::vector<features::FeatureRef>> Service(
      std::string_view name) const override {
    if (name != "churn") return absl::NotFoundError("no such feature service");
    return std::vector<features::FeatureRef>{{"customer_features", ""}};
  }
  std::shared_ptr<const features::ServedView> view;
};

class CountingSink : public InferenceLogSink {
 public:
  bool Append(InferenceRecord record) override {
    appended.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::atomic<int64_t> appended{0};
};

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
    std::exit(1);
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const double log_sample = argc > 3 ? std::atof(argv[3]) : 0.0;
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-endpoint-bench-", std::random_device()());
  std::filesystem::create_directories(dir);

  // The model: 100 trees × 20 features named f0…f19.
  testing::TestBoosterOptions booster;
  booster.features = kFeatures;
  booster.trees = 100;
  absl::StatusOr<std::string> model_json = testing::TrainTestBooster(booster);
  Check(model_json.status(), "train");
  Check(testing::WriteXgbModelDir((dir / "model").string(), *model_json), "model dir");

  auto db = storage::OpenDatabase((dir / "cairn.db").string());
  Check(db.status(), "database");
  FakeClock clock;
  auto models = tracking::ModelRegistry::Open(**db, clock);
  Check(models.status(), "registry");
  Check((*models)->CreateRegisteredModel("churn").status(), "model");
  Check((*models)->CreateModelVersion("churn", (dir / "model").string()).status(), "version");
  Check((*models)->SetAlias("churn", "production", 1), "alias");
  auto definitions = EndpointRegistry::Open(**db, clock);
  Check(definitions.status(), "endpoint registry");
  auto store = EndpointStore::Open(**db, clock);
  Check(store.status(), "endpoint store");

  // 20 online features for 100,000 customers.
  auto online_store = features::OpenEmbeddedOnlineStore((dir / "online").string());
  Check(online_store.status(), "online store");
  auto view = std::make_shared<features::ServedView>();
  view->spec.meta.name = "customer_features";
  std::vector<std::string> names = testing::FeatureNames(kFeatures);
  for (const std::string& name : names) {
    features::FeatureSpec f;
    f.name = name;
    f.type = features::FeatureType::kDouble;
    view->spec.features.push_back(f);
  }
  view->join_keys = {features::Field{"customer_id", features::FeatureType::kInt64, false}};
  Catalog catalog;
  catalog.view = view;
  std::vector<float> data = testing::SyntheticRows(kCustomers, kFeatures, 7);
  {
    std::vector<std::string> keys;
    std::vector<features::OnlineRow> rows;
    for (int c = 0; c < kCustomers; ++c) {
      std::string key;
      features::EncodeKeyValue(features::Value(int64_t{c}), features::FeatureType::kInt64, &key);
      keys.push_back(key);
      features::OnlineRow row{clock.NowMillis(), clock.NowMillis(), {}};
      for (int f = 0; f < kFeatures; ++f) {
        row.values.emplace_back(static_cast<double>(data[c * kFeatures + f]));
      }
      rows.push_back(std::move(row));
    }
    Check((*online_store)->Write("customer_features", keys, rows), "write online");
  }
  features::OnlineFeatureService online(&catalog, online_store->get(), &clock);

  EndpointSpec spec;
  spec.name = "churn";
  spec.model = "churn";
  spec.alias = "production";
  spec.feature_service = "churn";
  spec.log_sample = log_sample;
  Check((*definitions)->Apply({spec}, false, false).status(), "apply");

  CountingSink sink;
  EndpointServiceOptions options;
  options.models = models->get();
  options.definitions = definitions->get();
  options.store = store->get();
  options.online = &online;
  options.inference_log = &sink;
  options.clock = &clock;
  auto service = EndpointService::Start(std::move(options));
  Check(service.status(), "service");
  {
    auto first = (*service)->Predict("churn", R"({"entities": {"customer_id": [1]}})");
    Check(first.status(), "first predict");
    std::printf("response: %s\n", first->c_str());
  }

  // Latency from the intended send time (paced) or the send (closed loop) into `latencies`,
  // from the actual send into `service`; thread CPU microseconds into `cpu_us`.
  auto run = [&](double rate_per_thread, std::vector<double>* latencies,
                 std::vector<double>* service_times, double* cpu_us) -> int64_t {
    std::atomic<int64_t> done{0};
    std::atomic<int64_t> failed{0};
    std::vector<std::vector<double>> per_thread(threads), per_thread_service(threads);
    std::vector<double> cpu(threads);
    const double start = NowUs();
    const double end = start + seconds * 1e6;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937_64 rng(t + 1);
        std::string body;
        double next = NowUs();
        const double interval = rate_per_thread > 0 ? 1e6 / rate_per_thread : 0;
        const double cpu_start = ThreadCpuUs();
        while (true) {
          double intended = NowUs();
          if (interval > 0) {
            const double wait = next - NowUs();
            if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(
                              static_cast<int64_t>(wait)));
            intended = next;
            next += interval;
          }
          if (intended >= end) break;
          body = absl::StrCat(R"({"entities": {"customer_id": [)", rng() % kCustomers, "]}}");
          const double sent = NowUs();
          auto out = (*service)->Predict("churn", body);
          if (!out.ok()) failed++;
          const double answered = NowUs();
          per_thread[t].push_back(answered - intended);
          per_thread_service[t].push_back(answered - sent);
          done++;
        }
        cpu[t] = ThreadCpuUs() - cpu_start;
      });
    }
    for (auto& w : workers) w.join();
    for (auto& v : per_thread) latencies->insert(latencies->end(), v.begin(), v.end());
    for (auto& v : per_thread_service) {
      service_times->insert(service_times->end(), v.begin(), v.end());
    }
    *cpu_us = 0;
    for (double c : cpu) *cpu_us += c;
    if (failed > 0) std::printf("FAILED requests: %lld\n", static_cast<long long>(failed.load()));
    return done;
  };

  std::vector<double> closed, closed_service;
  double cpu_us = 0;
  const int64_t n = run(0, &closed, &closed_service, &cpu_us);
  const double throughput = n / seconds;
  std::printf("closed loop: %d threads, %.1f s: %lld predictions, %.0f predictions/s; latency "
              "p50 %.1f us, p99 %.1f us; %.1f us CPU per prediction (%.0f predictions per "
              "CPU-second)\n",
              threads, seconds, static_cast<long long>(n), throughput,
              Percentile(closed, 0.5), Percentile(closed, 0.99), cpu_us / n, n / cpu_us * 1e6);
  std::vector<double> paced, paced_service;
  const double half = throughput / 2;
  const int64_t m = run(half / threads, &paced, &paced_service, &cpu_us);
  std::printf("paced at %.0f/s (half): %lld predictions; from the intended send time p50 %.1f "
              "us, p99 %.1f us, max %.1f us; from the actual send p50 %.1f us, p99 %.1f us\n",
              half, static_cast<long long>(m), Percentile(paced, 0.5), Percentile(paced, 0.99),
              Percentile(paced, 1.0), Percentile(paced_service, 0.5),
              Percentile(paced_service, 0.99));
  std::printf("inference log sample %.2f: %lld records appended\n", log_sample,
              static_cast<long long>(sink.appended.load()));
  (*service)->Shutdown();
  std::filesystem::remove_all(dir);
  return 0;
}
