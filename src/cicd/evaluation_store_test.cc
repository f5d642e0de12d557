#include "cicd/evaluation_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::cicd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-evaluation-store-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

Evaluation Make(const std::string& id, const std::string& model, int64_t version,
                int64_t created_ms, bool passed = true, const std::string& policy = "gate",
                int64_t policy_version = 1) {
  Evaluation e;
  e.id = id;
  e.model = model;
  e.version = version;
  e.baseline_version = version > 1 ? version - 1 : 0;
  e.policy = policy;
  e.policy_version = policy_version;
  e.passed = passed;
  e.gates.push_back(GateResult{.gate = "auc >= 0.7",
                               .kind = "metric",
                               .name = "auc",
                               .value = 0.8125,
                               .baseline = 0.75,
                               .verdict = passed ? "pass" : "fail",
                               .detail = "0.8125 >= 0.7"});
  e.gates.push_back(GateResult{.gate = "loads", .kind = "check", .name = "loads",
                               .verdict = "pass"});
  e.metrics = Json{{"candidate", {{"auc", 0.8125}}}, {"baseline", {{"auc", 0.75}}}};
  e.rows = 1000;
  e.actor = "alice";
  e.created_ms = created_ms;
  return e;
}

std::vector<std::string> Ids(const std::vector<Evaluation>& evaluations) {
  std::vector<std::string> out;
  for (const Evaluation& e : evaluations) out.push_back(e.id);
  return out;
}

TEST(EvaluationJsonTest, RoundTrip) {
  const Evaluation e = Make("ev-1", "churn", 3, 5'000, false);
  const Json json = EvaluationToJson(e);
  EXPECT_EQ(json.at("gates")[0].at("value"), 0.8125);
  EXPECT_TRUE(json.at("gates")[1].at("value").is_null());
  EXPECT_EQ(json.at("passed"), false);
  EXPECT_EQ(json.at("metrics").at("candidate").at("auc"), 0.8125);
  auto back = EvaluationFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
  auto bad = EvaluationFromJson(Json{{"id", "x"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("evaluation JSON"));
  EXPECT_THAT(NewEvaluationId(), StartsWith("ev-"));
  EXPECT_EQ(NewEvaluationId().size(), 35u);
  EXPECT_NE(NewEvaluationId(), NewEvaluationId());
}

class EvaluationStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS cicd_evaluations;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'cicd_evaluations'");
                   })
                    .ok());
    auto store = EvaluationStore::Open(*db_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EvaluationStore> store_;
};

TEST_P(EvaluationStoreTest, PutGet) {
  const Evaluation e = Make("ev-1", "churn", 3, 5'000, false);
  ASSERT_TRUE(store_->Put(e).ok());
  auto got = store_->Get("ev-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, e);

  absl::Status again = store_->Put(Make("ev-1", "churn", 4, 6'000));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("evaluation ev-1 is already stored"));
  EXPECT_EQ(store_->Get("ev-1")->version, 3);

  auto missing = store_->Get("ev-none");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("evaluation 'ev-none' does not exist"));
}

TEST_P(EvaluationStoreTest, PutValidates) {
  EXPECT_EQ(store_->Put(Make("", "churn", 1, 1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put(Make("ev-x", "", 1, 1)).code(), absl::StatusCode::kInvalidArgument);
  absl::Status version = store_->Put(Make("ev-x", "churn", 0, 1));
  EXPECT_EQ(version.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(version.message(), "evaluation ev-x: version 0 is not a model version (1, 2, …)");
}

TEST_P(EvaluationStoreTest, ListNewestFirstWithFilters) {
  ASSERT_TRUE(store_->Put(Make("ev-a", "churn", 1, 1'000)).ok());
  ASSERT_TRUE(store_->Put(Make("ev-b", "churn", 2, 2'000)).ok());
  ASSERT_TRUE(store_->Put(Make("ev-c", "churn", 2, 3'000, false)).ok());
  ASSERT_TRUE(store_->Put(Make("ev-d", "other", 1, 4'000)).ok());
  // Same created_ms: the later put comes first.
  ASSERT_TRUE(store_->Put(Make("ev-0", "churn", 2, 3'000)).ok());

  auto churn = store_->List("churn");
  ASSERT_TRUE(churn.ok()) << churn.status();
  EXPECT_THAT(Ids(*churn), ElementsAre("ev-0", "ev-c", "ev-b", "ev-a"));
  auto v2 = store_->List("churn", 2);
  ASSERT_TRUE(v2.ok());
  EXPECT_THAT(Ids(*v2), ElementsAre("ev-0", "ev-c", "ev-b"));
  auto limited = store_->List("churn", std::nullopt, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_THAT(Ids(*limited), ElementsAre("ev-0", "ev-c"));
  auto all = store_->List("");
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Ids(*all), ElementsAre("ev-d", "ev-0", "ev-c", "ev-b", "ev-a"));
  auto none = store_->List("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(store_->List("churn", std::nullopt, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EvaluationStoreTest, LatestUnderAPolicy) {
  ASSERT_TRUE(store_->Put(Make("ev-a", "churn", 2, 1'000, true, "gate", 1)).ok());
  ASSERT_TRUE(store_->Put(Make("ev-b", "churn", 2, 2'000, false, "gate", 2)).ok());
  ASSERT_TRUE(store_->Put(Make("ev-c", "churn", 2, 3'000, true, "older-gate", 5)).ok());

  auto any = store_->Latest("churn", 2);
  ASSERT_TRUE(any.ok()) << any.status();
  ASSERT_TRUE(any->has_value());
  EXPECT_EQ((*any)->id, "ev-c");
  auto policy = store_->Latest("churn", 2, "gate");
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ((*policy)->id, "ev-b");
  auto v1 = store_->Latest("churn", 2, "gate", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*v1)->id, "ev-a");
  EXPECT_TRUE((*v1)->passed);
  auto none = store_->Latest("churn", 3, "gate");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, EvaluationStoreTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::cicd
