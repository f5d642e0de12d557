#include "serving/endpoint_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-endpoint-store-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

class EndpointStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS endpoints;"
                         "DROP TABLE IF EXISTS endpoint_versions;"
                         "DROP TABLE IF EXISTS endpoint_rollouts;"
                         "DROP TABLE IF EXISTS endpoint_events;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT "
                         "NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at "
                         "BIGINT NOT NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'serving_endpoints'");
                   }).ok());
    Reopen({});
  }

  void Reopen(EndpointStoreOptions options) {
    auto store = EndpointStore::Open(*db_, clock_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  static RolloutSpec Canary(int64_t version) {
    RolloutSpec spec;
    spec.version = version;
    spec.percent = 20;
    spec.guard.window_ms = 60'000;
    spec.guard.max_prediction_drift = 0.25;
    return spec;
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EndpointStore> store_;
};

TEST_P(EndpointStoreTest, CreateGetFinish) {
  auto created =
      store_->Create(MakeRollout("churn", "churn", 4, Canary(4), "alice", "try v4 on 20%"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id.size(), 32u);
  EXPECT_EQ(created->state, "running");
  EXPECT_EQ(created->started_ms, clock_.NowMillis());
  EXPECT_EQ(created->ended_ms, 0);

  auto got = store_->Get(created->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->endpoint, "churn");
  EXPECT_EQ(got->model, "churn");
  EXPECT_EQ(got->version, 4);
  EXPECT_EQ(got->mode, "canary");
  EXPECT_DOUBLE_EQ(got->percent, 20);
  EXPECT_EQ(got->guard, Canary(4).guard);
  EXPECT_EQ(got->on_pass, "promote");
  EXPECT_EQ(got->on_fail, "rollback");
  EXPECT_EQ(got->actor, "alice");
  EXPECT_EQ(got->reason, "try v4 on 20%");
  EXPECT_EQ(RolloutToSpec(*got), Canary(4));

  auto active = store_->Active("churn");
  ASSERT_TRUE(active.ok());
  ASSERT_TRUE(active->has_value());
  EXPECT_EQ((*active)->id, created->id);

  clock_.Advance(61'000);
  Json verdict = {{"passed", true}, {"reason", "passed: fine"}};
  auto finished = store_->Finish(created->id, kRolloutPromoted, verdict, "guard", "canary passed");
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->state, "promoted");
  EXPECT_EQ(finished->ended_ms, clock_.NowMillis());
  EXPECT_EQ(finished->ended_by, "guard");
  EXPECT_EQ(finished->end_reason, "canary passed");
  auto reread = store_->Get(created->id);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->state, "promoted");
  EXPECT_EQ(reread->verdict, verdict);
  EXPECT_FALSE(store_->Active("churn")->has_value());

  // Finishing twice (a timer's verdict racing a hand stop) is refused.
  auto again = store_->Finish(created->id, kRolloutRolledBack, Json(nullptr), "bob", "stop");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(),
              HasSubstr(absl::StrCat("rollout ", created->id,
                                     " of endpoint churn already ended (promoted by guard)")));

  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Finish("nope", kRolloutEnded, nullptr, "a", "r").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Finish(created->id, "running", nullptr, "a", "r").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointStoreTest, OneRunningRolloutPerEndpoint) {
  auto first = store_->Create(MakeRollout("churn", "churn", 4, Canary(4), "alice", ""));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = store_->Create(MakeRollout("churn", "churn", 5, Canary(5), "bob", ""));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("endpoint churn already has a running canary rollout ",
                                     first->id, " (churn v4, started by alice): stop it first: "
                                     "cairn endpoints promote|rollback churn ",
                                     first->id)));
  // Another endpoint is independent.
  ASSERT_TRUE(store_->Create(MakeRollout("other", "churn", 5, Canary(5), "bob", "")).ok());
  ASSERT_TRUE(store_->Finish(first->id, kRolloutRolledBack, nullptr, "bob", "bad").ok());
  clock_.Advance(10);
  auto third = store_->Create(MakeRollout("churn", "churn", 5, Canary(5), "bob", ""));
  ASSERT_TRUE(third.ok()) << third.status();

  auto list = store_->List("churn");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, third->id);  // newest first
  EXPECT_EQ((*list)[1].state, "rolled_back");
  EXPECT_EQ(store_->List("churn", 1)->size(), 1u);

  EXPECT_EQ(store_->Create(MakeRollout("", "churn", 5, Canary(5), "b", "")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointStoreTest, ConcurrentCreatesLeaveOneRunning) {
  constexpr int kThreads = 6;
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto r = store_->Create(MakeRollout("churn", "churn", 10 + i, Canary(10 + i), "t", ""));
      if (r.ok()) {
        ++ok;
      } else if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
        ++refused;
      } else {
        ADD_FAILURE() << r.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), kThreads - 1);
  auto running = store_->ListEvents("churn", 0, kEndpointEventRolloutStarted);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->size(), 1u);
}

TEST_P(EndpointStoreTest, EventsTimeline) {
  auto created = store_->Create(MakeRollout("churn", "churn", 4, Canary(4), "alice", "why"));
  ASSERT_TRUE(created.ok());
  clock_.Advance(5);
  auto scaled = store_->AddEvent("churn", kEndpointEventScaling,
                                 {{"from", 1}, {"to", 3}, {"reason", "in flight 9 > 3"}});
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ(scaled->time_ms, clock_.NowMillis());
  ASSERT_TRUE(store_->AddEvent("other", kEndpointEventDeployed, {{"version", 1}}).ok());
  clock_.Advance(5);
  ASSERT_TRUE(
      store_->Finish(created->id, kRolloutRolledBack, {{"passed", false}}, "guard", "p99").ok());

  auto events = store_->ListEvents("churn");
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::string> kinds;
  for (const EndpointEvent& e : *events) kinds.push_back(e.kind);
  EXPECT_THAT(kinds, ElementsAre("rollout_finished", "scaling", "rollout_started"));
  EXPECT_GT((*events)[0].id, (*events)[1].id);
  EXPECT_EQ((*events)[0].detail["state"], "rolled_back");
  EXPECT_EQ((*events)[0].detail["passed"], false);
  EXPECT_EQ((*events)[0].detail["actor"], "guard");
  EXPECT_EQ((*events)[1].detail["to"], 3);
  EXPECT_EQ((*events)[2].detail["rollout"], created->id);
  EXPECT_EQ((*events)[2].detail["actor"], "alice");
  EXPECT_EQ((*events)[2].detail["percent"], 20.0);

  EXPECT_EQ(store_->ListEvents("churn", 1)->size(), 1u);
  auto scaling = store_->ListEvents("churn", 10, kEndpointEventScaling);
  ASSERT_TRUE(scaling.ok());
  ASSERT_EQ(scaling->size(), 1u);
  EXPECT_EQ(DumpJson(EndpointEventToJson((*scaling)[0])),
            absl::StrCat(R"({"detail":{"from":1,"reason":"in flight 9 > 3","to":3},"endpoint":)",
                         R"("churn","id":)", (*scaling)[0].id, R"(,"kind":"scaling","time_ms":)",
                         (*scaling)[0].time_ms, "}"));
  EXPECT_EQ(store_->AddEvent("", "x", Json::object()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointStoreTest, OldEventsAreTrimmed) {
  Reopen({.max_events_per_endpoint = 10});
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->AddEvent("churn", kEndpointEventScaling, {{"i", i}}).ok());
  }
  ASSERT_TRUE(store_->AddEvent("other", kEndpointEventScaling, {{"i", 0}}).ok());
  auto events = store_->ListEvents("churn", 0);
  ASSERT_TRUE(events.ok());
  // Trimmed at the 256th addition to the newest 10; 44 more since.
  EXPECT_EQ(events->size(), 54u);
  EXPECT_EQ(events->front().detail["i"], 299);
  EXPECT_EQ(events->back().detail["i"], 246);
  EXPECT_EQ(store_->ListEvents("other", 0)->size(), 1u);
}

TEST_P(EndpointStoreTest, RolloutJson) {
  auto created = store_->Create(MakeRollout("churn", "churn", 4, Canary(4), "alice", "why"));
  ASSERT_TRUE(created.ok());
  Json json = RolloutToJson(*created);
  EXPECT_EQ(json["id"], created->id);
  EXPECT_EQ(json["state"], "running");
  EXPECT_EQ(json["verdict"], nullptr);
  EXPECT_EQ(json["guard"]["window_ms"], 60'000);
  EXPECT_EQ(json["guard"]["max_prediction_drift"], 0.25);
  EXPECT_EQ(json.size(), 18u);
}

INSTANTIATE_TEST_SUITE_P(Backends, EndpointStoreTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::serving
