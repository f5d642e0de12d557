#include "storage/definition_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/migrations.h"
#include "storage/testing/test_databases.h"

namespace cairn::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The layout every registry declares in its own migrations (definition_store.h), with one
// extra column as the policies have.
constexpr char kSchema[] = R"sql(
CREATE TABLE widgets (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  color TEXT NOT NULL,
  removed INTEGER NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE widget_versions (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version))
)sql";

constexpr Migration kMigrations[] = {{.version = 1, .name = "widgets", .sql = kSchema}};

struct Widget {
  std::string name;
  std::string color;
  int size = 0;
  std::string file = "widgets.yaml";
  int line = 1;
};

Json WidgetToJson(const Widget& w) {
  return Json{{"name", w.name}, {"color", w.color}, {"size", w.size}};
}

absl::StatusOr<Widget> WidgetFromJson(const Json& json) {
  if (!json.contains("size")) return absl::InvalidArgumentError("size: missing");
  return Widget{.name = json.at("name").get<std::string>(),
                .color = json.at("color").get<std::string>(),
                .size = json.at("size").get<int>()};
}

// A diff good enough to see that the store calls it with (old, new).
Json ShallowDiff(const Json& old_json, const Json& new_json) {
  Json out = Json::array();
  for (const auto& [key, value] : new_json.items()) {
    if (old_json.value(key, Json()) != value) {
      out.push_back({{"path", key}, {"old", old_json.value(key, Json())}, {"new", value}});
    }
  }
  return out;
}

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-definition-store-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = test_support::PrivatePostgresUrl();
  return url ? url : "";
}

std::vector<std::string> Summary(const std::vector<DefinitionChange>& changes) {
  std::vector<std::string> out;
  for (const DefinitionChange& c : changes) {
    out.push_back(absl::StrCat(c.action, " ", c.name, " ",
                               c.old_version ? std::to_string(*c.old_version) : "-", "->",
                               c.new_version ? std::to_string(*c.new_version) : "-"));
  }
  return out;
}

class DefinitionStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // PostgreSQL is shared between the tests of this binary: start empty.
    ASSERT_TRUE(db_->Write([](SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS widgets;"
                         "DROP TABLE IF EXISTS widget_versions;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'widgets'");
                   })
                    .ok());
    ASSERT_TRUE(ApplyMigrations(*db_, "widgets", kMigrations).ok());
    store_ = std::make_unique<TypedDefinitionStore<Widget>>(
        *db_, clock_,
        DefinitionStoreOptions{.kind = "widget",
                               .table = "widgets",
                               .versions_table = "widget_versions",
                               .columns = {"color"},
                               .diff = ShallowDiff,
                               .list_hint = "list widgets with cairn widgets list"},
        DefinitionCodec<Widget>{
            .to_json = WidgetToJson,
            .from_json = WidgetFromJson,
            .columns = [](const Widget& w) { return std::vector<std::string>{w.color}; }},
        /*max_cached=*/GetParam() == "sqlite" ? 0 : 100);
  }

  absl::StatusOr<std::vector<DefinitionChange>> Apply(const std::vector<Widget>& widgets,
                                                      bool dry_run = false, bool prune = false) {
    return store_->Apply(widgets, dry_run, prune);
  }

  FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<TypedDefinitionStore<Widget>> store_;
};

TEST_P(DefinitionStoreTest, AddsChangesAndKeepsUnchangedContentAsOneVersion) {
  auto first = Apply({{.name = "a", .color = "red", .size = 1}, {.name = "b", .color = "blue"}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Summary(*first), ElementsAre("added a -->1", "added b -->1"));

  clock_.Advance(1000);
  auto second = Apply({{.name = "a", .color = "red", .size = 2}, {.name = "b", .color = "blue"}});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Summary(*second), ElementsAre("changed a 1->2", "unchanged b 1->1"));
  EXPECT_EQ((*second)[0].diffs, Json::parse(R"([{"path": "size", "old": 1, "new": 2}])"));
  EXPECT_EQ((*second)[1].diffs, Json::array());

  auto v1 = store_->Get("a", 1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->spec.size, 1);
  EXPECT_EQ(v1->spec.file, "registry (a v1)");
  EXPECT_EQ(v1->created_ms, 1'700'000'000'000);
  auto latest = store_->Get("a");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->spec.size, 2);
  EXPECT_EQ(latest->created_ms, 1'700'000'001'000);
  EXPECT_EQ(latest->content_hash.size(), 64u);
  EXPECT_NE(latest->content_hash, v1->content_hash);
  EXPECT_EQ(store_->Get("b")->version, 1);

  auto versions = store_->Versions("a");
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].spec.size, 1);
  EXPECT_EQ((*versions)[1].spec.size, 2);
}

TEST_P(DefinitionStoreTest, TheContentHashIsSha256OfTheCompactCanonicalText) {
  ASSERT_TRUE(Apply({{.name = "a", .color = "red", .size = 1}}).ok());
  // sha256 of {"color":"red","name":"a","size":1}: the hash earlier versions stored.
  EXPECT_EQ(store_->Get("a")->content_hash,
            "e655c661151d40d97ff5d6cac24b0dbabe2d0f5eed10923ae317fea1ecaf0c11");
}

TEST_P(DefinitionStoreTest, DryRunPlansAndWritesNothing) {
  ASSERT_TRUE(Apply({{.name = "a", .color = "red"}}).ok());
  auto plan = Apply({{.name = "a", .color = "red", .size = 5}, {.name = "c", .color = "red"}},
                    /*dry_run=*/true, /*prune=*/false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Summary(*plan), ElementsAre("changed a 1->2", "added c -->1"));
  EXPECT_EQ(store_->Get("a")->version, 1);
  EXPECT_EQ(store_->Get("c").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(DefinitionStoreTest, PruneRemovesTheMissingAndReaddingIsAdded) {
  ASSERT_TRUE(Apply({{.name = "a", .color = "red"}, {.name = "b", .color = "red"}}).ok());
  auto pruned = Apply({{.name = "b", .color = "red"}}, false, /*prune=*/true);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(Summary(*pruned), ElementsAre("unchanged b 1->1", "removed a 1->-"));
  auto listed = store_->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "b");
  auto removed = store_->Get("a");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->removed);
  // Pruning again does not report it again.
  EXPECT_THAT(Summary(*Apply({{.name = "b", .color = "red"}}, false, true)),
              ElementsAre("unchanged b 1->1"));
  // Same content back: added, no new version; new content: added with a new version.
  EXPECT_THAT(Summary(*Apply({{.name = "a", .color = "red"}, {.name = "b", .color = "red"}})),
              ElementsAre("added a 1->1", "unchanged b 1->1"));
  EXPECT_FALSE(store_->Get("a")->removed);
  ASSERT_TRUE(Apply({{.name = "b", .color = "red"}}, false, true).ok());
  EXPECT_THAT(Summary(*Apply({{.name = "a", .color = "red", .size = 3}})),
              ElementsAre("added a 1->2"));
}

TEST_P(DefinitionStoreTest, ListsLatestByNameAndByColumn) {
  ASSERT_TRUE(Apply({{.name = "c", .color = "red"},
                     {.name = "a", .color = "blue"},
                     {.name = "b", .color = "red"}})
                  .ok());
  ASSERT_TRUE(Apply({{.name = "a", .color = "red", .size = 1}}).ok());
  auto all = store_->List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[0].version, 2);
  EXPECT_EQ((*all)[2].name, "c");
  auto red = store_->List("color", "red");
  ASSERT_TRUE(red.ok()) << red.status();
  std::vector<std::string> names;
  for (const auto& v : *red) names.push_back(v.name);
  EXPECT_THAT(names, ElementsAre("a", "b", "c"));
  EXPECT_TRUE(store_->List("color", "blue")->empty());
  auto unknown = store_->List("shape", "round");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("column 'shape'"));
}

TEST_P(DefinitionStoreTest, HeadCheckSeesTheRegisteredColumnsAndCanRefuse) {
  ASSERT_TRUE(Apply({{.name = "a", .color = "red"}}).ok());
  std::map<std::string, DefinitionHead> seen;
  auto refused = store_->Apply({{.name = "b", .color = "red"}}, false, false,
                               [&](const std::map<std::string, DefinitionHead>& heads) {
                                 seen = heads;
                                 return absl::InvalidArgumentError("red is taken");
                               });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(seen.count("a"), 1u);
  EXPECT_EQ(seen["a"].latest_version, 1);
  EXPECT_THAT(seen["a"].columns, ElementsAre("red"));
  EXPECT_EQ(store_->Get("b").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(DefinitionStoreTest, TwoDefinitionsWithOneNameAreRefused) {
  auto twice = Apply({{.name = "a", .color = "red", .file = "x.yaml", .line = 3},
                      {.name = "a", .color = "red", .file = "y.yaml", .line = 7}});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(twice.status().message(),
            "y.yaml:7: widget a: is defined twice in this apply: give each widget its own name");
  EXPECT_TRUE(store_->List()->empty());
}

TEST_P(DefinitionStoreTest, NotFoundNamesTheDefinitionAndVersion) {
  auto missing = store_->Get("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "widget 'nope' is not registered: apply its definition first (cairn apply FILE); "
            "list widgets with cairn widgets list");
  ASSERT_TRUE(Apply({{.name = "a", .color = "red"}}).ok());
  auto no_version = store_->Get("a", 9);
  EXPECT_EQ(no_version.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(no_version.status().message(), "widget 'a' has no version 9: its versions are 1 to 1");
  auto no_versions = store_->Versions("nope");
  EXPECT_EQ(no_versions.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(no_versions.status().message(),
            "widget 'nope' is not registered: apply its definition first (cairn apply FILE)");
}

TEST_P(DefinitionStoreTest, AStoredSpecThatDoesNotParseIsInternal) {
  ASSERT_TRUE(
      db_->Write([](SqlSession& s) {
           return s.ExecuteScript(
               "INSERT INTO widgets VALUES ('bad', 1, 'h', 'red', 0, 0);"
               "INSERT INTO widget_versions VALUES ('bad', 1, 'h', '{\"name\": \"bad\"}', 0)");
         })
          .ok());
  auto bad = store_->Get("bad");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(bad.status().message(), "widget bad v1: stored spec: size: missing");
}

INSTANTIATE_TEST_SUITE_P(Backends, DefinitionStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::storage
