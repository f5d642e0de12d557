// A double column read as categories is labelled the same from a feature view as from a
// CSV file (category_label.h): a monitor comparing a view with a CSV reference of the
// same values sees no new category, and drift on them finds none.

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/ids.h"
#include "common/timestamp.h"
#include "features/definition_yaml.h"
#include "features/feature_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/csv_frame.h"
#include "monitoring/drift.h"
#include "monitoring/monitors/monitor_io.h"
#include "storage/database.h"

namespace cairn::monitoring {
namespace {

namespace fs = std::filesystem;
using ::testing::UnorderedElementsAreArray;

constexpr char kDefinitions[] = R"(
kind: Entity
name: customer
join_keys: [{name: customer_id, type: int64}]
---
kind: Source
name: ratings
timestamp_field: ts
schema:
  - {name: customer_id, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: score, type: double}
  - {name: stars, type: int64}
---
kind: FeatureView
name: rated
entities: [customer]
source: ratings
features:
  - {name: score, type: double}
  - {name: stars, type: int64}
)";

TEST(ViewLabelsTest, ViewAndCsvOfTheSameNumbersHaveTheSameCategories) {
  const fs::path dir = fs::temp_directory_path() / ("cairn-view-labels-" + NewUuidHex());
  fs::create_directories(dir);
  FakeClock clock(*ParseTimestamp("2024-01-10T00:00:00Z"));
  auto db = storage::OpenDatabase("sqlite::memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  auto store = features::FeatureStore::Open(**db, clock, {.data_dir = dir.string()});
  ASSERT_TRUE(store.ok()) << store.status();
  auto defs = features::ParseDefinitionsYaml(kDefinitions, "defs.yaml");
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_TRUE((*store)->Apply(*defs, false, false).ok());

  // The same values, written differently: the reference as a person would type them, the
  // ingested source as a program would.
  std::string ingested = "customer_id,ts,score,stars\n";
  std::string reference = "score,stars\n";
  const char* scores[] = {"1.5", "2.0", "0.1", "1e-05", "1234567.25", "3"};
  const char* typed[] = {"1.50", "2", "0.10", "0.00001", "1234567.250", "3.0"};
  for (int i = 0; i < 60; ++i) {
    const int k = i % 6;
    ingested += std::to_string(i % 7) + ",2024-01-0" + std::to_string(1 + i % 8) +
                "T00:00:00Z," + scores[k] + "," + std::to_string(k + 1) + "\n";
    reference += std::string(typed[k]) + "," + std::to_string(k + 1) + ".0\n";
  }
  std::ofstream(dir / "ingest.csv") << ingested;
  std::ofstream(dir / "reference.csv") << reference;
  auto done = (*store)->Ingest({.source = "ratings", .path = (dir / "ingest.csv").string()});
  ASSERT_TRUE(done.ok()) << done.status();

  auto view = ReadFeatureViewFrame(**store, {.view = "rated", .categorical = {"score", "stars"}});
  ASSERT_TRUE(view.ok()) << view.status();
  auto csv = ReadCsvFrame((dir / "reference.csv").string(),
                          {.categorical = {"score", "stars"}, .threads = 1});
  ASSERT_TRUE(csv.ok()) << csv.status();
  for (const char* name : {"score", "stars"}) {
    const FrameColumn* v = view->Find(name);
    const FrameColumn* c = csv->Find(name);
    ASSERT_NE(v, nullptr) << name;
    ASSERT_NE(c, nullptr) << name;
    ASSERT_TRUE(v->categorical && c->categorical) << name;
    EXPECT_THAT(v->categories, UnorderedElementsAreArray(c->categories)) << name;
  }
  EXPECT_THAT(view->Find("score")->categories,
              UnorderedElementsAreArray({"1.5", "2", "0.1", "1e-05", "1234567.25", "3"}));
  EXPECT_THAT(view->Find("stars")->categories,
              UnorderedElementsAreArray({"1", "2", "3", "4", "5", "6"}));

  // Same shares on both sides: no drift, and the shared code space has six categories.
  DriftOptions options;
  options.columns = {"score", "stars"};
  auto report = ComputeDrift(*csv, *view, options);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const ColumnDrift& column : report->columns) {
    EXPECT_EQ(column.categories.size(), 6u) << column.column;
    EXPECT_FALSE(column.result.drifted) << column.column;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn::monitoring
