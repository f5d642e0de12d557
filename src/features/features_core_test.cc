#include <algorithm>
#include <random>
#include <string>

#include "features/entity_key.h"
#include "features/table.h"
#include "features/types.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

TEST(Types, ParseTypeRoundTripsAndNamesTheBadText) {
  for (auto t : {FeatureType::kInt64, FeatureType::kDouble, FeatureType::kString,
                 FeatureType::kBool, FeatureType::kTimestamp}) {
    EXPECT_EQ(*ParseType(TypeName(t)), t);
  }
  auto bad = ParseType("float");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("'float'"), std::string::npos);
}

TEST(Column, AppendRejectsAValueOfAnotherType) {
  Column c(FeatureType::kInt64);
  ASSERT_TRUE(c.Append(Value{int64_t{3}}).ok());
  ASSERT_TRUE(c.Append(Value{}).ok());
  EXPECT_EQ(c.Append(Value{std::string("x")}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(c.Get(0)), 3);
  EXPECT_TRUE(IsNull(c.Get(1)));
}

// The encoding must order exactly as CompareKeys does, for every type and for nulls.
TEST(EntityKey, EncodingOrdersAsCompareKeys) {
  std::mt19937_64 rng(7);
  Table t;
  t.AddColumn("i", FeatureType::kInt64);
  t.AddColumn("s", FeatureType::kString);
  t.AddColumn("d", FeatureType::kDouble);
  const std::string strs[] = {"", "a", std::string("a\0b", 3), "ab", "b", std::string("\0", 1)};
  const double dbls[] = {-1e300, -2.5, -0.0, 0.5, 3.0, 1e300};
  for (int r = 0; r < 400; ++r) {
    if (rng() % 10 == 0) t.columns[0].AppendNull();
    else t.columns[0].AppendInt(static_cast<int64_t>(rng() % 7) - 3 + (rng() % 2 ? INT64_MIN / 2 : 0));
    if (rng() % 10 == 0) t.columns[1].AppendNull();
    else t.columns[1].AppendString(strs[rng() % 6]);
    t.columns[2].AppendDouble(dbls[rng() % 6]);
  }
  const int cols[] = {0, 1, 2};
  std::vector<std::string> enc(t.num_rows());
  for (size_t r = 0; r < t.num_rows(); ++r) EncodeKey(t, cols, r, &enc[r]);
  for (size_t a = 0; a < t.num_rows(); ++a) {
    for (size_t b = 0; b < t.num_rows(); b += 7) {
      int want = CompareKeys(t, cols, a, t, cols, b);
      int got = enc[a].compare(enc[b]);
      got = got < 0 ? -1 : (got > 0 ? 1 : 0);
      ASSERT_EQ(got, want) << "rows " << a << " and " << b;
    }
  }
}

TEST(EntityKey, EncodeKeyValueMatchesEncodeKey) {
  Table t;
  t.AddColumn("id", FeatureType::kInt64);
  t.columns[0].AppendInt(1001);
  const int cols[] = {0};
  std::string a, b;
  EncodeKey(t, cols, 0, &a);
  EncodeKeyValue(Value{int64_t{1001}}, FeatureType::kInt64, &b);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace cairn::features
