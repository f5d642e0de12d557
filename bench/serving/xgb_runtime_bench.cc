// In-process latency of the XGBoost runtime (docs/benchmarks.md, "Serving"): a booster of
// 100 trees (depth 6) over 20 features, single-row Predict through the ModelRuntime
// interface, against the bare C API call it wraps; then concurrent callers on one shared
// booster against one booster per thread (the design question of xgb_runtime.h).
//
//   build/<dir>/src/serving/serving_xgb_runtime_bench [ITERATIONS] [THREADS]
//
// Prints wall and thread-CPU microseconds per call (median, p99) and calls/s.

#include <pthread.h>
#include <time.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "serving/mlmodel.h"
#include "serving/testing/xgb_models.h"
#include "serving/xgb_runtime.h"

namespace {

using cairn::serving::ModelInput;
using cairn::serving::ModelRuntime;

constexpr int kFeatures = 20;

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

struct Summary {
  double median = 0, p99 = 0, cpu_per_call = 0;
};

Summary Summarize(std::vector<double>& samples, double cpu_total) {
  std::sort(samples.begin(), samples.end());
  Summary out;
  out.median = samples[samples.size() / 2];
  out.p99 = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  out.cpu_per_call = cpu_total / samples.size();
  return out;
}

ModelInput RowInput(const std::vector<float>& rows, size_t row) {
  ModelInput input;
  input.columns = cairn::serving::testing::FeatureNames(kFeatures);
  input.rows = 1;
  for (int column = 0; column < kFeatures; ++column) {
    input.cells.emplace_back(static_cast<double>(rows[row * kFeatures + column]));
  }
  return input;
}

const char kConfig[] =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false, "cache_id": 0, "missing": NaN})";

// libxgboost 1.7 builds a proxy DMatrix per call when given none, and its Context
// constructor reads the cgroup CPU quota files (2 openat per call): reuse one per thread.
DMatrixHandle ThreadProxy() {
  struct Proxy {
    DMatrixHandle handle = nullptr;
    Proxy() { XGProxyDMatrixCreate(&handle); }
    ~Proxy() { XGDMatrixFree(handle); }
  };
  thread_local Proxy proxy;
  return proxy.handle;
}

bool g_reuse_proxy = false;

float RawPredict(BoosterHandle booster, const float* row) {
  char array[160];
  std::snprintf(array, sizeof(array),
                R"({"data": [%llu, true], "shape": [1, %d], "typestr": "<f4", "version": 3})",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(row)), kFeatures);
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(booster, array, kConfig, g_reuse_proxy ? ThreadProxy() : nullptr,
                                &shape, &dims, &out) != 0) {
    std::fprintf(stderr, "predict: %s\n", XGBGetLastError());
    std::exit(1);
  }
  return out[0];
}

BoosterHandle LoadBooster(const std::string& json) {
  BoosterHandle booster = nullptr;
  XGBoosterCreate(nullptr, 0, &booster);
  XGBoosterLoadModelFromBuffer(booster, json.data(), json.size());
  XGBoosterSetParam(booster, "nthread", "1");
  return booster;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  cairn::serving::testing::TestBoosterOptions options;
  options.features = kFeatures;
  options.trees = 100;
  options.max_depth = 6;
  options.rows = 5000;
  absl::StatusOr<std::string> model = cairn::serving::testing::TrainTestBooster(options);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("cairn_xgb_bench_" + std::to_string(::getpid())))
                              .string();
  if (!cairn::serving::testing::WriteXgbModelDir(dir, *model).ok()) return 1;
  absl::StatusOr<cairn::serving::ModelInfo> info = cairn::serving::ReadModelInfo(dir);
  absl::StatusOr<std::unique_ptr<ModelRuntime>> runtime =
      cairn::serving::LoadXgbRuntime(*info, 1);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  const std::vector<float> rows = cairn::serving::testing::SyntheticRows(1024, kFeatures, 3);
  std::vector<ModelInput> inputs;
  for (size_t row = 0; row < 1024; ++row) inputs.push_back(RowInput(rows, row));

  std::printf("model: %d trees, depth %d, %d features; %d single-row calls per case\n",
              options.trees, options.max_depth, kFeatures, iterations);

  // 1. ModelRuntime::Predict, one caller.
  {
    std::vector<double> samples;
    samples.reserve(iterations);
    double sink = 0;
    for (int warm = 0; warm < 1000; ++warm) sink += (*(*runtime)->Predict(inputs[warm % 1024]))[0];
    const double cpu0 = ThreadCpuUs();
    for (int call = 0; call < iterations; ++call) {
      const double t0 = NowUs();
      sink += (*(*runtime)->Predict(inputs[call % 1024]))[0];
      samples.push_back(NowUs() - t0);
    }
    Summary s = Summarize(samples, ThreadCpuUs() - cpu0);
    std::printf("runtime Predict, 1 thread:  median %.1f us, p99 %.1f us, cpu %.1f us/call "
                "(checksum %.3f)\n", s.median, s.p99, s.cpu_per_call, sink);
  }
  // 2. The bare C API call, one caller (the wrapper's overhead is the difference).
  for (int reuse = 0; reuse < 2; ++reuse) {
    g_reuse_proxy = reuse == 1;
    BoosterHandle booster = LoadBooster(*model);
    std::vector<double> samples;
    samples.reserve(iterations);
    double sink = 0;
    for (int warm = 0; warm < 1000; ++warm) sink += RawPredict(booster, &rows[(warm % 1024) * kFeatures]);
    const double cpu0 = ThreadCpuUs();
    for (int call = 0; call < iterations; ++call) {
      const double t0 = NowUs();
      sink += RawPredict(booster, &rows[(call % 1024) * kFeatures]);
      samples.push_back(NowUs() - t0);
    }
    Summary s = Summarize(samples, ThreadCpuUs() - cpu0);
    std::printf("bare XGBoosterPredictFromDense, %s: median %.1f us, p99 %.1f us, "
                "cpu %.1f us/call\n", reuse ? "reused proxy DMatrix" : "no proxy (1.7 makes one)",
                s.median, s.p99, s.cpu_per_call);
    XGBoosterFree(booster);
  }
  // 3. Concurrent callers: the runtime with one shared booster, with one booster per
  // thread, and the bare API with one booster per thread.
  for (int variant = 0; variant < 3; ++variant) {
    std::vector<BoosterHandle> own(threads, nullptr);
    absl::StatusOr<std::unique_ptr<ModelRuntime>> copies =
        cairn::serving::LoadXgbRuntimeCopies(*info, 1, variant == 1 ? threads : 1);
    if (variant == 2) {
      for (BoosterHandle& booster : own) booster = LoadBooster(*model);
    }
    std::atomic<bool> go{false};
    std::vector<double> cpu(threads, 0);
    std::vector<std::thread> pool;
    for (int worker = 0; worker < threads; ++worker) {
      pool.emplace_back([&, worker] {
        while (!go.load()) {
        }
        const double cpu0 = ThreadCpuUs();
        double sink = 0;
        for (int call = 0; call < iterations; ++call) {
          const size_t row = (call * 7 + worker) % 1024;
          if (variant < 2) {
            sink += (*(*copies)->Predict(inputs[row]))[0];
          } else {
            sink += RawPredict(own[worker], &rows[row * kFeatures]);
          }
        }
        cpu[worker] = ThreadCpuUs() - cpu0;
        if (sink == 12345.678) std::printf("!");
      });
    }
    const double t0 = NowUs();
    go = true;
    for (std::thread& thread : pool) thread.join();
    const double seconds = (NowUs() - t0) / 1e6;
    double cpu_total = 0;
    for (double value : cpu) cpu_total += value;
    const char* names[] = {"runtime, one shared booster", "runtime, one booster per thread",
                           "bare API, one booster per thread"};
    std::printf("%d threads, %s: %.0f calls/s, cpu %.1f us/call\n", threads, names[variant],
                threads * iterations / seconds, cpu_total / (threads * iterations));
    for (BoosterHandle booster : own) {
      if (booster != nullptr) XGBoosterFree(booster);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
