#include "monitoring/alerts/alert_service.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/event_types.h"
#include "common/testing/http_receiver.h"
#include "gtest/gtest.h"
#include "monitoring/alerts/alert_store.h"
#include "storage/testing/test_databases.h"

namespace cairn::monitoring {
namespace {

// Records every notification a sink would receive; the first `fail_first` tries fail.
class FakeSinks {
 public:
  struct Delivery {
    std::string sink;
    Json body;
  };
  MakeSinkFn fn() {
    return [this](const SinkSpec& spec) -> absl::StatusOr<std::unique_ptr<Sink>> {
      if (spec.kind == "broken") return absl::InvalidArgumentError("sinks: kind broken");
      return std::unique_ptr<Sink>(new Recording(this, spec.kind + " " + spec.url));
    };
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const Delivery& d : deliveries_) out.push_back(d.body.value("event", ""));
    return out;
  }
  std::vector<Delivery> deliveries() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }
  void FailFirst(int n) {
    absl::MutexLock lock(&mu_);
    fail_first_ = n;
  }

 private:
  class Recording final : public Sink {
   public:
    Recording(FakeSinks* owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    absl::Status Deliver(const std::string& body, int* http_status) override {
      absl::MutexLock lock(&owner_->mu_);
      if (owner_->fail_first_ > 0) {
        --owner_->fail_first_;
        *http_status = 502;
        return absl::UnavailableError("answered HTTP 502");
      }
      *http_status = 200;
      owner_->deliveries_.push_back({name_, *ParseJson(body)});
      return absl::OkStatus();
    }
    std::string Describe() const override { return name_; }

   private:
    FakeSinks* owner_;
    std::string name_;
  };
  absl::Mutex mu_;
  int fail_first_ = 0;
  std::vector<Delivery> deliveries_;
};

// A StartRun stand-in: run-1, run-2, …; or fails with `error` when set.
struct FakeStartRun {
  struct Call {
    std::string pipeline;
    std::map<std::string, std::string> params;
    std::string trigger;
  };
  absl::Mutex mu;
  std::vector<Call> calls;
  absl::Status error;
  std::function<void(const std::string& run)> on_start;  // e.g. finish the run at once

  StartRetrainFn fn() {
    return [this](const std::string& pipeline, const std::map<std::string, std::string>& params,
                  const std::string& trigger) -> absl::StatusOr<std::string> {
      std::string run;
      {
        absl::MutexLock lock(&mu);
        calls.push_back({pipeline, params, trigger});
        if (!error.ok()) return error;
        run = "run-" + std::to_string(calls.size());
      }
      if (on_start) on_start(run);
      return run;
    };
  }
  size_t count() {
    absl::MutexLock lock(&mu);
    return calls.size();
  }
};

class AlertServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn_alert_service_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "alerts.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    bus_ = std::make_unique<EventBus>(clock_);
    bus_->Subscribe(kEventAlert, [this](const Event& e) {
      absl::MutexLock lock(&mu_);
      alert_events_.push_back(e);
    });
    Open();
  }
  void Open() {
    AlertServiceOptions options;
    options.make_sink = sinks_.fn();
    options.webhook.attempts = 3;
    options.webhook.backoff_ms = 0;  // retries are due at once (the clock is fake)
    auto service = AlertService::Open(*db_, clock_, *bus_, start_.fn(), options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }
  void TearDown() override {
    service_.reset();
    bus_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  MonitorOutcome Outcome(bool problem, std::string run, bool retrain = false) {
    MonitorOutcome outcome;
    outcome.monitor = "churn-drift";
    outcome.monitor_version = 2;
    outcome.run_id = std::move(run);
    outcome.kind = "drift";
    outcome.problem = problem;
    outcome.summary = problem ? "3 of 5 columns drifted (share 0.6 >= 0.5)"
                              : "0 of 5 columns drifted (share 0 < 0.5)";
    outcome.details = Json{{"drifted_columns", problem ? Json{"age", "income", "tenure"}
                                                       : Json::array()}};
    outcome.sinks = {SinkSpec{"webhook", "http://hooks/x", "s"}};
    if (retrain) {
      outcome.retrain = RetrainAction{
          "retrain-churn", {{"reason", "alert {{alert.id}} of {{monitor}} ({{monitor_run}})"}},
          2, ""};
    }
    return outcome;
  }

  Alert Run(const MonitorOutcome& outcome) {
    auto alert = service_->OnMonitorRun(outcome);
    EXPECT_TRUE(alert.ok()) << alert.status();
    EXPECT_TRUE(alert.ok() && alert->has_value());
    return alert.ok() && alert->has_value() ? **alert : Alert{};
  }

  void FinishRun(const std::string& run, const std::string& state) {
    bus_->Publish(Event{kEventPipelineRunFinished,
                        {{"pipeline", "retrain-churn"}, {"run_id", run}, {"state", state}}});
    bus_->Drain();
  }

  Alert Current(const std::string& id) {
    auto alert = service_->Get(id);
    EXPECT_TRUE(alert.ok()) << alert.status();
    return alert.ok() ? *alert : Alert{};
  }

  // The timeline without the delivery reports (those arrive from the notifier's thread in
  // between).
  static std::vector<AlertEvent> Steps(const Alert& alert) {
    std::vector<AlertEvent> steps;
    for (const AlertEvent& e : alert.timeline) {
      if (e.kind != "delivered" && e.kind != "delivery_failed") steps.push_back(e);
    }
    return steps;
  }

  static std::vector<std::string> Kinds(const Alert& alert) {
    std::vector<std::string> kinds;
    for (const AlertEvent& e : alert.timeline) {
      if (e.kind != "delivered" && e.kind != "delivery_failed") kinds.push_back(e.kind);
    }
    return kinds;
  }

  std::vector<std::string> BusEvents() {
    bus_->Drain();
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const Event& e : alert_events_) out.push_back(e.attributes.at("event"));
    return out;
  }

  std::filesystem::path dir_;
  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EventBus> bus_;
  FakeSinks sinks_;
  FakeStartRun start_;
  std::unique_ptr<AlertService> service_;
  absl::Mutex mu_;
  std::vector<Event> alert_events_;
};

TEST_F(AlertServiceTest, NoProblemAndNoAlertIsNothing) {
  auto alert = service_->OnMonitorRun(Outcome(false, "mr-1"));
  ASSERT_TRUE(alert.ok());
  EXPECT_FALSE(alert->has_value());
  EXPECT_TRUE(service_->List({})->empty());
}

TEST_F(AlertServiceTest, RejectsOutcomesWithoutMonitorOrKind) {
  MonitorOutcome outcome = Outcome(true, "mr-1");
  outcome.kind = "";
  EXPECT_EQ(service_->OnMonitorRun(outcome).status().code(), absl::StatusCode::kInvalidArgument);
  outcome.monitor = "";
  EXPECT_EQ(service_->OnMonitorRun(outcome).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AlertServiceTest, OpensOneAlertAndRepeatsUpdateIt) {
  Alert opened = Run(Outcome(true, "mr-1"));
  EXPECT_EQ(opened.state, AlertState::kOpen);
  EXPECT_EQ(opened.severity, Severity::kWarning);
  EXPECT_EQ(opened.monitor, "churn-drift");
  EXPECT_EQ(opened.monitor_version, 2);
  EXPECT_EQ(opened.first_monitor_run, "mr-1");
  EXPECT_EQ(opened.opened_ms, 1'700'000'000'000);
  ASSERT_EQ(Steps(opened).size(), 1u);
  EXPECT_EQ(Steps(opened)[0].kind, "opened");
  EXPECT_EQ(Steps(opened)[0].message,
            "warning drift alert opened by monitor run mr-1 of monitor churn-drift: 3 of 5 "
            "columns drifted (share 0.6 >= 0.5)");
  EXPECT_EQ(BusEvents(), std::vector<std::string>{"opened"});

  clock_.Advance(60'000);
  Alert repeated = Run(Outcome(true, "mr-2"));
  EXPECT_EQ(repeated.id, opened.id);
  EXPECT_EQ(repeated.occurrences, 2);
  EXPECT_EQ(repeated.last_monitor_run, "mr-2");
  EXPECT_EQ(repeated.updated_ms, 1'700'000'060'000);
  EXPECT_EQ(Kinds(repeated), (std::vector<std::string>{"opened", "repeated"}));
  EXPECT_EQ(Steps(repeated)[1].attributes.at("monitor_run"), "mr-2");
  EXPECT_EQ(BusEvents(), std::vector<std::string>{"opened"});  // a repeat is not announced

  // Constraints of the same monitor are another alert.
  MonitorOutcome constraints = Outcome(true, "mr-2");
  constraints.kind = "constraints";
  Alert other = Run(constraints);
  EXPECT_NE(other.id, opened.id);
  EXPECT_EQ(service_->List({})->size(), 2u);

  // Without retraining, a clean run resolves it.
  Alert resolved = Run(Outcome(false, "mr-3"));
  EXPECT_EQ(resolved.id, opened.id);
  EXPECT_EQ(resolved.state, AlertState::kResolved);
  EXPECT_EQ(resolved.resolved_by, "cairn");
  EXPECT_EQ(Steps(resolved).back().message, "resolved: monitor run mr-3 found no drift");

  // A live-quality alert of the same monitor is a third one; its resolution says so.
  MonitorOutcome quality = Outcome(true, "mr-4");
  quality.kind = "quality";
  Alert failing = Run(quality);
  EXPECT_NE(failing.id, opened.id);
  quality = Outcome(false, "mr-5");
  quality.kind = "quality";
  EXPECT_EQ(Steps(Run(quality)).back().message,
            "resolved: monitor run mr-5 found no quality failures");

  ASSERT_TRUE(service_->WaitNotificationsIdle(20'000));
  EXPECT_EQ(sinks_.events(),
            (std::vector<std::string>{"opened", "opened", "resolved", "opened", "resolved"}));
  Json body = sinks_.deliveries()[0].body;
  EXPECT_EQ(body["alert"]["id"], opened.id);
  EXPECT_EQ(body["alert"]["severity"], "warning");
  EXPECT_EQ(body["alert"]["sinks"][0].count("secret"), 0u);
}

TEST_F(AlertServiceTest, RetrainingThatHelpsResolvesTheAlert) {
  Alert opened = Run(Outcome(true, "mr-1", /*retrain=*/true));
  ASSERT_EQ(start_.count(), 1u);
  EXPECT_EQ(start_.calls[0].pipeline, "retrain-churn");
  EXPECT_EQ(start_.calls[0].trigger, "alert");
  EXPECT_EQ(start_.calls[0].params.at("reason"),
            "alert " + opened.id + " of churn-drift (mr-1)");
  EXPECT_EQ(opened.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(opened.retrain_run, "run-1");
  EXPECT_EQ(opened.attempts, 1);
  EXPECT_EQ(Kinds(opened), (std::vector<std::string>{"opened", "retrain_started"}));
  EXPECT_EQ(Steps(opened)[1].message,
            "retraining attempt 1 of 2: started run run-1 of pipeline retrain-churn (follow it "
            "with: cairn pipelines get run-1)");

  // Drift while the run is going: repeated, no second run.
  Alert during = Run(Outcome(true, "mr-2", true));
  EXPECT_EQ(start_.count(), 1u);
  EXPECT_EQ(during.severity, Severity::kWarning);

  FinishRun("run-1", "succeeded");
  Alert waiting = Current(opened.id);
  EXPECT_EQ(waiting.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Steps(waiting).back().kind, "retrain_succeeded");

  Alert resolved = Run(Outcome(false, "mr-3", true));
  EXPECT_EQ(resolved.state, AlertState::kResolved);
  EXPECT_EQ(resolved.resolved_by, "cairn");
  EXPECT_EQ(Steps(resolved).back().message,
            "resolved: monitor run mr-3 found no drift after retraining run run-1");
  EXPECT_EQ(Steps(resolved).back().attributes.at("pipeline_run"), "run-1");
  EXPECT_EQ(start_.count(), 1u);
  EXPECT_EQ(BusEvents(), std::vector<std::string>{"opened"});
  ASSERT_TRUE(service_->WaitNotificationsIdle(20'000));
  EXPECT_EQ(sinks_.events(), (std::vector<std::string>{"opened", "resolved"}));
}

TEST_F(AlertServiceTest, RetrainingThatDoesNotHelpEscalatesThenPages) {
  Alert alert = Run(Outcome(true, "mr-1", true));
  FinishRun("run-1", "succeeded");
  alert = Run(Outcome(true, "mr-2", true));
  EXPECT_EQ(alert.severity, Severity::kCritical);
  EXPECT_EQ(alert.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(alert.retrain_run, "run-2");
  EXPECT_EQ(alert.attempts, 2);
  EXPECT_EQ(start_.count(), 2u);
  const AlertEvent escalated = Steps(alert)[Steps(alert).size() - 2];
  EXPECT_EQ(escalated.kind, "escalated");
  EXPECT_EQ(escalated.message,
            "escalated from warning to critical: monitor run mr-2 still finds drift after "
            "retraining run run-1 succeeded");

  FinishRun("run-2", "succeeded");
  alert = Run(Outcome(true, "mr-3", true));
  EXPECT_EQ(alert.phase, RetrainPhase::kExhausted);
  EXPECT_EQ(alert.state, AlertState::kOpen);
  EXPECT_EQ(start_.count(), 2u);  // max_attempts = 2: no third run
  EXPECT_EQ(alert.retrain_runs, (std::vector<std::string>{"run-1", "run-2"}));
  EXPECT_EQ(Kinds(alert),
            (std::vector<std::string>{"opened", "retrain_started", "retrain_succeeded", "repeated",
                                      "escalated", "retrain_started", "retrain_succeeded",
                                      "repeated", "escalated", "retrain_exhausted"}));
  EXPECT_EQ(Steps(alert).back().message,
            "retraining stopped: 2 of 2 attempts with pipeline retrain-churn did not fix the "
            "drift of monitor churn-drift (runs run-1, run-2); paging the team: look at the "
            "data and the model by hand, then resolve this alert (cairn alerts resolve " +
                alert.id + ")");

  // Later runs with drift only repeat; nothing more is started.
  alert = Run(Outcome(true, "mr-4", true));
  EXPECT_EQ(start_.count(), 2u);
  EXPECT_EQ(Steps(alert).back().kind, "repeated");

  EXPECT_EQ(BusEvents(), (std::vector<std::string>{"opened", "escalated", "escalated", "paged"}));
  ASSERT_TRUE(service_->WaitNotificationsIdle(20'000));
  EXPECT_EQ(sinks_.events(),
            (std::vector<std::string>{"opened", "escalated", "escalated", "paged"}));
  EXPECT_EQ(sinks_.deliveries().back().body["alert"]["severity"], "critical");
  EXPECT_EQ(sinks_.deliveries().back().body["alert"]["retrain"]["phase"], "exhausted");
}

TEST_F(AlertServiceTest, FailedRetrainingEscalatesAndRetriesAtOnce) {
  Alert alert = Run(Outcome(true, "mr-1", true));
  FinishRun("run-1", "failed");
  alert = Current(alert.id);
  EXPECT_EQ(alert.severity, Severity::kCritical);
  EXPECT_EQ(alert.retrain_run, "run-2");
  EXPECT_EQ(alert.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(Kinds(alert), (std::vector<std::string>{"opened", "retrain_started",
                                                    "retrain_failed", "escalated",
                                                    "retrain_started"}));
  EXPECT_EQ(Steps(alert)[2].message,
            "retraining run run-1 of pipeline retrain-churn ended failed; see why with: cairn "
            "pipelines get run-1");
  FinishRun("run-2", "cancelled");
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kExhausted);
  EXPECT_EQ(start_.count(), 2u);
  EXPECT_EQ(Steps(alert).back().kind, "retrain_exhausted");
  // A repeated finished event (or one of an unrelated run) changes nothing.
  FinishRun("run-2", "cancelled");
  FinishRun("run-99", "failed");
  EXPECT_EQ(Kinds(Current(alert.id)), Kinds(alert));
}

TEST_F(AlertServiceTest, AwaitModelWaitsForTheRegisteredVersion) {
  MonitorOutcome outcome = Outcome(true, "mr-1", true);
  outcome.retrain->await_model = "churn-model";
  Alert alert = Run(outcome);
  FinishRun("run-1", "succeeded");
  EXPECT_EQ(Current(alert.id).phase, RetrainPhase::kAwaitingModel);

  // A clean run before the model is registered does not resolve it.
  MonitorOutcome clean = Outcome(false, "mr-2", true);
  clean.retrain->await_model = "churn-model";
  alert = Run(clean);
  EXPECT_EQ(alert.state, AlertState::kOpen);
  EXPECT_EQ(Steps(alert).back().kind, "verification_pending");

  bus_->Publish(Event{kEventModelVersionRegistered, {{"model", "other"}, {"version", "1"}}});
  bus_->Drain();
  EXPECT_EQ(Current(alert.id).phase, RetrainPhase::kAwaitingModel);
  bus_->Publish(Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "4"}}});
  bus_->Drain();
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Steps(alert).back().message,
            "model churn-model version 4 registered after retraining run run-1; the next run of "
            "monitor churn-drift verifies whether the drift is gone");

  alert = Run(clean);
  EXPECT_EQ(alert.state, AlertState::kResolved);
}

TEST_F(AlertServiceTest, AwaitAliasWaitsForThePromotionNotTheRegistration) {
  MonitorOutcome outcome = Outcome(true, "mr-1", true);
  outcome.retrain->await_model = "churn-model";
  outcome.retrain->await_alias = "production";
  Alert alert = Run(outcome);
  FinishRun("run-1", "succeeded");
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kAwaitingModel);
  EXPECT_EQ(Steps(alert).back().message,
            "retraining run run-1 of pipeline retrain-churn succeeded; waiting for model "
            "churn-model's alias 'production' to move; the monitor run after that verifies the "
            "fix");

  // A registered version, another alias, another model's alias or a deleted alias: still
  // waiting (a clean monitor run does not resolve the alert).
  bus_->Publish(Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "5"}}});
  bus_->Publish(Event{kEventModelAliasMoved,
                      {{"model", "churn-model"}, {"alias", "staging"}, {"to_version", "5"}}});
  bus_->Publish(Event{kEventModelAliasMoved,
                      {{"model", "other"}, {"alias", "production"}, {"to_version", "5"}}});
  bus_->Publish(Event{kEventModelAliasMoved,
                      {{"model", "churn-model"}, {"alias", "production"}, {"to_version", ""}}});
  bus_->Publish(Event{kEventModelAliasMoved,  // a rollback is not a promotion
                      {{"model", "churn-model"},
                       {"alias", "production"},
                       {"from_version", "4"},
                       {"to_version", "2"}}});
  bus_->Drain();
  EXPECT_EQ(Current(alert.id).phase, RetrainPhase::kAwaitingModel);
  MonitorOutcome clean = Outcome(false, "mr-2", true);
  clean.retrain = outcome.retrain;
  alert = Run(clean);
  EXPECT_EQ(alert.state, AlertState::kOpen);
  EXPECT_EQ(Steps(alert).back().kind, "verification_pending");
  EXPECT_NE(Steps(alert).back().message.find(
                "but model churn-model's alias 'production' to move has not happened yet"),
            std::string::npos)
      << Steps(alert).back().message;

  // The promotion: on to verification, and the next clean run resolves it.
  bus_->Publish(Event{kEventModelAliasMoved,
                      {{"model", "churn-model"},
                       {"alias", "production"},
                       {"from_version", "3"},
                       {"to_version", "5"}}});
  bus_->Drain();
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Steps(alert).back().kind, "model_promoted");
  EXPECT_EQ(Steps(alert).back().message,
            "model churn-model's alias 'production' moved to version 5 after retraining run "
            "run-1; the next run of monitor churn-drift verifies whether the drift is gone");
  EXPECT_EQ(Run(clean).state, AlertState::kResolved);
}

TEST_F(AlertServiceTest, APromotionDuringTheRunIsRemembered) {
  MonitorOutcome outcome = Outcome(true, "mr-1", true);
  outcome.retrain->await_model = "churn-model";
  outcome.retrain->await_alias = "production";
  Alert alert = Run(outcome);
  bus_->Publish(Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "6"}}});
  bus_->Drain();
  EXPECT_EQ(Current(alert.id).registered_version, "");  // a registration is not a promotion
  bus_->Publish(Event{kEventModelAliasMoved,
                      {{"model", "churn-model"}, {"alias", "production"}, {"to_version", "6"}}});
  bus_->Drain();
  EXPECT_EQ(Current(alert.id).registered_version, "6");
  FinishRun("run-1", "succeeded");
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Steps(alert).back().message,
            "retraining run run-1 of pipeline retrain-churn succeeded; model churn-model version "
            "6 took alias 'production' while it ran; the next run of monitor churn-drift "
            "verifies whether the drift is gone");
}

TEST_F(AlertServiceTest, ModelRegisteredBeforeTheRunFinishesIsRemembered) {
  // A retraining pipeline that registers the model itself publishes
  // model_version_registered while its run is still going.
  MonitorOutcome outcome = Outcome(true, "mr-1", true);
  outcome.retrain->await_model = "churn-model";
  Alert alert = Run(outcome);
  ASSERT_EQ(alert.phase, RetrainPhase::kRetraining);
  bus_->Publish(Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "7"}}});
  bus_->Drain();
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(alert.registered_version, "7");
  // Remembered in the database: a restarted service still knows.
  service_.reset();
  Open();
  FinishRun("run-1", "succeeded");
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Kinds(alert), (std::vector<std::string>{"opened", "retrain_started",
                                                    "model_registered", "retrain_succeeded"}));
  EXPECT_EQ(Steps(alert)[2].message,
            "model churn-model version 7 registered while retraining run run-1 is still running; "
            "once the run succeeds, the next run of monitor churn-drift verifies whether the "
            "drift is gone");
  EXPECT_EQ(Steps(alert).back().message,
            "retraining run run-1 of pipeline retrain-churn succeeded; model churn-model version "
            "7 was registered while it ran; the next run of monitor churn-drift verifies whether "
            "the drift is gone");
  MonitorOutcome clean = Outcome(false, "mr-2", true);
  clean.retrain->await_model = "churn-model";
  EXPECT_EQ(Run(clean).state, AlertState::kResolved);

  // The next retraining run starts without the old registration.
  Alert next = Run(outcome);
  EXPECT_NE(next.id, alert.id);
  EXPECT_EQ(next.registered_version, "");
  FinishRun("run-2", "succeeded");
  EXPECT_EQ(Current(next.id).phase, RetrainPhase::kAwaitingModel);
}

TEST_F(AlertServiceTest, ReconcileMovesAlertsWhoseRunEndedWhileNoOneListened) {
  // Three monitors, each with a retraining run; the server stops before any finishes.
  auto outcome_of = [this](const std::string& monitor) {
    MonitorOutcome outcome = Outcome(true, "mr-1", true);
    outcome.monitor = monitor;
    return outcome;
  };
  Alert ok = Run(outcome_of("a"));        // run-1: succeeded while the server was down
  Alert failed = Run(outcome_of("b"));    // run-2: failed
  Alert running = Run(outcome_of("c"));   // run-3: still running
  Alert unknown = Run(outcome_of("d"));   // run-4: the engine does not know it
  service_.reset();
  Open();
  std::vector<std::string> asked;
  absl::Status status = service_->Reconcile(
      [&](const std::string& run) -> absl::StatusOr<std::string> {
        asked.push_back(run);
        if (run == "run-1") return std::string("succeeded");
        if (run == "run-2") return std::string("failed");
        if (run == "run-3") return std::string("running");
        return absl::NotFoundError("run " + run + " not found");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::string>{"run-1", "run-2", "run-3", "run-4"}));

  ok = Current(ok.id);
  EXPECT_EQ(ok.phase, RetrainPhase::kAwaitingVerification);
  EXPECT_EQ(Steps(ok).back().message,
            "retraining run run-1 of pipeline retrain-churn succeeded (found at startup); the "
            "next run of monitor a verifies whether the drift is gone");
  failed = Current(failed.id);
  EXPECT_EQ(failed.severity, Severity::kCritical);
  EXPECT_EQ(failed.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(failed.retrain_run, "run-5");  // the second attempt
  EXPECT_EQ(Kinds(failed), (std::vector<std::string>{"opened", "retrain_started",
                                                     "retrain_failed", "escalated",
                                                     "retrain_started"}));
  EXPECT_EQ(Steps(failed)[2].message,
            "retraining run run-2 of pipeline retrain-churn ended failed (found at startup); see "
            "why with: cairn pipelines get run-2");
  EXPECT_EQ(Current(running.id).phase, RetrainPhase::kRetraining);
  EXPECT_EQ(Kinds(Current(running.id)), Kinds(running));
  EXPECT_EQ(Current(unknown.id).phase, RetrainPhase::kRetraining);

  // The late event of a run reconciled already changes nothing more.
  FinishRun("run-1", "succeeded");
  EXPECT_EQ(Kinds(Current(ok.id)), Kinds(ok));
}

TEST_F(AlertServiceTest, RemovingOnAlertFromTheMonitorStopsRetraining) {
  Alert alert = Run(Outcome(true, "mr-1", true));
  FinishRun("run-1", "succeeded");
  ASSERT_EQ(Current(alert.id).phase, RetrainPhase::kAwaitingVerification);
  // The monitor was applied again without on_alert: the drift is still there, but no
  // second retraining run starts.
  alert = Run(Outcome(true, "mr-2", /*retrain=*/false));
  EXPECT_EQ(start_.count(), 1u);
  EXPECT_FALSE(alert.retrain.has_value());
  EXPECT_EQ(alert.phase, RetrainPhase::kNone);
  EXPECT_EQ(alert.attempts, 1);
  EXPECT_EQ(alert.retrain_runs, std::vector<std::string>{"run-1"});
  EXPECT_EQ(alert.severity, Severity::kWarning);
  EXPECT_EQ(Steps(alert).back().message,
            "monitor run mr-2 still finds drift: 3 of 5 columns drifted (share 0.6 >= 0.5) "
            "(occurrence 2); retraining is off: the monitor no longer declares "
            "on_alert.pipeline");
  alert = Run(Outcome(true, "mr-3", false));
  EXPECT_EQ(start_.count(), 1u);
  EXPECT_EQ(Current(alert.id).retrain, std::nullopt);
  // A clean run resolves it.
  EXPECT_EQ(Run(Outcome(false, "mr-4", false)).state, AlertState::kResolved);

  // Removed while a run is going: its failure escalates, but nothing starts again.
  Alert second = Run(Outcome(true, "mr-5", true));
  ASSERT_EQ(start_.count(), 2u);
  Run(Outcome(true, "mr-6", false));
  FinishRun("run-2", "failed");
  second = Current(second.id);
  EXPECT_EQ(start_.count(), 2u);
  EXPECT_EQ(second.phase, RetrainPhase::kNone);
  EXPECT_EQ(second.severity, Severity::kCritical);
  EXPECT_EQ(Steps(second).back().kind, "escalated");
}

TEST_F(AlertServiceTest, RunThatFinishesBeforeStartRunReturnsIsStillSeen) {
  // The engine may publish pipeline_run_finished before the alert stored the run id.
  start_.on_start = [this](const std::string& run) {
    bus_->Publish(Event{kEventPipelineRunFinished,
                        {{"pipeline", "retrain-churn"}, {"run_id", run}, {"state", "succeeded"}}});
  };
  Alert alert = Run(Outcome(true, "mr-1", true));
  bus_->Drain();
  EXPECT_EQ(Current(alert.id).phase, RetrainPhase::kAwaitingVerification);
}

TEST_F(AlertServiceTest, RetrainingThatCannotStartCountsAsFailedAttempts) {
  start_.error = absl::InternalError("database is locked");
  Alert alert = Run(Outcome(true, "mr-1", true));
  EXPECT_EQ(start_.count(), 2u);
  EXPECT_EQ(alert.phase, RetrainPhase::kExhausted);
  EXPECT_EQ(alert.severity, Severity::kCritical);
  EXPECT_EQ(Kinds(alert), (std::vector<std::string>{"opened", "retrain_start_failed",
                                                    "escalated", "retrain_start_failed",
                                                    "escalated", "retrain_exhausted"}));
  EXPECT_EQ(Steps(alert)[1].message,
            "retraining attempt 1 of 2: could not start pipeline retrain-churn: database is "
            "locked; fix the pipeline or the monitor's on_alert.pipeline");
}

TEST_F(AlertServiceTest, RetrainingThatIsMisconfiguredIsBlockedAndPagedOnce) {
  for (absl::Status error : {absl::NotFoundError("pipeline retrain-churn not found"),
                             absl::InvalidArgumentError("params: missing 'table'"),
                             absl::FailedPreconditionError("pipeline retrain-churn is paused")}) {
    SCOPED_TRACE(error.ToString());
    const size_t before = start_.count();
    {
      absl::MutexLock lock(&start_.mu);
      start_.error = error;
    }
    MonitorOutcome outcome = Outcome(true, "mr-1", true);
    outcome.monitor = "m-" + std::to_string(before);
    Alert alert = Run(outcome);
    EXPECT_EQ(start_.count(), before + 1);  // one try, not max_attempts in one call
    EXPECT_EQ(alert.phase, RetrainPhase::kExhausted);
    EXPECT_EQ(alert.severity, Severity::kCritical);
    EXPECT_EQ(alert.attempts, 1);
    EXPECT_EQ(Kinds(alert), (std::vector<std::string>{"opened", "retrain_start_failed",
                                                      "escalated", "retrain_exhausted"}));
    EXPECT_EQ(Steps(alert)[1].message,
              "retraining attempt 1 of 2: could not start pipeline retrain-churn: " +
                  std::string(error.message()) +
                  "; fix the pipeline or the monitor's on_alert.pipeline");
    EXPECT_EQ(Steps(alert).back().message,
              "retraining blocked: pipeline retrain-churn of monitor " + outcome.monitor +
                  " cannot be started (" + std::string(error.message()) +
                  "); no more retraining is tried for this alert. Fix the pipeline or the "
                  "monitor's on_alert (pipeline, params) and apply it, then resolve this alert "
                  "(cairn alerts resolve " + alert.id + ")");
    // Later runs with the problem only repeat.
    alert = Run(outcome);
    EXPECT_EQ(start_.count(), before + 1);
    EXPECT_EQ(Steps(alert).back().kind, "repeated");
  }
  EXPECT_EQ(BusEvents(), (std::vector<std::string>{"opened", "escalated", "paged", "opened",
                                                   "escalated", "paged", "opened", "escalated",
                                                   "paged"}));
  ASSERT_TRUE(service_->WaitNotificationsIdle(20'000));
  EXPECT_EQ(sinks_.events(), (std::vector<std::string>{"opened", "escalated", "paged", "opened",
                                                       "escalated", "paged", "opened",
                                                       "escalated", "paged"}));
}

TEST_F(AlertServiceTest, EngineUnavailableIsNotAnAttemptAndIsRetriedNextRun) {
  start_.error = absl::UnavailableError("the pipeline engine is shutting down");
  Alert alert = Run(Outcome(true, "mr-1", true));
  EXPECT_EQ(start_.count(), 1u);
  EXPECT_EQ(alert.phase, RetrainPhase::kNone);
  EXPECT_EQ(alert.attempts, 0);
  EXPECT_EQ(alert.severity, Severity::kWarning);
  EXPECT_EQ(Kinds(alert), (std::vector<std::string>{"opened", "retrain_start_failed"}));
  EXPECT_EQ(Steps(alert).back().message,
            "retraining not started: pipeline retrain-churn cannot be started now: the pipeline "
            "engine is shutting down; not counted as an attempt: the next run of monitor "
            "churn-drift that still finds drift tries again");
  {
    absl::MutexLock lock(&start_.mu);
    start_.error = absl::OkStatus();
  }
  alert = Run(Outcome(true, "mr-2", true));
  EXPECT_EQ(start_.count(), 2u);
  EXPECT_EQ(alert.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(alert.attempts, 1);
  EXPECT_EQ(alert.retrain_run, "run-2");

  // Also after a failed run: the retry that meets a stopping engine waits for the next run.
  {
    absl::MutexLock lock(&start_.mu);
    start_.error = absl::UnavailableError("the pipeline engine is shutting down");
  }
  FinishRun("run-2", "failed");
  alert = Current(alert.id);
  EXPECT_EQ(alert.phase, RetrainPhase::kNone);
  EXPECT_EQ(alert.attempts, 1);
  EXPECT_EQ(alert.severity, Severity::kCritical);
  {
    absl::MutexLock lock(&start_.mu);
    start_.error = absl::OkStatus();
  }
  alert = Run(Outcome(true, "mr-3", true));
  EXPECT_EQ(alert.phase, RetrainPhase::kRetraining);
  EXPECT_EQ(alert.attempts, 2);
  EXPECT_EQ(alert.retrain_run, "run-4");
}

TEST_F(AlertServiceTest, AcknowledgeResolveAndReopenOnEscalation) {
  Alert alert = Run(Outcome(true, "mr-1", true));
  auto acked = service_->Acknowledge(alert.id, "ana", "looking");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->state, AlertState::kAcknowledged);
  EXPECT_EQ(acked->acknowledged_by, "ana");
  EXPECT_EQ(Steps(*acked).back().message, "acknowledged by ana: looking");
  EXPECT_EQ(service_->List({AlertState::kAcknowledged, "", std::nullopt, 100})->size(), 1u);

  // Escalation opens an acknowledged alert again.
  FinishRun("run-1", "failed");
  alert = Current(alert.id);
  EXPECT_EQ(alert.state, AlertState::kOpen);
  EXPECT_EQ(alert.severity, Severity::kCritical);
  std::vector<AlertEvent> steps = Steps(alert);
  auto escalated = std::find_if(steps.begin(), steps.end(),
                                [](const AlertEvent& e) { return e.kind == "escalated"; });
  ASSERT_NE(escalated, steps.end());
  EXPECT_EQ(escalated->message,
            "escalated from warning to critical: retraining run run-1 failed (open again: it was "
            "acknowledged by ana)");

  auto resolved = service_->Resolve(alert.id, "bob", "fixed the feed");
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->state, AlertState::kResolved);
  EXPECT_EQ(resolved->resolved_by, "bob");
  EXPECT_EQ(Steps(*resolved).back().message, "resolved by bob: fixed the feed");
  EXPECT_EQ(service_->Resolve(alert.id, "bob", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->Acknowledge(alert.id, "bob", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->Acknowledge("nope", "bob", "").status().code(),
            absl::StatusCode::kNotFound);

  // The run still in flight finishes after the resolve: noted only.
  FinishRun("run-2", "succeeded");
  alert = Current(alert.id);
  EXPECT_EQ(alert.state, AlertState::kResolved);
  EXPECT_EQ(Steps(alert).back().message,
            "retraining run run-2 ended succeeded after the alert was resolved; nothing more to "
            "do");

  // The next drift opens a new alert.
  Alert next = Run(Outcome(true, "mr-5", true));
  EXPECT_NE(next.id, alert.id);
  EXPECT_EQ(next.severity, Severity::kWarning);
}

TEST_F(AlertServiceTest, DeliveryAttemptsAreInTheTimeline) {
  sinks_.FailFirst(1);
  MonitorOutcome outcome = Outcome(true, "mr-1");
  outcome.sinks.push_back(SinkSpec{"broken", "", ""});
  Alert alert = Run(outcome);
  ASSERT_TRUE(service_->WaitNotificationsIdle(20'000));
  alert = Current(alert.id);
  std::vector<std::string> kinds;
  for (const AlertEvent& e : alert.timeline) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"opened", "delivery_failed", "delivery_failed",
                                             "delivered"}));
  EXPECT_EQ(alert.timeline[1].message,
            "opened notification not sent to broken sink : sinks: kind broken; fix the monitor's "
            "sinks and apply it again");
  EXPECT_EQ(alert.timeline[2].attributes.at("http_status"), "502");
  EXPECT_NE(alert.timeline[2].message.find(
                "opened notification to webhook http://hooks/x failed (attempt 1 of 3): answered "
                "HTTP 502; retrying at"),
            std::string::npos)
      << alert.timeline[2].message;
  EXPECT_EQ(alert.timeline[3].message,
            "opened notification delivered to webhook http://hooks/x (attempt 2)");
}

TEST_F(AlertServiceTest, StateSurvivesAReopenedService) {
  Alert alert = Run(Outcome(true, "mr-1", true));
  service_.reset();
  Open();
  FinishRun("run-1", "succeeded");
  Alert resolved = Run(Outcome(false, "mr-2", true));
  EXPECT_EQ(resolved.id, alert.id);
  EXPECT_EQ(resolved.state, AlertState::kResolved);
}

// A notification still queued when the server stops (here: waiting for its retry) is kept
// in the outbox and delivered by the next start — over real HTTP, with a fresh signature.
TEST_F(AlertServiceTest, QueuedNotificationsAreDeliveredAfterARestart) {
  test_support::HttpReceiver receiver({503, 200});
  auto open_real = [this] {
    service_.reset();
    AlertServiceOptions options;  // the real webhook sink
    options.webhook.attempts = 3;
    options.webhook.backoff_ms = 60'000;  // on the fake clock: never due before the restart
    auto service = AlertService::Open(*db_, clock_, *bus_, start_.fn(), options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  };
  auto outbox_attempts = [this]() -> std::vector<int64_t> {
    std::vector<int64_t> attempts;
    EXPECT_TRUE(db_->Read([&attempts](storage::SqlSession& s) {
                     attempts.clear();
                     return s.QueryEach("SELECT attempts FROM monitoring_alert_outbox", {},
                                        [&attempts](const storage::SqlRowView& row) {
                                          attempts.push_back(row.Int(0));
                                          return absl::OkStatus();
                                        });
                   }).ok());
    return attempts;
  };
  auto wait_for = [&](const std::vector<int64_t>& want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (outbox_attempts() != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));  // polling a condition, not waiting a time
    }
    return outbox_attempts() == want;
  };
  open_real();
  MonitorOutcome outcome = Outcome(true, "mr-1");
  outcome.sinks = {SinkSpec{"webhook", receiver.url(), "s"}};
  Alert alert = Run(outcome);
  ASSERT_TRUE(receiver.WaitForRequests(1));
  ASSERT_TRUE(wait_for({1})) << "the failed first try is recorded in the outbox";

  service_.reset();  // stopped with the retry queued
  EXPECT_EQ(outbox_attempts(), std::vector<int64_t>{1});
  open_real();
  clock_.Advance(61'000);  // the retry's time comes after the restart
  ASSERT_TRUE(receiver.WaitForRequests(2));
  ASSERT_TRUE(wait_for({})) << "delivered: removed from the outbox";
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_TRUE(test_support::VerifyCairnSignature(requests[1], "s").ok());
  alert = Current(alert.id);
  std::vector<std::string> deliveries;
  for (const AlertEvent& e : alert.timeline) {
    if (e.kind == "delivered" || e.kind == "delivery_failed") {
      deliveries.push_back(e.kind + " " + e.attributes.at("attempt"));
    }
  }
  EXPECT_EQ(deliveries, (std::vector<std::string>{"delivery_failed 1", "delivered 2"}));
}

// Two servers sharing one database (two connections, two services) raising the same
// monitor's alert at once: one alert, opened once, every outcome on its timeline. On the
// fixture's SQLite file, and on PostgreSQL when CAIRN_TEST_POSTGRES_URL names a server.
void RaceTwoServices(storage::Database& a, storage::Database& b, Clock& clock, EventBus& bus,
                     const AlertServiceOptions& options, StartRetrainFn start,
                     const std::function<MonitorOutcome(const std::string&)>& outcome) {
  auto first = AlertService::Open(a, clock, bus, start, options);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = AlertService::Open(b, clock, bus, start, options);
  ASSERT_TRUE(second.ok()) << second.status();
  AlertService* services[] = {first->get(), second->get()};
  constexpr int kRuns = 10;
  std::atomic<int> ready{0};
  std::vector<std::string> errors[2];
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      for (int i = 0; i < kRuns; ++i) {
        auto alert = services[w]->OnMonitorRun(
            outcome("mr-" + std::to_string(w) + "-" + std::to_string(i)));
        if (!alert.ok()) errors[w].push_back(std::string(alert.status().message()));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(errors[0].empty()) << errors[0].front();
  EXPECT_TRUE(errors[1].empty()) << errors[1].front();
  AlertFilter filter;
  filter.monitor = "churn-drift";
  auto listed = (*first)->List(filter);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  auto alert = (*first)->Get((*listed)[0].id);
  ASSERT_TRUE(alert.ok()) << alert.status();
  int opened = 0, repeated = 0;
  for (const AlertEvent& e : alert->timeline) {
    opened += e.kind == "opened";
    repeated += e.kind == "repeated";
  }
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(repeated, 2 * kRuns - 1);
  EXPECT_TRUE((*first)->WaitNotificationsIdle(20'000));
  EXPECT_TRUE((*second)->WaitNotificationsIdle(20'000));
}

// Two connections to the private PostgreSQL with the alert tables dropped (empty when
// CAIRN_TEST_POSTGRES_URL names no server).
std::vector<std::unique_ptr<storage::Database>> FreshPostgresPair() {
  std::vector<std::unique_ptr<storage::Database>> dbs;
  const char* pg = storage::test_support::PrivatePostgresUrl();
  if (pg == nullptr) return dbs;
  for (int i = 0; i < 2; ++i) {
    auto db = storage::OpenDatabase(pg);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return {};
    dbs.push_back(std::move(*db));
  }
  EXPECT_TRUE(dbs[0]->Write([](storage::SqlSession& s) {
                       return s.ExecuteScript(
                           "DROP TABLE IF EXISTS monitoring_alerts;"
                           "DROP TABLE IF EXISTS monitoring_alert_events;"
                           "DROP TABLE IF EXISTS monitoring_alert_outbox;"
                           "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT "
                           "NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at "
                           "BIGINT NOT NULL, PRIMARY KEY (component, version));"
                           "DELETE FROM schema_migrations WHERE component IN "
                           "('monitoring_alerts', 'monitoring_alert_outbox')");
                     }).ok());
  return dbs;
}

TEST_F(AlertServiceTest, TwoServicesRacingOnOneDatabaseOpenOneAlert) {
  AlertServiceOptions options;
  options.make_sink = sinks_.fn();
  auto outcome = [this](const std::string& run) { return Outcome(true, run); };
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  RaceTwoServices(*db_, **other_db, clock_, *bus_, options, start_.fn(), outcome);

  auto pg = FreshPostgresPair();
  if (pg.empty()) return;  // the PostgreSQL case needs CAIRN_TEST_POSTGRES_URL
  RaceTwoServices(*pg[0], *pg[1], clock_, *bus_, options, start_.fn(), outcome);
}

// Two servers sharing one database whose monitor runs find the same drift of a monitor with
// on_alert: server A opens the alert and, while it is starting retraining run 1, server B's
// monitor run finds the drift too (B reads the alert before A has recorded the run). Only A
// starts a run; B records its repeat and nothing more; neither loses the other's writes.
// Then both find the drift again after the run succeeded: one escalates and starts run 2.
// The timeline's kinds without the delivery reports (those come from the notifier's thread).
std::vector<std::string> StepKinds(const Alert& alert) {
  std::vector<std::string> kinds;
  for (const AlertEvent& e : alert.timeline) {
    if (e.kind != "delivered" && e.kind != "delivery_failed") kinds.push_back(e.kind);
  }
  return kinds;
}

void RaceRetrainStart(storage::Database& a, storage::Database& b, Clock& clock, EventBus& bus,
                      const AlertServiceOptions& options,
                      const std::function<MonitorOutcome(const std::string&)>& outcome) {
  std::unique_ptr<AlertService> second;
  std::vector<std::string> starts;  // "<server> <run>"
  std::function<void()> while_a_starts;
  // Server `name`'s StartRetrainFn: records the start, then runs `*during` (if set).
  auto starter = [&](std::string name, std::function<void()>* during) -> StartRetrainFn {
    return [&starts, name, during](const std::string&, const std::map<std::string, std::string>&,
                                   const std::string&) -> absl::StatusOr<std::string> {
      const std::string run = "run-" + name + std::to_string(starts.size() + 1);
      starts.push_back(name + " " + run);
      if (during != nullptr && *during) (*during)();
      return run;
    };
  };
  auto first = AlertService::Open(a, clock, bus, starter("a", &while_a_starts), options);
  ASSERT_TRUE(first.ok()) << first.status();
  auto opened_b = AlertService::Open(b, clock, bus, starter("b", nullptr), options);
  ASSERT_TRUE(opened_b.ok()) << opened_b.status();
  second = std::move(*opened_b);
  absl::Status b_status;
  std::optional<Alert> b_alert;
  // B's monitor run `run`, made while A is in its StartRetrainFn.
  auto b_runs = [&](std::string run) {
    return [&, run] {
      auto got = second->OnMonitorRun(outcome(run));
      b_status = got.status();
      if (got.ok() && got->has_value()) b_alert = **got;
    };
  };
  while_a_starts = b_runs("mr-b1");
  auto opened = (*first)->OnMonitorRun(outcome("mr-a1"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(b_status.ok()) << b_status;
  ASSERT_TRUE(b_alert.has_value());
  EXPECT_EQ(starts, std::vector<std::string>{"a run-a1"});
  EXPECT_EQ(b_alert->retrain_run, "") << "B read the alert before A recorded its run";
  auto alert = (*first)->Get((*opened)->id);
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->occurrences, 2) << "B's repeat is kept";
  EXPECT_EQ(alert->phase, RetrainPhase::kRetraining);
  EXPECT_EQ(alert->retrain_run, "run-a1") << "A's run is kept";
  EXPECT_EQ(alert->retrain_runs, std::vector<std::string>{"run-a1"});
  EXPECT_EQ(alert->attempts, 1);
  EXPECT_EQ(StepKinds(*alert),
            (std::vector<std::string>{"opened", "repeated", "retrain_started"}));

  // The run succeeded (on A, whose engine ran it); both servers' next monitor runs still find
  // drift, B's while A is escalating: one escalation, one retraining run 2.
  while_a_starts = nullptr;
  (*first)->HandleEvent(Event{kEventPipelineRunFinished,
                              {{"pipeline", "retrain-churn"}, {"run_id", "run-a1"},
                               {"state", "succeeded"}}});
  b_alert.reset();
  while_a_starts = b_runs("mr-b2");
  auto again = (*first)->OnMonitorRun(outcome("mr-a2"));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(starts, (std::vector<std::string>{"a run-a1", "a run-a2"}));
  alert = (*first)->Get((*opened)->id);
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->occurrences, 4);
  EXPECT_EQ(alert->retrain_runs, (std::vector<std::string>{"run-a1", "run-a2"}));
  EXPECT_EQ(alert->attempts, 2);
  EXPECT_EQ(StepKinds(*alert), (std::vector<std::string>{"opened", "repeated", "retrain_started",
                                             "retrain_succeeded", "repeated", "escalated",
                                             "repeated", "retrain_started"}));
  EXPECT_TRUE((*first)->WaitNotificationsIdle(20'000));
  EXPECT_TRUE(second->WaitNotificationsIdle(20'000));
}

TEST_F(AlertServiceTest, TwoServicesOnOneDatabaseStartOneRetrainingRun) {
  AlertServiceOptions options;
  options.make_sink = sinks_.fn();
  options.subscribe = false;
  auto outcome = [this](const std::string& run) { return Outcome(true, run, true); };
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  RaceRetrainStart(*db_, **other_db, clock_, *bus_, options, outcome);

  auto pg = FreshPostgresPair();
  if (pg.empty()) return;  // the PostgreSQL case needs CAIRN_TEST_POSTGRES_URL
  RaceRetrainStart(*pg[0], *pg[1], clock_, *bus_, options, outcome);
}


// A Database that runs a hook once, just before the n-th Write made (after BeforeWrite) by
// the thread that called BeforeWrite: another server's change lands between what this
// server read and what it writes next. Writes of other threads (the notifier) do not count.
class HookedDatabase final : public storage::Database {
 public:
  explicit HookedDatabase(storage::Database& db) : db_(db) {}
  storage::Dialect dialect() const override { return db_.dialect(); }
  absl::Status Write(const std::function<absl::Status(storage::SqlSession&)>& fn) override {
    std::function<void()> hook;
    {
      absl::MutexLock lock(&mu_);
      if (failures_left_ > 0) {
        --failures_left_;
        return failure_;
      }
      if (hook_ && std::this_thread::get_id() == thread_ && --writes_left_ == 0) {
        hook = std::move(hook_);
        hook_ = nullptr;
      }
    }
    if (hook) hook();
    return db_.Write(fn);
  }
  absl::Status Read(const std::function<absl::Status(storage::SqlSession&)>& fn) override {
    return db_.Read(fn);
  }
  void BeforeWrite(int n, std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    thread_ = std::this_thread::get_id();
    writes_left_ = n;
    hook_ = std::move(hook);
  }
  bool fired() {
    absl::MutexLock lock(&mu_);
    return !hook_;
  }
  // The next `n` writes (of any thread) fail with `status` without reaching the database:
  // a database blip, or (when the step would be given back) a server that died.
  void FailWrites(int n, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_left_ = n;
    failure_ = std::move(status);
  }

 private:
  storage::Database& db_;
  absl::Mutex mu_;
  std::thread::id thread_ ABSL_GUARDED_BY(mu_);
  int writes_left_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

// Two servers A and B sharing one database; A's writes can be interleaved with B's monitor
// runs (HookedDatabase), and A's StartRetrainFn can run B's monitor run, then fail.
struct TwoServers {
  TwoServers(storage::Database& a, storage::Database& b, Clock& clock, EventBus& bus)
      : hooked(a) {
    AlertServiceOptions options;
    options.subscribe = false;
    auto start_a = [this](const std::string&, const std::map<std::string, std::string>&,
                          const std::string&) -> absl::StatusOr<std::string> {
      const std::string run = "run-a" + std::to_string(++runs);
      if (during_a_start) {
        std::function<void()> during = std::move(during_a_start);
        during_a_start = nullptr;
        during();
      }
      if (!a_start_result.ok()) return a_start_result;
      return run;
    };
    auto start_b = [this](const std::string&, const std::map<std::string, std::string>&,
                          const std::string&) -> absl::StatusOr<std::string> {
      return "run-b" + std::to_string(++runs);
    };
    auto opened_a = AlertService::Open(hooked, clock, bus, start_a, options);
    EXPECT_TRUE(opened_a.ok()) << opened_a.status();
    auto opened_b = AlertService::Open(b, clock, bus, start_b, options);
    EXPECT_TRUE(opened_b.ok()) << opened_b.status();
    if (opened_a.ok()) server_a = std::move(*opened_a);
    if (opened_b.ok()) server_b = std::move(*opened_b);
  }

  static MonitorOutcome Out(const std::string& monitor, bool problem, const std::string& run,
                            std::optional<RetrainAction> retrain) {
    MonitorOutcome outcome;
    outcome.monitor = monitor;
    outcome.monitor_version = 1;
    outcome.run_id = run;
    outcome.kind = "drift";
    outcome.problem = problem;
    outcome.summary = problem ? "drifted" : "no drift";
    outcome.retrain = std::move(retrain);  // no sinks: no notifier writes
    return outcome;
  }

  // B's monitor run of `monitor` finds drift (a repeat of A's alert).
  std::function<void()> BRepeats(const std::string& monitor,
                                 std::optional<RetrainAction> retrain) {
    return [this, monitor, retrain] {
      auto got = server_b->OnMonitorRun(Out(monitor, true, "mr-b-" + monitor, retrain));
      EXPECT_TRUE(got.ok()) << monitor << ": " << got.status();
    };
  }

  Alert Open(const std::string& monitor, std::optional<RetrainAction> retrain) {
    auto got = server_a->OnMonitorRun(Out(monitor, true, "mr-a-" + monitor, retrain));
    EXPECT_TRUE(got.ok() && got->has_value()) << monitor << ": " << got.status();
    return got.ok() && got->has_value() ? **got : Alert{};
  }

  Alert Stored(const std::string& id) {
    auto got = server_b->Get(id);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : Alert{};
  }

  // The stored alert kept B's repeat: its occurrence and its timeline entry.
  void ExpectBRepeatKept(const Alert& alert, int occurrences) {
    EXPECT_EQ(alert.occurrences, occurrences) << alert.monitor << ": B's repeat was lost";
    int b_repeats = 0;
    for (const AlertEvent& e : alert.timeline) {
      b_repeats += e.kind == "repeated" && e.attributes.count("monitor_run") &&
                   e.attributes.at("monitor_run") == "mr-b-" + alert.monitor;
    }
    EXPECT_GE(b_repeats, 1) << alert.monitor;
    EXPECT_TRUE(hooked.fired()) << alert.monitor << ": B's monitor run did not happen";
  }

  void Finish(const std::string& run, const std::string& state) {
    server_a->HandleEvent(Event{kEventPipelineRunFinished,
                                {{"pipeline", "retrain"}, {"run_id", run}, {"state", state}}});
  }

  HookedDatabase hooked;
  std::unique_ptr<AlertService> server_a;
  std::unique_ptr<AlertService> server_b;
  int runs = 0;
  std::function<void()> during_a_start;
  absl::Status a_start_result;
};

RetrainAction Retraining(int max_attempts, std::string await_model = "",
                         std::string await_alias = "") {
  return RetrainAction{"retrain", {}, max_attempts, std::move(await_model),
                       std::move(await_alias)};
}

// Every change A makes to an alert keeps a repeat that B (another server on the same
// database) recorded after A read the alert: resolve, acknowledge, auto-resolve,
// verification pending, a run's success or failure (escalation), exhausting, a retraining
// run that cannot be started (unavailable, misconfigured, failing), a model registered or
// promoted (waiting for it, or during the run).
void RaceAlertChanges(storage::Database& a, storage::Database& b, Clock& clock, EventBus& bus) {
  TwoServers s(a, b, clock, bus);
  ASSERT_TRUE(s.server_a && s.server_b);
  const std::optional<RetrainAction> none;

  {  // Resolve by a person.
    Alert alert = s.Open("resolve", none);
    s.hooked.BeforeWrite(1, s.BRepeats("resolve", none));
    auto resolved = s.server_a->Resolve(alert.id, "alice", "fixed");
    ASSERT_TRUE(resolved.ok()) << resolved.status();
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.state, AlertState::kResolved);
    EXPECT_EQ(stored.resolved_by, "alice");
    s.ExpectBRepeatKept(stored, 2);
    EXPECT_EQ(resolved->occurrences, 2) << "Resolve returns the alert as stored";
  }
  {  // A repeat on A while B resolves the alert (after A found it open): a new alert.
    Alert alert = s.Open("repeat-resolved", none);
    s.hooked.BeforeWrite(1, [&] {
      auto resolved = s.server_b->Resolve(alert.id, "bob", "fixed");
      EXPECT_TRUE(resolved.ok()) << resolved.status();
    });
    auto got =
        s.server_a->OnMonitorRun(TwoServers::Out("repeat-resolved", true, "mr-a2", none));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_NE((*got)->id, alert.id);
    EXPECT_EQ((*got)->state, AlertState::kOpen);
    EXPECT_EQ((*got)->first_monitor_run, "mr-a2");
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.state, AlertState::kResolved);
    EXPECT_EQ(stored.resolved_by, "bob");
    EXPECT_EQ(stored.occurrences, 1) << "the repeat is not recorded on the resolved alert";
    EXPECT_TRUE(s.hooked.fired());
  }
  {  // Acknowledge.
    Alert alert = s.Open("acknowledge", none);
    s.hooked.BeforeWrite(1, s.BRepeats("acknowledge", none));
    auto acked = s.server_a->Acknowledge(alert.id, "alice", "looking");
    ASSERT_TRUE(acked.ok()) << acked.status();
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.state, AlertState::kAcknowledged);
    EXPECT_EQ(stored.acknowledged_by, "alice");
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // A monitor run without drift resolves it.
    Alert alert = s.Open("auto-resolve", none);
    s.hooked.BeforeWrite(1, s.BRepeats("auto-resolve", none));
    auto got = s.server_a->OnMonitorRun(TwoServers::Out("auto-resolve", false, "mr-a2", none));
    ASSERT_TRUE(got.ok()) << got.status();
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.state, AlertState::kResolved);
    EXPECT_EQ(stored.resolved_by, "cairn");
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // A monitor run without drift while the retraining runs: verification pending.
    Alert alert = s.Open("pending", Retraining(2));
    ASSERT_EQ(alert.phase, RetrainPhase::kRetraining);
    s.hooked.BeforeWrite(1, s.BRepeats("pending", Retraining(2)));
    auto got =
        s.server_a->OnMonitorRun(TwoServers::Out("pending", false, "mr-a2", Retraining(2)));
    ASSERT_TRUE(got.ok()) << got.status();
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kRetraining);
    EXPECT_EQ(stored.timeline.back().kind, "verification_pending");
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // The retraining run succeeded.
    Alert alert = s.Open("run-succeeded", Retraining(2));
    s.hooked.BeforeWrite(1, s.BRepeats("run-succeeded", Retraining(2)));
    s.Finish(alert.retrain_run, "succeeded");
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kAwaitingVerification);
    s.ExpectBRepeatKept(stored, 2);
  }
  // The retraining run failed: B's repeat before A records the failure (write 1), or before
  // A escalates (write 4: after the failure, its timeline entry and the claim of step 2).
  for (int n : {1, 4}) {
    const std::string monitor = "run-failed-" + std::to_string(n);
    Alert alert = s.Open(monitor, Retraining(2));
    s.hooked.BeforeWrite(n, s.BRepeats(monitor, Retraining(2)));
    s.Finish(alert.retrain_run, "failed");
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.severity, Severity::kCritical) << monitor;
    EXPECT_EQ(stored.attempts, 2) << monitor;
    EXPECT_EQ(stored.retrain_runs.size(), 2u) << monitor;
    EXPECT_EQ(stored.phase, RetrainPhase::kRetraining) << monitor;
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // The last attempt failed: B's repeat before A gives up (write 6: failure, its entry,
     // the claim, the escalation, its entry, then exhausting).
    Alert alert = s.Open("exhaust", Retraining(1));
    s.hooked.BeforeWrite(6, s.BRepeats("exhaust", Retraining(1)));
    s.Finish(alert.retrain_run, "failed");
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kExhausted);
    EXPECT_EQ(stored.timeline.back().kind, "retrain_exhausted");
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // The engine is unavailable while B repeats: not an attempt.
    s.during_a_start = s.BRepeats("unavailable", Retraining(2));
    s.a_start_result = absl::UnavailableError("engine stopping");
    Alert alert = s.Open("unavailable", Retraining(2));
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kNone);
    EXPECT_EQ(stored.attempts, 0);
    EXPECT_EQ(stored.occurrences, 2) << "B's repeat was lost";
  }
  {  // The pipeline is misconfigured: blocked.
    s.during_a_start = s.BRepeats("misconfigured", Retraining(2));
    s.a_start_result = absl::NotFoundError("no pipeline retrain");
    Alert alert = s.Open("misconfigured", Retraining(2));
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kExhausted);
    EXPECT_EQ(stored.attempts, 1);
    EXPECT_EQ(stored.severity, Severity::kCritical);
    EXPECT_EQ(stored.occurrences, 2) << "B's repeat was lost";
  }
  {  // Starting fails (counted): escalated and retried until exhausted.
    s.during_a_start = s.BRepeats("start-fails", Retraining(2));
    s.a_start_result = absl::InternalError("boom");
    Alert alert = s.Open("start-fails", Retraining(2));
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kExhausted);
    EXPECT_EQ(stored.attempts, 2);
    EXPECT_EQ(stored.occurrences, 2) << "B's repeat was lost";
  }
  s.a_start_result = absl::OkStatus();
  {  // A model version registered during the run, then (after its success) awaited.
    const RetrainAction retrain = Retraining(2, "churn-model");
    Alert alert = s.Open("registered", retrain);
    s.hooked.BeforeWrite(1, s.BRepeats("registered", retrain));
    s.server_a->HandleEvent(
        Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "3"}}});
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.registered_version, "3");
    s.ExpectBRepeatKept(stored, 2);

    Alert waiting = s.Open("registered-later", retrain);
    s.Finish(waiting.retrain_run, "succeeded");
    ASSERT_EQ(s.Stored(waiting.id).phase, RetrainPhase::kAwaitingModel);
    s.hooked.BeforeWrite(1, s.BRepeats("registered-later", retrain));
    s.server_a->HandleEvent(
        Event{kEventModelVersionRegistered, {{"model", "churn-model"}, {"version", "4"}}});
    stored = s.Stored(waiting.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kAwaitingVerification);
    s.ExpectBRepeatKept(stored, 2);
  }
  {  // A promotion during the run, then (after its success) awaited.
    const RetrainAction retrain = Retraining(2, "promo-model", "champion");
    const Event moved{kEventModelAliasMoved,
                      {{"model", "promo-model"},
                       {"alias", "champion"},
                       {"to_version", "3"},
                       {"from_version", "2"}}};
    Alert alert = s.Open("promoted", retrain);
    s.hooked.BeforeWrite(1, s.BRepeats("promoted", retrain));
    s.server_a->HandleEvent(moved);
    Alert stored = s.Stored(alert.id);
    EXPECT_EQ(stored.registered_version, "3");
    s.ExpectBRepeatKept(stored, 2);

    Alert waiting = s.Open("promoted-later", retrain);
    s.Finish(waiting.retrain_run, "succeeded");
    ASSERT_EQ(s.Stored(waiting.id).phase, RetrainPhase::kAwaitingModel);
    s.hooked.BeforeWrite(1, s.BRepeats("promoted-later", retrain));
    s.server_a->HandleEvent(moved);
    stored = s.Stored(waiting.id);
    EXPECT_EQ(stored.phase, RetrainPhase::kAwaitingVerification);
    s.ExpectBRepeatKept(stored, 2);
  }
}

// A retraining step that server A claimed but did not record is not lost: when recording
// the started run fails (a database blip), A gives the step back at once and server B's
// next monitor run starts the run; when A cannot give it back either (it died), B is
// blocked until the claim's lease runs out, then takes the step over.
void ClaimedStepsAreNotLost(storage::Database& a, storage::Database& b, FakeClock& clock,
                            EventBus& bus) {
  TwoServers s(a, b, clock, bus);
  ASSERT_TRUE(s.server_a && s.server_b);
  {  // Recording fails: the step is given back.
    s.during_a_start = [&] { s.hooked.FailWrites(1, absl::UnavailableError("database is busy")); };
    auto got = s.server_a->OnMonitorRun(
        TwoServers::Out("record-fails", true, "mr-a-record-fails", Retraining(2)));
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
    auto repeat = s.server_b->OnMonitorRun(
        TwoServers::Out("record-fails", true, "mr-b-record-fails", Retraining(2)));
    ASSERT_TRUE(repeat.ok()) << repeat.status();
    ASSERT_TRUE(repeat->has_value());
    EXPECT_EQ((*repeat)->retrain_run, "run-b2") << "the step A claimed was not given back";
    EXPECT_EQ((*repeat)->attempts, 1);
    EXPECT_EQ((*repeat)->phase, RetrainPhase::kRetraining);
  }
  {  // A dies between claiming and recording: its claim is a lease B takes over.
    s.during_a_start = [&] { s.hooked.FailWrites(2, absl::UnavailableError("server died")); };
    auto got = s.server_a->OnMonitorRun(
        TwoServers::Out("claimer-died", true, "mr-a-claimer-died", Retraining(2)));
    EXPECT_FALSE(got.ok());
    clock.Advance(kRetrainClaimLeaseMs - 1);
    auto blocked = s.server_b->OnMonitorRun(
        TwoServers::Out("claimer-died", true, "mr-b-claimer-died-1", Retraining(2)));
    ASSERT_TRUE(blocked.ok()) << blocked.status();
    ASSERT_TRUE(blocked->has_value());
    EXPECT_EQ((*blocked)->retrain_run, "") << "taken over before the lease ran out";
    EXPECT_EQ((*blocked)->attempts, 0);
    clock.Advance(1);
    auto taken = s.server_b->OnMonitorRun(
        TwoServers::Out("claimer-died", true, "mr-b-claimer-died-2", Retraining(2)));
    ASSERT_TRUE(taken.ok()) << taken.status();
    ASSERT_TRUE(taken->has_value());
    EXPECT_EQ((*taken)->retrain_run, "run-b4") << "the dead server's claim was not taken over";
    EXPECT_EQ((*taken)->attempts, 1);
    EXPECT_EQ((*taken)->phase, RetrainPhase::kRetraining);
  }
}

// Server A's start of a retraining run stalls past the claim's lease: server B takes the
// step over, starts its run and records it. Whatever A's late start then comes to — a run
// (A's record would overwrite B's), an unavailable engine (A would write its step back), an
// error recording its run (A would give back the claim), or a misconfigured pipeline (A
// would escalate, page and mark retraining exhausted) — B's record and claim stand, and A
// adds nothing to the alert's timeline.
void StalledClaimerLeavesTheTakeoverAlone(storage::Database& a, storage::Database& b,
                                          FakeClock& clock, EventBus& bus) {
  TwoServers s(a, b, clock, bus);
  ASSERT_TRUE(s.server_a && s.server_b);
  auto third = AlertStore::Open(b);
  ASSERT_TRUE(third.ok()) << third.status();
  for (const std::string late : {"started", "unavailable", "record-fails", "misconfigured"}) {
    const std::string monitor = "stalled-" + late;
    std::string id;
    std::string b_run;
    s.during_a_start = [&] {
      clock.Advance(kRetrainClaimLeaseMs);
      auto taken = s.server_b->OnMonitorRun(
          TwoServers::Out(monitor, true, "mr-b-" + monitor, Retraining(2)));
      ASSERT_TRUE(taken.ok()) << taken.status();
      ASSERT_TRUE(taken->has_value());
      id = (*taken)->id;
      b_run = (*taken)->retrain_run;
      EXPECT_EQ(b_run, "run-b" + std::to_string(s.runs)) << monitor << ": not taken over";
      if (late == "record-fails") s.hooked.FailWrites(1, absl::UnavailableError("database busy"));
    };
    s.a_start_result = late == "unavailable"     ? absl::UnavailableError("engine stopping")
                       : late == "misconfigured" ? absl::NotFoundError("no pipeline retrain")
                                                 : absl::OkStatus();
    auto got = s.server_a->OnMonitorRun(
        TwoServers::Out(monitor, true, "mr-a-" + monitor, Retraining(2)));
    (void)got;  // A's outcome is logged; what matters is what is stored
    ASSERT_FALSE(id.empty()) << monitor;
    Alert stored = s.Stored(id);
    EXPECT_EQ(stored.retrain_run, b_run) << monitor;
    EXPECT_EQ(stored.retrain_runs, std::vector<std::string>{b_run}) << monitor;
    EXPECT_EQ(stored.attempts, 1) << monitor;
    EXPECT_EQ(stored.phase, RetrainPhase::kRetraining) << monitor;
    EXPECT_EQ(stored.severity, Severity::kWarning) << monitor << ": A escalated";
    for (const AlertEvent& event : stored.timeline) {
      EXPECT_NE(event.kind, "retrain_start_failed") << monitor << ": A's event was added";
      EXPECT_NE(event.kind, "escalated") << monitor << ": A escalated";
      EXPECT_NE(event.kind, "retrain_exhausted") << monitor << ": A paged";
    }
    EXPECT_FALSE(*(*third)->ClaimRetrainStep(id, 1, clock.NowMillis()))
        << monitor << ": B's claim was given back by A";
  }
}

TEST_F(AlertServiceTest, StalledClaimerDoesNotUndoTheServerThatTookItsStepOver) {
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  StalledClaimerLeavesTheTakeoverAlone(*db_, **other_db, clock_, *bus_);

  auto pg = FreshPostgresPair();
  if (pg.empty()) return;  // the PostgreSQL case needs CAIRN_TEST_POSTGRES_URL
  StalledClaimerLeavesTheTakeoverAlone(*pg[0], *pg[1], clock_, *bus_);
}

// Blocking a misconfigured retraining writes an event, an escalation and the phase; when a
// write in between fails (a database blip), the alert is not left exhausted with nobody
// paged: the step is given back and the next monitor run escalates and pages.
TEST_F(AlertServiceTest, ABlipWhileBlockingAMisconfiguredRetrainingLeavesItToTheNextRun) {
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  TwoServers s(*db_, **other_db, clock_, *bus_);
  ASSERT_TRUE(s.server_a && s.server_b);
  s.a_start_result = absl::NotFoundError("no pipeline retrain");
  s.during_a_start = [&] {
    // Writes after the start: the claim check, the event, then the escalation, which fails.
    s.hooked.BeforeWrite(2, [&] { s.hooked.FailWrites(1, absl::UnavailableError("busy")); });
  };
  auto got = s.server_a->OnMonitorRun(TwoServers::Out("blip", true, "mr-a-1", Retraining(2)));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  auto again = s.server_a->OnMonitorRun(TwoServers::Out("blip", true, "mr-a-2", Retraining(2)));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  Alert stored = s.Stored((*again)->id);
  EXPECT_EQ(stored.phase, RetrainPhase::kExhausted);
  EXPECT_EQ(stored.severity, Severity::kCritical);
  EXPECT_EQ(stored.attempts, 1);
  std::vector<std::string> kinds = Kinds(stored);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "retrain_exhausted"), 1) << kinds.size();
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "escalated"), 1) << kinds.size();
}

TEST_F(AlertServiceTest, ClaimedRetrainStepIsGivenBackOrTakenOverWhenNotRecorded) {
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  ClaimedStepsAreNotLost(*db_, **other_db, clock_, *bus_);

  auto pg = FreshPostgresPair();
  if (pg.empty()) return;  // the PostgreSQL case needs CAIRN_TEST_POSTGRES_URL
  ClaimedStepsAreNotLost(*pg[0], *pg[1], clock_, *bus_);
}

TEST_F(AlertServiceTest, TwoServicesOnOneDatabaseKeepEachOthersChanges) {
  service_.reset();
  auto other_db = storage::OpenDatabase((dir_ / "alerts.db").string());
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  RaceAlertChanges(*db_, **other_db, clock_, *bus_);

  auto pg = FreshPostgresPair();
  if (pg.empty()) return;  // the PostgreSQL case needs CAIRN_TEST_POSTGRES_URL
  RaceAlertChanges(*pg[0], *pg[1], clock_, *bus_);
}

}  // namespace
}  // namespace cairn::monitoring
