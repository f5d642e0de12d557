// The evaluator with the real XGBoost runtime: a booster trained through the C API, an
// evaluation CSV whose columns come in another order than the model's and hold missing
// values; the metrics must be those of the booster's own predictions.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cicd/evaluator.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "monitoring/stats/quality_metrics.h"
#include "serving/mlmodel.h"
#include "serving/testing/xgb_models.h"
#include "serving/xgb_runtime.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace cairn::cicd {
namespace {

namespace fs = std::filesystem;
using monitoring::stats::ComputeMetrics;
using monitoring::stats::MetricSet;

TEST(EvaluatorXgbTest, ScoresABoosterByColumnNameWithMissingValues) {
  const fs::path dir =
      fs::temp_directory_path() / ("cairn-evaluator-xgb-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  constexpr int kFeatures = 20;
  constexpr int kRows = 400;
  serving::testing::TestBoosterOptions options;
  options.features = kFeatures;
  options.trees = 100;
  absl::StatusOr<std::string> model_json = serving::testing::TrainTestBooster(options);
  ASSERT_TRUE(model_json.ok()) << model_json.status();
  const std::vector<std::string> names = serving::testing::FeatureNames(kFeatures);
  ASSERT_TRUE(
      serving::testing::WriteXgbModelDir((dir / "model").string(), *model_json, names).ok());

  // Rows the booster did not train on (another seed), and its own predictions of them.
  const std::vector<float> rows = serving::testing::SyntheticRows(kRows, kFeatures, 7);
  absl::StatusOr<std::vector<float>> reference =
      serving::testing::ReferencePredict(*model_json, rows, kFeatures);
  ASSERT_TRUE(reference.ok()) << reference.status();
  // Labels: the booster is right on three rows of four (every fourth label flipped).
  std::vector<double> labels(kRows), predictions(kRows);
  for (int r = 0; r < kRows; ++r) {
    predictions[r] = (*reference)[r];
    labels[r] = (predictions[r] >= 0.5) != (r % 4 == 3) ? 1.0 : 0.0;
  }
  // The CSV: label first, then the features in reverse order; NaN written as empty.
  {
    std::ofstream csv(dir / "eval.csv");
    csv << "label";
    for (int c = kFeatures - 1; c >= 0; --c) csv << "," << names[c];
    csv << "\n";
    csv.precision(9);
    for (int r = 0; r < kRows; ++r) {
      csv << labels[r];
      for (int c = kFeatures - 1; c >= 0; --c) {
        const float v = rows[static_cast<size_t>(r) * kFeatures + c];
        csv << ",";
        if (!std::isnan(v)) csv << v;
      }
      csv << "\n";
    }
  }

  FakeClock clock;
  auto db = storage::OpenDatabase("sqlite::memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  auto registry = tracking::ModelRegistry::Open(**db, clock);
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_TRUE((*registry)->CreateRegisteredModel("churn").ok());
  ASSERT_TRUE((*registry)->CreateModelVersion("churn", (dir / "model").string()).ok());

  PolicySpec policy;
  policy.name = "churn-gate";
  policy.model = "churn";
  policy.evaluation.path = (dir / "eval.csv").string();
  policy.evaluation.label = "label";
  GateSpec auc{.kind = "metric", .name = "auc", .min = 0.6};
  GateSpec latency{.kind = "check", .name = "latency_p99_ms", .max = 1000};
  GateSpec size{.kind = "check", .name = "size_mb", .max = 100};
  policy.gates = {GateSpec{.kind = "check", .name = "loads"}, auc, latency, size};

  EvaluatorDeps deps;
  deps.registry = registry->get();
  deps.load_runtime = [&](std::string_view,
                          int64_t) -> absl::StatusOr<std::shared_ptr<serving::ModelRuntime>> {
    absl::StatusOr<serving::ModelInfo> info = serving::ReadModelInfo((dir / "model").string());
    if (!info.ok()) return info.status();
    absl::StatusOr<std::unique_ptr<serving::ModelRuntime>> runtime =
        serving::LoadXgbRuntime(*info, 1);
    if (!runtime.ok()) return runtime.status();
    return std::shared_ptr<serving::ModelRuntime>(std::move(*runtime));
  };
  deps.clock = &clock;

  absl::StatusOr<Evaluation> ev = Evaluate(policy, 1, "churn", 1, "ci", deps);
  ASSERT_TRUE(ev.ok()) << ev.status();
  for (const GateResult& g : ev->gates) EXPECT_EQ(g.verdict, "pass") << g.gate << ": " << g.detail;
  EXPECT_TRUE(ev->passed);
  EXPECT_EQ(ev->rows, kRows);

  absl::StatusOr<MetricSet> expected = ComputeMetrics(labels, predictions, 0.5);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_NEAR(ev->metrics["candidate"]["auc"].get<double>(), expected->values.at("auc"), 1e-9);
  EXPECT_NEAR(ev->metrics["candidate"]["logloss"].get<double>(), expected->values.at("logloss"),
              1e-6);
  EXPECT_NEAR(ev->metrics["candidate"]["accuracy"].get<double>(), 0.75, 1e-9);
  ASSERT_TRUE(ev->gates[2].value.has_value());
  EXPECT_GT(*ev->gates[2].value, 0.0);  // a real single-row p99, in ms
  int64_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "model")) {
    if (entry.is_regular_file()) bytes += static_cast<int64_t>(entry.file_size());
  }
  EXPECT_NEAR(*ev->gates[3].value, static_cast<double>(bytes) / (1024.0 * 1024.0), 1e-9);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn::cicd
