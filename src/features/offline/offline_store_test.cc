#include "features/offline/offline_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "features/entity_key.h"
#include "features/offline/compaction.h"
#include "features/offline/manifest.h"
#include "features/offline/segment_reader.h"

namespace cairn::features {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cairn-offline-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// id (int64 key), __event_ts, __created_ts, and one column of each type.
OfflineTableLayout WideLayout() {
  OfflineTableLayout l;
  l.key_columns = {"id"};
  l.schema = {{"id", FeatureType::kInt64, true},
              {kEventTsColumn, FeatureType::kTimestamp, false},
              {kCreatedTsColumn, FeatureType::kTimestamp, true},
              {"d", FeatureType::kDouble, true},
              {"s", FeatureType::kString, true},
              {"b", FeatureType::kBool, true},
              {"t", FeatureType::kTimestamp, true},
              {"i", FeatureType::kInt64, true}};
  return l;
}

// Two keys (string, int64) exercise the general sort path.
OfflineTableLayout TwoKeyLayout() {
  OfflineTableLayout l;
  l.key_columns = {"city", "zone"};
  l.schema = {{"city", FeatureType::kString, true},
              {"zone", FeatureType::kInt64, true},
              {kEventTsColumn, FeatureType::kTimestamp, false},
              {kCreatedTsColumn, FeatureType::kTimestamp, true},
              {"v", FeatureType::kDouble, true}};
  return l;
}

// Random rows for `layout`, ~10% nulls in nullable columns, few distinct keys and
// timestamps so ties are common. `tag` goes into column "i" or "v" to tell rows apart.
Table RandomRows(const OfflineTableLayout& layout, size_t n, std::mt19937_64& rng,
                 int64_t ts_base = 0, int64_t ts_span = 20) {
  Table t = Table::FromSchema(layout.schema);
  for (size_t r = 0; r < n; ++r) {
    for (size_t c = 0; c < layout.schema.size(); ++c) {
      const Field& f = layout.schema[c];
      Column& col = t.columns[c];
      if (f.nullable && rng() % 10 == 0) {
        col.AppendNull();
        continue;
      }
      switch (f.type) {
        case FeatureType::kInt64: col.AppendInt(static_cast<int64_t>(rng() % 7) - 3); break;
        case FeatureType::kTimestamp:
          col.AppendInt(ts_base + static_cast<int64_t>(rng() % ts_span));
          break;
        case FeatureType::kDouble: col.AppendDouble(static_cast<double>(rng() % 1000) / 8); break;
        case FeatureType::kBool: col.AppendBool(rng() % 2); break;
        case FeatureType::kString: {
          static const char* kWords[] = {"", "a", "ab", "b", "zz"};
          std::string s = kWords[rng() % 5];
          if (rng() % 4 == 0) s.push_back('\0');
          col.AppendString(s);
          break;
        }
      }
    }
  }
  return t;
}

Table ReadAll(RowStream& stream) {
  Table all = Table::FromSchema(stream.schema());
  Table batch;
  while (true) {
    absl::StatusOr<bool> more = stream.Next(&batch);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    EXPECT_GT(batch.num_rows(), 0u);
    for (size_t r = 0; r < batch.num_rows(); ++r) all.AppendRow(batch, r);
  }
  return all;
}

absl::StatusOr<Table> ScanAll(const OfflineStore& store, std::string_view table,
                              ScanOptions options = {}) {
  auto stream = store.Scan(table, options);
  if (!stream.ok()) return stream.status();
  Table all = Table::FromSchema((*stream)->schema());
  Table batch;
  while (true) {
    absl::StatusOr<bool> more = (*stream)->Next(&batch);
    if (!more.ok()) return more.status();
    if (!*more) break;
    for (size_t r = 0; r < batch.num_rows(); ++r) all.AppendRow(batch, r);
  }
  return all;
}

// The expected scan output: `appended` concatenated in order, stable-sorted by (keys,
// event ts, created ts), projected to `columns` (all when empty).
Table Expected(const OfflineTableLayout& layout, const std::vector<Table>& appended) {
  Table all = Table::FromSchema(layout.schema);
  for (const Table& t : appended)
    for (size_t r = 0; r < t.num_rows(); ++r) all.AppendRow(t, r);
  std::vector<int> keys;
  for (const std::string& k : layout.key_columns) keys.push_back(all.Find(k));
  int ev = all.Find(kEventTsColumn), cr = all.Find(kCreatedTsColumn);
  std::vector<size_t> order(all.num_rows());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int c = CompareKeys(all, keys, a, all, keys, b);
    if (c == 0) c = CompareCells(all.columns[ev], a, all.columns[ev], b);
    if (c == 0) c = CompareCells(all.columns[cr], a, all.columns[cr], b);
    return c < 0;
  });
  Table sorted = Table::FromSchema(layout.schema);
  for (size_t i : order) sorted.AppendRow(all, i);
  return sorted;
}

Table Filter(const Table& t, int64_t min_ts, int64_t max_ts) {
  Table out = Table::FromSchema(t.schema());
  int ev = t.Find(kEventTsColumn);
  for (size_t r = 0; r < t.num_rows(); ++r) {
    int64_t ts = t.columns[ev].ints[r];
    if (ts >= min_ts && ts < max_ts) out.AppendRow(t, r);
  }
  return out;
}

void ExpectTablesEqual(const Table& want, const Table& got) {
  ASSERT_EQ(want.names, got.names);
  ASSERT_EQ(want.num_rows(), got.num_rows());
  for (size_t c = 0; c < want.num_columns(); ++c) {
    for (size_t r = 0; r < want.num_rows(); ++r) {
      ASSERT_EQ(want.columns[c].Get(r), got.columns[c].Get(r))
          << "column " << want.names[c] << " row " << r;
    }
  }
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (offline::ParseSegmentFileName(name) != 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(OfflineStoreTest, RoundTripsEveryTypeWithNullsEmptyAndNulStrings) {
  TempDir dir;
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 3});
  ASSERT_TRUE(store.ok()) << store.status();
  OfflineTableLayout layout = WideLayout();
  ASSERT_TRUE((*store)->EnsureTable("view.wide", layout).ok());
  Table t = Table::FromSchema(layout.schema);
  // id, ev, cr, d, s, b, t, i  (unsorted on purpose)
  auto row = [&](Value id, int64_t ev, Value cr, Value d, Value s, Value b, Value ts, Value i) {
    std::vector<Value> vals = {id, ev, cr, d, s, b, ts, i};
    for (size_t c = 0; c < vals.size(); ++c) ASSERT_TRUE(t.columns[c].Append(vals[c]).ok());
  };
  using std::monostate;
  row(int64_t{5}, 10, int64_t{11}, 1.5, std::string("hello"), true, int64_t{-7}, int64_t{1});
  row(monostate{}, 3, monostate{}, monostate{}, std::string(""), false, monostate{},
      monostate{});
  row(int64_t{-2}, 1, int64_t{1}, -0.25, std::string("a\0b\0", 4), monostate{},
      int64_t{INT64_MIN}, int64_t{INT64_MAX});
  row(int64_t{5}, 10, int64_t{2}, 1e300, monostate{}, true, int64_t{0}, int64_t{INT64_MIN});
  row(int64_t{5}, 2, int64_t{2}, std::numeric_limits<double>::infinity(),
      std::string(std::string(1000, 'x')), false, int64_t{1}, int64_t{-1});
  ASSERT_TRUE((*store)->Append("view.wide", t).ok());
  absl::StatusOr<Table> got = ScanAll(**store, "view.wide");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectTablesEqual(Expected(layout, {t}), *got);
  // Null key first, then -2, then 5 by (ev, cr).
  EXPECT_TRUE(got->columns[0].IsNull(0));
  EXPECT_EQ(got->columns[4].strings[1], std::string("a\0b\0", 4));
  EXPECT_EQ(got->columns[2].ints[3], 2);   // id 5, ev 10, cr 2 before cr 11
  EXPECT_EQ(got->columns[2].ints[4], 11);

  // The same after reopening the store (read back from disk only).
  store->reset();
  auto reopened = OfflineStore::Open(dir.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<Table> again = ScanAll(**reopened, "view.wide");
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectTablesEqual(*got, *again);
  auto stats = (*reopened)->Stats("view.wide");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->rows, 5);
  EXPECT_EQ(stats->segments, 1);
  EXPECT_EQ(stats->min_event_ts, 1);
  EXPECT_EQ(stats->max_event_ts, 10);
  EXPECT_GT(stats->bytes, 0);
}

TEST(OfflineStoreTest, RandomizedMergeOfManySegmentsMatchesStableSort) {
  for (const OfflineTableLayout& layout : {WideLayout(), TwoKeyLayout()}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      TempDir dir;
      std::mt19937_64 rng(seed);
      auto store = OfflineStore::Open(dir.path(), {.block_rows = static_cast<uint32_t>(1 + seed * 3)});
      ASSERT_TRUE(store.ok());
      ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
      std::vector<Table> appended;
      int segments = 1 + static_cast<int>(rng() % 9);
      for (int s = 0; s < segments; ++s) {
        appended.push_back(RandomRows(layout, rng() % 60, rng));
        ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
      }
      ScanOptions opts;
      opts.batch_rows = 1 + rng() % 17;
      absl::StatusOr<Table> got = ScanAll(**store, "t", opts);
      ASSERT_TRUE(got.ok()) << got.status();
      SCOPED_TRACE(testing::Message() << "seed " << seed << " keys " << layout.key_columns[0]);
      ExpectTablesEqual(Expected(layout, appended), *got);
    }
  }
}

// One int64 key of a timestamp type, to cover the integer fast path on another type.
OfflineTableLayout TimestampKeyLayout() {
  OfflineTableLayout l;
  l.key_columns = {"day"};
  l.schema = {{"v", FeatureType::kDouble, true},
              {"day", FeatureType::kTimestamp, true},
              {kCreatedTsColumn, FeatureType::kTimestamp, true},
              {kEventTsColumn, FeatureType::kTimestamp, false}};
  return l;
}

// The shapes of batch that take different Append sort paths (batch_sort.h).
enum class KeyShape {
  kFewKeys,        // RandomRows' keys: 7 values and nulls, many duplicates
  kWideKeys,       // keys over the whole int64 range (every radix pass), some nulls
  kOneKey,         // every key equal (no radix pass needed)
  kSorted,         // already in segment order (no sort at all)
  kTimeOrdered,    // sorted by event time only, keyed at random (radix only)
  kDescending,     // segment order reversed
};

Table ShapedRows(const OfflineTableLayout& layout, size_t n, KeyShape shape,
                 std::mt19937_64& rng) {
  Table t = RandomRows(layout, n, rng, /*ts_base=*/-50, /*ts_span=*/200);
  if (layout.key_columns.size() == 1) {
    Column& key = t.columns[t.Find(layout.key_columns[0])];
    for (size_t r = 0; r < n; ++r) {
      if (shape == KeyShape::kWideKeys && key.valid[r]) {
        static const int64_t kEdges[] = {INT64_MIN, INT64_MAX, -1, 0, 1};
        key.ints[r] = rng() % 4 == 0 ? kEdges[rng() % 5] : static_cast<int64_t>(rng());
      }
      if (shape == KeyShape::kOneKey) {
        key.valid[r] = 1;
        key.ints[r] = 42;
      }
    }
  }
  if (shape == KeyShape::kSorted || shape == KeyShape::kDescending) {
    Table sorted = Expected(layout, {t});
    if (shape == KeyShape::kSorted) return sorted;
    Table reversed = Table::FromSchema(layout.schema);
    for (size_t r = n; r-- > 0;) reversed.AppendRow(sorted, r);
    return reversed;
  }
  if (shape == KeyShape::kTimeOrdered) {
    int ev = t.Find(kEventTsColumn);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return t.columns[ev].ints[a] < t.columns[ev].ints[b];
    });
    Table out = Table::FromSchema(layout.schema);
    for (size_t i : order) out.AppendRow(t, i);
    return out;
  }
  return t;
}

TEST(OfflineStoreTest, EveryAppendSortPathMatchesStableSort) {
  for (const OfflineTableLayout& layout : {WideLayout(), TimestampKeyLayout(), TwoKeyLayout()}) {
    for (KeyShape shape : {KeyShape::kFewKeys, KeyShape::kWideKeys, KeyShape::kOneKey,
                           KeyShape::kSorted, KeyShape::kTimeOrdered, KeyShape::kDescending}) {
      for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{37}, size_t{3001}}) {
        SCOPED_TRACE(testing::Message() << "keys " << layout.key_columns[0] << " shape "
                                        << static_cast<int>(shape) << " rows " << n);
        std::mt19937_64 rng(n * 31 + static_cast<uint64_t>(shape));
        Table rows = ShapedRows(layout, n, shape, rng);
        // Blocks of 256 rows: whole 8-value groups for the byte-plane shuffle, a partial
        // last block, and enough blocks for the writer to stop and retry compression.
        TempDir dir;
        auto store = OfflineStore::Open(dir.path(), {.block_rows = 256});
        ASSERT_TRUE(store.ok());
        ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
        ASSERT_TRUE((*store)->Append("t", rows).ok());
        absl::StatusOr<Table> got = ScanAll(**store, "t");
        ASSERT_TRUE(got.ok()) << got.status();
        ExpectTablesEqual(Expected(layout, {rows}), *got);
      }
    }
  }
}

// A table without keys (a source's raw rows) sorts by (event, created): the event time
// takes the integer-key sort path. Duplicated times, nulls in created, sorted and not.
TEST(OfflineStoreTest, KeylessTablesSortByEventThenCreatedTime) {
  OfflineTableLayout layout;
  layout.schema = {{kEventTsColumn, FeatureType::kTimestamp, false},
                   {kCreatedTsColumn, FeatureType::kTimestamp, true},
                   {"v", FeatureType::kDouble, true}};
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{37}, size_t{3001}}) {
    for (bool sorted : {false, true}) {
      std::mt19937_64 rng(n * 7 + sorted);
      Table rows = Table::FromSchema(layout.schema);
      for (size_t r = 0; r < n; ++r) {
        int64_t ev = sorted ? static_cast<int64_t>(r / 3) : static_cast<int64_t>(rng() % 50) - 25;
        rows.columns[0].AppendInt(ev);
        if (rng() % 5 == 0) rows.columns[1].AppendNull();
        else rows.columns[1].AppendInt(sorted ? 0 : static_cast<int64_t>(rng() % 4));
        rows.columns[2].AppendDouble(static_cast<double>(r));
      }
      TempDir dir;
      auto store = OfflineStore::Open(dir.path(), {.block_rows = 256});
      ASSERT_TRUE(store.ok());
      ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
      ASSERT_TRUE((*store)->Append("t", rows).ok());
      absl::StatusOr<Table> got = ScanAll(**store, "t");
      ASSERT_TRUE(got.ok()) << got.status();
      ExpectTablesEqual(Expected(layout, {rows}), *got);
    }
  }
}

// Doubles that zstd cannot shrink, then ones it can, then random again: the writer stops
// trying on the first run and must still compress (and round-trip) the rest.
TEST(OfflineStoreTest, IncompressibleThenCompressibleDoublesRoundTrip) {
  TempDir dir;
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 512});
  ASSERT_TRUE(store.ok());
  OfflineTableLayout layout = WideLayout();
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  std::mt19937_64 rng(77);
  const size_t n = 512 * 40;
  Table rows = Table::FromSchema(layout.schema);
  for (size_t r = 0; r < n; ++r) {
    rows.columns[0].AppendInt(static_cast<int64_t>(r / 64));  // sorted input: block = rows
    rows.columns[1].AppendInt(static_cast<int64_t>(r));
    rows.columns[2].AppendInt(static_cast<int64_t>(r));
    double d;
    uint64_t bits = rng() & ~(uint64_t{0x7ff} << 52);  // finite, no NaN
    std::memcpy(&d, &bits, 8);
    rows.columns[3].AppendDouble(r >= n / 4 && r < n / 2 ? 1.5 : d);
    rows.columns[4].AppendString("s");
    rows.columns[5].AppendBool(true);
    rows.columns[6].AppendInt(7);
    rows.columns[7].AppendNull();
  }
  ASSERT_TRUE((*store)->Append("t", rows).ok());
  absl::StatusOr<Table> got = ScanAll(**store, "t");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectTablesEqual(rows, *got);
  // Blocks 10-19 hold a constant double column: after the skipped tries, the writer
  // compresses it again (at the latest by block 15, the try after 1 + 3 + 7 skips).
  std::vector<std::string> files = SegmentFiles(dir.path() + "/t");
  ASSERT_EQ(files.size(), 1u);
  auto reader = offline::SegmentReader::Open(files[0]);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const auto& blocks = (*reader)->footer().blocks;
  ASSERT_EQ(blocks.size(), 40u);
  EXPECT_EQ(blocks[0].chunks[3].compression, offline::ChunkCompression::kNone);
  for (size_t b = 15; b < 20; ++b)
    EXPECT_EQ(blocks[b].chunks[3].compression, offline::ChunkCompression::kZstd) << b;
}

// Long runs from one segment (the merge gallops over them) and short interleavings, for
// the one-integer-key comparison and the generic one.
TEST(OfflineStoreTest, MergeOfLargeSegmentsMatchesStableSort) {
  for (const OfflineTableLayout& layout : {WideLayout(), TimestampKeyLayout(), TwoKeyLayout()}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " keys " << layout.key_columns[0]);
      TempDir dir;
      std::mt19937_64 rng(seed * 1000);
      auto store = OfflineStore::Open(dir.path(), {.block_rows = static_cast<uint32_t>(100 * seed)});
      ASSERT_TRUE(store.ok());
      ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
      std::vector<Table> appended;
      const KeyShape shapes[] = {KeyShape::kWideKeys, KeyShape::kFewKeys, KeyShape::kOneKey,
                                 KeyShape::kSorted};
      for (int s = 0; s < 5; ++s) {
        appended.push_back(ShapedRows(layout, rng() % 1500, shapes[rng() % 4], rng));
        ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
      }
      ScanOptions opts;
      opts.batch_rows = 1 + rng() % 700;
      absl::StatusOr<Table> got = ScanAll(**store, "t", opts);
      ASSERT_TRUE(got.ok()) << got.status();
      ExpectTablesEqual(Expected(layout, appended), *got);
    }
  }
}

TEST(OfflineStoreTest, EventTimeRangeKeepsExactlyTheRowsInRange) {
  TempDir dir;
  std::mt19937_64 rng(7);
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 4});
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  std::vector<Table> appended;
  for (int s = 0; s < 5; ++s) {
    appended.push_back(RandomRows(layout, 40, rng, /*ts_base=*/s * 100, /*ts_span=*/100));
    ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
  }
  Table all = Expected(layout, appended);
  for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 500}, {150, 250}, {199, 201}, {-10, 0}, {499, 1000}, {260, 261}}) {
    ScanOptions opts;
    opts.min_event_ts = lo;
    opts.max_event_ts = hi;
    absl::StatusOr<Table> got = ScanAll(**store, "t", opts);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectTablesEqual(Filter(all, lo, hi), *got);
  }
}

TEST(OfflineStoreTest, ScanSegmentsGivesEachSegmentSortedInOrderWithTheRange) {
  TempDir dir;
  std::mt19937_64 rng(11);
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 4});
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  auto none = (*store)->ScanSegments("t", {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  std::vector<Table> appended;
  for (int s = 0; s < 4; ++s) {
    appended.push_back(RandomRows(layout, 30, rng, /*ts_base=*/s * 100, /*ts_span=*/150));
    ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
  }
  for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{
           {-1000, 1000}, {120, 260}, {400, 500}}) {
    ScanOptions opts;
    opts.min_event_ts = lo;
    opts.max_event_ts = hi;
    auto streams = (*store)->ScanSegments("t", opts);
    ASSERT_TRUE(streams.ok()) << streams.status();
    std::vector<Table> want;
    for (const Table& t : appended) {
      Table rows = Filter(Expected(layout, {t}), lo, hi);
      if (rows.num_rows() > 0) want.push_back(std::move(rows));
    }
    std::vector<Table> got;  // a segment overlapping the range may hold none of its rows
    for (auto& stream : *streams) {
      Table rows = ReadAll(*stream);
      if (rows.num_rows() > 0) got.push_back(std::move(rows));
    }
    ASSERT_EQ(got.size(), want.size()) << lo << ".." << hi;
    for (size_t i = 0; i < want.size(); ++i) ExpectTablesEqual(want[i], got[i]);
  }
  EXPECT_EQ((*store)->ScanSegments("nope", {}).status().code(), absl::StatusCode::kNotFound);
}

// Pruning is observable: a damaged segment outside the range is never read.
TEST(OfflineStoreTest, RangeScanSkipsSegmentsAndBlocksOutsideTheRange) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 10});
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  std::mt19937_64 rng(3);
  Table early = RandomRows(layout, 50, rng, 0, 100);
  Table late = RandomRows(layout, 50, rng, 1000, 100);
  ASSERT_TRUE((*store)->Append("t", early).ok());
  ASSERT_TRUE((*store)->Append("t", late).ok());
  std::vector<std::string> files = SegmentFiles(dir.path() + "/t");
  ASSERT_EQ(files.size(), 2u);
  {  // Damage the first data bytes of the late segment.
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x55').put('\x66').put('\x77');
  }
  auto fresh = OfflineStore::Open(dir.path());
  ScanOptions early_only;
  early_only.max_event_ts = 100;
  absl::StatusOr<Table> got = ScanAll(**fresh, "t", early_only);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->num_rows(), 50u);
  absl::StatusOr<Table> all = ScanAll(**fresh, "t");
  EXPECT_EQ(all.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(all.status().message()), HasSubstr(files[1]));

  // Block level: one key, rising event times: each block covers its own time range.
  TempDir dir2;
  auto store2 = OfflineStore::Open(dir2.path(), {.block_rows = 10});
  ASSERT_TRUE((*store2)->EnsureTable("t", layout).ok());
  Table one_key = Table::FromSchema(layout.schema);
  for (int64_t r = 0; r < 100; ++r) {
    one_key.columns[0].AppendInt(1);
    one_key.columns[1].AppendInt(r);
    one_key.columns[2].AppendInt(r);
    for (size_t c = 3; c < one_key.num_columns(); ++c) one_key.columns[c].AppendNull();
  }
  ASSERT_TRUE((*store2)->Append("t", one_key).ok());
  files = SegmentFiles(dir2.path() + "/t");
  {  // Damage the start of the data: block 0, column id.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f.put('\x01').put('\x02');
  }
  auto fresh2 = OfflineStore::Open(dir2.path());
  ScanOptions later;
  later.min_event_ts = 10;
  got = ScanAll(**fresh2, "t", later);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->num_rows(), 90u);
  EXPECT_EQ(ScanAll(**fresh2, "t").status().code(), absl::StatusCode::kDataLoss);
}

TEST(OfflineStoreTest, ProjectionReturnsKeysTimestampsAndTheAskedColumnsInLayoutOrder) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  std::mt19937_64 rng(11);
  Table rows = RandomRows(layout, 100, rng);
  ASSERT_TRUE((*store)->Append("t", rows).ok());
  ScanOptions opts;
  opts.columns = {"s", "d"};
  absl::StatusOr<Table> got = ScanAll(**store, "t", opts);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->names,
            (std::vector<std::string>{"id", kEventTsColumn, kCreatedTsColumn, "d", "s"}));
  Table all = Expected(layout, {rows});
  for (size_t r = 0; r < all.num_rows(); ++r) {
    EXPECT_EQ(got->columns[3].Get(r), all.columns[3].Get(r));
    EXPECT_EQ(got->columns[4].Get(r), all.columns[4].Get(r));
  }
  opts.columns = {"dd"};
  auto bad = (*store)->Scan("t", opts);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'dd'"));
}

TEST(OfflineStoreTest, CompactionPreservesContentAndOrder) {
  TempDir dir;
  OfflineTableLayout layout = TwoKeyLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 8});
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  std::mt19937_64 rng(5);
  std::vector<Table> appended;
  for (int s = 0; s < 12; ++s) {
    appended.push_back(RandomRows(layout, 30, rng));
    ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
  }
  absl::StatusOr<Table> before = ScanAll(**store, "t");
  ASSERT_TRUE(before.ok());
  ExpectTablesEqual(Expected(layout, appended), *before);
  std::vector<std::string> old_files = SegmentFiles(dir.path() + "/t");
  ASSERT_EQ(old_files.size(), 12u);

  // A scan opened before the compaction reads the old files to its end.
  auto open_scan = (*store)->Scan("t", {});
  ASSERT_TRUE(open_scan.ok());
  ASSERT_TRUE((*store)->Compact("t").ok());
  auto stats = (*store)->Stats("t");
  EXPECT_EQ(stats->segments, 1);
  EXPECT_EQ(stats->rows, 360);
  EXPECT_TRUE(fs::exists(old_files[0]));  // still in use by open_scan
  ExpectTablesEqual(*before, ReadAll(**open_scan));
  open_scan->reset();
  EXPECT_EQ(SegmentFiles(dir.path() + "/t").size(), 1u);  // old files gone with the scan

  absl::StatusOr<Table> after = ScanAll(**store, "t");
  ASSERT_TRUE(after.ok());
  ExpectTablesEqual(*before, *after);
  // Later appends merge with the compacted segment; ties keep append order.
  appended.push_back(RandomRows(layout, 30, rng));
  ASSERT_TRUE((*store)->Append("t", appended.back()).ok());
  after = ScanAll(**store, "t");
  ExpectTablesEqual(Expected(layout, appended), *after);
  // And after reopening.
  store->reset();
  auto reopened = OfflineStore::Open(dir.path());
  after = ScanAll(**reopened, "t");
  ASSERT_TRUE(after.ok());
  ExpectTablesEqual(Expected(layout, appended), *after);
}

TEST(OfflineStoreTest, CompactTablesFollowsThePolicy) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path());
  std::mt19937_64 rng(9);
  for (const char* name : {"a", "b"}) ASSERT_TRUE((*store)->EnsureTable(name, layout).ok());
  for (int s = 0; s < 4; ++s) ASSERT_TRUE((*store)->Append("a", RandomRows(layout, 5, rng)).ok());
  for (int s = 0; s < 2; ++s) ASSERT_TRUE((*store)->Append("b", RandomRows(layout, 5, rng)).ok());
  CompactionReport report = CompactTables(**store, {.min_segments = 3});
  EXPECT_EQ(report.compacted, std::vector<std::string>{"a"});
  EXPECT_TRUE(report.failed.empty());
  EXPECT_EQ((*store)->Stats("a")->segments, 1);
  EXPECT_EQ((*store)->Stats("a")->rows, 20);
  EXPECT_EQ((*store)->Stats("b")->segments, 2);
}

TEST(OfflineStoreTest, DamagedOrTruncatedSegmentIsDataLossNamingTheFile) {
  for (int damage = 0; damage < 4; ++damage) {
    TempDir dir;
    OfflineTableLayout layout = WideLayout();
    {
      auto store = OfflineStore::Open(dir.path());
      ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
      std::mt19937_64 rng(1);
      ASSERT_TRUE((*store)->Append("t", RandomRows(layout, 200, rng)).ok());
    }
    std::string file = SegmentFiles(dir.path() + "/t")[0];
    uintmax_t size = fs::file_size(file);
    if (damage == 0) {
      fs::resize_file(file, size - 7);  // torn tail
    } else if (damage == 1) {
      fs::resize_file(file, size / 2);
    } else {
      // 2: a byte of column data; 3: a byte of the footer.
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(damage == 2 ? 40 : static_cast<std::streamoff>(size - 40));
      char c;
      f.get(c);
      f.seekp(damage == 2 ? 40 : static_cast<std::streamoff>(size - 40));
      f.put(static_cast<char>(c ^ 0x10));
    }
    auto store = OfflineStore::Open(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<Table> got = ScanAll(**store, "t");
    SCOPED_TRACE(damage);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(file));
  }
}

TEST(OfflineStoreTest, DamagedManifestIsDataLossAndTheTableCanBeDropped) {
  TempDir dir;
  {
    auto store = OfflineStore::Open(dir.path());
    ASSERT_TRUE((*store)->EnsureTable("t", WideLayout()).ok());
  }
  std::string manifest = dir.path() + "/t/MANIFEST";
  fs::resize_file(manifest, fs::file_size(manifest) - 1);
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->ListTables(), std::vector<std::string>{"t"});
  auto stats = (*store)->Stats("t");
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(stats.status().message()), HasSubstr(manifest));
  EXPECT_TRUE((*store)->DropTable("t").ok());
  EXPECT_TRUE((*store)->EnsureTable("t", WideLayout()).ok());
}

TEST(OfflineStoreTest, LayoutMismatchIsFailedPrecondition) {
  TempDir dir;
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE((*store)->EnsureTable("a", WideLayout()).ok());
  EXPECT_TRUE((*store)->EnsureTable("a", WideLayout()).ok());  // idempotent
  absl::Status s = (*store)->EnsureTable("a", TwoKeyLayout());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'a'"));
  OfflineTableLayout nullable_changed = WideLayout();
  nullable_changed.schema[3].nullable = false;
  EXPECT_EQ((*store)->EnsureTable("a", nullable_changed).code(),
            absl::StatusCode::kFailedPrecondition);

  // A segment file of another table's layout under this table's name.
  ASSERT_TRUE((*store)->EnsureTable("b", TwoKeyLayout()).ok());
  std::mt19937_64 rng(2);
  ASSERT_TRUE((*store)->Append("a", RandomRows(WideLayout(), 10, rng)).ok());
  ASSERT_TRUE((*store)->Append("b", RandomRows(TwoKeyLayout(), 10, rng)).ok());
  std::string a_file = SegmentFiles(dir.path() + "/a")[0];
  fs::copy_file(SegmentFiles(dir.path() + "/b")[0], a_file,
                fs::copy_options::overwrite_existing);
  auto fresh = OfflineStore::Open(dir.path());
  auto scan = (*fresh)->Scan("a", {});
  EXPECT_EQ(scan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(scan.status().message()), HasSubstr(a_file));
}

TEST(OfflineStoreTest, BadInputsGetSpecificErrors) {
  TempDir dir;
  auto store = OfflineStore::Open(dir.path());
  OfflineTableLayout layout = WideLayout();
  EXPECT_EQ((*store)->EnsureTable("../x", layout).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->EnsureTable("", layout).code(), absl::StatusCode::kInvalidArgument);
  OfflineTableLayout no_ts = layout;
  no_ts.schema.erase(no_ts.schema.begin() + 2);
  EXPECT_EQ((*store)->EnsureTable("x", no_ts).code(), absl::StatusCode::kInvalidArgument);
  OfflineTableLayout bad_key = layout;
  bad_key.key_columns = {"nope"};
  EXPECT_EQ((*store)->EnsureTable("x", bad_key).code(), absl::StatusCode::kInvalidArgument);

  Table rows = Table::FromSchema(layout.schema);
  EXPECT_EQ((*store)->Append("missing", rows).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Scan("missing", {}).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*store)->EnsureTable("x", layout).ok());
  EXPECT_TRUE((*store)->Append("x", rows).ok());  // empty: nothing written
  EXPECT_EQ((*store)->Stats("x")->segments, 0);

  std::mt19937_64 rng(4);
  Table good = RandomRows(layout, 5, rng);
  Table missing_col = good;
  missing_col.names.pop_back();
  missing_col.columns.pop_back();
  absl::Status s = (*store)->Append("x", missing_col);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'i'"));
  Table extra = good;
  extra.AddColumn("zzz", FeatureType::kInt64);
  for (size_t r = 0; r < 5; ++r) extra.columns.back().AppendInt(1);
  s = (*store)->Append("x", extra);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'zzz'"));
  Table wrong_type = good;
  wrong_type.columns[3] = Column(FeatureType::kString);
  for (size_t r = 0; r < 5; ++r) wrong_type.columns[3].AppendString("x");
  EXPECT_EQ((*store)->Append("x", wrong_type).code(), absl::StatusCode::kInvalidArgument);
  Table null_ts = good;
  null_ts.columns[1].valid[2] = 0;
  s = (*store)->Append("x", null_ts);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("row 2"));
  EXPECT_EQ((*store)->Stats("x")->segments, 0);
  // Columns in another order are fine.
  Table reordered;
  for (int c = static_cast<int>(good.num_columns()) - 1; c >= 0; --c) {
    reordered.names.push_back(good.names[c]);
    reordered.columns.push_back(good.columns[c]);
  }
  EXPECT_TRUE((*store)->Append("x", reordered).ok());
  absl::StatusOr<Table> got = ScanAll(**store, "x");
  ExpectTablesEqual(Expected(layout, {good}), *got);
}

// A crash at any point of Append leaves the old state or the new one: simulate the
// leftovers of each point and reopen.
TEST(OfflineStoreTest, CrashLeftoversAreIgnoredAndRemovedOnOpen) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  std::mt19937_64 rng(8);
  Table rows = RandomRows(layout, 50, rng);
  {
    auto store = OfflineStore::Open(dir.path());
    ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
    ASSERT_TRUE((*store)->Append("t", rows).ok());
  }
  std::string tdir = dir.path() + "/t";
  std::string live = SegmentFiles(tdir)[0];
  // Killed while writing a segment (partial temporary file) ...
  std::ofstream(tdir + "/tmp-123-0.cseg.tmp") << "CAIRNSEG partial";
  // ... after renaming it but before the manifest named it (a complete orphan) ...
  fs::copy_file(live, tdir + "/" + offline::SegmentFileName(99));
  // ... while replacing the manifest ...
  std::ofstream(tdir + "/MANIFEST.tmp") << "torn";
  // ... while creating a table, and while dropping one.
  fs::create_directories(dir.path() + "/half");
  fs::create_directories(dir.path() + "/.dropped-old-1-2");
  std::ofstream(dir.path() + "/.dropped-old-1-2/seg-00000001.cseg") << "x";

  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->ListTables(), std::vector<std::string>{"t"});
  EXPECT_EQ(SegmentFiles(tdir), std::vector<std::string>{live});
  EXPECT_FALSE(fs::exists(tdir + "/MANIFEST.tmp"));
  EXPECT_FALSE(fs::exists(tdir + "/tmp-123-0.cseg.tmp"));
  EXPECT_FALSE(fs::exists(dir.path() + "/half"));
  EXPECT_FALSE(fs::exists(dir.path() + "/.dropped-old-1-2"));
  absl::StatusOr<Table> got = ScanAll(**store, "t");
  ASSERT_TRUE(got.ok());
  ExpectTablesEqual(Expected(layout, {rows}), *got);
  // New appends after recovery.
  Table more = RandomRows(layout, 10, rng);
  ASSERT_TRUE((*store)->Append("t", more).ok());
  EXPECT_EQ((*store)->Stats("t")->rows, 60);
}

TEST(OfflineStoreTest, DropTableRemovesItAndAnOpenScanFinishes) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 4});
  ASSERT_TRUE((*store)->EnsureTable("view.x", layout).ok());
  ASSERT_TRUE((*store)->EnsureTable("source.y", layout).ok());
  EXPECT_EQ((*store)->ListTables(), (std::vector<std::string>{"source.y", "view.x"}));
  std::mt19937_64 rng(6);
  Table rows = RandomRows(layout, 40, rng);
  ASSERT_TRUE((*store)->Append("view.x", rows).ok());
  auto scan = (*store)->Scan("view.x", {.batch_rows = 3});
  ASSERT_TRUE(scan.ok());
  ASSERT_TRUE((*store)->DropTable("view.x").ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/view.x"));
  EXPECT_EQ((*store)->Stats("view.x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->DropTable("view.x").code(), absl::StatusCode::kNotFound);
  ExpectTablesEqual(Expected(layout, {rows}), ReadAll(**scan));
  // Recreated with another layout, empty.
  ASSERT_TRUE((*store)->EnsureTable("view.x", TwoKeyLayout()).ok());
  EXPECT_EQ((*store)->Stats("view.x")->rows, 0);
}

TEST(OfflineStoreTest, ConcurrentAppendsScansAndCompactions) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  auto store = OfflineStore::Open(dir.path(), {.block_rows = 16});
  ASSERT_TRUE((*store)->EnsureTable("t", layout).ok());
  constexpr int kThreads = 4, kBatches = 10;
  std::vector<std::vector<Table>> per_thread(kThreads);
  for (int th = 0; th < kThreads; ++th) {
    std::mt19937_64 rng(100 + th);
    for (int b = 0; b < kBatches; ++b) per_thread[th].push_back(RandomRows(layout, 25, rng));
  }
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (const Table& t : per_thread[th]) EXPECT_TRUE((*store)->Append("t", t).ok());
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 5; ++i) EXPECT_TRUE((*store)->Compact("t").ok());
  });
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<Table> got = ScanAll(**store, "t");
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->num_rows() % 25, 0u);  // whole appends only
    }
  });
  for (auto& t : threads) t.join();
  ASSERT_TRUE((*store)->Compact("t").ok());
  EXPECT_EQ((*store)->Stats("t")->segments, 1);
  absl::StatusOr<Table> got = ScanAll(**store, "t");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->num_rows(), static_cast<size_t>(kThreads * kBatches * 25));
  // Every row is there, in sorted order (ties between threads in commit order, which the
  // test cannot know, so compare against a sort of the rows as a multiset).
  std::vector<Table> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  Table want = Expected(layout, all);
  std::vector<int> key = {0};
  for (size_t r = 1; r < got->num_rows(); ++r) {
    int c = CompareKeys(*got, key, r - 1, *got, key, r);
    if (c == 0) c = CompareCells(got->columns[1], r - 1, got->columns[1], r);
    if (c == 0) c = CompareCells(got->columns[2], r - 1, got->columns[2], r);
    ASSERT_LE(c, 0) << "row " << r;
  }
  auto rows_of = [](const Table& t) {
    std::vector<std::vector<Value>> rows(t.num_rows());
    for (size_t r = 0; r < t.num_rows(); ++r)
      for (const Column& c : t.columns) rows[r].push_back(c.Get(r));
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].index() != b[i].index()) return a[i].index() < b[i].index();
        if (a[i] != b[i]) return a[i] < b[i];
      }
      return false;
    });
    return rows;
  };
  EXPECT_TRUE(rows_of(want) == rows_of(*got));
}

}  // namespace
}  // namespace cairn::features

namespace cairn::features {
namespace {

std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("tmp-")) out.push_back(name);
  }
  return out;
}

TEST(OfflineStoreTest, StagedRowsAreInvisibleUntilCommitThenMergeWithLiveRows) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  std::mt19937_64 rng(21);
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->EnsureTable("a", layout).ok());
  ASSERT_TRUE((*store)->EnsureTable("b", TwoKeyLayout()).ok());
  Table live = RandomRows(layout, 40, rng);
  ASSERT_TRUE((*store)->Append("a", live).ok());

  Table a1 = RandomRows(layout, 30, rng), a2 = RandomRows(layout, 25, rng);
  Table b1 = RandomRows(TwoKeyLayout(), 20, rng);
  std::vector<StagedSegment> staged;
  for (auto [table, rows] : {std::pair{"a", &a1}, {"b", &b1}, {"a", &a2}}) {
    absl::StatusOr<StagedSegment> s = (*store)->Stage(table, *rows);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->table(), table);
    EXPECT_EQ(s->rows(), static_cast<int64_t>(rows->num_rows()));
    EXPECT_TRUE(fs::exists(s->path()));
    staged.push_back(std::move(*s));
  }
  // An empty batch stages nothing.
  absl::StatusOr<StagedSegment> empty = (*store)->Stage("a", Table::FromSchema(layout.schema));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  staged.push_back(std::move(*empty));

  // Before the commit: scans and stats see only the live rows; the files are temporaries.
  ExpectTablesEqual(Expected(layout, {live}), *ScanAll(**store, "a"));
  EXPECT_EQ(ScanAll(**store, "b")->num_rows(), 0u);
  EXPECT_EQ((*store)->Stats("a")->segments, 1);
  EXPECT_EQ(SegmentFiles(dir.path() + "/a").size(), 1u);
  EXPECT_EQ(TempFiles(dir.path() + "/a").size(), 2u);

  ASSERT_TRUE((*store)->Commit(std::move(staged)).ok());
  ExpectTablesEqual(Expected(layout, {live, a1, a2}), *ScanAll(**store, "a"));
  ExpectTablesEqual(Expected(TwoKeyLayout(), {b1}), *ScanAll(**store, "b"));
  EXPECT_EQ((*store)->Stats("a")->segments, 3);
  EXPECT_EQ((*store)->Stats("a")->rows, 95);
  EXPECT_TRUE(TempFiles(dir.path() + "/a").empty());

  // The commit is durable: a reopened store reads the same rows.
  store->reset();
  store = OfflineStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  ExpectTablesEqual(Expected(layout, {live, a1, a2}), *ScanAll(**store, "a"));
  ExpectTablesEqual(Expected(TwoKeyLayout(), {b1}), *ScanAll(**store, "b"));
}

TEST(OfflineStoreTest, AbortOrDestructionDeletesStagedFiles) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  std::mt19937_64 rng(22);
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE((*store)->EnsureTable("a", layout).ok());
  std::string adir = dir.path() + "/a";
  {
    absl::StatusOr<StagedSegment> s = (*store)->Stage("a", RandomRows(layout, 10, rng));
    ASSERT_TRUE(s.ok());
    std::string path = s->path();
    ASSERT_TRUE(fs::exists(path));
    s->Abort();
    EXPECT_TRUE(s->empty());
    EXPECT_FALSE(fs::exists(path));
    // Committing an aborted (empty) segment is a no-op.
    std::vector<StagedSegment> v;
    v.push_back(std::move(*s));
    EXPECT_TRUE((*store)->Commit(std::move(v)).ok());
  }
  {
    std::vector<StagedSegment> v;
    for (int i = 0; i < 3; ++i) v.push_back(*(*store)->Stage("a", RandomRows(layout, 10, rng)));
    // Moving keeps one owner of each file.
    std::vector<StagedSegment> moved = std::move(v);
    EXPECT_EQ(TempFiles(adir).size(), 3u);
  }
  EXPECT_TRUE(TempFiles(adir).empty());
  EXPECT_TRUE(SegmentFiles(adir).empty());
  EXPECT_EQ((*store)->Stats("a")->rows, 0);

  // A staged segment of a table dropped before the commit: NotFound, nothing is left.
  absl::StatusOr<StagedSegment> s = (*store)->Stage("a", RandomRows(layout, 10, rng));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*store)->DropTable("a").ok());
  std::vector<StagedSegment> v;
  v.push_back(std::move(*s));
  EXPECT_EQ((*store)->Commit(std::move(v)).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(adir));

  // Stage checks its input like Append.
  EXPECT_EQ((*store)->Stage("a", RandomRows(layout, 1, rng)).status().code(),
            absl::StatusCode::kNotFound);
}

// A crash between Stage and Commit leaves complete temporary segment files that no
// manifest lists: Open removes them and the table holds only what was committed.
TEST(OfflineStoreTest, OpenRemovesStagedFilesACrashLeftBehind) {
  TempDir dir;
  OfflineTableLayout layout = WideLayout();
  std::mt19937_64 rng(23);
  Table committed = RandomRows(layout, 30, rng);
  std::string adir = dir.path() + "/a";
  std::string left;
  {
    auto store = OfflineStore::Open(dir.path());
    ASSERT_TRUE((*store)->EnsureTable("a", layout).ok());
    ASSERT_TRUE((*store)->Append("a", committed).ok());
    absl::StatusOr<StagedSegment> s = (*store)->Stage("a", RandomRows(layout, 20, rng));
    ASSERT_TRUE(s.ok());
    left = s->path();
    // Simulate the crash: keep a copy of the complete staged file past its owner.
    fs::copy_file(left, left + ".copy");
  }
  fs::rename(left + ".copy", left);
  ASSERT_EQ(TempFiles(adir).size(), 1u);
  auto store = OfflineStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(TempFiles(adir).empty());
  EXPECT_EQ(SegmentFiles(adir).size(), 1u);
  ExpectTablesEqual(Expected(layout, {committed}), *ScanAll(**store, "a"));
  // Sequence numbers go on from the manifest's: a new commit does not reuse a name.
  ASSERT_TRUE((*store)->Append("a", RandomRows(layout, 5, rng)).ok());
  EXPECT_EQ((*store)->Stats("a")->rows, 35);
}

}  // namespace
}  // namespace cairn::features
