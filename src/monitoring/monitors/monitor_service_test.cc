#include "monitoring/monitors/monitor_service.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/timestamp.h"
#include "monitoring/monitors/monitor_registry.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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

// Catch-up after downtime (SQLite file, and PostgreSQL when CAIRN_TEST_POSTGRES_URL names a
// server): the service is closed ("down") across fire times and opened again on the same
// database, as a restarted server would be.
std::string CatchupBackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-monitor-schedules-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

int64_t T(std::string_view text) {
  auto ms = ParseTimestamp(text);
  EXPECT_TRUE(ms.has_value()) << text;
  return ms.value_or(0);
}

class MonitorCatchupTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    url_ = CatchupBackendUrl(GetParam());
    Reopen();
    // PostgreSQL is shared between the tests of this binary: start from empty tables.
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript("DELETE FROM monitor_schedules;"
                                            "DELETE FROM monitor_runs");
                   }).ok());
    service_.reset();
    Reopen();
  }

  void TearDown() override { service_.reset(); }

  // A new database connection and service: what a server restart sees.
  void Reopen(MonitorServiceOptions options = {}) {
    service_.reset();
    db_.reset();
    auto db = storage::OpenDatabase(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    MonitorIo io;
    io.read_view = [](const ViewReadRequest&) -> absl::StatusOr<DataFrame> { return Frame(); };
    io.read_csv = [](const std::string&, const std::vector<std::string>&)
        -> absl::StatusOr<DataFrame> { return Frame(); };
    io.on_outcome = [this](const MonitorOutcome& outcome) {
      absl::MutexLock lock(&mu_);
      if (run_order_.empty() || run_order_.back() != outcome.run_id) {
        run_order_.push_back(outcome.run_id);
      }
    };
    auto service = MonitorService::Open(*db_, clock_, nullptr, io, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  // Applies exactly these monitors (others from earlier tests are pruned).
  void ApplyOnly(std::vector<MonitorSpec> specs) {
    auto applied = service_->Apply(specs, false, /*prune=*/true);
    ASSERT_TRUE(applied.ok()) << applied.status();
  }

  void TickAt(std::string_view when) {
    clock_.Set(T(when));
    absl::Status status = service_->Tick(clock_.NowMillis());
    EXPECT_TRUE(status.ok()) << status;
  }

  // The scheduled runs' fire times in the order they ran (the FakeClock stands still, so
  // the order comes from the outcome callback, not from the runs' start times).
  std::vector<std::string> Fired(const std::string& monitor) {
    std::map<std::string, std::string> detail_of;
    auto runs = service_->runner().ListRuns(monitor);
    EXPECT_TRUE(runs.ok()) << runs.status();
    if (runs.ok()) {
      for (const MonitorRun& run : *runs) {
        if (run.trigger == "schedule") detail_of[run.id] = run.trigger_detail;
      }
    }
    std::vector<std::string> out;
    absl::MutexLock lock(&mu_);
    for (const std::string& id : run_order_) {
      if (auto it = detail_of.find(id); it != detail_of.end()) out.push_back(it->second);
    }
    EXPECT_EQ(out.size(), detail_of.size()) << "every run reached the outcome callback";
    return out;
  }

  std::string url_;
  absl::Mutex mu_;
  std::vector<std::string> run_order_ ABSL_GUARDED_BY(mu_);  // run ids, as the runs ended
  FakeClock clock_{T("2024-01-01T00:07:00Z")};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<MonitorService> service_;
};

TEST_P(MonitorCatchupTest, LatestRunsTheMostRecentMissedFireTimeAfterARestart) {
  ApplyOnly({Spec("latest-m", "spend", "schedule: {cron: \"*/15 * * * *\"}\n")});
  TickAt("2024-01-01T00:07:00Z");  // first seen: nothing owed from before
  TickAt("2024-01-01T00:15:00Z");
  EXPECT_THAT(Fired("latest-m"), ElementsAre("2024-01-01T00:15:00.000Z"));

  // Down across 00:30 and 00:45; up again at 00:50.
  service_.reset();
  clock_.Set(T("2024-01-01T00:50:00Z"));
  Reopen();
  auto state = service_->ScheduleState("latest-m");  // nothing read before the first tick
  EXPECT_FALSE(state.has_value());
  TickAt("2024-01-01T00:50:00Z");
  EXPECT_THAT(Fired("latest-m"),
              ElementsAre("2024-01-01T00:15:00.000Z", "2024-01-01T00:45:00.000Z"));
  state = service_->ScheduleState("latest-m");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->catchup, pipelines::Catchup::kLatest);
  EXPECT_EQ(state->handled_until_ms, T("2024-01-01T00:45:00Z"));
  EXPECT_EQ(state->last_fire_ms, T("2024-01-01T00:45:00Z"));
  EXPECT_EQ(state->next_fire_ms, T("2024-01-01T01:00:00Z"));

  // Another restart before the next fire time repeats nothing.
  Reopen();
  TickAt("2024-01-01T00:55:00Z");
  EXPECT_EQ(Fired("latest-m").size(), 2u);
}

TEST_P(MonitorCatchupTest, AllRunsEveryMissedFireTimeOldestFirst) {
  ApplyOnly({Spec("all-m", "spend", "schedule: {cron: \"*/15 * * * *\", catchup: all}\n")});
  TickAt("2024-01-01T00:07:00Z");
  service_.reset();  // down across 00:15 and 00:30
  clock_.Set(T("2024-01-01T00:40:00Z"));
  Reopen();
  TickAt("2024-01-01T00:40:00Z");
  EXPECT_THAT(Fired("all-m"),
              ElementsAre("2024-01-01T00:15:00.000Z", "2024-01-01T00:30:00.000Z"));
  auto state = service_->ScheduleState("all-m");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->catchup, pipelines::Catchup::kAll);
  EXPECT_EQ(state->handled_until_ms, T("2024-01-01T00:30:00Z"));
  EXPECT_EQ(state->next_fire_ms, T("2024-01-01T00:45:00Z"));
  TickAt("2024-01-01T00:44:00Z");
  EXPECT_EQ(Fired("all-m").size(), 2u);
}

TEST_P(MonitorCatchupTest, AllIsCappedAtMaxCatchupRunsKeepingTheLatest) {
  ApplyOnly({Spec("capped", "spend", "schedule: {cron: \"*/15 * * * *\", catchup: all}\n")});
  TickAt("2024-01-01T00:07:00Z");
  clock_.Set(T("2024-01-01T01:10:00Z"));  // missed 00:15, 00:30, 00:45, 01:00
  Reopen({.max_catchup_runs = 2});
  TickAt("2024-01-01T01:10:00Z");
  EXPECT_THAT(Fired("capped"),
              ElementsAre("2024-01-01T00:45:00.000Z", "2024-01-01T01:00:00.000Z"));
}

TEST_P(MonitorCatchupTest, NoneSkipsMissedFireTimesButRunsOneThatIsOnTime) {
  ApplyOnly({Spec("none-m", "spend", "schedule: {cron: \"*/15 * * * *\", catchup: none}\n")});
  TickAt("2024-01-01T00:07:00Z");
  service_.reset();  // down across 00:15 and 00:30
  clock_.Set(T("2024-01-01T00:40:00Z"));
  Reopen();
  TickAt("2024-01-01T00:40:00Z");
  EXPECT_THAT(Fired("none-m"), IsEmpty());
  auto state = service_->ScheduleState("none-m");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->handled_until_ms, T("2024-01-01T00:30:00Z"));  // skipped, not owed
  // Down again just across 00:45, up within the grace (60 s): that one still runs.
  service_.reset();
  clock_.Set(T("2024-01-01T00:45:30Z"));
  Reopen();
  TickAt("2024-01-01T00:45:30Z");
  EXPECT_THAT(Fired("none-m"), ElementsAre("2024-01-01T00:45:00.000Z"));
  // Up all along but late (other monitors' runs held the thread past 01:00 + the grace):
  // not missed while down, so the latest still runs.
  TickAt("2024-01-01T01:03:00Z");
  EXPECT_THAT(Fired("none-m"), ElementsAre("2024-01-01T00:45:00.000Z", "2024-01-01T01:00:00.000Z"));
}

TEST_P(MonitorCatchupTest, AChangedCronStartsFromNowAndARemovedScheduleIsForgotten) {
  ApplyOnly({Spec("changed", "spend", "schedule: {cron: \"*/15 * * * *\", catchup: all}\n")});
  TickAt("2024-01-01T00:07:00Z");
  service_.reset();
  clock_.Set(T("2024-01-01T00:40:00Z"));
  Reopen();
  // Changed while the old fire times were missed: the new cron owes nothing before now.
  ApplyOnly({Spec("changed", "spend", "schedule: {cron: \"*/10 * * * *\", catchup: all}\n")});
  TickAt("2024-01-01T00:40:00Z");
  EXPECT_THAT(Fired("changed"), IsEmpty());
  TickAt("2024-01-01T00:50:00Z");
  EXPECT_THAT(Fired("changed"), ElementsAre("2024-01-01T00:50:00.000Z"));

  // No schedule any more: its stored state goes; scheduled again later, it starts afresh.
  ApplyOnly({Spec("changed", "spend", "")});
  TickAt("2024-01-01T00:55:00Z");
  EXPECT_FALSE(service_->ScheduleState("changed").has_value());
  int64_t rows = -1;
  ASSERT_TRUE(db_->Read([&rows](storage::SqlSession& s) {
                   return s.QueryEach("SELECT COUNT(*) FROM monitor_schedules", {},
                                      [&rows](const storage::SqlRowView& row) {
                                        rows = row.Int(0);
                                        return absl::OkStatus();
                                      });
                 }).ok());
  EXPECT_EQ(rows, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, MonitorCatchupTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(MonitorCatchupSpecTest, CatchupIsParsedAndOnlyANonDefaultOneChangesTheContent) {
  MonitorSpec plain = Spec("m", "spend", "schedule: {cron: \"0 * * * *\"}\n");
  EXPECT_EQ(plain.catchup, pipelines::Catchup::kLatest);
  // A monitor written before catch-up existed keeps its canonical JSON (and content hash).
  EXPECT_FALSE(MonitorSpecToJson(plain)["schedule"].contains("catchup"));
  MonitorSpec explicit_latest =
      Spec("m", "spend", "schedule: {cron: \"0 * * * *\", catchup: latest}\n");
  EXPECT_EQ(MonitorSpecToJson(explicit_latest), MonitorSpecToJson(plain));

  MonitorSpec all = Spec("m", "spend", "schedule: {cron: \"0 * * * *\", catchup: all}\n");
  EXPECT_EQ(all.catchup, pipelines::Catchup::kAll);
  Json json = MonitorSpecToJson(all);
  EXPECT_EQ(json["schedule"]["catchup"], "all");
  auto back = MonitorSpecFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->catchup, pipelines::Catchup::kAll);

  auto bad = ParseMonitorsYaml(
      "kind: Monitor\nname: m\ntarget: {feature_view: v}\nreference: {path: r.csv}\n"
      "schedule: {cron: \"0 * * * *\", catchup: lastest}\n",
      "m.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("schedule.catchup"));
  EXPECT_THAT(bad.status().message(), HasSubstr("use none, latest or all"));
  EXPECT_THAT(bad.status().message(), HasSubstr("latest"));
}

}  // namespace
}  // namespace cairn::monitoring
