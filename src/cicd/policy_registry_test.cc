#include "cicd/policy_registry.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cicd/policy_json.h"
#include "cicd/policy_yaml.h"
#include "common/sha256.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/old_definition_tables.h"
#include "storage/testing/test_databases.h"

namespace cairn::cicd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-policy-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

PolicySpec Spec(const std::string& name, const std::string& model = "churn",
                const std::string& gate = "{check: loads}") {
  std::string text =
      absl::StrCat("kind: Policy\nname: ", name, "\nmodel: ", model, "\ngates: [", gate, "]\n");
  auto parsed = ParsePoliciesYaml(text, name + ".yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? (*parsed)[0] : PolicySpec();
}

std::vector<std::string> Summary(const std::vector<PolicyChange>& changes) {
  std::vector<std::string> out;
  for (const PolicyChange& c : changes) {
    out.push_back(absl::StrCat(c.action, " ", c.name, " ",
                               c.old_version ? std::to_string(*c.old_version) : "-", "->",
                               c.new_version ? std::to_string(*c.new_version) : "-"));
  }
  return out;
}

class PolicyRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS cicd_policies;"
                         "DROP TABLE IF EXISTS cicd_policy_versions;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'cicd_policies'");
                   })
                    .ok());
    auto registry = PolicyRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  FakeClock clock_{1'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<PolicyRegistry> registry_;
};

TEST_P(PolicyRegistryTest, VersionsOnlyChangedContent) {
  auto first = registry_->Apply({Spec("a"), Spec("b", "other")}, false, false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Summary(*first), ElementsAre("added a -->1", "added b -->1"));

  clock_.Advance(1'000);
  auto again = registry_->Apply({Spec("a"), Spec("b", "other", "{check: size_mb, max: 10}")},
                                false, false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(Summary(*again), ElementsAre("unchanged a 1->1", "changed b 1->2"));
  EXPECT_FALSE((*again)[1].diffs.empty());

  auto latest = registry_->Get("b");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->created_ms, 2'000);
  EXPECT_EQ(latest->spec.gates[0].name, "size_mb");
  EXPECT_EQ(latest->spec.file, "registry (b v2)");
  EXPECT_EQ(latest->content_hash.size(), 64u);
  auto v1 = registry_->Get("b", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->spec.gates[0].name, "loads");
  EXPECT_EQ(v1->spec, Spec("b", "other"));

  auto missing = registry_->Get("b", 7);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "policy 'b' has no version 7: its versions are 1 to 2");
  auto unknown = registry_->Get("zzz");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("policy 'zzz' is not registered"));
}

TEST_P(PolicyRegistryTest, DryRunWritesNothing) {
  auto plan = registry_->Apply({Spec("a")}, true, false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Summary(*plan), ElementsAre("added a -->1"));
  EXPECT_EQ(registry_->Get("a").status().code(), absl::StatusCode::kNotFound);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_P(PolicyRegistryTest, PruneRemovesAndForModelFollows) {
  ASSERT_TRUE(registry_->Apply({Spec("a"), Spec("b", "other")}, false, false).ok());
  auto governing = registry_->ForModel("churn");
  ASSERT_TRUE(governing.ok()) << governing.status();
  EXPECT_EQ(governing->name, "a");
  EXPECT_EQ(governing->version, 1);

  auto pruned = registry_->Apply({Spec("b", "other")}, false, true);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(Summary(*pruned), ElementsAre("unchanged b 1->1", "removed a 1->-"));
  auto none = registry_->ForModel("churn");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(),
            "no policy governs model 'churn': apply a kind: Policy with model: churn (cairn "
            "apply FILE)");
  auto removed = registry_->Get("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->removed);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "b");

  // Re-applying a removed policy brings it back as "added" with a new version only when
  // its content changed.
  auto back = registry_->Apply({Spec("a")}, false, false);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(Summary(*back), ElementsAre("added a 1->1"));
  EXPECT_TRUE(registry_->ForModel("churn").ok());
}

TEST_P(PolicyRegistryTest, TwoPoliciesForOneModelAreRefused) {
  auto in_one_apply = registry_->Apply({Spec("a"), Spec("b")}, false, false);
  ASSERT_FALSE(in_one_apply.ok());
  EXPECT_EQ(in_one_apply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(in_one_apply.status().message(),
            "b.yaml:1: policy b: model 'churn' is already governed by policy a in this apply "
            "(a.yaml:1): one policy per model; merge their gates into one");

  ASSERT_TRUE(registry_->Apply({Spec("a")}, false, false).ok());
  auto against_registered = registry_->Apply({Spec("b")}, false, false);
  ASSERT_FALSE(against_registered.ok());
  EXPECT_EQ(against_registered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(against_registered.status().message(),
            "b.yaml:1: policy b: model 'churn' is already governed by registered policy a (v1): "
            "one policy per model; change that policy, or apply this one with --prune without "
            "it");
  EXPECT_EQ(registry_->Get("b").status().code(), absl::StatusCode::kNotFound);
  // Also refused by a dry run: the plan must show what the apply would do.
  EXPECT_FALSE(registry_->Apply({Spec("b")}, true, false).ok());
  // With prune, a replaces b: allowed.
  auto replaced = registry_->Apply({Spec("b")}, false, true);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_THAT(Summary(*replaced), ElementsAre("added b -->1", "removed a 1->-"));
  auto governing = registry_->ForModel("churn");
  ASSERT_TRUE(governing.ok());
  EXPECT_EQ(governing->name, "b");
  // Moving a policy to another model frees the first.
  ASSERT_TRUE(registry_->Apply({Spec("b", "other"), Spec("a")}, false, false).ok());
  EXPECT_EQ(registry_->ForModel("churn")->name, "a");
  EXPECT_EQ(registry_->ForModel("other")->name, "b");
}

TEST_P(PolicyRegistryTest, DuplicateNamesInOneApply) {
  auto result = registry_->Apply({Spec("a"), Spec("a", "other")}, false, false);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("policy a: is defined twice in this apply"));
}

TEST_P(PolicyRegistryTest, ReopenKeepsVersions) {
  ASSERT_TRUE(registry_->Apply({Spec("a")}, false, false).ok());
  auto reopened = PolicyRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto got = (*reopened)->Get("a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version, 1);
  const Json json = PolicyVersionToJson(*got);
  EXPECT_EQ(json.at("name"), "a");
  EXPECT_EQ(json.at("version"), 1);
  EXPECT_EQ(json.at("spec").at("model"), "churn");
  PolicyChange change{.action = "added", .name = "a", .new_version = 1};
  EXPECT_EQ(DumpJson(PolicyChangeToJson(change)),
            R"({"action":"added","diffs":[],"name":"a","new_version":1,"old_version":null})");
}

// A database written before the registries shared storage/definition_store.h: the schema
// of migration 1 as it was, rows as the old Apply wrote them (canonical text, its SHA-256,
// the model). It opens, shows its versions, ForModel finds them, an unchanged apply makes
// no version, and a second policy for a registered model is still refused.
TEST_P(PolicyRegistryTest, ReadsADatabaseWrittenBeforeTheSharedDefinitionStore) {
  std::vector<storage::test_support::OldDefinitionRow> rows;
  const std::vector<PolicySpec> old = {Spec("a"), Spec("a", "churn", "{check: size_mb, max: 9}"),
                                       Spec("gone", "other")};
  for (size_t i = 0; i < old.size(); ++i) {
    const std::string text = DumpJson(PolicySpecToJson(old[i]));
    rows.push_back(
        {old[i].name, i == 1 ? 2 : 1, Sha256Hex(text), text, old[i].name == "gone", old[i].model});
  }
  ASSERT_TRUE(db_->Write([&](storage::SqlSession& s) {
                   return storage::test_support::WriteOldDefinitionTables(
                       s, "cicd_policies", "cicd_policy_versions", /*with_model=*/true, rows);
                 })
                  .ok());
  auto reopened = PolicyRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = std::move(*reopened);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].version, 2);
  EXPECT_EQ((*list)[0].spec.file, "registry (a v2)");
  auto governing = registry_->ForModel("churn");
  ASSERT_TRUE(governing.ok()) << governing.status();
  EXPECT_EQ(governing->name, "a");
  EXPECT_EQ(registry_->ForModel("other").status().code(), absl::StatusCode::kNotFound);
  auto v1 = registry_->Get("a", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(PolicySpecToJson(v1->spec), PolicySpecToJson(old[0]));
  EXPECT_TRUE(registry_->Get("gone")->removed);
  auto unchanged = registry_->Apply({old[1]}, false, false);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_THAT(Summary(*unchanged), ElementsAre("unchanged a 2->2"));
  auto second = registry_->Apply({Spec("b")}, false, false);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(second.status().message(), HasSubstr("registered policy a (v2)"));
}

INSTANTIATE_TEST_SUITE_P(Backends, PolicyRegistryTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::cicd
