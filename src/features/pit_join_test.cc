#include "features/pit_join.h"

#include <deque>
#include <random>
#include <set>

#include "features/testing/pit_reference.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

using ::testing::HasSubstr;
using testing::ReferencePointInTimeJoin;
using testing::ReferenceView;
using testing::SortViewRows;

Value I(int64_t v) { return v; }
Value D(double v) { return v; }
Value S(const char* v) { return std::string(v); }
const Value N;  // null

struct Col {
  std::string name;
  FeatureType type;
  std::vector<Value> values;
};

Table MakeTable(const std::vector<Col>& cols) {
  Table t;
  for (const Col& c : cols) {
    int idx = t.AddColumn(c.name, c.type);
    for (const Value& v : c.values) EXPECT_TRUE(t.columns[idx].Append(v).ok()) << c.name;
  }
  return t;
}

FeatureViewSpec Spec(std::string name, std::vector<FeatureSpec> features, int64_t ttl_ms = 0) {
  FeatureViewSpec spec;
  spec.meta.name = std::move(name);
  spec.ttl_ms = ttl_ms;
  spec.features = std::move(features);
  return spec;
}

FeatureSpec Feature(std::string name, FeatureType type = FeatureType::kDouble) {
  FeatureSpec f;
  f.name = std::move(name);
  f.type = type;
  return f;
}

FeatureSpec Agg(std::string name, AggFn fn, int64_t window_ms) {
  FeatureSpec f;
  f.name = std::move(name);
  f.agg = fn;
  f.window_ms = window_ms;
  f.of = "x";
  return f;
}

// Owns the sorted view tables the streams borrow.
class PitJoinTest : public ::testing::TestWithParam<size_t> {
 protected:
  PitView View(const FeatureViewSpec& spec, std::vector<std::string> keys, const Table& rows,
               std::vector<std::string> features) {
    tables_.push_back(SortViewRows(rows, keys));
    return PitView{&spec, std::move(keys), StreamOfSortedTable(tables_.back(), GetParam()),
                   std::move(features)};
  }

  static PitOptions Options(bool full_names = false, int threads = 0) {
    PitOptions o;
    o.timestamp_column = "ts";
    o.full_feature_names = full_names;
    o.threads = threads;
    return o;
  }

  std::deque<Table> tables_;
};

std::vector<Value> Values(const Table& t, const std::string& name) {
  int c = t.Find(name);
  EXPECT_GE(c, 0) << name;
  std::vector<Value> out;
  if (c < 0) return out;
  for (size_t i = 0; i < t.num_rows(); ++i) out.push_back(t.columns[c].Get(i));
  return out;
}

// driver 1: rows at 10 (a=1), 20 (a=2); driver 2: row at 15 (a=5).
Table DriverRows() {
  return MakeTable({{"driver_id", FeatureType::kInt64, {I(1), I(1), I(2)}},
                    {kEventTsColumn, FeatureType::kTimestamp, {I(10), I(20), I(15)}},
                    {kCreatedTsColumn, FeatureType::kTimestamp, {I(0), I(0), I(0)}},
                    {"a", FeatureType::kDouble, {D(1), D(2), D(5)}}});
}

TEST_P(PitJoinTest, LatestRowAtOrBeforeTheTimestamp) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  Table entities = MakeTable({{"driver_id", FeatureType::kInt64, {I(1), I(1), I(1), I(1), I(2)}},
                              {"ts", FeatureType::kTimestamp, {I(9), I(10), I(19), I(25), I(15)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  // ts before every row → null; event_ts == ts included.
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{N, D(1), D(1), D(2), D(5)}));
  EXPECT_EQ(out->names, (std::vector<std::string>{"driver_id", "ts", "a"}));
}

TEST_P(PitJoinTest, EqualEventTimesGoToTheGreatestCreatedTime) {
  FeatureViewSpec spec = Spec("v", {Feature("a")});
  Table rows = MakeTable({{"k", FeatureType::kInt64, {I(1), I(1), I(1), I(1)}},
                          {kEventTsColumn, FeatureType::kTimestamp, {I(10), I(10), I(10), I(5)}},
                          {kCreatedTsColumn, FeatureType::kTimestamp, {I(3), I(7), I(5), I(99)}},
                          {"a", FeatureType::kDouble, {D(3), D(7), D(5), D(99)}}});
  Table entities = MakeTable({{"k", FeatureType::kInt64, {I(1), I(1)}},
                              {"ts", FeatureType::kTimestamp, {I(10), I(9)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"k"}, rows, {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{D(7), D(99)}));
}

TEST_P(PitJoinTest, TtlCountsBackFromEachRowAndIncludesItsEdge) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")}, /*ttl_ms=*/5);
  Table entities = MakeTable({{"driver_id", FeatureType::kInt64, {I(1), I(1), I(1), I(1)}},
                              {"ts", FeatureType::kTimestamp, {I(15), I(16), I(25), I(26)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  // 15 - 5 = 10: the row at 10 counts; at 16 it is too old (and the older row too).
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{D(1), N, D(2), N}));
}

TEST_P(PitJoinTest, KeyAbsentFromTheViewAndNullKeysGiveNull) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  Table entities =
      MakeTable({{"driver_id", FeatureType::kInt64, {I(0), I(3), N, I(2), I(2)}},
                 {"ts", FeatureType::kTimestamp, {I(100), I(100), I(100), I(100), N}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{N, N, N, D(5), N}));
}

TEST_P(PitJoinTest, NullKeyInTheViewRowsNeverMatches) {
  FeatureViewSpec spec = Spec("v", {Feature("a")});
  Table rows = MakeTable({{"k", FeatureType::kInt64, {N, N, I(0)}},
                          {kEventTsColumn, FeatureType::kTimestamp, {I(1), I(2), I(3)}},
                          {kCreatedTsColumn, FeatureType::kTimestamp, {I(0), I(0), I(0)}},
                          {"a", FeatureType::kDouble, {D(1), D(2), D(3)}}});
  Table entities = MakeTable({{"k", FeatureType::kInt64, {I(0), I(0)}},
                              {"ts", FeatureType::kTimestamp, {I(2), I(5)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"k"}, rows, {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{N, D(3)}));
}

TEST_P(PitJoinTest, CompositeAndStringKeys) {
  FeatureViewSpec spec = Spec("trips", {Feature("fare"), Feature("city", FeatureType::kString)});
  Table rows = MakeTable(
      {{"driver", FeatureType::kInt64, {I(1), I(1), I(1), I(2)}},
       {"rider", FeatureType::kString, {S("ann"), S("bob"), S("bob"), S("ann")}},
       {kEventTsColumn, FeatureType::kTimestamp, {I(10), I(10), I(20), I(10)}},
       {kCreatedTsColumn, FeatureType::kTimestamp, {I(0), I(0), I(0), I(0)}},
       {"fare", FeatureType::kDouble, {D(1), D(2), D(3), D(4)}},
       {"city", FeatureType::kString, {S("x"), N, S("z"), S("w")}}});
  Table entities = MakeTable(
      {{"rider", FeatureType::kString, {S("bob"), S("bob"), S("ann"), S("ann"), S("cy")}},
       {"ts", FeatureType::kTimestamp, {I(15), I(20), I(30), I(30), I(30)}},
       {"driver", FeatureType::kInt64, {I(1), I(1), I(2), I(3), I(1)}},
       {"label", FeatureType::kBool, {Value(true), Value(false), N, Value(true), Value(true)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver", "rider"}, rows, {"city", "fare"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->names,
            (std::vector<std::string>{"rider", "ts", "driver", "label", "city", "fare"}));
  EXPECT_EQ(Values(*out, "fare"), (std::vector<Value>{D(2), D(3), D(4), N, N}));
  EXPECT_EQ(Values(*out, "city"), (std::vector<Value>{N, S("z"), S("w"), N, N}));
  EXPECT_EQ(Values(*out, "label"), Values(entities, "label"));

  // A single string key.
  FeatureViewSpec riders = Spec("riders", {Feature("fare")});
  Table rider_rows = MakeTable({{"rider", FeatureType::kString, {S("ann"), S("bob")}},
                                {kEventTsColumn, FeatureType::kTimestamp, {I(1), I(1)}},
                                {kCreatedTsColumn, FeatureType::kTimestamp, {I(0), I(0)}},
                                {"fare", FeatureType::kDouble, {D(8), D(9)}}});
  views.clear();
  views.push_back(View(riders, {"rider"}, rider_rows, {"fare"}));
  out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "fare"), (std::vector<Value>{D(9), D(9), D(8), D(8), N}));
}

TEST_P(PitJoinTest, UnsortedEntityRowsWithDuplicatesKeepTheirOrder) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  Table entities =
      MakeTable({{"ts", FeatureType::kTimestamp, {I(25), I(12), I(25), I(16), I(12), I(25)}},
                 {"driver_id", FeatureType::kInt64, {I(1), I(1), I(1), I(2), I(1), I(2)}},
                 {"row", FeatureType::kInt64, {I(0), I(1), I(2), I(3), I(4), I(5)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "row"), Values(entities, "row"));
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{D(2), D(1), D(2), D(5), D(1), D(5)}));
}

TEST_P(PitJoinTest, OverlappingFeatureNamesNeedFullNames) {
  FeatureViewSpec drivers = Spec("drivers", {Feature("a")});
  FeatureViewSpec cars = Spec("cars", {Feature("a")});
  Table entities = MakeTable(
      {{"driver_id", FeatureType::kInt64, {I(1)}}, {"ts", FeatureType::kTimestamp, {I(30)}}});
  Table car_rows = MakeTable({{"driver_id", FeatureType::kInt64, {I(1)}},
                              {kEventTsColumn, FeatureType::kTimestamp, {I(1)}},
                              {kCreatedTsColumn, FeatureType::kTimestamp, {I(0)}},
                              {"a", FeatureType::kDouble, {D(42)}}});
  {
    std::vector<PitView> views;
    views.push_back(View(drivers, {"driver_id"}, DriverRows(), {"a"}));
    views.push_back(View(cars, {"driver_id"}, car_rows, {"a"}));
    auto out = PointInTimeJoin(entities, std::move(views), Options());
    ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("view 'drivers'"));
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("view 'cars'"));
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("full_feature_names"));
  }
  std::vector<PitView> views;
  views.push_back(View(drivers, {"driver_id"}, DriverRows(), {"a"}));
  views.push_back(View(cars, {"driver_id"}, car_rows, {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options(/*full_names=*/true));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->names,
            (std::vector<std::string>{"driver_id", "ts", "drivers__a", "cars__a"}));
  EXPECT_EQ(Values(*out, "drivers__a"), (std::vector<Value>{D(2)}));
  EXPECT_EQ(Values(*out, "cars__a"), (std::vector<Value>{D(42)}));
}

TEST_P(PitJoinTest, WindowAggregationsAtTheWindowEdges) {
  FeatureViewSpec spec = Spec("tx", {Agg("n", AggFn::kCount, 10), Agg("n_x", AggFn::kCount, 10),
                                     Agg("sum", AggFn::kSum, 10), Agg("mean", AggFn::kMean, 10),
                                     Agg("min", AggFn::kMin, 10), Agg("max", AggFn::kMax, 10)});
  std::vector<Value> x = {D(1), D(2), N, D(4)};
  Table rows = MakeTable({{"k", FeatureType::kInt64, {I(1), I(1), I(1), I(1)}},
                          {kEventTsColumn, FeatureType::kTimestamp, {I(10), I(15), I(20), I(20)}},
                          {kCreatedTsColumn, FeatureType::kTimestamp, {I(0), I(0), I(0), I(1)}},
                          {"__agg_input.n_x", FeatureType::kDouble, x},
                          {"__agg_input.sum", FeatureType::kDouble, x},
                          {"__agg_input.mean", FeatureType::kDouble, x},
                          {"__agg_input.min", FeatureType::kDouble, x},
                          {"__agg_input.max", FeatureType::kDouble, x}});
  // ts 20: window (10, 20] has 15, 20, 20. ts 19: (9, 19] has 10, 15. ts 25: (15, 25].
  // ts 9: empty. k 2: not in the view.
  Table entities = MakeTable({{"k", FeatureType::kInt64, {I(1), I(1), I(1), I(1), I(2)}},
                              {"ts", FeatureType::kTimestamp, {I(20), I(19), I(25), I(9), I(20)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"k"}, rows, {"n", "n_x", "sum", "mean", "min", "max"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "n"), (std::vector<Value>{I(3), I(2), I(2), I(0), I(0)}));
  EXPECT_EQ(Values(*out, "n_x"), (std::vector<Value>{I(2), I(2), I(1), I(0), I(0)}));
  EXPECT_EQ(Values(*out, "sum"), (std::vector<Value>{D(6), D(3), D(4), N, N}));
  EXPECT_EQ(Values(*out, "mean"), (std::vector<Value>{D(3), D(1.5), D(4), N, N}));
  EXPECT_EQ(Values(*out, "min"), (std::vector<Value>{D(2), D(1), D(4), N, N}));
  EXPECT_EQ(Values(*out, "max"), (std::vector<Value>{D(4), D(2), D(4), N, N}));
  EXPECT_EQ(out->columns[out->Find("n")].type, FeatureType::kInt64);
  EXPECT_EQ(out->columns[out->Find("sum")].type, FeatureType::kDouble);
}

TEST_P(PitJoinTest, ErrorsNameWhatIsWrong) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  auto join = [&](const Table& entities, std::vector<std::string> features = {"a"},
                  std::string key = "driver_id") {
    tables_.push_back(SortViewRows(DriverRows(), {"driver_id"}));
    std::vector<PitView> views;
    views.push_back(PitView{&spec, {std::move(key)}, StreamOfSortedTable(tables_.back()),
                            std::move(features)});
    return PointInTimeJoin(entities, std::move(views), Options());
  };
  auto expect = [](const absl::StatusOr<Table>& out, const std::string& text) {
    ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
    EXPECT_THAT(std::string(out.status().message()), HasSubstr(text));
  };
  expect(join(MakeTable({{"driver_id", FeatureType::kInt64, {I(1)}},
                         {"event_timestamp", FeatureType::kTimestamp, {I(1)}}})),
         "timestamp column 'ts'");
  expect(join(MakeTable({{"driver_id", FeatureType::kString, {S("1")}},
                         {"ts", FeatureType::kTimestamp, {I(1)}}})),
         "entity column 'driver_id' is string but view 'drivers' has it as int64");
  expect(join(MakeTable({{"driver", FeatureType::kInt64, {I(1)}},
                         {"ts", FeatureType::kTimestamp, {I(1)}}})),
         "no column 'driver_id'");
  Table ok = MakeTable(
      {{"driver_id", FeatureType::kInt64, {I(1)}}, {"ts", FeatureType::kTimestamp, {I(1)}}});
  expect(join(ok, {"b"}), "view 'drivers' has no feature 'b'");
  expect(join(ok, {"a", "a"}), "output column 'a' is both");
  expect(join(ok, {"a"}, "rider"), "key column 'rider' is not in the view's rows");
  Table clash = MakeTable({{"driver_id", FeatureType::kInt64, {I(1)}},
                           {"ts", FeatureType::kTimestamp, {I(1)}},
                           {"a", FeatureType::kInt64, {I(1)}}});
  expect(join(clash), "output column 'a' (feature 'a' of view 'drivers') has the name");
}

TEST_P(PitJoinTest, EmptyInputs) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  Table entities =
      MakeTable({{"driver_id", FeatureType::kInt64, {}}, {"ts", FeatureType::kTimestamp, {}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->num_rows(), 0u);
  EXPECT_EQ(out->names.back(), "a");

  Table empty_view = DriverRows();
  empty_view.Clear();
  Table one = MakeTable(
      {{"driver_id", FeatureType::kInt64, {I(1)}}, {"ts", FeatureType::kTimestamp, {I(50)}}});
  views.clear();
  views.push_back(View(spec, {"driver_id"}, empty_view, {"a"}));
  out = PointInTimeJoin(one, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{N}));
}

TEST_P(PitJoinTest, Int64TimestampColumnAndAnySchemaOrder) {
  FeatureViewSpec spec = Spec("drivers", {Feature("a")});
  Table entities = MakeTable({{"ts", FeatureType::kInt64, {I(20), I(12)}},
                              {"driver_id", FeatureType::kInt64, {I(1), I(1)}}});
  std::vector<PitView> views;
  views.push_back(View(spec, {"driver_id"}, DriverRows(), {"a"}));
  auto out = PointInTimeJoin(entities, std::move(views), Options());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out, "a"), (std::vector<Value>{D(2), D(1)}));
}

// A stream that fails after its first batch, as a damaged segment does.
class FailingStream final : public RowStream {
 public:
  explicit FailingStream(const Table& rows) : rows_(rows), schema_(rows.schema()) {}
  const Schema& schema() const override { return schema_; }
  absl::StatusOr<bool> Next(Table* batch) override {
    if (calls_++ > 0) return absl::DataLossError("seg-00000001.cseg: bad checksum");
    *batch = rows_;
    return true;
  }

 private:
  Table rows_;
  Schema schema_;
  int calls_ = 0;
};

TEST_P(PitJoinTest, StreamErrorsAreReturned) {
  FeatureViewSpec drivers = Spec("drivers", {Feature("a")});
  FeatureViewSpec cars = Spec("cars", {Feature("b")});
  Table car_rows = MakeTable({{"driver_id", FeatureType::kInt64, {I(1)}},
                              {kEventTsColumn, FeatureType::kTimestamp, {I(1)}},
                              {kCreatedTsColumn, FeatureType::kTimestamp, {I(0)}},
                              {"b", FeatureType::kDouble, {D(42)}}});
  Table entities = MakeTable({{"driver_id", FeatureType::kInt64, {I(1), I(9)}},
                              {"ts", FeatureType::kTimestamp, {I(30), I(30)}}});
  for (int threads : {1, 2}) {
    std::vector<PitView> views;
    views.push_back(View(drivers, {"driver_id"}, DriverRows(), {"a"}));
    views.push_back(PitView{&cars, {"driver_id"},
                            std::make_unique<FailingStream>(SortViewRows(car_rows, {"driver_id"})),
                            {"b"}});
    auto out = PointInTimeJoin(entities, std::move(views), Options(false, threads));
    ASSERT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << out.status();
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("seg-00000001.cseg"));
  }
}

INSTANTIATE_TEST_SUITE_P(BatchSizes, PitJoinTest, ::testing::Values(1, 2, 4096));

// ---------------------------------------------------------------------------------------
// Randomized comparison with the brute-force reference.

void ExpectSameTable(const Table& got, const Table& want, const std::string& context) {
  ASSERT_EQ(got.names, want.names) << context;
  ASSERT_EQ(got.num_rows(), want.num_rows()) << context;
  for (size_t c = 0; c < got.num_columns(); ++c) {
    ASSERT_EQ(got.columns[c].type, want.columns[c].type) << context << " " << got.names[c];
    for (size_t r = 0; r < got.num_rows(); ++r) {
      ASSERT_EQ(got.columns[c].Get(r), want.columns[c].Get(r))
          << context << " column " << got.names[c] << " row " << r;
    }
  }
}

enum class KeyKind { kInt, kString, kComposite };

TEST(PitJoinPropertyTest, MatchesBruteForceReference) {
  std::mt19937_64 rng(20240611);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  const size_t kBatchSizes[] = {1, 2, 3, 7, 4096};
  const AggFn kAggs[] = {AggFn::kCount, AggFn::kSum, AggFn::kMean, AggFn::kMin, AggFn::kMax};

  for (int iter = 0; iter < 3000; ++iter) {
    const KeyKind kind = static_cast<KeyKind>(uniform(0, 2));
    std::vector<Field> key_fields;
    if (kind != KeyKind::kString) key_fields.push_back({"id", FeatureType::kInt64});
    if (kind != KeyKind::kInt) key_fields.push_back({"name", FeatureType::kString});
    std::vector<std::string> key_names;
    for (const Field& f : key_fields) key_names.push_back(f.name);
    const int64_t num_keys = uniform(1, 5);
    const int64_t max_ts = uniform(3, 30);
    auto key_cell = [&](const Field& f, Column* col, bool allow_null) {
      if (allow_null && chance(0.05)) return col->AppendNull();
      int64_t k = uniform(0, num_keys);  // num_keys itself: maybe absent from the views
      if (f.type == FeatureType::kInt64) return col->AppendInt(k - 1);
      col->AppendString(std::string(1, static_cast<char>('a' + k)));
    };

    const int num_views = static_cast<int>(uniform(1, 3));
    std::deque<FeatureViewSpec> specs;
    std::deque<Table> unsorted, sorted;
    std::vector<ReferenceView> ref_views;
    std::vector<PitView> views;
    const bool full_names = chance(0.5);
    const size_t batch = kBatchSizes[uniform(0, 4)];
    for (int v = 0; v < num_views; ++v) {
      std::vector<FeatureSpec> features = {Feature("d"), Feature("s", FeatureType::kString),
                                           Feature("i", FeatureType::kInt64)};
      const int num_aggs = static_cast<int>(uniform(0, 3));
      for (int a = 0; a < num_aggs; ++a) {
        FeatureSpec f = Agg("agg" + std::to_string(a), kAggs[uniform(0, 4)], uniform(0, 12));
        features.push_back(f);
      }
      specs.push_back(Spec("v" + std::to_string(v), features, chance(0.5) ? 0 : uniform(1, 10)));
      Table rows;
      for (const Field& f : key_fields) rows.AddColumn(f.name, f.type);
      rows.AddColumn(kEventTsColumn, FeatureType::kTimestamp);
      rows.AddColumn(kCreatedTsColumn, FeatureType::kTimestamp);
      rows.AddColumn("d", FeatureType::kDouble);
      rows.AddColumn("s", FeatureType::kString);
      rows.AddColumn("i", FeatureType::kInt64);
      std::vector<bool> agg_has_input;
      for (int a = 0; a < num_aggs; ++a) {
        bool has = specs.back().features[3 + a].agg != AggFn::kCount || chance(0.5);
        agg_has_input.push_back(has);
        if (has) rows.AddColumn("__agg_input.agg" + std::to_string(a), FeatureType::kDouble);
      }
      const int64_t num_rows = uniform(0, 40);
      for (int64_t r = 0; r < num_rows; ++r) {
        size_t c = 0;
        for (const Field& f : key_fields) key_cell(f, &rows.columns[c++], /*allow_null=*/true);
        rows.columns[c++].AppendInt(uniform(0, max_ts));
        // Created times are unique, so the winner among equal event times is defined.
        rows.columns[c++].AppendInt(uniform(0, 5) * 1000 + r);
        if (chance(0.2)) {
          rows.columns[c++].AppendNull();
        } else {
          rows.columns[c++].AppendDouble(static_cast<double>(uniform(-20, 20)) / 4);
        }
        if (chance(0.2)) {
          rows.columns[c++].AppendNull();
        } else {
          rows.columns[c++].AppendString("s" + std::to_string(r));
        }
        rows.columns[c++].AppendInt(r);
        for (int a = 0; a < num_aggs; ++a) {
          if (!agg_has_input[a]) continue;
          if (chance(0.2)) {
            rows.columns[c++].AppendNull();
          } else {
            rows.columns[c++].AppendDouble(static_cast<double>(uniform(-20, 20)) / 4);
          }
        }
      }
      std::vector<std::string> requested;
      for (const FeatureSpec& f : specs.back().features) {
        if (chance(0.8)) requested.push_back(f.name);
      }
      std::shuffle(requested.begin(), requested.end(), rng);
      unsorted.push_back(std::move(rows));
      sorted.push_back(SortViewRows(unsorted.back(), key_names));
      ref_views.push_back({&specs.back(), key_names, &unsorted.back(), requested});
      views.push_back(PitView{&specs.back(), key_names, StreamOfSortedTable(sorted.back(), batch),
                              requested});
    }
    if (!full_names && num_views > 1) {
      // Keep the names distinct: each view contributes only features no other view asked
      // for (they all have the same names).
      std::set<std::string> seen;
      for (size_t v = 0; v < views.size(); ++v) {
        std::vector<std::string> keep;
        for (const std::string& f : views[v].features) {
          if (seen.insert(f).second) keep.push_back(f);
        }
        views[v].features = keep;
        ref_views[v].features = keep;
      }
    }

    Table entities;
    for (const Field& f : key_fields) entities.AddColumn(f.name, f.type);
    entities.AddColumn("ts", FeatureType::kTimestamp);
    entities.AddColumn("row", FeatureType::kInt64);
    const int64_t num_entities = uniform(0, 30);
    for (int64_t e = 0; e < num_entities; ++e) {
      if (e > 0 && chance(0.15)) {  // a duplicate of an earlier row
        size_t from = static_cast<size_t>(uniform(0, e - 1));
        entities.AppendRow(entities, from);
        entities.columns.back().ints.back() = e;
        continue;
      }
      size_t c = 0;
      for (const Field& f : key_fields) key_cell(f, &entities.columns[c++], true);
      if (chance(0.03)) {
        entities.columns[c++].AppendNull();
      } else {
        entities.columns[c++].AppendInt(uniform(-2, max_ts + 2));
      }
      entities.columns[c++].AppendInt(e);
    }

    PitOptions options;
    options.timestamp_column = "ts";
    options.full_feature_names = full_names;
    options.threads = static_cast<int>(uniform(1, 2));
    Table want = ReferencePointInTimeJoin(entities, ref_views, options);
    auto got = PointInTimeJoin(entities, std::move(views), options);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameTable(*got, want, "case " + std::to_string(iter));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace cairn::features

namespace cairn::features {
namespace {

// Segments read one by one give what the merge of them gives: rows of every segment
// sorted on their own, (key, event, created) ties across segments (the later segment
// wins, as in a merge that puts earlier inputs first), TTL, nulls, absent keys.
TEST(PitJoinSegmentsTest, SegmentsGiveTheMergedResult) {
  std::mt19937_64 rng(8675309);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  for (int iter = 0; iter < 2000; ++iter) {
    const bool string_key = chance(0.3);
    const FeatureType key_type = string_key ? FeatureType::kString : FeatureType::kInt64;
    const int64_t num_keys = uniform(1, 6), max_ts = uniform(2, 25);
    FeatureViewSpec spec;
    spec.meta.name = "v";
    spec.ttl_ms = chance(0.5) ? 0 : uniform(1, 10);
    for (auto [name, type] : {std::pair{"d", FeatureType::kDouble},
                              std::pair{"s", FeatureType::kString},
                              std::pair{"i", FeatureType::kInt64}}) {
      FeatureSpec f;
      f.name = name;
      f.type = type;
      spec.features.push_back(f);
    }
    auto empty_rows = [&] {
      Table t;
      t.AddColumn("id", key_type);
      t.AddColumn(kEventTsColumn, FeatureType::kTimestamp);
      t.AddColumn(kCreatedTsColumn, FeatureType::kTimestamp);
      t.AddColumn("d", FeatureType::kDouble);
      t.AddColumn("s", FeatureType::kString);
      t.AddColumn("i", FeatureType::kInt64);
      return t;
    };
    auto key = [&](Column* col, int64_t k) {
      if (string_key) col->AppendString(std::string(1, static_cast<char>('a' + k)));
      else col->AppendInt(k);
    };
    const int num_segments = static_cast<int>(uniform(2, 4));
    std::vector<Table> segments(num_segments, empty_rows());
    Table all = empty_rows();  // the segments' rows concatenated in segment order
    int64_t next_value = 0;
    for (int s = 0; s < num_segments; ++s) {
      const int64_t rows = uniform(0, 30);
      for (int64_t r = 0; r < rows; ++r) {
        Table& t = segments[s];
        if (chance(0.05)) t.columns[0].AppendNull();
        else key(&t.columns[0], uniform(0, num_keys - 1));
        t.columns[1].AppendInt(uniform(0, max_ts));
        t.columns[2].AppendInt(uniform(0, 2));  // few created times: many exact ties
        ++next_value;
        if (chance(0.2)) t.columns[3].AppendNull();
        else t.columns[3].AppendDouble(static_cast<double>(next_value) / 4);
        if (chance(0.2)) t.columns[4].AppendNull();
        else t.columns[4].AppendString("s" + std::to_string(next_value));
        t.columns[5].AppendInt(next_value);
        // Sometimes the same (key, event, created) again in a later segment.
        if (s + 1 < num_segments && chance(0.2)) {
          Table& later = segments[s + 1];
          later.AppendRow(t, t.num_rows() - 1);
          later.columns[5].ints.back() = ++next_value;
        }
      }
    }
    for (const Table& t : segments) all.AppendRows(t);
    std::vector<Table> sorted;
    for (const Table& t : segments) sorted.push_back(SortViewRows(t, {"id"}));
    Table merged = SortViewRows(all, {"id"});  // stable: ties keep segment order

    Table entities;
    entities.AddColumn("id", key_type);
    entities.AddColumn("ts", FeatureType::kTimestamp);
    const int64_t num_entities = uniform(0, 30);
    for (int64_t e = 0; e < num_entities; ++e) {
      if (chance(0.05)) entities.columns[0].AppendNull();
      else key(&entities.columns[0], uniform(0, num_keys));  // num_keys: absent
      if (chance(0.05)) entities.columns[1].AppendNull();
      else entities.columns[1].AppendInt(uniform(-1, max_ts + 2));
    }
    PitOptions options;
    options.timestamp_column = "ts";
    options.threads = 1;
    const size_t batch = static_cast<size_t>(uniform(1, 8));
    std::vector<PitView> merged_views;
    merged_views.push_back(PitView{&spec, {"id"}, StreamOfSortedTable(merged, batch),
                                   {"d", "s", "i"}});
    std::vector<PitView> segment_views;
    PitView pv{&spec, {"id"}, nullptr, {"d", "s", "i"}};
    for (const Table& t : sorted) pv.segments.push_back(StreamOfSortedTable(t, batch));
    segment_views.push_back(std::move(pv));

    auto want = PointInTimeJoin(entities, std::move(merged_views), options);
    auto got = PointInTimeJoin(entities, std::move(segment_views), options);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->names, want->names);
    for (size_t c = 0; c < want->num_columns(); ++c) {
      const Column& g = got->columns[c];
      const Column& w = want->columns[c];
      ASSERT_EQ(g.valid, w.valid) << "iteration " << iter << ", column " << want->names[c];
      ASSERT_EQ(g.ints, w.ints) << "iteration " << iter << ", column " << want->names[c];
      ASSERT_EQ(g.doubles, w.doubles) << "iteration " << iter << ", column " << want->names[c];
      ASSERT_EQ(g.strings, w.strings) << "iteration " << iter << ", column " << want->names[c];
    }
  }
}

TEST(PitJoinSegmentsTest, AggregationsNeedTheMergedRows) {
  FeatureViewSpec spec;
  spec.meta.name = "v";
  FeatureSpec agg;
  agg.name = "n";
  agg.agg = AggFn::kCount;
  agg.window_ms = 10;
  spec.features.push_back(agg);
  Table rows;
  rows.AddColumn("id", FeatureType::kInt64);
  rows.AddColumn(kEventTsColumn, FeatureType::kTimestamp);
  rows.AddColumn(kCreatedTsColumn, FeatureType::kTimestamp);
  Table entities;
  entities.AddColumn("id", FeatureType::kInt64);
  entities.AddColumn("ts", FeatureType::kTimestamp);
  PitView pv{&spec, {"id"}, nullptr, {"n"}};
  pv.segments.push_back(StreamOfSortedTable(rows));
  pv.segments.push_back(StreamOfSortedTable(rows));
  std::vector<PitView> views;
  views.push_back(std::move(pv));
  PitOptions options;
  options.timestamp_column = "ts";
  auto got = PointInTimeJoin(entities, std::move(views), options);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), ::testing::HasSubstr("aggregation features need"));
}

}  // namespace
}  // namespace cairn::features
