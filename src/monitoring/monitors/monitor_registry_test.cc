#include "monitoring/monitors/monitor_registry.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "storage/database.h"
#include "storage/testing/old_definition_tables.h"
#include "storage/testing/test_databases.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-monitor-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

MonitorSpec Spec(const std::string& name, const std::string& test = "ks") {
  std::string text = absl::StrCat("kind: Monitor\nname: ", name,
                                  "\ntarget: {feature_view: v, window: 1d}\nreference: {path: "
                                  "r.csv}\ntests: {default: ",
                                  test, "}\n");
  auto parsed = ParseMonitorsYaml(text, name + ".yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? (*parsed)[0] : MonitorSpec();
}

std::vector<std::string> Summary(const std::vector<MonitorChange>& changes) {
  std::vector<std::string> out;
  for (const MonitorChange& c : changes) {
    out.push_back(absl::StrCat(c.action, " ", c.name, " ",
                               c.old_version ? std::to_string(*c.old_version) : "-", "->",
                               c.new_version ? std::to_string(*c.new_version) : "-"));
  }
  return out;
}

class MonitorRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS monitors;"
                         "DROP TABLE IF EXISTS monitor_versions;"
                         "DROP TABLE IF EXISTS monitor_runs;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'monitoring_monitors'");
                   }).ok());
    auto registry = MonitorRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  std::vector<MonitorChange> MustApply(const std::vector<MonitorSpec>& specs,
                                       bool dry_run = false, bool prune = false) {
    auto changes = registry_->Apply(specs, dry_run, prune);
    EXPECT_TRUE(changes.ok()) << changes.status();
    return changes.ok() ? *changes : std::vector<MonitorChange>();
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<MonitorRegistry> registry_;
};

TEST_P(MonitorRegistryTest, VersionsOnlyOnContentChange) {
  EXPECT_THAT(Summary(MustApply({Spec("a"), Spec("b")})),
              ElementsAre("added a -->1", "added b -->1"));
  clock_.Advance(1000);
  MonitorSpec same = Spec("a");
  same.file = "moved.yaml";
  same.line = 40;
  auto changes = MustApply({same, Spec("b", "psi")});
  EXPECT_THAT(Summary(changes), ElementsAre("unchanged a 1->1", "changed b 1->2"));
  ASSERT_EQ(changes[1].diffs.size(), 1u);
  EXPECT_EQ(changes[1].diffs[0]["path"], "tests.default");
  EXPECT_EQ(changes[1].diffs[0]["old"], "ks");
  EXPECT_EQ(changes[1].diffs[0]["new"], "psi");

  auto b = registry_->Get("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version, 2);
  EXPECT_EQ(b->spec.tests.default_test, "psi");
  EXPECT_EQ(b->created_ms, clock_.NowMillis());
  auto b1 = registry_->Get("b", 1);
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_EQ(b1->spec.tests.default_test, "ks");
  EXPECT_EQ(b1->spec.target.window_ms, 86'400'000);
  EXPECT_NE(b1->content_hash, b->content_hash);
  EXPECT_EQ(b1->content_hash.size(), 64u);

  auto missing = registry_->Get("b", 7);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("monitor 'b' has no version 7: its versions are 1 to 2"));
  auto unknown = registry_->Get("zz");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("monitor 'zz' is not registered"));
}

TEST_P(MonitorRegistryTest, DryRunWritesNothingAndPruneRemoves) {
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

TEST_P(MonitorRegistryTest, OneNameTwiceInAnApplyIsRefused) {
  auto changes = registry_->Apply({Spec("a"), Spec("a", "psi")}, false, false);
  EXPECT_EQ(changes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(changes.status().message(), HasSubstr("a.yaml:1: monitor a: is defined twice"));
}

TEST(MonitorSpecJsonTest, QualityRoundTripsAndIsLeftOutWhenUnset) {
  MonitorSpec spec = Spec("q");
  // Without quality the canonical JSON has no "quality" key: monitors applied before live
  // quality existed keep their content hash.
  EXPECT_FALSE(MonitorSpecToJson(spec).contains("quality"));
  spec.target = MonitorTarget{.endpoint = "churn", .window_ms = 3'600'000};
  spec.quality = MonitorQuality{
      .min_labels = 50,
      .threshold = 0.4,
      .metrics = {{.metric = "auc", .min = 0.7}, {.metric = "logloss", .max = 0.6}},
      .baselines = {{.metric = "auc", .value = 0.82, .max_drop = 0.05},
                    {.metric = "f1", .model_metric = "val_f1", .max_drop = 0.1}}};
  Json json = MonitorSpecToJson(spec);
  EXPECT_EQ(json["quality"]["min_labels"], 50);
  EXPECT_EQ(json["quality"]["metrics"][1]["min"], nullptr);
  EXPECT_EQ(json["quality"]["metrics"][1]["max"], 0.6);
  auto back = MonitorSpecFromJson(ParseJson(DumpJson(json)).value());
  ASSERT_TRUE(back.ok()) << back.status();
  back->file = spec.file;
  back->line = spec.line;
  EXPECT_EQ(*back, spec);
}

// A database written before the registries shared storage/definition_store.h: the
// registry's tables of migration 1 as they were, rows as the old Apply wrote them
// (canonical text, its SHA-256). It opens, shows its versions, and an unchanged apply
// makes no version.
TEST_P(MonitorRegistryTest, ReadsADatabaseWrittenBeforeTheSharedDefinitionStore) {
  std::vector<storage::test_support::OldDefinitionRow> rows;
  const std::vector<MonitorSpec> old = {Spec("a"), Spec("a", "psi"), Spec("gone")};
  for (size_t i = 0; i < old.size(); ++i) {
    const std::string text = DumpJson(MonitorSpecToJson(old[i]));
    rows.push_back({old[i].name, i == 1 ? 2 : 1, Sha256Hex(text), text, old[i].name == "gone"});
  }
  ASSERT_TRUE(db_->Write([&](storage::SqlSession& s) {
                   return storage::test_support::WriteOldDefinitionTables(
                       s, "monitors", "monitor_versions", /*with_model=*/false, rows);
                 })
                  .ok());
  auto reopened = MonitorRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = std::move(*reopened);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].version, 2);
  EXPECT_EQ((*list)[0].spec.tests.default_test, "psi");
  EXPECT_EQ((*list)[0].spec.file, "registry (a v2)");
  auto v1 = registry_->Get("a", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->spec.tests.default_test, "ks");
  EXPECT_EQ(v1->created_ms, 1000);
  EXPECT_TRUE(registry_->Get("gone")->removed);
  EXPECT_THAT(Summary(MustApply({Spec("a", "psi")})), ElementsAre("unchanged a 2->2"));
  auto changed = MustApply({Spec("a")});
  EXPECT_THAT(Summary(changed), ElementsAre("changed a 2->3"));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_FALSE(changed[0].diffs.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, MonitorRegistryTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace cairn::monitoring
