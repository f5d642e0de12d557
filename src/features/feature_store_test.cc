#include "features/feature_store.h"

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "features/definition_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"

namespace cairn::features {
namespace {

namespace fs = std::filesystem;

constexpr char kDefinitions[] = R"(
kind: Entity
name: customer
join_keys: [{name: customer_id, type: int64}]
---
kind: Source
name: transactions
timestamp_field: ts
schema:
  - {name: customer_id, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: amount, type: double}
---
kind: FeatureView
name: spend
entities: [customer]
source: transactions
ttl: 2d
features:
  - {name: amount, type: double}
  - {name: amount_x2, type: double, expr: "amount * 2"}
  - {name: spend_1d, type: double, agg: sum, of: amount, window: 1d}
  - {name: tx_1d, type: int64, agg: count, window: 1d}
---
kind: FeatureService
name: churn
features: [spend:amount, spend:spend_1d]
)";

int64_t T(const char* text) { return *ParseTimestamp(text); }

class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cairn-fs-test-" + NewUuidHex());
    fs::create_directories(dir_);
    db_ = *storage::OpenDatabase("sqlite::memory:");
    store_ = *FeatureStore::Open(*db_, clock_, {.data_dir = dir_.string()});
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  absl::StatusOr<std::vector<PlannedChange>> Apply(std::string yaml, bool dry_run = false) {
    CAIRN_ASSIGN_OR_RETURN(DefinitionSet defs, ParseDefinitionsYaml(yaml, "defs.yaml"));
    return store_->Apply(defs, dry_run, false);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  Table Entities(std::vector<int64_t> ids, std::vector<const char*> times) {
    Table t;
    t.AddColumn("customer_id", FeatureType::kInt64);
    t.AddColumn("event_timestamp", FeatureType::kTimestamp);
    for (size_t i = 0; i < ids.size(); ++i) {
      t.columns[0].AppendInt(ids[i]);
      t.columns[1].AppendInt(T(times[i]));
    }
    return t;
  }

  FakeClock clock_{T("2024-01-10T00:00:00Z")};
  fs::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<FeatureStore> store_;
};

constexpr char kCsv[] =
    "customer_id,ts,amount\n"
    "1,2024-01-01T00:00:00Z,10\n"
    "1,2024-01-01T12:00:00Z,5\n"
    "1,2024-01-03T00:00:00Z,1\n"
    "2,2024-01-02T00:00:00Z,7\n";

TEST_F(FeatureStoreTest, IngestThenHistoricalIsPointInTimeCorrectWithTtlAndWindows) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  auto ingested = store_->Ingest({.source = "transactions", .path = WriteFile("tx.csv", kCsv)});
  ASSERT_TRUE(ingested.ok()) << ingested.status();
  EXPECT_EQ(ingested->rows, 4);
  EXPECT_EQ(ingested->view_rows.at("spend"), 4);

  HistoricalRequest req;
  // Row 0: sees 12:00 row (5), window (Jan 1 13:00 - 1d, ...] holds 10 and 5.
  // Row 1: Jan 5 → latest is Jan 3 (1), within the 2d ttl; window holds nothing → null sum.
  // Row 2: Jan 6 → Jan 3 is 3 days back: outside the ttl → null; count 0.
  // Row 3: customer 3 has no rows.
  req.entities = Entities({1, 1, 1, 3}, {"2024-01-01T13:00:00Z", "2024-01-05T00:00:00Z",
                                         "2024-01-06T00:00:00Z", "2024-01-05T00:00:00Z"});
  req.feature_service = "churn";
  auto result = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(result.ok()) << result.status();
  const Table& t = result->table;
  ASSERT_EQ(t.num_rows(), 4u);
  int amount = t.Find("amount"), spend = t.Find("spend_1d");
  ASSERT_GE(amount, 0);
  ASSERT_GE(spend, 0);
  EXPECT_EQ(t.columns[amount].Get(0), Value(5.0));
  EXPECT_EQ(t.columns[spend].Get(0), Value(15.0));
  EXPECT_EQ(t.columns[amount].Get(1), Value(1.0));
  EXPECT_TRUE(IsNull(t.columns[spend].Get(1)));
  EXPECT_TRUE(IsNull(t.columns[amount].Get(2)));
  EXPECT_TRUE(IsNull(t.columns[amount].Get(3)));

  // The snapshot reads back the same rows and names the view version it used.
  EXPECT_EQ(result->snapshot.view_versions.at("spend"), 1);
  EXPECT_EQ(result->snapshot.rows, 4);
  auto loaded = store_->training_sets().Load(result->snapshot.id);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(HashTable(*loaded), result->snapshot.content_hash);
}

TEST_F(FeatureStoreTest, ABadRowRejectsTheWholeFileUnlessQuarantined) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  std::string path = WriteFile("bad.csv",
                               "customer_id,ts,amount\n1,2024-01-01T00:00:00Z,10\n"
                               "2,2024-01-01T00:00:00Z,abc\n");
  auto rejected = store_->Ingest({.source = "transactions", .path = path, .file_label = "bad.csv"});
  ASSERT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rejected.status().message()),
              ::testing::AllOf(::testing::HasSubstr("bad.csv"), ::testing::HasSubstr("line 3"),
                               ::testing::HasSubstr("amount"), ::testing::HasSubstr("abc")));
  auto stats = store_->offline().ListTables();
  HistoricalRequest req;
  req.entities = Entities({1}, {"2024-01-02T00:00:00Z"});
  req.features = {{"spend", "amount"}};
  auto nothing = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(IsNull(nothing->table.columns[nothing->table.Find("amount")].Get(0)));

  auto kept = store_->Ingest({.source = "transactions", .path = path, .quarantine = true});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->rows, 1);
  EXPECT_EQ(kept->quarantined, 1);
  ASSERT_FALSE(kept->quarantine_file.empty());
  std::ifstream q(kept->quarantine_file);
  std::string line;
  std::getline(q, line);
  EXPECT_THAT(line, ::testing::HasSubstr("abc"));
}

// Ingest reuses its pending write batch from one write to the next: every row of every
// batch lands exactly once with its own values (none left over from the batch before).
TEST_F(FeatureStoreTest, EveryRowOfReusedWriteBatchesLandsOnceWithItsValues) {
  store_.reset();
  store_ = *FeatureStore::Open(*db_, clock_, {.data_dir = dir_.string(), .ingest_batch_rows = 2});
  ASSERT_TRUE(Apply(kDefinitions).ok());
  std::string rows = "customer_id,ts,amount\n";
  for (int k = 1; k <= 7; ++k) rows += std::to_string(k) + ",2024-01-01T00:00:00Z," +
                                       std::to_string(k * 10) + "\n";
  auto ingested = store_->Ingest({.source = "transactions", .path = WriteFile("seven.csv", rows)});
  ASSERT_TRUE(ingested.ok()) << ingested.status();
  EXPECT_EQ(ingested->rows, 7);
  EXPECT_EQ(ingested->view_rows.at("spend"), 7);
  for (const std::string& table : store_->offline().ListTables()) {
    EXPECT_EQ(store_->offline().Stats(table)->rows, 7) << table;
    EXPECT_EQ(store_->offline().Stats(table)->segments, 4) << table;
  }
  HistoricalRequest req;
  req.entities =
      Entities({1, 2, 3, 4, 5, 6, 7}, std::vector<const char*>(7, "2024-01-02T00:00:00Z"));
  req.features = {{"spend", "amount"}};
  auto got = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(got.ok()) << got.status();
  const Column& amount = got->table.columns[got->table.Find("amount")];
  for (int k = 1; k <= 7; ++k) EXPECT_EQ(amount.Get(k - 1), Value(k * 10.0)) << "customer " << k;
}

// Ingest stages a segment every ingest_batch_rows rows and commits only at the end: a bad
// row after several staged batches still leaves nothing, not even temporary files.
TEST_F(FeatureStoreTest, ABadRowAfterSeveralWriteBatchesLeavesNothing) {
  store_.reset();
  store_ = *FeatureStore::Open(*db_, clock_, {.data_dir = dir_.string(), .ingest_batch_rows = 2});
  ASSERT_TRUE(Apply(kDefinitions).ok());
  std::string good_rows =
      "customer_id,ts,amount\n"
      "1,2024-01-01T00:00:00Z,10\n2,2024-01-01T00:00:00Z,20\n"
      "3,2024-01-01T00:00:00Z,30\n4,2024-01-01T00:00:00Z,40\n"
      "5,2024-01-01T00:00:00Z,50\n";
  std::string path = WriteFile("late.csv", good_rows + "6,2024-01-01T00:00:00Z,x\n");
  auto rejected = store_->Ingest({.source = "transactions", .path = path, .file_label = "late.csv"});
  ASSERT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rejected.status().message()),
              ::testing::AllOf(::testing::HasSubstr("late.csv"), ::testing::HasSubstr("line 7"),
                               ::testing::HasSubstr("'x'")));
  std::vector<std::string> tables = store_->offline().ListTables();
  ASSERT_EQ(tables.size(), 2u);  // the source's and the view's
  for (const std::string& table : tables) {
    auto stats = store_->offline().Stats(table);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->rows, 0) << table;
    EXPECT_EQ(stats->segments, 0) << table;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "offline")) {
    EXPECT_FALSE(e.path().filename().string().starts_with("tmp-")) << e.path();
  }

  // The same rows without the bad one: three staged batches per table, all committed.
  auto ingested = store_->Ingest({.source = "transactions", .path = WriteFile("ok.csv", good_rows)});
  ASSERT_TRUE(ingested.ok()) << ingested.status();
  EXPECT_EQ(ingested->rows, 5);
  EXPECT_EQ(ingested->view_rows.at("spend"), 5);
  for (const std::string& table : tables) {
    EXPECT_EQ(store_->offline().Stats(table)->rows, 5) << table;
    EXPECT_EQ(store_->offline().Stats(table)->segments, 3) << table;
  }
  // With quarantine the bad row is set aside and the rest is written.
  auto kept = store_->Ingest({.source = "transactions", .path = path, .quarantine = true});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->rows, 5);
  EXPECT_EQ(kept->quarantined, 1);
  HistoricalRequest req;
  req.entities = Entities({5, 6}, {"2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z"});
  req.features = {{"spend", "amount"}};
  auto got = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->table.columns[got->table.Find("amount")].Get(0), Value(50.0));
  EXPECT_TRUE(IsNull(got->table.columns[got->table.Find("amount")].Get(1)));
}

TEST_F(FeatureStoreTest, PushOnlineServesFeastShapedRowsAndMaterializeFillsAggregations) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  Table rows;
  rows.AddColumn("customer_id", FeatureType::kInt64);
  rows.AddColumn("ts", FeatureType::kTimestamp);
  rows.AddColumn("amount", FeatureType::kDouble);
  rows.columns[0].AppendInt(7);
  rows.columns[1].AppendInt(T("2024-01-09T12:00:00Z"));
  rows.columns[2].AppendDouble(3.5);
  ASSERT_TRUE(store_->Push("transactions", rows, PushTarget::kOnlineAndOffline).ok());
  auto online = store_->online_service().GetOnlineFeatures(
      R"({"features": ["spend:amount_x2"], "entities": {"customer_id": [7, 8]}})");
  ASSERT_TRUE(online.ok()) << online.status();
  EXPECT_THAT(*online, ::testing::HasSubstr("7.0"));
  EXPECT_THAT(*online, ::testing::HasSubstr("NOT_FOUND"));

  auto m = store_->Materialize({.start = T("2024-01-01T00:00:00Z"), .end = T("2024-01-10T00:00:00Z")});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("spend").keys_written, 1);
  auto after = store_->online_service().GetOnlineFeatures(
      R"({"features": ["spend:tx_1d"], "entities": {"customer_id": [7]}})");
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(*after, ::testing::HasSubstr("[7]"));
  EXPECT_THAT(*after, ::testing::HasSubstr("[1]"));  // one transaction in the last day

  // Incremental continues from the last end: nothing new.
  auto inc = store_->Materialize({.end = T("2024-01-11T00:00:00Z"), .incremental = true});
  ASSERT_TRUE(inc.ok()) << inc.status();
  EXPECT_EQ(inc->at("spend").start, T("2024-01-10T00:00:00Z"));
  EXPECT_EQ(inc->at("spend").keys_written, 0);
}

TEST_F(FeatureStoreTest, AChangedExpressionRebuildsTheViewFromStoredSourceRows) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  ASSERT_TRUE(store_->Ingest({.source = "transactions", .path = WriteFile("tx.csv", kCsv)}).ok());
  std::string changed = kDefinitions;
  changed.replace(changed.find("amount * 2"), 10, "amount * 3");
  auto plan = Apply(changed);
  ASSERT_TRUE(plan.ok()) << plan.status();
  HistoricalRequest req;
  req.entities = Entities({2}, {"2024-01-02T00:00:00Z"});
  req.features = {{"spend", "amount_x2"}};
  auto result = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->table.columns[result->table.Find("amount_x2")].Get(0), Value(21.0));
  EXPECT_EQ(result->snapshot.view_versions.at("spend"), 2);
}

TEST_F(FeatureStoreTest, ASourceTypeChangeTheRowsCannotFollowIsRefusedBeforeRegistering) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  ASSERT_TRUE(store_->Ingest({.source = "transactions", .path = WriteFile("tx.csv", kCsv)}).ok());
  std::string changed = kDefinitions;
  changed.replace(changed.find("{name: amount, type: double}"), 28,
                  "{name: amount, type: int64}");
  auto refused = Apply(changed);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::AllOf(::testing::HasSubstr("field 'amount'"),
                               ::testing::HasSubstr("double to int64")));
  EXPECT_EQ(store_->registry().GetSource("transactions")->version, 1);
  // A nullable new field is carried over (null for the old rows), and the rows stay.
  std::string added = kDefinitions;
  added.replace(added.find("  - {name: amount, type: double}\n---"), 0,
                "  - {name: channel, type: string}\n");
  ASSERT_TRUE(Apply(added).ok()) << Apply(added).status();
  HistoricalRequest req;
  req.entities = Entities({2}, {"2024-01-02T00:00:00Z"});
  req.features = {{"spend", "amount"}};
  auto result = store_->GetHistoricalFeatures(req);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->table.columns[result->table.Find("amount")].Get(0), Value(7.0));
}

TEST_F(FeatureStoreTest, QuarantinedRowsThatAreNotUtf8AreStoredNotACrash) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  std::string path = WriteFile("latin1.csv",
                               "customer_id,ts,amount\n1,2024-01-01T00:00:00Z,caf\xe9\n");
  auto kept = store_->Ingest(
      {.source = "transactions", .path = path, .quarantine = true, .file_label = "\xff.csv"});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->quarantined, 1);
}

TEST_F(FeatureStoreTest, RemovedAndReAddedObjectsStartAfreshAndADescriptionKeepsOnlineRows) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  ASSERT_TRUE(store_->Ingest({.source = "transactions", .path = WriteFile("tx.csv", kCsv)}).ok());
  ASSERT_TRUE(store_->Materialize({.start = T("2024-01-01T00:00:00Z"),
                                   .end = T("2024-01-10T00:00:00Z")})
                  .ok());
  const char* kRequest = R"({"features": ["spend:amount"], "entities": {"customer_id": [2]}})";
  EXPECT_THAT(*store_->online_service().GetOnlineFeatures(kRequest), ::testing::HasSubstr("7.0"));
  // A new description changes nothing stored: the online row stays.
  std::string described = kDefinitions;
  described.replace(described.find("name: spend\n"), 12, "name: spend\ndescription: Spend\n");
  ASSERT_TRUE(Apply(described).ok());
  EXPECT_THAT(*store_->online_service().GetOnlineFeatures(kRequest), ::testing::HasSubstr("7.0"));
  // Removed (prune) and added again: an empty source, nothing online, and ingest works.
  auto entity_only = ParseDefinitionsYaml(
      "kind: Entity\nname: customer\njoin_keys: [{name: customer_id, type: int64}]\n", "e.yaml");
  auto pruned = store_->Apply(*entity_only, false, true);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  ASSERT_TRUE(Apply(kDefinitions).ok());
  EXPECT_THAT(*store_->online_service().GetOnlineFeatures(kRequest),
              ::testing::HasSubstr("NOT_FOUND"));
  auto again = store_->Ingest({.source = "transactions", .path = WriteFile("tx2.csv", kCsv)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->view_rows.at("spend"), 4);
  // ttl 2d back from the end: Jan 1 12:00 onwards, both customers.
  auto inc = store_->Materialize({.end = T("2024-01-03T12:00:00Z"), .incremental = true});
  ASSERT_TRUE(inc.ok()) << inc.status();
  EXPECT_EQ(inc->at("spend").keys_written, 2);  // from the ttl, not the removed view's last end
}

TEST_F(FeatureStoreTest, UnknownFeatureNamesTheViewAndSuggests) {
  ASSERT_TRUE(Apply(kDefinitions).ok());
  HistoricalRequest req;
  req.entities = Entities({1}, {"2024-01-02T00:00:00Z"});
  req.features = {{"spend", "amout"}};
  auto result = store_->GetHistoricalFeatures(req);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()), ::testing::HasSubstr("did you mean 'amount'"));
}

}  // namespace
}  // namespace cairn::features
