#include "monitoring/alerts/alert_store.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::monitoring {
namespace {

constexpr char kDrop[] =
    "DROP TABLE IF EXISTS monitoring_alerts; DROP TABLE IF EXISTS monitoring_alert_events;"
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER "
    "NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, "
    "version));"
    "DELETE FROM schema_migrations WHERE component = 'monitoring_alerts'";

class AlertStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() /
             ("cairn_alert_store_" + std::to_string(std::random_device{}()));
      std::filesystem::create_directories(dir_);
      url = (dir_ / "alerts.db").string();
    } else {
      CAIRN_REQUIRE_POSTGRES();
      url = storage::test_support::PrivatePostgresUrl();
    }
    url_ = url;
    auto db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    if (GetParam() != "sqlite") {
      ASSERT_TRUE(db_->Write([](storage::SqlSession& s) { return s.ExecuteScript(kDrop); }).ok());
    }
    auto store = AlertStore::Open(*db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  // A second store on the same database through its own connection (another server).
  AlertStore* OpenOtherStore() {
    auto other_db = storage::OpenDatabase(url_);
    EXPECT_TRUE(other_db.ok()) << other_db.status();
    if (!other_db.ok()) return nullptr;
    other_db_ = std::move(*other_db);
    auto other = AlertStore::Open(*other_db_);
    EXPECT_TRUE(other.ok()) << other.status();
    if (!other.ok()) return nullptr;
    other_ = std::move(*other);
    return other_.get();
  }
  void TearDown() override {
    other_.reset();
    other_db_.reset();
    store_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static Alert MakeAlert(std::string id, std::string monitor, std::string kind,
                         int64_t opened_ms) {
    Alert alert;
    alert.id = std::move(id);
    alert.monitor = std::move(monitor);
    alert.kind = std::move(kind);
    alert.opened_ms = opened_ms;
    alert.updated_ms = opened_ms;
    alert.summary = "3 of 10 columns drifted";
    alert.details = Json{{"drifted", {"age", "income"}}};
    alert.first_monitor_run = "mr-1";
    alert.last_monitor_run = "mr-1";
    return alert;
  }

  std::string url_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<AlertStore> store_;
  std::unique_ptr<storage::Database> other_db_;
  std::unique_ptr<AlertStore> other_;
};

TEST_P(AlertStoreTest, RoundTripsEveryField) {
  Alert alert = MakeAlert("a1", "churn", "drift", 1000);
  alert.monitor_version = 3;
  alert.severity = Severity::kCritical;
  alert.state = AlertState::kAcknowledged;
  alert.acknowledged_by = "ana";
  alert.occurrences = 4;
  alert.retrain = RetrainAction{"retrain", {{"reason", "{{alert.id}}"}}, 3, "churn-model"};
  alert.phase = RetrainPhase::kAwaitingModel;
  alert.attempts = 2;
  alert.retrain_run = "run-2";
  alert.retrain_runs = {"run-1", "run-2"};
  alert.sinks = {SinkSpec{"webhook", "http://hook", "${SECRET}"}, SinkSpec{"log", "", ""}};
  ASSERT_TRUE(store_->Insert(alert).ok());

  auto got = store_->Get("a1", true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->monitor, "churn");
  EXPECT_EQ(got->monitor_version, 3);
  EXPECT_EQ(got->severity, Severity::kCritical);
  EXPECT_EQ(got->state, AlertState::kAcknowledged);
  EXPECT_EQ(got->acknowledged_by, "ana");
  EXPECT_EQ(got->occurrences, 4);
  EXPECT_EQ(got->summary, "3 of 10 columns drifted");
  EXPECT_EQ(got->details, alert.details);
  EXPECT_EQ(got->retrain, alert.retrain);
  EXPECT_EQ(got->phase, RetrainPhase::kAwaitingModel);
  EXPECT_EQ(got->attempts, 2);
  EXPECT_EQ(got->retrain_run, "run-2");
  EXPECT_EQ(got->retrain_runs, alert.retrain_runs);
  EXPECT_EQ(got->sinks, alert.sinks);
  EXPECT_TRUE(got->timeline.empty());
  // The API form never shows the secret.
  EXPECT_EQ(DumpJson(AlertToJson(*got, false)).find("SECRET"), std::string::npos);
}

TEST_P(AlertStoreTest, OneUnresolvedAlertPerMonitorAndKind) {
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  absl::Status second = store_->Insert(MakeAlert("a2", "churn", "drift", 2000));
  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
  EXPECT_NE(second.message().find("churn"), absl::string_view::npos) << second;
  // Another kind, or another monitor, is a different alert.
  EXPECT_TRUE(store_->Insert(MakeAlert("a3", "churn", "constraints", 2000)).ok());
  EXPECT_TRUE(store_->Insert(MakeAlert("a4", "fraud", "drift", 2000)).ok());

  // Once resolved, the (monitor, kind) is free again, any number of times.
  auto a1 = store_->Get("a1", false);
  ASSERT_TRUE(a1.ok());
  a1->state = AlertState::kResolved;
  ASSERT_TRUE(store_->Update(*a1).ok());
  ASSERT_TRUE(store_->Insert(MakeAlert("a2", "churn", "drift", 3000)).ok());
  auto open = store_->FindUnresolved("churn", "drift");
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(open->has_value());
  EXPECT_EQ((*open)->id, "a2");
  auto a2 = store_->Get("a2", false);
  a2->state = AlertState::kResolved;
  ASSERT_TRUE(store_->Update(*a2).ok());
  open = store_->FindUnresolved("churn", "drift");
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->has_value());
}

TEST_P(AlertStoreTest, TimelineIsNumberedInOrder) {
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  for (int i = 0; i < 3; ++i) {
    AlertEvent event{0, 1000 + i, "repeated", "monitor run still finds drift", {{"i", "x"}}};
    auto seq = store_->AppendEvent("a1", event);
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, i + 1);
  }
  auto got = store_->Get("a1", true);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->timeline.size(), 3u);
  EXPECT_EQ(got->timeline[2].seq, 3);
  EXPECT_EQ(got->timeline[2].time_ms, 1002);
  EXPECT_EQ(got->timeline[2].attributes.at("i"), "x");
  EXPECT_EQ(store_->AppendEvent("nope", AlertEvent{}).status().code(),
            absl::StatusCode::kNotFound);
}

// Two servers sharing one database (two connections, two stores), each opening-or-finding
// the (monitor, kind) alert and appending to its timeline from its own thread at once: one
// unresolved alert, and every event kept, numbered 1..N without gaps or repeats.
TEST_P(AlertStoreTest, TwoStoresOnOneDatabaseRaceWithoutLosingEvents) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  AlertStore* stores[] = {store_.get(), other};
  constexpr int kEvents = 25;
  std::atomic<int> ready{0};
  std::vector<std::string> errors[2];
  std::set<std::string> alert_ids[2];
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      AlertStore& store = *stores[w];
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      for (int i = 0; i < kEvents; ++i) {
        // What AlertService does: find the open alert, else open one; lost the race to
        // open it: find the other's.
        std::string id;
        auto found = store.FindUnresolved("churn", "drift");
        if (!found.ok()) {
          errors[w].push_back(std::string(found.status().message()));
          continue;
        }
        if (found->has_value()) {
          id = (*found)->id;
        } else {
          Alert alert = MakeAlert("a-" + std::to_string(w) + "-" + std::to_string(i), "churn",
                                  "drift", 1000 + i);
          absl::Status inserted = store.Insert(alert);
          if (inserted.ok()) {
            id = alert.id;
          } else if (absl::IsAlreadyExists(inserted)) {
            auto again = store.FindUnresolved("churn", "drift");
            if (!again.ok() || !again->has_value()) {
              errors[w].push_back("lost the insert race but found no open alert");
              continue;
            }
            id = (*again)->id;
          } else {
            errors[w].push_back(std::string(inserted.message()));
            continue;
          }
        }
        alert_ids[w].insert(id);
        AlertEvent event{0, 2000 + i, "repeated", "still drifting",
                         {{"writer", std::to_string(w)}, {"i", std::to_string(i)}}};
        auto seq = store.AppendEvent(id, event);
        if (!seq.ok()) errors[w].push_back(std::string(seq.status().message()));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(errors[0].empty()) << errors[0].front();
  EXPECT_TRUE(errors[1].empty()) << errors[1].front();

  AlertFilter filter;
  filter.monitor = "churn";
  auto listed = store_->List(filter);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u) << "one open alert per monitor and kind";
  EXPECT_EQ(alert_ids[0], std::set<std::string>{(*listed)[0].id});
  EXPECT_EQ(alert_ids[1], std::set<std::string>{(*listed)[0].id});
  auto got = store_->Get((*listed)[0].id, true);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->timeline.size(), 2u * kEvents);
  std::map<std::string, int> per_writer;
  for (size_t k = 0; k < got->timeline.size(); ++k) {
    EXPECT_EQ(got->timeline[k].seq, static_cast<int64_t>(k + 1));
    per_writer[got->timeline[k].attributes.at("writer")] += 1;
  }
  EXPECT_EQ(per_writer["0"], kEvents);
  EXPECT_EQ(per_writer["1"], kEvents);
}

// Two servers (two stores on one database) claiming the same retraining step: one gets it.
TEST_P(AlertStoreTest, RetrainStepsAreClaimedOnceAcrossStores) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  int64_t token = 0;
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 1, 5000, &token), true);
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 1, 5000), false);
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 1, 5000), false) << "claimed once, even by its claimer";
  ASSERT_TRUE(store_->ReleaseRetrainStep("a1", 1, token + 1).ok());  // not its claim
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 1, 5000), false) << "released with another token";
  // A start that did not happen gives its step back; the other store then claims it.
  ASSERT_TRUE(store_->ReleaseRetrainStep("a1", 1, token).ok());
  int64_t again = 0;
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 1, 5000, &again), true);
  EXPECT_NE(again, token) << "a claim in the same millisecond has a token of its own";
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 2, 5000), true);
  ASSERT_TRUE(store_->ReleaseRetrainStep("a1", 1, again).ok());  // not the last: no effect
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 2, 5000), false);
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 1, 5000), false) << "a lower step after a higher one";
  EXPECT_EQ(store_->ClaimRetrainStep("nope", 1, 5000).status().code(), absl::StatusCode::kNotFound);
}

// A claim whose step was never recorded (the claimer died between claiming and recording
// the started run, or failed to record it and could not give it back) is a lease: it blocks
// other stores until kRetrainClaimLeaseMs after it was claimed, then one of them takes over.
TEST_P(AlertStoreTest, UnrecordedRetrainClaimIsTakenOverWhenItsLeaseRunsOut) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  FakeClock clock(1'000'000);
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  ASSERT_EQ(*store_->ClaimRetrainStep("a1", 1, clock.NowMillis()), true);
  // The claimer is gone: nothing recorded (the stored attempts are still 0).
  clock.Advance(kRetrainClaimLeaseMs - 1);
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 1, clock.NowMillis()), false) << "lease not over";
  clock.Advance(1);
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 1, clock.NowMillis()), true) << "taken over";
  // The takeover is a new lease: the first store cannot take it back at once.
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 1, clock.NowMillis()), false);
  // Once the step is recorded (attempts = 1) the claim is final, however old.
  ASSERT_TRUE(other->Modify("a1", [](Alert& a) { a.attempts = 1; }).ok());
  clock.Advance(10 * kRetrainClaimLeaseMs);
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 1, clock.NowMillis()), false) << "recorded";
  EXPECT_EQ(*store_->ClaimRetrainStep("a1", 2, clock.NowMillis()), true);
  // An exhausted alert (retraining given up at the claimed step, attempts not raised) keeps
  // its claim, so that the giving up is not done twice.
  ASSERT_TRUE(store_->Modify("a1", [](Alert& a) { a.phase = RetrainPhase::kExhausted; }).ok());
  clock.Advance(2 * kRetrainClaimLeaseMs);
  EXPECT_EQ(*other->ClaimRetrainStep("a1", 2, clock.NowMillis()), false) << "exhausted";
  EXPECT_EQ(other->ClaimRetrainStep("nope", 1, clock.NowMillis()).status().code(),
            absl::StatusCode::kNotFound);
}

// A claim stored without its time (an older server during a rolling upgrade claims without
// writing retrain_claimed_at, which stays 0) is not taken over at once: the store that finds
// it stamps it with its time, and can take it over only a full lease later.
TEST_P(AlertStoreTest, UnstampedRetrainClaimIsStampedNotTakenOver) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  FakeClock clock(1'000'000);
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  ASSERT_TRUE(*store_->ClaimRetrainStep("a1", 1, clock.NowMillis()));
  ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                  return s.Execute("UPDATE monitoring_alerts SET retrain_claimed_at = 0", {})
                      .status();
                }).ok());
  EXPECT_FALSE(*other->ClaimRetrainStep("a1", 1, clock.NowMillis()))
      << "a claim without its time was taken over at once";
  clock.Advance(kRetrainClaimLeaseMs - 1);
  EXPECT_FALSE(*other->ClaimRetrainStep("a1", 1, clock.NowMillis()))
      << "taken over before a lease after it was stamped";
  clock.Advance(1);
  EXPECT_TRUE(*other->ClaimRetrainStep("a1", 1, clock.NowMillis())) << "taken over a lease later";

  // A step recorded by its claimer clears the claim time: the older server's claim of the
  // next step (it writes retrain_claim alone) is stamped too, not taken over as expired.
  int64_t token = 0;
  ASSERT_TRUE(*store_->ClaimRetrainStep("a1", 2, clock.NowMillis(), &token));
  auto recorded = store_->ModifyClaimed("a1", 2, token, [](Alert& a) { a.attempts = 2; });
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_TRUE(recorded->has_value());
  clock.Advance(10 * kRetrainClaimLeaseMs);
  ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                  return s.Execute("UPDATE monitoring_alerts SET retrain_claim = 3", {}).status();
                }).ok());
  EXPECT_FALSE(*other->ClaimRetrainStep("a1", 3, clock.NowMillis()))
      << "an older server's claim after a recorded step was taken over at once";
  clock.Advance(kRetrainClaimLeaseMs);
  EXPECT_TRUE(*other->ClaimRetrainStep("a1", 3, clock.NowMillis()));
  // ModifyClaimed with a claim that is no longer held writes nothing.
  auto declined = store_->ModifyClaimed("a1", 2, token, [](Alert& a) { a.attempts = 9; });
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_FALSE(declined->has_value());
  EXPECT_EQ(store_->Get("a1", false)->attempts, 2);
}

// Modify writes over the alert as stored: what another store wrote since a read is kept.
TEST_P(AlertStoreTest, ModifyKeepsWhatAnotherStoreWroteSinceARead) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  ASSERT_TRUE(store_->AppendEvent("a1", AlertEvent{0, 1000, "opened", "opened", {}}).ok());
  auto stale = store_->Get("a1", false);
  ASSERT_TRUE(stale.ok());
  auto started = other->Modify("a1", [](Alert& a) {
    a.phase = RetrainPhase::kRetraining;
    a.retrain_run = "run-1";
    a.retrain_runs.push_back("run-1");
    a.attempts = 1;
  });
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->retrain_run, "run-1");
  ASSERT_EQ(started->timeline.size(), 1u) << "returned with its timeline";
  auto repeated = store_->Modify(stale->id, [](Alert& a) { a.occurrences += 1; });
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  auto got = store_->Get("a1", false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->occurrences, 2);
  EXPECT_EQ(got->phase, RetrainPhase::kRetraining);
  EXPECT_EQ(got->retrain_run, "run-1");
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(store_->Modify("nope", [](Alert&) {}).status().code(),
            absl::StatusCode::kNotFound);
}

// ModifyIf decides on the alert as stored: false writes nothing, an error rolls back.
TEST_P(AlertStoreTest, ModifyIfDecidesOnTheStoredAlert) {
  AlertStore* other = OpenOtherStore();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store_->Insert(MakeAlert("a1", "churn", "drift", 1000)).ok());
  auto resolved = other->Modify("a1", [](Alert& a) {
    a.state = AlertState::kResolved;
    a.resolved_by = "bob";
  });
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  bool saw_resolved = false;
  auto declined = store_->ModifyIf("a1", [&](Alert& a) -> absl::StatusOr<bool> {
    saw_resolved = a.state == AlertState::kResolved;
    return false;
  });
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_TRUE(saw_resolved);
  EXPECT_EQ(declined->resolved_by, "bob") << "returned as read";
  auto failed = store_->ModifyIf("a1", [](Alert& a) -> absl::StatusOr<bool> {
    a.resolved_by = "alice";
    return absl::FailedPreconditionError("alert a1 is already resolved");
  });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  auto changed = store_->ModifyIf("a1", [](Alert& a) -> absl::StatusOr<bool> {
    a.occurrences = 5;
    return true;
  });
  ASSERT_TRUE(changed.ok()) << changed.status();
  auto got = store_->Get("a1", false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->resolved_by, "bob") << "the failed change was rolled back";
  EXPECT_EQ(got->occurrences, 5);
  EXPECT_EQ(store_->ModifyIf("nope", [](Alert&) -> absl::StatusOr<bool> { return true; })
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_P(AlertStoreTest, FindsByRetrainRunAndAwaitedModel) {
  Alert a = MakeAlert("a1", "churn", "drift", 1000);
  a.retrain = RetrainAction{"retrain", {}, 2, "churn-model"};
  a.retrain_run = "run-7";
  a.phase = RetrainPhase::kAwaitingModel;
  ASSERT_TRUE(store_->Insert(a).ok());
  auto by_run = store_->FindByRetrainRun("run-7");
  ASSERT_TRUE(by_run.ok());
  ASSERT_TRUE(by_run->has_value());
  EXPECT_EQ((*by_run)->id, "a1");
  EXPECT_FALSE(store_->FindByRetrainRun("run-8")->has_value());
  EXPECT_FALSE(store_->FindByRetrainRun("")->has_value());
  auto waiting = store_->FindAwaitingModel("churn-model");
  ASSERT_TRUE(waiting.ok());
  ASSERT_EQ(waiting->size(), 1u);
  EXPECT_TRUE(store_->FindAwaitingModel("other")->empty());
}

TEST_P(AlertStoreTest, ListFiltersNewestFirst) {
  Alert a = MakeAlert("a1", "churn", "drift", 1000);
  Alert b = MakeAlert("a2", "churn", "constraints", 2000);
  b.severity = Severity::kCritical;
  Alert c = MakeAlert("a3", "fraud", "drift", 3000);
  c.state = AlertState::kResolved;
  for (const Alert& alert : {a, b, c}) ASSERT_TRUE(store_->Insert(alert).ok());
  auto all = store_->List({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "a3");
  EXPECT_EQ((*all)[2].id, "a1");
  auto open = store_->List({AlertState::kOpen, "", std::nullopt, 100});
  ASSERT_EQ(open->size(), 2u);
  auto churn_critical = store_->List({std::nullopt, "churn", Severity::kCritical, 100});
  ASSERT_EQ(churn_critical->size(), 1u);
  EXPECT_EQ((*churn_critical)[0].id, "a2");
  auto limited = store_->List({std::nullopt, "", std::nullopt, 1});
  ASSERT_EQ(limited->size(), 1u);
  auto bad = store_->List({std::nullopt, "", std::nullopt, 0});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("zzz", false).status().code(), absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertStoreTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::monitoring
