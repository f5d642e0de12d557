#include "serving/endpoint_registry.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/endpoint_json.h"
#include "serving/endpoint_yaml.h"
#include "storage/database.h"
#include "storage/testing/old_definition_tables.h"
#include "storage/testing/test_databases.h"

namespace cairn::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-endpoint-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

EndpointSpec Spec(const std::string& name, const std::string& model = "churn@production",
                  const std::string& extra = "") {
  std::string text =
      absl::StrCat("kind: Endpoint\nname: ", name, "\nmodel: ", model, "\n", extra);
  auto parsed = ParseEndpointsYaml(text, name + ".yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? (*parsed)[0] : EndpointSpec();
}

std::vector<std::string> Summary(const std::vector<EndpointChange>& changes) {
  std::vector<std::string> out;
  for (const EndpointChange& c : changes) {
    out.push_back(absl::StrCat(c.action, " ", c.name, " ",
                               c.old_version ? std::to_string(*c.old_version) : "-", "->",
                               c.new_version ? std::to_string(*c.new_version) : "-"));
  }
  return out;
}

// Drops the component's tables so each test (and each PostgreSQL run) starts empty.
void ResetEndpointTables(storage::Database& db) {
  ASSERT_TRUE(db.Write([](storage::SqlSession& s) {
                  return s.ExecuteScript(
                      "DROP TABLE IF EXISTS endpoints;"
                      "DROP TABLE IF EXISTS endpoint_versions;"
                      "DROP TABLE IF EXISTS endpoint_rollouts;"
                      "DROP TABLE IF EXISTS endpoint_events;"
                      "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                      " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                      "NULL, PRIMARY KEY (component, version));"
                      "DELETE FROM schema_migrations WHERE component = 'serving_endpoints'");
                }).ok());
}

class EndpointRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ResetEndpointTables(*db_);
    auto registry = EndpointRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  std::vector<EndpointChange> MustApply(const std::vector<EndpointSpec>& specs,
                                        bool dry_run = false, bool prune = false) {
    auto changes = registry_->Apply(specs, dry_run, prune);
    EXPECT_TRUE(changes.ok()) << changes.status();
    return changes.ok() ? *changes : std::vector<EndpointChange>();
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EndpointRegistry> registry_;
};

TEST_P(EndpointRegistryTest, VersionsOnlyOnContentChange) {
  EXPECT_THAT(Summary(MustApply({Spec("a"), Spec("b")})),
              ElementsAre("added a -->1", "added b -->1"));
  clock_.Advance(1000);
  EndpointSpec same = Spec("a");
  same.file = "moved.yaml";
  same.line = 40;
  auto changes = MustApply({same, Spec("b", "churn@production", "rollout: {version: 4}\n")});
  EXPECT_THAT(Summary(changes), ElementsAre("unchanged a 1->1", "changed b 1->2"));
  ASSERT_EQ(changes[1].diffs.size(), 1u);
  EXPECT_EQ(changes[1].diffs[0]["path"], "rollout");
  EXPECT_EQ(changes[1].diffs[0]["old"], nullptr);

  auto b = registry_->Get("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version, 2);
  ASSERT_TRUE(b->spec.rollout.has_value());
  EXPECT_EQ(b->spec.rollout->version, 4);
  EXPECT_EQ(b->created_ms, clock_.NowMillis());
  EXPECT_EQ(b->spec.file, "registry (b v2)");
  auto b1 = registry_->Get("b", 1);
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_FALSE(b1->spec.rollout.has_value());
  EXPECT_EQ(b1->spec.alias, "production");
  EXPECT_NE(b1->content_hash, b->content_hash);
  EXPECT_EQ(b1->content_hash.size(), 64u);

  // A changed field shows as a diff with its path.
  auto pinned = MustApply({Spec("a", "churn/5")});
  EXPECT_THAT(Summary(pinned), ElementsAre("changed a 1->2"));
  std::vector<std::string> paths;
  for (const Json& diff : pinned[0].diffs) paths.push_back(diff["path"].get<std::string>());
  EXPECT_THAT(paths, ElementsAre("alias", "version"));

  auto missing = registry_->Get("b", 7);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("endpoint 'b' has no version 7: its versions are 1 to 2"));
  auto unknown = registry_->Get("zz");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("endpoint 'zz' is not registered"));
}

TEST_P(EndpointRegistryTest, DryRunWritesNothingAndPruneRemoves) {
  EXPECT_THAT(Summary(MustApply({Spec("a")}, /*dry_run=*/true)), ElementsAre("added a -->1"));
  EXPECT_EQ(registry_->Get("a").status().code(), absl::StatusCode::kNotFound);
  MustApply({Spec("a"), Spec("b")});
  EXPECT_THAT(Summary(MustApply({Spec("b")}, false, /*prune=*/true)),
              ElementsAre("unchanged b 1->1", "removed a 1->-"));
  auto list = registry_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "b");
  auto a = registry_->Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->removed);
  // Applied again unchanged: back, without a new version.
  EXPECT_THAT(Summary(MustApply({Spec("a")})), ElementsAre("added a 1->1"));
  EXPECT_FALSE(registry_->Get("a")->removed);
}

TEST_P(EndpointRegistryTest, OneNameTwiceInAnApplyIsRefused) {
  auto changes = registry_->Apply({Spec("a"), Spec("a", "churn/2")}, false, false);
  EXPECT_EQ(changes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(changes.status().message(),
              HasSubstr("a.yaml:1: endpoint a: defined twice in this apply (also at a.yaml:1)"));
}

TEST_P(EndpointRegistryTest, JsonForms) {
  auto changes = MustApply({Spec("a")});
  EXPECT_EQ(DumpJson(EndpointChangeToJson(changes[0])),
            R"({"action":"added","diffs":[],"name":"a","new_version":1,"old_version":null})");
  auto a = registry_->Get("a");
  ASSERT_TRUE(a.ok());
  Json json = EndpointVersionToJson(*a);
  EXPECT_EQ(json["name"], "a");
  EXPECT_EQ(json["version"], 1);
  EXPECT_EQ(json["removed"], false);
  EXPECT_EQ(json["spec"]["model"], "churn");
  EXPECT_EQ(json["spec"]["alias"], "production");
}

TEST_P(EndpointRegistryTest, OpenTwiceIsIdempotent) {
  MustApply({Spec("a")});
  auto again = EndpointRegistry::Open(*db_, clock_);
  ASSERT_TRUE(again.ok()) << again.status();
  auto a = (*again)->Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->version, 1);
}

// A database written before the registries shared storage/definition_store.h: the
// registry's tables of migration 1 as they were, rows as the old Apply wrote them
// (canonical text, its SHA-256). It opens, shows its versions, and an unchanged apply
// makes no version.
TEST_P(EndpointRegistryTest, ReadsADatabaseWrittenBeforeTheSharedDefinitionStore) {
  std::vector<storage::test_support::OldDefinitionRow> rows;
  const std::vector<EndpointSpec> old = {Spec("a"), Spec("a", "churn@staging"), Spec("gone")};
  for (size_t i = 0; i < old.size(); ++i) {
    const std::string text = DumpJson(EndpointSpecToJson(old[i]));
    rows.push_back({old[i].name, i == 1 ? 2 : 1, Sha256Hex(text), text, old[i].name == "gone"});
  }
  ASSERT_TRUE(db_->Write([&](storage::SqlSession& s) {
                   return storage::test_support::WriteOldDefinitionTables(
                       s, "endpoints", "endpoint_versions", /*with_model=*/false, rows);
                 })
                  .ok());
  auto reopened = EndpointRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = std::move(*reopened);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].version, 2);
  EXPECT_EQ((*list)[0].spec.file, "registry (a v2)");
  auto v1 = registry_->Get("a", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(EndpointSpecToJson(v1->spec), EndpointSpecToJson(old[0]));
  EXPECT_EQ(v1->created_ms, 1000);
  EXPECT_TRUE(registry_->Get("gone")->removed);
  EXPECT_THAT(Summary(MustApply({Spec("a", "churn@staging")})),
              ElementsAre("unchanged a 2->2"));
  auto changed = MustApply({Spec("a")});
  EXPECT_THAT(Summary(changed), ElementsAre("changed a 2->3"));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_FALSE(changed[0].diffs.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, EndpointRegistryTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::serving
