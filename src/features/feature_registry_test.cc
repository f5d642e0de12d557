// FeatureRegistry against SQLite (always) and PostgreSQL (when CAIRN_TEST_POSTGRES_URL
// names a server): versions, content hashes, plans with field diffs, prune, validation
// against registered objects, and the cached snapshot.

#include "features/feature_registry.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "storage/testing/test_databases.h"

namespace cairn::features {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kDefs[] = R"yaml(kind: Entity
name: customer
join_key: customer_id
---
kind: Source
name: transactions
timestamp_field: event_timestamp
schema:
  - {name: customer_id, type: int64}
  - {name: event_timestamp, type: timestamp}
  - {name: amount, type: double}
---
kind: FeatureView
name: customer_spend
entities: [customer]
source: transactions
ttl: 30d
features:
  - {name: amount, type: double}
  - {name: amount_log, type: double, expr: "log1p(amount)"}
  - {name: spend_7d, type: double, agg: sum, of: amount, window: 7d}
---
kind: FeatureService
name: churn
features: [customer_spend:amount_log, customer_spend]
)yaml";

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-feature-registry-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

DefinitionSet Parse(const std::string& text, const std::string& file = "defs.yaml") {
  auto parsed = ParseDefinitionsYaml(text, file);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : DefinitionSet();
}

std::string WithExpr(const std::string& expr) {
  std::string text = kDefs;
  size_t at = text.find("log1p(amount)");
  return text.replace(at, std::string("log1p(amount)").size(), expr);
}

class FeatureRegistryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // PostgreSQL is shared between tests: start from an empty registry.
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS feature_registry_state;"
                         "DROP TABLE IF EXISTS feature_objects;"
                         "DROP TABLE IF EXISTS feature_versions;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'features'");
                   }).ok());
    registry_ = Open();
  }

  std::unique_ptr<FeatureRegistry> Open(int64_t max_age_ms = 1000) {
    FeatureRegistryOptions options;
    options.snapshot_max_age_ms = max_age_ms;
    auto registry = FeatureRegistry::Open(*db_, clock_, options);
    EXPECT_TRUE(registry.ok()) << registry.status();
    return registry.ok() ? std::move(*registry) : nullptr;
  }

  std::vector<PlannedChange> MustApply(const std::string& text, bool prune = false) {
    auto plan = registry_->Apply(Parse(text), prune);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *plan : std::vector<PlannedChange>();
  }

  static std::vector<std::string> Summary(const std::vector<PlannedChange>& plan) {
    std::vector<std::string> out;
    for (const PlannedChange& c : plan) {
      out.push_back(absl::StrCat(ToAbsl(KindName(c.kind)), " ", c.name, " ", ToAbsl(ActionName(c.action)), " ",
                                 c.old_version, "->", c.new_version));
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<FeatureRegistry> registry_;
};

TEST_P(FeatureRegistryTest, ApplyCreatesVersionOneAndReapplyCreatesNothing) {
  auto plan = registry_->Plan(Parse(kDefs), false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Summary(*plan), ElementsAre("Entity customer added 0->1",
                                          "Source transactions added 0->1",
                                          "FeatureView customer_spend added 0->1",
                                          "FeatureService churn added 0->1"));
  // Plan writes nothing.
  EXPECT_EQ(registry_->GetLatest(DefinitionKind::kEntity, "customer").status().code(),
            absl::StatusCode::kNotFound);

  EXPECT_THAT(Summary(MustApply(kDefs)), ElementsAre("Entity customer added 0->1",
                                                     "Source transactions added 0->1",
                                                     "FeatureView customer_spend added 0->1",
                                                     "FeatureService churn added 0->1"));
  auto view = registry_->GetLatest(DefinitionKind::kFeatureView, "customer_spend");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->version, 1);
  EXPECT_EQ(view->created_at, clock_.NowMillis());
  EXPECT_EQ(view->content_hash, ContentHash(Parse(kDefs).definitions[2]));
  EXPECT_EQ(view->canonical, ToCanonicalJson(Parse(kDefs).definitions[2]));
  EXPECT_TRUE(view->definition.spec == Parse(kDefs).definitions[2].spec);
  EXPECT_FALSE(view->removed);

  // Same meaning, other spelling and file: unchanged, no version.
  clock_.Advance(1000);
  std::string respelled = std::string("# reformatted\n") + kDefs;
  auto again = MustApply(respelled);
  EXPECT_THAT(Summary(again), ElementsAre("Entity customer unchanged 1->1",
                                          "Source transactions unchanged 1->1",
                                          "FeatureView customer_spend unchanged 1->1",
                                          "FeatureService churn unchanged 1->1"));
  auto versions = registry_->ListVersions(DefinitionKind::kFeatureView, "customer_spend");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);
}

TEST_P(FeatureRegistryTest, ChangeCreatesTheNextVersionWithFieldDiffsAndKeepsOldOnes) {
  MustApply(kDefs);
  clock_.Advance(5000);
  auto plan = MustApply(WithExpr("log(amount + 1)"));
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(Summary(plan)[2], "FeatureView customer_spend changed 1->2");
  EXPECT_THAT(plan[2].diffs, ElementsAre(FieldDiff{"features[1].expr", Json("log1p(amount)"),
                                                   Json("log(amount + 1)")}));
  EXPECT_EQ(Summary(plan)[3], "FeatureService churn unchanged 1->1");

  auto v1 = registry_->GetVersion(DefinitionKind::kFeatureView, "customer_spend", 1);
  auto v2 = registry_->GetLatest(DefinitionKind::kFeatureView, "customer_spend");
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_EQ(v1->canonical["features"][1]["expr"], "log1p(amount)");
  EXPECT_EQ(v2->canonical["features"][1]["expr"], "log(amount + 1)");
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->created_at, v1->created_at + 5000);
  EXPECT_NE(v1->content_hash, v2->content_hash);
  auto versions = registry_->ListVersions(DefinitionKind::kFeatureView, "customer_spend");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[1].version, 2);

  absl::Status missing =
      registry_->GetVersion(DefinitionKind::kFeatureView, "customer_spend", 7).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "FeatureView 'customer_spend' has no version 7 (versions are 1 to 2)");
  EXPECT_EQ(registry_->GetVersion(DefinitionKind::kFeatureView, "nope", 1).status().message(),
            "FeatureView 'nope' is not registered");
}

TEST_P(FeatureRegistryTest, PruneRemovesWithoutErasingVersionsAndReAddingContinues) {
  MustApply(kDefs);
  // Without prune, objects left out of the set stay.
  auto plan = MustApply("kind: Entity\nname: driver\njoin_key: driver_id\n");
  EXPECT_THAT(Summary(plan), ElementsAre("Entity driver added 0->1"));
  ASSERT_TRUE(registry_->GetLatest(DefinitionKind::kFeatureService, "churn").ok());

  // With prune, they go.
  plan = MustApply(kDefs, /*prune=*/true);
  EXPECT_THAT(Summary(plan), ElementsAre("Entity customer unchanged 1->1",
                                         "Source transactions unchanged 1->1",
                                         "FeatureView customer_spend unchanged 1->1",
                                         "FeatureService churn unchanged 1->1",
                                         "Entity driver removed 1->0"));
  absl::Status removed = registry_->GetLatest(DefinitionKind::kEntity, "driver").status();
  EXPECT_EQ(removed.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(removed.message()), HasSubstr("was removed"));
  auto old = registry_->GetVersion(DefinitionKind::kEntity, "driver", 1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_TRUE(old->removed);
  auto entities = registry_->ListLatest(DefinitionKind::kEntity);
  ASSERT_TRUE(entities.ok());
  ASSERT_EQ(entities->size(), 1u);
  EXPECT_EQ((*entities)[0].name, "customer");

  plan = MustApply("kind: Entity\nname: driver\njoin_key: driver_id\n");
  EXPECT_THAT(Summary(plan), ElementsAre("Entity driver added 1->2"));
  auto back = registry_->GetLatest(DefinitionKind::kEntity, "driver");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->version, 2);
  EXPECT_FALSE(back->removed);
  auto v1 = registry_->GetVersion(DefinitionKind::kEntity, "driver", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_FALSE(v1->removed);
}

TEST_P(FeatureRegistryTest, InvalidDefinitionsApplyNothing) {
  // The expression is compiled against the source schema (features/expr).
  auto plan = registry_->Apply(Parse(WithExpr("log1p(amout)")), false);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("defs.yaml:20: FeatureView customer_spend: field 'features[1].expr': "
                        "value 'log1p(amout)': "));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("amout"));
  EXPECT_EQ(registry_->GetLatest(DefinitionKind::kEntity, "customer").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(FeatureRegistryTest, ValidatesAgainstRegisteredObjects) {
  MustApply(kDefs);
  // A new view may use the registered entity and source.
  auto plan = MustApply(
      "kind: FeatureView\nname: v2\nentities: [customer]\nsource: transactions\n"
      "features: [{name: amount, type: double}]\n");
  EXPECT_THAT(Summary(plan), ElementsAre("FeatureView v2 added 0->1"));
  // Dropping a column the registered views use is refused, naming the registered view.
  auto bad = registry_->Apply(
      Parse("kind: Source\nname: transactions\ntimestamp_field: event_timestamp\nschema:\n"
            "  - {name: customer_id, type: int64}\n"
            "  - {name: event_timestamp, type: timestamp}\n"),
      false);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("registry (v1): FeatureView "));
  // With prune, a set that drops the view too is fine.
  auto pruned = registry_->Apply(
      Parse("kind: Entity\nname: customer\njoin_key: customer_id\n---\n"
            "kind: Source\nname: transactions\ntimestamp_field: event_timestamp\nschema:\n"
            "  - {name: customer_id, type: int64}\n"
            "  - {name: event_timestamp, type: timestamp}\n"),
      true);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_THAT(Summary(*pruned), ElementsAre("Entity customer unchanged 1->1",
                                            "Source transactions changed 1->2",
                                            "FeatureView customer_spend removed 1->0",
                                            "FeatureView v2 removed 1->0",
                                            "FeatureService churn removed 1->0"));
}

TEST_P(FeatureRegistryTest, SnapshotServesTypedReadsAndSeesOtherWriters) {
  MustApply(kDefs);
  auto view = registry_->GetView("customer_spend");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->version, 1);
  EXPECT_EQ(view->spec.features.size(), 3u);
  auto service = registry_->GetService("churn");
  ASSERT_TRUE(service.ok());
  EXPECT_EQ(service->spec.features[1], (FeatureRef{"customer_spend", ""}));
  EXPECT_TRUE(registry_->GetEntity("customer").ok());
  EXPECT_TRUE(registry_->GetSource("transactions").ok());
  EXPECT_EQ(registry_->GetView("nope").status().code(), absl::StatusCode::kNotFound);

  // Our own apply is visible at once.
  MustApply(WithExpr("log(amount + 1)"));
  EXPECT_EQ(registry_->GetView("customer_spend")->version, 2);

  // Another process's apply shows after snapshot_max_age_ms.
  std::unique_ptr<FeatureRegistry> other = Open();
  ASSERT_TRUE(other->Apply(Parse(WithExpr("amount * 2")), false).ok());
  EXPECT_EQ(registry_->GetView("customer_spend")->version, 2);  // cached
  clock_.Advance(1000);
  EXPECT_EQ(registry_->GetView("customer_spend")->version, 3);
  auto snapshot = registry_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ((*snapshot)->List(DefinitionKind::kFeatureView).size(), 1u);
  EXPECT_NE((*snapshot)->FindSource("transactions"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, FeatureRegistryTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(FeaturePlanTest, DiffPathsCoverObjectsArraysAndAbsentFields) {
  Json a = Json::parse(R"({"tags": {"a": "1", "b": "2"}, "features": [{"x": 1}], "ttl_ms": 5})");
  Json b = Json::parse(R"({"tags": {"b": "3", "c": "4"}, "features": [{"x": 1}, {"x": 2}],
                           "ttl_ms": 5})");
  EXPECT_THAT(DiffCanonicalJson(a, b),
              ElementsAre(FieldDiff{"features[1]", Json(), Json::parse(R"({"x": 2})")},
                          FieldDiff{"tags.a", Json("1"), Json()},
                          FieldDiff{"tags.b", Json("2"), Json("3")},
                          FieldDiff{"tags.c", Json(), Json("4")}));
  PlannedChange change{.kind = DefinitionKind::kFeatureView, .name = "v",
                       .action = ChangeAction::kRemoved, .old_version = 3};
  EXPECT_EQ(PlannedChangeToJson(change),
            Json::parse(R"({"kind": "FeatureView", "name": "v", "action": "removed",
                "old_version": 3, "new_version": null, "diffs": [], "file": "", "line": 0})"));
}

}  // namespace
}  // namespace cairn::features
