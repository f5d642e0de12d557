// ReadModelTrainingSet: a model monitor's reference resolved through the registry (alias or
// version) → the source run → its training-set input → the snapshot's rows; each missing
// link is an error naming it. Real TrackingStore and ModelRegistry (SQLite in memory); the
// snapshot loader is a fake.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "features/table.h"
#include "monitoring/monitors/monitor_io.h"
#include "storage/database.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::monitoring {
namespace {

using ::testing::HasSubstr;

constexpr char kSetA[] = "0123456789abcdef0123456789abcdef";
constexpr char kSetB[] = "fedcba9876543210fedcba9876543210";

features::Table SetRows(double base) {
  features::Table table;
  const int key = table.AddColumn("customer_id", features::FeatureType::kInt64);
  const int spend = table.AddColumn("customer_spend__amount", features::FeatureType::kDouble);
  const int plan = table.AddColumn("plan", features::FeatureType::kString);
  const int internal = table.AddColumn("__row", features::FeatureType::kInt64);
  for (int i = 0; i < 10; ++i) {
    table.columns[key].AppendInt(i);
    table.columns[spend].AppendDouble(base + i);
    table.columns[plan].AppendString(i % 2 ? "pro" : "basic");
    table.columns[internal].AppendInt(i);
  }
  return table;
}

class ModelReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto tracking = tracking::TrackingStore::Open(*db_, clock_);
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto experiment = tracking_->CreateExperiment("churn", "", {});
    ASSERT_TRUE(experiment.ok()) << experiment.status();
    experiment_ = *experiment;
    ASSERT_TRUE(registry_->CreateRegisteredModel("churn").ok());
    sets_[kSetA] = SetRows(0);
    sets_[kSetB] = SetRows(100);
  }

  // A run (with its training-set input given as `source`, if any) and a model version.
  int64_t Version(const std::string& source_type, const std::string& source) {
    auto run = tracking_->CreateRun({.experiment_id = experiment_});
    EXPECT_TRUE(run.ok()) << run.status();
    if (!source.empty()) {
      tracking::DatasetInput input;
      // (name, digest) identifies a dataset in an experiment: one digest per source.
      input.dataset = {.name = "training-set", .digest = std::to_string(std::hash<std::string>()(source)),
                       .source_type = source_type, .source = source};
      EXPECT_TRUE(tracking_->LogInputs(run->info.run_id, {input}).ok());
    }
    auto version = registry_->CreateModelVersion("churn", "models:/x", run->info.run_id);
    EXPECT_TRUE(version.ok()) << version.status();
    return version.ok() ? version->version : 0;
  }

  absl::StatusOr<StoredReference> Read(const MonitorReference& ref) {
    return ReadModelTrainingSet(
        *registry_, *tracking_,
        [this](const std::string& id) -> absl::StatusOr<features::Table> {
          auto it = sets_.find(id);
          if (it == sets_.end()) {
            return absl::NotFoundError("training set '" + id + "' does not exist");
          }
          return it->second;
        },
        ref, {});
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::string experiment_;
  std::map<std::string, features::Table> sets_;
};

TEST_F(ModelReferenceTest, TheAliasedVersionsTrainingSetIsTheReferenceAndFollowsPromotions) {
  const int64_t v1 = Version("cairn", std::string("cairn://training-sets/") + kSetA);
  // The SDK's form: an HTTP dataset whose URL is the snapshot on the server.
  const int64_t v2 = Version(
      "http", std::string(R"({"url": "http://cairn:8080/api/v1/features/training-sets/)") +
                  kSetB + "\"}");
  ASSERT_TRUE(registry_->SetAlias("churn", "production", v1).ok());
  const MonitorReference ref{.model = "churn", .model_alias = "production"};
  auto first = Read(ref);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->frame.has_value());
  EXPECT_EQ(first->frame->rows, 10);
  EXPECT_EQ(first->frame->Names(),
            (std::vector<std::string>{"customer_id", "amount", "plan"}));  // "__" left out
  EXPECT_EQ(first->frame->Find("amount")->numbers[3], 3);
  EXPECT_TRUE(first->frame->Find("plan")->categorical);
  EXPECT_EQ(first->source["model_version"], v1);
  EXPECT_EQ(first->source["training_set"], kSetA);

  ASSERT_TRUE(registry_->SetAlias("churn", "production", v2).ok());  // a promotion
  auto second = Read(ref);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->source["model_version"], v2);
  EXPECT_EQ(second->source["training_set"], kSetB);
  EXPECT_EQ(second->frame->Find("amount")->numbers[3], 103);

  auto by_version = Read({.model = "churn", .model_version = v1});
  ASSERT_TRUE(by_version.ok()) << by_version.status();
  EXPECT_EQ(by_version->source["training_set"], kSetA);
}

TEST_F(ModelReferenceTest, EachMissingLinkIsNamed) {
  auto no_alias = Read({.model = "churn", .model_alias = "production"});
  EXPECT_EQ(no_alias.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_alias.status().message(), HasSubstr("model 'churn' has no alias 'production'"));
  EXPECT_EQ(Read({.model = "nope", .model_alias = "production"}).status().code(),
            absl::StatusCode::kNotFound);

  const int64_t bare = Version("", "");
  auto no_input = Read({.model = "churn", .model_version = bare});
  EXPECT_EQ(no_input.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_input.status().message(), HasSubstr("has no training-set input"));
  EXPECT_THAT(no_input.status().message(), HasSubstr("model churn version 1"));

  const int64_t gone = Version("cairn", "cairn://training-sets/00000000000000000000000000000000");
  auto missing = Read({.model = "churn", .model_version = gone});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("training set 00000000000000000000000000000000 (the input of run"));

  auto unregistered = registry_->CreateModelVersion("churn", "models:/y");
  ASSERT_TRUE(unregistered.ok());
  auto no_run = Read({.model = "churn", .model_version = unregistered->version});
  EXPECT_THAT(no_run.status().message(), HasSubstr("was not registered from a run"));
}

}  // namespace
}  // namespace cairn::monitoring
