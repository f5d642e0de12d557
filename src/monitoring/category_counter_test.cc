#include "monitoring/category_counter.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;

TEST(CategoryCounterTest, ExactWhileDomainFits) {
  CategoryCounter counter(3);
  counter.Add("b", 2);
  counter.Add("a", 5);
  counter.Add("c", 2);
  counter.Add("a", 1);
  EXPECT_TRUE(counter.exact());
  EXPECT_EQ(counter.total(), 10);
  EXPECT_THAT(counter.Sorted(), ElementsAre(LabelCount{"a", 6}, LabelCount{"b", 2},
                                            LabelCount{"c", 2}));
}

TEST(CategoryCounterTest, BoundedWithUndercountBoundBeyondCapacity) {
  CategoryCounter counter(4);
  // "hot" 5,000 times among 10,000 singletons.
  for (int i = 0; i < 10'000; ++i) {
    counter.Add("hot", 1);
    counter.Add("u" + std::to_string(i), 1);
    if (i % 100 == 0) counter.Flush();
  }
  std::vector<LabelCount> sorted = counter.Sorted();
  EXPECT_FALSE(counter.exact());
  EXPECT_LE(sorted.size(), 4u);
  EXPECT_EQ(counter.total(), 20'000);
  ASSERT_FALSE(sorted.empty());
  EXPECT_EQ(sorted[0].label, "hot");
  // Misra–Gries: count ≥ true − undercount, undercount ≤ total / (capacity + 1).
  EXPECT_GE(sorted[0].count, 10'000 - counter.undercount());
  EXPECT_LE(sorted[0].count, 10'000);
  EXPECT_LE(counter.undercount(), 20'000 / 5);
}

TEST(CategoryCounterTest, MergeAddsCounts) {
  CategoryCounter a(10), b(10);
  a.Add("x", 3);
  b.Add("x", 4);
  b.Add("y", 1);
  a.Merge(b);
  EXPECT_EQ(a.total(), 8);
  EXPECT_THAT(a.Sorted(), ElementsAre(LabelCount{"x", 7}, LabelCount{"y", 1}));
}

TEST(CategoryCounterTest, JsonRoundTrip) {
  CategoryCounter a(10);
  a.Add("x", 3);
  a.Add("y", 1);
  auto back = CategoryCounter::FromJson(a.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->total(), 4);
  EXPECT_THAT(back->Sorted(), ElementsAre(LabelCount{"x", 3}, LabelCount{"y", 1}));
  Json bad = {{"capacity", 10}, {"total", 1}, {"undercount", 0}, {"labels", Json::array({Json::array({"x", 3})})}};
  EXPECT_EQ(CategoryCounter::FromJson(bad).status().message(),
            "categories: labels count 3 occurrences, more than total 1");
}

}  // namespace
}  // namespace cairn::monitoring
