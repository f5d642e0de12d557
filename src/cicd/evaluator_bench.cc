// How long a gate takes (`cairn ci check` minus HTTP): Evaluate of a 100-tree × 20-feature
// XGBoost candidate against a production version of the same shape, on ROWS evaluation
// rows with 4 slices, gates auc / logloss (bounds, comparison, per slice), loads,
// latency_p99_ms and size_mb.
//   build/<dir>/src/cicd/cicd_evaluator_bench [ROWS] [REPEATS]
// Prints the median wall and CPU time of REPEATS evaluations. Labels are a synthetic rule
// unrelated to the boosters' training target: the gate verdicts mean nothing here.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cicd/evaluator.h"
#include "common/clock.h"
#include "serving/mlmodel.h"
#include "serving/testing/xgb_models.h"
#include "serving/xgb_runtime.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace fs = std::filesystem;
using namespace cairn;        // NOLINT: a small program
using namespace cairn::cicd;  // NOLINT

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int rows = argc > 1 ? std::atoi(argv[1]) : 100'000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  constexpr int kFeatures = 20;
  const fs::path dir =
      fs::temp_directory_path() / ("cairn-evaluator-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::vector<std::string> names = serving::testing::FeatureNames(kFeatures);
  for (int v = 1; v <= 2; ++v) {
    serving::testing::TestBoosterOptions options;
    options.features = kFeatures;
    options.trees = 100;
    options.seed = static_cast<uint64_t>(v);
    absl::StatusOr<std::string> model = serving::testing::TrainTestBooster(options);
    if (!model.ok()) return Fail(model.status());
    absl::Status written = serving::testing::WriteXgbModelDir(
        (dir / ("v" + std::to_string(v))).string(), *model, names);
    if (!written.ok()) return Fail(written);
  }
  {
    const std::vector<float> data = serving::testing::SyntheticRows(rows, kFeatures, 11);
    std::ofstream csv(dir / "eval.csv");
    csv << "label,segment";
    for (const std::string& name : names) csv << "," << name;
    csv << "\n";
    csv.precision(9);
    for (int r = 0; r < rows; ++r) {
      const float* row = &data[static_cast<size_t>(r) * kFeatures];
      csv << ((row[0] + row[1] > 0) ? 1 : 0) << ",s" << (r % 4);
      for (int c = 0; c < kFeatures; ++c) {
        csv << ",";
        if (!std::isnan(row[c])) csv << row[c];
      }
      csv << "\n";
    }
  }

  FakeClock clock;
  auto db = storage::OpenDatabase("sqlite::memory:");
  if (!db.ok()) return Fail(db.status());
  auto registry = tracking::ModelRegistry::Open(**db, clock);
  if (!registry.ok()) return Fail(registry.status());
  (void)(*registry)->CreateRegisteredModel("churn");
  for (int v = 1; v <= 2; ++v) {
    (void)(*registry)->CreateModelVersion("churn", (dir / ("v" + std::to_string(v))).string());
  }
  absl::Status alias = (*registry)->SetAlias("churn", "production", 1);
  if (!alias.ok()) return Fail(alias);

  PolicySpec policy;
  policy.name = "churn-gate";
  policy.model = "churn";
  policy.evaluation.path = (dir / "eval.csv").string();
  policy.evaluation.label = "label";
  policy.evaluation.slices = {"segment"};
  policy.gates = {
      GateSpec{.kind = "metric", .name = "auc", .min = 0.5, .per_slice = true},
      GateSpec{.kind = "metric", .name = "auc", .min_absolute_change = -1, .per_slice = true},
      GateSpec{.kind = "metric", .name = "logloss", .max = 10},
      GateSpec{.kind = "check", .name = "loads"},
      GateSpec{.kind = "check", .name = "latency_p99_ms", .max = 1000},
      GateSpec{.kind = "check", .name = "size_mb", .max = 100},
  };
  EvaluatorDeps deps;
  deps.registry = registry->get();
  deps.clock = &clock;
  deps.load_runtime =
      [&](std::string_view,
          int64_t version) -> absl::StatusOr<std::shared_ptr<serving::ModelRuntime>> {
    absl::StatusOr<serving::ModelInfo> info =
        serving::ReadModelInfo((dir / ("v" + std::to_string(version))).string());
    if (!info.ok()) return info.status();
    absl::StatusOr<std::unique_ptr<serving::ModelRuntime>> runtime =
        serving::LoadXgbRuntime(*info, 1);
    if (!runtime.ok()) return runtime.status();
    return std::shared_ptr<serving::ModelRuntime>(std::move(*runtime));
  };

  std::vector<double> seconds, cpu_seconds;
  Evaluation last;
  for (int i = 0; i < repeats; ++i) {
    const std::clock_t cpu_start = std::clock();
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Evaluation> ev = Evaluate(policy, 1, "churn", 2, "bench", deps);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu_seconds.push_back(static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
    if (!ev.ok()) return Fail(ev.status());
    last = *ev;
  }
  std::sort(seconds.begin(), seconds.end());
  std::sort(cpu_seconds.begin(), cpu_seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double cpu_median = cpu_seconds[cpu_seconds.size() / 2];
  std::printf("rows %d, features %d, 100 trees, 2 versions scored, %zu gate results\n", rows,
              kFeatures, last.gates.size());
  for (const GateResult& g : last.gates) {
    std::printf("  %-36s %-10s %-6s %s\n", g.gate.c_str(), g.slice.c_str(), g.verdict.c_str(),
                g.value ? std::to_string(*g.value).c_str() : "-");
  }
  std::printf(
      "Evaluate median of %d: %.3f s wall, %.3f s CPU (%.0f rows/s per version scored, "
      "by CPU)\n",
      repeats, median, cpu_median, 2.0 * rows / cpu_median);
  fs::remove_all(dir);
  return 0;
}
