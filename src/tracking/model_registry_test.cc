// ModelRegistry against SQLite (always) and PostgreSQL (when CAIRN_TEST_POSTGRES_URL names a
// server), plus the registry search language.

#include "tracking/model_registry.h"

#include <unistd.h>

#include <atomic>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "storage/testing/test_databases.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tracking/registry_search.h"

namespace cairn::tracking {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

class ModelRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    std::string url = BackendUrl(GetParam());
    auto db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // PostgreSQL is shared between tests: start from an empty registry.
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS registry_models;"
                         "DROP TABLE IF EXISTS registry_model_tags;"
                         "DROP TABLE IF EXISTS registry_versions;"
                         "DROP TABLE IF EXISTS registry_version_tags;"
                         "DROP TABLE IF EXISTS registry_aliases;"
                         "DROP TABLE IF EXISTS registry_alias_history;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'registry'");
                   }).ok());
    auto registry = ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  ModelVersion MustCreateVersion(const std::string& name, const std::string& source = "s3://b/m",
                                 const std::string& run_id = "") {
    auto mv = registry_->CreateModelVersion(name, source, run_id);
    EXPECT_TRUE(mv.ok()) << mv.status();
    return mv.ok() ? *mv : ModelVersion();
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_P(ModelRegistryTest, RegisteredModelLifecycle) {
  auto created = registry_->CreateRegisteredModel("churn", "predicts churn",
                                                  {{"team", "growth"}, {"tier", "1"}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->name, "churn");
  EXPECT_EQ(created->creation_timestamp, clock_.NowMillis());
  EXPECT_EQ(created->last_updated_timestamp, clock_.NowMillis());
  EXPECT_EQ(created->description, "predicts churn");
  EXPECT_THAT(created->tags, ElementsAre(RegistryTag{"team", "growth"}, RegistryTag{"tier", "1"}));
  EXPECT_THAT(created->latest_versions, IsEmpty());

  EXPECT_EQ(registry_->CreateRegisteredModel("churn").status().code(),
            absl::StatusCode::kAlreadyExists);

  clock_.Advance(10);
  auto updated = registry_->UpdateRegisteredModel("churn", "v2 description");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->description, "v2 description");
  EXPECT_EQ(updated->last_updated_timestamp, clock_.NowMillis());
  EXPECT_EQ(updated->creation_timestamp, clock_.NowMillis() - 10);

  ASSERT_TRUE(registry_->SetRegisteredModelTag("churn", "team", "ml").ok());
  ASSERT_TRUE(registry_->DeleteRegisteredModelTag("churn", "tier").ok());
  ASSERT_TRUE(registry_->DeleteRegisteredModelTag("churn", "never-set").ok());
  auto got = registry_->GetRegisteredModel("churn");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->tags, ElementsAre(RegistryTag{"team", "ml"}));

  EXPECT_EQ(registry_->GetRegisteredModel("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->UpdateRegisteredModel("nope", "x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetRegisteredModelTag("nope", "k", "v").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(ModelRegistryTest, ModelNamesAreValidatedAsMlflowDoes) {
  for (const char* bad : {"", "   ", "a/b", "a:b", ".", "..", "..x"}) {
    auto status = registry_->CreateRegisteredModel(bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "name '" << bad << "'";
  }
  EXPECT_EQ(registry_->CreateRegisteredModel("").status().message(),
            "Missing value for required parameter 'name'.");
  EXPECT_EQ(registry_->CreateRegisteredModel("a/b").status().message(),
            "Invalid model name 'a/b'. Names cannot contain '/' or ':'.");
  EXPECT_TRUE(registry_->CreateRegisteredModel("ok name-1.x").ok());
  EXPECT_EQ(registry_->CreateRegisteredModel("m", std::nullopt, {{"bad\tkey", "v"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->CreateRegisteredModel("m", std::nullopt, {{std::string(251, 'k'), "v"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ModelRegistryTest, VersionLifecycle) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  clock_.Advance(5);
  auto v1 = registry_->CreateModelVersion("m", "runs:/abc/model", "abc", {{"k", "v"}},
                                          "http://link", "first",
                                          ModelVersionOptions{.model_id = "m-123"});
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->name, "m");
  EXPECT_EQ(v1->status, "READY");
  EXPECT_EQ(v1->current_stage, "None");
  EXPECT_EQ(v1->source, "runs:/abc/model");
  EXPECT_EQ(v1->run_id, "abc");
  EXPECT_EQ(v1->run_link, "http://link");
  EXPECT_EQ(v1->description, "first");
  EXPECT_EQ(v1->model_id, "m-123");
  EXPECT_EQ(v1->creation_timestamp, clock_.NowMillis());
  EXPECT_THAT(v1->tags, ElementsAre(RegistryTag{"k", "v"}));

  ModelVersion v2 = MustCreateVersion("m");
  EXPECT_EQ(v2.version, 2);
  EXPECT_FALSE(v2.run_id.has_value());
  EXPECT_FALSE(v2.description.has_value());
  EXPECT_EQ(registry_->GetRegisteredModel("m")->last_updated_timestamp, clock_.NowMillis());

  clock_.Advance(5);
  auto updated = registry_->UpdateModelVersion("m", 2, "better");
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->description, "better");
  EXPECT_EQ(updated->last_updated_timestamp, clock_.NowMillis());

  ASSERT_TRUE(registry_->SetModelVersionTag("m", 2, "stage", "qa").ok());
  ASSERT_TRUE(registry_->SetModelVersionTag("m", 2, "stage", "prod").ok());
  EXPECT_THAT(registry_->GetModelVersion("m", 2)->tags, ElementsAre(RegistryTag{"stage", "prod"}));
  ASSERT_TRUE(registry_->DeleteModelVersionTag("m", 2, "stage").ok());
  EXPECT_THAT(registry_->GetModelVersion("m", 2)->tags, IsEmpty());

  EXPECT_EQ(registry_->GetModelVersion("m", 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->GetModelVersion("m", 3).status().message(),
            "Model Version (name=m, version=3) not found");
  EXPECT_EQ(registry_->GetModelVersion("other", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->CreateModelVersion("other", "s3://x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->GetModelVersionDownloadUri("m", 1).value(), "runs:/abc/model");
}

TEST_P(ModelRegistryTest, DeletedVersionNumberIsNeverReused) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  MustCreateVersion("m");
  MustCreateVersion("m");
  ASSERT_TRUE(registry_->DeleteModelVersion("m", 2).ok());
  EXPECT_EQ(registry_->GetModelVersion("m", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->DeleteModelVersion("m", 2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MustCreateVersion("m").version, 3);
  auto page = registry_->SearchModelVersions({.filter = "name = 'm'"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->versions.size(), 2u);
}

TEST_P(ModelRegistryTest, ConcurrentCreatesGetUniqueConsecutiveVersions) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("busy").ok());
  constexpr int kThreads = 16;
  constexpr int kPerThread = 4;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(kThreads);
  std::atomic<int> failures{0};
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      for (int call_idx = 0; call_idx < kPerThread; ++call_idx) {
        auto mv = registry_->CreateModelVersion("busy", "s3://b/m");
        if (!mv.ok()) {
          ++failures;
          ADD_FAILURE() << mv.status();
          continue;
        }
        got[thread_idx].push_back(mv->version);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (const auto& versions : got) all.insert(versions.begin(), versions.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
}

TEST_P(ModelRegistryTest, AliasRules) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  MustCreateVersion("m");
  MustCreateVersion("m");
  for (const char* bad : {"", "has space", "a.b", "latest", "LATEST", "v1", "V22"}) {
    EXPECT_EQ(registry_->SetAlias("m", bad, 1).code(), absl::StatusCode::kInvalidArgument)
        << "alias '" << bad << "'";
  }
  EXPECT_EQ(registry_->SetAlias("m", std::string(256, 'a'), 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetAlias("m", "v1", 1).message(), "Version alias name 'v1' is reserved.");
  EXPECT_EQ(registry_->SetAlias("m", "champion", 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetAlias("nope", "champion", 1).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(registry_->SetAlias("m", "champion", 1).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "v1x-ok_2", 1).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "champion", 2).ok());  // moves, one target only
  auto by_alias = registry_->GetModelVersionByAlias("m", "champion");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(by_alias->version, 2);
  EXPECT_THAT(by_alias->aliases, ElementsAre("champion"));
  EXPECT_THAT(registry_->GetModelVersion("m", 1)->aliases, ElementsAre("v1x-ok_2"));
  EXPECT_THAT(registry_->GetRegisteredModel("m")->aliases,
              ElementsAre(RegisteredModelAlias{"champion", 2}, RegisteredModelAlias{"v1x-ok_2", 1}));
  EXPECT_EQ(registry_->GetModelVersionByAlias("m", "Latest")->version, 2);
  EXPECT_EQ(registry_->GetModelVersionByAlias("m", "missing").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->GetModelVersionByAlias("nope", "champion").status().code(),
            absl::StatusCode::kNotFound);

  ASSERT_TRUE(registry_->DeleteAlias("m", "champion").ok());
  ASSERT_TRUE(registry_->DeleteAlias("m", "champion").ok());  // absent: fine, as MLflow
  EXPECT_EQ(registry_->GetModelVersionByAlias("m", "champion").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->DeleteAlias("nope", "champion").code(), absl::StatusCode::kNotFound);

  // Deleting a version removes its aliases.
  ASSERT_TRUE(registry_->DeleteModelVersion("m", 1).ok());
  EXPECT_THAT(registry_->GetRegisteredModel("m")->aliases, IsEmpty());
}

TEST_P(ModelRegistryTest, AliasHistoryRecordsEveryMove) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  MustCreateVersion("m");
  MustCreateVersion("m");
  MustCreateVersion("m");
  int64_t t0 = clock_.NowMillis();
  ASSERT_TRUE(registry_->SetAlias("m", "production", 1, "alice", "first release").ok());
  clock_.Advance(1);
  ASSERT_TRUE(registry_->SetAlias("m", "production", 1, "alice", "no-op").ok());  // unchanged
  ASSERT_TRUE(registry_->SetAlias("m", "production", 2, "ci-bot", "gates passed").ok());
  clock_.Advance(1);
  ASSERT_TRUE(registry_->SetAlias("m", "staging", 3).ok());
  clock_.Advance(1);
  ASSERT_TRUE(registry_->DeleteAlias("m", "staging", "bob", "rollback").ok());
  ASSERT_TRUE(registry_->DeleteAlias("m", "staging", "bob", "again").ok());  // absent: no row

  ASSERT_TRUE(registry_->RenameRegisteredModel("m", "m2").ok());
  EXPECT_EQ(registry_->AliasHistory("m").status().code(), absl::StatusCode::kNotFound);
  auto history = registry_->AliasHistory("m2");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 4u);
  const AliasChange& deleted = (*history)[0];
  EXPECT_EQ(deleted.alias, "staging");
  EXPECT_EQ(deleted.from_version, 3);
  EXPECT_EQ(deleted.to_version, std::nullopt);
  EXPECT_EQ(deleted.actor, "bob");
  EXPECT_EQ(deleted.reason, "rollback");
  EXPECT_EQ(deleted.time, t0 + 3);
  EXPECT_EQ((*history)[1].alias, "staging");
  EXPECT_EQ((*history)[1].from_version, std::nullopt);
  EXPECT_EQ((*history)[1].to_version, 3);
  EXPECT_EQ((*history)[1].actor, "anonymous");
  const AliasChange& moved = (*history)[2];
  EXPECT_EQ(moved.from_version, 1);
  EXPECT_EQ(moved.to_version, 2);
  EXPECT_EQ(moved.actor, "ci-bot");
  EXPECT_EQ(moved.reason, "gates passed");
  EXPECT_EQ(moved.time, t0 + 1);
  const AliasChange& first = (*history)[3];
  EXPECT_EQ(first.from_version, std::nullopt);
  EXPECT_EQ(first.to_version, 1);
  EXPECT_EQ(first.time, t0);

  // Deleting a version records the removal of its aliases.
  ASSERT_TRUE(registry_->DeleteModelVersion("m2", 2).ok());
  history = registry_->AliasHistory("m2");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 5u);
  EXPECT_EQ((*history)[0].alias, "production");
  EXPECT_EQ((*history)[0].from_version, 2);
  EXPECT_EQ((*history)[0].to_version, std::nullopt);
  EXPECT_EQ((*history)[0].actor, "system");
}

TEST_P(ModelRegistryTest, ConcurrentAliasMovesKeepAnUnbrokenHistoryChain) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  for (int idx = 0; idx < 4; ++idx) MustCreateVersion("m");
  constexpr int kThreads = 8;
  constexpr int kMovesPerThread = 10;
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      for (int move_idx = 0; move_idx < kMovesPerThread; ++move_idx) {
        int64_t version = 1 + (thread_idx + move_idx) % 4;
        absl::Status status =
            registry_->SetAlias("m", "production", version, "t" + std::to_string(thread_idx));
        EXPECT_TRUE(status.ok()) << status;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto history = registry_->AliasHistory("m");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_FALSE(history->empty());
  // Oldest first: each change starts where the previous one ended, and the last one ends
  // where the alias points now.
  std::vector<AliasChange> chain(history->rbegin(), history->rend());
  EXPECT_EQ(chain.front().from_version, std::nullopt);
  for (size_t idx = 1; idx < chain.size(); ++idx) {
    EXPECT_EQ(chain[idx].from_version, chain[idx - 1].to_version) << "change " << idx;
    EXPECT_NE(chain[idx].from_version, chain[idx].to_version) << "change " << idx;
  }
  EXPECT_EQ(chain.back().to_version,
            registry_->GetModelVersionByAlias("m", "production").value().version);
}

TEST_P(ModelRegistryTest, MixedConcurrentWritesOnOneModelAllSucceed) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  MustCreateVersion("m");
  MustCreateVersion("m");
  constexpr int kRounds = 8;
  std::vector<std::function<absl::Status(int)>> writers = {
      [&](int) { return registry_->CreateModelVersion("m", "s3://b/x").status(); },
      [&](int round) { return registry_->SetAlias("m", "prod", 1 + round % 2, "a"); },
      [&](int round) {
        return registry_
            ->TransitionModelVersionStage("m", 1 + round % 2, "Production", /*archive=*/true)
            .status();
      },
      [&](int round) {
        return registry_->SetModelVersionTag("m", 1, "round", std::to_string(round));
      },
      [&](int round) {
        return registry_->UpdateModelVersion("m", 2, "d" + std::to_string(round)).status();
      },
      [&](int) {
        auto mv = registry_->CreateModelVersion("m", "s3://b/tmp");
        if (!mv.ok()) return mv.status();
        absl::Status aliased = registry_->SetAlias("m", "tmp", mv->version);
        if (!aliased.ok()) return aliased;
        return registry_->DeleteModelVersion("m", mv->version);
      },
      [&](int round) {
        return registry_->SetRegisteredModelTag("m", "round", std::to_string(round));
      },
  };
  std::vector<std::thread> threads;
  for (size_t writer_idx = 0; writer_idx < writers.size(); ++writer_idx) {
    threads.emplace_back([&, writer_idx] {
      for (int round = 0; round < kRounds; ++round) {
        absl::Status status = writers[writer_idx](round);
        EXPECT_TRUE(status.ok()) << "writer " << writer_idx << ": " << status;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto versions = registry_->SearchModelVersions({.filter = "name = 'm'"});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->versions.size(), static_cast<size_t>(2 + kRounds));
  auto production = registry_->GetLatestVersions("m", {"Production"});
  ASSERT_TRUE(production.ok());
  EXPECT_EQ(production->size(), 1u);
}

TEST_P(ModelRegistryTest, RenameMovesVersionsAndRefusesTakenNames) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("a").ok());
  ASSERT_TRUE(registry_->CreateRegisteredModel("b").ok());
  MustCreateVersion("a");
  ASSERT_TRUE(registry_->SetAlias("a", "prod", 1).ok());
  EXPECT_EQ(registry_->RenameRegisteredModel("a", "b").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_->RenameRegisteredModel("zz", "c").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->RenameRegisteredModel("a", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto renamed = registry_->RenameRegisteredModel("a", "c");
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->name, "c");
  ASSERT_EQ(renamed->latest_versions.size(), 1u);
  EXPECT_EQ(renamed->latest_versions[0].name, "c");
  EXPECT_EQ(registry_->GetModelVersion("c", 1)->name, "c");
  EXPECT_EQ(registry_->GetModelVersionByAlias("c", "prod")->version, 1);
  EXPECT_EQ(registry_->GetRegisteredModel("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MustCreateVersion("c").version, 2);
}

TEST_P(ModelRegistryTest, DeleteModelCascades) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m", std::nullopt, {{"k", "v"}}).ok());
  MustCreateVersion("m");
  ASSERT_TRUE(registry_->SetModelVersionTag("m", 1, "k", "v").ok());
  ASSERT_TRUE(registry_->SetAlias("m", "prod", 1).ok());
  ASSERT_TRUE(registry_->DeleteRegisteredModel("m").ok());
  EXPECT_EQ(registry_->GetRegisteredModel("m").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->DeleteRegisteredModel("m").code(), absl::StatusCode::kNotFound);
  // A new model with the same name starts from scratch.
  auto again = registry_->CreateRegisteredModel("m");
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->tags, IsEmpty());
  EXPECT_THAT(again->aliases, IsEmpty());
  EXPECT_EQ(MustCreateVersion("m").version, 1);
  EXPECT_THAT(registry_->GetModelVersion("m", 1)->tags, IsEmpty());
  EXPECT_THAT(registry_->AliasHistory("m").value(), IsEmpty());
  auto versions = registry_->SearchModelVersions({});
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->versions.size(), 1u);
}

TEST_P(ModelRegistryTest, StagesAndLatestVersions) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("m").ok());
  for (int idx = 0; idx < 4; ++idx) MustCreateVersion("m");
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", 1, "production", false).ok());
  auto staged = registry_->TransitionModelVersionStage("m", 2, "Staging", false);
  ASSERT_TRUE(staged.ok());
  EXPECT_EQ(staged->current_stage, "Staging");
  EXPECT_EQ(registry_->TransitionModelVersionStage("m", 1, "Prod", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->TransitionModelVersionStage("m", 1, "None", true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->TransitionModelVersionStage("m", 9, "None", false).status().code(),
            absl::StatusCode::kNotFound);
  // Version 3 to Production archives version 1.
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", 3, "Production", true).ok());
  EXPECT_EQ(registry_->GetModelVersion("m", 1)->current_stage, "Archived");

  auto latest = registry_->GetLatestVersions("m");
  ASSERT_TRUE(latest.ok());
  std::vector<std::pair<int64_t, std::string>> got;
  for (const ModelVersion& mv : *latest) got.emplace_back(mv.version, mv.current_stage);
  EXPECT_THAT(got, ElementsAre(std::pair<int64_t, std::string>{1, "Archived"},
                               std::pair<int64_t, std::string>{2, "Staging"},
                               std::pair<int64_t, std::string>{3, "Production"},
                               std::pair<int64_t, std::string>{4, "None"}));
  auto production = registry_->GetLatestVersions("m", {"production"});
  ASSERT_TRUE(production.ok());
  ASSERT_EQ(production->size(), 1u);
  EXPECT_EQ((*production)[0].version, 3);
  EXPECT_EQ(registry_->GetLatestVersions("m", {"bogus"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->GetRegisteredModel("m")->latest_versions.size(), 4u);
}

TEST_P(ModelRegistryTest, SearchRegisteredModelsFiltersOrdersAndPages) {
  for (const char* name : {"churn-a", "churn-b", "Churn-C", "fraud"}) {
    clock_.Advance(1);
    ASSERT_TRUE(registry_->CreateRegisteredModel(name).ok());
  }
  ASSERT_TRUE(registry_->SetRegisteredModelTag("churn-b", "team", "growth").ok());
  ASSERT_TRUE(registry_->SetRegisteredModelTag("fraud", "team", "risk").ok());
  ASSERT_TRUE(registry_->CreateRegisteredModel("prompt-1", std::nullopt,
                                               {{"mlflow.prompt.is_prompt", "true"}})
                  .ok());

  auto names = [&](const SearchRegistryRequest& request) {
    std::vector<std::string> out;
    auto page = registry_->SearchRegisteredModels(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok())
      for (const auto& model : page->models) out.push_back(model.name);
    return out;
  };
  EXPECT_THAT(names({}), ElementsAre("Churn-C", "churn-a", "churn-b", "fraud"));
  EXPECT_THAT(names({.filter = "name = 'fraud'"}), ElementsAre("fraud"));
  EXPECT_THAT(names({.filter = "name != 'fraud'"}), ElementsAre("Churn-C", "churn-a", "churn-b"));
  EXPECT_THAT(names({.filter = "name LIKE 'churn%'"}), ElementsAre("churn-a", "churn-b"));
  EXPECT_THAT(names({.filter = "name ILIKE 'churn%'"}),
              ElementsAre("Churn-C", "churn-a", "churn-b"));
  EXPECT_THAT(names({.filter = "name IN ('fraud', 'churn-a')"}), ElementsAre("churn-a", "fraud"));
  EXPECT_THAT(names({.filter = "tags.team = 'growth'"}), ElementsAre("churn-b"));
  EXPECT_THAT(names({.filter = "tags.team LIKE '%' and name ilike '%U%'"}),
              ElementsAre("churn-b", "fraud"));
  EXPECT_THAT(names({.filter = "tags.`mlflow.prompt.is_prompt` = 'true'"}),
              ElementsAre("prompt-1"));
  EXPECT_THAT(names({.order_by = {"creation_timestamp DESC"}}),
              ElementsAre("fraud", "Churn-C", "churn-b", "churn-a"));
  EXPECT_THAT(names({.order_by = {"name DESC"}}),
              ElementsAre("fraud", "churn-b", "churn-a", "Churn-C"));

  // Paging: a page of 3, then the last one.
  auto first = registry_->SearchRegisteredModels({.max_results = 3});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->models.size(), 3u);
  ASSERT_FALSE(first->next_page_token.empty());
  auto second =
      registry_->SearchRegisteredModels({.max_results = 3, .page_token = first->next_page_token});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->models.size(), 1u);
  EXPECT_EQ(second->models[0].name, "fraud");
  EXPECT_TRUE(second->next_page_token.empty());
  // A token past the end (e.g. from before deletions) gives an empty last page.
  auto past_end = registry_->SearchRegisteredModels(
      {.max_results = 3, .page_token = EncodePageToken(int64_t{1} << 62)});
  ASSERT_TRUE(past_end.ok()) << past_end.status();
  EXPECT_THAT(past_end->models, IsEmpty());
  EXPECT_TRUE(past_end->next_page_token.empty());

  for (SearchRegistryRequest bad :
       {SearchRegistryRequest{.filter = "run_id = 'x'"},
        SearchRegistryRequest{.filter = "name = 'a' OR name = 'b'"},
        SearchRegistryRequest{.filter = "name > 'a'"},
        SearchRegistryRequest{.filter = "tags.x IN ('a')"},
        SearchRegistryRequest{.filter = "name = "},
        SearchRegistryRequest{.filter = "name = 'unterminated"},
        SearchRegistryRequest{.max_results = 1001},
        SearchRegistryRequest{.max_results = -1},
        SearchRegistryRequest{.order_by = {"version_number"}},
        SearchRegistryRequest{.order_by = {"name sideways"}},
        SearchRegistryRequest{.order_by = {"name", "name DESC"}},
        SearchRegistryRequest{.page_token = "%%%"}}) {
    EXPECT_EQ(registry_->SearchRegisteredModels(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad.filter;
  }
}

TEST_P(ModelRegistryTest, SearchModelVersionsFiltersOrdersAndPages) {
  ASSERT_TRUE(registry_->CreateRegisteredModel("a").ok());
  ASSERT_TRUE(registry_->CreateRegisteredModel("b").ok());
  clock_.Advance(1);
  MustCreateVersion("a", "s3://bucket/a1", "run1");
  clock_.Advance(1);
  MustCreateVersion("a", "s3://bucket/a2", "run2");
  clock_.Advance(1);
  MustCreateVersion("b", "gs://other/b1", "run1");
  ASSERT_TRUE(registry_->SetModelVersionTag("a", 2, "quality", "high").ok());

  auto keys = [&](const SearchRegistryRequest& request) {
    std::vector<std::string> out;
    auto page = registry_->SearchModelVersions(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok())
      for (const auto& mv : page->versions)
        out.push_back(mv.name + "/" + std::to_string(mv.version));
    return out;
  };
  // Default order: last_updated_timestamp DESC, name ASC, version DESC.
  EXPECT_THAT(keys({}), ElementsAre("b/1", "a/2", "a/1"));
  EXPECT_THAT(keys({.filter = "name = 'a'"}), ElementsAre("a/2", "a/1"));
  EXPECT_THAT(keys({.filter = "run_id = 'run1'"}), ElementsAre("b/1", "a/1"));
  EXPECT_THAT(keys({.filter = "run_id IN ('run2', 'zzz')"}), ElementsAre("a/2"));
  EXPECT_THAT(keys({.filter = "source_path LIKE 's3://%'"}), ElementsAre("a/2", "a/1"));
  EXPECT_THAT(keys({.filter = "version_number >= 2"}), ElementsAre("a/2"));
  EXPECT_THAT(keys({.filter = "tags.quality = 'high'"}), ElementsAre("a/2"));
  EXPECT_THAT(keys({.filter = "name = 'a' AND version_number = 1"}), ElementsAre("a/1"));
  EXPECT_THAT(keys({.order_by = {"name ASC", "version_number ASC"}}),
              ElementsAre("a/1", "a/2", "b/1"));

  auto first = registry_->SearchModelVersions({.max_results = 2});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->versions.size(), 2u);
  auto second =
      registry_->SearchModelVersions({.max_results = 2, .page_token = first->next_page_token});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->versions.size(), 1u);
  EXPECT_EQ(second->versions[0].name, "a");
  EXPECT_EQ(second->versions[0].version, 1);
  EXPECT_TRUE(second->next_page_token.empty());

  for (const char* bad : {"source_path IN ('a')", "version_number LIKE '1'", "stage = 'x'",
                          "tags.k > 'a'", "name = 3"}) {
    EXPECT_EQ(registry_->SearchModelVersions({.filter = bad}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(registry_->SearchModelVersions({.max_results = 200'001}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, ModelRegistryTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(RegistrySearchTest, LikeMatchesSqlSemantics) {
  EXPECT_TRUE(RegistryLikeMatch("churn-model", "churn%", false));
  EXPECT_TRUE(RegistryLikeMatch("churn-model", "%model", false));
  EXPECT_TRUE(RegistryLikeMatch("churn-model", "c_urn%", false));
  EXPECT_TRUE(RegistryLikeMatch("", "%", false));
  EXPECT_FALSE(RegistryLikeMatch("Churn", "churn", false));
  EXPECT_TRUE(RegistryLikeMatch("Churn", "churn", true));
  EXPECT_FALSE(RegistryLikeMatch("abc", "a_", false));
  EXPECT_TRUE(RegistryLikeMatch("aXbXc", "%b%c", false));
}

TEST(RegistrySearchTest, ParsesQuotedKeysAndLists) {
  auto clauses = ParseRegistryFilter(
      "tags.`a.b` = \"x\" and tags.\"c d\" != 'y' AND run_id NOT IN ('r1','r2')",
      RegistrySearchTarget::kModelVersions);
  ASSERT_TRUE(clauses.ok()) << clauses.status();
  ASSERT_EQ(clauses->size(), 3u);
  EXPECT_TRUE((*clauses)[0].is_tag);
  EXPECT_EQ((*clauses)[0].key, "a.b");
  EXPECT_EQ(std::get<std::string>((*clauses)[0].value), "x");
  EXPECT_EQ((*clauses)[1].key, "c d");
  EXPECT_EQ((*clauses)[2].op, "NOT IN");
  EXPECT_THAT(std::get<std::vector<std::string>>((*clauses)[2].value), ElementsAre("r1", "r2"));
  EXPECT_EQ(ParseRegistryFilter("name = 'a'", RegistrySearchTarget::kRegisteredModels)
                ->front()
                .key,
            "name");
  EXPECT_EQ(ParseRegistryFilter("foo = 'a'", RegistrySearchTarget::kRegisteredModels)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RegistrySearchTest, PageTokensRoundTripAndRejectGarbage) {
  EXPECT_EQ(DecodePageToken(EncodePageToken(300)).value(), 300);
  EXPECT_EQ(DecodePageToken("").value(), 0);
  EXPECT_EQ(DecodePageToken("not base64!").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken("e30=").status().code(),  // {}
            absl::StatusCode::kInvalidArgument);
}

TEST(RegistryValidationTest, VersionsParseAsIntegers) {
  EXPECT_EQ(ParseModelVersion("12").value(), 12);
  EXPECT_EQ(ParseModelVersion("x").status().message(),
            "Parameter 'version' must be an integer, got 'x'.");
}

}  // namespace
}  // namespace cairn::tracking
