#include "features/window_agg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::features {
namespace {

struct Row {
  int64_t ts;
  double v;
  bool valid;
};

// Recomputes the aggregate from scratch over rows with event_ts in (q - window, q].
// Sums in long double with Neumaier compensation: an independent, more precise reference.
Value BruteForce(AggFn fn, int64_t window, const std::vector<Row>& rows, int64_t q) {
  int64_t n = 0;
  long double sum = 0, comp = 0;
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  for (const Row& r : rows) {
    if (!r.valid || r.ts <= q - window || r.ts > q) continue;
    ++n;
    const long double t = sum + r.v;
    if (std::fabs(static_cast<double>(sum)) >= std::fabs(r.v)) comp += (sum - t) + r.v;
    else comp += (r.v - t) + sum;
    sum = t;
    mn = std::min(mn, r.v);
    mx = std::max(mx, r.v);
  }
  if (fn == AggFn::kCount) return n;
  if (n == 0) return std::monostate{};
  switch (fn) {
    case AggFn::kSum: return static_cast<double>(sum + comp);
    case AggFn::kMean: return static_cast<double>((sum + comp) / n);
    case AggFn::kMin: return mn;
    case AggFn::kMax: return mx;
    default: return std::monostate{};
  }
}

void ExpectSame(const Value& got, const Value& want, const std::string& where) {
  ASSERT_EQ(got.index(), want.index()) << where;
  if (auto* w = std::get_if<int64_t>(&want)) {
    EXPECT_EQ(std::get<int64_t>(got), *w) << where;
  } else if (auto* w = std::get_if<double>(&want)) {
    const double g = std::get<double>(got);
    EXPECT_LE(std::fabs(g - *w), 1e-9 * std::fabs(*w)) << where << " got " << g << " want " << *w;
  }
}

TEST(TrailingWindow, MatchesBruteForceOnRandomStreams) {
  std::mt19937_64 rng(20240603);
  const AggFn fns[] = {AggFn::kCount, AggFn::kSum, AggFn::kMean, AggFn::kMin, AggFn::kMax};
  const int64_t windows[] = {1, 3, 10, 100, 1000, 100000};
  for (int trial = 0; trial < 60; ++trial) {
    // Event times with many duplicates; values spanning magnitudes 1e-3 .. 1e12, both signs.
    std::vector<Row> rows;
    int64_t ts = static_cast<int64_t>(rng() % 1000) - 500;
    const int n = 1 + static_cast<int>(rng() % 400);
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0) ts += static_cast<int64_t>(rng() % (trial % 2 ? 5 : 200));
      const double mag = std::pow(10.0, static_cast<double>(rng() % 16) - 3.0);
      const double v = (static_cast<double>(rng() % 2000000) / 1000000.0 - 1.0) * mag;
      rows.push_back({ts, v, rng() % 5 != 0});
    }
    // Non-decreasing query times, some before the first row, some equal to row times.
    std::vector<int64_t> queries;
    int64_t q = rows.front().ts - static_cast<int64_t>(rng() % 20);
    const int64_t last = rows.back().ts + 200;
    while (q <= last) {
      queries.push_back(q);
      if (rng() % 4 == 0) queries.push_back(q);  // repeated query time
      q += static_cast<int64_t>(rng() % 40);
      if (rng() % 3 == 0) q = std::max(q, rows[rng() % rows.size()].ts);  // hit a row's time
    }
    for (AggFn fn : fns) {
      for (int64_t window : windows) {
        TrailingWindow w(fn, window);
        w.Reset();
        size_t next = 0;
        for (int64_t query : queries) {
          while (next < rows.size() && rows[next].ts <= query) {
            w.Add(rows[next].ts, rows[next].v, rows[next].valid);
            ++next;
          }
          w.AdvanceTo(query);
          ExpectSame(w.Result(), BruteForce(fn, window, rows, query),
                     "trial " + std::to_string(trial) + " fn " + std::string(AggName(fn)) +
                         " window " + std::to_string(window) + " at " + std::to_string(query));
          if (testing::Test::HasFailure()) return;
        }
      }
    }
  }
}

TEST(TrailingWindow, EmptyWindowResults) {
  for (AggFn fn : {AggFn::kSum, AggFn::kMean, AggFn::kMin, AggFn::kMax}) {
    TrailingWindow w(fn, 10);
    EXPECT_TRUE(IsNull(w.Result()));
    w.Add(5, 1.0, false);  // nulls are skipped
    w.AdvanceTo(5);
    EXPECT_TRUE(IsNull(w.Result())) << AggName(fn);
  }
  TrailingWindow count(AggFn::kCount, 10);
  count.Add(5, 0.0, false);
  count.AdvanceTo(5);
  EXPECT_EQ(std::get<int64_t>(count.Result()), 0);
}

TEST(TrailingWindow, BoundsAreOpenBelowClosedAbove) {
  TrailingWindow w(AggFn::kSum, 10);
  w.Add(0, 1.0, true);
  w.Add(10, 2.0, true);
  w.AdvanceTo(10);  // window (0, 10]: the row at 0 is out
  EXPECT_EQ(std::get<double>(w.Result()), 2.0);
  w.AdvanceTo(19);
  EXPECT_EQ(std::get<double>(w.Result()), 2.0);
  w.AdvanceTo(20);
  EXPECT_TRUE(IsNull(w.Result()));
}

TEST(TrailingWindow, ResetStartsTheNextEntity) {
  TrailingWindow w(AggFn::kMax, 100);
  w.Add(1000, 7.0, true);
  w.AdvanceTo(1000);
  w.Reset();
  w.Add(5, 3.0, true);  // earlier than the last entity's query time
  w.AdvanceTo(6);
  EXPECT_EQ(std::get<double>(w.Result()), 3.0);
}

TEST(TrailingWindow, RowsAddedBehindTheCutoffAreDropped) {
  TrailingWindow w(AggFn::kCount, 10);
  w.AdvanceTo(100);
  w.Add(90, 1.0, true);  // 90 <= 100 - 10
  w.Add(91, 1.0, true);
  EXPECT_EQ(std::get<int64_t>(w.Result()), 1);
}

// A running total that subtracts evicted values would keep an error of ~1e16 * eps here.
TEST(TrailingWindow, EvictedHugeValuesLeaveNoResidue) {
  TrailingWindow sum(AggFn::kSum, 10), mean(AggFn::kMean, 10);
  for (TrailingWindow* w : {&sum, &mean}) {
    w->Add(0, 1e16, true);
    w->Add(1, -1e16, true);
    w->Add(2, 3.0, true);
    w->AdvanceTo(2);
  }
  EXPECT_EQ(std::get<double>(sum.Result()), 3.0);
  EXPECT_EQ(std::get<double>(mean.Result()), 1.0);
  for (TrailingWindow* w : {&sum, &mean}) {
    w->Add(11, 0.1, true);
    w->AdvanceTo(11);  // evicts 1e16 and -1e16
  }
  EXPECT_EQ(std::get<double>(sum.Result()), 3.1);
  EXPECT_EQ(std::get<double>(mean.Result()), 3.1 / 2);
}

TEST(TrailingWindow, InfinityAndNaNFollowIeeeAndLeaveWithTheirRow) {
  const double inf = std::numeric_limits<double>::infinity();
  TrailingWindow sum(AggFn::kSum, 10), mx(AggFn::kMax, 10);
  for (TrailingWindow* w : {&sum, &mx}) {
    w->Add(0, inf, true);
    w->Add(1, std::nan(""), true);
    w->Add(5, 2.0, true);
    w->AdvanceTo(5);
  }
  EXPECT_TRUE(std::isnan(std::get<double>(sum.Result())));
  EXPECT_TRUE(std::isnan(std::get<double>(mx.Result())));
  for (TrailingWindow* w : {&sum, &mx}) w->AdvanceTo(11);
  EXPECT_EQ(std::get<double>(sum.Result()), 2.0);
  EXPECT_EQ(std::get<double>(mx.Result()), 2.0);
}

TEST(TrailingWindow, ManyRowsStayLinear) {
  // 2M adds and advances; O(n^2) eviction would not finish in test time.
  TrailingWindow w(AggFn::kMean, 1000);
  for (int64_t t = 0; t < 2000000; ++t) {
    w.Add(t, static_cast<double>(t % 7), true);
    w.AdvanceTo(t);
  }
  EXPECT_EQ(w.size(), 1000);
  EXPECT_EQ(std::get<int64_t>(TrailingWindow(AggFn::kCount, 1).Result()), 0);
}

}  // namespace
}  // namespace cairn::features
