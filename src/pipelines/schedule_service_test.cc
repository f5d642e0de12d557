// ScheduleService against SQLite (always) and PostgreSQL (when CAIRN_TEST_POSTGRES_URL names
// a server): fire times, catch-up policies after downtime, restarts that neither miss nor
// repeat, start failures, schedule changes, and the background thread's wake-ups. Driven by
// a FakeClock and Tick; the list and start callbacks are fakes.

#include "pipelines/schedule_service.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/timestamp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::pipelines {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

int64_t T(std::string_view text) {
  auto ms = ParseTimestamp(text);
  EXPECT_TRUE(ms.has_value()) << text;
  return ms.value_or(0);
}

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-schedules-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

// The pipelines the list callback returns and the runs the start callback records.
class FakeServer {
 public:
  void SetSchedule(const std::string& name, const std::string& cron,
                   Catchup catchup = Catchup::kLatest) {
    absl::MutexLock lock(&mu_);
    PipelineSpec& spec = pipelines_[name];
    spec.name = name;
    spec.schedule.cron = cron;
    spec.schedule.catchup = catchup;
  }
  void Remove(const std::string& name) {
    absl::MutexLock lock(&mu_);
    pipelines_.erase(name);
  }
  void FailList(absl::Status status) {
    absl::MutexLock lock(&mu_);
    list_error_ = std::move(status);
  }
  // The start calls numbered `call` (1-based, counting every call) and later fail so.
  void FailStartsFrom(int call, absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_from_call_ = call;
    start_error_ = std::move(status);
  }

  ListPipelinesFn List() {
    return [this]() -> absl::StatusOr<std::vector<PipelineSpec>> {
      absl::MutexLock lock(&mu_);
      if (!list_error_.ok()) return list_error_;
      std::vector<PipelineSpec> specs;
      for (const auto& [name, spec] : pipelines_) specs.push_back(spec);
      return specs;
    };
  }
  StartRunFn Start() {
    return [this](const StartRunRequest& request) -> absl::StatusOr<std::string> {
      absl::MutexLock lock(&mu_);
      ++calls_;
      if (fail_from_call_ > 0 && calls_ >= fail_from_call_) return start_error_;
      EXPECT_EQ(request.trigger, "schedule");
      EXPECT_FALSE(request.version.has_value());
      EXPECT_THAT(request.params, IsEmpty());
      runs_.push_back(request.pipeline + "@" + request.trigger_detail);
      return "run-" + std::to_string(runs_.size());
    };
  }
  // "pipeline@2024-01-01T00:15:00.000Z", in start order.
  std::vector<std::string> Runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  void ClearRuns() {
    absl::MutexLock lock(&mu_);
    runs_.clear();
  }
  bool WaitForRuns(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return runs_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, PipelineSpec> pipelines_ ABSL_GUARDED_BY(mu_);
  absl::Status list_error_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_from_call_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> runs_ ABSL_GUARDED_BY(mu_);
};

class ScheduleServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // PostgreSQL is shared between the tests of this binary: start from an empty table.
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS pipeline_schedules;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'pipeline_schedules'");
                   }).ok());
    Reopen();
  }

  // A new service on the same database: what a server restart sees.
  void Reopen(ScheduleOptions options = {}) {
    service_.reset();
    auto service = ScheduleService::Open(*db_, clock_, server_.List(), server_.Start(), options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  void TickAt(std::string_view when) {
    clock_.Set(T(when));
    absl::Status status = service_->Tick(clock_.NowMillis());
    EXPECT_TRUE(status.ok()) << status;
  }

  FakeClock clock_{T("2024-01-01T00:07:00Z")};
  FakeServer server_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<ScheduleService> service_;
};

TEST_P(ScheduleServiceTest, FirstSightStartsFromNowThenRunsEachFireTimeOnce) {
  server_.SetSchedule("etl", "*/15 * * * *");
  TickAt("2024-01-01T00:07:00Z");  // first seen: nothing owed from before
  TickAt("2024-01-01T00:14:59.999Z");
  EXPECT_THAT(server_.Runs(), IsEmpty());
  TickAt("2024-01-01T00:15:00.004Z");
  TickAt("2024-01-01T00:15:00.500Z");
  TickAt("2024-01-01T00:29:00Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-01T00:15:00.000Z"));
  auto state = service_->State("etl");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->cron, "*/15 * * * *");
  EXPECT_EQ(state->last_fire_ms, T("2024-01-01T00:15:00Z"));
  EXPECT_EQ(state->last_run_id, "run-1");
  EXPECT_EQ(state->last_error, "");
  EXPECT_EQ(state->next_fire_ms, T("2024-01-01T00:30:00Z"));
  EXPECT_EQ(service_->NextWakeMs(), T("2024-01-01T00:30:00Z"));
}

TEST_P(ScheduleServiceTest, RestartNeitherMissesNorRepeats) {
  server_.SetSchedule("etl", "*/15 * * * *");
  TickAt("2024-01-01T00:07:00Z");
  TickAt("2024-01-01T00:15:00.010Z");
  Reopen();
  TickAt("2024-01-01T00:15:30Z");  // 00:15 was handled before the restart
  Reopen();
  TickAt("2024-01-01T00:30:00.020Z");
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T00:30:00.000Z"));
  // Down over 00:45 (catchup latest): that one fire time runs once after the restart.
  Reopen();
  TickAt("2024-01-01T00:52:00Z");
  TickAt("2024-01-01T00:53:00Z");
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T00:30:00.000Z",
                          "etl@2024-01-01T00:45:00.000Z"));
}

TEST_P(ScheduleServiceTest, CatchupLatestRunsOnceForTheMostRecentMissedFireTime) {
  server_.SetSchedule("etl", "*/15 * * * *", Catchup::kLatest);
  TickAt("2024-01-01T00:07:00Z");
  TickAt("2024-01-01T00:15:00Z");
  Reopen();
  TickAt("2024-01-01T02:07:00Z");
  TickAt("2024-01-01T02:08:00Z");
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T02:00:00.000Z"));
}

TEST_P(ScheduleServiceTest, CatchupNoneSkipsMissedFireTimesButRunsOnTimeOnes) {
  server_.SetSchedule("etl", "*/15 * * * *", Catchup::kNone);
  TickAt("2024-01-01T00:07:00Z");
  TickAt("2024-01-01T00:15:00.100Z");  // on time
  Reopen();
  TickAt("2024-01-01T02:07:00Z");  // 00:30 … 02:00 missed: skipped
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-01T00:15:00.000Z"));
  TickAt("2024-01-01T02:15:30Z");  // 30 s late is within the grace: runs
  TickAt("2024-01-01T02:32:00Z");  // 2 minutes late: skipped
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T02:15:00.000Z"));
  auto state = service_->State("etl");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->handled_until_ms, T("2024-01-01T02:30:00Z"));
}

TEST_P(ScheduleServiceTest, CatchupAllRunsEveryMissedFireTimeOldestFirst) {
  server_.SetSchedule("etl", "*/15 * * * *", Catchup::kAll);
  TickAt("2024-01-01T00:07:00Z");
  TickAt("2024-01-01T00:15:00Z");
  server_.ClearRuns();
  Reopen();
  TickAt("2024-01-01T01:20:00Z");
  TickAt("2024-01-01T01:21:00Z");
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:30:00.000Z", "etl@2024-01-01T00:45:00.000Z",
                          "etl@2024-01-01T01:00:00.000Z", "etl@2024-01-01T01:15:00.000Z"));
}

TEST_P(ScheduleServiceTest, CatchupAllIsCappedToTheMostRecentFireTimes) {
  ScheduleOptions options;
  options.max_catchup_runs = 3;
  Reopen(options);
  server_.SetSchedule("every-minute", "* * * * *", Catchup::kAll);
  TickAt("2024-01-01T00:07:30Z");
  TickAt("2024-01-01T03:00:10Z");  // 173 missed
  EXPECT_THAT(server_.Runs(), ElementsAre("every-minute@2024-01-01T02:58:00.000Z",
                                          "every-minute@2024-01-01T02:59:00.000Z",
                                          "every-minute@2024-01-01T03:00:00.000Z"));
  // The default cap is 100.
  server_.ClearRuns();
  Reopen();
  TickAt("2024-01-02T00:00:00Z");
  EXPECT_EQ(server_.Runs().size(), 100u);
  EXPECT_EQ(server_.Runs().front(), "every-minute@2024-01-01T22:21:00.000Z");
  EXPECT_EQ(server_.Runs().back(), "every-minute@2024-01-02T00:00:00.000Z");
}

TEST_P(ScheduleServiceTest, UnavailableStartIsRetriedAndACrashMidCatchupRepeatsNothing) {
  server_.SetSchedule("etl", "*/15 * * * *", Catchup::kAll);
  TickAt("2024-01-01T00:07:00Z");
  server_.FailStartsFrom(3, absl::UnavailableError("database is locked"));
  clock_.Set(T("2024-01-01T01:20:00Z"));
  absl::Status status = service_->Tick(clock_.NowMillis());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T00:30:00.000Z"));
  EXPECT_EQ(service_->NextWakeMs(), T("2024-01-01T01:20:30Z"));  // now + retry_ms
  auto state = service_->State("etl");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->last_error, "database is locked");
  // Restart: the two started ones are not repeated, the rest run.
  server_.FailStartsFrom(0, absl::OkStatus());
  Reopen();
  TickAt("2024-01-01T01:21:00Z");
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T00:15:00.000Z", "etl@2024-01-01T00:30:00.000Z",
                          "etl@2024-01-01T00:45:00.000Z", "etl@2024-01-01T01:00:00.000Z",
                          "etl@2024-01-01T01:15:00.000Z"));
}

TEST_P(ScheduleServiceTest, PermanentStartErrorIsRecordedAndNotRetried) {
  server_.SetSchedule("etl", "0 * * * *");
  TickAt("2024-01-01T00:07:00Z");
  server_.FailStartsFrom(1, absl::InvalidArgumentError("param 'data': required, no default"));
  TickAt("2024-01-01T01:00:00Z");
  TickAt("2024-01-01T01:30:00Z");
  EXPECT_THAT(server_.Runs(), IsEmpty());
  auto state = service_->State("etl");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->last_error,
            "the run for 2024-01-01T01:00:00.000Z could not start: param 'data': required, no "
            "default");
  EXPECT_EQ(state->last_fire_ms, 0);
  EXPECT_EQ(state->handled_until_ms, T("2024-01-01T01:00:00Z"));
  server_.FailStartsFrom(0, absl::OkStatus());
  TickAt("2024-01-01T02:00:00Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-01T02:00:00.000Z"));
  EXPECT_EQ(service_->State("etl")->last_error, "");
}

TEST_P(ScheduleServiceTest, ChangedCronStartsAfreshAndRemovedScheduleIsForgotten) {
  server_.SetSchedule("etl", "0 3 * * *");
  TickAt("2024-01-01T00:07:00Z");
  server_.SetSchedule("etl", "0 4 * * *");
  TickAt("2024-01-01T10:00:00Z");  // the new cron is first seen now: 04:00 is not owed
  EXPECT_THAT(server_.Runs(), IsEmpty());
  EXPECT_EQ(service_->State("etl")->cron, "0 4 * * *");
  TickAt("2024-01-02T04:00:01Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-02T04:00:00.000Z"));

  server_.Remove("etl");
  TickAt("2024-01-02T05:00:00Z");
  EXPECT_FALSE(service_->State("etl").has_value());
  EXPECT_FALSE(service_->NextWakeMs().has_value());
  Reopen();
  EXPECT_THAT(service_->States(), IsEmpty());
  // Added again days later: no catch-up for the time it was gone.
  server_.SetSchedule("etl", "0 4 * * *");
  TickAt("2024-01-05T10:00:00Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-02T04:00:00.000Z"));
}

TEST_P(ScheduleServiceTest, PipelinesAreIndependentAndABadCronDoesNotStopTheOthers) {
  server_.SetSchedule("a", "0 * * * *");
  server_.SetSchedule("b", "30 * * * *", Catchup::kAll);
  server_.SetSchedule("broken", "0 25 * * *");
  TickAt("2024-01-01T00:07:00Z");
  TickAt("2024-01-01T01:40:00Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("a@2024-01-01T01:00:00.000Z",
                                          "b@2024-01-01T00:30:00.000Z",
                                          "b@2024-01-01T01:30:00.000Z"));
  EXPECT_FALSE(service_->State("broken").has_value());
  EXPECT_EQ(service_->NextWakeMs(), T("2024-01-01T02:00:00Z"));
}

TEST_P(ScheduleServiceTest, ListErrorIsReturnedAndChangesNothing) {
  server_.SetSchedule("etl", "0 * * * *");
  TickAt("2024-01-01T00:07:00Z");
  server_.FailList(absl::UnavailableError("registry unreachable"));
  clock_.Set(T("2024-01-01T01:00:00Z"));
  EXPECT_EQ(service_->Tick(clock_.NowMillis()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_->NextWakeMs(), T("2024-01-01T01:00:30Z"));
  EXPECT_TRUE(service_->State("etl").has_value());  // not forgotten
  server_.FailList(absl::OkStatus());
  TickAt("2024-01-01T01:00:30Z");
  EXPECT_THAT(server_.Runs(), ElementsAre("etl@2024-01-01T01:00:00.000Z"));
}

TEST_P(ScheduleServiceTest, ThreadTicksAtStartAndWhenRefreshed) {
  server_.SetSchedule("etl", "0 * * * *");
  TickAt("2024-01-01T00:07:00Z");
  clock_.Set(T("2024-01-01T01:00:05Z"));
  service_->Start();
  ASSERT_TRUE(server_.WaitForRuns(1));
  // The thread now sleeps (real time) until 02:00 by the fake clock, at most a minute;
  // Refresh wakes it for a pipeline applied meanwhile.
  server_.SetSchedule("new", "*/5 * * * *");
  service_->Refresh();
  // The first sight of "new" is recorded by the woken thread; wait for it, then move on.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!service_->State("new").has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(service_->State("new").has_value());
  clock_.Set(T("2024-01-01T01:05:01Z"));
  service_->Refresh();
  ASSERT_TRUE(server_.WaitForRuns(2));
  service_->Shutdown();
  service_->Shutdown();
  EXPECT_THAT(server_.Runs(),
              ElementsAre("etl@2024-01-01T01:00:00.000Z", "new@2024-01-01T01:05:00.000Z"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ScheduleServiceTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(CatchupName, Names) {
  EXPECT_EQ(CatchupName(Catchup::kNone), "none");
  EXPECT_EQ(CatchupName(Catchup::kLatest), "latest");
  EXPECT_EQ(CatchupName(Catchup::kAll), "all");
}

}  // namespace
}  // namespace cairn::pipelines
