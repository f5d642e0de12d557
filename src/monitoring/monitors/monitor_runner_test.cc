#include "monitoring/monitors/monitor_runner.h"

#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "monitoring/stats/quality_metrics.h"
#include "storage/database.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 200 rows: x = offset + i (numeric), plan cycling through `labels`.
DataFrame Frame(double offset, std::vector<std::string> labels = {"a", "b"}) {
  DataFrame frame;
  frame.rows = 200;
  FrameColumn x{.name = "x"};
  FrameColumn plan{.name = "plan", .categorical = true, .categories = labels};
  for (int i = 0; i < 200; ++i) {
    x.numbers.push_back(offset + i);
    plan.codes.push_back(i % static_cast<int>(labels.size()));
  }
  frame.columns = {x, plan};
  return frame;
}

MonitorVersion Monitor(const std::string& extra) {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: m\ntarget: {feature_view: spend, window: 1h}\n"
      "reference: {path: /data/ref.csv}\n" +
          extra,
      "m.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  MonitorVersion version;
  version.name = "m";
  version.version = 3;
  if (parsed.ok()) version.spec = (*parsed)[0];
  return version;
}

class MonitorRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    MonitorIo io;
    io.read_view = [this](const ViewReadRequest& request) -> absl::StatusOr<DataFrame> {
      view_requests_.push_back(request);
      if (!view_error_.ok()) return view_error_;
      return target_;
    };
    io.read_csv = [this](const std::string& path, const std::vector<std::string>& categorical)
        -> absl::StatusOr<DataFrame> {
      csv_paths_.push_back(path);
      return reference_;
    };
    io.check_constraints = [this](const MonitorReference& ref, const DataFrame* reference,
                                  const DataFrame& current) -> absl::StatusOr<Json> {
      constraint_calls_++;
      EXPECT_NE(reference, nullptr);
      EXPECT_EQ(current.rows, target_.rows);
      return Json{{"violations", violations_}};
    };
    io.render_html = [](const DriftReport& report, const std::string& title) {
      return "<html>" + title + "</html>";
    };
    io.on_outcome = [this](const MonitorOutcome& outcome) { outcomes_.push_back(outcome); };
    io.read_endpoint = [this](const EndpointReadRequest& request) -> absl::StatusOr<DataFrame> {
      endpoint_requests_.push_back(request);
      if (!endpoint_error_.ok()) return endpoint_error_;
      return endpoint_frame_;
    };
    io_ = io;
    auto runner = MonitorRunner::Open(*db_, clock_, io);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<MonitorRunner> runner_;
  DataFrame target_ = Frame(0);
  DataFrame reference_ = Frame(0);
  absl::Status view_error_;
  Json violations_ = Json::array();
  int constraint_calls_ = 0;
  std::vector<ViewReadRequest> view_requests_;
  MonitorIo io_;
  DataFrame endpoint_frame_ = Frame(0);
  absl::Status endpoint_error_;
  std::vector<EndpointReadRequest> endpoint_requests_;
  std::vector<std::string> csv_paths_;
  std::vector<MonitorOutcome> outcomes_;
};

TEST_F(MonitorRunnerTest, DriftedTargetIsStoredAndHandedToTheAlerts) {
  target_ = Frame(150);  // x shifted by 150 of a 0..199 range: KS finds it
  MonitorVersion monitor = Monitor(
      "severity: critical\non_alert: {pipeline: retrain, max_attempts: 3}\n"
      "sinks: [{log: true}]\n");
  auto run = runner_->Run(monitor, "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_TRUE(run->drift_found);
  EXPECT_EQ(run->monitor, "m");
  EXPECT_EQ(run->monitor_version, 3);
  EXPECT_EQ(run->target_rows, 200);
  EXPECT_EQ(run->reference_rows, 200);
  EXPECT_EQ(run->window_from_ms, clock_.NowMillis() - 3'600'000);
  EXPECT_EQ(run->window_to_ms, clock_.NowMillis());
  EXPECT_THAT(run->message, HasSubstr("1 of 2 columns drifted (share 0.50 >= 0.50): data set "
                                      "drift; drifted: x"));
  ASSERT_EQ(view_requests_.size(), 1u);
  EXPECT_EQ(view_requests_[0].view, "spend");
  EXPECT_EQ(view_requests_[0].from_ms, clock_.NowMillis() - 3'600'000);
  EXPECT_EQ(view_requests_[0].to_ms, clock_.NowMillis() + 1);
  EXPECT_THAT(csv_paths_, ElementsAre("/data/ref.csv"));

  ASSERT_EQ(outcomes_.size(), 1u);
  const MonitorOutcome& outcome = outcomes_[0];
  EXPECT_EQ(outcome.kind, "drift");
  EXPECT_TRUE(outcome.problem);
  EXPECT_EQ(outcome.monitor, "m");
  EXPECT_EQ(outcome.monitor_version, 3);
  EXPECT_EQ(outcome.run_id, run->id);
  EXPECT_EQ(outcome.severity, Severity::kCritical);
  ASSERT_TRUE(outcome.retrain.has_value());
  EXPECT_EQ(outcome.retrain->pipeline, "retrain");
  EXPECT_EQ(outcome.retrain->max_attempts, 3);
  ASSERT_EQ(outcome.sinks.size(), 1u);
  EXPECT_EQ(outcome.sinks[0].kind, "log");
  ASSERT_EQ(outcome.details["drifted_columns"].size(), 1u);
  EXPECT_EQ(outcome.details["drifted_columns"][0]["column"], "x");
  EXPECT_EQ(outcome.details["drifted_columns"][0]["test"], "ks");

  auto stored = runner_->GetRun(run->id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, "succeeded");
  EXPECT_TRUE(stored->has_report);
  EXPECT_EQ(stored->result["drift"]["dataset_drift"], true);
  EXPECT_EQ(stored->result["drift"]["columns"].size(), 2u);
  EXPECT_EQ(stored->result["constraints"], nullptr);
  auto report = runner_->Report(run->id);
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(*report, HasSubstr("Monitor m v3"));
}

TEST_F(MonitorRunnerTest, AFeatureThatStoppedArrivingIsDriftNotAFailedRun) {
  for (double& x : target_.columns[0].numbers) x = std::nan("");
  auto run = runner_->Run(Monitor(""), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_TRUE(run->drift_found);
  EXPECT_THAT(run->message, HasSubstr("drifted: x (no values in the current data)"));
  EXPECT_EQ(run->result["drift"]["columns"][0]["reason"], "no values in the current data");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].details["drifted_columns"][0]["reason"],
            "no values in the current data");
}

TEST_F(MonitorRunnerTest, AColumnWithoutReferenceValuesIsNamedAndLeftOutOfTheShare) {
  for (double& x : reference_.columns[0].numbers) x = std::nan("");
  auto run = runner_->Run(Monitor(""), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  const size_t columns = run->result["drift"]["columns"].size();
  ASSERT_GE(columns, 2u);
  EXPECT_THAT(run->message, HasSubstr(absl::StrCat(" of ", columns - 1, " columns drifted")));
  EXPECT_THAT(run->message, HasSubstr("; 1 column not tested (no reference values)"));
}

TEST_F(MonitorRunnerTest, OutcomesReachTheAlertsEvenWhenTheRunCannotBeStored) {
  target_ = Frame(150);
  ASSERT_TRUE(db_->Write([](storage::SqlSession& session) {
                   return session.Execute("DROP TABLE monitor_runs", {}).status();
                 }).ok());
  auto run = runner_->Run(Monitor("on_alert: {pipeline: retrain}\n"), "manual");
  ASSERT_FALSE(run.ok());
  EXPECT_THAT(run.status().message(), HasSubstr("could not be stored"));
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, "drift");
  EXPECT_TRUE(outcomes_[0].problem);
  EXPECT_EQ(outcomes_[0].monitor, "m");
  ASSERT_TRUE(outcomes_[0].retrain.has_value());
}

TEST_F(MonitorRunnerTest, SameDataFindsNoProblemAndStillReportsIt) {
  auto run = runner_->Run(Monitor("tests: {per_column: {x: {test: psi, threshold: 0.2}}}\n"),
                          "schedule", "2023-11-14T22:00:00.000Z");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded");
  EXPECT_FALSE(run->drift_found);
  EXPECT_EQ(run->trigger, "schedule");
  EXPECT_EQ(run->trigger_detail, "2023-11-14T22:00:00.000Z");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_FALSE(outcomes_[0].problem);
  EXPECT_EQ(run->result["drift"]["columns"][0]["column"], "x");
  EXPECT_EQ(run->result["drift"]["columns"][0]["test"], "psi");
  EXPECT_EQ(run->result["drift"]["columns"][0]["threshold"], 0.2);
  EXPECT_EQ(run->result["drift"]["columns"][1]["test"], "z");  // Evidently: 2 categories
}

TEST_F(MonitorRunnerTest, ConstraintViolationsAreTheirOwnOutcome) {
  violations_ = Json::array({{{"feature_name", "plan"},
                              {"constraint_check_type", "categorical_values_check"},
                              {"description", "plan: 'c' is not in the domain"}}});
  auto run = runner_->Run(Monitor("constraints: true\n"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->constraints_violated);
  EXPECT_FALSE(run->drift_found);
  EXPECT_EQ(constraint_calls_, 1);
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].kind, "drift");
  EXPECT_FALSE(outcomes_[0].problem);
  EXPECT_EQ(outcomes_[1].kind, "constraints");
  EXPECT_TRUE(outcomes_[1].problem);
  EXPECT_EQ(outcomes_[1].summary, "1 constraint violation in plan");
  EXPECT_EQ(outcomes_[1].details["violations"][0]["constraint_check_type"],
            "categorical_values_check");
}

TEST_F(MonitorRunnerTest, UnreadableTargetFailsTheRunWithTheReason) {
  view_error_ = absl::NotFoundError("FeatureView 'spend' is not registered");
  auto run = runner_->Run(Monitor(""), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_EQ(run->message, "FeatureView 'spend' is not registered");
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(runner_->Report(run->id).status().code(), absl::StatusCode::kNotFound);
  auto stored = runner_->GetRun(run->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, "failed");
}

TEST_F(MonitorRunnerTest, EmptyWindowFailsSayingWhatToDo) {
  target_ = DataFrame{};
  auto run = runner_->Run(Monitor(""), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_THAT(run->message, HasSubstr("target.feature_view 'spend' has no rows with event time "
                                      "in [2023-11-14T21:13:20.000Z, 2023-11-14T22:13:20.000Z]"));
  EXPECT_THAT(run->message, HasSubstr("widen target.window"));
}

TEST_F(MonitorRunnerTest, RowCountWindowAndRunListNewestFirst) {
  MonitorVersion by_rows = Monitor("");
  by_rows.spec.target.window_ms = 0;
  by_rows.spec.target.rows = 50;
  auto first = runner_->Run(by_rows, "manual");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(view_requests_.size(), 1u);
  EXPECT_EQ(view_requests_[0].last_rows, 50);
  EXPECT_EQ(view_requests_[0].from_ms, 0);
  clock_.Advance(1000);
  auto second = runner_->Run(Monitor(""), "manual");
  ASSERT_TRUE(second.ok());
  auto runs = runner_->ListRuns("m", 10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].id, second->id);
  EXPECT_EQ((*runs)[1].id, first->id);
  EXPECT_EQ(runner_->ListRuns("m", 1)->size(), 1u);
  EXPECT_TRUE(runner_->ListRuns("other")->empty());
  EXPECT_EQ(runner_->GetRun("nope").status().code(), absl::StatusCode::kNotFound);
}

MonitorVersion EndpointMonitor(const std::string& target) {
  auto parsed = ParseMonitorsYaml("kind: Monitor\nname: live\ntarget: " + target +
                                      "\nreference: {path: /data/ref.csv}\n"
                                      "categorical: [plan]\n",
                                  "live.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  MonitorVersion version;
  version.name = "live";
  version.version = 1;
  if (parsed.ok()) version.spec = (*parsed)[0];
  return version;
}

TEST_F(MonitorRunnerTest, EndpointTargetReadsTheLoggedPredictionsOfTheWindow) {
  endpoint_frame_ = Frame(150);  // the live traffic's x drifted
  auto run = runner_->Run(EndpointMonitor("{endpoint: churn, window: 1h}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_TRUE(run->drift_found);
  EXPECT_EQ(run->target_rows, 200);
  EXPECT_EQ(run->window_from_ms, clock_.NowMillis() - 3'600'000);
  EXPECT_EQ(run->window_to_ms, clock_.NowMillis());
  EXPECT_THAT(run->message, HasSubstr("drifted: x"));
  EXPECT_EQ(run->result["target"]["endpoint"], "churn");
  EXPECT_EQ(run->result["target"]["rows"], 200);
  ASSERT_EQ(endpoint_requests_.size(), 1u);
  EXPECT_EQ(endpoint_requests_[0].endpoint, "churn");
  EXPECT_EQ(endpoint_requests_[0].from_ms, clock_.NowMillis() - 3'600'000);
  EXPECT_EQ(endpoint_requests_[0].to_ms, clock_.NowMillis() + 1);
  EXPECT_EQ(endpoint_requests_[0].last_rows, 0);
  EXPECT_THAT(endpoint_requests_[0].categorical, ElementsAre("plan"));
  EXPECT_TRUE(view_requests_.empty());
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, "drift");
  EXPECT_TRUE(outcomes_[0].problem);
}

TEST_F(MonitorRunnerTest, EndpointTargetByRowsAsksForTheNewestRows) {
  auto run = runner_->Run(EndpointMonitor("{endpoint: churn, rows: 500}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_FALSE(run->drift_found);
  ASSERT_EQ(endpoint_requests_.size(), 1u);
  EXPECT_EQ(endpoint_requests_[0].from_ms, 0);
  EXPECT_EQ(endpoint_requests_[0].to_ms, 0);
  EXPECT_EQ(endpoint_requests_[0].last_rows, 500);
  EXPECT_EQ(run->window_from_ms, 0);
}

TEST_F(MonitorRunnerTest, EndpointTargetWithoutLoggedPredictionsFailsSayingWhatToDo) {
  endpoint_frame_ = DataFrame{};
  auto run = runner_->Run(EndpointMonitor("{endpoint: churn, window: 1h}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_THAT(run->message, HasSubstr("target.endpoint 'churn' logged no predictions in ["));
  EXPECT_THAT(run->message, HasSubstr("inference_log.sample"));
  EXPECT_TRUE(outcomes_.empty());

  endpoint_error_ = absl::InvalidArgumentError("variant: 'x' is not a variant");
  run = runner_->Run(EndpointMonitor("{endpoint: churn, window: 1h}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_THAT(run->message, HasSubstr("target.endpoint 'churn'"));
  EXPECT_THAT(run->message, HasSubstr("variant: 'x' is not a variant"));
}

TEST_F(MonitorRunnerTest, EndpointTargetWithoutAnInferenceLogFailsNamingIt) {
  MonitorIo io = io_;
  io.read_endpoint = nullptr;
  auto runner = MonitorRunner::Open(*db_, clock_, io);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto run = (*runner)->Run(EndpointMonitor("{endpoint: churn, window: 1h}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_THAT(run->message,
              HasSubstr("target.endpoint 'churn': this server has no inference log"));
}

// An endpoint's logged rows: x, "prediction", and "label" on the first `labelled` rows
// (NaN after: no ground truth posted for them).
DataFrame LabelledFrame(int rows, int labelled, double (*label)(int), double (*prediction)(int)) {
  DataFrame frame;
  frame.rows = rows;
  FrameColumn x{.name = "x"}, predictions{.name = "prediction"}, labels{.name = "label"};
  for (int i = 0; i < rows; ++i) {
    x.numbers.push_back(i);
    predictions.numbers.push_back(prediction(i));
    labels.numbers.push_back(i < labelled ? label(i) : std::nan(""));
  }
  frame.columns = {x, predictions, labels};
  return frame;
}

double Alternating(int i) { return i % 2; }
// Scores that rank the labels poorly: AUC well below 0.7.
double Noisy(int i) { return 0.2 + 0.6 * ((i * 37) % 11) / 10.0; }
// Scores that separate the labels perfectly: AUC 1.
double Perfect(int i) { return i % 2 == 1 ? 0.9 : 0.1; }

MonitorVersion QualityMonitor(const std::string& quality, const std::string& extra = "") {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: live-quality\ntarget: {endpoint: churn, window: 1h}\n"
      "severity: critical\non_alert: {pipeline: retrain}\nquality: " +
          quality + "\n" + extra,
      "q.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  MonitorVersion version;
  version.name = "live-quality";
  version.version = 2;
  if (parsed.ok()) version.spec = (*parsed)[0];
  return version;
}

TEST_F(MonitorRunnerTest, QualityBelowItsBoundRaisesAQualityAlertNamingMetricValueAndBound) {
  endpoint_frame_ = LabelledFrame(200, 150, Alternating, Noisy);
  std::vector<double> labels, predictions;
  for (int i = 0; i < 150; ++i) {
    labels.push_back(Alternating(i));
    predictions.push_back(Noisy(i));
  }
  const double auc = stats::RocAuc(labels, predictions);
  ASSERT_LT(auc, 0.7);
  auto run = runner_->Run(
      QualityMonitor("{min_labels: 100, metrics: [{metric: auc, min: 0.7}, "
                     "{metric: logloss, max: 5}]}"),
      "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_TRUE(run->quality_failed);
  EXPECT_FALSE(run->drift_found);
  EXPECT_TRUE(csv_paths_.empty());  // quality only: no reference read, no drift
  EXPECT_THAT(run->message, HasSubstr(absl::StrCat("quality on 150 labelled rows: auc ",
                                                   absl::StrFormat("%.4g", auc), " < min 0.7")));
  const Json& quality = run->result["quality"];
  EXPECT_EQ(quality["status"], "failed");
  EXPECT_EQ(quality["labelled_rows"], 150);
  EXPECT_EQ(quality["rows"], 200);
  EXPECT_DOUBLE_EQ(quality["values"]["auc"].get<double>(), auc);
  ASSERT_EQ(quality["checks"].size(), 2u);
  EXPECT_EQ(quality["checks"][1]["metric"], "logloss");
  EXPECT_EQ(quality["checks"][1]["status"], "passed");

  ASSERT_EQ(outcomes_.size(), 1u);
  const MonitorOutcome& outcome = outcomes_[0];
  EXPECT_EQ(outcome.kind, "quality");
  EXPECT_TRUE(outcome.problem);
  EXPECT_EQ(outcome.severity, Severity::kCritical);
  ASSERT_TRUE(outcome.retrain.has_value());
  EXPECT_EQ(outcome.retrain->pipeline, "retrain");
  EXPECT_THAT(outcome.summary, HasSubstr("auc"));
  ASSERT_EQ(outcome.details["violations"].size(), 1u);
  const Json& violation = outcome.details["violations"][0];
  EXPECT_EQ(violation["metric"], "auc");
  EXPECT_EQ(violation["kind"], "min");
  EXPECT_DOUBLE_EQ(violation["value"].get<double>(), auc);
  EXPECT_DOUBLE_EQ(violation["bound"].get<double>(), 0.7);
  EXPECT_EQ(violation["labelled_rows"], 150);

  // Stored: the run record and its JSON say so.
  auto stored = runner_->GetRun(run->id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->quality_failed);
  EXPECT_EQ(stored->result["quality"]["violations"][0]["metric"], "auc");
  EXPECT_EQ(MonitorRunToJson(*stored, false)["quality_failed"], true);
}

TEST_F(MonitorRunnerTest, QualityWithinItsBoundsReportsNoProblem) {
  endpoint_frame_ = LabelledFrame(200, 120, Alternating, Perfect);
  auto run = runner_->Run(
      QualityMonitor("{min_labels: 100, metrics: [{metric: auc, min: 0.7}, "
                     "{metric: accuracy, min: 0.9, max: 1}]}"),
      "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_FALSE(run->quality_failed);
  EXPECT_THAT(run->message,
              HasSubstr("quality on 120 labelled rows: 3 checks passed (auc 1, accuracy 1"));
  EXPECT_EQ(run->result["quality"]["status"], "passed");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, "quality");
  EXPECT_FALSE(outcomes_[0].problem);  // resolves an open quality alert
  EXPECT_TRUE(outcomes_[0].details["violations"].empty());
}

TEST_F(MonitorRunnerTest, TooFewLabelsIsReportedWithoutAnAlert) {
  endpoint_frame_ = LabelledFrame(200, 40, Alternating, Noisy);
  auto run = runner_->Run(QualityMonitor("{min_labels: 100, metrics: [{metric: auc, min: 0.7}]}"),
                          "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_FALSE(run->quality_failed);
  EXPECT_EQ(run->message,
            "quality not checked: insufficient labels (40 labelled of 200 rows, min_labels 100)");
  EXPECT_EQ(run->result["quality"]["status"], "insufficient_labels");
  EXPECT_EQ(run->result["quality"]["labelled_rows"], 40);
  EXPECT_TRUE(outcomes_.empty());  // neither raises nor resolves a quality alert

  // No label posted at all: the log's frame has no "label" column.
  endpoint_frame_.columns.pop_back();
  run = runner_->Run(QualityMonitor("{metrics: [{metric: auc, min: 0.7}]}"), "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->message, HasSubstr("insufficient labels (0 labelled of 200 rows, "
                                      "min_labels 100)"));
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(MonitorRunnerTest, ClassificationMetricOnNonBinaryLabelsIsAFindingNotACrash) {
  endpoint_frame_ = LabelledFrame(
      150, 150, [](int i) { return 2.5 * (i % 3); }, [](int i) { return 2.5 * (i % 3) + 0.5; });
  auto run = runner_->Run(
      QualityMonitor("{min_labels: 10, metrics: [{metric: auc, min: 0.7}, "
                     "{metric: mae, max: 0.4}]}"),
      "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_THAT(run->message, HasSubstr("quality on 150 labelled rows: mae 0.5 > max 0.4"));
  EXPECT_THAT(run->message, HasSubstr("not checked: auc (the labels are not all 0 or 1 (e.g. "
                                      "2.5): a classification metric needs a binary label)"));
  EXPECT_EQ(run->result["quality"]["checks"][0]["status"], "unavailable");
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_EQ(outcomes_[0].details["violations"].size(), 1u);
  EXPECT_EQ(outcomes_[0].details["violations"][0]["metric"], "mae");

  // Only the unavailable check: reported, nothing handed to the alerts.
  outcomes_.clear();
  run = runner_->Run(QualityMonitor("{min_labels: 10, metrics: [{metric: f1, min: 0.7}]}"),
                     "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->result["quality"]["status"], "unavailable");
  EXPECT_THAT(run->message, HasSubstr("nothing could be checked; not checked: f1 (the labels"));
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(MonitorRunnerTest, BaselinesCompareWithAFixedValueOrTheServedModelsTrainingRun) {
  endpoint_frame_ = LabelledFrame(200, 200, Alternating, Noisy);
  auto run = runner_->Run(
      QualityMonitor("{min_labels: 100, baseline: [{metric: auc, value: 0.9, max_drop: 0.05}, "
                     "{metric: logloss, model_metric: val_logloss, max_drop: 0.1}]}"),
      "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->quality_failed);
  EXPECT_THAT(run->message, HasSubstr("< baseline 0.9 - max_drop 0.05 = 0.85"));
  // No model_metric seam on this server: that baseline is unavailable, not an alert.
  EXPECT_THAT(run->message, HasSubstr("not checked: logloss (baseline model_metric val_logloss: "
                                      "this server cannot look up"));
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].details["violations"][0]["kind"], "baseline");
  EXPECT_DOUBLE_EQ(outcomes_[0].details["violations"][0]["bound"].get<double>(), 0.85);

  MonitorIo io = io_;
  std::vector<std::string> asked;
  io.model_metric = [&](const std::string& endpoint,
                        const std::string& metric) -> absl::StatusOr<ModelMetricValue> {
    asked.push_back(endpoint + "/" + metric);
    return ModelMetricValue{.value = 0.2, .source = "model churn v3, run r1"};
  };
  auto runner = MonitorRunner::Open(*db_, clock_, io);
  ASSERT_TRUE(runner.ok()) << runner.status();
  outcomes_.clear();
  run = (*runner)->Run(
      QualityMonitor("{min_labels: 100, baseline: {metric: logloss, model_metric: val_logloss, "
                     "max_drop: 0.1}}"),
      "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(asked, ElementsAre("churn/val_logloss"));
  EXPECT_TRUE(run->quality_failed) << run->message;  // logloss of noisy scores >> 0.3
  EXPECT_THAT(run->message, HasSubstr("> baseline 0.2 + max_drop 0.1 = 0.3"));
  const Json& check = run->result["quality"]["checks"][0];
  EXPECT_EQ(check["baseline_source"], "model churn v3, run r1");
  EXPECT_EQ(check["model_metric"], "val_logloss");
}

TEST_F(MonitorRunnerTest, DriftAndQualityRunSideBySide) {
  endpoint_frame_ = LabelledFrame(200, 200, Alternating, Noisy);
  reference_ = LabelledFrame(200, 0, Alternating, Noisy);
  reference_.columns.resize(1);  // x only
  auto run = runner_->Run(QualityMonitor("{metrics: [{metric: auc, min: 0.7}]}",
                                         "reference: {path: ref.csv}\ncolumns: [x]\n"),
                          "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_FALSE(run->drift_found);
  EXPECT_TRUE(run->quality_failed);
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].kind, "drift");
  EXPECT_FALSE(outcomes_[0].problem);
  EXPECT_EQ(outcomes_[1].kind, "quality");
  EXPECT_TRUE(outcomes_[1].problem);
}

}  // namespace
}  // namespace cairn::monitoring
