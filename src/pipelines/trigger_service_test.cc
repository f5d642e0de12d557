// TriggerService: matching of `on` and `match`, templated params, the run's trigger and
// detail, debounce while the previous run is active, the self-loop guard, failures, the
// pipeline cache and the firing history. Events go through a real EventBus; the list,
// start and run-state callbacks are fakes.

#include "pipelines/trigger_service.h"

#include "absl/synchronization/mutex.h"
#include "common/event_types.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::pipelines {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class FakeServer {
 public:
  void Add(const std::string& pipeline, TriggerSpec trigger) {
    absl::MutexLock lock(&mu_);
    PipelineSpec& spec = pipelines_[pipeline];
    spec.name = pipeline;
    spec.triggers.push_back(std::move(trigger));
  }
  void FailStarts(absl::Status status) {
    absl::MutexLock lock(&mu_);
    start_error_ = std::move(status);
  }
  void SetActive(const std::string& run_id, bool active) {
    absl::MutexLock lock(&mu_);
    active_[run_id] = active;
  }

  ListPipelinesFn List() {
    return [this]() -> absl::StatusOr<std::vector<PipelineSpec>> {
      absl::MutexLock lock(&mu_);
      ++lists_;
      std::vector<PipelineSpec> specs;
      for (const auto& [name, spec] : pipelines_) specs.push_back(spec);
      return specs;
    };
  }
  StartRunFn Start() {
    return [this](const StartRunRequest& request) -> absl::StatusOr<std::string> {
      absl::MutexLock lock(&mu_);
      if (!start_error_.ok()) return start_error_;
      requests_.push_back(request);
      std::string id = "run-" + std::to_string(requests_.size());
      active_[id] = true;
      return id;
    };
  }
  RunActiveFn RunActive() {
    return [this](const std::string& run_id) -> absl::StatusOr<bool> {
      absl::MutexLock lock(&mu_);
      auto it = active_.find(run_id);
      if (it == active_.end()) return absl::NotFoundError("run " + run_id + " not found");
      return it->second;
    };
  }
  std::vector<StartRunRequest> Requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // "pipeline:trigger" per started run.
  std::vector<std::string> Started() {
    std::vector<std::string> out;
    for (const auto& request : Requests()) out.push_back(request.pipeline + ":" + request.trigger);
    return out;
  }
  int lists() {
    absl::MutexLock lock(&mu_);
    return lists_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, PipelineSpec> pipelines_ ABSL_GUARDED_BY(mu_);
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
  std::vector<StartRunRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> active_ ABSL_GUARDED_BY(mu_);
  int lists_ ABSL_GUARDED_BY(mu_) = 0;
};

Event MakeEvent(std::string type, std::map<std::string, std::string> attributes,
                int64_t time_ms = 1'700'000'000'000) {
  return Event{std::move(type), std::move(attributes), time_ms};
}

class TriggerServiceTest : public ::testing::Test {
 protected:
  void Create(bool with_run_active = true, TriggerOptions options = {}) {
    service_ = std::make_unique<TriggerService>(
        bus_, clock_, server_.List(), server_.Start(),
        with_run_active ? server_.RunActive() : RunActiveFn(), options);
  }
  void Publish(Event event) {
    bus_.Publish(std::move(event));
    bus_.Drain();
  }

  FakeClock clock_;
  EventBus bus_{clock_};
  FakeServer server_;
  std::unique_ptr<TriggerService> service_;
};

TEST_F(TriggerServiceTest, MatchingTriggerStartsARunWithTemplatedParamsAndTheEventAsDetail) {
  server_.Add("retrain", {kEventAlert,
                          {{"monitor", "churn-drift"}},
                          {{"reason", "drift-{{ event.severity }}"}, {"fixed", "x"}}});
  Create();
  Publish(MakeEvent(kEventAlert, {{"monitor", "churn-drift"}, {"severity", "critical"}}));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].pipeline, "retrain");
  EXPECT_FALSE(requests[0].version.has_value());
  EXPECT_EQ(requests[0].trigger, "event:alert");
  EXPECT_EQ(requests[0].trigger_detail,
            R"({"attributes":{"monitor":"churn-drift","severity":"critical"},)"
            R"("time_ms":1700000000000,"type":"alert"})");
  EXPECT_THAT(requests[0].params,
              UnorderedElementsAre(Pair("reason", "drift-critical"), Pair("fixed", "x")));
  auto firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 1u);
  EXPECT_EQ(firings[0].outcome, "started");
  EXPECT_EQ(firings[0].run_id, "run-1");
  EXPECT_EQ(firings[0].trigger, 0);
  EXPECT_EQ(firings[0].event_type, "alert");
  EXPECT_EQ(firings[0].event_json, requests[0].trigger_detail);
}

TEST_F(TriggerServiceTest, EveryMatchAttributeMustEqualTheEvents) {
  server_.Add("retrain", {kEventAlert, {{"monitor", "churn-drift"}, {"severity", "critical"}}, {}});
  server_.Add("any-ingest", {kEventSourceIngested, {}, {}});
  server_.Add("events-ingest", {kEventSourceIngested, {{"source", "events"}}, {}});
  Create();
  Publish(MakeEvent(kEventAlert, {{"monitor", "churn-drift"}, {"severity", "warning"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "churn-drift"}}));  // severity missing
  Publish(MakeEvent(kEventAlert, {{"monitor", "other"}, {"severity", "critical"}}));
  Publish(MakeEvent(kEventModelVersionRegistered, {{"monitor", "churn-drift"}}));
  EXPECT_THAT(server_.Started(), IsEmpty());
  Publish(MakeEvent(kEventSourceIngested, {{"source", "users"}, {"rows", "10"}}));
  Publish(MakeEvent(kEventAlert,
                    {{"monitor", "churn-drift"}, {"severity", "critical"}, {"value", "0.4"}}));
  Publish(MakeEvent(kEventSourceIngested, {{"source", "events"}, {"rows", "5"}}));
  EXPECT_THAT(server_.Started(),
              ElementsAre("any-ingest:event:source_ingested", "retrain:event:alert",
                          "events-ingest:event:source_ingested"));
}

TEST_F(TriggerServiceTest, TriggerDoesNotStartASecondRunWhileItsRunIsActive) {
  server_.Add("retrain", {kEventAlert, {{"monitor", "churn-drift"}}, {}});
  Create();
  const Event alert = MakeEvent(kEventAlert, {{"monitor", "churn-drift"}});
  Publish(alert);
  Publish(alert);  // run-1 still running: skipped
  Publish(alert);
  EXPECT_EQ(server_.Requests().size(), 1u);
  auto firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 3u);
  EXPECT_EQ(firings[0].outcome, "skipped");
  EXPECT_EQ(firings[0].run_id, "run-1");
  EXPECT_EQ(firings[0].message, "run run-1 started by this trigger is still queued or running");
  EXPECT_EQ(firings[2].outcome, "started");
  server_.SetActive("run-1", false);  // finished (no event needed: run_active says so)
  Publish(alert);
  EXPECT_EQ(server_.Requests().size(), 2u);
  EXPECT_EQ(service_->RecentFirings("retrain")[0].run_id, "run-2");
}

TEST_F(TriggerServiceTest, WithoutRunStateTheRunFinishedEventEndsTheDebounce) {
  server_.Add("retrain", {kEventAlert, {}, {}});
  Create(/*with_run_active=*/false);
  Publish(MakeEvent(kEventAlert, {{"monitor", "m"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "m"}}));
  EXPECT_EQ(server_.Requests().size(), 1u);
  // A non-terminal state change of the run does not end it.
  Publish(MakeEvent(kEventPipelineRunFinished,
                    {{"pipeline", "retrain"}, {"run_id", "run-1"}, {"state", "running"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "m"}}));
  EXPECT_EQ(server_.Requests().size(), 1u);
  Publish(MakeEvent(kEventPipelineRunFinished,
                    {{"pipeline", "retrain"}, {"run_id", "run-1"}, {"state", "succeeded"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "m"}}));
  EXPECT_EQ(server_.Requests().size(), 2u);
}

TEST_F(TriggerServiceTest, DifferentTriggersOfAPipelineAreDebouncedSeparately) {
  server_.Add("retrain", {kEventAlert, {{"monitor", "a"}}, {}});
  server_.Add("retrain", {kEventAlert, {{"monitor", "b"}}, {}});
  Create();
  Publish(MakeEvent(kEventAlert, {{"monitor", "a"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "b"}}));
  Publish(MakeEvent(kEventAlert, {{"monitor", "a"}}));
  EXPECT_EQ(server_.Requests().size(), 2u);
  auto firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 3u);
  EXPECT_EQ(firings[0].trigger, 0);
  EXPECT_EQ(firings[0].outcome, "skipped");
  EXPECT_EQ(firings[1].trigger, 1);
  EXPECT_EQ(firings[1].outcome, "started");
}

TEST_F(TriggerServiceTest, RunFinishedChainsPipelinesButNeverTriggersItsOwnPipeline) {
  server_.Add("train", {kEventPipelineRunFinished, {{"state", "succeeded"}}, {}});
  server_.Add("deploy", {kEventPipelineRunFinished,
                         {{"pipeline", "train"}, {"state", "succeeded"}},
                         {{"train_run", "{{event.run_id}}"}}});
  Create();
  Publish(MakeEvent(kEventPipelineRunFinished,
                    {{"pipeline", "train"}, {"run_id", "r0"}, {"state", "succeeded"}}));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].pipeline, "deploy");
  EXPECT_EQ(requests[0].trigger, "event:pipeline_run_finished");
  EXPECT_THAT(requests[0].params, ElementsAre(Pair("train_run", "r0")));
  auto firings = service_->RecentFirings("train");
  ASSERT_EQ(firings.size(), 1u);
  EXPECT_EQ(firings[0].outcome, "skipped");
  EXPECT_EQ(firings[0].message,
            "a run of the pipeline itself finished; a trigger never starts its own pipeline from "
            "its own runs (it would loop)");
}

TEST_F(TriggerServiceTest, TemplateAndStartFailuresAreRecordedAndNotDebounced) {
  server_.Add("retrain", {kEventAlert, {}, {{"reason", "{{event.severity}}"}}});
  Create();
  Publish(MakeEvent(kEventAlert, {{"monitor", "m"}}));
  EXPECT_THAT(server_.Requests(), IsEmpty());
  auto firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 1u);
  EXPECT_EQ(firings[0].outcome, "failed");
  EXPECT_EQ(firings[0].message,
            "param 'reason': template '{{event.severity}}': the alert event has no attribute "
            "'severity' (it has: monitor)");

  server_.FailStarts(absl::InvalidArgumentError("param 'reason': expected an int, got 'high'"));
  Publish(MakeEvent(kEventAlert, {{"severity", "high"}}));
  firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 2u);
  EXPECT_EQ(firings[0].outcome, "failed");
  EXPECT_EQ(firings[0].message,
            "the run could not start: param 'reason': expected an int, got 'high'");
  server_.FailStarts(absl::OkStatus());
  Publish(MakeEvent(kEventAlert, {{"severity", "high"}}));
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(TriggerServiceTest, PipelinesAreCachedUntilRefreshOrExpiry) {
  TriggerOptions options;
  options.spec_cache_ms = 1'000;
  Create(true, options);
  Publish(MakeEvent(kEventAlert, {}));
  server_.Add("retrain", {kEventAlert, {}, {}});
  Publish(MakeEvent(kEventAlert, {}));  // cached list: not seen yet
  EXPECT_THAT(server_.Requests(), IsEmpty());
  EXPECT_EQ(server_.lists(), 1);
  service_->Refresh();  // after an apply
  Publish(MakeEvent(kEventAlert, {}));
  EXPECT_EQ(server_.Requests().size(), 1u);
  EXPECT_EQ(server_.lists(), 2);
  clock_.Advance(1'000);
  Publish(MakeEvent(kEventAlert, {}));
  EXPECT_EQ(server_.lists(), 3);
}

TEST_F(TriggerServiceTest, FiringHistoryIsNewestFirstAndBounded) {
  TriggerOptions options;
  options.firings_kept = 3;
  server_.Add("retrain", {kEventAlert, {}, {}});
  Create(true, options);
  for (int i = 0; i < 5; ++i) Publish(MakeEvent(kEventAlert, {{"n", std::to_string(i)}}));
  auto firings = service_->RecentFirings("retrain");
  ASSERT_EQ(firings.size(), 3u);
  EXPECT_NE(firings[0].event_json.find(R"("n":"4")"), std::string::npos);
  EXPECT_NE(firings[2].event_json.find(R"("n":"2")"), std::string::npos);
  EXPECT_THAT(service_->RecentFirings("unknown"), IsEmpty());
}

TEST_F(TriggerServiceTest, DestroyedServiceNoLongerReceivesEvents) {
  server_.Add("retrain", {kEventAlert, {}, {}});
  Create();
  service_.reset();
  Publish(MakeEvent(kEventAlert, {}));
  EXPECT_THAT(server_.Requests(), IsEmpty());
}

TEST(ExpandEventTemplates, ReplacesEventAttributesAndNamesBadTemplates) {
  Event event = MakeEvent(kEventModelVersionRegistered, {{"model", "churn"}, {"version", "7"}});
  EXPECT_EQ(ExpandEventTemplates("{{event.model}}-v{{ event.version }}", event).value(),
            "churn-v7");
  EXPECT_EQ(ExpandEventTemplates("plain", event).value(), "plain");
  EXPECT_EQ(ExpandEventTemplates("", event).value(), "");
  EXPECT_EQ(ExpandEventTemplates("open {{ only", event).value(), "open {{ only");
  auto unknown = ExpandEventTemplates("{{event.stage}}", event);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(),
            "template '{{event.stage}}': the model_version_registered event has no attribute "
            "'stage' (it has: model, version)");
  auto other = ExpandEventTemplates("{{params.x}}", event);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(),
            "template '{{params.x}}' is not allowed in trigger params; use {{event.ATTRIBUTE}}");
}

}  // namespace
}  // namespace cairn::pipelines
