#include "features/online/materializer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>

#include "features/entity_key.h"
#include "features/online/embedded_online_store.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

FeatureSpec Row(std::string name, FeatureType type) {
  FeatureSpec f;
  f.name = std::move(name);
  f.type = type;
  return f;
}

FeatureSpec Agg(std::string name, AggFn fn, int64_t window, FeatureType type = FeatureType::kDouble) {
  FeatureSpec f;
  f.name = std::move(name);
  f.type = type;
  f.agg = fn;
  f.of = fn == AggFn::kCount ? "" : "amount";
  f.window_ms = window;
  return f;
}

struct TestRow {
  int64_t key, ev, cr;
  std::optional<double> amount;
  std::string city;
};

class MaterializerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-materialize-" + std::to_string(std::random_device()()));
    auto store = OpenEmbeddedOnlineStore(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    spec_.meta.name = "txn";
    spec_.features = {Row("amount", FeatureType::kDouble), Row("city", FeatureType::kString),
                      Agg("sum_10", AggFn::kSum, 10), Agg("count_5", AggFn::kCount, 5, FeatureType::kInt64),
                      Agg("mean_30", AggFn::kMean, 30), Agg("max_7", AggFn::kMax, 7),
                      Agg("min_7", AggFn::kMin, 7)};
    keys_ = {Field{"customer_id", FeatureType::kInt64, false}};
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static Table MakeTable(std::vector<TestRow> rows) {
    std::stable_sort(rows.begin(), rows.end(), [](const TestRow& a, const TestRow& b) {
      return std::tie(a.key, a.ev, a.cr) < std::tie(b.key, b.ev, b.cr);
    });
    Table t;
    t.AddColumn("customer_id", FeatureType::kInt64);
    t.AddColumn(kEventTsColumn, FeatureType::kTimestamp);
    t.AddColumn(kCreatedTsColumn, FeatureType::kTimestamp);
    t.AddColumn("amount", FeatureType::kDouble);
    t.AddColumn("city", FeatureType::kString);
    for (const char* name : {"__agg_input.sum_10", "__agg_input.mean_30", "__agg_input.max_7",
                             "__agg_input.min_7"}) {
      t.AddColumn(name, FeatureType::kDouble);
    }
    for (const TestRow& r : rows) {
      t.columns[0].AppendInt(r.key);
      t.columns[1].AppendInt(r.ev);
      t.columns[2].AppendInt(r.cr);
      for (int c : {3, 5, 6, 7, 8}) {
        if (r.amount) {
          t.columns[c].AppendDouble(*r.amount);
        } else {
          t.columns[c].AppendNull();
        }
      }
      t.columns[4].AppendString(r.city);
    }
    return t;
  }

  std::optional<OnlineRow> Read(int64_t key) {
    std::string k;
    EncodeKeyValue(Value(key), FeatureType::kInt64, &k);
    std::vector<std::optional<OnlineRow>> out;
    EXPECT_TRUE(store_->Read("txn", std::vector<std::string>{k}, &out).ok());
    return out[0];
  }

  std::filesystem::path dir_;
  std::unique_ptr<OnlineStore> store_;
  FeatureViewSpec spec_;
  std::vector<Field> keys_;
};

TEST_F(MaterializerTest, LatestRowInRangeAndWindowsAsOfEnd) {
  // Range [100, 200). Key 1: rows before, in and after the range; tie at ev 150.
  // Key 2: only before the range (not written). Key 3: only after (not written).
  Table table = MakeTable({
      {1, 95, 0, 1.0, "a"},   {1, 150, 2, 5.0, "c"}, {1, 150, 1, 4.0, "b"},
      {1, 195, 0, 3.0, "d"},  {1, 199, 5, std::nullopt, "e"}, {1, 200, 0, 100.0, "f"},
      {2, 99, 0, 7.0, "x"},   {3, 200, 0, 8.0, "y"},  {3, 250, 0, 9.0, "z"},
  });
  auto stream = StreamOfSortedTable(table, 2);
  std::vector<MaterializeProgress> progress;
  MaterializeOptions options{.batch_keys = 1,
                             .progress = [&](const MaterializeProgress& p) { progress.push_back(p); }};
  auto result = Materialize(spec_, keys_, *stream, *store_, 100, 200, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rows_read, 9);
  EXPECT_EQ(result->rows_in_range, 4);
  EXPECT_EQ(result->keys_written, 1);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().keys_written, 1);
  EXPECT_EQ(progress.back().rows_read, 9);

  std::optional<OnlineRow> row = Read(1);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event_ts, 199);
  EXPECT_EQ(row->created_ts, 5);
  EXPECT_TRUE(IsNull(row->values[0]));
  EXPECT_EQ(std::get<std::string>(row->values[1]), "e");
  // sum over (190, 200]: 3 + 100 (the row at ev == end is inside the window; null skipped).
  EXPECT_EQ(std::get<double>(row->values[2]), 103.0);
  // count over (195, 200]: rows at 199, 200.
  EXPECT_EQ(std::get<int64_t>(row->values[3]), 2);
  // mean over (170, 200]: 3, 100.
  EXPECT_EQ(std::get<double>(row->values[4]), 51.5);
  EXPECT_EQ(std::get<double>(row->values[5]), 100.0);
  EXPECT_EQ(std::get<double>(row->values[6]), 3.0);
  EXPECT_FALSE(Read(2).has_value());
  EXPECT_FALSE(Read(3).has_value());
}

TEST_F(MaterializerTest, MatchesBruteForceOnRandomData) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<TestRow> rows;
    int keys = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < 400; ++i) {
      TestRow r{static_cast<int64_t>(rng() % keys), static_cast<int64_t>(rng() % 120),
                static_cast<int64_t>(rng() % 3), std::nullopt, std::string(1, 'a' + rng() % 26)};
      if (rng() % 5 != 0) r.amount = static_cast<double>(static_cast<int64_t>(rng() % 200) - 100);
      rows.push_back(r);
    }
    Table table = MakeTable(rows);
    int64_t start = static_cast<int64_t>(rng() % 60), end = start + 1 + static_cast<int64_t>(rng() % 60);
    std::string view = "txn";
    ASSERT_TRUE(store_->DropView(view).ok());
    auto stream = StreamOfSortedTable(table, 1 + rng() % 50);
    auto result = Materialize(spec_, keys_, *stream, *store_, start, end,
                              {.batch_keys = 1 + rng() % 7});
    ASSERT_TRUE(result.ok()) << result.status();

    // Brute force over the sorted table.
    std::map<int64_t, std::vector<size_t>> by_key;
    for (size_t i = 0; i < table.num_rows(); ++i) by_key[table.columns[0].ints[i]].push_back(i);
    int64_t written = 0;
    for (const auto& [key, idx] : by_key) {
      std::optional<size_t> latest;
      for (size_t i : idx) {
        int64_t ev = table.columns[1].ints[i];
        if (ev >= start && ev < end) latest = i;  // sorted: the last one wins
      }
      std::optional<OnlineRow> got = Read(key);
      ASSERT_EQ(got.has_value(), latest.has_value()) << "round " << round << " key " << key;
      if (!latest) continue;
      ++written;
      EXPECT_EQ(got->event_ts, table.columns[1].ints[*latest]);
      EXPECT_EQ(got->created_ts, table.columns[2].ints[*latest]);
      EXPECT_EQ(got->values[0], table.columns[3].Get(*latest));
      EXPECT_EQ(got->values[1], table.columns[4].Get(*latest));
      for (size_t f = 2; f < spec_.features.size(); ++f) {
        const FeatureSpec& fs = spec_.features[f];
        std::vector<double> in;
        int64_t count = 0;
        for (size_t i : idx) {
          int64_t ev = table.columns[1].ints[i];
          if (ev <= end - fs.window_ms || ev > end) continue;
          ++count;
          if (!table.columns[3].IsNull(i)) in.push_back(table.columns[3].doubles[i]);
        }
        Value want;
        switch (fs.agg) {
          case AggFn::kCount: want = count; break;
          case AggFn::kSum: if (!in.empty()) want = std::accumulate(in.begin(), in.end(), 0.0); break;
          case AggFn::kMean: if (!in.empty()) want = std::accumulate(in.begin(), in.end(), 0.0) / in.size(); break;
          case AggFn::kMax: if (!in.empty()) want = *std::max_element(in.begin(), in.end()); break;
          case AggFn::kMin: if (!in.empty()) want = *std::min_element(in.begin(), in.end()); break;
          default: break;
        }
        if (std::holds_alternative<double>(want) && std::holds_alternative<double>(got->values[f])) {
          EXPECT_NEAR(std::get<double>(got->values[f]), std::get<double>(want), 1e-9)
              << fs.name << " key " << key;
        } else {
          EXPECT_EQ(got->values[f], want) << fs.name << " key " << key << " round " << round;
        }
      }
    }
    EXPECT_EQ(result->keys_written, written);
  }
}

TEST_F(MaterializerTest, ScanStartReachesBackByTheLongestWindow) {
  EXPECT_EQ(MaterializeScanStart(spec_, 1000), 970);
  FeatureViewSpec plain;
  plain.features = {Row("amount", FeatureType::kDouble)};
  EXPECT_EQ(MaterializeScanStart(plain, 1000), 1000);
}

TEST_F(MaterializerTest, BadInputsAreInvalidArgument) {
  Table table = MakeTable({{1, 1, 0, 1.0, "a"}});
  auto stream = StreamOfSortedTable(table);
  auto result = Materialize(spec_, keys_, *stream, *store_, 10, 10);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<Field> wrong_keys = {Field{"driver_id", FeatureType::kInt64, false}};
  result = Materialize(spec_, wrong_keys, *stream, *store_, 0, 10);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(result.status().message()),
            "materialize 'txn': the view table has no join-key column 'driver_id'");
  FeatureViewSpec typed = spec_;
  typed.features[0].type = FeatureType::kInt64;
  result = Materialize(typed, keys_, *stream, *store_, 0, 10);
  EXPECT_EQ(std::string(result.status().message()),
            "materialize 'txn': column 'amount' is double but the feature is declared int64");
}

}  // namespace
}  // namespace cairn::features
