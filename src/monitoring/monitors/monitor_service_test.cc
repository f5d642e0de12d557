#include "monitoring/monitors/monitor_service.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "storage/database.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DataFrame Frame() {
  DataFrame frame;
  frame.rows = 50;
  FrameColumn x{.name = "x"};
  for (int i = 0; i < 50; ++i) x.numbers.push_back(i);
  frame.columns = {x};
  return frame;
}

MonitorSpec Spec(const std::string& name, const std::string& view, const std::string& extra) {
  auto parsed = ParseMonitorsYaml(absl::StrCat("kind: Monitor\nname: ", name,
                                               "\ntarget: {feature_view: ", view,
                                               "}\nreference: {path: r.csv}\n", extra),
                                  "m.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? (*parsed)[0] : MonitorSpec();
}

class MonitorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    bus_ = std::make_unique<EventBus>(clock_);
    MonitorIo io;
    io.read_view = [](const ViewReadRequest&) -> absl::StatusOr<DataFrame> { return Frame(); };
    io.read_csv = [](const std::string&, const std::vector<std::string>&)
        -> absl::StatusOr<DataFrame> { return Frame(); };
    io.source_of_view = [](const std::string& view) -> absl::StatusOr<std::string> {
      if (view == "spend") return std::string("transactions");
      if (view == "logins_view") return std::string("logins");
      return absl::NotFoundError(absl::StrCat("FeatureView '", view, "' is not registered"));
    };
    io.on_outcome = [this](const MonitorOutcome& outcome) {
      absl::MutexLock lock(&mu_);
      outcomes_.push_back(outcome);
    };
    auto service = MonitorService::Open(*db_, clock_, bus_.get(), io);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  void TearDown() override {
    if (service_) service_->Shutdown();
    if (bus_) bus_->Shutdown();
  }

  std::vector<std::string> RunTriggers(const std::string& monitor) {
    std::vector<std::string> out;
    auto runs = service_->runner().ListRuns(monitor);
    EXPECT_TRUE(runs.ok());
    for (const MonitorRun& run : *runs) out.push_back(run.trigger + ":" + run.trigger_detail);
    return out;
  }

  // 2023-11-14T22:13:20Z; the next */15 fire is 22:15.
  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<MonitorService> service_;
  absl::Mutex mu_;
  std::vector<MonitorOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
};

TEST_F(MonitorServiceTest, CronScheduleRunsAtEachFireTime) {
  ASSERT_TRUE(service_->Apply({Spec("hourly", "spend", "schedule: {cron: \"*/15 * * * *\"}\n")},
                              false, false)
                  .ok());
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  EXPECT_TRUE(RunTriggers("hourly").empty());
  auto state = service_->ScheduleState("hourly");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->cron, "*/15 * * * *");
  EXPECT_EQ(state->next_fire_ms, 1'700'000'100'000);  // 22:15:00

  clock_.Set(1'700'000'100'000);
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  EXPECT_THAT(RunTriggers("hourly"), ElementsAre("schedule:2023-11-14T22:15:00.000Z"));
  state = service_->ScheduleState("hourly");
  EXPECT_EQ(state->last_fire_ms, 1'700'000'100'000);
  EXPECT_EQ(state->next_fire_ms, 1'700'001'000'000);  // 22:30:00
  EXPECT_FALSE(state->last_run_id.empty());
  EXPECT_EQ(state->last_error, "");

  // A tick before the next fire time runs nothing; a late one runs once, for the latest.
  ASSERT_TRUE(service_->Tick(clock_.NowMillis() + 60'000).ok());
  EXPECT_EQ(RunTriggers("hourly").size(), 1u);
  clock_.Set(1'700'001'000'000 + 20 * 60'000);  // 22:50, past 22:30 and 22:45
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  EXPECT_THAT(RunTriggers("hourly"), ElementsAre("schedule:2023-11-14T22:45:00.000Z",
                                                 "schedule:2023-11-14T22:15:00.000Z"));
}

TEST_F(MonitorServiceTest, NewRowsOfTheViewsSourceTriggerItsMonitors) {
  ASSERT_TRUE(service_
                  ->Apply({Spec("on-spend", "spend", "trigger: {on: source_ingested}\n"),
                           Spec("on-logins", "logins_view", "trigger: {on: source_ingested}\n"),
                           Spec("quiet", "spend", "")},
                          false, false)
                  .ok());
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  bus_->Publish(Event{.type = kEventSourceIngested,
                      .attributes = {{"source", "transactions"}, {"rows", "10"}}});
  bus_->Publish(Event{.type = kEventSourceIngested,
                      .attributes = {{"source", "transactions"}, {"rows", "5"}}});
  bus_->Drain();
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  // Two events for one source before a tick: one run.
  EXPECT_THAT(RunTriggers("on-spend"), ElementsAre("source_ingested:transactions"));
  EXPECT_TRUE(RunTriggers("on-logins").empty());
  EXPECT_TRUE(RunTriggers("quiet").empty());
  absl::MutexLock lock(&mu_);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].monitor, "on-spend");
}

TEST_F(MonitorServiceTest, RunNowRunsTheLatestVersion) {
  ASSERT_TRUE(service_->Apply({Spec("m", "spend", "")}, false, false).ok());
  ASSERT_TRUE(service_->Apply({Spec("m", "spend", "drift_share: 0.9\n")}, false, false).ok());
  auto run = service_->RunNow("m");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->monitor_version, 2);
  EXPECT_EQ(run->trigger, "manual");
  EXPECT_EQ(run->state, "succeeded");
  EXPECT_EQ(run->result["drift"]["share_threshold"], 0.9);

  auto unknown = service_->RunNow("nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(service_->Apply({}, false, /*prune=*/true).ok());
  auto removed = service_->RunNow("m");
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(removed.status().message(), HasSubstr("monitor 'm' was removed"));
}

TEST_F(MonitorServiceTest, BackgroundThreadRunsTriggeredMonitors) {
  ASSERT_TRUE(
      service_->Apply({Spec("on-spend", "spend", "trigger: {on: source_ingested}\n")}, false, false)
          .ok());
  service_->Start();
  bus_->Publish(Event{.type = kEventSourceIngested, .attributes = {{"source", "transactions"}}});
  // Wait on the condition (the run reaching the alert callback), with a generous deadline.
  absl::MutexLock lock(&mu_);
  bool (*arrived)(std::vector<MonitorOutcome>*) = [](std::vector<MonitorOutcome>* outcomes) {
    return !outcomes->empty();
  };
  EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(arrived, &outcomes_), absl::Seconds(60)));
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].monitor, "on-spend");
}

}  // namespace
}  // namespace cairn::monitoring
