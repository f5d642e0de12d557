#include "pipelines/pipeline_registry.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipelines/pipeline_json.h"
#include "pipelines/pipeline_yaml.h"
#include "storage/database.h"
#include "storage/testing/old_definition_tables.h"
#include "storage/testing/test_databases.h"

namespace cairn::pipelines {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-pipeline-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

PipelineSpec Spec(const std::string& name, const std::string& command = "true",
                  int steps = 1) {
  std::string text = absl::StrCat("kind: Pipeline\nname: ", name, "\ndescription: about ", name,
                                  "\nsteps:\n");
  for (int i = 0; i < steps; ++i) {
    absl::StrAppend(&text, "  - {name: s", i, ", command: [", command, "]}\n");
  }
  auto parsed = ParsePipelinesYaml(text, name + ".yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? (*parsed)[0] : PipelineSpec();
}

std::vector<std::string> Summary(const std::vector<PipelineChange>& changes) {
  std::vector<std::string> out;
  for (const PipelineChange& c : changes) {
    out.push_back(absl::StrCat(c.action, " ", c.name, " ",
                               c.old_version ? std::to_string(*c.old_version) : "-", "->",
                               c.new_version ? std::to_string(*c.new_version) : "-"));
  }
  return out;
}

class PipelineRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // PostgreSQL is shared between the tests of this binary: start empty.
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS pipelines;"
                         "DROP TABLE IF EXISTS pipeline_versions;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'pipelines'");
                   }).ok());
    auto registry = PipelineRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  std::vector<PipelineChange> MustApply(const std::vector<PipelineSpec>& specs,
                                        bool dry_run = false, bool prune = false) {
    auto changes = registry_->Apply(specs, dry_run, prune);
    EXPECT_TRUE(changes.ok()) << changes.status();
    return changes.ok() ? *changes : std::vector<PipelineChange>();
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<PipelineRegistry> registry_;
};

TEST_P(PipelineRegistryTest, VersionsOnlyOnContentChange) {
  EXPECT_THAT(Summary(MustApply({Spec("a"), Spec("b")})),
              ElementsAre("added a -->1", "added b -->1"));
  clock_.Advance(1000);
  // Unchanged content (another file, other lines) makes no version.
  PipelineSpec same = Spec("a");
  same.file = "moved.yaml";
  same.steps[0].line = 40;
  EXPECT_THAT(Summary(MustApply({same, Spec("b", "false")})),
              ElementsAre("unchanged a 1->1", "changed b 1->2"));
  auto b = registry_->Get("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version, 2);
  EXPECT_EQ(b->spec.steps[0].command, std::vector<std::string>{"false"});
  EXPECT_EQ(b->content_hash, PipelineContentHash(Spec("b", "false")));
  EXPECT_EQ(b->created_ms, clock_.NowMillis());
  EXPECT_FALSE(b->removed);
  auto b1 = registry_->Get("b", 1);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(b1->spec.steps[0].command, std::vector<std::string>{"true"});
  EXPECT_EQ(b1->created_ms, clock_.NowMillis() - 1000);
  // The stored spec is the applied one (apart from file and lines).
  EXPECT_EQ(PipelineContentHash(b1->spec), PipelineContentHash(Spec("b")));
  EXPECT_EQ(b1->spec.description, "about b");

  auto versions = registry_->Versions("b");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[1].version, 2);

  // Changing back is a new version too (versions only grow).
  EXPECT_THAT(Summary(MustApply({Spec("b")})), ElementsAre("changed b 2->3"));
}

TEST_P(PipelineRegistryTest, ChangesCarryFieldDiffsAndDryRunWritesNothing) {
  MustApply({Spec("a", "true", 2)});
  PipelineSpec changed = Spec("a", "true", 2);
  changed.steps[1].command = {"python", "train.py"};
  auto plan = MustApply({changed}, /*dry_run=*/true);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, "changed");
  EXPECT_EQ(plan[0].new_version, 2);
  EXPECT_EQ(plan[0].diffs, Json::parse(R"([{"path": "steps[1].command", "old": ["true"],
                                            "new": ["python", "train.py"]}])"));
  EXPECT_EQ(registry_->Get("a")->version, 1);
  auto applied = MustApply({changed});
  EXPECT_EQ(applied[0].diffs, plan[0].diffs);
  EXPECT_EQ(registry_->Get("a")->version, 2);
  auto diff = registry_->Diff("a", 1, 2);
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(*diff, plan[0].diffs);
  EXPECT_EQ(*registry_->Diff("a", 2, 2), Json::array());
}

TEST_P(PipelineRegistryTest, PruneMarksRemovedAndVersionsStayReadable) {
  MustApply({Spec("a"), Spec("b"), Spec("c")});
  // Without prune nothing is removed.
  EXPECT_THAT(Summary(MustApply({Spec("a")})), ElementsAre("unchanged a 1->1"));
  EXPECT_THAT(Summary(MustApply({Spec("a")}, /*dry_run=*/true, /*prune=*/true)),
              ElementsAre("unchanged a 1->1", "removed b 1->-", "removed c 1->-"));
  EXPECT_EQ(registry_->List()->size(), 3u);
  EXPECT_THAT(Summary(MustApply({Spec("a")}, false, true)),
              ElementsAre("unchanged a 1->1", "removed b 1->-", "removed c 1->-"));
  auto list = registry_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a");
  auto b = registry_->Get("b", 1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->removed);
  EXPECT_TRUE(registry_->Get("b")->removed);
  // Pruning again removes nothing more.
  EXPECT_THAT(Summary(MustApply({Spec("a")}, false, true)), ElementsAre("unchanged a 1->1"));
  // Re-adding: the same content comes back as it was, other content as a new version.
  EXPECT_THAT(Summary(MustApply({Spec("a"), Spec("b"), Spec("c", "false")})),
              ElementsAre("unchanged a 1->1", "added b 1->1", "added c 1->2"));
  EXPECT_EQ(registry_->List()->size(), 3u);
  EXPECT_FALSE(registry_->Get("c")->removed);
  EXPECT_EQ(registry_->Get("c")->version, 2);
}

TEST_P(PipelineRegistryTest, NotFoundNamesWhat) {
  EXPECT_EQ(registry_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(registry_->Get("nope").status().message(),
              HasSubstr("pipeline 'nope' is not registered"));
  MustApply({Spec("a")});
  EXPECT_EQ(registry_->Get("a", 7).status().message(),
            "pipeline 'a' has no version 7: its versions are 1 to 1");
  EXPECT_EQ(registry_->Diff("a", 1, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Versions("nope").status().code(), absl::StatusCode::kNotFound);
  auto dup = registry_->Apply({Spec("a"), Spec("a")}, false, false);
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("defined twice"));
}

TEST_P(PipelineRegistryTest, SurvivesReopen) {
  MustApply({Spec("a"), Spec("b", "x", 3)});
  MustApply({Spec("b", "y", 3)});
  auto reopened = PipelineRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok());
  auto b = (*reopened)->Get("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->version, 2);
  EXPECT_EQ(b->spec.steps.size(), 3u);
  EXPECT_EQ((*reopened)->List()->size(), 2u);
}

// 100 pipelines × 20 versions: List and Get read one indexed row per pipeline. Timing is
// printed, not asserted (machines differ); the contents are asserted.
TEST_P(PipelineRegistryTest, ManyPipelinesManyVersions) {
  std::vector<PipelineSpec> specs;
  for (int v = 1; v <= 20; ++v) {
    specs.clear();
    for (int p = 0; p < 100; ++p) {
      specs.push_back(Spec(absl::StrCat("pipe", p), absl::StrCat("v", v), 5));
    }
    ASSERT_EQ(MustApply(specs).size(), 100u);
  }
  // A fresh registry (Open reads the latest versions into its cache).
  auto fresh = PipelineRegistry::Open(*db_, clock_);
  ASSERT_TRUE(fresh.ok());
  auto start = std::chrono::steady_clock::now();
  auto list = (*fresh)->List();
  auto cold = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 100u);
  EXPECT_EQ((*list)[0].name, "pipe0");
  EXPECT_EQ((*list)[0].version, 20);
  EXPECT_EQ((*list)[0].spec.steps[4].command, std::vector<std::string>{"v20"});
  // Best of 10 (the machine is shared): a warm List.
  auto warm = std::chrono::steady_clock::duration::max();
  for (int i = 0; i < 10; ++i) {
    start = std::chrono::steady_clock::now();
    list = (*fresh)->List();
    warm = std::min(warm, std::chrono::steady_clock::now() - start);
  }
  // Another registry on the same database.
  auto second = PipelineRegistry::Open(*db_, clock_);
  ASSERT_TRUE(second.ok());
  start = std::chrono::steady_clock::now();
  ASSERT_EQ((*second)->List()->size(), 100u);
  auto uncached = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(list->size(), 100u);
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    auto got = (*fresh)->Get(absl::StrCat("pipe", i));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->version, 20);
  }
  auto gets = std::chrono::steady_clock::now() - start;
  auto v7 = (*fresh)->Get("pipe42", 7);
  ASSERT_TRUE(v7.ok());
  EXPECT_EQ(v7->spec.steps[0].command, std::vector<std::string>{"v7"});
  auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  std::printf(
      "[%s] 100 pipelines x 20 versions: first List %lld us, first List of another %lld us, "
      "cached %lld us; Get %lld us each\n",
      GetParam().c_str(), static_cast<long long>(us(cold)), static_cast<long long>(us(uncached)),
      static_cast<long long>(us(warm)), static_cast<long long>(us(gets) / 100));
}

// A database written before the registries shared storage/definition_store.h: the
// schema of migration 1 as it was, rows as the old Apply wrote them (canonical text, its
// SHA-256). It opens, shows its versions, and an unchanged apply makes no version.
TEST_P(PipelineRegistryTest, ReadsADatabaseWrittenBeforeTheSharedDefinitionStore) {
  registry_.reset();
  std::vector<storage::test_support::OldDefinitionRow> rows;
  int64_t version = 0;
  for (const PipelineSpec& spec : {Spec("a"), Spec("a", "false"), Spec("gone")}) {
    version = spec.name == "gone" ? 1 : version + 1;
    rows.push_back({spec.name, version, PipelineContentHash(spec), DumpJson(PipelineToJson(spec)),
                    spec.name == "gone"});
  }
  ASSERT_TRUE(db_->Write([&](storage::SqlSession& s) {
                   return storage::test_support::WriteOldDefinitionTables(
                       s, "pipelines", "pipeline_versions", /*with_model=*/false, rows);
                 })
                  .ok());
  auto reopened = PipelineRegistry::Open(*db_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = std::move(*reopened);
  auto list = registry_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].version, 2);
  EXPECT_EQ((*list)[0].spec.steps[0].command, std::vector<std::string>{"false"});
  EXPECT_EQ((*list)[0].spec.file, "registry (a v2)");
  auto v1 = registry_->Get("a", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->spec.steps[0].command, std::vector<std::string>{"true"});
  EXPECT_EQ(v1->created_ms, 1000);
  EXPECT_TRUE(registry_->Get("gone")->removed);
  EXPECT_EQ(registry_->Versions("a")->size(), 2u);
  EXPECT_THAT(Summary(MustApply({Spec("a", "false")})), ElementsAre("unchanged a 2->2"));
  auto changed = MustApply({Spec("a", "maybe")});
  EXPECT_THAT(Summary(changed), ElementsAre("changed a 2->3"));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].diffs.size(), 1u) << changed[0].diffs;
}

INSTANTIATE_TEST_SUITE_P(Backends, PipelineRegistryTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::pipelines
