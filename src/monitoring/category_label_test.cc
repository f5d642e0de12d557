#include "monitoring/category_label.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

TEST(CategoryLabelTest, NumbersReadAsPythonShowsThem) {
  // Expected: str(int(v)) if v is whole and |v| < 1e16 else repr(v) (Python 3.11).
  const std::vector<std::pair<double, std::string>> cases = {
      {1.0, "1"},
      {-3.0, "-3"},
      {0.0, "0"},
      {-0.0, "0"},
      {1.5, "1.5"},
      {0.1, "0.1"},
      {1e-05, "1e-05"},
      {1.5e-05, "1.5e-05"},
      {0.0001, "0.0001"},
      {123.25, "123.25"},
      {-2.75, "-2.75"},
      {1e+16, "1e+16"},
      {1.5e+16, "1.5e+16"},
      {1e+300, "1e+300"},
      {-1.7976931348623157e+308, "-1.7976931348623157e+308"},
      {5e-324, "5e-324"},
      {0.6666666666666666, "0.6666666666666666"},
      {1234567890123.5, "1234567890123.5"},
      {0.30000000000000004, "0.30000000000000004"},
      {1000000000000000.5, "1000000000000000.5"},
      {9999999999999998.0, "9999999999999998"},
  };
  for (const auto& [value, label] : cases) EXPECT_EQ(NumberCategoryLabel(value), label) << value;
}

TEST(CategoryLabelTest, IntegersAgreeWithTheirDoubles) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-42}, int64_t{9'999'999'999'999'999 / 10}}) {
    EXPECT_EQ(NumberCategoryLabel(v), NumberCategoryLabel(static_cast<double>(v))) << v;
  }
  EXPECT_EQ(NumberCategoryLabel(int64_t{9'007'199'254'740'993}), "9007199254740993");
  // Large ids stay exact and distinct (pandas reads integer text as int64).
  EXPECT_EQ(NumberCategoryLabel(int64_t{10'000'000'000'000'000}), "10000000000000000");
  EXPECT_EQ(NumberCategoryLabel(int64_t{1'234'567'890'123'456'789}), "1234567890123456789");
  EXPECT_NE(NumberCategoryLabel(int64_t{1'234'567'890'123'456'789}),
            NumberCategoryLabel(int64_t{1'234'567'890'123'456'790}));
}

}  // namespace
}  // namespace cairn::monitoring
