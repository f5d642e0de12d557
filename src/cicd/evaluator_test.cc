#include "cicd/evaluator.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cicd/testing/fake_runtime.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::cicd {
namespace {

using testing::FakeLoader;
using testing::FakeNanos;
using testing::FakeRuntime;
using testing::Info;

// Ten rows; the candidate predicts x itself. Expected metrics computed with scikit-learn
// 1.9.1 on these arrays: overall auc 0.8333333333333334, logloss 0.4768702334501286,
// accuracy (x >= 0.5) 0.7; plan=basic auc 0.6666666666666667, plan=pro auc 1.0, plan=team
// has only label 0 (no auc); a constant 0.5 has logloss 0.6931471805599453 and auc 0.5.
constexpr char kEvalCsv[] =
    "x,plan,churned\n"
    "0.1,basic,0\n0.9,pro,1\n0.4,basic,0\n0.8,pro,1\n0.2,basic,0\n"
    "0.7,pro,1\n0.3,basic,1\n0.6,pro,0\n0.35,team,0\n0.5,team,0\n";

std::shared_ptr<serving::ModelRuntime> Identity(FakeNanos* nanos = nullptr, int64_t ns = 0,
                                                int64_t size_bytes = 1024) {
  return std::make_shared<FakeRuntime>(
      Info({"x"}, size_bytes), "x", [](double x) { return x; }, nanos, ns);
}
std::shared_ptr<serving::ModelRuntime> Constant(double p) {
  return std::make_shared<FakeRuntime>(Info({"x"}), "x", [p](double) { return p; });
}

GateSpec Metric(std::string name) {
  GateSpec g;
  g.kind = "metric";
  g.name = std::move(name);
  return g;
}
GateSpec Check(std::string name) {
  GateSpec g;
  g.kind = "check";
  g.name = std::move(name);
  return g;
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-evaluator-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "eval");
    std::ofstream(dir_ / "eval" / "churn.csv") << kEvalCsv;
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto tracking = tracking::TrackingStore::Open(*db_, clock_);
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    ASSERT_TRUE(registry_->CreateRegisteredModel("churn").ok());

    policy_.name = "churn-gate";
    policy_.model = "churn";
    policy_.evaluation.path = "eval/churn.csv";
    policy_.evaluation.label = "churned";
    policy_.evaluation.slices = {"plan"};

    deps_.registry = registry_.get();
    deps_.tracking = tracking_.get();
    deps_.load_runtime = loader_.Fn();
    deps_.data_dir = dir_.string();
    deps_.clock = &clock_;
    deps_.now_ns = nanos_.Fn();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Registers the next version (with a run logging `metrics` when given).
  int64_t NewVersion(std::vector<std::pair<std::string, double>> metrics = {}) {
    std::string run_id;
    if (!metrics.empty()) {
      auto run = tracking_->CreateRun({.experiment_id = "0"});
      EXPECT_TRUE(run.ok()) << run.status();
      run_id = run->info.run_id;
      for (const auto& [key, value] : metrics) {
        EXPECT_TRUE(tracking_->LogMetric(run_id, {key, value, 1, 0}).ok());
      }
    }
    auto mv = registry_->CreateModelVersion("churn", "models:/fake", run_id);
    EXPECT_TRUE(mv.ok()) << mv.status();
    return mv->version;
  }

  absl::StatusOr<Evaluation> Run(int64_t version) {
    return Evaluate(policy_, 2, "churn", version, "alice", deps_);
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  FakeNanos nanos_;
  FakeLoader loader_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  PolicySpec policy_;
  EvaluatorDeps deps_;
};

TEST_F(EvaluatorTest, FirstVersionPassesBoundsAndSkipsTheComparison) {
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  auc.min_absolute_change = -0.005;  // one gate, two results
  GateSpec logloss = Metric("logloss");
  logloss.max = 0.6;
  policy_.gates = {auc, logloss};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, Identity());

  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_TRUE(ev->passed);
  EXPECT_EQ(ev->id.substr(0, 3), "ev-");
  EXPECT_EQ(ev->id.size(), 35u);
  EXPECT_EQ(ev->model, "churn");
  EXPECT_EQ(ev->version, v1);
  EXPECT_EQ(ev->baseline_version, 0);
  EXPECT_EQ(ev->policy, "churn-gate");
  EXPECT_EQ(ev->policy_version, 2);
  EXPECT_EQ(ev->rows, 10);
  EXPECT_EQ(ev->actor, "alice");
  EXPECT_EQ(ev->created_ms, clock_.NowMillis());
  ASSERT_EQ(ev->gates.size(), 3u);

  EXPECT_EQ(ev->gates[0].gate, "auc >= 0.7");
  EXPECT_EQ(ev->gates[0].verdict, "pass");
  EXPECT_NEAR(*ev->gates[0].value, 0.8333333333333334, 1e-12);
  EXPECT_FALSE(ev->gates[0].baseline.has_value());
  EXPECT_EQ(ev->gates[0].detail, "auc is 0.833333, at least 0.7");

  EXPECT_EQ(ev->gates[1].gate, "auc vs production: change >= -0.005");
  EXPECT_EQ(ev->gates[1].verdict, "skipped");
  EXPECT_EQ(ev->gates[1].detail,
            "no version holds alias 'production' yet: nothing to compare with");

  EXPECT_EQ(ev->gates[2].gate, "logloss <= 0.6");
  EXPECT_EQ(ev->gates[2].verdict, "pass");
  EXPECT_NEAR(*ev->gates[2].value, 0.4768702334501286, 1e-12);

  EXPECT_NEAR(ev->metrics["candidate"]["accuracy"].get<double>(), 0.7, 1e-12);
  EXPECT_FALSE(ev->metrics.contains("baseline"));
  EXPECT_EQ(ev->metrics["slices"]["plan=team"]["rows"], 2);
  EXPECT_NEAR(ev->metrics["slices"]["plan=pro"]["candidate"]["auc"].get<double>(), 1.0, 1e-12);
  EXPECT_FALSE(ev->metrics["slices"]["plan=team"]["candidate"].contains("auc"));
}

TEST_F(EvaluatorTest, ComparesWithTheProductionVersionOnTheSameRows) {
  GateSpec auc = Metric("auc");
  auc.min_absolute_change = 0.0;
  GateSpec logloss = Metric("logloss");
  logloss.min_relative_change = -0.05;  // at most 5 % worse
  policy_.gates = {auc, logloss};
  const int64_t v1 = NewVersion();
  const int64_t v2 = NewVersion();
  loader_.versions.emplace(v1, Constant(0.5));
  loader_.versions.emplace(v2, Identity());
  ASSERT_TRUE(registry_->SetAlias("churn", "production", v1, "bob", "first").ok());

  absl::StatusOr<Evaluation> better = Run(v2);
  ASSERT_TRUE(better.ok()) << better.status();
  EXPECT_TRUE(better->passed);
  EXPECT_EQ(better->baseline_version, v1);
  ASSERT_EQ(better->gates.size(), 2u);
  EXPECT_EQ(better->gates[0].verdict, "pass");
  EXPECT_NEAR(*better->gates[0].value, 0.8333333333333334, 1e-12);
  EXPECT_NEAR(*better->gates[0].baseline, 0.5, 1e-12);
  EXPECT_EQ(better->gates[1].verdict, "pass");
  EXPECT_NEAR(*better->gates[1].baseline, 0.6931471805599453, 1e-12);
  EXPECT_NEAR(better->metrics["baseline"]["auc"].get<double>(), 0.5, 1e-12);

  // The other way round: production predicts x, the candidate a constant.
  ASSERT_TRUE(registry_->SetAlias("churn", "production", v2, "bob", "better").ok());
  absl::StatusOr<Evaluation> worse = Run(v1);
  ASSERT_TRUE(worse.ok()) << worse.status();
  EXPECT_FALSE(worse->passed);
  EXPECT_EQ(worse->baseline_version, v2);
  EXPECT_EQ(worse->gates[0].verdict, "fail");
  EXPECT_EQ(worse->gates[0].detail,
            "auc 0.5 vs 0.833333 of version 2 (production): change -0.333333 < 0 allowed "
            "(greater is better)");
  EXPECT_EQ(worse->gates[1].verdict, "fail");
  // logloss: smaller is better, change = 0.47687 − 0.69315 = −0.21628, relative −45.35 %.
  EXPECT_EQ(worse->gates[1].detail,
            "logloss 0.693147 vs 0.47687 of version 2 (production): relative change "
            "-45.3534% < -5% allowed (smaller is better)");
}

TEST_F(EvaluatorTest, PerSliceGatesJudgeEverySliceAndSkipUndefinedOnes) {
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  auc.per_slice = true;
  policy_.gates = {auc};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, Identity());

  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->gates.size(), 4u);
  EXPECT_EQ(ev->gates[0].slice, "");
  EXPECT_EQ(ev->gates[0].verdict, "pass");
  EXPECT_EQ(ev->gates[1].slice, "plan=basic");
  EXPECT_EQ(ev->gates[1].verdict, "fail");
  EXPECT_NEAR(*ev->gates[1].value, 0.6666666666666667, 1e-12);
  EXPECT_EQ(ev->gates[1].detail, "auc on plan=basic is 0.666667, below the minimum 0.7");
  EXPECT_EQ(ev->gates[2].slice, "plan=pro");
  EXPECT_EQ(ev->gates[2].verdict, "pass");
  EXPECT_EQ(ev->gates[3].slice, "plan=team");
  EXPECT_EQ(ev->gates[3].verdict, "skipped");
  EXPECT_EQ(ev->gates[3].detail,
            "auc is undefined on plan=team: only one class in the labels (all 0): the ROC AUC "
            "needs positives and negatives");
  EXPECT_FALSE(ev->passed);  // plan=basic failed
}

TEST_F(EvaluatorTest, RunMetricGatesReadTheSourceRun) {
  GateSpec val_auc;
  val_auc.kind = "run_metric";
  val_auc.name = "val_auc";
  val_auc.min = 0.7;
  val_auc.min_absolute_change = 0.0;
  policy_.gates = {val_auc};
  const int64_t v1 = NewVersion({{"val_auc", 0.75}});
  const int64_t v2 = NewVersion({{"val_auc", 0.72}, {"val_logloss", 0.4}});
  ASSERT_TRUE(registry_->SetAlias("churn", "production", v1).ok());

  absl::StatusOr<Evaluation> ev = Run(v2);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(loader_.loads.load(), 0);  // run metrics need no model
  EXPECT_EQ(ev->rows, 0);
  ASSERT_EQ(ev->gates.size(), 2u);
  EXPECT_EQ(ev->gates[0].gate, "run val_auc >= 0.7");
  EXPECT_EQ(ev->gates[0].verdict, "pass");
  EXPECT_DOUBLE_EQ(*ev->gates[0].value, 0.72);
  EXPECT_DOUBLE_EQ(*ev->gates[0].baseline, 0.75);
  EXPECT_EQ(ev->gates[1].verdict, "fail");
  EXPECT_DOUBLE_EQ(*ev->gates[1].value, 0.72);

  policy_.gates[0].name = "val_acu";
  absl::StatusOr<Evaluation> typo = Run(v2);
  ASSERT_TRUE(typo.ok()) << typo.status();
  EXPECT_EQ(typo->gates[0].verdict, "error");
  EXPECT_NE(typo->gates[0].detail.find("has no metric 'val_acu' (did you mean 'val_auc'?); "
                                       "it logged val_auc, val_logloss"),
            std::string::npos)
      << typo->gates[0].detail;
  EXPECT_FALSE(typo->passed);

  const int64_t no_run = NewVersion();
  absl::StatusOr<Evaluation> orphan = Run(no_run);
  ASSERT_TRUE(orphan.ok());
  EXPECT_EQ(orphan->gates[0].verdict, "error");
  EXPECT_EQ(orphan->gates[0].detail,
            "version 3 of churn has no source run (registered without run_id), so it has no "
            "run metric 'val_acu'");
}

TEST_F(EvaluatorTest, OperationalChecksLoadsLatencySizeAndOnlineFeatures) {
  GateSpec latency = Check("latency_p99_ms");
  latency.max = 5;
  GateSpec size = Check("size_mb");
  size.max = 1;
  GateSpec online = Check("features_online");
  online.feature_service = "churn";
  policy_.gates = {Check("loads"), latency, size, online};
  deps_.online_features = [](std::string_view service) -> absl::StatusOr<std::vector<std::string>> {
    if (service != "churn") return absl::NotFoundError("no such feature service");
    return std::vector<std::string>{"customer:x", "customer:tenure"};
  };
  loader_.nanos = &nanos_;
  loader_.load_ns = 12'500'000;  // 12.5 ms
  const int64_t v1 = NewVersion();
  // Every predict call takes 3 ms on the fake clock; 2 MiB of files.
  loader_.versions.emplace(v1, Identity(&nanos_, 3'000'000, 2 * 1024 * 1024));

  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->gates.size(), 4u);
  EXPECT_EQ(ev->gates[0].gate, "loads");
  EXPECT_EQ(ev->gates[0].verdict, "pass");
  EXPECT_DOUBLE_EQ(*ev->gates[0].value, 12.5);
  EXPECT_EQ(ev->gates[0].detail, "loaded in 12.5 ms and predicted one evaluation row");
  EXPECT_EQ(ev->gates[1].verdict, "pass");
  EXPECT_DOUBLE_EQ(*ev->gates[1].value, 3.0);
  EXPECT_EQ(ev->gates[2].verdict, "fail");
  EXPECT_DOUBLE_EQ(*ev->gates[2].value, 2.0);
  EXPECT_EQ(ev->gates[2].detail, "size_mb is 2, above the maximum 1");
  EXPECT_EQ(ev->gates[3].verdict, "pass");
  EXPECT_DOUBLE_EQ(*ev->gates[3].value, 0.0);
  EXPECT_EQ(ev->gates[3].detail,
            "all 1 inputs of the candidate (version 1) are online features of feature "
            "service 'churn'");

  // A model reading a column the feature service does not serve.
  const int64_t v2 = NewVersion();
  loader_.versions.emplace(
      v2, std::make_shared<FakeRuntime>(Info({"x", "plan_code"}), "x", [](double x) { return x; }));
  policy_.gates = {online};
  absl::StatusOr<Evaluation> missing = Run(v2);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->gates[0].verdict, "fail");
  EXPECT_DOUBLE_EQ(*missing->gates[0].value, 1.0);
  EXPECT_EQ(missing->gates[0].detail, "not served online by feature service 'churn': plan_code");
}

TEST_F(EvaluatorTest, ChecksWithoutEvaluationDataLoadButCannotTimePredictions) {
  policy_.evaluation = EvaluationDataSpec{};
  GateSpec latency = Check("latency_p99_ms");
  latency.max = 5;
  policy_.gates = {Check("loads"), latency};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, Identity());
  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->rows, 0);
  EXPECT_EQ(ev->gates[0].verdict, "pass");
  EXPECT_EQ(ev->gates[0].detail, "loaded in 0 ms");
  EXPECT_EQ(ev->gates[1].verdict, "error");
  EXPECT_EQ(ev->gates[1].detail,
            "the candidate (version 1) could not predict single rows: latency_p99_ms predicts "
            "evaluation rows one at a time: set evaluation.data.path in the policy");
}

TEST_F(EvaluatorTest, ACandidateThatDoesNotLoadFailsLoadsAndErrsItsMetricGates) {
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  policy_.gates = {Check("loads"), auc};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, absl::InternalError("XGBoosterLoadModel: corrupt model file"));

  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_FALSE(ev->passed);
  EXPECT_EQ(ev->gates[0].verdict, "fail");
  EXPECT_EQ(ev->gates[0].detail,
            "the candidate (version 1) did not load: XGBoosterLoadModel: corrupt model file");
  EXPECT_EQ(ev->gates[1].verdict, "error");
  EXPECT_EQ(ev->gates[1].detail,
            "the candidate (version 1) could not be scored: XGBoosterLoadModel: corrupt model "
            "file");
  EXPECT_TRUE(ev->metrics.is_object());
  EXPECT_FALSE(ev->metrics.contains("candidate"));
}

TEST_F(EvaluatorTest, AMissingInputColumnIsAGateErrorNamingIt) {
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  policy_.gates = {auc};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(
      v1, std::make_shared<FakeRuntime>(Info({"x", "tenur"}), "x", [](double x) { return x; }));
  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->gates[0].verdict, "error");
  EXPECT_NE(ev->gates[0].detail.find("has no column 'tenur', an input of version 1; add it "
                                     "to the CSV"),
            std::string::npos)
      << ev->gates[0].detail;
}

TEST_F(EvaluatorTest, ConfigurationErrorsAreErrorsOfTheEvaluation) {
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  policy_.gates = {auc};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, Identity());

  absl::StatusOr<Evaluation> unknown = Run(42);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);

  policy_.model = "fraud";
  absl::StatusOr<Evaluation> other = Run(v1);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(), "policy churn-gate governs model 'fraud', not 'churn'");
  policy_.model = "churn";

  policy_.evaluation.label = "churnd";
  absl::StatusOr<Evaluation> label = Run(v1);
  EXPECT_EQ(label.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      std::string(label.status().message()).find("evaluation.label 'churnd' is not a column of "),
      std::string::npos)
      << label.status();
  EXPECT_NE(std::string(label.status().message())
                .find("(did you mean 'churned'?); its columns: x, plan, churned"),
            std::string::npos)
      << label.status();
  policy_.evaluation.label = "churned";

  policy_.evaluation.path = "eval/missing.csv";
  absl::StatusOr<Evaluation> file = Run(v1);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(file.status().message()).find("eval/missing.csv"), std::string::npos);

  std::ofstream(dir_ / "eval" / "nolabel.csv") << "x,plan,churned\n0.1,basic,\n";
  policy_.evaluation.path = "eval/nolabel.csv";
  absl::StatusOr<Evaluation> missing = Run(v1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(missing.status().message())
                .find("line 2 is missing; every evaluation row needs a label"),
            std::string::npos)
      << missing.status();
}

TEST_F(EvaluatorTest, TrueFalseLabelsAreBinary) {
  std::ofstream(dir_ / "eval" / "bool.csv") << "x,churned\n0.2,False\n0.9,True\n0.6,false\n";
  policy_.evaluation.path = "eval/bool.csv";
  policy_.evaluation.slices.clear();
  GateSpec auc = Metric("auc");
  auc.min = 0.7;
  policy_.gates = {auc};
  const int64_t v1 = NewVersion();
  loader_.versions.emplace(v1, Identity());
  absl::StatusOr<Evaluation> ev = Run(v1);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_DOUBLE_EQ(*ev->gates[0].value, 1.0);
}

}  // namespace
}  // namespace cairn::cicd
